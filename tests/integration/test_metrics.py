# SPDX-License-Identifier: Apache-2.0
"""The HTTP endpoint (--metrics-address): /metrics checked by promtool and prometheus_client,
metric values that follow allocations, XIDs, reloads and kubelet restarts, the probes, the
endpoint's bounds, and no listener at all when it is off."""
import os
import signal
import socket
import time

import pytest

import metrics_client as mc
from conftest import gpus_of, load_node
from daemon import SLOW, Daemon
from kubelet import FakePodResources

A100_IDS = [g["uuid"] for g in gpus_of(load_node("dgx-a100.yaml"))]
GPU = "nvidia.com/gpu"
P = "gpu_device_plugin_"


@pytest.fixture
def serve(plugin, tmp_path):
    started = []

    def start(*args, kubelet=True, env=None, node=None):
        d = Daemon(plugin, tmp_path, node=node, args=args, kubelet=kubelet, env=env)
        d.addr = next((a.split("=", 1)[1] for a in args if a.startswith("--metrics-address=")),
                      None)
        started.append(d)
        if d.addr is not None:
            d.wait_log("metrics endpoint listening")
        return d

    yield start
    for d in started:
        d.close()


def endpoint(tmp_path):
    return f"--metrics-address=unix:{tmp_path / 'metrics.sock'}"


def wait_value(d, name, want, timeout=10, **labels):
    deadline = time.monotonic() + timeout * SLOW
    got = None
    while time.monotonic() < deadline:
        got = mc.value(mc.scrape(d.addr), name, **labels)
        if got == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name}{labels} is {got}, not {want}\n{d.log}")


def wait_at_least(d, name, want, timeout=10, **labels):
    deadline = time.monotonic() + timeout * SLOW
    while (mc.value(mc.scrape(d.addr), name, **labels) or 0) < want:
        assert time.monotonic() < deadline, f"{name}{labels} stays below {want}\n{d.log}"
        time.sleep(0.05)


def wait_status(d, path, want, timeout=10):
    deadline = time.monotonic() + timeout * SLOW
    status = body = None
    while time.monotonic() < deadline:
        status, body = mc.get(d.addr, path)
        if status == want:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{path} answered {status} {body!r}, not {want}\n{d.log}")


def test_scrape_passes_promtool_and_follows_allocations(serve, tmp_path):
    d = serve(endpoint(tmp_path))
    d.kubelet.wait_registration()
    c = d.client()
    stream = c.list_and_watch()
    next(stream)
    c.allocate([A100_IDS[0]])
    c.allocate([A100_IDS[1]], [A100_IDS[2]])
    with pytest.raises(Exception):
        c.allocate(["GPU-not-there"])
    c.preferred(A100_IDS, [], 2)
    status, text = mc.get(d.addr, "/metrics")
    assert status == 200
    mc.check(text)
    m = mc.samples(text)
    alloc = {"method": "Allocate", "resource": GPU}
    assert mc.value(m, P + "requests_total", **alloc) == 3
    assert mc.value(m, P + "request_errors_total", **alloc) == 1
    assert mc.value(m, P + "request_duration_seconds_count", **alloc) == 3
    assert mc.value(m, P + "request_duration_seconds_bucket", le="+Inf", **alloc) == 3
    assert mc.value(m, P + "request_duration_seconds_sum", **alloc) > 0
    pref = {"method": "GetPreferredAllocation", "resource": GPU}
    assert mc.value(m, P + "requests_total", **pref) == 1
    assert mc.value(m, P + "request_errors_total", **pref) is None
    assert mc.value(m, P + "devices", resource=GPU, health="healthy") == 8
    assert mc.value(m, P + "devices", resource=GPU, health="unhealthy") == 0
    assert mc.value(m, P + "registrations_total", resource=GPU) == 1
    assert mc.value(m, P + "listandwatch_streams", resource=GPU) == 1
    assert mc.value(m, P + "ready") == 1
    assert mc.value(m, P + "kubelet_restarts_total") == 0
    build = [k for k in m if k[0] == P + "build_info"]
    assert len(build) == 1 and dict(build[0][1])["version"]
    stream.cancel()
    wait_value(d, P + "listandwatch_streams", 0, resource=GPU)
    c.close()
    m = mc.scrape(d.addr)
    assert mc.value(m, P + "http_requests_total", path="/metrics", code="200") >= 2


