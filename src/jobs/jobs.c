/*
 * jobs — the durable job queue; see jobs.h for the design.
 *
 * Sections: input checks and enqueue; reading rows (get, list) and retry;
 * claiming and recording; the round; the runner (threads from core/worker).
 *
 * SQL differs per dialect only in time handling: PostgreSQL stores
 * timestamptz (to_timestamp / extract(epoch)), SQLite Unix seconds. The
 * runner's times come from its clock (no now() in SQL), so tests drive it.
 */
#include "jobs/jobs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/str.h"
#include "core/worker.h"
#include "crypto/rand.h"

static const char *const status_names[] = {"pending", "running", "done", "dead", "any"};

const char *jobs_status_name(enum jobs_status st)
{
    return (unsigned)st <= JOBS_ANY ? status_names[st] : "any";
}

static bool status_parse(struct str s, enum jobs_status *out)
{
    for (int i = JOBS_PENDING; i < JOBS_ANY; i++) {
        if (s.len == strlen(status_names[i]) && memcmp(s.ptr, status_names[i], s.len) == 0) {
            *out = (enum jobs_status)i;
            return true;
        }
    }
    return false;
}

/* ---- input checks and enqueue ------------------------------------------------ */

static bool kind_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

enum err jobs_check(const char *kind, const char *ref)
{
    if (!kind || !ref)
        return ERR_INVALID;
    size_t kind_len = strnlen(kind, JOBS_MAX_KIND + 1);
    size_t ref_len = strnlen(ref, JOBS_MAX_REF + 1);
    if (kind_len > JOBS_MAX_KIND || ref_len > JOBS_MAX_REF)
        return ERR_LIMIT;
    if (kind_len == 0)
        return ERR_INVALID;
    for (size_t i = 0; i < kind_len; i++)
        if (!kind_char(kind[i]))
            return ERR_INVALID;
    for (size_t i = 0; i < ref_len; i++)
        if ((unsigned char)ref[i] < 0x20 || (unsigned char)ref[i] > 0x7e)
            return ERR_INVALID;
    return ERR_OK;
}

static bool id_valid(const char *id)
{
    if (!id || strnlen(id, JOBS_ID_LEN + 1) != JOBS_ID_LEN)
        return false;
    for (size_t i = 0; i < JOBS_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

enum err jobs_enqueue(struct tx *tx, const char *kind, const char *ref, int64_t run_at,
                      char id_out[JOBS_ID_LEN + 1])
{
    enum err e = jobs_check(kind, ref);
    if (e)
        return e;
    if (run_at < 0)
        return ERR_INVALID;
    char id[JOBS_ID_LEN + 1];
    if ((e = rand_hex_sortable(id, JOBS_ID_LEN / 2)) != ERR_OK)
        return e;
    int64_t now = (int64_t)time(NULL);
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    e = tx_exec_args(tx,
                     pg ? "INSERT INTO jobs (tenant_id, id, kind, ref, max_attempts, run_at,"
                          " created_at) VALUES ($1::uuid, $2, $3, $4, $5::int,"
                          " to_timestamp($6::bigint), to_timestamp($7::bigint))"
                        : "INSERT INTO jobs (tenant_id, id, kind, ref, max_attempts, run_at,"
                          " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                     STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_CSTR(kind), STORAGE_CSTR(ref),
                                  STORAGE_INT(JOBS_MAX_ATTEMPTS),
                                  STORAGE_INT(run_at ? run_at : now), STORAGE_INT(now)),
                     NULL);
    if (!e && id_out)
        memcpy(id_out, id, sizeof id);
    return e;
}

/* ---- reading rows and retry ------------------------------------------------------ */

#define COLS_PG                                                                                    \
    "id, kind, ref, status, attempts, max_attempts, extract(epoch FROM run_at)::bigint,"           \
    " extract(epoch FROM created_at)::bigint, extract(epoch FROM finished_at)::bigint,"            \
    " last_error"
#define COLS_SQ                                                                                    \
    "id, kind, ref, status, attempts, max_attempts, run_at, created_at, finished_at, last_error"

static void col_copy(struct stmt *st, int col, char *dst, size_t cap)
{
    struct str v = stmt_col_is_null(st, col) ? str_from("", 0) : stmt_col_text(st, col);
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    if (n)
        memcpy(dst, v.ptr, n);
    dst[n] = '\0';
}

/* Reads a row selected with COLS_PG / COLS_SQ. */
static enum err read_info(struct stmt *st, struct jobs_info *out)
{
    memset(out, 0, sizeof *out);
    if (stmt_col_text(st, 0).len != JOBS_ID_LEN ||
        !status_parse(stmt_col_text(st, 3), &out->status))
        return ERR_INTERNAL;
    col_copy(st, 0, out->id, sizeof out->id);
    col_copy(st, 1, out->kind, sizeof out->kind);
    col_copy(st, 2, out->ref, sizeof out->ref);
    out->attempts = (int)stmt_col_int(st, 4);
    out->max_attempts = (int)stmt_col_int(st, 5);
    out->run_at = stmt_col_int(st, 6);
    out->created_at = stmt_col_int(st, 7);
    out->finished_at = stmt_col_is_null(st, 8) ? 0 : stmt_col_int(st, 8);
    col_copy(st, 9, out->last_error, sizeof out->last_error);
    return ERR_OK;
}

enum err jobs_get(struct tx *tx, const char *id, struct jobs_info *out)
{
    if (!id_valid(id))
        return ERR_NOT_FOUND;
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          pg ? "SELECT " COLS_PG " FROM jobs WHERE tenant_id = $1::uuid AND id = $2"
                             : "SELECT " COLS_SQ " FROM jobs WHERE tenant_id = $1 AND id = $2",
                          STORAGE_ARGS(STORAGE_CSTR(id)), &st, &row);
    if (e)
        return e;
    e = row ? read_info(st, out) : ERR_NOT_FOUND;
    stmt_finish(st);
    return e;
}

