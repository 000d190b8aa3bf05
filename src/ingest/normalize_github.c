/*
 * normalize_github.c — GitHub webhook bodies (X-GitHub-Event) to metadata rows.
 *
 * Event coverage (anything else is an empty batch):
 *   push                 commits of the push (branch from refs/heads/...); a push
 *                        of refs/tags/<x> adds a tag row; a deleted ref gives nothing
 *   pull_request         the PR (every action)
 *   pull_request_review  the review and the PR as the event shows it
 *   pull_request_review_comment, issue_comment on a PR
 *                        the comment (who and when, never its text) and the PR
 *   deployment, deployment_status
 *                        the deployment (status only from deployment_status)
 *   release              the release (not when deleted)
 *   create (ref_type tag) the tag; delete gives nothing (rows are never removed here)
 *   repository           the repository
 * CI events (check_run, check_suite, workflow_run, workflow_job, status) carry
 * no I5 metadata and give an empty batch, like ping, issues, stars, ...
 *
 * A batch that has any row also has the repository row (github:repo:<id>),
 * keyed by repository.id; a change event without it is ERR_INVALID.
 */
#include "ingest/normalize.h"

#include <string.h>

/* One batch being built. */
struct gh {
    struct arena *a;
    const struct ingest_norm_options *opt;
    const struct json *doc;
    struct str action;
    struct str repo_key; /* repository.id as text */
    struct str repo_id;  /* github:repo:<repo_key> */
    struct ingest_batch_rows rows;
};

static enum err gh_id(struct gh *g, const char *kind, struct str k1, struct str k2, struct str *out)
{
    return ingest_make_id(g->a, "github", kind, k1, k2, out);
}

/* A GitHub account object (user, sender, creator, author). */
static struct ingest_person gh_user(struct gh *g, const struct json *u)
{
    struct ingest_person p = ingest_json_person(u, "login", NULL, "name", g->opt);
    p.bot = p.bot || str_eq_cstr(ingest_json_str(u, "type"), "Bot");
    return p;
}

/* A commit's author or committer: {name, email, username}. */
static struct ingest_person gh_git_person(struct gh *g, const struct json *u)
{
    struct ingest_person p = ingest_json_person(u, "username", NULL, "name", g->opt);
    p.email = ingest_json_str(u, "email");
    return p;
}

/* repository.id → repo_key/repo_id; ERR_INVALID without it. */
static enum err gh_repo_key(struct gh *g)
{
    const struct json *r = json_get(g->doc, "repository");
    INGEST_TRY(ingest_json_key(json_get(r, "id"), g->a, &g->repo_key));
    if (!g->repo_key.ptr)
        return ERR_INVALID;
    return gh_id(g, "repo", g->repo_key, STR_NULL, &g->repo_id);
}

static enum err gh_add_repo(struct gh *g)
{
    return ingest_rows_add_repo(g->a, &g->rows.repos, g->repo_id, json_get(g->doc, "repository"),
                                "full_name", "html_url", "default_branch");
}

/* ---- push ---------------------------------------------------------------- */

static enum err gh_commit(struct gh *g, const struct json *c, struct str branch)
{
    struct ingest_commit *out;
    enum err e = ingest_rows_add_push_commit(g->a, &g->rows.commits, "github", g->repo_key,
                                             g->repo_id, c, branch, &out);
    if (out) {
        out->author = gh_git_person(g, json_get(c, "author"));
        out->committer = gh_git_person(g, json_get(c, "committer"));
    }
    return e;
}

static enum err gh_tag(struct gh *g, struct str name, struct str sha, int64_t at)
{
    void *row;
    INGEST_TRY(ingest_rows_add(g->a, &g->rows.releases, sizeof(struct ingest_release), &row));
    struct ingest_release *t = row;
    INGEST_TRY(gh_id(g, "tag", g->repo_key, name, &t->id));
    t->repo_id = g->repo_id;
    t->kind = INGEST_TAG;
    t->tag = name;
    t->sha = ingest_is_sha(sha) ? sha : STR_NULL;
    t->published_at = at;
    return ERR_OK;
}

static enum err gh_push(struct gh *g)
{
    bool deleted = false;
    if (json_as_bool(json_get(g->doc, "deleted"), &deleted) && deleted)
        return ERR_OK; /* a deleted branch or tag: nothing new to record */
    INGEST_TRY(gh_repo_key(g));
    struct str ref = ingest_json_str(g->doc, "ref"), branch = STR_NULL, tag = STR_NULL;
    if (str_starts_with(ref, STR_LIT("refs/heads/")))
        branch = str_from(ref.ptr + 11, ref.len - 11);
    else if (str_starts_with(ref, STR_LIT("refs/tags/")))
        tag = str_from(ref.ptr + 10, ref.len - 10);

