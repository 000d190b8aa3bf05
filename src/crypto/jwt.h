/*
 * jwt — short-lived access tokens (A8): compact JWS (RFC 7515) carrying JWT
 * claims (RFC 7519), signed with one fixed algorithm, EdDSA over Ed25519
 * (RFC 8037). There is no algorithm negotiation at all: the verifier accepts
 * only the exact header this module writes,
 *
 *     {"alg":"EdDSA","typ":"JWT","kid":"<master key id>"}
 *
 * byte for byte, so "none", HS256 (with the public key as the HMAC secret),
 * "crit", "jku", "jwk", "x5u" and every other header trick is refused without
 * a JSON parser ever seeing the header.
 *
 * Keys: the Ed25519 seed is derived from a master key (HKDF-SHA256, salt
 * "shiplog", info JWT_KEY_INFO, docs/KEYS.md), so nothing new needs storing.
 * The kid is the master key's id (16 hex digits, crypto/masterkey.h): a token
 * signed before a master-key rotation keeps verifying while its key is still
 * in the ring, and stops once the key has left it.
 *
 * Claims: exactly the members of struct jwt_claims, always all of them (sid
 * and scope may be empty strings), each with the right type; duplicate keys
 * are refused (core/json.h). The payload is parsed only after the signature
 * has been verified. Revocation (per-user "valid after" time, jti deny-list)
 * is the caller's business: this module checks signature, shape and time.
 *
 * Verification keys are derived once per master key and kept (public keys
 * only, in a small process-wide cache keyed by the master key's bytes), so a
 * verification is the Ed25519 check and no key derivation; signing derives
 * its secret key each time and keeps nothing.
 *
 * This module is independent of the accounts module: ids are plain text.
 * Every function is thread-safe and allocates only temporary memory.
 */
#ifndef SHIPLOG_CRYPTO_JWT_H
#define SHIPLOG_CRYPTO_JWT_H

#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "crypto/keyring.h"

#define JWT_KEY_INFO       "shiplog/v1/jwt-signing" /* HKDF info of the Ed25519 seed */
#define JWT_MAX_LEN        2048                     /* bytes of a token, as received */
#define JWT_MAX_LIFETIME_S (15 * 60)                /* exp - iat at most (A8: 15 minutes) */
#define JWT_MAX_LEEWAY_S   300                      /* clock skew a verifier may allow */
#define JWT_MAX_TIME       ((INT64_C(1) << 53) - 1) /* largest iat / exp (exact in a double) */

#define JWT_MAX_ISS   128 /* bytes of iss */
#define JWT_UUID_LEN  36  /* sub and tid: canonical lower-case UUIDs */
#define JWT_JTI_LEN   32  /* jti: 128 random bits in lower-case hex */
#define JWT_MAX_SID   64  /* bytes of sid */
#define JWT_MAX_SCOPE 256 /* bytes of scope */

/*
 * The claims of an access token. Strings are NUL-terminated and hold only:
 *   iss    1..JWT_MAX_ISS characters of [A-Za-z0-9._:/-] (e.g. the base URL)
 *   sub    the user id, a canonical lower-case UUID
 *   tid    the tenant id, a canonical lower-case UUID
 *   jti    JWT_JTI_LEN lower-case hex digits (jwt_new_jti())
 *   sid    0..JWT_MAX_SID characters of [A-Za-z0-9._:/-]: the session or
 *          refresh-token family the token came from; "" for none
 *   scope  0..JWT_MAX_SCOPE characters: scope tokens of [A-Za-z0-9._:/-]
 *          separated by single spaces (RFC 6749 §3.3, narrowed); "" for none
 * The restricted alphabets mean no claim ever needs JSON escaping, which
 * bounds the token's length (see JWT_MAX_LEN).
 * Times are seconds since the epoch: 0 <= iat < exp <= JWT_MAX_TIME and
 * exp - iat <= JWT_MAX_LIFETIME_S.
 */
struct jwt_claims {
    char iss[JWT_MAX_ISS + 1];
    char sub[JWT_UUID_LEN + 1];
    char tid[JWT_UUID_LEN + 1];
    char jti[JWT_JTI_LEN + 1];
    char sid[JWT_MAX_SID + 1];
    char scope[JWT_MAX_SCOPE + 1];
    int64_t iat; /* issued at */
    int64_t exp; /* expires at: valid while now < exp (plus leeway) */
};

/*
 * A fresh jti: 128 bits from the kernel (crypto/rand.h) as JWT_JTI_LEN
 * lower-case hex digits and a NUL. ERR_CRYPTO only when randomness fails.
 */
MUST_CHECK enum err jwt_new_jti(char out[JWT_JTI_LEN + 1]);

/*
 * Signs c with the key derived from master key k (normally
 * keyring_current()) and appends the token (ASCII, no NUL counted) to out;
 * on any error out is left as it was. The token is at most JWT_MAX_LEN bytes.
 * Errors: ERR_INVALID when c breaks the rules of struct jwt_claims (nothing
 * is signed) or k has no valid id; ERR_LIMIT when out's cap is reached;
 * ERR_CRYPTO when key derivation or signing fails. Signing is deterministic
 * (Ed25519): the same claims and key give the same token.
 */
MUST_CHECK enum err jwt_sign(const struct master_key *k, const struct jwt_claims *c,
                             struct buf *out);

/*
 * Verifies token as received (e.g. from http_authorization_bearer()) against
 * the keys of ring at time now (seconds since the epoch), allowing leeway_s
 * (0..JWT_MAX_LEEWAY_S) seconds of clock skew, and fills *out with its claims.
 *
 * In order: the length; exactly three base64url segments (no padding, no
 * other character, canonical trailing bits); the exact header above; a kid
 * found in ring; the Ed25519 signature over "header.payload"; only then the
 * payload as a JSON object of exactly the claim members with the right types
 * and alphabets; then the times: refused when exp <= now - leeway_s (expired),
 * iat > now + leeway_s (issued in the future), exp <= iat, or
 * exp - iat > JWT_MAX_LIFETIME_S.
 *
 * Errors: ERR_LIMIT when token is longer than JWT_MAX_LEN; ERR_UNAUTHENTICATED
 * for every other refusal of the token; ERR_INVALID for a NULL ring or out or
 * a leeway out of range; ERR_CRYPTO when key derivation fails. On any error
 * *out is zeroed. reason (may be NULL) gets a short static text naming the
 * refusal, safe for logs (never token bytes), e.g. "bad signature" or
 * "expired"; NULL on success. Never tell the client more than the status.
 */
MUST_CHECK enum err jwt_verify(const struct keyring *ring, struct str token, int64_t now,
                               int64_t leeway_s, struct jwt_claims *out, const char **reason);

#endif
