# SPDX-License-Identifier: Apache-2.0
"""MPS sharing end to end: `mps-control-daemon` against fake `nvidia-cuda-mps-control` and
`nvidia-smi` put first on PATH (they record their arguments, MPS environment and stdin), its
start-up errors, and the plugin's Allocate additions (reference sections 5.6 and 9)."""
import os
import signal
import subprocess

import pytest

from conftest import BINARY, gpus_of, load_node
from daemon import SLOW, Background, Daemon

A100 = gpus_of(load_node("dgx-a100.yaml"))
A100_IDS = [g["uuid"] for g in A100]

FAKE_MPS = r"""#!/bin/sh
input=""
if [ "$1" != "-d" ]; then input=$(cat); fi
if [ "$1" = "-d" ] && [ -e "$FAKE_DIR/fail-start" ]; then exit 3; fi
printf 'argv=%s\tpipe=%s\tlog=%s\tvisible=%s\tstdin=%s\n' "$*" "$CUDA_MPS_PIPE_DIRECTORY" \
    "$CUDA_MPS_LOG_DIRECTORY" "$CUDA_VISIBLE_DEVICES" "$input" >> "$FAKE_DIR/mps.log"
"""

FAKE_SMI = r"""#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_DIR/smi.log"
"""

MPS_CONFIG = """version: v1
sharing:
  mps:
    resources:
    - name: nvidia.com/gpu
      replicas: {replicas}
"""


class Fakes:
    def __init__(self, tmp_path):
        self.dir = tmp_path / "fakes"
        self.bin = self.dir / "bin"
        self.bin.mkdir(parents=True)
        for name, text in (("nvidia-cuda-mps-control", FAKE_MPS), ("nvidia-smi", FAKE_SMI)):
            p = self.bin / name
            p.write_text(text)
            p.chmod(0o755)

    def env(self, extra=None):
        env = {"PATH": f"{self.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
               "FAKE_DIR": str(self.dir), "GDP_MPS_RETRY_INTERVAL_MS": "200"}
        env.update(extra or {})
        return env

    def mps_calls(self):
        """Each nvidia-cuda-mps-control run as a dict: argv, pipe, log, visible, stdin."""
        try:
            lines = (self.dir / "mps.log").read_text().splitlines()
        except FileNotFoundError:
            return []
        return [dict(f.split("=", 1) for f in line.split("\t")) for line in lines]

    def smi_calls(self):
        try:
            return (self.dir / "smi.log").read_text().splitlines()
        except FileNotFoundError:
            return []


class MpsDaemon(Background):
    """`gpu-device-plugin mps-control-daemon` in the background, stderr collected."""

    def __init__(self, plugin, fakes, *args, node=None):
        cmd = [str(BINARY), "mps-control-daemon", f"--driver-root-ctr-path={plugin.driver_root}",
               *args]
        super().__init__(cmd, plugin.env(node, fakes.env()))

    @property
    def lines(self):
        return self.stderr_lines

    def stop(self, signo=signal.SIGTERM, timeout=20):
        return super().stop(signo, timeout)


@pytest.fixture
def fakes(tmp_path):
    return Fakes(tmp_path)


@pytest.fixture
def mps(plugin, fakes):
    started = []

    def start(*args, node=None):
        d = MpsDaemon(plugin, fakes, *args, node=node)
        started.append(d)
        return d

    yield start
    for d in started:
        d.close()


def write_config(tmp_path, replicas=4, name="config.yaml"):
    p = tmp_path / name
    p.write_text(MPS_CONFIG.format(replicas=replicas))
    return p


def test_starts_daemon_with_limits_and_markers(mps, fakes, tmp_path):
    root = tmp_path / "mps"
    d = mps(f"--config-file={write_config(tmp_path)}", f"--mps-root={root}")
    d.wait_for(lambda: (root / ".ready").exists(), ".ready")
    res = root / "nvidia.com" / "gpu"
    assert (res / ".started").exists()
    assert (res / "pipe").is_dir() and (res / "log").is_dir() and (root / "shm").is_dir()
    assert fakes.smi_calls() == [f"-i {u} -c EXCLUSIVE_PROCESS" for u in A100_IDS]
    calls = fakes.mps_calls()
    for c in calls:
        assert c["pipe"] == str(res / "pipe") and c["log"] == str(res / "log")
    assert calls[0]["argv"] == "-d"
    assert calls[0]["visible"] == ",".join(A100_IDS)
    mib = A100[0]["memory_mib"]
    assert [c["stdin"] for c in calls[1:]] == [
        *(f"set_default_device_pinned_mem_limit {i} {mib // 4}M" for i in range(8)),
        "set_default_active_thread_percentage 25"]
    assert all(c["argv"] == "" for c in calls[1:])

    assert d.stop() == 0
    calls = fakes.mps_calls()
    assert calls[-1]["stdin"] == "quit" and calls[-1]["pipe"] == str(res / "pipe")
    assert fakes.smi_calls()[8:] == [f"-i {u} -c DEFAULT" for u in A100_IDS]
    assert not (root / ".ready").exists() and not (res / ".started").exists()


