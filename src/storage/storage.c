/*
 * storage — dispatch and the logic both backends share; see storage.h.
 *
 * Everything that can be decided without the database is decided here, before
 * a backend sees the statement: the SQL length limit, the placeholder scan
 * ($1 must appear, indexes within 1..STORAGE_MAX_PARAMS), parameter indexes,
 * and the rule that a transaction whose statement failed can only roll back
 * (PostgreSQL aborts such a transaction anyway; SQLite is made to behave the
 * same so callers cannot come to depend on the difference).
 */
#include "storage/storage.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "storage/backend.h"

#define STORAGE_DEFAULT_POOL       8
#define STORAGE_MAX_POOL           256
#define STORAGE_DEFAULT_TIMEOUT_MS 5000
#define STORAGE_MAX_TIMEOUT_MS     (24u * 3600u * 1000u)

int64_t storage_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void storage_detail(struct buf *detail, const char *fmt, ...)
{
    if (!detail)
        return;
    va_list ap;
    va_start(ap, fmt);
    /* A detail that does not fit is dropped: it is a log aid, never a result. */
    if (buf_vprintf(detail, fmt, ap) != ERR_OK) {
        /* nothing to do */
    }
    va_end(ap);
}

/* ---- placeholders -------------------------------------------------------- */

static bool is_ident_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/*
 * If sql[i] starts a PostgreSQL dollar quote ($$ or $tag$), returns the length
 * of the opening tag, else 0.
 */
static size_t dollar_tag_len(const char *sql, size_t len, size_t i)
{
    size_t j = i + 1;
    if (j < len && is_digit((unsigned char)sql[j]))
        return 0; /* $n is a placeholder */
    while (j < len && is_ident_char((unsigned char)sql[j]))
        j++;
    if (j < len && sql[j] == '$')
        return j - i + 1;
    return 0;
}

enum err storage_sql_scan(const char *sql, size_t len, struct sql_scan *out, char *rewrite)
{
    out->max_param = 0;
    out->has_tenant = false;
    out->multiple = false;
    bool semicolon = false;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)sql[i];
        bool comment = (c == '-' && i + 1 < len && sql[i + 1] == '-') ||
                       (c == '/' && i + 1 < len && sql[i + 1] == '*');
        if (c == ';')
            semicolon = true;
        else if (semicolon && !comment && c != ' ' && c != '\t' && c != '\n' && c != '\r')
            out->multiple = true;
        /* Quoting the two dialects read differently could hide a placeholder
         * from this scan (or show one the database never binds): refused. */
        if (c == '`' || (c == '[' && rewrite) ||
            ((c == 'E' || c == 'e') && i + 1 < len && sql[i + 1] == '\'' &&
             (i == 0 || !is_ident_char((unsigned char)sql[i - 1]))))
            return ERR_INVALID;
        if (c == '\'' || c == '"') {
            /* String literal or quoted identifier; a doubled quote escapes. */
            i++;
            while (i < len) {
                if ((unsigned char)sql[i] == c) {
                    if (i + 1 < len && (unsigned char)sql[i + 1] == c) {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i++;
            }
            i++;
        } else if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n')
                i++;
        } else if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
            i += 2;
            while (i < len && !(sql[i] == '*' && i + 1 < len && sql[i + 1] == '/')) {
                if (sql[i] == '/' && i + 1 < len && sql[i + 1] == '*')
                    return ERR_INVALID; /* PostgreSQL nests comments, SQLite does not */
                i++;
            }
            i += 2;
        } else if (c == '$') {
            bool after_ident = i > 0 && is_ident_char((unsigned char)sql[i - 1]);
            size_t tag = after_ident ? 0 : dollar_tag_len(sql, len, i);
            if (tag) {
                /* Dollar-quoted text: skip to the same tag. */
                size_t j = i + tag;
                while (j < len && !(j + tag <= len && memcmp(sql + j, sql + i, tag) == 0))
                    j++;
                i = j + tag;
                continue;
            }
            if (after_ident || i + 1 >= len || !is_digit((unsigned char)sql[i + 1])) {
                i++;
                continue;
            }
            size_t j = i + 1;
            unsigned long n = 0;
            while (j < len && is_digit((unsigned char)sql[j])) {
                if (n <= STORAGE_MAX_PARAMS)
                    n = n * 10 + (unsigned long)(sql[j] - '0');
                j++;
            }
            if (n < 1 || n > STORAGE_MAX_PARAMS)
                return ERR_INVALID;
            if ((int)n > out->max_param)
                out->max_param = (int)n;
            if (n == 1)
                out->has_tenant = true;
            if (rewrite)
                rewrite[i] = '?';
            i = j;
        } else {
            i++;
        }
    }
    return ERR_OK;
}

