/*
 * llm_service — configuration, budget, call log and the call (see llm_service.h).
 *
 * Design: llm_draft reads everything it needs in one short read transaction
 * (settings, the sealed key, the month's usage), then holds no transaction
 * while it unseals the key and waits on the network; the key lives only in
 * a secret buffer and the header line built from it, both wiped before the
 * function returns. Every way a call can end maps to one outcome in one
 * place (settle), so the log and the fallback cannot disagree.
 */
#include "changes/llm_service.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "core/log.h"
#include "crypto/hash.h"
#include "crypto/rand.h"

static const char *const outcome_names[LLM_OUTCOME_COUNT_] = {
    [LLM_OUTCOME_OK] = "ok",
    [LLM_OUTCOME_HTTP_ERROR] = "http_error",
    [LLM_OUTCOME_TIMEOUT] = "timeout",
    [LLM_OUTCOME_UNAVAILABLE] = "unavailable",
    [LLM_OUTCOME_REFUSED] = "refused",
    [LLM_OUTCOME_MALFORMED] = "malformed",
    [LLM_OUTCOME_BUDGET_EXHAUSTED] = "budget_exhausted",
    [LLM_OUTCOME_NOT_CONFIGURED] = "not_configured",
};

const char *llm_outcome_name(enum llm_outcome o)
{
    return (unsigned)o < LLM_OUTCOME_COUNT_ ? outcome_names[o] : "unknown";
}

static bool outcome_parse(struct str s, enum llm_outcome *out)
{
    for (int o = 0; o < LLM_OUTCOME_COUNT_; o++)
        if (str_eq_cstr(s, outcome_names[o])) {
            *out = (enum llm_outcome)o;
            return true;
        }
    return false;
}

void llm_settings_default(struct llm_settings *out)
{
    memset(out, 0, sizeof *out);
    out->provider = LLM_PROVIDER_NONE;
    out->max_output_tokens = LLM_DEFAULT_OUTPUT_TOKENS;
}

/* ---- configuration --------------------------------------------------------------------- */

static enum err problem(struct llm_settings_problem *why, enum err e, const char *field,
                        const char *reason)
{
    if (why) {
        why->field = field;
        why->reason = reason;
    }
    return e;
}

enum err llm_settings_check(const struct llm_settings_update *u, struct llm_settings_problem *why)
{
    const char *reason = NULL;
    enum err e;
    if ((unsigned)u->provider >= LLM_PROVIDER_COUNT_)
        return problem(why, ERR_INVALID, "provider", "one of none, anthropic, openai");
    if (u->base_url.len && (e = llm_base_url_check(u->base_url, &reason)))
        return problem(why, e, "base_url", reason);
    if ((u->provider != LLM_PROVIDER_NONE || u->model.len) &&
        (e = llm_model_check(u->model, &reason)))
        return problem(why, e, "model", reason);
    if (u->monthly_token_budget < 0 || u->monthly_token_budget > LLM_MAX_BUDGET)
        return problem(why, ERR_INVALID, "monthly_token_budget", "from 0 to 1000000000 tokens");
    if (u->max_output_tokens < 0 || u->max_output_tokens > LLM_MAX_OUTPUT_TOKENS)
        return problem(why, ERR_INVALID, "max_output_tokens", "from 1 to 4096 tokens");
    if (u->key_action == LLM_KEY_SET) {
        if (u->api_key.len == 0)
            return problem(why, ERR_INVALID, "api_key", "may not be empty");
        if (u->api_key.len > LLM_MAX_API_KEY)
            return problem(why, ERR_LIMIT, "api_key", "at most 512 bytes");
        for (size_t i = 0; i < u->api_key.len; i++)
            if ((unsigned char)u->api_key.ptr[i] <= 0x20 ||
                (unsigned char)u->api_key.ptr[i] >= 0x7f)
                return problem(why, ERR_INVALID, "api_key", "printable ASCII without spaces only");
    }
    return ERR_OK;
}

#define SETTINGS_COLUMNS                                                                           \
    "provider, base_url, model, monthly_token_budget, max_output_tokens, api_key_env, "            \
    "api_key_hint, updated_at"

static void copy_col(const struct stmt *st, int col, char *dst, size_t cap)
{
    struct str v = stmt_col_text(st, col);
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    memcpy(dst, v.ptr, n);
    dst[n] = '\0';
}

