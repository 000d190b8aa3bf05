/*
 * secrets — tenant secrets encrypted at rest, per-tenant data keys, key
 * rotation and crypto-shredding (C1–C5). docs/KEYS.md is the full picture.
 *
 * Key hierarchy:
 *   master key (keyring)  --HKDF "shiplog/v1/kek"-->  KEK
 *   KEK wraps each tenant's data key (DEK, 32 random bytes) in the key vault
 *   DEK  --HKDF salt = tenant id, info "shiplog/v1/field/<purpose>"-->  purpose key
 *   purpose key seals a field into an envelope (crypto/aead.h)
 *
 * The vault (tenant_keys) is a separate storage from the data, so a backup of
 * the main database never holds a data key; deleting a tenant's vault rows
 * makes every envelope of that tenant unreadable, in every copy of the data.
 *
 * Every AAD is a fixed label followed by length-prefixed components (4-byte
 * big-endian length, then the bytes), so no two (tenant, purpose, record id)
 * tuples share an AAD and an envelope moved to another row, purpose or tenant
 * fails with ERR_CRYPTO:
 *   wrapped DEK:  "shiplog/v1/dek"   | tenant id | dek id (16 hex)
 *   field:        "shiplog/v1/field" | tenant id | purpose | record id
 *
 * Keys exist in memory only for the duration of one call and are wiped before
 * it returns; plaintext handed to a secret_use() callback is wiped after it.
 *
 * Thread-safety: a struct secrets is read-only after secrets_open and may be
 * shared by threads; the storages it borrows are thread-safe themselves.
 */
#ifndef SHIPLOG_SECRETS_SECRETS_H
#define SHIPLOG_SECRETS_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "crypto/aead.h"
#include "crypto/keyring.h"
#include "storage/storage.h"

#define SECRETS_DEK_LEN         AEAD_KEY_LEN       /* bytes of a tenant data key */
#define SECRETS_DEK_ID_LEN      16                 /* hex digits of a data key id */
#define SECRETS_MAX_PURPOSE     64                 /* bytes, [a-z0-9_.-]+ */
#define SECRETS_MAX_RECORD_ID   256                /* bytes of a record id (any byte but NUL) */
#define SECRETS_MAX_NAME        128                /* bytes, [A-Za-z0-9_.:/-]+ */
#define SECRETS_MAX_VALUE       ENVELOPE_MAX_PLAIN /* bytes of a secret value */
#define SECRETS_MAX_ENVELOPE    (SECRETS_MAX_VALUE + ENVELOPE_OVERHEAD)
#define SECRETS_MAX_TENANT_KEYS 64 /* data keys one tenant may have */
#define SECRETS_HINT_CHARS      4  /* characters a hint shows (C3) */
#define SECRETS_HINT_MIN_LEN    12 /* values shorter than this get an empty hint */
#define SECRETS_HINT_SIZE       (SECRETS_HINT_CHARS + 1) /* hint buffer incl. NUL */
#define SECRETS_STATUS_MAX_KEYS 32 /* distinct master key ids secrets_status reports */

struct secrets;

/* Who performs a change, for the audit event it records. NULL fields = "". */
struct secrets_actor {
    enum audit_actor type;
    const char *id;
    const char *client_ip;
    const char *request_id;
};

/*
 * Creates a context over the main storage (tenant_secrets, audit trail), the
 * key vault storage (tenant_keys) and a copy of ring (wiped by
 * secrets_close). The storages are borrowed and must outlive the context.
 * ERR_INVALID for a missing storage or an empty ring.
 */
MUST_CHECK enum err secrets_open(struct storage *main_db, struct storage *vault,
                                 const struct keyring *ring, struct secrets **out);
void secrets_close(struct secrets *s);

/*
 * Gives tenant t a random data key wrapped under the current master key, if
 * it has none yet (idempotent: ERR_OK when one exists). Called when a tenant
 * is created.
 */
MUST_CHECK enum err secrets_tenant_key_create(struct secrets *s, const struct tenant_ctx *t);

/*
 * Seals plaintext for (t, purpose, record_id) with t's newest data key and
 * appends the envelope to out. ERR_INVALID / ERR_LIMIT for a bad or over-long
 * purpose, record id or plaintext (1..SECRETS_MAX_VALUE bytes); ERR_NOT_FOUND
 * when t has no data key (never created, or shredded); ERR_CRYPTO when the
 * data key cannot be unwrapped with the ring.
 */
MUST_CHECK enum err secrets_seal(struct secrets *s, const struct tenant_ctx *t, struct str purpose,
                                 struct str record_id, const void *pt, size_t pt_len,
                                 struct buf *out);

/*
 * Opens an envelope made by secrets_seal for the same (t, purpose,
 * record_id); appends the plaintext to out, which the caller must buf_wipe.
 * ERR_CRYPTO when anything does not match or the data key is gone (shredded,
 * or wrapped by a master key no longer in the ring); ERR_INVALID for
 * malformed input; storage errors as they come.
 */
MUST_CHECK enum err secrets_unseal(struct secrets *s, const struct tenant_ctx *t,
                                   struct str purpose, struct str record_id, const void *env,
                                   size_t env_len, struct buf *out);

/* ---- the generic tenant secret store (table tenant_secrets) ------------- */

