/*
 * integrations — where a tenant's webhooks come from (I1, C1, C3).
 *
 * An integration is one provider (GitHub, GitLab, Bitbucket Cloud, Bitbucket
 * Data Center, Azure DevOps) sending webhooks for a repository scope to
 * /hooks/<provider>/<id>. The id is a version-4 UUID from the CSPRNG: the
 * endpoint needs no credential to find the integration, so the id must be
 * unguessable; the secret then proves the sender.
 *
 * Secrets (C1, C3, C5):
 *  - The webhook secret is "shw_" + base64url of 32 random bytes. It is
 *    returned once, by create and rotate (struct integration_secret, which
 *    the caller wipes), and stored only as an envelope of secrets_seal
 *    (purpose INTEGRATIONS_PURPOSE_SECRET, record id = the integration id),
 *    so an envelope copied into another row, tenant or purpose fails with
 *    ERR_CRYPTO. The table keeps a hint (the last characters) for people.
 *  - Rotation makes a new secret and keeps the old envelope, accepted until
 *    now + INTEGRATIONS_ROTATION_GRACE_S, so senders can be switched without
 *    losing deliveries. A second rotation inside the grace period ends the
 *    older secret at once (only one previous secret is kept).
 *  - GitLab may also sign with Standard Webhooks: the signing secret is
 *    "whsec_" + base64 of 32 random bytes (purpose
 *    INTEGRATIONS_PURPOSE_SIGNING), returned once, replaced on each call.
 *  - The webhook path (integrations_lookup) is the only place a secret is
 *    decrypted, into a struct integration_verify the caller wipes. It may
 *    keep what it decrypted in a struct integrations_cache for
 *    INTEGRATIONS_CACHE_TTL_S seconds (below), so a stream of deliveries
 *    costs neither a database read nor a decryption each.
 *
 * Every change is one write transaction of the tenant with its audit event
 * ("integration.created", "integration.secret_rotated",
 * "integration.signing_secret_set", "integration.disabled",
 * "integration.enabled", "integration.deleted"), which never holds a secret.
 * Another tenant's id, like an unknown one, is ERR_NOT_FOUND (T4).
 * Refusals carry a public *reason (a literal) where the caller may say why.
 *
 * All times are Unix seconds passed by the caller, so tests move time freely.
 * Thread-safety: every function may run on any thread with shared storages.
 */
#ifndef SHIPLOG_INGEST_INTEGRATIONS_H
#define SHIPLOG_INGEST_INTEGRATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"
#include "ingest/provider.h"
#include "secrets/secrets.h"
#include "storage/storage.h"

#define INTEGRATIONS_ID_LEN               36   /* a canonical lower-case UUID */
#define INTEGRATIONS_MAX_NAME             100  /* characters (code points) of a name */
#define INTEGRATIONS_MAX_NAME_BYTES       400  /* bytes of a name (100 code points fit) */
#define INTEGRATIONS_MAX_SCOPE            1000 /* bytes of a repository scope as sent */
#define INTEGRATIONS_MAX_SCOPE_PATTERN    200  /* bytes of one glob of the scope */
#define INTEGRATIONS_MAX_AZURE_HEADER     64   /* bytes of the Azure DevOps secret header's name */
#define INTEGRATIONS_MAX_PER_TENANT       100  /* integrations one tenant may have */
#define INTEGRATIONS_PAGE                 50   /* integrations a list page holds */
#define INTEGRATIONS_MAX_PAGES            (INTEGRATIONS_MAX_PER_TENANT / INTEGRATIONS_PAGE)
#define INTEGRATIONS_ROTATION_GRACE_S     86400 /* an old secret's life after a rotation (24 h) */
#define INTEGRATIONS_SECRET_BYTES         32    /* random bytes of a secret */
#define INTEGRATIONS_MAX_SECRET           64    /* characters of a secret's text */
#define INTEGRATIONS_SECRET_PREFIX        "shw_"
#define INTEGRATIONS_SIGNING_PREFIX       "whsec_"
#define INTEGRATIONS_DEFAULT_SCOPE        "*"
#define INTEGRATIONS_DEFAULT_AZURE_HEADER "X-Shiplog-Secret"
/* Azure DevOps Basic credentials: this user name, and the secret as the password */
#define INTEGRATIONS_AZURE_BASIC_USER "shiplog"
#define INTEGRATIONS_PURPOSE_SECRET   "webhook.secret"
#define INTEGRATIONS_PURPOSE_SIGNING  "webhook.signing"
#define INTEGRATIONS_MAX_PROVIDER     16 /* bytes of the longest provider name, "bitbucket-server" */
#define INTEGRATIONS_CACHE_TTL_S      5  /* longest the webhook path reuses a lookup */
#define INTEGRATIONS_CACHE_SLOTS      256 /* integrations the lookup cache holds at once */
/* The *reason of integrations_create at INTEGRATIONS_MAX_PER_TENANT (a state, not a bad field). */
#define INTEGRATIONS_REASON_FULL "the organization has as many integrations as it can hold"

