/*
 * tokens.c — access and refresh tokens in the database: issue, rotate,
 * verify, revoke, clean up. The design and the decisions are in tokens.h.
 *
 * Three tables (migrations sqlite/0011, postgres/0012) and one column:
 * token_families (one row per grant, ON DELETE CASCADE from users and from
 * api_keys), refresh_tokens (hashes only, ON DELETE CASCADE from their
 * family), access_token_denylist (jtis signed out before their expiry) and
 * users.tokens_valid_after. Every statement is bound to the tenant of the
 * transaction ($1); on PostgreSQL the tables have FORCE ROW LEVEL SECURITY
 * as well. The SQL text is the same on both backends except the clean-up's
 * one cross-tenant question.
 *
 * Whatever decides whether a token works — the family, its user's role and
 * verification, its key, the deny-list — is read in ONE statement
 * (family_load), in the same transaction as the change that depends on it.
 */
#include <stdio.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "auth/tokens.h"
#include "core/log.h"

#define HASH_HEX      AUTH_HASH_HEX
#define TARGET_LEN    (sizeof "token_family:" + AUTH_FAMILY_ID_LEN)
#define CLEANUP_BATCH 100 /* tenant ids one clean-up question lists */
#define MAX_REASON    32  /* bytes of a revoked_reason (the table's CHECK) */

_Static_assert(AUTH_REFRESH_TEXT_LEN == AUTH_KEY_TEXT_LEN, "a refresh token is shaped like a key");
_Static_assert(AUTH_MAX_REFRESH_TEXT >= AUTH_REFRESH_TEXT_LEN, "a refresh token fits the limit");
_Static_assert(AUTH_FAMILY_ID_LEN <= JWT_MAX_SID, "a family id fits the sid claim");
_Static_assert(AUTH_MAX_SCOPES_TEXT <= JWT_MAX_SCOPE, "a scope list fits the scope claim");

/* ---- keys and issuer ---------------------------------------------------------------- */

static bool issuer_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '/' || c == '-';
}

enum err auth_token_keys_init(struct auth_token_keys *k, const struct keyring *ring,
                              const char *public_url)
{
    memset(k, 0, sizeof *k);
    if (!ring || ring->n == 0)
        return ERR_INVALID;
    k->ring = ring;
    size_t n = public_url ? strnlen(public_url, JWT_MAX_ISS + 2) : 0;
    while (n > 0 && n <= JWT_MAX_ISS + 1 && public_url[n - 1] == '/')
        n--;
    bool ok = n > 0 && n <= JWT_MAX_ISS;
    for (size_t i = 0; ok && i < n; i++)
        ok = issuer_char(public_url[i]);
    if (ok) {
        memcpy(k->issuer, public_url, n);
        k->issuer[n] = '\0';
    } else {
        snprintf(k->issuer, sizeof k->issuer, "shiplog");
    }
    return ERR_OK;
}

void auth_token_pair_wipe(struct auth_token_pair *p)
{
    if (p)
        crypto_wipe(p, sizeof *p);
}

bool auth_refresh_text_parse(struct str text, struct tenant_ctx *t, char hash[HASH_HEX + 1])
{
    return auth_secret_text_parse(text, AUTH_REFRESH_TEXT_PREFIX, t, hash);
}

/* ---- the family, as the database says ---------------------------------------------------- */

struct family {
    char id[AUTH_FAMILY_ID_LEN + 1];
    char user_id[AUTH_USER_ID_LEN + 1];
    char key_id[AUTH_KEY_ID_LEN + 1]; /* "" for a user's family */
    uint32_t scopes;                  /* a key's family: its scopes at issue */
    int64_t created_at;               /* the grant's start (see auth_token_issue_user) */
    int64_t expires_at;
    enum authz_role role; /* the user's current role */
    int64_t valid_after;  /* users.tokens_valid_after; 0 = none */
    char key_prefix[AUTH_KEY_PREFIX_LEN + 1];
    uint32_t key_scopes;    /* the key's stored scopes */
    int64_t key_expires_at; /* 0 = never */
    bool denied;            /* the jti asked about is on the deny-list */
};

/*
 * True when a family begun at created_at is void because of valid_after
 * (users.tokens_valid_after, has = not NULL): begun before the second of the
 * sign-out everywhere / password reset / promotion. A family of that very
 * second was either revoked by it (committed before) or made after it
 * (issue_in saw the revocation the grant's check did); see tokens.h,
 * "Ending tokens".
 */
static bool before_valid_after(int64_t created_at, bool has, int64_t valid_after)
{
    return has && created_at < valid_after;
}

/*
 * Reads family id of tx's tenant with everything that decides whether it
 * works at now, and whether jti ("" = none) is deny-listed. ERR_OK only when
 * the family is live: not revoked, not ended, not begun at or before its
 * user's tokens_valid_after, its user verified with a known role, its key
 * (if any) live and the user's. ERR_UNAUTHENTICATED otherwise (including an
 * id that is not a UUID); storage errors.
 */
