/*
 * routes — the one route table (see api.h). Constant public documents and the
 * health checks are not rate limited (they cost nothing, and load balancers and
 * caches poll them); a route that does work for an anonymous caller counts
 * against a bucket per client IP.
 */
#include "api/api.h"

static const struct route routes[] = {
    {.method = HTTP_GET, .pattern = "/health", .handler = health_live, .access = ROUTE_PUBLIC,
     .summary = "Liveness: the process serves requests"},
    {.method = HTTP_GET, .pattern = "/health/ready", .handler = health_ready,
     .access = ROUTE_PUBLIC, .summary = "Readiness: the database is reachable and migrated"},
    {.method = HTTP_GET, .pattern = "/.well-known/security.txt", .handler = wellknown_security_txt,
     .access = ROUTE_PUBLIC, .summary = "Security contact information (RFC 9116)"},
    {.method = HTTP_GET, .pattern = "/security", .handler = security_policy,
     .access = ROUTE_PUBLIC,
     .summary = "The vulnerability disclosure policy linked from security.txt"},
    {.method = HTTP_GET, .pattern = "/api/v1/openapi.json", .handler = openapi_document,
     .access = ROUTE_PUBLIC, .summary = "This API's OpenAPI 3.1 description"},
    {.method = HTTP_POST, .pattern = "/csp-report", .handler = csp_report, .access = ROUTE_PUBLIC,
     .body = &CSP_REPORT_BODY, .summary = "Content-Security-Policy violation reports from browsers",
     .rate_limited = true, .rate_bucket = RL_API},

    /* identity (identity.c): per-IP buckets here, per-address keys in the handlers */
    {.method = HTTP_POST, .pattern = "/api/v1/signup", .handler = identity_signup,
     .access = ROUTE_PUBLIC, .body = &IDENTITY_SIGNUP_BODY,
     .summary = "Sign up: create an organization and its first user", .rate_limited = true,
     .rate_bucket = RL_SIGNUP},
    {.method = HTTP_POST, .pattern = "/api/v1/verify-email", .handler = identity_verify_email,
     .access = ROUTE_PUBLIC, .body = &IDENTITY_TOKEN_BODY,
     .summary = "Confirm an e-mail address with the token from the verification mail",
     .rate_limited = true, .rate_bucket = RL_API},
    {.method = HTTP_POST, .pattern = "/api/v1/session", .handler = identity_signin,
     .access = ROUTE_PUBLIC, .body = &IDENTITY_SIGNIN_BODY,
     .summary = "Sign in with e-mail and password; sets the session cookie", .rate_limited = true,
     .rate_bucket = RL_LOGIN},
    {.method = HTTP_DELETE, .pattern = "/api/v1/session", .handler = identity_signout,
     .access = ROUTE_AUTHENTICATED, .summary = "Sign out: revoke this session",
     .rate_limited = true, .rate_bucket = RL_API},
    {.method = HTTP_GET, .pattern = "/api/v1/sessions", .handler = identity_sessions_list,
     .access = ROUTE_AUTHENTICATED, .summary = "The signed-in user's live sessions",
     .rate_limited = true, .rate_bucket = RL_API},
    {.method = HTTP_DELETE, .pattern = "/api/v1/sessions/{id}", .handler = identity_session_revoke,
     .access = ROUTE_AUTHENTICATED, .summary = "Revoke one of the signed-in user's sessions",
     .rate_limited = true, .rate_bucket = RL_API},
    {.method = HTTP_POST, .pattern = "/api/v1/sessions/revoke-all",
     .handler = identity_signout_everywhere, .access = ROUTE_AUTHENTICATED,
     .body = &IDENTITY_EMPTY_BODY, .summary = "Sign out everywhere: revoke every session",
     .rate_limited = true, .rate_bucket = RL_API},
    {.method = HTTP_POST, .pattern = "/api/v1/password-reset", .handler = identity_reset_request,
     .access = ROUTE_PUBLIC, .body = &IDENTITY_EMAIL_BODY,
     .summary = "Ask for a password reset link by mail", .rate_limited = true,
     .rate_bucket = RL_PASSWORD_RESET},
    {.method = HTTP_POST, .pattern = "/api/v1/password-reset/confirm",
     .handler = identity_reset_confirm, .access = ROUTE_PUBLIC,
     .body = &IDENTITY_RESET_CONFIRM_BODY,
     .summary = "Set a new password with a reset token; revokes every session",
     .rate_limited = true, .rate_bucket = RL_PASSWORD_RESET},
    {.method = HTTP_POST, .pattern = "/api/v1/magic-link", .handler = identity_magic_request,
     .access = ROUTE_PUBLIC, .body = &IDENTITY_EMAIL_BODY,
     .summary = "Ask for a sign-in link and code by mail", .rate_limited = true,
     .rate_bucket = RL_MAGIC_LINK},
    {.method = HTTP_POST, .pattern = "/api/v1/magic-link/consume",
     .handler = identity_magic_consume, .access = ROUTE_PUBLIC,
     .body = &IDENTITY_MAGIC_CONSUME_BODY,
     .summary = "Sign in with a magic link token, or e-mail and code; sets the session cookie",
     .rate_limited = true, .rate_bucket = RL_LOGIN},
};

const struct route *api_routes(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
