/*
 * idempotency — stored responses for Idempotency-Key; see idempotency.h for
 * the design and the decisions.
 *
 * One table, idempotency_keys (migrations sqlite/0008, postgres/0009), one
 * row per (tenant, principal, key): state 'in_progress' with the fingerprint
 * and the claim token of the request that holds it, or 'done' with the
 * response. The SQL text is the same on both backends (PostgreSQL infers
 * every parameter's type from the column it meets) except where noted.
 */
#include "idempotency/idempotency.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/rand.h"

#define IDEM_FP_HEX       (2 * SHA256_LEN)
#define IDEM_BEGIN_ROUNDS 4 /* insert-or-read attempts when rows vanish under us */
#define IDEM_NIL_TENANT   "00000000-0000-0000-0000-000000000000"

_Static_assert(IDEM_FP_HEX == 2 * 32, "idem_fingerprint's out size");

/* The cross-tenant question of idem_cleanup runs bound to the nil UUID (never a tenant). */
static const struct tenant_ctx nil_tenant = {.id = IDEM_NIL_TENANT};

/* ---- input checks --------------------------------------------------------------- */

/* 1..max bytes of visible ASCII (no space, no control). */
static enum err check_token(struct str s, size_t max)
{
    if (s.len > max)
        return ERR_LIMIT;
    if (s.len == 0 || !s.ptr)
        return ERR_INVALID;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x21 || c > 0x7e)
            return ERR_INVALID;
    }
    return ERR_OK;
}

/* 0..max bytes of printable ASCII (a header value we will write back verbatim). */
static enum err check_header_value(struct str s, size_t max)
{
    if (s.len > max)
        return ERR_LIMIT;
    if (s.len && !s.ptr)
        return ERR_INVALID;
    return str_is_printable_ascii(s) ? ERR_OK : ERR_INVALID;
}

/* Lengths first, so an over-long value is ERR_LIMIT whatever it holds. */
static enum err check_request(const struct idem_request *r)
{
    if (!r)
        return ERR_INVALID;
    if (r->path.len > IDEM_MAX_PATH || r->query.len > IDEM_MAX_QUERY)
        return ERR_LIMIT;
    if ((r->path.len && !r->path.ptr) || (r->query.len && !r->query.ptr) ||
        (r->body.len && !r->body.ptr))
        return ERR_INVALID;
    enum err e = check_token(r->principal, IDEM_MAX_PRINCIPAL);
    if (!e)
        e = check_token(r->key, IDEM_MAX_KEY);
    if (!e)
        e = check_token(r->method, IDEM_MAX_METHOD);
    return e;
}

