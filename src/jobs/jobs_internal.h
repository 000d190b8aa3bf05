/*
 * jobs_internal — what src/jobs shows its tests and nobody else: the claim
 * statements, so a test can ask the database how it runs them.
 */
#ifndef SHIPLOG_JOBS_JOBS_INTERNAL_H
#define SHIPLOG_JOBS_JOBS_INTERNAL_H

#include "storage/storage.h"

/* The two halves of a claim, run in this order in one transaction. */
enum jobs_claim_branch {
    JOBS_CLAIM_EXPIRED, /* running jobs whose lease has expired */
    JOBS_CLAIM_PENDING, /* pending jobs that are due */
};

/*
 * The UPDATE ... RETURNING that claims one branch's due jobs on backend b,
 * oldest first: $2 now, $3 the lease's end, $4 the most jobs to claim
 * (Unix seconds; PostgreSQL converts them). Constant text.
 */
const char *jobs_claim_sql(enum storage_backend b, enum jobs_claim_branch branch);

#endif
