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

#include <inttypes.h>
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

static struct str jstr(const struct json *obj, const char *key)
{
    struct str s;
    return json_as_str(json_get(obj, key), &s) ? s : STR_NULL;
}

static const struct json *jobj(const struct json *obj, const char *key)
{
    const struct json *n = json_get(obj, key);
    return json_type_of(n) == JSON_OBJECT ? n : NULL;
}

static const struct json *jarr(const struct json *obj, const char *key)
{
    const struct json *n = json_get(obj, key);
    return json_type_of(n) == JSON_ARRAY ? n : NULL;
}

/* ISO 8601 → Unix seconds; 0 when unknown (Azure writes "0001-01-01T00:00:00"
 * for a date not set, which ingest_parse_time refuses). */
static int64_t jtime(const struct json *obj, const char *key)
{
    int64_t t;
    return ingest_parse_time(jstr(obj, key), &t) && t > 0 ? t : 0;
}

static bool printable(struct str s, size_t max)
{
    if (!s.ptr || s.len == 0 || s.len > max)
        return false;
    return str_is_printable_ascii(s);
}

/* A key part of a stable id: printable ASCII, no spaces, no ':'. */
static bool key_ok(struct str s)
{
    if (!s.ptr || s.len == 0 || s.len > INGEST_MAX_ID)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] <= 0x20 || s.ptr[i] >= 0x7f || s.ptr[i] == ':')
            return false;
    return true;
}

static bool sha_ok(struct str s)
{
    if (!s.ptr || s.len < 7 || s.len > 64)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (str_hex_digit(s.ptr[i]) < 0)
            return false;
    return true;
}

static bool is_zero_sha(struct str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] != '0')
            return false;
    return s.len > 0;
}

static struct str strip_prefix(struct str s, const char *prefix)
{
    struct str p = str_from_cstr(prefix);
    if (s.ptr && str_starts_with(s, p))
        return str_from(s.ptr + p.len, s.len - p.len);
    return s;
}

/* ---- public: the envelope ------------------------------------------------ */

bool ingest_azure_event_id(const struct json *doc, struct str *out)
{
    struct str s = jstr(doc, "id");
    if (!printable(s, INGEST_AZURE_MAX_EVENT_ID))
        return false;
    *out = s;
    return true;
}

bool ingest_azure_event_type(const struct json *doc, struct str *out)
{
    struct str s = jstr(doc, "eventType");
    if (!printable(s, AZ_MAX_EVENT))
        return false;
    *out = s;
    return true;
}

/* ---- building ------------------------------------------------------------ */

/* azure-devops:kind:part[:part...] in the arena; ERR_LIMIT past INGEST_MAX_ID. */
static enum err make_id(struct az *c, struct str *out, const char *kind, const struct str *parts,
                        size_t n)
{
    size_t plen = strlen(AZ_PROV), klen = strlen(kind);
    size_t len = plen + 1 + klen;
    for (size_t i = 0; i < n; i++)
        len += 1 + parts[i].len;
    if (len > INGEST_MAX_ID)
        return ERR_LIMIT;
    char *p = arena_alloc(c->a, len + 1);
    if (!p)
        return ERR_LIMIT;
    size_t at = 0;
    memcpy(p, AZ_PROV, plen);
    at += plen;
    p[at++] = ':';
    memcpy(p + at, kind, klen);
    at += klen;
    for (size_t i = 0; i < n; i++) {
        p[at++] = ':';
        memcpy(p + at, parts[i].ptr, parts[i].len);
        at += parts[i].len;
    }
    p[at] = '\0';
    *out = str_from(p, len);
    return ERR_OK;
}

static enum err num_str(struct az *c, int64_t v, struct str *out)
{
    char *p = arena_printf(c->a, "%" PRId64, v);
    if (!p)
        return ERR_LIMIT;
    *out = str_from_cstr(p);
    return ERR_OK;
}

/* The URL without userinfo: Azure's remoteUrl is often
 * "https://org@dev.azure.com/org/project/_git/repo". */
static enum err clean_url(struct az *c, struct str url, struct str *out)
{
    *out = STR_NULL;
    if (!url.ptr)
        return ERR_OK;
    long colon = str_index(url, ':');
    if (colon < 0 || (size_t)colon + 3 > url.len || url.ptr[colon + 1] != '/' ||
        url.ptr[colon + 2] != '/') {
        *out = url;
        return ERR_OK;
    }
    size_t host = (size_t)colon + 3, end = host, at = 0;
    bool has_at = false;
    while (end < url.len && url.ptr[end] != '/' && url.ptr[end] != '?' && url.ptr[end] != '#') {
        if (url.ptr[end] == '@') {
            has_at = true;
            at = end;
        }
        end++;
    }
    if (!has_at) {
        *out = url;
        return ERR_OK;
    }
    size_t len = host + (url.len - at - 1);
    char *p = arena_alloc(c->a, len + 1);
    if (!p)
        return ERR_LIMIT;
    memcpy(p, url.ptr, host);
    memcpy(p + host, url.ptr + at + 1, url.len - at - 1);
    p[len] = '\0';
    *out = str_from(p, len);
    return ERR_OK;
}

