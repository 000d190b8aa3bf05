-- 0011 access and refresh tokens (SQLite): A8, src/auth/tokens.h.
--
-- token_families: one row per sign-in through POST /api/v1/auth/token (a
-- password or an API key exchanged for tokens). Every refresh token and
-- every access token carries its family (the access token's sid claim), so
-- revoking the family (sign-out, reuse of a rotated refresh token, sign out
-- everywhere, password reset) stops them all at once. A family made from an
-- API key remembers the key (api_key_id) and the key's scopes; it goes with
-- the key (ON DELETE CASCADE) and is checked against the key on every use.
-- Every family goes with its user (ON DELETE CASCADE): a removed member's
-- tokens fail because nothing is left to verify them against.
-- expires_at is the family's absolute lifetime; revoked_reason says why it
-- ended ('signout', 'reuse', 'signout_everywhere', 'password_reset',
-- 'role_raised', 'limit').
--
-- refresh_tokens: the text ("shr_<tenant>.<random>") is shown once and never
-- stored: hash is the lower-case hex SHA-256 of the whole text. used_at is
-- set when the token is rotated; presenting it again revokes its family.
--
-- access_token_denylist: the jti of an access token signed out before its
-- expiry, kept until that expiry (and a day more, for the clean-up).
--
-- users.tokens_valid_after: access tokens issued before this time are
-- refused ("sign out everywhere", password reset). NULL = none.
--
-- Times are INTEGER Unix seconds from the caller. Isolation by construction,
-- as every table (T3): each statement binds the transaction's tenant as $1,
-- and the primary keys start with tenant_id.

CREATE TABLE token_families (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             TEXT NOT NULL CHECK (length(id) = 36),
    user_id        TEXT NOT NULL,
    api_key_id     TEXT CHECK (api_key_id IS NULL OR length(api_key_id) = 36),
    scopes         INTEGER CHECK (scopes IS NULL OR scopes BETWEEN 1 AND 511),
    grant_type     TEXT NOT NULL CHECK (grant_type IN ('password', 'api_key')),
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL CHECK (expires_at > created_at),
    revoked_at     INTEGER,
    revoked_reason TEXT CHECK (revoked_reason IS NULL OR length(revoked_reason) <= 32),
    PRIMARY KEY (tenant_id, id),
    CHECK ((grant_type = 'api_key') = (api_key_id IS NOT NULL AND scopes IS NOT NULL)),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, api_key_id) REFERENCES api_keys (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- A user's families (sign out everywhere, the per-user limit, the cascade).
CREATE INDEX token_families_user ON token_families (tenant_id, user_id);
-- The cascade from api_keys.
CREATE INDEX token_families_key ON token_families (tenant_id, api_key_id)
    WHERE api_key_id IS NOT NULL;

CREATE TABLE refresh_tokens (
    tenant_id  TEXT NOT NULL,
    hash       TEXT NOT NULL CHECK (length(hash) = 64),
    family_id  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL CHECK (expires_at > created_at),
    used_at    INTEGER,
    PRIMARY KEY (tenant_id, hash),
    FOREIGN KEY (tenant_id, family_id) REFERENCES token_families (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);

CREATE TABLE access_token_denylist (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    jti        TEXT NOT NULL CHECK (length(jti) = 32),
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, jti)
) STRICT, WITHOUT ROWID;

-- The clean-up's questions: which tenants have rows that ended before a cutoff.
CREATE INDEX token_families_ended ON token_families (expires_at, tenant_id);
CREATE INDEX token_families_revoked ON token_families (revoked_at, tenant_id)
    WHERE revoked_at IS NOT NULL;
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at, tenant_id);
CREATE INDEX access_token_denylist_expires ON access_token_denylist (expires_at, tenant_id);

ALTER TABLE users ADD COLUMN tokens_valid_after INTEGER;
