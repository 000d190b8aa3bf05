/*
 * llm_job.c — the job that asks a tenant's model for an entry's draft
 * (pipeline.h, CHANGES_JOB_LLM).
 */
#include <stdio.h>
#include <string.h>

#include "changes/pipeline.h"

#define LLM_JOB_ARENA (8u << 20) /* bytes one job's reading and call may use */

struct llm_work {
    struct arena *a;
    bool skip;          /* edited, decided or gone since: nothing to ask */
    struct entry entry; /* as read in prepare */
    struct classify_result cls;
    struct llm_result result;
};

/* Copies a text into a fixed buffer, cut between UTF-8 characters. */
static void copy_cut(char *dst, size_t cap, struct str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    while (n > 0 && n < s.len && ((unsigned char)s.ptr[n] & 0xC0) == 0x80)
        n--;
    memcpy(dst, s.ptr ? s.ptr : "", n);
    dst[n] = '\0';
}

/* A text column into the arena; STR_NULL for NULL. */
static enum err col(struct stmt *st, int c, struct arena *a, struct str *out)
{
    *out = STR_NULL;
    if (stmt_col_is_null(st, c))
        return ERR_OK;
    struct str v = stmt_col_text(st, c);
    char *p = arena_strndup(a, v.ptr ? v.ptr : "", v.len);
    if (!p)
        return ERR_LIMIT;
    *out = str_from(p, v.len);
    return ERR_OK;
}

/* Paths of the commit whose id or (with sha) sha in repo is given, at most CLASSIFY_MAX_PATHS. */
static enum err paths_of(struct tx *tx, const char *sql, struct str a1, struct str a2,
                         struct arena *a, struct change_input *in)
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(
        tx, sql, STORAGE_ARGS(STORAGE_TEXT(a1), STORAGE_TEXT(a2), STORAGE_INT(CLASSIFY_MAX_PATHS)),
        &st, &row);
    struct str *v = NULL;
    if (!e && row && !(v = arena_calloc(a, CLASSIFY_MAX_PATHS, sizeof *v)))
        e = ERR_LIMIT;
    for (; !e && row; e = stmt_step(st, &row))
        if ((e = col(st, 0, a, &v[in->n_paths])) == ERR_OK)
            in->n_paths++;
    if (st)
        stmt_finish(st);
    in->paths = v;
    return e;
}

/* The change behind entry en: its title, description, labels and paths. */
static enum err change_of(struct tx *tx, const struct entry *en, struct arena *a,
                          struct change_input *in)
{
    memset(in, 0, sizeof *in);
    in->labels = en->labels;
    in->n_labels = en->n_labels;
    struct stmt *st = NULL;
    bool row = false;
    enum err e;
    if (en->push) {
        e = tx_query(tx, "SELECT message FROM commits WHERE tenant_id = $1 AND id = $2",
                     STORAGE_ARGS(STORAGE_TEXT(en->source_id)), &st, &row);
        struct str message = STR_NULL;
        if (!e && row)
            e = col(st, 0, a, &message);
        if (st)
            stmt_finish(st);
        if (e || !row)
            return e ? e : ERR_NOT_FOUND;
        classify_split_message(message, &in->title, &in->description);
        return paths_of(tx,
                        "SELECT path FROM commit_files WHERE tenant_id = $1 AND commit_id = $2"
                        " AND $3 <> '' ORDER BY path LIMIT $4",
                        en->source_id, STR_LIT("-"), a, in);
    }
    e = tx_query(tx,
                 "SELECT title, description, merge_commit_sha FROM pull_requests"
                 " WHERE tenant_id = $1 AND id = $2",
                 STORAGE_ARGS(STORAGE_TEXT(en->source_id)), &st, &row);
    struct str sha = STR_NULL;
    if (!e && row && !(e = col(st, 0, a, &in->title)) && !(e = col(st, 1, a, &in->description)))
        e = col(st, 2, a, &sha);
    if (st)
        stmt_finish(st);
    if (e || !row)
        return e ? e : ERR_NOT_FOUND;
    if (!sha.ptr)
        return ERR_OK;
    return paths_of(tx,
                    "SELECT f.path FROM commits c JOIN commit_files f"
                    " ON f.tenant_id = c.tenant_id AND f.commit_id = c.id"
                    " WHERE c.tenant_id = $1 AND c.repo_id = $2 AND c.sha = $3"
                    " ORDER BY f.path LIMIT $4",
                    en->repo_id, sha, a, in);
}

