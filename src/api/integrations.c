/*
 * integrations — the JSON API of integrations (I1, C1, C3) on top of
 * ingest/integrations.h, and the actions the console's integrations page
 * shares with it (integrations_do_*).
 *
 *   GET    /api/v1/integrations?page=N             the integrations, INTEGRATIONS_PAGE a page
 *   POST   /api/v1/integrations                    {provider, name, repository_scope?,
 *                                                  azure_auth?, azure_header?}: create
 *                                                  (Idempotency-Key required); the secret once
 *   GET    /api/v1/integrations/{id}               one integration
 *   POST   /api/v1/integrations/{id}/rotate        a new secret, once; the old one stays
 *                                                  valid for INTEGRATIONS_ROTATION_GRACE_S
 *   POST   /api/v1/integrations/{id}/signing-secret  GitLab: a Standard Webhooks signing
 *                                                  secret, once
 *   DELETE /api/v1/integrations/{id}               delete it: its webhooks stop at once
 *
 * Design:
 *  - Every route needs AUTHZ_INTEGRATIONS_MANAGE (Admin and up; an API key
 *    with integrations:write). Reading needs it too: the list shows where
 *    webhooks go and which secrets exist, which is the managers' business.
 *  - Secrets are write-only (C3): an answer shows a secret only to the
 *    request that made it. A POST that made one keeps, for its
 *    Idempotency-Key, the same answer with the secret null (resp->idem_body),
 *    so a replay neither shows it twice nor has it stored in plaintext; a
 *    client that lost the answer rotates.
 *  - Refusals: 404 for an unknown id or another tenant's (T4); 400
 *    validation_failed with the field for a value the core refuses; 409
 *    limit_reached for an organization at INTEGRATIONS_MAX_PER_TENANT.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "ingest/integrations.h"

#define INTEGRATIONS_MAX_BODY (8 * 1024) /* bytes of a create body */
#define INTEGRATION_JSON_CAP  (8 * 1024) /* bytes of one integration's answer */

static const char *const json_only[] = {HTTP_JSON_TYPE, NULL};
static const char *const provider_enum[] = {"github",           "gitlab",       "bitbucket",
                                            "bitbucket-server", "azure-devops", NULL};
static const char *const azure_enum[] = {"basic", "header", "both", NULL};

static const struct json_limits create_limits = {
    .max_bytes = INTEGRATIONS_MAX_BODY,
    .max_depth = 2,
    .max_string = INTEGRATIONS_MAX_SCOPE * 4,
    .max_members = 8,
};

static const struct schema_field create_fields[] = {
    {.name = "provider",
     .kind = SCHEMA_STRING,
     .required = true,
     .enum_values = provider_enum,
     .description = "Who sends the webhooks"},
    {.name = "name",
     .kind = SCHEMA_STRING,
     .required = true,
     .min_len = 1,
     .max_len = INTEGRATIONS_MAX_NAME,
     .description = "What people call it: 1 to 100 characters, no control characters"},
    {.name = "repository_scope",
     .kind = SCHEMA_STRING,
     .min_len = 1,
     .max_len = INTEGRATIONS_MAX_SCOPE,
     .description = "Repositories whose deliveries count: globs (* and ?) separated by commas or "
                    "newlines, at most 1000 bytes; default *"},
    {.name = "azure_auth",
     .kind = SCHEMA_STRING,
     .enum_values = azure_enum,
     .description = "azure-devops only: Basic credentials, the secret header, or both (default)"},
    {.name = "azure_header",
     .kind = SCHEMA_STRING,
     .min_len = 1,
     .max_len = INTEGRATIONS_MAX_AZURE_HEADER,
     .description = "azure-devops only: the header that carries the secret (default "
                    "X-Shiplog-Secret)"},
};
static const struct schema create_schema = {create_fields,
                                            sizeof create_fields / sizeof create_fields[0], false};
const struct body_spec INTEGRATIONS_CREATE_BODY = {.content_types = json_only,
                                                   .json = true,
                                                   .limits = &create_limits,
                                                   .schema = &create_schema,
                                                   .name = "IntegrationCreate",
                                                   .description = "A provider and what to call it"};

/* ---- the actions, shared with the console ------------------------------------------ */

static void actor_of(const struct http_request *req, struct integrations_actor *who)
{
    *who = (struct integrations_actor){
        .user_id = req->principal.user.user_id,
        .key_id = req->principal.key ? req->principal.key->key_id : NULL,
        .client_ip = req->client_ip,
        .request_id = req->id,
    };
}

static enum err secrets_ready(struct http_request *req)
{
    return req->app->secrets ? ERR_OK
                             : http_fail(req, ERR_UNAVAILABLE, "integrations: no secrets context");
}

enum err integrations_field_refused(struct http_request *req, const char *field, const char *reason)
{
    struct schema_result *r = arena_calloc(req->arena, 1, sizeof *r);
    if (r) {
        r->n = 1;
        snprintf(r->errors[0].path, sizeof r->errors[0].path, "%s", field);
        snprintf(r->errors[0].reason, sizeof r->errors[0].reason, "%s", reason);
        req->fail_fields = r;
    }
    const char *msg = arena_printf(req->arena, "%s: %s.", field, reason);
    return http_fail_public(req, ERR_INVALID, "validation_failed",
                            msg ? msg : "A value is not acceptable.");
}

