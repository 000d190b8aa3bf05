/*
 * accounts_internal — what accounts.c, sessions.c, session_cache.c and
 * cleanup.c share; not for other modules.
 */
#ifndef SHIPLOG_ACCOUNTS_INTERNAL_H
#define SHIPLOG_ACCOUNTS_INTERNAL_H

#include "accounts/accounts.h"
#include "crypto/hash.h"

struct accounts {
    struct storage *db;
    struct secrets *secrets;
    const struct keyring *ring;
    unsigned cost;
    struct password_ctx pw; /* pepper of the current master key */
    /* code_keys[i]: the magic-code MAC key derived from ring->keys[i] (wiped at close) */
    unsigned char code_keys[KEYRING_MAX][SHA256_LEN];
    size_t n_code_keys;
    unsigned request_floor_ms; /* see ACCOUNTS_REQUEST_FLOOR_MS */
    int64_t (*now)(void *arg);
    void *now_arg;
    void (*matched)(void *arg); /* accounts_set_matched_hook; NULL = none */
    void *matched_arg;
    struct acc_session_cache *cache; /* NULL = no cache (session_cache_ms 0) */
};

int64_t accounts_now(const struct accounts *a);

/* The context of the directory statements (accounts.h). */
extern const struct tenant_ctx acc_directory_ctx;

/* Copies a column into a fixed buffer (cut to cap - 1 bytes). */
void acc_col_copy(const struct stmt *st, int col, char *out, size_t cap);

/* Appends an audit event for the client. */
MUST_CHECK enum err acc_audit(struct tx *tx, const char *action, enum audit_actor actor,
                              const char *actor_id, const char *target, enum audit_outcome outcome,
                              const struct accounts_client *c, const struct log_field *details);

/*
 * Splits "<tenant>.<token>" into the tenant and the token's hash (hex).
 * ERR_LIMIT past ACCOUNTS_MAX_SECRET_TEXT, ERR_INVALID when malformed.
 */
MUST_CHECK enum err acc_secret_parse(struct str text, struct tenant_ctx *t,
                                     char hash_hex[ACCOUNTS_HASH_HEX + 1]);
/* A fresh "<tenant>.<token>" for t and the hex hash to store. */
MUST_CHECK enum err acc_secret_new(const struct tenant_ctx *t, char text[ACCOUNTS_SECRET_LEN + 1],
                                   char hash_hex[ACCOUNTS_HASH_HEX + 1]);

/* Checks a client's fields against their limits (ERR_LIMIT). */
MUST_CHECK enum err acc_client_check(const struct accounts_client *c);

/*
 * Creates a session for user inside tx (which must be TX_WRITE), writes its
 * id to session_id and fills out (may be NULL; role and email_verified are
 * the caller's to set).
 */
MUST_CHECK enum err acc_session_create(struct accounts *a, struct tx *tx,
                                       const struct accounts_user_ref *user,
                                       const struct accounts_client *c,
                                       char session_id[ACCOUNTS_SECRET_LEN + 1],
                                       struct accounts_session *out);

/*
 * Revokes all live sessions of user in tx; *n (may be NULL) gets how many.
 * The caller drops the user's cached sessions after the commit
 * (acc_cache_forget).
 */
MUST_CHECK enum err acc_sessions_revoke_all(struct accounts *a, struct tx *tx, const char *user_id,
                                            uint64_t *n);

/* ---- the session cache (session_cache.c) ---------------------------------------
 *
 * Lookups take a stamp before they read the database and offer what they
 * read with it (acc_cache_put); every change to sessions or to what the
 * lookup returns calls acc_cache_forget after its commit. session_cache.c
 * explains why that order keeps stale rows out. Every function is a no-op
 * (get: a miss) on a NULL cache, and all are safe from any thread.
 */
struct acc_session_cache;

/* A cache whose entries live ttl_ms (1..ACCOUNTS_SESSION_CACHE_MAX_MS). */
struct acc_session_cache *acc_cache_new(unsigned ttl_ms);
void acc_cache_free(struct acc_session_cache *c); /* NULL is a no-op */

/* Taken just before a lookup's database read; see acc_cache_put. */
struct acc_cache_stamp {
    uint64_t gen;     /* the invalidation generation */
    int64_t taken_ns; /* CLOCK_MONOTONIC: the entry's age counts from here */
};
void acc_cache_stamp(struct acc_session_cache *c, struct acc_cache_stamp *out);

/*
 * The cached session with hash h in tenant t, younger than the TTL, into
 * out: true on a hit. The caller still checks it against its clock.
 */
bool acc_cache_get(struct acc_session_cache *c, const struct tenant_ctx *t, const char *h,
                   struct accounts_session *out);

/*
 * Stores s (a live session just read, keyed by s->user.tenant and
 * s->id_hash) unless something was forgotten since st was taken.
 */
void acc_cache_put(struct acc_session_cache *c, const struct acc_cache_stamp *st,
                   const struct accounts_session *s);

/*
 * Call after the commit (whatever it returned) of any change to a session or
 * to its user's role or verification: later lookups miss every entry of
 * tenant t matching user_id and h (NULL = any), and lookups that read before
 * the change cannot store what they read.
 */
void acc_cache_forget(struct acc_session_cache *c, const struct tenant_ctx *t, const char *user_id,
                      const char *h);

/* ---- for members.c (accounts.c) ------------------------------------------------ */

/* The directory key of a normalized address (user_emails.email_hash). */
void acc_email_hash(const char *email, char out[ACCOUNTS_HASH_HEX + 1]);
/* A random version-4 UUID in canonical text. */
MUST_CHECK enum err acc_new_uuid(char out[ACCOUNTS_ID_LEN + 1]);

#endif
