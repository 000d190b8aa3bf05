/*
 * fuzz_refresh — the secret-text parsers on any text: auth_refresh_text_parse
 * (auth/tokens.h), which decides in which tenant's transaction a presented
 * refresh token is looked up, and auth_key_text_parse (auth/auth.h), the one
 * auth_key_authenticate uses for an API key; both share their code. What a
 * parser accepts must have the exact shape, checked here by a separate
 * matcher — its prefix ("shr_" / "shk_"), a canonical lower-case UUID that is
 * not the nil one, ".", 43 base64url characters — and the hash it returns
 * must be the hex SHA-256 of the whole input; the other way round, a text of
 * that shape must be accepted. Each input goes through both parsers as it
 * is (so each must refuse the other's prefix), and once more through the key
 * parser with its first four bytes made "shk_", so every refresh-token seed
 * drives the key parser's accepting path too.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/tokens.h"
#include "crypto/hash.h"
#include "crypto/rand.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* The shape for prefix (4 bytes), without the parser's code. */
static bool well_shaped(const char *p, size_t n, const char *prefix)
{
    if (n != AUTH_REFRESH_TEXT_LEN || memcmp(p, prefix, 4) != 0 || p[40] != '.')
        return false;
    bool nil = true;
    for (size_t i = 0; i < 36; i++) {
        char c = p[4 + i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !lower_hex(c))
            return false;
        if (!dash && c != '0')
            nil = false;
    }
    if (nil)
        return false;
    for (size_t i = 41; i < n; i++)
        if (!b64url(p[i]))
            return false;
    return true;
}

/* A parser's answer on p against the matcher; aborts on any difference. */
static void check(bool ok, const char *p, size_t size, const char *prefix,
                  const struct tenant_ctx *t, const char *hash)
{
    if (ok != well_shaped(p, size, prefix))
        abort();
    if (!ok)
        return;
    if (memcmp(t->id, p + 4, 36) != 0 || t->id[36] != '\0')
        abort();
    unsigned char h[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    sha256(p, size, h);
    hex_encode(h, sizeof h, hex);
    if (memcmp(hash, hex, 2 * SHA256_LEN) != 0 || hash[2 * SHA256_LEN] != '\0')
        abort();
}

static void parse_refresh(const char *p, size_t size)
{
    struct tenant_ctx t;
    memset(&t, 0x5a, sizeof t);
    char hash[2 * SHA256_LEN + 1];
    memset(hash, 0x5a, sizeof hash);
    check(auth_refresh_text_parse(str_from(p, size), &t, hash), p, size, AUTH_REFRESH_TEXT_PREFIX,
          &t, hash);
}

static void parse_key(const char *p, size_t size)
{
    struct tenant_ctx t;
    memset(&t, 0x5a, sizeof t);
    char hash[AUTH_KEY_HASH_LEN + 1];
    memset(hash, 0x5a, sizeof hash);
    bool ok = auth_key_text_parse(str_from(p, size), &t, hash);
    check(ok, p, size, AUTH_KEY_TEXT_PREFIX, &t, hash);
    if (ok && !auth_key_text_is_key(str_from(p, size)))
        abort(); /* a parsed key is routed to the key path */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    parse_refresh(p, size);
    parse_key(p, size);
    if (size >= 4 && size <= AUTH_MAX_KEY_TEXT) {
        char k[AUTH_MAX_KEY_TEXT];
        memcpy(k, p, size);
        memcpy(k, AUTH_KEY_TEXT_PREFIX, 4);
        parse_key(k, size);
    }
    return 0;
}
