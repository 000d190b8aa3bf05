/*
 * tokens — the JSON API of access and refresh tokens (A8) on top of
 * auth/tokens.h:
 *
 *   POST /api/v1/auth/token    {"grant_type":"password","email","password"}
 *                              {"grant_type":"api_key","api_key":"shk_..."}
 *   POST /api/v1/auth/refresh  {"refresh_token":"shr_..."}
 *
 * Both answer 200 {"access_token","token_type":"Bearer","expires_in",
 * "refresh_token","refresh_expires_in"} with Cache-Control: no-store. A body
 * whose members do not fit the grant type is 400 invalid_request (the
 * schema's own refusals are validation_failed, as everywhere); every
 * refused credential — unknown address, wrong password, locked account or
 * IP, unverified address, bad, revoked or expired key, bad, used or expired
 * refresh token — is the same 401 invalid_grant. The password grant is
 * sign-in without a session (accounts_authenticate_password: the same
 * lockouts, counters, timing and audit), plus sign-in's per-address rate
 * limit; both routes count in the sign-in bucket per client IP (routes.c).
 *
 * Signing out with an access token (DELETE /api/v1/session) is
 * tokens_do_signout, called by identity.c.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "crypto/password.h"

#define TOKENS_MAX_BODY (16 * 1024) /* bytes of a request body (a password may be 4 KiB) */

static const char *const json_only[] = {"application/json", NULL};
static const struct json_limits tokens_limits = {
    .max_bytes = TOKENS_MAX_BODY,
    .max_depth = 1,
    .max_string = PASSWORD_MAX_INPUT,
    .max_members = 8,
};

static const char *const grant_types[] = {"password", "api_key", NULL};
static const struct schema_field grant_fields[] = {
    {.name = "grant_type",
     .kind = SCHEMA_STRING,
     .required = true,
     .enum_values = grant_types,
     .description = "password (with email and password) or api_key (with api_key)"},
    {.name = "email",
     .kind = SCHEMA_STRING,
     .min_len = 3,
     .max_len = ACCOUNTS_MAX_EMAIL,
     .format = SCHEMA_FMT_EMAIL},
    {.name = "password", .kind = SCHEMA_STRING, .min_len = 1, .max_len = PASSWORD_MAX_INPUT},
    {.name = "api_key",
     .kind = SCHEMA_STRING,
     .min_len = 1,
     .max_len = AUTH_MAX_KEY_TEXT,
     .description = "An API key's text (shk_...)"},
};
static const struct schema grant_schema = {grant_fields,
                                           sizeof grant_fields / sizeof grant_fields[0], false};
const struct body_spec TOKENS_GRANT_BODY = {.content_types = json_only,
                                            .json = true,
                                            .limits = &tokens_limits,
                                            .schema = &grant_schema,
                                            .name = "TokenGrant",
                                            .description = "A password or an API key"};

static const struct schema_field refresh_fields[] = {
    {.name = "refresh_token",
     .kind = SCHEMA_STRING,
     .required = true,
     .min_len = 1,
     .max_len = AUTH_MAX_REFRESH_TEXT,
     .description = "The refresh token of the last answer (shr_...); used once"},
};
static const struct schema refresh_schema = {
    refresh_fields, sizeof refresh_fields / sizeof refresh_fields[0], false};
const struct body_spec TOKENS_REFRESH_BODY = {.content_types = json_only,
                                              .json = true,
                                              .limits = &tokens_limits,
                                              .schema = &refresh_schema,
                                              .name = "TokenRefresh"};

static enum err invalid_grant(struct http_request *req)
{
    return http_fail_public(req, ERR_UNAUTHENTICATED, "invalid_grant",
                            "The credentials or the refresh token are not valid.");
}

static enum err invalid_request(struct http_request *req, const char *message)
{
    return http_fail_public(req, ERR_INVALID, "invalid_request", message);
}

/* The services a token route needs; 503 without them (a server that cannot issue tokens). */
static enum err ready(struct http_request *req)
{
    if (!req->app->storage || !req->app->tokens.ring)
        return http_fail(req, ERR_UNAVAILABLE, "tokens: no storage or no signing keys");
    return ERR_OK;
}

/* 200 with both tokens (RFC 6749 §5.1 shape); wipes the pair. */
static enum err respond_pair(struct http_request *req, struct http_response *resp,
                             struct auth_token_pair *pair, int64_t now)
{
    struct buf out = BUF_INIT_SECRET(JWT_MAX_LEN + AUTH_REFRESH_TEXT_LEN + 512);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "access_token");
    jw_cstring(&w, pair->access);
    jw_key(&w, "token_type");
    jw_cstring(&w, "Bearer");
    jw_key(&w, "expires_in");
    jw_int(&w, pair->access_expires_at - now);
    jw_key(&w, "refresh_token");
    jw_cstring(&w, pair->refresh);
    jw_key(&w, "refresh_expires_in");
    jw_int(&w, pair->refresh_expires_at - now);
    jw_object_end(&w);
    enum err e = jw_finish(&w);
    auth_token_pair_wipe(pair);
    if (!e)
        e = http_resp_json(req, resp, 200, &out);
    buf_wipe(&out);
    if (!e)
        e = http_resp_header_set(req, resp, "Cache-Control", "no-store");
    if (!e)
        e = http_resp_header_set(req, resp, "Pragma", "no-cache");
    return e;
}

