/*
 * sqlite — the embedded SQLite backend (P2, T3).
 *
 * A bounded pool of connections to one database file in WAL mode: readers run
 * concurrently with the single writer, and TX_WRITE opens with BEGIN IMMEDIATE
 * so writers queue on busy_timeout instead of failing with a deadlock when a
 * read transaction tries to upgrade. Each connection has foreign keys on and a
 * progress handler that interrupts a statement past its deadline, which we
 * report as ERR_TIMEOUT.
 *
 * SQL arrives written with PostgreSQL placeholders; $n becomes ?n (same
 * length, so offsets from the scan stay valid) and ?1 is bound to the
 * transaction's tenant id. Isolation here is by construction only: there is
 * no row-level security, so the guarantee is that every statement must
 * reference $1 (checked in storage.c) and is written to filter on it.
 *
 * Statement cache: parsing and planning a statement costs more than running
 * the short queries a request makes, so each pooled connection keeps up to
 * SQ_STMT_CACHE prepared statements keyed by the exact text the caller passed
 * ($n form), plus BEGIN, BEGIN IMMEDIATE, COMMIT and ROLLBACK. A cached
 * statement is handed to one caller at a time (the same SQL open twice at
 * once gets a second statement); when the caller finishes it, it is reset and
 * its bindings cleared, and every parameter — the tenant id in ?1 first — is
 * bound again on the next first step, exactly as for a fresh statement. Only
 * text that passed storage_sql_check is ever cached (with what it found, so a
 * hit is not scanned again), and a statement never leaves its connection: the
 * cache is finalized with the connection. The least recently used idle entry
 * makes room for a new one. A schema
 * change (a migration, on this connection or another) needs nothing from us:
 * sqlite3_step re-prepares a v2/v3 statement on SQLITE_SCHEMA; a statement
 * whose table was dropped then fails at its first step (ERR_DB), not at
 * tx_prepare.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "storage/backend.h"

#define SQ_PROGRESS_OPS 1000 /* VM instructions between deadline checks */
#define SQ_STMT_CACHE   32   /* prepared statements kept per connection */
/*
 * WAL checkpoints (see sq_checkpointer): every SQ_CKPT_FRAMES frames the
 * writer adds, a background thread copies them into the database. The WAL
 * only starts over from its beginning once a write transaction begins with
 * every frame copied, which a background copy racing the writer never
 * leaves; so when the WAL holds SQ_CKPT_INLINE_FRAMES frames and the
 * background has just caught up (at most SQ_CKPT_FRAMES / 4 uncopied), or
 * twice that many whatever the background did, the writer copies the rest
 * itself after its commit. Without that the WAL file would grow for as long
 * as the writes go on. That copy ends with a sync of the database file and
 * holds the writer, so every delivery in flight waits for it: 8 ms on
 * average and up to 31 ms under a webhook burst (bench/hooks_run), where
 * 4,000 frames came round 42 times in a run. At 16,000 it comes a quarter as
 * often; over six alternating runs the p99 averaged 48.6 ms against 50.9 ms.
 */
#define SQ_CKPT_FRAMES        1000  /* SQLite's own auto-checkpoint threshold */
#define SQ_CKPT_INLINE_FRAMES 16000 /* about 64 MB of WAL with 4 KiB pages */

struct sq_stmt;

/* A prepared statement kept on its connection for the next use of the same SQL. */
struct sq_cached {
    char *sql; /* the caller's text ($n form), heap; NULL: the slot is empty */
    size_t len;
    sqlite3_stmt *st;
    int max_param;         /* from storage_sql_check when it was prepared */
    uint64_t used;         /* sq_conn.tick when last handed out: the LRU order */
    struct sq_stmt *owner; /* handed out to it; NULL: idle (reset, bindings cleared) */
};

/* Transaction control, kept prepared on every connection. */
enum sq_txn { SQ_BEGIN, SQ_BEGIN_IMMEDIATE, SQ_COMMIT, SQ_ROLLBACK, SQ_TXN_COUNT };

