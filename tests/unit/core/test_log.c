/* Unit tests for src/core/log.c: field dropping, token masking, line format and cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/json.h"
#include "core/log.h"

static char *mask(const char *s)
{
    struct buf b = BUF_INIT(1 << 20);
    assert_int_equal(log_mask_value(&b, s, strlen(s)), ERR_OK);
    return buf_detach(&b, NULL);
}

static void expect_mask(const char *in, const char *want)
{
    char *got = mask(in);
    if (strcmp(got, want) != 0)
        fail_msg("mask(%s)\n  got  %s\n  want %s", in, got, want);
    free(got);
}

static void expect_unchanged(const char *in)
{
    expect_mask(in, in);
}

/* The secret part must be gone and "[masked]" present. */
static void expect_hidden(const char *in, const char *secret)
{
    char *got = mask(in);
    if (strstr(got, secret) || !strstr(got, "[masked]"))
        fail_msg("not masked: %s -> %s", in, got);
    free(got);
}

static char *line(enum log_level lvl, const char *msg, const struct log_field *f)
{
    struct buf b = BUF_INIT(LOG_MAX_LINE * 2);
    assert_int_equal(log_format(&b, lvl, msg, f), ERR_OK);
    assert_true(b.len <= LOG_MAX_LINE);
    /* every line is one valid JSON object */
    struct json *doc = NULL;
    struct json_error je;
    struct json_limits lim = JSON_LIMITS_DEFAULT;
    if (json_parse(b.data, b.len, &lim, &doc, &je) != ERR_OK)
        fail_msg("log line is not JSON (%s): %s", je.reason, buf_cstr(&b));
    assert_int_equal(json_type_of(doc), JSON_OBJECT);
    json_free(doc);
    return buf_detach(&b, NULL);
}

static void test_sensitive_keys(void **state)
{
    (void)state;
    static const char *const drop[] = {
        "password",    "Password",     "db_passwd",   "pass",          "client_secret",
        "token",       "access_token", "token_count", "Authorization", "cookie",
        "Set-Cookie",  "api_key",      "apiKey",      "X-API-Key",     "credentials",
        "private_key", "session",      "session_id",  "signature",     "email",
        "user_email",  "otp",          "otp_code",    "pepper",        "master_key",
        "key",         "secret_ref",   "csrf_token",  "pwd",
    };
    static const char *const keep[] = {"err",         "msg",       "path",  "status", "request_id",
                                       "support_id",  "method",    "ip",    "detail", "tenant_id",
                                       "duration_ms", "footprint", "route", "count",  "user_id"};
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        if (!log_key_is_sensitive(drop[i]))
            fail_msg("%s should be dropped", drop[i]);
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        if (log_key_is_sensitive(keep[i]))
            fail_msg("%s should be kept", keep[i]);
    assert_true(log_key_is_sensitive(NULL));
}

static void test_fields_dropped_from_line(void **state)
{
    (void)state;
    const struct log_field f[] = {
        LOG_STR("password", "hunter2-value"),
        LOG_STR("Authorization", "Basic-value-xyz"),
        LOG_STR("email", "alice@example.com"),
        LOG_STR("session", "sess-value-123"),
        LOG_STR("api_key", "apikey-value-456"),
        LOG_INT("token_count", 7),
        LOG_STR("path", "/v1/tenants/acme/events"),
        LOG_INT("status", 200),
        LOG_BOOL("cached", true),
        LOG_STR("detail", NULL),
        {.key = NULL},
    };
    char *l = line(LOG_INFO, "request done", f);
    assert_null(strstr(l, "hunter2"));
    assert_null(strstr(l, "Basic-value"));
    assert_null(strstr(l, "alice"));
    assert_null(strstr(l, "sess-value"));
    assert_null(strstr(l, "apikey-value"));
    assert_null(strstr(l, "password"));
    assert_null(strstr(l, "token_count"));
    assert_non_null(strstr(l, "\"path\":\"/v1/tenants/acme/events\""));
    assert_non_null(strstr(l, "\"status\":200"));
    assert_non_null(strstr(l, "\"cached\":true"));
    assert_non_null(strstr(l, "\"detail\":null"));
    assert_non_null(strstr(l, "\"level\":\"info\""));
    assert_non_null(strstr(l, "\"msg\":\"request done\""));
    free(l);
}

