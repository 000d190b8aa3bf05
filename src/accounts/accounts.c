/*
 * accounts.c — sign-up, verification, password sign-in with lockout, password
 * reset and magic links. Sessions are in sessions.c, the clean-up of expired
 * state in cleanup.c. The design is described in accounts.h; the two
 * unscoped tables in migration 0007.
 *
 * A statement that changes sessions, or users.role or users.email_verified_at
 * (what a session lookup returns), must be followed, after its commit, by
 * acc_cache_forget (session_cache.c); sign-in's updates of the counters and
 * the password hash need not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts_internal.h"
#include "auth/tokens.h"
#include "core/log.h"
#include "core/unicode.h"
#include "crypto/hash.h"
#include "crypto/rand.h"

#define SLUG_ATTEMPTS 5 /* random suffixes tried when a slug is taken */

/* The magic-code MAC key's label (keyring_subkey; docs/KEYS.md). */
#define CODE_KEY_INFO "shiplog/v1/magic-code"

const struct tenant_ctx acc_directory_ctx = {.id = ACCOUNTS_DIRECTORY_TENANT};

/* ---- shared helpers (accounts_internal.h) ----------------------------------- */

static int64_t wall_clock(void *arg)
{
    (void)arg;
    return (int64_t)time(NULL);
}

int64_t accounts_now(const struct accounts *a)
{
    return a->now(a->now_arg);
}

void accounts_set_clock(struct accounts *a, int64_t (*now)(void *arg), void *arg)
{
    a->now = now ? now : wall_clock;
    a->now_arg = arg;
}

void accounts_set_matched_hook(struct accounts *a, void (*fn)(void *arg), void *arg)
{
    a->matched = fn;
    a->matched_arg = arg;
}

void acc_col_copy(const struct stmt *st, int col, char *out, size_t cap)
{
    struct str v = stmt_col_text(st, col);
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    if (n)
        memcpy(out, v.ptr, n);
    out[n] = '\0';
}

enum err acc_audit(struct tx *tx, const char *action, enum audit_actor actor, const char *actor_id,
                   const char *target, enum audit_outcome outcome, const struct accounts_client *c,
                   const struct log_field *details)
{
    struct audit_event ev = {
        .action = action,
        .actor = actor,
        .actor_id = actor_id,
        .target = target,
        .outcome = outcome,
        .client_ip = c ? c->ip : NULL,
        .request_id = c ? c->request_id : NULL,
        .details = details,
    };
    return audit_append(tx, &ev, NULL);
}

enum err acc_client_check(const struct accounts_client *c)
{
    if (!c)
        return ERR_OK;
    if (c->ip && strnlen(c->ip, ACCOUNTS_MAX_CLIENT_IP + 1) > ACCOUNTS_MAX_CLIENT_IP)
        return ERR_LIMIT;
    if (c->request_id && strnlen(c->request_id, AUDIT_MAX_REQUEST_ID + 1) > AUDIT_MAX_REQUEST_ID)
        return ERR_LIMIT;
    return ERR_OK;
}

static void hash_hex(const unsigned char h[SHA256_LEN], char out[ACCOUNTS_HASH_HEX + 1])
{
    hex_encode(h, SHA256_LEN, out);
    out[ACCOUNTS_HASH_HEX] = '\0';
}

enum err acc_secret_new(const struct tenant_ctx *t, char text[ACCOUNTS_SECRET_LEN + 1],
                        char hash[ACCOUNTS_HASH_HEX + 1])
{
    char tok[TOKEN_TEXT_LEN + 1];
    unsigned char h[SHA256_LEN];
    text[0] = hash[0] = '\0';
    enum err e = token_new(tok, h);
    if (e)
        return e;
    memcpy(text, t->id, STORAGE_TENANT_ID_LEN);
    text[STORAGE_TENANT_ID_LEN] = '.';
    memcpy(text + STORAGE_TENANT_ID_LEN + 1, tok, TOKEN_TEXT_LEN + 1);
    hash_hex(h, hash);
    crypto_wipe(tok, sizeof tok);
    return ERR_OK;
}

enum err acc_secret_parse(struct str text, struct tenant_ctx *t, char hash[ACCOUNTS_HASH_HEX + 1])
{
    hash[0] = '\0';
    if (text.len > ACCOUNTS_MAX_SECRET_TEXT)
        return ERR_LIMIT;
    if (text.len <= STORAGE_TENANT_ID_LEN + 1 || text.ptr[STORAGE_TENANT_ID_LEN] != '.')
        return ERR_INVALID;
    struct str tid = str_from(text.ptr, STORAGE_TENANT_ID_LEN);
    if (!storage_tenant_id_valid(tid) || str_eq_cstr(tid, ACCOUNTS_DIRECTORY_TENANT))
        return ERR_INVALID;
    unsigned char h[SHA256_LEN];
    enum err e = token_hash(
        str_from(text.ptr + STORAGE_TENANT_ID_LEN + 1, text.len - STORAGE_TENANT_ID_LEN - 1), h);
    if (e)
        return e == ERR_LIMIT ? ERR_LIMIT : ERR_INVALID;
    memcpy(t->id, tid.ptr, STORAGE_TENANT_ID_LEN);
    t->id[STORAGE_TENANT_ID_LEN] = '\0';
    hash_hex(h, hash);
    return ERR_OK;
}

/* ---- open / close ---------------------------------------------------------- */

enum err accounts_open(const struct accounts_options *o, struct accounts **out)
{
    *out = NULL;
    if (!o || !o->db || !o->secrets || !o->ring || o->ring->n == 0)
        return ERR_INVALID;
    if (o->session_cache_ms > ACCOUNTS_SESSION_CACHE_MAX_MS)
        return ERR_CONFIG;
    unsigned cost = o->bcrypt_cost ? o->bcrypt_cost : PASSWORD_COST_DEFAULT;
    struct accounts *a = calloc(1, sizeof *a);
    if (!a)
        err_oom();
    a->db = o->db;
    a->secrets = o->secrets;
    a->ring = o->ring;
    a->cost = cost;
    a->now = wall_clock;
    a->request_floor_ms = ACCOUNTS_REQUEST_FLOOR_MS;
    a->cache = o->session_cache_ms ? acc_cache_new(o->session_cache_ms) : NULL;
    enum err e = password_ctx_init(&a->pw, keyring_current(o->ring), cost);
    for (size_t i = 0; i < o->ring->n && i < KEYRING_MAX && !e; i++, a->n_code_keys++)
        e = keyring_subkey(&o->ring->keys[i], CODE_KEY_INFO, a->code_keys[i],
                           sizeof a->code_keys[i]);
    if (e) {
        accounts_close(a);
        return e;
    }
    *out = a;
    return ERR_OK;
}

void accounts_close(struct accounts *a)
{
    if (!a)
        return;
    password_ctx_wipe(&a->pw);
    crypto_wipe(a->code_keys, sizeof a->code_keys);
    acc_cache_free(a->cache);
    free(a);
}

void accounts_set_request_floor_ms(struct accounts *a, unsigned ms)
{
    a->request_floor_ms = ms;
}

