/*
 * checkpoint — signed chain heads (L5; docs/AUDIT.md "Checkpoints").
 *
 * A checkpoint is an Ed25519 signature, by a key derived from the master key,
 * over a short text naming the tenant, a seq, that entry's hash and the time.
 * Someone who can write the database but does not hold the master key can no
 * longer rewrite the chain consistently (recomputing every hash) nor cut its
 * tail: the verifier finds a checkpoint whose signed hash no longer matches,
 * or one beyond the last entry. Before signing, the entries since the
 * previous checkpoint are verified, so a tampered chain is never signed; that
 * previous checkpoint is only trusted when it checks out, else the whole chain
 * is verified.
 *
 * A master key rotation changes the checkpoint key; key transitions, signed
 * by the new key, vouch for the old one (per tenant, recorded by
 * `shiplog keys rotate`), so old checkpoints stay verifiable once the old
 * master key is gone.
 *
 * The checkpointer is a thread for the server: every interval it checkpoints
 * the tenants that audit_append marked since its previous round.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit_internal.h"
#include "core/base64.h"

#define CHECKPOINT_TAG     "shiplog-audit-checkpoint-v1\n"
#define TRANSITION_TAG     "shiplog-audit-key-transition-v1\n"
#define CHECKPOINTER_BATCH 64 /* tenants taken from the dirty set at a time */

/* DER SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410): then 32 key bytes. */
static const unsigned char ED25519_SPKI_PREFIX[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                                      0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
#define PEM_BEGIN "-----BEGIN PUBLIC KEY-----"
#define PEM_END   "-----END PUBLIC KEY-----"

enum err audit_checkpoint_message(struct str tenant_id, int64_t seq, struct str hash_hex,
                                  struct str at, struct buf *out)
{
    enum err e = buf_append(out, CHECKPOINT_TAG, sizeof CHECKPOINT_TAG - 1);
    if (!e)
        e = buf_append(out, tenant_id.ptr, tenant_id.len);
    if (!e)
        e = buf_printf(out, "\n%lld\n", (long long)seq);
    if (!e)
        e = buf_append(out, hash_hex.ptr, hash_hex.len);
    if (!e)
        e = buf_putc(out, '\n');
    if (!e)
        e = buf_append(out, at.ptr, at.len);
    if (!e)
        e = buf_putc(out, '\n');
    return e;
}

/* ---- PEM ---------------------------------------------------------------------- */

enum err audit_public_key_pem(const unsigned char pub[SIGN_PUBLIC_LEN], struct buf *out)
{
    unsigned char der[sizeof ED25519_SPKI_PREFIX + SIGN_PUBLIC_LEN];
    memcpy(der, ED25519_SPKI_PREFIX, sizeof ED25519_SPKI_PREFIX);
    memcpy(der + sizeof ED25519_SPKI_PREFIX, pub, SIGN_PUBLIC_LEN);
    enum err e = buf_puts(out, PEM_BEGIN "\n");
    if (!e)
        e = base64_encode(out, der, sizeof der);
    if (!e)
        e = buf_puts(out, "\n" PEM_END "\n");
    return e;
}

/* Offset of needle in hay, or -1. */
static long find(struct str hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= hay.len && i <= hay.len - n; i++)
        if (memcmp(hay.ptr + i, needle, n) == 0)
            return (long)i;
    return -1;
}

enum err audit_public_key_from_pem(struct str pem, unsigned char pub[SIGN_PUBLIC_LEN])
{
    long b = find(pem, PEM_BEGIN);
    if (b < 0)
        return ERR_INVALID;
    struct str rest =
        str_from(pem.ptr + b + strlen(PEM_BEGIN), pem.len - (size_t)b - strlen(PEM_BEGIN));
    long end = find(rest, PEM_END);
    if (end < 0)
        return ERR_INVALID;
    struct str body = str_from(rest.ptr, (size_t)end);
    struct str after = str_from(rest.ptr + end, rest.len - (size_t)end);
    if (find(body, "-----") >= 0 || find(after, PEM_BEGIN) >= 0)
        return ERR_INVALID; /* exactly one block */
    unsigned char der[64];
    size_t n = 0;
    if (base64_decode(body, der, sizeof der, &n) != ERR_OK ||
        n != sizeof ED25519_SPKI_PREFIX + SIGN_PUBLIC_LEN ||
        memcmp(der, ED25519_SPKI_PREFIX, sizeof ED25519_SPKI_PREFIX) != 0)
        return ERR_INVALID;
    memcpy(pub, der + sizeof ED25519_SPKI_PREFIX, SIGN_PUBLIC_LEN);
    return ERR_OK;
}

