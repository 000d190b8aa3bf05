/*
 * apikeys.c — API keys in the database: create, authenticate, list, revoke.
 * The design and the decisions are in auth.h.
 *
 * One table, api_keys (migrations sqlite/0009, postgres/0010), one row per
 * key: the hex SHA-256 of the whole key text (never the text), its visible
 * prefix, name, scope bitmask, creator (a users row of the tenant, ON DELETE
 * CASCADE), the key that made it (parent_id, NULL when a user did) and the
 * times. Every statement is bound to the tenant of the transaction ($1); on
 * PostgreSQL the table has FORCE ROW LEVEL SECURITY as well. The SQL text is
 * the same on both backends except the PostgreSQL-only creation lock.
 *
 * Every decision that depends on a role reads the role from users in the
 * same transaction as the key row, so it is the current one (Z3).
 */
#include <string.h>

#include "auth/auth_internal.h"
#include "core/log.h"
#include "core/unicode.h"
#include "crypto/hash.h"
#include "crypto/token.h"

#define HASH_HEX AUTH_HASH_HEX

_Static_assert(AUTH_KEY_RANDOM_LEN == TOKEN_TEXT_LEN, "the random part is a token");
_Static_assert(AUTH_KEY_TEXT_LEN == 84, "shk_ + uuid + . + 43");
_Static_assert(AUTH_KEY_PREFIX_LEN == sizeof AUTH_KEY_TEXT_PREFIX - 1 + 8, "prefix size");
_Static_assert(AUTH_MAX_KEY_TEXT >= AUTH_KEY_TEXT_LEN, "a key fits the limit");
_Static_assert(AUTH_KEY_HASH_LEN == HASH_HEX, "a key's hash is the shared secret-text hash");

/* ---- input ------------------------------------------------------------------------------- */

static void say(const char **reason, const char *text)
{
    if (reason)
        *reason = text;
}

/* 1..AUTH_MAX_KEY_NAME bytes of UTF-8 without control characters. */
static enum err name_check(struct str name, const char **reason)
{
    if (name.len > AUTH_MAX_KEY_NAME) {
        say(reason, "key name too long");
        return ERR_LIMIT;
    }
    if (name.len == 0 || !name.ptr) {
        say(reason, "key name required");
        return ERR_INVALID;
    }
    if (!utf8_valid(name)) {
        say(reason, "key name is not valid UTF-8");
        return ERR_INVALID;
    }
    for (size_t i = 0; i < name.len; i++) {
        unsigned char ch = (unsigned char)name.ptr[i];
        if (ch < 0x20 || ch == 0x7f) {
            say(reason, "key name has control characters");
            return ERR_INVALID;
        }
    }
    return ERR_OK;
}

bool auth_key_text_is_key(struct str text)
{
    return text.ptr && str_starts_with(text, STR_LIT(AUTH_KEY_TEXT_PREFIX));
}

bool auth_key_text_parse(struct str text, struct tenant_ctx *t, char hash[AUTH_KEY_HASH_LEN + 1])
{
    return auth_secret_text_parse(text, AUTH_KEY_TEXT_PREFIX, t, hash);
}

/* A fresh key for t: its text, prefix and the hash to store. */
static enum err key_new(const struct tenant_ctx *t, char text[AUTH_KEY_TEXT_LEN + 1],
                        char prefix[AUTH_KEY_PREFIX_LEN + 1], char hash[HASH_HEX + 1])
{
    char random8[9];
    enum err e = auth_secret_text_new(t, AUTH_KEY_TEXT_PREFIX, text, hash, random8);
    if (e)
        return e;
    memcpy(prefix, AUTH_KEY_TEXT_PREFIX, sizeof AUTH_KEY_TEXT_PREFIX - 1);
    memcpy(prefix + sizeof AUTH_KEY_TEXT_PREFIX - 1, random8, 8);
    prefix[AUTH_KEY_PREFIX_LEN] = '\0';
    crypto_wipe(random8, sizeof random8);
    return ERR_OK;
}

