/*
 * accounts — sign-up, e-mail verification, password sign-in with lockout,
 * server-side sessions, password reset and magic links (A1–A6, L1, T1–T4).
 *
 * Design:
 *  - An account belongs to exactly one tenant. An e-mail address (ASCII
 *    letters lower-cased) is unique in the deployment through the
 *    user_emails directory, keyed by SHA-256("shiplog/v1/email:" || address).
 *    Sign-in starts from the address, so it must find the tenant before it
 *    can open a tenant-bound transaction: that one lookup, the per-IP
 *    failure counters and the clean-up's two questions (below) are the only
 *    statements not bound to a real tenant. They run bound to
 *    ACCOUNTS_DIRECTORY_TENANT (the nil UUID), and on PostgreSQL go through
 *    SECURITY DEFINER functions that read or write one row by exact key
 *    (migration 0007 explains why this is narrower than a table without
 *    row-level security), or, for the clean-up, return tenant ids only and
 *    delete only counters that have run out (migration 0008). Everything
 *    else is tenant-scoped.
 *  - Secrets handed out — session ids, verification, reset and magic-link
 *    tokens — are "<tenant id>.<43 characters of base64url>" (ACCOUNTS_SECRET_LEN
 *    bytes): the tenant part says which tenant's transaction to look in (it is
 *    not secret), the random part (32 bytes from crypto/token.h) is stored
 *    only as its SHA-256. A tampered tenant part finds nothing.
 *  - A magic link's short code has only 40 bits, so a plain hash of it could
 *    be brute-forced from a leaked database. It is stored as HMAC-SHA-256 of
 *    "<tenant id>\n<user id>\n<CODE>" under a key derived from the master
 *    key (HKDF, salt "shiplog", info "shiplog/v1/magic-code"; one per key of
 *    the ring). New codes use the current key; a code is checked under every
 *    key of the ring, so one mailed just before a master key rotation works
 *    for its ACCOUNTS_MAGIC_TTL_S while the old key stays in the ring (it
 *    fails once that key has left; the link itself still works). Codes
 *    mailed by a release that stored the plain hash fail too (their links
 *    work).
 *  - Sign-in: unknown address, wrong password, locked account and locked IP
 *    all return ERR_UNAUTHENTICATED after exactly one bcrypt computation
 *    (password_verify_dummy where there is no hash to check), so they take
 *    the same time (A4). Failures are counted in the database per account
 *    (users.failed_count) and per client IP (login_failures_ip); from
 *    ACCOUNTS_LOCK_THRESHOLD (account) or ACCOUNTS_IP_LOCK_THRESHOLD (IP)
 *    failures on, every further failure locks for ACCOUNTS_LOCK_BASE_S
 *    doubled per failure past the threshold, capped at ACCOUNTS_LOCK_MAX_S.
 *    While locked the password is not even checked and the counter does not
 *    grow. A successful sign-in clears the account's counter (not the IP's);
 *    a password reset clears the account's lock.
 *  - Unverified accounts (A2): sign-in with the right password succeeds, and
 *    the session says email_verified = false; the console must refuse such a
 *    session and offer to resend the mail. The state is read from the user
 *    (or the session cache, below), so verifying the address upgrades open
 *    sessions at once in this process and within the cache's lifetime in
 *    others.
 *    This reveals that an address is unverified only to someone holding its
 *    password. A password reset or a magic link also proves the mailbox and
 *    marks the address verified.
 *  - Session cache (sessions.c): accounts_session_lookup answers from a
 *    bounded in-process cache for up to session_cache_ms (the server sets it
 *    from SHIPLOG_SESSION_CACHE_MS; 0 = no cache), so most authenticated
 *    requests open no database transaction. Keyed by tenant and the
 *    session's hash, never the cookie value; only live sessions are cached;
 *    every answer re-checks the idle and absolute expiry against the clock
 *    hook, and the sliding write still goes to the database when due. Every
 *    change this struct accounts makes to a session or to what the lookup
 *    returns (sign-out, revocation, sign-out everywhere, password reset,
 *    verification, magic-link sign-in, clean-up) drops the affected entries
 *    after its commit, so it is seen at once by every thread of this
 *    process. A change made elsewhere — another server process on the same
 *    database, `shiplog admin`, a hand-written UPDATE — cannot reach this
 *    cache: there it takes effect within session_cache_ms. That bounded
 *    delay is the price of not reading the database on every request.
 *  - Passwords are hashed with the pepper of the current master key and
 *    stored with that key's id; sign-in verifies with the key the hash names
 *    (while it is in the ring) and re-hashes under the current key, or at the
 *    current cost, after a successful check (docs/KEYS.md).
 *  - bcrypt never runs inside a database transaction (a SQLite write
 *    transaction is exclusive); counters are updated with atomic increments.
 *  - Every L1 event is an audit event in the affected tenant's chain, in the
 *    transaction that makes the change, with the client IP: tenant.created,
 *    auth.signup, auth.email_verified, auth.signin (success/failure),
 *    auth.lockout, auth.signout, auth.session_revoked, auth.signout_everywhere,
 *    auth.verification_resent, auth.password_reset_requested,
 *    auth.password_reset, auth.magic_link_requested, auth.magic_link_signin.
 *    Failures for an unknown address have no tenant to be recorded in: they
 *    are logged.
 *  - Reset and magic-link requests do a write transaction (token, mail,
 *    audit) for a known address and a lookup for an unknown one; both take
 *    at least ACCOUNTS_REQUEST_FLOOR_MS so the difference cannot be timed.
 *  - Clean-up (accounts_cleanup, or the accounts_cleaner thread) deletes
 *    sessions and tokens ACCOUNTS_CLEANUP_GRACE_S after they stopped being
 *    usable, and unlocked per-IP counters whose window has passed. Audit
 *    events are never touched.
 *
 * Public outcomes: the HTTP layer must answer ERR_UNAUTHENTICATED, ERR_NOT_FOUND
 * from token functions, and the reset/magic-link requests identically whether
 * or not the account exists; *_request functions return ERR_OK either way.
 *
 * Time comes from a clock hook (accounts_set_clock) in Unix seconds, so tests
 * move time without sleeping.
 *
 * Thread-safety: a struct accounts is read-only after accounts_open (the
 * clock hook and the request floor must be set before it is shared) except
 * for its session cache, which locks itself; it may be used by all threads.
 */