def test_xid_events_and_unhealthy_devices(serve, tmp_path):
    fifo = tmp_path / "control"
    d = serve(endpoint(tmp_path), env={"MOCK_NVML_CONTROL": str(fifo)})
    d.kubelet.wait_registration()
    with open(fifo, "w") as f:
        f.write(f"xid {A100_IDS[3]} 48\nxid {A100_IDS[3]} 13\n")
    d.wait_log("unhealthy xid=48")
    wait_value(d, P + "xid_events_total", 1, gpu=A100_IDS[3], xid="13")
    m = mc.scrape(d.addr)
    assert mc.value(m, P + "xid_events_total", gpu=A100_IDS[3], xid="48") == 1
    assert mc.value(m, P + "devices", resource=GPU, health="unhealthy") == 1
    assert mc.value(m, P + "devices", resource=GPU, health="healthy") == 7
    unhealthy = [(dict(k[1]), v) for k, v in m.items() if k[0] == P + "unhealthy_devices"]
    assert len(unhealthy) == 1 and unhealthy[0][1] == 1
    assert "XID 48" in unhealthy[0][0]["reason"]
    mc.check(mc.get(d.addr, "/metrics")[1])


def test_nvml_errors_by_function(serve, tmp_path):
    fifo = tmp_path / "control"
    d = serve(endpoint(tmp_path), env={"MOCK_NVML_CONTROL": str(fifo)})
    d.kubelet.wait_registration()
    with open(fifo, "w") as f:
        f.write("fail nvmlDeviceGetUUID 999 always\n")
    d.send(signal.SIGHUP)  # re-discovery calls nvmlDeviceGetUUID, and cannot read any GPU
    wait_value(d, P + "config_reloads_total", 1, result="deferred")
    m = mc.scrape(d.addr)
    assert mc.value(m, P + "nvml_errors_total", function="nvmlDeviceGetUUID") >= 8


