/* LLM providers, the pure half: redaction, prompts, requests, answers, drafts, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "changes/llm.h"
#include "core/json.h"

static char OUT[70000];

/* The redaction of s (max bytes, code dropped) as a C string in OUT. */
static const char *redact(const char *s, size_t max, bool code)
{
    struct buf b = BUF_INIT(1 << 20);
    assert_int_equal(llm_redact_text(str_from_cstr(s), max, code, &b), ERR_OK);
    assert_true(b.len < sizeof OUT);
    memcpy(OUT, buf_cstr(&b), b.len + 1);
    buf_release(&b);
    return OUT;
}

static void test_names(void **state)
{
    (void)state;
    enum llm_provider p;
    assert_true(llm_provider_parse(STR_LIT("anthropic"), &p));
    assert_int_equal(p, LLM_PROVIDER_ANTHROPIC);
    assert_true(llm_provider_parse(STR_LIT("openai"), &p));
    assert_int_equal(p, LLM_PROVIDER_OPENAI);
    assert_true(llm_provider_parse(STR_LIT("none"), &p));
    assert_int_equal(p, LLM_PROVIDER_NONE);
    assert_false(llm_provider_parse(STR_LIT("OpenAI"), &p));
    assert_false(llm_provider_parse(STR_LIT(""), &p));
    assert_string_equal(llm_provider_name(LLM_PROVIDER_OPENAI), "openai");
    assert_string_equal(llm_provider_name((enum llm_provider)9), "unknown");
}

static void test_base_url(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(llm_base_url_check(STR_LIT("https://api.anthropic.com"), &why), ERR_OK);
    assert_int_equal(llm_base_url_check(STR_LIT("http://127.0.0.1:8080/v1"), &why), ERR_OK);
    assert_int_equal(llm_base_url_check(STR_LIT("HTTPS://Example.com/v1/"), &why), ERR_OK);
    static const char *const bad[] = {
        "",
        "ftp://example.com",
        "example.com",
        "https://user:pw@example.com",
        "https://user@example.com/v1",
        "https://example.com/v1?x=1",
        "https://example.com/#f",
        "https:///v1",
        "https://:80/v1",
        "https://exa mple.com",
        "https://example.com/\x01",
        "https://ex\\ample.com",
        "javascript:alert(1)",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        assert_int_equal(llm_base_url_check(str_from_cstr(bad[i]), &why), ERR_INVALID);
        assert_non_null(why);
    }
    /* the limit, and one past it */
    static char url[LLM_MAX_BASE_URL + 2];
    memcpy(url, "https://e.com/", 14);
    memset(url + 14, 'a', sizeof url - 15);
    assert_int_equal(llm_base_url_check(str_from(url, LLM_MAX_BASE_URL), &why), ERR_OK);
    assert_int_equal(llm_base_url_check(str_from(url, LLM_MAX_BASE_URL + 1), &why), ERR_LIMIT);
}

static void test_model(void **state)
{
    (void)state;
    assert_int_equal(llm_model_check(STR_LIT("claude-3-5-haiku-latest"), NULL), ERR_OK);
    assert_int_equal(llm_model_check(STR_LIT("meta-llama/Llama-3.1-8B:free"), NULL), ERR_OK);
    assert_int_equal(llm_model_check(STR_LIT(""), NULL), ERR_INVALID);
    assert_int_equal(llm_model_check(STR_LIT("gpt 4"), NULL), ERR_INVALID);
    assert_int_equal(llm_model_check(STR_LIT("gpt\"4"), NULL), ERR_INVALID);
    static char m[LLM_MAX_MODEL + 1];
    memset(m, 'm', sizeof m);
    assert_int_equal(llm_model_check(str_from(m, LLM_MAX_MODEL), NULL), ERR_OK);
    assert_int_equal(llm_model_check(str_from(m, LLM_MAX_MODEL + 1), NULL), ERR_LIMIT);
}

