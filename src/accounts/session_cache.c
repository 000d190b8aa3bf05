/*
 * session_cache.c — the in-process cache of session lookups ("Session cache"
 * in accounts.h; used by sessions.c, emptied by every change to sessions).
 *
 * Layout: ACCOUNTS_SESSION_CACHE_MAX entries in CACHE_SHARDS shards, each
 * under its own mutex, so lookups of different sessions seldom wait for one
 * another. Within its shard an entry can only sit in one set of CACHE_WAYS
 * slots, chosen by its hash (set-associative, like a CPU cache): a lookup
 * compares at most CACHE_WAYS keys, and a full set gives up its oldest entry,
 * so the table never grows. The hash is the SHA-256 of a random token, so
 * entries spread evenly and nobody can aim them at one set (only sessions
 * that exist are ever stored).
 *
 * An entry is the struct accounts_session a lookup returned; its key is the
 * tenant id and id_hash inside it, never the cookie value. Nothing in it is
 * secret (the hash does not let anyone use the session). Failed lookups are
 * never stored.
 *
 * Staleness: an entry is used for ttl after the CLOCK_MONOTONIC time taken
 * just before the database read that produced it. A change committed by
 * another process is therefore seen here at most ttl after its commit (a
 * read that began before the commit is aged from its beginning).
 *
 * Invalidation without races: a change made through this process must be
 * seen by every lookup that starts after the changing function returned,
 * from any thread. One generation counter for the whole cache does it:
 *
 *   change:  commit;  gen++;  remove the matching entries (under each shard's lock)
 *   lookup:  g = gen;  read the database;  lock the shard; store if gen == g; unlock
 *
 * Take a lookup whose read missed the change (a stale row). Its g was loaded
 * before gen++: otherwise the read would have begun after the commit
 * returned, and a transaction begun after a commit returned sees it (on
 * both backends). The store and the removal of that entry both run under
 * the shard's lock, so one of them comes first. Store first: the removal,
 * which runs after gen++, deletes the entry. Removal first: gen++ happened
 * before the removal released the lock the store then takes, so the store
 * sees gen != g and drops the row. Either way no stale entry is left once
 * the changing function returns, and none can appear later. The counter is
 * global, so any change also keeps other sessions' reads in flight at that
 * moment out of the cache; they are only read again next time, and changes
 * are rare next to lookups.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts_internal.h"

#define CACHE_SHARDS 16 /* mutexes */
#define CACHE_WAYS   4  /* slots an entry may sit in: compared on every lookup */
#define CACHE_SETS   (ACCOUNTS_SESSION_CACHE_MAX / CACHE_SHARDS / CACHE_WAYS) /* per shard */

_Static_assert(CACHE_SETS > 0 &&
                   CACHE_SETS * CACHE_SHARDS * CACHE_WAYS == ACCOUNTS_SESSION_CACHE_MAX,
               "ACCOUNTS_SESSION_CACHE_MAX must divide into the shards and ways");

struct cache_entry {
    bool used;
    int64_t taken_ns;          /* the stamp's time: the entry's age counts from it */
    struct accounts_session s; /* key: s.user.tenant.id and s.id_hash */
};

struct cache_shard {
    pthread_mutex_t mu;
    struct cache_entry sets[CACHE_SETS][CACHE_WAYS];
};

struct acc_session_cache {
    int64_t ttl_ns;
    _Atomic uint64_t gen; /* moved by every acc_cache_forget, before it removes */
    struct cache_shard shards[CACHE_SHARDS];
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The shard and set of hash h (hex): from its first eight digits. */
static struct cache_entry *set_of(struct acc_session_cache *c, const char *h,
                                  struct cache_shard **shard)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 8; i++) {
        int d = str_hex_digit(h[i]);
        v = (v << 4) | (uint32_t)(d < 0 ? 0 : d);
    }
    *shard = &c->shards[v % CACHE_SHARDS];
    return (*shard)->sets[(v / CACHE_SHARDS) % CACHE_SETS];
}

static bool key_is(const struct cache_entry *e, const char *tenant, const char *h)
{
    return e->used && memcmp(e->s.id_hash, h, ACCOUNTS_HASH_HEX) == 0 &&
           memcmp(e->s.user.tenant.id, tenant, STORAGE_TENANT_ID_LEN) == 0;
}

