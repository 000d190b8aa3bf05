/*
 * verify — the chain verifier (L4, L5; docs/AUDIT.md "How verify decides").
 *
 * One state machine, fed entries in seq order and the checkpoints at each
 * entry's seq, then the head. It keeps only the last seq and hash, so memory
 * does not grow with the chain. The first break wins and names the entry:
 * a gap is a missing entry; a prev_hash that is not the previous entry's hash
 * is a reordering when it is the hash of another entry of the chain (the
 * finder looks it up, once) and a wrong link otherwise; a recomputed hash that
 * differs from the stored one is changed content; a head or checkpoint beyond
 * the last entry is truncation; a checkpoint must be signed by a trusted key,
 * verify, and sign the hash the entry has now (else the chain was rewritten).
 *
 * Two sources feed it: the database (audit_walk streams pages of rows inside
 * one read transaction, merging in the checkpoints) and an export file.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "core/json.h"

#define VERIFY_CANON_MAX ((size_t)1 << 20) /* an entry read back larger than this is malformed */
#define WALK_MAX_RETRIES 16 /* extra passes for rows committed while a walk runs (PostgreSQL) */

struct audit_verifier {
    char tenant[STORAGE_TENANT_ID_LEN + 1];
    const struct audit_trusted_keys *keys;
    struct audit_hash_finder finder;
    bool has_finder;
    int64_t start_seq; /* 0, or where audit_verifier_resume() put it */
    int64_t last_seq;
    unsigned char last_hash[SHA256_LEN];
    int64_t ahead_seq;   /* lowest checkpoint beyond the last entry, 0 = none */
    int64_t anchored;    /* the last entry covered by a trusted checkpoint (or the resume point) */
    bool require_anchor; /* an export: entries after `anchored` are a break */
    bool head_seen;
    bool broken;
    struct audit_verify_result res;
    struct buf canon;
    struct buf msg;
    struct sha256_ctx sha;
};

const char *audit_break_name(enum audit_break b)
{
    switch (b) {
    case AUDIT_OK:
        return "ok";
    case AUDIT_BREAK_MISSING:
        return "missing";
    case AUDIT_BREAK_REORDERED:
        return "reordered";
    case AUDIT_BREAK_LINK:
        return "wrong_link";
    case AUDIT_BREAK_CONTENT:
        return "content_changed";
    case AUDIT_BREAK_TRUNCATED:
        return "truncated";
    case AUDIT_BREAK_CHECKPOINT_KEY:
        return "checkpoint_unknown_key";
    case AUDIT_BREAK_CHECKPOINT_SIGNATURE:
        return "checkpoint_signature_invalid";
    case AUDIT_BREAK_CHECKPOINT_MISMATCH:
        return "checkpoint_mismatch";
    case AUDIT_BREAK_HEAD:
        return "head_mismatch";
    case AUDIT_BREAK_MALFORMED:
        return "malformed";
    case AUDIT_BREAK_UNANCHORED:
        return "unanchored";
    }
    return "unknown";
}

enum err audit_trusted_keys_add(struct audit_trusted_keys *k,
                                const unsigned char pub[SIGN_PUBLIC_LEN])
{
    for (size_t i = 0; i < k->n; i++)
        if (memcmp(k->pub[i], pub, SIGN_PUBLIC_LEN) == 0)
            return ERR_OK;
    if (k->n == AUDIT_MAX_TRUSTED_KEYS)
        return ERR_LIMIT;
    memcpy(k->pub[k->n++], pub, SIGN_PUBLIC_LEN);
    return ERR_OK;
}

/* ---- the state machine -------------------------------------------------------- */

void audit_verifier_new(const char *tenant_id, const struct audit_trusted_keys *keys,
                        const struct audit_hash_finder *finder, struct audit_verifier **out)
{
    struct audit_verifier *v = calloc(1, sizeof *v);
    if (!v)
        err_oom();
    snprintf(v->tenant, sizeof v->tenant, "%s", tenant_id ? tenant_id : "");
    v->keys = keys;
    if (finder && finder->find) {
        v->finder = *finder;
        v->has_finder = true;
    }
    buf_init(&v->canon, VERIFY_CANON_MAX);
    buf_init(&v->msg, 1024);
    sha256_ctx_init(&v->sha);
    *out = v;
}

void audit_verifier_free(struct audit_verifier *v)
{
    if (!v)
        return;
    buf_release(&v->canon);
    buf_release(&v->msg);
    sha256_ctx_free(&v->sha);
    free(v);
}

void audit_verifier_resume(struct audit_verifier *v, int64_t seq,
                           const unsigned char hash[SHA256_LEN])
{
    v->start_seq = v->last_seq = v->anchored = seq;
    memcpy(v->last_hash, hash, SHA256_LEN);
}

bool audit_verifier_broken(const struct audit_verifier *v)
{
    return v->broken;
}

int64_t audit_verifier_last(const struct audit_verifier *v, unsigned char hash[SHA256_LEN])
{
    if (hash)
        memcpy(hash, v->last_hash, SHA256_LEN);
    return v->last_seq;
}

static void brk(struct audit_verifier *v, enum audit_break kind, int64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void brk(struct audit_verifier *v, enum audit_break kind, int64_t seq, const char *fmt, ...)
{
    if (v->broken)
        return;
    v->broken = true;
    v->res.kind = kind;
    v->res.seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->res.why, sizeof v->res.why, fmt, ap);
    va_end(ap);
}

