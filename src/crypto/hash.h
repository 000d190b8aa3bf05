/*
 * hash — SHA-256, HMAC-SHA-256 and HMAC-SHA-384.
 *
 * One-shot functions for short inputs, and a streaming context for long ones
 * (audit chain verification hashes millions of entries). The context is
 * reusable: sha256_begin() resets it.
 */
#ifndef SHIPLOG_CRYPTO_HASH_H
#define SHIPLOG_CRYPTO_HASH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/str.h"

#define SHA256_LEN 32
#define SHA384_LEN 48

void sha256(const void *data, size_t len, unsigned char out[SHA256_LEN]);
void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                 unsigned char out[SHA256_LEN]);
/*
 * HMAC-SHA-256 over the concatenation of parts[0..n), without copying them
 * into one buffer (webhook schemes sign "id.timestamp.body" with a body of up
 * to the request limit). Parts with len 0 may have a NULL ptr.
 */
void hmac_sha256_parts(const void *key, size_t key_len, const struct str *parts, size_t n,
                       unsigned char out[SHA256_LEN]);
/* HMAC-SHA-384, for the password pre-hash (crypto/password.h). */
void hmac_sha384(const void *key, size_t key_len, const void *data, size_t len,
                 unsigned char out[SHA384_LEN]);

struct sha256_ctx {
    void *md; /* EVP_MD_CTX, owned */
};

/* Allocates the context (aborts on OOM). Release with sha256_ctx_free(). */
void sha256_ctx_init(struct sha256_ctx *c);
void sha256_ctx_free(struct sha256_ctx *c);
void sha256_begin(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
void sha256_end(struct sha256_ctx *c, unsigned char out[SHA256_LEN]);

/* Constant-time comparison of two equal-length byte strings. */
bool crypto_equal(const void *a, const void *b, size_t len);

/* Overwrites n bytes with zeros in a way the compiler cannot elide. */
void crypto_wipe(void *p, size_t n);

#endif
