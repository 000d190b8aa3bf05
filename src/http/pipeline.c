/* pipeline — see pipeline.h for the order of stages. */
#include "http/pipeline.h"

#include <stdio.h>
#include <sys/socket.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "audit/audit.h"
#include "core/log.h"
#include "http/csrf.h"
#include "http/form.h"
#include "http/headers.h"

#define CSP_API "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
/* console pages: their own stylesheet and forms, nothing inline, no scripts */
#define CSP_CONSOLE                                                                                \
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "                   \
    "frame-ancestors 'none'; base-uri 'none'; report-uri /csp-report"
#define PERMISSIONS_POLICY                                                                         \
    "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "              \
    "magnetometer=(), microphone=(), midi=(), payment=(), usb=(), xr-spatial-tracking=()"
#define HSTS_VALUE "max-age=63072000; includeSubDomains; preload"

#define CORS_ALLOW_METHODS "GET, HEAD, POST, PUT, PATCH, DELETE"
#define CORS_ALLOW_HEADERS "Authorization, Content-Type, Idempotency-Key, X-CSRF-Token"
#define CORS_EXPOSE_HEADERS                                                                        \
    "X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
#define CORS_MAX_AGE           "600"
#define DELIVERY_ALLOW_METHODS "GET, HEAD"
#define DELIVERY_ALLOW_HEADERS "If-None-Match"
#define DELIVERY_MAX_AGE       "86400"

static const char *const delivery_prefixes[] = {"/feed/", "/widget/"};
/* delivery paths outside the prefixes, matched exactly: the widget's script,
 * whose URL customers paste into their pages */
static const char *const delivery_exact[] = {"/widget.js"};

bool pipeline_is_delivery_path(struct str path)
{
    for (size_t i = 0; i < sizeof(delivery_prefixes) / sizeof(delivery_prefixes[0]); i++)
        if (str_starts_with(path, str_from_cstr(delivery_prefixes[i])))
            return true;
    for (size_t i = 0; i < sizeof(delivery_exact) / sizeof(delivery_exact[0]); i++)
        if (str_eq_cstr(path, delivery_exact[i]))
            return true;
    return false;
}

enum err pipeline_init(struct pipeline *p, const struct app *app, const struct route *routes,
                       size_t n_routes, struct buf *msg)
{
    p->app = app;
    enum err e = router_init(&p->router, routes, n_routes, msg);
    /* CORS is decided by path prefix (a 404 under /feed/ is still open), so a
     * route's access class and its prefix must agree */
    for (size_t i = 0; !e && i < n_routes; i++) {
        bool under = pipeline_is_delivery_path(str_from_cstr(routes[i].pattern));
        if (under != (routes[i].access == ROUTE_DELIVERY)) {
            buf_note(
                msg, "route %s: delivery routes, and only they, live under %s or %s (or at %s)",
                routes[i].pattern, delivery_prefixes[0], delivery_prefixes[1], delivery_exact[0]);
            e = ERR_CONFIG;
        }
    }
    return e;
}

/*
 * All X-Forwarded-For lines joined in order with ", ": a proxy may add its
 * own line instead of appending to the client's, and the rightmost entries are
 * the ones we can vouch for.
 */
static struct str forwarded_for(struct http_request *req)
{
    /* the rightmost bytes are the ones a trusted proxy wrote: when all lines do
     * not fit in HTTP_XFF_MAX, only the last line is used (the client cannot
     * push the proxy's entry out by sending a long first line) */
    size_t total = 0, lines = 0, last = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (str_ieq_cstr(req->headers[i].name, "X-Forwarded-For")) {
            total += req->headers[i].value.len + (lines ? 2 : 0);
            lines++;
            last = i;
        }
    }
    if (lines == 0)
        return STR_NULL;
    if (total > HTTP_XFF_MAX)
        return req->headers[last].value.len <= HTTP_XFF_MAX ? req->headers[last].value : STR_NULL;
    struct buf joined = BUF_INIT(HTTP_XFF_MAX);
    bool first = true;
    enum err e = ERR_OK;
    for (size_t i = 0; i < req->n_headers && !e; i++) {
        if (!str_ieq_cstr(req->headers[i].name, "X-Forwarded-For"))
            continue;
        struct str v = req->headers[i].value;
        if (!first)
            e = buf_puts(&joined, ", ");
        if (!e)
            e = buf_append(&joined, v.ptr, v.len);
        first = false;
    }
    struct str out = STR_NULL;
    char *copy = e ? NULL : arena_strndup(req->arena, buf_cstr(&joined), joined.len);
    if (copy)
        out = str_from(copy, joined.len);
    buf_release(&joined);
    return out;
}

