/* Rules drafts: titles, bodies, audience, cutting, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "changes/classify.h"
#include "changes/conventional.h"
#include "changes/draft.h"
#include "core/unicode.h"

static struct change_draft D;
static struct classify_result R;

/* Classifies and drafts title + description with the labels given (NULL-terminated). */
static void draft(const char *title, const char *description, const char *const *labels)
{
    struct str l[8];
    size_t nl = 0;
    for (; labels && labels[nl]; nl++)
        l[nl] = str_from_cstr(labels[nl]);
    struct change_input in = {
        .title = str_from_cstr(title),
        .description = description ? str_from_cstr(description) : STR_NULL,
        .labels = l,
        .n_labels = nl,
    };
    assert_int_equal(classify_change(&in, NULL, &R), ERR_OK);
    memset(&D, 0xa5, sizeof D);
    assert_int_equal(draft_from_rules(&in, &R, &D), ERR_OK);
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(draft_audience_name(AUDIENCE_EVERYONE), "everyone");
    assert_string_equal(draft_audience_name(AUDIENCE_DEVELOPERS), "developers");
    assert_string_equal(draft_audience_name(AUDIENCE_INTERNAL), "internal");
    assert_string_equal(draft_audience_name(AUDIENCE_COUNT_), "unknown");
    assert_string_equal(draft_category_heading(CHANGE_BREAKING), "Breaking changes");
    assert_string_equal(draft_category_heading(CHANGE_FEATURE), "New features");
    assert_string_equal(draft_category_heading(CHANGE_FIX), "Fixes");
    assert_string_equal(draft_category_heading(CHANGE_IMPACT_COUNT_), "Other");
}

static void test_titles(void **state)
{
    (void)state;
    draft("feat(export): add CSV for every table (#812)", NULL, NULL);
    assert_string_equal(D.title, "Add CSV for every table");
    assert_int_equal(D.category, CHANGE_FEATURE);
    draft("[ABC-12] WIP: make the importer retry on 503.", NULL, NULL);
    assert_string_equal(D.title, "Make the importer retry on 503");
    draft("Draft: [ui] fix  the\tbutton (!45)", NULL, NULL);
    assert_string_equal(D.title, "Fix the button");
    draft("[WIP]", NULL, NULL);
    assert_string_equal(D.title, "Untitled change");
    draft("Thanks to ann@example.com: faster export", NULL, NULL);
    assert_string_equal(D.title, "Thanks to [email] faster export");
    /* not references: kept */
    draft("Support (#x) and (#)", NULL, NULL);
    assert_string_equal(D.title, "Support (#x) and (#)");

    /* long: cut between words, within the limit, "…" at the end */
    char t[400];
    size_t n = 0;
    while (n + 6 < sizeof t)
        n += (size_t)snprintf(t + n, sizeof t - n, "word%d ", (int)(n % 10));
    draft(t, NULL, NULL);
    size_t len = strlen(D.title);
    assert_true(len <= DRAFT_MAX_TITLE);
    assert_true(len > DRAFT_MAX_TITLE * 3 / 4);
    assert_string_equal(D.title + len - 3, "…");
    /* the same words (the first capitalized), ended where a space was */
    assert_true(strncmp(D.title + 1, t + 1, len - 4) == 0 && t[len - 3] == ' ');

    /* multi-byte characters are never cut in the middle */
    char u[2 * DRAFT_MAX_TITLE + 1];
    for (size_t i = 0; i < DRAFT_MAX_TITLE; i++)
        memcpy(u + 2 * i, "\xc3\xa9", 2);
    u[2 * DRAFT_MAX_TITLE] = '\0';
    draft(u, NULL, NULL);
    assert_true(strlen(D.title) <= DRAFT_MAX_TITLE);
    assert_true(utf8_valid(str_from_cstr(D.title)));
}

