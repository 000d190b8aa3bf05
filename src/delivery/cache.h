/*
 * cache — the rendered pages of the public feed, in memory (W1).
 *
 * A feed page is read by anyone, often, and changes only when an entry is
 * published; so the bytes of each rendered page are kept, keyed by (tenant
 * slug, format, cursor), with their entity tag. A hit touches no database:
 * the feed's slug is in the key, and the page and its tag are copied out.
 *
 * Freshness. feed_cache_invalidate() drops a tenant's pages; the code that
 * publishes calls it after its transaction has committed. Other shiplog
 * processes serving the same database do not hear of that publish, so a page
 * is also dropped once it is older than the TTL the caller passes
 * (SHIPLOG_FEED_CACHE_TTL_MS): a publish is seen everywhere within that time.
 * A page rendered from a read that began before an invalidation must not be
 * stored after it: the caller takes feed_cache_epoch() before reading and
 * hands it to feed_cache_put(), which stores nothing if any invalidation
 * happened in between.
 *
 * Bounds: at most FEED_CACHE_MAX_ENTRIES pages and FEED_CACHE_MAX_BYTES of
 * page bytes; the least recently used pages make room. A page over
 * FEED_CACHE_MAX_PAGE_BYTES is not kept.
 *
 * One cache per process (the publisher and the feed share it without
 * plumbing); every function is thread-safe (one mutex, held for a lookup
 * and a copy, never across I/O).
 */
#ifndef SHIPLOG_DELIVERY_CACHE_H
#define SHIPLOG_DELIVERY_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "delivery/etag.h"
#include "delivery/feed.h"
#include "storage/storage.h"

#define FEED_CACHE_MAX_ENTRIES    1024
#define FEED_CACHE_MAX_BYTES      ((size_t)32 * 1024 * 1024)
#define FEED_CACHE_MAX_PAGE_BYTES ((size_t)1024 * 1024)
#define FEED_CACHE_DEFAULT_TTL_MS 5000  /* SHIPLOG_FEED_CACHE_TTL_MS default */
#define FEED_CACHE_MAX_TTL_MS     60000 /* its maximum; 0 turns the cache off */

struct feed_cache_key {
    enum feed_format format;
    char slug[STORAGE_MAX_SLUG + 1];
    char cursor[FEED_CURSOR_LEN + 1]; /* "" for the first page */
};

/* A page as the cache hands it out: body in the caller's arena. */
struct feed_cache_page {
    const char *body;
    size_t len;
    char etag[ETAG_LEN + 1];
};

/*
 * Fills key; false when slug is not a storage_slug_valid slug or cursor
 * (STR_NULL or empty for the first page) is not a feed_cursor_valid cursor.
 */
bool feed_cache_key_make(struct feed_cache_key *key, enum feed_format format, struct str slug,
                         struct str cursor);

/*
 * The page of key if it was stored less than ttl_ms before now_ms (a
 * monotonic clock in ms), its body copied into a (ERR_LIMIT when the arena
 * cannot hold it); with a NULL only its tag (out->body NULL), for a
 * conditional request that may need no body. ERR_NOT_FOUND otherwise (an
 * expired page is dropped). ttl_ms 0 never finds anything.
 */
MUST_CHECK enum err feed_cache_get(const struct feed_cache_key *key, int64_t now_ms,
                                   unsigned ttl_ms, struct arena *a, struct feed_cache_page *out);

/* The current invalidation epoch: take it before reading what feed_cache_put stores. */
uint64_t feed_cache_epoch(void);

/*
 * Stores a copy of body[0..len) with its tag as the page of key, which
 * belongs to tenant, stored at now_ms; replaces an older copy. Stores nothing
 * when an invalidation happened since epoch was taken, when ttl_ms is 0, or
 * when len is over FEED_CACHE_MAX_PAGE_BYTES; evicts the least recently used
 * pages when a bound would be passed.
 */
void feed_cache_put(const struct feed_cache_key *key, const struct tenant_ctx *tenant,
                    uint64_t epoch, const char *body, size_t len, const char etag[ETAG_LEN + 1],
                    int64_t now_ms, unsigned ttl_ms);

/*
 * Drops every page of tenant, in this process, and refuses the stores of
 * reads that began before. Call it after the transaction that published (or
 * unpublished, or edited a published entry) has committed.
 */
void feed_cache_invalidate(const struct tenant_ctx *tenant);

/* Drops everything (tests). */
void feed_cache_clear(void);

struct feed_cache_stats {
    size_t pages, bytes;
    uint64_t hits, misses, evictions;
};
void feed_cache_stats(struct feed_cache_stats *out);

#endif
