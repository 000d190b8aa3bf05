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
};

const struct route *api_routes(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
