/*
 * jobs — the durable job queue; see jobs.h for the design.
 *
 * Sections: input checks and enqueue; reading rows (get, list) and retry;
 * claiming a batch; preparing its jobs (first steps); settling them
 * (outcomes and second steps, one transaction per batch); the round; the
 * runner (threads from core/worker).
 *
 * SQL differs per dialect in time handling — PostgreSQL stores timestamptz
 * (to_timestamp / extract(epoch)), SQLite Unix seconds — and in the claim's
 * FOR UPDATE SKIP LOCKED (PostgreSQL). The runner's times come from its
 * clock (no now() in SQL), so tests drive it.
 */
#include "jobs/jobs.h"
#include "jobs/jobs_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "core/worker.h"
#include "crypto/rand.h"
#include "storage/group.h"

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

enum err jobs_purge_done(struct tx *tx, int64_t before, size_t max, size_t *deleted)
{
    *deleted = 0;
    if (max == 0 || max > JOBS_PURGE_MAX)
        return ERR_INVALID;
    /* done: run_at = finished_at, so the (tenant, status, run_at) index finds them in order */
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    uint64_t n = 0;
    enum err e = tx_exec_args(
        tx,
        pg ? "DELETE FROM jobs WHERE tenant_id = $1::uuid AND id IN ("
             " SELECT id FROM jobs WHERE tenant_id = $1::uuid AND status = 'done'"
             " AND run_at < to_timestamp($2::bigint) ORDER BY run_at, id LIMIT $3::int)"
           : "DELETE FROM jobs WHERE tenant_id = $1 AND id IN ("
             " SELECT id FROM jobs WHERE tenant_id = $1 AND status = 'done' AND run_at < $2"
             " ORDER BY run_at, id LIMIT $3)",
        STORAGE_ARGS(STORAGE_INT(before), STORAGE_INT((int64_t)max)), &n);
    if (!e)
        *deleted = (size_t)n;
    return e;
}

/* ---- claiming ------------------------------------------------------------------------ */

/*
 * The two claim statements per dialect, each reading one status's due jobs
 * in the order of jobs_tenant_due (tenant_id, status, run_at, id): no sort,
 * however many jobs are due ($2 now, $3 the lease's end, $4 the most jobs).
 * SQLite's index ends with id as the WITHOUT ROWID primary key does;
 * PostgreSQL's lists it (migration 0017).
 */
#define CLAIM_PG(status)                                                                           \
    "UPDATE jobs SET status = 'running', attempts = attempts + 1,"                                 \
    " leased_until = to_timestamp($3::bigint), run_at = to_timestamp($3::bigint)"                  \
    " WHERE tenant_id = $1::uuid AND id IN ("                                                      \
    "  SELECT id FROM jobs WHERE tenant_id = $1::uuid AND status = '" status "'"                   \
    "  AND run_at <= to_timestamp($2::bigint)"                                                     \
    "  ORDER BY run_at, id LIMIT $4::int FOR UPDATE SKIP LOCKED)"                                  \
    " RETURNING id, kind, ref, attempts, max_attempts"
#define CLAIM_SQ(status)                                                                           \
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, leased_until = $3, run_at = $3"  \
    " WHERE tenant_id = $1 AND id IN ("                                                            \
    "  SELECT id FROM jobs WHERE tenant_id = $1 AND status = '" status "' AND run_at <= $2"        \
    "  ORDER BY run_at, id LIMIT $4)"                                                              \
    " RETURNING id, kind, ref, attempts, max_attempts"

static const char *const claim_sql[2][2] = {
    [STORAGE_SQLITE] =
        {[JOBS_CLAIM_EXPIRED] = CLAIM_SQ("running"), [JOBS_CLAIM_PENDING] = CLAIM_SQ("pending")},
    [STORAGE_POSTGRES] =
        {[JOBS_CLAIM_EXPIRED] = CLAIM_PG("running"), [JOBS_CLAIM_PENDING] = CLAIM_PG("pending")},
};

