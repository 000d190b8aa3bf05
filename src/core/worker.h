/*
 * worker — a few background threads that each run a round function
 * periodically (the job runner; the shape the outbox sender has too).
 *
 * Each thread runs a round at start, again at once when the round reports it
 * did work (so a backlog drains without waiting for the period), whenever
 * worker_notify() is called, and at least every period_ms. A notify that
 * arrives while a thread is inside its round is not lost: that thread starts
 * another round as soon as the current one ends.
 *
 * Thread-safety: worker_notify may be called from any thread; worker_stop
 * from one thread, once (it frees the worker).
 */
#ifndef SHIPLOG_CORE_WORKER_H
#define SHIPLOG_CORE_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/err.h"

#define WORKER_MAX_THREADS 64 /* threads one worker may run */

/*
 * One round on thread index (0..threads-1). stop becomes non-zero when
 * worker_stop is called: a long round should poll it between units of work.
 * Returns true when the round did some work (run again right away), false
 * when it found nothing to do (wait for a notify or the period).
 */
typedef bool (*worker_round_fn)(void *arg, unsigned index, const atomic_int *stop);

struct worker;

/*
 * Starts threads threads (1..WORKER_MAX_THREADS, else ERR_INVALID) calling
 * round(arg, index, stop); period_ms must be at least 1 (ERR_INVALID).
 * ERR_INTERNAL when a thread cannot be created (those already started are
 * stopped again). arg must outlive the worker.
 */
MUST_CHECK enum err worker_start(unsigned threads, unsigned period_ms, worker_round_fn round,
                                 void *arg, struct worker **out);

/*
 * Names w's threads (at most 15 bytes shown; longer is cut) so top -H, perf
 * and gdb tell them apart.
 */
void worker_set_name(struct worker *w, const char *name);

/* Wakes every thread of w for an immediate round. */
void worker_notify(struct worker *w);

/*
 * Sets the stop flag, wakes the threads, waits for the rounds in flight to
 * return, joins the threads and frees w. NULL is a no-op.
 */
void worker_stop(struct worker *w);

#endif
