/*
 * outbound — see outbound.h.
 *
 * Design: as in ingest/integrations.c, a secret is made from the CSPRNG and
 * sealed before the write transaction opens, so the transaction holds only
 * the row change and its audit event; the plaintext lives only in the
 * caller's struct outbound_secret. Delivery is a two-step job: prepare reads
 * the message and its endpoint in a read transaction, unseals the secret,
 * signs, wipes the secret and POSTs — no write transaction is open while the
 * network is waited on — and apply (success) or the fail hook (failure)
 * records the attempt in the transaction the runner settles the job in, so
 * the log and the job's state commit together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "core/base64.h"
#include "core/json.h"
#include "core/log.h"
#include "core/unicode.h"
#include "crypto/hash.h"
#include "crypto/rand.h"
#include "outbound/outbound.h"

#define LOCK_SQL                                                                                   \
    "SELECT pg_advisory_xact_lock(hashtextextended('shiplog/outbound/' || $1::text, 0))"

#define EP_COLUMNS                                                                                 \
    "id, url, description, secret_hint, created_by, created_at, rotated_at, disabled_at"

#define MSG_PREFIX     "msg_"
#define MSG_HEX        32
#define TARGET_CAP     (sizeof "outbound_endpoint:" + OUTBOUND_ID_LEN)
#define MIN_KEY_BYTES  24 /* Standard Webhooks: secrets of 24 to 64 bytes */
#define MAX_KEY_BYTES  64
#define RFC3339_LEN    20 /* "2026-12-02T12:00:00Z" */
#define RESPONSE_ARENA (OUTBOUND_MAX_RESPONSE + 64 * 1024)

static const char *const status_names[] = {
    [OUTBOUND_PENDING] = "pending",
    [OUTBOUND_DELIVERED] = "delivered",
    [OUTBOUND_FAILED] = "failed",
    [OUTBOUND_DEAD] = "dead",
};

const char *outbound_status_name(enum outbound_status s)
{
    return (unsigned)s < sizeof status_names / sizeof status_names[0] ? status_names[s] : "pending";
}

static enum outbound_status status_parse(struct str s)
{
    for (size_t i = 0; i < sizeof status_names / sizeof status_names[0]; i++)
        if (str_eq_cstr(s, status_names[i]))
            return (enum outbound_status)i;
    return OUTBOUND_PENDING;
}

void outbound_secret_wipe(struct outbound_secret *s)
{
    crypto_wipe(s, sizeof *s);
}

static void say(const char **reason, const char *text)
{
    if (reason)
        *reason = text;
}

/* ---- input checks ------------------------------------------------------------------ */

static bool id_ok(struct str id)
{
    return id.ptr && id.len == OUTBOUND_ID_LEN && str_is_uuid(id);
}

static bool msg_id_ok(struct str id)
{
    if (!id.ptr || id.len != OUTBOUND_MSG_ID_LEN || !str_starts_with(id, STR_LIT(MSG_PREFIX)))
        return false;
    for (size_t i = sizeof MSG_PREFIX - 1; i < id.len; i++)
        if (!((id.ptr[i] >= '0' && id.ptr[i] <= '9') || (id.ptr[i] >= 'a' && id.ptr[i] <= 'f')))
            return false;
    return true;
}

static enum err actor_check(const struct outbound_actor *who)
{
    if (!who || !who->user_id || !id_ok(str_from_cstr(who->user_id)))
        return ERR_INVALID;
    if (who->key_id && !id_ok(str_from_cstr(who->key_id)))
        return ERR_INVALID;
    return ERR_OK;
}

static bool has_control(struct str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            return true;
        if (c == 0xc2 && i + 1 < s.len && (unsigned char)s.ptr[i + 1] >= 0x80 &&
            (unsigned char)s.ptr[i + 1] <= 0x9f)
            return true;
    }
    return false;
}

static enum err description_check(struct str d, const char **reason)
{
    if (d.len > OUTBOUND_MAX_DESCRIPTION) {
        say(reason, "description too long");
        return ERR_LIMIT;
    }
    if (d.len && (!d.ptr || !utf8_valid(d))) {
        say(reason, "description is not valid UTF-8");
        return ERR_INVALID;
    }
    if (has_control(d)) {
        say(reason, "description has control characters");
        return ERR_INVALID;
    }
    return ERR_OK;
}

static enum err url_check(struct str url, const struct httpc_policy *policy, const char **reason)
{
    char why[128];
    enum err e = httpc_url_check(url, policy, why, sizeof why);
    if (e == ERR_LIMIT)
        say(reason, "url too long");
    else if (e == ERR_FORBIDDEN)
        say(reason, "url points to an address that is not allowed (loopback, private, "
                    "link-local or another non-public address)");
    else if (e)
        say(reason, "url must be http:// or https:// with a host and without user information");
    return e;
}

/* [a-z0-9._-], 1..OUTBOUND_MAX_EVENT_TYPE bytes. */
static enum err event_type_check(struct str t)
{
    if (t.len > OUTBOUND_MAX_EVENT_TYPE)
        return ERR_LIMIT;
    if (!t.ptr || !t.len)
        return ERR_INVALID;
    for (size_t i = 0; i < t.len; i++) {
        char c = t.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return ERR_INVALID;
    }
    return ERR_OK;
}

