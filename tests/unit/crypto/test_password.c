/*
 * Unit tests for crypto/password: the policy (lengths in code points after
 * NFC, the input limit, invalid UTF-8, common passwords), hashing and
 * verification (NFC equivalence, no truncation, pepper, cost and rehash),
 * stored-hash validation and the dummy verification. Cost 10 keeps the suite
 * fast except where the default cost is the point.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/config.h"
#include "crypto/password.h"

static struct master_key key_a, key_b;

static int setup(void **state)
{
    memset(&key_a, 0, sizeof(key_a));
    memset(&key_b, 0, sizeof(key_b));
    for (size_t i = 0; i < MASTER_KEY_LEN; i++) {
        key_a.bytes[i] = (unsigned char)i;
        key_b.bytes[i] = (unsigned char)(0xb0 + i);
    }
    return 0;
}

static struct password_ctx ctx_at(const struct master_key *k, unsigned cost)
{
    struct password_ctx c;
    assert_int_equal(password_ctx_init(&c, k, cost), ERR_OK);
    return c;
}

/*
 * Writes n code points into out (NUL-terminated, cap bytes): a varied mix of
 * 1-, 2-, 3- and 4-byte characters, so it is neither common nor repetitive.
 */
static size_t make_pw(size_t n, char *out, size_t cap)
{
    static const char *const cps[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\x91",
                                      "7", "Z",        "\xd0\x96",     "q"};
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = cps[(i * 5 + i / 8) % 8];
        size_t l = strlen(c);
        assert_true(len + l < cap);
        memcpy(out + len, c, l);
        len += l;
    }
    out[len] = '\0';
    return len;
}

static void assert_policy(struct str pw, const char *want_reason)
{
    const char *reason = "unset";
    enum err e = password_check_policy(pw, &reason);
    if (!want_reason) {
        assert_int_equal(e, ERR_OK);
        assert_null(reason);
    } else {
        assert_int_equal(e, ERR_INVALID);
        assert_non_null(reason);
        assert_string_equal(reason, want_reason);
    }
}

static void test_policy_lengths(void **state)
{
    char pw[1024];
    size_t len = make_pw(11, pw, sizeof(pw));
    assert_true(len > 11); /* multi-byte characters count once */
    assert_policy(str_from(pw, len), "too short");
    len = make_pw(12, pw, sizeof(pw));
    assert_policy(str_from(pw, len), NULL);
    len = make_pw(128, pw, sizeof(pw));
    assert_true(len > 128);
    assert_policy(str_from(pw, len), NULL);
    len = make_pw(129, pw, sizeof(pw));
    assert_policy(str_from(pw, len), "too long");
    assert_policy(STR_NULL, "too short");

    /* counted after NFC: 6 decomposed "é" + 5 letters are 17 code points as sent, 11 after */
#define E_ACUTE_DECOMPOSED "e\xcc\x81"
#define SIX_E                                                                                      \
    E_ACUTE_DECOMPOSED E_ACUTE_DECOMPOSED E_ACUTE_DECOMPOSED E_ACUTE_DECOMPOSED E_ACUTE_DECOMPOSED \
        E_ACUTE_DECOMPOSED
    assert_policy(STR_LIT(SIX_E "bcdfg"), "too short");
    assert_policy(STR_LIT(SIX_E "bcdfgh"), NULL);
}

static void test_policy_input_limit(void **state)
{
    char *big = malloc(PASSWORD_MAX_INPUT + 1);
    assert_non_null(big);
    memset(big, '\xff', PASSWORD_MAX_INPUT + 1);
    /* up to the limit the bytes are looked at, one past it they are not */
    assert_policy(str_from(big, PASSWORD_MAX_INPUT), "not valid UTF-8");
    assert_policy(str_from(big, PASSWORD_MAX_INPUT + 1), "too long");
    memset(big, 'x', PASSWORD_MAX_INPUT + 1);
    assert_policy(str_from(big, PASSWORD_MAX_INPUT + 1), "too long");
    free(big);
}

