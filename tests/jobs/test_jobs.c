/*
 * Jobs suite (I6, P3): the durable job queue against a real database.
 *
 *   SHIPLOG_TEST_PG_OWNER_URL and SHIPLOG_TEST_PG_APP_URL set: PostgreSQL
 *   (migrations with the owner, everything else with the application role);
 *   otherwise SQLite in a fresh mkdtemp directory.
 *
 * Covered: kind and ref at and one past their limits; a job enqueued in a
 * rolled-back transaction never exists; a committed job runs once; a failing
 * handler is retried with doubling backoff (driven by the clock) and is dead
 * after max_attempts with last_error; a permanent failure is dead at once; an
 * unknown kind is retried; a runner process that dies inside a handler leaves
 * the job to be claimed again once its lease is over; a runner whose lease
 * ran out records nothing (fencing) and, for a two-step job, writes nothing;
 * batches: 100 jobs cost two write commits per JOBS_CLAIM_BATCH
 * (storage_write_commits), failed preparations and their fail hook settle
 * in the same transaction, one job whose apply fails fails only itself
 * while the rest of its batch is done, each write made once; the claim
 * statements' plans use the index and never sort; jobs_retry revives a dead
 * job only; listing, paging and tenant isolation (PostgreSQL: row-level
 * security probes and the SECURITY DEFINER function's shape and grants); the
 * runner's notify and its refusal of handlers mixing the two forms; two
 * storages in one process and two real processes sharing 500 jobs (one-step
 * and two-step handlers), each run exactly once and both doing some of the
 * work.
 *
 * Clock: tests that step time call rounds with T0 + offsets, T0 being the
 * wall clock at start, so every job they leave behind is final or in the
 * future of the wall-clock runners of the last tests.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jobs/jobs.h"
#include "jobs/jobs_internal.h"
#include "storage/group.h"
#include "storage/storage.h"
#include "testdb.h"

struct suite {
    bool pg;
    char dir[64];
    char db_path[128];
    const char *app_url;
    struct storage *s;
    int64_t t0;
};

static struct suite S;

static int suite_setup(void **state)
{
    S.s = testdb_open_main("jobs", S.dir, &S.pg);
    if (!S.s)
        return -1;
    S.app_url = getenv("SHIPLOG_TEST_PG_APP_URL");
    snprintf(S.db_path, sizeof S.db_path, "%s/shiplog.db", S.dir);
    S.t0 = (int64_t)time(NULL);
    return 0;
}

static int suite_teardown(void **state)
{
    testdb_cleanup(S.s, S.dir);
    return 0;
}

/* Another storage on the suite's database, as a second server would open it. */
static struct storage *open_second(void)
{
    return testdb_open(STORAGE_SCHEMA_MAIN, S.pg ? S.app_url : NULL, S.pg ? NULL : S.db_path,
                       false);
}

/* ---- helpers ------------------------------------------------------------------ */

/* A tenant with its tenants row (jobs reference it). */
static void new_tenant(struct tenant_ctx *t)
{
    testdb_random_uuid(t->id);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_exec_args(tx, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)",
                                  STORAGE_ARGS(STORAGE_CSTR(t->id), STORAGE_CSTR("Jobs test")),
                                  NULL),
                     ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static void enqueue(const struct tenant_ctx *t, const char *kind, const char *ref, int64_t run_at,
                    char id[JOBS_ID_LEN + 1])
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(jobs_enqueue(tx, kind, ref, run_at, id), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static struct jobs_info info(const struct tenant_ctx *t, const char *id)
{
    struct jobs_info i;
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_READ, &tx), ERR_OK);
    assert_int_equal(jobs_get(tx, id, &i), ERR_OK);
    storage_rollback(tx);
    return i;
}

static int64_t count_status(const struct tenant_ctx *t, const char *status)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_READ, &tx), ERR_OK);
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(tx_query(tx,
                              S.pg ? "SELECT count(*) FROM jobs WHERE tenant_id = $1::uuid"
                                     " AND status = $2"
                                   : "SELECT count(*) FROM jobs WHERE tenant_id = $1"
                                     " AND status = $2",
                              STORAGE_ARGS(STORAGE_CSTR(status)), &st, &row),
                     ERR_OK);
    assert_true(row);
    int64_t n = stmt_col_int(st, 0);
    stmt_finish(st);
    storage_rollback(tx);
    return n;
}

/* The value of tenant_settings key of t, "" when there is none. */
static void setting_get(const struct tenant_ctx *t, const char *prefix, const char *id, char *out,
                        size_t cap)
{
    char key[16 + JOBS_ID_LEN];
    snprintf(key, sizeof key, "%s:%s", prefix, id);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_READ, &tx), ERR_OK);
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(tx_query(tx,
                              "SELECT value FROM tenant_settings WHERE tenant_id = $1 AND key = $2",
                              STORAGE_ARGS(STORAGE_CSTR(key)), &st, &row),
                     ERR_OK);
    snprintf(out, cap, "%.*s", row ? (int)stmt_col_text(st, 0).len : 0,
             row ? stmt_col_text(st, 0).ptr : "");
    stmt_finish(st);
    storage_rollback(tx);
}

/* tenant_settings rows of t whose key starts with prefix. */
static int64_t settings_count(const struct tenant_ctx *t, const char *prefix)
{
    char like[32];
    snprintf(like, sizeof like, "%s:%%", prefix);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_READ, &tx), ERR_OK);
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(tx_query(tx,
                              "SELECT count(*) FROM tenant_settings WHERE tenant_id = $1"
                              " AND key LIKE $2",
                              STORAGE_ARGS(STORAGE_CSTR(like)), &st, &row),
                     ERR_OK);
    int64_t n = stmt_col_int(st, 0);
    stmt_finish(st);
    storage_rollback(tx);
    return n;
}

/* Makes job id of t final (done), so rounds with far clocks leave it alone. */
static void finalize(const struct tenant_ctx *t, const char *id)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_exec_args(tx,
                                  S.pg ? "UPDATE jobs SET status = 'done', finished_at = now(),"
                                         " leased_until = NULL"
                                         " WHERE tenant_id = $1::uuid AND id = $2"
                                       : "UPDATE jobs SET status = 'done', finished_at = 1,"
                                         " leased_until = NULL WHERE tenant_id = $1 AND id = $2",
                                  STORAGE_ARGS(STORAGE_CSTR(id)), NULL),
                     ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

/* ---- handlers and their record ---------------------------------------------------- */

#define MAX_SEEN 4096

/* Handler invocations per job id and which runner made them. */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char id[JOBS_ID_LEN + 1];
    int runs;
    int by[2];
    int last_attempt;
} seen[MAX_SEEN];
static size_t n_seen;

static void note_run(const struct jobs_job *job, int runner)
{
    pthread_mutex_lock(&seen_mu);
    size_t i = 0;
    while (i < n_seen && strcmp(seen[i].id, job->id) != 0)
        i++;
    if (i == n_seen && n_seen < MAX_SEEN)
        snprintf(seen[n_seen++].id, sizeof seen[0].id, "%s", job->id);
    if (i < n_seen) {
        seen[i].runs++;
        seen[i].by[runner & 1]++;
        seen[i].last_attempt = job->attempt;
    }
    pthread_mutex_unlock(&seen_mu);
}

static int runs_of(const char *id)
{
    pthread_mutex_lock(&seen_mu);
    int n = 0;
    for (size_t i = 0; i < n_seen; i++)
        if (strcmp(seen[i].id, id) == 0)
            n = seen[i].runs;
    pthread_mutex_unlock(&seen_mu);
    return n;
}

/* arg: (intptr_t) runner number 0 or 1 */
static enum err h_ok(void *arg, struct storage *s, const struct jobs_job *job, char *why,
                     size_t why_cap)
{
    note_run(job, (int)(intptr_t)arg);
    return ERR_OK;
}

/* h_ok with a millisecond of work outside any transaction, as a real handler has */
static enum err h_shared(void *arg, struct storage *s, const struct jobs_job *job, char *why,
                         size_t why_cap)
{
    usleep(1000);
    return h_ok(arg, s, job, why, why_cap);
}

static enum err h_fail(void *arg, struct storage *s, const struct jobs_job *job, char *why,
                       size_t why_cap)
{
    note_run(job, 0);
    snprintf(why, why_cap, "upstream down");
    return ERR_UNAVAILABLE;
}

static enum err h_perm(void *arg, struct storage *s, const struct jobs_job *job, char *why,
                       size_t why_cap)
{
    note_run(job, 0);
    snprintf(why, why_cap, "malformed payload\n"); /* the line break never reaches last_error */
    return ERR_INVALID;
}

