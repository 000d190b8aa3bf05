-- 0010 API keys (PostgreSQL): A7, Z3, src/auth/auth.h.
--
-- One row per key. The key text ("shk_<tenant>.<random>") is shown once and
-- never stored: hash is the lower-case hex SHA-256 of the whole text, unique
-- in the deployment; prefix ("shk_" and the first 8 characters of the random
-- part) identifies the key to people. scopes is the bitmask of enum
-- auth_scope (bit values are stable; a new scope widens the CHECK in a new
-- migration). created_by is the user the key acts for: the key's effective
-- permissions are its scopes cut by that user's current role, and the key
-- goes with the user (ON DELETE CASCADE). parent_id is the key that created
-- this one (NULL when a user did): revoking a key revokes its descendants.
-- Times are bigint Unix seconds from the caller; expires_at NULL = never.
--
-- An ordinary business table: tenant_id first in the primary key, ENABLE +
-- FORCE ROW LEVEL SECURITY, a tenant policy (0001) and a maintenance policy
-- (0002), DML grants to shiplog_app (DELETE included: creation recycles the
-- oldest dead keys of a full tenant). Authentication finds the tenant in the
-- key text itself, so no cross-tenant function is needed.

CREATE TABLE api_keys (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    hash         text NOT NULL UNIQUE CHECK (length(hash) = 64),
    prefix       text NOT NULL CHECK (length(prefix) = 12 AND substr(prefix, 1, 4) = 'shk_'),
    name         text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 100),
    scopes       integer NOT NULL CHECK (scopes BETWEEN 1 AND 511),
    created_by   uuid NOT NULL,
    parent_id    uuid,
    created_at   bigint NOT NULL,
    expires_at   bigint CHECK (expires_at IS NULL OR expires_at > created_at),
    last_used_at bigint,
    revoked_at   bigint,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- A user's keys (list filter, and the cascade from users).
CREATE INDEX api_keys_created_by ON api_keys (tenant_id, created_by);
-- The keys a key made (revocation cascades down this).
CREATE INDEX api_keys_parent ON api_keys (tenant_id, parent_id) WHERE parent_id IS NOT NULL;

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_isolation ON api_keys
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY api_keys_maintenance ON api_keys TO shiplog_maintenance
    USING (true) WITH CHECK (true);

REVOKE ALL ON api_keys FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON api_keys TO shiplog_app;
