/*
 * tokens — access and refresh tokens (A8, L1): POST /api/v1/auth/token
 * exchanges a password (checked by the accounts module) or an API key for a
 * short-lived signed access token and a refresh token; POST
 * /api/v1/auth/refresh rotates them.
 *
 * Access tokens
 * -------------
 * A JWT of crypto/jwt.h: EdDSA only, kid = the id of the master key whose
 * subkey signed it, claims iss (the deployment's public URL), sub (the
 * user), tid (the tenant), jti (128 random bits), sid (the token family, a
 * UUID), scope (a key-made token: its scopes at issue, for the client's
 * information; "" for a user's token), iat and exp (AUTH_ACCESS_TTL_S, never
 * past the family's end). Nothing of it is stored. Verification
 * (auth_token_verify) is jwt_verify with AUTH_ACCESS_LEEWAY_S of clock skew
 * and the issuer compared, then ONE read transaction in the tenant of tid:
 *
 *   - the user exists, its address is verified and its role is known (the
 *     CURRENT role: a demotion applies to the next request);
 *   - iat >= users.tokens_valid_after (sign out everywhere, password reset,
 *     promotion);
 *   - the family (sid) is the user's, not revoked, not past its end, and
 *     not begun before users.tokens_valid_after (see "Ending tokens");
 *   - the jti is not on the deny-list (signed out);
 *   - a family made from an API key: the key is still live (not revoked,
 *     not expired) and still the user's.
 *
 * Every refusal is ERR_UNAUTHENTICATED alike. A removed member's users row
 * takes its families with it (ON DELETE CASCADE), so the family check fails
 * by construction; a revoked or deleted key likewise. Revocation is
 * therefore immediate: there is no cache between the database and the
 * answer (one indexed read per request, as a session without its cache).
 *
 * A user's token makes the request act as the user with the role read
 * above (struct auth_token_principal). A key-made token fills a struct
 * auth_key_principal exactly as auth_key_authenticate would for the key
 * (scopes = the family's, which are the key's at issue, cut by the key's
 * current scopes), so the HTTP layer treats it exactly like the key: its
 * permissions are its scopes cut by the creator's current role (Z3), and it
 * never opens a session-only route. (Calls with a key's tokens do not move
 * the key's last_used_at; the grant itself does, through
 * auth_key_authenticate.)
 *
 * Refresh tokens and families
 * ---------------------------
 * A refresh token's text is
 *
 *     shr_<tenant id>.<43 characters of base64url>    (AUTH_REFRESH_TEXT_LEN bytes)
 *
 * shaped like an API key (auth.h): the tenant part says in which tenant's
 * transaction to look, the random part is a token_new() token, and only the
 * SHA-256 of the WHOLE text is stored (lower-case hex). It is returned once
 * and never stored, logged or audited. Each grant starts a family (a row of
 * token_families) whose absolute end is AUTH_FAMILY_TTL_S after it began
 * (for a key: never after the key's own expiry); each refresh token lives
 * AUTH_REFRESH_TTL_S, never past its family.
 *
 * Rotation: auth_token_refresh marks the presented token used and returns a
 * new refresh token of the same family and a new access token, in one write
 * transaction; the mark is a conditional UPDATE, so of two concurrent uses
 * of one token exactly one rotates. Presenting a token that was already
 * used (reuse: it was stolen, or a client replayed it) revokes the whole
 * family — the newest refresh token and every access token of the family
 * stop working too — and is audited as token.reuse_detected; the caller
 * gets the same ERR_UNAUTHENTICATED as for any bad token. Used tokens are
 * kept until their own expiry (plus the clean-up's grace), so reuse is
 * detected for as long as the token could have been used at all.
 *
 * Concurrent refreshes end the family, by design: two refreshes with ONE
 * refresh token at once (a client with two threads, a retry after a
 * timeout whose first attempt did get through) are indistinguishable from a
 * thief and its victim racing, so the one that loses the conditional UPDATE
 * is a reuse and revokes the family — including the new tokens the winner
 * just got. There is no grace window in which a used token may be presented
 * again: that window would be a thief's window too. A client must serialize
 * its refreshes and, when one fails, sign in again (a new grant).
 *
 * Limits: a user holds at most AUTH_MAX_FAMILIES_PER_USER live families
 * made by password grants, and each API key at most AUTH_MAX_FAMILIES_PER_KEY
 * live families made from it. A grant beyond its limit revokes the oldest
 * live families OF ITS OWN KIND (reason "limit", audited by the system,
 * details grant) so the newest ones stay: API-key grants never evict the
 * user's password sign-ins (a weak key cannot sign its creator out) nor
 * another key's families, and password grants never evict a key's.
 *
 * Ending tokens
 * -------------
 *  - Sign-out with an access token (auth_token_revoke): the family is
 *    revoked and the jti deny-listed until the token's exp.
 *  - Sign out everywhere, password reset and a raise of the user's role (A3:
 *    the higher role only with a new sign-in) — the accounts module calls
 *    auth_tokens_revoke_user in its own transaction: users.tokens_valid_after
 *    = now and every live family of the user revoked. Times are seconds, so
 *    an access token issued in the same second before the change passes the
 *    iat check; its family was revoked by the same transaction.
 *  - A grant racing one of those, exactly, without comparing seconds: the
 *    password check (accounts) records its success only while the stored
 *    hash is still the one it verified (a reset in between fails the grant)
 *    and reads users.tokens_valid_after in that transaction; the family is
 *    made in another transaction, which refuses when tokens_valid_after has
 *    changed since (a revocation in between), reading the users row FOR
 *    SHARE on PostgreSQL, so a revocation either commits before that read or
 *    waits and then revokes the new family. A family is also void when it
 *    began (the grant's start, before the check) before tokens_valid_after
 *    (created_at < valid_after, checked by family_load on every refresh and
 *    verification). So a grant right after a sign out everywhere, in the
 *    same second, works.
 *  - Member removal deletes the users row: see above.
 *  - API key revocation or expiry ends every family made from the key.
 *
 * Audit (L1), in the transaction that makes the change, target
 * "token_family:<id>": token.issued (details grant password|api_key and the
 * family's end), token.refreshed, token.reuse_detected (outcome denied;
 * details family_revoked yes|no), token.revoked (details reason). The actor
 * is the user, or for a key's family the key (actor type api_key, details
 * on_behalf_of = its creator), as apikey.* events do; a reuse is by an
 * anonymous actor (whoever presented the token). Never a token's text or
 * hash.
 *
 * Clean-up (auth_tokens_cleanup, run by accounts_cleanup and its thread):
 * families revoked or ended, refresh tokens expired and deny-list entries
 * past their token's expiry, AUTH_TOKEN_CLEANUP_GRACE_S ago or longer. The
 * tenants with something to delete are found with one cross-tenant question
 * (PostgreSQL: the SECURITY DEFINER function auth_tokens_cleanup_tenants of
 * migration 0012, ids only); the deletes run in ordinary tenant
 * transactions.
 *
 * How the HTTP layer uses it
 * --------------------------
 *  - POST /api/v1/auth/token: the password grant calls
 *    accounts_authenticate_password (every protection of sign-in: lockout,
 *    per-IP counters, one bcrypt on every path, audited failures) and then
 *    auth_token_issue_user; the api_key grant calls auth_key_authenticate and
 *    then auth_token_issue_key. Both pass as now the time read when the
 *    request's grant began, before the bcrypt (api/tokens.c, tokens_grant).
 *    POST /api/v1/auth/refresh calls auth_token_refresh.
 *    ERR_UNAUTHENTICATED and ERR_LIMIT from any of them -> 401
 *    invalid_grant, one body for every cause.
 *  - `Authorization: Bearer <text>` that is not an API key (auth.h):
 *    auth_token_verify; ERR_UNAUTHENTICATED / ERR_LIMIT -> 401 invalid_token
 *    with `WWW-Authenticate: Bearer error="invalid_token"`.
 *  - DELETE /api/v1/session with a user's access token: auth_token_revoke.
 *
 * All times are Unix seconds passed by the caller, so tests move time
 * without sleeping. Thread-safety: every function may be called from any
 * thread with a shared struct storage and struct auth_token_keys; structs
 * belong to the caller.
 */