static void test_policy_invalid_utf8(void **state)
{
    assert_policy(STR_LIT("correct horse \xff battery"), "not valid UTF-8");
    assert_policy(STR_LIT("correct horse \xc0\xaf battery"), "not valid UTF-8");     /* overlong */
    assert_policy(STR_LIT("correct horse \xed\xa0\x80 battery"), "not valid UTF-8"); /* surrogate */
    assert_policy(STR_LIT("correct horse battery \xe2\x82"), "not valid UTF-8");     /* truncated */
    assert_policy(STR_LIT("\xff\xfe"), "not valid UTF-8"); /* before the length rule */
}

static void test_policy_common(void **state)
{
    assert_policy(STR_LIT("password1234"), "too common");
    assert_policy(STR_LIT("PASSWORD1234"), "too common");
    assert_policy(STR_LIT("PassWord1234"), "too common");
    assert_policy(STR_LIT("CorrectHorseBatteryStaple"), "too common");
    assert_policy(STR_LIT("qwertyuiop123"), "too common");
    assert_policy(STR_LIT("123456789012"), "too common");
    assert_policy(STR_LIT("Shiplog12345"), "too common");
    /* the Kelvin sign is K after NFC */
    assert_policy(STR_LIT("blin\xe2\x84\xaa"
                          "1821234"),
                  "too common");
    assert_policy(STR_LIT("qwerty123456"), "too common");
    /* one character repeated, in any script */
    assert_policy(STR_LIT("aaaaaaaaaaaaaaaa"), "too common");
    assert_policy(STR_LIT("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                          "\xc3\xa9\xc3\xa9\xc3\xa9"),
                  "too common");
    /* near misses pass */
    assert_policy(STR_LIT("password1234x"), NULL);
    assert_policy(STR_LIT("aaaaaaaaaaab"), NULL);
    assert_policy(STR_LIT("violet tractor umbrella"), NULL);
}

static void test_hash_default_cost(void **state)
{
    const char *const env[] = {NULL};
    struct config cfg;
    struct buf msg = BUF_INIT(512);
    assert_int_equal(config_load(&cfg, env, &msg), ERR_OK);
    assert_int_equal(cfg.bcrypt_cost, PASSWORD_COST_DEFAULT);
    struct password_ctx c = ctx_at(&key_a, cfg.bcrypt_cost);
    config_release(&cfg);
    buf_release(&msg);

    char h[PASSWORD_HASH_MAX];
    struct str pw = STR_LIT("violet tractor umbrella");
    assert_int_equal(password_hash(&c, pw, h), ERR_OK);
    assert_int_equal(strlen(h), PASSWORD_HASH_LEN);
    assert_memory_equal(h, "$2b$12$", 7);
    bool ok = false, rehash = true;
    assert_int_equal(password_verify(&c, pw, h, &ok, &rehash), ERR_OK);
    assert_true(ok);
    assert_false(rehash);

    double ms = 0;
    assert_int_equal(password_cost_ms(&c, &ms), ERR_OK);
    printf("# bcrypt cost 12: %.1f ms per hash\n", ms);
    assert_true(ms > 1.0);
    password_ctx_wipe(&c);
}

static void test_hash_cost_10(void **state)
{
    struct password_ctx c = ctx_at(&key_a, 10);
    char h1[PASSWORD_HASH_MAX], h2[PASSWORD_HASH_MAX];
    struct str pw = STR_LIT("violet tractor umbrella");
    assert_int_equal(password_hash(&c, pw, h1), ERR_OK);
    assert_int_equal(password_hash(&c, pw, h2), ERR_OK);
    assert_memory_equal(h1, "$2b$10$", 7);
    assert_string_not_equal(h1, h2); /* fresh salt every time */
    bool ok = false, rehash = true;
    assert_int_equal(password_verify(&c, pw, h1, &ok, &rehash), ERR_OK);
    assert_true(ok);
    assert_int_equal(password_verify(&c, pw, h2, &ok, &rehash), ERR_OK);
    assert_true(ok);
    assert_int_equal(password_verify(&c, STR_LIT("violet tractor umbrellA"), h1, &ok, &rehash),
                     ERR_OK);
    assert_false(ok);
    assert_false(rehash);
    password_ctx_wipe(&c);
}

static void test_hash_refuses_policy_failures(void **state)
{
    struct password_ctx c = ctx_at(&key_a, 10);
    char h[PASSWORD_HASH_MAX];
    memset(h, 'x', sizeof(h));
    assert_int_equal(password_hash(&c, STR_LIT("short"), h), ERR_INVALID);
    assert_string_equal(h, "");
    assert_int_equal(password_hash(&c, STR_LIT("Password1234"), h), ERR_INVALID);
    assert_int_equal(password_hash(&c, STR_LIT("violet tractor \xff"), h), ERR_INVALID);
    assert_string_equal(h, "");
    password_ctx_wipe(&c);
}

static void test_nfc_equivalence(void **state)
{
    struct password_ctx c = ctx_at(&key_a, 10);
    struct str composed = STR_LIT("caf\xc3\xa9 au lait sans sucre");
    struct str decomposed = STR_LIT("cafe\xcc\x81 au lait sans sucre");
    char h[PASSWORD_HASH_MAX];
    bool ok = false, rehash;
    assert_int_equal(password_hash(&c, composed, h), ERR_OK);
    assert_int_equal(password_verify(&c, decomposed, h, &ok, &rehash), ERR_OK);
    assert_true(ok);
    assert_int_equal(password_hash(&c, decomposed, h), ERR_OK);
    assert_int_equal(password_verify(&c, composed, h, &ok, &rehash), ERR_OK);
    assert_true(ok);
    /* "e" without the accent is another password */
    assert_int_equal(password_verify(&c, STR_LIT("cafe au lait sans sucre"), h, &ok, &rehash),
                     ERR_OK);
    assert_false(ok);
    password_ctx_wipe(&c);
}

static void test_no_truncation(void **state)
{
    struct password_ctx c = ctx_at(&key_a, 10);
    char a[100], b[100];
    for (size_t i = 0; i < sizeof(a); i++)
        a[i] = (char)('a' + (i * 7) % 26);
    memcpy(b, a, sizeof(b));
    b[99] = a[99] == 'z' ? 'y' : 'z';
    char ha[PASSWORD_HASH_MAX], hb[PASSWORD_HASH_MAX];
    bool ok = true, rehash;
    assert_int_equal(password_hash(&c, str_from(a, sizeof(a)), ha), ERR_OK);
    assert_int_equal(password_hash(&c, str_from(b, sizeof(b)), hb), ERR_OK);
    assert_int_equal(password_verify(&c, str_from(b, sizeof(b)), ha, &ok, &rehash), ERR_OK);
    assert_false(ok);
    assert_int_equal(password_verify(&c, str_from(a, sizeof(a)), hb, &ok, &rehash), ERR_OK);
    assert_false(ok);
    assert_int_equal(password_verify(&c, str_from(a, sizeof(a)), ha, &ok, &rehash), ERR_OK);
    assert_true(ok);
    /* a NUL does not end the password either */
    struct str n1 = str_from("violet tractor\0one", 18), n2 = str_from("violet tractor\0two", 18);
    assert_int_equal(password_hash(&c, n1, ha), ERR_OK);
    assert_int_equal(password_verify(&c, n2, ha, &ok, &rehash), ERR_OK);
    assert_false(ok);
    assert_int_equal(password_verify(&c, STR_LIT("violet tractor"), ha, &ok, &rehash), ERR_OK);
    assert_false(ok);
    assert_int_equal(password_verify(&c, n1, ha, &ok, &rehash), ERR_OK);
    assert_true(ok);
    password_ctx_wipe(&c);
}

static void test_wrong_pepper(void **state)
{
    struct password_ctx ca = ctx_at(&key_a, 10), cb = ctx_at(&key_b, 10);
    struct str pw = STR_LIT("violet tractor umbrella");
    char h[PASSWORD_HASH_MAX];
    bool ok = true, rehash;
    assert_int_equal(password_hash(&ca, pw, h), ERR_OK);
    assert_int_equal(password_verify(&cb, pw, h, &ok, &rehash), ERR_OK);
    assert_false(ok);
    assert_int_equal(password_verify(&ca, pw, h, &ok, &rehash), ERR_OK);
    assert_true(ok);
    /* the pepper is derived, not the key itself, and differs per key */
    assert_memory_not_equal(ca.pepper, cb.pepper, PASSWORD_PEPPER_LEN);
    assert_memory_not_equal(ca.pepper, key_a.bytes, MASTER_KEY_LEN);
    password_ctx_wipe(&ca);
    password_ctx_wipe(&cb);
}

static void test_rehash_when_cost_rises(void **state)
{
    struct password_ctx c10 = ctx_at(&key_a, 10), c11 = ctx_at(&key_a, 11);
    struct str pw = STR_LIT("violet tractor umbrella");
    char h[PASSWORD_HASH_MAX];
    bool ok = false, rehash = false;
    assert_int_equal(password_hash(&c10, pw, h), ERR_OK);
    assert_int_equal(password_verify(&c11, pw, h, &ok, &rehash), ERR_OK);
    assert_true(ok);
    assert_true(rehash);
    /* only a correct password asks for a rehash */
    assert_int_equal(password_verify(&c11, STR_LIT("wrong tractor umbrella"), h, &ok, &rehash),
                     ERR_OK);
    assert_false(ok);
    assert_false(rehash);
    /* a stored cost above the configured one asks for a rehash too: every
     * account must cost what password_verify_dummy costs (A4) */
    assert_int_equal(password_hash(&c11, pw, h), ERR_OK);
    assert_memory_equal(h, "$2b$11$", 7);
    assert_int_equal(password_verify(&c10, pw, h, &ok, &rehash), ERR_OK);
    assert_true(ok);
    assert_true(rehash);
    /* at the configured cost: no rehash */
    assert_int_equal(password_hash(&c10, pw, h), ERR_OK);
    assert_int_equal(password_verify(&c10, pw, h, &ok, &rehash), ERR_OK);
    assert_true(ok);
    assert_false(rehash);
    password_ctx_wipe(&c10);
    password_ctx_wipe(&c11);
}

static void test_verify_bad_input(void **state)
{
    struct password_ctx c = ctx_at(&key_a, 10);
    char h[PASSWORD_HASH_MAX];
    bool ok = true, rehash = true;
    assert_int_equal(password_hash(&c, STR_LIT("violet tractor umbrella"), h), ERR_OK);
    /* invalid UTF-8 or an oversized password simply does not match */
    assert_int_equal(password_verify(&c, STR_LIT("violet tractor umbrella\xff"), h, &ok, &rehash),
                     ERR_OK);
    assert_false(ok);
    char *big = malloc(PASSWORD_MAX_INPUT + 1);
    assert_non_null(big);
    memset(big, 'v', PASSWORD_MAX_INPUT + 1);
    ok = true;
    assert_int_equal(password_verify(&c, str_from(big, PASSWORD_MAX_INPUT + 1), h, &ok, &rehash),
                     ERR_OK);
    assert_false(ok);
    free(big);

    /* stored hashes this module did not write are refused before any work */
    char bad[PASSWORD_HASH_MAX];
    static const struct {
        size_t at;
        char c;
    } edits[] = {{2, 'a'}, {2, 'y'}, {4, '0'}, {5, '9'}, {4, 'x'}, {5, '7'}, {6, '.'}, {20, '!'}};
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        memcpy(bad, h, sizeof(bad));
        bad[edits[i].at] = edits[i].c;
        ok = rehash = true;
        assert_int_equal(password_verify(&c, STR_LIT("violet tractor umbrella"), bad, &ok, &rehash),
                         ERR_INVALID);
        assert_false(ok);
        assert_false(rehash);
    }
    memcpy(bad, h, sizeof(bad));
    bad[4] = '0';
    bad[5] = '9'; /* cost 9: below the minimum */
    assert_int_equal(password_verify(&c, STR_LIT("violet tractor umbrella"), bad, &ok, &rehash),
                     ERR_INVALID);
    memcpy(bad, h, sizeof(bad));
    bad[PASSWORD_HASH_LEN - 1] = '\0'; /* truncated */
    assert_int_equal(password_verify(&c, STR_LIT("violet tractor umbrella"), bad, &ok, &rehash),
                     ERR_INVALID);
    assert_int_equal(password_verify(&c, STR_LIT("violet tractor umbrella"), "", &ok, &rehash),
                     ERR_INVALID);
    assert_int_equal(password_verify(&c, STR_LIT("violet tractor umbrella"), NULL, &ok, &rehash),
                     ERR_INVALID);
    char longer[PASSWORD_HASH_MAX + 1];
    memcpy(longer, h, PASSWORD_HASH_LEN);
    longer[PASSWORD_HASH_LEN] = 'A';
    longer[PASSWORD_HASH_LEN + 1] = '\0';
    assert_int_equal(password_verify(&c, STR_LIT("violet tractor umbrella"), longer, &ok, &rehash),
                     ERR_INVALID);
    password_ctx_wipe(&c);
}

