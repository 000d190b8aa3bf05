/*
 * normalize_azure — what an Azure DevOps service-hook body says about itself.
 *
 * Azure DevOps sends no event header and no delivery-id header: both are in
 * the body. These read them so the receiving side can deduplicate (I3) and
 * route a delivery before normalizing it with ingest_normalize_azure()
 * (normalize.h).
 */
#ifndef SHIPLOG_INGEST_NORMALIZE_AZURE_H
#define SHIPLOG_INGEST_NORMALIZE_AZURE_H

#include <stdbool.h>

#include "core/json.h"
#include "core/str.h"

#define INGEST_AZURE_MAX_EVENT_ID 128 /* bytes of a notification id (a GUID is 36) */

/*
 * The delivery's own id: the top-level "id" (a GUID, the same on every retry
 * of one notification). False when absent, not a string, empty, longer than
 * INGEST_AZURE_MAX_EVENT_ID or not printable ASCII. *out points into doc.
 */
bool ingest_azure_event_id(const struct json *doc, struct str *out);

/*
 * The event type: the top-level "eventType" ("git.push",
 * "git.pullrequest.merged", ...). False when absent, not a string, empty,
 * longer than 64 bytes or not printable ASCII. *out points into doc.
 */
bool ingest_azure_event_type(const struct json *doc, struct str *out);

#endif
