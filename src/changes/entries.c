/*
 * entries.c — changelog entries and their versions in the database
 * (entries.h). Labels and reviewers are stored as JSON arrays of strings;
 * they are written with the JSON writer and read back with the JSON parser
 * under small limits.
 */
#include "changes/entries.h"

#include <string.h>

#include "audit/audit.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/unicode.h"
#include "crypto/rand.h"
#include "jobs/jobs.h"

static const char *const status_names[ENTRY_STATUS_COUNT_] = {
    "draft", "in_review", "approved", "rejected", "scheduled", "published",
};

const char *entry_status_name(enum entry_status s)
{
    return (unsigned)s < ENTRY_STATUS_COUNT_ ? status_names[s] : NULL;
}

bool entry_status_parse(struct str s, enum entry_status *out)
{
    for (unsigned i = 0; i < ENTRY_STATUS_COUNT_; i++)
        if (str_eq_cstr(s, status_names[i])) {
            *out = (enum entry_status)i;
            return true;
        }
    return false;
}

bool entry_audience_parse(struct str s, enum draft_audience *out)
{
    for (unsigned i = 0; i < AUDIENCE_COUNT_; i++)
        if (str_eq_cstr(s, draft_audience_name((enum draft_audience)i))) {
            *out = (enum draft_audience)i;
            return true;
        }
    return false;
}

/* ---- checks ------------------------------------------------------------------ */

/* UTF-8 without control characters; newlines and tabs too when multiline. */
static bool text_ok(struct str s, bool multiline)
{
    if (!utf8_valid(s))
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == 0x7f || (c < 0x20 && !(multiline && (c == '\n' || c == '\r' || c == '\t'))))
            return false;
    }
    return true;
}

static enum err check_text(struct str s, size_t min, size_t max, bool multiline)
{
    if (s.len > max)
        return ERR_LIMIT;
    if (s.len < min || (s.len && !s.ptr) || !text_ok(s, multiline))
        return ERR_INVALID;
    return ERR_OK;
}

static enum err check_list(const struct str *v, size_t n, size_t max_n, size_t max_len,
                           const char *name, char *field, size_t field_cap)
{
    if (n > max_n) {
        snprintf(field, field_cap, "%s", name);
        return ERR_LIMIT;
    }
    for (size_t i = 0; i < n; i++) {
        enum err e = check_text(v[i], 1, max_len, false);
        if (e) {
            snprintf(field, field_cap, "%s[%zu]", name, i);
            return e;
        }
    }
    return ERR_OK;
}

enum err entries_patch_check(const struct entry_patch *p, const char **field)
{
    static _Thread_local char name[32];
    enum err e = ERR_OK;
    *field = NULL;
    if (p->version < 1) {
        *field = "version";
        return ERR_INVALID;
    }
    if (p->has_title && (e = check_text(p->title, 1, ENTRIES_MAX_TITLE, false)) != ERR_OK) {
        *field = "title";
        return e;
    }
    if (p->has_body && (e = check_text(p->body, 0, ENTRIES_MAX_BODY, true)) != ERR_OK) {
        *field = "body";
        return e;
    }
    if (p->has_category && (unsigned)p->category >= CHANGE_IMPACT_COUNT_) {
        *field = "category";
        return ERR_INVALID;
    }
    if (p->has_audience && (unsigned)p->audience >= AUDIENCE_COUNT_) {
        *field = "audience";
        return ERR_INVALID;
    }
    if (p->has_labels &&
        (e = check_list(p->labels, p->n_labels, ENTRIES_MAX_LABELS, ENTRIES_MAX_LABEL, "labels",
                        name, sizeof name)) != ERR_OK) {
        *field = name;
        return e;
    }
    if (p->has_reviewers &&
        (e = check_list(p->reviewers, p->n_reviewers, ENTRIES_MAX_REVIEWERS, ENTRIES_MAX_AUTHOR,
                        "reviewers", name, sizeof name)) != ERR_OK) {
        *field = name;
        return e;
    }
    return ERR_OK;
}

/* ---- JSON arrays of strings ---------------------------------------------------- */

/* The array of v[0..n) as JSON text into out (NUL-terminated in the buf). */
static enum err list_json(const struct str *v, size_t n, struct buf *out)
{
    struct jw w;
    jw_init(&w, out);
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++)
        jw_string(&w, v[i]);
    jw_array_end(&w);
    return jw_finish(&w);
}

