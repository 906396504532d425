# SPDX-License-Identifier: Apache-2.0
"""The API client (src/kube/) through tests/kube-client against the fake API server:
create-or-update of a NodeFeature object, conflicts, and the error each failure gives."""
import json
import subprocess

import pytest

from conftest import BUILD, VALGRIND, VALGRIND_ERROR, ROOT
from kubeapi import FakeApiServer, make_pki

CLIENT = BUILD / "tests" / "kube-client" / "kube-client"
NF = ["nfd.k8s-sigs.io", "v1alpha1", "nodefeatures", "gpu-operator"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def api(tmp_path, pki):
    server = FakeApiServer(tmp_path, pki)
    server.add_node("node-1", {"a": "b"})
    yield server
    server.stop()


def kube(api, tmp_path, *args, body=None):
    cmd = [str(CLIENT), *args]
    if body is not None:
        path = tmp_path / "body.json"
        path.write_text(json.dumps(body))
        cmd.append(str(path))
    if VALGRIND:
        cmd = ["valgrind", "--quiet", f"--error-exitcode={VALGRIND_ERROR}", "--leak-check=full",
               "--errors-for-leak-kinds=definite,indirect",
               f"--suppressions={ROOT / 'tests' / 'valgrind.supp'}", *cmd]
    p = subprocess.run(cmd, env=api.env(), capture_output=True, text=True, timeout=60)
    assert p.returncode != VALGRIND_ERROR, p.stderr
    if p.returncode == 0:
        status, obj = p.stdout.split(" ", 1)
        return int(status), json.loads(obj)
    return p.returncode, p.stderr


def node_feature(labels):
    return {"apiVersion": "nfd.k8s-sigs.io/v1alpha1", "kind": "NodeFeature",
            "metadata": {"name": "nvidia-features-for-node-1",
                         "labels": {"nfd.node.kubernetes.io/node-name": "node-1"}},
            "spec": {"labels": labels}}


def test_apply_creates_then_updates_a_node_feature(api, tmp_path):
    name = "nvidia-features-for-node-1"
    status, obj = kube(api, tmp_path, "apply", *NF, name, body=node_feature({"x": "1"}))
    assert status == 201 and obj["spec"]["labels"] == {"x": "1"}
    rv = obj["metadata"]["resourceVersion"]
    status, obj = kube(api, tmp_path, "apply", *NF, name, body=node_feature({"x": "2"}))
    assert status == 200 and obj["spec"]["labels"] == {"x": "2"}
    assert int(obj["metadata"]["resourceVersion"]) > int(rv)
    assert api.nodefeatures[("gpu-operator", name)]["spec"]["labels"] == {"x": "2"}
    assert api.statuses("POST", "/apis/") == [201] and api.statuses("PUT", "/apis/") == [200]


def test_apply_retries_once_after_a_conflict(api, tmp_path):
    name = "nvidia-features-for-node-1"
    assert kube(api, tmp_path, "apply", *NF, name, body=node_feature({"x": "1"}))[0] == 201
    api.inject("PUT", "/apis/", status=409,
               body={"kind": "Status", "code": 409, "message": "the object has been modified"})
    status, obj = kube(api, tmp_path, "apply", *NF, name, body=node_feature({"x": "3"}))
    assert status == 200 and obj["spec"]["labels"] == {"x": "3"}
    assert api.statuses("PUT", "/apis/") == [409, 200]


def test_get_list_patch(api, tmp_path):
    status, obj = kube(api, tmp_path, "get", "-", "v1", "nodes", "-", "node-1")
    assert status == 200 and obj["metadata"]["labels"] == {"a": "b"}
    status, obj = kube(api, tmp_path, "list", "-", "v1", "nodes", "-", "-")
    assert status == 200 and [i["metadata"]["name"] for i in obj["items"]] == ["node-1"]
    status, obj = kube(api, tmp_path, "patch", "-", "v1", "nodes", "-", "node-1",
                       body={"metadata": {"labels": {"a": None, "c": "d"}}})
    assert status == 200 and api.node("node-1")["metadata"]["labels"] == {"c": "d"}


@pytest.mark.parametrize("setup,args,message", [
    (lambda api: None, ["get", "-", "v1", "nodes", "-", "node-2"],
     '404 Not Found: get nodes: nodes "node-2" not found'),
    (lambda api: api.forbidden.add(("create", "nodefeatures")),
     ["apply", *NF, "nvidia-features-for-node-1"],
     'RBAC does not allow verb "create" on resource "nodefeatures.nfd.k8s-sigs.io"'),
    (lambda api: api.inject("GET", "/api/v1/nodes/node-1", status=200, raw=b'{"metadata": '),
     ["get", "-", "v1", "nodes", "-", "node-1"], "get nodes: malformed JSON in the response"),
    (lambda api: api.inject("GET", "/api/v1/nodes/node-1", status=200,
                            raw=b" " * (9 << 20)),
     ["get", "-", "v1", "nodes", "-", "node-1"], "response larger than 8388608 bytes"),
    (lambda api: api.inject("GET", "/api/v1/nodes/node-1", drop=True),
     ["get", "-", "v1", "nodes", "-", "node-1"], "transfer closed with 4066 bytes remaining"),
    (lambda api: setattr(api, "valid_tokens", set()), ["get", "-", "v1", "nodes", "-", "node-1"],
     "401 Unauthorized"),
    (lambda api: None, ["get", "-", "v1", "nodes", "-", "a/b"], "invalid API object reference"),
])
def test_failures_give_one_clear_message(api, tmp_path, setup, args, message):
    setup(api)
    body = node_feature({}) if args[0] == "apply" else None
    rc, err = kube(api, tmp_path, *args, body=body)
    assert rc == 1 and message in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_http2_where_the_server_offers_it(api, tmp_path, pki):
    """nghttpd speaks only HTTP/2 (negotiated with ALPN): a GET through it proves the client
    uses HTTP/2 when offered, still verifying the server against the cluster CA."""
    import shutil
    import socket
    import time
    if shutil.which("nghttpd") is None:
        pytest.skip("nghttpd (Debian nghttp2-server) not installed")
    docs = tmp_path / "htdocs" / "api" / "v1" / "nodes"
    docs.mkdir(parents=True)
    (docs / "node-1").write_text(json.dumps(api.node("node-1")))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = subprocess.Popen(["nghttpd", "-a", "127.0.0.1", "-d", str(tmp_path / "htdocs"), str(port),
                          str(pki / "server.key"), str(pki / "server.crt")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        env = dict(api.env(), KUBERNETES_SERVICE_PORT=str(port))
        p = subprocess.run([str(CLIENT), "get", "-", "v1", "nodes", "-", "node-1"], env=env,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout.split(" ", 1)[1])["metadata"]["name"] == "node-1"
    finally:
        d.terminate()
        d.wait(10)