/* ---- making a checkpoint ------------------------------------------------------- */

static enum err ck_entry(void *arg, const struct audit_entry *e)
{
    return audit_verifier_entry(arg, e);
}

static enum err ck_checkpoint(void *arg, const struct audit_checkpoint_rec *c)
{
    return audit_verifier_checkpoint(arg, c);
}

static enum err ck_head(void *arg, int64_t seq, struct str hash_hex)
{
    return audit_verifier_head(arg, seq, hash_hex);
}

static bool ck_stop(void *arg)
{
    return audit_verifier_broken(arg);
}

/* The newest checkpoint row, copied out of its statement. */
struct ck_last {
    bool present;
    int64_t seq;
    char hash[80], at[48], pub[80], sig[144];
};

/* Copies a column; a value too long for dst is cut (it then no longer decodes). */
static void ck_copy(char *dst, size_t cap, struct str v)
{
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    if (n)
        memcpy(dst, v.ptr, n);
    dst[n] = '\0';
}

/* The head (locked on PostgreSQL) and the newest checkpoint of tx's tenant. */
static enum err ck_state(struct tx *tx, int64_t *head_seq, char head_hex[AUDIT_HASH_HEX_LEN + 1],
                         struct ck_last *cp)
{
    struct stmt *st = NULL;
    bool row = false;
    *head_seq = 0;
    memset(cp, 0, sizeof *cp);
    enum err e =
        tx_prepare(tx,
                   storage_tx_backend(tx) == STORAGE_POSTGRES
                       ? "SELECT seq, hash FROM audit_heads WHERE tenant_id = $1 FOR UPDATE"
                       : "SELECT seq, hash FROM audit_heads WHERE tenant_id = $1",
                   &st);
    if (!e)
        e = stmt_step(st, &row);
    if (!e && row) {
        struct str h = stmt_col_text(st, 1);
        *head_seq = stmt_col_int(st, 0);
        if (h.len != AUDIT_HASH_HEX_LEN)
            e = ERR_CONFLICT;
        else
            memcpy(head_hex, h.ptr, AUDIT_HASH_HEX_LEN);
        head_hex[AUDIT_HASH_HEX_LEN] = '\0';
    }
    stmt_finish(st);
    if (e || *head_seq <= 0)
        return e;
    e = tx_prepare(tx,
                   "SELECT seq, hash, at, public_key, signature FROM audit_checkpoints "
                   "WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1",
                   &st);
    if (!e)
        e = stmt_step(st, &row);
    if (!e && row) {
        cp->present = true;
        cp->seq = stmt_col_int(st, 0);
        ck_copy(cp->hash, sizeof cp->hash, stmt_col_text(st, 1));
        ck_copy(cp->at, sizeof cp->at, stmt_col_text(st, 2));
        ck_copy(cp->pub, sizeof cp->pub, stmt_col_text(st, 3));
        ck_copy(cp->sig, sizeof cp->sig, stmt_col_text(st, 4));
    }
    stmt_finish(st);
    return e;
}

/* The stored hash of entry seq of tx's tenant; *found false when there is none. */
static enum err ck_entry_hash(struct tx *tx, int64_t seq, unsigned char hash[SHA256_LEN],
                              bool *found)
{
    struct stmt *st = NULL;
    bool row = false;
    *found = false;
    enum err e =
        tx_prepare(tx, "SELECT hash FROM audit_log WHERE tenant_id = $1 AND seq = $2", &st);
    if (!e)
        e = stmt_bind_int(st, 2, seq);
    if (!e)
        e = stmt_step(st, &row);
    if (!e && row)
        *found = audit_hex_decode(stmt_col_text(st, 0), hash, SHA256_LEN);
    stmt_finish(st);
    return e;
}

