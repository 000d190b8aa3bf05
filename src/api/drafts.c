/*
 * drafts — the JSON API of changelog entries and their review (D4, D5) on
 * top of changes/entries.h, and the actions the console's review pages share
 * with it (drafts_do_*).
 *
 *   GET   /api/v1/drafts?status=&reviewer=me|<uuid>&limit=&cursor=
 *                                          entries, most recently changed first
 *   GET   /api/v1/drafts/{id}              one entry
 *   GET   /api/v1/drafts/{id}/versions     its history, newest first
 *   PATCH /api/v1/drafts/{id}              {version, title?, body?, category?, audience?,
 *                                          labels?, reviewers?}: an edit (a new version)
 *   POST  /api/v1/drafts/{id}/submit       {version?}: draft|rejected → in_review (Editor)
 *   POST  /api/v1/drafts/{id}/approve      {version?}: in_review → approved (Admin)
 *   POST  /api/v1/drafts/{id}/reject       {version?, note?}: in_review → rejected (Admin)
 *   POST  /api/v1/drafts/{id}/publish      {version?, publish_at?}: approved → published, or
 *                                          scheduled for publish_at (Admin)
 *   GET   /api/v1/settings/rules           the tenant's classification rules (changes/rules.h)
 *   PUT   /api/v1/settings/rules           replace them (Admin)
 *
 * Refusals: 404 for an unknown id or another tenant's (T4); 409 with the
 * reason when the entry's status does not allow the action or `version` is
 * not the entry's current one (someone changed it meanwhile); 400
 * validation_failed naming the field otherwise. Reviewers must be members
 * of the organization.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts.h"
#include "api/api.h"
#include "changes/entries.h"
#include "changes/pipeline.h"
#include "changes/publish.h"

#define DRAFT_JSON_CAP  (64 * 1024) /* bytes of one entry's answer */
#define DRAFTS_JSON_CAP (4u << 20)  /* bytes of a listing or a history */
#define DRAFTS_MAX_BODY (48 * 1024) /* bytes of a PATCH or action body */
#define DRAFTS_LIST_KEY 'e'         /* the cursor letter of this listing */
#define RULES_MAX_BODY  RULES_MAX_JSON

static const char *const json_only[] = {HTTP_JSON_TYPE, NULL};
static const char *const impact_enum[] = {"breaking", "security",    "feature",  "improvement",
                                          "fix",      "performance", "internal", NULL};
static const char *const audience_enum[] = {"everyone", "developers", "internal", NULL};
static const char *const status_enum[] = {"draft",     "in_review", "approved", "rejected",
                                          "scheduled", "published", NULL};

static const struct json_limits patch_limits = {
    .max_bytes = DRAFTS_MAX_BODY,
    .max_depth = 3,
    .max_string = ENTRIES_MAX_BODY * 4,
    .max_members = 64,
};

static const struct schema_field patch_fields[] = {
    {.name = "version",
     .kind = SCHEMA_INTEGER,
     .required = true,
     .min = 1,
     .max = INT32_MAX,
     .description = "The entry's version the edit was made on: 409 if it changed meanwhile"},
    {.name = "title",
     .kind = SCHEMA_STRING,
     .min_len = 1,
     .max_len = ENTRIES_MAX_TITLE,
     .description = "1 to 200 bytes, one line"},
    {.name = "body",
     .kind = SCHEMA_STRING,
     .max_len = ENTRIES_MAX_BODY,
     .description = "Plain text, up to 10,000 bytes"},
    {.name = "category", .kind = SCHEMA_STRING, .enum_values = impact_enum},
    {.name = "audience", .kind = SCHEMA_STRING, .enum_values = audience_enum},
    {.name = "labels",
     .kind = SCHEMA_ARRAY,
     .items = SCHEMA_STRING,
     .max_len = ENTRIES_MAX_LABELS,
     .description = "At most 20 labels of 1 to 64 bytes"},
    {.name = "reviewers",
     .kind = SCHEMA_ARRAY,
     .items = SCHEMA_STRING,
     .max_len = ENTRIES_MAX_REVIEWERS,
     .description = "Member ids (at most 10) asked to review"},
};
static const struct schema patch_schema = {patch_fields,
                                           sizeof patch_fields / sizeof patch_fields[0], false};
