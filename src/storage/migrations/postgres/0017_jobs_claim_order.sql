-- 0017 jobs claim order (PostgreSQL): a runner's claim reads its jobs in
-- index order (src/jobs/jobs.c, claim_batch).
--
-- A runner claims up to JOBS_CLAIM_BATCH of a tenant's due jobs at once,
-- oldest first: ORDER BY run_at, id within (tenant_id, status), FOR UPDATE
-- SKIP LOCKED. jobs_tenant_due (tenant_id, status, run_at) of 0015 gives
-- run_at's order only, so every claim ran an Incremental Sort over the jobs
-- of each second it read — under a backlog thousands of jobs share a second.
-- With id as the last key the index gives the whole order and the claim stops
-- after the rows it takes. SQLite needs no change: its jobs table is WITHOUT
-- ROWID, so jobs_tenant_due there ends with the primary key's id already.
--
-- The new index replaces the old one under the same name: it serves every
-- lookup the old one did (the same leading keys). Built in the migration's
-- transaction, so writes to jobs wait for the build.

CREATE INDEX jobs_tenant_due_ordered ON jobs (tenant_id, status, run_at, id);
DROP INDEX jobs_tenant_due;
ALTER INDEX jobs_tenant_due_ordered RENAME TO jobs_tenant_due;