void auth_key_created_wipe(struct auth_key_created *c)
{
    if (c)
        crypto_wipe(c, sizeof *c);
}

/* ---- who acts --------------------------------------------------------------------------- */

/* The actor as the transaction sees it. */
struct actor {
    char user_id[AUTH_USER_ID_LEN + 1]; /* the user acting, or the acting key's creator */
    enum authz_role role;               /* the lesser of the stored and the claimed role */
    const char *key_id;                 /* the acting key, or NULL for a user */
    uint32_t key_scopes;                /* the acting key's effective scopes */
    int64_t key_expires_at;             /* the acting key's expiry; 0 = never */
};

/* Checks who without the database: ERR_INVALID when malformed. */
static enum err actor_check(const struct tenant_ctx *t, const struct auth_actor *who)
{
    if (!who)
        return ERR_INVALID;
    if (who->key) {
        const struct auth_key_principal *k = who->key;
        if (strcmp(k->tenant.id, t->id) != 0 || !auth_uuid_ok(k->key_id) ||
            !auth_uuid_ok(k->created_by))
            return ERR_INVALID;
        return ERR_OK;
    }
    return auth_uuid_ok(who->user_id) ? ERR_OK : ERR_INVALID;
}

/*
 * Reads who's user (and acting key) in tx. ERR_UNAUTHENTICATED when the user
 * is gone or has no known role, or the key is no longer live; ERR_FORBIDDEN
 * (*reason set) for a user whose address is unverified.
 */
static enum err actor_load(struct tx *tx, const struct auth_actor *who, int64_t now,
                           struct actor *a, const char **reason)
{
    memset(a, 0, sizeof *a);
    const struct auth_key_principal *k = who->key;
    memcpy(a->user_id, k ? k->created_by : who->user_id, AUTH_USER_ID_LEN);
    a->user_id[AUTH_USER_ID_LEN] = '\0';
    enum authz_role claimed = k ? k->role : who->role;

    struct stmt *st = NULL;
    bool row = false;
    enum err e =
        tx_query(tx, "SELECT role, email_verified_at FROM users WHERE tenant_id = $1 AND id = $2",
                 STORAGE_ARGS(STORAGE_CSTR(a->user_id)), &st, &row);
    if (e)
        return e;
    bool verified = false;
    enum authz_role stored = AUTHZ_ROLE_NONE;
    if (row) {
        stored = authz_role_parse(stmt_col_text(st, 0));
        verified = !stmt_col_is_null(st, 1);
    }
    stmt_finish(st);
    a->role = stored < claimed ? stored : claimed;
    if (!row || a->role <= AUTHZ_ROLE_NONE || a->role > AUTHZ_ROLE_SUPER_ADMIN)
        return ERR_UNAUTHENTICATED;
    if (!verified) {
        if (k)
            return ERR_UNAUTHENTICATED; /* such a key does not authenticate either */
        say(reason, "verify your e-mail address first");
        return ERR_FORBIDDEN;
    }
    if (!k)
        return ERR_OK;

    e = tx_query(tx,
                 "SELECT scopes, expires_at FROM api_keys WHERE tenant_id = $1 AND id = $2"
                 " AND created_by = $3 AND revoked_at IS NULL"
                 " AND (expires_at IS NULL OR expires_at > $4)",
                 STORAGE_ARGS(STORAGE_CSTR(k->key_id), STORAGE_CSTR(a->user_id), STORAGE_INT(now)),
                 &st, &row);
    if (e)
        return e;
    if (row) {
        a->key_id = k->key_id;
        a->key_scopes = (uint32_t)stmt_col_int(st, 0) & k->scopes & auth_scopes_allowed(a->role);
        a->key_expires_at = auth_col_time(st, 1);
    }
    stmt_finish(st);
    return row ? ERR_OK : ERR_UNAUTHENTICATED;
}