static enum err family_load(struct tx *tx, const char *id, const char *jti, int64_t now,
                            struct family *f)
{
    memset(f, 0, sizeof *f);
    if (!auth_uuid_ok(id))
        return ERR_UNAUTHENTICATED;
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(
        tx,
        "SELECT f.user_id, f.api_key_id, f.scopes, f.expires_at, f.revoked_at,"
        " u.role, u.email_verified_at, u.tokens_valid_after,"
        " k.prefix, k.scopes, k.expires_at, k.revoked_at, k.created_by,"
        " (SELECT count(*) FROM access_token_denylist d WHERE d.tenant_id = $1 AND d.jti = $3),"
        " f.created_at"
        " FROM token_families f"
        " JOIN users u ON u.tenant_id = f.tenant_id AND u.id = f.user_id"
        " LEFT JOIN api_keys k ON k.tenant_id = f.tenant_id AND k.id = f.api_key_id"
        " WHERE f.tenant_id = $1 AND u.tenant_id = $1 AND f.id = $2",
        STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_CSTR(jti)), &st, &row);
    if (e)
        return e;
    if (!row) {
        stmt_finish(st);
        return ERR_UNAUTHENTICATED;
    }
    memcpy(f->id, id, AUTH_FAMILY_ID_LEN + 1);
    bool from_key = !stmt_col_is_null(st, 1);
    char key_owner[AUTH_USER_ID_LEN + 1] = "";
    bool copied =
        auth_col_copy(st, 0, f->user_id, sizeof f->user_id) &&
        (!from_key ||
         (auth_col_copy(st, 1, f->key_id, sizeof f->key_id) &&
          (stmt_col_is_null(st, 8) || (auth_col_copy(st, 8, f->key_prefix, sizeof f->key_prefix) &&
                                       auth_col_copy(st, 12, key_owner, sizeof key_owner)))));
    f->scopes = (uint32_t)auth_col_time(st, 2) & AUTH_SCOPES_ALL;
    f->expires_at = stmt_col_int(st, 3);
    bool revoked = !stmt_col_is_null(st, 4);
    f->role = authz_role_parse(stmt_col_text(st, 5));
    bool verified = !stmt_col_is_null(st, 6);
    bool has_valid_after = !stmt_col_is_null(st, 7);
    f->valid_after = auth_col_time(st, 7);
    bool key_found = !stmt_col_is_null(st, 8);
    f->key_scopes = (uint32_t)auth_col_time(st, 9) & AUTH_SCOPES_ALL;
    f->key_expires_at = auth_col_time(st, 10);
    bool key_revoked = !stmt_col_is_null(st, 11);
    f->denied = stmt_col_int(st, 13) != 0;
    f->created_at = stmt_col_int(st, 14);
    stmt_finish(st);
    if (!copied)
        return ERR_DB; /* the tables' checks make this impossible */
    if (revoked || now >= f->expires_at || !verified || f->role == AUTHZ_ROLE_NONE)
        return ERR_UNAUTHENTICATED;
    /* a family committed after a revocation of all the user's families that
     * could not see it (a grant racing a password reset) is void all the same */
    if (before_valid_after(f->created_at, has_valid_after, f->valid_after))
        return ERR_UNAUTHENTICATED;
    if (from_key && (!key_found || key_revoked || (f->key_expires_at && now >= f->key_expires_at) ||
                     strcmp(key_owner, f->user_id) != 0))
        return ERR_UNAUTHENTICATED;
    return ERR_OK;
}

/* ---- audit ------------------------------------------------------------------------------ */

/* Who an event is by: a user, a key acting for its creator, or nobody known. */
struct who {
    enum audit_actor actor;
    const char *user_id;
    const char *key_id; /* non-NULL and non-empty: the key acts (actor api_key) */
};

static struct who who_of(const struct family *f)
{
    if (f->key_id[0])
        return (struct who){AUDIT_ACTOR_API_KEY, f->user_id, f->key_id};
    return (struct who){AUDIT_ACTOR_USER, f->user_id, NULL};
}

/* Appends action on family_id by w; details (NULL-terminated, at most 5) and on_behalf_of. */
static enum err audit_family(struct tx *tx, const char *action, const struct who *w,
                             const char *family_id, enum audit_outcome outcome,
                             const struct auth_client *c, const struct log_field *details)
{
    struct log_field f[8];
    size_t n = 0;
    for (; details && details[n].key && n < 5; n++)
        f[n] = details[n];
    if (w->key_id && w->key_id[0])
        f[n++] = LOG_STR("on_behalf_of", w->user_id);
    f[n] = (struct log_field){.key = NULL};
    char target[TARGET_LEN];
    snprintf(target, sizeof target, "token_family:%.36s", family_id);
    struct audit_event ev = {
        .action = action,
        .actor = w->actor,
        .actor_id = w->actor == AUDIT_ACTOR_API_KEY ? w->key_id
                    : w->actor == AUDIT_ACTOR_USER  ? w->user_id
                                                    : NULL,
        .target = target,
        .outcome = outcome,
        .client_ip = c ? c->ip : NULL,
        .request_id = c ? c->request_id : NULL,
        .details = f,
    };
    return audit_append(tx, &ev, NULL);
}