static void test_redaction(void **state)
{
    (void)state;
    assert_string_equal(redact("Ask jane.doe+x@example.co.uk, please.", 1000, true),
                        "Ask [email], please.");
    assert_string_equal(redact("<jane@example.com>", 1000, true), "<[email]>");
    assert_string_equal(redact("thanks @octocat and @org/team!", 1000, true),
                        "thanks [user] and [user]!");
    assert_string_equal(redact("not an address: a@b, x@localhost", 1000, true),
                        "not an address: a@b, x@localhost");
    assert_string_equal(redact("token ghp_abcdefghijklmnopqrstuvwxyz0123456789 leaked", 1000, true),
                        "token [redacted] leaked");
    assert_string_equal(redact("set password=hunter2 and API_KEY: \"abc123\"", 1000, true),
                        "set password=[redacted] and API_KEY: \"[redacted]\"");
    assert_string_equal(redact("key Zx9QmW3rT7yU1iO5pA8sD2fG6hJ4kL0 here", 1000, true),
                        "key [redacted] here");
    /* commit hashes, paths and ordinary long words stay */
    assert_string_equal(redact("src/components/AuthForm2/LoginButtonGroup.tsx", 1000, false),
                        "src/components/AuthForm2/LoginButtonGroup.tsx");
    assert_string_equal(redact("reverts 0123456789abcdef0123456789abcdef01234567", 1000, true),
                        "reverts 0123456789abcdef0123456789abcdef01234567");
    assert_string_equal(
        redact("before\n```c\nchar *secret = getenv(\"X\");\n```\nafter", 1000, true),
        "before\n[code omitted]\nafter");
    assert_string_equal(redact("a ```unclosed code", 1000, true), "a [code omitted]");
    assert_string_equal(redact("a ```kept in paths```", 1000, false), "a ```kept in paths```");
    assert_string_equal(redact("x<!-- template: name me@x.org -->y", 1000, true), "xy");
    assert_string_equal(redact("bell\x07 and tab\tstay", 1000, true), "bell  and tab\tstay");
    /* cut between characters, with an ellipsis */
    const char *r = redact("héhéhéhé", 6, true);
    assert_true(strlen(r) <= 6);
    assert_true(json_utf8_valid(str_from_cstr(r), NULL));
    assert_non_null(strstr(r, "…"));
    assert_string_equal(redact("héllo", 2, true), "h");
    assert_string_equal(redact("héllo", 0, true), "");
}

static void test_prompt(void **state)
{
    (void)state;
    struct str labels[LLM_MAX_PROMPT_LABELS + 3], paths[LLM_MAX_PROMPT_PATHS + 5];
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        labels[i] = STR_LIT("bug");
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        paths[i] = STR_LIT("src/a.c");
    static char desc[LLM_MAX_PROMPT_DESCRIPTION + 100];
    memset(desc, 'd', sizeof desc);
    memcpy(desc, "mail me@corp.example ", 21);
    struct change_input in = {
        .title = STR_LIT("fix: login for bob@corp.example"),
        .description = str_from(desc, sizeof desc),
        .labels = labels,
        .n_labels = LLM_MAX_PROMPT_LABELS + 3,
        .paths = paths,
        .n_paths = LLM_MAX_PROMPT_PATHS + 5,
    };
    struct classify_result cls = {.impact = CHANGE_FIX};
    struct buf b = BUF_INIT(LLM_MAX_PROMPT * 2);
    assert_int_equal(llm_prompt_build(&in, &cls, &b), ERR_OK);
    assert_true(b.len <= LLM_MAX_PROMPT);
    assert_null(strstr(buf_cstr(&b), "@corp.example"));
    struct json *doc = NULL;
    struct json_error je;
    assert_int_equal(json_parse(buf_cstr(&b), b.len, &JSON_LIMITS_DEFAULT, &doc, &je), ERR_OK);
    struct str s;
    int64_t n = 0;
    assert_true(json_as_str(json_get(doc, "impact"), &s));
    assert_true(str_eq_cstr(s, "fix"));
    assert_true(json_as_str(json_get(doc, "title"), &s));
    assert_true(str_eq_cstr(s, "fix: login for [email]"));
    assert_int_equal(json_count(json_get(doc, "labels")), LLM_MAX_PROMPT_LABELS);
    assert_true(json_as_i64(json_get(doc, "more_labels"), &n));
    assert_int_equal(n, 3);
    assert_int_equal(json_count(json_get(doc, "paths")), LLM_MAX_PROMPT_PATHS);
    assert_true(json_as_i64(json_get(doc, "more_paths"), &n));
    assert_int_equal(n, 5);
    assert_true(json_as_str(json_get(doc, "description"), &s));
    assert_true(s.len <= LLM_MAX_PROMPT_DESCRIPTION);
    assert_true(str_starts_with(s, STR_LIT("mail [email] ddd")));
    json_free(doc);
    /* exactly at the description's limit nothing is cut */
    buf_reset(&b);
    memset(desc, 'd', sizeof desc);
    in.description = str_from(desc, LLM_MAX_PROMPT_DESCRIPTION);
    assert_int_equal(llm_prompt_build(&in, &cls, &b), ERR_OK);
    assert_null(strstr(buf_cstr(&b), "…"));
    buf_reset(&b);
    in.description = str_from(desc, LLM_MAX_PROMPT_DESCRIPTION + 1);
    assert_int_equal(llm_prompt_build(&in, &cls, &b), ERR_OK);
    assert_non_null(strstr(buf_cstr(&b), "…"));
    /* out's cap reached: ERR_LIMIT, out as it was */
    struct buf small = BUF_INIT(64);
    assert_int_equal(llm_prompt_build(&in, &cls, &small), ERR_LIMIT);
    assert_int_equal(small.len, 0);
    buf_release(&small);
    buf_release(&b);
    assert_true(llm_prompt_token_estimate(300) >= 100);
}

