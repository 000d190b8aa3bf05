/*
 * feed — the public delivery routes (W1, W2; docs/FEED.md):
 *   GET /feed/{tenant_slug}.json   JSON Feed 1.1
 *   GET /feed/{tenant_slug}.atom   Atom (RFC 4287), paged as RFC 5005 says
 *   GET /widget.js                 the embeddable widget's script
 *
 * No session: the slug names the tenant. A page comes from the in-memory
 * cache when it was rendered less than SHIPLOG_FEED_CACHE_TTL_MS ago (no
 * database touched); otherwise the tenant is found by its slug, the page is
 * read in a read transaction of that tenant, rendered and kept. Every answer
 * carries a strong ETag; If-None-Match naming it (or "*") gets 304 without a
 * body. The pipeline adds the open CORS headers of delivery paths.
 *
 * Not rate limited, like the constant documents: a cache hit costs less than
 * counting it would, and a miss costs one indexed read.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/log.h"
#include "delivery/cache.h"
#include "delivery/etag.h"
#include "delivery/feed.h"
#include "http/form.h"

#define FEED_MAX_AGE   "public, max-age=60" /* browsers and shared caches: a minute */
#define WIDGET_MAX_AGE "public, max-age=300"

extern const char delivery_widget_js[];
extern const size_t delivery_widget_js_len;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool conditional(const struct http_request *req)
{
    return http_header_get(req, "If-None-Match").ptr != NULL;
}

/* True when any If-None-Match line of the request names etag (or is "*"). */
static bool not_modified(const struct http_request *req, const char *etag)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (str_ieq_cstr(req->headers[i].name, "If-None-Match") &&
            etag_none_match_hits(req->headers[i].value, str_from_cstr(etag)))
            return true;
    return false;
}

/*
 * Answers with body (already in the arena or static) and its tag: 304 and no
 * body when the client holds it.
 */
static enum err answer(struct http_request *req, struct http_response *resp,
                       const char *content_type, const char *body, size_t len, const char *etag,
                       const char *cache_control)
{
    enum err e = http_resp_header(req, resp, "ETag", etag);
    if (!e)
        e = http_resp_header(req, resp, "Cache-Control", cache_control);
    if (e)
        return e;
    if (not_modified(req, etag)) {
        resp->status = 304;
        return ERR_OK;
    }
    resp->status = 200;
    resp->content_type = content_type;
    resp->body = body;
    resp->body_len = len;
    return ERR_OK;
}

static enum err no_such_feed(struct http_request *req)
{
    return http_fail_public(req, ERR_NOT_FOUND, "not_found", "No such feed.");
}

/* The cursor query parameter: STR_NULL when absent or empty; a recorded 400 when malformed. */
static enum err cursor_of(struct http_request *req, struct str *out)
{
    *out = STR_NULL;
    if (req->query.len == 0)
        return ERR_OK;
    const char *why = NULL;
    if (form_validate(req->query, &why) != ERR_OK)
        return integrations_field_refused(req, "query", why ? why : "not a well-formed query");
    struct buf v = BUF_INIT(FEED_CURSOR_LEN);
    enum err e = form_get(req->query, "cursor", &v);
    if (e == ERR_NOT_FOUND || (!e && v.len == 0)) {
        buf_release(&v);
        return ERR_OK;
    }
    struct str c = str_from(buf_cstr(&v), v.len);
    char *copy = !e && feed_cursor_valid(c) ? arena_strndup(req->arena, c.ptr, c.len) : NULL;
    buf_release(&v);
    if (!copy)
        return integrations_field_refused(req, "cursor", "not a cursor of this feed");
    *out = str_from(copy, FEED_CURSOR_LEN);
    return ERR_OK;
}