static const char *const sq_txn_sql[SQ_TXN_COUNT] = {
    [SQ_BEGIN] = "BEGIN",
    [SQ_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
};

struct sq_conn {
    sqlite3 *db; /* NULL until first used */
    bool in_use;
    int64_t deadline; /* monotonic ns; 0 = no statement running */
    bool timed_out;   /* the progress handler interrupted on the deadline */
    /* The caches below belong to db and are emptied whenever it is closed. */
    sqlite3_stmt *txn[SQ_TXN_COUNT]; /* prepared on first use */
    uint64_t tick;                   /* counts hand-outs of cached statements */
    struct sq_cached cache[SQ_STMT_CACHE];
};

struct sq_storage {
    struct storage base;
    char *path;
    unsigned pool_size;
    unsigned timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a connection is returned */
    struct sq_conn *conns;
    /*
     * Write transactions of this process take turns here before BEGIN
     * IMMEDIATE. SQLite lets one writer in at a time and makes the others
     * poll through the busy handler, which sleeps up to 100 ms between
     * tries: under load (the group-commit writer and the job runner) whole
     * batches waited in those sleeps. A writer waiting here wakes as soon as
     * the previous one ends. Other processes on the same file still meet
     * through busy_timeout.
     */
    pthread_mutex_t write_mu;
    /*
     * The one connection write transactions use, under write_mu. SQLite
     * empties a connection's page cache whenever another connection has
     * written since its last transaction; with every write on this one
     * connection its cache stays warm from one commit to the next, so a
     * group commit appends rows without first reading the pages back.
     */
    struct sq_conn wconn;
    /*
     * Checkpoints run on their own thread and connection, so the writer's
     * commits (group commit: webhook acknowledgements wait on them) do not
     * also copy the WAL into the database file.
     */
    pthread_t ckpt_thread;
    bool ckpt_started;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    int ckpt_done;  /* WAL frames already copied by a checkpoint; under ckpt_mu */
    bool ckpt_want; /* a checkpoint is due; under ckpt_mu */
    bool ckpt_stop; /* under ckpt_mu */
    struct sq_conn cconn;
};

struct sq_tx {
    struct tx base;
    struct sq_conn *c;
    bool writer; /* holds write_mu */
};

struct sq_stmt {
    struct stmt base;
    sqlite3_stmt *st;
    struct sq_cached *slot; /* the cache entry st belongs to; NULL: st is ours to finalize */
    bool row;               /* a row is current */
    bool done;              /* SQLITE_DONE reached or failed */
    bool bound;             /* parameters bound (first step) */
    int64_t deadline;       /* monotonic ns, from the first step */
    uint64_t changes;
};

static const struct backend_ops sq_ops;

static struct sq_storage *sq_of(struct storage *s)
{
    return (struct sq_storage *)s;
}

static int sq_progress(void *arg)
{
    struct sq_conn *c = arg;
    if (c->deadline && storage_now_ns() > c->deadline) {
        c->timed_out = true;
        return 1;
    }
    return 0;
}

static enum err sq_map(struct sq_conn *c, int rc, const char *what)
{
    int base = rc & 0xff;
    enum err e;
    if (base == SQLITE_INTERRUPT && c->timed_out)
        e = ERR_TIMEOUT;
    else if (base == SQLITE_BUSY || base == SQLITE_LOCKED)
        e = ERR_TIMEOUT;
    else if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
             rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        e = ERR_CONFLICT;
    else if (base == SQLITE_CANTOPEN || base == SQLITE_IOERR || base == SQLITE_FULL ||
             base == SQLITE_NOTADB || base == SQLITE_CORRUPT)
        e = ERR_UNAVAILABLE;
    else
        e = ERR_DB;
    log_error("storage: sqlite error", LOG_STR("op", what), LOG_INT("code", rc),
              LOG_STR("message", c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc)), LOG_ERR(e));
    return e;
}

/* Runs constant SQL with no parameters and no rows (pragmas, migrations). */
static int sq_exec(struct sq_conn *c, const char *sql)
{
    return sqlite3_exec(c->db, sql, NULL, NULL, NULL);
}

