/* html — see html.h. */
#include "http/html.h"

#include <string.h>

#include "core/json.h"

void html_init(struct html *h, struct buf *out)
{
    h->out = out;
    h->err = ERR_OK;
}

void html_markup_(struct html *h, const char *literal_markup)
{
    if (!h->err)
        h->err = buf_puts(h->out, literal_markup);
}

/* Length of the valid UTF-8 sequence at s (0 when invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : s[0] < 0xf5 ? 4 : 0;
    if (len == 0 || len > n || !json_utf8_valid(str_from((const char *)s, len), NULL))
        return 0;
    return len;
}

void html_text(struct html *h, struct str s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < s.len && !h->err;) {
        unsigned char c = p[i];
        const char *rep = NULL;
        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            break;
        }
        if (rep) {
            h->err = buf_puts(h->out, rep);
            i++;
        } else if (c >= 0x80) {
            size_t n = utf8_seq(p + i, s.len - i);
            h->err = n ? buf_append(h->out, p + i, n) : buf_puts(h->out, "\xef\xbf\xbd");
            i += n ? n : 1;
        } else if (c < 0x20 && c != '\n' && c != '\t') {
            h->err = buf_puts(h->out, "\xef\xbf\xbd"); /* controls cannot appear in HTML text */
            i++;
        } else {
            h->err = buf_putc(h->out, (char)c);
            i++;
        }
    }
}

void html_ctext(struct html *h, const char *s)
{
    html_text(h, str_from_cstr(s ? s : ""));
}

static bool url_attr_value_safe(struct str v)
{
    struct str rest;
    if (str_cut_http_scheme(v, true, &rest))
        return true;
    if (str_istarts_with(v, STR_LIT("mailto:")))
        return true;
    /* same-site: "/path" (not "//host"), "?query", "#fragment" */
    return v.len > 0 && ((v.ptr[0] == '/' && (v.len == 1 || v.ptr[1] != '/')) || v.ptr[0] == '?' ||
                         v.ptr[0] == '#');
}

void html_attr_(struct html *h, const char *literal_name, struct str value)
{
    struct str name = str_from_cstr(literal_name);
    bool url = str_ieq_cstr(name, "href") || str_ieq_cstr(name, "src") ||
               str_ieq_cstr(name, "action") || str_ieq_cstr(name, "formaction");
    if (!h->err && (str_istarts_with(name, STR_LIT("on")) || str_ieq_cstr(name, "style") ||
                    (url && !url_attr_value_safe(value))))
        h->err = ERR_INVALID;
    if (!h->err)
        h->err = buf_putc(h->out, ' ');
    html_markup_(h, literal_name);
    html_markup_(h, "=\"");
    html_text(h, value);
    html_markup_(h, "\"");
}

enum err html_finish(struct html *h)
{
    return h->err;
}
