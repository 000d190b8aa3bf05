/*
 * token — see token.h.
 *
 * Codes are drawn one random byte per character with rejection sampling:
 * bytes at or above the largest multiple of the alphabet size are thrown
 * away, so every character is equally likely whatever the alphabet's size
 * (with 32 characters nothing is ever rejected, but a later alphabet change
 * cannot introduce a bias).
 */
#include "crypto/token.h"

#include <string.h>

#include "crypto/rand.h"

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char CODE_ALPHABET[] = TOKEN_CODE_ALPHABET;
static const char CODE_DOMAIN[] =
    "shiplog/v1/code:"; /* keeps code hashes apart from token hashes */
#define CODE_ALPHABET_N (sizeof(CODE_ALPHABET) - 1)

_Static_assert(CODE_ALPHABET_N >= 2 && CODE_ALPHABET_N <= 256, "code alphabet size");
_Static_assert(TOKEN_TEXT_LEN == (TOKEN_BYTES * 4 + 2) / 3, "base64url length, no padding");
_Static_assert(TOKEN_TEXT_LEN <= TOKEN_MAX_INPUT && TOKEN_CODE_LEN <= TOKEN_MAX_INPUT,
               "own texts must be accepted");

/* base64url without padding of in[0..n) into out (NUL-terminated, (4n+2)/3 characters). */
static void b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = B64URL[(v >> 18) & 63];
        out[o++] = B64URL[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = B64URL[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = B64URL[v & 63];
    }
    out[o] = '\0';
}

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

enum err token_new(char out[TOKEN_TEXT_LEN + 1], unsigned char hash[SHA256_LEN])
{
    unsigned char raw[TOKEN_BYTES];
    out[0] = '\0';
    enum err e = rand_bytes(raw, sizeof(raw));
    if (e == ERR_OK) {
        b64url_encode(raw, sizeof(raw), out);
        ASSERT(strlen(out) == TOKEN_TEXT_LEN);
        sha256(out, TOKEN_TEXT_LEN, hash);
    }
    crypto_wipe(raw, sizeof(raw));
    return e;
}

enum err token_hash(struct str text, unsigned char hash[SHA256_LEN])
{
    if (text.len > TOKEN_MAX_INPUT)
        return ERR_LIMIT;
    if (text.len == 0)
        return ERR_INVALID;
    for (size_t i = 0; i < text.len; i++)
        if (!b64url_char(text.ptr[i]))
            return ERR_INVALID;
    sha256(text.ptr, text.len, hash);
    return ERR_OK;
}

enum err token_code_new(char out[TOKEN_CODE_LEN + 1], unsigned char hash[SHA256_LEN])
{
    const unsigned limit = 256 - 256 % CODE_ALPHABET_N; /* bytes >= limit are rejected */
    unsigned char pool[32];
    size_t used = sizeof(pool), n = 0;
    enum err e = ERR_OK;
    out[0] = '\0';
    while (n < TOKEN_CODE_LEN) {
        if (used == sizeof(pool)) {
            e = rand_bytes(pool, sizeof(pool));
            if (e)
                goto done;
            used = 0;
        }
        unsigned b = pool[used++];
        if (b < limit)
            out[n++] = CODE_ALPHABET[b % CODE_ALPHABET_N];
    }
    out[n] = '\0';
    e = token_code_hash(str_from(out, n), hash);
    ASSERT(e == ERR_OK);
done:
    if (e)
        crypto_wipe(out, TOKEN_CODE_LEN + 1);
    crypto_wipe(pool, sizeof(pool));
    return e;
}

enum err token_code_hash(struct str code, unsigned char hash[SHA256_LEN])
{
    if (code.len > TOKEN_MAX_INPUT)
        return ERR_LIMIT;
    if (code.len != TOKEN_CODE_LEN)
        return ERR_INVALID;
    char canon[sizeof(CODE_DOMAIN) - 1 + TOKEN_CODE_LEN];
    memcpy(canon, CODE_DOMAIN, sizeof(CODE_DOMAIN) - 1);
    for (size_t i = 0; i < TOKEN_CODE_LEN; i++) {
        char c = code.ptr[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c == '\0' || !memchr(CODE_ALPHABET, c, CODE_ALPHABET_N)) {
            crypto_wipe(canon, sizeof(canon));
            return ERR_INVALID;
        }
        canon[sizeof(CODE_DOMAIN) - 1 + i] = c;
    }
    sha256(canon, sizeof(canon), hash);
    crypto_wipe(canon, sizeof(canon));
    return ERR_OK;
}

bool token_equal_hash(const unsigned char a[SHA256_LEN], const unsigned char b[SHA256_LEN])
{
    return crypto_equal(a, b, SHA256_LEN);
}
