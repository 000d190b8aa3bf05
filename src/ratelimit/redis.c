/*
 * ratelimit/redis — shared counts in Redis (hiredis, synchronous API).
 *
 * One Lua script per hit reads the (bucket, key) hash, rolls its window,
 * decides, counts an allowed hit and sets a TTL, atomically: every process
 * sharing the Redis sees one consistent count, and there is no read-then-write
 * race between them. Layout: one hash per (bucket, key)
 *   shiplog:rl:<bucket>:<hmac(key) hex>  {w: window index, c: current, p: previous}
 * with PEXPIRE of two windows (after that both counts are irrelevant).
 *
 * A hiredis context is not thread-safe, so there are RL_REDIS_CONNS of them,
 * each behind a mutex; a caller uses the one its key's shard maps to. Every
 * command has a short timeout (RL_REDIS_COMMAND_TIMEOUT_MS): a failure marks
 * Redis down (one log line), after which callers skip Redis at once (no
 * per-request timeout while it is down) until the reconnect thread has opened
 * fresh connections, with exponential backoff between attempts.
 *
 * The command timeout bounds one round trip, not the wait for the mutex: with
 * a Redis that answers slowly but within the timeout, callers of one
 * connection would queue for (callers x round trip). So the mutex is taken
 * with pthread_mutex_timedlock, bounded by the same RL_REDIS_COMMAND_TIMEOUT_MS;
 * a caller that cannot get it decides in-process (degraded). That is not a
 * failure of Redis, which stays up (the caller holding the lock either gets
 * its answer or fails and marks it down); a warning is logged at most once per
 * RL_REDIS_BUSY_LOG_MS.
 *
 * The URL is re-read through config_secret_get on every (re)connect so a
 * rotated password is picked up; its parsed copy is wiped after use.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/str.h"
#include "crypto/hash.h"
#include "ratelimit/ratelimit.h"

#define RL_REDIS_CONNS       4
#define RL_HOST_MAX          256
#define RL_CRED_MAX          512
#define RL_REDIS_BUSY_LOG_MS 60000 /* at most one "connections busy" line this often */

/* KEYS[1] the hash; ARGV window_ms, now_ms, limit. Returns {allowed, cur, prev, window_idx}. */
static const char SCRIPT[] =
    "local w = tonumber(ARGV[1])\n"
    "local now = tonumber(ARGV[2])\n"
    "local limit = tonumber(ARGV[3])\n"
    "local idx = math.floor(now / w)\n"
    "local s = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')\n"
    "local cw = tonumber(s[1])\n"
    "local c = tonumber(s[2]) or 0\n"
    "local p = tonumber(s[3]) or 0\n"
    "if cw == nil then c = 0 p = 0\n"
    "elseif idx == cw + 1 then p = c c = 0\n"
    "elseif idx > cw + 1 then p = 0 c = 0\n"
    "elseif idx < cw then idx = cw end\n"
    "local e = now - idx * w\n"
    "if e < 0 then e = 0 elseif e >= w then e = w - 1 end\n"
    "local allowed = 0\n"
    "if p * (w - e) + (c + 1) * w <= limit * w then c = c + 1 allowed = 1 end\n"
    "redis.call('HSET', KEYS[1], 'w', string.format('%d', idx), 'c', c, 'p', p)\n"
    "redis.call('PEXPIRE', KEYS[1], 2 * w)\n"
    "return {allowed, c, p, idx}\n";

struct rl_conn {
    pthread_mutex_t lock;
    redisContext *ctx; /* NULL when not connected */
    char sha[41];      /* the script's SHA-1 as loaded on this connection */
};

struct rl_redis {
    struct config *cfg;
    struct rl_conn conns[RL_REDIS_CONNS];
    atomic_bool up;                       /* read without a lock on every hit */
    atomic_uint_least64_t busy_logged_ms; /* CLOCK_MONOTONIC ms of the last "busy" line, 0: never */
    pthread_mutex_t ctl;                  /* guards the fields below and the up transitions */
    pthread_cond_t wake;                  /* a failure happened, or stop */
    bool stop;
    bool announced_down; /* the "unavailable" line was logged for this outage */
    pthread_t thread;
};