/* The settings and (env not NULL) the sealed key. */
static enum err settings_read(struct tx *tx, struct llm_settings *out, struct buf *env)
{
    llm_settings_default(out);
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx, "SELECT " SETTINGS_COLUMNS " FROM llm_settings WHERE tenant_id = $1",
                          NULL, 0, &st, &row);
    if (e || !row) {
        if (st)
            stmt_finish(st);
        return e;
    }
    if (!llm_provider_parse(stmt_col_text(st, 0), &out->provider)) {
        log_warn("llm settings: unreadable provider, none used");
        out->provider = LLM_PROVIDER_NONE;
    }
    copy_col(st, 1, out->base_url, sizeof out->base_url);
    copy_col(st, 2, out->model, sizeof out->model);
    out->monthly_token_budget = stmt_col_int(st, 3);
    out->max_output_tokens = stmt_col_int(st, 4);
    out->has_api_key = !stmt_col_is_null(st, 5);
    if (out->has_api_key && env) {
        struct str b = stmt_col_blob(st, 5);
        e = buf_append(env, b.ptr, b.len);
    }
    copy_col(st, 6, out->api_key_hint, sizeof out->api_key_hint);
    out->updated_at = stmt_col_int(st, 7);
    stmt_finish(st);
    return e;
}

enum err llm_settings_get(struct tx *tx, struct llm_settings *out)
{
    return settings_read(tx, out, NULL);
}

static const char *key_action_name(enum llm_key_action a)
{
    return a == LLM_KEY_SET ? "replaced" : a == LLM_KEY_REMOVE ? "removed" : "kept";
}

static enum err settings_audit(struct tx *tx, const struct llm_actor *who,
                               const struct llm_settings *old, const struct llm_settings *now,
                               enum llm_key_action action)
{
    struct log_field details[] = {
        LOG_STR("provider_from", llm_provider_name(old->provider)),
        LOG_STR("provider_to", llm_provider_name(now->provider)),
        LOG_STR("base_url_from", old->base_url),
        LOG_STR("base_url_to", now->base_url),
        LOG_STR("model_from", old->model),
        LOG_STR("model_to", now->model),
        LOG_INT("monthly_budget_from", old->monthly_token_budget),
        LOG_INT("monthly_budget_to", now->monthly_token_budget),
        LOG_INT("max_output_from", old->max_output_tokens),
        LOG_INT("max_output_to", now->max_output_tokens),
        LOG_STR("provider_access", key_action_name(action)),
        {.key = NULL},
    };
    struct audit_event ev = {
        .action = "settings.llm_changed",
        .actor = who->key_id ? AUDIT_ACTOR_API_KEY : AUDIT_ACTOR_USER,
        .actor_id = who->key_id ? who->key_id : who->user_id,
        .target = "settings:llm",
        .outcome = AUDIT_SUCCESS,
        .client_ip = who->client_ip,
        .request_id = who->request_id,
        .details = details,
    };
    return audit_append(tx, &ev, NULL);
}

