# SPDX-License-Identifier: Apache-2.0
"""Conformance of src/rpc/ (our gRPC over HTTP/2) against Debian's python3-grpcio.

The peer is tests/rpc-echo: /echo.Echo/Unary echoes, /Fail answers INVALID_ARGUMENT with the
request as message, /Stream sends N messages 10 ms apart ("N!" then ends OK), /Big answers a
message of the requested size, /Stats reports live streams and connections.
"""
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
import pytest

from rpc_helpers import ECHO, SLOW, EchoServer, python_server, run_call, stats, wait_for


@pytest.fixture
def echo(tmp_path):
    assert ECHO.exists(), f"build first: {ECHO} is missing"
    server = EchoServer(tmp_path / "echo.sock")
    yield server
    server.stop()


def unary(channel, method="/echo.Echo/Unary"):
    return channel.unary_unary(method)


def test_unary_ok(echo):
    with echo.channel() as ch:
        assert unary(ch)(b"hello", timeout=5) == b"hello"
        assert unary(ch)(b"", timeout=5) == b""  # an empty message is still one frame


def test_unary_one_mib(echo):
    with echo.channel() as ch:
        payload = bytes(range(256)) * 4096
        assert unary(ch)(payload, timeout=10 * SLOW) == payload
        assert len(unary(ch, "/echo.Echo/Big")(b"1048576", timeout=10 * SLOW)) == 1 << 20


def test_error_status_with_percent_encoded_message(echo):
    text = "100% sure: ünïcode ✓\nline two\t%41"
    with echo.channel() as ch, pytest.raises(grpc.RpcError) as err:
        unary(ch, "/echo.Echo/Fail")(text.encode(), timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == text


def test_unknown_method_is_unimplemented(echo):
    with echo.channel() as ch:
        with pytest.raises(grpc.RpcError) as err:
            unary(ch, "/echo.Echo/Nope")(b"x", timeout=5)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "/echo.Echo/Nope" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            ch.unary_stream("/nope.Svc/Stream")(b"1", timeout=5).next()
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert unary(ch)(b"still serving", timeout=5) == b"still serving"


def test_stream_messages_then_ok(echo):
    with echo.channel() as ch:
        msgs = list(ch.unary_stream("/echo.Echo/Stream")(b"5!", timeout=5))
        assert msgs == [b"msg-%d" % i for i in range(5)]
        assert wait_for(lambda: stats(ch)["finished"] == 1 and stats(ch)["streams"] == 0)


def test_stream_then_cancel_frees_the_call(echo):
    with echo.channel() as ch:
        it = ch.unary_stream("/echo.Echo/Stream")(b"3")
        got = [next(it) for _ in range(3)]
        assert got == [b"msg-0", b"msg-1", b"msg-2"]
        assert stats(ch)["streams"] == 1  # waiting for more, like ListAndWatch
        it.cancel()
        assert wait_for(lambda: stats(ch)["streams"] == 0)
        assert stats(ch)["cancelled"] == 1


def test_stream_deadline_from_client(echo):
    with echo.channel() as ch:
        it = ch.unary_stream("/echo.Echo/Stream")(b"2", timeout=0.3 * SLOW)
        with pytest.raises(grpc.RpcError) as err:
            list(it)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert wait_for(lambda: stats(ch)["streams"] == 0)


def test_oversized_request_then_server_keeps_serving(echo):
    with echo.channel() as ch:
        with pytest.raises(grpc.RpcError) as err:
            unary(ch)(b"x" * ((4 << 20) + 1), timeout=10 * SLOW)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert unary(ch)(b"after", timeout=5) == b"after"
        exact = b"y" * ((4 << 20) - 16)
        assert unary(ch)(exact, timeout=10 * SLOW) == exact


def test_oversized_response_is_refused(echo):
    with echo.channel() as ch:
        with pytest.raises(grpc.RpcError) as err:
            unary(ch, "/echo.Echo/Big")(b"%d" % ((4 << 20) + 1), timeout=10 * SLOW)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_garbage_bytes_then_good_call(echo):
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00" * 100, bytes(range(256)) * 40,
                 b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 64):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(echo.sock)
            s.settimeout(5 * SLOW)
            try:
                s.sendall(junk)
                while s.recv(4096):
                    pass  # the server answers SETTINGS/GOAWAY, then closes
            except (ConnectionResetError, BrokenPipeError):
                pass
    with echo.channel() as ch:
        assert unary(ch)(b"fine", timeout=5) == b"fine"
        assert wait_for(lambda: stats(ch)["conns"] == 1)