/* ---- making tokens ------------------------------------------------------------------------ */

static int64_t min_time(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/*
 * Signs the access token of family f for tenant t at now (ending at the
 * family's end at the latest) into out->access and out->access_expires_at.
 */
static enum err sign_access(const struct auth_token_keys *k, const struct tenant_ctx *t,
                            const struct family *f, uint32_t scopes, int64_t now,
                            struct auth_token_pair *out)
{
    struct jwt_claims cl;
    memset(&cl, 0, sizeof cl);
    memcpy(cl.iss, k->issuer, sizeof cl.iss);
    memcpy(cl.sub, f->user_id, sizeof cl.sub);
    memcpy(cl.tid, t->id, sizeof cl.tid);
    memcpy(cl.sid, f->id, AUTH_FAMILY_ID_LEN + 1);
    if (f->key_id[0]) {
        char text[AUTH_MAX_SCOPES_TEXT + 1];
        auth_scopes_format(scopes, text);
        memcpy(cl.scope, text, sizeof text);
    }
    cl.iat = now;
    cl.exp = min_time(now + AUTH_ACCESS_TTL_S, f->expires_at);
    enum err e = jwt_new_jti(cl.jti);
    struct buf tok = BUF_INIT_SECRET(JWT_MAX_LEN + 1);
    if (!e)
        e = jwt_sign(keyring_current(k->ring), &cl, &tok);
    if (!e && tok.len > JWT_MAX_LEN)
        e = ERR_INTERNAL;
    if (!e) {
        memcpy(out->access, tok.data, tok.len);
        out->access[tok.len] = '\0';
        out->access_expires_at = cl.exp;
    }
    buf_wipe(&tok);
    return e;
}

/* A new refresh token of family f at now, inserted in tx; into out->refresh. */
static enum err new_refresh(struct tx *tx, const struct tenant_ctx *t, const struct family *f,
                            int64_t now, struct auth_token_pair *out)
{
    char hash[HASH_HEX + 1];
    enum err e = auth_secret_text_new(t, AUTH_REFRESH_TEXT_PREFIX, out->refresh, hash, NULL);
    if (e)
        return e;
    int64_t expires = min_time(now + AUTH_REFRESH_TTL_S, f->expires_at);
    e = tx_exec_args(tx,
                     "INSERT INTO refresh_tokens (tenant_id, hash, family_id, created_at,"
                     " expires_at, used_at) VALUES ($1, $2, $3, $4, $5, NULL)",
                     STORAGE_ARGS(STORAGE_CSTR(hash), STORAGE_CSTR(f->id), STORAGE_INT(now),
                                  STORAGE_INT(expires)),
                     NULL);
    crypto_wipe(hash, sizeof hash);
    if (!e)
        out->refresh_expires_at = expires;
    return e;
}

/* Revokes family id in tx with reason; *changed (may be NULL) says whether it was live. */
static enum err family_revoke(struct tx *tx, const char *id, int64_t now, const char *reason,
                              bool *changed)
{
    uint64_t n = 0;
    enum err e =
        tx_exec_args(tx,
                     "UPDATE token_families SET revoked_at = $3, revoked_reason = $4"
                     " WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                     STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_INT(now), STORAGE_CSTR(reason)), &n);
    if (changed)
        *changed = !e && n > 0;
    return e;
}

/*
 * Makes room for one more family of the grant's kind: for a password grant
 * (key_id NULL) the user's live password families beyond the newest
 * AUTH_MAX_FAMILIES_PER_USER - 1, for an API-key grant the key's live
 * families beyond the newest AUTH_MAX_FAMILIES_PER_KEY - 1, are revoked
 * (reason "limit", audited by the system). Each kind evicts only its own: a
 * key, however weak, never ends its creator's password sign-ins, nor
 * another key's.
 */
static enum err family_limit(struct tx *tx, const char *user_id, const char *key_id, int64_t now,
                             const struct auth_client *c)
{
    enum {
        CAP = AUTH_MAX_FAMILIES_PER_USER > AUTH_MAX_FAMILIES_PER_KEY ? AUTH_MAX_FAMILIES_PER_USER
                                                                     : AUTH_MAX_FAMILIES_PER_KEY
    };
    char ids[CAP][AUTH_FAMILY_ID_LEN + 1];
    int64_t max = key_id ? AUTH_MAX_FAMILIES_PER_KEY : AUTH_MAX_FAMILIES_PER_USER;
    size_t n = 0;
    struct stmt *st = NULL;
    bool row = false;
    enum err e =
        tx_query(tx,
                 key_id ? "SELECT id FROM token_families WHERE tenant_id = $1 AND api_key_id = $2"
                          " AND revoked_at IS NULL AND expires_at > $3"
                          " ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
                        : "SELECT id FROM token_families WHERE tenant_id = $1 AND user_id = $2"
                          " AND api_key_id IS NULL AND revoked_at IS NULL AND expires_at > $3"
                          " ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5",
                 STORAGE_ARGS(STORAGE_CSTR(key_id ? key_id : user_id), STORAGE_INT(now),
                              STORAGE_INT(max), STORAGE_INT(max - 1)),
                 &st, &row);
    while (!e && row && n < (size_t)max) {
        if (!auth_col_copy(st, 0, ids[n], sizeof ids[n])) {
            e = ERR_DB;
            break;
        }
        n++;
        e = stmt_step(st, &row);
    }
    stmt_finish(st);
    const struct who sys = {AUDIT_ACTOR_SYSTEM, user_id, NULL};
    for (size_t i = 0; i < n && !e; i++) {
        bool changed = false;
        e = family_revoke(tx, ids[i], now, "limit", &changed);
        if (!e && changed)
            e = audit_family(tx, "token.revoked", &sys, ids[i], AUDIT_SUCCESS, c,
                             LOG_FIELDS_(LOG_STR("reason", "limit"), LOG_STR("user", user_id),
                                         LOG_STR("grant", key_id ? "api_key" : "password")));
    }
    return e;
}

/* A grant: the user, and the key when the grant is an API key's. */
struct grant {
    const struct tenant_ctx *tenant;
    const char *user_id;
    const struct auth_key_principal *key; /* NULL for a password grant */
    int64_t seen_valid_after; /* the password check's; AUTH_VALID_AFTER_UNCHECKED for keys */
};

/* Everything a grant does inside its write transaction. */
static enum err issue_in(struct tx *tx, const struct auth_token_keys *k, const struct grant *g,
                         int64_t now, const struct auth_client *c, struct auth_token_pair *out)
{
    struct family f;
    memset(&f, 0, sizeof f);
    memcpy(f.user_id, g->user_id, AUTH_USER_ID_LEN + 1);
    struct stmt *st = NULL;
    bool row = false;
    /* FOR SHARE (PostgreSQL): a revocation updates this row first, so either
     * it committed before this read (and is seen) or it waits for this
     * transaction and then revokes the family made here */
    enum err e = tx_query(tx,
                          storage_tx_backend(tx) == STORAGE_POSTGRES
                              ? "SELECT role, email_verified_at, tokens_valid_after FROM users"
                                " WHERE tenant_id = $1 AND id = $2 FOR SHARE"
                              : "SELECT role, email_verified_at, tokens_valid_after FROM users"
                                " WHERE tenant_id = $1 AND id = $2",
                          STORAGE_ARGS(STORAGE_CSTR(f.user_id)), &st, &row);
    if (e)
        return e;
    bool verified = false, has_valid_after = false;
    if (row) {
        f.role = authz_role_parse(stmt_col_text(st, 0));
        verified = !stmt_col_is_null(st, 1);
        has_valid_after = !stmt_col_is_null(st, 2);
        f.valid_after = auth_col_time(st, 2);
    }
    stmt_finish(st);
    if (!row || !verified || f.role == AUTHZ_ROLE_NONE)
        return ERR_UNAUTHENTICATED; /* no tokens for an unverified address (A2) */
    /* a sign out everywhere, password reset or promotion since the password
     * check (which read valid_after in its own transaction) ends this grant;
     * now is the grant's start, so one during the check does too */
    if (g->seen_valid_after != AUTH_VALID_AFTER_UNCHECKED &&
        (has_valid_after ? f.valid_after : 0) != g->seen_valid_after)
        return ERR_UNAUTHENTICATED;
    f.created_at = now;
    if (before_valid_after(f.created_at, has_valid_after, f.valid_after))
        return ERR_UNAUTHENTICATED;

    f.expires_at = now + AUTH_FAMILY_TTL_S;
    if (g->key) {
        e = tx_query(
            tx,
            "SELECT scopes, expires_at FROM api_keys WHERE tenant_id = $1 AND id = $2"
            " AND created_by = $3 AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > $4)",
            STORAGE_ARGS(STORAGE_CSTR(g->key->key_id), STORAGE_CSTR(f.user_id), STORAGE_INT(now)),
            &st, &row);
        if (e)
            return e;
        if (row) {
            f.scopes = (uint32_t)stmt_col_int(st, 0) & g->key->scopes & AUTH_SCOPES_ALL;
            f.key_expires_at = auth_col_time(st, 1);
        }
        stmt_finish(st);
        if (!row || f.scopes == 0)
            return ERR_UNAUTHENTICATED;
        memcpy(f.key_id, g->key->key_id, AUTH_KEY_ID_LEN + 1);
        if (f.key_expires_at)
            f.expires_at = min_time(f.expires_at, f.key_expires_at);
    }

    if ((e = family_limit(tx, f.user_id, g->key ? f.key_id : NULL, now, c)) != ERR_OK)
        return e;
    if ((e = auth_new_uuid(f.id)) != ERR_OK)
        return e;
    e = tx_exec_args(
        tx,
        "INSERT INTO token_families (tenant_id, id, user_id, api_key_id, scopes, grant_type,"
        " created_at, expires_at, revoked_at, revoked_reason)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)",
        STORAGE_ARGS(STORAGE_CSTR(f.id), STORAGE_CSTR(f.user_id),
                     g->key ? STORAGE_CSTR(f.key_id) : STORAGE_NULL,
                     g->key ? STORAGE_INT(f.scopes) : STORAGE_NULL,
                     STORAGE_CSTR(g->key ? "api_key" : "password"), STORAGE_INT(now),
                     STORAGE_INT(f.expires_at)),
        NULL);
    if (!e)
        e = new_refresh(tx, g->tenant, &f, now, out);
    uint32_t effective = f.scopes & auth_scopes_allowed(f.role);
    if (!e)
        e = sign_access(k, g->tenant, &f, effective, now, out);
    if (e)
        return e;
    memcpy(out->family_id, f.id, sizeof out->family_id);
    struct who w = who_of(&f);
    return audit_family(tx, "token.issued", &w, f.id, AUDIT_SUCCESS, c,
                        LOG_FIELDS_(LOG_STR("grant", g->key ? "api_key" : "password"),
                                    LOG_INT("expires_at", f.expires_at)));
}

static enum err issue(struct storage *db, const struct auth_token_keys *k, const struct grant *g,
                      int64_t now, const struct auth_client *c, struct auth_token_pair *out)
{
    auth_token_pair_wipe(out);
    if (!db || !k || !k->ring || k->ring->n == 0 || !k->issuer[0] || !g->tenant ||
        !storage_tenant_id_valid(str_from_cstr(g->tenant->id)) ||
        strcmp(g->tenant->id, AUTH_NIL_TENANT) == 0 || !auth_uuid_ok(g->user_id) || now < 0 ||
        now > JWT_MAX_TIME - AUTH_FAMILY_TTL_S)
        return ERR_INVALID;
    if (g->key && (!auth_uuid_ok(g->key->key_id) || strcmp(g->key->tenant.id, g->tenant->id) != 0))
        return ERR_INVALID;
    enum err e = auth_client_check(c);
    if (e)
        return e;
    struct tx *tx = NULL;
    if ((e = storage_begin(db, g->tenant, TX_WRITE, &tx)) != ERR_OK)
        return e;
    e = issue_in(tx, k, g, now, c, out);
    if (e)
        storage_rollback(tx);
    else
        e = storage_commit(tx);
    if (e)
        auth_token_pair_wipe(out);
    return e;
}

enum err auth_token_issue_user(struct storage *db, const struct auth_token_keys *k,
                               const struct tenant_ctx *t, const char *user_id, int64_t now,
                               int64_t seen_valid_after, const struct auth_client *c,
                               struct auth_token_pair *out)
{
    if (seen_valid_after < AUTH_VALID_AFTER_UNCHECKED) {
        auth_token_pair_wipe(out);
        return ERR_INVALID;
    }
    const struct grant g = {
        .tenant = t, .user_id = user_id, .key = NULL, .seen_valid_after = seen_valid_after};
    return issue(db, k, &g, now, c, out);
}

enum err auth_token_issue_key(struct storage *db, const struct auth_token_keys *k,
                              const struct auth_key_principal *key, int64_t now,
                              const struct auth_client *c, struct auth_token_pair *out)
{
    if (!key) {
        auth_token_pair_wipe(out);
        return ERR_INVALID;
    }
    const struct grant g = {.tenant = &key->tenant,
                            .user_id = key->created_by,
                            .key = key,
                            .seen_valid_after = AUTH_VALID_AFTER_UNCHECKED};
    return issue(db, k, &g, now, c, out);
}

/* ---- rotation ------------------------------------------------------------------------------ */

/*
 * A used refresh token presented again: revokes its family (if still live)
 * and records token.reuse_detected. The caller commits and answers
 * ERR_UNAUTHENTICATED.
 */
static enum err reuse_detected(struct tx *tx, const char *family_id, int64_t now,
                               const struct auth_client *c)
{
    char user[AUTH_USER_ID_LEN + 1] = "";
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx, "SELECT user_id FROM token_families WHERE tenant_id = $1 AND id = $2",
                          STORAGE_ARGS(STORAGE_CSTR(family_id)), &st, &row);
    if (!e && row && !auth_col_copy(st, 0, user, sizeof user))
        e = ERR_DB;
    stmt_finish(st);
    if (e)
        return e;
    bool changed = false;
    if ((e = family_revoke(tx, family_id, now, "reuse", &changed)) != ERR_OK)
        return e;
    log_warn("refresh token reused: family revoked", LOG_STR("family", family_id),
             LOG_STR("ip", c && c->ip ? c->ip : ""), LOG_STR("was_live", changed ? "yes" : "no"));
    const struct who anon = {AUDIT_ACTOR_ANONYMOUS, user, NULL};
    return audit_family(
        tx, "token.reuse_detected", &anon, family_id, AUDIT_DENIED, c,
        LOG_FIELDS_(LOG_STR("family_revoked", changed ? "yes" : "no"), LOG_STR("user", user)));
}

/* Everything auth_token_refresh does in its transaction; *commit for an audited refusal. */
static enum err refresh_in(struct tx *tx, const struct auth_token_keys *k,
                           const struct tenant_ctx *t, const char *hash, int64_t now,
                           const struct auth_client *c, struct auth_token_pair *out, bool *commit)
{
    *commit = false;
    char fid[AUTH_FAMILY_ID_LEN + 1] = "";
    struct stmt *st = NULL;
    bool row = false;
    /* of two uses of one token, exactly one gets the row back */
    enum err e =
        tx_query(tx,
                 "UPDATE refresh_tokens SET used_at = $3 WHERE tenant_id = $1 AND hash = $2"
                 " AND used_at IS NULL AND expires_at > $3 RETURNING family_id",
                 STORAGE_ARGS(STORAGE_CSTR(hash), STORAGE_INT(now)), &st, &row);
    if (!e && row && !auth_col_copy(st, 0, fid, sizeof fid))
        e = ERR_DB;
    stmt_finish(st);
    if (e)
        return e;
    if (!row) {
        e = tx_query(tx,
                     "SELECT family_id, used_at FROM refresh_tokens WHERE tenant_id = $1"
                     " AND hash = $2",
                     STORAGE_ARGS(STORAGE_CSTR(hash)), &st, &row);
        bool used = !e && row && !stmt_col_is_null(st, 1);
        if (used && !auth_col_copy(st, 0, fid, sizeof fid))
            e = ERR_DB;
        stmt_finish(st);
        if (e)
            return e;
        if (!used)
            return ERR_UNAUTHENTICATED; /* unknown or expired */
        e = reuse_detected(tx, fid, now, c);
        *commit = e == ERR_OK;
        return e ? e : ERR_UNAUTHENTICATED;
    }

    struct family f;
    if ((e = family_load(tx, fid, "", now, &f)) != ERR_OK)
        return e;
    if ((e = new_refresh(tx, t, &f, now, out)) != ERR_OK)
        return e;
    uint32_t effective = f.scopes & f.key_scopes & auth_scopes_allowed(f.role);
    if ((e = sign_access(k, t, &f, effective, now, out)) != ERR_OK)
        return e;
    memcpy(out->family_id, f.id, sizeof out->family_id);
    struct who w = who_of(&f);
    return audit_family(tx, "token.refreshed", &w, f.id, AUDIT_SUCCESS, c, NULL);
}

enum err auth_token_refresh(struct storage *db, const struct auth_token_keys *k, struct str text,
                            int64_t now, const struct auth_client *c, struct auth_token_pair *out)
{
    auth_token_pair_wipe(out);
    if (text.len > AUTH_MAX_REFRESH_TEXT)
        return ERR_LIMIT;
    if (!db || !k || !k->ring || k->ring->n == 0 || !k->issuer[0] || now < 0 ||
        now > JWT_MAX_TIME - AUTH_FAMILY_TTL_S)
        return ERR_INVALID;
    enum err e = auth_client_check(c);
    if (e)
        return e;
    struct tenant_ctx t;
    char hash[HASH_HEX + 1];
    if (!auth_refresh_text_parse(text, &t, hash))
        return ERR_UNAUTHENTICATED;
    struct tx *tx = NULL;
    if ((e = storage_begin(db, &t, TX_WRITE, &tx)) == ERR_OK) {
        bool commit = false;
        e = refresh_in(tx, k, &t, hash, now, c, out, &commit);
        if (e && !commit) {
            storage_rollback(tx);
        } else {
            /* a detected reuse commits the family's revocation and its audit event */
            enum err ce = storage_commit(tx);
            if (!e)
                e = ce;
        }
    }
    crypto_wipe(hash, sizeof hash);
    if (e)
        auth_token_pair_wipe(out);
    return e;
}

/* ---- verification -------------------------------------------------------------------------- */

enum err auth_token_verify(struct storage *db, const struct auth_token_keys *k, struct str text,
                           int64_t now, struct auth_token_principal *out)
{
    if (!out)
        return ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!db || !k || !k->ring)
        return ERR_INVALID;
    if (text.len > AUTH_MAX_ACCESS_TEXT)
        return ERR_LIMIT;
    struct jwt_claims cl;
    enum err e = jwt_verify(k->ring, text, now, AUTH_ACCESS_LEEWAY_S, &cl, NULL);
    if (e)
        return e; /* ERR_LIMIT, ERR_UNAUTHENTICATED; ERR_CRYPTO is not the client's fault */
    if (strcmp(cl.iss, k->issuer) != 0 || !auth_uuid_ok(cl.sid) ||
        strcmp(cl.tid, AUTH_NIL_TENANT) == 0)
        return ERR_UNAUTHENTICATED;

    struct tenant_ctx t;
    memcpy(t.id, cl.tid, sizeof t.id);
    struct tx *tx = NULL;
    if ((e = storage_begin(db, &t, TX_READ, &tx)) != ERR_OK)
        return e;
    struct family f;
    e = family_load(tx, cl.sid, cl.jti, now, &f);
    storage_rollback(tx);
    if (e)
        return e;
    if (strcmp(f.user_id, cl.sub) != 0 || f.denied || cl.iat < f.valid_after)
        return ERR_UNAUTHENTICATED;

    out->tenant = t;
    memcpy(out->user_id, f.user_id, sizeof out->user_id);
    out->role = f.role;
    memcpy(out->family_id, f.id, sizeof out->family_id);
    memcpy(out->jti, cl.jti, sizeof out->jti);
    out->iat = cl.iat;
    out->exp = cl.exp;
    if (f.key_id[0]) {
        struct auth_key_principal *kp = &out->key;
        out->from_key = true;
        kp->tenant = t;
        memcpy(kp->key_id, f.key_id, sizeof kp->key_id);
        memcpy(kp->created_by, f.user_id, sizeof kp->created_by);
        memcpy(kp->prefix, f.key_prefix, sizeof kp->prefix);
        kp->scopes = f.scopes & f.key_scopes;
        kp->role = f.role;
        kp->expires_at = f.key_expires_at;
    }
    return ERR_OK;
}