/* Fails twice, then succeeds. */
static enum err h_flaky(void *arg, struct storage *s, const struct jobs_job *job, char *why,
                        size_t why_cap)
{
    note_run(job, 0);
    return job->attempt < 3 ? ERR_TIMEOUT : ERR_OK;
}

/* The tenant and the job it is given, and that s is usable from inside. */
static enum err h_check(void *arg, struct storage *s, const struct jobs_job *job, char *why,
                        size_t why_cap)
{
    note_run(job, 0);
    struct jobs_info i;
    struct tx *tx = NULL;
    enum err e = storage_begin(s, &job->tenant, TX_READ, &tx);
    if (e)
        return e;
    e = jobs_get(tx, job->id, &i);
    storage_rollback(tx);
    if (!e && (i.status != JOBS_RUNNING || i.attempts != job->attempt ||
               strcmp(i.ref, job->ref) != 0 || strcmp(i.kind, job->kind) != 0))
        e = ERR_INTERNAL;
    return e;
}

/*
 * The two-step handler "test.two". prepare notes the run and keeps a heap
 * copy of the ref; ref "perm" fails it permanently, ref "steal" lets another
 * runner take the job first (its lease of 1 s has run out by then). apply
 * writes the tenant_settings row "two:<job id>" = ref in the runner's
 * transaction; for ref "bad" it writes it twice, a real constraint failure
 * that aborts the transaction. fail sets "failed:<job id>" to "dead" or
 * "retry". Counters: prepares that kept work, applies, releases.
 */
static atomic_int two_kept, two_applies, two_releases;
/* prepared and not yet released: with one runner thread, the batch in hand */
static atomic_int two_in_hand, two_most_in_hand;

static enum err setting_put(struct tx *tx, const char *prefix, const char *id, const char *value,
                            bool upsert)
{
    char key[16 + JOBS_ID_LEN];
    snprintf(key, sizeof key, "%s:%s", prefix, id);
    return tx_exec_args(tx,
                        upsert ? "INSERT INTO tenant_settings (tenant_id, key, value)"
                                 " VALUES ($1, $2, $3) ON CONFLICT (tenant_id, key)"
                                 " DO UPDATE SET value = excluded.value"
                               : "INSERT INTO tenant_settings (tenant_id, key, value)"
                                 " VALUES ($1, $2, $3)",
                        STORAGE_ARGS(STORAGE_CSTR(key), STORAGE_CSTR(value)), NULL);
}

static enum err two_prepare(void *arg, struct storage *s, const struct jobs_job *job,
                            struct jobs_prepared *out, char *why, size_t why_cap)
{
    note_run(job, (int)(intptr_t)arg);
    if (strcmp(job->ref, "perm") == 0) {
        snprintf(why, why_cap, "cannot parse");
        return ERR_INVALID;
    }
    if (strcmp(job->ref, "steal") == 0) {
        const struct jobs_handler other[] = {{.kind = "test.two", .run = h_ok}};
        struct jobs_round r;
        enum err e = jobs_run_round(s, other, 1, job->now + 5, 0, NULL, &r);
        if (e || r.done != 1)
            return ERR_INTERNAL;
    }
    char *copy = strdup(job->ref);
    if (!copy)
        return ERR_INTERNAL;
    out->work = copy;
    out->bytes = strlen(copy) + 1;
    atomic_fetch_add(&two_kept, 1);
    int held = atomic_fetch_add(&two_in_hand, 1) + 1, most = atomic_load(&two_most_in_hand);
    while (held > most && !atomic_compare_exchange_weak(&two_most_in_hand, &most, held))
        ;
    return ERR_OK;
}

static enum err two_apply(void *arg, struct tx *tx, const struct jobs_job *job, void *work,
                          char *why, size_t why_cap)
{
    atomic_fetch_add(&two_applies, 1);
    const char *ref = work;
    enum err e = setting_put(tx, "two", job->id, ref, false);
    if (!e && strcmp(ref, "bad") == 0)
        e = setting_put(tx, "two", job->id, ref, false);
    if (e)
        snprintf(why, why_cap, "setting refused");
    return e;
}

static enum err two_fail(void *arg, struct tx *tx, const struct jobs_job *job, enum err cause,
                         bool dead, const char *why)
{
    return setting_put(tx, "failed", job->id, dead ? "dead" : "retry", true);
}

static void two_release(void *arg, void *work)
{
    atomic_fetch_add(&two_releases, 1);
    atomic_fetch_sub(&two_in_hand, 1);
    free(work);
}

#define TWO_STEP                                                                                   \
    .prepare = two_prepare, .apply = two_apply, .release = two_release, .fail = two_fail

static const struct jobs_handler handlers[] = {
    {.kind = "test.ok", .run = h_ok},       {.kind = "test.fail", .run = h_fail},
    {.kind = "test.perm", .run = h_perm},   {.kind = "test.flaky", .run = h_flaky},
    {.kind = "test.check", .run = h_check}, {.kind = "test.two", TWO_STEP},
};
#define N_HANDLERS (sizeof handlers / sizeof handlers[0])

static struct jobs_round round_at(int64_t now)
{
    struct jobs_round r;
    assert_int_equal(jobs_run_round(S.s, handlers, N_HANDLERS, now, 0, NULL, &r), ERR_OK);
    return r;
}

/* ---- limits and enqueue -------------------------------------------------------------- */

