/*
 * router — a constant route table matched segment by segment.
 *
 * Patterns are absolute paths whose segments are literals or {name}
 * parameters ("/api/v1/things/{id}"). A parameter matches one non-empty
 * segment. Lookup distinguishes "no such path" (404) from "path exists, not
 * with this method" (405 with the Allow list). HEAD is served by GET routes.
 *
 * Every route must declare who may call it (enum route_access) and the
 * permission it needs (enum authz_permission, Z1). The table is checked once
 * at start-up by router_init(): a route without an access class or a
 * permission, with a permission that does not fit its access class, a
 * malformed pattern or a duplicate (method, pattern) makes start-up fail, so
 * no endpoint can be added unguarded by accident.
 */
#ifndef SHIPLOG_HTTP_ROUTER_H
#define SHIPLOG_HTTP_ROUTER_H

#include <stddef.h>

#include "authz/authz.h"
#include "core/buf.h"
#include "core/schema.h"
#include "http/request.h"
#include "ratelimit/ratelimit.h"

#define ROUTER_MAX_ROUTES   256
#define ROUTER_MAX_SEGMENTS 16
#define ROUTER_MAX_PATH     2048 /* bytes of a request path; longer → 404 */

enum route_access {
    ROUTE_ACCESS_UNSET = 0, /* refused by router_init */
    ROUTE_PUBLIC,           /* anyone: health, security.txt, API description, CSP reports */
    ROUTE_DELIVERY,         /* public delivery content: open CORS, no credentials */
    ROUTE_AUTHENTICATED,    /* a live session (cookie) is required: 401 `unauthenticated`
                               otherwise; state-changing methods pass the CSRF checks (U2) */
};

/* What a route accepts as a body; NULL body_spec = no body expected. */
struct body_spec {
    const char *const *content_types; /* NULL-terminated media types, lower case */
    bool json;                        /* parse with the limits below (H4) */
    const struct json_limits *limits; /* NULL = JSON_LIMITS_DEFAULT */
    const struct schema *schema;      /* validate object bodies (H6); NULL = handler checks */
    size_t max_bytes;                 /* non-JSON bodies: 0 = the server-wide limit */
};

#define HTTP_FORM_TYPE "application/x-www-form-urlencoded"

struct route {
    enum http_method method;
    const char *pattern;
    http_handler handler;
    enum route_access access;
    /* Z1: what the caller must hold (authz/authz.h). Public and delivery routes
     * take a permission that needs no session, authenticated ones one that does */
    enum authz_permission permission;
    const struct body_spec *body;
    const char *summary; /* one line, for docs and the API description */
    bool rate_limited;   /* count each call in rate_bucket, keyed by client IP (H8);
                            per-account keys are counted by the handler (http_rate_hit) */
    enum rl_bucket rate_bucket;
    /* A console page (U1): HTML, the console's CSP, failures rendered by
     * app->console_error; a POST must take a form body (HTTP_FORM_TYPE), which
     * must carry the synchronizer token (http/csrf.h) */
    bool console;
    /* ROUTE_AUTHENTICATED console routes refuse a session whose address is not
     * verified (A2: 403 email_unverified) unless this is set (sign-out, resend) */
    bool allow_unverified;
    /* H7: a signed-in POST without Idempotency-Key is refused (400
     * idempotency_key_required); on other signed-in POSTs the key is optional */
    bool idempotency_required;
    /* an API-key route (AUTHZ_ACCOUNT for sessions): a key may call it only
     * when it holds keys:write */
    bool keys_route;
};

enum router_match { ROUTER_FOUND, ROUTER_NOT_FOUND, ROUTER_METHOD_NOT_ALLOWED };

struct router {
    const struct route *routes;
    size_t n_routes;
};

/* Validates the table (see above); on ERR_CONFIG msg names the bad route. */
MUST_CHECK enum err router_init(struct router *r, const struct route *routes, size_t n,
                                struct buf *msg);

/*
 * Finds the route for (method, path). On ROUTER_FOUND fills req->route and the
 * parameters; on ROUTER_METHOD_NOT_ALLOWED sets req->allow (arena string).
 */
enum router_match router_match(const struct router *r, struct http_request *req);

#endif
