/*
 * identity — the JSON API of sign-up, verification, sign-in, sessions,
 * password reset and magic links (A1–A6, H6, H8, L1), on top of the accounts
 * core (accounts/accounts.h).
 *
 * Design:
 *  - No existence oracle: sign-up with a taken address answers exactly like
 *    a fresh one (201, the same body, no ids; the owner gets a notice);
 *    reset and magic-link requests always answer 202 with one body; every
 *    failed sign-in (unknown, wrong password, locked) is 401
 *    invalid_credentials with one message, and the accounts core makes them
 *    cost the same time.
 *  - Mail is queued through the outbox by the accounts mailer hook, in the
 *    transaction that creates the token, so a token never exists without its
 *    mail nor a mail without its token; the sender is kicked after commit.
 *    Links point at the console pages (<public_url>/verify, /reset, /magic).
 *    Nothing of the request but the token and the address goes into a mail.
 *  - The session travels only in the __Host- cookie (Secure, HttpOnly,
 *    SameSite=Lax, Max-Age of the absolute timeout); responses carry the
 *    session's public handle, never its id.
 *  - Rate limits (H8): the route table counts the per-IP bucket; handlers add
 *    a per-address key ("email:" + SHA-256 of the normalized address, so no
 *    address sits in the limiter's tables).
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/log.h"
#include "crypto/hash.h"
#include "http/headers.h"
#include "outbox/outbox.h"

/* A password field: code points before NFC (the core checks 12..128 after it). */
#define IDENTITY_MAX_PASSWORD PASSWORD_MAX_INPUT
#define IDENTITY_MAX_BODY     (16 * 1024) /* bytes of a request body */
#define IDENTITY_MAX_MAIL     4096        /* bytes of a mail body we compose */
#define IDENTITY_RATE_KEY     (sizeof "email:" + 2 * SHA256_LEN)
#define IDENTITY_MAX_UA       1024 /* bytes of User-Agent handed to the core (it cuts further) */

static const char *const json_only[] = {"application/json", NULL};

static const struct json_limits identity_limits = {
    .max_bytes = IDENTITY_MAX_BODY,
    .max_depth = 2,
    .max_string = IDENTITY_MAX_PASSWORD,
    .max_members = 8,
};

#define EMAIL_FIELD(req)                                                                           \
    {                                                                                              \
        .name = "email", .kind = SCHEMA_STRING, .required = (req), .min_len = 3,                   \
        .max_len = ACCOUNTS_MAX_EMAIL, .format = SCHEMA_FMT_EMAIL                                  \
    }
#define PASSWORD_FIELD(min)                                                                        \
    {                                                                                              \
        .name = "password", .kind = SCHEMA_STRING, .required = true, .min_len = (min),             \
        .max_len = IDENTITY_MAX_PASSWORD,                                                          \
        .description = "The policy wants 12..128 characters after NFC normalization"               \
    }
#define TOKEN_FIELD(req)                                                                           \
    {                                                                                              \
        .name = "token", .kind = SCHEMA_STRING, .required = (req), .min_len = 1,                   \
        .max_len = ACCOUNTS_MAX_SECRET_TEXT                                                        \
    }
#define SCHEMA_OF(fields)                                                                          \
    {                                                                                              \
        (fields), sizeof(fields) / sizeof((fields)[0]), false                                      \
    }
/* A JSON body of schema s, called name in the API description. */
#define BODY_OF(s, name_)                                                                          \
    {                                                                                              \
        .content_types = json_only, .json = true, .limits = &identity_limits, .schema = &(s),      \
        .name = (name_)                                                                            \
    }

static const struct schema_field signup_fields[] = {
    EMAIL_FIELD(true),
    PASSWORD_FIELD(PASSWORD_MIN_CHARS),
    {.name = "organization",
     .kind = SCHEMA_STRING,
     .required = true,
     .min_len = 1,
     .max_len = ACCOUNTS_MAX_ORG_NAME},
};
static const struct schema signup_schema = SCHEMA_OF(signup_fields);
const struct body_spec IDENTITY_SIGNUP_BODY = BODY_OF(signup_schema, "Signup");

