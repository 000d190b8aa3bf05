/*
 * retention — the sweep that purges redacted webhook deliveries once they are
 * older than their tenant's retention period (I7).
 *
 * A delivery is purged when it was received strictly before
 *   now - retention_days * 86400
 * with retention_days the tenant's setting (settings.h; default
 * INGEST_RETENTION_DAYS = 90). One received exactly retention_days ago stays;
 * one second older goes. Whatever its status: a delivery that was never
 * processed is purged too (its job then finds it gone and stops).
 *
 * Only the raw (redacted) deliveries are purged. The normalized rows they
 * produced — repositories, commits and their files, pull requests, reviews,
 * deployments, releases — are metadata the analytics need (M1) and stay
 * until their repository or tenant is deleted. In the same transaction the
 * tenant's jobs that finished done before the same cutoff are deleted
 * (jobs_purge_done; dead ones stay for the operator), under the same caps,
 * counted apart. A tenant is visited when it has deliveries past retention,
 * so the jobs of its last hour of deliveries wait for the next delivery to
 * age out.
 *
 * A run asks storage_retention_due_tenants which tenants have deliveries past
 * their retention (ids only), then per tenant, in one write transaction of
 * that tenant, reads its retention and deletes in batches of
 * INGEST_PURGE_MAX until none is left, at most INGEST_RETENTION_TENANT_MAX
 * rows a tenant and INGEST_RETENTION_RUN_MAX rows a run (a longer backlog
 * is finished by the next runs, which the thread starts at once). A tenant
 * that fails is skipped and the rest still swept; the first error is
 * returned. Several servers may sweep at once: a row is deleted once.
 *
 * Thread-safety: ingest_retention_run may be called from any thread; the
 * sweeper's start and stop from one thread.
 */
#ifndef SHIPLOG_INGEST_RETENTION_H
#define SHIPLOG_INGEST_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "storage/storage.h"

#define INGEST_RETENTION_PERIOD_S   3600   /* seconds between the sweeper's runs */
#define INGEST_RETENTION_TENANTS    100    /* tenants one run sweeps */
#define INGEST_RETENTION_TENANT_MAX 10000  /* deliveries one tenant's transaction deletes */
#define INGEST_RETENTION_RUN_MAX    100000 /* deliveries one run deletes */

/* What a run did. */
struct ingest_retention_stats {
    size_t tenants;     /* tenants swept (their transaction committed) */
    size_t failed;      /* tenants whose sweep failed (rolled back) */
    size_t purged;      /* deliveries deleted */
    size_t jobs_purged; /* done jobs deleted (jobs_purge_done) */
    bool more;          /* a cap was reached: deliveries past retention may remain */
};

/* The cutoff of a retention: deliveries received before it are purged. */
int64_t ingest_retention_cutoff(int64_t now, int retention_days);

/*
 * One sweep at now (Unix seconds; tests pass a fake clock). out is always
 * filled. Logs one summary line (counts only) when it purged or failed
 * anything. Returns the first error (storage_retention_due_tenants's, or a
 * tenant's).
 */
MUST_CHECK enum err ingest_retention_run(struct storage *s, int64_t now,
                                         struct ingest_retention_stats *out);

/* The sweeper: a background thread (core/worker.h) calling ingest_retention_run. */
struct ingest_retention;

struct ingest_retention_options {
    unsigned period_s;                 /* 0: INGEST_RETENTION_PERIOD_S */
    int64_t (*clock)(void *clock_arg); /* Unix seconds; NULL: time(NULL) */
    void *clock_arg;
};

/*
 * Starts the thread: a first run right away, then every period, and again at
 * once after a run that reached a cap. A failing run logs a warning (once per
 * kind of failure) and the next one retries. s must outlive the sweeper; opt
 * may be NULL. ERR_INVALID without s; ERR_INTERNAL when the thread cannot be
 * created.
 */
MUST_CHECK enum err ingest_retention_start(struct storage *s,
                                           const struct ingest_retention_options *opt,
                                           struct ingest_retention **out);

/* Totals of every run so far. Thread-safe. */
void ingest_retention_totals(struct ingest_retention *r, struct ingest_retention_stats *out);

/* Stops (after the tenant in flight) and frees the sweeper. NULL is a no-op. */
void ingest_retention_stop(struct ingest_retention *r);

#endif
