# SPDX-License-Identifier: Apache-2.0
"""Soak: kubelet restarts, Allocates, XIDs with recoveries, reloads with edits and abusive
connections against one daemon; afterwards it holds the same descriptors and threads, its
memory is back near where it was, every device is healthy and the last edit is served.

GDP_SOAK_SCALE multiplies the counts of scale 1: 20 kubelet restarts, 2,000 Allocates,
100 XIDs, 20 config edits each with a SIGHUP, 50 abusive connections. The suite runs scale
5; scale 50 is the long run of docs/reliability.md (1,000 restarts, 100,000 Allocates)."""
import os
import signal
import socket
import time

import grpc
import pytest

from conftest import SANITIZED, VALGRIND, gpus_of, load_node
from daemon import Daemon

A100 = load_node("dgx-a100.yaml")
IDS = [g["uuid"] for g in gpus_of(A100)]
SCALE = int(os.environ.get("GDP_SOAK_SCALE", "5"))
CONFIG = ("version: v1\nsharing:\n  timeSlicing:\n    resources:\n"
          "    - name: nvidia.com/gpu\n      replicas: {}\n")

pytestmark = pytest.mark.skipif(VALGRIND, reason="the valgrind pass runs every other test")


def usage(d):
    return {"fds": d.fd_count(), "threads": d.status("Threads"), "rss_kib": d.status("VmRSS")}


def wait(cond, what, timeout=20):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def served(d):
    # a connection made while the burst of abusive ones is still being accepted may be the
    # one evicted at the connection cap: the kubelet, like this, dials again
    for attempt in range(3):
        c = d.client()
        try:
            return {dev.ID: dev.health for dev in next(c.list_and_watch(timeout=5)).devices}
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE or attempt == 2:
                raise
            time.sleep(0.2)
        finally:
            c.close()  # each stream would hold a connection
    return None


def abuse(d, n):
    """Connections that send garbage, or a preface and nothing, then go away."""
    for i in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(d.dir / "nvidia-gpu.sock"))
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" if i % 2 else os.urandom(64))
        s.close()


def test_soak(plugin, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(2))
    fifo = tmp_path / "control"
    d = Daemon(plugin, tmp_path, args=[f"--config-file={config}"],
               env={"MOCK_NVML_CONTROL": str(fifo), "GDP_HEALTH_QUIET_PERIOD": "100ms"})
    try:
        d.kubelet.wait_registration()
        client = d.client()
        client.allocate([IDS[0] + "::0"])
        client.close()
        time.sleep(0.3)  # the warm-up connection is reaped
        before = usage(d)
        started = time.monotonic()

        for _ in range(20 * SCALE):
            d.kubelet.restart()
            d.kubelet.wait_registration()
        client = d.client()
        for i in range(2000 * SCALE):
            assert client.allocate([f"{IDS[i % 8]}::{i % 2}"]).container_responses
        with open(fifo, "w") as f:
            for i in range(100 * SCALE):
                f.write(f"xid {IDS[i % 8]} 32\n")  # transient: recovers after the quiet period
        last = 2
        for k in range(20 * SCALE):
            last = 2 + k % 5
            config.write_text(CONFIG.format(last))
            d.send(signal.SIGHUP)
        client.close()
        abuse(d, 50 * SCALE)

        # every XID recovered, the last edit served
        wait(lambda: len(served(d)) == 8 * last, f"{8 * last} devices\n{d.log}")
        wait(lambda: set(served(d).values()) == {"Healthy"}, f"all healthy\n{d.log}")
        time.sleep(0.5)  # closed connections and ended calls are reaped
        after = usage(d)
        print(f"soak x{SCALE}: {time.monotonic() - started:.1f} s, before {before}, "
              f"after {after}")
        assert after["fds"] == before["fds"], (before, after)
        assert after["threads"] == before["threads"], (before, after)
        if not SANITIZED:  # ASan keeps freed memory in quarantine
            assert after["rss_kib"] - before["rss_kib"] < 4096, (before, after)
        assert d.proc.poll() is None
    finally:
        d.close()
