/*
 * Unit tests for the real route table: it passes the start-up checks (the
 * API description's agreement with it is tests/unit/api/test_openapi.c).
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_passes_startup_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
