/*
 * csrf — synchronizer tokens for the console's forms (U2).
 *
 * Every console form carries a hidden field "csrf" whose value is
 *   hex(HMAC-SHA-256(csrf key, "shiplog/v1/csrf" 0x00 kind ":" binding))
 * where the binding is the browser's session cookie when it sends one (kind
 * 's'), and otherwise its pre-session cookie (kind 'p'): a random value in
 * __Host-shiplog_pre, set by the first form page that needs it. So a token is
 * bound to the session — a new one at sign-in, useless after sign-out — and
 * forms shown before sign-in (sign-up, sign-in: login CSRF) are bound to a
 * cookie an attacker's page can neither read nor set (__Host-, HttpOnly).
 * Nothing is stored server-side; the key (struct app, derived from the master
 * key with the label "shiplog/v1/csrf") makes tokens unforgeable, and the
 * comparison is constant-time. The pipeline checks the token on every POST
 * to a console route, after the Origin / Sec-Fetch-Site checks.
 */
#ifndef SHIPLOG_HTTP_CSRF_H
#define SHIPLOG_HTTP_CSRF_H

#include <stdbool.h>

#include "http/request.h"

#define CSRF_KEY_LEN     HTTP_CSRF_KEY_LEN
#define CSRF_TOKEN_LEN   64 /* hex of an HMAC-SHA-256 */
#define CSRF_FIELD       "csrf"
#define CSRF_PRESESSION  "__Host-shiplog_pre"
#define CSRF_MAX_BINDING 128 /* bytes of a cookie value used as binding; longer → no token */

/*
 * The token for the forms of this response, into out. When the request has
 * neither cookie, makes a pre-session value and adds its Set-Cookie to resp
 * (once per request: later calls reuse it). ERR_CRYPTO / ERR_LIMIT on failure.
 */
MUST_CHECK enum err csrf_token(struct http_request *req, struct http_response *resp,
                               char out[CSRF_TOKEN_LEN + 1]);

/*
 * True when token is the one csrf_token gives for this request's cookies.
 * False without a binding cookie (a form not shown by us, or cookies blocked).
 */
bool csrf_check(const struct http_request *req, struct str token);

#endif