const struct body_spec DRAFTS_PATCH_BODY = {.content_types = json_only,
                                            .json = true,
                                            .limits = &patch_limits,
                                            .schema = &patch_schema,
                                            .name = "DraftEdit",
                                            .description = "The members to change"};

static const struct json_limits action_limits = {
    .max_bytes = 4096,
    .max_depth = 2,
    .max_string = ENTRIES_MAX_NOTE * 4,
    .max_members = 8,
};
static const struct schema_field action_fields[] = {
    {.name = "version",
     .kind = SCHEMA_INTEGER,
     .min = 1,
     .max = INT32_MAX,
     .description = "The version the caller saw: 409 if the entry changed since"},
    {.name = "note",
     .kind = SCHEMA_STRING,
     .max_len = ENTRIES_MAX_NOTE,
     .description = "reject: why, for the author (up to 500 bytes)"},
    {.name = "publish_at",
     .kind = SCHEMA_INTEGER,
     .min = 0,
     .max = INT64_C(253402300799),
     .description = "publish: Unix seconds; later than now schedules the publication"},
};
static const struct schema action_schema = {action_fields,
                                            sizeof action_fields / sizeof action_fields[0], false};
const struct body_spec DRAFTS_ACTION_BODY = {.content_types = json_only,
                                             .json = true,
                                             .limits = &action_limits,
                                             .schema = &action_schema,
                                             .name = "DraftAction",
                                             .description = "Optional: the version seen"};

static const struct json_limits rules_limits = {
    .max_bytes = RULES_MAX_BODY,
    .max_depth = 4,
    .max_string = RULES_MAX_MATCH * 4,
    .max_members = 4 * RULES_MAX_ENTRIES,
};
const struct body_spec DRAFTS_RULES_BODY = {.content_types = json_only,
                                            .json = true,
                                            .limits = &rules_limits,
                                            .name = "ClassificationRules",
                                            .description = "docs/CHANGES.md: types, labels, "
                                                           "titles, internal_paths, fallback"};

/* ---- helpers -------------------------------------------------------------------------- */

static void actor_of(const struct http_request *req, struct entries_actor *who)
{
    *who = (struct entries_actor){
        .user_id = req->principal.user.user_id,
        .key_id = req->principal.key ? req->principal.key->key_id : NULL,
        .client_ip = req->client_ip,
        .request_id = req->id,
    };
}

static enum err begin(struct http_request *req, enum tx_mode mode, struct tx **tx)
{
    enum err e = storage_begin(req->app->storage, &req->principal.user.tenant, mode, tx);
    return e ? http_fail(req, e, "drafts: begin: %s", err_name(e)) : ERR_OK;
}

static enum err finish(struct http_request *req, struct tx *tx, enum err e)
{
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    return e ? http_fail(req, e, "drafts: commit: %s", err_name(e)) : ERR_OK;
}

/* A core refusal in public words: 404 stays 404, 409 and 400 carry the reason. */
static enum err refused(struct http_request *req, enum err e, const char *reason)
{
    if (e == ERR_NOT_FOUND)
        return e;
    if (e == ERR_CONFLICT)
        return http_fail_public(req, e, "conflict", reason ? reason : "The entry changed.");
    if ((e == ERR_INVALID || e == ERR_LIMIT) && reason)
        return integrations_field_refused(
            req, reason, e == ERR_LIMIT ? "too long or too many" : "not acceptable");
    return http_fail(req, e, "drafts: %s", err_name(e));
}

static bool is_member(const struct accounts_member *m, size_t n, struct str id)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq_cstr(id, m[i].id))
            return true;
    return false;
}

