-- 0014 jobs (SQLite): the durable job queue (I6, P3, src/jobs/jobs.h).
--
-- jobs_enqueue inserts into the caller's write transaction, so a job exists
-- exactly when the change that needs it commits (a webhook delivery and its
-- processing job land together). Runners claim due jobs in a write
-- transaction of their tenant, which SQLite makes exclusive, even across
-- processes sharing the file.
--
-- status: 'pending' waits for run_at; 'running' is leased until leased_until,
-- and run_at equals leased_until while it runs, so a job whose runner died is
-- simply due again once the lease is over ("due" is one condition: status
-- pending or running, run_at <= now). 'done' and 'dead' are final until an
-- operator retries a dead job (jobs_retry). attempts counts claims and fences
-- the outcome: a runner records only for the attempt it claimed.
--
-- Times are INTEGER Unix seconds from the caller. kind names the handler,
-- ref what it works on (a delivery id, ...); last_error is a short,
-- secret-free reason. Isolation by construction (T3): every statement binds
-- the tenant as $1 and the primary key starts with tenant_id.

CREATE TABLE jobs (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           TEXT NOT NULL CHECK (length(id) = 32),
    kind         TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    ref          TEXT NOT NULL CHECK (length(ref) <= 128),
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'done', 'dead')),
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
    run_at       INTEGER NOT NULL,
    leased_until INTEGER,
    last_error   TEXT CHECK (last_error IS NULL OR length(last_error) <= 200),
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    PRIMARY KEY (tenant_id, id),
    CHECK ((status = 'running') = (leased_until IS NOT NULL)),
    CHECK ((status IN ('done', 'dead')) = (finished_at IS NOT NULL))
) STRICT, WITHOUT ROWID;

-- The runners' two questions: which tenants have due jobs, and which jobs.
CREATE INDEX jobs_due ON jobs (status, run_at, tenant_id);
CREATE INDEX jobs_tenant_due ON jobs (tenant_id, status, run_at);
-- The console's listing, newest first.
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at, id);
