/*
 * pipeline.c — the changes of a normalized batch and their drafts
 * (pipeline.h).
 */
#include "changes/pipeline.h"

#include <string.h>

#include "audit/audit.h"
#include "changes/draft.h"
#include "core/log.h"

/* ---- the tenant's rules ------------------------------------------------------ */

enum err changes_rules_get(struct tx *tx, struct arena *a, struct classify_rules *out)
{
    *out = CLASSIFY_DEFAULT_RULES;
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx, "SELECT value FROM tenant_settings WHERE tenant_id = $1 AND key = $2",
                          STORAGE_ARGS(STORAGE_CSTR(CHANGES_SETTING_RULES)), &st, &row);
    if (e || !row) {
        if (st)
            stmt_finish(st);
        return e;
    }
    struct str v = stmt_col_text(st, 0);
    char *copy = arena_strndup(a, v.ptr ? v.ptr : "", v.len);
    stmt_finish(st);
    if (!copy)
        return ERR_LIMIT;
    struct rules_problem why;
    if (classify_rules_parse(str_from(copy, v.len), a, out, &why) != ERR_OK) {
        *out = CLASSIFY_DEFAULT_RULES;
        log_warn("changes: stored rules unreadable, built-in rules used",
                 LOG_STR("field", why.field));
    }
    return ERR_OK;
}

enum err changes_rules_set(struct tx *tx, const struct entries_actor *who, struct str rules_json,
                           struct rules_problem *why)
{
    struct rules_problem scratch;
    if (!why)
        why = &scratch;
    struct arena *a = arena_new(4u << 20);
    struct classify_rules r;
    enum err e = classify_rules_parse(rules_json, a, &r, why);
    arena_free(a);
    if (e)
        return e;
    e = tx_exec_args(tx,
                     "INSERT INTO tenant_settings (tenant_id, key, value) VALUES ($1, $2, $3)"
                     " ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value",
                     STORAGE_ARGS(STORAGE_CSTR(CHANGES_SETTING_RULES), STORAGE_TEXT(rules_json)),
                     NULL);
    if (e)
        return e;
    struct audit_event ev = {
        .action = "settings.rules_changed",
        .actor = who->key_id ? AUDIT_ACTOR_API_KEY : AUDIT_ACTOR_USER,
        .actor_id = who->key_id ? who->key_id : who->user_id,
        .target = "settings:changes.rules",
        .outcome = AUDIT_SUCCESS,
        .client_ip = who->client_ip,
        .request_id = who->request_id,
        .details = LOG_FIELDS_(LOG_INT("bytes", (int64_t)rules_json.len)),
    };
    return audit_append(tx, &ev, NULL);
}

/* ---- which rows are changes ---------------------------------------------------- */

static bool starts_with(struct str s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

static bool contains(struct str s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= s.len && i <= s.len - n; i++)
        if (memcmp(s.ptr + i, needle, n) == 0)
            return true;
    return false;
}

/* The title ends in "(#123)" (GitHub's squash merge) or "(pull request #123)". */
static bool squash_title(struct str title)
{
    while (title.len && (title.ptr[title.len - 1] == ' ' || title.ptr[title.len - 1] == '\r'))
        title.len--;
    size_t i = title.len;
    if (!i || title.ptr[--i] != ')')
        return false;
    size_t digits = 0;
    while (i > 0 && title.ptr[i - 1] >= '0' && title.ptr[i - 1] <= '9') {
        i--;
        digits++;
    }
    return digits > 0 && i > 0 && title.ptr[i - 1] == '#' &&
           (contains(str_from(title.ptr, i), " (#") || contains(title, "(pull request #"));
}

bool changes_is_merge_message(struct str m)
{
    if (!m.ptr)
        return false;
    struct str title, rest;
    classify_split_message(m, &title, &rest);
    return starts_with(m, "Merge pull request #") || starts_with(m, "Merge branch ") ||
           starts_with(m, "Merge remote-tracking branch ") || starts_with(m, "Merged PR ") ||
           starts_with(m, "Merged in ") || contains(m, "See merge request ") || squash_title(title);
}

/* The default branch of repo_id: from the batch, else stored; STR_NULL unknown. */
static enum err default_branch(struct tx *tx, const struct ingest_batch *b, struct str repo_id,
                               struct arena *a, struct str *out)
{
    *out = STR_NULL;
    for (size_t i = 0; i < b->n_repos; i++)
        if (str_eq(b->repos[i].id, repo_id) && b->repos[i].default_branch.ptr) {
            *out = b->repos[i].default_branch;
            return ERR_OK;
        }
    struct stmt *st = NULL;
    bool row = false;
    enum err e =
        tx_query(tx, "SELECT default_branch FROM repositories WHERE tenant_id = $1 AND id = $2",
                 STORAGE_ARGS(STORAGE_TEXT(repo_id)), &st, &row);
    if (!e && row && !stmt_col_is_null(st, 0)) {
        struct str v = stmt_col_text(st, 0);
        char *p = arena_strndup(a, v.ptr ? v.ptr : "", v.len);
        if (!p)
            e = ERR_LIMIT;
        else
            *out = str_from(p, v.len);
    }
    if (st)
        stmt_finish(st);
    return e;
}

