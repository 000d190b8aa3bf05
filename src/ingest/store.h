/*
 * store — webhook deliveries and normalized metadata rows in the database
 * (I3, I5, I6, I7, I8).
 *
 * Every function works inside a transaction the caller opened for the tenant
 * (storage_begin), so the webhook path inserts a delivery and enqueues its
 * job in one transaction (I6: acknowledged only once both are durable), and
 * a worker stores a whole batch in its own. Nothing here commits or rolls
 * back; an error leaves tx aborted (storage.h), and the caller rolls back.
 * Tables: migrations sqlite/0012_ingest.sql, postgres/0013_ingest.sql.
 *
 * Deliveries. One row per accepted delivery: the redacted body (I4; never
 * the raw one), the size of the original, and a processing status. The
 * provider's delivery id (delivery_key) is unique per (tenant, integration):
 * ingest_delivery_insert reports a redelivery as *duplicate instead of an
 * error (I3), and ingest_delivery_seen answers the same question cheaply
 * before the body is redacted. A stored body is at most INGEST_MAX_STORED_BODY
 * (16 MiB, the most storage binds in one value): the redacted body of a
 * larger delivery is refused with ERR_LIMIT. ingest_deliveries_purge deletes rows older
 * than the tenant's retention period (I7) in bounded batches.
 *
 * A body is stored packed with LZ4 (core/pack.h; body_encoding 'lz4'), or as
 * its bytes ('identity') when packing would not make it shorter; rows from
 * before packing are 'identity' too. Payloads over 4 KB take about a
 * quarter of their size (the median of the webhook fixtures), so a delivery's row usually fits in
 * one database page instead of spilling onto overflow pages: fewer pages written, logged and
 * checkpointed per delivery. ingest_delivery_get unpacks.
 *
 * Normalized rows (ingest_store_batch) are upserted by their stable id, with
 * the rules of partial knowledge from normalize.h:
 *  - An unknown value (NULL string, time 0, count INGEST_UNKNOWN, labels not
 *    known, tri-state unknown, a person with no login, name or email) never
 *    overwrites a known one; a known value overwrites, except as below.
 *  - Pull requests and staleness: an event is stale when both it and the
 *    stored row carry updated_at and the event's is older. A stale event
 *    only fills what is still unknown (title, description, state, draft,
 *    labels, branches, counts); a fresh one overwrites. updated_at keeps the
 *    maximum. "merged" is terminal: once merged, a PR stays merged whatever
 *    a later-arriving event says; an event saying merged is always taken.
 *  - first_review_at and approved_at only ever move earlier: an event's
 *    value is kept when earlier than the stored one. Storing a review (or
 *    review comment) counts it: after the batch's rows are stored, each
 *    pull request the batch touched gets first_review_at = the minimum of
 *    itself and the submitted_at of its stored reviews and comments whose
 *    reviewer is not the PR's author (a review whose reviewer or PR author
 *    is not known yet counts), and approved_at = the minimum of itself and
 *    its approvals. So a review arriving before its pull request still
 *    counts once the PR arrives. Once counted, a time stays (it only moves
 *    earlier), even if the PR's author later turns out to be the reviewer.
 *  - created_at, ready_at, merged_at, closed_at: the latest known value.
 *    An unknown cannot say "cleared": a reopened PR keeps its closed_at
 *    (state says open) until a later close replaces it.
 *  - Deployments: a non-terminal status (pending, in_progress) never
 *    overwrites a terminal one (success, failure, error, canceled,
 *    inactive), and "inactive" (superseded by a newer deployment) never
 *    overwrites another status: the outcome stays for DORA.
 *  - A commit's files are replaced as a whole when the new row lists any
 *    (n_files > 0); a row listing none keeps the stored files.
 *  - Repositories are upserted first; a row whose repo_id is in no stored
 *    repository and not in the batch gets a repository row with only its id
 *    (filled in by a later delivery), so every row has its repository.
 * A person's is_bot flag (I8) is stored with the person's login and name.
 *
 * Listing: keyset pagination, newest first (repositories: by full name),
 * at most INGEST_MAX_PAGE rows a call. Start with a zeroed cursor; each
 * call fills *next with the position after its last row, or zeroes it
 * (next->id[0] == '\0') when there are no more rows. Rows are copied into
 * the caller's arena (views valid as long as it), with the unknown values of
 * normalize.h for NULL columns; ERR_LIMIT when the arena's cap is reached.
 *
 * Limits: every text has an INGEST_MAX_* and is checked (ERR_LIMIT) before
 * any SQL runs; so are row, file and label counts.
 *
 * Thread-safety: as the struct tx passed in (one thread at a time).
 */
