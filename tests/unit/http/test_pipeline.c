/*
 * Unit tests for http/pipeline: every stage's outcome on a request built in
 * memory (no sockets): limits, routing, body checks, error shape, CORS and the
 * security headers on every response.
 *
 * The Bearer tests run the same pipeline with real credentials: a SQLite
 * database in a fresh /tmp/shiplog-pipeline-XXXXXX, the accounts core and
 * the token keys, one verified user with a live session cookie, an access
 * token and an API key (keys:write). It checks what only real credentials
 * can show: a Bearer call is exempt from the cross-site checks because it
 * never reads the cookie, a cookie call is not, a console page never takes
 * a Bearer header, and with both the Bearer decides.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* A route with only the fields these tests set (the rest zero); its
 * operation_id is made unique from the line it is on. */
#define OP_ID_(line) "op" #line
#define OP_ID(line)  OP_ID_(line)
#define ROUTE(m, p, h, a, b, s)                                                                    \
    {                                                                                              \
        .method = (m), .pattern = (p), .handler = (h), .access = (a), .body = (b), .summary = (s), \
        .permission = (a) == ROUTE_AUTHENTICATED ? AUTHZ_ACCOUNT : AUTHZ_PUBLIC,                   \
        .operation_id = OP_ID(__LINE__), .responses = {                                            \
            {.status = 200, .description = "OK"}                                                   \
        }                                                                                          \
    }

#include "../../common/testdb.h"
#include "crypto/password.h"
#include "http/csrf.h"
#include "http/pipeline.h"
#include "secrets/secrets.h"

static enum err ok_handler(struct http_request *req, struct http_response *resp)
{
    return http_resp_body(req, resp, 200, "application/json", "{}", 2);
}

static const char static_doc[] = "{\"doc\":true}";

/* sets a static body, then fails: the error body must not be sent as static */
static enum err static_then_fails(struct http_request *req, struct http_response *resp)
{
    http_resp_static(resp, 200, "application/json", static_doc, sizeof(static_doc) - 1);
    return http_fail(req, ERR_DB, "late failure");
}

static enum err db_fails(struct http_request *req, struct http_response *resp)
{
    return http_fail(req, ERR_DB, "relation \"secret_table\" does not exist at /srv/db");
}

static const char *const json_types[] = {"application/json", NULL};
static const struct schema_field item_fields[] = {
    {.name = "name", .kind = SCHEMA_STRING, .required = true, .max_len = 8},
};
static const struct schema item_schema = {item_fields, 1, false};
static const struct body_spec json_body = {
    .content_types = json_types, .json = true, .schema = &item_schema};

/* a console page: its body is the form token, as a real page embeds it */
static enum err token_page(struct http_request *req, struct http_response *resp)
{
    char t[CSRF_TOKEN_LEN + 1];
    enum err e = csrf_token(req, resp, t);
    return e ? e : http_resp_body(req, resp, 200, "text/html", t, CSRF_TOKEN_LEN);
}

static enum err console_fails(struct http_request *req, struct http_response *resp)
{
    return http_fail_public(req, ERR_INVALID, "bad_thing", "A bad thing.");
}

/* app->console_error for these tests: records what it was given */
static enum err last_console_error;
static enum err console_error_page(struct http_request *req, struct http_response *resp, enum err e)
{
    last_console_error = e;
    return http_resp_body(req, resp, err_http_status(e), "text/html", "<p>page</p>", 11);
}

static const char *const form_types[] = {HTTP_FORM_TYPE, NULL};
static const struct body_spec form_body = {.content_types = form_types, .max_bytes = 1024};

/* Says who called: "session|token|key <user id>", so a test sees which credential decided. */
static enum err whoami(struct http_request *req, struct http_response *resp)
{
    const struct http_principal *pr = &req->principal;
    const char *kind = pr->key ? "key" : pr->token ? "token" : "session";
    char *body = arena_printf(req->arena, "%s %s", kind, pr->user.user_id);
    return body ? http_resp_body(req, resp, 200, "text/plain", body, strlen(body)) : ERR_LIMIT;
}

static const struct route routes[] = {
    {.method = HTTP_GET,
     .pattern = "/page",
     .handler = token_page,
     .access = ROUTE_PUBLIC,
     .permission = AUTHZ_PUBLIC,
     .summary = "",
     .console = true},
    {.method = HTTP_POST,
     .pattern = "/form",
     .handler = ok_handler,
     .access = ROUTE_PUBLIC,
     .permission = AUTHZ_PUBLIC,
     .body = &form_body,
     .summary = "",
     .console = true},
    {.method = HTTP_GET,
     .pattern = "/page-fails",
     .handler = console_fails,
     .access = ROUTE_PUBLIC,
     .permission = AUTHZ_PUBLIC,
     .summary = "",
     .console = true},
    ROUTE(HTTP_GET, "/ok", ok_handler, ROUTE_PUBLIC, NULL, "ok"),
    ROUTE(HTTP_POST, "/items", ok_handler, ROUTE_PUBLIC, &json_body, "items"),
    ROUTE(HTTP_GET, "/broken", db_fails, ROUTE_PUBLIC, NULL, "broken"),
    ROUTE(HTTP_GET, "/static-broken", static_then_fails, ROUTE_PUBLIC, NULL, "static broken"),
    ROUTE(HTTP_GET, "/feed/{tenant}", ok_handler, ROUTE_DELIVERY, NULL, "feed"),
    ROUTE(HTTP_DELETE, "/me", ok_handler, ROUTE_AUTHENTICATED, NULL, "delete me"),
    ROUTE(HTTP_GET, "/me", ok_handler, ROUTE_AUTHENTICATED, NULL, "me"),
    /* a signed-in JSON POST that sessions, access tokens and keys (keys:write) may call */
    {.method = HTTP_POST,
     .pattern = "/things",
     .handler = whoami,
     .access = ROUTE_AUTHENTICATED,
     .permission = AUTHZ_ACCOUNT,
     .keys_route = true,
     .body = &json_body,
     .summary = "things",
     .operation_id = "things",
     .responses = {{.status = 200, .description = "OK"}}},
    /* a signed-in console form */
    {.method = HTTP_POST,
     .pattern = "/account-form",
     .handler = whoami,
     .access = ROUTE_AUTHENTICATED,
     .permission = AUTHZ_ACCOUNT,
     .body = &form_body,
     .summary = "",
     .console = true},
    {.method = HTTP_GET,
     .pattern = "/limited",
     .handler = ok_handler,
     .access = ROUTE_PUBLIC,
     .permission = AUTHZ_PUBLIC,
     .summary = "limited",
     .operation_id = "limited",
     .responses = {{.status = 200, .description = "OK"}},
     .rate_limited = true,
     .rate_bucket = RL_SIGNUP},
};

