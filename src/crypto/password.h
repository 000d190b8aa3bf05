/*
 * password — password policy, hashing and verification (A1, A4).
 *
 * A password is any Unicode text of PASSWORD_MIN_CHARS..PASSWORD_MAX_CHARS
 * code points after NFC normalization, never truncated. It is stored as
 *
 *     bcrypt-$2b$(cost, base64(HMAC-SHA-384(pepper, NFC(password))))
 *
 * The pre-hash gives bcrypt a 64-byte input whatever the password's length,
 * so nothing past bcrypt's 72-byte limit is silently ignored, and no NUL byte
 * can cut the input short. The pepper is derived from the current master key
 * (HKDF-SHA256, salt "shiplog", info "shiplog/v1/password-pepper"), so a
 * stolen database alone cannot be attacked offline. The pepper belongs to one
 * master key, so whoever stores hashes must store that key's id with each one,
 * verify with a context made from that key (while it is in the key ring) and
 * rehash under the current key at the next successful sign-in; the previous
 * key may only leave the ring once no hash needs it (docs/KEYS.md).
 *
 * A password_ctx is read-only after password_ctx_init(), so one context may
 * be shared by all threads. Every function wipes the copies of the password
 * it makes; the caller wipes its own.
 */
#ifndef SHIPLOG_CRYPTO_PASSWORD_H
#define SHIPLOG_CRYPTO_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/str.h"
#include "crypto/masterkey.h"

#define PASSWORD_MIN_CHARS 12  /* code points after NFC */
#define PASSWORD_MAX_CHARS 128 /* code points after NFC */
/*
 * Bytes of a password as received. No longer text can normalize to
 * PASSWORD_MAX_CHARS code points (NFC composes at most a few code points into
 * one), so anything longer is "too long" without being looked at.
 */
#define PASSWORD_MAX_INPUT    4096
#define PASSWORD_PEPPER_LEN   48
#define PASSWORD_COST_MIN     10
#define PASSWORD_COST_MAX     16
#define PASSWORD_COST_DEFAULT 12
#define PASSWORD_HASH_LEN     60                      /* "$2b$12$" + 22 salt + 31 hash characters */
#define PASSWORD_HASH_MAX     (PASSWORD_HASH_LEN + 1) /* with the NUL */

struct password_ctx {
    unsigned char pepper[PASSWORD_PEPPER_LEN];
    unsigned cost;                         /* bcrypt cost for new hashes */
    char dummy_setting[PASSWORD_HASH_MAX]; /* a $2b$ hash at cost, random salt, matches nothing */
    bool ready;                            /* set by a successful password_ctx_init() */
};

/*
 * Derives the pepper from k (use keyring_current()) and keeps cost.
 * ERR_CONFIG when cost is outside PASSWORD_COST_MIN..PASSWORD_COST_MAX,
 * ERR_CRYPTO when randomness or the KDF fails. Wipe with password_ctx_wipe().
 */
MUST_CHECK enum err password_ctx_init(struct password_ctx *ctx, const struct master_key *k,
                                      unsigned cost);
void password_ctx_wipe(struct password_ctx *ctx);

/*
 * Checks a new password against the policy. ERR_OK, or ERR_INVALID with
 * *reason set to a short public text that may be shown to the user as it is:
 * "too short", "too long", "not valid UTF-8" or "too common" (a password from
 * a list of common ones, compared case-insensitively after NFC, or one
 * character repeated). Never looks at more than PASSWORD_MAX_INPUT bytes.
 */
MUST_CHECK enum err password_check_policy(struct str pw, const char **reason);

/*
 * Hashes a new password for storage into out (NUL-terminated, a fresh random
 * salt each time). The password must pass password_check_policy() (call it
 * first to get the reason): otherwise ERR_INVALID and out is "". ERR_CRYPTO
 * when randomness or bcrypt fails.
 */
MUST_CHECK enum err password_hash(const struct password_ctx *ctx, struct str pw,
                                  char out[PASSWORD_HASH_MAX]);

/*
 * Checks pw against stored (a hash from password_hash(), possibly made with
 * another cost). *ok tells whether it matches: check it, the return value only
 * says whether the check could be made. *needs_rehash is true when the match
 * succeeded and stored uses another cost than ctx (lower or higher: every
 * account must take what password_verify_dummy takes): hash the password
 * again and store the new hash. A caller that gets ERR_INVALID (say, an
 * account without a password) must still spend password_verify_dummy's time
 * before answering (A4). A pw that is not valid UTF-8 or over PASSWORD_MAX_INPUT
 * simply does not match, after the same work as any other wrong password.
 * ERR_INVALID when stored is not a $2b$ hash with a cost in
 * PASSWORD_COST_MIN..PASSWORD_COST_MAX (nothing is computed), ERR_CRYPTO when
 * bcrypt fails. On any error *ok is false.
 */
MUST_CHECK enum err password_verify(const struct password_ctx *ctx, struct str pw,
                                    const char *stored, bool *ok, bool *needs_rehash);

/*
 * Does the work of password_verify() against a hash at the configured cost
 * and discards the result: for sign-in attempts on unknown accounts, so they
 * take as long as a wrong password on a known one (A4).
 */
void password_verify_dummy(const struct password_ctx *ctx, struct str pw);

/* Wall-clock milliseconds of one hash at the configured cost (benchmark, start-up log). */
MUST_CHECK enum err password_cost_ms(const struct password_ctx *ctx, double *ms);

#endif