/* ---- ids and secrets ------------------------------------------------------------------ */

static enum err new_uuid(char out[OUTBOUND_ID_LEN + 1])
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

/* "msg_" + 32 hex digits that begin with the time, so ids sort by creation. */
static enum err new_msg_id(char out[OUTBOUND_MSG_ID_LEN + 1])
{
    memcpy(out, MSG_PREFIX, sizeof MSG_PREFIX - 1);
    return rand_hex_sortable(out + sizeof MSG_PREFIX - 1, MSG_HEX / 2);
}

/* "whsec_" + standard base64 (with padding) of OUTBOUND_SECRET_BYTES random bytes. */
static enum err new_secret(struct outbound_secret *out)
{
    unsigned char raw[OUTBOUND_SECRET_BYTES];
    struct buf b = BUF_INIT_SECRET(OUTBOUND_MAX_SECRET);
    enum err e = rand_bytes(raw, sizeof raw);
    if (!e)
        e = buf_puts(&b, OUTBOUND_SECRET_PREFIX);
    if (!e)
        e = base64_encode(&b, raw, sizeof raw);
    crypto_wipe(raw, sizeof raw);
    if (!e) {
        memcpy(out->text, b.data, b.len);
        out->text[b.len] = '\0';
    }
    buf_wipe(&b);
    buf_release(&b);
    return e;
}

static enum err seal(struct secrets *sec, const struct tenant_ctx *t, const char *id,
                     const struct outbound_secret *s, struct buf *env)
{
    return secrets_seal(sec, t, STR_LIT(OUTBOUND_PURPOSE_SECRET), str_from_cstr(id), s->text,
                        strlen(s->text), env);
}

enum err outbound_sign(struct str secret, struct str msg_id, int64_t timestamp, struct str payload,
                       char out[OUTBOUND_SIGNATURE_LEN + 1])
{
    out[0] = '\0';
    if (secret.len > OUTBOUND_MAX_SECRET)
        return ERR_LIMIT;
    if (!secret.ptr || !str_starts_with(secret, STR_LIT(OUTBOUND_SECRET_PREFIX)) || !msg_id.ptr ||
        !msg_id.len || str_index(msg_id, '.') >= 0 || timestamp < 0 ||
        (payload.len && !payload.ptr))
        return ERR_INVALID;
    struct str b64 = str_from(secret.ptr + sizeof OUTBOUND_SECRET_PREFIX - 1,
                              secret.len - (sizeof OUTBOUND_SECRET_PREFIX - 1));
    for (size_t i = 0; i < b64.len; i++) /* base64_decode would skip whitespace */
        if ((unsigned char)b64.ptr[i] <= 0x20 || (unsigned char)b64.ptr[i] > 0x7e)
            return ERR_INVALID;
    unsigned char key[MAX_KEY_BYTES];
    size_t key_len = 0;
    enum err e = base64_decode(b64, key, sizeof key, &key_len);
    if (e || key_len < MIN_KEY_BYTES) {
        crypto_wipe(key, sizeof key);
        return ERR_INVALID;
    }
    char ts[24];
    snprintf(ts, sizeof ts, "%lld", (long long)timestamp);
    const struct str parts[] = {msg_id, STR_LIT("."), str_from_cstr(ts), STR_LIT("."),
                                payload.ptr ? payload : STR_LIT("")};
    unsigned char mac[SHA256_LEN];
    hmac_sha256_parts(key, key_len, parts, sizeof parts / sizeof parts[0], mac);
    crypto_wipe(key, sizeof key);
    struct buf b = BUF_INIT(OUTBOUND_SIGNATURE_LEN);
    e = buf_puts(&b, "v1,");
    if (!e)
        e = base64_encode(&b, mac, sizeof mac);
    if (!e && b.len == OUTBOUND_SIGNATURE_LEN)
        memcpy(out, b.data, b.len + 1);
    else if (!e)
        e = ERR_INTERNAL;
    buf_release(&b);
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

static void read_endpoint(const struct stmt *st, struct outbound_endpoint *out)
{
    memset(out, 0, sizeof *out);
    col_copy(st, 0, out->id, sizeof out->id);
    col_copy(st, 1, out->url, sizeof out->url);
    col_copy(st, 2, out->description, sizeof out->description);
    col_copy(st, 3, out->secret_hint, sizeof out->secret_hint);
    col_copy(st, 4, out->created_by, sizeof out->created_by);
    out->created_at = col_int0(st, 5);
    out->rotated_at = col_int0(st, 6);
    out->disabled_at = col_int0(st, 7);
}

static enum err read_one(struct tx *tx, struct str id, struct outbound_endpoint *out)
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          "SELECT " EP_COLUMNS " FROM outbound_endpoints"
                          " WHERE tenant_id = $1 AND id = $2",
                          STORAGE_ARGS(STORAGE_TEXT(id)), &st, &row);
    if (e)
        return e;
    if (row && out)
        read_endpoint(st, out);
    stmt_finish(st);
    return row ? ERR_OK : ERR_NOT_FOUND;
}