static const struct ingest_repo *batch_repo(const struct ingest_batch *b, struct str id)
{
    for (size_t i = 0; i < b->n_repos; i++)
        if (str_eq(b->repos[i].id, id))
            return &b->repos[i];
    return NULL;
}

/* The web address of a PR (number >= 0) or a commit, from the repository's; STR_NULL unknown. */
static struct str source_url(const struct ingest_batch *b, struct str repo_id, int64_t number,
                             struct str sha, struct arena *a)
{
    const struct ingest_repo *r = batch_repo(b, repo_id);
    if (!r || !r->url.ptr || !r->url.len)
        return STR_NULL;
    static const struct {
        const char *provider, *pr, *commit;
    } paths[] = {
        {"github:", "/pull/", "/commit/"},
        {"gitlab:", "/-/merge_requests/", "/-/commit/"},
        {"bitbucket:", "/pull-requests/", "/commits/"},
        {"bitbucket-server:", "/pull-requests/", "/commits/"},
        {"azure-devops:", "/pullrequest/", "/commit/"},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (!starts_with(repo_id, paths[i].provider))
            continue;
        char *u = number >= 0 ? arena_printf(a, "%.*s%s%lld", (int)r->url.len, r->url.ptr,
                                             paths[i].pr, (long long)number)
                  : sha.ptr   ? arena_printf(a, "%.*s%s%.*s", (int)r->url.len, r->url.ptr,
                                             paths[i].commit, (int)sha.len, sha.ptr)
                              : NULL;
        if (!u || strlen(u) > ENTRIES_MAX_URL)
            return STR_NULL;
        return str_from_cstr(u);
    }
    return STR_NULL;
}

/* The stored (or batched) paths of the commit sha in repo_id. */
static enum err commit_paths(struct tx *tx, const struct ingest_batch *b, struct str repo_id,
                             struct str sha, struct arena *a, const struct str **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!sha.ptr)
        return ERR_OK;
    for (size_t i = 0; i < b->n_commits; i++) {
        const struct ingest_commit *c = &b->commits[i];
        if (c->n_files && str_eq(c->repo_id, repo_id) && str_eq(c->sha, sha)) {
            struct str *v = arena_calloc(a, c->n_files, sizeof *v);
            if (!v)
                return ERR_LIMIT;
            for (size_t k = 0; k < c->n_files; k++)
                v[k] = c->files[k].path;
            *out = v;
            *n = c->n_files;
            return ERR_OK;
        }
    }
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(
        tx,
        "SELECT f.path FROM commits c JOIN commit_files f"
        " ON f.tenant_id = c.tenant_id AND f.commit_id = c.id"
        " WHERE c.tenant_id = $1 AND c.repo_id = $2 AND c.sha = $3"
        " ORDER BY f.path LIMIT $4",
        STORAGE_ARGS(STORAGE_TEXT(repo_id), STORAGE_TEXT(sha), STORAGE_INT(CLASSIFY_MAX_PATHS)),
        &st, &row);
    struct str *v = NULL;
    if (!e && row && !(v = arena_calloc(a, CLASSIFY_MAX_PATHS, sizeof *v)))
        e = ERR_LIMIT;
    for (; !e && row; e = stmt_step(st, &row)) {
        struct str p = stmt_col_text(st, 0);
        char *copy = arena_strndup(a, p.ptr ? p.ptr : "", p.len);
        if (!copy) {
            e = ERR_LIMIT;
            break;
        }
        v[(*n)++] = str_from(copy, p.len);
    }
    if (st)
        stmt_finish(st);
    *out = v;
    return e;
}

/* Cuts s to at most max bytes, between UTF-8 characters. */
static struct str cut(struct str s, size_t max)
{
    if (!s.ptr || s.len <= max)
        return s;
    size_t n = max;
    while (n > 0 && ((unsigned char)s.ptr[n] & 0xC0) == 0x80)
        n--;
    return str_from(s.ptr, n);
}

/*
 * Classifies in and drafts it into g (the rest of g filled by the caller).
 * A change the classifier refuses (a list over its limit) is logged and left
 * out rather than failing its whole delivery.
 */
