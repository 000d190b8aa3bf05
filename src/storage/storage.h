/*
 * storage — the one tenant-scoped interface to the database (T1–T3, P2, P3, P7).
 *
 * Two backends sit behind it: SQLite in WAL mode (the embedded default) and
 * PostgreSQL through libpq. Request code reaches the database only through a
 * transaction opened for a tenant (storage_begin); there is no unscoped query
 * path for it.
 *
 * The tenant is bound by construction: every SQL statement is constant text
 * written with PostgreSQL-style placeholders $1..$n, and $1 is always the
 * transaction's tenant id, bound by the storage layer itself; callers bind
 * their own parameters from $2 on. A statement that does not reference $1 is
 * refused (ERR_INVALID) before it reaches the database. On PostgreSQL the
 * database enforces the same boundary again: the tenant is set per
 * transaction with set_config('app.tenant_id', $1, true), every business table
 * has FORCE ROW LEVEL SECURITY with USING and WITH CHECK policies, and the
 * application role owns nothing and cannot bypass RLS — so even a forged
 * statement cannot read or write another tenant's rows.
 *
 * Dialects: SQLite accepts the same text (the backend rewrites $n to ?n).
 * Statements that must differ per dialect branch on storage_backend_of().
 * PostgreSQL must be able to infer every placeholder's type from the statement
 * (parameters are sent untyped, except blobs as bytea): where the context does
 * not say, cast it ($1::uuid, $2::text, $3::bigint); a bare "$1 IS NULL" is
 * refused by the server (ERR_DB).
 *
 * Errors: ERR_UNAVAILABLE (database unreachable), ERR_TIMEOUT (statement
 * timeout / busy), ERR_CONFLICT (unique or foreign-key violation),
 * ERR_FORBIDDEN (row-level security refused a row), ERR_DB (anything else);
 * the database's own message goes to the log with the request id, never to
 * the caller's response.
 *
 * Thread-safety: a struct storage is shared by all threads; a struct tx and its
 * statements belong to one thread until commit/rollback.
 */
#ifndef SHIPLOG_STORAGE_STORAGE_H
#define SHIPLOG_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

#define STORAGE_TENANT_ID_LEN 36    /* canonical UUID text */
#define STORAGE_MAX_PARAMS    32    /* placeholders per statement, $1 included */
#define STORAGE_MAX_SQL       16384 /* bytes of SQL text per statement */

enum storage_backend { STORAGE_SQLITE, STORAGE_POSTGRES };

enum tx_mode {
    TX_READ,  /* read-only (PostgreSQL: READ ONLY) */
    TX_WRITE, /* may write (SQLite: BEGIN IMMEDIATE, so writers queue instead of deadlocking) */
};

/* Which schema a storage holds: the data, or the key vault (docs/KEYS.md). */
enum storage_schema {
    STORAGE_SCHEMA_MAIN = 0,
    STORAGE_SCHEMA_VAULT,
};

struct storage_options {
    enum storage_schema schema;    /* selects the migration set (default: main) */
    const char *database_url;      /* "postgresql://..." or NULL for SQLite */
    const char *sqlite_path;       /* file for SQLite (created if missing) */
    unsigned pool_size;            /* connections kept at most (default 8) */
    unsigned statement_timeout_ms; /* per statement (default 5000) */
};

/* The tenant a transaction is bound to: a canonical lower-case UUID. */
struct tenant_ctx {
    char id[STORAGE_TENANT_ID_LEN + 1];
};

struct storage;
struct tx;
struct stmt;

/*
 * Opens the backend and checks it can connect (PostgreSQL: also that the
 * role is neither superuser nor BYPASSRLS; detail says why when it is). Does
 * not migrate. On failure detail holds a log-only explanation.
 *
 * PostgreSQL opens lazily when the server does not answer (P7): if the first
 * connection fails and the server is unreachable or not accepting connections
 * yet, storage_open still returns ERR_OK (a warning is logged), so the process
 * starts and reports not-ready; storage_begin and storage_ready return
 * ERR_UNAVAILABLE until the database is back, and the role check runs on every
 * new connection (a privileged role then gives ERR_CONFIG from storage_begin).
 * A server that answers but refuses us (bad password, unknown database,
 * malformed URL) or a privileged role is ERR_CONFIG right away.
 * SQLite: the file is created with mode 0600 if missing; its directory must
 * exist.
 */
