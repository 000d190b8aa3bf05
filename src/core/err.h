/*
 * err — the one error type of shiplog.
 *
 * Every fallible function returns enum err. Each value maps, in one place
 * (err.c), to an HTTP status, a stable public code and a public message; the
 * internal detail of a failure is logged separately and never sent (H5).
 */
#ifndef SHIPLOG_CORE_ERR_H
#define SHIPLOG_CORE_ERR_H

#define MUST_CHECK __attribute__((warn_unused_result))

enum err {
    ERR_OK = 0,
    ERR_INVALID,           /* malformed or invalid input (400) */
    ERR_LIMIT,             /* a named limit was exceeded (400 unless a size: see ERR_TOO_LARGE) */
    ERR_TOO_LARGE,         /* request body over the configured limit (413) */
    ERR_HEADERS_TOO_LARGE, /* request headers over the limit (431) */
    ERR_UNAUTHENTICATED,   /* missing or bad credentials (401) */
    ERR_FORBIDDEN,         /* authenticated but not allowed (403) */
    ERR_NOT_FOUND,         /* no such resource, or another tenant's (404) */
    ERR_METHOD,            /* path exists, method does not (405) */
    ERR_CONFLICT,          /* state conflict, concurrent duplicate (409) */
    ERR_UNSUPPORTED_MEDIA, /* wrong Content-Type (415) */
    ERR_UNPROCESSABLE,     /* well-formed but not acceptable (422) */
    ERR_RATE_LIMITED,      /* too many requests (429) */
    ERR_UNAVAILABLE,       /* a dependency (database, ...) is unreachable (503) */
    ERR_TIMEOUT,           /* an operation ran out of time (503) */
    ERR_CONFIG,            /* configuration is missing or invalid (start-up) */
    ERR_IO,                /* file or socket I/O failed */
    ERR_CRYPTO,            /* a cryptographic operation failed */
    ERR_DB,                /* the database answered with an error */
    ERR_INTERNAL,          /* a bug or an unexpected state (500) */
    ERR_COUNT_
};

/* Stable identifier for logs, e.g. "ERR_LIMIT". Never NULL. */
const char *err_name(enum err e);

/* HTTP status for a response caused by e. */
int err_http_status(enum err e);

/* Stable machine-readable code for the public error body, e.g. "not_found". */
const char *err_public_code(enum err e);

/* Short, safe human message for the public error body. */
const char *err_public_message(enum err e);

/* Invariant checks that stay on in release builds. */
#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            err_assert_fail(#cond, __FILE__, __LINE__);                                            \
    } while (0)

_Noreturn void err_assert_fail(const char *what, const char *file, int line);

/* Out of memory is not recoverable: every allocation failure ends here. */
_Noreturn void err_oom(void);

#endif
