/*
 * Unit tests for crypto/jwt: sign/verify round trip, the RFC 7515 shape of a
 * token checked with independent code (core/base64 and crypto/sign directly),
 * and one assertion per refusal: segments, alphabet, padding, header tricks
 * (alg "none", HS256 keyed with the public key, extra members), kids,
 * tampering at every byte, times, lifetime, length, payload shape, and key
 * rotation through the ring.
 *
 * Tokens that jwt_sign() would never write are forged here with the real
 * signing key (keyring_subkey(JWT_KEY_INFO)), so each refusal is proven to
 * come from the check under test and not from the signature.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/base64.h"
#include "crypto/hash.h"
#include "crypto/jwt.h"
#include "crypto/rand.h"
#include "crypto/sign.h"

#define T0     INT64_C(1700000000)
#define LEEWAY 30
#define SUB    "0b7e5c4a-1d2f-4a3b-8c9d-0e1f2a3b4c5d"
#define TID    "7f6e5d4c-3b2a-4918-8776-655443322110"
#define JTI    "00112233445566778899aabbccddeeff"

/* ---- helpers ------------------------------------------------------------------ */

static void make_key(unsigned char fill, struct master_key *k)
{
    memset(k, 0, sizeof(*k));
    for (size_t i = 0; i < MASTER_KEY_LEN; i++)
        k->bytes[i] = (unsigned char)(fill + i);
    unsigned char d[SHA256_LEN];
    sha256(k->bytes, MASTER_KEY_LEN, d);
    hex_encode(d, MASTER_KEY_ID_LEN / 2, k->id); /* masterkey.h: first 8 bytes of SHA-256 */
}

/* A ring of the given keys, the first one current. */
static void make_ring(struct keyring *r, const struct master_key *a, const struct master_key *b)
{
    memset(r, 0, sizeof(*r));
    r->keys[r->n++] = *a;
    if (b)
        r->keys[r->n++] = *b;
}

static struct master_key key_a, key_b, key_c;
static struct keyring ring_a; /* key_a only */

static int setup(void **state)
{
    make_key(0x10, &key_a);
    make_key(0x80, &key_b);
    make_key(0xc0, &key_c);
    make_ring(&ring_a, &key_a, NULL);
    return 0;
}

static void claims_init(struct jwt_claims *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->iss, sizeof(c->iss), "https://shiplog.example.com");
    snprintf(c->sub, sizeof(c->sub), SUB);
    snprintf(c->tid, sizeof(c->tid), TID);
    snprintf(c->jti, sizeof(c->jti), JTI);
    snprintf(c->sid, sizeof(c->sid), "fam:42");
    snprintf(c->scope, sizeof(c->scope), "entries:read entries:write");
    c->iat = T0;
    c->exp = T0 + JWT_MAX_LIFETIME_S;
}

static void assert_claims_equal(const struct jwt_claims *a, const struct jwt_claims *b)
{
    assert_string_equal(a->iss, b->iss);
    assert_string_equal(a->sub, b->sub);
    assert_string_equal(a->tid, b->tid);
    assert_string_equal(a->jti, b->jti);
    assert_string_equal(a->sid, b->sid);
    assert_string_equal(a->scope, b->scope);
    assert_int_equal(a->iat, b->iat);
    assert_int_equal(a->exp, b->exp);
}

static void sign_ok(const struct master_key *k, const struct jwt_claims *c, struct buf *out)
{
    buf_reset(out);
    assert_int_equal(jwt_sign(k, c, out), ERR_OK);
}

static enum err verify_at(const struct keyring *r, const char *tok, int64_t now, const char **why)
{
    struct jwt_claims got;
    return jwt_verify(r, str_from_cstr(tok), now, LEEWAY, &got, why);
}

/* Asserts that tok is refused with ERR_UNAUTHENTICATED and the given reason. */
static void assert_refused(const struct keyring *r, const char *tok, int64_t now,
                           const char *reason)
{
    struct jwt_claims got;
    memset(&got, 0x55, sizeof(got));
    const char *why = NULL;
    assert_int_equal(jwt_verify(r, str_from_cstr(tok), now, LEEWAY, &got, &why),
                     ERR_UNAUTHENTICATED);
    assert_non_null(why);
    assert_string_equal(why, reason);
    static const struct jwt_claims zero;
    assert_memory_equal(&got, &zero, sizeof(zero)); /* nothing of a refused token leaks out */
}

/* base64url without padding, built from the standard encoder of core/base64. */
static void b64url(struct buf *out, const void *data, size_t n)
{
    struct buf tmp = BUF_INIT(8192);
    assert_int_equal(base64_encode(&tmp, data, n), ERR_OK);
    for (size_t i = 0; i < tmp.len; i++) {
        char c = tmp.data ? tmp.data[i] : 0;
        if (c == '=')
            break;
        assert_int_equal(buf_putc(out, c == '+' ? '-' : c == '/' ? '_' : c), ERR_OK);
    }
    buf_release(&tmp);
}

/* Decodes base64url text (no padding) with core/base64; returns the length. */
static size_t unb64url(const char *text, size_t len, unsigned char *out, size_t cap)
{
    char std[4096];
    assert_true(len + 3 < sizeof(std));
    for (size_t i = 0; i < len; i++)
        std[i] = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
    while (len % 4)
        std[len++] = '=';
    size_t n;
    assert_int_equal(base64_decode(str_from(std, len), out, cap, &n), ERR_OK);
    return n;
}

/*
 * A token with any header and payload text, signed with k's real JWT key
 * ("" header and payload allowed; sig_override replaces the signature text).
 */