static const struct schema_field signin_fields[] = {EMAIL_FIELD(true), PASSWORD_FIELD(1)};
static const struct schema signin_schema = SCHEMA_OF(signin_fields);
const struct body_spec IDENTITY_SIGNIN_BODY = BODY_OF(signin_schema, "SignIn");

static const struct schema_field email_fields[] = {EMAIL_FIELD(true)};
static const struct schema email_schema = SCHEMA_OF(email_fields);
const struct body_spec IDENTITY_EMAIL_BODY = BODY_OF(email_schema, "EmailOnly");

static const struct schema_field token_fields[] = {TOKEN_FIELD(true)};
static const struct schema token_schema = SCHEMA_OF(token_fields);
const struct body_spec IDENTITY_TOKEN_BODY = BODY_OF(token_schema, "Token");

static const struct schema_field magic_fields[] = {
    TOKEN_FIELD(false),
    EMAIL_FIELD(false),
    {.name = "code", .kind = SCHEMA_STRING, .min_len = 1, .max_len = TOKEN_CODE_LEN},
};
static const struct schema magic_schema = SCHEMA_OF(magic_fields);
const struct body_spec IDENTITY_MAGIC_CONSUME_BODY = {.content_types = json_only,
                                                      .json = true,
                                                      .limits = &identity_limits,
                                                      .schema = &magic_schema,
                                                      .name = "MagicConsume",
                                                      .description =
                                                          "Either token, or email and code"};

static const struct schema_field reset_fields[] = {TOKEN_FIELD(true),
                                                   PASSWORD_FIELD(PASSWORD_MIN_CHARS)};
static const struct schema reset_schema = SCHEMA_OF(reset_fields);
const struct body_spec IDENTITY_RESET_CONFIRM_BODY = BODY_OF(reset_schema, "ResetConfirm");

/* "{}": a state-changing POST without parameters still proves it is JSON (U2). */
static const struct schema empty_schema = {NULL, 0, false};
const struct body_spec IDENTITY_EMPTY_BODY = BODY_OF(empty_schema, "Empty");

/* ---- helpers ------------------------------------------------------------------ */

struct str api_body_str(const struct http_request *req, const char *name)
{
    struct str s;
    return json_as_str(json_get(req->json, name), &s) ? s : STR_NULL;
}

int api_public_base_len(const struct config *cfg)
{
    size_t n = strlen(cfg->public_url);
    while (n > 0 && cfg->public_url[n - 1] == '/')
        n--;
    return (int)n;
}

/* Composes and queues one mail of the accounts core (mailer hook; arg is the request). */
static enum err queue_mail(void *arg, struct tx *tx, const struct accounts_mail *m)
{
    const struct http_request *req = arg;
    const struct config *cfg = req->app->cfg;
    int bl = api_public_base_len(cfg);
    const char *base = cfg->public_url;
    struct buf body = BUF_INIT_SECRET(IDENTITY_MAX_MAIL);
    const char *subject = NULL;
    enum err e = ERR_OK;
    switch (m->kind) {
    case ACCOUNTS_MAIL_VERIFY:
        subject = "Confirm your e-mail address for shiplog";
        e = buf_printf(
            &body,
            "Welcome to shiplog.\n\nConfirm your e-mail address by opening this link:\n\n"
            "%.*s/verify?token=%s\n\nThe link is valid for 24 hours and works once.\n"
            "If you did not sign up, ignore this mail.\n",
            bl, base, m->token);
        break;
    case ACCOUNTS_MAIL_RESET:
        subject = "Reset your shiplog password";
        e = buf_printf(&body,
                       "Someone asked to reset the password of your shiplog account.\n\n"
                       "Choose a new password here:\n\n%.*s/reset?token=%s\n\n"
                       "The link is valid for one hour and works once. If you did not ask for "
                       "it, ignore this mail: your password stays as it is.\n",
                       bl, base, m->token);
        break;
    case ACCOUNTS_MAIL_MAGIC:
        subject = "Your shiplog sign-in link";
        e = buf_printf(&body,
                       "Sign in to shiplog by opening this link:\n\n%.*s/magic?token=%s\n\n"
                       "Or enter this code on the sign-in page: %s\n\n"
                       "The link and the code are valid for 15 minutes and work once. If you "
                       "did not ask for them, ignore this mail.\n",
                       bl, base, m->token, m->code);
        break;
    case ACCOUNTS_MAIL_SIGNUP_TAKEN:
        subject = "Someone tried to sign up with your address";
        e = buf_printf(&body,
                       "Someone tried to create a shiplog account with this e-mail address, "
                       "which already has one. No new account was created.\n\n"
                       "If it was you, sign in instead, or reset your password here:\n\n"
                       "%.*s/reset\n\nIf it was not you, you can ignore this mail.\n",
                       bl, base);
        break;
    }
    if (!e && !subject)
        e = ERR_INTERNAL;
    if (!e) {
        struct outbox_mail mail = {.to = m->to, .subject = subject, .body = buf_cstr(&body)};
        e = outbox_enqueue(tx, &mail);
    }
    buf_wipe(&body);
    return e;
}