/* ---- ending tokens ----------------------------------------------------------------------------
 */

enum err auth_token_revoke(struct storage *db, const struct auth_token_principal *p, int64_t now,
                           const struct auth_client *c)
{
    if (!db || !p || !auth_uuid_ok(p->family_id) || !auth_uuid_ok(p->user_id) ||
        !storage_tenant_id_valid(str_from_cstr(p->tenant.id)) ||
        strnlen(p->jti, sizeof p->jti) != JWT_JTI_LEN ||
        (p->from_key && !auth_uuid_ok(p->key.key_id)))
        return ERR_INVALID;
    enum err e = auth_client_check(c);
    if (e)
        return e;
    struct tx *tx = NULL;
    if ((e = storage_begin(db, &p->tenant, TX_WRITE, &tx)) != ERR_OK)
        return e;
    bool changed = false;
    e = family_revoke(tx, p->family_id, now, "signout", &changed);
    /* kept until the token would have expired anyway (and the clean-up's grace after) */
    if (!e)
        e = tx_exec_args(tx,
                         "INSERT INTO access_token_denylist (tenant_id, jti, expires_at)"
                         " VALUES ($1, $2, $3) ON CONFLICT (tenant_id, jti) DO NOTHING",
                         STORAGE_ARGS(STORAGE_CSTR(p->jti), STORAGE_INT(p->exp)), NULL);
    const struct who w = p->from_key ? (struct who){AUDIT_ACTOR_API_KEY, p->user_id, p->key.key_id}
                                     : (struct who){AUDIT_ACTOR_USER, p->user_id, NULL};
    if (!e)
        e = audit_family(tx, "token.revoked", &w, p->family_id, AUDIT_SUCCESS, c,
                         LOG_FIELDS_(LOG_STR("reason", "signout"),
                                     LOG_STR("family_was_live", changed ? "yes" : "no")));
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

static bool reason_ok(const char *r)
{
    size_t n = r ? strnlen(r, MAX_REASON + 1) : 0;
    if (n == 0 || n > MAX_REASON)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || r[i] == '_'))
            return false;
    return true;
}