/*
 * A verifier to check the chain with before signing. It resumes after the
 * newest checkpoint only when that checkpoint checks out (a trusted key, a
 * valid signature, at or before the head, over the hash its entry has now:
 * the verifier itself judges it, resumed just before it); otherwise it starts
 * from the beginning of the chain, so a forged row cannot vouch for anything.
 */
static enum err ck_verifier(struct tx *tx, const struct tenant_ctx *t,
                            const struct audit_trusted_keys *keys,
                            const struct audit_hash_finder *finder, int64_t head_seq,
                            const struct ck_last *cp, struct audit_verifier **v, int64_t *after)
{
    *after = 0;
    audit_verifier_new(t->id, keys, finder, v);
    if (!cp->present)
        return ERR_OK;
    unsigned char hash[SHA256_LEN];
    bool found = false;
    enum err e = ERR_OK;
    if (cp->seq >= 1 && cp->seq <= head_seq)
        e = ck_entry_hash(tx, cp->seq, hash, &found);
    if (e || !found) {
        log_warn("audit: the newest checkpoint has no entry, verifying the whole chain",
                 LOG_STR("tenant", t->id), LOG_INT("seq", cp->seq), LOG_INT("head", head_seq));
        return e;
    }
    audit_verifier_resume(*v, cp->seq, hash);
    struct audit_checkpoint_rec rec = {
        .tenant_id = str_from_cstr(t->id),
        .seq = cp->seq,
        .hash = str_from_cstr(cp->hash),
        .at = str_from_cstr(cp->at),
        .public_key = str_from_cstr(cp->pub),
        .signature = str_from_cstr(cp->sig),
    };
    e = audit_verifier_checkpoint(*v, &rec);
    if (!e && !audit_verifier_broken(*v)) {
        *after = cp->seq;
        return ERR_OK;
    }
    struct audit_verify_result r;
    audit_verifier_finish(*v, &r);
    log_warn("audit: the newest checkpoint does not check out, verifying the whole chain",
             LOG_STR("tenant", t->id), LOG_INT("seq", cp->seq), LOG_STR("why", r.why));
    audit_verifier_free(*v);
    audit_verifier_new(t->id, keys, finder, v);
    return e;
}

