/*
 * normalize — a verified, redacted webhook delivery reduced to metadata rows
 * (I5, I8).
 *
 * One function per provider turns the parsed body of one delivery into a
 * struct ingest_batch: the repositories, commits, pull/merge requests,
 * reviews and review comments, deployments and releases/tags it tells about.
 * Nothing here touches storage: the functions are pure over the document, so
 * they are unit-tested from fixture bodies and fuzzed; storing a batch is
 * ingest/store.c's job.
 *
 * Partial knowledge. A delivery usually knows only part of an object (a review
 * event knows the PR's number and title but not its commits count), and later
 * deliveries fill in more. Every field therefore has an "unknown" value that
 * storage must not write over what it already has:
 *   strings   ptr == NULL            (an empty string with ptr != NULL is known-empty)
 *   times     0                      (Unix seconds, UTC; providers' ISO 8601 parsed)
 *   counts    INGEST_UNKNOWN (-1)
 *   labels    labels_known == false
 *   flags     tri-state enum ingest_tri
 *
 * Stable ids have the form "provider:kind:key" (INGEST_MAX_ID bytes at most),
 * with provider one of github, gitlab, bitbucket, bitbucket-server,
 * azure-devops, and key the provider's own immutable identifier, qualified by
 * the repository where the provider's id is only unique per repository:
 *   repo        github:repo:<repository id>
 *   commit      github:commit:<repository id>:<sha>
 *   pr          github:pr:<repository id>:<number>
 *   review      github:review:<review id>      (comments: github:comment:<id>)
 *   deployment  github:deployment:<id>
 *   release     github:release:<id>            (tags: github:tag:<repository id>:<name>)
 * Where a provider has no numeric id for a repository (Bitbucket Data Center:
 * project key + slug; Azure DevOps: the repository GUID) the key is that
 * identifier. The same object always gets the same id, whichever event told
 * about it, so storage upserts by id.
 *
 * Memory: every pointer in a batch points into the parsed document or into
 * the arena given; the batch lives as long as both.
 *
 * No source code survives normalization: file paths and line counts only,
 * never contents, diffs or hunks; review comments keep who and when, never
 * their text.
 */
#ifndef SHIPLOG_INGEST_NORMALIZE_H
#define SHIPLOG_INGEST_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/json.h"
#include "core/str.h"

#define INGEST_UNKNOWN (-1)

#define INGEST_MAX_ID           256  /* bytes of a stable id */
#define INGEST_MAX_ROWS         2000 /* rows of one kind in one batch; more → ERR_LIMIT */
#define INGEST_MAX_FILES        3000 /* file paths kept per commit; beyond, counted only */
#define INGEST_MAX_LABELS       100  /* labels kept per pull request */
#define INGEST_MAX_BOT_PATTERNS 64   /* configurable bot patterns per tenant */
#define INGEST_MAX_BOT_PATTERN  128  /* bytes of one pattern */

enum ingest_tri { INGEST_TRI_UNKNOWN = 0, INGEST_TRI_NO, INGEST_TRI_YES };

/* Someone who did something: a commit author, a PR author, a reviewer. */
struct ingest_person {
    struct str login; /* provider account (login / username / uniqueName) */
    struct str name;  /* display name */
    struct str email; /* from commit metadata only; stored for identity mapping (M3) */
    bool bot;         /* I8: provider says bot, or a known or configured bot pattern matched */
};

struct ingest_repo {
    struct str id;             /* provider:repo:key */
    struct str full_name;      /* owner/name, group/subgroup/name, PROJECT/slug, org/project/name */
    struct str url;            /* web URL, userinfo never kept */
    struct str default_branch; /* "main", without refs/heads/ */
};

struct ingest_file {
    struct str path;
    char change;       /* 'A' added, 'M' modified, 'D' deleted, 'R' renamed, '?' unknown */
    int64_t additions; /* INGEST_UNKNOWN when the provider does not say */
    int64_t deletions;
};

