/*
 * buf — a growable byte buffer with a hard cap (after curl's dynbuf).
 *
 * The data is always NUL-terminated so it can be used as a C string; len does
 * not count the terminator. Appending past max leaves the buffer unchanged and
 * returns ERR_LIMIT. Memory comes from the heap: a buf may outlive a request,
 * and must be released with buf_release().
 */
#ifndef SHIPLOG_CORE_BUF_H
#define SHIPLOG_CORE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct buf {
    char *data;   /* NULL until the first append; use buf_cstr() to read */
    size_t len;   /* bytes held, excluding the terminator */
    size_t alloc; /* bytes allocated */
    size_t max;   /* hard cap on len */
    bool secret;  /* grow by copying and wiping the old block instead of realloc */
};

/* clang-format off */
#define BUF_INIT(max_)        {NULL, 0, 0, (max_), false}
/* For plaintext secrets: growing never leaves a copy behind in freed memory. */
#define BUF_INIT_SECRET(max_) {NULL, 0, 0, (max_), true}
/* clang-format on */

void buf_init(struct buf *b, size_t max);

/* Frees the memory; the buf may be reused after buf_init(). */
void buf_release(struct buf *b);

/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);

MUST_CHECK enum err buf_append(struct buf *b, const void *data, size_t len);
MUST_CHECK enum err buf_puts(struct buf *b, const char *s);
MUST_CHECK enum err buf_putc(struct buf *b, char c);
MUST_CHECK enum err buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
MUST_CHECK enum err buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * For messages where a cut is acceptable (error explanations for logs and
 * stderr): appends as much of the formatted text as fits under the cap and
 * never fails.
 */
void buf_note(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The contents as a C string; "" for an empty buffer. */
const char *buf_cstr(const struct buf *b);

/* Hands the heap memory to the caller (free() it) and empties b. Never NULL. */
char *buf_detach(struct buf *b, size_t *len_out);

/* Overwrites the contents with zeros before releasing (for secrets). */
void buf_wipe(struct buf *b);

#endif
