/*
 * integrations — see integrations.h.
 *
 * Design: every secret is made from the CSPRNG and sealed before the write
 * transaction opens (sealing reads the key vault, a storage of its own), so
 * the transaction holds only the row change and its audit event. The
 * plaintext lives in the caller's struct integration_secret, never in a
 * buffer of this file that is not wiped. On PostgreSQL creations of one
 * tenant queue on an advisory lock, so the per-tenant limit holds under
 * concurrent requests (SQLite write transactions are exclusive anyway).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "audit/audit.h"
#include "core/base64.h"
#include "core/log.h"
#include "core/unicode.h"
#include "crypto/hash.h"
#include "crypto/rand.h"
#include "ingest/integrations.h"
#include "ingest/normalize.h"

#define LOCK_SQL                                                                                   \
    "SELECT pg_advisory_xact_lock(hashtextextended('shiplog/integrations/' || $1::text, 0))"

/* The columns of struct integration, in the order read_info expects. */
#define INFO_COLUMNS                                                                               \
    "id, provider, name, repository_scope, secret_hint, previous_valid_until, "                    \
    "signing_secret_hint, azure_auth, azure_header, created_by, created_at, rotated_at, "          \
    "disabled_at"

#define TARGET_CAP (sizeof "integration:" + INTEGRATIONS_ID_LEN)

static const char *const azure_names[] = {
    [INTEGRATION_AZURE_NONE] = NULL,
    [INTEGRATION_AZURE_BASIC] = "basic",
    [INTEGRATION_AZURE_HEADER] = "header",
    [INTEGRATION_AZURE_BOTH] = "both",
};

static void say(const char **reason, const char *text)
{
    if (reason)
        *reason = text;
}

enum err integration_provider_parse(struct str text, enum ingest_provider *out)
{
    enum ingest_provider p;
    if (ingest_provider_parse(text, &p) != ERR_OK || !ingest_provider_for_integrations(p))
        return ERR_INVALID;
    *out = p;
    return ERR_OK;
}

const char *integration_azure_auth_name(enum integration_azure_auth a)
{
    return (unsigned)a < sizeof azure_names / sizeof azure_names[0] ? azure_names[a] : NULL;
}

enum err integration_azure_auth_parse(struct str text, enum integration_azure_auth *out)
{
    for (size_t i = INTEGRATION_AZURE_BASIC; i < sizeof azure_names / sizeof azure_names[0]; i++)
        if (text.ptr && str_eq_cstr(text, azure_names[i])) {
            *out = (enum integration_azure_auth)i;
            return ERR_OK;
        }
    return ERR_INVALID;
}

void integration_secret_wipe(struct integration_secret *s)
{
    crypto_wipe(s, sizeof *s);
}

void integration_verify_wipe(struct integration_verify *v)
{
    crypto_wipe(v, sizeof *v);
}

/* ---- input checks ------------------------------------------------------------------ */

static bool id_ok(struct str id)
{
    return id.ptr && id.len == INTEGRATIONS_ID_LEN && str_is_uuid(id);
}

/* True for a C0 or C1 control character or DEL at p (UTF-8 already valid). */
static bool control_at(const unsigned char *p, size_t left)
{
    if (p[0] < 0x20 || p[0] == 0x7f)
        return true;
    return p[0] == 0xc2 && left > 1 && p[1] >= 0x80 && p[1] <= 0x9f;
}

static bool has_control(struct str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (control_at((const unsigned char *)s.ptr + i, s.len - i))
            return true;
    return false;
}

/* 1..INTEGRATIONS_MAX_NAME characters of printable UTF-8, not only spaces. */
static enum err name_check(struct str name, const char **reason)
{
    if (name.len > INTEGRATIONS_MAX_NAME_BYTES) {
        say(reason, "name too long");
        return ERR_LIMIT;
    }
    if (!name.ptr || str_trim(name).len == 0) {
        say(reason, "name required");
        return ERR_INVALID;
    }
    if (!utf8_valid(name)) {
        say(reason, "name is not valid UTF-8");
        return ERR_INVALID;
    }
    if (utf8_codepoints(name) > INTEGRATIONS_MAX_NAME) {
        say(reason, "name too long");
        return ERR_LIMIT;
    }
    if (has_control(name)) {
        say(reason, "name has control characters");
        return ERR_INVALID;
    }
    return ERR_OK;
}

