/*
 * postgres — the PostgreSQL backend through libpq (P3, P7, T2).
 *
 * A bounded pool of connections. Before a pooled connection is handed out it
 * is checked (P7): a connection libpq already knows is broken, or one idle for
 * more than PG_IDLE_CHECK_NS, first runs a trivial query; on failure it is
 * reset once with PQreset, and if that fails too the caller gets
 * ERR_UNAVAILABLE at once (connect_timeout bounds the wait). Every new or reset
 * connection is set up the same way: the role is checked (no superuser, no
 * BYPASSRLS, unless this is the migrator) and statement_timeout is set.
 *
 * Each transaction is BEGIN [READ ONLY] followed by
 * set_config('app.tenant_id', $1, true), so the tenant lives exactly as long
 * as the transaction and RLS policies compare rows against it (T2).
 *
 * Statements run with PQexecParams: parameters in text format except bytea
 * (binary), results in text format and buffered, so a statement's rows are
 * read from memory after the first stmt_step.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "storage/backend.h"

#define PG_IDLE_CHECK_NS      (30LL * 1000000000LL) /* idle longer: ping before use */
#define PG_CONNECT_TIMEOUT    "3"                   /* seconds, for libpq */
#define PG_MIGRATION_LOCK_KEY "7340592163542711"    /* advisory lock for migrators */
#define PG_OID_BYTEA          17

struct pg_conn {
    PGconn *conn; /* NULL until first used or after a failed reset */
    bool in_use;
    int64_t last_used; /* monotonic ns when returned to the pool */
};

struct pg_storage {
    struct storage base;
    char *url;
    bool migrator; /* privileged roles allowed (storage_open_migrator) */
    unsigned pool_size;
    unsigned timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a connection is returned */
    struct pg_conn *conns;
};

struct pg_tx {
    struct tx base;
    struct pg_conn *c;
};

struct pg_stmt {
    struct stmt base;
    char *sql;
    PGresult *res; /* after the first step */
    int row;       /* current row, -1 before the first */
    int nrows;
    uint64_t changes;
    struct pg_blob *blob; /* decoded bytea columns of the current row; own allocation
                             since the column accessors get a const stmt */
};

/* One decoded value per column, so views of several blob columns stay valid together. */
struct pg_blob {
    unsigned char **bytes; /* [n] from PQunescapeBytea, freed on the next step/finish */
    size_t *len;
    int n;
};

static void pg_blob_clear(struct pg_blob *b)
{
    for (int i = 0; i < b->n; i++) {
        PQfreemem(b->bytes[i]);
        b->bytes[i] = NULL;
    }
}

static const struct backend_ops pg_ops;

static struct pg_storage *pg_of(struct storage *s)
{
    return (struct pg_storage *)s;
}

/* ---- errors -------------------------------------------------------------- */

/* Maps a failed result (or no result) to an error and logs the server's words. */
static enum err pg_map(PGconn *conn, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* the primary message only: DETAIL can quote row values (personal data, O1) */
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg || !msg[0])
        msg = conn ? PQerrorMessage(conn) : "no connection";
    enum err e;
    if (!state) {
        /* No SQLSTATE: libpq itself failed, which means the connection did. */
        e = (!conn || PQstatus(conn) != CONNECTION_OK) ? ERR_UNAVAILABLE : ERR_DB;
        state = "";
    } else if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
               strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0) {
        e = ERR_UNAVAILABLE; /* connection exception, shutdown, cannot connect now */
    } else if (strcmp(state, "57014") == 0) {
        e = ERR_TIMEOUT; /* query_canceled: statement_timeout */
    } else if (strcmp(state, "23505") == 0 || strcmp(state, "23503") == 0) {
        e = ERR_CONFLICT;
    } else if (strcmp(state, "42501") == 0) {
        e = ERR_FORBIDDEN; /* insufficient privilege, RLS WITH CHECK violation */
    } else {
        e = ERR_DB;
    }
    log_error("storage: postgresql error", LOG_STR("op", what), LOG_STR("sqlstate", state),
              LOG_STR("message", msg), LOG_ERR(e));
    return e;
}

