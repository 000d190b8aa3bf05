/*
 * Unit tests for api_members_page_of, the one parser of ?page= behind both
 * GET /api/v1/members and the console's /members: the accepted numbers at
 * their bounds, one past each limit (the page count and the text length),
 * and every near-number that a lenient parser (strtoul) would take.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"

/* The page for query (ERR_OK expected); 1-based, as the client wrote it. */
static unsigned page_ok(const char *query)
{
    unsigned page = 99;
    assert_int_equal(api_members_page_of(str_from_cstr(query), &page), ERR_OK);
    return page + 1;
}

static void refused(const char *query)
{
    unsigned page = 99;
    enum err e = api_members_page_of(str_from_cstr(query), &page);
    if (e != ERR_INVALID)
        fail_msg("\"%s\" gave %s, page %u", query, err_name(e), page + 1);
    assert_int_equal(page, 0);
}

static void test_no_page_is_the_first(void **state)
{
    (void)state;
    assert_int_equal(page_ok(""), 1);
    assert_int_equal(page_ok("done=role"), 1);
    assert_int_equal(page_ok("page="), 1);
}

static void test_bounds(void **state)
{
    (void)state;
    assert_int_equal(page_ok("page=1"), 1);
    assert_int_equal(page_ok("page=2&done=role"), 2);
    assert_int_equal(page_ok("page=20"), ACCOUNTS_MAX_MEMBERS_PAGES);
    assert_int_equal(ACCOUNTS_MAX_MEMBERS_PAGES, 20);
    refused("page=21"); /* one past the last page */
    refused("page=0");
}

static void test_digits_only(void **state)
{
    (void)state;
    /* leading zeros are the same number written long, and the value decodes first */
    assert_int_equal(page_ok("page=05"), 5);
    assert_int_equal(page_ok("page=%35"), 5);
    assert_int_equal(page_ok("page=00000020"), 20); /* API_MAX_PAGE_TEXT digits */
    assert_int_equal(API_MAX_PAGE_TEXT, 8);
    refused("page=000000020"); /* one byte past the text limit, even as a good number */
    refused("page=%2B5");      /* "+5" */
    refused("page=+5");        /* a form's '+' is a space: " 5" */
    refused("page=%205");      /* " 5" */
    refused("page=5%20");      /* "5 " */
    refused("page=-1");
    refused("page=0x5");
    refused("page=5.0");
    refused("page=1e1");
    refused("page=abc");
    refused("page=5%00");
    refused("page=4294967301"); /* 2^32 + 5: wraps in 32 bits */
}

static void test_malformed_query(void **state)
{
    (void)state;
    refused("page=5&page=6"); /* repeated: never guessed at */
    refused("page=%zz");
    refused("page=%");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_page_is_the_first),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_digits_only),
        cmocka_unit_test(test_malformed_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
