/*
 * store — deliveries and normalized rows in the database; see store.h for
 * the API and the upsert rules.
 *
 * One SQL text per statement for both backends: times are integer Unix
 * seconds on both (bigint on PostgreSQL), parameters sit where PostgreSQL
 * infers their type from a column, or are CAST explicitly (CAST(... AS TEXT)
 * is understood by both). The upserts are INSERT ... ON CONFLICT (tenant_id,
 * id) DO UPDATE, whose SET clauses read only excluded.* and the stored row:
 *   keep known     c = COALESCE(excluded.c, t.c)
 *   earliest       c = the smaller of the two known values
 *   stale-aware    c = CASE WHEN <stale> THEN COALESCE(t.c, excluded.c)
 *                       ELSE COALESCE(excluded.c, t.c) END
 * Every input is validated for the whole batch before the first statement.
 */
#include "ingest/store.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/pack.h"
#include "crypto/rand.h"

_Static_assert(INGEST_MAX_STORED_BODY <= STORAGE_MAX_SQL * (size_t)1024,
               "storage binds the body whole");

/* JSON text of the largest label array: every byte escaped as \uXXXX, quotes, commas. */
#define LABELS_JSON_MAX ((size_t)INGEST_MAX_LABELS * (INGEST_MAX_LABEL * 6 + 3) + 2)

static const char *const status_names[] = {
    [INGEST_DELIVERY_ACCEPTED] = "accepted", [INGEST_DELIVERY_PROCESSED] = "processed",
    [INGEST_DELIVERY_IGNORED] = "ignored",   [INGEST_DELIVERY_FAILED] = "failed",
    [INGEST_DELIVERY_DEAD] = "dead",
};

static const char *const providers[] = {"github", "gitlab", "bitbucket", "bitbucket-server",
                                        "azure-devops"};

const char *ingest_delivery_status_name(enum ingest_delivery_status s)
{
    if ((unsigned)s >= sizeof status_names / sizeof status_names[0])
        return NULL;
    return status_names[s];
}

static enum ingest_delivery_status status_parse(struct str s)
{
    for (size_t i = 0; i < sizeof status_names / sizeof status_names[0]; i++)
        if (str_eq_cstr(s, status_names[i]))
            return (enum ingest_delivery_status)i;
    return INGEST_DELIVERY_FAILED; /* the table's CHECK makes this unreachable */
}

/* ---- input checks --------------------------------------------------------------- */

/* An optional text: unknown (NULL) or 0..max bytes. */
static enum err check_opt(struct str s, size_t max)
{
    if (s.len > max)
        return ERR_LIMIT;
    if (s.len && !s.ptr)
        return ERR_INVALID;
    return ERR_OK;
}

/* A required id: 1..max bytes. */
static enum err check_id(struct str s, size_t max)
{
    if (s.len > max)
        return ERR_LIMIT;
    return s.ptr && s.len ? ERR_OK : ERR_INVALID;
}

/* 1..max bytes of visible ASCII (no space, no control). */
static enum err check_token(struct str s, size_t max)
{
    if (s.len > max)
        return ERR_LIMIT;
    if (!s.ptr || !s.len)
        return ERR_INVALID;
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] < 0x21 || (unsigned char)s.ptr[i] > 0x7e)
            return ERR_INVALID;
    return ERR_OK;
}

/* An event name: 1..max bytes of printable ASCII, inner spaces allowed
 * (GitLab's "Push Hook"), none at either end. */
static enum err check_event(struct str s, size_t max)
{
    if (s.len > max)
        return ERR_LIMIT;
    if (!s.ptr || !s.len || s.ptr[0] == ' ' || s.ptr[s.len - 1] == ' ')
        return ERR_INVALID;
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] < 0x20 || (unsigned char)s.ptr[i] > 0x7e)
            return ERR_INVALID;
    return ERR_OK;
}

static bool provider_known(struct str p)
{
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
        if (str_eq_cstr(p, providers[i]))
            return true;
    return false;
}

static bool delivery_id_valid(struct str id)
{
    if (id.len != INGEST_DELIVERY_ID_LEN || !id.ptr)
        return false;
    for (size_t i = 0; i < id.len; i++) {
        char c = id.ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

static enum err check_person(const struct ingest_person *p)
{
    enum err e = check_opt(p->login, INGEST_MAX_LOGIN);
    if (!e)
        e = check_opt(p->name, INGEST_MAX_NAME);
    if (!e)
        e = check_opt(p->email, INGEST_MAX_EMAIL);
    return e;
}

/* The first error of a list of results (all already evaluated), or ERR_OK. */
static enum err first_err(const enum err *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i])
            return v[i];
    return ERR_OK;
}
/* sizeof does not evaluate its operand: each argument runs once. */
#define FIRST_ERR(...)                                                                             \
    first_err((const enum err[]){__VA_ARGS__},                                                     \
              sizeof((const enum err[]){__VA_ARGS__}) / sizeof(enum err))

static enum err check_repo(const struct ingest_repo *r)
{
    return FIRST_ERR(check_id(r->id, INGEST_MAX_ID), check_opt(r->full_name, INGEST_MAX_FULL_NAME),
                     check_opt(r->url, INGEST_MAX_URL),
                     check_opt(r->default_branch, INGEST_MAX_BRANCH));
}

static bool change_valid(char c)
{
    return c == 'A' || c == 'M' || c == 'D' || c == 'R' || c == '?';
}

static enum err check_commit(const struct ingest_commit *c)
{
    enum err e = FIRST_ERR(check_id(c->id, INGEST_MAX_ID), check_id(c->repo_id, INGEST_MAX_ID),
                           check_opt(c->sha, INGEST_MAX_SHA),
                           check_opt(c->message, INGEST_MAX_MESSAGE), check_person(&c->author),
                           check_person(&c->committer), check_opt(c->branch, INGEST_MAX_BRANCH));
    if (e)
        return e;
    if (c->n_files > INGEST_MAX_FILES)
        return ERR_LIMIT;
    if (c->n_files && !c->files)
        return ERR_INVALID;
    for (size_t i = 0; i < c->n_files; i++) {
        if ((e = check_id(c->files[i].path, INGEST_MAX_PATH)) != ERR_OK)
            return e;
        if (!change_valid(c->files[i].change))
            return ERR_INVALID;
    }
    return ERR_OK;
}

static enum err check_pr(const struct ingest_pr *p)
{
    enum err e = FIRST_ERR(check_id(p->id, INGEST_MAX_ID), check_id(p->repo_id, INGEST_MAX_ID),
                           check_opt(p->title, INGEST_MAX_TITLE),
                           check_opt(p->description, INGEST_MAX_DESCRIPTION),
                           check_opt(p->state, INGEST_MAX_STATE), check_person(&p->author),
                           check_opt(p->source_branch, INGEST_MAX_BRANCH),
                           check_opt(p->target_branch, INGEST_MAX_BRANCH),
                           check_opt(p->merge_commit_sha, INGEST_MAX_SHA));
    if (e)
        return e;
    if (p->number < INGEST_UNKNOWN)
        return ERR_INVALID;
    if (p->state.ptr && !str_eq_cstr(p->state, "open") && !str_eq_cstr(p->state, "closed") &&
        !str_eq_cstr(p->state, "merged"))
        return ERR_INVALID;
    if (p->labels_known) {
        if (p->n_labels > INGEST_MAX_LABELS)
            return ERR_LIMIT;
        if (p->n_labels && !p->labels)
            return ERR_INVALID;
        for (size_t i = 0; i < p->n_labels; i++)
            if ((e = check_opt(p->labels[i], INGEST_MAX_LABEL)) != ERR_OK)
                return e;
    }
    return ERR_OK;
}

