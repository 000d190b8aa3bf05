/*
 * draft — the rules provider (see draft.h for what each field comes from).
 *
 * Design: text is gathered into a local buffer twice the field's size
 * (anything beyond is only counted), then fitted: when it is too long it is
 * cut between characters and, if a space is near, between words, and "…"
 * ends it. Nothing is allocated.
 */
#include "changes/draft.h"

#include <stdio.h>
#include <string.h>

#include "changes/conventional.h"

static const char *const audience_names[AUDIENCE_COUNT_] = {
    [AUDIENCE_EVERYONE] = "everyone",
    [AUDIENCE_DEVELOPERS] = "developers",
    [AUDIENCE_INTERNAL] = "internal",
};

const char *draft_audience_name(enum draft_audience a)
{
    return (unsigned)a < AUDIENCE_COUNT_ ? audience_names[a] : "unknown";
}

static const char *const headings[CHANGE_IMPACT_COUNT_] = {
    [CHANGE_BREAKING] = "Breaking changes",
    [CHANGE_SECURITY] = "Security",
    [CHANGE_FEATURE] = "New features",
    [CHANGE_IMPROVEMENT] = "Improvements",
    [CHANGE_FIX] = "Fixes",
    [CHANGE_PERFORMANCE] = "Performance",
    [CHANGE_INTERNAL] = "Internal",
};

const char *draft_category_heading(enum change_impact impact)
{
    return (unsigned)impact < CHANGE_IMPACT_COUNT_ ? headings[impact] : "Other";
}

/* Scopes and labels that say a change is for developers (matched whole, any case). */
static const char *const developer_words[] = {
    "api", "sdk", "cli", "webhook", "webhooks", "developer", "developers", "integrations",
};

/* ---- a gathering buffer ------------------------------------------------------------ */

#define GATHER_FACTOR 2

struct text {
    char *p;
    size_t cap; /* bytes p holds */
    size_t len;
    bool over; /* more text came than cap */
};