enum err jobs_list(struct tx *tx, enum jobs_status filter, const struct jobs_cursor *after,
                   size_t limit, struct jobs_info *out, size_t *n, struct jobs_cursor *next)
{
    *n = 0;
    memset(next, 0, sizeof *next);
    if (limit == 0 || limit > JOBS_LIST_MAX || (unsigned)filter > JOBS_ANY)
        return ERR_INVALID;
    const char *cur_id = after && after->id[0] ? after->id : "";
    if (cur_id[0] && !id_valid(cur_id))
        return ERR_INVALID;
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    struct stmt *st = NULL;
    bool row = false;
    /* one row more than asked says whether there is a next page */
    enum err e =
        tx_query(tx,
                 pg ? "SELECT " COLS_PG " FROM jobs WHERE tenant_id = $1::uuid"
                      " AND ($2::text = 'any' OR status = $2::text)"
                      " AND ($3::text = '' OR created_at < to_timestamp($4::bigint)"
                      "  OR (created_at = to_timestamp($4::bigint) AND id < $3::text))"
                      " ORDER BY created_at DESC, id DESC LIMIT $5::bigint"
                    : "SELECT " COLS_SQ " FROM jobs WHERE tenant_id = $1"
                      " AND ($2 = 'any' OR status = $2)"
                      " AND ($3 = '' OR created_at < $4 OR (created_at = $4 AND id < $3))"
                      " ORDER BY created_at DESC, id DESC LIMIT $5",
                 STORAGE_ARGS(STORAGE_CSTR(jobs_status_name(filter)), STORAGE_CSTR(cur_id),
                              STORAGE_INT(after ? after->created_at : 0), STORAGE_INT(limit + 1)),
                 &st, &row);
    if (e)
        return e;
    while (!e && row) {
        if (*n == limit) {
            next->created_at = out[limit - 1].created_at;
            memcpy(next->id, out[limit - 1].id, sizeof next->id);
            break;
        }
        if (!(e = read_info(st, &out[*n]))) {
            (*n)++;
            e = stmt_step(st, &row);
        }
    }
    stmt_finish(st);
    if (e) {
        *n = 0;
        memset(next, 0, sizeof *next);
    }
    return e;
}

enum err jobs_retry(struct tx *tx, const char *id)
{
    if (!id_valid(id))
        return ERR_INVALID;
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    uint64_t changed = 0;
    enum err e = tx_exec_args(tx,
                              pg ? "UPDATE jobs SET status = 'pending', attempts = 0,"
                                   " run_at = to_timestamp($3::bigint), finished_at = NULL"
                                   " WHERE tenant_id = $1::uuid AND id = $2 AND status = 'dead'"
                                 : "UPDATE jobs SET status = 'pending', attempts = 0,"
                                   " run_at = $3, finished_at = NULL"
                                   " WHERE tenant_id = $1 AND id = $2 AND status = 'dead'",
                              STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_INT(time(NULL))), &changed);
    if (e || changed == 1)
        return e;
    struct jobs_info info;
    e = jobs_get(tx, id, &info);
    return e ? e : ERR_CONFLICT;
}

/* ---- claiming and recording ---------------------------------------------------- */