const char *jobs_claim_sql(enum storage_backend b, enum jobs_claim_branch branch)
{
    bool pg = b == STORAGE_POSTGRES, pending = branch == JOBS_CLAIM_PENDING;
    return claim_sql[pg ? STORAGE_POSTGRES : STORAGE_SQLITE]
                    [pending ? JOBS_CLAIM_PENDING : JOBS_CLAIM_EXPIRED];
}

/* One claimed job on its way through a batch. */
struct slot {
    struct jobs_job job;
    const struct jobs_handler *h; /* NULL: no handler knows its kind */
    void *work;                   /* a two-step handler's prepared state */
    bool prepared;                /* prepare succeeded: release is owed */
    enum err r;                   /* ERR_OK: the job is to be done; else why its attempt failed */
    char why[JOBS_MAX_ERROR + 1]; /* the reason given with r */
    bool recorded;                /* the last settle recorded its outcome (else: lease lost) */
    bool hook_failed;             /* the last settle failed in the handler's apply or fail */
};

/* Where the runner writes: its storage, through the group commit when it has one. */
struct store {
    struct storage *s;
    struct storage_group *g; /* NULL: transactions of its own */
};

/*
 * Runs write(arg, tx) in a write transaction of t. With a group, as one of
 * its background units: the runner's claims and outcomes then go through
 * the writer, after the deliveries waiting for their answer, instead of
 * taking the database's write lock in turns with them (and write may run
 * twice).
 */
static enum err write_in(const struct store *db, const struct tenant_ctx *t,
                         enum err (*write)(void *arg, struct tx *tx), void *arg)
{
    if (db->g)
        return storage_group_run(db->g, t, write, arg);
    struct tx *tx = NULL;
    enum err e = storage_begin(db->s, t, TX_WRITE, &tx);
    if (e)
        return e;
    e = write(arg, tx);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

/* Appends the rows of one claim statement to slots[*n..max). */
static enum err claim_rows(struct tx *tx, const struct tenant_ctx *t, enum jobs_claim_branch br,
                           int64_t now, unsigned lease_s, size_t max, struct slot *slots, size_t *n)
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(
        tx, jobs_claim_sql(storage_tx_backend(tx), br),
        STORAGE_ARGS(STORAGE_INT(now), STORAGE_INT(now + (int64_t)lease_s), STORAGE_INT(max - *n)),
        &st, &row);
    while (!e && row && *n < max) {
        struct slot *sl = &slots[*n];
        memset(sl, 0, sizeof *sl);
        if (stmt_col_text(st, 0).len != JOBS_ID_LEN) {
            e = ERR_INTERNAL;
            break;
        }
        sl->job.tenant = *t;
        col_copy(st, 0, sl->job.id, sizeof sl->job.id);
        col_copy(st, 1, sl->job.kind, sizeof sl->job.kind);
        col_copy(st, 2, sl->job.ref, sizeof sl->job.ref);
        sl->job.attempt = (int)stmt_col_int(st, 3);
        sl->job.max_attempts = (int)stmt_col_int(st, 4);
        sl->job.now = now;
        (*n)++;
        e = stmt_step(st, &row);
    }
    if (st)
        stmt_finish(st);
    return e;
}

/*
 * Claims up to max of the tenant's due jobs in one committed transaction:
 * first running jobs whose lease has expired, then pending ones, each the
 * longest-due first; each becomes 'running' with one more attempt, leased
 * and due again at now + lease_s. *n is 0 when the tenant has nothing due
 * (or everything due is being claimed by others); nothing is committed then.
 */
struct claim {
    const struct tenant_ctx *t;
    int64_t now;
    unsigned lease_s;
    size_t max;
    struct slot *slots;
    size_t n;
};

static enum err claim_write(void *arg, struct tx *tx)
{
    struct claim *c = arg;
    c->n = 0; /* a unit may run twice */
    enum err e =
        claim_rows(tx, c->t, JOBS_CLAIM_EXPIRED, c->now, c->lease_s, c->max, c->slots, &c->n);
    if (!e && c->n < c->max)
        e = claim_rows(tx, c->t, JOBS_CLAIM_PENDING, c->now, c->lease_s, c->max, c->slots, &c->n);
    return e;
}