/* Runs constant SQL without parameters; ERR_OK when it succeeded. */
static enum err pg_exec(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    enum err e = ERR_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        e = pg_map(conn, res, what);
    PQclear(res);
    return e;
}

/* ---- connections --------------------------------------------------------- */

/* Server notices (e.g. "already exists, skipping") go to the debug log, not stderr. */
static void pg_notice(void *arg, const char *message)
{
    log_debug("storage: postgresql notice", LOG_STR("message", message));
}

static PGconn *pg_connect(const char *url)
{
    /* Later keywords override the URL's own: connect_timeout is ours. */
    const char *const keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *const vals[] = {url, PG_CONNECT_TIMEOUT, "shiplog", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn)
        PQsetNoticeProcessor(conn, pg_notice, NULL);
    return conn;
}

/*
 * Sets up a fresh (or just reset) connection: role check, then timeouts.
 * ERR_CONFIG when the role is privileged and this is not the migrator.
 */
static enum err pg_setup(struct pg_storage *p, PGconn *conn, struct buf *detail)
{
    PGresult *res = PQexec(conn, "SELECT current_user, rolsuper, rolbypassrls, "
                                 "EXISTS (SELECT 1 FROM pg_roles m "
                                 "WHERE m.rolname = 'shiplog_maintenance' "
                                 "AND pg_has_role(current_user, m.oid, 'MEMBER')) "
                                 "FROM pg_roles WHERE rolname = current_user");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        enum err e = pg_map(conn, res, "role check");
        PQclear(res);
        storage_detail(detail, "postgresql: cannot read the role's attributes");
        return e == ERR_OK ? ERR_DB : e;
    }
    bool super = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    bool bypass = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    bool maint = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    if ((super || bypass || maint) && !p->migrator) {
        storage_detail(detail,
                       "postgresql: role %s is %s; the application must log in as a role "
                       "without SUPERUSER, BYPASSRLS or shiplog_maintenance membership "
                       "(row-level security would not apply)",
                       PQgetvalue(res, 0, 0),
                       super    ? "a superuser"
                       : bypass ? "BYPASSRLS"
                                : "in shiplog_maintenance");
        PQclear(res);
        return ERR_CONFIG;
    }
    PQclear(res);

    char ms[16];
    snprintf(ms, sizeof ms, "%u", p->timeout_ms);
    const char *const params[] = {ms};
    res = PQexecParams(conn, "SELECT set_config('statement_timeout', $1, false)", 1, NULL, params,
                       NULL, NULL, 0);
    enum err e = ERR_OK;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        e = pg_map(conn, res, "set statement_timeout");
        storage_detail(detail, "postgresql: cannot set statement_timeout");
    }
    PQclear(res);
    return e;
}

/* True when the connection answers a trivial query. */
static bool pg_ping(PGconn *conn)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return false;
    PGresult *res = PQexec(conn, "SELECT 1");
    bool ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    return ok;
}

/* Makes c usable: connect, or check and reset once. */
/* Runs pg_setup on a fresh or reset connection; drops the connection if it fails. */
static enum err pg_setup_or_drop(struct pg_storage *p, struct pg_conn *c, struct buf *detail)
{
    enum err e = pg_setup(p, c->conn, detail);
    if (e) {
        PQfinish(c->conn);
        c->conn = NULL;
    }
    return e;
}