static enum err audit_event(struct tx *tx, const struct outbound_actor *who, const char *action,
                            const char *id, const struct log_field *details)
{
    char target[TARGET_CAP];
    snprintf(target, sizeof target, "outbound_endpoint:%s", id);
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

/* Ends tx: commits when e is ERR_OK, else rolls back; returns the outcome. */
static enum err finish(struct tx *tx, enum err e)
{
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

/* ---- endpoints ------------------------------------------------------------------------ */

/* Takes the tenant's endpoint lock (PostgreSQL) and refuses a full tenant. */
static enum err room_for_one(struct tx *tx, const char **reason)
{
    enum err e = ERR_OK;
    if (storage_tx_backend(tx) == STORAGE_POSTGRES)
        e = tx_exec(tx, LOCK_SQL);
    struct stmt *st = NULL;
    bool row = false;
    if (!e)
        e = tx_query(tx, "SELECT count(*) FROM outbound_endpoints WHERE tenant_id = $1", NULL, 0,
                     &st, &row);
    if (e)
        return e;
    int64_t n = row ? stmt_col_int(st, 0) : 0;
    stmt_finish(st);
    if (n >= OUTBOUND_MAX_PER_TENANT) {
        say(reason, OUTBOUND_REASON_FULL);
        return ERR_LIMIT;
    }
    return ERR_OK;
}

enum err outbound_endpoint_create(struct storage *db, struct secrets *sec,
                                  const struct tenant_ctx *t, const struct outbound_actor *who,
                                  const struct httpc_policy *policy, struct str url,
                                  struct str description, int64_t now,
                                  struct outbound_endpoint *out, struct outbound_secret *secret,
                                  const char **reason)
{
    memset(out, 0, sizeof *out);
    memset(secret, 0, sizeof *secret);
    say(reason, NULL);
    if (actor_check(who) != ERR_OK)
        return ERR_INVALID;
    enum err e = url_check(url, policy, reason);
    if (!e)
        e = description_check(description, reason);
    if (e)
        return e;
    memcpy(out->url, url.ptr, url.len);
    out->url[url.len] = '\0';
    if (description.len)
        memcpy(out->description, description.ptr, description.len);
    out->description[description.len] = '\0';
    snprintf(out->created_by, sizeof out->created_by, "%s", who->user_id);
    out->created_at = now;

    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE);
    struct tx *tx = NULL;
    if ((e = new_uuid(out->id)) == ERR_OK && (e = new_secret(secret)) == ERR_OK)
        e = seal(sec, t, out->id, secret, &env);
    if (!e) {
        secrets_hint_of(str_from_cstr(secret->text), out->secret_hint);
        e = storage_begin(db, t, TX_WRITE, &tx);
    }
    if (!e) {
        e = room_for_one(tx, reason);
        if (!e)
            e = tx_exec_args(tx,
                             "INSERT INTO outbound_endpoints (tenant_id, id, url, description,"
                             " secret_env, secret_hint, created_at, created_by)"
                             " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                             STORAGE_ARGS(STORAGE_CSTR(out->id), STORAGE_CSTR(out->url),
                                          STORAGE_CSTR(out->description),
                                          STORAGE_BLOB(str_from(env.data, env.len)),
                                          STORAGE_CSTR(out->secret_hint), STORAGE_INT(now),
                                          STORAGE_CSTR(out->created_by)),
                             NULL);
        if (!e)
            e = audit_event(tx, who, "outbound.endpoint_created", out->id,
                            LOG_FIELDS_(LOG_STR("description", out->description)));
        e = finish(tx, e);
    }
    buf_release(&env);
    if (e) {
        memset(out, 0, sizeof *out);
        outbound_secret_wipe(secret);
    }
    return e;
}

enum err outbound_endpoint_get(struct storage *db, const struct tenant_ctx *t, struct str id,
                               struct outbound_endpoint *out)
{
    memset(out, 0, sizeof *out);
    if (!id_ok(id))
        return ERR_NOT_FOUND;
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_READ, &tx);
    if (e)
        return e;
    e = read_one(tx, id, out);
    storage_rollback(tx);
    if (e)
        memset(out, 0, sizeof *out);
    return e;
}

enum err outbound_endpoint_list(struct storage *db, const struct tenant_ctx *t,
                                struct outbound_endpoint *out, size_t *n)
{
    *n = 0;
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_READ, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx,
                 "SELECT " EP_COLUMNS " FROM outbound_endpoints WHERE tenant_id = $1"
                 " ORDER BY created_at, id LIMIT $2",
                 STORAGE_ARGS(STORAGE_INT(OUTBOUND_MAX_PER_TENANT)), &st, &row);
    while (!e && row && *n < OUTBOUND_MAX_PER_TENANT) {
        read_endpoint(st, &out[(*n)++]);
        e = stmt_step(st, &row);
    }
    if (st)
        stmt_finish(st);
    storage_rollback(tx);
    if (e)
        *n = 0;
    return e;
}

