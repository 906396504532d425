# SPDX-License-Identifier: Apache-2.0
"""Reads the plugin's HTTP endpoint (--metrics-address) the way Prometheus and the kubelet's
probes do, and checks the exposition with promtool and prometheus_client's own parser."""
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def promtool():
    """promtool from PATH, else where scripts/install-deps.sh extracts it."""
    found = shutil.which("promtool")
    if found:
        return found
    local = ROOT / ".tools" / "bin" / "promtool"
    assert local.exists(), "promtool missing: run scripts/install-deps.sh"
    return str(local)


def connect(s, target, timeout):
    """connect() that waits while a unix socket's listen backlog is full (EAGAIN in timeout
    mode), as a blocking connect would."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return s.connect(target)
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def raw(address, data, timeout=5):
    """Sends data to the endpoint, returns everything it answers until it closes."""
    if address.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = address[5:]
    else:
        host, port = address.rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        target = (host or "127.0.0.1", int(port))
    s.settimeout(timeout)
    with s:
        connect(s, target, timeout)
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def get(address, path, method="GET"):
    """(status, body) of one request."""
    answer = raw(address, f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                 .encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body.decode()


def status_of(answer):
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else None


def check(text):
    """Runs promtool check metrics on text; returns its output (asserts success)."""
    p = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout + p.stderr


def samples(text):
    """{(sample name, frozenset of labels): value} through prometheus_client's parser."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(parsed, name, **labels):
    """A sample's value, or None when absent."""
    return parsed.get((name, frozenset(labels.items())))


def scrape(address):
    status, body = get(address, "/metrics")
    assert status == 200, body
    return samples(body)


def socket_inodes(pid):
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(link[8:-1])
    return out


def listeners(pid):
    """The listening sockets of a process: ('tcp', 'addr:port') and ('unix', path)."""
    inodes = socket_inodes(pid)
    found = []
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            for line in list(f)[1:]:
                parts = line.split()
                if parts[3] == "0A" and parts[9] in inodes:
                    found.append(("tcp", parts[1]))
    with open(f"/proc/{pid}/net/unix") as f:
        for line in list(f)[1:]:
            parts = line.split()
            if parts[6] in inodes and int(parts[3], 16) & 0x10000 and len(parts) > 7:
                found.append(("unix", parts[7]))
    return found
