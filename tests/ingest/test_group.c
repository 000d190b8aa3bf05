/*
 * The group-commit writer (storage/group.h) on both backends, writing real
 * webhook deliveries: concurrent units share transactions and every one is
 * committed before its completion runs; units of different tenants never
 * share one; a failing unit fails alone while the rest of its batch
 * commits; storage_group_run returns after its own commit; stopping commits
 * what is queued and refuses what comes after.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/store.h"
#include "storage/group.h"
#include "storage/storage.h"
#include "../common/testdb.h"

#define THREADS   16
#define PER       25 /* units per thread */
#define N_TENANTS 3

struct suite {
    bool pg;
    char dir[64];
    struct storage *s;
    struct tenant_ctx tenants[N_TENANTS];
};

static struct suite S;

static void new_tenant(struct tenant_ctx *t)
{
    testdb_random_uuid(t->id);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_WRITE, &tx), ERR_OK);
    struct stmt *st = NULL;
    assert_int_equal(
        tx_prepare(tx, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)", &st), ERR_OK);
    assert_int_equal(stmt_bind_text(st, 2, str_from_cstr(t->id)), ERR_OK);
    assert_int_equal(stmt_bind_text(st, 3, STR_LIT("Group commit test")), ERR_OK);
    bool row = false;
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    stmt_finish(st);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static int suite_setup(void **state)
{
    (void)state;
    S.s = testdb_open_main("group", S.dir, &S.pg);
    if (!S.s)
        return -1;
    for (size_t i = 0; i < N_TENANTS; i++)
        new_tenant(&S.tenants[i]);
    return 0;
}

static int suite_teardown(void **state)
{
    (void)state;
    testdb_cleanup(S.s, S.dir);
    return 0;
}

static int64_t deliveries_of(const struct tenant_ctx *t, const char *key_prefix)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_READ, &tx), ERR_OK);
    struct stmt *st = NULL;
    assert_int_equal(tx_prepare(tx,
                                "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1"
                                " AND delivery_key LIKE $2",
                                &st),
                     ERR_OK);
    char like[64];
    snprintf(like, sizeof like, "%s%%", key_prefix);
    assert_int_equal(stmt_bind_text(st, 2, str_from_cstr(like)), ERR_OK);
    bool row = false;
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    int64_t n = stmt_col_int(st, 0);
    stmt_finish(st);
    storage_rollback(tx);
    return n;
}

/* One delivery to write; done records what its completion saw. */
struct unit {
    struct storage_unit u;
    char key[64];
    bool fail; /* the write refuses (ERR_INVALID) after inserting */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    enum err result;
    int64_t visible; /* rows with its key, read inside the completion (committed?) */
};

static enum err write_unit(void *arg, struct tx *tx)
{
    struct unit *x = arg;
    struct ingest_delivery_new d = {
        .integration_id = STR_LIT("integ"),
        .provider = STR_LIT("github"),
        .delivery_key = str_from_cstr(x->key),
        .event = STR_LIT("push"),
        .body = STR_LIT("{}"),
        .body_bytes = 2,
        .received_at = 1700000000,
    };
    bool dup = false;
    char id[INGEST_DELIVERY_ID_LEN + 1];
    enum err e = ingest_delivery_insert(tx, &d, &dup, id);
    return e ? e : (x->fail ? ERR_INVALID : ERR_OK);
}

static void unit_done(void *arg, enum err result)
{
    struct unit *x = arg;
    /* runs after the commit: another transaction must already see the row */
    int64_t seen = result == ERR_OK ? deliveries_of(&x->u.tenant, x->key) : -1;
    pthread_mutex_lock(&x->lock);
    x->result = result;
    x->visible = seen;
    x->done = true;
    pthread_cond_signal(&x->cond);
    pthread_mutex_unlock(&x->lock);
}

static void unit_init(struct unit *x, const struct tenant_ctx *t, const char *key, bool fail)
{
    memset(x, 0, sizeof *x);
    x->u.tenant = *t;
    x->u.write = write_unit;
    x->u.arg = x;
    x->u.done = unit_done;
    x->u.done_arg = x;
    snprintf(x->key, sizeof x->key, "%s", key);
    x->fail = fail;
    pthread_mutex_init(&x->lock, NULL);
    pthread_cond_init(&x->cond, NULL);
}

static void unit_wait(struct unit *x)
{
    pthread_mutex_lock(&x->lock);
    while (!x->done)
        pthread_cond_wait(&x->cond, &x->lock);
    pthread_mutex_unlock(&x->lock);
    pthread_cond_destroy(&x->cond);
    pthread_mutex_destroy(&x->lock);
}

struct submitter {
    struct storage_group *g;
    int index;
    struct unit units[PER];
};

/* Submits PER units without waiting for any, then waits for them all. */
static void *submit_all(void *arg)
{
    struct submitter *sm = arg;
    for (int i = 0; i < PER; i++) {
        char key[64];
        snprintf(key, sizeof key, "load-%02d-%02d;", sm->index, i);
        unit_init(&sm->units[i], &S.tenants[(sm->index + i) % N_TENANTS], key, false);
        assert_int_equal(storage_group_submit(sm->g, &sm->units[i].u), ERR_OK);
    }
    for (int i = 0; i < PER; i++)
        unit_wait(&sm->units[i]);
    return NULL;
}

