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

/*
 * Like rand_hex, for row ids that are better inserted in order: the first 6
 * of the n bytes are the current Unix time in milliseconds (big-endian), the
 * rest random, so ids made later sort later and a database index takes them
 * at its end instead of on a random page. n must be RAND_SORTABLE_TIME_BYTES
 * + 8 or more (64 random bits or more); ERR_INTERNAL otherwise. The time is
 * readable from the id: use it only where that is no secret (an internal
 * record created now).
 */
#define RAND_SORTABLE_TIME_BYTES 6
MUST_CHECK enum err rand_hex_sortable(char *out, size_t n);

/* Lower-case hex of data[0..n) into out (2n+1 bytes, NUL-terminated). */
void hex_encode(const void *data, size_t n, char *out);

/* Decodes exactly 2n hex digits (either case) into out[0..n). ERR_INVALID otherwise. */
MUST_CHECK enum err hex_decode(const char *hex, size_t hex_len, unsigned char *out, size_t n);

#endif
