/*
 * pack — LZ4 block with a 4-byte little-endian length prefix (see pack.h).
 */
#include "core/pack.h"

#include <lz4.h>
#include <stdint.h>

_Static_assert(PACK_MAX_LEN == LZ4_MAX_INPUT_SIZE, "pack.h names liblz4's input limit");

#define PACK_MAX_RATIO 255u /* bytes an LZ4 block yields at most per byte of it */

/* Writes the header and the block of in into out (cap bytes); the packed length. */
static size_t pack_into(struct str in, char *out, size_t cap)
{
    uint32_t n = (uint32_t)in.len;
    for (int i = 0; i < PACK_HEADER; i++)
        out[i] = (char)(n >> (8 * i) & 0xff);
    int w = LZ4_compress_default(in.ptr ? in.ptr : "", out + PACK_HEADER, (int)in.len,
                                 (int)(cap - PACK_HEADER));
    ASSERT(w > 0); /* cap is LZ4's bound: compression cannot fail */
    return PACK_HEADER + (size_t)w;
}

/* Bytes a packed in may take: its header and LZ4's bound. */
static size_t pack_cap(struct str in)
{
    return PACK_HEADER + (size_t)LZ4_compressBound((int)in.len);
}

enum err pack_lz4(struct str in, struct arena *a, struct str *out)
{
    *out = STR_NULL;
    if (in.len > PACK_MAX_LEN)
        return ERR_LIMIT;
    size_t cap = pack_cap(in);
    char *p = arena_alloc(a, cap);
    if (!p)
        return ERR_LIMIT;
    *out = str_from(p, pack_into(in, p, cap));
    return ERR_OK;
}

enum err unpack_lz4(struct str in, size_t max_len, struct arena *a, struct str *out)
{
    *out = STR_NULL;
    if (in.len < PACK_HEADER)
        return ERR_INVALID;
    const unsigned char *h = (const unsigned char *)in.ptr;
    size_t n = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
    if (n > max_len || n > PACK_MAX_LEN)
        return ERR_INVALID;
    size_t block = in.len - PACK_HEADER;
    /* longer than any packing of n bytes, or too short to ever unfold to n
       (an LZ4 block yields at most 255 bytes per byte): not a packing */
    if (block > (size_t)LZ4_compressBound((int)n) || n > PACK_MAX_RATIO * block)
        return ERR_INVALID;
    char *p = arena_alloc(a, n + 1);
    if (!p)
        return ERR_LIMIT;
    int got = LZ4_decompress_safe(in.ptr + PACK_HEADER, p, (int)block, (int)n);
    if (got < 0 || (size_t)got != n)
        return ERR_INVALID;
    p[n] = '\0';
    *out = str_from(p, n);
    return ERR_OK;
}
