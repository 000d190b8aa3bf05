/*
 * llm — the JSON API of a tenant's LLM provider for changelog drafts (D2,
 * D3) on top of changes/llm_service.h.
 *
 *   GET /api/v1/settings/llm   the configuration (the key's hint, never the key)
 *                              and this month's usage against the budget
 *   PUT /api/v1/settings/llm   replace it: {provider, base_url?, model?,
 *                              monthly_token_budget, max_output_tokens?, api_key?}
 *   GET /api/v1/llm/calls      the call log, newest first (?limit=1..100, ?cursor=)
 *
 * Design:
 *  - All three need AUTHZ_INTEGRATIONS_MANAGE (Admins and up; API keys with
 *    integrations:write): a provider is an outbound integration with a
 *    secret, and where change metadata is sent is the managers' business.
 *  - The key is write-only (C3): api_key absent keeps the stored one, a
 *    string replaces it, null removes it; answers show api_key_set and a hint.
 *  - base_url is checked by llm_base_url_check (http(s), no userinfo, no
 *    query) and by httpc_url_check under the operator's outbound policy, so
 *    a literal private address is refused at once; names are judged when a
 *    call connects.
 *  - The change and its audit event ("settings.llm_changed") commit
 *    together; the answer is the configuration now in force.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "changes/llm_service.h"

#define LLM_MAX_BODY     4096        /* bytes of a PUT body */
#define LLM_JSON_CAP     4096        /* bytes of a settings answer */
#define LLM_CALLS_CAP    (64 * 1024) /* bytes of a call log page */
#define LLM_LIMIT_TEXT   8           /* bytes of ?limit= */
#define LLM_DEFAULT_PAGE 50

static const char *const json_only[] = {HTTP_JSON_TYPE, NULL};
static const char *const provider_enum[] = {"none", "anthropic", "openai", NULL};

static const struct json_limits put_limits = {
    .max_bytes = LLM_MAX_BODY,
    .max_depth = 2,
    .max_string = 4 * LLM_MAX_BASE_URL, /* longer values are refused by name */
    .max_members = 16,
};

static const struct schema_field put_fields[] = {
    {.name = "provider",
     .kind = SCHEMA_STRING,
     .required = true,
     .enum_values = provider_enum,
     .description = "none (drafts by rules only), anthropic (Messages API) or openai (an "
                    "OpenAI-compatible chat completions endpoint)"},
    {.name = "base_url",
     .kind = SCHEMA_STRING,
     .nullable = true,
     .max_len = LLM_MAX_BASE_URL,
     .description = "http(s) URL without user name, query or fragment; absent or null: "
                    "https://api.anthropic.com or https://api.openai.com/v1"},
    {.name = "model",
     .kind = SCHEMA_STRING,
     .nullable = true,
     .max_len = LLM_MAX_MODEL,
     .description = "The model's name (required unless provider is none)"},
    {.name = "monthly_token_budget",
     .kind = SCHEMA_INTEGER,
     .required = true,
     .min = 0,
     .max = LLM_MAX_BUDGET,
     .description = "Tokens in and out a UTC calendar month may use; a call whose worst case "
                    "would pass it is not made"},
    {.name = "max_output_tokens",
     .kind = SCHEMA_INTEGER,
     .min = 1,
     .max = LLM_MAX_OUTPUT_TOKENS,
     .description = "The most tokens one answer may have (default 1024)"},
    {.name = "api_key",
     .kind = SCHEMA_STRING,
     .nullable = true,
     .max_len = LLM_MAX_API_KEY,
     .description = "Write-only: a string replaces the stored key, null removes it, absent "
                    "keeps it"},
};
static const struct schema put_schema = {put_fields, sizeof put_fields / sizeof put_fields[0],
                                         false};
const struct body_spec LLM_SETTINGS_BODY = {.content_types = json_only,
                                            .json = true,
                                            .limits = &put_limits,
                                            .schema = &put_schema,
                                            .name = "LlmSettingsUpdate",
                                            .description = "The LLM provider's configuration"};

