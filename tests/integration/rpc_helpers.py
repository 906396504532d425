# SPDX-License-Identifier: Apache-2.0
"""Helpers for test_rpc.py: run the rpc-echo peer and tiny python gRPC servers.

Only Debian's python3-grpcio is used, with generic (bytes in, bytes out) calls, so no
generated stubs are needed. GDP_BUILD_DIR names the build directory (default "build");
with GDP_VALGRIND=1 every rpc-echo runs under valgrind and must exit cleanly.
"""
import os
import signal
import subprocess
import time
from concurrent import futures
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("GDP_BUILD_DIR", ROOT / "build")).resolve()
ECHO = BUILD / "tests" / "rpc-echo" / "rpc-echo"
VALGRIND = os.environ.get("GDP_VALGRIND") == "1"
VALGRIND_ERROR = 99
SLOW = 10 if VALGRIND else 1


def echo_cmd(*args):
    cmd = [str(ECHO), *args]
    if VALGRIND:
        cmd = ["valgrind", "--quiet", f"--error-exitcode={VALGRIND_ERROR}",
               "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
               "--errors-for-leak-kinds=definite,indirect,possible", "--track-fds=yes",
               f"--suppressions={ROOT / 'tests' / 'valgrind.supp'}", *cmd]
    return cmd


class EchoServer:
    """rpc-echo serve SOCKET, started and waited for; stop() checks a clean exit."""

    def __init__(self, sock, *extra, env=None, preexec_fn=None):
        self.sock = str(sock)
        self.proc = subprocess.Popen(echo_cmd("serve", self.sock, *extra),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=None if env is None else {**os.environ, **env},
                                     preexec_fn=preexec_fn)
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", f"rpc-echo did not start: {line!r} {self.stderr()}"

    def stderr(self):
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read()

    def readline(self, timeout=5):
        """Next stdout line (the --register result), or fail after timeout seconds."""
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        assert sel.select(timeout * SLOW), "rpc-echo printed nothing"
        return self.proc.stdout.readline().strip()

    def channel(self):
        return grpc.insecure_channel("unix:" + self.sock)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        err = self.proc.stderr.read()
        assert rc != VALGRIND_ERROR, f"valgrind found errors:\n{err}"
        assert rc == 0, f"rpc-echo exited {rc}: {err}"
        return err


def stats(channel):
    """The echo server's counters as a dict of ints."""
    raw = channel.unary_unary("/echo.Echo/Stats")(b"", timeout=5 * SLOW).decode()
    return {k: int(v) for k, v in (kv.split("=") for kv in raw.split())}


def wait_for(pred, timeout=5):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def run_call(sock, method, timeout_ms, payload=None):
    """rpc-echo call ...: returns (status, message, body)."""
    args = ["call", str(sock), method, str(timeout_ms)] + ([payload] if payload is not None else [])
    p = subprocess.run(echo_cmd(*args), capture_output=True, text=True, timeout=30 * SLOW)
    assert p.returncode != VALGRIND_ERROR, f"valgrind found errors:\n{p.stderr}"
    lines = p.stdout.splitlines()
    assert lines, f"rpc-echo call printed nothing: rc={p.returncode} {p.stderr}"
    head = dict(kv.split("=", 1) for kv in lines[0].split(" ", 2))
    body = lines[1][len("body="):] if len(lines) > 1 else ""
    return int(head["status"]), head["message"], body


def python_server(sock, handlers):
    """A python gRPC server on unix:sock; handlers maps "/svc/Method" to fn(bytes, ctx)."""
    by_service = {}
    for path, fn in handlers.items():
        service, method = path.lstrip("/").split("/")
        by_service.setdefault(service, {})[method] = grpc.unary_unary_rpc_method_handler(fn)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(s, m) for s, m in by_service.items()])
    server.add_insecure_port("unix:" + str(sock))
    server.start()
    return server
