/*
 * Unit tests for ingest/verify and ingest/provider: every scheme's success and
 * its refusals, the published vectors, rotation, tolerance edges and every
 * named limit one byte past.
 *
 * Sources of the vectors:
 *  - GitHub: docs.github.com, "Validating webhook deliveries" (secret "It's a
 *    Secret to Everybody", payload "Hello, World!").
 *  - Standard Webhooks: the specification's reference libraries' test vector
 *    (msg_p5jXN8AQM9LWM0D4loKWxJek, 1614265330, {"test": 2432232314}).
 *  - Stripe: no published vector; the expected MACs were computed outside
 *    shiplog with `printf '<t>.<body>' | openssl dgst -sha256 -hmac <secret>`.
 * Both published vectors were also re-checked with the openssl command line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "ingest/provider.h"
#include "ingest/verify.h"

/* ---- a header table for the lookup callback ---- */

#define FAKE_MAX 16

struct fake {
    const char *names[FAKE_MAX];
    struct str values[FAKE_MAX];
    size_t n;
};

static struct str fake_get(void *arg, const char *name)
{
    const struct fake *f = arg;
    for (size_t i = 0; i < f->n; i++)
        if (strcasecmp(f->names[i], name) == 0)
            return f->values[i];
    return STR_NULL;
}

/* Sets (or replaces) a header; value views stay the caller's. */
static void put(struct fake *f, const char *name, struct str value)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcasecmp(f->names[i], name) == 0) {
            f->values[i] = value;
            return;
        }
    }
    assert_true(f->n < FAKE_MAX);
    f->names[f->n] = name;
    f->values[f->n++] = value;
}

static void put_cstr(struct fake *f, const char *name, const char *value)
{
    put(f, name, str_from_cstr(value));
}

static void drop(struct fake *f, const char *name)
{
    put(f, name, STR_NULL);
}

static struct ingest_headers hdrs(struct fake *f)
{
    return (struct ingest_headers){fake_get, f};
}

/* ingest_verify, asserting the reason contract: NULL on success, a phrase otherwise. */
static enum err verify(const struct ingest_verify_config *cfg, struct fake *f, struct str body,
                       int64_t now)
{
    struct ingest_headers h = hdrs(f);
    const char *why = "untouched";
    enum err e = ingest_verify(cfg, &h, body, now, &why);
    if (e == ERR_OK) {
        assert_null(why);
    } else {
        assert_int_equal(e, ERR_UNAUTHENTICATED);
        assert_non_null(why);
        assert_string_not_equal(why, "untouched");
    }
    /* reason is optional */
    assert_int_equal(ingest_verify(cfg, &h, body, now, NULL), e);
    return e;
}

static const char *reason_of(const struct ingest_verify_config *cfg, struct fake *f,
                             struct str body, int64_t now)
{
    struct ingest_headers h = hdrs(f);
    const char *why = NULL;
    assert_int_equal(ingest_verify(cfg, &h, body, now, &why), ERR_UNAUTHENTICATED);
    return why;
}

/* A string of n copies of c in a static buffer (one at a time). */
static struct str repeat(char c, size_t n)
{
    static char big[8192];
    assert_true(n <= sizeof big);
    memset(big, c, n);
    return str_from(big, n);
}

#define NOW 1700000000

/* ---- provider ---- */

static void test_provider_names(void **state)
{
    (void)state;
    for (int p = 0; p < INGEST_PROVIDER_COUNT_; p++) {
        enum ingest_provider got = INGEST_PROVIDER_COUNT_;
        const char *name = ingest_provider_name((enum ingest_provider)p);
        assert_non_null(name);
        assert_int_equal(ingest_provider_parse(str_from_cstr(name), &got), ERR_OK);
        assert_int_equal(got, p);
    }
    assert_string_equal(ingest_provider_name(INGEST_PROVIDER_BITBUCKET_SERVER), "bitbucket-server");
    assert_string_equal(ingest_provider_name(INGEST_PROVIDER_AZURE_DEVOPS), "azure-devops");
    assert_null(ingest_provider_name(INGEST_PROVIDER_COUNT_));
    enum ingest_provider p;
    assert_int_equal(ingest_provider_parse(STR_LIT("GitHub"), &p), ERR_NOT_FOUND);
    assert_int_equal(ingest_provider_parse(STR_LIT("github "), &p), ERR_NOT_FOUND);
    assert_int_equal(ingest_provider_parse(STR_LIT("bitbucket-cloud"), &p), ERR_NOT_FOUND);
    assert_int_equal(ingest_provider_parse(STR_NULL, &p), ERR_NOT_FOUND);
    assert_true(ingest_provider_for_integrations(INGEST_PROVIDER_GITHUB));
    assert_true(ingest_provider_for_integrations(INGEST_PROVIDER_AZURE_DEVOPS));
    assert_false(ingest_provider_for_integrations(INGEST_PROVIDER_STRIPE));
    assert_false(ingest_provider_for_integrations(INGEST_PROVIDER_COUNT_));
}

/* ---- GitHub ---- */

#define GH_SECRET "It's a Secret to Everybody"
#define GH_BODY   "Hello, World!"
#define GH_SIG    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

static struct ingest_verify_config github_cfg(void)
{
    return (struct ingest_verify_config){.provider = INGEST_PROVIDER_GITHUB,
                                         .secret = {STR_LIT(GH_SECRET), STR_NULL}};
}

static void test_github_vector(void **state)
{
    (void)state;
    struct ingest_verify_config cfg = github_cfg();
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_OK);
    struct fake f = {0};
    put_cstr(&f, "x-hub-signature-256", GH_SIG); /* the lookup is case-insensitive */
    assert_int_equal(verify(&cfg, &f, STR_LIT(GH_BODY), NOW), ERR_OK);
    /* no timestamp in this scheme: any time passes */
    assert_int_equal(verify(&cfg, &f, STR_LIT(GH_BODY), 0), ERR_OK);
}

static void test_github_refusals(void **state)
{
    (void)state;
    struct ingest_verify_config cfg = github_cfg();
    struct fake f = {0};
    put_cstr(&f, "X-Hub-Signature-256", GH_SIG);

    /* wrong secret */
    struct ingest_verify_config wrong = cfg;
    wrong.secret.current = STR_LIT("It's a Secret to Everybodz");
    assert_int_equal(verify(&wrong, &f, STR_LIT(GH_BODY), NOW), ERR_UNAUTHENTICATED);
    assert_string_equal(reason_of(&wrong, &f, STR_LIT(GH_BODY), NOW), "signature mismatch");

    /* each byte of the body tampered with */
    char body[] = GH_BODY;
    for (size_t i = 0; i < sizeof body - 1; i++) {
        body[i] ^= 0x01;
        assert_int_equal(verify(&cfg, &f, str_from(body, sizeof body - 1), NOW),
                         ERR_UNAUTHENTICATED);
        body[i] ^= 0x01;
    }
    assert_int_equal(verify(&cfg, &f, str_from(body, sizeof body - 1), NOW), ERR_OK);
    /* one byte more or less */
    assert_int_equal(verify(&cfg, &f, STR_LIT(GH_BODY " "), NOW), ERR_UNAUTHENTICATED);
    assert_int_equal(verify(&cfg, &f, STR_LIT("Hello, World"), NOW), ERR_UNAUTHENTICATED);

    /* the Bitbucket header does not count for GitHub */
    struct fake other = {0};
    put_cstr(&other, "X-Hub-Signature", GH_SIG);
    assert_string_equal(reason_of(&cfg, &other, STR_LIT(GH_BODY), NOW), "signature header missing");
    put_cstr(&other, "X-Hub-Signature-256", "");
    assert_string_equal(reason_of(&cfg, &other, STR_LIT(GH_BODY), NOW), "signature header missing");

    static const char *const malformed[] = {
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", /* no prefix */
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha256 =757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",   /* 63 */
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17a", /* 65 */
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1g",  /* not hex */
        "sha256= 757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17 ",
        "sha256=",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        put_cstr(&f, "X-Hub-Signature-256", malformed[i]);
        assert_string_equal(reason_of(&cfg, &f, STR_LIT(GH_BODY), NOW),
                            "signature header malformed");
    }
}