void pipeline_resolve_client(const struct pipeline *p, struct http_request *req,
                             const struct netaddr *peer)
{
    const struct config *cfg = p->app->cfg;
    netaddr_format(peer, req->peer_ip);
    netaddr_client_ip(peer, forwarded_for(req), cfg->trusted_proxies, cfg->n_trusted_proxies,
                      req->client_ip);
}

size_t pipeline_body_limit(const struct pipeline *p, struct http_request *req, bool *routed)
{
    *routed = router_match(&p->router, req) == ROUTER_FOUND;
    if (!*routed || !req->route->body)
        return 0;
    size_t cap = p->app->cfg->max_body_bytes;
    const struct body_spec *spec = req->route->body;
    const struct json_limits *lim = spec->limits ? spec->limits : &JSON_LIMITS_DEFAULT;
    if (spec->json && lim->max_bytes < cap)
        cap = lim->max_bytes;
    if (!spec->json && spec->max_bytes && spec->max_bytes < cap)
        cap = spec->max_bytes;
    return cap;
}

/* The request's Origin when it is on the deployment's allowlist (H3). */
static bool origin_allowed(const struct config *cfg, struct str origin)
{
    if (!http_origin_valid(origin))
        return false;
    for (size_t i = 0; i < cfg->n_cors_origins; i++)
        if (str_eq_cstr(origin, cfg->cors_origins[i])) /* configured in canonical lower case */
            return true;
    return false;
}