/*
 * Claims the tenant's longest-due job (pending and due, or running with an
 * expired lease): status 'running', one more attempt, leased and due again
 * at now + lease_s. Its own committed transaction. *found is false when the
 * tenant has nothing due (or everything due is being claimed by others).
 */
static enum err claim_one(struct storage *s, const struct tenant_ctx *t, int64_t now,
                          unsigned lease_s, struct jobs_job *job, bool *found)
{
    *found = false;
    struct tx *tx = NULL;
    enum err e = storage_begin(s, t, TX_WRITE, &tx);
    if (e)
        return e;
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(
        tx,
        pg ? "UPDATE jobs SET status = 'running', attempts = attempts + 1,"
             " leased_until = to_timestamp($3::bigint), run_at = to_timestamp($3::bigint)"
             " WHERE tenant_id = $1::uuid AND id = ("
             "  SELECT id FROM jobs WHERE tenant_id = $1::uuid"
             "  AND status IN ('pending', 'running') AND run_at <= to_timestamp($2::bigint)"
             "  ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
             " RETURNING id, kind, ref, attempts, max_attempts"
           : "UPDATE jobs SET status = 'running', attempts = attempts + 1,"
             " leased_until = $3, run_at = $3"
             " WHERE tenant_id = $1 AND id = ("
             "  SELECT id FROM jobs WHERE tenant_id = $1"
             "  AND status IN ('pending', 'running') AND run_at <= $2"
             "  ORDER BY run_at, id LIMIT 1)"
             " RETURNING id, kind, ref, attempts, max_attempts",
        STORAGE_ARGS(STORAGE_INT(now), STORAGE_INT(now + (int64_t)lease_s)), &st, &row);
    if (!e && row) {
        memset(job, 0, sizeof *job);
        job->tenant = *t;
        if (stmt_col_text(st, 0).len != JOBS_ID_LEN) {
            e = ERR_INTERNAL;
        } else {
            col_copy(st, 0, job->id, sizeof job->id);
            col_copy(st, 1, job->kind, sizeof job->kind);
            col_copy(st, 2, job->ref, sizeof job->ref);
            job->attempt = (int)stmt_col_int(st, 3);
            job->max_attempts = (int)stmt_col_int(st, 4);
            job->now = now;
        }
    }
    if (st)
        stmt_finish(st);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    if (!e)
        *found = row;
    return e;
}

/* Wait after the n-th failed attempt: base * 2^(n-1), capped. */
static int64_t backoff_s(int attempt)
{
    int64_t w = JOBS_BACKOFF_BASE_S;
    for (int i = 1; i < attempt && w < JOBS_BACKOFF_MAX_S; i++)
        w *= 2;
    return w < JOBS_BACKOFF_MAX_S ? w : JOBS_BACKOFF_MAX_S;
}

enum outcome { OUT_DONE, OUT_RETRY, OUT_DEAD };

/*
 * Records the outcome of the attempt job->attempt, fenced by it: nothing
 * changes when the job is no longer running that attempt (its lease ran out
 * and another runner claimed it), and *recorded says so.
 */
static enum err record(struct storage *s, const struct jobs_job *job, enum outcome o, int64_t now,
                       const char *why, bool *recorded)
{
    *recorded = false;
    static const char *const st_name[] = {"done", "pending", "dead"};
    int64_t run_at = o == OUT_RETRY ? now + backoff_s(job->attempt) : now;
    struct tx *tx = NULL;
    enum err e = storage_begin(s, &job->tenant, TX_WRITE, &tx);
    if (e)
        return e;
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    uint64_t changed = 0;
    e = tx_exec_args(tx,
                     pg ? "UPDATE jobs SET status = $4::text, leased_until = NULL,"
                          " run_at = to_timestamp($5::bigint),"
                          " finished_at = to_timestamp($6::bigint), last_error = $7::text"
                          " WHERE tenant_id = $1::uuid AND id = $2 AND status = 'running'"
                          " AND attempts = $3::int"
                        : "UPDATE jobs SET status = $4, leased_until = NULL, run_at = $5,"
                          " finished_at = $6, last_error = $7"
                          " WHERE tenant_id = $1 AND id = $2 AND status = 'running'"
                          " AND attempts = $3",
                     STORAGE_ARGS(STORAGE_CSTR(job->id), STORAGE_INT(job->attempt),
                                  STORAGE_CSTR(st_name[o]), STORAGE_INT(run_at),
                                  o == OUT_RETRY ? STORAGE_NULL : STORAGE_INT(now),
                                  o == OUT_DONE ? STORAGE_NULL : STORAGE_CSTR(why)),
                     &changed);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    if (!e)
        *recorded = changed == 1;
    return e;
}

