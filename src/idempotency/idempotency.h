/*
 * idempotency — the storage half of Idempotency-Key on POST (H7).
 *
 * A client that sends `Idempotency-Key: <key>` with a POST may retry it
 * safely: the first request runs, its response is kept per (tenant,
 * principal, key) for IDEM_TTL_S, and a retry gets that response again
 * instead of running the handler a second time.
 *
 * How the HTTP pipeline uses it
 * -----------------------------
 * After authentication, the permission check, rate limiting and body
 * parsing / schema validation (so refusals of the pipeline itself never touch
 * a key), right before the handler:
 *
 *     struct idem_request r = {principal, key, method, path, query, body};
 *     struct idem_claim claim;
 *     struct idem_response replay;
 *     enum idem_outcome o;
 *     e = idem_begin(db, tenant, &r, now, &o, &claim, &replay);
 *     e != ERR_OK             -> answer e (ERR_INVALID / ERR_LIMIT: 400 for a
 *                                malformed or over-long key; storage errors 503);
 *                                never run the handler without the key
 *     o == IDEM_PROCEED       -> run the handler, then
 *                                idem_complete(db, tenant, &r, &claim, &resp, now)
 *                                (a handler that produced no response at all:
 *                                idem_release(db, tenant, &r, &claim))
 *     o == IDEM_REPLAY        -> answer replay.status / content_type / location /
 *                                body, plus `Idempotent-Replayed: true`; then
 *                                idem_response_release(&replay)
 *     o == IDEM_MISMATCH      -> 422 (ERR_UNPROCESSABLE): the key was used for a
 *                                different request
 *     o == IDEM_IN_PROGRESS   -> 409 (ERR_CONFLICT): the first request is still
 *                                running; retry later
 *
 * idem_begin and idem_complete each run in their own short write transaction
 * of `db`. Call them while holding no other transaction of the same storage
 * (on SQLite there is one writer: a thread that holds a write transaction and
 * calls idem_begin waits for itself until the busy timeout).
 *
 * Decisions
 * ---------
 *  - The key is scoped to (tenant, principal, key): another tenant, or
 *    another user or API key of the same tenant, with the same key string is
 *    a different key and never sees this one's response.
 *  - Fingerprint: SHA-256 over method, path, query and request body, each
 *    framed with its length (so no two different requests share an input),
 *    under a version tag. Same key + different fingerprint is IDEM_MISMATCH,
 *    whatever the state of the first request (a client bug either way).
 *    Headers are not part of it.
 *  - What is stored: status, Content-Type, Location and the body (at most
 *    IDEM_MAX_BODY bytes). Nothing else: the pipeline adds the per-response
 *    headers (X-Request-Id, RateLimit-*, security headers, ...) afresh to a
 *    replay, and Set-Cookie is never stored or replayed — a cookie belongs to
 *    the moment it was issued (session rotation, CSRF tokens), and a replay
 *    must never hand out credentials.
 *  - Which responses are kept (idem_status_stored): every response of a
 *    handler that ran, 2xx, 3xx and 4xx alike — a 404, 409 or 422 from the
 *    handler is the answer about the state it saw, and SPEC H7 stores "the
 *    first response". Not kept, the key released instead so the client can
 *    retry: 5xx (a handler runs in one transaction, so a server error means
 *    its change rolled back — the retry is what a client does after a 503),
 *    408 and 429 (refused before doing anything).
 *  - A response that cannot be stored (body over IDEM_MAX_BODY, Content-Type
 *    or Location over their limits or holding a control character, status
 *    outside 200..599) releases the key and idem_complete returns
 *    ERR_LIMIT / ERR_INVALID. A retry then runs the handler again: we cannot
 *    replay what we did not keep, and a key stuck in "in progress" would
 *    leave the client nothing to do for IDEM_TTL_S. shiplog's JSON responses
 *    stay far below the limit; the caller should log this case.
 *  - Expiry: a key lives IDEM_TTL_S from its first request (not from the
 *    completion). After that the row counts as absent: a new request with the
 *    key PROCEEDs (and replaces it), whatever its fingerprint. idem_purge /
 *    idem_cleanup delete such rows; nobody depends on them doing so.
 *  - Takeover: an in-progress row older than IDEM_IN_PROGRESS_STALE_S belongs
 *    to a server that crashed or hung (a request runs for seconds at most),
 *    so a new request with the same fingerprint takes it over (PROCEED, a new
 *    claim). If the old handler was merely slow and finishes later, its
 *    idem_complete finds its claim gone and returns ERR_CONFLICT without
 *    storing anything.
 *  - Concurrency: (tenant_id, principal, idem_key) is the table's primary
 *    key, and idem_begin inserts-or-detects in one write transaction (INSERT
 *    ... ON CONFLICT DO NOTHING, then the row read back; PostgreSQL: locked
 *    with FOR UPDATE), so of concurrent first requests exactly one PROCEEDs
 *    and the others see IDEM_IN_PROGRESS (or IDEM_MISMATCH).
 *  - Tenants: every statement is bound to the request's tenant; on
 *    PostgreSQL the table has FORCE ROW LEVEL SECURITY (migration 0009). The
 *    row references tenants(id) ON DELETE CASCADE, so deleting a tenant
 *    deletes its stored responses (ERR_CONFLICT from idem_begin for a tenant
 *    id that has no tenants row).
 *  - All times are Unix seconds passed by the caller (no clock in SQL), so
 *    tests move time without sleeping.
 *
 * Thread-safety: every function may be called from any thread with a shared
 * struct storage; the structs passed in belong to the caller.
 */
