/*
 * schema — typed validation of request bodies (H6) before any handler logic.
 *
 * A schema is a constant table of fields. Validation checks types, required
 * fields, unknown fields (rejected unless the schema allows them), string
 * lengths (in Unicode code points, after checking UTF-8), integer ranges,
 * enums and formats, recursing into nested objects and arrays. Every problem
 * is collected (up to SCHEMA_MAX_ERRORS) with the path of the field, so the
 * client gets all per-field errors in one 400.
 */
#ifndef SHIPLOG_CORE_SCHEMA_H
#define SHIPLOG_CORE_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"

#define SCHEMA_MAX_ERRORS 16
#define SCHEMA_MAX_PATH   128

enum schema_kind {
    SCHEMA_STRING,
    SCHEMA_INTEGER,
    SCHEMA_BOOLEAN,
    SCHEMA_OBJECT,
    SCHEMA_ARRAY,
    SCHEMA_ANY, /* any JSON value (still subject to the parser's limits) */
};

enum schema_format {
    SCHEMA_FMT_NONE,
    SCHEMA_FMT_EMAIL, /* local@domain, printable, one @, domain has a dot */
    SCHEMA_FMT_URL,   /* absolute http(s) URL without spaces or controls */
    SCHEMA_FMT_UUID,  /* 8-4-4-4-12 lower-case hex */
    SCHEMA_FMT_SLUG,  /* [a-z0-9-], no leading/trailing '-' */
};

struct schema;

struct schema_field {
    const char *name;
    enum schema_kind kind;
    bool required;
    bool nullable;
    size_t min_len, max_len;        /* strings (code points), arrays (elements); 0 max = no limit */
    int64_t min, max;               /* integers; both 0 = no range check */
    const char *const *enum_values; /* NULL-terminated list, strings only */
    enum schema_format format;      /* strings only */
    const struct schema *object;    /* for SCHEMA_OBJECT, and arrays of objects */
    enum schema_kind items;         /* element kind for SCHEMA_ARRAY */
    const char *description;        /* optional, one line, for the API description */
};

struct schema {
    const struct schema_field *fields;
    size_t n_fields;
    bool allow_unknown; /* accept and ignore members not listed */
};

struct schema_error {
    char path[SCHEMA_MAX_PATH]; /* e.g. "csp-report.line-number", "items[3].name" */
    char reason[64];            /* e.g. "is required", "must be a string" */
};

struct schema_result {
    size_t n;       /* errors recorded */
    bool truncated; /* more errors than SCHEMA_MAX_ERRORS */
    struct schema_error errors[SCHEMA_MAX_ERRORS];
};

/* ERR_OK when doc (must be an object) satisfies s, else ERR_INVALID with r filled. */
MUST_CHECK enum err schema_validate(const struct schema *s, const struct json *doc,
                                    struct schema_result *r);

#endif