enum err integrations_scope_normalize(struct str scope, char out[INTEGRATIONS_MAX_SCOPE + 1],
                                      const char **reason)
{
    out[0] = '\0';
    if (scope.len > INTEGRATIONS_MAX_SCOPE) {
        say(reason, "repository scope too long");
        return ERR_LIMIT;
    }
    if (!scope.ptr || !utf8_valid(scope)) {
        say(reason, "repository scope is not valid UTF-8");
        return ERR_INVALID;
    }
    size_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= scope.len; i++) {
        if (i < scope.len && scope.ptr[i] != ',' && scope.ptr[i] != '\n')
            continue;
        struct str g = str_from(scope.ptr + start, i - start);
        while (g.len && (g.ptr[0] == ' ' || g.ptr[0] == '\t' || g.ptr[0] == '\r')) {
            g.ptr++;
            g.len--;
        }
        while (g.len &&
               (g.ptr[g.len - 1] == ' ' || g.ptr[g.len - 1] == '\t' || g.ptr[g.len - 1] == '\r'))
            g.len--;
        start = i + 1;
        if (!g.len)
            continue;
        if (g.len > INTEGRATIONS_MAX_SCOPE_PATTERN) {
            say(reason, "a repository pattern is too long");
            out[0] = '\0';
            return ERR_LIMIT;
        }
        if (has_control(g)) {
            say(reason, "repository scope has control characters");
            out[0] = '\0';
            return ERR_INVALID;
        }
        /* the normalized text is never longer than the input: one separator per glob at most */
        ASSERT(n + (n ? 1 : 0) + g.len <= INTEGRATIONS_MAX_SCOPE);
        if (n)
            out[n++] = '\n';
        memcpy(out + n, g.ptr, g.len);
        n += g.len;
    }
    out[n] = '\0';
    if (!n) {
        say(reason, "repository scope needs a pattern, e.g. * or acme/*");
        return ERR_INVALID;
    }
    return ERR_OK;
}

bool integrations_scope_matches(const char *scope, struct str repository)
{
    struct str rest = str_from_cstr(scope), g;
    while (str_split(&rest, '\n', &g))
        if (g.len && ingest_glob_match(g, repository))
            return true;
    return false;
}

/* An HTTP header name (RFC 9110 token), not one the Basic scheme or HTTP itself uses. */
static bool header_name_ok(struct str h)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    if (!h.len || h.len > INTEGRATIONS_MAX_AZURE_HEADER)
        return false;
    for (size_t i = 0; i < h.len; i++) {
        char c = h.ptr[i];
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && !memchr(tchar, c, sizeof tchar - 1))
            return false;
    }
    static const char *const reserved[] = {"authorization",  "host",   "content-type",
                                           "content-length", "cookie", "transfer-encoding"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (str_ieq_cstr(h, reserved[i]))
            return false;
    return true;
}

/* The azure settings of spec into *auth and header (NONE / "" for other providers). */
static enum err azure_check(const struct integration_spec *spec, enum integration_azure_auth *auth,
                            char header[INTEGRATIONS_MAX_AZURE_HEADER + 1], const char **reason)
{
    *auth = INTEGRATION_AZURE_NONE;
    header[0] = '\0';
    if (spec->provider != INGEST_PROVIDER_AZURE_DEVOPS) {
        if (spec->azure_auth.ptr || spec->azure_header.ptr) {
            say(reason, "azure_auth and azure_header are for azure-devops integrations");
            return ERR_INVALID;
        }
        return ERR_OK;
    }
    *auth = INTEGRATION_AZURE_BOTH;
    if (spec->azure_auth.ptr && integration_azure_auth_parse(spec->azure_auth, auth) != ERR_OK) {
        say(reason, "azure_auth: one of basic, header, both");
        return ERR_INVALID;
    }
    struct str h =
        spec->azure_header.ptr ? spec->azure_header : STR_LIT(INTEGRATIONS_DEFAULT_AZURE_HEADER);
    if (h.len > INTEGRATIONS_MAX_AZURE_HEADER) {
        say(reason, "azure_header too long");
        return ERR_LIMIT;
    }
    if (!header_name_ok(h)) {
        say(reason, "azure_header: an HTTP header name of letters, digits and - (not a standard "
                    "header)");
        return ERR_INVALID;
    }
    memcpy(header, h.ptr, h.len);
    header[h.len] = '\0';
    return ERR_OK;
}

static enum err actor_check(const struct integrations_actor *who)
{
    if (!who || !who->user_id || !id_ok(str_from_cstr(who->user_id)))
        return ERR_INVALID;
    if (who->key_id && !id_ok(str_from_cstr(who->key_id)))
        return ERR_INVALID;
    return ERR_OK;
}

/* ---- secrets ---------------------------------------------------------------------- */

static enum err new_uuid(char out[INTEGRATIONS_ID_LEN + 1])
{
    unsigned char b[16];
    enum err e = rand_bytes(b, sizeof b);
    if (e)
        return e;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char hex[33];
    hex_encode(b, sizeof b, hex);
    size_t o = 0;
    for (size_t i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[o++] = '-';
        out[o++] = hex[i];
    }
    out[o] = '\0';
    return ERR_OK;
}