/* ---- input -------------------------------------------------------------------- */

enum err accounts_email_normalize(struct str email, char out[ACCOUNTS_MAX_EMAIL + 1])
{
    out[0] = '\0';
    if (email.len > ACCOUNTS_MAX_EMAIL)
        return ERR_LIMIT;
    if (email.len < 3 || !utf8_valid(email))
        return ERR_INVALID;
    size_t at = 0, ats = 0;
    for (size_t i = 0; i < email.len; i++) {
        unsigned char ch = (unsigned char)email.ptr[i];
        if (ch <= 0x20 || ch == 0x7f || ch == ',' || ch == ';' || ch == '<' || ch == '>' ||
            ch == '"' || ch == '(' || ch == ')' || ch == '\\')
            return ERR_INVALID;
        if (ch == '@') {
            at = i;
            ats++;
        }
        out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
    }
    out[email.len] = '\0';
    if (ats != 1 || at == 0 || at + 1 >= email.len)
        goto bad;
    const char *domain = out + at + 1;
    const char *dot = strchr(domain, '.');
    if (!dot || dot == domain || out[email.len - 1] == '.' || strstr(domain, ".."))
        goto bad;
    return ERR_OK;
bad:
    out[0] = '\0';
    return ERR_INVALID;
}

void accounts_slug_of(struct str org, char out[ACCOUNTS_MAX_SLUG + 1])
{
    size_t n = 0;
    bool dash = false;
    for (size_t i = 0; i < org.len && n < ACCOUNTS_MAX_SLUG; i++) {
        char ch = org.ptr[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch + ('a' - 'A'));
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (dash && n > 0 && n + 1 < ACCOUNTS_MAX_SLUG)
                out[n++] = '-';
            dash = false;
            out[n++] = ch;
        } else {
            dash = true;
        }
    }
    if (n == 0) {
        memcpy(out, "org", 4);
        return;
    }
    out[n] = '\0';
}

static enum err org_name_check(struct str org, const char **reason)
{
    if (org.len > ACCOUNTS_MAX_ORG_NAME) {
        *reason = "organization name too long";
        return ERR_LIMIT;
    }
    if (org.len == 0 || !utf8_valid(org)) {
        *reason = "organization name required";
        return ERR_INVALID;
    }
    for (size_t i = 0; i < org.len; i++) {
        unsigned char ch = (unsigned char)org.ptr[i];
        if (ch < 0x20 || ch == 0x7f) {
            *reason = "organization name has control characters";
            return ERR_INVALID;
        }
    }
    return ERR_OK;
}

/* SHA-256 of a label and a value, in hex: the directory keys. */
static void label_hash(const char *label, const char *value, char out[ACCOUNTS_HASH_HEX + 1])
{
    char in[64 + ACCOUNTS_MAX_EMAIL + 1];
    int n = snprintf(in, sizeof in, "%s%s", label, value);
    ASSERT(n > 0 && (size_t)n < sizeof in);
    unsigned char h[SHA256_LEN];
    sha256(in, (size_t)n, h);
    hash_hex(h, out);
}

static void email_hash(const char *email, char out[ACCOUNTS_HASH_HEX + 1])
{
    label_hash("shiplog/v1/email:", email, out);
}

static void ip_hash(const char *ip, char out[ACCOUNTS_HASH_HEX + 1])
{
    label_hash("shiplog/v1/login-ip:", ip, out);
}

/*
 * The stored form of a magic-link code: hex HMAC-SHA-256, under the code key
 * key, of "<tenant id>\n<user id>\n<CODE>" (code checked and upper-cased).
 * Binding tenant and user means a stored value says nothing about another
 * account's codes; the key means a leaked table cannot be searched offline.
 */
static void code_mac(const unsigned char key[SHA256_LEN], const struct accounts_user_ref *u,
                     const char *code, char out[ACCOUNTS_HASH_HEX + 1])
{
    char in[STORAGE_TENANT_ID_LEN + 1 + ACCOUNTS_ID_LEN + 1 + TOKEN_CODE_LEN + 1];
    int n = snprintf(in, sizeof in, "%s\n%s\n%s", u->tenant.id, u->user_id, code);
    ASSERT(n > 0 && (size_t)n < sizeof in);
    unsigned char mac[SHA256_LEN];
    hmac_sha256(key, SHA256_LEN, in, (size_t)n, mac);
    hash_hex(mac, out);
    crypto_wipe(in, sizeof in);
    crypto_wipe(mac, sizeof mac);
}

/* A code as typed, checked by token_code_hash's rules and upper-cased into out. */
static enum err code_normalize(struct str code, char out[TOKEN_CODE_LEN + 1])
{
    out[0] = '\0';
    unsigned char h[SHA256_LEN];
    enum err e = token_code_hash(code, h);
    if (e)
        return e;
    for (size_t i = 0; i < TOKEN_CODE_LEN; i++) {
        char ch = code.ptr[i];
        out[i] = (char)(ch >= 'a' && ch <= 'z' ? ch - ('a' - 'A') : ch);
    }
    out[TOKEN_CODE_LEN] = '\0';
    return ERR_OK;
}

static void new_uuid_text(const unsigned char b_in[16], char out[ACCOUNTS_ID_LEN + 1])
{
    unsigned char b[16];
    memcpy(b, b_in, 16);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char hex[33];
    hex_encode(b, sizeof b, hex);
    snprintf(out, ACCOUNTS_ID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
             hex + 16, hex + 20);
}

static enum err new_uuid(char out[ACCOUNTS_ID_LEN + 1])
{
    unsigned char b[16];
    enum err e = rand_bytes(b, sizeof b);
    if (!e)
        new_uuid_text(b, out);
    return e;
}

/* Lock length after count failures with the first lock at threshold: 0 = none. */
static int64_t lock_delay(int64_t count, int64_t threshold)
{
    if (count < threshold)
        return 0;
    int64_t k = count - threshold;
    if (k >= 6) /* 60 << 6 is past the cap already */
        return ACCOUNTS_LOCK_MAX_S;
    int64_t d = (int64_t)ACCOUNTS_LOCK_BASE_S << k;
    return d > ACCOUNTS_LOCK_MAX_S ? ACCOUNTS_LOCK_MAX_S : d;
}

/* ---- the directory (the only statements not bound to a real tenant) --------- */

/* The tenant and user owning an address; *found false when none. */
static enum err directory_lookup(struct accounts *a, const char *email, struct accounts_user_ref *u,
                                 bool *found)
{
    *found = false;
    char h[ACCOUNTS_HASH_HEX + 1];
    email_hash(email, h);
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, &acc_directory_ctx, TX_READ, &tx);
    if (e)
        return e;
    const char *sql = storage_tx_backend(tx) == STORAGE_POSTGRES
                          ? "SELECT tenant_id::text, user_id::text FROM accounts_email_lookup($2) "
                            "WHERE $1::uuid = '" ACCOUNTS_DIRECTORY_TENANT "'::uuid"
                          : "SELECT tenant_id, user_id FROM user_emails "
                            "WHERE email_hash = $2 AND $1 = '" ACCOUNTS_DIRECTORY_TENANT "'";
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx, sql, STORAGE_ARGS(STORAGE_CSTR(h)), &st, &row);
    if (!e && row) {
        acc_col_copy(st, 0, u->tenant.id, sizeof u->tenant.id);
        acc_col_copy(st, 1, u->user_id, sizeof u->user_id);
        *found = storage_tenant_id_valid(str_from_cstr(u->tenant.id));
    }
    stmt_finish(st);
    storage_rollback(tx);
    return e;
}