#ifndef SHIPLOG_ACCOUNTS_ACCOUNTS_H
#define SHIPLOG_ACCOUNTS_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "core/str.h"
#include "crypto/keyring.h"
#include "crypto/password.h"
#include "crypto/token.h"
#include "secrets/secrets.h"
#include "storage/storage.h"

/* ---- limits ---------------------------------------------------------------- */
#define ACCOUNTS_MAX_EMAIL            254 /* bytes of an address (RFC 5321 path limit) */
#define ACCOUNTS_MAX_ORG_NAME         100 /* bytes of an organization name */
#define ACCOUNTS_MAX_USER_AGENT       256 /* bytes of a User-Agent stored (longer ones are cut) */
#define ACCOUNTS_MAX_CLIENT_IP        AUDIT_MAX_CLIENT_IP /* bytes of a client IP text */
#define ACCOUNTS_MAX_SECRET_TEXT      128  /* bytes of a session id / token accepted */
#define ACCOUNTS_MAX_SLUG             40   /* bytes of a slug derived from the organization */
#define ACCOUNTS_MAX_SESSIONS         50   /* sessions accounts_sessions_list reports */
#define ACCOUNTS_SESSION_CACHE_MAX    4096 /* sessions the lookup cache holds (the oldest go) */
#define ACCOUNTS_SESSION_CACHE_MAX_MS 5000 /* longest session_cache_ms (as config.c allows) */

/* ---- timing ---------------------------------------------------------------- */
#define ACCOUNTS_SESSION_IDLE_S     (30 * 60)      /* idle timeout */
#define ACCOUNTS_SESSION_ABSOLUTE_S (12 * 60 * 60) /* absolute timeout */
#define ACCOUNTS_SESSION_SLIDE_S    60             /* last_seen_at is written at most this often */
#define ACCOUNTS_VERIFY_TTL_S       (24 * 60 * 60) /* e-mail verification token */
#define ACCOUNTS_RESET_TTL_S        (60 * 60)      /* password reset token */
#define ACCOUNTS_MAGIC_TTL_S        (15 * 60)      /* magic link and its code */
#define ACCOUNTS_MAGIC_MAX_ATTEMPTS 5  /* wrong codes that burn a user's open magic links */
#define ACCOUNTS_LOCK_THRESHOLD     5  /* account failures before the first lock */
#define ACCOUNTS_IP_LOCK_THRESHOLD  20 /* failures from one IP before it is locked */
#define ACCOUNTS_IP_WINDOW_S        (24 * 60 * 60) /* an IP's counter starts over after this */
#define ACCOUNTS_LOCK_BASE_S        60             /* first lock */
#define ACCOUNTS_LOCK_MAX_S         (60 * 60)      /* longest lock */
/*
 * Sessions and tokens are deleted this long after they were revoked, used or
 * expired: a day in which an ended session still has its row (client IP,
 * user agent) for whoever looks into an incident. Audit events stay anyway.
 */
#define ACCOUNTS_CLEANUP_GRACE_S          (24 * 60 * 60)
#define ACCOUNTS_CLEANER_INTERVAL_DEFAULT (60 * 60) /* seconds between cleaner rounds */
/*
 * The least time accounts_password_reset_request and
 * accounts_magic_link_request take, from their start (CLOCK_MONOTONIC; the
 * rest is slept). For a known address they write a token, a mail and an
 * audit event (a commit: a few milliseconds, tens under load), for an
 * unknown one they only look it up, so without a floor their time says
 * whether an address has an account. The floor hides that only while the
 * write finishes within it, hence well above a commit's usual tail. It holds
 * the calling thread: the HTTP layer's rate limits bound how many such
 * requests can be waiting.
 */
#define ACCOUNTS_REQUEST_FLOOR_MS 150