#ifndef SHIPLOG_AUTH_TOKENS_H
#define SHIPLOG_AUTH_TOKENS_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "crypto/hash.h"
#include "crypto/jwt.h"
#include "crypto/keyring.h"

/* ---- limits, sizes and times ------------------------------------------------------ */
#define AUTH_REFRESH_TEXT_PREFIX "shr_"
#define AUTH_REFRESH_TEXT_LEN    (4 + STORAGE_TENANT_ID_LEN + 1 + AUTH_KEY_RANDOM_LEN) /* 84 */
#define AUTH_MAX_REFRESH_TEXT                                                                      \
    128 /* bytes of a presented refresh token looked at (ERR_LIMIT past) */
#define AUTH_MAX_ACCESS_TEXT       JWT_MAX_LEN /* bytes of a presented access token (ERR_LIMIT past) */
#define AUTH_FAMILY_ID_LEN         36        /* a family id: canonical UUID text (the sid claim) */
#define AUTH_ACCESS_TTL_S          (15 * 60) /* an access token's life (A8) */
#define AUTH_ACCESS_LEEWAY_S       30        /* clock skew allowed on iat and exp */
#define AUTH_REFRESH_TTL_S         (7 * 86400)  /* a refresh token's life, never past its family */
#define AUTH_FAMILY_TTL_S          (30 * 86400) /* a family's absolute life: then sign in again */
#define AUTH_MAX_FAMILIES_PER_USER 50 /* live password-grant families of one user (see above) */
#define AUTH_MAX_FAMILIES_PER_KEY  50 /* live families made from one API key (see above) */
#define AUTH_TOKEN_CLEANUP_GRACE_S (24 * 60 * 60) /* ended rows are deleted this long after */

