/* Unit tests for src/core/schema.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/schema.h"

static const char *const colors[] = {"red", "green", NULL};

static const struct schema_field item_fields[] = {
    {.name = "name", .kind = SCHEMA_STRING, .required = true, .min_len = 1, .max_len = 8},
    {.name = "qty", .kind = SCHEMA_INTEGER, .min = 1, .max = 10},
};
static const struct schema item_schema = {item_fields, 2, false};

static const struct schema_field inner_fields[] = {
    {.name = "line-number", .kind = SCHEMA_INTEGER, .required = true},
};
static const struct schema inner_schema = {inner_fields, 1, true};

static const struct schema_field fields[] = {
    {.name = "title", .kind = SCHEMA_STRING, .required = true, .min_len = 2, .max_len = 64},
    {.name = "color", .kind = SCHEMA_STRING, .enum_values = colors},
    {.name = "email", .kind = SCHEMA_STRING, .format = SCHEMA_FMT_EMAIL},
    {.name = "url", .kind = SCHEMA_STRING, .format = SCHEMA_FMT_URL},
    {.name = "id", .kind = SCHEMA_STRING, .format = SCHEMA_FMT_UUID},
    {.name = "slug", .kind = SCHEMA_STRING, .format = SCHEMA_FMT_SLUG},
    {.name = "count", .kind = SCHEMA_INTEGER, .min = -5, .max = 5},
    {.name = "big", .kind = SCHEMA_INTEGER},
    {.name = "flag", .kind = SCHEMA_BOOLEAN},
    {.name = "note", .kind = SCHEMA_STRING, .nullable = true},
    {.name = "csp-report", .kind = SCHEMA_OBJECT, .object = &inner_schema},
    {.name = "items",
     .kind = SCHEMA_ARRAY,
     .items = SCHEMA_OBJECT,
     .object = &item_schema,
     .min_len = 1,
     .max_len = 3},
    {.name = "tags", .kind = SCHEMA_ARRAY, .items = SCHEMA_STRING, .format = SCHEMA_FMT_SLUG},
    {.name = "extra", .kind = SCHEMA_ANY},
    {.name = "meta", .kind = SCHEMA_OBJECT},
};
static const struct schema schema = {fields, sizeof(fields) / sizeof(fields[0]), false};

/* Validates text; returns the result in r. */
static enum err check(const struct schema *s, const char *text, struct schema_result *r)
{
    struct json *doc = NULL;
    struct json_error je;
    enum err e = json_parse(text, strlen(text), NULL, &doc, &je);
    if (e)
        fail_msg("test JSON does not parse: %s (%s)", text, je.reason);
    e = schema_validate(s, doc, r);
    json_free(doc);
    return e;
}

/* True when r has an error with this path and reason. */
static bool has(const struct schema_result *r, const char *path, const char *reason)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->errors[i].path, path) == 0 && strcmp(r->errors[i].reason, reason) == 0)
            return true;
    return false;
}

static void dump(const struct schema_result *r)
{
    for (size_t i = 0; i < r->n; i++)
        print_message("  %s: %s\n", r->errors[i].path, r->errors[i].reason);
}

#define EXPECT(r, path, reason)                                                                    \
    do {                                                                                           \
        if (!has((r), (path), (reason))) {                                                         \
            dump(r);                                                                               \
            fail_msg("missing error %s: %s", (path), (reason));                                    \
        }                                                                                          \
    } while (0)

