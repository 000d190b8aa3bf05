/*
 * Unit tests for core/base64's base64url (RFC 4648 §5, no padding): the
 * RFC's test vectors both ways, the strict decoder's refusals (alphabet,
 * padding, length, trailing bits) and its cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/base64.h"

/* RFC 4648 §10 vectors, without the padding base64url leaves out. */
static const char *const vectors[][2] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static void test_encode_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        struct buf out = BUF_INIT(64);
        assert_int_equal(base64url_encode(&out, vectors[i][0], strlen(vectors[i][0])), ERR_OK);
        assert_int_equal(out.len, strlen(vectors[i][1]));
        assert_int_equal(out.len, BASE64URL_LEN(strlen(vectors[i][0])));
        assert_memory_equal(buf_cstr(&out), vectors[i][1], out.len);
        buf_release(&out);
    }
}

static void test_url_alphabet(void **state)
{
    (void)state;
    const unsigned char data[] = {0xfb, 0xff, 0xbf};
    struct buf out = BUF_INIT(16);
    assert_int_equal(base64url_encode(&out, data, sizeof data), ERR_OK);
    assert_string_equal(buf_cstr(&out), "-_-_"); /* standard base64: "+/+/" */
    buf_release(&out);

    unsigned char got[8];
    size_t n;
    assert_int_equal(base64url_decode(STR_LIT("-_-_"), got, sizeof got, &n), ERR_OK);
    assert_int_equal(n, sizeof data);
    assert_memory_equal(got, data, sizeof data);
}

static void test_decode_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        unsigned char got[16];
        size_t n = 99;
        struct str in = str_from_cstr(vectors[i][1]);
        assert_true(base64url_valid(in));
        assert_int_equal(base64url_decode(in, got, sizeof got, &n), ERR_OK);
        assert_int_equal(n, strlen(vectors[i][0]));
        assert_memory_equal(got, vectors[i][0], n);
    }
}

static void test_decode_refusals(void **state)
{
    (void)state;
    unsigned char got[16];
    size_t n;
    static const char *const bad[] = {
        "Zg==",   /* padding */
        "Zm9v+A", /* standard alphabet */
        "Zm9v/A", /* standard alphabet */
        "Zm 9v",  /* whitespace */
        "Zm9vY",  /* length 1 mod 4 */
        "Zh",     /* non-zero unused bits ("f" is "Zg") */
        "Zm9",    /* non-zero unused bits ("fo" is "Zm8") */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 99;
        assert_int_equal(base64url_decode(str_from_cstr(bad[i]), got, sizeof got, &n), ERR_INVALID);
        assert_int_equal(n, 0);
    }
    assert_false(base64url_valid(STR_LIT("Zg==")));
    assert_false(base64url_valid(STR_LIT("Zm9vY")));
    assert_true(base64url_valid(STR_LIT("Zh"))); /* trailing bits are the decoder's check */
}

static void test_decode_cap(void **state)
{
    (void)state;
    unsigned char got[6];
    size_t n;
    assert_int_equal(base64url_decode(STR_LIT("Zm9vYmFy"), got, 6, &n), ERR_OK);
    assert_int_equal(n, 6);
    /* one byte past the cap */
    memset(got, 0xaa, sizeof got);
    assert_int_equal(base64url_decode(STR_LIT("Zm9vYmFy"), got, 5, &n), ERR_LIMIT);
    assert_int_equal(n, 0);
    assert_int_equal(got[0], 0xaa); /* nothing written */
    assert_int_equal(base64url_decode(STR_LIT("Zm9vYmE"), got, 5, &n), ERR_OK);
    assert_int_equal(n, 5);
}

static void test_round_trip(void **state)
{
    (void)state;
    unsigned char data[256], back[256];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof data; len += 17) {
        struct buf out = BUF_INIT(512);
        assert_int_equal(base64url_encode(&out, data, len), ERR_OK);
        size_t n;
        assert_int_equal(base64url_decode(str_from(buf_cstr(&out), out.len), back, len, &n),
                         ERR_OK);
        assert_int_equal(n, len);
        assert_memory_equal(back, data, len);
        buf_release(&out);
    }
}

static void test_encode_cap(void **state)
{
    (void)state;
    struct buf out = BUF_INIT(3);
    assert_int_equal(base64url_encode(&out, "foob", 4), ERR_LIMIT); /* needs 6 */
    buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_vectors), cmocka_unit_test(test_url_alphabet),
        cmocka_unit_test(test_decode_vectors), cmocka_unit_test(test_decode_refusals),
        cmocka_unit_test(test_decode_cap),     cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encode_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
