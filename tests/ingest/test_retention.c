/*
 * Retention and ingest settings suite (I7, I8, T1–T3): src/ingest/settings.h,
 * src/ingest/retention.h and storage_retention_due_tenants against a real
 * database.
 *
 *   SHIPLOG_TEST_PG_OWNER_URL and SHIPLOG_TEST_PG_APP_URL set: PostgreSQL
 *   (migrations with the owner, everything else with the application role);
 *   otherwise SQLite in a fresh mkdtemp directory.
 *
 * Time is a fake clock: each test sweeps at its own "now", and the tests'
 * clocks go backwards (EPOCH(k)) by more than any delivery's age, so the
 * deliveries an earlier test left are in the future of every later one and
 * never due there.
 *
 * Covered: settings defaults, set/get, the audit entry, every limit at its
 * value and one past it, unreadable stored values; the due tenants (ids of
 * tenants past their own retention only, the oldest first, max); the purge
 * at and around the cutoff (a delivery exactly retention_days old stays, one
 * second older goes) for two tenants with different retentions and one left
 * untouched; the default 90 days; batches past INGEST_PURGE_MAX; normalized
 * rows kept; the sweeper thread with a fake clock; PostgreSQL: the function
 * is SECURITY DEFINER with a fixed search_path, returns uuids only, is
 * executable by shiplog_app only, and the application role sees nothing of
 * another tenant's settings or deliveries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ingest/ingest.h"
#include "ingest/retention.h"
#include "ingest/settings.h"
#include "ingest/store.h"
#include "jobs/jobs.h"
#include "storage/storage.h"
#include "../common/testdb.h"

#define DAY      86400
#define EPOCH(k) ((int64_t)4000000000 - (int64_t)(k)*400000000) /* 4.6 years apart */

struct suite {
    bool pg;
    char dir[64];
    const char *app_url;
    struct storage *s;
};

static struct suite S;

static int suite_setup(void **state)
{
    (void)state;
    S.app_url = getenv("SHIPLOG_TEST_PG_APP_URL");
    S.s = testdb_open_main("retention", S.dir, &S.pg);
    return S.s ? 0 : -1;
}

static int suite_teardown(void **state)
{
    (void)state;
    testdb_cleanup(S.s, S.dir);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static const struct integrations_actor WHO = {
    .user_id = "00000000-0000-4000-8000-000000000001",
    .client_ip = "192.0.2.1",
    .request_id = "test",
};

static struct tx *begin(const struct tenant_ctx *t, enum tx_mode mode)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, mode, &tx), ERR_OK);
    return tx;
}

static void new_tenant(struct tenant_ctx *t)
{
    testdb_random_uuid(t->id);
    struct tx *tx = begin(t, TX_WRITE);
    assert_int_equal(tx_exec_args(tx, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)",
                                  STORAGE_ARGS(STORAGE_CSTR(t->id), STORAGE_CSTR("Retention")),
                                  NULL),
                     ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

/* Stores n deliveries received at `at` (keys tag-0, tag-1, ...). */
static void deliveries_at(const struct tenant_ctx *t, const char *tag, int64_t at, int n)
{
    struct tx *tx = begin(t, TX_WRITE);
    for (int i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s-%d", tag, i);
        struct ingest_delivery_new d = {
            .integration_id = STR_LIT("integ-1"),
            .provider = STR_LIT("github"),
            .delivery_key = str_from_cstr(key),
            .event = STR_LIT("push"),
            .body = STR_LIT("{\"ref\":\"refs/heads/main\"}"),
            .body_bytes = 26,
            .received_at = at,
        };
        bool dup = true;
        char id[INGEST_DELIVERY_ID_LEN + 1];
        assert_int_equal(ingest_delivery_insert(tx, &d, &dup, id), ERR_OK);
        assert_false(dup);
    }
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static int64_t count_sql(const struct tenant_ctx *t, const char *sql, const char *arg)
{
    struct tx *tx = begin(t, TX_READ);
    struct stmt *st = NULL;
    bool row = false;
    if (arg)
        assert_int_equal(tx_query(tx, sql, STORAGE_ARGS(STORAGE_CSTR(arg)), &st, &row), ERR_OK);
    else
        assert_int_equal(tx_query(tx, sql, NULL, 0, &st, &row), ERR_OK);
    assert_true(row);
    int64_t n = stmt_col_int(st, 0);
    stmt_finish(st);
    storage_rollback(tx);
    return n;
}

/* Deliveries of t received at exactly `at`. */
static int64_t at_count(const struct tenant_ctx *t, int64_t at)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)at);
    return count_sql(t,
                     "SELECT count(*) FROM webhook_deliveries"
                     " WHERE tenant_id = $1 AND received_at = CAST($2 AS BIGINT)",
                     v);
}