enum err llm_settings_set(struct storage *s, struct secrets *sec, const struct tenant_ctx *t,
                          const struct llm_actor *who, const struct llm_settings_update *u,
                          int64_t now, struct llm_settings_problem *why, struct llm_settings *out)
{
    enum err e = llm_settings_check(u, why);
    if (e)
        return e;
    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE);
    char hint[SECRETS_HINT_SIZE] = "";
    if (u->key_action == LLM_KEY_SET) {
        e = secrets_seal(sec, t, STR_LIT(LLM_PURPOSE_API_KEY), STR_LIT(LLM_KEY_RECORD),
                         u->api_key.ptr, u->api_key.len, &env);
        secrets_hint_of(u->api_key, hint);
    }
    struct tx *tx = NULL;
    struct llm_settings old, next;
    if (!e)
        e = storage_begin(s, t, TX_WRITE, &tx);
    if (!e)
        e = settings_read(tx, &old, NULL);
    if (!e) {
        llm_settings_default(&next);
        next.provider = u->provider;
        struct str base =
            u->base_url.len ? u->base_url : str_from_cstr(llm_provider_default_base(u->provider));
        snprintf(next.base_url, sizeof next.base_url, "%.*s", (int)base.len, base.ptr);
        snprintf(next.model, sizeof next.model, "%.*s", (int)u->model.len,
                 u->model.ptr ? u->model.ptr : "");
        next.monthly_token_budget = u->monthly_token_budget;
        next.max_output_tokens =
            u->max_output_tokens ? u->max_output_tokens : LLM_DEFAULT_OUTPUT_TOKENS;
        next.has_api_key =
            u->key_action == LLM_KEY_SET || (u->key_action == LLM_KEY_KEEP && old.has_api_key);
        if (u->key_action == LLM_KEY_SET)
            memcpy(next.api_key_hint, hint, SECRETS_HINT_SIZE);
        else if (u->key_action == LLM_KEY_KEEP)
            memcpy(next.api_key_hint, old.api_key_hint, SECRETS_HINT_SIZE);
        next.updated_at = now;
        if (next.provider != LLM_PROVIDER_NONE && !next.has_api_key)
            e = problem(why, ERR_INVALID, "api_key", "an API key is required for this provider");
    }
    if (!e) {
        /* the stored envelope is kept by COALESCE when no new one is given (KEEP) */
        struct storage_arg key =
            u->key_action == LLM_KEY_SET ? STORAGE_BLOB(str_from(env.data, env.len)) : STORAGE_NULL;
        e = tx_exec_args(tx,
                         "INSERT INTO llm_settings (tenant_id, " SETTINGS_COLUMNS ", updated_by)"
                         " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                         " ON CONFLICT (tenant_id) DO UPDATE SET provider = excluded.provider,"
                         " base_url = excluded.base_url, model = excluded.model,"
                         " monthly_token_budget = excluded.monthly_token_budget,"
                         " max_output_tokens = excluded.max_output_tokens,"
                         " api_key_env = CASE WHEN $11 = 'kept' THEN llm_settings.api_key_env"
                         " ELSE excluded.api_key_env END,"
                         " api_key_hint = excluded.api_key_hint, updated_at = excluded.updated_at,"
                         " updated_by = excluded.updated_by",
                         STORAGE_ARGS(STORAGE_CSTR(llm_provider_name(next.provider)),
                                      STORAGE_CSTR(next.base_url), STORAGE_CSTR(next.model),
                                      STORAGE_INT(next.monthly_token_budget),
                                      STORAGE_INT(next.max_output_tokens), key,
                                      STORAGE_CSTR(next.api_key_hint), STORAGE_INT(now),
                                      STORAGE_CSTR(who->key_id ? who->key_id : who->user_id),
                                      STORAGE_CSTR(key_action_name(u->key_action))),
                         NULL);
    }
    if (!e)
        e = settings_audit(tx, who, &old, &next, u->key_action);
    if (tx) {
        if (e)
            storage_rollback(tx);
        else
            e = storage_commit(tx);
    }
    buf_release(&env); /* an envelope, no plaintext */
    if (!e && out)
        *out = next;
    return e;
}

/* ---- the call log ---------------------------------------------------------------------- */

/* The start of the UTC month holding now, plus months (timegm normalizes). */
static int64_t month_start(int64_t now, int months)
{
    time_t t = (time_t)now;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return 0;
    tm.tm_mon += months;
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = 0;
    return (int64_t)timegm(&tm);
}

int64_t llm_month_start(int64_t now)
{
    return month_start(now, 0);
}

enum err llm_month_usage(struct tx *tx, int64_t now, int64_t *used)
{
    *used = 0;
    struct stmt *st = NULL;
    bool row = false;
    enum err e =
        tx_query(tx,
                 "SELECT COALESCE(SUM(tokens_in + tokens_out), 0) FROM llm_calls"
                 " WHERE tenant_id = $1 AND at >= $2 AND at < $3",
                 STORAGE_ARGS(STORAGE_INT(month_start(now, 0)), STORAGE_INT(month_start(now, 1))),
                 &st, &row);
    if (!e && row)
        *used = stmt_col_int(st, 0);
    if (st)
        stmt_finish(st);
    return e;
}