/* Decision: hex digits of either case decode to the same MAC and are accepted. */
static void test_github_uppercase_hex(void **state)
{
    (void)state;
    struct ingest_verify_config cfg = github_cfg();
    struct fake f = {0};
    put_cstr(&f, "X-Hub-Signature-256",
             "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17");
    assert_int_equal(verify(&cfg, &f, STR_LIT(GH_BODY), NOW), ERR_OK);
}

static void test_github_rotation(void **state)
{
    (void)state;
    struct fake f = {0};
    put_cstr(&f, "X-Hub-Signature-256", GH_SIG);
    struct ingest_verify_config cfg = github_cfg();
    /* a new secret is current; the delivery was still signed with the previous one */
    cfg.secret = (struct ingest_secret){STR_LIT("the new one"), STR_LIT(GH_SECRET)};
    assert_int_equal(verify(&cfg, &f, STR_LIT(GH_BODY), NOW), ERR_OK);
    /* the grace period over: previous dropped */
    cfg.secret.previous = STR_NULL;
    assert_int_equal(verify(&cfg, &f, STR_LIT(GH_BODY), NOW), ERR_UNAUTHENTICATED);
    /* the current still works while a previous is kept */
    cfg.secret = (struct ingest_secret){STR_LIT(GH_SECRET), STR_LIT("an older one")};
    assert_int_equal(verify(&cfg, &f, STR_LIT(GH_BODY), NOW), ERR_OK);
    /* a previous without a current is a configuration mistake */
    cfg.secret = (struct ingest_secret){STR_NULL, STR_LIT(GH_SECRET)};
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(GH_BODY), NOW), "integration misconfigured");
}

/* Empty body: printf '' | openssl dgst -sha256 -hmac whsec_test_secret */
#define EMPTY_SIG "sha256=c6c175a074d482e2b94a0f8c5619f3abd861a511ec3ea7603b906811fd3d9d30"

static void test_empty_body(void **state)
{
    (void)state;
    struct ingest_verify_config cfg = {.provider = INGEST_PROVIDER_GITHUB,
                                       .secret = {STR_LIT("whsec_test_secret"), STR_NULL}};
    struct fake f = {0};
    put_cstr(&f, "X-Hub-Signature-256", EMPTY_SIG);
    assert_int_equal(verify(&cfg, &f, STR_NULL, NOW), ERR_OK);
    assert_int_equal(verify(&cfg, &f, str_from("", 0), NOW), ERR_OK);
    assert_int_equal(verify(&cfg, &f, STR_LIT(" "), NOW), ERR_UNAUTHENTICATED);
    /* Stripe over an empty body: the signed text is "<t>." */
    char sig[INGEST_STRIPE_SIGNATURE_MAX + 1];
    assert_int_equal(ingest_stripe_sign(STR_LIT("whsec_test_secret"), NOW, STR_NULL, sig), ERR_OK);
    /* printf '1700000000.' | openssl dgst -sha256 -hmac whsec_test_secret */
    assert_string_equal(
        sig, "t=1700000000,v1=316b9ab98c15bfa039d243f3196acee619cf29749a91a634e6a8154e2f7b6727");
    cfg = (struct ingest_verify_config){.provider = INGEST_PROVIDER_STRIPE,
                                        .secret = {STR_LIT("whsec_test_secret"), STR_NULL}};
    put_cstr(&f, "Stripe-Signature", sig);
    assert_int_equal(verify(&cfg, &f, STR_NULL, NOW), ERR_OK);
}

static void test_github_limits(void **state)
{
    (void)state;
    struct ingest_verify_config cfg = github_cfg();
    struct fake f = {0};
    /* a signature header one byte past the limit, however it starts */
    char big[INGEST_MAX_SIGNATURE_HEADER + 2];
    memset(big, 'a', sizeof big);
    memcpy(big, GH_SIG, sizeof GH_SIG - 1);
    put(&f, "X-Hub-Signature-256", str_from(big, INGEST_MAX_SIGNATURE_HEADER + 1));
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(GH_BODY), NOW), "signature header too long");
    put(&f, "X-Hub-Signature-256", str_from(big, INGEST_MAX_SIGNATURE_HEADER));
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(GH_BODY), NOW), "signature header malformed");

    /* a secret at the limit works; one byte past is a configuration error */
    cfg.secret.current = repeat('k', INGEST_MAX_SECRET);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_OK);
    cfg.secret.current = repeat('k', INGEST_MAX_SECRET + 1);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_LIMIT);
    put_cstr(&f, "X-Hub-Signature-256", GH_SIG);
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(GH_BODY), NOW), "integration misconfigured");
    cfg.secret = (struct ingest_secret){STR_LIT(GH_SECRET), repeat('k', INGEST_MAX_SECRET + 1)};
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_LIMIT);
}

/* ---- Bitbucket ---- */

static void test_bitbucket_both(void **state)
{
    (void)state;
    enum ingest_provider ps[] = {INGEST_PROVIDER_BITBUCKET, INGEST_PROVIDER_BITBUCKET_SERVER};
    for (size_t i = 0; i < 2; i++) {
        struct ingest_verify_config cfg = {.provider = ps[i],
                                           .secret = {STR_LIT(GH_SECRET), STR_NULL}};
        struct fake f = {0};
        put_cstr(&f, "X-Hub-Signature", GH_SIG);
        assert_int_equal(verify(&cfg, &f, STR_LIT(GH_BODY), NOW), ERR_OK);
        assert_int_equal(verify(&cfg, &f, STR_LIT("Hello, World?"), NOW), ERR_UNAUTHENTICATED);
        cfg.secret.current = STR_LIT("another");
        assert_int_equal(verify(&cfg, &f, STR_LIT(GH_BODY), NOW), ERR_UNAUTHENTICATED);
        cfg.secret.previous = STR_LIT(GH_SECRET);
        assert_int_equal(verify(&cfg, &f, STR_LIT(GH_BODY), NOW), ERR_OK);
        /* GitHub's header is not Bitbucket's */
        struct fake g = {0};
        put_cstr(&g, "X-Hub-Signature-256", GH_SIG);
        assert_string_equal(reason_of(&cfg, &g, STR_LIT(GH_BODY), NOW), "signature header missing");
        put_cstr(&f, "X-Hub-Signature", &GH_SIG[7]); /* no "sha256=" */
        assert_string_equal(reason_of(&cfg, &f, STR_LIT(GH_BODY), NOW),
                            "signature header malformed");
    }
}