/* Every part at its limit, of the byte the writer escapes longest: it still fits. */
static void test_prompt_worst_case(void **state)
{
    (void)state;
    static char lt[LLM_MAX_PROMPT_DESCRIPTION + 1000];
    memset(lt, '<', sizeof lt);
    struct str labels[LLM_MAX_PROMPT_LABELS], paths[LLM_MAX_PROMPT_PATHS];
    for (size_t i = 0; i < LLM_MAX_PROMPT_LABELS; i++)
        labels[i] = str_from(lt, LLM_MAX_PROMPT_LABEL + 50);
    for (size_t i = 0; i < LLM_MAX_PROMPT_PATHS; i++)
        paths[i] = str_from(lt, LLM_MAX_PROMPT_PATH + 50);
    struct change_input in = {
        .title = str_from(lt, LLM_MAX_PROMPT_TITLE + 50),
        .description = str_from(lt, sizeof lt),
        .labels = labels,
        .n_labels = LLM_MAX_PROMPT_LABELS,
        .paths = paths,
        .n_paths = LLM_MAX_PROMPT_PATHS,
    };
    struct classify_result cls = {.impact = CHANGE_BREAKING};
    struct buf p = BUF_INIT(LLM_MAX_PROMPT * 2), body = BUF_INIT(LLM_MAX_REQUEST);
    assert_int_equal(llm_prompt_build(&in, &cls, &p), ERR_OK);
    assert_true(p.len <= LLM_MAX_PROMPT);
    assert_int_equal(llm_request_body(LLM_PROVIDER_OPENAI, STR_LIT("m"), 1,
                                      str_from(buf_cstr(&p), p.len), &body),
                     ERR_OK);
    buf_release(&p);
    buf_release(&body);
}