void identity_client_of(struct http_request *req, struct accounts_client *c,
                        struct accounts_mailer *mailer)
{
    if (mailer) {
        mailer->queue = queue_mail;
        mailer->arg = req;
    }
    struct str ua = http_header_get(req, "User-Agent");
    const char *ua_text = NULL;
    if (ua.ptr)
        ua_text =
            arena_strndup(req->arena, ua.ptr, ua.len < IDENTITY_MAX_UA ? ua.len : IDENTITY_MAX_UA);
    *c = (struct accounts_client){
        .ip = req->client_ip, .user_agent = ua_text, .request_id = req->id, .mailer = mailer};
}

enum err identity_rate_email(struct http_request *req, enum rl_bucket bucket, struct str email)
{
    static const char label[] = "shiplog/v1/rl-email:";
    char text[sizeof label + ACCOUNTS_MAX_EMAIL + 1];
    char norm[ACCOUNTS_MAX_EMAIL + 1];
    struct str what = accounts_email_normalize(email, norm) == ERR_OK ? str_from_cstr(norm) : email;
    if (what.len > ACCOUNTS_MAX_EMAIL) /* the schema caps it; keep the key bounded anyway */
        what.len = ACCOUNTS_MAX_EMAIL;
    int tl = snprintf(text, sizeof text, "%s%.*s", label, (int)what.len, what.ptr ? what.ptr : "");
    unsigned char h[SHA256_LEN];
    sha256(text, (size_t)tl, h);
    char key[IDENTITY_RATE_KEY];
    int n = snprintf(key, sizeof key, "email:");
    for (size_t i = 0; i < SHA256_LEN; i++)
        n += snprintf(key + n, sizeof key - (size_t)n, "%02x", h[i]);
    return http_rate_hit(req, bucket, key);
}

enum err api_respond_json(struct http_request *req, struct http_response *resp, int status,
                          struct jw *w, struct buf *out)
{
    enum err e = jw_finish(w);
    if (!e)
        e = http_resp_json(req, resp, status, out);
    buf_release(out);
    return e;
}

/* A body of one status and one message. */
static enum err respond_status(struct http_request *req, struct http_response *resp, int status,
                               const char *state, const char *message)
{
    struct buf out = BUF_INIT(1024);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_cstring(&w, state);
    if (message) {
        jw_key(&w, "message");
        jw_cstring(&w, message);
    }
    jw_object_end(&w);
    return api_respond_json(req, resp, status, &w, &out);
}

enum err identity_set_session_cookie(struct http_request *req, struct http_response *resp,
                                     const char *value)
{
    char *cookie =
        value ? arena_printf(req->arena,
                             "%s=%s; Path=/; HttpOnly; Secure; SameSite=Lax; "
                             "Max-Age=%d",
                             HTTP_SESSION_COOKIE, value, ACCOUNTS_SESSION_ABSOLUTE_S)
              : arena_printf(req->arena, "%s=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0",
                             HTTP_SESSION_COOKIE);
    if (!cookie)
        return ERR_LIMIT;
    return http_resp_header(req, resp, "Set-Cookie", cookie);
}