static void forge(const struct master_key *k, const char *header, const char *payload,
                  const char *sig_override, struct buf *out)
{
    buf_reset(out);
    b64url(out, header, strlen(header));
    assert_int_equal(buf_putc(out, '.'), ERR_OK);
    b64url(out, payload, strlen(payload));
    unsigned char seed[SIGN_SEED_LEN], sig[SIGN_SIG_LEN];
    struct sign_key sk;
    assert_int_equal(keyring_subkey(k, JWT_KEY_INFO, seed, sizeof(seed)), ERR_OK);
    assert_int_equal(sign_key_from_seed(seed, &sk), ERR_OK);
    assert_int_equal(sign_ed25519(&sk, out->data, out->len, sig), ERR_OK);
    sign_key_wipe(&sk);
    assert_int_equal(buf_putc(out, '.'), ERR_OK);
    if (sig_override)
        assert_int_equal(buf_puts(out, sig_override), ERR_OK);
    else
        b64url(out, sig, sizeof(sig));
}

/* The header jwt_sign() writes, for key k (kid) with optional extra text before the '}'. */
static void header_for(const struct master_key *k, const char *extra, char *out, size_t cap)
{
    snprintf(out, cap, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"%s}", k->id, extra);
}

/* A payload of the standard claims with iat/exp given and extra text before the '}'. */
static void payload_for(int64_t iat, int64_t exp, const char *extra, char *out, size_t cap)
{
    snprintf(out, cap,
             "{\"iss\":\"https://shiplog.example.com\",\"sub\":\"" SUB "\",\"tid\":\"" TID
             "\",\"jti\":\"" JTI "\",\"iat\":%lld,\"exp\":%lld,\"sid\":\"\",\"scope\":\"\"%s}",
             (long long)iat, (long long)exp, extra);
}

/* ---- round trip ------------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    struct jwt_claims c, got;
    claims_init(&c);
    struct buf tok = BUF_INIT(JWT_MAX_LEN);
    sign_ok(&key_a, &c, &tok);
    assert_true(tok.len <= JWT_MAX_LEN);

    const char *why = "unset";
    assert_int_equal(jwt_verify(&ring_a, str_from(tok.data, tok.len), T0, LEEWAY, &got, &why),
                     ERR_OK);
    assert_null(why);
    assert_claims_equal(&got, &c);
    /* reason is optional */
    assert_int_equal(jwt_verify(&ring_a, str_from(tok.data, tok.len), T0, 0, &got, NULL), ERR_OK);

    /* deterministic: same claims, same key, same token */
    struct buf again = BUF_INIT(JWT_MAX_LEN);
    sign_ok(&key_a, &c, &again);
    assert_string_equal(buf_cstr(&tok), buf_cstr(&again));

    /* empty sid and scope are allowed and come back empty */
    c.sid[0] = '\0';
    c.scope[0] = '\0';
    sign_ok(&key_a, &c, &tok);
    assert_int_equal(jwt_verify(&ring_a, str_from(tok.data, tok.len), T0, LEEWAY, &got, NULL),
                     ERR_OK);
    assert_claims_equal(&got, &c);

    /* jwt_sign appends */
    buf_reset(&again);
    assert_int_equal(buf_puts(&again, "Bearer "), ERR_OK);
    assert_int_equal(jwt_sign(&key_a, &c, &again), ERR_OK);
    assert_string_equal(buf_cstr(&again) + 7, buf_cstr(&tok));
    buf_release(&tok);
    buf_release(&again);
}

static void test_longest_claims_fit(void **state)
{
    struct jwt_claims c, got;
    claims_init(&c);
    memset(c.iss, 'i', JWT_MAX_ISS);
    c.iss[JWT_MAX_ISS] = '\0';
    memset(c.sid, 's', JWT_MAX_SID);
    c.sid[JWT_MAX_SID] = '\0';
    for (size_t i = 0; i < JWT_MAX_SCOPE; i++)
        c.scope[i] = i % 2 ? ' ' : 'a';
    c.scope[JWT_MAX_SCOPE - 1] = 'z'; /* even cap: never end on a space */
    c.scope[JWT_MAX_SCOPE] = '\0';
    c.iat = JWT_MAX_TIME - JWT_MAX_LIFETIME_S;
    c.exp = JWT_MAX_TIME;
    struct buf tok = BUF_INIT(JWT_MAX_LEN);
    sign_ok(&key_a, &c, &tok);
    assert_true(tok.len <= JWT_MAX_LEN);
    assert_int_equal(jwt_verify(&ring_a, str_from(tok.data, tok.len), c.iat, 0, &got, NULL),
                     ERR_OK);
    assert_claims_equal(&got, &c);
    buf_release(&tok);
}

/* The token is an ordinary RFC 7515 compact JWS: checked without jwt.c's own code. */
static void test_standard_shape(void **state)
{
    struct jwt_claims c;
    claims_init(&c);
    struct buf tok = BUF_INIT(JWT_MAX_LEN);
    sign_ok(&key_a, &c, &tok);
    const char *t = buf_cstr(&tok);
    const char *d1 = strchr(t, '.');
    assert_non_null(d1);
    const char *d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    assert_null(strchr(t, '='));

    unsigned char text[2048];
    size_t n = unb64url(t, (size_t)(d1 - t), text, sizeof(text) - 1);
    text[n] = '\0';
    char want[128];
    header_for(&key_a, "", want, sizeof(want));
    assert_string_equal((const char *)text, want);

    n = unb64url(d1 + 1, (size_t)(d2 - d1 - 1), text, sizeof(text) - 1);
    text[n] = '\0';
    assert_string_equal((const char *)text,
                        "{\"iss\":\"https://shiplog.example.com\",\"sub\":\"" SUB
                        "\",\"tid\":\"" TID "\",\"jti\":\"" JTI
                        "\",\"iat\":1700000000,\"exp\":1700000900,"
                        "\"sid\":\"fam:42\",\"scope\":\"entries:read entries:write\"}");

    unsigned char sig[SIGN_SIG_LEN + 2];
    assert_int_equal(unb64url(d2 + 1, strlen(d2 + 1), sig, sizeof(sig)), SIGN_SIG_LEN);
    unsigned char seed[SIGN_SEED_LEN];
    struct sign_key sk;
    assert_int_equal(keyring_subkey(&key_a, "shiplog/v1/jwt-signing", seed, sizeof(seed)), ERR_OK);
    assert_int_equal(sign_key_from_seed(seed, &sk), ERR_OK);
    assert_true(sign_verify_ed25519(sk.pub, t, (size_t)(d2 - t), sig));
    sign_key_wipe(&sk);
    buf_release(&tok);
}