void audit_verifier_fail(struct audit_verifier *v, enum audit_break kind, const char *why)
{
    brk(v, kind, v->last_seq + 1, "%s", why);
}

static bool tenant_is(const struct audit_verifier *v, struct str t)
{
    return str_eq_cstr(t, v->tenant);
}

enum err audit_verifier_entry(struct audit_verifier *v, const struct audit_entry *e)
{
    if (v->broken)
        return ERR_OK;
    int64_t expect = v->last_seq + 1;
    if (!tenant_is(v, e->tenant_id) || e->seq < 1) {
        brk(v, AUDIT_BREAK_MALFORMED, expect, "malformed (an entry of another tenant or seq %lld)",
            (long long)e->seq);
        return ERR_OK;
    }
    if (e->seq > expect) {
        brk(v, AUDIT_BREAK_MISSING, expect, "missing (the chain jumps from entry %lld to %lld)",
            (long long)v->last_seq, (long long)e->seq);
        return ERR_OK;
    }
    if (e->seq < expect) {
        brk(v, AUDIT_BREAK_REORDERED, e->seq, "reordered (appears again after entry %lld)",
            (long long)v->last_seq);
        return ERR_OK;
    }
    if (v->ahead_seq && v->ahead_seq <= e->seq) {
        brk(v, AUDIT_BREAK_MALFORMED, v->ahead_seq,
            "malformed (checkpoint listed before its entry)");
        return ERR_OK;
    }
    unsigned char prev[SHA256_LEN], stored[SHA256_LEN], calc[SHA256_LEN];
    if (!audit_hex_decode(e->prev_hash, prev, SHA256_LEN) ||
        !audit_hex_decode(e->hash, stored, SHA256_LEN)) {
        brk(v, AUDIT_BREAK_MALFORMED, e->seq, "malformed (a hash is not 64 hex digits)");
        return ERR_OK;
    }
    if (memcmp(prev, v->last_hash, SHA256_LEN) != 0) {
        int64_t other = 0;
        bool found = false;
        if (v->has_finder) {
            enum err r = v->finder.find(v->finder.arg, prev, e->seq, &other, &found);
            if (r)
                return r;
        }
        if (found)
            brk(v, AUDIT_BREAK_REORDERED, e->seq, "reordered (links to entry %lld)",
                (long long)other);
        else
            brk(v, AUDIT_BREAK_LINK, e->seq,
                "wrong link (prev_hash is not the hash of entry %lld nor of any other entry)",
                (long long)v->last_seq);
        return ERR_OK;
    }
    if (audit_entry_hash_ctx(prev, e, &v->canon, &v->sha, calc) != ERR_OK) {
        brk(v, AUDIT_BREAK_MALFORMED, e->seq, "malformed (entry too large)");
        return ERR_OK;
    }
    if (!crypto_equal(calc, stored, SHA256_LEN)) {
        brk(v, AUDIT_BREAK_CONTENT, e->seq, "content changed (the stored hash does not match)");
        return ERR_OK;
    }
    v->last_seq = e->seq;
    memcpy(v->last_hash, stored, SHA256_LEN);
    v->res.entries++;
    return ERR_OK;
}

static bool key_trusted(const struct audit_verifier *v, const unsigned char pub[SIGN_PUBLIC_LEN])
{
    for (size_t i = 0; v->keys && i < v->keys->n; i++)
        if (memcmp(v->keys->pub[i], pub, SIGN_PUBLIC_LEN) == 0)
            return true;
    return false;
}

/* ---- key transitions ------------------------------------------------------------ */

enum err audit_key_transition_decode(const struct audit_key_transition_rec *r,
                                     struct audit_key_transition *out)
{
    if (!audit_hex_decode(r->old_public_key, out->old_pub, SIGN_PUBLIC_LEN) ||
        !audit_hex_decode(r->new_public_key, out->new_pub, SIGN_PUBLIC_LEN) ||
        !audit_hex_decode(r->signature, out->signature, SIGN_SIG_LEN) ||
        r->at.len != AUDIT_TIME_LEN)
        return ERR_INVALID;
    memcpy(out->at, r->at.ptr, AUDIT_TIME_LEN);
    out->at[AUDIT_TIME_LEN] = '\0';
    return ERR_OK;
}

static bool keys_has(const struct audit_trusted_keys *k, const unsigned char pub[SIGN_PUBLIC_LEN])
{
    for (size_t i = 0; i < k->n; i++)
        if (memcmp(k->pub[i], pub, SIGN_PUBLIC_LEN) == 0)
            return true;
    return false;
}

enum err audit_trusted_keys_extend(struct audit_trusted_keys *keys, struct str tenant_id,
                                   const struct audit_key_transition *t, size_t n)
{
    struct buf msg = BUF_INIT(512);
    enum err e = ERR_OK;
    /* each pass adds at least one key or ends: at most n + 1 passes */
    for (bool grew = true; grew && !e;) {
        grew = false;
        for (size_t i = 0; i < n && !e; i++) {
            if (!keys_has(keys, t[i].new_pub) || keys_has(keys, t[i].old_pub))
                continue;
            buf_reset(&msg);
            e = audit_key_transition_message(tenant_id, &t[i], &msg);
            if (e || !sign_verify_ed25519(t[i].new_pub, msg.data, msg.len, t[i].signature))
                continue;
            e = audit_trusted_keys_add(keys, t[i].old_pub);
            grew = true;
        }
    }
    buf_release(&msg);
    return e;
}

