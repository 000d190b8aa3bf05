/*
 * base64 — standard base64 (RFC 4648 §4, with padding), for PEM public keys.
 *
 * The decoder is strict about the alphabet and padding but skips ASCII
 * whitespace, so it reads the body of a PEM block as it is (lines of 64).
 */
#ifndef SHIPLOG_CORE_BASE64_H
#define SHIPLOG_CORE_BASE64_H

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

#endif
