/*
 * masterkey — loading the master key that every other key derives from (P5).
 *
 * The key is 32 bytes given as 64 hex digits in SHIPLOG_MASTER_KEY or in the
 * file named by SHIPLOG_MASTER_KEY_FILE. In production it is mandatory: start-up
 * fails with ERR_CONFIG (main exits 78, EX_CONFIG). In development, when none
 * is configured, a key is generated once into <data_dir>/master.key (mode 0600,
 * created exclusively) and reused; every start logs a warning, because a key
 * that lives next to the data protects nothing against someone who has the
 * data directory.
 *
 * The key id is the first 8 bytes of SHA-256(key) in hex: it names the key in
 * ciphertexts and logs without revealing it.
 */
#ifndef SHIPLOG_CRYPTO_MASTERKEY_H
#define SHIPLOG_CRYPTO_MASTERKEY_H

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"

#define MASTER_KEY_LEN    32
#define MASTER_KEY_ID_LEN 16
#define MASTER_KEY_FILE   "master.key"

struct master_key {
    unsigned char bytes[MASTER_KEY_LEN];
    char id[MASTER_KEY_ID_LEN + 1];
    bool generated_dev_key; /* came from <data_dir>/master.key */
};

/*
 * Loads the key per the rules above. On ERR_CONFIG msg says what is missing or
 * wrong (never the key). Wipe the key with master_key_wipe() when done.
 */
MUST_CHECK enum err master_key_load(struct config *cfg, struct master_key *out, struct buf *msg);

void master_key_wipe(struct master_key *k);

#endif
