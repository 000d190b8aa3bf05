/*
 * redact — what of a webhook body may be stored (SPEC I4).
 *
 * A verified webhook body (JSON text) goes in; the JSON text to store comes
 * out, re-serialised by the escaping writer, with secrets and source content
 * gone, plus counts of what was removed (for a log line or a metric; the
 * counts never carry a value). The walk covers the whole document, every
 * depth, every provider: no rule depends on the event type.
 *
 * Three rules, applied to every object member and every string:
 *
 *  1. Source content is DROPPED: the member is removed from its object.
 *     Normalization (I5) keeps metadata only, so it never needs them. Member
 *     names (after key normalization, below), any value type:
 *         diff, diffs, diff_hunk, st_diff, patch, patches, blob,
 *         file_contents, old_content, new_content, variables (GitLab and
 *         Azure CI variables), content / contents (GitLab snippet and wiki
 *         bodies, Bitbucket comment and issue bodies) except directly inside
 *         a "permissions" object (GitHub's "contents": "read" is an access
 *         level), raw (Bitbucket's markup source) except directly inside
 *         "author" / "committer" (Bitbucket's "Name <email>" is metadata);
 *     and html when its value is a string in an object that also has a
 *     "markup" member (Bitbucket's {raw, markup, html} text: html is the
 *     rendered copy of raw; link objects {"html": {"href": ...}} and Azure's
 *     {text, html, markdown} messages stay).
 *
 *  2. Members whose NAME says secret are MASKED: the member stays and its
 *     value becomes the string "[redacted]" (strings, numbers, arrays and
 *     objects alike; true / false / null stay, they hold no secret), so the
 *     document keeps its shape. Names are normalized first: ASCII lower
 *     case, camelCase split into words, '_' '-' '.' and any other
 *     non-alphanumeric byte as word separators ("clientSecret", "CLIENT-SECRET"
 *     and "client.secret" are all "client_secret"). A name is secret when,
 *     with the separators removed, it contains one of
 *         password passwd passphrase secret token apikey privatekey
 *         accesskey secretkey signingkey encryptionkey credential
 *         authorization cookie
 *     (so also api_key, auth_token, client_secret, access_token, ...), or
 *     a word of it starts with "session" or equals "pwd" — unless its LAST
 *     word is one of
 *         count url urls uri type types at expires expiry scanning
 *         protection enabled required
 *     which name metadata about a secret, not the secret ("tokens_count",
 *     "access_tokens_url", "token_type", "secret_scanning"). A bare "key" is
 *     NOT a secret name: Bitbucket's project "key" and GitLab's CI variable
 *     "key" are metadata; the SSH keys that GitLab system hooks and GitHub
 *     deploy_key events put in "key" are caught by rule 3 instead. A name
 *     longer than REDACT_MAX_KEY_NORM bytes is treated as secret. A name that
 *     itself contains a token (rule 3) drops its member, since masking it
 *     could make two names equal.
 *
 *  3. Known credential formats in any string value are MASKED in place: the
 *     credential becomes "[redacted]" and the rest of the text stays ("oops
 *     ghp_abc..." -> "oops [redacted]"). A prefix must start a word (the byte
 *     before it is not a letter or digit) and be followed by at least
 *     REDACT_MIN_TOKEN_BODY token characters:
 *         GitHub   ghp_ gho_ ghu_ ghs_ ghr_ github_pat_
 *         GitLab   glpat- gloas- gldt- glrt- GR1348941
 *         Slack    xoxb- xoxp- xoxa- xoxr- xoxs- xapp-; and
 *                  hooks.slack.com/services/<path> (the path is masked)
 *         Stripe   sk_live_ rk_live_ sk_test_ rk_test_ whsec_
 *         shiplog  shk_ shr_ (API keys and refresh tokens)
 *         AWS      AKIA / ASIA + exactly 16 of [A-Z0-9]; and 40 base64
 *                  characters after "aws_secret..." plus separators
 *         JWT      eyJ... three base64url segments joined by '.'
 *         PEM      -----BEGIN ...PRIVATE KEY----- through its -----END ...-----
 *                  line (to the end of the string when there is none)
 *         SSH      the base64 body after ssh-rsa / ssh-dss / ssh-ed25519 /
 *                  ecdsa-sha2-* / sk-ssh-* / sk-ecdsa-* (the type stays)
 *         HTTP     "Bearer <credential>" (16+ characters with a digit or one
 *                  of . _ - ~ + /) and "Basic <base64 of user:password>":
 *                  the scheme stays
 *         URLs     scheme://user:password@host -> scheme://[redacted]@host
 *                  (userinfo with a ':'; "ssh://git@host" stays)
 *
 * Numbers are written back with jw_double (the same double; see json.h).
 * Strings are re-escaped by the writer, so the output is valid UTF-8 JSON
 * whatever the input escapes were.
 *
 * Cost: one pass of json_tape_parse (core/json_tape.h), a validating
 * tokenizer that fills one flat token array, 16 bytes per value or key, then
 * one walk over the tokens. Allocations are per body, never per value: the
 * token array, a buffer for strings that have escapes (they are unescaped
 * once), a table for finding duplicate keys in objects of more than 8
 * members, and scratch buffers for masked strings and for member names of
 * 64 bytes or more, each reused for the whole body. Key rules use a
 * normalized copy of the key on the stack; strings are scanned once, and only
 * word starts whose first byte can begin a pattern are tried.
 *
 * Thread-safety: no state; call from any thread.
 */
