# SPDX-License-Identifier: Apache-2.0
"""Runs `gpu-device-plugin serve` against a FakeKubelet in a temporary directory."""
import os
import signal
import subprocess
import threading
import time

from conftest import BINARY, VALGRIND, VALGRIND_ERROR, ROOT
from kubelet import FakeKubelet, PluginClient


SLOW = 10 if VALGRIND else 1


class Background:
    """A command of ours in the background (under valgrind with GDP_VALGRIND=1), its stderr
    collected line by line."""

    def __init__(self, cmd, env):
        if VALGRIND:
            cmd = ["valgrind", "--quiet", f"--error-exitcode={VALGRIND_ERROR}",
                   "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                   f"--suppressions={ROOT / 'tests' / 'valgrind.supp'}", *cmd]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.stderr_lines = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    @property
    def log(self):
        return "\n".join(self.stderr_lines)

    def wait_for(self, cond, what, timeout=10):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            if cond():
                return
            assert self.proc.poll() is None, f"exited {self.proc.returncode} before {what}:\n{self.log}"
            time.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log}")

    def wait_log(self, text, timeout=10):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            if any(text in l for l in self.stderr_lines):
                return
            time.sleep(0.01)
        raise AssertionError(f"{text!r} not logged:\n{self.log}")

    def send(self, signo):
        self.proc.send_signal(signo)

    def stop(self, signo=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signo)
        rc = self.proc.wait(timeout * SLOW)
        self._reader.join(5)
        assert rc != VALGRIND_ERROR, f"valgrind found errors:\n{self.log}"
        return rc

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def status(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)


class Daemon(Background):
    """`gpu-device-plugin serve` against a FakeKubelet in <tmp>/device-plugins."""

    def __init__(self, plugin, tmp_path, node=None, args=(), kubelet=True, env=None,
                 dial_back=True):
        self.dir = tmp_path / "device-plugins"
        self.dir.mkdir(exist_ok=True)
        self.kubelet = FakeKubelet(self.dir, dial_back=dial_back)
        if kubelet:
            self.kubelet.start()
        cmd = [str(BINARY), "serve", f"--driver-root-ctr-path={plugin.driver_root}",
               f"--kubelet-socket={self.dir / 'kubelet.sock'}", *args]
        super().__init__(cmd, plugin.env(node, env))

    def client(self, endpoint="nvidia-gpu.sock"):
        return PluginClient(self.dir / endpoint)

    def close(self):
        super().close()
        self.kubelet.stop()
