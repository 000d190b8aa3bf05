/*
 * group — group commit: writes that must be durable before they are answered
 * (webhook deliveries, I6) share one transaction and one sync (DESIGN §4).
 *
 * A caller submits a unit of work — a function that writes inside a
 * transaction — and a completion callback, and returns at once; it does not
 * wait on a lock or a disk. One writer thread takes everything queued, runs
 * the units of one tenant in one write transaction, commits it (one fsync for
 * all of them), and then calls each unit's completion with the outcome. While
 * it commits, new units queue up and form the next batch, so the batch grows
 * with the load: one delivery alone is committed at once, a hundred
 * concurrent ones share a commit.
 *
 * Units of different tenants never share a transaction (a transaction is
 * bound to one tenant, storage.h); a batch is split per tenant, in order of
 * arrival. When a unit fails, its batch is rolled back and every unit of it
 * runs again alone in its own transaction, so one bad unit fails only itself.
 * A unit's function may therefore run twice and must have no effect outside
 * its transaction.
 *
 * A completion runs on the writer thread after the commit (or the failure)
 * and must be short: it typically wakes whoever waits for the answer.
 *
 * Background units (storage_group_run: the job runner's claims and results)
 * yield to submitted ones (deliveries waiting for their answer): a batch
 * takes them when no submitted unit waits, or once the oldest has waited
 * STORAGE_GROUP_BACKGROUND_WAIT_MS, and then in a transaction of their own.
 * So a burst of deliveries is acknowledged first, background work still
 * moves under any load, and a failing background unit never sends a batch
 * of deliveries back to run alone. The wait is long on purpose: a runner
 * batch holds the writer for milliseconds (and a sync of its own), and
 * every delivery in flight waits behind it; let in every 200 ms under a
 * saturating burst the deliveries' p99 was 65-69 ms, at 1 s 45-68 ms over
 * fifteen runs (bench/README.md). Whenever the queue of deliveries is
 * empty, even for a moment, background units go at once.
 *
 * Thread-safety: storage_group_submit may be called from any thread.
 */
#ifndef SHIPLOG_STORAGE_GROUP_H
#define SHIPLOG_STORAGE_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "storage/storage.h"

#define STORAGE_GROUP_MAX_BATCH          512 /* units one transaction takes at most */
#define STORAGE_GROUP_MAX_QUEUE          16384 /* units waiting; more → ERR_UNAVAILABLE (back-pressure) */
#define STORAGE_GROUP_BACKGROUND_WAIT_MS 1000 /* longest a background unit yields to others */
#define STORAGE_GROUP_BUSY_MS            100  /* storage_group_busy: a submitted unit this recent */

/*
 * One unit of work. The caller owns it and keeps it alive until done is
 * called; the fields after `done_arg` belong to the group.
 */
struct storage_unit {
    struct tenant_ctx tenant;
    enum err (*write)(void *arg, struct tx *tx); /* writes; may run twice (see above) */
    void *arg;
    void (*done)(void *done_arg, enum err result); /* after commit: ERR_OK, or why not */
    void *done_arg;
    struct storage_unit *next_; /* internal */
    int64_t queued_ms_;         /* internal: when a background unit was queued */
};

struct storage_group;

/* Starts the writer thread over s (borrowed; must outlive the group). */
MUST_CHECK enum err storage_group_start(struct storage *s, struct storage_group **out);

/*
 * Queues u. ERR_UNAVAILABLE when the group is stopping or the queue is full
 * (u is then not queued and done will not be called).
 */
MUST_CHECK enum err storage_group_submit(struct storage_group *g, struct storage_unit *u);

/*
 * Runs write(arg, tx) for tenant t as a background unit of the group and
 * waits for its commit: for a background thread whose writes should go
 * through the writer, yielding to submitted units (see above), instead of
 * contending for the write lock with transactions of its own (the job
 * runner). Background units queued together share a transaction. Returns
 * what the unit's completion would get: ERR_OK once
 * committed, the unit's or the commit's error otherwise, ERR_UNAVAILABLE
 * when the group is stopping or full (write then never ran). write may run
 * twice, as for any unit. Never call it on the writer thread (from a unit or
 * a completion): it would wait for itself.
 */
MUST_CHECK enum err storage_group_run(struct storage_group *g, const struct tenant_ctx *t,
                                      enum err (*write)(void *arg, struct tx *tx), void *arg);

/*
 * Commits everything already queued, calls its completions, then stops the
 * thread and frees g. Units submitted meanwhile are refused. NULL is a no-op.
 */
void storage_group_stop(struct storage_group *g);

/*
 * True when a unit was submitted (not run in the background) within the last
 * STORAGE_GROUP_BUSY_MS: deliveries are arriving, and a background writer
 * should keep its units short (the job runner claims smaller batches). NULL: false.
 */
bool storage_group_busy(struct storage_group *g);

/* Counters for benchmarks and tests. */
struct storage_group_stats {
    uint64_t units;        /* completed */
    uint64_t background;   /* of which storage_group_run's */
    uint64_t transactions; /* committed or rolled back */
    uint64_t largest;      /* most units in one transaction */
    uint64_t retried;      /* units re-run alone after their batch failed */
};
void storage_group_stats(struct storage_group *g, struct storage_group_stats *out);

#endif