/* ---- signing refusals ------------------------------------------------------------- */

static void expect_sign_invalid(const struct jwt_claims *c)
{
    struct buf out = BUF_INIT(JWT_MAX_LEN);
    assert_int_equal(buf_puts(&out, "keep"), ERR_OK);
    assert_int_equal(jwt_sign(&key_a, c, &out), ERR_INVALID);
    assert_string_equal(buf_cstr(&out), "keep"); /* untouched */
    buf_release(&out);
}

static void test_sign_refuses_bad_claims(void **state)
{
    struct jwt_claims c;
#define BAD(stmt)                                                                                  \
    do {                                                                                           \
        claims_init(&c);                                                                           \
        stmt;                                                                                      \
        expect_sign_invalid(&c);                                                                   \
    } while (0)
    BAD(c.iss[0] = '\0');
    BAD(snprintf(c.iss, sizeof(c.iss), "a\"b"));
    BAD(snprintf(c.iss, sizeof(c.iss), "a b"));
    BAD(memset(c.iss, 'x', sizeof(c.iss))); /* no terminator within the cap */
    BAD(snprintf(c.sub, sizeof(c.sub), "0B7E5C4A-1D2F-4A3B-8C9D-0E1F2A3B4C5D"));
    BAD(snprintf(c.sub, sizeof(c.sub), "not-a-uuid"));
    BAD(c.tid[0] = '\0');
    BAD(snprintf(c.jti, sizeof(c.jti), "00112233445566778899AABBCCDDEEFF"));
    BAD(c.jti[31] = '\0');
    BAD(snprintf(c.sid, sizeof(c.sid), "x<y"));
    BAD(snprintf(c.scope, sizeof(c.scope), " a"));
    BAD(snprintf(c.scope, sizeof(c.scope), "a "));
    BAD(snprintf(c.scope, sizeof(c.scope), "a  b"));
    BAD(snprintf(c.scope, sizeof(c.scope), "a\tb"));
    BAD(snprintf(c.scope, sizeof(c.scope), "a&b"));
    BAD(c.exp = c.iat);
    BAD(c.exp = c.iat - 1);
    BAD(c.exp = c.iat + JWT_MAX_LIFETIME_S + 1);
    BAD((c.iat = -10, c.exp = 10));
    BAD((c.iat = JWT_MAX_TIME, c.exp = JWT_MAX_TIME + 1));
#undef BAD

    /* a master key without a valid id */
    claims_init(&c);
    struct master_key k = key_a;
    k.id[0] = 'X';
    struct buf out = BUF_INIT(JWT_MAX_LEN);
    assert_int_equal(jwt_sign(&k, &c, &out), ERR_INVALID);
    assert_int_equal(jwt_sign(NULL, &c, &out), ERR_INVALID);
    assert_int_equal(jwt_sign(&key_a, NULL, &out), ERR_INVALID);
    assert_int_equal(out.len, 0);
    buf_release(&out);
}

static void test_sign_buffer_cap(void **state)
{
    struct jwt_claims c;
    claims_init(&c);
    struct buf small = BUF_INIT(64);
    assert_int_equal(buf_puts(&small, "x"), ERR_OK);
    assert_int_equal(jwt_sign(&key_a, &c, &small), ERR_LIMIT);
    assert_string_equal(buf_cstr(&small), "x");
    buf_release(&small);
}

static void test_new_jti(void **state)
{
    char a[JWT_JTI_LEN + 1], b[JWT_JTI_LEN + 1];
    assert_int_equal(jwt_new_jti(a), ERR_OK);
    assert_int_equal(jwt_new_jti(b), ERR_OK);
    assert_int_equal(strlen(a), JWT_JTI_LEN);
    assert_int_equal(strspn(a, "0123456789abcdef"), JWT_JTI_LEN);
    assert_string_not_equal(a, b);
    /* a fresh jti signs */
    struct jwt_claims c;
    claims_init(&c);
    memcpy(c.jti, a, sizeof(a));
    struct buf tok = BUF_INIT(JWT_MAX_LEN);
    sign_ok(&key_a, &c, &tok);
    buf_release(&tok);
}

/* ---- structural refusals ---------------------------------------------------------- */

