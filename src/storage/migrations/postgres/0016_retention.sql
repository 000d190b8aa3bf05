-- 0016 retention (PostgreSQL): which tenants have redacted webhook deliveries
-- past their retention period (I7, src/ingest/retention.h).
--
-- The sweep runs on every server with the application role, which sees one
-- tenant per transaction. Like shiplog_jobs_due_tenants (0015), finding the
-- tenants with work goes through a SECURITY DEFINER function owned by the
-- migrating role (a member of shiplog_maintenance, so it sees every row)
-- that returns tenant ids only, never content; the sweep then opens an
-- ordinary tenant transaction per id, reads the tenant's retention there and
-- deletes with the tenant's row-level security in force.
--
-- A tenant is due when its oldest delivery was received before
-- now - retention_days * 86400, retention_days being its tenant_settings
-- value "ingest.retention_days" when that is 1..3650 in plain digits, else
-- the default 90 (INGEST_RETENTION_DAYS; src/ingest/settings.c reads the
-- value the same way). Each tenant costs one probe of
-- webhook_deliveries_received (tenant_id, received_at, id) and one of
-- tenant_settings' primary key: no global index on received_at is needed.
--
-- Only deliveries are swept: normalized rows (commits, pull requests, ...)
-- stay. Finished jobs are not deleted either: the application role has no
-- DELETE on jobs (0015).

CREATE FUNCTION shiplog_retention_due_tenants(now_unix bigint, lim int) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.id
    FROM (
        SELECT t.id,
               (SELECT min(w.received_at) FROM public.webhook_deliveries AS w
                WHERE w.tenant_id = t.id) AS oldest,
               COALESCE((SELECT CASE WHEN s.value ~ '^[0-9]{1,4}$'
                                     THEN CASE WHEN s.value::int BETWEEN 1 AND 3650
                                               THEN s.value::int END END
                         FROM public.tenant_settings AS s
                         WHERE s.tenant_id = t.id AND s.key = 'ingest.retention_days'),
                        90) AS days
        FROM public.tenants AS t
    ) AS d
    WHERE d.oldest < now_unix - d.days::bigint * 86400
    ORDER BY d.oldest, d.id
    LIMIT least(greatest(lim, 0), 1000)
$$;

REVOKE ALL ON FUNCTION shiplog_retention_due_tenants(bigint, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION shiplog_retention_due_tenants(bigint, int) TO shiplog_app;
