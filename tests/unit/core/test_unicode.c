/*
 * Unit tests for core/unicode: validation, NFC normalization, code point
 * counting and the input limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/unicode.h"

/* NFC of in, which must succeed, compared with want. */
static void assert_nfc(struct str in, const char *want)
{
    struct buf out = BUF_INIT(4096);
    assert_int_equal(utf8_nfc(in, &out), ERR_OK);
    assert_int_equal(out.len, strlen(want));
    assert_string_equal(buf_cstr(&out), want);
    buf_release(&out);
}

static void test_nfc_composes(void **state)
{
    assert_nfc(STR_LIT("caf\x65\xcc\x81"), "caf\xc3\xa9"); /* e + U+0301 -> é */
    assert_nfc(STR_LIT("caf\xc3\xa9"), "caf\xc3\xa9");     /* already NFC */
    assert_nfc(STR_LIT("\xe2\x84\xaa"), "K");              /* KELVIN SIGN -> K */
    assert_nfc(STR_LIT("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8"), "\xea\xb0\x81"); /* jamo -> 각 */
    assert_nfc(STR_LIT("plain ascii"), "plain ascii");
    assert_nfc(STR_LIT(""), "");
    /* NFC is not NFKC: fullwidth letters and ligatures stay as they are */
    assert_nfc(STR_LIT("\xef\xbc\xa1\xef\xac\x81"), "\xef\xbc\xa1\xef\xac\x81");
    /* combining marks are put in canonical order: dot below (220) before acute (230) */
    assert_nfc(STR_LIT("q\xcc\x81\xcc\xa3"), "q\xcc\xa3\xcc\x81");
    /* an embedded NUL is a code point like any other */
    struct buf out = BUF_INIT(16);
    assert_int_equal(utf8_nfc(str_from("a\0b", 3), &out), ERR_OK);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "a\0b", 3);
    buf_release(&out);
}

static void test_nfc_appends(void **state)
{
    struct buf out = BUF_INIT_SECRET(64);
    assert_int_equal(buf_puts(&out, "x:"), ERR_OK);
    assert_int_equal(utf8_nfc(STR_LIT("e\xcc\x81"), &out), ERR_OK);
    assert_string_equal(buf_cstr(&out), "x:\xc3\xa9");
    buf_wipe(&out);
}

static void test_invalid_utf8(void **state)
{
    static const char *const bad[] = {
        "\x80",             /* lone continuation byte */
        "\xc3",             /* truncated 2-byte sequence */
        "\xe2\x82",         /* truncated 3-byte sequence */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong 3-byte */
        "\xed\xa0\x80",     /* surrogate U+D800 */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xff",             /* never valid */
        "ok\xfe",           /* good start, bad end */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct str s = str_from_cstr(bad[i]);
        assert_false(utf8_valid(s));
        struct buf out = BUF_INIT(64);
        assert_int_equal(buf_puts(&out, "keep"), ERR_OK);
        assert_int_equal(utf8_nfc(s, &out), ERR_INVALID);
        assert_string_equal(buf_cstr(&out), "keep"); /* unchanged */
        buf_release(&out);
    }
    assert_true(utf8_valid(STR_LIT("\xf4\x8f\xbf\xbf"))); /* U+10FFFF */
    assert_true(utf8_valid(STR_NULL));
}

static void test_limits(void **state)
{
    char *big = malloc(UNICODE_MAX_INPUT + 1);
    assert_non_null(big);
    memset(big, 'a', UNICODE_MAX_INPUT + 1);
    struct buf out = BUF_INIT(UNICODE_MAX_INPUT);
    assert_int_equal(utf8_nfc(str_from(big, UNICODE_MAX_INPUT), &out), ERR_OK);
    assert_int_equal(out.len, UNICODE_MAX_INPUT);
    buf_reset(&out);
    assert_int_equal(utf8_nfc(str_from(big, UNICODE_MAX_INPUT + 1), &out), ERR_LIMIT);
    assert_int_equal(out.len, 0);
    buf_release(&out);

    /* the output's cap is honoured: "é" decomposed (3 bytes) composes to 2, "क़" grows to 6 */
    struct buf small = BUF_INIT(2);
    assert_int_equal(utf8_nfc(STR_LIT("e\xcc\x81"), &small), ERR_OK);
    buf_reset(&small);
    assert_int_equal(utf8_nfc(STR_LIT("\xe0\xa5\x98"), &small), ERR_LIMIT);
    assert_int_equal(small.len, 0);
    buf_release(&small);
    assert_nfc(STR_LIT("\xe0\xa5\x98"), "\xe0\xa4\x95\xe0\xa4\xbc"); /* composition exclusion */
    free(big);
}

static void test_codepoints(void **state)
{
    assert_int_equal(utf8_codepoints(STR_NULL), 0);
    assert_int_equal(utf8_codepoints(STR_LIT("abc")), 3);
    assert_int_equal(utf8_codepoints(STR_LIT("caf\xc3\xa9")), 4);              /* 2-byte */
    assert_int_equal(utf8_codepoints(STR_LIT("\xe2\x82\xac\xe2\x82\xac")), 2); /* 3-byte € */
    assert_int_equal(utf8_codepoints(STR_LIT("\xf0\x9f\x94\x91")), 1);         /* 4-byte 🔑 */
    assert_int_equal(utf8_codepoints(STR_LIT("e\xcc\x81")), 2); /* not normalized: 2 */
    assert_int_equal(utf8_codepoints(str_from("\0\0", 2)), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nfc_composes), cmocka_unit_test(test_nfc_appends),
        cmocka_unit_test(test_invalid_utf8), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_codepoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
