/*
 * LLM suite (D2, D3; changes/llm_service.h): a tenant's provider settings
 * with the key stored only sealed and audited without it, every limit one
 * past; the call log, its pagination and the month's usage; the budget
 * refusing before anything is sent, audited once a month; and llm_draft
 * against small local HTTP servers speaking each provider's wire format —
 * answers, 4xx/5xx error bodies, a timeout, malformed, oversize and
 * wrongly shaped answers, an address the outbound policy refuses — each
 * falling back to the rules draft with the right outcome; the exact bytes
 * that reached the server hold no e-mail address, credential or author.
 * Tenant isolation throughout. Runs against whichever backend the
 * environment selects:
 *
 *   SHIPLOG_TEST_PG_{OWNER,APP,VAULT_OWNER,VAULT_APP}_URL set (scripts/pgtmp
 *   run): PostgreSQL; otherwise SQLite files in a fresh mkdtemp directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../common/testdb.h"
#include "../common/testhttpd.h"

#include "changes/llm_service.h"
#include "crypto/keyring.h"
#include "secrets/secrets.h"

#define KEY_A   "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define NOW     INT64_C(1700000000) /* 2023-11-14T22:13:20Z */
#define API_KEY "sk-test-0123456789abcdefWXYZ"

struct suite {
    bool pg;
    char dir[64];
    char main_path[128], vault_path[128];
    struct storage *main_app, *vault_app;
    struct keyring ring;
    struct secrets *sec;
};

static struct suite S;

static int suite_setup(void **state)
{
    (void)state;
    const char *owner = getenv("SHIPLOG_TEST_PG_OWNER_URL"),
               *app = getenv("SHIPLOG_TEST_PG_APP_URL");
    const char *vowner = getenv("SHIPLOG_TEST_PG_VAULT_OWNER_URL");
    const char *vapp = getenv("SHIPLOG_TEST_PG_VAULT_APP_URL");
    S.pg = owner && owner[0] && app && app[0] && vowner && vowner[0] && vapp && vapp[0];
    if (!S.pg) {
        owner = app = vowner = vapp = NULL;
        snprintf(S.dir, sizeof S.dir, "/tmp/shiplog-llm-XXXXXX");
        if (!mkdtemp(S.dir))
            return -1;
        snprintf(S.main_path, sizeof S.main_path, "%s/shiplog.db", S.dir);
        snprintf(S.vault_path, sizeof S.vault_path, "%s/keyvault.db", S.dir);
    }
    const char *mp = S.pg ? NULL : S.main_path, *vp = S.pg ? NULL : S.vault_path;
    struct storage *m = testdb_open(STORAGE_SCHEMA_MAIN, owner, mp, true);
    struct storage *v = testdb_open(STORAGE_SCHEMA_VAULT, vowner, vp, true);
    struct buf detail = BUF_INIT(2048);
    enum err e = m && v ? storage_migrate(m, &detail) : ERR_UNAVAILABLE;
    if (!e)
        e = storage_migrate(v, &detail);
    if (e)
        fprintf(stderr, "# migrate: %s: %s\n", err_name(e), buf_cstr(&detail));
    buf_release(&detail);
    storage_close(m);
    storage_close(v);
    if (e)
        return -1;
    S.main_app = testdb_open(STORAGE_SCHEMA_MAIN, app, mp, false);
    S.vault_app = testdb_open(STORAGE_SCHEMA_VAULT, vapp, vp, false);
    if (!S.main_app || !S.vault_app)
        return -1;
    testdb_load_ring(S.pg ? "/tmp" : S.dir, KEY_A, NULL, &S.ring);
    if (secrets_open(S.main_app, S.vault_app, &S.ring, &S.sec) != ERR_OK)
        return -1;
    printf("# backend: %s\n", S.pg ? "postgresql" : "sqlite");
    return 0;
}