static int64_t all_count(const struct tenant_ctx *t)
{
    return count_sql(t, "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1", NULL);
}

static enum err set(const struct tenant_ctx *t, int64_t days, const struct str *p, size_t n,
                    struct ingest_settings_problem *why)
{
    struct tx *tx = begin(t, TX_WRITE);
    enum err e = ingest_settings_set(tx, &WHO, days, p, n, why, NULL);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

static void get(const struct tenant_ctx *t, struct ingest_settings *out)
{
    struct tx *tx = begin(t, TX_READ);
    assert_int_equal(ingest_settings_get(tx, out), ERR_OK);
    storage_rollback(tx);
}

static void put_raw(const struct tenant_ctx *t, const char *key, const char *value)
{
    struct tx *tx = begin(t, TX_WRITE);
    assert_int_equal(
        tx_exec_args(tx,
                     "INSERT INTO tenant_settings (tenant_id, key, value) VALUES ($1, $2, $3)"
                     " ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value",
                     STORAGE_ARGS(STORAGE_CSTR(key), STORAGE_CSTR(value)), NULL),
        ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

struct ids {
    size_t n;
    char id[16][STORAGE_TENANT_ID_LEN + 1];
};

static enum err collect(void *arg, const char *id)
{
    struct ids *l = arg;
    assert_int_equal(strlen(id), STORAGE_TENANT_ID_LEN);
    assert_true(storage_tenant_id_valid(str_from_cstr(id)));
    if (l->n < 16)
        snprintf(l->id[l->n++], sizeof l->id[0], "%s", id);
    return ERR_OK;
}

static bool listed(const struct ids *l, const struct tenant_ctx *t)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->id[i], t->id) == 0)
            return true;
    return false;
}

/* ---- settings ----------------------------------------------------------------- */