/* A stored array back into views in a; malformed text reads as empty. */
static enum err list_parse(struct str text, size_t max_n, struct arena *a, const struct str **out,
                           size_t *n)
{
    static const struct json_limits lim = {
        .max_bytes = 65536, .max_depth = 2, .max_string = 4096, .max_members = 256};
    *out = NULL;
    *n = 0;
    struct json *doc = NULL;
    struct json_error jerr;
    if (!text.len || json_parse(text.ptr, text.len, &lim, &doc, &jerr) != ERR_OK)
        return ERR_OK;
    size_t count = json_count(doc);
    if (count > max_n)
        count = max_n;
    struct str *v = count ? arena_calloc(a, count, sizeof *v) : NULL;
    if (count && !v) {
        json_free(doc);
        return ERR_LIMIT;
    }
    size_t k = 0;
    for (const struct json *it = json_first(doc); it && k < count; it = json_next(it)) {
        struct str s;
        if (!json_as_str(it, &s))
            continue;
        char *copy = arena_strndup(a, s.ptr, s.len);
        if (!copy) {
            json_free(doc);
            return ERR_LIMIT;
        }
        v[k++] = str_from(copy, s.len);
    }
    json_free(doc);
    *out = v;
    *n = k;
    return ERR_OK;
}

/* ---- reading ------------------------------------------------------------------- */

#define ENTRY_COLUMNS                                                                              \
    "id, source_id, source_kind, repo_id, source_number, source_url, impact, impact_reason,"       \
    " status, title, body, category, audience, labels, provider, version, human_edited,"           \
    " reviewers, changed_at, created_at, updated_at, submitted_by, submitted_at, decided_by,"      \
    " decided_at, decision_note, publish_at, published_by, published_at"

static enum err col_str(struct stmt *st, int col, struct arena *a, struct str *out)
{
    *out = STR_NULL;
    if (stmt_col_is_null(st, col))
        return ERR_OK;
    struct str s = stmt_col_text(st, col);
    char *p = arena_strndup(a, s.ptr ? s.ptr : "", s.len);
    if (!p)
        return ERR_LIMIT;
    *out = str_from(p, s.len);
    return ERR_OK;
}

static int64_t col_int0(struct stmt *st, int col)
{
    return stmt_col_is_null(st, col) ? 0 : stmt_col_int(st, col);
}

static enum err read_entry(struct stmt *st, struct arena *a, struct entry *out)
{
    memset(out, 0, sizeof *out);
    struct str id = stmt_col_text(st, 0), kind = stmt_col_text(st, 2), labels, reviewers;
    struct str impact = stmt_col_text(st, 6), status = stmt_col_text(st, 8);
    struct str category = stmt_col_text(st, 11), audience = stmt_col_text(st, 12);
    snprintf(out->id, sizeof out->id, "%.*s", (int)id.len, id.ptr ? id.ptr : "");
    out->push = str_eq_cstr(kind, "push");
    out->source_number = stmt_col_is_null(st, 4) ? -1 : stmt_col_int(st, 4);
    if (!change_impact_parse(impact, &out->impact) || !entry_status_parse(status, &out->status) ||
        !change_impact_parse(category, &out->category) ||
        !entry_audience_parse(audience, &out->audience))
        return ERR_INTERNAL; /* the schema's checks keep these in range */
    out->version = stmt_col_int(st, 15);
    out->human_edited = stmt_col_int(st, 16) != 0;
    out->changed_at = stmt_col_int(st, 18);
    out->created_at = stmt_col_int(st, 19);
    out->updated_at = stmt_col_int(st, 20);
    out->submitted_at = col_int0(st, 22);
    out->decided_at = col_int0(st, 24);
    out->publish_at = col_int0(st, 26);
    out->published_at = col_int0(st, 28);
    enum err e;
    if ((e = col_str(st, 1, a, &out->source_id)) || (e = col_str(st, 3, a, &out->repo_id)) ||
        (e = col_str(st, 5, a, &out->source_url)) || (e = col_str(st, 7, a, &out->impact_reason)) ||
        (e = col_str(st, 9, a, &out->title)) || (e = col_str(st, 10, a, &out->body)) ||
        (e = col_str(st, 13, a, &labels)) || (e = col_str(st, 14, a, &out->provider)) ||
        (e = col_str(st, 17, a, &reviewers)) || (e = col_str(st, 21, a, &out->submitted_by)) ||
        (e = col_str(st, 23, a, &out->decided_by)) ||
        (e = col_str(st, 25, a, &out->decision_note)) ||
        (e = col_str(st, 27, a, &out->published_by)))
        return e;
    if ((e = list_parse(labels, ENTRIES_MAX_LABELS, a, &out->labels, &out->n_labels)) != ERR_OK)
        return e;
    return list_parse(reviewers, ENTRIES_MAX_REVIEWERS, a, &out->reviewers, &out->n_reviewers);
}

