/*
 * outbound — webhooks shiplog sends to its users, signed with Standard
 * Webhooks (W3; docs/OUTBOUND.md).
 *
 * A tenant registers endpoints (a URL and a description); each gets a signing
 * secret "whsec_" + base64 of OUTBOUND_SECRET_BYTES random bytes, shown once
 * (by create and rotate) and stored only as an envelope of secrets_seal
 * (purpose OUTBOUND_PURPOSE_SECRET, record id = the endpoint id).
 *
 * An event (outbound_enqueue, called in the write transaction of the change
 * that caused it) becomes one message per enabled endpoint: the payload
 * {"type":…,"timestamp":"RFC 3339","data":…} is fixed at that moment and its
 * exact bytes are sent by every attempt, with the headers
 *   webhook-id:        the message id, "msg_" + 32 hex digits (the same every attempt)
 *   webhook-timestamp: the attempt's Unix seconds
 *   webhook-signature: "v1," + base64 HMAC-SHA256(key = the secret's bytes after "whsec_",
 *                      "<id>.<timestamp>.<payload>")
 * Each message has a job (jobs/jobs.h, kind OUTBOUND_JOB_KIND): its prepare
 * step POSTs through net/httpc.h outside any write transaction (the secret
 * unsealed into a buffer wiped right after signing), its apply records the
 * delivery; a failure is recorded by the fail hook and retried by the job
 * queue's backoff (JOBS_BACKOFF_BASE_S doubling, JOBS_MAX_ATTEMPTS attempts),
 * then the message is dead. A 2xx answer is a delivery; anything else,
 * a timeout or a refused address is a failed attempt. An address the policy
 * refuses, or a message whose endpoint is disabled, dies at once.
 *
 * Every endpoint change is one write transaction with its audit event
 * ("outbound.endpoint_created", ".endpoint_secret_rotated", ".endpoint_disabled",
 * ".endpoint_enabled", ".endpoint_deleted"),
 * never holding a secret. Another tenant's id, like an unknown one, is ERR_NOT_FOUND.
 * Times are Unix seconds passed by the caller. Thread-safe.
 */
#ifndef SHIPLOG_OUTBOUND_OUTBOUND_H
#define SHIPLOG_OUTBOUND_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"
#include "jobs/jobs.h"
#include "net/httpc.h"
#include "secrets/secrets.h"
#include "storage/storage.h"

#define OUTBOUND_ID_LEN          36            /* an endpoint id: a canonical lower-case UUID */
#define OUTBOUND_MSG_ID_LEN      36            /* "msg_" + 32 hex digits */
#define OUTBOUND_MAX_URL         HTTPC_MAX_URL /* bytes of an endpoint URL */
#define OUTBOUND_MAX_DESCRIPTION 1000          /* bytes of a description */
#define OUTBOUND_MAX_PER_TENANT  20            /* endpoints one tenant may have */
#define OUTBOUND_MAX_EVENT_TYPE  128           /* bytes of an event type, [a-z0-9._-] */
#define OUTBOUND_MAX_DATA        (256 * 1024)  /* bytes of an event's data JSON */
#define OUTBOUND_MAX_PAYLOAD     (OUTBOUND_MAX_DATA + 512) /* the data with its envelope */
#define OUTBOUND_SECRET_BYTES    32                        /* random bytes of a signing secret */
#define OUTBOUND_MAX_SECRET      94 /* characters of a secret's text: "whsec_" + base64 of 64 bytes */
#define OUTBOUND_SECRET_PREFIX   "whsec_"
#define OUTBOUND_PURPOSE_SECRET  "outbound.secret"
#define OUTBOUND_JOB_KIND        "outbound.deliver"
#define OUTBOUND_TIMEOUT_MS      10000L         /* one attempt, connect included */
#define OUTBOUND_MAX_RESPONSE    (64 * 1024)    /* response bytes read (and dropped) */
#define OUTBOUND_MAX_ERROR       200            /* bytes of a last_error kept */
#define OUTBOUND_SIGNATURE_LEN   47             /* "v1," + base64 of 32 bytes */
#define OUTBOUND_LOG_PAGE        50             /* messages a log page holds */
#define OUTBOUND_TEST_EVENT      "webhook.test" /* the event outbound_send_test sends */
#define OUTBOUND_REASON_FULL     "the organization has as many endpoints as it can hold"

/* What an endpoint is, without its secret. */
struct outbound_endpoint {
    char id[OUTBOUND_ID_LEN + 1];
    char url[OUTBOUND_MAX_URL + 1];
    char description[OUTBOUND_MAX_DESCRIPTION + 1];
    char secret_hint[SECRETS_HINT_SIZE];
    char created_by[OUTBOUND_ID_LEN + 1];
    int64_t created_at, rotated_at, disabled_at; /* 0 = never */
};

