#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Newcomer's demo: runs `gpu-device-plugin serve` against a test kubelet in a temporary
directory and shows what the kubelet sees: the registration, the advertised devices and one
allocation. Usage: demo_kubelet.py BUILD_DIR [extra serve flags...]"""
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
os.environ.setdefault("GDP_BUILD_DIR", sys.argv[1] if len(sys.argv) > 1 else "build")
from kubelet import FakeKubelet  # noqa: E402

build = Path(os.environ["GDP_BUILD_DIR"]).resolve()


def main():
    with tempfile.TemporaryDirectory(prefix="gdp-demo-") as tmp:
        kubelet = FakeKubelet(tmp).start()
        cmd = [str(build / "gpu-device-plugin"), "serve",
               f"--kubelet-socket={tmp}/kubelet.sock", *sys.argv[2:]]
        print(f"$ {' '.join(cmd)}")
        log = open(Path(tmp) / "plugin.log", "w")
        start = time.monotonic()
        plugin = subprocess.Popen(cmd, stderr=log)
        try:
            show(kubelet, start)
        finally:
            plugin.send_signal(signal.SIGTERM)
            rc = plugin.wait(10)
            kubelet.stop()
            log.close()
            print(f"\nSIGTERM: plugin exited with status {rc}; its log:")
            print("".join("  " + l for l in open(Path(tmp) / "plugin.log")))


def show(kubelet, start):
    reg = kubelet.wait_registration()
    ms = (time.monotonic() - start) * 1000
    print(f"\nkubelet: Register from {reg.resource_name} after {ms:.1f} ms "
          f"(endpoint {reg.endpoint}, API {reg.version}, "
          f"preferred allocation {'yes' if reg.options.get_preferred_allocation_available else 'no'})")
    from kubelet import PluginClient
    client = PluginClient(kubelet.dir / reg.endpoint)
    devices = next(client.list_and_watch(timeout=5)).devices
    print(f"kubelet: ListAndWatch: {len(devices)} devices")
    for d in devices:
        numa = ",".join(str(n.ID) for n in d.topology.nodes) or "-"
        print(f"  {d.ID}  {d.health:<9}  NUMA {numa}")
    pick = [devices[0].ID, devices[1].ID] if len(devices) > 1 else [devices[0].ID]
    resp = client.allocate(pick)
    print(f"kubelet: Allocate {len(pick)} devices for one container:")
    for k, v in sorted(resp.container_responses[0].envs.items()):
        print(f"  {k}={v}")
    client.close()


if __name__ == "__main__":
    main()