static enum err claim_batch(const struct store *db, const struct tenant_ctx *t, int64_t now,
                            unsigned lease_s, size_t max, struct slot *slots, size_t *n)
{
    struct claim c = {t, now, lease_s, max, slots, 0};
    enum err e = write_in(db, t, claim_write, &c);
    *n = e ? 0 : c.n;
    return e;
}

/* ---- preparing -------------------------------------------------------------------------- */

bool jobs_err_permanent(enum err e)
{
    return e == ERR_INVALID || e == ERR_LIMIT || e == ERR_NOT_FOUND || e == ERR_UNPROCESSABLE;
}

static const struct jobs_handler *find_handler(const struct jobs_handler *h, size_t n,
                                               const char *kind)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].kind, kind) == 0)
            return &h[i];
    return NULL;
}

/* One form or the other, and only the hooks that form has. */
static bool handler_valid(const struct jobs_handler *h)
{
    if (!h->kind || jobs_check(h->kind, "") != ERR_OK)
        return false;
    if (h->run)
        return !h->prepare && !h->apply && !h->release;
    return h->prepare && h->apply;
}

/*
 * Runs the first step of sl's job outside any transaction: a one-step
 * handler's whole work, or a two-step handler's prepare. Sets sl->r and
 * sl->why; returns the bytes the prepared work holds.
 */
static size_t prepare(struct storage *s, const struct jobs_handler *handlers, size_t n,
                      struct slot *sl)
{
    struct jobs_prepared p = {0};
    sl->h = find_handler(handlers, n, sl->job.kind);
    if (sl->job.attempt > sl->job.max_attempts) {
        /* its runner died during the last attempt: nothing left to try */
        sl->r = ERR_TIMEOUT;
        snprintf(sl->why, sizeof sl->why, "lease expired on the last attempt");
    } else if (!sl->h) {
        sl->r = ERR_UNAVAILABLE;
        snprintf(sl->why, sizeof sl->why, "no handler for this kind");
    } else if (sl->h->run) {
        sl->r = sl->h->run(sl->h->arg, s, &sl->job, sl->why, sizeof sl->why);
    } else {
        sl->r = sl->h->prepare(sl->h->arg, s, &sl->job, &p, sl->why, sizeof sl->why);
        sl->prepared = sl->r == ERR_OK;
        sl->work = sl->prepared ? p.work : NULL;
    }
    sl->why[sizeof sl->why - 1] = '\0';
    return sl->prepared ? p.bytes : 0;
}

static void release(struct slot *sl)
{
    if (sl->prepared && sl->h->release)
        sl->h->release(sl->h->arg, sl->work);
    sl->prepared = false;
    sl->work = NULL;
}

/* ---- settling: outcomes (and two-step writes) in one transaction ------------------------ */

enum outcome { OUT_DONE, OUT_RETRY, OUT_DEAD };

/* Wait after the n-th failed attempt: base * 2^(n-1), capped. */
static int64_t backoff_s(int attempt)
{
    int64_t w = JOBS_BACKOFF_BASE_S;
    for (int i = 1; i < attempt && w < JOBS_BACKOFF_MAX_S; i++)
        w *= 2;
    return w < JOBS_BACKOFF_MAX_S ? w : JOBS_BACKOFF_MAX_S;
}

static enum outcome outcome_of(const struct slot *sl)
{
    if (sl->r == ERR_OK)
        return OUT_DONE;
    return jobs_err_permanent(sl->r) || sl->job.attempt >= sl->job.max_attempts ? OUT_DEAD
                                                                                : OUT_RETRY;
}

/* "ERR_NAME: reason", printable ASCII only (it is shown to operators), capped. */
static void format_error(char *out, size_t cap, enum err e, const char *why)
{
    const char *parts[3] = {err_name(e), why && why[0] ? ": " : "", why ? why : ""};
    size_t at = 0;
    for (size_t i = 0; i < 3; i++) { /* cut at cap on purpose */
        size_t n = strnlen(parts[i], cap - 1 - at);
        memcpy(out + at, parts[i], n);
        at += n;
    }
    out[at] = '\0';
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
}

/*
 * Records outcome o of the attempt job->attempt in tx, fenced by it:
 * nothing changes when the job is no longer running that attempt (its lease
 * ran out and another runner claimed it), and *changed is 0.
 */
