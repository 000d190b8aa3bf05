/*
 * entries — changelog entries in the database: the draft made from a merged
 * change, every version of its text, its review and its publication (D2, D4,
 * D5). Tables: migrations sqlite/0018_changelog.sql, postgres/0021_changelog.sql.
 *
 * One entry per change (a merged pull/merge request, or a direct push to the
 * default branch), found again by the change's stable id (source_id, of
 * ingest/normalize.h), so later deliveries about the same change regenerate
 * the same entry.
 *
 * The workflow (D4). Statuses and who moves an entry between them (the route
 * holds the permission; authz.h):
 *
 *     draft ──submit──► in_review ──approve──► approved ──publish──► published
 *       ▲    (Editor)       │        (Admin)      │        (Admin)      ▲
 *       │                   └─reject─► rejected   └─publish at─► scheduled
 *       └──── an edit of a rejected or approved entry ◄──┘          (job)
 *
 * Submitting is allowed from draft and rejected. An approved entry that is
 * edited goes back to draft: what was approved is no longer what would be
 * published. Published and scheduled entries are never edited. Nothing
 * reaches published without passing through approved, so without an
 * approval by a holder of drafts.review (D4).
 *
 * Versions. Every text an entry ever had is a row of changelog_versions,
 * numbered from 1, with its author (a user id or key id for an edit; the
 * provider, "rules" ..., for generated text) and time. The entry's current
 * text is its version `version`. Edits carry the version they were made on
 * (optimistic concurrency): a stale one is ERR_CONFLICT, nothing written.
 *
 * Regeneration never overwrites a human edit (D4): generated text replaces
 * the current text only while the entry is a draft nobody has edited; in
 * any other case it is kept as a 'suggestion' version that reviewers can
 * see in the history, and the current text stays.
 *
 * Every change of an entry made by a person is an audit event in the same
 * transaction (entry.edited, entry.submitted, entry.approved,
 * entry.rejected, entry.published, entry.scheduled, entry.reviewers); the
 * system's entry.created and entry.regenerated too.
 *
 * All functions work inside a transaction the caller opened for the tenant;
 * nothing here commits. Another tenant's entry is ERR_NOT_FOUND. Texts are
 * copied into the caller's arena when read.
 */
#ifndef SHIPLOG_CHANGES_ENTRIES_H
#define SHIPLOG_CHANGES_ENTRIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "changes/classify.h"
#include "changes/draft.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"
#include "storage/storage.h"

#define ENTRIES_ID_LEN        32   /* hex digits of an entry id */
#define ENTRIES_MAX_SOURCE_ID 256  /* bytes of a change's stable id */
#define ENTRIES_MAX_URL       2048 /* bytes of the change's web address */
#define ENTRIES_MAX_TITLE     200  /* bytes of an entry's title (generated ones: DRAFT_MAX_TITLE) */
#define ENTRIES_MAX_BODY      10000 /* bytes of an entry's body */
#define ENTRIES_MAX_LABELS    20    /* labels of one entry */
#define ENTRIES_MAX_LABEL     64    /* bytes of one label */
#define ENTRIES_MAX_REVIEWERS 10    /* reviewers assigned to one entry */
#define ENTRIES_MAX_NOTE      500   /* bytes of a rejection note */
#define ENTRIES_MAX_PAGE      100   /* entries one list call returns */
#define ENTRIES_MAX_VERSIONS  200   /* versions one history call returns (the newest) */
#define ENTRIES_MAX_AUTHOR    64    /* bytes of a version's author */
#define ENTRIES_JOB_PUBLISH                                                                        \
    "changes.publish" /* job kind: publishes scheduled entries (publish.h) */

enum entry_status {
    ENTRY_DRAFT,
    ENTRY_IN_REVIEW,
    ENTRY_APPROVED,
    ENTRY_REJECTED,
    ENTRY_SCHEDULED,
    ENTRY_PUBLISHED,
    ENTRY_STATUS_COUNT_
};

/* "draft", "in_review", ...; NULL out of range. */
const char *entry_status_name(enum entry_status s);
/* The status named s; false for anything else. */
bool entry_status_parse(struct str s, enum entry_status *out);
/* "everyone", "developers", "internal" → the audience; false otherwise. */
bool entry_audience_parse(struct str s, enum draft_audience *out);

/* What the pipeline generated for a change (views, copied by the call). */
struct entry_generated {
    struct str source_id;  /* the change's stable id, 1..ENTRIES_MAX_SOURCE_ID bytes */
    bool push;             /* a direct push (commit) rather than a pull request */
    struct str repo_id;    /* its repository (stored already) */
    int64_t source_number; /* PR number; INGEST_UNKNOWN (-1) for a push */
    struct str source_url; /* web address of the PR or commit; STR_NULL unknown */
    int64_t changed_at;    /* merged or pushed, Unix seconds */
    struct classify_result cls;
    struct change_draft draft;
    const struct str *labels; /* the change's labels (at most ENTRIES_MAX_LABELS kept) */
    size_t n_labels;
    const char *provider; /* "rules", "anthropic", "openai" */
};

enum entry_upsert {
    ENTRY_CREATED,     /* a new entry, status draft, version 1 */
    ENTRY_REGENERATED, /* its draft text replaced (a new generated version) */
    ENTRY_SUGGESTED,   /* kept as a suggestion: edited, in review or beyond */
    ENTRY_UNCHANGED,   /* the same text as its latest generated version, or published */
};

/*
 * Creates the entry of g->source_id, or regenerates it (see above). id
 * (ENTRIES_ID_LEN + 1 bytes, may be NULL) gets the entry's id. ERR_LIMIT
 * for a field over its limit, ERR_INVALID for a malformed one.
 */
