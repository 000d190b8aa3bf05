-- 0008 accounts cleanup (PostgreSQL): what accounts_cleanup needs to find and
-- delete expired account state (src/accounts/accounts.h, src/accounts/cleanup.c).
--
-- Expired sessions and spent or expired tokens are deleted tenant by tenant,
-- in ordinary tenant transactions under the tenant policies of 0007. Only two
-- questions cross tenants, and they are asked, like the directory questions
-- of 0007, through SECURITY DEFINER functions owned by the migrating role (a
-- member of shiplog_maintenance, so it sees every row), in a transaction
-- bound to the nil UUID:
--
--   accounts_cleanup_tenants(after, cutoff, max)
--       the ids of the tenants, above `after` in uuid order, that have a
--       session revoked or expired, or a token used or expired, at or before
--       `cutoff` (at most max, clamped to 0..1000). Tenant ids only, never
--       content, as shiplog_outbox_due_tenants (0006).
--   accounts_ip_cleanup(now, window)
--       deletes the per-IP failure counters whose window has passed and
--       that are not locked at `now`, and returns how many. Such a counter
--       starts over at the next failure anyway (accounts_ip_failure, 0007),
--       so deleting it changes no sign-in decision. The caller's clock is
--       trusted exactly as accounts_ip_failure already trusts it.
--
-- SQLite needs no migration for this: there the same questions are plain
-- statements bound to the nil UUID (the guarantee is by construction, 0007).

CREATE FUNCTION accounts_cleanup_tenants(p_after uuid, p_cutoff bigint, p_max integer)
    RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.tenant_id FROM (
        SELECT s.tenant_id FROM public.sessions s
        WHERE s.tenant_id > p_after
          AND (s.revoked_at <= p_cutoff OR s.expires_at <= p_cutoff
               OR s.idle_expires_at <= p_cutoff)
        UNION
        SELECT t.tenant_id FROM public.auth_tokens t
        WHERE t.tenant_id > p_after AND (t.used_at <= p_cutoff OR t.expires_at <= p_cutoff)
    ) d
    ORDER BY d.tenant_id
    LIMIT least(greatest(p_max, 0), 1000)
$$;

CREATE FUNCTION accounts_ip_cleanup(p_now bigint, p_window bigint)
    RETURNS integer
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM public.login_failures_ip f
        WHERE f.window_start + p_window <= p_now
          AND (f.locked_until IS NULL OR f.locked_until <= p_now)
        RETURNING 1
    )
    SELECT count(*)::integer FROM gone
$$;

REVOKE ALL ON FUNCTION accounts_cleanup_tenants(uuid, bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION accounts_ip_cleanup(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION accounts_cleanup_tenants(uuid, bigint, integer) TO shiplog_app;
GRANT EXECUTE ON FUNCTION accounts_ip_cleanup(bigint, bigint) TO shiplog_app;