static enum err ip_locked(struct accounts *a, const char *ip, int64_t now, bool *locked)
{
    *locked = false;
    if (!ip || !ip[0])
        return ERR_OK;
    char h[ACCOUNTS_HASH_HEX + 1];
    ip_hash(ip, h);
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, &acc_directory_ctx, TX_READ, &tx);
    if (e)
        return e;
    const char *sql = storage_tx_backend(tx) == STORAGE_POSTGRES
                          ? "SELECT locked_until FROM accounts_ip_status($2) "
                            "WHERE $1::uuid = '" ACCOUNTS_DIRECTORY_TENANT "'::uuid"
                          : "SELECT locked_until FROM login_failures_ip "
                            "WHERE ip_hash = $2 AND $1 = '" ACCOUNTS_DIRECTORY_TENANT "'";
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx, sql, STORAGE_ARGS(STORAGE_CSTR(h)), &st, &row);
    if (!e && row && !stmt_col_is_null(st, 0))
        *locked = stmt_col_int(st, 0) > now;
    stmt_finish(st);
    storage_rollback(tx);
    return e;
}

/* Counts a failed sign-in from ip and locks the IP past its threshold. */
static enum err ip_failure(struct accounts *a, const char *ip, int64_t now)
{
    if (!ip || !ip[0])
        return ERR_OK;
    char h[ACCOUNTS_HASH_HEX + 1];
    ip_hash(ip, h);
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, &acc_directory_ctx, TX_WRITE, &tx);
    if (e)
        return e;
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    const char *sql =
        pg ? "SELECT accounts_ip_failure($2, $3::bigint, $4::bigint) "
             "WHERE $1::uuid = '" ACCOUNTS_DIRECTORY_TENANT "'::uuid"
           : "INSERT INTO login_failures_ip AS f (ip_hash, window_start, count, locked_until) "
             "SELECT $2, $3, 1, NULL WHERE $1 = '" ACCOUNTS_DIRECTORY_TENANT "' "
             "ON CONFLICT (ip_hash) DO UPDATE SET "
             "count = CASE WHEN f.window_start + $4 <= $3 "
             "AND (f.locked_until IS NULL OR f.locked_until <= $3) THEN 1 ELSE f.count + 1 END, "
             "window_start = CASE WHEN f.window_start + $4 <= $3 "
             "AND (f.locked_until IS NULL OR f.locked_until <= $3) THEN $3 ELSE f.window_start END "
             "RETURNING count";
    struct stmt *st = NULL;
    bool row = false;
    int64_t count = 0;
    e = tx_query(tx, sql,
                 STORAGE_ARGS(STORAGE_CSTR(h), STORAGE_INT(now), STORAGE_INT(ACCOUNTS_IP_WINDOW_S)),
                 &st, &row);
    if (!e && row)
        count = stmt_col_int(st, 0);
    stmt_finish(st);
    int64_t d = lock_delay(count, ACCOUNTS_IP_LOCK_THRESHOLD);
    if (!e && d > 0) {
        const char *lock = pg ? "SELECT accounts_ip_lock($2, $3::bigint) "
                                "WHERE $1::uuid = '" ACCOUNTS_DIRECTORY_TENANT "'::uuid"
                              : "UPDATE login_failures_ip SET locked_until = $3 "
                                "WHERE ip_hash = $2 AND $1 = '" ACCOUNTS_DIRECTORY_TENANT "'";
        e = tx_exec_args(tx, lock, STORAGE_ARGS(STORAGE_CSTR(h), STORAGE_INT(now + d)), NULL);
        if (!e)
            log_warn("client IP locked out of sign-in", LOG_INT("seconds", d));
    }
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

/* ---- tokens ------------------------------------------------------------------- */

static enum err token_insert(struct tx *tx, const char *hash, const char *purpose,
                             const char *user_id, const char *code_hash, int64_t now, int64_t ttl)
{
    return tx_exec_args(tx,
                        "INSERT INTO auth_tokens (tenant_id, hash, purpose, user_id, code_hash, "
                        "created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        STORAGE_ARGS(STORAGE_CSTR(hash), STORAGE_CSTR(purpose),
                                     STORAGE_CSTR(user_id),
                                     code_hash ? STORAGE_CSTR(code_hash) : STORAGE_NULL,
                                     STORAGE_INT(now), STORAGE_INT(now + ttl)),
                        NULL);
}

/*
 * Spends token row hash of purpose in tx if open and unexpired; its user in
 * user_id. ERR_NOT_FOUND otherwise. Atomic, so a token is used once even by
 * concurrent requests.
 */
static enum err token_spend(struct tx *tx, const char *hash, const char *purpose, int64_t now,
                            char user_id[ACCOUNTS_ID_LEN + 1])
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          "UPDATE auth_tokens SET used_at = $4 WHERE tenant_id = $1 AND hash = $2 "
                          "AND purpose = $3 AND used_at IS NULL AND expires_at > $4 "
                          "RETURNING user_id",
                          STORAGE_ARGS(STORAGE_CSTR(hash), STORAGE_CSTR(purpose), STORAGE_INT(now)),
                          &st, &row);
    if (!e && !row)
        e = ERR_NOT_FOUND;
    if (!e)
        acc_col_copy(st, 0, user_id, ACCOUNTS_ID_LEN + 1);
    stmt_finish(st);
    return e;
}

/* Role and verification of a user, into a session description. */
static enum err user_fill(struct tx *tx, const char *user_id, struct accounts_session *s)
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          "SELECT role, email_verified_at, tokens_valid_after FROM users "
                          "WHERE tenant_id = $1 AND id = $2",
                          STORAGE_ARGS(STORAGE_CSTR(user_id)), &st, &row);
    if (!e && !row)
        e = ERR_NOT_FOUND;
    if (!e) {
        acc_col_copy(st, 0, s->role, sizeof s->role);
        s->email_verified = !stmt_col_is_null(st, 1);
        s->tokens_valid_after = stmt_col_is_null(st, 2) ? 0 : stmt_col_int(st, 2);
    }
    stmt_finish(st);
    return e;
}

static void target_of(const char *kind, const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%s", kind, id);
}

/* ---- mail ---------------------------------------------------------------------- */

/* Hands a mail to the caller's mailer inside tx; nothing without one. */
static enum err mail_queue(struct tx *tx, const struct accounts_client *c,
                           enum accounts_mail_kind kind, const char *to, const char *token,
                           const char *code)
{
    if (!c || !c->mailer || !c->mailer->queue)
        return ERR_OK;
    struct accounts_mail m = {
        .kind = kind, .to = to, .token = token ? token : "", .code = code ? code : ""};
    return c->mailer->queue(c->mailer->arg, tx, &m);
}

