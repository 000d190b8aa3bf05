-- 0009 API keys (SQLite): A7, Z3, src/auth/auth.h.
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
-- Times are INTEGER Unix seconds from the caller; expires_at NULL = never.
--
-- Isolation by construction, as every table (T3): each statement binds the
-- transaction's tenant as $1, and the primary key starts with tenant_id.

CREATE TABLE api_keys (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           TEXT NOT NULL CHECK (length(id) = 36),
    hash         TEXT NOT NULL UNIQUE CHECK (length(hash) = 64),
    prefix       TEXT NOT NULL CHECK (length(prefix) = 12 AND substr(prefix, 1, 4) = 'shk_'),
    name         TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 100),
    scopes       INTEGER NOT NULL CHECK (scopes BETWEEN 1 AND 511),
    created_by   TEXT NOT NULL,
    parent_id    TEXT CHECK (parent_id IS NULL OR length(parent_id) = 36),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER CHECK (expires_at IS NULL OR expires_at > created_at),
    last_used_at INTEGER,
    revoked_at   INTEGER,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- A user's keys (list filter, and the cascade from users).
CREATE INDEX api_keys_created_by ON api_keys (tenant_id, created_by);
-- The keys a key made (revocation cascades down this).
CREATE INDEX api_keys_parent ON api_keys (tenant_id, parent_id) WHERE parent_id IS NOT NULL;