enum err storage_sql_check(const char *sql, size_t len, char *rewrite, int *max_param)
{
    struct sql_scan scan;
    enum err e = storage_sql_scan(sql, len, &scan, rewrite);
    if (e)
        return e;
    if (scan.multiple) {
        log_error("storage: more than one SQL statement", LOG_ERR(ERR_INVALID));
        return ERR_INVALID;
    }
    if (!scan.has_tenant) {
        log_error("storage: statement does not reference the tenant ($1)", LOG_ERR(ERR_INVALID));
        return ERR_INVALID;
    }
    *max_param = scan.max_param;
    return ERR_OK;
}

/* ---- tenant ids ---------------------------------------------------------- */

bool storage_tenant_id_valid(struct str id)
{
    return str_is_uuid(id);
}

/* ---- open / close -------------------------------------------------------- */

static enum err open_common(const struct storage_options *opt, bool migrator, struct storage **out,
                            struct buf *detail)
{
    *out = NULL;
    if (!opt) {
        storage_detail(detail, "storage: no options");
        return ERR_CONFIG;
    }
    struct storage_options o = *opt;
    if (o.pool_size == 0)
        o.pool_size = STORAGE_DEFAULT_POOL;
    if (o.pool_size > STORAGE_MAX_POOL) {
        storage_detail(detail, "storage: pool_size %u is over the limit %u", o.pool_size,
                       STORAGE_MAX_POOL);
        return ERR_CONFIG;
    }
    if (o.statement_timeout_ms == 0)
        o.statement_timeout_ms = STORAGE_DEFAULT_TIMEOUT_MS;
    if (o.statement_timeout_ms > STORAGE_MAX_TIMEOUT_MS) {
        storage_detail(detail, "storage: statement_timeout_ms %u is over the limit %u",
                       o.statement_timeout_ms, STORAGE_MAX_TIMEOUT_MS);
        return ERR_CONFIG;
    }
    if (o.database_url && o.database_url[0]) {
        struct str url = str_from_cstr(o.database_url);
        if (!str_starts_with(url, STR_LIT("postgresql://")) &&
            !str_starts_with(url, STR_LIT("postgres://"))) {
            storage_detail(detail, "storage: database URL must start with postgresql://");
            return ERR_CONFIG;
        }
        return postgres_backend_open(&o, migrator, out, detail);
    }
    if (!o.sqlite_path || !o.sqlite_path[0]) {
        storage_detail(detail, "storage: neither a database URL nor a SQLite path is set");
        return ERR_CONFIG;
    }
    return sqlite_backend_open(&o, out, detail);
}

enum err storage_open(const struct storage_options *opt, struct storage **out, struct buf *detail)
{
    enum err e = open_common(opt, false, out, detail);
    if (!e) {
        (*out)->schema = opt->schema;
        (*out)->maintenance = false;
    }
    return e;
}

enum err storage_open_migrator(const struct storage_options *opt, struct storage **out,
                               struct buf *detail)
{
    enum err e = open_common(opt, true, out, detail);
    if (!e) {
        (*out)->schema = opt->schema;
        (*out)->maintenance = true;
    }
    return e;
}

enum err storage_tenant_ids(struct storage *s, enum err (*fn)(void *arg, const char *tenant_id),
                            void *arg)
{
    if (!s->maintenance || s->schema != STORAGE_SCHEMA_MAIN)
        return ERR_FORBIDDEN;
    return s->ops->tenant_ids(s, fn, arg);
}

/* outbox (A11): see storage.h */
enum err storage_pending_outbox_tenants(struct storage *s, int64_t now_unix, size_t max,
                                        enum err (*fn)(void *arg, const char *tenant_id), void *arg)
{
    if (s->schema != STORAGE_SCHEMA_MAIN)
        return ERR_FORBIDDEN;
    if (max == 0 || max > STORAGE_MAX_DUE_TENANTS)
        return ERR_INVALID;
    return s->ops->pending_outbox_tenants(s, now_unix, max, fn, arg);
}