/*
 * prefix + base64 of INTEGRATIONS_SECRET_BYTES random bytes into out:
 * base64url without padding (url true) or standard base64 with padding.
 */
static enum err new_secret(const char *prefix, bool url, struct integration_secret *out)
{
    unsigned char raw[INTEGRATIONS_SECRET_BYTES];
    struct buf b = BUF_INIT_SECRET(INTEGRATIONS_MAX_SECRET + 1);
    enum err e = rand_bytes(raw, sizeof raw);
    if (!e)
        e = buf_puts(&b, prefix);
    if (!e)
        e = base64_encode(&b, raw, sizeof raw);
    crypto_wipe(raw, sizeof raw);
    if (!e && b.len > INTEGRATIONS_MAX_SECRET)
        e = ERR_LIMIT;
    if (!e) {
        size_t n = 0, plen = strlen(prefix);
        const char *s = buf_cstr(&b);
        for (size_t i = 0; i < b.len; i++) {
            char c = s[i];
            if (url && i >= plen) {
                if (c == '=')
                    continue;
                c = c == '+' ? '-' : c == '/' ? '_' : c;
            }
            out->text[n++] = c;
        }
        out->text[n] = '\0';
    }
    buf_wipe(&b);
    buf_release(&b);
    return e;
}

static enum err seal(struct secrets *sec, const struct tenant_ctx *t, const char *purpose,
                     const char *id, const struct integration_secret *s, struct buf *env)
{
    return secrets_seal(sec, t, str_from_cstr(purpose), str_from_cstr(id), s->text, strlen(s->text),
                        env);
}

/* Unseals env into out (cap bytes with the NUL); *len its length. */
static enum err unseal(struct secrets *sec, const struct tenant_ctx *t, const char *purpose,
                       const char *id, const struct buf *env, char *out, size_t cap, size_t *len)
{
    struct buf pt = BUF_INIT_SECRET(SECRETS_MAX_VALUE);
    enum err e =
        secrets_unseal(sec, t, str_from_cstr(purpose), str_from_cstr(id), env->data, env->len, &pt);
    if (!e && pt.len >= cap)
        e = ERR_CRYPTO; /* no secret of ours is that long: not our envelope */
    if (!e) {
        memcpy(out, pt.data, pt.len);
        out[pt.len] = '\0';
        *len = pt.len;
    }
    buf_wipe(&pt);
    buf_release(&pt);
    return e;
}

/* ---- rows ------------------------------------------------------------------------- */

static void col_copy(const struct stmt *st, int col, char *out, size_t cap)
{
    struct str v = stmt_col_is_null(st, col) ? STR_LIT("") : stmt_col_text(st, col);
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    if (n)
        memcpy(out, v.ptr, n);
    out[n] = '\0';
}

static int64_t col_int0(const struct stmt *st, int col)
{
    return stmt_col_is_null(st, col) ? 0 : stmt_col_int(st, col);
}

/* A row of INFO_COLUMNS into out, as of now. */
static void read_info(const struct stmt *st, int64_t now, struct integration *out)
{
    memset(out, 0, sizeof *out);
    col_copy(st, 0, out->id, sizeof out->id);
    if (integration_provider_parse(stmt_col_text(st, 1), &out->provider) != ERR_OK)
        out->provider = INGEST_PROVIDER_GITHUB; /* the table's CHECK allows no other */
    col_copy(st, 2, out->name, sizeof out->name);
    col_copy(st, 3, out->repository_scope, sizeof out->repository_scope);
    col_copy(st, 4, out->secret_hint, sizeof out->secret_hint);
    int64_t until = col_int0(st, 5);
    out->previous_valid_until = until > now ? until : 0;
    out->has_signing_secret = !stmt_col_is_null(st, 6);
    col_copy(st, 6, out->signing_secret_hint, sizeof out->signing_secret_hint);
    if (stmt_col_is_null(st, 7) ||
        integration_azure_auth_parse(stmt_col_text(st, 7), &out->azure_auth) != ERR_OK)
        out->azure_auth = INTEGRATION_AZURE_NONE;
    col_copy(st, 8, out->azure_header, sizeof out->azure_header);
    col_copy(st, 9, out->created_by, sizeof out->created_by);
    out->created_at = col_int0(st, 10);
    out->rotated_at = col_int0(st, 11);
    out->disabled_at = col_int0(st, 12);
}

static enum err read_one(struct tx *tx, struct str id, int64_t now, struct integration *out)
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          "SELECT " INFO_COLUMNS " FROM integrations"
                          " WHERE tenant_id = $1 AND id = $2",
                          STORAGE_ARGS(STORAGE_TEXT(id)), &st, &row);
    if (e)
        return e;
    if (row)
        read_info(st, now, out);
    stmt_finish(st);
    return row ? ERR_OK : ERR_NOT_FOUND;
}