struct target {
    char host[RL_HOST_MAX];
    int port;
    char user[RL_CRED_MAX];
    char pass[RL_CRED_MAX];
    bool has_pass;
    unsigned db;
};

static void target_wipe(struct target *t)
{
    crypto_wipe(t, sizeof(*t));
}

/* Copies src into dst (cap bytes with NUL), percent-decoding; false if malformed/too long. */
static bool copy_decoded(char *dst, size_t cap, struct str src)
{
    size_t n = 0;
    for (size_t i = 0; i < src.len; i++) {
        char c = src.ptr[i];
        if (c == '%') {
            if (i + 2 >= src.len)
                return false;
            int hi = str_hex_digit(src.ptr[i + 1]), lo = str_hex_digit(src.ptr[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0' || n + 1 >= cap)
            return false;
        dst[n++] = c;
    }
    dst[n] = '\0';
    return true;
}

/* redis://[[user]:password@]host[:port][/db] */
static enum err parse_url(struct str url, struct target *t)
{
    memset(t, 0, sizeof(*t));
    t->port = 6379;
    struct str scheme = STR_LIT("redis://");
    if (!str_istarts_with(url, scheme))
        return ERR_CONFIG;
    struct str rest = str_from(url.ptr + scheme.len, url.len - scheme.len);
    long slash = str_index(rest, '/');
    struct str auth_host = slash < 0 ? rest : str_from(rest.ptr, (size_t)slash);
    if (slash >= 0) {
        struct str db = str_from(rest.ptr + slash + 1, rest.len - (size_t)slash - 1);
        uint64_t v = 0;
        if (db.len && str_to_u64(db, 1000000, &v))
            return ERR_CONFIG;
        t->db = (unsigned)v;
    }
    /* the last '@' ends the credentials (a password may contain '@' only encoded, but be lenient)
     */
    size_t at = auth_host.len;
    for (size_t i = auth_host.len; i > 0; i--) {
        if (auth_host.ptr[i - 1] == '@') {
            at = i - 1;
            break;
        }
    }
    struct str hostport = auth_host;
    if (at < auth_host.len) {
        struct str cred = str_from(auth_host.ptr, at);
        hostport = str_from(auth_host.ptr + at + 1, auth_host.len - at - 1);
        long colon = str_index(cred, ':');
        struct str user = colon < 0 ? STR_NULL : str_from(cred.ptr, (size_t)colon);
        struct str pass =
            colon < 0 ? cred : str_from(cred.ptr + colon + 1, cred.len - (size_t)colon - 1);
        if (!copy_decoded(t->user, sizeof(t->user), user) ||
            !copy_decoded(t->pass, sizeof(t->pass), pass))
            return ERR_CONFIG;
        t->has_pass = pass.len > 0;
    }
    struct str host = hostport, port = STR_NULL;
    if (hostport.len && hostport.ptr[0] == '[') {
        long close = str_index(hostport, ']');
        if (close < 0)
            return ERR_CONFIG;
        host = str_from(hostport.ptr + 1, (size_t)close - 1);
        struct str after = str_from(hostport.ptr + close + 1, hostport.len - (size_t)close - 1);
        if (after.len) {
            if (after.ptr[0] != ':')
                return ERR_CONFIG;
            port = str_from(after.ptr + 1, after.len - 1);
        }
    } else {
        long colon = str_index(hostport, ':');
        if (colon >= 0) {
            host = str_from(hostport.ptr, (size_t)colon);
            port = str_from(hostport.ptr + colon + 1, hostport.len - (size_t)colon - 1);
        }
    }
    if (host.len == 0 || host.len >= sizeof(t->host) || !str_is_printable_ascii(host))
        return ERR_CONFIG;
    memcpy(t->host, host.ptr, host.len);
    t->host[host.len] = '\0';
    if (port.ptr) {
        uint64_t v;
        if (str_to_u64(port, 65535, &v) || v == 0)
            return ERR_CONFIG;
        t->port = (int)v;
    }
    return ERR_OK;
}

/* Reads the URL secret and parses it; ERR_CONFIG / ERR_IO with nothing logged. */
static enum err read_target(struct rl_redis *r, struct target *t)
{
    struct buf url = BUF_INIT_SECRET(CONFIG_MAX_SECRET_FILE);
    enum err e = config_secret_get(r->cfg, &r->cfg->redis_url, &url);
    if (!e)
        e = parse_url(str_from(buf_cstr(&url), url.len), t);
    buf_wipe(&url);
    return e;
}

static struct timeval tv_ms(unsigned ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};
}

/* True for a reply that is not an error; frees it. */
static bool reply_ok(redisReply *reply)
{
    bool ok = reply && reply->type != REDIS_REPLY_ERROR;
    if (reply)
        freeReplyObject(reply);
    return ok;
}

/* One ready connection (authenticated, db selected, script loaded), or NULL. */
static redisContext *connect_one(const struct target *t, char sha[41], const char **why)
{
    redisContext *c = redisConnectWithTimeout(t->host, t->port, tv_ms(RL_REDIS_CONNECT_TIMEOUT_MS));
    if (!c || c->err) {
        *why = "connect failed";
        goto fail;
    }
    if (redisSetTimeout(c, tv_ms(RL_REDIS_CONNECT_TIMEOUT_MS)) != REDIS_OK) {
        *why = "cannot set timeout";
        goto fail;
    }
    if (t->has_pass) {
        /* AUTH [user] password: Redis 6 ACL user when one was given */
        bool with_user = t->user[0] != '\0';
        const char *argv[3] = {"AUTH", with_user ? t->user : t->pass, t->pass};
        size_t lens[3] = {4, strlen(argv[1]), strlen(t->pass)};
        if (!reply_ok(redisCommandArgv(c, with_user ? 3 : 2, argv, lens))) {
            *why = "authentication failed";
            goto fail;
        }
    }
    if (t->db) {
        char db[16];
        snprintf(db, sizeof(db), "%u", t->db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, strlen(db)};
        if (!reply_ok(redisCommandArgv(c, 2, argv, lens))) {
            *why = "SELECT failed";
            goto fail;
        }
    }
    const char *argv[3] = {"SCRIPT", "LOAD", SCRIPT};
    size_t lens[3] = {6, 4, sizeof(SCRIPT) - 1};
    redisReply *reply = redisCommandArgv(c, 3, argv, lens);
    if (!reply || reply->type != REDIS_REPLY_STRING || reply->len != 40) {
        if (reply)
            freeReplyObject(reply);
        *why = "SCRIPT LOAD failed";
        goto fail;
    }
    memcpy(sha, reply->str, 40);
    sha[40] = '\0';
    freeReplyObject(reply);
    if (redisSetTimeout(c, tv_ms(RL_REDIS_COMMAND_TIMEOUT_MS)) != REDIS_OK) {
        *why = "cannot set timeout";
        goto fail;
    }
    return c;
fail:
    if (c)
        redisFree(c);
    return NULL;
}

/* Opens every connection and installs them; false (nothing changed) on any failure. */
static bool connect_all(struct rl_redis *r, const char **why)
{
    struct target t;
    if (read_target(r, &t)) {
        target_wipe(&t);
        *why = "cannot read or parse SHIPLOG_REDIS_URL";
        return false;
    }
    redisContext *fresh[RL_REDIS_CONNS] = {0};
    char sha[RL_REDIS_CONNS][41];
    bool ok = true;
    for (size_t i = 0; i < RL_REDIS_CONNS && ok; i++) {
        fresh[i] = connect_one(&t, sha[i], why);
        ok = fresh[i] != NULL;
    }
    target_wipe(&t);
    if (!ok) {
        for (size_t i = 0; i < RL_REDIS_CONNS; i++)
            if (fresh[i])
                redisFree(fresh[i]);
        return false;
    }
    for (size_t i = 0; i < RL_REDIS_CONNS; i++) {
        struct rl_conn *cn = &r->conns[i];
        pthread_mutex_lock(&cn->lock);
        if (cn->ctx)
            redisFree(cn->ctx);
        cn->ctx = fresh[i];
        memcpy(cn->sha, sha[i], sizeof(cn->sha));
        pthread_mutex_unlock(&cn->lock);
    }
    return true;
}

/* Called by a request thread after a failed command; logs once per outage. */
static void mark_down(struct rl_redis *r, const char *why)
{
    pthread_mutex_lock(&r->ctl);
    if (atomic_load(&r->up)) {
        atomic_store(&r->up, false);
        r->announced_down = true;
        log_warn("ratelimit: Redis unavailable, using in-process limits", LOG_STR("detail", why));
        pthread_cond_signal(&r->wake);
    }
    pthread_mutex_unlock(&r->ctl);
}

/* now + ms on clock: CLOCK_MONOTONIC for the condition variable, CLOCK_REALTIME for timedlock. */
static void deadline_in(struct timespec *ts, clockid_t clock, unsigned ms)
{
    clock_gettime(clock, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static void *reconnect_main(void *arg)
{
    struct rl_redis *r = arg;
    unsigned backoff = RL_REDIS_BACKOFF_MIN_MS;
    pthread_mutex_lock(&r->ctl);
    while (!r->stop) {
        if (atomic_load(&r->up)) {
            backoff = RL_REDIS_BACKOFF_MIN_MS;
            pthread_cond_wait(&r->wake, &r->ctl);
            continue;
        }
        struct timespec until;
        deadline_in(&until, CLOCK_MONOTONIC, backoff);
        while (!r->stop && pthread_cond_timedwait(&r->wake, &r->ctl, &until) != ETIMEDOUT) {
        }
        if (r->stop)
            break;
        pthread_mutex_unlock(&r->ctl);
        const char *why = "unknown";
        bool ok = connect_all(r, &why);
        pthread_mutex_lock(&r->ctl);
        if (ok) {
            atomic_store(&r->up, true);
            r->announced_down = false;
            log_info("ratelimit: Redis available again, limits are shared");
        } else {
            if (!r->announced_down) {
                r->announced_down = true;
                log_warn("ratelimit: Redis unavailable, using in-process limits",
                         LOG_STR("detail", why));
            }
            backoff =
                backoff >= RL_REDIS_BACKOFF_MAX_MS / 2 ? RL_REDIS_BACKOFF_MAX_MS : backoff * 2;
        }
    }
    pthread_mutex_unlock(&r->ctl);
    return NULL;
}

enum err rl_redis_new(struct config *cfg, struct rl_redis **out)
{
    *out = NULL;
    struct rl_redis *r = calloc(1, sizeof(*r));
    if (!r)
        err_oom();
    r->cfg = cfg;
    struct target t;
    enum err e = read_target(r, &t);
    target_wipe(&t);
    if (e) {
        log_error("ratelimit: SHIPLOG_REDIS_URL cannot be read or is not a valid redis:// URL "
                  "(docs/RATELIMITS.md)",
                  LOG_ERR(e));
        free(r);
        return ERR_CONFIG;
    }
    for (size_t i = 0; i < RL_REDIS_CONNS; i++)
        if (pthread_mutex_init(&r->conns[i].lock, NULL))
            err_oom();
    pthread_condattr_t attr;
    if (pthread_mutex_init(&r->ctl, NULL) || pthread_condattr_init(&attr) ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) || pthread_cond_init(&r->wake, &attr))
        err_oom();
    pthread_condattr_destroy(&attr);

    const char *why = "unknown";
    if (connect_all(r, &why)) {
        atomic_store(&r->up, true);
    } else {
        atomic_store(&r->up, false);
        r->announced_down = true;
        log_warn("ratelimit: Redis unavailable at start-up, using in-process limits until it "
                 "answers",
                 LOG_STR("detail", why));
    }
    if (pthread_create(&r->thread, NULL, reconnect_main, r)) {
        log_error("ratelimit: cannot start the Redis reconnect thread");
        for (size_t i = 0; i < RL_REDIS_CONNS; i++)
            if (r->conns[i].ctx)
                redisFree(r->conns[i].ctx);
        free(r);
        return ERR_INTERNAL;
    }
    pthread_setname_np(r->thread, "sl-redis"); /* top -H, perf, gdb */
    *out = r;
    return ERR_OK;
}

void rl_redis_free(struct rl_redis *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->ctl);
    r->stop = true;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->ctl);
    pthread_join(r->thread, NULL);
    for (size_t i = 0; i < RL_REDIS_CONNS; i++) {
        if (r->conns[i].ctx)
            redisFree(r->conns[i].ctx);
        pthread_mutex_destroy(&r->conns[i].lock);
    }
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->ctl);
    free(r);
}

