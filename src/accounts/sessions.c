/*
 * sessions.c — server-side sessions (A3): creation at sign-in, lookup with
 * idle and absolute timeouts, sign-out, per-session revocation, listing and
 * "sign out everywhere".
 *
 * A session id is "<tenant>.<token>" (accounts.h); the row holds the SHA-256
 * of the token part, which doubles as the session's public handle in lists
 * (knowing it does not let anyone use the session). Revocation sets
 * revoked_at, which every database read checks.
 *
 * Lookups first ask the session cache (session_cache.c). A cached session is
 * used only while the clock hook says it is within its idle and absolute
 * expiry as the database last said them, and while no slide is due;
 * otherwise the lookup reads the database in a read transaction, as without
 * a cache, and writes only when last_seen_at is ACCOUNTS_SESSION_SLIDE_S old,
 * so most requests take no write lock and, with the cache, open no
 * transaction at all. A live result is offered back to the cache.
 *
 * So revocation takes effect at once in this process: every function here
 * that revokes drops the cached entries after its commit. A revocation made
 * by another process (another server on the same database, `shiplog admin`)
 * takes effect here within session_cache_ms (SHIPLOG_SESSION_CACHE_MS), when
 * the entry ages out.
 *
 * "Sign out everywhere" also ends the user's access and refresh tokens
 * (auth_tokens_revoke_user, in the same transaction): tokens have no cache,
 * so that takes effect at once in every process.
 */
#include <string.h>

#include "accounts/accounts_internal.h"
#include "auth/tokens.h"
#include "core/log.h"
#include "crypto/hash.h"

/* The user agent as stored: printable ASCII (others become '?'), cut to the limit. */
static void ua_clean(const char *ua, char out[ACCOUNTS_MAX_USER_AGENT + 1])
{
    size_t n = 0;
    for (; ua && ua[n] && n < ACCOUNTS_MAX_USER_AGENT; n++) {
        unsigned char ch = (unsigned char)ua[n];
        out[n] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    out[n] = '\0';
}

enum err acc_session_create(struct accounts *a, struct tx *tx, const struct accounts_user_ref *user,
                            const struct accounts_client *c,
                            char session_id[ACCOUNTS_SECRET_LEN + 1], struct accounts_session *out)
{
    char h[ACCOUNTS_HASH_HEX + 1], ua[ACCOUNTS_MAX_USER_AGENT + 1];
    enum err e = acc_secret_new(&user->tenant, session_id, h);
    if (e)
        return e;
    ua_clean(c ? c->user_agent : NULL, ua);
    int64_t now = accounts_now(a);
    int64_t expires = now + ACCOUNTS_SESSION_ABSOLUTE_S;
    int64_t idle = now + ACCOUNTS_SESSION_IDLE_S;
    e = tx_exec_args(tx,
                     "INSERT INTO sessions (tenant_id, id_hash, user_id, created_at, last_seen_at, "
                     "expires_at, idle_expires_at, revoked_at, client_ip, user_agent) "
                     "VALUES ($1, $2, $3, $4, $4, $5, $6, NULL, $7, $8)",
                     STORAGE_ARGS(STORAGE_CSTR(h), STORAGE_CSTR(user->user_id), STORAGE_INT(now),
                                  STORAGE_INT(expires), STORAGE_INT(idle),
                                  STORAGE_CSTR(c && c->ip ? c->ip : ""), STORAGE_CSTR(ua)),
                     NULL);
    if (e) {
        crypto_wipe(session_id, ACCOUNTS_SECRET_LEN + 1);
        return e;
    }
    if (out) {
        out->user = *user;
        memcpy(out->id_hash, h, sizeof h);
        out->created_at = out->last_seen_at = now;
        out->expires_at = expires;
        out->idle_expires_at = idle;
    }
    return ERR_OK;
}

enum err acc_sessions_revoke_all(struct accounts *a, struct tx *tx, const char *user_id,
                                 uint64_t *n)
{
    return tx_exec_args(tx,
                        "UPDATE sessions SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 "
                        "AND revoked_at IS NULL",
                        STORAGE_ARGS(STORAGE_CSTR(user_id), STORAGE_INT(accounts_now(a))), n);
}

/* The live session with hash h in t; ERR_UNAUTHENTICATED when none. */
static enum err session_read(struct accounts *a, const struct tenant_ctx *t, const char *h,
                             int64_t now, struct accounts_session *out)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, t, TX_READ, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx,
                 "SELECT s.user_id, s.created_at, s.last_seen_at, s.expires_at, "
                 "s.idle_expires_at, s.revoked_at, u.role, u.email_verified_at "
                 "FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id "
                 "WHERE s.tenant_id = $1 AND u.tenant_id = $1 AND s.id_hash = $2",
                 STORAGE_ARGS(STORAGE_CSTR(h)), &st, &row);
    if (!e && !row)
        e = ERR_UNAUTHENTICATED;
    if (!e) {
        out->user.tenant = *t;
        acc_col_copy(st, 0, out->user.user_id, sizeof out->user.user_id);
        out->created_at = stmt_col_int(st, 1);
        out->last_seen_at = stmt_col_int(st, 2);
        out->expires_at = stmt_col_int(st, 3);
        out->idle_expires_at = stmt_col_int(st, 4);
        bool revoked = !stmt_col_is_null(st, 5);
        acc_col_copy(st, 6, out->role, sizeof out->role);
        out->email_verified = !stmt_col_is_null(st, 7);
        memcpy(out->id_hash, h, ACCOUNTS_HASH_HEX + 1);
        if (revoked || now >= out->expires_at || now >= out->idle_expires_at)
            e = ERR_UNAUTHENTICATED;
    }
    stmt_finish(st);
    storage_rollback(tx);
    return e;
}

