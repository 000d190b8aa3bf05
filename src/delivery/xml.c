/* xml — see xml.h. */
#include "delivery/xml.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/json.h"

void xml_init(struct xml *x, struct buf *out)
{
    x->out = out;
    x->err = ERR_OK;
}

static void put(struct xml *x, const char *s, size_t n)
{
    if (!x->err)
        x->err = buf_append(x->out, s, n);
}

void xml_markup_(struct xml *x, const char *literal_markup)
{
    put(x, literal_markup, strlen(literal_markup));
}

/* XML 1.0's Char production, less what the writer escapes anyway. */
static bool xml_char(uint32_t cp)
{
    if (cp < 0x20)
        return cp == '\t' || cp == '\n' || cp == '\r';
    if (cp >= 0xD800 && cp <= 0xDFFF) /* json_utf8_decode never yields these */
        return false;
    return cp != 0xFFFE && cp != 0xFFFF && cp <= 0x10FFFF;
}

/* attr: also tab and LF as references, which attribute normalization would turn into spaces */
static void escaped(struct xml *x, struct str s, bool attr)
{
    static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t run = 0; /* start of the bytes copied as they are */
    for (size_t i = 0; i < s.len && !x->err;) {
        const char *sub = NULL;
        size_t n = 1;
        switch (p[i]) {
        case '&':
            sub = "&amp;";
            break;
        case '<':
            sub = "&lt;";
            break;
        case '>':
            sub = "&gt;";
            break;
        case '"':
            sub = "&quot;";
            break;
        case '\'':
            sub = "&#39;";
            break;
        case '\r':
            sub = "&#13;";
            break;
        case '\n':
            sub = attr ? "&#10;" : NULL;
            break;
        case '\t':
            sub = attr ? "&#9;" : NULL;
            break;
        default: {
            uint32_t cp = 0;
            n = p[i] < 0x80 ? 1 : json_utf8_decode(p + i, s.len - i, &cp);
            if (p[i] < 0x80)
                cp = p[i];
            if (n == 0 || !xml_char(cp)) {
                sub = replacement;
                n = n ? n : 1; /* an invalid byte is replaced alone */
            }
        }
        }
        if (sub) {
            put(x, s.ptr + run, i - run);
            put(x, sub, strlen(sub));
            run = i + n;
        }
        i += n;
    }
    put(x, s.ptr + run, s.len - run);
}

void xml_text(struct xml *x, struct str s)
{
    if (s.ptr)
        escaped(x, s, false);
}

void xml_ctext(struct xml *x, const char *s)
{
    if (s)
        escaped(x, str_from_cstr(s), false);
}

void xml_attr_(struct xml *x, const char *literal_name, struct str value)
{
    put(x, " ", 1);
    put(x, literal_name, strlen(literal_name));
    put(x, "=\"", 2);
    if (value.ptr)
        escaped(x, value, true);
    put(x, "\"", 1);
}

enum err xml_finish(struct xml *x)
{
    return x->err;
}
