-- 0014 integrations (PostgreSQL): I1, C1, C3, src/ingest/integrations.h.
--
-- One row per integration: a provider's webhooks pointed at
-- /hooks/<provider>/<id>. id is a version-4 UUID from the CSPRNG, unique in
-- the deployment (the webhook endpoint finds the tenant by it, so it must be
-- unguessable). The secrets are never stored in plaintext: secret_env,
-- previous_secret_env and signing_secret_env are envelopes of
-- secrets_seal (purposes "webhook.secret" and "webhook.signing", record id =
-- id), so an envelope copied into another row, tenant or purpose does not
-- open. secret_hint / signing_secret_hint are the last characters only (C3).
-- After a rotation the old envelope stays in previous_secret_env and is
-- accepted until previous_valid_until (Unix seconds). repository_scope is
-- the normalized glob list (one pattern a line). azure_auth / azure_header
-- only for azure-devops. Times are bigint Unix seconds from the caller;
-- disabled_at set = deliveries are refused.
--
-- An ordinary business table: tenant_id first in the primary key, ENABLE +
-- FORCE ROW LEVEL SECURITY, a tenant policy (0001) and a maintenance policy
-- (0002), DML grants to shiplog_app. The webhook endpoint arrives without a
-- tenant: it asks shiplog_integration_tenant(id), a SECURITY DEFINER
-- function owned by the migrating role that answers for one id the caller
-- already has, with the tenant id only (never a list, never a secret).

CREATE TABLE integrations (
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   uuid NOT NULL,
    provider             text NOT NULL CHECK (provider IN ('github', 'gitlab', 'bitbucket',
                                                           'bitbucket-server', 'azure-devops')),
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    repository_scope     text NOT NULL CHECK (octet_length(repository_scope) BETWEEN 1 AND 1000),
    secret_env           bytea NOT NULL,
    secret_hint          text NOT NULL,
    previous_secret_env  bytea,
    previous_valid_until bigint,
    signing_secret_env   bytea,
    signing_secret_hint  text,
    azure_auth           text CHECK (azure_auth IN ('basic', 'header', 'both')),
    azure_header         text,
    created_at           bigint NOT NULL,
    created_by           uuid NOT NULL,
    rotated_at           bigint,
    disabled_at          bigint,
    PRIMARY KEY (tenant_id, id),
    CHECK ((previous_secret_env IS NULL) = (previous_valid_until IS NULL)),
    CHECK ((azure_auth IS NULL) = (provider <> 'azure-devops')),
    CHECK (signing_secret_env IS NULL OR provider = 'gitlab')
);

-- The webhook endpoint's lookup by id alone; ids are unique in the deployment.
CREATE UNIQUE INDEX integrations_id ON integrations (id);

ALTER TABLE integrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE integrations FORCE ROW LEVEL SECURITY;
CREATE POLICY integrations_isolation ON integrations
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY integrations_maintenance ON integrations TO shiplog_maintenance
    USING (true) WITH CHECK (true);

REVOKE ALL ON integrations FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON integrations TO shiplog_app;

-- The tenant of an enabled integration, or NULL: the one question the
-- unauthenticated webhook endpoint may ask before it knows a tenant.
CREATE FUNCTION shiplog_integration_tenant(p_id uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.tenant_id FROM public.integrations i WHERE i.id = p_id AND i.disabled_at IS NULL
$$;

REVOKE ALL ON FUNCTION shiplog_integration_tenant(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION shiplog_integration_tenant(uuid) TO shiplog_app;
