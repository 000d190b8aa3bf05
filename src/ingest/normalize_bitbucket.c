/*
 * normalize_bitbucket.c — Bitbucket Cloud and Bitbucket Data Center deliveries
 * reduced to metadata rows (normalize.h).
 *
 * The two products share a name and little else: Cloud sends ISO times,
 * account objects with {uuid, nickname, display_name} and puts the repository
 * at the top level; Data Center sends epoch milliseconds, users with
 * {id, name, displayName} and, for pull request events, the repository only
 * inside pullRequest.toRef. Each has its own half of this file; the helpers
 * (ids, times, people) are shared.
 *
 * Keys (the "key" part of normalize.h's stable ids):
 *   repo     Cloud: repository.uuid without its braces ("{673a...}" → "673a...");
 *            the REST API accepts either form, and a bare UUID keeps ids free of
 *            brace quoting. Data Center: "<project key>/<slug>", also the
 *            repo's full_name.
 *   review   Neither product gives an approval or a change request an id, so
 *            the key is synthesized from what identifies the action:
 *            <repo key>:<pr number>:<reviewer key>:<state>:<unix time>. A
 *            redelivery gives the same id; approving, withdrawing and approving
 *            again give three rows, as GitHub's reviews would. The reviewer key
 *            is the Cloud account uuid (braces stripped) or account_id, the Data
 *            Center user id or name.
 *   comment  The provider's comment id, unique per site / per instance.
 *
 * What the payloads do not carry is left unknown, never guessed: Cloud push
 * payloads list at most 5 commits per ref change (truncated says when there
 * were more) and no file paths or line counts; Data Center push payloads list
 * commits only from 8.x on (the commits array, when present, is used) and
 * never files. Neither product has PR labels.
 *
 * Bots (I8): besides ingest_is_bot() on login and display name, a Cloud
 * account of type "app_user" (an app acting through the API) and a Data
 * Center user of type "SERVICE" (the user behind a project or repository
 * access token) are bots.
 *
 * Emails: kept from commit metadata only (normalize.h); the account emails
 * Data Center puts on every user object are not copied.
 */
#include "ingest/normalize.h"

#include <string.h>

#define BB_MAX_EVENT 64 /* bytes of an X-Event-Key worth looking at */

struct bb {
    bool server;
    const char *prov; /* "bitbucket" or "bitbucket-server" */
    const struct ingest_norm_options *opt;
    struct arena *a;
    struct str event;
    struct str repo_key;
    struct str repo_id;
};

/* ---- reading the document ------------------------------------------------ */

/* Epoch milliseconds (Data Center) → Unix seconds; 0 when unknown. */
static int64_t jtime_ms(const struct json *obj, const char *key)
{
    int64_t ms;
    if (!json_as_i64(json_get(obj, key), &ms) || ms <= 0)
        return 0;
    return ms / 1000;
}

/* A positive integer (PR number); false otherwise. */
static bool jnumber(const struct json *obj, const char *key, int64_t *out)
{
    return json_as_i64(json_get(obj, key), out) && *out > 0;
}

/* "{uuid}" → "uuid"; anything else unchanged. */
static struct str strip_braces(struct str s)
{
    if (s.ptr && s.len >= 2 && s.ptr[0] == '{' && s.ptr[s.len - 1] == '}')
        return str_from(s.ptr + 1, s.len - 2);
    return s;
}

/* ---- people -------------------------------------------------------------- */

/* Cloud account: {type, uuid, account_id, nickname|username, display_name}. */
static struct ingest_person cloud_person(const struct bb *c, const struct json *acc)
{
    struct ingest_person p =
        ingest_json_person(acc, "nickname", "username", "display_name", c->opt);
    p.bot = p.bot || str_eq_cstr(ingest_json_str(acc, "type"), "app_user");
    return p;
}

static struct str cloud_account_key(const struct json *acc)
{
    struct str k = strip_braces(ingest_json_str(acc, "uuid"));
    if (!ingest_is_id_part(k))
        k = ingest_json_str(acc, "account_id");
    return ingest_is_id_part(k) ? k : STR_NULL;
}

/* Data Center user: {id, name (login), slug, displayName, type}. */
static struct ingest_person server_person(const struct bb *c, const struct json *u)
{
    struct ingest_person p = ingest_json_person(u, "name", "slug", "displayName", c->opt);
    p.bot = p.bot || str_eq_cstr(ingest_json_str(u, "type"), "SERVICE");
    return p;
}

static enum err server_user_key(struct bb *c, const struct json *u, struct str *out)
{
    int64_t id;
    *out = STR_NULL;
    if (json_as_i64(json_get(u, "id"), &id) && id >= 0)
        return ingest_num_str(c->a, id, out);
    struct str k = ingest_json_str(u, "name");
    if (ingest_is_id_part(k))
        *out = k;
    return ERR_OK;
}