static enum err check_review(const struct ingest_review *r)
{
    if (r->kind != INGEST_REVIEW && r->kind != INGEST_REVIEW_COMMENT)
        return ERR_INVALID;
    return FIRST_ERR(check_id(r->id, INGEST_MAX_ID), check_id(r->repo_id, INGEST_MAX_ID),
                     check_id(r->pr_id, INGEST_MAX_ID), check_opt(r->state, INGEST_MAX_STATE),
                     check_person(&r->reviewer));
}

static enum err check_deployment(const struct ingest_deployment *d)
{
    return FIRST_ERR(check_id(d->id, INGEST_MAX_ID), check_id(d->repo_id, INGEST_MAX_ID),
                     check_opt(d->environment, INGEST_MAX_ENVIRONMENT),
                     check_opt(d->status, INGEST_MAX_STATE), check_opt(d->sha, INGEST_MAX_SHA),
                     check_opt(d->ref, INGEST_MAX_BRANCH));
}

static enum err check_release(const struct ingest_release *r)
{
    if (r->kind != INGEST_RELEASE && r->kind != INGEST_TAG)
        return ERR_INVALID;
    return FIRST_ERR(check_id(r->id, INGEST_MAX_ID), check_id(r->repo_id, INGEST_MAX_ID),
                     check_opt(r->tag, INGEST_MAX_TAG), check_opt(r->name, INGEST_MAX_TITLE),
                     check_opt(r->sha, INGEST_MAX_SHA));
}

/* n rows at p (non-NULL when n > 0), at most INGEST_MAX_ROWS. */
static enum err check_count(const void *p, size_t n)
{
    if (n > INGEST_MAX_ROWS)
        return ERR_LIMIT;
    return n && !p ? ERR_INVALID : ERR_OK;
}

static enum err check_batch(const struct ingest_batch *b)
{
    enum err e = FIRST_ERR(check_count(b->repos, b->n_repos), check_count(b->commits, b->n_commits),
                           check_count(b->prs, b->n_prs), check_count(b->reviews, b->n_reviews),
                           check_count(b->deployments, b->n_deployments),
                           check_count(b->releases, b->n_releases));
    for (size_t i = 0; !e && i < b->n_repos; i++)
        e = check_repo(&b->repos[i]);
    for (size_t i = 0; !e && i < b->n_commits; i++)
        e = check_commit(&b->commits[i]);
    for (size_t i = 0; !e && i < b->n_prs; i++)
        e = check_pr(&b->prs[i]);
    for (size_t i = 0; !e && i < b->n_reviews; i++)
        e = check_review(&b->reviews[i]);
    for (size_t i = 0; !e && i < b->n_deployments; i++)
        e = check_deployment(&b->deployments[i]);
    for (size_t i = 0; !e && i < b->n_releases; i++)
        e = check_release(&b->releases[i]);
    return e;
}

/* ---- parameters: the unknown values of normalize.h become NULL ------------------ */

static struct storage_arg opt_text(struct str s)
{
    return s.ptr ? STORAGE_TEXT(s) : STORAGE_NULL;
}

static struct storage_arg opt_time(int64_t t)
{
    return t ? STORAGE_INT(t) : STORAGE_NULL;
}

static struct storage_arg opt_count(int64_t n)
{
    return n >= 0 ? STORAGE_INT(n) : STORAGE_NULL;
}

static struct storage_arg opt_tri(enum ingest_tri t)
{
    return t == INGEST_TRI_UNKNOWN ? STORAGE_NULL : STORAGE_INT(t == INGEST_TRI_YES);
}

/* A person's bot flag is known when something identifies the person. */
static struct storage_arg person_bot(const struct ingest_person *p)
{
    if (!p->login.ptr && !p->name.ptr && !p->email.ptr)
        return STORAGE_NULL;
    return STORAGE_INT(p->bot ? 1 : 0);
}

/* The first known time, 0 when none: the list order key. */
static int64_t first_time(int64_t a, int64_t b)
{
    return a ? a : b;
}

/* ---- deliveries ----------------------------------------------------------------- */

static enum err check_delivery_ref(struct str integration_id, struct str delivery_key)
{
    enum err e = check_token(integration_id, INGEST_MAX_INTEGRATION_ID);
    return e ? e : check_token(delivery_key, INGEST_MAX_DELIVERY_KEY);
}

static enum err check_delivery(const struct ingest_delivery_new *d)
{
    if (!d)
        return ERR_INVALID;
    if (d->body.len > INGEST_MAX_STORED_BODY || d->provider.len > INGEST_MAX_PROVIDER)
        return ERR_LIMIT;
    enum err e = FIRST_ERR(check_delivery_ref(d->integration_id, d->delivery_key),
                           check_event(d->event, INGEST_MAX_EVENT));
    if (e)
        return e;
    if (!provider_known(d->provider) || d->body_bytes < 0 || (d->body.len && !d->body.ptr))
        return ERR_INVALID;
    if (memchr(d->body.ptr ? d->body.ptr : "", '\0', d->body.len) ||
        !json_utf8_valid(d->body, NULL))
        return ERR_INVALID;
    return ERR_OK;
}

/* The id of the tenant's delivery (integration_id, delivery_key) into id_out, when any. */
static enum err delivery_find(struct tx *tx, struct str integration_id, struct str delivery_key,
                              bool *found, char id_out[INGEST_DELIVERY_ID_LEN + 1])
{
    *found = false;
    struct stmt *st = NULL;
    bool row = false;
    enum err e =
        tx_query(tx,
                 "SELECT id FROM webhook_deliveries WHERE tenant_id = $1"
                 " AND integration_id = $2 AND delivery_key = $3",
                 STORAGE_ARGS(STORAGE_TEXT(integration_id), STORAGE_TEXT(delivery_key)), &st, &row);
    if (e)
        return e;
    if (row) {
        struct str id = stmt_col_text(st, 0);
        if (id.len != INGEST_DELIVERY_ID_LEN) {
            e = ERR_DB; /* the table's CHECK makes this impossible */
        } else {
            *found = true;
            if (id_out) {
                memcpy(id_out, id.ptr, id.len);
                id_out[id.len] = '\0';
            }
        }
    }
    stmt_finish(st);
    return e;
}

/*
 * Packs d's body into a; keeps the body's own bytes when packing would not
 * make it shorter (an incompressible body of the largest size stays within
 * what storage binds). d must have passed check_delivery.
 */
static enum err pack_body(struct ingest_delivery_new *d, struct arena *a)
{
    struct str body = d->body.ptr ? d->body : STR_LIT("");
    struct str p;
    enum err e = pack_lz4(body, a, &p);
    if (e)
        return e;
    d->stored_.lz4 = p.len < body.len;
    d->stored_.bytes = d->stored_.lz4 ? p : body;
    d->stored_.done = true;
    return ERR_OK;
}