/* Appends an audit event by the actor (user, or key on behalf of its creator). */
static enum err audit_by(struct tx *tx, const struct actor *a, const char *action,
                         const char *target, enum audit_outcome outcome,
                         const struct auth_client *c, const struct log_field *details)
{
    struct audit_event ev = {
        .action = action,
        .actor = a->key_id ? AUDIT_ACTOR_API_KEY : AUDIT_ACTOR_USER,
        .actor_id = a->key_id ? a->key_id : a->user_id,
        .target = target,
        .outcome = outcome,
        .client_ip = c ? c->ip : NULL,
        .request_id = c ? c->request_id : NULL,
        .details = details,
    };
    return audit_append(tx, &ev, NULL);
}

/* The details list: fields, then on_behalf_of when a key acts; NULL-terminated in out. */
static const struct log_field *details_of(const struct actor *a, const struct log_field *fields,
                                          size_t n, struct log_field out[8])
{
    ASSERT(n + 2 <= 8);
    size_t k = 0;
    for (; k < n; k++)
        out[k] = fields[k];
    if (a->key_id)
        out[k++] = LOG_STR("on_behalf_of", a->user_id);
    out[k] = (struct log_field){.key = NULL};
    return out;
}

/* ---- creation ------------------------------------------------------------------------------ */

/* The scope and expiry rules of auth.h; ERR_FORBIDDEN with *reason and out->refused. */
static enum err create_allowed(const struct actor *a, uint32_t scopes, int64_t *expires_at,
                               struct auth_key_created *out, const char **reason)
{
    uint32_t refused = scopes & ~auth_scopes_allowed(a->role);
    if (refused) {
        out->refused = refused;
        say(reason, "a requested scope is beyond your role");
        return ERR_FORBIDDEN;
    }
    if (!a->key_id)
        return ERR_OK;
    if (!(a->key_scopes & AUTH_SCOPE_KEYS_WRITE)) {
        out->refused = scopes;
        say(reason, "this key may not create keys (it lacks keys:write)");
        return ERR_FORBIDDEN;
    }
    refused = scopes & ~a->key_scopes;
    if (refused) {
        out->refused = refused;
        say(reason, "a key cannot create a key with a scope it does not hold");
        return ERR_FORBIDDEN;
    }
    if (a->key_expires_at) {
        if (*expires_at == 0) {
            *expires_at = a->key_expires_at; /* no wider in time than its maker */
        } else if (*expires_at > a->key_expires_at) {
            say(reason, "a key cannot create a key that outlives it");
            return ERR_FORBIDDEN;
        }
    }
    return ERR_OK;
}

/*
 * Makes room for one more key: ERR_LIMIT when the tenant has
 * AUTH_MAX_KEYS_PER_TENANT live keys; otherwise, when it holds that many
 * rows, deletes the oldest dead ones.
 */
static enum err make_room(struct tx *tx, int64_t now, const char **reason)
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          "SELECT count(*), coalesce(sum(CASE WHEN revoked_at IS NULL AND"
                          " (expires_at IS NULL OR expires_at > $2) THEN 1 ELSE 0 END), 0)"
                          " FROM api_keys WHERE tenant_id = $1",
                          STORAGE_ARGS(STORAGE_INT(now)), &st, &row);
    if (e)
        return e;
    int64_t total = row ? stmt_col_int(st, 0) : 0, live = row ? stmt_col_int(st, 1) : 0;
    stmt_finish(st);
    if (live >= AUTH_MAX_KEYS_PER_TENANT) {
        say(reason, "too many API keys: revoke one first");
        return ERR_LIMIT;
    }
    if (total < AUTH_MAX_KEYS_PER_TENANT)
        return ERR_OK;
    return tx_exec_args(
        tx,
        "DELETE FROM api_keys WHERE tenant_id = $1 AND id IN ("
        " SELECT id FROM api_keys WHERE tenant_id = $1"
        " AND (revoked_at IS NOT NULL OR expires_at <= $2)"
        " ORDER BY created_at, id LIMIT $3)",
        STORAGE_ARGS(STORAGE_INT(now), STORAGE_INT(total - AUTH_MAX_KEYS_PER_TENANT + 1)), NULL);
}

struct new_key {
    char name[AUTH_MAX_KEY_NAME + 1];
    char hash[HASH_HEX + 1];
    uint32_t scopes;
    int64_t expires_at;
    int64_t now;
};

