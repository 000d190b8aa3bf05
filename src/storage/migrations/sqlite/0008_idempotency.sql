-- 0008 idempotency keys (SQLite): stored responses for Idempotency-Key on POST
-- (H7, src/idempotency/idempotency.h).
--
-- One row per (tenant, principal, key). state 'in_progress' while the first
-- request runs (claim names the request that holds it, so a slow handler
-- whose key was taken over cannot write); 'done' with the response to replay
-- (status, Content-Type, Location, body: never Set-Cookie). fingerprint is
-- the hex SHA-256 of method, path, query and request body. Times are INTEGER
-- Unix seconds from the caller; created_at is the time of the request that
-- holds the key, and rows older than 24 h are dead (idem_purge deletes them).
--
-- Isolation by construction, as every table (T3): each statement binds the
-- transaction's tenant as $1, and the primary key starts with tenant_id. The
-- one cross-tenant question (which tenants have expired keys) is bound to the
-- nil UUID and reads tenant ids only. A rowid table, not WITHOUT ROWID: rows
-- carry response bodies of up to 64 KiB.

CREATE TABLE idempotency_keys (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    principal    TEXT NOT NULL CHECK (length(principal) BETWEEN 1 AND 128),
    idem_key     TEXT NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 255),
    fingerprint  TEXT NOT NULL CHECK (length(fingerprint) = 64),
    claim        TEXT NOT NULL CHECK (length(claim) = 32),
    state        TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
    created_at   INTEGER NOT NULL,
    completed_at INTEGER,
    status       INTEGER CHECK (status IS NULL OR status BETWEEN 200 AND 599),
    content_type TEXT CHECK (content_type IS NULL OR length(content_type) <= 255),
    location     TEXT CHECK (location IS NULL OR length(location) <= 2048),
    body         BLOB CHECK (body IS NULL OR length(body) <= 65536),
    PRIMARY KEY (tenant_id, principal, idem_key),
    CHECK ((state = 'done') = (completed_at IS NOT NULL AND status IS NOT NULL AND body IS NOT NULL))
) STRICT;

-- Purging: a tenant's expired rows, and which tenants have any.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at, tenant_id);