enum err ingest_delivery_pack(struct ingest_delivery_new *d, struct arena *a)
{
    enum err e = check_delivery(d);
    return e ? e : pack_body(d, a);
}

enum err ingest_delivery_insert(struct tx *tx, const struct ingest_delivery_new *d, bool *duplicate,
                                char id_out[INGEST_DELIVERY_ID_LEN + 1])
{
    *duplicate = false;
    id_out[0] = '\0';
    struct ingest_delivery_new packed;
    struct arena *scratch = NULL; /* the packed body when d was not packed ahead */
    if (!d || !d->stored_.done) {
        enum err e = check_delivery(d);
        if (e)
            return e;
        packed = *d;
        scratch = arena_new(ARENA_DEFAULT_CAP);
        if ((e = pack_body(&packed, scratch)) != ERR_OK) {
            arena_free(scratch);
            return e;
        }
        d = &packed;
    }
    char id[INGEST_DELIVERY_ID_LEN + 1];
    enum err e = rand_hex_sortable(id, INGEST_DELIVERY_ID_LEN / 2);
    uint64_t n = 0;
    if (!e)
        e = tx_exec_args(
            tx,
            "INSERT INTO webhook_deliveries (tenant_id, id, integration_id, provider,"
            " delivery_key, event, received_at, body, body_encoding, body_bytes, status)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'accepted')"
            " ON CONFLICT (tenant_id, integration_id, delivery_key) DO NOTHING",
            STORAGE_ARGS(
                STORAGE_CSTR(id), STORAGE_TEXT(d->integration_id), STORAGE_TEXT(d->provider),
                STORAGE_TEXT(d->delivery_key), STORAGE_TEXT(d->event), STORAGE_INT(d->received_at),
                STORAGE_BLOB(d->stored_.bytes), STORAGE_CSTR(d->stored_.lz4 ? "lz4" : "identity"),
                STORAGE_INT(d->body_bytes)),
            &n);
    arena_free(scratch); /* the statement copied what it binds */
    if (e)
        return e;
    if (n == 1) {
        memcpy(id_out, id, sizeof id);
        return ERR_OK;
    }
    bool found = false;
    if ((e = delivery_find(tx, d->integration_id, d->delivery_key, &found, id_out)) != ERR_OK)
        return e;
    *duplicate = true;
    return found ? ERR_OK : ERR_INTERNAL; /* conflict without a row: not possible in one tx */
}

enum err ingest_delivery_seen(struct tx *tx, struct str integration_id, struct str delivery_key,
                              bool *seen)
{
    *seen = false;
    enum err e = check_delivery_ref(integration_id, delivery_key);
    return e ? e : delivery_find(tx, integration_id, delivery_key, seen, NULL);
}

/* A column copied into a; STR_NULL for NULL. */
static enum err col_str(struct stmt *st, int col, struct arena *a, struct str *out)
{
    *out = STR_NULL;
    if (stmt_col_is_null(st, col))
        return ERR_OK;
    struct str v = stmt_col_text(st, col);
    char *p = arena_strndup(a, v.ptr ? v.ptr : "", v.len);
    if (!p)
        return ERR_LIMIT;
    *out = str_from(p, v.len);
    return ERR_OK;
}

static int64_t col_count(struct stmt *st, int col)
{
    return stmt_col_is_null(st, col) ? INGEST_UNKNOWN : stmt_col_int(st, col);
}

static enum ingest_tri col_tri(struct stmt *st, int col)
{
    if (stmt_col_is_null(st, col))
        return INGEST_TRI_UNKNOWN;
    return stmt_col_int(st, col) ? INGEST_TRI_YES : INGEST_TRI_NO;
}

static void col_fixed(struct stmt *st, int col, char *out, size_t cap)
{
    struct str v = stmt_col_text(st, col);
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    if (n)
        memcpy(out, v.ptr, n);
    out[n] = '\0';
}

/*
 * Columns of a delivery row: id, integration_id, provider, delivery_key, event,
 * error, body_bytes, received_at, processed_at, status.
 */
#define DELIVERY_COLS                                                                              \
    "id, integration_id, provider, delivery_key, event, error, body_bytes, received_at,"           \
    " processed_at, status"

/*
 * The body of a delivery row, unpacked into a and NUL-terminated, from its
 * columns body and body_encoding. A packed body that does not unpack is
 * ERR_DB (the row is damaged); ERR_LIMIT when a is full.
 */
static enum err col_body(struct stmt *st, int col, int encoding_col, struct arena *a,
                         struct str *out)
{
    struct str stored = stmt_col_blob(st, col);
    if (str_eq_cstr(stmt_col_text(st, encoding_col), "lz4")) {
        enum err e = unpack_lz4(stored, INGEST_MAX_STORED_BODY, a, out);
        return e == ERR_INVALID ? ERR_DB : e;
    }
    char *p = arena_strndup(a, stored.ptr ? stored.ptr : "", stored.len);
    if (!p)
        return ERR_LIMIT;
    *out = str_from(p, stored.len);
    return ERR_OK;
}

static enum err read_delivery(struct stmt *st, struct arena *a, struct ingest_delivery *d)
{
    memset(d, 0, sizeof *d);
    col_fixed(st, 0, d->id, sizeof d->id);
    enum err e = FIRST_ERR(col_str(st, 1, a, &d->integration_id), col_str(st, 2, a, &d->provider),
                           col_str(st, 3, a, &d->delivery_key), col_str(st, 4, a, &d->event),
                           col_str(st, 5, a, &d->error));
    d->body_bytes = stmt_col_int(st, 6);
    d->received_at = stmt_col_int(st, 7);
    d->processed_at = stmt_col_int(st, 8);
    d->status = status_parse(stmt_col_text(st, 9));
    return e;
}

enum err ingest_delivery_get(struct tx *tx, struct str id, struct arena *a,
                             struct ingest_delivery *out)
{
    memset(out, 0, sizeof *out);
    if (!delivery_id_valid(id))
        return ERR_NOT_FOUND;
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          "SELECT " DELIVERY_COLS ", body, body_encoding FROM webhook_deliveries"
                          " WHERE tenant_id = $1 AND id = $2",
                          STORAGE_ARGS(STORAGE_TEXT(id)), &st, &row);
    if (e)
        return e;
    if (!row)
        e = ERR_NOT_FOUND;
    else if (!(e = read_delivery(st, a, out)))
        e = col_body(st, 10, 11, a, &out->body);
    stmt_finish(st);
    if (e)
        memset(out, 0, sizeof *out);
    return e;
}

enum err ingest_delivery_set_status(struct tx *tx, struct str id,
                                    enum ingest_delivery_status status, struct str error,
                                    int64_t now)
{
    const char *name = ingest_delivery_status_name(status);
    if (!name)
        return ERR_INVALID;
    enum err e = check_opt(error, INGEST_MAX_ERROR);
    if (e)
        return e;
    if (error.ptr && !str_is_printable_ascii(error))
        return ERR_INVALID;
    if (!delivery_id_valid(id))
        return ERR_NOT_FOUND;
    uint64_t n = 0;
    e = tx_exec_args(
        tx,
        "UPDATE webhook_deliveries SET status = $3, error = $4, processed_at = $5"
        " WHERE tenant_id = $1 AND id = $2",
        STORAGE_ARGS(STORAGE_TEXT(id), STORAGE_CSTR(name), opt_text(error),
                     status == INGEST_DELIVERY_ACCEPTED ? STORAGE_NULL : STORAGE_INT(now)),
        &n);
    if (e)
        return e;
    return n == 1 ? ERR_OK : ERR_NOT_FOUND;
}