enum err outbound_endpoint_rotate(struct storage *db, struct secrets *sec,
                                  const struct tenant_ctx *t, const struct outbound_actor *who,
                                  struct str id, int64_t now, struct outbound_endpoint *out,
                                  struct outbound_secret *secret)
{
    struct outbound_endpoint scratch;
    struct outbound_endpoint *info = out ? out : &scratch;
    memset(info, 0, sizeof *info);
    memset(secret, 0, sizeof *secret);
    if (actor_check(who) != ERR_OK)
        return ERR_INVALID;
    if (!id_ok(id))
        return ERR_NOT_FOUND;
    char idc[OUTBOUND_ID_LEN + 1];
    memcpy(idc, id.ptr, OUTBOUND_ID_LEN);
    idc[OUTBOUND_ID_LEN] = '\0';
    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE);
    char hint[SECRETS_HINT_SIZE];
    struct tx *tx = NULL;
    enum err e = new_secret(secret);
    if (!e)
        e = seal(sec, t, idc, secret, &env);
    if (!e) {
        secrets_hint_of(str_from_cstr(secret->text), hint);
        e = storage_begin(db, t, TX_WRITE, &tx);
    }
    if (!e) {
        uint64_t changed = 0;
        e = tx_exec_args(tx,
                         "UPDATE outbound_endpoints SET secret_env = $3, secret_hint = $4,"
                         " rotated_at = $5 WHERE tenant_id = $1 AND id = $2",
                         STORAGE_ARGS(STORAGE_CSTR(idc), STORAGE_BLOB(str_from(env.data, env.len)),
                                      STORAGE_CSTR(hint), STORAGE_INT(now)),
                         &changed);
        if (!e && changed == 0)
            e = ERR_NOT_FOUND;
        if (!e)
            e = audit_event(tx, who, "outbound.endpoint_secret_rotated", idc, NULL);
        if (!e)
            e = read_one(tx, str_from_cstr(idc), info);
        e = finish(tx, e);
    }
    buf_release(&env);
    if (e) {
        memset(info, 0, sizeof *info);
        outbound_secret_wipe(secret);
    }
    return e;
}

enum err outbound_endpoint_set_disabled(struct storage *db, const struct tenant_ctx *t,
                                        const struct outbound_actor *who, struct str id,
                                        bool disabled, int64_t now, struct outbound_endpoint *out)
{
    struct outbound_endpoint scratch;
    struct outbound_endpoint *info = out ? out : &scratch;
    memset(info, 0, sizeof *info);
    if (actor_check(who) != ERR_OK)
        return ERR_INVALID;
    if (!id_ok(id))
        return ERR_NOT_FOUND;
    char idc[OUTBOUND_ID_LEN + 1];
    memcpy(idc, id.ptr, OUTBOUND_ID_LEN);
    idc[OUTBOUND_ID_LEN] = '\0';
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_WRITE, &tx);
    if (e)
        return e;
    uint64_t changed = 0;
    e = disabled
            ? tx_exec_args(tx,
                           "UPDATE outbound_endpoints SET disabled_at = COALESCE(disabled_at, $3)"
                           " WHERE tenant_id = $1 AND id = $2",
                           STORAGE_ARGS(STORAGE_CSTR(idc), STORAGE_INT(now)), &changed)
            : tx_exec_args(tx,
                           "UPDATE outbound_endpoints SET disabled_at = NULL"
                           " WHERE tenant_id = $1 AND id = $2",
                           STORAGE_ARGS(STORAGE_CSTR(idc)), &changed);
    if (!e && changed == 0)
        e = ERR_NOT_FOUND;
    if (!e)
        e = audit_event(tx, who,
                        disabled ? "outbound.endpoint_disabled" : "outbound.endpoint_enabled", idc,
                        NULL);
    if (!e)
        e = read_one(tx, str_from_cstr(idc), info);
    e = finish(tx, e);
    if (e)
        memset(info, 0, sizeof *info);
    return e;
}

enum err outbound_endpoint_delete(struct storage *db, const struct tenant_ctx *t,
                                  const struct outbound_actor *who, struct str id)
{
    if (actor_check(who) != ERR_OK)
        return ERR_INVALID;
    if (!id_ok(id))
        return ERR_NOT_FOUND;
    char idc[OUTBOUND_ID_LEN + 1];
    memcpy(idc, id.ptr, OUTBOUND_ID_LEN);
    idc[OUTBOUND_ID_LEN] = '\0';
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_WRITE, &tx);
    if (e)
        return e;
    uint64_t changed = 0;
    /* the log goes with it (ON DELETE CASCADE); its jobs then find nothing to deliver */
    e = tx_exec_args(tx, "DELETE FROM outbound_endpoints WHERE tenant_id = $1 AND id = $2",
                     STORAGE_ARGS(STORAGE_CSTR(idc)), &changed);
    if (!e && changed == 0)
        e = ERR_NOT_FOUND;
    if (!e)
        e = audit_event(tx, who, "outbound.endpoint_deleted", idc, NULL);
    return finish(tx, e);
}

/* ---- messages --------------------------------------------------------------------------- */

/* Unix seconds as "YYYY-MM-DDTHH:MM:SSZ". */
static void rfc3339(int64_t t, char out[RFC3339_LEN + 1])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(out, RFC3339_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, RFC3339_LEN + 1, "1970-01-01T00:00:00Z");
}

