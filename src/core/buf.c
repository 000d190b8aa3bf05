/* buf — capped growable buffer; see buf.h. */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->max = max;
    b->secret = false;
}

void buf_release(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_wipe(struct buf *b)
{
    if (b->data)
        explicit_bzero(b->data, b->alloc);
    buf_release(b);
}

/* Makes room for extra more bytes plus the terminator. Out of line: the appends
 * call it only when they have to. */
__attribute__((noinline)) static enum err buf_reserve(struct buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return ERR_LIMIT;
    size_t need = b->len + extra + 1;
    if (need <= b->alloc)
        return ERR_OK;
    size_t alloc = b->alloc ? b->alloc : 64;
    while (alloc < need)
        alloc = alloc > ((size_t)-1) / 2 ? need : alloc * 2;
    if (alloc > b->max + 1)
        alloc = b->max + 1 > need ? b->max + 1 : need;
    char *p;
    if (b->secret) {
        p = malloc(alloc);
        if (!p)
            err_oom();
        if (b->data) {
            memcpy(p, b->data, b->len + 1);
            explicit_bzero(b->data, b->alloc);
            free(b->data);
        }
    } else {
        p = realloc(b->data, alloc);
        if (!p)
            err_oom();
    }
    b->data = p;
    b->alloc = alloc;
    return ERR_OK;
}

enum err buf_append(struct buf *b, const void *data, size_t len)
{
    /* most appends fit the memory already there, under the cap: buf_reserve only when not */
    if (b->len > b->max || len > b->max - b->len || len >= b->alloc - b->len) {
        enum err e = buf_reserve(b, len);
        if (e)
            return e;
    }
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return ERR_OK;
}

enum err buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

enum err buf_putc(struct buf *b, char c)
{
    /* the common case in place: room for c and the terminator, under the cap */
    if (b->alloc - b->len >= 2 && b->len < b->max) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return ERR_OK;
    }
    return buf_append(b, &c, 1);
}

enum err buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return ERR_INTERNAL;
    enum err e = buf_reserve(b, (size_t)n);
    if (e)
        return e;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return ERR_OK;
}

enum err buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum err e = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return e;
}

const char *buf_cstr(const struct buf *b)
{
    return b->data ? b->data : "";
}

char *buf_detach(struct buf *b, size_t *len_out)
{
    char *p = b->data;
    if (!p) {
        p = malloc(1);
        if (!p)
            err_oom();
        p[0] = '\0';
    }
    if (len_out)
        *len_out = b->len;
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}

void buf_note(struct buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = strlen(tmp);
    size_t room = b->max > b->len ? b->max - b->len : 0;
    if (buf_append(b, tmp, len < room ? len : room) != ERR_OK)
        return; /* cannot happen: the length was capped to the room left */
}
