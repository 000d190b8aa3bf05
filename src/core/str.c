/* str — string views; see str.h. */
#include "core/str.h"

#include <string.h>

struct str str_from_cstr(const char *s)
{
    return s ? (struct str){s, strlen(s)} : STR_NULL;
}

struct str str_from(const char *p, size_t len)
{
    return (struct str){p, len};
}

bool str_eq(struct str a, struct str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool str_eq_cstr(struct str a, const char *b)
{
    return str_eq(a, str_from_cstr(b));
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

static bool mem_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return false;
    return true;
}

bool str_ieq_cstr(struct str a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && mem_ieq(a.ptr, b, n);
}

bool str_starts_with(struct str s, struct str prefix)
{
    return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.ptr, prefix.ptr, prefix.len) == 0);
}

bool str_istarts_with(struct str s, struct str prefix)
{
    return s.len >= prefix.len && mem_ieq(s.ptr, prefix.ptr, prefix.len);
}

bool str_ends_with(struct str s, struct str suffix)
{
    return s.len >= suffix.len &&
           (suffix.len == 0 || memcmp(s.ptr + s.len - suffix.len, suffix.ptr, suffix.len) == 0);
}

struct str str_trim(struct str s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

bool str_split(struct str *rest, char sep, struct str *tok)
{
    if (!rest->ptr)
        return false;
    long i = str_index(*rest, sep);
    if (i < 0) {
        *tok = *rest;
        *rest = STR_NULL; /* marks "no more tokens" */
        return true;
    }
    *tok = str_from(rest->ptr, (size_t)i);
    rest->ptr += i + 1;
    rest->len -= (size_t)i + 1;
    return true;
}

long str_index(struct str s, char c)
{
    if (!s.len)
        return -1;
    const char *p = memchr(s.ptr, c, s.len);
    return p ? (long)(p - s.ptr) : -1;
}

enum err str_to_u64(struct str s, uint64_t max, uint64_t *out)
{
    if (s.len == 0 || s.len > 20)
        return s.len == 0 ? ERR_INVALID : ERR_LIMIT;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (c < '0' || c > '9')
            return ERR_INVALID;
        unsigned d = (unsigned)(c - '0');
        if (v > (UINT64_MAX - d) / 10)
            return ERR_LIMIT;
        v = v * 10 + d;
    }
    if (v > max)
        return ERR_LIMIT;
    *out = v;
    return ERR_OK;
}

int str_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool str_is_uuid(struct str s)
{
    if (s.len != 36 || !s.ptr)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash_position ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

bool str_cut_http_scheme(struct str s, bool ignore_case, struct str *rest)
{
    bool (*starts)(struct str, struct str) = ignore_case ? str_istarts_with : str_starts_with;
    size_t skip = starts(s, STR_LIT("https://")) ? 8 : starts(s, STR_LIT("http://")) ? 7 : 0;
    if (!skip)
        return false;
    *rest = str_from(s.ptr + skip, s.len - skip);
    return true;
}

bool str_is_printable_ascii(struct str s)
{
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] < 0x20 || (unsigned char)s.ptr[i] > 0x7e)
            return false;
    return true;
}

bool str_ct_eq(struct str a, struct str b)
{
    if (a.len != b.len)
        return false;
    /* accumulate differences without branching on secret bytes */
    const volatile unsigned char *pa = (const volatile unsigned char *)a.ptr;
    const volatile unsigned char *pb = (const volatile unsigned char *)b.ptr;
    unsigned char diff = 0;
    for (size_t i = 0; i < a.len; i++)
        diff |= (unsigned char)(pa[i] ^ pb[i]);
    return diff == 0;
}