enum err ingest_deliveries_purge(struct tx *tx, int64_t older_than_unix, size_t max,
                                 size_t *deleted)
{
    *deleted = 0;
    if (max == 0 || max > INGEST_PURGE_MAX)
        return ERR_INVALID;
    uint64_t n = 0;
    enum err e =
        tx_exec_args(tx,
                     "DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND id IN ("
                     " SELECT id FROM webhook_deliveries WHERE tenant_id = $1 AND received_at < $2"
                     " ORDER BY received_at, id LIMIT $3)",
                     STORAGE_ARGS(STORAGE_INT(older_than_unix), STORAGE_INT((int64_t)max)), &n);
    if (!e)
        *deleted = (size_t)n;
    return e;
}

/* ---- batch upserts -------------------------------------------------------------- */

/* SET clause pieces over excluded.* and the stored row of table T. */
#define KEEP(T, c) c " = COALESCE(excluded." c ", " T "." c ")"
#define EARLIEST(T, c)                                                                             \
    c " = CASE WHEN excluded." c " IS NULL THEN " T "." c " WHEN " T "." c                         \
      " IS NULL OR excluded." c " < " T "." c " THEN excluded." c " ELSE " T "." c " END"
/* A PR event is stale when both it and the stored row know updated_at and it is older. */
#define PR_STALE "excluded.updated_at < pull_requests.updated_at"
#define FRESH(c)                                                                                   \
    c " = CASE WHEN " PR_STALE " THEN COALESCE(pull_requests." c ", excluded." c ")"               \
      " ELSE COALESCE(excluded." c ", pull_requests." c ") END"

static enum err upsert_repo(struct tx *tx, const struct ingest_repo *r)
{
    return tx_exec_args(tx,
                        "INSERT INTO repositories (tenant_id, id, full_name, url, default_branch)"
                        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, id) DO UPDATE SET " //
                        KEEP("repositories", "full_name") ", " KEEP("repositories", "url") ", "   //
                        KEEP("repositories", "default_branch"),
                        STORAGE_ARGS(STORAGE_TEXT(r->id), opt_text(r->full_name), opt_text(r->url),
                                     opt_text(r->default_branch)),
                        NULL);
}

/*
 * Makes sure repo_id has a repository row (an id-only one when none is
 * stored). Skipped for ids the batch upserted already or stubbed last.
 */
static enum err ensure_repo(struct tx *tx, const struct ingest_batch *b, struct str repo_id,
                            struct str *last)
{
    if (last->ptr && str_eq(*last, repo_id))
        return ERR_OK;
    for (size_t i = 0; i < b->n_repos; i++)
        if (str_eq(b->repos[i].id, repo_id))
            return ERR_OK;
    enum err e = tx_exec_args(tx,
                              "INSERT INTO repositories (tenant_id, id) VALUES ($1, $2)"
                              " ON CONFLICT (tenant_id, id) DO NOTHING",
                              STORAGE_ARGS(STORAGE_TEXT(repo_id)), NULL);
    if (!e)
        *last = repo_id;
    return e;
}

/*
 * Files are known when listed. A commit that lists none keeps its stored
 * files (an empty commit has none to keep anyway).
 */
static bool files_known(const struct ingest_commit *c)
{
    return c->n_files > 0;
}

static enum err store_files(struct tx *tx, const struct ingest_commit *c)
{
    enum err e =
        tx_exec_args(tx, "DELETE FROM commit_files WHERE tenant_id = $1 AND commit_id = $2",
                     STORAGE_ARGS(STORAGE_TEXT(c->id)), NULL);
    for (size_t i = 0; !e && i < c->n_files; i++) {
        const struct ingest_file *f = &c->files[i];
        char change[2] = {f->change, '\0'};
        /* a path listed twice (a provider's quirk) keeps its last entry */
        e = tx_exec_args(
            tx,
            "INSERT INTO commit_files (tenant_id, commit_id, path, change, additions, deletions)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, commit_id, path) DO UPDATE"
            " SET change = excluded.change, additions = excluded.additions,"
            " deletions = excluded.deletions",
            STORAGE_ARGS(STORAGE_TEXT(c->id), STORAGE_TEXT(f->path), STORAGE_CSTR(change),
                         opt_count(f->additions), opt_count(f->deletions)),
            NULL);
    }
    return e;
}

#define C_ "commits"
static enum err upsert_commit(struct tx *tx, const struct ingest_commit *c)
{
    enum err e = tx_exec_args(
        tx,
        "INSERT INTO commits (tenant_id, id, repo_id, sha, message, author_login, author_name,"
        " author_email, author_is_bot, committer_login, committer_name, committer_email,"
        " committer_is_bot, authored_at, committed_at, branch, files_changed, additions,"
        " deletions, sort_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
        " $18, $19, $20)"
        " ON CONFLICT (tenant_id, id) DO UPDATE SET "                                             //
        KEEP(C_, "sha") ", " KEEP(C_, "message") ", " KEEP(C_, "author_login") ", "               //
        KEEP(C_, "author_name") ", " KEEP(C_, "author_email") ", " KEEP(C_, "author_is_bot") ", " //
        KEEP(C_, "committer_login") ", " KEEP(C_, "committer_name") ", "                          //
        KEEP(C_, "committer_email") ", " KEEP(C_, "committer_is_bot") ", "                        //
        KEEP(C_, "authored_at") ", " KEEP(C_, "committed_at") ", " KEEP(C_, "branch") ", "        //
        KEEP(C_, "files_changed") ", " KEEP(C_, "additions") ", " KEEP(
            C_, "deletions") ", " //
                             "sort_at = COALESCE(excluded.committed_at, commits.committed_at, "
                             "excluded.authored_at,"
                             " commits.authored_at, 0)",
        STORAGE_ARGS(STORAGE_TEXT(c->id), STORAGE_TEXT(c->repo_id), opt_text(c->sha),
                     opt_text(c->message), opt_text(c->author.login), opt_text(c->author.name),
                     opt_text(c->author.email), person_bot(&c->author),
                     opt_text(c->committer.login), opt_text(c->committer.name),
                     opt_text(c->committer.email), person_bot(&c->committer),
                     opt_time(c->authored_at), opt_time(c->committed_at), opt_text(c->branch),
                     opt_count(c->files_changed), opt_count(c->additions), opt_count(c->deletions),
                     STORAGE_INT(first_time(c->committed_at, c->authored_at))),
        NULL);
    if (!e && files_known(c))
        e = store_files(tx, c);
    return e;
}
#undef C_

/* The labels as a JSON array of strings into out. */
static enum err labels_json(const struct ingest_pr *p, struct buf *out)
{
    struct jw w;
    jw_init(&w, out);
    jw_array_begin(&w);
    for (size_t i = 0; i < p->n_labels; i++)
        jw_string(&w, p->labels[i]);
    jw_array_end(&w);
    return jw_finish(&w);
}