static void rm_sqlite(const char *path)
{
    char p[192];
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

static int suite_teardown(void **state)
{
    (void)state;
    secrets_close(S.sec);
    storage_close(S.main_app);
    storage_close(S.vault_app);
    keyring_wipe(&S.ring);
    if (!S.pg) {
        rm_sqlite(S.main_path);
        rm_sqlite(S.vault_path);
        rmdir(S.dir);
    }
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static char USER[37];

static struct llm_actor actor(void)
{
    if (!USER[0])
        testdb_random_uuid(USER);
    return (struct llm_actor){
        .user_id = USER, .key_id = NULL, .client_ip = "192.0.2.9", .request_id = "req-llm"};
}

static void new_tenant(struct tenant_ctx *t)
{
    testdb_random_uuid(t->id);
    assert_int_equal(secrets_tenant_key_create(S.sec, t), ERR_OK);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.main_app, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_exec_args(tx, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, 'T')",
                                  STORAGE_ARGS(STORAGE_CSTR(t->id)), NULL),
                     ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static struct llm_settings get(const struct tenant_ctx *t)
{
    struct llm_settings s;
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.main_app, t, TX_READ, &tx), ERR_OK);
    assert_int_equal(llm_settings_get(tx, &s), ERR_OK);
    storage_rollback(tx);
    return s;
}

static enum err set(const struct tenant_ctx *t, const struct llm_settings_update *u,
                    struct llm_settings_problem *why)
{
    struct llm_actor who = actor();
    struct llm_settings now;
    return llm_settings_set(S.main_app, S.sec, t, &who, u, NOW, why, &now);
}

/* One integer from sql (tenant t's read transaction, no parameters but $1). */
static int64_t count(const struct tenant_ctx *t, const char *sql)
{
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(S.main_app, t, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_query(tx, sql, NULL, 0, &st, &row), ERR_OK);
    assert_true(row);
    int64_t v = stmt_col_int(st, 0);
    stmt_finish(st);
    storage_rollback(tx);
    return v;
}

/* Every audit detail of tenant t joined, to search for what must not be there. */
static void audit_text(const struct tenant_ctx *t, struct buf *out)
{
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(S.main_app, t, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_query(tx, "SELECT action, details FROM audit_log WHERE tenant_id = $1",
                              NULL, 0, &st, &row),
                     ERR_OK);
    for (; row; assert_int_equal(stmt_step(st, &row), ERR_OK)) {
        struct str a = stmt_col_text(st, 0), d = stmt_col_text(st, 1);
        assert_int_equal(buf_append(out, a.ptr, a.len), ERR_OK);
        assert_int_equal(buf_append(out, d.ptr, d.len), ERR_OK);
    }
    stmt_finish(st);
    storage_rollback(tx);
}

static struct llm_settings_update configured(enum llm_provider p, const char *base)
{
    return (struct llm_settings_update){
        .provider = p,
        .base_url = base ? str_from_cstr(base) : STR_NULL,
        .model = STR_LIT("test-model-1"),
        .monthly_token_budget = 1000000,
        .max_output_tokens = 500,
        .key_action = LLM_KEY_SET,
        .api_key = STR_LIT(API_KEY),
    };
}

/* ---- settings --------------------------------------------------------------------------- */

static void test_settings(void **state)
{
    (void)state;
    struct tenant_ctx t, other;
    new_tenant(&t);
    new_tenant(&other);
    struct llm_settings s = get(&t);
    assert_int_equal(s.provider, LLM_PROVIDER_NONE);
    assert_false(s.has_api_key);
    assert_int_equal(s.updated_at, 0);

    struct llm_settings_update u = configured(LLM_PROVIDER_ANTHROPIC, NULL);
    struct llm_settings_problem why = {0};
    assert_int_equal(set(&t, &u, &why), ERR_OK);
    s = get(&t);
    assert_int_equal(s.provider, LLM_PROVIDER_ANTHROPIC);
    assert_string_equal(s.base_url, LLM_ANTHROPIC_DEFAULT_BASE);
    assert_string_equal(s.model, "test-model-1");
    assert_int_equal(s.monthly_token_budget, 1000000);
    assert_int_equal(s.max_output_tokens, 500);
    assert_true(s.has_api_key);
    assert_string_equal(s.api_key_hint, "WXYZ");
    assert_int_equal(s.updated_at, NOW);
    /* the key is stored sealed only */
    assert_int_equal(count(&t, "SELECT COUNT(*) FROM llm_settings WHERE tenant_id = $1 AND"
                               " api_key_env IS NOT NULL"),
                     1);
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(S.main_app, &t, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_query(tx, "SELECT api_key_env FROM llm_settings WHERE tenant_id = $1", NULL,
                              0, &st, &row),
                     ERR_OK);
    struct str env = stmt_col_blob(st, 0);
    assert_null(memmem(env.ptr, env.len, "0123456789abcdef", 16));
    stmt_finish(st);
    storage_rollback(tx);

    /* kept when not given; the other tenant sees nothing of it */
    u = configured(LLM_PROVIDER_OPENAI, "http://127.0.0.1:9/v1");
    u.key_action = LLM_KEY_KEEP;
    u.api_key = STR_NULL;
    assert_int_equal(set(&t, &u, &why), ERR_OK);
    s = get(&t);
    assert_int_equal(s.provider, LLM_PROVIDER_OPENAI);
    assert_string_equal(s.base_url, "http://127.0.0.1:9/v1");
    assert_true(s.has_api_key);
    assert_string_equal(s.api_key_hint, "WXYZ");
    assert_int_equal(get(&other).provider, LLM_PROVIDER_NONE);
    assert_int_equal(set(&other, &u, &why), ERR_INVALID); /* no key of its own */
    assert_string_equal(why.field, "api_key");

    /* removed: only with provider none */
    u.key_action = LLM_KEY_REMOVE;
    why = (struct llm_settings_problem){0};
    assert_int_equal(set(&t, &u, &why), ERR_INVALID);
    assert_string_equal(why.field, "api_key");
    u = (struct llm_settings_update){.provider = LLM_PROVIDER_NONE, .key_action = LLM_KEY_REMOVE};
    assert_int_equal(set(&t, &u, &why), ERR_OK);
    s = get(&t);
    assert_false(s.has_api_key);
    assert_string_equal(s.api_key_hint, "");

    /* audited, never with the key */
    struct buf text = BUF_INIT(1 << 20);
    audit_text(&t, &text);
    assert_non_null(strstr(buf_cstr(&text), "settings.llm_changed"));
    assert_non_null(strstr(buf_cstr(&text), "\"provider_access\":\"replaced\""));
    assert_non_null(strstr(buf_cstr(&text), "\"provider_access\":\"removed\""));
    assert_non_null(strstr(buf_cstr(&text), "\"monthly_budget_to\":1000000"));
    assert_null(strstr(buf_cstr(&text), "0123456789abcdef"));
    buf_release(&text);
}

