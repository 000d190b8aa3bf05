/*
 * The group-commit writer (storage/group.h) on both backends, writing real
 * webhook deliveries: concurrent units share transactions and every one is
 * committed before its completion runs; units of different tenants never
 * share one; a failing unit fails alone while the rest of its batch
 * commits; storage_group_run returns after its own commit; background units
 * yield to submitted ones but are never starved; stopping commits what is
 * queued and refuses what comes after.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
    int hold;  /* 1: the write waits for gate_open; 2: sleeps 2 ms */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    enum err result;
    int64_t visible; /* rows with its key, read inside the completion (committed?) */
    int order;       /* seq when it completed */
};

/* Holds the writer inside a unit until opened. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open, gate_entered;
static atomic_int seq; /* order of events across threads */

static enum err write_unit(void *arg, struct tx *tx)
{
    struct unit *x = arg;
    if (x->hold == 1) {
        pthread_mutex_lock(&gate_mu);
        gate_entered = true;
        pthread_cond_broadcast(&gate_cv);
        while (!gate_open)
            pthread_cond_wait(&gate_cv, &gate_mu);
        pthread_mutex_unlock(&gate_mu);
    } else if (x->hold == 2) {
        usleep(2000);
    }
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
    x->order = atomic_fetch_add(&seq, 1);
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

/* A background unit: records when its write ran. */
struct bg_run {
    struct storage_group *g;
    int order;
    enum err result;
    atomic_bool finished;
};

static enum err write_bg(void *arg, struct tx *tx)
{
    struct bg_run *b = arg;
    b->order = atomic_fetch_add(&seq, 1);
    struct unit x;
    memset(&x, 0, sizeof x);
    snprintf(x.key, sizeof x.key, "bg-%d;", b->order);
    return write_unit(&x, tx);
}

static void *run_bg(void *arg)
{
    struct bg_run *b = arg;
    b->result = storage_group_run(b->g, &S.tenants[0], write_bg, b);
    atomic_store(&b->finished, true);
    return NULL;
}

/* Deliveries queued behind a busy writer commit before a background unit queued earlier. */
static void test_background_yields(void **state)
{
    (void)state;
    struct storage_group *g = NULL;
    assert_int_equal(storage_group_start(S.s, &g), ERR_OK);
    gate_open = gate_entered = false;
    static struct unit gate, units[20];
    unit_init(&gate, &S.tenants[0], "yield-gate;", false);
    gate.hold = 1;
    assert_int_equal(storage_group_submit(g, &gate.u), ERR_OK);
    pthread_mutex_lock(&gate_mu);
    while (!gate_entered) /* the writer is inside the gate's transaction */
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    struct bg_run b = {.g = g};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_bg, &b), 0);
    usleep(20 * 1000); /* the background unit queues while the gate holds the writer */
    for (int i = 0; i < 20; i++) {
        char key[64];
        snprintf(key, sizeof key, "yield-%02d;", i);
        unit_init(&units[i], &S.tenants[i % N_TENANTS], key, false);
        assert_int_equal(storage_group_submit(g, &units[i].u), ERR_OK);
    }
    pthread_mutex_lock(&gate_mu);
    gate_open = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    pthread_join(th, NULL);
    assert_int_equal(b.result, ERR_OK);
    unit_wait(&gate);
    for (int i = 0; i < 20; i++) {
        unit_wait(&units[i]);
        assert_int_equal(units[i].result, ERR_OK);
        assert_true(units[i].order < b.order);
    }
    struct storage_group_stats st;
    storage_group_stats(g, &st);
    assert_int_equal(st.background, 1);
    storage_group_stop(g);
}

/* Under a queue of deliveries that never empties, a background unit still gets its turn. */
static void test_background_not_starved(void **state)
{
    (void)state;
    struct storage_group *g = NULL;
    assert_int_equal(storage_group_start(S.s, &g), ERR_OK);
    enum { MAX_FEED = 20000 };
    struct unit *feed = calloc(MAX_FEED, sizeof *feed);
    assert_non_null(feed);
    struct bg_run b = {.g = g};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_bg, &b), 0);
    int fed = 0, waited = 0;
    /* keep about 20 slow deliveries queued until the background unit ran (or 10,000 fed) */
    while (!atomic_load(&b.finished) && fed < MAX_FEED / 2) {
        for (int k = 0; k < 4 && fed < MAX_FEED; k++, fed++) {
            char key[64];
            snprintf(key, sizeof key, "starve-%05d;", fed);
            unit_init(&feed[fed], &S.tenants[fed % N_TENANTS], key, false);
            feed[fed].hold = 2;
            assert_int_equal(storage_group_submit(g, &feed[fed].u), ERR_OK);
        }
        while (fed - waited > 20)
            unit_wait(&feed[waited++]);
    }
    bool in_time = atomic_load(&b.finished);
    pthread_join(th, NULL);
    while (waited < fed)
        unit_wait(&feed[waited++]);
    assert_true(in_time); /* it ran while deliveries were still queued */
    assert_int_equal(b.result, ERR_OK);
    free(feed);
    storage_group_stop(g);
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Busy for STORAGE_GROUP_BUSY_MS after a submitted unit; background units do not count. */
static void test_busy_after_submitted_units(void **state)
{
    (void)state;
    assert_false(storage_group_busy(NULL));
    struct storage_group *g = NULL;
    assert_int_equal(storage_group_start(S.s, &g), ERR_OK);
    assert_false(storage_group_busy(g)); /* nothing submitted yet */
    struct bg_run b = {.g = g};
    run_bg(&b);
    assert_int_equal(b.result, ERR_OK);
    assert_false(storage_group_busy(g)); /* a background unit is not a delivery */

    struct unit x;
    unit_init(&x, &S.tenants[0], "busy-1;", false);
    int64_t t0 = mono_ms();
    assert_int_equal(storage_group_submit(g, &x.u), ERR_OK);
    bool busy = storage_group_busy(g);
    assert_true(busy || mono_ms() - t0 >= STORAGE_GROUP_BUSY_MS); /* unless this thread stalled */
    unit_wait(&x);
    assert_int_equal(x.result, ERR_OK);
    /* quiet again once no delivery came for the whole window (polled: a loaded machine) */
    bool quiet = false;
    for (int k = 0; k < 100 && !quiet; k++) {
        usleep(STORAGE_GROUP_BUSY_MS * 1000 / 4);
        quiet = !storage_group_busy(g);
    }
    assert_true(quiet);
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
        cmocka_unit_test(test_background_yields),
        cmocka_unit_test(test_background_not_starved),
        cmocka_unit_test(test_busy_after_submitted_units),
        cmocka_unit_test(test_stop_commits_what_is_queued),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