static enum err record(struct tx *tx, const struct jobs_job *job, enum outcome o, int64_t now,
                       const char *last_error, uint64_t *changed)
{
    static const char *const st_name[] = {"done", "pending", "dead"};
    int64_t run_at = o == OUT_RETRY ? now + backoff_s(job->attempt) : now;
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    return tx_exec_args(tx,
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
                                     o == OUT_DONE ? STORAGE_NULL : STORAGE_CSTR(last_error)),
                        changed);
}

/*
 * sl's outcome in tx, and what goes with it: a done two-step job's apply, a
 * failed job's fail hook (unless hooks is false). The outcome is recorded
 * first, so a job whose lease was lost writes nothing at all. Returns the
 * first error; sl->hook_failed says when it came from the handler.
 */
static enum err settle(struct tx *tx, struct slot *sl, int64_t now, bool hooks)
{
    sl->recorded = sl->hook_failed = false;
    enum outcome o = outcome_of(sl);
    char last_error[JOBS_MAX_ERROR + 1] = "";
    if (o != OUT_DONE)
        format_error(last_error, sizeof last_error, sl->r, sl->why);
    uint64_t changed = 0;
    enum err e = record(tx, &sl->job, o, now, last_error, &changed);
    if (e || changed != 1)
        return e;
    sl->recorded = true;
    const struct jobs_handler *h = sl->h;
    if (o == OUT_DONE && h && h->apply) {
        sl->why[0] = '\0';
        e = h->apply(h->arg, tx, &sl->job, sl->work, sl->why, sizeof sl->why);
        sl->why[sizeof sl->why - 1] = '\0';
    } else if (o != OUT_DONE && hooks && h && h->fail) {
        e = h->fail(h->arg, tx, &sl->job, sl->r, o == OUT_DEAD, sl->why);
    }
    sl->hook_failed = e != ERR_OK;
    return e;
}

/* Settles slots[0..n) (one tenant's) in one write transaction: all of them, or none. */
struct settle_args {
    struct slot *slots;
    size_t n;
    int64_t now;
    bool hooks;
};

static enum err settle_write(void *arg, struct tx *tx)
{
    struct settle_args *a = arg;
    enum err e = ERR_OK;
    for (size_t i = 0; !e && i < a->n; i++)
        e = settle(tx, &a->slots[i], a->now, a->hooks);
    return e;
}

static enum err settle_together(const struct store *db, struct slot *slots, size_t n, int64_t now,
                                bool hooks)
{
    struct settle_args a = {slots, n, now, hooks};
    return write_in(db, &slots[0].job.tenant, settle_write, &a);
}

/*
 * Settles sl in transactions of its own. When its apply fails the attempt
 * has failed: that is recorded instead. When its fail hook fails, the
 * outcome is recorded without it. A busy or unreachable database gets
 * JOBS_RECORD_TRIES tries (an unrecorded outcome re-runs the job after its
 * lease). Returns the storage error that left the outcome unrecorded.
 */
static enum err settle_alone(const struct store *db, struct slot *sl, int64_t now)
{
    bool hooks = true;
    for (int tries = 1;; tries++) {
        enum err e = settle_together(db, sl, 1, now, hooks);
        if (!e)
            return ERR_OK;
        if (sl->hook_failed && sl->r == ERR_OK) {
            sl->r = e; /* apply wrote sl->why */
            continue;
        }
        if (sl->hook_failed && hooks) {
            log_warn("jobs: the handler did not note the failure",
                     LOG_STR("tenant", sl->job.tenant.id), LOG_STR("job_id", sl->job.id),
                     LOG_ERR(e));
            hooks = false;
            continue;
        }
        if ((e != ERR_TIMEOUT && e != ERR_UNAVAILABLE) || tries >= JOBS_RECORD_TRIES)
            return e;
        nanosleep(&(struct timespec){.tv_nsec = 100L * 1000000L * tries}, NULL);
    }
}