static void test_segments(void **state)
{
    struct jwt_claims c;
    claims_init(&c);
    struct buf tok = BUF_INIT(JWT_MAX_LEN), t2 = BUF_INIT(JWT_MAX_LEN + 8);
    sign_ok(&key_a, &c, &tok);
    const char *t = buf_cstr(&tok);
    const char *d2 = strrchr(t, '.');

    assert_refused(&ring_a, "", T0, "malformed token");
    assert_refused(&ring_a, ".", T0, "malformed token");
    assert_refused(&ring_a, "..", T0, "unsupported header");
    assert_refused(&ring_a, "...", T0, "malformed token");

    /* two segments: the signature dropped */
    assert_int_equal(buf_append(&t2, t, (size_t)(d2 - t)), ERR_OK);
    assert_refused(&ring_a, buf_cstr(&t2), T0, "malformed token");
    /* four segments */
    buf_reset(&t2);
    assert_int_equal(buf_printf(&t2, "%s.", t), ERR_OK);
    assert_refused(&ring_a, buf_cstr(&t2), T0, "malformed token");
    buf_reset(&t2);
    assert_int_equal(buf_printf(&t2, "%s.%s", t, d2 + 1), ERR_OK);
    assert_refused(&ring_a, buf_cstr(&t2), T0, "malformed token");
    /* empty signature */
    buf_reset(&t2);
    assert_int_equal(buf_append(&t2, t, (size_t)(d2 - t) + 1), ERR_OK);
    assert_refused(&ring_a, buf_cstr(&t2), T0, "bad signature");

    /* a NULL view */
    struct jwt_claims got;
    assert_int_equal(jwt_verify(&ring_a, STR_NULL, T0, LEEWAY, &got, NULL), ERR_UNAUTHENTICATED);
    buf_release(&tok);
    buf_release(&t2);
}

static void test_alphabet_and_padding(void **state)
{
    struct jwt_claims c;
    claims_init(&c);
    struct buf tok = BUF_INIT(JWT_MAX_LEN), t2 = BUF_INIT(JWT_MAX_LEN + 8);
    sign_ok(&key_a, &c, &tok);
    const char *t = buf_cstr(&tok);
    size_t d1 = (size_t)(strchr(t, '.') - t);

    /* standard-alphabet characters, whitespace, NUL and high bytes in each position class */
    static const char bad[] = {'+', '/', '=', ' ', '\t', '\n', '\0', '\x80', '\xff', '%', '"'};
    size_t spots[] = {0, d1 - 1, d1 + 1, tok.len - 1};
    for (size_t s = 0; s < sizeof(spots) / sizeof(spots[0]); s++) {
        for (size_t b = 0; b < sizeof(bad); b++) {
            buf_reset(&t2);
            assert_int_equal(buf_append(&t2, t, tok.len), ERR_OK);
            t2.data[spots[s]] = bad[b];
            struct jwt_claims got;
            const char *why = NULL;
            assert_int_equal(jwt_verify(&ring_a, str_from(t2.data, t2.len), T0, LEEWAY, &got, &why),
                             ERR_UNAUTHENTICATED);
            assert_string_equal(why, "malformed token");
        }
    }

    /* padding appended to a segment (the header is 52 bytes: 70 characters + "==") */
    buf_reset(&t2);
    assert_int_equal(buf_append(&t2, t, d1), ERR_OK);
    assert_int_equal(buf_printf(&t2, "==%s", t + d1), ERR_OK);
    assert_refused(&ring_a, buf_cstr(&t2), T0, "malformed token");
    buf_reset(&t2);
    assert_int_equal(buf_printf(&t2, "%s==", t), ERR_OK);
    assert_refused(&ring_a, buf_cstr(&t2), T0, "malformed token");
    /* a length of 1 mod 4 cannot be base64url */
    buf_reset(&t2);
    assert_int_equal(buf_printf(&t2, "%sAAA", t), ERR_OK); /* 86 + 3 characters */
    assert_refused(&ring_a, buf_cstr(&t2), T0, "malformed token");
    /* a whole segment of padding */
    assert_refused(&ring_a, "====.====.====", T0, "malformed token");

    buf_release(&tok);
    buf_release(&t2);
}

/* The last character of a 64-byte signature carries 4 unused bits: set one. */
static void test_non_canonical_base64(void **state)
{
    struct jwt_claims c;
    claims_init(&c);
    struct buf tok = BUF_INIT(JWT_MAX_LEN);
    sign_ok(&key_a, &c, &tok);
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *last = &tok.data[tok.len - 1];
    int v = (int)(strchr(alphabet, *last) - alphabet);
    assert_int_equal(v & 15, 0); /* canonical as written */
    *last = alphabet[v | 1];     /* same decoded bytes for a lax decoder */
    assert_refused(&ring_a, buf_cstr(&tok), T0, "bad signature");

    /* likewise the header (52 bytes: 4 unused bits at the end of its segment) */
    sign_ok(&key_a, &c, &tok);
    char *hlast = strchr(tok.data, '.') - 1;
    v = (int)(strchr(alphabet, *hlast) - alphabet);
    assert_int_equal(v & 15, 0);
    *hlast = alphabet[v | 8];
    assert_refused(&ring_a, buf_cstr(&tok), T0, "unsupported header");
    buf_release(&tok);
}

static void test_length_limit(void **state)
{
    struct jwt_claims c, got;
    claims_init(&c);
    struct buf tok = BUF_INIT(JWT_MAX_LEN + 1);
    sign_ok(&key_a, &c, &tok);
    /* pad the signature segment with base64url text up to the limit, then one more byte */
    while (tok.len < JWT_MAX_LEN)
        assert_int_equal(buf_putc(&tok, 'A'), ERR_OK);
    const char *why = NULL;
    assert_int_equal(jwt_verify(&ring_a, str_from(tok.data, tok.len), T0, LEEWAY, &got, &why),
                     ERR_UNAUTHENTICATED); /* at the limit: looked at, and refused */
    assert_string_not_equal(why, "token too long");
    assert_int_equal(buf_putc(&tok, 'A'), ERR_OK);
    assert_int_equal(tok.len, JWT_MAX_LEN + 1);
    assert_int_equal(jwt_verify(&ring_a, str_from(tok.data, tok.len), T0, LEEWAY, &got, &why),
                     ERR_LIMIT);
    assert_string_equal(why, "token too long");
    buf_release(&tok);
}

