-- 0007 accounts (PostgreSQL): users, sessions, single-use tokens and sign-in
-- failure counters (A1-A6, src/accounts/accounts.h).
--
-- Times are bigint Unix seconds (the accounts module takes its clock from a
-- hook, so tests can move time without sleeping). Secrets are never stored:
-- sessions and tokens hold the lower-case hex SHA-256 of their random part,
-- users the bcrypt hash of the peppered password and the id of the master
-- key whose pepper made it (docs/KEYS.md).
--
-- users, sessions and auth_tokens are ordinary business tables: tenant_id
-- first in the primary key, ENABLE + FORCE ROW LEVEL SECURITY, a tenant
-- policy (0001) and a maintenance policy (0002), DML grants to shiplog_app.
--
-- The two tables sign-in needs before it knows the tenant
-- -------------------------------------------------------
-- Sign-in starts from an e-mail address and must find the tenant it belongs
-- to; the per-IP lockout (A4) counts failures across tenants. Neither fits a
-- tenant policy. Rather than leave a table without row-level security (which
-- would let the application role list every address hash, tenant and user of
-- the deployment with one SELECT), both tables keep FORCE ROW LEVEL SECURITY
-- and the application reaches their rows only through SECURITY DEFINER
-- functions that take the exact key and touch one row:
--
--   accounts_email_lookup(email_hash)  -> (tenant_id, user_id) or no row
--   accounts_ip_status(ip_hash)        -> (count, locked_until) or no row
--   accounts_ip_failure(ip_hash, now, window) -> the new failure count
--   accounts_ip_lock(ip_hash, locked_until)
--
-- So the application can answer "which tenant owns this address" only for an
-- address it already knows (its SHA-256 is the argument), and cannot
-- enumerate, update or delete the mapping. user_emails rows are written in the
-- signing-up tenant's transaction under the ordinary tenant policy (WITH
-- CHECK), so a tenant can only ever claim addresses for itself; the primary
-- key on email_hash makes an address unique in the deployment (one account
-- belongs to exactly one tenant). login_failures_ip has no policy for the
-- application at all and no grants: only the functions touch it.
--
-- The functions run as the migration owner, which is a member of
-- shiplog_maintenance (0002) and so passes the maintenance policies below;
-- search_path is pinned so a caller cannot substitute objects.