    const struct json *commits = json_get(g->doc, "commits");
    if (json_count(commits) > INGEST_MAX_ROWS)
        return ERR_LIMIT;
    for (const struct json *c = json_first(commits); c; c = json_next(c))
        INGEST_TRY(gh_commit(g, c, branch));

    if (tag.len > 0) {
        /* head_commit is the tagged commit; "after" may be an annotated tag object */
        struct str sha = ingest_json_str(json_get(g->doc, "head_commit"), "id");
        if (!sha.ptr)
            sha = ingest_json_str(g->doc, "after");
        int64_t at = ingest_json_time(json_get(json_get(g->doc, "repository"), "pushed_at"));
        INGEST_TRY(gh_tag(g, tag, sha, at));
    }
    return ERR_OK;
}

/* ---- pull requests ------------------------------------------------------- */

/*
 * The PR row from a pull_request object (or, with is_issue, from the issue
 * object of an issue_comment). *out gets the row for the caller to add
 * review-derived times.
 */
static enum err gh_pr(struct gh *g, const struct json *p, bool is_issue, struct ingest_pr **out)
{
    int64_t number;
    if (!json_as_i64(json_get(p, "number"), &number) &&
        !json_as_i64(json_get(g->doc, "number"), &number))
        return ERR_INVALID;
    struct ingest_pr *pr;
    INGEST_TRY(
        ingest_rows_add_pr(g->a, &g->rows.prs, "github", g->repo_key, g->repo_id, number, &pr));
    pr->title = ingest_json_str(p, "title");
    pr->description = ingest_json_str(p, "body");
    pr->draft = ingest_json_tri(p, "draft");
    INGEST_TRY(ingest_json_labels(g->a, json_get(p, "labels"), "name", pr));
    pr->author = gh_user(g, json_get(p, "user"));
    pr->created_at = ingest_json_time(json_get(p, "created_at"));
    pr->updated_at = ingest_json_time(json_get(p, "updated_at"));
    pr->closed_at = ingest_json_time(json_get(p, "closed_at"));

    /* an issue tells merged_at under issue.pull_request (newer payloads) */
    const struct json *m = is_issue ? json_get(p, "pull_request") : p;
    pr->merged_at = ingest_json_time(json_get(m, "merged_at"));
    bool merged = false;
    (void)json_as_bool(json_get(m, "merged"), &merged);
    merged = merged || pr->merged_at != 0;
    struct str state = ingest_json_str(p, "state");
    if (merged)
        pr->state = STR_LIT("merged");
    else if (str_eq_cstr(state, "open"))
        pr->state = STR_LIT("open");
    else if (str_eq_cstr(state, "closed") && !is_issue)
        pr->state = STR_LIT("closed"); /* a closed issue may be a merged PR: unknown */
    if (is_issue) {
        *out = pr;
        return ERR_OK;
    }

    /* merge_commit_sha is a test merge until the PR is merged */
    struct str mc = ingest_json_str(p, "merge_commit_sha");
    if (merged && ingest_is_sha(mc))
        pr->merge_commit_sha = mc;
    pr->source_branch = ingest_json_str(json_get(p, "head"), "ref");
    pr->target_branch = ingest_json_str(json_get(p, "base"), "ref");
    pr->commits = ingest_json_count(p, "commits");
    pr->additions = ingest_json_count(p, "additions");
    pr->deletions = ingest_json_count(p, "deletions");
    pr->changed_files = ingest_json_count(p, "changed_files");
    *out = pr;
    return ERR_OK;
}

static enum err gh_pull_request(struct gh *g)
{
    INGEST_TRY(gh_repo_key(g));
    const struct json *p = json_get(g->doc, "pull_request");
    if (json_type_of(p) != JSON_OBJECT)
        return ERR_INVALID;
    struct ingest_pr *pr;
    INGEST_TRY(gh_pr(g, p, false, &pr));
    if (str_eq_cstr(g->action, "opened") && pr->draft == INGEST_TRI_NO)
        pr->ready_at = pr->created_at;
    else if (str_eq_cstr(g->action, "ready_for_review"))
        pr->ready_at = pr->updated_at;
    return ERR_OK;
}

/* A review or comment that counts for first_review_at: by someone known who
 * is neither the PR's (known) author nor a bot. */