/* ---- header refusals ------------------------------------------------------------- */

static void test_alg_none(void **state)
{
    char payload[512];
    payload_for(T0, T0 + 60, "", payload, sizeof(payload));
    struct buf tok = BUF_INIT(4096);
    forge(&key_a, "{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, "", &tok);
    assert_refused(&ring_a, buf_cstr(&tok), T0, "unsupported header");
    char h[128];
    snprintf(h, sizeof(h), "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%s\"}", key_a.id);
    forge(&key_a, h, payload, "", &tok);
    assert_refused(&ring_a, buf_cstr(&tok), T0, "unsupported header");
    /* same length as the real header, alg "None" */
    snprintf(h, sizeof(h), "{\"alg\":\"None\",\"typ\":\"JWT\",\"kid\":\"%s\"}", key_a.id);
    forge(&key_a, h, payload, NULL, &tok);
    assert_refused(&ring_a, buf_cstr(&tok), T0, "unsupported header");
    buf_release(&tok);
}

/* HS256 keyed with the Ed25519 public key: the classic algorithm confusion. */
static void test_alg_hs256_confusion(void **state)
{
    unsigned char seed[SIGN_SEED_LEN];
    struct sign_key sk;
    assert_int_equal(keyring_subkey(&key_a, JWT_KEY_INFO, seed, sizeof(seed)), ERR_OK);
    assert_int_equal(sign_key_from_seed(seed, &sk), ERR_OK);

    char payload[512];
    payload_for(T0, T0 + 60, "", payload, sizeof(payload));
    static const char *const algs[] = {"HS256", "EdDSA" /* right header, HMAC signature */};
    for (size_t i = 0; i < 2; i++) {
        char h[128];
        snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", algs[i],
                 key_a.id);
        struct buf tok = BUF_INIT(4096);
        b64url(&tok, h, strlen(h));
        assert_int_equal(buf_putc(&tok, '.'), ERR_OK);
        b64url(&tok, payload, strlen(payload));
        unsigned char mac[SHA256_LEN];
        hmac_sha256(sk.pub, sizeof(sk.pub), tok.data, tok.len, mac);
        assert_int_equal(buf_putc(&tok, '.'), ERR_OK);
        b64url(&tok, mac, sizeof(mac));
        assert_refused(&ring_a, buf_cstr(&tok), T0,
                       i == 0 ? "unsupported header" : "bad signature");
        buf_release(&tok);
    }
    sign_key_wipe(&sk);
}

static void test_other_algs_and_members(void **state)
{
    char payload[512];
    payload_for(T0, T0 + 60, "", payload, sizeof(payload));
    struct buf tok = BUF_INIT(4096);
    char h[512];

    static const char *const algs[] = {"RS256", "ES256", "HS512", "Ed25519", "eddsa", "EdDSA "};
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", algs[i],
                 key_a.id);
        forge(&key_a, h, payload, NULL, &tok);
        assert_refused(&ring_a, buf_cstr(&tok), T0, "unsupported header");
    }

    /* extra members, each properly signed with the right key */
    static const char *const extras[] = {
        ",\"crit\":[\"exp\"]",
        ",\"jku\":\"https://evil.example/jwks.json\"",
        ",\"jwk\":{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}",
        ",\"x5u\":\"https://evil.example/cert.pem\"",
        ",\"cty\":\"JWT\"",
        ",\"kid\":\"0000000000000000\"", /* a duplicate kid */
    };
    for (size_t i = 0; i < sizeof(extras) / sizeof(extras[0]); i++) {
        header_for(&key_a, extras[i], h, sizeof(h));
        forge(&key_a, h, payload, NULL, &tok);
        assert_refused(&ring_a, buf_cstr(&tok), T0, "unsupported header");
    }

    /* same members, another order or spacing: only the exact header is accepted */
    snprintf(h, sizeof(h), "{\"typ\":\"JWT\",\"alg\":\"EdDSA\",\"kid\":\"%s\"}", key_a.id);
    forge(&key_a, h, payload, NULL, &tok);
    assert_refused(&ring_a, buf_cstr(&tok), T0, "unsupported header");
    snprintf(h, sizeof(h), "{\"alg\":\"EdDSA\", \"typ\":\"JWT\",\"kid\":\"%s\"}", key_a.id);
    forge(&key_a, h, payload, NULL, &tok);
    assert_refused(&ring_a, buf_cstr(&tok), T0, "unsupported header");
    /* missing typ, missing kid */
    snprintf(h, sizeof(h), "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", key_a.id);
    forge(&key_a, h, payload, NULL, &tok);
    assert_refused(&ring_a, buf_cstr(&tok), T0, "unsupported header");
    forge(&key_a, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", payload, NULL, &tok);
    assert_refused(&ring_a, buf_cstr(&tok), T0, "unsupported header");
    /* the key id in upper case: ids are lower-case hex */
    char upper[MASTER_KEY_ID_LEN + 1];
    for (size_t i = 0; i <= MASTER_KEY_ID_LEN; i++)
        upper[i] =
            (key_a.id[i] >= 'a' && key_a.id[i] <= 'f') ? (char)(key_a.id[i] - 32) : key_a.id[i];
    snprintf(h, sizeof(h), "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}", upper);
    if (strcmp(upper, key_a.id) != 0) {
        forge(&key_a, h, payload, NULL, &tok);
        assert_refused(&ring_a, buf_cstr(&tok), T0, "unsupported header");
    }
    /* the real header, forged, is accepted: the refusals above are the header's */
    header_for(&key_a, "", h, sizeof(h));
    forge(&key_a, h, payload, NULL, &tok);
    assert_int_equal(verify_at(&ring_a, buf_cstr(&tok), T0, NULL), ERR_OK);
    buf_release(&tok);
}