enum err identity_respond_session(struct http_request *req, struct http_response *resp,
                                  char session_id[ACCOUNTS_SECRET_LEN + 1],
                                  const struct accounts_session *s)
{
    enum err e = identity_set_session_cookie(req, resp, session_id);
    crypto_wipe(session_id, ACCOUNTS_SECRET_LEN + 1); /* the arena copy dies with the request */
    if (e)
        return e;
    struct buf out = BUF_INIT(1024);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "user_id");
    jw_cstring(&w, s->user.user_id);
    jw_key(&w, "tenant_id");
    jw_cstring(&w, s->user.tenant.id);
    jw_key(&w, "role");
    jw_cstring(&w, s->role);
    jw_key(&w, "email_verified");
    jw_bool(&w, s->email_verified);
    jw_key(&w, "session");
    jw_cstring(&w, s->id_hash);
    jw_key(&w, "expires_at");
    jw_int(&w, s->expires_at);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

static enum err invalid_credentials(struct http_request *req)
{
    return http_fail_public(req, ERR_UNAUTHENTICATED, "invalid_credentials",
                            "The e-mail address or the password is not correct.");
}

static enum err invalid_token(struct http_request *req)
{
    return http_fail_public(req, ERR_INVALID, "invalid_token",
                            "The link or code is not valid: it may have expired or been used.");
}

/* A refusal of the core with its public reason (policy, limits). */
static enum err refused(struct http_request *req, enum err e, const char *reason)
{
    if (e != ERR_INVALID && e != ERR_LIMIT)
        return http_fail(req, e, "accounts: %s", err_name(e));
    char *msg = arena_printf(req->arena, "The request was refused: %s.",
                             reason ? reason : "a value is not acceptable");
    return http_fail_public(req, ERR_INVALID, "validation_failed",
                            msg ? msg : "The request was refused.");
}

/* ---- the actions, shared with the console ------------------------------------- */

enum err identity_do_signup(struct http_request *req, struct str email, struct str password,
                            struct str org, const char **reason)
{
    *reason = NULL;
    /* refused before anything is created: an address the outbox cannot mail */
    char norm[ACCOUNTS_MAX_EMAIL + 1];
    enum err e = accounts_email_normalize(email, norm);
    struct outbox_mail probe = {.to = norm, .subject = "x", .body = "x"};
    if (!e && outbox_mail_check(&probe) != ERR_OK)
        e = ERR_INVALID;
    if (e) {
        *reason = e == ERR_LIMIT ? "email too long" : "email not valid";
        return e;
    }
    struct accounts_client c;
    struct accounts_mailer mailer;
    identity_client_of(req, &c, &mailer);
    struct accounts_signup_result r;
    e = accounts_signup(req->app->accounts, email, password, org, &c, &r);
    crypto_wipe(r.verify_token, sizeof r.verify_token);
    if (e == ERR_CONFLICT)
        e = ERR_OK; /* the owner was mailed; the caller learns nothing */
    if (e == ERR_INVALID || e == ERR_LIMIT)
        *reason = r.reason;
    if (!e)
        outbox_sender_kick();
    return e;
}

enum err identity_do_verify(struct http_request *req, struct str token)
{
    struct accounts_client c;
    struct accounts_mailer mailer;
    identity_client_of(req, &c, &mailer);
    enum err e = accounts_verify_email(req->app->accounts, token, &c, NULL);
    return e == ERR_LIMIT || e == ERR_INVALID ? ERR_NOT_FOUND : e;
}

enum err identity_do_signin(struct http_request *req, struct str email, struct str password,
                            char sid[ACCOUNTS_SECRET_LEN + 1], struct accounts_session *s)
{
    enum err e = identity_rate_email(req, RL_LOGIN, email);
    if (e)
        return e;
    struct accounts_client c;
    struct accounts_mailer mailer;
    identity_client_of(req, &c, &mailer);
    e = accounts_signin(req->app->accounts, email, password, &c, sid, s);
    return e == ERR_LIMIT || e == ERR_INVALID ? ERR_UNAUTHENTICATED : e;
}

enum err identity_do_mail_request(struct http_request *req, enum rl_bucket bucket, struct str email)
{
    enum err e = identity_rate_email(req, bucket, email);
    if (e)
        return e;
    struct accounts_client c;
    struct accounts_mailer mailer;
    identity_client_of(req, &c, &mailer);
    char token[ACCOUNTS_SECRET_LEN + 1], code[TOKEN_CODE_LEN + 1];
    e = bucket == RL_MAGIC_LINK
            ? accounts_magic_link_request(req->app->accounts, email, &c, token, code)
            : accounts_password_reset_request(req->app->accounts, email, &c, token);
    bool mailed = token[0] != '\0';
    crypto_wipe(token, sizeof token);
    crypto_wipe(code, sizeof code);
    if (mailed)
        outbox_sender_kick();
    /* a malformed address has no account: the same answer as any other */
    return e == ERR_INVALID || e == ERR_LIMIT ? ERR_OK : e;
}

