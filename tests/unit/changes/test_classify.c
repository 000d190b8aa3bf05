/* Impact classification: each signal, their order, custom rules, limits. */
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

static struct classify_result R;

/* Classifies title + description with the labels and paths given (NULL-terminated lists). */
static void classify(const char *title, const char *description, const char *const *labels,
                     const char *const *paths, const struct classify_rules *rules)
{
    struct str l[8], p[8];
    size_t nl = 0, np = 0;
    for (; labels && labels[nl]; nl++)
        l[nl] = str_from_cstr(labels[nl]);
    for (; paths && paths[np]; np++)
        p[np] = str_from_cstr(paths[np]);
    struct change_input in = {
        .title = str_from_cstr(title),
        .description = description ? str_from_cstr(description) : STR_NULL,
        .labels = l,
        .n_labels = nl,
        .paths = p,
        .n_paths = np,
    };
    memset(&R, 0xa5, sizeof R);
    assert_int_equal(classify_change(&in, rules, &R), ERR_OK);
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static void expect(enum change_impact impact, enum classify_source source, const char *reason)
{
    if (R.impact != impact || R.source != source || strcmp(R.reason, reason) != 0)
        fail_msg("got %s (source %d, \"%s\"), want %s (source %d, \"%s\")",
                 change_impact_name(R.impact), (int)R.source, R.reason, change_impact_name(impact),
                 (int)source, reason);
}

static void test_names(void **state)
{
    (void)state;
    enum change_impact i;
    for (int k = 0; k < CHANGE_IMPACT_COUNT_; k++) {
        const char *name = change_impact_name((enum change_impact)k);
        assert_true(change_impact_parse(str_from_cstr(name), &i));
        assert_int_equal(i, k);
    }
    assert_string_equal(change_impact_name(CHANGE_BREAKING), "breaking");
    assert_string_equal(change_impact_name(CHANGE_INTERNAL), "internal");
    assert_string_equal(change_impact_name(CHANGE_IMPACT_COUNT_), "unknown");
    assert_false(change_impact_parse(STR_LIT("Feature"), &i));
    assert_false(change_impact_parse(STR_LIT("featur"), &i));
    assert_false(change_impact_parse(STR_NULL, &i));
}

static void test_conventional(void **state)
{
    (void)state;
    classify("feat: CSV export", NULL, NULL, NULL, NULL);
    expect(CHANGE_FEATURE, CLASSIFY_CONVENTIONAL, "conventional commit type \"feat\"");
    assert_true(R.conventional);
    classify("fix(ui): the button", NULL, NULL, NULL, NULL);
    expect(CHANGE_FIX, CLASSIFY_CONVENTIONAL, "conventional commit type \"fix\"");
    classify("PERF(db): fewer queries", NULL, NULL, NULL, NULL);
    expect(CHANGE_PERFORMANCE, CLASSIFY_CONVENTIONAL, "conventional commit type \"perf\"");
    classify("docs: typo", NULL, NULL, NULL, NULL);
    expect(CHANGE_INTERNAL, CLASSIFY_CONVENTIONAL, "conventional commit type \"docs\"");
    /* '!' outranks what the type says */
    classify("chore!: drop Node 16", NULL, NULL, NULL, NULL);
    expect(CHANGE_BREAKING, CLASSIFY_CONVENTIONAL, "conventional commit marked \"!\"");
    classify("feat: new config", "Details.\n\nBREAKING CHANGE: the old file is ignored", NULL, NULL,
             NULL);
    expect(CHANGE_BREAKING, CLASSIFY_CONVENTIONAL,
           "conventional commit footer \"BREAKING CHANGE\"");
    /* a conventional title with a type no rule knows says nothing: the title rules go on */
    classify("wip: Fix the thing", NULL, NULL, NULL, NULL);
    assert_true(R.conventional);
    expect(CHANGE_IMPROVEMENT, CLASSIFY_FALLBACK, "no rule matched; fallback \"improvement\"");
    classify("Fix the thing", NULL, NULL, NULL, NULL);
    assert_false(R.conventional);
    expect(CHANGE_FIX, CLASSIFY_TITLE, "title matches \"Fix*\"");
}

static void test_labels(void **state)
{
    (void)state;
    classify("Make the thing work", NULL, LIST("Bug"), NULL, NULL);
    expect(CHANGE_FIX, CLASSIFY_LABEL, "label \"Bug\"");
    classify("Make the thing work", NULL, LIST("triage", "  security "), NULL, NULL);
    expect(CHANGE_SECURITY, CLASSIFY_LABEL, "label \"security\"");
    classify("Tidy", NULL, LIST("skip-changelog"), NULL, NULL);
    expect(CHANGE_INTERNAL, CLASSIFY_LABEL, "label \"skip-changelog\"");
    /* among explicit signals the rank decides, whichever came first */
    classify("feat: export", NULL, LIST("bug"), NULL, NULL);
    expect(CHANGE_FEATURE, CLASSIFY_CONVENTIONAL, "conventional commit type \"feat\"");
    classify("fix: export", NULL, LIST("enhancement", "breaking-change"), NULL, NULL);
    expect(CHANGE_BREAKING, CLASSIFY_LABEL, "label \"breaking-change\"");
    /* an unknown label says nothing */
    classify("Something", NULL, LIST("good first issue"), NULL, NULL);
    expect(CHANGE_IMPROVEMENT, CLASSIFY_FALLBACK, "no rule matched; fallback \"improvement\"");
}

static void test_paths_and_titles(void **state)
{
    (void)state;
    /* only internal paths: internal, whatever the title says */
    classify("Add a section on tokens", NULL, NULL, LIST("README.md", "docs/tokens.md"), NULL);
    expect(CHANGE_INTERNAL, CLASSIFY_PATHS, "all 2 paths touched are internal");
    classify("Fix flaky test", NULL, NULL,
             LIST("tests/e2e/test_a.py", "src/api/__tests__/x.js", ".github/workflows/ci.yml"),
             NULL);
    expect(CHANGE_INTERNAL, CLASSIFY_PATHS, "all 3 paths touched are internal");
    /* one shipped path and the title decides */
    classify("Add a section on tokens", NULL, NULL, LIST("docs/tokens.md", "src/tokens.c"), NULL);
    expect(CHANGE_FEATURE, CLASSIFY_TITLE, "title matches \"Add *\"");
    /* explicit signals outrank the paths */
    classify("feat: docs site search", NULL, NULL, LIST("docs/search.md"), NULL);
    expect(CHANGE_FEATURE, CLASSIFY_CONVENTIONAL, "conventional commit type \"feat\"");

    /* title patterns, first match wins */
    classify("Fix security hole in the importer", NULL, NULL, NULL, NULL);
    expect(CHANGE_SECURITY, CLASSIFY_TITLE, "title matches \"*security*\"");
    classify("Address CVE-2024-1234 in the parser", NULL, NULL, NULL, NULL);
    expect(CHANGE_SECURITY, CLASSIFY_TITLE, "title matches \"*CVE-*\"");
    classify("Bump lodash from 4.17.20 to 4.17.21", NULL, NULL, NULL, NULL);
    expect(CHANGE_INTERNAL, CLASSIFY_TITLE, "title matches \"Bump *\"");
    classify("improve error messages", NULL, NULL, NULL, NULL);
    expect(CHANGE_IMPROVEMENT, CLASSIFY_TITLE, "title matches \"Improve*\"");
    classify("Speed up the weekly report", NULL, NULL, NULL, NULL);
    expect(CHANGE_PERFORMANCE, CLASSIFY_TITLE, "title matches \"Speed up *\"");
    classify("Revert \"Add CSV export\"", NULL, NULL, NULL, NULL);
    expect(CHANGE_FIX, CLASSIFY_TITLE, "title matches \"Revert *\"");
    classify("Make it so", NULL, NULL, NULL, NULL);
    expect(CHANGE_IMPROVEMENT, CLASSIFY_FALLBACK, "no rule matched; fallback \"improvement\"");
}

static void test_custom_rules(void **state)
{
    (void)state;
    static const struct classify_rule types[] = {{"feat", CHANGE_IMPROVEMENT}};
    static const struct classify_rule labels[] = {
        {"customer-facing-label-with-a-very-long-name-that-goes-on-and-on-and-on", CHANGE_FEATURE}};
    static const char *const internal[] = {"infra/*"};
    const struct classify_rules rules = {
        .types = types,
        .n_types = 1,
        .labels = labels,
        .n_labels = 1,
        .internal_paths = internal,
        .n_internal_paths = 1,
        .fallback = CHANGE_INTERNAL,
    };
    classify("feat: x", NULL, NULL, NULL, &rules);
    expect(CHANGE_IMPROVEMENT, CLASSIFY_CONVENTIONAL, "conventional commit type \"feat\"");
    classify("fix: x", NULL, LIST("bug"), NULL, &rules); /* neither known here */
    expect(CHANGE_INTERNAL, CLASSIFY_FALLBACK, "no rule matched; fallback \"internal\"");
    classify("Terraform", NULL, NULL, LIST("infra/main.tf"), &rules);
    expect(CHANGE_INTERNAL, CLASSIFY_PATHS, "all 1 paths touched are internal");
    classify("Fix the docs", NULL, NULL, LIST("docs/a.md"), &rules); /* docs/ is shipped here */
    expect(CHANGE_INTERNAL, CLASSIFY_FALLBACK, "no rule matched; fallback \"internal\"");
    /* a long matched item is cut in the reason */
    classify("x", NULL,
             LIST("customer-facing-label-with-a-very-long-name-that-goes-on-and-on-and-on"), NULL,
             &rules);
    assert_int_equal(R.impact, CHANGE_FEATURE);
    assert_string_equal(R.reason,
                        "label \"customer-facing-label-with-a-very-long-name-that-goes-on-and…\"");
}

static void test_commit_messages(void **state)
{
    (void)state;
    struct str t, rest;
    classify_split_message(STR_LIT("fix: y\n\nbody\n\nBREAKING CHANGE: z"), &t, &rest);
    assert_true(str_eq(t, STR_LIT("fix: y")));
    assert_true(str_eq(rest, STR_LIT("body\n\nBREAKING CHANGE: z")));
    struct change_input in = {.title = t, .description = rest};
    assert_int_equal(classify_change(&in, NULL, &R), ERR_OK);
    assert_int_equal(R.impact, CHANGE_BREAKING);

    classify_split_message(STR_LIT("feat: crlf\r\n\r\nbody"), &t, &rest);
    assert_true(str_eq(t, STR_LIT("feat: crlf")));
    assert_true(str_eq(rest, STR_LIT("body")));
    classify_split_message(STR_LIT("one line"), &t, &rest);
    assert_true(str_eq(t, STR_LIT("one line")));
    assert_int_equal(rest.len, 0);
    classify_split_message(STR_LIT("title\nno blank line"), &t, &rest);
    assert_true(str_eq(t, STR_LIT("title")));
    assert_true(str_eq(rest, STR_LIT("no blank line")));
    classify_split_message(STR_NULL, &t, &rest);
    assert_int_equal(t.len + rest.len, 0);
}

static void test_limits(void **state)
{
    (void)state;
    static char big[CC_MAX_MESSAGE + 1];
    memset(big, 'x', sizeof big);
    static struct str items[CLASSIFY_MAX_PATHS + 1];
    struct change_input in = {.title = str_from(big, CC_MAX_MESSAGE)};
    assert_int_equal(classify_change(&in, NULL, &R), ERR_OK);
    in.title = str_from(big, CC_MAX_MESSAGE + 1);
    assert_int_equal(classify_change(&in, NULL, &R), ERR_LIMIT);
    in.title = STR_LIT("t");
    in.description = str_from(big, CC_MAX_MESSAGE + 1);
    assert_int_equal(classify_change(&in, NULL, &R), ERR_LIMIT);
    in.description = STR_NULL;

    for (size_t i = 0; i <= CLASSIFY_MAX_PATHS; i++)
        items[i] = STR_LIT("docs/a.md");
    in.labels = items;
    in.n_labels = CLASSIFY_MAX_LABELS;
    assert_int_equal(classify_change(&in, NULL, &R), ERR_OK);
    in.n_labels = CLASSIFY_MAX_LABELS + 1;
    assert_int_equal(classify_change(&in, NULL, &R), ERR_LIMIT);
    in.n_labels = 1;
    items[0] = str_from(big, CLASSIFY_MAX_LABEL);
    assert_int_equal(classify_change(&in, NULL, &R), ERR_OK);
    items[0] = str_from(big, CLASSIFY_MAX_LABEL + 1);
    assert_int_equal(classify_change(&in, NULL, &R), ERR_LIMIT);
    items[0] = STR_LIT("docs/a.md");
    in.n_labels = 0;

    in.paths = items;
    in.n_paths = CLASSIFY_MAX_PATHS;
    assert_int_equal(classify_change(&in, NULL, &R), ERR_OK);
    assert_int_equal(R.impact, CHANGE_INTERNAL);
    in.n_paths = CLASSIFY_MAX_PATHS + 1;
    assert_int_equal(classify_change(&in, NULL, &R), ERR_LIMIT);
    in.n_paths = 1;
    items[0] = str_from(big, CLASSIFY_MAX_PATH);
    assert_int_equal(classify_change(&in, NULL, &R), ERR_OK);
    items[0] = str_from(big, CLASSIFY_MAX_PATH + 1);
    assert_int_equal(classify_change(&in, NULL, &R), ERR_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),        cmocka_unit_test(test_conventional),
        cmocka_unit_test(test_labels),       cmocka_unit_test(test_paths_and_titles),
        cmocka_unit_test(test_custom_rules), cmocka_unit_test(test_commit_messages),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
