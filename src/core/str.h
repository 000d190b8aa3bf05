/*
 * str — length-carrying string views for parsing untrusted input.
 *
 * A view never owns its bytes and is not NUL-terminated; it is valid as long
 * as the memory it points into. Functions here never read past ptr + len.
 */
#ifndef SHIPLOG_CORE_STR_H
#define SHIPLOG_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct str {
    const char *ptr;
    size_t len;
};

#define STR_LIT(s) ((struct str){(s), sizeof(s) - 1})
#define STR_NULL   ((struct str){NULL, 0})

struct str str_from_cstr(const char *s);
struct str str_from(const char *p, size_t len);

bool str_eq(struct str a, struct str b);
bool str_eq_cstr(struct str a, const char *b);
/* ASCII case-insensitive comparison (header names, schemes). */
bool str_ieq_cstr(struct str a, const char *b);
bool str_starts_with(struct str s, struct str prefix);
bool str_istarts_with(struct str s, struct str prefix);
bool str_ends_with(struct str s, struct str suffix);

/* Without leading and trailing spaces and tabs (HTTP optional whitespace). */
struct str str_trim(struct str s);

/*
 * Splits the next token off *rest at the first sep: the token goes to *tok and
 * *rest moves past the separator. Returns false when *rest was already empty
 * (after a final token), so a loop `while (str_split(&rest, ',', &tok))` sees
 * every token including empty ones between separators.
 */
bool str_split(struct str *rest, char sep, struct str *tok);

/* Index of the first c, or -1. */
long str_index(struct str s, char c);

/* Decimal digits only (no sign, no spaces), value <= max; else ERR_INVALID / ERR_LIMIT. */
MUST_CHECK enum err str_to_u64(struct str s, uint64_t max, uint64_t *out);

/* Value of one hex digit (either case), or -1. */
int str_hex_digit(char c);

/* True for a canonical lower-case UUID (8-4-4-4-12 hex digits). */
bool str_is_uuid(struct str s);

/*
 * When s starts with "http://" or "https://" (ASCII case-insensitively when
 * ignore_case), stores what follows in *rest and returns true.
 */
bool str_cut_http_scheme(struct str s, bool ignore_case, struct str *rest);

/* True when every byte is printable ASCII (0x20..0x7e). */
bool str_is_printable_ascii(struct str s);

/* Constant-time equality for secrets: time depends only on the lengths. */
bool str_ct_eq(struct str a, struct str b);

#endif
