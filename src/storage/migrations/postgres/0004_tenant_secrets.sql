-- 0004 tenant secrets (PostgreSQL): the generic encrypted secret store (C1, C3).
--
-- envelope is an AES-256-GCM envelope (crypto/aead.h) sealed with a key
-- derived from the tenant's data key, which lives in the key vault database,
-- never here (docs/KEYS.md). hint holds at most the last four characters,
-- for display (C3). Same row-level security shape as 0001_init.sql, and the
-- maintenance policy of 0002_maintenance.sql for operator commands.

CREATE TABLE tenant_secrets (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    purpose    text        NOT NULL CHECK (length(purpose) BETWEEN 1 AND 64),
    envelope   bytea       NOT NULL,
    hint       text        NOT NULL DEFAULT '' CHECK (length(hint) <= 4),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

ALTER TABLE tenant_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_secrets_isolation ON tenant_secrets
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_secrets_maintenance ON tenant_secrets TO shiplog_maintenance
    USING (true) WITH CHECK (true);

REVOKE ALL ON tenant_secrets FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_secrets TO shiplog_app;
