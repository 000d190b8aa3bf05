/*
 * cache — see cache.h. A fixed table of FEED_CACHE_MAX_ENTRIES slots, hash
 * buckets chaining slot indexes, and a doubly linked recency list through
 * the slots (newest first). Bodies are heap copies owned by their slot.
 */
#include "delivery/cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FEED_CACHE_BUCKETS 2048 /* a power of two, twice the slots */
#define NONE               (-1)

struct slot {
    bool used;
    struct feed_cache_key key;
    uint32_t hash;
    char tenant[STORAGE_TENANT_ID_LEN + 1];
    char *body;
    size_t len;
    char etag[ETAG_LEN + 1];
    int64_t stored_ms;
    int32_t chain;        /* next slot in the bucket, or NONE */
    int32_t newer, older; /* recency list, or NONE */
};

static struct {
    pthread_mutex_t lock;
    bool ready;
    struct slot slots[FEED_CACHE_MAX_ENTRIES];
    int32_t buckets[FEED_CACHE_BUCKETS];
    int32_t newest, oldest, free; /* free: chained through slot.chain */
    size_t pages, bytes;
    uint64_t epoch, hits, misses, evictions;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* With the lock held. */
static void ready(void)
{
    if (cache.ready)
        return;
    for (size_t i = 0; i < FEED_CACHE_BUCKETS; i++)
        cache.buckets[i] = NONE;
    for (int32_t i = 0; i < FEED_CACHE_MAX_ENTRIES; i++)
        cache.slots[i] = (struct slot){
            .chain = i + 1 < FEED_CACHE_MAX_ENTRIES ? i + 1 : NONE, .newer = NONE, .older = NONE};
    cache.free = 0;
    cache.newest = cache.oldest = NONE;
    cache.ready = true;
}

/* FNV-1a over the key's fields. */
static uint32_t key_hash(const struct feed_cache_key *k)
{
    uint32_t h = 2166136261u;
    const char *parts[] = {k->slug, k->cursor};
    h = (h ^ (uint32_t)k->format) * 16777619u;
    for (size_t i = 0; i < 2; i++) {
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
            h = (h ^ *p) * 16777619u;
        h = (h ^ 0xffu) * 16777619u; /* a separator no slug or cursor holds */
    }
    return h;
}

static bool key_eq(const struct feed_cache_key *a, const struct feed_cache_key *b)
{
    return a->format == b->format && strcmp(a->slug, b->slug) == 0 &&
           strcmp(a->cursor, b->cursor) == 0;
}

bool feed_cache_key_make(struct feed_cache_key *key, enum feed_format format, struct str slug,
                         struct str cursor)
{
    memset(key, 0, sizeof *key);
    if (!storage_slug_valid(slug) || (cursor.len && !feed_cursor_valid(cursor)))
        return false;
    key->format = format;
    memcpy(key->slug, slug.ptr, slug.len);
    if (cursor.len)
        memcpy(key->cursor, cursor.ptr, cursor.len);
    return true;
}

static void list_unlink(int32_t i)
{
    struct slot *s = &cache.slots[i];
    if (s->newer != NONE)
        cache.slots[s->newer].older = s->older;
    else
        cache.newest = s->older;
    if (s->older != NONE)
        cache.slots[s->older].newer = s->newer;
    else
        cache.oldest = s->newer;
    s->newer = s->older = NONE;
}

static void list_push_newest(int32_t i)
{
    struct slot *s = &cache.slots[i];
    s->older = cache.newest;
    s->newer = NONE;
    if (cache.newest != NONE)
        cache.slots[cache.newest].newer = i;
    cache.newest = i;
    if (cache.oldest == NONE)
        cache.oldest = i;
}

/* The slot of key, or NONE. */
static int32_t find(const struct feed_cache_key *key, uint32_t h)
{
    for (int32_t i = cache.buckets[h & (FEED_CACHE_BUCKETS - 1)]; i != NONE;
         i = cache.slots[i].chain)
        if (cache.slots[i].hash == h && key_eq(&cache.slots[i].key, key))
            return i;
    return NONE;
}

static void drop(int32_t i)
{
    struct slot *s = &cache.slots[i];
    int32_t *link = &cache.buckets[s->hash & (FEED_CACHE_BUCKETS - 1)];
    while (*link != i)
        link = &cache.slots[*link].chain;
    *link = s->chain;
    list_unlink(i);
    free(s->body);
    cache.pages--;
    cache.bytes -= s->len;
    *s = (struct slot){.chain = cache.free, .newer = NONE, .older = NONE};
    cache.free = i;
}

enum err feed_cache_get(const struct feed_cache_key *key, int64_t now_ms, unsigned ttl_ms,
                        struct arena *a, struct feed_cache_page *out)
{
    memset(out, 0, sizeof *out);
    if (ttl_ms == 0)
        return ERR_NOT_FOUND;
    uint32_t h = key_hash(key);
    enum err e = ERR_NOT_FOUND;
    pthread_mutex_lock(&cache.lock);
    ready();
    int32_t i = find(key, h);
    if (i != NONE && now_ms - cache.slots[i].stored_ms >= (int64_t)ttl_ms) {
        drop(i);
        i = NONE;
    }
    if (i != NONE) {
        struct slot *s = &cache.slots[i];
        char *copy = a ? arena_alloc(a, s->len + 1) : NULL;
        if (copy || !a) {
            if (copy) {
                memcpy(copy, s->body, s->len);
                copy[s->len] = '\0';
            }
            out->body = copy;
            out->len = s->len;
            memcpy(out->etag, s->etag, sizeof out->etag);
            list_unlink(i);
            list_push_newest(i);
            cache.hits++;
            e = ERR_OK;
        } else {
            e = ERR_LIMIT;
        }
    } else {
        cache.misses++;
    }
    pthread_mutex_unlock(&cache.lock);
    return e;
}

uint64_t feed_cache_epoch(void)
{
    pthread_mutex_lock(&cache.lock);
    uint64_t e = cache.epoch;
    pthread_mutex_unlock(&cache.lock);
    return e;
}

void feed_cache_put(const struct feed_cache_key *key, const struct tenant_ctx *tenant,
                    uint64_t epoch, const char *body, size_t len, const char etag[ETAG_LEN + 1],
                    int64_t now_ms, unsigned ttl_ms)
{
    if (ttl_ms == 0 || len > FEED_CACHE_MAX_PAGE_BYTES)
        return;
    char *copy = malloc(len ? len : 1); /* outside the lock */
    if (!copy)
        err_oom();
    memcpy(copy, body, len);
    uint32_t h = key_hash(key);
    pthread_mutex_lock(&cache.lock);
    ready();
    if (epoch != cache.epoch) {
        pthread_mutex_unlock(&cache.lock);
        free(copy);
        return;
    }
    int32_t old = find(key, h);
    if (old != NONE)
        drop(old);
    while (cache.oldest != NONE &&
           (cache.free == NONE || cache.bytes + len > FEED_CACHE_MAX_BYTES)) {
        drop(cache.oldest);
        cache.evictions++;
    }
    int32_t i = cache.free;
    struct slot *s = &cache.slots[i];
    cache.free = s->chain;
    *s = (struct slot){.used = true,
                       .key = *key,
                       .hash = h,
                       .body = copy,
                       .len = len,
                       .stored_ms = now_ms,
                       .newer = NONE,
                       .older = NONE};
    memcpy(s->tenant, tenant->id, sizeof s->tenant);
    memcpy(s->etag, etag, sizeof s->etag);
    int32_t *bucket = &cache.buckets[h & (FEED_CACHE_BUCKETS - 1)];
    s->chain = *bucket;
    *bucket = i;
    list_push_newest(i);
    cache.pages++;
    cache.bytes += len;
    pthread_mutex_unlock(&cache.lock);
}

void feed_cache_invalidate(const struct tenant_ctx *tenant)
{
    pthread_mutex_lock(&cache.lock);
    ready();
    cache.epoch++;
    for (int32_t i = 0; i < FEED_CACHE_MAX_ENTRIES; i++)
        if (cache.slots[i].used && strcmp(cache.slots[i].tenant, tenant->id) == 0)
            drop(i);
    pthread_mutex_unlock(&cache.lock);
}

void feed_cache_clear(void)
{
    pthread_mutex_lock(&cache.lock);
    ready();
    cache.epoch++;
    for (int32_t i = 0; i < FEED_CACHE_MAX_ENTRIES; i++)
        if (cache.slots[i].used)
            drop(i);
    cache.hits = cache.misses = cache.evictions = 0;
    pthread_mutex_unlock(&cache.lock);
}

void feed_cache_stats(struct feed_cache_stats *out)
{
    pthread_mutex_lock(&cache.lock);
    *out = (struct feed_cache_stats){.pages = cache.pages,
                                     .bytes = cache.bytes,
                                     .hits = cache.hits,
                                     .misses = cache.misses,
                                     .evictions = cache.evictions};
    pthread_mutex_unlock(&cache.lock);
}
