# SPDX-License-Identifier: Apache-2.0
"""NVML fault sweep: every NVML function the mock exports fails for one GPU, always, from
the start, or once, during a reload. The plugin keeps serving, the other GPUs stay healthy,
and once the fault is gone every GPU is served healthy again."""
import signal
import time

import pytest
import yaml

from conftest import VALGRIND, gpus_of, load_node
from daemon import Daemon

A100 = load_node("dgx-a100.yaml")
IDS = [g["uuid"] for g in gpus_of(A100)]
GPU = 3  # the GPU the faults concern

# every function a GPU can be named in (system-wide calls have no GPU to filter on)
FUNCTIONS = [
    "nvmlDeviceGetAddressingMode", "nvmlDeviceGetArchitecture", "nvmlDeviceGetAttributes_v2",
    "nvmlDeviceGetBoardPartNumber", "nvmlDeviceGetBrand", "nvmlDeviceGetComputeInstanceId",
    "nvmlDeviceGetCpuAffinity", "nvmlDeviceGetCudaComputeCapability",
    "nvmlDeviceGetGpuFabricInfoV", "nvmlDeviceGetGpuInstanceId", "nvmlDeviceGetHandleByIndex_v2",
    "nvmlDeviceGetHandleByUUID", "nvmlDeviceGetIndex", "nvmlDeviceGetMaxMigDeviceCount",
    "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetMigMode",
    "nvmlDeviceGetMinorNumber", "nvmlDeviceGetName", "nvmlDeviceGetNumaNodeId",
    "nvmlDeviceGetNvLinkRemotePciInfo_v2", "nvmlDeviceGetNvLinkState", "nvmlDeviceGetP2PStatus",
    "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetSerial", "nvmlDeviceGetSupportedEventTypes",
    "nvmlDeviceGetTopologyCommonAncestor", "nvmlDeviceGetUUID", "nvmlDeviceRegisterEvents",
]

pytestmark = pytest.mark.skipif(VALGRIND, reason="ASan covers the sweep; valgrind is too slow")


@pytest.fixture
def node_with(tmp_path):
    def make(function, mode):
        node = dict(A100)
        node["fail"] = [{"function": function, "code": "UNKNOWN", "mode": mode,
                         "uuid": IDS[GPU]}]
        path = tmp_path / "node.yaml"
        path.write_text(yaml.safe_dump(node))
        return path
    return make


def health_of(d):
    return {dev.ID: dev.health for dev in next(d.client().list_and_watch(timeout=5)).devices}


def wait_all_healthy(d, timeout=10):
    deadline = time.monotonic() + timeout
    while (h := health_of(d)) != {i: "Healthy" for i in IDS}:
        assert time.monotonic() < deadline, f"{h}\n{d.log}"
        time.sleep(0.1)


def start(plugin, tmp_path, path):
    fifo = tmp_path / "control"
    env = {"MOCK_NVML_CONTROL": str(fifo), "GDP_REDISCOVERY_INTERVAL": "200ms",
           "GDP_HEALTH_PROBE_INTERVAL": "200ms"}
    d = Daemon(plugin, tmp_path, node=path, env=env)
    d.kubelet.wait_registration()

    def control(line):
        with open(fifo, "w") as f:
            f.write(line + "\n")
    d.control = control
    return d


@pytest.mark.parametrize("function", FUNCTIONS)
def test_always_from_the_start_then_cleared(plugin, tmp_path, node_with, function):
    d = start(plugin, tmp_path, node_with(function, "always"))
    try:
        health = health_of(d)
        # the other GPUs are served, healthy; the one the fault concerns at most marked
        assert all(health.get(i) == "Healthy" for n, i in enumerate(IDS) if n != GPU), d.log
        if IDS[GPU] not in health or health[IDS[GPU]] == "Unhealthy":
            assert IDS[GPU] in d.log or f"GPU {GPU} " in d.log, d.log  # and said why
        d.control("clear")
        wait_all_healthy(d)
    finally:
        d.close()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_once_during_a_reload(plugin, tmp_path, node_with, function):
    d = start(plugin, tmp_path, node_with("nvmlSystemGetDriverVersion", "once"))
    try:
        wait_all_healthy(d)
        d.control(f"fail {function} UNKNOWN once {IDS[GPU]}")
        d.send(signal.SIGHUP)
        d.wait_log("SIGHUP: reloading")
        wait_all_healthy(d)
        assert d.proc.poll() is None
    finally:
        d.close()


MIG_FUNCTIONS = [
    "nvmlDeviceGetMigDeviceHandleByIndex", "nvmlDeviceGetGpuInstanceById",
    "nvmlGpuInstanceGetInfo", "nvmlGpuInstanceGetComputeInstanceById",
    "nvmlComputeInstanceGetInfo_v2", "nvmlDeviceGetDeviceHandleFromMigDeviceHandle",
    "nvmlDeviceIsMigDeviceHandle", "nvmlDeviceGetGpuInstanceProfileInfoV",
    "nvmlGpuInstanceGetComputeInstanceProfileInfo", "nvmlDeviceGetUUID", "nvmlDeviceGetName",
]


def served(d):
    """Every resource's devices and their health, by socket."""
    out = {}
    for sock in sorted(d.dir.glob("nvidia-*.sock")):
        msg = next(d.client(sock.name).list_and_watch(timeout=5))
        out[sock.name] = {dev.ID: dev.health for dev in msg.devices}
    return out


@pytest.mark.parametrize("function", MIG_FUNCTIONS)
def test_mig_once_during_a_reload(plugin, tmp_path, function):
    h100 = load_node("h100x2-mig-mixed.yaml")
    fifo = tmp_path / "control"
    d = Daemon(plugin, tmp_path, node="h100x2-mig-mixed.yaml", args=["--mig-strategy=mixed"],
               env={"MOCK_NVML_CONTROL": str(fifo), "GDP_REDISCOVERY_INTERVAL": "200ms"})
    try:
        d.kubelet.wait_registration()
        time.sleep(0.3)  # every resource registered
        before = served(d)
        assert before and all(h == "Healthy" for r in before.values() for h in r.values())
        with open(fifo, "w") as f:
            f.write(f"fail {function} UNKNOWN once {gpus_of(h100)[0]['uuid']}\n")
        d.send(signal.SIGHUP)
        d.wait_log("SIGHUP: reloading")
        deadline = time.monotonic() + 10
        while (now := served(d)) != before:
            assert time.monotonic() < deadline, f"{now}\n{d.log}"
            time.sleep(0.1)
    finally:
        d.close()