enum err audit_db_trusted_keys(struct tx *tx, const char *tenant_id,
                               struct audit_trusted_keys *keys)
{
    struct audit_key_transition *t = calloc(AUDIT_MAX_KEY_TRANSITIONS, sizeof *t);
    if (!t)
        err_oom();
    size_t n = 0;
    struct stmt *st = NULL;
    enum err e = tx_prepare(tx,
                            "SELECT old_public_key, new_public_key, signature, at "
                            "FROM audit_key_transitions WHERE tenant_id = $1 "
                            "ORDER BY old_public_key LIMIT $2",
                            &st);
    if (!e)
        e = stmt_bind_int(st, 2, AUDIT_MAX_KEY_TRANSITIONS + 1);
    bool row = false;
    while (!e && (e = stmt_step(st, &row)) == ERR_OK && row) {
        if (n == AUDIT_MAX_KEY_TRANSITIONS) {
            e = ERR_LIMIT;
            break;
        }
        struct audit_key_transition_rec r = {
            .tenant_id = str_from_cstr(tenant_id),
            .old_public_key = stmt_col_text(st, 0),
            .new_public_key = stmt_col_text(st, 1),
            .signature = stmt_col_text(st, 2),
            .at = stmt_col_text(st, 3),
        };
        e = audit_key_transition_decode(&r, &t[n++]);
    }
    stmt_finish(st);
    if (!e)
        e = audit_trusted_keys_extend(keys, str_from_cstr(tenant_id), t, n);
    free(t);
    return e;
}

enum err audit_verifier_checkpoint(struct audit_verifier *v, const struct audit_checkpoint_rec *c)
{
    if (v->broken)
        return ERR_OK;
    if (!tenant_is(v, c->tenant_id) || c->seq < 1) {
        brk(v, AUDIT_BREAK_MALFORMED, v->last_seq + 1,
            "malformed (a checkpoint of another tenant or at seq %lld)", (long long)c->seq);
        return ERR_OK;
    }
    if (c->seq > v->last_seq) {
        if (!v->ahead_seq)
            v->ahead_seq = c->seq; /* truncation, unless its entry comes next (it must not) */
        return ERR_OK;
    }
    if (c->seq < v->last_seq) {
        brk(v, AUDIT_BREAK_MALFORMED, c->seq, "malformed (checkpoint out of order)");
        return ERR_OK;
    }
    unsigned char hash[SHA256_LEN], pub[SIGN_PUBLIC_LEN], sig[SIGN_SIG_LEN];
    if (!audit_hex_decode(c->hash, hash, SHA256_LEN) ||
        !audit_hex_decode(c->public_key, pub, SIGN_PUBLIC_LEN) ||
        !audit_hex_decode(c->signature, sig, SIGN_SIG_LEN)) {
        brk(v, AUDIT_BREAK_CHECKPOINT_SIGNATURE, c->seq,
            "checkpoint signature invalid (malformed hash, key or signature)");
        return ERR_OK;
    }
    if (!key_trusted(v, pub)) {
        brk(v, AUDIT_BREAK_CHECKPOINT_KEY, c->seq, "checkpoint signed by an unknown key");
        return ERR_OK;
    }
    buf_reset(&v->msg);
    if (audit_checkpoint_message(c->tenant_id, c->seq, c->hash, c->at, &v->msg) != ERR_OK ||
        !sign_verify_ed25519(pub, v->msg.data, v->msg.len, sig)) {
        brk(v, AUDIT_BREAK_CHECKPOINT_SIGNATURE, c->seq, "checkpoint signature invalid");
        return ERR_OK;
    }
    if (!crypto_equal(hash, v->last_hash, SHA256_LEN)) {
        brk(v, AUDIT_BREAK_CHECKPOINT_MISMATCH, c->seq,
            "checkpoint mismatch (rewritten: the signed hash is not the entry's)");
        return ERR_OK;
    }
    v->res.checkpoints++;
    v->anchored = c->seq;
    return ERR_OK;
}

enum err audit_verifier_head(struct audit_verifier *v, int64_t seq, struct str hash_hex)
{
    if (v->broken)
        return ERR_OK;
    v->head_seen = true;
    unsigned char hash[SHA256_LEN];
    if (seq < 0 || !audit_hex_decode(hash_hex, hash, SHA256_LEN)) {
        brk(v, AUDIT_BREAK_HEAD, v->last_seq, "head mismatch (malformed head)");
    } else if (seq > v->last_seq) {
        brk(v, AUDIT_BREAK_TRUNCATED, v->last_seq + 1,
            "truncated (the head is at entry %lld, the last entry is %lld)", (long long)seq,
            (long long)v->last_seq);
    } else if (seq < v->last_seq) {
        brk(v, AUDIT_BREAK_HEAD, seq + 1,
            "head mismatch (the head is at entry %lld, entries go on to %lld)", (long long)seq,
            (long long)v->last_seq);
    } else if (!crypto_equal(hash, v->last_hash, SHA256_LEN)) {
        brk(v, AUDIT_BREAK_HEAD, seq, "head mismatch (the head's hash is not the entry's)");
    }
    return ERR_OK;
}