enum err auth_tokens_revoke_user(struct tx *tx, const char *user_id, int64_t now,
                                 const char *reason, uint64_t *families)
{
    if (families)
        *families = 0;
    if (!tx || !auth_uuid_ok(user_id) || !reason_ok(reason))
        return ERR_INVALID;
    enum err e = tx_exec_args(tx,
                              "UPDATE users SET tokens_valid_after = $3"
                              " WHERE tenant_id = $1 AND id = $2",
                              STORAGE_ARGS(STORAGE_CSTR(user_id), STORAGE_INT(now)), NULL);
    if (!e)
        e = tx_exec_args(
            tx,
            "UPDATE token_families SET revoked_at = $3, revoked_reason = $4"
            " WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL"
            " AND expires_at > $3",
            STORAGE_ARGS(STORAGE_CSTR(user_id), STORAGE_INT(now), STORAGE_CSTR(reason)), families);
    return e;
}

/* ---- clean-up -----------------------------------------------------------------------------------
 */

/* Up to CLEANUP_BATCH tenants above after with token rows ended at or before cutoff, in id order.
 */
static enum err tenants_due(struct storage *db, const char *after, int64_t cutoff,
                            struct tenant_ctx ids[CLEANUP_BATCH], size_t *n)
{
    *n = 0;
    static const struct tenant_ctx nil = {.id = AUTH_NIL_TENANT};
    struct tx *tx = NULL;
    enum err e = storage_begin(db, &nil, TX_READ, &tx);
    if (e)
        return e;
    const char *sql =
        storage_tx_backend(tx) == STORAGE_POSTGRES
            ? "SELECT t::text FROM auth_tokens_cleanup_tenants($2::uuid, $3::bigint, $4::integer)"
              " AS t WHERE $1::uuid = '" AUTH_NIL_TENANT "'::uuid"
            : "SELECT tenant_id FROM token_families WHERE $1 = '" AUTH_NIL_TENANT "'"
              " AND tenant_id > $2 AND (revoked_at <= $3 OR expires_at <= $3)"
              " UNION SELECT tenant_id FROM refresh_tokens WHERE $1 = '" AUTH_NIL_TENANT "'"
              " AND tenant_id > $2 AND expires_at <= $3"
              " UNION SELECT tenant_id FROM access_token_denylist"
              " WHERE $1 = '" AUTH_NIL_TENANT "' AND tenant_id > $2 AND expires_at <= $3"
              " ORDER BY 1 LIMIT $4";
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx, sql,
                 STORAGE_ARGS(STORAGE_CSTR(after), STORAGE_INT(cutoff), STORAGE_INT(CLEANUP_BATCH)),
                 &st, &row);
    while (!e && row && *n < CLEANUP_BATCH) {
        struct str id = stmt_col_text(st, 0);
        if (!storage_tenant_id_valid(id)) {
            e = ERR_DB; /* the tables hold canonical ids only */
            break;
        }
        memcpy(ids[*n].id, id.ptr, STORAGE_TENANT_ID_LEN);
        ids[*n].id[STORAGE_TENANT_ID_LEN] = '\0';
        (*n)++;
        e = stmt_step(st, &row);
    }
    stmt_finish(st);
    storage_rollback(tx);
    if (e)
        *n = 0;
    return e;
}