/* ---- text sizes ------------------------------------------------------------ */
#define ACCOUNTS_ID_LEN     36                                           /* a user id (UUID) */
#define ACCOUNTS_SECRET_LEN (STORAGE_TENANT_ID_LEN + 1 + TOKEN_TEXT_LEN) /* "<tenant>.<token>" */
#define ACCOUNTS_HASH_HEX   64 /* SHA-256 hex: a session's public handle */

/* The context the directory statements are bound to (see above). */
#define ACCOUNTS_DIRECTORY_TENANT "00000000-0000-0000-0000-000000000000"

struct accounts;

struct accounts_options {
    struct storage *db;         /* main storage, opened for the server (borrowed) */
    struct secrets *secrets;    /* for the new tenant's data key (borrowed) */
    const struct keyring *ring; /* borrowed; keys[0] peppers new hashes */
    unsigned bcrypt_cost;       /* PASSWORD_COST_MIN..MAX; 0 = PASSWORD_COST_DEFAULT */
    /*
     * How long, in ms (CLOCK_MONOTONIC), a session lookup may be answered
     * from the in-process cache instead of the database: a revocation made
     * by another process takes effect here within this time (see above).
     * 0..ACCOUNTS_SESSION_CACHE_MAX_MS; 0 = no cache, every lookup reads the
     * database (what one-shot commands such as `shiplog admin` want).
     */
    unsigned session_cache_ms;
};

/* Mail the accounts core asks for; see struct accounts_mailer. */
enum accounts_mail_kind {
    ACCOUNTS_MAIL_VERIFY,       /* token: the e-mail verification token */
    ACCOUNTS_MAIL_RESET,        /* token: the password reset token */
    ACCOUNTS_MAIL_MAGIC,        /* token and code: the magic link */
    ACCOUNTS_MAIL_SIGNUP_TAKEN, /* someone tried to sign up with this address; no token */
};

struct accounts_mail {
    enum accounts_mail_kind kind;
    const char *to;    /* the normalized address of the account */
    const char *token; /* "" when the kind has none; a secret: never log it */
    const char *code;  /* ACCOUNTS_MAIL_MAGIC only, else "" */
};

/*
 * Mail hook: called inside the write transaction (tx, bound to the account's
 * tenant) that creates the token, so the mail is queued exactly when the
 * token commits (outbox_enqueue). An error fails the transaction and the
 * calling function returns it. The core never holds a password in m.
 */
struct accounts_mailer {
    enum err (*queue)(void *arg, struct tx *tx, const struct accounts_mail *m);
    void *arg;
};

/* Who is calling, for audit events and sessions. NULL fields = "". */
struct accounts_client {
    const char *ip;         /* at most ACCOUNTS_MAX_CLIENT_IP bytes */
    const char *user_agent; /* cut to ACCOUNTS_MAX_USER_AGENT bytes (at a UTF-8 boundary) */
    const char *request_id; /* at most AUDIT_MAX_REQUEST_ID bytes */
    const struct accounts_mailer *mailer; /* NULL = no mail is queued (the caller mails) */
};

/*
 * ERR_INVALID for a missing storage/secrets/ring or an empty ring, ERR_CONFIG
 * for a cost or session_cache_ms out of range, ERR_CRYPTO when the pepper
 * cannot be derived.
 */
MUST_CHECK enum err accounts_open(const struct accounts_options *o, struct accounts **out);
void accounts_close(struct accounts *a); /* wipes the peppers; NULL is a no-op */

/* Test hook: now() in Unix seconds replaces time(NULL). Set before sharing a. */
void accounts_set_clock(struct accounts *a, int64_t (*now)(void *arg), void *arg);

/* For tests: fn(arg) runs after a password matched and before the success
 * is recorded, where a concurrent password reset can land (fn NULL: none). */
void accounts_set_matched_hook(struct accounts *a, void (*fn)(void *arg), void *arg);

/*
 * Test hook: the floor of the reset and magic-link requests, in ms, instead
 * of ACCOUNTS_REQUEST_FLOOR_MS (0 = none, so other tests stay fast). Set
 * before sharing a.
 */
void accounts_set_request_floor_ms(struct accounts *a, unsigned ms);

/* A user, as identified after sign-in / in a session. */
struct accounts_user_ref {
    struct tenant_ctx tenant;
    char user_id[ACCOUNTS_ID_LEN + 1];
};

/* ---- sign-up and verification ---------------------------------------------- */

struct accounts_signup_result {
    struct accounts_user_ref user;
    char slug[ACCOUNTS_MAX_SLUG + 1];
    char verify_token[ACCOUNTS_SECRET_LEN + 1]; /* for the verification mail */
    const char *reason; /* on ERR_INVALID / ERR_LIMIT: public text naming the problem */
};

/*
 * Creates a tenant for organization org_name (slug derived from it, made
 * unique with a random suffix when taken), its data key, the first user as
 * super_admin with an unverified address, and a verification token; records
 * tenant.created and auth.signup. One transaction for all rows of the main
 * database (the data key lives in the vault: created first, discarded again
 * when the transaction fails). ERR_LIMIT past a named limit, ERR_INVALID for
 * a malformed address, empty/control-character organization or a password
 * the policy refuses (out->reason says which); ERR_CONFLICT when the address
 * already has an account (the HTTP layer should not reveal this: answer as
 * for success). With a mailer, the verification mail is queued in the
 * sign-up transaction, and on ERR_CONFLICT an ACCOUNTS_MAIL_SIGNUP_TAKEN
 * notice is queued in the existing account's tenant. Both paths compute one
 * bcrypt hash, so a taken address answers in the same time as a fresh one.
 */