bool rl_redis_is_up(struct rl_redis *r)
{
    return atomic_load(&r->up);
}

/*
 * A caller gave up waiting for a busy connection. Redis answers, only slowly,
 * so this is not an outage: no state change, and one line per
 * RL_REDIS_BUSY_LOG_MS however many callers give up.
 */
static void note_busy(struct rl_redis *r)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint_least64_t now = (uint_least64_t)ts.tv_sec * 1000 + (uint_least64_t)ts.tv_nsec / 1000000;
    uint_least64_t last = atomic_load(&r->busy_logged_ms);
    if (last && now - last < RL_REDIS_BUSY_LOG_MS)
        return;
    if (!atomic_compare_exchange_strong(&r->busy_logged_ms, &last, now ? now : 1))
        return; /* another caller logs it */
    log_warn("ratelimit: Redis slow, connections busy; some decisions made in-process",
             LOG_INT("wait_ms", RL_REDIS_COMMAND_TIMEOUT_MS));
}

static bool reply_int(const redisReply *reply, size_t i, long long *v)
{
    if (reply->element[i]->type != REDIS_REPLY_INTEGER)
        return false;
    *v = reply->element[i]->integer;
    return *v >= 0;
}

enum err rl_redis_hit(struct rl_redis *r, const char *rkey, uint64_t window_ms, uint64_t now_ms,
                      unsigned limit, unsigned shard, struct rl_window_state *st)
{
    if (!atomic_load(&r->up))
        return ERR_UNAVAILABLE;
    char w[24], now[24], lim[16];
    snprintf(w, sizeof(w), "%llu", (unsigned long long)window_ms);
    snprintf(now, sizeof(now), "%llu", (unsigned long long)now_ms);
    snprintf(lim, sizeof(lim), "%u", limit);

    struct rl_conn *cn = &r->conns[shard % RL_REDIS_CONNS];
    const char *why = NULL;
    struct timespec until;
    deadline_in(&until, CLOCK_REALTIME, RL_REDIS_COMMAND_TIMEOUT_MS);
    int locked = pthread_mutex_timedlock(&cn->lock, &until);
    if (locked != 0) {
        ASSERT(locked == ETIMEDOUT); /* EINVAL or EDEADLK would be a bug here */
        note_busy(r);
        return ERR_UNAVAILABLE;
    }
    redisReply *reply = NULL;
    if (!cn->ctx) {
        why = "not connected";
        goto out;
    }
    const char *argv[7] = {"EVALSHA", cn->sha, "1", rkey, w, now, lim};
    size_t lens[7] = {7, 40, 1, strlen(rkey), strlen(w), strlen(now), strlen(lim)};
    reply = redisCommandArgv(cn->ctx, 7, argv, lens);
    if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        /* the script cache was flushed: send the body once, which caches it again */
        freeReplyObject(reply);
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = SCRIPT;
        lens[1] = sizeof(SCRIPT) - 1;
        reply = redisCommandArgv(cn->ctx, 7, argv, lens);
    }
    if (!reply) {
        why = cn->ctx->errstr[0] ? cn->ctx->errstr : "no reply";
        goto out;
    }
    long long v[4];
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 || !reply_int(reply, 0, &v[0]) ||
        !reply_int(reply, 1, &v[1]) || !reply_int(reply, 2, &v[2]) || !reply_int(reply, 3, &v[3])) {
        why = reply->type == REDIS_REPLY_ERROR ? "error reply" : "unexpected reply";
        goto out;
    }
    st->allowed = v[0] == 1;
    st->cur = (uint64_t)v[1];
    st->prev = (uint64_t)v[2];
    st->window_idx = (uint64_t)v[3];
out:
    if (reply)
        freeReplyObject(reply);
    char detail[128] = "";
    if (why) {
        snprintf(detail, sizeof(detail), "%s", why);
        if (cn->ctx) {
            redisFree(cn->ctx); /* a context after an error or timeout is unusable */
            cn->ctx = NULL;
        }
    }
    pthread_mutex_unlock(&cn->lock);
    if (why) {
        mark_down(r, detail);
        return ERR_UNAVAILABLE;
    }
    return ERR_OK;
}