static bool hex_id(const char *s)
{
    size_t n = strlen(s);
    if (n != LLM_CALL_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

enum err llm_calls_list(struct tx *tx, const char *after, size_t limit, struct llm_call *out,
                        size_t *n, char next[LLM_CALL_ID_LEN + 1])
{
    *n = 0;
    char cursor[LLM_CALL_ID_LEN + 1] = ""; /* after may be next itself */
    bool from_start = !after || !after[0];
    if (!from_start && !hex_id(after)) {
        next[0] = '\0';
        return ERR_INVALID;
    }
    if (!from_start)
        memcpy(cursor, after, sizeof cursor);
    next[0] = '\0';
    if (limit < 1 || limit > LLM_CALLS_PAGE_MAX)
        return ERR_INVALID;
    struct stmt *st = NULL;
    bool row = false;
    /* one row more than asked tells whether a next page exists */
    enum err e = tx_query(tx,
                          "SELECT id, at, provider, model, tokens_in, tokens_out, estimated,"
                          " latency_ms, outcome, http_status FROM llm_calls"
                          " WHERE tenant_id = $1 AND ($2 = '' OR id < $2)"
                          " ORDER BY id DESC LIMIT $3",
                          STORAGE_ARGS(STORAGE_CSTR(cursor), STORAGE_INT(limit + 1)), &st, &row);
    for (; !e && row; e = stmt_step(st, &row)) {
        if (*n == limit) {
            memcpy(next, out[limit - 1].id, LLM_CALL_ID_LEN + 1);
            break;
        }
        struct llm_call *c = &out[(*n)++];
        memset(c, 0, sizeof *c);
        copy_col(st, 0, c->id, sizeof c->id);
        c->at = stmt_col_int(st, 1);
        if (!llm_provider_parse(stmt_col_text(st, 2), &c->provider))
            c->provider = LLM_PROVIDER_NONE;
        copy_col(st, 3, c->model, sizeof c->model);
        c->tokens_in = stmt_col_int(st, 4);
        c->tokens_out = stmt_col_int(st, 5);
        c->estimated = stmt_col_int(st, 6) != 0;
        c->latency_ms = stmt_col_int(st, 7);
        if (!outcome_parse(stmt_col_text(st, 8), &c->outcome))
            c->outcome = LLM_OUTCOME_COUNT_;
        c->http_status = stmt_col_is_null(st, 9) ? 0 : (int)stmt_col_int(st, 9);
    }
    if (st)
        stmt_finish(st);
    return e;
}

/* Whether tx's tenant logged a budget_exhausted call since the start of now's month. */
static enum err exhausted_this_month(struct tx *tx, int64_t now, bool *yes)
{
    struct stmt *st = NULL;
    *yes = false;
    enum err e = tx_query(
        tx,
        "SELECT 1 FROM llm_calls WHERE tenant_id = $1 AND at >= $2 AND at < $3"
        " AND outcome = 'budget_exhausted' LIMIT 1",
        STORAGE_ARGS(STORAGE_INT(month_start(now, 0)), STORAGE_INT(month_start(now, 1))), &st, yes);
    if (st)
        stmt_finish(st);
    return e;
}

enum err llm_record(struct tx *tx, const struct llm_result *r)
{
    if (!r->attempted)
        return ERR_OK;
    const struct llm_call *c = &r->call;
    if (c->provider != LLM_PROVIDER_ANTHROPIC && c->provider != LLM_PROVIDER_OPENAI)
        return ERR_INVALID;
    bool audited = true;
    enum err e = ERR_OK;
    if (c->outcome == LLM_OUTCOME_BUDGET_EXHAUSTED &&
        !(e = exhausted_this_month(tx, c->at, &audited)) && !audited) {
        struct log_field details[] = {
            LOG_INT("monthly_budget", c->budget),
            LOG_INT("used_this_month", c->used),
            LOG_INT("needed", c->needed),
            LOG_STR("provider", llm_provider_name(c->provider)),
            LOG_STR("model", c->model),
            {.key = NULL},
        };
        struct audit_event ev = {
            .action = "llm.budget_exhausted",
            .actor = AUDIT_ACTOR_SYSTEM,
            .actor_id = "llm",
            .target = "settings:llm",
            .outcome = AUDIT_DENIED,
            .details = details,
        };
        e = audit_append(tx, &ev, NULL);
    }
    char id[LLM_CALL_ID_LEN + 1];
    if (!e)
        e = rand_hex_sortable(id, LLM_CALL_ID_LEN / 2);
    if (!e)
        e = tx_exec_args(tx,
                         "INSERT INTO llm_calls (tenant_id, id, at, operation, provider, model,"
                         " tokens_in, tokens_out, estimated, latency_ms, outcome, http_status)"
                         " VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8, $9, $10, $11)",
                         STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_INT(c->at),
                                      STORAGE_CSTR(llm_provider_name(c->provider)),
                                      STORAGE_CSTR(c->model), STORAGE_INT(c->tokens_in),
                                      STORAGE_INT(c->tokens_out), STORAGE_INT(c->estimated ? 1 : 0),
                                      STORAGE_INT(c->latency_ms),
                                      STORAGE_CSTR(llm_outcome_name(c->outcome)),
                                      c->http_status ? STORAGE_INT(c->http_status) : STORAGE_NULL),
                         NULL);
    return e;
}

/* ---- the call ---------------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The fallback: the rules draft, and the outcome logged. */
static void fall_back(struct llm_result *out, const struct change_draft *rules, enum llm_outcome o,
                      const char *why)
{
    out->draft = *rules;
    out->provider = "rules";
    out->call.outcome = o;
    log_warn("llm draft: fell back to the rules", LOG_STR("outcome", llm_outcome_name(o)),
             LOG_STR("provider", llm_provider_name(out->call.provider)),
             LOG_STR("why", why ? why : ""), LOG_INT("status", out->call.http_status));
}

/* Sends the request with the key's header; the header line is wiped before returning. */
static enum err send_call(struct secrets *sec, const struct llm_options *opt,
                          const struct tenant_ctx *t, const struct llm_settings *cfg,
                          const struct buf *env, struct str url, struct str body, struct arena *a,
                          struct httpc_response *resp, char *why, size_t why_cap)
{
    struct buf key = BUF_INIT_SECRET(SECRETS_MAX_VALUE);
    struct buf line = BUF_INIT_SECRET(LLM_MAX_API_KEY + 64);
    enum err e = secrets_unseal(sec, t, STR_LIT(LLM_PURPOSE_API_KEY), STR_LIT(LLM_KEY_RECORD),
                                env->data, env->len, &key);
    if (!e)
        e = buf_puts(&line, cfg->provider == LLM_PROVIDER_ANTHROPIC ? "x-api-key: "
                                                                    : "Authorization: Bearer ");
    if (!e)
        e = buf_append(&line, key.data, key.len);
    buf_wipe(&key);
    buf_release(&key);
    if (e) {
        buf_wipe(&line);
        buf_release(&line);
        snprintf(why, why_cap, "the API key cannot be read");
        return ERR_CRYPTO;
    }
    const char *anthropic[] = {buf_cstr(&line), "anthropic-version: " LLM_ANTHROPIC_VERSION,
                               "content-type: application/json", "accept: application/json", NULL};
    const char *openai[] = {buf_cstr(&line), "content-type: application/json",
                            "accept: application/json", NULL};
    struct httpc_request req = {
        .method = "POST",
        .url = url,
        .headers = cfg->provider == LLM_PROVIDER_ANTHROPIC ? anthropic : openai,
        .body = body,
        .timeout_ms = opt && opt->timeout_ms > 0 ? opt->timeout_ms : LLM_TIMEOUT_MS,
        .max_response = LLM_MAX_RESPONSE,
        .policy = opt ? opt->policy : NULL,
    };
    e = httpc_send(&req, a, resp, why, why_cap);
    buf_wipe(&line);
    buf_release(&line);
    return e;
}

/* Counts the worst case when the provider said nothing about what a request cost. */
static void worst_case(struct llm_call *c, int64_t prompt_tokens, int64_t max_out)
{
    c->tokens_in = prompt_tokens;
    c->tokens_out = max_out;
    c->estimated = true;
}

enum err llm_draft(struct storage *s, struct secrets *sec, const struct llm_options *opt,
                   const struct tenant_ctx *t, const struct change_input *in,
                   const struct classify_result *cls, const struct change_draft *rules_draft,
                   int64_t now, struct arena *a, struct llm_result *out)
{
    memset(out, 0, sizeof *out);
    out->draft = *rules_draft;
    out->provider = "rules";
    struct llm_settings cfg;
    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE);
    struct tx *tx = NULL;
    int64_t used = 0;
    enum err e = storage_begin(s, t, TX_READ, &tx);
    if (!e) {
        e = settings_read(tx, &cfg, &env);
        if (!e && cfg.provider != LLM_PROVIDER_NONE)
            e = llm_month_usage(tx, now, &used);
        storage_rollback(tx);
    }
    if (e || cfg.provider == LLM_PROVIDER_NONE) {
        buf_release(&env);
        return e;
    }

    struct llm_call *c = &out->call;
    out->attempted = true;
    c->at = now;
    c->provider = cfg.provider;
    memcpy(c->model, cfg.model, sizeof c->model);
    struct buf prompt = BUF_INIT(LLM_MAX_PROMPT), body = BUF_INIT(LLM_MAX_REQUEST),
               url = BUF_INIT(LLM_MAX_URL), text = BUF_INIT(LLM_MAX_ANSWER_TEXT);
    char why[128] = "";
    const char *reason = NULL;
    e = llm_prompt_build(in, cls, &prompt);
    if (!e)
        e = llm_request_body(cfg.provider, str_from_cstr(cfg.model), cfg.max_output_tokens,
                             str_from(buf_cstr(&prompt), prompt.len), &body);
    if (!e)
        e = llm_request_url(cfg.provider, str_from_cstr(cfg.base_url), &url);
    if (e) {
        /* a change too large to describe within the limits: the rules' draft, nothing sent */
        fall_back(out, rules_draft, LLM_OUTCOME_MALFORMED, "the request is over its limits");
        e = ERR_OK;
        goto done;
    }
    int64_t prompt_tokens = llm_prompt_token_estimate(prompt.len + strlen(LLM_SYSTEM_PROMPT));
    c->needed = prompt_tokens + cfg.max_output_tokens;
    c->budget = cfg.monthly_token_budget;
    c->used = used;
    if (used + c->needed > cfg.monthly_token_budget) {
        fall_back(out, rules_draft, LLM_OUTCOME_BUDGET_EXHAUSTED, "the monthly token budget");
        log_warn("llm: the monthly token budget is exhausted", LOG_STR("tenant", t->id),
                 LOG_INT("budget", c->budget), LOG_INT("used", used), LOG_INT("needed", c->needed));
        goto done;
    }
    if (!cfg.has_api_key) {
        fall_back(out, rules_draft, LLM_OUTCOME_NOT_CONFIGURED, "no API key");
        goto done;
    }

    struct httpc_response resp = {0};
    int64_t started = mono_ms();
    enum err se = send_call(sec, opt, t, &cfg, &env, str_from(buf_cstr(&url), url.len),
                            str_from(buf_cstr(&body), body.len), a, &resp, why, sizeof why);
    c->latency_ms = resp.latency_ms > 0 ? resp.latency_ms : mono_ms() - started;
    switch (se) {
    case ERR_OK:
        break;
    case ERR_CRYPTO:
        fall_back(out, rules_draft, LLM_OUTCOME_NOT_CONFIGURED, why);
        goto done;
    case ERR_TIMEOUT:
        worst_case(c, prompt_tokens, cfg.max_output_tokens);
        fall_back(out, rules_draft, LLM_OUTCOME_TIMEOUT, why);
        goto done;
    case ERR_LIMIT: /* the answer was over LLM_MAX_RESPONSE: it ran, it cost */
        worst_case(c, prompt_tokens, cfg.max_output_tokens);
        fall_back(out, rules_draft, LLM_OUTCOME_MALFORMED, "the answer is too long");
        goto done;
    case ERR_FORBIDDEN:
    case ERR_INVALID:
        fall_back(out, rules_draft, LLM_OUTCOME_REFUSED, why);
        goto done;
    default:
        fall_back(out, rules_draft, LLM_OUTCOME_UNAVAILABLE, why);
        goto done;
    }
    c->http_status = (int)resp.status;
    if (resp.status < 200 || resp.status > 299) {
        char type[LLM_MAX_ERROR_TYPE + 1];
        llm_error_type(resp.body, type);
        fall_back(out, rules_draft, LLM_OUTCOME_HTTP_ERROR, type);
        goto done;
    }
    struct llm_usage usage;
    e = llm_response_parse(cfg.provider, resp.body, &text, &usage, &reason);
    if (usage.known) {
        c->tokens_in = usage.tokens_in;
        c->tokens_out = usage.tokens_out;
    } else {
        worst_case(c, prompt_tokens, cfg.max_output_tokens);
    }
    struct change_draft d = *rules_draft;
    if (!e)
        e = llm_draft_parse(str_from(buf_cstr(&text), text.len), &d, &reason);
    if (e) {
        fall_back(out, rules_draft, LLM_OUTCOME_MALFORMED, reason);
        e = ERR_OK;
        goto done;
    }
    out->draft = d; /* the model's title and body; the rules' category and audience */
    out->provider = llm_provider_name(cfg.provider);
    c->outcome = LLM_OUTCOME_OK;
done:
    buf_release(&prompt);
    buf_release(&body);
    buf_release(&url);
    buf_release(&text);
    buf_release(&env);
    return ERR_OK;
}