#ifndef SHIPLOG_INGEST_STORE_H
#define SHIPLOG_INGEST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"
#include "ingest/normalize.h"
#include "storage/storage.h"

#define INGEST_DELIVERY_ID_LEN    32                 /* hex digits of a delivery id (16 bytes) */
#define INGEST_MAX_INTEGRATION_ID 64                 /* bytes of an integration id */
#define INGEST_MAX_PROVIDER       32                 /* bytes of a provider name */
#define INGEST_MAX_DELIVERY_KEY   128                /* bytes of the provider's delivery id */
#define INGEST_MAX_EVENT          64                 /* bytes of an event name */
#define INGEST_MAX_STORED_BODY    (16 * 1024 * 1024) /* bytes of a stored (redacted) body */
#define INGEST_MAX_ERROR          200                /* bytes of a delivery's error text */
#define INGEST_MAX_PAGE           100                /* rows one list call returns */
#define INGEST_PURGE_MAX          1000               /* deliveries one purge call deletes */

#define INGEST_MAX_FULL_NAME   512    /* bytes of a repository's full name */
#define INGEST_MAX_URL         2048   /* bytes of a URL */
#define INGEST_MAX_BRANCH      255    /* bytes of a branch or ref name */
#define INGEST_MAX_SHA         64     /* bytes of a commit sha (SHA-256 repositories: 64) */
#define INGEST_MAX_MESSAGE     65536  /* bytes of a commit message */
#define INGEST_MAX_TITLE       1024   /* bytes of a PR title or release name */
#define INGEST_MAX_DESCRIPTION 262144 /* bytes of a PR description */
#define INGEST_MAX_LABEL       255    /* bytes of one label */
#define INGEST_MAX_LOGIN       255    /* bytes of a login */
#define INGEST_MAX_NAME        255    /* bytes of a person's display name */
#define INGEST_MAX_EMAIL       254    /* bytes of an e-mail address */
#define INGEST_MAX_STATE       32     /* bytes of a review or deployment state/status */
#define INGEST_MAX_ENVIRONMENT 255    /* bytes of a deployment environment */
#define INGEST_MAX_TAG         255    /* bytes of a tag name */
#define INGEST_MAX_PATH        4096   /* bytes of a file path */

enum ingest_delivery_status {
    INGEST_DELIVERY_ACCEPTED = 0, /* stored, job queued */
    INGEST_DELIVERY_PROCESSED,    /* normalized and its rows stored */
    INGEST_DELIVERY_IGNORED,      /* an event that carries no change metadata */
    INGEST_DELIVERY_FAILED,       /* the last attempt failed; the job retries */
    INGEST_DELIVERY_DEAD,         /* retries exhausted (dead letter) */
};

/* "accepted", "processed", ...; NULL out of range. */
const char *ingest_delivery_status_name(enum ingest_delivery_status s);

