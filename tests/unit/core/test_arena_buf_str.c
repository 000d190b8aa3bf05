/* Unit tests for src/core/arena.c, buf.c and str.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/str.h"

/* ---- arena ---- */

static void test_arena_cap_exact(void **state)
{
    (void)state;
    size_t align = _Alignof(max_align_t);
    struct arena *a = arena_new(4 * align);
    assert_non_null(arena_alloc(a, 2 * align));
    assert_non_null(arena_alloc(a, 2 * align)); /* exactly the cap */
    assert_int_equal(arena_used(a), 4 * align);
    assert_null(arena_alloc(a, 1)); /* one byte past */
    arena_reset(a);
    assert_int_equal(arena_used(a), 0);
    assert_non_null(arena_alloc(a, 4 * align));
    arena_reset(a);
    assert_null(arena_alloc(a, 4 * align + 1));
    arena_free(a);

    /* larger than a block: dedicated blocks, cap still exact */
    a = arena_new(100000);
    char *p = arena_alloc(a, 99984);
    assert_non_null(p);
    memset(p, 1, 99984);
    assert_null(arena_alloc(a, 17));
    assert_non_null(arena_alloc(a, 16));
    arena_free(a);
    arena_free(NULL);
}

static void test_arena_helpers(void **state)
{
    (void)state;
    struct arena *a = arena_new(1024);
    char *s = arena_strndup(a, "hello world", 5);
    assert_string_equal(s, "hello");
    char *f = arena_printf(a, "%s-%d", "x", 42);
    assert_string_equal(f, "x-42");
    int *z = arena_calloc(a, 4, sizeof(int));
    assert_non_null(z);
    for (int i = 0; i < 4; i++)
        assert_int_equal(z[i], 0);
    assert_null(arena_calloc(a, SIZE_MAX / 2, 4)); /* overflow */
    assert_null(arena_strndup(a, "x", SIZE_MAX));
    assert_null(arena_printf(a, "%2000d", 1)); /* over the cap */
    /* alignment */
    for (int i = 0; i < 5; i++) {
        void *p = arena_alloc(a, 3);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
    }
    arena_free(a);
}

static int order[8];
static int n_order;

static void record(void *arg)
{
    order[n_order++] = (int)(intptr_t)arg;
}

static void test_arena_cleanups(void **state)
{
    (void)state;
    struct arena *a = arena_new(4096);
    n_order = 0;
    for (intptr_t i = 1; i <= 3; i++)
        assert_int_equal(arena_defer(a, record, (void *)i), ERR_OK);
    arena_reset(a);
    assert_int_equal(n_order, 3);
    assert_int_equal(order[0], 3);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 1);
    /* reset forgot them: they do not run again on free */
    n_order = 0;
    assert_int_equal(arena_defer(a, record, (void *)7), ERR_OK);
    assert_int_equal(arena_defer(a, record, (void *)8), ERR_OK);
    arena_free(a);
    assert_int_equal(n_order, 2);
    assert_int_equal(order[0], 8);
    assert_int_equal(order[1], 7);

    /* no room for the cleanup record: ERR_LIMIT, nothing registered */
    a = arena_new(16);
    assert_non_null(arena_alloc(a, 16));
    n_order = 0;
    assert_int_equal(arena_defer(a, record, (void *)1), ERR_LIMIT);
    arena_free(a);
    assert_int_equal(n_order, 0);
}

/* ---- buf ---- */