MUST_CHECK enum err accounts_signup(struct accounts *a, struct str email, struct str password,
                                    struct str org_name, const struct accounts_client *c,
                                    struct accounts_signup_result *out);

/*
 * Consumes a verification token and marks the address verified (single use:
 * every other open verification token of the user is spent with it).
 * ERR_NOT_FOUND for an unknown, used, expired or malformed token; ERR_LIMIT
 * past ACCOUNTS_MAX_SECRET_TEXT. out may be NULL.
 */
MUST_CHECK enum err accounts_verify_email(struct accounts *a, struct str token,
                                          const struct accounts_client *c,
                                          struct accounts_user_ref *out);

/*
 * Sends user a new verification mail ("resend" on the console an unverified
 * session opens, A2): a new token valid ACCOUNTS_VERIFY_TTL_S, the
 * ACCOUNTS_MAIL_VERIFY mail queued through c->mailer and auth.verification_resent
 * recorded with the client IP, all in one transaction. Tokens mailed earlier
 * stay valid until their own expiry (mail can arrive late or out of order;
 * each of them only proves the same mailbox), and whichever is used first
 * spends the others. ERR_OK doing nothing when the address is already
 * verified; ERR_NOT_FOUND when user does not exist in its tenant;
 * ERR_INVALID without a mailer in c (nobody could receive the token);
 * ERR_LIMIT as for the other functions' client fields. Rate limiting is the
 * caller's.
 */
MUST_CHECK enum err accounts_verify_resend(struct accounts *a, const struct accounts_user_ref *user,
                                           const struct accounts_client *c);

/* ---- sign-in and sessions ---------------------------------------------------- */

struct accounts_session {
    struct accounts_user_ref user;
    char role[16];
    bool email_verified; /* A2: the console opens only when true */
    char id_hash[ACCOUNTS_HASH_HEX + 1];
    int64_t created_at, last_seen_at, expires_at, idle_expires_at;
    /* users.tokens_valid_after (0 = none) as read in the transaction that
     * recorded a password check (accounts_signin, accounts_authenticate_password):
     * what auth_token_issue_user compares, so that a revocation after the
     * check refuses the grant (auth/tokens.h, "Ending tokens") */
    int64_t tokens_valid_after;
};

/*
 * Password sign-in. On success a new session: its id (the cookie value,
 * ACCOUNTS_SECRET_LEN characters) in session_id, its details in out (may be
 * NULL). ERR_UNAUTHENTICATED for unknown address, wrong password, locked
 * account or locked IP (same time, see above); ERR_LIMIT for an address
 * longer than ACCOUNTS_MAX_EMAIL or a client IP longer than
 * ACCOUNTS_MAX_CLIENT_IP (no account can match: nothing is revealed).
 */
MUST_CHECK enum err accounts_signin(struct accounts *a, struct str email, struct str password,
                                    const struct accounts_client *c,
                                    char session_id[ACCOUNTS_SECRET_LEN + 1],
                                    struct accounts_session *out);

/*
 * The password check of accounts_signin without a session, for a grant of
 * access and refresh tokens (auth/tokens.h): the same lockouts, per-IP and
 * per-account counters, one bcrypt on every path, audited failures, and on
 * success the counter cleared, a re-hash stored and auth.signin recorded
 * (details grant "tokens"). On ERR_OK out holds the user, its role and
 * whether its address is verified (the caller refuses tokens to an
 * unverified one); session fields stay zero. Errors as accounts_signin.
 */
MUST_CHECK enum err accounts_authenticate_password(struct accounts *a, struct str email,
                                                   struct str password,
                                                   const struct accounts_client *c,
                                                   struct accounts_session *out);

/*
 * The live session for a cookie value: ERR_UNAUTHENTICATED when unknown,
 * malformed, revoked, idle past ACCOUNTS_SESSION_IDLE_S or older than
 * ACCOUNTS_SESSION_ABSOLUTE_S. Slides last_seen_at / idle_expires_at when
 * the last write is ACCOUNTS_SESSION_SLIDE_S old (never past expires_at).
 * May answer from the session cache (see above): a revocation by this
 * struct accounts is seen at once, one by another process within
 * session_cache_ms.
 */
MUST_CHECK enum err accounts_session_lookup(struct accounts *a, struct str session_id,
                                            struct accounts_session *out);

/* Revokes the session of this cookie value (sign-out). ERR_UNAUTHENTICATED as lookup. */
MUST_CHECK enum err accounts_signout(struct accounts *a, struct str session_id,
                                     const struct accounts_client *c);

/*
 * Revokes one of user's own sessions by its public handle (id_hash from
 * accounts_sessions_list). ERR_NOT_FOUND when user has no live session with
 * that handle (another user's or tenant's included).
 */
