/* headers — see headers.h. */
#include "http/headers.h"

#include <string.h>

struct str http_media_type(struct str ct)
{
    long semi = str_index(ct, ';');
    if (semi >= 0)
        ct.len = (size_t)semi;
    return str_trim(ct);
}

bool http_media_type_in(struct str content_type, const char *const *allowed)
{
    if (!content_type.ptr || !allowed)
        return false;
    struct str mt = http_media_type(content_type);
    for (; *allowed; allowed++)
        if (str_ieq_cstr(mt, *allowed))
            return true;
    return false;
}

bool http_cookie_get(struct str header, const char *name, struct str *value)
{
    struct str rest = header, pair;
    size_t seen = 0;
    struct str want = str_from_cstr(name);
    while (rest.ptr && seen++ < HEADERS_MAX_COOKIES && str_split(&rest, ';', &pair)) {
        pair = str_trim(pair);
        long eq = str_index(pair, '=');
        if (eq <= 0)
            continue;
        struct str k = str_trim(str_from(pair.ptr, (size_t)eq));
        struct str v = str_trim(str_from(pair.ptr + eq + 1, pair.len - (size_t)eq - 1));
        if (!str_eq(k, want))
            continue;
        if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"')
            v = str_from(v.ptr + 1, v.len - 2);
        *value = v;
        return true;
    }
    return false;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
}

bool http_origin_valid(struct str o)
{
    if (!o.ptr || o.len == 0 || o.len > HEADERS_MAX_ORIGIN)
        return false;
    struct str rest;
    if (!str_cut_http_scheme(o, true, &rest))
        return false;
    size_t i = 0;
    if (rest.len && rest.ptr[0] == '[') {
        long close = str_index(rest, ']');
        if (close < 3)
            return false;
        for (i = 1; i < (size_t)close; i++) {
            char c = rest.ptr[i];
            if (!(host_char(c) || c == ':') || c == '-' || c == '.')
                return false;
        }
        i = (size_t)close + 1;
    } else {
        while (i < rest.len && host_char(rest.ptr[i]))
            i++;
        if (i == 0 || rest.ptr[0] == '.' || rest.ptr[i - 1] == '.')
            return false;
    }
    if (i == rest.len)
        return true;
    if (rest.ptr[i] != ':')
        return false;
    uint64_t port;
    return str_to_u64(str_from(rest.ptr + i + 1, rest.len - i - 1), 65535, &port) == ERR_OK &&
           port > 0;
}

bool http_token_list_contains(struct str list, const char *token)
{
    struct str rest = list, tok;
    size_t seen = 0;
    while (rest.ptr && seen++ < 64 && str_split(&rest, ',', &tok))
        if (str_ieq_cstr(str_trim(tok), token))
            return true;
    return false;
}

static bool token68_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

bool http_authorization_bearer(struct str v, struct str *token)
{
    static const struct str scheme = STR_LIT("Bearer");
    if (!v.ptr || v.len > HEADERS_MAX_BEARER || !str_istarts_with(v, scheme))
        return false;
    size_t i = scheme.len;
    if (i >= v.len || v.ptr[i] != ' ')
        return false;
    while (i < v.len && v.ptr[i] == ' ')
        i++;
    size_t start = i;
    while (i < v.len && token68_char(v.ptr[i]))
        i++;
    if (i == start)
        return false; /* no token, or one of only '=' */
    while (i < v.len && v.ptr[i] == '=')
        i++;
    if (i != v.len)
        return false;
    *token = str_from(v.ptr + start, v.len - start);
    return true;
}
