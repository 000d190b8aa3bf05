/*
 * normalize_azure.c — Azure DevOps service-hook deliveries reduced to metadata
 * rows (normalize.h), and the body's own event id and type
 * (normalize_azure.h).
 *
 * A service hook body is an envelope {id, eventType, createdDate, resource,
 * ...}; the resource is the object the event is about (a push, a pull
 * request). Mapped events:
 *   git.push                   repository, commits[] (no file paths or line
 *                              counts in the payload: unknown), tags from
 *                              refUpdates[] under refs/tags/
 *   git.pullrequest.created    repository, the pull request, and one review
 *   git.pullrequest.updated      row per reviewer who has voted
 *   git.pullrequest.merged     ("merge attempted": merged only when the status
 *                              is completed and mergeStatus succeeded)
 * Everything else (build.complete, work items, ...) gives an empty batch:
 * builds are not deployments.
 *
 * Keys: the repository GUID (repository.id). Reviews have no id of their own
 * and no time: a reviewer's vote is a snapshot on the pull request, so a
 * review row is keyed <repo>:<pr>:<reviewer id>:<state> (the same vote seen in
 * ten updates is one row; a changed vote is another) and its time is the
 * envelope's createdDate — when the vote was seen, not when it was cast. For
 * the same reason the pull request's first_review_at and approved_at stay
 * unknown here.
 *
 * The merge commit: lastMergeCommit of an active pull request is Azure's
 * preview merge, never part of the target branch, so it is kept only once the
 * pull request is merged.
 *
 * Bots (I8): Azure marks no account as a bot; ingest_is_bot() on uniqueName
 * and displayName (tenants add patterns such as "* Build Service (*)" for
 * pipeline identities).
 */
#include "ingest/normalize_azure.h"

#include <string.h>

#include "ingest/normalize.h"

#define AZ_PROV      "azure-devops"
#define AZ_MAX_EVENT 64

struct az {
    const struct ingest_norm_options *opt;
    struct arena *a;
    struct str repo_key;
    struct str repo_id;
    int64_t event_at; /* the envelope's createdDate */
};

/* ---- reading the document ------------------------------------------------ */

static bool printable(struct str s, size_t max)
{
    if (!s.ptr || s.len == 0 || s.len > max)
        return false;
    return str_is_printable_ascii(s);
}

/* ---- public: the envelope ------------------------------------------------ */

bool ingest_azure_event_id(const struct json *doc, struct str *out)
{
    struct str s = ingest_json_str(doc, "id");
    if (!printable(s, INGEST_AZURE_MAX_EVENT_ID))
        return false;
    *out = s;
    return true;
}

bool ingest_azure_event_type(const struct json *doc, struct str *out)
{
    struct str s = ingest_json_str(doc, "eventType");
    if (!printable(s, AZ_MAX_EVENT))
        return false;
    *out = s;
    return true;
}

/* An identity: {id, displayName, uniqueName}. */
static struct ingest_person identity(const struct az *c, const struct json *who)
{
    return ingest_json_person(who, "uniqueName", NULL, "displayName", c->opt);
}

/* A git identity of a commit: {name, email, date}. */
static struct ingest_person git_person(const struct az *c, const struct json *who)
{
    struct ingest_person p = ingest_json_person(who, NULL, NULL, "name", c->opt);
    p.email = ingest_json_str(who, "email");
    return p;
}

/* ---- rows ---------------------------------------------------------------- */

static enum err repo(struct az *c, const struct json *r, struct ingest_batch *out)
{
    struct str key = ingest_json_str(r, "id");
    if (!ingest_is_id_part(key))
        return ERR_INVALID;
    struct ingest_repo *row = arena_calloc(c->a, 1, sizeof *row);
    if (!row)
        return ERR_LIMIT;
    enum err e = ingest_make_id_parts(c->a, AZ_PROV, "repo", &key, 1, &row->id);
    if (e != ERR_OK)
        return e;
    struct str project = ingest_json_str(ingest_json_obj(r, "project"), "name"),
               name = ingest_json_str(r, "name");
    if (project.ptr && name.ptr) {
        char *fn =
            arena_printf(c->a, "%.*s/%.*s", (int)project.len, project.ptr, (int)name.len, name.ptr);
        if (!fn)
            return ERR_LIMIT;
        row->full_name = str_from_cstr(fn);
    }
    struct str url = ingest_json_str(r, "webUrl");
    if (!url.ptr)
        url = ingest_json_str(r, "remoteUrl");
    e = ingest_strip_userinfo(c->a, url, &row->url);
    if (e != ERR_OK)
        return e;
    row->default_branch = ingest_strip_prefix(ingest_json_str(r, "defaultBranch"), "refs/heads/");
    c->repo_key = key;
    c->repo_id = row->id;
    out->repos = row;
    out->n_repos = 1;
    return ERR_OK;
}

