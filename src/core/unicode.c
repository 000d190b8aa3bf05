/*
 * unicode — see unicode.h.
 *
 * u8_normalize() does not reject invalid UTF-8 (it decodes with the "unsafe"
 * decoder and would turn bad bytes into U+FFFD), so input is checked with
 * u8_check() first. The normalized result is produced into a stack buffer when
 * it fits (the common case for passwords) and otherwise into memory
 * libunistring allocates; either copy is wiped before it is dropped.
 * libunistring's own scratch memory for reordering combining marks is not
 * ours to wipe: it holds code points of the input only while it runs.
 */
#include "core/unicode.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uninorm.h>
#include <unistr.h>

/* Results up to this size never touch the heap. */
#define NFC_STACK_BUF 1024

bool utf8_valid(struct str s)
{
    return s.len == 0 || u8_check((const uint8_t *)s.ptr, s.len) == NULL;
}

enum err utf8_nfc(struct str in, struct buf *out)
{
    if (in.len > UNICODE_MAX_INPUT)
        return ERR_LIMIT;
    if (!utf8_valid(in))
        return ERR_INVALID;
    if (in.len == 0)
        return ERR_OK;

    uint8_t stack[NFC_STACK_BUF];
    size_t n = sizeof(stack);
    uint8_t *res = u8_normalize(UNINORM_NFC, (const uint8_t *)in.ptr, in.len, stack, &n);
    if (!res)
        err_oom(); /* ENOMEM is the only failure for valid input */
    enum err e = buf_append(out, res, n);
    explicit_bzero(res, n);
    if (res != stack)
        free(res);
    explicit_bzero(stack, sizeof(stack));
    return e;
}

size_t utf8_codepoints(struct str s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++)
        n += ((unsigned char)s.ptr[i] & 0xC0) != 0x80;
    return n;
}
