/*
 * Unit tests for crypto/hash: SHA-256 and HMAC-SHA-256 against published
 * vectors, the streaming context, constant-time comparison and wiping.
 *
 * Sources of the vectors:
 *  - SHA-256 "abc": FIPS 180-2, Appendix B.1 (one-block message).
 *  - SHA-256 of the empty string: the well-known value, as listed with the
 *    FIPS 180-2 examples in test suites (e.g. Chromium crypto/sha2_unittest.cc).
 *  - HMAC-SHA-256: RFC 4231 section 4.2 (Test Case 1) and 4.3 (Test Case 2),
 *    the latter also fed to hmac_sha256_parts in pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/hash.h"
#include "crypto/rand.h"

static void expect_hex(const unsigned char *got, size_t n, const char *hex)
{
    char buf[2 * 64 + 1];
    assert_true(n <= 64);
    hex_encode(got, n, buf);
    assert_string_equal(buf, hex);
}

static void test_sha256_fips180_2(void **state)
{
    unsigned char d[SHA256_LEN];
    sha256("abc", 3, d);
    expect_hex(d, sizeof(d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256("", 0, d);
    expect_hex(d, sizeof(d), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256(NULL, 0, d); /* an empty input may come without a pointer */
    expect_hex(d, sizeof(d), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_sha256_streaming(void **state)
{
    /* FIPS 180-2 B.2, two-block message, fed in uneven pieces. */
    static const char msg[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char want[] = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
    unsigned char d[SHA256_LEN], one[SHA256_LEN];
    struct sha256_ctx c;
    sha256_ctx_init(&c);
    for (int round = 0; round < 2; round++) { /* the context is reusable */
        sha256_begin(&c);
        size_t len = strlen(msg);
        for (size_t i = 0; i < len; i += 7)
            sha256_update(&c, msg + i, len - i < 7 ? len - i : 7);
        sha256_update(&c, NULL, 0);
        sha256_end(&c, d);
        expect_hex(d, sizeof(d), want);
    }
    sha256(msg, strlen(msg), one);
    assert_memory_equal(d, one, SHA256_LEN);
    sha256_ctx_free(&c);
    assert_null(c.md);
}

static void test_hmac_rfc4231(void **state)
{
    unsigned char mac[SHA256_LEN];
    unsigned char key1[20];
    memset(key1, 0x0b, sizeof(key1));
    hmac_sha256(key1, sizeof(key1), "Hi There", 8, mac);
    expect_hex(mac, sizeof(mac),
               "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    static const char data2[] = "what do ya want for nothing?";
    hmac_sha256("Jefe", 4, data2, strlen(data2), mac);
    expect_hex(mac, sizeof(mac),
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_hmac_empty_key_and_data(void **state)
{
    /* Not a published vector: only that empty inputs work and differ from non-empty. */
    unsigned char a[SHA256_LEN], b[SHA256_LEN];
    hmac_sha256(NULL, 0, NULL, 0, a);
    hmac_sha256("k", 1, NULL, 0, b);
    assert_memory_not_equal(a, b, SHA256_LEN);
}

/* The multi-part HMAC equals the one-shot over the concatenation (RFC 4231 case 2). */
static void test_hmac_parts(void **state)
{
    unsigned char mac[SHA256_LEN], one[SHA256_LEN];
    const struct str parts[] = {STR_LIT("what do ya"), STR_NULL, STR_LIT(" want "),
                                STR_LIT("for nothing?")};
    hmac_sha256_parts("Jefe", 4, parts, sizeof parts / sizeof parts[0], mac);
    expect_hex(mac, sizeof(mac),
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    hmac_sha256_parts("Jefe", 4, parts, 0, mac); /* no parts: the empty message */
    hmac_sha256("Jefe", 4, NULL, 0, one);
    assert_memory_equal(mac, one, SHA256_LEN);
}

static void test_crypto_equal_and_wipe(void **state)
{
    unsigned char a[32], b[32];
    memset(a, 0x5a, sizeof(a));
    memcpy(b, a, sizeof(b));
    assert_true(crypto_equal(a, b, sizeof(a)));
    assert_true(crypto_equal(a, b, 0));
    for (size_t i = 0; i < sizeof(a); i++) {
        b[i] ^= 0x01;
        assert_false(crypto_equal(a, b, sizeof(a)));
        b[i] ^= 0x01;
    }
    crypto_wipe(a, sizeof(a));
    static const unsigned char zero[32];
    assert_memory_equal(a, zero, sizeof(zero));
    crypto_wipe(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_fips180_2), cmocka_unit_test(test_sha256_streaming),
        cmocka_unit_test(test_hmac_rfc4231),     cmocka_unit_test(test_hmac_empty_key_and_data),
        cmocka_unit_test(test_hmac_parts),       cmocka_unit_test(test_crypto_equal_and_wipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
