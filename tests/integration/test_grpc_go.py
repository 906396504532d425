# SPDX-License-Identifier: Apache-2.0
"""Conformance against grpc-go, the kubelet's own gRPC library: the daemon registers with a fake
kubelet written in Go (tests/conformance/kubelet-go), which dials it back inside Register, keeps
ListAndWatch open and runs the kubelet's calls, a kubelet restart and a plugin stop.

Needs Debian's golang-go, golang-google-grpc-dev and golang-google-protobuf-dev (GOPATH mode,
no network); skipped when they are missing. The Go binary is built once per session into the
build directory.
"""
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import BINARY, BUILD, ROOT, VALGRIND, VALGRIND_ERROR, gpu_numa, gpus_of, load_node

GOPATH_SYSTEM = Path("/usr/share/gocode")
GO_DEPS = ["google.golang.org/grpc", "google.golang.org/protobuf/encoding/protowire"]
SOURCE = ROOT / "tests" / "conformance" / "kubelet-go"
OUT = BUILD / "tests" / "conformance" / "kubelet-go"
A100 = load_node("dgx-a100.yaml")
A100_IDS = [g["uuid"] for g in gpus_of(A100)]
SCALE = 10 if VALGRIND else 1


def go_env():
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(OUT),
        "GO111MODULE": "off",
        "GOPATH": f"{GOPATH_SYSTEM}:{OUT / 'gopath'}",
        "GOCACHE": str(OUT / "gocache"),
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
    }


@pytest.fixture(scope="session")
def kubelet_go():
    go = shutil.which("go")
    if go is None:
        pytest.skip("grpc-go conformance: `go` not installed (apt-get install golang-go)")
    missing = [d for d in GO_DEPS if not (GOPATH_SYSTEM / "src" / d).is_dir()]
    if missing:
        pytest.skip(f"grpc-go conformance: Go sources of {', '.join(missing)} not installed "
                    "(apt-get install golang-google-grpc-dev golang-google-protobuf-dev)")
    exe = OUT / "kubelet-go"
    sources = list(SOURCE.glob("*.go"))
    if not exe.exists() or exe.stat().st_mtime < max(s.stat().st_mtime for s in sources):
        OUT.mkdir(parents=True, exist_ok=True)
        p = subprocess.run([go, "build", "-o", str(exe), "./tests/conformance/kubelet-go"],
                           cwd=ROOT, env=go_env(), capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, f"go build failed:\n{p.stdout}{p.stderr}"
    return exe


class Lines:
    """Collects a pipe's lines in a thread; wait() blocks until a line containing text."""

    def __init__(self, pipe):
        self.lines = []
        self._q = queue.Queue()
        self._t = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._t.start()

    def _read(self, pipe):
        for line in pipe:
            line = line.rstrip("\n")
            self.lines.append(line)
            self._q.put(line)
        self._q.put(None)

    def wait(self, text, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if line is None:
                return False
            if text in line:
                return True

    def join(self, timeout=5):
        self._t.join(timeout)

    def __str__(self):
        return "\n".join(self.lines)


def run_conformance(exe, plugin, tmp_path, *args, stop_plugin=True, timeout=25):
    """Runs kubelet-go on a fresh directory and the daemon against it; returns (rc, output,
    daemon rc, daemon log)."""
    d = tmp_path / "device-plugins"
    d.mkdir()
    kargs = [str(exe), f"-dir={d}", f"-scale={SCALE}", f"-timeout={timeout * SCALE}s", *args]
    if stop_plugin:
        kargs.append("-wait-stop")
    kubelet = subprocess.Popen(kargs, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = Lines(kubelet.stdout)
    daemon = None
    try:
        assert out.wait("info serving", 10), f"kubelet-go did not start:\n{out}"
        cmd = [str(BINARY), "serve", f"--driver-root-ctr-path={plugin.driver_root}",
               f"--kubelet-socket={d / 'kubelet.sock'}"]
        if VALGRIND:
            cmd = ["valgrind", "--quiet", f"--error-exitcode={VALGRIND_ERROR}",
                   "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                   f"--suppressions={ROOT / 'tests' / 'valgrind.supp'}", *cmd]
        daemon = subprocess.Popen(cmd, env=plugin.env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        log = Lines(daemon.stderr)
        deadline = time.monotonic() + timeout * SCALE + 5
        stopped = False
        while kubelet.poll() is None and time.monotonic() < deadline:
            if daemon.poll() is not None and not stopped:
                break  # the daemon died on its own: no point in waiting out kubelet-go
            if stop_plugin and not stopped and out.wait("info waiting for the plugin to stop", 0.05):
                daemon.send_signal(signal.SIGTERM)
                stopped = True
            time.sleep(0.01)
        if kubelet.poll() is None:
            kubelet.kill()
        rc = kubelet.wait(10)
        out.join()
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
        daemon_rc = daemon.wait(10 * SCALE)
        log.join()
        return rc, out.lines, daemon_rc, str(log)
    finally:
        for p in (kubelet, daemon):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)


def check_output(rc, lines, daemon_log):
    failed = [l for l in lines if l.startswith("FAIL")]
    text = "\n".join(lines)
    assert rc == 0 and not failed and lines[-1] == "PASSED", \
        f"kubelet-go rc={rc}; failed checks:\n" + "\n".join(failed) + \
        f"\n--- kubelet-go output:\n{text}\n--- daemon log:\n{daemon_log}"


def info(lines, key):
    prefix = f"info {key} "
    return next(l[len(prefix):] for l in lines if l.startswith(prefix))


def test_grpc_go_kubelet(kubelet_go, plugin, tmp_path):
    rc, lines, daemon_rc, log = run_conformance(kubelet_go, plugin, tmp_path, "-restarts=2")
    check_output(rc, lines, log)
    assert daemon_rc == 0, log
    assert info(lines, "devices").split(",") == A100_IDS
    assert info(lines, "numa").split(" ") == [f"[{gpu_numa(g)}]" for g in gpus_of(A100)]
    assert info(lines, "registrations received:") == "3"
    oks = [l for l in lines if l.startswith("ok ")]
    for check in ("GetDevicePluginOptions before answering Register",
                  "100 sequential Allocates", "16 concurrent Allocates",
                  "Allocate unknown device", "PreStartContainer", "GetPreferredAllocation size 3",
                  "kubelet restart 2: plugin registered again",
                  "plugin stop: ListAndWatch ended with the plugin's UNAVAILABLE status"):
        assert any(check in l for l in oks), f"{check!r} not checked:\n" + "\n".join(lines)


def test_grpc_go_client_keepalive_pings_answered(kubelet_go, plugin, tmp_path):
    """grpc-go keepalive pings (10 s, the client's minimum) on the plugin connection, with
    ListAndWatch open and idle: the plugin must ACK them and keep the connection. The kubelet
    itself sets no keepalive; this guards the PING path beyond grpc-go's BDP pings."""
    rc, lines, _, log = run_conformance(kubelet_go, plugin, tmp_path, "-restarts=0",
                                        "-keepalive=10s", "-hold=11s", stop_plugin=False)
    check_output(rc, lines, log)
    assert any(l.startswith("ok Allocate after 11s idle") for l in lines), "\n".join(lines)