/* "Name <email>" (git's author line, Cloud's author.raw) into name and email. */
static void split_raw_author(struct str raw, struct str *name, struct str *email)
{
    *name = STR_NULL;
    *email = STR_NULL;
    if (!raw.ptr)
        return;
    long lt = str_index(raw, '<');
    if (lt < 0 || raw.len == 0 || raw.ptr[raw.len - 1] != '>') {
        *name = str_trim(raw);
        return;
    }
    *name = str_trim(str_from(raw.ptr, (size_t)lt));
    *email = str_from(raw.ptr + lt + 1, raw.len - (size_t)lt - 2);
}

/* Cloud commit author: {raw: "Name <email>", user: account}; older payloads
 * (and the sample in Atlassian's docs) put the account itself there. */
static struct ingest_person cloud_commit_author(const struct bb *c, const struct json *author)
{
    struct ingest_person p = {0};
    struct str raw = ingest_json_str(author, "raw");
    const struct json *user = ingest_json_obj(author, "user");
    if (!raw.ptr && !user)
        user = author;
    if (user)
        p = cloud_person(c, user);
    struct str name, email;
    split_raw_author(raw, &name, &email);
    if (name.ptr && name.len)
        p.name = name;
    if (email.ptr)
        p.email = email;
    p.bot = p.bot || ingest_is_bot(p.login, p.name, c->opt);
    return p;
}

/* Data Center commit identity: {name, emailAddress}, plus the user fields
 * (displayName, slug, id) when Bitbucket mapped it to an account. */
static struct ingest_person server_commit_person(const struct bb *c, const struct json *who)
{
    struct ingest_person p = {0};
    if (ingest_json_str(who, "displayName").ptr)
        p = server_person(c, who);
    else
        p.name = ingest_json_str(who, "name");
    p.email = ingest_json_str(who, "emailAddress");
    p.bot = p.bot || ingest_is_bot(p.login, p.name, c->opt);
    return p;
}

/* ---- rows ---------------------------------------------------------------- */

static enum err repo_row(struct bb *c, struct str key, struct str full_name, struct str url,
                         struct str default_branch, struct ingest_repo *r)
{
    enum err e = ingest_make_id_parts(c->a, c->prov, "repo", &key, 1, &r->id);
    if (e != ERR_OK)
        return e;
    r->full_name = full_name;
    r->default_branch = ingest_strip_prefix(default_branch, "refs/heads/");
    return ingest_strip_userinfo(c->a, url, &r->url);
}

/* Sets c->repo_key/repo_id and a one-element repos array from a Cloud
 * repository object; ERR_INVALID without a uuid. */
static enum err cloud_repo(struct bb *c, const struct json *repo, struct ingest_batch *out,
                           struct ingest_repo **row)
{
    struct str key = strip_braces(ingest_json_str(repo, "uuid"));
    if (!ingest_is_id_part(key))
        return ERR_INVALID;
    struct ingest_repo *r = arena_calloc(c->a, 1, sizeof *r);
    if (!r)
        return ERR_LIMIT;
    struct str url =
        ingest_json_str(ingest_json_obj(ingest_json_obj(repo, "links"), "html"), "href");
    enum err e = repo_row(c, key, ingest_json_str(repo, "full_name"), url,
                          ingest_json_str(ingest_json_obj(repo, "mainbranch"), "name"), r);
    if (e != ERR_OK)
        return e;
    c->repo_key = key;
    c->repo_id = r->id;
    out->repos = r;
    out->n_repos = 1;
    *row = r;
    return ERR_OK;
}

/* "<project key>/<slug>" of a Data Center repository object. */
static enum err server_repo_key(struct bb *c, const struct json *repo, struct str *out)
{
    struct str proj = ingest_json_str(ingest_json_obj(repo, "project"), "key"),
               slug = ingest_json_str(repo, "slug");
    if (!ingest_is_id_part(proj) || !ingest_is_id_part(slug) || str_index(slug, '/') >= 0)
        return ERR_INVALID;
    char *p = arena_printf(c->a, "%.*s/%.*s", (int)proj.len, proj.ptr, (int)slug.len, slug.ptr);
    if (!p)
        return ERR_LIMIT;
    *out = str_from_cstr(p);
    return ERR_OK;
}

static enum err server_repo_row(struct bb *c, const struct json *repo, struct ingest_repo *r,
                                struct str *key)
{
    enum err e = server_repo_key(c, repo, key);
    if (e != ERR_OK)
        return e;
    const struct json *self = json_first(ingest_json_arr(ingest_json_obj(repo, "links"), "self"));
    return repo_row(c, *key, *key, ingest_json_str(self, "href"), STR_NULL, r);
}

