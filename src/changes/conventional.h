/*
 * conventional — a Conventional Commits 1.0.0 parser (D1).
 *
 * Reads one commit message (or a pull request's title and description) as
 *
 *     type(scope)!: description
 *
 *     body paragraphs
 *
 *     Token: value
 *     Token #value
 *     BREAKING CHANGE: what breaks
 *
 * and hands back views into the message; nothing is allocated and nothing
 * is copied but the type, which is lower-cased (the specification's units
 * are case-insensitive, except BREAKING CHANGE, which must be upper-case).
 *
 * Where the specification leaves the reading open, this parser decides:
 * - type: an ASCII letter, then letters, digits, '-' or '_' (at most
 *   CC_MAX_TYPE bytes); scope: one or more characters other than parentheses
 *   and control characters, at most CC_MAX_SCOPE bytes; '!' only right
 *   before the colon; the colon is followed by at least one space, and the
 *   description (spaces around it dropped) is not empty.
 * - lines end with "\n" or "\r\n"; a message may end with blank lines.
 * - the line after the header, when there is one, must be blank (rule 6).
 * - footers: the footer section starts with the first paragraph after the
 *   header whose first line is a footer line — a token (an ASCII letter or
 *   digit, then letters, digits or '-'; or "BREAKING CHANGE"), then ": " or
 *   " #", then a value — and runs to the end. A value runs to the next
 *   footer line, across lines and blank lines (rule 10), trailing blank
 *   lines dropped. So a body paragraph that opens like "Note: ..." is read
 *   as a footer; a breaking-change footer is never missed.
 * - breaking: '!' in the header, or a footer whose token is exactly
 *   "BREAKING CHANGE" or "BREAKING-CHANGE" (rules 12, 16); a lower-case
 *   "breaking change:" line is body text.
 */
#ifndef SHIPLOG_CHANGES_CONVENTIONAL_H
#define SHIPLOG_CHANGES_CONVENTIONAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/str.h"

#define CC_MAX_MESSAGE 65536 /* bytes of one message; more → ERR_LIMIT */
#define CC_MAX_TYPE    32    /* bytes of a type */
#define CC_MAX_SCOPE   64    /* bytes of a scope */
#define CC_MAX_TOKEN   64    /* bytes of a footer token */
#define CC_MAX_FOOTERS 64    /* footers of one message; more → ERR_LIMIT */

struct cc_footer {
    struct str token; /* as written ("Reviewed-by", "BREAKING CHANGE") */
    char sep;         /* ':' for "token: value", '#' for "token #value" */
    struct str value; /* may span lines; never empty */
};

struct cc_commit {
    char type[CC_MAX_TYPE + 1]; /* lower-cased, NUL-terminated */
    struct str scope;           /* without parentheses; len 0: none */
    bool bang;                  /* '!' before the colon */
    bool breaking;              /* bang, or a BREAKING CHANGE / BREAKING-CHANGE footer */
    struct str description;     /* the header's text after ": " */
    struct str body;            /* between the header's blank line and the footers; may be empty */
    /* the first breaking-change footer's value; else, with bang, the description */
    struct str breaking_note;
    size_t n_footers;
    struct cc_footer footers[CC_MAX_FOOTERS];
};

/*
 * Parses msg into *out. ERR_OK when it is a conventional commit;
 * ERR_INVALID when it is not (*why, when not NULL, says which rule failed,
 * as a static string); ERR_LIMIT past CC_MAX_MESSAGE, CC_MAX_TYPE,
 * CC_MAX_SCOPE, CC_MAX_TOKEN or CC_MAX_FOOTERS. *out is filled only on
 * ERR_OK; its views point into msg.
 */
MUST_CHECK enum err cc_parse(struct str msg, struct cc_commit *out, const char **why);

/* True when s is a type by the grammar above (an ASCII letter, then letters, digits, '-', '_'). */
bool cc_is_type(struct str s);

/*
 * The same for a pull/merge request: title is the header (one line, no line
 * break), description holds the body and footers (no blank line needed
 * before it: the two are separate fields). Each is limited to
 * CC_MAX_MESSAGE; views point into title and description.
 */
MUST_CHECK enum err cc_parse_pr(struct str title, struct str description, struct cc_commit *out,
                                const char **why);

#endif