/* Everything auth_key_create does inside its transaction; *denied for an audited refusal. */
static enum err create_in(struct tx *tx, const struct auth_actor *who, struct new_key *k,
                          const struct auth_client *c, struct auth_key_created *out,
                          const char **reason, bool *denied)
{
    *denied = false;
    enum err e = ERR_OK;
    /* PostgreSQL: creations of one tenant queue here, so two cannot both pass the count
     * (SQLite write transactions are exclusive already) */
    if (storage_tx_backend(tx) == STORAGE_POSTGRES)
        e = tx_exec_args(
            tx,
            "SELECT pg_advisory_xact_lock(hashtextextended('shiplog/api_keys/' || $1::text,"
            " 0))",
            NULL, 0, NULL);
    struct actor a;
    memset(&a, 0, sizeof a);
    if (!e)
        e = actor_load(tx, who, k->now, &a, reason);
    if (!e)
        e = create_allowed(&a, k->scopes, &k->expires_at, out, reason);
    char scopes_text[AUTH_MAX_SCOPES_TEXT + 1];
    auth_scopes_format(k->scopes, scopes_text);
    if (e == ERR_FORBIDDEN) {
        char refused_text[AUTH_MAX_SCOPES_TEXT + 1];
        auth_scopes_format(out->refused, refused_text);
        struct log_field f[8];
        const struct log_field base[] = {
            LOG_STR("scopes", scopes_text),
            LOG_STR("refused", refused_text),
            LOG_STR("reason", *reason ? *reason : "forbidden"),
        };
        enum err ae =
            audit_by(tx, &a, "apikey.created", NULL, AUDIT_DENIED, c, details_of(&a, base, 3, f));
        *denied = ae == ERR_OK;
        return ae ? ae : e;
    }
    if (e)
        return e;

    if ((e = make_room(tx, k->now, reason)) != ERR_OK)
        return e;
    e = tx_exec_args(
        tx,
        "INSERT INTO api_keys (tenant_id, id, hash, prefix, name, scopes, created_by,"
        " parent_id, created_at, expires_at, last_used_at, revoked_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL)",
        STORAGE_ARGS(STORAGE_CSTR(out->id), STORAGE_CSTR(k->hash), STORAGE_CSTR(out->prefix),
                     STORAGE_CSTR(k->name), STORAGE_INT(k->scopes), STORAGE_CSTR(a.user_id),
                     a.key_id ? STORAGE_CSTR(a.key_id) : STORAGE_NULL, STORAGE_INT(k->now),
                     k->expires_at ? STORAGE_INT(k->expires_at) : STORAGE_NULL),
        NULL);
    if (e)
        return e;

    char target[sizeof "apikey:" + AUTH_KEY_ID_LEN];
    snprintf(target, sizeof target, "apikey:%.36s", out->id);
    struct log_field f[8];
    const struct log_field base[] = {
        LOG_STR("name", k->name),
        LOG_STR("prefix", out->prefix),
        LOG_STR("scopes", scopes_text),
        LOG_INT("expires_at", k->expires_at),
    };
    e = audit_by(tx, &a, "apikey.created", target, AUDIT_SUCCESS, c, details_of(&a, base, 4, f));
    if (e)
        return e;
    out->scopes = k->scopes;
    out->expires_at = k->expires_at;
    return ERR_OK;
}

/* auth_key_create with a reason pointer that is never NULL (the denial's audit line uses it). */
static enum err key_create(struct storage *db, const struct tenant_ctx *t,
                           const struct auth_actor *who, struct str name, uint32_t scopes,
                           int64_t expires_at, int64_t now, const struct auth_client *c,
                           struct auth_key_created *out, const char **reason)
{
    memset(out, 0, sizeof *out);
    enum err e = name_check(name, reason);
    if (e)
        return e;
    if (now < 0) {
        say(reason, "invalid clock");
        return ERR_INVALID;
    }
    if (scopes & ~AUTH_SCOPES_ALL) {
        say(reason, "unknown scope");
        return ERR_INVALID;
    }
    if (expires_at < 0 || (expires_at != 0 && expires_at <= now)) {
        say(reason, "expiry must be in the future");
        return ERR_INVALID;
    }
    if (expires_at > now && expires_at - now > AUTH_MAX_KEY_LIFETIME_S) {
        say(reason, "expiry too far in the future");
        return ERR_LIMIT;
    }
    if ((e = auth_client_check(c)) != ERR_OK)
        return e;
    if ((e = actor_check(t, who)) != ERR_OK)
        return e;

