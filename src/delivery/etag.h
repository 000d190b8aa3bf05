/*
 * etag — entity tags of the delivery responses and If-None-Match (RFC 9110
 * §8.8.3, §13.1.2).
 *
 * A response's tag is strong: the first 128 bits of the SHA-256 of its bytes,
 * in hex, quoted. If-None-Match is untrusted input, parsed strictly: "*" or a
 * comma-separated list of entity tags ([W/]"opaque"), with optional spaces
 * and tabs around the commas and empty list elements allowed. It compares
 * with the weak comparison (W/ is ignored) that RFC 9110 prescribes for
 * If-None-Match. A header longer than ETAG_MAX_HEADER or malformed anywhere
 * matches nothing, so the client gets the full response: never a 304 it did
 * not ask for. Fuzzed by fuzz/fuzz_etag.c.
 */
#ifndef SHIPLOG_DELIVERY_ETAG_H
#define SHIPLOG_DELIVERY_ETAG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

#define ETAG_LEN        34   /* '"' + 32 hex digits + '"' */
#define ETAG_MAX_HEADER 4096 /* bytes of one If-None-Match value; longer matches nothing */

/* The strong tag of body[0..len) into out (NUL-terminated). */
void etag_of(const void *body, size_t len, char out[ETAG_LEN + 1]);

/*
 * True when the If-None-Match value header names etag (a tag as etag_of
 * writes it) or is "*": the condition is false and the answer is 304.
 * False for anything else, including a malformed or over-long header.
 */
bool etag_none_match_hits(struct str header, struct str etag);

#endif
