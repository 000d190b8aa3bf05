/*
 * verify — is this webhook delivery from the sender it claims to be? (SPEC I2, B2)
 *
 * Pure functions over the raw request: the body bytes exactly as received,
 * the headers through a lookup callback, the current time and the
 * integration's verification settings. No storage, no HTTP library, no
 * allocation that outlives a call. The HTTP layer calls ingest_verify before
 * it parses anything of the body.
 *
 *     struct ingest_headers h = {my_header_get, request};
 *     const char *why = NULL;
 *     if (ingest_verify(&cfg, &h, body, now, &why) != ERR_OK) {
 *         log "webhook verification failed" with reason=why; audit; answer 401
 *     }
 *     e = ingest_delivery_id(cfg.provider, &h, &id);  (ERR_NOT_FOUND: take it from the body)
 *
 * Schemes, by provider (cfg fields a provider does not use must stay empty):
 *  - github:            X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>
 *  - bitbucket,
 *    bitbucket-server:  X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>
 *  - gitlab:            X-Gitlab-Token equal to secret; and, when signing_secret is
 *                       set, the Standard Webhooks headers as well (both required)
 *  - azure-devops:      Authorization: Basic base64(basic_user:basic_password)
 *                       and/or <header_name>: <header_value>, whichever are
 *                       configured (both when both); neither configured fails
 *  - stripe:            Stripe-Signature: t=<unix>,v1=<hex>[,v1=...] over
 *                       "<t>.<body>", key = the whole whsec_ secret as bytes
 *  - Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature =
 *                       "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" entries
 *                       separated by spaces; key = base64 after "whsec_"
 *
 * Decisions
 * ---------
 *  - One answer: every failure is ERR_UNAUTHENTICATED (401), whatever failed,
 *    including a configuration that cannot work (checked again here so a bad
 *    stored row fails closed). *reason gets a static, log-only phrase such as
 *    "signature header missing"; it never holds a header value or a secret.
 *  - Constant time: a MAC or token is computed for every candidate secret
 *    (current and, during rotation, previous) and compared against every
 *    offered signature with crypto_equal, the results OR-ed without an early
 *    exit. Tokens and passwords are compared as SHA-256 digests so neither
 *    their bytes nor their length leak. What the time may depend on is public:
 *    the body length, which headers are present and how many signatures a
 *    header offers.
 *  - Hex signatures (GitHub, Bitbucket, Stripe) are decoded and compared as
 *    bytes: upper- and lower-case hex digits are both accepted (the case
 *    carries no information; senders use lower case). The "sha256=" prefix
 *    must be exactly that, lower case.
 *  - Timestamps (Standard Webhooks, Stripe): decimal Unix seconds within
 *    INGEST_TOLERANCE_S of now either way; exactly INGEST_TOLERANCE_S passes.
 *  - A webhook-id must be visible ASCII without '.': the signed text is
 *    "id.timestamp.body", and an id holding a '.' could be re-split against a
 *    body starting with digits into another valid (id, timestamp, body).
 *  - Entries of webhook-signature with another version than "v1" (e.g. the
 *    asymmetric "v1a") and Stripe's v0 or unknown keys are ignored, but all
 *    count towards INGEST_MAX_SIGNATURES; more entries fail. A malformed v1
 *    entry matches nothing; another one may still match.
 *  - Secrets are views the caller owns and wipes. Everything derived from them
 *    here (decoded keys, decoded Basic credentials, MACs, digests) is wiped
 *    before returning.
 *  - Headers: ingest_headers.get matches names case-insensitively and returns
 *    a view valid for the call, or a view with len 0 when absent (an empty
 *    value counts as absent). A header sent twice is the HTTP layer's matter:
 *    it should refuse the request or return the first value.
 *
 * Thread-safety: all functions are reentrant; nothing here keeps state.
 */
#ifndef SHIPLOG_INGEST_VERIFY_H
#define SHIPLOG_INGEST_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"
#include "ingest/provider.h"

#define INGEST_MAX_SECRET            512 /* bytes of any configured secret, token, user or password */
#define INGEST_MAX_SIGNATURE_HEADER  2048 /* bytes of a signature header value */
#define INGEST_MAX_SIGNATURES        16   /* entries of webhook-signature / Stripe-Signature */
#define INGEST_MAX_WEBHOOK_ID        255  /* bytes of a Standard Webhooks webhook-id */
#define INGEST_MAX_TIMESTAMP         20   /* digits of a timestamp header or t= value */
#define INGEST_MAX_AUTHORIZATION     2048 /* bytes of an Azure DevOps Authorization header */
#define INGEST_MAX_AZURE_HEADER_NAME 64   /* bytes of the Azure DevOps custom header's name */
#define INGEST_MAX_DELIVERY_ID       128  /* bytes of a delivery id header value */
#define INGEST_MAX_EVENT             64   /* bytes of an event name header value */
#define INGEST_TOLERANCE_S           300  /* timestamps may be this far from now, either way */
#define INGEST_STDWH_SIGNATURE_LEN   47   /* "v1," + base64 of 32 bytes */
#define INGEST_STRIPE_SIGNATURE_MAX  96   /* "t=" + up to 20 digits + ",v1=" + 64 hex digits */

/*
 * Header lookup supplied by the caller: the value of the header `name`
 * (matched ASCII case-insensitively), or a view with len 0 when absent.
 */
struct ingest_headers {
    struct str (*get)(void *arg, const char *name);
    void *arg;
};

/*
 * A secret and, during its rotation grace period, the one it replaced.
 * previous.len == 0 means there is none. Views into the caller's memory.
 */
struct ingest_secret {
    struct str current;
    struct str previous;
};