static enum err server_repo(struct bb *c, const struct json *repo, struct ingest_batch *out)
{
    struct ingest_repo *r = arena_calloc(c->a, 1, sizeof *r);
    if (!r)
        return ERR_LIMIT;
    struct str key;
    enum err e = server_repo_row(c, repo, r, &key);
    if (e != ERR_OK)
        return e;
    c->repo_key = key;
    c->repo_id = r->id;
    out->repos = r;
    out->n_repos = 1;
    return ERR_OK;
}

static enum err pr_id(struct bb *c, int64_t number, struct str *out)
{
    struct str parts[2] = {c->repo_key, STR_NULL};
    enum err e = ingest_num_str(c->a, number, &parts[1]);
    return e != ERR_OK ? e : ingest_make_id_parts(c->a, c->prov, "pr", parts, 2, out);
}

/* A review (approval, change request) row with its synthesized id. */
static enum err review_row(struct bb *c, const struct ingest_pr *pr, struct str reviewer_key,
                           const char *state, struct ingest_person who, int64_t when,
                           struct ingest_review *rv)
{
    if (!ingest_is_id_part(reviewer_key))
        return ERR_INVALID;
    struct str parts[5] = {c->repo_key, STR_NULL, reviewer_key, str_from_cstr(state), STR_NULL};
    enum err e = ingest_num_str(c->a, pr->number, &parts[1]);
    if (e == ERR_OK)
        e = ingest_num_str(c->a, when, &parts[4]);
    if (e == ERR_OK)
        e = ingest_make_id_parts(c->a, c->prov, "review", parts, 5, &rv->id);
    if (e != ERR_OK)
        return e;
    rv->repo_id = c->repo_id;
    rv->pr_id = pr->id;
    rv->kind = INGEST_REVIEW;
    rv->state = str_from_cstr(state);
    rv->reviewer = who;
    rv->submitted_at = when;
    return ERR_OK;
}

static enum err comment_row(struct bb *c, const struct ingest_pr *pr, const struct json *comment,
                            bool deleted, struct ingest_person who, int64_t when,
                            struct ingest_review *rv)
{
    int64_t id;
    struct str key;
    if (!json_as_i64(json_get(comment, "id"), &id) || id < 0)
        return ERR_INVALID;
    enum err e = ingest_num_str(c->a, id, &key);
    if (e == ERR_OK)
        e = ingest_make_id_parts(c->a, c->prov, "comment", &key, 1, &rv->id);
    if (e != ERR_OK)
        return e;
    bool b;
    if (json_as_bool(json_get(comment, "deleted"), &b) && b)
        deleted = true;
    rv->repo_id = c->repo_id;
    rv->pr_id = pr->id;
    rv->kind = INGEST_REVIEW_COMMENT;
    rv->state = deleted ? STR_LIT("deleted") : STR_LIT("commented");
    rv->reviewer = who;
    rv->submitted_at = when;
    return ERR_OK;
}

/* Commit rows are appended through this: ERR_LIMIT past INGEST_MAX_ROWS, and
 * a commit listed twice (two refs in one push) is kept once. */
struct commits {
    struct ingest_commit *v;
    size_t n, cap;
};

static enum err commits_alloc(struct bb *c, struct commits *cs, size_t cap)
{
    cs->n = 0;
    cs->cap = cap;
    cs->v = NULL;
    if (cap > INGEST_MAX_ROWS)
        return ERR_LIMIT;
    if (cap == 0)
        return ERR_OK;
    cs->v = arena_calloc(c->a, cap, sizeof *cs->v);
    return cs->v ? ERR_OK : ERR_LIMIT;
}

/* A new commit row for sha in *row, or NULL there when sha is already listed. */
static enum err commit_add(struct bb *c, struct commits *cs, struct str sha, struct str branch,
                           struct ingest_commit **row)
{
    *row = NULL;
    if (!ingest_is_abbrev_sha(sha))
        return ERR_INVALID;
    for (size_t i = 0; i < cs->n; i++)
        if (str_eq(cs->v[i].sha, sha))
            return ERR_OK;
    if (cs->n >= cs->cap)
        return ERR_LIMIT;
    struct ingest_commit *k = &cs->v[cs->n];
    ingest_commit_init(k); /* neither product sends file lists */
    struct str parts[2] = {c->repo_key, sha};
    enum err e = ingest_make_id_parts(c->a, c->prov, "commit", parts, 2, &k->id);
    if (e != ERR_OK)
        return e;
    k->repo_id = c->repo_id;
    k->sha = sha;
    k->branch = branch;
    cs->n++;
    *row = k;
    return ERR_OK;
}

/* ---- Bitbucket Cloud ----------------------------------------------------- */

