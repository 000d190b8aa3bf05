/*
 * request — the request and response as the pipeline and handlers see them,
 * independent of libmicrohttpd (only server.c knows it), so the pipeline and
 * every handler can be unit-tested and fuzzed without sockets.
 *
 * Everything hanging off a request lives in its arena and dies with it.
 * Handlers return enum err; to fail with a logged detail or a specific public
 * code they call http_fail() / http_fail_public(), which record it on the
 * request and return the err for a one-line `return http_fail(...)`.
 */
#ifndef SHIPLOG_HTTP_REQUEST_H
#define SHIPLOG_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "accounts/accounts.h"
#include "auth/auth.h"
#include "auth/tokens.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/err.h"
#include "changes/publish.h"
#include "core/json.h"
#include "core/schema.h"
#include "core/str.h"
#include "idempotency/idempotency.h"
#include "ratelimit/ratelimit.h"
#include "storage/storage.h"

#define HTTP_MAX_HEADERS      100 /* request headers kept; more → 431 */
#define HTTP_MAX_RESP_HEADERS 40
#define HTTP_MAX_PARAMS       8 /* {name} segments in a route */
#define HTTP_REQUEST_ID_LEN   32
#define HTTP_IP_LEN           46   /* INET6_ADDRSTRLEN */
#define HTTP_XFF_MAX          2048 /* bytes of all X-Forwarded-For lines joined */
#define HTTP_CSRF_KEY_LEN     32   /* the console's form-token key (http/csrf.h) */

struct http_request;
struct http_response;
struct secrets;
struct integrations_cache;

/* Services shared by all requests; read-only after start-up. */
struct app {
    const struct config *cfg;
    struct storage *storage;
    struct storage *vault;       /* tenant data keys (docs/KEYS.md) */
    struct secrets *secrets;     /* sealed fields (secrets/secrets.h); NULL = none (unit tests) */
    struct ratelimit *ratelimit; /* NULL = no rate limits (unit tests) */
    struct accounts *accounts;   /* NULL = nobody can sign in (authenticated routes give 401) */
    /* webhook deliveries (hooks/hooks.h): the group-commit writer that stores
     * them and the job runner that processes them; NULL writer = 503 */
    struct storage_group *writer;
    struct jobs_runner *jobs;
    struct integrations_cache *integrations_cache; /* NULL: every delivery reads and unseals */
    /* what publishing an entry also does (changes/publish.h); NULL = nothing more */
    const struct changes_publisher *publisher;
    const char *version;
    time_t started_at;
    const char *security_txt; /* rendered once at start-up */
    const char *openapi_json; /* the API description, rendered once at start-up */
    size_t openapi_json_len;
    unsigned char csrf_key[HTTP_CSRF_KEY_LEN]; /* console form tokens (http/csrf.h) */
    /* renders a console route's failure as a page (set by the console module);
     * NULL = the JSON error body */
    enum err (*console_error)(struct http_request *req, struct http_response *resp, enum err e);
    /* access tokens (A8, auth/tokens.h): signing keys and issuer; ring NULL = a Bearer
     * credential that is not an API key is refused, and no tokens are issued */
    struct auth_token_keys tokens;
};

enum http_method {
    HTTP_GET,
    HTTP_HEAD,
    HTTP_POST,
    HTTP_PUT,
    HTTP_PATCH,
    HTTP_DELETE,
    HTTP_OPTIONS,
    HTTP_OTHER,
};

struct http_header {
    struct str name;
    struct str value;
};

/*
 * Who is calling: set by the authentication stage for ROUTE_AUTHENTICATED
 * routes from the session cookie (accounts_session_lookup); all zero
 * otherwise. Handlers scope every storage call with user.tenant (T1).
 */
struct http_principal {
    bool authenticated;
    struct accounts_user_ref user;              /* tenant context and user id */
    char session_handle[ACCOUNTS_HASH_HEX + 1]; /* the session's public id (never the cookie) */
    char role[16];
    bool email_verified; /* A2: console pages refuse false; the JSON API reports it */
    /* set when an API key (Authorization: Bearer shk_...) authenticated the
     * call: user is then the key's creator, role the creator's current role,
     * and permissions are the key's scopes cut by that role (Z3) */
    const struct auth_key_principal *key;
    /* set when an access token (Authorization: Bearer <JWT>) authenticated the
     * call: for a user's token, user and role are its user's as for a session
     * (session_handle is empty) and sign-out revokes the token's family; a
     * token made from an API key sets key as well and acts exactly as the key */
    const struct auth_token_principal *token;
};

/* The session cookie (A3); __Host- binds it to this origin, Path=/, Secure. */
#define HTTP_SESSION_COOKIE "__Host-shiplog_session"

struct http_request;
struct http_response;
struct route;

typedef enum err (*http_handler)(struct http_request *req, struct http_response *resp);

/*
 * A handler whose answer waits for work done on another thread (a durable
 * write through the group-commit writer, storage/group.h) without holding its
 * server thread meanwhile. The handler fills this with http_defer() and
 * returns ERR_OK without a status; the server then suspends the connection
 * and calls start(arg, done, done_ctx). The work calls done(done_ctx) exactly
 * once, from any thread, when it has finished; the server resumes the
 * connection and calls finish(req, resp, arg), which answers as a handler
 * would, and the pipeline completes the response as usual. The request's
 * arena lives until then, so arg may point into it.
 */