struct fixture {
    struct config cfg;
    struct app app;
    struct pipeline p;
    struct http_request req;
    struct http_response resp;
};

static char allowed_origin[] = "https://app.example.com";

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->cfg.n_cors_origins = 1;
    f->cfg.cors_origins[0] = allowed_origin;
    f->app.cfg = &f->cfg;
    memset(f->app.csrf_key, 0x5a, sizeof f->app.csrf_key);
    f->app.console_error = console_error_page;
    snprintf(f->cfg.public_url, sizeof f->cfg.public_url, "http://127.0.0.1:8080/base/");
    assert_int_equal(ratelimit_new(NULL, &f->app.ratelimit), ERR_OK); /* in-process */
    struct buf msg = BUF_INIT(256);
    assert_int_equal(
        pipeline_init(&f->p, &f->app, routes, sizeof(routes) / sizeof(routes[0]), &msg), ERR_OK);
    buf_release(&msg);
    f->req.arena = arena_new(1 << 20);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    arena_free(f->req.arena);
    ratelimit_free(f->app.ratelimit);
    free(f);
    return 0;
}

static void request(struct fixture *f, const char *method, const char *path, const char *body,
                    const char *const *headers)
{
    arena_reset(f->req.arena);
    struct arena *a = f->req.arena;
    memset(&f->req, 0, sizeof(f->req));
    memset(&f->resp, 0, sizeof(f->resp));
    f->req.arena = a;
    f->req.app = &f->app;
    f->req.method_text = str_from_cstr(method);
    f->req.method = http_method_parse(f->req.method_text);
    f->req.path = str_from_cstr(path);
    f->req.body = body ? str_from_cstr(body) : STR_NULL;
    snprintf(f->req.id, sizeof(f->req.id), "0123456789abcdef0123456789abcdef");
    snprintf(f->req.client_ip, sizeof(f->req.client_ip), "127.0.0.1");
    for (size_t i = 0; headers && headers[i]; i += 2)
        f->req.headers[f->req.n_headers++] =
            (struct http_header){str_from_cstr(headers[i]), str_from_cstr(headers[i + 1])};
}

static const char *resp_header(const struct fixture *f, const char *name)
{
    for (size_t i = 0; i < f->resp.n_headers; i++)
        if (str_ieq_cstr(f->resp.headers[i].name, name))
            return f->resp.headers[i].value.ptr;
    return NULL;
}

static void run(struct fixture *f)
{
    pipeline_run(&f->p, &f->req, &f->resp);
}

