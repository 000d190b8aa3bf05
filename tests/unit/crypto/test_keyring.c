/*
 * Unit tests for crypto/keyring: previous keys from the configuration,
 * refusals that never echo a key, key ids, and the derived keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/hash.h"
#include "crypto/kdf.h"
#include "crypto/keyring.h"
#include "crypto/rand.h"

#define KEY_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
#define KEY_C "C0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
#define KEY_D "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"

static char dir[64];
static char data_kv[128];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/shiplog-kr-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(data_kv, sizeof(data_kv), "SHIPLOG_DATA_DIR=%s", dir);
    return 0;
}

static int teardown(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, MASTER_KEY_FILE);
    unlink(path);
    rmdir(dir);
    return 0;
}

/* Loads a keyring with SHIPLOG_MASTER_KEY=KEY_A and the given previous keys (NULL: unset). */
static enum err load(const char *previous, struct keyring *r, struct buf *msg)
{
    char prev_kv[1024];
    const char *env[4] = {data_kv, "SHIPLOG_MASTER_KEY=" KEY_A, NULL, NULL};
    if (previous) {
        snprintf(prev_kv, sizeof(prev_kv), "SHIPLOG_MASTER_KEYS_PREVIOUS=%s", previous);
        env[2] = prev_kv;
    }
    struct config cfg;
    struct buf cmsg = BUF_INIT(512);
    assert_int_equal(config_load(&cfg, env, &cmsg), ERR_OK);
    buf_release(&cmsg);
    buf_reset(msg);
    enum err e = keyring_load(&cfg, r, msg);
    config_release(&cfg);
    return e;
}

/* No key's hex, in either case or in part, appears in the message. */
static void assert_no_key_in(const char *msg)
{
    static const char *const fragments[] = {"000102030405", "b0b1b2b3b4b5", "c0c1c2c3c4c5",
                                            "C0C1C2C3C4C5", "d0d1d2d3d4d5", "e0e1e2e3"};
    for (size_t i = 0; i < sizeof(fragments) / sizeof(fragments[0]); i++)
        assert_null(strstr(msg, fragments[i]));
}

static void expect_id(const struct master_key *k)
{
    unsigned char d[SHA256_LEN];
    char id[MASTER_KEY_ID_LEN + 1];
    sha256(k->bytes, MASTER_KEY_LEN, d);
    hex_encode(d, MASTER_KEY_ID_LEN / 2, id);
    assert_string_equal(k->id, id);
}

static void test_current_only(void **state)
{
    struct keyring r;
    struct buf msg = BUF_INIT(512);
    assert_int_equal(load(NULL, &r, &msg), ERR_OK);
    assert_int_equal(r.n, 1);
    const struct master_key *cur = keyring_current(&r);
    assert_ptr_equal(cur, &r.keys[0]);
    assert_int_equal(cur->bytes[0], 0x00);
    assert_int_equal(cur->bytes[31], 0x1f);
    expect_id(cur);
    assert_ptr_equal(keyring_find(&r, cur->id), cur);
    assert_null(keyring_find(&r, "0000000000000000"));
    assert_null(keyring_find(&r, ""));
    assert_null(keyring_find(&r, NULL));

    unsigned char idb[ENVELOPE_KEY_ID_LEN];
    keyring_id_bytes(cur, idb);
    char hex[MASTER_KEY_ID_LEN + 1];
    hex_encode(idb, sizeof(idb), hex);
    assert_string_equal(hex, cur->id);
    assert_ptr_equal(keyring_find_bytes(&r, idb), cur);
    keyring_wipe(&r);
    assert_int_equal(r.n, 0);
    assert_null(keyring_current(&r));
    buf_release(&msg);
}

static void test_previous_keys_parsed(void **state)
{
    struct keyring r;
    struct buf msg = BUF_INIT(512);
    /* whitespace around entries is trimmed; hex in either case */
    assert_int_equal(load(" " KEY_B " ,\t" KEY_C "," KEY_D "\n", &r, &msg), ERR_OK);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.keys[1].bytes[0], 0xb0);
    assert_int_equal(r.keys[2].bytes[0], 0xc0);
    assert_int_equal(r.keys[3].bytes[31], 0xef);
    for (size_t i = 0; i < r.n; i++) {
        expect_id(&r.keys[i]);
        assert_false(r.keys[i].generated_dev_key);
        assert_ptr_equal(keyring_find(&r, r.keys[i].id), &r.keys[i]);
        unsigned char idb[ENVELOPE_KEY_ID_LEN];
        keyring_id_bytes(&r.keys[i], idb);
        assert_ptr_equal(keyring_find_bytes(&r, idb), &r.keys[i]);
    }
    assert_ptr_equal(keyring_current(&r), &r.keys[0]);
    keyring_wipe(&r);
    buf_release(&msg);
}

