#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Health propagation figures: the time from an XID line written to the mock NVML's control
FIFO to a ListAndWatch client seeing the device Unhealthy, and from the end of the quiet
period to it seeing Healthy again. The client is python3-grpcio (its own overhead, tens of
microseconds per message, is included), so the figures are upper bounds.

Usage: health_propagation.py BUILD_DIR [CYCLES]"""
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(sys.argv[1]).resolve()
CYCLES = int(sys.argv[2]) if len(sys.argv) > 2 else 100
QUIET_MS = 100
os.environ["GDP_BUILD_DIR"] = str(BUILD)
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from kubelet import FakeKubelet, PluginClient  # noqa: E402


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main():
    with tempfile.TemporaryDirectory(prefix="gdp-health-") as tmp:
        tmp = Path(tmp)
        lib = tmp / "root" / "usr" / "lib64"
        lib.mkdir(parents=True)
        (lib / "libnvidia-ml.so.1").symlink_to(BUILD / "tests" / "mock-nvml" / "libnvidia-ml.so.1")
        fifo = tmp / "control"
        kubelet = FakeKubelet(tmp).start()
        env = {"PATH": os.environ["PATH"], "MOCK_NVML_CONTROL": str(fifo),
               "GDP_HEALTH_QUIET_PERIOD": f"{QUIET_MS}ms", "GDP_HEALTH_PROBE_INTERVAL": "0"}
        plugin = subprocess.Popen([str(BUILD / "gpu-device-plugin"), "serve",
                                   f"--driver-root-ctr-path={tmp / 'root'}",
                                   f"--kubelet-socket={tmp / 'kubelet.sock'}",
                                   "--log-level=error"], env=env)
        try:
            reg = kubelet.wait_registration()
            run(PluginClient(tmp / reg.endpoint), fifo)
        finally:
            plugin.send_signal(signal.SIGTERM)
            plugin.wait(10)
            kubelet.stop()


def run(client, fifo):
    seen = queue.Queue()

    def reader():
        try:
            for msg in client.list_and_watch():
                seen.put((time.monotonic_ns(), {d.ID: d.health for d in msg.devices}))
        except Exception:  # the stream ends with UNAVAILABLE when the plugin stops
            pass

    threading.Thread(target=reader, daemon=True).start()
    _, first = seen.get(timeout=10)
    ids = list(first)
    control = open(fifo, "w", buffering=1)
    down, up = [], []
    for i in range(CYCLES):
        dev = ids[i % len(ids)]
        t0 = time.monotonic_ns()
        control.write(f"xid {dev} 32\n")
        t1, msg = seen.get(timeout=5)
        assert msg[dev] == "Unhealthy", msg
        t2, msg = seen.get(timeout=5)
        assert msg[dev] == "Healthy", msg
        down.append((t1 - t0) / 1e3)
        up.append((t2 - t1) / 1e3 - QUIET_MS * 1000)
    print(f"XID written -> ListAndWatch Unhealthy x{CYCLES}: p50 {statistics.median(down):.0f} us, "
          f"p99 {pct(down, 99):.0f} us, max {max(down):.0f} us (target <= 1 ms)")
    print(f"quiet period over -> ListAndWatch Healthy x{CYCLES}: p50 {statistics.median(up):.0f} us, "
          f"p99 {pct(up, 99):.0f} us (timer slack included)")


if __name__ == "__main__":
    main()
