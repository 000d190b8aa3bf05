/*
 * backend — the private interface between storage.c and the two backends
 * (sqlite.c, postgres.c).
 *
 * storage.c owns everything both backends share: argument and limit checks,
 * the placeholder scan, parameter copies, the sticky failure state of a
 * transaction, and the migration runner. A backend only talks to its database.
 *
 * Objects use C-style inheritance: a backend allocates its own struct whose
 * first member is the struct storage / struct tx / struct stmt declared here,
 * and casts back in its callbacks. The base fields of a tx or stmt are filled
 * in by storage.c after the backend's constructor returns.
 */
#ifndef SHIPLOG_STORAGE_BACKEND_H
#define SHIPLOG_STORAGE_BACKEND_H

#include <stdatomic.h>

#include "storage/migrations.h"
#include "storage/storage.h"

/* A copied parameter value; index in stmt.params is the placeholder number. */
enum storage_param_kind { PARAM_UNSET = 0, PARAM_NULL, PARAM_TEXT, PARAM_INT, PARAM_BLOB };

struct storage_param {
    enum storage_param_kind kind;
    int64_t i;  /* PARAM_INT */
    char *data; /* PARAM_TEXT (NUL-terminated, no NUL inside) / PARAM_BLOB; heap */
    size_t len;
};

struct storage {
    enum storage_backend backend;
    enum storage_schema schema; /* set by storage.c after the backend opened */
    bool maintenance;           /* opened with storage_open_migrator */
    const struct backend_ops *ops;
    atomic_uint_fast64_t write_commits; /* storage_write_commits; zeroed by the backend's calloc */
};

struct tx {
    struct storage *s;
    enum tx_mode mode;
    struct tenant_ctx tenant;
    enum err failed; /* first statement error; once set the tx can only roll back */
};

struct stmt {
    struct tx *tx;
    int max_param; /* highest $n referenced by the SQL, >= 1 (set by the backend's prepare) */
    bool started;  /* stmt_step has run: binding is closed */
    struct storage_param params[STORAGE_MAX_PARAMS + 1]; /* [0] and [1] unused */
};

struct backend_ops {
    void (*close)(struct storage *s);
    /* Every tenant id in id order, outside any tenant context (maintenance only). */
    enum err (*tenant_ids)(struct storage *s, enum err (*fn)(void *arg, const char *tenant_id),
                           void *arg);
    /* outbox (A11): tenant ids with due pending mail; max already checked. */
    enum err (*pending_outbox_tenants)(struct storage *s, int64_t now_unix, size_t max,
                                       enum err (*fn)(void *arg, const char *tenant_id), void *arg);
    /* integrations (I1): the tenant of an enabled integration (id already checked). */
    enum err (*integration_tenant)(struct storage *s, const char *integration_id,
                                   struct tenant_ctx *out);
    /* the public feed (W1): the tenant of a slug (already checked). */
    enum err (*tenant_by_slug)(struct storage *s, const char *slug, struct tenant_ctx *out);
    /* jobs (I6): tenant ids with due jobs; max already checked. */
    enum err (*due_job_tenants)(struct storage *s, int64_t now_unix, size_t max,
                                enum err (*fn)(void *arg, const char *tenant_id), void *arg);
    /* ingest retention (I7): tenant ids with deliveries past their retention; max checked. */
    enum err (*retention_due_tenants)(struct storage *s, int64_t now_unix, size_t max,
                                      enum err (*fn)(void *arg, const char *tenant_id), void *arg);
    /*
     * Highest applied migration, 0 when schema_migrations does not exist.
     * Errors: ERR_UNAVAILABLE when the database cannot be reached.
     */
    enum err (*schema_version)(struct storage *s, int *version, struct buf *detail);
    /* Creates schema_migrations if missing. */
    enum err (*migrations_init)(struct storage *s, struct buf *detail);
    /*
     * Applies m in its own transaction unless already recorded (checked again
     * under the write lock so concurrent migrators do not race); *applied
     * says which.
     */
    enum err (*migration_apply)(struct storage *s, const struct storage_migration *m, bool *applied,
                                struct buf *detail);
    /* Allocates a tx (zeroed base) holding a connection with an open transaction. */
    enum err (*begin)(struct storage *s, const struct tenant_ctx *t, enum tx_mode mode,
                      struct tx **out);
    /* Both free tx and return its connection to the pool. */
    enum err (*commit)(struct tx *tx);
    void (*rollback)(struct tx *tx);
    /*
     * Allocates a stmt (zeroed base but max_param) for sql (len bytes,
     * NUL-terminated, at most STORAGE_MAX_SQL), which passed storage_sql_check
     * now or when it was cached. ERR_INVALID when that check or the database
     * refuses it as a single statement.
     */
    enum err (*prepare)(struct tx *tx, const char *sql, size_t len, struct stmt **out);
    /* First call binds st->params ($1 = tenant) and runs; then advances. */
    enum err (*step)(struct stmt *st, bool *row);
    size_t (*column_count)(const struct stmt *st);
    bool (*col_is_null)(const struct stmt *st, int col);
    struct str (*col_text)(const struct stmt *st, int col);
    int64_t (*col_int)(const struct stmt *st, int col);
    struct str (*col_blob)(const struct stmt *st, int col);
    uint64_t (*changes)(const struct stmt *st);
    void (*finish)(struct stmt *st); /* frees the backend's part; storage.c frees params */
};

/*
 * Placeholder scan shared by both backends: finds every $n outside string
 * literals, quoted identifiers, comments and PostgreSQL dollar quotes.
 * ERR_INVALID when an index is 0 or above STORAGE_MAX_PARAMS. When rewrite is
 * not NULL it must hold len bytes: each placeholder's '$' is replaced there by
 * '?' (the SQLite backend's ?n form, same length).
 */
struct sql_scan {
    int max_param;   /* highest index seen, 0 if none */
    bool has_tenant; /* $1 appears */
    bool multiple;   /* something other than blanks/comments follows a ';' */
};
MUST_CHECK enum err storage_sql_scan(const char *sql, size_t len, struct sql_scan *out,
                                     char *rewrite);

/*
 * What every statement must pass before a backend prepares it: the scan
 * above, one statement only, and $1 (the tenant) referenced; ERR_INVALID
 * (logged) otherwise. *max_param gets the highest index. A backend calls it
 * for text it has not checked before and sets stmt.max_param from it; a
 * backend that keeps prepared statements keeps the figure with them, so a
 * statement reused from its cache is not scanned again.
 */
MUST_CHECK enum err storage_sql_check(const char *sql, size_t len, char *rewrite, int *max_param);

MUST_CHECK enum err sqlite_backend_open(const struct storage_options *opt, struct storage **out,
                                        struct buf *detail);
MUST_CHECK enum err postgres_backend_open(const struct storage_options *opt, bool migrator,
                                          struct storage **out, struct buf *detail);

/* Monotonic clock in nanoseconds (pool waits, deadlines, idle times). */
int64_t storage_now_ns(void);

/* Appends to detail, ignoring a detail buffer that is full or NULL. */
void storage_detail(struct buf *detail, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