static void test_line_shape(void **state)
{
    (void)state;
    char *l = line(LOG_WARN, "quote \" and <tag>\n", NULL);
    /* {"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ", */
    assert_true(strncmp(l, "{\"ts\":\"", 7) == 0);
    const char *ts = l + 7;
    assert_int_equal(ts[4], '-');
    assert_int_equal(ts[7], '-');
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[13], ':');
    assert_int_equal(ts[16], ':');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
    assert_int_equal(ts[24], '"');
    assert_non_null(strstr(l, "\"level\":\"warn\""));
    assert_non_null(strstr(l, "quote \\\" and \\u003ctag\\u003e\\n"));
    assert_null(strchr(l, '\n'));
    free(l);
    /* reserved names from callers cannot clash with ours */
    const struct log_field f[] = {LOG_STR("msg", "x"), LOG_STR("level", "y"), {.key = NULL}};
    l = line(LOG_ERROR, "m", f);
    assert_non_null(strstr(l, "\"_msg\":\"x\""));
    assert_non_null(strstr(l, "\"_level\":\"y\""));
    free(l);
}

static void test_token_shapes_masked(void **state)
{
    (void)state;
    expect_hidden("token ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5 used",
                  "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5");
    expect_hidden("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "11ABCDEFG0123");
    expect_hidden("gho_16C7e42F292c6912E7710c838347Ae178B4a", "16C7e42F292c");
    expect_hidden("ghs_16C7e42F292c6912E7710c838347Ae178B4a", "16C7e42F292c");
    expect_hidden("ghu_16C7e42F292c6912E7710c838347Ae178B4a", "16C7e42F292c");
    expect_hidden("ghr_16C7e42F292c6912E7710c838347Ae178B4a", "16C7e42F292c");
    expect_hidden("x glpat-Abc123def456GHI789jk y", "Abc123def456GHI789jk");
    expect_hidden("gldt-Abc123def456GHI789jk", "Abc123def456");
    expect_hidden("glrt-Abc123def456GHI789jk", "Abc123def456");
    expect_hidden("slack xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "AbCdEfGh");
    expect_hidden("xoxp-1234567890-1234567890123-AbCdEfGhIjKl", "1234567890123");
    expect_hidden("xoxa-2-1234567890-AbCdEfGhIjKl", "1234567890-AbC");
    expect_hidden("xoxr-1234567890-AbCdEfGhIjKl", "1234567890-AbC");
    expect_hidden("xapp-1-A0123456789-0123456789012-abcdef", "A0123456789");
    expect_hidden("key AKIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE");
    expect_hidden("ASIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE");
    expect_hidden("aws secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY done", "bPxRfiCYEXAMPLEKEY");
    expect_hidden("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc");
    expect_hidden(
        "key shk_0b6f3d2e-5a41-4c1e-9d2a-7f3e8c1b2a90.Qm9vZ0xhR2pXb3Rsd2VyVGhhbk1pbmQ1Mg7xYz9aB1c",
        "Qm9vZ0xhR2pXb3Rsd2VyVGhhbk1pbmQ1Mg7xYz9aB1c");
    expect_hidden(
        "refresh "
        "shr_0b6f3d2e-5a41-4c1e-9d2a-7f3e8c1b2a90.Qm9vZ0xhR2pXb3Rsd2VyVGhhbk1pbmQ1Mg7xYz9aB1c",
        "Qm9vZ0xhR2pXb3Rsd2VyVGhhbk1pbmQ1Mg7xYz9aB1c");
    expect_hidden("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc");
    expect_hidden("rk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc");
    expect_hidden("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    expect_hidden("sk-ant-api03-AbCdEf0123456789AbCdEf0123456789", "AbCdEf0123456789");
    expect_hidden("openai sk-proj-AbCdEf0123456789AbCdEf0123456789", "AbCdEf0123456789");
    expect_hidden("sk-AbCdEf0123456789AbCdEf0123456789AbCdEf01", "AbCdEf0123456789");
    expect_hidden("jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
                  "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c end",
                  "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c");
    expect_hidden("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.",
                  "eyJzdWIiOiIxMjM0NTY3ODkwIn0");
    expect_mask("Authorization: Bearer abc.def-123_XYZ", "Authorization: Bearer [masked]");
    expect_mask("authorization: bearer Zm9vOmJhcg==", "authorization: bearer [masked]");
    expect_mask("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic [masked]");
    expect_hidden("hdr Authorization:Bearer abcdef123456", "abcdef123456");
    expect_mask("postgres://app:s3cr3t@db.internal:5432/shiplog",
                "postgres://app:[masked]@db.internal:5432/shiplog");
    expect_mask("redis://:hunter2@cache:6379/0", "redis://:[masked]@cache:6379/0");
    expect_mask("https://user:p%40ss@example.com/x?y=1", "https://user:[masked]@example.com/x?y=1");
    expect_mask("GET /feed?token=abc123&x=1", "GET /feed?token=[masked]&x=1");
    expect_mask("password=hunter2 next", "password=[masked] next");
    /* quoted, JSON and "key: value" forms */
    expect_mask("password='hunter2' next", "password='[masked]' next");
    expect_mask("{\"password\":\"hunter2\"}", "{\"password\":\"[masked]\"}");
    expect_mask("Password: hunter2", "Password: [masked]");
    expect_mask("client_secret = abc123xyz", "client_secret = [masked]");
    expect_unchanged("session: started; token: expired");
    expect_hidden("hex 4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39 tail",
                  "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39");
    expect_hidden("b64url Q2hhbmdlTG9nLXNlY3JldC0xMjM0NTY3ODkwYWJjZGVm_x-Yz", "Q2hhbmdlTG9n");
    expect_hidden("in path /v1/feed/4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39/rss",
                  "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39");
    const char *pem = "key -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\nabc\n"
                      "-----END RSA PRIVATE KEY----- after";
    expect_mask(pem, "key [masked] after");
    expect_mask("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "[masked]");
    expect_mask("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH "
                "PRIVATE KEY-----",
                "[masked]");
}

static void test_ordinary_text_unchanged(void **state)
{
    (void)state;
    expect_unchanged("request finished in 12 ms");
    expect_unchanged("GET /v1/tenants/acme/projects/12345/releases/678/notes?page=2 200");
    expect_unchanged("/api/v1/tenants/0f8fad5b-d9cb-469f-a165-70867728950e/webhooks/github");
    expect_unchanged("0f8fad5b-d9cb-469f-a165-70867728950e");
    expect_unchanged("tenant-0f8fad5b-d9cb-469f-a165-70867728950e-x");
    expect_unchanged("request 9f86d081884c7d659a2feaa0c55ad015 done");
    expect_unchanged("ids 9f86d081884c7d659a2feaa0c55ad015,0f8fad5b-d9cb-469f-a165-70867728950e");
    expect_unchanged("https://example.com/docs/getting-started.html#install");
    expect_unchanged("user@example.com sent https://ci.example.org/job/42");
    expect_unchanged("release-2024-01-15-build-1234-rc-2-final-linux-amd64-static");
    expect_unchanged("a basic example of bearer tokens and sk-learn");
    expect_unchanged("Basic Authentication is disabled");
    expect_unchanged("a skeleton key with ghp_ prefix only");
    expect_unchanged("ghp_short1");
    expect_unchanged("session: started; token: expired");
    expect_unchanged("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
    expect_unchanged("https://github.com/acme/widget/compare/v1.2.0...v1.3.0");
    expect_unchanged("x == y; a=b; c==");
    expect_unchanged("");
    expect_unchanged("h\xc3\xa9llo \xe2\x82\xac");
}

static void test_masked_in_msg_and_fields(void **state)
{
    (void)state;
    const struct log_field f[] = {
        LOG_STR("detail", "upstream said Bearer abcdef123456789"),
        LOG_STR("url", "postgres://app:topsecretpw@db/shiplog"),
        {.key = NULL},
    };
    char *l = line(LOG_ERROR, "failed with ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5", f);
    assert_null(strstr(l, "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"));
    assert_null(strstr(l, "abcdef123456789"));
    assert_null(strstr(l, "topsecretpw"));
    assert_non_null(strstr(l, "postgres://app:[masked]@db/shiplog"));
    free(l);
}

static void test_truncation(void **state)
{
    (void)state;
    /* a long message is cut, the line stays valid JSON within the limit */
    size_t n = LOG_MAX_LINE * 3;
    char *big = malloc(n + 1);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + (i % 7 == 6 ? ' ' - 'a' : (int)(i % 26)));
    big[n] = '\0';
    char *l = line(LOG_INFO, big, NULL);
    assert_non_null(strstr(l, "\"truncated\":true}"));
    free(l);
    /* escapes expand: '<' is six bytes once escaped */
    memset(big, '<', n);
    l = line(LOG_INFO, big, NULL);
    assert_non_null(strstr(l, "\"truncated\":true}"));
    free(l);
    /* a long field after a short message: the field is cut, later fields dropped */
    const struct log_field f[] = {LOG_STR("detail", big), LOG_INT("status", 1), {.key = NULL}};
    l = line(LOG_INFO, "short", f);
    assert_non_null(strstr(l, "\"truncated\":true}"));
    assert_null(strstr(l, "\"status\""));
    free(l);
    /* a token that straddles the cut is still masked: no long hex run survives */
    memset(big, ' ', n);
    for (size_t i = LOG_MAX_LINE - 200; i < LOG_MAX_LINE + 200; i++)
        big[i] = "0123456789abcdef"[i % 16];
    l = line(LOG_INFO, big, NULL);
    assert_null(strstr(l, "0123456789abcdef0123456789"));
    free(l);
    /* a short line is not marked */
    l = line(LOG_INFO, "ok", NULL);
    assert_null(strstr(l, "truncated"));
    free(l);
    free(big);
}

static void test_emit_and_levels(void **state)
{
    (void)state;
    enum log_level lv;
    assert_true(log_level_parse("debug", &lv));
    assert_int_equal(lv, LOG_DEBUG);
    assert_true(log_level_parse("error", &lv));
    assert_int_equal(lv, LOG_ERROR);
    assert_false(log_level_parse("verbose", &lv));
    assert_false(log_level_parse("INFO", &lv));
    assert_false(log_level_parse(NULL, &lv));

    int p[2];
    assert_int_equal(pipe(p), 0);
    log_init(LOG_WARN, p[1]);
    assert_int_equal(log_level_min(), LOG_WARN);
    log_info("not written");
    log_debug("not written either");
    log_warn("written", LOG_STR("password", "pw-should-not-appear"), LOG_INT("n", 3));
    log_error("also written");
    close(p[1]);
    char out[4096];
    ssize_t got = read(p[0], out, sizeof(out) - 1);
    assert_true(got > 0);
    out[got] = '\0';
    close(p[0]);
    log_init(LOG_INFO, STDERR_FILENO);
    assert_null(strstr(out, "not written"));
    assert_null(strstr(out, "pw-should-not-appear"));
    assert_non_null(strstr(out, "\"msg\":\"written\",\"n\":3}\n"));
    assert_non_null(strstr(out, "\"msg\":\"also written\"}\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sensitive_keys),
        cmocka_unit_test(test_fields_dropped_from_line),
        cmocka_unit_test(test_line_shape),
        cmocka_unit_test(test_token_shapes_masked),
        cmocka_unit_test(test_ordinary_text_unchanged),
        cmocka_unit_test(test_masked_in_msg_and_fields),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_emit_and_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