_Static_assert(AUTH_ACCESS_TTL_S <= JWT_MAX_LIFETIME_S, "an access token is a JWT");
_Static_assert(AUTH_ACCESS_LEEWAY_S <= JWT_MAX_LEEWAY_S, "the leeway is one jwt_verify takes");

/* The keys and the issuer tokens are signed and checked with; read-only once made. */
struct auth_token_keys {
    const struct keyring *ring;   /* borrowed: keys[0] signs, every key of the ring verifies */
    char issuer[JWT_MAX_ISS + 1]; /* the iss claim written and required */
};

/*
 * Fills k for ring (borrowed: it must outlive k) and an issuer made from
 * public_url: the URL without trailing '/', or "shiplog" when that is empty,
 * longer than JWT_MAX_ISS or has a character outside the claim alphabet
 * (crypto/jwt.h). ERR_INVALID for a NULL or empty ring.
 */
MUST_CHECK enum err auth_token_keys_init(struct auth_token_keys *k, const struct keyring *ring,
                                         const char *public_url);

/* ---- issuing, refreshing ------------------------------------------------------------ */

/* What a grant or a refresh gives. Holds both token texts: wipe it once sent. */
struct auth_token_pair {
    char access[JWT_MAX_LEN + 1];            /* the access token */
    char refresh[AUTH_REFRESH_TEXT_LEN + 1]; /* the refresh token, shown once */
    char family_id[AUTH_FAMILY_ID_LEN + 1];  /* not secret: names the sign-in */
    int64_t access_expires_at;               /* the access token's exp */
    int64_t refresh_expires_at;              /* the refresh token's end */
};

/* Overwrites the whole struct with zeros. NULL is a no-op. */
void auth_token_pair_wipe(struct auth_token_pair *p);

/*
 * Starts a family for user_id of t (whose password the caller has just
 * checked) at now, and fills *out with its first access and refresh tokens;
 * audits token.issued (grant password) in the same write transaction. now
 * must be the time the grant STARTED, read before the password was checked
 * (see "Ending tokens"); it is also the tokens' iat and the family's
 * created_at. seen_valid_after is the accounts_session.tokens_valid_after
 * the password check returned (AUTH_VALID_AFTER_UNCHECKED: none, for tests
 * of other things). ERR_UNAUTHENTICATED when the user does not exist, has no
 * known role or an unverified address (no tokens for an unverified user),
 * when users.tokens_valid_after is no longer seen_valid_after (revoked since
 * the check) or is after now; ERR_INVALID for a malformed t, user_id, k or now; ERR_LIMIT for
 * client fields past their limits; ERR_CRYPTO when signing fails; storage
 * errors. *out is wiped unless ERR_OK.
 */
#define AUTH_VALID_AFTER_UNCHECKED INT64_C(-1) /* seen_valid_after: compare nothing */
MUST_CHECK enum err auth_token_issue_user(struct storage *db, const struct auth_token_keys *k,
                                          const struct tenant_ctx *t, const char *user_id,
                                          int64_t now, int64_t seen_valid_after,
                                          const struct auth_client *c, struct auth_token_pair *out);

/*
 * The same for an API key just authenticated (auth_key_authenticate): the
 * family belongs to the key's creator and remembers the key and its scopes;
 * it ends with the key at the latest. Audited as token.issued (grant
 * api_key) by the key. now: the grant's start, as above. ERR_UNAUTHENTICATED
 * when the key is no longer live or its creator is gone, unverified, of no
 * known role or revoked at or after now (as above); otherwise as above.
 */
MUST_CHECK enum err auth_token_issue_key(struct storage *db, const struct auth_token_keys *k,
                                         const struct auth_key_principal *key, int64_t now,
                                         const struct auth_client *c, struct auth_token_pair *out);

