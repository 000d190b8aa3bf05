/* etag — see etag.h. */
#include "delivery/etag.h"

#include "crypto/hash.h"

void etag_of(const void *body, size_t len, char out[ETAG_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[SHA256_LEN];
    sha256(body, len, d);
    out[0] = '"';
    for (size_t i = 0; i < (ETAG_LEN - 2) / 2; i++) {
        out[1 + 2 * i] = hex[d[i] >> 4];
        out[2 + 2 * i] = hex[d[i] & 15];
    }
    out[ETAG_LEN - 1] = '"';
    out[ETAG_LEN] = '\0';
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* etagc: %x21 / %x23-7E / obs-text */
static bool etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80;
}

bool etag_none_match_hits(struct str header, struct str etag)
{
    if (!header.ptr || !etag.ptr || header.len > ETAG_MAX_HEADER || etag.len < 2)
        return false;
    struct str want = str_from(etag.ptr + 1, etag.len - 2); /* the opaque part */
    const char *p = header.ptr, *end = header.ptr + header.len;
    while (p < end && ows(*p))
        p++;
    const char *q = end;
    while (q > p && ows(q[-1]))
        q--;
    if (q - p == 1 && *p == '*')
        return true;
    bool hit = false, any = false;
    while (p < q) {
        if (*p == ',') { /* an empty element: "#" lists allow them */
            p++;
            while (p < q && ows(*p))
                p++;
            continue;
        }
        if (q - p >= 2 && p[0] == 'W' && p[1] == '/')
            p += 2;
        if (p >= q || *p != '"')
            return false;
        const char *open = ++p;
        while (p < q && etagc((unsigned char)*p))
            p++;
        if (p >= q || *p != '"')
            return false;
        hit = hit || str_eq(str_from(open, (size_t)(p - open)), want);
        any = true;
        p++;
        while (p < q && ows(*p))
            p++;
        if (p < q && *p != ',')
            return false;
    }
    return any && hit;
}
