/*
 * Unit tests for the helpers of src/ingest/normalize.c: times, globs, bots,
 * and the building blocks the provider files share.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ingest/normalize.h"

static bool t(const char *s, int64_t *out)
{
    return ingest_parse_time(str_from_cstr(s), out);
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_true(t("2019-05-15T15:20:33Z", &v));
    assert_int_equal(v, 1557933633);
    assert_true(t("2019-05-15T15:20:33z", &v));
    assert_int_equal(v, 1557933633);
    assert_true(t("2019-05-15t15:20:33Z", &v));
    assert_int_equal(v, 1557933633);
    /* offsets: the same instant */
    assert_true(t("2019-05-15T17:20:33+02:00", &v));
    assert_int_equal(v, 1557933633);
    assert_true(t("2019-05-15T17:20:33+0200", &v));
    assert_int_equal(v, 1557933633);
    assert_true(t("2019-05-15T17:20:33+02", &v));
    assert_int_equal(v, 1557933633);
    assert_true(t("2019-05-15T09:50:33-05:30", &v));
    assert_int_equal(v, 1557933633);
    assert_true(t("2018-06-29T19:34:13+05:30", &v)); /* GitHub push timestamp */
    assert_int_equal(v, 1530281053);
    /* fractions are dropped */
    assert_true(t("2017-09-20T08:31:45.944Z", &v));
    assert_int_equal(v, 1505896305);
    assert_true(t("2017-09-20T08:31:45,5+00:00", &v));
    assert_int_equal(v, 1505896305);
    assert_false(t("2017-09-20T08:31:45.Z", &v));
    assert_false(t("2017-09-20T08:31:45.1234567890123Z", &v)); /* more than 12 digits */
    /* GitLab's forms */
    assert_true(t("2015-05-17 18:21:36 UTC", &v));
    assert_int_equal(v, 1431886896);
    assert_true(t("2021-04-28 21:50:00 +0200", &v));
    assert_int_equal(v, 1619639400);
    assert_true(t("2015-05-17 18:21:36+00:00", &v));
    assert_int_equal(v, 1431886896);
    assert_false(t("2015-05-17 18:21:36 GMT", &v));
    assert_false(t("2015-05-17 18:21:36 UTCX", &v));
    assert_false(t("2015-05-17 18:21:36 ", &v));
    /* date only, minutes only */
    assert_true(t("2019-05-15", &v));
    assert_int_equal(v, 1557878400);
    assert_true(t("2019-05-15T15:20Z", &v));
    assert_int_equal(v, 1557933600);
    /* leap years */
    assert_true(t("2020-02-29T00:00:00Z", &v));
    assert_int_equal(v, 1582934400);
    assert_true(t("2000-02-29T00:00:00Z", &v)); /* divisible by 400 */
    assert_int_equal(v, 951782400);
    assert_false(t("2019-02-29T00:00:00Z", &v));
    assert_false(t("2100-02-29T00:00:00Z", &v)); /* divisible by 100 */
    assert_false(t("2019-04-31T00:00:00Z", &v));
    assert_false(t("2019-13-01T00:00:00Z", &v));
    assert_false(t("2019-00-10T00:00:00Z", &v));
    assert_false(t("2019-01-00T00:00:00Z", &v));
    assert_false(t("2019-01-01T24:00:00Z", &v));
    assert_false(t("2019-01-01T23:60:00Z", &v));
    assert_false(t("2019-01-01T23:00:61Z", &v));
    assert_false(t("2019-01-01T23:00:00+24:00", &v));
    assert_false(t("2019-01-01T23:00:00+02:60", &v));
    assert_false(t("1969-12-31T23:59:59Z", &v));
    assert_false(t("", &v));
    assert_false(t("2019-1-01", &v));
    assert_false(t("2019-01-01T", &v));
    assert_false(t("2019-01-01T10:00:00Zjunk", &v));
    assert_false(t("1557933633", &v));
    assert_false(ingest_parse_time(STR_NULL, &v));
    /* not NUL-terminated: only len bytes are read */
    const char buf[] = "2019-05-15T15:20:33Z9999";
    assert_true(ingest_parse_time(str_from(buf, 20), &v));
    assert_int_equal(v, 1557933633);
}

