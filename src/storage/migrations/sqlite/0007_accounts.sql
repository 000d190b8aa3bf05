-- 0007 accounts (SQLite): users, sessions, single-use tokens and sign-in
-- failure counters (A1-A6, src/accounts/accounts.h).
--
-- Times are INTEGER Unix seconds (the accounts module takes its clock from a
-- hook, so tests can move time without sleeping). Secrets are never stored:
-- sessions and tokens hold the lower-case hex SHA-256 of their random part,
-- users the bcrypt hash of the peppered password and the id of the master
-- key whose pepper made it (docs/KEYS.md).
--
-- Two tables are not tenant-scoped, by necessity, and the accounts module
-- reaches them only with statements bound to the "directory" context
-- (the nil UUID as $1, ACCOUNTS_DIRECTORY_TENANT) that read or write one row
-- by its exact key:
--   user_emails        maps the hash of an e-mail address to its one tenant
--                      and user, so sign-in can find the tenant from an
--                      e-mail; the primary key makes an address unique in the
--                      deployment. It holds no address, only its hash.
--   login_failures_ip  failure counters per client IP (hashed), shared by all
--                      tenants, since an attacker spraying guesses does not
--                      stay within one tenant.
-- On PostgreSQL the same two tables are reached only through SECURITY DEFINER
-- functions (see the PostgreSQL migration); SQLite has no roles, so there the
-- guarantee is by construction, as for every other table (T3).

CREATE TABLE users (
    tenant_id         TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                TEXT NOT NULL CHECK (length(id) = 36),
    email             TEXT NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash     TEXT NOT NULL,
    password_key_id   TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('member', 'editor', 'admin', 'super_admin')),
    email_verified_at INTEGER,
    failed_count      INTEGER NOT NULL DEFAULT 0 CHECK (failed_count >= 0),
    locked_until      INTEGER,
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
) STRICT, WITHOUT ROWID;

CREATE TABLE user_emails (
    email_hash TEXT PRIMARY KEY NOT NULL CHECK (length(email_hash) = 64),
    tenant_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX user_emails_user ON user_emails (tenant_id, user_id);

CREATE TABLE sessions (
    tenant_id       TEXT NOT NULL,
    id_hash         TEXT NOT NULL CHECK (length(id_hash) = 64),
    user_id         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    revoked_at      INTEGER,
    client_ip       TEXT NOT NULL CHECK (length(client_ip) <= 64),
    user_agent      TEXT NOT NULL CHECK (length(CAST(user_agent AS BLOB)) <= 256),
    PRIMARY KEY (tenant_id, id_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

CREATE TABLE auth_tokens (
    tenant_id  TEXT NOT NULL,
    hash       TEXT NOT NULL CHECK (length(hash) = 64),
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'magic_link')),
    user_id    TEXT NOT NULL,
    code_hash  TEXT CHECK (code_hash IS NULL OR length(code_hash) = 64),
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (tenant_id, hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX auth_tokens_user ON auth_tokens (tenant_id, user_id, purpose);
CREATE UNIQUE INDEX auth_tokens_code ON auth_tokens (tenant_id, code_hash) WHERE code_hash IS NOT NULL;

CREATE TABLE login_failures_ip (
    ip_hash      TEXT PRIMARY KEY NOT NULL CHECK (length(ip_hash) = 64),
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL CHECK (count >= 0),
    locked_until INTEGER
) STRICT, WITHOUT ROWID;
