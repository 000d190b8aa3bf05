/*
 * kdf — HKDF-SHA256 (RFC 5869): extract-then-expand in one call.
 *
 * Every key shiplog uses below the master key is derived with it, each with
 * its own `info` label (see docs/KEYS.md for the hierarchy), so keys for
 * different purposes are independent even when they share a parent.
 */
#ifndef SHIPLOG_CRYPTO_KDF_H
#define SHIPLOG_CRYPTO_KDF_H

#include <stddef.h>

#include "core/err.h"

#define HKDF_MAX_OUT (255 * 32) /* RFC 5869 limit for SHA-256 */
#define HKDF_PRK_LEN 32         /* HashLen: size of the pseudorandom key */

/* salt may be NULL/0 (RFC 5869: a string of HashLen zeros). out_len <= HKDF_MAX_OUT. */
MUST_CHECK enum err hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt, size_t salt_len,
                                const void *info, size_t info_len, unsigned char *out,
                                size_t out_len);

/*
 * The two halves of hkdf_sha256, for known-answer tests and for callers that
 * keep a PRK and expand it several times. Same rules as above.
 */
MUST_CHECK enum err hkdf_sha256_extract(const void *ikm, size_t ikm_len, const void *salt,
                                        size_t salt_len, unsigned char prk[HKDF_PRK_LEN]);
MUST_CHECK enum err hkdf_sha256_expand(const unsigned char prk[HKDF_PRK_LEN], const void *info,
                                       size_t info_len, unsigned char *out, size_t out_len);

#endif