static enum err add_cors_headers(const struct pipeline *p, struct http_request *req,
                                 struct http_response *resp, bool delivery, bool preflight)
{
    struct str origin = http_header_get(req, "Origin");
    enum err e = ERR_OK;
    if (delivery) {
        /* the same answer whatever the Origin, so shared caches need no Vary */
        e = http_resp_header(req, resp, "Access-Control-Allow-Origin", "*");
        if (!e && preflight) {
            e = http_resp_header(req, resp, "Access-Control-Allow-Methods", DELIVERY_ALLOW_METHODS);
            if (!e)
                e = http_resp_header(req, resp, "Access-Control-Allow-Headers",
                                     DELIVERY_ALLOW_HEADERS);
            if (!e)
                e = http_resp_header(req, resp, "Access-Control-Max-Age", DELIVERY_MAX_AGE);
        } else if (!e) {
            e = http_resp_header(req, resp, "Access-Control-Expose-Headers", "ETag, X-Request-Id");
        }
        return e;
    }
    if (p->app->cfg->n_cors_origins)
        e = http_resp_header(req, resp, "Vary", "Origin");
    if (e || !origin.ptr || !origin_allowed(p->app->cfg, origin))
        return e;
    char *o = arena_strndup(req->arena, origin.ptr, origin.len);
    if (!o)
        return ERR_LIMIT;
    e = http_resp_header(req, resp, "Access-Control-Allow-Origin", o);
    if (!e)
        e = http_resp_header(req, resp, "Access-Control-Allow-Credentials", "true");
    if (!e && preflight) {
        e = http_resp_header(req, resp, "Access-Control-Allow-Methods", CORS_ALLOW_METHODS);
        if (!e)
            e = http_resp_header(req, resp, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
        if (!e)
            e = http_resp_header(req, resp, "Access-Control-Max-Age", CORS_MAX_AGE);
    } else if (!e) {
        e = http_resp_header(req, resp, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
    }
    return e;
}

static bool has_header(const struct http_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++)
        if (str_ieq_cstr(resp->headers[i].name, name))
            return true;
    return false;
}

/* H2: the same set on every response, errors included. */
static enum err add_security_headers(const struct pipeline *p, struct http_request *req,
                                     struct http_response *resp, bool delivery)
{
    static const struct {
        const char *name, *value;
    } fixed[] = {
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Referrer-Policy", "strict-origin-when-cross-origin"},
        {"Permissions-Policy", PERMISSIONS_POLICY},
        {"Cross-Origin-Opener-Policy", "same-origin"},
    };
    enum err e = ERR_OK;
    for (size_t i = 0; !e && i < sizeof(fixed) / sizeof(fixed[0]); i++)
        e = http_resp_header_set(req, resp, fixed[i].name, fixed[i].value);
    if (!e)
        e = http_resp_header_set(req, resp, "Content-Security-Policy",
                                 req->route && req->route->console ? CSP_CONSOLE : CSP_API);
    if (!e)
        e = http_resp_header_set(req, resp, "Cross-Origin-Resource-Policy",
                                 delivery ? "cross-origin" : "same-origin");
    if (!e && (req->tls || p->app->cfg->env == CONFIG_ENV_PRODUCTION))
        e = http_resp_header_set(req, resp, "Strict-Transport-Security", HSTS_VALUE);
    /* delivery handlers say how long their content may be cached; their
     * errors (an unknown feed, a bad cursor) are not kept */
    if (!e && (!delivery || resp->status >= 400) && !has_header(resp, "Cache-Control"))
        e = http_resp_header(req, resp, "Cache-Control", "no-store");
    if (!e)
        e = http_resp_header_set(req, resp, "X-Request-Id", req->id);
    return e;
}

/*
 * U2 for console forms: the body must be a well-formed form whose "csrf"
 * field is this session's (or pre-session's) synchronizer token.
 */
static enum err check_form_token(struct http_request *req)
{
    const char *why = NULL;
    if (form_validate(req->body, &why) != ERR_OK) {
        char *msg =
            arena_printf(req->arena, "The form is not acceptable: %s.", why ? why : "malformed");
        return http_fail_public(req, ERR_INVALID, "invalid_form",
                                msg ? msg : "The form is not acceptable.");
    }
    struct buf token = BUF_INIT(CSRF_TOKEN_LEN + 1);
    enum err e = form_get(req->body, CSRF_FIELD, &token);
    bool ok = e == ERR_OK && csrf_check(req, str_from(buf_cstr(&token), token.len));
    buf_release(&token);
    if (ok)
        return ERR_OK;
    req->fail_detail = "missing or wrong synchronizer token";
    return http_fail_public(req, ERR_FORBIDDEN, "csrf_refused",
                            "This form has expired or did not come from shiplog. Reload the page "
                            "and try again.");
}

/* Reads, parses and validates the body per the route's body_spec. */
static enum err check_body(struct http_request *req)
{
    const struct body_spec *spec = req->route->body;
    if (!spec)
        return ERR_OK;
    if (!http_media_type_in(http_header_get(req, "Content-Type"), spec->content_types))
        return ERR_UNSUPPORTED_MEDIA;
    if (req->route->console)
        return check_form_token(req);
    if (!spec->json)
        return ERR_OK;
    const struct json_limits *lim = spec->limits ? spec->limits : &JSON_LIMITS_DEFAULT;
    if (req->body.len > lim->max_bytes) {
        /* the route accepts less than the server-wide body limit */
        char *msg = arena_printf(req->arena,
                                 "The request body is larger than this endpoint accepts (%zu "
                                 "bytes).",
                                 lim->max_bytes);
        return http_fail_public(req, ERR_TOO_LARGE, "payload_too_large",
                                msg ? msg : err_public_message(ERR_TOO_LARGE));
    }
    struct json_error je = {0};
    struct json *doc = NULL;
    enum err e = json_parse(req->body.ptr ? req->body.ptr : "", req->body.len, lim, &doc, &je);
    if (e) {
        char *msg = arena_printf(req->arena, "The request body is not acceptable JSON: %s.",
                                 je.reason[0] ? je.reason : "malformed JSON");
        return http_fail_public(req, e == ERR_LIMIT ? ERR_LIMIT : ERR_INVALID, "invalid_json",
                                msg ? msg : "The request body is not acceptable JSON.");
    }
    if (arena_defer(req->arena, (void (*)(void *))json_free, doc)) {
        json_free(doc);
        return ERR_LIMIT;
    }
    req->json = doc;
    if (!spec->schema)
        return ERR_OK;
    struct schema_result *res = arena_calloc(req->arena, 1, sizeof(*res));
    if (!res)
        return ERR_LIMIT;
    if (schema_validate(spec->schema, doc, res) != ERR_OK) {
        req->fail_fields = res;
        return http_fail_public(req, ERR_INVALID, "validation_failed",
                                "The request body failed validation; see fields.");
    }
    return ERR_OK;
}

#define RATE_KEY_MAX (sizeof("ip:") + HTTP_IP_LEN)

/* H8: one hit in the route's bucket for the client IP; 429 when over. */
static enum err check_rate(const struct pipeline *p, struct http_request *req)
{
    struct ratelimit *rl = p->app->ratelimit;
    if (!rl || !req->route->rate_limited)
        return ERR_OK;
    /* an IPv6 client controls at least a /64: count the network, not the address */
    char key[RATE_KEY_MAX + 4];
    struct netaddr a;
    int n;
    if (netaddr_parse(str_from_cstr(req->client_ip), &a) && a.family == AF_INET6) {
        memset(a.bytes + 8, 0, 8);
        char net[HTTP_IP_LEN];
        netaddr_format(&a, net);
        n = snprintf(key, sizeof(key), "ip:%s/64", net);
    } else {
        n = snprintf(key, sizeof(key), "ip:%s", req->client_ip);
    }
    enum err e =
        ratelimit_hit(rl, req->route->rate_bucket, str_from(key, (size_t)n), &req->rate_decision);
    req->rate_checked = true;
    if (e) /* the limiter refuses what it cannot decide on */
        return http_fail(req, ERR_RATE_LIMITED, "rate limiter: %s", err_name(e));
    if (!req->rate_decision.allowed)
        return http_fail_public(req, ERR_RATE_LIMITED, "rate_limited",
                                "Too many requests; retry after the time in Retry-After.");
    return ERR_OK;
}

enum err http_rate_hit(struct http_request *req, enum rl_bucket bucket, const char *key)
{
    struct ratelimit *rl = req->app->ratelimit;
    if (!rl)
        return ERR_OK;
    struct rl_decision d;
    enum err e = ratelimit_hit(rl, bucket, str_from_cstr(key), &d);
    if (!e && d.allowed)
        return ERR_OK;
    req->rate_decision = d;
    req->rate_checked = true;
    if (e)
        return http_fail(req, ERR_RATE_LIMITED, "rate limiter: %s", err_name(e));
    return http_fail_public(req, ERR_RATE_LIMITED, "rate_limited",
                            "Too many requests; retry after the time in Retry-After.");
}

/*
 * Z2: a permission check recorded in the caller's tenant: every denial, and
 * every grant of a sensitive permission. A failure to record is logged; the
 * answer stays what the check decided (a denial is still refused).
 */
static void audit_check(const struct pipeline *p, struct http_request *req,
                        const struct authz_entry *perm, bool granted)
{
    if (!p->app->storage || !req->principal.authenticated)
        return;
    const struct http_principal *pr = &req->principal;
    char *target =
        arena_printf(req->arena, "route:%s %s", http_method_name(req->method), req->route->pattern);
    struct audit_event ev = {
        .action = granted ? "authz.granted" : "authz.denied",
        .actor = pr->key ? AUDIT_ACTOR_API_KEY : AUDIT_ACTOR_USER,
        .actor_id = pr->key ? pr->key->key_id : pr->user.user_id,
        .target = target,
        .outcome = granted ? AUDIT_SUCCESS : AUDIT_DENIED,
        .client_ip = req->client_ip,
        .request_id = req->id,
        .details = LOG_FIELDS_(LOG_STR("permission", perm->name), LOG_STR("role", pr->role)),
    };
    struct tx *tx = NULL;
    enum err e =
        target ? storage_begin(p->app->storage, &pr->user.tenant, TX_WRITE, &tx) : ERR_LIMIT;
    if (!e)
        e = audit_append(tx, &ev, NULL);
    if (!e)
        e = storage_commit(tx);
    else if (tx)
        storage_rollback(tx);
    if (e)
        log_error("permission check not recorded", LOG_STR("request_id", req->id), LOG_ERR(e));
}

/*
 * Z1: the caller's role must hold the route's permission (authz.h). Only
 * authenticated routes need a role; a refusal is 403 permission_denied (the
 * object exists for this tenant: T4's 404 is for other tenants' ids, decided
 * by the handler's tenant-bound lookups).
 */
static enum err authorize(const struct pipeline *p, struct http_request *req)
{
    enum authz_permission perm = req->route->permission;
    if (!authz_entry_of(perm)->needs_session)
        return ERR_OK;
    const struct auth_key_principal *key = req->principal.key;
    bool ok;
    if (key) /* Z3: the key's scopes cut by its creator's current role */
        ok = req->route->keys_route ? auth_key_has_scope(key, AUTH_SCOPE_KEYS_WRITE)
                                    : auth_key_allows(key, perm);
    else
        ok = req->principal.authenticated &&
             authz_allows(authz_role_parse(str_from_cstr(req->principal.role)), perm);
    if (ok && authz_entry_of(perm)->sensitive)
        audit_check(p, req, authz_entry_of(perm), true);
    if (ok)
        return ERR_OK;
    audit_check(p, req, authz_entry_of(perm), false);
    req->fail_detail = authz_entry_of(perm)->name;
    return http_fail_public(req, ERR_FORBIDDEN, "permission_denied",
                            "Your role does not allow this.");
}

/* One hit of the route's bucket for the signed-in tenant ("tenant:<uuid>"). */
static enum err rate_tenant(struct http_request *req)
{
    char key[sizeof "tenant:" + STORAGE_TENANT_ID_LEN];
    snprintf(key, sizeof key, "tenant:%s", req->principal.user.tenant.id);
    return http_rate_hit(req, req->route->rate_bucket, key);
}

/* A principal acting as key k (an API key, or an access token made from one). */
static void principal_of_key(struct http_principal *pr, const struct auth_key_principal *k)
{
    pr->authenticated = true;
    pr->key = k;
    pr->user.tenant = k->tenant;
    snprintf(pr->user.user_id, sizeof pr->user.user_id, "%s", k->created_by);
    snprintf(pr->role, sizeof pr->role, "%s", authz_role_name(k->role));
    pr->email_verified = true; /* a key's creator had a verified address (auth.h) */
}

/*
 * The principal's storage could not be had from the request's arena: the
 * server, not the credential, failed, so 503 (a 401 would tell the client to
 * drop a credential that may be good). The detail is a literal, as copying
 * it into the full arena (http_fail) would lose it.
 */
static enum err bearer_no_room(struct http_request *req)
{
    req->fail_detail = "bearer credential: no room in the request arena for the principal";
    return ERR_UNAVAILABLE;
}

/*
 * A7, A8: the principal of a call with `Authorization: Bearer <credential>`:
 * an API key (shk_...) or an access token (auth/tokens.h), never on a
 * console page. Every refusal of the credential is the same 401
 * invalid_token (the header is never logged); when the server cannot check
 * it the answer is a 5xx with the reason in the log (503 for no room for
 * the principal and for a database error).
 */
static enum err authenticate_bearer(const struct pipeline *p, struct http_request *req,
                                    struct str header)
{
    struct str text;
    enum err e = ERR_UNAUTHENTICATED;
    int64_t now = (int64_t)time(NULL);
    struct http_principal *pr = &req->principal;
    bool bearer = http_authorization_bearer(header, &text) && !req->route->console;
    if (bearer && auth_key_text_is_key(text)) {
        struct auth_key_principal *k = arena_calloc(req->arena, 1, sizeof *k);
        if (!k)
            return bearer_no_room(req);
        e = auth_key_authenticate(p->app->storage, text, now, k);
        if (!e)
            principal_of_key(pr, k);
    } else if (bearer && p->app->tokens.ring) {
        struct auth_token_principal *t = arena_calloc(req->arena, 1, sizeof *t);
        if (!t)
            return bearer_no_room(req);
        e = auth_token_verify(p->app->storage, &p->app->tokens, text, now, t);
        if (!e && t->from_key) {
            principal_of_key(pr, &t->key); /* exactly as the key itself */
            pr->token = t;
        } else if (!e) {
            pr->authenticated = true;
            pr->token = t;
            pr->user.tenant = t->tenant;
            snprintf(pr->user.user_id, sizeof pr->user.user_id, "%s", t->user_id);
            snprintf(pr->role, sizeof pr->role, "%s", authz_role_name(t->role));
            pr->email_verified = true; /* tokens are issued to verified addresses only */
        }
    }
    if (e == ERR_UNAUTHENTICATED || e == ERR_LIMIT)
        return http_fail_public(req, ERR_UNAUTHENTICATED, "invalid_token",
                                "The credential in Authorization is not valid.");
    if (e)
        return http_fail(req, e == ERR_DB ? ERR_UNAVAILABLE : e, "bearer credential: %s",
                         err_name(e));
    return ERR_OK;
}

/* True when the call authenticates with Authorization (and never with a cookie). */
static bool uses_bearer(const struct pipeline *p, const struct http_request *req)
{
    return p->app->storage && http_header_get(req, "Authorization").ptr;
}

/* A3: the principal of a ROUTE_AUTHENTICATED route, from the session cookie. */
static enum err authenticate(const struct pipeline *p, struct http_request *req)
{
    if (req->route->access != ROUTE_AUTHENTICATED)
        return ERR_OK;
    if (uses_bearer(p, req))
        return authenticate_bearer(p, req, http_header_get(req, "Authorization"));
    struct str value;
    if (!p->app->accounts ||
        !http_cookie_get(http_header_get(req, "Cookie"), HTTP_SESSION_COOKIE, &value) ||
        value.len == 0)
        return http_fail_public(req, ERR_UNAUTHENTICATED, "unauthenticated",
                                "Sign in to use this endpoint.");
    struct accounts_session s;
    enum err e = accounts_session_lookup(p->app->accounts, value, &s);
    if (e == ERR_UNAUTHENTICATED || e == ERR_LIMIT || e == ERR_INVALID || e == ERR_NOT_FOUND)
        return http_fail_public(req, ERR_UNAUTHENTICATED, "unauthenticated",
                                "Sign in to use this endpoint.");
    if (e)
        return http_fail(req, e, "session lookup: %s", err_name(e));
    struct http_principal *pr = &req->principal;
    pr->authenticated = true;
    pr->user = s.user;
    snprintf(pr->session_handle, sizeof pr->session_handle, "%s", s.id_hash);
    snprintf(pr->role, sizeof pr->role, "%s", s.role);
    pr->email_verified = s.email_verified;
    if (req->route->console && !s.email_verified && !req->route->allow_unverified)
        return http_fail_public(req, ERR_FORBIDDEN, "email_unverified",
                                "Confirm your e-mail address to open the console.");
    return ERR_OK;
}

/* The origin ("scheme://host[:port]") that starts url; 0 when url has none. */
static size_t url_origin_len(const char *url)
{
    const char *sep = strstr(url, "://");
    if (!sep)
        return 0;
    return (size_t)(sep + 3 - url) + strcspn(sep + 3, "/?#");
}

/*
 * U2: a state-changing request on an authenticated route (JSON API) or to a
 * console page must not come from another site. Bodies must be JSON already (body_spec:
 * 415 for form types, which a cross-site form could send); this covers the
 * body-less ones too: Sec-Fetch-Site must not be cross-site, and an Origin,
 * when sent, must be on the allowlist or be this deployment's public origin.
 */
static enum err check_csrf(const struct pipeline *p, struct http_request *req)
{
    bool console = req->route->console;
    if ((req->route->access != ROUTE_AUTHENTICATED && !console) || req->method == HTTP_GET ||
        req->method == HTTP_HEAD)
        return ERR_OK;
    /* a Bearer call authenticates with Authorization only, never with the cookie, and no
     * page can make a browser send that header to us cross-site (it needs a CORS preflight
     * from an allowed origin): there is no ambient credential to forge with */
    if (!console && uses_bearer(p, req))
        return ERR_OK;
    const char *refusal = NULL;
    struct str site = http_header_get(req, "Sec-Fetch-Site");
    if (site.ptr && str_ieq_cstr(site, "cross-site"))
        refusal = "Sec-Fetch-Site is cross-site";
    /* console forms are posted by our own pages only: not even a sibling site */
    if (!refusal && console && site.ptr && !str_ieq_cstr(site, "same-origin") &&
        !str_ieq_cstr(site, "none"))
        refusal = "Sec-Fetch-Site is not same-origin";
    struct str origin = http_header_get(req, "Origin");
    if (!refusal && origin.ptr && (console || !origin_allowed(p->app->cfg, origin))) {
        const char *pub = p->app->cfg->public_url;
        size_t n = url_origin_len(pub);
        if (!http_origin_valid(origin) || n == 0 || origin.len != n ||
            strncasecmp(origin.ptr, pub, n) != 0)
            refusal = "Origin is neither allowed nor the public origin";
    }
    if (!refusal)
        return ERR_OK;
    req->fail_detail = refusal;
    return http_fail_public(req, ERR_FORBIDDEN, "csrf_refused",
                            "This request was refused as a possible cross-site request forgery.");
}

static enum err add_rate_headers(struct http_request *req, struct http_response *resp)
{
    if (!req->rate_checked)
        return ERR_OK;
    struct rl_header h[4];
    size_t n = ratelimit_header_values(&req->rate_decision, h);
    enum err e = ERR_OK;
    for (size_t i = 0; i < n && !e; i++)
        e = http_resp_header_set(req, resp, h[i].name, h[i].value);
    return e;
}

static bool is_preflight(const struct http_request *req)
{
    return req->method == HTTP_OPTIONS && http_header_get(req, "Origin").ptr &&
           http_header_get(req, "Access-Control-Request-Method").ptr;
}

/*
 * H7: a signed-in POST to the API may carry Idempotency-Key; it is claimed for
 * (tenant, user, key) right before the handler, after every refusal the
 * pipeline itself can make. A retry of a finished request gets its response
 * again (*replayed); the same key with another request is 422, while the
 * first still runs 409. Console forms have their own protection (CSRF tokens
 * and redirects); anonymous calls (sign-up, sign-in, mail requests) have no
 * tenant to keep a key in, and ignore the header: their answers to a retry
 * are already the same (sign-in opens one more session).
 */
static enum err idempotency_begin(const struct pipeline *p, struct http_request *req,
                                  struct http_response *resp, bool *replayed)
{
    struct str key = http_header_get(req, "Idempotency-Key");
    if (req->method != HTTP_POST || req->route->console || !req->principal.authenticated ||
        !p->app->storage)
        return ERR_OK;
    if (!key.ptr) {
        if (req->route->idempotency_required)
            return http_fail_public(req, ERR_INVALID, "idempotency_key_required",
                                    "This endpoint needs an Idempotency-Key header.");
        return ERR_OK;
    }
    char *principal = req->principal.key
                          ? arena_printf(req->arena, "apikey:%s", req->principal.key->key_id)
                          : arena_printf(req->arena, "user:%s", req->principal.user.user_id);
    if (!principal)
        return ERR_LIMIT;
    req->idem = (struct idem_request){.principal = str_from_cstr(principal),
                                      .key = key,
                                      .method = req->method_text,
                                      .path = req->path,
                                      .query = req->query,
                                      .body = req->body};
    enum idem_outcome o;
    struct idem_response replay = {0};
    enum err e = idem_begin(p->app->storage, &req->principal.user.tenant, &req->idem,
                            (int64_t)time(NULL), &o, &req->idem_claim, &replay);
    if (e == ERR_INVALID || e == ERR_LIMIT)
        return http_fail_public(req, ERR_INVALID, "invalid_idempotency_key",
                                "Idempotency-Key must be 1 to 255 visible ASCII characters.");
    if (e)
        return http_fail(req, e == ERR_DB ? ERR_UNAVAILABLE : e, "idempotency: %s", err_name(e));
    switch (o) {
    case IDEM_PROCEED:
        req->idem_active = true;
        return ERR_OK;
    case IDEM_MISMATCH:
        return http_fail_public(req, ERR_UNPROCESSABLE, "idempotency_key_reused",
                                "This Idempotency-Key was used for a different request.");
    case IDEM_IN_PROGRESS:
        return http_fail_public(req, ERR_CONFLICT, "idempotency_in_progress",
                                "A request with this Idempotency-Key is still running; retry "
                                "later.");
    case IDEM_REPLAY:
        break;
    }
    /* the body is copied into the arena; the content type is only pointed to */
    const char *ctype = replay.content_type.len ? arena_strndup(req->arena, replay.content_type.ptr,
                                                                replay.content_type.len)
                                                : "application/json";
    e = ctype ? http_resp_body(req, resp, replay.status, ctype,
                               replay.body.ptr ? replay.body.ptr : "", replay.body.len)
              : ERR_LIMIT;
    if (!e && replay.location.ptr)
        e = http_resp_header(req, resp, "Location", replay.location.ptr);
    if (!e)
        e = http_resp_header(req, resp, "Idempotent-Replayed", "true");
    idem_response_release(&replay);
    *replayed = e == ERR_OK;
    return e;
}

/* Stores the final response under the request's key (idempotency.h decides what is kept). */
static void idempotency_finish(const struct pipeline *p, struct http_request *req,
                               const struct http_response *resp)
{
    if (!req->idem_active)
        return;
    req->idem_active = false;
    struct str location = STR_NULL;
    for (size_t i = 0; i < resp->n_headers; i++)
        if (str_ieq_cstr(resp->headers[i].name, "Location"))
            location = resp->headers[i].value;
    struct idem_response stored = {
        .status = resp->status,
        .content_type = str_from_cstr(resp->content_type ? resp->content_type : ""),
        .location = location,
        .body = resp->idem_body ? str_from(resp->idem_body, resp->idem_body_len)
                                : str_from(resp->body, resp->body_len),
    };
    enum err e = idem_complete(p->app->storage, &req->principal.user.tenant, &req->idem,
                               &req->idem_claim, &stored, (int64_t)time(NULL));
    if (e)
        log_warn("idempotency: response not kept", LOG_STR("request_id", req->id), LOG_ERR(e));
}

/* Runs every stage up to and including the handler; returns its outcome. */
static enum err run_stages(const struct pipeline *p, struct http_request *req,
                           struct http_response *resp, bool delivery)
{
    if (req->headers_too_large)
        return ERR_HEADERS_TOO_LARGE;
    if (req->body_too_large)
        return ERR_TOO_LARGE;
    if (req->protocol_error)
        return http_fail_public(req, ERR_INVALID, "bad_request", req->protocol_error);

