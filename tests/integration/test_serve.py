# SPDX-License-Identifier: Apache-2.0
"""The daemon against a fake kubelet (python3-grpcio): registration, dial-back, ListAndWatch,
Allocate, GetPreferredAllocation, kubelet restarts, signals and protocol abuse."""
import signal
import socket
import struct
import time
from concurrent import futures

import grpc
import pytest
import yaml

from conftest import SANITIZED, VALGRIND, gpu_numa, gpus_of, load_node, mig_devices
from daemon import Daemon
from kubelet import SERVICE, pb

A100 = load_node("dgx-a100.yaml")
A100_IDS = [g["uuid"] for g in gpus_of(A100)]


@pytest.fixture
def daemon(plugin, tmp_path):
    started = []

    def start(**kw):
        d = Daemon(plugin, tmp_path, **kw)
        started.append(d)
        return d

    yield start
    for d in started:
        d.close()


def test_registration_fields_and_dial_back(daemon):
    d = daemon()
    reg = d.kubelet.wait_registration()
    assert reg.version == "v1beta1"
    assert reg.endpoint == "nvidia-gpu.sock"
    assert reg.resource_name == "nvidia.com/gpu"
    assert reg.options.get_preferred_allocation_available
    assert not reg.options.pre_start_required
    # the kubelet dialled the plugin back and got its options before answering Register
    (opts,) = d.kubelet.options_seen
    assert opts.get_preferred_allocation_available and not opts.pre_start_required
    d.wait_log("registered with the kubelet")
    assert d.stop() == 0


def test_list_and_watch_first_message(daemon):
    d = daemon()
    d.kubelet.wait_registration()
    msg = next(d.client().list_and_watch(timeout=5))
    assert [dev.ID for dev in msg.devices] == A100_IDS
    assert all(dev.health == "Healthy" for dev in msg.devices)
    for dev, gpu in zip(msg.devices, gpus_of(A100)):
        assert [n.ID for n in dev.topology.nodes] == [gpu_numa(gpu)]


def test_one_server_per_resource_under_mixed(daemon):
    node = load_node("h100x2-mig-mixed.yaml")
    want = sorted({"nvidia.com/mig-" + m["profile"].replace("+", ".")
                   for g in gpus_of(node) for m in mig_devices(g)})
    d = daemon(node="h100x2-mig-mixed.yaml", args=["--mig-strategy=mixed"])
    names = sorted(d.kubelet.wait_registration().resource_name for _ in want)
    assert names == want
    for name in names:
        endpoint = "nvidia-" + name.split("/")[1] + ".sock"
        assert (d.dir / endpoint).exists()
        ids = [dev.ID for dev in next(d.client(endpoint).list_and_watch(timeout=5)).devices]
        assert all(i.startswith("MIG-") for i in ids)


@pytest.mark.parametrize("strategy", ["uuid", "index"])
def test_allocate_visible_devices_per_id_strategy(daemon, strategy):
    d = daemon(args=[f"--device-id-strategy={strategy}"])
    d.kubelet.wait_registration()
    resp = d.client().allocate([A100_IDS[2], A100_IDS[5]], [A100_IDS[7]])
    want = [[A100_IDS[2], A100_IDS[5]], [A100_IDS[7]]] if strategy == "uuid" else [["2", "5"], ["7"]]
    got = [c.envs["NVIDIA_VISIBLE_DEVICES"].split(",") for c in resp.container_responses]
    assert got == want


@pytest.mark.parametrize("strategy", ["uuid", "index"])
def test_allocate_mig_devices(daemon, strategy):
    node = load_node("a100-mig-single.yaml")
    migs = [(i, m) for i, g in enumerate(gpus_of(node)) for m in mig_devices(g)]
    d = daemon(node="a100-mig-single.yaml", args=["--mig-strategy=single",
                                                  f"--device-id-strategy={strategy}"])
    assert d.kubelet.wait_registration().resource_name == "nvidia.com/gpu"
    listed = {dev.ID for dev in next(d.client().list_and_watch(timeout=5)).devices}
    assert listed == {m["uuid"] for _, m in migs}
    gpu1_mig = next(m for i, m in migs if i == 1)
    value = d.client().allocate([gpu1_mig["uuid"]]).container_responses[0].envs[
        "NVIDIA_VISIBLE_DEVICES"]
    if strategy == "uuid":
        assert value == gpu1_mig["uuid"]
    else:
        assert value.startswith("1:")


def test_allocate_deduplicates(daemon):
    d = daemon()
    d.kubelet.wait_registration()
    resp = d.client().allocate([A100_IDS[1], A100_IDS[1], A100_IDS[0]])
    assert resp.container_responses[0].envs["NVIDIA_VISIBLE_DEVICES"] == \
        f"{A100_IDS[1]},{A100_IDS[0]}"