/* A delivery to store: views into the caller's memory, copied by the insert. */
struct ingest_delivery_new {
    struct str integration_id; /* 1..INGEST_MAX_INTEGRATION_ID bytes, 0x21..0x7e */
    struct str provider;       /* github, gitlab, bitbucket, bitbucket-server, azure-devops */
    struct str delivery_key;   /* 1..INGEST_MAX_DELIVERY_KEY bytes, 0x21..0x7e */
    struct str event;          /* 1..INGEST_MAX_EVENT bytes, 0x21..0x7e */
    struct str body;           /* the redacted body, UTF-8, 0..INGEST_MAX_STORED_BODY bytes */
    int64_t body_bytes;        /* size of the original body, >= 0 */
    int64_t received_at;       /* Unix seconds */
    struct {                   /* internal: set by ingest_delivery_pack */
        struct str bytes;      /* the body as stored */
        bool lz4;              /* packed (else the body's own bytes) */
        bool done;
    } stored_;
};

/* A stored delivery. Strings point into the arena given to the call. */
struct ingest_delivery {
    char id[INGEST_DELIVERY_ID_LEN + 1];
    struct str integration_id;
    struct str provider;
    struct str delivery_key;
    struct str event;
    struct str body;  /* ingest_delivery_get only (STR_NULL in lists); NUL-terminated */
    struct str error; /* STR_NULL when none */
    int64_t body_bytes;
    int64_t received_at;
    int64_t processed_at; /* 0 while accepted */
    enum ingest_delivery_status status;
};

/*
 * Checks d as ingest_delivery_insert does and packs its body (the stored
 * form, core/pack.h) into a, so that the insert only binds it: the webhook
 * path packs before it hands the delivery to the group writer, whose thread
 * every delivery waits for. Optional: the insert packs an unpacked d itself.
 * Errors as the insert's checks; ERR_LIMIT when a is full. Change nothing in
 * d after it is packed.
 */
MUST_CHECK enum err ingest_delivery_pack(struct ingest_delivery_new *d, struct arena *a);

/*
 * Inserts d with a new random id (written to id_out) and status accepted.
 * When the tenant already has a delivery with d's (integration_id,
 * delivery_key), nothing is inserted, *duplicate is true, id_out gets the
 * existing delivery's id and ERR_OK is returned (I3: a redelivery succeeds
 * as a no-op). ERR_LIMIT for a field over its limit; ERR_INVALID for an
 * empty or non-visible-ASCII key, integration or event, an unknown
 * provider, a body that is not UTF-8 or holds NUL, a negative body_bytes;
 * storage errors.
 */
MUST_CHECK enum err ingest_delivery_insert(struct tx *tx, const struct ingest_delivery_new *d,
                                           bool *duplicate,
                                           char id_out[INGEST_DELIVERY_ID_LEN + 1]);

/*
 * *seen = whether the tenant has a delivery (integration_id, delivery_key):
 * the early dedupe before redaction. ERR_LIMIT / ERR_INVALID as the insert.
 */
MUST_CHECK enum err ingest_delivery_seen(struct tx *tx, struct str integration_id,
                                         struct str delivery_key, bool *seen);

/*
 * The delivery id for the worker, body included, copied into a.
 * ERR_NOT_FOUND when the tenant has none with that id (another tenant's id
 * included; a malformed id too); ERR_LIMIT when a is full; storage errors.
 */
MUST_CHECK enum err ingest_delivery_get(struct tx *tx, struct str id, struct arena *a,
                                        struct ingest_delivery *out);

/*
 * Sets the delivery's status and error (STR_NULL for none; at most
 * INGEST_MAX_ERROR bytes of printable ASCII, secret-free: it is shown to
 * operators), and processed_at = now unless status is accepted (then NULL).
 * ERR_NOT_FOUND as ingest_delivery_get; ERR_INVALID for a status out of
 * range or a control character in error; ERR_LIMIT; storage errors.
 */
MUST_CHECK enum err ingest_delivery_set_status(struct tx *tx, struct str id,
                                               enum ingest_delivery_status status, struct str error,
                                               int64_t now);

/*
 * Retention (I7): deletes at most max of the tenant's deliveries received
 * before older_than_unix (oldest first), whatever their status; *deleted
 * gets how many. Call again while *deleted == max. ERR_INVALID for max 0 or
 * above INGEST_PURGE_MAX; storage errors.
 */
