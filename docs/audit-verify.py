#!/usr/bin/env python3
"""Re-verify a shiplog audit export (docs/AUDIT.md, "Verifying an export").

usage: audit-verify.py EXPORT.jsonl [--public-key KEY.pem]...

Checks, with nothing but the Python 3 standard library and the openssl CLI:
the chain (seq order, links, every hash recomputed from the canonical
encoding), the head line, and every checkpoint: signed by one of the given
public keys (Ed25519, `openssl pkeyutl -verify -rawin`) over the hash the
entry has. Without --public-key, checkpoints are reported but not trusted.
Prints "ok, N entries, K checkpoints" or "BROKEN at entry S: why" and exits
1 on any break, 2 on a usage error.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

TAG = b"shiplog-audit-v1\n"
CHECKPOINT_TAG = b"shiplog-audit-checkpoint-v1\n"
SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
FIELDS = ["tenant_id", "seq", "at", "actor_type", "actor_id", "client_ip",
          "request_id", "action", "target", "outcome", "details"]
MEMBERS = {
    "entry": set(FIELDS) | {"type", "prev_hash", "hash"},
    "checkpoint": {"type", "tenant_id", "seq", "hash", "at", "public_key", "signature"},
    "head": {"type", "tenant_id", "seq", "hash"},
}


class Broken(Exception):
    def __init__(self, seq, why):
        super().__init__(why)
        self.seq, self.why = seq, why


def canonical(e):
    out = bytearray(TAG)
    for name in FIELDS:
        v = str(e[name]).encode("utf-8")
        out += str(len(v)).encode() + b":" + v + b"\n"
    return bytes(out)


def unhex(s, n):
    b = bytes.fromhex(s)
    if len(b) != n or len(s) != 2 * n:
        raise ValueError("bad length")
    return b


def pem_public_key(path):
    text = open(path, encoding="ascii").read()
    body = text.split("-----BEGIN PUBLIC KEY-----")[1].split("-----END PUBLIC KEY-----")[0]
    der = base64.b64decode("".join(body.split()))
    if len(der) != 44 or not der.startswith(SPKI_PREFIX):
        raise ValueError(path + " is not an Ed25519 public key")
    return der[12:]


def openssl_verify(pem_path, message, signature):
    with tempfile.TemporaryDirectory() as d:
        msg, sig = os.path.join(d, "msg"), os.path.join(d, "sig")
        open(msg, "wb").write(message)
        open(sig, "wb").write(signature)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem_path,
                            "-rawin", "-in", msg, "-sigfile", sig],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode == 0


def verify(lines, keys):
    """keys: {raw public key bytes: pem path}. Returns (entries, checkpoints)."""
    tenant, last_seq, last_hash = None, 0, bytes(32)
    by_hash = {}  # stored hash -> seq, to tell a reordering from a wrong link
    records = []
    for n, line in enumerate(lines, 1):
        try:
            r = json.loads(line)
            if not isinstance(r, dict) or set(r) != MEMBERS[r["type"]]:
                raise ValueError
            if not isinstance(r["seq"], int) or r["seq"] < 0:
                raise ValueError
            if any(not isinstance(v, str) for k, v in r.items() if k != "seq"):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise Broken(last_seq + 1, "malformed (line %d is not an export record)" % n)
        records.append(r)
        if r["type"] == "entry":
            try:
                by_hash.setdefault(unhex(r["hash"], 32), r["seq"])
            except ValueError:
                pass
    if not records:
        raise Broken(1, "malformed (empty export)")
    tenant = records[0]["tenant_id"]
    entries = checkpoints = 0
    ahead = None
    head = None
    for r in records:
        if r["tenant_id"] != tenant:
            raise Broken(last_seq + 1, "malformed (a record of another tenant)")
        if head is not None:
            raise Broken(last_seq + 1, "malformed (a record follows the head)")
        seq = r["seq"]
        if r["type"] == "entry":
            if seq > last_seq + 1:
                raise Broken(last_seq + 1, "missing (the chain jumps from entry %d to %d)"
                             % (last_seq, seq))
            if seq <= last_seq:
                raise Broken(seq, "reordered (appears again after entry %d)" % last_seq)
            if ahead is not None:
                raise Broken(ahead, "malformed (checkpoint listed before its entry)")
            try:
                prev, stored = unhex(r["prev_hash"], 32), unhex(r["hash"], 32)
            except ValueError:
                raise Broken(seq, "malformed (a hash is not 64 hex digits)")
            if prev != last_hash:
                other = by_hash.get(prev)
                if other is not None and other != seq:
                    raise Broken(seq, "reordered (links to entry %d)" % other)
                raise Broken(seq, "wrong link")
            if hashlib.sha256(prev + canonical(r)).digest() != stored:
                raise Broken(seq, "content changed (the stored hash does not match)")
            last_seq, last_hash = seq, stored
            entries += 1
        elif r["type"] == "checkpoint":
            if seq > last_seq:
                ahead = ahead or seq
                continue
            if seq < last_seq:
                raise Broken(seq, "malformed (checkpoint out of order)")
            try:
                h, pub, sig = (unhex(r["hash"], 32), unhex(r["public_key"], 32),
                               unhex(r["signature"], 64))
            except ValueError:
                raise Broken(seq, "checkpoint signature invalid (malformed)")
            if pub not in keys:
                raise Broken(seq, "checkpoint signed by an unknown key")
            msg = (CHECKPOINT_TAG + tenant.encode() + b"\n" + str(seq).encode() + b"\n"
                   + r["hash"].encode() + b"\n" + r["at"].encode() + b"\n")
            if not openssl_verify(keys[pub], msg, sig):
                raise Broken(seq, "checkpoint signature invalid")
            if h != last_hash:
                raise Broken(seq, "checkpoint mismatch (rewritten)")
            checkpoints += 1
        else:
            head = r
            try:
                hh = unhex(r["hash"], 32)
            except ValueError:
                raise Broken(last_seq, "head mismatch (malformed head)")
            if seq > last_seq:
                raise Broken(last_seq + 1, "truncated (the head is at entry %d)" % seq)
            if seq < last_seq or hh != last_hash:
                raise Broken(min(seq + 1, last_seq), "head mismatch")
    if ahead is not None:
        raise Broken(last_seq + 1, "truncated (a checkpoint is at entry %d)" % ahead)
    if head is None and entries:
        raise Broken(last_seq, "head mismatch (no head)")
    return tenant, entries, checkpoints


def main(argv):
    args, keys, path = argv[1:], {}, None
    while args:
        a = args.pop(0)
        if a == "--public-key" and args:
            p = args.pop(0)
            keys[pem_public_key(p)] = p
        elif path is None and not a.startswith("--"):
            path = a
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if path is None:
        print(__doc__, file=sys.stderr)
        return 2
    with open(path, "rb") as f:
        lines = [l.rstrip(b"\n").decode("utf-8") for l in f]
    try:
        tenant, n, k = verify(lines, keys)
    except Broken as b:
        print("BROKEN at entry %d: %s" % (b.seq, b.why))
        return 1
    print("tenant %s: ok, %d entries, %d checkpoints" % (tenant, n, k))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
