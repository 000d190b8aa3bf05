/*
 * log — structured JSON logs, one object per line (O1).
 *
 * Each line has "ts" (RFC 3339 UTC, milliseconds), "level", "msg" and the
 * caller's fields. The logger protects secrets itself rather than trusting
 * callers: a field whose name looks like a secret or personal datum
 * (password, secret, token, authorization, cookie, api_key, credential,
 * private_key, session, signature, email, ...) is dropped entirely, and any
 * string value — including msg — that contains something shaped like a token
 * (GitHub/GitLab/Slack/AWS/Stripe/OpenAI-style keys, JWTs, PEM private keys,
 * "Bearer x", user:password@ in URLs, long high-entropy words) has that part
 * replaced by "[masked]".
 *
 * Thread-safe: each line is formatted in a local buffer and written with one
 * write(2), so lines from concurrent threads never interleave.
 */
#ifndef SHIPLOG_CORE_LOG_H
#define SHIPLOG_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define LOG_MAX_LINE 16384 /* longer lines are cut and marked "truncated":true */

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

enum log_field_type { LOG_T_STR, LOG_T_INT, LOG_T_BOOL };

struct log_field {
    const char *key; /* NULL terminates a field list */
    enum log_field_type type;
    union {
        const char *s;
        int64_t i;
        bool b;
    } v;
};

#define LOG_STR(k, val)  ((struct log_field){.key = (k), .type = LOG_T_STR, .v.s = (val)})
#define LOG_INT(k, val)  ((struct log_field){.key = (k), .type = LOG_T_INT, .v.i = (int64_t)(val)})
#define LOG_BOOL(k, val) ((struct log_field){.key = (k), .type = LOG_T_BOOL, .v.b = (val)})
#define LOG_ERR(e)       LOG_STR("err", err_name(e))

/* Sets the minimum level and the output descriptor (default: INFO, stderr). */
void log_init(enum log_level min, int fd);
enum log_level log_level_min(void);
/* Parses "debug|info|warn|error"; false for anything else. */
bool log_level_parse(const char *s, enum log_level *out);

/* Writes one line. fields is terminated by an entry whose key is NULL. */
void log_emit(enum log_level lvl, const char *msg, const struct log_field *fields);

/*
 * Formats one line (without the trailing newline) into out, applying the same
 * redaction as log_emit. Exposed for tests and the fuzz target.
 */
MUST_CHECK enum err log_format(struct buf *out, enum log_level lvl, const char *msg,
                               const struct log_field *fields);

/* True when a field with this name is never written. */
bool log_key_is_sensitive(const char *key);

/* Appends s to out with token-shaped parts replaced by "[masked]" (no escaping). */
MUST_CHECK enum err log_mask_value(struct buf *out, const char *s, size_t len);

#define LOG_FIELDS_(...) ((const struct log_field[]){__VA_ARGS__ __VA_OPT__(, ){.key = NULL}})
#define log_debug(msg, ...)                                                                        \
    do {                                                                                           \
        if (log_level_min() <= LOG_DEBUG)                                                          \
            log_emit(LOG_DEBUG, (msg), LOG_FIELDS_(__VA_ARGS__));                                  \
    } while (0)
#define log_info(msg, ...)  log_emit(LOG_INFO, (msg), LOG_FIELDS_(__VA_ARGS__))
#define log_warn(msg, ...)  log_emit(LOG_WARN, (msg), LOG_FIELDS_(__VA_ARGS__))
#define log_error(msg, ...) log_emit(LOG_ERROR, (msg), LOG_FIELDS_(__VA_ARGS__))

#endif