    if (is_preflight(req)) {
        if (!delivery && !origin_allowed(p->app->cfg, http_header_get(req, "Origin")))
            return http_fail_public(req, ERR_FORBIDDEN, "origin_not_allowed",
                                    "Cross-origin requests from this origin are not allowed.");
        resp->status = 204;
        return ERR_OK;
    }

    enum http_method method = req->method;
    if (method == HTTP_OPTIONS) {
        /* plain OPTIONS: no route has that method, so the router reports the
         * path's Allow list (or 404) */
        req->method = HTTP_OTHER;
        enum router_match om = router_match(&p->router, req);
        req->method = method;
        if (om == ROUTER_NOT_FOUND)
            return ERR_NOT_FOUND;
        resp->status = 204;
        return http_resp_header(req, resp, "Allow", req->allow);
    }
    enum router_match m = router_match(&p->router, req);
    if (m == ROUTER_NOT_FOUND)
        return ERR_NOT_FOUND;
    if (m == ROUTER_METHOD_NOT_ALLOWED)
        return ERR_METHOD;

    enum err e = check_rate(p, req);
    if (e)
        return e;
    e = check_csrf(p, req); /* first: a forged request costs no session lookup */
    if (e)
        return e;
    e = authenticate(p, req);
    if (!e)
        e = authorize(p, req);
    if (!e && req->principal.authenticated && req->route->rate_limited)
        e = rate_tenant(req); /* H8: a tenant's users share one budget, whatever their IPs */
    if (e)
        return e;
    e = check_body(req);
    if (e)
        return e;
    bool replayed = false;
    e = idempotency_begin(p, req, resp, &replayed);
    if (e || replayed)
        return e;
    return req->route->handler(req, resp);
}

static int64_t elapsed_us(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - since->tv_sec) * 1000000 + (now.tv_nsec - since->tv_nsec) / 1000;
}