static bool claim_valid(const struct idem_claim *c)
{
    if (!c || strnlen(c->token, sizeof c->token) != IDEM_CLAIM_LEN)
        return false;
    for (size_t i = 0; i < IDEM_CLAIM_LEN; i++) {
        char ch = c->token[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return false;
    }
    return true;
}

/* Why a response cannot be stored, or ERR_OK. */
static enum err check_response(const struct idem_response *resp)
{
    if (!resp || resp->status < 200 || resp->status > 599)
        return ERR_INVALID;
    if (resp->body.len > IDEM_MAX_BODY)
        return ERR_LIMIT;
    if (resp->body.len && !resp->body.ptr)
        return ERR_INVALID;
    enum err e = check_header_value(resp->content_type, IDEM_MAX_CONTENT_TYPE);
    if (!e)
        e = check_header_value(resp->location, IDEM_MAX_LOCATION);
    return e;
}

bool idem_status_stored(int status)
{
    return status >= 200 && status <= 499 && status != 408 && status != 429;
}

/* ---- fingerprint -------------------------------------------------------------------- */

static void put_field(struct sha256_ctx *c, struct str s)
{
    unsigned char n[8];
    uint64_t len = s.len;
    for (int i = 7; i >= 0; i--) {
        n[i] = (unsigned char)(len & 0xff);
        len >>= 8;
    }
    sha256_update(c, n, sizeof n);
    if (s.len)
        sha256_update(c, s.ptr, s.len);
}

void idem_fingerprint(const struct idem_request *r, char out[2 * 32 + 1])
{
    static const char tag[] = "shiplog/v1/idempotency";
    struct sha256_ctx c;
    sha256_ctx_init(&c);
    sha256_begin(&c);
    sha256_update(&c, tag, sizeof tag); /* the NUL ends the tag */
    put_field(&c, r->method);
    put_field(&c, r->path);
    put_field(&c, r->query);
    put_field(&c, r->body);
    unsigned char d[SHA256_LEN];
    sha256_end(&c, d);
    sha256_ctx_free(&c);
    hex_encode(d, sizeof d, out);
}

/* ---- replay --------------------------------------------------------------------- */

void idem_response_release(struct idem_response *resp)
{
    if (!resp)
        return;
    free(resp->mem);
    memset(resp, 0, sizeof *resp);
}

/* One allocation: content type, NUL, location, NUL, body, NUL. */
static void response_copy(struct idem_response *out, int status, struct str ctype, struct str loc,
                          struct str body)
{
    size_t n = ctype.len + 1 + loc.len + 1 + body.len + 1;
    char *m = malloc(n);
    if (!m)
        err_oom();
    char *p = m;
    if (ctype.len)
        memcpy(p, ctype.ptr, ctype.len);
    p[ctype.len] = '\0';
    out->content_type = str_from(p, ctype.len);
    p += ctype.len + 1;
    if (loc.len)
        memcpy(p, loc.ptr, loc.len);
    p[loc.len] = '\0';
    out->location = str_from(p, loc.len);
    p += loc.len + 1;
    if (body.len)
        memcpy(p, body.ptr, body.len);
    p[body.len] = '\0';
    out->body = str_from(p, body.len);
    out->status = status;
    out->mem = m;
}

/* ---- statements ------------------------------------------------------------------ */

/* Binds $2 principal and $3 key, which every per-key statement starts with. */
static enum err bind_key(struct stmt *st, const struct idem_request *r)
{
    enum err e = stmt_bind_text(st, 2, r->principal);
    return e ? e : stmt_bind_text(st, 3, r->key);
}

/* Runs a statement that returns no rows; *changes (when not NULL) gets its row count. */
static enum err run(struct stmt *st, uint64_t *changes)
{
    bool row = false;
    enum err e = stmt_step(st, &row);
    if (!e && changes)
        *changes = stmt_changes(st);
    return e;
}

/* Records the key in progress unless a row exists; *inserted says which. */
static enum err try_insert(struct tx *tx, const struct idem_request *r, const char *fp,
                           const char *claim, int64_t now, bool *inserted)
{
    *inserted = false;
    struct stmt *st = NULL;
    enum err e = tx_prepare(tx,
                            "INSERT INTO idempotency_keys (tenant_id, principal, idem_key,"
                            " fingerprint, claim, state, created_at)"
                            " VALUES ($1, $2, $3, $4, $5, 'in_progress', $6)"
                            " ON CONFLICT (tenant_id, principal, idem_key) DO NOTHING",
                            &st);
    if (e)
        return e;
    uint64_t n = 0;
    if (!(e = bind_key(st, r)) && !(e = stmt_bind_text(st, 4, str_from_cstr(fp))) &&
        !(e = stmt_bind_text(st, 5, str_from_cstr(claim))) && !(e = stmt_bind_int(st, 6, now)))
        e = run(st, &n);
    stmt_finish(st);
    if (!e)
        *inserted = n == 1;
    return e;
}

/* The existing row, copied out of the statement. */
struct existing {
    bool found;
    bool done;
    char fp[IDEM_FP_HEX + 1];
    char claim[IDEM_CLAIM_LEN + 1];
    int64_t created;
};

/*
 * Reads the row for r's key (PostgreSQL: locked until the transaction ends,
 * so the decision below cannot race a takeover or completion). On a finished
 * row with fingerprint fp, the response is copied into *replay.
 */
static enum err read_row(struct tx *tx, const struct idem_request *r, const char *fp,
                         struct existing *x, struct idem_response *replay)
{
    memset(x, 0, sizeof *x);
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    struct stmt *st = NULL;
    enum err e = tx_prepare(
        tx,
        pg ? "SELECT state, fingerprint, claim, created_at, status, content_type, location, body"
             " FROM idempotency_keys WHERE tenant_id = $1 AND principal = $2 AND idem_key = $3"
             " FOR UPDATE"
           : "SELECT state, fingerprint, claim, created_at, status, content_type, location, body"
             " FROM idempotency_keys WHERE tenant_id = $1 AND principal = $2 AND idem_key = $3",
        &st);
    if (e)
        return e;
    bool row = false;
    if (!(e = bind_key(st, r)))
        e = stmt_step(st, &row);
    if (!e && row) {
        struct str state = stmt_col_text(st, 0), rfp = stmt_col_text(st, 1),
                   claim = stmt_col_text(st, 2);
        if (rfp.len != IDEM_FP_HEX || claim.len != IDEM_CLAIM_LEN) {
            e = ERR_DB; /* the table's checks make this impossible */
        } else {
            x->found = true;
            x->done = str_eq_cstr(state, "done");
            memcpy(x->fp, rfp.ptr, rfp.len);
            memcpy(x->claim, claim.ptr, claim.len);
            x->created = stmt_col_int(st, 3);
            if (x->done && strcmp(x->fp, fp) == 0) {
                int64_t status = stmt_col_int(st, 4);
                struct str ctype = stmt_col_is_null(st, 5) ? STR_NULL : stmt_col_text(st, 5);
                struct str loc = stmt_col_is_null(st, 6) ? STR_NULL : stmt_col_text(st, 6);
                struct str body = stmt_col_blob(st, 7);
                if (status < 200 || status > 599 || body.len > IDEM_MAX_BODY ||
                    ctype.len > IDEM_MAX_CONTENT_TYPE || loc.len > IDEM_MAX_LOCATION)
                    e = ERR_DB;
                else
                    response_copy(replay, (int)status, ctype, loc, body);
            }
        }
    }
    stmt_finish(st);
    return e;
}

/* Gives the row to a new request (expired or stale): fresh fingerprint, claim and time. */
static enum err take_over(struct tx *tx, const struct idem_request *r, const char *fp,
                          const char *claim, int64_t now, const char *old_claim, bool *taken)
{
    *taken = false;
    struct stmt *st = NULL;
    enum err e = tx_prepare(tx,
                            "UPDATE idempotency_keys SET fingerprint = $4, claim = $5,"
                            " state = 'in_progress', created_at = $6, completed_at = NULL,"
                            " status = NULL, content_type = NULL, location = NULL, body = NULL"
                            " WHERE tenant_id = $1 AND principal = $2 AND idem_key = $3"
                            " AND claim = $7",
                            &st);
    if (e)
        return e;
    uint64_t n = 0;
    if (!(e = bind_key(st, r)) && !(e = stmt_bind_text(st, 4, str_from_cstr(fp))) &&
        !(e = stmt_bind_text(st, 5, str_from_cstr(claim))) && !(e = stmt_bind_int(st, 6, now)) &&
        !(e = stmt_bind_text(st, 7, str_from_cstr(old_claim))))
        e = run(st, &n);
    stmt_finish(st);
    if (!e)
        *taken = n == 1;
    return e;
}

/* The decision of idem_begin inside its transaction. */
static enum err begin_in(struct tx *tx, const struct idem_request *r, const char *fp,
                         const char *claim, int64_t now, enum idem_outcome *out,
                         struct idem_response *replay)
{
    for (int round = 0; round < IDEM_BEGIN_ROUNDS; round++) {
        bool inserted = false;
        enum err e = try_insert(tx, r, fp, claim, now, &inserted);
        if (e)
            return e;
        if (inserted) {
            *out = IDEM_PROCEED;
            return ERR_OK;
        }
        struct existing x;
        if ((e = read_row(tx, r, fp, &x, replay)) != ERR_OK)
            return e;
        if (!x.found)
            continue; /* released or purged since our insert: try again */
        bool expired = x.created <= now - IDEM_TTL_S;
        bool stale = !x.done && x.created <= now - IDEM_IN_PROGRESS_STALE_S;
        bool same = strcmp(x.fp, fp) == 0;
        if (!expired && !same) {
            *out = IDEM_MISMATCH;
            return ERR_OK;
        }
        if (!expired && x.done) {
            *out = IDEM_REPLAY;
            return ERR_OK;
        }
        if (!expired && !stale) {
            *out = IDEM_IN_PROGRESS;
            return ERR_OK;
        }
        bool taken = false;
        if ((e = take_over(tx, r, fp, claim, now, x.claim, &taken)) != ERR_OK)
            return e;
        if (taken) {
            *out = IDEM_PROCEED;
            return ERR_OK;
        }
    }
    /* the row kept changing under us: as good as a concurrent request */
    *out = IDEM_IN_PROGRESS;
    return ERR_OK;
}

/* ---- the API ------------------------------------------------------------------------ */

enum err idem_begin(struct storage *db, const struct tenant_ctx *t, const struct idem_request *r,
                    int64_t now, enum idem_outcome *out, struct idem_claim *claim,
                    struct idem_response *replay)
{
    *out = IDEM_IN_PROGRESS;
    memset(claim, 0, sizeof *claim);
    memset(replay, 0, sizeof *replay);
    enum err e = check_request(r);
    if (e)
        return e;
    char fp[IDEM_FP_HEX + 1], token[IDEM_CLAIM_LEN + 1];
    idem_fingerprint(r, fp);
    if ((e = rand_hex(token, IDEM_CLAIM_LEN / 2)) != ERR_OK)
        return e;
    struct tx *tx = NULL;
    if ((e = storage_begin(db, t, TX_WRITE, &tx)) != ERR_OK)
        return e;
    enum idem_outcome o = IDEM_IN_PROGRESS;
    e = begin_in(tx, r, fp, token, now, &o, replay);
    if (e)
        storage_rollback(tx);
    else
        e = storage_commit(tx);
    if (e) {
        idem_response_release(replay);
        return e;
    }
    *out = o;
    if (o == IDEM_PROCEED)
        memcpy(claim->token, token, sizeof token);
    return ERR_OK;
}

/* Deletes the row if claim still holds it in progress. */
static enum err release_in(struct storage *db, const struct tenant_ctx *t,
                           const struct idem_request *r, const struct idem_claim *claim)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_WRITE, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    e = tx_prepare(tx,
                   "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND principal = $2"
                   " AND idem_key = $3 AND claim = $4 AND state = 'in_progress'",
                   &st);
    if (!e) {
        if (!(e = bind_key(st, r)) && !(e = stmt_bind_text(st, 4, str_from_cstr(claim->token))))
            e = run(st, NULL);
        stmt_finish(st);
    }
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

enum err idem_release(struct storage *db, const struct tenant_ctx *t, const struct idem_request *r,
                      const struct idem_claim *claim)
{
    enum err e = check_request(r);
    if (e)
        return e;
    if (!claim_valid(claim))
        return ERR_INVALID;
    return release_in(db, t, r, claim);
}

enum err idem_complete(struct storage *db, const struct tenant_ctx *t, const struct idem_request *r,
                       const struct idem_claim *claim, const struct idem_response *resp,
                       int64_t now)
{
    enum err e = check_request(r);
    if (e)
        return e;
    if (!claim_valid(claim))
        return ERR_INVALID;
    enum err bad = check_response(resp);
    if (bad || !idem_status_stored(resp->status)) {
        e = release_in(db, t, r, claim);
        return bad ? bad : e;
    }
    struct tx *tx = NULL;
    if ((e = storage_begin(db, t, TX_WRITE, &tx)) != ERR_OK)
        return e;
    struct stmt *st = NULL;
    e = tx_prepare(tx,
                   "UPDATE idempotency_keys SET state = 'done', completed_at = $5, status = $6,"
                   " content_type = $7, location = $8, body = $9"
                   " WHERE tenant_id = $1 AND principal = $2 AND idem_key = $3 AND claim = $4"
                   " AND state = 'in_progress'",
                   &st);
    uint64_t n = 0;
    if (!e) {
        if (!(e = bind_key(st, r)) && !(e = stmt_bind_text(st, 4, str_from_cstr(claim->token))) &&
            !(e = stmt_bind_int(st, 5, now)) && !(e = stmt_bind_int(st, 6, resp->status)) &&
            !(e = resp->content_type.len ? stmt_bind_text(st, 7, resp->content_type)
                                         : stmt_bind_null(st, 7)) &&
            !(e = resp->location.len ? stmt_bind_text(st, 8, resp->location)
                                     : stmt_bind_null(st, 8)) &&
            !(e = stmt_bind_blob(st, 9, resp->body.ptr, resp->body.len)))
            e = run(st, &n);
        stmt_finish(st);
    }
    if (e) {
        storage_rollback(tx);
        return e;
    }
    if (n != 1) {
        storage_rollback(tx);
        return ERR_CONFLICT;
    }
    return storage_commit(tx);
}

enum err idem_purge(struct storage *db, const struct tenant_ctx *t, int64_t now, uint64_t *deleted)
{
    *deleted = 0;
    struct tx *tx = NULL;
    enum err e = storage_begin(db, t, TX_WRITE, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    e = tx_prepare(tx, "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND created_at <= $2",
                   &st);
    uint64_t n = 0;
    if (!e) {
        if (!(e = stmt_bind_int(st, 2, now - IDEM_TTL_S)))
            e = run(st, &n);
        stmt_finish(st);
    }
    if (e) {
        storage_rollback(tx);
        return e;
    }
    if ((e = storage_commit(tx)) == ERR_OK)
        *deleted = n;
    return e;
}

/* Up to IDEM_CLEANUP_BATCH tenants above after with keys created at or before cutoff. */
static enum err expired_tenants(struct storage *db, const char *after, int64_t cutoff,
                                struct tenant_ctx ids[IDEM_CLEANUP_BATCH], size_t *n)
{
    *n = 0;
    struct tx *tx = NULL;
    enum err e = storage_begin(db, &nil_tenant, TX_READ, &tx);
    if (e)
        return e;
    const char *sql =
        storage_tx_backend(tx) == STORAGE_POSTGRES
            ? "SELECT t::text FROM idempotency_expired_tenants($2::uuid, $3::bigint, $4::integer)"
              " AS t WHERE $1::uuid = '" IDEM_NIL_TENANT "'::uuid"
            : "SELECT DISTINCT tenant_id FROM idempotency_keys"
              " WHERE $1 = '" IDEM_NIL_TENANT "' AND tenant_id > $2 AND created_at <= $3"
              " ORDER BY tenant_id LIMIT $4";
    struct stmt *st = NULL;
    bool row = false;
    e = tx_prepare(tx, sql, &st);
    if (!e) {
        if (!(e = stmt_bind_text(st, 2, str_from_cstr(after))) &&
            !(e = stmt_bind_int(st, 3, cutoff)) && !(e = stmt_bind_int(st, 4, IDEM_CLEANUP_BATCH)))
            e = stmt_step(st, &row);
        while (!e && row && *n < IDEM_CLEANUP_BATCH) {
            struct str id = stmt_col_text(st, 0);
            if (!storage_tenant_id_valid(id)) {
                e = ERR_DB; /* the table holds canonical ids only */
                break;
            }
            memcpy(ids[*n].id, id.ptr, STORAGE_TENANT_ID_LEN);
            ids[*n].id[STORAGE_TENANT_ID_LEN] = '\0';
            (*n)++;
            e = stmt_step(st, &row);
        }
        stmt_finish(st);
    }
    storage_rollback(tx);
    if (e)
        *n = 0;
    return e;
}

enum err idem_cleanup(struct storage *db, int64_t now, uint64_t *deleted)
{
    *deleted = 0;
    enum err first = ERR_OK;
    char after[STORAGE_TENANT_ID_LEN + 1] = IDEM_NIL_TENANT; /* below every id */
    struct tenant_ctx *ids = calloc(IDEM_CLEANUP_BATCH, sizeof *ids);
    if (!ids)
        err_oom();
    for (;;) {
        size_t n = 0;
        enum err e = expired_tenants(db, after, now - IDEM_TTL_S, ids, &n);
        if (e) {
            if (!first)
                first = e;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t k = 0;
            e = idem_purge(db, &ids[i], now, &k);
            if (e && !first)
                first = e;
            *deleted += k;
        }
        if (n < IDEM_CLEANUP_BATCH)
            break;
        memcpy(after, ids[n - 1].id, sizeof after);
    }
    free(ids);
    return first;
}
