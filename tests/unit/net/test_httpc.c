/*
 * Unit tests for net/httpc against a local server thread (tests/common/testhttpd):
 * a POST arrives with its headers and body; private, loopback, link-local, ULA,
 * IPv4-mapped and unspecified targets are refused without a connection unless the
 * policy allows them, also when a name ("localhost") resolves to them; redirects are
 * not followed; proxy variables do not apply; timeouts; the response cap at the limit
 * and one byte past it (with and without Content-Length); URL, header and method
 * checks with their limits; the address table and the registration-time URL check.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/testhttpd.h"
#include "net/httpc.h"

static const struct httpc_policy allow_private = {.allow_private = true};
static const struct httpc_policy deny_private = {.allow_private = false};

struct fixture {
    struct testhttpd srv;
    struct arena *a;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f || !testhttpd_start(&f->srv))
        return -1;
    f->a = arena_new(8u << 20);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    testhttpd_stop(&f->srv);
    arena_free(f->a);
    free(f);
    return 0;
}

static int connections(struct fixture *f)
{
    pthread_mutex_lock(&f->srv.lock);
    int n = f->srv.connections;
    pthread_mutex_unlock(&f->srv.lock);
    return n;
}

/* A request to url; everything else default. */
static enum err send_url(struct fixture *f, const char *url, const struct httpc_policy *p,
                         struct httpc_response *out, char *why)
{
    struct httpc_request r = {
        .method = "GET", .url = str_from_cstr(url), .timeout_ms = 5000, .policy = p};
    return httpc_send(&r, f->a, out, why, 128);
}

static void test_post_roundtrip(void **state)
{
    struct fixture *f = *state;
    char url[128], why[128], v[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook?x=1", f->srv.port);
    const char *headers[] = {"Content-Type: application/json", "webhook-id: msg_1", NULL};
    struct httpc_request r = {.method = "POST",
                              .url = str_from_cstr(url),
                              .headers = headers,
                              .body = STR_LIT("{\"a\":1}"),
                              .timeout_ms = 5000,
                              .policy = &allow_private};
    struct httpc_response out;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_OK);
    assert_int_equal(out.status, 200);
    assert_true(str_eq_cstr(out.body, "ok"));
    assert_string_equal(out.remote_ip, "127.0.0.1");
    assert_true(out.latency_ms >= 0);
    assert_non_null(strstr(f->srv.head, "POST /hook?x=1 HTTP/1.1\r\n"));
    assert_string_equal(f->srv.body, "{\"a\":1}");
    assert_true(testhttpd_header(&f->srv, "webhook-id", v, sizeof v));
    assert_string_equal(v, "msg_1");
    assert_true(testhttpd_header(&f->srv, "Content-Type", v, sizeof v));
    assert_string_equal(v, "application/json");
    assert_false(testhttpd_header(&f->srv, "Expect", v, sizeof v));

    /* the status is the caller's to judge */
    f->srv.status = 500;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_OK);
    assert_int_equal(out.status, 500);

    /* GET sends no body */
    f->srv.status = 204;
    f->srv.reply = "";
    r.method = "GET";
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_OK);
    assert_int_equal(out.status, 204);
    assert_int_equal(out.body.len, 0);
    assert_non_null(strstr(f->srv.head, "GET /hook?x=1 HTTP/1.1\r\n"));
}

static void test_private_targets_refused(void **state)
{
    struct fixture *f = *state;
    const char *hosts[] = {"127.0.0.1",
                           "127.0.0.2",
                           "[::1]",
                           "10.0.0.1",
                           "169.254.169.254",
                           "192.168.1.1",
                           "172.16.0.1",
                           "100.64.0.1",
                           "[fc00::1]",
                           "[fd12::1]",
                           "[fe80::1]",
                           "[::ffff:127.0.0.1]",
                           "[::ffff:10.0.0.1]",
                           "0.0.0.0",
                           "[::]",
                           "127.1",
                           "2130706433",
                           "0x7f.0.0.1",
                           "localhost",
                           "224.0.0.1",
                           "[ff02::1]",
                           "[64:ff9b::7f00:1]",
                           "[2002:7f00:1::1]"};
    int before = connections(f);
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        char url[128], why[128];
        snprintf(url, sizeof url, "http://%s:%d/", hosts[i], f->srv.port);
        struct httpc_response out;
        print_message("# %s\n", url);
        assert_int_equal(send_url(f, url, NULL, &out, why), ERR_FORBIDDEN);
        assert_string_equal(why, "address refused by the outbound policy");
        assert_int_equal(send_url(f, url, &deny_private, &out, why), ERR_FORBIDDEN);
    }
    /* refused before any connection was made */
    assert_int_equal(connections(f), before);
}

