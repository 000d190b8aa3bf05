-- 0001 init (PostgreSQL): tenants and the first tenant-scoped business table.
--
-- Run by the owner role (shiplog migrate). The application logs in as a role
-- that is a member of shiplog_app: it owns nothing, is not superuser, has no
-- BYPASSRLS, and only gets DML grants. Every business table has ENABLE and
-- FORCE ROW LEVEL SECURITY with a policy whose USING and WITH CHECK compare
-- the row's tenant with app.tenant_id, set per transaction by the storage
-- layer with set_config('app.tenant_id', $1, true) (T2). An unset or empty
-- setting matches no row.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'shiplog_app') THEN
        CREATE ROLE shiplog_app NOLOGIN;
    END IF;
END
$$;

REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO shiplog_app;

-- Readiness (storage_ready) runs as the application role.
REVOKE ALL ON schema_migrations FROM PUBLIC;
GRANT SELECT ON schema_migrations TO shiplog_app;

CREATE TABLE tenants (
    id         uuid PRIMARY KEY,
    slug       text NOT NULL UNIQUE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenants_isolation ON tenants
    USING (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

REVOKE ALL ON tenants FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO shiplog_app;

CREATE TABLE tenant_settings (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key       text NOT NULL,
    value     text NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

ALTER TABLE tenant_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_settings_isolation ON tenant_settings
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

REVOKE ALL ON tenant_settings FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_settings TO shiplog_app;