static void test_settings_defaults_set_get(void **state)
{
    (void)state;
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    struct ingest_settings *s = calloc(1, sizeof *s);
    get(&a, s);
    assert_int_equal(s->retention_days, INGEST_RETENTION_DAYS);
    assert_int_equal(s->retention_days, 90);
    assert_int_equal(s->n_bot_patterns, 0);

    const struct str p[] = {STR_LIT("ci-*"), STR_LIT("*-automation"), STR_LIT("Build Bot ?")};
    assert_int_equal(set(&a, 30, p, 3, NULL), ERR_OK);
    get(&a, s);
    assert_int_equal(s->retention_days, 30);
    assert_int_equal(s->n_bot_patterns, 3);
    for (size_t i = 0; i < 3; i++)
        assert_true(str_eq(s->bot_patterns[i], p[i]));
    struct ingest_norm_options o;
    ingest_settings_norm_options(s, &o);
    assert_int_equal(o.n_bot_patterns, 3);
    assert_true(ingest_is_bot(STR_LIT("CI-runner"), STR_NULL, &o));
    assert_false(ingest_is_bot(STR_LIT("alice"), STR_LIT("Alice"), &o));

    /* a key that sorts between the two is not taken for either (the read is a range) */
    put_raw(&a, "ingest.other", "7");
    get(&a, s);
    assert_int_equal(s->retention_days, 30);
    assert_int_equal(s->n_bot_patterns, 3);

    /* the other tenant is untouched */
    get(&b, s);
    assert_int_equal(s->retention_days, 90);
    assert_int_equal(s->n_bot_patterns, 0);

    /* replaced as a whole; no patterns is stored as none */
    assert_int_equal(set(&a, 3650, NULL, 0, NULL), ERR_OK);
    get(&a, s);
    assert_int_equal(s->retention_days, 3650);
    assert_int_equal(s->n_bot_patterns, 0);

    /* audited, with old and new values */
    assert_int_equal(count_sql(&a,
                               "SELECT count(*) FROM audit_log WHERE tenant_id = $1"
                               " AND action = 'settings.ingest_changed'",
                               NULL),
                     2);
    struct tx *tx = begin(&a, TX_READ);
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(tx_query(tx,
                              "SELECT details FROM audit_log WHERE tenant_id = $1"
                              " AND action = 'settings.ingest_changed' ORDER BY seq",
                              NULL, 0, &st, &row),
                     ERR_OK);
    assert_true(row);
    const char *d1 = stmt_col_text(st, 0).ptr;
    assert_non_null(strstr(d1, "\"retention_days_from\":90"));
    assert_non_null(strstr(d1, "\"retention_days_to\":30"));
    assert_non_null(strstr(d1, "ci-*"));
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_true(row);
    const char *d2 = stmt_col_text(st, 0).ptr;
    assert_non_null(strstr(d2, "\"retention_days_from\":30"));
    assert_non_null(strstr(d2, "\"retention_days_to\":3650"));
    assert_non_null(strstr(d2, "\"bot_patterns_count_from\":3"));
    stmt_finish(st);
    storage_rollback(tx);
    assert_int_equal(count_sql(&b, "SELECT count(*) FROM audit_log WHERE tenant_id = $1", NULL), 0);
    free(s);
}

static void test_settings_limits(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct ingest_settings_problem why;
    /* retention: 1 and INGEST_MAX_RETENTION_DAYS fit, one past either side does not */
    assert_int_equal(ingest_settings_check(1, NULL, 0, &why), ERR_OK);
    assert_int_equal(ingest_settings_check(INGEST_MAX_RETENTION_DAYS, NULL, 0, &why), ERR_OK);
    assert_int_equal(ingest_settings_check(0, NULL, 0, &why), ERR_INVALID);
    assert_string_equal(why.field, "retention_days");
    assert_int_equal(ingest_settings_check(INGEST_MAX_RETENTION_DAYS + 1, NULL, 0, &why),
                     ERR_INVALID);
    assert_string_equal(why.field, "retention_days");
    assert_int_equal(set(&t, -5, NULL, 0, &why), ERR_INVALID);

    /* patterns: INGEST_MAX_BOT_PATTERNS of INGEST_MAX_BOT_PATTERN bytes fit */
    static char big[INGEST_MAX_BOT_PATTERNS + 1][INGEST_MAX_BOT_PATTERN + 2];
    struct str p[INGEST_MAX_BOT_PATTERNS + 1];
    for (int i = 0; i <= INGEST_MAX_BOT_PATTERNS; i++) {
        memset(big[i], 'a' + i % 26, INGEST_MAX_BOT_PATTERN);
        snprintf(big[i], 8, "%03d", i); /* distinct */
        big[i][3] = '*';
        p[i] = str_from(big[i], INGEST_MAX_BOT_PATTERN);
    }
    assert_int_equal(set(&t, 7, p, INGEST_MAX_BOT_PATTERNS, &why), ERR_OK);
    struct ingest_settings *s = calloc(1, sizeof *s);
    get(&t, s);
    assert_int_equal(s->retention_days, 7);
    assert_int_equal(s->n_bot_patterns, INGEST_MAX_BOT_PATTERNS);
    assert_true(
        str_eq(s->bot_patterns[INGEST_MAX_BOT_PATTERNS - 1], p[INGEST_MAX_BOT_PATTERNS - 1]));
    /* one pattern too many */
    assert_int_equal(set(&t, 7, p, INGEST_MAX_BOT_PATTERNS + 1, &why), ERR_LIMIT);
    assert_string_equal(why.field, "bot_patterns");
    /* one byte too long, in the third pattern */
    p[2].len = INGEST_MAX_BOT_PATTERN + 1;
    big[2][INGEST_MAX_BOT_PATTERN] = 'z';
    assert_int_equal(set(&t, 7, p, 3, &why), ERR_LIMIT);
    assert_string_equal(why.field, "bot_patterns[2]");
    p[2].len = INGEST_MAX_BOT_PATTERN;
    /* empty, control characters, non-ASCII */
    const struct str bad[] = {STR_LIT(""), STR_LIT("a\nb"), STR_LIT("tab\t"), STR_LIT("del\x7f"),
                              STR_LIT("\xc3\xa9t\xc3\xa9")};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const struct str two[] = {STR_LIT("ok"), bad[i]};
        assert_int_equal(set(&t, 7, two, 2, &why), ERR_INVALID);
        assert_string_equal(why.field, "bot_patterns[1]");
        assert_non_null(why.reason);
    }
    /* nothing refused was stored */
    get(&t, s);
    assert_int_equal(s->retention_days, 7);
    assert_int_equal(s->n_bot_patterns, INGEST_MAX_BOT_PATTERNS);

    /* hand-edited values that do not read back count as the defaults */
    put_raw(&t, INGEST_SETTING_RETENTION, "0");
    put_raw(&t, INGEST_SETTING_BOT_PATTERNS, "ok\n\nempty-between");
    get(&t, s);
    assert_int_equal(s->retention_days, 90);
    assert_int_equal(s->n_bot_patterns, 0);
    put_raw(&t, INGEST_SETTING_RETENTION, "12x");
    get(&t, s);
    assert_int_equal(s->retention_days, 90);
    put_raw(&t, INGEST_SETTING_RETENTION, "0012");
    get(&t, s);
    assert_int_equal(s->retention_days, 12);
    free(s);
}

