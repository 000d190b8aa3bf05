/* Unit tests for delivery/etag: the tag of a body, If-None-Match (RFC 9110 §13.1.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "delivery/etag.h"

#define TAG "\"0123456789abcdef0123456789abcdef\""

static bool hits(const char *header)
{
    return etag_none_match_hits(str_from_cstr(header), str_from_cstr(TAG));
}

static void test_tag_of_body(void **state)
{
    (void)state;
    char a[ETAG_LEN + 1], b[ETAG_LEN + 1], c[ETAG_LEN + 1];
    etag_of("abc", 3, a);
    etag_of("abc", 3, b);
    etag_of("abd", 3, c);
    assert_int_equal(strlen(a), ETAG_LEN);
    assert_int_equal(a[0], '"');
    assert_int_equal(a[ETAG_LEN - 1], '"');
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    /* SHA-256("abc") begins ba7816bf 8f01cfea 414140de 5dae2223 */
    assert_string_equal(a, "\"ba7816bf8f01cfea414140de5dae2223\"");
}

static void test_matches(void **state)
{
    (void)state;
    assert_true(hits(TAG));
    assert_true(hits("*"));
    assert_true(hits("  *\t"));
    assert_true(hits("W/" TAG));                     /* weak comparison */
    assert_true(hits("\"x\", " TAG));                /* in a list */
    assert_true(hits("\"x\" ,\tW/" TAG " , \"y\"")); /* spaces around commas */
    assert_true(hits(", ," TAG ","));                /* empty list elements */
    assert_true(hits("\"\", " TAG));                 /* an empty opaque tag */
}

static void test_misses(void **state)
{
    (void)state;
    assert_false(hits(""));
    assert_false(hits("   "));
    assert_false(hits("\"0123456789abcdef0123456789abcdee\""));
    assert_false(hits("0123456789abcdef0123456789abcdef")); /* unquoted */
    assert_false(hits("w/" TAG));                           /* W is case-sensitive */
    /* malformed anywhere: nothing matches, the client gets the full answer */
    assert_false(hits(TAG " junk"));
    assert_false(hits(TAG ", \"open"));
    assert_false(hits(TAG "\"x\""));
    assert_false(hits("**"));
    assert_false(hits("*, " TAG));
    assert_false(hits("\"a\"b\", " TAG));
    assert_false(hits("\"sp ace\", " TAG)); /* a space is no etagc */
    assert_false(etag_none_match_hits(STR_NULL, str_from_cstr(TAG)));
}

static void test_header_limit(void **state)
{
    (void)state;
    static char h[ETAG_MAX_HEADER + 2];
    size_t tag_len = strlen(TAG);
    /* exactly at the limit: spaces then the tag still match */
    memset(h, ' ', ETAG_MAX_HEADER);
    memcpy(h + ETAG_MAX_HEADER - tag_len, TAG, tag_len);
    h[ETAG_MAX_HEADER] = '\0';
    assert_true(hits(h));
    /* one byte past it: ignored */
    memset(h, ' ', ETAG_MAX_HEADER + 1);
    memcpy(h + ETAG_MAX_HEADER + 1 - tag_len, TAG, tag_len);
    h[ETAG_MAX_HEADER + 1] = '\0';
    assert_false(hits(h));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tag_of_body),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_misses),
        cmocka_unit_test(test_header_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
