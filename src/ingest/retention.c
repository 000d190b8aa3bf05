/*
 * retention.c — the sweep of old redacted deliveries (see retention.h).
 */
#include "ingest/retention.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/worker.h"
#include "ingest/settings.h"
#include "ingest/store.h"
#include "jobs/jobs.h"

int64_t ingest_retention_cutoff(int64_t now, int retention_days)
{
    return now - (int64_t)retention_days * 86400;
}

struct due_list {
    size_t n;
    struct tenant_ctx t[INGEST_RETENTION_TENANTS];
};

static enum err collect(void *arg, const char *id)
{
    struct due_list *l = arg;
    if (l->n < INGEST_RETENTION_TENANTS && storage_tenant_id_valid(str_from_cstr(id)))
        snprintf(l->t[l->n++].id, sizeof l->t[0].id, "%s", id);
    return ERR_OK;
}

/*
 * Deletes, with purge(tx, cutoff, batch, &n), up to cap rows in batches of
 * batch_max; *done gets how many, *more whether the cap stopped it.
 */
static enum err purge_capped(struct tx *tx, int64_t cutoff, size_t cap, size_t batch_max,
                             enum err (*purge)(struct tx *, int64_t, size_t, size_t *),
                             size_t *done, bool *more)
{
    *done = 0;
    size_t n = 0;
    enum err e = ERR_OK;
    while (!e && *done < cap) {
        size_t batch = cap - *done < batch_max ? cap - *done : batch_max;
        e = purge(tx, cutoff, batch, &n);
        if (!e)
            *done += n;
        if (e || n < batch)
            break;
    }
    *more = !e && *done == cap && n > 0;
    return e;
}

/* One tenant: its retention, the deliveries' purge and the done jobs', in one write transaction. */
static enum err sweep_tenant(struct storage *s, const struct tenant_ctx *t, int64_t now, size_t cap,
                             size_t *purged, size_t *jobs_purged, bool *more)
{
    *purged = *jobs_purged = 0;
    *more = false;
    struct ingest_settings *set = calloc(1, sizeof *set);
    if (!set)
        err_oom();
    struct tx *tx = NULL;
    enum err e = storage_begin(s, t, TX_WRITE, &tx);
    if (!e)
        e = ingest_settings_get(tx, set); /* the retention in force now, in this transaction */
    int64_t cutoff = e ? 0 : ingest_retention_cutoff(now, set->retention_days);
    bool more_jobs = false;
    if (!e)
        e = purge_capped(tx, cutoff, cap, INGEST_PURGE_MAX, ingest_deliveries_purge, purged, more);
    if (!e)
        e = purge_capped(tx, cutoff, cap, JOBS_PURGE_MAX, jobs_purge_done, jobs_purged, &more_jobs);
    *more = *more || more_jobs;
    if (tx && e)
        storage_rollback(tx);
    else if (tx)
        e = storage_commit(tx);
    if (e)
        *purged = *jobs_purged = 0;
    free(set);
    return e;
}

/* A run that ends after the tenant in flight once *stop is set (stop may be NULL). */
static enum err run(struct storage *s, int64_t now, const atomic_int *stop,
                    struct ingest_retention_stats *out)
{
    memset(out, 0, sizeof *out);
    struct due_list *l = calloc(1, sizeof *l);
    if (!l)
        err_oom();
    enum err first = storage_retention_due_tenants(s, now, INGEST_RETENTION_TENANTS, collect, l);
    for (size_t i = 0; i < l->n && !(stop && atomic_load(stop)); i++) {
        size_t left = INGEST_RETENTION_RUN_MAX - out->purged;
        if (left == 0) {
            out->more = true;
            break;
        }
        size_t cap = left < INGEST_RETENTION_TENANT_MAX ? left : INGEST_RETENTION_TENANT_MAX;
        size_t n = 0, jobs = 0;
        bool more = false;
        enum err e = sweep_tenant(s, &l->t[i], now, cap, &n, &jobs, &more);
        if (e) {
            /* skipped: the others are still swept, the first error returned */
            out->failed++;
            log_warn("ingest retention: tenant not swept", LOG_STR("tenant", l->t[i].id),
                     LOG_ERR(e));
            if (!first)
                first = e;
            continue;
        }
        out->tenants++;
        out->purged += n;
        out->jobs_purged += jobs;
        out->more = out->more || more;
    }
    if (out->purged || out->failed)
        log_info("ingest retention: swept", LOG_INT("tenants", out->tenants),
                 LOG_INT("failed", out->failed), LOG_INT("purged", out->purged),
                 LOG_INT("jobs_purged", out->jobs_purged), LOG_BOOL("more", out->more));
    free(l);
    return first;
}

enum err ingest_retention_run(struct storage *s, int64_t now, struct ingest_retention_stats *out)
{
    return run(s, now, NULL, out);
}

/* ---- the sweeper ------------------------------------------------------------------- */

struct ingest_retention {
    struct storage *s;
    int64_t (*clock)(void *clock_arg);
    void *clock_arg;
    struct worker *w;
    enum err last_err;  /* the sweeper's thread only */
    pthread_mutex_t mu; /* guards totals */
    struct ingest_retention_stats totals;
};

static int64_t wall_clock(void *arg)
{
    (void)arg;
    return (int64_t)time(NULL);
}

static bool sweeper_round(void *arg, unsigned index, const atomic_int *stop)
{
    (void)index;
    struct ingest_retention *r = arg;
    struct ingest_retention_stats st;
    enum err e = run(r->s, r->clock(r->clock_arg), stop, &st);
    if (e && e != r->last_err) /* once per kind of outage, not every period */
        log_warn("ingest retention: run failed", LOG_ERR(e));
    r->last_err = e;
    pthread_mutex_lock(&r->mu);
    r->totals.tenants += st.tenants;
    r->totals.failed += st.failed;
    r->totals.purged += st.purged;
    r->totals.more = st.more;
    pthread_mutex_unlock(&r->mu);
    return st.more && !st.failed; /* a backlog: go on at once (not in a loop of failures) */
}

enum err ingest_retention_start(struct storage *s, const struct ingest_retention_options *opt,
                                struct ingest_retention **out)
{
    *out = NULL;
    if (!s)
        return ERR_INVALID;
    unsigned period_s = opt && opt->period_s ? opt->period_s : INGEST_RETENTION_PERIOD_S;
    if (period_s > UINT32_MAX / 1000)
        return ERR_INVALID;
    struct ingest_retention *r = calloc(1, sizeof *r);
    if (!r)
        err_oom();
    r->s = s;
    r->clock = opt && opt->clock ? opt->clock : wall_clock;
    r->clock_arg = opt ? opt->clock_arg : NULL;
    pthread_mutex_init(&r->mu, NULL);
    enum err e = worker_start(1, period_s * 1000u, sweeper_round, r, &r->w);
    if (e) {
        pthread_mutex_destroy(&r->mu);
        free(r);
        return e;
    }
    worker_set_name(r->w, "sl-retention");
    log_info("ingest retention: sweeper started", LOG_INT("period_s", period_s));
    *out = r;
    return ERR_OK;
}

void ingest_retention_totals(struct ingest_retention *r, struct ingest_retention_stats *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->totals;
    pthread_mutex_unlock(&r->mu);
}

void ingest_retention_stop(struct ingest_retention *r)
{
    if (!r)
        return;
    worker_stop(r->w);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
