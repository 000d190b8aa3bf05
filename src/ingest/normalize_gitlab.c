/*
 * normalize_gitlab.c — GitLab webhook bodies (X-Gitlab-Event) to metadata rows.
 *
 * Event coverage (anything else is an empty batch):
 *   Push Hook            commits of the push (branch from refs/heads/...);
 *                        a deleted branch (after = 0000...) gives nothing
 *   Tag Push Hook        the tag (sha = checkout_sha); a deleted tag gives nothing
 *   Merge Request Hook   the MR (every action); "approval"/"approved" and
 *                        "unapproval"/"unapproved" add the approver's review row
 *   Note Hook, Confidential Note Hook
 *                        on a MergeRequest: the comment (who and when, never the
 *                        note) and the MR as the event shows it; system notes give
 *                        the MR only
 *   Deployment Hook      the deployment
 *   Release Hook         the release (not when deleted)
 *   System Hook          event_name push / tag_push and object_kind
 *                        merge_request as the project hooks above; others nothing
 * Pipeline, Job, Issue, Wiki Page, Emoji, member and other hooks carry no I5
 * metadata.
 *
 * The repository key is the project id: project.id, else the top-level
 * project_id (push and tag events of older versions), else the MR's
 * target_project_id (system merge request hooks), else the note's project_id.
 * A batch that has any row also has the repository row.
 */
#include "ingest/normalize.h"

#include <string.h>

/* One batch being built. */
struct gl {
    struct arena *a;
    const struct ingest_norm_options *opt;
    const struct json *doc;
    struct str repo_key; /* project id as text */
    struct str repo_id;  /* gitlab:repo:<repo_key> */
    struct ingest_batch_rows rows;
};

static enum err gl_id(struct gl *g, const char *kind, struct str k1, struct str k2, struct str *out)
{
    return ingest_make_id(g->a, "gitlab", kind, k1, k2, out);
}

/* A GitLab user object {id, name, username, email}. The email of a user
 * (not of a commit) is often "[REDACTED]" and is not kept. */
static struct ingest_person gl_user(struct gl *g, const struct json *u)
{
    return ingest_json_person(u, "username", NULL, "name", g->opt);
}

/* The project id (see the top comment); ERR_INVALID without one. */
static enum err gl_repo_key(struct gl *g, const struct json *fallback)
{
    const struct json *cands[] = {json_get(json_get(g->doc, "project"), "id"),
                                  json_get(g->doc, "project_id"), fallback};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0] && !g->repo_key.ptr; i++)
        INGEST_TRY(ingest_json_key(cands[i], g->a, &g->repo_key));
    if (!g->repo_key.ptr)
        return ERR_INVALID;
    return gl_id(g, "repo", g->repo_key, STR_NULL, &g->repo_id);
}

static enum err gl_add_repo(struct gl *g)
{
    return ingest_rows_add_repo(g->a, &g->rows.repos, g->repo_id, json_get(g->doc, "project"),
                                "path_with_namespace", "web_url", "default_branch");
}

/* "after" of all zeros: the ref was deleted. */
static bool gl_deleted(const struct json *doc)
{
    return ingest_is_zero_sha(ingest_json_str(doc, "after"));
}

/* ---- push and tag push --------------------------------------------------- */

static enum err gl_commit(struct gl *g, const struct json *c, struct str branch)
{
    struct ingest_commit *out;
    enum err e = ingest_rows_add_push_commit(g->a, &g->rows.commits, "gitlab", g->repo_key,
                                             g->repo_id, c, branch, &out);
    if (out) {
        const struct json *au = json_get(c, "author");
        out->author = ingest_json_person(au, NULL, NULL, "name", g->opt);
        out->author.email = ingest_json_str(au, "email");
    }
    return e;
}

static enum err gl_push(struct gl *g)
{
    if (gl_deleted(g->doc))
        return ERR_OK;
    INGEST_TRY(gl_repo_key(g, NULL));
    struct str ref = ingest_json_str(g->doc, "ref"), branch = STR_NULL;
    if (str_starts_with(ref, STR_LIT("refs/heads/")))
        branch = str_from(ref.ptr + 11, ref.len - 11);
    const struct json *commits = json_get(g->doc, "commits");
    if (json_count(commits) > INGEST_MAX_ROWS)
        return ERR_LIMIT;
    for (const struct json *c = json_first(commits); c; c = json_next(c))
        INGEST_TRY(gl_commit(g, c, branch));
    return ERR_OK;
}