MUST_CHECK enum err accounts_session_revoke(struct accounts *a,
                                            const struct accounts_user_ref *user,
                                            struct str id_hash, const struct accounts_client *c);

/* One live session, for "your sessions". */
struct accounts_session_info {
    char id_hash[ACCOUNTS_HASH_HEX + 1];
    int64_t created_at, last_seen_at, expires_at;
    char client_ip[ACCOUNTS_MAX_CLIENT_IP + 1];
    char user_agent[ACCOUNTS_MAX_USER_AGENT + 1];
};

/*
 * user's live sessions, newest first, at most min(cap, ACCOUNTS_MAX_SESSIONS),
 * into list; *n gets how many.
 */
MUST_CHECK enum err accounts_sessions_list(struct accounts *a, const struct accounts_user_ref *user,
                                           struct accounts_session_info *list, size_t cap,
                                           size_t *n);

/* Revokes all of user's live sessions; *revoked (may be NULL) gets how many. */
MUST_CHECK enum err accounts_signout_everywhere(struct accounts *a,
                                                const struct accounts_user_ref *user,
                                                const struct accounts_client *c, uint64_t *revoked);

/* ---- password reset and magic links ------------------------------------------ */

/*
 * Makes a reset token (ACCOUNTS_RESET_TTL_S, single use) for the account of
 * email. ERR_OK whether or not the address has an account: token is "" when
 * it has none, and the caller mails only a non-empty token (with a mailer in
 * c, the ACCOUNTS_MAIL_RESET mail is queued in the token's transaction). ERR_LIMIT /
 * ERR_INVALID only for an address over the limit or malformed. Takes at least
 * ACCOUNTS_REQUEST_FLOOR_MS whatever the outcome.
 */
MUST_CHECK enum err accounts_password_reset_request(struct accounts *a, struct str email,
                                                    const struct accounts_client *c,
                                                    char token[ACCOUNTS_SECRET_LEN + 1]);

/*
 * Sets a new password with a reset token: single use (every open reset token
 * of the user is spent), revokes all of the user's sessions, clears the
 * lockout and marks the address verified. ERR_INVALID (reason set) when the
 * password fails the policy — the token is then not spent; ERR_NOT_FOUND for
 * an unknown, used or expired token. reason may be NULL.
 */
MUST_CHECK enum err accounts_password_reset(struct accounts *a, struct str token,
                                            struct str new_password,
                                            const struct accounts_client *c, const char **reason);

/*
 * A magic link token and its short code (TOKEN_CODE_LEN characters), valid
 * ACCOUNTS_MAGIC_TTL_S, spent together. ERR_OK whether or not the address
 * has an account (token and code "" when it has none). With a mailer in c,
 * the ACCOUNTS_MAIL_MAGIC mail is queued in the token's transaction. Takes
 * at least ACCOUNTS_REQUEST_FLOOR_MS whatever the outcome.
 */
MUST_CHECK enum err accounts_magic_link_request(struct accounts *a, struct str email,
                                                const struct accounts_client *c,
                                                char token[ACCOUNTS_SECRET_LEN + 1],
                                                char code[TOKEN_CODE_LEN + 1]);

/*
 * Consumes a magic link (the POST behind the page the link opens) and opens a
 * session as accounts_signin does. ERR_NOT_FOUND for an unknown, used,
 * expired or malformed token.
 */
MUST_CHECK enum err accounts_magic_link_consume(struct accounts *a, struct str token,
                                                const struct accounts_client *c,
                                                char session_id[ACCOUNTS_SECRET_LEN + 1],
                                                struct accounts_session *out);

/*
 * The same with the code typed on the page that asked for email. A wrong code
 * counts against all of the user's open magic links, which are spent after
 * ACCOUNTS_MAGIC_MAX_ATTEMPTS wrong codes. Every failure waits out
 * ACCOUNTS_REQUEST_FLOOR_MS, so a wrong code for a known address and any code
 * for an unknown one take the same time. ERR_NOT_FOUND for every failure
 * (unknown address included).
 */
MUST_CHECK enum err accounts_magic_link_consume_code(struct accounts *a, struct str email,
                                                     struct str code,
                                                     const struct accounts_client *c,
                                                     char session_id[ACCOUNTS_SECRET_LEN + 1],
                                                     struct accounts_session *out);

/* ---- clean-up ----------------------------------------------------------------- */

/* What one accounts_cleanup run deleted. */
struct accounts_cleanup_stats {
    uint64_t tenants;          /* tenants whose sessions/tokens were cleaned */
    uint64_t sessions;         /* revoked or expired (idle or absolute) sessions */
    uint64_t tokens;           /* used or expired verification, reset and magic-link tokens */
    uint64_t ip_counters;      /* per-IP sign-in failure counters */
    uint64_t idempotency_keys; /* stored POST responses past IDEM_TTL_S (idempotency.h) */
    uint64_t token_families;   /* revoked or ended token families (auth/tokens.h) */
    uint64_t refresh_tokens;   /* expired refresh tokens of families still kept */
    uint64_t denylist;         /* access-token deny-list entries past their token's expiry */
};

