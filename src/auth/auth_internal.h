/*
 * auth_internal — what apikeys.c and tokens.c share; not for other modules.
 */
#ifndef SHIPLOG_AUTH_INTERNAL_H
#define SHIPLOG_AUTH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "crypto/hash.h"

#define AUTH_HASH_HEX   (2 * SHA256_LEN)                       /* a stored hash: hex SHA-256 */
#define AUTH_NIL_TENANT "00000000-0000-0000-0000-000000000000" /* never a tenant's id */

/* Copies a text column into out[cap]; false when it does not fit (the schema says it does). */
bool auth_col_copy(const struct stmt *st, int col, char *out, size_t cap);

/* An integer column that may be NULL: 0 for NULL. */
int64_t auth_col_time(const struct stmt *st, int col);

/* A canonical UUID in a NUL-terminated string (NULL: false). */
bool auth_uuid_ok(const char *s);

/* The client's fields against their limits: ERR_LIMIT past one. */
MUST_CHECK enum err auth_client_check(const struct auth_client *c);

/* The lower-case hex SHA-256 of data. */
void auth_hash_hex(const void *data, size_t len, char out[AUTH_HASH_HEX + 1]);

/* A random (version 4) UUID. ERR_CRYPTO only when randomness fails. */
MUST_CHECK enum err auth_new_uuid(char out[AUTH_KEY_ID_LEN + 1]);

/*
 * A secret text "<prefix><tenant id>.<TOKEN_TEXT_LEN characters of base64url>"
 * (an API key, a refresh token; prefix is 4 bytes) of exactly that shape ->
 * the tenant it names (never the nil UUID) and the hex SHA-256 of the whole
 * text. False for anything else, and nothing is written then.
 */
bool auth_secret_text_parse(struct str text, const char *prefix, struct tenant_ctx *t,
                            char hash[AUTH_HASH_HEX + 1]);

/*
 * A fresh secret text of that shape for t into text[AUTH_KEY_TEXT_LEN + 1],
 * and the hash to store. random8 (may be NULL) gets the first 8 characters of
 * the random part and a NUL (an API key's visible prefix).
 */
MUST_CHECK enum err auth_secret_text_new(const struct tenant_ctx *t, const char *prefix,
                                         char text[AUTH_KEY_TEXT_LEN + 1],
                                         char hash[AUTH_HASH_HEX + 1], char random8[9]);

#endif