static void test_previous_keys_refused(void **state)
{
    struct keyring r;
    struct buf msg = BUF_INIT(512);

    assert_int_equal(load(KEY_B "," KEY_B, &r, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), "same key"));
    assert_no_key_in(buf_cstr(&msg));
    assert_int_equal(r.n, 0);

    /* a duplicate differing only in case is still a duplicate */
    assert_int_equal(load(KEY_C "," KEY_D
                                ",c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
                          &r, &msg),
                     ERR_CONFIG);
    assert_no_key_in(buf_cstr(&msg));

    assert_int_equal(load(KEY_B "," KEY_A, &r, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), "current"));
    assert_no_key_in(buf_cstr(&msg));

    /* malformed entries: short, long, non-hex, empty */
    static const char *const bad[] = {
        KEY_B ","
              "0001",
        KEY_B "0",
        "zz" KEY_B,
        KEY_B ",," KEY_D,
        KEY_B ",",
        "," KEY_B,
        KEY_B " " KEY_D,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(load(bad[i], &r, &msg), ERR_CONFIG);
        assert_non_null(strstr(buf_cstr(&msg), "SHIPLOG_MASTER_KEYS_PREVIOUS"));
        assert_no_key_in(buf_cstr(&msg));
        assert_int_equal(r.n, 0);
        static const struct master_key zero;
        for (size_t j = 0; j < KEYRING_MAX; j++)
            assert_memory_equal(&r.keys[j], &zero, sizeof(zero));
    }
    buf_release(&msg);
}

static void test_previous_keys_limit(void **state)
{
    /* KEYRING_MAX - 1 previous keys fit; one more is refused */
    char list[KEYRING_MAX * 66 + 1];
    size_t off = 0;
    for (int i = 0; i < KEYRING_MAX; i++) {
        for (int j = 0; j < 32; j++)
            off += (size_t)snprintf(list + off, sizeof(list) - off, "%02x", 0x40 + i + j);
        list[off++] = ',';
    }
    list[off - 1] = '\0';
    size_t cut = (size_t)(KEYRING_MAX - 1) * 65 - 1; /* just the first KEYRING_MAX-1 entries */

    struct keyring r;
    struct buf msg = BUF_INIT(512);
    assert_int_equal(load(list, &r, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), "more than"));
    assert_no_key_in(buf_cstr(&msg));
    list[cut] = '\0';
    assert_int_equal(load(list, &r, &msg), ERR_OK);
    assert_int_equal(r.n, KEYRING_MAX);
    keyring_wipe(&r);
    buf_release(&msg);
}

