/*
 * llm — the pure half of the optional LLM providers of changelog drafts (D2,
 * D3): what is sent to a provider and how its answer is read. No storage, no
 * network; llm_service.h does the calling, the budget and the log.
 *
 * What is sent (D3): only the change's title, description, labels and paths
 * and the classified impact, after redaction (llm_prompt_build): e-mail
 * addresses become "[email]", @mentions "[user]", credentials "[redacted]"
 * (ingest/redact.h's known formats, secret-named assignments such as
 * "password=...", and long letter-and-digit runs), fenced code blocks
 * "[code omitted]", HTML comments go; every part is cut to a named limit.
 * Authors, logins, e-mail fields, payloads and code never reach here: struct
 * change_input does not carry them.
 *
 * Two wire formats:
 *  - Anthropic Messages: POST {base_url}/v1/messages, headers x-api-key,
 *    anthropic-version: 2023-06-01, content-type: application/json; body
 *    {model, max_tokens, system, messages:[{role:"user", content}]}; the
 *    answer is the text blocks of content[], usage.input_tokens (plus cache
 *    token counts when present) and usage.output_tokens.
 *  - OpenAI-compatible chat completions: POST {base_url}/chat/completions,
 *    Authorization: Bearer; body {model, messages:[system, user],
 *    max_tokens}; the answer is choices[0].message.content,
 *    usage.prompt_tokens / completion_tokens.
 * base_url is joined as each vendor's own SDKs do: Anthropic's base is the
 * host root ("https://api.anthropic.com") and the path adds "/v1/messages";
 * OpenAI's base includes the version ("https://api.openai.com/v1", as
 * compatible servers document theirs: "http://host:11434/v1") and the path
 * adds "/chat/completions". Trailing slashes of base_url are dropped.
 *
 * The model is asked for one JSON object {"title": ..., "body": ...}.
 * llm_draft_parse reads it strictly: an object with exactly those two string
 * members (a ```/```json fence around it is accepted), valid UTF-8, a title
 * of 1..DRAFT_MAX_TITLE bytes on one line, a body of at most DRAFT_MAX_BODY
 * bytes, no control characters (but newlines in the body), no bidirectional
 * overrides, no HTML tags, no Markdown links or images, no URLs: nothing a
 * reviewer could miss that a changelog page would render. Over a limit is
 * refused, not cut. Category and audience never come from the model.
 *
 * Thread-safety: no state; call from any thread.
 */
#ifndef SHIPLOG_CHANGES_LLM_H
#define SHIPLOG_CHANGES_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "changes/classify.h"
#include "changes/draft.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

#define LLM_MAX_PROMPT_TITLE       500    /* bytes of the change's title sent (cut) */
#define LLM_MAX_PROMPT_DESCRIPTION 4000   /* bytes of the description sent (cut) */
#define LLM_MAX_PROMPT_LABELS      20     /* labels sent; the rest are counted */
#define LLM_MAX_PROMPT_LABEL       100    /* bytes of one label sent (cut) */
#define LLM_MAX_PROMPT_PATHS       30     /* paths sent; the rest are counted */
#define LLM_MAX_PROMPT_PATH        200    /* bytes of one path sent (cut) */
#define LLM_MAX_PROMPT             81920  /* bytes of the user message: all of the above, escaped */
#define LLM_MAX_REQUEST            196608 /* bytes of a request body: the prompt escaped again */
#define LLM_MAX_RESPONSE           65536  /* bytes of a provider's response read; more: malformed */
#define LLM_MAX_ANSWER_TEXT        8192   /* bytes of the model's text; more: malformed */
#define LLM_MAX_BASE_URL           512    /* bytes of a base URL */
#define LLM_MAX_MODEL              128    /* bytes of a model name */
#define LLM_MAX_URL                (LLM_MAX_BASE_URL + 32)
#define LLM_MAX_ERROR_TYPE         48 /* bytes of a provider's error type kept for the log */
/* Bytes of prompt counted as one token by the budget's worst case: real
 * tokenizers average about 4 bytes of English a token, so 3 over-counts. */
#define LLM_BYTES_PER_TOKEN        3
#define LLM_ANTHROPIC_VERSION      "2023-06-01"
#define LLM_ANTHROPIC_DEFAULT_BASE "https://api.anthropic.com"
#define LLM_OPENAI_DEFAULT_BASE    "https://api.openai.com/v1"

enum llm_provider {
    LLM_PROVIDER_NONE = 0, /* drafts by rules only */
    LLM_PROVIDER_ANTHROPIC,
    LLM_PROVIDER_OPENAI,
    LLM_PROVIDER_COUNT_
};