def test_sighup_restarts_with_new_config(mps, fakes, tmp_path):
    root = tmp_path / "mps"
    cfg = write_config(tmp_path)
    d = mps(f"--config-file={cfg}", f"--mps-root={root}")
    d.wait_for(lambda: (root / ".ready").exists(), ".ready")
    n = len(fakes.mps_calls())
    cfg.write_text(MPS_CONFIG.format(replicas=2))
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for(lambda: sum(c["argv"] == "-d" for c in fakes.mps_calls()) == 2, "second start")
    d.wait_for(lambda: (root / ".ready").exists(), ".ready again")
    after = [c["stdin"] for c in fakes.mps_calls()[n:]]
    assert after[0] == "quit"
    assert f"set_default_device_pinned_mem_limit 0 {A100[0]['memory_mib'] // 2}M" in after
    assert after[-1] == "set_default_active_thread_percentage 50"
    assert d.stop() == 0


def test_sighup_with_invalid_config_keeps_daemons(mps, fakes, tmp_path):
    root = tmp_path / "mps"
    cfg = write_config(tmp_path)
    d = mps(f"--config-file={cfg}", f"--mps-root={root}")
    d.wait_for(lambda: (root / ".ready").exists(), ".ready")
    n = len(fakes.mps_calls())
    cfg.write_text("version: v1\nsharing: {mps: {resources: [{name: gpu, replicas: 1}]}}\n")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for(lambda: "keeping the running MPS control daemons" in d.log, "reload error")
    assert len(fakes.mps_calls()) == n and (root / ".ready").exists()
    assert d.stop() == 0


def test_failed_start_is_retried(mps, fakes, tmp_path):
    root = tmp_path / "mps"
    (fakes.dir / "fail-start").write_text("")
    d = mps(f"--config-file={write_config(tmp_path)}", f"--mps-root={root}")
    d.wait_for(lambda: "exited with status 3" in d.log, "start failure")
    assert "retrying in 200 ms" in d.log
    assert not (root / ".ready").exists()
    (fakes.dir / "fail-start").unlink()
    d.wait_for(lambda: (root / ".ready").exists(), ".ready after retry")
    assert d.stop(signal.SIGINT) == 0


def test_mixed_mig_strategy_refused(plugin, fakes, tmp_path):
    p = subprocess.run([str(BINARY), "mps-control-daemon",
                        f"--driver-root-ctr-path={plugin.driver_root}", "--mig-strategy=mixed",
                        f"--config-file={write_config(tmp_path)}", f"--mps-root={tmp_path}"],
                       env=plugin.env(None, fakes.env()), capture_output=True, text=True,
                       timeout=30 * SLOW)
    assert p.returncode != 0
    assert "using --mig-strategy=mixed is not supported with MPS" in p.stderr
    assert fakes.mps_calls() == [] and fakes.smi_calls() == []


def test_mig_devices_refused(plugin, fakes, tmp_path):
    p = subprocess.run([str(BINARY), "mps-control-daemon",
                        f"--driver-root-ctr-path={plugin.driver_root}", "--mig-strategy=single",
                        f"--config-file={write_config(tmp_path)}", f"--mps-root={tmp_path}"],
                       env=plugin.env("a100-mig-single.yaml", fakes.env()), capture_output=True,
                       text=True, timeout=30 * SLOW)
    assert p.returncode != 0
    assert "sharing using MPS is not supported for MIG devices" in p.stderr


def test_replicas_above_client_limit_refused(plugin, fakes, tmp_path):
    p = subprocess.run([str(BINARY), "mps-control-daemon",
                        f"--driver-root-ctr-path={plugin.driver_root}",
                        f"--config-file={write_config(tmp_path, replicas=49)}",
                        f"--mps-root={tmp_path}"],
                       env=plugin.env(None, fakes.env()), capture_output=True, text=True,
                       timeout=30 * SLOW)
    assert p.returncode != 0
    assert "maximum allowed replicas exceeded" in p.stderr
    assert "at most 48" in p.stderr
    assert fakes.mps_calls() == []


def test_plugin_allocate_adds_pipe_dir_and_mounts(plugin, tmp_path):
    root = tmp_path / "host-mps"
    res = root / "nvidia.com" / "gpu"
    res.mkdir(parents=True)
    (res / ".started").write_text("")  # what a running control daemon leaves
    d = Daemon(plugin, tmp_path, args=[f"--config-file={write_config(tmp_path)}",
                                       f"--mps-root={root}"],
               env={"GDP_MPS_ROOT_CTR": str(root)})
    try:
        d.kubelet.wait_registration()
        c = d.client().allocate([f"{A100_IDS[1]}::2"]).container_responses[0]
        assert c.envs["CUDA_MPS_PIPE_DIRECTORY"] == "/mps/nvidia.com/gpu/pipe"
        assert c.envs["NVIDIA_VISIBLE_DEVICES"] == A100_IDS[1]
        assert sorted((m.host_path, m.container_path) for m in c.mounts) == sorted([
            (str(res / "pipe"), "/mps/nvidia.com/gpu/pipe"), (str(root / "shm"), "/dev/shm")])
        assert d.stop() == 0
    finally:
        d.close()
