"""The audit trail through the CLI (L1-L5, docs/AUDIT.md): events recorded by
real commands, checkpoints, verification of the database and of an export, and
the independent stdlib-and-openssl verifier in docs/ that a third party runs."""

import hashlib
import importlib.util
import json
import re
import subprocess
from pathlib import Path

from deployment import new_key, secret_value

REPO = Path(__file__).resolve().parents[2]
VERIFIER = REPO / "docs" / "audit-verify.py"


def third_party_verify(export, pem):
    """docs/audit-verify.py, as an outside verifier runs it (Debian's python3)."""
    args = ["/usr/bin/python3", str(VERIFIER), str(export)]
    if pem:
        args += ["--public-key", str(pem)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_audit_chain_checkpoint_export_and_outside_verification(deploy, tmp_path):
    d = deploy(new_key())
    tenant = d.create_tenant("audit-one")
    other = d.create_tenant("audit-two")
    d.put(tenant, "ci.token", secret_value("ci"))
    d.put(tenant, "sso.client", secret_value("sso"), purpose="sso")

    _, out, _ = d.cli("audit", "checkpoint")
    assert f"tenant {tenant}: checkpoint signed" in out, out
    _, out, _ = d.cli("audit", "checkpoint")
    assert f"tenant {tenant}: up to date" in out, out  # nothing new to sign
    d.put(tenant, "late", secret_value("late"))  # an entry after the checkpoint

    _, out, _ = d.cli("audit", "verify")
    # the late entry is not checkpointed yet: fine in the database, and counted
    assert re.search(rf"tenant {tenant}: ok, [4-9] entries, 1 checkpoints, 1 not yet anchored",
                     out), out
    assert f"tenant {other}: ok" in out, out

    export = tmp_path / "audit.jsonl"
    d.cli("audit", "export", "--tenant", tenant, "--output", str(export))
    lines = [json.loads(x) for x in export.read_text().splitlines()]
    entries = [x for x in lines if x.get("type") == "entry"]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert {e["action"] for e in entries} >= {"tenant.created", "secret.written"}
    assert all(e["tenant_id"] == tenant for e in entries)
    _, pem, _ = d.cli("audit", "public-key")
    assert pem.startswith("-----BEGIN PUBLIC KEY-----"), pem
    pem_file = tmp_path / "checkpoint.pem"
    pem_file.write_text(pem)

    # the export verifies, by the CLI and by the outside script; exporting signed
    # a checkpoint of the head first, so the late entry is anchored too
    assert [x["seq"] for x in lines if x.get("type") == "checkpoint"][-1] == entries[-1]["seq"]
    rc, text = third_party_verify(export, pem_file)
    assert rc == 0 and re.search(r"ok, \d+ entries, 2 checkpoints", text), text
    d.cli("audit", "verify", "--file", str(export), "--public-key", str(pem_file))

    raw = export.read_text().splitlines()
    entry_idx = [i for i, x in enumerate(lines) if x.get("type") == "entry"]

    # changed content
    changed = list(raw)
    doc = json.loads(changed[entry_idx[1]])
    doc["target"] = doc["target"] + "x"
    changed[entry_idx[1]] = json.dumps(doc, separators=(",", ":"))
    # a missing entry
    missing = [x for i, x in enumerate(raw) if i != entry_idx[2]]
    for name, tampered in (("changed", changed), ("missing", missing)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("\n".join(tampered) + "\n")
        rc, text = third_party_verify(path, pem_file)
        assert rc == 1 and "BROKEN at entry" in text, (name, text)
        rc, out, _ = d.cli("audit", "verify", "--file", str(path), "--public-key", str(pem_file),
                           expect=1)
        assert "BROKEN at entry" in out, (name, out)

    # a checkpoint checked against someone else's key is not trusted
    stranger = deploy(new_key())
    _, stranger_pem, _ = stranger.cli("audit", "public-key")
    stranger_file = tmp_path / "stranger.pem"
    stranger_file.write_text(stranger_pem)
    rc, text = third_party_verify(export, stranger_file)
    assert rc == 1, text


def load_verifier():
    spec = importlib.util.spec_from_file_location("audit_verify", VERIFIER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_forged_export_without_checkpoints_is_refused(deploy, tmp_path):
    """Anyone can write a consistent chain; without a trusted checkpoint over
    its last entry an export proves nothing, and both verifiers say so."""
    d = deploy(new_key())
    tenant = d.create_tenant("audit-forged")
    d.put(tenant, "ci.token", secret_value("ci"))
    export = tmp_path / "audit.jsonl"
    d.cli("audit", "export", "--tenant", tenant, "--output", str(export))
    _, pem, _ = d.cli("audit", "public-key")
    pem_file = tmp_path / "checkpoint.pem"
    pem_file.write_text(pem)
    rc, text = third_party_verify(export, pem_file)
    assert rc == 0, text

    # forge: drop the checkpoints, change an entry, recompute every hash and the head
    v = load_verifier()
    forged, prev = [], bytes(32)
    for line in export.read_text().splitlines():
        doc = json.loads(line)
        if doc["type"] == "entry":
            if doc["seq"] == 1:
                doc["actor_id"] = "someone-else"
            doc["prev_hash"] = prev.hex()
            prev = hashlib.sha256(prev + v.canonical(doc)).digest()
            doc["hash"] = prev.hex()
        elif doc["type"] == "head":
            doc["hash"] = prev.hex()
        elif doc["type"] == "checkpoint":
            continue
        forged.append(json.dumps(doc, separators=(",", ":")))
    path = tmp_path / "forged.jsonl"
    path.write_text("\n".join(forged) + "\n")
    rc, text = third_party_verify(path, pem_file)
    assert rc == 1 and "not anchored: entries after seq 0" in text, text
    rc, out, _ = d.cli("audit", "verify", "--file", str(path), "--public-key", str(pem_file),
                       expect=1)
    assert "BROKEN at entry 1: not anchored: entries after seq 0" in out, out

    # the outside verifier's input checks: duplicate members, booleans, bad UTF-8, bad PEM
    raw = export.read_text().splitlines()
    head = json.loads(raw[-1])
    dup = raw[:-1] + [raw[-1][:-1] + ',"seq":%d}' % head["seq"]]
    head["seq"] = True
    boolean = raw[:-1] + [json.dumps(head, separators=(",", ":"))]
    for name, lines in (("dup", dup), ("bool", boolean)):
        p = tmp_path / f"{name}.jsonl"
        p.write_text("\n".join(lines) + "\n")
        rc, text = third_party_verify(p, pem_file)
        assert rc == 1 and "malformed" in text, (name, text)
    p = tmp_path / "utf8.jsonl"
    p.write_bytes(export.read_bytes() + b"\xff\xfe\n")
    rc, text = third_party_verify(p, pem_file)
    assert rc == 1 and "malformed" in text and "Traceback" not in text, text
    bad_pem = tmp_path / "bad.pem"
    bad_pem.write_text("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n")
    rc, text = third_party_verify(export, bad_pem)
    assert rc == 2 and "Traceback" not in text, text
