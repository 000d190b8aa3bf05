"""Encrypted secrets, key rotation and crypto-shredding through the CLI, with a
running server (C1-C5, docs/KEYS.md).

Each test gets its own data directory and, on PostgreSQL, its own cluster
(pg_factory), so "every tenant" and "ready to remove previous keys" mean the
tenants of that test only. Every CLI run and the server's output are kept in
a transcript, and the never-leak test greps all of it, plus a text dump of
the main database, for the secret values and the master keys.
"""

import os
import re
import secrets as pysecrets
import shutil
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import base_env

PGBIN = Path("/usr/lib/postgresql/15/bin")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
MAX_VALUE = 65536


def new_key():
    return pysecrets.token_hex(32)


def secret_value(label):
    """A value that is unmistakable in any output: label plus 24 random hex digits."""
    return f"{label}-{pysecrets.token_hex(12)}"


class Deployment:
    """One data directory (and PostgreSQL cluster) with a server, and the CLI
    pointed at it. Every CLI result is appended to self.transcript."""

    def __init__(self, server, backend, pg_factory, key):
        self.factory = server
        self.backend = backend
        self.pg = pg_factory() if backend == "postgresql" else None
        self.db_env = self.pg.env() if self.pg else {}
        self.key = key
        self.transcript = []
        self.srv = server.start(env={**self.db_env, "SHIPLOG_MASTER_KEY": key})
        self.data_dir = self.srv.data_dir

    def cli(self, *args, key=None, previous=None, stdin=None, data_dir=None, db_env=None,
            expect=0):
        env = self.factory.env_for({**(self.db_env if db_env is None else db_env),
                                    "SHIPLOG_MASTER_KEY": key or self.key,
                                    "SHIPLOG_MASTER_KEYS_PREVIOUS": previous})
        cmd = [str(self.factory.binary)] + list(args) + ["--data", str(data_dir or self.data_dir)]
        r = subprocess.run(cmd, env=env, input=stdin if stdin is not None else b"",
                           capture_output=True, timeout=120)
        out = r.stdout.decode("utf-8", "replace")
        err = r.stderr.decode("utf-8", "replace")
        # what the command wrote (its arguments are ours, not its output)
        self.transcript.append(f"{out}\n{err}")
        if expect is not None:
            assert r.returncode == expect, f"{args}: exit {r.returncode}\n{out}\n{err}"
        return r.returncode, out, err

    def create_tenant(self, slug, **kw):
        _, out, _ = self.cli("admin", "tenant", "create", "--slug", slug, "--name", slug.title(),
                             **kw)
        tid = out.strip()
        assert UUID_RE.match(tid), out
        return tid

    def put(self, tenant, name, value, purpose="webhook", **kw):
        _, out, _ = self.cli("admin", "secret", "put", "--tenant", tenant, "--name", name,
                             "--purpose", purpose, stdin=value.encode() + b"\n", **kw)
        assert out.strip() == f"{name}: stored (\u2026{value[-4:]})", out
        return out

    def check(self, tenant, expect=0, **kw):
        _, out, _ = self.cli("admin", "secret", "check", "--tenant", tenant, expect=expect, **kw)
        return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)

    def server_output(self):
        return "\n".join(self.srv.drain_stdout()) + "\n" + self.srv.stderr_text()

    # ---- backups and dumps of the main database -------------------------------

    def super_url(self, db):
        return f"postgresql://postgres@127.0.0.1:{self.pg.port}/{db}"

    def psql(self, sql):
        r = subprocess.run([str(PGBIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                            self.super_url("postgres"), "-c", sql],
                           capture_output=True, text=True, timeout=60, env=base_env())
        return r

    def backup_main(self, tmp_path):
        """Copies the main database (never the vault). Returns (data_dir, db_env) for the
        CLI to read the copy; the caller supplies the vault later (restore_vault)."""
        if self.pg is None:
            copy = tmp_path / "backup"
            copy.mkdir()
            for suffix in ("", "-wal"):
                src = self.data_dir / f"shiplog.db{suffix}"
                if src.exists():
                    shutil.copyfile(src, copy / f"shiplog.db{suffix}")
            return copy, {}
        name = "shiplog_backup_" + pysecrets.token_hex(4)
        # CREATE DATABASE ... TEMPLATE needs the template free of connections; the
        # server's pooled connections are dropped and it reconnects on next use.
        for _ in range(20):
            self.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = 'shiplog' AND pid <> pg_backend_pid()")
            r = self.psql(f"CREATE DATABASE {name} TEMPLATE shiplog OWNER shiplog_owner")
            if r.returncode == 0:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"cannot copy the database: {r.stderr}")
        env = dict(self.db_env)
        for k in ("SHIPLOG_DATABASE_URL", "SHIPLOG_MIGRATE_DATABASE_URL"):
            env[k] = env[k].rsplit("/", 1)[0] + "/" + name
        return self.data_dir, env

    def restore_vault(self, copy_dir):
        """SQLite: the backup directory gets the live vault (the file and its WAL: the
        running server keeps the vault open, so recent writes may sit in the WAL).
        PostgreSQL: the copy already points at the live vault database."""
        if self.pg is None:
            for suffix in ("", "-wal"):
                src, dst = self.data_dir / f"keyvault.db{suffix}", copy_dir / f"keyvault.db{suffix}"
                if src.exists():
                    shutil.copyfile(src, dst)
                elif dst.exists():
                    dst.unlink()
            (copy_dir / "keyvault.db-shm").unlink(missing_ok=True)

    def dump_main(self):
        """A text dump of the main database."""
        if self.pg is None:
            con = sqlite3.connect(self.data_dir / "shiplog.db")
            try:
                return "\n".join(con.iterdump())
            finally:
                con.close()
        r = subprocess.run([str(PGBIN / "pg_dump"), "-d", self.super_url("shiplog")],
                           capture_output=True, text=True, timeout=120, env=base_env())
        assert r.returncode == 0, r.stderr
        return r.stdout