static enum err audit_event(struct tx *tx, const struct integrations_actor *who, const char *action,
                            const char *id, const struct log_field *details)
{
    char target[TARGET_CAP];
    snprintf(target, sizeof target, "integration:%s", id);
    struct audit_event ev = {
        .action = action,
        .actor = who->key_id ? AUDIT_ACTOR_API_KEY : AUDIT_ACTOR_USER,
        .actor_id = who->key_id ? who->key_id : who->user_id,
        .target = target,
        .outcome = AUDIT_SUCCESS,
        .client_ip = who->client_ip,
        .request_id = who->request_id,
        .details = details,
    };
    return audit_append(tx, &ev, NULL);
}

/*
 * Changes of integrations committed by this process: a lookup cache entry
 * filled before the latest one is stale (integrations_lookup).
 */
static atomic_uint_fast64_t changes;

/* Ends tx: commits when e is ERR_OK, else rolls back; returns the outcome. */
static enum err finish(struct tx *tx, enum err e)
{
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    atomic_fetch_add(&changes, 1); /* after the commit: a lookup from now on reads the change */
    return e;
}

/* ---- create ----------------------------------------------------------------------- */

static enum err insert_row(struct tx *tx, const struct integration *in, const struct buf *env)
{
    struct stmt *st = NULL;
    bool row;
    const char *azure = integration_azure_auth_name(in->azure_auth);
    enum err e = tx_prepare(tx,
                            "INSERT INTO integrations (tenant_id, id, provider, name,"
                            " repository_scope, secret_env, secret_hint, azure_auth, azure_header,"
                            " created_at, created_by)"
                            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                            &st);
    if (e)
        return e;
    if (!e)
        e = stmt_bind_text(st, 2, str_from_cstr(in->id));
    if (!e)
        e = stmt_bind_text(st, 3, str_from_cstr(ingest_provider_name(in->provider)));
    if (!e)
        e = stmt_bind_text(st, 4, str_from_cstr(in->name));
    if (!e)
        e = stmt_bind_text(st, 5, str_from_cstr(in->repository_scope));
    if (!e)
        e = stmt_bind_blob(st, 6, env->data, env->len);
    if (!e)
        e = stmt_bind_text(st, 7, str_from_cstr(in->secret_hint));
    if (!e)
        e = azure ? stmt_bind_text(st, 8, str_from_cstr(azure)) : stmt_bind_null(st, 8);
    if (!e)
        e = azure ? stmt_bind_text(st, 9, str_from_cstr(in->azure_header)) : stmt_bind_null(st, 9);
    if (!e)
        e = stmt_bind_int(st, 10, in->created_at);
    if (!e)
        e = stmt_bind_text(st, 11, str_from_cstr(in->created_by));
    if (!e)
        e = stmt_step(st, &row);
    stmt_finish(st);
    return e;
}

/* Takes the tenant's integrations lock (PostgreSQL) and refuses a full tenant. */
static enum err room_for_one(struct tx *tx, const char **reason)
{
    enum err e = ERR_OK;
    if (storage_tx_backend(tx) == STORAGE_POSTGRES)
        e = tx_exec(tx, LOCK_SQL);
    struct stmt *st = NULL;
    bool row = false;
    if (!e)
        e = tx_query(tx, "SELECT count(*) FROM integrations WHERE tenant_id = $1", NULL, 0, &st,
                     &row);
    if (e)
        return e;
    int64_t n = row ? stmt_col_int(st, 0) : 0;
    stmt_finish(st);
    if (n >= INTEGRATIONS_MAX_PER_TENANT) {
        say(reason, INTEGRATIONS_REASON_FULL);
        return ERR_LIMIT;
    }
    return ERR_OK;
}

