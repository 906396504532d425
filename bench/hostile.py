#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""bench/hostile.py [BUILD_DIR]: the figures of docs/reliability.md for the gRPC server's
bounds, measured on tests/rpc-echo (default build directory: build-release).

  * memory: 4 connections x 100 calls, each declaring a 4 MiB message and sending 48 KiB;
    RSS before, while they are open, and after they are gone;
  * deep YAML: `config check` of 1 MiB of '[' (wall time);
  * descriptor exhaustion: CPU time and warning lines over 2 s at RLIMIT_NOFILE + 20
    pending connections.
"""
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build-release").resolve()
os.environ["GDP_BUILD_DIR"] = str(BUILD)
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from rpc_helpers import EchoServer, stats  # noqa: E402
from test_rpc_limits import partial_requests, raw  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(tmp):
    srv = EchoServer(Path(tmp) / "mem.sock")
    pid = srv.proc.pid
    before = rss_kib(pid)
    conns = [partial_requests(srv.sock, 100, 4 << 20, 48 << 10) for _ in range(4)]
    time.sleep(0.5)
    with srv.channel() as ch:
        held = stats(ch)["buffered"]
    during = rss_kib(pid)
    for c in conns:
        c.close()
    time.sleep(0.5)
    after = rss_kib(pid)
    srv.stop()
    print(f"memory: RSS {before} KiB before, {during} KiB with 400 partial 4 MiB requests "
          f"({held} request bytes held), {after} KiB after they left")


def deep_yaml(tmp):
    path = Path(tmp) / "deep.yaml"
    path.write_bytes(b"[" * (1 << 20))
    start = time.monotonic()
    p = subprocess.run([str(BUILD / "gpu-device-plugin"), "config", "check", str(path)],
                       capture_output=True, text=True)
    took = time.monotonic() - start
    print(f"deep YAML: 1 MiB of '[' rejected in {took * 1000:.0f} ms: "
          f"{(p.stdout + p.stderr).strip()[:120]}")


def emfile(tmp):
    srv = EchoServer(Path(tmp) / "fd.sock", env={"RPC_ECHO_LOG": "info"})
    pid = srv.proc.pid
    used = len(os.listdir(f"/proc/{pid}/fd"))
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (used + 2, hard))
    socks = [raw(srv.sock) for _ in range(20)]
    start = cpu_s(pid)
    time.sleep(2)
    spent = cpu_s(pid) - start
    for s in socks:
        s.close()
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    lines = sum("accept on" in l for l in srv.stop().splitlines())
    print(f"EMFILE: {spent:.2f} s CPU in 2 s, {lines} warning lines")


with tempfile.TemporaryDirectory() as tmp:
    memory(tmp)
    deep_yaml(tmp)
    emfile(tmp)
