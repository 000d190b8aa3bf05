/* Unit tests for http/router: matching, parameters, 404 vs 405, table validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* A route with only the fields these tests set (the rest zero). */
#define ROUTE(m, p, h, a, b, s)                                                                    \
    {                                                                                              \
        .method = (m), .pattern = (p), .handler = (h), .access = (a), .body = (b), .summary = (s), \
        .permission = (a) == ROUTE_AUTHENTICATED ? AUTHZ_ACCOUNT : AUTHZ_PUBLIC,                   \
        .operation_id = (s), .responses = {                                                        \
            {.status = 200, .description = "OK"}                                                   \
        }                                                                                          \
    }

#include "http/router.h"

static enum err ok_handler(struct http_request *req, struct http_response *resp)
{
    resp->status = 200;
    return ERR_OK;
}

static const struct route table[] = {
    ROUTE(HTTP_GET, "/", ok_handler, ROUTE_PUBLIC, NULL, "root"),
    ROUTE(HTTP_GET, "/health", ok_handler, ROUTE_PUBLIC, NULL, "h"),
    ROUTE(HTTP_GET, "/api/v1/things/{id}", ok_handler, ROUTE_PUBLIC, NULL, "get"),
    ROUTE(HTTP_DELETE, "/api/v1/things/{id}", ok_handler, ROUTE_PUBLIC, NULL, "del"),
    ROUTE(HTTP_POST, "/api/v1/things/{id}/parts/{part}", ok_handler, ROUTE_PUBLIC, NULL, "p"),
    ROUTE(HTTP_GET, "/feed/{slug}.json", ok_handler, ROUTE_PUBLIC, NULL, "fj"),
    ROUTE(HTTP_GET, "/feed/{slug}.atom", ok_handler, ROUTE_PUBLIC, NULL, "fa"),
};

struct fixture {
    struct router r;
    struct http_request req;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct buf msg = BUF_INIT(256);
    assert_int_equal(router_init(&f->r, table, sizeof(table) / sizeof(table[0]), &msg), ERR_OK);
    buf_release(&msg);
    f->req.arena = arena_new(1 << 20);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    arena_free(f->req.arena);
    free(f);
    return 0;
}

static enum router_match match(struct fixture *f, enum http_method m, const char *path)
{
    struct arena *a = f->req.arena;
    memset(&f->req, 0, sizeof(f->req));
    f->req.arena = a;
    f->req.method = m;
    f->req.path = str_from_cstr(path);
    return router_match(&f->r, &f->req);
}

static void test_literal_and_root(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(match(f, HTTP_GET, "/health"), ROUTER_FOUND);
    assert_string_equal(f->req.route->pattern, "/health");
    assert_int_equal(match(f, HTTP_GET, "/"), ROUTER_FOUND);
    assert_string_equal(f->req.route->pattern, "/");
    assert_int_equal(match(f, HTTP_GET, "/health/"), ROUTER_NOT_FOUND);
    assert_int_equal(match(f, HTTP_GET, "/healthz"), ROUTER_NOT_FOUND);
    assert_int_equal(match(f, HTTP_GET, "health"), ROUTER_NOT_FOUND);
    assert_int_equal(match(f, HTTP_GET, ""), ROUTER_NOT_FOUND);
}

static void test_head_uses_get(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(match(f, HTTP_HEAD, "/health"), ROUTER_FOUND);
}

static void test_params(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(match(f, HTTP_POST, "/api/v1/things/abc/parts/7"), ROUTER_FOUND);
    struct str id = http_param(&f->req, "id"), part = http_param(&f->req, "part");
    assert_true(str_eq_cstr(id, "abc"));
    assert_true(str_eq_cstr(part, "7"));
    assert_null(http_param(&f->req, "nope").ptr);
    /* an empty segment never matches a parameter */
    assert_int_equal(match(f, HTTP_GET, "/api/v1/things/"), ROUTER_NOT_FOUND);
    assert_int_equal(match(f, HTTP_GET, "/api/v1/things//"), ROUTER_NOT_FOUND);
}