static void test_buf_cap_exact(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(5);
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(buf_append(&b, "abcde", 5), ERR_OK); /* exactly the cap */
    assert_int_equal(buf_putc(&b, 'f'), ERR_LIMIT);       /* one byte past */
    assert_string_equal(buf_cstr(&b), "abcde");           /* unchanged */
    assert_int_equal(b.len, 5);
    buf_reset(&b);
    assert_int_equal(buf_append(&b, "abcdef", 6), ERR_LIMIT);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_printf(&b, "%d", 12345), ERR_OK);
    assert_int_equal(buf_printf(&b, "%d", 6), ERR_LIMIT);
    assert_string_equal(buf_cstr(&b), "12345");
    buf_reset(&b);
    assert_int_equal(buf_puts(&b, "123456"), ERR_LIMIT);
    assert_int_equal(buf_append(&b, NULL, 0), ERR_OK);
    buf_release(&b);

    /* growth across many appends keeps the content */
    buf_init(&b, 100000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_putc(&b, (char)('a' + i % 26)), ERR_OK);
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.data[9999], 'a' + 9999 % 26);
    assert_int_equal(b.data[10000], '\0');
    size_t len = 0;
    char *p = buf_detach(&b, &len);
    assert_int_equal(len, 10000);
    assert_null(b.data);
    free(p);
    p = buf_detach(&b, &len);
    assert_string_equal(p, "");
    assert_int_equal(len, 0);
    free(p);

    /* appends that fit the memory already there are still held to the cap */
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "abc", 3), ERR_OK); /* allocates more than 5 bytes */
    assert_true(b.alloc > 5);
    b.max = 4;
    assert_int_equal(buf_putc(&b, 'd'), ERR_OK); /* exactly the cap */
    assert_int_equal(buf_putc(&b, 'e'), ERR_LIMIT);
    assert_int_equal(buf_append(&b, "e", 1), ERR_LIMIT);
    assert_int_equal(buf_append(&b, "", 0), ERR_OK);
    assert_string_equal(buf_cstr(&b), "abcd");
    assert_int_equal(b.len, 4);
    buf_release(&b);

    /* overflow-sized append */
    buf_init(&b, SIZE_MAX);
    assert_int_equal(buf_putc(&b, 'x'), ERR_OK);
    assert_int_equal(buf_append(&b, "y", SIZE_MAX), ERR_LIMIT);
    buf_wipe(&b);
    assert_null(b.data);
}

/* ---- str ---- */

static void test_str_split(void **state)
{
    (void)state;
    struct str rest = STR_LIT("a,,b,"), tok;
    const char *want[] = {"a", "", "b", ""};
    size_t n = 0;
    while (str_split(&rest, ',', &tok)) {
        assert_true(n < 4);
        assert_true(str_eq_cstr(tok, want[n]));
        n++;
    }
    assert_int_equal(n, 4);
    /* empty input: one empty token */
    rest = STR_LIT("");
    n = 0;
    while (str_split(&rest, ',', &tok)) {
        assert_int_equal(tok.len, 0);
        n++;
    }
    assert_int_equal(n, 1);
    /* no separator: the whole input */
    rest = STR_LIT("abc");
    assert_true(str_split(&rest, ',', &tok));
    assert_true(str_eq_cstr(tok, "abc"));
    assert_false(str_split(&rest, ',', &tok));
    /* only a separator: two empty tokens */
    rest = STR_LIT(",");
    n = 0;
    while (str_split(&rest, ',', &tok))
        n++;
    assert_int_equal(n, 2);
    /* NULL view: nothing */
    rest = STR_NULL;
    assert_false(str_split(&rest, ',', &tok));
}