static void test_limits(void **state)
{
    char kind[JOBS_MAX_KIND + 2], ref[JOBS_MAX_REF + 2];
    memset(kind, 'k', sizeof kind);
    memset(ref, 'r', sizeof ref);
    kind[JOBS_MAX_KIND] = '\0';
    ref[JOBS_MAX_REF] = '\0';
    assert_int_equal(jobs_check(kind, ref), ERR_OK);
    kind[JOBS_MAX_KIND] = 'k';
    kind[JOBS_MAX_KIND + 1] = '\0';
    assert_int_equal(jobs_check(kind, ""), ERR_LIMIT);
    ref[JOBS_MAX_REF] = 'r';
    ref[JOBS_MAX_REF + 1] = '\0';
    assert_int_equal(jobs_check("a", ref), ERR_LIMIT);
    assert_int_equal(jobs_check("", "x"), ERR_INVALID);
    assert_int_equal(jobs_check("Ingest.normalize", "x"), ERR_INVALID);
    assert_int_equal(jobs_check("ingest normalize", "x"), ERR_INVALID);
    assert_int_equal(jobs_check("ingest.normalize", "a\nb"), ERR_INVALID);
    assert_int_equal(jobs_check("ingest.normalize", "caf\xc3\xa9"), ERR_INVALID);
    assert_int_equal(jobs_check(NULL, "x"), ERR_INVALID);
    assert_int_equal(jobs_check("ingest.normalize_v2-x", ""), ERR_OK);

    /* in the database: the longest ref is stored whole, one byte more refused */
    struct tenant_ctx t;
    new_tenant(&t);
    struct tx *tx = NULL;
    char id[JOBS_ID_LEN + 1];
    assert_int_equal(storage_begin(S.s, &t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(jobs_enqueue(tx, "test.ok", ref, S.t0, id), ERR_LIMIT);
    assert_int_equal(jobs_enqueue(tx, kind, "x", S.t0, id), ERR_LIMIT);
    assert_int_equal(jobs_enqueue(tx, "test.ok", "x", -1, id), ERR_INVALID);
    ref[JOBS_MAX_REF] = '\0';
    kind[JOBS_MAX_KIND] = '\0';
    assert_int_equal(jobs_enqueue(tx, kind, ref, S.t0 + 86400 * 365, id), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
    struct jobs_info i = info(&t, id);
    assert_string_equal(i.ref, ref);
    assert_string_equal(i.kind, kind);
    assert_int_equal(i.status, JOBS_PENDING);
    assert_int_equal(i.max_attempts, JOBS_MAX_ATTEMPTS);
    assert_int_equal(i.run_at, S.t0 + 86400 * 365);
    finalize(&t, id);
}

static void test_rolled_back_job_never_exists(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct tx *tx = NULL;
    char id[JOBS_ID_LEN + 1];
    assert_int_equal(storage_begin(S.s, &t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(jobs_enqueue(tx, "test.ok", "delivery-1", S.t0, id), ERR_OK);
    storage_rollback(tx);
    assert_int_equal(storage_begin(S.s, &t, TX_READ, &tx), ERR_OK);
    struct jobs_info i;
    assert_int_equal(jobs_get(tx, id, &i), ERR_NOT_FOUND);
    storage_rollback(tx);
    assert_int_equal(count_status(&t, "pending"), 0);
    round_at(S.t0);
    assert_int_equal(runs_of(id), 0);
}

static void test_committed_job_runs_once(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char id[JOBS_ID_LEN + 1], later[JOBS_ID_LEN + 1];
    enqueue(&t, "test.check", "delivery-2", S.t0, id);
    enqueue(&t, "test.ok", "not yet", S.t0 + 60, later);
    struct jobs_round r = round_at(S.t0);
    assert_true(r.done >= 1);
    assert_int_equal(runs_of(id), 1);
    assert_int_equal(runs_of(later), 0); /* not due */
    struct jobs_info i = info(&t, id);
    assert_int_equal(i.status, JOBS_DONE);
    assert_int_equal(i.attempts, 1);
    assert_int_equal(i.finished_at, S.t0);
    assert_string_equal(i.last_error, "");
    round_at(S.t0 + 1);
    round_at(S.t0 + 2);
    assert_int_equal(runs_of(id), 1);
    round_at(S.t0 + 60);
    assert_int_equal(runs_of(later), 1);
    assert_int_equal(info(&t, later).status, JOBS_DONE);
}

/* ---- failures ------------------------------------------------------------------------ */

static void test_failure_backoff_then_dead(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char id[JOBS_ID_LEN + 1];
    int64_t now = S.t0 + 1000;
    enqueue(&t, "test.fail", "delivery-3", now, id);
    int64_t want_wait = JOBS_BACKOFF_BASE_S;
    for (int attempt = 1; attempt <= JOBS_MAX_ATTEMPTS; attempt++) {
        if (attempt > 1) {
            round_at(now - 1); /* a second early: not yet */
            assert_int_equal(runs_of(id), attempt - 1);
        }
        round_at(now);
        assert_int_equal(runs_of(id), attempt);
        struct jobs_info i = info(&t, id);
        assert_int_equal(i.attempts, attempt);
        assert_string_equal(i.last_error, "ERR_UNAVAILABLE: upstream down");
        if (attempt < JOBS_MAX_ATTEMPTS) {
            assert_int_equal(i.status, JOBS_PENDING);
            assert_int_equal(i.run_at - now, want_wait); /* doubling */
            now = i.run_at;
            want_wait = want_wait * 2 > JOBS_BACKOFF_MAX_S ? JOBS_BACKOFF_MAX_S : want_wait * 2;
        } else {
            assert_int_equal(i.status, JOBS_DEAD);
            assert_int_equal(i.finished_at, now);
        }
    }
    round_at(now + 10 * JOBS_BACKOFF_MAX_S);
    assert_int_equal(runs_of(id), JOBS_MAX_ATTEMPTS);
}

static void test_flaky_then_done(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char id[JOBS_ID_LEN + 1];
    int64_t now = S.t0 + 2000;
    enqueue(&t, "test.flaky", "delivery-4", now, id);
    for (int k = 0; k < 3; k++) {
        round_at(now);
        now = info(&t, id).run_at;
    }
    struct jobs_info i = info(&t, id);
    assert_int_equal(i.status, JOBS_DONE);
    assert_int_equal(i.attempts, 3);
    assert_string_equal(i.last_error, "");
    assert_int_equal(runs_of(id), 3);
}

static void test_permanent_failure_dead_at_once(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char id[JOBS_ID_LEN + 1];
    enqueue(&t, "test.perm", "delivery-5", S.t0, id);
    struct jobs_round r = round_at(S.t0);
    assert_true(r.dead >= 1);
    struct jobs_info i = info(&t, id);
    assert_int_equal(i.status, JOBS_DEAD);
    assert_int_equal(i.attempts, 1);
    assert_string_equal(i.last_error, "ERR_INVALID: malformed payload?");
    assert_true(jobs_err_permanent(ERR_NOT_FOUND));
    assert_false(jobs_err_permanent(ERR_UNAVAILABLE));
    assert_false(jobs_err_permanent(ERR_DB));
}

static void test_unknown_kind_retried(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char id[JOBS_ID_LEN + 1];
    int64_t now = S.t0 + 3000;
    enqueue(&t, "test.unknown", "delivery-6", now, id);
    round_at(now);
    struct jobs_info i = info(&t, id);
    assert_int_equal(i.status, JOBS_PENDING);
    assert_int_equal(i.attempts, 1);
    assert_non_null(strstr(i.last_error, "no handler"));
    /* a server that knows the kind runs it */
    const struct jobs_handler h[] = {{.kind = "test.unknown", .run = h_ok}};
    struct jobs_round r;
    assert_int_equal(jobs_run_round(S.s, h, 1, i.run_at, 0, NULL, &r), ERR_OK);
    assert_int_equal(info(&t, id).status, JOBS_DONE);
}

/* ---- leases ------------------------------------------------------------------------------ */

static enum err h_crash(void *arg, struct storage *s, const struct jobs_job *job, char *why,
                        size_t why_cap)
{
    _exit(0); /* the runner's process dies while the job runs */
}

static void test_crashed_runner_lease_expires(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char id[JOBS_ID_LEN + 1];
    int64_t now = S.t0 + 4000;
    enqueue(&t, "test.crash", "delivery-7", now, id);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct storage *s2 = open_second();
        const struct jobs_handler h[] = {{.kind = "test.crash", .run = h_crash}};
        struct jobs_round r;
        if (s2 && jobs_run_round(s2, h, 1, now, 0, NULL, &r) == ERR_OK)
            _exit(3); /* the handler did not run */
        _exit(4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct jobs_info i = info(&t, id);
    assert_int_equal(i.status, JOBS_RUNNING);
    assert_int_equal(i.attempts, 1);
    assert_int_equal(i.run_at, now + JOBS_LEASE_S);
    /* leased: not claimable before its end */
    const struct jobs_handler h[] = {{.kind = "test.crash", .run = h_ok}};
    struct jobs_round r;
    assert_int_equal(jobs_run_round(S.s, h, 1, now + JOBS_LEASE_S - 1, 0, NULL, &r), ERR_OK);
    assert_int_equal(runs_of(id), 0);
    assert_int_equal(jobs_run_round(S.s, h, 1, now + JOBS_LEASE_S, 0, NULL, &r), ERR_OK);
    assert_int_equal(runs_of(id), 1);
    i = info(&t, id);
    assert_int_equal(i.status, JOBS_DONE);
    assert_int_equal(i.attempts, 2);
}

/* A handler so slow that its lease runs out and another runner takes the job. */
static enum err h_slow(void *arg, struct storage *s, const struct jobs_job *job, char *why,
                       size_t why_cap)
{
    const struct jobs_handler other[] = {{.kind = "test.slow", .run = h_ok}};
    struct jobs_round r;
    enum err e = jobs_run_round(s, other, 1, job->now + 5, 0, NULL, &r);
    if (!e && r.done != 1)
        e = ERR_INTERNAL;
    return e ? ERR_INTERNAL : ERR_OK;
}

static void test_expired_lease_outcome_fenced(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char id[JOBS_ID_LEN + 1];
    int64_t now = S.t0 + 5000;
    enqueue(&t, "test.slow", "delivery-8", now, id);
    const struct jobs_handler h[] = {{.kind = "test.slow", .run = h_slow}};
    struct jobs_round r;
    assert_int_equal(jobs_run_round(S.s, h, 1, now, 1 /* lease 1 s */, NULL, &r), ERR_OK);
    assert_int_equal(r.claimed, 1);
    assert_int_equal(r.lost, 1); /* the second runner's attempt stands */
    assert_int_equal(r.done, 0);
    struct jobs_info i = info(&t, id);
    assert_int_equal(i.status, JOBS_DONE);
    assert_int_equal(i.attempts, 2);
    assert_int_equal(runs_of(id), 1);
}

/* ---- batches ------------------------------------------------------------------------------ */

/* Rounds at now until one claims nothing; the sum of what they did. */
static struct jobs_round rounds_until_idle(int64_t now)
{
    struct jobs_round sum = {0};
    for (int k = 0; k < 20; k++) {
        struct jobs_round r = round_at(now);
        if (r.claimed == 0)
            return sum;
        sum.claimed += r.claimed;
        sum.done += r.done;
        sum.retried += r.retried;
        sum.dead += r.dead;
        sum.lost += r.lost;
        sum.alone += r.alone;
    }
    fail_msg("the rounds never ran dry");
    return sum;
}

/*
 * 100 due jobs — two-step ones, one-step ones, three whose prepare fails
 * permanently — cost two commits per batch of JOBS_CLAIM_BATCH (the claim
 * and the settlement), not several per job; the failed preparations are
 * recorded in the same transactions, their fail hook included.
 */
static void test_batch_few_commits(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    enum { N = 100, N_ONE_STEP = 10, N_PERM = 3 };
    static char ids[N][JOBS_ID_LEN + 1];
    int64_t now = S.t0 + 6000;
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &t, TX_WRITE, &tx), ERR_OK);
    for (int k = 0; k < N; k++) {
        bool one_step = k % 10 == 9, perm = k == 17 || k == 42 || k == 77;
        assert_int_equal(jobs_enqueue(tx, one_step ? "test.ok" : "test.two", perm ? "perm" : "fine",
                                      now, ids[k]),
                         ERR_OK);
    }
    assert_int_equal(storage_commit(tx), ERR_OK);

    int kept = atomic_load(&two_kept), released = atomic_load(&two_releases);
    uint64_t commits = storage_write_commits(S.s);
    struct jobs_round r = rounds_until_idle(now);
    commits = storage_write_commits(S.s) - commits;
    printf("# %d jobs: %llu write commits (batches of %d)\n", N, (unsigned long long)commits,
           JOBS_CLAIM_BATCH);
    assert_int_equal(r.claimed, N);
    assert_int_equal(r.done, N - N_PERM);
    assert_int_equal(r.dead, N_PERM);
    assert_int_equal(r.retried + r.lost + r.alone, 0);
    assert_true(commits <= 2 * ((N + JOBS_CLAIM_BATCH - 1) / JOBS_CLAIM_BATCH));

    assert_int_equal(count_status(&t, "done"), N - N_PERM);
    assert_int_equal(settings_count(&t, "two"), N - N_ONE_STEP - N_PERM);
    assert_int_equal(settings_count(&t, "failed"), N_PERM);
    assert_int_equal(atomic_load(&two_kept) - kept, N - N_ONE_STEP - N_PERM);
    assert_int_equal(atomic_load(&two_releases) - released, N - N_ONE_STEP - N_PERM);
    char v[16];
    for (int k = 0; k < N; k++) {
        assert_int_equal(runs_of(ids[k]), 1);
        setting_get(&t, "two", ids[k], v, sizeof v);
        if (k == 17 || k == 42 || k == 77) {
            struct jobs_info i = info(&t, ids[k]);
            assert_int_equal(i.status, JOBS_DEAD);
            assert_string_equal(i.last_error, "ERR_INVALID: cannot parse");
            assert_string_equal(v, "");
            setting_get(&t, "failed", ids[k], v, sizeof v);
            assert_string_equal(v, "dead");
        } else {
            assert_string_equal(v, k % 10 == 9 ? "" : "fine");
        }
    }
}

/*
 * One job whose apply fails (a constraint violation inside the shared
 * transaction) fails only itself: the batch is rolled back and every job
 * settled alone; the others are done with their writes made once, the bad
 * one is retried with its reason and without its writes.
 */
static void test_batch_one_bad_job_fails_alone(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    enum { N_FINE = 10 };
    char fine[N_FINE][JOBS_ID_LEN + 1], bad[JOBS_ID_LEN + 1], perm[JOBS_ID_LEN + 1],
        one[JOBS_ID_LEN + 1];
    int64_t now = S.t0 + 7000;
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &t, TX_WRITE, &tx), ERR_OK);
    for (int k = 0; k < N_FINE; k++) {
        if (k == 4)
            assert_int_equal(jobs_enqueue(tx, "test.two", "bad", now, bad), ERR_OK);
        assert_int_equal(jobs_enqueue(tx, "test.two", "fine", now, fine[k]), ERR_OK);
    }
    assert_int_equal(jobs_enqueue(tx, "test.two", "perm", now, perm), ERR_OK);
    assert_int_equal(jobs_enqueue(tx, "test.ok", "one step", now, one), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);

    int applies = atomic_load(&two_applies);
    uint64_t commits = storage_write_commits(S.s);
    struct jobs_round r = round_at(now);
    commits = storage_write_commits(S.s) - commits;
    assert_int_equal(r.claimed, N_FINE + 3);
    assert_int_equal(r.done, N_FINE + 1);
    assert_int_equal(r.retried, 1);
    assert_int_equal(r.dead, 1);
    assert_int_equal(r.lost, 0);
    assert_int_equal(r.alone, N_FINE + 3);
    /* the claim, then each job alone (the bad one's apply rolled back, its failure recorded) */
    assert_int_equal(commits, 1 + N_FINE + 3);
    /* the shared transaction got as far as the bad job; then each alone (the bad one once) */
    assert_true(atomic_load(&two_applies) - applies >= N_FINE + 1);

    char v[16];
    for (int k = 0; k < N_FINE; k++) {
        assert_int_equal(info(&t, fine[k]).status, JOBS_DONE);
        setting_get(&t, "two", fine[k], v, sizeof v);
        assert_string_equal(v, "fine");
    }
    assert_int_equal(settings_count(&t, "two"), N_FINE); /* once each, none of the bad one's */
    struct jobs_info i = info(&t, bad);
    assert_int_equal(i.status, JOBS_PENDING);
    assert_int_equal(i.attempts, 1);
    assert_int_equal(i.run_at, now + JOBS_BACKOFF_BASE_S);
    assert_string_equal(i.last_error, "ERR_CONFLICT: setting refused");
    setting_get(&t, "failed", bad, v, sizeof v);
    assert_string_equal(v, "retry");
    assert_int_equal(info(&t, perm).status, JOBS_DEAD);
    setting_get(&t, "failed", perm, v, sizeof v);
    assert_string_equal(v, "dead");
    assert_int_equal(info(&t, one).status, JOBS_DONE);
    finalize(&t, bad);
}

/* A two-step job whose lease ran out before it was settled writes nothing: the new attempt stands.
 */
static void test_batch_lost_lease_writes_nothing(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char id[JOBS_ID_LEN + 1];
    int64_t now = S.t0 + 8000;
    enqueue(&t, "test.two", "steal", now, id);
    int applies = atomic_load(&two_applies), released = atomic_load(&two_releases);
    struct jobs_round r;
    assert_int_equal(jobs_run_round(S.s, handlers, N_HANDLERS, now, 1 /* lease 1 s */, NULL, &r),
                     ERR_OK);
    assert_int_equal(r.claimed, 1);
    assert_int_equal(r.lost, 1);
    assert_int_equal(r.done, 0);
    assert_int_equal(atomic_load(&two_applies), applies);
    assert_int_equal(atomic_load(&two_releases) - released, 1);
    assert_int_equal(settings_count(&t, "two"), 0);
    struct jobs_info i = info(&t, id);
    assert_int_equal(i.status, JOBS_DONE);
    assert_int_equal(i.attempts, 2);
}

/* Each claim statement reads its jobs in index order: no sort, whatever the backlog. */
static void test_claim_plan(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &t, TX_WRITE, &tx), ERR_OK);
    if (S.pg) {
        /* sorting made as dear as the planner can make it: a plan that still sorts has no index
         * that gives the order */
        assert_int_equal(tx_exec(tx, "SELECT set_config('enable_sort', 'off', true),"
                                     " set_config('enable_incremental_sort', 'off', true),"
                                     " $1::uuid"),
                         ERR_OK);
    }
    for (int br = JOBS_CLAIM_EXPIRED; br <= JOBS_CLAIM_PENDING; br++) {
        char sql[4096];
        snprintf(
            sql, sizeof sql, "%s%s", S.pg ? "EXPLAIN " : "EXPLAIN QUERY PLAN ",
            jobs_claim_sql(S.pg ? STORAGE_POSTGRES : STORAGE_SQLITE, (enum jobs_claim_branch)br));
        struct stmt *st = NULL;
        bool row = false;
        assert_int_equal(tx_query(tx, sql,
                                  STORAGE_ARGS(STORAGE_INT(S.t0), STORAGE_INT(S.t0 + 300),
                                               STORAGE_INT(JOBS_CLAIM_BATCH)),
                                  &st, &row),
                         ERR_OK);
        bool index = false;
        int col = S.pg ? 0 : 3; /* SQLite: id, parent, notused, detail */
        for (; row; assert_int_equal(stmt_step(st, &row), ERR_OK)) {
            struct str line = stmt_col_text(st, col);
            printf("# %.*s\n", (int)line.len, line.ptr);
            assert_null(memmem(line.ptr, line.len, "TEMP B-TREE", 11));
            assert_null(memmem(line.ptr, line.len, "Sort", 4));
            index = index || memmem(line.ptr, line.len, "jobs_tenant_due", 15);
        }
        stmt_finish(st);
        assert_true(index);
    }
    storage_rollback(tx);
}

