-- 0013 integrations (SQLite): I1, C1, C3, src/ingest/integrations.h.
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
-- only for azure-devops. Times are INTEGER Unix seconds from the caller;
-- disabled_at set = deliveries are refused.
--
-- Isolation by construction, as every table (T3): each statement binds the
-- transaction's tenant as $1, and the primary key starts with tenant_id. The
-- one cross-tenant question (which tenant owns an id, for the unauthenticated
-- webhook endpoint) is storage_integration_tenant, answered from the
-- integrations_id index with the tenant id only.

CREATE TABLE integrations (
    tenant_id            TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   TEXT NOT NULL CHECK (length(id) = 36),
    provider             TEXT NOT NULL CHECK (provider IN ('github', 'gitlab', 'bitbucket',
                                                           'bitbucket-server', 'azure-devops')),
    name                 TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    repository_scope     TEXT NOT NULL
                         CHECK (length(CAST(repository_scope AS BLOB)) BETWEEN 1 AND 1000),
    secret_env           BLOB NOT NULL,
    secret_hint          TEXT NOT NULL,
    previous_secret_env  BLOB,
    previous_valid_until INTEGER,
    signing_secret_env   BLOB,
    signing_secret_hint  TEXT,
    azure_auth           TEXT CHECK (azure_auth IN ('basic', 'header', 'both')),
    azure_header         TEXT,
    created_at           INTEGER NOT NULL,
    created_by           TEXT NOT NULL CHECK (length(created_by) = 36),
    rotated_at           INTEGER,
    disabled_at          INTEGER,
    PRIMARY KEY (tenant_id, id),
    CHECK ((previous_secret_env IS NULL) = (previous_valid_until IS NULL)),
    CHECK ((azure_auth IS NULL) = (provider <> 'azure-devops')),
    CHECK (signing_secret_env IS NULL OR provider = 'gitlab')
) STRICT, WITHOUT ROWID;

-- The webhook endpoint's lookup by id alone; ids are unique in the deployment.
CREATE UNIQUE INDEX integrations_id ON integrations (id);
