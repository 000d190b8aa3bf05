/*
 * outbound — the JSON API of outbound webhook endpoints (W3) on top of
 * outbound/outbound.h.
 *
 *   GET    /api/v1/endpoints                      the endpoints (secret hints only)
 *   POST   /api/v1/endpoints                      {url, description?}: register
 *                                                 (Idempotency-Key required); the secret once
 *   GET    /api/v1/endpoints/{id}                 one endpoint
 *   POST   /api/v1/endpoints/{id}/rotate          a new secret, once; the old one ends at once
 *   POST   /api/v1/endpoints/{id}/test            queue a "webhook.test" event to it
 *   POST   /api/v1/endpoints/{id}/disable         no new messages; queued ones die
 *   POST   /api/v1/endpoints/{id}/enable          events reach it again
 *   GET    /api/v1/endpoints/{id}/deliveries      its delivery log, newest first
 *                                                 (?before=<message id>)
 *   DELETE /api/v1/endpoints/{id}                 delete it with its log
 *
 * Design:
 *  - Every route needs AUTHZ_INTEGRATIONS_MANAGE (Admin and up; an API key
 *    with integrations:write), reading included: an endpoint URL may carry a
 *    receiver's token in its path or query, and the log shows what was sent.
 *  - Secrets are write-only, as for integrations: a POST that made one keeps,
 *    for its Idempotency-Key, the same answer with the secret null.
 *  - The URL is checked against the operator's policy
 *    (SHIPLOG_OUTBOUND_ALLOW_PRIVATE): a literal non-public address is a 400
 *    naming url; names are checked on every connect (net/httpc.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "jobs/jobs.h"
#include "outbound/outbound.h"

#define OUTBOUND_API_MAX_BODY (8 * 1024) /* bytes of a create body */
#define ENDPOINT_JSON_CAP     (8 * 1024) /* bytes of one endpoint's answer */
#define MESSAGE_JSON_CAP      (4 * 1024) /* bytes of one message of the log */

static const char *const json_only[] = {HTTP_JSON_TYPE, NULL};

static const struct json_limits create_limits = {
    .max_bytes = OUTBOUND_API_MAX_BODY,
    .max_depth = 2,
    .max_string = OUTBOUND_MAX_URL,
    .max_members = 4,
};

static const struct schema_field create_fields[] = {
    {.name = "url",
     .kind = SCHEMA_STRING,
     .required = true,
     .min_len = 1,
     .max_len = OUTBOUND_MAX_URL,
     .description = "Where events are POSTed: http:// or https://, no user information, not a "
                    "loopback, private or link-local address unless the operator allows them"},
    {.name = "description",
     .kind = SCHEMA_STRING,
     .max_len = OUTBOUND_MAX_DESCRIPTION,
     .description = "What people call it: up to 1000 bytes, no control characters"},
};
static const struct schema create_schema = {create_fields,
                                            sizeof create_fields / sizeof create_fields[0], false};
const struct body_spec OUTBOUND_CREATE_BODY = {.content_types = json_only,
                                               .json = true,
                                               .limits = &create_limits,
                                               .schema = &create_schema,
                                               .name = "EndpointCreate",
                                               .description = "A URL and what to call it"};

static void actor_of(const struct http_request *req, struct outbound_actor *who)
{
    *who = (struct outbound_actor){
        .user_id = req->principal.user.user_id,
        .key_id = req->principal.key ? req->principal.key->key_id : NULL,
        .client_ip = req->client_ip,
        .request_id = req->id,
    };
}

static enum err secrets_ready(struct http_request *req)
{
    return req->app->secrets ? ERR_OK
                             : http_fail(req, ERR_UNAVAILABLE, "outbound: no secrets context");
}

static const char *field_of(const char *reason)
{
    if (reason && strncmp(reason, "url", 3) == 0)
        return "url";
    if (reason && strncmp(reason, "description", 11) == 0)
        return "description";
    return "body";
}

/* ---- answers ------------------------------------------------------------------------ */

static void time_or_null(struct jw *w, const char *key, int64_t t)
{
    jw_key(w, key);
    if (t)
        jw_int(w, t);
    else
        jw_null(w);
}

static void endpoint_members(struct jw *w, const struct outbound_endpoint *ep)
{
    jw_key(w, "id");
    jw_cstring(w, ep->id);
    jw_key(w, "url");
    jw_cstring(w, ep->url);
    jw_key(w, "description");
    jw_cstring(w, ep->description);
    jw_key(w, "secret_hint");
    jw_cstring(w, ep->secret_hint);
    jw_key(w, "created_by");
    jw_cstring(w, ep->created_by);
    jw_key(w, "created_at");
    jw_int(w, ep->created_at);
    time_or_null(w, "rotated_at", ep->rotated_at);
    time_or_null(w, "disabled_at", ep->disabled_at);
}

static enum err endpoint_json(const struct outbound_endpoint *ep, bool with_secret,
                              const char *secret, struct buf *out)
{
    struct jw w;
    jw_init(&w, out);
    jw_object_begin(&w);
    endpoint_members(&w, ep);
    if (with_secret) {
        jw_key(&w, "secret");
        jw_cstring(&w, secret);
    }
    jw_object_end(&w);
    return jw_finish(&w);
}

