/*
 * xml — an XML writer that escapes by default, for the Atom feed (W1).
 *
 * Like the HTML writer (http/html.h), markup can only come from xml_tag,
 * whose argument must be a string literal, so no runtime string becomes
 * markup; text and attribute values go through xml_text / xml_attr, which
 * escape & < > " ' and replace what XML 1.0 cannot carry — control
 * characters other than tab, LF and CR, U+FFFE and U+FFFF, and bytes that are
 * not valid UTF-8 — by U+FFFD. "]]>" cannot close anything: '>' is always
 * escaped. CR is written as &#13; so a parser does not fold it away.
 * Calls after the first failure do nothing; xml_finish returns it.
 */
#ifndef SHIPLOG_DELIVERY_XML_H
#define SHIPLOG_DELIVERY_XML_H

#include "core/buf.h"
#include "core/str.h"

struct xml {
    struct buf *out;
    enum err err;
};

void xml_init(struct xml *x, struct buf *out);

/* Literal markup: "" lit "" only compiles for a string literal. */
#define xml_tag(x, lit) xml_markup_((x), "" lit "")
void xml_markup_(struct xml *x, const char *literal_markup);

/* Escaped character data. */
void xml_text(struct xml *x, struct str s);
void xml_ctext(struct xml *x, const char *s);

/* name="escaped value" with a leading space; name must be a literal. */
#define xml_attr(x, name, value) xml_attr_((x), "" name "", (value))
void xml_attr_(struct xml *x, const char *literal_name, struct str value);

MUST_CHECK enum err xml_finish(struct xml *x);

#endif