/* Checks every id of ids[0..n) is a member of the caller's organization; a recorded 400. */
static enum err reviewers_are_members(struct http_request *req, const struct str *ids, size_t n)
{
    if (!n)
        return ERR_OK;
    if (!req->app->accounts)
        return http_fail(req, ERR_UNAVAILABLE, "drafts: no accounts");
    struct accounts_member *page = arena_calloc(req->arena, ACCOUNTS_MEMBERS_PAGE, sizeof *page);
    bool *found = arena_calloc(req->arena, n, sizeof *found);
    if (!page || !found)
        return ERR_LIMIT;
    size_t left = n;
    for (unsigned p = 0; left && p < ACCOUNTS_MAX_MEMBERS_PAGES; p++) {
        size_t got = 0, total = 0;
        enum err e = accounts_members_list(req->app->accounts, &req->principal.user.tenant, p, page,
                                           &got, &total);
        if (e)
            return http_fail(req, e, "drafts: members: %s", err_name(e));
        for (size_t i = 0; i < n; i++)
            if (!found[i] && is_member(page, got, ids[i])) {
                found[i] = true;
                left--;
            }
        if ((size_t)(p + 1) * ACCOUNTS_MEMBERS_PAGE >= total)
            break;
    }
    for (size_t i = 0; i < n; i++)
        if (!found[i]) {
            char *field = arena_printf(req->arena, "reviewers[%zu]", i);
            return integrations_field_refused(req, field ? field : "reviewers",
                                              "not a member of this organization");
        }
    return ERR_OK;
}

/* The strings of array member name of the body into the arena; false when absent. */
static bool body_strings(struct http_request *req, const char *name, const struct str **out,
                         size_t *n, enum err *e)
{
    const struct json *arr = json_get(req->json, name);
    *out = NULL;
    *n = 0;
    *e = ERR_OK;
    if (!arr)
        return false;
    size_t count = json_count(arr);
    struct str *v = count ? arena_calloc(req->arena, count, sizeof *v) : NULL;
    if (count && !v) {
        *e = ERR_LIMIT;
        return true;
    }
    for (const struct json *it = json_first(arr); it; it = json_next(it))
        if (json_as_str(it, &v[*n]))
            (*n)++;
    *out = v;
    return true;
}

/* ---- answers ------------------------------------------------------------------------- */

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
    if (t)
        jw_int(w, t);
    else
        jw_null(w);
}

static void strings(struct jw *w, const char *key, const struct str *v, size_t n)
{
    jw_key(w, key);
    jw_array_begin(w);
    for (size_t i = 0; i < n; i++)
        jw_string(w, v[i]);
    jw_array_end(w);
}

/* The members of one entry inside an open object. */
void drafts_entry_members(struct jw *w, const struct entry *e)
{
    jw_key(w, "id");
    jw_cstring(w, e->id);
    jw_key(w, "status");
    jw_cstring(w, entry_status_name(e->status));
    jw_key(w, "version");
    jw_int(w, e->version);
    jw_key(w, "title");
    jw_string(w, e->title);
    jw_key(w, "body");
    jw_string(w, e->body);
    jw_key(w, "category");
    jw_cstring(w, change_impact_name(e->category));
    jw_key(w, "audience");
    jw_cstring(w, draft_audience_name(e->audience));
    strings(w, "labels", e->labels, e->n_labels);
    jw_key(w, "impact");
    jw_cstring(w, change_impact_name(e->impact));
    jw_key(w, "impact_reason");
    jw_string(w, e->impact_reason);
    jw_key(w, "provider");
    jw_string(w, e->provider);
    jw_key(w, "human_edited");
    jw_bool(w, e->human_edited);
    strings(w, "reviewers", e->reviewers, e->n_reviewers);
    jw_key(w, "source");
    jw_object_begin(w);
    jw_key(w, "kind");
    jw_cstring(w, e->push ? "push" : "pull_request");
    jw_key(w, "id");
    jw_string(w, e->source_id);
    jw_key(w, "repository_id");
    jw_string(w, e->repo_id);
    jw_key(w, "number");
    if (e->source_number >= 0)
        jw_int(w, e->source_number);
    else
        jw_null(w);
    str_or_null(w, "url", e->source_url);
    jw_object_end(w);
    jw_key(w, "changed_at");
    jw_int(w, e->changed_at);
    jw_key(w, "created_at");
    jw_int(w, e->created_at);
    jw_key(w, "updated_at");
    jw_int(w, e->updated_at);
    str_or_null(w, "submitted_by", e->submitted_by);
    time_or_null(w, "submitted_at", e->submitted_at);
    str_or_null(w, "decided_by", e->decided_by);
    time_or_null(w, "decided_at", e->decided_at);
    str_or_null(w, "decision_note", e->decision_note);
    time_or_null(w, "publish_at", e->publish_at);
    str_or_null(w, "published_by", e->published_by);
    time_or_null(w, "published_at", e->published_at);
}