static void test_kids(void **state)
{
    struct jwt_claims c;
    claims_init(&c);
    struct keyring ring_ab;
    make_ring(&ring_ab, &key_a, &key_b);
    char payload[512], h[128];
    payload_for(T0, T0 + 60, "", payload, sizeof(payload));
    struct buf tok = BUF_INIT(4096);

    /* signed with a, kid says b (also in the ring): b's key does not verify it */
    header_for(&key_b, "", h, sizeof(h));
    forge(&key_a, h, payload, NULL, &tok);
    assert_refused(&ring_ab, buf_cstr(&tok), T0, "bad signature");
    /* signed with c, which the ring does not know, under its own kid */
    sign_ok(&key_c, &c, &tok);
    assert_refused(&ring_ab, buf_cstr(&tok), T0, "unknown key");
    /* signed with c, kid says a */
    header_for(&key_a, "", h, sizeof(h));
    forge(&key_c, h, payload, NULL, &tok);
    assert_refused(&ring_ab, buf_cstr(&tok), T0, "bad signature");
    /* an empty ring knows no key */
    struct keyring empty;
    memset(&empty, 0, sizeof(empty));
    sign_ok(&key_a, &c, &tok);
    assert_refused(&empty, buf_cstr(&tok), T0, "unknown key");
    buf_release(&tok);
}

/* ---- tampering --------------------------------------------------------------------- */

static void test_tamper_every_byte(void **state)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    struct jwt_claims c;
    claims_init(&c);
    struct buf tok = BUF_INIT(JWT_MAX_LEN);
    sign_ok(&key_a, &c, &tok);
    const char *d1 = strchr(tok.data, '.');
    const char *d2 = strrchr(tok.data, '.');
    for (size_t i = 0; i < tok.len; i++) {
        char orig = tok.data[i];
        if (orig == '.')
            continue;
        /* the next character of the alphabet, and one 32 further (flips a high bit) */
        int v = (int)(strchr(alphabet, orig) - alphabet);
        const int steps[] = {1, 32};
        for (size_t k = 0; k < 2; k++) {
            tok.data[i] = alphabet[(v + steps[k]) % 64];
            const char *why = NULL;
            assert_int_equal(verify_at(&ring_a, tok.data, T0, &why), ERR_UNAUTHENTICATED);
            if (tok.data + i > d1 && tok.data + i < d2)
                assert_string_equal(why, "bad signature"); /* a payload byte */
            tok.data[i] = orig;
        }
    }
    assert_int_equal(verify_at(&ring_a, tok.data, T0, NULL), ERR_OK);

    /* a tampered signature byte, decoded */
    size_t sig_at = (size_t)(d2 - tok.data) + 1;
    tok.data[sig_at + 10] = tok.data[sig_at + 10] == 'A' ? 'B' : 'A';
    assert_refused(&ring_a, tok.data, T0, "bad signature");
    buf_release(&tok);
}

/* ---- times ---------------------------------------------------------------------- */

static void test_expiry(void **state)
{
    struct jwt_claims c;
    claims_init(&c);
    c.exp = c.iat + 60;
    struct buf tok = BUF_INIT(JWT_MAX_LEN);
    sign_ok(&key_a, &c, &tok);
    const char *t = buf_cstr(&tok);
    /* valid while now < exp + leeway */
    assert_int_equal(verify_at(&ring_a, t, c.exp + LEEWAY - 1, NULL), ERR_OK);
    assert_refused(&ring_a, t, c.exp + LEEWAY, "expired");
    assert_refused(&ring_a, t, c.exp + 100000, "expired");
    assert_refused(&ring_a, t, INT64_MAX, "expired");
    /* without leeway, exp itself is already too late */
    struct jwt_claims got;
    assert_int_equal(jwt_verify(&ring_a, str_from_cstr(t), c.exp - 1, 0, &got, NULL), ERR_OK);
    assert_int_equal(jwt_verify(&ring_a, str_from_cstr(t), c.exp, 0, &got, NULL),
                     ERR_UNAUTHENTICATED);
    buf_release(&tok);
}

static void test_issued_in_future(void **state)
{
    struct jwt_claims c;
    claims_init(&c);
    struct buf tok = BUF_INIT(JWT_MAX_LEN);
    sign_ok(&key_a, &c, &tok);
    const char *t = buf_cstr(&tok);
    assert_int_equal(verify_at(&ring_a, t, c.iat - LEEWAY, NULL), ERR_OK);
    assert_refused(&ring_a, t, c.iat - LEEWAY - 1, "issued in the future");
    assert_refused(&ring_a, t, 0, "issued in the future");
    assert_refused(&ring_a, t, INT64_MIN, "issued in the future");
    buf_release(&tok);
}