#define P_ "pull_requests"
static enum err upsert_pr(struct tx *tx, const struct ingest_pr *p)
{
    struct buf labels = BUF_INIT(LABELS_JSON_MAX);
    enum err e = p->labels_known ? labels_json(p, &labels) : ERR_OK;
    if (e) {
        buf_release(&labels);
        return e;
    }
    e = tx_exec_args(
        tx,
        "INSERT INTO pull_requests (tenant_id, id, repo_id, number, title, description, state,"
        " draft, labels, author_login, author_name, author_email, author_is_bot, source_branch,"
        " target_branch, created_at, ready_at, first_review_at, approved_at, merged_at,"
        " closed_at, updated_at, merge_commit_sha, commits, additions, deletions,"
        " changed_files, sort_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
        " $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)"
        " ON CONFLICT (tenant_id, id) DO UPDATE SET " //
        KEEP(P_, "number") ", " FRESH("title") ", " FRESH(
            "description") ", " //
                           "state = CASE WHEN pull_requests.state = 'merged' OR excluded.state = "
                           "'merged'"
                           " THEN 'merged' WHEN " PR_STALE
                           " THEN COALESCE(pull_requests.state, excluded.state)"
                           " ELSE COALESCE(excluded.state, pull_requests.state) END, "            //
        FRESH("draft") ", " FRESH("labels") ", " KEEP(P_, "author_login") ", "                    //
        KEEP(P_, "author_name") ", " KEEP(P_, "author_email") ", " KEEP(P_, "author_is_bot") ", " //
        FRESH("source_branch") ", " FRESH("target_branch") ", " KEEP(P_, "created_at") ", "       //
        KEEP(P_, "ready_at") ", " EARLIEST(P_, "first_review_at") ", "                            //
        EARLIEST(P_, "approved_at") ", " KEEP(P_, "merged_at") ", " KEEP(
            P_, "closed_at") ", " //
                             "updated_at = CASE WHEN excluded.updated_at IS NULL THEN "
                             "pull_requests.updated_at"
                             " WHEN pull_requests.updated_at IS NULL OR excluded.updated_at > "
                             "pull_requests.updated_at"
                             " THEN excluded.updated_at ELSE pull_requests.updated_at END, " //
        KEEP(P_, "merge_commit_sha") ", " FRESH("commits") ", " FRESH("additions") ", "      //
        FRESH("deletions") ", " FRESH(
            "changed_files") ", " //
                             "sort_at = COALESCE(excluded.created_at, pull_requests.created_at,"
                             " excluded.updated_at, pull_requests.updated_at, 0)",
        STORAGE_ARGS(
            STORAGE_TEXT(p->id), STORAGE_TEXT(p->repo_id), opt_count(p->number), opt_text(p->title),
            opt_text(p->description), opt_text(p->state), opt_tri(p->draft),
            p->labels_known ? STORAGE_TEXT(str_from(buf_cstr(&labels), labels.len)) : STORAGE_NULL,
            opt_text(p->author.login), opt_text(p->author.name), opt_text(p->author.email),
            person_bot(&p->author), opt_text(p->source_branch), opt_text(p->target_branch),
            opt_time(p->created_at), opt_time(p->ready_at), opt_time(p->first_review_at),
            opt_time(p->approved_at), opt_time(p->merged_at), opt_time(p->closed_at),
            opt_time(p->updated_at), opt_text(p->merge_commit_sha), opt_count(p->commits),
            opt_count(p->additions), opt_count(p->deletions), opt_count(p->changed_files),
            STORAGE_INT(first_time(p->created_at, p->updated_at))),
        NULL);
    buf_release(&labels);
    return e;
}
#undef P_

#define R_ "reviews"
static enum err upsert_review(struct tx *tx, const struct ingest_review *r)
{
    return tx_exec_args(
        tx,
        "INSERT INTO reviews (tenant_id, id, repo_id, pr_id, kind, state, reviewer_login,"
        " reviewer_name, reviewer_is_bot, submitted_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (tenant_id, id) DO UPDATE SET "                                         //
        KEEP(R_, "state") ", " KEEP(R_, "reviewer_login") ", " KEEP(R_, "reviewer_name") ", " //
        KEEP(R_, "reviewer_is_bot") ", " KEEP(R_, "submitted_at"),
        STORAGE_ARGS(STORAGE_TEXT(r->id), STORAGE_TEXT(r->repo_id), STORAGE_TEXT(r->pr_id),
                     STORAGE_CSTR(r->kind == INGEST_REVIEW ? "review" : "comment"),
                     opt_text(r->state), opt_text(r->reviewer.login), opt_text(r->reviewer.name),
                     person_bot(&r->reviewer), opt_time(r->submitted_at)),
        NULL);
}
#undef R_

/*
 * The review-derived times of one pull request (store.h): each only moves
 * earlier, to the first stored non-author review / comment and approval.
 */
static enum err derive_pr_times(struct tx *tx, struct str pr_id)
{
    return tx_exec_args(tx,
                        "UPDATE pull_requests SET"
                        " first_review_at = (SELECT min(u.v) FROM ("
                        "  SELECT pull_requests.first_review_at AS v"
                        "  UNION ALL SELECT r.submitted_at FROM reviews r"
                        "  WHERE r.tenant_id = $1 AND r.pr_id = pull_requests.id"
                        "  AND (pull_requests.author_login IS NULL OR r.reviewer_login IS NULL"
                        "   OR r.reviewer_login <> pull_requests.author_login)) AS u),"
                        " approved_at = (SELECT min(u.v) FROM ("
                        "  SELECT pull_requests.approved_at AS v"
                        "  UNION ALL SELECT r.submitted_at FROM reviews r"
                        "  WHERE r.tenant_id = $1 AND r.pr_id = pull_requests.id"
                        "  AND r.kind = 'review' AND r.state = 'approved') AS u)"
                        " WHERE tenant_id = $1 AND id = $2",
                        STORAGE_ARGS(STORAGE_TEXT(pr_id)), NULL);
}

#define D_         "deployments"
#define D_TERMINAL "('success', 'failure', 'error', 'canceled', 'inactive')"
static enum err upsert_deployment(struct tx *tx, const struct ingest_deployment *d)
{
    return tx_exec_args(
        tx,
        "INSERT INTO deployments (tenant_id, id, repo_id, environment, status, sha, ref,"
        " created_at, finished_at, sort_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (tenant_id, id) DO UPDATE SET " //
        KEEP(D_, "environment") ", "                  //
                                "status = CASE WHEN excluded.status IS NULL OR deployments.status "
                                "IS NULL"
                                " THEN COALESCE(excluded.status, deployments.status)"
                                " WHEN deployments.status IN " D_TERMINAL
                                " AND excluded.status NOT IN " D_TERMINAL " THEN deployments.status"
                                " WHEN excluded.status = 'inactive' THEN deployments.status"
                                " ELSE excluded.status END, "                 //
        KEEP(D_, "sha") ", " KEEP(D_, "ref") ", " KEEP(D_, "created_at") ", " //
        KEEP(D_, "finished_at") ", "                                          //
                                "sort_at = COALESCE(excluded.created_at, deployments.created_at,"
                                " excluded.finished_at, deployments.finished_at, 0)",
        STORAGE_ARGS(STORAGE_TEXT(d->id), STORAGE_TEXT(d->repo_id), opt_text(d->environment),
                     opt_text(d->status), opt_text(d->sha), opt_text(d->ref),
                     opt_time(d->created_at), opt_time(d->finished_at),
                     STORAGE_INT(first_time(d->created_at, d->finished_at))),
        NULL);
}
#undef D_