static enum err ck_insert(struct tx *tx, const struct tenant_ctx *t, const struct sign_key *k,
                          int64_t seq, const char *hash_hex)
{
    char at[AUDIT_TIME_LEN + 1];
    audit_now(at);
    struct buf msg = BUF_INIT(512);
    unsigned char sig[SIGN_SIG_LEN];
    enum err e =
        audit_checkpoint_message(str_from_cstr(t->id), seq, str_from(hash_hex, AUDIT_HASH_HEX_LEN),
                                 str_from(at, AUDIT_TIME_LEN), &msg);
    if (!e)
        e = sign_ed25519(k, msg.data, msg.len, sig);
    buf_release(&msg);
    if (e)
        return e;
    char pub_hex[2 * SIGN_PUBLIC_LEN + 1], sig_hex[2 * SIGN_SIG_LEN + 1];
    audit_hex(k->pub, SIGN_PUBLIC_LEN, pub_hex);
    audit_hex(sig, SIGN_SIG_LEN, sig_hex);
    struct stmt *st = NULL;
    e = tx_prepare(
        tx,
        "INSERT INTO audit_checkpoints (tenant_id, seq, hash, at, public_key, signature) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        &st);
    if (!e)
        e = stmt_bind_int(st, 2, seq);
    if (!e)
        e = stmt_bind_text(st, 3, str_from(hash_hex, AUDIT_HASH_HEX_LEN));
    if (!e)
        e = stmt_bind_text(st, 4, str_from(at, AUDIT_TIME_LEN));
    if (!e)
        e = stmt_bind_text(st, 5, str_from_cstr(pub_hex));
    if (!e)
        e = stmt_bind_text(st, 6, str_from_cstr(sig_hex));
    bool row = false;
    if (!e)
        e = stmt_step(st, &row);
    stmt_finish(st);
    return e;
}

enum err audit_checkpoint(struct storage *s, const struct tenant_ctx *t, const struct sign_key *k,
                          bool *made)
{
    static const struct audit_walk_ops ops = {ck_entry, ck_checkpoint, ck_head, ck_stop};
    if (made)
        *made = false;
    if (!s || !t || !k)
        return ERR_INVALID;
    struct tx *tx = NULL;
    enum err e = storage_begin(s, t, TX_WRITE, &tx);
    if (e)
        return e;
    int64_t head_seq = 0;
    char head_hex[AUDIT_HASH_HEX_LEN + 1];
    struct ck_last cp;
    e = ck_state(tx, &head_seq, head_hex, &cp);
    if (e || head_seq <= 0) { /* no chain yet */
        storage_rollback(tx);
        if (e == ERR_CONFLICT)
            log_error("audit: malformed head, not signing", LOG_STR("tenant", t->id));
        return e;
    }
    /* trusted: k's key and the older keys t's key transitions lead to */
    struct audit_trusted_keys keys = {.n = 0};
    e = audit_trusted_keys_add(&keys, k->pub);
    if (!e)
        e = audit_db_trusted_keys(tx, t->id, &keys);
    if (e == ERR_INVALID || e == ERR_LIMIT) {
        log_error("audit: unreadable key transitions, not signing", LOG_STR("tenant", t->id),
                  LOG_ERR(e));
        e = ERR_CONFLICT;
    }
    struct audit_hash_finder finder = {audit_db_find_hash, tx};
    struct audit_verifier *v = NULL;
    int64_t after = 0;
    if (!e)
        e = ck_verifier(tx, t, &keys, &finder, head_seq, &cp, &v, &after);
    if (!e && after == head_seq) { /* nothing new since a sound checkpoint */
        audit_verifier_free(v);
        storage_rollback(tx);
        return ERR_OK;
    }
    /* the entries after `after` must link up to the head */
    if (!e)
        e = audit_walk(tx, t->id, after, &ops, v);
    if (!e) {
        struct audit_verify_result r;
        audit_verifier_finish(v, &r);
        int64_t last_seq = audit_verifier_last(v, NULL);
        if (r.kind != AUDIT_OK || last_seq != head_seq) {
            log_error("audit: chain does not verify, not signing", LOG_STR("tenant", t->id),
                      LOG_INT("seq", r.seq), LOG_STR("why", r.why));
            e = ERR_CONFLICT;
        }
    }
    audit_verifier_free(v);
    if (!e)
        e = ck_insert(tx, t, k, head_seq, head_hex);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    if (!e && made)
        *made = true;
    return e;
}

/* ---- key transitions ------------------------------------------------------------ */

enum err audit_key_transition_message(struct str tenant_id, const struct audit_key_transition *t,
                                      struct buf *out)
{
    char old_hex[2 * SIGN_PUBLIC_LEN + 1], new_hex[2 * SIGN_PUBLIC_LEN + 1];
    audit_hex(t->old_pub, SIGN_PUBLIC_LEN, old_hex);
    audit_hex(t->new_pub, SIGN_PUBLIC_LEN, new_hex);
    enum err e = buf_append(out, TRANSITION_TAG, sizeof TRANSITION_TAG - 1);
    if (!e)
        e = buf_append(out, tenant_id.ptr, tenant_id.len);
    if (!e)
        e = buf_printf(out, "\n%s\n%s\n%s\n", old_hex, new_hex, t->at);
    return e;
}

/* Inserts one transition from old_pub to k unless t has one from old_pub; *made when it did. */
static enum err kt_insert(struct tx *tx, const struct tenant_ctx *t, const struct sign_key *k,
                          const unsigned char old_pub[SIGN_PUBLIC_LEN], bool *made)
{
    struct audit_key_transition kt;
    memcpy(kt.old_pub, old_pub, SIGN_PUBLIC_LEN);
    memcpy(kt.new_pub, k->pub, SIGN_PUBLIC_LEN);
    audit_now(kt.at);
    struct buf msg = BUF_INIT(512);
    enum err e = audit_key_transition_message(str_from_cstr(t->id), &kt, &msg);
    if (!e)
        e = sign_ed25519(k, msg.data, msg.len, kt.signature);
    buf_release(&msg);
    if (e)
        return e;
    char old_hex[2 * SIGN_PUBLIC_LEN + 1], new_hex[2 * SIGN_PUBLIC_LEN + 1];
    char sig_hex[2 * SIGN_SIG_LEN + 1];
    audit_hex(kt.old_pub, SIGN_PUBLIC_LEN, old_hex);
    audit_hex(kt.new_pub, SIGN_PUBLIC_LEN, new_hex);
    audit_hex(kt.signature, SIGN_SIG_LEN, sig_hex);
    struct stmt *st = NULL;
    e = tx_prepare(tx,
                   "INSERT INTO audit_key_transitions "
                   "(tenant_id, old_public_key, new_public_key, signature, at) "
                   "VALUES ($1, $2, $3, $4, $5) "
                   "ON CONFLICT (tenant_id, old_public_key) DO NOTHING",
                   &st);
    if (!e)
        e = stmt_bind_text(st, 2, str_from_cstr(old_hex));
    if (!e)
        e = stmt_bind_text(st, 3, str_from_cstr(new_hex));
    if (!e)
        e = stmt_bind_text(st, 4, str_from_cstr(sig_hex));
    if (!e)
        e = stmt_bind_text(st, 5, str_from(kt.at, AUDIT_TIME_LEN));
    bool row = false;
    if (!e)
        e = stmt_step(st, &row);
    if (!e)
        *made = stmt_changes(st) == 1;
    stmt_finish(st);
    return e;
}

enum err audit_key_transitions_record(struct storage *s, const struct tenant_ctx *t,
                                      const struct sign_key *k,
                                      const unsigned char (*old_pubs)[SIGN_PUBLIC_LEN],
                                      size_t n_old, size_t *made)
{
    if (made)
        *made = 0;
    if (!s || !t || !k || (n_old && !old_pubs))
        return ERR_INVALID;
    struct tx *tx = NULL;
    enum err e = storage_begin(s, t, TX_WRITE, &tx);
    if (e)
        return e;
    size_t n = 0;
    for (size_t i = 0; i < n_old && !e; i++) {
        bool one = false;
        if (memcmp(old_pubs[i], k->pub, SIGN_PUBLIC_LEN) != 0)
            e = kt_insert(tx, t, k, old_pubs[i], &one);
        n += one;
    }
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    if (!e && made)
        *made = n;
    return e;
}

/* ---- the checkpointer thread ---------------------------------------------------- */

struct audit_checkpointer {
    struct storage *s;
    struct sign_key key; /* a copy, wiped at stop */
    unsigned interval_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    bool stop;
};

static void checkpointer_round(struct audit_checkpointer *c)
{
    char ids[CHECKPOINTER_BATCH][STORAGE_TENANT_ID_LEN + 1];
    size_t n;
    while ((n = audit_dirty_take(ids, CHECKPOINTER_BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            struct tenant_ctx t;
            memcpy(t.id, ids[i], sizeof t.id);
            bool made = false;
            enum err e = audit_checkpoint(c->s, &t, &c->key, &made);
            if (e)
                log_error("audit: checkpoint failed", LOG_STR("tenant", t.id), LOG_ERR(e));
            else if (made)
                log_debug("audit: checkpoint", LOG_STR("tenant", t.id));
        }
    }
}

static void *checkpointer_main(void *arg)
{
    struct audit_checkpointer *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += c->interval_s;
        int rc = 0;
        while (!c->stop && rc == 0)
            rc = pthread_cond_timedwait(&c->cv, &c->mu, &until);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->mu);
        checkpointer_round(c);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    checkpointer_round(c); /* the final round */
    return NULL;
}

enum err audit_checkpointer_start(struct storage *s, const struct sign_key *k, unsigned interval_s,
                                  struct audit_checkpointer **out)
{
    *out = NULL;
    if (!s || !k)
        return ERR_INVALID;
    struct audit_checkpointer *c = calloc(1, sizeof *c);
    if (!c)
        err_oom();
    c->s = s;
    c->key = *k;
    c->interval_s = interval_s ? interval_s : AUDIT_CHECKPOINT_INTERVAL_DEFAULT;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->mu, NULL);
    if (pthread_create(&c->thread, NULL, checkpointer_main, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        sign_key_wipe(&c->key);
        free(c);
        return ERR_INTERNAL;
    }
    pthread_setname_np(c->thread, "sl-audit-ckpt"); /* top -H, perf, gdb */
    *out = c;
    return ERR_OK;
}

void audit_checkpointer_stop(struct audit_checkpointer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    sign_key_wipe(&c->key);
    free(c);
}
