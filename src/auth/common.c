/*
 * common.c — the helpers apikeys.c and tokens.c share (auth_internal.h).
 */
#include <string.h>

#include "auth/auth_internal.h"
#include "crypto/rand.h"
#include "crypto/token.h"

#define SECRET_PREFIX_LEN 4 /* "shk_", "shr_" */
#define SECRET_TENANT_AT  SECRET_PREFIX_LEN
#define SECRET_DOT_AT     (SECRET_TENANT_AT + STORAGE_TENANT_ID_LEN)
#define SECRET_RANDOM_AT  (SECRET_DOT_AT + 1)
#define SECRET_TEXT_LEN   (SECRET_RANDOM_AT + TOKEN_TEXT_LEN)

_Static_assert(SECRET_TEXT_LEN == AUTH_KEY_TEXT_LEN, "one shape for keys and refresh tokens");

bool auth_col_copy(const struct stmt *st, int col, char *out, size_t cap)
{
    struct str v = stmt_col_text(st, col);
    if (v.len >= cap) {
        out[0] = '\0';
        return false;
    }
    if (v.len)
        memcpy(out, v.ptr, v.len);
    out[v.len] = '\0';
    return true;
}

int64_t auth_col_time(const struct stmt *st, int col)
{
    return stmt_col_is_null(st, col) ? 0 : stmt_col_int(st, col);
}

bool auth_uuid_ok(const char *s)
{
    return s && str_is_uuid(str_from(s, strnlen(s, AUTH_KEY_ID_LEN + 1)));
}

enum err auth_client_check(const struct auth_client *c)
{
    if (!c)
        return ERR_OK;
    if (c->ip && strnlen(c->ip, AUTH_MAX_CLIENT_IP + 1) > AUTH_MAX_CLIENT_IP)
        return ERR_LIMIT;
    if (c->request_id && strnlen(c->request_id, AUTH_MAX_REQUEST_ID + 1) > AUTH_MAX_REQUEST_ID)
        return ERR_LIMIT;
    return ERR_OK;
}

void auth_hash_hex(const void *data, size_t len, char out[AUTH_HASH_HEX + 1])
{
    unsigned char h[SHA256_LEN];
    sha256(data, len, h);
    hex_encode(h, sizeof h, out);
    crypto_wipe(h, sizeof h);
}

enum err auth_new_uuid(char out[AUTH_KEY_ID_LEN + 1])
{
    unsigned char b[16];
    enum err e = rand_bytes(b, sizeof b);
    if (e)
        return e;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char hex[33];
    hex_encode(b, sizeof b, hex);
    size_t o = 0;
    for (size_t i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[o++] = '-';
        out[o++] = hex[i];
    }
    out[o] = '\0';
    return ERR_OK;
}

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

bool auth_secret_text_parse(struct str text, const char *prefix, struct tenant_ctx *t,
                            char hash[AUTH_HASH_HEX + 1])
{
    if (!text.ptr || !prefix || strlen(prefix) != SECRET_PREFIX_LEN ||
        text.len != SECRET_TEXT_LEN || memcmp(text.ptr, prefix, SECRET_PREFIX_LEN) != 0)
        return false;
    struct str tid = str_from(text.ptr + SECRET_TENANT_AT, STORAGE_TENANT_ID_LEN);
    if (!storage_tenant_id_valid(tid) || str_eq_cstr(tid, AUTH_NIL_TENANT))
        return false;
    if (text.ptr[SECRET_DOT_AT] != '.')
        return false;
    for (size_t i = SECRET_RANDOM_AT; i < SECRET_TEXT_LEN; i++)
        if (!b64url_char(text.ptr[i]))
            return false;
    memcpy(t->id, tid.ptr, STORAGE_TENANT_ID_LEN);
    t->id[STORAGE_TENANT_ID_LEN] = '\0';
    auth_hash_hex(text.ptr, text.len, hash);
    return true;
}

enum err auth_secret_text_new(const struct tenant_ctx *t, const char *prefix,
                              char text[AUTH_KEY_TEXT_LEN + 1], char hash[AUTH_HASH_HEX + 1],
                              char random8[9])
{
    if (!prefix || strlen(prefix) != SECRET_PREFIX_LEN)
        return ERR_INVALID;
    char tok[TOKEN_TEXT_LEN + 1];
    unsigned char unused[SHA256_LEN];
    enum err e = token_new(tok, unused);
    crypto_wipe(unused, sizeof unused);
    if (e)
        return e;
    memcpy(text, prefix, SECRET_PREFIX_LEN);
    memcpy(text + SECRET_TENANT_AT, t->id, STORAGE_TENANT_ID_LEN);
    text[SECRET_DOT_AT] = '.';
    memcpy(text + SECRET_RANDOM_AT, tok, TOKEN_TEXT_LEN);
    text[SECRET_TEXT_LEN] = '\0';
    if (random8) {
        memcpy(random8, tok, 8);
        random8[8] = '\0';
    }
    auth_hash_hex(text, SECRET_TEXT_LEN, hash);
    crypto_wipe(tok, sizeof tok);
    return ERR_OK;
}
