/* Classification rules as JSON: defaults kept or replaced, round trips, refusals, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "changes/classify.h"
#include "changes/rules.h"

static struct arena *A;

static int setup(void **state)
{
    (void)state;
    A = arena_new((size_t)4 << 20);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    arena_free(A);
    return 0;
}

static struct classify_rules parse_ok(const char *json)
{
    struct classify_rules r;
    struct rules_problem why;
    enum err e = classify_rules_parse(str_from_cstr(json), A, &r, &why);
    if (e != ERR_OK)
        fail_msg("%s: %s at \"%s\": %s", json, err_name(e), why.field, why.message);
    return r;
}

static void refused(const char *json, enum err want, const char *field, const char *message)
{
    struct classify_rules r;
    memset(&r, 0x5a, sizeof r);
    struct classify_rules before = r;
    struct rules_problem why;
    assert_int_equal(classify_rules_parse(str_from_cstr(json), A, &r, &why), want);
    assert_memory_equal(&r, &before, sizeof r); /* untouched */
    if (strcmp(why.field, field) != 0 || (message && strcmp(why.message, message) != 0))
        fail_msg("%s: refused at \"%s\" (%s), want \"%s\" (%s)", json, why.field, why.message,
                 field, message ? message : "any");
}

static enum change_impact impact_of(const struct classify_rules *r, const char *title,
                                    const char *label)
{
    struct str l = label ? str_from_cstr(label) : STR_NULL;
    struct change_input in = {
        .title = str_from_cstr(title), .labels = &l, .n_labels = label != NULL};
    struct classify_result res;
    assert_int_equal(classify_change(&in, r, &res), ERR_OK);
    return res.impact;
}

/* r written out, as text in buf (freed by the caller). */
static char *written(const struct classify_rules *r)
{
    struct buf b = BUF_INIT(RULES_MAX_JSON * 4);
    assert_int_equal(classify_rules_write(r, &b), ERR_OK);
    return buf_detach(&b, NULL);
}

static void test_defaults_kept_or_replaced(void **state)
{
    (void)state;
    struct classify_rules r = parse_ok("{}");
    assert_memory_equal(&r, &CLASSIFY_DEFAULT_RULES, sizeof r);

    r = parse_ok("{\"types\": {\"feat\": \"improvement\"}, \"labels\": {\"customer\": \"feature\"},"
                 " \"titles\": [{\"match\": \"Ship *\", \"impact\": \"feature\"}],"
                 " \"internal_paths\": [\"infra/*\"], \"fallback\": \"internal\"}");
    assert_int_equal(r.n_types, 1);
    assert_int_equal(impact_of(&r, "feat: x", NULL), CHANGE_IMPROVEMENT);
    assert_int_equal(impact_of(&r, "fix: x", "customer"), CHANGE_FEATURE);
    assert_int_equal(impact_of(&r, "Ship the thing", NULL), CHANGE_FEATURE);
    assert_int_equal(impact_of(&r, "Fix the thing", "bug"), CHANGE_INTERNAL); /* fallback */

    /* one list replaced, the others kept; empty means none */
    r = parse_ok("{\"labels\": {}}");
    assert_int_equal(r.n_labels, 0);
    assert_ptr_equal(r.types, CLASSIFY_DEFAULT_RULES.types);
    assert_int_equal(impact_of(&r, "feat: x", "bug"), CHANGE_FEATURE);
    assert_int_equal(impact_of(&r, "Something", "bug"), CHANGE_IMPROVEMENT);
}