#ifndef SHIPLOG_INGEST_REDACT_H
#define SHIPLOG_INGEST_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/str.h"

/* Bytes of a webhook body; the HTTP layer answers 413 above it. */
#define INGEST_MAX_BODY ((size_t)4 * 1024 * 1024)

/*
 * Enough output buffer for any body within INGEST_MAX_BODY: the writer
 * escapes at most 6 bytes per input byte ('<' -> \u003c), and no mask or
 * number grows its text by more than that.
 */
#define REDACT_MAX_OUTPUT (6 * INGEST_MAX_BODY + 64)

#define REDACT_MAX_KEY_NORM   128 /* bytes of a normalized member name; longer names are secret */
#define REDACT_MIN_TOKEN_BODY 12  /* token characters a prefix needs after it to count */

/* The replacement text for every masked value or credential. */
#define REDACT_MASK "[redacted]"

/*
 * Limits for parsing webhook bodies: INGEST_MAX_BODY bytes, depth 64 (GitHub
 * nests about 6 deep, Azure about 8), strings up to 1 MiB (a long PR
 * description or commit message; anything longer is not metadata), 100000
 * members per object / elements per array (a push lists at most 2048
 * commits; GitLab lists at most 20 with a total count).
 */
extern const struct json_limits INGEST_JSON_LIMITS;

/* What was removed, one counter per kind. */
enum redact_kind {
    REDACT_SOURCE_CONTENT, /* rule 1: a member dropped */
    REDACT_SECRET_KEY,     /* rule 2: a member's value masked */
    REDACT_TOKEN_KEY,      /* rule 3 in a member name: the member dropped */
    REDACT_GITHUB,
    REDACT_GITLAB,
    REDACT_SLACK,
    REDACT_STRIPE,
    REDACT_SHIPLOG,
    REDACT_AWS,
    REDACT_JWT,
    REDACT_PRIVATE_KEY,
    REDACT_SSH_KEY,
    REDACT_AUTH_HEADER,
    REDACT_URL_USERINFO,
    REDACT_KIND_COUNT_
};

struct redact_counts {
    size_t n[REDACT_KIND_COUNT_];
};

/* Stable lower-case name of a kind for logs and metrics, e.g. "github". */
const char *redact_kind_name(enum redact_kind k);

/* Sum of all counters. */
size_t redact_counts_total(const struct redact_counts *c);

/*
 * Redacts body[0..len) and appends the JSON text to store to out. *counts
 * (may be NULL) is zeroed, then counts every removal. The output always
 * parses with INGEST_JSON_LIMITS-sized limits (it may grow by escaping: give
 * out a cap of REDACT_MAX_OUTPUT to never see ERR_LIMIT from it).
 * Errors: ERR_LIMIT when the body is over an INGEST_JSON_LIMITS limit or
 * out's cap is reached; ERR_INVALID for malformed JSON or a duplicate key.
 * For both parse errors, *e (may be NULL) holds the public reason and byte
 * offset. On any error out is truncated back to its length on entry.
 */
MUST_CHECK enum err redact_json(const char *body, size_t len, struct buf *out,
                                struct redact_counts *counts, struct json_error *e);

/*
 * Rule 3 on one string: appends s with each credential replaced by
 * REDACT_MASK to out and adds to *counts (may be NULL). *changed (may be
 * NULL) tells whether anything was masked. ERR_LIMIT when out's cap is
 * reached.
 */
MUST_CHECK enum err redact_string(struct str s, struct buf *out, struct redact_counts *counts,
                                  bool *changed);

/* True when rule 3 finds a credential anywhere in s. */
bool redact_string_has_secret(struct str s);

/* What rules 1 and 2 do with one object member. */
enum redact_action {
    REDACT_KEEP,       /* the value is kept (its strings still go through rule 3) */
    REDACT_DROP,       /* rule 1: the member is removed */
    REDACT_MASK_VALUE, /* rule 2: the value becomes REDACT_MASK unless it is true / false / null */
};

/*
 * Classifies the member named key, with a value of type value_type, inside
 * an object that is itself the value of the member named parent (NULL for
 * the root and for objects in arrays); markup_sibling tells whether that
 * object also has a member named "markup".
 */
enum redact_action redact_classify_member(struct str key, enum json_type value_type,
                                          const char *parent, bool markup_sibling);

#endif