enum err integrations_create(struct storage *db, struct secrets *sec, const struct tenant_ctx *t,
                             const struct integrations_actor *who,
                             const struct integration_spec *spec, int64_t now,
                             struct integration *out, struct integration_secret *secret,
                             const char **reason)
{
    memset(out, 0, sizeof *out);
    memset(secret, 0, sizeof *secret);
    say(reason, NULL);
    if (actor_check(who) != ERR_OK || !ingest_provider_for_integrations(spec->provider))
        return ERR_INVALID;
    enum err e = name_check(spec->name, reason);
    if (!e)
        e = integrations_scope_normalize(spec->repository_scope.ptr
                                             ? spec->repository_scope
                                             : STR_LIT(INTEGRATIONS_DEFAULT_SCOPE),
                                         out->repository_scope, reason);
    if (!e)
        e = azure_check(spec, &out->azure_auth, out->azure_header, reason);
    if (e) {
        memset(out, 0, sizeof *out);
        return e;
    }
    out->provider = spec->provider;
    memcpy(out->name, spec->name.ptr, spec->name.len);
    out->name[spec->name.len] = '\0';
    snprintf(out->created_by, sizeof out->created_by, "%s", who->user_id);
    out->created_at = now;

    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE);
    struct tx *tx = NULL;
    if ((e = new_uuid(out->id)) == ERR_OK &&
        (e = new_secret(INTEGRATIONS_SECRET_PREFIX, true, secret)) == ERR_OK)
        e = seal(sec, t, INTEGRATIONS_PURPOSE_SECRET, out->id, secret, &env);
    if (!e) {
        secrets_hint_of(str_from_cstr(secret->text), out->secret_hint);
        e = storage_begin(db, t, TX_WRITE, &tx);
    }
    if (!e) {
        e = room_for_one(tx, reason);
        if (!e)
            e = insert_row(tx, out, &env);
        if (!e)
            e = audit_event(tx, who, "integration.created", out->id,
                            LOG_FIELDS_(LOG_STR("provider", ingest_provider_name(out->provider)),
                                        LOG_STR("name", out->name),
                                        LOG_STR("repository_scope", out->repository_scope)));
        e = finish(tx, e);
    }
    buf_release(&env);
    if (e) {
        memset(out, 0, sizeof *out);
        integration_secret_wipe(secret);
    }
    return e;
}

/* ---- read ------------------------------------------------------------------------- */

enum err integrations_get(struct storage *db, const struct tenant_ctx *t, struct str id,
                          int64_t now, struct integration *out)
{
    memset(out, 0, sizeof *out);
    if (!id_ok(id))
        return ERR_NOT_FOUND;
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_READ, &tx);
    if (e)
        return e;
    e = read_one(tx, id, now, out);
    storage_rollback(tx);
    if (e)
        memset(out, 0, sizeof *out);
    return e;
}

enum err integrations_list(struct storage *db, const struct tenant_ctx *t, unsigned page,
                           int64_t now, struct integration *out, size_t *n, size_t *total)
{
    *n = 0;
    *total = 0;
    if (page >= INTEGRATIONS_MAX_PAGES)
        return ERR_INVALID;
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_READ, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx, "SELECT count(*) FROM integrations WHERE tenant_id = $1", NULL, 0, &st, &row);
    if (!e) {
        *total = row ? (size_t)stmt_col_int(st, 0) : 0;
        stmt_finish(st);
        e = tx_query(tx,
                     "SELECT " INFO_COLUMNS " FROM integrations WHERE tenant_id = $1"
                     " ORDER BY created_at, id LIMIT $2 OFFSET $3",
                     STORAGE_ARGS(STORAGE_INT(INTEGRATIONS_PAGE),
                                  STORAGE_INT((int64_t)page * INTEGRATIONS_PAGE)),
                     &st, &row);
    }
    while (!e && row && *n < INTEGRATIONS_PAGE) {
        read_info(st, now, &out[(*n)++]);
        e = stmt_step(st, &row);
    }
    if (st)
        stmt_finish(st);
    storage_rollback(tx);
    if (e)
        *n = *total = 0;
    return e;
}

/* ---- changes ---------------------------------------------------------------------- */

enum err integrations_rotate(struct storage *db, struct secrets *sec, const struct tenant_ctx *t,
                             const struct integrations_actor *who, struct str id, int64_t now,
                             struct integration *out, struct integration_secret *secret)
{
    struct integration scratch;
    struct integration *info = out ? out : &scratch;
    memset(info, 0, sizeof *info);
    memset(secret, 0, sizeof *secret);
    if (actor_check(who) != ERR_OK)
        return ERR_INVALID;
    if (!id_ok(id))
        return ERR_NOT_FOUND;
    char idc[INTEGRATIONS_ID_LEN + 1];
    memcpy(idc, id.ptr, INTEGRATIONS_ID_LEN);
    idc[INTEGRATIONS_ID_LEN] = '\0';
    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE);
    char hint[SECRETS_HINT_SIZE];
    struct tx *tx = NULL;
    enum err e = new_secret(INTEGRATIONS_SECRET_PREFIX, true, secret);
    if (!e)
        e = seal(sec, t, INTEGRATIONS_PURPOSE_SECRET, idc, secret, &env);
    if (!e) {
        secrets_hint_of(str_from_cstr(secret->text), hint);
        e = storage_begin(db, t, TX_WRITE, &tx);
    }
    if (!e) {
        struct stmt *st = NULL;
        bool row;
        int64_t until = now + INTEGRATIONS_ROTATION_GRACE_S;
        /* SET reads the row as it was: the current envelope becomes the previous one */
        e = tx_prepare(tx,
                       "UPDATE integrations SET previous_secret_env = secret_env,"
                       " previous_valid_until = $3, secret_env = $4, secret_hint = $5,"
                       " rotated_at = $6 WHERE tenant_id = $1 AND id = $2",
                       &st);
        if (!e && !(e = stmt_bind_text(st, 2, id)) && !(e = stmt_bind_int(st, 3, until)) &&
            !(e = stmt_bind_blob(st, 4, env.data, env.len)) &&
            !(e = stmt_bind_text(st, 5, str_from_cstr(hint))) && !(e = stmt_bind_int(st, 6, now)))
            e = stmt_step(st, &row);
        if (!e && stmt_changes(st) == 0)
            e = ERR_NOT_FOUND;
        if (st)
            stmt_finish(st);
        if (!e)
            e = audit_event(tx, who, "integration.secret_rotated", idc,
                            LOG_FIELDS_(LOG_INT("previous_valid_until", until)));
        if (!e)
            e = read_one(tx, id, now, info);
        e = finish(tx, e);
    }
    buf_release(&env);
    if (e) {
        memset(info, 0, sizeof *info);
        integration_secret_wipe(secret);
    }
    return e;
}

