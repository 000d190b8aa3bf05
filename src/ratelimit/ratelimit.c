/*
 * ratelimit — the bucket table, the in-process backend and the decisions.
 *
 * In-process table: RL_SHARDS shards, each behind its own mutex so the HTTP
 * threads rarely contend. A shard is a fixed array of RL_SHARD_CAP entries
 * (allocated once, never grown: the bound is structural), a chained hash
 * index over it, and an LRU list; when a shard is full the least recently hit
 * entry is reused. Entries are identified by the bucket and the first 16
 * bytes of HMAC-SHA-256(hash key, key), so the table never holds a raw IP or
 * email, nor a digest anyone could recompute from a guess. The same digest,
 * in full, names the key in Redis.
 *
 * With Redis configured the shared count decides and the hits Redis allowed
 * are also recorded here, so that a fallback continues from this process's
 * recent history instead of from zero (never "no limit" after a failure).
 */
#include "ratelimit/ratelimit.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "crypto/hash.h"
#include "crypto/rand.h"

#define RL_SHARDS    16
#define RL_SHARD_CAP (RL_MAX_KEYS / RL_SHARDS)
#define RL_HEADS     8192 /* hash chains per shard: a power of two >= RL_SHARD_CAP */
#define RL_ID_LEN    16
#define RL_NIL       UINT32_MAX

_Static_assert(RL_HEADS >= RL_SHARD_CAP, "hash index smaller than the shard");
_Static_assert((RL_HEADS & (RL_HEADS - 1)) == 0, "RL_HEADS must be a power of two");
_Static_assert(RL_SHARD_CAP *RL_SHARDS <= RL_MAX_KEYS, "shards exceed RL_MAX_KEYS");

/* The documented defaults (docs/RATELIMITS.md); name is part of the Redis key. */
static const struct rl_limit LIMITS[RL_BUCKET_COUNT_] = {
    [RL_LOGIN] = {"login", 10, 15 * 60},
    [RL_SIGNUP] = {"signup", 5, 60 * 60},
    [RL_PASSWORD_RESET] = {"password_reset", 5, 15 * 60},
    [RL_MAGIC_LINK] = {"magic_link", 5, 15 * 60},
    [RL_API] = {"api", 600, 60},
    [RL_WEBHOOK] = {"webhook", 30, 600},
};

struct rl_entry {
    unsigned char id[RL_ID_LEN]; /* truncated HMAC of the caller's key */
    uint32_t bucket;
    uint32_t chain;        /* next entry in the same hash chain */
    uint32_t newer, older; /* LRU list neighbours */
    uint64_t window_idx;
    uint32_t cur, prev;
};

struct rl_shard {
    pthread_mutex_t lock;
    uint32_t heads[RL_HEADS];
    struct rl_entry *entries; /* RL_SHARD_CAP, allocated once */
    uint32_t n;               /* entries in use: [0, n) */
    uint32_t newest, oldest;  /* LRU ends */
};

struct ratelimit {
    struct rl_redis *redis;                  /* NULL: in-process only */
    unsigned char hash_key[RL_HASH_KEY_LEN]; /* HMAC key for callers' keys; secret */
    struct rl_shard shards[RL_SHARDS];
};

const struct rl_limit *ratelimit_limit(enum rl_bucket b)
{
    if ((unsigned)b >= RL_BUCKET_COUNT_)
        return NULL;
    return &LIMITS[b];
}

enum err ratelimit_new(struct config *cfg, struct ratelimit **out)
{
    *out = NULL;
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        err_oom();
    for (size_t i = 0; i < RL_SHARDS; i++) {
        struct rl_shard *s = &rl->shards[i];
        if (pthread_mutex_init(&s->lock, NULL))
            err_oom();
        memset(s->heads, 0xff, sizeof(s->heads));
        s->entries = calloc(RL_SHARD_CAP, sizeof(*s->entries));
        if (!s->entries)
            err_oom();
        s->newest = s->oldest = RL_NIL;
    }
    enum err e = rand_bytes(rl->hash_key, sizeof(rl->hash_key));
    if (!e && cfg && cfg->redis_url.set)
        e = rl_redis_new(cfg, &rl->redis);
    if (e) {
        ratelimit_free(rl);
        return e;
    }
    *out = rl;
    return ERR_OK;
}

