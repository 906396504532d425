# SPDX-License-Identifier: Apache-2.0
"""The daemon under hostile conditions (docs/reliability.md): idle connections at the cap,
a deleted socket directory, a socket path that cannot be served, the serve-outage bound,
forged log lines, IDs with NUL bytes, the socket's mode, a lost GPU's warning and configs
nested too deeply."""
import os
import shutil
import socket
import stat
import struct
import subprocess
import time

import grpc
import pytest

from conftest import SANITIZED, VALGRIND, gpus_of, load_node
from daemon import SLOW, Daemon
from kubelet import SERVICE, pb

A100_IDS = [g["uuid"] for g in gpus_of(load_node("dgx-a100.yaml"))]


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


def wait_exit(d, timeout):
    try:
        return d.proc.wait(timeout * SLOW)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after {timeout} s:\n{d.log}") from None


def wait_gone(path, timeout=10):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline and path.exists():
        time.sleep(0.02)
    return not path.exists()


def test_idle_connections_do_not_lock_out_the_kubelet(daemon):
    """16 connections that never speak used to fill the per-socket cap, so the kubelet's
    dial-back was refused and registration failed. The idlest one is evicted instead."""
    d = daemon(kubelet=False)
    sock = d.dir / "nvidia-gpu.sock"
    d.wait_for(sock.exists, "the plugin socket")
    hogs = []
    for _ in range(16):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(sock))
        hogs.append(s)
    d.kubelet.start()
    reg = d.kubelet.wait_registration(timeout=15 * SLOW)
    assert reg.resource_name == "nvidia.com/gpu"
    assert d.kubelet.options_seen  # the dial-back got through
    for s in hogs:
        s.close()


def test_socket_directory_deleted_and_recreated(daemon):
    """The directory watch is re-armed when the directory comes back: the plugin serves and
    registers again instead of staying deaf."""
    d = daemon()
    d.kubelet.wait_registration()
    d.kubelet.stop()
    for _ in range(100):
        try:  # the plugin may re-create its socket between rm's unlink and rmdir
            shutil.rmtree(d.dir)
            break
        except OSError:
            time.sleep(0.01)
    assert not d.dir.exists()
    d.wait_log("socket directory")
    time.sleep(0.3)
    d.dir.mkdir()
    d.kubelet.start()
    reg = d.kubelet.wait_registration(timeout=15 * SLOW)
    assert reg.endpoint == "nvidia-gpu.sock"
    d.wait_for((d.dir / "nvidia-gpu.sock").exists, "the plugin socket")
    assert d.client().allocate([A100_IDS[0]]).container_responses


def test_serve_failure_is_retried(daemon):
    """A directory in the way of the socket: the failure is logged once, retried with
    backoff, and serving starts as soon as the path is free."""
    d = daemon(kubelet=False)
    blocker = d.dir / "nvidia-gpu.sock"
    blocker.mkdir()
    (blocker / "keep").write_text("x")
    d.wait_log("cannot serve on")
    time.sleep(1)
    assert sum("cannot serve on" in l for l in d.stderr_lines) == 1
    shutil.rmtree(blocker)
    d.kubelet.start()
    assert d.kubelet.wait_registration(timeout=15 * SLOW).endpoint == "nvidia-gpu.sock"
    d.wait_log("again after")


def test_unable_to_serve_past_the_bound_exits_nonzero(daemon, tmp_path):
    blocker = tmp_path / "device-plugins" / "nvidia-gpu.sock"  # in place before the daemon
    blocker.mkdir(parents=True)
    (blocker / "keep").write_text("x")
    d = daemon(kubelet=False, args=("--max-serve-outage=1",))
    rc = wait_exit(d, 15)  # bound 1 s, retries at most 5 s apart
    assert rc != 0
    d.wait_log("unable to serve for")


def test_max_serve_outage_in_help(plugin):
    p = plugin.run("serve", "--help")
    assert "--max-serve-outage" in p.stdout + p.stderr
    assert "MAX_SERVE_OUTAGE" in p.stdout + p.stderr


def pb_string(field, data):
    return bytes([field << 3 | 2]) + encode_varint(len(data)) + data


def encode_varint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def raw_allocate(d, *ids):
    """An AllocateRequest built by hand, so IDs may hold any bytes."""
    container = b"".join(pb_string(1, i) for i in ids)
    req = pb_string(1, container)
    ch = grpc.insecure_channel(f"unix:{d.dir / 'nvidia-gpu.sock'}")
    try:
        return ch.unary_unary(SERVICE + "Allocate")(req, timeout=5 * SLOW)
    finally:
        ch.close()


