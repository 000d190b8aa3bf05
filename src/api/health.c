/*
 * health — liveness and readiness (H9, P7). Liveness never touches a
 * dependency: a process that answers is alive. Readiness asks the database
 * (reachable, schema at this binary's version); its failure detail goes to the
 * log under the support id, never into the response. The key vault (tenant
 * data keys) is a second database and must be ready too.
 */
#include <time.h>

#include "api/api.h"

#define HEALTH_BODY_MAX 1024

enum err health_live(struct http_request *req, struct http_response *resp)
{
    struct buf out = BUF_INIT(HEALTH_BODY_MAX);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_cstring(&w, "ok");
    jw_key(&w, "version");
    jw_cstring(&w, req->app->version);
    jw_object_end(&w);
    enum err e = jw_finish(&w);
    if (!e)
        e = http_resp_json(req, resp, 200, &out);
    buf_release(&out);
    return e;
}

enum err health_ready(struct http_request *req, struct http_response *resp)
{
    struct buf detail = BUF_INIT(1024);
    enum err e = storage_ready(req->app->storage, &detail);
    if (e) {
        e = http_fail(req, ERR_UNAVAILABLE, "database not ready: %s", buf_cstr(&detail));
        buf_release(&detail);
        return e;
    }
    if (req->app->vault && (e = storage_ready(req->app->vault, &detail)) != ERR_OK) {
        e = http_fail(req, ERR_UNAVAILABLE, "key vault not ready: %s", buf_cstr(&detail));
        buf_release(&detail);
        return e;
    }
    buf_release(&detail);
    struct buf out = BUF_INIT(HEALTH_BODY_MAX);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_cstring(&w, "ready");
    jw_key(&w, "database");
    jw_cstring(&w, "ok");
    /* information only: without Redis, limits are kept in-process (H8, H9) */
    bool configured = false, up = false;
    if (req->app->ratelimit)
        ratelimit_status(req->app->ratelimit, &configured, &up);
    jw_key(&w, "redis");
    jw_cstring(&w, !configured ? "not configured" : up ? "up" : "down");
    jw_object_end(&w);
    e = jw_finish(&w);
    if (!e)
        e = http_resp_json(req, resp, 200, &out);
    buf_release(&out);
    return e;
}
