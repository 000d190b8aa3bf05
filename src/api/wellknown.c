/*
 * wellknown — /.well-known/security.txt (H11, RFC 9116), the disclosure
 * policy it links to (/security, unless SHIPLOG_SECURITY_POLICY_URL points
 * elsewhere), and the API description. security.txt is rendered once at start-up; its Expires is
 * 180 days after the start, so a running deployment always publishes a current file (RFC 9116 asks
 * for less than a year) without anyone editing dates.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"

#define SECURITY_TXT_VALIDITY_DAYS 180
#define SECURITY_TXT_MAX           2048

enum err security_txt_render(const struct config *cfg, time_t now, struct buf *out)
{
    time_t expires = now + (time_t)SECURITY_TXT_VALIDITY_DAYS * 86400;
    struct tm tm;
    gmtime_r(&expires, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT00:00:00Z", &tm);
    return buf_printf(out,
                      "Contact: %s\n"
                      "Expires: %s\n"
                      "Policy: %s\n"
                      "Preferred-Languages: en\n"
                      "Canonical: %s/.well-known/security.txt\n",
                      cfg->security_contact, when, cfg->security_policy_url, cfg->public_url);
}

enum err wellknown_security_txt(struct http_request *req, struct http_response *resp)
{
    const char *txt = req->app->security_txt; /* rendered once, freed after the server stops */
    http_resp_static(resp, 200, "text/plain; charset=utf-8", txt, strlen(txt));
    return ERR_OK;
}

enum err security_policy(struct http_request *req, struct http_response *resp)
{
    http_resp_static(resp, 200, "text/plain; charset=utf-8", security_policy_txt,
                     security_policy_txt_len);
    return ERR_OK;
}

enum err openapi_document(struct http_request *req, struct http_response *resp)
{
    const struct app *app = req->app;
    if (!app->openapi_json) /* rendered by serve; never missing there */
        return http_fail(req, ERR_INTERNAL, "API description not rendered");
    http_resp_static(resp, 200, "application/json", app->openapi_json, app->openapi_json_len);
    return ERR_OK;
}