static bool id_ok(struct str id)
{
    if (id.len != ENTRIES_ID_LEN)
        return false;
    for (size_t i = 0; i < id.len; i++) {
        char c = id.ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

enum err entries_get(struct tx *tx, struct str id, struct arena *a, struct entry *out)
{
    if (!id_ok(id))
        return ERR_NOT_FOUND; /* never an id of any tenant */
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          "SELECT " ENTRY_COLUMNS " FROM changelog_entries"
                          " WHERE tenant_id = $1 AND id = $2",
                          STORAGE_ARGS(STORAGE_TEXT(id)), &st, &row);
    if (e)
        return e;
    e = row ? read_entry(st, a, out) : ERR_NOT_FOUND;
    stmt_finish(st);
    return e;
}

enum err entries_list(struct tx *tx, const struct entries_filter *f,
                      const struct entries_cursor *after, size_t limit, struct arena *a,
                      struct entry *out, size_t *n, struct entries_cursor *next)
{
    *n = 0;
    memset(next, 0, sizeof *next);
    bool from = after->id[0] != '\0';
    if (limit < 1 || limit > ENTRIES_MAX_PAGE || (from && !id_ok(str_from_cstr(after->id))) ||
        (!f->any_status && !entry_status_name(f->status)))
        return ERR_INVALID;
    char pattern[ENTRIES_MAX_AUTHOR + 8] = "";
    if (f->reviewer) {
        if (strlen(f->reviewer) > ENTRIES_MAX_AUTHOR || strpbrk(f->reviewer, "\"%_\\"))
            return ERR_INVALID;
        snprintf(pattern, sizeof pattern, "%%\"%s\"%%", f->reviewer);
    }
    /* $2 status or NULL, $3 reviewer pattern or NULL, $4/$5 the cursor or NULL, $6 limit */
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(
        tx,
        "SELECT " ENTRY_COLUMNS " FROM changelog_entries WHERE tenant_id = $1"
        " AND (CAST($2 AS TEXT) IS NULL OR status = $2)"
        " AND (CAST($3 AS TEXT) IS NULL OR reviewers LIKE $3)"
        " AND (CAST($4 AS BIGINT) IS NULL OR updated_at < $4 OR (updated_at = $4 AND id < $5))"
        " ORDER BY updated_at DESC, id DESC LIMIT $6",
        STORAGE_ARGS(f->any_status ? STORAGE_NULL : STORAGE_CSTR(entry_status_name(f->status)),
                     f->reviewer ? STORAGE_CSTR(pattern) : STORAGE_NULL,
                     from ? STORAGE_INT(after->at) : STORAGE_NULL,
                     from ? STORAGE_CSTR(after->id) : STORAGE_NULL, STORAGE_INT(limit + 1)),
        &st, &row);
    while (!e && row) {
        if (*n == limit) {
            next->at = out[limit - 1].updated_at;
            memcpy(next->id, out[limit - 1].id, sizeof next->id);
            break;
        }
        if ((e = read_entry(st, a, &out[*n])) == ERR_OK) {
            (*n)++;
            e = stmt_step(st, &row);
        }
    }
    if (st)
        stmt_finish(st);
    return e;
}

enum err entries_versions(struct tx *tx, struct str id, struct arena *a, struct entry_version *out,
                          size_t *n)
{
    *n = 0;
    struct entry probe;
    enum err e = entries_get(tx, id, a, &probe); /* ERR_NOT_FOUND for another tenant's */
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx,
                 "SELECT version, kind, author, title, body, category, audience, labels,"
                 " created_at FROM changelog_versions WHERE tenant_id = $1 AND entry_id = $2"
                 " ORDER BY version DESC LIMIT $3",
                 STORAGE_ARGS(STORAGE_TEXT(id), STORAGE_INT(ENTRIES_MAX_VERSIONS)), &st, &row);
    while (!e && row) {
        struct entry_version *v = &out[*n];
        struct str labels;
        memset(v, 0, sizeof *v);
        v->version = stmt_col_int(st, 0);
        v->created_at = stmt_col_int(st, 8);
        if (!change_impact_parse(stmt_col_text(st, 5), &v->category) ||
            !entry_audience_parse(stmt_col_text(st, 6), &v->audience))
            e = ERR_INTERNAL;
        if (!e && !(e = col_str(st, 1, a, &v->kind)) && !(e = col_str(st, 2, a, &v->author)) &&
            !(e = col_str(st, 3, a, &v->title)) && !(e = col_str(st, 4, a, &v->body)) &&
            !(e = col_str(st, 7, a, &labels)))
            e = list_parse(labels, ENTRIES_MAX_LABELS, a, &v->labels, &v->n_labels);
        if (!e) {
            (*n)++;
            e = stmt_step(st, &row);
        }
    }
    if (st)
        stmt_finish(st);
    return e;
}