MUST_CHECK enum err storage_open(const struct storage_options *opt, struct storage **out,
                                 struct buf *detail);

/*
 * Like storage_open, for `shiplog migrate` only: on PostgreSQL it accepts a
 * superuser / BYPASSRLS role (the schema owner) and fails with ERR_UNAVAILABLE
 * instead of opening lazily when the database is down. Same as storage_open
 * on SQLite. Never use it to serve requests.
 */
MUST_CHECK enum err storage_open_migrator(const struct storage_options *opt, struct storage **out,
                                          struct buf *detail);
void storage_close(struct storage *s);
enum storage_backend storage_backend_of(const struct storage *s);
const char *storage_backend_name(enum storage_backend b); /* "sqlite" | "postgresql" */

/*
 * Applies the embedded migrations not yet applied, each in its own
 * transaction, recording them in schema_migrations. Meant for `shiplog migrate`
 * and development start-up, run with the owner connection (PostgreSQL: a role
 * allowed to create tables; the application role only gets the grants).
 */
MUST_CHECK enum err storage_migrate(struct storage *s, struct buf *detail);

/* Highest migration embedded in this binary for s's backend and schema. */
int storage_latest_version(const struct storage *s);

/*
 * Readiness (H9, P7): ERR_OK when the database answers and its schema is at
 * storage_latest_version(); ERR_UNAVAILABLE otherwise, with detail for the log.
 */
MUST_CHECK enum err storage_ready(struct storage *s, struct buf *detail);

/*
 * Maintenance only (a storage opened with storage_open_migrator): calls fn
 * with every tenant id, in id order, until fn returns an error (which is
 * returned). On PostgreSQL the owner role sees every tenant through the
 * shiplog_maintenance policy (migration 0002); the application role, which
 * storage_open refuses if it is a member of shiplog_maintenance, cannot.
 * ERR_FORBIDDEN on a storage opened with storage_open.
 */
MUST_CHECK enum err storage_tenant_ids(struct storage *s,
                                       enum err (*fn)(void *arg, const char *tenant_id), void *arg);

/* ---- outbox (A11): the one cross-tenant question the server may ask -------- */

#define STORAGE_MAX_DUE_TENANTS 1000 /* ids one storage_pending_outbox_tenants call returns */

/*
 * Calls fn with the id of each tenant that has pending mail due at now_unix
 * (next_attempt_at <= now_unix), the longest-waiting first, at most max of
 * them, until fn returns an error (which is returned). Tenant ids only, never
 * content: the caller then opens an ordinary tenant transaction per id. Works
 * on a server's storage: PostgreSQL asks the SECURITY DEFINER function
 * shiplog_outbox_due_tenants (migration 0006), SQLite a plain query.
 * ERR_INVALID when max is 0 or above STORAGE_MAX_DUE_TENANTS; ERR_FORBIDDEN on
 * the key vault's storage.
 */
MUST_CHECK enum err storage_pending_outbox_tenants(struct storage *s, int64_t now_unix, size_t max,
                                                   enum err (*fn)(void *arg, const char *tenant_id),
                                                   void *arg);

/* ---- integrations (I1): the tenant of a webhook's integration id ----------- */

/*
 * The tenant owning the enabled integration integration_id, for the webhook
 * endpoint, which arrives without a tenant: fills out with the tenant id
 * only; the caller then reads the integration in an ordinary transaction of
 * that tenant. ERR_NOT_FOUND when the id is not a canonical UUID, unknown, or
 * its integration is disabled. Works on a server's storage: PostgreSQL asks
 * the SECURITY DEFINER function shiplog_integration_tenant (migration 0013),
 * which answers for the one id given and lists nothing; SQLite a plain query
 * of the integrations_id index. ERR_FORBIDDEN on the key vault's storage.
 */
MUST_CHECK enum err storage_integration_tenant(struct storage *s, struct str integration_id,
                                               struct tenant_ctx *out);

/* ---- the public feed (W1): the tenant of a slug ------------------------------ */

#define STORAGE_MAX_SLUG 63 /* bytes of a tenant slug: [a-z0-9-], not starting with '-' */

/* True when s has the shape of a tenant slug (see STORAGE_MAX_SLUG). */
bool storage_slug_valid(struct str s);

