/*
 * pack — compression of stored bodies with LZ4 (liblz4's block format).
 *
 * A packed value is the unpacked length as 4 bytes little-endian followed by
 * one LZ4 block: the layout python-lz4's lz4.block.compress writes and
 * lz4.block.decompress reads by default, so tests and operators' scripts can
 * read it. LZ4 is chosen for its speed: packing a 10 KB webhook body costs
 * a few microseconds, and the body then takes about a quarter of its bytes
 * (the median of the webhook fixtures over 4 KB; a third over all of them),
 * and as few of the pages in the database and its write-ahead log.
 *
 * Unpacking treats its input as untrusted: the declared length is checked
 * against the caller's maximum before anything is allocated, and the block
 * must decode to exactly that length (liblz4's safe decoder never reads or
 * writes out of bounds).
 */
#ifndef SHIPLOG_CORE_PACK_H
#define SHIPLOG_CORE_PACK_H

#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"

#define PACK_HEADER  4                     /* bytes of the length prefix */
#define PACK_MAX_LEN ((size_t)0x7E000000u) /* longest input (LZ4_MAX_INPUT_SIZE) */

/*
 * Packs in into the arena (*out points there; not NUL-terminated).
 * ERR_LIMIT when in is longer than PACK_MAX_LEN or a is full.
 */
MUST_CHECK enum err pack_lz4(struct str in, struct arena *a, struct str *out);

/*
 * Unpacks in into the arena, NUL-terminated (the NUL not counted in
 * out->len). ERR_INVALID when in is not a packing of at most max_len bytes:
 * shorter than the header, a declared length over max_len, or a block that
 * does not decode to exactly the declared length. ERR_LIMIT when a is full.
 */
MUST_CHECK enum err unpack_lz4(struct str in, size_t max_len, struct arena *a, struct str *out);

#endif