static enum err gl_tag_push(struct gl *g)
{
    if (gl_deleted(g->doc))
        return ERR_OK;
    struct str ref = ingest_json_str(g->doc, "ref");
    if (!str_starts_with(ref, STR_LIT("refs/tags/")) || ref.len == 10)
        return ERR_INVALID;
    INGEST_TRY(gl_repo_key(g, NULL));
    struct str name = str_from(ref.ptr + 10, ref.len - 10);
    void *row;
    INGEST_TRY(ingest_rows_add(g->a, &g->rows.releases, sizeof(struct ingest_release), &row));
    struct ingest_release *t = row;
    INGEST_TRY(gl_id(g, "tag", g->repo_key, name, &t->id));
    t->repo_id = g->repo_id;
    t->kind = INGEST_TAG;
    t->tag = name;
    struct str sha = ingest_json_str(g->doc, "checkout_sha");
    t->sha = ingest_is_sha(sha) ? sha : STR_NULL;
    /* the tag push event carries no time */
    return ERR_OK;
}

/* ---- merge requests ------------------------------------------------------ */

/* The MR row from an MR object (object_attributes, or a note's merge_request). */
static enum err gl_mr(struct gl *g, const struct json *m, struct ingest_pr **out)
{
    int64_t iid;
    if (!json_as_i64(json_get(m, "iid"), &iid))
        return ERR_INVALID;
    struct ingest_pr *pr;
    INGEST_TRY(ingest_rows_add_pr(g->a, &g->rows.prs, "gitlab", g->repo_key, g->repo_id, iid, &pr));
    pr->title = ingest_json_str(m, "title");
    pr->description = ingest_json_str(m, "description");
    struct str state = ingest_json_str(m, "state");
    if (str_eq_cstr(state, "opened") || str_eq_cstr(state, "locked"))
        pr->state = STR_LIT("open"); /* locked: being merged, not merged yet */
    else if (str_eq_cstr(state, "closed"))
        pr->state = STR_LIT("closed");
    else if (str_eq_cstr(state, "merged"))
        pr->state = STR_LIT("merged");
    pr->draft = ingest_json_tri(m, "draft");
    if (pr->draft == INGEST_TRI_UNKNOWN)
        pr->draft = ingest_json_tri(m, "work_in_progress"); /* before GitLab 14 */
    INGEST_TRY(ingest_json_labels(g->a, json_get(m, "labels"), "title", pr));
    pr->source_branch = ingest_json_str(m, "source_branch");
    pr->target_branch = ingest_json_str(m, "target_branch");
    pr->created_at = ingest_json_time(json_get(m, "created_at"));
    pr->updated_at = ingest_json_time(json_get(m, "updated_at"));
    pr->merged_at = ingest_json_time(json_get(m, "merged_at"));
    pr->closed_at = ingest_json_time(json_get(m, "closed_at"));
    if (pr->merged_at && !pr->closed_at)
        pr->closed_at = pr->merged_at;
    struct str mc = ingest_json_str(m, "merge_commit_sha");
    if (str_eq_cstr(pr->state, "merged") && ingest_is_sha(mc))
        pr->merge_commit_sha = mc;
    *out = pr;
    return ERR_OK;
}

/* True when the user object's id equals the MR's author_id (both present). */
static bool gl_is_author(const struct json *user, const struct json *m)
{
    int64_t uid, aid;
    return json_as_i64(json_get(user, "id"), &uid) && json_as_i64(json_get(m, "author_id"), &aid) &&
           uid == aid;
}

/* The approver's review row: one per (MR, user), so approving and unapproving
 * update the same row. GitLab gives no approval id or time: the MR's
 * updated_at is the closest the event says. */