bool jobs_err_permanent(enum err e)
{
    return e == ERR_INVALID || e == ERR_LIMIT || e == ERR_NOT_FOUND || e == ERR_UNPROCESSABLE;
}

/* "ERR_NAME: reason", printable ASCII only (it is shown to operators), capped. */
static void format_error(char *out, size_t cap, enum err e, const char *why)
{
    if (why && why[0])
        snprintf(out, cap, "%s: %s", err_name(e), why);
    else
        snprintf(out, cap, "%s", err_name(e));
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
}

static const struct jobs_handler *find_handler(const struct jobs_handler *h, size_t n,
                                               const char *kind)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].kind, kind) == 0)
            return &h[i];
    return NULL;
}

/* Runs one claimed job and records its outcome. */
static enum err process(struct storage *s, const struct jobs_handler *handlers, size_t n,
                        const struct jobs_job *job, int64_t now, struct jobs_round *out)
{
    char why[JOBS_MAX_ERROR + 1] = "";
    char last_error[JOBS_MAX_ERROR + 1] = "";
    enum err r;
    if (job->attempt > job->max_attempts) {
        /* its runner died during the last attempt: nothing left to try */
        r = ERR_TIMEOUT;
        snprintf(why, sizeof why, "lease expired on the last attempt");
    } else {
        const struct jobs_handler *h = find_handler(handlers, n, job->kind);
        if (h) {
            r = h->run(h->arg, s, job, why, sizeof why);
            why[sizeof why - 1] = '\0';
        } else {
            r = ERR_UNAVAILABLE;
            snprintf(why, sizeof why, "no handler for this kind");
        }
    }
    enum outcome o = OUT_DONE;
    if (r != ERR_OK) {
        format_error(last_error, sizeof last_error, r, why);
        o = jobs_err_permanent(r) || job->attempt >= job->max_attempts ? OUT_DEAD : OUT_RETRY;
    }
    /* a lost record re-runs the job after its lease: worth a short wait and another try */
    bool recorded = false;
    enum err e = ERR_OK;
    for (int k = 0; k < JOBS_RECORD_TRIES; k++) {
        if (k)
            nanosleep(&(struct timespec){.tv_nsec = 100L * 1000000L * k}, NULL);
        e = record(s, job, o, now, last_error, &recorded);
        if (e != ERR_TIMEOUT && e != ERR_UNAVAILABLE)
            break;
    }
    if (e) {
        log_warn("jobs: outcome not recorded, the job runs again after its lease",
                 LOG_STR("tenant", job->tenant.id), LOG_STR("job_id", job->id),
                 LOG_INT("attempt", job->attempt), LOG_ERR(e));
        return e;
    }
    if (!recorded) {
        out->lost++;
        log_info("jobs: lease lost, outcome not recorded", LOG_STR("tenant", job->tenant.id),
                 LOG_STR("job_id", job->id), LOG_INT("attempt", job->attempt));
    } else if (o == OUT_DONE) {
        out->done++;
    } else if (o == OUT_RETRY) {
        out->retried++;
        log_info("jobs: job failed, will retry", LOG_STR("tenant", job->tenant.id),
                 LOG_STR("job_id", job->id), LOG_INT("attempt", job->attempt), LOG_ERR(r));
    } else {
        out->dead++;
        log_warn("jobs: job dead", LOG_STR("tenant", job->tenant.id), LOG_STR("job_id", job->id),
                 LOG_INT("attempts", job->attempt), LOG_ERR(r));
    }
    return ERR_OK;
}

/* ---- the round --------------------------------------------------------------------- */

struct tenant_list {
    size_t n;
    struct tenant_ctx t[JOBS_TENANTS_PER_ROUND];
};

static enum err collect_tenant(void *arg, const char *id)
{
    struct tenant_list *l = arg;
    if (l->n < JOBS_TENANTS_PER_ROUND && storage_tenant_id_valid(str_from_cstr(id)))
        snprintf(l->t[l->n++].id, sizeof l->t[0].id, "%s", id);
    return ERR_OK;
}

/*
 * A round that starts with the offset-th due tenant (wrapping), so the
 * threads of a runner spread over the tenants instead of all queueing on the
 * longest-waiting one.
 */