/*
 * Rotates the refresh token `text` at now (see above): on ERR_OK *out holds
 * a new refresh token of the same family and a new access token, and
 * token.refreshed is audited. ERR_LIMIT (length only, before anything else)
 * past AUTH_MAX_REFRESH_TEXT bytes; ERR_UNAUTHENTICATED for every other
 * refusal alike — malformed, unknown, expired, already used (which also
 * revokes the family and commits token.reuse_detected), a family revoked or
 * ended, its user gone, unverified or of no known role, its key no longer
 * live; ERR_LIMIT for client fields; storage errors. *out is wiped unless
 * ERR_OK.
 */
MUST_CHECK enum err auth_token_refresh(struct storage *db, const struct auth_token_keys *k,
                                       struct str text, int64_t now, const struct auth_client *c,
                                       struct auth_token_pair *out);

/* ---- verifying ------------------------------------------------------------------------- */

/* A verified access token, for one request. */
struct auth_token_principal {
    struct tenant_ctx tenant;               /* tid: the request's tenant */
    char user_id[AUTH_USER_ID_LEN + 1];     /* sub */
    enum authz_role role;                   /* the user's current role */
    char family_id[AUTH_FAMILY_ID_LEN + 1]; /* sid */
    char jti[JWT_JTI_LEN + 1];
    int64_t iat, exp;
    bool from_key;                 /* made from an API key: key is filled */
    struct auth_key_principal key; /* as auth_key_authenticate fills it */
};

/*
 * Verifies the access token `text` at now (see above) and fills *out.
 * ERR_LIMIT (length only) past AUTH_MAX_ACCESS_TEXT bytes;
 * ERR_UNAUTHENTICATED for every other refusal alike; ERR_INVALID for NULL
 * arguments; ERR_CRYPTO when key derivation fails; storage errors. *out is
 * zeroed unless ERR_OK.
 */
MUST_CHECK enum err auth_token_verify(struct storage *db, const struct auth_token_keys *k,
                                      struct str text, int64_t now,
                                      struct auth_token_principal *out);

/* ---- ending ----------------------------------------------------------------------------- */

/*
 * Sign-out with the access token p was verified from: revokes its family
 * (reason "signout") and deny-lists its jti until its exp, auditing
 * token.revoked, in one write transaction. ERR_OK also when the family was
 * revoked meanwhile (the jti is deny-listed all the same); ERR_INVALID for a
 * malformed p; ERR_LIMIT for client fields; storage errors.
 */
MUST_CHECK enum err auth_token_revoke(struct storage *db, const struct auth_token_principal *p,
                                      int64_t now, const struct auth_client *c);

/*
 * Inside the caller's write transaction tx (bound to the user's tenant):
 * sets users.tokens_valid_after to now and revokes every live family of
 * user_id with reason (at most 32 bytes of [a-z_], e.g.
 * "signout_everywhere", "password_reset", "role_raised"); *families (may be
 * NULL) gets how many. Families of key grants included. From then on a
 * grant whose password check came before is refused, and a family begun
 * before now's second is void (see "Ending tokens"). The caller audits its own
 * event (with the count). ERR_INVALID for a malformed user_id or reason;
 * storage errors.
 */
MUST_CHECK enum err auth_tokens_revoke_user(struct tx *tx, const char *user_id, int64_t now,
                                            const char *reason, uint64_t *families);

/* ---- clean-up ------------------------------------------------------------------------------- */

struct auth_tokens_cleanup_stats {
    uint64_t families;       /* revoked or ended families (their refresh tokens go with them) */
    uint64_t refresh_tokens; /* expired refresh tokens of families still kept */
    uint64_t denylist;       /* deny-list entries past their token's expiry */
};

/*
 * Deletes what ended at or before now - AUTH_TOKEN_CLEANUP_GRACE_S (see
 * above), one transaction per tenant. A tenant that fails is skipped and the
 * rest still cleaned; the first error is returned and *out (always filled)
 * counts what was deleted. Works on a server's storage.
 */
MUST_CHECK enum err auth_tokens_cleanup(struct storage *db, int64_t now,
                                        struct auth_tokens_cleanup_stats *out);

/* ---- helpers exposed for tests and fuzzing -------------------------------------------------- */

/*
 * A refresh token text of the exact shape -> the tenant it names and the hex
 * SHA-256 of the whole text (what is stored). False for anything else
 * (including the nil tenant); nothing is written then.
 */
bool auth_refresh_text_parse(struct str text, struct tenant_ctx *t, char hash[2 * SHA256_LEN + 1]);

#endif
