/*
 * ingest — from a stored delivery to metadata rows: the processing job
 * (I5, I6, I8) and the retention sweep (I7).
 *
 * The webhook endpoint (hooks/hooks.h) stores each verified, redacted
 * delivery together with a job of kind INGEST_JOB_NORMALIZE whose ref is the
 * delivery's id. The job runner (jobs/jobs.h) runs ingest_job_normalize in
 * two steps. Prepare, outside any write transaction: read the delivery,
 * parse it, check the integration's repository scope, normalize it with the
 * provider's normalizer (normalize.h). Apply, in the runner's write
 * transaction that also records the job done (one per batch of jobs): store
 * the rows (store.h) and the delivery's new status. A delivery whose
 * repository is outside the scope, or whose event carries no change
 * metadata, is marked ignored. A failed attempt marks the delivery failed
 * (its job is retried) or dead, in the transaction that records the job's
 * failure: a delivery that cannot be normalized (ERR_INVALID, ERR_LIMIT) is
 * dead at once — retrying cannot help, and its job goes to the dead-letter
 * state the console shows.
 */
#ifndef SHIPLOG_INGEST_INGEST_H
#define SHIPLOG_INGEST_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/json.h"
#include "core/str.h"
#include "ingest/normalize.h"
#include "ingest/provider.h"
#include "jobs/jobs.h"
#include "storage/storage.h"

#define INGEST_JOB_NORMALIZE      "ingest.normalize"
#define INGEST_RETENTION_DAYS     90          /* default retention of redacted deliveries (I7) */
#define INGEST_MAX_RETENTION_DAYS 3650        /* a tenant may keep them up to ten years */
#define INGEST_ARENA_CAP          (64u << 20) /* bytes one delivery's normalization may use */

/*
 * Normalizes doc with p's normalizer (Azure DevOps takes the event from the
 * body). ERR_INVALID for Stripe, which is no code host.
 */
MUST_CHECK enum err ingest_normalize(enum ingest_provider p, struct str event,
                                     const struct json *doc, const struct ingest_norm_options *opt,
                                     struct arena *a, struct ingest_batch *out);

/*
 * The job runner's handler of INGEST_JOB_NORMALIZE (two steps, see above);
 * copy it into the runner's handler list.
 */
extern const struct jobs_handler ingest_job_normalize;

/*
 * Azure DevOps names its delivery id and event type in the body: one parse of
 * the (redacted) body, each value copied into a (STR_NULL when absent or
 * malformed). False when body does not parse.
 */
bool ingest_azure_envelope(struct str body, struct arena *a, struct str *id, struct str *type);

#endif
