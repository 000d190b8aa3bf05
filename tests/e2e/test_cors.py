"""CORS (H3): an explicit allowlist with credentials for the API; delivery paths
(/feed/, /widget/) open to any origin, never with credentials."""

import pytest

from e2e_util import assert_error, assert_security_headers

ALLOWED = "https://app.example.com"
EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def cors_server(module_server_factory):
    return module_server_factory.start(env={"SHIPLOG_CORS_ORIGINS": ALLOWED})


def _vary(r):
    return [v.strip().lower() for v in r.headers.get("Vary", "").split(",")]


@pytest.mark.parametrize("path", ["/health", "/api/v1/openapi.json"])
def test_allowed_origin(cors_server, path):
    r = cors_server.get(path, headers={"Origin": ALLOWED})
    assert r.status_code == 200
    assert r.headers.get("Access-Control-Allow-Origin") == ALLOWED
    assert r.headers.get("Access-Control-Allow-Credentials") == "true"
    assert "origin" in _vary(r), r.headers.get("Vary")
    assert_security_headers(r)


@pytest.mark.parametrize("origin", [
    EVIL,
    "null",
    "https://app.example.com.evil.example",
    "https://evil.example/https://app.example.com",
    "http://app.example.com",           # scheme differs
    "https://app.example.com:8443",     # port differs
    "https://xapp.example.com",
])
def test_refused_origin_gets_no_cors(cors_server, origin):
    r = cors_server.get("/api/v1/openapi.json", headers={"Origin": origin})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers, r.headers.get("Access-Control-Allow-Origin")
    assert "Access-Control-Allow-Credentials" not in r.headers


def test_no_origin_no_cors(cors_server):
    r = cors_server.get("/api/v1/openapi.json")
    assert "Access-Control-Allow-Origin" not in r.headers


def test_preflight_allowed(cors_server):
    r = cors_server.request("OPTIONS", "/api/v1/openapi.json",
                            headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"})
    assert r.status_code == 204, r.text
    assert r.headers.get("Access-Control-Allow-Origin") == ALLOWED
    assert r.headers.get("Access-Control-Allow-Credentials") == "true"
    methods = [m.strip().upper() for m in r.headers.get("Access-Control-Allow-Methods", "").split(",")]
    assert "GET" in methods, r.headers.get("Access-Control-Allow-Methods")
    assert "origin" in _vary(r)
    assert_security_headers(r)


def test_preflight_refused_origin(cors_server):
    r = cors_server.request("OPTIONS", "/api/v1/openapi.json",
                            headers={"Origin": EVIL, "Access-Control-Request-Method": "GET"})
    assert_error(r, 403)
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Access-Control-Allow-Credentials" not in r.headers
    assert_security_headers(r)


def test_allowlist_unset_allows_nobody(shared_server):
    r = shared_server.get("/api/v1/openapi.json", headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in r.headers
    p = shared_server.request("OPTIONS", "/api/v1/openapi.json",
                              headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"})
    assert_error(p, 403)


@pytest.mark.parametrize("path", ["/feed/acme", "/widget/acme.js", "/feed/x/entries.json"])
@pytest.mark.parametrize("origin", [EVIL, ALLOWED, "null"])
def test_delivery_paths_open(cors_server, path, origin):
    r = cors_server.get(path, headers={"Origin": origin})
    assert_error(r, 404, "not_found")  # the feed itself arrives later
    assert r.headers.get("Access-Control-Allow-Origin") == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers
    assert_security_headers(r, delivery=True)


@pytest.mark.parametrize("path", ["/feed/acme", "/widget/acme.js"])
def test_delivery_preflight(cors_server, path):
    r = cors_server.request("OPTIONS", path, headers={"Origin": EVIL, "Access-Control-Request-Method": "GET"})
    assert r.status_code == 204, r.text
    assert r.headers.get("Access-Control-Allow-Origin") == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers
    assert_security_headers(r, delivery=True)


def test_delivery_open_without_allowlist(shared_server):
    r = shared_server.get("/feed/acme", headers={"Origin": EVIL})
    assert r.headers.get("Access-Control-Allow-Origin") == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers


def test_delivery_prefix_is_exact(cors_server):
    """/feedback or /widgets are not delivery paths."""
    for path in ("/feedback", "/widgets/x", "/api/v1/feed/x"):
        r = cors_server.get(path, headers={"Origin": EVIL})
        assert "Access-Control-Allow-Origin" not in r.headers, path
        assert_security_headers(r)
