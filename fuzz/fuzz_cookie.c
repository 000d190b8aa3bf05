/*
 * fuzz_cookie — http_cookie_get (http/headers.h) with a fuzzed cookie name as
 * well as a fuzzed Cookie header. The input is "<name>\n<header>" (no newline:
 * the whole input is the header, the name is the session cookie's). Whatever
 * it finds must be a view into the header, hold no ';', sit in one of the
 * first HEADERS_MAX_COOKIES pairs, and be the value of a pair whose trimmed
 * name is exactly the one asked for.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "http/headers.h"

#define FUZZ_COOKIE_MAX_NAME 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nl = size ? memchr(in, '\n', size) : NULL;
    char name[FUZZ_COOKIE_MAX_NAME + 1] = "__Host-shiplog_session";
    struct str header = str_from(in, size);
    if (nl) {
        size_t n = (size_t)(nl - in);
        if (n > FUZZ_COOKIE_MAX_NAME)
            n = FUZZ_COOKIE_MAX_NAME;
        memcpy(name, in, n);
        name[n] = '\0'; /* a NUL in the input ends the name early, as in C */
        header = str_from(nl + 1, size - (size_t)(nl - in) - 1);
    }

    struct str v = STR_NULL;
    if (!http_cookie_get(header, name, &v))
        return 0;

    /* a view into the header, never past it */
    if (!header.ptr || v.len > header.len)
        __builtin_trap();
    if (v.len && (v.ptr < header.ptr || v.ptr + v.len > header.ptr + header.len))
        __builtin_trap();
    if (!v.len && v.ptr && (v.ptr < header.ptr || v.ptr > header.ptr + header.len))
        __builtin_trap();
    if (v.len && memchr(v.ptr, ';', v.len))
        __builtin_trap();

    /* a name that no trimmed pair name can equal never matches */
    size_t name_len = strlen(name);
    if (name_len == 0 || strpbrk(name, ";=") || blank(name[0]) || blank(name[name_len - 1]))
        __builtin_trap();

    /* the pair the value came from: after the last ';' before it */
    size_t at = v.ptr ? (size_t)(v.ptr - header.ptr) : 0;
    size_t start = at, semis = 0;
    while (start > 0 && header.ptr[start - 1] != ';')
        start--;
    for (size_t i = 0; i < start; i++)
        semis += header.ptr[i] == ';';
    if (semis >= HEADERS_MAX_COOKIES)
        __builtin_trap(); /* only the first HEADERS_MAX_COOKIES pairs are looked at */
    const char *eq = memchr(header.ptr + start, '=', at - start);
    if (!eq)
        __builtin_trap(); /* the value starts after its pair's first '=' */
    size_t k0 = start, k1 = (size_t)(eq - header.ptr);
    while (k0 < k1 && blank(header.ptr[k0]))
        k0++;
    while (k1 > k0 && blank(header.ptr[k1 - 1]))
        k1--;
    if (k1 - k0 != name_len || memcmp(header.ptr + k0, name, name_len) != 0)
        __builtin_trap();
    return 0;
}
