-- vault 0001 (PostgreSQL): tenant data keys, kept apart from the data.
--
-- The key vault is its own database, named by SHIPLOG_KEYVAULT_DATABASE_URL. Each row is
-- a tenant's random data key, wrapped (AES-256-GCM envelope) by a key derived
-- from one master key. Deleting a tenant's rows here shreds every encrypted
-- field of that tenant, also in backups of the main database (docs/KEYS.md).
-- Same roles and row-level security rules as the main schema.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'shiplog_app') THEN
        CREATE ROLE shiplog_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'shiplog_maintenance') THEN
        CREATE ROLE shiplog_maintenance NOLOGIN;
    END IF;
    IF NOT pg_has_role(current_user, 'shiplog_maintenance', 'MEMBER') THEN
        EXECUTE format('GRANT shiplog_maintenance TO %I', current_user);
    END IF;
END
$$;

REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO shiplog_app;
REVOKE ALL ON schema_migrations FROM PUBLIC;
GRANT SELECT ON schema_migrations TO shiplog_app;

CREATE TABLE tenant_keys (
    tenant_id     uuid        NOT NULL,
    dek_id        text        NOT NULL CHECK (dek_id ~ '^[0-9a-f]{16}$'),
    master_key_id text        NOT NULL CHECK (master_key_id ~ '^[0-9a-f]{16}$'),
    wrapped       bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    rewrapped_at  timestamptz,
    PRIMARY KEY (tenant_id, dek_id)
);

ALTER TABLE tenant_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_keys_isolation ON tenant_keys
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_keys_maintenance ON tenant_keys TO shiplog_maintenance
    USING (true) WITH CHECK (true);

REVOKE ALL ON tenant_keys FROM PUBLIC;
-- The server only reads data keys and adds them for new tenants; rotation and
-- shredding run as the owner (operator commands), so a compromised server
-- can neither overwrite nor destroy a key.
GRANT SELECT, INSERT ON tenant_keys TO shiplog_app;