void ratelimit_set_key(struct ratelimit *rl, const unsigned char key[RL_HASH_KEY_LEN])
{
    memcpy(rl->hash_key, key, RL_HASH_KEY_LEN);
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    rl_redis_free(rl->redis);
    crypto_wipe(rl->hash_key, sizeof(rl->hash_key));
    for (size_t i = 0; i < RL_SHARDS; i++) {
        pthread_mutex_destroy(&rl->shards[i].lock);
        free(rl->shards[i].entries);
    }
    free(rl);
}

/* ---- in-process table ---------------------------------------------------- */

static uint32_t chain_of(const unsigned char *id, uint32_t bucket)
{
    uint32_t h =
        (uint32_t)id[1] | (uint32_t)id[2] << 8 | (uint32_t)id[3] << 16 | (uint32_t)id[4] << 24;
    return (h ^ (bucket * 0x9e3779b9u)) & (RL_HEADS - 1);
}

static void lru_unlink(struct rl_shard *s, uint32_t i)
{
    struct rl_entry *e = &s->entries[i];
    if (e->newer != RL_NIL)
        s->entries[e->newer].older = e->older;
    else
        s->newest = e->older;
    if (e->older != RL_NIL)
        s->entries[e->older].newer = e->newer;
    else
        s->oldest = e->newer;
    e->newer = e->older = RL_NIL;
}

static void lru_push(struct rl_shard *s, uint32_t i)
{
    struct rl_entry *e = &s->entries[i];
    e->newer = RL_NIL;
    e->older = s->newest;
    if (s->newest != RL_NIL)
        s->entries[s->newest].newer = i;
    s->newest = i;
    if (s->oldest == RL_NIL)
        s->oldest = i;
}

static void chain_unlink(struct rl_shard *s, uint32_t i)
{
    struct rl_entry *e = &s->entries[i];
    uint32_t *link = &s->heads[chain_of(e->id, e->bucket)];
    while (*link != RL_NIL) {
        if (*link == i) {
            *link = e->chain;
            return;
        }
        link = &s->entries[*link].chain;
    }
    ASSERT(!"rate-limit entry missing from its hash chain");
}

/* The entry for (bucket, id), created (evicting the least recent) when absent. */
static struct rl_entry *shard_entry(struct rl_shard *s, uint32_t bucket, const unsigned char *id,
                                    bool *fresh)
{
    uint32_t h = chain_of(id, bucket);
    for (uint32_t i = s->heads[h]; i != RL_NIL; i = s->entries[i].chain) {
        struct rl_entry *e = &s->entries[i];
        if (e->bucket == bucket && memcmp(e->id, id, RL_ID_LEN) == 0) {
            lru_unlink(s, i);
            lru_push(s, i);
            *fresh = false;
            return e;
        }
    }
    uint32_t i;
    if (s->n < RL_SHARD_CAP) {
        i = s->n++;
    } else {
        i = s->oldest;
        ASSERT(i != RL_NIL);
        chain_unlink(s, i);
        lru_unlink(s, i);
    }
    struct rl_entry *e = &s->entries[i];
    memset(e, 0, sizeof(*e));
    memcpy(e->id, id, RL_ID_LEN);
    e->bucket = bucket;
    e->chain = s->heads[h];
    s->heads[h] = i;
    lru_push(s, i);
    *fresh = true;
    return e;
}

static uint64_t elapsed_in(uint64_t now_ms, uint64_t window_ms, uint64_t idx)
{
    uint64_t start = idx * window_ms;
    if (now_ms <= start)
        return 0;
    uint64_t e = now_ms - start;
    return e >= window_ms ? window_ms - 1 : e;
}

