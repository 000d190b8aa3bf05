/*
 * classify — what a merged change means to the people who use the product
 * (D1): one impact per pull/merge request or direct push, with the rule that
 * decided it, so a reviewer can see why.
 *
 * Signals, strongest first; a stronger signal that says anything decides:
 *   1. explicit: the change written as a Conventional Commit (its type, and
 *      '!' or a BREAKING CHANGE footer), and its labels;
 *   2. paths: every path it touched is internal (docs, tests, CI), so it is
 *      internal whatever its title says;
 *   3. the title against patterns ("Fix *", "*CVE-*"), first match wins;
 *   4. the rules' fallback.
 * Within the explicit signals the impacts rank as enum change_impact lists
 * them: a breaking change outranks a security fix, which outranks a
 * feature, and so on down to internal; so "chore!: drop Node 16" is
 * breaking, and a "feat:" labelled "bug" is a feature.
 *
 * Rules are data (struct classify_rules): the built-in defaults below, or a
 * tenant's own. Matching is ASCII case-insensitive: types and labels whole
 * (labels trimmed of spaces), titles and paths by glob (`*`, `?`).
 */
#ifndef SHIPLOG_CHANGES_CLASSIFY_H
#define SHIPLOG_CHANGES_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/str.h"

#define CLASSIFY_MAX_LABELS 100  /* labels of one change; more → ERR_LIMIT */
#define CLASSIFY_MAX_LABEL  256  /* bytes of one label; more → ERR_LIMIT */
#define CLASSIFY_MAX_PATHS  3000 /* paths of one change; more → ERR_LIMIT (callers cap) */
#define CLASSIFY_MAX_PATH   4096 /* bytes of one path; more → ERR_LIMIT */
#define CLASSIFY_MAX_REASON 160  /* bytes of the reason, NUL included */

/* In rank order: the first is the strongest. */
enum change_impact {
    CHANGE_BREAKING,
    CHANGE_SECURITY,
    CHANGE_FEATURE,
    CHANGE_IMPROVEMENT,
    CHANGE_FIX,
    CHANGE_PERFORMANCE,
    CHANGE_INTERNAL,
    CHANGE_IMPACT_COUNT_
};

/* "breaking", "security", "feature", "improvement", "fix", "performance", "internal". */
const char *change_impact_name(enum change_impact impact);
/* The impact named s (exactly, lower-case); false when none is. */
bool change_impact_parse(struct str s, enum change_impact *out);

enum classify_source {
    CLASSIFY_CONVENTIONAL, /* the Conventional Commit's type, '!' or footer */
    CLASSIFY_LABEL,
    CLASSIFY_PATHS,
    CLASSIFY_TITLE,
    CLASSIFY_FALLBACK,
};

/* One rule: what to match (NUL-terminated) and the impact it gives. */
struct classify_rule {
    const char *match;
    enum change_impact impact;
};

struct classify_rules {
    const struct classify_rule *types; /* Conventional Commit types, whole */
    size_t n_types;
    const struct classify_rule *labels; /* labels, whole */
    size_t n_labels;
    const struct classify_rule *titles; /* globs over the title, in order */
    size_t n_titles;
    const char *const *internal_paths; /* globs: a change touching only these is internal */
    size_t n_internal_paths;
    enum change_impact fallback; /* when no rule says anything */
};

/* The built-in rules (docs/CHANGES.md lists them). */
extern const struct classify_rules CLASSIFY_DEFAULT_RULES;

/* What classify_change reads; views, borrowed for the call. */
struct change_input {
    struct str title;       /* a PR's title, or a commit message's first line */
    struct str description; /* a PR's description, or the rest of the message */
    const struct str *labels;
    size_t n_labels;
    const struct str *paths; /* every path the change touched */
    size_t n_paths;
};

/* ERR_LIMIT when a title or description is over CC_MAX_MESSAGE or a list or item over its limit. */
MUST_CHECK enum err change_input_check(const struct change_input *in);

/*
 * Splits a commit message into the title (its first line, without the line
 * break) and the rest (after the line break and one blank line if there is
 * one), for change_input.
 */
void classify_split_message(struct str message, struct str *title, struct str *rest);

struct classify_result {
    enum change_impact impact;
    enum classify_source source;
    bool conventional;                /* the title (and description) parsed as one */
    char reason[CLASSIFY_MAX_REASON]; /* e.g. `label "bug"`, for reviewers */
};

/*
 * Classifies in under rules (NULL: CLASSIFY_DEFAULT_RULES). ERR_LIMIT when
 * a title or description is over CC_MAX_MESSAGE or a list or item over its
 * limit above (out untouched); ERR_OK otherwise: every change gets an impact.
 */
MUST_CHECK enum err classify_change(const struct change_input *in,
                                    const struct classify_rules *rules,
                                    struct classify_result *out);

#endif