/* Counts and logs sl's settled outcome (e: the error that left it unrecorded). */
static void report(const struct slot *sl, enum err e, struct jobs_round *out)
{
    const struct jobs_job *job = &sl->job;
    enum outcome o = outcome_of(sl);
    if (e) {
        log_warn("jobs: outcome not recorded, the job runs again after its lease",
                 LOG_STR("tenant", job->tenant.id), LOG_STR("job_id", job->id),
                 LOG_INT("attempt", job->attempt), LOG_ERR(e));
    } else if (!sl->recorded) {
        out->lost++;
        log_info("jobs: lease lost, outcome not recorded", LOG_STR("tenant", job->tenant.id),
                 LOG_STR("job_id", job->id), LOG_INT("attempt", job->attempt));
    } else if (o == OUT_DONE) {
        out->done++;
    } else if (o == OUT_RETRY) {
        out->retried++;
        log_info("jobs: job failed, will retry", LOG_STR("tenant", job->tenant.id),
                 LOG_STR("job_id", job->id), LOG_INT("attempt", job->attempt), LOG_ERR(sl->r));
    } else {
        out->dead++;
        log_warn("jobs: job dead", LOG_STR("tenant", job->tenant.id), LOG_STR("job_id", job->id),
                 LOG_INT("attempts", job->attempt), LOG_ERR(sl->r));
    }
}

/*
 * Settles slots[0..n), already prepared: together in one transaction, or —
 * when that fails — each alone, so one bad job fails only itself. Returns
 * the first storage error that left an outcome unrecorded.
 */
static enum err settle_all(const struct store *db, struct slot *slots, size_t n, int64_t now,
                           struct jobs_round *out)
{
    enum err first = ERR_OK;
    if (n > 1 && settle_together(db, slots, n, now, true) == ERR_OK) {
        for (size_t i = 0; i < n; i++)
            report(&slots[i], ERR_OK, out);
        return ERR_OK;
    }
    if (n > 1)
        out->alone += (unsigned)n;
    for (size_t i = 0; i < n; i++) {
        enum err e = settle_alone(db, &slots[i], now);
        report(&slots[i], e, out);
        if (!first)
            first = e;
    }
    return first;
}

/*
 * Runs a claimed batch: prepares its jobs in order and settles them, in
 * parts when their prepared work reaches JOBS_BATCH_MAX_BYTES. Every job is
 * settled (or left to its lease) and every prepared work released. Returns
 * the first storage error.
 */
static enum err run_batch(const struct store *db, const struct jobs_handler *handlers, size_t nh,
                          struct slot *slots, size_t n, int64_t now, struct jobs_round *out)
{
    enum err first = ERR_OK;
    for (size_t from = 0; from < n;) {
        size_t to = from, bytes = 0;
        while (to < n && bytes < JOBS_BATCH_MAX_BYTES)
            bytes += prepare(db->s, handlers, nh, &slots[to++]);
        enum err e = settle_all(db, slots + from, to - from, now, out);
        if (!first)
            first = e;
        for (size_t i = from; i < to; i++)
            release(&slots[i]);
        from = to;
    }
    return first;
}

/* ---- the round --------------------------------------------------------------------- */

struct round_state {
    size_t n;
    struct tenant_ctx t[JOBS_TENANTS_PER_ROUND];
    struct slot slots[JOBS_CLAIM_BATCH];
};

static enum err collect_tenant(void *arg, const char *id)
{
    struct round_state *l = arg;
    if (l->n < JOBS_TENANTS_PER_ROUND && storage_tenant_id_valid(str_from_cstr(id)))
        snprintf(l->t[l->n++].id, sizeof l->t[0].id, "%s", id);
    return ERR_OK;
}

/*
 * A round that starts with the offset-th due tenant (wrapping), so the
 * threads of a runner spread over the tenants instead of all queueing on the
 * longest-waiting one.
 */