/*
 * Deletes, with "now" from the clock hook: sessions revoked, idle-expired or
 * past their absolute expiry, and tokens used or expired, at least
 * ACCOUNTS_CLEANUP_GRACE_S ago (so nothing anyone could still use or list
 * goes: "your sessions" shows live sessions only); and per-IP failure
 * counters whose ACCOUNTS_IP_WINDOW_S window has passed and that are not
 * locked (the next failure would start them over anyway); and ended access-
 * and refresh-token state (auth_tokens_cleanup, auth/tokens.h). Audit events
 * are not touched. One transaction per tenant, each bound to it; the tenants
 * with something to delete are found with one directory statement (see
 * above), so this works on the server's own storage. A tenant that fails is
 * skipped and the rest still cleaned; the first error is returned, and out
 * (always filled) counts what was deleted. Several servers may run it at
 * once (a row is deleted once, by one of them).
 */
MUST_CHECK enum err accounts_cleanup(struct accounts *a, struct accounts_cleanup_stats *out);

/*
 * A thread that runs accounts_cleanup every interval_s seconds (0 =
 * ACCOUNTS_CLEANER_INTERVAL_DEFAULT), the first time one interval after the
 * start; a failing round logs one error line and the next round retries. a
 * must outlive the cleaner. ERR_INVALID without a; ERR_INTERNAL when the
 * thread cannot be created.
 */
struct accounts_cleaner;
MUST_CHECK enum err accounts_cleaner_start(struct accounts *a, unsigned interval_s,
                                           struct accounts_cleaner **out);
/*
 * Stops and frees the thread: promptly, also in the middle of a round (which
 * then ends after the tenant it is cleaning). NULL is a no-op.
 */
void accounts_cleaner_stop(struct accounts_cleaner *c);

/* ---- helpers exposed for the HTTP layer and tests ------------------------------ */

/*
 * Normalizes an address into out (ASCII letters lower-cased): ERR_LIMIT past
 * ACCOUNTS_MAX_EMAIL bytes; ERR_INVALID unless it is one '@' between a
 * non-empty local part and a domain with a dot, without spaces or control
 * characters.
 */
MUST_CHECK enum err accounts_email_normalize(struct str email, char out[ACCOUNTS_MAX_EMAIL + 1]);

/* The slug for an organization name: [a-z0-9-], at most ACCOUNTS_MAX_SLUG bytes, never empty. */
void accounts_slug_of(struct str org_name, char out[ACCOUNTS_MAX_SLUG + 1]);

/* ---- members and invitations (members.c) ---------------------------------------
 *
 * Issue 5 item 2, SPEC Z1, A6, A11, L1, T4. Who belongs to a tenant and with
 * which role: the users rows themselves (users.role), listed, re-roled and
 * removed here, and invitations, which are how anyone but the first Super
 * Admin (sign-up) joins.
 *
 * Who may do what (the actor is a signed-in user, or an API key acting for
 * its creator; the route needs AUTHZ_MEMBERS_MANAGE, i.e. Admin and up):
 *  - The actor's role is read again from the users table inside the write
 *    transaction and the lesser of that and the claimed role counts (a
 *    demotion a moment ago counts); an actor whose row is gone is
 *    ERR_UNAUTHENTICATED, one below Admin or with an unverified address
 *    ERR_FORBIDDEN.
 *  - Never above one's own role: changing a role needs the actor's role >=
 *    the member's current role and >= the new one (an Admin can neither
 *    touch a Super Admin nor make one); removing needs it >= the member's
 *    role; inviting, >= the invited role; revoking an invitation, >= its
 *    role. An Admin may demote or remove another Admin.
 *  - Nobody changes their own role, except a Super Admin stepping down while
 *    another Super Admin remains. Anyone may remove themselves (leave),
 *    except the last Super Admin. These self rules are for the person
 *    (a session, or a token of their own): an API key, or a token made from
 *    one (actor key_id set), acting for its creator is never its creator
 *    here, so the creator is a member like any other to it (a members:write
 *    key, at most an Admin, can neither remove nor demote a Super Admin
 *    creator).
 *  - The last Super Admin can be neither demoted nor removed (ERR_CONFLICT).
 *    The count is taken inside the write transaction, after a per-tenant
 *    lock: on PostgreSQL every member-changing transaction (role change,
 *    removal, invitation, revocation, acceptance) first takes
 *    pg_advisory_xact_lock on "shiplog/members/<tenant>", so two Super
 *    Admins demoting each other at once are serialized and the second sees
 *    the first's change; SQLite write transactions are exclusive already.
 *  - A refusal by these rules commits its audit event (outcome denied, with
 *    the reason) and nothing else (Z2), as auth/apikeys.c does.
 *
 * Removal deletes the users row: its sessions, tokens, address directory
 * entry (user_emails) and API keys go with it (ON DELETE CASCADE), so the
 * address is free again, and the session cache is told after the commit:
 * the member's next request fails at once in this process (within
 * session_cache_ms in others, as for every revocation), an API key of theirs
 * at once everywhere (keys are read from the database on every call). A role
 * change is seen by the member's sessions the same way, and cuts their API
 * keys at the next call (auth.h, Z3).
 *
 * Invitations do not outlive their inviter's power to invite: removing a
 * member revokes every open invitation they sent, and demoting one revokes
 * their open invitations whose role is above the new role, in the same
 * transaction, each audited as member.invitation_revoked (reason
 * "inviter_removed" / "inviter_demoted"). (invited_by is text without a
 * foreign key, so the revocation is done here, not by a cascade.)
 *
 * Invitations (A6): a token "<tenant id>.<random>" like a verification
 * token (only the SHA-256 of the random part is stored), valid
 * ACCOUNTS_INVITE_TTL_S, used once. Inviting an address that is a member of
 * this tenant already is ERR_CONFLICT (the inviter can list members anyway);
 * an address with an account in another tenant is invited like any other
 * (the inviter learns nothing about other tenants) and accepting says so to
 * the invitee, who holds the token. Re-inviting an address revokes its open
 * invitation and makes a new one (a new token, a new expiry, the new role).
 * A tenant holds at most ACCOUNTS_MAX_OPEN_INVITATIONS open invitations and,
 * members and open invitations together, ACCOUNTS_MAX_MEMBERS. Ended
 * invitations (accepted, revoked, expired) are deleted
 * ACCOUNTS_CLEANUP_GRACE_S after they ended, by the next invitation of the
 * tenant. The mail is queued through the caller's mailer in the invitation's
 * transaction (outbox), so a token never exists without its mail.
 *
 * Accepting (the POST behind the page the mail's link opens) checks the
 * token first (ERR_NOT_FOUND for a malformed, unknown, used, revoked or
 * expired one, before any password work), then the password against the
 * sign-up policy (ERR_INVALID / ERR_LIMIT with a reason; the token is not
 * spent), hashes it (bcrypt outside any transaction, as sign-up), and in one
 * write transaction spends the invitation, creates the user with the invited
 * role and a verified address (the token proves the mailbox), claims the
 * address in the directory (ERR_CONFLICT, nothing spent, when it has an
 * account anywhere) and opens a session.
 *
 * Audit (L1), in the transaction of the change, target "user:<id>" or
 * "invitation:<id>": member.invited, member.invitation_revoked (details
 * role, reason: "revoked", "replaced", "inviter_removed",
 * "inviter_demoted"), member.joined (actor the new member),
 * member.role_changed (details from, to, and for a raise families_revoked),
 * member.removed (details role, self); refusals with outcome denied.
 * Addresses never go into details.
 */