static enum err round_from(struct storage *s, const struct jobs_handler *handlers, size_t n,
                           int64_t now, unsigned lease_s, const atomic_int *stop, size_t offset,
                           struct jobs_round *out)
{
    memset(out, 0, sizeof *out);
    if (lease_s == 0)
        lease_s = JOBS_LEASE_S;
    struct tenant_list *l = calloc(1, sizeof *l);
    if (!l)
        err_oom();
    enum err e = storage_due_job_tenants(s, now, JOBS_TENANTS_PER_ROUND, collect_tenant, l);
    for (size_t i = 0; !e && i < l->n; i++) {
        const struct tenant_ctx *t = &l->t[(i + offset) % l->n];
        for (int k = 0; !e && k < JOBS_PER_TENANT; k++) {
            if (stop && atomic_load(stop))
                goto done;
            struct jobs_job job;
            bool found = false;
            e = claim_one(s, t, now, lease_s, &job, &found);
            if (e || !found)
                break;
            out->claimed++;
            e = process(s, handlers, n, &job, now, out);
        }
    }
done:
    free(l);
    return e;
}

enum err jobs_run_round(struct storage *s, const struct jobs_handler *handlers, size_t n,
                        int64_t now_unix, unsigned lease_s, const atomic_int *stop,
                        struct jobs_round *out)
{
    return round_from(s, handlers, n, now_unix, lease_s, stop, 0, out);
}

/* ---- the runner -------------------------------------------------------------------- */

struct jobs_runner {
    struct storage *s;
    struct jobs_handler handlers[JOBS_MAX_HANDLERS];
    size_t n;
    unsigned lease_s;
    int64_t (*clock)(void *clock_arg);
    void *clock_arg;
    struct worker *w;
    /* per thread, touched by that thread only */
    enum err last_err[JOBS_MAX_THREADS];
    size_t rounds[JOBS_MAX_THREADS];
    pthread_mutex_t mu; /* guards totals */
    struct jobs_round totals;
};

static int64_t wall_clock(void *arg)
{
    (void)arg;
    return (int64_t)time(NULL);
}

static bool runner_round(void *arg, unsigned index, const atomic_int *stop)
{
    struct jobs_runner *r = arg;
    struct jobs_round rd;
    enum err e = round_from(r->s, r->handlers, r->n, r->clock(r->clock_arg), r->lease_s, stop,
                            index + r->rounds[index]++, &rd);
    if (e && e != r->last_err[index]) /* once per kind of outage, not every poll */
        log_warn("jobs: round failed", LOG_ERR(e), LOG_INT("thread", index));
    r->last_err[index] = e;
    pthread_mutex_lock(&r->mu);
    r->totals.claimed += rd.claimed;
    r->totals.done += rd.done;
    r->totals.retried += rd.retried;
    r->totals.dead += rd.dead;
    r->totals.lost += rd.lost;
    pthread_mutex_unlock(&r->mu);
    return !e && rd.claimed > 0;
}

enum err jobs_runner_start(struct storage *s, const struct jobs_handler *handlers, size_t n,
                           unsigned threads, const struct jobs_runner_options *opt,
                           struct jobs_runner **out)
{
    *out = NULL;
    if (!s || !handlers || n == 0 || n > JOBS_MAX_HANDLERS || threads == 0 ||
        threads > JOBS_MAX_THREADS)
        return ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        if (!handlers[i].run || jobs_check(handlers[i].kind, "") != ERR_OK)
            return ERR_INVALID;
        if (find_handler(handlers, i, handlers[i].kind))
            return ERR_INVALID; /* listed twice */
    }
    struct jobs_runner *r = calloc(1, sizeof *r);
    if (!r)
        err_oom();
    r->s = s;
    memcpy(r->handlers, handlers, n * sizeof handlers[0]);
    r->n = n;
    r->lease_s = opt && opt->lease_s ? opt->lease_s : JOBS_LEASE_S;
    r->clock = opt && opt->clock ? opt->clock : wall_clock;
    r->clock_arg = opt ? opt->clock_arg : NULL;
    pthread_mutex_init(&r->mu, NULL);
    enum err e = worker_start(threads, opt && opt->poll_ms ? opt->poll_ms : JOBS_POLL_MS,
                              runner_round, r, &r->w);
    if (e) {
        pthread_mutex_destroy(&r->mu);
        free(r);
        return e;
    }
    log_info("jobs: runner started", LOG_INT("threads", threads), LOG_INT("handlers", n));
    *out = r;
    return ERR_OK;
}

void jobs_runner_notify(struct jobs_runner *r)
{
    worker_notify(r->w);
}

void jobs_runner_totals(struct jobs_runner *r, struct jobs_round *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->totals;
    pthread_mutex_unlock(&r->mu);
}

void jobs_runner_stop(struct jobs_runner *r)
{
    if (!r)
        return;
    worker_stop(r->w);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