    struct new_key k = {
        .scopes = scopes ? scopes : AUTH_SCOPES_DEFAULT,
        .expires_at = expires_at,
        .now = now,
    };
    memcpy(k.name, name.ptr, name.len);
    k.name[name.len] = '\0';
    if ((e = auth_new_uuid(out->id)) != ERR_OK || (e = key_new(t, out->text, out->prefix, k.hash)))
        goto fail;

    struct tx *tx = NULL;
    if ((e = storage_begin(db, t, TX_WRITE, &tx)) != ERR_OK)
        goto fail;
    bool denied = false;
    e = create_in(tx, who, &k, c, out, reason, &denied);
    if (e && !denied) {
        storage_rollback(tx);
        goto fail;
    }
    /* a refusal commits its audit event (Z2) and nothing else */
    enum err ce = storage_commit(tx);
    if (!e)
        e = ce;
    if (e)
        goto fail;
    crypto_wipe(k.hash, sizeof k.hash);
    return ERR_OK;

fail:;
    uint32_t refused = out->refused;
    auth_key_created_wipe(out);
    out->refused = refused;
    crypto_wipe(k.hash, sizeof k.hash);
    return e;
}

enum err auth_key_create(struct storage *db, const struct tenant_ctx *t,
                         const struct auth_actor *who, struct str name, uint32_t scopes,
                         int64_t expires_at, int64_t now, const struct auth_client *c,
                         struct auth_key_created *out, const char **reason)
{
    const char *why = NULL;
    enum err e = key_create(db, t, who, name, scopes, expires_at, now, c, out, &why);
    say(reason, e ? why : NULL);
    return e;
}

/* ---- authentication ------------------------------------------------------------------------- */

/* Sets last_used_at to now unless someone did within AUTH_KEY_TOUCH_S. */
static enum err touch(struct storage *db, const struct tenant_ctx *t, const char *key_id,
                      int64_t now)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_WRITE, &tx);
    if (e)
        return e;
    e = tx_exec_args(
        tx,
        "UPDATE api_keys SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2"
        " AND revoked_at IS NULL AND (last_used_at IS NULL OR last_used_at <= $4)",
        STORAGE_ARGS(STORAGE_CSTR(key_id), STORAGE_INT(now), STORAGE_INT(now - AUTH_KEY_TOUCH_S)),
        NULL);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

/* Reads the key with hash h in t and checks it is live; *touch_due when last_used_at is old. */
static enum err key_read(struct tx *tx, const char *h, int64_t now, struct auth_key_principal *p,
                         bool *touch_due)
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          "SELECT k.id, k.hash, k.prefix, k.scopes, k.created_by, k.expires_at,"
                          " k.revoked_at, k.last_used_at, u.role, u.email_verified_at"
                          " FROM api_keys k JOIN users u"
                          " ON u.tenant_id = k.tenant_id AND u.id = k.created_by"
                          " WHERE k.tenant_id = $1 AND u.tenant_id = $1 AND k.hash = $2",
                          STORAGE_ARGS(STORAGE_CSTR(h)), &st, &row);
    if (e)
        return e;
    if (!row) {
        stmt_finish(st);
        return ERR_UNAUTHENTICATED;
    }
    struct str stored = stmt_col_text(st, 1);
    bool same = stored.len == HASH_HEX && crypto_equal(stored.ptr, h, HASH_HEX);
    bool copied = auth_col_copy(st, 0, p->key_id, sizeof p->key_id) &&
                  auth_col_copy(st, 2, p->prefix, sizeof p->prefix) &&
                  auth_col_copy(st, 4, p->created_by, sizeof p->created_by);
    int64_t scopes = stmt_col_int(st, 3);
    p->expires_at = auth_col_time(st, 5);
    bool revoked = !stmt_col_is_null(st, 6);
    bool never_used = stmt_col_is_null(st, 7);
    int64_t last_used = auth_col_time(st, 7);
    p->role = authz_role_parse(stmt_col_text(st, 8));
    bool verified = !stmt_col_is_null(st, 9);
    stmt_finish(st);
    if (!copied)
        return ERR_DB; /* the table's checks make this impossible */
    p->scopes = (uint32_t)scopes & AUTH_SCOPES_ALL;
    if (!same || revoked || (p->expires_at && now >= p->expires_at) || !verified ||
        p->role == AUTHZ_ROLE_NONE)
        return ERR_UNAUTHENTICATED;
    *touch_due = never_used || now - last_used >= AUTH_KEY_TOUCH_S;
    return ERR_OK;
}