/*
 * Writes the slide of session h read into s: last_seen_at now, idle expiry
 * ACCOUNTS_SESSION_IDLE_S later (never past expires_at). ERR_UNAUTHENTICATED
 * when it was revoked or expired since the read.
 */
static enum err session_slide(struct accounts *a, const struct tenant_ctx *t, const char *h,
                              int64_t now, struct accounts_session *s)
{
    int64_t idle = now + ACCOUNTS_SESSION_IDLE_S;
    if (idle > s->expires_at)
        idle = s->expires_at;
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, t, TX_WRITE, &tx);
    if (e)
        return e;
    uint64_t n = 0;
    /* the conditions again: a revocation since the read wins */
    e = tx_exec_args(tx,
                     "UPDATE sessions SET last_seen_at = $3, idle_expires_at = $4 "
                     "WHERE tenant_id = $1 AND id_hash = $2 AND revoked_at IS NULL "
                     "AND idle_expires_at > $3 AND expires_at > $3",
                     STORAGE_ARGS(STORAGE_CSTR(h), STORAGE_INT(now), STORAGE_INT(idle)), &n);
    if (!e && n != 1)
        e = ERR_UNAUTHENTICATED;
    if (e) {
        storage_rollback(tx);
        return e;
    }
    if ((e = storage_commit(tx)) != ERR_OK)
        return e;
    s->last_seen_at = now;
    s->idle_expires_at = idle;
    return ERR_OK;
}

/* True when a cached s may answer at now: live by its own times, no slide due. */
static bool cached_usable(const struct accounts_session *s, int64_t now)
{
    return now < s->expires_at && now < s->idle_expires_at &&
           now - s->last_seen_at < ACCOUNTS_SESSION_SLIDE_S;
}

enum err accounts_session_lookup(struct accounts *a, struct str session_id,
                                 struct accounts_session *out)
{
    memset(out, 0, sizeof *out);
    struct tenant_ctx t;
    char h[ACCOUNTS_HASH_HEX + 1];
    if (acc_secret_parse(session_id, &t, h) != ERR_OK)
        return ERR_UNAUTHENTICATED;
    int64_t now = accounts_now(a);
    /* a cached session past an expiry, or due a slide, goes to the database:
     * the cache never answers for longer than the database would */
    if (acc_cache_get(a->cache, &t, h, out)) {
        if (cached_usable(out, now))
            return ERR_OK;
        memset(out, 0, sizeof *out);
    }
    struct acc_cache_stamp st;
    acc_cache_stamp(a->cache, &st); /* before the read (session_cache.c says why) */
    enum err e = session_read(a, &t, h, now, out);
    if (!e && now - out->last_seen_at >= ACCOUNTS_SESSION_SLIDE_S)
        e = session_slide(a, &t, h, now, out);
    if (e)
        return e;
    acc_cache_put(a->cache, &st, out);
    return ERR_OK;
}

/* Revokes session h of user_id in tx; ERR_NOT_FOUND when it is not live. */
static enum err revoke_one(struct accounts *a, struct tx *tx, const char *user_id, const char *h)
{
    uint64_t n = 0;
    int64_t now = accounts_now(a);
    enum err e =
        tx_exec_args(tx,
                     "UPDATE sessions SET revoked_at = $4 WHERE tenant_id = $1 "
                     "AND user_id = $2 AND id_hash = $3 AND revoked_at IS NULL "
                     "AND expires_at > $4 AND idle_expires_at > $4",
                     STORAGE_ARGS(STORAGE_CSTR(user_id), STORAGE_CSTR(h), STORAGE_INT(now)), &n);
    return e ? e : n == 1 ? ERR_OK : ERR_NOT_FOUND;
}

enum err accounts_signout(struct accounts *a, struct str session_id,
                          const struct accounts_client *c)
{
    struct accounts_session s;
    enum err e = acc_client_check(c);
    if (e)
        return e;
    if ((e = accounts_session_lookup(a, session_id, &s)) != ERR_OK)
        return e;
    struct tx *tx = NULL;
    if ((e = storage_begin(a->db, &s.user.tenant, TX_WRITE, &tx)) != ERR_OK)
        return e;
    e = revoke_one(a, tx, s.user.user_id, s.id_hash);
    if (e == ERR_NOT_FOUND)
        e = ERR_UNAUTHENTICATED;
    char ut[sizeof "user:" + ACCOUNTS_ID_LEN];
    snprintf(ut, sizeof ut, "user:%s", s.user.user_id);
    if (!e)
        e = acc_audit(tx, "auth.signout", AUDIT_ACTOR_USER, s.user.user_id, ut, AUDIT_SUCCESS, c,
                      NULL);
    if (e)
        storage_rollback(tx);
    else
        e = storage_commit(tx);
    /* after a failed commit too (it may have gone through), and when the lookup above came
     * from the cache but the row was already revoked (by another process) */
    acc_cache_forget(a->cache, &s.user.tenant, NULL, s.id_hash);
    return e;
}

