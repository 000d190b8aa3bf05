/*
 * audit — appending to the per-tenant hash chain, and the canonical encoding
 * (L1, L2; docs/AUDIT.md).
 *
 * An append reads the chain head (PostgreSQL: locks its row; SQLite: the write
 * transaction is already exclusive), computes the next entry's hash over the
 * previous hash and the canonical encoding, inserts the entry and advances the
 * head, all in the caller's transaction: if the caller rolls back, the entry
 * and the head roll back with it. The (tenant_id, seq) primary key is a second
 * guard: two appenders that somehow read the same head cannot both commit.
 *
 * Details are redacted with the logger's rules before anything is hashed, so
 * a secret never reaches the row (or the hash, which could otherwise confirm
 * a guess).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit_internal.h"
#include "core/json.h"

#define AUDIT_TAG "shiplog-audit-v1\n"

static const char ZERO_HASH_HEX[AUDIT_HASH_HEX_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* ---- names and validation -------------------------------------------------- */

const char *audit_actor_name(enum audit_actor a)
{
    switch (a) {
    case AUDIT_ACTOR_SYSTEM:
        return "system";
    case AUDIT_ACTOR_OPERATOR:
        return "operator";
    case AUDIT_ACTOR_USER:
        return "user";
    case AUDIT_ACTOR_API_KEY:
        return "api_key";
    case AUDIT_ACTOR_PROVIDER:
        return "provider";
    case AUDIT_ACTOR_ANONYMOUS:
        return "anonymous";
    }
    return NULL;
}

const char *audit_outcome_name(enum audit_outcome o)
{
    switch (o) {
    case AUDIT_SUCCESS:
        return "success";
    case AUDIT_FAILURE:
        return "failure";
    case AUDIT_DENIED:
        return "denied";
    }
    return NULL;
}