struct ingest_commit {
    struct str id;      /* provider:commit:<repo key>:<sha> */
    struct str repo_id; /* provider:repo:key */
    struct str sha;     /* full hex */
    struct str message; /* as redacted (tokens masked) */
    struct ingest_person author;
    struct ingest_person committer;
    int64_t authored_at;
    int64_t committed_at;
    struct str branch; /* branch the push went to, without refs/heads/; NULL unknown */
    const struct ingest_file *files;
    size_t n_files;
    int64_t files_changed; /* may exceed n_files when paths were capped */
    int64_t additions;     /* INGEST_UNKNOWN when the provider does not say */
    int64_t deletions;
};

struct ingest_pr {
    struct str id; /* provider:pr:<repo key>:<number> */
    struct str repo_id;
    int64_t number;
    struct str title;
    struct str description;
    struct str state; /* "open", "closed", "merged"; NULL unknown */
    enum ingest_tri draft;
    const struct str *labels;
    size_t n_labels;
    bool labels_known;
    struct ingest_person author;
    struct str source_branch;
    struct str target_branch;
    int64_t created_at;
    int64_t ready_at;        /* opened as non-draft, or marked ready */
    int64_t first_review_at; /* a non-author review or comment, when the event itself says */
    int64_t approved_at;     /* first approval, when the event itself says */
    int64_t merged_at;
    int64_t closed_at; /* closed without merge, or merged */
    int64_t updated_at;
    struct str merge_commit_sha;
    int64_t commits; /* counts: INGEST_UNKNOWN when not given */
    int64_t additions;
    int64_t deletions;
    int64_t changed_files;
};

enum ingest_review_kind { INGEST_REVIEW, INGEST_REVIEW_COMMENT };

struct ingest_review {
    struct str id; /* provider:review:<id> or provider:comment:<id> */
    struct str repo_id;
    struct str pr_id; /* provider:pr:<repo key>:<number> */
    enum ingest_review_kind kind;
    /* reviews: "approved", "changes_requested", "commented", "dismissed",
     * "unapproved"; comments: "commented" (or "deleted" when the provider says so) */
    struct str state;
    struct ingest_person reviewer;
    int64_t submitted_at;
};

struct ingest_deployment {
    struct str id; /* provider:deployment:<id> */
    struct str repo_id;
    struct str environment; /* as the provider names it ("production", "prod-eu", ...) */
    /* "pending", "in_progress", "success", "failure", "error", "inactive", "canceled" */
    struct str status;
    struct str sha;
    struct str ref;
    int64_t created_at;
    int64_t finished_at; /* when status became terminal, else 0 */
};

enum ingest_release_kind { INGEST_RELEASE, INGEST_TAG };

struct ingest_release {
    struct str id; /* provider:release:<id> or provider:tag:<repo key>:<name> */
    struct str repo_id;
    enum ingest_release_kind kind;
    struct str tag;  /* tag name */
    struct str name; /* release title */
    struct str sha;  /* target commit, when given */
    enum ingest_tri prerelease;
    int64_t published_at; /* or tag pushed time */
};

/* Everything one delivery told. Arrays hold n_* elements (0 = none). */
struct ingest_batch {
    struct str event; /* normalized "provider event/action", e.g. "pull_request.closed" */
    const struct ingest_repo *repos;
    size_t n_repos;
    const struct ingest_commit *commits;
    size_t n_commits;
    const struct ingest_pr *prs;
    size_t n_prs;
    const struct ingest_review *reviews;
    size_t n_reviews;
    const struct ingest_deployment *deployments;
    size_t n_deployments;
    const struct ingest_release *releases;
    size_t n_releases;
};

/*
 * Tenant settings that shape normalization. bot_patterns are shell-style
 * globs (`*` and `?`, case-insensitive) matched against a person's login and
 * name; the built-in list (dependabot, renovate, "*[bot]", provider-declared
 * bots) always applies.
 */