/* ---- Standard Webhooks ---- */

#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS     1614265330
#define SW_BODY   "{\"test\": 2432232314}"
#define SW_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static enum err sw_verify(const char *sigs, const char *ts, int64_t now, const char **why)
{
    struct ingest_secret s = {STR_LIT(SW_SECRET), STR_NULL};
    return ingest_stdwh_verify(&s, STR_LIT(SW_ID), str_from_cstr(ts), str_from_cstr(sigs),
                               STR_LIT(SW_BODY), now, why);
}

static void test_stdwh_vector(void **state)
{
    (void)state;
    char sig[INGEST_STDWH_SIGNATURE_LEN + 1];
    assert_int_equal(
        ingest_stdwh_sign(STR_LIT(SW_SECRET), STR_LIT(SW_ID), SW_TS, STR_LIT(SW_BODY), sig),
        ERR_OK);
    assert_string_equal(sig, SW_SIG);
    /* the whsec_ prefix is optional */
    assert_int_equal(ingest_stdwh_sign(STR_LIT("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), STR_LIT(SW_ID),
                                       SW_TS, STR_LIT(SW_BODY), sig),
                     ERR_OK);
    assert_string_equal(sig, SW_SIG);

    const char *why = "untouched";
    assert_int_equal(sw_verify(SW_SIG, "1614265330", SW_TS, &why), ERR_OK);
    assert_null(why);
    /* a different body, id or timestamp text */
    struct ingest_secret s = {STR_LIT(SW_SECRET), STR_NULL};
    assert_int_equal(ingest_stdwh_verify(&s, STR_LIT(SW_ID), STR_LIT("1614265330"), STR_LIT(SW_SIG),
                                         STR_LIT("{\"test\": 2432232315}"), SW_TS, &why),
                     ERR_UNAUTHENTICATED);
    assert_string_equal(why, "signature mismatch");
    assert_int_equal(ingest_stdwh_verify(&s, STR_LIT("msg_p5jXN8AQM9LWM0D4loKWxJel"),
                                         STR_LIT("1614265330"), STR_LIT(SW_SIG), STR_LIT(SW_BODY),
                                         SW_TS, &why),
                     ERR_UNAUTHENTICATED);
    assert_int_equal(sw_verify(SW_SIG, "01614265330", SW_TS, &why), ERR_UNAUTHENTICATED);
    assert_string_equal(why, "signature mismatch");
    /* wrong key */
    s.current = STR_LIT("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx");
    assert_int_equal(ingest_stdwh_verify(&s, STR_LIT(SW_ID), STR_LIT("1614265330"), STR_LIT(SW_SIG),
                                         STR_LIT(SW_BODY), SW_TS, &why),
                     ERR_UNAUTHENTICATED);
    /* rotation: the old key as previous */
    s.previous = STR_LIT(SW_SECRET);
    assert_int_equal(ingest_stdwh_verify(&s, STR_LIT(SW_ID), STR_LIT("1614265330"), STR_LIT(SW_SIG),
                                         STR_LIT(SW_BODY), SW_TS, &why),
                     ERR_OK);
}

static void test_stdwh_tolerance(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(sw_verify(SW_SIG, "1614265330", SW_TS + 300, &why), ERR_OK);
    assert_int_equal(sw_verify(SW_SIG, "1614265330", SW_TS - 300, &why), ERR_OK);
    assert_int_equal(sw_verify(SW_SIG, "1614265330", SW_TS + 301, &why), ERR_UNAUTHENTICATED);
    assert_string_equal(why, "timestamp outside tolerance");
    assert_int_equal(sw_verify(SW_SIG, "1614265330", SW_TS - 301, &why), ERR_UNAUTHENTICATED);
    assert_string_equal(why, "timestamp outside tolerance");
    assert_int_equal(sw_verify(SW_SIG, "1614265330", -1, &why), ERR_UNAUTHENTICATED);
    assert_int_equal(sw_verify(SW_SIG, "1614265330", INT64_MAX, &why), ERR_UNAUTHENTICATED);
    /* malformed timestamps */
    static const char *const bad[] = {"-1614265330",         "+1614265330",  " 1614265330",
                                      "1614265330 ",         "1614265330.0", "0x60376a32",
                                      "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sw_verify(SW_SIG, bad[i], SW_TS, &why), ERR_UNAUTHENTICATED);
        assert_string_equal(why, "timestamp malformed");
    }
    /* INGEST_MAX_TIMESTAMP digits parse (then fail on time); one more is malformed */
    assert_int_equal(sw_verify(SW_SIG, "00000000001614265330", SW_TS, &why), ERR_UNAUTHENTICATED);
    assert_string_equal(why, "signature mismatch");
    assert_int_equal(sw_verify(SW_SIG, "000000000001614265330", SW_TS, &why), ERR_UNAUTHENTICATED);
    assert_string_equal(why, "timestamp malformed");
}

static void test_stdwh_several_signatures(void **state)
{
    (void)state;
    const char *why = NULL;
    /* only the second matches */
    assert_int_equal(sw_verify("v1,Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyYWI= " SW_SIG,
                               "1614265330", SW_TS, &why),
                     ERR_OK);
    /* ...or only the first */
    assert_int_equal(sw_verify(SW_SIG " v1,Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyYWI=",
                               "1614265330", SW_TS, &why),
                     ERR_OK);
    /* other versions, malformed v1 entries and extra spaces are skipped */
    assert_int_equal(sw_verify("v1a,AAAA  v1,!!!! v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                               "1614265330", SW_TS, &why),
                     ERR_UNAUTHENTICATED);
    assert_string_equal(why, "no usable signature");
    assert_int_equal(sw_verify("v1a,AAAA  v1,!!!!   " SW_SIG "  ", "1614265330", SW_TS, &why),
                     ERR_OK);
    /* the version is case-sensitive and the comma required */
    assert_int_equal(
        sw_verify("V1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "1614265330", SW_TS, &why),
        ERR_UNAUTHENTICATED);
    assert_int_equal(
        sw_verify("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "1614265330", SW_TS, &why),
        ERR_UNAUTHENTICATED);
    /* a signature without its padding, or one byte short, does not decode to a MAC */
    assert_int_equal(
        sw_verify("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", "1614265330", SW_TS, &why),
        ERR_UNAUTHENTICATED);
    assert_string_equal(why, "no usable signature");

    /* INGEST_MAX_SIGNATURES entries with the match last pass; one more fails */
    char sigs[INGEST_MAX_SIGNATURE_HEADER + 1];
    size_t len = 0;
    for (int i = 0; i < INGEST_MAX_SIGNATURES - 1; i++)
        len += (size_t)snprintf(sigs + len, sizeof sigs - len, "v1a,x%d ", i);
    snprintf(sigs + len, sizeof sigs - len, "%s", SW_SIG);
    assert_int_equal(sw_verify(sigs, "1614265330", SW_TS, &why), ERR_OK);
    char more[2 * INGEST_MAX_SIGNATURE_HEADER];
    snprintf(more, sizeof more, "v1a,y %s", sigs);
    assert_int_equal(sw_verify(more, "1614265330", SW_TS, &why), ERR_UNAUTHENTICATED);
    assert_string_equal(why, "too many signatures");

    /* the header one byte past its limit */
    char big[INGEST_MAX_SIGNATURE_HEADER + 2];
    memset(big, ' ', sizeof big);
    memcpy(big, SW_SIG, sizeof SW_SIG - 1);
    big[INGEST_MAX_SIGNATURE_HEADER] = '\0';
    assert_int_equal(sw_verify(big, "1614265330", SW_TS, &why), ERR_OK);
    big[INGEST_MAX_SIGNATURE_HEADER] = ' ';
    big[INGEST_MAX_SIGNATURE_HEADER + 1] = '\0';
    assert_int_equal(sw_verify(big, "1614265330", SW_TS, &why), ERR_UNAUTHENTICATED);
    assert_string_equal(why, "signature header too long");
}

static void test_stdwh_id_and_secret(void **state)
{
    (void)state;
    struct ingest_secret s = {STR_LIT(SW_SECRET), STR_NULL};
    const char *why = NULL;
    char sig[INGEST_STDWH_SIGNATURE_LEN + 1];
    /* an id at the limit signs and verifies; one byte past does neither */
    struct str id = repeat('i', INGEST_MAX_WEBHOOK_ID);
    assert_int_equal(ingest_stdwh_sign(s.current, id, SW_TS, STR_LIT(SW_BODY), sig), ERR_OK);
    assert_int_equal(ingest_stdwh_verify(&s, id, STR_LIT("1614265330"), str_from_cstr(sig),
                                         STR_LIT(SW_BODY), SW_TS, &why),
                     ERR_OK);
    id = repeat('i', INGEST_MAX_WEBHOOK_ID + 1);
    assert_int_equal(ingest_stdwh_sign(s.current, id, SW_TS, STR_LIT(SW_BODY), sig), ERR_LIMIT);
    assert_string_equal(sig, "");
    assert_int_equal(ingest_stdwh_verify(&s, id, STR_LIT("1614265330"), STR_LIT(SW_SIG),
                                         STR_LIT(SW_BODY), SW_TS, &why),
                     ERR_UNAUTHENTICATED);
    assert_string_equal(why, "webhook-id malformed");
    /* '.' (re-splitting), spaces and control bytes are refused */
    static const char *const bad_ids[] = {"msg.1", "msg 1", "msg\x01", "msg\x7f"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        assert_int_equal(
            ingest_stdwh_sign(s.current, str_from_cstr(bad_ids[i]), SW_TS, STR_NULL, sig),
            ERR_INVALID);
        assert_int_equal(ingest_stdwh_verify(&s, str_from_cstr(bad_ids[i]), STR_LIT("1614265330"),
                                             STR_LIT(SW_SIG), STR_LIT(SW_BODY), SW_TS, &why),
                         ERR_UNAUTHENTICATED);
        assert_string_equal(why, "webhook-id malformed");
    }
    assert_int_equal(ingest_stdwh_verify(&s, STR_NULL, STR_LIT("1614265330"), STR_LIT(SW_SIG),
                                         STR_LIT(SW_BODY), SW_TS, &why),
                     ERR_UNAUTHENTICATED);
    assert_string_equal(why, "webhook-id missing");
    assert_int_equal(sw_verify(SW_SIG, "", SW_TS, &why), ERR_UNAUTHENTICATED);
    assert_string_equal(why, "timestamp missing");
    assert_int_equal(sw_verify("", "1614265330", SW_TS, &why), ERR_UNAUTHENTICATED);
    assert_string_equal(why, "signature header missing");
    assert_int_equal(ingest_stdwh_sign(s.current, STR_LIT(SW_ID), -1, STR_NULL, sig), ERR_INVALID);

    /* secrets that are not base64, or decode to nothing */
    static const char *const bad_secrets[] = {"whsec_", "whsec_!!!!", "whsec_MfKQ 9r8G", "", "abc"};
    for (size_t i = 0; i < sizeof bad_secrets / sizeof bad_secrets[0]; i++) {
        assert_int_equal(
            ingest_stdwh_sign(str_from_cstr(bad_secrets[i]), STR_LIT(SW_ID), SW_TS, STR_NULL, sig),
            ERR_INVALID);
        struct ingest_secret b = {str_from_cstr(bad_secrets[i]), STR_NULL};
        assert_int_equal(ingest_stdwh_verify(&b, STR_LIT(SW_ID), STR_LIT("1614265330"),
                                             STR_LIT(SW_SIG), STR_LIT(SW_BODY), SW_TS, &why),
                         ERR_UNAUTHENTICATED);
        assert_string_equal(why, "integration misconfigured");
    }
    /* a secret text one byte past INGEST_MAX_SECRET */
    char long_secret[INGEST_MAX_SECRET + 1];
    memcpy(long_secret, "whsec_", 6);
    memset(long_secret + 6, 'A', sizeof long_secret - 6);
    assert_int_equal(ingest_stdwh_sign(str_from(long_secret, INGEST_MAX_SECRET - 2), STR_LIT(SW_ID),
                                       SW_TS, STR_NULL, sig),
                     ERR_OK); /* 504 base64 digits: 378 bytes */
    assert_int_equal(ingest_stdwh_sign(str_from(long_secret, sizeof long_secret), STR_LIT(SW_ID),
                                       SW_TS, STR_NULL, sig),
                     ERR_LIMIT);
}

/* ---- GitLab ---- */

static struct ingest_verify_config gitlab_cfg(bool signing)
{
    struct ingest_verify_config cfg = {.provider = INGEST_PROVIDER_GITLAB,
                                       .secret = {STR_LIT("glpat-not-a-real-token"), STR_NULL}};
    if (signing)
        cfg.signing_secret.current = STR_LIT(SW_SECRET);
    return cfg;
}

static void gitlab_signed(struct fake *f)
{
    put_cstr(f, "X-Gitlab-Token", "glpat-not-a-real-token");
    put_cstr(f, "webhook-id", SW_ID);
    put_cstr(f, "webhook-timestamp", "1614265330");
    put_cstr(f, "webhook-signature", SW_SIG);
}

static void test_gitlab_token(void **state)
{
    (void)state;
    struct ingest_verify_config cfg = gitlab_cfg(false);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_OK);
    struct fake f = {0};
    put_cstr(&f, "X-Gitlab-Token", "glpat-not-a-real-token");
    assert_int_equal(verify(&cfg, &f, STR_LIT("{}"), NOW), ERR_OK);
    assert_int_equal(verify(&cfg, &f, STR_NULL, NOW),
                     ERR_OK); /* the token does not cover the body */
    static const char *const wrong[] = {"glpat-not-a-real-tokeN", "glpat-not-a-real-token ",
                                        "glpat-not-a-real-toke", "GLPAT-NOT-A-REAL-TOKEN"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        put_cstr(&f, "X-Gitlab-Token", wrong[i]);
        assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "token mismatch");
    }
    drop(&f, "X-Gitlab-Token");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "token header missing");
    /* rotation */
    cfg.secret = (struct ingest_secret){STR_LIT("new-token"), STR_LIT("glpat-not-a-real-token")};
    put_cstr(&f, "X-Gitlab-Token", "glpat-not-a-real-token");
    assert_int_equal(verify(&cfg, &f, STR_LIT("{}"), NOW), ERR_OK);
    put_cstr(&f, "X-Gitlab-Token", "new-token");
    assert_int_equal(verify(&cfg, &f, STR_LIT("{}"), NOW), ERR_OK);
    /* a token header one byte past the longest secret */
    cfg.secret = (struct ingest_secret){repeat('t', INGEST_MAX_SECRET), STR_NULL};
    put(&f, "X-Gitlab-Token", cfg.secret.current);
    assert_int_equal(verify(&cfg, &f, STR_LIT("{}"), NOW), ERR_OK);
    char longer[INGEST_MAX_SECRET + 1];
    memset(longer, 't', sizeof longer);
    put(&f, "X-Gitlab-Token", str_from(longer, sizeof longer));
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "token header too long");
}