/* How Azure DevOps proves itself: Basic credentials, a custom header, or both. */
enum integration_azure_auth {
    INTEGRATION_AZURE_NONE = 0, /* not an azure-devops integration */
    INTEGRATION_AZURE_BASIC,
    INTEGRATION_AZURE_HEADER,
    INTEGRATION_AZURE_BOTH,
};

/* The provider (ingest/provider.h) named exactly by text that integrations may
 * use (not Stripe); ERR_INVALID for anything else. */
MUST_CHECK enum err integration_provider_parse(struct str text, enum ingest_provider *out);
/* "basic", "header", "both"; NULL for NONE or out of range. */
const char *integration_azure_auth_name(enum integration_azure_auth a);
/* ERR_INVALID for anything but the three names. */
MUST_CHECK enum err integration_azure_auth_parse(struct str text, enum integration_azure_auth *out);

/* What an integration is, without any secret (safe to show to its managers). */
struct integration {
    char id[INTEGRATIONS_ID_LEN + 1];
    enum ingest_provider provider;
    char name[INTEGRATIONS_MAX_NAME_BYTES + 1];
    char repository_scope[INTEGRATIONS_MAX_SCOPE + 1]; /* normalized: one glob a line */
    char secret_hint[SECRETS_HINT_SIZE];
    int64_t previous_valid_until; /* 0: no previous secret is accepted (none, or its grace ended) */
    bool has_signing_secret;
    char signing_secret_hint[SECRETS_HINT_SIZE];
    enum integration_azure_auth azure_auth;               /* NONE unless azure-devops */
    char azure_header[INTEGRATIONS_MAX_AZURE_HEADER + 1]; /* "" unless azure-devops */
    char created_by[INTEGRATIONS_ID_LEN + 1];
    int64_t created_at, rotated_at, disabled_at; /* 0 = never */
};

/* A secret shown once; wipe with integration_secret_wipe as soon as it is sent. */
struct integration_secret {
    char text[INTEGRATIONS_MAX_SECRET + 1];
};
void integration_secret_wipe(struct integration_secret *s);

/* Who makes a change, for created_by and the audit event. key_id NULL: a person. */
struct integrations_actor {
    const char *user_id;    /* the acting user (a key's creator), a canonical UUID */
    const char *key_id;     /* the API key acting, or NULL */
    const char *client_ip;  /* NULL = "" */
    const char *request_id; /* NULL = "" */
};

/* What to create. Text is as sent; STR_NULL fields take their defaults. */
struct integration_spec {
    enum ingest_provider provider;
    struct str name;             /* 1..INTEGRATIONS_MAX_NAME characters, no control characters */
    struct str repository_scope; /* globs split by ',' or newlines; default "*" */
    struct str azure_auth;       /* azure-devops only: "basic" | "header" | "both" (default both) */
    struct str azure_header;     /* azure-devops only: an HTTP header name (default above) */
};

/*
 * Checks a repository scope and writes its normalized form (the globs,
 * trimmed of spaces and tabs, one a line, empty ones dropped) to out.
 * ERR_LIMIT past INTEGRATIONS_MAX_SCOPE bytes or a glob past
 * INTEGRATIONS_MAX_SCOPE_PATTERN; ERR_INVALID for no glob at all, invalid
 * UTF-8 or a control character. *reason (may be NULL) says which.
 */
MUST_CHECK enum err integrations_scope_normalize(struct str scope,
                                                 char out[INTEGRATIONS_MAX_SCOPE + 1],
                                                 const char **reason);
/* True when repository (e.g. "acme/api") matches a glob of a normalized scope. */
bool integrations_scope_matches(const char *scope, struct str repository);

/*
 * Creates an integration of tenant t with a new secret (into *secret, once),
 * sealed with sec, and records "integration.created". ERR_INVALID / ERR_LIMIT
 * with *reason for a field (name, repository scope, azure settings: the
 * latter refused for other providers); ERR_LIMIT with *reason
 * "the organization has as many integrations as it can hold" at
 * INTEGRATIONS_MAX_PER_TENANT; ERR_NOT_FOUND when t has no data key;
 * storage and secrets errors as they come. out and *secret are zeroed on
 * failure.
 */
MUST_CHECK enum err integrations_create(struct storage *db, struct secrets *sec,
                                        const struct tenant_ctx *t,
                                        const struct integrations_actor *who,
                                        const struct integration_spec *spec, int64_t now,
                                        struct integration *out, struct integration_secret *secret,
                                        const char **reason);

/* One integration of t as of now (previous_valid_until 0 once past). ERR_NOT_FOUND if none. */
MUST_CHECK enum err integrations_get(struct storage *db, const struct tenant_ctx *t, struct str id,
                                     int64_t now, struct integration *out);

/*
 * Page page (0-based) of t's integrations, oldest first, into
 * out[0..INTEGRATIONS_PAGE); *n gets the count on the page, *total the
 * tenant's. ERR_INVALID for page >= INTEGRATIONS_MAX_PAGES.
 */
MUST_CHECK enum err integrations_list(struct storage *db, const struct tenant_ctx *t, unsigned page,
                                      int64_t now, struct integration *out, size_t *n,
                                      size_t *total);