/* ---- writing ------------------------------------------------------------------- */

/* The text of a version: what regeneration compares and versions store. */
struct text {
    struct str title, body;
    enum change_impact category;
    enum draft_audience audience;
    struct str labels_json;
};

static enum err version_insert(struct tx *tx, struct str id, int64_t version, const char *kind,
                               const char *author, const struct text *t, int64_t now)
{
    return tx_exec_args(
        tx,
        "INSERT INTO changelog_versions (tenant_id, entry_id, version, kind, author,"
        " title, body, category, audience, labels, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        STORAGE_ARGS(STORAGE_TEXT(id), STORAGE_INT(version), STORAGE_CSTR(kind),
                     STORAGE_CSTR(author), STORAGE_TEXT(t->title), STORAGE_TEXT(t->body),
                     STORAGE_CSTR(change_impact_name(t->category)),
                     STORAGE_CSTR(draft_audience_name(t->audience)), STORAGE_TEXT(t->labels_json),
                     STORAGE_INT(now)),
        NULL);
}

/* The number the entry's next version gets: one past its highest. */
static enum err next_version(struct tx *tx, struct str id, int64_t *out)
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          "SELECT max(version) FROM changelog_versions"
                          " WHERE tenant_id = $1 AND entry_id = $2",
                          STORAGE_ARGS(STORAGE_TEXT(id)), &st, &row);
    if (e)
        return e;
    *out = (row && !stmt_col_is_null(st, 0) ? stmt_col_int(st, 0) : 0) + 1;
    stmt_finish(st);
    return ERR_OK;
}

static enum err audit_entry(struct tx *tx, const struct entries_actor *who, const char *action,
                            const char *id, const struct log_field *details)
{
    char target[ENTRIES_ID_LEN + 8];
    snprintf(target, sizeof target, "entry:%s", id);
    struct audit_event ev = {
        .action = action,
        .actor = !who          ? AUDIT_ACTOR_SYSTEM
                 : who->key_id ? AUDIT_ACTOR_API_KEY
                               : AUDIT_ACTOR_USER,
        .actor_id = !who          ? "changes"
                    : who->key_id ? who->key_id
                                  : who->user_id,
        .target = target,
        .outcome = AUDIT_SUCCESS,
        .client_ip = who ? who->client_ip : NULL,
        .request_id = who ? who->request_id : NULL,
        .details = details,
    };
    return audit_append(tx, &ev, NULL);
}

static enum err check_generated(const struct entry_generated *g)
{
    if (g->source_id.len > ENTRIES_MAX_SOURCE_ID || g->source_url.len > ENTRIES_MAX_URL ||
        g->repo_id.len > ENTRIES_MAX_SOURCE_ID)
        return ERR_LIMIT;
    if (!g->source_id.len || !g->repo_id.len || !g->provider ||
        (unsigned)g->cls.impact >= CHANGE_IMPACT_COUNT_ ||
        (unsigned)g->draft.category >= CHANGE_IMPACT_COUNT_ ||
        (unsigned)g->draft.audience >= AUDIENCE_COUNT_ || !g->draft.title[0])
        return ERR_INVALID;
    return ERR_OK;
}