/* Everything after the handler: error body, stored idempotent answer, headers, access log. */
static void complete(const struct pipeline *p, struct http_request *req, struct http_response *resp,
                     enum err e)
{
    bool delivery = pipeline_is_delivery_path(req->path);
    if (e == ERR_OK && resp->status == 0)
        e = http_fail(req, ERR_INTERNAL, "handler returned no response");
    if (e != ERR_OK) {
        resp->n_headers = 0;
        if (e == ERR_METHOD && req->allow &&
            http_resp_header(req, resp, "Allow", req->allow) != ERR_OK)
            log_warn("cannot add Allow header", LOG_STR("request_id", req->id));
        if (req->fail_code && strcmp(req->fail_code, "invalid_token") == 0 &&
            http_resp_header(req, resp, "WWW-Authenticate", "Bearer error=\"invalid_token\"") !=
                ERR_OK)
            log_warn("cannot add WWW-Authenticate", LOG_STR("request_id", req->id));
        const struct app *app = p->app;
        enum err re = req->route && req->route->console && app->console_error
                          ? app->console_error(req, resp, e)
                          : http_resp_error(req, resp, e);
        if (re != ERR_OK) {
            resp->status = 500;
            resp->content_type = "application/json";
            resp->body = "{\"error\":{\"code\":\"internal_error\"}}";
            resp->body_len = strlen(resp->body);
        }
        if (resp->status >= 500)
            log_error("request failed", LOG_STR("support_id", req->id), LOG_ERR(e),
                      LOG_STR("detail", req->fail_detail ? req->fail_detail : "-"),
                      LOG_STR("path", req->route ? req->route->pattern : "-"));
        else if (req->fail_detail)
            log_info("request refused", LOG_STR("support_id", req->id), LOG_ERR(e),
                     LOG_STR("detail", req->fail_detail));
    }
    idempotency_finish(p, req, resp);
    if (add_rate_headers(req, resp) != ERR_OK ||
        add_cors_headers(p, req, resp, delivery, is_preflight(req)) != ERR_OK ||
        add_security_headers(p, req, resp, delivery) != ERR_OK) {
        /* the header table is full: start over with only what H2 requires */
        resp->n_headers = 0;
        (void)add_security_headers(p, req, resp, delivery);
    }