static void test_requests(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(LLM_MAX_URL);
    assert_int_equal(llm_request_url(LLM_PROVIDER_ANTHROPIC, STR_LIT("https://a.example//"), &b),
                     ERR_OK);
    assert_string_equal(buf_cstr(&b), "https://a.example/v1/messages");
    buf_reset(&b);
    assert_int_equal(llm_request_url(LLM_PROVIDER_OPENAI, STR_LIT("http://h:11434/v1/"), &b),
                     ERR_OK);
    assert_string_equal(buf_cstr(&b), "http://h:11434/v1/chat/completions");
    assert_int_equal(llm_request_url(LLM_PROVIDER_NONE, STR_LIT("http://h"), &b), ERR_INVALID);
    buf_release(&b);

    struct buf body = BUF_INIT(LLM_MAX_REQUEST);
    struct json *doc = NULL;
    struct json_error je;
    struct str s;
    int64_t n;
    assert_int_equal(llm_request_body(LLM_PROVIDER_ANTHROPIC, STR_LIT("claude-x"), 300,
                                      STR_LIT("{\"title\":\"t\"}"), &body),
                     ERR_OK);
    assert_int_equal(json_parse(buf_cstr(&body), body.len, &JSON_LIMITS_DEFAULT, &doc, &je),
                     ERR_OK);
    assert_true(json_as_str(json_get(doc, "model"), &s) && str_eq_cstr(s, "claude-x"));
    assert_true(json_as_i64(json_get(doc, "max_tokens"), &n) && n == 300);
    assert_true(json_as_str(json_get(doc, "system"), &s) && str_eq_cstr(s, LLM_SYSTEM_PROMPT));
    const struct json *msgs = json_get(doc, "messages");
    assert_int_equal(json_count(msgs), 1);
    assert_true(json_as_str(json_get(json_first(msgs), "role"), &s) && str_eq_cstr(s, "user"));
    assert_true(json_as_str(json_get(json_first(msgs), "content"), &s) &&
                str_eq_cstr(s, "{\"title\":\"t\"}"));
    json_free(doc);

    buf_reset(&body);
    assert_int_equal(
        llm_request_body(LLM_PROVIDER_OPENAI, STR_LIT("gpt-x"), 200, STR_LIT("p"), &body), ERR_OK);
    assert_int_equal(json_parse(buf_cstr(&body), body.len, &JSON_LIMITS_DEFAULT, &doc, &je),
                     ERR_OK);
    assert_null(json_get(doc, "system"));
    msgs = json_get(doc, "messages");
    assert_int_equal(json_count(msgs), 2);
    assert_true(json_as_str(json_get(json_first(msgs), "role"), &s) && str_eq_cstr(s, "system"));
    assert_true(json_as_str(json_get(json_next(json_first(msgs)), "content"), &s) &&
                str_eq_cstr(s, "p"));
    json_free(doc);
    assert_int_equal(llm_request_body(LLM_PROVIDER_OPENAI, STR_LIT("m"), 0, STR_LIT("p"), &body),
                     ERR_INVALID);
    buf_release(&body);
}

/* Parses body for p: the text into OUT, usage into *u; returns the result. */
static enum err answer(enum llm_provider p, const char *body, struct llm_usage *u)
{
    struct buf t = BUF_INIT(LLM_MAX_ANSWER_TEXT);
    const char *why = NULL;
    enum err e = llm_response_parse(p, str_from_cstr(body), &t, u, &why);
    if (e)
        assert_non_null(why);
    memcpy(OUT, buf_cstr(&t), t.len + 1);
    buf_release(&t);
    return e;
}

