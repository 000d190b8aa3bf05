/*
 * cspreport — receives Content-Security-Policy violation reports that browsers
 * send for the console's pages (report-uri / report-to). A report is
 * validated against the fields browsers actually send, then logged (the
 * logger masks anything token-shaped in URLs); nothing is stored.
 *
 * Two wire formats: CSP Level 2 (`application/csp-report`, or
 * `application/json`, one {"csp-report": {...}} object) and the Reporting API
 * (`application/reports+json`, an array of {type, age, url, user_agent, body}).
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/log.h"
#include "http/headers.h"

#define CSP_REPORT_MAX_BYTES   (64 * 1024)
#define CSP_REPORT_MAX_REPORTS 20
#define CSP_URI_MAX            2048
#define CSP_POLICY_MAX         4096

static const char *const csp_content_types[] = {"application/csp-report", "application/json",
                                                "application/reports+json", NULL};

static const struct json_limits csp_limits = {
    .max_bytes = CSP_REPORT_MAX_BYTES,
    .max_depth = 4,
    .max_string = CSP_POLICY_MAX,
    .max_members = CSP_REPORT_MAX_REPORTS,
};

static const char *const dispositions[] = {"enforce", "report", NULL};

#define URI_FIELD(n)                                                                               \
    {                                                                                              \
        .name = (n), .kind = SCHEMA_STRING, .nullable = true, .max_len = CSP_URI_MAX               \
    }
#define NUMBER_FIELD(n)                                                                            \
    {                                                                                              \
        .name = (n), .kind = SCHEMA_INTEGER, .min = 0, .max = 100000000                            \
    }

/* CSP Level 2 report members. */
static const struct schema_field csp2_fields[] = {
    URI_FIELD("document-uri"),
    URI_FIELD("referrer"),
    URI_FIELD("blocked-uri"),
    URI_FIELD("source-file"),
    {.name = "violated-directive", .kind = SCHEMA_STRING, .max_len = 256},
    {.name = "effective-directive", .kind = SCHEMA_STRING, .max_len = 256},
    {.name = "original-policy", .kind = SCHEMA_STRING, .max_len = CSP_POLICY_MAX},
    {.name = "disposition", .kind = SCHEMA_STRING, .enum_values = dispositions},
    {.name = "script-sample", .kind = SCHEMA_STRING, .max_len = 256},
    NUMBER_FIELD("line-number"),
    NUMBER_FIELD("column-number"),
    NUMBER_FIELD("status-code"),
};
static const struct schema csp2_report = {csp2_fields, sizeof(csp2_fields) / sizeof(csp2_fields[0]),
                                          false};
static const struct schema_field csp2_wrapper_fields[] = {
    {.name = "csp-report", .kind = SCHEMA_OBJECT, .required = true, .object = &csp2_report},
};
static const struct schema csp2_wrapper = {csp2_wrapper_fields, 1, false};

/* Reporting API: the body of a "csp-violation" report. */
static const struct schema_field reporting_body_fields[] = {
    URI_FIELD("documentURL"),
    URI_FIELD("referrer"),
    URI_FIELD("blockedURL"),
    URI_FIELD("sourceFile"),
    {.name = "effectiveDirective", .kind = SCHEMA_STRING, .max_len = 256},
    {.name = "originalPolicy", .kind = SCHEMA_STRING, .max_len = CSP_POLICY_MAX},
    {.name = "disposition", .kind = SCHEMA_STRING, .enum_values = dispositions},
    {.name = "sample", .kind = SCHEMA_STRING, .max_len = 256},
    NUMBER_FIELD("lineNumber"),
    NUMBER_FIELD("columnNumber"),
    NUMBER_FIELD("statusCode"),
};
static const struct schema reporting_body = {
    reporting_body_fields, sizeof(reporting_body_fields) / sizeof(reporting_body_fields[0]), false};
static const char *const report_types[] = {"csp-violation", NULL};
static const struct schema_field reporting_fields[] = {
    {.name = "type", .kind = SCHEMA_STRING, .required = true, .enum_values = report_types},
    {.name = "age", .kind = SCHEMA_INTEGER, .min = 0, .max = 86400000},
    URI_FIELD("url"),
    {.name = "user_agent", .kind = SCHEMA_STRING, .max_len = 512},
    {.name = "body", .kind = SCHEMA_OBJECT, .required = true, .object = &reporting_body},
};
static const struct schema reporting_report = {
    reporting_fields, sizeof(reporting_fields) / sizeof(reporting_fields[0]), false};

/* The two formats, as the API description shows them (the handler picks by content type). */
static const struct body_format csp_formats[] = {
    {.content_type = "application/csp-report", .name = "CspReport", .schema = &csp2_wrapper},
    {.content_type = "application/json", .name = "CspReport", .schema = &csp2_wrapper},
    {.content_type = "application/reports+json",
     .name = "CspReportingReport",
     .schema = &reporting_report,
     .max_items = CSP_REPORT_MAX_REPORTS},
};

const struct body_spec CSP_REPORT_BODY = {
    .content_types = csp_content_types,
    .json = true,
    .limits = &csp_limits,
    .schema = NULL, /* two formats: validated in the handler */
    .formats = csp_formats,
    .n_formats = sizeof csp_formats / sizeof csp_formats[0],
};

static const char *member_text(struct http_request *req, const struct json *obj, const char *key)
{
    struct str s;
    if (!json_as_str(json_get(obj, key), &s))
        return "-";
    const char *copy = arena_strndup(req->arena, s.ptr, s.len);
    return copy ? copy : "-";
}

static void log_violation(struct http_request *req, const struct json *r, const char *doc_key,
                          const char *blocked_key, const char *directive_key)
{
    log_warn("csp violation", LOG_STR("document", member_text(req, r, doc_key)),
             LOG_STR("blocked", member_text(req, r, blocked_key)),
             LOG_STR("directive", member_text(req, r, directive_key)),
             LOG_STR("ip", req->client_ip), LOG_STR("request_id", req->id));
}

static enum err invalid(struct http_request *req, struct schema_result *res)
{
    req->fail_fields = res;
    return http_fail_public(req, ERR_INVALID, "validation_failed",
                            "The request body failed validation; see fields.");
}

enum err csp_report(struct http_request *req, struct http_response *resp)
{
    struct schema_result *res = arena_calloc(req->arena, 1, sizeof(*res));
    if (!res)
        return ERR_LIMIT;
    const struct json *doc = req->json;
    bool reporting_api = str_ieq_cstr(http_media_type(http_header_get(req, "Content-Type")),
                                      "application/reports+json");
    if (!reporting_api) {
        if (schema_validate(&csp2_wrapper, doc, res) != ERR_OK)
            return invalid(req, res);
        log_violation(req, json_get(doc, "csp-report"), "document-uri", "blocked-uri",
                      "violated-directive");
    } else {
        if (json_type_of(doc) != JSON_ARRAY) {
            res->n = 1;
            snprintf(res->errors[0].path, sizeof(res->errors[0].path), "$");
            snprintf(res->errors[0].reason, sizeof(res->errors[0].reason),
                     "must be an array of reports");
            return invalid(req, res);
        }
        for (const struct json *r = json_first(doc); r; r = json_next(r))
            if (schema_validate(&reporting_report, r, res) != ERR_OK)
                return invalid(req, res);
        for (const struct json *r = json_first(doc); r; r = json_next(r))
            log_violation(req, json_get(r, "body"), "documentURL", "blockedURL",
                          "effectiveDirective");
    }
    resp->status = 204;
    return ERR_OK;
}