/* The owner of an address someone tried to sign up with hears of it (mailer only). */
static enum err signup_taken_notice(struct accounts *a, const struct accounts_user_ref *u,
                                    const char *email, const struct accounts_client *c)
{
    if (!c || !c->mailer)
        return ERR_OK;
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, &u->tenant, TX_WRITE, &tx);
    if (e)
        return e;
    e = mail_queue(tx, c, ACCOUNTS_MAIL_SIGNUP_TAKEN, email, NULL, NULL);
    char ut[sizeof "user:" + ACCOUNTS_ID_LEN];
    target_of("user", u->user_id, ut, sizeof ut);
    if (!e)
        e = acc_audit(tx, "auth.signup", AUDIT_ACTOR_ANONYMOUS, NULL, ut, AUDIT_FAILURE, c,
                      LOG_FIELDS_(LOG_STR("reason", "email already registered")));
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

/* ---- sign-up -------------------------------------------------------------------- */

struct signup_rows {
    const struct tenant_ctx *t;
    const char *slug, *email, *email_hash, *user_id, *pw_hash, *key_id, *token_hash;
    const char *token; /* the verification token's text, for the mail */
    struct str org;
    int64_t now;
};

/* Everything of a sign-up in the main database; *slug_taken on a slug conflict. */
static enum err signup_tx(struct accounts *a, const struct signup_rows *r,
                          const struct accounts_client *c, bool *slug_taken)
{
    *slug_taken = false;
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, r->t, TX_WRITE, &tx);
    if (e)
        return e;
    e = tx_exec_args(tx, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)",
                     STORAGE_ARGS(STORAGE_CSTR(r->slug), STORAGE_TEXT(r->org)), NULL);
    if (e == ERR_CONFLICT)
        *slug_taken = true;
    if (!e)
        e = tx_exec_args(tx,
                         "INSERT INTO users (tenant_id, id, email, password_hash, password_key_id, "
                         "role, email_verified_at, failed_count, locked_until, created_at) "
                         "VALUES ($1, $2, $3, $4, $5, 'super_admin', NULL, 0, NULL, $6)",
                         STORAGE_ARGS(STORAGE_CSTR(r->user_id), STORAGE_CSTR(r->email),
                                      STORAGE_CSTR(r->pw_hash), STORAGE_CSTR(r->key_id),
                                      STORAGE_INT(r->now)),
                         NULL);
    if (!e)
        e = tx_exec_args(
            tx, "INSERT INTO user_emails (email_hash, tenant_id, user_id) VALUES ($2, $1, $3)",
            STORAGE_ARGS(STORAGE_CSTR(r->email_hash), STORAGE_CSTR(r->user_id)), NULL);
    if (!e)
        e = token_insert(tx, r->token_hash, "verify_email", r->user_id, NULL, r->now,
                         ACCOUNTS_VERIFY_TTL_S);
    if (!e)
        e = mail_queue(tx, c, ACCOUNTS_MAIL_VERIFY, r->email, r->token, NULL);
    char tt[sizeof "tenant:" + STORAGE_TENANT_ID_LEN], ut[sizeof "user:" + ACCOUNTS_ID_LEN];
    target_of("tenant", r->t->id, tt, sizeof tt);
    target_of("user", r->user_id, ut, sizeof ut);
    if (!e)
        e = acc_audit(tx, "tenant.created", AUDIT_ACTOR_USER, r->user_id, tt, AUDIT_SUCCESS, c,
                      LOG_FIELDS_(LOG_STR("slug", r->slug), LOG_STR("via", "signup")));
    if (!e)
        e = acc_audit(tx, "auth.signup", AUDIT_ACTOR_USER, r->user_id, ut, AUDIT_SUCCESS, c,
                      LOG_FIELDS_(LOG_STR("role", "super_admin")));
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

enum err accounts_signup(struct accounts *a, struct str email, struct str password,
                         struct str org_name, const struct accounts_client *c,
                         struct accounts_signup_result *out)
{
    memset(out, 0, sizeof *out);
    char em[ACCOUNTS_MAX_EMAIL + 1];
    enum err e = acc_client_check(c);
    if (e) {
        out->reason = "client field too long";
        return e;
    }
    if ((e = accounts_email_normalize(email, em)) != ERR_OK) {
        out->reason = e == ERR_LIMIT ? "email too long" : "email not valid";
        return e;
    }
    if ((e = org_name_check(org_name, &out->reason)) != ERR_OK)
        return e;
    if ((e = password_check_policy(password, &out->reason)) != ERR_OK)
        return e;

    /* hashed before the lookup: a taken address costs the same bcrypt */
    char pw_hash[PASSWORD_HASH_MAX];
    if ((e = password_hash(&a->pw, password, pw_hash)) != ERR_OK)
        return e;
    struct accounts_user_ref existing;
    bool found = false;
    if ((e = directory_lookup(a, em, &existing, &found)) != ERR_OK)
        goto done;
    if (found) {
        e = signup_taken_notice(a, &existing, em, c);
        if (!e)
            e = ERR_CONFLICT;
        goto done;
    }
    struct signup_rows r = {
        .t = &out->user.tenant,
        .email = em,
        .user_id = out->user.user_id,
        .pw_hash = pw_hash,
        .key_id = keyring_current(a->ring)->id,
        .org = org_name,
        .now = accounts_now(a),
    };
    char eh[ACCOUNTS_HASH_HEX + 1], th[ACCOUNTS_HASH_HEX + 1];
    email_hash(em, eh);
    r.email_hash = eh;
    r.token_hash = th;
    r.token = out->verify_token;
    if (!e)
        e = new_uuid(out->user.tenant.id);
    if (!e)
        e = new_uuid(out->user.user_id);
    if (!e)
        e = acc_secret_new(&out->user.tenant, out->verify_token, th);
    /* The key first: a tenant row never exists without its data key. */
    if (!e)
        e = secrets_tenant_key_create(a->secrets, &out->user.tenant);
    if (e)
        goto done;

    char base[ACCOUNTS_MAX_SLUG + 1];
    accounts_slug_of(org_name, base);
    memcpy(out->slug, base, sizeof base);
    for (int i = 0; i < SLUG_ATTEMPTS; i++) {
        if (i > 0) {
            char sfx[2 * 3 + 1]; /* 3 random bytes in hex */
            if ((e = rand_hex(sfx, 3)) != ERR_OK)
                break;
            snprintf(out->slug, sizeof out->slug, "%.*s-%s", ACCOUNTS_MAX_SLUG - 7, base, sfx);
        }
        r.slug = out->slug;
        bool slug_taken = false;
        e = signup_tx(a, &r, c, &slug_taken);
        if (!slug_taken)
            break;
    }
    if (e && secrets_tenant_key_discard(a->secrets, &out->user.tenant) != ERR_OK)
        log_warn("orphaned data key left in the vault", LOG_STR("tenant", out->user.tenant.id));
done:
    crypto_wipe(pw_hash, sizeof pw_hash);
    if (e) {
        crypto_wipe(out->verify_token, sizeof out->verify_token);
        if (e == ERR_CONFLICT)
            out->reason = "email already registered";
        return e;
    }
    log_info("tenant signed up", LOG_STR("tenant", out->user.tenant.id),
             LOG_STR("slug", out->slug));
    return ERR_OK;
}