enum err identity_do_reset(struct http_request *req, struct str token, struct str password,
                           const char **reason)
{
    *reason = NULL;
    struct accounts_client c;
    struct accounts_mailer mailer;
    identity_client_of(req, &c, &mailer);
    enum err e = accounts_password_reset(req->app->accounts, token, password, &c, reason);
    if (e == ERR_LIMIT && !*reason)
        e = ERR_NOT_FOUND;
    return e;
}

enum err identity_do_magic_consume(struct http_request *req, struct str token, struct str email,
                                   struct str code, char sid[ACCOUNTS_SECRET_LEN + 1],
                                   struct accounts_session *s)
{
    enum err e = ERR_OK;
    if (!token.ptr && (e = identity_rate_email(req, RL_LOGIN, email)) != ERR_OK)
        return e;
    struct accounts_client c;
    struct accounts_mailer mailer;
    identity_client_of(req, &c, &mailer);
    e = token.ptr ? accounts_magic_link_consume(req->app->accounts, token, &c, sid, s)
                  : accounts_magic_link_consume_code(req->app->accounts, email, code, &c, sid, s);
    return e == ERR_LIMIT || e == ERR_INVALID ? ERR_NOT_FOUND : e;
}

/* The cookie's value; the authentication stage already found it live. */
static struct str session_cookie(const struct http_request *req)
{
    struct str v = STR_NULL;
    (void)http_cookie_get(http_header_get(req, "Cookie"), HTTP_SESSION_COOKIE, &v);
    return v;
}

enum err identity_do_signout(struct http_request *req, struct http_response *resp)
{
    if (req->principal.token) /* an access token: its family ends, no cookie is involved */
        return tokens_do_signout(req);
    struct accounts_client c;
    struct accounts_mailer mailer;
    identity_client_of(req, &c, &mailer);
    enum err e = accounts_signout(req->app->accounts, session_cookie(req), &c);
    if (e && e != ERR_UNAUTHENTICATED) /* revoked meanwhile: signed out all the same */
        return http_fail(req, e, "signout: %s", err_name(e));
    return identity_set_session_cookie(req, resp, NULL);
}

enum err identity_do_session_revoke(struct http_request *req, struct http_response *resp,
                                    bool *was_current)
{
    *was_current = false;
    struct str id = http_param(req, "id");
    if (id.len != ACCOUNTS_HASH_HEX) /* no session has another handle: same 404 */
        return ERR_NOT_FOUND;
    struct accounts_client c;
    struct accounts_mailer mailer;
    identity_client_of(req, &c, &mailer);
    enum err e = accounts_session_revoke(req->app->accounts, &req->principal.user, id, &c);
    if (e == ERR_NOT_FOUND || e == ERR_INVALID || e == ERR_LIMIT)
        return ERR_NOT_FOUND;
    if (e)
        return http_fail(req, e, "session revoke: %s", err_name(e));
    *was_current = str_eq_cstr(id, req->principal.session_handle);
    return *was_current ? identity_set_session_cookie(req, resp, NULL) : ERR_OK;
}

enum err identity_do_signout_everywhere(struct http_request *req, struct http_response *resp,
                                        uint64_t *revoked)
{
    struct accounts_client c;
    struct accounts_mailer mailer;
    identity_client_of(req, &c, &mailer);
    enum err e = accounts_signout_everywhere(req->app->accounts, &req->principal.user, &c, revoked);
    if (e)
        return http_fail(req, e, "signout everywhere: %s", err_name(e));
    /* every session and token of the user ended; a Bearer caller sent no cookie to expire */
    return req->principal.token ? ERR_OK : identity_set_session_cookie(req, resp, NULL);
}

/* ---- sign-up and verification --------------------------------------------------- */

#define SIGNUP_MESSAGE "Check your mailbox: we sent a link to confirm the address."

