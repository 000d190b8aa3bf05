/*
 * Unit tests for the activity listings' opaque cursors (api_cursor_encode,
 * api_cursor_decode): round trips at the limits of each field, and the
 * strict decoder refusing what the encoder never writes — another list's
 * cursor, another version, padding, a foreign alphabet, trailing bits,
 * a length one past the limit, lengths that do not add up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"

static void round_trip(char list, int64_t at, const char *key, const char *id)
{
    struct ingest_cursor c = {.at = at}, back;
    snprintf(c.key, sizeof c.key, "%s", key);
    snprintf(c.id, sizeof c.id, "%s", id);
    struct buf out = BUF_INIT(API_CURSOR_MAX_LEN);
    assert_int_equal(api_cursor_encode(list, &c, &out), ERR_OK);
    assert_true(out.len <= API_CURSOR_MAX_LEN);
    for (size_t i = 0; i < out.len; i++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                               buf_cstr(&out)[i]));
    assert_int_equal(api_cursor_decode(list, str_from(buf_cstr(&out), out.len), &back), ERR_OK);
    assert_int_equal(back.at, at);
    assert_string_equal(back.key, key);
    assert_string_equal(back.id, id);
    /* another list does not take it */
    assert_int_equal(
        api_cursor_decode(list == 'd' ? 'r' : 'd', str_from(buf_cstr(&out), out.len), &back),
        ERR_INVALID);
    buf_release(&out);
}

static void test_round_trips(void **state)
{
    (void)state;
    round_trip('d', 1700000000, "", "0123456789abcdef0123456789abcdef");
    round_trip('r', 0, "acme/tools", "github:repo:1");
    round_trip('c', INT64_MAX, "", "x");
    round_trip('r', 5, "a.b.c.d", "gitlab:repo:9.9"); /* dots inside the key and id */
    round_trip('r', 5, "\xc3\xa9t\xc3\xa9/\xe2\x9c\x93", "bitbucket-server:repo:P/s");
    char key[INGEST_MAX_FULL_NAME + 1], id[INGEST_MAX_ID + 1];
    memset(key, 'k', INGEST_MAX_FULL_NAME);
    key[INGEST_MAX_FULL_NAME] = '\0';
    memset(id, 'i', INGEST_MAX_ID);
    id[INGEST_MAX_ID] = '\0';
    round_trip('p', 1, key, id); /* every field at its limit */
}

static void test_end_and_bad_positions_are_not_encoded(void **state)
{
    (void)state;
    struct buf out = BUF_INIT(API_CURSOR_MAX_LEN);
    struct ingest_cursor end = {0};
    assert_int_equal(api_cursor_encode('d', &end, &out), ERR_INVALID);
    struct ingest_cursor neg = {.at = -1, .id = "x"};
    assert_int_equal(api_cursor_encode('d', &neg, &out), ERR_INVALID);
    buf_release(&out);
}

/* base64url without padding of text */
static void enc(const char *text, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(text), o = 0;
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        size_t take = n - i < 3 ? n - i : 3;
        for (size_t k = 0; k <= take; k++)
            out[o++] = a[(v >> (18 - 6 * k)) & 63];
    }
    out[o] = '\0';
}

static void refused_text(const char *text)
{
    char b[4096];
    enc(text, b);
    struct ingest_cursor c;
    enum err e = api_cursor_decode('d', str_from_cstr(b), &c);
    if (e != ERR_INVALID)
        fail_msg("\"%s\" gave %s", text, err_name(e));
    assert_int_equal(c.id[0], '\0');
}

static void refused_raw(const char *b)
{
    struct ingest_cursor c;
    enum err e = api_cursor_decode('d', str_from_cstr(b), &c);
    if (e != ERR_INVALID)
        fail_msg("\"%s\" gave %s", b, err_name(e));
}

static void test_strict_decoding(void **state)
{
    (void)state;
    char ok[64];
    enc("d1.5.0.abc", ok);
    struct ingest_cursor c;
    assert_int_equal(api_cursor_decode('d', str_from_cstr(ok), &c), ERR_OK);
    assert_string_equal(c.id, "abc");

    refused_text("d2.5.0.abc");                 /* another version */
    refused_text("x1.5.0.abc");                 /* another list */
    refused_text("d1.-5.0.abc");                /* a sign */
    refused_text("d1.05.0.abc");                /* a leading zero */
    refused_text("d1..0.abc");                  /* no time */
    refused_text("d1.5.4.abc");                 /* the key takes all: no id */
    refused_text("d1.5.00.abc");                /* a key length written long */
    refused_text("d1.5.513.abc");               /* a key length past the limit */
    refused_text("d1.5.0.");                    /* no id */
    refused_text("d1.9223372036854775808.0.a"); /* past int64 */
    refused_text("d1.5.0");                     /* no id field */
    refused_text("");
    char big[INGEST_MAX_ID + 16];
    snprintf(big, sizeof big, "d1.5.0.");
    memset(big + 7, 'i', INGEST_MAX_ID + 1);
    big[7 + INGEST_MAX_ID + 1] = '\0';
    refused_text(big); /* an id one past its limit */

    char padded[80];
    snprintf(padded, sizeof padded, "%s=", ok);
    refused_raw(padded);            /* padding */
    refused_raw("ZDEuNS4wLmFiYw+"); /* the standard alphabet */
    refused_raw("ZDEuNS4wLmFiY");   /* a dangling character */
    refused_raw("ZDEuNS4wLmFiYx");  /* non-zero trailing bits */
    refused_raw("");
    char long_text[API_CURSOR_MAX_LEN + 2];
    memset(long_text, 'A', API_CURSOR_MAX_LEN + 1);
    long_text[API_CURSOR_MAX_LEN + 1] = '\0';
    refused_raw(long_text); /* one character past the limit */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_end_and_bad_positions_are_not_encoded),
        cmocka_unit_test(test_strict_decoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
