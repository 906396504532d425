# SPDX-License-Identifier: Apache-2.0
"""Reloads without dropping the kubelet: config file edits, the config-manager's symlink swap,
invalid configurations, and the nvidia-device-plugin process name."""
import os
import signal
import subprocess
import time

import pytest

from conftest import BINARY, gpus_of, load_node, mig_devices
from daemon import Daemon

H100 = load_node("h100x2-mig-mixed.yaml")
MIG_RESOURCES = sorted({"nvidia.com/mig-" + m["profile"].replace("+", ".")
                        for g in gpus_of(H100) for m in mig_devices(g)})


@pytest.fixture
def serve(plugin, tmp_path):
    started = []

    def start(config, node="h100x2-mig-mixed.yaml"):
        d = Daemon(plugin, tmp_path, node=node, args=[f"--config-file={config}"])
        started.append(d)
        return d

    yield start
    for d in started:
        d.close()


def write(path, text):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def wait_for(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_config_edit_applies_the_difference(serve, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("version: v1\nflags:\n  migStrategy: none\n")
    d = serve(config)
    assert d.kubelet.wait_registration().resource_name == "nvidia.com/gpu"
    gpu_stream = d.client().list_and_watch(timeout=20)
    next(gpu_stream)
    write(config, "version: v1\nflags:\n  migStrategy: mixed\n")
    names = sorted(d.kubelet.wait_registration().resource_name for _ in MIG_RESOURCES)
    assert names == MIG_RESOURCES
    wait_for(lambda: not (d.dir / "nvidia-gpu.sock").exists())
    d.wait_log("nvidia.com/gpu no longer advertised")
    # an edit back re-adds nvidia.com/gpu and leaves nothing registered twice
    write(config, "version: v1\nflags:\n  migStrategy: none\n")
    assert d.kubelet.wait_registration().resource_name == "nvidia.com/gpu"
    wait_for(lambda: not (d.dir / "nvidia-mig-1g.10gb.sock").exists())


def test_invalid_config_keeps_serving(serve, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("version: v1\n")
    d = serve(config)
    d.kubelet.wait_registration()
    stream = d.client().list_and_watch(timeout=20)
    next(stream)
    write(config, "version: v1\nflags:\n  migStrategy: both\n")
    d.wait_log("reload failed, still serving the previous configuration")
    assert "migStrategy" in d.log and "both" in d.log
    assert d.kubelet.registrations.empty()
    assert d.client().options().get_preferred_allocation_available
    d.send(signal.SIGHUP)  # a SIGHUP with the bad file changes nothing either
    time.sleep(0.3)
    assert (d.dir / "nvidia-gpu.sock").exists()


def test_config_manager_symlink_swap(serve, tmp_path):
    available = tmp_path / "available-configs"
    available.mkdir()
    (available / "none").write_text("version: v1\nflags:\n  migStrategy: none\n")
    (available / "mixed").write_text("version: v1\nflags:\n  migStrategy: mixed\n")
    cfgdir = tmp_path / "config"
    cfgdir.mkdir()
    link = cfgdir / "config.yaml"
    link.symlink_to(available / "none")
    d = serve(link)
    assert d.kubelet.wait_registration().resource_name == "nvidia.com/gpu"
    tmp = cfgdir / "config.yaml.new"
    tmp.symlink_to(available / "mixed")
    os.replace(tmp, link)  # what config-manager does: an atomic symlink swap
    names = sorted(d.kubelet.wait_registration().resource_name for _ in MIG_RESOURCES)
    assert names == MIG_RESOURCES


def test_process_name_alias_for_config_manager(plugin, tmp_path):
    """NVIDIA's config-manager signals the process named nvidia-device-plugin."""
    alias = tmp_path / "nvidia-device-plugin"
    alias.symlink_to(BINARY)
    sock_dir = tmp_path / "dp"
    sock_dir.mkdir()
    p = subprocess.Popen([str(alias), f"--driver-root-ctr-path={plugin.driver_root}",
                          f"--kubelet-socket={sock_dir / 'kubelet.sock'}"],
                         env=plugin.env(), stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (sock_dir / "nvidia-gpu.sock").exists())
        with open(f"/proc/{p.pid}/cmdline", "rb") as f:
            assert os.path.basename(f.read().split(b"\0")[0]) == b"nvidia-device-plugin"
        p.send_signal(signal.SIGHUP)
        time.sleep(0.2)
        assert p.poll() is None
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0


def test_replica_change_updates_the_same_stream(serve, tmp_path):
    ts = ("version: v1\nsharing:\n  timeSlicing:\n    resources:\n"
          "    - name: nvidia.com/gpu\n      replicas: {}\n")
    config = tmp_path / "config.yaml"
    config.write_text(ts.format(2))
    d = serve(config, node="dgx-a100.yaml")
    assert d.kubelet.wait_registration().resource_name == "nvidia.com/gpu"
    stream = d.client().list_and_watch(timeout=20)
    assert len(next(stream).devices) == 16
    write(config, ts.format(4))
    msg = next(stream)  # the same stream: an updated list, not a new registration
    assert len(msg.devices) == 32
    assert {dev.ID.rsplit("::", 1)[1] for dev in msg.devices} == {"0", "1", "2", "3"}
    time.sleep(0.2)
    assert d.kubelet.registrations.empty()


def test_reload_recomputes_the_container_dev_root(plugin, tmp_path):
    d = Daemon(plugin, tmp_path, args=["--pass-device-specs"])
    try:
        d.kubelet.wait_registration()
        uuid = gpus_of(load_node("dgx-a100.yaml"))[0]["uuid"]
        before = d.client().allocate([uuid]).container_responses[0]
        assert [s.container_path for s in before.devices] == ["/dev/nvidia0"]
        # the driver root gains a dev/ directory: it becomes the container's view of /dev
        (plugin.driver_root / "dev").mkdir()
        (plugin.driver_root / "dev" / "nvidiactl").write_text("")
        d.send(signal.SIGHUP)
        d.wait_log("SIGHUP: reloading")
        wait_for(lambda: [s.container_path for s in
                          d.client().allocate([uuid]).container_responses[0].devices]
                 == ["/dev/nvidiactl", "/dev/nvidia0"])
    finally:
        d.close()


def test_a_rejected_reload_leaves_the_cdi_specs(plugin, tmp_path):
    # the specs name what Allocate answers with: a reload that is refused (here by the MPS
    # client limit, checked after discovery) must not replace them
    spec_dir = tmp_path / "cdi"
    config = tmp_path / "config.yaml"
    config.write_text("version: v1\n")
    d = Daemon(plugin, tmp_path, args=[f"--config-file={config}", f"--mps-root={tmp_path}",
                                       "--device-list-strategy=cdi-annotations",
                                       f"--cdi-spec-dir={spec_dir}"])
    try:
        d.kubelet.wait_registration()
        before = {p.name: p.stat().st_ino for p in spec_dir.iterdir()}
        assert before
        write(config, "version: v1\nsharing:\n  mps:\n    resources:\n"
                      "    - name: nvidia.com/gpu\n      replicas: 49\n")
        d.wait_log("reload failed, still serving the previous configuration")
        d.wait_log("maximum allowed replicas exceeded")
        assert {p.name: p.stat().st_ino for p in spec_dir.iterdir()} == before
    finally:
        d.close()


def test_edits_during_reloads_are_never_lost(serve, tmp_path):
    ts = ("version: v1\nsharing:\n  timeSlicing:\n    resources:\n"
          "    - name: nvidia.com/gpu\n      replicas: {}\n")
    config = tmp_path / "config.yaml"
    config.write_text(ts.format(2))
    d = serve(config, node="dgx-a100.yaml")
    d.kubelet.wait_registration()
    stream = d.client().list_and_watch(timeout=20)
    assert len(next(stream).devices) == 8 * 2
    for k in range(3, 11):
        d.send(signal.SIGHUP)  # a reload starts, and the file changes while it runs
        write(config, ts.format(k))
        n = 0
        while n != 8 * k:  # the edit is served, or the stream times out
            n = len(next(stream).devices)
