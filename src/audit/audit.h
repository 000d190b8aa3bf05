/*
 * audit — the tamper-evident audit trail (L1–L5). docs/AUDIT.md describes the
 * chain, its canonical encoding, checkpoints and how to verify an export.
 *
 * Every module records events with audit_append(), inside its own write
 * transaction, so the event commits or rolls back with the change it
 * describes. Entries of one tenant form a hash chain:
 *   hash(n) = SHA-256(hash(n-1) || canonical(entry n)),  hash(0) = 32 zero bytes
 * Appends to one tenant are serialised (PostgreSQL: the chain head row is
 * locked; SQLite: write transactions are exclusive), so the chain never forks.
 *
 * Details are redacted before they are hashed and stored: fields named like
 * secrets or personal data are dropped and token-shaped values masked, with
 * the logger's rules (core/log.h).
 */
#ifndef SHIPLOG_AUDIT_AUDIT_H
#define SHIPLOG_AUDIT_AUDIT_H

#include <stdint.h>

#include "core/log.h"
#include "crypto/hash.h"
#include "storage/storage.h"

#define AUDIT_MAX_ACTION  64  /* bytes: lower-case dotted name, e.g. "auth.signin" */
#define AUDIT_MAX_TARGET  256 /* bytes: "kind:id", e.g. "integration:3f2a..." */
#define AUDIT_MAX_ACTOR   128 /* bytes of an actor id */
#define AUDIT_MAX_DETAILS 4096 /* bytes of the canonical details JSON */

enum audit_actor {
    AUDIT_ACTOR_SYSTEM,    /* shiplog itself (jobs, start-up) */
    AUDIT_ACTOR_OPERATOR,  /* a shiplog CLI command run by the operator */
    AUDIT_ACTOR_USER,      /* a signed-in member */
    AUDIT_ACTOR_API_KEY,   /* an API key or access token */
    AUDIT_ACTOR_PROVIDER,  /* a webhook sender (GitHub, ...) */
    AUDIT_ACTOR_ANONYMOUS, /* an unauthenticated caller */
};

enum audit_outcome { AUDIT_SUCCESS, AUDIT_FAILURE, AUDIT_DENIED };

struct audit_event {
    const char *action;        /* required, [a-z0-9_.]+, <= AUDIT_MAX_ACTION */
    enum audit_actor actor;
    const char *actor_id;      /* NULL = "" */
    const char *target;        /* NULL = "" */
    enum audit_outcome outcome;
    const char *client_ip;     /* NULL = "" */
    const char *request_id;    /* NULL = "" */
    const struct log_field *details; /* NULL or a LOG_FIELDS_ list; redacted */
};

/* What an append produced. */
struct audit_ref {
    int64_t seq;                    /* 1-based position in the tenant's chain */
    unsigned char hash[SHA256_LEN]; /* the entry's chain hash */
};

/*
 * Appends ev to the chain of tx's tenant. tx must be TX_WRITE. ERR_INVALID for
 * a malformed action or an over-long field; ERR_LIMIT when the details exceed
 * AUDIT_MAX_DETAILS after redaction. out may be NULL.
 */
MUST_CHECK enum err audit_append(struct tx *tx, const struct audit_event *ev,
                                 struct audit_ref *out);

#endif
