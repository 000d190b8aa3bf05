/*
 * router — a constant route table matched segment by segment.
 *
 * Patterns are absolute paths whose segments are literals or {name}
 * parameters ("/api/v1/things/{id}"). A parameter matches one non-empty
 * segment; one followed by a literal suffix ("/feed/{tenant_slug}.json")
 * matches a segment that ends with the suffix and has at least one byte
 * before it, which is the parameter's value. Lookup distinguishes "no such path" (404) from "path
 * exists, not with this method" (405 with the Allow list). HEAD is served by GET routes.
 *
 * Every route must declare who may call it (enum route_access) and the
 * permission it needs (enum authz_permission, Z1). The table is checked once
 * at start-up by router_init(): a route without an access class or a
 * permission, with a permission that does not fit its access class, a
 * malformed pattern or a duplicate (method, pattern) makes start-up fail, so
 * no endpoint can be added unguarded by accident. Likewise every route but a
 * console page must say what the API description needs (operation_id, a
 * summary and its success response), so none goes undocumented.
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

/*
 * For the API description only: what one media type of a body carries when
 * the formats differ and the handler validates them (body_spec.schema NULL).
 */
struct body_format {
    const char *content_type;    /* one of the body_spec's content_types */
    const char *name;            /* its component: #/components/schemas/<name> */
    const struct schema *schema; /* the object it carries */
    size_t max_items;            /* 0: one object; n: a JSON array of at most n of them */
};

/* What a route accepts as a body; NULL body_spec = no body expected. */
struct body_spec {
    const char *const *content_types; /* NULL-terminated media types, lower case */
    bool json;                        /* parse with the limits below (H4) */
    const struct json_limits *limits; /* NULL = JSON_LIMITS_DEFAULT */
    const struct schema *schema;      /* validate object bodies (H6); NULL = handler checks */
    size_t max_bytes;                 /* non-JSON bodies: 0 = the server-wide limit */
    /* For the API description: the schema becomes #/components/schemas/<name>
     * (PascalCase; bodies that share a name must share the schema) */
    const char *name;
    const char *description;           /* optional, one line */
    const struct body_format *formats; /* documents schema-less JSON types (n_formats of them) */
    size_t n_formats;
};

#define HTTP_FORM_TYPE "application/x-www-form-urlencoded"
#define HTTP_JSON_TYPE "application/json"

#define ROUTE_MAX_RESPONSES 4

/*
 * One documented answer of a route, for the API description (api/openapi.c,
 * docs/openapi.json). A route lists its success answers (2xx) and any error
 * that deserves its own words; the usual errors (400, 401, 403, 404, 409, 413,
 * 415, 422, 429, 503) are derived from the route's other fields.
 */
struct route_response {
    int status;
    const char *description; /* one line */
    const char *media_type;  /* NULL: no content; always NULL for errors (the Error body) */
    const char *schema;      /* #/components/schemas/<schema> of docs/openapi-base.json;
                                NULL with a media type: any JSON object, or a string for text */
    bool sets_cookie;        /* answers Set-Cookie: the session cookie, set or expired */
};

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

    /* The API description (api/openapi.c); required on every route but
     * console pages, which are not part of it. */
    const char *operation_id; /* camelCase ([a-z][A-Za-z0-9]*), unique in the table */
    /* what it answers, [0] the usual success; a zero status ends the list */
    struct route_response responses[ROUTE_MAX_RESPONSES];
    /* documents the {name} path parameters, one field each (NULL: plain strings) */
    const struct schema *params;
    /* reads or writes the database, so it may answer 503 while that is
     * unavailable (implied for ROUTE_AUTHENTICATED: the caller is looked up) */
    bool uses_storage;
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
