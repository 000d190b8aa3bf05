"""Security headers on every response (H2), HSTS (H1), request id (H10)."""

import pytest

from e2e_util import assert_security_headers, csp_body, raw_request

LIMITS = {"SHIPLOG_MAX_BODY_BYTES": 1024, "SHIPLOG_MAX_HEADER_BYTES": 2048,
          "SHIPLOG_CORS_ORIGINS": "https://app.example.com"}
CSP = ("Content-Type", "application/csp-report")

# name -> (method, path, headers, body, expected status, delivery path?)
CASES = {
    "200-health": ("GET", "/health", [], b"", 200, False),
    "200-ready": ("GET", "/health/ready", [], b"", 200, False),
    "200-openapi": ("GET", "/api/v1/openapi.json", [], b"", 200, False),
    "200-security-txt": ("GET", "/.well-known/security.txt", [], b"", 200, False),
    "204-csp-report": ("POST", "/csp-report", [CSP], csp_body(), 204, False),
    "204-preflight": ("OPTIONS", "/api/v1/openapi.json",
                      [("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "GET")],
                      b"", 204, False),
    "403-preflight": ("OPTIONS", "/api/v1/openapi.json",
                      [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "GET")],
                      b"", 403, False),
    "400-invalid-json": ("POST", "/csp-report", [CSP], b"{", 400, False),
    "400-validation": ("POST", "/csp-report", [CSP], b'{"csp-report": {"zzz": 1}}', 400, False),
    "404": ("GET", "/nope", [], b"", 404, False),
    "404-delivery": ("GET", "/feed/acme", [("Origin", "https://evil.example")], b"", 404, True),
    "204-delivery-preflight": ("OPTIONS", "/widget/acme.js",
                               [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "GET")],
                               b"", 204, True),
    "405": ("DELETE", "/health", [], b"", 405, False),
    "413": ("POST", "/csp-report", [CSP], csp_body(pad_to=1025), 413, False),
    "415": ("POST", "/csp-report", [("Content-Type", "text/plain")], csp_body(), 415, False),
    "431": ("GET", "/health", [("X-Filler", "f" * 4000)], b"", 431, False),
    "HEAD-200": ("HEAD", "/health", [], b"", 200, False),
}


@pytest.fixture(scope="module")
def hdr_server(module_server_factory):
    return module_server_factory.start(env=LIMITS)


@pytest.mark.parametrize("case", list(CASES))
def test_security_headers_everywhere(hdr_server, case):
    method, path, headers, body, status, delivery = CASES[case]
    r = raw_request(hdr_server.port, method, path, headers, body)
    assert r.status_code == status, r
    assert_security_headers(r, delivery=delivery)
    assert "Strict-Transport-Security" not in r.headers, "HSTS on plain HTTP in development"
    assert "Server" not in r.headers or "/" not in r.headers["Server"], \
        f"Server header discloses a version: {r.headers['Server']!r}"
    assert "X-Powered-By" not in r.headers


def test_no_duplicate_security_headers(hdr_server):
    r = raw_request(hdr_server.port, "GET", "/nope")
    names = [k.lower() for k, _ in r.header_items]
    for h in ("x-content-type-options", "x-frame-options", "content-security-policy",
              "referrer-policy", "x-request-id", "cache-control", "content-type"):
        assert names.count(h) == 1, f"{h} appears {names.count(h)} times: {r.header_items}"


@pytest.fixture(scope="module")
def prod_server(module_server_factory):
    return module_server_factory.start(env={"SHIPLOG_ENV": "production", **LIMITS})


@pytest.mark.parametrize("case", ["200-health", "404", "405", "413", "431", "400-invalid-json",
                                  "404-delivery", "204-csp-report"])
def test_hsts_in_production(prod_server, case):
    method, path, headers, body, status, delivery = CASES[case]
    r = raw_request(prod_server.port, method, path, headers, body)
    assert r.status_code == status, r
    assert_security_headers(r, delivery=delivery, hsts=True)
