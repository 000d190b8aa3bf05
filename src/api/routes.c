/* routes — the one route table (see api.h). */
#include "api/api.h"

static const struct route routes[] = {
    {HTTP_GET, "/health", health_live, ROUTE_PUBLIC, NULL, "Liveness: the process serves requests"},
    {HTTP_GET, "/health/ready", health_ready, ROUTE_PUBLIC, NULL,
     "Readiness: the database is reachable and migrated"},
    {HTTP_GET, "/.well-known/security.txt", wellknown_security_txt, ROUTE_PUBLIC, NULL,
     "Security contact information (RFC 9116)"},
    {HTTP_GET, "/security", security_policy, ROUTE_PUBLIC, NULL,
     "The vulnerability disclosure policy linked from security.txt"},
    {HTTP_GET, "/api/v1/openapi.json", openapi_document, ROUTE_PUBLIC, NULL,
     "This API's OpenAPI 3.1 description"},
    {HTTP_POST, "/csp-report", csp_report, ROUTE_PUBLIC, &CSP_REPORT_BODY,
     "Content-Security-Policy violation reports from browsers"},
};

const struct route *api_routes(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