static void assert_security_headers(const struct fixture *f)
{
    assert_string_equal(resp_header(f, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(resp_header(f, "X-Frame-Options"), "DENY");
    assert_string_equal(resp_header(f, "Referrer-Policy"), "strict-origin-when-cross-origin");
    assert_non_null(strstr(resp_header(f, "Content-Security-Policy"), "default-src 'none'"));
    assert_non_null(strstr(resp_header(f, "Content-Security-Policy"), "frame-ancestors 'none'"));
    assert_non_null(resp_header(f, "Permissions-Policy"));
    assert_string_equal(resp_header(f, "Cross-Origin-Opener-Policy"), "same-origin");
    assert_non_null(resp_header(f, "Cross-Origin-Resource-Policy"));
    assert_string_equal(resp_header(f, "X-Request-Id"), f->req.id);
}

static void assert_error(const struct fixture *f, int status, const char *code)
{
    assert_int_equal(f->resp.status, status);
    assert_security_headers(f);
    char want[128];
    snprintf(want, sizeof(want), "\"code\":\"%s\"", code);
    assert_non_null(strstr(f->resp.body, want));
    assert_non_null(strstr(f->resp.body, "\"support_id\":\"0123456789abcdef0123456789abcdef\""));
}

static void test_ok_has_headers(void **state)
{
    struct fixture *f = *state;
    request(f, "GET", "/ok", NULL, NULL);
    run(f);
    assert_int_equal(f->resp.status, 200);
    assert_security_headers(f);
    assert_string_equal(resp_header(f, "Cache-Control"), "no-store");
    assert_null(resp_header(f, "Strict-Transport-Security"));
}

static void test_hsts_in_production_and_tls(void **state)
{
    struct fixture *f = *state;
    request(f, "GET", "/ok", NULL, NULL);
    f->req.tls = true;
    run(f);
    assert_non_null(strstr(resp_header(f, "Strict-Transport-Security"), "max-age=63072000"));
    f->cfg.env = CONFIG_ENV_PRODUCTION;
    request(f, "GET", "/nope", NULL, NULL);
    run(f);
    assert_non_null(resp_header(f, "Strict-Transport-Security"));
}

static void test_errors(void **state)
{
    struct fixture *f = *state;
    request(f, "GET", "/nope", NULL, NULL);
    run(f);
    assert_error(f, 404, "not_found");

    request(f, "DELETE", "/ok", NULL, NULL);
    run(f);
    assert_error(f, 405, "method_not_allowed");
    assert_string_equal(resp_header(f, "Allow"), "GET, HEAD, OPTIONS");

    request(f, "GET", "/ok", NULL, NULL);
    f->req.body_too_large = true;
    run(f);
    assert_error(f, 413, "payload_too_large");

    request(f, "GET", "/ok", NULL, NULL);
    f->req.headers_too_large = true;
    run(f);
    assert_error(f, 431, "headers_too_large");
}

static void test_internal_detail_stays_out(void **state)
{
    struct fixture *f = *state;
    request(f, "GET", "/static-broken", NULL, NULL);
    run(f);
    assert_error(f, 500, "internal_error");
    assert_false(f->resp.body_static); /* the error body lives in the request's arena */

    request(f, "GET", "/broken", NULL, NULL);
    run(f);
    assert_error(f, 500, "internal_error");
    assert_null(strstr(f->resp.body, "secret_table"));
    assert_null(strstr(f->resp.body, "/srv"));
}

static void test_body_checks(void **state)
{
    struct fixture *f = *state;
    const char *const json[] = {"Content-Type", "application/json; charset=utf-8", NULL};
    const char *const text[] = {"Content-Type", "text/plain", NULL};

    request(f, "POST", "/items", "{\"name\":\"ok\"}", json);
    run(f);
    assert_int_equal(f->resp.status, 200);

    request(f, "POST", "/items", "{\"name\":\"ok\"}", text);
    run(f);
    assert_error(f, 415, "unsupported_media_type");

    request(f, "POST", "/items", "{\"name\":\"a\",\"name\":\"b\"}", json);
    run(f);
    assert_error(f, 400, "invalid_json");
    assert_non_null(strstr(f->resp.body, "duplicate key"));

    /* well-formed but one level deeper than the default limit of 32: refused for depth */
    char deep[200] = {0};
    size_t depth = JSON_LIMITS_DEFAULT.max_depth + 1;
    for (size_t i = 0; i < depth; i++) {
        deep[i] = '[';
        deep[2 * depth - 1 - i] = ']';
    }
    request(f, "POST", "/items", deep, json);
    run(f);
    assert_error(f, 400, "invalid_json");
    assert_non_null(strstr(f->resp.body, "nesting too deep"));

    request(f, "POST", "/items", "{\"name\":\"much too long\",\"extra\":1}", json);
    run(f);
    assert_error(f, 400, "validation_failed");
    assert_non_null(strstr(f->resp.body, "\"path\":\"name\""));
    assert_non_null(strstr(f->resp.body, "\"path\":\"extra\""));
}

static void test_cors(void **state)
{
    struct fixture *f = *state;
    const char *const good[] = {"Origin", "https://app.example.com", NULL};
    const char *const evil[] = {"Origin", "https://evil.example", NULL};

    request(f, "GET", "/ok", NULL, good);
    run(f);
    assert_string_equal(resp_header(f, "Access-Control-Allow-Origin"), "https://app.example.com");
    assert_string_equal(resp_header(f, "Access-Control-Allow-Credentials"), "true");
    assert_string_equal(resp_header(f, "Vary"), "Origin");

    request(f, "GET", "/ok", NULL, evil);
    run(f);
    assert_int_equal(f->resp.status, 200);
    assert_null(resp_header(f, "Access-Control-Allow-Origin"));

    const char *const pre_good[] = {"Origin", "https://app.example.com",
                                    "Access-Control-Request-Method", "POST", NULL};
    request(f, "OPTIONS", "/items", NULL, pre_good);
    run(f);
    assert_int_equal(f->resp.status, 204);
    assert_non_null(resp_header(f, "Access-Control-Allow-Methods"));
    assert_security_headers(f);

    const char *const pre_evil[] = {"Origin", "https://evil.example",
                                    "Access-Control-Request-Method", "POST", NULL};
    request(f, "OPTIONS", "/items", NULL, pre_evil);
    run(f);
    assert_error(f, 403, "origin_not_allowed");
    assert_null(resp_header(f, "Access-Control-Allow-Origin"));
}

static void test_delivery_is_open_without_credentials(void **state)
{
    struct fixture *f = *state;
    const char *const evil[] = {"Origin", "https://anyone.example", NULL};
    request(f, "GET", "/feed/acme", NULL, evil);
    run(f);
    assert_int_equal(f->resp.status, 200);
    assert_string_equal(resp_header(f, "Access-Control-Allow-Origin"), "*");
    assert_null(resp_header(f, "Access-Control-Allow-Credentials"));
    assert_string_equal(resp_header(f, "Cross-Origin-Resource-Policy"), "cross-origin");
    assert_null(resp_header(f, "Cache-Control"));

    request(f, "GET", "/feed/", NULL, evil); /* 404 under the delivery prefix stays open */
    run(f);
    assert_error(f, 404, "not_found");
    assert_string_equal(resp_header(f, "Access-Control-Allow-Origin"), "*");
    assert_string_equal(resp_header(f, "Cache-Control"), "no-store"); /* errors are not kept */
}

/* /widget.js is a delivery path by exact match; its neighbours are not. */
static void test_widget_script_is_a_delivery_path(void **state)
{
    (void)state;
    assert_true(pipeline_is_delivery_path(str_from_cstr("/widget.js")));
    assert_true(pipeline_is_delivery_path(str_from_cstr("/feed/acme.json")));
    assert_true(pipeline_is_delivery_path(str_from_cstr("/widget/x")));
    assert_false(pipeline_is_delivery_path(str_from_cstr("/widget.jsx")));
    assert_false(pipeline_is_delivery_path(str_from_cstr("/widget.js/x")));
    assert_false(pipeline_is_delivery_path(str_from_cstr("/widget")));
    assert_false(pipeline_is_delivery_path(str_from_cstr("/api/widget.js")));
    assert_false(pipeline_is_delivery_path(str_from_cstr("/feedback")));

    /* a route's access class must agree with its path */
    struct pipeline p;
    struct app app = {0};
    struct config cfg = {0};
    app.cfg = &cfg;
    struct buf msg = BUF_INIT(256);
    const struct route widget[] = {
        ROUTE(HTTP_GET, "/widget.js", ok_handler, ROUTE_DELIVERY, NULL, "widget")};
    assert_int_equal(pipeline_init(&p, &app, widget, 1, &msg), ERR_OK);
    const struct route public_widget[] = {
        ROUTE(HTTP_GET, "/widget.js", ok_handler, ROUTE_PUBLIC, NULL, "widget")};
    assert_int_equal(pipeline_init(&p, &app, public_widget, 1, &msg), ERR_CONFIG);
    const struct route delivery_elsewhere[] = {
        ROUTE(HTTP_GET, "/widget.jsx", ok_handler, ROUTE_DELIVERY, NULL, "widget")};
    assert_int_equal(pipeline_init(&p, &app, delivery_elsewhere, 1, &msg), ERR_CONFIG);
    buf_release(&msg);
}

static void test_plain_options(void **state)
{
    struct fixture *f = *state;
    request(f, "OPTIONS", "/items", NULL, NULL);
    run(f);
    assert_int_equal(f->resp.status, 204);
    assert_string_equal(resp_header(f, "Allow"), "POST, OPTIONS");
    request(f, "OPTIONS", "/nope", NULL, NULL);
    run(f);
    assert_error(f, 404, "not_found");
}

static void test_rate_limit(void **state)
{
    struct fixture *f = *state;
    unsigned limit = ratelimit_limit(RL_SIGNUP)->limit;
    for (unsigned i = 0; i < limit; i++) {
        request(f, "GET", "/limited", NULL, NULL);
        run(f);
        assert_int_equal(f->resp.status, 200);
        assert_non_null(resp_header(f, "RateLimit-Remaining"));
        assert_null(resp_header(f, "Retry-After"));
    }
    request(f, "GET", "/limited", NULL, NULL); /* one over the limit */
    run(f);
    assert_error(f, 429, "rate_limited");
    assert_non_null(resp_header(f, "Retry-After"));
    assert_string_equal(resp_header(f, "RateLimit-Remaining"), "0");
    /* another client address has its own allowance; unlimited routes are not counted */
    request(f, "GET", "/limited", NULL, NULL);
    snprintf(f->req.client_ip, sizeof(f->req.client_ip), "192.0.2.1");
    run(f);
    assert_int_equal(f->resp.status, 200);
    request(f, "GET", "/ok", NULL, NULL);
    run(f);
    assert_int_equal(f->resp.status, 200);
    assert_null(resp_header(f, "RateLimit-Limit"));

    /* IPv6: one /64 is one client, whatever the interface identifier */
    for (unsigned i = 0; i <= limit; i++) {
        request(f, "GET", "/limited", NULL, NULL);
        snprintf(f->req.client_ip, sizeof(f->req.client_ip), "2001:db8::%x", i + 1);
        run(f);
        assert_int_equal(f->resp.status, i < limit ? 200 : 429);
    }
    request(f, "GET", "/limited", NULL, NULL);
    snprintf(f->req.client_ip, sizeof(f->req.client_ip), "2001:db8:0:1::1"); /* next /64 */
    run(f);
    assert_int_equal(f->resp.status, 200);
}

/* Without a live session an authenticated route is 401, whatever the cookie says. */
static void test_authenticated_needs_session(void **state)
{
    struct fixture *f = *state;
    request(f, "GET", "/me", NULL, NULL);
    run(f);
    assert_error(f, 401, "unauthenticated");
    const char *h[] = {"Cookie", "a=b; __Host-shiplog_session=forged.value", NULL};
    request(f, "GET", "/me", NULL, h);
    run(f); /* no accounts context: nobody can be signed in */
    assert_error(f, 401, "unauthenticated");
}

/* U2: state-changing requests on authenticated routes must not be cross-site. */
static void test_csrf_on_authenticated_routes(void **state)
{
    struct fixture *f = *state;
    const char *cross[] = {"Sec-Fetch-Site", "cross-site", NULL};
    request(f, "DELETE", "/me", NULL, cross);
    run(f);
    assert_error(f, 403, "csrf_refused");
    const char *evil[] = {"Origin", "https://evil.example", NULL};
    request(f, "DELETE", "/me", NULL, evil);
    run(f);
    assert_error(f, 403, "csrf_refused");
    const char *null_origin[] = {"Origin", "null", NULL};
    request(f, "DELETE", "/me", NULL, null_origin);
    run(f);
    assert_error(f, 403, "csrf_refused");
    const char *longer[] = {"Origin", "http://127.0.0.1:80800", NULL};
    request(f, "DELETE", "/me", NULL, longer);
    run(f);
    assert_error(f, 403, "csrf_refused");
    /* the public origin, an allowlisted one, same-site and none pass on to authentication */
    const char *own[] = {"Origin", "http://127.0.0.1:8080", "Sec-Fetch-Site", "same-origin", NULL};
    const char *listed[] = {"Origin", allowed_origin, NULL};
    const char *same_site[] = {"Sec-Fetch-Site", "same-site", NULL};
    const char *const *pass[] = {own, listed, same_site, NULL};
    for (size_t i = 0; i < 4; i++) {
        request(f, "DELETE", "/me", NULL, pass[i]);
        run(f);
        assert_error(f, 401, "unauthenticated");
    }
    /* reads are not state-changing: no CSRF refusal */
    request(f, "GET", "/me", NULL, cross);
    run(f);
    assert_error(f, 401, "unauthenticated");
}

/* Cookie and token of a fresh GET /page, copied out of the arena. */
static void fetch_token(struct fixture *f, const char *cookie_in, char cookie[128],
                        char token[CSRF_TOKEN_LEN + 1])
{
    const char *h[] = {"Cookie", cookie_in, NULL};
    request(f, "GET", "/page", NULL, cookie_in ? h : NULL);
    run(f);
    assert_int_equal(f->resp.status, 200);
    assert_int_equal(f->resp.body_len, CSRF_TOKEN_LEN);
    memcpy(token, f->resp.body, CSRF_TOKEN_LEN);
    token[CSRF_TOKEN_LEN] = '\0';
    const char *sc = resp_header(f, "Set-Cookie");
    if (cookie_in) {
        assert_null(sc); /* the browser's cookie is reused */
        snprintf(cookie, 128, "%s", cookie_in);
    } else {
        assert_non_null(sc);
        assert_true(strncmp(sc, CSRF_PRESESSION "=", strlen(CSRF_PRESESSION) + 1) == 0);
        assert_non_null(strstr(sc, "; Path=/; HttpOnly; Secure; SameSite=Lax"));
        snprintf(cookie, 128, "%.*s", (int)strcspn(sc, ";"), sc);
    }
}

static int post_form(struct fixture *f, const char *cookie, const char *body, const char *ctype,
                     const char *origin, const char *site)
{
    const char *h[12];
    size_t n = 0;
    h[n++] = "Content-Type";
    h[n++] = ctype ? ctype : HTTP_FORM_TYPE;
    if (cookie) {
        h[n++] = "Cookie";
        h[n++] = cookie;
    }
    if (origin) {
        h[n++] = "Origin";
        h[n++] = origin;
    }
    if (site) {
        h[n++] = "Sec-Fetch-Site";
        h[n++] = site;
    }
    h[n] = NULL;
    request(f, "POST", "/form", body, h);
    run(f);
    return f->resp.status;
}

static void test_console_forms_need_the_synchronizer_token(void **state)
{
    struct fixture *f = *state;
    char cookie[128], token[CSRF_TOKEN_LEN + 1], body[256];
    fetch_token(f, NULL, cookie, token);
    assert_string_equal(resp_header(f, "Content-Security-Policy"),
                        "default-src 'none'; style-src 'self'; img-src 'self'; form-action "
                        "'self'; frame-ancestors 'none'; base-uri 'none'; report-uri /csp-report");
    snprintf(body, sizeof body, "a=1&csrf=%s", token);
    const char *pub = "http://127.0.0.1:8080";

    assert_int_equal(post_form(f, cookie, body, NULL, pub, "same-origin"), 200);
    assert_int_equal(post_form(f, cookie, body, NULL, NULL, NULL), 200);
    /* no cookie, another cookie, no token, a token one character off */
    assert_int_equal(post_form(f, NULL, body, NULL, pub, NULL), 403);
    assert_string_equal(f->req.fail_code, "csrf_refused");
    assert_int_equal(last_console_error, ERR_FORBIDDEN);
    assert_int_equal(post_form(f, CSRF_PRESESSION "=another", body, NULL, pub, NULL), 403);
    assert_int_equal(post_form(f, cookie, "a=1", NULL, pub, NULL), 403);
    char off[256];
    snprintf(off, sizeof off, "a=1&csrf=%s", token);
    off[sizeof "a=1&csrf=" - 1] ^= 1;
    assert_int_equal(post_form(f, cookie, off, NULL, pub, NULL), 403);
    /* the right token from the wrong place */
    assert_int_equal(post_form(f, cookie, body, NULL, "https://app.example.com", NULL), 403);
    assert_int_equal(post_form(f, cookie, body, NULL, "null", NULL), 403);
    assert_int_equal(post_form(f, cookie, body, NULL, NULL, "same-site"), 403);
    assert_int_equal(post_form(f, cookie, body, NULL, NULL, "cross-site"), 403);
    /* not a form, or a malformed one */
    assert_int_equal(post_form(f, cookie, body, "application/json", NULL, NULL), 415);
    snprintf(off, sizeof off, "a=1&a=2&csrf=%s", token);
    assert_int_equal(post_form(f, cookie, off, NULL, NULL, NULL), 400);
    assert_string_equal(f->req.fail_code, "invalid_form");
}

static void test_console_token_follows_the_session_cookie(void **state)
{
    struct fixture *f = *state;
    char pre[128], session[128], t_pre[CSRF_TOKEN_LEN + 1], t_session[CSRF_TOKEN_LEN + 1];
    char both[300], body[256];
    fetch_token(f, NULL, pre, t_pre);
    fetch_token(f, HTTP_SESSION_COOKIE "=tenant.some-session-id", session, t_session);
    assert_string_not_equal(t_pre, t_session);
    /* with a session cookie the token is the session's: the pre-session one fails */
    snprintf(both, sizeof both, "%s; %s", pre, session);
    snprintf(body, sizeof body, "csrf=%s", t_pre);
    assert_int_equal(post_form(f, both, body, NULL, NULL, NULL), 403);
    snprintf(body, sizeof body, "csrf=%s", t_session);
    assert_int_equal(post_form(f, both, body, NULL, NULL, NULL), 200);
    /* after sign-out (no session cookie) the session's token is worth nothing */
    assert_int_equal(post_form(f, pre, body, NULL, NULL, NULL), 403);
}

static void test_console_failures_are_pages(void **state)
{
    struct fixture *f = *state;
    last_console_error = ERR_OK;
    request(f, "GET", "/page-fails", NULL, NULL);
    run(f);
    assert_int_equal(f->resp.status, 400);
    assert_int_equal(last_console_error, ERR_INVALID);
    assert_string_equal(f->resp.content_type, "text/html");
    assert_security_headers(f);
}

static void test_router_refuses_console_post_without_form(void **state)
{
    (void)state;
    static const struct route bad[] = {{.method = HTTP_POST,
                                        .pattern = "/x",
                                        .handler = ok_handler,
                                        .access = ROUTE_PUBLIC,
                                        .permission = AUTHZ_PUBLIC,
                                        .summary = "",
                                        .console = true}};
    struct router r;
    struct buf msg = BUF_INIT(256);
    assert_int_equal(router_init(&r, bad, 1, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), "form body"));
    buf_release(&msg);
}

/* ---- Bearer credentials against real storage --------------------------------------- */

#define BEARER_KEY_HEX  "6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c"
#define BEARER_PASSWORD "correct horse battery staple"

/* The group's database and credentials, made once (bcrypt and migrations are slow). */
static struct {
    char dir[64];
    struct storage *main, *vault;
    struct keyring ring;
    struct secrets *sec;
    struct accounts *acc;
    struct auth_token_keys keys;
    char user_id[ACCOUNTS_ID_LEN + 1];
    char cookie[sizeof HTTP_SESSION_COOKIE + ACCOUNTS_SECRET_LEN + 1]; /* name=value */
    char token[sizeof "Bearer " + JWT_MAX_LEN];                        /* Authorization */
    char key[sizeof "Bearer " + AUTH_KEY_TEXT_LEN];                    /* Authorization */
} B;

/* A migrated SQLite database of schema at path, opened for the application. */
static struct storage *bearer_db(enum storage_schema schema, const char *path)
{
    struct storage *owner = testdb_open(schema, NULL, path, true);
    if (!owner)
        return NULL;
    struct buf detail = BUF_INIT(2048);
    enum err e = storage_migrate(owner, &detail);
    if (e)
        fprintf(stderr, "# migrate %s: %s: %s\n", path, err_name(e), buf_cstr(&detail));
    buf_release(&detail);
    storage_close(owner);
    return e ? NULL : testdb_open(schema, NULL, path, false);
}

static int bearer_group_setup(void **state)
{
    (void)state;
    snprintf(B.dir, sizeof B.dir, "/tmp/shiplog-pipeline-XXXXXX");
    if (!mkdtemp(B.dir))
        return -1;
    char main_path[128], vault_path[128];
    snprintf(main_path, sizeof main_path, "%s/shiplog.db", B.dir);
    snprintf(vault_path, sizeof vault_path, "%s/keyvault.db", B.dir);
    B.main = bearer_db(STORAGE_SCHEMA_MAIN, main_path);
    B.vault = bearer_db(STORAGE_SCHEMA_VAULT, vault_path);
    if (!B.main || !B.vault)
        return -1;
    testdb_load_ring(B.dir, BEARER_KEY_HEX, NULL, &B.ring);
    struct accounts_options o = {
        .db = B.main, .ring = &B.ring, .bcrypt_cost = PASSWORD_COST_MIN, .session_cache_ms = 0};
    if (secrets_open(B.main, B.vault, &B.ring, &B.sec) != ERR_OK ||
        (o.secrets = B.sec, accounts_open(&o, &B.acc)) != ERR_OK ||
        auth_token_keys_init(&B.keys, &B.ring, "https://shiplog.test") != ERR_OK)
        return -1;

    /* one verified user (the organization's Super Admin) with a session */
    const struct accounts_client ac = {.ip = "192.0.2.10", .request_id = "req-pipeline"};
    struct str email = STR_LIT("bearer@example.test"), password = STR_LIT(BEARER_PASSWORD);
    struct accounts_signup_result r;
    struct accounts_session sess;
    char sid[ACCOUNTS_SECRET_LEN + 1];
    if (accounts_signup(B.acc, email, password, STR_LIT("Pipeline"), &ac, &r) != ERR_OK ||
        accounts_verify_email(B.acc, str_from_cstr(r.verify_token), &ac, NULL) != ERR_OK ||
        accounts_signin(B.acc, email, password, &ac, sid, &sess) != ERR_OK)
        return -1;
    snprintf(B.user_id, sizeof B.user_id, "%s", sess.user.user_id);
    snprintf(B.cookie, sizeof B.cookie, "%s=%s", HTTP_SESSION_COOKIE, sid);

    /* an access token of the user, and an API key that may call keys routes */
    const struct auth_client c = {.ip = "192.0.2.10", .request_id = "req-pipeline"};
    int64_t now = (int64_t)time(NULL);
    struct auth_token_pair pair;
    if (auth_token_issue_user(B.main, &B.keys, &sess.user.tenant, B.user_id, now,
                              AUTH_VALID_AFTER_UNCHECKED, &c, &pair))
        return -1;
    snprintf(B.token, sizeof B.token, "Bearer %s", pair.access);
    auth_token_pair_wipe(&pair);
    struct auth_actor who = {.user_id = B.user_id, .role = AUTHZ_ROLE_SUPER_ADMIN};
    struct auth_key_created k;
    const char *reason = NULL;
    if (auth_key_create(B.main, &sess.user.tenant, &who, STR_LIT("pipeline"), AUTH_SCOPE_KEYS_WRITE,
                        0, now, &c, &k, &reason) != ERR_OK)
        return -1;
    snprintf(B.key, sizeof B.key, "Bearer %s", k.text);
    auth_key_created_wipe(&k);
    return 0;
}

static int bearer_group_teardown(void **state)
{
    (void)state;
    accounts_close(B.acc);
    secrets_close(B.sec);
    keyring_wipe(&B.ring);
    storage_close(B.vault);
    testdb_cleanup(B.main, B.dir);
    return 0;
}

/* The plain fixture, with the group's storage, accounts and token keys. */
static int bearer_setup(void **state)
{
    int rc = setup(state);
    struct fixture *f = *state;
    f->app.storage = B.main;
    f->app.accounts = B.acc;
    f->app.tokens = B.keys;
    return rc;
}

/* POST /things with a valid JSON body and the headers h; returns the status. */
static int post_things(struct fixture *f, const char *const *h)
{
    const char *all[16] = {"Content-Type", "application/json"};
    size_t n = 2;
    for (size_t i = 0; h && h[i]; i++)
        all[n++] = h[i];
    all[n] = NULL;
    request(f, "POST", "/things", "{\"name\":\"ok\"}", all);
    run(f);
    return f->resp.status;
}

/* The 200 body of whoami: who decided. */
static void assert_caller(const struct fixture *f, const char *kind)
{
    char want[64];
    snprintf(want, sizeof want, "%s %s", kind, B.user_id);
    assert_int_equal(f->resp.status, 200);
    assert_int_equal(f->resp.body_len, strlen(want));
    assert_memory_equal(f->resp.body, want, strlen(want));
}

/* U2: a Bearer call carries no ambient credential, so a cross-site one is no forgery. */
static void test_bearer_passes_cross_site_checks(void **state)
{
    struct fixture *f = *state;
    const char *evil = "https://evil.example";
    /* the controls: each credential alone, same-origin */
    const char *own[] = {"Origin", "http://127.0.0.1:8080", "Cookie", B.cookie, NULL};
    assert_int_equal(post_things(f, own), 200);
    assert_caller(f, "session");
    const char *token[] = {"Authorization", B.token, NULL};
    assert_int_equal(post_things(f, token), 200);
    assert_caller(f, "token");

    /* cross-site: a Bearer passes, an access token or a key alike */
    const char *t_cross[] = {"Authorization",  B.token,      "Origin", evil,
                             "Sec-Fetch-Site", "cross-site", NULL};
    assert_int_equal(post_things(f, t_cross), 200);
    assert_caller(f, "token");
    const char *k_cross[] = {"Authorization",  B.key,        "Origin", evil,
                             "Sec-Fetch-Site", "cross-site", NULL};
    assert_int_equal(post_things(f, k_cross), 200);
    assert_caller(f, "key");

    /* the same with the (good) cookie instead is refused, by Origin and by Sec-Fetch-Site */
    const char *c_origin[] = {"Cookie", B.cookie, "Origin", evil, NULL};
    assert_int_equal(post_things(f, c_origin), 403);
    assert_error(f, 403, "csrf_refused");
    const char *c_site[] = {"Cookie", B.cookie, "Sec-Fetch-Site", "cross-site", NULL};
    assert_int_equal(post_things(f, c_site), 403);
    assert_error(f, 403, "csrf_refused");
}

/* With both credentials the Bearer decides; the cookie is not even read. */
static void test_bearer_decides_over_the_cookie(void **state)
{
    struct fixture *f = *state;
    char bad_cookie[128];
    snprintf(bad_cookie, sizeof bad_cookie, "%s=forged.value", HTTP_SESSION_COOKIE);
    const char *good_bearer_bad_cookie[] = {"Authorization", B.key, "Cookie", bad_cookie, NULL};
    assert_int_equal(post_things(f, good_bearer_bad_cookie), 200);
    assert_caller(f, "key");
    const char *token_and_cookie[] = {"Authorization", B.token, "Cookie", B.cookie, NULL};
    assert_int_equal(post_things(f, token_and_cookie), 200);
    assert_caller(f, "token");

    /* a bad Bearer beside a good cookie: 401 invalid_token, the cookie changes nothing */
    char forged_key[sizeof B.key];
    snprintf(forged_key, sizeof forged_key, "%s", B.key);
    forged_key[strlen(forged_key) - 1] ^= 1;
    char forged_token[sizeof B.token];
    snprintf(forged_token, sizeof forged_token, "%s", B.token);
    forged_token[strlen(forged_token) - 2] ^= 1; /* inside the signature */
    const char *bad[] = {forged_key, forged_token, "Bearer not-a-token", "Basic dTpw", NULL};
    for (size_t i = 0; bad[i]; i++) {
        const char *h[] = {"Authorization", bad[i], "Cookie", B.cookie, NULL};
        request(f, "GET", "/me", NULL, h);
        run(f);
        assert_error(f, 401, "invalid_token");
        assert_string_equal(resp_header(f, "WWW-Authenticate"), "Bearer error=\"invalid_token\"");
        assert_int_equal(post_things(f, h), 401);
        assert_error(f, 401, "invalid_token");
    }
    /* and the good cookie alone still signs in: it was the Bearer that refused */
    const char *cookie_only[] = {"Cookie", B.cookie, NULL};
    request(f, "GET", "/me", NULL, cookie_only);
    run(f);
    assert_int_equal(f->resp.status, 200);
}

/* Console forms never take a Bearer: no exemption from the form token, no sign-in by it. */
static void test_console_refuses_bearer(void **state)
{
    struct fixture *f = *state;
    char cookie[128], token[CSRF_TOKEN_LEN + 1], body[256];
    fetch_token(f, NULL, cookie, token);
    snprintf(body, sizeof body, "a=1&csrf=%s", token);
    const char *h_no_token[] = {"Content-Type", HTTP_FORM_TYPE, "Authorization", B.token, NULL};
    request(f, "POST", "/form", "a=1", h_no_token);
    run(f);
    assert_int_equal(f->resp.status, 403);
    assert_string_equal(f->req.fail_code, "csrf_refused");
    assert_int_equal(last_console_error, ERR_FORBIDDEN);
    /* with its token but from another site: refused all the same (control: from here, 200) */
    const char *h_cross[] = {
        "Content-Type", HTTP_FORM_TYPE, "Authorization",        B.key, "Cookie",
        cookie,         "Origin",       "https://evil.example", NULL};
    request(f, "POST", "/form", body, h_cross);
    run(f);
    assert_int_equal(f->resp.status, 403);
    assert_string_equal(f->req.fail_code, "csrf_refused");
    const char *h_here[] = {
        "Content-Type", HTTP_FORM_TYPE, "Authorization", B.key, "Cookie", cookie, NULL};
    request(f, "POST", "/form", body, h_here);
    run(f);
    assert_int_equal(f->resp.status, 200);
    /* a signed-in console form: a valid Bearer signs nobody in */
    for (size_t i = 0; i < 2; i++) {
        const char *h[] = {"Content-Type", HTTP_FORM_TYPE, "Authorization", i ? B.key : B.token,
                           NULL};
        last_console_error = ERR_OK;
        request(f, "POST", "/account-form", body, h);
        run(f);
        assert_int_equal(f->resp.status, 401);
        assert_int_equal(last_console_error, ERR_UNAUTHENTICATED);
        assert_false(f->req.principal.authenticated);
    }
}

/* No room in the arena for the principal is the server's failure: 5xx with a logged detail. */
static void test_bearer_without_room_is_the_servers_failure(void **state)
{
    struct fixture *f = *state;
    const char *const creds[] = {B.token, B.key, NULL};
    for (size_t i = 0; creds[i]; i++) {
        const char *h[] = {"Authorization", creds[i], NULL};
        request(f, "GET", "/me", NULL, h);
        /* nothing before authentication takes from the arena: fill it whole */
        assert_non_null(arena_alloc(f->req.arena, 1 << 20));
        assert_null(arena_alloc(f->req.arena, 1));
        run(f);
        assert_true(f->resp.status >= 500); /* 503; 500 when not even the error body fits */
        assert_null(f->req.fail_code);      /* not the credential's fault: no invalid_token */
        assert_non_null(f->req.fail_detail);
        assert_non_null(strstr(f->req.fail_detail, "no room"));
        assert_false(f->req.principal.authenticated);
        assert_null(resp_header(f, "WWW-Authenticate"));
    }
}

int main(void)
{
    /* one group (TAP wants one plan): its set-up makes the Bearer tests' database, which
     * the other tests, on the plain fixture, never see */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ok_has_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hsts_in_production_and_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_internal_detail_stays_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_is_open_without_credentials, setup, teardown),
        cmocka_unit_test(test_widget_script_is_a_delivery_path),
        cmocka_unit_test_setup_teardown(test_plain_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authenticated_needs_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csrf_on_authenticated_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_console_forms_need_the_synchronizer_token, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_console_token_follows_the_session_cookie, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_console_failures_are_pages, setup, teardown),
        cmocka_unit_test(test_router_refuses_console_post_without_form),
        cmocka_unit_test_setup_teardown(test_bearer_passes_cross_site_checks, bearer_setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bearer_decides_over_the_cookie, bearer_setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_console_refuses_bearer, bearer_setup, teardown),
        cmocka_unit_test_setup_teardown(test_bearer_without_room_is_the_servers_failure,
                                        bearer_setup, teardown),
    };
    return cmocka_run_group_tests(tests, bearer_group_setup, bearer_group_teardown);
}