/* ---- the sweep ---------------------------------------------------------------- */

static void test_per_tenant_retention_and_boundary(void **state)
{
    (void)state;
    const int64_t now = EPOCH(1);
    struct tenant_ctx a, b, c;
    new_tenant(&a); /* 30 days */
    new_tenant(&b); /* default: 90 days */
    new_tenant(&c); /* 365 days: nothing of it is due */
    assert_int_equal(set(&a, 30, NULL, 0, NULL), ERR_OK);
    assert_int_equal(set(&c, 365, NULL, 0, NULL), ERR_OK);

    const int64_t ca = ingest_retention_cutoff(now, 30), cb = ingest_retention_cutoff(now, 90);
    assert_int_equal(ca, now - 30 * DAY);
    /* a: around its 30-day cutoff, and older */
    deliveries_at(&a, "a-new", now - 1 * DAY, 2);
    deliveries_at(&a, "a-edge", ca, 1);     /* exactly 30 days old: kept */
    deliveries_at(&a, "a-past", ca - 1, 1); /* one second more: purged */
    deliveries_at(&a, "a-old", now - 60 * DAY, 3);
    /* b: the same ages, purged only past 90 days */
    deliveries_at(&b, "b-60", now - 60 * DAY, 2);
    deliveries_at(&b, "b-edge", cb, 1);
    deliveries_at(&b, "b-past", cb - 1, 1);
    deliveries_at(&b, "b-200", now - 200 * DAY, 2);
    /* c: up to 200 days old, all within its 365 days */
    deliveries_at(&c, "c-200", now - 200 * DAY, 2);
    deliveries_at(&c, "c-new", now - DAY, 1);

    /* the due tenants: a and b (the oldest delivery first), not c */
    struct ids due = {0};
    assert_int_equal(storage_retention_due_tenants(S.s, now, 10, collect, &due), ERR_OK);
    assert_true(listed(&due, &a));
    assert_true(listed(&due, &b));
    assert_false(listed(&due, &c));
    assert_int_equal(due.n, 2);
    assert_string_equal(due.id[0], b.id); /* b's 200-day-old delivery is the oldest */
    struct ids one = {0};
    assert_int_equal(storage_retention_due_tenants(S.s, now, 1, collect, &one), ERR_OK);
    assert_int_equal(one.n, 1);
    assert_int_equal(storage_retention_due_tenants(S.s, now, 0, collect, &one), ERR_INVALID);
    assert_int_equal(
        storage_retention_due_tenants(S.s, now, STORAGE_MAX_DUE_TENANTS + 1, collect, &one),
        ERR_INVALID);
    /* a second earlier nobody's edge delivery is past: a's ca - 1 still is */
    struct ids before = {0};
    assert_int_equal(storage_retention_due_tenants(S.s, now - 200 * DAY, 10, collect, &before),
                     ERR_OK);
    assert_int_equal(before.n, 0);

    struct ingest_retention_stats st;
    assert_int_equal(ingest_retention_run(S.s, now, &st), ERR_OK);
    assert_int_equal(st.tenants, 2);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.purged, 4 + 3);
    assert_false(st.more);

    assert_int_equal(at_count(&a, now - DAY), 2);
    assert_int_equal(at_count(&a, ca), 1);
    assert_int_equal(at_count(&a, ca - 1), 0);
    assert_int_equal(at_count(&a, now - 60 * DAY), 0);
    assert_int_equal(all_count(&a), 3);
    assert_int_equal(at_count(&b, now - 60 * DAY), 2);
    assert_int_equal(at_count(&b, cb), 1);
    assert_int_equal(at_count(&b, cb - 1), 0);
    assert_int_equal(at_count(&b, now - 200 * DAY), 0);
    assert_int_equal(all_count(&b), 3);
    assert_int_equal(all_count(&c), 3);

    /* nothing is due any more; a second later the edge deliveries go */
    struct ids after = {0};
    assert_int_equal(storage_retention_due_tenants(S.s, now, 10, collect, &after), ERR_OK);
    assert_int_equal(after.n, 0);
    assert_int_equal(ingest_retention_run(S.s, now, &st), ERR_OK);
    assert_int_equal(st.purged, 0);
    assert_int_equal(ingest_retention_run(S.s, now + 1, &st), ERR_OK);
    assert_int_equal(st.purged, 2);
    assert_int_equal(at_count(&a, ca), 0);
    assert_int_equal(at_count(&b, cb), 0);
    assert_int_equal(all_count(&c), 3);

    /* a shorter retention takes effect at the next run */
    assert_int_equal(set(&c, 100, NULL, 0, NULL), ERR_OK);
    assert_int_equal(ingest_retention_run(S.s, now + 1, &st), ERR_OK);
    assert_int_equal(st.purged, 2);
    assert_int_equal(all_count(&c), 1);
}

