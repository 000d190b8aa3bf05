/*
 * sign — Ed25519 signatures (audit checkpoints, L5).
 *
 * Keys come from a 32-byte seed (derived with HKDF from the master key), so
 * nothing but the master key needs storing; the public key can be exported
 * and given to outside verifiers.
 */
#ifndef SHIPLOG_CRYPTO_SIGN_H
#define SHIPLOG_CRYPTO_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define SIGN_SEED_LEN   32
#define SIGN_PUBLIC_LEN 32
#define SIGN_SIG_LEN    64

struct sign_key {
    unsigned char seed[SIGN_SEED_LEN]; /* secret: wipe with sign_key_wipe() */
    unsigned char pub[SIGN_PUBLIC_LEN];
};

MUST_CHECK enum err sign_key_from_seed(const unsigned char seed[SIGN_SEED_LEN],
                                       struct sign_key *out);
void sign_key_wipe(struct sign_key *k);
MUST_CHECK enum err sign_ed25519(const struct sign_key *k, const void *msg, size_t len,
                                 unsigned char sig[SIGN_SIG_LEN]);
/* True only for a valid signature of msg by pub. */
bool sign_verify_ed25519(const unsigned char pub[SIGN_PUBLIC_LEN], const void *msg, size_t len,
                         const unsigned char sig[SIGN_SIG_LEN]);

#endif
