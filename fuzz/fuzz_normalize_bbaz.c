/*
 * fuzz_normalize_bbaz — ingest_normalize_bitbucket (Cloud and Data Center)
 * and ingest_normalize_azure on any parsed body. Input: the first byte picks
 * the provider (mod 3: Cloud, Data Center, Azure DevOps), the bytes up to the
 * first newline are the event name, the rest is the JSON body. Whatever the
 * result, the batch keeps the contract of normalize.h: on success every id is
 * "<provider>:" + kind + key within INGEST_MAX_ID and no kind holds more than
 * INGEST_MAX_ROWS rows; on failure the batch is empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/normalize.h"
#include "ingest/normalize_azure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_id(struct str id, const char *prov)
{
    size_t n = strlen(prov);
    if (!id.ptr || id.len > INGEST_MAX_ID || id.len <= n + 1 || memcmp(id.ptr, prov, n) != 0 ||
        id.ptr[n] != ':')
        abort();
}

static void check(const struct ingest_batch *b, const char *prov)
{
    if (b->n_repos > INGEST_MAX_ROWS || b->n_commits > INGEST_MAX_ROWS ||
        b->n_prs > INGEST_MAX_ROWS || b->n_reviews > INGEST_MAX_ROWS ||
        b->n_releases > INGEST_MAX_ROWS || b->n_deployments > INGEST_MAX_ROWS)
        abort();
    for (size_t i = 0; i < b->n_repos; i++)
        check_id(b->repos[i].id, prov);
    for (size_t i = 0; i < b->n_commits; i++) {
        check_id(b->commits[i].id, prov);
        check_id(b->commits[i].repo_id, prov);
        if (b->commits[i].n_files > INGEST_MAX_FILES)
            abort();
    }
    for (size_t i = 0; i < b->n_prs; i++) {
        check_id(b->prs[i].id, prov);
        if (b->prs[i].n_labels > INGEST_MAX_LABELS)
            abort();
        for (size_t k = 0; k < b->prs[i].n_labels; k++)
            if (!b->prs[i].labels[k].ptr)
                abort();
    }
    for (size_t i = 0; i < b->n_reviews; i++) {
        check_id(b->reviews[i].id, prov);
        check_id(b->reviews[i].pr_id, prov);
        if (!b->reviews[i].state.ptr)
            abort();
    }
    for (size_t i = 0; i < b->n_releases; i++)
        check_id(b->releases[i].id, prov);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] % 3;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const char *nl = memchr(text, '\n', len);
    struct str event = STR_NULL;
    if (nl) {
        event = str_from(text, (size_t)(nl - text));
        len -= (size_t)(nl - text) + 1;
        text = nl + 1;
    }
    struct json *doc = NULL;
    struct json_error je;
    if (json_parse(text, len, &JSON_LIMITS_DEFAULT, &doc, &je) != ERR_OK)
        return 0;

    static const struct str pats[] = {STR_LIT("*bot*"), STR_LIT("?a*b")};
    const struct ingest_norm_options opt = {pats, 2};
    struct arena *a = arena_new((size_t)16 * 1024 * 1024);
    struct ingest_batch b;
    enum err e;
    const char *prov;
    if (which == 2) {
        prov = "azure-devops";
        struct str s;
        (void)ingest_azure_event_id(doc, &s);
        (void)ingest_azure_event_type(doc, &s);
        e = ingest_normalize_azure(event, doc, &opt, a, &b);
    } else {
        prov = which ? "bitbucket-server" : "bitbucket";
        e = ingest_normalize_bitbucket(which == 1, event, doc, &opt, a, &b);
    }
    if (e == ERR_OK)
        check(&b, prov);
    else if (b.n_repos || b.n_commits || b.n_prs || b.n_reviews || b.n_releases || b.n_deployments)
        abort();
    arena_free(a);
    json_free(doc);
    return 0;
}
