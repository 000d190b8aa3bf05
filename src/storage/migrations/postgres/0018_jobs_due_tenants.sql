-- 0018 jobs due tenants (PostgreSQL): which tenants have due jobs, found per
-- tenant instead of over the due jobs.
--
-- shiplog_jobs_due_tenants (0015) grouped every due job by tenant through the
-- partial index jobs_due (run_at, tenant_id) and sorted the groups: under a
-- burst of deliveries, with tens of thousands of jobs due, every round of
-- every runner read all of them. It now probes jobs_tenant_due (tenant_id,
-- status, run_at, id; 0017) twice per tenant, for the oldest due pending and
-- running job (each min() is read from the index's first matching entry), so
-- a round costs two index lookups per tenant whatever the backlog. The
-- answer is unchanged: tenant ids only, the longest-due first, ties by id.
-- CREATE OR REPLACE keeps the function's owner and grants (0015).
--
-- Nothing else reads jobs_due, and every job written paid for it: it goes.

CREATE OR REPLACE FUNCTION shiplog_jobs_due_tenants(now timestamptz, lim int) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
    SELECT d.id
    FROM (
        SELECT t.id,
               least((SELECT min(j.run_at) FROM public.jobs AS j
                      WHERE j.tenant_id = t.id AND j.status = 'pending' AND j.run_at <= now),
                     (SELECT min(j.run_at) FROM public.jobs AS j
                      WHERE j.tenant_id = t.id AND j.status = 'running' AND j.run_at <= now))
                   AS due
        FROM public.tenants AS t
    ) AS d
    WHERE d.due IS NOT NULL
    ORDER BY d.due, d.id
    LIMIT least(greatest(lim, 0), 1000)
$$;

DROP INDEX jobs_due;
