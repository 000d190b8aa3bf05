"""Liveness, readiness, security.txt and the OpenAPI document (H9, H11, P7)."""

import datetime as dt
import json
import re
import time
import uuid
from pathlib import Path

import pytest

from e2e_util import assert_error, assert_security_headers, parse_rfc3339, wait_until


def test_health_ok(shared_server):
    r = shared_server.get("/health")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert r.json()["status"] == "ok"
    assert_security_headers(r)


def test_ready_ok(shared_server):
    r = shared_server.get("/health/ready")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert r.json()["status"] == "ready"
    assert_security_headers(r)


def test_security_txt(shared_server):
    r = shared_server.get("/.well-known/security.txt")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].replace(" ", "").lower() == "text/plain;charset=utf-8"
    assert_security_headers(r)
    fields = {}
    for line in r.text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        assert sep, f"not a field line: {line!r}"
        fields.setdefault(name.strip().lower(), []).append(value.strip())
    for name in ("contact", "expires", "policy", "preferred-languages", "canonical"):
        assert fields.get(name), f"security.txt lacks {name}: {r.text!r}"
    assert len(fields["expires"]) == 1, "RFC 9116: Expires must appear exactly once"
    expires = parse_rfc3339(fields["expires"][0])
    now = dt.datetime.now(dt.timezone.utc)
    assert expires > now, f"Expires in the past: {expires}"
    assert expires < now + dt.timedelta(days=365), f"Expires more than a year ahead: {expires}"
    assert all(c.startswith(("mailto:", "https://", "tel:")) for c in fields["contact"]), fields["contact"]
    assert any(c.endswith("/.well-known/security.txt") for c in fields["canonical"]), fields["canonical"]


def test_openapi_document(shared_server):
    r = shared_server.get("/api/v1/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert_security_headers(r)
    assert 1000 < len(r.content) < 256 * 1024, len(r.content)
    doc = r.json()
    assert str(doc.get("openapi", "")).startswith("3.1"), doc.get("openapi")
    assert doc.get("info", {}).get("title"), "info.title is required"
    assert doc.get("info", {}).get("version"), "info.version is required"
    assert isinstance(doc.get("paths"), dict) and doc["paths"], "paths must be a non-empty object"
    # the server serves the generated document, which is the committed one
    committed = (Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_bytes()
    assert r.content == committed, "docs/openapi.json is stale: build/shiplog openapi > docs/openapi.json"


def test_openapi_operations_are_routed(shared_server):
    """The document and the router agree on the running server: every documented
    path is routed with every documented method (OPTIONS lists them in Allow),
    and a call without credentials gets 401 on signed-in operations and a
    documented status on public ones, never 405, nor 404 but from a public
    operation that finds no such object. Path parameters get a random UUID."""
    doc = shared_server.get("/api/v1/openapi.json").json()
    calls = 0
    for path, ops in doc["paths"].items():
        concrete = re.sub(r"\{[^}/]+\}", str(uuid.uuid4()), path)
        r = shared_server.request("OPTIONS", concrete)
        assert r.status_code == 204, (path, r.status_code, r.text)
        allowed = {m.strip() for m in r.headers["Allow"].split(",")}
        for method, op in ops.items():
            assert method.upper() in allowed, (method, path, allowed)
            kw = {}
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                kw = {"data": b"{}", "headers": {"Content-Type": "application/json"}}
            r = shared_server.request(method.upper(), concrete, **kw)
            calls += 1
            where = f"{method.upper()} {concrete}: {r.status_code} {r.text[:200]}"
            assert r.status_code != 405, where
            # routed (Allow above); only a public operation may find no such {id}
            if "security" in op or "{" not in path:
                assert r.status_code != 404, where
            assert str(r.status_code) in op["responses"], "undocumented status: " + where
            if "security" in op:
                assert_error(r, 401, "unauthenticated")
            else:
                assert r.status_code < 500, where
    assert calls >= 20, calls


def test_request_ids_are_unique(shared_server):
    ids = {shared_server.get("/health").headers["X-Request-Id"] for _ in range(20)}
    assert len(ids) == 20


def test_ready_follows_postgresql(backend, server, pg_factory):
    """P7/H9: a dead database makes /health/ready fail (503 unavailable), not the
    process; it recovers when the database comes back."""
    if backend != "postgresql":
        pytest.skip("stopping the database only applies to PostgreSQL")
    cluster = pg_factory()
    srv = server.start(env=cluster.env())
    r = srv.get("/health/ready")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"

    cluster.stop()
    t0 = time.monotonic()
    last = wait_until(lambda: (lambda x: x if x.status_code == 503 else None)(srv.get("/health/ready")), 10, 0.25)
    assert last is not None, f"/health/ready still not 503 {time.monotonic() - t0:.1f}s after the database stopped"
    err = assert_error(last, 503, "unavailable")
    assert_security_headers(last)
    assert str(cluster.port) not in last.text, "503 body names the database port"
    # The 5xx is logged at level error with the same support id and the internal detail.
    line = srv.wait_log(lambda o: o.get("level") == "error" and err["support_id"] in str(o.values()), 5)
    assert line is not None, f"no error log line with support_id {err['support_id']}: {srv.logs()[-10:]}"
    detail = json.dumps(line).lower()
    assert any(w in detail for w in ("connect", "refused", "server", "closed", "terminat", "timeout", "postgres")), \
        f"the error log line carries no internal detail: {line}"

    h = srv.get("/health")
    assert h.status_code == 200 and h.json()["status"] == "ok"
    assert srv.proc.poll() is None, "the process exited when the database went away"

    cluster.start()
    back = wait_until(lambda: (lambda x: x if x.status_code == 200 else None)(srv.get("/health/ready")), 15, 0.25)
    assert back is not None, "/health/ready did not recover after the database came back"
    assert back.json()["status"] == "ready"


def test_ready_requires_migration(backend, server, tmp_path, pg_factory):
    """Production does not migrate at start-up: until `shiplog migrate` has run,
    /health/ready is 503 unavailable (logged with the support id), then 200."""
    data = tmp_path / "prod"
    env = {"SHIPLOG_ENV": "production"}
    mig_env = {}
    if backend == "postgresql":
        cluster = pg_factory()  # a database nobody has migrated yet
        env.update({"SHIPLOG_DATABASE_URL": cluster.app_url, "SHIPLOG_MIGRATE_DATABASE_URL": None,
                    "SHIPLOG_KEYVAULT_DATABASE_URL": cluster.vault_app_url,
                    "SHIPLOG_MIGRATE_KEYVAULT_DATABASE_URL": None})
        mig_env = cluster.env()
    srv = server.start(env=env, data_dir=data)
    r = srv.get("/health/ready")
    err = assert_error(r, 503, "unavailable")
    assert_security_headers(r, hsts=True)
    assert srv.wait_log(lambda o: o.get("level") == "error" and err["support_id"] in str(o.values()), 5), \
        f"no error log line with support_id {err['support_id']}"
    assert srv.get("/health").status_code == 200

    m = server.run_cli(["migrate", "--data", str(data)], env={"SHIPLOG_ENV": "production", **mig_env})
    assert m.returncode == 0, f"migrate failed ({m.returncode}): {m.stderr}"
    back = wait_until(lambda: (lambda x: x if x.status_code == 200 else None)(srv.get("/health/ready")), 10, 0.25)
    assert back is not None, "/health/ready still not 200 after `shiplog migrate`"
    assert back.json()["status"] == "ready"
