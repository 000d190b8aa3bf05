/*
 * normalize.c — helpers shared by the provider normalizers: times, bots and
 * globs, and the building blocks (JSON reads, ids, URLs, rows) every provider
 * file uses. The provider files (normalize_<provider>.c) hold the event
 * mapping.
 */
#include "ingest/normalize.h"

#include <inttypes.h>
#include <string.h>

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at s->ptr[*i]; false if any is not a digit. */
static bool digits(struct str s, size_t *i, size_t n, unsigned *out)
{
    unsigned v = 0;
    if (*i + n > s.len)
        return false;
    for (size_t k = 0; k < n; k++) {
        char c = s.ptr[*i + k];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *i += n;
    *out = v;
    return true;
}

static bool expect(struct str s, size_t *i, char c)
{
    if (*i >= s.len || s.ptr[*i] != c)
        return false;
    (*i)++;
    return true;
}

static const unsigned char days_in_month[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/* "+hh", "+hhmm" or "+hh:mm" (or '-') at s[*i] → seconds east of UTC. */
static bool utc_offset(struct str s, size_t *i, int64_t *offset)
{
    int sign = s.ptr[*i] == '-' ? -1 : 1;
    unsigned oh, om = 0;
    (*i)++;
    if (!digits(s, i, 2, &oh))
        return false;
    if (*i < s.len && s.ptr[*i] == ':')
        (*i)++;
    if (*i < s.len && !digits(s, i, 2, &om))
        return false;
    if (oh > 23 || om > 59)
        return false;
    *offset = sign * (int64_t)(oh * 3600 + om * 60);
    return true;
}

bool ingest_parse_time(struct str s, int64_t *out)
{
    size_t i = 0;
    unsigned y, mo, d, h = 0, mi = 0, sec = 0;
    if (!s.ptr || !digits(s, &i, 4, &y) || !expect(s, &i, '-') || !digits(s, &i, 2, &mo) ||
        !expect(s, &i, '-') || !digits(s, &i, 2, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month[mo - 1] || y < 1970)
        return false;
    int64_t offset = 0;
    if (i < s.len) {
        if (s.ptr[i] != 'T' && s.ptr[i] != 't' && s.ptr[i] != ' ')
            return false;
        i++;
        if (!digits(s, &i, 2, &h) || !expect(s, &i, ':') || !digits(s, &i, 2, &mi))
            return false;
        if (i < s.len && s.ptr[i] == ':' && (i++, !digits(s, &i, 2, &sec)))
            return false;
        if (h > 23 || mi > 59 || sec > 60)
            return false;
        if (i < s.len && (s.ptr[i] == '.' || s.ptr[i] == ',')) {
            size_t start = ++i;
            while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9' && i - start < 12)
                i++;
            if (i == start)
                return false;
        }
        if (i < s.len && (s.ptr[i] == 'Z' || s.ptr[i] == 'z')) {
            i++;
        } else if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-')) {
            if (!utc_offset(s, &i, &offset))
                return false;
        } else if (i < s.len && s.ptr[i] == ' ') {
            /* GitLab's "2015-05-17 18:08:09 UTC" and "2021-04-28 21:50:00 +0200" */
            i++;
            if (s.len - i == 3 && memcmp(s.ptr + i, "UTC", 3) == 0)
                i = s.len;
            else if (i >= s.len || (s.ptr[i] != '+' && s.ptr[i] != '-') ||
                     !utc_offset(s, &i, &offset))
                return false;
        }
    }
    if (i != s.len)
        return false;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    *out = days_from_civil(y, mo, d) * 86400 + (int64_t)(h * 3600 + mi * 60 + sec) - offset;
    return true;
}

/* Lower-case ASCII; other bytes unchanged. */
static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * Iterative glob with single-star backtracking: on a mismatch after a `*`,
 * retry one byte further from the last star. At most O(len(p) * len(s)) steps,
 * and both are capped by their callers' limits.
 */
bool ingest_glob_match(struct str p, struct str s)
{
    size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;
    if (!p.ptr || !s.ptr)
        return false;
    while (si < s.len) {
        if (pi < p.len && (p.ptr[pi] == '?' || lower(p.ptr[pi]) == lower(s.ptr[si]))) {
            pi++;
            si++;
        } else if (pi < p.len && p.ptr[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < p.len && p.ptr[pi] == '*')
        pi++;
    return pi == p.len;
}

/* Bots every tenant gets, matched against login and name. */
static const char *const builtin_bots[] = {
    "*[bot]",         /* GitHub Apps: dependabot[bot], renovate[bot], github-actions[bot] */
    "dependabot*",    /* Dependabot on every provider */
    "renovate*",      /* Renovate (self-hosted accounts are often "renovate-bot") */
    "*-bot",          /* common naming of service accounts */
    "project_*_bot*", /* GitLab project access tokens' users */
    "group_*_bot*",   /* GitLab group access tokens' users */
};

static bool matches_any(struct str v, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ingest_glob_match(str_from_cstr(list[i]), v))
            return true;
    return false;
}

bool ingest_is_bot(struct str login, struct str name, const struct ingest_norm_options *opt)
{
    size_t n_builtin = sizeof builtin_bots / sizeof builtin_bots[0];
    if ((login.ptr && matches_any(login, builtin_bots, n_builtin)) ||
        (name.ptr && matches_any(name, builtin_bots, n_builtin)))
        return true;
    if (!opt)
        return false;
    for (size_t i = 0; i < opt->n_bot_patterns && i < INGEST_MAX_BOT_PATTERNS; i++) {
        struct str p = opt->bot_patterns[i];
        if (p.len == 0 || p.len > INGEST_MAX_BOT_PATTERN)
            continue;
        if ((login.ptr && ingest_glob_match(p, login)) || (name.ptr && ingest_glob_match(p, name)))
            return true;
    }
    return false;
}

/* ---- building blocks for the provider files ------------------------------ */

int64_t ingest_json_time(const struct json *n)
{
    struct str s;
    int64_t v;
    if (json_as_str(n, &s))
        return ingest_parse_time(s, &v) && v > 0 ? v : 0;
    if (!json_as_i64(n, &v) || v <= 0)
        return 0;
    /* Seconds reach 1e11 only in the year 5138; larger values are milliseconds. */
    return v >= INT64_C(100000000000) ? v / 1000 : v;
}

struct str ingest_json_str(const struct json *obj, const char *key)
{
    struct str s;
    return json_as_str(json_get(obj, key), &s) ? s : STR_NULL;
}

int64_t ingest_json_count(const struct json *obj, const char *key)
{
    int64_t v;
    return json_as_i64(json_get(obj, key), &v) && v >= 0 ? v : INGEST_UNKNOWN;
}

enum ingest_tri ingest_json_tri(const struct json *obj, const char *key)
{
    bool b;
    if (!json_as_bool(json_get(obj, key), &b))
        return INGEST_TRI_UNKNOWN;
    return b ? INGEST_TRI_YES : INGEST_TRI_NO;
}

/* A key may not contain the id separator or anything unprintable. */
static bool key_ok(struct str s)
{
    return s.len > 0 && s.len <= INGEST_MAX_ID && str_is_printable_ascii(s) &&
           str_index(s, ':') < 0;
}

enum err ingest_json_key(const struct json *n, struct arena *a, struct str *out)
{
    int64_t v;
    struct str s;
    *out = STR_NULL;
    if (json_as_i64(n, &v)) {
        if (v < 0)
            return ERR_OK;
        char *p = arena_printf(a, "%lld", (long long)v);
        if (!p)
            return ERR_LIMIT;
        *out = str_from_cstr(p);
    } else if (json_as_str(n, &s) && key_ok(s)) {
        *out = s;
    }
    return ERR_OK;
}

enum err ingest_make_id(struct arena *a, const char *provider, const char *kind, struct str k1,
                        struct str k2, struct str *out)
{
    *out = STR_NULL;
    if (!k1.ptr || k1.len == 0)
        return ERR_INVALID;
    size_t len = strlen(provider) + 1 + strlen(kind) + 1 + k1.len;
    if (k2.ptr)
        len += 1 + k2.len;
    if (len > INGEST_MAX_ID)
        return ERR_LIMIT;
    char *p = k2.ptr ? arena_printf(a, "%s:%s:%.*s:%.*s", provider, kind, (int)k1.len, k1.ptr,
                                    (int)k2.len, k2.ptr)
                     : arena_printf(a, "%s:%s:%.*s", provider, kind, (int)k1.len, k1.ptr);
    if (!p)
        return ERR_LIMIT;
    *out = str_from(p, len);
    return ERR_OK;
}

bool ingest_is_sha(struct str s)
{
    if (!s.ptr || (s.len != 40 && s.len != 64))
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (str_hex_digit(s.ptr[i]) < 0)
            return false;
    return true;
}

enum err ingest_clean_url(struct arena *a, struct str url, struct str *out)
{
    struct str rest;
    *out = STR_NULL;
    if (!url.ptr || !str_cut_http_scheme(url, true, &rest) || !str_is_printable_ascii(url))
        return ERR_OK;
    /* the authority ends at the first '/', '?' or '#'; userinfo is what precedes its last '@' */
    size_t end = 0, at = 0;
    bool has_at = false;
    while (end < rest.len && rest.ptr[end] != '/' && rest.ptr[end] != '?' && rest.ptr[end] != '#') {
        if (rest.ptr[end] == '@') {
            at = end;
            has_at = true;
        }
        end++;
    }
    if (!has_at) {
        *out = url;
        return ERR_OK;
    }
    size_t scheme = (size_t)(rest.ptr - url.ptr);
    size_t len = scheme + (rest.len - at - 1);
    char *p = arena_alloc(a, len + 1);
    if (!p)
        return ERR_LIMIT;
    memcpy(p, url.ptr, scheme);
    memcpy(p + scheme, rest.ptr + at + 1, rest.len - at - 1);
    p[len] = '\0';
    *out = str_from(p, len);
    return ERR_OK;
}

enum err ingest_rows_add(struct arena *a, struct ingest_rows *r, size_t elem_size, void **row)
{
    *row = NULL;
    if (r->n >= INGEST_MAX_ROWS)
        return ERR_LIMIT;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        if (cap > INGEST_MAX_ROWS)
            cap = INGEST_MAX_ROWS;
        /* the old array stays in the arena: at most as much again as the final one */
        unsigned char *v = arena_calloc(a, cap, elem_size);
        if (!v)
            return ERR_LIMIT;
        if (r->n)
            memcpy(v, r->v, r->n * elem_size);
        r->v = v;
        r->cap = cap;
    }
    unsigned char *p = (unsigned char *)r->v + r->n * elem_size;
    memset(p, 0, elem_size);
    r->n++;
    *row = p;
    return ERR_OK;
}

enum err ingest_batch_event(struct arena *a, struct str event, struct str action, struct str *out)
{
    enum { PART_MAX = 64 };
    *out = STR_NULL;
    size_t ne = event.ptr ? (event.len < PART_MAX ? event.len : PART_MAX) : 0;
    size_t na = action.ptr ? (action.len < PART_MAX ? action.len : PART_MAX) : 0;
    char *p = arena_alloc(a, ne + 1 + na + 1);
    if (!p)
        return ERR_LIMIT;
    size_t len = 0;
    for (int part = 0; part < 2; part++) {
        struct str s = part ? action : event;
        size_t n = part ? na : ne;
        if (part && n)
            p[len++] = '.';
        for (size_t i = 0; i < n; i++) {
            char c = lower(s.ptr[i]);
            bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
            p[len++] = keep ? c : '_';
        }
    }
    p[len] = '\0';
    *out = str_from(p, len);
    return ERR_OK;
}

void ingest_commit_init(struct ingest_commit *c)
{
    memset(c, 0, sizeof *c);
    c->files_changed = INGEST_UNKNOWN;
    c->additions = INGEST_UNKNOWN;
    c->deletions = INGEST_UNKNOWN;
}

void ingest_pr_init(struct ingest_pr *p)
{
    memset(p, 0, sizeof *p);
    p->number = INGEST_UNKNOWN;
    p->commits = INGEST_UNKNOWN;
    p->additions = INGEST_UNKNOWN;
    p->deletions = INGEST_UNKNOWN;
    p->changed_files = INGEST_UNKNOWN;
}

/* Appends list's string paths with change, up to INGEST_MAX_FILES in all. */
static void add_paths(const struct json *list, char change, struct ingest_file *files, size_t *n,
                      int64_t *total)
{
    for (const struct json *e = json_first(list); e; e = json_next(e)) {
        struct str path;
        if (!json_as_str(e, &path))
            continue;
        (*total)++;
        if (*n < INGEST_MAX_FILES)
            files[(*n)++] = (struct ingest_file){path, change, INGEST_UNKNOWN, INGEST_UNKNOWN};
    }
}

enum err ingest_commit_paths(struct arena *a, const struct json *added, const struct json *removed,
                             const struct json *modified, struct ingest_commit *c)
{
    if (!added && !removed && !modified)
        return ERR_OK; /* the provider did not say: files stay unknown */
    size_t all = json_count(added) + json_count(removed) + json_count(modified);
    size_t cap = all < INGEST_MAX_FILES ? all : INGEST_MAX_FILES;
    struct ingest_file *files = cap ? arena_calloc(a, cap, sizeof *files) : NULL;
    if (cap && !files)
        return ERR_LIMIT;
    size_t n = 0;
    int64_t total = 0;
    add_paths(added, 'A', files, &n, &total);
    add_paths(removed, 'D', files, &n, &total);
    add_paths(modified, 'M', files, &n, &total);
    c->files = files;
    c->n_files = n;
    c->files_changed = total;
    return ERR_OK;
}

const struct json *ingest_json_obj(const struct json *obj, const char *key)
{
    const struct json *n = json_get(obj, key);
    return json_type_of(n) == JSON_OBJECT ? n : NULL;
}

const struct json *ingest_json_arr(const struct json *obj, const char *key)
{
    const struct json *n = json_get(obj, key);
    return json_type_of(n) == JSON_ARRAY ? n : NULL;
}

int64_t ingest_json_iso_time(const struct json *obj, const char *key)
{
    int64_t t;
    return ingest_parse_time(ingest_json_str(obj, key), &t) && t > 0 ? t : 0;
}

struct ingest_person ingest_json_person(const struct json *u, const char *login_key,
                                        const char *alt_login_key, const char *name_key,
                                        const struct ingest_norm_options *opt)
{
    struct ingest_person p = {0};
    if (json_type_of(u) != JSON_OBJECT)
        return p;
    if (login_key)
        p.login = ingest_json_str(u, login_key);
    if (!p.login.ptr && alt_login_key)
        p.login = ingest_json_str(u, alt_login_key);
    p.name = ingest_json_str(u, name_key);
    p.bot = ingest_is_bot(p.login, p.name, opt);
    return p;
}

bool ingest_is_id_part(struct str s)
{
    if (!s.ptr || s.len == 0 || s.len > INGEST_MAX_ID)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] <= 0x20 || s.ptr[i] >= 0x7f || s.ptr[i] == ':')
            return false;
    return true;
}

