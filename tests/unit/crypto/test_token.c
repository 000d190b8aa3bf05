/*
 * Unit tests for crypto/token: tokens (format, round trip, uniqueness, hash
 * mismatch, input limit) and codes (alphabet, length, case, limit, the
 * distribution of characters, domain separation from token hashes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/token.h"

#define N_UNIQUE 1000

static bool b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static void test_token_round_trip(void **state)
{
    char t[TOKEN_TEXT_LEN + 1];
    unsigned char h[SHA256_LEN], h2[SHA256_LEN];
    assert_int_equal(token_new(t, h), ERR_OK);
    assert_int_equal(strlen(t), TOKEN_TEXT_LEN);
    for (size_t i = 0; i < TOKEN_TEXT_LEN; i++)
        assert_true(b64url(t[i]));
    assert_int_equal(token_hash(str_from_cstr(t), h2), ERR_OK);
    assert_true(token_equal_hash(h, h2));
    /* the stored hash is SHA-256 of the text, not the text */
    unsigned char want[SHA256_LEN];
    sha256(t, TOKEN_TEXT_LEN, want);
    assert_memory_equal(h, want, SHA256_LEN);
    assert_memory_not_equal(h, t, SHA256_LEN);
}

static int cmp_tokens(const void *a, const void *b)
{
    return memcmp(a, b, TOKEN_TEXT_LEN);
}

static void test_token_unique(void **state)
{
    char(*t)[TOKEN_TEXT_LEN + 1] = calloc(N_UNIQUE, sizeof(*t));
    assert_non_null(t);
    unsigned char h[SHA256_LEN];
    for (size_t i = 0; i < N_UNIQUE; i++)
        assert_int_equal(token_new(t[i], h), ERR_OK);
    qsort(t, N_UNIQUE, sizeof(*t), cmp_tokens);
    for (size_t i = 1; i < N_UNIQUE; i++)
        assert_string_not_equal(t[i - 1], t[i]);
    free(t);
}

static void test_token_mismatch(void **state)
{
    char t[TOKEN_TEXT_LEN + 1];
    unsigned char h[SHA256_LEN], h2[SHA256_LEN];
    assert_int_equal(token_new(t, h), ERR_OK);
    t[TOKEN_TEXT_LEN - 1] = t[TOKEN_TEXT_LEN - 1] == 'A' ? 'B' : 'A';
    assert_int_equal(token_hash(str_from_cstr(t), h2), ERR_OK);
    assert_false(token_equal_hash(h, h2));
    /* a prefix is another token */
    assert_int_equal(token_hash(str_from(t, TOKEN_TEXT_LEN - 1), h2), ERR_OK);
    assert_false(token_equal_hash(h, h2));
}

