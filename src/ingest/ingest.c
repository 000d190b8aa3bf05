/*
 * ingest.c — the normalize job and the provider dispatch (see ingest.h).
 */
#include "ingest/ingest.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "ingest/integrations.h"
#include "ingest/normalize_azure.h"
#include "ingest/redact.h"
#include "ingest/settings.h"
#include "ingest/store.h"

enum err ingest_normalize(enum ingest_provider p, struct str event, const struct json *doc,
                          const struct ingest_norm_options *opt, struct arena *a,
                          struct ingest_batch *out)
{
    memset(out, 0, sizeof *out);
    switch (p) {
    case INGEST_PROVIDER_GITHUB:
        return ingest_normalize_github(event, doc, opt, a, out);
    case INGEST_PROVIDER_GITLAB:
        return ingest_normalize_gitlab(event, doc, opt, a, out);
    case INGEST_PROVIDER_BITBUCKET:
        return ingest_normalize_bitbucket(false, event, doc, opt, a, out);
    case INGEST_PROVIDER_BITBUCKET_SERVER:
        return ingest_normalize_bitbucket(true, event, doc, opt, a, out);
    case INGEST_PROVIDER_AZURE_DEVOPS:
        return ingest_normalize_azure(STR_NULL, doc, opt, a, out);
    case INGEST_PROVIDER_STRIPE:
    case INGEST_PROVIDER_COUNT_:
        break;
    }
    return ERR_INVALID;
}

/* The string get() finds in doc, copied into a; STR_NULL when absent. */
static struct str field_copy(const struct json *doc, struct arena *a,
                             bool (*get)(const struct json *, struct str *))
{
    struct str v;
    if (!get(doc, &v))
        return STR_NULL;
    char *copy = arena_strndup(a, v.ptr, v.len);
    return copy ? str_from(copy, v.len) : STR_NULL;
}

bool ingest_azure_envelope(struct str body, struct arena *a, struct str *id, struct str *type)
{
    struct json *doc = NULL;
    struct json_error jerr;
    *id = *type = STR_NULL;
    if (json_parse(body.ptr, body.len, &INGEST_JSON_LIMITS, &doc, &jerr) != ERR_OK)
        return false;
    *id = field_copy(doc, a, ingest_azure_event_id);
    *type = field_copy(doc, a, ingest_azure_event_type);
    json_free(doc);
    return true;
}

/* Records the delivery's outcome in its own transaction. */
static enum err set_status(struct storage *s, const struct jobs_job *job,
                           enum ingest_delivery_status st, const char *error,
                           const struct ingest_batch *rows)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(s, &job->tenant, TX_WRITE, &tx);
    if (e)
        return e;
    if (rows)
        e = ingest_store_batch(tx, rows);
    if (!e)
        e = ingest_delivery_set_status(tx, str_from_cstr(job->ref), st,
                                       error ? str_from_cstr(error) : STR_NULL, job->now);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

static bool batch_empty(const struct ingest_batch *b)
{
    return !b->n_repos && !b->n_commits && !b->n_prs && !b->n_reviews && !b->n_deployments &&
           !b->n_releases;
}

/* s cut to at most max bytes, at a character boundary (UTF-8 continuation bytes are 10xxxxxx). */
static struct str cut_prose(struct str s, size_t max)
{
    if (!s.ptr || s.len <= max)
        return s;
    size_t n = max;
    while (n > 0 && ((unsigned char)s.ptr[n] & 0xC0) == 0x80)
        n--;
    return str_from(s.ptr, n);
}

/*
 * Free text a provider may send longer than the store keeps (a commit message
 * past INGEST_MAX_MESSAGE, a merge request description past
 * INGEST_MAX_DESCRIPTION) keeps its beginning: losing the tail of a huge text
 * is better than losing the whole delivery. Identifiers are never cut; an
 * over-long one still fails the delivery (ERR_LIMIT).
 */