#ifndef SHIPLOG_IDEMPOTENCY_IDEMPOTENCY_H
#define SHIPLOG_IDEMPOTENCY_IDEMPOTENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"
#include "storage/storage.h"

#define IDEM_MAX_KEY             255   /* bytes of an Idempotency-Key value, visible ASCII */
#define IDEM_MAX_PRINCIPAL       128   /* bytes of the principal string, visible ASCII */
#define IDEM_MAX_METHOD          16    /* bytes of the request method, visible ASCII */
#define IDEM_MAX_PATH            8192  /* bytes of the request path (any bytes; hashed only) */
#define IDEM_MAX_QUERY           8192  /* bytes of the query string (any bytes; hashed only) */
#define IDEM_MAX_BODY            65536 /* bytes of a stored response body */
#define IDEM_MAX_CONTENT_TYPE    255   /* bytes of a stored Content-Type */
#define IDEM_MAX_LOCATION        2048  /* bytes of a stored Location */
#define IDEM_TTL_S               86400 /* a key and its response live this long (24 h) */
#define IDEM_IN_PROGRESS_STALE_S 300   /* an in-progress key older than this may be taken over */
#define IDEM_CLAIM_LEN           32    /* hex digits of a claim token (16 random bytes) */
#define IDEM_CLEANUP_BATCH       100   /* tenants one idem_cleanup directory query lists */

enum idem_outcome {
    IDEM_PROCEED,     /* run the handler; *claim is ours until complete or release */
    IDEM_REPLAY,      /* a finished request with the same fingerprint: *replay holds it */
    IDEM_MISMATCH,    /* the key was used for a different request: 422 */
    IDEM_IN_PROGRESS, /* the first request with the key is still running: 409 */
};

/*
 * One request, as views into the caller's memory (not copied beyond the
 * call). principal is opaque to this module ("user:<uuid>", "apikey:<id>",
 * ...), chosen by the caller so that two principals never share a string.
 * path is the request path, query the query string without '?' (empty when
 * none); body the raw request body (hashed only, never stored; its size is
 * bounded by the HTTP layer's SHIPLOG_MAX_BODY_BYTES).
 */
struct idem_request {
    struct str principal; /* 1..IDEM_MAX_PRINCIPAL bytes, 0x21..0x7e */
    struct str key;       /* 1..IDEM_MAX_KEY bytes, 0x21..0x7e */
    struct str method;    /* 1..IDEM_MAX_METHOD bytes, 0x21..0x7e */
    struct str path;      /* 0..IDEM_MAX_PATH bytes */
    struct str query;     /* 0..IDEM_MAX_QUERY bytes */
    struct str body;      /* any length; ptr may be NULL when len is 0 */
};

/*
 * Proof that this request holds the key: filled by idem_begin on
 * IDEM_PROCEED, handed back to idem_complete / idem_release. A takeover gives
 * the new request a new claim, so an old handler can no longer write.
 */
struct idem_claim {
    char token[IDEM_CLAIM_LEN + 1];
};

/*
 * A response. As input to idem_complete: views into the caller's memory
 * (copied into the database); content_type / location with len 0 mean the
 * header is absent; mem is ignored. As the replay filled by idem_begin: the
 * views point into one allocation (mem) owned by the struct, and
 * content_type.ptr / location.ptr are also NUL-terminated (empty strings
 * when absent), ready for http_resp_header / http_resp_body; free it with
 * idem_response_release.
 */