void audit_verifier_finish(struct audit_verifier *v, struct audit_verify_result *out)
{
    if (!v->broken && v->ahead_seq)
        brk(v, AUDIT_BREAK_TRUNCATED, v->last_seq + 1,
            "truncated (a checkpoint is at entry %lld, the last entry is %lld)",
            (long long)v->ahead_seq, (long long)v->last_seq);
    if (!v->broken && !v->head_seen && v->last_seq > v->start_seq)
        brk(v, AUDIT_BREAK_HEAD, v->last_seq, "head mismatch (no head)");
    if (!v->broken && v->require_anchor && v->last_seq > v->anchored)
        brk(v, AUDIT_BREAK_UNANCHORED, v->anchored + 1,
            "not anchored: entries after seq %lld are not covered by a trusted checkpoint",
            (long long)v->anchored);
    *out = v->res;
    if (!v->broken) {
        out->unanchored = v->last_seq - v->anchored;
        out->kind = AUDIT_OK;
        out->seq = 0;
        snprintf(out->why, sizeof out->why, "ok");
    }
}

/* ---- streaming from the database ---------------------------------------------- */

/* A checkpoint row copied out of its statement (the walk holds a few at a time). */
struct cp_slot {
    int64_t seq;
    char hash[80], at[48], pub[80], sig[144];
    size_t hash_len, at_len, pub_len, sig_len;
};

struct cp_queue {
    struct cp_slot q[AUDIT_CHECKPOINT_BATCH];
    size_t n, i;
    int64_t after; /* highest seq fetched so far */
    bool done;     /* no more rows after `after` (as of the last query) */
};

/* Copies a column, cut at cap - 1 (a cut value no longer decodes: a break, never a match). */
static size_t copy_col(char *dst, size_t cap, struct str v)
{
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    if (n)
        memcpy(dst, v.ptr, n);
    dst[n] = '\0';
    return n;
}

