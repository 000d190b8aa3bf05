/*
 * group.c — the group-commit writer thread (see group.h).
 */
#include "storage/group.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A FIFO of units. */
struct queue {
    struct storage_unit *head, *tail;
};

struct storage_group {
    struct storage *storage;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct queue fg, bg; /* submitted units; storage_group_run's (background) */
    size_t queued;       /* in both */
    int64_t last_fg_ms;  /* when a submitted unit was last queued; 0: never */
    bool stopping;
    struct storage_group_stats stats; /* under lock */
};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void push(struct queue *q, struct storage_unit *u)
{
    u->next_ = NULL;
    if (q->tail)
        q->tail->next_ = u;
    else
        q->head = u;
    q->tail = u;
}

/* Takes up to max units off q's head, in order; *n gets how many. */
static struct storage_unit *take(struct queue *q, size_t max, size_t *n)
{
    struct storage_unit *first = q->head, *last = first;
    *n = first ? 1 : 0;
    if (!first)
        return NULL;
    while (last->next_ && *n < max) {
        last = last->next_;
        (*n)++;
    }
    q->head = last->next_;
    if (!q->head)
        q->tail = NULL;
    last->next_ = NULL;
    return first;
}

/* Runs units (a list of one tenant) in one transaction; ERR_OK when all committed. */
static enum err run_together(struct storage *s, struct storage_unit *units)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(s, &units->tenant, TX_WRITE, &tx);
    if (e)
        return e;
    for (struct storage_unit *u = units; u && !e; u = u->next_)
        e = u->write(u->arg, tx);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

static void complete(struct storage_unit *units, enum err e)
{
    while (units) {
        struct storage_unit *next = units->next_;
        units->next_ = NULL;
        units->done(units->done_arg, e); /* may free the unit */
        units = next;
    }
}

/* Counts a run of n units: one transaction, plus one each when they re-ran alone. */
static void count(struct storage_group *g, size_t n, bool alone)
{
    pthread_mutex_lock(&g->lock);
    g->stats.units += n;
    g->stats.transactions += 1 + (alone ? n : 0);
    g->stats.retried += alone ? n : 0;
    if (n > g->stats.largest)
        g->stats.largest = n;
    pthread_mutex_unlock(&g->lock);
}

/*
 * One tenant's units: together, or — when that fails — each alone. The
 * counters move before the completions run, so whoever a completion wakes
 * sees them.
 */
static void run_tenant(struct storage_group *g, struct storage_unit *units, size_t n)
{
    enum err e = run_together(g->storage, units);
    bool alone = e != ERR_OK && n > 1;
    count(g, n, alone);
    if (!alone) {
        complete(units, e);
        return;
    }
    while (units) {
        struct storage_unit *next = units->next_;
        units->next_ = NULL;
        complete(units, run_together(g->storage, units));
        units = next;
    }
}

/* Splits batch into runs of one tenant each, in order of first arrival. */
static void run_batch(struct storage_group *g, struct storage_unit *batch)
{
    while (batch) {
        struct storage_unit *mine = NULL, **mine_tail = &mine, *rest = NULL, **rest_tail = &rest;
        size_t n = 0;
        const char *tenant = batch->tenant.id;
        char first[sizeof batch->tenant.id];
        memcpy(first, tenant, sizeof first);
        for (struct storage_unit *u = batch, *next; u; u = next) {
            next = u->next_;
            u->next_ = NULL;
            if (strcmp(u->tenant.id, first) == 0) {
                *mine_tail = u;
                mine_tail = &u->next_;
                n++;
            } else {
                *rest_tail = u;
                rest_tail = &u->next_;
            }
        }
        run_tenant(g, mine, n);
        batch = rest;
    }
}

static void *writer_main(void *arg)
{
    struct storage_group *g = arg;
    pthread_mutex_lock(&g->lock);
    for (;;) {
        while (!g->fg.head && !g->bg.head && !g->stopping)
            pthread_cond_wait(&g->wake, &g->lock);
        if (!g->fg.head && !g->bg.head)
            break; /* stopping, and everything queued is done */
        /* background units when nothing else waits, or once they waited long enough */
        bool bg_due = g->bg.head && (!g->fg.head || now_ms() - g->bg.head->queued_ms_ >=
                                                        STORAGE_GROUP_BACKGROUND_WAIT_MS);
        size_t n_fg = 0, n_bg = 0;
        struct storage_unit *fg = take(&g->fg, STORAGE_GROUP_MAX_BATCH, &n_fg);
        struct storage_unit *bg = bg_due ? take(&g->bg, STORAGE_GROUP_MAX_BATCH, &n_bg) : NULL;
        g->queued -= n_fg + n_bg;
        g->stats.background += n_bg;
        pthread_mutex_unlock(&g->lock);
        run_batch(g, fg);
        run_batch(g, bg);
        pthread_mutex_lock(&g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

enum err storage_group_start(struct storage *s, struct storage_group **out)
{
    struct storage_group *g = calloc(1, sizeof *g);
    if (!g)
        err_oom();
    g->storage = s;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    if (pthread_create(&g->thread, NULL, writer_main, g) != 0) {
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return ERR_INTERNAL;
    }
    pthread_setname_np(g->thread, "sl-writer"); /* top -H, perf, gdb */
    *out = g;
    return ERR_OK;
}

static enum err enqueue(struct storage_group *g, struct storage_unit *u, bool background)
{
    ASSERT(u && u->write && u->done);
    pthread_mutex_lock(&g->lock);
    if (g->stopping || g->queued >= STORAGE_GROUP_MAX_QUEUE) {
        pthread_mutex_unlock(&g->lock);
        return ERR_UNAVAILABLE;
    }
    int64_t now = now_ms();
    u->queued_ms_ = background ? now : 0;
    if (!background)
        g->last_fg_ms = now;
    push(background ? &g->bg : &g->fg, u);
    g->queued++;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    return ERR_OK;
}

enum err storage_group_submit(struct storage_group *g, struct storage_unit *u)
{
    return enqueue(g, u, false);
}

/* A storage_group_run caller waiting for its unit. */
struct waiter {
    struct storage_unit unit;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    enum err result;
};

static void wake_waiter(void *arg, enum err result)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->result = result;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

enum err storage_group_run(struct storage_group *g, const struct tenant_ctx *t,
                           enum err (*write)(void *arg, struct tx *tx), void *arg)
{
    ASSERT(!pthread_equal(pthread_self(), g->thread));
    struct waiter w = {.unit = {.tenant = *t, .write = write, .arg = arg, .done = wake_waiter}};
    w.unit.done_arg = &w;
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    enum err e = enqueue(g, &w.unit, true);
    if (!e) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        e = w.result;
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return e;
}

void storage_group_stop(struct storage_group *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

void storage_group_stats(struct storage_group *g, struct storage_group_stats *out)
{
    pthread_mutex_lock(&g->lock);
    *out = g->stats;
    pthread_mutex_unlock(&g->lock);
}

bool storage_group_busy(struct storage_group *g)
{
    if (!g)
        return false;
    pthread_mutex_lock(&g->lock);
    bool busy = g->last_fg_ms != 0 && now_ms() - g->last_fg_ms < STORAGE_GROUP_BUSY_MS;
    pthread_mutex_unlock(&g->lock);
    return busy;
}
