/*
 * Unit tests for crypto/sign: Ed25519 against RFC 8032 section 7.1, TEST 1
 * (empty message) and TEST 2 (one byte, 0x72): the secret key is the 32-byte
 * seed, then the public key and the signature. Vectors: RFC 8032, "Edwards-
 * Curve Digital Signature Algorithm (EdDSA)", Josefsson & Liusvaara, 2017.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/rand.h"
#include "crypto/sign.h"

struct ed25519_vector {
    const char *name, *seed, *pub, *msg, *sig;
};

static const struct ed25519_vector vectors[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
};

static void test_rfc8032_vectors(void **state)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const struct ed25519_vector *v = &vectors[i];
        unsigned char seed[SIGN_SEED_LEN], pub[SIGN_PUBLIC_LEN], sig[SIGN_SIG_LEN], msg[1];
        size_t msg_len = strlen(v->msg) / 2;
        assert_int_equal(hex_decode(v->seed, 64, seed, sizeof(seed)), ERR_OK);
        assert_int_equal(hex_decode(v->pub, 64, pub, sizeof(pub)), ERR_OK);
        assert_int_equal(hex_decode(v->sig, 128, sig, sizeof(sig)), ERR_OK);
        assert_int_equal(hex_decode(v->msg, 2 * msg_len, msg, msg_len), ERR_OK);

        struct sign_key k;
        assert_int_equal(sign_key_from_seed(seed, &k), ERR_OK);
        assert_memory_equal(k.pub, pub, SIGN_PUBLIC_LEN);
        assert_memory_equal(k.seed, seed, SIGN_SEED_LEN);

        unsigned char got[SIGN_SIG_LEN];
        assert_int_equal(sign_ed25519(&k, msg_len ? msg : NULL, msg_len, got), ERR_OK);
        assert_memory_equal(got, sig, SIGN_SIG_LEN); /* Ed25519 is deterministic */
        assert_true(sign_verify_ed25519(pub, msg, msg_len, sig));

        sign_key_wipe(&k);
        static const struct sign_key zero;
        assert_memory_equal(&k, &zero, sizeof(zero));
    }
}

static void test_seed_may_alias_key(void **state)
{
    struct sign_key k;
    assert_int_equal(hex_decode(vectors[1].seed, 64, k.seed, SIGN_SEED_LEN), ERR_OK);
    assert_int_equal(sign_key_from_seed(k.seed, &k), ERR_OK);
    unsigned char pub[SIGN_PUBLIC_LEN];
    assert_int_equal(hex_decode(vectors[1].pub, 64, pub, sizeof(pub)), ERR_OK);
    assert_memory_equal(k.pub, pub, sizeof(pub));
    sign_key_wipe(&k);
}

static void test_round_trip_and_tampering(void **state)
{
    unsigned char seed[SIGN_SEED_LEN];
    assert_int_equal(rand_bytes(seed, sizeof(seed)), ERR_OK);
    struct sign_key k;
    assert_int_equal(sign_key_from_seed(seed, &k), ERR_OK);
    char msg[] = "checkpoint tenant=7 seq=1234 head=abcdef";
    size_t len = strlen(msg);
    unsigned char sig[SIGN_SIG_LEN];
    assert_int_equal(sign_ed25519(&k, msg, len, sig), ERR_OK);
    assert_true(sign_verify_ed25519(k.pub, msg, len, sig));

    /* every byte of the message and of the signature matters */
    for (size_t i = 0; i < len; i++) {
        msg[i] ^= 0x01;
        assert_false(sign_verify_ed25519(k.pub, msg, len, sig));
        msg[i] ^= 0x01;
    }
    for (size_t i = 0; i < SIGN_SIG_LEN; i++) {
        sig[i] ^= 0x20;
        assert_false(sign_verify_ed25519(k.pub, msg, len, sig));
        sig[i] ^= 0x20;
    }
    assert_false(sign_verify_ed25519(k.pub, msg, len - 1, sig));

    /* another key's public key does not verify it */
    struct sign_key other;
    seed[0] ^= 0x01;
    assert_int_equal(sign_key_from_seed(seed, &other), ERR_OK);
    assert_memory_not_equal(other.pub, k.pub, SIGN_PUBLIC_LEN);
    assert_false(sign_verify_ed25519(other.pub, msg, len, sig));
    assert_true(sign_verify_ed25519(k.pub, msg, len, sig));
    sign_key_wipe(&k);
    sign_key_wipe(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8032_vectors),
        cmocka_unit_test(test_seed_may_alias_key),
        cmocka_unit_test(test_round_trip_and_tampering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