def test_reloads_and_kubelet_restarts(serve, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("version: v1\n")
    d = serve(endpoint(tmp_path), f"--config-file={config}")
    d.kubelet.wait_registration()
    d.send(signal.SIGHUP)
    wait_value(d, P + "config_reloads_total", 1, result="applied")
    config.write_text("version: v1\nflags:\n  migStrategy: sideways\n")
    wait_value(d, P + "config_reloads_total", 1, result="rejected")
    d.kubelet.restart()
    d.kubelet.wait_registration()
    wait_value(d, P + "kubelet_restarts_total", 1)
    wait_value(d, P + "registrations_total", 2, resource=GPU)


def test_registration_failures_counted(serve, tmp_path):
    d = serve(endpoint(tmp_path), kubelet=False)
    wait_status(d, "/healthz", 200)
    wait_at_least(d, P + "registration_failures_total", 1, resource=GPU)


def test_readyz_false_until_registered_and_after_the_kubelet_leaves(serve, tmp_path):
    d = serve(endpoint(tmp_path), kubelet=False)
    assert mc.get(d.addr, "/healthz") == (200, "ok\n")
    status, body = mc.get(d.addr, "/readyz")
    assert status == 503 and "kubelet socket" in body
    d.kubelet.start()
    d.kubelet.wait_registration()
    body = wait_status(d, "/readyz", 503)
    assert "no open ListAndWatch stream" in body or "not registered" in body
    c = d.client()
    stream = c.list_and_watch()
    next(stream)
    wait_status(d, "/readyz", 200)
    wait_value(d, P + "ready", 1)
    d.kubelet.stop()
    body = wait_status(d, "/readyz", 503)
    assert "kubelet socket" in body
    wait_value(d, P + "ready", 0)
    assert mc.get(d.addr, "/healthz")[0] == 200
    stream.cancel()
    c.close()


def test_head_and_unknown_paths(serve, tmp_path):
    d = serve(endpoint(tmp_path))
    assert mc.get(d.addr, "/nope")[0] == 404
    assert mc.get(d.addr, "/metrics", method="POST")[0] == 405
    answer = mc.raw(d.addr, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert mc.status_of(answer) == 200 and answer.endswith(b"\r\n\r\n")
    m = mc.scrape(d.addr)
    assert mc.value(m, P + "http_requests_total", path="other", code="404") == 1
    assert mc.value(m, P + "http_requests_total", path="/healthz", code="200") == 1
    # nothing reached the series bound
    assert [k for k in m if k[0] == P + "metric_series_dropped_total"] == []


@pytest.mark.parametrize("request_bytes, want", [
    (b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    (b"GET / FOO\r\n\r\n", 400),
    (b"GET /metrics HTTP/9.9\r\n\r\n", 505),
    # one word is HTTP/0.9's form, which has no status line: the connection is just closed
    (b"GARBAGE\r\n\r\n", None),
])
def test_bad_requests_are_refused(serve, tmp_path, request_bytes, want):
    d = serve(endpoint(tmp_path))
    answer = mc.raw(d.addr, request_bytes)
    assert mc.status_of(answer) == want, answer
    if want is None:
        assert answer == b""
    assert mc.get(d.addr, "/healthz")[0] == 200


def test_bounds_request_size_connections_and_time(serve, tmp_path):
    d = serve(endpoint(tmp_path))
    big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 65536 + b"\r\n\r\n"
    try:
        answer = mc.raw(d.addr, big)
        assert mc.status_of(answer) in (413, 431, None)
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed while we were still sending: also refused
    path = str(tmp_path / "metrics.sock")
    before = d.fd_count()
    held = []
    for _ in range(40):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:
            pass  # the listen backlog is full: refused by the kernel, fine
        held.append(s)
    time.sleep(0.3 * SLOW)
    # at most 16 connections are taken at once; the rest wait in the listen backlog
    assert 1 <= d.fd_count() - before <= 16
    # an idle connection is closed after the per-connection time limit (5 s)
    idle = held[0]
    idle.setblocking(True)
    idle.settimeout(10 * SLOW)
    started = time.monotonic()
    assert idle.recv(1) == b""
    assert time.monotonic() - started < 7 * SLOW
    for s in held:
        s.close()
    assert mc.get(d.addr, "/healthz")[0] == 200


def test_env_and_config_file_and_tcp(serve, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "config.yaml"
    config.write_text(f"version: v1\nflags:\n  plugin:\n    metricsAddress: 127.0.0.1:{port}\n")
    d = serve(f"--config-file={config}")
    d.wait_log("metrics endpoint listening")
    assert mc.get(f"127.0.0.1:{port}", "/healthz")[0] == 200
    assert ("tcp", f"0100007F:{port:04X}") in mc.listeners(d.proc.pid)
    d.close()
    e = serve(env={"METRICS_ADDRESS": f"unix:{tmp_path / 'env.sock'}"})
    e.wait_log("metrics endpoint listening")
    assert mc.get(f"unix:{tmp_path / 'env.sock'}", "/healthz")[0] == 200


def test_endpoint_off_means_no_listener(serve, tmp_path):
    d = serve()
    d.kubelet.wait_registration()
    found = mc.listeners(d.proc.pid)
    assert found == [("unix", str(d.dir / "nvidia-gpu.sock"))]
    assert "metrics endpoint" not in d.log


@pytest.mark.parametrize("address, text", [
    ("127.0.0.1", "expected HOST:PORT"),
    ("127.0.0.1:99999", "expected HOST:PORT"),
    ("example.com:80", "numeric IPv4"),
    ("unix:", "unix socket path"),
])
def test_bad_address_is_refused(plugin, tmp_path, address, text):
    p = plugin.run("serve", f"--kubelet-socket={tmp_path / 'kubelet.sock'}",
                   f"--metrics-address={address}",
                   node="dgx-a100.yaml", timeout=20)
    assert p.returncode == 1
    assert "--metrics-address" in p.stderr and text in p.stderr


@pytest.fixture
def pod_resources(tmp_path):
    pr = FakePodResources(tmp_path).start()
    yield pr
    pr.stop()


WATCHDOG_ENV = {"GDP_WATCHDOG_INTERVAL_MS": "100", "GDP_WATCHDOG_GRACE_MS": "600"}


def test_watchdog_reregisters_after_drift(serve, tmp_path, pod_resources):
    pod_resources.allocatable = {GPU: A100_IDS}
    d = serve(endpoint(tmp_path), env=WATCHDOG_ENV)
    d.kubelet.wait_registration()
    d.wait_log("watchdog: PodResources socket")
    wait_at_least(d, P + "watchdog_checks_total", 3, result="ok")
    assert d.kubelet.registrations.empty()  # in agreement: nothing to do
    pod_resources.allocatable = {GPU: A100_IDS[:7]}  # the kubelet lost a device
    started = time.monotonic()
    d.kubelet.wait_registration(timeout=10 * SLOW)
    elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 0.6 + 3 * SLOW
    d.wait_log("disagree with ours")
    pod_resources.allocatable = {}  # the resource is gone altogether
    d.kubelet.wait_registration(timeout=10 * SLOW)
    pod_resources.allocatable = {GPU: A100_IDS}
    wait_at_least(d, P + "registrations_total", 3, resource=GPU)
    m = mc.scrape(d.addr)
    assert mc.value(m, P + "watchdog_reregistrations_total", resource=GPU) >= 2
    assert mc.value(m, P + "watchdog_checks_total", result="drift") >= 2
    mc.check(mc.get(d.addr, "/metrics")[1])


def test_watchdog_off_without_pod_resources_socket(serve, tmp_path):
    d = serve(endpoint(tmp_path), env=WATCHDOG_ENV)
    d.kubelet.wait_registration()
    time.sleep(0.5)
    m = mc.scrape(d.addr)
    assert [k for k in m if k[0] == P + "watchdog_checks_total"] == []
    assert d.kubelet.registrations.empty()
    assert "PodResources" not in d.log


def test_watchdog_counts_failed_checks(serve, tmp_path):
    # a socket file nobody answers on: every check fails and nothing is re-registered
    root = tmp_path / "pod-resources"
    root.mkdir()
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(root / "kubelet.sock"))
    dead.close()
    d = serve(endpoint(tmp_path), env=WATCHDOG_ENV)
    d.kubelet.wait_registration()
    wait_at_least(d, P + "watchdog_checks_total", 2, result="error")
    assert d.kubelet.registrations.empty()