bool ingest_is_abbrev_sha(struct str s)
{
    if (!s.ptr || s.len < 7 || s.len > 64)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (str_hex_digit(s.ptr[i]) < 0)
            return false;
    return true;
}

bool ingest_is_zero_sha(struct str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] != '0')
            return false;
    return s.len > 0;
}

struct str ingest_strip_prefix(struct str s, const char *prefix)
{
    struct str p = str_from_cstr(prefix);
    if (s.ptr && str_starts_with(s, p))
        return str_from(s.ptr + p.len, s.len - p.len);
    return s;
}

enum err ingest_num_str(struct arena *a, int64_t v, struct str *out)
{
    char *p = arena_printf(a, "%" PRId64, v);
    if (!p)
        return ERR_LIMIT;
    *out = str_from_cstr(p);
    return ERR_OK;
}

enum err ingest_make_id_parts(struct arena *a, const char *provider, const char *kind,
                              const struct str *parts, size_t n, struct str *out)
{
    size_t plen = strlen(provider), klen = strlen(kind);
    size_t len = plen + 1 + klen;
    for (size_t i = 0; i < n; i++)
        len += 1 + parts[i].len;
    if (len > INGEST_MAX_ID)
        return ERR_LIMIT;
    char *p = arena_alloc(a, len + 1);
    if (!p)
        return ERR_LIMIT;
    size_t at = 0;
    memcpy(p, provider, plen);
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

enum err ingest_strip_userinfo(struct arena *a, struct str url, struct str *out)
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
    char *p = arena_alloc(a, len + 1);
    if (!p)
        return ERR_LIMIT;
    memcpy(p, url.ptr, host);
    memcpy(p + host, url.ptr + at + 1, url.len - at - 1);
    p[len] = '\0';
    *out = str_from(p, len);
    return ERR_OK;
}

