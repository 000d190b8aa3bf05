/*
 * jobs — the durable job queue (I6, P3).
 *
 * Work that must happen after a change commits (normalizing a stored webhook
 * delivery, ...) is queued with jobs_enqueue() inside the caller's write
 * transaction, so a job exists exactly when that change commits and never for
 * one that rolled back. A delivery is acknowledged once its row and its job
 * are committed together; processing runs later, on any server.
 *
 * Claiming (P3): a runner asks storage_due_job_tenants() which tenants have
 * due jobs (ids only), then per tenant opens an ordinary tenant transaction
 * and claims a batch of up to JOBS_CLAIM_BATCH due jobs — first running jobs
 * whose lease has expired, then pending ones, each the longest-due first,
 * read in the order of an index (no sort, however long the backlog) — by
 * setting status 'running', counting the attempt and leasing the job until
 * now + lease (run_at moves to the lease's end too). PostgreSQL claims with
 * SELECT ... FOR UPDATE SKIP LOCKED, so runners on several servers never
 * claim the same job; SQLite's write transaction is exclusive, across
 * processes too. The claim commits.
 *
 * Running a batch: each job's first step runs OUTSIDE any transaction, one
 * job after the other. A handler comes in one of two forms:
 *  - one step (jobs_handler_fn): the whole job, opening its own transactions;
 *  - two steps: prepare (jobs_prepare_fn) reads, parses and computes, and
 *    apply (jobs_apply_fn) later writes the result inside a transaction the
 *    runner gives it.
 * Then ONE write transaction settles the batch: for each job it records the
 * outcome, fenced by the attempt number (a runner whose lease ran out and
 * whose job was claimed again records nothing for it), and right after a
 * recorded success runs the job's apply, after a recorded failure the
 * handler's optional fail hook (jobs_fail_fn, e.g. to mark what the job
 * works on as failed). So a batch of N jobs costs two commits, the claim and
 * the settlement, instead of several per job. If that transaction fails (an
 * apply or fail hook fails, the database refuses), it is rolled back and
 * each job of the batch is settled again alone, in its own transaction, so
 * one bad job fails only itself (as in storage/group.h): a job whose apply
 * fails alone is recorded as a failed attempt. An apply therefore may run
 * twice and must have no effect outside its transaction. The jobs prepared
 * at once hold at most about JOBS_BATCH_MAX_BYTES (as prepare reports):
 * past that, a claimed batch is settled in parts, one transaction each. On
 * PostgreSQL, row locks last until the commit: batches of two runners that
 * write the same rows (one repository's) take turns, and two that write
 * them in opposite orders may deadlock — the database aborts one, whose
 * jobs then settle alone.
 *
 * Delivery is at least once: a runner that dies while a job runs leaves it
 * 'running' until its lease expires, then it is due again (the next attempt).
 * One-step handlers and prepare steps must therefore be idempotent and
 * finish well within the lease. An apply's writes commit exactly when its
 * job is recorded done, and never for an attempt whose lease was lost: the
 * effect of a two-step job happens once.
 *
 * Failures are retried with exponential backoff (JOBS_BACKOFF_BASE_S doubling
 * up to JOBS_BACKOFF_MAX_S); after max_attempts (JOBS_MAX_ATTEMPTS) the job is
 * 'dead', with last_error, and a warning is logged (tenant and job id only).
 * A handler that returns a permanent error (jobs_err_permanent) dead-letters
 * the job at once. Dead jobs stay until an operator revives them
 * (jobs_retry); done jobs stay for the record.
 *
 * Fairness: one round visits at most JOBS_TENANTS_PER_ROUND tenants, the
 * longest-waiting first, and runs at most JOBS_PER_TENANT jobs of each.
 *
 * Times are Unix seconds. Nothing here calls time() on the runner's path
 * except through the runner's clock, so tests drive time.
 */
#ifndef SHIPLOG_JOBS_JOBS_H
#define SHIPLOG_JOBS_JOBS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "storage/group.h"
#include "storage/storage.h"