enum err accounts_verify_email(struct accounts *a, struct str token,
                               const struct accounts_client *c, struct accounts_user_ref *out)
{
    struct tenant_ctx t;
    char h[ACCOUNTS_HASH_HEX + 1], uid[ACCOUNTS_ID_LEN + 1];
    enum err e = acc_client_check(c);
    if (e)
        return e;
    e = acc_secret_parse(token, &t, h);
    if (e)
        return e == ERR_LIMIT ? ERR_LIMIT : ERR_NOT_FOUND;
    int64_t now = accounts_now(a);
    struct tx *tx = NULL;
    if ((e = storage_begin(a->db, &t, TX_WRITE, &tx)) != ERR_OK)
        return e;
    e = token_spend(tx, h, "verify_email", now, uid);
    if (!e) /* the other open links (resent mails) have nothing left to do */
        e = tx_exec_args(
            tx,
            "UPDATE auth_tokens SET used_at = $3 WHERE tenant_id = $1 AND user_id = $2 "
            "AND purpose = 'verify_email' AND used_at IS NULL",
            STORAGE_ARGS(STORAGE_CSTR(uid), STORAGE_INT(now)), NULL);
    if (!e)
        e = tx_exec_args(tx,
                         "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $3) "
                         "WHERE tenant_id = $1 AND id = $2",
                         STORAGE_ARGS(STORAGE_CSTR(uid), STORAGE_INT(now)), NULL);
    char ut[sizeof "user:" + ACCOUNTS_ID_LEN];
    target_of("user", uid, ut, sizeof ut);
    if (!e)
        e = acc_audit(tx, "auth.email_verified", AUDIT_ACTOR_USER, uid, ut, AUDIT_SUCCESS, c, NULL);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    /* the user's open sessions are verified now (A2): the console must see it at once */
    acc_cache_forget(a->cache, &t, uid, NULL);
    if (e)
        return e;
    if (out) {
        out->tenant = t;
        memcpy(out->user_id, uid, sizeof uid);
    }
    return ERR_OK;
}

enum err accounts_verify_resend(struct accounts *a, const struct accounts_user_ref *user,
                                const struct accounts_client *c)
{
    enum err e = acc_client_check(c);
    if (e)
        return e;
    if (!c || !c->mailer || !c->mailer->queue)
        return ERR_INVALID; /* a token nobody is told about */
    struct tx *tx = NULL;
    if ((e = storage_begin(a->db, &user->tenant, TX_WRITE, &tx)) != ERR_OK)
        return e;
    struct stmt *st = NULL;
    bool row = false, verified = false;
    char em[ACCOUNTS_MAX_EMAIL + 1];
    e = tx_query(tx, "SELECT email, email_verified_at FROM users WHERE tenant_id = $1 AND id = $2",
                 STORAGE_ARGS(STORAGE_CSTR(user->user_id)), &st, &row);
    if (!e && !row)
        e = ERR_NOT_FOUND;
    if (!e) {
        acc_col_copy(st, 0, em, sizeof em);
        verified = !stmt_col_is_null(st, 1);
    }
    stmt_finish(st);
    if (e || verified) {
        storage_rollback(tx);
        return e;
    }
    char tok[ACCOUNTS_SECRET_LEN + 1], th[ACCOUNTS_HASH_HEX + 1];
    e = acc_secret_new(&user->tenant, tok, th);
    if (!e)
        e = token_insert(tx, th, "verify_email", user->user_id, NULL, accounts_now(a),
                         ACCOUNTS_VERIFY_TTL_S);
    if (!e)
        e = mail_queue(tx, c, ACCOUNTS_MAIL_VERIFY, em, tok, NULL);
    char ut[sizeof "user:" + ACCOUNTS_ID_LEN];
    target_of("user", user->user_id, ut, sizeof ut);
    if (!e)
        e = acc_audit(tx, "auth.verification_resent", AUDIT_ACTOR_USER, user->user_id, ut,
                      AUDIT_SUCCESS, c, NULL);
    crypto_wipe(tok, sizeof tok);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

/* ---- sign-in -------------------------------------------------------------------- */

struct user_row {
    char hash[PASSWORD_HASH_MAX];
    char key_id[MASTER_KEY_ID_LEN + 1];
    int64_t locked_until; /* 0 = not locked */
};

static enum err user_read(struct accounts *a, const struct accounts_user_ref *u, struct user_row *r,
                          bool *found)
{
    *found = false;
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, &u->tenant, TX_READ, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx,
                 "SELECT password_hash, password_key_id, locked_until FROM users "
                 "WHERE tenant_id = $1 AND id = $2",
                 STORAGE_ARGS(STORAGE_CSTR(u->user_id)), &st, &row);
    if (!e && row) {
        acc_col_copy(st, 0, r->hash, sizeof r->hash);
        acc_col_copy(st, 1, r->key_id, sizeof r->key_id);
        r->locked_until = stmt_col_is_null(st, 2) ? 0 : stmt_col_int(st, 2);
        *found = true;
    }
    stmt_finish(st);
    storage_rollback(tx);
    return e;
}

/* A failed attempt on a known account: audit, and count unless why says it was not a guess. */
static enum err signin_failed(struct accounts *a, const struct accounts_user_ref *u,
                              const char *why, bool count, const struct accounts_client *c,
                              int64_t now)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, &u->tenant, TX_WRITE, &tx);
    if (e)
        return e;
    char ut[sizeof "user:" + ACCOUNTS_ID_LEN];
    target_of("user", u->user_id, ut, sizeof ut);
    int64_t failures = 0, delay = 0;
    if (count) {
        struct stmt *st = NULL;
        bool row = false;
        e = tx_query(tx,
                     "UPDATE users SET failed_count = failed_count + 1 "
                     "WHERE tenant_id = $1 AND id = $2 RETURNING failed_count",
                     STORAGE_ARGS(STORAGE_CSTR(u->user_id)), &st, &row);
        if (!e && row)
            failures = stmt_col_int(st, 0);
        stmt_finish(st);
        delay = lock_delay(failures, ACCOUNTS_LOCK_THRESHOLD);
        if (!e && delay > 0)
            e = tx_exec_args(
                tx, "UPDATE users SET locked_until = $3 WHERE tenant_id = $1 AND id = $2",
                STORAGE_ARGS(STORAGE_CSTR(u->user_id), STORAGE_INT(now + delay)), NULL);
    }
    if (!e)
        e = acc_audit(tx, "auth.signin", AUDIT_ACTOR_ANONYMOUS, NULL, ut, AUDIT_FAILURE, c,
                      LOG_FIELDS_(LOG_STR("reason", why), LOG_INT("failures", failures)));
    if (!e && delay > 0)
        e = acc_audit(tx, "auth.lockout", AUDIT_ACTOR_SYSTEM, NULL, ut, AUDIT_SUCCESS, c,
                      LOG_FIELDS_(LOG_INT("seconds", delay), LOG_INT("failures", failures)));
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

