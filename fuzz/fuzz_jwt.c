/*
 * fuzz_jwt — crypto/jwt.h both ways, with a fixed ring of two master keys
 * (FUZZ_JWT_KEY_A current, FUZZ_JWT_KEY_B previous) and a fixed clock.
 *
 * An input that starts with "S\n" is claims for jwt_sign(), one per line:
 * iss, sub, tid, jti, iat, exp, sid, scope (cut to the caps). When signing
 * accepts them, the token must verify at iat with the same claims, and some
 * single-character changes of it (positions picked from the input) must be
 * refused.
 *
 * Any other input is a token for jwt_verify() at FUZZ_JWT_NOW: it must never
 * crash, must give ERR_LIMIT exactly when longer than JWT_MAX_LEN, and must
 * leave the claims zeroed when refused. A token that verifies must come back
 * byte for byte when its claims are signed again with one of the ring's keys
 * (Ed25519 is deterministic and the module writes one serialization), so
 * whatever verifies is something jwt_sign() wrote.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/jwt.h"
#include "crypto/rand.h"

#define FUZZ_JWT_NOW    INT64_C(1700000000)
#define FUZZ_JWT_LEEWAY 60
#define FUZZ_JWT_KEY_A  0x10 /* key bytes are FILL + i, as in tests/unit/crypto/test_jwt.c */
#define FUZZ_JWT_KEY_B  0x80

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keyring ring;

static void make_key(unsigned char fill, struct master_key *k)
{
    memset(k, 0, sizeof(*k));
    for (size_t i = 0; i < MASTER_KEY_LEN; i++)
        k->bytes[i] = (unsigned char)(fill + i);
    unsigned char d[SHA256_LEN];
    sha256(k->bytes, MASTER_KEY_LEN, d);
    hex_encode(d, MASTER_KEY_ID_LEN / 2, k->id);
}

static void ring_init(void)
{
    if (ring.n)
        return;
    make_key(FUZZ_JWT_KEY_A, &ring.keys[0]);
    make_key(FUZZ_JWT_KEY_B, &ring.keys[1]);
    ring.n = 2;
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

static bool claims_equal(const struct jwt_claims *a, const struct jwt_claims *b)
{
    return strcmp(a->iss, b->iss) == 0 && strcmp(a->sub, b->sub) == 0 &&
           strcmp(a->tid, b->tid) == 0 && strcmp(a->jti, b->jti) == 0 &&
           strcmp(a->sid, b->sid) == 0 && strcmp(a->scope, b->scope) == 0 && a->iat == b->iat &&
           a->exp == b->exp;
}

/* The next line of *in into dst (cut to cap bytes, NUL-terminated). */
static void take_line(struct str *in, char *dst, size_t cap)
{
    struct str line = STR_NULL;
    if (!str_split(in, '\n', &line))
        line = STR_NULL;
    size_t n = line.len < cap ? line.len : cap;
    if (n)
        memcpy(dst, line.ptr, n);
    dst[n] = '\0';
}

/* A signed decimal number of up to 18 digits; anything else is 0. */
static int64_t take_number(struct str *in)
{
    char text[24];
    take_line(in, text, sizeof(text) - 1);
    const char *p = text;
    bool neg = *p == '-';
    if (neg)
        p++;
    int64_t v = 0;
    for (size_t i = 0; p[i]; i++) {
        if (p[i] < '0' || p[i] > '9' || i >= 18)
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    return neg ? -v : v;
}

static void fuzz_sign(struct str in)
{
    struct jwt_claims c;
    memset(&c, 0, sizeof(c));
    take_line(&in, c.iss, JWT_MAX_ISS);
    take_line(&in, c.sub, JWT_UUID_LEN);
    take_line(&in, c.tid, JWT_UUID_LEN);
    take_line(&in, c.jti, JWT_JTI_LEN);
    c.iat = take_number(&in);
    c.exp = take_number(&in);
    take_line(&in, c.sid, JWT_MAX_SID);
    take_line(&in, c.scope, JWT_MAX_SCOPE);

    struct buf tok = BUF_INIT(JWT_MAX_LEN);
    enum err e = jwt_sign(&ring.keys[0], &c, &tok);
    if (e != ERR_OK) {
        if (e != ERR_INVALID || tok.len != 0)
            __builtin_trap(); /* refused claims are ERR_INVALID and write nothing */
        buf_release(&tok);
        return;
    }
    if (tok.len > JWT_MAX_LEN)
        __builtin_trap();
    struct jwt_claims got;
    if (jwt_verify(&ring, str_from(tok.data, tok.len), c.iat, 0, &got, NULL) != ERR_OK ||
        !claims_equal(&c, &got))
        __builtin_trap();

    /* single-character changes, at positions picked from the claims */
    unsigned char h[SHA256_LEN];
    sha256(tok.data, tok.len, h);
    for (size_t k = 0; k < 4; k++) {
        size_t at = ((size_t)h[2 * k] << 8 | h[2 * k + 1]) % tok.len;
        char orig = tok.data[at];
        tok.data[at] = (char)(orig == 'A' ? 'B' : orig == '.' ? 'x' : 'A');
        if (jwt_verify(&ring, str_from(tok.data, tok.len), c.iat, 0, &got, NULL) == ERR_OK)
            __builtin_trap();
        tok.data[at] = orig;
    }
    buf_release(&tok);
}

static void fuzz_verify(struct str in)
{
    struct jwt_claims got;
    const char *why = NULL;
    enum err e = jwt_verify(&ring, in, FUZZ_JWT_NOW, FUZZ_JWT_LEEWAY, &got, &why);
    if ((e == ERR_LIMIT) != (in.len > JWT_MAX_LEN))
        __builtin_trap();
    if (e != ERR_OK) {
        if ((e != ERR_UNAUTHENTICATED && e != ERR_LIMIT) || !why || !all_zero(&got, sizeof(got)))
            __builtin_trap();
        return;
    }
    if (why)
        __builtin_trap();
    bool found = false;
    for (size_t i = 0; i < ring.n && !found; i++) {
        struct buf tok = BUF_INIT(JWT_MAX_LEN);
        if (jwt_sign(&ring.keys[i], &got, &tok) != ERR_OK)
            __builtin_trap(); /* verified claims always sign */
        found = tok.len == in.len && memcmp(tok.data, in.ptr, in.len) == 0;
        buf_release(&tok);
    }
    if (!found)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ring_init();
    struct str in = str_from((const char *)data, size);
    if (size >= 2 && data[0] == 'S' && data[1] == '\n')
        fuzz_sign(str_from(in.ptr + 2, in.len - 2));
    else
        fuzz_verify(in);
    return 0;
}