/* Runs BEGIN / BEGIN IMMEDIATE / COMMIT / ROLLBACK through c's prepared copy. */
static int sq_txn_run(struct sq_conn *c, enum sq_txn which)
{
    sqlite3_stmt **st = &c->txn[which];
    if (!*st) {
        int rc =
            sqlite3_prepare_v3(c->db, sq_txn_sql[which], -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    int rc = sqlite3_step(*st);
    sqlite3_reset(*st); /* keeps the error message on the connection for sq_map */
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * Takes back, at the end of a transaction, cache entries whose statement the
 * caller has not finished (a caller bug): the statement becomes its owner's to
 * finalize, as an uncached one, so the entry is never handed out twice and
 * never finalized under its owner.
 */
static void sq_cache_reclaim(struct sq_conn *c)
{
    for (size_t i = 0; i < SQ_STMT_CACHE; i++) {
        struct sq_cached *k = &c->cache[i];
        if (!k->owner)
            continue;
        log_error("storage: statement still open at the end of its transaction",
                  LOG_ERR(ERR_INVALID));
        k->owner->slot = NULL;
        free(k->sql);
        memset(k, 0, sizeof *k);
    }
}

/* Finalizes c's cached statements and closes its database (NULL afterwards). */
static void sq_conn_close(struct sq_conn *c)
{
    sq_cache_reclaim(c);
    for (size_t i = 0; i < SQ_STMT_CACHE; i++) {
        sqlite3_finalize(c->cache[i].st);
        free(c->cache[i].sql);
        memset(&c->cache[i], 0, sizeof c->cache[i]);
    }
    for (size_t i = 0; i < SQ_TXN_COUNT; i++) {
        sqlite3_finalize(c->txn[i]);
        c->txn[i] = NULL;
    }
    c->tick = 0;
    /* _v2: a statement a caller still holds keeps the handle alive until finalized. */
    sqlite3_close_v2(c->db);
    c->db = NULL;
}

static enum err sq_conn_open(struct sq_storage *q, struct sq_conn *c, struct buf *detail)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(q->path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL);
    if (rc != SQLITE_OK) {
        storage_detail(detail, "sqlite: cannot open %s: %s", q->path,
                       db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return ERR_UNAVAILABLE;
    }
    c->db = db;
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, (int)q->timeout_ms);
    sqlite3_progress_handler(db, SQ_PROGRESS_OPS, sq_progress, c);
    /* No loading of extensions, no double-quoted string literals. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
    static const char *const pragmas[] = {
        "PRAGMA journal_mode = WAL",
        "PRAGMA foreign_keys = ON",
        "PRAGMA synchronous = FULL", /* an acknowledged commit survives power loss */
        "PRAGMA trusted_schema = OFF",
    };
    for (size_t i = 0; i < sizeof pragmas / sizeof pragmas[0]; i++) {
        rc = sq_exec(c, pragmas[i]);
        if (rc != SQLITE_OK) {
            storage_detail(detail, "sqlite: %s: %s", pragmas[i], sqlite3_errmsg(db));
            sq_conn_close(c);
            return (rc & 0xff) == SQLITE_BUSY ? ERR_TIMEOUT : ERR_UNAVAILABLE;
        }
    }
    return ERR_OK;
}

/* Now plus the statement timeout on clock: how long a caller waits for a connection or the write
 * lock. */
static struct timespec sq_deadline(const struct sq_storage *q, clockid_t clock)
{
    struct timespec until;
    clock_gettime(clock, &until);
    until.tv_sec += q->timeout_ms / 1000;
    until.tv_nsec += (long)(q->timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return until;
}

/* Takes a connection from the pool, waiting up to the statement timeout. */
static enum err sq_acquire(struct sq_storage *q, struct sq_conn **out, struct buf *detail)
{
    *out = NULL;
    struct timespec until = sq_deadline(q, CLOCK_MONOTONIC);
    pthread_mutex_lock(&q->mu);
    struct sq_conn *c = NULL;
    for (;;) {
        struct sq_conn *empty = NULL;
        for (unsigned i = 0; i < q->pool_size; i++) {
            if (q->conns[i].in_use)
                continue;
            if (q->conns[i].db) {
                c = &q->conns[i];
                break;
            }
            if (!empty)
                empty = &q->conns[i];
        }
        if (!c)
            c = empty;
        if (c)
            break;
        if (pthread_cond_timedwait(&q->cv, &q->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&q->mu);
            storage_detail(detail, "sqlite: no free connection in the pool");
            return ERR_TIMEOUT;
        }
    }
    c->in_use = true;
    pthread_mutex_unlock(&q->mu);
    if (!c->db) {
        enum err e = sq_conn_open(q, c, detail);
        if (e) {
            pthread_mutex_lock(&q->mu);
            c->in_use = false;
            pthread_cond_signal(&q->cv);
            pthread_mutex_unlock(&q->mu);
            return e;
        }
    }
    c->deadline = 0;
    c->timed_out = false;
    *out = c;
    return ERR_OK;
}

/* Leaves c idle: its statements reclaimed, no transaction open. */
static void sq_reset(struct sq_conn *c)
{
    c->deadline = 0;
    sq_cache_reclaim(c);
    if (c->db && !sqlite3_get_autocommit(c->db)) {
        /* Never hand out a connection inside someone else's transaction. */
        if (sq_txn_run(c, SQ_ROLLBACK) != SQLITE_OK)
            sq_conn_close(c);
    }
}

static void sq_release(struct sq_storage *q, struct sq_conn *c)
{
    sq_reset(c);
    pthread_mutex_lock(&q->mu);
    c->in_use = false;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* ---- checkpoints ---------------------------------------------------------- */

/* Records what a checkpoint copied (pnCkpt): frames past it are still to copy. */
static void sq_ckpt_done(struct sq_storage *q, int copied)
{
    pthread_mutex_lock(&q->ckpt_mu);
    q->ckpt_done = copied;
    pthread_mutex_unlock(&q->ckpt_mu);
}

/*
 * The WAL hook of wconn, called after each of its commits with the frames in
 * the WAL: wakes the checkpointer when SQ_CKPT_FRAMES frames were added since
 * the last copy, or copies the rest here so that the WAL can start over (see
 * SQ_CKPT_FRAMES).
 */
static int sq_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct sq_storage *q = arg;
    pthread_mutex_lock(&q->ckpt_mu);
    if (frames < q->ckpt_done)
        q->ckpt_done = 0; /* the WAL restarted from its beginning */
    int pending = frames - q->ckpt_done;
    bool inline_now = (frames >= SQ_CKPT_INLINE_FRAMES && pending <= SQ_CKPT_FRAMES / 4) ||
                      frames >= 2 * SQ_CKPT_INLINE_FRAMES;
    if (!inline_now && pending >= SQ_CKPT_FRAMES && !q->ckpt_want) {
        q->ckpt_want = true;
        pthread_cond_signal(&q->ckpt_cv);
    }
    pthread_mutex_unlock(&q->ckpt_mu);
    if (inline_now) {
        int copied = 0;
        /* SQLITE_BUSY: the checkpointer is at it, which frees the WAL as well */
        if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, &copied) ==
            SQLITE_OK)
            sq_ckpt_done(q, copied);
    }
    return SQLITE_OK;
}

static void *sq_checkpointer(void *arg)
{
    struct sq_storage *q = arg;
    pthread_mutex_lock(&q->ckpt_mu);
    for (;;) {
        while (!q->ckpt_stop && !q->ckpt_want)
            pthread_cond_wait(&q->ckpt_cv, &q->ckpt_mu);
        if (q->ckpt_stop)
            break;
        pthread_mutex_unlock(&q->ckpt_mu);
        struct buf detail = BUF_INIT(512);
        int copied = -1;
        if (q->cconn.db || sq_conn_open(q, &q->cconn, &detail) == ERR_OK) {
            int rc = sqlite3_wal_checkpoint_v2(q->cconn.db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                               &copied);
            if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
                log_warn("storage: sqlite checkpoint failed",
                         LOG_STR("detail", sqlite3_errmsg(q->cconn.db)));
        } else {
            log_warn("storage: sqlite checkpoint connection", LOG_STR("detail", buf_cstr(&detail)));
        }
        buf_release(&detail);
        pthread_mutex_lock(&q->ckpt_mu);
        if (copied >= 0)
            q->ckpt_done = copied;
        q->ckpt_want = false; /* the next commit past the threshold asks again */
    }
    pthread_mutex_unlock(&q->ckpt_mu);
    return NULL;
}

