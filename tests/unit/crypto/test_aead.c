/*
 * Unit tests for crypto/aead: AES-256-GCM known answers and the envelope.
 *
 * Vectors: "The Galois/Counter Mode of Operation (GCM)", D. McGrew and
 * J. Viega, revised specification submitted to NIST (gcm-revised-spec.pdf),
 * Appendix B, Test Cases 13-16 (256-bit key; 16 has AAD). Transcribed from the
 * spec as listed, e.g., in NSS gtests/common/testvectors/gcm-vectors.h.
 * The expected value is C || T, split below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/aead.h"
#include "crypto/rand.h"

#define K0 "0000000000000000000000000000000000000000000000000000000000000000"
#define KF "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
#define P64                                                                                        \
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"                             \
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
#define P60                                                                                        \
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"                             \
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"

struct gcm_vector {
    int number;
    const char *key, *iv, *pt, *aad, *ct_tag;
};

static const struct gcm_vector vectors[] = {
    {13, K0, "000000000000000000000000", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {14, K0, "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"},
    {15, KF, "cafebabefacedbaddecaf888", P64, "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
     "b094dac5d93471bdec1a502270e3cc6c"},
    {16, KF, "cafebabefacedbaddecaf888", P60, "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

static unsigned char *unhex(const char *hex, size_t *n)
{
    size_t len = strlen(hex);
    *n = len / 2;
    unsigned char *out = malloc(*n ? *n : 1);
    assert_non_null(out);
    assert_int_equal(hex_decode(hex, len, out, *n), ERR_OK);
    return out;
}

static void test_gcm_spec_vectors(void **state)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const struct gcm_vector *v = &vectors[i];
        size_t key_n, iv_n, pt_n, aad_n, ct_tag_n;
        unsigned char *key = unhex(v->key, &key_n), *iv = unhex(v->iv, &iv_n),
                      *pt = unhex(v->pt, &pt_n), *aad = unhex(v->aad, &aad_n),
                      *ct_tag = unhex(v->ct_tag, &ct_tag_n);
        assert_int_equal(key_n, AEAD_KEY_LEN);
        assert_int_equal(iv_n, AEAD_NONCE_LEN);
        assert_int_equal(ct_tag_n, pt_n + AEAD_TAG_LEN);

        unsigned char ct[64], tag[AEAD_TAG_LEN], back[64];
        assert_int_equal(aead_seal(key, iv, aad, aad_n, pt, pt_n, ct, tag), ERR_OK);
        assert_memory_equal(ct, ct_tag, pt_n);
        assert_memory_equal(tag, ct_tag + pt_n, AEAD_TAG_LEN);

        memset(back, 0xee, sizeof(back));
        assert_int_equal(aead_open(key, iv, aad, aad_n, ct_tag, pt_n, ct_tag + pt_n, back), ERR_OK);
        if (pt_n)
            assert_memory_equal(back, pt, pt_n);

        /* a wrong tag: ERR_CRYPTO and the output zeroed */
        unsigned char bad[AEAD_TAG_LEN];
        memcpy(bad, ct_tag + pt_n, AEAD_TAG_LEN);
        bad[AEAD_TAG_LEN - 1] ^= 0x01;
        memset(back, 0xee, sizeof(back));
        assert_int_equal(aead_open(key, iv, aad, aad_n, ct_tag, pt_n, bad, back), ERR_CRYPTO);
        static const unsigned char zero[64];
        if (pt_n)
            assert_memory_equal(back, zero, pt_n);
        free(key), free(iv), free(pt), free(aad), free(ct_tag);
    }
}

