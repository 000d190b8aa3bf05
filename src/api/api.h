/*
 * api — the HTTP surfaces of shiplog: the route table and its handlers.
 *
 * routes.c holds the one table of every route with its access class; the
 * server refuses to start if any route lacks one (see http/router.h).
 */
#ifndef SHIPLOG_API_API_H
#define SHIPLOG_API_API_H

#include <stddef.h>

#include "http/request.h"
#include "http/router.h"

/* The complete route table. */
const struct route *api_routes(size_t *n);

/* Renders security.txt (RFC 9116) for cfg at time now into out. */
MUST_CHECK enum err security_txt_render(const struct config *cfg, time_t now, struct buf *out);

enum err health_live(struct http_request *req, struct http_response *resp);
enum err health_ready(struct http_request *req, struct http_response *resp);
enum err wellknown_security_txt(struct http_request *req, struct http_response *resp);
enum err security_policy(struct http_request *req, struct http_response *resp);
enum err openapi_document(struct http_request *req, struct http_response *resp);
enum err csp_report(struct http_request *req, struct http_response *resp);

extern const struct body_spec CSP_REPORT_BODY;

/* identity.c: sign-up, sign-in, sessions, reset and magic links (A1–A6). */
enum err identity_signup(struct http_request *req, struct http_response *resp);
enum err identity_verify_email(struct http_request *req, struct http_response *resp);
enum err identity_signin(struct http_request *req, struct http_response *resp);
enum err identity_signout(struct http_request *req, struct http_response *resp);
enum err identity_me(struct http_request *req, struct http_response *resp);
enum err identity_sessions_list(struct http_request *req, struct http_response *resp);
enum err identity_session_revoke(struct http_request *req, struct http_response *resp);
enum err identity_signout_everywhere(struct http_request *req, struct http_response *resp);
enum err identity_reset_request(struct http_request *req, struct http_response *resp);
enum err identity_reset_confirm(struct http_request *req, struct http_response *resp);
enum err identity_magic_request(struct http_request *req, struct http_response *resp);
enum err identity_magic_consume(struct http_request *req, struct http_response *resp);

extern const struct body_spec IDENTITY_SIGNUP_BODY, IDENTITY_SIGNIN_BODY, IDENTITY_EMAIL_BODY,
    IDENTITY_TOKEN_BODY, IDENTITY_MAGIC_CONSUME_BODY, IDENTITY_RESET_CONFIRM_BODY,
    IDENTITY_EMPTY_BODY;

/* The API description (docs/openapi.json), embedded at build time. */
extern const char openapi_json[];
extern const size_t openapi_json_len;
/* The disclosure policy linked from security.txt (docs/security-policy.txt). */
extern const char security_policy_txt[];
extern const size_t security_policy_txt_len;

#endif