/* The field a refusal of the core is about, from its reason's first word. */
static const char *field_of(const char *reason)
{
    static const char *const fields[] = {"name", "repository", "azure_auth", "azure_header"};
    for (size_t i = 0; reason && i < sizeof fields / sizeof fields[0]; i++)
        if (strncmp(reason, fields[i], strlen(fields[i])) == 0)
            return i == 1 ? "repository_scope" : fields[i];
    if (reason && strncmp(reason, "a repository", 12) == 0)
        return "repository_scope";
    return "body";
}

enum err integrations_do_create(struct http_request *req, const struct integration_spec *spec,
                                struct integration *out, struct integration_secret *secret)
{
    memset(secret, 0, sizeof *secret);
    enum err e = secrets_ready(req);
    if (e)
        return e;
    struct integrations_actor who;
    actor_of(req, &who);
    const char *reason = NULL;
    e = integrations_create(req->app->storage, req->app->secrets, &req->principal.user.tenant, &who,
                            spec, (int64_t)time(NULL), out, secret, &reason);
    if (e == ERR_LIMIT && reason && strcmp(reason, INTEGRATIONS_REASON_FULL) == 0)
        return api_refused(req, ERR_CONFLICT, reason, "The integration was not created",
                           "limit_reached");
    if ((e == ERR_INVALID || e == ERR_LIMIT) && reason)
        return integrations_field_refused(req, field_of(reason), reason);
    return e ? api_refused(req, e, reason, "The integration was not created", NULL) : ERR_OK;
}

enum err integrations_do_rotate(struct http_request *req, struct str id, struct integration *out,
                                struct integration_secret *secret)
{
    memset(secret, 0, sizeof *secret);
    enum err e = secrets_ready(req);
    if (e)
        return e;
    struct integrations_actor who;
    actor_of(req, &who);
    e = integrations_rotate(req->app->storage, req->app->secrets, &req->principal.user.tenant, &who,
                            id, (int64_t)time(NULL), out, secret);
    return e ? api_refused(req, e, NULL, "The secret was not rotated", NULL) : ERR_OK;
}

enum err integrations_do_signing_secret(struct http_request *req, struct str id,
                                        struct integration *out, struct integration_secret *secret)
{
    memset(secret, 0, sizeof *secret);
    enum err e = secrets_ready(req);
    if (e)
        return e;
    struct integrations_actor who;
    actor_of(req, &who);
    const char *reason = NULL;
    e = integrations_signing_secret(req->app->storage, req->app->secrets,
                                    &req->principal.user.tenant, &who, id, (int64_t)time(NULL), out,
                                    secret, &reason);
    return e ? api_refused(req, e, reason, "No signing secret was made", NULL) : ERR_OK;
}

enum err integrations_do_delete(struct http_request *req, struct str id)
{
    struct integrations_actor who;
    actor_of(req, &who);
    enum err e = integrations_delete(req->app->storage, &req->principal.user.tenant, &who, id);
    return e ? api_refused(req, e, NULL, "The integration was not deleted", NULL) : ERR_OK;
}

