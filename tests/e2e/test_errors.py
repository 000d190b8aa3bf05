"""The one error shape (H5), validation (H6) and the CSP report endpoint."""

import json

import pytest

from e2e_util import (HEX32, assert_error, assert_security_headers, csp_body, raw_request)


def test_not_found_shape(shared_server):
    r = shared_server.get("/definitely/not/here")
    assert_error(r, 404, "not_found")
    assert_security_headers(r)


@pytest.mark.parametrize("method,path,allowed", [
    ("POST", "/health", "GET"),
    ("DELETE", "/api/v1/openapi.json", "GET"),
    ("PUT", "/.well-known/security.txt", "GET"),
    ("GET", "/csp-report", "POST"),
])
def test_method_not_allowed(shared_server, method, path, allowed):
    r = shared_server.request(method, path, data=b"" if method in ("POST", "PUT") else None)
    assert_error(r, 405, "method_not_allowed")
    assert_security_headers(r)
    allow = [m.strip().upper() for m in r.headers.get("Allow", "").split(",") if m.strip()]
    assert allowed in allow, f"Allow header {r.headers.get('Allow')!r}"
    assert method not in allow


@pytest.mark.parametrize("ctype", ["application/csp-report", "application/json",
                                   "application/json; charset=utf-8"])
def test_csp_report_accepted(shared_server, ctype):
    r = shared_server.post("/csp-report", data=csp_body(), headers={"Content-Type": ctype})
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_security_headers(r)


def test_csp_report_minimal(shared_server):
    body = json.dumps({"csp-report": {"document-uri": "https://a.example/", "violated-directive": "img-src"}})
    r = shared_server.post("/csp-report", data=body, headers={"Content-Type": "application/csp-report"})
    assert r.status_code == 204, r.text


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None])
def test_csp_report_wrong_content_type(shared_server, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    r = shared_server.post("/csp-report", data=csp_body(), headers=headers)
    if ctype is None:  # requests sends no Content-Type for raw bytes
        assert "Content-Type" not in r.request.headers
    assert_error(r, 415, "unsupported_media_type")
    assert_security_headers(r)


@pytest.mark.parametrize("body", [
    b'{"csp-report":',
    b'{"csp-report": {"document-uri": "x",}}',
    b"not json at all",
    b'{"csp-report": {"document-uri": "\xff\xfe"}}',  # invalid UTF-8
    b"",
    b'{"csp-report": {}} trailing',
])
def test_malformed_json(shared_server, body):
    r = shared_server.post("/csp-report", data=body, headers={"Content-Type": "application/csp-report"})
    assert_error(r, 400, "invalid_json")
    assert_security_headers(r)


def test_unknown_member_rejected(shared_server):
    r = shared_server.post("/csp-report", data=csp_body({"bogus-member": "x"}),
                           headers={"Content-Type": "application/csp-report"})
    err = assert_error(r, 400, "validation_failed")
    fields = err.get("fields")
    assert isinstance(fields, list) and fields, f"no fields in {err!r}"
    for f in fields:
        assert isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("reason"), str), f
    assert any("bogus-member" in f["path"] for f in fields), fields


@pytest.mark.parametrize("doc", [
    {"csp-report": "a string"},
    {"csp-report": {"document-uri": 17, "violated-directive": "img-src"}},
    {"not-csp-report": {}},
    [],
    {"csp-report": {"document-uri": "https://a.example/", "violated-directive": "img-src"}, "extra": 1},
])
def test_schema_violations(shared_server, doc):
    r = shared_server.post("/csp-report", data=json.dumps(doc), headers={"Content-Type": "application/json"})
    err = assert_error(r, 400, "validation_failed")
    assert isinstance(err.get("fields"), list) and err["fields"], err


def test_overlong_string_rejected(shared_server):
    """A string past the endpoint's JSON string limit (4096 bytes) but inside its
    body limit is refused by the parser; past the body limit it is a 413."""
    r = shared_server.post("/csp-report", data=csp_body({"original-policy": "a" * 4097}),
                           headers={"Content-Type": "application/csp-report"})
    err = assert_error(r, 400, "invalid_json")
    assert "string too long" in err["message"], err
    r = shared_server.post("/csp-report", data=csp_body({"document-uri": "https://a.example/" + "a" * 2_000_000}),
                           headers={"Content-Type": "application/csp-report"})
    assert_error(r, 413, "payload_too_large")


def test_client_request_id_not_echoed(shared_server):
    """The request id is the server's own (32 hex), never a client-supplied value."""
    r = shared_server.get("/nope", headers={"X-Request-Id": "evil<script>\u00e9"})
    assert_error(r, 404, "not_found")
    assert HEX32.match(r.headers["X-Request-Id"])
    assert "evil" not in r.text


def test_error_on_http10(shared_server):
    """An HTTP/1.0 client without Host still gets the full error shape and headers."""
    r = raw_request(shared_server.port, "GET", "/nope", host_header=False, version="HTTP/1.0")
    assert_error(r, 404, "not_found")
    assert_security_headers(r)


def test_http11_without_host(shared_server):
    """HTTP/1.1 without Host is a bad request (RFC 9112); the refusal still carries
    the error shape and the security headers."""
    r = raw_request(shared_server.port, "GET", "/health", host_header=False)
    assert_error(r, 400)
    assert_security_headers(r)


def test_nul_in_request_target_refused(shared_server):
    """libmicrohttpd decodes %00 and would cut the path there (/health%00x → /health)."""
    r = raw_request(shared_server.port, "GET", "/health%00x")
    assert_error(r, 400, "bad_request")
    assert_security_headers(r)


def test_body_for_route_without_body_refused_unread(shared_server):
    """A route that takes no body refuses one before reading it; a path that does
    not exist answers 404 without reading the body either."""
    r = raw_request(shared_server.port, "GET", "/health", [("Content-Type", "text/plain")], b"x" * 1000)
    assert_error(r, 413, "payload_too_large")
    r = raw_request(shared_server.port, "POST", "/nope", [("Content-Type", "text/plain")], b"x" * 1000)
    assert_error(r, 404, "not_found")