static void test_settings_limits(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct llm_settings_problem why = {0};
    static char key[LLM_MAX_API_KEY + 1], url[LLM_MAX_BASE_URL + 1], model[LLM_MAX_MODEL + 1];
    memset(key, 'k', sizeof key);
    struct llm_settings_update u = configured(LLM_PROVIDER_OPENAI, NULL);
    u.api_key = str_from(key, LLM_MAX_API_KEY);
    assert_int_equal(set(&t, &u, &why), ERR_OK);
    u.api_key = str_from(key, LLM_MAX_API_KEY + 1);
    assert_int_equal(set(&t, &u, &why), ERR_LIMIT);
    assert_string_equal(why.field, "api_key");
    u.api_key = STR_LIT("has space");
    assert_int_equal(set(&t, &u, &why), ERR_INVALID);
    u.api_key = STR_LIT("line\r\nX-Evil: 1");
    assert_int_equal(set(&t, &u, &why), ERR_INVALID);
    u.api_key = STR_LIT(API_KEY);

    memcpy(url, "https://e.com/", 14);
    memset(url + 14, 'a', sizeof url - 14);
    u.base_url = str_from(url, LLM_MAX_BASE_URL);
    assert_int_equal(set(&t, &u, &why), ERR_OK);
    u.base_url = str_from(url, LLM_MAX_BASE_URL + 1);
    assert_int_equal(set(&t, &u, &why), ERR_LIMIT);
    assert_string_equal(why.field, "base_url");
    u.base_url = STR_LIT("https://user:pw@e.com");
    assert_int_equal(set(&t, &u, &why), ERR_INVALID);
    u.base_url = STR_LIT("file:///etc/passwd");
    assert_int_equal(set(&t, &u, &why), ERR_INVALID);
    u.base_url = STR_NULL;

    memset(model, 'm', sizeof model);
    u.model = str_from(model, LLM_MAX_MODEL);
    assert_int_equal(set(&t, &u, &why), ERR_OK);
    u.model = str_from(model, LLM_MAX_MODEL + 1);
    assert_int_equal(set(&t, &u, &why), ERR_LIMIT);
    assert_string_equal(why.field, "model");
    u.model = STR_NULL;
    assert_int_equal(set(&t, &u, &why), ERR_INVALID);
    u.model = STR_LIT("m");

    u.monthly_token_budget = LLM_MAX_BUDGET;
    assert_int_equal(set(&t, &u, &why), ERR_OK);
    u.monthly_token_budget = LLM_MAX_BUDGET + 1;
    assert_int_equal(set(&t, &u, &why), ERR_INVALID);
    u.monthly_token_budget = -1;
    assert_int_equal(set(&t, &u, &why), ERR_INVALID);
    u.monthly_token_budget = 0;
    u.max_output_tokens = LLM_MAX_OUTPUT_TOKENS;
    assert_int_equal(set(&t, &u, &why), ERR_OK);
    u.max_output_tokens = LLM_MAX_OUTPUT_TOKENS + 1;
    assert_int_equal(set(&t, &u, &why), ERR_INVALID);
    assert_string_equal(why.field, "max_output_tokens");
    u.max_output_tokens = 0; /* the default */
    assert_int_equal(set(&t, &u, &why), ERR_OK);
    assert_int_equal(get(&t).max_output_tokens, LLM_DEFAULT_OUTPUT_TOKENS);
}