/* Creates the database file with mode 0600 so WAL and SHM files inherit it. */
static enum err sq_create_file(const char *path, struct buf *detail)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        storage_detail(detail, "sqlite: cannot create %s: %s", path, strerror(errno));
        return ERR_IO;
    }
    struct stat sb;
    enum err e = ERR_OK;
    if (fstat(fd, &sb) != 0) {
        storage_detail(detail, "sqlite: cannot stat %s: %s", path, strerror(errno));
        e = ERR_IO;
    } else if (!S_ISREG(sb.st_mode)) {
        storage_detail(detail, "sqlite: %s is not a regular file", path);
        e = ERR_CONFIG;
    } else if ((sb.st_mode & 077) && fchmod(fd, 0600) != 0) {
        storage_detail(detail, "sqlite: cannot chmod 0600 %s: %s", path, strerror(errno));
        e = ERR_IO;
    }
    close(fd);
    return e;
}

/*
 * Process-wide settings, which SQLite accepts only before it initializes.
 * Memory statistics take a global mutex on every allocation and we never read
 * them. SQLITE_MISUSE means someone else in the process initialized SQLite
 * first: the statistics then stay on, which costs speed only.
 */
static void sq_global_init(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

enum err sqlite_backend_open(const struct storage_options *opt, struct storage **out,
                             struct buf *detail)
{
    static pthread_once_t global_once = PTHREAD_ONCE_INIT;
    pthread_once(&global_once, sq_global_init); /* before any other SQLite call */
    *out = NULL;
    if (!sqlite3_threadsafe()) {
        storage_detail(detail, "sqlite: library built without thread support");
        return ERR_CONFIG;
    }
    enum err e = sq_create_file(opt->sqlite_path, detail);
    if (e)
        return e;
    struct sq_storage *q = calloc(1, sizeof *q);
    if (!q)
        err_oom();
    q->base.backend = STORAGE_SQLITE;
    q->base.ops = &sq_ops;
    q->path = strdup(opt->sqlite_path);
    q->conns = calloc(opt->pool_size, sizeof *q->conns);
    if (!q->path || !q->conns)
        err_oom();
    q->pool_size = opt->pool_size;
    q->timeout_ms = opt->statement_timeout_ms;
    pthread_mutex_init(&q->mu, NULL);
    pthread_mutex_init(&q->write_mu, NULL);
    pthread_mutex_init(&q->ckpt_mu, NULL);
    pthread_cond_init(&q->ckpt_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);

    /* Open one connection now so a bad path fails at start-up, not first use. */
    struct sq_conn *c = NULL;
    e = sq_acquire(q, &c, detail);
    if (e) {
        sq_ops.close(&q->base);
        return e;
    }
    sq_release(q, c);
    if (pthread_create(&q->ckpt_thread, NULL, sq_checkpointer, q) != 0) {
        storage_detail(detail, "sqlite: cannot start the checkpoint thread");
        sq_ops.close(&q->base);
        return ERR_UNAVAILABLE;
    }
    pthread_setname_np(q->ckpt_thread, "sl-sqlite-ckpt"); /* top -H, perf, gdb */
    q->ckpt_started = true;
    *out = &q->base;
    return ERR_OK;
}

static void sq_close(struct storage *s)
{
    struct sq_storage *q = sq_of(s);
    if (q->ckpt_started) {
        pthread_mutex_lock(&q->ckpt_mu);
        q->ckpt_stop = true;
        pthread_cond_signal(&q->ckpt_cv);
        pthread_mutex_unlock(&q->ckpt_mu);
        pthread_join(q->ckpt_thread, NULL);
    }
    if (q->cconn.db)
        sq_conn_close(&q->cconn);
    for (unsigned i = 0; i < q->pool_size; i++) {
        ASSERT(!q->conns[i].in_use); /* closing with a transaction open is a bug */
        if (q->conns[i].db)
            sq_conn_close(&q->conns[i]);
    }
    if (q->wconn.db)
        sq_conn_close(&q->wconn);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    pthread_mutex_destroy(&q->write_mu);
    pthread_mutex_destroy(&q->ckpt_mu);
    pthread_cond_destroy(&q->ckpt_cv);
    free(q->conns);
    free(q->path);
    free(q);
}

/* ---- migrations ---------------------------------------------------------- */

/* Runs a one-column integer query on c; *out is 0 when it has no row or NULL. */
static int sq_query_int(struct sq_conn *c, const char *sql, int bind, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    *out = 0;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    if (bind)
        sqlite3_bind_int(st, 1, bind);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static enum err sq_schema_version(struct storage *s, int *version, struct buf *detail)
{
    struct sq_storage *q = sq_of(s);
    *version = 0;
    struct sq_conn *c = NULL;
    enum err e = sq_acquire(q, &c, detail);
    if (e)
        return e;
    int64_t exists = 0, v = 0;
    int rc = sq_query_int(c,
                          "SELECT count(*) FROM sqlite_schema "
                          "WHERE type = 'table' AND name = 'schema_migrations'",
                          0, &exists);
    if (rc == SQLITE_OK && exists)
        rc = sq_query_int(c, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, &v);
    if (rc != SQLITE_OK) {
        storage_detail(detail, "sqlite: reading schema version: %s", sqlite3_errmsg(c->db));
        e = sq_map(c, rc, "schema_version");
        if (e != ERR_TIMEOUT)
            e = ERR_UNAVAILABLE;
    } else {
        *version = (int)v;
    }
    sq_release(q, c);
    return e;
}

static enum err sq_tenant_ids(struct storage *s, enum err (*fn)(void *arg, const char *tenant_id),
                              void *arg)
{
    struct sq_storage *q = sq_of(s);
    struct sq_conn *c = NULL;
    enum err e = sq_acquire(q, &c, NULL);
    if (e)
        return e;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, "SELECT id FROM tenants ORDER BY id", -1, &st, NULL);
    while (rc == SQLITE_OK && !e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        e = fn(arg, id ? id : "");
        rc = SQLITE_OK;
    }
    if (!e && rc != SQLITE_DONE)
        e = sq_map(c, rc, "tenant ids");
    sqlite3_finalize(st);
    sq_release(q, c);
    return e;
}

/* ---- due tenants: outbox (A11) and jobs (I6) ------------------------------ */

/*
 * Runs sql (?1 = now_unix, ?2 = max; one column of tenant ids) outside any
 * tenant. The ids are copied out and the connection released before fn runs,
 * so fn may open transactions of its own.
 */
static enum err sq_due_tenants(struct storage *s, const char *sql, const char *what,
                               int64_t now_unix, size_t max,
                               enum err (*fn)(void *arg, const char *tenant_id), void *arg)
{
    struct sq_storage *q = sq_of(s);
    char(*ids)[STORAGE_TENANT_ID_LEN + 1] = calloc(max, sizeof(*ids));
    if (!ids)
        err_oom();
    size_t n = 0;
    struct sq_conn *c = NULL;
    enum err e = sq_acquire(q, &c, NULL);
    if (e) {
        free(ids);
        return e;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, now_unix);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    }
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (n < max && id && strlen(id) == STORAGE_TENANT_ID_LEN)
            memcpy(ids[n++], id, STORAGE_TENANT_ID_LEN + 1);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        e = sq_map(c, rc, what);
    sqlite3_finalize(st);
    sq_release(q, c);
    for (size_t i = 0; !e && i < n; i++)
        e = fn(arg, ids[i]);
    free(ids);
    return e;
}