static bool gh_counts(struct ingest_person reviewer, const struct ingest_pr *pr)
{
    return reviewer.login.ptr && pr->author.login.ptr && !reviewer.bot &&
           !str_eq(reviewer.login, pr->author.login);
}

static enum err gh_review(struct gh *g)
{
    INGEST_TRY(gh_repo_key(g));
    const struct json *r = json_get(g->doc, "review"), *p = json_get(g->doc, "pull_request");
    if (json_type_of(p) != JSON_OBJECT || json_type_of(r) != JSON_OBJECT)
        return ERR_INVALID;
    struct str key;
    INGEST_TRY(ingest_json_key(json_get(r, "id"), g->a, &key));
    if (!key.ptr)
        return ERR_INVALID;
    struct ingest_pr *pr;
    INGEST_TRY(gh_pr(g, p, false, &pr));

    void *row;
    INGEST_TRY(ingest_rows_add(g->a, &g->rows.reviews, sizeof(struct ingest_review), &row));
    struct ingest_review *rv = row;
    INGEST_TRY(gh_id(g, "review", key, STR_NULL, &rv->id));
    rv->repo_id = g->repo_id;
    rv->pr_id = pr->id;
    rv->kind = INGEST_REVIEW;
    static const char *const states[] = {"approved", "changes_requested", "commented", "dismissed"};
    struct str st = ingest_json_str(r, "state");
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        if (str_ieq_cstr(st, states[i]))
            rv->state = str_from_cstr(states[i]);
    rv->reviewer = gh_user(g, json_get(r, "user"));
    rv->submitted_at = ingest_json_time(json_get(r, "submitted_at"));

    if (str_eq_cstr(g->action, "submitted") && rv->state.ptr && gh_counts(rv->reviewer, pr)) {
        pr->first_review_at = rv->submitted_at;
        if (str_eq_cstr(rv->state, "approved"))
            pr->approved_at = rv->submitted_at;
    }
    return ERR_OK;
}

/* pull_request_review_comment, and issue_comment when the issue is a PR. */
static enum err gh_comment(struct gh *g, bool on_issue)
{
    const struct json *p = json_get(g->doc, on_issue ? "issue" : "pull_request");
    if (on_issue && !json_get(p, "pull_request"))
        return ERR_OK; /* a comment on a plain issue */
    INGEST_TRY(gh_repo_key(g));
    const struct json *c = json_get(g->doc, "comment");
    if (json_type_of(p) != JSON_OBJECT || json_type_of(c) != JSON_OBJECT)
        return ERR_INVALID;
    struct str key;
    INGEST_TRY(ingest_json_key(json_get(c, "id"), g->a, &key));
    if (!key.ptr)
        return ERR_INVALID;
    struct ingest_pr *pr;
    INGEST_TRY(gh_pr(g, p, on_issue, &pr));

    void *row;
    INGEST_TRY(ingest_rows_add(g->a, &g->rows.reviews, sizeof(struct ingest_review), &row));
    struct ingest_review *rv = row;
    INGEST_TRY(gh_id(g, "comment", key, STR_NULL, &rv->id));
    rv->repo_id = g->repo_id;
    rv->pr_id = pr->id;
    rv->kind = INGEST_REVIEW_COMMENT;
    bool deleted = str_eq_cstr(g->action, "deleted");
    rv->state = deleted ? STR_LIT("deleted") : STR_LIT("commented");
    rv->reviewer = gh_user(g, json_get(c, "user"));
    rv->submitted_at = ingest_json_time(json_get(c, "created_at"));
    if (str_eq_cstr(g->action, "created") && gh_counts(rv->reviewer, pr))
        pr->first_review_at = rv->submitted_at;
    return ERR_OK;
}

/* ---- deployments, releases, tags ---------------------------------------- */

static enum err gh_deployment(struct gh *g, bool with_status)
{
    INGEST_TRY(gh_repo_key(g));
    const struct json *d = json_get(g->doc, "deployment");
    struct str key;
    INGEST_TRY(ingest_json_key(json_get(d, "id"), g->a, &key));
    if (!key.ptr)
        return ERR_INVALID;
    void *row;
    INGEST_TRY(ingest_rows_add(g->a, &g->rows.deployments, sizeof(struct ingest_deployment), &row));
    struct ingest_deployment *dep = row;
    INGEST_TRY(gh_id(g, "deployment", key, STR_NULL, &dep->id));
    dep->repo_id = g->repo_id;
    dep->environment = ingest_json_str(d, "environment");
    struct str sha = ingest_json_str(d, "sha");
    dep->sha = ingest_is_sha(sha) ? sha : STR_NULL;
    dep->ref = ingest_json_str(d, "ref");
    dep->created_at = ingest_json_time(json_get(d, "created_at"));
    if (!with_status)
        return ERR_OK; /* a new deployment's status arrives with deployment_status */

