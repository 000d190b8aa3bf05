/*
 * rules — a tenant's classification rules (D1: "configurable rules") as the
 * JSON document a setting holds: read and checked, and written back.
 *
 *   {"types":  {"feat": "feature", "fix": "fix"},
 *    "labels": {"bug": "fix", "customer-facing": "feature"},
 *    "titles": [{"match": "Fix*", "impact": "fix"}],
 *    "internal_paths": ["*.md", "*_test.go"],
 *    "fallback": "improvement"}
 *
 * Every member is optional: one that is absent keeps the built-in list of
 * CLASSIFY_DEFAULT_RULES, one that is present replaces it whole (an empty
 * object or array means none). Impacts are named as change_impact_name
 * writes them. Types follow the Conventional Commits type grammar; labels,
 * title patterns and path patterns are 1..RULES_MAX_MATCH bytes of text
 * without control characters; object members are unique (json_parse
 * refuses a duplicate key).
 */
#ifndef SHIPLOG_CHANGES_RULES_H
#define SHIPLOG_CHANGES_RULES_H

#include "changes/classify.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"

#define RULES_MAX_JSON    65536 /* bytes of the document; more → ERR_LIMIT */
#define RULES_MAX_ENTRIES 200   /* entries of one list; more → ERR_LIMIT */
#define RULES_MAX_MATCH   200   /* bytes of a label or pattern; more → ERR_LIMIT */

/* Where a document was refused: the member ("types", "titles[3].impact", …) and why. */
struct rules_problem {
    char field[64];
    char message[128];
};

/*
 * Reads json into *out, every list and string allocated in a (the rules
 * live as long as a). ERR_INVALID (malformed, unknown member, wrong type,
 * unknown impact, bad type or pattern) and ERR_LIMIT (a limit above) fill
 * *why when it is not NULL; *out is set only on ERR_OK.
 */
MUST_CHECK enum err classify_rules_parse(struct str json, struct arena *a,
                                         struct classify_rules *out, struct rules_problem *why);

/* Writes r as that document, every member present (so it reads back the same). */
MUST_CHECK enum err classify_rules_write(const struct classify_rules *r, struct buf *out);

#endif