/* ---- integrations (I1) ----------------------------------------------------- */

/* The tenant of an enabled integration, from the integrations_id index. */
static enum err sq_integration_tenant(struct storage *s, const char *integration_id,
                                      struct tenant_ctx *out)
{
    struct sq_storage *q = sq_of(s);
    struct sq_conn *c = NULL;
    enum err e = sq_acquire(q, &c, NULL);
    if (e)
        return e;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db,
                                "SELECT tenant_id FROM integrations"
                                " WHERE id = ?1 AND disabled_at IS NULL",
                                -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, integration_id, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (id && strlen(id) == STORAGE_TENANT_ID_LEN)
            memcpy(out->id, id, STORAGE_TENANT_ID_LEN + 1);
        else
            e = ERR_DB;
    } else if (rc == SQLITE_DONE) {
        e = ERR_NOT_FOUND;
    } else {
        e = sq_map(c, rc, "integration tenant");
    }
    sqlite3_finalize(st);
    sq_release(q, c);
    return e;
}

/* The tenant of a public feed's slug (the tenants slug index). */
static enum err sq_tenant_by_slug(struct storage *s, const char *slug, struct tenant_ctx *out)
{
    struct sq_storage *q = sq_of(s);
    struct sq_conn *c = NULL;
    enum err e = sq_acquire(q, &c, NULL);
    if (e)
        return e;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, "SELECT id FROM tenants WHERE slug = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (id && strlen(id) == STORAGE_TENANT_ID_LEN)
            memcpy(out->id, id, STORAGE_TENANT_ID_LEN + 1);
        else
            e = ERR_DB;
    } else if (rc == SQLITE_DONE) {
        e = ERR_NOT_FOUND;
    } else {
        e = sq_map(c, rc, "tenant by slug");
    }
    sqlite3_finalize(st);
    sq_release(q, c);
    return e;
}

/* Tenant ids with due pending mail. */
static enum err sq_pending_outbox_tenants(struct storage *s, int64_t now_unix, size_t max,
                                          enum err (*fn)(void *arg, const char *tenant_id),
                                          void *arg)
{
    return sq_due_tenants(s,
                          "SELECT tenant_id FROM mail_outbox"
                          " WHERE status = 'pending' AND next_attempt_at <= ?1"
                          " GROUP BY tenant_id ORDER BY min(next_attempt_at), tenant_id"
                          " LIMIT ?2",
                          "outbox tenants", now_unix, max, fn, arg);
}

/*
 * Tenant ids with due jobs: pending and due, or running with an expired
 * lease, the longest-due first. Per tenant, two probes of jobs_tenant_due
 * (tenant_id, status, run_at) read the oldest due run_at of each status, so
 * a round costs two index lookups per tenant however long the backlog; a
 * GROUP BY over the due jobs themselves read and sorted every one of them
 * each round, which under a burst cost the runner more CPU than its jobs.
 */
static enum err sq_due_job_tenants(struct storage *s, int64_t now_unix, size_t max,
                                   enum err (*fn)(void *arg, const char *tenant_id), void *arg)
{
    return sq_due_tenants(s,
                          "WITH due AS MATERIALIZED ("
                          " SELECT t.id AS id,"
                          "  (SELECT min(run_at) FROM jobs"
                          "   WHERE tenant_id = t.id AND status = 'pending' AND run_at <= ?1) AS p,"
                          "  (SELECT min(run_at) FROM jobs"
                          "   WHERE tenant_id = t.id AND status = 'running' AND run_at <= ?1) AS r"
                          " FROM tenants AS t)"
                          " SELECT id FROM due WHERE p IS NOT NULL OR r IS NOT NULL"
                          " ORDER BY min(coalesce(p, r), coalesce(r, p)), id LIMIT ?2",
                          "job tenants", now_unix, max, fn, arg);
}

