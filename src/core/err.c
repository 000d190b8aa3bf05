/*
 * err — mapping of the error enum to names, HTTP statuses and public text.
 * One table, so the mapping can never disagree between call sites.
 */
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct err_info {
    const char *name;
    int status;
    const char *code;
    const char *message;
};

static const struct err_info err_table[ERR_COUNT_] = {
    [ERR_OK] = {"ERR_OK", 200, "ok", "OK"},
    [ERR_INVALID] = {"ERR_INVALID", 400, "invalid_request", "The request is not valid."},
    [ERR_LIMIT] = {"ERR_LIMIT", 400, "limit_exceeded", "The request exceeds a limit."},
    [ERR_TOO_LARGE] = {"ERR_TOO_LARGE", 413, "payload_too_large",
                       "The request body is larger than allowed."},
    [ERR_HEADERS_TOO_LARGE] = {"ERR_HEADERS_TOO_LARGE", 431, "headers_too_large",
                               "The request headers are larger than allowed."},
    [ERR_UNAUTHENTICATED] = {"ERR_UNAUTHENTICATED", 401, "unauthenticated",
                             "Authentication is required."},
    [ERR_FORBIDDEN] = {"ERR_FORBIDDEN", 403, "forbidden", "This action is not allowed."},
    [ERR_NOT_FOUND] = {"ERR_NOT_FOUND", 404, "not_found", "The resource does not exist."},
    [ERR_METHOD] = {"ERR_METHOD", 405, "method_not_allowed",
                    "This method is not allowed on this resource."},
    [ERR_CONFLICT] = {"ERR_CONFLICT", 409, "conflict",
                      "The request conflicts with the current state."},
    [ERR_UNSUPPORTED_MEDIA] = {"ERR_UNSUPPORTED_MEDIA", 415, "unsupported_media_type",
                               "The request body has an unsupported content type."},
    [ERR_UNPROCESSABLE] = {"ERR_UNPROCESSABLE", 422, "unprocessable",
                           "The request cannot be processed."},
    [ERR_RATE_LIMITED] = {"ERR_RATE_LIMITED", 429, "rate_limited",
                          "Too many requests; retry later."},
    [ERR_UNAVAILABLE] = {"ERR_UNAVAILABLE", 503, "unavailable",
                         "The service is temporarily unavailable."},
    [ERR_TIMEOUT] = {"ERR_TIMEOUT", 503, "timeout", "The operation timed out."},
    [ERR_CONFIG] = {"ERR_CONFIG", 500, "internal_error", "An internal error occurred."},
    [ERR_IO] = {"ERR_IO", 500, "internal_error", "An internal error occurred."},
    [ERR_CRYPTO] = {"ERR_CRYPTO", 500, "internal_error", "An internal error occurred."},
    [ERR_DB] = {"ERR_DB", 500, "internal_error", "An internal error occurred."},
    [ERR_INTERNAL] = {"ERR_INTERNAL", 500, "internal_error", "An internal error occurred."},
};

static const struct err_info *err_lookup(enum err e)
{
    if ((unsigned)e >= ERR_COUNT_)
        e = ERR_INTERNAL;
    return &err_table[e];
}

const char *err_name(enum err e)
{
    return err_lookup(e)->name;
}

int err_http_status(enum err e)
{
    return err_lookup(e)->status;
}

const char *err_public_code(enum err e)
{
    return err_lookup(e)->code;
}

const char *err_public_message(enum err e)
{
    return err_lookup(e)->message;
}

void err_assert_fail(const char *what, const char *file, int line)
{
    /* stderr directly: the logger may be the thing that is broken. */
    fprintf(stderr,
            "{\"level\":\"fatal\",\"msg\":\"assertion failed\",\"cond\":\"%s\","
            "\"file\":\"%s\",\"line\":%d}\n",
            what, file, line);
    abort();
}

void err_oom(void)
{
    static const char msg[] = "{\"level\":\"fatal\",\"msg\":\"out of memory\"}\n";
    ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)n;
    abort();
}