/* The payload {"type":…,"timestamp":…,"data":…} into out (OUTBOUND_MAX_PAYLOAD). */
static enum err payload_build(struct str event_type, struct str data_json, int64_t now,
                              struct buf *out)
{
    enum err e = event_type_check(event_type);
    if (e)
        return e;
    if (data_json.len > OUTBOUND_MAX_DATA)
        return ERR_LIMIT;
    if (!data_json.ptr || !data_json.len)
        return ERR_INVALID;
    /* one JSON value: what receivers parse must parse */
    static const struct json_limits lim = {.max_bytes = OUTBOUND_MAX_DATA,
                                           .max_depth = 64,
                                           .max_string = OUTBOUND_MAX_DATA,
                                           .max_members = 100000};
    struct json *doc = NULL;
    struct json_error je;
    e = json_parse(data_json.ptr, data_json.len, &lim, &doc, &je);
    json_free(doc);
    if (e)
        return ERR_INVALID;
    char ts[RFC3339_LEN + 1];
    rfc3339(now, ts);
    e = buf_puts(out, "{\"type\":");
    if (!e)
        e = json_escape_to(out, event_type);
    if (!e)
        e = buf_printf(out, ",\"timestamp\":\"%s\",\"data\":", ts);
    if (!e)
        e = buf_append(out, data_json.ptr, data_json.len);
    if (!e)
        e = buf_putc(out, '}');
    return e;
}

/* Inserts a pending message of payload for endpoint_id and queues its job. */
static enum err message_insert(struct tx *tx, const char *endpoint_id, struct str event_type,
                               const struct buf *payload, int64_t now,
                               char msg_id[OUTBOUND_MSG_ID_LEN + 1])
{
    enum err e = new_msg_id(msg_id);
    if (!e)
        e = tx_exec_args(
            tx,
            "INSERT INTO outbound_messages (tenant_id, id, endpoint_id, event_type,"
            " payload, status, attempts, created_at)"
            " VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6)",
            STORAGE_ARGS(STORAGE_CSTR(msg_id), STORAGE_CSTR(endpoint_id), STORAGE_TEXT(event_type),
                         STORAGE_BLOB(str_from(payload->data, payload->len)), STORAGE_INT(now)),
            NULL);
    if (!e)
        e = jobs_enqueue(tx, OUTBOUND_JOB_KIND, msg_id, now, NULL);
    return e;
}

enum err outbound_enqueue(struct tx *tx, struct str event_type, struct str data_json, int64_t now)
{
    struct buf payload = BUF_INIT(OUTBOUND_MAX_PAYLOAD);
    enum err e = payload_build(event_type, data_json, now, &payload);
    char ids[OUTBOUND_MAX_PER_TENANT][OUTBOUND_ID_LEN + 1];
    size_t n = 0;
    if (!e) {
        struct stmt *st = NULL;
        bool row = false;
        e = tx_query(tx,
                     "SELECT id FROM outbound_endpoints WHERE tenant_id = $1"
                     " AND disabled_at IS NULL ORDER BY created_at, id LIMIT $2",
                     STORAGE_ARGS(STORAGE_INT(OUTBOUND_MAX_PER_TENANT)), &st, &row);
        while (!e && row && n < OUTBOUND_MAX_PER_TENANT) {
            col_copy(st, 0, ids[n++], OUTBOUND_ID_LEN + 1);
            e = stmt_step(st, &row);
        }
        if (st)
            stmt_finish(st);
    }
    for (size_t i = 0; !e && i < n; i++) {
        char msg_id[OUTBOUND_MSG_ID_LEN + 1];
        e = message_insert(tx, ids[i], event_type, &payload, now, msg_id);
    }
    buf_release(&payload);
    return e;
}

enum err outbound_send_test(struct storage *db, const struct tenant_ctx *t, struct str id,
                            int64_t now, char msg_id_out[OUTBOUND_MSG_ID_LEN + 1])
{
    char scratch[OUTBOUND_MSG_ID_LEN + 1];
    char *msg_id = msg_id_out ? msg_id_out : scratch;
    msg_id[0] = '\0';
    if (!id_ok(id))
        return ERR_NOT_FOUND;
    struct outbound_endpoint ep;
    char data[64];
    snprintf(data, sizeof data, "{\"endpoint_id\":\"%.*s\"}", (int)id.len, id.ptr);
    struct buf payload = BUF_INIT(OUTBOUND_MAX_PAYLOAD);
    enum err e = payload_build(STR_LIT(OUTBOUND_TEST_EVENT), str_from_cstr(data), now, &payload);
    struct tx *tx = NULL;
    if (!e)
        e = storage_begin(db, t, TX_WRITE, &tx);
    if (!e) {
        e = read_one(tx, id, &ep);
        if (!e && ep.disabled_at)
            e = ERR_CONFLICT;
        if (!e)
            e = message_insert(tx, ep.id, STR_LIT(OUTBOUND_TEST_EVENT), &payload, now, msg_id);
        e = finish(tx, e);
    }
    buf_release(&payload);
    if (e)
        msg_id[0] = '\0';
    return e;
}

/* ---- the log ------------------------------------------------------------------------------ */