/*
 * Stores (or replaces) secret name of tenant t, sealed for purpose with record
 * id "tenant_secrets/<name>", and its hint (the last SECRETS_HINT_CHARS
 * characters when the value is printable ASCII of at least
 * SECRETS_HINT_MIN_LEN bytes, else empty). Records audit event
 * "secret.written" (name and purpose only) in the same transaction. hint_out
 * may be NULL. Errors as secrets_seal, plus ERR_INVALID / ERR_LIMIT for name.
 */
MUST_CHECK enum err secret_put(struct secrets *s, const struct tenant_ctx *t, struct str name,
                               struct str purpose, struct str value,
                               const struct secrets_actor *actor, char hint_out[SECRETS_HINT_SIZE]);

/*
 * Decrypts secret name of tenant t and calls fn with the plaintext, which is
 * wiped as soon as fn returns; fn must not keep the view. Returns fn's
 * result, or ERR_NOT_FOUND (no such secret), ERR_CRYPTO (unreadable).
 */
MUST_CHECK enum err secret_use(struct secrets *s, const struct tenant_ctx *t, struct str name,
                               enum err (*fn)(void *arg, struct str plaintext), void *arg);

/* The stored hint of secret name (never the value). ERR_NOT_FOUND if none. */
MUST_CHECK enum err secret_hint(struct secrets *s, const struct tenant_ctx *t, struct str name,
                                char hint_out[SECRETS_HINT_SIZE]);

/*
 * Tries to decrypt every secret of t (or only name, when name.ptr is not
 * NULL) and reports each to fn with ERR_OK or the reason it cannot be read
 * (ERR_CRYPTO: key gone or data altered). The plaintext never leaves this
 * function. Returns ERR_NOT_FOUND when name is given and absent, a storage
 * error, or the first error fn returns.
 */
MUST_CHECK enum err secret_check(struct secrets *s, const struct tenant_ctx *t, struct str name,
                                 enum err (*fn)(void *arg, const char *name, const char *hint,
                                                enum err result),
                                 void *arg);

/* ---- maintenance (main storage opened with storage_open_migrator) -------- */

struct secrets_rotate_result {
    uint64_t tenants;     /* tenants visited */
    uint64_t rewrapped;   /* data keys re-wrapped under the current key by this run */
    uint64_t current;     /* data keys that already were */
    uint64_t unknown_key; /* data keys wrapped by a master key not in the ring (left alone) */
    uint64_t failed;      /* tenants whose transaction failed (left as they were) */
};

/*
 * Re-wraps every tenant data key under the current master key: per tenant of
 * the main database, one vault transaction unwraps each key with the ring key
 * named by its master_key_id, wraps it under the current one and records
 * rewrapped_at; then an audit event "keys.rewrapped" in that tenant's chain.
 * Field envelopes do not change (they name the data key, not the master key),
 * so the server keeps serving throughout. Idempotent. ERR_CRYPTO when any key
 * could not be re-wrapped (counts say why); ERR_FORBIDDEN when the main
 * storage is not a maintenance one.
 */
MUST_CHECK enum err secrets_rotate(struct secrets *s, const struct secrets_actor *actor,
                                   struct secrets_rotate_result *out);

struct secrets_key_count {
    char master_key_id[MASTER_KEY_ID_LEN + 1];
    uint64_t data_keys;
    bool current; /* the ring's current key */
    bool in_ring; /* known to this process */
};

struct secrets_status {
    struct secrets_key_count keys[SECRETS_STATUS_MAX_KEYS]; /* one per master key id seen */
    size_t n_keys;
    uint64_t tenants;             /* tenants in the main database */
    uint64_t tenants_without_key; /* no data key at all (shredded or never created) */
    uint64_t tenants_stale;       /* hold a key not wrapped by the current master key */
    bool ready;                   /* every data key is wrapped by the current key */
};

/*
 * Counts data keys per wrapping master key, over the tenants of the main
 * database. stale (may be NULL) is called with each tenant that still holds a
 * key wrapped by another master key. ERR_LIMIT past SECRETS_STATUS_MAX_KEYS
 * distinct master keys.
 */
MUST_CHECK enum err secrets_status(struct secrets *s, struct secrets_status *out,
                                   void (*stale)(void *arg, const char *tenant_id,
                                                 const char *master_key_id),
                                   void *arg);

/*
 * Crypto-shredding (C4): overwrites, then deletes every vault row of tenant t,
 * so every envelope of t — in the live database and in any backup of it —
 * becomes unreadable; then records audit event "tenant.keys_shredded" in t's
 * chain in the main database. destroyed (may be NULL) gets the number of data
 * keys removed. Idempotent (a second run destroys 0 and records again).
 */
MUST_CHECK enum err secrets_shred_tenant(struct secrets *s, const struct tenant_ctx *t,
                                         const struct secrets_actor *actor, uint64_t *destroyed);

/*
 * Deletes t's data keys without an audit event: only to undo
 * secrets_tenant_key_create when creating the tenant itself failed.
 */
MUST_CHECK enum err secrets_tenant_key_discard(struct secrets *s, const struct tenant_ctx *t);

/* Input checks, exposed for the CLI and the API: ERR_INVALID or ERR_LIMIT. */
MUST_CHECK enum err secrets_check_purpose(struct str purpose);
MUST_CHECK enum err secrets_check_name(struct str name);

/* The hint secret_put stores for value (see there). */
void secrets_hint_of(struct str value, char hint_out[SECRETS_HINT_SIZE]);

#endif