#define JOBS_ID_LEN            32   /* hex digits of a job id (16 random bytes) */
#define JOBS_MAX_KIND          64   /* bytes of a kind: [a-z0-9._-], e.g. "ingest.normalize" */
#define JOBS_MAX_REF           128  /* bytes of a ref: printable ASCII, may be empty */
#define JOBS_MAX_ATTEMPTS      8    /* attempts before a job is dead */
#define JOBS_BACKOFF_BASE_S    10   /* wait after the first failure */
#define JOBS_BACKOFF_MAX_S     3600 /* longest wait between attempts */
#define JOBS_LEASE_S           300  /* a running job is claimable again after */
#define JOBS_POLL_MS           500  /* runner threads wake at least this often */
#define JOBS_MAX_ERROR         200  /* bytes of last_error kept */
#define JOBS_TENANTS_PER_ROUND 100  /* tenants one round visits (<= STORAGE_MAX_DUE_TENANTS) */
#define JOBS_PER_TENANT        64   /* jobs of one tenant per round (two batches) */
#define JOBS_MAX_THREADS       16   /* threads of one runner */
#define JOBS_MAX_HANDLERS      64   /* handlers of one runner */
#define JOBS_LIST_MAX          100  /* jobs one jobs_list call returns */
#define JOBS_RECORD_TRIES      3    /* tries to record an outcome when the database is busy */
#define JOBS_PURGE_MAX         1000 /* jobs one jobs_purge_done call deletes at most */

/*
 * Jobs one claim takes and one transaction settles. The two commits (a sync
 * each, ~4 ms on the reference disk) are shared by the batch: ~0.25 ms a
 * job at 32. Measured with 10 KB push deliveries on SQLite (bench/drain_run),
 * the write side costs ~1 ms a job in batches of 8 and ~0.45 ms from 16 to
 * 64: larger batches gain nothing there, but hold SQLite's one write lock
 * longer (~0.5 ms a job: ~15 ms at 32), and the webhook path's group commit
 * waits behind it (its p99 target is 50 ms). PostgreSQL has no such lock and
 * a round trip per statement, so it likes the larger side: 32.
 */
#define JOBS_CLAIM_BATCH 32
/*
 * The batch while webhook deliveries are arriving (storage_group_busy): a
 * runner batch's writes hold the writer, and every delivery in flight waits
 * behind them. Under a saturating burst (bench/hooks_run) batches of 32 let
 * ~9,100 jobs a run through and gave a p99 of 41-56 ms; of 8, ~5,700 jobs
 * and 40-50 ms. When the deliveries stop the runner goes back to 32.
 */
#define JOBS_CLAIM_BATCH_BUSY 8
/* Prepared work (as prepare reports it) one batch holds at once, about. */
#define JOBS_BATCH_MAX_BYTES ((size_t)4 << 20)

enum jobs_status {
    JOBS_PENDING,
    JOBS_RUNNING,
    JOBS_DONE,
    JOBS_DEAD,
    JOBS_ANY, /* jobs_list filter only */
};

/* "pending" | "running" | "done" | "dead" | "any". */
const char *jobs_status_name(enum jobs_status st);

/* ---- queueing (the request path) ---------------------------------------------- */

/*
 * Queues a job of kind on ref in tx (a TX_WRITE transaction of the job's
 * tenant), due at run_at (0: now). It becomes visible to runners when tx
 * commits: call jobs_runner_notify() after the commit to start it at once.
 * id_out (may be NULL) receives the new job's id. Errors: ERR_INVALID for a
 * kind that is empty or not [a-z0-9._-], a ref with a byte outside printable
 * ASCII, a negative run_at; ERR_LIMIT for a kind over JOBS_MAX_KIND or a ref
 * over JOBS_MAX_REF; storage errors otherwise (the transaction is then
 * failed, as for any statement).
 */
MUST_CHECK enum err jobs_enqueue(struct tx *tx, const char *kind, const char *ref, int64_t run_at,
                                 char id_out[JOBS_ID_LEN + 1]);

/* Checks kind and ref as jobs_enqueue does, without a database. */
MUST_CHECK enum err jobs_check(const char *kind, const char *ref);

/* ---- inspecting and reviving (the console's dead-letter view) ------------------- */

/* One job as stored. */
struct jobs_info {
    char id[JOBS_ID_LEN + 1];
    char kind[JOBS_MAX_KIND + 1];
    char ref[JOBS_MAX_REF + 1];
    enum jobs_status status;
    int attempts;     /* claims so far */
    int max_attempts; /* dead after this many failures */
    int64_t run_at;   /* next attempt (running: the lease's end) */
    int64_t created_at;
    int64_t finished_at;                 /* 0 unless done or dead */
    char last_error[JOBS_MAX_ERROR + 1]; /* "" when none; secret-free */
};

/* jobs_get: ERR_NOT_FOUND when the tenant of tx has no job id (another tenant's included). */
MUST_CHECK enum err jobs_get(struct tx *tx, const char *id, struct jobs_info *out);

/* Where a listing goes on: the last job of the previous page. */
struct jobs_cursor {
    int64_t created_at;
    char id[JOBS_ID_LEN + 1]; /* "" = from the start / no more pages */
};

