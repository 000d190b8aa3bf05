-- 0003 audit (PostgreSQL): the tamper-evident audit trail (L1-L5, docs/AUDIT.md).
--
-- audit_log holds one hash chain per tenant; audit_heads the last seq and hash
-- of each chain, whose row an append locks (SELECT ... FOR UPDATE) so appends
-- to one tenant serialise and the chain never forks; audit_checkpoints the
-- signed heads. Text columns hold exactly the bytes that were hashed ("at" is
-- RFC 3339 text, not timestamptz, so it round-trips byte for byte).
--
-- Append-only twice over (L3): the application role may only SELECT and
-- INSERT the log and the checkpoints, and triggers refuse UPDATE, DELETE and
-- TRUNCATE for everyone, the owner included (only the owner can disable them,
-- and that is itself a schema change an operator sees).
--
-- Row-level security as in 0001 (tenant policy) and 0002 (maintenance policy).

CREATE TABLE audit_log (
    tenant_id  uuid NOT NULL,
    seq        bigint NOT NULL CHECK (seq > 0),
    at         text NOT NULL,
    actor_type text NOT NULL,
    actor_id   text NOT NULL,
    client_ip  text NOT NULL,
    request_id text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    outcome    text NOT NULL,
    details    text NOT NULL,
    prev_hash  text NOT NULL,
    hash       text NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE audit_heads (
    tenant_id uuid PRIMARY KEY,
    seq       bigint NOT NULL CHECK (seq >= 0),
    hash      text NOT NULL
);

CREATE TABLE audit_checkpoints (
    tenant_id  uuid NOT NULL,
    seq        bigint NOT NULL CHECK (seq > 0),
    hash       text NOT NULL,
    at         text NOT NULL,
    public_key text NOT NULL,
    signature  text NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_isolation ON audit_log
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY audit_log_maintenance ON audit_log TO shiplog_maintenance
    USING (true) WITH CHECK (true);

ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_heads_isolation ON audit_heads
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY audit_heads_maintenance ON audit_heads TO shiplog_maintenance
    USING (true) WITH CHECK (true);

ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_checkpoints_isolation ON audit_checkpoints
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY audit_checkpoints_maintenance ON audit_checkpoints TO shiplog_maintenance
    USING (true) WITH CHECK (true);

REVOKE ALL ON audit_log FROM PUBLIC;
REVOKE ALL ON audit_heads FROM PUBLIC;
REVOKE ALL ON audit_checkpoints FROM PUBLIC;
GRANT SELECT, INSERT ON audit_log TO shiplog_app;
GRANT SELECT, INSERT, UPDATE ON audit_heads TO shiplog_app;
GRANT SELECT, INSERT ON audit_checkpoints TO shiplog_app;

CREATE FUNCTION audit_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the audit trail is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
REVOKE ALL ON FUNCTION audit_refuse_change() FROM PUBLIC;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
