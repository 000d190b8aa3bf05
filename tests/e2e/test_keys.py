"""Encrypted secrets, key rotation and crypto-shredding through the CLI, with a
running server (C1-C5, docs/KEYS.md).

Each test gets its own data directory and, on PostgreSQL, its own cluster
(pg_factory), so "every tenant" and "ready to remove previous keys" mean the
tenants of that test only. Every CLI run and the server's output are kept in
a transcript, and the never-leak test greps all of it, plus a text dump of
the main database, for the secret values and the master keys.
"""

import re
import subprocess
import threading
import time
from pathlib import Path

from deployment import MAX_VALUE, new_key, secret_value

VERIFIER = Path(__file__).resolve().parents[2] / "docs" / "audit-verify.py"


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


def test_rotate_while_serving(deploy, tmp_path):
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
    _, out, _ = d.cli("audit", "checkpoint")  # checkpoints by A's checkpoint key
    assert f"tenant {t1}: checkpoint signed" in out, out

    # B current, A previous: rotate while the server answers readiness checks
    with ReadyProbe(d.srv) as probe:
        _, out, _ = d.cli("keys", "rotate", key=key_b, previous=key_a)
    assert probe.codes and all(c == 200 for c in probe.codes), probe.codes
    assert "data keys re-wrapped: 2" in out, out
    assert "tenants failed: 0" in out
    assert "checkpoint key transitions recorded: 2" in out, out
    _, out, _ = d.cli("keys", "status", key=key_b, previous=key_a)
    assert "ready to remove previous keys: yes" in out, out
    assert re.search(r"master key [0-9a-f]{16}: 2 data keys \(current\)", out), out

    # the previous key removed: B alone opens everything
    _, out, _ = d.cli("keys", "status", key=key_b)
    assert "ready to remove previous keys: yes" in out
    assert set(d.check(t1, key=key_b).values()) == {f"ok (\u2026{v1[-4:]})",
                                                   f"ok (\u2026{v3[-4:]})"}
    assert d.check(t2, key=key_b) == {"gitlab.token": f"ok (\u2026{v2[-4:]})"}
    # A's checkpoints still verify with B alone, through the key transitions
    _, out, _ = d.cli("audit", "verify", key=key_b)
    assert re.search(rf"tenant {t1}: ok, \d+ entries, 1 checkpoints", out), out
    assert re.search(rf"tenant {t2}: ok, \d+ entries, 1 checkpoints", out), out
    export = tmp_path / "audit.jsonl"
    d.cli("audit", "export", "--tenant", t1, "--output", str(export), key=key_b)
    assert '"type":"key_transition"' in export.read_text().splitlines()[0]
    _, pem, _ = d.cli("audit", "public-key", key=key_b)
    pem_file = tmp_path / "b.pem"
    pem_file.write_text(pem)
    _, out, _ = d.cli("audit", "verify", "--file", str(export), "--public-key", str(pem_file),
                      key=key_b)
    assert re.search(r"ok, \d+ entries, 2 checkpoints", out), out
    r = subprocess.run(["/usr/bin/python3", str(VERIFIER), str(export), "--public-key",
                        str(pem_file)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr

    # and A alone no longer does
    assert d.check(t1, key=key_a, expect=1) == {"github.webhook": "UNREADABLE",
                                                "sso.client": "UNREADABLE"}
    _, out, _ = d.cli("keys", "status", key=key_a)
    assert "ready to remove previous keys: no" in out
    assert "not in the key ring" in out

    # idempotent
    _, out, _ = d.cli("keys", "rotate", key=key_b, previous=key_a)
    assert "data keys re-wrapped: 0" in out and "data keys already current: 2" in out
    assert "checkpoint key transitions recorded: 0" in out, out

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
