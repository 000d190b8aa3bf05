/*
 * base64 — standard base64 (RFC 4648 §4, with padding), for PEM public keys,
 * and base64url (RFC 4648 §5, without padding), for tokens and cursors.
 *
 * The standard decoder is strict about the alphabet and padding but skips
 * ASCII whitespace, so it reads the body of a PEM block as it is (lines of
 * 64). The base64url decoder skips nothing: the alphabet only, no '=', no
 * length of 1 mod 4, and the unused bits of the last character must be zero,
 * so each byte string has exactly one accepted text (a signed token or a
 * cursor cannot be altered without breaking it).
 */
#ifndef SHIPLOG_CORE_BASE64_H
#define SHIPLOG_CORE_BASE64_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

/* Encoded length of n bytes (without a terminator). */
#define BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* Appends base64 of data[0..len) to out (ERR_LIMIT at the buffer's cap). */
MUST_CHECK enum err base64_encode(struct buf *out, const void *data, size_t len);

/*
 * Decodes in into out[0..cap), whitespace ignored. ERR_INVALID for a byte
 * outside the alphabet, bad padding or non-zero trailing bits; ERR_LIMIT when
 * the result would exceed cap. *out_len gets the decoded length.
 */
MUST_CHECK enum err base64_decode(struct str in, unsigned char *out, size_t cap, size_t *out_len);

/* Characters of base64url without padding for n bytes. */
#define BASE64URL_LEN(n) (((n)*4 + 2) / 3)

/* Appends base64url of data[0..len), without padding, to out (ERR_LIMIT at
 * the buffer's cap). */
MUST_CHECK enum err base64url_encode(struct buf *out, const void *data, size_t len);

/* True when in has only base64url characters and a length that is not 1
 * mod 4: what base64url_decode reads, the trailing bits aside. */
bool base64url_valid(struct str in);

/*
 * Decodes base64url in (no padding, no whitespace) into out[0..cap).
 * ERR_INVALID for a character outside the alphabet, a length of 1 mod 4 or
 * non-zero unused bits; ERR_LIMIT when the result would exceed cap (out is
 * then untouched). *out_len gets the decoded length (0 on error).
 */
MUST_CHECK enum err base64url_decode(struct str in, unsigned char *out, size_t cap,
                                     size_t *out_len);

#endif
