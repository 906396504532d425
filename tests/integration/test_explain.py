# SPDX-License-Identifier: Apache-2.0
"""`gpu-device-plugin explain`: a device or a pod, read from a running plugin's endpoint and
the kubelet's PodResources API (the fake in kubelet.py)."""
import pytest

from conftest import gpus_of, load_node, mig_devices
from daemon import Daemon
from kubelet import FakePodResources

A100 = load_node("dgx-a100.yaml")
A100_IDS = [g["uuid"] for g in gpus_of(A100)]
H100 = load_node("h100x2-mig-mixed.yaml")


@pytest.fixture
def serve(plugin, tmp_path):
    started = []

    def start(*args, node=None, env=None):
        addr = f"unix:{tmp_path / 'metrics.sock'}"
        d = Daemon(plugin, tmp_path, node=node, env=env,
                   args=[f"--metrics-address={addr}", *args])
        d.addr = addr
        started.append(d)
        d.kubelet.wait_registration()
        # the kubelet has the Register call; the plugin marks it registered once answered
        d.wait_log("registered with the kubelet")
        return d

    yield start
    for d in started:
        d.close()


def explain(plugin, d, *args):
    return plugin.run("explain", f"--metrics-address={d.addr}", *args, driver_root=False)


def test_device_by_id_and_index(plugin, serve):
    d = serve()
    p = explain(plugin, d, A100_IDS[3])
    assert p.returncode == 0, p.stderr
    gpu = gpus_of(A100)[3]
    assert f"device {A100_IDS[3]}" in p.stdout
    assert "advertised: yes, as nvidia.com/gpu (registration registered" in p.stdout
    assert "health:     Healthy" in p.stdout
    assert f"GPU 3 {A100_IDS[3]} ({gpu['name']}), PCI" in p.stdout
    assert "topology:   NUMA node" in p.stdout
    by_index = explain(plugin, d, "3")
    assert by_index.returncode == 0 and by_index.stdout == p.stdout


def test_unhealthy_device_says_why_and_since_when(plugin, serve, tmp_path):
    fifo = tmp_path / "control"
    d = serve(env={"MOCK_NVML_CONTROL": str(fifo)})
    with open(fifo, "w") as f:
        f.write(f"xid {A100_IDS[5]} 48\n")
    d.wait_log("unhealthy xid=48")
    p = explain(plugin, d, A100_IDS[5])
    assert p.returncode == 0, p.stderr
    assert "health:     Unhealthy since 20" in p.stdout
    assert "why:        XID 48" in p.stdout
    # when it may recover: after the quiet period, or (reset-class XIDs) after a GPU reset
    assert "healthy again after" in p.stdout or "waiting for a GPU reset" in p.stdout


def test_replicas_and_unadvertised_devices(plugin, serve, tmp_path):
    config = tmp_path / "ts.yaml"
    config.write_text("version: v1\nsharing:\n  timeSlicing:\n    resources:\n"
                      "    - name: nvidia.com/gpu\n      replicas: 4\n")
    d = serve(f"--config-file={config}")
    p = explain(plugin, d, f"{A100_IDS[0]}::2")
    assert p.returncode == 0, p.stderr
    assert f"replica:    2 of 4 of {A100_IDS[0]}" in p.stdout
    every = explain(plugin, d, A100_IDS[0])  # the UUID matches each of its replicas
    assert every.stdout.count("device ") == 4


def test_mig_device_not_advertised_under_strategy_none(plugin, serve):
    d = serve(node="h100x2-mig-mixed.yaml")
    mig = mig_devices(gpus_of(H100)[0])[0]["uuid"]
    p = explain(plugin, d, mig)
    assert p.returncode == 0, p.stderr
    assert "advertised: no" in p.stdout


def test_unknown_device_and_missing_endpoint(plugin, serve, tmp_path):
    d = serve()
    p = explain(plugin, d, "GPU-00000000-0000-0000-0000-000000000000")
    assert p.returncode == 1 and "no device GPU-00000000" in p.stderr
    p = plugin.run("explain", "0", driver_root=False)
    assert p.returncode == 2 and "--metrics-address" in p.stderr
    p = plugin.run("explain", "0", f"--metrics-address=unix:{tmp_path / 'none.sock'}",
                   driver_root=False)
    assert p.returncode == 1 and "cannot read the plugin's state" in p.stderr
    p = plugin.run("explain", "0", "--pod", "a/b", driver_root=False,
                   env={"METRICS_ADDRESS": d.addr})
    assert p.returncode == 2 and "not both" in p.stderr


def test_pod_devices_through_pod_resources(plugin, serve, tmp_path):
    pr = FakePodResources(tmp_path).start()
    try:
        pr.pods = [("default", "other", {"c": {"nvidia.com/gpu": [A100_IDS[7]]}}),
                   ("ml", "train", {"main": {"nvidia.com/gpu": [A100_IDS[1], A100_IDS[2]],
                                             "example.com/nic": ["nic0"]},
                                    "sidecar": {}})]
        d = serve()
        sock = f"--pod-resources-socket={pr.socket}"
        p = explain(plugin, d, "--pod", "ml/train", sock)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert lines[0] == "pod ml/train"
        assert "  container main" in lines and "  container sidecar" in lines
        assert "    nvidia.com/gpu: 2 device(s)" in lines
        assert f"      {A100_IDS[1]}: Healthy, GPU 1 {A100_IDS[1]} " in p.stdout
        assert f"runtime ID {A100_IDS[2]}" in p.stdout
        assert "nic0" not in p.stdout and A100_IDS[7] not in p.stdout
        p = explain(plugin, d, "--pod=ml/missing", sock)
        assert p.returncode == 1 and "no pod ml/missing" in p.stderr
        p = explain(plugin, d, "--pod=nonamespace", sock)
        assert p.returncode == 2
    finally:
        pr.stop()
