/*
 * base64 — see base64.h. Small and table-driven; no allocation except the
 * output buffer's own growth.
 */
#include "core/base64.h"

static const char B64_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

enum err base64_encode(struct buf *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    char quad[4];
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        quad[0] = B64_ALPHABET[(v >> 18) & 63];
        quad[1] = B64_ALPHABET[(v >> 12) & 63];
        quad[2] = i + 1 < len ? B64_ALPHABET[(v >> 6) & 63] : '=';
        quad[3] = i + 2 < len ? B64_ALPHABET[v & 63] : '=';
        enum err e = buf_append(out, quad, sizeof quad);
        if (e)
            return e;
    }
    return ERR_OK;
}

/* Value of one character of the alphabet whose last two characters are c62
 * and c63 ('+' '/' standard, '-' '_' base64url), or -1. */
static int b64_value_of(unsigned char c, unsigned char c62, unsigned char c63)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == c62)
        return 62;
    if (c == c63)
        return 63;
    return -1;
}

static int b64_value(unsigned char c)
{
    return b64_value_of(c, '+', '/');
}

static bool b64_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

enum err base64_decode(struct str in, unsigned char *out, size_t cap, size_t *out_len)
{
    unsigned acc = 0;
    size_t nq = 0;  /* characters in the current quantum */
    size_t pad = 0; /* '=' seen */
    size_t n = 0;
    size_t i = 0;
    *out_len = 0;
    for (; i < in.len; i++) {
        unsigned char c = (unsigned char)in.ptr[i];
        if (b64_space(c))
            continue;
        if (c == '=') {
            if (nq < 2)
                return ERR_INVALID;
            pad++;
            nq++;
            acc <<= 6;
            if (nq == 4) {
                i++;
                break;
            }
            continue;
        }
        if (pad)
            return ERR_INVALID; /* data after padding */
        int v = b64_value(c);
        if (v < 0)
            return ERR_INVALID;
        acc = (acc << 6) | (unsigned)v;
        if (++nq == 4) {
            if (n + 3 > cap)
                return ERR_LIMIT;
            out[n++] = (unsigned char)(acc >> 16);
            out[n++] = (unsigned char)(acc >> 8);
            out[n++] = (unsigned char)acc;
            acc = 0;
            nq = 0;
        }
    }
    if (pad) {
        if (nq != 4)
            return ERR_INVALID;
        for (; i < in.len; i++) /* only whitespace may follow the padding */
            if (!b64_space((unsigned char)in.ptr[i]))
                return ERR_INVALID;
        size_t keep = 3 - pad;
        unsigned trailing = pad == 1 ? (acc & 0xffu) : (acc & 0xffffu);
        if (trailing)
            return ERR_INVALID;
        if (n + keep > cap)
            return ERR_LIMIT;
        out[n++] = (unsigned char)(acc >> 16);
        if (keep == 2)
            out[n++] = (unsigned char)(acc >> 8);
    } else if (nq != 0) {
        return ERR_INVALID;
    }
    *out_len = n;
    return ERR_OK;
}

/* ---- base64url ------------------------------------------------------------ */

static const char B64URL_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

enum err base64url_encode(struct buf *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    char group[4];
    for (size_t i = 0; i < len; i += 3) {
        size_t take = len - i < 3 ? len - i : 3;
        unsigned v = (unsigned)p[i] << 16;
        if (take > 1)
            v |= (unsigned)p[i + 1] << 8;
        if (take > 2)
            v |= p[i + 2];
        group[0] = B64URL_ALPHABET[(v >> 18) & 63];
        group[1] = B64URL_ALPHABET[(v >> 12) & 63];
        group[2] = B64URL_ALPHABET[(v >> 6) & 63];
        group[3] = B64URL_ALPHABET[v & 63];
        enum err e = buf_append(out, group, take + 1); /* take bytes are take + 1 characters */
        if (e)
            return e;
    }
    return ERR_OK;
}

static int b64url_value(char c)
{
    return b64_value_of((unsigned char)c, '-', '_');
}

bool base64url_valid(struct str in)
{
    if (in.len % 4 == 1)
        return false;
    for (size_t i = 0; i < in.len; i++)
        if (b64url_value(in.ptr[i]) < 0)
            return false;
    return true;
}

enum err base64url_decode(struct str in, unsigned char *out, size_t cap, size_t *out_len)
{
    *out_len = 0;
    if (!base64url_valid(in))
        return ERR_INVALID;
    size_t rem = in.len % 4;
    size_t n = in.len / 4 * 3 + (rem ? rem - 1 : 0);
    if (n > cap)
        return ERR_LIMIT;
    unsigned acc = 0, bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < in.len; i++) {
        acc = (acc << 6) | (unsigned)b64url_value(in.ptr[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return ERR_INVALID; /* non-zero unused bits: not what the encoder writes */
    ASSERT(o == n);
    *out_len = o;
    return ERR_OK;
}
