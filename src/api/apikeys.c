/*
 * apikeys — the JSON API of API keys (A7, Z3) on top of auth/auth.h:
 * POST /api/v1/api-keys creates one and shows its text once, GET lists
 * (everyone's for members.manage, else the caller's own), DELETE revokes.
 * The auth module enforces who may grant which scope and revoke which key;
 * this file only maps bodies and answers. Keys can call these routes only
 * with keys:write (the route is keys_route).
 *
 * The actions are shared with the console's keys page (apikeys_do_*). This
 * file also holds what every handler calling a core module shares (api.h):
 * the auth module's caller, and api_refused, which turns a core's refusal
 * into public words.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"

#define APIKEYS_MAX_BODY (4 * 1024) /* bytes of a create body */

static const char *const json_only[] = {"application/json", NULL};
static const struct json_limits create_limits = {
    .max_bytes = APIKEYS_MAX_BODY, .max_depth = 2, .max_string = 256, .max_members = 16};
/* auth.h's scope list (tests/unit/api/test_openapi.c keeps the two equal):
 * validated here so that the API description can name them */
static const char *const scope_names[] = {
    "content:read",  "drafts:write",   "drafts:review", "entries:publish", "integrations:write",
    "members:write", "content:export", "keys:write",    "audit:read",      NULL};
static const struct schema_field create_fields[] = {
    {.name = "name",
     .kind = SCHEMA_STRING,
     .required = true,
     .min_len = 1,
     .max_len = AUTH_MAX_KEY_NAME},
    {.name = "scopes",
     .kind = SCHEMA_ARRAY,
     .items = SCHEMA_STRING,
     .max_len = AUTH_SCOPE_COUNT,
     .enum_values = scope_names,
     .description = "Default: content:read only. Never more than the caller's role allows (or, "
                    "for a key, its own scopes)"},
    {.name = "expires_at",
     .kind = SCHEMA_INTEGER,
     .min = 1,
     .max = INT64_C(1) << 52,
     .description = "Unix seconds, at most a year ahead; absent = never"},
};
static const struct schema create_schema = {create_fields,
                                            sizeof create_fields / sizeof create_fields[0], false};
const struct body_spec APIKEYS_CREATE_BODY = {.content_types = json_only,
                                              .json = true,
                                              .limits = &create_limits,
                                              .schema = &create_schema,
                                              .name = "ApiKeyCreate"};

void api_auth_client_of(const struct http_request *req, struct auth_client *c)
{
    *c = (struct auth_client){.ip = req->client_ip, .request_id = req->id};
}

/* Who acts (the principal's user and role, or the calling key; NULL for a session), from where. */
static void actor_of(const struct http_request *req, struct auth_actor *who, struct auth_client *c)
{
    *who = (struct auth_actor){.user_id = req->principal.user.user_id,
                               .role = authz_role_parse(str_from_cstr(req->principal.role)),
                               .key = req->principal.key};
    api_auth_client_of(req, c);
}

enum err api_refused(struct http_request *req, enum err e, const char *reason, const char *what,
                     const char *conflict_code)
{
    if (e == ERR_NOT_FOUND)
        return e;
    if (e == ERR_UNAUTHENTICATED)
        return http_fail_public(req, e, "unauthenticated", "Sign in to use this endpoint.");
    if (e != ERR_FORBIDDEN && e != ERR_CONFLICT && e != ERR_INVALID && e != ERR_LIMIT)
        return http_fail(req, e, "%s: %s", what, err_name(e));
    const char *msg = arena_printf(req->arena, "%s: %s.", what, reason ? reason : "not allowed");
    if (!msg)
        msg = what; /* the arena is full: the action's words alone */
    if (e == ERR_FORBIDDEN)
        return http_fail_public(req, e, "permission_denied", msg);
    if (e == ERR_CONFLICT)
        return http_fail_public(req, e, conflict_code ? conflict_code : "conflict", msg);
    return http_fail_public(req, ERR_INVALID, "validation_failed", msg);
}

enum err apikeys_do_create(struct http_request *req, struct str name, uint32_t scopes,
                           int64_t expires_at, int64_t now, struct auth_key_created *out,
                           const char **reason)
{
    struct auth_actor who;
    struct auth_client c;
    actor_of(req, &who, &c);
    return auth_key_create(req->app->storage, &req->principal.user.tenant, &who, name, scopes,
                           expires_at, now, &c, out, reason);
}

enum err apikeys_do_revoke(struct http_request *req, struct str id, const char **reason)
{
    struct auth_actor who;
    struct auth_client c;
    actor_of(req, &who, &c);
    return auth_key_revoke(req->app->storage, &req->principal.user.tenant, id, &who,
                           (int64_t)time(NULL), &c, reason);
}