static void test_lifetime(void **state)
{
    char payload[512], h[128];
    header_for(&key_a, "", h, sizeof(h));
    struct buf tok = BUF_INIT(4096);

    payload_for(T0, T0 + JWT_MAX_LIFETIME_S, "", payload, sizeof(payload));
    forge(&key_a, h, payload, NULL, &tok);
    assert_int_equal(verify_at(&ring_a, buf_cstr(&tok), T0, NULL), ERR_OK);

    payload_for(T0, T0 + JWT_MAX_LIFETIME_S + 1, "", payload, sizeof(payload));
    forge(&key_a, h, payload, NULL, &tok);
    assert_refused(&ring_a, buf_cstr(&tok), T0, "lifetime too long");

    payload_for(T0, T0 + 86400 * 365, "", payload, sizeof(payload));
    forge(&key_a, h, payload, NULL, &tok);
    assert_refused(&ring_a, buf_cstr(&tok), T0, "lifetime too long");

    payload_for(T0, T0, "", payload, sizeof(payload));
    forge(&key_a, h, payload, NULL, &tok);
    assert_refused(&ring_a, buf_cstr(&tok), T0, "expires before issued");

    payload_for(T0, T0 - 10, "", payload, sizeof(payload));
    forge(&key_a, h, payload, NULL, &tok);
    assert_refused(&ring_a, buf_cstr(&tok), T0 - 20, "expires before issued");

    /* times outside 0..JWT_MAX_TIME, or not integral, are malformed claims */
    payload_for(-100, -50, "", payload, sizeof(payload));
    forge(&key_a, h, payload, NULL, &tok);
    assert_refused(&ring_a, buf_cstr(&tok), -60, "malformed claims");
    payload_for(JWT_MAX_TIME, JWT_MAX_TIME + 1, "", payload, sizeof(payload));
    forge(&key_a, h, payload, NULL, &tok);
    assert_refused(&ring_a, buf_cstr(&tok), JWT_MAX_TIME, "malformed claims");
    buf_release(&tok);
}

static void test_arguments(void **state)
{
    struct jwt_claims c, got;
    claims_init(&c);
    struct buf tok = BUF_INIT(JWT_MAX_LEN);
    sign_ok(&key_a, &c, &tok);
    struct str t = str_from(tok.data, tok.len);
    assert_int_equal(jwt_verify(&ring_a, t, T0, -1, &got, NULL), ERR_INVALID);
    assert_int_equal(jwt_verify(&ring_a, t, T0, JWT_MAX_LEEWAY_S + 1, &got, NULL), ERR_INVALID);
    assert_int_equal(jwt_verify(&ring_a, t, T0, JWT_MAX_LEEWAY_S, &got, NULL), ERR_OK);
    assert_int_equal(jwt_verify(NULL, t, T0, 0, &got, NULL), ERR_INVALID);
    assert_int_equal(jwt_verify(&ring_a, t, T0, 0, NULL, NULL), ERR_INVALID);
    buf_release(&tok);
}

/* ---- payload refusals (all properly signed) ------------------------------------- */

static void test_payload_shape(void **state)
{
    char h[128], p[1024];
    header_for(&key_a, "", h, sizeof(h));
    struct buf tok = BUF_INIT(4096);

#define REFUSE_PAYLOAD(text)                                                                       \
    do {                                                                                           \
        forge(&key_a, h, (text), NULL, &tok);                                                      \
        assert_refused(&ring_a, buf_cstr(&tok), T0, "malformed claims");                           \
    } while (0)

    /* duplicate key: the second sub would otherwise win or lose silently */
    payload_for(T0, T0 + 60, ",\"sub\":\"11111111-2222-4333-8444-555555555555\"", p, sizeof(p));
    REFUSE_PAYLOAD(p);
    payload_for(T0, T0 + 60, ",\"exp\":9999999999", p, sizeof(p));
    REFUSE_PAYLOAD(p);
    /* an extra member, even an innocent one */
    payload_for(T0, T0 + 60, ",\"aud\":\"x\"", p, sizeof(p));
    REFUSE_PAYLOAD(p);
    /* wrong member types */
    snprintf(p, sizeof(p),
             "{\"iss\":\"i\",\"sub\":\"" SUB "\",\"tid\":\"" TID "\",\"jti\":\"" JTI
             "\",\"iat\":\"%lld\",\"exp\":%lld,\"sid\":\"\",\"scope\":\"\"}",
             (long long)T0, (long long)T0 + 60);
    REFUSE_PAYLOAD(p);
    snprintf(p, sizeof(p),
             "{\"iss\":\"i\",\"sub\":1,\"tid\":\"" TID "\",\"jti\":\"" JTI
             "\",\"iat\":%lld,\"exp\":%lld,\"sid\":\"\",\"scope\":\"\"}",
             (long long)T0, (long long)T0 + 60);
    REFUSE_PAYLOAD(p);
    snprintf(p, sizeof(p),
             "{\"iss\":\"i\",\"sub\":\"" SUB "\",\"tid\":\"" TID "\",\"jti\":\"" JTI
             "\",\"iat\":%lld,\"exp\":%lld,\"sid\":null,\"scope\":\"\"}",
             (long long)T0, (long long)T0 + 60);
    REFUSE_PAYLOAD(p);
    snprintf(p, sizeof(p),
             "{\"iss\":\"i\",\"sub\":\"" SUB "\",\"tid\":\"" TID "\",\"jti\":\"" JTI
             "\",\"iat\":%lld,\"exp\":%lld,\"sid\":\"\",\"scope\":[\"a\"]}",
             (long long)T0, (long long)T0 + 60);
    REFUSE_PAYLOAD(p); /* also deeper than depth 1 */
    snprintf(p, sizeof(p),
             "{\"iss\":\"i\",\"sub\":\"" SUB "\",\"tid\":\"" TID "\",\"jti\":\"" JTI
             "\",\"iat\":%lld.5,\"exp\":%lld,\"sid\":\"\",\"scope\":\"\"}",
             (long long)T0, (long long)T0 + 60);
    REFUSE_PAYLOAD(p);
    /* a member missing */
    snprintf(p, sizeof(p),
             "{\"iss\":\"i\",\"sub\":\"" SUB "\",\"tid\":\"" TID "\",\"jti\":\"" JTI
             "\",\"iat\":%lld,\"exp\":%lld,\"sid\":\"\"}",
             (long long)T0, (long long)T0 + 60);
    REFUSE_PAYLOAD(p);
    /* claim values outside their alphabets */
    snprintf(p, sizeof(p),
             "{\"iss\":\"i\",\"sub\":\"0B7E5C4A-1D2F-4A3B-8C9D-0E1F2A3B4C5D\",\"tid\":\"" TID
             "\",\"jti\":\"" JTI "\",\"iat\":%lld,\"exp\":%lld,\"sid\":\"\",\"scope\":\"\"}",
             (long long)T0, (long long)T0 + 60);
    REFUSE_PAYLOAD(p);
    snprintf(p, sizeof(p),
             "{\"iss\":\"i\",\"sub\":\"" SUB "\",\"tid\":\"" TID "\",\"jti\":\"" JTI
             "\",\"iat\":%lld,\"exp\":%lld,\"sid\":\"\",\"scope\":\"a\\u0000b\"}",
             (long long)T0, (long long)T0 + 60);
    REFUSE_PAYLOAD(p);
    snprintf(p, sizeof(p),
             "{\"iss\":\"i\",\"sub\":\"" SUB "\",\"tid\":\"" TID "\",\"jti\":\"" JTI
             "\",\"iat\":%lld,\"exp\":%lld,\"sid\":\"\",\"scope\":\"a<b\"}",
             (long long)T0, (long long)T0 + 60);
    REFUSE_PAYLOAD(p);
    /* not an object, or not JSON */
    REFUSE_PAYLOAD("[]");
    REFUSE_PAYLOAD("\"claims\"");
    REFUSE_PAYLOAD("");
    REFUSE_PAYLOAD("{}");
    payload_for(T0, T0 + 60, "", p, sizeof(p));
    p[strlen(p) - 1] = '\0'; /* unterminated */
    REFUSE_PAYLOAD(p);
#undef REFUSE_PAYLOAD

    /* the same construction with nothing wrong verifies */
    payload_for(T0, T0 + 60, "", p, sizeof(p));
    forge(&key_a, h, p, NULL, &tok);
    assert_int_equal(verify_at(&ring_a, buf_cstr(&tok), T0, NULL), ERR_OK);
    buf_release(&tok);
}