static const unsigned char test_key[AEAD_KEY_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                                     12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                                     23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const unsigned char test_key_id[ENVELOPE_KEY_ID_LEN] = {0xa1, 0xb2, 0xc3, 0xd4,
                                                               0xe5, 0xf6, 0x07, 0x18};
static const char test_aad[] = "tenant=1|purpose=webhook|id=42";

static void seal(const void *pt, size_t len, struct buf *out)
{
    assert_int_equal(envelope_seal(test_key, test_key_id, test_aad, strlen(test_aad), pt, len, out),
                     ERR_OK);
}

/* Opens data as an envelope with the test key and AAD into out. */
static enum err open_bytes(const unsigned char *key, const void *data, size_t len, const char *aad,
                           struct buf *out)
{
    struct envelope env;
    enum err e = envelope_parse(data, len, &env);
    if (e)
        return e;
    return envelope_open(key, &env, aad, strlen(aad), out);
}

static void test_envelope_round_trip(void **state)
{
    static const size_t lens[] = {0, 1, 15, 16, 17, 100, 4096};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        unsigned char *pt = malloc(lens[i] + 1);
        assert_non_null(pt);
        for (size_t j = 0; j < lens[i]; j++)
            pt[j] = (unsigned char)(j * 7 + 3);
        struct buf env = BUF_INIT(ENVELOPE_OVERHEAD + ENVELOPE_MAX_PLAIN);
        seal(pt, lens[i], &env);
        assert_int_equal(env.len, ENVELOPE_OVERHEAD + lens[i]);

        struct envelope parsed;
        assert_int_equal(envelope_parse(env.data, env.len, &parsed), ERR_OK);
        assert_int_equal(parsed.version, ENVELOPE_VERSION);
        assert_memory_equal(parsed.key_id, test_key_id, ENVELOPE_KEY_ID_LEN);
        assert_int_equal(parsed.ct_len, lens[i]);
        assert_ptr_equal(parsed.nonce, (unsigned char *)env.data + 9);
        assert_ptr_equal(parsed.ct, (unsigned char *)env.data + ENVELOPE_HEADER_LEN);
        assert_ptr_equal(parsed.tag, (unsigned char *)env.data + ENVELOPE_HEADER_LEN + lens[i]);

        struct buf out = BUF_INIT(ENVELOPE_MAX_PLAIN);
        assert_int_equal(envelope_open(test_key, &parsed, test_aad, strlen(test_aad), &out),
                         ERR_OK);
        assert_int_equal(out.len, lens[i]);
        if (lens[i])
            assert_memory_equal(out.data, pt, lens[i]);
        buf_wipe(&out);
        buf_release(&env);
        free(pt);
    }
}

static void test_envelope_appends(void **state)
{
    struct buf env = BUF_INIT(1024);
    assert_int_equal(buf_puts(&env, "xy"), ERR_OK);
    seal("secret", 6, &env);
    assert_int_equal(env.len, 2 + ENVELOPE_OVERHEAD + 6);
    assert_memory_equal(env.data, "xy", 2);

    struct buf out = BUF_INIT(64);
    assert_int_equal(buf_puts(&out, "pre:"), ERR_OK);
    assert_int_equal(open_bytes(test_key, env.data + 2, env.len - 2, test_aad, &out), ERR_OK);
    assert_string_equal(buf_cstr(&out), "pre:secret");

    /* an out buffer too small to take the plaintext: ERR_LIMIT, unchanged */
    struct buf small = BUF_INIT(5);
    assert_int_equal(open_bytes(test_key, env.data + 2, env.len - 2, test_aad, &small), ERR_LIMIT);
    assert_int_equal(small.len, 0);
    buf_wipe(&out);
    buf_release(&small);
    buf_release(&env);
}

/* Every byte of a small envelope, each bit: never opens, out stays as it was. */
static void test_envelope_any_flipped_bit_fails(void **state)
{
    struct buf env = BUF_INIT(1024);
    seal("hunter2", 7, &env);
    unsigned char *copy = malloc(env.len);
    assert_non_null(copy);
    struct buf out = BUF_INIT(1024);
    assert_int_equal(buf_puts(&out, "keep"), ERR_OK);
    for (size_t i = 0; i < env.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, env.data, env.len);
            copy[i] ^= (unsigned char)(1u << bit);
            enum err e = open_bytes(test_key, copy, env.len, test_aad, &out);
            if (i == 0)
                assert_int_equal(e, ERR_INVALID); /* the version byte */
            else
                assert_int_equal(e, ERR_CRYPTO);
            assert_string_equal(buf_cstr(&out), "keep");
        }
    }
    /* the untouched copy still opens */
    assert_int_equal(open_bytes(test_key, env.data, env.len, test_aad, &out), ERR_OK);
    assert_string_equal(buf_cstr(&out), "keephunter2");
    free(copy);
    buf_wipe(&out);
    buf_release(&env);
}

static void test_envelope_wrong_key_or_aad(void **state)
{
    struct buf env = BUF_INIT(1024);
    seal("data", 4, &env);
    struct buf out = BUF_INIT(1024);
    unsigned char other[AEAD_KEY_LEN];
    memcpy(other, test_key, sizeof(other));
    other[31] ^= 0x80;
    assert_int_equal(open_bytes(other, env.data, env.len, test_aad, &out), ERR_CRYPTO);
    assert_int_equal(
        open_bytes(test_key, env.data, env.len, "tenant=2|purpose=webhook|id=42", &out),
        ERR_CRYPTO);
    assert_int_equal(open_bytes(test_key, env.data, env.len, "", &out), ERR_CRYPTO);
    assert_int_equal(out.len, 0);
    assert_int_equal(open_bytes(test_key, env.data, env.len, test_aad, &out), ERR_OK);
    buf_wipe(&out);
    buf_release(&env);
}

