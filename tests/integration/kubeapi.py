# SPDX-License-Identifier: Apache-2.0
"""A fake Kubernetes API server over TLS (python3 standard library only), for the API client,
config-manager and the NodeFeature output.

It serves nodes (get, list, watch with resourceVersion and bookmarks, merge patch) and
nfd.k8s-sigs.io/v1alpha1 nodefeatures (get, list, create, update with conflicts), checks a
bearer token or a client certificate, and injects the failures clusters show: 401 after a
token rotation, 403 for a verb RBAC does not grant, 410 Gone in a watch, a dropped
connection, a slow answer and malformed JSON. The CA and certificates are made with the
openssl command at test time.
"""
import copy
import http.server
import json
import os
import socketserver
import ssl
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

NFD = "/apis/nfd.k8s-sigs.io/v1alpha1"


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, in d."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=fake-kubernetes-ca")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, subj, ext in (("server", "/CN=127.0.0.1", "san.ext"),
                            ("client", "/O=system:nodes/CN=test-user", "client.ext")):
        run("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj)
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", ext)
    # a second, unrelated CA: the client must refuse the server with it
    run("req", "-x509", *key, "-keyout", "other-ca.key", "-out", "other-ca.crt", "-days", "2",
        "-subj", "/CN=some-other-ca")
    return d


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class Fault:
    """One injected failure, used by the first `count` requests it matches."""

    def __init__(self, method, path_prefix, watch=None, status=None, body=None, delay=0.0,
                 raw=None, count=1, drop=False):
        self.method, self.path_prefix, self.watch, self.drop = method, path_prefix, watch, drop
        self.status, self.body, self.delay, self.raw, self.count = status, body, delay, raw, count

    def matches(self, method, path, watch):
        return (self.count > 0 and self.method == method and path.startswith(self.path_prefix)
                and (self.watch is None or self.watch == watch))


class FakeApiServer:
    def __init__(self, tmp_path, pki, namespace="gpu-operator"):
        self.pki = Path(pki)
        self.lock = threading.Condition()
        self.rv = 100
        self.compacted = 0  # watches from an older resourceVersion get 410 Gone
        self.nodes = {}
        self.nodefeatures = {}
        self.pods = {}  # (namespace, name) -> pod
        self.events = []  # (rv, type, node object)
        self.faults = []
        self.forbidden = set()  # (verb, resource)
        self.requests = []  # (method, path, query dict, status)
        self.watch_actions = []  # "gone", "drop", "garbage", "bookmark"
        self.stopping = False
        self.sa_dir = Path(tmp_path) / "serviceaccount"
        self.sa_dir.mkdir(parents=True, exist_ok=True)
        (self.sa_dir / "ca.crt").write_bytes((self.pki / "ca.crt").read_bytes())
        (self.sa_dir / "namespace").write_text(namespace)
        self.token = "token-0001"
        self.valid_tokens = {self.token}
        (self.sa_dir / "token").write_text(self.token)
        self.client_cert_ok = True
        self._start()

    # -- state -------------------------------------------------------------------------
    def _bump(self):
        self.rv += 1
        return str(self.rv)

    def add_pod(self, namespace, name, uid, daemonset=None):
        """A pod, owned by DaemonSet (name, uid) when given."""
        meta = {"name": name, "namespace": namespace, "uid": uid}
        if daemonset is not None:
            meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                                        "name": daemonset[0], "uid": daemonset[1],
                                        "controller": True}]
        with self.lock:
            self.pods[(namespace, name)] = {"apiVersion": "v1", "kind": "Pod", "metadata": meta}

    def add_node(self, name, labels=None):
        with self.lock:
            obj = {"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": name, "labels": dict(labels or {}), "annotations": {},
                                "resourceVersion": self._bump()}}
            self.nodes[name] = obj
            self.events.append((self.rv, "ADDED", copy.deepcopy(obj)))
            self.lock.notify_all()

    def set_label(self, node, key, value):
        """value None removes the label. Watchers get a MODIFIED event."""
        with self.lock:
            obj = self.nodes[node]
            if value is None:
                obj["metadata"]["labels"].pop(key, None)
            else:
                obj["metadata"]["labels"][key] = value
            obj["metadata"]["resourceVersion"] = self._bump()
            self.events.append((self.rv, "MODIFIED", copy.deepcopy(obj)))
            self.lock.notify_all()

    def node(self, name):
        with self.lock:
            return copy.deepcopy(self.nodes[name])

    def compact(self):
        """Forget every event so far: watches from an older resourceVersion get 410 Gone."""
        with self.lock:
            self.compacted = self.rv

    def watch_action(self, action):
        with self.lock:
            self.watch_actions.append(action)
            self.lock.notify_all()

    def inject(self, *args, **kwargs):
        with self.lock:
            self.faults.append(Fault(*args, **kwargs))

    def rotate_token(self, new, keep_stat=False):
        """Only `new` is accepted from now on; the file gets it. keep_stat writes it in place
        with the old size and mtime, so only a 401 can tell the client."""
        path = self.sa_dir / "token"
        with self.lock:
            self.valid_tokens = {new}
        if keep_stat:
            st = path.stat()
            assert len(new) == st.st_size
            with open(path, "r+") as f:
                f.write(new)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        else:
            tmp = path.with_name("token.new")
            tmp.write_text(new)
            os.replace(tmp, path)

    def statuses(self, method, path_prefix):
        with self.lock:
            return [s for (m, p, q, s) in self.requests if m == method and p.startswith(path_prefix)]

    def watch_rvs(self):
        with self.lock:
            return [q.get("resourceVersion") for (m, p, q, s) in self.requests
                    if q.get("watch") == "true"]

    # -- serving -----------------------------------------------------------------------
    def _start(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pki / "server.crt", self.pki / "server.key")
        ctx.load_verify_locations(self.pki / "ca.crt")
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
        api = self

        class Handler(ApiHandler):
            server_api = api

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def get_request(self):
                sock, addr = self.socket.accept()
                return ctx.wrap_socket(sock, server_side=True,
                                       do_handshake_on_connect=False), addr

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        with self.lock:
            self.stopping = True
            self.lock.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()

    def env(self):
        """In-cluster environment for our binary."""
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.port),
                "GDP_SERVICEACCOUNT_DIR": str(self.sa_dir)}

    def kubeconfig(self, path, token=None, client_cert=False, ca="ca.crt", inline=True):
        """A kubeconfig file for this server; returns its path."""
        def b64(name):
            import base64
            return base64.b64encode((self.pki / name).read_bytes()).decode()
        cluster = {"server": self.url}
        if inline:
            cluster["certificate-authority-data"] = b64(ca)
        else:
            cluster["certificate-authority"] = str(self.pki / ca)
        user = {}
        if token:
            user["token"] = token
        if client_cert:
            user["client-certificate-data"] = b64("client.crt")
            user["client-key-data"] = b64("client.key")
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": "test",
               "clusters": [{"name": "fake", "cluster": cluster}],
               "users": [{"name": "u", "user": user}],
               "contexts": [{"name": "test", "context": {"cluster": "fake", "user": "u",
                                                          "namespace": "tests"}}]}
        Path(path).write_text(json.dumps(doc, indent=1) if not inline else _yaml(doc))
        return Path(path)