/* "none", "anthropic", "openai"; "unknown" out of range. */
const char *llm_provider_name(enum llm_provider p);
/* The provider named exactly by s; false for anything else. */
bool llm_provider_parse(struct str s, enum llm_provider *out);
/* The base URL a provider uses when none is configured ("" for NONE). */
const char *llm_provider_default_base(enum llm_provider p);

/*
 * Checks a base URL before it is stored: 1..LLM_MAX_BASE_URL bytes of
 * printable ASCII without spaces, scheme http or https, a host, no userinfo
 * ('@' in the authority), no query or fragment. ERR_LIMIT past the length,
 * ERR_INVALID otherwise; *why (may be NULL) gets a public reason. The
 * addresses the host resolves to are judged at connect time (net/httpc.h).
 */
MUST_CHECK enum err llm_base_url_check(struct str url, const char **why);
/* Checks a model name: 1..LLM_MAX_MODEL bytes of [A-Za-z0-9._:/@+-]. */
MUST_CHECK enum err llm_model_check(struct str model, const char **why);

/* The instructions sent as the system prompt (constant, no change data). */
extern const char LLM_SYSTEM_PROMPT[];

/*
 * D3: appends the user message for change in, classified as cls, to out: a
 * JSON object {"impact", "title", "labels", "more_labels", "paths",
 * "more_paths", "description"} of the redacted, cut parts (see above). The
 * result is at most LLM_MAX_PROMPT bytes. ERR_LIMIT only when out's cap is
 * reached.
 */
MUST_CHECK enum err llm_prompt_build(const struct change_input *in,
                                     const struct classify_result *cls, struct buf *out);

/*
 * The D3 redaction of one text, appended to out: code fences and HTML
 * comments dropped (code_too), e-mail addresses, @mentions and credentials
 * masked, whitespace runs kept, the result cut to max bytes between UTF-8
 * characters. ERR_LIMIT only when out's cap is reached.
 */
MUST_CHECK enum err llm_redact_text(struct str s, size_t max, bool code_too, struct buf *out);

/* The budget's estimate of the tokens of a request whose prompt (system + user) is n bytes. */
int64_t llm_prompt_token_estimate(size_t n);

/* The request URL of provider at base_url, appended to out. ERR_INVALID for NONE. */
MUST_CHECK enum err llm_request_url(enum llm_provider p, struct str base_url, struct buf *out);

/*
 * The request body (JSON) for provider p: model, max_output_tokens, the
 * system prompt and the user message prompt. ERR_INVALID for NONE or
 * max_output_tokens < 1; ERR_LIMIT when out's cap is reached.
 */
MUST_CHECK enum err llm_request_body(enum llm_provider p, struct str model,
                                     int64_t max_output_tokens, struct str prompt, struct buf *out);

/* What a provider's answer said besides the text. */
struct llm_usage {
    bool known;         /* the answer carried usage counts */
    int64_t tokens_in;  /* prompt tokens (Anthropic: input + cache creation + cache read) */
    int64_t tokens_out; /* generated tokens */
};

/*
 * Reads a provider's successful (2xx) response body: appends the model's
 * text to text (cap LLM_MAX_ANSWER_TEXT is the caller's) and fills usage
 * (whatever was readable, also on error). ERR_INVALID with *why for
 * anything else: not JSON, a wrong shape, no text, an answer cut by the
 * token limit (stop_reason "max_tokens", finish_reason "length"), a refusal;
 * ERR_LIMIT when the body or text is over its limit.
 */
MUST_CHECK enum err llm_response_parse(enum llm_provider p, struct str body, struct buf *text,
                                       struct llm_usage *usage, const char **why);

/*
 * The error type of a provider's error body ({"type":"error","error":
 * {"type": ...}} or {"error": {"type"|"code": ...}}), reduced to
 * [a-z0-9_.-] and at most LLM_MAX_ERROR_TYPE bytes, into out; "" when
 * there is none. Never the message: it may echo the request.
 */
void llm_error_type(struct str body, char out[LLM_MAX_ERROR_TYPE + 1]);

/*
 * Reads the model's text as a draft: title and body of out (category and
 * audience are left as they are). ERR_INVALID / ERR_LIMIT with *why (a
 * constant) as described at the top; out's title and body are then
 * unchanged.
 */
MUST_CHECK enum err llm_draft_parse(struct str text, struct change_draft *out, const char **why);

#endif
