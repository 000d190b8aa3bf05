/* Unit tests for src/core/json.c: limits at and one past the limit, strictness, writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "core/json.h"

/* Parses a C string; returns the error, frees any document. */
static enum err parse_lim(const char *text, size_t len, const struct json_limits *lim,
                          struct json_error *je)
{
    struct json *doc = NULL;
    struct json_error tmp;
    enum err e = json_parse(text, len, lim, &doc, je ? je : &tmp);
    if (e == ERR_OK)
        assert_non_null(doc);
    else
        assert_null(doc);
    json_free(doc);
    return e;
}

static enum err parse_s(const char *text, struct json_error *je)
{
    return parse_lim(text, strlen(text), &JSON_LIMITS_DEFAULT, je);
}

/* A buffer with repeated pieces: pre + mid*n + post. */
static char *build(const char *pre, const char *mid, size_t n, const char *post)
{
    size_t len = strlen(pre) + strlen(mid) * n + strlen(post);
    char *p = malloc(len + 1);
    assert_non_null(p);
    char *w = p;
    memcpy(w, pre, strlen(pre));
    w += strlen(pre);
    for (size_t i = 0; i < n; i++) {
        memcpy(w, mid, strlen(mid));
        w += strlen(mid);
    }
    memcpy(w, post, strlen(post));
    w += strlen(post);
    *w = '\0';
    return p;
}

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(JSON_LIMITS_DEFAULT.max_bytes, 1024 * 1024);
    assert_int_equal(JSON_LIMITS_DEFAULT.max_depth, 32);
    assert_int_equal(JSON_LIMITS_DEFAULT.max_string, 65536);
    assert_int_equal(JSON_LIMITS_DEFAULT.max_members, 1000);
}

static void test_accessors(void **state)
{
    (void)state;
    const char *t = "{\"s\":\"h\\u00e9llo\",\"i\":-42,\"d\":1.5,\"b\":true,\"f\":false,\"n\":null,"
                    "\"a\":[1,2,3],\"o\":{\"k\":\"v\"}}";
    struct json *doc = NULL;
    struct json_error je;
    assert_int_equal(json_parse(t, strlen(t), NULL, &doc, &je), ERR_OK);
    assert_int_equal(json_type_of(doc), JSON_OBJECT);
    assert_int_equal(json_count(doc), 8);
    struct str s;
    assert_true(json_as_str(json_get(doc, "s"), &s));
    assert_int_equal(s.len, 6);
    assert_memory_equal(s.ptr, "h\xc3\xa9llo", 6);
    int64_t i;
    assert_true(json_as_i64(json_get(doc, "i"), &i));
    assert_int_equal(i, -42);
    assert_false(json_as_i64(json_get(doc, "d"), &i));
    double d;
    assert_true(json_as_double(json_get(doc, "d"), &d));
    assert_true(d == 1.5);
    bool b;
    assert_true(json_as_bool(json_get(doc, "b"), &b));
    assert_true(b);
    assert_true(json_as_bool(json_get(doc, "f"), &b));
    assert_false(b);
    assert_int_equal(json_type_of(json_get(doc, "n")), JSON_NULL);
    assert_false(json_as_str(json_get(doc, "n"), &s));
    assert_null(json_get(doc, "missing"));
    assert_null(json_get(json_get(doc, "a"), "x")); /* not an object */
    const struct json *a = json_get(doc, "a");
    assert_int_equal(json_type_of(a), JSON_ARRAY);
    assert_int_equal(json_count(a), 3);
    int64_t sum = 0;
    for (const struct json *e = json_first(a); e; e = json_next(e)) {
        assert_null(json_key(e));
        assert_true(json_as_i64(e, &i));
        sum += i;
    }
    assert_int_equal(sum, 6);
    const struct json *first = json_first(doc);
    assert_string_equal(json_key(first), "s");
    assert_true(json_as_str(json_get(json_get(doc, "o"), "k"), &s));
    assert_true(str_eq_cstr(s, "v"));
    assert_string_equal(json_type_name(JSON_OBJECT), "object");
    assert_string_equal(json_type_name(JSON_STRING), "string");
    assert_string_equal(json_type_name(JSON_TRUE), "boolean");
    assert_int_equal(json_type_of(NULL), JSON_INVALID_TYPE_);
    assert_int_equal(json_count(json_get(doc, "s")), 0);
    assert_null(json_first(json_get(doc, "s")));
    json_free(doc);
    json_free(NULL);
}

