-- 0023 feed (PostgreSQL): the tenant of a public feed's slug (W1).
--
-- GET /feed/{tenant_slug}.json arrives without a session, so the server
-- must find the tenant from its slug before any tenant transaction exists.
-- tenants keeps forced row-level security; the server asks
-- shiplog_tenant_by_slug(slug), a SECURITY DEFINER function owned by the
-- migrating role (a member of shiplog_maintenance, 0002), which answers for
-- the one slug given with the tenant id only: never a list, never a name.
-- The feed then reads in an ordinary transaction of that tenant. Slugs are
-- public (they are in the feed's URL), so answering for one leaks nothing.
-- (Numbered 0024 in the plan of issue 7; renumbered at merge as needed.)

CREATE FUNCTION shiplog_tenant_by_slug(p_slug text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id FROM public.tenants t WHERE t.slug = p_slug
$$;

REVOKE ALL ON FUNCTION shiplog_tenant_by_slug(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION shiplog_tenant_by_slug(text) TO shiplog_app;