static enum err gl_approval(struct gl *g, struct ingest_pr *pr, const struct json *user,
                            bool approved)
{
    struct str who;
    INGEST_TRY(ingest_json_key(json_get(user, "id"), g->a, &who));
    if (!who.ptr)
        who = ingest_json_str(user, "username");
    if (!who.ptr || who.len == 0 || str_index(who, ':') >= 0)
        return ERR_OK; /* no approver to key the row by */
    char *key = arena_printf(g->a, "%lld:%.*s", (long long)pr->number, (int)who.len, who.ptr);
    if (!key)
        return ERR_LIMIT;
    void *row;
    INGEST_TRY(ingest_rows_add(g->a, &g->rows.reviews, sizeof(struct ingest_review), &row));
    struct ingest_review *rv = row;
    INGEST_TRY(gl_id(g, "review", g->repo_key, str_from_cstr(key), &rv->id));
    rv->repo_id = g->repo_id;
    rv->pr_id = pr->id;
    rv->kind = INGEST_REVIEW;
    rv->state = approved ? STR_LIT("approved") : STR_LIT("unapproved");
    rv->reviewer = gl_user(g, user);
    rv->submitted_at = pr->updated_at;
    return ERR_OK;
}

static enum err gl_merge_request(struct gl *g)
{
    const struct json *m = json_get(g->doc, "object_attributes");
    if (json_type_of(m) != JSON_OBJECT)
        return ERR_INVALID;
    INGEST_TRY(gl_repo_key(g, json_get(m, "target_project_id")));
    struct ingest_pr *pr;
    INGEST_TRY(gl_mr(g, m, &pr));
    if (!pr->labels_known)
        INGEST_TRY(ingest_json_labels(g->a, json_get(g->doc, "labels"), "title", pr));

    const struct json *user = json_get(g->doc, "user");
    struct str action = ingest_json_str(m, "action");
    bool by_author = gl_is_author(user, m);
    /* user is whoever acted; on "open" that is the author, unless the ids say otherwise */
    if (str_eq_cstr(action, "open") &&
        (by_author || !json_get(user, "id") || !json_get(m, "author_id")))
        pr->author = gl_user(g, user);
    if (str_eq_cstr(action, "open") && pr->draft == INGEST_TRI_NO)
        pr->ready_at = pr->created_at;
    /* "update" that turned draft off: changes.draft {previous: true, current: false} */
    const struct json *dc = json_get(json_get(g->doc, "changes"), "draft");
    bool prev = false, cur = true;
    if (str_eq_cstr(action, "update") && json_as_bool(json_get(dc, "previous"), &prev) &&
        json_as_bool(json_get(dc, "current"), &cur) && prev && !cur)
        pr->ready_at = pr->updated_at;
    /* older versions have no merged_at / closed_at: the action's update is the time */
    if (str_eq_cstr(action, "merge")) {
        if (!pr->merged_at)
            pr->merged_at = pr->updated_at;
        if (!pr->closed_at)
            pr->closed_at = pr->merged_at;
        pr->state = STR_LIT("merged");
        struct str mc = ingest_json_str(m, "merge_commit_sha");
        pr->merge_commit_sha = ingest_is_sha(mc) ? mc : STR_NULL;
    } else if (str_eq_cstr(action, "close") && !pr->closed_at) {
        pr->closed_at = pr->updated_at;
    }

    bool approve = str_eq_cstr(action, "approved") || str_eq_cstr(action, "approval");
    bool unapprove = str_eq_cstr(action, "unapproved") || str_eq_cstr(action, "unapproval");
    if (approve || unapprove) {
        INGEST_TRY(gl_approval(g, pr, user, approve));
        struct ingest_person who = gl_user(g, user);
        if (approve && !by_author && !who.bot && json_get(user, "id") && json_get(m, "author_id")) {
            pr->approved_at = pr->updated_at;
            pr->first_review_at = pr->updated_at;
        }
    }
    return ERR_OK;
}

/* ---- notes --------------------------------------------------------------- */

static enum err gl_note(struct gl *g)
{
    const struct json *n = json_get(g->doc, "object_attributes");
    if (!str_eq_cstr(ingest_json_str(n, "noteable_type"), "MergeRequest"))
        return ERR_OK; /* notes on commits, issues, snippets */
    const struct json *m = json_get(g->doc, "merge_request");
    if (json_type_of(m) != JSON_OBJECT)
        return ERR_INVALID;
    INGEST_TRY(gl_repo_key(g, json_get(n, "project_id")));
    struct ingest_pr *pr;
    INGEST_TRY(gl_mr(g, m, &pr));