/* The latest text the system generated or suggested for entry id. */
static enum err latest_generated(struct tx *tx, struct str id, struct arena *a, struct text *out,
                                 bool *found)
{
    struct stmt *st = NULL;
    bool row = false;
    *found = false;
    enum err e = tx_query(tx,
                          "SELECT title, body, category, audience, labels FROM changelog_versions"
                          " WHERE tenant_id = $1 AND entry_id = $2 AND kind <> 'edit'"
                          " ORDER BY version DESC LIMIT 1",
                          STORAGE_ARGS(STORAGE_TEXT(id)), &st, &row);
    if (e || !row) {
        if (st)
            stmt_finish(st);
        return e;
    }
    if (!change_impact_parse(stmt_col_text(st, 2), &out->category) ||
        !entry_audience_parse(stmt_col_text(st, 3), &out->audience))
        e = ERR_INTERNAL;
    if (!e && !(e = col_str(st, 0, a, &out->title)) && !(e = col_str(st, 1, a, &out->body)))
        e = col_str(st, 4, a, &out->labels_json);
    stmt_finish(st);
    *found = !e;
    return e;
}

static bool text_same(const struct text *x, const struct text *y)
{
    return str_eq(x->title, y->title) && str_eq(x->body, y->body) && x->category == y->category &&
           x->audience == y->audience && str_eq(x->labels_json, y->labels_json);
}

static enum err insert_entry(struct tx *tx, const struct entry_generated *g, const struct text *t,
                             int64_t now, char *id)
{
    enum err e = rand_hex(id, ENTRIES_ID_LEN / 2);
    if (e)
        return e;
    struct str sid = str_from(id, ENTRIES_ID_LEN);
    e = tx_exec_args(
        tx,
        "INSERT INTO changelog_entries (tenant_id, id, source_id, source_kind, repo_id,"
        " source_number, source_url, impact, impact_reason, status, title, body, category,"
        " audience, labels, provider, version, changed_at, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'draft', $10, $11, $12, $13, $14, $15, 1,"
        " $16, $17, $17)",
        STORAGE_ARGS(STORAGE_TEXT(sid), STORAGE_TEXT(g->source_id),
                     STORAGE_CSTR(g->push ? "push" : "pr"), STORAGE_TEXT(g->repo_id),
                     g->source_number >= 0 ? STORAGE_INT(g->source_number) : STORAGE_NULL,
                     g->source_url.ptr ? STORAGE_TEXT(g->source_url) : STORAGE_NULL,
                     STORAGE_CSTR(change_impact_name(g->cls.impact)), STORAGE_CSTR(g->cls.reason),
                     STORAGE_TEXT(t->title), STORAGE_TEXT(t->body),
                     STORAGE_CSTR(change_impact_name(t->category)),
                     STORAGE_CSTR(draft_audience_name(t->audience)), STORAGE_TEXT(t->labels_json),
                     STORAGE_CSTR(g->provider), STORAGE_INT(g->changed_at), STORAGE_INT(now)),
        NULL);
    if (!e)
        e = version_insert(tx, sid, 1, "generated", g->provider, t, now);
    if (!e)
        e = audit_entry(tx, NULL, "entry.created", id,
                        LOG_FIELDS_(LOG_STR("impact", change_impact_name(g->cls.impact)),
                                    LOG_STR("provider", g->provider)));
    return e;
}

