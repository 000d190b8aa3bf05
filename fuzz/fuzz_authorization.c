/*
 * fuzz_authorization — http_authorization_bearer (http/headers.h) on any
 * Authorization value. A token it returns must be a non-empty view into the
 * input that runs to its end, match token68, and follow "Bearer" (any case)
 * and one or more spaces that start the input, within HEADERS_MAX_BEARER
 * bytes. And the other way round: a value of that shape, checked here by a
 * separate matcher, must be accepted.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "http/headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool t68(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
           memchr("-._~+/", c, 6) != NULL;
}

/* token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool is_token68(const unsigned char *p, size_t n)
{
    size_t eq = n; /* the '=' run at the end */
    while (eq > 0 && p[eq - 1] == '=')
        eq--;
    if (eq == 0)
        return false;
    for (size_t i = 0; i < eq; i++)
        if (!t68(p[i]))
            return false;
    return true;
}

/* "bearer" in any case, then 1*SP, then a token68 to the end: where the token starts, or 0. */
static size_t expected_start(const unsigned char *p, size_t n)
{
    static const char scheme[] = "bearer";
    if (n > HEADERS_MAX_BEARER || n < sizeof(scheme))
        return 0;
    for (size_t i = 0; i < sizeof(scheme) - 1; i++)
        if ((p[i] | 0x20) != (unsigned char)scheme[i]) /* only the letter, either case */
            return 0;
    size_t at = sizeof(scheme) - 1;
    size_t spaces = 0;
    while (at < n && p[at] == ' ') {
        at++;
        spaces++;
    }
    if (spaces == 0 || !is_token68(p + at, n - at))
        return 0;
    return at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct str in = str_from((const char *)data, size);
    struct str tok = STR_NULL;
    bool ok = http_authorization_bearer(in, &tok);
    size_t want = size ? expected_start(data, size) : 0;
    if (ok != (want != 0))
        __builtin_trap();
    if (!ok) {
        if (tok.ptr || tok.len)
            __builtin_trap(); /* untouched */
        return 0;
    }
    if (!tok.ptr || tok.len == 0 || tok.ptr < in.ptr || tok.ptr + tok.len != in.ptr + in.len)
        __builtin_trap();
    if ((size_t)(tok.ptr - in.ptr) != want)
        __builtin_trap();
    if (!is_token68((const unsigned char *)tok.ptr, tok.len))
        __builtin_trap();
    return 0;
}