static void test_gitlab_signed(void **state)
{
    (void)state;
    struct ingest_verify_config cfg = gitlab_cfg(true);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_OK);
    struct fake f = {0};
    gitlab_signed(&f);
    assert_int_equal(verify(&cfg, &f, STR_LIT(SW_BODY), SW_TS), ERR_OK);
    assert_int_equal(verify(&cfg, &f, STR_LIT(SW_BODY), SW_TS + 300), ERR_OK);
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(SW_BODY), SW_TS - 301),
                        "timestamp outside tolerance");
    /* tampered body */
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{\"test\": 2432232315}"), SW_TS),
                        "signature mismatch");
    /* both are required: a right signature does not stand in for the token... */
    put_cstr(&f, "X-Gitlab-Token", "wrong");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(SW_BODY), SW_TS), "token mismatch");
    drop(&f, "X-Gitlab-Token");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(SW_BODY), SW_TS), "token header missing");
    /* ...nor the token for the signature */
    gitlab_signed(&f);
    drop(&f, "webhook-signature");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(SW_BODY), SW_TS), "signature header missing");
    gitlab_signed(&f);
    drop(&f, "webhook-id");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(SW_BODY), SW_TS), "webhook-id missing");
    gitlab_signed(&f);
    drop(&f, "webhook-timestamp");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(SW_BODY), SW_TS), "timestamp missing");
    /* rotation of the signing secret */
    gitlab_signed(&f);
    cfg.signing_secret = (struct ingest_secret){STR_LIT("whsec_c2hpcGxvZw=="), STR_LIT(SW_SECRET)};
    assert_int_equal(verify(&cfg, &f, STR_LIT(SW_BODY), SW_TS), ERR_OK);
    cfg.signing_secret.previous = STR_NULL;
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(SW_BODY), SW_TS), "signature mismatch");
    /* without a signing secret the webhook-* headers are not looked at */
    cfg = gitlab_cfg(false);
    put_cstr(&f, "webhook-signature", "v1,garbage");
    assert_int_equal(verify(&cfg, &f, STR_LIT("anything"), 0), ERR_OK);
    /* a signing secret that is not base64 is refused at configuration */
    cfg.signing_secret.current = STR_LIT("whsec_not base64");
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(SW_BODY), SW_TS), "integration misconfigured");
    cfg.signing_secret.current = repeat('A', INGEST_MAX_SECRET + 1);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_LIMIT);
}

