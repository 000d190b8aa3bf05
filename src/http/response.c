/*
 * response — request accessors, response builders and the structured error
 * body (H5). The error body carries only public text: the code, a safe
 * message, per-field validation errors, and the support id that finds the
 * logged detail.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http/request.h"

static const char *const method_names[] = {
    [HTTP_GET] = "GET",         [HTTP_HEAD] = "HEAD",   [HTTP_POST] = "POST",
    [HTTP_PUT] = "PUT",         [HTTP_PATCH] = "PATCH", [HTTP_DELETE] = "DELETE",
    [HTTP_OPTIONS] = "OPTIONS", [HTTP_OTHER] = "OTHER",
};

const char *http_method_name(enum http_method m)
{
    return (unsigned)m <= HTTP_OTHER ? method_names[m] : "OTHER";
}

enum http_method http_method_parse(struct str s)
{
    for (int m = HTTP_GET; m < HTTP_OTHER; m++)
        if (str_eq_cstr(s, method_names[m]))
            return (enum http_method)m;
    return HTTP_OTHER;
}

void http_defer(struct http_request *req, const struct http_deferred *d)
{
    ASSERT(d && d->start && d->finish);
    req->deferred = *d;
}

bool http_is_deferred(const struct http_request *req, const struct http_response *resp)
{
    return req->deferred.start && resp->status == 0;
}

struct str http_header_get(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (str_ieq_cstr(req->headers[i].name, name))
            return req->headers[i].value;
    return STR_NULL;
}

struct str http_param(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_params; i++)
        if (req->param_names[i] && strcmp(req->param_names[i], name) == 0)
            return req->params[i];
    return STR_NULL;
}

enum err http_fail(struct http_request *req, enum err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n >= 0)
        req->fail_detail = arena_strndup(req->arena, tmp, strlen(tmp));
    return e;
}

enum err http_fail_public(struct http_request *req, enum err e, const char *code,
                          const char *message)
{
    req->fail_code = code;
    req->fail_message = message;
    return e;
}

static bool header_text_safe(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

enum err http_resp_header(struct http_request *req, struct http_response *resp, const char *name,
                          const char *value)
{
    if (resp->n_headers >= HTTP_MAX_RESP_HEADERS)
        return ERR_LIMIT;
    if (!header_text_safe(name) || !header_text_safe(value))
        return ERR_INVALID;
    char *n = arena_strndup(req->arena, name, strlen(name));
    char *v = arena_strndup(req->arena, value, strlen(value));
    if (!n || !v)
        return ERR_LIMIT;
    resp->headers[resp->n_headers++] = (struct http_header){str_from_cstr(n), str_from_cstr(v)};
    return ERR_OK;
}

enum err http_resp_header_set(struct http_request *req, struct http_response *resp,
                              const char *name, const char *value)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        if (str_ieq_cstr(resp->headers[i].name, name)) {
            if (!header_text_safe(value))
                return ERR_INVALID;
            char *v = arena_strndup(req->arena, value, strlen(value));
            if (!v)
                return ERR_LIMIT;
            resp->headers[i].value = str_from_cstr(v);
            return ERR_OK;
        }
    }
    return http_resp_header(req, resp, name, value);
}

enum err http_resp_body(struct http_request *req, struct http_response *resp, int status,
                        const char *content_type, const char *body, size_t len)
{
    char *copy = arena_strndup(req->arena, body, len);
    if (!copy)
        return ERR_LIMIT;
    resp->status = status;
    resp->content_type = content_type;
    resp->body = copy;
    resp->body_len = len;
    resp->body_static = false; /* an error body replacing a static one lives in the arena */
    return ERR_OK;
}

void http_resp_static(struct http_response *resp, int status, const char *content_type,
                      const char *body, size_t len)
{
    resp->status = status;
    resp->content_type = content_type;
    resp->body = body;
    resp->body_len = len;
    resp->body_static = true;
}

enum err http_resp_json(struct http_request *req, struct http_response *resp, int status,
                        const struct buf *json)
{
    return http_resp_body(req, resp, status, "application/json", buf_cstr(json), json->len);
}

#define HTTP_ERROR_BODY_MAX 8192

enum err http_resp_error(struct http_request *req, struct http_response *resp, enum err e)
{
    struct buf out = BUF_INIT(HTTP_ERROR_BODY_MAX);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "error");
    jw_object_begin(&w);
    jw_key(&w, "code");
    jw_cstring(&w, req->fail_code ? req->fail_code : err_public_code(e));
    jw_key(&w, "message");
    jw_cstring(&w, req->fail_message ? req->fail_message : err_public_message(e));
    jw_key(&w, "support_id");
    jw_cstring(&w, req->id);
    if (req->fail_fields && req->fail_fields->n) {
        jw_key(&w, "fields");
        jw_array_begin(&w);
        for (size_t i = 0; i < req->fail_fields->n; i++) {
            jw_object_begin(&w);
            jw_key(&w, "path");
            jw_cstring(&w, req->fail_fields->errors[i].path);
            jw_key(&w, "reason");
            jw_cstring(&w, req->fail_fields->errors[i].reason);
            jw_object_end(&w);
        }
        jw_array_end(&w);
    }
    jw_object_end(&w);
    jw_object_end(&w);
    enum err r = jw_finish(&w);
    if (r == ERR_OK)
        r = http_resp_json(req, resp, err_http_status(e), &out);
    buf_release(&out);
    return r;
}