/*
 * Tenant ids with deliveries past their retention: per tenant, its oldest
 * delivery (one probe of webhook_deliveries_received) against its
 * "ingest.retention_days", read as migration 0016 (PostgreSQL) reads it.
 */
static enum err sq_retention_due_tenants(struct storage *s, int64_t now_unix, size_t max,
                                         enum err (*fn)(void *arg, const char *tenant_id),
                                         void *arg)
{
    return sq_due_tenants(
        s,
        "SELECT id FROM ("
        " SELECT t.id AS id,"
        "  (SELECT min(w.received_at) FROM webhook_deliveries AS w"
        "   WHERE w.tenant_id = t.id) AS oldest,"
        "  COALESCE((SELECT CASE WHEN length(s.value) BETWEEN 1 AND 4"
        "                         AND s.value NOT GLOB '*[^0-9]*'"
        "                         AND CAST(s.value AS INTEGER) BETWEEN 1 AND 3650"
        "                        THEN CAST(s.value AS INTEGER) END"
        "            FROM tenant_settings AS s"
        "            WHERE s.tenant_id = t.id AND s.key = 'ingest.retention_days'), 90) AS days"
        " FROM tenants AS t)"
        " WHERE oldest < ?1 - days * 86400"
        " ORDER BY oldest, id LIMIT ?2",
        "retention tenants", now_unix, max, fn, arg);
}

static enum err sq_migrations_init(struct storage *s, struct buf *detail)
{
    struct sq_storage *q = sq_of(s);
    struct sq_conn *c = NULL;
    enum err e = sq_acquire(q, &c, detail);
    if (e)
        return e;
    int rc = sq_exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version INTEGER PRIMARY KEY NOT NULL,"
                        " name TEXT NOT NULL,"
                        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
                        ") STRICT");
    if (rc != SQLITE_OK) {
        storage_detail(detail, "sqlite: creating schema_migrations: %s", sqlite3_errmsg(c->db));
        e = sq_map(c, rc, "migrations_init");
    }
    sq_release(q, c);
    return e;
}

