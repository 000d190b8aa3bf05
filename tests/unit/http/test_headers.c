/* Unit tests for http/headers and http/netaddr: parsers of untrusted header values. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http/headers.h"
#include "http/netaddr.h"

static void test_media_type(void **state)
{
    (void)state;
    static const char *const json_only[] = {"application/json", NULL};
    assert_true(http_media_type_in(STR_LIT("application/json"), json_only));
    assert_true(http_media_type_in(STR_LIT("Application/JSON; charset=utf-8"), json_only));
    assert_true(http_media_type_in(STR_LIT("  application/json  ;x=y"), json_only));
    assert_false(http_media_type_in(STR_LIT("application/jsonx"), json_only));
    assert_false(http_media_type_in(STR_LIT("text/plain"), json_only));
    assert_false(http_media_type_in(STR_NULL, json_only));
}

static void test_cookie(void **state)
{
    (void)state;
    struct str v;
    assert_true(http_cookie_get(STR_LIT("a=1; __Host-sid=abc; b=2"), "__Host-sid", &v));
    assert_true(str_eq_cstr(v, "abc"));
    assert_true(http_cookie_get(STR_LIT("x=\"quoted\""), "x", &v));
    assert_true(str_eq_cstr(v, "quoted"));
    assert_false(http_cookie_get(STR_LIT("ab=1"), "a", &v));
    assert_false(http_cookie_get(STR_LIT("=1; ;;"), "a", &v));
    assert_true(http_cookie_get(STR_LIT("a="), "a", &v));
    assert_int_equal(v.len, 0);
}

static void test_cookie_pair_limit(void **state)
{
    (void)state;
    /* the wanted cookie sits right after HEADERS_MAX_COOKIES others: not examined */
    struct buf b = BUF_INIT(4096);
    for (int i = 0; i < HEADERS_MAX_COOKIES; i++)
        assert_int_equal(buf_printf(&b, "c%d=1; ", i), ERR_OK);
    assert_int_equal(buf_puts(&b, "want=yes"), ERR_OK);
    struct str v;
    assert_false(http_cookie_get(str_from(b.data, b.len), "want", &v));
    buf_release(&b);
}

static void test_origin(void **state)
{
    (void)state;
    assert_true(http_origin_valid(STR_LIT("https://app.example.com")));
    assert_true(http_origin_valid(STR_LIT("http://localhost:8080")));
    assert_true(http_origin_valid(STR_LIT("http://[::1]:3000")));
    assert_false(http_origin_valid(STR_LIT("null")));
    assert_false(http_origin_valid(STR_LIT("https://app.example.com/")));
    assert_false(http_origin_valid(STR_LIT("https://app.example.com:0")));
    assert_false(http_origin_valid(STR_LIT("https://app.example.com:65536")));
    assert_false(http_origin_valid(STR_LIT("ftp://example.com")));
    assert_false(http_origin_valid(STR_LIT("https://")));
    assert_false(http_origin_valid(STR_LIT("https://a b")));
    assert_false(http_origin_valid(STR_LIT("https://user@host")));
    assert_false(http_origin_valid(STR_LIT("https://.example")));

    char big[HEADERS_MAX_ORIGIN + 2];
    memcpy(big, "https://", 8);
    memset(big + 8, 'a', sizeof(big) - 9);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(strlen(big), HEADERS_MAX_ORIGIN + 1);
    assert_false(http_origin_valid(str_from_cstr(big)));
    big[HEADERS_MAX_ORIGIN] = '\0'; /* exactly at the limit */
    assert_true(http_origin_valid(str_from_cstr(big)));
}

static void test_token_list(void **state)
{
    (void)state;
    assert_true(http_token_list_contains(STR_LIT("keep-alive, Upgrade"), "upgrade"));
    assert_false(http_token_list_contains(STR_LIT("keep-alive"), "close"));
}

static struct config_cidr cidr(const char *text)
{
    struct config_cidr c;
    assert_int_equal(config_parse_cidr(text, strlen(text), &c), ERR_OK);
    return c;
}

static const char *client(const char *peer, const char *xff, const struct config_cidr *t, size_t n)
{
    static char out[HTTP_IP_LEN];
    struct netaddr p;
    assert_true(netaddr_parse(str_from_cstr(peer), &p));
    netaddr_client_ip(&p, xff ? str_from_cstr(xff) : STR_NULL, t, n, out);
    return out;
}

static void test_client_ip(void **state)
{
    (void)state;
    struct config_cidr trusted[2] = {cidr("127.0.0.1/32"), cidr("10.0.0.0/8")};
    /* untrusted peer: header ignored */
    assert_string_equal(client("198.51.100.9", "203.0.113.7", trusted, 2), "198.51.100.9");
    /* no trusted proxies configured: header ignored */
    assert_string_equal(client("127.0.0.1", "203.0.113.7", trusted, 0), "127.0.0.1");
    /* trusted peer: rightmost untrusted hop wins, spoofed left part ignored */
    assert_string_equal(client("127.0.0.1", "1.2.3.4, 203.0.113.7, 10.1.2.3", trusted, 2),
                        "203.0.113.7");
    /* garbage stops the walk at the last address we can vouch for */
    assert_string_equal(client("127.0.0.1", "203.0.113.7, evil<script>", trusted, 2), "127.0.0.1");
    assert_string_equal(client("127.0.0.1", "", trusted, 2), "127.0.0.1");
    /* all hops trusted: the leftmost is the client */
    assert_string_equal(client("127.0.0.1", "10.0.0.1, 10.0.0.2", trusted, 2), "10.0.0.1");
    /* IPv6 and v4-mapped */
    assert_string_equal(client("::ffff:127.0.0.1", "2001:db8::1", trusted, 2), "2001:db8::1");
}