static void test_valid(void **state)
{
    (void)state;
    struct schema_result r;
    const char *ok = "{\"title\":\"hé\",\"color\":\"red\",\"email\":\"a.b@example.com\","
                     "\"url\":\"https://example.com/x?y=1\",\"id\":\"123e4567-e89b-12d3-a456-"
                     "426614174000\",\"slug\":\"my-repo-2\",\"count\":-5,\"big\":123456789,"
                     "\"flag\":false,\"note\":null,\"csp-report\":{\"line-number\":3,\"other\":1},"
                     "\"items\":[{\"name\":\"x\",\"qty\":10}],\"tags\":[\"a\",\"b-c\"],"
                     "\"extra\":[1,{\"z\":null}],\"meta\":{\"anything\":true}}";
    assert_int_equal(check(&schema, ok, &r), ERR_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(check(&schema, "{\"title\":\"ab\"}", &r), ERR_OK);
}

static void test_required_type_unknown(void **state)
{
    (void)state;
    struct schema_result r;
    assert_int_equal(check(&schema,
                           "{\"color\":1,\"flag\":\"yes\",\"count\":1.5,\"zzz\":1,"
                           "\"meta\":[],\"items\":{},\"note\":3,\"id\":null}",
                           &r),
                     ERR_INVALID);
    EXPECT(&r, "title", "is required");
    EXPECT(&r, "color", "must be a string");
    EXPECT(&r, "flag", "must be a boolean");
    EXPECT(&r, "count", "must be an integer");
    EXPECT(&r, "zzz", "unknown field");
    EXPECT(&r, "meta", "must be an object");
    EXPECT(&r, "items", "must be an array");
    EXPECT(&r, "note", "must be a string");
    EXPECT(&r, "id", "must not be null");
    assert_int_equal(r.n, 9);
    assert_false(r.truncated);
    assert_int_equal(check(&schema, "[1]", &r), ERR_INVALID);
    EXPECT(&r, "", "must be an object");
    assert_int_equal(schema_validate(&schema, NULL, &r), ERR_INVALID);
}

static void test_lengths_code_points(void **state)
{
    (void)state;
    struct schema_result r;
    /* min 2, max 64, counted in code points */
    assert_int_equal(check(&schema, "{\"title\":\"a\"}", &r), ERR_INVALID);
    EXPECT(&r, "title", "too short (min 2)");
    assert_int_equal(check(&schema, "{\"title\":\"\xc3\xa9\"}", &r), ERR_INVALID); /* 1 cp */
    char text[512];
    char title[300] = "";
    size_t tl = 0;
    for (int i = 0; i < 64; i++)
        tl += (size_t)snprintf(title + tl, sizeof(title) - tl, "\xe2\x82\xac"); /* 64 cps */
    snprintf(text, sizeof(text), "{\"title\":\"%s\"}", title);
    assert_int_equal(check(&schema, text, &r), ERR_OK);
    snprintf(title + tl, sizeof(title) - tl, "x");
    snprintf(text, sizeof(text), "{\"title\":\"%s\"}", title);
    assert_int_equal(check(&schema, text, &r), ERR_INVALID);
    EXPECT(&r, "title", "too long (max 64)");
}

static void test_integers(void **state)
{
    (void)state;
    struct schema_result r;
    assert_int_equal(check(&schema, "{\"title\":\"ab\",\"count\":5}", &r), ERR_OK);
    assert_int_equal(check(&schema, "{\"title\":\"ab\",\"count\":6}", &r), ERR_INVALID);
    EXPECT(&r, "count", "must be <= 5");
    assert_int_equal(check(&schema, "{\"title\":\"ab\",\"count\":-6}", &r), ERR_INVALID);
    EXPECT(&r, "count", "must be >= -5");
    /* no range when both bounds are 0 */
    assert_int_equal(check(&schema, "{\"title\":\"ab\",\"big\":-9007199254740991}", &r), ERR_OK);
    assert_int_equal(check(&schema, "{\"title\":\"ab\",\"big\":9007199254740992}", &r),
                     ERR_INVALID);
    EXPECT(&r, "big", "must be an integer");
}

static void test_enum_and_formats(void **state)
{
    (void)state;
    struct schema_result r;
    assert_int_equal(check(&schema, "{\"title\":\"ab\",\"color\":\"blue\"}", &r), ERR_INVALID);
    EXPECT(&r, "color", "must be one of: red, green");
    static const struct {
        const char *field, *value;
        bool ok;
    } cases[] = {
        {"email", "user@example.com", true},
        {"email", "first.last+tag@sub.example.org", true},
        {"email", "no-at.example.com", false},
        {"email", "a@b@example.com", false},
        {"email", "a@localhost", false},
        {"email", "a b@example.com", false},
        {"email", "@example.com", false},
        {"email", "a@example..com", false},
        {"email", "a@.example.com", false},
        {"email", "a@example.com.", false},
        {"url", "http://example.com", true},
        {"url", "https://example.com/a/b?c=d#e", true},
        {"url", "ftp://example.com", false},
        {"url", "https://", false},
        {"url", "https:///path", false},
        {"url", "https://exa mple.com", false},
        {"url", "javascript:alert(1)", false},
        {"url", "https://example.com/\\u0001", false},
        {"id", "123e4567-e89b-12d3-a456-426614174000", true},
        {"id", "123E4567-E89B-12D3-A456-426614174000", false},
        {"id", "123e4567e89b12d3a456426614174000", false},
        {"id", "123e4567-e89b-12d3-a456-42661417400g", false},
        {"slug", "abc", true},
        {"slug", "a-b-1", true},
        {"slug", "-abc", false},
        {"slug", "abc-", false},
        {"slug", "Abc", false},
        {"slug", "a_b", false},
        {"slug", "", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "{\"title\":\"ab\",\"%s\":\"%s\"}", cases[i].field,
                 cases[i].value);
        enum err e = check(&schema, text, &r);
        if ((e == ERR_OK) != cases[i].ok)
            fail_msg("format case %zu (%s=%s) gave %d", i, cases[i].field, cases[i].value, e);
    }
    assert_int_equal(check(&schema, "{\"title\":\"ab\",\"id\":\"x\"}", &r), ERR_INVALID);
    EXPECT(&r, "id", "must be a UUID");
}

static void test_nested_paths(void **state)
{
    (void)state;
    struct schema_result r;
    const char *t = "{\"title\":\"ab\",\"csp-report\":{\"line-number\":\"x\"},"
                    "\"items\":[{\"name\":\"ok\"},{\"name\":\"\",\"qty\":0,\"bad\":1},null],"
                    "\"tags\":[\"ok\",\"Not-Slug\",5]}";
    assert_int_equal(check(&schema, t, &r), ERR_INVALID);
    EXPECT(&r, "csp-report.line-number", "must be an integer");
    EXPECT(&r, "items[1].name", "too short (min 1)");
    EXPECT(&r, "items[1].qty", "must be >= 1");
    EXPECT(&r, "items[1].bad", "unknown field");
    EXPECT(&r, "items[2]", "must not be null");
    EXPECT(&r, "tags[1]", "must be a slug");
    EXPECT(&r, "tags[2]", "must be a string");
    /* array length: min 1, max 3 */
    assert_int_equal(check(&schema, "{\"title\":\"ab\",\"items\":[]}", &r), ERR_INVALID);
    EXPECT(&r, "items", "too few items (min 1)");
    const char *three = "{\"title\":\"ab\",\"items\":[{\"name\":\"a\"},{\"name\":\"b\"},"
                        "{\"name\":\"c\"}]}";
    assert_int_equal(check(&schema, three, &r), ERR_OK);
    const char *four = "{\"title\":\"ab\",\"items\":[{\"name\":\"a\"},{\"name\":\"b\"},"
                       "{\"name\":\"c\"},{\"name\":\"d\"}]}";
    assert_int_equal(check(&schema, four, &r), ERR_INVALID);
    EXPECT(&r, "items", "too many items (max 3)");
    assert_int_equal(check(&schema, "{\"title\":\"ab\",\"csp-report\":{}}", &r), ERR_INVALID);
    EXPECT(&r, "csp-report.line-number", "is required");
}

static void test_error_cap_and_long_paths(void **state)
{
    (void)state;
    struct schema_result r;
    char text[4096];
    size_t w = (size_t)snprintf(text, sizeof(text), "{\"title\":\"ab\"");
    /* exactly SCHEMA_MAX_ERRORS unknown fields: not truncated */
    for (int i = 0; i < SCHEMA_MAX_ERRORS; i++)
        w += (size_t)snprintf(text + w, sizeof(text) - w, ",\"u%d\":1", i);
    snprintf(text + w, sizeof(text) - w, "}");
    assert_int_equal(check(&schema, text, &r), ERR_INVALID);
    assert_int_equal(r.n, SCHEMA_MAX_ERRORS);
    assert_false(r.truncated);
    /* one more: truncated */
    w += (size_t)snprintf(text + w, sizeof(text) - w, ",\"u999\":1");
    snprintf(text + w, sizeof(text) - w, "}");
    assert_int_equal(check(&schema, text, &r), ERR_INVALID);
    assert_int_equal(r.n, SCHEMA_MAX_ERRORS);
    assert_true(r.truncated);

    /* a key longer than the path buffer is cut, at a character boundary */
    char key[400] = "";
    for (size_t i = 0; i < 100; i++)
        memcpy(key + 2 * i, "\xc3\xa9", 3);
    snprintf(text, sizeof(text), "{\"title\":\"ab\",\"%s\":1}", key);
    assert_int_equal(check(&schema, text, &r), ERR_INVALID);
    assert_int_equal(r.n, 1);
    size_t pl = strlen(r.errors[0].path);
    assert_true(pl <= SCHEMA_MAX_PATH - 1);
    assert_true(json_utf8_valid(str_from(r.errors[0].path, pl), NULL));
}

static void test_enum_message_cut(void **state)
{
    (void)state;
    static const char *const many[] = {"alpha", "bravo", "charlie", "delta",   "echo", "foxtrot",
                                       "golf",  "hotel", "india",   "juliett", "kilo", NULL};
    static const struct schema_field f[] = {
        {.name = "v", .kind = SCHEMA_STRING, .required = true, .enum_values = many},
    };
    static const struct schema s = {f, 1, false};
    struct schema_result r;
    assert_int_equal(check(&s, "{\"v\":\"kilo\"}", &r), ERR_OK);
    assert_int_equal(check(&s, "{\"v\":\"zulu\"}", &r), ERR_INVALID);
    assert_int_equal(r.n, 1);
    assert_true(strncmp(r.errors[0].reason, "must be one of: alpha, bravo", 28) == 0);
    assert_non_null(strstr(r.errors[0].reason, "..."));
}

static void test_allow_unknown(void **state)
{
    (void)state;
    static const struct schema_field f[] = {{.name = "a", .kind = SCHEMA_BOOLEAN}};
    static const struct schema open = {f, 1, true};
    static const struct schema closed = {f, 1, false};
    struct schema_result r;
    assert_int_equal(check(&open, "{\"a\":true,\"b\":1}", &r), ERR_OK);
    assert_int_equal(check(&closed, "{\"a\":true,\"b\":1}", &r), ERR_INVALID);
    EXPECT(&r, "b", "unknown field");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_required_type_unknown),
        cmocka_unit_test(test_lengths_code_points),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_enum_and_formats),
        cmocka_unit_test(test_nested_paths),
        cmocka_unit_test(test_error_cap_and_long_paths),
        cmocka_unit_test(test_enum_message_cut),
        cmocka_unit_test(test_allow_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