struct ingest_norm_options {
    const struct str *bot_patterns;
    size_t n_bot_patterns;
};

/*
 * Provider normalizers. event is the provider's event name from its header
 * (GitHub X-GitHub-Event, GitLab X-Gitlab-Event, Bitbucket X-Event-Key);
 * Azure DevOps takes it from the body's eventType (pass an empty view).
 * doc is the redacted, parsed body. An event kind that carries no change
 * metadata (ping, issues, wiki, ...) gives ERR_OK and an empty batch.
 * ERR_INVALID when a known event lacks what identifies its objects (no
 * repository id, a PR without a number); ERR_LIMIT past INGEST_MAX_ROWS.
 * opt may be NULL (built-in bot list only).
 */
MUST_CHECK enum err ingest_normalize_github(struct str event, const struct json *doc,
                                            const struct ingest_norm_options *opt, struct arena *a,
                                            struct ingest_batch *out);
MUST_CHECK enum err ingest_normalize_gitlab(struct str event, const struct json *doc,
                                            const struct ingest_norm_options *opt, struct arena *a,
                                            struct ingest_batch *out);
/* Bitbucket Cloud (server == false) and Bitbucket Data Center (server == true). */
MUST_CHECK enum err ingest_normalize_bitbucket(bool server, struct str event,
                                               const struct json *doc,
                                               const struct ingest_norm_options *opt,
                                               struct arena *a, struct ingest_batch *out);
MUST_CHECK enum err ingest_normalize_azure(struct str event, const struct json *doc,
                                           const struct ingest_norm_options *opt, struct arena *a,
                                           struct ingest_batch *out);

/* ---- shared helpers for the provider files (normalize.c) ---------------- */

/* ISO 8601 / RFC 3339 time ("2019-05-15T15:20:33Z", offsets, fractions) → Unix
 * seconds; false when s is not one. Also accepts Unix seconds or
 * milliseconds as numbers where providers use them (see ingest_json_time). */
bool ingest_parse_time(struct str s, int64_t *out);

/* I8: true when login or name is a bot by the built-in list or opt's patterns. */
bool ingest_is_bot(struct str login, struct str name, const struct ingest_norm_options *opt);

/* Case-insensitive glob with `*` and `?` (bounded work: no backtracking blowup). */
bool ingest_glob_match(struct str pattern, struct str s);

/* ---- building blocks for the provider files (normalize.c) --------------- */

/* Returns from the calling function with x's error unless it is ERR_OK. */
#define INGEST_TRY(x)                                                                              \
    do {                                                                                           \
        enum err e_ = (x);                                                                         \
        if (e_ != ERR_OK)                                                                          \
            return e_;                                                                             \
    } while (0)

/* A time member: an ISO 8601 string (ingest_parse_time), or Unix seconds or
 * milliseconds as a number (GitHub's push repository.pushed_at); 0 when
 * absent, null, of another type or not a time. */
int64_t ingest_json_time(const struct json *n);

/* String member of obj, or STR_NULL when absent, null or not a string. */
struct str ingest_json_str(const struct json *obj, const char *key);

/* Integral member >= 0 of obj, else INGEST_UNKNOWN. */
int64_t ingest_json_count(const struct json *obj, const char *key);

/* Boolean member of obj as a tri-state (unknown unless true or false). */
enum ingest_tri ingest_json_tri(const struct json *obj, const char *key);

/*
 * A provider identifier as id-key text: a non-negative integer in decimal (in
 * the arena), or a non-empty printable string without ':' (a view into the
 * document). *out is STR_NULL when n is absent or neither; ERR_LIMIT only when
 * the arena is full.
 */
MUST_CHECK enum err ingest_json_key(const struct json *n, struct arena *a, struct str *out);

/* "provider:kind:k1" or, when k2.ptr != NULL, "provider:kind:k1:k2" in the
 * arena. ERR_INVALID when k1 is empty; ERR_LIMIT past INGEST_MAX_ID bytes. */