/*
 * How an integration (or the billing endpoint) proves its deliveries.
 * Fields a provider does not use must be empty (ingest_verify_config_check).
 */
struct ingest_verify_config {
    enum ingest_provider provider;
    /*
     * github, bitbucket, bitbucket-server: the HMAC key; gitlab: the
     * X-Gitlab-Token value; stripe: the endpoint's "whsec_..." secret.
     * Required for these; empty for azure-devops.
     */
    struct ingest_secret secret;
    /* gitlab only, optional: the Standard Webhooks signing secret "whsec_<base64>". */
    struct ingest_secret signing_secret;
    /* azure-devops: Basic credentials; configured when basic_password.current is set. */
    struct str basic_user;
    struct ingest_secret basic_password;
    /* azure-devops: a custom header; configured when header_name is set. */
    struct str header_name;
    struct ingest_secret header_value;
};

/*
 * Whether cfg can be used, for the moment it is saved (the API answers 400).
 * ERR_LIMIT when a secret or user is over INGEST_MAX_SECRET or header_name over
 * INGEST_MAX_AZURE_HEADER_NAME; ERR_INVALID for an unknown provider, a
 * required secret missing, a previous without a current, a field the provider
 * does not use set, a signing secret that is not [whsec_]base64 of at least
 * one byte, a Basic user holding ':', a header name that is not an HTTP token
 * or is "Authorization", or azure-devops with neither scheme configured.
 */
MUST_CHECK enum err ingest_verify_config_check(const struct ingest_verify_config *cfg);

/*
 * Verifies one delivery: body is the raw request body (ptr may be NULL when
 * len is 0), now the current Unix time. ERR_OK when the delivery carries a
 * valid proof for one of the configured secrets; ERR_UNAUTHENTICATED otherwise,
 * for every reason. reason may be NULL; otherwise it gets a static log-only
 * phrase on failure and NULL on success.
 */
MUST_CHECK enum err ingest_verify(const struct ingest_verify_config *cfg,
                                  const struct ingest_headers *headers, struct str body,
                                  int64_t now, const char **reason);

/* ---- Standard Webhooks (https://www.standardwebhooks.com), also for outbound ---- */

/*
 * Writes the signature "v1,<base64>" of (id, timestamp, body) under secret
 * ("whsec_<base64 key>"; the prefix may be left out) and a NUL into out.
 * ERR_LIMIT for a secret over INGEST_MAX_SECRET or an id over
 * INGEST_MAX_WEBHOOK_ID; ERR_INVALID for a secret that does not decode to at
 * least one byte, an empty id or one with a byte outside 0x21..0x7e or a '.',
 * or a negative timestamp.
 */
MUST_CHECK enum err ingest_stdwh_sign(struct str secret, struct str id, int64_t timestamp,
                                      struct str body, char out[INGEST_STDWH_SIGNATURE_LEN + 1]);

/*
 * Verifies the values of webhook-id, webhook-timestamp and webhook-signature
 * for body against secret (current, and previous when set). ERR_OK or
 * ERR_UNAUTHENTICATED, with *reason (may be NULL) as for ingest_verify.
 */
MUST_CHECK enum err ingest_stdwh_verify(const struct ingest_secret *secret, struct str id,
                                        struct str timestamp, struct str signatures,
                                        struct str body, int64_t now, const char **reason);

/* ---- Stripe ---- */

/*
 * Writes a Stripe-Signature value "t=<timestamp>,v1=<hex>" for body under
 * secret (used as bytes) and a NUL into out. For tests and tools: Stripe signs,
 * shiplog verifies. ERR_LIMIT for a secret over INGEST_MAX_SECRET;
 * ERR_INVALID for an empty secret or a negative timestamp.
 */
MUST_CHECK enum err ingest_stripe_sign(struct str secret, int64_t timestamp, struct str body,
                                       char out[INGEST_STRIPE_SIGNATURE_MAX + 1]);

/* ---- what the headers say about the delivery (after ingest_verify) ---- */

/*
 * The sender's delivery id, the idempotency key of SPEC I3: GitHub
 * X-GitHub-Delivery, GitLab Idempotency-Key, Bitbucket Cloud X-Request-UUID,
 * Bitbucket Data Center X-Request-Id. *out is a view of the header value.
 * ERR_NOT_FOUND when the header is absent, and always for azure-devops and
 * stripe (the id is in the body: its "id"); ERR_LIMIT over
 * INGEST_MAX_DELIVERY_ID; ERR_INVALID for a byte outside 0x21..0x7e.
 * GitLab without Idempotency-Key (before GitLab 17.4) is ERR_NOT_FOUND too:
 * X-Gitlab-Event-UUID is not a fallback, since recursive webhooks share it
 * and distinct deliveries would then be dropped as redeliveries.
 */
MUST_CHECK enum err ingest_delivery_id(enum ingest_provider p, const struct ingest_headers *headers,
                                       struct str *out);

/*
 * The event name: GitHub X-GitHub-Event, GitLab X-Gitlab-Event, Bitbucket (both)
 * X-Event-Key. *out is a view of the header value. ERR_NOT_FOUND when absent,
 * and always for azure-devops and stripe (body fields eventType / type);
 * ERR_LIMIT over INGEST_MAX_EVENT; ERR_INVALID for a byte outside 0x20..0x7e
 * or a space at either end. Unlike delivery ids, inner spaces are allowed:
 * GitLab's event names hold them ("Push Hook", "Merge Request Hook").
 */
MUST_CHECK enum err ingest_event_name(enum ingest_provider p, const struct ingest_headers *headers,
                                      struct str *out);

#endif
