-- 0005 audit key transitions (PostgreSQL): checkpoint keys across master key
-- rotations (docs/AUDIT.md "Key transitions").
--
-- A row says, signed by the tenant's new checkpoint key, that checkpoints by
-- old_public_key are the operator's too; `shiplog keys rotate` writes one per
-- tenant and previous master key, and verification trusts the old key only
-- through a valid row. Keys and signature are lower-case hex; "at" is RFC 3339
-- text as signed. The first transition of an old key wins (primary key).
--
-- Rotation runs as the owner, so the application role may only read them.
-- Append-only for everyone, the owner included, by the triggers of 0003, and
-- the row-level security of 0003.

CREATE TABLE audit_key_transitions (
    tenant_id      uuid NOT NULL,
    old_public_key text NOT NULL,
    new_public_key text NOT NULL,
    signature      text NOT NULL,
    at             text NOT NULL,
    PRIMARY KEY (tenant_id, old_public_key)
);

ALTER TABLE audit_key_transitions ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_key_transitions FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_key_transitions_isolation ON audit_key_transitions
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY audit_key_transitions_maintenance ON audit_key_transitions TO shiplog_maintenance
    USING (true) WITH CHECK (true);

REVOKE ALL ON audit_key_transitions FROM PUBLIC;
GRANT SELECT ON audit_key_transitions TO shiplog_app;

CREATE TRIGGER audit_key_transitions_append_only BEFORE UPDATE OR DELETE ON audit_key_transitions
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_key_transitions_no_truncate BEFORE TRUNCATE ON audit_key_transitions
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