/* Deletes t's token rows that ended at or before cutoff; adds the counts to out. */
static enum err clean_tenant(struct storage *db, const struct tenant_ctx *t, int64_t cutoff,
                             struct auth_tokens_cleanup_stats *out)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_WRITE, &tx);
    if (e)
        return e;
    uint64_t families = 0, refresh = 0, denied = 0;
    /* a family's refresh tokens go with it (ON DELETE CASCADE) */
    e = tx_exec_args(tx,
                     "DELETE FROM token_families WHERE tenant_id = $1"
                     " AND (revoked_at <= $2 OR expires_at <= $2)",
                     STORAGE_ARGS(STORAGE_INT(cutoff)), &families);
    if (!e)
        e = tx_exec_args(tx, "DELETE FROM refresh_tokens WHERE tenant_id = $1 AND expires_at <= $2",
                         STORAGE_ARGS(STORAGE_INT(cutoff)), &refresh);
    if (!e)
        e = tx_exec_args(tx,
                         "DELETE FROM access_token_denylist WHERE tenant_id = $1"
                         " AND expires_at <= $2",
                         STORAGE_ARGS(STORAGE_INT(cutoff)), &denied);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    if ((e = storage_commit(tx)) != ERR_OK)
        return e;
    out->families += families;
    out->refresh_tokens += refresh;
    out->denylist += denied;
    return ERR_OK;
}

enum err auth_tokens_cleanup(struct storage *db, int64_t now, struct auth_tokens_cleanup_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!db)
        return ERR_INVALID;
    int64_t cutoff = now - AUTH_TOKEN_CLEANUP_GRACE_S;
    enum err first = ERR_OK;
    char after[STORAGE_TENANT_ID_LEN + 1] = AUTH_NIL_TENANT; /* below every id */
    struct tenant_ctx ids[CLEANUP_BATCH];
    for (;;) {
        size_t n = 0;
        enum err e = tenants_due(db, after, cutoff, ids, &n);
        if (e) {
            if (!first)
                first = e;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            e = clean_tenant(db, &ids[i], cutoff, out);
            if (e && !first)
                first = e;
        }
        if (n < CLEANUP_BATCH)
            break;
        memcpy(after, ids[n - 1].id, sizeof after);
    }
    return first;
}
