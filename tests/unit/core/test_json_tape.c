/*
 * Unit tests for src/core/json_tape.c: the tokens of a document, every limit
 * at and one past it (with the webhook limits), duplicate keys including ones
 * equal only after unescaping and the hash table's fallback, numbers, reuse
 * of a tape, and agreement with json_parse (verdict, reason, offset, values)
 * on a table of edge cases.
 */
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
#include "core/json_tape.h"

/* The webhook body limits (INGEST_JSON_LIMITS in ingest/redact.h). */
static const struct json_limits hook_limits = {
    .max_bytes = (size_t)4 * 1024 * 1024,
    .max_depth = 64,
    .max_string = (size_t)1024 * 1024,
    .max_members = 100000,
};

/* ---- helpers ------------------------------------------------------------------ */

/* A growable text for building big documents. */
struct text {
    char *p;
    size_t len, cap;
};

static void put(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void put_str(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void repeat(struct text *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_str(t, s);
}

/* Parses text with lim; returns the error and fills *je. */
static enum err tape_parse(struct json_tape *t, const char *text, size_t len,
                           const struct json_limits *lim, struct json_error *je)
{
    enum err e = json_tape_parse(t, text, len, lim, je);
    if (e != ERR_OK)
        assert_int_equal(t->n, 0);
    return e;
}

static enum err tape_check(const char *text, size_t len, const struct json_limits *lim,
                           struct json_error *je)
{
    struct json_tape t;
    json_tape_init(&t);
    enum err e = tape_parse(&t, text, len, lim, je);
    json_tape_release(&t);
    return e;
}

static void assert_str(struct str s, const char *want, size_t want_len)
{
    assert_int_equal(s.len, want_len);
    assert_memory_equal(s.ptr, want, want_len);
}

/* ---- tokens ----------------------------------------------------------------------- */

static void test_tokens(void **state)
{
    (void)state;
    const char *doc = " {\"a\": [1, -0.5, true, false, null, \"x\\ny\"], \"m\\u0061rkup\": {},"
                      " \"e\": [], \"s\": \"plain\"} ";
    struct json_tape t;
    json_tape_init(&t);
    struct json_error je;
    assert_int_equal(tape_parse(&t, doc, strlen(doc), NULL, &je), ERR_OK);
    assert_string_equal(je.reason, "");

    /* 0 {  1 "a"  2 [  3 1  4 -0.5  5 true  6 false  7 null  8 "x\ny"
     * 9 "markup"  10 {}  11 "e"  12 []  13 "s"  14 "plain" */
    assert_int_equal(t.n, 15);
    assert_int_equal(json_tape_type(&t, 0), JSON_OBJECT);
    assert_int_equal(json_tape_count(&t, 0), 4);
    assert_int_equal(json_tape_skip(&t, 0), 15);
    assert_int_equal(t.tok[0].off, 1);
    assert_str(json_tape_str(&t, 1), "a", 1);
    assert_int_equal(json_tape_type(&t, 2), JSON_ARRAY);
    assert_int_equal(json_tape_count(&t, 2), 6);
    assert_int_equal(json_tape_skip(&t, 2), 9);
    assert_true(json_tape_number(&t, 3) == 1.0);
    assert_true(json_tape_number(&t, 4) == -0.5);
    assert_int_equal(json_tape_type(&t, 5), JSON_TRUE);
    assert_int_equal(json_tape_type(&t, 6), JSON_FALSE);
    assert_int_equal(json_tape_type(&t, 7), JSON_NULL);
    assert_str(json_tape_str(&t, 8), "x\ny", 3);
    assert_true(t.tok[8].unescaped);
    assert_str(json_tape_str(&t, 9), "markup", 6);
    assert_int_equal(json_tape_type(&t, 10), JSON_OBJECT);
    assert_int_equal(json_tape_count(&t, 10), 0);
    assert_int_equal(json_tape_skip(&t, 10), 11);
    assert_int_equal(json_tape_skip(&t, 12), 13);
    assert_str(json_tape_str(&t, 14), "plain", 5);
    assert_false(t.tok[14].unescaped);
    assert_int_equal(t.tok[14].off, (size_t)(strstr(doc, "\"plain\"") - doc));

    /* other types read as empty / zero */
    assert_int_equal(json_tape_str(&t, 3).len, 0);
    assert_true(json_tape_number(&t, 8) == 0);
    assert_int_equal(json_tape_count(&t, 8), 0);

    /* lookups compare unescaped keys */
    assert_int_equal(json_tape_get(&t, 0, STR_LIT("markup")), 10);
    assert_int_equal(json_tape_get(&t, 0, STR_LIT("s")), 14);
    assert_int_equal(json_tape_get(&t, 0, STR_LIT("m")), JSON_TAPE_NONE);
    assert_int_equal(json_tape_get(&t, 0, STR_LIT("")), JSON_TAPE_NONE);
    assert_int_equal(json_tape_get(&t, 2, STR_LIT("a")), JSON_TAPE_NONE); /* an array */
    assert_int_equal(json_tape_get(&t, 99, STR_LIT("a")), JSON_TAPE_NONE);
    json_tape_release(&t);

    /* a scalar at the top is one token */
    json_tape_init(&t);
    assert_int_equal(tape_parse(&t, "\"\\u00e9\\ud83d\\ude00\"", 20, NULL, &je), ERR_OK);
    assert_int_equal(t.n, 1);
    assert_str(json_tape_str(&t, 0), "\xc3\xa9\xf0\x9f\x98\x80", 6);
    json_tape_release(&t);
}

/* A tape is reused: each parse replaces the last, an error leaves no tokens. */
static void test_reuse(void **state)
{
    (void)state;
    struct json_tape t;
    json_tape_init(&t);
    struct json_error je;
    const char *big = "[\"a\\tb\",[1,2,3],{\"k\":\"v\\u0041\"}]";
    assert_int_equal(tape_parse(&t, big, strlen(big), NULL, &je), ERR_OK);
    assert_int_equal(t.n, 9);
    assert_str(json_tape_str(&t, 8), "vA", 2);
    assert_int_equal(tape_parse(&t, "{\"a\":", 5, NULL, &je), ERR_INVALID);
    assert_int_equal(t.n, 0);
    assert_int_equal(tape_parse(&t, "[\"\\/\"]", 6, NULL, &je), ERR_OK);
    assert_int_equal(t.n, 2);
    assert_str(json_tape_str(&t, 1), "/", 1);
    json_tape_release(&t);
    json_tape_release(&t); /* released twice is harmless */
}

/* ---- limits, at and one past ------------------------------------------------------- */

static void test_size_limit(void **state)
{
    (void)state;
    struct json_error je;
    size_t n = hook_limits.max_bytes;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n + 1);
    memcpy(big, "{\"a\":1}", 7);
    assert_int_equal(tape_check(big, n, &hook_limits, &je), ERR_OK);
    assert_int_equal(tape_check(big, n + 1, &hook_limits, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "document too large");
    assert_int_equal(je.offset, n);
    free(big);
    /* the size comes first, even without text */
    assert_int_equal(tape_check(NULL, n + 1, &hook_limits, &je), ERR_LIMIT);
    /* past the tape's own ceiling whatever the limits allow (refused before any byte is read) */
    struct json_limits huge = hook_limits;
    huge.max_bytes = SIZE_MAX;
    assert_int_equal(tape_check("[]", JSON_TAPE_MAX_BYTES + 1, &huge, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "document too large");
    assert_int_equal(je.offset, JSON_TAPE_MAX_BYTES);
    assert_int_equal(tape_check(NULL, 0, &hook_limits, &je), ERR_INVALID);
    assert_string_equal(je.reason, "malformed JSON");
}

static void test_depth_limit(void **state)
{
    (void)state;
    struct json_error je;
    struct text at = {0}, past = {0}, mixed = {0};
    repeat(&at, "[", 64);
    repeat(&at, "]", 64);
    assert_int_equal(tape_check(at.p, at.len, &hook_limits, &je), ERR_OK);
    repeat(&past, "[", 65);
    repeat(&past, "]", 65);
    assert_int_equal(tape_check(past.p, past.len, &hook_limits, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "nesting too deep");
    assert_int_equal(je.offset, 64);
    /* objects count too: 64 levels of {"a": ...} around a scalar pass, 65 do not */
    repeat(&mixed, "{\"a\":", 64);
    put_str(&mixed, "1");
    repeat(&mixed, "}", 64);
    assert_int_equal(tape_check(mixed.p, mixed.len, &hook_limits, &je), ERR_OK);
    mixed.len = 0;
    repeat(&mixed, "{\"a\":", 65);
    put_str(&mixed, "1");
    repeat(&mixed, "}", 65);
    assert_int_equal(tape_check(mixed.p, mixed.len, &hook_limits, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "nesting too deep");
    assert_int_equal(je.offset, 64 * 5);
    free(at.p);
    free(past.p);
    free(mixed.p);

    /* a limit above the hard ceiling is clamped to it */
    struct json_limits lim = hook_limits;
    lim.max_depth = 100000;
    struct text c = {0};
    repeat(&c, "[", JSON_MAX_DEPTH_LIMIT + 1);
    assert_int_equal(tape_check(c.p, c.len, &lim, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "nesting too deep");
    free(c.p);
    /* depth 0: only a scalar */
    lim.max_depth = 0;
    assert_int_equal(tape_check("7", 1, &lim, &je), ERR_OK);
    assert_int_equal(tape_check("[]", 2, &lim, &je), ERR_LIMIT);
}

static void test_string_limit(void **state)
{
    (void)state;
    struct json_error je;
    size_t n = hook_limits.max_string;
    char *big = malloc(n + 8);
    assert_non_null(big);
    big[0] = '"';
    memset(big + 1, 'a', n + 1);
    big[n + 1] = '"';
    assert_int_equal(tape_check(big, n + 2, &hook_limits, &je), ERR_OK);
    big[n + 1] = 'a';
    big[n + 2] = '"';
    assert_int_equal(tape_check(big, n + 3, &hook_limits, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "string too long");
    assert_int_equal(je.offset, 0);

    /* bytes after unescaping: n - 2 plain bytes and \u00e9 (2 bytes) is n, one more is past */
    memcpy(big + n - 1, "\\u00e9\"", 7);
    assert_int_equal(tape_check(big, n + 6, &hook_limits, &je), ERR_OK);
    big[n - 1] = 'a';
    memcpy(big + n, "\\u00e9\"", 7);
    assert_int_equal(tape_check(big, n + 7, &hook_limits, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "string too long");

    /* keys too: as a member name, at and past */
    struct text k = {0};
    put_str(&k, "{\"");
    repeat(&k, "k", n);
    put_str(&k, "\":1}");
    assert_int_equal(tape_check(k.p, k.len, &hook_limits, &je), ERR_OK);
    k.len = 0;
    put_str(&k, "{\"");
    repeat(&k, "k", n + 1);
    put_str(&k, "\":1}");
    assert_int_equal(tape_check(k.p, k.len, &hook_limits, &je), ERR_LIMIT);
    assert_int_equal(je.offset, 1);
    free(k.p);

    /* a string too long and malformed further on is too long; malformed first is malformed */
    struct json_limits lim = hook_limits;
    lim.max_string = 4;
    assert_int_equal(tape_check("\"abcde\\x\"", 9, &lim, &je), ERR_LIMIT);
    assert_int_equal(tape_check("\"abc\\x\"", 7, &lim, &je), ERR_INVALID);
    assert_int_equal(tape_check("\"abcdef", 7, &lim, &je), ERR_LIMIT);
    assert_int_equal(tape_check("\"abcd", 5, &lim, &je), ERR_INVALID);
    assert_int_equal(je.offset, 0);
    free(big);
}

static void test_member_limit(void **state)
{
    (void)state;
    struct json_error je;
    size_t m = hook_limits.max_members;
    struct text a = {0};
    put_str(&a, "[0");
    repeat(&a, ",0", m - 1);
    put_str(&a, "]");
    assert_int_equal(tape_check(a.p, a.len, &hook_limits, &je), ERR_OK);
    a.len -= 1;
    put_str(&a, ",0]");
    assert_int_equal(tape_check(a.p, a.len, &hook_limits, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "too many members");
    assert_int_equal(je.offset, a.len - 2);
    free(a.p);

    /* objects: distinct keys, exactly at the limit and one past */
    struct text o = {0};
    char member[32];
    put_str(&o, "{");
    for (size_t i = 0; i < m; i++) {
        int w = snprintf(member, sizeof(member), "%s\"k%zu\":%zu", i ? "," : "", i, i);
        put(&o, member, (size_t)w);
    }
    put_str(&o, "}");
    struct json_tape t;
    json_tape_init(&t);
    assert_int_equal(tape_parse(&t, o.p, o.len, &hook_limits, &je), ERR_OK);
    assert_int_equal(json_tape_count(&t, 0), m);
    assert_int_equal(json_tape_get(&t, 0, STR_LIT("k99999")), 2 * m);
    json_tape_release(&t);
    o.len -= 1;
    put_str(&o, ",\"extra\":1}");
    assert_int_equal(tape_check(o.p, o.len, &hook_limits, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "too many members");
    free(o.p);
}

static void test_number_limit(void **state)
{
    (void)state;
    struct json_error je;
    struct text at = {0}, past = {0};
    put_str(&at, "[1");
    repeat(&at, "0", 62);
    put_str(&at, "]");
    assert_int_equal(tape_check(at.p, at.len, &hook_limits, &je), ERR_OK);
    put_str(&past, "[1");
    repeat(&past, "0", 63);
    put_str(&past, "]");
    assert_int_equal(tape_check(past.p, past.len, &hook_limits, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "number too long");
    assert_int_equal(je.offset, 1);
    free(at.p);
    free(past.p);
}

/* ---- duplicate keys -------------------------------------------------------------- */

static void expect_dup(const char *text)
{
    struct json_error je;
    if (tape_check(text, strlen(text), &hook_limits, &je) != ERR_INVALID)
        fail_msg("not refused: %s", text);
    assert_string_equal(je.reason, "duplicate key");
    assert_int_equal(je.offset, 0); /* as json_parse: no position */
}

static void expect_ok(const char *text)
{
    struct json_error je;
    if (tape_check(text, strlen(text), &hook_limits, &je) != ERR_OK)
        fail_msg("refused (%s): %s", je.reason, text);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    expect_dup("{\"a\":1,\"a\":2}");
    expect_dup("{\"a\":1,\"b\":{},\"a\":2}");
    expect_dup("[{\"x\":{\"a\":1,\"a\":2}}]");
    /* equal only after unescaping */
    expect_dup("{\"a\":1,\"\\u0061\":2}");
    expect_dup("{\"\\/\":1,\"/\":2}");
    expect_dup("{\"caf\xc3\xa9\":1,\"caf\\u00e9\":2}");
    expect_dup("{\"\xf0\x9f\x98\x80\":1,\"\\ud83d\\ude00\":2}");
    expect_dup("{\"\\n\":1,\"\\u000a\":2}");
    expect_dup("{\"\":1,\"\":2}");
    /* not duplicates: other objects, other case, a prefix, escapes of other characters */
    expect_ok("[{\"a\":1},{\"a\":1}]");
    expect_ok("{\"a\":{\"a\":{\"a\":1}}}");
    expect_ok("{\"a\":1,\"A\":2,\"ab\":3,\"\\u0062\":4}");
    expect_ok("{\"caf\xc3\xa9\":1,\"cafe\":2,\"caf\\u00c9\":3}");

    /* objects past the pairwise size go through the hash table */
    struct text o = {0};
    char member[32];
    put_str(&o, "{");
    for (int i = 0; i < 500; i++) {
        int w = snprintf(member, sizeof(member), "%s\"key_%d\":%d", i ? "," : "", i, i);
        put(&o, member, (size_t)w);
    }
    put_str(&o, "}");
    expect_ok(o.p);
    o.len -= 1;
    put_str(&o, ",\"key_\\u0032\\u00337\":1}"); /* "key_237" */
    expect_dup(o.p);
    free(o.p);
}

/*
 * A copy of json_tape.c's key_hash, only to find keys that land in one slot:
 * enough of them exhaust the probe budget and take the sorting fallback. If
 * the hash there changes, this test still passes but may stop reaching it.
 */
static uint32_t copy_of_key_hash(const char *s, size_t len)
{
    const uint64_t k = 0x9e3779b97f4a7c15u;
    uint64_t h = len * k;
    size_t i = 0;
    for (; len - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    for (; i < len; i++)
        w = (w << 8) | (unsigned char)s[i];
    h = (h ^ w) * k;
    return (uint32_t)(h >> 32);
}

static void test_duplicate_keys_colliding(void **state)
{
    (void)state;
    /* 200 keys: a table of 512 slots; collect keys that all hash to slot 7 */
    enum { N = 200, SLOTS = 512 };
    struct text o = {0};
    char key[32];
    int found = 0;
    put_str(&o, "{");
    for (long i = 0; found < N; i++) {
        int w = snprintf(key, sizeof(key), "c%ld", i);
        if ((copy_of_key_hash(key, (size_t)w) & (SLOTS - 1)) != 7)
            continue;
        char member[48];
        int m = snprintf(member, sizeof(member), "%s\"%s\":0", found ? "," : "", key);
        put(&o, member, (size_t)m);
        found++;
    }
    put_str(&o, "}");
    expect_ok(o.p);
    /* the same keys with one repeated at the end */
    size_t first_end = (size_t)(strchr(o.p + 2, '"') - o.p);
    char dup[48];
    int d = snprintf(dup, sizeof(dup), ",%.*s:1}", (int)first_end, o.p + 1);
    o.len -= 1;
    put(&o, dup, (size_t)d);
    expect_dup(o.p);
    free(o.p);
}

/* ---- numbers ------------------------------------------------------------------------ */

static double number_of(const char *text)
{
    struct json_tape t;
    json_tape_init(&t);
    struct json_error je;
    if (tape_parse(&t, text, strlen(text), NULL, &je) != ERR_OK)
        fail_msg("%s: %s", text, je.reason);
    assert_int_equal(json_tape_type(&t, 0), JSON_NUMBER);
    double d = json_tape_number(&t, 0);
    json_tape_release(&t);
    return d;
}

static void test_numbers(void **state)
{
    (void)state;
    double z = number_of("-0");
    assert_true(z == 0 && signbit(z));
    assert_false(signbit(number_of("0")));
    assert_true(number_of("1E+2") == 100);
    assert_true(number_of("0.1e-7") == strtod("0.1e-7", NULL));
    assert_true(number_of("123456789012345") == 123456789012345.0);
    /* past the exact-integer shortcut, strtod's rounding */
    assert_true(number_of("9007199254740993") == strtod("9007199254740993", NULL));
    assert_true(number_of("-1234567890123456789") == strtod("-1234567890123456789", NULL));
    assert_true(number_of("1e-400") == 0);
    assert_true(signbit(number_of("-1e-400")));

    struct json_error je;
    assert_int_equal(tape_check("[1e400]", 7, NULL, &je), ERR_LIMIT);
    assert_string_equal(je.reason, "number out of range");
    assert_int_equal(je.offset, 0);
    assert_int_equal(tape_check("-1e400", 6, NULL, &je), ERR_LIMIT);
}

/* ---- the same verdicts as json_parse ------------------------------------------------ */

/* Walks a json_parse node and tape token i side by side; returns the index after i. */
static size_t same_values(const struct json *n, const struct json_tape *t, size_t i)
{
    enum json_type type = json_type_of(n);
    assert_int_equal(json_tape_type(t, i), type);
    struct str a;
    double d;
    switch (type) {
    case JSON_STRING:
        assert_true(json_as_str(n, &a));
        assert_true(str_eq(a, json_tape_str(t, i)));
        return i + 1;
    case JSON_NUMBER: {
        assert_true(json_as_double(n, &d));
        double e = json_tape_number(t, i);
        assert_memory_equal(&d, &e, sizeof(d));
        return i + 1;
    }
    case JSON_OBJECT:
    case JSON_ARRAY: {
        assert_int_equal(json_tape_count(t, i), json_count(n));
        size_t k = i + 1;
        for (const struct json *c = json_first(n); c; c = json_next(c)) {
            if (type == JSON_OBJECT) {
                assert_true(str_eq(str_from_cstr(json_key(c)), json_tape_str(t, k)));
                k++;
            }
            k = same_values(c, t, k);
        }
        assert_int_equal(k, json_tape_skip(t, i));
        return k;
    }
    default:
        return i + 1;
    }
}

static void agree(const char *text, size_t len, const struct json_limits *lim)
{
    struct json *doc = NULL;
    struct json_error a, b;
    memset(&a, 0x5a, sizeof(a));
    memset(&b, 0x5a, sizeof(b));
    enum err ea = json_parse(text, len, lim, &doc, &a);
    struct json_tape t;
    json_tape_init(&t);
    enum err eb = json_tape_parse(&t, text, len, lim, &b);
    if (ea != eb || a.offset != b.offset || strcmp(a.reason, b.reason) != 0)
        fail_msg("%.*s: json_parse %d %s at %zu, tape %d %s at %zu", (int)len, text, ea, a.reason,
                 a.offset, eb, b.reason, b.offset);
    if (ea == ERR_OK)
        assert_int_equal(same_values(doc, &t, 0), t.n);
    json_free(doc);
    json_tape_release(&t);
}

static void test_agrees_with_json_parse(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "",
        " ",
        "\t\r\n",
        "{",
        "}",
        "[",
        "]",
        "[1,]",
        "[,1]",
        "{\"a\":}",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":1,}",
        "{\"a\":1 \"b\":2}",
        "[01]",
        "01",
        "-",
        "-01",
        "[1.]",
        "[.5]",
        "[+1]",
        "[1e]",
        "[1e+]",
        "1E-2",
        "[-0.0e0]",
        "tru",
        "nul",
        "fals",
        "truex",
        "[truex]",
        "nulll",
        "[1 2]",
        "\"abc",
        "\"\\x\"",
        "\"\\u12G4\"",
        "\"\\u123\"",
        "\"\\u\"",
        "\"\\",
        "\"a\tb\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud800\\udc00\"",
        "\"\\ud800\\\"",
        "\"\\ud800\\u\"",
        "\"\\uDBFF\\uDFFF\"",
        "\"\xc0\x80\"",
        "\"\xe0\x80\xaf\"",
        "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xf5\x80\x80\x80\"",
        "\"\x80\"",
        "\"\xe2\x82\"",
        "\"\xef\xbb\xbf\"",
        "\xef\xbb\xbf{}",
        "[\xc3\xa9]",
        "{} x",
        "{}}",
        "[1]]",
        "[1] [2]",
        "'a'",
        "[NaN]",
        "[Infinity]",
        "[-Infinity]",
        "[\x01]",
        "{\"\xff\":1}",
        "{\"a\":1,\"a\":2}",
        "[1e400,{\"a\":1,\"a\":2}]",
        "[{\"a\":1,\"a\":2},1e400]",
        "{\"a\":[1e400],\"a\":1}",
        "{\"a\":{\"b\":1,\"b\":2},\"a\":3}",
        "{\"x\":{\"b\":1,\"b\":2},\"y\":{\"c\":1,\"c\":2}}",
        "[{\"b\":1e999},{\"c\":1,\"c\":2}]",
        "{\"x\":1e999} x",
        "[1e400",
        "{\"a\":1,\"a\":2",
        "7",
        "\"s\"",
        "true",
        "null",
        "-0",
        "[[[[]]]]",
        "{\"a\":{\"b\":{\"c\":[{}]}}}",
        "{\"\\u0000\":1}",
        "{\"k\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}",
        "123456789012345678901234567890",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "4.9e-324",
        "2e-324",
        "-2e-324",
        "[0.30000000000000004, 1e22, 1e23, 9007199254740993, -9007199254740993]",
    };
    const struct json_limits small = {64, 3, 4, 3};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        agree(cases[i], strlen(cases[i]), NULL);
        agree(cases[i], strlen(cases[i]), &small);
    }
    /* NUL bytes inside the text */
    agree("{}\0", 3, NULL);
    agree("[\"a\0\"]", 6, NULL);
    agree("\0", 1, NULL);
    /* every prefix of a document with a bit of everything */
    const char *doc = "{\"a\":[1,-2.5e3,true,false,null],\"b\\u00e9\":\"x\\ud83d\\ude00y\","
                      "\"c\":{\"d\":[],\"e\":{}},\"f\":\"\xe2\x82\xac\"}";
    for (size_t n = 0; n <= strlen(doc); n++) {
        agree(doc, n, NULL);
        agree(doc, n, &small);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_string_limit),
        cmocka_unit_test(test_member_limit),
        cmocka_unit_test(test_number_limit),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_duplicate_keys_colliding),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_agrees_with_json_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