/* ---- Azure DevOps ---- */

static struct ingest_verify_config azure_cfg(bool basic, bool custom)
{
    struct ingest_verify_config cfg = {.provider = INGEST_PROVIDER_AZURE_DEVOPS};
    if (basic) {
        cfg.basic_user = STR_LIT("user");
        cfg.basic_password.current = STR_LIT("pass");
    }
    if (custom) {
        cfg.header_name = STR_LIT("X-Shiplog-Secret");
        cfg.header_value.current = STR_LIT("hunter2-but-longer");
    }
    return cfg;
}

static void test_azure_basic(void **state)
{
    (void)state;
    struct ingest_verify_config cfg = azure_cfg(true, false);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_OK);
    struct fake f = {0};
    put_cstr(&f, "Authorization", "Basic dXNlcjpwYXNz"); /* user:pass */
    assert_int_equal(verify(&cfg, &f, STR_LIT("{}"), NOW), ERR_OK);
    put_cstr(&f, "Authorization", "basic   dXNlcjpwYXNz"); /* scheme in any case, several spaces */
    assert_int_equal(verify(&cfg, &f, STR_LIT("{}"), NOW), ERR_OK);
    put_cstr(&f, "Authorization", "Basic Y2ktYm90OnMzY3IzdA=="); /* ci-bot:s3cr3t */
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "credentials mismatch");
    put_cstr(&f, "Authorization", "Basic dXNyOnBhc3M="); /* usr:pass: the user counts too */
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "credentials mismatch");
    put_cstr(&f, "Authorization", "Basic dXNlciA6cGFzcw=="); /* "user :pass" */
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "credentials mismatch");
    put_cstr(&f, "Authorization", "Basic dXNlcjpwYXN6"); /* user:pasz */
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "credentials mismatch");
    put_cstr(&f, "Authorization", "Basic dXNlcnBhc3M="); /* userpass: no colon */
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "credentials malformed");
    static const char *const malformed[] = {
        "Bearer dXNlcjpwYXNz", "Basic", "Basic ", "Basic dXNlcjpwYXNz!", "BasicdXNlcjpwYXNz",
        "Basic dXNlcjpwYXN"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        put_cstr(&f, "Authorization", malformed[i]);
        assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "credentials malformed");
    }
    drop(&f, "Authorization");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "credentials missing");
    /* rotation of the password */
    cfg.basic_password = (struct ingest_secret){STR_LIT("new"), STR_LIT("pass")};
    put_cstr(&f, "Authorization", "Basic dXNlcjpwYXNz");
    assert_int_equal(verify(&cfg, &f, STR_LIT("{}"), NOW), ERR_OK);
    /* an Authorization header one byte past its limit */
    char big[INGEST_MAX_AUTHORIZATION + 1];
    memset(big, 'A', sizeof big);
    memcpy(big, "Basic ", 6);
    put(&f, "Authorization", str_from(big, sizeof big));
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "credentials too long");
    put(&f, "Authorization", str_from(big, sizeof big - 1));
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "credentials malformed");
    /* the longest configurable credentials fit under the header limit */
    cfg.basic_user = repeat('u', INGEST_MAX_SECRET);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_OK);
    cfg.basic_user = repeat('u', INGEST_MAX_SECRET + 1);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_LIMIT);
    /* RFC 7617: no colon in the user; a user needs a password */
    cfg = azure_cfg(true, false);
    cfg.basic_user = STR_LIT("us:er");
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
    cfg = azure_cfg(true, false);
    cfg.basic_password.current = STR_NULL;
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
    /* an empty user is allowed: ":pass" */
    cfg = azure_cfg(true, false);
    cfg.basic_user = STR_NULL;
    put_cstr(&f, "Authorization", "Basic OnBhc3M=");
    assert_int_equal(verify(&cfg, &f, STR_LIT("{}"), NOW), ERR_OK);
}