static void test_ctx_cost_range(void **state)
{
    struct password_ctx c;
    assert_int_equal(password_ctx_init(&c, &key_a, PASSWORD_COST_MIN - 1), ERR_CONFIG);
    assert_false(c.ready);
    assert_int_equal(password_ctx_init(&c, &key_a, PASSWORD_COST_MAX + 1), ERR_CONFIG);
    assert_int_equal(password_ctx_init(&c, &key_a, 0), ERR_CONFIG);
    assert_int_equal(password_ctx_init(&c, &key_a, PASSWORD_COST_MIN), ERR_OK);
    assert_true(c.ready);
    password_ctx_wipe(&c);
    assert_false(c.ready);
    static const unsigned char zero[PASSWORD_PEPPER_LEN];
    assert_memory_equal(c.pepper, zero, sizeof(zero));
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void test_dummy_timing(void **state)
{
    struct password_ctx c = ctx_at(&key_a, 10);
    struct str pw = STR_LIT("violet tractor umbrella");
    char h[PASSWORD_HASH_MAX];
    bool ok, rehash;
    assert_int_equal(password_hash(&c, pw, h), ERR_OK);
    double t0 = now_ms();
    assert_int_equal(password_verify(&c, STR_LIT("wrong tractor umbrella"), h, &ok, &rehash),
                     ERR_OK);
    double t1 = now_ms();
    password_verify_dummy(&c, STR_LIT("wrong tractor umbrella"));
    double t2 = now_ms();
    password_verify_dummy(&c, STR_LIT("\xff not even UTF-8"));
    double t3 = now_ms();
    printf("# cost 10: verify %.1f ms, dummy %.1f ms, dummy (invalid UTF-8) %.1f ms\n", t1 - t0,
           t2 - t1, t3 - t2);
    assert_true(t1 - t0 > 1.0);
    assert_true(t2 - t1 > 1.0);
    assert_true(t3 - t2 > 1.0);
    password_ctx_wipe(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_lengths),
        cmocka_unit_test(test_policy_input_limit),
        cmocka_unit_test(test_policy_invalid_utf8),
        cmocka_unit_test(test_policy_common),
        cmocka_unit_test(test_hash_default_cost),
        cmocka_unit_test(test_hash_cost_10),
        cmocka_unit_test(test_hash_refuses_policy_failures),
        cmocka_unit_test(test_nfc_equivalence),
        cmocka_unit_test(test_no_truncation),
        cmocka_unit_test(test_wrong_pepper),
        cmocka_unit_test(test_rehash_when_cost_rises),
        cmocka_unit_test(test_verify_bad_input),
        cmocka_unit_test(test_ctx_cost_range),
        cmocka_unit_test(test_dummy_timing),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