static void test_str_to_u64(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(str_to_u64(STR_LIT("18446744073709551615"), UINT64_MAX, &v), ERR_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(str_to_u64(STR_LIT("18446744073709551616"), UINT64_MAX, &v), ERR_LIMIT);
    assert_int_equal(str_to_u64(STR_LIT("99999999999999999999"), UINT64_MAX, &v), ERR_LIMIT);
    assert_int_equal(str_to_u64(STR_LIT("000000000000000000001"), UINT64_MAX, &v), ERR_LIMIT);
    assert_int_equal(str_to_u64(STR_LIT("100"), 100, &v), ERR_OK);
    assert_int_equal(v, 100);
    assert_int_equal(str_to_u64(STR_LIT("101"), 100, &v), ERR_LIMIT);
    assert_int_equal(str_to_u64(STR_LIT(""), 100, &v), ERR_INVALID);
    assert_int_equal(str_to_u64(STR_LIT("-1"), 100, &v), ERR_INVALID);
    assert_int_equal(str_to_u64(STR_LIT("+1"), 100, &v), ERR_INVALID);
    assert_int_equal(str_to_u64(STR_LIT(" 1"), 100, &v), ERR_INVALID);
    assert_int_equal(str_to_u64(STR_LIT("1a"), 100, &v), ERR_INVALID);
    assert_int_equal(str_to_u64(STR_LIT("0"), 0, &v), ERR_OK);
    assert_int_equal(v, 0);
}

static void test_str_misc(void **state)
{
    (void)state;
    assert_true(str_eq(STR_LIT(""), STR_NULL));
    assert_true(str_ieq_cstr(STR_LIT("Content-Type"), "content-type"));
    assert_false(str_ieq_cstr(STR_LIT("Content-Typ"), "content-type"));
    assert_true(str_starts_with(STR_LIT("abc"), STR_LIT("ab")));
    assert_false(str_starts_with(STR_LIT("a"), STR_LIT("ab")));
    assert_true(str_istarts_with(STR_LIT("BEARER x"), STR_LIT("bearer ")));
    assert_true(str_ends_with(STR_LIT("file.json"), STR_LIT(".json")));
    assert_false(str_ends_with(STR_LIT("n"), STR_LIT(".json")));
    struct str t = str_trim(STR_LIT(" \t x y \t"));
    assert_true(str_eq_cstr(t, "x y"));
    assert_int_equal(str_trim(STR_LIT("   ")).len, 0);
    assert_int_equal(str_index(STR_LIT("abc"), 'c'), 2);
    assert_int_equal(str_index(STR_LIT("abc"), 'z'), -1);
    assert_int_equal(str_index(STR_NULL, 'z'), -1);
    assert_true(str_is_printable_ascii(STR_LIT(" ~")));
    assert_false(str_is_printable_ascii(STR_LIT("a\x7f")));
    assert_false(str_is_printable_ascii(STR_LIT("\xc3\xa9")));
    assert_true(str_ct_eq(STR_LIT("secret"), STR_LIT("secret")));
    assert_false(str_ct_eq(STR_LIT("secret"), STR_LIT("secreT")));
    assert_false(str_ct_eq(STR_LIT("secret"), STR_LIT("secret2")));
    assert_int_equal(str_from_cstr(NULL).len, 0);
}

static void test_buf_secret_grows_by_copy(void **state)
{
    (void)state;
    struct buf b = BUF_INIT_SECRET(1 << 16);
    char chunk[100];
    memset(chunk, 's', sizeof(chunk));
    for (int i = 0; i < 100; i++) /* many growths: contents survive every copy */
        assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), ERR_OK);
    assert_int_equal(b.len, 10000);
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(b.data[i], 's');
    while (b.len + sizeof(chunk) <= b.max)
        assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), ERR_OK);
    assert_int_equal(buf_append(&b, chunk, b.max - b.len), ERR_OK); /* exactly at the cap */
    assert_int_equal(buf_append(&b, chunk, 1), ERR_LIMIT);          /* one byte over */
    buf_wipe(&b);
    assert_null(b.data);
}

static void test_str_helpers(void **state)
{
    (void)state;
    assert_int_equal(str_hex_digit('0'), 0);
    assert_int_equal(str_hex_digit('f'), 15);
    assert_int_equal(str_hex_digit('F'), 15);
    assert_int_equal(str_hex_digit('g'), -1);

    assert_true(str_is_uuid(STR_LIT("123e4567-e89b-42d3-a456-426614174000")));
    assert_false(str_is_uuid(STR_LIT("123E4567-e89b-42d3-a456-426614174000"))); /* upper case */
    assert_false(str_is_uuid(STR_LIT("123e4567e89b-42d3-a456-426614174000-")));
    assert_false(str_is_uuid(STR_LIT("123e4567-e89b-42d3-a456-42661417400")));   /* one short */
    assert_false(str_is_uuid(STR_LIT("123e4567-e89b-42d3-a456-4266141740000"))); /* one over */

    struct str rest;
    assert_true(str_cut_http_scheme(STR_LIT("https://a.example/x"), false, &rest));
    assert_true(str_eq_cstr(rest, "a.example/x"));
    assert_true(str_cut_http_scheme(STR_LIT("http://h"), false, &rest));
    assert_true(str_eq_cstr(rest, "h"));
    assert_false(str_cut_http_scheme(STR_LIT("HTTPS://h"), false, &rest));
    assert_true(str_cut_http_scheme(STR_LIT("HTTPS://h"), true, &rest));
    assert_false(str_cut_http_scheme(STR_LIT("ftp://h"), true, &rest));
    assert_false(str_cut_http_scheme(STR_LIT("https:/"), true, &rest));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_cap_exact),
        cmocka_unit_test(test_arena_helpers),
        cmocka_unit_test(test_arena_cleanups),
        cmocka_unit_test(test_buf_cap_exact),
        cmocka_unit_test(test_buf_secret_grows_by_copy),
        cmocka_unit_test(test_str_helpers),
        cmocka_unit_test(test_str_split),
        cmocka_unit_test(test_str_to_u64),
        cmocka_unit_test(test_str_misc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