static void clamp_prose(struct arena *a, struct ingest_batch *b)
{
    if (b->n_commits) {
        struct ingest_commit *c = arena_alloc(a, b->n_commits * sizeof *c);
        if (!c)
            return; /* the arena is spent: the store refuses the long text instead */
        memcpy(c, b->commits, b->n_commits * sizeof *c);
        for (size_t i = 0; i < b->n_commits; i++)
            c[i].message = cut_prose(c[i].message, INGEST_MAX_MESSAGE);
        b->commits = c;
    }
    if (b->n_prs) {
        struct ingest_pr *p = arena_alloc(a, b->n_prs * sizeof *p);
        if (!p)
            return;
        memcpy(p, b->prs, b->n_prs * sizeof *p);
        for (size_t i = 0; i < b->n_prs; i++) {
            p[i].title = cut_prose(p[i].title, INGEST_MAX_TITLE);
            p[i].description = cut_prose(p[i].description, INGEST_MAX_DESCRIPTION);
        }
        b->prs = p;
    }
}

/* The delivery's repository is inside the integration's scope (no repository: yes). */
static bool in_scope(const struct integration *integ, const struct ingest_batch *b)
{
    for (size_t i = 0; i < b->n_repos; i++)
        if (b->repos[i].full_name.ptr &&
            !integrations_scope_matches(integ->repository_scope, b->repos[i].full_name))
            return false;
    return true;
}

static enum err normalize_delivery(struct storage *s, const struct jobs_job *job, struct arena *a,
                                   char *why, size_t why_cap)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(s, &job->tenant, TX_READ, &tx);
    if (e)
        return e;
    struct ingest_delivery d;
    struct ingest_settings *set = arena_calloc(a, 1, sizeof *set);
    e = set ? ingest_delivery_get(tx, str_from_cstr(job->ref), a, &d) : ERR_LIMIT;
    if (!e)
        e = ingest_settings_get(tx, set); /* I8: the tenant's bot patterns */
    storage_rollback(tx);
    if (e) {
        snprintf(why, why_cap, "delivery: %s", err_name(e));
        return e; /* ERR_NOT_FOUND (purged) is permanent */
    }

    struct integration *integ = arena_calloc(a, 1, sizeof *integ);
    e = integrations_get(s, &job->tenant, d.integration_id, job->now, integ);
    if (e == ERR_NOT_FOUND)
        return set_status(s, job, INGEST_DELIVERY_IGNORED, "integration deleted", NULL);
    if (e)
        return e;

    enum ingest_provider p;
    struct json *doc = NULL;
    struct json_error jerr;
    if (ingest_provider_parse(d.provider, &p) != ERR_OK ||
        json_parse(d.body.ptr, d.body.len, &INGEST_JSON_LIMITS, &doc, &jerr) != ERR_OK) {
        snprintf(why, why_cap, "unreadable delivery");
        e = set_status(s, job, INGEST_DELIVERY_DEAD, why, NULL);
        return e ? e : ERR_INVALID;
    }
    struct ingest_batch b;
    struct ingest_norm_options opt;
    ingest_settings_norm_options(set, &opt);
    e = ingest_normalize(p, d.event, doc, &opt, a, &b);
    if (e) {
        json_free(doc);
        snprintf(why, why_cap, "normalize: %s", err_name(e));
        enum err se = set_status(s, job, INGEST_DELIVERY_DEAD, why, NULL);
        return se ? se : e;
    }
    if (batch_empty(&b))
        e = set_status(s, job, INGEST_DELIVERY_IGNORED, NULL, NULL);
    else if (!in_scope(integ, &b))
        e = set_status(s, job, INGEST_DELIVERY_IGNORED, "repository outside the scope", NULL);
    else {
        clamp_prose(a, &b);
        e = set_status(s, job, INGEST_DELIVERY_PROCESSED, NULL, &b);
    }
    json_free(doc);
    if (e)
        snprintf(why, why_cap, "store: %s", err_name(e));
    return e;
}

enum err ingest_job_normalize(void *arg, struct storage *s, const struct jobs_job *job, char *why,
                              size_t why_cap)
{
    (void)arg;
    struct arena *a = arena_new(INGEST_ARENA_CAP);
    enum err e = normalize_delivery(s, job, a, why, why_cap);
    arena_free(a);
    if (e && !jobs_err_permanent(e)) {
        /* retried: say so on the delivery (dead on the last attempt) */
        bool last = job->attempt >= job->max_attempts;
        if (set_status(s, job, last ? INGEST_DELIVERY_DEAD : INGEST_DELIVERY_FAILED, why, NULL))
            log_warn("delivery status not recorded", LOG_STR("tenant", job->tenant.id),
                     LOG_STR("delivery", job->ref));
    }
    return e;
}