struct idem_response {
    int status;              /* 200..599 */
    struct str content_type; /* 0..IDEM_MAX_CONTENT_TYPE bytes, 0x20..0x7e */
    struct str location;     /* 0..IDEM_MAX_LOCATION bytes, 0x20..0x7e */
    struct str body;         /* 0..IDEM_MAX_BODY bytes, any bytes */
    void *mem;               /* replay only: the allocation the views point into */
};

/*
 * Looks up (t, r->principal, r->key) at time now and decides, in one write
 * transaction:
 *  - no row, or a row past IDEM_TTL_S: records the key in progress with r's
 *    fingerprint -> IDEM_PROCEED, *claim filled;
 *  - a row with another fingerprint -> IDEM_MISMATCH;
 *  - in progress for less than IDEM_IN_PROGRESS_STALE_S -> IDEM_IN_PROGRESS;
 *  - in progress for longer (stale): taken over -> IDEM_PROCEED, new *claim;
 *  - finished -> IDEM_REPLAY, *replay filled (free with idem_response_release).
 * *out, *claim and *replay are always initialised (zeroed unless filled), so
 * idem_response_release(replay) is safe after any return.
 * Errors: ERR_INVALID when principal, key or method is empty or holds a byte
 * outside 0x21..0x7e; ERR_LIMIT when principal, key, method, path or query is
 * over its IDEM_MAX_* (checked before any database access); storage errors.
 */
MUST_CHECK enum err idem_begin(struct storage *db, const struct tenant_ctx *t,
                               const struct idem_request *r, int64_t now, enum idem_outcome *out,
                               struct idem_claim *claim, struct idem_response *replay);

/*
 * Records the handler's response for a key this request holds (claim from
 * idem_begin) when idem_status_stored(resp->status), so retries replay it;
 * otherwise releases the key (as idem_release) and returns ERR_OK.
 * A response that cannot be stored (see the limits on struct idem_response;
 * ERR_LIMIT for a size, ERR_INVALID for a control character or a status
 * outside 200..599) releases the key and returns that error. ERR_CONFLICT
 * when the claim no longer holds the key (taken over after
 * IDEM_IN_PROGRESS_STALE_S, released, or purged): nothing is stored.
 * ERR_INVALID / ERR_LIMIT for r or claim as in idem_begin (no database
 * access); storage errors otherwise (the key then stays in progress until it
 * goes stale).
 */
MUST_CHECK enum err idem_complete(struct storage *db, const struct tenant_ctx *t,
                                  const struct idem_request *r, const struct idem_claim *claim,
                                  const struct idem_response *resp, int64_t now);

/*
 * Forgets a key this request holds in progress, so the client can retry it
 * (the handler failed before producing a response worth keeping). ERR_OK
 * also when the claim no longer holds the key (nothing is deleted then: the
 * key is someone else's). ERR_INVALID / ERR_LIMIT for r or claim as in
 * idem_complete; storage errors.
 */
MUST_CHECK enum err idem_release(struct storage *db, const struct tenant_ctx *t,
                                 const struct idem_request *r, const struct idem_claim *claim);

/* True when idem_complete keeps a response with this status (see Decisions). */
bool idem_status_stored(int status);

/* Frees a replay's memory and zeroes *resp. NULL and zeroed structs are no-ops. */
void idem_response_release(struct idem_response *resp);

/*
 * Deletes t's keys created at or before now - IDEM_TTL_S (finished or not);
 * *deleted gets how many. Storage errors.
 */
MUST_CHECK enum err idem_purge(struct storage *db, const struct tenant_ctx *t, int64_t now,
                               uint64_t *deleted);

/*
 * idem_purge for every tenant that has expired keys, for a background task or
 * `shiplog admin cleanup`. Finding those tenants crosses tenants, so it is one
 * statement bound to the nil UUID, which lists tenant ids only, never content
 * (PostgreSQL: through the SECURITY DEFINER function
 * idempotency_expired_tenants of migration 0009), IDEM_CLEANUP_BATCH at a
 * time in id order; each tenant is then purged in its own ordinary tenant
 * transaction. A tenant that fails is skipped and the first error returned
 * after the others are done. *deleted gets the total.
 */
MUST_CHECK enum err idem_cleanup(struct storage *db, int64_t now, uint64_t *deleted);

/* The request fingerprint (exposed for tests): SHA-256 as 64 lower-case hex digits + NUL. */
void idem_fingerprint(const struct idem_request *r, char out[2 * 32 + 1]);

#endif