    bool system = false;
    if (json_as_bool(json_get(n, "system"), &system) && system)
        return ERR_OK; /* "added 1 commit" and the like: not a review comment */
    struct str key;
    INGEST_TRY(ingest_json_key(json_get(n, "id"), g->a, &key));
    if (!key.ptr)
        return ERR_INVALID;
    void *row;
    INGEST_TRY(ingest_rows_add(g->a, &g->rows.reviews, sizeof(struct ingest_review), &row));
    struct ingest_review *rv = row;
    INGEST_TRY(gl_id(g, "comment", key, STR_NULL, &rv->id));
    rv->repo_id = g->repo_id;
    rv->pr_id = pr->id;
    rv->kind = INGEST_REVIEW_COMMENT;
    rv->state = STR_LIT("commented");
    const struct json *user = json_get(g->doc, "user");
    rv->reviewer = gl_user(g, user);
    rv->submitted_at = ingest_json_time(json_get(n, "created_at"));
    /* counts as a review only when the ids show the commenter is not the author */
    int64_t uid, aid;
    if (json_as_i64(json_get(user, "id"), &uid) && json_as_i64(json_get(m, "author_id"), &aid) &&
        uid != aid && !rv->reviewer.bot && !str_eq_cstr(ingest_json_str(n, "action"), "update"))
        pr->first_review_at = rv->submitted_at;
    return ERR_OK;
}

/* ---- deployments and releases ------------------------------------------- */

/* The full sha at the end of commit_url (".../-/commit/<sha>"), else STR_NULL. */
static struct str gl_sha_from_url(struct str url)
{
    if (url.len < 40)
        return STR_NULL;
    struct str tail = str_from(url.ptr + url.len - 40, 40);
    if (url.len > 40 && url.ptr[url.len - 41] != '/')
        return STR_NULL;
    return ingest_is_sha(tail) ? tail : STR_NULL;
}

static enum err gl_deployment(struct gl *g)
{
    INGEST_TRY(gl_repo_key(g, NULL));
    struct str key;
    INGEST_TRY(ingest_json_key(json_get(g->doc, "deployment_id"), g->a, &key));
    if (!key.ptr)
        return ERR_INVALID;
    void *row;
    INGEST_TRY(ingest_rows_add(g->a, &g->rows.deployments, sizeof(struct ingest_deployment), &row));
    struct ingest_deployment *d = row;
    INGEST_TRY(gl_id(g, "deployment", key, STR_NULL, &d->id));
    d->repo_id = g->repo_id;
    d->environment = ingest_json_str(g->doc, "environment");
    d->ref = ingest_json_str(g->doc, "ref");
    struct str sha = ingest_json_str(g->doc, "sha");
    d->sha = ingest_is_sha(sha) ? sha : gl_sha_from_url(ingest_json_str(g->doc, "commit_url"));

    static const char *const map[][2] = {
        {"created", "pending"},  {"blocked", "pending"}, {"running", "in_progress"},
        {"success", "success"},  {"failed", "failure"},  {"canceled", "canceled"},
        {"skipped", "canceled"},
    };
    struct str status = ingest_json_str(g->doc, "status");
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (str_eq_cstr(status, map[i][0]))
            d->status = str_from_cstr(map[i][1]);
    int64_t at = ingest_json_time(json_get(g->doc, "status_changed_at"));
    if (str_eq_cstr(d->status, "success") || str_eq_cstr(d->status, "failure") ||
        str_eq_cstr(d->status, "canceled"))
        d->finished_at = at;
    else if (str_eq_cstr(status, "created"))
        d->created_at = at;
    return ERR_OK;
}