static void test_name_resolving_to_loopback(void **state)
{
    struct fixture *f = *state;
    char url[128], why[128];
    snprintf(url, sizeof url, "http://localhost:%d/", f->srv.port);
    struct httpc_response out;
    int before = connections(f);
    /* refused at connect time, for every address the name resolved to */
    assert_int_equal(send_url(f, url, NULL, &out, why), ERR_FORBIDDEN);
    assert_int_equal(connections(f), before);
    /* the same name is reachable when the operator allows private targets */
    assert_int_equal(send_url(f, url, &allow_private, &out, why), ERR_OK);
    assert_int_equal(out.status, 200);
    assert_int_equal(connections(f), before + 1);
}

static void test_redirect_not_followed(void **state)
{
    struct fixture *f = *state;
    char url[128], target[128], why[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/a", f->srv.port);
    snprintf(target, sizeof target, "http://127.0.0.1:%d/b", f->srv.port);
    f->srv.status = 302;
    f->srv.location = target;
    f->srv.reply = "";
    int before = connections(f);
    struct httpc_response out;
    assert_int_equal(send_url(f, url, &allow_private, &out, why), ERR_OK);
    assert_int_equal(out.status, 302);
    assert_int_equal(connections(f), before + 1);
    assert_non_null(strstr(f->srv.head, "GET /a "));
}

static void test_proxy_environment_ignored(void **state)
{
    struct fixture *f = *state;
    /* a proxy nobody listens on: any use of it would fail the request */
    setenv("http_proxy", "http://127.0.0.1:9", 1);
    setenv("HTTPS_PROXY", "http://127.0.0.1:9", 1);
    setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
    unsetenv("NO_PROXY");
    unsetenv("no_proxy");
    char url[128], why[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/p", f->srv.port);
    struct httpc_response out;
    enum err e = send_url(f, url, &allow_private, &out, why);
    unsetenv("http_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("ALL_PROXY");
    assert_int_equal(e, ERR_OK);
    assert_int_equal(out.status, 200);
    assert_non_null(strstr(f->srv.head, "GET /p "));
}

static void test_timeout(void **state)
{
    struct fixture *f = *state;
    f->srv.delay_ms = 1500;
    char url[128], why[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", f->srv.port);
    struct httpc_request r = {
        .method = "GET", .url = str_from_cstr(url), .timeout_ms = 200, .policy = &allow_private};
    struct httpc_response out;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_TIMEOUT);
    assert_string_equal(why, "timed out");
    assert_true(out.latency_ms >= 150 && out.latency_ms < 1400);
}

static void check_cap(struct fixture *f, bool no_length)
{
    char url[128], why[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", f->srv.port);
    struct httpc_request r = {.method = "GET",
                              .url = str_from_cstr(url),
                              .timeout_ms = 5000,
                              .max_response = 1000,
                              .policy = &allow_private};
    struct httpc_response out;
    f->srv.reply = NULL;
    f->srv.no_length = no_length;
    f->srv.body_len = 1000;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_OK);
    assert_int_equal(out.body.len, 1000);
    assert_int_equal(out.body.ptr[999], 'x');
    f->srv.body_len = 1001;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_LIMIT);
    assert_string_equal(why, "response body over the limit");
    assert_int_equal(out.status, 200); /* the status line had arrived */
}

static void test_response_cap(void **state)
{
    check_cap(*state, false);
    check_cap(*state, true);
}

static void test_response_default_cap(void **state)
{
    struct fixture *f = *state;
    char url[128], why[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", f->srv.port);
    f->srv.reply = NULL;
    f->srv.body_len = HTTPC_MAX_RESPONSE;
    struct httpc_response out;
    assert_int_equal(send_url(f, url, &allow_private, &out, why), ERR_OK);
    assert_int_equal(out.body.len, HTTPC_MAX_RESPONSE);
    f->srv.body_len = HTTPC_MAX_RESPONSE + 1;
    assert_int_equal(send_url(f, url, &allow_private, &out, why), ERR_LIMIT);
}

static void test_unreachable(void **state)
{
    struct fixture *f = *state;
    /* a port nobody listens on (the server's port after it stopped is not safe to use) */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    char url[128], why[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    struct httpc_response out;
    assert_int_equal(send_url(f, url, &allow_private, &out, why), ERR_UNAVAILABLE);
    close(fd);
}

static void test_bad_requests(void **state)
{
    struct fixture *f = *state;
    char why[128];
    struct httpc_response out;
    const char *bad[] = {"",
                         "ftp://example.com/",
                         "file:///etc/passwd",
                         "gopher://example.com/",
                         "dict://127.0.0.1:11211/",
                         "example.com/hook",
                         "//example.com/hook",
                         "http://",
                         "http:///path",
                         "http:\\\\example.com/",
                         "http://example.com\\@127.0.0.1/",
                         "http://user:pw@example.com/",
                         "http://user@example.com/",
                         "https://:pw@example.com/",
                         "http://exa mple.com/",
                         "http://example.com/\x01",
                         "http://example.com/\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        print_message("# %s\n", bad[i]);
        assert_int_equal(send_url(f, bad[i], &allow_private, &out, why), ERR_INVALID);
        assert_int_equal(httpc_url_check(str_from_cstr(bad[i]), &allow_private, why, sizeof why),
                         ERR_INVALID);
    }

    /* the URL at its limit and one byte past it */
    char url[HTTPC_MAX_URL + 2];
    int n = snprintf(url, sizeof url, "http://127.0.0.1:%d/", f->srv.port);
    memset(url + n, 'a', sizeof url - (size_t)n);
    url[HTTPC_MAX_URL] = '\0';
    assert_int_equal(send_url(f, url, &allow_private, &out, why), ERR_OK);
    url[HTTPC_MAX_URL] = 'a';
    url[HTTPC_MAX_URL + 1] = '\0';
    assert_int_equal(send_url(f, url, &allow_private, &out, why), ERR_LIMIT);
    assert_int_equal(httpc_url_check(str_from_cstr(url), &allow_private, why, sizeof why),
                     ERR_LIMIT);

    snprintf(url, sizeof url, "http://127.0.0.1:%d/", f->srv.port);
    struct httpc_request r = {
        .method = "PUT", .url = str_from_cstr(url), .timeout_ms = 5000, .policy = &allow_private};
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_INVALID);
    r.method = NULL;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_INVALID);
    r.method = "GET";
    r.timeout_ms = 0;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_INVALID);
    r.timeout_ms = HTTPC_MAX_TIMEOUT_MS + 1;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_INVALID);
    r.timeout_ms = 5000;

    /* header lines: CR/LF, no colon, a name that is not a token */
    const char *crlf[] = {"X-A: b\r\nX-Injected: 1", NULL};
    const char *nocolon[] = {"X-A b", NULL};
    const char *badname[] = {"X A: b", NULL};
    r.headers = crlf;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_INVALID);
    r.headers = nocolon;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_INVALID);
    r.headers = badname;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_INVALID);

    /* the number of header lines at the limit and one past it */
    const char *many[HTTPC_MAX_HEADERS + 2];
    char names[HTTPC_MAX_HEADERS + 1][32];
    for (size_t i = 0; i <= HTTPC_MAX_HEADERS; i++) {
        snprintf(names[i], sizeof names[i], "X-H%zu: v", i);
        many[i] = names[i];
    }
    many[HTTPC_MAX_HEADERS] = NULL;
    r.headers = many;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_OK);
    many[HTTPC_MAX_HEADERS] = names[HTTPC_MAX_HEADERS];
    many[HTTPC_MAX_HEADERS + 1] = NULL;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_LIMIT);

    /* one header line at its limit and one byte past it */
    static char line[HTTPC_MAX_HEADER_LINE + 2];
    memcpy(line, "X-L: ", 5);
    memset(line + 5, 'v', sizeof line - 5);
    line[HTTPC_MAX_HEADER_LINE] = '\0';
    const char *one[] = {line, NULL};
    r.headers = one;
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_OK);
    line[HTTPC_MAX_HEADER_LINE] = 'v';
    line[HTTPC_MAX_HEADER_LINE + 1] = '\0';
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_LIMIT);
    r.headers = NULL;

    /* the request body at its limit and one byte past it */
    char *big = malloc(HTTPC_MAX_REQUEST_BODY + 1);
    assert_non_null(big);
    memset(big, 'b', HTTPC_MAX_REQUEST_BODY + 1);
    r.method = "POST";
    r.body = str_from(big, HTTPC_MAX_REQUEST_BODY + 1);
    assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_LIMIT);
    r.body = str_from(big, HTTPC_MAX_REQUEST_BODY);
    f->srv.reply = "ok";
    /* the test server keeps at most TESTHTTPD_MAX_BODY: send to it only what it reads */
    if (HTTPC_MAX_REQUEST_BODY <= TESTHTTPD_MAX_BODY) {
        assert_int_equal(httpc_send(&r, f->a, &out, why, sizeof why), ERR_OK);
        assert_int_equal(f->srv.body_got, HTTPC_MAX_REQUEST_BODY);
    }
    free(big);
}

