# SPDX-License-Identifier: Apache-2.0
"""A fake kubelet for black-box tests, built on Debian's python3-grpcio.

It serves Registration.Register on <dir>/kubelet.sock and, like the real kubelet, dials the
plugin back and calls GetDevicePluginOptions before it answers. PluginClient talks to a
plugin socket the way the kubelet's device manager does.
"""
import importlib
import os
import queue
import subprocess
import sys
from concurrent import futures
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto" / "deviceplugin_v1beta1.proto"


def _load_pb():
    build = Path(os.environ.get("GDP_BUILD_DIR", ROOT / "build")).resolve()
    out = build / "python"
    out.mkdir(parents=True, exist_ok=True)
    target = out / "deviceplugin_v1beta1_pb2.py"
    if not target.exists() or target.stat().st_mtime < PROTO.stat().st_mtime:
        subprocess.run(["protoc", f"--proto_path={PROTO.parent}", f"--python_out={out}",
                        str(PROTO)], check=True)
    sys.path.insert(0, str(out))
    return importlib.import_module("deviceplugin_v1beta1_pb2")


pb = _load_pb()
SERVICE = "/v1beta1.DevicePlugin/"


class PluginClient:
    """Calls one plugin socket as the kubelet does."""

    def __init__(self, socket_path):
        self.channel = grpc.insecure_channel(f"unix:{socket_path}")

    def _unary(self, method, req, resp_type, timeout=5):
        call = self.channel.unary_unary(SERVICE + method,
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=resp_type.FromString)
        return call(req, timeout=timeout)

    def options(self):
        return self._unary("GetDevicePluginOptions", pb.Empty(), pb.DevicePluginOptions)

    def allocate(self, *containers, timeout=5):
        req = pb.AllocateRequest()
        for ids in containers:
            req.container_requests.add().devices_ids.extend(ids)
        return self._unary("Allocate", req, pb.AllocateResponse, timeout)

    def preferred(self, available, must_include, size):
        req = pb.PreferredAllocationRequest()
        c = req.container_requests.add()
        c.available_deviceIDs.extend(available)
        c.must_include_deviceIDs.extend(must_include)
        c.allocation_size = size
        return self._unary("GetPreferredAllocation", req, pb.PreferredAllocationResponse)

    def pre_start(self, ids):
        req = pb.PreStartContainerRequest()
        req.devices_ids.extend(ids)
        return self._unary("PreStartContainer", req, pb.PreStartContainerResponse)

    def list_and_watch(self, timeout=None):
        call = self.channel.unary_stream(SERVICE + "ListAndWatch",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=pb.ListAndWatchResponse.FromString)
        return call(pb.Empty(), timeout=timeout)

    def close(self):
        self.channel.close()


class FakeKubelet:
    """Registration service on <dir>/kubelet.sock."""

    def __init__(self, directory, dial_back=True, answer=None):
        self.dir = Path(directory)
        self.socket = self.dir / "kubelet.sock"
        self.dial_back = dial_back
        self.answer = answer  # None: OK; else (grpc.StatusCode, text)
        self.registrations = queue.Queue()
        self.options_seen = []
        self.server = None

    def _register(self, req, context):
        if self.dial_back:
            client = PluginClient(self.dir / req.endpoint)
            try:
                self.options_seen.append(client.options())
            finally:
                client.close()
        self.registrations.put(req)
        if self.answer is not None:
            context.abort(*self.answer)
        return pb.Empty()

    def start(self):
        handler = grpc.method_handlers_generic_handler("v1beta1.Registration", {
            "Register": grpc.unary_unary_rpc_method_handler(
                self._register, request_deserializer=pb.RegisterRequest.FromString,
                response_serializer=lambda m: m.SerializeToString()),
        })
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((handler,))
        self.server.add_insecure_port(f"unix:{self.socket}")
        self.server.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.stop(0).wait()
            self.server = None
        if self.socket.exists():
            self.socket.unlink()

    def restart(self):
        """What a kubelet restart looks like on disk: plugin sockets are deleted, then a new
        kubelet.sock appears."""
        self.stop()
        for s in self.dir.glob("*.sock"):
            s.unlink()
        self.start()

    def wait_registration(self, timeout=10):
        return self.registrations.get(timeout=timeout)


def _load_podresources_pb():
    proto = ROOT / "proto" / "podresources_v1.proto"
    build = Path(os.environ.get("GDP_BUILD_DIR", ROOT / "build")).resolve()
    out = build / "python"
    out.mkdir(parents=True, exist_ok=True)
    target = out / "podresources_v1_pb2.py"
    if not target.exists() or target.stat().st_mtime < proto.stat().st_mtime:
        subprocess.run(["protoc", f"--proto_path={proto.parent}", f"--python_out={out}",
                        str(proto)], check=True)
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    return importlib.import_module("podresources_v1_pb2")


prpb = _load_podresources_pb()


class FakePodResources:
    """The kubelet's PodResources API (v1 List and GetAllocatableResources) on
    <kubelet root>/pod-resources/kubelet.sock, answering what the test sets:
    allocatable = {resource: [device IDs]}, pods = [(namespace, name, {container:
    {resource: [device IDs]}})]."""

    def __init__(self, kubelet_root):
        self.dir = Path(kubelet_root) / "pod-resources"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = self.dir / "kubelet.sock"
        self.allocatable = {}
        self.pods = []
        self.allocatable_calls = 0
        self.server = None

    def _allocatable(self, req, context):
        self.allocatable_calls += 1
        resp = prpb.AllocatableResourcesResponse()
        for resource, ids in self.allocatable.items():
            for i in ids:
                d = resp.devices.add()
                d.resource_name = resource
                d.device_ids.append(i)
        return resp

    def _list(self, req, context):
        resp = prpb.ListPodResourcesResponse()
        for namespace, name, containers in self.pods:
            p = resp.pod_resources.add()
            p.namespace, p.name = namespace, name
            for cname, devices in containers.items():
                c = p.containers.add()
                c.name = cname
                for resource, ids in devices.items():
                    d = c.devices.add()
                    d.resource_name = resource
                    d.device_ids.extend(ids)
        return resp

    def start(self):
        ser = lambda m: m.SerializeToString()
        handler = grpc.method_handlers_generic_handler("v1.PodResourcesLister", {
            "GetAllocatableResources": grpc.unary_unary_rpc_method_handler(
                self._allocatable,
                request_deserializer=prpb.AllocatableResourcesRequest.FromString,
                response_serializer=ser),
            "List": grpc.unary_unary_rpc_method_handler(
                self._list, request_deserializer=prpb.ListPodResourcesRequest.FromString,
                response_serializer=ser),
        })
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers((handler,))
        self.server.add_insecure_port(f"unix:{self.socket}")
        self.server.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.stop(0).wait()
            self.server = None
        if self.socket.exists():
            self.socket.unlink()
