/*
 * ratelimit — sliding-window request limits per bucket and key (H8).
 *
 * A bucket is a kind of action (login, signup, ...) with a fixed limit: at
 * most `limit` events per `window_s` seconds for one key. The caller chooses
 * the key and calls ratelimit_hit() once per attempt, usually several times
 * per request (once per IP, once per tenant or account), and refuses the
 * request with 429 when any decision is not allowed. Key convention, so that
 * different kinds of keys never collide within a bucket:
 *
 *   "ip:<client ip>"            per IPv4 client (http/pipeline.c)
 *   "ip:<network>/64"           per IPv6 client: its /64, which one client controls
 *   "email:<64 hex digits>"     per e-mail address: SHA-256 of a labelled,
 *                               normalized address (api/identity.c)
 *   "invite:<64 hex digits>"    per invited address and organization: SHA-256 of
 *                               a label, the tenant and the address (api/members.c)
 *   "tenant:<tenant uuid>"      per signed-in tenant (http/pipeline.c)
 *   "hook:<integration uuid>"   per webhook integration (hooks/hooks.c)
 *
 * Keys are hashed with HMAC-SHA-256 under a 32-byte secret (the hash key)
 * before they are stored anywhere, so no raw IP or email is kept in memory
 * tables or sent to Redis, and someone who can read Redis cannot confirm a
 * guessed IP or address by hashing it: without the hash key the stored names
 * are unlinkable to their keys. ratelimit_new() draws a random hash key,
 * which is right for one process alone; processes that share a Redis must
 * share their counts, so each must be given the same key with
 * ratelimit_set_key() (the server derives it from the master key).
 *
 * Algorithm: the sliding-window counter. Each (bucket, key) keeps the count of
 * the current fixed window and of the previous one; the estimate at time t is
 *   prev * (window - elapsed) / window + cur
 * where elapsed is how far t is into the current window. A hit is allowed when
 * the estimate plus this hit stays within the limit; refused hits are not
 * counted (a client that keeps retrying gets through at the allowed rate, and
 * no faster). Both backends run the same arithmetic (in Redis as one Lua
 * script per hit), so a fallback changes where counts live, not how they are
 * judged. docs/RATELIMITS.md explains the choice.
 *
 * Backends: without SHIPLOG_REDIS_URL every process counts for itself in a
 * bounded, mutex-sharded table (RL_MAX_KEYS entries, least recently used
 * evicted). With it, counts are shared in Redis by every server process; the
 * in-process table then shadows the hits Redis allowed, and takes over when
 * Redis errors or does not answer within RL_REDIS_COMMAND_TIMEOUT_MS (the
 * decision is marked degraded). A slow Redis does not queue every worker
 * behind one connection: a hit waits at most RL_REDIS_COMMAND_TIMEOUT_MS for
 * its connection's lock, then decides in-process (degraded) without marking
 * Redis down. A background thread reconnects with exponential backoff; one
 * log line per transition, never one per request.
 *
 * Thread-safety: every function except ratelimit_new, ratelimit_set_key and
 * ratelimit_free may be called concurrently from any thread.
 */
#ifndef SHIPLOG_RATELIMIT_RATELIMIT_H
#define SHIPLOG_RATELIMIT_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "core/str.h"

#define RL_MAX_KEYS     100000 /* in-process (bucket, key) entries, over all shards */
#define RL_MAX_KEY_LEN  512    /* bytes in a caller's key (email + tenant id + prefix) */
#define RL_HASH_KEY_LEN 32     /* bytes of the HMAC-SHA-256 key that hashes callers' keys */

#define RL_REDIS_CONNECT_TIMEOUT_MS 200  /* one connection attempt */
#define RL_REDIS_COMMAND_TIMEOUT_MS 50   /* one rate-limit round trip before falling back */
#define RL_REDIS_BACKOFF_MIN_MS     100  /* first reconnect delay after a failure */
#define RL_REDIS_BACKOFF_MAX_MS     5000 /* reconnect delay doubles up to this */

enum rl_bucket {
    RL_LOGIN,          /* 10 per 15 min, per IP and per account */
    RL_SIGNUP,         /* 5 per hour, per IP */
    RL_PASSWORD_RESET, /* 5 per 15 min, per IP and per account */
    RL_MAGIC_LINK,     /* 5 per 15 min, per IP and per account */
    RL_API,            /* 600 per minute, per tenant (and per IP for anonymous calls) */
    RL_WEBHOOK,        /* failed webhook verifications: 30 per 10 min, per integration and per IP */
    RL_BUCKET_COUNT_
};

/* One bucket's fixed limit: at most `limit` events per `window_s` seconds. */
struct rl_limit {
    const char *name; /* stable, lower case; part of the Redis key ("login") */
    unsigned limit;   /* >= 1 */
    unsigned window_s;
};

/* The limit of bucket b (the constant table above); NULL for an invalid b. */
const struct rl_limit *ratelimit_limit(enum rl_bucket b);