static void test_envelope_truncated(void **state)
{
    struct buf env = BUF_INIT(1024);
    seal("0123456789abcdef0123", 20, &env);
    struct buf out = BUF_INIT(1024);
    for (size_t len = 0; len < env.len; len++) {
        enum err e = open_bytes(test_key, env.data, len, test_aad, &out);
        assert_int_equal(e, len < ENVELOPE_OVERHEAD ? ERR_INVALID : ERR_CRYPTO);
        assert_int_equal(out.len, 0);
    }
    struct envelope parsed;
    assert_int_equal(envelope_parse(NULL, 0, &parsed), ERR_INVALID);
    buf_release(&out);
    buf_release(&env);
}

static void test_envelope_unknown_version(void **state)
{
    struct buf env = BUF_INIT(1024);
    seal("v", 1, &env);
    static const unsigned char versions[] = {0x00, 0x02, 0x7f, 0xff};
    struct envelope parsed;
    for (size_t i = 0; i < sizeof(versions); i++) {
        env.data[0] = (char)versions[i];
        assert_int_equal(envelope_parse(env.data, env.len, &parsed), ERR_INVALID);
    }
    env.data[0] = ENVELOPE_VERSION;
    assert_int_equal(envelope_parse(env.data, env.len, &parsed), ERR_OK);
    /* a hand-made struct with another version is refused by open as well */
    parsed.version = 2;
    struct buf out = BUF_INIT(1024);
    assert_int_equal(envelope_open(test_key, &parsed, test_aad, strlen(test_aad), &out),
                     ERR_INVALID);
    assert_int_equal(out.len, 0);
    buf_release(&out);
    buf_release(&env);
}

static void test_envelope_size_limit(void **state)
{
    /* parse: exactly ENVELOPE_MAX_PLAIN bytes of ciphertext accepted, one more refused */
    size_t max_len = ENVELOPE_OVERHEAD + ENVELOPE_MAX_PLAIN;
    unsigned char *raw = calloc(1, max_len + 1);
    assert_non_null(raw);
    raw[0] = ENVELOPE_VERSION;
    struct envelope parsed;
    assert_int_equal(envelope_parse(raw, max_len, &parsed), ERR_OK);
    assert_int_equal(parsed.ct_len, ENVELOPE_MAX_PLAIN);
    assert_int_equal(envelope_parse(raw, max_len + 1, &parsed), ERR_INVALID);

    /* seal: the same limit on plaintext, and a real maximal envelope round-trips */
    unsigned char *pt = calloc(1, ENVELOPE_MAX_PLAIN + 1);
    assert_non_null(pt);
    memset(pt, 'p', ENVELOPE_MAX_PLAIN + 1);
    struct buf env = BUF_INIT(max_len + 1);
    assert_int_equal(envelope_seal(test_key, test_key_id, test_aad, strlen(test_aad), pt,
                                   ENVELOPE_MAX_PLAIN + 1, &env),
                     ERR_LIMIT);
    assert_int_equal(env.len, 0);
    seal(pt, ENVELOPE_MAX_PLAIN, &env);
    assert_int_equal(env.len, max_len);
    struct buf out = BUF_INIT(ENVELOPE_MAX_PLAIN);
    assert_int_equal(open_bytes(test_key, env.data, env.len, test_aad, &out), ERR_OK);
    assert_int_equal(out.len, ENVELOPE_MAX_PLAIN);
    assert_memory_equal(out.data, pt, ENVELOPE_MAX_PLAIN);
    buf_wipe(&out);
    buf_release(&env);
    free(pt);
    free(raw);
}

static void test_envelope_nonce_is_random(void **state)
{
    struct buf a = BUF_INIT(1024), b = BUF_INIT(1024);
    seal("same plaintext", 14, &a);
    seal("same plaintext", 14, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_not_equal(a.data, b.data, a.len);
    /* specifically the nonces differ, and so do the ciphertexts */
    assert_memory_not_equal(a.data + 9, b.data + 9, AEAD_NONCE_LEN);
    assert_memory_not_equal(a.data + ENVELOPE_HEADER_LEN, b.data + ENVELOPE_HEADER_LEN, 14);
    buf_release(&a);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gcm_spec_vectors),
        cmocka_unit_test(test_envelope_round_trip),
        cmocka_unit_test(test_envelope_appends),
        cmocka_unit_test(test_envelope_any_flipped_bit_fails),
        cmocka_unit_test(test_envelope_wrong_key_or_aad),
        cmocka_unit_test(test_envelope_truncated),
        cmocka_unit_test(test_envelope_unknown_version),
        cmocka_unit_test(test_envelope_size_limit),
        cmocka_unit_test(test_envelope_nonce_is_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