    if (log_level_min() > LOG_INFO)
        return; /* the access log is off: nothing to copy or time */
    char *path = arena_strndup(req->arena, req->path.ptr ? req->path.ptr : "", req->path.len);
    char *method = arena_strndup(req->arena, req->method_text.ptr ? req->method_text.ptr : "",
                                 req->method_text.len);
    log_info("request", LOG_STR("method", method ? method : "?"),
             LOG_STR("path", path ? path : "?"), LOG_INT("status", resp->status),
             LOG_STR("ip", req->client_ip), LOG_STR("request_id", req->id),
             LOG_INT("us", elapsed_us(&req->started)),
             LOG_STR("code", e ? (req->fail_code ? req->fail_code : err_public_code(e)) : "-"));
}

void pipeline_run(const struct pipeline *p, struct http_request *req, struct http_response *resp)
{
    enum err e = run_stages(p, req, resp, pipeline_is_delivery_path(req->path));
    if (e == ERR_OK && http_is_deferred(req, resp))
        return; /* the server suspends the connection and calls pipeline_resume */
    complete(p, req, resp, e);
}

void pipeline_resume(const struct pipeline *p, struct http_request *req, struct http_response *resp)
{
    enum err e = req->deferred.finish(req, resp, req->deferred.arg);
    req->deferred.start = NULL;
    complete(p, req, resp, e);
}
