/*
 * headers — parsers for request header values that carry structure. They take
 * untrusted bytes, never read past the view, allocate nothing, and are fuzzed
 * (fuzz/fuzz_headers.c, fuzz/fuzz_cookie.c, fuzz/fuzz_authorization.c).
 */
#ifndef SHIPLOG_HTTP_HEADERS_H
#define SHIPLOG_HTTP_HEADERS_H

#include <stdbool.h>

#include "core/str.h"

#define HEADERS_MAX_COOKIES 64   /* cookie pairs examined per header */
#define HEADERS_MAX_ORIGIN  512  /* bytes of an Origin value */
#define HEADERS_MAX_BEARER  4096 /* bytes of an Authorization value with a bearer token */

/* Media type of a Content-Type value ("type/subtype", parameters dropped, trimmed). */
struct str http_media_type(struct str content_type);

/* True when the media type of content_type equals one of allowed (case-insensitive). */
bool http_media_type_in(struct str content_type, const char *const *allowed);

/* Value of cookie name in a Cookie header (RFC 6265 pairs, quotes stripped). */
bool http_cookie_get(struct str cookie_header, const char *name, struct str *value);

/*
 * True when origin is a serialized origin: "http" or "https", "://", a host of
 * letters, digits, '-', '.', or a bracketed IPv6 literal, an optional ":port"
 * (1..65535), and nothing else. "null" is not a valid origin here.
 */
bool http_origin_valid(struct str origin);

/* True when a comma-separated header value (e.g. Connection) holds token (case-insensitive). */
bool http_token_list_contains(struct str list, const char *token);

/*
 * The token of an Authorization value "Bearer <token>" (RFC 6750 §2.1), into
 * *token as a view into header_value. Strict: the value must be exactly the
 * scheme "Bearer" (any case) at its first byte, one or more SP (no tab),
 * then a token68, 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
 * *"=", ending the value: no leading or trailing whitespace, no ',' and no
 * second credentials. False, with *token untouched, for anything else and for
 * a value longer than HEADERS_MAX_BEARER bytes. What the token is (a JWT, an
 * API key) is the caller's business.
 */
bool http_authorization_bearer(struct str header_value, struct str *token);

#endif