void ingest_batch_rows_finish(const struct ingest_batch_rows *r, struct ingest_batch *out)
{
    out->repos = r->repos.v;
    out->n_repos = r->repos.n;
    out->commits = r->commits.v;
    out->n_commits = r->commits.n;
    out->prs = r->prs.v;
    out->n_prs = r->prs.n;
    out->reviews = r->reviews.v;
    out->n_reviews = r->reviews.n;
    out->deployments = r->deployments.v;
    out->n_deployments = r->deployments.n;
    out->releases = r->releases.v;
    out->n_releases = r->releases.n;
}

enum err ingest_json_labels(struct arena *a, const struct json *list, const char *name_key,
                            struct ingest_pr *pr)
{
    if (json_type_of(list) != JSON_ARRAY)
        return ERR_OK;
    size_t n = json_count(list);
    if (n > INGEST_MAX_LABELS)
        n = INGEST_MAX_LABELS;
    struct str *labels = n ? arena_calloc(a, n, sizeof *labels) : NULL;
    if (n && !labels)
        return ERR_LIMIT;
    size_t k = 0;
    for (const struct json *l = json_first(list); l && k < n; l = json_next(l)) {
        struct str name = ingest_json_str(l, name_key);
        if (name.ptr)
            labels[k++] = name;
    }
    pr->labels = labels;
    pr->n_labels = k;
    pr->labels_known = true;
    return ERR_OK;
}