static void scopes_json(struct jw *w, uint32_t scopes)
{
    jw_array_begin(w);
    for (size_t i = 0; i < AUTH_SCOPE_COUNT; i++) {
        const struct auth_scope_entry *s = auth_scope_at(i);
        if (s && (scopes & s->bit))
            jw_cstring(w, s->name);
    }
    jw_array_end(w);
}

enum err apikeys_create(struct http_request *req, struct http_response *resp)
{
    struct str name;
    (void)json_as_str(json_get(req->json, "name"), &name);
    uint32_t scopes = 0;
    const struct json *list = json_get(req->json, "scopes");
    for (const struct json *it = json_first(list); it; it = json_next(it)) {
        struct str s;
        uint32_t bit;
        if (!json_as_str(it, &s) || auth_scope_parse(s, &bit) != ERR_OK)
            return http_fail_public(req, ERR_INVALID, "validation_failed",
                                    "scopes: an unknown scope (see the API description).");
        scopes |= bit;
    }
    int64_t expires_at = 0;
    (void)json_as_i64(json_get(req->json, "expires_at"), &expires_at);
    struct auth_key_created k;
    const char *reason = NULL;
    enum err e = apikeys_do_create(req, name, scopes, expires_at, (int64_t)time(NULL), &k, &reason);
    if (e) {
        auth_key_created_wipe(&k);
        return api_refused(req, e, reason, "The key was not created", NULL);
    }
    struct buf out = BUF_INIT_SECRET(2048);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "id");
    jw_cstring(&w, k.id);
    jw_key(&w, "prefix");
    jw_cstring(&w, k.prefix);
    jw_key(&w, "key");
    jw_cstring(&w, k.text);
    jw_key(&w, "scopes");
    scopes_json(&w, k.scopes);
    jw_key(&w, "expires_at");
    if (k.expires_at)
        jw_int(&w, k.expires_at);
    else
        jw_null(&w);
    jw_object_end(&w);
    auth_key_created_wipe(&k);
    e = jw_finish(&w);
    if (!e)
        e = http_resp_json(req, resp, 201, &out);
    buf_wipe(&out);
    buf_release(&out);
    return e;
}

enum err apikeys_list(struct http_request *req, struct http_response *resp)
{
    struct auth_key_info *keys = arena_calloc(req->arena, AUTH_MAX_KEYS_PER_TENANT, sizeof *keys);
    if (!keys)
        return ERR_LIMIT;
    /* Admins see every key of the organization; others their own */
    bool all =
        !req->principal.key &&
        authz_allows(authz_role_parse(str_from_cstr(req->principal.role)), AUTHZ_MEMBERS_MANAGE);
    size_t n = 0;
    enum err e =
        auth_key_list(req->app->storage, &req->principal.user.tenant,
                      all ? NULL : req->principal.user.user_id, keys, AUTH_MAX_KEYS_PER_TENANT, &n);
    if (e)
        return http_fail(req, e, "api keys list: %s", err_name(e));
    struct buf out = BUF_INIT(256 * 1024);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "api_keys");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++) {
        const struct auth_key_info *k = &keys[i];
        jw_object_begin(&w);
        jw_key(&w, "id");
        jw_cstring(&w, k->id);
        jw_key(&w, "name");
        jw_cstring(&w, k->name);
        jw_key(&w, "prefix");
        jw_cstring(&w, k->prefix);
        jw_key(&w, "scopes");
        scopes_json(&w, k->scopes);
        jw_key(&w, "created_by");
        jw_cstring(&w, k->created_by);
        jw_key(&w, "created_at");
        jw_int(&w, k->created_at);
        const char *names[] = {"expires_at", "last_used_at", "revoked_at"};
        const int64_t vals[] = {k->expires_at, k->last_used_at, k->revoked_at};
        for (size_t j = 0; j < 3; j++) {
            jw_key(&w, names[j]);
            if (vals[j])
                jw_int(&w, vals[j]);
            else
                jw_null(&w);
        }
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_object_end(&w);
    e = jw_finish(&w);
    if (!e)
        e = http_resp_json(req, resp, 200, &out);
    buf_release(&out);
    return e;
}

enum err apikeys_revoke(struct http_request *req, struct http_response *resp)
{
    const char *reason = NULL;
    enum err e = apikeys_do_revoke(req, http_param(req, "id"), &reason);
    if (e)
        return api_refused(req, e, reason, "The key was not revoked", NULL);
    resp->status = 204;
    return ERR_OK;
}
