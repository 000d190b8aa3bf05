/*
 * fuzz_conventional — arbitrary bytes through cc_parse. A parse either
 * succeeds with every view inside the message and the structure's own
 * promises kept (a lower-case type within its limit, non-empty description
 * and footer values, breaking exactly when '!' or a breaking footer says
 * so), or is refused with ERR_INVALID / ERR_LIMIT and a reason. The bytes
 * also go through cc_parse_pr, split at the first NUL byte into a title and
 * a description, through classify_change, which must always give an
 * impact (or ERR_LIMIT), and through draft_from_rules.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "changes/classify.h"
#include "changes/conventional.h"
#include "changes/draft.h"
#include "core/unicode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(struct str v, struct str a, struct str b)
{
    if (v.len && !(v.ptr >= a.ptr && v.ptr + v.len <= a.ptr + a.len) &&
        !(v.ptr >= b.ptr && v.ptr + v.len <= b.ptr + b.len))
        abort();
}

/* The promises of a parse of the bytes in a and b (b empty for a message). */
static void check(enum err e, const struct cc_commit *c, const char *why, struct str a,
                  struct str b)
{
    if (e != ERR_OK) {
        if ((e != ERR_INVALID && e != ERR_LIMIT) || !why)
            abort();
        return;
    }
    size_t tl = strlen(c->type);
    if (tl == 0 || tl > CC_MAX_TYPE || c->description.len == 0 || c->scope.len > CC_MAX_SCOPE ||
        c->n_footers > CC_MAX_FOOTERS)
        abort();
    for (size_t i = 0; i < tl; i++)
        if (c->type[i] >= 'A' && c->type[i] <= 'Z')
            abort();
    inside(c->scope, a, b);
    inside(c->description, a, b);
    inside(c->body, a, b);
    inside(c->breaking_note, a, b);
    bool breaking_footer = false;
    for (size_t i = 0; i < c->n_footers; i++) {
        const struct cc_footer *f = &c->footers[i];
        inside(f->token, a, b);
        inside(f->value, a, b);
        if (f->token.len == 0 || f->token.len > CC_MAX_TOKEN || f->value.len == 0 ||
            (f->sep != ':' && f->sep != '#'))
            abort();
        breaking_footer |= f->sep == ':' && (str_eq(f->token, STR_LIT("BREAKING CHANGE")) ||
                                             str_eq(f->token, STR_LIT("BREAKING-CHANGE")));
    }
    if (c->breaking != (c->bang || breaking_footer) || (c->breaking && c->breaking_note.len == 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct str all = str_from((const char *)data, size);
    struct cc_commit c;
    const char *why = NULL;
    enum err e = cc_parse(all, &c, &why);
    check(e, &c, why, all, STR_NULL);

    /* as a pull request: the title up to the first NUL byte, the description after it */
    const char *nul = memchr(data, '\0', size);
    size_t tl = nul ? (size_t)(nul - all.ptr) : size;
    struct str title = str_from(all.ptr, tl);
    struct str desc = nul ? str_from(nul + 1, size - tl - 1) : STR_NULL;
    why = NULL;
    e = cc_parse_pr(title, desc, &c, &why);
    check(e, &c, why, title, desc);

    /* and classified, the title also as a label and a path: always an impact */
    struct change_input in = {.title = title,
                              .description = desc,
                              .labels = &title,
                              .n_labels = 1,
                              .paths = &desc,
                              .n_paths = 1};
    struct classify_result r;
    e = classify_change(&in, NULL, &r);
    if (e == ERR_LIMIT)
        return 0;
    if (e != ERR_OK || (unsigned)r.impact >= CHANGE_IMPACT_COUNT_ ||
        !memchr(r.reason, 0, sizeof r.reason) ||
        r.conventional != (cc_parse_pr(title, desc, &c, NULL) == ERR_OK))
        abort();

    /* drafted: within the limits, and valid UTF-8 in gives valid UTF-8 out (no cut sequence) */
    struct change_draft d;
    if (draft_from_rules(&in, &r, &d) != ERR_OK || d.category != r.impact ||
        (unsigned)d.audience >= AUDIENCE_COUNT_ || strlen(d.title) == 0 ||
        strlen(d.title) > DRAFT_MAX_TITLE || strlen(d.body) > DRAFT_MAX_BODY)
        abort();
    if (utf8_valid(title) && utf8_valid(desc) &&
        (!utf8_valid(str_from_cstr(d.title)) || !utf8_valid(str_from_cstr(d.body))))
        abort();
    return 0;
}
