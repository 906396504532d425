# SPDX-License-Identifier: Apache-2.0
"""Bounds of src/rpc/'s server against hostile peers (docs/reliability.md): connection
eviction, handshake and idle deadlines, request buffer caps, descriptor exhaustion and the
socket's mode. The peer is tests/rpc-echo, its limits set through RPC_ECHO_* variables."""
import os
import resource
import socket
import stat
import struct
import threading
import time

import grpc
import pytest

from rpc_helpers import ECHO, SLOW, EchoServer, stats, wait_for

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = struct.pack(">I", 0)[1:] + bytes([4, 0]) + struct.pack(">I", 0)  # empty SETTINGS
GOAWAY = 7


@pytest.fixture
def echo(tmp_path):
    assert ECHO.exists(), f"build first: {ECHO} is missing"
    servers = []

    def start(env=None, **kw):
        s = EchoServer(tmp_path / "echo.sock", env=env, **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def raw(sock_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    return s


def read_until_eof(s, timeout):
    """All bytes until the server closes (or timeout seconds): (bytes, seconds taken)."""
    s.settimeout(timeout)
    start, data = time.monotonic(), b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    return data, time.monotonic() - start


def frame_types(data):
    types = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        types.append(data[3])
        data = data[9 + length:]
    return types


def h2_frame(ftype, flags, stream, payload):
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def hpack_literal(name, value):
    """A header as "literal without indexing, new name", no Huffman coding."""
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


REQUEST_HEADERS = b"".join(hpack_literal(n, v) for n, v in (
    (b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/echo.Echo/Unary"),
    (b":authority", b"x"), (b"content-type", b"application/grpc")))


class FlowControl:
    """The client side of HTTP/2's connection flow control: DATA is sent only within the
    window the server granted (streams get 64 KiB each and use less)."""

    def __init__(self, sock):
        self.sock, self.window, self.buf = sock, 65535, b""

    def read_frames(self):
        self.sock.settimeout(5 * SLOW)
        self.buf += self.sock.recv(65536)
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                break
            ftype, stream = self.buf[3], struct.unpack(">I", self.buf[5:9])[0] & 0x7fffffff
            if ftype == 8 and stream == 0:
                self.window += struct.unpack(">I", self.buf[9:13])[0] & 0x7fffffff
            self.buf = self.buf[9 + length:]

    def send_data(self, sid, data):
        for off in range(0, len(data), 16384):
            chunk = data[off:off + 16384]
            while self.window < len(chunk):
                self.read_frames()
            self.window -= len(chunk)
            self.sock.sendall(h2_frame(0, 0, sid, chunk))


def partial_requests(sock_path, streams, declared, sent):
    """A raw HTTP/2 connection opening `streams` calls, each declaring a message of
    `declared` bytes and sending only `sent` of them. Returns the open socket."""
    s = raw(sock_path)
    s.sendall(PREFACE + SETTINGS)
    fc = FlowControl(s)
    body = b"\x00" + struct.pack(">I", declared) + b"x" * sent
    for i in range(streams):
        sid = 2 * i + 1
        s.sendall(h2_frame(1, 4, sid, REQUEST_HEADERS))  # HEADERS, END_HEADERS
        fc.send_data(sid, body)
    return s


def own_channel(srv):
    """A channel with a connection of its own (grpcio shares them between channels)."""
    return grpc.insecure_channel("unix:" + srv.sock,
                                 options=[("grpc.use_local_subchannel_pool", 1)])


def unary(channel, payload, timeout=5):
    return channel.unary_unary("/echo.Echo/Unary")(payload, timeout=timeout * SLOW)


def test_idle_connections_cannot_lock_out_a_new_client(echo):
    """16 connections that never speak fill the cap; a real client still gets in, because the
    connection idle for longest is evicted instead of the newcomer being refused."""
    srv = echo()
    hogs = [raw(srv.sock) for _ in range(16)]
    with srv.channel() as ch:
        assert unary(ch, b"hello") == b"hello"
        assert stats(ch)["conns"] <= 16
    data, _ = read_until_eof(hogs[0], 5 * SLOW)  # the oldest was closed
    assert data == b"" or frame_types(data)[0] == 4
    for h in hogs:
        h.close()


def test_connections_with_calls_are_not_evicted(echo):
    """At the cap with every connection in a call, the newcomer is the one refused."""
    srv = echo(env={"RPC_ECHO_MAX_CONNS": "2", "RPC_ECHO_LOG": "info"})
    chans = [own_channel(srv) for _ in range(2)]
    streams = [ch.unary_stream("/echo.Echo/Stream")(b"200", timeout=30 * SLOW) for ch in chans]
    for st in streams:
        next(st)
    with own_channel(srv) as third, pytest.raises(grpc.RpcError):
        unary(third, b"x", timeout=2)
    refused = [raw(srv.sock) for _ in range(50)]
    for r in refused:
        read_until_eof(r, 5 * SLOW)  # closed by the server
        r.close()
    for st in streams:
        st.cancel()
    for ch in chans:
        ch.close()
    warnings = [l for l in srv.stop().splitlines() if "refusing connection" in l]
    assert 1 <= len(warnings) <= 5, warnings  # rate-limited: 5 lines per 10 s


def test_handshake_deadline(echo):
    """A connection that never sends the HTTP/2 preface is closed after the handshake
    deadline (bound: deadline + sweep + scheduling slack)."""
    srv = echo(env={"RPC_ECHO_HANDSHAKE_MS": "300"})
    s = raw(srv.sock)
    _, took = read_until_eof(s, 10 * SLOW)
    assert 0.25 <= took <= 3 * SLOW, took
    s.close()


def test_idle_deadline_sends_goaway(echo):
    """A connection that finished its handshake but carries no call is closed with GOAWAY
    after the idle deadline."""
    srv = echo(env={"RPC_ECHO_IDLE_MS": "400"})
    s = raw(srv.sock)
    s.sendall(PREFACE + SETTINGS)
    data, took = read_until_eof(s, 10 * SLOW)
    assert GOAWAY in frame_types(data), frame_types(data)
    assert 0.35 <= took <= 4 * SLOW, took
    s.close()


def test_request_bytes_capped_per_connection(echo):
    srv = echo(env={"RPC_ECHO_CONN_BUFFERED": str(1 << 20)})
    with srv.channel() as ch:
        with pytest.raises(grpc.RpcError) as err:
            unary(ch, b"a" * (2 << 20), timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "request buffer limit" in err.value.details()
        assert unary(ch, b"b" * (512 << 10), timeout=10) == b"b" * (512 << 10)
        assert stats(ch)["buffered"] == 5  # only the Stats request itself: the rest given back


def test_request_bytes_capped_per_server(echo):
    """The server-wide cap applies even where the connection's own cap would allow more;
    concurrent requests share it (a call that would pass it fails, the others go on)."""
    srv = echo(env={"RPC_ECHO_BUFFERED": str(1 << 20)})
    with own_channel(srv) as ch:
        with pytest.raises(grpc.RpcError) as err:
            unary(ch, b"a" * (2 << 20), timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "1048576 per server" in err.value.details()
    results = []

    def call():
        with own_channel(srv) as ch:
            try:
                results.append(len(unary(ch, b"c" * (700 << 10), timeout=10)))
            except grpc.RpcError as e:
                results.append(e.code())

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r in (700 << 10, grpc.StatusCode.RESOURCE_EXHAUSTED) for r in results), results
    with srv.channel() as ch:
        assert stats(ch)["buffered"] == 5  # the Stats request itself


def test_partial_requests_stay_within_the_caps(echo):
    """4 connections x 100 calls each declaring 4 MiB and sending 48 KiB (within HTTP/2's
    default stream window): memory follows the bytes sent, never the declared lengths (this
    used to allocate 1.6 GB), the server-wide cap holds, and everything is given back when the
    connections go."""
    srv = echo()
    conns = [partial_requests(srv.sock, 100, 4 << 20, 48 << 10) for _ in range(4)]
    with srv.channel() as ch:
        assert wait_for(lambda: stats(ch)["buffered"] >= 8 << 20)
        held = stats(ch)["buffered"]
        assert held <= (16 << 20) + 5, held
    for c in conns:
        c.close()
    with srv.channel() as ch:
        assert wait_for(lambda: stats(ch)["buffered"] == 5)


def test_descriptor_exhaustion_does_not_spin(echo):
    """With RLIMIT_NOFILE just above what rpc-echo holds, extra connections hit EMFILE: the
    server takes and closes them, pauses accepting, logs a bounded number of warnings and
    stays responsive once descriptors are free again."""
    srv = echo(env={"RPC_ECHO_LOG": "info"})
    pid = srv.proc.pid
    used = len(os.listdir(f"/proc/{pid}/fd"))
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (used + 2, hard))
    socks = []
    for _ in range(20):
        try:
            socks.append(raw(srv.sock))
        except OSError:
            break
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu():
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    before = cpu()
    time.sleep(2)
    spent = cpu() - before
    assert spent < 1.0, f"{spent:.2f} s of CPU in 2 s: accept is spinning"
    for s in socks:
        s.close()
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    with srv.channel() as ch:
        assert wait_for(lambda: unary(ch, b"back") == b"back")
    err = srv.stop()
    warnings = [l for l in err.splitlines() if "accept on" in l]
    assert 1 <= len(warnings) <= 10, err[-2000:]


def test_socket_mode_ignores_umask(echo):
    srv = echo(preexec_fn=lambda: os.umask(0))
    assert stat.S_IMODE(os.stat(srv.sock).st_mode) == 0o600