/* git.push: commits[] and the tags among refUpdates[]. */
static enum err push(struct az *c, const struct json *res, struct ingest_batch *out)
{
    const struct json *refs = ingest_json_arr(res, "refUpdates");
    const struct json *list = ingest_json_arr(res, "commits");
    size_t n = json_count(list), n_tags = 0, n_branches = 0;
    if (n > INGEST_MAX_ROWS)
        return ERR_LIMIT;
    struct str branch = STR_NULL;
    for (const struct json *u = json_first(refs); u; u = json_next(u)) {
        struct str name = ingest_json_str(u, "name");
        if (str_starts_with(name, STR_LIT("refs/heads/"))) {
            n_branches++;
            branch = ingest_strip_prefix(name, "refs/heads/");
        } else if (str_starts_with(name, STR_LIT("refs/tags/")) &&
                   !ingest_is_zero_sha(ingest_json_str(u, "newObjectId"))) {
            n_tags++;
        }
    }
    if (n_tags > INGEST_MAX_ROWS)
        return ERR_LIMIT;
    /* commits are not attributed to a ref: a branch only when just one moved */
    if (n_branches != 1)
        branch = STR_NULL;

    struct ingest_commit *cs = n ? arena_calloc(c->a, n, sizeof *cs) : NULL;
    if (n && !cs)
        return ERR_LIMIT;
    size_t nc = 0;
    for (const struct json *k = json_first(list); k; k = json_next(k)) {
        struct str sha = ingest_json_str(k, "commitId");
        if (!ingest_is_abbrev_sha(sha))
            return ERR_INVALID;
        bool dup = false;
        for (size_t i = 0; i < nc && !dup; i++)
            dup = str_eq(cs[i].sha, sha);
        if (dup)
            continue;
        struct ingest_commit *row = &cs[nc++];
        ingest_commit_init(row); /* no file paths or line counts in the payload */
        struct str parts[2] = {c->repo_key, sha};
        enum err e = ingest_make_id_parts(c->a, AZ_PROV, "commit", parts, 2, &row->id);
        if (e != ERR_OK)
            return e;
        row->repo_id = c->repo_id;
        row->sha = sha;
        row->message =
            ingest_json_str(k, "comment"); /* as sent; Azure may cut it (commentTruncated) */
        const struct json *author = ingest_json_obj(k, "author"),
                          *committer = ingest_json_obj(k, "committer");
        row->author = git_person(c, author);
        row->committer = git_person(c, committer);
        row->authored_at = ingest_json_iso_time(author, "date");
        row->committed_at = ingest_json_iso_time(committer, "date");
        row->branch = branch;
    }
    out->commits = cs;
    out->n_commits = nc;

    struct ingest_release *tags = n_tags ? arena_calloc(c->a, n_tags, sizeof *tags) : NULL;
    if (n_tags && !tags)
        return ERR_LIMIT;
    size_t nt = 0;
    int64_t pushed = ingest_json_iso_time(res, "date");
    for (const struct json *u = json_first(refs); u; u = json_next(u)) {
        struct str name = ingest_json_str(u, "name"), sha = ingest_json_str(u, "newObjectId");
        if (!str_starts_with(name, STR_LIT("refs/tags/")) || ingest_is_zero_sha(sha))
            continue;
        /* for an annotated tag sha names the tag object, not the commit */
        enum err e = ingest_tag_row(
            c->a, AZ_PROV, c->repo_key, c->repo_id, ingest_strip_prefix(name, "refs/tags/"),
            ingest_is_abbrev_sha(sha) ? sha : STR_NULL, pushed, &tags[nt++]);
        if (e != ERR_OK)
            return e;
    }
    out->releases = tags;
    out->n_releases = nt;
    return ERR_OK;
}

/* vote → review state; NULL for "no vote" (0) and unknown values. */
static const char *vote_state(int64_t vote)
{
    switch (vote) {
    case 10: /* approved */
    case 5:  /* approved with suggestions */
        return "approved";
    case -5:  /* waiting for author */
    case -10: /* rejected */
        return "changes_requested";
    default:
        return NULL;
    }
}