@pytest.fixture
def deploy(server, backend, pg_factory):
    def make(key):
        return Deployment(server, backend, pg_factory, key)
    return make


class ReadyProbe:
    """Polls /health/ready from a thread; every answer must be 200."""

    def __init__(self, srv):
        self.srv = srv
        self.codes = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.codes.append(self.srv.get("/health/ready", timeout=5).status_code)
            except Exception as e:  # a refused connection is a failure too
                self.codes.append(repr(e))

    def __enter__(self):
        self._t.start()
        while not self.codes:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        n = len(self.codes)
        while len(self.codes) < n + 2:  # a couple more after the command ended
            time.sleep(0.01)
        self._stop.set()
        self._t.join(10)


# --------------------------------------------------------------------------


def test_rotate_while_serving(deploy):
    key_a, key_b = new_key(), new_key()
    d = deploy(key_a)
    t1, t2 = d.create_tenant("rot-one"), d.create_tenant("rot-two")
    v1, v2, v3 = secret_value("gh"), secret_value("gl"), secret_value("sso")
    d.put(t1, "github.webhook", v1)
    d.put(t1, "sso.client", v3, purpose="sso")
    d.put(t2, "gitlab.token", v2, purpose="provider_token")
    assert d.check(t1) == {"github.webhook": f"ok (\u2026{v1[-4:]})",
                           "sso.client": f"ok (\u2026{v3[-4:]})"}

    _, out, _ = d.cli("keys", "status")
    assert "ready to remove previous keys: yes" in out

    # B current, A previous: rotate while the server answers readiness checks
    with ReadyProbe(d.srv) as probe:
        _, out, _ = d.cli("keys", "rotate", key=key_b, previous=key_a)
    assert probe.codes and all(c == 200 for c in probe.codes), probe.codes
    assert "data keys re-wrapped: 2" in out, out
    assert "tenants failed: 0" in out
    _, out, _ = d.cli("keys", "status", key=key_b, previous=key_a)
    assert "ready to remove previous keys: yes" in out, out
    assert re.search(r"master key [0-9a-f]{16}: 2 data keys \(current\)", out), out

    # the previous key removed: B alone opens everything
    _, out, _ = d.cli("keys", "status", key=key_b)
    assert "ready to remove previous keys: yes" in out
    assert set(d.check(t1, key=key_b).values()) == {f"ok (\u2026{v1[-4:]})",
                                                   f"ok (\u2026{v3[-4:]})"}
    assert d.check(t2, key=key_b) == {"gitlab.token": f"ok (\u2026{v2[-4:]})"}
    # and A alone no longer does
    assert d.check(t1, key=key_a, expect=1) == {"github.webhook": "UNREADABLE",
                                                "sso.client": "UNREADABLE"}
    _, out, _ = d.cli("keys", "status", key=key_a)
    assert "ready to remove previous keys: no" in out
    assert "not in the key ring" in out

    # idempotent
    _, out, _ = d.cli("keys", "rotate", key=key_b, previous=key_a)
    assert "data keys re-wrapped: 0" in out and "data keys already current: 2" in out

    # half-way state: a tenant made under A after an operator switched only some nodes
    t3 = d.create_tenant("rot-three", key=key_a)
    d.put(t3, "late", secret_value("late"), key=key_a)
    _, out, _ = d.cli("keys", "status", key=key_b, previous=key_a)
    assert "ready to remove previous keys: no" in out and t3 in out
    d.cli("keys", "rotate", key=key_b, previous=key_a)
    _, out, _ = d.cli("keys", "status", key=key_b)
    assert "ready to remove previous keys: yes" in out
    assert d.srv.get("/health/ready").status_code == 200