static enum err respond(struct http_request *req, struct http_response *resp,
                        const struct llm_settings *s, int64_t used, int64_t month)
{
    struct buf out = BUF_INIT(LLM_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "provider");
    jw_cstring(&w, llm_provider_name(s->provider));
    jw_key(&w, "base_url");
    jw_cstring(&w, s->base_url[0] ? s->base_url : NULL);
    jw_key(&w, "model");
    jw_cstring(&w, s->model[0] ? s->model : NULL);
    jw_key(&w, "monthly_token_budget");
    jw_int(&w, s->monthly_token_budget);
    jw_key(&w, "max_output_tokens");
    jw_int(&w, s->max_output_tokens);
    jw_key(&w, "api_key_set");
    jw_bool(&w, s->has_api_key);
    jw_key(&w, "api_key_hint");
    jw_cstring(&w, s->has_api_key && s->api_key_hint[0] ? s->api_key_hint : NULL);
    jw_key(&w, "updated_at");
    if (s->updated_at)
        jw_int(&w, s->updated_at);
    else
        jw_null(&w);
    jw_key(&w, "month_start");
    jw_int(&w, month);
    jw_key(&w, "tokens_used_this_month");
    jw_int(&w, used);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err llm_do_settings_get(struct http_request *req, struct llm_settings *s, int64_t *used,
                             int64_t *month)
{
    int64_t now = (int64_t)time(NULL);
    struct tx *tx = NULL;
    *used = 0;
    *month = llm_month_start(now);
    enum err e = storage_begin(req->app->storage, &req->principal.user.tenant, TX_READ, &tx);
    if (!e) {
        e = llm_settings_get(tx, s);
        if (!e)
            e = llm_month_usage(tx, now, used);
        storage_rollback(tx);
    }
    return e;
}

/* The settings and the month's usage in one read transaction, then the answer. */
static enum err answer(struct http_request *req, struct http_response *resp)
{
    struct llm_settings s;
    int64_t used = 0, month = 0;
    enum err e = llm_do_settings_get(req, &s, &used, &month);
    if (e)
        return http_fail(req, e, "llm settings get: %s", err_name(e));
    return respond(req, resp, &s, used, month);
}

enum err llm_do_settings_set(struct http_request *req, const struct llm_settings_update *u,
                             struct llm_settings_problem *why)
{
    if (u->base_url.len) {
        char detail[128] = "";
        struct httpc_policy policy = {.allow_private = req->app->cfg->outbound_allow_private};
        const char *reason = NULL;
        enum err e = llm_base_url_check(u->base_url, &reason);
        if (e) {
            *why = (struct llm_settings_problem){"base_url", reason};
            return e;
        }
        if (httpc_url_check(u->base_url, &policy, detail, sizeof detail)) {
            *why = (struct llm_settings_problem){"base_url",
                                                 "not an address outbound requests may go to"};
            return ERR_INVALID;
        }
    }
    struct llm_actor who = {
        .user_id = req->principal.user.user_id,
        .key_id = req->principal.key ? req->principal.key->key_id : NULL,
        .client_ip = req->client_ip,
        .request_id = req->id,
    };
    return llm_settings_set(req->app->storage, req->app->secrets, &req->principal.user.tenant, &who,
                            u, (int64_t)time(NULL), why, NULL);
}

enum err llm_api_settings_get(struct http_request *req, struct http_response *resp)
{
    return answer(req, resp);
}

/* A nullable string member: absent and null are STR_NULL, *present says which. */
static struct str opt_string(const struct json *doc, const char *name, bool *present)
{
    const struct json *n = json_get(doc, name);
    struct str s = STR_NULL;
    *present = n != NULL;
    if (n && json_type_of(n) == JSON_STRING)
        (void)json_as_str(n, &s);
    return s;
}

enum err llm_api_settings_put(struct http_request *req, struct http_response *resp)
{
    struct llm_settings_update u = {0};
    struct str provider;
    if (!json_as_str(json_get(req->json, "provider"), &provider) ||
        !llm_provider_parse(provider, &u.provider))
        return integrations_field_refused(req, "provider", "one of none, anthropic, openai");
    if (!json_as_i64(json_get(req->json, "monthly_token_budget"), &u.monthly_token_budget))
        return integrations_field_refused(req, "monthly_token_budget", "must be an integer");
    const struct json *mo = json_get(req->json, "max_output_tokens");
    if (mo && !json_as_i64(mo, &u.max_output_tokens))
        return integrations_field_refused(req, "max_output_tokens", "must be an integer");
    bool present = false;
    u.base_url = opt_string(req->json, "base_url", &present);
    u.model = opt_string(req->json, "model", &present);
    u.api_key = opt_string(req->json, "api_key", &present);
    u.key_action = !present ? LLM_KEY_KEEP : u.api_key.ptr ? LLM_KEY_SET : LLM_KEY_REMOVE;
    struct llm_settings_problem why = {0};
    enum err e = llm_do_settings_set(req, &u, &why);
    if ((e == ERR_INVALID || e == ERR_LIMIT) && why.reason)
        return integrations_field_refused(req, why.field, why.reason);
    if (e)
        return http_fail(req, e, "llm settings set: %s", err_name(e));
    return answer(req, resp);
}

/* ?limit= and ?cursor= of the call log. */
static enum err page_query(struct http_request *req, size_t *limit,
                           char cursor[LLM_CALL_ID_LEN + 1])
{
    *limit = LLM_DEFAULT_PAGE;
    cursor[0] = '\0';
    struct str v;
    enum err e = api_query_filter(req, "limit", LLM_LIMIT_TEXT, NULL, &v);
    if (e)
        return e;
    if (v.ptr) {
        uint64_t n = 0;
        if (str_to_u64(v, LLM_CALLS_PAGE_MAX, &n) || n < 1)
            return integrations_field_refused(req, "limit", "a number from 1 to 100");
        *limit = (size_t)n;
    }
    e = api_query_filter(req, "cursor", LLM_CALL_ID_LEN, NULL, &v);
    if (e)
        return e;
    if (v.ptr && v.len) {
        bool ok = v.len == LLM_CALL_ID_LEN;
        for (size_t i = 0; ok && i < v.len; i++)
            ok = (v.ptr[i] >= '0' && v.ptr[i] <= '9') || (v.ptr[i] >= 'a' && v.ptr[i] <= 'f');
        if (!ok)
            return integrations_field_refused(req, "cursor", "not a cursor of this list");
        memcpy(cursor, v.ptr, v.len);
        cursor[v.len] = '\0';
    }
    return ERR_OK;
}

enum err llm_api_calls(struct http_request *req, struct http_response *resp)
{
    size_t limit = 0, n = 0;
    char cursor[LLM_CALL_ID_LEN + 1], next[LLM_CALL_ID_LEN + 1];
    enum err e = page_query(req, &limit, cursor);
    if (e)
        return e;
    struct llm_call *calls = arena_calloc(req->arena, limit, sizeof *calls);
    if (!calls)
        return ERR_LIMIT;
    struct tx *tx = NULL;
    e = storage_begin(req->app->storage, &req->principal.user.tenant, TX_READ, &tx);
    if (!e) {
        e = llm_calls_list(tx, cursor, limit, calls, &n, next);
        storage_rollback(tx);
    }
    if (e)
        return http_fail(req, e, "llm calls: %s", err_name(e));
    struct buf out = BUF_INIT(LLM_CALLS_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "calls");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++) {
        const struct llm_call *c = &calls[i];
        jw_object_begin(&w);
        jw_key(&w, "id");
        jw_cstring(&w, c->id);
        jw_key(&w, "at");
        jw_int(&w, c->at);
        jw_key(&w, "operation");
        jw_cstring(&w, "draft");
        jw_key(&w, "provider");
        jw_cstring(&w, llm_provider_name(c->provider));
        jw_key(&w, "model");
        jw_cstring(&w, c->model);
        jw_key(&w, "tokens_in");
        jw_int(&w, c->tokens_in);
        jw_key(&w, "tokens_out");
        jw_int(&w, c->tokens_out);
        jw_key(&w, "estimated");
        jw_bool(&w, c->estimated);
        jw_key(&w, "latency_ms");
        jw_int(&w, c->latency_ms);
        jw_key(&w, "outcome");
        jw_cstring(&w, llm_outcome_name(c->outcome));
        jw_key(&w, "http_status");
        if (c->http_status)
            jw_int(&w, c->http_status);
        else
            jw_null(&w);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_key(&w, "next_cursor");
    jw_cstring(&w, next[0] ? next : NULL);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}