/* The password grant: sign-in without a session, then a family for the user. */
static enum err grant_password(struct http_request *req, int64_t now, struct auth_token_pair *pair)
{
    struct str email = api_body_str(req, "email"), password = api_body_str(req, "password");
    if (!email.ptr || !password.ptr || api_body_str(req, "api_key").ptr)
        return invalid_request(req, "The password grant takes email and password only.");
    if (!req->app->accounts)
        return http_fail(req, ERR_UNAVAILABLE, "tokens: no accounts");
    enum err e = identity_rate_email(req, RL_LOGIN, email); /* sign-in's per-address limit */
    if (e)
        return e;
    struct accounts_client ac;
    struct accounts_mailer mailer;
    identity_client_of(req, &ac, &mailer);
    struct accounts_session s;
    e = accounts_authenticate_password(req->app->accounts, email, password, &ac, &s);
    if (e == ERR_UNAUTHENTICATED || e == ERR_LIMIT || e == ERR_INVALID)
        return invalid_grant(req);
    if (e)
        return http_fail(req, e, "token grant: %s", err_name(e));
    if (!s.email_verified) { /* A2: the password was right, but no tokens before the mailbox is
                                proven */
        req->fail_detail = "address not verified";
        return invalid_grant(req);
    }
    struct auth_client c;
    api_auth_client_of(req, &c);
    e = auth_token_issue_user(req->app->storage, &req->app->tokens, &s.user.tenant, s.user.user_id,
                              now, s.tokens_valid_after, &c, pair);
    if (e == ERR_UNAUTHENTICATED)
        return invalid_grant(req);
    return e ? http_fail(req, e, "token issue: %s", err_name(e)) : ERR_OK;
}

/* The api_key grant: the key authenticates, then a family for the key. */
static enum err grant_api_key(struct http_request *req, int64_t now, struct auth_token_pair *pair)
{
    struct str text = api_body_str(req, "api_key");
    if (!text.ptr || api_body_str(req, "email").ptr || api_body_str(req, "password").ptr)
        return invalid_request(req, "The api_key grant takes api_key only.");
    struct auth_key_principal kp;
    enum err e = auth_key_authenticate(req->app->storage, text, now, &kp);
    if (e == ERR_UNAUTHENTICATED || e == ERR_LIMIT)
        return invalid_grant(req);
    if (e)
        return http_fail(req, e == ERR_DB ? ERR_UNAVAILABLE : e, "token grant: %s", err_name(e));
    struct auth_client c;
    api_auth_client_of(req, &c);
    e = auth_token_issue_key(req->app->storage, &req->app->tokens, &kp, now, &c, pair);
    if (e == ERR_UNAUTHENTICATED)
        return invalid_grant(req);
    return e ? http_fail(req, e, "token issue: %s", err_name(e)) : ERR_OK;
}

enum err tokens_grant(struct http_request *req, struct http_response *resp)
{
    enum err e = ready(req);
    if (e)
        return e;
    int64_t now = (int64_t)time(NULL);
    struct auth_token_pair pair;
    struct str type = api_body_str(req, "grant_type");
    if (str_eq_cstr(type, "password"))
        e = grant_password(req, now, &pair);
    else if (str_eq_cstr(type, "api_key"))
        e = grant_api_key(req, now, &pair);
    else /* the schema allows nothing else */
        e = invalid_request(req, "grant_type must be password or api_key.");
    if (e) {
        auth_token_pair_wipe(&pair);
        return e;
    }
    return respond_pair(req, resp, &pair, now);
}

enum err tokens_refresh(struct http_request *req, struct http_response *resp)
{
    enum err e = ready(req);
    if (e)
        return e;
    int64_t now = (int64_t)time(NULL);
    struct auth_client c;
    api_auth_client_of(req, &c);
    struct auth_token_pair pair;
    e = auth_token_refresh(req->app->storage, &req->app->tokens, api_body_str(req, "refresh_token"),
                           now, &c, &pair);
    if (e == ERR_UNAUTHENTICATED || e == ERR_LIMIT)
        return invalid_grant(req);
    if (e)
        return http_fail(req, e == ERR_DB ? ERR_UNAVAILABLE : e, "token refresh: %s", err_name(e));
    return respond_pair(req, resp, &pair, now);
}

enum err tokens_do_signout(struct http_request *req)
{
    const struct auth_token_principal *t = req->principal.token;
    if (!t || !req->app->storage)
        return http_fail(req, ERR_INTERNAL, "token sign-out without a token");
    struct auth_client c;
    api_auth_client_of(req, &c);
    enum err e = auth_token_revoke(req->app->storage, t, (int64_t)time(NULL), &c);
    if (e)
        return http_fail(req, e == ERR_DB ? ERR_UNAVAILABLE : e, "token sign-out: %s", err_name(e));
    return ERR_OK;
}