/* ---- retry, listing, isolation ---------------------------------------------------------- */

static void test_retry_revives_dead(void **state)
{
    struct tenant_ctx t, other;
    new_tenant(&t);
    new_tenant(&other);
    char id[JOBS_ID_LEN + 1], done_id[JOBS_ID_LEN + 1];
    enqueue(&t, "test.perm", "delivery-9", S.t0, id);
    enqueue(&t, "test.ok", "delivery-10", S.t0, done_id);
    round_at(S.t0);
    assert_int_equal(info(&t, id).status, JOBS_DEAD);
    struct tx *tx = NULL;
    /* another tenant cannot see or revive it */
    assert_int_equal(storage_begin(S.s, &other, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(jobs_retry(tx, id), ERR_NOT_FOUND);
    assert_int_equal(storage_commit(tx), ERR_OK);
    assert_int_equal(info(&t, id).status, JOBS_DEAD);

    assert_int_equal(storage_begin(S.s, &t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(jobs_retry(tx, done_id), ERR_CONFLICT);
    assert_int_equal(jobs_retry(tx, "0123456789abcdef0123456789abcdef"), ERR_NOT_FOUND);
    assert_int_equal(jobs_retry(tx, "not-an-id"), ERR_INVALID);
    assert_int_equal(jobs_retry(tx, id), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
    struct jobs_info i = info(&t, id);
    assert_int_equal(i.status, JOBS_PENDING);
    assert_int_equal(i.attempts, 0);
    assert_int_equal(i.finished_at, 0);
    /* the fixed handler runs it */
    const struct jobs_handler h[] = {{.kind = "test.perm", .run = h_ok}};
    struct jobs_round r;
    assert_int_equal(jobs_run_round(S.s, h, 1, (int64_t)time(NULL), 0, NULL, &r), ERR_OK);
    i = info(&t, id);
    assert_int_equal(i.status, JOBS_DONE);
    assert_int_equal(i.attempts, 1);
    assert_string_equal(i.last_error, "");
}

struct seen_tenants {
    const char *want, *unwanted;
    bool found, found_unwanted;
};

static enum err seen_cb(void *arg, const char *id)
{
    struct seen_tenants *s = arg;
    s->found = s->found || strcmp(id, s->want) == 0;
    s->found_unwanted = s->found_unwanted || strcmp(id, s->unwanted) == 0;
    return ERR_OK;
}

static void test_list_and_isolation(void **state)
{
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    enum { N = 5 };
    char ids[N][JOBS_ID_LEN + 1];
    int64_t far = S.t0 + 86400 * 30;
    for (int k = 0; k < N; k++)
        enqueue(&a, "test.ok", "listed", far, ids[k]);

    /* B's view: nothing of A's */
    struct tx *tx = NULL;
    struct jobs_info out[JOBS_LIST_MAX];
    size_t n = 99;
    struct jobs_cursor next;
    assert_int_equal(storage_begin(S.s, &b, TX_READ, &tx), ERR_OK);
    assert_int_equal(jobs_list(tx, JOBS_ANY, NULL, JOBS_LIST_MAX, out, &n, &next), ERR_OK);
    assert_int_equal(n, 0);
    assert_string_equal(next.id, "");
    assert_int_equal(jobs_get(tx, ids[0], out), ERR_NOT_FOUND);
    storage_rollback(tx);
    struct seen_tenants sn = {.want = a.id, .unwanted = b.id};
    assert_int_equal(storage_due_job_tenants(S.s, far, STORAGE_MAX_DUE_TENANTS, seen_cb, &sn),
                     ERR_OK);
    assert_true(sn.found);
    assert_false(sn.found_unwanted);
    struct seen_tenants early = {.want = a.id, .unwanted = b.id};
    assert_int_equal(storage_due_job_tenants(S.s, far - 1, 10, seen_cb, &early), ERR_OK);
    assert_false(early.found);
    assert_int_equal(storage_due_job_tenants(S.s, far, 0, seen_cb, &sn), ERR_INVALID);
    assert_int_equal(storage_due_job_tenants(S.s, far, STORAGE_MAX_DUE_TENANTS + 1, seen_cb, &sn),
                     ERR_INVALID);

    /* A's pages: newest first, 2 + 2 + 1, each job once */
    assert_int_equal(storage_begin(S.s, &a, TX_READ, &tx), ERR_OK);
    assert_int_equal(jobs_list(tx, JOBS_ANY, NULL, 0, out, &n, &next), ERR_INVALID);
    assert_int_equal(jobs_list(tx, JOBS_ANY, NULL, JOBS_LIST_MAX + 1, out, &n, &next), ERR_INVALID);
    struct jobs_cursor cur = {0};
    int listed = 0, pages = 0;
    char prev[JOBS_ID_LEN + 1] = "";
    int64_t prev_created = INT64_MAX;
    do {
        assert_int_equal(jobs_list(tx, JOBS_PENDING, &cur, 2, out, &n, &next), ERR_OK);
        pages++;
        for (size_t k = 0; k < n; k++) {
            assert_true(out[k].created_at < prev_created ||
                        (out[k].created_at == prev_created && strcmp(out[k].id, prev) < 0));
            prev_created = out[k].created_at;
            memcpy(prev, out[k].id, sizeof prev);
            bool mine = false;
            for (int j = 0; j < N; j++)
                mine = mine || strcmp(ids[j], out[k].id) == 0;
            assert_true(mine);
            listed++;
        }
        cur = next;
    } while (next.id[0]);
    assert_int_equal(listed, N);
    assert_int_equal(pages, 3);
    assert_int_equal(jobs_list(tx, JOBS_DEAD, NULL, JOBS_LIST_MAX, out, &n, &next), ERR_OK);
    assert_int_equal(n, 0);
    storage_rollback(tx);
    /* B's round at that time runs A's jobs as A, and B still has none */
    round_at(far);
    assert_int_equal(count_status(&a, "done"), N);
    assert_int_equal(count_status(&b, "done"), 0);

    if (S.pg) {
        /* row-level security: B's transaction cannot read, change or plant A's jobs */
        const char *pa[] = {a.id};
        long changed = -1;
        assert_true(testdb_pg_as_tenant(
            S.app_url, b.id, "SELECT id FROM jobs WHERE tenant_id = $1::uuid", 1, pa, &changed));
        assert_int_equal(changed, 0);
        assert_true(testdb_pg_as_tenant(
            S.app_url, a.id, "SELECT id FROM jobs WHERE tenant_id = $1::uuid", 1, pa, &changed));
        assert_int_equal(changed, N);
        assert_true(testdb_pg_as_tenant(S.app_url, b.id,
                                        "UPDATE jobs SET status = 'pending', finished_at = NULL"
                                        " WHERE tenant_id = $1::uuid",
                                        1, pa, &changed));
        assert_int_equal(changed, 0);
        assert_false(testdb_pg_as_tenant(
            S.app_url, b.id,
            "INSERT INTO jobs (tenant_id, id, kind, ref, max_attempts, run_at, created_at)"
            " VALUES ($1::uuid, '0123456789abcdef0123456789abcdef', 'test.ok', '', 1, now(),"
            " now())",
            1, pa, NULL));
        /* the application role deletes jobs (retention: 0020) of its tenant only */
        assert_true(testdb_pg_as_tenant(
            S.app_url, b.id, "DELETE FROM jobs WHERE tenant_id = $1::uuid", 1, pa, &changed));
        assert_int_equal(changed, 0);
        /* without a tenant nothing is visible; the function gives ids only */
        assert_true(testdb_pg_as_tenant(S.app_url, "", "SELECT id FROM jobs", 0, NULL, &changed));
        assert_int_equal(changed, 0);
        assert_true(testdb_pg_as_tenant(S.app_url, "",
                                        "SELECT prosecdef FROM pg_proc"
                                        " WHERE proname = 'shiplog_jobs_due_tenants'"
                                        " AND prosecdef AND proretset"
                                        " AND prorettype = 'uuid'::regtype"
                                        " AND array_to_string(proconfig, ',')"
                                        "     LIKE '%search_path=public, pg_temp%'"
                                        " AND proacl::text LIKE '%shiplog_app=X/%'"
                                        " AND proacl::text NOT LIKE '{=X%'"
                                        " AND proacl::text NOT LIKE '%,=X%'",
                                        0, NULL, &changed));
        assert_int_equal(changed, 1);
        assert_true(testdb_pg_as_tenant(S.app_url, "",
                                        "SELECT relforcerowsecurity FROM pg_class"
                                        " WHERE relname = 'jobs' AND relrowsecurity"
                                        " AND relforcerowsecurity",
                                        0, NULL, &changed));
        assert_int_equal(changed, 1);
    }
}

/* Makes job id of t 'running' with a lease that ends at lease_end (as a claim leaves it). */
static void lease(const struct tenant_ctx *t, const char *id, int64_t lease_end)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_exec_args(tx,
                                  S.pg ? "UPDATE jobs SET status = 'running', attempts = 1,"
                                         " leased_until = to_timestamp($2::bigint),"
                                         " run_at = to_timestamp($2::bigint)"
                                         " WHERE tenant_id = $1::uuid AND id = $3"
                                       : "UPDATE jobs SET status = 'running', attempts = 1,"
                                         " leased_until = $2, run_at = $2"
                                         " WHERE tenant_id = $1 AND id = $3",
                                  STORAGE_ARGS(STORAGE_INT(lease_end), STORAGE_CSTR(id)), NULL),
                     ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

struct due_order {
    char ids[8][STORAGE_TENANT_ID_LEN + 1];
    size_t n;
};

static enum err due_order_cb(void *arg, const char *id)
{
    struct due_order *o = arg;
    assert_true(o->n < 8);
    snprintf(o->ids[o->n++], sizeof o->ids[0], "%s", id);
    return ERR_OK;
}

/*
 * Which tenants have due jobs, in which order: by the oldest due job of each
 * (pending and due, or running with its lease over), ties by tenant id; done
 * jobs, jobs not yet due and leases still running never count. Far in the
 * past, so no other test's jobs are due.
 */
static void test_due_tenants_order(void **state)
{
    int64_t base = S.t0 - 50 * 86400;
    struct tenant_ctx lease_over, early, tie1, tie2, none;
    new_tenant(&lease_over);
    new_tenant(&early);
    new_tenant(&tie1);
    new_tenant(&tie2);
    new_tenant(&none);
    char id[9][JOBS_ID_LEN + 1];
    enqueue(&lease_over, "test.ok", "", base + 90, id[0]);
    lease(&lease_over, id[0], base + 10); /* its lease ended first */
    enqueue(&lease_over, "test.ok", "", base + 60, id[1]);
    enqueue(&early, "test.ok", "", base + 20, id[2]);
    enqueue(&early, "test.ok", "", base + 5, id[3]);
    finalize(&early, id[3]); /* done: its time no longer counts */
    enqueue(&tie1, "test.ok", "", base + 30, id[4]);
    enqueue(&tie2, "test.ok", "", base + 30, id[5]);
    enqueue(&none, "test.ok", "", base + 200, id[6]); /* not due yet */
    enqueue(&none, "test.ok", "", base + 1, id[7]);
    lease(&none, id[7], base + 150); /* leased past now */
    enqueue(&none, "test.ok", "", base + 2, id[8]);
    finalize(&none, id[8]);

    const struct tenant_ctx *first = strcmp(tie1.id, tie2.id) < 0 ? &tie1 : &tie2;
    const struct tenant_ctx *second = first == &tie1 ? &tie2 : &tie1;
    const char *want[] = {lease_over.id, early.id, first->id, second->id};
    struct due_order o = {0};
    assert_int_equal(storage_due_job_tenants(S.s, base + 100, 10, due_order_cb, &o), ERR_OK);
    assert_int_equal(o.n, 4);
    for (size_t k = 0; k < 4; k++)
        assert_string_equal(o.ids[k], want[k]);
    /* max cuts the list after the longest-due */
    memset(&o, 0, sizeof o);
    assert_int_equal(storage_due_job_tenants(S.s, base + 100, 2, due_order_cb, &o), ERR_OK);
    assert_int_equal(o.n, 2);
    assert_string_equal(o.ids[0], lease_over.id);
    assert_string_equal(o.ids[1], early.id);
    /* until a lease ends, its job is not due */
    memset(&o, 0, sizeof o);
    assert_int_equal(storage_due_job_tenants(S.s, base + 9, 10, due_order_cb, &o), ERR_OK);
    assert_int_equal(o.n, 0);
    assert_int_equal(storage_due_job_tenants(S.s, base + 10, 10, due_order_cb, &o), ERR_OK);
    assert_int_equal(o.n, 1);
    assert_string_equal(o.ids[0], lease_over.id);
    /* settled, they leave later tests' rounds alone */
    for (size_t k = 0; k < 9; k++) {
        const struct tenant_ctx *t = k < 2    ? &lease_over
                                     : k < 4  ? &early
                                     : k == 4 ? &tie1
                                     : k == 5 ? &tie2
                                              : &none;
        finalize(t, id[k]);
    }
    memset(&o, 0, sizeof o);
    assert_int_equal(storage_due_job_tenants(S.s, base + 1000, 10, due_order_cb, &o), ERR_OK);
    assert_int_equal(o.n, 0);
}

/* ---- the runner ---------------------------------------------------------------------------- */

static void test_runner_notify_and_stop(void **state)
{
    struct jobs_runner *r = NULL;
    const struct jobs_handler dup[] = {{.kind = "test.ok", .run = h_ok},
                                       {.kind = "test.ok", .run = h_ok}};
    assert_int_equal(jobs_runner_start(S.s, dup, 2, 1, NULL, &r), ERR_INVALID);
    const struct jobs_handler bad[] = {{.kind = "Bad Kind", .run = h_ok}};
    assert_int_equal(jobs_runner_start(S.s, bad, 1, 1, NULL, &r), ERR_INVALID);
    /* one form or the other, with the hooks of that form */
    const struct jobs_handler mixed[][1] = {
        {{.kind = "test.x", .run = h_ok, .prepare = two_prepare, .apply = two_apply}},
        {{.kind = "test.x", .run = h_ok, .release = two_release}},
        {{.kind = "test.x", .prepare = two_prepare}},
        {{.kind = "test.x", .apply = two_apply}},
        {{.kind = "test.x", .fail = two_fail}},
    };
    struct jobs_round rd;
    for (size_t k = 0; k < sizeof mixed / sizeof mixed[0]; k++) {
        assert_int_equal(jobs_runner_start(S.s, mixed[k], 1, 1, NULL, &r), ERR_INVALID);
        assert_int_equal(jobs_run_round(S.s, mixed[k], 1, S.t0, 0, NULL, &rd), ERR_INVALID);
    }
    const struct jobs_handler fine[] = {
        {.kind = "test.x", .run = h_ok, .fail = two_fail},
        {.kind = "test.y", .prepare = two_prepare, .apply = two_apply}};
    assert_int_equal(jobs_run_round(S.s, fine, 2, S.t0 - 86400, 0, NULL, &rd), ERR_OK);
    assert_int_equal(jobs_runner_start(S.s, handlers, N_HANDLERS, 0, NULL, &r), ERR_INVALID);
    assert_int_equal(jobs_runner_start(S.s, handlers, N_HANDLERS, JOBS_MAX_THREADS + 1, NULL, &r),
                     ERR_INVALID);
    assert_null(r);

    /* a poll far away: only the notify can start the job quickly */
    struct jobs_runner_options o = {.poll_ms = 600000};
    assert_int_equal(jobs_runner_start(S.s, handlers, N_HANDLERS, 2, &o, &r), ERR_OK);
    usleep(300 * 1000); /* the start-up rounds pass */
    struct tenant_ctx t;
    new_tenant(&t);
    char id[JOBS_ID_LEN + 1];
    enqueue(&t, "test.ok", "notified", 0, id);
    jobs_runner_notify(r);
    for (int k = 0; k < 100 && runs_of(id) == 0; k++)
        usleep(20 * 1000);
    assert_int_equal(runs_of(id), 1);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    jobs_runner_stop(r);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(b.tv_sec - a.tv_sec < 2);
    assert_int_equal(info(&t, id).status, JOBS_DONE);
    jobs_runner_stop(NULL);
}

/*
 * A runner given a group commit writes its claims and outcomes as units of
 * the group (the server's set-up), at a lower CPU priority; halted, it
 * ignores notifies while the group still runs, then stops.
 */
static void test_runner_through_group(void **state)
{
    struct storage_group *g = NULL;
    assert_int_equal(storage_group_start(S.s, &g), ERR_OK);
    struct tenant_ctx t;
    new_tenant(&t);
    char ids[40][JOBS_ID_LEN + 1];
    for (int i = 0; i < 40; i++)
        enqueue(&t, "test.ok", "grouped", 0, ids[i]);
    struct jobs_runner *r = NULL;
    struct jobs_runner_options o = {.poll_ms = 50, .group = g, .nice = 5};
    assert_int_equal(jobs_runner_start(S.s, handlers, N_HANDLERS, 2, &o, &r), ERR_OK);
    /* the two threads claim batches of their own, finished in any order; at nice
     * 5 on a busy machine (make check runs suites side by side) they may crawl */
    for (int k = 0, left = 40; k < 1500 && left > 0; k++) {
        left = 0;
        for (int i = 0; i < 40; i++)
            left += info(&t, ids[i]).status != JOBS_DONE;
        if (left)
            usleep(20 * 1000);
    }
    for (int i = 0; i < 40; i++) {
        assert_int_equal(info(&t, ids[i]).status, JOBS_DONE);
        assert_int_equal(runs_of(ids[i]), 1);
    }
    struct storage_group_stats st;
    storage_group_stats(g, &st);
    assert_true(st.units >= 2); /* at least one claim and one settling went through it */
    jobs_runner_halt(r);
    jobs_runner_notify(r); /* halted: nothing happens */
    jobs_runner_halt(r);
    storage_group_stop(g);
    jobs_runner_stop(r);
}

/* Keeps a group busy: a no-op delivery-like unit submitted every 10 ms until stopped. */
struct feeder {
    struct storage_group *g;
    struct tenant_ctx t;
    atomic_bool stop;
    atomic_int fed;
};

static enum err noop_write(void *arg, struct tx *tx)
{
    (void)arg;
    (void)tx;
    return ERR_OK;
}

static void noop_done(void *arg, enum err result)
{
    (void)result;
    atomic_store((atomic_bool *)arg, true);
}

static void *feed(void *arg)
{
    struct feeder *f = arg;
    while (!atomic_load(&f->stop)) {
        atomic_bool done = false;
        struct storage_unit u = {
            .tenant = f->t, .write = noop_write, .done = noop_done, .done_arg = &done};
        if (storage_group_submit(f->g, &u) == ERR_OK) {
            while (!atomic_load(&done))
                usleep(1000);
            atomic_fetch_add(&f->fed, 1);
        }
        usleep(10 * 1000);
    }
    return NULL;
}

/* Waits up to 60 s until the n jobs ids[] of t are done. */
static bool all_done(const struct tenant_ctx *t, char (*ids)[JOBS_ID_LEN + 1], int n)
{
    for (int k = 0; k < 3000; k++) {
        int left = 0;
        for (int i = 0; i < n; i++)
            left += info(t, ids[i]).status != JOBS_DONE;
        if (!left)
            return true;
        usleep(20 * 1000);
    }
    return false;
}

/*
 * Enqueues n test.two jobs (ref) for t in one transaction, wakes r, waits
 * until they are done; returns whether they were, and in *most the largest
 * batch the runner had in hand meanwhile.
 */
static bool batch_run(struct jobs_runner *r, const struct tenant_ctx *t, const char *ref,
                      char (*ids)[JOBS_ID_LEN + 1], int n, int *most)
{
    atomic_store(&two_most_in_hand, 0);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_WRITE, &tx), ERR_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(jobs_enqueue(tx, "test.two", ref, 0, ids[i]), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
    jobs_runner_notify(r);
    bool done = all_done(t, ids, n);
    *most = atomic_load(&two_most_in_hand);
    return done;
}

/*
 * While deliveries go through the group (storage_group_busy), the runner
 * claims JOBS_CLAIM_BATCH_BUSY jobs at a time; once they stop, full batches.
 */
static void test_runner_small_batches_while_busy(void **state)
{
    (void)state;
    enum { N = 3 * JOBS_CLAIM_BATCH_BUSY };
    _Static_assert(N <= JOBS_CLAIM_BATCH, "one claim takes them all when quiet");
    struct storage_group *g = NULL;
    assert_int_equal(storage_group_start(S.s, &g), ERR_OK);
    struct tenant_ctx t;
    new_tenant(&t);
    struct feeder f = {.g = g};
    new_tenant(&f.t);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, feed, &f), 0);
    while (atomic_load(&f.fed) < 2)
        usleep(1000);
    struct jobs_runner *r = NULL;
    struct jobs_runner_options o = {.poll_ms = 50, .group = g};
    assert_int_equal(jobs_runner_start(S.s, handlers, N_HANDLERS, 1, &o, &r), ERR_OK);

    static char busy_ids[N][JOBS_ID_LEN + 1], quiet_ids[N][JOBS_ID_LEN + 1];
    int busy_most = 0, quiet_most = 0;
    bool busy_done = batch_run(r, &t, "busy", busy_ids, N, &busy_most);
    atomic_store(&f.stop, true);
    pthread_join(th, NULL);

    /* quiet: no delivery for longer than the window */
    while (storage_group_busy(g))
        usleep(10 * 1000);
    bool quiet_done = batch_run(r, &t, "quiet", quiet_ids, N, &quiet_most);
    jobs_runner_stop(r); /* before any assertion: a failure must not leave it running */
    storage_group_stop(g);
    printf("# most jobs in one batch: %d while busy, %d when quiet\n", busy_most, quiet_most);
    assert_true(busy_done && quiet_done);
    assert_true(busy_most >= 1 && busy_most <= JOBS_CLAIM_BATCH_BUSY);
    assert_int_equal(quiet_most, N);
}

#define SHARED_JOBS 500
/* threads per runner: SQLite serializes every claim and record on one file lock */
#define SHARED_THREADS (S.pg ? 4u : 2u)
#define SHARED_TENANTS 3

/* Enqueues SHARED_JOBS test.ok (or kind) jobs round-robin over tenants, due now. */
static void enqueue_many(struct tenant_ctx t[SHARED_TENANTS], const char *kind,
                         char (*ids)[JOBS_ID_LEN + 1])
{
    for (int k = 0; k < SHARED_TENANTS; k++)
        new_tenant(&t[k]);
    /* one write transaction at a time: SQLite's are exclusive */
    for (int k = 0; k < SHARED_TENANTS; k++) {
        struct tx *tx = NULL;
        assert_int_equal(storage_begin(S.s, &t[k], TX_WRITE, &tx), ERR_OK);
        for (int j = k; j < SHARED_JOBS; j += SHARED_TENANTS)
            assert_int_equal(jobs_enqueue(tx, kind, "shared", 0, ids[j]), ERR_OK);
        assert_int_equal(storage_commit(tx), ERR_OK);
    }
}

/* Waits up to 240 s (sanitizer builds on a loaded machine) until all SHARED_JOBS are done. */
static bool wait_all_done(struct tenant_ctx t[SHARED_TENANTS])
{
    for (int k = 0; k < 2400; k++) {
        int64_t done = 0;
        for (int j = 0; j < SHARED_TENANTS; j++)
            done += count_status(&t[j], "done");
        if (done == SHARED_JOBS)
            return true;
        usleep(100 * 1000);
    }
    return false;
}

static void test_two_storages_share_work(void **state)
{
    struct storage *s2 = open_second();
    assert_non_null(s2);
    const struct jobs_handler h0[] = {
        {.kind = "test.shared", .run = h_shared, .arg = (void *)(intptr_t)0}};
    const struct jobs_handler h1[] = {
        {.kind = "test.shared", .run = h_shared, .arg = (void *)(intptr_t)1}};
    struct jobs_runner *r0 = NULL, *r1 = NULL;
    assert_int_equal(jobs_runner_start(S.s, h0, 1, SHARED_THREADS, NULL, &r0), ERR_OK);
    assert_int_equal(jobs_runner_start(s2, h1, 1, SHARED_THREADS, NULL, &r1), ERR_OK);
    struct tenant_ctx t[SHARED_TENANTS];
    static char ids[SHARED_JOBS][JOBS_ID_LEN + 1];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    enqueue_many(t, "test.shared", ids);
    jobs_runner_notify(r0);
    jobs_runner_notify(r1);
    bool all = wait_all_done(t);
    clock_gettime(CLOCK_MONOTONIC, &b);
    jobs_runner_stop(r0);
    jobs_runner_stop(r1);
    storage_close(s2);
    assert_true(all);
    int by[2] = {0, 0};
    pthread_mutex_lock(&seen_mu);
    for (int j = 0; j < SHARED_JOBS; j++) {
        size_t i = 0;
        while (i < n_seen && strcmp(seen[i].id, ids[j]) != 0)
            i++;
        assert_true(i < n_seen);
        assert_int_equal(seen[i].runs, 1); /* exactly once */
        assert_int_equal(seen[i].last_attempt, 1);
        by[0] += seen[i].by[0];
        by[1] += seen[i].by[1];
    }
    pthread_mutex_unlock(&seen_mu);
    assert_int_equal(by[0] + by[1], SHARED_JOBS);
    /* PostgreSQL's SKIP LOCKED spreads the work; SQLite has one writer at a
     * time and each storage queues its own writers first (sqlite.c write_mu),
     * so one storage may legitimately do all of it: exactly once is the rule */
    if (S.pg) {
        assert_true(by[0] > 0);
        assert_true(by[1] > 0);
    }
    printf("# two storages, %u threads each: %d jobs in %.2f s, split %d / %d\n", SHARED_THREADS,
           SHARED_JOBS, (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9,
           by[0], by[1]);
}

/*
 * In a child process: records its run of job as a tenant_settings row
 * "job:<id>" = runner number (a second run of the same job would collide),
 * through the child's own storage: h_record in one step (its own
 * transaction), rec_prepare and rec_apply in two (the runner's batch).
 */
static atomic_int child_runs, child_doubles;

static enum err h_record(void *arg, struct storage *s, const struct jobs_job *job, char *why,
                         size_t why_cap)
{
    char key[8 + JOBS_ID_LEN];
    snprintf(key, sizeof key, "job:%s", job->id);
    char who[2] = {(char)('0' + (int)(intptr_t)arg), '\0'};
    struct tx *tx = NULL;
    enum err e = storage_begin(s, &job->tenant, TX_WRITE, &tx);
    if (e)
        return e;
    e = tx_exec_args(tx, "INSERT INTO tenant_settings (tenant_id, key, value) VALUES ($1, $2, $3)",
                     STORAGE_ARGS(STORAGE_CSTR(key), STORAGE_CSTR(who)), NULL);
    if (e) {
        storage_rollback(tx);
    } else {
        e = storage_commit(tx);
    }
    if (e == ERR_CONFLICT) {
        atomic_fetch_add(&child_doubles, 1);
        return ERR_OK;
    }
    if (!e)
        atomic_fetch_add(&child_runs, 1);
    return e;
}

static enum err rec_prepare(void *arg, struct storage *s, const struct jobs_job *job,
                            struct jobs_prepared *out, char *why, size_t why_cap)
{
    atomic_fetch_add(&child_runs, 1); /* once per attempt; apply may run twice */
    return ERR_OK;
}

static enum err rec_apply(void *arg, struct tx *tx, const struct jobs_job *job, void *work,
                          char *why, size_t why_cap)
{
    char who[2] = {(char)('0' + (int)(intptr_t)arg), '\0'};
    enum err e = setting_put(tx, "job", job->id, who, false);
    if (e == ERR_CONFLICT)
        atomic_fetch_add(&child_doubles, 1);
    return e;
}

/*
 * The child: waits for "go", runs its own storage and runner (kind, one step
 * or two) until the stop pipe closes.
 */
static void child_main(int index, const char *kind, bool two_step, int go_fd, int result_fd)
{
    char c;
    if (read(go_fd, &c, 1) != 1)
        _exit(10);
    struct storage *s = open_second();
    if (!s)
        _exit(11);
    const struct jobs_handler h[] = {
        two_step
            ? (struct jobs_handler){.kind = kind,
                                    .prepare = rec_prepare,
                                    .apply = rec_apply,
                                    .arg = (void *)(intptr_t)index}
            : (struct jobs_handler){.kind = kind, .run = h_record, .arg = (void *)(intptr_t)index}};
    struct jobs_runner *r = NULL;
    if (jobs_runner_start(s, h, 1, SHARED_THREADS, NULL, &r) != ERR_OK)
        _exit(12);
    while (read(go_fd, &c, 1) > 0) { /* until the parent closes it */
    }
    jobs_runner_stop(r);
    storage_close(s);
    int res[2] = {atomic_load(&child_runs), atomic_load(&child_doubles)};
    if (write(result_fd, res, sizeof res) != (ssize_t)sizeof res)
        _exit(13);
    _exit(0);
}

/*
 * Two runner processes share SHARED_JOBS jobs of kind (one-step or two-step
 * handlers): each job runs exactly once, on attempt 1, and is done.
 */
static void two_processes(const char *kind, bool two_step)
{
    struct tenant_ctx t[SHARED_TENANTS];
    static char ids[SHARED_JOBS][JOBS_ID_LEN + 1];
    enqueue_many(t, kind, ids);
    int go[2][2], res[2][2];
    pid_t pid[2];
    fflush(NULL);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(pipe(go[k]), 0);
        assert_int_equal(pipe(res[k]), 0);
        pid[k] = fork();
        assert_true(pid[k] >= 0);
        if (pid[k] == 0) {
            close(go[k][1]);
            close(res[k][0]);
            if (k == 1) {
                close(go[0][1]); /* the first child's pipe, or it never sees EOF */
                close(res[0][0]);
            }
            child_main(k, kind, two_step, go[k][0], res[k][1]);
        }
        close(go[k][0]);
        close(res[k][1]);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int k = 0; k < 2; k++)
        assert_int_equal(write(go[k][1], "g", 1), 1);
    bool all = wait_all_done(t);
    clock_gettime(CLOCK_MONOTONIC, &b);
    int runs[2] = {0, 0}, doubles = 0;
    for (int k = 0; k < 2; k++) {
        close(go[k][1]);
        int r[2] = {0, 0};
        assert_int_equal(read(res[k][0], r, sizeof r), (ssize_t)sizeof r);
        close(res[k][0]);
        int status = 0;
        assert_int_equal(waitpid(pid[k], &status, 0), pid[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        runs[k] = r[0];
        doubles += r[1];
    }
    assert_true(all);
    assert_int_equal(doubles, 0);
    assert_int_equal(runs[0] + runs[1], SHARED_JOBS);
    if (S.pg) { /* SQLite: exactly once, however unevenly (see the test above) */
        assert_true(runs[0] > 0);
        assert_true(runs[1] > 0);
    }
    /* what the database says: one row per job, split as reported, every job on attempt 1 */
    int64_t rows[2] = {0, 0};
    for (int j = 0; j < SHARED_TENANTS; j++) {
        struct tx *tx = NULL;
        assert_int_equal(storage_begin(S.s, &t[j], TX_READ, &tx), ERR_OK);
        struct stmt *st = NULL;
        bool row = false;
        assert_int_equal(tx_query(tx,
                                  "SELECT value, count(*) FROM tenant_settings"
                                  " WHERE tenant_id = $1 AND key LIKE 'job:%' GROUP BY value",
                                  NULL, 0, &st, &row),
                         ERR_OK);
        while (row) {
            struct str v = stmt_col_text(st, 0);
            assert_int_equal(v.len, 1);
            assert_true(v.ptr[0] == '0' || v.ptr[0] == '1');
            rows[v.ptr[0] - '0'] += stmt_col_int(st, 1);
            assert_int_equal(stmt_step(st, &row), ERR_OK);
        }
        stmt_finish(st);
        assert_int_equal(tx_query(tx,
                                  S.pg ? "SELECT count(*) FROM jobs WHERE tenant_id = $1::uuid"
                                         " AND (status <> 'done' OR attempts <> 1)"
                                       : "SELECT count(*) FROM jobs WHERE tenant_id = $1"
                                         " AND (status <> 'done' OR attempts <> 1)",
                                  NULL, 0, &st, &row),
                         ERR_OK);
        assert_int_equal(stmt_col_int(st, 0), 0);
        stmt_finish(st);
        storage_rollback(tx);
    }
    assert_int_equal(rows[0], runs[0]);
    assert_int_equal(rows[1], runs[1]);
    printf("# two processes, %u threads each, %s: %d jobs in %.2f s, split %d / %d\n",
           SHARED_THREADS, two_step ? "two steps" : "one step", SHARED_JOBS,
           (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9, runs[0], runs[1]);
}

static void test_two_processes_share_work(void **state)
{
    two_processes("test.proc", false);
}

static void test_two_processes_share_batched_work(void **state)
{
    two_processes("test.proc2", true);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_rolled_back_job_never_exists),
        cmocka_unit_test(test_committed_job_runs_once),
        cmocka_unit_test(test_failure_backoff_then_dead),
        cmocka_unit_test(test_flaky_then_done),
        cmocka_unit_test(test_permanent_failure_dead_at_once),
        cmocka_unit_test(test_unknown_kind_retried),
        cmocka_unit_test(test_crashed_runner_lease_expires),
        cmocka_unit_test(test_expired_lease_outcome_fenced),
        cmocka_unit_test(test_batch_few_commits),
        cmocka_unit_test(test_batch_one_bad_job_fails_alone),
        cmocka_unit_test(test_batch_lost_lease_writes_nothing),
        cmocka_unit_test(test_claim_plan),
        cmocka_unit_test(test_retry_revives_dead),
        cmocka_unit_test(test_list_and_isolation),
        cmocka_unit_test(test_due_tenants_order),
        cmocka_unit_test(test_runner_notify_and_stop),
        cmocka_unit_test(test_runner_through_group),
        cmocka_unit_test(test_runner_small_batches_while_busy),
        cmocka_unit_test(test_two_storages_share_work),
        cmocka_unit_test(test_two_processes_share_work),
        cmocka_unit_test(test_two_processes_share_batched_work),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