#define L_ "releases"
static enum err upsert_release(struct tx *tx, const struct ingest_release *r)
{
    return tx_exec_args(
        tx,
        "INSERT INTO releases (tenant_id, id, repo_id, kind, tag, name, sha, prerelease,"
        " published_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (tenant_id, id) DO UPDATE SET "                   //
        KEEP(L_, "tag") ", " KEEP(L_, "name") ", " KEEP(L_, "sha") ", " //
        KEEP(L_, "prerelease") ", " KEEP(L_, "published_at"),
        STORAGE_ARGS(STORAGE_TEXT(r->id), STORAGE_TEXT(r->repo_id),
                     STORAGE_CSTR(r->kind == INGEST_RELEASE ? "release" : "tag"), opt_text(r->tag),
                     opt_text(r->name), opt_text(r->sha), opt_tri(r->prerelease),
                     opt_time(r->published_at)),
        NULL);
}
#undef L_

enum err ingest_store_batch(struct tx *tx, const struct ingest_batch *b)
{
    if (!b)
        return ERR_INVALID;
    enum err e = check_batch(b);
    struct str last = STR_NULL; /* the repository stubbed last */
    for (size_t i = 0; !e && i < b->n_repos; i++)
        e = upsert_repo(tx, &b->repos[i]);
    for (size_t i = 0; !e && i < b->n_commits; i++) {
        e = ensure_repo(tx, b, b->commits[i].repo_id, &last);
        if (!e)
            e = upsert_commit(tx, &b->commits[i]);
    }
    for (size_t i = 0; !e && i < b->n_prs; i++) {
        e = ensure_repo(tx, b, b->prs[i].repo_id, &last);
        if (!e)
            e = upsert_pr(tx, &b->prs[i]);
    }
    for (size_t i = 0; !e && i < b->n_reviews; i++) {
        e = ensure_repo(tx, b, b->reviews[i].repo_id, &last);
        if (!e)
            e = upsert_review(tx, &b->reviews[i]);
    }
    for (size_t i = 0; !e && i < b->n_deployments; i++) {
        e = ensure_repo(tx, b, b->deployments[i].repo_id, &last);
        if (!e)
            e = upsert_deployment(tx, &b->deployments[i]);
    }
    for (size_t i = 0; !e && i < b->n_releases; i++) {
        e = ensure_repo(tx, b, b->releases[i].repo_id, &last);
        if (!e)
            e = upsert_release(tx, &b->releases[i]);
    }
    /* Derived times last, when both the PRs and their reviews are in. */
    for (size_t i = 0; !e && i < b->n_prs; i++)
        e = derive_pr_times(tx, b->prs[i].id);
    for (size_t i = 0; !e && i < b->n_reviews; i++)
        if (i == 0 || !str_eq(b->reviews[i].pr_id, b->reviews[i - 1].pr_id))
            e = derive_pr_times(tx, b->reviews[i].pr_id);
    return e;
}

/* ---- listing -------------------------------------------------------------------- */

static enum err check_page(size_t limit, const struct ingest_cursor *after)
{
    if (limit == 0)
        return ERR_INVALID;
    if (limit > INGEST_MAX_PAGE)
        return ERR_LIMIT;
    if (after && (strnlen(after->id, sizeof after->id) == sizeof after->id ||
                  strnlen(after->key, sizeof after->key) == sizeof after->key))
        return ERR_INVALID;
    return ERR_OK;
}

static bool cursor_set(const struct ingest_cursor *c)
{
    return c && c->id[0];
}

/* Time key and id to continue after (newest first): the first page starts above any time. */
static int64_t cursor_at(const struct ingest_cursor *c)
{
    return cursor_set(c) ? c->at : INT64_MAX;
}

static const char *cursor_id(const struct ingest_cursor *c)
{
    return cursor_set(c) ? c->id : "";
}

/* Sets *next after row (at, key, id). */
static void cursor_after(struct ingest_cursor *next, int64_t at, struct str key, struct str id)
{
    memset(next, 0, sizeof *next);
    next->at = at;
    size_t k = key.len < sizeof next->key - 1 ? key.len : sizeof next->key - 1;
    if (k)
        memcpy(next->key, key.ptr, k);
    size_t n = id.len < sizeof next->id - 1 ? id.len : sizeof next->id - 1;
    if (n)
        memcpy(next->id, id.ptr, n);
}

/*
 * The shared loop of every list: reads up to limit rows with read(st, a,
 * row), one more row only to learn whether there are more, and sets *next
 * from the last row read (key_col: the time column, or -1 for repositories'
 * name key at column 1). rows of elem bytes each.
 */
typedef enum err (*row_reader)(struct stmt *st, struct arena *a, void *row);

/* list_rows reads a row's id as the struct str at its start. */
_Static_assert(offsetof(struct ingest_repo, id) == 0, "id first");
_Static_assert(offsetof(struct ingest_commit, id) == 0, "id first");
_Static_assert(offsetof(struct ingest_pr, id) == 0, "id first");
_Static_assert(offsetof(struct ingest_deployment, id) == 0, "id first");

static enum err list_rows(struct stmt *st, bool row, size_t limit, struct arena *a, size_t elem,
                          row_reader read, int time_col, void **rows, size_t *n,
                          struct ingest_cursor *next)
{
    char *out = arena_calloc(a, limit, elem);
    if (!out)
        return ERR_LIMIT;
    enum err e = ERR_OK;
    int64_t last_at = 0;
    struct str last_key = STR_NULL, last_id = STR_NULL;
    while (!e && row) {
        if (*n == limit) {
            cursor_after(next, last_at, last_key, last_id);
            break;
        }
        if ((e = read(st, a, out + *n * elem)) != ERR_OK)
            break;
        /* the id (column 0) and keys were copied into a by read: take them from there */
        last_id = *(struct str *)(void *)(out + *n * elem);
        if (time_col >= 0)
            last_at = stmt_col_int(st, time_col);
        else
            last_key = stmt_col_is_null(st, 1)
                           ? STR_LIT("")
                           : ((struct ingest_repo *)(void *)(out + *n * elem))->full_name;
        (*n)++;
        e = stmt_step(st, &row);
    }
    *rows = out;
    return e;
}

static enum err read_repo(struct stmt *st, struct arena *a, void *row)
{
    struct ingest_repo *r = row;
    return FIRST_ERR(col_str(st, 0, a, &r->id), col_str(st, 1, a, &r->full_name),
                     col_str(st, 2, a, &r->url), col_str(st, 3, a, &r->default_branch));
}

/* The list's statement has run (tx_query): collect, finish, and clean up on error. */
static enum err finish_list(enum err e, struct stmt *st, bool row, size_t limit, struct arena *a,
                            size_t elem, row_reader read, int time_col, void **rows, size_t *n,
                            struct ingest_cursor *next)
{
    if (!e)
        e = list_rows(st, row, limit, a, elem, read, time_col, rows, n, next);
    stmt_finish(st);
    if (e) {
        *rows = NULL;
        *n = 0;
        memset(next, 0, sizeof *next);
    }
    return e;
}