/*
 * Lists the jobs of tx's tenant with status filter (JOBS_ANY: all), newest
 * first (created_at, then id, descending), after cursor after (NULL or an
 * empty id: from the newest). Fills out[0..*n) with at most limit jobs
 * (1..JOBS_LIST_MAX, else ERR_INVALID); next gets the cursor of the following
 * page, its id "" when there is none.
 */
MUST_CHECK enum err jobs_list(struct tx *tx, enum jobs_status filter,
                              const struct jobs_cursor *after, size_t limit, struct jobs_info *out,
                              size_t *n, struct jobs_cursor *next);

/*
 * Puts dead job id of tx's tenant (a TX_WRITE transaction) back to pending,
 * due now, with its attempts reset (last_error stays until it succeeds).
 * ERR_NOT_FOUND when the tenant has no such job; ERR_CONFLICT when the job
 * is not dead; ERR_INVALID for an id that is not JOBS_ID_LEN lower-case hex.
 */
MUST_CHECK enum err jobs_retry(struct tx *tx, const char *id);

/*
 * Deletes up to max (1..JOBS_PURGE_MAX, else ERR_INVALID) jobs of tx's
 * tenant (a TX_WRITE transaction) that finished done before `before` (Unix
 * seconds), oldest first; *deleted gets how many. Dead jobs stay: they are
 * the dead letters an operator looks at and retries. The retention sweep
 * calls it with its cutoff (ingest/retention.h), so a delivery's job goes
 * about when the delivery does.
 */
MUST_CHECK enum err jobs_purge_done(struct tx *tx, int64_t before, size_t max, size_t *deleted);

/* ---- running (the background side) -------------------------------------------- */

/* What a handler is asked to do. Valid during the call only. */
struct jobs_job {
    struct tenant_ctx tenant;
    char id[JOBS_ID_LEN + 1];
    char kind[JOBS_MAX_KIND + 1];
    char ref[JOBS_MAX_REF + 1];
    int attempt;      /* 1 on the first run */
    int max_attempts; /* the last attempt is attempt == max_attempts */
    int64_t now;      /* the runner's clock when the job was claimed */
};

/*
 * One-step handler: runs the whole job. s is the runner's storage: the
 * handler opens its own transactions, bound to job->tenant. Returns ERR_OK
 * when the job is done; a permanent error (jobs_err_permanent) to
 * dead-letter it at once; any other error to have it retried. why (why_cap
 * bytes, "" on entry) may receive a short, secret-free reason kept as
 * last_error.
 */
typedef enum err (*jobs_handler_fn)(void *arg, struct storage *s, const struct jobs_job *job,
                                    char *why, size_t why_cap);

/* What a two-step handler's prepare hands on to its apply. */
struct jobs_prepared {
    void *work;   /* the handler's own; given to apply (perhaps twice) and release (once) */
    size_t bytes; /* about the memory work holds: bounds a batch (JOBS_BATCH_MAX_BYTES) */
};

/*
 * Two-step handler, step 1: prepares the job outside any write transaction
 * (s as for a one-step handler: it may read in transactions of its own).
 * Returns ERR_OK with *out filled to have apply called later, or an error
 * as a one-step handler does (why likewise); on error it keeps nothing
 * (release is not called). Called once per attempt.
 */
typedef enum err (*jobs_prepare_fn)(void *arg, struct storage *s, const struct jobs_job *job,
                                    struct jobs_prepared *out, char *why, size_t why_cap);

/*
 * Two-step handler, step 2: writes the job's effect with work in tx, the
 * runner's TX_WRITE transaction of job->tenant, in which the job is recorded
 * done (with other jobs of its batch). Must not commit or roll back tx. An
 * error fails the attempt like a one-step handler's (why likewise; the
 * runner rolls back). May run twice for one attempt (see above): no effect
 * outside tx.
 */
typedef enum err (*jobs_apply_fn)(void *arg, struct tx *tx, const struct jobs_job *job, void *work,
                                  char *why, size_t why_cap);

/*
 * Optional, either form: called in tx, the runner's TX_WRITE transaction of
 * job->tenant that records a failed attempt (cause and why: the failure, as
 * kept in last_error; dead: no attempt follows), to write what the failure
 * means for the handler's own data. An error makes the runner record the
 * outcome without it (logged). May run twice, like apply.
 */
typedef enum err (*jobs_fail_fn)(void *arg, struct tx *tx, const struct jobs_job *job,
                                 enum err cause, bool dead, const char *why);

/* Frees what a successful prepare kept, once the job is settled. */
typedef void (*jobs_release_fn)(void *arg, void *work);