/* repo:push — changes[].new (branch or tag) and changes[].commits[]. */
static enum err cloud_push(struct bb *c, const struct json *doc, struct ingest_batch *out)
{
    const struct json *changes = ingest_json_arr(ingest_json_obj(doc, "push"), "changes");
    size_t n_commits = 0, n_tags = 0;
    for (const struct json *ch = json_first(changes); ch; ch = json_next(ch)) {
        n_commits += json_count(ingest_json_arr(ch, "commits"));
        if (n_commits > INGEST_MAX_ROWS)
            return ERR_LIMIT;
        if (str_eq_cstr(ingest_json_str(ingest_json_obj(ch, "new"), "type"), "tag"))
            n_tags++;
    }
    if (n_tags > INGEST_MAX_ROWS)
        return ERR_LIMIT;
    struct commits cs;
    enum err e = commits_alloc(c, &cs, n_commits);
    if (e != ERR_OK)
        return e;
    struct ingest_release *tags = n_tags ? arena_calloc(c->a, n_tags, sizeof *tags) : NULL;
    if (n_tags && !tags)
        return ERR_LIMIT;
    size_t nt = 0;
    for (const struct json *ch = json_first(changes); ch; ch = json_next(ch)) {
        const struct json *nw = ingest_json_obj(ch, "new");
        struct str type = ingest_json_str(nw, "type"), name = ingest_json_str(nw, "name");
        struct str branch = str_eq_cstr(type, "branch") ? name : STR_NULL;
        for (const struct json *k = json_first(ingest_json_arr(ch, "commits")); k;
             k = json_next(k)) {
            struct ingest_commit *row;
            e = commit_add(c, &cs, ingest_json_str(k, "hash"), branch, &row);
            if (e != ERR_OK)
                return e;
            if (!row)
                continue;
            row->message = ingest_json_str(k, "message");
            row->author = cloud_commit_author(c, json_get(k, "author"));
            row->authored_at = ingest_json_iso_time(k, "date");
        }
        if (str_eq_cstr(type, "tag")) {
            struct str sha = ingest_json_str(ingest_json_obj(nw, "target"), "hash");
            e = ingest_tag_row(c->a, c->prov, c->repo_key, c->repo_id, name,
                               ingest_is_abbrev_sha(sha) ? sha : STR_NULL,
                               ingest_json_iso_time(nw, "date") /* annotated tags only */,
                               &tags[nt++]);
            if (e != ERR_OK)
                return e;
        }
    }
    out->commits = cs.v;
    out->n_commits = cs.n;
    out->releases = tags;
    out->n_releases = nt;
    return ERR_OK;
}

static struct str cloud_state(struct str event, struct str state)
{
    if (str_eq_cstr(event, "pullrequest:fulfilled"))
        return STR_LIT("merged");
    if (str_eq_cstr(event, "pullrequest:rejected"))
        return STR_LIT("closed");
    if (str_eq_cstr(state, "OPEN"))
        return STR_LIT("open");
    if (str_eq_cstr(state, "MERGED"))
        return STR_LIT("merged");
    if (str_eq_cstr(state, "DECLINED") || str_eq_cstr(state, "SUPERSEDED"))
        return STR_LIT("closed");
    if (str_eq_cstr(event, "pullrequest:created"))
        return STR_LIT("open");
    return STR_NULL;
}

static enum err cloud_pr_row(struct bb *c, const struct json *p, struct ingest_pr *pr,
                             struct str *author_key)
{
    ingest_pr_init(pr); /* labels stay unknown: Bitbucket has no PR labels */
    if (!jnumber(p, "id", &pr->number))
        return ERR_INVALID;
    enum err e = pr_id(c, pr->number, &pr->id);
    if (e != ERR_OK)
        return e;
    pr->repo_id = c->repo_id;
    pr->title = ingest_json_str(p, "title");
    pr->description = ingest_json_str(p, "description");
    pr->state = cloud_state(c->event, ingest_json_str(p, "state"));
    pr->draft = ingest_json_tri(p, "draft");
    const struct json *author = ingest_json_obj(p, "author");
    pr->author = cloud_person(c, author);
    *author_key = cloud_account_key(author);
    pr->source_branch =
        ingest_json_str(ingest_json_obj(ingest_json_obj(p, "source"), "branch"), "name");
    pr->target_branch =
        ingest_json_str(ingest_json_obj(ingest_json_obj(p, "destination"), "branch"), "name");
    pr->created_at = ingest_json_iso_time(p, "created_on");
    pr->updated_at = ingest_json_iso_time(p, "updated_on");
    /* Without a draft flag the PR predates Cloud's drafts: opened ready. */
    if (str_eq_cstr(c->event, "pullrequest:created") && pr->draft != INGEST_TRI_YES)
        pr->ready_at = pr->created_at;
    int64_t closed = ingest_json_iso_time(p, "closed_on");
    bool ends = str_eq_cstr(c->event, "pullrequest:fulfilled") ||
                str_eq_cstr(c->event, "pullrequest:rejected");
    if (!closed && ends)
        closed = pr->updated_at; /* the event is the close: updated_on is its time */
    if (pr->state.ptr && !str_eq_cstr(pr->state, "open")) {
        pr->closed_at = closed;
        if (str_eq_cstr(pr->state, "merged"))
            pr->merged_at = closed;
    }
    struct str mc = ingest_json_str(ingest_json_obj(p, "merge_commit"), "hash");
    pr->merge_commit_sha = ingest_is_abbrev_sha(mc) ? mc : STR_NULL;
    return ERR_OK;
}