enum err identity_signup(struct http_request *req, struct http_response *resp)
{
    const char *reason;
    enum err e = identity_do_signup(req, api_body_str(req, "email"), api_body_str(req, "password"),
                                    api_body_str(req, "organization"), &reason);
    if (e)
        return refused(req, e, reason);
    return respond_status(req, resp, 201, "pending_verification", SIGNUP_MESSAGE);
}

enum err identity_verify_email(struct http_request *req, struct http_response *resp)
{
    enum err e = identity_do_verify(req, api_body_str(req, "token"));
    if (e == ERR_NOT_FOUND)
        return invalid_token(req);
    if (e)
        return http_fail(req, e, "verify: %s", err_name(e));
    return respond_status(req, resp, 200, "verified", NULL);
}

enum err identity_do_verify_resend(struct http_request *req, bool *sent)
{
    *sent = false;
    if (req->principal.email_verified)
        return ERR_OK;
    struct accounts_client c;
    struct accounts_mailer mailer;
    identity_client_of(req, &c, &mailer);
    enum err e = accounts_verify_resend(req->app->accounts, &req->principal.user, &c);
    if (e)
        return http_fail(req, e, "verify resend: %s", err_name(e));
    outbox_sender_kick();
    *sent = true;
    return ERR_OK;
}

enum err identity_verify_resend(struct http_request *req, struct http_response *resp)
{
    bool sent;
    enum err e = identity_do_verify_resend(req, &sent);
    if (e)
        return e;
    return sent ? respond_status(req, resp, 202, "sent", "A new link is on its way.")
                : respond_status(req, resp, 200, "already_verified", NULL);
}

/* ---- sign-in and sessions ----------------------------------------------------------- */

enum err identity_signin(struct http_request *req, struct http_response *resp)
{
    char sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_session s;
    enum err e =
        identity_do_signin(req, api_body_str(req, "email"), api_body_str(req, "password"), sid, &s);
    if (e == ERR_UNAUTHENTICATED)
        return invalid_credentials(req);
    if (e == ERR_RATE_LIMITED)
        return e;
    if (e)
        return http_fail(req, e, "signin: %s", err_name(e));
    return identity_respond_session(req, resp, sid, &s);
}

enum err identity_signout(struct http_request *req, struct http_response *resp)
{
    enum err e = identity_do_signout(req, resp);
    if (!e)
        resp->status = 204;
    return e;
}

/* The organization's slug (for its public feed's address) into out; "" when unknown. */
static enum err tenant_slug(struct http_request *req, char out[STORAGE_MAX_SLUG + 1])
{
    out[0] = '\0';
    struct tx *tx = NULL;
    enum err e = storage_begin(req->app->storage, &req->principal.user.tenant, TX_READ, &tx);
    if (e)
        return http_fail(req, e, "me: begin: %s", err_name(e));
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx, "SELECT slug FROM tenants WHERE id = $1", NULL, 0, &st, &row);
    if (!e && row) {
        struct str v = stmt_col_text(st, 0);
        if (v.len <= STORAGE_MAX_SLUG)
            snprintf(out, STORAGE_MAX_SLUG + 1, "%.*s", (int)v.len, v.ptr ? v.ptr : "");
    }
    if (st)
        stmt_finish(st);
    storage_rollback(tx);
    return e ? http_fail(req, e, "me: slug: %s", err_name(e)) : ERR_OK;
}

