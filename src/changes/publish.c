/*
 * publish.c — the publication hooks (publish.h).
 */
#include "changes/publish.h"

#include <stdio.h>
#include <time.h>

#include "core/json.h"

enum err changes_entry_public_json(const struct entry *e, struct buf *out)
{
    char when[32] = "";
    time_t t = (time_t)e->published_at;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    struct jw w;
    jw_init(&w, out);
    jw_object_begin(&w);
    jw_key(&w, "id");
    jw_cstring(&w, e->id);
    jw_key(&w, "title");
    jw_string(&w, e->title);
    jw_key(&w, "body");
    jw_string(&w, e->body);
    jw_key(&w, "category");
    jw_cstring(&w, change_impact_name(e->category));
    jw_key(&w, "category_heading");
    jw_cstring(&w, draft_category_heading(e->category));
    jw_key(&w, "audience");
    jw_cstring(&w, draft_audience_name(e->audience));
    jw_key(&w, "labels");
    jw_array_begin(&w);
    for (size_t i = 0; i < e->n_labels; i++)
        jw_string(&w, e->labels[i]);
    jw_array_end(&w);
    jw_key(&w, "published_at");
    jw_cstring(&w, when);
    jw_object_end(&w);
    return jw_finish(&w);
}

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