static enum err pg_conn_ready(struct pg_storage *p, struct pg_conn *c, struct buf *detail)
{
    if (!c->conn) {
        c->conn = pg_connect(p->url);
        if (!c->conn)
            err_oom();
        if (PQstatus(c->conn) != CONNECTION_OK) {
            storage_detail(detail, "postgresql: cannot connect: %s", PQerrorMessage(c->conn));
            PQfinish(c->conn);
            c->conn = NULL;
            return ERR_UNAVAILABLE;
        }
        return pg_setup_or_drop(p, c, detail);
    }
    bool idle = storage_now_ns() - c->last_used > PG_IDLE_CHECK_NS;
    if (PQstatus(c->conn) == CONNECTION_OK && PQtransactionStatus(c->conn) == PQTRANS_IDLE &&
        (!idle || pg_ping(c->conn)))
        return ERR_OK;
    PQreset(c->conn);
    if (PQstatus(c->conn) != CONNECTION_OK) {
        storage_detail(detail, "postgresql: connection lost, reset failed: %s",
                       PQerrorMessage(c->conn));
        PQfinish(c->conn);
        c->conn = NULL;
        return ERR_UNAVAILABLE;
    }
    return pg_setup_or_drop(p, c, detail);
}

static void pg_release(struct pg_storage *p, struct pg_conn *c)
{
    if (c->conn) {
        if (PQstatus(c->conn) != CONNECTION_OK) {
            PQfinish(c->conn);
            c->conn = NULL;
        } else if (PQtransactionStatus(c->conn) != PQTRANS_IDLE &&
                   pg_exec(c->conn, "ROLLBACK", "rollback") != ERR_OK) {
            PQfinish(c->conn);
            c->conn = NULL;
        }
    }
    pthread_mutex_lock(&p->mu);
    c->last_used = storage_now_ns();
    c->in_use = false;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Takes a checked connection from the pool, waiting up to the statement timeout. */
static enum err pg_acquire(struct pg_storage *p, struct pg_conn **out, struct buf *detail)
{
    *out = NULL;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += p->timeout_ms / 1000;
    until.tv_nsec += (long)(p->timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    struct pg_conn *c = NULL;
    for (;;) {
        struct pg_conn *empty = NULL;
        for (unsigned i = 0; i < p->pool_size; i++) {
            if (p->conns[i].in_use)
                continue;
            if (p->conns[i].conn) {
                c = &p->conns[i];
                break;
            }
            if (!empty)
                empty = &p->conns[i];
        }
        if (!c)
            c = empty;
        if (c)
            break;
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->mu);
            storage_detail(detail, "postgresql: no free connection in the pool");
            return ERR_TIMEOUT;
        }
    }
    c->in_use = true;
    pthread_mutex_unlock(&p->mu);
    enum err e = pg_conn_ready(p, c, detail);
    if (e) {
        pg_release(p, c);
        return e;
    }
    *out = c;
    return ERR_OK;
}

enum err postgres_backend_open(const struct storage_options *opt, bool migrator,
                               struct storage **out, struct buf *detail)
{
    *out = NULL;
    char *errmsg = NULL;
    PQconninfoOption *info = PQconninfoParse(opt->database_url, &errmsg);
    if (!info) {
        /* libpq's message quotes the offending part of the URL, which may be
         * the password: say only that the URL is malformed */
        storage_detail(detail, "postgresql: the database URL is malformed");
        PQfreemem(errmsg);
        return ERR_CONFIG;
    }
    PQconninfoFree(info);

    struct pg_storage *p = calloc(1, sizeof *p);
    if (!p)
        err_oom();
    p->base.backend = STORAGE_POSTGRES;
    p->base.ops = &pg_ops;
    p->url = strdup(opt->database_url);
    p->conns = calloc(opt->pool_size, sizeof *p->conns);
    if (!p->url || !p->conns)
        err_oom();
    p->migrator = migrator;
    p->pool_size = opt->pool_size;
    p->timeout_ms = opt->statement_timeout_ms;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);

    struct pg_conn *c = NULL;
    enum err e = pg_acquire(p, &c, detail);
    if (e == ERR_OK) {
        pg_release(p, c);
        *out = &p->base;
        return ERR_OK;
    }
    if (e == ERR_UNAVAILABLE && !migrator) {
        /* Down or starting up: open lazily. Answering but refusing us: config. */
        const char *const keys[] = {"dbname", "connect_timeout", NULL};
        const char *const vals[] = {opt->database_url, PG_CONNECT_TIMEOUT, NULL};
        PGPing ping = PQpingParams(keys, vals, 1);
        if (ping == PQPING_NO_RESPONSE || ping == PQPING_REJECT) {
            log_warn("storage: postgresql is not reachable yet; starting not-ready",
                     LOG_STR("detail", buf_cstr(detail)));
            if (detail)
                buf_reset(detail);
            *out = &p->base;
            return ERR_OK;
        }
        e = ERR_CONFIG;
    }
    pg_ops.close(&p->base);
    return e;
}

