# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures for the black-box tests: run the built binary against the mock NVML.

The build directory comes from GDP_BUILD_DIR (CTest sets it). With GDP_VALGRIND=1 every run
of the plugin happens under valgrind, and any memory error or leak fails the test.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("GDP_BUILD_DIR", ROOT / "build")).resolve()
BINARY = BUILD / "gpu-device-plugin"
MOCK_LIB = BUILD / "tests" / "mock-nvml" / "libnvidia-ml.so.1"
NODES = ROOT / "tests" / "mock-nvml" / "nodes"
NODE_FILES = sorted(p.name for p in NODES.glob("*.yaml"))
VALGRIND = os.environ.get("GDP_VALGRIND") == "1"
VALGRIND_ERROR = 99


def _sanitized():
    try:
        data = BINARY.read_bytes()
    except OSError:
        return False
    return b"AddressSanitizer" in data or b"libasan.so" in data


SANITIZED = _sanitized()  # ASan builds hold freed memory in quarantine: RSS grows


def load_node(name):
    """The node description file as a dict (the mock's own format)."""
    with open(NODES / name) as f:
        return yaml.safe_load(f) or {}


def gpus_of(node):
    return node.get("gpus") or []


def sysfs_bus_id(bus_id):
    """NVML's 8-digit-domain bus id in the form sysfs uses ('0000:3b:00.0')."""
    b = bus_id.lower()
    if len(b) > 12 and b.startswith("0000") and b[8] == ":":
        b = b[4:]
    return b


def make_sysfs(root, node):
    """A fake /sys with numa_node files for the node's GPUs; returns its path."""
    sysfs = root / "sys"
    for gpu in gpus_of(node):
        bus = gpu_bus_id(gpu)
        if bus is None:
            continue
        d = sysfs / "bus" / "pci" / "devices" / sysfs_bus_id(bus)
        d.mkdir(parents=True, exist_ok=True)
        numa = gpu_numa(gpu)
        (d / "numa_node").write_text(f"{-1 if numa is None else numa}\n")
    return sysfs


def make_proc(root, node):
    """A fake /proc with the driver's mig-minors table (the driver's numbering scheme:
    config 1, monitor 2, then per GPU minor g 135 entries: gi0 access, gi0 ci0..7, gi1 ...)."""
    caps = root / "proc" / "driver" / "nvidia-caps"
    caps.mkdir(parents=True, exist_ok=True)
    lines = ["config 1", "monitor 2"]
    for i, gpu in enumerate(gpus_of(node)):
        g = gpu_minor(gpu, i)
        for gi in range(15):
            base = 3 + g * 135 + gi * 9
            lines.append(f"gpu{g}/gi{gi}/access {base}")
            for ci in range(8):
                lines.append(f"gpu{g}/gi{gi}/ci{ci}/access {base + 1 + ci}")
    (caps / "mig-minors").write_text("\n".join(lines) + "\n")
    return root / "proc"


def mig_cap_minor(gpu_minor_number, gi, ci=None):
    base = 3 + gpu_minor_number * 135 + gi * 9
    return base if ci is None else base + 1 + ci


# --- accessors for the mock's node-file keys (see tests/mock-nvml/README.md) ---

def gpu_bus_id(gpu):
    return (gpu.get("pci") or {}).get("bus_id")


def gpu_numa(gpu):
    numa = gpu.get("numa_node")
    return numa if isinstance(numa, int) else None


def gpu_minor(gpu, index):
    return gpu.get("minor", index)


def mig_devices(gpu):
    mig = gpu.get("mig") or {}
    if mig.get("mode") != "enabled":
        return []
    return mig.get("devices") or []


class Plugin:
    """Runs the binary with a clean environment, the mock NVML and fake sysfs/procfs."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.driver_root = tmp_path / "driver-root"
        lib = self.driver_root / "usr" / "lib64"
        lib.mkdir(parents=True)
        (lib / "libnvidia-ml.so.1").symlink_to(MOCK_LIB)

    def env(self, node=None, extra=None, sysfs=True, proc=True):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        if node is not None:
            path = node if os.path.isabs(str(node)) else NODES / node
            env["MOCK_NVML_NODE"] = str(path)
            data = yaml.safe_load(Path(path).read_text()) if Path(path).exists() else {}
        else:
            data = load_node("dgx-a100.yaml")
        if sysfs and isinstance(data, dict):
            env["GDP_SYSFS_ROOT"] = str(make_sysfs(self.tmp, data))
        if proc and isinstance(data, dict):
            env["GDP_PROC_ROOT"] = str(make_proc(self.tmp, data))
        env.update(extra or {})
        return env

    def run(self, *args, node=None, env=None, driver_root=True, sysfs=True, proc=True,
            timeout=60):
        cmd = [str(BINARY), *args]
        if driver_root:
            cmd.insert(2 if args and not str(args[0]).startswith("-") else 1,
                       f"--driver-root-ctr-path={self.driver_root}")
        if VALGRIND:
            cmd = ["valgrind", "--quiet", f"--error-exitcode={VALGRIND_ERROR}",
                   "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
                   "--errors-for-leak-kinds=definite,indirect,possible",
                   f"--suppressions={ROOT / 'tests' / 'valgrind.supp'}", *cmd]
        p = subprocess.run(cmd, env=self.env(node, env, sysfs, proc), capture_output=True,
                           text=True, timeout=timeout * (10 if VALGRIND else 1))
        assert p.returncode != VALGRIND_ERROR, f"valgrind found errors:\n{p.stderr}"
        return p

    def list_json(self, *args, node=None, env=None, **kw):
        p = self.run("list", "--json", *args, node=node, env=env, **kw)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)


@pytest.fixture
def plugin(tmp_path):
    assert BINARY.exists(), f"build first: {BINARY} is missing"
    assert MOCK_LIB.exists(), f"build first: {MOCK_LIB} is missing"
    return Plugin(tmp_path)


def stderr_lines(p):
    return [line for line in p.stderr.splitlines() if line.strip()]
