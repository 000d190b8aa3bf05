/*
 * keyring — the master keys a process knows, and the keys derived from them
 * (C2, docs/KEYS.md).
 *
 * keys[0] is the current master key (SHIPLOG_MASTER_KEY, or the development
 * key file; see masterkey.h). Older keys, still needed to unwrap data keys
 * that have not been re-wrapped yet, come from SHIPLOG_MASTER_KEYS_PREVIOUS
 * (or its _FILE): comma-separated 64-hex-digit keys. `shiplog keys rotate`
 * re-wraps everything under keys[0]; afterwards the previous keys can be
 * removed from the configuration.
 *
 * Derived keys (HKDF-SHA256, ikm = master key, salt = "shiplog", info below):
 *   key-encryption key     info "shiplog/v1/kek"              wraps tenant data keys
 *   checkpoint signing     info "shiplog/v1/audit-checkpoint" Ed25519 seed
 */
#ifndef SHIPLOG_CRYPTO_KEYRING_H
#define SHIPLOG_CRYPTO_KEYRING_H

#include "core/config.h"
#include "crypto/aead.h"
#include "crypto/masterkey.h"
#include "crypto/sign.h"

#define KEYRING_MAX 8 /* current + previous master keys */

struct keyring {
    struct master_key keys[KEYRING_MAX];
    size_t n;
};

/*
 * Loads the current key (master_key_load rules) and the previous keys. A
 * previous key equal to the current one, or a duplicate, is ERR_CONFIG.
 */
MUST_CHECK enum err keyring_load(struct config *cfg, struct keyring *out, struct buf *msg);
void keyring_wipe(struct keyring *r);

const struct master_key *keyring_current(const struct keyring *r);
/* The key whose id (16 hex digits) is id, or NULL. */
const struct master_key *keyring_find(const struct keyring *r, const char *id);

/* Master key id as the 8 raw bytes used in envelopes, and back. */
void keyring_id_bytes(const struct master_key *k, unsigned char out[ENVELOPE_KEY_ID_LEN]);
/* The key whose id, as the raw bytes of an envelope, is id, or NULL. */
const struct master_key *keyring_find_bytes(const struct keyring *r,
                                            const unsigned char id[ENVELOPE_KEY_ID_LEN]);

/*
 * A key of len bytes (<= 64) for one purpose, derived from k with its own
 * HKDF info label (e.g. "shiplog/v1/csrf"; docs/KEYS.md lists them). Keys of
 * different labels are independent.
 */
MUST_CHECK enum err keyring_subkey(const struct master_key *k, const char *info, unsigned char *out,
                                   size_t len);
MUST_CHECK enum err keyring_kek(const struct master_key *k, unsigned char out[AEAD_KEY_LEN]);
MUST_CHECK enum err keyring_checkpoint_key(const struct master_key *k, struct sign_key *out);

#endif