#include "authz/authz.h"

#define ACCOUNTS_INVITE_TTL_S         (7 * 24 * 60 * 60) /* an invitation link */
#define ACCOUNTS_MAX_MEMBERS          1000 /* members + open invitations of a tenant */
#define ACCOUNTS_MAX_OPEN_INVITATIONS 50   /* open invitations of a tenant */
#define ACCOUNTS_MEMBERS_PAGE         50   /* members one accounts_members_list call returns */
#define ACCOUNTS_MAX_MEMBERS_PAGES    (ACCOUNTS_MAX_MEMBERS / ACCOUNTS_MEMBERS_PAGE)
#define ACCOUNTS_MAX_TENANT_NAME      200 /* bytes of a tenant's display name (as cmd_admin) */

/* Who manages members: a session's user, or an API key acting for its creator. */
struct accounts_actor {
    struct accounts_user_ref user; /* a key's creator for a key; user.tenant: acted in */
    enum authz_role role;          /* as the request knew it; the stored role may lower it */
    const char *key_id;            /* NULL for a session; else the key (audit actor api_key) */
};

/* One member as listed. */
struct accounts_member {
    char id[ACCOUNTS_ID_LEN + 1];
    char email[ACCOUNTS_MAX_EMAIL + 1];
    enum authz_role role;
    bool email_verified;
    int64_t created_at;
};

/*
 * The tenant's members in address order, page page (0-based, below
 * ACCOUNTS_MAX_MEMBERS_PAGES), at most ACCOUNTS_MEMBERS_PAGE of them into
 * out (which must hold that many); *n gets how many, *total (may be NULL)
 * how many members the tenant has. ERR_INVALID for a page out of range.
 * Reading is not checked here: the caller's route holds the permission.
 */
MUST_CHECK enum err accounts_members_list(struct accounts *a, const struct tenant_ctx *t,
                                          unsigned page, struct accounts_member *out, size_t *n,
                                          size_t *total);

/*
 * Sets member_id's role to role (see above for who may). A raise also ends
 * the member's sessions and access/refresh token families, in the same
 * transaction (A3: the higher role comes with a new sign-in, so a new
 * session id or a new token grant; auth_tokens_revoke_user, reason
 * "role_raised", which also refuses token grants begun in that second or
 * before); a lowering applies to the live sessions and tokens at once and
 * revokes the member's open invitations above the new role. ERR_OK
 * without a change when it has that role already. ERR_NOT_FOUND for an id that is not
 * a UUID or no member of who's tenant (T4: nothing changes); ERR_INVALID for
 * AUTHZ_ROLE_NONE or out of range; ERR_FORBIDDEN / ERR_CONFLICT (last Super
 * Admin) with *reason (may be NULL), audited as denied; ERR_UNAUTHENTICATED
 * when the actor is gone; ERR_LIMIT for client fields; storage errors.
 */
