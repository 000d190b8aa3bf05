#!/usr/bin/env python3
"""Re-verify a shiplog audit export (docs/AUDIT.md, "Verifying an export").

usage: audit-verify.py EXPORT.jsonl [--public-key KEY.pem]...

Checks, with nothing but the Python 3 standard library and the openssl CLI:
the chain (seq order, links, every hash recomputed from the canonical
encoding), the head line, and every checkpoint: signed by a trusted key
(Ed25519, `openssl pkeyutl -verify -rawin`) over the hash the entry has.
Trusted are the given public keys and the older keys that the export's
key_transition lines, validly signed by an already trusted key, lead to.
The last entry must be covered by a trusted checkpoint (anchored), else the
export is BROKEN: entries after the last one could have been written by
anyone. Without --public-key nothing is trusted, so an export with entries
is always BROKEN (unknown key, or not anchored).
Prints "ok, N entries, K checkpoints" or "BROKEN at entry S: why" and exits
1 on any break, 2 on a usage error (including an unreadable key file).
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
TRANSITION_TAG = b"shiplog-audit-key-transition-v1\n"
MAX_TRANSITIONS = 64  # AUDIT_MAX_KEY_TRANSITIONS
MAX_TRUSTED_KEYS = 16  # AUDIT_MAX_TRUSTED_KEYS
SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
FIELDS = ["tenant_id", "seq", "at", "actor_type", "actor_id", "client_ip",
          "request_id", "action", "target", "outcome", "details"]
MEMBERS = {
    "entry": set(FIELDS) | {"type", "prev_hash", "hash"},
    "checkpoint": {"type", "tenant_id", "seq", "hash", "at", "public_key", "signature"},
    "head": {"type", "tenant_id", "seq", "hash"},
    "key_transition": {"type", "tenant_id", "old_public_key", "new_public_key", "signature", "at"},
}


class Usage(Exception):
    pass


def no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError("duplicate member " + k)
        d[k] = v
    return d


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
    try:
        with open(path, encoding="ascii") as f:
            text = f.read()
        body = text.split("-----BEGIN PUBLIC KEY-----")[1].split("-----END PUBLIC KEY-----")[0]
        der = base64.b64decode("".join(body.split()), validate=True)
    except (OSError, UnicodeDecodeError, IndexError, ValueError) as e:
        raise Usage("%s: not a PEM public key (%s)" % (path, e.__class__.__name__))
    if len(der) != 44 or not der.startswith(SPKI_PREFIX):
        raise Usage(path + " is not an Ed25519 public key")
    return der[12:]


def openssl_verify(pub, message, signature):
    """Ed25519 verification of signature over message by the raw public key pub."""
    pem = (b"-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(SPKI_PREFIX + pub)
           + b"\n-----END PUBLIC KEY-----\n")
    with tempfile.TemporaryDirectory() as d:
        key, msg, sig = (os.path.join(d, n) for n in ("key.pem", "msg", "sig"))
        for path, data in ((key, pem), (msg, message), (sig, signature)):
            with open(path, "wb") as f:
                f.write(data)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", key,
                            "-rawin", "-in", msg, "-sigfile", sig],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode == 0


def extend_keys(keys, tenant, transitions):
    """Adds the old key of each transition whose new key is trusted and whose
    signature verifies, until nothing changes (as the C verifier does)."""
    grew = True
    while grew:
        grew = False
        for old, new, sig, at in transitions:
            if new not in keys or old in keys:
                continue
            msg = (TRANSITION_TAG + tenant.encode() + b"\n" + old.hex().encode() + b"\n"
                   + new.hex().encode() + b"\n" + at.encode() + b"\n")
            if openssl_verify(new, msg, sig):
                if len(keys) == MAX_TRUSTED_KEYS:
                    raise Broken(1, "malformed (too many trusted keys)")
                keys.add(old)
                grew = True


def verify(lines, keys):
    """keys: a set of raw public keys. Returns (tenant, entries, checkpoints)."""
    keys = set(keys)
    tenant, last_seq, last_hash = None, 0, bytes(32)
    by_hash = {}  # stored hash -> seq, to tell a reordering from a wrong link
    records = []
    for n, line in enumerate(lines, 1):
        try:
            if isinstance(line, bytes):
                line = line.decode("utf-8")
            r = json.loads(line, object_pairs_hook=no_duplicates)
            if not isinstance(r, dict) or set(r) != MEMBERS[r["type"]]:
                raise ValueError
            if "seq" in r and (type(r["seq"]) is not int or r["seq"] < 0):  # not a bool
                raise ValueError
            if any(not isinstance(v, str) for k, v in r.items() if k != "seq"):
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
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
    anchored = 0
    ahead = None
    head = None
    transitions = []
    chain_started = False
    for n, r in enumerate(records, 1):
        if r["tenant_id"] != tenant:
            raise Broken(last_seq + 1, "malformed (a record of another tenant)")
        if head is not None:
            raise Broken(last_seq + 1, "malformed (a record follows the head)")
        if r["type"] == "key_transition":
            try:
                if chain_started or len(transitions) == MAX_TRANSITIONS or len(r["at"]) != 27:
                    raise ValueError
                transitions.append((unhex(r["old_public_key"], 32), unhex(r["new_public_key"], 32),
                                    unhex(r["signature"], 64), r["at"]))
            except ValueError:
                raise Broken(last_seq + 1, "malformed (line %d: a key transition out of place)" % n)
            continue
        if not chain_started:
            chain_started = True
            extend_keys(keys, tenant, transitions)
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
            if not openssl_verify(pub, msg, sig):
                raise Broken(seq, "checkpoint signature invalid")
            if h != last_hash:
                raise Broken(seq, "checkpoint mismatch (rewritten)")
            checkpoints += 1
            anchored = seq
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
    if last_seq > anchored:
        raise Broken(anchored + 1, "not anchored: entries after seq %d are not covered by a "
                     "trusted checkpoint" % anchored)
    return tenant, entries, checkpoints


def main(argv):
    args, keys, path = argv[1:], set(), None
    while args:
        a = args.pop(0)
        if a == "--public-key" and args:
            try:
                keys.add(pem_public_key(args.pop(0)))
            except Usage as u:
                print("audit-verify: %s" % u, file=sys.stderr)
                return 2
        elif path is None and not a.startswith("--"):
            path = a
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if path is None:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(path, "rb") as f:
            lines = [l.rstrip(b"\n") for l in f]
    except OSError as e:
        print("audit-verify: cannot read %s: %s" % (path, e.strerror), file=sys.stderr)
        return 2
    try:
        tenant, n, k = verify(lines, keys)
    except Broken as b:
        print("BROKEN at entry %d: %s" % (b.seq, b.why))
        return 1
    print("tenant %s: ok, %d entries, %d checkpoints" % (tenant, n, k))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