struct addr_case {
    const char *text;
    bool allowed;
};

static void test_addr_table(void **state)
{
    (void)state;
    static const struct addr_case cases[] = {
        {"8.8.8.8", true},
        {"1.1.1.1", true},
        {"9.255.255.255", true},
        {"11.0.0.0", true},
        {"100.63.255.255", true},
        {"100.128.0.0", true},
        {"172.15.255.255", true},
        {"172.32.0.0", true},
        {"192.169.0.0", true},
        {"223.255.255.255", true},
        {"0.0.0.0", false},
        {"0.1.2.3", false},
        {"10.0.0.1", false},
        {"10.255.255.255", false},
        {"100.64.0.1", false},
        {"100.127.255.255", false},
        {"127.0.0.1", false},
        {"127.255.255.254", false},
        {"169.254.169.254", false},
        {"172.16.0.0", false},
        {"172.31.255.255", false},
        {"192.0.0.8", false},
        {"192.0.2.1", false},
        {"192.168.0.1", false},
        {"198.18.0.1", false},
        {"198.19.255.255", false},
        {"198.51.100.7", false},
        {"203.0.113.9", false},
        {"224.0.0.1", false},
        {"239.255.255.255", false},
        {"240.0.0.1", false},
        {"255.255.255.255", false},
        {"2606:4700:4700::1111", true},
        {"2a00:1450:4001::200e", true},
        {"::ffff:8.8.8.8", true},
        {"64:ff9b::808:808", true},
        {"2002:808:808::1", true},
        {"::", false},
        {"::1", false},
        {"::127.0.0.1", false},
        {"::ffff:127.0.0.1", false},
        {"::ffff:10.1.2.3", false},
        {"::ffff:169.254.169.254", false},
        {"64:ff9b::a00:1", false},
        {"64:ff9b:1::1", false},
        {"2002:a00:1::1", false},
        {"2002:7f00:1::", false},
        {"100::1", false},
        {"2001::1", false},
        {"2001:db8::1", false},
        {"3fff::1", false},
        {"fc00::1", false},
        {"fdff:ffff::1", false},
        {"fe80::1", false},
        {"febf::1", false},
        {"fec0::1", false},
        {"ff02::1", false},
        {"ff0e::1", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char a[16];
        int family = strchr(cases[i].text, ':') ? AF_INET6 : AF_INET;
        assert_int_equal(inet_pton(family, cases[i].text, a), 1);
        print_message("# %s\n", cases[i].text);
        assert_int_equal(httpc_addr_allowed(NULL, family, a), cases[i].allowed);
        assert_int_equal(httpc_addr_allowed(&deny_private, family, a), cases[i].allowed);
        assert_true(httpc_addr_allowed(&allow_private, family, a));
    }
    unsigned char any[16] = {0};
    assert_false(httpc_addr_allowed(&allow_private, AF_UNIX, any));
}

static void test_url_check(void **state)
{
    (void)state;
    char why[128];
    const char *refused[] = {
        "http://127.0.0.1/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://0/",
        "http://10.1.2.3:8080/x",
        "https://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[fe80::1%25eth0]/",
        "http://[fd00::1]/",
        "http://localhost/",
        "http://LOCALHOST:8080/",
        "http://a.b.localhost./",
        "http://192.168.0.1/",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        print_message("# %s\n", refused[i]);
        assert_int_equal(httpc_url_check(str_from_cstr(refused[i]), NULL, why, sizeof why),
                         ERR_FORBIDDEN);
        assert_int_equal(
            httpc_url_check(str_from_cstr(refused[i]), &allow_private, why, sizeof why), ERR_OK);
    }
    const char *fine[] = {"https://example.com/hook", "http://8.8.8.8/", "HTTPS://Example.COM",
                          "https://[2606:4700::1111]:8443/x?y=1", "https://localhost.example/"};
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        print_message("# %s\n", fine[i]);
        assert_int_equal(httpc_url_check(str_from_cstr(fine[i]), NULL, why, sizeof why), ERR_OK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_post_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_targets_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_resolving_to_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirect_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_environment_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_default_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test(test_addr_table),
        cmocka_unit_test(test_url_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
