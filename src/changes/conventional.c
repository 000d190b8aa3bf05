/*
 * conventional — Conventional Commits 1.0.0 (see conventional.h for the
 * readings chosen where the specification is open).
 *
 * Design: one pass over lines (views, "\n" or "\r\n"); the header is read
 * character by character, the rest line by line: find where the footer
 * section starts, then cut it into footers at each footer line. Nothing is
 * allocated; the type is the only thing copied (lower-cased).
 */
#include "changes/conventional.h"

#include <string.h>

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_control(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool is_blank_char(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* After the first letter, a type goes on with letters, digits, '-' and '_'. */
static bool type_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '_';
}

bool cc_is_type(struct str s)
{
    if (s.len == 0 || s.len > CC_MAX_TYPE || !is_alpha((unsigned char)s.ptr[0]))
        return false;
    for (size_t i = 1; i < s.len; i++)
        if (!type_char((unsigned char)s.ptr[i]))
            return false;
    return true;
}

/* One line of a message: [start, end) without its terminator; next is past it. */
struct line {
    size_t start, end, next;
};

static bool line_at(struct str m, size_t at, struct line *l)
{
    if (at >= m.len)
        return false;
    const char *nl = memchr(m.ptr + at, '\n', m.len - at);
    size_t end = nl ? (size_t)(nl - m.ptr) : m.len;
    l->start = at;
    l->next = nl ? end + 1 : m.len;
    if (end > at && m.ptr[end - 1] == '\r')
        end--;
    l->end = end;
    return true;
}

static bool line_blank(struct str m, const struct line *l)
{
    for (size_t i = l->start; i < l->end; i++)
        if (!is_blank_char((unsigned char)m.ptr[i]))
            return false;
    return true;
}

/* m[from, to) without its leading blank lines and trailing white space. */
static struct str block(struct str m, size_t from, size_t to)
{
    struct line l;
    while (from < to && line_at(m, from, &l) && l.next <= to && line_blank(m, &l))
        from = l.next;
    while (to > from && (is_blank_char((unsigned char)m.ptr[to - 1]) || m.ptr[to - 1] == '\n' ||
                         m.ptr[to - 1] == '\r'))
        to--;
    return str_from(m.ptr + from, to - from);
}

static const char BREAKING_SPACE[] = "BREAKING CHANGE";
static const char BREAKING_DASH[] = "BREAKING-CHANGE";

/*
 * When line l opens a footer, fills f (its value: the rest of this line only)
 * and returns true. A token longer than CC_MAX_TOKEN makes an ordinary line.
 */
static bool footer_line(struct str m, const struct line *l, struct cc_footer *f)
{
    const unsigned char *p = (const unsigned char *)m.ptr;
    size_t i = l->start, n = sizeof BREAKING_SPACE - 1;
    if (l->end - i > n && memcmp(p + i, BREAKING_SPACE, n) == 0 && p[i + n] == ':') {
        i += n; /* the one token with a space in it */
    } else {
        if (i >= l->end || !(is_alpha(p[i]) || is_digit(p[i])))
            return false;
        while (i < l->end && (is_alpha(p[i]) || is_digit(p[i]) || p[i] == '-'))
            i++;
    }
    size_t token_len = i - l->start;
    if (token_len > CC_MAX_TOKEN || l->end - i < 2)
        return false;
    char sep;
    if (p[i] == ':' && p[i + 1] == ' ')
        sep = ':';
    else if (p[i] == ' ' && p[i + 1] == '#')
        sep = '#';
    else
        return false;
    i += 2;
    while (i < l->end && is_blank_char(p[i]))
        i++;
    struct str rest = block(m, i, l->end);
    if (rest.len == 0)
        return false;
    f->token = str_from(m.ptr + l->start, token_len);
    f->sep = sep;
    f->value = str_from(m.ptr + i, l->end - i);
    return true;
}

static bool footer_breaking(const struct cc_footer *f)
{
    return f->sep == ':' &&
           (str_eq(f->token, STR_LIT(BREAKING_SPACE)) || str_eq(f->token, STR_LIT(BREAKING_DASH)));
}

static enum err invalid(const char **why, const char *text)
{
    if (why)
        *why = text;
    return ERR_INVALID;
}

static enum err limit(const char **why, const char *text)
{
    if (why)
        *why = text;
    return ERR_LIMIT;
}

/* The header line h: type(scope)!: description. */
static enum err parse_header(struct str m, const struct line *h, struct cc_commit *out,
                             const char **why)
{
    const unsigned char *p = (const unsigned char *)m.ptr;
    size_t i = h->start, end = h->end;
    if (i >= end || !is_alpha(p[i]))
        return invalid(why, "no type at the start");
    while (i < end && type_char(p[i]))
        i++;
    size_t type_len = i - h->start;
    if (type_len > CC_MAX_TYPE)
        return limit(why, "type too long");
    for (size_t k = 0; k < type_len; k++) {
        unsigned char c = p[h->start + k];
        out->type[k] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out->type[type_len] = '\0';

    if (i < end && p[i] == '(') {
        size_t j = i + 1;
        while (j < end && p[j] != ')') {
            if (p[j] == '(' || is_control(p[j]))
                return invalid(why, "malformed scope");
            j++;
        }
        if (j >= end)
            return invalid(why, "unclosed scope");
        if (j == i + 1)
            return invalid(why, "empty scope");
        if (j - i - 1 > CC_MAX_SCOPE)
            return limit(why, "scope too long");
        out->scope = str_from(m.ptr + i + 1, j - i - 1);
        i = j + 1;
    }
    if (i < end && p[i] == '!') {
        out->bang = true;
        i++;
    }
    if (i >= end || p[i] != ':')
        return invalid(why, "no colon after the type");
    i++;
    if (i >= end || p[i] != ' ')
        return invalid(why, "no space after the colon");
    while (i < end && is_blank_char(p[i]))
        i++;
    for (size_t k = i; k < end; k++)
        if (is_control(p[k]))
            return invalid(why, "control character in the description");
    out->description = block(m, i, end);
    if (out->description.len == 0)
        return invalid(why, "empty description");
    return ERR_OK;
}

/* Cuts m[from, len) — the footer section — into out's footers. */
static enum err parse_footers(struct str m, size_t from, struct cc_commit *out, const char **why)
{
    struct line l;
    struct cc_footer f;
    struct cc_footer *cur = NULL;
    size_t value_start = 0;
    for (size_t at = from; line_at(m, at, &l); at = l.next) {
        if (!footer_line(m, &l, &f))
            continue; /* part of the current footer's value */
        if (cur)
            cur->value = block(m, value_start, l.start);
        if (out->n_footers == CC_MAX_FOOTERS)
            return limit(why, "too many footers");
        cur = &out->footers[out->n_footers++];
        *cur = f;
        value_start = (size_t)(f.value.ptr - m.ptr);
    }
    if (cur)
        cur->value = block(m, value_start, m.len);
    return ERR_OK;
}

/* Body and footers of m[from, len): the footers start at the first footer line after a blank one.
 */
static enum err parse_rest(struct str m, size_t from, struct cc_commit *c, const char **why)
{
    size_t footers = m.len;
    bool after_blank = true;
    struct line l;
    struct cc_footer f;
    for (size_t at = from; line_at(m, at, &l); at = l.next) {
        if (after_blank && footer_line(m, &l, &f)) {
            footers = l.start;
            break;
        }
        after_blank = line_blank(m, &l);
    }
    c->body = block(m, from, footers);
    return parse_footers(m, footers, c, why);
}

/* Sets breaking and breaking_note from bang and the footers, then hands c out. */
static enum err finish(struct cc_commit *c, struct cc_commit *out)
{
    c->breaking = c->bang;
    for (size_t i = 0; i < c->n_footers; i++) {
        if (footer_breaking(&c->footers[i])) {
            if (!c->breaking_note.len)
                c->breaking_note = c->footers[i].value;
            c->breaking = true;
        }
    }
    if (!c->breaking_note.len && c->bang)
        c->breaking_note = c->description;
    *out = *c;
    return ERR_OK;
}

enum err cc_parse(struct str msg, struct cc_commit *out, const char **why)
{
    if (why)
        *why = NULL;
    if (msg.len > CC_MAX_MESSAGE)
        return limit(why, "message too long");
    if (!msg.ptr)
        msg = STR_LIT("");
    struct cc_commit c;
    memset(&c, 0, sizeof c);
    struct line h, l;
    if (!line_at(msg, 0, &h))
        return invalid(why, "empty message");
    enum err e = parse_header(msg, &h, &c, why);
    if (e)
        return e;
    if (line_at(msg, h.next, &l)) {
        if (!line_blank(msg, &l))
            return invalid(why, "no blank line after the description");
        if ((e = parse_rest(msg, l.next, &c, why)) != ERR_OK)
            return e;
    }
    return finish(&c, out);
}

enum err cc_parse_pr(struct str title, struct str description, struct cc_commit *out,
                     const char **why)
{
    if (why)
        *why = NULL;
    if (title.len > CC_MAX_MESSAGE || description.len > CC_MAX_MESSAGE)
        return limit(why, "message too long");
    if (!title.ptr)
        title = STR_LIT("");
    if (!description.ptr)
        description = STR_LIT("");
    struct cc_commit c;
    memset(&c, 0, sizeof c);
    struct line h;
    if (!line_at(title, 0, &h))
        return invalid(why, "empty message");
    if (h.next != title.len)
        return invalid(why, "line break in the title");
    enum err e = parse_header(title, &h, &c, why);
    if (!e)
        e = parse_rest(description, 0, &c, why);
    return e ? e : finish(&c, out);
}