/* ---- rotation ------------------------------------------------------------------- */

static void test_rotation(void **state)
{
    struct jwt_claims c, got;
    claims_init(&c);
    struct buf tok = BUF_INIT(JWT_MAX_LEN);
    sign_ok(&key_a, &c, &tok); /* signed before the rotation: a was current */

    struct keyring after, later;
    make_ring(&after, &key_b, &key_a); /* b current, a previous */
    make_ring(&later, &key_b, NULL);   /* a removed from the ring */
    assert_int_equal(jwt_verify(&after, str_from(tok.data, tok.len), T0, 0, &got, NULL), ERR_OK);
    assert_claims_equal(&got, &c);
    assert_refused(&later, buf_cstr(&tok), T0, "unknown key");

    /* new tokens, signed with the current key, verify with both rings */
    sign_ok(keyring_current(&after), &c, &tok);
    assert_int_equal(jwt_verify(&after, str_from(tok.data, tok.len), T0, 0, &got, NULL), ERR_OK);
    assert_int_equal(jwt_verify(&later, str_from(tok.data, tok.len), T0, 0, &got, NULL), ERR_OK);
    assert_refused(&ring_a, buf_cstr(&tok), T0, "unknown key");
    buf_release(&tok);
}

/*
 * Verification keys are cached per master key (jwt.c). The cache is keyed by
 * the key's bytes, not its id: a ring holding other bytes under a cached id
 * gets no cached key, and more keys than the cache holds all still verify.
 */
static void test_cached_keys(void **state)
{
    struct jwt_claims c, got;
    claims_init(&c);
    struct buf tok = BUF_INIT(JWT_MAX_LEN);
    sign_ok(&key_a, &c, &tok);
    assert_int_equal(jwt_verify(&ring_a, str_from(tok.data, tok.len), T0, 0, &got, NULL), ERR_OK);

    struct master_key impostor = key_b;
    memcpy(impostor.id, key_a.id, sizeof impostor.id); /* b's bytes under a's (cached) id */
    struct keyring r;
    make_ring(&r, &impostor, NULL);
    assert_refused(&r, buf_cstr(&tok), T0, "bad signature");
    assert_int_equal(jwt_verify(&ring_a, str_from(tok.data, tok.len), T0, 0, &got, NULL), ERR_OK);

    /* more keys than the cache has slots, twice round: each verifies its own tokens only */
    for (int round = 0; round < 2; round++) {
        for (unsigned i = 0; i < 3 * KEYRING_MAX; i++) {
            struct master_key k;
            make_key((unsigned char)(0x21 + 5 * i), &k);
            make_ring(&r, &k, NULL);
            sign_ok(&k, &c, &tok);
            assert_int_equal(jwt_verify(&r, str_from(tok.data, tok.len), T0, 0, &got, NULL),
                             ERR_OK);
            assert_refused(&ring_a, buf_cstr(&tok), T0, "unknown key");
            master_key_wipe(&k);
        }
    }
    sign_ok(&key_a, &c, &tok);
    assert_int_equal(jwt_verify(&ring_a, str_from(tok.data, tok.len), T0, 0, &got, NULL), ERR_OK);
    buf_release(&tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_longest_claims_fit),
        cmocka_unit_test(test_standard_shape),
        cmocka_unit_test(test_sign_refuses_bad_claims),
        cmocka_unit_test(test_sign_buffer_cap),
        cmocka_unit_test(test_new_jti),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_alphabet_and_padding),
        cmocka_unit_test(test_non_canonical_base64),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_alg_hs256_confusion),
        cmocka_unit_test(test_other_algs_and_members),
        cmocka_unit_test(test_kids),
        cmocka_unit_test(test_tamper_every_byte),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_issued_in_future),
        cmocka_unit_test(test_lifetime),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_payload_shape),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_cached_keys),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