static enum err job_ok(void *arg, struct storage *s, const struct jobs_job *job, char *why,
                       size_t why_cap)
{
    (void)arg, (void)s, (void)job, (void)why, (void)why_cap;
    return ERR_OK;
}

static enum err job_bad(void *arg, struct storage *s, const struct jobs_job *job, char *why,
                        size_t why_cap)
{
    (void)arg, (void)s, (void)job;
    snprintf(why, why_cap, "malformed");
    return ERR_INVALID; /* permanent: dead at once */
}

static const struct jobs_handler job_handlers[] = {
    {.kind = "test.ok", .run = job_ok},
    {.kind = "test.bad", .run = job_bad},
};

/* A job of t of kind, due at `at`, run then by a round at that time (none: left pending). */
static void job_at(const struct tenant_ctx *t, const char *kind, int64_t at, bool run)
{
    struct tx *tx = begin(t, TX_WRITE);
    char id[JOBS_ID_LEN + 1];
    assert_int_equal(jobs_enqueue(tx, kind, "retention", at, id), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
    struct jobs_round r;
    if (run)
        assert_int_equal(jobs_run_round(S.s, job_handlers, 2, at, 0, NULL, &r), ERR_OK);
}

static int64_t jobs_with(const struct tenant_ctx *t, const char *status)
{
    return count_sql(t, "SELECT count(*) FROM jobs WHERE tenant_id = $1 AND status = $2", status);
}

/*
 * Jobs that finished done before the cutoff go in the same sweep as the
 * deliveries; dead ones, pending ones and recent ones stay, and another
 * tenant's are never touched.
 */
static void test_done_jobs_purged(void **state)
{
    (void)state;
    const int64_t now = EPOCH(6), cut = ingest_retention_cutoff(now, INGEST_RETENTION_DAYS);
    struct tenant_ctx t, u;
    new_tenant(&t);
    new_tenant(&u);
    deliveries_at(&t, "jobs-old", now - 100 * DAY, 1); /* makes t due */
    for (int i = 0; i < 3; i++)
        job_at(&t, "test.ok", cut - 1 - i, true);  /* done before the cutoff */
    job_at(&t, "test.ok", cut, true);              /* done at the cutoff: kept */
    job_at(&t, "test.ok", now - DAY, true);        /* recent */
    job_at(&t, "test.bad", now - 100 * DAY, true); /* dead: kept for the operator */
    job_at(&t, "test.ok", now + DAY, false);       /* pending */
    job_at(&u, "test.ok", now - 100 * DAY, true);  /* u has no delivery past retention */
    assert_int_equal(jobs_with(&t, "done"), 5);
    assert_int_equal(jobs_with(&t, "dead"), 1);

    struct ingest_retention_stats st;
    assert_int_equal(ingest_retention_run(S.s, now, &st), ERR_OK);
    assert_int_equal(st.purged, 1);
    assert_int_equal(st.jobs_purged, 3);
    assert_false(st.more);
    assert_int_equal(jobs_with(&t, "done"), 2);
    assert_int_equal(jobs_with(&t, "dead"), 1);
    assert_int_equal(jobs_with(&t, "pending"), 1);
    assert_int_equal(jobs_with(&u, "done"), 1); /* not visited */

    /* in t's transaction nothing of u's goes; the batch size is checked */
    struct tx *tx = begin(&t, TX_WRITE);
    size_t n = 99;
    assert_int_equal(jobs_purge_done(tx, now + 10 * DAY, 1, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(jobs_purge_done(tx, now + 10 * DAY, JOBS_PURGE_MAX, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(jobs_purge_done(tx, now + 10 * DAY, 0, &n), ERR_INVALID);
    assert_int_equal(jobs_purge_done(tx, now + 10 * DAY, JOBS_PURGE_MAX + 1, &n), ERR_INVALID);
    assert_int_equal(n, 0);
    assert_int_equal(storage_commit(tx), ERR_OK);
    assert_int_equal(jobs_with(&t, "done"), 0);
    assert_int_equal(jobs_with(&t, "dead"), 1);
    assert_int_equal(jobs_with(&u, "done"), 1);
}

static void test_default_and_unreadable_retention(void **state)
{
    (void)state;
    const int64_t now = EPOCH(2);
    struct tenant_ctx d, u;
    new_tenant(&d); /* nothing set: 90 days */
    new_tenant(&u); /* an unreadable value: 90 days as well, in SQL and in C */
    put_raw(&u, INGEST_SETTING_RETENTION, "1x");
    for (int k = 0; k < 2; k++) {
        const struct tenant_ctx *t = k ? &u : &d;
        deliveries_at(t, "89", now - 89 * DAY, 1);
        deliveries_at(t, "90", now - 90 * DAY, 1);
        deliveries_at(t, "91", now - 91 * DAY, 1);
    }
    struct ingest_retention_stats st;
    assert_int_equal(ingest_retention_run(S.s, now, &st), ERR_OK);
    assert_int_equal(st.tenants, 2);
    assert_int_equal(st.purged, 2);
    for (int k = 0; k < 2; k++) {
        const struct tenant_ctx *t = k ? &u : &d;
        assert_int_equal(at_count(t, now - 89 * DAY), 1);
        assert_int_equal(at_count(t, now - 90 * DAY), 1);
        assert_int_equal(at_count(t, now - 91 * DAY), 0);
    }
}

static void test_batches_rows_kept(void **state)
{
    (void)state;
    const int64_t now = EPOCH(3);
    struct tenant_ctx t;
    new_tenant(&t);
    assert_int_equal(set(&t, 1, NULL, 0, NULL), ERR_OK);
    const int n = 2 * INGEST_PURGE_MAX + 17; /* three purge calls */
    deliveries_at(&t, "bulk", now - 2 * DAY, n);
    deliveries_at(&t, "fresh", now - 3600, 1);
    /* a normalized row: metadata stays when its delivery goes */
    struct ingest_repo repo = {.id = STR_LIT("github:repo:1"), .full_name = STR_LIT("o/r")};
    struct ingest_commit cm;
    ingest_commit_init(&cm);
    cm.id = STR_LIT("github:commit:1:0123456789012345678901234567890123456789");
    cm.repo_id = repo.id;
    cm.sha = STR_LIT("0123456789012345678901234567890123456789");
    struct ingest_batch b = {.repos = &repo, .n_repos = 1, .commits = &cm, .n_commits = 1};
    struct tx *tx = begin(&t, TX_WRITE);
    assert_int_equal(ingest_store_batch(tx, &b), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);

    struct ingest_retention_stats st;
    assert_int_equal(ingest_retention_run(S.s, now, &st), ERR_OK);
    assert_int_equal(st.tenants, 1);
    assert_int_equal(st.purged, (size_t)n);
    assert_false(st.more);
    assert_int_equal(all_count(&t), 1);
    assert_int_equal(count_sql(&t, "SELECT count(*) FROM commits WHERE tenant_id = $1", NULL), 1);
    assert_int_equal(count_sql(&t, "SELECT count(*) FROM repositories WHERE tenant_id = $1", NULL),
                     1);
}

static struct {
    int64_t now;
} fake;

static int64_t fake_clock(void *arg)
{
    (void)arg;
    return fake.now;
}

static void test_sweeper_thread(void **state)
{
    (void)state;
    fake.now = EPOCH(4);
    struct tenant_ctx t;
    new_tenant(&t);
    deliveries_at(&t, "old", fake.now - 100 * DAY, 3);
    deliveries_at(&t, "new", fake.now - 10 * DAY, 2);
    struct ingest_retention *r = NULL;
    assert_int_equal(ingest_retention_start(NULL, NULL, &r), ERR_INVALID);
    assert_null(r);
    /* a period far away: only the first run (at start) can purge */
    struct ingest_retention_options o = {.period_s = 3600, .clock = fake_clock};
    assert_int_equal(ingest_retention_start(S.s, &o, &r), ERR_OK);
    struct ingest_retention_stats tot = {0};
    for (int k = 0; k < 250 && tot.purged < 3; k++) {
        usleep(20 * 1000);
        ingest_retention_totals(r, &tot);
    }
    assert_int_equal(tot.purged, 3);
    ingest_retention_stop(r);
    ingest_retention_stop(NULL);
    assert_int_equal(all_count(&t), 2);
}

/* ---- PostgreSQL: the function and row-level security ------------------------ */

static void test_pg_function_and_rls(void **state)
{
    (void)state;
    if (!S.pg)
        return; /* PostgreSQL only (a cmocka skip reads as a failure in meson's TAP) */
    const int64_t now = EPOCH(5);
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    const struct str p[] = {STR_LIT("secret-bot-*")};
    assert_int_equal(set(&a, 5, p, 1, NULL), ERR_OK);
    deliveries_at(&a, "old", now - 10 * DAY, 1);
    long changed = -1;
    const char *pa[] = {a.id};
    /* b's transaction sees none of a's settings or deliveries, and cannot change them */
    assert_true(testdb_pg_as_tenant(S.app_url, b.id,
                                    "SELECT value FROM tenant_settings WHERE tenant_id = $1::uuid",
                                    1, pa, &changed));
    assert_int_equal(changed, 0);
    assert_true(testdb_pg_as_tenant(S.app_url, a.id,
                                    "SELECT value FROM tenant_settings WHERE tenant_id = $1::uuid",
                                    1, pa, &changed));
    assert_int_equal(changed, 2);
    assert_true(testdb_pg_as_tenant(S.app_url, b.id,
                                    "UPDATE tenant_settings SET value = '1'"
                                    " WHERE tenant_id = $1::uuid",
                                    1, pa, &changed));
    assert_int_equal(changed, 0);
    assert_true(testdb_pg_as_tenant(S.app_url, b.id,
                                    "DELETE FROM webhook_deliveries WHERE tenant_id = $1::uuid", 1,
                                    pa, &changed));
    assert_int_equal(changed, 0);
    assert_false(testdb_pg_as_tenant(S.app_url, b.id,
                                     "INSERT INTO tenant_settings (tenant_id, key, value)"
                                     " VALUES ($1::uuid, 'ingest.retention_days', '1')",
                                     1, pa, NULL));
    /* without a tenant nothing is visible */
    assert_true(
        testdb_pg_as_tenant(S.app_url, "", "SELECT 1 FROM tenant_settings", 0, NULL, &changed));
    assert_int_equal(changed, 0);
    /* the function answers uuids only (one column), for tenants past retention */
    char now_text[32];
    snprintf(now_text, sizeof now_text, "%lld", (long long)now);
    const char *pn[] = {now_text, a.id};
    assert_true(testdb_pg_as_tenant(S.app_url, "",
                                    "SELECT t FROM public.shiplog_retention_due_tenants("
                                    "$1::bigint, 1000) AS t WHERE t = $2::uuid",
                                    2, pn, &changed));
    assert_int_equal(changed, 1);
    assert_true(testdb_pg_as_tenant(S.app_url, "",
                                    "SELECT 1 FROM pg_proc"
                                    " WHERE proname = 'shiplog_retention_due_tenants'"
                                    " AND prosecdef AND proretset"
                                    " AND prorettype = 'uuid'::regtype"
                                    " AND array_to_string(proconfig, ',')"
                                    "     LIKE '%search_path=pg_catalog, pg_temp%'"
                                    " AND proacl::text LIKE '%shiplog_app=X/%'"
                                    " AND proacl::text NOT LIKE '{=X%'"
                                    " AND proacl::text NOT LIKE '%,=X%'",
                                    0, NULL, &changed));
    assert_int_equal(changed, 1);
    /* and its limit is clamped: a huge lim still gives at most 1000 */
    assert_true(testdb_pg_as_tenant(S.app_url, "",
                                    "SELECT count(*) FROM public.shiplog_retention_due_tenants("
                                    "$1::bigint, 2000000000) AS t HAVING count(*) <= 1000",
                                    1, pn, &changed));
    assert_int_equal(changed, 1);
    /* the application role owns nothing it could widen: not the function, not the tables */
    assert_false(testdb_pg_as_tenant(
        S.app_url, "",
        "CREATE OR REPLACE FUNCTION public.shiplog_retention_due_tenants(now_unix bigint, lim int)"
        " RETURNS SETOF uuid LANGUAGE sql AS 'SELECT NULL::uuid'",
        0, NULL, NULL));
    assert_false(testdb_pg_as_tenant(
        S.app_url, "", "ALTER TABLE tenant_settings DISABLE ROW LEVEL SECURITY", 0, NULL, NULL));
    struct ingest_retention_stats st;
    assert_int_equal(ingest_retention_run(S.s, now, &st), ERR_OK);
    assert_int_equal(st.purged, 1);
    assert_int_equal(all_count(&a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings_defaults_set_get),
        cmocka_unit_test(test_settings_limits),
        cmocka_unit_test(test_per_tenant_retention_and_boundary),
        cmocka_unit_test(test_default_and_unreadable_retention),
        cmocka_unit_test(test_batches_rows_kept),
        cmocka_unit_test(test_sweeper_thread),
        cmocka_unit_test(test_pg_function_and_rls),
        cmocka_unit_test(test_done_jobs_purged), /* EPOCH(6): the earliest clock, last */
    };
    return cmocka_run_group_tests_name("retention", tests, suite_setup, suite_teardown);
}
