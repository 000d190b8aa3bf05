/*
 * provider — the webhook senders shiplog accepts, and their names.
 *
 * The name is what appears in the endpoint path (`POST /hooks/{provider}/
 * {integration_id}`, SPEC I1) and in the stored integration, so it is matched
 * exactly (lower case, no trimming). Stripe is a provider of this module only
 * for billing (SPEC B2): users cannot create integrations for it, which
 * ingest_provider_for_integrations says.
 */
#ifndef SHIPLOG_INGEST_PROVIDER_H
#define SHIPLOG_INGEST_PROVIDER_H

#include <stdbool.h>

#include "core/err.h"
#include "core/str.h"

enum ingest_provider {
    INGEST_PROVIDER_GITHUB,           /* "github" */
    INGEST_PROVIDER_GITLAB,           /* "gitlab" */
    INGEST_PROVIDER_BITBUCKET,        /* "bitbucket": Bitbucket Cloud */
    INGEST_PROVIDER_BITBUCKET_SERVER, /* "bitbucket-server": Bitbucket Data Center */
    INGEST_PROVIDER_AZURE_DEVOPS,     /* "azure-devops" */
    INGEST_PROVIDER_STRIPE,           /* "stripe": billing only, never an integration */
    INGEST_PROVIDER_COUNT_
};

/*
 * The provider with exactly this name. ERR_NOT_FOUND for any other string
 * (other case, spaces, empty), so an unknown path segment is a 404.
 */
MUST_CHECK enum err ingest_provider_parse(struct str name, enum ingest_provider *out);

/* The provider's name (a static string); NULL for a value outside the enum. */
const char *ingest_provider_name(enum ingest_provider p);

/* True when users may create integrations for p (every provider but Stripe). */
bool ingest_provider_for_integrations(enum ingest_provider p);

#endif