static enum err pull_request(struct az *c, const struct json *res, struct ingest_batch *out,
                             bool created)
{
    struct ingest_pr *pr = arena_calloc(c->a, 1, sizeof *pr);
    if (!pr)
        return ERR_LIMIT;
    ingest_pr_init(pr);
    if (!json_as_i64(json_get(res, "pullRequestId"), &pr->number) || pr->number <= 0)
        return ERR_INVALID;
    struct str parts[5] = {c->repo_key, STR_NULL, STR_NULL, STR_NULL, STR_NULL};
    enum err e = ingest_num_str(c->a, pr->number, &parts[1]);
    if (e == ERR_OK)
        e = ingest_make_id_parts(c->a, AZ_PROV, "pr", parts, 2, &pr->id);
    if (e != ERR_OK)
        return e;
    pr->repo_id = c->repo_id;
    pr->title = ingest_json_str(res, "title");
    pr->description = ingest_json_str(res, "description");
    struct str status = ingest_json_str(res, "status");
    bool merged = str_eq_cstr(status, "completed") &&
                  str_eq_cstr(ingest_json_str(res, "mergeStatus"), "succeeded");
    if (str_eq_cstr(status, "active"))
        pr->state = STR_LIT("open");
    else if (merged)
        pr->state = STR_LIT("merged");
    else if (str_eq_cstr(status, "completed") || str_eq_cstr(status, "abandoned"))
        pr->state = STR_LIT("closed");
    pr->draft = ingest_json_tri(res, "isDraft");
    pr->author = identity(c, ingest_json_obj(res, "createdBy"));
    pr->source_branch = ingest_strip_prefix(ingest_json_str(res, "sourceRefName"), "refs/heads/");
    pr->target_branch = ingest_strip_prefix(ingest_json_str(res, "targetRefName"), "refs/heads/");
    pr->created_at = ingest_json_iso_time(res, "creationDate");
    /* Without isDraft the server predates drafts: the PR opened ready. */
    if (created && pr->draft != INGEST_TRI_YES)
        pr->ready_at = pr->created_at;
    if (pr->state.ptr && !str_eq_cstr(pr->state, "open")) {
        pr->closed_at = ingest_json_iso_time(res, "closedDate");
        if (merged) {
            pr->merged_at = pr->closed_at;
            struct str mc = ingest_json_str(ingest_json_obj(res, "lastMergeCommit"), "commitId");
            pr->merge_commit_sha = ingest_is_abbrev_sha(mc) ? mc : STR_NULL;
        }
    }

    const struct json *labels = ingest_json_arr(res, "labels");
    if (labels) {
        size_t n = json_count(labels);
        if (n > INGEST_MAX_LABELS)
            n = INGEST_MAX_LABELS; /* the first ones are kept */
        struct str *v = n ? arena_calloc(c->a, n, sizeof *v) : NULL;
        if (n && !v)
            return ERR_LIMIT;
        size_t k = 0;
        for (const struct json *l = json_first(labels); l && k < n; l = json_next(l)) {
            bool active;
            if (json_as_bool(json_get(l, "active"), &active) && !active)
                continue;
            struct str name = ingest_json_str(l, "name");
            if (name.ptr)
                v[k++] = name;
        }
        pr->labels = v;
        pr->n_labels = k;
        pr->labels_known = true;
    }
    out->prs = pr;
    out->n_prs = 1;

    const struct json *reviewers = ingest_json_arr(res, "reviewers");
    size_t n = json_count(reviewers);
    if (n > INGEST_MAX_ROWS)
        return ERR_LIMIT;
    struct ingest_review *rv = n ? arena_calloc(c->a, n, sizeof *rv) : NULL;
    if (n && !rv)
        return ERR_LIMIT;
    size_t nr = 0;
    for (const struct json *r = json_first(reviewers); r; r = json_next(r)) {
        int64_t vote;
        const char *state = json_as_i64(json_get(r, "vote"), &vote) ? vote_state(vote) : NULL;
        struct str who = ingest_json_str(r, "id");
        if (!state || !ingest_is_id_part(who))
            continue; /* no vote, or nobody to key it by */
        parts[2] = who;
        parts[3] = str_from_cstr(state);
        struct ingest_review *row = &rv[nr++];
        e = ingest_make_id_parts(c->a, AZ_PROV, "review", parts, 4, &row->id);
        if (e != ERR_OK)
            return e;
        row->repo_id = c->repo_id;
        row->pr_id = pr->id;
        row->kind = INGEST_REVIEW;
        row->state = str_from_cstr(state);
        row->reviewer = identity(c, r);
        row->submitted_at = c->event_at;
    }
    out->reviews = rv;
    out->n_reviews = nr;
    return ERR_OK;
}

enum err ingest_normalize_azure(struct str event, const struct json *doc,
                                const struct ingest_norm_options *opt, struct arena *a,
                                struct ingest_batch *out)
{
    memset(out, 0, sizeof *out);
    if (!event.ptr || event.len == 0) {
        if (!ingest_azure_event_type(doc, &event))
            event = STR_LIT("");
    } else if (event.len > AZ_MAX_EVENT) {
        event = STR_LIT("");
    }
    char *ev = arena_strndup(a, event.ptr, event.len);
    if (!ev)
        return ERR_LIMIT;
    out->event = str_from(ev, event.len);
    if (json_type_of(doc) != JSON_OBJECT)
        return ERR_INVALID;

    bool is_push = str_eq_cstr(out->event, "git.push");
    bool created = str_eq_cstr(out->event, "git.pullrequest.created");
    bool is_pr = created || str_eq_cstr(out->event, "git.pullrequest.updated") ||
                 str_eq_cstr(out->event, "git.pullrequest.merged");
    if (!is_push && !is_pr)
        return ERR_OK; /* build.complete, work items, ...: no change metadata */

    struct az c = {.opt = opt, .a = a, .event_at = ingest_json_iso_time(doc, "createdDate")};
    const struct json *res = ingest_json_obj(doc, "resource");
    enum err e = repo(&c, ingest_json_obj(res, "repository"), out);
    if (e == ERR_OK)
        e = is_push ? push(&c, res, out) : pull_request(&c, res, out, created);
    if (e != ERR_OK) {
        struct str keep = out->event;
        memset(out, 0, sizeof *out);
        out->event = keep;
    }
    return e;
}
