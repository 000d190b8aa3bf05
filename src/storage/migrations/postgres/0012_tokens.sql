-- 0012 access and refresh tokens (PostgreSQL): A8, src/auth/tokens.h.
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
-- Times are bigint Unix seconds from the caller. Ordinary business tables:
-- tenant_id first in the primary key, ENABLE + FORCE ROW LEVEL SECURITY, a
-- tenant policy (0001) and a maintenance policy (0002), DML grants to
-- shiplog_app (DELETE included: the clean-up is the application's job).
-- Verification finds the tenant in the token itself (the tid claim, the
-- tenant part of a refresh token), so the only cross-tenant question is the
-- clean-up's — which tenants have rows that ended before a cutoff — asked
-- through auth_tokens_cleanup_tenants, a SECURITY DEFINER function owned by
-- the migrating role (a member of shiplog_maintenance) that returns tenant
-- ids only, like accounts_cleanup_tenants (0008).

CREATE TABLE token_families (
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             uuid NOT NULL,
    user_id        uuid NOT NULL,
    api_key_id     uuid,
    scopes         integer CHECK (scopes IS NULL OR scopes BETWEEN 1 AND 511),
    grant_type     text NOT NULL CHECK (grant_type IN ('password', 'api_key')),
    created_at     bigint NOT NULL,
    expires_at     bigint NOT NULL CHECK (expires_at > created_at),
    revoked_at     bigint,
    revoked_reason text CHECK (revoked_reason IS NULL OR length(revoked_reason) <= 32),
    PRIMARY KEY (tenant_id, id),
    CHECK ((grant_type = 'api_key') = (api_key_id IS NOT NULL AND scopes IS NOT NULL)),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, api_key_id) REFERENCES api_keys (tenant_id, id) ON DELETE CASCADE
);

-- A user's families (sign out everywhere, the per-user limit, the cascade).
CREATE INDEX token_families_user ON token_families (tenant_id, user_id);
-- The cascade from api_keys.
CREATE INDEX token_families_key ON token_families (tenant_id, api_key_id)
    WHERE api_key_id IS NOT NULL;

CREATE TABLE refresh_tokens (
    tenant_id  uuid NOT NULL,
    hash       text NOT NULL CHECK (length(hash) = 64),
    family_id  uuid NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL CHECK (expires_at > created_at),
    used_at    bigint,
    PRIMARY KEY (tenant_id, hash),
    FOREIGN KEY (tenant_id, family_id) REFERENCES token_families (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);

CREATE TABLE access_token_denylist (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    jti        text NOT NULL CHECK (length(jti) = 32),
    expires_at bigint NOT NULL,
    PRIMARY KEY (tenant_id, jti)
);

-- The clean-up's questions: which tenants have rows that ended before a cutoff.
CREATE INDEX token_families_ended ON token_families (expires_at, tenant_id);
CREATE INDEX token_families_revoked ON token_families (revoked_at, tenant_id)
    WHERE revoked_at IS NOT NULL;
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at, tenant_id);
CREATE INDEX access_token_denylist_expires ON access_token_denylist (expires_at, tenant_id);

ALTER TABLE users ADD COLUMN tokens_valid_after bigint;

ALTER TABLE token_families ENABLE ROW LEVEL SECURITY;
ALTER TABLE token_families FORCE ROW LEVEL SECURITY;
CREATE POLICY token_families_isolation ON token_families
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY token_families_maintenance ON token_families TO shiplog_maintenance
    USING (true) WITH CHECK (true);

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY refresh_tokens_isolation ON refresh_tokens
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY refresh_tokens_maintenance ON refresh_tokens TO shiplog_maintenance
    USING (true) WITH CHECK (true);

ALTER TABLE access_token_denylist ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_token_denylist FORCE ROW LEVEL SECURITY;
CREATE POLICY access_token_denylist_isolation ON access_token_denylist
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY access_token_denylist_maintenance ON access_token_denylist TO shiplog_maintenance
    USING (true) WITH CHECK (true);

REVOKE ALL ON token_families, refresh_tokens, access_token_denylist FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON token_families, refresh_tokens, access_token_denylist
    TO shiplog_app;

-- Tenant ids above p_after, in uuid order, with a family revoked or expired,
-- a refresh token expired, or a deny-list entry expired at or before
-- p_cutoff; at most p_max (clamped to 0..1000). Runs with the owner's
-- rights; reveals ids only.
CREATE FUNCTION auth_tokens_cleanup_tenants(p_after uuid, p_cutoff bigint, p_max integer)
    RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.tenant_id FROM (
        SELECT f.tenant_id FROM public.token_families f
        WHERE f.tenant_id > p_after AND (f.revoked_at <= p_cutoff OR f.expires_at <= p_cutoff)
        UNION
        SELECT r.tenant_id FROM public.refresh_tokens r
        WHERE r.tenant_id > p_after AND r.expires_at <= p_cutoff
        UNION
        SELECT j.tenant_id FROM public.access_token_denylist j
        WHERE j.tenant_id > p_after AND j.expires_at <= p_cutoff
    ) d
    ORDER BY d.tenant_id
    LIMIT least(greatest(p_max, 0), 1000)
$$;

REVOKE ALL ON FUNCTION auth_tokens_cleanup_tenants(uuid, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_tokens_cleanup_tenants(uuid, bigint, integer) TO shiplog_app;