struct http_deferred {
    void (*start)(void *arg, void (*done)(void *done_ctx), void *done_ctx);
    enum err (*finish)(struct http_request *req, struct http_response *resp, void *arg);
    void *arg;
};

struct http_request {
    struct arena *arena;
    const struct app *app;
    enum http_method method;
    struct str method_text;
    struct str path; /* decoded path without the query string */
    struct str query;
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t n_headers;
    size_t header_bytes; /* names + values + separators, for the header limit */
    struct str body;
    bool body_too_large; /* set by the server when the body passed the limit */
    bool headers_too_large;
    const char *protocol_error; /* set by the server: a public reason for a 400 */
    bool tls;
    char id[HTTP_REQUEST_ID_LEN + 1];
    char client_ip[HTTP_IP_LEN];
    char peer_ip[HTTP_IP_LEN];
    struct timespec started;

    /* filled by the pipeline */
    const struct route *route;
    struct str params[HTTP_MAX_PARAMS];
    const char *param_names[HTTP_MAX_PARAMS];
    size_t n_params;
    struct json *json; /* parsed body when the route takes JSON; freed by the arena */
    struct http_principal principal;

    /* failure details, see http_fail() */
    const char *fail_code;    /* public code overriding err_public_code() */
    const char *fail_message; /* public message overriding err_public_message() */
    const char *fail_detail;  /* log only */
    const struct schema_result *fail_fields;
    const char *allow;    /* Allow header for 405 */
    bool rate_checked;    /* rate_decision holds the route's rate-limit decision */
    const char *csrf_pre; /* a pre-session cookie value this response sets (http/csrf.h) */
    /* H7: set when this request claimed an Idempotency-Key; the pipeline stores
     * the final response under it (or releases it) once the response is complete */
    bool idem_active;
    struct idem_request idem;
    struct idem_claim idem_claim;
    struct rl_decision rate_decision;
    /* set by http_defer(): the answer comes later (see struct http_deferred) */
    struct http_deferred deferred;
};

struct http_response {
    int status;
    struct http_header headers[HTTP_MAX_RESP_HEADERS];
    size_t n_headers;
    const char *content_type;
    const char *body; /* in the request arena, or static */
    bool body_static; /* body outlives the server: sent without copying */
    size_t body_len;
    /* H7: what an Idempotency-Key keeps for a replay instead of body (in the
     * arena; NULL = body itself): a body that shows a secret once is kept
     * without it, so the secret is neither stored in plaintext nor shown twice */
    const char *idem_body;
    size_t idem_body_len;
};

/*
 * Called by a handler that answers later (see struct http_deferred); the
 * handler then returns ERR_OK and leaves resp alone.
 */
void http_defer(struct http_request *req, const struct http_deferred *d);

/* True once a handler deferred its answer and it has not been finished yet. */
bool http_is_deferred(const struct http_request *req, const struct http_response *resp);

/* Header value by case-insensitive name; STR_NULL when absent. */
struct str http_header_get(const struct http_request *req, const char *name);

/* Path parameter of the matched route by name; STR_NULL when absent. */
struct str http_param(const struct http_request *req, const char *name);

/* Records a log-only detail (printf) and returns e. */
enum err http_fail(struct http_request *req, enum err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records a public code and message (both must be safe to show) and returns e. */
enum err http_fail_public(struct http_request *req, enum err e, const char *code,
                          const char *message);

/* Adds a response header (name and value copied into the arena; CR/LF refused). */
MUST_CHECK enum err http_resp_header(struct http_request *req, struct http_response *resp,
                                     const char *name, const char *value);
/* Replaces a header's value if present, else adds it. */
MUST_CHECK enum err http_resp_header_set(struct http_request *req, struct http_response *resp,
                                         const char *name, const char *value);

/* Sets a body (copied into the arena) and its content type (not copied: a literal or an
 * arena string). */
MUST_CHECK enum err http_resp_body(struct http_request *req, struct http_response *resp, int status,
                                   const char *content_type, const char *body, size_t len);

/*
 * Sets a body that lives as long as the server (embedded documents, text
 * rendered at start-up): neither copied into the arena nor by the HTTP library.
 */
void http_resp_static(struct http_response *resp, int status, const char *content_type,
                      const char *body, size_t len);

/* Sets a JSON body from a finished buffer (copied into the arena). */
MUST_CHECK enum err http_resp_json(struct http_request *req, struct http_response *resp, int status,
                                   const struct buf *json);

/* The structured error body for err (H5) with the request's support id. */
MUST_CHECK enum err http_resp_error(struct http_request *req, struct http_response *resp,
                                    enum err e);

/*
 * Counts one hit of bucket for key (H8) on top of the route's per-IP hit;
 * when refused, the decision replaces the request's so the 429 carries this
 * bucket's Retry-After and RateLimit-* headers, and ERR_RATE_LIMITED (public
 * code rate_limited) is returned. ERR_OK without a limiter.
 */
MUST_CHECK enum err http_rate_hit(struct http_request *req, enum rl_bucket bucket, const char *key);

const char *http_method_name(enum http_method m);
enum http_method http_method_parse(struct str s);

#endif