/* ---- the call log and the budget ----------------------------------------------------------- */

static void record(const struct tenant_ctx *t, const struct llm_result *r)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.main_app, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(llm_record(tx, r), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
    usleep(2000); /* ids sort by the millisecond they were made in */
}

static struct llm_result logged(int64_t at, int64_t in, int64_t out, enum llm_outcome o)
{
    struct llm_result r = {.attempted = true, .provider = "rules"};
    r.call = (struct llm_call){.at = at,
                               .provider = LLM_PROVIDER_OPENAI,
                               .tokens_in = in,
                               .tokens_out = out,
                               .latency_ms = 12,
                               .outcome = o,
                               .http_status = 200};
    memcpy(r.call.model, "m-1", 4);
    return r;
}

static int64_t usage(const struct tenant_ctx *t, int64_t now)
{
    struct tx *tx = NULL;
    int64_t used = -1;
    assert_int_equal(storage_begin(S.main_app, t, TX_READ, &tx), ERR_OK);
    assert_int_equal(llm_month_usage(tx, now, &used), ERR_OK);
    storage_rollback(tx);
    return used;
}

static void test_call_log(void **state)
{
    (void)state;
    struct tenant_ctx t, other;
    new_tenant(&t);
    new_tenant(&other);
    int64_t month = llm_month_start(NOW);
    assert_int_equal(month, INT64_C(1698796800)); /* 2023-11-01T00:00:00Z */
    assert_int_equal(llm_month_start(month), month);
    assert_int_equal(llm_month_start(month - 1), INT64_C(1696118400)); /* 2023-10-01 */

    struct llm_result r = logged(month - 1, 1000, 1000, LLM_OUTCOME_OK); /* last month */
    record(&t, &r);
    r = logged(month, 10, 20, LLM_OUTCOME_OK);
    record(&t, &r);
    r = logged(NOW, 5, 0, LLM_OUTCOME_HTTP_ERROR);
    record(&t, &r);
    r.attempted = false; /* nothing to log */
    record(&t, &r);
    assert_int_equal(usage(&t, NOW), 35);
    assert_int_equal(usage(&t, month - 1), 2000);
    assert_int_equal(usage(&other, NOW), 0);

    struct llm_call calls[LLM_CALLS_PAGE_MAX];
    size_t n = 0;
    char next[LLM_CALL_ID_LEN + 1];
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.main_app, &t, TX_READ, &tx), ERR_OK);
    assert_int_equal(llm_calls_list(tx, NULL, 2, calls, &n, next), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(calls[0].outcome, LLM_OUTCOME_HTTP_ERROR); /* newest first */
    assert_int_equal(calls[0].tokens_in, 5);
    assert_int_equal(calls[0].http_status, 200);
    assert_int_equal(calls[0].provider, LLM_PROVIDER_OPENAI);
    assert_string_equal(calls[0].model, "m-1");
    assert_int_equal(calls[0].latency_ms, 12);
    assert_string_equal(next, calls[1].id);
    assert_int_equal(llm_calls_list(tx, next, 2, calls, &n, next), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(calls[0].at, month - 1);
    assert_string_equal(next, "");
    assert_int_equal(llm_calls_list(tx, "zz", 2, calls, &n, next), ERR_INVALID);
    assert_int_equal(llm_calls_list(tx, NULL, 0, calls, &n, next), ERR_INVALID);
    assert_int_equal(llm_calls_list(tx, NULL, LLM_CALLS_PAGE_MAX + 1, calls, &n, next),
                     ERR_INVALID);
    assert_int_equal(llm_calls_list(tx, NULL, LLM_CALLS_PAGE_MAX, calls, &n, next), ERR_OK);
    assert_int_equal(n, 3);
    storage_rollback(tx);
    assert_int_equal(storage_begin(S.main_app, &other, TX_READ, &tx), ERR_OK);
    assert_int_equal(llm_calls_list(tx, NULL, 10, calls, &n, next), ERR_OK);
    assert_int_equal(n, 0);
    storage_rollback(tx);

    /* budget_exhausted: audited for the month's first only */
    r = logged(NOW, 0, 0, LLM_OUTCOME_BUDGET_EXHAUSTED);
    r.call.budget = 100;
    r.call.used = 35;
    r.call.needed = 600;
    record(&t, &r);
    record(&t, &r);
    assert_int_equal(count(&t, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND"
                               " action = 'llm.budget_exhausted'"),
                     1);
    r.call.at = NOW + 40 * 86400; /* next month */
    record(&t, &r);
    assert_int_equal(count(&t, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND"
                               " action = 'llm.budget_exhausted'"),
                     2);
}

/* ---- llm_draft against local servers --------------------------------------------------------- */

#define ANTHROPIC_OK                                                                               \
    "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"        \
    "\"text\",\"text\":\"{\\\"title\\\":\\\"Sign in faster\\\",\\\"body\\\":\\\"Signing in now "   \
    "takes one step.\\\"}\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":321,"       \
    "\"output_tokens\":45}}"
#define OPENAI_OK                                                                                  \
    "{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{"         \
    "\"role\":"                                                                                    \
    "\"assistant\",\"content\":\"```json\\n{\\\"title\\\":\\\"Sign in faster\\\",\\\"body\\\":"    \
    "\\\"One step.\\\"}\\n```\",\"refusal\":null},\"finish_reason\":\"stop\"}],\"usage\":{"        \
    "\"prompt_tokens\":300,\"completion_tokens\":40,\"total_tokens\":340}}"

static const struct httpc_policy LOCAL = {.allow_private = true};

struct draft_case {
    struct tenant_ctx t;
    struct change_input in;
    struct classify_result cls;
    struct change_draft rules;
    struct llm_result res;
    struct str labels[2], paths[2];
};

/* A change that carries everything D3 keeps away from the provider. */
static void change_of(struct draft_case *c)
{
    c->labels[0] = STR_LIT("bug");
    c->labels[1] = STR_LIT("reported-by-alice@example.com");
    c->paths[0] = STR_LIT("src/auth/login.c");
    c->paths[1] = STR_LIT("docs/login.md");
    c->in = (struct change_input){
        .title = STR_LIT("fix(auth): one-step login (thanks jane.doe@example.com)"),
        .description =
            STR_LIT("Login now takes one step.\n\ncc @octocat, mail bob@corp.example.org\n"
                    "Old token was ghp_abcdefghijklmnopqrstuvwxyz0123456789 and password=hunter2\n"
                    "```diff\n- secret_code();\n+ new_code();\n```\n<!-- author: Jane Doe -->"),
        .labels = c->labels,
        .n_labels = 2,
        .paths = c->paths,
        .n_paths = 2,
    };
    assert_int_equal(classify_change(&c->in, NULL, &c->cls), ERR_OK);
    assert_int_equal(draft_from_rules(&c->in, &c->cls, &c->rules), ERR_OK);
}

/* Configures a new tenant for provider p at the server's port; runs llm_draft. */
static void run(struct draft_case *c, struct testhttpd *srv, enum llm_provider p,
                const struct httpc_policy *policy, int64_t budget)
{
    new_tenant(&c->t);
    change_of(c);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d%s", srv->port,
             p == LLM_PROVIDER_OPENAI ? "/v1" : "");
    struct llm_settings_update u = configured(p, base);
    u.monthly_token_budget = budget;
    assert_int_equal(set(&c->t, &u, NULL), ERR_OK);
    struct arena *a = arena_new((size_t)4 << 20);
    struct llm_options opt = {.policy = policy, .timeout_ms = 1500};
    assert_int_equal(
        llm_draft(S.main_app, S.sec, &opt, &c->t, &c->in, &c->cls, &c->rules, NOW, a, &c->res),
        ERR_OK);
    arena_free(a);
    assert_true(c->res.attempted);
    assert_int_equal(c->res.call.provider, p);
    assert_string_equal(c->res.call.model, "test-model-1");
    assert_true(c->res.call.latency_ms >= 0);
    record(&c->t, &c->res);
}

