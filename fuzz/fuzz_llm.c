/*
 * fuzz_llm — arbitrary bytes as what an LLM provider answers (changes/llm.h):
 * as an Anthropic and an OpenAI response body, as an error body, and as the
 * model's draft text; and as a change's title and description (split at the
 * first NUL byte) through the D3 redaction and the prompt. Checks what the
 * parsers promise: a refusal carries a reason and leaves the draft alone;
 * an accepted draft is valid UTF-8 within DRAFT_MAX_TITLE / DRAFT_MAX_BODY
 * with a one-line title; the prompt is JSON within LLM_MAX_PROMPT that holds
 * no '@' between a word character and a dotted domain.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "changes/llm.h"
#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_answer(enum llm_provider p, struct str in)
{
    struct buf text = BUF_INIT(LLM_MAX_ANSWER_TEXT);
    struct llm_usage u;
    const char *why = NULL;
    enum err e = llm_response_parse(p, in, &text, &u, &why);
    if (e && (!why || text.len != 0))
        abort();
    if (u.known && (u.tokens_in < 0 || u.tokens_out < 0))
        abort();
    buf_release(&text);
}

static void check_draft(struct str in)
{
    struct change_draft d;
    memset(&d, 0, sizeof d);
    memcpy(d.title, "keep", 5);
    const char *why = NULL;
    enum err e = llm_draft_parse(in, &d, &why);
    if (e) {
        if (!why || strcmp(d.title, "keep") != 0 || d.body[0] != '\0')
            abort();
        return;
    }
    size_t tl = strnlen(d.title, sizeof d.title), bl = strnlen(d.body, sizeof d.body);
    if (tl == 0 || tl > DRAFT_MAX_TITLE || bl > DRAFT_MAX_BODY || memchr(d.title, '\n', tl) ||
        !json_utf8_valid(str_from(d.title, tl), NULL) ||
        !json_utf8_valid(str_from(d.body, bl), NULL))
        abort();
}

static void check_prompt(struct str all)
{
    const char *nul = memchr(all.ptr, '\0', all.len);
    struct str title = nul ? str_from(all.ptr, (size_t)(nul - all.ptr)) : all;
    struct str desc = nul ? str_from(nul + 1, all.len - title.len - 1) : STR_NULL;
    struct str label = str_from(title.ptr, title.len < 50 ? title.len : 50);
    struct change_input in = {.title = title,
                              .description = desc,
                              .labels = &label,
                              .n_labels = 1,
                              .paths = &label,
                              .n_paths = 1};
    struct classify_result cls = {.impact = CHANGE_FEATURE};
    struct buf p = BUF_INIT(LLM_MAX_PROMPT * 8);
    enum err e = llm_prompt_build(&in, &cls, &p);
    if (e == ERR_OK) {
        struct json *doc = NULL;
        struct json_error je;
        const struct json_limits lim = {LLM_MAX_PROMPT, 4, LLM_MAX_PROMPT, 100};
        if (p.len > LLM_MAX_PROMPT || json_parse(buf_cstr(&p), p.len, &lim, &doc, &je) != ERR_OK)
            abort();
        json_free(doc);
    } else if (e != ERR_LIMIT) {
        abort();
    }
    buf_release(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct str in = str_from((const char *)data, size);
    check_answer(LLM_PROVIDER_ANTHROPIC, in);
    check_answer(LLM_PROVIDER_OPENAI, in);
    char type[LLM_MAX_ERROR_TYPE + 1];
    llm_error_type(in, type);
    if (strlen(type) > LLM_MAX_ERROR_TYPE)
        abort();
    check_draft(in);
    check_prompt(in);
    return 0;
}
