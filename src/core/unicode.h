/*
 * unicode — the little Unicode shiplog needs: UTF-8 validation, NFC
 * normalization and code point counting.
 *
 * Text that is compared for equality (passwords, later names and emails) is
 * normalized to NFC first, so "é" typed as one code point and "e" + U+0301
 * are the same text. This is the only module that uses libunistring; the rest
 * of shiplog sees struct str and struct buf.
 *
 * Validity is the strict UTF-8 of RFC 3629: no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequences.
 */
#ifndef SHIPLOG_CORE_UNICODE_H
#define SHIPLOG_CORE_UNICODE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

/* Bytes utf8_nfc() accepts; callers with tighter limits check theirs first. */
#define UNICODE_MAX_INPUT (64 * 1024)

/* True when s is valid UTF-8 (the empty string is). */
bool utf8_valid(struct str s);

/*
 * Appends the NFC normalization of in to out. ERR_LIMIT when in is longer than
 * UNICODE_MAX_INPUT or the result does not fit under out's cap (out keeps what
 * it had), ERR_INVALID when in is not valid UTF-8 (out unchanged). Temporary
 * copies are wiped, so out may be a BUF_INIT_SECRET buffer holding a password.
 * Thread-safe.
 */
MUST_CHECK enum err utf8_nfc(struct str in, struct buf *out);

/*
 * Number of code points in s, which must be valid UTF-8 (for other input the
 * result counts the bytes that are not continuation bytes, and means nothing).
 */
size_t utf8_codepoints(struct str s);

#endif