static enum err respond_entry(struct http_request *req, struct http_response *resp,
                              const struct entry *e)
{
    struct buf out = BUF_INIT(DRAFT_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    drafts_entry_members(&w, e);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

/* Reads entry id (after a change: in tx) and answers with it. */
static enum err answer_entry(struct http_request *req, struct http_response *resp, struct tx *tx,
                             struct str id)
{
    struct entry *e = arena_calloc(req->arena, 1, sizeof *e);
    enum err err = e ? entries_get(tx, id, req->arena, e) : ERR_LIMIT;
    if (err)
        return err == ERR_NOT_FOUND ? err : http_fail(req, err, "drafts: get: %s", err_name(err));
    return respond_entry(req, resp, e);
}

/* ---- the actions, shared with the console --------------------------------------------- */

enum err drafts_do_edit(struct http_request *req, struct str id, const struct entry_patch *p)
{
    if (p->has_reviewers) {
        enum err e = reviewers_are_members(req, p->reviewers, p->n_reviewers);
        if (e)
            return e;
    }
    struct entries_actor who;
    actor_of(req, &who);
    struct tx *tx = NULL;
    enum err e = begin(req, TX_WRITE, &tx);
    if (e)
        return e;
    const char *reason = NULL;
    e = entries_edit(tx, &who, id, p, (int64_t)time(NULL), &reason);
    if (e)
        e = refused(req, e, reason);
    return finish(req, tx, e);
}

enum err drafts_do_action(struct http_request *req, struct str id, enum entry_action action,
                          int64_t version, struct str note, int64_t publish_at)
{
    struct entries_actor who;
    actor_of(req, &who);
    struct tx *tx = NULL;
    enum err e = begin(req, TX_WRITE, &tx);
    if (e)
        return e;
    int64_t now = (int64_t)time(NULL);
    const char *reason = NULL;
    e = entries_transition(tx, &who, id, action, version, note, publish_at, now, &reason);
    if (e == ERR_LIMIT || e == ERR_INVALID)
        reason = "note";
    if (e)
        e = refused(req, e, reason);
    bool published = !e && action == ENTRY_PUBLISH && publish_at <= now;
    if (published) {
        struct entry *en = arena_calloc(req->arena, 1, sizeof *en);
        e = en ? entries_get(tx, id, req->arena, en) : ERR_LIMIT;
        if (!e)
            e = changes_published(req->app->publisher, tx, en, now);
        if (e)
            e = http_fail(req, e, "drafts: publish hooks: %s", err_name(e));
    }
    e = finish(req, tx, e);
    if (!e && published)
        changes_published_after(req->app->publisher, &req->principal.user.tenant);
    return e;
}

/* ---- handlers -------------------------------------------------------------------------- */

enum err drafts_api_list(struct http_request *req, struct http_response *resp)
{
    struct api_list_query q;
    struct str status, reviewer;
    enum err e = api_list_query(req, DRAFTS_LIST_KEY, &q);
    if (!e)
        e = api_query_filter(req, "status", 16, status_enum, &status);
    if (!e)
        e = api_query_filter(req, "reviewer", ENTRIES_MAX_AUTHOR, NULL, &reviewer);
    if (e)
        return e;
    struct entries_filter f = {.any_status = !status.ptr};
    if (status.ptr && !entry_status_parse(status, &f.status))
        return integrations_field_refused(req, "status", "not a status");
    if (reviewer.ptr) {
        f.reviewer = str_eq_cstr(reviewer, "me") ? req->principal.user.user_id : reviewer.ptr;
        if (strpbrk(f.reviewer, "\"%_\\"))
            return integrations_field_refused(req, "reviewer", "not a member id");
    }
    struct entries_cursor after = {0}, next;
    if (q.has_cursor) {
        if (strlen(q.after.id) != ENTRIES_ID_LEN || q.after.key[0])
            return integrations_field_refused(req, "cursor", "not a cursor of this list");
        after.at = q.after.at;
        memcpy(after.id, q.after.id, sizeof after.id);
    }
    struct entry *rows = arena_calloc(req->arena, q.limit, sizeof *rows);
    if (!rows)
        return ERR_LIMIT;
    size_t n = 0;
    struct tx *tx = NULL;
    if ((e = begin(req, TX_READ, &tx)) != ERR_OK)
        return e;
    e = entries_list(tx, &f, &after, q.limit, req->arena, rows, &n, &next);
    storage_rollback(tx);
    if (e == ERR_INVALID)
        return integrations_field_refused(req, "cursor", "not a cursor of this list");
    if (e)
        return http_fail(req, e, "drafts: list: %s", err_name(e));
    struct buf out = BUF_INIT(DRAFTS_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "drafts");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jw_object_begin(&w);
        drafts_entry_members(&w, &rows[i]);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_key(&w, "next_cursor");
    if (next.id[0]) {
        struct ingest_cursor c = {.at = next.at};
        memcpy(c.id, next.id, sizeof next.id);
        struct buf text = BUF_INIT(API_CURSOR_MAX_LEN + 1);
        if (api_cursor_encode(DRAFTS_LIST_KEY, &c, &text) == ERR_OK)
            jw_string(&w, str_from(buf_cstr(&text), text.len));
        else
            jw_null(&w);
        buf_release(&text);
    } else {
        jw_null(&w);
    }
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err drafts_api_get(struct http_request *req, struct http_response *resp)
{
    struct tx *tx = NULL;
    enum err e = begin(req, TX_READ, &tx);
    if (e)
        return e;
    e = answer_entry(req, resp, tx, http_param(req, "id"));
    storage_rollback(tx);
    return e;
}

enum err drafts_api_versions(struct http_request *req, struct http_response *resp)
{
    struct entry_version *v = arena_calloc(req->arena, ENTRIES_MAX_VERSIONS, sizeof *v);
    if (!v)
        return ERR_LIMIT;
    size_t n = 0;
    struct tx *tx = NULL;
    enum err e = begin(req, TX_READ, &tx);
    if (e)
        return e;
    e = entries_versions(tx, http_param(req, "id"), req->arena, v, &n);
    storage_rollback(tx);
    if (e)
        return e == ERR_NOT_FOUND ? e : http_fail(req, e, "drafts: versions: %s", err_name(e));
    struct buf out = BUF_INIT(DRAFTS_JSON_CAP);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "versions");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jw_object_begin(&w);
        jw_key(&w, "version");
        jw_int(&w, v[i].version);
        jw_key(&w, "kind");
        jw_string(&w, v[i].kind);
        jw_key(&w, "author");
        jw_string(&w, v[i].author);
        jw_key(&w, "created_at");
        jw_int(&w, v[i].created_at);
        jw_key(&w, "title");
        jw_string(&w, v[i].title);
        jw_key(&w, "body");
        jw_string(&w, v[i].body);
        jw_key(&w, "category");
        jw_cstring(&w, change_impact_name(v[i].category));
        jw_key(&w, "audience");
        jw_cstring(&w, draft_audience_name(v[i].audience));
        strings(&w, "labels", v[i].labels, v[i].n_labels);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err drafts_api_patch(struct http_request *req, struct http_response *resp)
{
    struct entry_patch p = {0};
    int64_t version = 0;
    if (!json_as_i64(json_get(req->json, "version"), &version))
        return integrations_field_refused(req, "version", "required");
    p.version = version;
    p.title = api_body_str(req, "title");
    p.has_title = p.title.ptr != NULL;
    p.body = api_body_str(req, "body");
    p.has_body = p.body.ptr != NULL;
    struct str s = api_body_str(req, "category");
    if ((p.has_category = s.ptr != NULL) && !change_impact_parse(s, &p.category))
        return integrations_field_refused(req, "category", "not a category");
    s = api_body_str(req, "audience");
    if ((p.has_audience = s.ptr != NULL) && !entry_audience_parse(s, &p.audience))
        return integrations_field_refused(req, "audience", "not an audience");
    enum err e = ERR_OK;
    p.has_labels = body_strings(req, "labels", &p.labels, &p.n_labels, &e);
    if (!e)
        p.has_reviewers = body_strings(req, "reviewers", &p.reviewers, &p.n_reviewers, &e);
    if (e)
        return e;
    const char *field = NULL;
    if ((e = entries_patch_check(&p, &field)) != ERR_OK)
        return refused(req, e, field);
    struct str id = http_param(req, "id");
    if ((e = drafts_do_edit(req, id, &p)) != ERR_OK)
        return e;
    return drafts_api_get(req, resp);
}

/* POST /api/v1/drafts/{id}/<action>: the body's optional members, then the entry as it is now. */
static enum err action(struct http_request *req, struct http_response *resp, enum entry_action act)
{
    int64_t version = 0, publish_at = 0;
    (void)json_as_i64(json_get(req->json, "version"), &version);
    (void)json_as_i64(json_get(req->json, "publish_at"), &publish_at);
    struct str note = act == ENTRY_REJECT ? api_body_str(req, "note") : STR_NULL;
    enum err e = drafts_do_action(req, http_param(req, "id"), act, version, note,
                                  act == ENTRY_PUBLISH ? publish_at : 0);
    return e ? e : drafts_api_get(req, resp);
}

enum err drafts_api_submit(struct http_request *req, struct http_response *resp)
{
    return action(req, resp, ENTRY_SUBMIT);
}

enum err drafts_api_approve(struct http_request *req, struct http_response *resp)
{
    return action(req, resp, ENTRY_APPROVE);
}

enum err drafts_api_reject(struct http_request *req, struct http_response *resp)
{
    return action(req, resp, ENTRY_REJECT);
}

enum err drafts_api_publish(struct http_request *req, struct http_response *resp)
{
    return action(req, resp, ENTRY_PUBLISH);
}

/* ---- the classification rules -------------------------------------------------------- */

enum err drafts_api_rules_get(struct http_request *req, struct http_response *resp)
{
    struct tx *tx = NULL;
    enum err e = begin(req, TX_READ, &tx);
    if (e)
        return e;
    struct classify_rules rules;
    e = changes_rules_get(tx, req->arena, &rules);
    storage_rollback(tx);
    if (e)
        return http_fail(req, e, "rules: get: %s", err_name(e));
    struct buf out = BUF_INIT(RULES_MAX_JSON * 2);
    e = classify_rules_write(&rules, &out);
    if (!e)
        e = http_resp_json(req, resp, 200, &out);
    buf_release(&out);
    return e;
}

enum err drafts_api_rules_put(struct http_request *req, struct http_response *resp)
{
    struct entries_actor who;
    actor_of(req, &who);
    struct tx *tx = NULL;
    enum err e = begin(req, TX_WRITE, &tx);
    if (e)
        return e;
    struct rules_problem why = {0};
    e = changes_rules_set(tx, &who, req->body, &why);
    if ((e == ERR_INVALID || e == ERR_LIMIT) && why.field[0])
        e = integrations_field_refused(req, why.field, why.message);
    else if (e)
        e = http_fail(req, e, "rules: set: %s", err_name(e));
    if ((e = finish(req, tx, e)) != ERR_OK)
        return e;
    return drafts_api_rules_get(req, resp);
}