bool audit_action_valid(struct str action)
{
    if (action.len == 0 || action.len > AUDIT_MAX_ACTION)
        return false;
    for (size_t i = 0; i < action.len; i++) {
        char c = action.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/*
 * An optional text field: at most max bytes of valid UTF-8 without control
 * characters (they would only serve to forge lines in a terminal or a log).
 */
static bool field_valid(const char *s, size_t max, struct str *out)
{
    *out = s ? str_from_cstr(s) : STR_LIT("");
    if (out->len > max)
        return false;
    for (size_t i = 0; i < out->len; i++) {
        unsigned char c = (unsigned char)out->ptr[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return json_utf8_valid(*out, NULL);
}

static bool detail_key_valid(const char *k)
{
    size_t n = k ? strnlen(k, AUDIT_MAX_DETAIL_KEY + 1) : 0;
    if (n == 0 || n > AUDIT_MAX_DETAIL_KEY)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* ---- details ---------------------------------------------------------------- */

static int field_cmp(const void *a, const void *b)
{
    const struct log_field *x = *(const struct log_field *const *)a;
    const struct log_field *y = *(const struct log_field *const *)b;
    return strcmp(x->key, y->key); /* compares as unsigned char: bytewise order */
}

enum err audit_details_json(const struct log_field *details, struct buf *out)
{
    const struct log_field *sorted[AUDIT_MAX_DETAIL_FIELDS];
    size_t n = 0;
    for (const struct log_field *f = details; f && f->key; f++) {
        if (n == AUDIT_MAX_DETAIL_FIELDS || !detail_key_valid(f->key))
            return ERR_INVALID;
        if (f->type != LOG_T_STR && f->type != LOG_T_INT && f->type != LOG_T_BOOL)
            return ERR_INVALID;
        sorted[n++] = f;
    }
    qsort(sorted, n, sizeof sorted[0], field_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0)
            return ERR_INVALID;

    size_t start = out->len;
    struct buf tmp = BUF_INIT(AUDIT_MAX_DETAILS);
    struct buf json = BUF_INIT(AUDIT_MAX_DETAILS);
    struct jw w;
    jw_init(&w, &json);
    jw_object_begin(&w);
    enum err e = ERR_OK;
    for (size_t i = 0; i < n && !e; i++) {
        const struct log_field *f = sorted[i];
        if (log_key_is_sensitive(f->key))
            continue; /* dropped, as the logger does */
        jw_key(&w, f->key);
        switch (f->type) {
        case LOG_T_STR:
            if (!f->v.s) {
                jw_string(&w, STR_LIT(""));
                break;
            }
            buf_reset(&tmp);
            e = log_mask_value(&tmp, f->v.s, strlen(f->v.s));
            if (e)
                break;
            jw_string(&w, str_from(buf_cstr(&tmp), tmp.len));
            break;
        case LOG_T_INT:
            jw_int(&w, f->v.i);
            break;
        case LOG_T_BOOL:
            jw_bool(&w, f->v.b);
            break;
        }
    }
    jw_object_end(&w);
    if (!e)
        e = jw_finish(&w);
    if (!e)
        e = buf_append(out, buf_cstr(&json), json.len);
    if (e) {
        out->len = start; /* leave out as it was */
        if (out->data)
            out->data[start] = '\0';
    }
    buf_wipe(&tmp);
    buf_wipe(&json);
    return e;
}

/* ---- canonical encoding and hashes ------------------------------------------ */

/* Decimal digits of v, right-aligned in end[-20..0); returns where they start. */
static char *put_decimal(char *end, uint64_t v)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

static enum err put_field(struct buf *out, const char *p, size_t len)
{
    char num[24];
    num[23] = ':';
    char *start = put_decimal(num + 23, len); /* verification runs this a million times */
    enum err e = buf_append(out, start, (size_t)(num + 24 - start));
    if (!e && len)
        e = buf_append(out, p, len);
    if (!e)
        e = buf_putc(out, '\n');
    return e;
}

enum err audit_canonical(const struct audit_entry *e, struct buf *out)
{
    char seq[24];
    bool neg = e->seq < 0;
    char *start = put_decimal(seq + sizeof seq, neg ? 0 - (uint64_t)e->seq : (uint64_t)e->seq);
    if (neg)
        *--start = '-';
    size_t n = (size_t)(seq + sizeof seq - start);
    const struct str fields[] = {
        e->tenant_id,  str_from(start, n), e->at,     e->actor_type, e->actor_id, e->client_ip,
        e->request_id, e->action,          e->target, e->outcome,    e->details,
    };
    enum err r = buf_append(out, AUDIT_TAG, sizeof AUDIT_TAG - 1);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0] && !r; i++)
        r = put_field(out, fields[i].ptr, fields[i].len);
    return r;
}

enum err audit_entry_hash(const unsigned char prev[SHA256_LEN], const struct audit_entry *e,
                          struct buf *canon, unsigned char out[SHA256_LEN])
{
    buf_reset(canon);
    enum err r = buf_append(canon, prev, SHA256_LEN);
    if (!r)
        r = audit_canonical(e, canon);
    if (r)
        return r;
    sha256(canon->data, canon->len, out);
    return ERR_OK;
}

enum err audit_entry_hash_ctx(const unsigned char prev[SHA256_LEN], const struct audit_entry *e,
                              struct buf *canon, struct sha256_ctx *ctx,
                              unsigned char out[SHA256_LEN])
{
    buf_reset(canon);
    enum err r = audit_canonical(e, canon);
    if (r)
        return r;
    sha256_begin(ctx);
    sha256_update(ctx, prev, SHA256_LEN);
    sha256_update(ctx, canon->data, canon->len);
    sha256_end(ctx, out);
    return ERR_OK;
}

void audit_hex(const unsigned char *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void audit_hash_hex(const unsigned char h[SHA256_LEN], char out[AUDIT_HASH_HEX_LEN + 1])
{
    audit_hex(h, SHA256_LEN, out);
}

bool audit_hex_decode(struct str hex, unsigned char *out, size_t n)
{
    if (hex.len != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = str_hex_digit(hex.ptr[2 * i]);
        int lo = str_hex_digit(hex.ptr[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

void audit_now(char out[AUDIT_TIME_LEN + 1])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char tmp[96]; /* room for any int the compiler imagines */
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    memcpy(out, tmp, AUDIT_TIME_LEN);
    out[AUDIT_TIME_LEN] = '\0';
}

/* ---- tenants awaiting a checkpoint ------------------------------------------ */

static pthread_mutex_t dirty_mu = PTHREAD_MUTEX_INITIALIZER;
static char dirty_ids[AUDIT_MAX_DIRTY_TENANTS][STORAGE_TENANT_ID_LEN + 1];
static size_t dirty_n;
static bool dirty_warned; /* one warning per overflow episode */

void audit_dirty_mark(const char *tenant_id)
{
    pthread_mutex_lock(&dirty_mu);
    bool found = false;
    for (size_t i = 0; i < dirty_n && !found; i++)
        found = memcmp(dirty_ids[i], tenant_id, STORAGE_TENANT_ID_LEN) == 0;
    bool warn = false;
    if (!found) {
        if (dirty_n < AUDIT_MAX_DIRTY_TENANTS) {
            memcpy(dirty_ids[dirty_n], tenant_id, STORAGE_TENANT_ID_LEN);
            dirty_ids[dirty_n][STORAGE_TENANT_ID_LEN] = '\0';
            dirty_n++;
        } else if (!dirty_warned) {
            dirty_warned = warn = true;
        }
    }
    pthread_mutex_unlock(&dirty_mu);
    if (warn)
        log_warn("audit: too many tenants awaiting a checkpoint; some wait for the next round",
                 LOG_INT("limit", AUDIT_MAX_DIRTY_TENANTS));
}

size_t audit_dirty_take(char (*ids)[STORAGE_TENANT_ID_LEN + 1], size_t cap)
{
    pthread_mutex_lock(&dirty_mu);
    size_t n = dirty_n < cap ? dirty_n : cap;
    memcpy(ids, dirty_ids, n * sizeof dirty_ids[0]);
    memmove(dirty_ids, dirty_ids + n, (dirty_n - n) * sizeof dirty_ids[0]);
    dirty_n -= n;
    if (dirty_n == 0)
        dirty_warned = false;
    pthread_mutex_unlock(&dirty_mu);
    return n;
}

/* ---- append ----------------------------------------------------------------- */

/*
 * Reads (and on PostgreSQL locks) the head: the tenant id as the database
 * spells it, the last seq and its hash.
 */
static enum err head_lock(struct tx *tx, char tenant[STORAGE_TENANT_ID_LEN + 1], int64_t *seq,
                          unsigned char hash[SHA256_LEN])
{
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    struct stmt *st = NULL;
    bool row = false;
    enum err e;
    if (pg) {
        /* make sure there is a row to lock, so that the first appends queue too */
        e = tx_prepare(tx,
                       "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) "
                       "ON CONFLICT (tenant_id) DO NOTHING",
                       &st);
        if (!e)
            e = stmt_bind_text(st, 2, str_from(ZERO_HASH_HEX, AUDIT_HASH_HEX_LEN));
        if (!e)
            e = stmt_step(st, &row);
        stmt_finish(st);
        if (e)
            return e;
        e = tx_prepare(tx,
                       "SELECT tenant_id::text, seq, hash FROM audit_heads WHERE tenant_id = $1 "
                       "FOR UPDATE",
                       &st);
    } else {
        e = tx_prepare(tx, "SELECT tenant_id, seq, hash FROM audit_heads WHERE tenant_id = $1",
                       &st);
    }
    if (e)
        return e;
    e = stmt_step(st, &row);
    if (!e && row) {
        struct str id = stmt_col_text(st, 0);
        *seq = stmt_col_int(st, 1);
        if (id.len != STORAGE_TENANT_ID_LEN || *seq < 0 ||
            !audit_hex_decode(stmt_col_text(st, 2), hash, SHA256_LEN)) {
            /* tenant is not filled yet; the row's id is the transaction's ($1) */
            char who[STORAGE_TENANT_ID_LEN + 1];
            snprintf(who, sizeof who, "%.*s", (int)(id.len < sizeof who ? id.len : sizeof who - 1),
                     id.ptr ? id.ptr : "");
            log_error("audit: malformed chain head", LOG_STR("tenant", who));
            e = ERR_INTERNAL;
        } else {
            memcpy(tenant, id.ptr, STORAGE_TENANT_ID_LEN);
            tenant[STORAGE_TENANT_ID_LEN] = '\0';
        }
    }
    stmt_finish(st);
    if (e || row)
        return e;
    /* SQLite, first append of this tenant: genesis */
    *seq = 0;
    memset(hash, 0, SHA256_LEN);
    e = tx_prepare(tx, "SELECT CAST($1 AS TEXT)", &st);
    if (!e)
        e = stmt_step(st, &row);
    if (!e) {
        struct str id = row ? stmt_col_text(st, 0) : STR_NULL;
        if (id.len != STORAGE_TENANT_ID_LEN) {
            e = ERR_INTERNAL;
        } else {
            memcpy(tenant, id.ptr, STORAGE_TENANT_ID_LEN);
            tenant[STORAGE_TENANT_ID_LEN] = '\0';
        }
    }
    stmt_finish(st);
    return e;
}

static enum err insert_entry(struct tx *tx, const struct audit_entry *en)
{
    struct stmt *st = NULL;
    enum err e = tx_prepare(
        tx,
        "INSERT INTO audit_log (tenant_id, seq, at, actor_type, actor_id, client_ip, request_id, "
        "action, target, outcome, details, prev_hash, hash) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &st);
    if (e)
        return e;
    const struct str text[] = {en->at,         en->actor_type, en->actor_id, en->client_ip,
                               en->request_id, en->action,     en->target,   en->outcome,
                               en->details,    en->prev_hash,  en->hash};
    e = stmt_bind_int(st, 2, en->seq);
    for (size_t i = 0; i < sizeof text / sizeof text[0] && !e; i++)
        e = stmt_bind_text(st, (int)i + 3, text[i]);
    bool row = false;
    if (!e)
        e = stmt_step(st, &row);
    stmt_finish(st);
    return e;
}

static enum err head_advance(struct tx *tx, int64_t seq, struct str hash_hex)
{
    struct stmt *st = NULL;
    enum err e;
    if (storage_tx_backend(tx) == STORAGE_POSTGRES)
        e = tx_prepare(tx, "UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1", &st);
    else
        e = tx_prepare(tx,
                       "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, $2, $3) "
                       "ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, "
                       "hash = excluded.hash",
                       &st);
    if (e)
        return e;
    e = stmt_bind_int(st, 2, seq);
    if (!e)
        e = stmt_bind_text(st, 3, hash_hex);
    bool row = false;
    if (!e)
        e = stmt_step(st, &row);
    if (!e && stmt_changes(st) != 1)
        e = ERR_INTERNAL;
    stmt_finish(st);
    return e;
}

enum err audit_append(struct tx *tx, const struct audit_event *ev, struct audit_ref *out)
{
    if (!tx || !ev || !ev->action)
        return ERR_INVALID;
    const char *actor = audit_actor_name(ev->actor);
    const char *outcome = audit_outcome_name(ev->outcome);
    struct audit_entry en = {0};
    en.action = str_from_cstr(ev->action);
    if (!actor || !outcome || !audit_action_valid(en.action) ||
        !field_valid(ev->actor_id, AUDIT_MAX_ACTOR, &en.actor_id) ||
        !field_valid(ev->target, AUDIT_MAX_TARGET, &en.target) ||
        !field_valid(ev->client_ip, AUDIT_MAX_CLIENT_IP, &en.client_ip) ||
        !field_valid(ev->request_id, AUDIT_MAX_REQUEST_ID, &en.request_id))
        return ERR_INVALID;
    en.actor_type = str_from_cstr(actor);
    en.outcome = str_from_cstr(outcome);

    struct buf details = BUF_INIT(AUDIT_MAX_DETAILS);
    struct buf canon = BUF_INIT(SHA256_LEN + AUDIT_MAX_DETAILS + 2048);
    enum err e = audit_details_json(ev->details, &details);
    if (e)
        goto done;
    en.details = str_from(buf_cstr(&details), details.len);

    char at[AUDIT_TIME_LEN + 1];
    audit_now(at);
    en.at = str_from(at, AUDIT_TIME_LEN);

    char tenant[STORAGE_TENANT_ID_LEN + 1];
    unsigned char prev[SHA256_LEN], hash[SHA256_LEN];
    int64_t head = 0;
    e = head_lock(tx, tenant, &head, prev);
    if (e)
        goto done;
    en.tenant_id = str_from(tenant, STORAGE_TENANT_ID_LEN);
    en.seq = head + 1;
    e = audit_entry_hash(prev, &en, &canon, hash);
    if (e)
        goto done;
    char prev_hex[AUDIT_HASH_HEX_LEN + 1], hash_hex[AUDIT_HASH_HEX_LEN + 1];
    audit_hash_hex(prev, prev_hex);
    audit_hash_hex(hash, hash_hex);
    en.prev_hash = str_from(prev_hex, AUDIT_HASH_HEX_LEN);
    en.hash = str_from(hash_hex, AUDIT_HASH_HEX_LEN);
    e = insert_entry(tx, &en);
    if (!e)
        e = head_advance(tx, en.seq, en.hash);
    if (e)
        goto done;
    audit_dirty_mark(tenant);
    if (out) {
        out->seq = en.seq;
        memcpy(out->hash, hash, SHA256_LEN);
    }
done:
    if (e && e != ERR_INVALID && e != ERR_LIMIT)
        log_error("audit: append failed", LOG_STR("action", ev->action), LOG_ERR(e));
    buf_wipe(&details);
    buf_wipe(&canon);
    return e;
}