/*
 * A successful check of the password hash `verified`: clear the counter,
 * maybe store a new hash, and open a session unless session_id is NULL
 * (accounts_authenticate_password: the caller issues tokens instead). out
 * gets the user, its role, verification and tokens_valid_after.
 * ERR_UNAUTHENTICATED when the stored hash is no longer `verified`: a
 * password reset committed between reading the hash and here, so the old
 * password must not open a session or tokens after the reset ended them.
 */
static enum err signin_succeeded(struct accounts *a, const struct accounts_user_ref *u,
                                 const char *verified, const char *new_hash,
                                 const struct accounts_client *c, char *session_id,
                                 struct accounts_session *out)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, &u->tenant, TX_WRITE, &tx);
    if (e)
        return e;
    uint64_t changed = 0;
    if (new_hash)
        e = tx_exec_args(
            tx,
            "UPDATE users SET failed_count = 0, locked_until = NULL, password_hash = $4, "
            "password_key_id = $5 WHERE tenant_id = $1 AND id = $2 AND password_hash = $3",
            STORAGE_ARGS(STORAGE_CSTR(u->user_id), STORAGE_CSTR(verified), STORAGE_CSTR(new_hash),
                         STORAGE_CSTR(keyring_current(a->ring)->id)),
            &changed);
    else
        e = tx_exec_args(tx,
                         "UPDATE users SET failed_count = 0, locked_until = NULL "
                         "WHERE tenant_id = $1 AND id = $2 AND password_hash = $3",
                         STORAGE_ARGS(STORAGE_CSTR(u->user_id), STORAGE_CSTR(verified)), &changed);
    if (!e && changed != 1)
        e = ERR_UNAUTHENTICATED;
    if (!e && session_id)
        e = acc_session_create(a, tx, u, c, session_id, out);
    else if (!e)
        out->user = *u;
    if (!e)
        e = user_fill(tx, u->user_id, out);
    char ut[sizeof "user:" + ACCOUNTS_ID_LEN];
    target_of("user", u->user_id, ut, sizeof ut);
    if (!e)
        e = acc_audit(tx, "auth.signin", AUDIT_ACTOR_USER, u->user_id, ut, AUDIT_SUCCESS, c,
                      LOG_FIELDS_(LOG_STR("method", "password"),
                                  LOG_STR("grant", session_id ? "session" : "tokens"),
                                  LOG_STR("rehashed", new_hash ? "yes" : "no"),
                                  LOG_STR("email_verified", out->email_verified ? "yes" : "no")));
    if (e) {
        storage_rollback(tx);
        if (session_id)
            crypto_wipe(session_id, ACCOUNTS_SECRET_LEN + 1);
        return e;
    }
    e = storage_commit(tx);
    if (e && session_id)
        crypto_wipe(session_id, ACCOUNTS_SECRET_LEN + 1);
    return e;
}

/*
 * What accounts_signin and accounts_authenticate_password share: checks the
 * address and password with every protection of sign-in (per-IP and
 * per-account lockout, counters, one bcrypt on every path, audited
 * failures) and, when they match, records the success (signin_succeeded)
 * with a session when session_id is not NULL. out is zeroed first.
 */
static enum err password_signin(struct accounts *a, struct str email, struct str password,
                                const struct accounts_client *c, char *session_id,
                                struct accounts_session *out)
{
    memset(out, 0, sizeof *out);
    enum err e = acc_client_check(c);
    if (e)
        return e;
    char em[ACCOUNTS_MAX_EMAIL + 1];
    e = accounts_email_normalize(email, em);
    if (e == ERR_LIMIT)
        return e; /* no account can have such an address: nothing to hide */
    bool well_formed = e == ERR_OK;
    const char *ip = c && c->ip ? c->ip : "";
    int64_t now = accounts_now(a);

    bool locked_ip = false, found = false;
    struct accounts_user_ref u;
    struct user_row r;
    memset(&r, 0, sizeof r);
    if ((e = ip_locked(a, ip, now, &locked_ip)) != ERR_OK)
        return e;
    if (well_formed && (e = directory_lookup(a, em, &u, &found)) != ERR_OK)
        return e;
    if (found && (e = user_read(a, &u, &r, &found)) != ERR_OK)
        return e;

    /* Exactly one bcrypt on every path from here. */
    if (!found || locked_ip || r.locked_until > now) {
        password_verify_dummy(&a->pw, password);
        const char *why = !found ? "unknown_email" : locked_ip ? "ip_locked" : "locked";
        if (found)
            e = signin_failed(a, &u, why, false, c, now);
        else
            log_info("sign-in for an unknown address", LOG_STR("ip", ip));
        if (!e && !locked_ip)
            e = ip_failure(a, ip, now);
        return e ? e : ERR_UNAUTHENTICATED;
    }

    const struct master_key *key = keyring_find(a->ring, r.key_id);
    struct password_ctx other;
    const struct password_ctx *ctx = &a->pw;
    bool ok = false, needs_rehash = false;
    if (!key) {
        /* the hash's key left the ring too early (docs/KEYS.md): nobody can sign in */
        password_verify_dummy(&a->pw, password);
        log_error("password hash made with a master key not in the ring",
                  LOG_STR("tenant", u.tenant.id), LOG_STR("key_id", r.key_id));
        e = signin_failed(a, &u, "key_missing", false, c, now);
        return e ? e : ERR_UNAUTHENTICATED;
    }
    if (key != keyring_current(a->ring)) {
        if ((e = password_ctx_init(&other, key, a->cost)) != ERR_OK)
            return e;
        ctx = &other;
    }
    e = password_verify(ctx, password, r.hash, &ok, &needs_rehash);
    if (ctx == &other)
        password_ctx_wipe(&other);
    if (e || !ok) {
        crypto_wipe(r.hash, sizeof r.hash);
        if (e)
            log_error("stored password hash unusable", LOG_STR("tenant", u.tenant.id), LOG_ERR(e));
        e = signin_failed(a, &u, "bad_password", true, c, now);
        if (!e)
            e = ip_failure(a, ip, now);
        return e ? e : ERR_UNAUTHENTICATED;
    }

    char new_hash[PASSWORD_HASH_MAX];
    bool rehash = needs_rehash || key != keyring_current(a->ring);
    if (rehash && (e = password_hash(&a->pw, password, new_hash)) != ERR_OK) {
        log_warn("rehash failed; keeping the old hash", LOG_ERR(e));
        rehash = false;
    }
    if (a->matched)
        a->matched(a->matched_arg); /* tests: where a concurrent reset can land */
    e = signin_succeeded(a, &u, r.hash, rehash ? new_hash : NULL, c, session_id, out);
    crypto_wipe(r.hash, sizeof r.hash);
    crypto_wipe(new_hash, sizeof new_hash);
    return e;
}

