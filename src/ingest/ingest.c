/*
 * ingest.c — the normalize job and the provider dispatch (see ingest.h).
 */
#include "ingest/ingest.h"

#include <stdio.h>
#include <string.h>

#include "changes/pipeline.h"
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

/*
 * A prepared delivery, all of it in its own arena a (with the parsed
 * document, freed by the arena's cleanup: rows point into it).
 */
struct normalize_work {
    struct arena *a;
    enum ingest_delivery_status status; /* processed or ignored */
    const char *error;                  /* the delivery's error text; NULL for none */
    struct ingest_batch rows;           /* stored when processed */
    struct entry_generated *changes;    /* the changelog drafts the rows make (D1, D2) */
    size_t n_changes;
};

static void doc_free(void *doc)
{
    json_free(doc);
}

/* The changelog drafts of w's rows, in a read transaction of their tenant. */
static enum err find_changes(struct storage *s, const struct jobs_job *job,
                             struct normalize_work *w)
{
    if (!w->rows.n_prs && !w->rows.n_commits)
        return ERR_OK;
    struct tx *tx = NULL;
    enum err e = storage_begin(s, &job->tenant, TX_READ, &tx);
    if (e)
        return e;
    e = changes_find(tx, &w->rows, w->a, &w->changes, &w->n_changes);
    storage_rollback(tx);
    return e;
}

/* Reads, parses and normalizes the delivery into w (in w->a); *doc_len gets its body's length. */
static enum err normalize_delivery(struct storage *s, const struct jobs_job *job,
                                   struct normalize_work *w, size_t *doc_len, char *why,
                                   size_t why_cap)
{
    struct arena *a = w->a;
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
    e = integ ? integrations_get(s, &job->tenant, d.integration_id, job->now, integ) : ERR_LIMIT;
    if (e == ERR_NOT_FOUND) {
        w->status = INGEST_DELIVERY_IGNORED;
        w->error = "integration deleted";
        return ERR_OK;
    }
    if (e) {
        snprintf(why, why_cap, "integration: %s", err_name(e));
        return e;
    }

    enum ingest_provider p;
    struct json *doc = NULL;
    struct json_error jerr;
    if (ingest_provider_parse(d.provider, &p) != ERR_OK ||
        json_parse(d.body.ptr, d.body.len, &INGEST_JSON_LIMITS, &doc, &jerr) != ERR_OK) {
        snprintf(why, why_cap, "unreadable delivery");
        return ERR_INVALID;
    }
    *doc_len = d.body.len;
    if ((e = arena_defer(a, doc_free, doc)) != ERR_OK) {
        json_free(doc);
        snprintf(why, why_cap, "normalize: %s", err_name(e));
        return e;
    }
    struct ingest_norm_options opt;
    ingest_settings_norm_options(set, &opt);
    e = ingest_normalize(p, d.event, doc, &opt, a, &w->rows);
    if (e) {
        snprintf(why, why_cap, "normalize: %s", err_name(e));
        return e;
    }
    if (batch_empty(&w->rows)) {
        w->status = INGEST_DELIVERY_IGNORED;
    } else if (!in_scope(integ, &w->rows)) {
        w->status = INGEST_DELIVERY_IGNORED;
        w->error = "repository outside the scope";
    } else {
        w->status = INGEST_DELIVERY_PROCESSED;
        clamp_prose(a, &w->rows);
        if ((e = find_changes(s, job, w)) != ERR_OK) {
            snprintf(why, why_cap, "changes: %s", err_name(e));
            return e;
        }
    }
    return ERR_OK;
}

/* Step 1 (jobs_prepare_fn): everything but the writes, outside any write transaction. */
static enum err normalize_prepare(void *arg, struct storage *s, const struct jobs_job *job,
                                  struct jobs_prepared *out, char *why, size_t why_cap)
{
    (void)arg;
    struct arena *a = arena_new(INGEST_ARENA_CAP);
    struct normalize_work *w = arena_calloc(a, 1, sizeof *w);
    size_t doc_len = 0;
    enum err e = ERR_LIMIT;
    if (w) {
        w->a = a;
        e = normalize_delivery(s, job, w, &doc_len, why, why_cap);
    }
    if (e) {
        arena_free(a);
        return e;
    }
    out->work = w;
    /* the parsed document lives outside the arena: a few times its text */
    out->bytes = arena_used(a) + 3 * doc_len;
    return ERR_OK;
}

/* Step 2 (jobs_apply_fn): the rows and the delivery's status, in the runner's transaction. */
static enum err normalize_apply(void *arg, struct tx *tx, const struct jobs_job *job, void *work,
                                char *why, size_t why_cap)
{
    (void)arg;
    const struct normalize_work *w = work;
    enum err e = ERR_OK;
    if (w->status == INGEST_DELIVERY_PROCESSED)
        e = ingest_store_batch(tx, &w->rows);
    if (!e && w->n_changes)
        e = changes_store(tx, w->changes, w->n_changes, job->now);
    if (!e)
        e = ingest_delivery_set_status(tx, str_from_cstr(job->ref), w->status,
                                       w->error ? str_from_cstr(w->error) : STR_NULL, job->now);
    if (e)
        snprintf(why, why_cap, "store: %s", err_name(e));
    return e;
}

/* jobs_fail_fn: the delivery says what its job's attempt came to: failed (retried) or dead. */
static enum err normalize_fail(void *arg, struct tx *tx, const struct jobs_job *job, enum err cause,
                               bool dead, const char *why)
{
    (void)arg;
    (void)cause;
    enum err e = ingest_delivery_set_status(tx, str_from_cstr(job->ref),
                                            dead ? INGEST_DELIVERY_DEAD : INGEST_DELIVERY_FAILED,
                                            why[0] ? str_from_cstr(why) : STR_NULL, job->now);
    return e == ERR_NOT_FOUND ? ERR_OK : e; /* purged meanwhile: nothing left to mark */
}

static void normalize_release(void *arg, void *work)
{
    (void)arg;
    struct normalize_work *w = work;
    arena_free(w->a); /* w lives in it */
}

const struct jobs_handler ingest_job_normalize = {
    .kind = INGEST_JOB_NORMALIZE,
    .prepare = normalize_prepare,
    .apply = normalize_apply,
    .release = normalize_release,
    .fail = normalize_fail,
};