MUST_CHECK enum err ingest_make_id(struct arena *a, const char *provider, const char *kind,
                                   struct str k1, struct str k2, struct str *out);

/* True for a full commit id: 40 (SHA-1) or 64 (SHA-256) hex digits. */
bool ingest_is_sha(struct str s);

/* An http(s) URL without its userinfo (a copy in the arena only when there
 * was one); STR_NULL for any other scheme or unprintable bytes. ERR_LIMIT
 * when the arena is full. */
MUST_CHECK enum err ingest_clean_url(struct arena *a, struct str url, struct str *out);

/* A growable array of rows in the arena while a batch is being built. */
struct ingest_rows {
    void *v;
    size_t n, cap;
};

/* Appends one zero-filled row of elem_size bytes and points *row at it.
 * ERR_LIMIT when r already holds INGEST_MAX_ROWS or the arena is full. */
MUST_CHECK enum err ingest_rows_add(struct arena *a, struct ingest_rows *r, size_t elem_size,
                                    void **row);

/* batch.event text: event, then "." and action when action is non-empty;
 * lower-cased, bytes other than [a-z0-9_-] replaced by '_', each part cut at
 * 64 bytes. ERR_LIMIT when the arena is full. */
MUST_CHECK enum err ingest_batch_event(struct arena *a, struct str event, struct str action,
                                       struct str *out);

/* A commit's files from the push payloads' "added", "removed" and "modified"
 * path arrays (GitHub, GitLab): at most INGEST_MAX_FILES kept in that order,
 * all counted in files_changed; line counts unknown. Leaves the files unknown
 * when all three are absent. ERR_LIMIT when the arena is full. */
MUST_CHECK enum err ingest_commit_paths(struct arena *a, const struct json *added,
                                        const struct json *removed, const struct json *modified,
                                        struct ingest_commit *c);

/* Object (or array) member of obj, or NULL when absent or of another type. */
const struct json *ingest_json_obj(const struct json *obj, const char *key);
const struct json *ingest_json_arr(const struct json *obj, const char *key);

/* An ISO 8601 string member only (numbers are not times here, unlike
 * ingest_json_time): Unix seconds, 0 when absent, not a time or not after
 * 1970 (Azure writes "0001-01-01T00:00:00" for a date not set). */
int64_t ingest_json_iso_time(const struct json *obj, const char *key);

/* A person from an account object: login from login_key, or from
 * alt_login_key when that is absent (either key may be NULL: no login), name
 * from name_key, bot by ingest_is_bot. All unknown when u is not an object.
 * Callers add provider-declared bots (an account type) and emails. */
struct ingest_person ingest_json_person(const struct json *u, const char *login_key,
                                        const char *alt_login_key, const char *name_key,
                                        const struct ingest_norm_options *opt);

/* A key part for ingest_make_id_parts: 1..INGEST_MAX_ID bytes of printable
 * ASCII without spaces or ':' (stricter than ingest_json_key: no spaces). */
bool ingest_is_id_part(struct str s);

/* True for a hex object name of 7..64 digits: full or abbreviated (short
 * hashes appear in Bitbucket Cloud and Azure payloads). */
bool ingest_is_abbrev_sha(struct str s);

/* True for a non-empty run of '0' only: the null object name of a deleted
 * ref ("after"/"newObjectId"/"toHash" of all zeros). */
bool ingest_is_zero_sha(struct str s);

/* s without prefix when it starts with it, else s unchanged (STR_NULL stays). */
struct str ingest_strip_prefix(struct str s, const char *prefix);

/* v in decimal in the arena. ERR_LIMIT when the arena is full. */
MUST_CHECK enum err ingest_num_str(struct arena *a, int64_t v, struct str *out);

/* "provider:kind:p0:p1:..." of n parts in the arena, each part as given (the
 * caller checks them: ingest_is_id_part); unlike ingest_make_id no part is
 * refused for being empty. ERR_LIMIT past INGEST_MAX_ID bytes or when the
 * arena is full. */