enum err entries_upsert_generated(struct tx *tx, const struct entry_generated *g, int64_t now,
                                  enum entry_upsert *what, char *id_out)
{
    enum err e = check_generated(g);
    if (e)
        return e;
    struct arena *a = arena_new(1u << 20);
    struct buf labels;
    buf_init(&labels, 64 * 1024);
    size_t n_labels = g->n_labels < ENTRIES_MAX_LABELS ? g->n_labels : ENTRIES_MAX_LABELS;
    e = list_json(g->labels, n_labels, &labels);
    struct text t = {
        .title = str_from_cstr(g->draft.title),
        .body = str_from_cstr(g->draft.body),
        .category = g->draft.category,
        .audience = g->draft.audience,
        .labels_json = str_from(buf_cstr(&labels), labels.len),
    };
    char id[ENTRIES_ID_LEN + 1] = "";
    struct stmt *st = NULL;
    bool row = false;
    if (!e)
        e = tx_query(tx,
                     "SELECT id, status, human_edited FROM changelog_entries"
                     " WHERE tenant_id = $1 AND source_id = $2",
                     STORAGE_ARGS(STORAGE_TEXT(g->source_id)), &st, &row);
    if (e)
        goto out;
    if (!row) {
        stmt_finish(st);
        e = insert_entry(tx, g, &t, now, id);
        *what = ENTRY_CREATED;
        goto out;
    }
    struct str sid = stmt_col_text(st, 0);
    snprintf(id, sizeof id, "%.*s", (int)sid.len, sid.ptr);
    enum entry_status status = ENTRY_DRAFT;
    bool status_ok = entry_status_parse(stmt_col_text(st, 1), &status);
    bool edited = stmt_col_int(st, 2) != 0;
    stmt_finish(st);
    if (!status_ok) {
        e = ERR_INTERNAL;
        goto out;
    }
    sid = str_from(id, ENTRIES_ID_LEN);
    struct text last;
    bool found = false;
    if ((e = latest_generated(tx, sid, a, &last, &found)) != ERR_OK)
        goto out;
    if ((found && text_same(&t, &last)) || status == ENTRY_PUBLISHED || status == ENTRY_SCHEDULED) {
        *what = ENTRY_UNCHANGED;
        goto out;
    }
    bool replace = status == ENTRY_DRAFT && !edited;
    *what = replace ? ENTRY_REGENERATED : ENTRY_SUGGESTED;
    int64_t next = 0;
    if ((e = next_version(tx, sid, &next)) != ERR_OK)
        goto out;
    e = version_insert(tx, sid, next, replace ? "generated" : "suggestion", g->provider, &t, now);
    if (!e && replace) /* a suggestion only adds a version: the current text stays */
        e = tx_exec_args(
            tx,
            "UPDATE changelog_entries SET title = $3, body = $4, category = $5, audience = $6,"
            " labels = $7, provider = $8, impact = $9, impact_reason = $10, version = $11,"
            " updated_at = $12 WHERE tenant_id = $1 AND id = $2",
            STORAGE_ARGS(STORAGE_TEXT(sid), STORAGE_TEXT(t.title), STORAGE_TEXT(t.body),
                         STORAGE_CSTR(change_impact_name(t.category)),
                         STORAGE_CSTR(draft_audience_name(t.audience)), STORAGE_TEXT(t.labels_json),
                         STORAGE_CSTR(g->provider), STORAGE_CSTR(change_impact_name(g->cls.impact)),
                         STORAGE_CSTR(g->cls.reason), STORAGE_INT(next), STORAGE_INT(now)),
            NULL);
    if (!e)
        e = audit_entry(tx, NULL, "entry.regenerated", id,
                        LOG_FIELDS_(LOG_STR("result", replace ? "replaced" : "suggested"),
                                    LOG_STR("provider", g->provider)));
out:
    if (!e && id_out)
        memcpy(id_out, id, sizeof id);
    buf_release(&labels);
    arena_free(a);
    return e;
}

/* ---- people's changes ------------------------------------------------------------ */

static const char *author_of(const struct entries_actor *who)
{
    return who->key_id ? who->key_id : who->user_id;
}

/* The entry's current state for a change made by a person: read under the write tx. */
static enum err current(struct tx *tx, struct str id, int64_t version, struct arena *a,
                        struct entry *out, const char **reason)
{
    enum err e = entries_get(tx, id, a, out);
    if (!e && version && version != out->version) {
        *reason = "the entry changed since that version";
        return ERR_CONFLICT;
    }
    return e;
}