/* Resets the outputs of a list call. */
#define LIST_START(rows, n, next)                                                                  \
    do {                                                                                           \
        *(rows) = NULL;                                                                            \
        *(n) = 0;                                                                                  \
        memset((next), 0, sizeof *(next));                                                         \
    } while (0)

static enum err read_delivery_row(struct stmt *st, struct arena *a, void *row)
{
    struct ingest_delivery *d = row;
    return read_delivery(st, a, d);
}

enum err ingest_deliveries_list(struct tx *tx, const struct ingest_cursor *after, size_t limit,
                                struct arena *a, struct ingest_delivery **rows, size_t *n,
                                struct ingest_cursor *next)
{
    LIST_START(rows, n, next);
    enum err e = check_page(limit, after);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx,
                 "SELECT " DELIVERY_COLS " FROM webhook_deliveries WHERE tenant_id = $1"
                 " AND (received_at < $2 OR (received_at = $2 AND id < $3))"
                 " ORDER BY received_at DESC, id DESC LIMIT $4",
                 STORAGE_ARGS(STORAGE_INT(cursor_at(after)), STORAGE_CSTR(cursor_id(after)),
                              STORAGE_INT((int64_t)limit + 1)),
                 &st, &row);
    if (e)
        return e;
    /* a delivery's id is a fixed array, not a view: read the cursor from the row itself */
    char *out = arena_calloc(a, limit, sizeof(struct ingest_delivery));
    if (!out)
        e = ERR_LIMIT;
    struct ingest_delivery *d = (struct ingest_delivery *)(void *)out;
    while (!e && row) {
        if (*n == limit) {
            cursor_after(next, d[*n - 1].received_at, STR_NULL, str_from_cstr(d[*n - 1].id));
            break;
        }
        if ((e = read_delivery_row(st, a, &d[*n])) != ERR_OK)
            break;
        (*n)++;
        e = stmt_step(st, &row);
    }
    stmt_finish(st);
    if (e) {
        *n = 0;
        memset(next, 0, sizeof *next);
        return e;
    }
    *rows = d;
    return ERR_OK;
}

enum err ingest_repositories_list(struct tx *tx, const struct ingest_cursor *after, size_t limit,
                                  struct arena *a, struct ingest_repo **rows, size_t *n,
                                  struct ingest_cursor *next)
{
    LIST_START(rows, n, next);
    enum err e = check_page(limit, after);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx,
                 "SELECT id, full_name, url, default_branch FROM repositories WHERE tenant_id = $1"
                 " AND (COALESCE(full_name, '') > $2"
                 "  OR (COALESCE(full_name, '') = $2 AND id > $3))"
                 " ORDER BY COALESCE(full_name, ''), id LIMIT $4",
                 STORAGE_ARGS(STORAGE_CSTR(cursor_set(after) ? after->key : ""),
                              STORAGE_CSTR(cursor_id(after)), STORAGE_INT((int64_t)limit + 1)),
                 &st, &row);
    if (e)
        return e;
    void *out = NULL;
    e = finish_list(e, st, row, limit, a, sizeof(struct ingest_repo), read_repo, -1, &out, n, next);
    *rows = out;
    return e;
}

#define COMMIT_COLS                                                                                \
    "id, repo_id, sha, message, author_login, author_name, author_email, author_is_bot,"           \
    " committer_login, committer_name, committer_email, committer_is_bot, authored_at,"            \
    " committed_at, branch, files_changed, additions, deletions, sort_at"
#define COMMIT_SORT_COL 18

static enum err read_commit(struct stmt *st, struct arena *a, void *row)
{
    struct ingest_commit *c = row;
    enum err e = FIRST_ERR(
        col_str(st, 0, a, &c->id), col_str(st, 1, a, &c->repo_id), col_str(st, 2, a, &c->sha),
        col_str(st, 3, a, &c->message), col_str(st, 4, a, &c->author.login),
        col_str(st, 5, a, &c->author.name), col_str(st, 6, a, &c->author.email),
        col_str(st, 8, a, &c->committer.login), col_str(st, 9, a, &c->committer.name),
        col_str(st, 10, a, &c->committer.email), col_str(st, 14, a, &c->branch));
    c->author.bot = stmt_col_int(st, 7) == 1;
    c->committer.bot = stmt_col_int(st, 11) == 1;
    c->authored_at = stmt_col_int(st, 12);
    c->committed_at = stmt_col_int(st, 13);
    c->files_changed = col_count(st, 15);
    c->additions = col_count(st, 16);
    c->deletions = col_count(st, 17);
    return e;
}

enum err ingest_commits_list(struct tx *tx, struct str repo_id, const struct ingest_cursor *after,
                             size_t limit, struct arena *a, struct ingest_commit **rows, size_t *n,
                             struct ingest_cursor *next)
{
    LIST_START(rows, n, next);
    enum err e = check_page(limit, after);
    if (!e)
        e = check_opt(repo_id, INGEST_MAX_ID);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx,
                 "SELECT " COMMIT_COLS " FROM commits WHERE tenant_id = $1"
                 " AND (CAST($2 AS TEXT) IS NULL OR repo_id = $2)"
                 " AND (sort_at < $3 OR (sort_at = $3 AND id < $4))"
                 " ORDER BY sort_at DESC, id DESC LIMIT $5",
                 STORAGE_ARGS(opt_text(repo_id), STORAGE_INT(cursor_at(after)),
                              STORAGE_CSTR(cursor_id(after)), STORAGE_INT((int64_t)limit + 1)),
                 &st, &row);
    if (e)
        return e;
    void *out = NULL;
    e = finish_list(e, st, row, limit, a, sizeof(struct ingest_commit), read_commit,
                    COMMIT_SORT_COL, &out, n, next);
    *rows = out;
    return e;
}

#define PR_COLS                                                                                    \
    "id, repo_id, number, title, description, state, draft, labels, author_login,"                 \
    " author_name, author_email, author_is_bot, source_branch, target_branch, created_at,"         \
    " ready_at, first_review_at, approved_at, merged_at, closed_at, updated_at,"                   \
    " merge_commit_sha, commits, additions, deletions, changed_files, sort_at"
#define PR_SORT_COL 26