static void test_azure_custom_header(void **state)
{
    (void)state;
    struct ingest_verify_config cfg = azure_cfg(false, true);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_OK);
    struct fake f = {0};
    put_cstr(&f, "x-shiplog-secret", "hunter2-but-longer");
    assert_int_equal(verify(&cfg, &f, STR_LIT("{}"), NOW), ERR_OK);
    put_cstr(&f, "x-shiplog-secret", "hunter2-but-longeR");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "custom header mismatch");
    drop(&f, "x-shiplog-secret");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "custom header missing");
    put(&f, "x-shiplog-secret", repeat('v', INGEST_MAX_SECRET + 1));
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "custom header too long");
    /* rotation */
    cfg.header_value = (struct ingest_secret){STR_LIT("next"), STR_LIT("hunter2-but-longer")};
    put_cstr(&f, "x-shiplog-secret", "hunter2-but-longer");
    assert_int_equal(verify(&cfg, &f, STR_LIT("{}"), NOW), ERR_OK);

    /* header names: an HTTP token up to the limit, never Authorization */
    char name[INGEST_MAX_AZURE_HEADER_NAME + 1];
    memset(name, 'h', sizeof name);
    cfg.header_name = str_from(name, INGEST_MAX_AZURE_HEADER_NAME);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_OK);
    cfg.header_name = str_from(name, INGEST_MAX_AZURE_HEADER_NAME + 1);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_LIMIT);
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "integration misconfigured");
    static const char *const bad[] = {"authorization", "X Secret", "X-Secret:", "X-Sécret", "X\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg.header_name = str_from_cstr(bad[i]);
        assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
    }
    /* a value without a name, a name without a value */
    cfg = azure_cfg(true, false);
    cfg.header_value.current = STR_LIT("v");
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
    cfg = azure_cfg(false, true);
    cfg.header_value.current = STR_NULL;
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
}

static void test_azure_both_and_neither(void **state)
{
    (void)state;
    struct ingest_verify_config cfg = azure_cfg(true, true);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_OK);
    struct fake f = {0};
    put_cstr(&f, "Authorization", "Basic dXNlcjpwYXNz");
    put_cstr(&f, "X-Shiplog-Secret", "hunter2-but-longer");
    assert_int_equal(verify(&cfg, &f, STR_LIT("{}"), NOW), ERR_OK);
    /* both configured: each one alone is not enough */
    drop(&f, "X-Shiplog-Secret");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "custom header missing");
    put_cstr(&f, "X-Shiplog-Secret", "hunter2-but-longer");
    drop(&f, "Authorization");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "credentials missing");
    put_cstr(&f, "Authorization", "Basic Y2ktYm90OnMzY3IzdA==");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "credentials mismatch");
    /* either configured: the other's header is not needed */
    put_cstr(&f, "Authorization", "Basic dXNlcjpwYXNz");
    cfg = azure_cfg(true, false);
    drop(&f, "X-Shiplog-Secret");
    assert_int_equal(verify(&cfg, &f, STR_LIT("{}"), NOW), ERR_OK);
    cfg = azure_cfg(false, true);
    put_cstr(&f, "X-Shiplog-Secret", "hunter2-but-longer");
    drop(&f, "Authorization");
    assert_int_equal(verify(&cfg, &f, STR_LIT("{}"), NOW), ERR_OK);
    /* neither configured: nothing is accepted, whatever arrives */
    cfg = azure_cfg(false, false);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
    put_cstr(&f, "Authorization", "Basic dXNlcjpwYXNz");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT("{}"), NOW), "integration misconfigured");
    struct fake none = {0};
    assert_int_equal(verify(&cfg, &none, STR_NULL, NOW), ERR_UNAUTHENTICATED);
    /* Azure has no shared secret of the other kinds */
    cfg = azure_cfg(true, false);
    cfg.secret.current = STR_LIT("x");
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
}

/* ---- Stripe ---- */

#define ST_SECRET "whsec_test_secret"
#define ST_BODY   "{\"id\":\"evt_1\",\"type\":\"invoice.paid\"}"
/* printf '1700000000.<ST_BODY>' | openssl dgst -sha256 -hmac whsec_test_secret */
#define ST_V1 "46dc069361a7691082640523fa33fe5d6c8c88d5f5e257cdf8cf11539d166595"

static struct ingest_verify_config stripe_cfg(void)
{
    return (struct ingest_verify_config){.provider = INGEST_PROVIDER_STRIPE,
                                         .secret = {STR_LIT(ST_SECRET), STR_NULL}};
}

static void test_stripe_sign_and_verify(void **state)
{
    (void)state;
    char sig[INGEST_STRIPE_SIGNATURE_MAX + 1];
    assert_int_equal(ingest_stripe_sign(STR_LIT(ST_SECRET), NOW, STR_LIT(ST_BODY), sig), ERR_OK);
    assert_string_equal(sig, "t=1700000000,v1=" ST_V1);
    /* the secret is used as bytes, not base64-decoded: another key, another MAC */
    char other[INGEST_STRIPE_SIGNATURE_MAX + 1];
    assert_int_equal(ingest_stripe_sign(STR_LIT("test_secret"), NOW, STR_LIT(ST_BODY), other),
                     ERR_OK);
    assert_string_not_equal(sig, other);

    struct ingest_verify_config cfg = stripe_cfg();
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_OK);
    struct fake f = {0};
    put_cstr(&f, "Stripe-Signature", sig);
    assert_int_equal(verify(&cfg, &f, STR_LIT(ST_BODY), NOW), ERR_OK);
    assert_int_equal(verify(&cfg, &f, STR_LIT(ST_BODY), NOW + 300), ERR_OK);
    assert_int_equal(verify(&cfg, &f, STR_LIT(ST_BODY), NOW - 300), ERR_OK);
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(ST_BODY), NOW + 301),
                        "timestamp outside tolerance");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(ST_BODY), NOW - 301),
                        "timestamp outside tolerance");
    assert_string_equal(
        reason_of(&cfg, &f, STR_LIT("{\"id\":\"evt_2\",\"type\":\"invoice.paid\"}"), NOW),
        "signature mismatch");
    cfg.secret.current = STR_LIT("whsec_test_secreT");
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(ST_BODY), NOW), "signature mismatch");
    cfg.secret.previous = STR_LIT(ST_SECRET); /* rotation */
    assert_int_equal(verify(&cfg, &f, STR_LIT(ST_BODY), NOW), ERR_OK);

    assert_int_equal(ingest_stripe_sign(STR_NULL, NOW, STR_NULL, sig), ERR_INVALID);
    assert_int_equal(ingest_stripe_sign(STR_LIT(ST_SECRET), -1, STR_NULL, sig), ERR_INVALID);
    assert_int_equal(
        ingest_stripe_sign(repeat('s', INGEST_MAX_SECRET + 1), NOW, STR_LIT(ST_BODY), sig),
        ERR_LIMIT);
}