MUST_CHECK enum err ingest_make_id_parts(struct arena *a, const char *provider, const char *kind,
                                         const struct str *parts, size_t n, struct str *out);

/* Fills t as a pushed tag: id "provider:tag:<repo_key>:<name>"
 * (ingest_make_id_parts), kind INGEST_TAG, sha as given (the caller checks
 * it), prerelease unknown, published_at at. ERR_INVALID when name is not an
 * id part (ingest_is_id_part); ERR_LIMIT as ingest_make_id_parts. */
MUST_CHECK enum err ingest_tag_row(struct arena *a, const char *provider, struct str repo_key,
                                   struct str repo_id, struct str name, struct str sha, int64_t at,
                                   struct ingest_release *t);

/* url without the userinfo of its authority ("https://user:token@host/..." →
 * "https://host/..."; a copy in the arena only when there was one). Unlike
 * ingest_clean_url any scheme is kept, and text that is not "scheme://..."
 * comes back unchanged; STR_NULL stays STR_NULL. ERR_LIMIT when the arena is
 * full. */
MUST_CHECK enum err ingest_strip_userinfo(struct arena *a, struct str url, struct str *out);

/* The rows of a batch being built, one array per kind (ingest_rows_add). */
struct ingest_batch_rows {
    struct ingest_rows repos, commits, prs, reviews, deployments, releases;
};

/* Points out's arrays at r's rows (the batch then lives as long as the arena). */
void ingest_batch_rows_finish(const struct ingest_batch_rows *r, struct ingest_batch *out);

/* Appends to repos the row id of a repository object: full_name, url
 * (ingest_clean_url) and default_branch from obj's string members named by
 * the keys (GitHub: full_name, html_url, default_branch; GitLab:
 * path_with_namespace, web_url, default_branch). ERR_LIMIT as
 * ingest_rows_add, or when the arena is full. */
MUST_CHECK enum err ingest_rows_add_repo(struct arena *a, struct ingest_rows *repos, struct str id,
                                         const struct json *obj, const char *full_name_key,
                                         const char *url_key, const char *branch_key);

/* Appends to commits the row of c, one entry of a GitHub or GitLab push
 * payload's commits[]: id "provider:commit:<repo_key>:<sha>", sha (a full
 * one in "id", else ERR_INVALID), message, authored_at ("timestamp", the one
 * time the payload gives), branch, and files (ingest_commit_paths). The
 * caller sets the people through *row. ERR_LIMIT as ingest_rows_add,
 * ingest_make_id and ingest_commit_paths. */
MUST_CHECK enum err ingest_rows_add_push_commit(struct arena *a, struct ingest_rows *commits,
                                                const char *provider, struct str repo_key,
                                                struct str repo_id, const struct json *c,
                                                struct str branch, struct ingest_commit **row);

/* Appends to prs a row from ingest_pr_init with number and its id
 * "provider:pr:<repo_key>:<number>" and repo_id set. ERR_INVALID when number
 * is negative; ERR_LIMIT as ingest_rows_add and ingest_make_id. */
MUST_CHECK enum err ingest_rows_add_pr(struct arena *a, struct ingest_rows *prs,
                                       const char *provider, struct str repo_key,
                                       struct str repo_id, int64_t number, struct ingest_pr **row);

/* A PR's labels from list, an array of label objects: each one's string
 * member name_key ("name" on GitHub, "title" on GitLab), the first
 * INGEST_MAX_LABELS kept. Leaves the labels unknown unless list is an array.
 * ERR_LIMIT when the arena is full. */
MUST_CHECK enum err ingest_json_labels(struct arena *a, const struct json *list,
                                       const char *name_key, struct ingest_pr *pr);

/* Zero a row and set its counts (and a PR's number) to INGEST_UNKNOWN. */
void ingest_commit_init(struct ingest_commit *c);
void ingest_pr_init(struct ingest_pr *p);

#endif