/* The stored JSON array of labels into p's labels (copied into a). */
static enum err read_labels(struct stmt *st, int col, struct arena *a, struct ingest_pr *p)
{
    if (stmt_col_is_null(st, col))
        return ERR_OK;
    struct str text = stmt_col_text(st, col);
    const struct json_limits lim = {.max_bytes = LABELS_JSON_MAX,
                                    .max_depth = 2,
                                    .max_string = INGEST_MAX_LABEL,
                                    .max_members = INGEST_MAX_LABELS};
    struct json *doc = NULL;
    struct json_error je;
    if (json_parse(text.ptr ? text.ptr : "", text.len, &lim, &doc, &je) != ERR_OK)
        return ERR_DB; /* store.c wrote it: not JSON means the row was changed behind us */
    enum err e = ERR_OK;
    size_t count = json_count(doc);
    struct str *labels = count ? arena_calloc(a, count, sizeof *labels) : NULL;
    if (json_type_of(doc) != JSON_ARRAY)
        e = ERR_DB;
    else if (count && !labels)
        e = ERR_LIMIT;
    size_t i = 0;
    for (const struct json *it = json_first(doc); !e && it && i < count; it = json_next(it)) {
        struct str s;
        if (!json_as_str(it, &s)) {
            e = ERR_DB;
            break;
        }
        char *c = arena_strndup(a, s.ptr ? s.ptr : "", s.len);
        if (!c)
            e = ERR_LIMIT;
        else
            labels[i++] = str_from(c, s.len);
    }
    json_free(doc);
    if (!e) {
        p->labels = labels;
        p->n_labels = i;
        p->labels_known = true;
    }
    return e;
}

static enum err read_pr(struct stmt *st, struct arena *a, void *row)
{
    struct ingest_pr *p = row;
    enum err e = FIRST_ERR(
        col_str(st, 0, a, &p->id), col_str(st, 1, a, &p->repo_id), col_str(st, 3, a, &p->title),
        col_str(st, 4, a, &p->description), col_str(st, 5, a, &p->state), read_labels(st, 7, a, p),
        col_str(st, 8, a, &p->author.login), col_str(st, 9, a, &p->author.name),
        col_str(st, 10, a, &p->author.email), col_str(st, 12, a, &p->source_branch),
        col_str(st, 13, a, &p->target_branch), col_str(st, 21, a, &p->merge_commit_sha));
    p->number = col_count(st, 2);
    p->draft = col_tri(st, 6);
    p->author.bot = stmt_col_int(st, 11) == 1;
    p->created_at = stmt_col_int(st, 14);
    p->ready_at = stmt_col_int(st, 15);
    p->first_review_at = stmt_col_int(st, 16);
    p->approved_at = stmt_col_int(st, 17);
    p->merged_at = stmt_col_int(st, 18);
    p->closed_at = stmt_col_int(st, 19);
    p->updated_at = stmt_col_int(st, 20);
    p->commits = col_count(st, 22);
    p->additions = col_count(st, 23);
    p->deletions = col_count(st, 24);
    p->changed_files = col_count(st, 25);
    return e;
}

enum err ingest_prs_list(struct tx *tx, struct str repo_id, struct str state,
                         const struct ingest_cursor *after, size_t limit, struct arena *a,
                         struct ingest_pr **rows, size_t *n, struct ingest_cursor *next)
{
    LIST_START(rows, n, next);
    enum err e = check_page(limit, after);
    if (!e)
        e = check_opt(repo_id, INGEST_MAX_ID);
    if (!e)
        e = check_opt(state, INGEST_MAX_STATE);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx,
                 "SELECT " PR_COLS " FROM pull_requests WHERE tenant_id = $1"
                 " AND (CAST($2 AS TEXT) IS NULL OR repo_id = $2)"
                 " AND (CAST($3 AS TEXT) IS NULL OR state = $3)"
                 " AND (sort_at < $4 OR (sort_at = $4 AND id < $5))"
                 " ORDER BY sort_at DESC, id DESC LIMIT $6",
                 STORAGE_ARGS(opt_text(repo_id), opt_text(state), STORAGE_INT(cursor_at(after)),
                              STORAGE_CSTR(cursor_id(after)), STORAGE_INT((int64_t)limit + 1)),
                 &st, &row);
    if (e)
        return e;
    void *out = NULL;
    e = finish_list(e, st, row, limit, a, sizeof(struct ingest_pr), read_pr, PR_SORT_COL, &out, n,
                    next);
    *rows = out;
    return e;
}

#define DEPLOYMENT_COLS                                                                            \
    "id, repo_id, environment, status, sha, ref, created_at, finished_at, sort_at"
#define DEPLOYMENT_SORT_COL 8

static enum err read_deployment(struct stmt *st, struct arena *a, void *row)
{
    struct ingest_deployment *d = row;
    enum err e = FIRST_ERR(col_str(st, 0, a, &d->id), col_str(st, 1, a, &d->repo_id),
                           col_str(st, 2, a, &d->environment), col_str(st, 3, a, &d->status),
                           col_str(st, 4, a, &d->sha), col_str(st, 5, a, &d->ref));
    d->created_at = stmt_col_int(st, 6);
    d->finished_at = stmt_col_int(st, 7);
    return e;
}

enum err ingest_deployments_list(struct tx *tx, struct str repo_id, struct str environment,
                                 const struct ingest_cursor *after, size_t limit, struct arena *a,
                                 struct ingest_deployment **rows, size_t *n,
                                 struct ingest_cursor *next)
{
    LIST_START(rows, n, next);
    enum err e = check_page(limit, after);
    if (!e)
        e = check_opt(repo_id, INGEST_MAX_ID);
    if (!e)
        e = check_opt(environment, INGEST_MAX_ENVIRONMENT);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx,
                 "SELECT " DEPLOYMENT_COLS " FROM deployments WHERE tenant_id = $1"
                 " AND (CAST($2 AS TEXT) IS NULL OR repo_id = $2)"
                 " AND (CAST($3 AS TEXT) IS NULL OR environment = $3)"
                 " AND (sort_at < $4 OR (sort_at = $4 AND id < $5))"
                 " ORDER BY sort_at DESC, id DESC LIMIT $6",
                 STORAGE_ARGS(opt_text(repo_id), opt_text(environment),
                              STORAGE_INT(cursor_at(after)), STORAGE_CSTR(cursor_id(after)),
                              STORAGE_INT((int64_t)limit + 1)),
                 &st, &row);
    if (e)
        return e;
    void *out = NULL;
    e = finish_list(e, st, row, limit, a, sizeof(struct ingest_deployment), read_deployment,
                    DEPLOYMENT_SORT_COL, &out, n, next);
    *rows = out;
    return e;
}

enum err ingest_commit_files(struct tx *tx, struct str commit_id, struct arena *a,
                             struct ingest_file **files, size_t *n)
{
    *files = NULL;
    *n = 0;
    enum err e = check_id(commit_id, INGEST_MAX_ID);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx,
                 "SELECT path, change, additions, deletions FROM commit_files"
                 " WHERE tenant_id = $1 AND commit_id = $2 ORDER BY path LIMIT $3",
                 STORAGE_ARGS(STORAGE_TEXT(commit_id), STORAGE_INT(INGEST_MAX_FILES)), &st, &row);
    if (e)
        return e;
    struct ingest_file *out = arena_calloc(a, INGEST_MAX_FILES, sizeof *out);
    if (!out)
        e = ERR_LIMIT;
    while (!e && row && *n < INGEST_MAX_FILES) {
        struct ingest_file *f = &out[*n];
        e = col_str(st, 0, a, &f->path);
        struct str ch = stmt_col_text(st, 1);
        f->change = ch.len == 1 ? ch.ptr[0] : '?';
        f->additions = col_count(st, 2);
        f->deletions = col_count(st, 3);
        if (!e) {
            (*n)++;
            e = stmt_step(st, &row);
        }
    }
    stmt_finish(st);
    if (e) {
        *n = 0;
        return e;
    }
    *files = out;
    return ERR_OK;
}
