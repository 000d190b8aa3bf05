/*
 * settings — the JSON API of a tenant's ingestion settings (I7, I8) on top of
 * ingest/settings.h.
 *
 *   GET /api/v1/settings/ingest   {retention_days, bot_patterns[], defaults}
 *   PUT /api/v1/settings/ingest   {retention_days, bot_patterns[]}: replace both
 *
 * Design:
 *  - Reading needs AUTHZ_CONTENT_READ (Members and up; keys with
 *    content:read): how long raw deliveries are kept and who counts as a bot
 *    are no secret, and readers of the metrics need them to interpret what
 *    they see. Changing needs AUTHZ_TENANT_MANAGE (Super Admins only; no API
 *    key scope grants it): retention is an organization-wide data decision.
 *  - PUT replaces the whole resource: both members are required. The schema
 *    checks types, the retention's range and the number of patterns; the
 *    core checks each pattern (1..INGEST_MAX_BOT_PATTERN bytes of printable
 *    ASCII) and its refusal names the element ("bot_patterns[3]").
 *  - The change and its audit entry ("settings.ingest_changed") commit in one
 *    transaction; the answer is the settings now in force.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "ingest/ingest.h"
#include "ingest/settings.h"

#define SETTINGS_MAX_BODY (64 * 1024)  /* bytes of a PUT body (64 patterns of 128 bytes, escaped)  \
                                        */
#define SETTINGS_JSON_CAP  (64 * 1024) /* bytes of an answer */
#define SETTINGS_MAX_ITEMS 256         /* array elements the parser takes; the schema says 64 */

static const char *const json_only[] = {HTTP_JSON_TYPE, NULL};

static const struct json_limits put_limits = {
    .max_bytes = SETTINGS_MAX_BODY,
    .max_depth = 2,
    .max_string = 4 * INGEST_MAX_BOT_PATTERN, /* longer patterns are refused by name */
    .max_members = SETTINGS_MAX_ITEMS,
};

static const struct schema_field put_fields[] = {
    {.name = "retention_days",
     .kind = SCHEMA_INTEGER,
     .required = true,
     .min = 1,
     .max = INGEST_MAX_RETENTION_DAYS,
     .description = "Days raw (redacted) webhook deliveries are kept, 1 to 3650 (default 90)"},
    {.name = "bot_patterns",
     .kind = SCHEMA_ARRAY,
     .required = true,
     .max_len = INGEST_MAX_BOT_PATTERNS,
     .items = SCHEMA_STRING,
     .description = "Globs (* and ?, case-insensitive) for logins and names that are bots, on top "
                    "of the built-in list: at most 64, each 1 to 128 bytes of printable ASCII"},
};
static const struct schema put_schema = {put_fields, sizeof put_fields / sizeof put_fields[0],
                                         false};
const struct body_spec SETTINGS_INGEST_BODY = {.content_types = json_only,
                                               .json = true,
                                               .limits = &put_limits,
                                               .schema = &put_schema,
                                               .name = "IngestSettingsUpdate",
                                               .description =
                                                   "The retention and the bot patterns, both"};

static enum err respond(struct http_request *req, struct http_response *resp,
                        const struct ingest_settings *s)
{
    struct buf out = BUF_INIT(SETTINGS_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "retention_days");
    jw_int(&w, s->retention_days);
    jw_key(&w, "bot_patterns");
    jw_array_begin(&w);
    for (size_t i = 0; i < s->n_bot_patterns; i++)
        jw_string(&w, s->bot_patterns[i]);
    jw_array_end(&w);
    jw_key(&w, "default_retention_days");
    jw_int(&w, INGEST_RETENTION_DAYS);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err settings_api_ingest_get(struct http_request *req, struct http_response *resp)
{
    struct ingest_settings *s = arena_calloc(req->arena, 1, sizeof *s);
    if (!s)
        return ERR_LIMIT;
    struct tx *tx = NULL;
    enum err e = storage_begin(req->app->storage, &req->principal.user.tenant, TX_READ, &tx);
    if (!e) {
        e = ingest_settings_get(tx, s);
        storage_rollback(tx);
    }
    if (e)
        return http_fail(req, e, "ingest settings get: %s", err_name(e));
    return respond(req, resp, s);
}

enum err settings_api_ingest_put(struct http_request *req, struct http_response *resp)
{
    int64_t days = 0;
    if (!json_as_i64(json_get(req->json, "retention_days"), &days))
        return integrations_field_refused(req, "retention_days", "must be an integer");
    const struct json *arr = json_get(req->json, "bot_patterns");
    size_t n = json_count(arr);
    if (n > INGEST_MAX_BOT_PATTERNS)
        return integrations_field_refused(req, "bot_patterns", "at most 64 patterns");
    struct str *p = arena_calloc(req->arena, n ? n : 1, sizeof *p);
    struct ingest_settings *now = arena_calloc(req->arena, 1, sizeof *now);
    if (!p || !now)
        return ERR_LIMIT;
    size_t i = 0;
    for (const struct json *e = json_first(arr); e && i < n; e = json_next(e), i++)
        if (!json_as_str(e, &p[i]))
            return integrations_field_refused(req, "bot_patterns", "must be strings");
    struct integrations_actor who = {
        .user_id = req->principal.user.user_id,
        .key_id = req->principal.key ? req->principal.key->key_id : NULL,
        .client_ip = req->client_ip,
        .request_id = req->id,
    };
    struct ingest_settings_problem why = {0};
    struct tx *tx = NULL;
    enum err e = storage_begin(req->app->storage, &req->principal.user.tenant, TX_WRITE, &tx);
    if (e)
        return http_fail(req, e, "ingest settings: %s", err_name(e));
    e = ingest_settings_set(tx, &who, days, p, n, &why, now);
    if (e) {
        storage_rollback(tx);
        if ((e == ERR_INVALID || e == ERR_LIMIT) && why.reason)
            return integrations_field_refused(req, why.field, why.reason);
        return http_fail(req, e, "ingest settings set: %s", err_name(e));
    }
    e = storage_commit(tx);
    if (e)
        return http_fail(req, e, "ingest settings commit: %s", err_name(e));
    return respond(req, resp, now);
}