/* A secret shown once; wipe it with outbound_secret_wipe as soon as it is sent. */
struct outbound_secret {
    char text[OUTBOUND_MAX_SECRET + 1];
};
void outbound_secret_wipe(struct outbound_secret *s);

/* Who makes a change, for created_by and the audit event. key_id NULL: a person. */
struct outbound_actor {
    const char *user_id;    /* a canonical UUID */
    const char *key_id;     /* the API key acting, or NULL */
    const char *client_ip;  /* NULL = "" */
    const char *request_id; /* NULL = "" */
};

/*
 * Registers an endpoint of t for url (checked with httpc_url_check under
 * policy: http(s), no userinfo, no literal address the policy refuses) with a
 * new secret (into *secret, once). ERR_INVALID / ERR_LIMIT / ERR_FORBIDDEN
 * with *reason (naming the field: "url …" or "description …") for a refused
 * field; ERR_LIMIT with *reason OUTBOUND_REASON_FULL at OUTBOUND_MAX_PER_TENANT;
 * ERR_NOT_FOUND when t has no data key; storage and secrets errors as they
 * come. Records "outbound.endpoint_created".
 */
MUST_CHECK enum err outbound_endpoint_create(struct storage *db, struct secrets *sec,
                                             const struct tenant_ctx *t,
                                             const struct outbound_actor *who,
                                             const struct httpc_policy *policy, struct str url,
                                             struct str description, int64_t now,
                                             struct outbound_endpoint *out,
                                             struct outbound_secret *secret, const char **reason);

/* One endpoint of t. ERR_NOT_FOUND for an unknown id, another tenant's or a malformed one. */
MUST_CHECK enum err outbound_endpoint_get(struct storage *db, const struct tenant_ctx *t,
                                          struct str id, struct outbound_endpoint *out);

/* t's endpoints, oldest first, into out[0..OUTBOUND_MAX_PER_TENANT); *n the count. */
MUST_CHECK enum err outbound_endpoint_list(struct storage *db, const struct tenant_ctx *t,
                                           struct outbound_endpoint *out, size_t *n);

/*
 * A new secret for endpoint id (into *secret, once), replacing the old one at
 * once: attempts from now on are signed with it. out (may be NULL) gets the
 * endpoint after. Records "outbound.endpoint_secret_rotated".
 */
MUST_CHECK enum err outbound_endpoint_rotate(struct storage *db, struct secrets *sec,
                                             const struct tenant_ctx *t,
                                             const struct outbound_actor *who, struct str id,
                                             int64_t now, struct outbound_endpoint *out,
                                             struct outbound_secret *secret);

/*
 * Disables (no new messages; queued ones die at their next attempt) or enables
 * endpoint id again; "outbound.endpoint_disabled" / "outbound.endpoint_enabled".
 * Disabling a disabled endpoint keeps its first disabled_at. out (may be NULL)
 * gets the endpoint after. ERR_NOT_FOUND for an unknown id or another tenant's.
 */
MUST_CHECK enum err outbound_endpoint_set_disabled(struct storage *db, const struct tenant_ctx *t,
                                                   const struct outbound_actor *who, struct str id,
                                                   bool disabled, int64_t now,
                                                   struct outbound_endpoint *out);

/* Deletes the endpoint with its delivery log; "outbound.endpoint_deleted". */
MUST_CHECK enum err outbound_endpoint_delete(struct storage *db, const struct tenant_ctx *t,
                                             const struct outbound_actor *who, struct str id);

/*
 * The event the lead's publishing path calls, inside its write transaction tx
 * (TX_WRITE of the tenant the event belongs to): for each enabled endpoint of
 * that tenant, a message with the payload {"type":event_type,"timestamp":now as
 * RFC 3339 UTC,"data":data_json} and a job delivering it, due now. Call
 * jobs_runner_notify after the commit to start at once. ERR_INVALID for an
 * event type that is empty or not [a-z0-9._-], or data_json that is not one
 * JSON value; ERR_LIMIT past OUTBOUND_MAX_EVENT_TYPE or OUTBOUND_MAX_DATA;
 * storage errors otherwise (tx is then failed). No endpoint: ERR_OK, nothing
 * written.
 */
MUST_CHECK enum err outbound_enqueue(struct tx *tx, struct str event_type, struct str data_json,
                                     int64_t now);

