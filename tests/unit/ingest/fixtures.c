/* Fixture loading for the normalizer tests (see fixtures.h). */
#include "fixtures.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifndef SHIPLOG_FIXTURES_DEFAULT
#define SHIPLOG_FIXTURES_DEFAULT "../shared/fixtures/webhooks"
#endif

#define FIXTURE_MAX_BYTES ((size_t)1024 * 1024)

const char *fixture_dir(const char *provider)
{
    static char path[4096];
    const char *root = getenv("SHIPLOG_FIXTURES");
    if (!root || !*root)
        root = SHIPLOG_FIXTURES_DEFAULT;
    int n = snprintf(path, sizeof path, "%s/%s", root, provider);
    assert_true(n > 0 && (size_t)n < sizeof path);
    return path;
}

struct json *fixture_parse(const char *text, size_t len)
{
    const struct json_limits big = {(size_t)8 * 1024 * 1024, 32, (size_t)64 * 1024, 10000};
    struct json *doc = NULL;
    struct json_error e;
    if (json_parse(text, len, &big, &doc, &e) != ERR_OK)
        fail_msg("json_parse: %s at %zu", e.reason, e.offset);
    return doc;
}

struct json *fixture_load(const char *provider, const char *file)
{
    char path[4352];
    int n = snprintf(path, sizeof path, "%s/%s", fixture_dir(provider), file);
    assert_true(n > 0 && (size_t)n < sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (set SHIPLOG_FIXTURES)", path);
    char *text = malloc(FIXTURE_MAX_BYTES);
    assert_non_null(text);
    size_t len = fread(text, 1, FIXTURE_MAX_BYTES, f);
    assert_true(len < FIXTURE_MAX_BYTES);
    fclose(f);
    struct json *doc = fixture_parse(text, len);
    free(text);
    return doc;
}

void fixture_check_listed(const char *provider, const char *const *names, size_t n)
{
    const char *dir = fixture_dir(provider);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot list %s (set SHIPLOG_FIXTURES)", dir);
    size_t seen = 0;
    for (struct dirent *ent; (ent = readdir(d)) != NULL;) {
        size_t len = strlen(ent->d_name);
        if (len < 5 || strcmp(ent->d_name + len - 5, ".json") != 0)
            continue;
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(names[i], ent->d_name) == 0;
        if (!found) {
            closedir(d);
            fail_msg("%s/%s is not in the test's table of fixtures", dir, ent->d_name);
        }
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, n); /* and every listed file exists */
}