enum err auth_key_authenticate(struct storage *db, struct str text, int64_t now,
                               struct auth_key_principal *out)
{
    memset(out, 0, sizeof *out);
    if (text.len > AUTH_MAX_KEY_TEXT)
        return ERR_LIMIT;
    struct tenant_ctx t;
    char h[HASH_HEX + 1];
    if (!auth_key_text_parse(text, &t, h))
        return ERR_UNAUTHENTICATED;
    struct tx *tx = NULL;
    enum err e = storage_begin(db, &t, TX_READ, &tx);
    if (e)
        return e;
    struct auth_key_principal p;
    memset(&p, 0, sizeof p);
    p.tenant = t;
    bool touch_due = false;
    e = key_read(tx, h, now, &p, &touch_due);
    storage_rollback(tx);
    if (e)
        return e;
    if (touch_due) {
        enum err te = touch(db, &t, p.key_id, now);
        if (te)
            log_warn("api key: last-used time not written", LOG_STR("tenant", t.id),
                     LOG_STR("prefix", p.prefix), LOG_ERR(te));
    }
    *out = p;
    return ERR_OK;
}

/* ---- listing -----------------------------------------------------------------------------------
 */

static enum err row_info(const struct stmt *st, struct auth_key_info *k)
{
    memset(k, 0, sizeof *k);
    bool ok = auth_col_copy(st, 0, k->id, sizeof k->id) &&
              auth_col_copy(st, 1, k->name, sizeof k->name) &&
              auth_col_copy(st, 2, k->prefix, sizeof k->prefix) &&
              auth_col_copy(st, 5, k->created_by, sizeof k->created_by) &&
              (stmt_col_is_null(st, 6) || auth_col_copy(st, 6, k->parent_id, sizeof k->parent_id));
    k->scopes = (uint32_t)stmt_col_int(st, 3) & AUTH_SCOPES_ALL;
    k->created_at = stmt_col_int(st, 4);
    k->expires_at = auth_col_time(st, 7);
    k->last_used_at = auth_col_time(st, 8);
    k->revoked_at = auth_col_time(st, 9);
    return ok ? ERR_OK : ERR_DB;
}

enum err auth_key_list(struct storage *db, const struct tenant_ctx *t, const char *created_by,
                       struct auth_key_info *out, size_t cap, size_t *n)
{
    *n = 0;
    if (created_by && !auth_uuid_ok(created_by))
        return ERR_INVALID;
    if (cap == 0)
        return ERR_OK;
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_READ, &tx);
    if (e)
        return e;
#define LIST_COLUMNS                                                                               \
    "SELECT id, name, prefix, scopes, created_at, created_by, parent_id, expires_at,"              \
    " last_used_at, revoked_at FROM api_keys WHERE tenant_id = $1"
    int64_t lim = cap > (size_t)INT32_MAX ? INT32_MAX : (int64_t)cap;
    struct stmt *st = NULL;
    bool row = false;
    if (created_by)
        e = tx_query(tx,
                     LIST_COLUMNS " AND created_by = $2 ORDER BY created_at DESC, id DESC LIMIT $3",
                     STORAGE_ARGS(STORAGE_CSTR(created_by), STORAGE_INT(lim)), &st, &row);
    else
        e = tx_query(tx, LIST_COLUMNS " ORDER BY created_at DESC, id DESC LIMIT $2",
                     STORAGE_ARGS(STORAGE_INT(lim)), &st, &row);