/* Sends ep with its new secret (wiped here); keeps the answer without it for a replay. */
static enum err respond_with_secret(struct http_request *req, struct http_response *resp,
                                    int status, const struct outbound_endpoint *ep,
                                    struct outbound_secret *secret)
{
    struct buf shown = BUF_INIT_SECRET(ENDPOINT_JSON_CAP);
    struct buf kept = BUF_INIT(ENDPOINT_JSON_CAP);
    enum err e = endpoint_json(ep, true, secret->text, &shown);
    outbound_secret_wipe(secret);
    if (!e)
        e = endpoint_json(ep, true, NULL, &kept);
    if (!e)
        e = http_resp_json(req, resp, status, &shown);
    if (!e) {
        char *copy = arena_strndup(req->arena, buf_cstr(&kept), kept.len);
        if (!copy)
            e = ERR_LIMIT;
        resp->idem_body = copy;
        resp->idem_body_len = copy ? kept.len : 0;
    }
    buf_wipe(&shown);
    buf_release(&shown);
    buf_release(&kept);
    return e;
}

/* ---- handlers ----------------------------------------------------------------------- */

enum err outbound_api_create(struct http_request *req, struct http_response *resp)
{
    enum err e = secrets_ready(req);
    if (e)
        return e;
    struct outbound_actor who;
    actor_of(req, &who);
    struct httpc_policy policy = {.allow_private = req->app->cfg->outbound_allow_private};
    struct str description = api_body_str(req, "description");
    struct outbound_endpoint ep;
    struct outbound_secret secret;
    const char *reason = NULL;
    e = outbound_endpoint_create(req->app->storage, req->app->secrets, &req->principal.user.tenant,
                                 &who, &policy, api_body_str(req, "url"),
                                 description.ptr ? description : STR_LIT(""), (int64_t)time(NULL),
                                 &ep, &secret, &reason);
    if (e) {
        outbound_secret_wipe(&secret);
        if (e == ERR_LIMIT && reason && strcmp(reason, OUTBOUND_REASON_FULL) == 0)
            return api_refused(req, ERR_CONFLICT, reason, "The endpoint was not registered",
                               "limit_reached");
        if ((e == ERR_INVALID || e == ERR_LIMIT || e == ERR_FORBIDDEN) && reason)
            return integrations_field_refused(req, field_of(reason), reason);
        return api_refused(req, e, reason, "The endpoint was not registered", NULL);
    }
    return respond_with_secret(req, resp, 201, &ep, &secret);
}

enum err outbound_api_rotate(struct http_request *req, struct http_response *resp)
{
    enum err e = secrets_ready(req);
    if (e)
        return e;
    struct outbound_actor who;
    actor_of(req, &who);
    struct outbound_endpoint ep;
    struct outbound_secret secret;
    e = outbound_endpoint_rotate(req->app->storage, req->app->secrets, &req->principal.user.tenant,
                                 &who, http_param(req, "id"), (int64_t)time(NULL), &ep, &secret);
    if (e) {
        outbound_secret_wipe(&secret);
        return api_refused(req, e, NULL, "The secret was not rotated", NULL);
    }
    return respond_with_secret(req, resp, 200, &ep, &secret);
}

enum err outbound_api_get(struct http_request *req, struct http_response *resp)
{
    struct outbound_endpoint ep;
    enum err e = outbound_endpoint_get(req->app->storage, &req->principal.user.tenant,
                                       http_param(req, "id"), &ep);
    if (e)
        return e == ERR_NOT_FOUND ? e : http_fail(req, e, "endpoint get: %s", err_name(e));
    struct buf out = BUF_INIT(ENDPOINT_JSON_CAP);
    e = endpoint_json(&ep, false, NULL, &out);
    if (!e)
        e = http_resp_json(req, resp, 200, &out);
    buf_release(&out);
    return e;
}

