"""Edges of the operator CLI's input handling (shiplog admin ...)."""

import secrets
import sqlite3
import subprocess

from conftest import base_env
from deployment import MAX_VALUE, PGBIN, new_key


def test_secret_value_never_stored_truncated(deploy):
    """A value that fills the read buffer exactly and goes on (here: the maximum,
    CR LF, more bytes) is refused, not stored cut short."""
    d = deploy(new_key())
    tenant = d.create_tenant("trunc")
    d.cli("admin", "secret", "put", "--tenant", tenant, "--name", "n", "--purpose", "p",
          stdin=b"v" * MAX_VALUE + b"\r\nmore", expect=64)
    d.cli("admin", "secret", "check", "--tenant", tenant, "--name", "n", expect=1)
    # exactly the maximum plus CR LF is the maximum
    d.cli("admin", "secret", "put", "--tenant", tenant, "--name", "n", "--purpose", "p",
          stdin=b"v" * MAX_VALUE + b"\r\n")


def _sql(d, statement):
    """Runs one statement on the main database as its owner/superuser."""
    if d.pg:
        r = subprocess.run([str(PGBIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                            d.super_url("shiplog"), "-c", statement],
                           capture_output=True, text=True, timeout=60, env=base_env())
        assert r.returncode == 0, r.stderr
    else:
        con = sqlite3.connect(d.data_dir / "shiplog.db")
        with con:
            con.execute(statement)
        con.close()


def test_cleanup_deletes_long_dead_sessions_only(deploy):
    """`shiplog admin cleanup` removes sessions revoked more than a day ago and
    keeps a live one, on both backends (through the narrow cross-tenant paths
    on PostgreSQL)."""
    d = deploy(new_key())
    srv = d.srv
    addr = f"cleanup-{secrets.token_hex(4)}@example.com"
    body = {"email": addr, "password": "correct horse battery staple", "organization": "Clean"}
    assert srv.post("/api/v1/signup", json=body).status_code == 201
    cookies = []
    for _ in range(2):
        r = srv.post("/api/v1/session", json={"email": addr, "password": body["password"]})
        assert r.status_code == 200, r.text
        cookies.append(r.headers["Set-Cookie"].split(";")[0])
    assert srv.request("DELETE", "/api/v1/session",
                       headers={"Cookie": cookies[0]}).status_code == 204
    _, out, _ = d.cli("admin", "cleanup")
    assert "sessions: 0" in out, out  # revoked just now: kept for a day
    _sql(d, "UPDATE sessions SET revoked_at = revoked_at - 2 * 86400 WHERE revoked_at IS NOT NULL")
    _, out, _ = d.cli("admin", "cleanup")
    assert "sessions: 1" in out, out
    me = srv.get("/api/v1/me", headers={"Cookie": cookies[1]})
    assert me.status_code == 200, me.text  # the live session is untouched