enum err ingest_rows_add_repo(struct arena *a, struct ingest_rows *repos, struct str id,
                              const struct json *obj, const char *full_name_key,
                              const char *url_key, const char *branch_key)
{
    void *row;
    enum err e = ingest_rows_add(a, repos, sizeof(struct ingest_repo), &row);
    if (e != ERR_OK)
        return e;
    struct ingest_repo *repo = row;
    repo->id = id;
    repo->full_name = ingest_json_str(obj, full_name_key);
    repo->default_branch = ingest_json_str(obj, branch_key);
    return ingest_clean_url(a, ingest_json_str(obj, url_key), &repo->url);
}

enum err ingest_tag_row(struct arena *a, const char *provider, struct str repo_key,
                        struct str repo_id, struct str name, struct str sha, int64_t at,
                        struct ingest_release *t)
{
    if (!ingest_is_id_part(name))
        return ERR_INVALID;
    struct str parts[2] = {repo_key, name};
    enum err e = ingest_make_id_parts(a, provider, "tag", parts, 2, &t->id);
    if (e != ERR_OK)
        return e;
    t->repo_id = repo_id;
    t->kind = INGEST_TAG;
    t->tag = name;
    t->sha = sha;
    t->prerelease = INGEST_TRI_UNKNOWN;
    t->published_at = at;
    return ERR_OK;
}

