-- 0009 idempotency keys (PostgreSQL): stored responses for Idempotency-Key on
-- POST (H7, src/idempotency/idempotency.h).
--
-- One row per (tenant, principal, key). state 'in_progress' while the first
-- request runs (claim names the request that holds it, so a slow handler
-- whose key was taken over cannot write); 'done' with the response to replay
-- (status, Content-Type, Location, body: never Set-Cookie). fingerprint is
-- the hex SHA-256 of method, path, query and request body. Times are bigint
-- Unix seconds from the caller; created_at is the time of the request that
-- holds the key, and rows older than 24 h are dead (idem_purge deletes them).
--
-- An ordinary business table: tenant_id first in the primary key, ENABLE +
-- FORCE ROW LEVEL SECURITY, a tenant policy (0001) and a maintenance policy
-- (0002), DML grants to shiplog_app (DELETE included: releasing a key and
-- purging expired ones are the application's job).
--
-- The one cross-tenant question, which tenants have expired keys, goes
-- through idempotency_expired_tenants, a SECURITY DEFINER function owned by
-- the migrating role (a member of shiplog_maintenance, so it sees every row)
-- that returns tenant ids only, never content, like accounts_cleanup_tenants
-- (0008). The rows are then deleted in ordinary tenant transactions.

CREATE TABLE idempotency_keys (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    principal    text NOT NULL CHECK (octet_length(principal) BETWEEN 1 AND 128),
    idem_key     text NOT NULL CHECK (octet_length(idem_key) BETWEEN 1 AND 255),
    fingerprint  text NOT NULL CHECK (length(fingerprint) = 64),
    claim        text NOT NULL CHECK (length(claim) = 32),
    state        text NOT NULL CHECK (state IN ('in_progress', 'done')),
    created_at   bigint NOT NULL,
    completed_at bigint,
    status       integer CHECK (status IS NULL OR status BETWEEN 200 AND 599),
    content_type text CHECK (content_type IS NULL OR octet_length(content_type) <= 255),
    location     text CHECK (location IS NULL OR octet_length(location) <= 2048),
    body         bytea CHECK (body IS NULL OR octet_length(body) <= 65536),
    PRIMARY KEY (tenant_id, principal, idem_key),
    CHECK ((state = 'done') = (completed_at IS NOT NULL AND status IS NOT NULL AND body IS NOT NULL))
);

-- Purging: a tenant's expired rows, and which tenants have any.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at, tenant_id);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_isolation ON idempotency_keys
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY idempotency_keys_maintenance ON idempotency_keys TO shiplog_maintenance
    USING (true) WITH CHECK (true);

REVOKE ALL ON idempotency_keys FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO shiplog_app;

-- Tenant ids above p_after, in uuid order, with keys created at or before
-- p_cutoff; at most p_max (clamped to 0..1000). Runs with the owner's rights;
-- reveals ids only.
CREATE FUNCTION idempotency_expired_tenants(p_after uuid, p_cutoff bigint, p_max integer)
    RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT DISTINCT k.tenant_id FROM public.idempotency_keys k
    WHERE k.tenant_id > p_after AND k.created_at <= p_cutoff
    ORDER BY k.tenant_id
    LIMIT least(greatest(p_max, 0), 1000)
$$;

REVOKE ALL ON FUNCTION idempotency_expired_tenants(uuid, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idempotency_expired_tenants(uuid, bigint, integer) TO shiplog_app;
