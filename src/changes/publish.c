/*
 * publish.c — the publication hooks (publish.h).
 */
#include "changes/publish.h"

#include <stdio.h>

enum err changes_published(const struct changes_publisher *p, struct tx *tx, const struct entry *e,
                           int64_t now)
{
    return p && p->in_tx ? p->in_tx(p->arg, tx, e, now) : ERR_OK;
}

void changes_published_after(const struct changes_publisher *p, const struct tenant_ctx *t)
{
    if (p && p->committed)
        p->committed(p->arg, t);
}

/* jobs_apply_fn of ENTRIES_JOB_PUBLISH: everything happens in the runner's transaction. */
static enum err publish_apply(void *arg, struct tx *tx, const struct jobs_job *job, void *work,
                              char *why, size_t why_cap)
{
    (void)work;
    const struct changes_publisher *p = arg;
    char ids[CHANGES_PUBLISH_BATCH * (ENTRIES_ID_LEN + 1)];
    size_t n = 0;
    enum err e = entries_publish_due(tx, job->now, CHANGES_PUBLISH_BATCH, ids, &n);
    struct arena *a = n ? arena_new(1u << 20) : NULL;
    for (size_t i = 0; !e && i < n; i++) {
        struct entry en;
        e = entries_get(tx, str_from_cstr(ids + i * (ENTRIES_ID_LEN + 1)), a, &en);
        if (!e)
            e = changes_published(p, tx, &en, job->now);
    }
    arena_free(a);
    if (e)
        snprintf(why, why_cap, "publish: %s", err_name(e));
    else if (n)
        changes_published_after(p, &job->tenant);
    return e;
}

/* Nothing to prepare: the work is all in the transaction. */
static enum err publish_prepare(void *arg, struct storage *s, const struct jobs_job *job,
                                struct jobs_prepared *out, char *why, size_t why_cap)
{
    (void)arg;
    (void)s;
    (void)job;
    (void)why;
    (void)why_cap;
    out->work = NULL;
    out->bytes = 0;
    return ERR_OK;
}

const struct jobs_handler changes_job_publish = {
    .kind = ENTRIES_JOB_PUBLISH,
    .prepare = publish_prepare,
    .apply = publish_apply,
};