static void test_bodies(void **state)
{
    (void)state;
    draft("Make the importer retry",
          "<!-- template: say what changed -->\n## Summary\nThe importer now retries\n"
          "three times.\n\nMore details.\n\n- [ ] tests\nFixes #12",
          NULL);
    assert_string_equal(D.body, "The importer now retries three times.");
    draft("x", "<!--\nPlease describe\n-->\r\nReal text.\r\n", NULL);
    assert_string_equal(D.body, "Real text.");
    draft("x", "- [x] tests\n- [ ] docs\nCloses #4\n\nrefs #5", NULL);
    assert_string_equal(D.body, "");
    draft("x", "Reported by ann@example.com on the forum.", NULL);
    assert_string_equal(D.body, "Reported by [email] on the forum.");
    draft("x", "#12 was the cause; see the log.", NULL); /* an issue number, not a heading */
    assert_string_equal(D.body, "#12 was the cause; see the log.");

    /* Conventional: the body without its footers; what breaks after it */
    draft("feat(api)!: paginate reports",
          "Reports come in pages.\n\nBREAKING CHANGE: clients must\nfollow next links", NULL);
    assert_string_equal(D.title, "Paginate reports");
    assert_string_equal(
        D.body, "Reports come in pages.\n\nBreaking change: clients must follow next links");
    assert_int_equal(D.category, CHANGE_BREAKING);
    draft("chore!: drop Node 16", NULL, NULL); /* the title says it already */
    assert_string_equal(D.body, "");
    draft("fix: x", "Body text.\n\nReviewed-by: Z", NULL);
    assert_string_equal(D.body, "Body text.");

    /* long: within the limit, "…" at the end */
    static char big[5000];
    size_t n = 0;
    while (n + 12 < sizeof big)
        n += (size_t)snprintf(big + n, sizeof big - n, "sentence %d ", (int)(n % 7));
    draft("x", big, NULL);
    assert_true(strlen(D.body) <= DRAFT_MAX_BODY);
    assert_true(strlen(D.body) > DRAFT_MAX_BODY * 3 / 4);
    assert_string_equal(D.body + strlen(D.body) - 3, "…");
    /* one line longer than the body can show is cut too, not dropped */
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    draft("x", big, NULL);
    assert_int_equal(strlen(D.body), DRAFT_MAX_BODY);
    assert_string_equal(D.body + DRAFT_MAX_BODY - 3, "…");
}

static void test_audience(void **state)
{
    (void)state;
    draft("feat(api): cursors", NULL, NULL);
    assert_int_equal(D.audience, AUDIENCE_DEVELOPERS);
    draft("Add cursors", NULL, LIST("enhancement", " SDK "));
    assert_int_equal(D.audience, AUDIENCE_DEVELOPERS);
    draft("feat(console): dark mode", NULL, LIST("design"));
    assert_int_equal(D.audience, AUDIENCE_EVERYONE);
    draft("chore(api): tidy", NULL, NULL); /* internal wins over the scope */
    assert_int_equal(D.audience, AUDIENCE_INTERNAL);
    assert_int_equal(D.category, CHANGE_INTERNAL);
}

static void test_limits(void **state)
{
    (void)state;
    static char big[CC_MAX_MESSAGE + 1];
    memset(big, 'x', sizeof big);
    struct change_input in = {.title = str_from(big, CC_MAX_MESSAGE)};
    struct classify_result r;
    assert_int_equal(classify_change(&in, NULL, &r), ERR_OK);
    assert_int_equal(draft_from_rules(&in, &r, &D), ERR_OK);
    assert_true(strlen(D.title) <= DRAFT_MAX_TITLE);
    in.title = str_from(big, CC_MAX_MESSAGE + 1);
    assert_int_equal(draft_from_rules(&in, &r, &D), ERR_LIMIT);
    in.title = STR_LIT("x");
    struct str labels[CLASSIFY_MAX_LABELS + 1];
    for (size_t i = 0; i <= CLASSIFY_MAX_LABELS; i++)
        labels[i] = STR_LIT("bug");
    in.labels = labels;
    in.n_labels = CLASSIFY_MAX_LABELS + 1;
    assert_int_equal(draft_from_rules(&in, &r, &D), ERR_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),  cmocka_unit_test(test_titles),
        cmocka_unit_test(test_bodies), cmocka_unit_test(test_audience),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