static void put(struct text *t, const char *s, size_t n)
{
    size_t room = t->cap - t->len;
    if (n > room) {
        t->over = true;
        n = room;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Copies t into dst (max bytes plus the NUL): whole when it fits, else cut
 * at a character boundary, back to the last space when one is in the last
 * fifth, and ended with "…".
 */
static void fit(const struct text *t, char *dst, size_t max)
{
    size_t n = t->len;
    while (n > 0 && is_space((unsigned char)t->p[n - 1]))
        n--;
    if (n <= max && !t->over) {
        memcpy(dst, t->p, n);
        dst[n] = '\0';
        return;
    }
    static const char ellipsis[] = "…";
    size_t cut = max - (sizeof ellipsis - 1);
    if (cut > n)
        cut = n;
    while (cut > 0 && cut < n && ((unsigned char)t->p[cut] & 0xc0) == 0x80)
        cut--; /* not inside a UTF-8 sequence */
    size_t word = cut;
    while (word > cut - cut / 5 && word > 0 && !is_space((unsigned char)t->p[word - 1]))
        word--;
    if (word > cut - cut / 5 && word > 0)
        cut = word;
    while (cut > 0 && (is_space((unsigned char)t->p[cut - 1]) || t->p[cut - 1] == ',' ||
                       t->p[cut - 1] == ';' || t->p[cut - 1] == ':'))
        cut--;
    memcpy(dst, t->p, cut);
    memcpy(dst + cut, ellipsis, sizeof ellipsis);
}

/* Appends a run of text, its words separated by single spaces, e-mail addresses replaced. */
static void put_words(struct text *t, struct str s)
{
    size_t i = 0;
    while (i < s.len) {
        while (i < s.len && is_space((unsigned char)s.ptr[i]))
            i++;
        size_t start = i;
        while (i < s.len && !is_space((unsigned char)s.ptr[i]))
            i++;
        if (i == start)
            break;
        struct str w = str_from(s.ptr + start, i - start);
        if (t->len > 0 && !is_space((unsigned char)t->p[t->len - 1]))
            put(t, " ", 1);
        long at = str_index(w, '@');
        bool email = at > 0 && memchr(w.ptr + at, '.', w.len - (size_t)at) != NULL;
        if (email)
            put(t, "[email]", 7);
        else
            put(t, w.ptr, w.len);
    }
}

/* ---- title ------------------------------------------------------------------------- */

/* s without a trailing " (#123)" or " (!45)" (GitHub, GitLab references). */
static struct str drop_reference(struct str s)
{
    if (s.len < 5 || s.ptr[s.len - 1] != ')')
        return s;
    size_t i = s.len - 2, digits = 0;
    while (i > 0 && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
        i--;
        digits++;
    }
    if (digits == 0 || i < 2 || (s.ptr[i] != '#' && s.ptr[i] != '!') || s.ptr[i - 1] != '(')
        return s;
    return str_trim(str_from(s.ptr, i - 1));
}

/* The title without bracketed tags, WIP/Draft markers and a trailing reference. */
static struct str clean_title(struct str s)
{
    s = str_trim(s);
    for (;;) {
        long close = s.len && s.ptr[0] == '[' ? str_index(s, ']') : -1;
        if (close > 0 && close <= 40) {
            s = str_trim(str_from(s.ptr + close + 1, s.len - (size_t)close - 1));
            continue;
        }
        static const char *const markers[] = {"WIP:", "WIP ", "Draft:"};
        bool dropped = false;
        for (size_t k = 0; k < sizeof markers / sizeof markers[0] && !dropped; k++) {
            struct str m = str_from_cstr(markers[k]);
            if (s.len > m.len && str_istarts_with(s, m)) {
                s = str_trim(str_from(s.ptr + m.len, s.len - m.len));
                dropped = true;
            }
        }
        if (!dropped)
            break;
    }
    s = drop_reference(s);
    while (s.len && (s.ptr[s.len - 1] == '.' || is_space((unsigned char)s.ptr[s.len - 1])))
        s.len--;
    return s;
}

static void draft_title(struct str title, char *dst)
{
    char buf[GATHER_FACTOR * DRAFT_MAX_TITLE];
    struct text t = {.p = buf, .cap = sizeof buf};
    struct str s = clean_title(title);
    if (s.len == 0)
        s = STR_LIT("Untitled change");
    put_words(&t, s);
    if (t.len && t.p[0] >= 'a' && t.p[0] <= 'z')
        t.p[0] = (char)(t.p[0] - 'a' + 'A');
    fit(&t, dst, DRAFT_MAX_TITLE);
}

/* ---- body -------------------------------------------------------------------------- */

/* A line a changelog reader has no use for: a task, an issue-closing line, a heading. */
static bool skipped_line(struct str l)
{
    static const char *const prefixes[] = {
        "- [ ]",   "- [x]",      "* [ ]",     "* [x]",  "fixes #", "fix #",        "closes #",
        "close #", "resolves #", "resolve #", "refs #", "ref #",   "related to #",
    };
    for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++)
        if (str_istarts_with(l, str_from_cstr(prefixes[k])))
            return true;
    size_t i = 0; /* a Markdown heading: '#'s, then a space */
    while (i < l.len && l.ptr[i] == '#')
        i++;
    return i > 0 && i < l.len && l.ptr[i] == ' ';
}

/* Appends the first paragraph of s with something to say (see draft.h). */
static void first_paragraph(struct text *t, struct str s)
{
    bool in_comment = false, said = false;
    struct str rest = s, line;
    while (str_split(&rest, '\n', &line)) {
        /* HTML comments, also across lines */
        char kept[GATHER_FACTOR * DRAFT_MAX_BODY];
        size_t k = 0;
        for (size_t i = 0; i < line.len;) {
            if (in_comment) {
                if (i + 3 <= line.len && memcmp(line.ptr + i, "-->", 3) == 0) {
                    in_comment = false;
                    i += 3;
                } else {
                    i++;
                }
            } else if (i + 4 <= line.len && memcmp(line.ptr + i, "<!--", 4) == 0) {
                in_comment = true;
                i += 4;
            } else {
                if (k < sizeof kept)
                    kept[k++] = line.ptr[i];
                else
                    t->over = true; /* more than the body can show anyway */
                i++;
            }
        }
        struct str l = str_trim(str_from(kept, k));
        while (l.len && l.ptr[l.len - 1] == '\r')
            l = str_trim(str_from(l.ptr, l.len - 1));
        if (l.len == 0) {
            if (said && !in_comment)
                return; /* the paragraph ended */
            continue;
        }
        if (skipped_line(l))
            continue;
        put_words(t, l);
        said = true;
    }
}

static bool developer_word(struct str s)
{
    for (size_t k = 0; k < sizeof developer_words / sizeof developer_words[0]; k++)
        if (str_ieq_cstr(str_trim(s), developer_words[k]))
            return true;
    return false;
}

enum err draft_from_rules(const struct change_input *in, const struct classify_result *cls,
                          struct change_draft *out)
{
    enum err e = change_input_check(in);
    if (e)
        return e;
    struct cc_commit cc;
    bool conventional = cc_parse_pr(in->title, in->description, &cc, NULL) == ERR_OK;

    struct change_draft d;
    memset(&d, 0, sizeof d);
    draft_title(conventional ? cc.description : in->title, d.title);

    char buf[GATHER_FACTOR * DRAFT_MAX_BODY];
    struct text t = {.p = buf, .cap = sizeof buf};
    first_paragraph(&t, conventional ? cc.body : in->description);
    if (conventional && cc.breaking && cc.breaking_note.ptr != cc.description.ptr) {
        if (t.len)
            put(&t, "\n\n", 2);
        put(&t, "Breaking change: ", 17);
        put_words(&t, cc.breaking_note);
    }
    fit(&t, d.body, DRAFT_MAX_BODY);

    d.category = cls->impact;
    d.audience = AUDIENCE_EVERYONE;
    if (cls->impact == CHANGE_INTERNAL) {
        d.audience = AUDIENCE_INTERNAL;
    } else {
        bool dev = conventional && cc.scope.len && developer_word(cc.scope);
        for (size_t i = 0; !dev && i < in->n_labels; i++)
            dev = developer_word(in->labels[i]);
        if (dev)
            d.audience = AUDIENCE_DEVELOPERS;
    }
    *out = d;
    return ERR_OK;
}
