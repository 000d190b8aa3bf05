/*
 * fuzz_refresh — auth_refresh_text_parse (auth/tokens.h) on any text: the
 * parser that decides which tenant's transaction a presented refresh token
 * is looked up in. What it accepts must have the exact shape, checked here by
 * a separate matcher — "shr_", a canonical lower-case UUID that is not the
 * nil one, ".", 43 base64url characters — and the hash it returns must be the
 * hex SHA-256 of the whole input; the other way round, a text of that shape
 * must be accepted. The API-key parser shares the code: the same bytes with
 * "shk_" go through auth_key_text_is_key.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* The shape, without the parser's code. */
static bool well_shaped(const char *p, size_t n)
{
    if (n != AUTH_REFRESH_TEXT_LEN || memcmp(p, "shr_", 4) != 0 || p[40] != '.')
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct tenant_ctx t;
    memset(&t, 0x5a, sizeof t);
    char hash[2 * SHA256_LEN + 1];
    memset(hash, 0x5a, sizeof hash);
    bool ok = auth_refresh_text_parse(str_from(p, size), &t, hash);
    if (ok != well_shaped(p, size))
        abort();
    if (ok) {
        if (memcmp(t.id, p + 4, 36) != 0 || t.id[36] != '\0')
            abort();
        unsigned char h[SHA256_LEN];
        char hex[2 * SHA256_LEN + 1];
        sha256(p, size, h);
        hex_encode(h, sizeof h, hex);
        if (memcmp(hash, hex, 2 * SHA256_LEN) != 0 || hash[2 * SHA256_LEN] != '\0')
            abort();
    }
    (void)auth_key_text_is_key(str_from(p, size));
    return 0;
}