/*
 * A handler: run (one step), or prepare and apply (two steps) with an
 * optional release; fail is optional for both. Fields of the other form stay
 * NULL. Everything is called on a runner thread, one job at a time per
 * thread; arg is shared by the threads.
 */
struct jobs_handler {
    const char *kind; /* must outlive the runner */
    jobs_handler_fn run;
    jobs_prepare_fn prepare;
    jobs_apply_fn apply;
    jobs_release_fn release;
    jobs_fail_fn fail;
    void *arg; /* the first argument of each */
};

/*
 * True for the handler results that mean "retrying cannot help": ERR_INVALID,
 * ERR_LIMIT, ERR_NOT_FOUND, ERR_UNPROCESSABLE. A job of a kind no handler
 * knows is retried instead (a newer server may know it), and dies after
 * max_attempts like any failure.
 */
bool jobs_err_permanent(enum err e);

/* What one round (or a runner so far) did. */
struct jobs_round {
    unsigned claimed; /* jobs claimed (each ran, or died of an expired last lease) */
    unsigned done;    /* handler succeeded and it was recorded */
    unsigned retried; /* failed, due again later */
    unsigned dead;    /* failed for the last time, or permanently */
    unsigned lost;    /* outcome not recorded: the lease had run out and the job was re-claimed */
    unsigned alone;   /* settled alone after their batch's shared transaction failed */
};

/*
 * One round at time now_unix with lease lease_s (0: JOBS_LEASE_S): visits up
 * to JOBS_TENANTS_PER_ROUND tenants with due jobs and runs up to
 * JOBS_PER_TENANT jobs of each, in batches, through handlers[0..n) (each of
 * one form, else ERR_INVALID). stop, when not NULL, is polled between
 * batches (the batch in flight finishes). The runner threads call it with
 * their clock; tests call it directly. Returns the first storage error
 * (handler failures are not errors; they are counted in *out).
 */
MUST_CHECK enum err jobs_run_round(struct storage *s, const struct jobs_handler *handlers, size_t n,
                                   int64_t now_unix, unsigned lease_s, const atomic_int *stop,
                                   struct jobs_round *out);

/* Optional runner settings; zero values mean the defaults. */
struct jobs_runner_options {
    unsigned poll_ms;                  /* 0: JOBS_POLL_MS */
    unsigned lease_s;                  /* 0: JOBS_LEASE_S */
    int64_t (*clock)(void *clock_arg); /* Unix seconds; NULL: time(NULL) */
    void *clock_arg;
    /*
     * When set, claims and outcomes are written as background units of
     * this group commit (storage_group_run), which yield to webhook
     * deliveries waiting for their answer; it must outlive the runner.
     * NULL: the runner's own write transactions.
     */
    struct storage_group *group;
    int nice; /* 1..19: the runner threads' lower CPU priority; 0: unchanged */
};

struct jobs_runner;

/*
 * Starts threads (1..JOBS_MAX_THREADS) worker threads running rounds over
 * handlers[0..n) (1..JOBS_MAX_HANDLERS, copied; each kind valid and listed
 * once, each handler of one form) on s: at start, right after a round that claimed anything, on
 * jobs_runner_notify, and every poll_ms. opt may be NULL. s, the kinds and
 * the handlers' args must outlive the runner. ERR_INVALID for bad arguments;
 * ERR_INTERNAL when a thread cannot be created.
 */
MUST_CHECK enum err jobs_runner_start(struct storage *s, const struct jobs_handler *handlers,
                                      size_t n, unsigned threads,
                                      const struct jobs_runner_options *opt,
                                      struct jobs_runner **out);

/*
 * Wakes every thread of r for an immediate round (after enqueueing); a no-op
 * once r is halted. Thread-safe.
 */
void jobs_runner_notify(struct jobs_runner *r);

/* Totals of all rounds of r so far. Thread-safe. */
void jobs_runner_totals(struct jobs_runner *r, struct jobs_round *out);

/*
 * Halts r: the batches in flight finish, no further job is claimed and the
 * threads are joined, but r stays valid for jobs_runner_notify (which then
 * does nothing) and jobs_runner_totals. A runner writing through a group
 * commit is halted before the group stops, while deliveries the group still
 * commits may notify it. NULL or an already halted runner: a no-op.
 */
void jobs_runner_halt(struct jobs_runner *r);

/*
 * Halts r (if it is not yet) and frees it. Jobs left pending are run by the
 * next start or another server. NULL is a no-op.
 */
void jobs_runner_stop(struct jobs_runner *r);

#endif
