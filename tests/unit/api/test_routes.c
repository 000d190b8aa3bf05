/*
 * Unit tests for the real route table: it passes the start-up checks, and the
 * published API description (docs/openapi.json, embedded) documents exactly
 * the routes that exist — no undocumented endpoint, no documented ghost.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"
#include "http/pipeline.h"

static void test_table_passes_startup_checks(void **state)
{
    (void)state;
    size_t n;
    const struct route *routes = api_routes(&n);
    struct config cfg = {0};
    struct app app = {.cfg = &cfg};
    struct pipeline p;
    struct buf msg = BUF_INIT(256);
    assert_int_equal(pipeline_init(&p, &app, routes, n, &msg), ERR_OK);
    buf_release(&msg);
}

static void lower(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++)
        out[i] = (char)((in[i] >= 'A' && in[i] <= 'Z') ? in[i] + 32 : in[i]);
    out[i] = '\0';
}

static void test_openapi_matches_routes(void **state)
{
    (void)state;
    struct json *doc = NULL;
    struct json_error je;
    struct json_limits lim = JSON_LIMITS_DEFAULT;
    assert_int_equal(json_parse(openapi_json, openapi_json_len, &lim, &doc, &je), ERR_OK);
    const struct json *paths = json_get(doc, "paths");
    assert_non_null(paths);

    size_t n;
    const struct route *routes = api_routes(&n);
    size_t api = 0;
    for (size_t i = 0; i < n; i++) {
        if (routes[i].console) /* pages, not API: docs/ARCHITECTURE.md lists them */
            continue;
        api++;
        char method[16];
        lower(http_method_name(routes[i].method), method, sizeof(method));
        const struct json *op = json_get(json_get(paths, routes[i].pattern), method);
        if (!op)
            fail_msg("route %s %s is not in docs/openapi.json", method, routes[i].pattern);
        struct str summary;
        assert_true(json_as_str(json_get(op, "summary"), &summary));
        assert_true(str_eq_cstr(summary, routes[i].summary));
    }
    size_t documented = 0;
    for (const struct json *path = json_first(paths); path; path = json_next(path))
        documented += json_count(path);
    assert_int_equal(documented, api);
    json_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_passes_startup_checks),
        cmocka_unit_test(test_openapi_matches_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