static enum err read_tries(struct tx *tx, struct outbound_message *m)
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(
        tx,
        "SELECT attempt, at, outcome, http_status, error, latency_ms"
        " FROM outbound_attempts WHERE tenant_id = $1 AND message_id = $2"
        " ORDER BY attempt LIMIT $3",
        STORAGE_ARGS(STORAGE_CSTR(m->id), STORAGE_INT(OUTBOUND_MAX_ATTEMPTS_SHOWN)), &st, &row);
    while (!e && row && m->n_tries < OUTBOUND_MAX_ATTEMPTS_SHOWN) {
        struct outbound_attempt *a = &m->tries[m->n_tries++];
        a->attempt = (int)stmt_col_int(st, 0);
        a->at = stmt_col_int(st, 1);
        a->delivered = str_eq_cstr(stmt_col_text(st, 2), "delivered");
        a->http_status = (long)col_int0(st, 3);
        col_copy(st, 4, a->error, sizeof a->error);
        a->latency_ms = col_int0(st, 5);
        e = stmt_step(st, &row);
    }
    if (st)
        stmt_finish(st);
    return e;
}

enum err outbound_log(struct storage *db, const struct tenant_ctx *t, struct str id,
                      struct str before, struct outbound_message *out, size_t *n)
{
    *n = 0;
    if (!id_ok(id))
        return ERR_NOT_FOUND;
    if (before.ptr && !msg_id_ok(before))
        return ERR_INVALID;
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_READ, &tx);
    if (e)
        return e;
    e = read_one(tx, id, NULL);
    struct stmt *st = NULL;
    bool row = false;
    if (!e)
        e = tx_query(tx,
                     "SELECT id, endpoint_id, event_type, status, attempts, last_status,"
                     " last_error, next_attempt_at, created_at, delivered_at, length(payload)"
                     " FROM outbound_messages WHERE tenant_id = $1 AND endpoint_id = $2"
                     " AND (CAST($3 AS text) = '' OR id < CAST($3 AS text))"
                     " ORDER BY id DESC LIMIT $4",
                     STORAGE_ARGS(STORAGE_TEXT(id), STORAGE_TEXT(before.ptr ? before : STR_LIT("")),
                                  STORAGE_INT(OUTBOUND_LOG_PAGE)),
                     &st, &row);
    while (!e && row && *n < OUTBOUND_LOG_PAGE) {
        struct outbound_message *m = &out[(*n)++];
        memset(m, 0, sizeof *m);
        col_copy(st, 0, m->id, sizeof m->id);
        col_copy(st, 1, m->endpoint_id, sizeof m->endpoint_id);
        col_copy(st, 2, m->event_type, sizeof m->event_type);
        m->status = status_parse(stmt_col_text(st, 3));
        m->attempts = (int)col_int0(st, 4);
        m->last_status = (long)col_int0(st, 5);
        col_copy(st, 6, m->last_error, sizeof m->last_error);
        m->next_attempt_at = col_int0(st, 7);
        m->created_at = col_int0(st, 8);
        m->delivered_at = col_int0(st, 9);
        m->payload_len = (size_t)col_int0(st, 10);
        e = stmt_step(st, &row);
    }
    if (st)
        stmt_finish(st);
    for (size_t i = 0; !e && i < *n; i++)
        e = read_tries(tx, &out[i]);
    storage_rollback(tx);
    if (e)
        *n = 0;
    return e;
}

enum err outbound_payload(struct storage *db, const struct tenant_ctx *t, struct str msg_id,
                          struct buf *out)
{
    if (!msg_id_ok(msg_id))
        return ERR_NOT_FOUND;
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_READ, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx, "SELECT payload FROM outbound_messages WHERE tenant_id = $1 AND id = $2",
                 STORAGE_ARGS(STORAGE_TEXT(msg_id)), &st, &row);
    if (!e && !row)
        e = ERR_NOT_FOUND;
    if (!e) {
        struct str p = stmt_col_blob(st, 0);
        e = buf_append(out, p.ptr, p.len);
    }
    if (st)
        stmt_finish(st);
    storage_rollback(tx);
    return e;
}

/* ---- delivery ----------------------------------------------------------------------------- */

/* What prepare hands to apply: the outcome of a delivered attempt. */
struct delivery {
    bool skip; /* nothing to record: the message is gone or already settled */
    long http_status;
    int64_t latency_ms;
};

/* What prepare reads of a message and its endpoint. */
struct msg_row {
    bool found, settled, disabled;
    char endpoint_id[OUTBOUND_ID_LEN + 1];
    char url[OUTBOUND_MAX_URL + 1];
    struct buf payload; /* OUTBOUND_MAX_PAYLOAD */
    struct buf env;     /* SECRETS_MAX_ENVELOPE */
};