static void test_token_input_limits(void **state)
{
    char in[TOKEN_MAX_INPUT + 1];
    unsigned char h[SHA256_LEN];
    memset(in, 'a', sizeof(in));
    assert_int_equal(token_hash(str_from(in, TOKEN_MAX_INPUT), h), ERR_OK);
    assert_int_equal(token_hash(str_from(in, TOKEN_MAX_INPUT + 1), h), ERR_LIMIT);
    assert_int_equal(token_hash(STR_NULL, h), ERR_INVALID);
    /* only base64url characters: padding, the standard alphabet and spaces are refused */
    static const char *const bad[] = {"abc=", "ab+c", "ab/c", "ab c", "ab%2F", "ab\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(token_hash(str_from_cstr(bad[i]), h), ERR_INVALID);
    assert_int_equal(token_hash(str_from("ab\0c", 4), h), ERR_INVALID);
}

static void test_code_alphabet_and_length(void **state)
{
    static const char alphabet[] = TOKEN_CODE_ALPHABET;
    assert_int_equal(strlen(alphabet), 32);
    /* no look-alikes */
    assert_null(strpbrk(alphabet, "01IOabcdefghijklmnopqrstuvwxyz"));
    size_t counts[32] = {0};
    char code[TOKEN_CODE_LEN + 1];
    unsigned char h[SHA256_LEN], h2[SHA256_LEN];
    const size_t rounds = 4000;
    for (size_t r = 0; r < rounds; r++) {
        assert_int_equal(token_code_new(code, h), ERR_OK);
        assert_int_equal(strlen(code), TOKEN_CODE_LEN);
        for (size_t i = 0; i < TOKEN_CODE_LEN; i++) {
            const char *p = strchr(alphabet, code[i]);
            assert_non_null(p);
            counts[p - alphabet]++;
        }
        if (r < 50) {
            assert_int_equal(token_code_hash(str_from_cstr(code), h2), ERR_OK);
            assert_true(token_equal_hash(h, h2));
        }
    }
    /* every character appears, none far from the mean of 1000 (a loose bound: no flakes) */
    for (size_t i = 0; i < 32; i++) {
        assert_true(counts[i] > 700);
        assert_true(counts[i] < 1300);
    }
}

static void test_code_hash(void **state)
{
    unsigned char h[SHA256_LEN], lower[SHA256_LEN], other[SHA256_LEN], tok[SHA256_LEN];
    assert_int_equal(token_code_hash(STR_LIT("ABCD2345"), h), ERR_OK);
    assert_int_equal(token_code_hash(STR_LIT("abcd2345"), lower), ERR_OK);
    assert_true(token_equal_hash(h, lower)); /* typed in either case */
    assert_int_equal(token_code_hash(STR_LIT("ABCD2346"), other), ERR_OK);
    assert_false(token_equal_hash(h, other));
    /* a code's hash never equals the token hash of the same text */
    assert_int_equal(token_hash(STR_LIT("ABCD2345"), tok), ERR_OK);
    assert_false(token_equal_hash(h, tok));

    assert_int_equal(token_code_hash(STR_LIT("ABCD234"), h), ERR_INVALID);   /* one short */
    assert_int_equal(token_code_hash(STR_LIT("ABCD23456"), h), ERR_INVALID); /* one long */
    assert_int_equal(token_code_hash(STR_LIT("ABCD2340"), h), ERR_INVALID);  /* 0 */
    assert_int_equal(token_code_hash(STR_LIT("ABCD234O"), h), ERR_INVALID);  /* O */
    assert_int_equal(token_code_hash(STR_LIT("ABCD234i"), h), ERR_INVALID);  /* i */
    assert_int_equal(token_code_hash(STR_LIT("ABCD-234"), h), ERR_INVALID);
    assert_int_equal(token_code_hash(str_from("ABCD234\0", 8), h), ERR_INVALID);
    assert_int_equal(token_code_hash(STR_NULL, h), ERR_INVALID);
    char in[TOKEN_MAX_INPUT + 1];
    memset(in, 'A', sizeof(in));
    assert_int_equal(token_code_hash(str_from(in, TOKEN_MAX_INPUT), h), ERR_INVALID);
    assert_int_equal(token_code_hash(str_from(in, TOKEN_MAX_INPUT + 1), h), ERR_LIMIT);
}

static void test_equal_hash(void **state)
{
    unsigned char a[SHA256_LEN], b[SHA256_LEN];
    memset(a, 0x5a, sizeof(a));
    memcpy(b, a, sizeof(b));
    assert_true(token_equal_hash(a, b));
    b[0] ^= 1;
    assert_false(token_equal_hash(a, b));
    b[0] ^= 1;
    b[SHA256_LEN - 1] ^= 0x80;
    assert_false(token_equal_hash(a, b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_round_trip),
        cmocka_unit_test(test_token_unique),
        cmocka_unit_test(test_token_mismatch),
        cmocka_unit_test(test_token_input_limits),
        cmocka_unit_test(test_code_alphabet_and_length),
        cmocka_unit_test(test_code_hash),
        cmocka_unit_test(test_equal_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