struct rl_decision {
    bool allowed;           /* false: answer 429 */
    unsigned limit;         /* the bucket's limit (RateLimit-Limit) */
    unsigned remaining;     /* hits left now, after this one (RateLimit-Remaining) */
    unsigned reset_s;       /* seconds until every counted hit has left the window */
    unsigned retry_after_s; /* when refused: seconds until one hit would pass (>= 1); else 0 */
    bool degraded;          /* Redis is configured but this decision is in-process only */
};

struct ratelimit;

/*
 * Creates a limiter with a random hash key (see ratelimit_set_key). With
 * cfg->redis_url set it reads the URL through config_secret_get
 * (redis://[[user]:password@]host[:port][/db]; rediss:// is not supported),
 * tries one connection, and keeps reconnecting in the background: an
 * unreachable Redis at start-up is not an error (decisions are degraded until
 * it answers). ERR_CONFIG for a malformed or unreadable URL, logged without
 * its value; ERR_CRYPTO if the kernel refuses random bytes. cfg is kept (the
 * URL is re-read on every reconnect so a rotated password is picked up) and
 * must outlive the limiter; it is not const because reading a secret may
 * refresh it. NULL cfg, or no redis_url: in-process only.
 */
MUST_CHECK enum err ratelimit_new(struct config *cfg, struct ratelimit **out);

/*
 * Replaces the hash key (HMAC-SHA-256, see the top of this file) with key,
 * which is copied. Call it once, right after ratelimit_new() and before the
 * limiter is shared with other threads; it is not thread-safe, and counts
 * recorded under the previous key are not found under the new one. Until it
 * is called the limiter uses the random key ratelimit_new() drew: correct for
 * a single process, but processes sharing a Redis would then each count under
 * names of their own and never see each other's hits. Every process sharing a
 * Redis must set the same key; the caller wipes its copy.
 */
void ratelimit_set_key(struct ratelimit *rl, const unsigned char key[RL_HASH_KEY_LEN]);

/* Stops the reconnect thread and frees everything (the hash key is wiped). NULL is a no-op. */
void ratelimit_free(struct ratelimit *rl);

/*
 * Records one attempt of `bucket` for `key` now and fills *out. Backend
 * failures are not errors (see degraded). ERR_INVALID for an invalid bucket
 * or an empty key, ERR_LIMIT for a key longer than RL_MAX_KEY_LEN; *out is
 * then a refusal (allowed false) so a caller that forgets the check still
 * fails closed.
 */
MUST_CHECK enum err ratelimit_hit(struct ratelimit *rl, enum rl_bucket bucket, struct str key,
                                  struct rl_decision *out);

/* ratelimit_hit at a given wall-clock time in ms since the epoch (tests inject the clock). */
MUST_CHECK enum err ratelimit_hit_at(struct ratelimit *rl, enum rl_bucket bucket, struct str key,
                                     uint64_t now_ms, struct rl_decision *out);

/*
 * Readiness information (H9, never a reason to be unready): whether Redis is
 * configured and whether it currently answers.
 */
void ratelimit_status(struct ratelimit *rl, bool *redis_configured, bool *redis_up);

/* Entries in the in-process table (tests: stays <= RL_MAX_KEYS). */
size_t ratelimit_local_count(struct ratelimit *rl);

/* One response header; value is NUL-terminated decimal text. */
struct rl_header {
    const char *name; /* static string */
    char value[24];
};

/*
 * Fills out with RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset and,
 * when d refused, Retry-After. Returns how many were filled (3 or 4).
 */
size_t ratelimit_header_values(const struct rl_decision *d, struct rl_header out[4]);

/*
 * ---- Internal: between ratelimit.c and redis.c only. ----------------------
 * redis.c is the one file that includes hiredis; other modules must not call
 * these.
 */

/* Counts of one (bucket, key) after a hit, as the Redis script returns them. */
struct rl_window_state {
    bool allowed;
    uint64_t cur, prev;  /* hits counted in the current and previous window */
    uint64_t window_idx; /* the current window: start = window_idx * window_ms */
};

struct rl_redis;

/* Parses the URL and starts the reconnect thread (see ratelimit_new). */
MUST_CHECK enum err rl_redis_new(struct config *cfg, struct rl_redis **out);
void rl_redis_free(struct rl_redis *r);

/*
 * Runs the sliding-window script on `rkey` (the namespaced, hashed key) over
 * the connection `shard` maps to. ERR_OK with *st filled, or ERR_UNAVAILABLE
 * when Redis is down, errs or times out (the first failure marks it down and
 * wakes the reconnect thread), or when the connection stays busy with other
 * callers' commands for RL_REDIS_COMMAND_TIMEOUT_MS (not a failure: Redis is
 * slow, not down, so it stays up; at most one log line a minute).
 */
MUST_CHECK enum err rl_redis_hit(struct rl_redis *r, const char *rkey, uint64_t window_ms,
                                 uint64_t now_ms, unsigned limit, unsigned shard,
                                 struct rl_window_state *st);
bool rl_redis_is_up(struct rl_redis *r);

#endif