static enum err cloud_pull_request(struct bb *c, const struct json *doc, struct ingest_batch *out)
{
    struct ingest_pr *pr = arena_calloc(c->a, 1, sizeof *pr);
    if (!pr)
        return ERR_LIMIT;
    struct str author_key;
    enum err e = cloud_pr_row(c, ingest_json_obj(doc, "pullrequest"), pr, &author_key);
    if (e != ERR_OK)
        return e;
    out->prs = pr;
    out->n_prs = 1;

    struct str ev = c->event;
    const char *state = NULL;
    const struct json *action = NULL;
    if (str_eq_cstr(ev, "pullrequest:approved")) {
        state = "approved";
        action = ingest_json_obj(doc, "approval");
    } else if (str_eq_cstr(ev, "pullrequest:unapproved")) {
        state = "unapproved";
        action = ingest_json_obj(doc, "approval");
    } else if (str_eq_cstr(ev, "pullrequest:changes_request_created")) {
        state = "changes_requested";
        action = ingest_json_obj(doc, "changes_request");
    } else if (str_eq_cstr(ev, "pullrequest:changes_request_removed")) {
        state = "dismissed";
        action = ingest_json_obj(doc, "changes_request");
    }
    struct ingest_review *rv = NULL;
    if (state || str_starts_with(ev, STR_LIT("pullrequest:comment_"))) {
        rv = arena_calloc(c->a, 1, sizeof *rv);
        if (!rv)
            return ERR_LIMIT;
    }
    if (state) {
        const struct json *user = ingest_json_obj(action, "user");
        if (!user)
            user = ingest_json_obj(doc, "actor");
        struct str key = cloud_account_key(user);
        int64_t when = ingest_json_iso_time(action, "date");
        e = review_row(c, pr, key, state, cloud_person(c, user), when, rv);
        if (e != ERR_OK)
            return e;
        bool by_other = !author_key.ptr || !str_eq(key, author_key);
        if (by_other && when && (!strcmp(state, "approved") || !strcmp(state, "changes_requested")))
            pr->first_review_at = when;
        if (by_other && when && !strcmp(state, "approved"))
            pr->approved_at = when;
    } else if (rv) {
        const struct json *comment = ingest_json_obj(doc, "comment");
        const struct json *user = ingest_json_obj(comment, "user");
        if (!user)
            user = ingest_json_obj(doc, "actor");
        int64_t when = ingest_json_iso_time(comment, "created_on");
        bool deleted = str_eq_cstr(ev, "pullrequest:comment_deleted");
        e = comment_row(c, pr, comment, deleted, cloud_person(c, user), when, rv);
        if (e != ERR_OK)
            return e;
        struct str key = cloud_account_key(user);
        if (str_eq_cstr(ev, "pullrequest:comment_created") && when &&
            (!author_key.ptr || !key.ptr || !str_eq(key, author_key)))
            pr->first_review_at = when;
    }
    if (rv) {
        out->reviews = rv;
        out->n_reviews = 1;
    }
    return ERR_OK;
}

/* repo:fork — the origin (repository) and the new fork (fork). */
static enum err cloud_fork(struct bb *c, const struct json *doc, struct ingest_batch *out)
{
    const struct json *fork = ingest_json_obj(doc, "fork");
    struct str key = strip_braces(ingest_json_str(fork, "uuid"));
    if (!ingest_is_id_part(key) || str_eq(key, c->repo_key))
        return ERR_OK; /* the origin alone (never one id twice in a batch) */
    struct ingest_repo *r = arena_calloc(c->a, 2, sizeof *r);
    if (!r)
        return ERR_LIMIT;
    r[0] = out->repos[0];
    struct str url =
        ingest_json_str(ingest_json_obj(ingest_json_obj(fork, "links"), "html"), "href");
    enum err e = repo_row(c, key, ingest_json_str(fork, "full_name"), url,
                          ingest_json_str(ingest_json_obj(fork, "mainbranch"), "name"), &r[1]);
    if (e != ERR_OK)
        return e;
    out->repos = r;
    out->n_repos = 2;
    return ERR_OK;
}

