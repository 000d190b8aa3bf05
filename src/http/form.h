/*
 * form — application/x-www-form-urlencoded bodies (console forms, U1/U2).
 *
 * The body is untrusted: fields are split on '&', names and values
 * percent-decoded ('+' is a space), and anything malformed is refused rather
 * than guessed at: a bad %-escape, a NUL byte, invalid UTF-8, a repeated field
 * name (two values for one field is an ambiguity an attacker can exploit
 * between layers), more than FORM_MAX_FIELDS fields, or a decoded name or
 * value over its limit. Fuzzed by fuzz/fuzz_form.c.
 */
#ifndef SHIPLOG_HTTP_FORM_H
#define SHIPLOG_HTTP_FORM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/str.h"

#define FORM_MAX_FIELDS 64    /* fields in one body */
#define FORM_MAX_NAME   64    /* bytes of a decoded field name */
#define FORM_MAX_VALUE  16384 /* bytes of a decoded field value (a changelog entry's body fits) */

/*
 * Checks the whole body (see above) once; ERR_INVALID or ERR_LIMIT with a
 * short public reason in *why.
 */
MUST_CHECK enum err form_validate(struct str body, const char **why);

/*
 * The decoded value of field name in a body that passed form_validate, into
 * out (appended; use BUF_INIT_SECRET for passwords). ERR_NOT_FOUND when the
 * field is absent.
 */
MUST_CHECK enum err form_get(struct str body, const char *name, struct buf *out);

#define FORM_MAX_DATETIME 19 /* bytes of a datetime-local value: 2026-12-02T14:30:00 */

/*
 * An <input type="datetime-local"> value, "YYYY-MM-DDTHH:MM" or with ":SS"
 * (what browsers send), read as UTC into *out (Unix seconds); false for any
 * other form, a date that does not exist, or a year before 1970.
 */
bool form_datetime_local(struct str s, int64_t *out);

/* Percent-decodes raw ('+' is a space) into out; ERR_INVALID for a bad escape or NUL. */
MUST_CHECK enum err form_decode(struct str raw, struct buf *out);

#endif