static bool hex64(struct str s)
{
    if (s.len != ACCOUNTS_HASH_HEX)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!((s.ptr[i] >= '0' && s.ptr[i] <= '9') || (s.ptr[i] >= 'a' && s.ptr[i] <= 'f')))
            return false;
    return true;
}

enum err accounts_session_revoke(struct accounts *a, const struct accounts_user_ref *user,
                                 struct str id_hash, const struct accounts_client *c)
{
    enum err e = acc_client_check(c);
    if (e)
        return e;
    if (id_hash.len > ACCOUNTS_HASH_HEX)
        return ERR_LIMIT;
    if (!hex64(id_hash))
        return ERR_NOT_FOUND;
    char h[ACCOUNTS_HASH_HEX + 1];
    memcpy(h, id_hash.ptr, ACCOUNTS_HASH_HEX);
    h[ACCOUNTS_HASH_HEX] = '\0';
    struct tx *tx = NULL;
    if ((e = storage_begin(a->db, &user->tenant, TX_WRITE, &tx)) != ERR_OK)
        return e;
    e = revoke_one(a, tx, user->user_id, h);
    char target[sizeof "session:" + ACCOUNTS_HASH_HEX];
    snprintf(target, sizeof target, "session:%s", h);
    if (!e)
        e = acc_audit(tx, "auth.session_revoked", AUDIT_ACTOR_USER, user->user_id, target,
                      AUDIT_SUCCESS, c, NULL);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    acc_cache_forget(a->cache, &user->tenant, user->user_id, h); /* also after a failed commit */
    return e;
}

enum err accounts_sessions_list(struct accounts *a, const struct accounts_user_ref *user,
                                struct accounts_session_info *list, size_t cap, size_t *n)
{
    *n = 0;
    if (cap > ACCOUNTS_MAX_SESSIONS)
        cap = ACCOUNTS_MAX_SESSIONS;
    int64_t now = accounts_now(a);
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, &user->tenant, TX_READ, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(
        tx,
        "SELECT id_hash, created_at, last_seen_at, expires_at, client_ip, user_agent "
        "FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL "
        "AND expires_at > $3 AND idle_expires_at > $3 "
        "ORDER BY created_at DESC, id_hash LIMIT $4",
        STORAGE_ARGS(STORAGE_CSTR(user->user_id), STORAGE_INT(now), STORAGE_INT((int64_t)cap)), &st,
        &row);
    while (!e && row && *n < cap) {
        struct accounts_session_info *s = &list[*n];
        acc_col_copy(st, 0, s->id_hash, sizeof s->id_hash);
        s->created_at = stmt_col_int(st, 1);
        s->last_seen_at = stmt_col_int(st, 2);
        s->expires_at = stmt_col_int(st, 3);
        acc_col_copy(st, 4, s->client_ip, sizeof s->client_ip);
        acc_col_copy(st, 5, s->user_agent, sizeof s->user_agent);
        (*n)++;
        e = stmt_step(st, &row);
    }
    stmt_finish(st);
    storage_rollback(tx);
    if (e)
        *n = 0;
    return e;
}

enum err accounts_signout_everywhere(struct accounts *a, const struct accounts_user_ref *user,
                                     const struct accounts_client *c, uint64_t *revoked)
{
    uint64_t n = 0;
    if (revoked)
        *revoked = 0;
    enum err e = acc_client_check(c);
    if (e)
        return e;
    struct tx *tx = NULL;
    if ((e = storage_begin(a->db, &user->tenant, TX_WRITE, &tx)) != ERR_OK)
        return e;
    e = acc_sessions_revoke_all(a, tx, user->user_id, &n);
    /* access and refresh tokens end in the same transaction (auth/tokens.h) */
    uint64_t families = 0;
    if (!e)
        e = auth_tokens_revoke_user(tx, user->user_id, accounts_now(a), "signout_everywhere",
                                    &families);
    char ut[sizeof "user:" + ACCOUNTS_ID_LEN];
    snprintf(ut, sizeof ut, "user:%s", user->user_id);
    if (!e)
        e = acc_audit(tx, "auth.signout_everywhere", AUDIT_ACTOR_USER, user->user_id, ut,
                      AUDIT_SUCCESS, c,
                      LOG_FIELDS_(LOG_INT("sessions_revoked", (int64_t)n),
                                  LOG_INT("families_revoked", (int64_t)families)));
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    acc_cache_forget(a->cache, &user->tenant, user->user_id, NULL); /* also after a failure */
    if (e)
        return e;
    if (revoked)
        *revoked = n;
    return ERR_OK;
}