static bool is_one_of(struct str ev, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq_cstr(ev, list[i]))
            return true;
    return false;
}

static const char *const cloud_pr_events[] = {
    "pullrequest:created",
    "pullrequest:updated",
    "pullrequest:fulfilled",
    "pullrequest:rejected",
    "pullrequest:approved",
    "pullrequest:unapproved",
    "pullrequest:changes_request_created",
    "pullrequest:changes_request_removed",
    "pullrequest:comment_created",
    "pullrequest:comment_updated",
    "pullrequest:comment_deleted",
    "pullrequest:comment_resolved",
    "pullrequest:comment_reopened",
};

/* Repository events that say nothing but the repository itself. */
static const char *const cloud_repo_events[] = {
    "repo:updated",
    "repo:fork",
    "repo:created",
    "repo:transfer",
    "repo:commit_status_created",
    "repo:commit_status_updated",
};

static enum err cloud(struct bb *c, const struct json *doc, struct ingest_batch *out)
{
    struct str ev = c->event;
    bool is_pr = is_one_of(ev, cloud_pr_events, sizeof cloud_pr_events / sizeof *cloud_pr_events);
    bool is_push = str_eq_cstr(ev, "repo:push");
    bool is_repo =
        is_one_of(ev, cloud_repo_events, sizeof cloud_repo_events / sizeof *cloud_repo_events);
    if (!is_pr && !is_push && !is_repo)
        return ERR_OK; /* issue:*, repo:commit_comment_created, ...: no change metadata */
    struct ingest_repo *repo;
    enum err e = cloud_repo(c, ingest_json_obj(doc, "repository"), out, &repo);
    if (e != ERR_OK)
        return e;
    if (str_eq_cstr(ev, "repo:updated")) {
        /* the new full name, when this update renamed the repository */
        struct str fn =
            ingest_json_str(ingest_json_obj(ingest_json_obj(doc, "changes"), "full_name"), "new");
        if (fn.ptr)
            repo->full_name = fn;
    }
    if (str_eq_cstr(ev, "repo:fork"))
        return cloud_fork(c, doc, out);
    if (is_push)
        return cloud_push(c, doc, out);
    if (is_pr)
        return cloud_pull_request(c, doc, out);
    return ERR_OK;
}

/* ---- Bitbucket Data Center ----------------------------------------------- */

/* One Data Center commit object: {id, message, author, authorTimestamp, ...}. */
static enum err server_commit(struct bb *c, struct commits *cs, const struct json *k,
                              struct str branch)
{
    struct ingest_commit *row;
    enum err e = commit_add(c, cs, ingest_json_str(k, "id"), branch, &row);
    if (e != ERR_OK || !row)
        return e;
    row->message = ingest_json_str(k, "message");
    row->author = server_commit_person(c, ingest_json_obj(k, "author"));
    row->committer = server_commit_person(c, ingest_json_obj(k, "committer"));
    row->authored_at = jtime_ms(k, "authorTimestamp");
    row->committed_at = jtime_ms(k, "committerTimestamp");
    return ERR_OK;
}

/* repo:refs_changed — tags from changes[], commits from commits[] (8.x). */
static enum err server_push(struct bb *c, const struct json *doc, struct ingest_batch *out)
{
    const struct json *changes = ingest_json_arr(doc, "changes");
    int64_t pushed = ingest_json_iso_time(doc, "date");
    size_t n_tags = 0, n_branches = 0;
    struct str branch = STR_NULL;
    for (const struct json *ch = json_first(changes); ch; ch = json_next(ch)) {
        const struct json *ref = ingest_json_obj(ch, "ref");
        struct str type = ingest_json_str(ref, "type"), op = ingest_json_str(ch, "type");
        if (str_eq_cstr(op, "DELETE"))
            continue;
        if (str_eq_cstr(type, "TAG")) {
            n_tags++;
        } else if (str_eq_cstr(type, "BRANCH")) {
            n_branches++;
            branch = ingest_json_str(ref, "displayId");
        }
    }
    if (n_tags > INGEST_MAX_ROWS)
        return ERR_LIMIT;
    /* commits are not attributed to a ref: a branch only when just one changed */
    if (n_branches != 1)
        branch = STR_NULL;

    const struct json *list = ingest_json_arr(doc, "commits");
    const struct json *head = ingest_json_obj(doc, "toCommit");
    struct commits cs;
    enum err e = commits_alloc(c, &cs, json_count(list) + (head ? 1 : 0));
    if (e != ERR_OK)
        return e;
    for (const struct json *k = json_first(list); k; k = json_next(k))
        if ((e = server_commit(c, &cs, k, branch)) != ERR_OK)
            return e;
    if (head && (e = server_commit(c, &cs, head, branch)) != ERR_OK)
        return e;
    out->commits = cs.v;
    out->n_commits = cs.n;

