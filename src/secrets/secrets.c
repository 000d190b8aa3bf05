/*
 * secrets — envelope encryption of tenant secrets with per-tenant data keys
 * kept in a separate key vault; rotation and crypto-shredding. See secrets.h
 * for the API and docs/KEYS.md for the hierarchy.
 *
 * Design: nothing is cached. Every seal or unseal reads the tenant's wrapped
 * data key from the vault, derives the KEK from the master key, unwraps, derives
 * the purpose key, does its one AEAD operation and wipes every key on the way
 * out. That costs two HKDFs and two GCM operations per call — microseconds —
 * and means no data key survives in memory between calls, and shredding or
 * rotation is seen by every process at its next call.
 */
#include "secrets/secrets.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "crypto/kdf.h"
#include "crypto/rand.h"

#define DEK_AAD_LABEL   "shiplog/v1/dek"
#define FIELD_AAD_LABEL "shiplog/v1/field"
#define FIELD_INFO      "shiplog/v1/field/"
#define STORE_RECORD    "tenant_secrets/" /* record id prefix of the generic store */
#define WRAPPED_LEN     (ENVELOPE_OVERHEAD + SECRETS_DEK_LEN)
#define AAD_MAX                                                                                    \
    (sizeof(FIELD_AAD_LABEL) + 3 * 4 + STORAGE_TENANT_ID_LEN + SECRETS_MAX_PURPOSE +               \
     SECRETS_MAX_RECORD_ID)
#define RECORD_ID_MAX (sizeof(STORE_RECORD) + SECRETS_MAX_NAME)

struct secrets {
    struct storage *main_db;
    struct storage *vault;
    struct keyring ring; /* own copy, wiped on close */
};

/* One tenant_keys row, copied out of a statement. */
struct vault_row {
    char dek_id[SECRETS_DEK_ID_LEN + 1];
    char master_id[MASTER_KEY_ID_LEN + 1];
    unsigned char wrapped[WRAPPED_LEN];
    size_t wrapped_len;
};

static void wipe(void *p, size_t n)
{
    explicit_bzero(p, n);
}

/* ---- input checks ------------------------------------------------------- */

static bool purpose_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '/' || c == '-';
}

static enum err check_chars(struct str s, size_t max, bool (*ok)(char))
{
    if (!s.ptr || s.len == 0)
        return ERR_INVALID;
    if (s.len > max)
        return ERR_LIMIT;
    for (size_t i = 0; i < s.len; i++)
        if (!ok(s.ptr[i]))
            return ERR_INVALID;
    return ERR_OK;
}

enum err secrets_check_purpose(struct str purpose)
{
    return check_chars(purpose, SECRETS_MAX_PURPOSE, purpose_char);
}

enum err secrets_check_name(struct str name)
{
    return check_chars(name, SECRETS_MAX_NAME, name_char);
}

static enum err check_record_id(struct str id)
{
    if (!id.ptr || id.len == 0)
        return ERR_INVALID;
    if (id.len > SECRETS_MAX_RECORD_ID)
        return ERR_LIMIT;
    return memchr(id.ptr, '\0', id.len) ? ERR_INVALID : ERR_OK;
}

static enum err check_value(size_t len)
{
    if (len == 0)
        return ERR_INVALID;
    return len > SECRETS_MAX_VALUE ? ERR_LIMIT : ERR_OK;
}

void secrets_hint_of(struct str value, char hint_out[SECRETS_HINT_SIZE])
{
    hint_out[0] = '\0';
    if (!value.ptr || value.len < SECRETS_HINT_MIN_LEN || !str_is_printable_ascii(value))
        return;
    memcpy(hint_out, value.ptr + value.len - SECRETS_HINT_CHARS, SECRETS_HINT_CHARS);
    hint_out[SECRETS_HINT_CHARS] = '\0';
}

/* ---- AAD and derivations ------------------------------------------------ */

/* Appends a 4-byte big-endian length, then the bytes. */
static enum err aad_add(struct buf *aad, const void *p, size_t n)
{
    unsigned char lp[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                           (unsigned char)(n >> 8), (unsigned char)n};
    enum err e = buf_append(aad, lp, sizeof lp);
    return e ? e : buf_append(aad, p, n);
}

static enum err dek_aad(struct buf *aad, const struct tenant_ctx *t, const char *dek_id)
{
    enum err e = buf_puts(aad, DEK_AAD_LABEL);
    if (!e)
        e = aad_add(aad, t->id, STORAGE_TENANT_ID_LEN);
    if (!e)
        e = aad_add(aad, dek_id, SECRETS_DEK_ID_LEN);
    return e;
}