static bool drafted(const struct change_input *in, const struct classify_rules *rules,
                    struct entry_generated *g)
{
    struct change_input c = *in;
    c.title = cut(c.title, CHANGES_MAX_CLASSIFY_TEXT);
    c.description = cut(c.description, CHANGES_MAX_CLASSIFY_TEXT);
    enum err e = classify_change(&c, rules, &g->cls);
    if (!e)
        e = draft_from_rules(&c, &g->cls, &g->draft);
    g->provider = "rules";
    if (e)
        log_warn("changes: change not drafted", LOG_ERR(e), LOG_STR("source", g->source_id.ptr));
    return e == ERR_OK;
}

static bool pr_is_change(const struct ingest_pr *p, struct str default_br)
{
    if (!p->state.ptr || !str_eq_cstr(p->state, "merged"))
        return false;
    return !p->target_branch.ptr || !default_br.ptr || str_eq(p->target_branch, default_br);
}

enum err changes_find(struct tx *tx, const struct ingest_batch *b, struct arena *a,
                      struct entry_generated **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = b->n_prs + b->n_commits;
    if (cap > CHANGES_MAX_PER_DELIVERY)
        cap = CHANGES_MAX_PER_DELIVERY;
    if (!cap)
        return ERR_OK;
    struct entry_generated *v = arena_calloc(a, cap, sizeof *v);
    struct classify_rules *rules = arena_calloc(a, 1, sizeof *rules);
    if (!v || !rules)
        return ERR_LIMIT;
    enum err e = changes_rules_get(tx, a, rules);
    size_t skipped = 0;
    for (size_t i = 0; !e && i < b->n_prs; i++) {
        const struct ingest_pr *p = &b->prs[i];
        struct str def;
        if ((e = default_branch(tx, b, p->repo_id, a, &def)) != ERR_OK || !pr_is_change(p, def))
            continue;
        if (*n == cap) {
            skipped++;
            continue;
        }
        struct change_input in = {.title = p->title,
                                  .description = p->description,
                                  .labels = p->labels,
                                  .n_labels = p->n_labels};
        if (!in.title.ptr)
            continue; /* nothing to write about yet: a later delivery tells the title */
        if ((e = commit_paths(tx, b, p->repo_id, p->merge_commit_sha, a, &in.paths, &in.n_paths)) !=
            ERR_OK)
            break;
        struct entry_generated *g = &v[*n];
        g->source_id = p->id;
        g->repo_id = p->repo_id;
        g->source_number = p->number;
        g->source_url = source_url(b, p->repo_id, p->number, STR_NULL, a);
        g->changed_at = p->merged_at ? p->merged_at : p->closed_at;
        g->labels = p->labels;
        g->n_labels = p->n_labels;
        if (drafted(&in, rules, g))
            (*n)++;
    }
    for (size_t i = 0; !e && i < b->n_commits; i++) {
        const struct ingest_commit *c = &b->commits[i];
        struct str def;
        if (!c->branch.ptr || !c->message.ptr || changes_is_merge_message(c->message))
            continue;
        if ((e = default_branch(tx, b, c->repo_id, a, &def)) != ERR_OK || !def.ptr ||
            !str_eq(c->branch, def))
            continue;
        if (*n == cap) {
            skipped++;
            continue;
        }
        struct change_input in = {0};
        classify_split_message(c->message, &in.title, &in.description);
        struct str *paths = c->n_files ? arena_calloc(a, c->n_files, sizeof *paths) : NULL;
        if (c->n_files && !paths) {
            e = ERR_LIMIT;
            break;
        }
        for (size_t k = 0; k < c->n_files; k++)
            paths[k] = c->files[k].path;
        in.paths = paths;
        in.n_paths = c->n_files;
        struct entry_generated *g = &v[*n];
        g->source_id = c->id;
        g->push = true;
        g->repo_id = c->repo_id;
        g->source_number = -1;
        g->source_url = source_url(b, c->repo_id, -1, c->sha, a);
        g->changed_at = c->committed_at ? c->committed_at : c->authored_at;
        if (drafted(&in, rules, g))
            (*n)++;
    }
    if (skipped)
        log_warn("changes: delivery with more changes than drafted",
                 LOG_INT("drafted", (int64_t)*n), LOG_INT("skipped", (int64_t)skipped));
    *out = v;
    return e;
}

enum err changes_store(struct tx *tx, const struct entry_generated *v, size_t n, int64_t now)
{
    enum err e = ERR_OK;
    for (size_t i = 0; !e && i < n; i++) {
        enum entry_upsert what;
        e = entries_upsert_generated(tx, &v[i], now, &what, NULL);
    }
    return e;
}