def test_shred_makes_backup_unreadable(deploy, tmp_path):
    key = new_key()
    d = deploy(key)
    gone, kept = d.create_tenant("shred-gone"), d.create_tenant("shred-kept")
    vg1, vg2, vk = secret_value("gone1"), secret_value("gone2"), secret_value("kept")
    d.put(gone, "a", vg1)
    d.put(gone, "b", vg2, purpose="oauth")
    d.put(kept, "a", vk)

    copy_dir, copy_env = d.backup_main(tmp_path)
    d.restore_vault(copy_dir)
    # the backup is a working copy before the shred
    assert d.check(gone, data_dir=copy_dir, db_env=copy_env) == {
        "a": f"ok (\u2026{vg1[-4:]})", "b": f"ok (\u2026{vg2[-4:]})"}

    _, out, _ = d.cli("admin", "tenant", "shred", "--tenant", gone)
    assert f"destroyed 1 data key(s) of tenant {gone}" in out
    d.restore_vault(copy_dir)  # the backup restored next to today's vault

    assert d.check(gone, data_dir=copy_dir, db_env=copy_env, expect=1) == {
        "a": "UNREADABLE", "b": "UNREADABLE"}
    assert d.check(kept, data_dir=copy_dir, db_env=copy_env) == {"a": f"ok (\u2026{vk[-4:]})"}
    assert d.check(gone, expect=1) == {"a": "UNREADABLE", "b": "UNREADABLE"}
    assert d.check(kept) == {"a": f"ok (\u2026{vk[-4:]})"}
    # a shredded tenant cannot get new secrets either
    rc, _, err = d.cli("admin", "secret", "put", "--tenant", gone, "--name", "c",
                       "--purpose", "p", stdin=b"after-the-shred-1234", expect=1)
    assert "no data key" in err
    # shredding again is harmless; an unknown tenant is an error
    _, out, _ = d.cli("admin", "tenant", "shred", "--tenant", gone)
    assert "destroyed 0 data key(s)" in out
    d.cli("admin", "tenant", "shred", "--tenant", "00000000-0000-4000-8000-000000000000",
          expect=1)
    _, out, _ = d.cli("keys", "status")
    assert "without a data key: 1" in out and "ready to remove previous keys: yes" in out


