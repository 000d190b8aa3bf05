"""Request limits (H4): body size, header size, JSON depth, duplicate keys."""

import time

import pytest

from e2e_util import assert_error, assert_security_headers, csp_body, raw_request

DEFAULT_BODY_LIMIT = 20 * 1024 * 1024
DEFAULT_HEADER_LIMIT = 16384
SMALL_BODY_LIMIT = 4096
SMALL_HEADER_LIMIT = 2048

CSP = ("Content-Type", "application/csp-report")


@pytest.fixture(scope="module")
def small_server(module_server_factory):
    return module_server_factory.start(env={"SHIPLOG_MAX_BODY_BYTES": SMALL_BODY_LIMIT,
                                            "SHIPLOG_MAX_HEADER_BYTES": SMALL_HEADER_LIMIT})


# ---- body size, default limit (20 MiB) ------------------------------------

def test_default_limit_exact_body_unknown_path(shared_server):
    r = raw_request(shared_server.port, "POST", "/no/such/path", [("Content-Type", "application/octet-stream")],
                    b"x" * DEFAULT_BODY_LIMIT)
    assert_error(r, 404, "not_found")


CSP_ROUTE_LIMIT = 64 * 1024  # /csp-report accepts less than the server-wide limit


def test_route_limit_exact_csp_report(shared_server):
    r = raw_request(shared_server.port, "POST", "/csp-report", [CSP], csp_body(pad_to=CSP_ROUTE_LIMIT))
    assert r.status_code == 204, r


def test_route_limit_one_over_csp_report(shared_server):
    r = raw_request(shared_server.port, "POST", "/csp-report", [CSP], csp_body(pad_to=CSP_ROUTE_LIMIT + 1))
    assert_error(r, 413, "payload_too_large")
    assert_security_headers(r)


def test_default_limit_one_over(shared_server):
    r = raw_request(shared_server.port, "POST", "/csp-report", [CSP], csp_body(pad_to=DEFAULT_BODY_LIMIT + 1))
    assert_error(r, 413, "payload_too_large")
    assert_security_headers(r)


def test_default_limit_one_over_unknown_path(shared_server):
    r = raw_request(shared_server.port, "POST", "/no/such/path", [("Content-Type", "application/octet-stream")],
                    b"x" * (DEFAULT_BODY_LIMIT + 1))
    assert_error(r, 413, "payload_too_large")


def test_default_limit_one_over_chunked(shared_server):
    """Without Content-Length the limit still holds (counted while reading)."""
    r = raw_request(shared_server.port, "POST", "/csp-report", [CSP], csp_body(pad_to=DEFAULT_BODY_LIMIT + 1),
                    chunked=True)
    assert_error(r, 413, "payload_too_large")
    assert_security_headers(r)


def test_oversized_content_length_refused_before_body(shared_server):
    """A declared Content-Length over the limit is refused at once, without
    waiting for (or reading) the body."""
    t0 = time.monotonic()
    r = raw_request(shared_server.port, "POST", "/csp-report",
                    [CSP, ("Content-Length", str(DEFAULT_BODY_LIMIT + 1))], b"", timeout=5)
    assert time.monotonic() - t0 < 4
    assert_error(r, 413, "payload_too_large")


def test_absurd_content_length(shared_server):
    r = raw_request(shared_server.port, "POST", "/csp-report",
                    [CSP, ("Content-Length", "1000000000000000")], b"", timeout=5)
    assert_error(r, 413, "payload_too_large")


# ---- body size, configured limit -------------------------------------------

def test_small_limit_exact_and_over(small_server):
    ok = raw_request(small_server.port, "POST", "/csp-report", [CSP], csp_body(pad_to=SMALL_BODY_LIMIT))
    assert ok.status_code == 204, ok
    nf = raw_request(small_server.port, "POST", "/nowhere", [CSP], b"y" * SMALL_BODY_LIMIT)
    assert_error(nf, 404, "not_found")
    over = raw_request(small_server.port, "POST", "/csp-report", [CSP], csp_body(pad_to=SMALL_BODY_LIMIT + 1))
    assert_error(over, 413, "payload_too_large")
    assert_security_headers(over)
    over_chunked = raw_request(small_server.port, "POST", "/csp-report", [CSP],
                               csp_body(pad_to=SMALL_BODY_LIMIT + 1), chunked=True, chunk_size=100)
    assert_error(over_chunked, 413, "payload_too_large")


def test_server_alive_after_413(small_server):
    raw_request(small_server.port, "POST", "/csp-report", [CSP], b" " * (SMALL_BODY_LIMIT * 10))
    assert small_server.get("/health").status_code == 200


# ---- header size -------------------------------------------------------------

def test_default_header_limit(shared_server):
    ok = raw_request(shared_server.port, "GET", "/health", [("X-Filler", "a" * 8000)])
    assert ok.status_code == 200, ok
    big = raw_request(shared_server.port, "GET", "/health", [("X-Filler", "a" * (DEFAULT_HEADER_LIMIT + 100))])
    assert_error(big, 431, "headers_too_large")
    assert_security_headers(big)


def test_default_header_limit_many_headers(shared_server):
    headers = [(f"X-H{i}", "b" * 90) for i in range(170)]  # just over 16 KB in many small lines
    r = raw_request(shared_server.port, "GET", "/health", headers)
    assert_error(r, 431, "headers_too_large")
    assert_security_headers(r)


def test_small_header_limit(small_server):
    ok = raw_request(small_server.port, "GET", "/health", [("X-Filler", "a" * 1000)])
    assert ok.status_code == 200, ok
    big = raw_request(small_server.port, "GET", "/health", [("X-Filler", "a" * 3000)])
    assert_error(big, 431, "headers_too_large")
    assert_security_headers(big)


def test_long_request_target(small_server):
    """An over-long request line counts against the header budget too."""
    r = raw_request(small_server.port, "GET", "/health?" + "q" * 5000)
    assert r.status_code in (414, 431), r
    assert_error(r, r.status_code)
    assert_security_headers(r)


# ---- JSON depth and duplicate keys --------------------------------------------

def _post_json(srv, body):
    return raw_request(srv.port, "POST", "/csp-report", [("Content-Type", "application/json")], body)


@pytest.mark.parametrize("depth", [33, 1000, 30000])
def test_json_depth_over_32(shared_server, depth):
    # 30000 levels = 60000 bytes, still inside /csp-report's 64 KiB body limit
    r = _post_json(shared_server, b"[" * depth + b"]" * depth)
    assert_error(r, 400, "invalid_json")
    assert_security_headers(r)
    assert shared_server.get("/health").status_code == 200


def test_json_depth_objects(shared_server):
    inner = b'{"a":' * 33 + b"1" + b"}" * 33
    r = _post_json(shared_server, inner)
    assert_error(r, 400, "invalid_json")


@pytest.mark.parametrize("body", [
    b'{"csp-report": {"document-uri": "https://a.example/", "violated-directive": "x"},'
    b' "csp-report": {"document-uri": "https://b.example/", "violated-directive": "y"}}',
    b'{"csp-report": {"document-uri": "https://a.example/", "document-uri": "https://b.example/",'
    b' "violated-directive": "x"}}',
    # the same key once escaped: still a duplicate after decoding
    b'{"csp-report": {"document-uri": "https://a.example/", "document\\u002duri": "https://b.example/",'
    b' "violated-directive": "x"}}',
])
def test_duplicate_key(shared_server, body):
    r = _post_json(shared_server, body)
    assert_error(r, 400, "invalid_json")
    assert_security_headers(r)