static void test_concurrent_units_share_commits(void **state)
{
    (void)state;
    struct storage_group *g = NULL;
    assert_int_equal(storage_group_start(S.s, &g), ERR_OK);
    static struct submitter sm[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        sm[i].g = g;
        sm[i].index = i;
        assert_int_equal(pthread_create(&th[i], NULL, submit_all, &sm[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);

    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < PER; j++) {
            struct unit *x = &sm[i].units[j];
            assert_int_equal(x->result, ERR_OK);
            assert_int_equal(x->visible, 1); /* committed before its completion ran */
        }
    int64_t stored = 0;
    for (size_t t = 0; t < N_TENANTS; t++)
        stored += deliveries_of(&S.tenants[t], "load-");
    assert_int_equal(stored, THREADS * PER);

    struct storage_group_stats st;
    storage_group_stats(g, &st);
    print_message("# %llu units in %llu transactions, largest %llu, %llu retried alone\n",
                  (unsigned long long)st.units, (unsigned long long)st.transactions,
                  (unsigned long long)st.largest, (unsigned long long)st.retried);
    assert_int_equal(st.units, THREADS * PER);
    assert_true(st.largest > 1);             /* units shared a transaction */
    assert_true(st.transactions < st.units); /* fewer commits than units */
    assert_int_equal(st.retried, 0);
    storage_group_stop(g);
}

/* Units queued together, one of which fails: it fails alone, the others commit. */
static void test_failing_unit_fails_alone(void **state)
{
    (void)state;
    struct storage_group *g = NULL;
    assert_int_equal(storage_group_start(S.s, &g), ERR_OK);
    static struct unit units[30];
    for (int i = 0; i < 30; i++) {
        char key[64];
        snprintf(key, sizeof key, "fail-%02d;", i);
        unit_init(&units[i], &S.tenants[0], key, i == 7);
        assert_int_equal(storage_group_submit(g, &units[i].u), ERR_OK);
    }
    for (int i = 0; i < 30; i++)
        unit_wait(&units[i]);
    for (int i = 0; i < 30; i++) {
        assert_int_equal(units[i].result, i == 7 ? ERR_INVALID : ERR_OK);
        if (i != 7)
            assert_int_equal(units[i].visible, 1);
    }
    assert_int_equal(deliveries_of(&S.tenants[0], "fail-"), 29); /* the failing one left nothing */
    assert_int_equal(deliveries_of(&S.tenants[0], "fail-07;"), 0);
    storage_group_stop(g);
}

/* storage_group_run from several threads: each call returns after its own commit. */
struct runner {
    struct storage_group *g;
    int index;
    enum err results[PER];
    int64_t visible[PER]; /* rows of its key right after the call returned */
};

static void *run_all(void *arg)
{
    struct runner *r = arg;
    for (int i = 0; i < PER; i++) {
        struct unit x;
        char key[64];
        snprintf(key, sizeof key, "run-%02d-%02d;", r->index, i);
        unit_init(&x, &S.tenants[r->index % N_TENANTS], key, i == 3); /* the 4th one fails */
        r->results[i] = storage_group_run(r->g, &x.u.tenant, write_unit, &x);
        r->visible[i] = deliveries_of(&x.u.tenant, key);
        pthread_cond_destroy(&x.cond);
        pthread_mutex_destroy(&x.lock);
    }
    return NULL;
}

static void test_run_waits_for_its_commit(void **state)
{
    (void)state;
    struct storage_group *g = NULL;
    assert_int_equal(storage_group_start(S.s, &g), ERR_OK);
    static struct runner r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        r[i].g = g;
        r[i].index = i;
        assert_int_equal(pthread_create(&th[i], NULL, run_all, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < PER; j++) {
            assert_int_equal(r[i].results[j], j == 3 ? ERR_INVALID : ERR_OK);
            assert_int_equal(r[i].visible[j], j == 3 ? 0 : 1);
        }
    storage_group_stop(g);
}

static void test_stop_commits_what_is_queued(void **state)
{
    (void)state;
    struct storage_group *g = NULL;
    assert_int_equal(storage_group_start(S.s, &g), ERR_OK);
    static struct unit units[40];
    for (int i = 0; i < 40; i++) {
        char key[64];
        snprintf(key, sizeof key, "stop-%02d;", i);
        unit_init(&units[i], &S.tenants[i % N_TENANTS], key, false);
        assert_int_equal(storage_group_submit(g, &units[i].u), ERR_OK);
    }
    storage_group_stop(g); /* returns after every completion ran */
    for (int i = 0; i < 40; i++) {
        assert_true(units[i].done);
        assert_int_equal(units[i].result, ERR_OK);
        unit_wait(&units[i]);
    }
    int64_t n = 0;
    for (size_t t = 0; t < N_TENANTS; t++)
        n += deliveries_of(&S.tenants[t], "stop-");
    assert_int_equal(n, 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_units_share_commits),
        cmocka_unit_test(test_run_waits_for_its_commit),
        cmocka_unit_test(test_failing_unit_fails_alone),
        cmocka_unit_test(test_stop_commits_what_is_queued),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