enum err integrations_signing_secret(struct storage *db, struct secrets *sec,
                                     const struct tenant_ctx *t,
                                     const struct integrations_actor *who, struct str id,
                                     int64_t now, struct integration *out,
                                     struct integration_secret *secret, const char **reason)
{
    struct integration scratch;
    struct integration *info = out ? out : &scratch;
    memset(info, 0, sizeof *info);
    memset(secret, 0, sizeof *secret);
    say(reason, NULL);
    if (actor_check(who) != ERR_OK)
        return ERR_INVALID;
    if (!id_ok(id))
        return ERR_NOT_FOUND;
    char idc[INTEGRATIONS_ID_LEN + 1];
    memcpy(idc, id.ptr, INTEGRATIONS_ID_LEN);
    idc[INTEGRATIONS_ID_LEN] = '\0';
    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE);
    char hint[SECRETS_HINT_SIZE];
    struct tx *tx = NULL;
    enum err e = new_secret(INTEGRATIONS_SIGNING_PREFIX, false, secret);
    if (!e)
        e = seal(sec, t, INTEGRATIONS_PURPOSE_SIGNING, idc, secret, &env);
    if (!e) {
        secrets_hint_of(str_from_cstr(secret->text), hint);
        e = storage_begin(db, t, TX_WRITE, &tx);
    }
    if (!e) {
        e = read_one(tx, id, now, info);
        if (!e && info->provider != INGEST_PROVIDER_GITLAB) {
            say(reason, "signing secrets are for gitlab integrations");
            e = ERR_INVALID;
        }
        struct stmt *st = NULL;
        bool row;
        if (!e)
            e = tx_prepare(tx,
                           "UPDATE integrations SET signing_secret_env = $3,"
                           " signing_secret_hint = $4 WHERE tenant_id = $1 AND id = $2",
                           &st);
        if (!e && !(e = stmt_bind_text(st, 2, id)) &&
            !(e = stmt_bind_blob(st, 3, env.data, env.len)) &&
            !(e = stmt_bind_text(st, 4, str_from_cstr(hint))))
            e = stmt_step(st, &row);
        if (!e && stmt_changes(st) == 0)
            e = ERR_NOT_FOUND;
        if (st)
            stmt_finish(st);
        if (!e)
            e = audit_event(tx, who, "integration.signing_secret_set", idc, NULL);
        if (!e)
            e = read_one(tx, id, now, info);
        e = finish(tx, e);
    }
    buf_release(&env);
    if (e) {
        memset(info, 0, sizeof *info);
        integration_secret_wipe(secret);
    }
    return e;
}

/* Runs one UPDATE/DELETE of the integration id and its audit event in a write transaction. */
static enum err change_one(struct storage *db, const struct tenant_ctx *t,
                           const struct integrations_actor *who, struct str id, const char *sql,
                           const struct storage_arg *args, size_t n, const char *action)
{
    if (actor_check(who) != ERR_OK)
        return ERR_INVALID;
    if (!id_ok(id))
        return ERR_NOT_FOUND;
    char idc[INTEGRATIONS_ID_LEN + 1];
    memcpy(idc, id.ptr, INTEGRATIONS_ID_LEN);
    idc[INTEGRATIONS_ID_LEN] = '\0';
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_WRITE, &tx);
    if (e)
        return e;
    uint64_t changed = 0;
    e = tx_exec_args(tx, sql, args, n, &changed);
    if (!e && changed == 0)
        e = ERR_NOT_FOUND;
    if (!e)
        e = audit_event(tx, who, action, idc, NULL);
    return finish(tx, e);
}