/* The draft is the rules' and the log row says outcome. */
static void assert_fell_back(const struct draft_case *c, enum llm_outcome outcome)
{
    assert_string_equal(c->res.provider, "rules");
    assert_memory_equal(&c->res.draft, &c->rules, sizeof c->rules);
    assert_int_equal(c->res.call.outcome, outcome);
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM llm_calls WHERE tenant_id = $1 AND outcome = '%s'",
             llm_outcome_name(outcome));
    assert_int_equal(count(&c->t, sql), 1);
}

/* What reached srv holds nothing D3 keeps back, and the key only in its header. */
static void assert_minimal(struct testhttpd *srv)
{
    pthread_mutex_lock(&srv->lock);
    assert_non_null(srv->body);
    const char *b = srv->body;
    static const char *const never[] = {
        "@example.com", "@corp.example", "jane.doe", "octocat", "ghp_",  "hunter2",
        "secret_code",  "new_code",      "Jane Doe", "author",  API_KEY, "0123456789abcdef",
    };
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strstr(b, never[i]))
            fail_msg("the request body holds \"%s\": %s", never[i], b);
    assert_non_null(strstr(b, "one-step login"));
    assert_non_null(strstr(b, "Login now takes one step."));
    assert_non_null(strstr(b, "src/auth/login.c"));
    assert_non_null(strstr(b, "\\\"impact\\\":\\\"fix\\\""));
    assert_non_null(strstr(b, "[email]"));
    assert_non_null(strstr(b, "[code omitted]"));
    /* the key is in the head only once, in its header */
    const char *k = strstr(srv->head, API_KEY);
    assert_non_null(k);
    assert_null(strstr(k + 1, API_KEY));
    pthread_mutex_unlock(&srv->lock);
}

