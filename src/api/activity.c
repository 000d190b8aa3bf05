/*
 * activity — the JSON API over what the webhooks brought in (issue 6 item 9):
 * deliveries, the normalized repositories, commits, pull requests and
 * deployments (ingest/store.h), and the job queue's dead letters with a
 * retry (jobs/jobs.h).
 *
 * Design:
 *  - Reading needs content.read (any member): these are the metadata rows
 *    the changelog and the metrics are made of. Two things are operator
 *    material and need integrations.manage, as the integrations do: one
 *    delivery with its (redacted) body — a whole provider payload carries far
 *    more than the metadata we keep, names and addresses of people included —
 *    and reviving a dead job.
 *  - Every call opens one transaction bound to the caller's tenant; ids of
 *    another tenant, malformed ids included, are 404 (T4).
 *  - Listing is keyset pagination, newest first (repositories by name):
 *    `limit` 1..API_ACTIVITY_MAX_LIMIT (default API_ACTIVITY_DEFAULT_LIMIT)
 *    and an opaque `cursor` from the previous answer's `next_cursor`, which
 *    is null on the last page. A cursor is base64url (no padding) of
 *    "<list letter>1.<time key>.<key length>.<key><id>": versioned, bound to
 *    its list, and decoded strictly (api_cursor_decode). A bad value of
 *    either is 400 validation_failed naming the parameter.
 *  - Query parameters other than the ones a route reads are ignored, as the
 *    other listings of the API do (members, integrations: `page`); the query
 *    as a whole must be a well-formed form (a repeated parameter is 400).
 *  - Times are Unix seconds (integers), as everywhere in the API; an unknown
 *    value (a time, a count, a text the provider did not send) is null.
 *    People appear with login, name and bot flag; commit e-mail addresses are
 *    kept for identity mapping (M3) only and never answered here.
 *  - The delivery status filter is applied here: the store lists deliveries
 *    without one. One call examines at most ACTIVITY_SCAN_PAGES store pages,
 *    so a filtered page may hold fewer than `limit` rows while next_cursor is
 *    not null; only a null next_cursor means the end.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "audit/audit.h"
#include "core/base64.h"
#include "http/form.h"
#include "ingest/redact.h"

#define ACTIVITY_LIST_JSON_CAP  ((size_t)8 * 1024 * 1024) /* bytes of one listing's answer */
#define ACTIVITY_SCAN_PAGES     20                        /* store pages one filtered call reads */
#define ACTIVITY_FILTER_CAP     (INGEST_MAX_FULL_NAME + 1)
#define ACTIVITY_LIMIT_TEXT     8 /* bytes of a limit parameter's value */
#define ACTIVITY_TARGET_CAP     64
#define ACTIVITY_BODY_ARENA_CAP (INGEST_MAX_STORED_BODY + (size_t)1024 * 1024)
#define ACTIVITY_BODY_JSON_CAP  (INGEST_MAX_STORED_BODY + (size_t)64 * 1024)

/* ---- cursors -------------------------------------------------------------------------- */

enum err api_cursor_encode(char list, const struct ingest_cursor *c, struct buf *out)
{
    char text[API_CURSOR_MAX_TEXT + 1];
    size_t klen = strnlen(c->key, sizeof c->key);
    size_t ilen = strnlen(c->id, sizeof c->id);
    if (c->at < 0 || ilen == 0 || klen > INGEST_MAX_FULL_NAME || ilen > INGEST_MAX_ID)
        return ERR_INVALID;
    int n = snprintf(text, sizeof text, "%c1.%lld.%zu.%s%s", list, (long long)c->at, klen, c->key,
                     c->id);
    if (n < 0 || (size_t)n >= sizeof text)
        return ERR_LIMIT;
    return base64url_encode(out, text, (size_t)n);
}