enum err accounts_signin(struct accounts *a, struct str email, struct str password,
                         const struct accounts_client *c, char session_id[ACCOUNTS_SECRET_LEN + 1],
                         struct accounts_session *out)
{
    struct accounts_session scratch;
    session_id[0] = '\0';
    return password_signin(a, email, password, c, session_id, out ? out : &scratch);
}

enum err accounts_authenticate_password(struct accounts *a, struct str email, struct str password,
                                        const struct accounts_client *c,
                                        struct accounts_session *out)
{
    return password_signin(a, email, password, c, NULL, out);
}

/* ---- password reset and magic links ------------------------------------------------ */

/*
 * Token (and code) for the account of email, if it has one; token[0] == 0
 * otherwise. Records action in the account's tenant.
 */
static enum err issue_token(struct accounts *a, struct str email, const char *purpose, int64_t ttl,
                            const char *action, enum accounts_mail_kind kind,
                            const struct accounts_client *c, char token[ACCOUNTS_SECRET_LEN + 1],
                            char *code)
{
    token[0] = '\0';
    if (code)
        code[0] = '\0';
    enum err e = acc_client_check(c);
    if (e)
        return e;
    char em[ACCOUNTS_MAX_EMAIL + 1];
    if ((e = accounts_email_normalize(email, em)) != ERR_OK)
        return e;
    struct accounts_user_ref u;
    bool found = false;
    if ((e = directory_lookup(a, em, &u, &found)) != ERR_OK)
        return e;
    if (!found) {
        log_info("token requested for an unknown address", LOG_STR("purpose", purpose));
        return ERR_OK;
    }
    char th[ACCOUNTS_HASH_HEX + 1], ch[ACCOUNTS_HASH_HEX + 1];
    if ((e = acc_secret_new(&u.tenant, token, th)) != ERR_OK)
        return e;
    if (code) {
        unsigned char h[SHA256_LEN];
        e = token_code_new(code, h);
        crypto_wipe(h, sizeof h); /* the unkeyed hash is never stored */
        if (e)
            goto fail;
        code_mac(a->code_keys[0], &u, code, ch);
    }
    int64_t now = accounts_now(a);
    struct tx *tx = NULL;
    if ((e = storage_begin(a->db, &u.tenant, TX_WRITE, &tx)) != ERR_OK)
        goto fail;
    e = token_insert(tx, th, purpose, u.user_id, code ? ch : NULL, now, ttl);
    char ut[sizeof "user:" + ACCOUNTS_ID_LEN];
    target_of("user", u.user_id, ut, sizeof ut);
    if (!e)
        e = acc_audit(tx, action, AUDIT_ACTOR_ANONYMOUS, NULL, ut, AUDIT_SUCCESS, c, NULL);
    if (!e)
        e = mail_queue(tx, c, kind, em, token, code);
    if (e)
        storage_rollback(tx);
    else
        e = storage_commit(tx);
    if (!e)
        return ERR_OK;
fail:
    crypto_wipe(token, ACCOUNTS_SECRET_LEN + 1);
    if (code)
        crypto_wipe(code, TOKEN_CODE_LEN + 1);
    return e;
}

/* Sleeps until a->request_floor_ms after t0 (CLOCK_MONOTONIC); at once when that has passed. */
static void request_floor_wait(const struct accounts *a, const struct timespec *t0)
{
    struct timespec until = *t0;
    until.tv_sec += (time_t)(a->request_floor_ms / 1000);
    until.tv_nsec += (long)(a->request_floor_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
        ;
}

enum err accounts_password_reset_request(struct accounts *a, struct str email,
                                         const struct accounts_client *c,
                                         char token[ACCOUNTS_SECRET_LEN + 1])
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum err e = issue_token(a, email, "reset_password", ACCOUNTS_RESET_TTL_S,
                             "auth.password_reset_requested", ACCOUNTS_MAIL_RESET, c, token, NULL);
    request_floor_wait(a, &t0);
    return e;
}

enum err accounts_password_reset(struct accounts *a, struct str token, struct str new_password,
                                 const struct accounts_client *c, const char **reason)
{
    const char *why = NULL;
    if (!reason)
        reason = &why;
    *reason = NULL;
    struct tenant_ctx t;
    char h[ACCOUNTS_HASH_HEX + 1], uid[ACCOUNTS_ID_LEN + 1];
    enum err e = acc_client_check(c);
    if (e)
        return e;
    e = acc_secret_parse(token, &t, h);
    if (e)
        return e == ERR_LIMIT ? ERR_LIMIT : ERR_NOT_FOUND;
    if ((e = password_check_policy(new_password, reason)) != ERR_OK)
        return e;
    char pw_hash[PASSWORD_HASH_MAX];
    if ((e = password_hash(&a->pw, new_password, pw_hash)) != ERR_OK)
        return e;
    int64_t now = accounts_now(a);
    struct tx *tx = NULL;
    uint64_t revoked = 0;
    if ((e = storage_begin(a->db, &t, TX_WRITE, &tx)) != ERR_OK)
        goto done;
    e = token_spend(tx, h, "reset_password", now, uid);
    if (!e) /* every other open reset link of the user dies with this one */
        e = tx_exec_args(
            tx,
            "UPDATE auth_tokens SET used_at = $3 WHERE tenant_id = $1 AND user_id = $2 "
            "AND purpose = 'reset_password' AND used_at IS NULL",
            STORAGE_ARGS(STORAGE_CSTR(uid), STORAGE_INT(now)), NULL);
    if (!e)
        e = tx_exec_args(
            tx,
            "UPDATE users SET password_hash = $3, password_key_id = $4, failed_count = 0, "
            "locked_until = NULL, email_verified_at = COALESCE(email_verified_at, $5) "
            "WHERE tenant_id = $1 AND id = $2",
            STORAGE_ARGS(STORAGE_CSTR(uid), STORAGE_CSTR(pw_hash),
                         STORAGE_CSTR(keyring_current(a->ring)->id), STORAGE_INT(now)),
            NULL);
    if (!e)
        e = acc_sessions_revoke_all(a, tx, uid, &revoked);
    uint64_t families = 0; /* and every access and refresh token (auth/tokens.h) */
    if (!e)
        e = auth_tokens_revoke_user(tx, uid, now, "password_reset", &families);
    char ut[sizeof "user:" + ACCOUNTS_ID_LEN];
    target_of("user", uid, ut, sizeof ut);
    if (!e)
        e = acc_audit(tx, "auth.password_reset", AUDIT_ACTOR_USER, uid, ut, AUDIT_SUCCESS, c,
                      LOG_FIELDS_(LOG_INT("sessions_revoked", (int64_t)revoked),
                                  LOG_INT("families_revoked", (int64_t)families)));
    if (e) {
        storage_rollback(tx);
    } else {
        e = storage_commit(tx);
        /* every session revoked, the address verified; also after a failed commit */
        acc_cache_forget(a->cache, &t, uid, NULL);
    }
done:
    crypto_wipe(pw_hash, sizeof pw_hash);
    return e;
}