static void test_responses(void **state)
{
    (void)state;
    struct llm_usage u;
    assert_int_equal(
        answer(LLM_PROVIDER_ANTHROPIC,
               "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":["
               "{\"type\":\"thinking\",\"thinking\":\"hm\"},{\"type\":\"text\",\"text\":\"a\"},"
               "{\"type\":\"text\",\"text\":\"b\"}],\"stop_reason\":\"end_turn\",\"usage\":"
               "{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":7}}",
               &u),
        ERR_OK);
    assert_string_equal(OUT, "ab");
    assert_true(u.known);
    assert_int_equal(u.tokens_in, 15);
    assert_int_equal(u.tokens_out, 7);
    /* cut by the token limit: refused, usage still read */
    assert_int_equal(
        answer(LLM_PROVIDER_ANTHROPIC,
               "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"a\"}],"
               "\"stop_reason\":\"max_tokens\",\"usage\":{\"input_tokens\":1,"
               "\"output_tokens\":2}}",
               &u),
        ERR_INVALID);
    assert_true(u.known);
    assert_string_equal(OUT, "");
    static const char *const bad_anthropic[] = {
        "",
        "[]",
        "null",
        "{\"content\":\"x\"}",
        "{\"content\":[]}",
        "{\"content\":[1]}",
        "{\"content\":[{\"text\":\"x\"}]}",
        "{\"content\":[{\"type\":\"text\"}]}",
        "{\"content\":[{\"type\":\"text\",\"text\":7}]}",
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}",
        "{\"content\":[{\"type\":\"text\",\"text\":\"x\"}],\"stop_reason\":\"refusal\"}",
        "{\"content\":[{\"type\":\"text\",\"text\":\"x\",\"text\":\"y\"}]}",
    };
    for (size_t i = 0; i < sizeof bad_anthropic / sizeof bad_anthropic[0]; i++)
        assert_int_not_equal(answer(LLM_PROVIDER_ANTHROPIC, bad_anthropic[i], &u), ERR_OK);

    assert_int_equal(
        answer(LLM_PROVIDER_OPENAI,
               "{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
               "\"message\":{\"role\":\"assistant\",\"content\":\"hi\",\"refusal\":"
               "null},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,"
               "\"completion_tokens\":3,\"total_tokens\":12}}",
               &u),
        ERR_OK);
    assert_string_equal(OUT, "hi");
    assert_true(u.known && u.tokens_in == 9 && u.tokens_out == 3);
    static const char *const bad_openai[] = {
        "{}",
        "{\"choices\":[]}",
        "{\"choices\":[1]}",
        "{\"choices\":[{}]}",
        "{\"choices\":[{\"message\":{\"content\":null}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\",\"refusal\":\"no\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":\"length\"}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":\"content_filter\"}]}",
        "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}",
    };
    for (size_t i = 0; i < sizeof bad_openai / sizeof bad_openai[0]; i++)
        assert_int_not_equal(answer(LLM_PROVIDER_OPENAI, bad_openai[i], &u), ERR_OK);
    /* usage that is not counts is not known */
    assert_int_equal(answer(LLM_PROVIDER_OPENAI,
                            "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{"
                            "\"prompt_tokens\":-1,\"completion_tokens\":3}}",
                            &u),
                     ERR_OK);
    assert_false(u.known);

    /* the response's limit and one past it */
    static char big[LLM_MAX_RESPONSE + 2];
    const char *head = "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"pad\":\"";
    memset(big, 'p', sizeof big);
    memcpy(big, head, strlen(head));
    big[LLM_MAX_RESPONSE - 2] = '"';
    big[LLM_MAX_RESPONSE - 1] = '}';
    struct buf t = BUF_INIT(LLM_MAX_ANSWER_TEXT);
    assert_int_equal(
        llm_response_parse(LLM_PROVIDER_OPENAI, str_from(big, LLM_MAX_RESPONSE), &t, &u, NULL),
        ERR_OK);
    big[LLM_MAX_RESPONSE - 1] = 'p';
    big[LLM_MAX_RESPONSE] = '}';
    buf_reset(&t);
    assert_int_equal(
        llm_response_parse(LLM_PROVIDER_OPENAI, str_from(big, LLM_MAX_RESPONSE + 1), &t, &u, NULL),
        ERR_LIMIT);
    buf_release(&t);
}

static void test_error_type(void **state)
{
    (void)state;
    char t[LLM_MAX_ERROR_TYPE + 1];
    llm_error_type(STR_LIT("{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
                           "\"message\":\"slow down key sk-ant-123\"}}"),
                   t);
    assert_string_equal(t, "rate_limit_error");
    llm_error_type(STR_LIT("{\"error\":{\"message\":\"x\",\"type\":null,\"code\":\"Invalid "
                           "<API> key\"}}"),
                   t);
    assert_string_equal(t, "invalidapikey");
    llm_error_type(STR_LIT("<html>502</html>"), t);
    assert_string_equal(t, "");
    llm_error_type(STR_LIT("{\"error\":\"plain\"}"), t);
    assert_string_equal(t, "");
}

/* Parses text as a draft; OUT gets the title and "|" and the body. */
static enum err parse_draft(const char *text)
{
    struct change_draft d;
    memset(&d, 0, sizeof d);
    memcpy(d.title, "rules", 6);
    const char *why = NULL;
    enum err e = llm_draft_parse(str_from_cstr(text), &d, &why);
    if (e) {
        assert_non_null(why);
        assert_string_equal(d.title, "rules"); /* untouched on refusal */
    }
    snprintf(OUT, sizeof OUT, "%s|%s", d.title, d.body);
    return e;
}