static void test_draft_anthropic(void **state)
{
    (void)state;
    struct testhttpd srv;
    memset(&srv, 0, sizeof srv);
    assert_true(testhttpd_start(&srv));
    srv.reply = ANTHROPIC_OK;
    struct draft_case c;
    run(&c, &srv, LLM_PROVIDER_ANTHROPIC, &LOCAL, 1000000);
    assert_int_equal(c.res.call.outcome, LLM_OUTCOME_OK);
    assert_string_equal(c.res.provider, "anthropic");
    assert_string_equal(c.res.draft.title, "Sign in faster");
    assert_string_equal(c.res.draft.body, "Signing in now takes one step.");
    assert_int_equal(c.res.draft.category, c.rules.category); /* the classifier's */
    assert_int_equal(c.res.draft.audience, c.rules.audience);
    assert_int_equal(c.res.call.tokens_in, 321);
    assert_int_equal(c.res.call.tokens_out, 45);
    assert_false(c.res.call.estimated);
    assert_int_equal(c.res.call.http_status, 200);
    assert_int_equal(usage(&c.t, NOW), 366);
    char v[256];
    assert_non_null(strstr(srv.head, "POST /v1/messages HTTP/1.1"));
    assert_true(testhttpd_header(&srv, "x-api-key", v, sizeof v));
    assert_string_equal(v, API_KEY);
    assert_true(testhttpd_header(&srv, "anthropic-version", v, sizeof v));
    assert_string_equal(v, "2023-06-01");
    assert_true(testhttpd_header(&srv, "content-type", v, sizeof v));
    assert_string_equal(v, "application/json");
    assert_false(testhttpd_header(&srv, "authorization", v, sizeof v));
    assert_non_null(strstr(srv.body, "\"model\":\"test-model-1\""));
    assert_non_null(strstr(srv.body, "\"max_tokens\":500"));
    assert_non_null(strstr(srv.body, "\"system\":"));
    assert_minimal(&srv);
    testhttpd_stop(&srv);
}

static void test_draft_openai(void **state)
{
    (void)state;
    struct testhttpd srv;
    memset(&srv, 0, sizeof srv);
    assert_true(testhttpd_start(&srv));
    srv.reply = OPENAI_OK;
    struct draft_case c;
    run(&c, &srv, LLM_PROVIDER_OPENAI, &LOCAL, 1000000);
    assert_int_equal(c.res.call.outcome, LLM_OUTCOME_OK);
    assert_string_equal(c.res.provider, "openai");
    assert_string_equal(c.res.draft.title, "Sign in faster");
    assert_string_equal(c.res.draft.body, "One step.");
    assert_int_equal(c.res.call.tokens_in, 300);
    assert_int_equal(c.res.call.tokens_out, 40);
    char v[256];
    assert_non_null(strstr(srv.head, "POST /v1/chat/completions HTTP/1.1"));
    assert_true(testhttpd_header(&srv, "authorization", v, sizeof v));
    assert_string_equal(v, "Bearer " API_KEY);
    assert_false(testhttpd_header(&srv, "x-api-key", v, sizeof v));
    assert_non_null(strstr(srv.body, "\"role\":\"system\""));
    assert_minimal(&srv);
    testhttpd_stop(&srv);
}