static void pg_close(struct storage *s)
{
    struct pg_storage *p = pg_of(s);
    for (unsigned i = 0; i < p->pool_size; i++) {
        ASSERT(!p->conns[i].in_use); /* closing with a transaction open is a bug */
        if (p->conns[i].conn)
            PQfinish(p->conns[i].conn);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->conns);
    free(p->url);
    free(p);
}

/* ---- migrations ---------------------------------------------------------- */

static enum err pg_schema_version(struct storage *s, int *version, struct buf *detail)
{
    struct pg_storage *p = pg_of(s);
    *version = 0;
    struct pg_conn *c = NULL;
    enum err e = pg_acquire(p, &c, detail);
    if (e)
        return e;
    PGresult *res = PQexec(c->conn, "SELECT to_regclass('public.schema_migrations') IS NOT NULL");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        e = pg_map(c->conn, res, "schema version");
    } else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        PQclear(res);
        res = PQexec(c->conn, "SELECT coalesce(max(version), 0) FROM public.schema_migrations");
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
            e = pg_map(c->conn, res, "schema version");
        else {
            uint64_t v = 0;
            e = str_to_u64(str_from_cstr(PQgetvalue(res, 0, 0)), INT32_MAX, &v);
            if (e)
                e = ERR_DB;
            *version = (int)v;
        }
    }
    PQclear(res);
    if (e)
        storage_detail(detail, "postgresql: cannot read schema_migrations");
    pg_release(p, c);
    return e;
}

static enum err pg_tenant_ids(struct storage *s, enum err (*fn)(void *arg, const char *tenant_id),
                              void *arg)
{
    struct pg_storage *p = pg_of(s);
    struct pg_conn *c = NULL;
    enum err e = pg_acquire(p, &c, NULL);
    if (e)
        return e;
    /* no app.tenant_id: only the shiplog_maintenance policy lets rows through */
    PGresult *res = PQexec(c->conn, "SELECT id::text FROM public.tenants ORDER BY id");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        e = pg_map(c->conn, res, "tenant ids");
    for (int i = 0; !e && i < PQntuples(res); i++)
        e = fn(arg, PQgetvalue(res, i, 0));
    PQclear(res);
    pg_release(p, c);
    return e;
}

/* ---- due tenants: outbox (A11) and jobs (I6) ------------------------------ */

/*
 * Runs sql ($1 = now_unix, $2 = max; one column of tenant ids), a call of a
 * SECURITY DEFINER function (the application role cannot see other tenants'
 * rows). No app.tenant_id is set: nothing else can be read on this
 * connection.
 */