static enum err sq_migration_apply(struct storage *s, const struct storage_migration *m,
                                   bool *applied, struct buf *detail)
{
    struct sq_storage *q = sq_of(s);
    *applied = false;
    struct sq_conn *c = NULL;
    enum err e = sq_acquire(q, &c, detail);
    if (e)
        return e;
    int rc = sq_txn_run(c, SQ_BEGIN_IMMEDIATE);
    int64_t done = 0;
    if (rc == SQLITE_OK)
        rc = sq_query_int(c, "SELECT count(*) FROM schema_migrations WHERE version = ?1",
                          m->version, &done);
    if (rc == SQLITE_OK && !done) {
        rc = sq_exec(c, m->sql);
        if (rc == SQLITE_OK) {
            sqlite3_stmt *st = NULL;
            rc = sqlite3_prepare_v2(c->db,
                                    "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                                    -1, &st, NULL);
            if (rc == SQLITE_OK) {
                sqlite3_bind_int(st, 1, m->version);
                sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
                if (rc == SQLITE_DONE)
                    rc = SQLITE_OK;
                sqlite3_finalize(st);
            }
        }
    }
    if (rc == SQLITE_OK)
        rc = sq_txn_run(c, SQ_COMMIT);
    if (rc != SQLITE_OK) {
        storage_detail(detail, "sqlite: migration %04d_%s: %s", m->version, m->name,
                       sqlite3_errmsg(c->db));
        e = sq_map(c, rc, "migrate");
    } else {
        *applied = !done;
    }
    sq_release(q, c); /* rolls back on failure */
    return e;
}

/* ---- transactions -------------------------------------------------------- */

/* Takes write_mu, waiting up to the statement timeout. */
static enum err sq_lock_writer(struct sq_storage *q)
{
    struct timespec until = sq_deadline(q, CLOCK_REALTIME);
    return pthread_mutex_timedlock(&q->write_mu, &until) == 0 ? ERR_OK : ERR_TIMEOUT;
}

/* Gives back what sq_begin took: the pooled connection, or wconn and write_mu. */
static void sq_end(struct sq_storage *q, struct sq_conn *c, bool writer)
{
    if (!writer) {
        sq_release(q, c);
        return;
    }
    sq_reset(c);
    pthread_mutex_unlock(&q->write_mu);
}

static enum err sq_begin(struct storage *s, const struct tenant_ctx *t, enum tx_mode mode,
                         struct tx **out)
{
    struct sq_storage *q = sq_of(s);
    struct sq_conn *c = NULL;
    bool writer = mode == TX_WRITE;
    struct buf detail = BUF_INIT(512);
    enum err e = ERR_OK;
    if (writer) {
        e = sq_lock_writer(q);
        if (e) {
            buf_release(&detail);
            return e;
        }
        c = &q->wconn;
        c->deadline = 0;
        c->timed_out = false;
        if (!c->db && (e = sq_conn_open(q, c, &detail)) == ERR_OK)
            sqlite3_wal_hook(c->db, sq_wal_hook, q); /* replaces the auto-checkpoint */
        if (e)
            pthread_mutex_unlock(&q->write_mu);
    } else {
        e = sq_acquire(q, &c, &detail);
    }
    if (e) {
        log_error("storage: no sqlite connection", LOG_STR("detail", buf_cstr(&detail)),
                  LOG_ERR(e));
        buf_release(&detail);
        return e;
    }
    buf_release(&detail);
    int rc = sq_txn_run(c, writer ? SQ_BEGIN_IMMEDIATE : SQ_BEGIN);
    if (rc != SQLITE_OK) {
        e = sq_map(c, rc, "begin");
        sq_end(q, c, writer);
        return e;
    }
    struct sq_tx *tx = calloc(1, sizeof *tx);
    if (!tx)
        err_oom();
    tx->c = c;
    tx->writer = writer;
    *out = &tx->base;
    return ERR_OK;
}

static enum err sq_commit(struct tx *base)
{
    struct sq_tx *tx = (struct sq_tx *)base;
    int rc = sq_txn_run(tx->c, SQ_COMMIT);
    enum err e = rc == SQLITE_OK ? ERR_OK : sq_map(tx->c, rc, "commit");
    sq_end(sq_of(base->s), tx->c, tx->writer); /* rolls back if COMMIT failed */
    free(tx);
    return e;
}

static void sq_rollback(struct tx *base)
{
    struct sq_tx *tx = (struct sq_tx *)base;
    sq_end(sq_of(base->s), tx->c, tx->writer);
    free(tx);
}

/* ---- statements ---------------------------------------------------------- */

/*
 * Looks sql up in c's cache: returns an idle entry holding exactly that text,
 * or NULL with *victim set to the slot a new statement should take (an empty
 * one, else the least recently used idle one; NULL when every entry is handed
 * out).
 */
static struct sq_cached *sq_cache_find(struct sq_conn *c, const char *sql, size_t len,
                                       struct sq_cached **victim)
{
    struct sq_cached *empty = NULL, *lru = NULL;
    for (size_t i = 0; i < SQ_STMT_CACHE; i++) {
        struct sq_cached *k = &c->cache[i];
        if (!k->sql) {
            if (!empty)
                empty = k;
        } else if (!k->owner) {
            if (k->len == len && memcmp(k->sql, sql, len) == 0)
                return k;
            if (!lru || k->used < lru->used)
                lru = k;
        }
    }
    *victim = empty ? empty : lru;
    return NULL;
}

/* Stores st, just prepared from sql, in slot k (finalizing what k held). */
static void sq_cache_put(struct sq_cached *k, const char *sql, size_t len, sqlite3_stmt *st,
                         int max_param)
{
    ASSERT(!k->owner);
    char *copy = malloc(len + 1);
    if (!copy)
        err_oom();
    memcpy(copy, sql, len + 1);
    sqlite3_finalize(k->st);
    free(k->sql);
    k->sql = copy;
    k->len = len;
    k->st = st;
    k->max_param = max_param;
}

static struct stmt *sq_stmt_new(struct sq_conn *c, sqlite3_stmt *st, int max_param,
                                struct sq_cached *slot)
{
    struct sq_stmt *s = calloc(1, sizeof *s);
    if (!s)
        err_oom();
    s->st = st;
    s->base.max_param = max_param;
    if (slot) {
        s->slot = slot;
        slot->owner = s;
        slot->used = ++c->tick;
    }
    return &s->base;
}

static enum err sq_prepare(struct tx *base, const char *sql, size_t len, struct stmt **out)
{
    struct sq_tx *tx = (struct sq_tx *)base;
    struct sq_cached *victim = NULL;
    struct sq_cached *hit = sq_cache_find(tx->c, sql, len, &victim);
    if (hit) {
        /* Finished statements are reset: nothing of the last use runs on. */
        ASSERT(!sqlite3_stmt_busy(hit->st));
        *out = sq_stmt_new(tx->c, hit->st, hit->max_param, hit);
        return ERR_OK;
    }

    char *text = malloc(len + 1);
    if (!text)
        err_oom();
    memcpy(text, sql, len + 1);
    int max_param = 0;
    enum err e = storage_sql_check(sql, len, text, &max_param);
    if (e) {
        free(text);
        return e;
    }

    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    /* PERSISTENT: a statement that stays in the cache is allocated outside lookaside. */
    int rc = sqlite3_prepare_v3(tx->c->db, text, (int)len + 1,
                                victim ? SQLITE_PREPARE_PERSISTENT : 0, &st, &tail);
    if (rc == SQLITE_OK && tail && *tail) {
        /* One statement only (storage_sql_check said so; SQLite has the last word). */
        sqlite3_stmt *extra = NULL;
        int rc2 = sqlite3_prepare_v3(tx->c->db, tail, -1, 0, &extra, NULL);
        if (rc2 != SQLITE_OK || extra) {
            log_error("storage: more than one SQL statement", LOG_ERR(ERR_INVALID));
            sqlite3_finalize(extra);
            sqlite3_finalize(st);
            free(text);
            return ERR_INVALID;
        }
    }
    free(text);
    if (rc != SQLITE_OK) {
        e = sq_map(tx->c, rc, "prepare");
        return e == ERR_DB ? ERR_INVALID : e;
    }
    if (!st) {
        log_error("storage: empty SQL statement", LOG_ERR(ERR_INVALID));
        return ERR_INVALID;
    }
    /* Only text that passed the checks above is cached, keyed by the caller's form. */
    if (victim)
        sq_cache_put(victim, sql, len, st, max_param);
    *out = sq_stmt_new(tx->c, st, max_param, victim);
    return ERR_OK;
}

static enum err sq_bind_all(struct sq_stmt *s)
{
    struct tx *tx = s->base.tx;
    int rc = sqlite3_bind_text(s->st, 1, tx->tenant.id, STORAGE_TENANT_ID_LEN, SQLITE_STATIC);
    for (int i = 2; rc == SQLITE_OK && i <= s->base.max_param; i++) {
        const struct storage_param *p = &s->base.params[i];
        switch (p->kind) {
        case PARAM_NULL:
            rc = sqlite3_bind_null(s->st, i);
            break;
        case PARAM_TEXT:
            rc = sqlite3_bind_text64(s->st, i, p->data, p->len, SQLITE_STATIC, SQLITE_UTF8);
            break;
        case PARAM_INT:
            rc = sqlite3_bind_int64(s->st, i, p->i);
            break;
        case PARAM_BLOB:
            rc = sqlite3_bind_blob64(s->st, i, p->data, p->len, SQLITE_STATIC);
            break;
        case PARAM_UNSET:
        default:
            return ERR_INVALID;
        }
    }
    return rc == SQLITE_OK ? ERR_OK : sq_map(((struct sq_tx *)tx)->c, rc, "bind");
}

static enum err sq_step(struct stmt *base, bool *row)
{
    struct sq_stmt *s = (struct sq_stmt *)base;
    struct sq_conn *c = ((struct sq_tx *)base->tx)->c;
    struct sq_storage *q = sq_of(base->tx->s);
    *row = false;
    if (s->done)
        return ERR_OK;
    if (!s->bound) {
        enum err e = sq_bind_all(s);
        if (e)
            return e;
        s->bound = true;
        /* The deadline covers the statement from its first step on. */
        s->deadline = storage_now_ns() + (int64_t)q->timeout_ms * 1000000;
    }
    c->deadline = s->deadline; /* the progress handler only runs inside sqlite3_step */
    c->timed_out = false;
    int rc = sqlite3_step(s->st);
    c->deadline = 0;
    if (!sqlite3_stmt_readonly(s->st))
        s->changes = (uint64_t)sqlite3_changes64(c->db);
    if (rc == SQLITE_ROW) {
        s->row = true;
        *row = true;
        return ERR_OK;
    }
    s->row = false;
    if (rc == SQLITE_DONE) {
        s->done = true;
        return ERR_OK;
    }
    s->done = true;
    return sq_map(c, rc, "step");
}

static bool sq_col_ok(const struct sq_stmt *s, int col)
{
    return s->row && col >= 0 && col < sqlite3_column_count(s->st);
}

static size_t sq_column_count(const struct stmt *base)
{
    const struct sq_stmt *s = (const struct sq_stmt *)base;
    return (size_t)sqlite3_column_count(s->st);
}

static bool sq_col_is_null(const struct stmt *base, int col)
{
    const struct sq_stmt *s = (const struct sq_stmt *)base;
    return !sq_col_ok(s, col) || sqlite3_column_type(s->st, col) == SQLITE_NULL;
}

static struct str sq_col_text(const struct stmt *base, int col)
{
    const struct sq_stmt *s = (const struct sq_stmt *)base;
    if (!sq_col_ok(s, col) || sqlite3_column_type(s->st, col) == SQLITE_NULL)
        return STR_NULL;
    const unsigned char *p = sqlite3_column_text(s->st, col);
    int n = sqlite3_column_bytes(s->st, col);
    if (!p)
        err_oom(); /* a non-NULL value converts to NULL only when memory ran out */
    return str_from((const char *)p, (size_t)n);
}

static int64_t sq_col_int(const struct stmt *base, int col)
{
    const struct sq_stmt *s = (const struct sq_stmt *)base;
    return sq_col_ok(s, col) ? sqlite3_column_int64(s->st, col) : 0;
}

static struct str sq_col_blob(const struct stmt *base, int col)
{
    const struct sq_stmt *s = (const struct sq_stmt *)base;
    if (!sq_col_ok(s, col) || sqlite3_column_type(s->st, col) == SQLITE_NULL)
        return STR_NULL;
    const void *p = sqlite3_column_blob(s->st, col);
    int n = sqlite3_column_bytes(s->st, col);
    return n > 0 && p ? str_from(p, (size_t)n) : str_from("", 0);
}

static uint64_t sq_changes(const struct stmt *base)
{
    return ((const struct sq_stmt *)base)->changes;
}

static void sq_finish(struct stmt *base)
{
    struct sq_stmt *s = (struct sq_stmt *)base;
    if (s->slot) {
        /* Back to the cache: reset (ends any half-read result) and drop every
           binding, so no value of this use — tenant id included — outlives it. */
        ASSERT(s->slot->owner == s && s->slot->st == s->st);
        sqlite3_reset(s->st);
        sqlite3_clear_bindings(s->st);
        s->slot->owner = NULL;
    } else {
        sqlite3_finalize(s->st);
    }
    free(s);
}

static const struct backend_ops sq_ops = {
    .tenant_ids = sq_tenant_ids,
    .pending_outbox_tenants = sq_pending_outbox_tenants, /* outbox (A11) */
    .integration_tenant = sq_integration_tenant,         /* integrations (I1) */
    .tenant_by_slug = sq_tenant_by_slug,                 /* the public feed (W1) */
    .due_job_tenants = sq_due_job_tenants,               /* jobs (I6) */
    .retention_due_tenants = sq_retention_due_tenants,   /* ingest retention (I7) */
    .close = sq_close,
    .schema_version = sq_schema_version,
    .migrations_init = sq_migrations_init,
    .migration_apply = sq_migration_apply,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .prepare = sq_prepare,
    .step = sq_step,
    .column_count = sq_column_count,
    .col_is_null = sq_col_is_null,
    .col_text = sq_col_text,
    .col_int = sq_col_int,
    .col_blob = sq_col_blob,
    .changes = sq_changes,
    .finish = sq_finish,
};
