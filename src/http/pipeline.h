/*
 * pipeline — what happens to every request between the socket and the
 * handler, in this order (DESIGN §1):
 *
 *   limits (431 headers, 413 body) → client IP (H10) → CORS preflight (H3) →
 *   route (404 / 405) → content type (415) → JSON parse with limits (400) →
 *   schema validation (400 with fields, H6) → handler → error body (H5) →
 *   security headers (H2) + CORS headers + X-Request-Id → access log.
 *
 * Later stages (authentication, rate limits, CSRF, permissions, idempotency)
 * slot in between routing and the handler.
 *
 * The request id and peer address are set by the server before the pipeline
 * runs. pipeline_run always leaves a complete response in resp.
 */
#ifndef SHIPLOG_HTTP_PIPELINE_H
#define SHIPLOG_HTTP_PIPELINE_H

#include "core/buf.h"
#include "http/netaddr.h"
#include "http/request.h"
#include "http/router.h"

/* Path prefixes of public delivery content (feed, widget): open CORS. */
bool pipeline_is_delivery_path(struct str path);

struct pipeline {
    struct router router;
    const struct app *app;
};

MUST_CHECK enum err pipeline_init(struct pipeline *p, const struct app *app,
                                  const struct route *routes, size_t n_routes, struct buf *msg);

/* Resolves req->client_ip from the peer and X-Forwarded-For (H10). */
void pipeline_resolve_client(const struct pipeline *p, struct http_request *req,
                             const struct netaddr *peer);

/*
 * The most body bytes the route for req accepts (the server-wide limit, or the
 * route's JSON limit when smaller); 0 when the route takes no body. *routed is
 * false when no route matches (the request will be a 404 or 405).
 */
size_t pipeline_body_limit(const struct pipeline *p, struct http_request *req, bool *routed);

/*
 * Runs the pipeline. When the handler deferred its answer (http_defer),
 * http_is_deferred(req, resp) is true on return and nothing has been
 * answered yet: the caller starts the deferred work and, once it is done,
 * calls pipeline_resume, which finishes the response.
 */
void pipeline_run(const struct pipeline *p, struct http_request *req, struct http_response *resp);
void pipeline_resume(const struct pipeline *p, struct http_request *req,
                     struct http_response *resp);

#endif