static enum err pg_due_tenants(struct storage *s, const char *sql, const char *what,
                               int64_t now_unix, size_t max,
                               enum err (*fn)(void *arg, const char *tenant_id), void *arg)
{
    struct pg_storage *p = pg_of(s);
    struct pg_conn *c = NULL;
    enum err e = pg_acquire(p, &c, NULL);
    if (e)
        return e;
    char now_text[32], max_text[32];
    snprintf(now_text, sizeof now_text, "%lld", (long long)now_unix);
    snprintf(max_text, sizeof max_text, "%zu", max);
    const char *params[2] = {now_text, max_text};
    PGresult *res = PQexecParams(c->conn, sql, 2, NULL, params, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        e = pg_map(c->conn, res, what);
    /* the result is copied by libpq: release the connection before fn runs */
    pg_release(p, c);
    int n = e ? 0 : PQntuples(res);
    for (int i = 0; !e && i < n && (size_t)i < max; i++)
        e = fn(arg, PQgetvalue(res, i, 0));
    PQclear(res);
    return e;
}

/* ---- integrations (I1) ----------------------------------------------------- */

/*
 * The tenant of an enabled integration, through the SECURITY DEFINER function
 * of migration 0013 (the application role cannot see other tenants' rows).
 * No app.tenant_id is set: nothing else can be read on this connection.
 */
static enum err pg_integration_tenant(struct storage *s, const char *integration_id,
                                      struct tenant_ctx *out)
{
    struct pg_storage *p = pg_of(s);
    struct pg_conn *c = NULL;
    enum err e = pg_acquire(p, &c, NULL);
    if (e)
        return e;
    const char *params[1] = {integration_id};
    PGresult *res =
        PQexecParams(c->conn, "SELECT public.shiplog_integration_tenant($1::uuid)::text", 1, NULL,
                     params, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        e = pg_map(c->conn, res, "integration tenant");
    pg_release(p, c);
    if (!e) {
        if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
            e = ERR_NOT_FOUND;
        else if ((size_t)PQgetlength(res, 0, 0) != STORAGE_TENANT_ID_LEN)
            e = ERR_DB;
        else
            memcpy(out->id, PQgetvalue(res, 0, 0), STORAGE_TENANT_ID_LEN + 1);
    }
    PQclear(res);
    return e;
}

/*
 * The tenant of a public feed's slug: the SECURITY DEFINER function of
 * migration 0022. No app.tenant_id is set: nothing else can be read on this
 * connection.
 */
static enum err pg_tenant_by_slug(struct storage *s, const char *slug, struct tenant_ctx *out)
{
    struct pg_storage *p = pg_of(s);
    struct pg_conn *c = NULL;
    enum err e = pg_acquire(p, &c, NULL);
    if (e)
        return e;
    const char *params[1] = {slug};
    PGresult *res = PQexecParams(c->conn, "SELECT public.shiplog_tenant_by_slug($1::text)::text", 1,
                                 NULL, params, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        e = pg_map(c->conn, res, "tenant by slug");
    pg_release(p, c);
    if (!e) {
        if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
            e = ERR_NOT_FOUND;
        else if ((size_t)PQgetlength(res, 0, 0) != STORAGE_TENANT_ID_LEN)
            e = ERR_DB;
        else
            memcpy(out->id, PQgetvalue(res, 0, 0), STORAGE_TENANT_ID_LEN + 1);
    }
    PQclear(res);
    return e;
}

/* Tenant ids with due pending mail (migration 0006). */
static enum err pg_pending_outbox_tenants(struct storage *s, int64_t now_unix, size_t max,
                                          enum err (*fn)(void *arg, const char *tenant_id),
                                          void *arg)
{
    return pg_due_tenants(s,
                          "SELECT t::text FROM public.shiplog_outbox_due_tenants("
                          "to_timestamp($1::bigint), $2::int) AS t",
                          "outbox tenants", now_unix, max, fn, arg);
}

/* Tenant ids with due jobs (the jobs migration). */
static enum err pg_due_job_tenants(struct storage *s, int64_t now_unix, size_t max,
                                   enum err (*fn)(void *arg, const char *tenant_id), void *arg)
{
    return pg_due_tenants(s,
                          "SELECT t::text FROM public.shiplog_jobs_due_tenants("
                          "to_timestamp($1::bigint), $2::int) AS t",
                          "job tenants", now_unix, max, fn, arg);
}

/* Tenant ids with deliveries past their retention (migration 0016). */
static enum err pg_retention_due_tenants(struct storage *s, int64_t now_unix, size_t max,
                                         enum err (*fn)(void *arg, const char *tenant_id),
                                         void *arg)
{
    return pg_due_tenants(s,
                          "SELECT t::text FROM public.shiplog_retention_due_tenants("
                          "$1::bigint, $2::int) AS t",
                          "retention tenants", now_unix, max, fn, arg);
}

/* BEGIN plus the migrators' advisory lock, so concurrent `migrate` runs queue. */
static enum err pg_begin_locked(PGconn *conn)
{
    enum err e = pg_exec(conn, "BEGIN", "migrate begin");
    if (!e)
        e = pg_exec(conn, "SELECT pg_advisory_xact_lock(" PG_MIGRATION_LOCK_KEY ")",
                    "migrate lock");
    return e;
}

static enum err pg_migrations_init(struct storage *s, struct buf *detail)
{
    struct pg_storage *p = pg_of(s);
    struct pg_conn *c = NULL;
    enum err e = pg_acquire(p, &c, detail);
    if (e)
        return e;
    e = pg_begin_locked(c->conn);
    if (!e)
        e = pg_exec(c->conn,
                    "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
                    " version integer PRIMARY KEY,"
                    " name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())",
                    "create schema_migrations");
    if (!e)
        e = pg_exec(c->conn, "COMMIT", "commit");
    if (e)
        storage_detail(detail, "postgresql: cannot create schema_migrations");
    pg_release(p, c);
    return e;
}

static enum err pg_migration_apply(struct storage *s, const struct storage_migration *m,
                                   bool *applied, struct buf *detail)
{
    struct pg_storage *p = pg_of(s);
    *applied = false;
    struct pg_conn *c = NULL;
    enum err e = pg_acquire(p, &c, detail);
    if (e)
        return e;
    char ver[16];
    snprintf(ver, sizeof ver, "%d", m->version);
    const char *const params[] = {ver, m->name};
    bool done = false;
    e = pg_begin_locked(c->conn);
    if (!e) {
        PGresult *res =
            PQexecParams(c->conn, "SELECT 1 FROM public.schema_migrations WHERE version = $1", 1,
                         NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
            e = pg_map(c->conn, res, "migration check");
        else
            done = PQntuples(res) > 0;
        PQclear(res);
    }
    if (!e && !done) {
        e = pg_exec(c->conn, m->sql, "migration");
        if (!e) {
            PGresult *res = PQexecParams(c->conn,
                                         "INSERT INTO public.schema_migrations (version, name) "
                                         "VALUES ($1, $2)",
                                         2, NULL, params, NULL, NULL, 0);
            if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
                e = pg_map(c->conn, res, "migration record");
            PQclear(res);
        }
    }
    if (!e)
        e = pg_exec(c->conn, "COMMIT", "commit");
    if (e)
        storage_detail(detail, "postgresql: migration %04d_%s failed", m->version, m->name);
    else
        *applied = !done;
    pg_release(p, c); /* rolls back on failure */
    return e;
}

/* ---- transactions -------------------------------------------------------- */

static enum err pg_begin(struct storage *s, const struct tenant_ctx *t, enum tx_mode mode,
                         struct tx **out)
{
    struct pg_storage *p = pg_of(s);
    struct pg_conn *c = NULL;
    struct buf detail = BUF_INIT(1024);
    enum err e = pg_acquire(p, &c, &detail);
    if (e) {
        log_error("storage: no postgresql connection", LOG_STR("detail", buf_cstr(&detail)),
                  LOG_ERR(e));
        buf_release(&detail);
        return e;
    }
    buf_release(&detail);
    const char *begin = mode == TX_READ ? "BEGIN READ ONLY" : "BEGIN";
    e = pg_exec(c->conn, begin, "begin");
    if (e == ERR_UNAVAILABLE && PQstatus(c->conn) == CONNECTION_BAD) {
        /*
         * A pooled connection can die without libpq noticing until it is used
         * (a database restart): reset it once here so the first request after
         * a restart does not fail.
         */
        PQreset(c->conn);
        if (PQstatus(c->conn) == CONNECTION_OK && pg_setup(p, c->conn, NULL) == ERR_OK)
            e = pg_exec(c->conn, begin, "begin");
    }
    if (!e) {
        const char *const params[] = {t->id};
        PGresult *res = PQexecParams(c->conn, "SELECT set_config('app.tenant_id', $1, true)", 1,
                                     NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
            e = pg_map(c->conn, res, "set tenant");
        PQclear(res);
    }
    if (e) {
        pg_release(p, c);
        return e;
    }
    struct pg_tx *tx = calloc(1, sizeof *tx);
    if (!tx)
        err_oom();
    tx->c = c;
    *out = &tx->base;
    return ERR_OK;
}

static enum err pg_commit(struct tx *base)
{
    struct pg_tx *tx = (struct pg_tx *)base;
    PGconn *conn = tx->c->conn;
    PGresult *res = PQexec(conn, "COMMIT");
    enum err e = ERR_OK;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
        e = pg_map(conn, res, "commit");
    else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
        e = ERR_DB; /* the server rolled back an aborted transaction */
    PQclear(res);
    pg_release(pg_of(base->s), tx->c);
    free(tx);
    return e;
}

static void pg_rollback(struct tx *base)
{
    struct pg_tx *tx = (struct pg_tx *)base;
    pg_release(pg_of(base->s), tx->c); /* rolls back what is still open */
    free(tx);
}

/* ---- statements ---------------------------------------------------------- */

static enum err pg_prepare(struct tx *base, const char *sql, size_t len, struct stmt **out)
{
    (void)base;
    int max_param = 0;
    enum err e = storage_sql_check(sql, len, NULL, &max_param);
    if (e)
        return e;
    struct pg_stmt *s = calloc(1, sizeof *s);
    if (!s)
        err_oom();
    s->sql = malloc(len + 1);
    if (!s->sql)
        err_oom();
    memcpy(s->sql, sql, len + 1);
    s->blob = calloc(1, sizeof *s->blob);
    if (!s->blob)
        err_oom();
    s->row = -1;
    s->base.max_param = max_param;
    *out = &s->base;
    return ERR_OK;
}

static enum err pg_run(struct pg_stmt *s)
{
    struct tx *tx = s->base.tx;
    PGconn *conn = ((struct pg_tx *)tx)->c->conn;
    int n = s->base.max_param;
    const char *values[STORAGE_MAX_PARAMS];
    int lengths[STORAGE_MAX_PARAMS];
    int formats[STORAGE_MAX_PARAMS];
    Oid types[STORAGE_MAX_PARAMS];
    char ints[STORAGE_MAX_PARAMS][24];
    values[0] = tx->tenant.id;
    lengths[0] = 0;
    formats[0] = 0;
    types[0] = 0;
    for (int i = 2; i <= n; i++) {
        const struct storage_param *prm = &s->base.params[i];
        int k = i - 1;
        lengths[k] = 0;
        formats[k] = 0;
        types[k] = 0; /* let the server infer from the statement */
        switch (prm->kind) {
        case PARAM_NULL:
            values[k] = NULL;
            break;
        case PARAM_TEXT:
            values[k] = prm->data;
            break;
        case PARAM_INT:
            snprintf(ints[k], sizeof ints[k], "%" PRId64, prm->i);
            values[k] = ints[k];
            break;
        case PARAM_BLOB:
            if (prm->len > (size_t)0x7fffffff)
                return ERR_LIMIT;
            values[k] = prm->data;
            lengths[k] = (int)prm->len;
            formats[k] = 1;
            types[k] = PG_OID_BYTEA;
            break;
        case PARAM_UNSET:
        default:
            return ERR_INVALID;
        }
    }
    PGresult *res = PQexecParams(conn, s->sql, n, types, values, lengths, formats, 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        enum err e = pg_map(conn, res, "statement");
        PQclear(res);
        return e == ERR_OK ? ERR_DB : e;
    }
    s->res = res;
    s->nrows = st == PGRES_TUPLES_OK ? PQntuples(res) : 0;
    const char *tuples = PQcmdTuples(res);
    s->changes = tuples && tuples[0] ? strtoull(tuples, NULL, 10) : 0;
    return ERR_OK;
}

static enum err pg_step(struct stmt *base, bool *row)
{
    struct pg_stmt *s = (struct pg_stmt *)base;
    *row = false;
    pg_blob_clear(s->blob);
    if (!s->res) {
        enum err e = pg_run(s);
        if (e)
            return e;
    }
    if (s->row < s->nrows)
        s->row++;
    *row = s->row < s->nrows;
    return ERR_OK;
}

static bool pg_col_ok(const struct pg_stmt *s, int col)
{
    return s->res && s->row >= 0 && s->row < s->nrows && col >= 0 && col < PQnfields(s->res);
}

static size_t pg_column_count(const struct stmt *base)
{
    const struct pg_stmt *s = (const struct pg_stmt *)base;
    return s->res ? (size_t)PQnfields(s->res) : 0;
}

static bool pg_col_is_null(const struct stmt *base, int col)
{
    const struct pg_stmt *s = (const struct pg_stmt *)base;
    return !pg_col_ok(s, col) || PQgetisnull(s->res, s->row, col);
}

static struct str pg_col_text(const struct stmt *base, int col)
{
    const struct pg_stmt *s = (const struct pg_stmt *)base;
    if (pg_col_is_null(base, col))
        return STR_NULL;
    return str_from(PQgetvalue(s->res, s->row, col), (size_t)PQgetlength(s->res, s->row, col));
}

static int64_t pg_col_int(const struct stmt *base, int col)
{
    const struct pg_stmt *s = (const struct pg_stmt *)base;
    if (pg_col_is_null(base, col))
        return 0;
    const char *v = PQgetvalue(s->res, s->row, col);
    if (strcmp(v, "t") == 0)
        return 1; /* boolean columns read as 0/1, as in SQLite */
    if (strcmp(v, "f") == 0)
        return 0;
    return strtoll(v, NULL, 10);
}

static struct str pg_col_blob(const struct stmt *base, int col)
{
    const struct pg_stmt *s = (const struct pg_stmt *)base;
    if (pg_col_is_null(base, col))
        return STR_NULL;
    struct pg_blob *b = s->blob;
    if (b->n == 0) {
        b->n = PQnfields(s->res);
        b->bytes = calloc((size_t)b->n, sizeof(*b->bytes));
        b->len = calloc((size_t)b->n, sizeof(*b->len));
        if (!b->bytes || !b->len)
            err_oom();
    }
    if (col < 0 || col >= b->n)
        return STR_NULL;
    if (!b->bytes[col]) {
        b->bytes[col] =
            PQunescapeBytea((const unsigned char *)PQgetvalue(s->res, s->row, col), &b->len[col]);
        if (!b->bytes[col])
            err_oom();
    }
    return str_from((const char *)b->bytes[col], b->len[col]);
}

static uint64_t pg_changes(const struct stmt *base)
{
    return ((const struct pg_stmt *)base)->changes;
}

static void pg_finish(struct stmt *base)
{
    struct pg_stmt *s = (struct pg_stmt *)base;
    pg_blob_clear(s->blob);
    free(s->blob->bytes);
    free(s->blob->len);
    free(s->blob);
    PQclear(s->res);
    free(s->sql);
    free(s);
}

static const struct backend_ops pg_ops = {
    .tenant_ids = pg_tenant_ids,
    .pending_outbox_tenants = pg_pending_outbox_tenants, /* outbox (A11) */
    .integration_tenant = pg_integration_tenant,         /* integrations (I1) */
    .tenant_by_slug = pg_tenant_by_slug,                 /* the public feed (W1) */
    .due_job_tenants = pg_due_job_tenants,               /* jobs (I6) */
    .retention_due_tenants = pg_retention_due_tenants,   /* ingest retention (I7) */
    .close = pg_close,
    .schema_version = pg_schema_version,
    .migrations_init = pg_migrations_init,
    .migration_apply = pg_migration_apply,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .prepare = pg_prepare,
    .step = pg_step,
    .column_count = pg_column_count,
    .col_is_null = pg_col_is_null,
    .col_text = pg_col_text,
    .col_int = pg_col_int,
    .col_blob = pg_col_blob,
    .changes = pg_changes,
    .finish = pg_finish,
};
