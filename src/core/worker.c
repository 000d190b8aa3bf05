/*
 * worker — periodic background threads; see worker.h.
 *
 * One mutex and one condition variable (CLOCK_MONOTONIC, so a wall-clock jump
 * neither stalls nor floods the rounds) per worker. A notify bumps a
 * generation counter: a thread remembers the generation before each round
 * and only sleeps while it is unchanged, which is what keeps a notify sent
 * during a round from being lost.
 */
#include "core/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct worker_thread {
    struct worker *w;
    unsigned index;
    pthread_t thread;
};

struct worker {
    worker_round_fn round;
    void *arg;
    unsigned period_ms;
    unsigned n; /* threads started */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    uint64_t gen;      /* bumped by worker_notify, under mu */
    atomic_int stop;   /* set under mu, read anywhere */
    struct worker_thread t[];
};

static void deadline_after_ms(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *worker_main(void *arg)
{
    struct worker_thread *wt = arg;
    struct worker *w = wt->w;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        uint64_t seen = w->gen;
        pthread_mutex_unlock(&w->mu);
        if (atomic_load(&w->stop))
            break;
        if (w->round(w->arg, wt->index, &w->stop))
            continue; /* did work: there may be more */
        struct timespec until;
        deadline_after_ms(&until, w->period_ms);
        pthread_mutex_lock(&w->mu);
        while (!atomic_load(&w->stop) && w->gen == seen) {
            if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT)
                break;
        }
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

static void stop_and_join(struct worker *w)
{
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stop, 1);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->n; i++)
        pthread_join(w->t[i].thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

enum err worker_start(unsigned threads, unsigned period_ms, worker_round_fn round, void *arg,
                      struct worker **out)
{
    *out = NULL;
    if (threads == 0 || threads > WORKER_MAX_THREADS || period_ms == 0 || !round)
        return ERR_INVALID;
    struct worker *w = calloc(1, sizeof *w + threads * sizeof w->t[0]);
    if (!w)
        err_oom();
    w->round = round;
    w->arg = arg;
    w->period_ms = period_ms;
    atomic_init(&w->stop, 0);
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    for (unsigned i = 0; i < threads; i++) {
        w->t[i].w = w;
        w->t[i].index = i;
        if (pthread_create(&w->t[i].thread, NULL, worker_main, &w->t[i]) != 0) {
            stop_and_join(w);
            return ERR_INTERNAL;
        }
        w->n++;
    }
    *out = w;
    return ERR_OK;
}

void worker_set_name(struct worker *w, const char *name)
{
    char cut[16];
    snprintf(cut, sizeof cut, "%s", name);
    for (unsigned i = 0; i < w->n; i++)
        pthread_setname_np(w->t[i].thread, cut);
}

void worker_notify(struct worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->gen++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void worker_stop(struct worker *w)
{
    if (w)
        stop_and_join(w);
}