enum err accounts_magic_link_request(struct accounts *a, struct str email,
                                     const struct accounts_client *c,
                                     char token[ACCOUNTS_SECRET_LEN + 1],
                                     char code[TOKEN_CODE_LEN + 1])
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum err e = issue_token(a, email, "magic_link", ACCOUNTS_MAGIC_TTL_S,
                             "auth.magic_link_requested", ACCOUNTS_MAIL_MAGIC, c, token, code);
    request_floor_wait(a, &t0);
    return e;
}

/* Session for user after a spent magic link, in tx; commits or rolls back. */
static enum err magic_signin(struct accounts *a, struct tx *tx, const struct accounts_user_ref *u,
                             int64_t now, const struct accounts_client *c,
                             char session_id[ACCOUNTS_SECRET_LEN + 1], struct accounts_session *out)
{
    /* the link proves the mailbox */
    enum err e =
        tx_exec_args(tx,
                     "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $3) "
                     "WHERE tenant_id = $1 AND id = $2",
                     STORAGE_ARGS(STORAGE_CSTR(u->user_id), STORAGE_INT(now)), NULL);
    if (!e)
        e = acc_session_create(a, tx, u, c, session_id, out);
    if (!e)
        e = user_fill(tx, u->user_id, out);
    char ut[sizeof "user:" + ACCOUNTS_ID_LEN];
    target_of("user", u->user_id, ut, sizeof ut);
    if (!e)
        e = acc_audit(tx, "auth.magic_link_signin", AUDIT_ACTOR_USER, u->user_id, ut, AUDIT_SUCCESS,
                      c, NULL);
    if (e) {
        storage_rollback(tx);
    } else {
        e = storage_commit(tx);
        /* the user's other open sessions may have become verified */
        acc_cache_forget(a->cache, &u->tenant, u->user_id, NULL);
    }
    if (e)
        crypto_wipe(session_id, ACCOUNTS_SECRET_LEN + 1);
    return e;
}

enum err accounts_magic_link_consume(struct accounts *a, struct str token,
                                     const struct accounts_client *c,
                                     char session_id[ACCOUNTS_SECRET_LEN + 1],
                                     struct accounts_session *out)
{
    struct accounts_session scratch;
    if (!out)
        out = &scratch;
    memset(out, 0, sizeof *out);
    session_id[0] = '\0';
    struct accounts_user_ref u;
    char h[ACCOUNTS_HASH_HEX + 1];
    enum err e = acc_client_check(c);
    if (e)
        return e;
    e = acc_secret_parse(token, &u.tenant, h);
    if (e)
        return e == ERR_LIMIT ? ERR_LIMIT : ERR_NOT_FOUND;
    int64_t now = accounts_now(a);
    struct tx *tx = NULL;
    if ((e = storage_begin(a->db, &u.tenant, TX_WRITE, &tx)) != ERR_OK)
        return e;
    e = token_spend(tx, h, "magic_link", now, u.user_id);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return magic_signin(a, tx, &u, now, c, session_id, out);
}

static enum err consume_code(struct accounts *a, struct str email, struct str code,
                             const struct accounts_client *c,
                             char session_id[ACCOUNTS_SECRET_LEN + 1], struct accounts_session *out)
{
    struct accounts_session scratch;
    if (!out)
        out = &scratch;
    memset(out, 0, sizeof *out);
    session_id[0] = '\0';
    enum err e = acc_client_check(c);
    if (e)
        return e;
    char em[ACCOUNTS_MAX_EMAIL + 1];
    if ((e = accounts_email_normalize(email, em)) != ERR_OK)
        return e == ERR_LIMIT ? ERR_LIMIT : ERR_NOT_FOUND;
    char cn[TOKEN_CODE_LEN + 1];
    if ((e = code_normalize(code, cn)) != ERR_OK)
        return e == ERR_LIMIT ? ERR_LIMIT : ERR_NOT_FOUND;
    struct accounts_user_ref u;
    bool found = false;
    if ((e = directory_lookup(a, em, &u, &found)) != ERR_OK || !found) {
        crypto_wipe(cn, sizeof cn);
        return e ? e : ERR_NOT_FOUND;
    }
    int64_t now = accounts_now(a);
    struct tx *tx = NULL;
    if ((e = storage_begin(a->db, &u.tenant, TX_WRITE, &tx)) != ERR_OK) {
        crypto_wipe(cn, sizeof cn);
        return e;
    }
    /* under each key of the ring: a code mailed before a rotation still works */
    uint64_t n = 0;
    for (size_t k = 0; k < a->n_code_keys && !e && n == 0; k++) {
        char chx[ACCOUNTS_HASH_HEX + 1];
        code_mac(a->code_keys[k], &u, cn, chx);
        e = tx_exec_args(
            tx,
            "UPDATE auth_tokens SET used_at = $4 WHERE tenant_id = $1 AND user_id = $2 "
            "AND code_hash = $3 AND purpose = 'magic_link' AND used_at IS NULL "
            "AND expires_at > $4",
            STORAGE_ARGS(STORAGE_CSTR(u.user_id), STORAGE_CSTR(chx), STORAGE_INT(now)), &n);
    }
    crypto_wipe(cn, sizeof cn);
    if (!e && n == 1)
        return magic_signin(a, tx, &u, now, c, session_id, out);
    /* a wrong code: counts against every open link of the user, burnt at the limit */
    if (!e)
        e = tx_exec_args(tx,
                         "UPDATE auth_tokens SET attempts = attempts + 1, "
                         "used_at = CASE WHEN attempts + 1 >= $4 THEN $3 ELSE used_at END "
                         "WHERE tenant_id = $1 AND user_id = $2 AND purpose = 'magic_link' "
                         "AND used_at IS NULL AND expires_at > $3",
                         STORAGE_ARGS(STORAGE_CSTR(u.user_id), STORAGE_INT(now),
                                      STORAGE_INT(ACCOUNTS_MAGIC_MAX_ATTEMPTS)),
                         NULL);
    char ut[sizeof "user:" + ACCOUNTS_ID_LEN];
    target_of("user", u.user_id, ut, sizeof ut);
    if (!e)
        e = acc_audit(tx, "auth.magic_link_signin", AUDIT_ACTOR_ANONYMOUS, NULL, ut, AUDIT_FAILURE,
                      c, LOG_FIELDS_(LOG_STR("reason", "bad_code")));
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    return e ? e : ERR_NOT_FOUND;
}

/* A wrong code for a known address writes (attempts, audit), an unknown address
 * only reads: failures wait out the request floor so both take the same time. */
enum err accounts_magic_link_consume_code(struct accounts *a, struct str email, struct str code,
                                          const struct accounts_client *c,
                                          char session_id[ACCOUNTS_SECRET_LEN + 1],
                                          struct accounts_session *out)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum err e = consume_code(a, email, code, c, session_id, out);
    if (e)
        request_floor_wait(a, &t0);
    return e;
}

/* ---- for members.c (accounts_internal.h) ------------------------------------------ */

void acc_email_hash(const char *email, char out[ACCOUNTS_HASH_HEX + 1])
{
    email_hash(email, out);
}

enum err acc_new_uuid(char out[ACCOUNTS_ID_LEN + 1])
{
    return new_uuid(out);
}