def _yaml(doc, indent=0):
    """Just enough YAML for a kubeconfig (so the client's YAML path is exercised)."""
    pad = " " * indent
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:")
                out.append(_yaml(v, indent + 2))
            else:
                out.append(f"{pad}{k}: {json.dumps(v) if v != {} else '{}'}")
    else:
        for item in doc:
            inner = _yaml(item, indent + 2).lstrip()
            out.append(f"{pad}- {inner}")
    return "\n".join(out)


class ApiHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_api = None

    def log_message(self, *args):
        pass

    # -- plumbing ----------------------------------------------------------------------
    def _send_json(self, code, obj, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self._record(code)

    def _record(self, code):
        api = self.server_api
        with api.lock:
            api.requests.append((self.command, self.path_only, self.query, code))

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, typ, obj):
        self._chunk(json.dumps({"type": typ, "object": obj}).encode() + b"\n")

    def _body(self):
        return json.loads(self.raw_body or b"null")

    # -- auth, RBAC, faults ------------------------------------------------------------
    def _authorized(self):
        api = self.server_api
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            with api.lock:
                return auth[7:] in api.valid_tokens
        return api.client_cert_ok and bool(self.connection.getpeercert())

    def _verb(self):
        name = self.path_only.rstrip("/").split("/")[-1]
        collection = name in ("nodes", "nodefeatures")
        return {"GET": "watch" if self.query.get("watch") == "true" else
                "list" if collection else "get",
                "POST": "create", "PUT": "update", "PATCH": "patch"}[self.command]

    def _resource(self):
        if "/pods/" in self.path_only:
            return "pods"
        return "nodefeatures" if "/nodefeatures" in self.path_only else "nodes"

    def _gate(self):
        """Answers auth, RBAC and injected faults; returns True when the request is done."""
        api = self.server_api
        if not self._authorized():
            self._send_json(401, status(401, "Unauthorized", "Unauthorized"))
            return True
        verb, res = self._verb(), self._resource()
        if (verb, res) in api.forbidden:
            group = "nfd.k8s-sigs.io" if res == "nodefeatures" else ""
            self._send_json(403, status(403, "Forbidden",
                                        f'{res} is forbidden: User "system:serviceaccount:test:sa" '
                                        f'cannot {verb} resource "{res}" in API group "{group}" '
                                        "at the cluster scope"))
            return True
        fault = None
        with api.lock:
            for f in api.faults:
                if f.matches(self.command, self.path_only, self.query.get("watch") == "true"):
                    f.count -= 1
                    fault = f
                    break
        if fault is None:
            return False
        time.sleep(fault.delay)
        if fault.drop:  # headers and half the body, then the connection is gone
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"kind": "Node", "metadata": {')
            self.wfile.flush()
            self.connection.shutdown(2)
            self.close_connection = True
            self._record(200)
            return True
        if fault.status is None and fault.raw is None:
            return False  # only slow
        self._send_json(fault.status or 200, fault.body, raw=fault.raw)
        return True

    # -- methods -----------------------------------------------------------------------
    def _parse(self):
        u = urllib.parse.urlsplit(self.path)
        self.path_only = u.path
        self.query = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
        # read the body before any answer, so the next request on the connection starts clean
        self.raw_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        self._parse()
        if self._gate():
            return
        if self.query.get("watch") == "true":
            return self._watch()
        parts = self.path_only.strip("/").split("/")
        api = self.server_api
        with api.lock:
            if parts[:3] == ["api", "v1", "nodes"]:
                if len(parts) == 4:
                    obj = api.nodes.get(parts[3])
                    return self._found(obj, "nodes", parts[3])
                items = [copy.deepcopy(n) for n in api.nodes.values() if self._selected(n)]
                return self._send_json(200, {"kind": "NodeList", "apiVersion": "v1",
                                             "metadata": {"resourceVersion": str(api.rv)},
                                             "items": items})
            if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 6 and parts[4] == "pods":
                return self._found(api.pods.get((parts[3], parts[5])), "pods", parts[5])
            if self.path_only.startswith(NFD):
                ns, name = parts[4], parts[6] if len(parts) > 6 else None
                if name is not None:
                    return self._found(api.nodefeatures.get((ns, name)), "nodefeatures", name)
                items = [v for (n, _), v in api.nodefeatures.items() if n == ns]
                return self._send_json(200, {"kind": "NodeFeatureList", "items": items,
                                             "metadata": {"resourceVersion": str(api.rv)}})
        self._send_json(404, status(404, "NotFound", "no such path"))

    def _found(self, obj, res, name):
        if obj is None:
            return self._send_json(404, status(404, "NotFound", f'{res} "{name}" not found'))
        return self._send_json(200, obj)

    def _selected(self, node):
        sel = self.query.get("fieldSelector", "")
        if sel.startswith("metadata.name="):
            return node["metadata"]["name"] == sel.split("=", 1)[1]
        return True

    def do_PATCH(self):
        self._parse()
        if self._gate():
            return
        parts = self.path_only.strip("/").split("/")
        api = self.server_api
        if parts[:3] != ["api", "v1", "nodes"] or len(parts) != 4:
            return self._send_json(405, status(405, "MethodNotAllowed", "not here"))
        if self.headers.get("Content-Type") != "application/merge-patch+json":
            return self._send_json(415, status(415, "UnsupportedMediaType", "merge patch only"))
        patch = self._body()
        with api.lock:
            obj = api.nodes.get(parts[3])
            if obj is None:
                return self._found(None, "nodes", parts[3])
            new = merge_patch(obj, patch)
            new["metadata"]["resourceVersion"] = api._bump()
            api.nodes[parts[3]] = new
            api.events.append((api.rv, "MODIFIED", copy.deepcopy(new)))
            api.lock.notify_all()
            return self._send_json(200, new)

    def do_POST(self):
        self._parse()
        if self._gate():
            return
        api = self.server_api
        parts = self.path_only.strip("/").split("/")
        obj = self._body()
        if not self.path_only.startswith(NFD) or len(parts) != 6:
            return self._send_json(405, status(405, "MethodNotAllowed", "not here"))
        ns, name = parts[4], obj["metadata"]["name"]
        with api.lock:
            if (ns, name) in api.nodefeatures:
                return self._send_json(409, status(409, "AlreadyExists",
                                                   f'nodefeatures "{name}" already exists'))
            obj["metadata"]["namespace"] = ns
            obj["metadata"]["resourceVersion"] = api._bump()
            api.nodefeatures[(ns, name)] = obj
            return self._send_json(201, obj)

    def do_PUT(self):
        self._parse()
        if self._gate():
            return
        api = self.server_api
        parts = self.path_only.strip("/").split("/")
        obj = self._body()
        if not self.path_only.startswith(NFD) or len(parts) != 7:
            return self._send_json(405, status(405, "MethodNotAllowed", "not here"))
        key = (parts[4], parts[6])
        with api.lock:
            cur = api.nodefeatures.get(key)
            if cur is None:
                return self._found(None, "nodefeatures", parts[6])
            if obj["metadata"].get("resourceVersion") != cur["metadata"]["resourceVersion"]:
                return self._send_json(409, status(409, "Conflict",
                                                   "the object has been modified"))
            obj["metadata"]["resourceVersion"] = api._bump()
            api.nodefeatures[key] = obj
            return self._send_json(200, obj)

    # -- watch -------------------------------------------------------------------------
    def _watch(self):
        api = self.server_api
        since = int(self.query.get("resourceVersion") or 0)
        timeout = float(self.query.get("timeoutSeconds") or 300)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._record(200)
        if since and since < api.compacted:
            self._event("ERROR", status(410, "Expired", f"too old resource version: {since}"))
            self._chunk(b"")
            return
        deadline = time.monotonic() + timeout
        while True:
            with api.lock:
                while True:
                    pending = [(rv, t, o) for (rv, t, o) in api.events
                               if rv > since and self._selected(o)]
                    if pending or api.watch_actions or api.stopping:
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    api.lock.wait(min(left, 0.2))
                action = api.watch_actions.pop(0) if api.watch_actions and not pending else None
                stopping = api.stopping
                bookmark_rv = str(api.rv)
            for rv, t, o in pending:
                self._event(t, o)
                since = rv
            if action == "gone":
                self._event("ERROR", status(410, "Expired", "too old resource version"))
                with api.lock:
                    api.compacted = api.rv
                break
            if action == "drop":
                self.connection.shutdown(2)  # no terminating chunk: the transfer is cut short
                self.close_connection = True
                return
            if action == "garbage":
                self._chunk(b'{"type": "MODIFIED", "object": {"metadata": \n')
            if action == "bookmark":
                self._event("BOOKMARK", {"kind": "Node", "apiVersion": "v1",
                                         "metadata": {"resourceVersion": bookmark_rv}})
            if stopping or time.monotonic() >= deadline:
                break
        self._chunk(b"")