/*
 * The tenant whose slug is slug, for the public feed, which arrives without
 * a session: fills out with the tenant id only; the caller then reads in an
 * ordinary transaction of that tenant. ERR_NOT_FOUND when slug is not
 * storage_slug_valid or no tenant has it. Works on a server's storage:
 * PostgreSQL asks the SECURITY DEFINER function shiplog_tenant_by_slug
 * (migration 0022), which answers for the one slug given and lists nothing;
 * SQLite a plain query of the slug's unique index. ERR_FORBIDDEN on the key
 * vault's storage.
 */
MUST_CHECK enum err storage_tenant_by_slug(struct storage *s, struct str slug,
                                           struct tenant_ctx *out);

/* ---- jobs (I6, P3): which tenants have due jobs ------------------------------ */

/*
 * Calls fn with the id of each tenant that has a job due at now_unix (pending
 * with run_at <= now_unix, or running with an expired lease), the
 * longest-waiting first, at most max of them, until fn returns an error
 * (which is returned). Tenant ids only, never content: the runner then opens
 * an ordinary tenant transaction per id. Works on a server's storage:
 * PostgreSQL asks the SECURITY DEFINER function shiplog_jobs_due_tenants
 * (jobs migration), SQLite a plain query. The connection is released before
 * fn runs. ERR_INVALID when max is 0 or above STORAGE_MAX_DUE_TENANTS;
 * ERR_FORBIDDEN on the key vault's storage.
 */
MUST_CHECK enum err storage_due_job_tenants(struct storage *s, int64_t now_unix, size_t max,
                                            enum err (*fn)(void *arg, const char *tenant_id),
                                            void *arg);

/* ---- ingest retention (I7): which tenants have deliveries to purge ---------- */

/*
 * Calls fn with the id of each tenant whose oldest webhook delivery was
 * received before now_unix - its retention (tenant_settings
 * "ingest.retention_days", 1..3650 days; 90 when unset or unreadable) *
 * 86400, the oldest delivery first, at most max of them, until fn returns an
 * error (which is returned). Tenant ids only, never content: the sweep then
 * opens an ordinary tenant transaction per id and purges there. Works on a
 * server's storage: PostgreSQL asks the SECURITY DEFINER function
 * shiplog_retention_due_tenants (migration 0016), SQLite a plain query. The
 * connection is released before fn runs. ERR_INVALID when max is 0 or above
 * STORAGE_MAX_DUE_TENANTS; ERR_FORBIDDEN on the key vault's storage.
 */
MUST_CHECK enum err storage_retention_due_tenants(struct storage *s, int64_t now_unix, size_t max,
                                                  enum err (*fn)(void *arg, const char *tenant_id),
                                                  void *arg);

/* Canonical UUID check for tenant ids (lower-case hex, 8-4-4-4-12). */
bool storage_tenant_id_valid(struct str id);

/*
 * Opens a transaction bound to tenant t (pre-pinging a pooled connection). Must
 * end with storage_commit() or storage_rollback(), both of which free tx.
 * ERR_INVALID for a tenant id that is not a canonical UUID; ERR_TIMEOUT when no
 * pooled connection frees up within the statement timeout (or, SQLite, the
 * write lock stays busy that long); ERR_UNAVAILABLE when the database is down.
 *
 * Once a statement of the transaction has failed, the transaction is aborted
 * on both backends (PostgreSQL does it anyway; SQLite is made to match):
 * tx_prepare and stmt_step return that first error again, and storage_commit
 * rolls back and returns it.
 */
MUST_CHECK enum err storage_begin(struct storage *s, const struct tenant_ctx *t, enum tx_mode mode,
                                  struct tx **out);
MUST_CHECK enum err storage_commit(struct tx *tx);
void storage_rollback(struct tx *tx);
enum storage_backend storage_tx_backend(const struct tx *tx);

/*
 * TX_WRITE transactions committed through s so far, by all threads: each one
 * a sync on disk, so batching shows here (tests, benchmarks). Read
 * transactions, rollbacks and failed commits do not count. Thread-safe.
 */
uint64_t storage_write_commits(const struct storage *s);

/*
 * Statement within tx. sql must be constant text and reference $1 (the tenant),
 * else ERR_INVALID without touching the database; over STORAGE_MAX_SQL bytes:
 * ERR_LIMIT; a placeholder $0 or above STORAGE_MAX_PARAMS, or more than one
 * statement: ERR_INVALID. Placeholders in string literals, quoted identifiers,
 * comments and dollar quotes do not count.
 */