enum err integrations_set_disabled(struct storage *db, const struct tenant_ctx *t,
                                   const struct integrations_actor *who, struct str id,
                                   bool disabled, int64_t now)
{
    if (disabled)
        return change_one(db, t, who, id,
                          "UPDATE integrations SET disabled_at = $3"
                          " WHERE tenant_id = $1 AND id = $2",
                          STORAGE_ARGS(STORAGE_TEXT(id), STORAGE_INT(now)), "integration.disabled");
    return change_one(db, t, who, id,
                      "UPDATE integrations SET disabled_at = NULL"
                      " WHERE tenant_id = $1 AND id = $2",
                      STORAGE_ARGS(STORAGE_TEXT(id)), "integration.enabled");
}

enum err integrations_delete(struct storage *db, const struct tenant_ctx *t,
                             const struct integrations_actor *who, struct str id)
{
    return change_one(db, t, who, id, "DELETE FROM integrations WHERE tenant_id = $1 AND id = $2",
                      STORAGE_ARGS(STORAGE_TEXT(id)), "integration.deleted");
}

/* ---- the webhook path --------------------------------------------------------------- */

/* The envelopes and settings of one integration, copied out of its row. */
struct sealed {
    struct str provider_text;
    struct buf secret, previous, signing;
    int64_t previous_valid_until;
    bool disabled;
};

static enum err read_sealed(struct tx *tx, struct str id, struct integration_verify *out,
                            struct sealed *s)
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          "SELECT provider, repository_scope, azure_auth, azure_header, secret_env,"
                          " previous_secret_env, previous_valid_until, signing_secret_env,"
                          " disabled_at FROM integrations WHERE tenant_id = $1 AND id = $2",
                          STORAGE_ARGS(STORAGE_TEXT(id)), &st, &row);
    if (e)
        return e;
    if (!row) {
        stmt_finish(st);
        return ERR_NOT_FOUND;
    }
    if (integration_provider_parse(stmt_col_text(st, 0), &out->provider) != ERR_OK)
        e = ERR_NOT_FOUND;
    col_copy(st, 1, out->repository_scope, sizeof out->repository_scope);
    if (stmt_col_is_null(st, 2) ||
        integration_azure_auth_parse(stmt_col_text(st, 2), &out->azure_auth) != ERR_OK)
        out->azure_auth = INTEGRATION_AZURE_NONE;
    col_copy(st, 3, out->azure_header, sizeof out->azure_header);
    const int env_cols[3] = {4, 5, 7};
    struct buf *envs[3] = {&s->secret, &s->previous, &s->signing};
    for (size_t i = 0; !e && i < 3; i++)
        if (!stmt_col_is_null(st, env_cols[i])) {
            struct str b = stmt_col_blob(st, env_cols[i]);
            e = buf_append(envs[i], b.ptr, b.len);
        }
    s->previous_valid_until = col_int0(st, 6);
    s->disabled = !stmt_col_is_null(st, 8);
    stmt_finish(st);
    return e;
}

/* ---- the lookup cache --------------------------------------------------------------- */

struct cache_slot {
    bool used;
    uint_fast64_t changes;        /* the count of changes when it was filled */
    int64_t filled_at;            /* the caller's now */
    int64_t previous_valid_until; /* previous is served only before this */
    struct integration_verify v;
};

struct integrations_cache {
    pthread_mutex_t mu;
    struct cache_slot *slots; /* INTEGRATIONS_CACHE_SLOTS, mapped apart (locked, not dumped) */
    size_t map_len;
};

enum err integrations_cache_new(struct integrations_cache **out)
{
    struct integrations_cache *c = calloc(1, sizeof *c);
    if (!c)
        err_oom();
    c->map_len = INTEGRATIONS_CACHE_SLOTS * sizeof(struct cache_slot);
    void *m = mmap(NULL, c->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        free(c);
        return ERR_INTERNAL;
    }
    if (mlock(m, c->map_len) != 0)
        log_warn("integrations: the lookup cache cannot be locked in memory (RLIMIT_MEMLOCK);"
                 " it may be swapped out",
                 LOG_INT("errno", errno));
    (void)madvise(m, c->map_len, MADV_DONTDUMP);
    c->slots = m;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return ERR_OK;
}