def test_peer_strings_cannot_forge_log_lines(daemon):
    d = daemon(args=("--log-level=debug",))
    d.kubelet.wait_registration()
    forged = b"GPU-nope\nE1206 00:00:00.000000 1 forged.c:1] forged line"
    for ids in ([forged], [b"GPU-\xff\xfe\xc3"]):
        with pytest.raises(grpc.RpcError) as err:
            raw_allocate(d, *ids)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    d.wait_log("\\xff\\xfe\\xc3")
    assert not any(l.startswith("E1206 00:00:00.000000 1 forged.c:1]") for l in d.stderr_lines)
    assert any("GPU-nope\\nE1206" in l for l in d.stderr_lines)


def test_id_with_nul_does_not_match_the_device(daemon):
    d = daemon()
    d.kubelet.wait_registration()
    real = A100_IDS[0].encode()
    assert raw_allocate(d, real)  # the real ID works
    with pytest.raises(grpc.RpcError) as err:
        raw_allocate(d, real + b"\0junk")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "NUL" in err.value.details()


def test_socket_mode_does_not_follow_umask(daemon):
    old = os.umask(0)
    try:
        d = daemon()
    finally:
        os.umask(old)
    d.kubelet.wait_registration()
    assert stat.S_IMODE(os.stat(d.dir / "nvidia-gpu.sock").st_mode) == 0o600


def test_lost_gpu_warning_has_no_empty_device(daemon, tmp_path):
    fifo = tmp_path / "control"
    d = daemon(env={"MOCK_NVML_CONTROL": str(fifo), "GDP_HEALTH_PROBE_INTERVAL": "200ms"})
    d.kubelet.wait_registration()
    stream = d.client().list_and_watch()
    next(stream)
    with open(fifo, "w") as f:
        f.write(f"lost {A100_IDS[5]}\n")
    for msg in stream:
        if any(x.ID == A100_IDS[5] and x.health == "Unhealthy" for x in msg.devices):
            break
    stream.cancel()
    d.wait_log("health wait")
    assert not [l for l in d.stderr_lines if "device=:" in l or "device= " in l
                or l.endswith("device=")]


def test_deeply_nested_config_is_rejected_at_once(plugin, tmp_path):
    cfg = tmp_path / "deep.yaml"
    cfg.write_bytes(b"[" * (1 << 20))
    start = time.monotonic()
    p = plugin.run("config", "check", str(cfg), driver_root=False)
    took = time.monotonic() - start
    assert p.returncode != 0
    assert f"{cfg}:1:65: nested too deeply" in p.stdout + p.stderr
    assert took < 10 * SLOW, took


def test_invalid_utf8_config_error_has_line_and_column(plugin, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_bytes(b"version: v1\nflags:\n  migStrategy: \"x\xff\"\n")
    p = plugin.run("config", "check", str(cfg), driver_root=False)
    assert p.returncode != 0
    assert f"{cfg}:3:18: invalid leading UTF-8 octet" in p.stdout + p.stderr


def test_socket_path_too_long_is_retried_then_exits(daemon, tmp_path):
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    d = daemon(kubelet=False, args=(f"--kubelet-socket={deep / 'kubelet.sock'}",
                                    "--max-serve-outage=1"))
    rc = wait_exit(d, 15)
    assert rc != 0
    assert sum("cannot serve on" in l for l in d.stderr_lines) == 1
    d.wait_log("unable to serve for")


def test_socket_directory_moved_away_for_good_exits_nonzero(daemon, tmp_path):
    d = daemon(args=("--max-serve-outage=1",))
    d.kubelet.wait_registration()
    d.kubelet.stop()
    d.dir.rename(tmp_path / "elsewhere")
    rc = wait_exit(d, 15)
    assert rc != 0
    d.wait_log("unable to serve for")


@pytest.mark.skipif(SANITIZED or VALGRIND, reason="RSS is only meaningful on a plain build")
def test_a_burst_of_connections_does_not_keep_memory(daemon):
    d = daemon()
    d.kubelet.wait_registration()
    before = d.status("VmRSS")
    for i in range(3000):  # garbage or a bare preface, then gone
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(d.dir / "nvidia-gpu.sock"))
        s.sendall(os.urandom(64) if i % 2 else b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        s.close()
    time.sleep(0.5)
    assert d.client().allocate([A100_IDS[0]]).container_responses  # still serving
    # at most twice the connection cap is ever held; what they used is given back
    assert d.status("VmRSS") - before < 1024, (before, d.status("VmRSS"))