static void test_derived_keys(void **state)
{
    struct keyring r;
    struct buf msg = BUF_INIT(512);
    assert_int_equal(load(KEY_B, &r, &msg), ERR_OK);
    unsigned char kek_a[AEAD_KEY_LEN], kek_b[AEAD_KEY_LEN], again[AEAD_KEY_LEN];
    assert_int_equal(keyring_kek(&r.keys[0], kek_a), ERR_OK);
    assert_int_equal(keyring_kek(&r.keys[1], kek_b), ERR_OK);
    assert_int_equal(keyring_kek(&r.keys[0], again), ERR_OK);
    assert_memory_not_equal(kek_a, kek_b, AEAD_KEY_LEN); /* per master key */
    assert_memory_equal(kek_a, again, AEAD_KEY_LEN);     /* deterministic */

    /* the documented derivation, computed independently */
    unsigned char want[AEAD_KEY_LEN];
    assert_int_equal(hkdf_sha256(r.keys[0].bytes, MASTER_KEY_LEN, "shiplog", 7, "shiplog/v1/kek",
                                 14, want, sizeof(want)),
                     ERR_OK);
    assert_memory_equal(kek_a, want, AEAD_KEY_LEN);

    struct sign_key ck_a, ck_b, ck_again;
    assert_int_equal(keyring_checkpoint_key(&r.keys[0], &ck_a), ERR_OK);
    assert_int_equal(keyring_checkpoint_key(&r.keys[1], &ck_b), ERR_OK);
    assert_int_equal(keyring_checkpoint_key(&r.keys[0], &ck_again), ERR_OK);
    assert_memory_not_equal(ck_a.seed, ck_b.seed, SIGN_SEED_LEN);
    assert_memory_not_equal(ck_a.pub, ck_b.pub, SIGN_PUBLIC_LEN);
    assert_memory_equal(ck_a.pub, ck_again.pub, SIGN_PUBLIC_LEN);
    /* per purpose: the checkpoint seed is not the KEK, nor the master key */
    assert_memory_not_equal(ck_a.seed, kek_a, 32);
    assert_memory_not_equal(ck_a.seed, r.keys[0].bytes, 32);
    assert_memory_not_equal(kek_a, r.keys[0].bytes, 32);
    assert_int_equal(hkdf_sha256(r.keys[0].bytes, MASTER_KEY_LEN, "shiplog", 7,
                                 "shiplog/v1/audit-checkpoint", 27, want, sizeof(want)),
                     ERR_OK);
    assert_memory_equal(ck_a.seed, want, SIGN_SEED_LEN);

    /* the checkpoint key signs and its public key verifies */
    unsigned char sig[SIGN_SIG_LEN];
    assert_int_equal(sign_ed25519(&ck_a, "cp", 2, sig), ERR_OK);
    assert_true(sign_verify_ed25519(ck_a.pub, "cp", 2, sig));
    assert_false(sign_verify_ed25519(ck_b.pub, "cp", 2, sig));

    sign_key_wipe(&ck_a);
    sign_key_wipe(&ck_b);
    sign_key_wipe(&ck_again);
    crypto_wipe(kek_a, sizeof(kek_a));
    crypto_wipe(kek_b, sizeof(kek_b));
    keyring_wipe(&r);
    buf_release(&msg);
}

/* A data key wrapped under the KEK of a previous master key opens after lookup by id. */
static void test_wrap_with_key_id(void **state)
{
    struct keyring r;
    struct buf msg = BUF_INIT(512);
    assert_int_equal(load(KEY_B, &r, &msg), ERR_OK);
    const struct master_key *old = &r.keys[1];
    unsigned char kek[AEAD_KEY_LEN], id[ENVELOPE_KEY_ID_LEN], data_key[32];
    assert_int_equal(rand_bytes(data_key, sizeof(data_key)), ERR_OK);
    assert_int_equal(keyring_kek(old, kek), ERR_OK);
    keyring_id_bytes(old, id);
    struct buf env = BUF_INIT(256);
    assert_int_equal(envelope_seal(kek, id, "dk", 2, data_key, sizeof(data_key), &env), ERR_OK);

    struct envelope parsed;
    assert_int_equal(envelope_parse(env.data, env.len, &parsed), ERR_OK);
    const struct master_key *found = keyring_find_bytes(&r, parsed.key_id);
    assert_ptr_equal(found, old);
    unsigned char kek2[AEAD_KEY_LEN];
    assert_int_equal(keyring_kek(found, kek2), ERR_OK);
    struct buf out = BUF_INIT(64);
    assert_int_equal(envelope_open(kek2, &parsed, "dk", 2, &out), ERR_OK);
    assert_memory_equal(out.data, data_key, sizeof(data_key));
    /* the current key's KEK does not open it */
    unsigned char cur_kek[AEAD_KEY_LEN];
    assert_int_equal(keyring_kek(keyring_current(&r), cur_kek), ERR_OK);
    buf_reset(&out);
    assert_int_equal(envelope_open(cur_kek, &parsed, "dk", 2, &out), ERR_CRYPTO);
    buf_wipe(&out);
    buf_release(&env);
    keyring_wipe(&r);
    buf_release(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_current_only),          cmocka_unit_test(test_previous_keys_parsed),
        cmocka_unit_test(test_previous_keys_refused), cmocka_unit_test(test_previous_keys_limit),
        cmocka_unit_test(test_derived_keys),          cmocka_unit_test(test_wrap_with_key_id),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