/* Reads and renders the page of key (a cache miss) into out. */
static enum err render_page(struct http_request *req, enum feed_format f, struct str slug,
                            struct str cursor, struct tenant_ctx *tenant, struct buf *out)
{
    const struct app *app = req->app;
    enum err e = storage_tenant_by_slug(app->storage, slug, tenant);
    if (e == ERR_NOT_FOUND)
        return no_such_feed(req);
    if (e)
        return http_fail(req, e, "feed: tenant of slug");
    struct feed_page *page = arena_calloc(req->arena, 1, sizeof *page);
    if (!page)
        return ERR_LIMIT;
    struct tx *tx = NULL;
    e = storage_begin(app->storage, tenant, TX_READ, &tx);
    if (e)
        return http_fail(req, e, "feed: begin");
    e = feed_page_read(tx, cursor, req->arena, page);
    if (e) {
        storage_rollback(tx);
        if (e == ERR_NOT_FOUND)
            return integrations_field_refused(req, "cursor", "not a cursor of this feed");
        return http_fail(req, e, "feed: read");
    }
    e = storage_commit(tx);
    if (e)
        return http_fail(req, e, "feed: commit");
    const struct config *cfg = app->cfg;
    struct feed_links links = {
        .base_url = str_from(cfg->public_url, (size_t)api_public_base_len(cfg)),
        .slug = slug,
        .cursor = cursor,
        .tenant_id = str_from_cstr(tenant->id),
    };
    e = feed_render(page, f, &links, out);
    return e ? http_fail(req, e, "feed: render") : ERR_OK;
}

static enum err feed_serve(struct http_request *req, struct http_response *resp, enum feed_format f)
{
    struct str slug = http_param(req, "tenant_slug"), cursor;
    if (!storage_slug_valid(slug))
        return no_such_feed(req);
    enum err e = cursor_of(req, &cursor);
    if (e)
        return e;
    struct feed_cache_key key;
    if (!feed_cache_key_make(&key, f, slug, cursor))
        return no_such_feed(req); /* both were checked: cannot happen */
    unsigned ttl = req->app->cfg->feed_cache_ttl_ms;
    struct feed_cache_page hit;
    /* a revalidation is answered from the tag alone, without copying the page */
    bool cond = conditional(req);
    e = feed_cache_get(&key, now_ms(), ttl, cond ? NULL : req->arena, &hit);
    if (!e && cond && !not_modified(req, hit.etag))
        e = feed_cache_get(&key, now_ms(), ttl, req->arena, &hit); /* changed: the page */
    if (!e)
        return answer(req, resp, feed_media_type(f), hit.body, hit.len, hit.etag, FEED_MAX_AGE);
    if (e != ERR_NOT_FOUND)
        return e;

    uint64_t epoch = feed_cache_epoch(); /* before the read: see cache.h */
    struct tenant_ctx tenant;
    struct buf out = BUF_INIT(FEED_MAX_PAGE_BYTES);
    e = render_page(req, f, slug, cursor, &tenant, &out);
    char *body = e ? NULL : arena_strndup(req->arena, buf_cstr(&out), out.len);
    size_t len = out.len;
    buf_release(&out);
    if (e)
        return e;
    if (!body)
        return ERR_LIMIT;
    char etag[ETAG_LEN + 1];
    etag_of(body, len, etag);
    feed_cache_put(&key, &tenant, epoch, body, len, etag, now_ms(), ttl);
    return answer(req, resp, feed_media_type(f), body, len, etag, FEED_MAX_AGE);
}

enum err feed_json(struct http_request *req, struct http_response *resp)
{
    return feed_serve(req, resp, FEED_FORMAT_JSON);
}

enum err feed_atom(struct http_request *req, struct http_response *resp)
{
    return feed_serve(req, resp, FEED_FORMAT_ATOM);
}

/* The script is constant: its tag is computed once. */
static char widget_etag[ETAG_LEN + 1];
static pthread_once_t widget_etag_once = PTHREAD_ONCE_INIT;

static void widget_etag_init(void)
{
    etag_of(delivery_widget_js, delivery_widget_js_len, widget_etag);
}

enum err widget_script(struct http_request *req, struct http_response *resp)
{
    (void)pthread_once(&widget_etag_once, widget_etag_init);
    enum err e = answer(req, resp, "text/javascript; charset=utf-8", delivery_widget_js,
                        delivery_widget_js_len, widget_etag, WIDGET_MAX_AGE);
    resp->body_static = true;
    return e;
}