static enum err msg_read(struct storage *s, const struct jobs_job *job, struct msg_row *m)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(s, &job->tenant, TX_READ, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx,
                 "SELECT m.endpoint_id, m.status, m.payload, e.url, e.secret_env, e.disabled_at"
                 " FROM outbound_messages m JOIN outbound_endpoints e"
                 " ON e.tenant_id = m.tenant_id AND e.id = m.endpoint_id"
                 " WHERE m.tenant_id = $1 AND m.id = $2",
                 STORAGE_ARGS(STORAGE_CSTR(job->ref)), &st, &row);
    if (!e && row) {
        m->found = true;
        col_copy(st, 0, m->endpoint_id, sizeof m->endpoint_id);
        struct str status = stmt_col_text(st, 1);
        m->settled = str_eq_cstr(status, "delivered") || str_eq_cstr(status, "dead");
        struct str p = stmt_col_blob(st, 2);
        e = buf_append(&m->payload, p.ptr, p.len);
        col_copy(st, 3, m->url, sizeof m->url);
        if (!e) {
            struct str env = stmt_col_blob(st, 4);
            e = buf_append(&m->env, env.ptr, env.len);
        }
        m->disabled = !stmt_col_is_null(st, 5);
    }
    if (st)
        stmt_finish(st);
    storage_rollback(tx);
    return e;
}