static void test_i64_range(void **state)
{
    (void)state;
    struct json *doc = NULL;
    struct json_error je;
    const char *t = "[9007199254740991,-9007199254740991,9007199254740992,1e2,1.25,0]";
    assert_int_equal(json_parse(t, strlen(t), NULL, &doc, &je), ERR_OK);
    const struct json *e = json_first(doc);
    int64_t v;
    assert_true(json_as_i64(e, &v));
    assert_true(v == 9007199254740991LL);
    e = json_next(e);
    assert_true(json_as_i64(e, &v));
    assert_true(v == -9007199254740991LL);
    e = json_next(e);
    assert_false(json_as_i64(e, &v)); /* 2^53: not exactly representable neighbours */
    e = json_next(e);
    assert_true(json_as_i64(e, &v));
    assert_int_equal(v, 100);
    e = json_next(e);
    assert_false(json_as_i64(e, &v));
    e = json_next(e);
    assert_true(json_as_i64(e, &v));
    assert_int_equal(v, 0);
    json_free(doc);
}

static void test_size_limit(void **state)
{
    (void)state;
    struct json_limits lim = JSON_LIMITS_DEFAULT;
    lim.max_bytes = 10;
    struct json_error je;
    assert_int_equal(parse_lim("[1,2,3,44]", 10, &lim, &je), ERR_OK);
    assert_int_equal(parse_lim("[1,2,3,444]", 11, &lim, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "document too large");
    /* the default: exactly 1 MiB passes, one byte more does not */
    size_t n = JSON_LIMITS_DEFAULT.max_bytes;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n + 1);
    big[0] = '1';
    assert_int_equal(parse_lim(big, n, NULL, &je), ERR_OK);
    assert_int_equal(parse_lim(big, n + 1, NULL, &je), ERR_LIMIT);
    free(big);
}

