-- 0020 jobs purge (PostgreSQL): finished jobs go with the retention period.
--
-- Every webhook delivery leaves a job behind, and 'done' jobs were kept for
-- ever: one row per delivery, long after the delivery itself was purged
-- (I7). The retention sweep now deletes, in each tenant's transaction, the
-- jobs that finished 'done' before the same cutoff as the deliveries
-- (jobs_purge_done, src/jobs/jobs.h). 'dead' jobs stay: they are the dead
-- letters an operator looks at and retries. The application role may now
-- DELETE; the row-level policies of 0015 still hold it to one tenant.

GRANT DELETE ON jobs TO shiplog_app;
