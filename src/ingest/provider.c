/*
 * provider — see provider.h. One table indexed by the enum.
 */
#include "ingest/provider.h"

static const struct {
    const char *name;
    bool integrations;
} providers[INGEST_PROVIDER_COUNT_] = {
    [INGEST_PROVIDER_GITHUB] = {"github", true},
    [INGEST_PROVIDER_GITLAB] = {"gitlab", true},
    [INGEST_PROVIDER_BITBUCKET] = {"bitbucket", true},
    [INGEST_PROVIDER_BITBUCKET_SERVER] = {"bitbucket-server", true},
    [INGEST_PROVIDER_AZURE_DEVOPS] = {"azure-devops", true},
    [INGEST_PROVIDER_STRIPE] = {"stripe", false},
};

static bool in_range(enum ingest_provider p)
{
    return (unsigned)p < INGEST_PROVIDER_COUNT_;
}

enum err ingest_provider_parse(struct str name, enum ingest_provider *out)
{
    for (int p = 0; p < INGEST_PROVIDER_COUNT_; p++) {
        if (str_eq_cstr(name, providers[p].name)) {
            *out = (enum ingest_provider)p;
            return ERR_OK;
        }
    }
    return ERR_NOT_FOUND;
}

const char *ingest_provider_name(enum ingest_provider p)
{
    return in_range(p) ? providers[p].name : NULL;
}

bool ingest_provider_for_integrations(enum ingest_provider p)
{
    return in_range(p) && providers[p].integrations;
}