/* integrations (I1): see storage.h */
enum err storage_integration_tenant(struct storage *s, struct str integration_id,
                                    struct tenant_ctx *out)
{
    memset(out, 0, sizeof *out);
    if (s->schema != STORAGE_SCHEMA_MAIN)
        return ERR_FORBIDDEN;
    if (!storage_tenant_id_valid(integration_id))
        return ERR_NOT_FOUND;
    char id[STORAGE_TENANT_ID_LEN + 1];
    memcpy(id, integration_id.ptr, STORAGE_TENANT_ID_LEN);
    id[STORAGE_TENANT_ID_LEN] = '\0';
    enum err e = s->ops->integration_tenant(s, id, out);
    if (!e && !storage_tenant_id_valid(str_from_cstr(out->id)))
        e = ERR_DB; /* the database answered something that is no tenant id */
    if (e)
        memset(out, 0, sizeof *out);
    return e;
}

/* the public feed (W1): see storage.h */
bool storage_slug_valid(struct str s)
{
    if (s.len == 0 || s.len > STORAGE_MAX_SLUG || s.ptr[0] == '-')
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

enum err storage_tenant_by_slug(struct storage *s, struct str slug, struct tenant_ctx *out)
{
    memset(out, 0, sizeof *out);
    if (s->schema != STORAGE_SCHEMA_MAIN)
        return ERR_FORBIDDEN;
    if (!storage_slug_valid(slug))
        return ERR_NOT_FOUND;
    char text[STORAGE_MAX_SLUG + 1];
    memcpy(text, slug.ptr, slug.len);
    text[slug.len] = '\0';
    enum err e = s->ops->tenant_by_slug(s, text, out);
    if (!e && !storage_tenant_id_valid(str_from_cstr(out->id)))
        e = ERR_DB; /* the database answered something that is no tenant id */
    if (e)
        memset(out, 0, sizeof *out);
    return e;
}

/* jobs (I6): see storage.h */
enum err storage_due_job_tenants(struct storage *s, int64_t now_unix, size_t max,
                                 enum err (*fn)(void *arg, const char *tenant_id), void *arg)
{
    if (s->schema != STORAGE_SCHEMA_MAIN)
        return ERR_FORBIDDEN;
    if (max == 0 || max > STORAGE_MAX_DUE_TENANTS)
        return ERR_INVALID;
    return s->ops->due_job_tenants(s, now_unix, max, fn, arg);
}

/* ingest retention (I7): see storage.h */
enum err storage_retention_due_tenants(struct storage *s, int64_t now_unix, size_t max,
                                       enum err (*fn)(void *arg, const char *tenant_id), void *arg)
{
    if (s->schema != STORAGE_SCHEMA_MAIN)
        return ERR_FORBIDDEN;
    if (max == 0 || max > STORAGE_MAX_DUE_TENANTS)
        return ERR_INVALID;
    return s->ops->retention_due_tenants(s, now_unix, max, fn, arg);
}

void storage_close(struct storage *s)
{
    if (s)
        s->ops->close(s);
}

enum storage_backend storage_backend_of(const struct storage *s)
{
    return s->backend;
}

const char *storage_backend_name(enum storage_backend b)
{
    return b == STORAGE_POSTGRES ? "postgresql" : "sqlite";
}

/* ---- migrations ---------------------------------------------------------- */

static const struct storage_migration *migrations_of(const struct storage *s, size_t *n)
{
    bool vault = s->schema == STORAGE_SCHEMA_VAULT;
    if (s->backend == STORAGE_POSTGRES) {
        *n = vault ? storage_migrations_postgres_vault_len : storage_migrations_postgres_len;
        return vault ? storage_migrations_postgres_vault : storage_migrations_postgres;
    }
    *n = vault ? storage_migrations_sqlite_vault_len : storage_migrations_sqlite_len;
    return vault ? storage_migrations_sqlite_vault : storage_migrations_sqlite;
}

int storage_latest_version(const struct storage *s)
{
    size_t n;
    const struct storage_migration *m = migrations_of(s, &n);
    return n ? m[n - 1].version : 0;
}

enum err storage_migrate(struct storage *s, struct buf *detail)
{
    size_t n;
    const struct storage_migration *m = migrations_of(s, &n);
    enum err e = s->ops->migrations_init(s, detail);
    if (e)
        return e;
    int current = 0;
    e = s->ops->schema_version(s, &current, detail);
    if (e)
        return e;
    int latest = storage_latest_version(s);
    if (current > latest) {
        storage_detail(detail, "storage: database schema version %d is newer than this binary (%d)",
                       current, latest);
        return ERR_CONFIG;
    }
    for (size_t i = 0; i < n; i++) {
        if (m[i].version <= current)
            continue;
        bool applied = false;
        e = s->ops->migration_apply(s, &m[i], &applied, detail);
        if (e) {
            log_error("storage: migration failed", LOG_INT("version", m[i].version),
                      LOG_STR("name", m[i].name), LOG_ERR(e));
            return e;
        }
        if (applied)
            log_info("storage: migration applied",
                     LOG_STR("backend", storage_backend_name(s->backend)),
                     LOG_INT("version", m[i].version), LOG_STR("name", m[i].name));
    }
    return ERR_OK;
}

enum err storage_ready(struct storage *s, struct buf *detail)
{
    int version = 0;
    enum err e = s->ops->schema_version(s, &version, detail);
    if (e)
        return ERR_UNAVAILABLE;
    int latest = storage_latest_version(s);
    if (version != latest) {
        storage_detail(detail, "storage: schema version %d, this binary needs %d", version, latest);
        return ERR_UNAVAILABLE;
    }
    return ERR_OK;
}

/* ---- transactions -------------------------------------------------------- */

enum err storage_begin(struct storage *s, const struct tenant_ctx *t, enum tx_mode mode,
                       struct tx **out)
{
    *out = NULL;
    if (!s || !t || (mode != TX_READ && mode != TX_WRITE))
        return ERR_INVALID;
    if (strnlen(t->id, sizeof t->id) != STORAGE_TENANT_ID_LEN ||
        !storage_tenant_id_valid(str_from(t->id, STORAGE_TENANT_ID_LEN)))
        return ERR_INVALID;
    struct tx *tx = NULL;
    enum err e = s->ops->begin(s, t, mode, &tx);
    if (e)
        return e;
    tx->s = s;
    tx->mode = mode;
    tx->tenant = *t;
    tx->failed = ERR_OK;
    *out = tx;
    return ERR_OK;
}

enum err storage_commit(struct tx *tx)
{
    if (!tx)
        return ERR_INVALID;
    if (tx->failed) {
        enum err e = tx->failed;
        tx->s->ops->rollback(tx);
        return e;
    }
    struct storage *s = tx->s;
    bool write = tx->mode == TX_WRITE;
    enum err e = s->ops->commit(tx); /* frees tx */
    if (!e && write)
        atomic_fetch_add_explicit(&s->write_commits, 1, memory_order_relaxed);
    return e;
}

uint64_t storage_write_commits(const struct storage *s)
{
    return atomic_load_explicit(&s->write_commits, memory_order_relaxed);
}

void storage_rollback(struct tx *tx)
{
    if (tx)
        tx->s->ops->rollback(tx);
}

enum storage_backend storage_tx_backend(const struct tx *tx)
{
    return tx->s->backend;
}

/* ---- statements ---------------------------------------------------------- */

enum err tx_prepare(struct tx *tx, const char *sql, struct stmt **out)
{
    *out = NULL;
    if (!tx || !sql)
        return ERR_INVALID;
    if (tx->failed)
        return tx->failed;
    size_t len = strnlen(sql, (size_t)STORAGE_MAX_SQL + 1);
    if (len > STORAGE_MAX_SQL)
        return ERR_LIMIT;
    struct stmt *st = NULL;
    enum err e = tx->s->ops->prepare(tx, sql, len, &st);
    if (e) {
        if (e != ERR_INVALID && e != ERR_LIMIT)
            tx->failed = e;
        return e;
    }
    ASSERT(st->max_param >= 1); /* the backend checked the text (storage_sql_check) */
    st->tx = tx;
    st->started = false;
    *out = st;
    return ERR_OK;
}

static enum err param_slot(struct stmt *st, int idx, struct storage_param **out)
{
    if (!st || idx < 2 || idx > STORAGE_MAX_PARAMS || idx > st->max_param || st->started)
        return ERR_INVALID;
    struct storage_param *p = &st->params[idx];
    free(p->data);
    memset(p, 0, sizeof *p);
    *out = p;
    return ERR_OK;
}

enum err stmt_bind_text(struct stmt *st, int idx, struct str v)
{
    if (v.len && (!v.ptr || memchr(v.ptr, '\0', v.len)))
        return ERR_INVALID; /* PostgreSQL text cannot hold NUL: refuse on both */
    if (v.len > STORAGE_MAX_SQL * (size_t)1024)
        return ERR_LIMIT;
    struct storage_param *p;
    enum err e = param_slot(st, idx, &p);
    if (e)
        return e;
    p->data = malloc(v.len + 1);
    if (!p->data)
        err_oom();
    if (v.len)
        memcpy(p->data, v.ptr, v.len);
    p->data[v.len] = '\0';
    p->len = v.len;
    p->kind = PARAM_TEXT;
    return ERR_OK;
}

enum err stmt_bind_int(struct stmt *st, int idx, int64_t v)
{
    struct storage_param *p;
    enum err e = param_slot(st, idx, &p);
    if (e)
        return e;
    p->kind = PARAM_INT;
    p->i = v;
    return ERR_OK;
}

enum err stmt_bind_blob(struct stmt *st, int idx, const void *data, size_t len)
{
    if (len && !data)
        return ERR_INVALID;
    if (len > STORAGE_MAX_SQL * (size_t)1024)
        return ERR_LIMIT;
    struct storage_param *p;
    enum err e = param_slot(st, idx, &p);
    if (e)
        return e;
    p->data = malloc(len ? len : 1);
    if (!p->data)
        err_oom();
    if (len)
        memcpy(p->data, data, len);
    p->len = len;
    p->kind = PARAM_BLOB;
    return ERR_OK;
}

enum err stmt_bind_null(struct stmt *st, int idx)
{
    struct storage_param *p;
    enum err e = param_slot(st, idx, &p);
    if (e)
        return e;
    p->kind = PARAM_NULL;
    return ERR_OK;
}

enum err stmt_step(struct stmt *st, bool *row)
{
    *row = false;
    if (!st)
        return ERR_INVALID;
    if (st->tx->failed)
        return st->tx->failed;
    if (!st->started) {
        for (int i = 2; i <= st->max_param; i++)
            if (st->params[i].kind == PARAM_UNSET)
                return ERR_INVALID; /* a referenced placeholder was never bound */
        st->started = true;
    }
    enum err e = st->tx->s->ops->step(st, row);
    if (e) {
        *row = false;
        st->tx->failed = e;
    }
    return e;
}

size_t stmt_column_count(const struct stmt *st)
{
    return st->tx->s->ops->column_count(st);
}

bool stmt_col_is_null(const struct stmt *st, int col)
{
    return st->tx->s->ops->col_is_null(st, col);
}

struct str stmt_col_text(const struct stmt *st, int col)
{
    return st->tx->s->ops->col_text(st, col);
}

int64_t stmt_col_int(const struct stmt *st, int col)
{
    return st->tx->s->ops->col_int(st, col);
}

struct str stmt_col_blob(const struct stmt *st, int col)
{
    return st->tx->s->ops->col_blob(st, col);
}

uint64_t stmt_changes(const struct stmt *st)
{
    return st->tx->s->ops->changes(st);
}

void stmt_finish(struct stmt *st)
{
    if (!st)
        return;
    for (int i = 0; i <= STORAGE_MAX_PARAMS; i++) {
        free(st->params[i].data);
        st->params[i].data = NULL;
    }
    st->tx->s->ops->finish(st);
}

enum err tx_exec(struct tx *tx, const char *sql)
{
    struct stmt *st = NULL;
    enum err e = tx_prepare(tx, sql, &st);
    if (e)
        return e;
    bool row = true;
    while (row && !e)
        e = stmt_step(st, &row);
    stmt_finish(st);
    return e;
}

static enum err bind_args(struct stmt *st, const struct storage_arg *args, size_t n)
{
    enum err e = ERR_OK;
    for (size_t i = 0; i < n && !e; i++) {
        int idx = (int)i + 2;
        switch (args[i].kind) {
        case STORAGE_ARG_TEXT:
            e = stmt_bind_text(st, idx, args[i].s);
            break;
        case STORAGE_ARG_INT:
            e = stmt_bind_int(st, idx, args[i].i);
            break;
        case STORAGE_ARG_NULL:
            e = stmt_bind_null(st, idx);
            break;
        case STORAGE_ARG_BLOB:
            e = stmt_bind_blob(st, idx, args[i].s.ptr, args[i].s.len);
            break;
        }
    }
    return e;
}

enum err tx_query(struct tx *tx, const char *sql, const struct storage_arg *args, size_t n,
                  struct stmt **out, bool *row)
{
    *out = NULL;
    *row = false;
    struct stmt *st = NULL;
    enum err e = tx_prepare(tx, sql, &st);
    if (e)
        return e;
    e = bind_args(st, args, n);
    if (!e)
        e = stmt_step(st, row);
    if (e) {
        stmt_finish(st);
        return e;
    }
    *out = st;
    return ERR_OK;
}

enum err tx_exec_args(struct tx *tx, const char *sql, const struct storage_arg *args, size_t n,
                      uint64_t *changes)
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx, sql, args, n, &st, &row);
    while (!e && row)
        e = stmt_step(st, &row);
    if (changes)
        *changes = e ? 0 : stmt_changes(st);
    stmt_finish(st);
    return e;
}
