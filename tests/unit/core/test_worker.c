/*
 * Unit tests for core/worker: a round per thread at start, a round again at
 * once after one that did work, a notify wakes the threads long before the
 * period, a notify during a round is not lost, stop is prompt, threads
 * carry a name, arguments checked.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/worker.h"

#define LONG_PERIOD_MS 60000 /* never reached within a test */

struct counter {
    atomic_int rounds;
    atomic_int per_thread[4];
    atomic_int busy_left; /* rounds that still report work */
    atomic_int in_round;  /* set while a slow round runs */
    int slow_ms;          /* each round sleeps this long */
    char name[2][16];     /* each of threads 0 and 1 records its name in every round */
};

static bool count_round(void *arg, unsigned index, const atomic_int *stop)
{
    struct counter *c = arg;
    if (index < 4)
        atomic_fetch_add(&c->per_thread[index], 1);
    if (index < 2)
        pthread_getname_np(pthread_self(), c->name[index], sizeof c->name[index]);
    atomic_store(&c->in_round, 1);
    if (c->slow_ms)
        usleep((useconds_t)c->slow_ms * 1000);
    atomic_store(&c->in_round, 0);
    atomic_fetch_add(&c->rounds, 1);
    return atomic_fetch_sub(&c->busy_left, 1) > 0;
}

/* Waits up to 2 s for c->rounds to reach want. */
static bool wait_rounds(struct counter *c, int want)
{
    for (int i = 0; i < 200; i++) {
        if (atomic_load(&c->rounds) >= want)
            return true;
        usleep(10 * 1000);
    }
    return false;
}

static void test_start_rounds_and_notify(void **state)
{
    struct counter c = {0};
    struct worker *w = NULL;
    assert_int_equal(worker_start(3, LONG_PERIOD_MS, count_round, &c, &w), ERR_OK);
    assert_true(wait_rounds(&c, 3)); /* one each at start */
    usleep(50 * 1000);
    assert_int_equal(atomic_load(&c.rounds), 3); /* then they sleep */
    for (int i = 0; i < 3; i++)
        assert_int_equal(atomic_load(&c.per_thread[i]), 1);
    worker_notify(w);
    assert_true(wait_rounds(&c, 6)); /* every thread woke */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    worker_stop(w);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(b.tv_sec - a.tv_sec < 2);
    worker_stop(NULL);
}

static void test_work_runs_again_at_once(void **state)
{
    struct counter c = {0};
    atomic_store(&c.busy_left, 5);
    struct worker *w = NULL;
    assert_int_equal(worker_start(1, LONG_PERIOD_MS, count_round, &c, &w), ERR_OK);
    /* five rounds that did work, then the one that found nothing */
    assert_true(wait_rounds(&c, 6));
    usleep(50 * 1000);
    assert_int_equal(atomic_load(&c.rounds), 6);
    worker_stop(w);
}

static void test_notify_during_round_not_lost(void **state)
{
    struct counter c = {.slow_ms = 200};
    struct worker *w = NULL;
    assert_int_equal(worker_start(1, LONG_PERIOD_MS, count_round, &c, &w), ERR_OK);
    for (int i = 0; i < 100 && !atomic_load(&c.in_round); i++)
        usleep(5 * 1000);
    assert_true(atomic_load(&c.in_round));
    worker_notify(w); /* while the first round runs */
    assert_true(wait_rounds(&c, 2));
    worker_stop(w);
}

static void test_period(void **state)
{
    struct counter c = {0};
    struct worker *w = NULL;
    assert_int_equal(worker_start(1, 20, count_round, &c, &w), ERR_OK);
    assert_true(wait_rounds(&c, 4)); /* without any notify */
    worker_stop(w);
}

/* Every thread carries the name, cut to the 15 bytes Linux keeps. */
static void test_set_name(void **state)
{
    struct counter c = {0};
    struct worker *w = NULL;
    assert_int_equal(worker_start(2, LONG_PERIOD_MS, count_round, &c, &w), ERR_OK);
    assert_true(wait_rounds(&c, 2));
    worker_set_name(w, "sl-test-worker-and-more");
    worker_notify(w);
    assert_true(wait_rounds(&c, 4));
    worker_stop(w);
    assert_string_equal(c.name[0], "sl-test-worker-");
    assert_string_equal(c.name[1], "sl-test-worker-");
}

static void test_arguments(void **state)
{
    struct counter c = {0};
    struct worker *w = (struct worker *)&c;
    assert_int_equal(worker_start(0, 10, count_round, &c, &w), ERR_INVALID);
    assert_null(w);
    assert_int_equal(worker_start(WORKER_MAX_THREADS + 1, 10, count_round, &c, &w), ERR_INVALID);
    assert_int_equal(worker_start(1, 0, count_round, &c, &w), ERR_INVALID);
    assert_int_equal(worker_start(1, 10, NULL, &c, &w), ERR_INVALID);
    assert_int_equal(worker_start(WORKER_MAX_THREADS, LONG_PERIOD_MS, count_round, &c, &w), ERR_OK);
    worker_stop(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_rounds_and_notify),
        cmocka_unit_test(test_work_runs_again_at_once),
        cmocka_unit_test(test_notify_during_round_not_lost),
        cmocka_unit_test(test_period),
        cmocka_unit_test(test_set_name),
        cmocka_unit_test(test_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
