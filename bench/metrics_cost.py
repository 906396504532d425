#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""What the metrics endpoint costs: idle RSS of `serve` with --metrics-address off and on (after
a first scrape), and Allocate latency (gdp-bench-client, one HTTP/2 connection) without and
with /metrics scraped every 100 ms over a unix socket.

Usage: metrics_cost.py BUILD_DIR [CALLS]"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BUILD = Path(sys.argv[1]).resolve()
CALLS = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
PLUGIN = BUILD / "gpu-device-plugin"
CLIENT = BUILD / "bench" / "gdp-bench-client"


def wait_for(path, timeout=10):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear")
        time.sleep(0.01)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def scrape(path):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:80]
    return len(data)


def start(tmp, metrics):
    plugins = tmp / ("on" if metrics else "off")
    plugins.mkdir()
    # no kubelet listens there: the plugin serves and retries Register in the background
    args = [str(PLUGIN), "serve", f"--driver-root-ctr-path={tmp / 'root'}",
            f"--kubelet-socket={plugins / 'kubelet.sock'}", "--log-level=error"]
    env = {"PATH": "/usr/bin:/bin"}
    if metrics:
        args.append(f"--metrics-address=unix:{tmp / 'metrics.sock'}")
    p = subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL)
    wait_for(plugins / "nvidia-gpu.sock")
    return p, plugins / "nvidia-gpu.sock"


def allocate(sock):
    out = subprocess.run([str(CLIENT), "allocate", f"--socket={sock}", f"--calls={CALLS}"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"p50 ([\d.]+) us .*p99 ([\d.]+) us", out)
    return float(m.group(1)), float(m.group(2))


def main():
    with tempfile.TemporaryDirectory(prefix="gdp-metrics-") as tmp:
        tmp = Path(tmp)
        lib = tmp / "root" / "usr" / "lib64"
        lib.mkdir(parents=True)
        (lib / "libnvidia-ml.so.1").symlink_to(BUILD / "tests" / "mock-nvml" / "libnvidia-ml.so.1")
        off, off_sock = start(tmp, False)
        on, on_sock = start(tmp, True)
        try:
            wait_for(tmp / "metrics.sock")
            size = scrape(tmp / "metrics.sock")
            time.sleep(0.5)
            print(f"idle VmRSS: endpoint off {rss_kib(off.pid)} KiB, "
                  f"on {rss_kib(on.pid)} KiB (after one {size}-byte scrape)")
            quiet = allocate(on_sock)
            stop = threading.Event()
            scrapes = [0]

            def scraper():
                while not stop.wait(0.1):
                    scrape(tmp / "metrics.sock")
                    scrapes[0] += 1

            t = threading.Thread(target=scraper)
            t.start()
            busy = allocate(on_sock)
            stop.set()
            t.join()
            print(f"Allocate x{CALLS} c=1, endpoint on, no scrapes: p50 {quiet[0]:.1f} us  "
                  f"p99 {quiet[1]:.1f} us")
            print(f"Allocate x{CALLS} c=1, /metrics every 100 ms ({scrapes[0]} scrapes): "
                  f"p50 {busy[0]:.1f} us  p99 {busy[1]:.1f} us")
            print(f"idle VmRSS after the scrapes: {rss_kib(on.pid)} KiB")
        finally:
            for p in (off, on):
                p.send_signal(signal.SIGTERM)
                p.wait(10)


if __name__ == "__main__":
    main()
