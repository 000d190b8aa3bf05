"""A deployment for CLI-level tests: one data directory (and PostgreSQL
cluster) with a running server, and the shiplog CLI pointed at it."""

import re
import secrets as pysecrets
import shutil
import sqlite3
import subprocess
from pathlib import Path

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