MUST_CHECK enum err ingest_deliveries_purge(struct tx *tx, int64_t older_than_unix, size_t max,
                                            size_t *deleted);

/*
 * Upserts every row of b (see the rules above): repositories, commits and
 * their files, pull requests, reviews, deployments, releases, then the
 * derived review times of the pull requests b touched. ERR_INVALID for an
 * empty or missing id, repo_id or pr_id, an unknown file change letter or
 * a negative number of a PR; ERR_LIMIT for more than INGEST_MAX_ROWS rows
 * of a kind, INGEST_MAX_FILES files, INGEST_MAX_LABELS labels or a text
 * over its INGEST_MAX_*; all checked before any SQL. Storage errors (then
 * tx is aborted: roll back, nothing of b stays).
 */
MUST_CHECK enum err ingest_store_batch(struct tx *tx, const struct ingest_batch *b);

/* ---- listing ------------------------------------------------------------------ */

/* Position in a list; zeroed = the first page. Opaque to callers. */
struct ingest_cursor {
    int64_t at;                         /* the last row's time key */
    char key[INGEST_MAX_FULL_NAME + 1]; /* repositories: the last row's full name */
    char id[INGEST_MAX_ID + 1];         /* the last row's id; "" = start */
};

/*
 * Every list call: limit 1..INGEST_MAX_PAGE (ERR_INVALID for 0, ERR_LIMIT
 * above), after = where the previous page ended (NULL or zeroed: from the
 * start), rows in *rows (an array of *n in a), *next as above. A filter
 * string that is STR_NULL does not filter; one over its limit is ERR_LIMIT.
 */

/* Deliveries, most recently received first; body is not read (STR_NULL). */
MUST_CHECK enum err ingest_deliveries_list(struct tx *tx, const struct ingest_cursor *after,
                                           size_t limit, struct arena *a,
                                           struct ingest_delivery **rows, size_t *n,
                                           struct ingest_cursor *next);

/* Repositories by full name (unknown names first), then id. */
MUST_CHECK enum err ingest_repositories_list(struct tx *tx, const struct ingest_cursor *after,
                                             size_t limit, struct arena *a,
                                             struct ingest_repo **rows, size_t *n,
                                             struct ingest_cursor *next);

/*
 * Commits, newest first (committed_at, else authored_at), optionally of one
 * repository. files is not read (n_files 0; files_changed is).
 */
MUST_CHECK enum err ingest_commits_list(struct tx *tx, struct str repo_id,
                                        const struct ingest_cursor *after, size_t limit,
                                        struct arena *a, struct ingest_commit **rows, size_t *n,
                                        struct ingest_cursor *next);

/*
 * Pull requests, newest first (created_at, else updated_at), optionally of
 * one repository and/or in one state ("open", "closed", "merged").
 */
MUST_CHECK enum err ingest_prs_list(struct tx *tx, struct str repo_id, struct str state,
                                    const struct ingest_cursor *after, size_t limit,
                                    struct arena *a, struct ingest_pr **rows, size_t *n,
                                    struct ingest_cursor *next);

/*
 * Deployments, newest first (created_at, else finished_at), optionally of
 * one repository and/or environment.
 */
MUST_CHECK enum err ingest_deployments_list(struct tx *tx, struct str repo_id,
                                            struct str environment,
                                            const struct ingest_cursor *after, size_t limit,
                                            struct arena *a, struct ingest_deployment **rows,
                                            size_t *n, struct ingest_cursor *next);

/*
 * The files stored for one commit, in path order, at most INGEST_MAX_FILES,
 * into a (*files, *n). An unknown commit gives none.
 */
MUST_CHECK enum err ingest_commit_files(struct tx *tx, struct str commit_id, struct arena *a,
                                        struct ingest_file **files, size_t *n);

#endif