    struct ingest_release *tags = n_tags ? arena_calloc(c->a, n_tags, sizeof *tags) : NULL;
    if (n_tags && !tags)
        return ERR_LIMIT;
    size_t nt = 0;
    for (const struct json *ch = json_first(changes); ch; ch = json_next(ch)) {
        const struct json *ref = ingest_json_obj(ch, "ref");
        if (!str_eq_cstr(ingest_json_str(ref, "type"), "TAG") ||
            str_eq_cstr(ingest_json_str(ch, "type"), "DELETE"))
            continue;
        struct str sha = ingest_json_str(ch, "toHash");
        if (!ingest_is_abbrev_sha(sha) || ingest_is_zero_sha(sha))
            sha = STR_NULL;
        e = ingest_tag_row(c->a, c->prov, c->repo_key, c->repo_id,
                           ingest_json_str(ref, "displayId"), sha, pushed, &tags[nt++]);
        if (e != ERR_OK)
            return e;
    }
    out->releases = tags;
    out->n_releases = nt;
    return ERR_OK;
}

static struct str server_state(struct str event, struct str state)
{
    if (str_eq_cstr(event, "pr:merged"))
        return STR_LIT("merged");
    if (str_eq_cstr(event, "pr:declined") || str_eq_cstr(event, "pr:deleted"))
        return STR_LIT("closed");
    if (str_eq_cstr(state, "OPEN"))
        return STR_LIT("open");
    if (str_eq_cstr(state, "MERGED"))
        return STR_LIT("merged");
    if (str_eq_cstr(state, "DECLINED"))
        return STR_LIT("closed");
    if (str_eq_cstr(event, "pr:opened"))
        return STR_LIT("open");
    return STR_NULL;
}

static enum err server_pull_request(struct bb *c, const struct json *doc, struct ingest_batch *out)
{
    const struct json *p = ingest_json_obj(doc, "pullRequest");
    const struct json *to = ingest_json_obj(p, "toRef");
    /* a PR lives in its target repository; its number is unique there */
    enum err e = server_repo(c, ingest_json_obj(to, "repository"), out);
    if (e != ERR_OK)
        return e;
    struct ingest_pr *pr = arena_calloc(c->a, 1, sizeof *pr);
    if (!pr)
        return ERR_LIMIT;
    ingest_pr_init(pr); /* labels stay unknown: Bitbucket has no PR labels */
    if (!jnumber(p, "id", &pr->number))
        return ERR_INVALID;
    e = pr_id(c, pr->number, &pr->id);
    if (e != ERR_OK)
        return e;
    struct str ev = c->event;
    int64_t at = ingest_json_iso_time(doc, "date");
    pr->repo_id = c->repo_id;
    pr->title = ingest_json_str(p, "title");
    pr->description = ingest_json_str(p, "description");
    pr->state = server_state(ev, ingest_json_str(p, "state"));
    pr->draft = ingest_json_tri(p, "draft");
    const struct json *author = ingest_json_obj(ingest_json_obj(p, "author"), "user");
    pr->author = server_person(c, author);
    struct str author_key;
    e = server_user_key(c, author, &author_key);
    if (e != ERR_OK)
        return e;
    pr->source_branch = ingest_json_str(ingest_json_obj(p, "fromRef"), "displayId");
    pr->target_branch = ingest_json_str(to, "displayId");
    pr->created_at = jtime_ms(p, "createdDate");
    pr->updated_at = jtime_ms(p, "updatedDate");
    if (str_eq_cstr(ev, "pr:opened") && pr->draft != INGEST_TRI_YES)
        pr->ready_at = pr->created_at;
    int64_t closed = jtime_ms(p, "closedDate");
    if (!closed && (str_eq_cstr(ev, "pr:merged") || str_eq_cstr(ev, "pr:declined") ||
                    str_eq_cstr(ev, "pr:deleted")))
        closed = at;
    if (pr->state.ptr && !str_eq_cstr(pr->state, "open")) {
        pr->closed_at = closed;
        if (str_eq_cstr(pr->state, "merged"))
            pr->merged_at = closed;
    }
    struct str mc =
        ingest_json_str(ingest_json_obj(ingest_json_obj(p, "properties"), "mergeCommit"), "id");
    pr->merge_commit_sha = ingest_is_abbrev_sha(mc) ? mc : STR_NULL;
    out->prs = pr;
    out->n_prs = 1;