/*
 * A test event (OUTBOUND_TEST_EVENT, data {"endpoint_id":…}) to endpoint id of
 * t only, queued as any message is ("Send test event": what users try an
 * endpoint with). msg_id_out (may be NULL) gets the message id. ERR_NOT_FOUND
 * for an unknown id; ERR_CONFLICT for a disabled endpoint.
 */
MUST_CHECK enum err outbound_send_test(struct storage *db, const struct tenant_ctx *t,
                                       struct str id, int64_t now,
                                       char msg_id_out[OUTBOUND_MSG_ID_LEN + 1]);

/* ---- the delivery log --------------------------------------------------------------- */

enum outbound_status {
    OUTBOUND_PENDING,
    OUTBOUND_DELIVERED,
    OUTBOUND_FAILED, /* an attempt failed; another follows at next_attempt_at */
    OUTBOUND_DEAD,   /* no attempt follows */
};
const char *outbound_status_name(enum outbound_status s);

#define OUTBOUND_MAX_ATTEMPTS_SHOWN JOBS_MAX_ATTEMPTS

struct outbound_attempt {
    int attempt; /* from 1 */
    int64_t at;
    bool delivered;
    long http_status; /* 0: none arrived */
    char error[OUTBOUND_MAX_ERROR + 1];
    int64_t latency_ms;
};

struct outbound_message {
    char id[OUTBOUND_MSG_ID_LEN + 1];
    char endpoint_id[OUTBOUND_ID_LEN + 1];
    char event_type[OUTBOUND_MAX_EVENT_TYPE + 1];
    enum outbound_status status;
    int attempts;
    long last_status; /* 0: none */
    char last_error[OUTBOUND_MAX_ERROR + 1];
    int64_t next_attempt_at; /* 0 unless failed */
    int64_t created_at, delivered_at;
    size_t payload_len;
    struct outbound_attempt tries[OUTBOUND_MAX_ATTEMPTS_SHOWN]; /* the first n_tries attempts */
    size_t n_tries;
};

/*
 * The newest OUTBOUND_LOG_PAGE messages of endpoint id of t, newest first,
 * older than message id before (STR_NULL: from the newest), with their
 * attempts, into out (OUTBOUND_LOG_PAGE entries). ERR_NOT_FOUND for an
 * unknown endpoint; ERR_INVALID for a malformed before.
 */
MUST_CHECK enum err outbound_log(struct storage *db, const struct tenant_ctx *t, struct str id,
                                 struct str before, struct outbound_message *out, size_t *n);

/* The payload of message msg_id of t as sent, into out (OUTBOUND_MAX_PAYLOAD). */
MUST_CHECK enum err outbound_payload(struct storage *db, const struct tenant_ctx *t,
                                     struct str msg_id, struct buf *out);

/* ---- signing -------------------------------------------------------------------------- */

/*
 * The Standard Webhooks signature "v1,<base64>" of (msg_id, timestamp, payload)
 * under secret ("whsec_" + base64 of the key) and a NUL into out.
 * ERR_INVALID for a secret without the prefix, not base64 or shorter than 24
 * key bytes, an empty msg_id or one with '.', a negative timestamp; ERR_LIMIT
 * for a secret over OUTBOUND_MAX_SECRET.
 */
MUST_CHECK enum err outbound_sign(struct str secret, struct str msg_id, int64_t timestamp,
                                  struct str payload, char out[OUTBOUND_SIGNATURE_LEN + 1]);

/* ---- delivery (the job runner) ------------------------------------------------------- */

/*
 * What the delivery handler needs; set outbound_job_deliver's copy's arg to
 * one (it must outlive the runner). An arg of NULL fails every attempt.
 */
struct outbound_runtime {
    struct secrets *secrets;
    struct httpc_policy policy; /* the operator's (SHIPLOG_OUTBOUND_ALLOW_PRIVATE) */
    long timeout_ms;            /* 0: OUTBOUND_TIMEOUT_MS */
    long batch_budget_ms;       /* 0: OUTBOUND_BATCH_BUDGET_MS (see there) */
};

/*
 * The runner claims up to JOBS_CLAIM_BATCH jobs at once, leased for JOBS_LEASE_S, and
 * prepares them one after the other: 32 receivers that each time out would outlast the
 * lease, and another runner would send the last ones a second time. So a runner thread
 * sends the jobs of one claim for at most this long; the rest fail this attempt as
 * "postponed" (retried with the usual backoff) without being sent.
 */
#define OUTBOUND_BATCH_BUDGET_MS ((JOBS_LEASE_S - 60) * 1000L - 2 * OUTBOUND_TIMEOUT_MS)

/* The delivery job's handler (prepare, apply, release, fail), .arg NULL: copy it and set arg. */
extern const struct jobs_handler outbound_job_deliver;

#endif