static bool g(const char *p, const char *s)
{
    return ingest_glob_match(str_from_cstr(p), str_from_cstr(s));
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(g("*", ""));
    assert_true(g("*", "anything"));
    assert_true(g("", ""));
    assert_false(g("", "a"));
    assert_true(g("a?c", "abc"));
    assert_false(g("a?c", "ac"));
    assert_true(g("*[bot]", "dependabot[bot]"));
    assert_true(g("Renovate*", "renovate-bot")); /* case-insensitive */
    assert_true(g("*-BOT", "ci-bot"));
    assert_false(g("*-bot", "robot"));
    assert_true(g("a*b*c", "aXXbYYc"));
    assert_false(g("a*b*c", "aXXbYY"));
    assert_true(g("**a**", "xa"));
    assert_false(ingest_glob_match(STR_NULL, STR_LIT("x")));
    assert_false(ingest_glob_match(STR_LIT("x"), STR_NULL));

    /* pathological patterns finish quickly (no exponential backtracking) */
    enum { N = 100000 };
    char *s = malloc(N + 2);
    assert_non_null(s);
    memset(s, 'a', N);
    s[N] = '\0';
    clock_t start = clock();
    assert_false(ingest_glob_match(STR_LIT("*a*a*a*a*b"), str_from(s, N)));
    assert_false(ingest_glob_match(STR_LIT("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"), str_from(s, N)));
    s[N] = 'b';
    assert_true(ingest_glob_match(STR_LIT("*a*a*a*a*b"), str_from(s, N + 1)));
    double secs = (double)(clock() - start) / CLOCKS_PER_SEC;
    assert_true(secs < 2.0);
    free(s);
}

static void test_is_bot(void **state)
{
    (void)state;
    assert_true(ingest_is_bot(STR_LIT("dependabot[bot]"), STR_NULL, NULL));
    assert_true(ingest_is_bot(STR_LIT("dependabot-preview"), STR_NULL, NULL));
    assert_true(ingest_is_bot(STR_NULL, STR_LIT("Renovate Bot"), NULL));
    assert_true(ingest_is_bot(STR_LIT("project_12_bot_ab12"), STR_NULL, NULL));
    assert_true(ingest_is_bot(STR_LIT("group_3_bot"), STR_NULL, NULL));
    assert_true(ingest_is_bot(STR_LIT("deploy-bot"), STR_NULL, NULL));
    assert_false(ingest_is_bot(STR_LIT("octocat"), STR_LIT("The Octocat"), NULL));
    assert_false(ingest_is_bot(STR_LIT("abbott"), STR_NULL, NULL));
    assert_false(ingest_is_bot(STR_NULL, STR_NULL, NULL));

    const struct str pats[] = {STR_NULL, STR_LIT(""), STR_LIT("svc-*"), STR_LIT("Jenkins")};
    const struct ingest_norm_options opt = {pats, 4};
    assert_true(ingest_is_bot(STR_LIT("svc-deploy"), STR_NULL, &opt));
    assert_true(ingest_is_bot(STR_LIT("x"), STR_LIT("jenkins"), &opt));
    assert_false(ingest_is_bot(STR_LIT("octocat"), STR_NULL, &opt));

    /* a pattern past INGEST_MAX_BOT_PATTERN bytes is ignored, one at it applies */
    char big[INGEST_MAX_BOT_PATTERN + 1];
    memset(big, '*', sizeof big);
    const struct str too_long[] = {str_from(big, INGEST_MAX_BOT_PATTERN + 1)};
    const struct ingest_norm_options o1 = {too_long, 1};
    assert_false(ingest_is_bot(STR_LIT("octocat"), STR_NULL, &o1));
    const struct str at_max[] = {str_from(big, INGEST_MAX_BOT_PATTERN)};
    const struct ingest_norm_options o2 = {at_max, 1};
    assert_true(ingest_is_bot(STR_LIT("octocat"), STR_NULL, &o2));
}

