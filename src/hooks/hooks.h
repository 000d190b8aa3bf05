/*
 * hooks — the webhook endpoint, POST /hooks/{provider}/{integration_id}
 * (I1–I4, I6, H8).
 *
 * The path of one delivery, in this order:
 *   1. find the integration (unknown, disabled, or another provider: 404);
 *   2. verify the raw body with its secrets, in constant time, before any
 *      parsing (ingest/verify.h). A failure is 401 `invalid_signature`, the
 *      same whatever failed; it is audited in the integration's tenant and
 *      counted in the webhook bucket per integration and per client IP, and
 *      once either budget is spent the failures answer 429 (without an audit
 *      event each) until the window moves on. Verified deliveries are not
 *      counted: a sender that holds the secret is never throttled here;
 *   3. take the provider's delivery id (Azure DevOps: the body's id; a
 *      delivery without one is keyed by the SHA-256 of its body);
 *   4. redact the body (ingest/redact.h) — nothing unredacted is ever stored;
 *   5. hand the redacted delivery and its processing job to the group-commit
 *      writer (storage/group.h) and suspend the connection (http_defer): the
 *      answer is sent only after the transaction holding both has committed.
 *      202 `accepted` with the delivery's id; 200 `duplicate` when the
 *      integration already has that delivery id (I3: nothing is stored or run
 *      again); 503 when the writer cannot take it.
 */
#ifndef SHIPLOG_HOOKS_HOOKS_H
#define SHIPLOG_HOOKS_HOOKS_H

#include "http/request.h"

/* The route handler of POST /hooks/{provider}/{integration_id}. */
enum err hooks_receive(struct http_request *req, struct http_response *resp);

#endif
