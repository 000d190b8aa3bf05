/*
 * llm_service — a tenant's LLM provider for changelog drafts (D2, D3): its
 * configuration, the monthly token budget, the call log, and the call
 * itself with its fallback to the rules draft. The wire formats and the
 * redaction are changes/llm.h; docs/CHANGES.md ("LLM providers") is the
 * picture for operators and reviewers.
 *
 * Configuration (table llm_settings, one row per tenant; none = rules only):
 * provider, base URL (the provider's public one by default), model, monthly
 * token budget, the most output tokens one call may ask for, and the API
 * key, stored only as an envelope of secrets_seal (purpose
 * LLM_PURPOSE_API_KEY, record id "llm_settings") with a hint of its last
 * characters for people. A change and its audit event
 * ("settings.llm_changed", which never holds the key) commit together.
 *
 * A draft (llm_draft, the draft job's prepare step, no write transaction
 * held): reads the settings and the month's usage in a read transaction of
 * its own; if the month's tokens (in + out, UTC calendar month, from the
 * call log) plus this call's worst case (llm_prompt_token_estimate of the
 * prompt, plus max_output_tokens) exceed the budget, no request is sent:
 * outcome budget_exhausted, a warning in the log, and llm_record adds the
 * audit event "llm.budget_exhausted" (once a month per tenant: the first
 * refusal of the month). Otherwise the key is unsealed into a wiped buffer,
 * the request goes out through net/httpc.h under the operator's policy
 * (addresses judged at connect time: a base URL resolving to a private
 * address is refused unless SHIPLOG_OUTBOUND_ALLOW_PRIVATE), within
 * LLM_TIMEOUT_MS, reading at most LLM_MAX_RESPONSE bytes, and the key is
 * wiped. Whatever goes wrong — the network, the provider's status, a
 * malformed or over-long answer, a draft that fails llm_draft_parse — the
 * result is a copy of the rules draft; only storage errors are errors.
 *
 * The budget reads committed usage: draft jobs of one tenant running at
 * once (two runner threads, several servers) may each pass the check and
 * overshoot it by at most their own worst cases.
 *
 * The log (table llm_calls, llm_record in the runner's write transaction):
 * one row per attempt — operation "draft", provider, model, tokens in and
 * out (the provider's counts; its worst case, marked estimated, when it
 * reported none after a request that may have run: a timeout, an oversize
 * or malformed answer), latency, outcome, HTTP status, time. Never the
 * prompt, the answer or the key.
 *
 * Thread-safety: every function may run on any thread with shared storages.
 */
#ifndef SHIPLOG_CHANGES_LLM_SERVICE_H
#define SHIPLOG_CHANGES_LLM_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "changes/classify.h"
#include "changes/draft.h"
#include "changes/llm.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"
#include "net/httpc.h"
#include "secrets/secrets.h"
#include "storage/storage.h"

#define LLM_PURPOSE_API_KEY       "llm.api_key"
#define LLM_KEY_RECORD            "llm_settings"
#define LLM_MAX_API_KEY           512                 /* bytes of an API key */
#define LLM_MAX_BUDGET            INT64_C(1000000000) /* tokens a month at most */
#define LLM_MAX_OUTPUT_TOKENS     4096                /* max_output_tokens at most */
#define LLM_DEFAULT_OUTPUT_TOKENS 1024
#define LLM_TIMEOUT_MS            30000L /* one call, connect to last byte */
#define LLM_CALLS_PAGE_MAX        100    /* rows one llm_calls_list returns at most */
#define LLM_CALL_ID_LEN           32     /* hex digits of a call's id */

enum llm_outcome {
    LLM_OUTCOME_OK,               /* the model's draft was used */
    LLM_OUTCOME_HTTP_ERROR,       /* the provider answered with a non-2xx status */
    LLM_OUTCOME_TIMEOUT,          /* no complete answer within LLM_TIMEOUT_MS */
    LLM_OUTCOME_UNAVAILABLE,      /* no connection (DNS, TCP, TLS) */
    LLM_OUTCOME_REFUSED,          /* the outbound policy refused the address or URL */
    LLM_OUTCOME_MALFORMED,        /* an answer that is not a usable draft */
    LLM_OUTCOME_BUDGET_EXHAUSTED, /* not sent: the month's budget would be exceeded */
    LLM_OUTCOME_NOT_CONFIGURED,   /* not sent: no readable API key */
    LLM_OUTCOME_COUNT_
};

/* "ok", "http_error", "timeout", "unavailable", "refused", "malformed", "budget_exhausted",
 * "not_configured"; "unknown" out of range. */
const char *llm_outcome_name(enum llm_outcome o);

/* A tenant's configuration as shown (never the key). */
struct llm_settings {
    enum llm_provider provider;
    char base_url[LLM_MAX_BASE_URL + 1];
    char model[LLM_MAX_MODEL + 1];
    int64_t monthly_token_budget;
    int64_t max_output_tokens;
    bool has_api_key;
    char api_key_hint[SECRETS_HINT_SIZE];
    int64_t updated_at; /* 0: never configured (the defaults) */
};

/* The defaults: provider none, no key, budget 0, LLM_DEFAULT_OUTPUT_TOKENS. */
void llm_settings_default(struct llm_settings *out);

enum llm_key_action { LLM_KEY_KEEP, LLM_KEY_SET, LLM_KEY_REMOVE };