/* Reads the entry and its change (skip when it is no unedited draft any more). */
static enum err read_entry(struct storage *s, const struct jobs_job *job, struct llm_work *w,
                           struct change_input *in)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(s, &job->tenant, TX_READ, &tx);
    if (e)
        return e;
    e = entries_get(tx, str_from_cstr(job->ref), w->a, &w->entry);
    if (!e && (w->entry.status != ENTRY_DRAFT || w->entry.human_edited))
        w->skip = true;
    if (!e && !w->skip)
        e = change_of(tx, &w->entry, w->a, in);
    storage_rollback(tx);
    return e;
}

static enum err llm_prepare(void *arg, struct storage *s, const struct jobs_job *job,
                            struct jobs_prepared *out, char *why, size_t why_cap)
{
    const struct changes_llm_runtime *rt = arg;
    struct arena *a = arena_new(LLM_JOB_ARENA);
    struct llm_work *w = arena_calloc(a, 1, sizeof *w);
    struct change_input in;
    enum err e = w ? ERR_OK : ERR_LIMIT;
    if (w) {
        w->a = a;
        e = read_entry(s, job, w, &in);
    }
    if (!e && !w->skip) {
        const struct entry *en = &w->entry;
        struct change_draft rules;
        memset(&rules, 0, sizeof rules);
        copy_cut(rules.title, sizeof rules.title, en->title);
        copy_cut(rules.body, sizeof rules.body, en->body);
        rules.category = en->category;
        rules.audience = en->audience;
        w->cls.impact = en->impact;
        copy_cut(w->cls.reason, sizeof w->cls.reason, en->impact_reason);
        e = llm_draft(s, rt ? rt->secrets : NULL, rt ? &rt->opt : NULL, &job->tenant, &in, &w->cls,
                      &rules, job->now, a, &w->result);
    }
    if (e) {
        snprintf(why, why_cap, "llm draft: %s", err_name(e));
        arena_free(a);
        return e; /* ERR_NOT_FOUND (the entry or its change is gone) is permanent */
    }
    out->work = w;
    out->bytes = arena_used(a);
    return ERR_OK;
}

static enum err llm_apply(void *arg, struct tx *tx, const struct jobs_job *job, void *work,
                          char *why, size_t why_cap)
{
    (void)arg;
    const struct llm_work *w = work;
    if (w->skip)
        return ERR_OK;
    const struct entry *en = &w->entry;
    enum err e = ERR_OK;
    if (strcmp(w->result.provider, "rules") != 0) {
        struct entry_generated g = {
            .source_id = en->source_id,
            .push = en->push,
            .repo_id = en->repo_id,
            .source_number = en->source_number,
            .source_url = en->source_url,
            .changed_at = en->changed_at,
            .cls = w->cls,
            .draft = w->result.draft,
            .labels = en->labels,
            .n_labels = en->n_labels,
            .provider = w->result.provider,
        };
        enum entry_upsert what;
        e = entries_upsert_generated(tx, &g, job->now, &what, NULL);
    }
    if (!e)
        e = llm_record(tx, &w->result);
    if (e)
        snprintf(why, why_cap, "llm draft: %s", err_name(e));
    return e;
}

static void llm_release(void *arg, void *work)
{
    (void)arg;
    struct llm_work *w = work;
    arena_free(w->a);
}

const struct jobs_handler changes_job_llm = {
    .kind = CHANGES_JOB_LLM,
    .prepare = llm_prepare,
    .apply = llm_apply,
    .release = llm_release,
};