def test_connection_dropped_mid_call(echo):
    code = (
        "import grpc, sys\n"
        f"ch = grpc.insecure_channel('unix:{echo.sock}')\n"
        "it = ch.unary_stream('/echo.Echo/Stream')(b'1000')\n"
        "print(next(it).decode(), flush=True)\n"
        "sys.stdin.read()\n")
    child = subprocess.Popen(["/usr/bin/python3", "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "msg-0"
        with echo.channel() as ch:
            assert stats(ch)["streams"] == 1
            child.kill()  # no RST_STREAM, no GOAWAY: the socket just goes away
            child.wait()
            assert wait_for(lambda: stats(ch)["streams"] == 0 and stats(ch)["conns"] == 1)
            assert stats(ch)["cancelled"] == 1
    finally:
        child.kill()
        child.wait()


def test_many_concurrent_calls(echo):
    with echo.channel() as ch:
        call = unary(ch)
        futs = [call.future(b"req-%d" % i, timeout=20 * SLOW) for i in range(300)]
        assert [f.result() for f in futs] == [b"req-%d" % i for i in range(300)]
    results = []

    def worker(n):
        with echo.channel() as c:
            results.append(all(unary(c)(b"%d" % i, timeout=20 * SLOW) == b"%d" % i
                               for i in range(n)))

    threads = [threading.Thread(target=worker, args=(50,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 8


def test_client_call_to_python_server(tmp_path):
    sock = tmp_path / "kubelet.sock"

    def register(req, ctx):
        return b"ack:" + req

    def slow(req, ctx):
        time.sleep(2)
        return b"late"

    def fail(req, ctx):
        ctx.abort(grpc.StatusCode.FAILED_PRECONDITION, "plugin already registered: 50% ✗")

    server = python_server(sock, {"/v1beta1.Registration/Register": register,
                                  "/test.Slow/Call": slow, "/test.Fail/Call": fail})
    try:
        assert run_call(sock, "/v1beta1.Registration/Register", 2000 * SLOW, "hi") == (0, "", "ack:hi")
        status, message, _ = run_call(sock, "/test.Slow/Call", 300)
        assert status == grpc.StatusCode.DEADLINE_EXCEEDED.value[0], message
        status, message, _ = run_call(sock, "/test.Fail/Call", 2000 * SLOW)
        assert (status, message) == (9, "plugin already registered: 50% ✗")
        status, _, _ = run_call(sock, "/test.Nope/Call", 2000 * SLOW)
        assert status == 12
    finally:
        server.stop(None)
    status, message, _ = run_call(sock, "/v1beta1.Registration/Register", 1000)
    assert status == -1 and "connect" in message  # no server: reported at once


def test_register_with_dial_back(tmp_path):
    """The kubelet's pattern: inside Register it calls the plugin before answering."""
    kubelet = tmp_path / "kubelet.sock"
    plugin = tmp_path / "plugin.sock"
    seen = []

    def register(req, ctx):
        with grpc.insecure_channel("unix:" + str(plugin)) as ch:
            grpc.channel_ready_future(ch).result(timeout=10)
            seen.append(ch.unary_unary("/echo.Echo/Unary")(b"options?", timeout=5))
        return b""

    server = python_server(kubelet, {"/v1beta1.Registration/Register": register})
    try:
        echo = EchoServer(plugin, "--register", str(kubelet))
        assert echo.readline(10) == "register status=0 len=0 message="
        assert seen == [b"options?"]
        echo.stop()
    finally:
        server.stop(None)


def test_graceful_shutdown_ends_streams_then_goaway(echo):
    ch = echo.channel()
    it = ch.unary_stream("/echo.Echo/Stream")(b"1")
    assert next(it) == b"msg-0"
    echo.proc.send_signal(signal.SIGTERM)
    with pytest.raises(grpc.RpcError) as err:
        next(it)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert err.value.details() == "server shutting down"
    ch.close()
    assert echo.proc.wait(10 * SLOW) == 0
    with pytest.raises(grpc.RpcError) as err:
        with echo.channel() as ch2:
            unary(ch2)(b"x", timeout=1)
    assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_unary_latency(echo, capsys):
    """Not a pass/fail benchmark: prints p50/p99 of sequential calls from python."""
    with echo.channel() as ch:
        call = unary(ch)
        for _ in range(200):
            call(b"ping", timeout=5)
        samples = []
        for _ in range(2000):
            t0 = time.perf_counter()
            call(b"ping", timeout=5)
            samples.append(time.perf_counter() - t0)
    samples.sort()
    with capsys.disabled():
        print(f"\nunary latency python->rpc-echo: p50={samples[1000] * 1e6:.0f}us "
              f"p99={samples[1980] * 1e6:.0f}us", file=sys.stderr)