/* The rule, shared with the Redis script: prev weighted by what is left of its window. */
static bool fits(uint64_t prev, uint64_t cur, uint64_t elapsed, uint64_t window_ms, unsigned limit)
{
    return prev * (window_ms - elapsed) + (cur + 1) * window_ms <= (uint64_t)limit * window_ms;
}

/*
 * One hit in the in-process table. record_only: Redis already allowed it, so
 * count it without judging (the shadow copy for a later fallback).
 */
static void local_hit(struct ratelimit *rl, uint32_t bucket, const unsigned char *digest,
                      uint64_t window_ms, uint64_t now_ms, bool record_only,
                      struct rl_window_state *st)
{
    struct rl_shard *s = &rl->shards[digest[0] % RL_SHARDS];
    pthread_mutex_lock(&s->lock);
    bool fresh;
    struct rl_entry *e = shard_entry(s, bucket, digest, &fresh);
    uint64_t idx = now_ms / window_ms;
    if (fresh) {
        e->window_idx = idx;
    } else if (idx == e->window_idx + 1) {
        e->prev = e->cur;
        e->cur = 0;
        e->window_idx = idx;
    } else if (idx > e->window_idx + 1) {
        e->prev = e->cur = 0;
        e->window_idx = idx;
    }
    /* idx < window_idx: the clock stepped back; keep counting in the newer window */
    uint64_t elapsed = elapsed_in(now_ms, window_ms, e->window_idx);
    st->allowed = record_only || fits(e->prev, e->cur, elapsed, window_ms, LIMITS[bucket].limit);
    if (st->allowed && e->cur < UINT32_MAX)
        e->cur++;
    st->cur = e->cur;
    st->prev = e->prev;
    st->window_idx = e->window_idx;
    pthread_mutex_unlock(&s->lock);
}

size_t ratelimit_local_count(struct ratelimit *rl)
{
    size_t n = 0;
    for (size_t i = 0; i < RL_SHARDS; i++) {
        pthread_mutex_lock(&rl->shards[i].lock);
        n += rl->shards[i].n;
        pthread_mutex_unlock(&rl->shards[i].lock);
    }
    return n;
}

/* ---- decisions ----------------------------------------------------------- */

static unsigned ms_to_s_ceil(uint64_t ms)
{
    uint64_t s = (ms + 999) / 1000;
    return s > UINT32_MAX ? UINT32_MAX : (unsigned)s;
}

/* How long until one more hit fits, given no other hits meanwhile (ms, >= 1). */
static uint64_t retry_after_ms(const struct rl_window_state *st, uint64_t elapsed,
                               uint64_t window_ms, unsigned limit)
{
    uint64_t w = window_ms;
    if (st->cur + 1 <= limit) {
        /* this window has room: wait for the previous window's weight to fade */
        if (st->prev == 0)
            return 1;
        uint64_t at = w - (limit - st->cur - 1) * w / st->prev;
        return at > elapsed ? at - elapsed : 1;
    }
    /* this window alone is full: in the next one its count becomes prev */
    uint64_t at_next = w - (uint64_t)(limit - 1) * w / st->cur;
    return (w - elapsed) + at_next;
}

static void decide(enum rl_bucket bucket, uint64_t now_ms, const struct rl_window_state *st,
                   bool degraded, struct rl_decision *out)
{
    const struct rl_limit *lim = &LIMITS[bucket];
    uint64_t w = (uint64_t)lim->window_s * 1000;
    uint64_t elapsed = elapsed_in(now_ms, w, st->window_idx);
    uint64_t used_scaled = st->prev * (w - elapsed) + st->cur * w;
    uint64_t used = (used_scaled + w - 1) / w;

    memset(out, 0, sizeof(*out));
    out->allowed = st->allowed;
    out->limit = lim->limit;
    out->remaining = st->allowed && used < lim->limit ? (unsigned)(lim->limit - used) : 0;
    uint64_t reset_ms = st->cur ? 2 * w - elapsed : st->prev ? w - elapsed : 0;
    out->reset_s = ms_to_s_ceil(reset_ms);
    if (!st->allowed) {
        out->retry_after_s = ms_to_s_ceil(retry_after_ms(st, elapsed, w, lim->limit));
        if (out->retry_after_s == 0)
            out->retry_after_s = 1;
    }
    out->degraded = degraded;
}