enum err outbound_api_list(struct http_request *req, struct http_response *resp)
{
    struct outbound_endpoint *list =
        arena_calloc(req->arena, OUTBOUND_MAX_PER_TENANT, sizeof *list);
    if (!list)
        return ERR_LIMIT;
    size_t n = 0;
    enum err e = outbound_endpoint_list(req->app->storage, &req->principal.user.tenant, list, &n);
    if (e)
        return http_fail(req, e, "endpoints list: %s", err_name(e));
    struct buf out = BUF_INIT(OUTBOUND_MAX_PER_TENANT * ENDPOINT_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "endpoints");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jw_object_begin(&w);
        endpoint_members(&w, &list[i]);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_key(&w, "max");
    jw_int(&w, OUTBOUND_MAX_PER_TENANT);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

static enum err set_disabled(struct http_request *req, struct http_response *resp, bool disabled)
{
    struct outbound_actor who;
    actor_of(req, &who);
    struct outbound_endpoint ep;
    enum err e =
        outbound_endpoint_set_disabled(req->app->storage, &req->principal.user.tenant, &who,
                                       http_param(req, "id"), disabled, (int64_t)time(NULL), &ep);
    if (e)
        return api_refused(
            req, e, NULL,
            disabled ? "The endpoint was not disabled" : "The endpoint was not enabled", NULL);
    struct buf out = BUF_INIT(ENDPOINT_JSON_CAP);
    e = endpoint_json(&ep, false, NULL, &out);
    if (!e)
        e = http_resp_json(req, resp, 200, &out);
    buf_release(&out);
    return e;
}

enum err outbound_api_disable(struct http_request *req, struct http_response *resp)
{
    return set_disabled(req, resp, true);
}

enum err outbound_api_enable(struct http_request *req, struct http_response *resp)
{
    return set_disabled(req, resp, false);
}

enum err outbound_api_delete(struct http_request *req, struct http_response *resp)
{
    struct outbound_actor who;
    actor_of(req, &who);
    enum err e = outbound_endpoint_delete(req->app->storage, &req->principal.user.tenant, &who,
                                          http_param(req, "id"));
    if (e)
        return api_refused(req, e, NULL, "The endpoint was not deleted", NULL);
    resp->status = 204;
    return ERR_OK;
}

enum err outbound_api_test(struct http_request *req, struct http_response *resp)
{
    char msg_id[OUTBOUND_MSG_ID_LEN + 1];
    enum err e = outbound_send_test(req->app->storage, &req->principal.user.tenant,
                                    http_param(req, "id"), (int64_t)time(NULL), msg_id);
    if (e == ERR_CONFLICT)
        return api_refused(req, e, "the endpoint is disabled", "No test event was sent",
                           "endpoint_disabled");
    if (e)
        return api_refused(req, e, NULL, "No test event was sent", NULL);
    if (req->app->jobs)
        jobs_runner_notify(req->app->jobs);
    struct buf out = BUF_INIT(256);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "message_id");
    jw_cstring(&w, msg_id);
    jw_key(&w, "event_type");
    jw_cstring(&w, OUTBOUND_TEST_EVENT);
    jw_object_end(&w);
    return api_respond_json(req, resp, 202, &w, &out);
}

static void message_members(struct jw *w, const struct outbound_message *m)
{
    jw_key(w, "id");
    jw_cstring(w, m->id);
    jw_key(w, "event_type");
    jw_cstring(w, m->event_type);
    jw_key(w, "status");
    jw_cstring(w, outbound_status_name(m->status));
    jw_key(w, "attempts");
    jw_int(w, m->attempts);
    jw_key(w, "last_status");
    if (m->last_status)
        jw_int(w, m->last_status);
    else
        jw_null(w);
    jw_key(w, "last_error");
    jw_cstring(w, m->last_error[0] ? m->last_error : NULL);
    time_or_null(w, "next_attempt_at", m->next_attempt_at);
    jw_key(w, "created_at");
    jw_int(w, m->created_at);
    time_or_null(w, "delivered_at", m->delivered_at);
    jw_key(w, "payload_bytes");
    jw_int(w, (int64_t)m->payload_len);
    jw_key(w, "attempt_log");
    jw_array_begin(w);
    for (size_t i = 0; i < m->n_tries; i++) {
        const struct outbound_attempt *a = &m->tries[i];
        jw_object_begin(w);
        jw_key(w, "attempt");
        jw_int(w, a->attempt);
        jw_key(w, "at");
        jw_int(w, a->at);
        jw_key(w, "outcome");
        jw_cstring(w, a->delivered ? "delivered" : "failed");
        jw_key(w, "http_status");
        if (a->http_status)
            jw_int(w, a->http_status);
        else
            jw_null(w);
        jw_key(w, "error");
        jw_cstring(w, a->error[0] ? a->error : NULL);
        jw_key(w, "latency_ms");
        jw_int(w, a->latency_ms);
        jw_object_end(w);
    }
    jw_array_end(w);
}

enum err outbound_api_deliveries(struct http_request *req, struct http_response *resp)
{
    struct str before = STR_NULL;
    enum err e = api_query_filter(req, "before", OUTBOUND_MSG_ID_LEN, NULL, &before);
    if (e)
        return e;
    struct outbound_message *list = arena_calloc(req->arena, OUTBOUND_LOG_PAGE, sizeof *list);
    if (!list)
        return ERR_LIMIT;
    size_t n = 0;
    e = outbound_log(req->app->storage, &req->principal.user.tenant, http_param(req, "id"), before,
                     list, &n);
    if (e == ERR_INVALID)
        return integrations_field_refused(req, "before", "a message id (msg_ and 32 hex digits)");
    if (e)
        return e == ERR_NOT_FOUND ? e : http_fail(req, e, "endpoint log: %s", err_name(e));
    struct buf out = BUF_INIT(OUTBOUND_LOG_PAGE * MESSAGE_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "deliveries");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jw_object_begin(&w);
        message_members(&w, &list[i]);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_key(&w, "next_before");
    jw_cstring(&w, n == OUTBOUND_LOG_PAGE ? list[n - 1].id : NULL);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}