/* One failing answer: status, body (NULL: body_len bytes), delay; falls back with outcome. */
static void failing(enum llm_provider p, int status, const char *reply, size_t body_len,
                    int delay_ms, enum llm_outcome outcome, bool estimated)
{
    struct testhttpd srv;
    memset(&srv, 0, sizeof srv);
    assert_true(testhttpd_start(&srv));
    srv.status = status;
    srv.reply = reply;
    srv.body_len = body_len;
    srv.delay_ms = delay_ms;
    struct draft_case c;
    run(&c, &srv, p, &LOCAL, 1000000);
    assert_fell_back(&c, outcome);
    assert_int_equal(c.res.call.estimated, estimated);
    if (estimated) /* the worst case counts against the budget */
        assert_int_equal(c.res.call.tokens_out, 500);
    assert_int_equal(srv.requests, 1);
    testhttpd_stop(&srv);
}

static void test_draft_failures(void **state)
{
    (void)state;
    const enum llm_provider A = LLM_PROVIDER_ANTHROPIC, O = LLM_PROVIDER_OPENAI;
    failing(A, 401,
            "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":"
            "\"invalid x-api-key\"}}",
            0, 0, LLM_OUTCOME_HTTP_ERROR, false);
    failing(O, 429, "{\"error\":{\"message\":\"Rate limit\",\"type\":\"rate_limit_exceeded\"}}", 0,
            0, LLM_OUTCOME_HTTP_ERROR, false);
    failing(A, 529, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}", 0, 0,
            LLM_OUTCOME_HTTP_ERROR, false);
    failing(O, 500, "<html>Internal Server Error</html>", 0, 0, LLM_OUTCOME_HTTP_ERROR, false);
    failing(O, 302, "", 0, 0, LLM_OUTCOME_HTTP_ERROR, false); /* redirects are not followed */
    failing(A, 200, ANTHROPIC_OK, 0, 2500, LLM_OUTCOME_TIMEOUT, true);
    failing(A, 200, "not json", 0, 0, LLM_OUTCOME_MALFORMED, true);
    failing(O, 200, ANTHROPIC_OK, 0, 0, LLM_OUTCOME_MALFORMED, true); /* the other's shape */
    failing(A, 200, OPENAI_OK, 0, 0, LLM_OUTCOME_MALFORMED, true);    /* no usage it knows */
    failing(A, 200, NULL, LLM_MAX_RESPONSE + 1, 0, LLM_OUTCOME_MALFORMED, true); /* oversize */
    /* a well-formed envelope around a draft that is not one */
    failing(O, 200,
            "{\"choices\":[{\"message\":{\"content\":\"Sure! Here is the entry: Sign in "
            "faster\"}}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
            0, 0, LLM_OUTCOME_MALFORMED, false);
    failing(O, 200,
            "{\"choices\":[{\"message\":{\"content\":\"{\\\"title\\\":\\\"<script>x</script>\\\","
            "\\\"body\\\":\\\"\\\"}\"}}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
            0, 0, LLM_OUTCOME_MALFORMED, false);
    failing(A, 200,
            "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"{\\\"title\\\":\\\"T"
            "\\\"\"}],\"stop_reason\":\"max_tokens\",\"usage\":{\"input_tokens\":1,"
            "\"output_tokens\":500}}",
            0, 0, LLM_OUTCOME_MALFORMED, false);
}