static enum err cp_peek(struct tx *tx, struct cp_queue *cq, struct cp_slot **out)
{
    *out = NULL;
    if (cq->i == cq->n && !cq->done) {
        cq->n = cq->i = 0;
        struct stmt *st = NULL;
        enum err e =
            tx_prepare(tx,
                       "SELECT seq, hash, at, public_key, signature FROM audit_checkpoints "
                       "WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                       &st);
        if (!e)
            e = stmt_bind_int(st, 2, cq->after);
        if (!e)
            e = stmt_bind_int(st, 3, AUDIT_CHECKPOINT_BATCH);
        bool row = false;
        while (!e && (e = stmt_step(st, &row)) == ERR_OK && row) {
            struct cp_slot *c = &cq->q[cq->n++];
            c->seq = stmt_col_int(st, 0);
            c->hash_len = copy_col(c->hash, sizeof c->hash, stmt_col_text(st, 1));
            c->at_len = copy_col(c->at, sizeof c->at, stmt_col_text(st, 2));
            c->pub_len = copy_col(c->pub, sizeof c->pub, stmt_col_text(st, 3));
            c->sig_len = copy_col(c->sig, sizeof c->sig, stmt_col_text(st, 4));
            cq->after = c->seq;
            if (cq->n == AUDIT_CHECKPOINT_BATCH)
                break;
        }
        stmt_finish(st);
        if (e)
            return e;
        cq->done = cq->n < AUDIT_CHECKPOINT_BATCH;
    }
    if (cq->i < cq->n)
        *out = &cq->q[cq->i];
    return ERR_OK;
}

static enum err cp_feed(const char *tenant, const struct cp_slot *c,
                        const struct audit_walk_ops *ops, void *arg)
{
    struct audit_checkpoint_rec r = {
        .tenant_id = str_from_cstr(tenant),
        .seq = c->seq,
        .hash = str_from(c->hash, c->hash_len),
        .at = str_from(c->at, c->at_len),
        .public_key = str_from(c->pub, c->pub_len),
        .signature = str_from(c->sig, c->sig_len),
    };
    return ops->checkpoint(arg, &r);
}

/* Feeds queued checkpoints while their seq is below (or, with eq, equal to) limit. */
static enum err cp_feed_until(struct tx *tx, const char *tenant, struct cp_queue *cq, int64_t limit,
                              bool eq, const struct audit_walk_ops *ops, void *arg)
{
    for (;;) {
        struct cp_slot *c = NULL;
        enum err e = cp_peek(tx, cq, &c);
        if (e || !c || c->seq > limit || (!eq && c->seq == limit))
            return e;
        e = cp_feed(tenant, c, ops, arg);
        cq->i++;
        if (e || ops->stop(arg))
            return e;
    }
}

/* One page of entries after *last; *n gets the rows seen. */
static enum err walk_page(struct tx *tx, const char *tenant, struct cp_queue *cq, int64_t *last,
                          const struct audit_walk_ops *ops, void *arg, int64_t *n, bool *stopped)
{
    struct stmt *st = NULL;
    *n = 0;
    enum err e = tx_prepare(tx,
                            "SELECT seq, at, actor_type, actor_id, client_ip, request_id, action, "
                            "target, outcome, details, prev_hash, hash FROM audit_log "
                            "WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                            &st);
    if (!e)
        e = stmt_bind_int(st, 2, *last);
    if (!e)
        e = stmt_bind_int(st, 3, AUDIT_VERIFY_PAGE);
    bool row = false;
    struct str tid = str_from_cstr(tenant);
    while (!e && (e = stmt_step(st, &row)) == ERR_OK && row) {
        (*n)++;
        struct audit_entry en = {
            .tenant_id = tid,
            .seq = stmt_col_int(st, 0),
            .at = stmt_col_text(st, 1),
            .actor_type = stmt_col_text(st, 2),
            .actor_id = stmt_col_text(st, 3),
            .client_ip = stmt_col_text(st, 4),
            .request_id = stmt_col_text(st, 5),
            .action = stmt_col_text(st, 6),
            .target = stmt_col_text(st, 7),
            .outcome = stmt_col_text(st, 8),
            .details = stmt_col_text(st, 9),
            .prev_hash = stmt_col_text(st, 10),
            .hash = stmt_col_text(st, 11),
        };
        e = cp_feed_until(tx, tenant, cq, en.seq, false, ops, arg);
        if (!e && !ops->stop(arg))
            e = ops->entry(arg, &en);
        if (en.seq > *last)
            *last = en.seq;
        if (!e && !ops->stop(arg))
            e = cp_feed_until(tx, tenant, cq, en.seq, true, ops, arg);
        if (!e && ops->stop(arg)) {
            *stopped = true;
            break;
        }
    }
    stmt_finish(st);
    return e;
}

static enum err read_head(struct tx *tx, bool *present, int64_t *seq, char hex[80], size_t *hex_len)
{
    struct stmt *st = NULL;
    *present = false;
    enum err e = tx_prepare(tx, "SELECT seq, hash FROM audit_heads WHERE tenant_id = $1", &st);
    bool row = false;
    if (!e)
        e = stmt_step(st, &row);
    if (!e && row) {
        *present = true;
        *seq = stmt_col_int(st, 0);
        *hex_len = copy_col(hex, 80, stmt_col_text(st, 1));
    }
    stmt_finish(st);
    return e;
}

enum err audit_walk(struct tx *tx, const char *tenant_id, int64_t after,
                    const struct audit_walk_ops *ops, void *arg)
{
    struct cp_queue *cq = calloc(1, sizeof *cq);
    if (!cq)
        err_oom();
    cq->after = after;
    int64_t last = after;
    bool stopped = false, head = false;
    int64_t head_seq = 0;
    char head_hex[80];
    size_t head_len = 0;
    enum err e = ERR_OK;
    for (int pass = 0;; pass++) {
        int64_t got = 0, n = 0;
        do {
            e = walk_page(tx, tenant_id, cq, &last, ops, arg, &n, &stopped);
            got += n;
        } while (!e && !stopped && n == AUDIT_VERIFY_PAGE);
        if (e || stopped)
            goto done;
        e = read_head(tx, &head, &head_seq, head_hex, &head_len);
        struct cp_slot *c = NULL;
        if (!e)
            e = cp_peek(tx, cq, &c);
        if (e)
            goto done;
        bool beyond = (head && head_seq > last) || (c && c->seq > last);
        /*
         * Read committed (PostgreSQL): rows committed after our last page may
         * explain a head or checkpoint beyond it; look again while that finds
         * new entries. In an SQLite snapshot the second pass finds nothing.
         */
        if (!beyond || pass >= WALK_MAX_RETRIES || (pass > 0 && got == 0))
            break;
        if (cq->i == cq->n)
            cq->done = false;
    }
    e = cp_feed_until(tx, tenant_id, cq, INT64_MAX, true, ops, arg);
    if (!e && head && !ops->stop(arg))
        e = ops->head(arg, head_seq, str_from(head_hex, head_len));
done:
    free(cq);
    return e;
}

enum err audit_db_find_hash(void *arg, const unsigned char hash[SHA256_LEN], int64_t not_seq,
                            int64_t *seq, bool *found)
{
    struct tx *tx = arg;
    char hex[AUDIT_HASH_HEX_LEN + 1];
    audit_hash_hex(hash, hex);
    *found = false;
    struct stmt *st = NULL;
    enum err e = tx_prepare(tx,
                            "SELECT seq FROM audit_log WHERE tenant_id = $1 AND hash = $2 "
                            "AND seq <> $3 ORDER BY seq LIMIT 1",
                            &st);
    if (!e)
        e = stmt_bind_text(st, 2, str_from(hex, AUDIT_HASH_HEX_LEN));
    if (!e)
        e = stmt_bind_int(st, 3, not_seq);
    bool row = false;
    if (!e)
        e = stmt_step(st, &row);
    if (!e && row) {
        *found = true;
        *seq = stmt_col_int(st, 0);
    }
    stmt_finish(st);
    return e;
}

static enum err ver_entry(void *arg, const struct audit_entry *e)
{
    return audit_verifier_entry(arg, e);
}

static enum err ver_checkpoint(void *arg, const struct audit_checkpoint_rec *c)
{
    return audit_verifier_checkpoint(arg, c);
}

static enum err ver_head(void *arg, int64_t seq, struct str hash_hex)
{
    return audit_verifier_head(arg, seq, hash_hex);
}

static bool ver_stop(void *arg)
{
    return audit_verifier_broken(arg);
}

static const struct audit_walk_ops VERIFY_OPS = {ver_entry, ver_checkpoint, ver_head, ver_stop};

enum err audit_verify_tenant(struct storage *s, const struct tenant_ctx *t,
                             const struct audit_trusted_keys *keys, struct audit_verify_result *out)
{
    memset(out, 0, sizeof *out);
    struct tx *tx = NULL;
    enum err e = storage_begin(s, t, TX_READ, &tx);
    if (e)
        return e;
    struct audit_hash_finder finder = {audit_db_find_hash, tx};
    struct audit_verifier *v = NULL;
    struct audit_trusted_keys trusted = {.n = 0};
    if (keys)
        trusted = *keys;
    audit_verifier_new(t->id, &trusted, &finder, &v);
    e = audit_db_trusted_keys(tx, t->id, &trusted);
    if (e == ERR_INVALID || e == ERR_LIMIT) {
        audit_verifier_fail(v, AUDIT_BREAK_MALFORMED,
                            e == ERR_LIMIT ? "malformed (too many key transitions)"
                                           : "malformed (a key transition cannot be read)");
        e = ERR_OK;
    }
    if (!e)
        e = audit_walk(tx, t->id, 0, &VERIFY_OPS, v);
    if (!e)
        e = storage_commit(tx);
    else
        storage_rollback(tx);
    if (!e)
        audit_verifier_finish(v, out);
    audit_verifier_free(v);
    return e;
}

/* ---- export ------------------------------------------------------------------- */

struct export_ctx {
    FILE *f;
    struct buf line;
    const char *tenant;
    bool failed;
};

static enum err export_write(struct export_ctx *x, struct jw *w)
{
    enum err e = jw_finish(w);
    if (!e)
        e = buf_putc(&x->line, '\n');
    if (!e && fwrite(x->line.data, 1, x->line.len, x->f) != x->line.len)
        e = ERR_IO;
    if (e)
        x->failed = true;
    return e;
}

static enum err export_entry(void *arg, const struct audit_entry *en)
{
    struct export_ctx *x = arg;
    struct jw w;
    buf_reset(&x->line);
    jw_init(&w, &x->line);
    jw_object_begin(&w);
    jw_key(&w, "type");
    jw_cstring(&w, "entry");
    jw_key(&w, "tenant_id");
    jw_string(&w, en->tenant_id);
    jw_key(&w, "seq");
    jw_int(&w, en->seq);
    static const char *const names[] = {"at",         "actor_type", "actor_id", "client_ip",
                                        "request_id", "action",     "target",   "outcome",
                                        "details",    "prev_hash",  "hash"};
    const struct str values[] = {en->at,         en->actor_type, en->actor_id, en->client_ip,
                                 en->request_id, en->action,     en->target,   en->outcome,
                                 en->details,    en->prev_hash,  en->hash};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        jw_key(&w, names[i]);
        jw_string(&w, values[i]);
    }
    jw_object_end(&w);
    return export_write(x, &w);
}

static enum err export_checkpoint(void *arg, const struct audit_checkpoint_rec *c)
{
    struct export_ctx *x = arg;
    struct jw w;
    buf_reset(&x->line);
    jw_init(&w, &x->line);
    jw_object_begin(&w);
    jw_key(&w, "type");
    jw_cstring(&w, "checkpoint");
    jw_key(&w, "tenant_id");
    jw_string(&w, c->tenant_id);
    jw_key(&w, "seq");
    jw_int(&w, c->seq);
    jw_key(&w, "hash");
    jw_string(&w, c->hash);
    jw_key(&w, "at");
    jw_string(&w, c->at);
    jw_key(&w, "public_key");
    jw_string(&w, c->public_key);
    jw_key(&w, "signature");
    jw_string(&w, c->signature);
    jw_object_end(&w);
    return export_write(x, &w);
}

static enum err export_head(void *arg, int64_t seq, struct str hash_hex)
{
    struct export_ctx *x = arg;
    struct jw w;
    buf_reset(&x->line);
    jw_init(&w, &x->line);
    jw_object_begin(&w);
    jw_key(&w, "type");
    jw_cstring(&w, "head");
    jw_key(&w, "tenant_id");
    jw_cstring(&w, x->tenant);
    jw_key(&w, "seq");
    jw_int(&w, seq);
    jw_key(&w, "hash");
    jw_string(&w, hash_hex);
    jw_object_end(&w);
    return export_write(x, &w);
}

/* The key transition lines, before the chain. */
static enum err export_transitions(struct tx *tx, struct export_ctx *x)
{
    struct stmt *st = NULL;
    enum err e = tx_prepare(tx,
                            "SELECT old_public_key, new_public_key, signature, at "
                            "FROM audit_key_transitions WHERE tenant_id = $1 "
                            "ORDER BY old_public_key",
                            &st);
    bool row = false;
    while (!e && (e = stmt_step(st, &row)) == ERR_OK && row) {
        static const char *const names[] = {"old_public_key", "new_public_key", "signature", "at"};
        struct jw w;
        buf_reset(&x->line);
        jw_init(&w, &x->line);
        jw_object_begin(&w);
        jw_key(&w, "type");
        jw_cstring(&w, "key_transition");
        jw_key(&w, "tenant_id");
        jw_cstring(&w, x->tenant);
        for (int i = 0; i < 4; i++) {
            jw_key(&w, names[i]);
            jw_string(&w, stmt_col_text(st, i));
        }
        jw_object_end(&w);
        e = export_write(x, &w);
    }
    stmt_finish(st);
    return e;
}

static bool export_stop(void *arg)
{
    return ((struct export_ctx *)arg)->failed;
}

enum err audit_export(struct storage *s, const struct tenant_ctx *t, FILE *out)
{
    static const struct audit_walk_ops ops = {export_entry, export_checkpoint, export_head,
                                              export_stop};
    struct tx *tx = NULL;
    enum err e = storage_begin(s, t, TX_READ, &tx);
    if (e)
        return e;
    struct export_ctx x = {.f = out, .tenant = t->id};
    buf_init(&x.line, AUDIT_EXPORT_MAX_LINE + 1);
    e = export_transitions(tx, &x);
    if (!e)
        e = audit_walk(tx, t->id, 0, &ops, &x);
    if (!e)
        e = storage_commit(tx);
    else
        storage_rollback(tx);
    if (!e && fflush(out) != 0)
        e = ERR_IO;
    buf_release(&x.line);
    return e;
}

/* ---- parsing an export -------------------------------------------------------- */

static const struct json_limits EXPORT_LIMITS = {
    .max_bytes = AUDIT_EXPORT_MAX_LINE,
    .max_depth = 1,
    .max_string = AUDIT_EXPORT_MAX_LINE,
    .max_members = 16,
};

/* Reads member key of obj as a string; false when absent or not a string. */
static bool member_str(const struct json *obj, const char *key, struct str *out)
{
    return json_as_str(json_get(obj, key), out);
}

enum err audit_export_parse_line(const char *line, size_t len, struct audit_record *out)
{
    memset(out, 0, sizeof *out);
    if (len > AUDIT_EXPORT_MAX_LINE)
        return ERR_LIMIT;
    struct json *doc = NULL;
    struct json_error je;
    enum err e = json_parse(line, len, &EXPORT_LIMITS, &doc, &je);
    if (e)
        return e;
    struct str type;
    int64_t seq = -1;
    bool ok = json_type_of(doc) == JSON_OBJECT && member_str(doc, "type", &type);
    if (ok && str_eq_cstr(type, "key_transition")) {
        struct audit_key_transition_rec *t = &out->transition;
        out->type = AUDIT_REC_KEY_TRANSITION;
        ok = json_count(doc) == 6 && member_str(doc, "tenant_id", &t->tenant_id) &&
             member_str(doc, "old_public_key", &t->old_public_key) &&
             member_str(doc, "new_public_key", &t->new_public_key) &&
             member_str(doc, "signature", &t->signature) && member_str(doc, "at", &t->at);
        if (!ok) {
            json_free(doc);
            memset(out, 0, sizeof *out);
            return ERR_INVALID;
        }
        out->doc_ = doc;
        return ERR_OK;
    }
    ok = ok && json_as_i64(json_get(doc, "seq"), &seq) && seq >= 0;
    size_t want = 0;
    if (ok && str_eq_cstr(type, "entry")) {
        struct audit_entry *en = &out->entry;
        out->type = AUDIT_REC_ENTRY;
        en->seq = seq;
        want = 14;
        ok = member_str(doc, "tenant_id", &en->tenant_id) && member_str(doc, "at", &en->at) &&
             member_str(doc, "actor_type", &en->actor_type) &&
             member_str(doc, "actor_id", &en->actor_id) &&
             member_str(doc, "client_ip", &en->client_ip) &&
             member_str(doc, "request_id", &en->request_id) &&
             member_str(doc, "action", &en->action) && member_str(doc, "target", &en->target) &&
             member_str(doc, "outcome", &en->outcome) && member_str(doc, "details", &en->details) &&
             member_str(doc, "prev_hash", &en->prev_hash) && member_str(doc, "hash", &en->hash);
    } else if (ok && str_eq_cstr(type, "checkpoint")) {
        struct audit_checkpoint_rec *c = &out->checkpoint;
        out->type = AUDIT_REC_CHECKPOINT;
        c->seq = seq;
        want = 7;
        ok = member_str(doc, "tenant_id", &c->tenant_id) && member_str(doc, "hash", &c->hash) &&
             member_str(doc, "at", &c->at) && member_str(doc, "public_key", &c->public_key) &&
             member_str(doc, "signature", &c->signature);
    } else if (ok && str_eq_cstr(type, "head")) {
        out->type = AUDIT_REC_HEAD;
        out->head.seq = seq;
        want = 4;
        ok = member_str(doc, "tenant_id", &out->head.tenant_id) &&
             member_str(doc, "hash", &out->head.hash);
    } else {
        ok = false;
    }
    if (!ok ||
        json_count(doc) != want) { /* no unknown members (duplicates are refused by json_parse) */
        json_free(doc);
        memset(out, 0, sizeof *out);
        return ERR_INVALID;
    }
    out->doc_ = doc;
    return ERR_OK;
}

void audit_record_release(struct audit_record *r)
{
    if (r && r->doc_) {
        json_free(r->doc_);
        r->doc_ = NULL;
    }
}

/*
 * Reads one line (without its newline) into line[0..cap). *len gets its
 * length; *too_long says the line did not fit (the rest of it is skipped).
 * Returns false at end of file with nothing read.
 */
static bool read_line(FILE *f, char *line, size_t cap, size_t *len, bool *too_long)
{
    size_t n = 0;
    int c;
    bool any = false;
    *too_long = false;
    while ((c = getc_unlocked(f)) != EOF) {
        any = true;
        if (c == '\n')
            break;
        if (n < cap)
            line[n++] = (char)c;
        else
            *too_long = true;
    }
    *len = n;
    return any;
}

struct file_finder {
    FILE *f;
    char *line;
};

static enum err file_find_hash(void *arg, const unsigned char hash[SHA256_LEN], int64_t not_seq,
                               int64_t *seq, bool *found)
{
    struct file_finder *ff = arg;
    *found = false;
    if (fseek(ff->f, 0, SEEK_SET) != 0)
        return ERR_OK; /* not seekable: cannot tell a reordering from a wrong link */
    size_t len;
    bool too_long;
    while (!*found && read_line(ff->f, ff->line, AUDIT_EXPORT_MAX_LINE, &len, &too_long)) {
        struct audit_record r;
        unsigned char h[SHA256_LEN];
        if (too_long || audit_export_parse_line(ff->line, len, &r) != ERR_OK)
            continue;
        if (r.type == AUDIT_REC_ENTRY && r.entry.seq != not_seq &&
            audit_hex_decode(r.entry.hash, h, SHA256_LEN) && memcmp(h, hash, SHA256_LEN) == 0) {
            *found = true;
            *seq = r.entry.seq;
        }
        audit_record_release(&r);
    }
    return ERR_OK;
}

/* Key transition lines read so far, applied when the chain begins. */
struct export_transitions {
    struct audit_key_transition t[AUDIT_MAX_KEY_TRANSITIONS];
    size_t n;
    bool applied;
};

/* Extends keys with the transitions read; false (and a break) when that fails. */
static bool apply_transitions(struct audit_verifier *v, struct export_transitions *xt,
                              struct audit_trusted_keys *keys)
{
    if (xt->applied)
        return true;
    xt->applied = true;
    if (audit_trusted_keys_extend(keys, str_from_cstr(v->tenant), xt->t, xt->n) != ERR_OK) {
        audit_verifier_fail(v, AUDIT_BREAK_MALFORMED, "malformed (too many trusted keys)");
        return false;
    }
    return true;
}

enum err audit_verify_export(FILE *in, const struct audit_trusted_keys *keys,
                             struct audit_verify_result *out,
                             char tenant_out[STORAGE_TENANT_ID_LEN + 1])
{
    memset(out, 0, sizeof *out);
    tenant_out[0] = '\0';
    char *line = malloc(AUDIT_EXPORT_MAX_LINE + 1);
    struct file_finder ff = {in, malloc(AUDIT_EXPORT_MAX_LINE + 1)};
    struct export_transitions *xt = calloc(1, sizeof *xt);
    if (!line || !ff.line || !xt)
        err_oom();
    struct audit_trusted_keys trusted = {.n = 0};
    if (keys)
        trusted = *keys;
    struct audit_hash_finder finder = {file_find_hash, &ff};
    struct audit_verifier *v = NULL;
    audit_verifier_new("", &trusted, &finder, &v);
    v->require_anchor = true;
    enum err e = ERR_OK;
    size_t len, lineno = 0;
    bool too_long, after_head = false;
    char why[96];
    while (!v->broken && read_line(in, line, AUDIT_EXPORT_MAX_LINE, &len, &too_long)) {
        lineno++;
        struct audit_record r;
        if (too_long || audit_export_parse_line(line, len, &r) != ERR_OK) {
            snprintf(why, sizeof why, "malformed (line %zu is not an export record)", lineno);
            audit_verifier_fail(v, AUDIT_BREAK_MALFORMED, why);
            break;
        }
        struct str tid = r.type == AUDIT_REC_ENTRY            ? r.entry.tenant_id
                         : r.type == AUDIT_REC_CHECKPOINT     ? r.checkpoint.tenant_id
                         : r.type == AUDIT_REC_KEY_TRANSITION ? r.transition.tenant_id
                                                              : r.head.tenant_id;
        if (lineno == 1) {
            if (!str_is_uuid(tid)) {
                audit_record_release(&r);
                audit_verifier_fail(v, AUDIT_BREAK_MALFORMED, "malformed (no tenant id on line 1)");
                break;
            }
            memcpy(v->tenant, tid.ptr, STORAGE_TENANT_ID_LEN);
            v->tenant[STORAGE_TENANT_ID_LEN] = '\0';
        }
        if (after_head) {
            snprintf(why, sizeof why, "malformed (line %zu follows the head)", lineno);
            audit_verifier_fail(v, AUDIT_BREAK_MALFORMED, why);
        } else if (r.type == AUDIT_REC_KEY_TRANSITION) {
            if (xt->applied || !str_eq_cstr(tid, v->tenant) || xt->n == AUDIT_MAX_KEY_TRANSITIONS ||
                audit_key_transition_decode(&r.transition, &xt->t[xt->n]) != ERR_OK) {
                snprintf(why, sizeof why, "malformed (line %zu: a key transition out of place)",
                         lineno);
                audit_verifier_fail(v, AUDIT_BREAK_MALFORMED, why);
            } else {
                xt->n++;
            }
        } else if (!apply_transitions(v, xt, &trusted)) {
            /* the break is recorded */
        } else if (r.type == AUDIT_REC_ENTRY) {
            e = audit_verifier_entry(v, &r.entry);
        } else if (r.type == AUDIT_REC_CHECKPOINT) {
            e = audit_verifier_checkpoint(v, &r.checkpoint);
        } else if (!str_eq_cstr(tid, v->tenant)) {
            audit_verifier_fail(v, AUDIT_BREAK_MALFORMED, "malformed (head of another tenant)");
        } else {
            after_head = true;
            e = audit_verifier_head(v, r.head.seq, r.head.hash);
        }
        audit_record_release(&r);
        if (e)
            break;
    }
    if (!e && ferror(in))
        e = ERR_IO;
    if (!e && lineno == 0)
        audit_verifier_fail(v, AUDIT_BREAK_MALFORMED, "malformed (empty export)");
    if (!e) {
        audit_verifier_finish(v, out);
        snprintf(tenant_out, STORAGE_TENANT_ID_LEN + 1, "%s", v->tenant);
    }
    audit_verifier_free(v);
    free(line);
    free(ff.line);
    free(xt);
    return e;
}