MUST_CHECK enum err entries_upsert_generated(struct tx *tx, const struct entry_generated *g,
                                             int64_t now, enum entry_upsert *what, char *id);

/* One entry as read. Views are in the arena given. */
struct entry {
    char id[ENTRIES_ID_LEN + 1];
    struct str source_id;
    bool push;
    struct str repo_id;
    int64_t source_number; /* -1 unknown */
    struct str source_url; /* ptr NULL unknown */
    enum change_impact impact;
    struct str impact_reason;
    enum entry_status status;
    struct str title;
    struct str body;
    enum change_impact category;
    enum draft_audience audience;
    const struct str *labels;
    size_t n_labels;
    struct str provider;
    int64_t version;
    bool human_edited;
    const struct str *reviewers; /* user ids */
    size_t n_reviewers;
    int64_t changed_at, created_at, updated_at;
    struct str submitted_by; /* ptr NULL: never */
    int64_t submitted_at;    /* 0: never */
    struct str decided_by;   /* who approved or rejected last */
    int64_t decided_at;
    struct str decision_note; /* a rejection's note */
    int64_t publish_at;       /* scheduled time, 0 none */
    struct str published_by;
    int64_t published_at;
};

MUST_CHECK enum err entries_get(struct tx *tx, struct str id, struct arena *a, struct entry *out);

/* A listing position: start zeroed; next->id[0] == '\0' after the last page. */
struct entries_cursor {
    int64_t at;
    char id[ENTRIES_ID_LEN + 1];
};

/* Which entries a listing shows. */
struct entries_filter {
    bool any_status;          /* else only status */
    enum entry_status status; /* e.g. ENTRY_IN_REVIEW: the review queue */
    const char *reviewer;     /* only entries assigned to this user id; NULL any */
};

/*
 * Entries most recently changed first, at most limit (1..ENTRIES_MAX_PAGE)
 * of them into out. ERR_INVALID for a bad limit or cursor.
 */
MUST_CHECK enum err entries_list(struct tx *tx, const struct entries_filter *f,
                                 const struct entries_cursor *after, size_t limit, struct arena *a,
                                 struct entry *out, size_t *n, struct entries_cursor *next);

/* One version of an entry's text. */
struct entry_version {
    int64_t version;
    struct str kind;   /* "generated", "edit", "suggestion" */
    struct str author; /* user or key id, or the provider */
    struct str title, body;
    enum change_impact category;
    enum draft_audience audience;
    const struct str *labels;
    size_t n_labels;
    int64_t created_at;
};

/* The entry's versions, newest first, at most ENTRIES_MAX_VERSIONS into out. */
MUST_CHECK enum err entries_versions(struct tx *tx, struct str id, struct arena *a,
                                     struct entry_version *out, size_t *n);

/* Who acts on an entry, for the audit trail and the version's author. */
struct entries_actor {
    const char *user_id;   /* the user, or a key's creator */
    const char *key_id;    /* the API key acting, or NULL */
    const char *client_ip; /* may be NULL */
    const char *request_id;
};

/* An edit: each member is changed only when its has_ flag is set. */
struct entry_patch {
    int64_t version; /* the version the edit was made on (required) */
    bool has_title, has_body, has_category, has_audience, has_labels, has_reviewers;
    struct str title; /* 1..ENTRIES_MAX_TITLE bytes of UTF-8 without control characters */
    struct str body;  /* 0..ENTRIES_MAX_BODY bytes, newlines allowed */
    enum change_impact category;
    enum draft_audience audience;
    const struct str *labels;
    size_t n_labels;
    const struct str *reviewers; /* user ids the caller checked are members */
    size_t n_reviewers;
};

/*
 * Checks a patch's values against their limits and forms; *field names the
 * first bad one ("title", "labels[2]" ...). ERR_LIMIT or ERR_INVALID.
 */
MUST_CHECK enum err entries_patch_check(const struct entry_patch *p, const char **field);

/*
 * Applies p to entry id: a change of its text makes a new 'edit' version and
 * marks it human-edited (an approved or rejected entry goes back to draft);
 * reviewers alone change no version. ERR_CONFLICT for a stale version or a
 * published/scheduled entry, with *reason (may be NULL) saying which.
 */
MUST_CHECK enum err entries_edit(struct tx *tx, const struct entries_actor *who, struct str id,
                                 const struct entry_patch *p, int64_t now, const char **reason);

enum entry_action { ENTRY_SUBMIT, ENTRY_APPROVE, ENTRY_REJECT, ENTRY_PUBLISH };

/*
 * Moves entry id along the workflow. version: the version the caller saw
 * (ERR_CONFLICT when the entry changed since; 0 skips the check). note: a
 * rejection's note (STR_NULL none). publish_at: ENTRY_PUBLISH only; 0 or a
 * time not after now publishes at once, a later one schedules (and queues an
 * ENTRIES_JOB_PUBLISH job due then, in tx). ERR_CONFLICT
 * with *reason when the status does not allow the action.
 */
MUST_CHECK enum err entries_transition(struct tx *tx, const struct entries_actor *who,
                                       struct str id, enum entry_action action, int64_t version,
                                       struct str note, int64_t publish_at, int64_t now,
                                       const char **reason);

/*
 * Publishes scheduled entries of tx's tenant whose time has come (at most
 * max): ids (max × (ENTRIES_ID_LEN + 1) bytes) get their ids, *n how many.
 */
MUST_CHECK enum err entries_publish_due(struct tx *tx, int64_t now, size_t max, char *ids,
                                        size_t *n);

#endif