@pytest.mark.parametrize("containers,text", [
    ([["GPU-00000000-0000-0000-0000-000000000000"]], "GPU-00000000-0000-0000-0000-000000000000"),
    ([], "no container requests"),
    ([[]], "no device IDs"),
])
def test_bad_allocate_requests_get_invalid_argument(daemon, containers, text):
    d = daemon()
    d.kubelet.wait_registration()
    c = d.client()
    with pytest.raises(grpc.RpcError) as e:
        c.allocate(*containers)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert text in e.value.details() and "nvidia.com/gpu" in e.value.details()
    assert c.allocate([A100_IDS[0]]).container_responses  # still serving


def test_preferred_allocation_must_include_first(daemon):
    d = daemon()
    d.kubelet.wait_registration()
    c = d.client()
    resp = c.preferred(available=A100_IDS[::-1], must_include=[A100_IDS[6]], size=3)
    assert list(resp.container_responses[0].deviceIDs) == [A100_IDS[6], A100_IDS[0], A100_IDS[1]]
    with pytest.raises(grpc.RpcError) as e:
        c.preferred(available=A100_IDS[:2], must_include=[A100_IDS[5]], size=2)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for size in (3, 0, -1, 2**31 - 1):  # sizes are checked before anything is allocated
        with pytest.raises(grpc.RpcError) as e:
            c.preferred(available=A100_IDS[:2], must_include=[], size=size)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert d.proc.poll() is None


def test_pre_start_container_is_empty(daemon):
    d = daemon()
    d.kubelet.wait_registration()
    assert d.client().pre_start([A100_IDS[0]]) == pb.PreStartContainerResponse()


def settled_fds(d, target=None):
    """Open descriptors once connections the fake kubelet just closed have been reaped
    (waits until the count is at most target, or for a while)."""
    counts = []
    deadline = time.monotonic() + (5 if VALGRIND else 1)
    while time.monotonic() < deadline:
        counts.append(d.fd_count())
        if target is not None and counts[-1] <= target:
            break
        time.sleep(0.02)
    return min(counts)


def test_kubelet_restarts_register_again_without_growth(daemon):
    d = daemon()
    d.kubelet.wait_registration()
    rounds = 10 if VALGRIND else 100
    for i in range(rounds):
        d.kubelet.restart()
        reg = d.kubelet.wait_registration()
        assert reg.resource_name == "nvidia.com/gpu"
        if i == 4:
            fds, rss, threads = settled_fds(d), d.status("VmRSS"), d.status("Threads")
    assert settled_fds(d, fds) <= fds
    if not SANITIZED and not VALGRIND:  # both keep freed memory aside on purpose
        assert d.status("VmRSS") <= rss + 256  # kB; no growth with the number of restarts
    assert d.status("Threads") == threads <= 2  # the loop and the health thread
    assert next(d.client().list_and_watch(timeout=5)).devices
    assert d.stop() == 0


def test_kubelet_absent_at_start(daemon):
    d = daemon(kubelet=False)
    d.wait_log("registration with the kubelet")
    time.sleep(0.5)  # several retries happen here, logged once
    assert sum("registration with the kubelet" in l for l in d.stderr_lines) == 1
    assert (d.dir / "nvidia-gpu.sock").exists()  # serving already
    d.kubelet.start()
    assert d.kubelet.wait_registration().resource_name == "nvidia.com/gpu"


def test_kubelet_rejecting_registration_is_retried(daemon):
    d = daemon(kubelet=False)
    d.kubelet.answer = (grpc.StatusCode.INVALID_ARGUMENT, "resource name taken")
    d.kubelet.start()
    d.kubelet.wait_registration()
    d.kubelet.answer = None
    d.kubelet.wait_registration()  # retried with backoff
    d.wait_log("resource name taken")
    d.wait_log("registered with the kubelet")


def test_plugin_killed_and_restarted(daemon, plugin, tmp_path):
    d = daemon()
    d.kubelet.wait_registration()
    d.proc.kill()
    d.proc.wait()
    assert (d.dir / "nvidia-gpu.sock").exists()  # stale socket left behind
    d2 = Daemon(plugin, tmp_path, kubelet=False)
    d2.kubelet = d.kubelet
    try:
        assert d.kubelet.wait_registration().endpoint == "nvidia-gpu.sock"
        assert d2.client().allocate([A100_IDS[0]]).container_responses
    finally:
        d2.proc.kill()
        d2.proc.wait()


def test_sigterm_ends_streams_and_removes_sockets(daemon):
    d = daemon()
    d.kubelet.wait_registration()
    stream = d.client().list_and_watch(timeout=10)
    next(stream)
    assert d.stop(signal.SIGTERM) == 0
    with pytest.raises(grpc.RpcError) as e:
        next(stream)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not (d.dir / "nvidia-gpu.sock").exists()
    assert "stopping" in d.log


def test_sigint_exits_zero(daemon):
    d = daemon()
    d.kubelet.wait_registration()
    assert d.stop(signal.SIGINT) == 0


