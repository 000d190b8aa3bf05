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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_media_type),        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_cookie_pair_limit), cmocka_unit_test(test_origin),
        cmocka_unit_test(test_token_list),        cmocka_unit_test(test_client_ip),
        cmocka_unit_test(test_xff_hop_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
