"""Slow clients (H4): an absolute header deadline, a whole-request deadline and
an idle keep-alive timeout, while everyone else is still served."""

import select
import socket
import time

import pytest

from e2e_util import csp_body, http_session, wait_closed

ENV = {"SHIPLOG_HEADER_TIMEOUT": 2, "SHIPLOG_IDLE_TIMEOUT": 2, "SHIPLOG_REQUEST_TIMEOUT": 3}


@pytest.fixture(scope="module")
def slow_server(module_server_factory):
    return module_server_factory.start(env=ENV)


def _trickle(sock, data, interval, limit, on_tick=None):
    """Sends data one byte per interval until the server closes the socket;
    returns seconds until the close, or None if still open after limit."""
    t0 = time.monotonic()
    for i, b in enumerate(data):
        elapsed = time.monotonic() - t0
        if elapsed > limit:
            return None
        if on_tick:
            on_tick(elapsed)
        try:
            sock.send(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - t0
        r, _, _ = select.select([sock], [], [], interval)
        if r:
            # Readable: EOF/reset, or an early response (e.g. 408) before the close.
            if wait_closed(sock, max(0.1, limit - (time.monotonic() - t0))):
                return time.monotonic() - t0
            return None
    return None


def test_header_trickle_is_cut_off(slow_server):
    sock = socket.create_connection(("127.0.0.1", slow_server.port), timeout=10)
    data = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    others = []

    def tick(elapsed):
        if elapsed > 1.0 and not others:
            others.append(slow_server.get("/health", timeout=3).status_code)

    closed_after = _trickle(sock, data, 0.5, 8, tick)
    sock.close()
    assert closed_after is not None, "a client trickling header bytes was not disconnected within 8 s"
    assert 1.5 <= closed_after <= 4.5, f"disconnected after {closed_after:.2f}s (header timeout 2s)"
    assert others == [200], "another client was not served while one trickled"
    assert slow_server.get("/health").status_code == 200


def test_silent_connection_is_closed(slow_server):
    sock = socket.create_connection(("127.0.0.1", slow_server.port), timeout=10)
    t0 = time.monotonic()
    closed = wait_closed(sock, 8)
    sock.close()
    elapsed = time.monotonic() - t0
    assert closed, "a connection that never sent a byte was still open after 8 s"
    assert 1.5 <= elapsed <= 4.5, f"closed after {elapsed:.2f}s (header timeout 2 s)"


def test_body_trickle_is_cut_off(slow_server):
    body = csp_body(pad_to=2000)
    sock = socket.create_connection(("127.0.0.1", slow_server.port), timeout=10)
    sock.sendall(b"POST /csp-report HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/csp-report\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body))
    closed_after = _trickle(sock, body, 0.5, 10)
    sock.close()
    assert closed_after is not None, "a client trickling its body was not disconnected within 10 s"
    assert closed_after <= 5.5, f"disconnected after {closed_after:.2f}s (request timeout 3s)"
    assert slow_server.get("/health").status_code == 200


def test_idle_keepalive_closed(slow_server):
    sock = socket.create_connection(("127.0.0.1", slow_server.port), timeout=10)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "closed before the response"
        buf += chunk
    head = buf.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"connection: close" not in head.lower(), "keep-alive was refused; cannot test idle timeout"
    # Drain the body.
    length = int([l.split(b":", 1)[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    rest = buf.split(b"\r\n\r\n", 1)[1]
    while len(rest) < length:
        rest += sock.recv(65536)
    t0 = time.monotonic()
    closed = wait_closed(sock, 8)
    elapsed = time.monotonic() - t0
    sock.close()
    assert closed, "idle keep-alive connection still open after 8 s (idle timeout 2 s)"
    assert 1.0 <= elapsed <= 5.0, f"closed after {elapsed:.2f}s idle (idle timeout 2 s)"


def test_keepalive_second_request_trickle_is_cut_off(slow_server):
    """The header deadline also holds for a later request on a kept-alive
    connection, not only for the first one."""
    sock = socket.create_connection(("127.0.0.1", slow_server.port), timeout=10)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    buf = b""
    while b'"version"' not in buf:
        chunk = sock.recv(65536)
        assert chunk, "closed before the first response"
        buf += chunk
    data = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 400
    closed_after = _trickle(sock, data, 0.5, 12)
    sock.close()
    assert closed_after is not None, "a trickled second request was not disconnected within 12 s"
    # idle (2 s) + header (2 s) timeouts from the end of the first response
    assert closed_after <= 6.5, f"disconnected after {closed_after:.2f}s"


def test_keepalive_reuse_before_idle_timeout(slow_server):
    """A connection used again before the idle timeout keeps working."""
    with http_session() as s:
        for _ in range(3):
            assert s.get(slow_server.url("/health"), timeout=5).status_code == 200
            time.sleep(0.8)


@pytest.fixture(scope="module")
def capped_server(module_server_factory):
    return module_server_factory.start(env={"SHIPLOG_MAX_CONNECTIONS_PER_IP": 2,
                                            "SHIPLOG_IDLE_TIMEOUT": 5})


def test_connections_per_ip_are_capped(capped_server):
    """Two idle connections from one address use up its share: a third is closed
    at once without a response, and the address is served again once they go."""
    held = [socket.create_connection(("127.0.0.1", capped_server.port), timeout=5) for _ in range(2)]
    try:
        time.sleep(0.3)  # let the server accept both
        third = socket.create_connection(("127.0.0.1", capped_server.port), timeout=5)
        third.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        third.settimeout(3)
        try:
            data = third.recv(4096)
        except ConnectionResetError:
            data = b""
        third.close()
        assert data == b"", f"a connection over the per-IP cap was served: {data[:80]!r}"
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            if capped_server.get("/health", timeout=2).status_code == 200:
                break
        except Exception:  # noqa: BLE001 - the server may still be releasing the slots
            pass
        assert time.monotonic() < deadline, "the address was not served again after its connections closed"
        time.sleep(0.2)


def test_refused_connections_do_not_flood_the_log(capped_server):
    """Hundreds of connections over the cap in a burst give a handful of log
    lines (one a second, with the count of those left out), not one each."""
    time.sleep(1.1)  # a refusal logged by an earlier test leaves its second behind
    held = [socket.create_connection(("127.0.0.1", capped_server.port), timeout=5) for _ in range(2)]
    try:
        time.sleep(0.3)
        before = len([x for x in capped_server.logs() if x.get("msg") == "http library"])
        for _ in range(300):
            c = socket.create_connection(("127.0.0.1", capped_server.port), timeout=5)
            c.close()
        time.sleep(0.5)
        lines = [x for x in capped_server.logs() if x.get("msg") == "http library"][before:]
        assert 1 <= len(lines) <= 5, len(lines)
    finally:
        for s in held:
            s.close()