static void test_round_trip(void **state)
{
    (void)state;
    /* the defaults written, read, written again: the same text, the same behaviour */
    char *one = written(&CLASSIFY_DEFAULT_RULES);
    struct classify_rules r = parse_ok(one);
    char *two = written(&r);
    assert_string_equal(one, two);
    assert_int_equal(r.n_types, CLASSIFY_DEFAULT_RULES.n_types);
    assert_int_equal(r.n_labels, CLASSIFY_DEFAULT_RULES.n_labels);
    assert_int_equal(r.n_titles, CLASSIFY_DEFAULT_RULES.n_titles);
    assert_int_equal(r.n_internal_paths, CLASSIFY_DEFAULT_RULES.n_internal_paths);
    const char *titles[] = {"feat: x", "chore!: y", "Fix z", "Bump a from 1 to 2", "Other"};
    for (size_t i = 0; i < sizeof titles / sizeof titles[0]; i++)
        assert_int_equal(impact_of(&r, titles[i], "bug"),
                         impact_of(&CLASSIFY_DEFAULT_RULES, titles[i], "bug"));
    free(one);
    free(two);

    /* text that needs escaping survives */
    r = parse_ok("{\"labels\": {\"say \\\"hi\\\" <b>\": \"fix\"}}");
    one = written(&r);
    struct classify_rules back = parse_ok(one);
    assert_string_equal(back.labels[0].match, "say \"hi\" <b>");
    free(one);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("not json", ERR_INVALID, "", NULL);
    refused("[]", ERR_INVALID, "", "the rules must be a JSON object");
    refused("{\"colour\": 1}", ERR_INVALID, "colour", "is not a member of the rules");
    refused("{\"types\": []}", ERR_INVALID, "types", "must be an object");
    refused("{\"titles\": {}}", ERR_INVALID, "titles", "must be an array");
    refused("{\"types\": {\"Feat X\": \"feature\"}}", ERR_INVALID, "types.Feat X",
            "is not a Conventional Commits type");
    refused("{\"types\": {\"feat\": \"big\"}}", ERR_INVALID, "types.feat", NULL);
    refused("{\"types\": {\"feat\": 1}}", ERR_INVALID, "types.feat", NULL);
    refused("{\"labels\": {\" bug\": \"fix\"}}", ERR_INVALID, "labels. bug",
            "starts or ends with a space");
    refused("{\"labels\": {\"a\\u0001\": \"fix\"}}", ERR_INVALID, "labels.a\x01",
            "has a control character");
    refused("{\"labels\": {\"\": \"fix\"}}", ERR_INVALID, "labels.", "must not be empty");
    refused("{\"titles\": [{\"match\": \"x\"}]}", ERR_INVALID, "titles[0]", NULL);
    refused("{\"titles\": [{\"match\": \"x\", \"impact\": \"fix\", \"more\": 1}]}", ERR_INVALID,
            "titles[0]", NULL);
    refused("{\"titles\": [{\"match\": \"Fix*\", \"impact\": \"fix\"}, {\"match\": \"\", "
            "\"impact\": \"fix\"}]}",
            ERR_INVALID, "titles[1].match", "must not be empty");
    refused("{\"titles\": [{\"match\": \"x\", \"impact\": \"nope\"}]}", ERR_INVALID,
            "titles[0].impact", NULL);
    refused("{\"internal_paths\": [1]}", ERR_INVALID, "internal_paths[0]", "must be a string");
    refused("{\"fallback\": \"nope\"}", ERR_INVALID, "fallback", NULL);
    refused("{\"types\": {}, \"types\": {}}", ERR_INVALID, "", NULL); /* duplicate member */
    struct classify_rules r;
    assert_int_equal(classify_rules_parse(STR_NULL, A, &r, NULL), ERR_INVALID);
}

static void test_limits(void **state)
{
    (void)state;
    static char doc[RULES_MAX_JSON + 64];
    /* RULES_MAX_ENTRIES paths, then one more */
    size_t n = (size_t)snprintf(doc, sizeof doc, "{\"internal_paths\": [");
    for (int i = 0; i < RULES_MAX_ENTRIES; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "%s\"p%d/*\"", i ? "," : "", i);
    snprintf(doc + n, sizeof doc - n, "]}");
    struct classify_rules r = parse_ok(doc);
    assert_int_equal(r.n_internal_paths, RULES_MAX_ENTRIES);
    snprintf(doc + n, sizeof doc - n, ",\"one-more\"]}");
    refused(doc, ERR_LIMIT, "internal_paths", "too many entries");

    /* a pattern of RULES_MAX_MATCH bytes, then one more */
    n = (size_t)snprintf(doc, sizeof doc, "{\"titles\": [{\"impact\": \"fix\", \"match\": \"");
    memset(doc + n, 'm', RULES_MAX_MATCH);
    snprintf(doc + n + RULES_MAX_MATCH, sizeof doc - n - RULES_MAX_MATCH, "\"}]}");
    r = parse_ok(doc);
    assert_int_equal(strlen(r.titles[0].match), RULES_MAX_MATCH);
    memset(doc + n, 'm', RULES_MAX_MATCH + 1);
    snprintf(doc + n + RULES_MAX_MATCH + 1, sizeof doc - n - RULES_MAX_MATCH - 1, "\"}]}");
    refused(doc, ERR_LIMIT, "titles[0].match", "too long");
    /* a label of RULES_MAX_MATCH + 1 bytes */
    n = (size_t)snprintf(doc, sizeof doc, "{\"labels\": {\"");
    memset(doc + n, 'l', RULES_MAX_MATCH + 1);
    snprintf(doc + n + RULES_MAX_MATCH + 1, sizeof doc - n - RULES_MAX_MATCH - 1, "\": \"fix\"}}");
    struct rules_problem why;
    assert_int_equal(classify_rules_parse(str_from_cstr(doc), A, &r, &why), ERR_LIMIT);
    assert_string_equal(why.message, "too long");

    /* the document: RULES_MAX_JSON bytes (padded with spaces), then one more */
    memset(doc, ' ', RULES_MAX_JSON);
    memcpy(doc, "{}", 2);
    doc[RULES_MAX_JSON] = '\0';
    parse_ok(doc);
    doc[RULES_MAX_JSON] = ' ';
    doc[RULES_MAX_JSON + 1] = '\0';
    refused(doc, ERR_LIMIT, "", "the rules are too long");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_kept_or_replaced),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
