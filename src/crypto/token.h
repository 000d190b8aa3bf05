/*
 * token — single-use secrets for links and short codes (A5, A6).
 *
 * A token is 32 random bytes written as base64url without padding
 * (TOKEN_TEXT_LEN characters): it goes into a link, and only its SHA-256 is
 * stored, so a database leak gives nobody a usable link. A code is
 * TOKEN_CODE_LEN characters from an alphabet without look-alikes (2-9 and
 * the upper-case letters but I and O) for a person to type,
 * such as a magic link's short code; it is also stored only as a hash, in a
 * separate domain (SHA-256 of a label and the code), so a code can never pass
 * for a token even where both hashes share a column. A code has 40 bits: the
 * caller must expire it quickly and limit attempts.
 *
 * Expiry and single use are the caller's (storage) business; this module only
 * makes, hashes and compares. All functions are thread-safe.
 */
#ifndef SHIPLOG_CRYPTO_TOKEN_H
#define SHIPLOG_CRYPTO_TOKEN_H

#include <stdbool.h>

#include "core/err.h"
#include "core/str.h"
#include "crypto/hash.h"

#define TOKEN_BYTES     32  /* randomness in a token */
#define TOKEN_TEXT_LEN  43  /* base64url of TOKEN_BYTES, no padding */
#define TOKEN_CODE_LEN  8   /* characters of a code, 5 bits each */
#define TOKEN_MAX_INPUT 128 /* bytes of token or code text accepted for hashing */

/* The code alphabet, 32 characters. */
#define TOKEN_CODE_ALPHABET "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

/*
 * A fresh token: its text (NUL-terminated) to send, and the hash to store.
 * ERR_CRYPTO only when the kernel refuses randomness (out is then "").
 */
MUST_CHECK enum err token_new(char out[TOKEN_TEXT_LEN + 1], unsigned char hash[SHA256_LEN]);

/*
 * The hash of a token text as received, to look it up. ERR_LIMIT over
 * TOKEN_MAX_INPUT bytes, ERR_INVALID when empty or not base64url characters;
 * any other text hashes (and then simply finds nothing).
 */
MUST_CHECK enum err token_hash(struct str text, unsigned char hash[SHA256_LEN]);

/*
 * A fresh code (NUL-terminated) and the hash to store, which is
 * token_code_hash() of it. ERR_CRYPTO only when randomness fails.
 */
MUST_CHECK enum err token_code_new(char out[TOKEN_CODE_LEN + 1], unsigned char hash[SHA256_LEN]);

/*
 * The hash of a code as typed (SHA-256 of "shiplog/v1/code:" and the code in
 * upper case): letters in either case, exactly TOKEN_CODE_LEN
 * characters of the alphabet. ERR_LIMIT over TOKEN_MAX_INPUT bytes,
 * ERR_INVALID for anything else.
 */
MUST_CHECK enum err token_code_hash(struct str code, unsigned char hash[SHA256_LEN]);

/* Constant-time equality of two token hashes. */
bool token_equal_hash(const unsigned char a[SHA256_LEN], const unsigned char b[SHA256_LEN]);

#endif
