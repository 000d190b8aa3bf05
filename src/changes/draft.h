/*
 * draft — a changelog entry drafted from a change's metadata by rules (D2's
 * default provider: deterministic, no network). A person reviews every draft
 * before anything is published (D4), so the rules aim at a good first
 * version, not a final one.
 *
 * Title: the Conventional Commit's description, or else the title without
 * its bookkeeping ("[ABC-12] ", "WIP: ", " (#123)"); first letter upper-case,
 * no final period, cut at a word within DRAFT_MAX_TITLE bytes.
 * Body: the first paragraph of the description that says something, once
 * HTML comments, task-list items, issue-closing lines and (for a
 * Conventional Commit) the footers are left out; its lines joined; e-mail
 * addresses replaced; for a breaking change, what breaks after it; cut at a
 * word within DRAFT_MAX_BODY bytes.
 * Category: the impact. Audience: internal for an internal change;
 * developers when its scope or a label names a developer surface (api, sdk,
 * cli, webhooks); everyone otherwise.
 */
#ifndef SHIPLOG_CHANGES_DRAFT_H
#define SHIPLOG_CHANGES_DRAFT_H

#include "changes/classify.h"
#include "core/err.h"

#define DRAFT_MAX_TITLE 120  /* bytes of a drafted title */
#define DRAFT_MAX_BODY  1000 /* bytes of a drafted body */

enum draft_audience { AUDIENCE_EVERYONE, AUDIENCE_DEVELOPERS, AUDIENCE_INTERNAL, AUDIENCE_COUNT_ };

/* "everyone", "developers", "internal". */
const char *draft_audience_name(enum draft_audience a);
/* The heading an impact's entries go under: "Breaking changes", "Security", "New features", ... */
const char *draft_category_heading(enum change_impact impact);

struct change_draft {
    char title[DRAFT_MAX_TITLE + 1]; /* UTF-8 as given (cut between characters), NUL-terminated */
    char body[DRAFT_MAX_BODY + 1];   /* may be empty */
    enum change_impact category;
    enum draft_audience audience;
};

/*
 * Drafts in, classified as cls (by classify_change on the same input), into
 * *out. ERR_LIMIT under the same limits as classify_change; ERR_OK
 * otherwise: a title that cleans up to nothing becomes "Untitled change".
 */
MUST_CHECK enum err draft_from_rules(const struct change_input *in,
                                     const struct classify_result *cls, struct change_draft *out);

#endif