static enum err gl_release(struct gl *g)
{
    if (str_eq_cstr(ingest_json_str(g->doc, "action"), "delete"))
        return ERR_OK; /* rows are never removed by a delivery */
    INGEST_TRY(gl_repo_key(g, NULL));
    struct str tag = ingest_json_str(g->doc, "tag");
    struct str key;
    INGEST_TRY(ingest_json_key(json_get(g->doc, "id"), g->a, &key));
    if (!key.ptr && tag.len == 0)
        return ERR_INVALID;
    void *row;
    INGEST_TRY(ingest_rows_add(g->a, &g->rows.releases, sizeof(struct ingest_release), &row));
    struct ingest_release *r = row;
    if (key.ptr)
        INGEST_TRY(gl_id(g, "release", key, STR_NULL, &r->id));
    else
        INGEST_TRY(gl_id(g, "release", g->repo_key, tag, &r->id));
    r->repo_id = g->repo_id;
    r->kind = INGEST_RELEASE;
    r->tag = tag;
    r->name = ingest_json_str(g->doc, "name");
    struct str sha = ingest_json_str(json_get(g->doc, "commit"), "id");
    r->sha = ingest_is_sha(sha) ? sha : STR_NULL;
    r->published_at = ingest_json_time(json_get(g->doc, "released_at"));
    return ERR_OK;
}

/* ---- entry --------------------------------------------------------------- */

enum gl_kind { GL_NONE, GL_PUSH, GL_TAG, GL_MR, GL_NOTE, GL_DEPLOYMENT, GL_RELEASE };

/* The kind of a System Hook body: event_name, or object_kind for MRs. */
static enum gl_kind gl_system_kind(const struct json *doc, struct str *name)
{
    *name = ingest_json_str(doc, "event_name");
    if (!name->ptr)
        *name = ingest_json_str(doc, "object_kind");
    if (str_eq_cstr(*name, "push"))
        return GL_PUSH;
    if (str_eq_cstr(*name, "tag_push"))
        return GL_TAG;
    if (str_eq_cstr(*name, "merge_request"))
        return GL_MR;
    return GL_NONE;
}

static const struct {
    const char *header;
    const char *name; /* batch.event */
    enum gl_kind kind;
} gl_events[] = {
    {"Push Hook", "push", GL_PUSH},
    {"Tag Push Hook", "tag_push", GL_TAG},
    {"Merge Request Hook", "merge_request", GL_MR},
    {"Note Hook", "note", GL_NOTE},
    {"Confidential Note Hook", "note", GL_NOTE},
    {"Deployment Hook", "deployment", GL_DEPLOYMENT},
    {"Release Hook", "release", GL_RELEASE},
};

enum err ingest_normalize_gitlab(struct str event, const struct json *doc,
                                 const struct ingest_norm_options *opt, struct arena *a,
                                 struct ingest_batch *out)
{
    memset(out, 0, sizeof *out);
    struct gl g = {.a = a, .opt = opt, .doc = doc};
    enum gl_kind kind = GL_NONE;
    struct str name = event, action = STR_NULL;
    for (size_t i = 0; i < sizeof gl_events / sizeof gl_events[0]; i++)
        if (str_eq_cstr(event, gl_events[i].header)) {
            kind = gl_events[i].kind;
            name = str_from_cstr(gl_events[i].name);
        }
    if (str_eq_cstr(event, "System Hook")) {
        name = STR_LIT("system");
        kind = gl_system_kind(doc, &action);
    } else if (kind == GL_MR || kind == GL_NOTE) {
        action = ingest_json_str(json_get(doc, "object_attributes"), "action");
    } else if (kind == GL_DEPLOYMENT) {
        action = ingest_json_str(doc, "status");
    } else if (kind == GL_RELEASE) {
        action = ingest_json_str(doc, "action");
    }
    INGEST_TRY(ingest_batch_event(a, name, action, &out->event));

    switch (kind) {
    case GL_PUSH:
        INGEST_TRY(gl_push(&g));
        break;
    case GL_TAG:
        INGEST_TRY(gl_tag_push(&g));
        break;
    case GL_MR:
        INGEST_TRY(gl_merge_request(&g));
        break;
    case GL_NOTE:
        INGEST_TRY(gl_note(&g));
        break;
    case GL_DEPLOYMENT:
        INGEST_TRY(gl_deployment(&g));
        break;
    case GL_RELEASE:
        INGEST_TRY(gl_release(&g));
        break;
    case GL_NONE:
        break;
    }
    bool any = g.rows.commits.n || g.rows.prs.n || g.rows.reviews.n || g.rows.deployments.n ||
               g.rows.releases.n;
    if (any)
        INGEST_TRY(gl_add_repo(&g));
    ingest_batch_rows_finish(&g.rows, out);
    return ERR_OK;
}