static void test_stripe_header_forms(void **state)
{
    (void)state;
    struct ingest_verify_config cfg = stripe_cfg();
    struct fake f = {0};
    const char *ok[] = {
        "t=1700000000,v1=" ST_V1,
        "v1=" ST_V1 ",t=1700000000", /* order does not matter */
        /* several v1 during a rotation on Stripe's side, only the second matches; v0 ignored */
        "t=1700000000,v1=0000000000000000000000000000000000000000000000000000000000000000,v1=" ST_V1
        ",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
        "t=1700000000,v1=" ST_V1
        ",v1=0000000000000000000000000000000000000000000000000000000000000000",
        "t=1700000000,v1=zz,v1=" ST_V1, /* a malformed v1 matches nothing, the next may */
        "t=1700000000,v1=46DC069361A7691082640523FA33FE5D6C8C88D5F5E257CDF8CF11539D166595",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        put_cstr(&f, "Stripe-Signature", ok[i]);
        assert_int_equal(verify(&cfg, &f, STR_LIT(ST_BODY), NOW), ERR_OK);
    }
    struct {
        const char *value, *why;
    } bad[] = {
        {"v1=" ST_V1, "timestamp missing"},
        {"t=,v1=" ST_V1, "timestamp missing"},
        {"t=1700000000,t=1700000000,v1=" ST_V1, "signature header malformed"},
        {"t=1700000000", "no usable signature"},
        {"t=1700000000,v0=" ST_V1, "no usable signature"},
        {"t=1700000000,v1=" ST_V1 "00", "no usable signature"},
        {"t=1700000000, v1=" ST_V1, "no usable signature"},
        {"t= 1700000000,v1=" ST_V1, "timestamp malformed"},
        {"t=-1700000000,v1=" ST_V1, "timestamp malformed"},
        {"t=1700000001,v1=" ST_V1, "signature mismatch"},
        {"", "signature header missing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put_cstr(&f, "Stripe-Signature", bad[i].value);
        assert_string_equal(reason_of(&cfg, &f, STR_LIT(ST_BODY), NOW), bad[i].why);
    }

    /* INGEST_MAX_SIGNATURES entries besides t pass; one more fails */
    char sigs[INGEST_MAX_SIGNATURE_HEADER + 1];
    size_t len = (size_t)snprintf(sigs, sizeof sigs, "t=1700000000");
    for (int i = 0; i < INGEST_MAX_SIGNATURES - 1; i++)
        len += (size_t)snprintf(sigs + len, sizeof sigs - len, ",v0=%d", i);
    snprintf(sigs + len, sizeof sigs - len, ",v1=%s", ST_V1);
    put_cstr(&f, "Stripe-Signature", sigs);
    assert_int_equal(verify(&cfg, &f, STR_LIT(ST_BODY), NOW), ERR_OK);
    char more[2 * INGEST_MAX_SIGNATURE_HEADER];
    snprintf(more, sizeof more, "%s,v1=00", sigs);
    put_cstr(&f, "Stripe-Signature", more);
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(ST_BODY), NOW), "too many signatures");
    /* the header one byte past its limit */
    char big[INGEST_MAX_SIGNATURE_HEADER + 1];
    memset(big, ',', sizeof big);
    memcpy(big, "t=1700000000,v1=" ST_V1, sizeof("t=1700000000,v1=" ST_V1) - 1);
    put(&f, "Stripe-Signature", str_from(big, INGEST_MAX_SIGNATURE_HEADER));
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(ST_BODY), NOW), "too many signatures");
    put(&f, "Stripe-Signature", str_from(big, INGEST_MAX_SIGNATURE_HEADER + 1));
    assert_string_equal(reason_of(&cfg, &f, STR_LIT(ST_BODY), NOW), "signature header too long");
}

/* ---- configuration and the common contract ---- */

static void test_config_check(void **state)
{
    (void)state;
    assert_int_equal(ingest_verify_config_check(NULL), ERR_INVALID);
    struct ingest_verify_config cfg = github_cfg();
    cfg.provider = INGEST_PROVIDER_COUNT_;
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
    /* a required secret missing */
    for (int p = 0; p < INGEST_PROVIDER_COUNT_; p++) {
        if (p == INGEST_PROVIDER_AZURE_DEVOPS)
            continue;
        cfg = (struct ingest_verify_config){.provider = (enum ingest_provider)p};
        assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
        struct fake f = {0};
        assert_string_equal(reason_of(&cfg, &f, STR_NULL, NOW), "integration misconfigured");
    }
    /* fields the provider does not use must be empty */
    cfg = github_cfg();
    cfg.signing_secret.current = STR_LIT(SW_SECRET);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
    cfg = stripe_cfg();
    cfg.signing_secret.current = STR_LIT(SW_SECRET);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
    cfg = github_cfg();
    cfg.basic_password.current = STR_LIT("x");
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
    cfg = github_cfg();
    cfg.header_name = STR_LIT("X-A");
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
    cfg = gitlab_cfg(false);
    cfg.signing_secret.previous = STR_LIT(SW_SECRET); /* previous without current */
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
    /* a view with a length but no bytes */
    cfg = github_cfg();
    cfg.secret.current = str_from(NULL, 3);
    assert_int_equal(ingest_verify_config_check(&cfg), ERR_INVALID);
}

static void test_bad_calls_fail_closed(void **state)
{
    (void)state;
    struct ingest_verify_config cfg = github_cfg();
    const char *why = NULL;
    assert_int_equal(ingest_verify(NULL, NULL, STR_NULL, NOW, &why), ERR_UNAUTHENTICATED);
    assert_non_null(why);
    assert_int_equal(ingest_verify(&cfg, NULL, STR_LIT(GH_BODY), NOW, &why), ERR_UNAUTHENTICATED);
    struct ingest_headers nothing = {NULL, NULL};
    assert_int_equal(ingest_verify(&cfg, &nothing, STR_LIT(GH_BODY), NOW, &why),
                     ERR_UNAUTHENTICATED);
    struct fake f = {0};
    put_cstr(&f, "X-Hub-Signature-256", GH_SIG);
    struct ingest_headers h = hdrs(&f);
    assert_int_equal(ingest_verify(&cfg, &h, str_from(NULL, 13), NOW, &why), ERR_UNAUTHENTICATED);
    assert_int_equal(ingest_verify(&cfg, &h, STR_LIT(GH_BODY), NOW, &why), ERR_OK);
}

/* The log-only reason never carries a secret or a header value. */
static void test_reasons_hold_no_values(void **state)
{
    (void)state;
    struct ingest_verify_config cfg = azure_cfg(true, true);
    struct fake f = {0};
    put_cstr(&f, "Authorization", "Basic dXNlcjpwYXN6");
    put_cstr(&f, "X-Shiplog-Secret", "hunter2-but-longeR");
    const char *why = reason_of(&cfg, &f, STR_NULL, NOW);
    assert_null(strstr(why, "pass"));
    assert_null(strstr(why, "hunter2"));
    assert_null(strstr(why, "dXNl"));
    assert_null(strstr(why, "X-Shiplog"));
}