enum err entries_edit(struct tx *tx, const struct entries_actor *who, struct str id,
                      const struct entry_patch *p, int64_t now, const char **reason)
{
    const char *field = NULL;
    const char *why = NULL;
    if (!reason)
        reason = &why;
    *reason = NULL;
    enum err e = entries_patch_check(p, &field);
    if (e) {
        *reason = field;
        return e;
    }
    struct arena *a = arena_new(1u << 20);
    struct buf labels, reviewers;
    buf_init(&labels, 64 * 1024);
    buf_init(&reviewers, 64 * 1024);
    struct entry cur;
    if ((e = current(tx, id, p->version, a, &cur, reason)) != ERR_OK)
        goto out;
    if (cur.status == ENTRY_PUBLISHED || cur.status == ENTRY_SCHEDULED) {
        *reason = "a published or scheduled entry cannot be edited";
        e = ERR_CONFLICT;
        goto out;
    }
    struct text old = {cur.title, cur.body, cur.category, cur.audience, STR_NULL};
    struct text t = {
        .title = p->has_title ? p->title : cur.title,
        .body = p->has_body ? p->body : cur.body,
        .category = p->has_category ? p->category : cur.category,
        .audience = p->has_audience ? p->audience : cur.audience,
    };
    if ((e = list_json(cur.labels, cur.n_labels, &labels)) != ERR_OK)
        goto out;
    old.labels_json = str_from(buf_cstr(&labels), labels.len);
    if (p->has_labels) {
        buf_reset(&labels);
        if ((e = list_json(p->labels, p->n_labels, &labels)) != ERR_OK)
            goto out;
    }
    t.labels_json = str_from(buf_cstr(&labels), labels.len);
    bool text_changed = !text_same(&t, &old);
    int64_t version = cur.version;
    enum entry_status status = cur.status;
    if (text_changed) {
        if ((e = next_version(tx, id, &version)) != ERR_OK ||
            (e = version_insert(tx, id, version, "edit", author_of(who), &t, now)) != ERR_OK)
            goto out;
        if (status == ENTRY_APPROVED || status == ENTRY_REJECTED)
            status = ENTRY_DRAFT; /* what was decided on is no longer this text */
    }
    if (p->has_reviewers && (e = list_json(p->reviewers, p->n_reviewers, &reviewers)) != ERR_OK)
        goto out;
    if (!text_changed && !p->has_reviewers)
        goto out; /* nothing to change */
    e = tx_exec_args(
        tx,
        "UPDATE changelog_entries SET title = $3, body = $4, category = $5, audience = $6,"
        " labels = $7, version = $8, status = $9, human_edited = CASE WHEN $10 = 1 THEN 1 ELSE "
        "human_edited END,"
        " reviewers = COALESCE($11, reviewers), updated_at = $12"
        " WHERE tenant_id = $1 AND id = $2",
        STORAGE_ARGS(STORAGE_TEXT(id), STORAGE_TEXT(t.title), STORAGE_TEXT(t.body),
                     STORAGE_CSTR(change_impact_name(t.category)),
                     STORAGE_CSTR(draft_audience_name(t.audience)), STORAGE_TEXT(t.labels_json),
                     STORAGE_INT(version), STORAGE_CSTR(entry_status_name(status)),
                     STORAGE_INT(text_changed ? 1 : 0),
                     p->has_reviewers ? STORAGE_CSTR(buf_cstr(&reviewers)) : STORAGE_NULL,
                     STORAGE_INT(now)),
        NULL);
    if (!e && text_changed)
        e = audit_entry(
            tx, who, "entry.edited", cur.id,
            LOG_FIELDS_(LOG_INT("version", version), LOG_STR("status", entry_status_name(status))));
    if (!e && p->has_reviewers)
        e = audit_entry(tx, who, "entry.reviewers", cur.id,
                        LOG_FIELDS_(LOG_INT("reviewers", (int64_t)p->n_reviewers)));
out:
    buf_release(&labels);
    buf_release(&reviewers);
    arena_free(a);
    return e;
}

/* Whether action may move an entry out of status. */
static bool allowed(enum entry_action action, enum entry_status status)
{
    switch (action) {
    case ENTRY_SUBMIT:
        return status == ENTRY_DRAFT || status == ENTRY_REJECTED;
    case ENTRY_APPROVE:
    case ENTRY_REJECT:
        return status == ENTRY_IN_REVIEW;
    case ENTRY_PUBLISH:
        return status == ENTRY_APPROVED;
    }
    return false;
}

static const char *const refusals[] = {
    [ENTRY_SUBMIT] = "only a draft or a rejected entry can be submitted for review",
    [ENTRY_APPROVE] = "only an entry in review can be approved",
    [ENTRY_REJECT] = "only an entry in review can be rejected",
    [ENTRY_PUBLISH] = "only an approved entry can be published",
};