/* Decimal digits only, no sign, no leading zero but "0" itself, within max. */
static bool parse_decimal(struct str s, uint64_t max, uint64_t *out)
{
    if (s.len == 0 || s.len > 20 || (s.len > 1 && s.ptr[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s.ptr[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

enum err api_cursor_decode(char list, struct str text, struct ingest_cursor *out)
{
    memset(out, 0, sizeof *out);
    if (text.len == 0 || text.len > API_CURSOR_MAX_LEN || text.len % 4 == 1)
        return ERR_INVALID;
    unsigned char raw[API_CURSOR_MAX_TEXT];
    size_t n;
    /* every refusal (alphabet, trailing bits, longer than a cursor) is ERR_INVALID */
    if (base64url_decode(text, raw, sizeof raw, &n) != ERR_OK)
        return ERR_INVALID;
    struct str rest = str_from((const char *)raw, n), tok;
    /* "<list>1" */
    if (!str_split(&rest, '.', &tok) || tok.len != 2 || tok.ptr[0] != list || tok.ptr[1] != '1')
        return ERR_INVALID;
    uint64_t at, klen;
    if (!str_split(&rest, '.', &tok) || !parse_decimal(tok, INT64_MAX, &at))
        return ERR_INVALID;
    if (!str_split(&rest, '.', &tok) || !parse_decimal(tok, INGEST_MAX_FULL_NAME, &klen))
        return ERR_INVALID;
    if (rest.len <= klen || rest.len - klen > INGEST_MAX_ID ||
        memchr(rest.ptr, '\0', rest.len) != NULL)
        return ERR_INVALID;
    out->at = (int64_t)at;
    memcpy(out->key, rest.ptr, klen);
    memcpy(out->id, rest.ptr + klen, rest.len - klen);
    return ERR_OK;
}

/* ---- query parameters ------------------------------------------------------------------ */

/* 400 validation_failed naming one query parameter. */
static enum err param_refused(struct http_request *req, const char *name, const char *reason)
{
    return integrations_field_refused(req, name, reason);
}

/*
 * The decoded value of query parameter name into out (capped): ERR_OK, or
 * ERR_NOT_FOUND when absent or empty; a value over the cap is a recorded 400.
 */
static enum err query_value(struct http_request *req, const char *name, struct buf *out)
{
    enum err e = form_get(req->query, name, out);
    if (e == ERR_NOT_FOUND || (!e && out->len == 0))
        return ERR_NOT_FOUND;
    if (e == ERR_LIMIT)
        return param_refused(req, name, "too long");
    if (e)
        return param_refused(req, name, "not acceptable");
    return ERR_OK;
}

enum err api_list_query(struct http_request *req, char list, struct api_list_query *q)
{
    memset(q, 0, sizeof *q);
    q->limit = API_ACTIVITY_DEFAULT_LIMIT;
    if (req->query.len == 0)
        return ERR_OK;
    const char *why = NULL;
    if (form_validate(req->query, &why) != ERR_OK)
        return param_refused(req, "query", why ? why : "not a well-formed query");
    struct buf v = BUF_INIT(ACTIVITY_LIMIT_TEXT);
    enum err e = form_get(req->query, "limit", &v);
    if (!e) {
        /* plain decimal digits; leading zeros are the number written long, as for `page` */
        struct str s = str_from(buf_cstr(&v), v.len);
        while (s.len > 1 && s.ptr[0] == '0')
            s = str_from(s.ptr + 1, s.len - 1);
        uint64_t n = 0;
        if (!parse_decimal(s, UINT32_MAX, &n) || n < 1 || n > API_ACTIVITY_MAX_LIMIT)
            e = ERR_INVALID;
        else
            q->limit = (size_t)n;
    }
    buf_release(&v);
    if (e && e != ERR_NOT_FOUND)
        return param_refused(req, "limit", "a number from 1 to 100");
    struct buf c = BUF_INIT(API_CURSOR_MAX_LEN);
    e = form_get(req->query, "cursor", &c);
    if (!e && c.len) {
        if (api_cursor_decode(list, str_from(buf_cstr(&c), c.len), &q->after) == ERR_OK)
            q->has_cursor = true;
        else
            e = ERR_INVALID;
    }
    buf_release(&c);
    if (e && e != ERR_NOT_FOUND)
        return param_refused(req, "cursor", "not a cursor of this list");
    return ERR_OK;
}

enum err api_query_filter(struct http_request *req, const char *name, size_t max,
                          const char *const *allowed, struct str *out)
{
    *out = STR_NULL;
    if (req->query.len == 0)
        return ERR_OK;
    struct buf v = BUF_INIT(max);
    enum err e = query_value(req, name, &v);
    if (e == ERR_NOT_FOUND) {
        buf_release(&v);
        return ERR_OK;
    }
    if (!e) {
        struct str s = str_from(buf_cstr(&v), v.len);
        bool ok = allowed == NULL;
        for (size_t i = 0; allowed && allowed[i]; i++)
            ok = ok || str_eq_cstr(s, allowed[i]);
        for (size_t i = 0; ok && i < s.len; i++)
            ok = (unsigned char)s.ptr[i] >= 0x20 && s.ptr[i] != 0x7f;
        if (!ok) {
            e = param_refused(req, name,
                              allowed ? "not one of the values allowed" : "not acceptable");
        } else {
            char *copy = arena_strndup(req->arena, s.ptr, s.len);
            if (!copy)
                e = ERR_LIMIT;
            else
                *out = str_from(copy, s.len);
        }
    }
    buf_release(&v);
    return e;
}

/* ---- writing rows -------------------------------------------------------------------- */

static void str_or_null(struct jw *w, const char *key, struct str s)
{
    jw_key(w, key);
    if (s.ptr)
        jw_string(w, s);
    else
        jw_null(w);
}

static void time_or_null(struct jw *w, const char *key, int64_t t)
{
    jw_key(w, key);
    if (t > 0)
        jw_int(w, t);
    else
        jw_null(w);
}

static void count_or_null(struct jw *w, const char *key, int64_t n)
{
    jw_key(w, key);
    if (n >= 0)
        jw_int(w, n);
    else
        jw_null(w);
}

static void tri_or_null(struct jw *w, const char *key, enum ingest_tri t)
{
    jw_key(w, key);
    if (t == INGEST_TRI_UNKNOWN)
        jw_null(w);
    else
        jw_bool(w, t == INGEST_TRI_YES);
}

/* A person without the e-mail address (see the top); null when nothing is known. */
static void person(struct jw *w, const char *key, const struct ingest_person *p)
{
    jw_key(w, key);
    if (!p->login.ptr && !p->name.ptr) {
        jw_null(w);
        return;
    }
    jw_object_begin(w);
    str_or_null(w, "login", p->login);
    str_or_null(w, "name", p->name);
    jw_key(w, "bot");
    jw_bool(w, p->bot);
    jw_object_end(w);
}

static void delivery_members(struct jw *w, const struct ingest_delivery *d)
{
    jw_key(w, "id");
    jw_cstring(w, d->id);
    str_or_null(w, "integration_id", d->integration_id);
    str_or_null(w, "provider", d->provider);
    str_or_null(w, "delivery_key", d->delivery_key);
    str_or_null(w, "event", d->event);
    jw_key(w, "status");
    jw_cstring(w, ingest_delivery_status_name(d->status));
    time_or_null(w, "received_at", d->received_at);
    time_or_null(w, "processed_at", d->processed_at);
    str_or_null(w, "error", d->error);
    jw_key(w, "body_bytes");
    jw_int(w, d->body_bytes);
}

static void repo_json(struct jw *w, const struct ingest_repo *r)
{
    jw_object_begin(w);
    str_or_null(w, "id", r->id);
    str_or_null(w, "full_name", r->full_name);
    str_or_null(w, "url", r->url);
    str_or_null(w, "default_branch", r->default_branch);
    jw_object_end(w);
}

static void commit_json(struct jw *w, const struct ingest_commit *c)
{
    jw_object_begin(w);
    str_or_null(w, "id", c->id);
    str_or_null(w, "repo_id", c->repo_id);
    str_or_null(w, "sha", c->sha);
    str_or_null(w, "message", c->message);
    person(w, "author", &c->author);
    person(w, "committer", &c->committer);
    time_or_null(w, "authored_at", c->authored_at);
    time_or_null(w, "committed_at", c->committed_at);
    str_or_null(w, "branch", c->branch);
    count_or_null(w, "files_changed", c->files_changed);
    count_or_null(w, "additions", c->additions);
    count_or_null(w, "deletions", c->deletions);
    jw_object_end(w);
}

static void pr_json(struct jw *w, const struct ingest_pr *p)
{
    jw_object_begin(w);
    str_or_null(w, "id", p->id);
    str_or_null(w, "repo_id", p->repo_id);
    count_or_null(w, "number", p->number);
    str_or_null(w, "title", p->title);
    str_or_null(w, "description", p->description);
    str_or_null(w, "state", p->state);
    tri_or_null(w, "draft", p->draft);
    jw_key(w, "labels");
    if (p->labels_known) {
        jw_array_begin(w);
        for (size_t i = 0; i < p->n_labels; i++)
            jw_string(w, p->labels[i]);
        jw_array_end(w);
    } else {
        jw_null(w);
    }
    person(w, "author", &p->author);
    str_or_null(w, "source_branch", p->source_branch);
    str_or_null(w, "target_branch", p->target_branch);
    time_or_null(w, "created_at", p->created_at);
    time_or_null(w, "ready_at", p->ready_at);
    time_or_null(w, "first_review_at", p->first_review_at);
    time_or_null(w, "approved_at", p->approved_at);
    time_or_null(w, "merged_at", p->merged_at);
    time_or_null(w, "closed_at", p->closed_at);
    time_or_null(w, "updated_at", p->updated_at);
    str_or_null(w, "merge_commit_sha", p->merge_commit_sha);
    count_or_null(w, "commits", p->commits);
    count_or_null(w, "additions", p->additions);
    count_or_null(w, "deletions", p->deletions);
    count_or_null(w, "changed_files", p->changed_files);
    jw_object_end(w);
}

static void deployment_json(struct jw *w, const struct ingest_deployment *d)
{
    jw_object_begin(w);
    str_or_null(w, "id", d->id);
    str_or_null(w, "repo_id", d->repo_id);
    str_or_null(w, "environment", d->environment);
    str_or_null(w, "status", d->status);
    str_or_null(w, "sha", d->sha);
    str_or_null(w, "ref", d->ref);
    time_or_null(w, "created_at", d->created_at);
    time_or_null(w, "finished_at", d->finished_at);
    jw_object_end(w);
}

static void job_json(struct jw *w, const struct jobs_info *j)
{
    jw_object_begin(w);
    jw_key(w, "id");
    jw_cstring(w, j->id);
    jw_key(w, "kind");
    jw_cstring(w, j->kind);
    jw_key(w, "ref");
    jw_cstring(w, j->ref);
    jw_key(w, "status");
    jw_cstring(w, jobs_status_name(j->status));
    jw_key(w, "attempts");
    jw_int(w, j->attempts);
    jw_key(w, "max_attempts");
    jw_int(w, j->max_attempts);
    time_or_null(w, "run_at", j->run_at);
    time_or_null(w, "created_at", j->created_at);
    time_or_null(w, "finished_at", j->finished_at);
    jw_key(w, "last_error");
    jw_cstring(w, j->last_error[0] ? j->last_error : NULL);
    jw_object_end(w);
}

/* "next_cursor": the encoded position, or null at the end. */
static void next_cursor(struct http_request *req, struct jw *w, char list,
                        const struct ingest_cursor *next)
{
    jw_key(w, "next_cursor");
    if (next->id[0] == '\0') {
        jw_null(w);
        return;
    }
    struct buf c = BUF_INIT(API_CURSOR_MAX_LEN);
    enum err e = api_cursor_encode(list, next, &c);
    if (e) {
        (void)http_fail(req, e, "activity: cursor encode: %s", err_name(e));
        w->err = e;
    } else {
        jw_string(w, str_from(buf_cstr(&c), c.len));
    }
    buf_release(&c);
}

/* ---- the listings ------------------------------------------------------------------ */

static enum err begin_read(struct http_request *req, struct tx **tx)
{
    enum err e = storage_begin(req->app->storage, &req->principal.user.tenant, TX_READ, tx);
    return e ? http_fail(req, e, "activity: begin: %s", err_name(e)) : ERR_OK;
}

static const char *const delivery_statuses[] = {"accepted", "processed", "ignored",
                                                "failed",   "dead",      NULL};
static const char *const pr_states[] = {"open", "closed", "merged", NULL};
static const char *const job_statuses[] = {"pending", "running", "done", "dead", NULL};

enum err api_deliveries_page(struct http_request *req, struct tx *tx, struct str status,
                             const struct api_list_query *q, struct ingest_delivery **rows,
                             size_t *n, struct ingest_cursor *next)
{
    *n = 0;
    memset(next, 0, sizeof *next);
    if (!status.ptr)
        return ingest_deliveries_list(tx, &q->after, q->limit, req->arena, rows, n, next);
    struct ingest_delivery *out = arena_calloc(req->arena, q->limit, sizeof *out);
    if (!out)
        return ERR_LIMIT;
    struct ingest_cursor at = q->after;
    for (int page = 0; page < ACTIVITY_SCAN_PAGES && *n < q->limit; page++) {
        struct ingest_delivery *got = NULL;
        size_t m = 0;
        enum err e = ingest_deliveries_list(tx, &at, q->limit - *n, req->arena, &got, &m, next);
        if (e)
            return e;
        for (size_t i = 0; i < m; i++)
            if (str_eq_cstr(status, ingest_delivery_status_name(got[i].status)))
                out[(*n)++] = got[i];
        if (next->id[0] == '\0')
            break;
        at = *next;
    }
    *rows = out;
    return ERR_OK;
}

enum err activity_deliveries(struct http_request *req, struct http_response *resp)
{
    struct api_list_query q;
    struct str status;
    enum err e = api_list_query(req, 'd', &q);
    if (!e)
        e = api_query_filter(req, "status", INGEST_MAX_STATE, delivery_statuses, &status);
    if (e)
        return e;
    struct tx *tx;
    if ((e = begin_read(req, &tx)))
        return e;
    struct ingest_delivery *rows = NULL;
    size_t n = 0;
    struct ingest_cursor next;
    e = api_deliveries_page(req, tx, status, &q, &rows, &n, &next);
    storage_rollback(tx);
    if (e)
        return http_fail(req, e, "deliveries list: %s", err_name(e));
    struct buf out = BUF_INIT(ACTIVITY_LIST_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "deliveries");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jw_object_begin(&w);
        delivery_members(&w, &rows[i]);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    next_cursor(req, &w, 'd', &next);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

/* Writes node n of a parsed document through the escaping writer. */
static void json_copy(struct jw *w, const struct json *n)
{
    struct str s;
    double d;
    switch (json_type_of(n)) {
    case JSON_NULL:
        jw_null(w);
        break;
    case JSON_FALSE:
        jw_bool(w, false);
        break;
    case JSON_TRUE:
        jw_bool(w, true);
        break;
    case JSON_NUMBER:
        if (json_as_double(n, &d))
            jw_double(w, d);
        else
            jw_null(w);
        break;
    case JSON_STRING:
        if (json_as_str(n, &s))
            jw_string(w, s);
        else
            jw_null(w);
        break;
    case JSON_ARRAY:
        jw_array_begin(w);
        for (const struct json *c = json_first(n); c; c = json_next(c))
            json_copy(w, c);
        jw_array_end(w);
        break;
    case JSON_OBJECT:
        jw_object_begin(w);
        for (const struct json *c = json_first(n); c; c = json_next(c)) {
            jw_key(w, json_key(c));
            json_copy(w, c);
        }
        jw_object_end(w);
        break;
    default:
        jw_null(w);
        break;
    }
}

enum err activity_delivery_get(struct http_request *req, struct http_response *resp)
{
    struct arena *a = arena_new(ACTIVITY_BODY_ARENA_CAP);
    if (!a)
        return http_fail(req, ERR_INTERNAL, "delivery get: no arena");
    struct tx *tx;
    enum err e = begin_read(req, &tx);
    if (e) {
        arena_free(a);
        return e;
    }
    struct ingest_delivery d;
    e = ingest_delivery_get(tx, http_param(req, "id"), a, &d);
    storage_rollback(tx);
    struct json *doc = NULL;
    if (!e) {
        /* the stored body is redact_json's output: it parses within these limits */
        struct json_limits lim = INGEST_JSON_LIMITS;
        lim.max_bytes = INGEST_MAX_STORED_BODY;
        struct json_error jerr;
        if (json_parse(d.body.ptr, d.body.len, &lim, &doc, &jerr) != ERR_OK) {
            log_warn("delivery body does not parse", LOG_STR("delivery", d.id),
                     LOG_STR("reason", jerr.reason), LOG_STR("request_id", req->id));
            doc = NULL;
        }
    }
    struct buf out = BUF_INIT(ACTIVITY_BODY_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    if (!e) {
        jw_object_begin(&w);
        delivery_members(&w, &d);
        jw_key(&w, "body");
        if (doc)
            json_copy(&w, doc);
        else
            jw_null(&w);
        jw_object_end(&w);
    }
    json_free(doc);
    arena_free(a);
    if (e) {
        buf_release(&out);
        return e == ERR_NOT_FOUND ? e : http_fail(req, e, "delivery get: %s", err_name(e));
    }
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err activity_repositories(struct http_request *req, struct http_response *resp)
{
    struct api_list_query q;
    enum err e = api_list_query(req, 'r', &q);
    if (e)
        return e;
    struct tx *tx;
    if ((e = begin_read(req, &tx)))
        return e;
    struct ingest_repo *rows = NULL;
    size_t n = 0;
    struct ingest_cursor next;
    e = ingest_repositories_list(tx, &q.after, q.limit, req->arena, &rows, &n, &next);
    storage_rollback(tx);
    if (e)
        return http_fail(req, e, "repositories list: %s", err_name(e));
    struct buf out = BUF_INIT(ACTIVITY_LIST_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "repositories");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++)
        repo_json(&w, &rows[i]);
    jw_array_end(&w);
    next_cursor(req, &w, 'r', &next);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err activity_commits(struct http_request *req, struct http_response *resp)
{
    struct api_list_query q;
    struct str repo;
    enum err e = api_list_query(req, 'c', &q);
    if (!e)
        e = api_query_filter(req, "repo_id", INGEST_MAX_ID, NULL, &repo);
    if (e)
        return e;
    struct tx *tx;
    if ((e = begin_read(req, &tx)))
        return e;
    struct ingest_commit *rows = NULL;
    size_t n = 0;
    struct ingest_cursor next;
    e = ingest_commits_list(tx, repo, &q.after, q.limit, req->arena, &rows, &n, &next);
    storage_rollback(tx);
    if (e)
        return http_fail(req, e, "commits list: %s", err_name(e));
    struct buf out = BUF_INIT(ACTIVITY_LIST_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "commits");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++)
        commit_json(&w, &rows[i]);
    jw_array_end(&w);
    next_cursor(req, &w, 'c', &next);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err activity_prs(struct http_request *req, struct http_response *resp)
{
    struct api_list_query q;
    struct str repo, state;
    enum err e = api_list_query(req, 'p', &q);
    if (!e)
        e = api_query_filter(req, "repo_id", INGEST_MAX_ID, NULL, &repo);
    if (!e)
        e = api_query_filter(req, "state", INGEST_MAX_STATE, pr_states, &state);
    if (e)
        return e;
    struct tx *tx;
    if ((e = begin_read(req, &tx)))
        return e;
    struct ingest_pr *rows = NULL;
    size_t n = 0;
    struct ingest_cursor next;
    e = ingest_prs_list(tx, repo, state, &q.after, q.limit, req->arena, &rows, &n, &next);
    storage_rollback(tx);
    if (e)
        return http_fail(req, e, "pull requests list: %s", err_name(e));
    struct buf out = BUF_INIT(ACTIVITY_LIST_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "pull_requests");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++)
        pr_json(&w, &rows[i]);
    jw_array_end(&w);
    next_cursor(req, &w, 'p', &next);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err activity_deployments(struct http_request *req, struct http_response *resp)
{
    struct api_list_query q;
    struct str repo, env;
    enum err e = api_list_query(req, 'y', &q);
    if (!e)
        e = api_query_filter(req, "repo_id", INGEST_MAX_ID, NULL, &repo);
    if (!e)
        e = api_query_filter(req, "environment", INGEST_MAX_ENVIRONMENT, NULL, &env);
    if (e)
        return e;
    struct tx *tx;
    if ((e = begin_read(req, &tx)))
        return e;
    struct ingest_deployment *rows = NULL;
    size_t n = 0;
    struct ingest_cursor next;
    e = ingest_deployments_list(tx, repo, env, &q.after, q.limit, req->arena, &rows, &n, &next);
    storage_rollback(tx);
    if (e)
        return http_fail(req, e, "deployments list: %s", err_name(e));
    struct buf out = BUF_INIT(ACTIVITY_LIST_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "deployments");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++)
        deployment_json(&w, &rows[i]);
    jw_array_end(&w);
    next_cursor(req, &w, 'y', &next);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

/* ---- jobs: the dead-letter view and retry ---------------------------------------------- */

enum err api_jobs_page(struct http_request *req, struct tx *tx, struct str status,
                       const struct api_list_query *q, struct jobs_info **rows, size_t *n,
                       struct ingest_cursor *next)
{
    *n = 0;
    memset(next, 0, sizeof *next);
    enum jobs_status filter = JOBS_ANY;
    for (int s = JOBS_PENDING; status.ptr && s < JOBS_ANY; s++)
        if (str_eq_cstr(status, jobs_status_name((enum jobs_status)s)))
            filter = (enum jobs_status)s;
    struct jobs_cursor after = {0};
    if (q->has_cursor) {
        if (strlen(q->after.id) != JOBS_ID_LEN || q->after.key[0])
            return ERR_INVALID;
        after.created_at = q->after.at;
        memcpy(after.id, q->after.id, JOBS_ID_LEN + 1);
    }
    *rows = arena_calloc(req->arena, q->limit, sizeof **rows);
    if (!*rows)
        return ERR_LIMIT;
    struct jobs_cursor nx;
    enum err e = jobs_list(tx, filter, &after, q->limit, *rows, n, &nx);
    if (!e && nx.id[0]) {
        next->at = nx.created_at;
        memcpy(next->id, nx.id, JOBS_ID_LEN + 1);
    }
    return e;
}

enum err activity_jobs(struct http_request *req, struct http_response *resp)
{
    struct api_list_query q;
    struct str status;
    enum err e = api_list_query(req, 'j', &q);
    if (!e)
        e = api_query_filter(req, "status", INGEST_MAX_STATE, job_statuses, &status);
    if (e)
        return e;
    struct tx *tx;
    if ((e = begin_read(req, &tx)))
        return e;
    struct jobs_info *rows = NULL;
    size_t n = 0;
    struct ingest_cursor next;
    e = api_jobs_page(req, tx, status, &q, &rows, &n, &next);
    storage_rollback(tx);
    if (e == ERR_INVALID)
        return param_refused(req, "cursor", "not a cursor of this list");
    if (e)
        return http_fail(req, e, "jobs list: %s", err_name(e));
    struct buf out = BUF_INIT(ACTIVITY_LIST_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "jobs");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++)
        job_json(&w, &rows[i]);
    jw_array_end(&w);
    next_cursor(req, &w, 'j', &next);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err activity_do_job_retry(struct http_request *req, struct str id, struct jobs_info *out)
{
    memset(out, 0, sizeof *out);
    /* jobs_retry refuses a malformed id with ERR_INVALID: to a caller it is no id at all */
    char idc[JOBS_ID_LEN + 1];
    if (id.len != JOBS_ID_LEN)
        return ERR_NOT_FOUND;
    memcpy(idc, id.ptr, JOBS_ID_LEN);
    idc[JOBS_ID_LEN] = '\0';
    struct tx *tx;
    enum err e = storage_begin(req->app->storage, &req->principal.user.tenant, TX_WRITE, &tx);
    if (e)
        return http_fail(req, e, "job retry: begin: %s", err_name(e));
    e = jobs_retry(tx, idc);
    if (e == ERR_INVALID)
        e = ERR_NOT_FOUND;
    if (!e) {
        char target[ACTIVITY_TARGET_CAP];
        snprintf(target, sizeof target, "job:%s", idc);
        const struct auth_key_principal *key = req->principal.key;
        struct audit_event ev = {
            .action = "job.retried",
            .actor = key ? AUDIT_ACTOR_API_KEY : AUDIT_ACTOR_USER,
            .actor_id = key ? key->key_id : req->principal.user.user_id,
            .target = target,
            .outcome = AUDIT_SUCCESS,
            .client_ip = req->client_ip,
            .request_id = req->id,
        };
        e = audit_append(tx, &ev, NULL);
    }
    if (!e)
        e = jobs_get(tx, idc, out);
    if (!e)
        e = storage_commit(tx);
    else
        storage_rollback(tx);
    if (!e) {
        if (req->app->jobs)
            jobs_runner_notify(req->app->jobs);
        return ERR_OK;
    }
    if (e == ERR_NOT_FOUND)
        return e;
    if (e == ERR_CONFLICT)
        return http_fail_public(req, e, "not_dead", "The job was not retried: it is not dead.");
    return http_fail(req, e, "job retry: %s", err_name(e));
}

enum err activity_job_retry(struct http_request *req, struct http_response *resp)
{
    struct jobs_info j;
    enum err e = activity_do_job_retry(req, http_param(req, "id"), &j);
    if (e)
        return e;
    struct buf out = BUF_INIT(8 * 1024);
    struct jw w;
    jw_init(&w, &out);
    job_json(&w, &j);
    return api_respond_json(req, resp, 200, &w, &out);
}