CREATE TABLE users (
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                uuid NOT NULL,
    email             text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash     text NOT NULL,
    password_key_id   text NOT NULL,
    role              text NOT NULL CHECK (role IN ('member', 'editor', 'admin', 'super_admin')),
    email_verified_at bigint,
    failed_count      integer NOT NULL DEFAULT 0 CHECK (failed_count >= 0),
    locked_until      bigint,
    created_at        bigint NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE user_emails (
    email_hash text PRIMARY KEY CHECK (length(email_hash) = 64),
    tenant_id  uuid NOT NULL,
    user_id    uuid NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX user_emails_user ON user_emails (tenant_id, user_id);

CREATE TABLE sessions (
    tenant_id       uuid NOT NULL,
    id_hash         text NOT NULL CHECK (length(id_hash) = 64),
    user_id         uuid NOT NULL,
    created_at      bigint NOT NULL,
    last_seen_at    bigint NOT NULL,
    expires_at      bigint NOT NULL,
    idle_expires_at bigint NOT NULL,
    revoked_at      bigint,
    client_ip       text NOT NULL CHECK (length(client_ip) <= 64),
    user_agent      text NOT NULL CHECK (octet_length(user_agent) <= 256),
    PRIMARY KEY (tenant_id, id_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

CREATE TABLE auth_tokens (
    tenant_id  uuid NOT NULL,
    hash       text NOT NULL CHECK (length(hash) = 64),
    purpose    text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'magic_link')),
    user_id    uuid NOT NULL,
    code_hash  text CHECK (code_hash IS NULL OR length(code_hash) = 64),
    attempts   integer NOT NULL DEFAULT 0,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    used_at    bigint,
    PRIMARY KEY (tenant_id, hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX auth_tokens_user ON auth_tokens (tenant_id, user_id, purpose);
CREATE UNIQUE INDEX auth_tokens_code ON auth_tokens (tenant_id, code_hash) WHERE code_hash IS NOT NULL;

CREATE TABLE login_failures_ip (
    ip_hash      text PRIMARY KEY CHECK (length(ip_hash) = 64),
    window_start bigint NOT NULL,
    count        integer NOT NULL CHECK (count >= 0),
    locked_until bigint
);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_isolation ON users
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY users_maintenance ON users TO shiplog_maintenance
    USING (true) WITH CHECK (true);

ALTER TABLE user_emails ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_emails FORCE ROW LEVEL SECURITY;
CREATE POLICY user_emails_isolation ON user_emails
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY user_emails_maintenance ON user_emails TO shiplog_maintenance
    USING (true) WITH CHECK (true);

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY sessions_isolation ON sessions
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY sessions_maintenance ON sessions TO shiplog_maintenance
    USING (true) WITH CHECK (true);

ALTER TABLE auth_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY auth_tokens_isolation ON auth_tokens
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY auth_tokens_maintenance ON auth_tokens TO shiplog_maintenance
    USING (true) WITH CHECK (true);

-- No tenant policy: rows are per IP, not per tenant; only the functions below.
ALTER TABLE login_failures_ip ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_failures_ip FORCE ROW LEVEL SECURITY;
CREATE POLICY login_failures_ip_maintenance ON login_failures_ip TO shiplog_maintenance
    USING (true) WITH CHECK (true);

REVOKE ALL ON users, user_emails, sessions, auth_tokens, login_failures_ip FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON users TO shiplog_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions TO shiplog_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON auth_tokens TO shiplog_app;
-- Tenant-scoped through the policy; the cross-tenant read is the function.
GRANT SELECT, INSERT, DELETE ON user_emails TO shiplog_app;

CREATE FUNCTION accounts_email_lookup(p_email_hash text)
    RETURNS TABLE (tenant_id uuid, user_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.tenant_id, e.user_id FROM public.user_emails e WHERE e.email_hash = p_email_hash
$$;

CREATE FUNCTION accounts_ip_status(p_ip_hash text)
    RETURNS TABLE (count integer, locked_until bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.count, f.locked_until FROM public.login_failures_ip f WHERE f.ip_hash = p_ip_hash
$$;

-- Counts one failure; a window that has passed (and is not locked) starts over.
CREATE FUNCTION accounts_ip_failure(p_ip_hash text, p_now bigint, p_window bigint)
    RETURNS integer
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO public.login_failures_ip AS f (ip_hash, window_start, count, locked_until)
    VALUES (p_ip_hash, p_now, 1, NULL)
    ON CONFLICT (ip_hash) DO UPDATE SET
        count = CASE WHEN f.window_start + p_window <= p_now
                          AND (f.locked_until IS NULL OR f.locked_until <= p_now)
                     THEN 1 ELSE f.count + 1 END,
        window_start = CASE WHEN f.window_start + p_window <= p_now
                                 AND (f.locked_until IS NULL OR f.locked_until <= p_now)
                            THEN p_now ELSE f.window_start END
    RETURNING f.count
$$;

CREATE FUNCTION accounts_ip_lock(p_ip_hash text, p_locked_until bigint)
    RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE public.login_failures_ip SET locked_until = p_locked_until WHERE ip_hash = p_ip_hash
$$;

REVOKE ALL ON FUNCTION accounts_email_lookup(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION accounts_ip_status(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION accounts_ip_failure(text, bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION accounts_ip_lock(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION accounts_email_lookup(text) TO shiplog_app;
GRANT EXECUTE ON FUNCTION accounts_ip_status(text) TO shiplog_app;
GRANT EXECUTE ON FUNCTION accounts_ip_failure(text, bigint, bigint) TO shiplog_app;
GRANT EXECUTE ON FUNCTION accounts_ip_lock(text, bigint) TO shiplog_app;