def test_sighup_reloads_without_dropping_the_kubelet(daemon):
    d = daemon()
    d.kubelet.wait_registration()
    stream = d.client().list_and_watch(timeout=10)
    first = next(stream)
    d.send(signal.SIGHUP)
    again = next(stream)  # the same stream carries the re-discovered list
    assert [x.ID for x in again.devices] == [x.ID for x in first.devices]
    d.wait_log("SIGHUP: reloading")
    assert d.kubelet.registrations.empty()  # unchanged resources are not registered again
    assert d.client().allocate([A100_IDS[3]]).container_responses


def test_no_devices_waits(daemon):
    d = daemon(node="no-gpus.yaml")
    d.wait_log("No devices found. Waiting indefinitely.")
    assert d.kubelet.registrations.empty()
    assert d.stop() == 0


def test_concurrent_allocates(daemon):
    d = daemon()
    d.kubelet.wait_registration()
    c = d.client()

    def work(i):
        for _ in range(50):
            ids = [A100_IDS[i % 8]]
            got = c.allocate(ids).container_responses[0].envs["NVIDIA_VISIBLE_DEVICES"]
            assert got == ids[0]
        return True

    with futures.ThreadPoolExecutor(16) as pool:
        assert all(pool.map(work, range(16)))


def raw_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(path))
    return s


def test_protocol_abuse_leaves_the_daemon_serving(daemon):
    d = daemon()
    d.kubelet.wait_registration()
    sock = d.dir / "nvidia-gpu.sock"
    c = d.client()
    # garbage bytes
    s = raw_connect(sock)
    s.sendall(b"\x00garbage that is not HTTP/2 at all" * 100)
    s.close()
    # a preface, then the connection dropped mid-frame
    s = raw_connect(sock)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + struct.pack(">I", 0x40000)[1:] + b"\x01")
    s.close()
    # oversized message
    big = pb.AllocateRequest()
    big.container_requests.add().devices_ids.append("x" * (5 << 20))
    call = c.channel.unary_unary(SERVICE + "Allocate",
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=pb.AllocateResponse.FromString)
    with pytest.raises(grpc.RpcError) as e:
        call(big, timeout=10)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # unknown method
    unknown = c.channel.unary_unary(SERVICE + "Deallocate")
    with pytest.raises(grpc.RpcError) as e:
        unknown(b"", timeout=5)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # a stream cancelled by the client
    stream = c.list_and_watch()
    next(stream)
    stream.cancel()
    # malformed protobuf
    raw = c.channel.unary_unary(SERVICE + "Allocate")
    with pytest.raises(grpc.RpcError) as e:
        raw(b"\xff\xff\xff", timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # still serving, on a fresh connection too
    assert c.allocate([A100_IDS[0]]).container_responses
    fresh = d.client()
    assert next(fresh.list_and_watch(timeout=5)).devices
    assert d.proc.poll() is None


def test_discovery_failures_are_logged(daemon, tmp_path):
    node = load_node("pcie-t4x4.yaml")
    ids = [g["uuid"] for g in gpus_of(node)]
    node["fail"] = [{"function": "nvmlDeviceGetName", "code": "UNKNOWN", "uuid": ids[1]},
                    {"function": "nvmlDeviceGetUUID", "code": "UNKNOWN", "uuid": ids[2]}]
    path = tmp_path / "failing.yaml"
    path.write_text(yaml.safe_dump(node))
    d = daemon(node=path)
    d.kubelet.wait_registration()
    # serve says what list says: one GPU not advertised, one advertised unhealthy
    d.wait_log("GPU 2 is not advertised: nvmlDeviceGetUUID")
    d.wait_log(f"device={ids[1]} index=1 unhealthy from discovery: nvmlDeviceGetName")
    health = {dev.ID: dev.health for dev in next(d.client().list_and_watch(timeout=5)).devices}
    assert health == {ids[0]: "Healthy", ids[1]: "Unhealthy", ids[3]: "Healthy"}


def test_a_gpu_that_failed_discovery_once_is_served_when_it_answers(daemon, tmp_path):
    node = load_node("pcie-t4x4.yaml")
    ids = [g["uuid"] for g in gpus_of(node)]
    node["fail"] = [{"function": "nvmlDeviceGetName", "code": "UNKNOWN", "mode": "once",
                     "uuid": ids[1]}]
    path = tmp_path / "failing-once.yaml"
    path.write_text(yaml.safe_dump(node))
    d = daemon(node=path, env={"GDP_REDISCOVERY_INTERVAL": "300ms"})
    d.kubelet.wait_registration()
    d.wait_log(f"device={ids[1]} index=1 unhealthy from discovery")
    d.wait_log("a device the discovery could not read answers now: reloading")
    deadline = time.monotonic() + 10
    while True:
        health = {dev.ID: dev.health for dev in next(d.client().list_and_watch(timeout=5)).devices}
        if health == {i: "Healthy" for i in ids} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert health == {i: "Healthy" for i in ids}