const char *integrations_webhook_url(struct http_request *req, const struct integration *in)
{
    const struct config *cfg = req->app->cfg;
    return arena_printf(req->arena, "%.*s/hooks/%s/%s", api_public_base_len(cfg), cfg->public_url,
                        ingest_provider_name(in->provider), in->id);
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

/* The members of one integration (no secret), inside an open object. */
static void integration_members(struct http_request *req, struct jw *w,
                                const struct integration *in)
{
    jw_key(w, "id");
    jw_cstring(w, in->id);
    jw_key(w, "provider");
    jw_cstring(w, ingest_provider_name(in->provider));
    jw_key(w, "name");
    jw_cstring(w, in->name);
    jw_key(w, "repository_scope");
    jw_cstring(w, in->repository_scope);
    jw_key(w, "webhook_url");
    jw_cstring(w, integrations_webhook_url(req, in));
    jw_key(w, "secret_hint");
    jw_cstring(w, in->secret_hint);
    time_or_null(w, "previous_valid_until", in->previous_valid_until);
    jw_key(w, "signing_secret_hint");
    jw_cstring(w, in->has_signing_secret ? in->signing_secret_hint : NULL);
    jw_key(w, "azure_auth");
    jw_cstring(w, integration_azure_auth_name(in->azure_auth));
    jw_key(w, "azure_header");
    jw_cstring(w, in->azure_auth != INTEGRATION_AZURE_NONE ? in->azure_header : NULL);
    jw_key(w, "created_by");
    jw_cstring(w, in->created_by);
    jw_key(w, "created_at");
    jw_int(w, in->created_at);
    time_or_null(w, "rotated_at", in->rotated_at);
    time_or_null(w, "disabled_at", in->disabled_at);
}

/*
 * One integration and, under secret_key, the secret text (NULL: null) into
 * out, a secret buffer: the answer with the secret and the one a replay gets.
 */
static enum err integration_json(struct http_request *req, const struct integration *in,
                                 const char *secret_key, const char *secret, struct buf *out)
{
    struct jw w;
    jw_init(&w, out);
    jw_object_begin(&w);
    integration_members(req, &w, in);
    if (secret_key) {
        jw_key(&w, secret_key);
        jw_cstring(&w, secret);
    }
    jw_object_end(&w);
    return jw_finish(&w);
}

/*
 * Sends in with its new secret (wiped here) under secret_key, with status,
 * and keeps the answer without the secret for an Idempotency-Key's replay.
 */
static enum err respond_with_secret(struct http_request *req, struct http_response *resp,
                                    int status, const struct integration *in,
                                    const char *secret_key, struct integration_secret *secret)
{
    struct buf shown = BUF_INIT_SECRET(INTEGRATION_JSON_CAP);
    struct buf kept = BUF_INIT(INTEGRATION_JSON_CAP);
    enum err e = integration_json(req, in, secret_key, secret->text, &shown);
    integration_secret_wipe(secret);
    if (!e)
        e = integration_json(req, in, secret_key, NULL, &kept);
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

enum err integrations_api_create(struct http_request *req, struct http_response *resp)
{
    struct integration_spec spec = {
        .name = api_body_str(req, "name"),
        .repository_scope = api_body_str(req, "repository_scope"),
        .azure_auth = api_body_str(req, "azure_auth"),
        .azure_header = api_body_str(req, "azure_header"),
    };
    if (integration_provider_parse(api_body_str(req, "provider"), &spec.provider) != ERR_OK)
        return integrations_field_refused(req, "provider", "not a known provider");
    struct integration in;
    struct integration_secret secret;
    enum err e = integrations_do_create(req, &spec, &in, &secret);
    if (e) {
        integration_secret_wipe(&secret);
        return e;
    }
    return respond_with_secret(req, resp, 201, &in, "secret", &secret);
}

enum err integrations_api_rotate(struct http_request *req, struct http_response *resp)
{
    struct integration in;
    struct integration_secret secret;
    enum err e = integrations_do_rotate(req, http_param(req, "id"), &in, &secret);
    if (e) {
        integration_secret_wipe(&secret);
        return e;
    }
    return respond_with_secret(req, resp, 200, &in, "secret", &secret);
}

enum err integrations_api_signing_secret(struct http_request *req, struct http_response *resp)
{
    struct integration in;
    struct integration_secret secret;
    enum err e = integrations_do_signing_secret(req, http_param(req, "id"), &in, &secret);
    if (e) {
        integration_secret_wipe(&secret);
        return e;
    }
    return respond_with_secret(req, resp, 200, &in, "signing_secret", &secret);
}

enum err integrations_api_get(struct http_request *req, struct http_response *resp)
{
    struct integration in;
    enum err e = integrations_get(req->app->storage, &req->principal.user.tenant,
                                  http_param(req, "id"), (int64_t)time(NULL), &in);
    if (e)
        return e == ERR_NOT_FOUND ? e : http_fail(req, e, "integration get: %s", err_name(e));
    struct buf out = BUF_INIT(INTEGRATION_JSON_CAP);
    e = integration_json(req, &in, NULL, NULL, &out);
    if (!e)
        e = http_resp_json(req, resp, 200, &out);
    buf_release(&out);
    return e;
}

enum err integrations_api_list(struct http_request *req, struct http_response *resp)
{
    unsigned page = 0;
    if (api_members_page_of(req->query, &page) != ERR_OK || page >= INTEGRATIONS_MAX_PAGES) {
        char *msg =
            arena_printf(req->arena, "page: a number from 1 to %d.", INTEGRATIONS_MAX_PAGES);
        return http_fail_public(req, ERR_INVALID, "validation_failed", msg ? msg : "page.");
    }
    struct integration *list = arena_calloc(req->arena, INTEGRATIONS_PAGE, sizeof *list);
    if (!list)
        return ERR_LIMIT;
    size_t n = 0, total = 0;
    enum err e = integrations_list(req->app->storage, &req->principal.user.tenant, page,
                                   (int64_t)time(NULL), list, &n, &total);
    if (e)
        return http_fail(req, e, "integrations list: %s", err_name(e));
    struct buf out = BUF_INIT(INTEGRATIONS_PAGE * INTEGRATION_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "integrations");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jw_object_begin(&w);
        integration_members(req, &w, &list[i]);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_key(&w, "page");
    jw_int(&w, (int64_t)page + 1);
    jw_key(&w, "page_size");
    jw_int(&w, INTEGRATIONS_PAGE);
    jw_key(&w, "total");
    jw_int(&w, (int64_t)total);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err integrations_api_delete(struct http_request *req, struct http_response *resp)
{
    enum err e = integrations_do_delete(req, http_param(req, "id"));
    if (!e)
        resp->status = 204;
    return e;
}
