/*
 * docs/PERMISSIONS.md (embedded at build time) is exactly what the route and
 * permission tables render: the published document cannot drift from what the
 * server enforces. On failure, regenerate: build/shiplog permissions > docs/PERMISSIONS.md
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"

extern const char permissions_md[];
extern const size_t permissions_md_len;

static void test_document_matches_tables(void **state)
{
    (void)state;
    struct buf out = BUF_INIT(256 * 1024);
    assert_int_equal(api_permissions_markdown(&out), ERR_OK);
    if (out.len != permissions_md_len || memcmp(buf_cstr(&out), permissions_md, out.len) != 0)
        fail_msg("docs/PERMISSIONS.md is out of date: run "
                 "build/shiplog permissions > docs/PERMISSIONS.md");
    buf_release(&out);
}

/* Every route appears, with its permission (the table is the source). */
static void test_every_route_is_listed(void **state)
{
    (void)state;
    size_t n;
    const struct route *routes = api_routes(&n);
    for (size_t i = 0; i < n; i++) {
        char needle[256];
        snprintf(needle, sizeof needle, "| %s | `%s` |", http_method_name(routes[i].method),
                 routes[i].pattern);
        if (!strstr(permissions_md, needle))
            fail_msg("route %s missing from docs/PERMISSIONS.md", needle);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_matches_tables),
        cmocka_unit_test(test_every_route_is_listed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