enum err entries_transition(struct tx *tx, const struct entries_actor *who, struct str id,
                            enum entry_action action, int64_t version, struct str note,
                            int64_t publish_at, int64_t now, const char **reason)
{
    const char *why = NULL;
    if (!reason)
        reason = &why;
    *reason = NULL;
    if ((unsigned)action > ENTRY_PUBLISH || version < 0)
        return ERR_INVALID;
    if (note.len > ENTRIES_MAX_NOTE)
        return ERR_LIMIT;
    if (note.len && !text_ok(note, true))
        return ERR_INVALID;
    struct arena *a = arena_new(1u << 20);
    struct entry cur;
    enum err e = current(tx, id, version, a, &cur, reason);
    if (!e && !allowed(action, cur.status)) {
        *reason = refusals[action];
        e = ERR_CONFLICT;
    }
    if (e)
        goto out;
    const char *actor = author_of(who);
    const char *action_name = "";
    switch (action) {
    case ENTRY_SUBMIT:
        action_name = "entry.submitted";
        e = tx_exec_args(tx,
                         "UPDATE changelog_entries SET status = 'in_review', submitted_by = $3,"
                         " submitted_at = $4, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
                         STORAGE_ARGS(STORAGE_TEXT(id), STORAGE_CSTR(actor), STORAGE_INT(now)),
                         NULL);
        break;
    case ENTRY_APPROVE:
    case ENTRY_REJECT:
        action_name = action == ENTRY_APPROVE ? "entry.approved" : "entry.rejected";
        e = tx_exec_args(
            tx,
            "UPDATE changelog_entries SET status = $3, decided_by = $4,"
            " decided_at = $5, decision_note = $6, updated_at = $5"
            " WHERE tenant_id = $1 AND id = $2",
            STORAGE_ARGS(STORAGE_TEXT(id),
                         STORAGE_CSTR(action == ENTRY_APPROVE ? "approved" : "rejected"),
                         STORAGE_CSTR(actor), STORAGE_INT(now),
                         note.len ? STORAGE_TEXT(note) : STORAGE_NULL),
            NULL);
        break;
    case ENTRY_PUBLISH: {
        bool later = publish_at > now;
        action_name = later ? "entry.scheduled" : "entry.published";
        e = tx_exec_args(
            tx,
            "UPDATE changelog_entries SET status = $3, publish_at = $4,"
            " published_by = $5, published_at = $6, updated_at = $7"
            " WHERE tenant_id = $1 AND id = $2",
            STORAGE_ARGS(STORAGE_TEXT(id), STORAGE_CSTR(later ? "scheduled" : "published"),
                         later ? STORAGE_INT(publish_at) : STORAGE_NULL, STORAGE_CSTR(actor),
                         later ? STORAGE_NULL : STORAGE_INT(now), STORAGE_INT(now)),
            NULL);
        if (!e && later) /* the job that publishes it when the time comes */
            e = jobs_enqueue(tx, ENTRIES_JOB_PUBLISH, cur.id, publish_at, NULL);
        break;
    }
    }
    if (!e)
        e = audit_entry(
            tx, who, action_name, cur.id,
            LOG_FIELDS_(LOG_INT("version", cur.version),
                        LOG_INT("publish_at", action == ENTRY_PUBLISH ? publish_at : 0)));
out:
    arena_free(a);
    return e;
}

enum err entries_publish_due(struct tx *tx, int64_t now, size_t max, char *ids, size_t *n)
{
    *n = 0;
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          "SELECT id FROM changelog_entries WHERE tenant_id = $1"
                          " AND status = 'scheduled' AND publish_at <= $2"
                          " ORDER BY publish_at, id LIMIT $3",
                          STORAGE_ARGS(STORAGE_INT(now), STORAGE_INT(max)), &st, &row);
    while (!e && row && *n < max) {
        struct str id = stmt_col_text(st, 0);
        snprintf(ids + *n * (ENTRIES_ID_LEN + 1), ENTRIES_ID_LEN + 1, "%.*s", (int)id.len,
                 id.ptr ? id.ptr : "");
        (*n)++;
        e = stmt_step(st, &row);
    }
    if (st)
        stmt_finish(st);
    for (size_t i = 0; !e && i < *n; i++) {
        const char *id = ids + i * (ENTRIES_ID_LEN + 1);
        e = tx_exec_args(tx,
                         "UPDATE changelog_entries SET status = 'published', published_at = $3,"
                         " updated_at = $3 WHERE tenant_id = $1 AND id = $2",
                         STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_INT(now)), NULL);
        if (!e)
            e = audit_entry(tx, NULL, "entry.published", id,
                            LOG_FIELDS_(LOG_STR("by", "schedule")));
    }
    return e;
}