static void test_building_blocks(void **state)
{
    (void)state;
    struct arena *a = arena_new(1024 * 1024);
    struct str s;
    /* ids at and one past INGEST_MAX_ID ("github:tag:" is 11 bytes) */
    char key[INGEST_MAX_ID + 1];
    memset(key, 'k', sizeof key);
    assert_int_equal(
        ingest_make_id(a, "github", "tag", str_from(key, INGEST_MAX_ID - 11), STR_NULL, &s),
        ERR_OK);
    assert_int_equal(s.len, INGEST_MAX_ID);
    assert_int_equal(
        ingest_make_id(a, "github", "tag", str_from(key, INGEST_MAX_ID - 10), STR_NULL, &s),
        ERR_LIMIT);
    assert_int_equal(ingest_make_id(a, "github", "tag", STR_LIT(""), STR_NULL, &s), ERR_INVALID);
    assert_int_equal(ingest_make_id(a, "gitlab", "commit", STR_LIT("5"), STR_LIT("ab"), &s),
                     ERR_OK);
    assert_true(str_eq_cstr(s, "gitlab:commit:5:ab"));

    assert_true(ingest_is_sha(STR_LIT("9049f1265b7d61be4a8904a9a27120d2064dab3b")));
    assert_false(ingest_is_sha(STR_LIT("9049f1265b7d61be4a8904a9a27120d2064dab3")));
    assert_false(ingest_is_sha(STR_LIT("master")));
    assert_false(ingest_is_sha(STR_NULL));

    assert_int_equal(ingest_clean_url(a, STR_LIT("https://u:p@h.example/x@y"), &s), ERR_OK);
    assert_true(str_eq_cstr(s, "https://h.example/x@y"));
    assert_int_equal(ingest_clean_url(a, STR_LIT("HTTP://h.example"), &s), ERR_OK);
    assert_true(str_eq_cstr(s, "HTTP://h.example"));
    assert_int_equal(ingest_clean_url(a, STR_LIT("ssh://git@h.example/r.git"), &s), ERR_OK);
    assert_null(s.ptr);
    assert_int_equal(ingest_clean_url(a, STR_LIT("javascript:alert(1)"), &s), ERR_OK);
    assert_null(s.ptr);

    assert_int_equal(ingest_batch_event(a, STR_LIT("Merge Request"), STR_LIT("Open!"), &s), ERR_OK);
    assert_true(str_eq_cstr(s, "merge_request.open_"));
    assert_int_equal(ingest_batch_event(a, STR_LIT("push"), STR_NULL, &s), ERR_OK);
    assert_true(str_eq_cstr(s, "push"));

    struct json *doc = NULL;
    struct json_error je;
    const char *text = "{\"s\":\"2019-05-15T15:20:33Z\",\"n\":1557933633,\"ms\":1557933633123,"
                       "\"neg\":-5,\"f\":1.5,\"b\":true,\"k\":\"a:b\",\"big\":9007199254740993}";
    assert_int_equal(json_parse(text, strlen(text), &JSON_LIMITS_DEFAULT, &doc, &je), ERR_OK);
    assert_int_equal(ingest_json_time(json_get(doc, "s")), 1557933633);
    assert_int_equal(ingest_json_time(json_get(doc, "n")), 1557933633);
    assert_int_equal(ingest_json_time(json_get(doc, "ms")), 1557933633);
    assert_int_equal(ingest_json_time(json_get(doc, "neg")), 0);
    assert_int_equal(ingest_json_time(json_get(doc, "b")), 0);
    assert_int_equal(ingest_json_time(NULL), 0);
    assert_int_equal(ingest_json_count(doc, "n"), 1557933633);
    assert_int_equal(ingest_json_count(doc, "neg"), INGEST_UNKNOWN);
    assert_int_equal(ingest_json_count(doc, "f"), INGEST_UNKNOWN);
    assert_int_equal(ingest_json_tri(doc, "b"), INGEST_TRI_YES);
    assert_int_equal(ingest_json_tri(doc, "s"), INGEST_TRI_UNKNOWN);
    assert_null(ingest_json_str(doc, "n").ptr);
    assert_int_equal(ingest_json_key(json_get(doc, "n"), a, &s), ERR_OK);
    assert_true(str_eq_cstr(s, "1557933633"));
    assert_int_equal(ingest_json_key(json_get(doc, "k"), a, &s), ERR_OK);
    assert_null(s.ptr); /* the separator cannot be in a key */
    assert_int_equal(ingest_json_key(json_get(doc, "big"), a, &s), ERR_OK);
    assert_null(s.ptr); /* past 2^53 */
    assert_int_equal(ingest_json_key(json_get(doc, "neg"), a, &s), ERR_OK);
    assert_null(s.ptr);
    json_free(doc);

    /* rows: INGEST_MAX_ROWS fit, one more is ERR_LIMIT */
    struct ingest_rows rows = {0};
    void *row = NULL;
    for (size_t i = 0; i < INGEST_MAX_ROWS; i++) {
        assert_int_equal(ingest_rows_add(a, &rows, sizeof(int64_t), &row), ERR_OK);
        *(int64_t *)row = (int64_t)i;
    }
    assert_int_equal(ingest_rows_add(a, &rows, sizeof(int64_t), &row), ERR_LIMIT);
    assert_int_equal(rows.n, INGEST_MAX_ROWS);
    for (size_t i = 0; i < INGEST_MAX_ROWS; i++)
        assert_int_equal(((int64_t *)rows.v)[i], (int64_t)i);
    arena_free(a);

    /* a full arena is ERR_LIMIT, not a crash */
    struct arena *tiny = arena_new(64);
    struct ingest_rows r2 = {0};
    enum err e = ERR_OK;
    for (int i = 0; i < 100 && e == ERR_OK; i++)
        e = ingest_rows_add(tiny, &r2, 48, &row);
    assert_int_equal(e, ERR_LIMIT);
    arena_free(tiny);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_is_bot),
        cmocka_unit_test(test_building_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