static enum err field_aad(struct buf *aad, const struct tenant_ctx *t, struct str purpose,
                          struct str record_id)
{
    enum err e = buf_puts(aad, FIELD_AAD_LABEL);
    if (!e)
        e = aad_add(aad, t->id, STORAGE_TENANT_ID_LEN);
    if (!e)
        e = aad_add(aad, purpose.ptr, purpose.len);
    if (!e)
        e = aad_add(aad, record_id.ptr, record_id.len);
    return e;
}

/* purpose key = HKDF-SHA256(ikm = DEK, salt = tenant id, info = "shiplog/v1/field/" purpose) */
static enum err purpose_key(const unsigned char dek[SECRETS_DEK_LEN], const struct tenant_ctx *t,
                            struct str purpose, unsigned char out[AEAD_KEY_LEN])
{
    char info[sizeof(FIELD_INFO) + SECRETS_MAX_PURPOSE];
    size_t n = sizeof(FIELD_INFO) - 1;
    ASSERT(purpose.len <= SECRETS_MAX_PURPOSE);
    memcpy(info, FIELD_INFO, n);
    memcpy(info + n, purpose.ptr, purpose.len);
    return hkdf_sha256(dek, SECRETS_DEK_LEN, t->id, STORAGE_TENANT_ID_LEN, info, n + purpose.len,
                       out, AEAD_KEY_LEN);
}

/* Wraps dek under master key mk into out (the vault's `wrapped` column). */
static enum err dek_wrap(const struct master_key *mk, const struct tenant_ctx *t,
                         const char *dek_id, const unsigned char dek[SECRETS_DEK_LEN],
                         struct buf *out)
{
    unsigned char kek[AEAD_KEY_LEN], kid[ENVELOPE_KEY_ID_LEN];
    struct buf aad = BUF_INIT(AAD_MAX);
    enum err e = keyring_kek(mk, kek);
    if (!e)
        e = dek_aad(&aad, t, dek_id);
    if (!e) {
        keyring_id_bytes(mk, kid);
        e = envelope_seal(kek, kid, aad.data, aad.len, dek, SECRETS_DEK_LEN, out);
    }
    wipe(kek, sizeof kek);
    buf_release(&aad);
    return e;
}

/*
 * Unwraps a vault row's data key with the ring key its master_key_id names.
 * ERR_CRYPTO when that key is not in the ring or anything does not verify.
 */
static enum err dek_unwrap(const struct secrets *s, const struct tenant_ctx *t,
                           const struct vault_row *r, unsigned char dek[SECRETS_DEK_LEN])
{
    const struct master_key *mk = keyring_find(&s->ring, r->master_id);
    if (!mk)
        return ERR_CRYPTO;
    struct envelope env;
    if (envelope_parse(r->wrapped, r->wrapped_len, &env) != ERR_OK)
        return ERR_CRYPTO;
    unsigned char kid[ENVELOPE_KEY_ID_LEN];
    keyring_id_bytes(mk, kid);
    if (memcmp(kid, env.key_id, sizeof kid) != 0)
        return ERR_CRYPTO;

    unsigned char kek[AEAD_KEY_LEN];
    struct buf aad = BUF_INIT(AAD_MAX);
    struct buf plain = BUF_INIT_SECRET(SECRETS_DEK_LEN);
    enum err e = keyring_kek(mk, kek);
    if (!e)
        e = dek_aad(&aad, t, r->dek_id);
    if (!e)
        e = envelope_open(kek, &env, aad.data, aad.len, &plain);
    if (!e && plain.len != SECRETS_DEK_LEN)
        e = ERR_CRYPTO;
    if (!e)
        memcpy(dek, plain.data, SECRETS_DEK_LEN);
    wipe(kek, sizeof kek);
    buf_wipe(&plain);
    buf_release(&aad);
    return e;
}

/* Makes b hold n bytes without reallocating later, so a secret written into
 * it is never left behind in a freed block. */
static enum err buf_presize(struct buf *b, size_t n)
{
    static const char zeros[256];
    while (b->len < n) {
        size_t k = n - b->len < sizeof zeros ? n - b->len : sizeof zeros;
        enum err e = buf_append(b, zeros, k);
        if (e)
            return e;
    }
    buf_reset(b);
    return ERR_OK;
}

/* ---- vault rows --------------------------------------------------------- */

static enum err copy_text(struct str v, char *out, size_t exact_len)
{
    if (v.len != exact_len || !v.ptr)
        return ERR_CRYPTO; /* a vault row we did not write */
    memcpy(out, v.ptr, v.len);
    out[v.len] = '\0';
    return ERR_OK;
}

