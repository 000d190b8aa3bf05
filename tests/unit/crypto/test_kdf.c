/*
 * Unit tests for crypto/kdf: HKDF-SHA256 against RFC 5869 Appendix A,
 * test cases 1, 2 and 3 (A.1-A.3), PRK and OKM, plus the limits.
 * Vectors: RFC 5869, "HMAC-based Extract-and-Expand Key Derivation Function
 * (HKDF)", Krawczyk & Eronen, May 2010, Appendix A.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/kdf.h"
#include "crypto/rand.h"

struct hkdf_vector {
    const char *name, *ikm, *salt, *info, *prk, *okm;
};

static const struct hkdf_vector vectors[] = {
    {"A.1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
     "f0f1f2f3f4f5f6f7f8f9", "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
    {"A.2",
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
     "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
     "404142434445464748494a4b4c4d4e4f",
     "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
     "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
     "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
     "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
     "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
     "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
     "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
     "cc30c58179ec3e87c14c01d5c1f3434f1d87"},
    {"A.3", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
};

/* Decodes hex into a fresh allocation (at least 1 byte); *n gets the length. */
static unsigned char *unhex(const char *hex, size_t *n)
{
    size_t len = strlen(hex);
    *n = len / 2;
    unsigned char *out = malloc(*n ? *n : 1);
    assert_non_null(out);
    assert_int_equal(hex_decode(hex, len, out, *n), ERR_OK);
    return out;
}

static void test_rfc5869_sha256(void **state)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const struct hkdf_vector *v = &vectors[i];
        size_t ikm_n, salt_n, info_n, prk_n, okm_n;
        unsigned char *ikm = unhex(v->ikm, &ikm_n), *salt = unhex(v->salt, &salt_n),
                      *info = unhex(v->info, &info_n), *prk = unhex(v->prk, &prk_n),
                      *okm = unhex(v->okm, &okm_n);
        unsigned char got_prk[HKDF_PRK_LEN], got[128];
        assert_true(okm_n <= sizeof(got));

        /* the empty salt of A.3 passed both as (ptr, 0) and as (NULL, 0) */
        assert_int_equal(hkdf_sha256_extract(ikm, ikm_n, salt_n ? salt : NULL, salt_n, got_prk),
                         ERR_OK);
        assert_memory_equal(got_prk, prk, HKDF_PRK_LEN);
        assert_int_equal(hkdf_sha256_extract(ikm, ikm_n, salt, salt_n, got_prk), ERR_OK);
        assert_memory_equal(got_prk, prk, HKDF_PRK_LEN);

        assert_int_equal(hkdf_sha256_expand(got_prk, info, info_n, got, okm_n), ERR_OK);
        assert_memory_equal(got, okm, okm_n);

        memset(got, 0, sizeof(got));
        assert_int_equal(hkdf_sha256(ikm, ikm_n, salt_n ? salt : NULL, salt_n, info_n ? info : NULL,
                                     info_n, got, okm_n),
                         ERR_OK);
        assert_memory_equal(got, okm, okm_n);
        free(ikm), free(salt), free(info), free(prk), free(okm);
    }
}

static void test_limits(void **state)
{
    static unsigned char out[HKDF_MAX_OUT + 1];
    assert_int_equal(hkdf_sha256("k", 1, NULL, 0, NULL, 0, out, HKDF_MAX_OUT), ERR_OK);
    assert_int_equal(hkdf_sha256("k", 1, NULL, 0, NULL, 0, out, HKDF_MAX_OUT + 1), ERR_INVALID);
    assert_int_equal(hkdf_sha256("k", 1, NULL, 0, NULL, 0, out, 0), ERR_INVALID);
    assert_int_equal(hkdf_sha256(NULL, 1, NULL, 0, NULL, 0, out, 32), ERR_INVALID);
}

static void test_info_separates(void **state)
{
    unsigned char a[32], b[32], a2[32];
    assert_int_equal(hkdf_sha256("ikm", 3, "salt", 4, "purpose/a", 9, a, 32), ERR_OK);
    assert_int_equal(hkdf_sha256("ikm", 3, "salt", 4, "purpose/b", 9, b, 32), ERR_OK);
    assert_int_equal(hkdf_sha256("ikm", 3, "salt", 4, "purpose/a", 9, a2, 32), ERR_OK);
    assert_memory_not_equal(a, b, 32);
    assert_memory_equal(a, a2, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5869_sha256),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_info_separates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
