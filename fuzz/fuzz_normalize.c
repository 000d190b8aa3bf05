/*
 * fuzz_normalize — the provider normalizers over arbitrary bodies.
 *
 * Input: byte 0 selects the provider, bytes up to the first '\n' are the
 * event name (the header value), the rest is the JSON body, parsed with
 * generous limits. Errors are expected and ignored; what must hold is no
 * crash, no sanitizer report, and, on success, a batch within its limits whose
 * ids and strings are readable.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every byte of s so ASan sees a bad view. */
static size_t touch(struct str s)
{
    size_t h = 0;
    if (!s.ptr)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        h += (unsigned char)s.ptr[i];
    return h;
}

static void check_id(struct str id)
{
    if (!id.ptr || id.len == 0 || id.len > INGEST_MAX_ID)
        abort();
    (void)touch(id);
}

static void check_person(const struct ingest_person *p)
{
    (void)(touch(p->login) + touch(p->name) + touch(p->email));
}

static void check(const struct ingest_batch *b)
{
    if (b->n_repos > INGEST_MAX_ROWS || b->n_commits > INGEST_MAX_ROWS ||
        b->n_prs > INGEST_MAX_ROWS || b->n_reviews > INGEST_MAX_ROWS ||
        b->n_deployments > INGEST_MAX_ROWS || b->n_releases > INGEST_MAX_ROWS)
        abort();
    (void)touch(b->event);
    for (size_t i = 0; i < b->n_repos; i++) {
        check_id(b->repos[i].id);
        (void)(touch(b->repos[i].full_name) + touch(b->repos[i].url));
    }
    for (size_t i = 0; i < b->n_commits; i++) {
        const struct ingest_commit *c = &b->commits[i];
        check_id(c->id);
        check_id(c->repo_id);
        check_person(&c->author);
        check_person(&c->committer);
        if (c->n_files > INGEST_MAX_FILES ||
            (c->files_changed != INGEST_UNKNOWN && (int64_t)c->n_files > c->files_changed))
            abort();
        for (size_t k = 0; k < c->n_files; k++)
            (void)touch(c->files[k].path);
    }
    for (size_t i = 0; i < b->n_prs; i++) {
        const struct ingest_pr *p = &b->prs[i];
        check_id(p->id);
        if (p->n_labels > INGEST_MAX_LABELS || (p->n_labels && !p->labels_known))
            abort();
        for (size_t k = 0; k < p->n_labels; k++)
            (void)touch(p->labels[k]);
        check_person(&p->author);
        (void)(touch(p->title) + touch(p->description) + touch(p->merge_commit_sha));
    }
    for (size_t i = 0; i < b->n_reviews; i++) {
        check_id(b->reviews[i].id);
        check_id(b->reviews[i].pr_id);
        check_person(&b->reviews[i].reviewer);
    }
    for (size_t i = 0; i < b->n_deployments; i++) {
        check_id(b->deployments[i].id);
        (void)(touch(b->deployments[i].environment) + touch(b->deployments[i].sha));
    }
    for (size_t i = 0; i < b->n_releases; i++) {
        check_id(b->releases[i].id);
        (void)(touch(b->releases[i].tag) + touch(b->releases[i].name));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t provider = data[0];
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    const char *nl = memchr(rest, '\n', n);
    if (!nl)
        return 0;
    struct str event = str_from(rest, (size_t)(nl - rest));
    const char *body = nl + 1;
    size_t body_len = n - (size_t)(nl - rest) - 1;

    const struct json_limits lim = {(size_t)8 * 1024 * 1024, 64, (size_t)1024 * 1024, 100000};
    struct json *doc = NULL;
    struct json_error je;
    if (json_parse(body, body_len, &lim, &doc, &je) != ERR_OK)
        return 0;

    const struct str patterns[] = {STR_LIT("ci-*"), STR_LIT("*robot*")};
    const struct ingest_norm_options opt = {patterns, 2};
    struct arena *a = arena_new((size_t)32 * 1024 * 1024);
    struct ingest_batch b;
    enum err e = ERR_OK;
    switch (provider % 4) {
    case 0:
        e = ingest_normalize_github(event, doc, &opt, a, &b);
        break;
    case 1:
        e = ingest_normalize_gitlab(event, doc, NULL, a, &b);
        break;
    /* ---- OTHER PROVIDERS: add when their normalizers are linked ----------
     * case 2: e = ingest_normalize_bitbucket((provider & 4) != 0, event, doc, &opt, a, &b);
     * case 3: e = ingest_normalize_azure(event, doc, &opt, a, &b);
     * and give them seeds in fuzz/corpus/normalize (first byte 2/6 and 3). */
    default:
        e = ERR_INVALID;
        break;
    }
    if (e == ERR_OK)
        check(&b);
    arena_free(a);
    json_free(doc);
    return 0;
}