static void test_drafts(void **state)
{
    (void)state;
    assert_int_equal(parse_draft("{\"title\":\"Faster sign-in\",\"body\":\"Sign-in takes one "
                                 "step.\\nNothing else changes.\"}"),
                     ERR_OK);
    assert_string_equal(OUT, "Faster sign-in|Sign-in takes one step.\nNothing else changes.");
    assert_int_equal(parse_draft("```json\n{\"body\":\"\",\"title\":\" T \"}\n```"), ERR_OK);
    assert_string_equal(OUT, "T|");
    assert_int_equal(parse_draft("  ```\n{\"title\":\"T\",\"body\":\"b\"}\n```\n"), ERR_OK);
    assert_int_equal(parse_draft("{\"title\":\"Ünïcödé ✓ 1 < 2\",\"body\":\"a > b\"}"), ERR_OK);
    static const char *const bad[] = {
        "",
        "Here you go: {\"title\":\"T\",\"body\":\"b\"}",
        "```python\n{\"title\":\"T\",\"body\":\"b\"}\n```",
        "[\"T\",\"b\"]",
        "{\"title\":\"T\"}",
        "{\"title\":\"T\",\"body\":\"b\",\"category\":\"breaking\"}",
        "{\"title\":\"T\",\"summary\":\"b\"}",
        "{\"title\":1,\"body\":\"b\"}",
        "{\"title\":\"T\",\"body\":null}",
        "{\"title\":\"  \",\"body\":\"b\"}",
        "{\"title\":\"T\\nU\",\"body\":\"b\"}",
        "{\"title\":\"T\",\"body\":\"b\\u0000\"}",
        "{\"title\":\"T\",\"body\":\"b\\u001b[31m\"}",
        "{\"title\":\"<b>T</b>\",\"body\":\"b\"}",
        "{\"title\":\"T\",\"body\":\"<img src=x onerror=alert(1)>\"}",
        "{\"title\":\"T\",\"body\":\"<!-- x -->\"}",
        "{\"title\":\"T\",\"body\":\"see [docs](https://evil.example)\"}",
        "{\"title\":\"T\",\"body\":\"see [docs][1]\"}",
        "{\"title\":\"T\",\"body\":\"![x](y)\"}",
        "{\"title\":\"T\",\"body\":\"visit https://evil.example\"}",
        "{\"title\":\"T\",\"body\":\"javascript:alert(1)\"}",
        "{\"title\":\"T\\u202eevil\",\"body\":\"b\"}",
        "{\"title\":\"T\",\"body\":\"b\\u2066x\"}",
        "{\"title\":\"T\",\"title\":\"U\"}",
        "{\"title\":\"T\",\"body\":\"b\"} trailing",
        "{\"title\":\"T\",\"body\":{\"x\":1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse_draft(bad[i]) == ERR_OK)
            fail_msg("accepted: %s", bad[i]);
    assert_int_not_equal(parse_draft("{\"title\":\"T\xff\",\"body\":\"b\"}"), ERR_OK);

    /* title and body: the limits and one past them */
    static char text[LLM_MAX_ANSWER_TEXT + 64], field[DRAFT_MAX_BODY + 2];
    memset(field, 't', sizeof field);
    field[DRAFT_MAX_TITLE] = '\0';
    snprintf(text, sizeof text, "{\"title\":\"%s\",\"body\":\"\"}", field);
    assert_int_equal(parse_draft(text), ERR_OK);
    field[DRAFT_MAX_TITLE] = 't';
    field[DRAFT_MAX_TITLE + 1] = '\0';
    snprintf(text, sizeof text, "{\"title\":\"%s\",\"body\":\"\"}", field);
    assert_int_equal(parse_draft(text), ERR_LIMIT);
    memset(field, 'b', sizeof field);
    field[DRAFT_MAX_BODY] = '\0';
    snprintf(text, sizeof text, "{\"title\":\"T\",\"body\":\"%s\"}", field);
    assert_int_equal(parse_draft(text), ERR_OK);
    field[DRAFT_MAX_BODY] = 'b';
    field[DRAFT_MAX_BODY + 1] = '\0';
    snprintf(text, sizeof text, "{\"title\":\"T\",\"body\":\"%s\"}", field);
    assert_int_equal(parse_draft(text), ERR_LIMIT);
    /* the answer text's limit and one past it */
    struct change_draft d;
    memset(text, ' ', sizeof text);
    memcpy(text, "{\"title\":\"T\",\"body\":\"b\"}", 24);
    assert_int_equal(llm_draft_parse(str_from(text, LLM_MAX_ANSWER_TEXT), &d, NULL), ERR_OK);
    assert_int_equal(llm_draft_parse(str_from(text, LLM_MAX_ANSWER_TEXT + 1), &d, NULL), ERR_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),      cmocka_unit_test(test_base_url),
        cmocka_unit_test(test_model),      cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_prompt),     cmocka_unit_test(test_prompt_worst_case),
        cmocka_unit_test(test_requests),   cmocka_unit_test(test_responses),
        cmocka_unit_test(test_error_type), cmocka_unit_test(test_drafts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