    const char *state = NULL;
    if (str_eq_cstr(ev, "pr:reviewer:approved"))
        state = "approved";
    else if (str_eq_cstr(ev, "pr:reviewer:unapproved"))
        state = "unapproved";
    else if (str_eq_cstr(ev, "pr:reviewer:needs_work") ||
             str_eq_cstr(ev, "pr:reviewer:changes_requested"))
        state = "changes_requested";
    bool is_comment = str_starts_with(ev, STR_LIT("pr:comment:"));
    if (!state && !is_comment)
        return ERR_OK;
    struct ingest_review *rv = arena_calloc(c->a, 1, sizeof *rv);
    if (!rv)
        return ERR_LIMIT;
    if (state) {
        const struct json *user = ingest_json_obj(ingest_json_obj(doc, "participant"), "user");
        if (!user)
            user = ingest_json_obj(doc, "actor");
        struct str key;
        e = server_user_key(c, user, &key);
        if (e == ERR_OK)
            e = review_row(c, pr, key, state, server_person(c, user), at, rv);
        if (e != ERR_OK)
            return e;
        bool by_other = !author_key.ptr || !str_eq(key, author_key);
        if (by_other && at && strcmp(state, "unapproved") != 0)
            pr->first_review_at = at;
        if (by_other && at && !strcmp(state, "approved"))
            pr->approved_at = at;
    } else {
        const struct json *comment = ingest_json_obj(doc, "comment");
        const struct json *user = ingest_json_obj(comment, "author");
        if (!user)
            user = ingest_json_obj(doc, "actor");
        int64_t when = jtime_ms(comment, "createdDate");
        if (!when)
            when = at;
        e = comment_row(c, pr, comment, str_eq_cstr(ev, "pr:comment:deleted"),
                        server_person(c, user), when, rv);
        if (e != ERR_OK)
            return e;
        struct str key;
        e = server_user_key(c, user, &key);
        if (e != ERR_OK)
            return e;
        if (str_eq_cstr(ev, "pr:comment:added") && when &&
            (!author_key.ptr || !key.ptr || !str_eq(key, author_key)))
            pr->first_review_at = when;
    }
    out->reviews = rv;
    out->n_reviews = 1;
    return ERR_OK;
}

static const char *const server_pr_events[] = {
    "pr:opened",
    "pr:modified",
    "pr:merged",
    "pr:declined",
    "pr:deleted",
    "pr:from_ref_updated",
    "pr:to_ref_updated", /* not sent by every version; harmless when absent */
    "pr:reviewer:approved",
    "pr:reviewer:unapproved",
    "pr:reviewer:needs_work",
    "pr:reviewer:changes_requested",
    "pr:reviewer:updated",
    "pr:comment:added",
    "pr:comment:edited",
    "pr:comment:deleted",
};

static enum err server(struct bb *c, const struct json *doc, struct ingest_batch *out)
{
    struct str ev = c->event;
    if (is_one_of(ev, server_pr_events, sizeof server_pr_events / sizeof *server_pr_events))
        return server_pull_request(c, doc, out);
    if (str_eq_cstr(ev, "repo:refs_changed")) {
        enum err e = server_repo(c, ingest_json_obj(doc, "repository"), out);
        return e != ERR_OK ? e : server_push(c, doc, out);
    }
    if (str_eq_cstr(ev, "repo:modified"))
        return server_repo(c, ingest_json_obj(doc, "new"), out);
    if (str_eq_cstr(ev, "repo:forked"))
        return server_repo(c, ingest_json_obj(doc, "repository"), out); /* the new fork */
    return ERR_OK; /* repo:comment:* (commit comments), mirror, project, ping: nothing */
}

/* ---- entry point --------------------------------------------------------- */

enum err ingest_normalize_bitbucket(bool is_server, struct str event, const struct json *doc,
                                    const struct ingest_norm_options *opt, struct arena *a,
                                    struct ingest_batch *out)
{
    memset(out, 0, sizeof *out);
    /* Data Center repeats the event key in the body; use it when the header
     * was not passed. */
    if ((!event.ptr || event.len == 0) && is_server)
        event = ingest_json_str(doc, "eventKey");
    if (!event.ptr || event.len > BB_MAX_EVENT)
        event = STR_LIT("");
    char *ev = arena_strndup(a, event.ptr, event.len);
    if (!ev)
        return ERR_LIMIT;
    struct bb c = {
        .server = is_server,
        .prov = is_server ? "bitbucket-server" : "bitbucket",
        .opt = opt,
        .a = a,
        .event = str_from(ev, event.len),
    };
    out->event = c.event;
    if (json_type_of(doc) != JSON_OBJECT)
        return ERR_INVALID;
    enum err e = is_server ? server(&c, doc, out) : cloud(&c, doc, out);
    if (e != ERR_OK) {
        struct str keep = out->event;
        memset(out, 0, sizeof *out);
        out->event = keep;
    }
    return e;
}
