-- 0005 audit key transitions (SQLite): checkpoint keys across master key
-- rotations (docs/AUDIT.md "Key transitions").
--
-- A row says, signed by the tenant's new checkpoint key, that checkpoints by
-- old_public_key are the operator's too; `shiplog keys rotate` writes one per
-- tenant and previous master key, and verification trusts the old key only
-- through a valid row. Keys and signature are lower-case hex; "at" is RFC 3339
-- text as signed. The first transition of an old key wins (primary key), and
-- the rows are append-only like the audit log (L3).

CREATE TABLE audit_key_transitions (
    tenant_id      TEXT NOT NULL CHECK (length(tenant_id) = 36),
    old_public_key TEXT NOT NULL,
    new_public_key TEXT NOT NULL,
    signature      TEXT NOT NULL,
    at             TEXT NOT NULL,
    PRIMARY KEY (tenant_id, old_public_key)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER audit_key_transitions_no_update BEFORE UPDATE ON audit_key_transitions
BEGIN
    SELECT RAISE(ABORT, 'audit_key_transitions is append-only');
END;

CREATE TRIGGER audit_key_transitions_no_delete BEFORE DELETE ON audit_key_transitions
BEGIN
    SELECT RAISE(ABORT, 'audit_key_transitions is append-only');
END;