enum err ingest_rows_add_push_commit(struct arena *a, struct ingest_rows *commits,
                                     const char *provider, struct str repo_key, struct str repo_id,
                                     const struct json *c, struct str branch,
                                     struct ingest_commit **row)
{
    *row = NULL;
    struct str sha = ingest_json_str(c, "id");
    if (!ingest_is_sha(sha))
        return ERR_INVALID;
    void *r;
    enum err e = ingest_rows_add(a, commits, sizeof(struct ingest_commit), &r);
    if (e != ERR_OK)
        return e;
    struct ingest_commit *out = r;
    ingest_commit_init(out);
    e = ingest_make_id(a, provider, "commit", repo_key, sha, &out->id);
    if (e != ERR_OK)
        return e;
    out->repo_id = repo_id;
    out->sha = sha;
    out->message = ingest_json_str(c, "message");
    out->authored_at = ingest_json_time(json_get(c, "timestamp"));
    out->branch = branch;
    *row = out;
    return ingest_commit_paths(a, json_get(c, "added"), json_get(c, "removed"),
                               json_get(c, "modified"), out);
}

enum err ingest_rows_add_pr(struct arena *a, struct ingest_rows *prs, const char *provider,
                            struct str repo_key, struct str repo_id, int64_t number,
                            struct ingest_pr **row)
{
    *row = NULL;
    if (number < 0)
        return ERR_INVALID;
    void *r;
    INGEST_TRY(ingest_rows_add(a, prs, sizeof(struct ingest_pr), &r));
    struct ingest_pr *pr = r;
    ingest_pr_init(pr);
    struct str num;
    INGEST_TRY(ingest_num_str(a, number, &num));
    INGEST_TRY(ingest_make_id(a, provider, "pr", repo_key, num, &pr->id));
    pr->repo_id = repo_id;
    pr->number = number;
    *row = pr;
    return ERR_OK;
}