/* An identity: {id, displayName, uniqueName}. */
static struct ingest_person identity(const struct az *c, const struct json *who)
{
    struct ingest_person p = {0};
    p.login = jstr(who, "uniqueName");
    p.name = jstr(who, "displayName");
    p.bot = ingest_is_bot(p.login, p.name, c->opt);
    return p;
}

/* A git identity of a commit: {name, email, date}. */
static struct ingest_person git_person(const struct az *c, const struct json *who)
{
    struct ingest_person p = {0};
    p.name = jstr(who, "name");
    p.email = jstr(who, "email");
    p.bot = ingest_is_bot(p.login, p.name, c->opt);
    return p;
}

/* ---- rows ---------------------------------------------------------------- */

static enum err repo(struct az *c, const struct json *r, struct ingest_batch *out)
{
    struct str key = jstr(r, "id");
    if (!key_ok(key))
        return ERR_INVALID;
    struct ingest_repo *row = arena_calloc(c->a, 1, sizeof *row);
    if (!row)
        return ERR_LIMIT;
    enum err e = make_id(c, &row->id, "repo", &key, 1);
    if (e != ERR_OK)
        return e;
    struct str project = jstr(jobj(r, "project"), "name"), name = jstr(r, "name");
    if (project.ptr && name.ptr) {
        char *fn =
            arena_printf(c->a, "%.*s/%.*s", (int)project.len, project.ptr, (int)name.len, name.ptr);
        if (!fn)
            return ERR_LIMIT;
        row->full_name = str_from_cstr(fn);
    }
    struct str url = jstr(r, "webUrl");
    if (!url.ptr)
        url = jstr(r, "remoteUrl");
    e = clean_url(c, url, &row->url);
    if (e != ERR_OK)
        return e;
    row->default_branch = strip_prefix(jstr(r, "defaultBranch"), "refs/heads/");
    c->repo_key = key;
    c->repo_id = row->id;
    out->repos = row;
    out->n_repos = 1;
    return ERR_OK;
}