void integrations_cache_free(struct integrations_cache *c)
{
    if (!c)
        return;
    crypto_wipe(c->slots, c->map_len);
    munlock(c->slots, c->map_len);
    munmap(c->slots, c->map_len);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* The slot of id (FNV-1a of its bytes). */
static struct cache_slot *slot_of(struct integrations_cache *c, const char *id)
{
    uint32_t h = 2166136261u;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &c->slots[h % INTEGRATIONS_CACHE_SLOTS];
}

void integrations_cache_forget(struct integrations_cache *c, const char *id)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    struct cache_slot *sl = slot_of(c, id);
    if (sl->used && strcmp(sl->v.id, id) == 0)
        crypto_wipe(sl, sizeof *sl);
    pthread_mutex_unlock(&c->mu);
}

bool integrations_cache_hit(const struct integration_verify *out)
{
    return out->cached_;
}

/* Copies a fresh entry of id into out; false when there is none. */
static bool cache_get(struct integrations_cache *c, const char *id, int64_t now,
                      struct integration_verify *out)
{
    bool hit = false;
    pthread_mutex_lock(&c->mu);
    struct cache_slot *sl = slot_of(c, id);
    if (sl->used && strcmp(sl->v.id, id) == 0 && sl->changes == atomic_load(&changes) &&
        now >= sl->filled_at && now - sl->filled_at < INTEGRATIONS_CACHE_TTL_S) {
        *out = sl->v;
        hit = true;
        if (now >= sl->previous_valid_until) { /* the grace ended meanwhile */
            crypto_wipe(out->previous, sizeof out->previous);
            out->previous_len = 0;
        }
    }
    pthread_mutex_unlock(&c->mu);
    out->cached_ = hit;
    return hit;
}

static void cache_put(struct integrations_cache *c, uint_fast64_t seen, int64_t now,
                      int64_t previous_valid_until, const struct integration_verify *v)
{
    pthread_mutex_lock(&c->mu);
    struct cache_slot *sl = slot_of(c, v->id);
    crypto_wipe(sl, sizeof *sl);
    *sl = (struct cache_slot){.used = true,
                              .changes = seen,
                              .filled_at = now,
                              .previous_valid_until = previous_valid_until,
                              .v = *v};
    sl->v.cached_ = false;
    pthread_mutex_unlock(&c->mu);
}

enum err integrations_lookup(struct storage *db, struct secrets *sec,
                             struct integrations_cache *cache, struct str integration_id,
                             struct str provider, int64_t now, struct integration_verify *out)
{
    memset(out, 0, sizeof *out);
    enum ingest_provider want;
    if (integration_provider_parse(provider, &want) != ERR_OK || !id_ok(integration_id))
        return ERR_NOT_FOUND;
    char idc[INTEGRATIONS_ID_LEN + 1];
    memcpy(idc, integration_id.ptr, INTEGRATIONS_ID_LEN);
    idc[INTEGRATIONS_ID_LEN] = '\0';
    if (cache && cache_get(cache, idc, now, out)) {
        if (out->provider == want)
            return ERR_OK;
        integration_verify_wipe(out);
        return ERR_NOT_FOUND;
    }
    uint_fast64_t seen = atomic_load(&changes); /* before the read: a change after it wins */
    enum err e = storage_integration_tenant(db, integration_id, &out->tenant);
    if (e)
        return e;
    memcpy(out->id, idc, sizeof idc);
    struct sealed s = {.secret = BUF_INIT(SECRETS_MAX_ENVELOPE),
                       .previous = BUF_INIT(SECRETS_MAX_ENVELOPE),
                       .signing = BUF_INIT(SECRETS_MAX_ENVELOPE)};
    struct tx *tx = NULL;
    e = storage_begin(db, &out->tenant, TX_READ, &tx);
    if (!e) {
        e = read_sealed(tx, integration_id, out, &s);
        storage_rollback(tx);
    }
    /* disabled between the two reads, or the URL names another provider: no such hook */
    if (!e && (s.disabled || out->provider != want || !s.secret.len))
        e = ERR_NOT_FOUND;
    if (!e)
        e = unseal(sec, &out->tenant, INTEGRATIONS_PURPOSE_SECRET, out->id, &s.secret, out->secret,
                   sizeof out->secret, &out->secret_len);
    if (!e && s.previous.len && now < s.previous_valid_until)
        e = unseal(sec, &out->tenant, INTEGRATIONS_PURPOSE_SECRET, out->id, &s.previous,
                   out->previous, sizeof out->previous, &out->previous_len);
    if (!e && s.signing.len)
        e = unseal(sec, &out->tenant, INTEGRATIONS_PURPOSE_SIGNING, out->id, &s.signing,
                   out->signing, sizeof out->signing, &out->signing_len);
    buf_release(&s.secret);
    buf_release(&s.previous);
    buf_release(&s.signing);
    if (e)
        integration_verify_wipe(out);
    else if (cache)
        cache_put(cache, seen, now, s.previous_valid_until, out);
    return e;
}
