# SPDX-License-Identifier: Apache-2.0
"""What the daemon's Allocate returns under each device-list strategy, end to end."""
import json

import pytest

from conftest import gpus_of, load_node
from daemon import Daemon

A100_IDS = [g["uuid"] for g in gpus_of(load_node("dgx-a100.yaml"))]


@pytest.fixture
def serve(plugin, tmp_path):
    started = []

    def start(*args, env=None):
        d = Daemon(plugin, tmp_path, args=args, env=env)
        started.append(d)
        return d

    yield start
    for d in started:
        d.close()


def test_volume_mounts(serve):
    d = serve("--device-list-strategy=volume-mounts")
    d.kubelet.wait_registration()
    c = d.client().allocate([A100_IDS[0], A100_IDS[4]]).container_responses[0]
    assert c.envs["NVIDIA_VISIBLE_DEVICES"] == "/var/run/nvidia-container-devices"
    assert sorted((m.host_path, m.container_path) for m in c.mounts) == sorted(
        ("/dev/null", f"/var/run/nvidia-container-devices/{i}") for i in (A100_IDS[0], A100_IDS[4]))


def test_cdi_specs_written_before_registration_and_named_in_allocate(serve, tmp_path):
    spec_dir = tmp_path / "cdi"
    d = serve("--device-list-strategy=cdi-cri,cdi-annotations", f"--cdi-spec-dir={spec_dir}")
    d.kubelet.wait_registration()
    spec = json.loads((spec_dir / "k8s.device-plugin.nvidia.com-gpu.json").read_text())
    assert spec["kind"] == "k8s.device-plugin.nvidia.com/gpu"
    assert {dev["name"] for dev in spec["devices"]} >= set(A100_IDS)
    c = d.client().allocate([A100_IDS[2]]).container_responses[0]
    assert [x.name for x in c.cdi_devices] == [f"k8s.device-plugin.nvidia.com/gpu={A100_IDS[2]}"]
    (key, value), = c.annotations.items()
    assert key.startswith("cdi.k8s.io/nvidia-device-plugin_")
    assert value == f"k8s.device-plugin.nvidia.com/gpu={A100_IDS[2]}"
    assert "NVIDIA_VISIBLE_DEVICES" not in c.envs  # CDI only: no env var


def test_pass_device_specs(serve, tmp_path):
    dev = tmp_path / "ctr-dev-root" / "dev"
    dev.mkdir(parents=True)
    for name in ("nvidiactl", "nvidia-uvm"):
        (dev / name).write_text("")
    d = serve("--pass-device-specs", "--dev-root=/host", env={"GDP_DEV_ROOT_CTR": str(dev.parent)})
    d.kubelet.wait_registration()
    c = d.client().allocate([A100_IDS[3]]).container_responses[0]
    specs = [(s.container_path, s.host_path, s.permissions) for s in c.devices]
    assert specs == [("/dev/nvidiactl", "/host/dev/nvidiactl", "rw"),
                     ("/dev/nvidia-uvm", "/host/dev/nvidia-uvm", "rw"),
                     ("/dev/nvidia3", "/host/dev/nvidia3", "rw")]
    assert c.envs["NVIDIA_VISIBLE_DEVICES"] == A100_IDS[3]


def test_gds_and_mofed_flags(serve):
    d = serve("--gds-enabled", "--mofed-enabled")
    d.kubelet.wait_registration()
    c = d.client().allocate([A100_IDS[0]]).container_responses[0]
    assert c.envs["NVIDIA_GDS"] == "enabled" and c.envs["NVIDIA_MOFED"] == "enabled"


def test_required_imex_channel_missing_fails_start(plugin, tmp_path):
    d = Daemon(plugin, tmp_path, args=["--imex-channel-ids=0", "--imex-required"],
               env={"GDP_DEV_ROOT_CTR": str(tmp_path)})
    try:
        assert d.proc.wait(10) == 1
        d._reader.join(5)
        assert "imex" in d.log.lower()
        assert d.kubelet.registrations.empty()
    finally:
        d.close()