/* git.push: commits[] and the tags among refUpdates[]. */
static enum err push(struct az *c, const struct json *res, struct ingest_batch *out)
{
    const struct json *refs = jarr(res, "refUpdates");
    const struct json *list = jarr(res, "commits");
    size_t n = json_count(list), n_tags = 0, n_branches = 0;
    if (n > INGEST_MAX_ROWS)
        return ERR_LIMIT;
    struct str branch = STR_NULL;
    for (const struct json *u = json_first(refs); u; u = json_next(u)) {
        struct str name = jstr(u, "name");
        if (str_starts_with(name, STR_LIT("refs/heads/"))) {
            n_branches++;
            branch = strip_prefix(name, "refs/heads/");
        } else if (str_starts_with(name, STR_LIT("refs/tags/")) &&
                   !is_zero_sha(jstr(u, "newObjectId"))) {
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
        struct str sha = jstr(k, "commitId");
        if (!sha_ok(sha))
            return ERR_INVALID;
        bool dup = false;
        for (size_t i = 0; i < nc && !dup; i++)
            dup = str_eq(cs[i].sha, sha);
        if (dup)
            continue;
        struct ingest_commit *row = &cs[nc++];
        struct str parts[2] = {c->repo_key, sha};
        enum err e = make_id(c, &row->id, "commit", parts, 2);
        if (e != ERR_OK)
            return e;
        row->repo_id = c->repo_id;
        row->sha = sha;
        row->message = jstr(k, "comment"); /* as sent; Azure may cut it (commentTruncated) */
        const struct json *author = jobj(k, "author"), *committer = jobj(k, "committer");
        row->author = git_person(c, author);
        row->committer = git_person(c, committer);
        row->authored_at = jtime(author, "date");
        row->committed_at = jtime(committer, "date");
        row->branch = branch;
        row->files = NULL;
        row->n_files = 0;
        row->files_changed = INGEST_UNKNOWN;
        row->additions = INGEST_UNKNOWN;
        row->deletions = INGEST_UNKNOWN;
    }
    out->commits = cs;
    out->n_commits = nc;

    struct ingest_release *tags = n_tags ? arena_calloc(c->a, n_tags, sizeof *tags) : NULL;
    if (n_tags && !tags)
        return ERR_LIMIT;
    size_t nt = 0;
    int64_t pushed = jtime(res, "date");
    for (const struct json *u = json_first(refs); u; u = json_next(u)) {
        struct str name = jstr(u, "name"), sha = jstr(u, "newObjectId");
        if (!str_starts_with(name, STR_LIT("refs/tags/")) || is_zero_sha(sha))
            continue;
        struct str tag = strip_prefix(name, "refs/tags/");
        if (!key_ok(tag))
            return ERR_INVALID;
        struct ingest_release *t = &tags[nt++];
        struct str parts[2] = {c->repo_key, tag};
        enum err e = make_id(c, &t->id, "tag", parts, 2);
        if (e != ERR_OK)
            return e;
        t->repo_id = c->repo_id;
        t->kind = INGEST_TAG;
        t->tag = tag;
        /* for an annotated tag this names the tag object, not the commit */
        t->sha = sha_ok(sha) ? sha : STR_NULL;
        t->prerelease = INGEST_TRI_UNKNOWN;
        t->published_at = pushed;
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
    if (!json_as_i64(json_get(res, "pullRequestId"), &pr->number) || pr->number <= 0)
        return ERR_INVALID;
    struct str parts[5] = {c->repo_key, STR_NULL, STR_NULL, STR_NULL, STR_NULL};
    enum err e = num_str(c, pr->number, &parts[1]);
    if (e == ERR_OK)
        e = make_id(c, &pr->id, "pr", parts, 2);
    if (e != ERR_OK)
        return e;
    pr->repo_id = c->repo_id;
    pr->title = jstr(res, "title");
    pr->description = jstr(res, "description");
    struct str status = jstr(res, "status");
    bool merged =
        str_eq_cstr(status, "completed") && str_eq_cstr(jstr(res, "mergeStatus"), "succeeded");
    if (str_eq_cstr(status, "active"))
        pr->state = STR_LIT("open");
    else if (merged)
        pr->state = STR_LIT("merged");
    else if (str_eq_cstr(status, "completed") || str_eq_cstr(status, "abandoned"))
        pr->state = STR_LIT("closed");
    bool draft;
    if (json_as_bool(json_get(res, "isDraft"), &draft))
        pr->draft = draft ? INGEST_TRI_YES : INGEST_TRI_NO;
    pr->author = identity(c, jobj(res, "createdBy"));
    pr->source_branch = strip_prefix(jstr(res, "sourceRefName"), "refs/heads/");
    pr->target_branch = strip_prefix(jstr(res, "targetRefName"), "refs/heads/");
    pr->created_at = jtime(res, "creationDate");
    /* Without isDraft the server predates drafts: the PR opened ready. */
    if (created && pr->draft != INGEST_TRI_YES)
        pr->ready_at = pr->created_at;
    if (pr->state.ptr && !str_eq_cstr(pr->state, "open")) {
        pr->closed_at = jtime(res, "closedDate");
        if (merged) {
            pr->merged_at = pr->closed_at;
            struct str mc = jstr(jobj(res, "lastMergeCommit"), "commitId");
            pr->merge_commit_sha = sha_ok(mc) ? mc : STR_NULL;
        }
    }
    pr->commits = INGEST_UNKNOWN;
    pr->additions = INGEST_UNKNOWN;
    pr->deletions = INGEST_UNKNOWN;
    pr->changed_files = INGEST_UNKNOWN;

    const struct json *labels = jarr(res, "labels");
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
            struct str name = jstr(l, "name");
            if (name.ptr)
                v[k++] = name;
        }
        pr->labels = v;
        pr->n_labels = k;
        pr->labels_known = true;
    }
    out->prs = pr;
    out->n_prs = 1;

    const struct json *reviewers = jarr(res, "reviewers");
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
        struct str who = jstr(r, "id");
        if (!state || !key_ok(who))
            continue; /* no vote, or nobody to key it by */
        parts[2] = who;
        parts[3] = str_from_cstr(state);
        struct ingest_review *row = &rv[nr++];
        e = make_id(c, &row->id, "review", parts, 4);
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

    struct az c = {.opt = opt, .a = a, .event_at = jtime(doc, "createdDate")};
    const struct json *res = jobj(doc, "resource");
    enum err e = repo(&c, jobj(res, "repository"), out);
    if (e == ERR_OK)
        e = is_push ? push(&c, res, out) : pull_request(&c, res, out, created);
    if (e != ERR_OK) {
        struct str keep = out->event;
        memset(out, 0, sizeof *out);
        out->event = keep;
    }
    return e;
}