static void test_draft_refused_and_budget(void **state)
{
    (void)state;
    struct testhttpd srv;
    memset(&srv, 0, sizeof srv);
    assert_true(testhttpd_start(&srv));
    srv.reply = OPENAI_OK;
    /* the operator's policy refuses loopback: nothing reaches the server */
    struct draft_case c;
    const struct httpc_policy public_only = {.allow_private = false};
    run(&c, &srv, LLM_PROVIDER_OPENAI, &public_only, 1000000);
    assert_fell_back(&c, LLM_OUTCOME_REFUSED);
    assert_int_equal(c.res.call.tokens_in + c.res.call.tokens_out, 0);
    assert_int_equal(srv.connections, 0);

    /* a budget smaller than one call's worst case: refused before anything is sent */
    run(&c, &srv, LLM_PROVIDER_OPENAI, &LOCAL, 400);
    assert_fell_back(&c, LLM_OUTCOME_BUDGET_EXHAUSTED);
    assert_int_equal(srv.connections, 0);
    assert_true(c.res.call.needed > 400);
    assert_int_equal(count(&c.t, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND"
                                 " action = 'llm.budget_exhausted'"),
                     1);

    /* a budget that fits one call: the first goes, the second would overshoot */
    run(&c, &srv, LLM_PROVIDER_OPENAI, &LOCAL, 2 * c.res.call.needed - 100);
    assert_int_equal(c.res.call.outcome, LLM_OUTCOME_OK);
    assert_int_equal(srv.requests, 1);
    struct arena *a = arena_new((size_t)4 << 20);
    struct llm_options opt = {.policy = &LOCAL};
    struct llm_result r2;
    srv.reply = "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{\"prompt_tokens\":"
                "99999,\"completion_tokens\":1}}";
    assert_int_equal(llm_draft(S.main_app, S.sec, &opt, &c.t, &c.in, &c.cls, &c.rules, NOW, a, &r2),
                     ERR_OK);
    record(&c.t, &r2);
    assert_int_equal(r2.call.outcome, LLM_OUTCOME_MALFORMED); /* sent (it fit), answer unusable */
    assert_int_equal(srv.requests, 2);
    assert_int_equal(llm_draft(S.main_app, S.sec, &opt, &c.t, &c.in, &c.cls, &c.rules, NOW, a, &r2),
                     ERR_OK);
    assert_int_equal(r2.call.outcome, LLM_OUTCOME_BUDGET_EXHAUSTED);
    assert_int_equal(srv.requests, 2);
    /* next month the budget is whole again */
    srv.reply = OPENAI_OK;
    assert_int_equal(
        llm_draft(S.main_app, S.sec, &opt, &c.t, &c.in, &c.cls, &c.rules, NOW + 40 * 86400, a, &r2),
        ERR_OK);
    assert_int_equal(r2.call.outcome, LLM_OUTCOME_OK);
    arena_free(a);

    /* provider none: nothing attempted, nothing logged */
    struct tenant_ctx plain;
    new_tenant(&plain);
    a = arena_new((size_t)1 << 20);
    assert_int_equal(
        llm_draft(S.main_app, S.sec, &opt, &plain, &c.in, &c.cls, &c.rules, NOW, a, &r2), ERR_OK);
    arena_free(a);
    assert_false(r2.attempted);
    assert_string_equal(r2.provider, "rules");
    assert_memory_equal(&r2.draft, &c.rules, sizeof c.rules);
    testhttpd_stop(&srv);
}

static void test_draft_key_unreadable(void **state)
{
    (void)state;
    struct testhttpd srv;
    memset(&srv, 0, sizeof srv);
    assert_true(testhttpd_start(&srv));
    srv.reply = OPENAI_OK;
    struct draft_case c;
    new_tenant(&c.t);
    change_of(&c);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/v1", srv.port);
    struct llm_settings_update u = configured(LLM_PROVIDER_OPENAI, base);
    assert_int_equal(set(&c.t, &u, NULL), ERR_OK);
    /* an envelope that no longer opens (altered, or its data key shredded) */
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.main_app, &c.t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(
        tx_exec_args(tx, "UPDATE llm_settings SET api_key_env = $2 WHERE tenant_id = $1",
                     STORAGE_ARGS(STORAGE_BLOB(STR_LIT("not an envelope at all"))), NULL),
        ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
    struct arena *a = arena_new((size_t)1 << 20);
    struct llm_options opt = {.policy = &LOCAL};
    assert_int_equal(
        llm_draft(S.main_app, S.sec, &opt, &c.t, &c.in, &c.cls, &c.rules, NOW, a, &c.res), ERR_OK);
    arena_free(a);
    assert_int_equal(c.res.call.outcome, LLM_OUTCOME_NOT_CONFIGURED);
    assert_string_equal(c.res.provider, "rules");
    assert_int_equal(srv.connections, 0);
    testhttpd_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_settings_limits),
        cmocka_unit_test(test_call_log),
        cmocka_unit_test(test_draft_anthropic),
        cmocka_unit_test(test_draft_openai),
        cmocka_unit_test(test_draft_failures),
        cmocka_unit_test(test_draft_refused_and_budget),
        cmocka_unit_test(test_draft_key_unreadable),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