struct acc_session_cache *acc_cache_new(unsigned ttl_ms)
{
    ASSERT(ttl_ms > 0 && ttl_ms <= ACCOUNTS_SESSION_CACHE_MAX_MS);
    struct acc_session_cache *c = calloc(1, sizeof *c);
    if (!c)
        err_oom();
    c->ttl_ns = (int64_t)ttl_ms * 1000000;
    atomic_init(&c->gen, 0);
    for (size_t i = 0; i < CACHE_SHARDS; i++)
        pthread_mutex_init(&c->shards[i].mu, NULL);
    return c;
}

void acc_cache_free(struct acc_session_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_SHARDS; i++)
        pthread_mutex_destroy(&c->shards[i].mu);
    free(c);
}

void acc_cache_stamp(struct acc_session_cache *c, struct acc_cache_stamp *out)
{
    out->gen = c ? atomic_load(&c->gen) : 0;
    out->taken_ns = c ? mono_ns() : 0;
}

bool acc_cache_get(struct acc_session_cache *c, const struct tenant_ctx *t, const char *h,
                   struct accounts_session *out)
{
    if (!c)
        return false;
    struct cache_shard *sh = NULL;
    struct cache_entry *set = set_of(c, h, &sh);
    int64_t now = mono_ns();
    bool hit = false;
    pthread_mutex_lock(&sh->mu);
    for (size_t w = 0; w < CACHE_WAYS; w++) {
        struct cache_entry *e = &set[w];
        if (!key_is(e, t->id, h))
            continue;
        if (now - e->taken_ns < c->ttl_ns) {
            *out = e->s;
            hit = true;
        } else {
            e->used = false; /* too old: the slot is free again */
        }
        break;
    }
    pthread_mutex_unlock(&sh->mu);
    return hit;
}

void acc_cache_put(struct acc_session_cache *c, const struct acc_cache_stamp *st,
                   const struct accounts_session *s)
{
    if (!c)
        return;
    struct cache_shard *sh = NULL;
    struct cache_entry *set = set_of(c, s->id_hash, &sh);
    pthread_mutex_lock(&sh->mu);
    /* see the top of the file: a change since the stamp may have made s stale */
    if (atomic_load(&c->gen) != st->gen)
        goto out;
    struct cache_entry *slot = NULL;
    for (size_t w = 0; w < CACHE_WAYS && !slot; w++)
        if (key_is(&set[w], s->user.tenant.id, s->id_hash))
            slot = &set[w];
    if (slot && slot->taken_ns > st->taken_ns)
        goto out; /* a concurrent lookup read it later: keep the newer row */
    for (size_t w = 0; w < CACHE_WAYS && !slot; w++)
        if (!set[w].used)
            slot = &set[w];
    if (!slot) { /* full: the oldest goes */
        slot = &set[0];
        for (size_t w = 1; w < CACHE_WAYS; w++)
            if (set[w].taken_ns < slot->taken_ns)
                slot = &set[w];
    }
    slot->used = true;
    slot->taken_ns = st->taken_ns;
    slot->s = *s;
out:
    pthread_mutex_unlock(&sh->mu);
}

/* Empties the entries of set that match (tenant, user_id, h; NULL = any). Shard lock held. */
static void set_forget(struct cache_entry *set, const char *tenant, const char *user_id,
                       const char *h)
{
    for (size_t w = 0; w < CACHE_WAYS; w++) {
        struct cache_entry *e = &set[w];
        if (!e->used)
            continue;
        if (tenant && memcmp(e->s.user.tenant.id, tenant, STORAGE_TENANT_ID_LEN) != 0)
            continue;
        if (user_id && strcmp(e->s.user.user_id, user_id) != 0)
            continue;
        if (h && memcmp(e->s.id_hash, h, ACCOUNTS_HASH_HEX) != 0)
            continue;
        e->used = false;
    }
}

void acc_cache_forget(struct acc_session_cache *c, const struct tenant_ctx *t, const char *user_id,
                      const char *h)
{
    if (!c)
        return;
    /* first the generation, then the entries: the order the argument above needs */
    atomic_fetch_add(&c->gen, 1);
    const char *tenant = t ? t->id : NULL;
    if (h) { /* only one set of one shard can hold it */
        struct cache_shard *sh = NULL;
        struct cache_entry *set = set_of(c, h, &sh);
        pthread_mutex_lock(&sh->mu);
        set_forget(set, tenant, user_id, h);
        pthread_mutex_unlock(&sh->mu);
        return;
    }
    for (size_t i = 0; i < CACHE_SHARDS; i++) {
        struct cache_shard *sh = &c->shards[i];
        pthread_mutex_lock(&sh->mu);
        for (size_t k = 0; k < CACHE_SETS; k++)
            set_forget(sh->sets[k], tenant, user_id, NULL);
        pthread_mutex_unlock(&sh->mu);
    }
}