/* ---- delivery id and event name ---- */

static void test_delivery_id(void **state)
{
    (void)state;
    struct fake f = {0};
    put_cstr(&f, "X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    put_cstr(&f, "Idempotency-Key", "f5b3c2a1-0000-4000-8000-000000000001");
    put_cstr(&f, "X-Gitlab-Event-UUID", "not-a-fallback");
    put_cstr(&f, "X-Request-UUID", "{8b3f1c2e-1111-2222-3333-444455556666}");
    put_cstr(&f, "X-Request-Id", "c4a1c9e2-aaaa-bbbb-cccc-ddddeeeeffff");
    struct ingest_headers h = hdrs(&f);
    struct str id;
    assert_int_equal(ingest_delivery_id(INGEST_PROVIDER_GITHUB, &h, &id), ERR_OK);
    assert_true(str_eq_cstr(id, "72d3162e-cc78-11e3-81ab-4c9367dc0958"));
    assert_int_equal(ingest_delivery_id(INGEST_PROVIDER_GITLAB, &h, &id), ERR_OK);
    assert_true(str_eq_cstr(id, "f5b3c2a1-0000-4000-8000-000000000001"));
    assert_int_equal(ingest_delivery_id(INGEST_PROVIDER_BITBUCKET, &h, &id), ERR_OK);
    assert_true(str_eq_cstr(id, "{8b3f1c2e-1111-2222-3333-444455556666}"));
    assert_int_equal(ingest_delivery_id(INGEST_PROVIDER_BITBUCKET_SERVER, &h, &id), ERR_OK);
    assert_true(str_eq_cstr(id, "c4a1c9e2-aaaa-bbbb-cccc-ddddeeeeffff"));
    /* in the body for these */
    assert_int_equal(ingest_delivery_id(INGEST_PROVIDER_AZURE_DEVOPS, &h, &id), ERR_NOT_FOUND);
    assert_int_equal(ingest_delivery_id(INGEST_PROVIDER_STRIPE, &h, &id), ERR_NOT_FOUND);
    assert_null(id.ptr);
    assert_int_equal(ingest_delivery_id(INGEST_PROVIDER_COUNT_, &h, &id), ERR_NOT_FOUND);
    /* GitLab without Idempotency-Key: no fallback */
    drop(&f, "Idempotency-Key");
    assert_int_equal(ingest_delivery_id(INGEST_PROVIDER_GITLAB, &h, &id), ERR_NOT_FOUND);
    /* limit and charset */
    put(&f, "X-GitHub-Delivery", repeat('d', INGEST_MAX_DELIVERY_ID));
    assert_int_equal(ingest_delivery_id(INGEST_PROVIDER_GITHUB, &h, &id), ERR_OK);
    assert_int_equal(id.len, INGEST_MAX_DELIVERY_ID);
    put(&f, "X-GitHub-Delivery", repeat('d', INGEST_MAX_DELIVERY_ID + 1));
    assert_int_equal(ingest_delivery_id(INGEST_PROVIDER_GITHUB, &h, &id), ERR_LIMIT);
    assert_null(id.ptr);
    static const char *const bad[] = {"a b", " ab", "ab\t", "a\x7f", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put_cstr(&f, "X-GitHub-Delivery", bad[i]);
        assert_int_equal(ingest_delivery_id(INGEST_PROVIDER_GITHUB, &h, &id), ERR_INVALID);
    }
    drop(&f, "X-GitHub-Delivery");
    assert_int_equal(ingest_delivery_id(INGEST_PROVIDER_GITHUB, &h, &id), ERR_NOT_FOUND);
}

static void test_event_name(void **state)
{
    (void)state;
    struct fake f = {0};
    put_cstr(&f, "X-GitHub-Event", "pull_request");
    put_cstr(&f, "X-Gitlab-Event", "Merge Request Hook");
    put_cstr(&f, "X-Event-Key", "pullrequest:fulfilled");
    struct ingest_headers h = hdrs(&f);
    struct str ev;
    assert_int_equal(ingest_event_name(INGEST_PROVIDER_GITHUB, &h, &ev), ERR_OK);
    assert_true(str_eq_cstr(ev, "pull_request"));
    assert_int_equal(ingest_event_name(INGEST_PROVIDER_GITLAB, &h, &ev), ERR_OK);
    assert_true(str_eq_cstr(ev, "Merge Request Hook"));
    assert_int_equal(ingest_event_name(INGEST_PROVIDER_BITBUCKET, &h, &ev), ERR_OK);
    assert_true(str_eq_cstr(ev, "pullrequest:fulfilled"));
    assert_int_equal(ingest_event_name(INGEST_PROVIDER_BITBUCKET_SERVER, &h, &ev), ERR_OK);
    assert_int_equal(ingest_event_name(INGEST_PROVIDER_AZURE_DEVOPS, &h, &ev), ERR_NOT_FOUND);
    assert_int_equal(ingest_event_name(INGEST_PROVIDER_STRIPE, &h, &ev), ERR_NOT_FOUND);
    put(&f, "X-GitHub-Event", repeat('e', INGEST_MAX_EVENT));
    assert_int_equal(ingest_event_name(INGEST_PROVIDER_GITHUB, &h, &ev), ERR_OK);
    put(&f, "X-GitHub-Event", repeat('e', INGEST_MAX_EVENT + 1));
    assert_int_equal(ingest_event_name(INGEST_PROVIDER_GITHUB, &h, &ev), ERR_LIMIT);
    static const char *const bad[] = {" push", "push ", "pu\tsh", "push\r\n", "p\xffsh"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put_cstr(&f, "X-GitHub-Event", bad[i]);
        assert_int_equal(ingest_event_name(INGEST_PROVIDER_GITHUB, &h, &ev), ERR_INVALID);
        assert_null(ev.ptr);
    }
    drop(&f, "X-Gitlab-Event");
    assert_int_equal(ingest_event_name(INGEST_PROVIDER_GITLAB, &h, &ev), ERR_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provider_names),
        cmocka_unit_test(test_github_vector),
        cmocka_unit_test(test_github_refusals),
        cmocka_unit_test(test_github_uppercase_hex),
        cmocka_unit_test(test_github_rotation),
        cmocka_unit_test(test_empty_body),
        cmocka_unit_test(test_github_limits),
        cmocka_unit_test(test_bitbucket_both),
        cmocka_unit_test(test_stdwh_vector),
        cmocka_unit_test(test_stdwh_tolerance),
        cmocka_unit_test(test_stdwh_several_signatures),
        cmocka_unit_test(test_stdwh_id_and_secret),
        cmocka_unit_test(test_gitlab_token),
        cmocka_unit_test(test_gitlab_signed),
        cmocka_unit_test(test_azure_basic),
        cmocka_unit_test(test_azure_custom_header),
        cmocka_unit_test(test_azure_both_and_neither),
        cmocka_unit_test(test_stripe_sign_and_verify),
        cmocka_unit_test(test_stripe_header_forms),
        cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_bad_calls_fail_closed),
        cmocka_unit_test(test_reasons_hold_no_values),
        cmocka_unit_test(test_delivery_id),
        cmocka_unit_test(test_event_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
