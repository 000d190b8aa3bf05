/*
 * json_tape — JSON text as a flat array of tokens ("tape"), without a tree.
 *
 * For code that reads a whole document once, in order, and wants none of
 * json_parse's per-node allocations (redaction of every webhook body). One
 * validating pass fills an array of tokens, one per value and one per object
 * key, in document order; a container's token knows how many children it has
 * and where its contents end, so a value can be skipped in O(1) and an
 * object's other members can be looked at before its first one is used.
 *
 * Acceptance is json_parse's exactly: the same grammar (RFC 8259, strict), the
 * same limits (struct json_limits, depth clamped to JSON_MAX_DEPTH_LIMIT), the
 * same refusals (invalid UTF-8, lone surrogates, "\u0000", leading zeros,
 * numbers over 63 characters, numbers that are not finite as a double,
 * duplicate keys after unescaping, trailing data), and the same error code,
 * public reason and offset in struct json_error for every input. Like
 * json_parse, a duplicate key or a number out of range is reported with
 * offset 0, and when a document has several such problems the one reported
 * is the first in document order (an object before anything inside it).
 *
 * Strings (keys and values) are available unescaped: a string without
 * escapes is a view into the text, one with escapes is unescaped once into a
 * buffer owned by the tape. Numbers are converted to double as json_parse
 * does (strtod of the number text; the process stays in the C locale).
 *
 * Lifecycle: json_tape_init, any number of json_tape_parse (each reuses the
 * memory of the previous one), json_tape_release. The tokens and strings of
 * a parse are valid until the next parse or the release, and strings without
 * escapes only as long as the parsed text. Not thread-safe per tape; separate
 * tapes need no locking.
 */
#ifndef SHIPLOG_CORE_JSON_TAPE_H
#define SHIPLOG_CORE_JSON_TAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/json.h"
#include "core/str.h"

/*
 * Longest text a tape holds (offsets are 32-bit); longer text is ERR_LIMIT
 * "document too large" whatever the limits say.
 */
#define JSON_TAPE_MAX_BYTES ((size_t)UINT32_MAX - 1)

/* Returned by json_tape_get when the object has no such member. */
#define JSON_TAPE_NONE SIZE_MAX

/* One value or object key. Read through the accessors below. */
struct json_tok {
    uint32_t off;   /* byte offset in the text of the token's first byte */
    uint8_t type;   /* enum json_type; a key is a JSON_STRING */
    bool unescaped; /* JSON_STRING: the bytes are in the tape's own buffer */
    union {
        struct {
            uint32_t at;  /* offset of the unescaped bytes in the text or the tape's buffer */
            uint32_t len; /* their length */
        } str;
        struct {
            uint32_t end; /* index of the first token after the container's contents */
            uint32_t n;   /* members of an object / elements of an array */
        } box;
        double num; /* JSON_NUMBER: the value json_parse would give */
    } u;
};

struct json_tape {
    const char *text;     /* the text of the last parse */
    struct json_tok *tok; /* tok[0] is the top-level value */
    size_t n, cap;        /* tokens held / allocated */
    char *unescaped;      /* strings that had escapes, back to back */
    size_t unescaped_len; /* bytes used in unescaped */
    size_t unescaped_cap; /* bytes allocated there */
    uint32_t *slots;      /* open-addressing table for the duplicate-key check */
    size_t slots_cap;     /* its size, a power of two */
};

void json_tape_init(struct json_tape *t);

/* Frees the memory; the tape may be reused after json_tape_init(). */
void json_tape_release(struct json_tape *t);

/*
 * Tokenizes text[0..len) (no NUL needed) under lim (NULL: JSON_LIMITS_DEFAULT)
 * into t, replacing what t held. Errors, with *e (may be NULL) filled as
 * json_parse fills it: ERR_INVALID for malformed JSON or a duplicate key,
 * ERR_LIMIT for a limit or a number out of range. On error t holds no tokens.
 * Memory grows with the number of tokens (16 bytes each); running out of it
 * ends in err_oom().
 */
MUST_CHECK enum err json_tape_parse(struct json_tape *t, const char *text, size_t len,
                                    const struct json_limits *lim, struct json_error *e);

/* Type of token i (i < t->n). */
static inline enum json_type json_tape_type(const struct json_tape *t, size_t i)
{
    return (enum json_type)t->tok[i].type;
}

/* Index of the first token after the value at i and everything inside it. */
static inline size_t json_tape_skip(const struct json_tape *t, size_t i)
{
    const struct json_tok *k = &t->tok[i];
    return k->type == JSON_OBJECT || k->type == JSON_ARRAY ? k->u.box.end : i + 1;
}

/* Members of the object / elements of the array at i; 0 for other types. */
static inline size_t json_tape_count(const struct json_tape *t, size_t i)
{
    const struct json_tok *k = &t->tok[i];
    return k->type == JSON_OBJECT || k->type == JSON_ARRAY ? k->u.box.n : 0;
}

/*
 * The unescaped bytes of the string or key at i (not NUL-terminated; never
 * containing NUL: json_parse refuses "\u0000" too). An empty view for other
 * types.
 */
static inline struct str json_tape_str(const struct json_tape *t, size_t i)
{
    const struct json_tok *k = &t->tok[i];
    if (k->type != JSON_STRING)
        return (struct str){"", 0};
    const char *base = k->unescaped ? t->unescaped : t->text;
    return (struct str){base + k->u.str.at, k->u.str.len};
}

/* The number at i; 0 for other types. */
static inline double json_tape_number(const struct json_tape *t, size_t i)
{
    const struct json_tok *k = &t->tok[i];
    return k->type == JSON_NUMBER ? k->u.num : 0;
}

/*
 * Index of the value of obj's member whose unescaped key equals key, or
 * JSON_TAPE_NONE (also when obj is not an object). Members are at obj + 1
 * (key) and obj + 2 (value), then after json_tape_skip of each value. A scan
 * of the members: for occasional lookups, not for reading every member.
 */
size_t json_tape_get(const struct json_tape *t, size_t obj, struct str key);

#endif
