/*
 * rand — randomness from the operating system's CSPRNG only (C5).
 *
 * getrandom(2) blocks only until the kernel pool is initialised at boot and
 * never returns weak bytes; there is no user-space generator to seed or fork.
 */
#ifndef SHIPLOG_CRYPTO_RAND_H
#define SHIPLOG_CRYPTO_RAND_H

#include <stddef.h>

#include "core/err.h"

/* Fills buf with n random bytes. ERR_CRYPTO only if the kernel refuses. */
MUST_CHECK enum err rand_bytes(void *buf, size_t n);

/* Writes 2n lower-case hex digits of n random bytes and a NUL into out (2n+1 bytes). */
MUST_CHECK enum err rand_hex(char *out, size_t n);

/* Lower-case hex of data[0..n) into out (2n+1 bytes, NUL-terminated). */
void hex_encode(const void *data, size_t n, char *out);

/* Decodes exactly 2n hex digits (either case) into out[0..n). ERR_INVALID otherwise. */
MUST_CHECK enum err hex_decode(const char *hex, size_t hex_len, unsigned char *out, size_t n);

#endif