    const struct json *s = json_get(g->doc, "deployment_status");
    struct str state = ingest_json_str(s, "state");
    static const char *const map[][2] = {
        {"pending", "pending"},   {"queued", "pending"},  {"in_progress", "in_progress"},
        {"success", "success"},   {"failure", "failure"}, {"error", "error"},
        {"inactive", "inactive"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (str_eq_cstr(state, map[i][0]))
            dep->status = str_from_cstr(map[i][1]);
    if (str_eq_cstr(dep->status, "success") || str_eq_cstr(dep->status, "failure") ||
        str_eq_cstr(dep->status, "error"))
        dep->finished_at = ingest_json_time(json_get(s, "created_at"));
    return ERR_OK;
}

static enum err gh_release(struct gh *g)
{
    if (str_eq_cstr(g->action, "deleted"))
        return ERR_OK; /* rows are never removed by a delivery */
    INGEST_TRY(gh_repo_key(g));
    const struct json *r = json_get(g->doc, "release");
    struct str key;
    INGEST_TRY(ingest_json_key(json_get(r, "id"), g->a, &key));
    if (!key.ptr)
        return ERR_INVALID;
    void *row;
    INGEST_TRY(ingest_rows_add(g->a, &g->rows.releases, sizeof(struct ingest_release), &row));
    struct ingest_release *rel = row;
    INGEST_TRY(gh_id(g, "release", key, STR_NULL, &rel->id));
    rel->repo_id = g->repo_id;
    rel->kind = INGEST_RELEASE;
    rel->tag = ingest_json_str(r, "tag_name");
    rel->name = ingest_json_str(r, "name");
    /* target_commitish is usually a branch name; only a full sha is a commit */
    struct str target = ingest_json_str(r, "target_commitish");
    rel->sha = ingest_is_sha(target) ? target : STR_NULL;
    rel->prerelease = ingest_json_tri(r, "prerelease");
    rel->published_at = ingest_json_time(json_get(r, "published_at"));
    return ERR_OK;
}

static enum err gh_create(struct gh *g)
{
    if (!str_eq_cstr(ingest_json_str(g->doc, "ref_type"), "tag"))
        return ERR_OK; /* branches are recorded by their pushes */
    struct str name = ingest_json_str(g->doc, "ref");
    if (name.len == 0)
        return ERR_INVALID;
    INGEST_TRY(gh_repo_key(g));
    return gh_tag(g, name, STR_NULL, 0);
}

/* ---- entry --------------------------------------------------------------- */

static enum err gh_dispatch(struct gh *g, struct str event)
{
    if (str_eq_cstr(event, "push"))
        return gh_push(g);
    if (str_eq_cstr(event, "pull_request"))
        return gh_pull_request(g);
    if (str_eq_cstr(event, "pull_request_review"))
        return gh_review(g);
    if (str_eq_cstr(event, "pull_request_review_comment"))
        return gh_comment(g, false);
    if (str_eq_cstr(event, "issue_comment"))
        return gh_comment(g, true);
    if (str_eq_cstr(event, "deployment"))
        return gh_deployment(g, false);
    if (str_eq_cstr(event, "deployment_status"))
        return gh_deployment(g, true);
    if (str_eq_cstr(event, "release"))
        return gh_release(g);
    if (str_eq_cstr(event, "create"))
        return gh_create(g);
    if (str_eq_cstr(event, "repository")) {
        INGEST_TRY(gh_repo_key(g));
        return gh_add_repo(g);
    }
    return ERR_OK;
}

enum err ingest_normalize_github(struct str event, const struct json *doc,
                                 const struct ingest_norm_options *opt, struct arena *a,
                                 struct ingest_batch *out)
{
    memset(out, 0, sizeof *out);
    struct gh g = {.a = a, .opt = opt, .doc = doc};
    g.action = ingest_json_str(doc, "action");
    INGEST_TRY(ingest_batch_event(a, event, g.action, &out->event));
    INGEST_TRY(gh_dispatch(&g, event));
    bool any = g.rows.commits.n || g.rows.prs.n || g.rows.reviews.n || g.rows.deployments.n ||
               g.rows.releases.n;
    if (any && g.rows.repos.n == 0)
        INGEST_TRY(gh_add_repo(&g));
    ingest_batch_rows_finish(&g.rows, out);
    return ERR_OK;
}