def test_cli_limits(deploy):
    d = deploy(new_key())
    # slug: 63 bytes ok, 64 refused; bad characters refused
    d.create_tenant("s" * 63)
    d.cli("admin", "tenant", "create", "--slug", "s" * 64, "--name", "n", expect=64)
    d.cli("admin", "tenant", "create", "--slug", "Bad_Slug", "--name", "n", expect=64)
    d.cli("admin", "tenant", "create", "--slug", "-lead", "--name", "n", expect=64)
    # tenant name: 200 bytes ok, 201 refused
    d.cli("admin", "tenant", "create", "--slug", "name-200", "--name", "n" * 200)
    d.cli("admin", "tenant", "create", "--slug", "name-201", "--name", "n" * 201, expect=64)
    # a taken slug
    d.cli("admin", "tenant", "create", "--slug", "name-200", "--name", "again", expect=1)
    t = d.create_tenant("limits")

    def put(name="n", purpose="p", value=b"value-for-the-limits-test", expect=0):
        return d.cli("admin", "secret", "put", "--tenant", t, "--name", name,
                     "--purpose", purpose, stdin=value, expect=expect)

    put(name="n" * 128)
    put(name="n" * 129, expect=64)
    put(name="has space", expect=64)
    put(purpose="p" * 64)
    put(purpose="p" * 65, expect=64)
    put(purpose="Upper", expect=64)
    put(value=b"v" * MAX_VALUE)
    put(value=b"v" * MAX_VALUE + b"\n")  # the trailing newline is not part of the value
    put(value=b"v" * (MAX_VALUE + 1), expect=64)
    put(value=b"", expect=64)
    put(value=b"\n", expect=64)
    d.cli("admin", "secret", "put", "--tenant", "not-a-uuid", "--name", "n", "--purpose", "p",
          stdin=b"value", expect=64)
    d.cli("admin", "secret", "check", "--tenant", t, "--name", "missing", expect=1)
    d.cli("admin", "secret", "check", "--tenant", t, "--name", "n" * 129, expect=64)
    d.cli("admin", "bogus", "verb", expect=64)
    d.cli("keys", "bogus", expect=64)
    out = d.check(t)
    assert out["n" * 128].startswith("ok") and out["n"].startswith("ok")


def test_secrets_never_leak(deploy, tmp_path):
    key_a, key_b = new_key(), new_key()
    d = deploy(key_a)
    values = [secret_value("ghp"), secret_value("glpat"), secret_value("whsec"),
              secret_value("client")]
    t1, t2 = d.create_tenant("leak-one"), d.create_tenant("leak-two")
    d.put(t1, "github", values[0])
    d.put(t1, "gitlab", values[1], purpose="provider_token")
    d.put(t2, "outbound", values[2], purpose="delivery_signing")
    d.put(t2, "sso", values[3], purpose="sso")
    # refused inputs must not echo the value either
    d.cli("admin", "secret", "put", "--tenant", t1, "--name", "too-long", "--purpose", "p",
          stdin=(values[0] * 3000).encode()[: MAX_VALUE + 1], expect=64)
    d.cli("admin", "secret", "put", "--tenant", t1, "--name", "x", "--purpose", "p",
          values[1], stdin=b"v", expect=64)  # the value given as a stray argument
    d.cli("admin", "secret", "put", "--tenant", t1, "--name", "bad name", "--purpose", "p",
          stdin=values[2].encode(), expect=64)
    with ReadyProbe(d.srv):
        d.cli("keys", "rotate", key=key_b, previous=key_a)
    d.cli("keys", "status", key=key_b, previous=key_a)
    d.check(t1, key=key_b)
    d.check(t2, key=key_a, expect=1)
    d.cli("admin", "tenant", "shred", "--tenant", t2, key=key_b)
    d.check(t2, key=key_b, expect=1)
    assert d.srv.get("/health/ready").status_code == 200

    dump = d.dump_main()
    assert "tenant_secrets" in dump  # the dump holds the table, just not the values
    everything = {
        "server": d.server_output(),
        "cli": "\n".join(d.transcript),
        "dump": dump,
    }
    needles = {}
    for v in values:
        needles[v] = v
        needles[v + " (hex)"] = v.encode().hex()
    for i, k in enumerate((key_a, key_b)):
        needles[f"master key {i}"] = k
    for where, text in everything.items():
        low = text.lower()
        for what, needle in needles.items():
            assert needle.lower() not in low, f"{what} found in {where}"
    # the hints (last four characters) are what the operator sees
    assert f"\u2026{values[0][-4:]}" in everything["cli"]