/* Columns: dek_id, master_key_id, wrapped. */
static enum err vault_row_read(struct stmt *st, struct vault_row *r)
{
    enum err e = copy_text(stmt_col_text(st, 0), r->dek_id, SECRETS_DEK_ID_LEN);
    if (!e)
        e = copy_text(stmt_col_text(st, 1), r->master_id, MASTER_KEY_ID_LEN);
    if (e)
        return e;
    struct str w = stmt_col_blob(st, 2);
    r->wrapped_len = w.len <= sizeof r->wrapped ? w.len : 0;
    if (r->wrapped_len)
        memcpy(r->wrapped, w.ptr, w.len);
    return ERR_OK;
}

/*
 * Reads every data key row of tx's tenant (at most SECRETS_MAX_TENANT_KEYS)
 * into rows, newest first.
 */
static enum err vault_rows(struct tx *tx, struct vault_row *rows, size_t *n)
{
    struct stmt *st = NULL;
    enum err e = tx_prepare(tx,
                            "SELECT dek_id, master_key_id, wrapped FROM tenant_keys "
                            "WHERE tenant_id = $1 ORDER BY created_at DESC, dek_id DESC",
                            &st);
    *n = 0;
    bool row = false;
    while (!e && !(e = stmt_step(st, &row)) && row) {
        if (*n == SECRETS_MAX_TENANT_KEYS) {
            e = ERR_LIMIT;
            break;
        }
        e = vault_row_read(st, &rows[*n]);
        if (!e)
            (*n)++;
    }
    stmt_finish(st);
    return e;
}

