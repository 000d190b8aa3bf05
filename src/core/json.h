/*
 * json — the only door to cJSON: parsing with limits, typed read access, and
 * an escaping writer.
 *
 * Parsing untrusted text enforces, before cJSON sees it where possible: total
 * size, nesting depth (checked on the raw bytes so cJSON never recurses deep),
 * string length (keys and values, in bytes after unescaping), members per
 * object / elements per array, and rejects duplicate keys in any object. Any
 * violation is ERR_INVALID (malformed, duplicate) or ERR_LIMIT (a limit), with
 * a public, safe reason and the byte offset in struct json_error.
 *
 * A parsed document is owned by the caller and freed with json_free(); node
 * pointers returned by the accessors live as long as the document.
 */
#ifndef SHIPLOG_CORE_JSON_H
#define SHIPLOG_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

#define JSON_MAX_DEPTH_LIMIT 128 /* hard ceiling for any limits struct */

struct json_limits {
    size_t max_bytes;   /* whole document */
    size_t max_depth;   /* nesting of arrays/objects; top level value is depth 1 */
    size_t max_string;  /* bytes in any key or string value */
    size_t max_members; /* members of any object / elements of any array */
};

/* Defaults for API bodies: 1 MiB, depth 32, strings 64 KiB, 1000 members. */
extern const struct json_limits JSON_LIMITS_DEFAULT;

struct json_error {
    size_t offset;   /* byte offset near the problem, when known */
    char reason[96]; /* safe to show to the client, e.g. "duplicate key" */
};

enum json_type {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
    JSON_INVALID_TYPE_
};

struct json; /* a node; the root is the document */

/* Parses text[0..len) (no NUL needed). On error *out is NULL and e is filled. */
MUST_CHECK enum err json_parse(const char *text, size_t len, const struct json_limits *lim,
                               struct json **out, struct json_error *e);

void json_free(struct json *doc);

enum json_type json_type_of(const struct json *n);
const char *json_type_name(enum json_type t); /* "string", "object", ... */

/* Member of an object by exact key, or NULL (also when n is not an object). */
const struct json *json_get(const struct json *obj, const char *key);

/* Iteration over array elements or object members: first child, then next. */
const struct json *json_first(const struct json *n);
const struct json *json_next(const struct json *n);
/* Key of an object member (NULL for array elements). */
const char *json_key(const struct json *member);
size_t json_count(const struct json *n); /* children of an array/object, else 0 */

/* Typed reads: false when the node is NULL or of another type. */
bool json_as_str(const struct json *n, struct str *out); /* view into the document */
bool json_as_bool(const struct json *n, bool *out);
bool json_as_i64(const struct json *n, int64_t *out); /* integral numbers within ±2^53 only */
bool json_as_double(const struct json *n, double *out);

/*
 * Escaping writer. Calls after the first failure do nothing; jw_finish()
 * returns the first error (ERR_LIMIT when the buffer cap was reached). Commas
 * are inserted automatically.
 */
struct jw {
    struct buf *out;
    unsigned depth;
    bool first[JSON_MAX_DEPTH_LIMIT + 1];
    bool after_key;
    enum err err;
};

void jw_init(struct jw *w, struct buf *out);
void jw_object_begin(struct jw *w);
void jw_object_end(struct jw *w);
void jw_array_begin(struct jw *w);
void jw_array_end(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_string(struct jw *w, struct str s);   /* escapes quotes, controls, non-UTF-8 -> U+FFFD */
void jw_cstring(struct jw *w, const char *s); /* NULL writes null */
void jw_int(struct jw *w, int64_t v);
/*
 * Writes a number so that it parses back to exactly the same double:
 * integral values below 2^53 in magnitude as integers ("12345678901234",
 * "-0" for negative zero), others in the shortest of %.15g / %.16g / %.17g
 * that reads back equal ("-0.5", "1e+300"). Non-finite values (never
 * produced by json_parse) write null. With json_as_double this re-serialises
 * any parsed number without loss beyond what the parser kept: cJSON stores
 * numbers as doubles, so an integer literal above 2^53 was already rounded.
 */
void jw_double(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
MUST_CHECK enum err jw_finish(struct jw *w);

/* Appends s as a quoted, escaped JSON string to out. */
MUST_CHECK enum err json_escape_to(struct buf *out, struct str s);

/*
 * As json_escape_to, but appends at most max bytes (quotes included), cutting s
 * at a character boundary so the result is still a valid JSON string; *cut
 * (may be NULL) tells whether s was shortened. ERR_LIMIT when max < 2 or the
 * buffer's own cap is reached. Used by the logger to cut long values.
 */
MUST_CHECK enum err json_escape_to_max(struct buf *out, struct str s, size_t max, bool *cut);

/*
 * True when s is valid UTF-8 (no overlong forms, surrogates or code points
 * above U+10FFFF); *n_codepoints (may be NULL) gets the number of code points.
 */
bool json_utf8_valid(struct str s, size_t *n_codepoints);

/*
 * Decodes the UTF-8 sequence at p[0..len) (len >= 1) into *cp: returns its
 * length, or 0 when the bytes are not a valid, shortest-form sequence (the
 * rule json_utf8_valid applies).
 */
size_t json_utf8_decode(const unsigned char *p, size_t len, uint32_t *cp);

#endif