/*
 * A new webhook secret (into *secret, once); the old one stays valid until
 * now + INTEGRATIONS_ROTATION_GRACE_S. Records "integration.secret_rotated".
 * out (may be NULL) gets the integration after. ERR_NOT_FOUND for an unknown
 * id or another tenant's.
 */
MUST_CHECK enum err integrations_rotate(struct storage *db, struct secrets *sec,
                                        const struct tenant_ctx *t,
                                        const struct integrations_actor *who, struct str id,
                                        int64_t now, struct integration *out,
                                        struct integration_secret *secret);

/*
 * A new Standard Webhooks signing secret for a GitLab integration (into
 * *secret, once), replacing any earlier one. Records
 * "integration.signing_secret_set". ERR_INVALID with *reason for another
 * provider; ERR_NOT_FOUND as above.
 */
MUST_CHECK enum err integrations_signing_secret(struct storage *db, struct secrets *sec,
                                                const struct tenant_ctx *t,
                                                const struct integrations_actor *who, struct str id,
                                                int64_t now, struct integration *out,
                                                struct integration_secret *secret,
                                                const char **reason);

/* Disables (deliveries refused) or enables again; "integration.disabled" / ".enabled". */
MUST_CHECK enum err integrations_set_disabled(struct storage *db, const struct tenant_ctx *t,
                                              const struct integrations_actor *who, struct str id,
                                              bool disabled, int64_t now);

/* Deletes the integration and its envelopes; "integration.deleted". ERR_NOT_FOUND as above. */
MUST_CHECK enum err integrations_delete(struct storage *db, const struct tenant_ctx *t,
                                        const struct integrations_actor *who, struct str id);

/*
 * What the webhook endpoint needs to verify one delivery: the tenant, the
 * settings, and the secrets in plaintext. Holds secrets: wipe it with
 * integration_verify_wipe on every path, as soon as the signature is checked.
 */
struct integration_verify {
    struct tenant_ctx tenant;
    char id[INTEGRATIONS_ID_LEN + 1];
    enum ingest_provider provider;
    char repository_scope[INTEGRATIONS_MAX_SCOPE + 1];
    enum integration_azure_auth azure_auth;
    char azure_header[INTEGRATIONS_MAX_AZURE_HEADER + 1];
    char secret[INTEGRATIONS_MAX_SECRET + 1]; /* the current secret */
    size_t secret_len;
    char previous[INTEGRATIONS_MAX_SECRET + 1]; /* the old one while in grace, else "" */
    size_t previous_len;
    char signing[INTEGRATIONS_MAX_SECRET + 1]; /* GitLab's signing secret, or "" */
    size_t signing_len;
    bool cached_; /* internal: integrations_cache_hit */
};

/*
 * For POST /hooks/<provider>/<id>: finds the tenant of integration_id
 * (storage_integration_tenant), reads the integration in that tenant's
 * transaction and unseals its secrets — the previous one only while
 * now < previous_valid_until. The provider of the URL must be the
 * integration's: a mismatch, an unknown or malformed id, a disabled
 * integration and an unknown provider are all ERR_NOT_FOUND (no oracle).
 * ERR_CRYPTO when an envelope does not open (moved, altered, key shredded).
 * out is zeroed on failure; wipe it after success. cache may be NULL (see
 * below).
 */
struct integrations_cache;
MUST_CHECK enum err integrations_lookup(struct storage *db, struct secrets *sec,
                                        struct integrations_cache *cache, struct str integration_id,
                                        struct str provider, int64_t now,
                                        struct integration_verify *out);
void integration_verify_wipe(struct integration_verify *v);

/*
 * The lookup cache. integrations_lookup with a cache first looks there: an
 * entry filled at most INTEGRATIONS_CACHE_TTL_S seconds ago is copied out
 * (the previous secret only while its grace lasts), else the integration is
 * read and unsealed as without a cache and the result kept. What it holds
 * is what the webhook path decrypts anyway, for seconds instead of one
 * request: in memory locked against swapping and left out of core dumps
 * (best effort: a refusal is logged once), wiped when replaced or freed.
 * Only found, enabled integrations are kept, INTEGRATIONS_CACHE_SLOTS at
 * most (an integration takes the slot its id hashes to).
 *
 * Freshness: every change of an integration in this process (rotation,
 * signing secret, disable, enable, delete) makes every entry stale at once.
 * A change made by another process — a second server on the same
 * PostgreSQL database, or a command such as tenant shredding — is seen
 * within INTEGRATIONS_CACHE_TTL_S. A caller whose verification fails with
 * a cached entry calls integrations_cache_forget and looks up again, so a
 * secret rotated elsewhere is accepted at once.
 *
 * Thread-safety: one cache serves every thread.
 */
MUST_CHECK enum err integrations_cache_new(struct integrations_cache **out);
void integrations_cache_free(struct integrations_cache *c);
/* Drops the entry of integration id, if any. NULL c is a no-op. */
void integrations_cache_forget(struct integrations_cache *c, const char *id);
/* Whether the last successful lookup of out came from the cache. */
bool integrations_cache_hit(const struct integration_verify *out);

#endif