/* The row of data key dek_id of t (ERR_CRYPTO when there is none: shredded). */
static enum err vault_row_get(struct secrets *s, const struct tenant_ctx *t, const char *dek_id,
                              struct vault_row *r)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(s->vault, t, TX_READ, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    if (dek_id)
        e = tx_prepare(tx,
                       "SELECT dek_id, master_key_id, wrapped FROM tenant_keys "
                       "WHERE tenant_id = $1 AND dek_id = $2",
                       &st);
    else
        e = tx_prepare(tx,
                       "SELECT dek_id, master_key_id, wrapped FROM tenant_keys "
                       "WHERE tenant_id = $1 ORDER BY created_at DESC, dek_id DESC LIMIT 1",
                       &st);
    if (!e && dek_id)
        e = stmt_bind_text(st, 2, str_from(dek_id, SECRETS_DEK_ID_LEN));
    if (!e)
        e = stmt_step(st, &row);
    if (!e && !row)
        e = dek_id ? ERR_CRYPTO : ERR_NOT_FOUND;
    if (!e)
        e = vault_row_read(st, r);
    stmt_finish(st);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

/* ---- context ------------------------------------------------------------ */

enum err secrets_open(struct storage *main_db, struct storage *vault, const struct keyring *ring,
                      struct secrets **out)
{
    *out = NULL;
    if (!main_db || !vault || !ring || ring->n == 0 || ring->n > KEYRING_MAX)
        return ERR_INVALID;
    struct secrets *s = calloc(1, sizeof *s);
    if (!s)
        err_oom();
    s->main_db = main_db;
    s->vault = vault;
    s->ring = *ring;
    *out = s;
    return ERR_OK;
}

void secrets_close(struct secrets *s)
{
    if (!s)
        return;
    keyring_wipe(&s->ring);
    wipe(s, sizeof *s);
    free(s);
}

enum err secrets_tenant_key_create(struct secrets *s, const struct tenant_ctx *t)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(s->vault, t, TX_WRITE, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    int64_t have = 0;
    e = tx_prepare(tx, "SELECT count(*) FROM tenant_keys WHERE tenant_id = $1", &st);
    if (!e)
        e = stmt_step(st, &row);
    if (!e && row)
        have = stmt_col_int(st, 0);
    stmt_finish(st);
    if (e || have > 0) {
        if (e)
            storage_rollback(tx);
        return e ? e : storage_commit(tx);
    }

    unsigned char dek[SECRETS_DEK_LEN];
    char dek_id[SECRETS_DEK_ID_LEN + 1];
    struct buf wrapped = BUF_INIT(WRAPPED_LEN);
    const struct master_key *mk = keyring_current(&s->ring);
    e = rand_bytes(dek, sizeof dek);
    if (!e)
        e = rand_hex(dek_id, SECRETS_DEK_ID_LEN / 2);
    if (!e)
        e = dek_wrap(mk, t, dek_id, dek, &wrapped);
    wipe(dek, sizeof dek);
    if (!e)
        e = tx_prepare(tx,
                       "INSERT INTO tenant_keys (tenant_id, dek_id, master_key_id, wrapped) "
                       "VALUES ($1, $2, $3, $4)",
                       &st);
    if (!e) {
        e = stmt_bind_text(st, 2, str_from(dek_id, SECRETS_DEK_ID_LEN));
        if (!e)
            e = stmt_bind_text(st, 3, str_from_cstr(mk->id));
        if (!e)
            e = stmt_bind_blob(st, 4, wrapped.data, wrapped.len);
        if (!e)
            e = stmt_step(st, &row);
        stmt_finish(st);
    }
    buf_release(&wrapped);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

/* ---- seal / unseal ------------------------------------------------------ */

static enum err check_field(struct str purpose, struct str record_id)
{
    enum err e = secrets_check_purpose(purpose);
    return e ? e : check_record_id(record_id);
}

enum err secrets_seal(struct secrets *s, const struct tenant_ctx *t, struct str purpose,
                      struct str record_id, const void *pt, size_t pt_len, struct buf *out)
{
    enum err e = check_field(purpose, record_id);
    if (!e)
        e = check_value(pt_len);
    if (e)
        return e;
    struct vault_row r;
    e = vault_row_get(s, t, NULL, &r);
    if (e)
        return e;

    unsigned char dek[SECRETS_DEK_LEN], key[AEAD_KEY_LEN], kid[ENVELOPE_KEY_ID_LEN];
    struct buf aad = BUF_INIT(AAD_MAX);
    e = dek_unwrap(s, t, &r, dek);
    if (!e)
        e = purpose_key(dek, t, purpose, key);
    wipe(dek, sizeof dek);
    if (!e)
        e = hex_decode(r.dek_id, SECRETS_DEK_ID_LEN, kid, sizeof kid);
    if (!e)
        e = field_aad(&aad, t, purpose, record_id);
    if (!e)
        e = envelope_seal(key, kid, aad.data, aad.len, pt, pt_len, out);
    wipe(key, sizeof key);
    buf_release(&aad);
    return e;
}

enum err secrets_unseal(struct secrets *s, const struct tenant_ctx *t, struct str purpose,
                        struct str record_id, const void *env_bytes, size_t env_len,
                        struct buf *out)
{
    enum err e = check_field(purpose, record_id);
    if (e)
        return e;
    struct envelope env;
    e = envelope_parse(env_bytes, env_len, &env);
    if (e)
        return e;
    char dek_id[SECRETS_DEK_ID_LEN + 1];
    hex_encode(env.key_id, ENVELOPE_KEY_ID_LEN, dek_id);
    struct vault_row r;
    e = vault_row_get(s, t, dek_id, &r);
    if (e)
        return e;

    unsigned char dek[SECRETS_DEK_LEN], key[AEAD_KEY_LEN];
    struct buf aad = BUF_INIT(AAD_MAX);
    e = dek_unwrap(s, t, &r, dek);
    if (!e)
        e = purpose_key(dek, t, purpose, key);
    wipe(dek, sizeof dek);
    if (!e)
        e = field_aad(&aad, t, purpose, record_id);
    if (!e && out->len == 0)
        e = buf_presize(out, env.ct_len);
    if (!e)
        e = envelope_open(key, &env, aad.data, aad.len, out);
    wipe(key, sizeof key);
    buf_release(&aad);
    return e;
}

/* ---- the generic store -------------------------------------------------- */

/* "tenant_secrets/<name>" into out (RECORD_ID_MAX bytes). */
static struct str store_record_id(struct str name, char *out)
{
    size_t n = sizeof(STORE_RECORD) - 1;
    ASSERT(name.len <= SECRETS_MAX_NAME);
    memcpy(out, STORE_RECORD, n);
    memcpy(out + n, name.ptr, name.len);
    out[n + name.len] = '\0';
    return str_from(out, n + name.len);
}

enum err secret_put(struct secrets *s, const struct tenant_ctx *t, struct str name,
                    struct str purpose, struct str value, const struct secrets_actor *actor,
                    char hint_out[SECRETS_HINT_SIZE])
{
    enum err e = secrets_check_name(name);
    if (!e)
        e = secrets_check_purpose(purpose);
    if (!e)
        e = check_value(value.ptr ? value.len : 0);
    if (e)
        return e;
    char rid[RECORD_ID_MAX], name_c[SECRETS_MAX_NAME + 1], purpose_c[SECRETS_MAX_PURPOSE + 1];
    char hint[SECRETS_HINT_SIZE], target[sizeof "secret:" + SECRETS_MAX_NAME];
    struct str record_id = store_record_id(name, rid);
    memcpy(name_c, name.ptr, name.len);
    name_c[name.len] = '\0';
    memcpy(purpose_c, purpose.ptr, purpose.len);
    purpose_c[purpose.len] = '\0';
    memcpy(target, "secret:", 7);
    memcpy(target + 7, name_c, name.len + 1);
    secrets_hint_of(value, hint);

    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE);
    e = secrets_seal(s, t, purpose, record_id, value.ptr, value.len, &env);
    if (e) {
        buf_release(&env);
        return e;
    }
    struct tx *tx = NULL;
    e = storage_begin(s->main_db, t, TX_WRITE, &tx);
    if (e) {
        buf_release(&env);
        return e;
    }
    struct stmt *st = NULL;
    bool row = false;
    e = tx_prepare(
        tx,
        storage_tx_backend(tx) == STORAGE_POSTGRES
            ? "INSERT INTO tenant_secrets (tenant_id, name, purpose, envelope, hint) "
              "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, name) DO UPDATE SET "
              "purpose = excluded.purpose, envelope = excluded.envelope, hint = excluded.hint, "
              "updated_at = now()"
            : "INSERT INTO tenant_secrets (tenant_id, name, purpose, envelope, hint) "
              "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, name) DO UPDATE SET "
              "purpose = excluded.purpose, envelope = excluded.envelope, hint = excluded.hint, "
              "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        &st);
    if (!e) {
        e = stmt_bind_text(st, 2, name);
        if (!e)
            e = stmt_bind_text(st, 3, purpose);
        if (!e)
            e = stmt_bind_blob(st, 4, env.data, env.len);
        if (!e)
            e = stmt_bind_text(st, 5, str_from_cstr(hint));
        if (!e)
            e = stmt_step(st, &row);
        stmt_finish(st);
    }
    buf_release(&env);
    if (!e) {
        struct audit_event ev = {
            .action = "secret.written",
            .actor = actor ? actor->type : AUDIT_ACTOR_SYSTEM,
            .actor_id = actor ? actor->id : NULL,
            .target = target,
            .outcome = AUDIT_SUCCESS,
            .client_ip = actor ? actor->client_ip : NULL,
            .request_id = actor ? actor->request_id : NULL,
            .details = LOG_FIELDS_(LOG_STR("name", name_c), LOG_STR("purpose", purpose_c)),
        };
        e = audit_append(tx, &ev, NULL);
    }
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    if (!e && hint_out)
        memcpy(hint_out, hint, sizeof hint);
    return e;
}

/* Reads purpose, envelope and hint of secret name (ERR_NOT_FOUND if absent). */
static enum err store_get(struct secrets *s, const struct tenant_ctx *t, struct str name,
                          char purpose[SECRETS_MAX_PURPOSE + 1], struct buf *env,
                          char hint[SECRETS_HINT_SIZE])
{
    enum err e = secrets_check_name(name);
    if (e)
        return e;
    struct tx *tx = NULL;
    e = storage_begin(s->main_db, t, TX_READ, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_prepare(tx,
                   "SELECT purpose, envelope, hint FROM tenant_secrets "
                   "WHERE tenant_id = $1 AND name = $2",
                   &st);
    if (!e)
        e = stmt_bind_text(st, 2, name);
    if (!e)
        e = stmt_step(st, &row);
    if (!e && !row)
        e = ERR_NOT_FOUND;
    if (!e) {
        struct str p = stmt_col_text(st, 0), h = stmt_col_text(st, 2), b = stmt_col_blob(st, 1);
        if (p.len > SECRETS_MAX_PURPOSE || h.len >= SECRETS_HINT_SIZE)
            e = ERR_INVALID;
        if (!e && purpose) {
            memcpy(purpose, p.ptr, p.len);
            purpose[p.len] = '\0';
        }
        if (!e && hint) {
            if (h.len)
                memcpy(hint, h.ptr, h.len);
            hint[h.len] = '\0';
        }
        if (!e && env)
            e = buf_append(env, b.ptr, b.len);
    }
    stmt_finish(st);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

enum err secret_use(struct secrets *s, const struct tenant_ctx *t, struct str name,
                    enum err (*fn)(void *arg, struct str plaintext), void *arg)
{
    char purpose[SECRETS_MAX_PURPOSE + 1], rid[RECORD_ID_MAX];
    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE);
    struct buf plain = BUF_INIT_SECRET(SECRETS_MAX_VALUE);
    enum err e = store_get(s, t, name, purpose, &env, NULL);
    if (!e)
        e = secrets_unseal(s, t, str_from_cstr(purpose), store_record_id(name, rid), env.data,
                           env.len, &plain);
    buf_release(&env);
    if (!e)
        e = fn(arg, str_from(plain.data, plain.len));
    buf_wipe(&plain);
    return e;
}

enum err secret_hint(struct secrets *s, const struct tenant_ctx *t, struct str name,
                     char hint_out[SECRETS_HINT_SIZE])
{
    return store_get(s, t, name, NULL, NULL, hint_out);
}

/* Storage trouble aborts a check; anything else means "cannot be read". */
static bool is_storage_error(enum err e)
{
    return e == ERR_UNAVAILABLE || e == ERR_TIMEOUT || e == ERR_DB;
}

enum err secret_check(struct secrets *s, const struct tenant_ctx *t, struct str name,
                      enum err (*fn)(void *arg, const char *name, const char *hint,
                                     enum err result),
                      void *arg)
{
    bool one = name.ptr != NULL;
    enum err e = one ? secrets_check_name(name) : ERR_OK;
    if (e)
        return e;
    struct tx *tx = NULL;
    e = storage_begin(s->main_db, t, TX_READ, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    e = tx_prepare(tx,
                   one ? "SELECT name, purpose, envelope, hint FROM tenant_secrets "
                         "WHERE tenant_id = $1 AND name = $2"
                       : "SELECT name, purpose, envelope, hint FROM tenant_secrets "
                         "WHERE tenant_id = $1 ORDER BY name",
                   &st);
    if (!e && one)
        e = stmt_bind_text(st, 2, name);
    bool row = false;
    size_t seen = 0;
    struct buf plain = BUF_INIT_SECRET(SECRETS_MAX_VALUE);
    while (!e && !(e = stmt_step(st, &row)) && row) {
        struct str n = stmt_col_text(st, 0), p = stmt_col_text(st, 1), h = stmt_col_text(st, 3);
        struct str env = stmt_col_blob(st, 2);
        char name_c[SECRETS_MAX_NAME + 1], hint[SECRETS_HINT_SIZE], rid[RECORD_ID_MAX];
        if (secrets_check_name(n) != ERR_OK || h.len >= SECRETS_HINT_SIZE) {
            e = ERR_INVALID; /* a row we did not write */
            break;
        }
        memcpy(name_c, n.ptr, n.len);
        name_c[n.len] = '\0';
        if (h.len)
            memcpy(hint, h.ptr, h.len);
        hint[h.len] = '\0';
        enum err r = secrets_unseal(s, t, p, store_record_id(n, rid), env.ptr, env.len, &plain);
        buf_wipe(&plain);
        plain = (struct buf)BUF_INIT_SECRET(SECRETS_MAX_VALUE);
        if (is_storage_error(r)) {
            e = r;
            break;
        }
        seen++;
        e = fn(arg, name_c, hint, r);
    }
    stmt_finish(st);
    buf_wipe(&plain);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    return !e && one && seen == 0 ? ERR_NOT_FOUND : e;
}

/* ---- maintenance -------------------------------------------------------- */

static enum err tenant_of(const char *id, struct tenant_ctx *t)
{
    size_t n = strnlen(id, STORAGE_TENANT_ID_LEN + 1);
    if (n != STORAGE_TENANT_ID_LEN || !storage_tenant_id_valid(str_from(id, n)))
        return ERR_INVALID;
    memcpy(t->id, id, n + 1);
    return ERR_OK;
}

struct rotate_run {
    struct secrets *s;
    const struct secrets_actor *actor;
    struct secrets_rotate_result *res;
};

/* Re-wraps one row under the current key inside tx; *done when it changed. */
static enum err rewrap_row(struct secrets *s, struct tx *tx, const struct tenant_ctx *t,
                           const struct vault_row *r, bool *done)
{
    const struct master_key *cur = keyring_current(&s->ring);
    unsigned char dek[SECRETS_DEK_LEN];
    struct buf wrapped = BUF_INIT(WRAPPED_LEN);
    struct stmt *st = NULL;
    bool row = false;
    *done = false;
    enum err e = dek_unwrap(s, t, r, dek);
    if (!e)
        e = dek_wrap(cur, t, r->dek_id, dek, &wrapped);
    wipe(dek, sizeof dek);
    if (!e)
        e = tx_prepare(tx,
                       storage_tx_backend(tx) == STORAGE_POSTGRES
                           ? "UPDATE tenant_keys SET master_key_id = $3, wrapped = $4, "
                             "rewrapped_at = now() "
                             "WHERE tenant_id = $1 AND dek_id = $2 AND master_key_id = $5"
                           : "UPDATE tenant_keys SET master_key_id = $3, wrapped = $4, "
                             "rewrapped_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                             "WHERE tenant_id = $1 AND dek_id = $2 AND master_key_id = $5",
                       &st);
    if (!e) {
        e = stmt_bind_text(st, 2, str_from_cstr(r->dek_id));
        if (!e)
            e = stmt_bind_text(st, 3, str_from_cstr(cur->id));
        if (!e)
            e = stmt_bind_blob(st, 4, wrapped.data, wrapped.len);
        if (!e)
            e = stmt_bind_text(st, 5, str_from_cstr(r->master_id));
        if (!e)
            e = stmt_step(st, &row);
        if (!e)
            *done = stmt_changes(st) == 1;
        stmt_finish(st);
    }
    buf_release(&wrapped);
    return e;
}

/* One tenant's rotation: its own vault transaction, then an audit event. */
static enum err rotate_tenant(struct rotate_run *run, const struct tenant_ctx *t)
{
    struct secrets *s = run->s;
    const struct master_key *cur = keyring_current(&s->ring);
    struct vault_row rows[SECRETS_MAX_TENANT_KEYS];
    size_t n = 0;
    uint64_t rewrapped = 0, current = 0, unknown = 0;
    struct tx *tx = NULL;
    enum err e = storage_begin(s->vault, t, TX_WRITE, &tx);
    if (e)
        return e;
    e = vault_rows(tx, rows, &n);
    for (size_t i = 0; !e && i < n; i++) {
        if (strcmp(rows[i].master_id, cur->id) == 0) {
            current++;
            continue;
        }
        if (!keyring_find(&s->ring, rows[i].master_id)) {
            unknown++;
            continue;
        }
        bool done = false;
        e = rewrap_row(s, tx, t, &rows[i], &done);
        if (!e && done)
            rewrapped++;
    }
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    if (e)
        return e;
    run->res->rewrapped += rewrapped;
    run->res->current += current;
    run->res->unknown_key += unknown;
    if (rewrapped == 0)
        return ERR_OK;

    e = storage_begin(s->main_db, t, TX_WRITE, &tx);
    if (e)
        return e;
    const struct secrets_actor *a = run->actor;
    struct audit_event ev = {
        .action = "keys.rewrapped",
        .actor = a ? a->type : AUDIT_ACTOR_SYSTEM,
        .actor_id = a ? a->id : NULL,
        .target = "tenant_keys",
        .outcome = AUDIT_SUCCESS,
        .client_ip = a ? a->client_ip : NULL,
        .request_id = a ? a->request_id : NULL,
        .details = LOG_FIELDS_(LOG_INT("data_keys", rewrapped), LOG_STR("wrapped_by", cur->id)),
    };
    e = audit_append(tx, &ev, NULL);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

static enum err rotate_each(void *arg, const char *tenant_id)
{
    struct rotate_run *run = arg;
    struct tenant_ctx t;
    run->res->tenants++;
    enum err e = tenant_of(tenant_id, &t);
    if (!e)
        e = rotate_tenant(run, &t);
    if (e) {
        /* one tenant's failure must not stop the others; the run reports it */
        run->res->failed++;
        log_warn("key rotation failed for a tenant", LOG_STR("tenant", tenant_id), LOG_ERR(e));
    }
    return ERR_OK;
}

enum err secrets_rotate(struct secrets *s, const struct secrets_actor *actor,
                        struct secrets_rotate_result *out)
{
    memset(out, 0, sizeof *out);
    struct rotate_run run = {.s = s, .actor = actor, .res = out};
    enum err e = storage_tenant_ids(s->main_db, rotate_each, &run);
    if (e)
        return e;
    return out->failed || out->unknown_key ? ERR_CRYPTO : ERR_OK;
}

struct status_run {
    struct secrets *s;
    struct secrets_status *out;
    void (*stale)(void *arg, const char *tenant_id, const char *master_key_id);
    void *arg;
};

static enum err status_count(struct secrets_status *out, const struct keyring *ring,
                             const char *master_id)
{
    for (size_t i = 0; i < out->n_keys; i++) {
        if (strcmp(out->keys[i].master_key_id, master_id) == 0) {
            out->keys[i].data_keys++;
            return ERR_OK;
        }
    }
    if (out->n_keys == SECRETS_STATUS_MAX_KEYS)
        return ERR_LIMIT;
    struct secrets_key_count *k = &out->keys[out->n_keys++];
    memcpy(k->master_key_id, master_id, MASTER_KEY_ID_LEN + 1);
    k->data_keys = 1;
    k->current = strcmp(keyring_current(ring)->id, master_id) == 0;
    k->in_ring = keyring_find(ring, master_id) != NULL;
    return ERR_OK;
}

static enum err status_each(void *arg, const char *tenant_id)
{
    struct status_run *run = arg;
    struct tenant_ctx t;
    enum err e = tenant_of(tenant_id, &t);
    if (e)
        return e;
    struct vault_row rows[SECRETS_MAX_TENANT_KEYS];
    size_t n = 0;
    struct tx *tx = NULL;
    e = storage_begin(run->s->vault, &t, TX_READ, &tx);
    if (e)
        return e;
    e = vault_rows(tx, rows, &n);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    if (e)
        return e;
    run->out->tenants++;
    if (n == 0)
        run->out->tenants_without_key++;
    const char *cur = keyring_current(&run->s->ring)->id;
    bool stale = false;
    for (size_t i = 0; i < n && !e; i++) {
        e = status_count(run->out, &run->s->ring, rows[i].master_id);
        if (!e && strcmp(rows[i].master_id, cur) != 0) {
            if (!stale && run->stale)
                run->stale(run->arg, t.id, rows[i].master_id);
            stale = true;
        }
    }
    if (stale)
        run->out->tenants_stale++;
    return e;
}

enum err secrets_status(struct secrets *s, struct secrets_status *out,
                        void (*stale)(void *arg, const char *tenant_id, const char *master_key_id),
                        void *arg)
{
    memset(out, 0, sizeof *out);
    struct status_run run = {.s = s, .out = out, .stale = stale, .arg = arg};
    enum err e = storage_tenant_ids(s->main_db, status_each, &run);
    out->ready = !e && out->tenants_stale == 0;
    return e;
}

/* Overwrites, then deletes t's vault rows; *n gets how many. */
static enum err vault_destroy(struct secrets *s, const struct tenant_ctx *t, uint64_t *destroyed)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(s->vault, t, TX_WRITE, &tx);
    if (e)
        return e;
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    /* Overwrite first, so the freed space of the row does not keep the wrapped key
     * (SQLite reuses the page in place; see docs/KEYS.md for what remains). */
    e = tx_exec(tx, pg ? "UPDATE tenant_keys SET wrapped = "
                         "decode(repeat('00', length(wrapped)), 'hex') WHERE tenant_id = $1"
                       : "UPDATE tenant_keys SET wrapped = zeroblob(length(wrapped)) "
                         "WHERE tenant_id = $1");
    struct stmt *st = NULL;
    bool row = false;
    uint64_t n = 0;
    if (!e)
        e = tx_prepare(tx, "DELETE FROM tenant_keys WHERE tenant_id = $1", &st);
    if (!e) {
        e = stmt_step(st, &row);
        if (!e)
            n = stmt_changes(st);
        stmt_finish(st);
    }
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    if (!e)
        *destroyed = n;
    return e;
}

enum err secrets_tenant_key_discard(struct secrets *s, const struct tenant_ctx *t)
{
    uint64_t n = 0;
    return vault_destroy(s, t, &n);
}

enum err secrets_shred_tenant(struct secrets *s, const struct tenant_ctx *t,
                              const struct secrets_actor *actor, uint64_t *destroyed)
{
    uint64_t n = 0;
    if (destroyed)
        *destroyed = 0;
    enum err e = vault_destroy(s, t, &n);
    if (e)
        return e;
    if (destroyed)
        *destroyed = n;

    struct tx *tx = NULL;
    e = storage_begin(s->main_db, t, TX_WRITE, &tx);
    if (e)
        return e;
    char target[sizeof "tenant:" + STORAGE_TENANT_ID_LEN];
    memcpy(target, "tenant:", 7);
    memcpy(target + 7, t->id, STORAGE_TENANT_ID_LEN + 1);
    struct audit_event ev = {
        .action = "tenant.keys_shredded",
        .actor = actor ? actor->type : AUDIT_ACTOR_SYSTEM,
        .actor_id = actor ? actor->id : NULL,
        .target = target,
        .outcome = AUDIT_SUCCESS,
        .client_ip = actor ? actor->client_ip : NULL,
        .request_id = actor ? actor->request_id : NULL,
        .details = LOG_FIELDS_(LOG_INT("data_keys", n)),
    };
    e = audit_append(tx, &ev, NULL);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}
