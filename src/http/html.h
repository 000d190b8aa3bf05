/*
 * html — an HTML writer that escapes by default (U1, STYLE: "escaping done by
 * the writer, not the caller").
 *
 * Text and attribute values always go through html_text / html_attr, which
 * escape & < > " ' and replace invalid UTF-8 and control characters. Markup
 * can only come from html_tag, whose argument must be a string literal (the
 * macro enforces it at compile time), so no runtime string can become markup.
 * Calls after the first failure do nothing; html_finish returns it.
 */
#ifndef SHIPLOG_HTTP_HTML_H
#define SHIPLOG_HTTP_HTML_H

#include "core/buf.h"
#include "core/str.h"

struct html {
    struct buf *out;
    enum err err;
};

void html_init(struct html *h, struct buf *out);

/*
 * Literal markup; "" lit "" only compiles for a string literal. Use only
 * through the macro: html_markup_ itself exists for the macro's sake.
 */
#define html_tag(h, lit) html_markup_((h), "" lit "")
void html_markup_(struct html *h, const char *literal_markup);

/* Escaped text content. */
void html_text(struct html *h, struct str s);
void html_ctext(struct html *h, const char *s);

/*
 * name="escaped value" with a leading space; name must be a literal. Event
 * handlers (on*) and style are refused (no inline script or style, U2), and
 * URL attributes (href, src, action, formaction) take only http(s) URLs,
 * mailto: and same-site paths, never javascript: or data: (ERR_INVALID).
 */
#define html_attr(h, name, value) html_attr_((h), "" name "", (value))
void html_attr_(struct html *h, const char *literal_name, struct str value);

MUST_CHECK enum err html_finish(struct html *h);

#endif