static void refuse(struct rl_decision *out, enum rl_bucket bucket)
{
    memset(out, 0, sizeof(*out));
    const struct rl_limit *lim = ratelimit_limit(bucket);
    out->limit = lim ? lim->limit : 0;
    out->retry_after_s = 1;
}

static uint64_t now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

enum err ratelimit_hit(struct ratelimit *rl, enum rl_bucket bucket, struct str key,
                       struct rl_decision *out)
{
    return ratelimit_hit_at(rl, bucket, key, now_wall_ms(), out);
}

enum err ratelimit_hit_at(struct ratelimit *rl, enum rl_bucket bucket, struct str key,
                          uint64_t now_ms, struct rl_decision *out)
{
    if ((unsigned)bucket >= RL_BUCKET_COUNT_ || key.len == 0 || !key.ptr) {
        refuse(out, bucket);
        return ERR_INVALID;
    }
    if (key.len > RL_MAX_KEY_LEN) {
        refuse(out, bucket);
        return ERR_LIMIT;
    }
    const struct rl_limit *lim = &LIMITS[bucket];
    uint64_t w = (uint64_t)lim->window_s * 1000;
    unsigned char digest[SHA256_LEN];
    hmac_sha256(rl->hash_key, sizeof(rl->hash_key), key.ptr, key.len, digest);
    unsigned shard = digest[0] % RL_SHARDS;
    struct rl_window_state st;

    if (rl->redis && rl_redis_is_up(rl->redis)) {
        /* shiplog:rl:<bucket>:<64 hex digits of the HMAC> */
        char rkey[16 + 32 + 2 * SHA256_LEN];
        int n = snprintf(rkey, sizeof(rkey), "shiplog:rl:%s:", lim->name);
        ASSERT(n > 0 && (size_t)n + 2 * SHA256_LEN < sizeof(rkey));
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < SHA256_LEN; i++) {
            rkey[n + 2 * i] = hex[digest[i] >> 4];
            rkey[n + 2 * i + 1] = hex[digest[i] & 15];
        }
        rkey[n + 2 * SHA256_LEN] = '\0';
        if (rl_redis_hit(rl->redis, rkey, w, now_ms, lim->limit, shard, &st) == ERR_OK) {
            if (st.allowed) {
                struct rl_window_state shadow;
                local_hit(rl, (uint32_t)bucket, digest, w, now_ms, true, &shadow);
            }
            decide(bucket, now_ms, &st, false, out);
            return ERR_OK;
        }
    }
    local_hit(rl, (uint32_t)bucket, digest, w, now_ms, false, &st);
    decide(bucket, now_ms, &st, rl->redis != NULL, out);
    return ERR_OK;
}

void ratelimit_status(struct ratelimit *rl, bool *redis_configured, bool *redis_up)
{
    *redis_configured = rl->redis != NULL;
    *redis_up = rl->redis && rl_redis_is_up(rl->redis);
}

size_t ratelimit_header_values(const struct rl_decision *d, struct rl_header out[4])
{
    out[0].name = "RateLimit-Limit";
    snprintf(out[0].value, sizeof(out[0].value), "%u", d->limit);
    out[1].name = "RateLimit-Remaining";
    snprintf(out[1].value, sizeof(out[1].value), "%u", d->remaining);
    out[2].name = "RateLimit-Reset";
    snprintf(out[2].value, sizeof(out[2].value), "%u", d->reset_s);
    if (d->allowed)
        return 3;
    out[3].name = "Retry-After";
    snprintf(out[3].value, sizeof(out[3].value), "%u", d->retry_after_s ? d->retry_after_s : 1);
    return 4;
}