#undef LIST_COLUMNS
    while (!e && row && *n < cap) {
        if ((e = row_info(st, &out[*n])) != ERR_OK)
            break;
        (*n)++;
        e = stmt_step(st, &row);
    }
    stmt_finish(st);
    storage_rollback(tx);
    if (e)
        *n = 0;
    return e;
}

/* ---- revocation ---------------------------------------------------------------------------------
 */

/* A live key made (directly or not) from the one being revoked. */
struct heir {
    char id[AUTH_KEY_ID_LEN + 1];
    char prefix[AUTH_KEY_PREFIX_LEN + 1];
};

/* The descendants of key_id: every key made from it, directly or not ($2 is key_id). */
#define DESCENDANTS                                                                                \
    "WITH RECURSIVE d(id) AS ("                                                                    \
    " SELECT id FROM api_keys WHERE tenant_id = $1 AND parent_id = $2"                             \
    " UNION"                                                                                       \
    " SELECT k.id FROM api_keys k JOIN d ON k.parent_id = d.id WHERE k.tenant_id = $1)"

/*
 * The live descendants of key_id, the first cap of them into out (for their
 * audit lines); *total counts them all.
 */
static enum err heirs_of(struct tx *tx, const char *key_id, struct heir *out, size_t cap, size_t *n,
                         size_t *total)
{
    *n = *total = 0;
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          DESCENDANTS " SELECT id, prefix FROM api_keys WHERE tenant_id = $1"
                                      " AND revoked_at IS NULL AND id IN (SELECT id FROM d)"
                                      " ORDER BY created_at, id",
                          STORAGE_ARGS(STORAGE_CSTR(key_id)), &st, &row);
    while (!e && row) {
        if (*n < cap) {
            if (!auth_col_copy(st, 0, out[*n].id, sizeof out[*n].id) ||
                !auth_col_copy(st, 1, out[*n].prefix, sizeof out[*n].prefix)) {
                e = ERR_DB;
                break;
            }
            (*n)++;
        }
        (*total)++;
        e = stmt_step(st, &row);
    }
    stmt_finish(st);
    return e;
}