/* A new configuration; views borrowed for the call. */
struct llm_settings_update {
    enum llm_provider provider;
    struct str base_url; /* STR_NULL / empty: the provider's default */
    struct str model;    /* required unless provider none */
    int64_t monthly_token_budget;
    int64_t max_output_tokens; /* 0: LLM_DEFAULT_OUTPUT_TOKENS */
    enum llm_key_action key_action;
    struct str api_key; /* LLM_KEY_SET: 1..LLM_MAX_API_KEY bytes of printable ASCII, no spaces */
};

/* Who changes the configuration, for updated_by and the audit event. */
struct llm_actor {
    const char *user_id;    /* the acting user (a key's creator) */
    const char *key_id;     /* the API key acting, or NULL */
    const char *client_ip;  /* NULL = "" */
    const char *request_id; /* NULL = "" */
};

/* Why an update was refused: the field (API name) and a public reason (constants). */
struct llm_settings_problem {
    const char *field;
    const char *reason;
};

/*
 * Checks u without a database: ERR_INVALID / ERR_LIMIT with *why for a bad
 * base URL (llm_base_url_check), model, budget (0..LLM_MAX_BUDGET),
 * max_output_tokens (0 or 1..LLM_MAX_OUTPUT_TOKENS) or API key.
 */
MUST_CHECK enum err llm_settings_check(const struct llm_settings_update *u,
                                       struct llm_settings_problem *why);

/* The tenant's configuration in tx, the defaults when none is stored. Storage errors. */
MUST_CHECK enum err llm_settings_get(struct tx *tx, struct llm_settings *out);

/*
 * Replaces tenant t's configuration with u (after llm_settings_check): the
 * key is sealed before the write transaction, which then writes the row and
 * audits "settings.llm_changed" (provider, base URL, model, budget, output
 * tokens, and whether the key was kept, replaced or removed). A provider
 * other than none without a key (none given, none kept) is ERR_INVALID on
 * field api_key. out (may be NULL) gets the configuration now in force.
 * Errors of llm_settings_check (why filled), secrets_seal, storage, audit.
 */
MUST_CHECK enum err llm_settings_set(struct storage *s, struct secrets *sec,
                                     const struct tenant_ctx *t, const struct llm_actor *who,
                                     const struct llm_settings_update *u, int64_t now,
                                     struct llm_settings_problem *why, struct llm_settings *out);

/* One call attempt as logged. */
struct llm_call {
    char id[LLM_CALL_ID_LEN + 1]; /* set by llm_record / read back by llm_calls_list */
    int64_t at;                   /* Unix seconds */
    enum llm_provider provider;
    char model[LLM_MAX_MODEL + 1];
    int64_t tokens_in, tokens_out;
    bool estimated; /* the worst case counted: the provider reported no usage */
    int64_t latency_ms;
    enum llm_outcome outcome;
    int http_status; /* 0: no HTTP answer */
    /* budget_exhausted only (for its audit event): the budget, the month's use, this call's worst
     * case */
    int64_t budget, used, needed;
};

/* The start (Unix seconds) of the UTC calendar month holding now. */
int64_t llm_month_start(int64_t now);

/* Tokens in + out logged for tx's tenant in now's UTC calendar month, into *used. */
MUST_CHECK enum err llm_month_usage(struct tx *tx, int64_t now, int64_t *used);

/*
 * The tenant's calls, newest first: after the call id `after` (NULL or "":
 * from the newest), at most limit (1..LLM_CALLS_PAGE_MAX, else ERR_INVALID)
 * into out[0..*n); next gets the id to continue after ("" when no more).
 * ERR_INVALID for an after that is not LLM_CALL_ID_LEN lower-case hex.
 */
MUST_CHECK enum err llm_calls_list(struct tx *tx, const char *after, size_t limit,
                                   struct llm_call *out, size_t *n, char next[LLM_CALL_ID_LEN + 1]);

/* How the process calls providers (the draft job's handler holds it: see docs/CHANGES.md). */
struct llm_options {
    const struct httpc_policy *policy; /* the operator's outbound policy; NULL: nothing private */
    long timeout_ms;                   /* one call; 0: LLM_TIMEOUT_MS */
};

/* What llm_draft produced. */
struct llm_result {
    struct change_draft draft; /* the LLM's text, or a copy of the rules draft on any failure */
    const char *provider;      /* "rules", "anthropic" or "openai": who wrote draft */
    bool attempted;            /* a call was made or refused: a log row for llm_record */
    struct llm_call call;      /* that row (valid when attempted) */
};

/*
 * The draft job's prepare step (no write transaction held; may block on the
 * network up to opt->timeout_ms): see the top of this file. opt (may be
 * NULL: defaults, nothing private allowed) says how to call. out->draft is
 * the model's title and body with rules_draft's category and audience, or
 * all of rules_draft. Never fails for provider trouble; storage errors as
 * they come (the job retries). a holds the response while it is read.
 */
MUST_CHECK enum err llm_draft(struct storage *s, struct secrets *sec, const struct llm_options *opt,
                              const struct tenant_ctx *t, const struct change_input *in,
                              const struct classify_result *cls,
                              const struct change_draft *rules_draft, int64_t now, struct arena *a,
                              struct llm_result *out);

/*
 * The draft job's apply step, inside the runner's write transaction of the
 * tenant: the call's log row (nothing when !r->attempted) and, for the
 * month's first budget_exhausted, the audit event "llm.budget_exhausted".
 * May run twice for one attempt (the runner's retry of a failed batch): it
 * writes only in tx.
 */
MUST_CHECK enum err llm_record(struct tx *tx, const struct llm_result *r);

#endif