MUST_CHECK enum err accounts_member_set_role(struct accounts *a, const struct accounts_actor *who,
                                             struct str member_id, enum authz_role role,
                                             const struct accounts_client *c, const char **reason);

/*
 * Removes member_id from who's tenant (deletes the user; see above) and
 * revokes the open invitations they sent. Errors as
 * accounts_member_set_role.
 */
MUST_CHECK enum err accounts_member_remove(struct accounts *a, const struct accounts_actor *who,
                                           struct str member_id, const struct accounts_client *c,
                                           const char **reason);

/* What an invitation mail needs; token is a secret (never log it). */
struct accounts_invite_mail {
    const char *to;       /* the normalized address */
    const char *token;    /* for the link */
    const char *org;      /* the tenant's display name */
    enum authz_role role; /* the role offered */
    int64_t expires_at;   /* Unix seconds */
};

/* Queues the invitation mail inside tx (the invitation's transaction); an error fails it. */
struct accounts_invite_mailer {
    enum err (*queue)(void *arg, struct tx *tx, const struct accounts_invite_mail *m);
    void *arg;
};

/* A new invitation. token is the secret of the link: wipe it (the mail has it). */
struct accounts_invitation_created {
    char id[ACCOUNTS_ID_LEN + 1];
    char email[ACCOUNTS_MAX_EMAIL + 1];
    enum authz_role role;
    int64_t expires_at;
    char token[ACCOUNTS_SECRET_LEN + 1];
};

/*
 * Invites email into who's tenant with role, replacing an open invitation of
 * that address, and queues the mail through mailer (required: nobody could
 * use a token nobody is told about). ERR_LIMIT for an address past
 * ACCOUNTS_MAX_EMAIL or a full tenant (*reason says which); ERR_INVALID for
 * a malformed address or a role out of range, or without a mailer;
 * ERR_CONFLICT when the address is a member already; ERR_FORBIDDEN (audited)
 * for a role above the actor's, or replacing an invitation above it;
 * ERR_UNAUTHENTICATED as above; storage errors, and the mailer's. out is
 * wiped unless ERR_OK.
 */
MUST_CHECK enum err accounts_invite(struct accounts *a, const struct accounts_actor *who,
                                    struct str email, enum authz_role role,
                                    const struct accounts_client *c,
                                    const struct accounts_invite_mailer *mailer,
                                    struct accounts_invitation_created *out, const char **reason);

/* One open invitation as listed (never its token). */
struct accounts_invitation {
    char id[ACCOUNTS_ID_LEN + 1];
    char email[ACCOUNTS_MAX_EMAIL + 1];
    enum authz_role role;
    char invited_by[ACCOUNTS_ID_LEN + 1]; /* a user id; the user may be gone since */
    int64_t created_at, expires_at;
};

/*
 * t's open invitations (not accepted, revoked or expired), newest first, into
 * out (which must hold ACCOUNTS_MAX_OPEN_INVITATIONS); *n gets how many.
 */
MUST_CHECK enum err accounts_invitations_list(struct accounts *a, const struct tenant_ctx *t,
                                              struct accounts_invitation *out, size_t *n);

/*
 * Revokes who's tenant's open invitation invitation_id. ERR_NOT_FOUND for a
 * malformed or unknown id, another tenant's, or one no longer open;
 * ERR_FORBIDDEN (audited) for an invitation above the actor's role; others
 * as accounts_member_set_role.
 */
MUST_CHECK enum err accounts_invitation_revoke(struct accounts *a, const struct accounts_actor *who,
                                               struct str invitation_id,
                                               const struct accounts_client *c,
                                               const char **reason);

/* What the page a link opens shows before anything is spent. */
struct accounts_invitation_info {
    char email[ACCOUNTS_MAX_EMAIL + 1];
    char org[ACCOUNTS_MAX_TENANT_NAME + 1];
    enum authz_role role;
    int64_t expires_at;
};

/*
 * Reads the open invitation of token without changing anything (the GET of
 * the link: a mail scanner spends nothing). ERR_NOT_FOUND as for accepting;
 * ERR_LIMIT past ACCOUNTS_MAX_SECRET_TEXT.
 */
MUST_CHECK enum err accounts_invitation_peek(struct accounts *a, struct str token,
                                             struct accounts_invitation_info *out);

/*
 * Accepts an invitation (see above) and signs the new member in: the session
 * id in session_id, its details in out (may be NULL). ERR_NOT_FOUND for a
 * bad token; ERR_INVALID / ERR_LIMIT (*reason) for a refused password;
 * ERR_CONFLICT (*reason) when the address has an account already; ERR_LIMIT
 * for client fields; storage errors.
 */
MUST_CHECK enum err accounts_invitation_accept(struct accounts *a, struct str token,
                                               struct str password, const struct accounts_client *c,
                                               char session_id[ACCOUNTS_SECRET_LEN + 1],
                                               struct accounts_session *out, const char **reason);

#endif