/* Everything auth_key_revoke does inside its transaction; *denied for an audited refusal. */
static enum err revoke_in(struct tx *tx, const char *id, const struct auth_actor *who, int64_t now,
                          const struct auth_client *c, const char **reason, bool *denied)
{
    *denied = false;
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          "SELECT created_by, prefix, name, revoked_at FROM api_keys"
                          " WHERE tenant_id = $1 AND id = $2",
                          STORAGE_ARGS(STORAGE_CSTR(id)), &st, &row);
    if (e)
        return e;
    char owner[AUTH_USER_ID_LEN + 1] = "", prefix[AUTH_KEY_PREFIX_LEN + 1] = "",
                                  name[AUTH_MAX_KEY_NAME + 1] = "";
    bool revoked = false, ok = true;
    if (row) {
        ok = auth_col_copy(st, 0, owner, sizeof owner) &&
             auth_col_copy(st, 1, prefix, sizeof prefix) && auth_col_copy(st, 2, name, sizeof name);
        revoked = !stmt_col_is_null(st, 3);
    }
    stmt_finish(st);
    if (!row)
        return ERR_NOT_FOUND;
    if (!ok)
        return ERR_DB;

    struct actor a;
    const char *why = NULL;
    e = actor_load(tx, who, now, &a, &why);
    if (e && e != ERR_FORBIDDEN)
        return e;

    char target[sizeof "apikey:" + AUTH_KEY_ID_LEN];
    snprintf(target, sizeof target, "apikey:%.36s", id);
    bool own = strcmp(owner, a.user_id) == 0;
    bool manager = authz_allows(a.role, AUTHZ_MEMBERS_MANAGE) &&
                   (!a.key_id || (a.key_scopes & AUTH_SCOPE_MEMBERS_WRITE));
    /* when actor_load refused the actor itself, why says so already */
    if (!why && a.key_id && !(a.key_scopes & AUTH_SCOPE_KEYS_WRITE))
        why = "this key may not revoke keys (it lacks keys:write)";
    else if (!why && !own && !manager)
        why = "only the key's creator or an admin may revoke it";
    if (why) {
        say(reason, why);
        struct log_field f[8];
        const struct log_field base[] = {LOG_STR("prefix", prefix), LOG_STR("reason", why)};
        e = audit_by(tx, &a, "apikey.revoked", target, AUDIT_DENIED, c, details_of(&a, base, 2, f));
        *denied = e == ERR_OK;
        return e ? e : ERR_FORBIDDEN;
    }
    if (revoked)
        return ERR_OK; /* nothing to do, nothing to record */

    /* the key, then everything made from it (a tenant holds at most
     * AUTH_MAX_KEYS_PER_TENANT keys, so every one gets its audit line) */
    uint64_t changed = 0;
    e = tx_exec_args(tx,
                     "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2"
                     " AND revoked_at IS NULL",
                     STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_INT(now)), &changed);
    if (e || changed != 1)
        return e; /* revoked meanwhile: nothing left to do */
    struct heir heirs[AUTH_MAX_KEYS_PER_TENANT];
    size_t n = 0, total = 0;
    if ((e = heirs_of(tx, id, heirs, AUTH_MAX_KEYS_PER_TENANT, &n, &total)) != ERR_OK)
        return e;
    if (total &&
        (e = tx_exec_args(tx,
                          DESCENDANTS " UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1"
                                      " AND revoked_at IS NULL AND id IN (SELECT id FROM d)",
                          STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_INT(now)), NULL)) != ERR_OK)
        return e;
    struct log_field f[8];
    const struct log_field base[] = {
        LOG_STR("name", name),
        LOG_STR("prefix", prefix),
        LOG_INT("descendants", (int64_t)total),
    };
    if ((e = audit_by(tx, &a, "apikey.revoked", target, AUDIT_SUCCESS, c,
                      details_of(&a, base, 3, f))) != ERR_OK)
        return e;
    for (size_t i = 0; i < n && !e; i++) {
        char ht[sizeof "apikey:" + AUTH_KEY_ID_LEN];
        snprintf(ht, sizeof ht, "apikey:%.36s", heirs[i].id);
        const struct log_field hb[] = {
            LOG_STR("prefix", heirs[i].prefix),
            LOG_STR("cascade_from", id),
        };
        e = audit_by(tx, &a, "apikey.revoked", ht, AUDIT_SUCCESS, c, details_of(&a, hb, 2, f));
    }
    return e;
}

enum err auth_key_revoke(struct storage *db, const struct tenant_ctx *t, struct str key_id,
                         const struct auth_actor *who, int64_t now, const struct auth_client *c,
                         const char **reason)
{
    say(reason, NULL);
    if (!key_id.ptr || key_id.len != AUTH_KEY_ID_LEN || !str_is_uuid(key_id))
        return ERR_NOT_FOUND;
    enum err e = auth_client_check(c);
    if (e)
        return e;
    if ((e = actor_check(t, who)) != ERR_OK)
        return e;
    char id[AUTH_KEY_ID_LEN + 1];
    memcpy(id, key_id.ptr, AUTH_KEY_ID_LEN);
    id[AUTH_KEY_ID_LEN] = '\0';
    struct tx *tx = NULL;
    if ((e = storage_begin(db, t, TX_WRITE, &tx)) != ERR_OK)
        return e;
    bool denied = false;
    e = revoke_in(tx, id, who, now, c, reason, &denied);
    if (e && !denied) {
        storage_rollback(tx);
        return e;
    }
    enum err ce = storage_commit(tx);
    return e ? e : ce;
}
