-- 0015 jobs (PostgreSQL): the durable job queue (I6, P3, src/jobs/jobs.h).
--
-- jobs_enqueue inserts into the caller's transaction, so a job exists exactly
-- when the change that needs it commits (a webhook delivery and its
-- processing job land together).
--
-- status: 'pending' waits for run_at; 'running' is leased until leased_until,
-- and run_at equals leased_until while it runs, so a job whose runner died is
-- simply due again once the lease is over ("due" is one condition: status
-- pending or running, run_at <= now). 'done' and 'dead' are final until an
-- operator retries a dead job (jobs_retry). attempts counts claims and fences
-- the outcome: a runner records only for the attempt it claimed.
--
-- An ordinary business table: tenant_id first in the primary key, ENABLE +
-- FORCE ROW LEVEL SECURITY, a tenant policy (0001) and a maintenance policy
-- (0002); the application role may SELECT, INSERT and UPDATE (never DELETE:
-- done and dead jobs stay for the operator; a tenant's deletion cascades).
--
-- Runners work on every server (P3). The application role sees one tenant per
-- transaction, so finding the tenants that have due jobs goes through
-- shiplog_jobs_due_tenants, a SECURITY DEFINER function owned by the
-- migrating role (a member of shiplog_maintenance, so it sees every row) that
-- returns tenant ids only, never content, like shiplog_outbox_due_tenants
-- (0006). A runner then opens an ordinary tenant transaction and claims a job
-- with FOR UPDATE SKIP LOCKED, so several servers never claim the same job.

CREATE TABLE jobs (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           text NOT NULL CHECK (length(id) = 32),
    kind         text NOT NULL CHECK (octet_length(kind) BETWEEN 1 AND 64),
    ref          text NOT NULL CHECK (octet_length(ref) <= 128),
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'done', 'dead')),
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
    run_at       timestamptz NOT NULL,
    leased_until timestamptz,
    last_error   text CHECK (last_error IS NULL OR octet_length(last_error) <= 200),
    created_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    CHECK ((status = 'running') = (leased_until IS NOT NULL)),
    CHECK ((status IN ('done', 'dead')) = (finished_at IS NOT NULL))
);

-- The runners' two questions: which tenants have due jobs, and which jobs.
CREATE INDEX jobs_due ON jobs (run_at, tenant_id) WHERE status IN ('pending', 'running');
CREATE INDEX jobs_tenant_due ON jobs (tenant_id, status, run_at);
-- The console's listing, newest first.
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at, id);

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY jobs_isolation ON jobs
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY jobs_maintenance ON jobs TO shiplog_maintenance
    USING (true) WITH CHECK (true);

REVOKE ALL ON jobs FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON jobs TO shiplog_app;

-- Tenant ids with jobs due at "now" (pending and due, or running with an
-- expired lease), the longest-waiting first, at most lim (clamped to
-- 0..1000). Runs with the owner's rights; reveals ids only.
CREATE FUNCTION shiplog_jobs_due_tenants(now timestamptz, lim int) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
    SELECT j.tenant_id
    FROM public.jobs AS j
    WHERE j.status IN ('pending', 'running') AND j.run_at <= now
    GROUP BY j.tenant_id
    ORDER BY min(j.run_at), j.tenant_id
    LIMIT least(greatest(lim, 0), 1000)
$$;

REVOKE ALL ON FUNCTION shiplog_jobs_due_tenants(timestamptz, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION shiplog_jobs_due_tenants(timestamptz, int) TO shiplog_app;