static void test_xff_hop_limit(void **state)
{
    (void)state;
    struct config_cidr trusted[1] = {cidr("10.0.0.0/8")};
    struct buf b = BUF_INIT(8192);
    assert_int_equal(buf_puts(&b, "203.0.113.7"), ERR_OK);
    for (int i = 0; i < NETADDR_MAX_XFF_HOPS; i++)
        assert_int_equal(buf_puts(&b, ", 10.0.0.1"), ERR_OK);
    /* the real client sits one hop past the examined window: not reached */
    assert_string_equal(client("10.9.9.9", buf_cstr(&b), trusted, 1), "10.0.0.1");
    buf_release(&b);
}

/* The token of "Bearer <token>", or NULL (a sentinel view must stay untouched on refusal). */
static const char *bearer(const char *value, size_t len, char *out, size_t cap)
{
    static const char sentinel[] = "untouched";
    struct str tok = STR_LIT(sentinel);
    if (!http_authorization_bearer(str_from(value, len), &tok)) {
        assert_ptr_equal(tok.ptr, sentinel);
        return NULL;
    }
    /* a view into the value, reaching its end */
    assert_true(tok.ptr > value && tok.ptr + tok.len == value + len);
    assert_true(tok.len < cap);
    memcpy(out, tok.ptr, tok.len);
    out[tok.len] = '\0';
    return out;
}

#define BEARER(lit) bearer((lit), sizeof(lit) - 1, out, sizeof(out))

static void test_bearer(void **state)
{
    (void)state;
    char out[HEADERS_MAX_BEARER + 1];
    assert_string_equal(BEARER("Bearer abc.DEF-ghi_jkl"), "abc.DEF-ghi_jkl");
    assert_string_equal(BEARER("Bearer a~b+c/d=="), "a~b+c/d==");
    assert_string_equal(BEARER("Bearer x"), "x");
    /* the scheme in any case */
    assert_string_equal(BEARER("bearer abc"), "abc");
    assert_string_equal(BEARER("BEARER abc"), "abc");
    assert_string_equal(BEARER("bEaReR abc"), "abc");
    /* 1*SP: two spaces are allowed by the grammar */
    assert_string_equal(BEARER("Bearer  abc"), "abc");

    /* missing token */
    assert_null(BEARER(""));
    assert_null(BEARER("Bearer"));
    assert_null(BEARER("Bearer "));
    assert_null(BEARER("Bearer    "));
    assert_null(BEARER("Bearer ="));
    assert_null(BEARER("Bearer =abc"));
    /* whitespace other than the separating spaces */
    assert_null(BEARER("Bearer abc "));
    assert_null(BEARER("Bearer abc\t"));
    assert_null(BEARER("Bearer abc\r\n"));
    assert_null(BEARER(" Bearer abc"));
    assert_null(BEARER("Bearer\tabc"));
    assert_null(BEARER("Bearer \tabc"));
    assert_null(BEARER("Bearerabc"));
    /* a second credential or scheme */
    assert_null(BEARER("Bearer abc, Basic dXNlcjpwYXNz"));
    assert_null(BEARER("Bearer abc,def"));
    assert_null(BEARER("Basic dXNlcjpwYXNz, Bearer abc"));
    assert_null(BEARER("Bearer abc def"));
    assert_null(BEARER("Bearer Bearer abc"));
    /* other schemes and auth-params */
    assert_null(BEARER("Basic abc"));
    assert_null(BEARER("Bear abc"));
    assert_null(BEARER("Bearer realm=\"x\""));
    assert_null(BEARER("Bearer abc=def"));
    assert_null(BEARER("Bearer abc==d"));
    /* characters outside token68 */
    static const char bad[] = {'"', ',',  ';', ':',  '@',    '!',    '#',   '%',
                               '*', '\\', '<', '\0', '\x7f', '\x80', '\xff'};
    for (size_t i = 0; i < sizeof(bad); i++) {
        char v[] = "Bearer abXcd";
        v[9] = bad[i];
        assert_null(bearer(v, sizeof(v) - 1, out, sizeof(out)));
    }
    /* a NULL view */
    struct str tok = STR_NULL;
    assert_false(http_authorization_bearer(STR_NULL, &tok));
}

static void test_bearer_limit(void **state)
{
    (void)state;
    static char v[HEADERS_MAX_BEARER + 2];
    char out[HEADERS_MAX_BEARER + 1];
    memcpy(v, "Bearer ", 7);
    memset(v + 7, 'A', sizeof(v) - 7);
    /* exactly at the cap */
    assert_non_null(bearer(v, HEADERS_MAX_BEARER, out, sizeof(out)));
    assert_int_equal(strlen(out), HEADERS_MAX_BEARER - 7);
    /* one byte past it */
    assert_null(bearer(v, HEADERS_MAX_BEARER + 1, out, sizeof(out)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_media_type),        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_cookie_pair_limit), cmocka_unit_test(test_origin),
        cmocka_unit_test(test_token_list),        cmocka_unit_test(test_client_ip),
        cmocka_unit_test(test_xff_hop_limit),     cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_bearer_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