/* "{name}.suffix": the segment must end with the suffix, with a value before it. */
static void test_param_with_suffix(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(match(f, HTTP_GET, "/feed/acme.json"), ROUTER_FOUND);
    assert_string_equal(f->req.route->pattern, "/feed/{slug}.json");
    assert_true(str_eq_cstr(http_param(&f->req, "slug"), "acme"));
    assert_int_equal(match(f, HTTP_GET, "/feed/acme.atom"), ROUTER_FOUND);
    assert_string_equal(f->req.route->pattern, "/feed/{slug}.atom");
    assert_true(str_eq_cstr(http_param(&f->req, "slug"), "acme"));
    /* the value is everything before the suffix; the handler checks it */
    assert_int_equal(match(f, HTTP_GET, "/feed/a.b.json"), ROUTER_FOUND);
    assert_true(str_eq_cstr(http_param(&f->req, "slug"), "a.b"));
    assert_int_equal(match(f, HTTP_GET, "/feed/x.json"), ROUTER_FOUND);
    assert_true(str_eq_cstr(http_param(&f->req, "slug"), "x"));
    /* no value, another suffix, no suffix, more segments */
    assert_int_equal(match(f, HTTP_GET, "/feed/.json"), ROUTER_NOT_FOUND);
    assert_int_equal(match(f, HTTP_GET, "/feed/acme.jsonx"), ROUTER_NOT_FOUND);
    assert_int_equal(match(f, HTTP_GET, "/feed/acme.rss"), ROUTER_NOT_FOUND);
    assert_int_equal(match(f, HTTP_GET, "/feed/acme"), ROUTER_NOT_FOUND);
    assert_int_equal(match(f, HTTP_GET, "/feed/json"), ROUTER_NOT_FOUND);
    assert_int_equal(match(f, HTTP_GET, "/feed/acme.json/x"), ROUTER_NOT_FOUND);
    assert_int_equal(match(f, HTTP_POST, "/feed/acme.json"), ROUTER_METHOD_NOT_ALLOWED);
}

static void test_method_not_allowed(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(match(f, HTTP_PUT, "/api/v1/things/1"), ROUTER_METHOD_NOT_ALLOWED);
    assert_string_equal(f->req.allow, "GET, HEAD, DELETE, OPTIONS");
    assert_int_equal(match(f, HTTP_OTHER, "/health"), ROUTER_METHOD_NOT_ALLOWED);
    assert_string_equal(f->req.allow, "GET, HEAD, OPTIONS");
}

static void test_path_limit(void **state)
{
    struct fixture *f = *state;
    static char path[ROUTER_MAX_PATH + 2];
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[ROUTER_MAX_PATH + 1] = '\0'; /* one byte over the limit */
    assert_int_equal(match(f, HTTP_GET, path), ROUTER_NOT_FOUND);
}

static void expect_refused(const struct route *rt, const char *why)
{
    struct router r;
    struct buf msg = BUF_INIT(256);
    assert_int_equal(router_init(&r, rt, 1, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), why));
    buf_release(&msg);
}

