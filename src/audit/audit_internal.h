/*
 * audit_internal — what the files of src/audit share and nobody else sees.
 */
#ifndef SHIPLOG_AUDIT_AUDIT_INTERNAL_H
#define SHIPLOG_AUDIT_AUDIT_INTERNAL_H

#include "audit/audit.h"

#define AUDIT_VERIFY_PAGE      4096 /* entries fetched per query while streaming a chain */
#define AUDIT_CHECKPOINT_BATCH 64   /* checkpoints fetched per query */

/* audit_entry_hash with a reusable context (the verifier's hot path). */
MUST_CHECK enum err audit_entry_hash_ctx(const unsigned char prev[SHA256_LEN],
                                         const struct audit_entry *e, struct buf *canon,
                                         struct sha256_ctx *ctx, unsigned char out[SHA256_LEN]);

/* Current UTC time as canonical RFC 3339 with microseconds, NUL-terminated. */
void audit_now(char out[AUDIT_TIME_LEN + 1]);

/* Marks t as appended to, for the checkpointer (audit.c). */
void audit_dirty_mark(const char *tenant_id);
/*
 * Moves up to cap marked tenant ids into ids and clears them from the set;
 * returns how many.
 */
size_t audit_dirty_take(char (*ids)[STORAGE_TENANT_ID_LEN + 1], size_t cap);

/*
 * Streams tx's chain after seq `after` in seq order: each entry, then the
 * checkpoints at its seq (checkpoints at a seq with no entry before the next
 * entry), then any remaining checkpoints, then the head row if present.
 * Stops early when stop() says so. On PostgreSQL (read committed) a head or
 * checkpoint beyond the last entry read makes the walk look again for entries
 * committed meanwhile before it reports them.
 */
struct audit_walk_ops {
    enum err (*entry)(void *arg, const struct audit_entry *e);
    enum err (*checkpoint)(void *arg, const struct audit_checkpoint_rec *c);
    enum err (*head)(void *arg, int64_t seq, struct str hash_hex);
    bool (*stop)(void *arg);
};
MUST_CHECK enum err audit_walk(struct tx *tx, const char *tenant_id, int64_t after,
                               const struct audit_walk_ops *ops, void *arg);

/* Records a break found outside the state machine (e.g. an unreadable export line). */
void audit_verifier_fail(struct audit_verifier *v, enum audit_break kind, const char *why);

/* Lower-case hex of n bytes into out[2n + 1], NUL-terminated. */
void audit_hex(const unsigned char *p, size_t n, char *out);

/*
 * Extends keys with the key transitions of tx's tenant (docs/AUDIT.md).
 * ERR_INVALID when a stored transition cannot be read, ERR_LIMIT past
 * AUDIT_MAX_KEY_TRANSITIONS rows or AUDIT_MAX_TRUSTED_KEYS keys.
 */
MUST_CHECK enum err audit_db_trusted_keys(struct tx *tx, const char *tenant_id,
                                          struct audit_trusted_keys *keys);

/* A finder over the database, for the verifier (state is the tx). */
MUST_CHECK enum err audit_db_find_hash(void *arg, const unsigned char hash[SHA256_LEN],
                                       int64_t not_seq, int64_t *seq, bool *found);

#endif
