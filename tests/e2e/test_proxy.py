"""Client IP from X-Forwarded-For only behind a trusted proxy (H10), as seen in
the access log line."""

import pytest

from e2e_util import HEX32, assert_error, parse_rfc3339, raw_request


@pytest.fixture(scope="module")
def trusted_server(module_server_factory):
    return module_server_factory.start(env={"SHIPLOG_TRUSTED_PROXIES": "127.0.0.1/32"})


def _access_line(srv, resp):
    rid = resp.headers["X-Request-Id"]
    line = srv.access_log(rid)
    assert line is not None, f"no access log line for request {rid}; last lines: {srv.logs()[-5:]}"
    return line


def test_access_log_fields(shared_server):
    r = shared_server.get("/health?x=1")
    line = _access_line(shared_server, r)
    assert line["level"] == "info", line
    parse_rfc3339(line["ts"])
    assert line["method"] == "GET"
    assert line["path"] == "/health", line  # the query string is not logged as the path
    assert line["status"] == 200 and isinstance(line["status"], int), line
    assert line["ip"] == "127.0.0.1", line
    assert HEX32.match(line["request_id"])
    # duration in whole microseconds
    assert isinstance(line["us"], int) and line["us"] >= 0, line


def test_access_log_error_status(shared_server):
    r = shared_server.get("/nope")
    line = _access_line(shared_server, r)
    assert line["status"] == 404 and line["path"] == "/nope", line


def test_xff_from_trusted_proxy(trusted_server):
    r = trusted_server.get("/health", headers={"X-Forwarded-For": "203.0.113.7"})
    assert _access_line(trusted_server, r)["ip"] == "203.0.113.7"


def test_xff_ignored_without_trusted_proxies(shared_server):
    r = shared_server.get("/health", headers={"X-Forwarded-For": "203.0.113.7"})
    assert _access_line(shared_server, r)["ip"] == "127.0.0.1"


def test_xff_ignored_when_peer_not_trusted(module_server_factory):
    srv = module_server_factory.start(env={"SHIPLOG_TRUSTED_PROXIES": "10.0.0.0/8"})
    r = srv.get("/health", headers={"X-Forwarded-For": "203.0.113.7"})
    assert _access_line(srv, r)["ip"] == "127.0.0.1"


def test_xff_chain_takes_rightmost_untrusted(trusted_server):
    """A client-supplied left part of the chain must not win: the proxy appends
    the real peer, so the right-most address not in the trusted set is the client."""
    r = trusted_server.get("/health", headers={"X-Forwarded-For": "198.51.100.66, 203.0.113.7"})
    assert _access_line(trusted_server, r)["ip"] == "203.0.113.7"


@pytest.mark.parametrize("xff", ["not-an-ip", "203.0.113.7<script>", "", "999.1.1.1"])
def test_xff_garbage_falls_back_to_peer(trusted_server, xff):
    r = trusted_server.get("/health", headers={"X-Forwarded-For": xff})
    ip = _access_line(trusted_server, r)["ip"]
    assert ip == "127.0.0.1", ip


def test_xff_repeated_lines_are_joined(trusted_server):
    """A proxy that adds its own X-Forwarded-For line (instead of appending to the
    client's) must not let the client's forged first line win."""
    r = raw_request(trusted_server.port, "GET", "/health",
                    [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "203.0.113.7")])
    assert r.status_code == 200, r
    assert _access_line(trusted_server, r)["ip"] == "203.0.113.7"


def test_xff_overlong_first_line_cannot_hide_the_proxys_line(trusted_server):
    """Lines that do not fit together: only the last (the proxy's own) is used,
    so a long forged first line cannot push it out."""
    forged = "," * 2040 + "6.6.6.6"
    r = raw_request(trusted_server.port, "GET", "/health",
                    [("X-Forwarded-For", forged), ("X-Forwarded-For", "203.0.113.9")])
    assert r.status_code == 200, r
    assert _access_line(trusted_server, r)["ip"] == "203.0.113.9"


def test_xff_ipv6(trusted_server):
    r = trusted_server.get("/health", headers={"X-Forwarded-For": "2001:db8::1"})
    assert _access_line(trusted_server, r)["ip"] == "2001:db8::1"


def test_all_log_lines_are_json(shared_server):
    shared_server.get("/health")
    shared_server.get("/nope")
    for obj in shared_server.logs():
        assert "_raw" not in obj, f"non-JSON stderr line: {obj['_raw']!r}"
        assert {"ts", "level", "msg"} <= set(obj), obj
        assert obj["level"] in ("debug", "info", "warn", "error"), obj
        parse_rfc3339(obj["ts"])