MUST_CHECK enum err tx_prepare(struct tx *tx, const char *sql, struct stmt **out);
/*
 * idx is the placeholder number, 2..STORAGE_MAX_PARAMS, and must appear in the
 * SQL; binding is only possible before the first stmt_step. Values are copied.
 * Text must not contain NUL bytes (ERR_INVALID). Every placeholder the SQL
 * references must be bound before stmt_step (ERR_INVALID otherwise).
 */
MUST_CHECK enum err stmt_bind_text(struct stmt *st, int idx, struct str v);
MUST_CHECK enum err stmt_bind_int(struct stmt *st, int idx, int64_t v);
MUST_CHECK enum err stmt_bind_blob(struct stmt *st, int idx, const void *data, size_t len);
MUST_CHECK enum err stmt_bind_null(struct stmt *st, int idx);
/*
 * Runs (on first call) and advances: *row is true while a row is available.
 * PostgreSQL runs the statement completely on the first call and buffers the
 * rows; SQLite steps lazily. The statement timeout runs from the first call.
 */
MUST_CHECK enum err stmt_step(struct stmt *st, bool *row);
/* Columns of the current row, 0-based. Views stay valid until the next step/finish. */
size_t stmt_column_count(const struct stmt *st);
bool stmt_col_is_null(const struct stmt *st, int col);
struct str stmt_col_text(const struct stmt *st, int col);
int64_t stmt_col_int(const struct stmt *st, int col);
/* Blob column bytes (PostgreSQL bytea decoded); valid until the next step/finish. */
struct str stmt_col_blob(const struct stmt *st, int col);
/* Rows changed by an INSERT/UPDATE/DELETE that has run. */
uint64_t stmt_changes(const struct stmt *st);
void stmt_finish(struct stmt *st);

/* Prepare + bind nothing + step to completion: for statements with only $1. */
MUST_CHECK enum err tx_exec(struct tx *tx, const char *sql);

/* ---- statements with typed arguments -------------------------------------- */

/*
 * One bound parameter for tx_query / tx_exec_args. The i-th argument of the
 * array goes to placeholder $(i + 2): $1 is always the tenant. Build them
 * with the macros below rather than by hand.
 */
enum storage_arg_kind { STORAGE_ARG_TEXT, STORAGE_ARG_INT, STORAGE_ARG_NULL, STORAGE_ARG_BLOB };
struct storage_arg {
    enum storage_arg_kind kind;
    struct str s; /* STORAGE_ARG_TEXT, STORAGE_ARG_BLOB (bytes): copied at bind time */
    int64_t i;    /* STORAGE_ARG_INT */
};
#define STORAGE_TEXT(v) ((struct storage_arg){.kind = STORAGE_ARG_TEXT, .s = (v)})
#define STORAGE_BLOB(v) ((struct storage_arg){.kind = STORAGE_ARG_BLOB, .s = (v)})
#define STORAGE_CSTR(v) ((struct storage_arg){.kind = STORAGE_ARG_TEXT, .s = str_from_cstr(v)})
#define STORAGE_INT(v)  ((struct storage_arg){.kind = STORAGE_ARG_INT, .i = (int64_t)(v)})
#define STORAGE_NULL    ((struct storage_arg){.kind = STORAGE_ARG_NULL})
/* Expands to the two parameters "args, n" from a list of the macros above. */
#define STORAGE_ARGS(...)                                                                          \
    ((const struct storage_arg[]){__VA_ARGS__}),                                                   \
        (sizeof((const struct storage_arg[]){__VA_ARGS__}) / sizeof(struct storage_arg))

/*
 * Prepares sql, binds args[0..n) to $2.. and steps once: *row says whether a
 * row is there, and the statement is left in *out for the caller to read,
 * step on and stmt_finish. On error nothing is left over: the statement is
 * finished and *out is NULL. Errors are those of tx_prepare,
 * stmt_bind_* and stmt_step.
 */
MUST_CHECK enum err tx_query(struct tx *tx, const char *sql, const struct storage_arg *args,
                             size_t n, struct stmt **out, bool *row);
/*
 * Like tx_query, then steps to completion (rows are skipped) and finishes the
 * statement. changes (may be NULL) gets stmt_changes() on success and 0 on
 * error.
 */
MUST_CHECK enum err tx_exec_args(struct tx *tx, const char *sql, const struct storage_arg *args,
                                 size_t n, uint64_t *changes);

#endif