static enum err round_from(const struct store *db, const struct jobs_handler *handlers, size_t n,
                           int64_t now, unsigned lease_s, const atomic_int *stop, size_t offset,
                           struct jobs_round *out)
{
    memset(out, 0, sizeof *out);
    if (lease_s == 0)
        lease_s = JOBS_LEASE_S;
    struct round_state *l = calloc(1, sizeof *l);
    if (!l)
        err_oom();
    enum err e = storage_due_job_tenants(db->s, now, JOBS_TENANTS_PER_ROUND, collect_tenant, l);
    for (size_t i = 0; !e && i < l->n; i++) {
        const struct tenant_ctx *t = &l->t[(i + offset) % l->n];
        for (size_t k = 0; !e && k < JOBS_PER_TENANT;) {
            if (stop && atomic_load(stop))
                goto done;
            size_t batch = storage_group_busy(db->g) ? JOBS_CLAIM_BATCH_BUSY : JOBS_CLAIM_BATCH;
            size_t want = JOBS_PER_TENANT - k < batch ? JOBS_PER_TENANT - k : batch;
            size_t got = 0;
            e = claim_batch(db, t, now, lease_s, want, l->slots, &got);
            if (e || got == 0)
                break;
            out->claimed += (unsigned)got;
            k += got;
            e = run_batch(db, handlers, n, l->slots, got, now, out);
            if (got < want)
                break; /* the tenant has nothing more due */
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
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++)
        if (!handler_valid(&handlers[i]))
            return ERR_INVALID;
    return round_from(&(struct store){s, NULL}, handlers, n, now_unix, lease_s, stop, 0, out);
}

/* ---- the runner -------------------------------------------------------------------- */

struct jobs_runner {
    struct store db;
    int nice; /* applied by each thread on its first round */
    struct jobs_handler handlers[JOBS_MAX_HANDLERS];
    size_t n;
    unsigned lease_s;
    int64_t (*clock)(void *clock_arg);
    void *clock_arg;
    struct worker *w;
    /* per thread, touched by that thread only */
    enum err last_err[JOBS_MAX_THREADS];
    size_t rounds[JOBS_MAX_THREADS];
    pthread_mutex_t mu; /* guards totals and w */
    struct jobs_round totals;
};

static int64_t wall_clock(void *arg)
{
    (void)arg;
    return (int64_t)time(NULL);
}

/*
 * Lowers the calling thread's CPU priority (Linux applies a nice value per
 * thread): the runner's parsing then yields the CPU to the request threads
 * under load, while its writes, done by the group writer, keep their turn.
 */
static void lower_priority(int nice)
{
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) != 0)
        log_warn("jobs: cannot lower the runner's priority", LOG_INT("nice", nice),
                 LOG_INT("errno", errno));
}

static bool runner_round(void *arg, unsigned index, const atomic_int *stop)
{
    struct jobs_runner *r = arg;
    struct jobs_round rd;
    if (r->rounds[index] == 0 && r->nice)
        lower_priority(r->nice);
    enum err e = round_from(&r->db, r->handlers, r->n, r->clock(r->clock_arg), r->lease_s, stop,
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
    r->totals.alone += rd.alone;
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
        if (!handler_valid(&handlers[i]))
            return ERR_INVALID;
        if (find_handler(handlers, i, handlers[i].kind))
            return ERR_INVALID; /* listed twice */
    }
    struct jobs_runner *r = calloc(1, sizeof *r);
    if (!r)
        err_oom();
    r->db = (struct store){s, opt ? opt->group : NULL};
    r->nice = opt ? opt->nice : 0;
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
    worker_set_name(r->w, "sl-jobs");
    log_info("jobs: runner started", LOG_INT("threads", threads), LOG_INT("handlers", n));
    *out = r;
    return ERR_OK;
}

void jobs_runner_notify(struct jobs_runner *r)
{
    pthread_mutex_lock(&r->mu);
    if (r->w)
        worker_notify(r->w);
    pthread_mutex_unlock(&r->mu);
}

void jobs_runner_totals(struct jobs_runner *r, struct jobs_round *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->totals;
    pthread_mutex_unlock(&r->mu);
}

void jobs_runner_halt(struct jobs_runner *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    struct worker *w = r->w;
    r->w = NULL;
    pthread_mutex_unlock(&r->mu);
    worker_stop(w); /* outside mu: a round in flight takes it to add its totals */
}

void jobs_runner_stop(struct jobs_runner *r)
{
    if (!r)
        return;
    jobs_runner_halt(r);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
