/*
 * publish — what else happens when a changelog entry is published (D5, W1,
 * W3), without the changes module knowing the modules that deliver it.
 *
 * The API (an Admin publishing now) and the scheduled-publication job call
 * changes_published() inside the transaction that published the entry, and
 * changes_published_after() once it is committed. main wires the hooks at
 * start-up: the outbound webhooks' enqueue in the transaction (so a
 * delivery is queued if and only if the publication commits), the feed
 * cache's invalidation after it.
 */
#ifndef SHIPLOG_CHANGES_PUBLISH_H
#define SHIPLOG_CHANGES_PUBLISH_H

#include <stdint.h>

#include "changes/entries.h"
#include "core/buf.h"
#include "core/err.h"
#include "jobs/jobs.h"
#include "storage/storage.h"

struct changes_publisher {
    /* in the publishing transaction (may be NULL): queue the entry's deliveries */
    enum err (*in_tx)(void *arg, struct tx *tx, const struct entry *e, int64_t now);
    /* after the commit (may be NULL): forget what was rendered for the tenant */
    void (*committed)(void *arg, const struct tenant_ctx *t);
    void *arg;
};

#define CHANGES_EVENT_PUBLISHED "changelog.entry.published" /* the outbound webhooks' event */

/*
 * What customers may see of a published entry, as a JSON object appended to
 * out: id, title, body, category and its heading, audience, labels and
 * published_at (RFC 3339) — never its source, impact reason, reviewers or
 * who published it. ERR_LIMIT at out's cap.
 */
MUST_CHECK enum err changes_entry_public_json(const struct entry *e, struct buf *out);

/* Runs p's in_tx hook for e (ERR_OK without one, or without p). */
MUST_CHECK enum err changes_published(const struct changes_publisher *p, struct tx *tx,
                                      const struct entry *e, int64_t now);

/* Runs p's committed hook for t (nothing without one). */
void changes_published_after(const struct changes_publisher *p, const struct tenant_ctx *t);

/*
 * The job runner's handler of ENTRIES_JOB_PUBLISH (entries.h), queued when an
 * entry is scheduled, due at its time: publishes the tenant's scheduled
 * entries that are due (at most CHANGES_PUBLISH_BATCH; a later one's own job
 * takes the rest) and runs the publisher's hooks for each, the committed hook
 * just before the runner commits (a feed read in between caches the old page
 * until its time to live). Copy it and set arg to the struct
 * changes_publisher (or NULL).
 */
#define CHANGES_PUBLISH_BATCH 16
extern const struct jobs_handler changes_job_publish;

#endif