/* Unseals the endpoint's secret, signs, and wipes the secret: only the signature leaves. */
static enum err sign_attempt(struct secrets *sec, const struct jobs_job *job,
                             const struct msg_row *m, int64_t ts,
                             char sig[OUTBOUND_SIGNATURE_LEN + 1])
{
    struct buf secret = BUF_INIT_SECRET(SECRETS_MAX_VALUE);
    enum err e = secrets_unseal(sec, &job->tenant, STR_LIT(OUTBOUND_PURPOSE_SECRET),
                                str_from_cstr(m->endpoint_id), m->env.data, m->env.len, &secret);
    if (!e)
        e = outbound_sign(str_from(secret.data, secret.len), str_from_cstr(job->ref), ts,
                          str_from(m->payload.data, m->payload.len), sig);
    buf_wipe(&secret);
    buf_release(&secret);
    return e;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Whether this runner thread may still send for the claim job belongs to: the jobs of
 * one claim share the runner's clock (job->now) and tenant, so a change of either starts
 * a new budget (OUTBOUND_BATCH_BUDGET_MS).
 */
static bool within_batch_budget(const struct outbound_runtime *rt, const struct jobs_job *job)
{
    static _Thread_local int64_t claim_now = -1, started_ms;
    static _Thread_local char claim_tenant[STORAGE_TENANT_ID_LEN + 1];
    int64_t now_ms = mono_ms();
    if (job->now != claim_now || strcmp(job->tenant.id, claim_tenant) != 0) {
        claim_now = job->now;
        snprintf(claim_tenant, sizeof claim_tenant, "%s", job->tenant.id);
        started_ms = now_ms;
    }
    long budget = rt->batch_budget_ms > 0 ? rt->batch_budget_ms : OUTBOUND_BATCH_BUDGET_MS;
    return now_ms - started_ms < budget;
}

static enum err deliver_prepare(void *arg, struct storage *s, const struct jobs_job *job,
                                struct jobs_prepared *out, char *why, size_t why_cap)
{
    const struct outbound_runtime *rt = arg;
    if (!rt || !rt->secrets) {
        snprintf(why, why_cap, "outbound delivery is not configured");
        return ERR_UNAVAILABLE;
    }
    struct delivery *d = calloc(1, sizeof *d);
    if (!d)
        err_oom();
    struct msg_row m = {.payload = BUF_INIT(OUTBOUND_MAX_PAYLOAD),
                        .env = BUF_INIT(SECRETS_MAX_ENVELOPE)};
    struct arena *a = NULL;
    enum err e = msg_read(s, job, &m);
    if (e) {
        snprintf(why, why_cap, "cannot read the message");
        goto out;
    }
    if (!m.found || m.settled) {
        d->skip = true; /* deleted with its endpoint, or recorded by an earlier attempt */
        goto out;
    }
    if (m.disabled) {
        snprintf(why, why_cap, "endpoint disabled");
        e = ERR_UNPROCESSABLE;
        goto out;
    }
    if (!within_batch_budget(rt, job)) {
        snprintf(why, why_cap, "postponed: this round's deliveries ran long");
        e = ERR_TIMEOUT;
        goto out;
    }
    char sig[OUTBOUND_SIGNATURE_LEN + 1];
    int64_t ts = job->now;
    e = sign_attempt(rt->secrets, job, &m, ts, sig);
    if (e) {
        snprintf(why, why_cap, "the signing secret cannot be read");
        goto out;
    }
    char h_id[sizeof "webhook-id: " + JOBS_MAX_REF], h_ts[48], h_sig[80];
    snprintf(h_id, sizeof h_id, "webhook-id: %s", job->ref);
    snprintf(h_ts, sizeof h_ts, "webhook-timestamp: %lld", (long long)ts);
    snprintf(h_sig, sizeof h_sig, "webhook-signature: %s", sig);
    const char *headers[] = {"Content-Type: application/json",
                             "User-Agent: shiplog-webhooks/1",
                             h_id,
                             h_ts,
                             h_sig,
                             NULL};
    struct httpc_request r = {
        .method = "POST",
        .url = str_from_cstr(m.url),
        .headers = headers,
        .body = str_from(m.payload.data, m.payload.len),
        .timeout_ms = rt->timeout_ms > 0 ? rt->timeout_ms : OUTBOUND_TIMEOUT_MS,
        .max_response = OUTBOUND_MAX_RESPONSE,
        .policy = &rt->policy,
    };
    struct httpc_response resp;
    char hwhy[128];
    a = arena_new(RESPONSE_ARENA);
    e = httpc_send(&r, a, &resp, hwhy, sizeof hwhy);
    d->latency_ms = resp.latency_ms;
    d->http_status = resp.status;
    /* a receiver's long answer does not undo its 2xx: the body is not read anyway */
    if ((e == ERR_OK || e == ERR_LIMIT) && resp.status >= 200 && resp.status <= 299) {
        e = ERR_OK;
    } else if (e == ERR_OK || e == ERR_LIMIT) {
        snprintf(why, why_cap, "HTTP %ld", resp.status);
        e = ERR_UNAVAILABLE;
    } else {
        snprintf(why, why_cap, "%s", hwhy);
        /* the target is not allowed (or the stored URL no longer passes): retrying cannot help */
        if (e == ERR_FORBIDDEN || e == ERR_INVALID)
            e = ERR_UNPROCESSABLE;
    }
out:
    arena_free(a);
    buf_release(&m.payload);
    buf_release(&m.env);
    if (e) {
        free(d);
        return e;
    }
    out->work = d;
    out->bytes = sizeof *d;
    return ERR_OK;
}

static enum err attempt_insert(struct tx *tx, const struct jobs_job *job, bool delivered,
                               long http_status, const char *error, int64_t latency_ms)
{
    return tx_exec_args(
        tx,
        "INSERT INTO outbound_attempts (tenant_id, message_id, attempt, at, outcome,"
        " http_status, error, latency_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (tenant_id, message_id, attempt) DO NOTHING",
        STORAGE_ARGS(STORAGE_CSTR(job->ref), STORAGE_INT(job->attempt), STORAGE_INT(job->now),
                     STORAGE_CSTR(delivered ? "delivered" : "failed"),
                     http_status ? STORAGE_INT(http_status) : STORAGE_NULL,
                     error ? STORAGE_CSTR(error) : STORAGE_NULL, STORAGE_INT(latency_ms)),
        NULL);
}

static enum err deliver_apply(void *arg, struct tx *tx, const struct jobs_job *job, void *work,
                              char *why, size_t why_cap)
{
    (void)arg;
    const struct delivery *d = work;
    if (d->skip)
        return ERR_OK;
    uint64_t changed = 0;
    enum err e = tx_exec_args(tx,
                              "UPDATE outbound_messages SET status = 'delivered', attempts = $3,"
                              " last_status = $4, last_error = NULL, next_attempt_at = NULL,"
                              " delivered_at = $5 WHERE tenant_id = $1 AND id = $2",
                              STORAGE_ARGS(STORAGE_CSTR(job->ref), STORAGE_INT(job->attempt),
                                           STORAGE_INT(d->http_status), STORAGE_INT(job->now)),
                              &changed);
    if (!e && changed)
        e = attempt_insert(tx, job, true, d->http_status, NULL, d->latency_ms);
    if (e)
        snprintf(why, why_cap, "cannot record the delivery");
    return e;
}

/* The wait after the n-th failed attempt, as the job queue computes it (jobs.h). */
static int64_t backoff_s(int attempt)
{
    int64_t w = JOBS_BACKOFF_BASE_S;
    for (int i = 1; i < attempt && w < JOBS_BACKOFF_MAX_S; i++)
        w *= 2;
    return w < JOBS_BACKOFF_MAX_S ? w : JOBS_BACKOFF_MAX_S;
}

static enum err deliver_fail(void *arg, struct tx *tx, const struct jobs_job *job, enum err cause,
                             bool dead, const char *why)
{
    (void)arg;
    (void)cause;
    char error[OUTBOUND_MAX_ERROR + 1];
    snprintf(error, sizeof error, "%s", why && why[0] ? why : "failed");
    for (char *p = error; *p; p++) /* shown to people: printable ASCII */
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    long http_status = 0;
    if (strncmp(error, "HTTP ", 5) == 0)
        http_status = strtol(error + 5, NULL, 10);
    int64_t next = dead ? 0 : job->now + backoff_s(job->attempt);
    uint64_t changed = 0;
    /* a settled message stays settled (a late failure of a re-run changes nothing) */
    enum err e =
        tx_exec_args(tx,
                     "UPDATE outbound_messages SET status = $3, attempts = $4, last_status = $5,"
                     " last_error = $6, next_attempt_at = $7"
                     " WHERE tenant_id = $1 AND id = $2 AND status IN ('pending', 'failed')",
                     STORAGE_ARGS(STORAGE_CSTR(job->ref), STORAGE_CSTR(dead ? "dead" : "failed"),
                                  STORAGE_INT(job->attempt),
                                  http_status ? STORAGE_INT(http_status) : STORAGE_NULL,
                                  STORAGE_CSTR(error), dead ? STORAGE_NULL : STORAGE_INT(next)),
                     &changed);
    if (!e && changed)
        e = attempt_insert(tx, job, false, http_status, error, 0);
    return e;
}

static void deliver_release(void *arg, void *work)
{
    (void)arg;
    free(work);
}

const struct jobs_handler outbound_job_deliver = {
    .kind = OUTBOUND_JOB_KIND,
    .prepare = deliver_prepare,
    .apply = deliver_apply,
    .release = deliver_release,
    .fail = deliver_fail,
};