enum err identity_me(struct http_request *req, struct http_response *resp)
{
    const struct http_principal *pr = &req->principal;
    char slug[STORAGE_MAX_SLUG + 1];
    enum err e = tenant_slug(req, slug);
    if (e)
        return e;
    struct buf out = BUF_INIT(2048);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "user_id");
    jw_cstring(&w, pr->user.user_id);
    jw_key(&w, "tenant_id");
    jw_cstring(&w, pr->user.tenant.id);
    jw_key(&w, "role");
    jw_cstring(&w, pr->role);
    jw_key(&w, "email_verified");
    jw_bool(&w, pr->email_verified);
    jw_key(&w, "session");
    jw_cstring(&w, pr->session_handle);
    jw_key(&w, "tenant_slug");
    jw_cstring(&w, slug);
    const struct config *cfg = req->app->cfg;
    jw_key(&w, "feed_url"); /* the public changelog (docs/FEED.md) */
    jw_cstring(&w, slug[0] ? arena_printf(req->arena, "%.*s/feed/%s.json", api_public_base_len(cfg),
                                          cfg->public_url, slug)
                           : NULL);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err identity_sessions_list(struct http_request *req, struct http_response *resp)
{
    struct accounts_session_info *list =
        arena_calloc(req->arena, ACCOUNTS_MAX_SESSIONS, sizeof *list);
    if (!list)
        return ERR_LIMIT;
    size_t n = 0;
    enum err e = accounts_sessions_list(req->app->accounts, &req->principal.user, list,
                                        ACCOUNTS_MAX_SESSIONS, &n);
    if (e)
        return http_fail(req, e, "sessions list: %s", err_name(e));
    struct buf out = BUF_INIT(256 * 1024);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "sessions");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jw_object_begin(&w);
        jw_key(&w, "id");
        jw_cstring(&w, list[i].id_hash);
        jw_key(&w, "current");
        jw_bool(&w, strcmp(list[i].id_hash, req->principal.session_handle) == 0);
        jw_key(&w, "created_at");
        jw_int(&w, list[i].created_at);
        jw_key(&w, "last_seen_at");
        jw_int(&w, list[i].last_seen_at);
        jw_key(&w, "expires_at");
        jw_int(&w, list[i].expires_at);
        jw_key(&w, "client_ip");
        jw_cstring(&w, list[i].client_ip);
        jw_key(&w, "user_agent");
        jw_cstring(&w, list[i].user_agent);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err identity_session_revoke(struct http_request *req, struct http_response *resp)
{
    bool current;
    enum err e = identity_do_session_revoke(req, resp, &current);
    if (!e)
        resp->status = 204;
    return e;
}

enum err identity_signout_everywhere(struct http_request *req, struct http_response *resp)
{
    uint64_t n = 0;
    enum err e = identity_do_signout_everywhere(req, resp, &n);
    if (e)
        return e;
    struct buf out = BUF_INIT(256);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "revoked");
    jw_int(&w, (int64_t)n);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

/* ---- password reset and magic links --------------------------------------------- */

#define REQUESTED_MESSAGE "If an account uses this address, a mail is on its way."

static enum err mail_request(struct http_request *req, struct http_response *resp,
                             enum rl_bucket bucket)
{
    enum err e = identity_do_mail_request(req, bucket, api_body_str(req, "email"));
    if (e == ERR_RATE_LIMITED)
        return e;
    if (e)
        return http_fail(req, e, "mail request: %s", err_name(e));
    return respond_status(req, resp, 202, "accepted", REQUESTED_MESSAGE);
}

enum err identity_reset_request(struct http_request *req, struct http_response *resp)
{
    return mail_request(req, resp, RL_PASSWORD_RESET);
}

enum err identity_magic_request(struct http_request *req, struct http_response *resp)
{
    return mail_request(req, resp, RL_MAGIC_LINK);
}

enum err identity_reset_confirm(struct http_request *req, struct http_response *resp)
{
    const char *reason;
    enum err e =
        identity_do_reset(req, api_body_str(req, "token"), api_body_str(req, "password"), &reason);
    if (e == ERR_NOT_FOUND)
        return invalid_token(req);
    if (e)
        return refused(req, e, reason);
    if ((e = identity_set_session_cookie(req, resp, NULL)) != ERR_OK)
        return e;
    return respond_status(req, resp, 200, "password_changed",
                          "Your password was changed and every session signed out.");
}

enum err identity_magic_consume(struct http_request *req, struct http_response *resp)
{
    struct str token = api_body_str(req, "token"), email = api_body_str(req, "email"),
               code = api_body_str(req, "code");
    bool by_token = token.ptr && !email.ptr && !code.ptr;
    bool by_code = !token.ptr && email.ptr && code.ptr;
    if (!by_token && !by_code)
        return http_fail_public(req, ERR_INVALID, "validation_failed",
                                "Send either token, or email and code.");
    char sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_session s;
    enum err e = identity_do_magic_consume(req, token, email, code, sid, &s);
    if (e == ERR_NOT_FOUND)
        return invalid_token(req);
    if (e == ERR_RATE_LIMITED)
        return e;
    if (e)
        return http_fail(req, e, "magic consume: %s", err_name(e));
    return identity_respond_session(req, resp, sid, &s);
}
