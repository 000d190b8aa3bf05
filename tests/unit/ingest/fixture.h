/*
 * fixture.h — helpers shared by the normalizer tests: reading webhook fixture
 * bodies from $SHIPLOG_FIXTURES (default: SHIPLOG_FIXTURES_DEFAULT from
 * meson), parsing them, and comparing views. Header-only; each test includes
 * it once.
 */
#ifndef SHIPLOG_TESTS_INGEST_FIXTURE_H
#define SHIPLOG_TESTS_INGEST_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>

#include <cmocka.h>

#include "ingest/normalize.h"

#ifndef SHIPLOG_FIXTURES_DEFAULT
#define SHIPLOG_FIXTURES_DEFAULT "../shared/fixtures/webhooks"
#endif

#define FIXTURE_MAX ((size_t)4 * 1024 * 1024)

/* Generous limits: fixtures are real bodies, and the row-limit test sends
 * INGEST_MAX_ROWS + 1 commits. */
static const struct json_limits fixture_limits = {(size_t)16 * 1024 * 1024, 64, (size_t)1024 * 1024,
                                                  100000};

static const char *fixture_root(void)
{
    const char *d = getenv("SHIPLOG_FIXTURES");
    return d && *d ? d : SHIPLOG_FIXTURES_DEFAULT;
}

/* Whole file provider/name into a malloc'd buffer (NUL-terminated). */
static char *fixture_read(const char *provider, const char *name, size_t *len)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s/%s", fixture_root(), provider, name);
    assert_true(n > 0 && (size_t)n < sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (set SHIPLOG_FIXTURES)", path);
    char *buf = malloc(FIXTURE_MAX + 1);
    assert_non_null(buf);
    *len = fread(buf, 1, FIXTURE_MAX, f);
    assert_int_equal(ferror(f), 0);
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

static struct json *parse_text(const char *text, size_t len)
{
    struct json *doc = NULL;
    struct json_error je;
    enum err e = json_parse(text, len, &fixture_limits, &doc, &je);
    if (e != ERR_OK)
        fail_msg("json_parse: %s at %zu", je.reason, je.offset);
    return doc;
}

static struct json *fixture_parse(const char *provider, const char *name)
{
    size_t len;
    char *text = fixture_read(provider, name, &len);
    struct json *doc = parse_text(text, len);
    free(text);
    return doc;
}

static void fixture_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fixture_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error("%s:%d: %s\n", file, line, msg);
    fail();
}

/* s equals the C string want; want NULL means unknown (s.ptr == NULL). */
#define assert_str(s, want) assert_str_at((s), (want), __FILE__, __LINE__)
static void assert_str_at(struct str s, const char *want, const char *file, int line)
{
    if (!want) {
        if (s.ptr)
            fixture_fail(file, line, "want NULL, got \"%.*s\"", (int)s.len, s.ptr);
        return;
    }
    if (!s.ptr)
        fixture_fail(file, line, "want \"%s\", got NULL", want);
    if (!str_eq_cstr(s, want))
        fixture_fail(file, line, "want \"%s\", got \"%.*s\"", want, (int)s.len, s.ptr);
}

/* A file of a provider's fixture directory, the event header it is sent
 * with, and the rows its batch must have. */
struct fixture_case {
    const char *file;
    const char *event;
    size_t repos, commits, prs, reviews, deployments, releases;
    /* json_parse refuses the body (e.g. a duplicate key), so it never reaches
     * a normalizer in production: the test checks that refusal instead */
    bool rejected;
};

#define CASE(file, event, rp, cm, pr, rv, dp, rl)                                                  \
    {                                                                                              \
        file, event, rp, cm, pr, rv, dp, rl, false                                                 \
    }
#define REJECTED(file, event)                                                                      \
    {                                                                                              \
        file, event, 0, 0, 0, 0, 0, 0, true                                                        \
    }

typedef enum err (*normalize_fn)(struct str event, const struct json *doc,
                                 const struct ingest_norm_options *opt, struct arena *a,
                                 struct ingest_batch *out);

/*
 * Every file of <root>/<provider> must be in cases (the test fails on one that
 * is not), and every case must normalize without error to exactly its row
 * counts. Files of kinds that carry no change metadata have all counts 0.
 */
static void fixture_run_all(const char *provider, const struct fixture_case *cases, size_t n,
                            normalize_fn fn)
{
    char dir[4096];
    int len = snprintf(dir, sizeof dir, "%s/%s", fixture_root(), provider);
    assert_true(len > 0 && (size_t)len < sizeof dir);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s (set SHIPLOG_FIXTURES)", dir);
    size_t seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        const struct fixture_case *c = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(cases[i].file, e->d_name) == 0)
                c = &cases[i];
        if (!c) {
            closedir(d);
            fail_msg("%s/%s is not in the test's table", provider, e->d_name);
        }
        seen++;
        if (c->rejected) {
            size_t tlen;
            char *text = fixture_read(provider, c->file, &tlen);
            struct json *bad = NULL;
            struct json_error je;
            assert_int_equal(json_parse(text, tlen, &fixture_limits, &bad, &je), ERR_INVALID);
            assert_null(bad);
            free(text);
            continue;
        }
        struct json *doc = fixture_parse(provider, c->file);
        struct arena *a = arena_new((size_t)16 * 1024 * 1024);
        struct ingest_batch b;
        enum err err = fn(str_from_cstr(c->event), doc, NULL, a, &b);
        if (err != ERR_OK)
            fail_msg("%s (%s): %s", c->file, c->event, err_name(err));
        if (b.n_repos != c->repos || b.n_commits != c->commits || b.n_prs != c->prs ||
            b.n_reviews != c->reviews || b.n_deployments != c->deployments ||
            b.n_releases != c->releases)
            fail_msg("%s: rows repos %zu commits %zu prs %zu reviews %zu deployments %zu "
                     "releases %zu",
                     c->file, b.n_repos, b.n_commits, b.n_prs, b.n_reviews, b.n_deployments,
                     b.n_releases);
        assert_non_null(b.event.ptr);
        /* a second run over the same document gives the same rows */
        struct ingest_batch again;
        assert_int_equal(fn(str_from_cstr(c->event), doc, NULL, a, &again), ERR_OK);
        assert_int_equal(again.n_repos + again.n_commits + again.n_prs + again.n_reviews +
                             again.n_deployments + again.n_releases,
                         b.n_repos + b.n_commits + b.n_prs + b.n_reviews + b.n_deployments +
                             b.n_releases);
        arena_free(a);
        json_free(doc);
    }
    closedir(d);
    /* and every case names a file that exists */
    assert_int_equal(seen, n);
}

#endif