static void test_init_refuses_bad_tables(void **state)
{
    (void)state;
    const struct route unguarded = ROUTE(HTTP_GET, "/x", ok_handler, ROUTE_ACCESS_UNSET, NULL, "");
    expect_refused(&unguarded, "no access class");
    const struct route bad_pattern = ROUTE(HTTP_GET, "/x//y", ok_handler, ROUTE_PUBLIC, NULL, "");
    expect_refused(&bad_pattern, "malformed");
    const struct route relative = ROUTE(HTTP_GET, "x", ok_handler, ROUTE_PUBLIC, NULL, "");
    expect_refused(&relative, "malformed");
    const struct route half_param = ROUTE(HTTP_GET, "/x/{id", ok_handler, ROUTE_PUBLIC, NULL, "");
    expect_refused(&half_param, "malformed");
    const struct route two_params =
        ROUTE(HTTP_GET, "/x/{a}{b}", ok_handler, ROUTE_PUBLIC, NULL, "");
    expect_refused(&two_params, "malformed");
    const struct route brace_in_suffix =
        ROUTE(HTTP_GET, "/x/{a}.j}", ok_handler, ROUTE_PUBLIC, NULL, "");
    expect_refused(&brace_in_suffix, "malformed");
    const struct route prefix = ROUTE(HTTP_GET, "/x/p{a}", ok_handler, ROUTE_PUBLIC, NULL, "");
    expect_refused(&prefix, "malformed");
    const struct route empty_name =
        ROUTE(HTTP_GET, "/x/{}.json", ok_handler, ROUTE_PUBLIC, NULL, "");
    expect_refused(&empty_name, "malformed");
    const struct route no_handler = ROUTE(HTTP_GET, "/x", NULL, ROUTE_PUBLIC, NULL, "");
    expect_refused(&no_handler, "no handler");
    const struct route head = ROUTE(HTTP_HEAD, "/x", ok_handler, ROUTE_PUBLIC, NULL, "");
    expect_refused(&head, "derived");
    struct route no_perm = ROUTE(HTTP_GET, "/x", ok_handler, ROUTE_PUBLIC, NULL, "");
    no_perm.permission = AUTHZ_UNSET;
    expect_refused(&no_perm, "no permission");
    struct route public_needs_role = ROUTE(HTTP_GET, "/x", ok_handler, ROUTE_PUBLIC, NULL, "");
    public_needs_role.permission = AUTHZ_MEMBERS_MANAGE;
    expect_refused(&public_needs_role, "does not fit");
    struct route signed_in_public =
        ROUTE(HTTP_GET, "/x", ok_handler, ROUTE_AUTHENTICATED, NULL, "");
    signed_in_public.permission = AUTHZ_PUBLIC;
    expect_refused(&signed_in_public, "does not fit");

    const struct route dup[] = {
        ROUTE(HTTP_GET, "/x", ok_handler, ROUTE_PUBLIC, NULL, "x"),
        ROUTE(HTTP_GET, "/x", ok_handler, ROUTE_PUBLIC, NULL, "y"),
    };
    struct router r;
    struct buf msg = BUF_INIT(256);
    assert_int_equal(router_init(&r, dup, 2, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), "duplicate"));
    buf_release(&msg);
}

/* Every route but a console page must carry what the API description needs. */
static void test_init_refuses_undocumented_routes(void **state)
{
    (void)state;
    struct route rt = ROUTE(HTTP_GET, "/x", ok_handler, ROUTE_PUBLIC, NULL, "x");
    rt.operation_id = NULL;
    expect_refused(&rt, "no operation_id");
    rt.operation_id = "Get-x";
    expect_refused(&rt, "camelCase");
    rt.operation_id = "getX";
    rt.summary = "";
    expect_refused(&rt, "no summary");
    rt.summary = "x";
    rt.responses[0] = (struct route_response){0};
    expect_refused(&rt, "no success response");
    rt.responses[0] = (struct route_response){.status = 404, .description = "gone"};
    expect_refused(&rt, "no success response");
    rt.responses[0] = (struct route_response){.status = 200};
    expect_refused(&rt, "description");
    rt.responses[0] = (struct route_response){.status = 200, .description = "x", .schema = "X"};
    expect_refused(&rt, "needs a media type");
    rt.responses[0] = (struct route_response){.status = 200, .description = "x"};
    rt.responses[1] =
        (struct route_response){.status = 401, .description = "x", .media_type = HTTP_JSON_TYPE};
    expect_refused(&rt, "Error body");
    rt.responses[1] = (struct route_response){.status = 200, .description = "again"};
    expect_refused(&rt, "listed twice");
    rt.responses[1] = (struct route_response){.status = 401, .description = "who?"};
    struct router r;
    struct buf msg = BUF_INIT(256);
    assert_int_equal(router_init(&r, &rt, 1, &msg), ERR_OK);

    /* console pages are not part of the API description */
    struct route page = ROUTE(HTTP_GET, "/page", ok_handler, ROUTE_PUBLIC, NULL, "");
    page.operation_id = NULL;
    page.responses[0] = (struct route_response){0};
    page.console = true;
    assert_int_equal(router_init(&r, &page, 1, &msg), ERR_OK);

    const struct route same_id[] = {
        ROUTE(HTTP_GET, "/x", ok_handler, ROUTE_PUBLIC, NULL, "x"),
        ROUTE(HTTP_GET, "/y", ok_handler, ROUTE_PUBLIC, NULL, "x"),
    };
    assert_int_equal(router_init(&r, same_id, 2, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), "duplicate operation_id"));
    buf_release(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_literal_and_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_uses_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_param_with_suffix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_method_not_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_limit, setup, teardown),
        cmocka_unit_test(test_init_refuses_bad_tables),
        cmocka_unit_test(test_init_refuses_undocumented_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