static void test_depth_limit(void **state)
{
    (void)state;
    struct json_error je;
    char *at = build("", "[", 32, "");
    char *at_full = build(at, "]", 32, "");
    assert_int_equal(parse_s(at_full, &je), ERR_OK);
    char *past = build("", "[", 33, "");
    char *past_full = build(past, "]", 33, "");
    assert_int_equal(parse_s(past_full, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "nesting too deep");
    assert_int_equal(je.offset, 32);
    free(at);
    free(at_full);
    free(past);
    free(past_full);

    /* objects count too, and a small custom limit */
    struct json_limits lim = JSON_LIMITS_DEFAULT;
    lim.max_depth = 2;
    const char *two = "{\"a\":{\"b\":1}}";
    const char *three = "{\"a\":{\"b\":[1]}}";
    assert_int_equal(parse_lim(two, strlen(two), &lim, &je), ERR_OK);
    assert_int_equal(parse_lim(three, strlen(three), &lim, &je), ERR_LIMIT);
    /* scalars at the top are depth 0 containers */
    lim.max_depth = 0;
    assert_int_equal(parse_lim("7", 1, &lim, &je), ERR_OK);
    assert_int_equal(parse_lim("[]", 2, &lim, &je), ERR_LIMIT);

    /* very deep input is refused by the scanner, never reaching cJSON's recursion */
    char *deep = build("", "[", 500000, "");
    assert_int_equal(parse_s(deep, &je), ERR_LIMIT);
    free(deep);
    /* limits above the hard ceiling are clamped */
    lim.max_depth = 100000;
    char *c1 = build("", "[", JSON_MAX_DEPTH_LIMIT + 1, "");
    assert_int_equal(parse_lim(c1, strlen(c1), &lim, &je), ERR_LIMIT);
    free(c1);
}

static void test_string_limit(void **state)
{
    (void)state;
    struct json_error je;
    struct json_limits lim = JSON_LIMITS_DEFAULT;
    lim.max_string = 4;
    assert_int_equal(parse_lim("\"abcd\"", 6, &lim, &je), ERR_OK);
    assert_int_equal(parse_lim("\"abcde\"", 7, &lim, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "string too long");
    /* bytes after unescaping: \u00e9 is 2 bytes, \n is 1 */
    const char *at = "\"ab\\u00e9\"";
    const char *past = "\"abc\\u00e9\"";
    assert_int_equal(parse_lim(at, strlen(at), &lim, &je), ERR_OK);
    assert_int_equal(parse_lim(past, strlen(past), &lim, &je), ERR_LIMIT);
    const char *esc = "\"\\n\\t\\\\\\\"\"";
    assert_int_equal(parse_lim(esc, strlen(esc), &lim, &je), ERR_OK);
    /* surrogate pair: 4 bytes */
    const char *pair = "\"\\ud83d\\ude00\"";
    assert_int_equal(parse_lim(pair, strlen(pair), &lim, &je), ERR_OK);
    /* keys too */
    const char *k_at = "{\"abcd\":1}", *k_past = "{\"abcde\":1}";
    assert_int_equal(parse_lim(k_at, strlen(k_at), &lim, &je), ERR_OK);
    assert_int_equal(parse_lim(k_past, strlen(k_past), &lim, &je), ERR_LIMIT);
    /* default 65536 */
    char *s_at = build("\"", "a", 65536, "\"");
    char *s_past = build("\"", "a", 65537, "\"");
    assert_int_equal(parse_s(s_at, &je), ERR_OK);
    assert_int_equal(parse_s(s_past, &je), ERR_LIMIT);
    free(s_at);
    free(s_past);
}

static void test_member_limit(void **state)
{
    (void)state;
    struct json_error je;
    char *a_at = build("[0", ",0", 999, "]");
    char *a_past = build("[0", ",0", 1000, "]");
    assert_int_equal(parse_s(a_at, &je), ERR_OK);
    assert_int_equal(parse_s(a_past, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "too many members");
    free(a_at);
    free(a_past);

    struct json_limits lim = JSON_LIMITS_DEFAULT;
    lim.max_members = 3;
    const char *o_at = "{\"a\":1,\"b\":2,\"c\":3}";
    const char *o_past = "{\"a\":1,\"b\":2,\"c\":3,\"d\":4}";
    assert_int_equal(parse_lim(o_at, strlen(o_at), &lim, &je), ERR_OK);
    assert_int_equal(parse_lim(o_past, strlen(o_past), &lim, &je), ERR_LIMIT);
    /* the count is per container */
    const char *nested = "[[1,2,3],[1,2,3],[1,2,3]]";
    assert_int_equal(parse_lim(nested, strlen(nested), &lim, &je), ERR_OK);
    assert_int_equal(parse_lim("[]", 2, &lim, &je), ERR_OK);
    assert_int_equal(parse_lim("{}", 2, &lim, &je), ERR_OK);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    struct json_error je;
    assert_int_equal(parse_s("{\"a\":1,\"a\":2}", &je), ERR_INVALID);
    assert_string_equal(je.reason, "duplicate key");
    assert_int_equal(parse_s("{\"x\":{\"a\":1,\"b\":{},\"a\":2}}", &je), ERR_INVALID);
    assert_int_equal(parse_s("[{\"a\":1},{\"a\":1}]", &je), ERR_OK);
    /* the same key written with an escape is the same key */
    assert_int_equal(parse_s("{\"a\":1,\"\\u0061\":2}", &je), ERR_INVALID);
    /* many members take the sorting path */
    char *many = build("{", "\"k\":0,", 0, "");
    free(many);
    char text[4096];
    size_t w = 0;
    w += (size_t)snprintf(text + w, sizeof(text) - w, "{");
    for (int i = 0; i < 50; i++)
        w += (size_t)snprintf(text + w, sizeof(text) - w, "%s\"k%d\":%d", i ? "," : "", i, i);
    snprintf(text + w, sizeof(text) - w, "}");
    assert_int_equal(parse_s(text, &je), ERR_OK);
    snprintf(text + w, sizeof(text) - w, ",\"k17\":1}");
    assert_int_equal(parse_s(text, &je), ERR_INVALID);
    assert_string_equal(je.reason, "duplicate key");
}

static void test_malformed(void **state)
{
    (void)state;
    struct json_error je;
    static const char *const bad[] = {
        "",     " ",          "{",          "[1,]",  "{\"a\":}",   "{\"a\" 1}",     "{a:1}",
        "[01]", "[1.]",       "[-]",        "[.5]",  "[+1]",       "[1e]",          "tru",
        "nul",  "[1 2]",      "{\"a\":1,}", "\"abc", "[\"\\x\"]",  "[\"\\u12G4\"]", "}",
        "[1]]", "{\"a\":1}}", "'a'",        "[NaN]", "[Infinity]", "[\x01]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum err e = parse_s(bad[i], &je);
        if (e != ERR_INVALID)
            fail_msg("accepted or wrong error for case %zu", i);
    }
    assert_int_equal(parse_s("{} x", &je), ERR_INVALID);
    assert_string_equal(je.reason, "unexpected data after JSON");
    assert_int_equal(je.offset, 3);
    assert_int_equal(parse_lim("{}\0", 3, NULL, &je), ERR_INVALID);
    assert_int_equal(parse_s(" {} \r\n\t", &je), ERR_OK);
    assert_int_equal(parse_s("[1,2", &je), ERR_INVALID);
    assert_string_equal(je.reason, "malformed JSON");
    /* control characters inside strings must be escaped */
    assert_int_equal(parse_s("[\"a\tb\"]", &je), ERR_INVALID);
    assert_int_equal(parse_s("[\"a\\tb\"]", &je), ERR_OK);
    /* NUL cannot be represented in cJSON's C strings */
    assert_int_equal(parse_s("[\"a\\u0000b\"]", &je), ERR_INVALID);
    assert_int_equal(parse_lim("[\"a\0\"]", 6, NULL, &je), ERR_INVALID);
    /* lone surrogates */
    assert_int_equal(parse_s("[\"\\ud800\"]", &je), ERR_INVALID);
    assert_int_equal(parse_s("[\"\\udc00\"]", &je), ERR_INVALID);
    assert_int_equal(parse_s("[\"\\ud800\\u0041\"]", &je), ERR_INVALID);
    assert_int_equal(parse_s("[\"\\ud800\\udc00\"]", &je), ERR_OK);
    assert_int_equal(json_parse(NULL, 0, NULL, &(struct json *){NULL}, &je), ERR_INVALID);
}

static void test_utf8(void **state)
{
    (void)state;
    struct json_error je;
    static const char *const bad[] = {
        "[\"\xc0\x80\"]",         /* overlong NUL */
        "[\"\xe0\x80\xaf\"]",     /* overlong '/' */
        "[\"\xed\xa0\x80\"]",     /* UTF-16 surrogate */
        "[\"\xf4\x90\x80\x80\"]", /* above U+10FFFF */
        "[\"\xf5\x80\x80\x80\"]", /* invalid lead byte */
        "[\"\x80\"]",             /* lone continuation */
        "[\"\xe2\x82\"]",         /* truncated */
        "{\"\xff\":1}",           /* in a key */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_s(bad[i], &je), ERR_INVALID);
        assert_string_equal(je.reason, "invalid UTF-8");
    }
    assert_int_equal(parse_s("[\"\xe2\x82\xac \xf0\x9f\x98\x80 \xc3\xa9\"]", &je), ERR_OK);
    /* raw non-ASCII outside strings is malformed */
    assert_int_equal(parse_s("[\xc3\xa9]", &je), ERR_INVALID);

    size_t cps = 0;
    assert_true(json_utf8_valid(STR_LIT("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), &cps));
    assert_int_equal(cps, 4);
    assert_false(json_utf8_valid(STR_LIT("\xed\xbf\xbf"), &cps));
    assert_true(json_utf8_valid(STR_LIT(""), NULL));

    /* the eight-byte ASCII skip: a bad or multi-byte sequence at every offset of a long run */
    char text[40];
    for (size_t at = 0; at + 2 <= sizeof text; at++) {
        memset(text, 'x', sizeof text);
        text[at] = '\xc3'; /* a lead byte with no continuation: invalid */
        assert_false(json_utf8_valid(str_from(text, sizeof text), NULL));
        text[at + 1] = '\xa9'; /* now "é": valid, one code point for two bytes */
        assert_true(json_utf8_valid(str_from(text, sizeof text), &cps));
        assert_int_equal(cps, sizeof text - 1);
    }
    memset(text, 'x', sizeof text);
    assert_true(json_utf8_valid(str_from(text, sizeof text), &cps));
    assert_int_equal(cps, sizeof text);
    text[sizeof text - 1] = '\x80'; /* a lone continuation byte after 39 ASCII bytes */
    assert_false(json_utf8_valid(str_from(text, sizeof text), NULL));
}

static void test_numbers(void **state)
{
    (void)state;
    struct json_error je;
    /* 63 characters pass, 64 are refused as a limit (cJSON's number buffer) */
    char *n63 = build("[1", "0", 62, "]");
    char *n64 = build("[1", "0", 63, "]");
    assert_int_equal(parse_s(n63, &je), ERR_OK);
    assert_int_equal(parse_s(n64, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "number too long");
    free(n63);
    free(n64);
    assert_int_equal(parse_s("[1e999]", &je), ERR_LIMIT);
    assert_string_equal(je.reason, "number out of range");
    assert_int_equal(parse_s("[-0, 0.5e-3, 1E+2, -12.75e1]", &je), ERR_OK);
}

static char *write_one(void (*fn)(struct jw *, const void *), const void *arg)
{
    struct buf b = BUF_INIT(4096);
    struct jw w;
    jw_init(&w, &b);
    fn(&w, arg);
    assert_int_equal(jw_finish(&w), ERR_OK);
    return buf_detach(&b, NULL);
}

static void wr_string(struct jw *w, const void *arg)
{
    jw_string(w, *(const struct str *)arg);
}

static void check_escape(const char *in, size_t len, const char *want)
{
    struct str s = str_from(in, len);
    char *got = write_one(wr_string, &s);
    assert_string_equal(got, want);
    free(got);
}

static void test_escape(void **state)
{
    (void)state;
    check_escape("plain", 5, "\"plain\"");
    check_escape("q\"b\\s/", 6, "\"q\\\"b\\\\s/\"");
    check_escape("\n\r\t\b\f\x01\x1f\x7f", 8, "\"\\n\\r\\t\\b\\f\\u0001\\u001f\\u007f\"");
    check_escape("<script>&", 9, "\"\\u003cscript\\u003e\\u0026\"");
    check_escape("a\xe2\x80\xa8"
                 "b\xe2\x80\xa9",
                 8, "\"a\\u2028b\\u2029\"");
    check_escape("\xc3\xa9\xf0\x9f\x98\x80", 6, "\"\xc3\xa9\xf0\x9f\x98\x80\"");
    check_escape("a\xffz", 3, "\"a\xef\xbf\xbdz\"");
    check_escape("\xc0\x80", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    check_escape("\0x", 2, "\"\\u0000x\"");
    check_escape("", 0, "\"\"");
}

static void test_escape_max(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(1024);
    bool cut = false;
    assert_int_equal(json_escape_to_max(&b, STR_LIT("abcdef"), 8, &cut), ERR_OK);
    assert_string_equal(buf_cstr(&b), "\"abcdef\"");
    assert_false(cut);
    buf_reset(&b);
    assert_int_equal(json_escape_to_max(&b, STR_LIT("abcdefg"), 8, &cut), ERR_OK);
    assert_string_equal(buf_cstr(&b), "\"abcdef\"");
    assert_true(cut);
    buf_reset(&b);
    /* never cuts inside an escape or a multi-byte character */
    assert_int_equal(json_escape_to_max(&b, STR_LIT("ab<"), 8, &cut), ERR_OK);
    assert_string_equal(buf_cstr(&b), "\"ab\"");
    assert_true(cut);
    buf_reset(&b);
    assert_int_equal(json_escape_to_max(&b, STR_LIT("a\xe2\x82\xac"), 5, &cut), ERR_OK);
    assert_string_equal(buf_cstr(&b), "\"a\"");
    buf_reset(&b);
    assert_int_equal(json_escape_to_max(&b, STR_LIT("x"), 1, &cut), ERR_LIMIT);
    assert_int_equal(json_escape_to_max(&b, STR_LIT("xyz"), 2, &cut), ERR_OK);
    assert_string_equal(buf_cstr(&b), "\"\"");
    buf_release(&b);
}

static void test_writer(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(4096);
    struct jw w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "a");
    jw_int(&w, -9223372036854775807LL - 1);
    jw_key(&w, "list");
    jw_array_begin(&w);
    jw_bool(&w, true);
    jw_null(&w);
    jw_cstring(&w, NULL);
    jw_cstring(&w, "x");
    jw_object_begin(&w);
    jw_object_end(&w);
    jw_array_begin(&w);
    jw_array_end(&w);
    jw_array_end(&w);
    jw_key(&w, "k\"ey");
    jw_string(&w, STR_NULL);
    jw_object_end(&w);
    assert_int_equal(jw_finish(&w), ERR_OK);
    assert_string_equal(buf_cstr(&b),
                        "{\"a\":-9223372036854775808,\"list\":[true,null,null,\"x\",{},"
                        "[]],\"k\\\"ey\":\"\"}");
    /* the output parses back */
    struct json *doc = NULL;
    struct json_error je;
    assert_int_equal(json_parse(b.data, b.len, NULL, &doc, &je), ERR_OK);
    json_free(doc);
    buf_release(&b);
}

/* jw_double: each parsed number is written so that it parses back to the same double. */
static void test_writer_double(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"0", "0"},
        {"-0", "-0"},
        {"-0.0", "-0"},
        {"12345678901234", "12345678901234"},
        {"9007199254740991", "9007199254740991"},
        {"-9007199254740991", "-9007199254740991"},
        {"9007199254740992", "9007199254740992"}, /* %.16g */
        {"1e22", "1e+22"},
        {"-0.5", "-0.5"},
        {"0.1", "0.1"},
        {"1e300", "1e+300"},
        {"1E2", "100"},
        {"2.5e-8", "2.5e-08"},
        {"0.30000000000000004", "0.30000000000000004"},
        {"1.7976931348623157e308", "1.7976931348623157e+308"},
        {"4.9e-324", "4.94065645841247e-324"},
        {"123.456", "123.456"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct json *doc = NULL;
        struct json_error je;
        assert_int_equal(json_parse(cases[i].in, strlen(cases[i].in), NULL, &doc, &je), ERR_OK);
        double v, back;
        assert_true(json_as_double(doc, &v));
        json_free(doc);
        struct buf b = BUF_INIT(64);
        struct jw w;
        jw_init(&w, &b);
        jw_double(&w, v);
        assert_int_equal(jw_finish(&w), ERR_OK);
        assert_string_equal(buf_cstr(&b), cases[i].out);
        assert_int_equal(json_parse(b.data, b.len, NULL, &doc, &je), ERR_OK);
        assert_true(json_as_double(doc, &back));
        assert_memory_equal(&v, &back, sizeof(v)); /* bit for bit, the sign of zero too */
        json_free(doc);
        buf_release(&b);
    }
    /* in an array, with commas; non-finite values write null */
    struct buf b = BUF_INIT(64);
    struct jw w;
    jw_init(&w, &b);
    jw_array_begin(&w);
    jw_double(&w, 1.5);
    jw_double(&w, HUGE_VAL);
    jw_double(&w, -3);
    jw_array_end(&w);
    assert_int_equal(jw_finish(&w), ERR_OK);
    assert_string_equal(buf_cstr(&b), "[1.5,null,-3]");
    buf_release(&b);
}

static void test_writer_errors(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(10);
    struct jw w;
    jw_init(&w, &b);
    jw_array_begin(&w);
    jw_cstring(&w, "this will not fit");
    jw_int(&w, 1); /* ignored after the failure */
    jw_array_end(&w);
    assert_int_equal(jw_finish(&w), ERR_LIMIT);
    buf_release(&b);

    buf_init(&b, 4096);
    jw_init(&w, &b);
    jw_array_end(&w);
    assert_int_equal(jw_finish(&w), ERR_INTERNAL);
    buf_reset(&b);
    jw_init(&w, &b);
    jw_object_begin(&w);
    assert_int_equal(jw_finish(&w), ERR_INTERNAL); /* unclosed */
    buf_reset(&b);
    jw_init(&w, &b);
    jw_key(&w, "top"); /* a key outside an object */
    assert_int_equal(jw_finish(&w), ERR_INTERNAL);
    buf_reset(&b);
    jw_init(&w, &b);
    for (int i = 0; i < JSON_MAX_DEPTH_LIMIT; i++)
        jw_array_begin(&w);
    assert_int_equal(w.err, ERR_OK);
    jw_array_begin(&w);
    assert_int_equal(jw_finish(&w), ERR_LIMIT);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_i64_range),     cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_depth_limit),   cmocka_unit_test(test_string_limit),
        cmocka_unit_test(test_member_limit),  cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_malformed),     cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_numbers),       cmocka_unit_test(test_escape),
        cmocka_unit_test(test_escape_max),    cmocka_unit_test(test_writer),
        cmocka_unit_test(test_writer_errors), cmocka_unit_test(test_writer_double),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
