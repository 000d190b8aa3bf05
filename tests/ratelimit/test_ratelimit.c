/*
 * Rate-limit suite (H8). Without SHIPLOG_TEST_REDIS_URL it runs the
 * in-process tests; with it (scripts/redistmp run) the Redis tests, which
 * stop and restart the server through SHIPLOG_TEST_REDISTMP to check the
 * fallback. Each test uses keys of its own, so the shared Redis needs no
 * cleaning between tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "crypto/hash.h"
#include "crypto/rand.h"
#include "ratelimit/ratelimit.h"

/* A fixed window-aligned time (ms): 2024-01-01T00:00:00Z is a multiple of an hour. */
#define T0 1704067200000ull

static const char *redis_url(void)
{
    const char *u = getenv("SHIPLOG_TEST_REDIS_URL");
    return u && *u ? u : NULL;
}

/* ---- helpers -------------------------------------------------------------- */

/*
 * The hash key every fixture sets, as the server sets one derived from the
 * master key: limiters that share a Redis must share it to share counts.
 */
static const unsigned char TEST_HASH_KEY[RL_HASH_KEY_LEN] = {
    0x73, 0x68, 0x69, 0x70, 0x6c, 0x6f, 0x67, 0x2d, 0x72, 0x6c, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x01,
    0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11};

struct fixture {
    struct config cfg;
    bool cfg_loaded;
    struct ratelimit *rl;
};

/* A limiter on url (NULL: in-process) with hash key key (NULL: its own random one). */
static void open_rl_key(struct fixture *f, const char *url, const unsigned char *key)
{
    memset(f, 0, sizeof(*f));
    char url_kv[512];
    snprintf(url_kv, sizeof(url_kv), "SHIPLOG_REDIS_URL=%s", url ? url : "");
    const char *env[3] = {"SHIPLOG_DATA_DIR=/tmp", url ? url_kv : NULL, NULL};
    struct buf msg = BUF_INIT(1024);
    assert_int_equal(config_load(&f->cfg, env, &msg), ERR_OK);
    buf_release(&msg);
    f->cfg_loaded = true;
    assert_int_equal(ratelimit_new(&f->cfg, &f->rl), ERR_OK);
    if (key)
        ratelimit_set_key(f->rl, key);
}

static void open_rl(struct fixture *f, const char *url)
{
    open_rl_key(f, url, TEST_HASH_KEY);
}

static void close_rl(struct fixture *f)
{
    ratelimit_free(f->rl);
    if (f->cfg_loaded)
        config_release(&f->cfg);
}

static struct rl_decision hit(struct ratelimit *rl, enum rl_bucket b, const char *key, uint64_t now)
{
    struct rl_decision d;
    assert_int_equal(ratelimit_hit_at(rl, b, str_from_cstr(key), now, &d), ERR_OK);
    return d;
}

/* A key unique to this run, so tests never see each other's Redis counts. */
static void unique_key(char *out, size_t cap, const char *what)
{
    static unsigned seq;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, cap, "%s:%ld.%09ld:%d:%u", what, (long)ts.tv_sec, ts.tv_nsec, (int)getpid(),
             ++seq);
}

/* Runs `redistmp <verb> DIR` and waits for it. */
static void redistmp(const char *verb)
{
    const char *script = getenv("SHIPLOG_TEST_REDISTMP");
    const char *dir = getenv("SHIPLOG_TEST_REDISTMP_DIR");
    assert_non_null(script);
    assert_non_null(dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1); /* keep PORT=/URL= off the TAP stream */
        execl(script, script, verb, dir, (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static bool wait_redis_up(struct ratelimit *rl, bool want, unsigned max_ms)
{
    for (unsigned waited = 0; waited <= max_ms; waited += 20) {
        bool configured, up;
        ratelimit_status(rl, &configured, &up);
        if (up == want)
            return true;
        usleep(20000);
    }
    return false;
}

/* Output of a shell command (redis-cli) into out; returns its length. */
static size_t run_capture(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    return n;
}

/* ---- shared checks, run against both backends -------------------------------- */

/* Exactly N hits pass, N+1 is refused, with the headers counting down. */
static void check_limit_exact(struct ratelimit *rl, bool want_degraded)
{
    for (int b = 0; b < RL_BUCKET_COUNT_; b++) {
        const struct rl_limit *lim = ratelimit_limit((enum rl_bucket)b);
        char key[128];
        unique_key(key, sizeof(key), "exact");
        uint64_t now = T0 + 1000;
        for (unsigned i = 1; i <= lim->limit; i++) {
            struct rl_decision d = hit(rl, (enum rl_bucket)b, key, now);
            assert_true(d.allowed);
            assert_int_equal(d.limit, lim->limit);
            assert_int_equal(d.remaining, lim->limit - i);
            assert_int_equal(d.retry_after_s, 0);
            assert_int_equal(d.degraded, want_degraded);
        }
        struct rl_decision d = hit(rl, (enum rl_bucket)b, key, now);
        assert_false(d.allowed);
        assert_int_equal(d.remaining, 0);
        assert_true(d.retry_after_s >= 1);
        assert_int_equal(d.degraded, want_degraded);
        /* refused again: a refused hit is not counted, the answer is the same */
        struct rl_decision d2 = hit(rl, (enum rl_bucket)b, key, now);
        assert_false(d2.allowed);
        assert_int_equal(d2.retry_after_s, d.retry_after_s);
    }
}

/*
 * Login (10 per 15 min): 10 hits at the start of a window; at the start of the
 * next window they still weigh fully; they fade linearly; Retry-After is exact
 * to the second.
 */
static void check_window_slides(struct ratelimit *rl)
{
    char key[128];
    unique_key(key, sizeof(key), "slide");
    const uint64_t w = 15 * 60 * 1000;
    for (int i = 0; i < 10; i++)
        assert_true(hit(rl, RL_LOGIN, key, T0).allowed);
    struct rl_decision d = hit(rl, RL_LOGIN, key, T0 + w - 1);
    assert_false(d.allowed);
    d = hit(rl, RL_LOGIN, key, T0 + w); /* next window, previous weighs 1 */
    assert_false(d.allowed);
    /* 10 * (1 - e/w) + 1 <= 10  <=>  e >= w/10 = 90 s */
    assert_int_equal(d.retry_after_s, 90);
    assert_false(hit(rl, RL_LOGIN, key, T0 + w + 89 * 1000).allowed);
    d = hit(rl, RL_LOGIN, key, T0 + w + 90 * 1000);
    assert_true(d.allowed);
    assert_int_equal(d.remaining, 0);
    /* two windows later everything is gone */
    for (int i = 0; i < 10; i++)
        assert_true(hit(rl, RL_LOGIN, key, T0 + 3 * w).allowed);
    assert_false(hit(rl, RL_LOGIN, key, T0 + 3 * w).allowed);
}

/* Different keys and different buckets count separately. */
static void check_independent_keys(struct ratelimit *rl)
{
    char a[128], b[128];
    unique_key(a, sizeof(a), "ip:a");
    unique_key(b, sizeof(b), "ip:b");
    for (int i = 0; i < 5; i++)
        assert_true(hit(rl, RL_SIGNUP, a, T0).allowed);
    assert_false(hit(rl, RL_SIGNUP, a, T0).allowed);
    assert_true(hit(rl, RL_SIGNUP, b, T0).allowed);
    assert_true(hit(rl, RL_PASSWORD_RESET, a, T0).allowed);
    assert_true(hit(rl, RL_MAGIC_LINK, a, T0).allowed);
}

/* ---- in-process tests ------------------------------------------------------ */

static void test_limit_table(void **state)
{
    (void)state;
    struct {
        enum rl_bucket b;
        const char *name;
        unsigned limit, window_s;
    } want[] = {
        {RL_LOGIN, "login", 10, 900},
        {RL_SIGNUP, "signup", 5, 3600},
        {RL_PASSWORD_RESET, "password_reset", 5, 900},
        {RL_MAGIC_LINK, "magic_link", 5, 900},
        {RL_API, "api", 600, 60},
        {RL_WEBHOOK, "webhook", 30, 600},
    };
    assert_int_equal(sizeof(want) / sizeof(want[0]), RL_BUCKET_COUNT_);
    for (size_t i = 0; i < RL_BUCKET_COUNT_; i++) {
        const struct rl_limit *l = ratelimit_limit(want[i].b);
        assert_non_null(l);
        assert_string_equal(l->name, want[i].name);
        assert_int_equal(l->limit, want[i].limit);
        assert_int_equal(l->window_s, want[i].window_s);
    }
    assert_null(ratelimit_limit(RL_BUCKET_COUNT_));
    assert_null(ratelimit_limit((enum rl_bucket) - 1));
}

static void test_local_limit_exact(void **state)
{
    (void)state;
    struct fixture f;
    open_rl(&f, NULL);
    check_limit_exact(f.rl, false);
    close_rl(&f);
}

static void test_local_window_slides(void **state)
{
    (void)state;
    struct fixture f;
    open_rl(&f, NULL);
    check_window_slides(f.rl);
    close_rl(&f);
}

static void test_local_independent_keys(void **state)
{
    (void)state;
    struct fixture f;
    open_rl(&f, NULL);
    check_independent_keys(f.rl);
    close_rl(&f);
}

/* Two in-process limiters (two server processes without Redis) do not share. */
static void test_local_instances_separate(void **state)
{
    (void)state;
    struct fixture a, b;
    open_rl(&a, NULL);
    open_rl(&b, NULL);
    for (int i = 0; i < 10; i++)
        assert_true(hit(a.rl, RL_LOGIN, "ip:198.51.100.1", T0).allowed);
    assert_false(hit(a.rl, RL_LOGIN, "ip:198.51.100.1", T0).allowed);
    assert_true(hit(b.rl, RL_LOGIN, "ip:198.51.100.1", T0).allowed);
    bool configured = true, up = true;
    ratelimit_status(a.rl, &configured, &up);
    assert_false(configured);
    assert_false(up);
    close_rl(&a);
    close_rl(&b);
}

/* RL_MAX_KEYS + 1 distinct keys: the table stays bounded and keeps the newest. */
static void test_local_table_bounded(void **state)
{
    (void)state;
    struct fixture f;
    open_rl(&f, NULL);
    char key[64];
    for (unsigned i = 0; i <= RL_MAX_KEYS; i++) {
        snprintf(key, sizeof(key), "ip:10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        (void)hit(f.rl, RL_API, key, T0);
        if (i % 10000 == 0)
            assert_true(ratelimit_local_count(f.rl) <= RL_MAX_KEYS);
    }
    size_t n = ratelimit_local_count(f.rl);
    assert_true(n <= RL_MAX_KEYS);
    assert_true(n >= RL_MAX_KEYS / 2); /* evicting only when a shard is full */
    /* the most recent key was kept: its second hit sees the first */
    assert_int_equal(hit(f.rl, RL_API, key, T0).remaining, 600 - 2);
    close_rl(&f);
}

static void test_key_limits(void **state)
{
    (void)state;
    struct fixture f;
    open_rl(&f, NULL);
    char *key = malloc(RL_MAX_KEY_LEN + 2);
    assert_non_null(key);
    memset(key, 'k', RL_MAX_KEY_LEN + 1);
    key[RL_MAX_KEY_LEN + 1] = '\0';
    struct rl_decision d;
    assert_int_equal(ratelimit_hit_at(f.rl, RL_LOGIN, str_from(key, RL_MAX_KEY_LEN), T0, &d),
                     ERR_OK);
    assert_true(d.allowed);
    assert_int_equal(ratelimit_hit_at(f.rl, RL_LOGIN, str_from(key, RL_MAX_KEY_LEN + 1), T0, &d),
                     ERR_LIMIT);
    assert_false(d.allowed); /* fails closed */
    assert_int_equal(ratelimit_hit(f.rl, RL_LOGIN, str_from(key, RL_MAX_KEY_LEN + 1), &d),
                     ERR_LIMIT);
    assert_false(d.allowed);
    assert_int_equal(ratelimit_hit_at(f.rl, RL_LOGIN, STR_LIT(""), T0, &d), ERR_INVALID);
    assert_false(d.allowed);
    assert_int_equal(ratelimit_hit_at(f.rl, RL_BUCKET_COUNT_, STR_LIT("ip:x"), T0, &d),
                     ERR_INVALID);
    assert_false(d.allowed);
    free(key);
    close_rl(&f);
}

static void test_header_values(void **state)
{
    (void)state;
    struct rl_header h[4];
    struct rl_decision ok = {.allowed = true, .limit = 10, .remaining = 7, .reset_s = 1800};
    assert_int_equal(ratelimit_header_values(&ok, h), 3);
    assert_string_equal(h[0].name, "RateLimit-Limit");
    assert_string_equal(h[0].value, "10");
    assert_string_equal(h[1].name, "RateLimit-Remaining");
    assert_string_equal(h[1].value, "7");
    assert_string_equal(h[2].name, "RateLimit-Reset");
    assert_string_equal(h[2].value, "1800");
    struct rl_decision no = {.allowed = false, .limit = 10, .reset_s = 900, .retry_after_s = 90};
    assert_int_equal(ratelimit_header_values(&no, h), 4);
    assert_string_equal(h[1].value, "0");
    assert_string_equal(h[3].name, "Retry-After");
    assert_string_equal(h[3].value, "90");
    struct rl_decision max = {.limit = UINT32_MAX,
                              .remaining = UINT32_MAX,
                              .reset_s = UINT32_MAX,
                              .retry_after_s = UINT32_MAX};
    assert_int_equal(ratelimit_header_values(&max, h), 4);
    assert_string_equal(h[3].value, "4294967295");
}

/* A clock that steps back keeps counting in the newer window (no free reset). */
static void test_local_clock_backwards(void **state)
{
    (void)state;
    struct fixture f;
    open_rl(&f, NULL);
    const uint64_t hour = 3600 * 1000;
    for (int i = 0; i < 5; i++)
        assert_true(hit(f.rl, RL_SIGNUP, "ip:192.0.2.7", T0 + 3 * hour).allowed);
    assert_false(hit(f.rl, RL_SIGNUP, "ip:192.0.2.7", T0).allowed);
    close_rl(&f);
}

struct hammer {
    struct ratelimit *rl;
    unsigned allowed;
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < 400; i++) {
        struct rl_decision d;
        if (ratelimit_hit_at(h->rl, RL_API, STR_LIT("tenant:hammer"), T0 + 5000, &d) == ERR_OK &&
            d.allowed)
            h->allowed++;
    }
    return NULL;
}

/* Eight threads on one key: exactly the limit passes in total. */
static void test_local_concurrent(void **state)
{
    (void)state;
    struct fixture f;
    open_rl(&f, NULL);
    pthread_t t[8];
    struct hammer h[8];
    for (int i = 0; i < 8; i++) {
        h[i] = (struct hammer){.rl = f.rl};
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h[i]), 0);
    }
    unsigned total = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        total += h[i].allowed;
    }
    assert_int_equal(total, 600);
    close_rl(&f);
}

/*
 * The hash key names the in-process entries too: counts made under one key are
 * not found under another (hence ratelimit_set_key before first use).
 */
static void test_local_set_key(void **state)
{
    (void)state;
    struct fixture f;
    open_rl_key(&f, NULL, NULL);
    for (int i = 0; i < 10; i++)
        assert_true(hit(f.rl, RL_LOGIN, "ip:198.51.100.2", T0).allowed);
    assert_false(hit(f.rl, RL_LOGIN, "ip:198.51.100.2", T0).allowed);
    ratelimit_set_key(f.rl, TEST_HASH_KEY);
    for (int i = 0; i < 10; i++)
        assert_true(hit(f.rl, RL_LOGIN, "ip:198.51.100.2", T0).allowed);
    assert_false(hit(f.rl, RL_LOGIN, "ip:198.51.100.2", T0).allowed);
    close_rl(&f);
}

static void test_bad_redis_url(void **state)
{
    (void)state;
    const char *bad[] = {"http://127.0.0.1:6379",
                         "rediss://127.0.0.1:6379",
                         "redis://",
                         "redis://host:99999",
                         "redis://host:0",
                         "redis://host/x",
                         "redis://:%zz@host",
                         "redis://[::1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct config cfg;
        char kv[128];
        snprintf(kv, sizeof(kv), "SHIPLOG_REDIS_URL=%s", bad[i]);
        const char *env[3] = {"SHIPLOG_DATA_DIR=/tmp", kv, NULL};
        struct buf msg = BUF_INIT(1024);
        assert_int_equal(config_load(&cfg, env, &msg), ERR_OK);
        buf_release(&msg);
        struct ratelimit *rl = (struct ratelimit *)1;
        assert_int_equal(ratelimit_new(&cfg, &rl), ERR_CONFIG);
        assert_null(rl);
        config_release(&cfg);
    }
}

/* Redis configured but nothing listening: the server starts, degraded, limits hold. */
static void test_redis_unreachable_at_start(void **state)
{
    (void)state;
    struct fixture f;
    open_rl(&f, "redis://127.0.0.1:1/0");
    bool configured = false, up = true;
    ratelimit_status(f.rl, &configured, &up);
    assert_true(configured);
    assert_false(up);
    check_limit_exact(f.rl, true);
    close_rl(&f);
}

/* ---- Redis tests ------------------------------------------------------------ */

static void test_redis_limit_exact(void **state)
{
    (void)state;
    struct fixture f;
    open_rl(&f, redis_url());
    assert_true(wait_redis_up(f.rl, true, 0));
    check_limit_exact(f.rl, false);
    close_rl(&f);
}

static void test_redis_window_slides(void **state)
{
    (void)state;
    struct fixture f;
    open_rl(&f, redis_url());
    assert_true(wait_redis_up(f.rl, true, 0)); /* through Redis, not the fallback */
    check_window_slides(f.rl);
    check_independent_keys(f.rl);
    bool configured = false, up = false;
    ratelimit_status(f.rl, &configured, &up);
    assert_true(configured && up);
    close_rl(&f);
}

/* Two limiters (two server processes) sharing Redis see each other's hits. */
static void test_redis_shared(void **state)
{
    (void)state;
    struct fixture a, b;
    open_rl(&a, redis_url());
    open_rl(&b, redis_url());
    char key[128];
    unique_key(key, sizeof(key), "ip:shared");
    for (int i = 0; i < 5; i++) {
        assert_true(hit(a.rl, RL_LOGIN, key, T0).allowed);
        assert_true(hit(b.rl, RL_LOGIN, key, T0).allowed);
    }
    struct rl_decision d = hit(a.rl, RL_LOGIN, key, T0);
    assert_false(d.allowed);
    assert_false(d.degraded);
    assert_false(hit(b.rl, RL_LOGIN, key, T0).allowed);
    close_rl(&a);
    close_rl(&b);
}

/* Every key is shiplog:rl:<bucket>:<64 hex>, carries a TTL, and no raw key text. */
static void test_redis_key_namespace(void **state)
{
    (void)state;
    struct fixture f;
    open_rl(&f, redis_url());
    char ip[128], acct[128];
    unique_key(ip, sizeof(ip), "ip:203.0.113.77");
    unique_key(acct, sizeof(acct), "acct:alice@example.com");
    assert_true(hit(f.rl, RL_LOGIN, ip, T0).allowed);
    assert_true(hit(f.rl, RL_LOGIN, acct, T0).allowed);
    assert_true(hit(f.rl, RL_WEBHOOK, acct, T0).allowed);

    char cmd[1024], out[1 << 16];
    snprintf(cmd, sizeof(cmd), "redis-cli -u '%s' --scan", redis_url());
    run_capture(cmd, out, sizeof(out));
    regex_t re;
    assert_int_equal(
        regcomp(&re,
                "^shiplog:rl:(login|signup|password_reset|magic_link|api|webhook):[0-9a-f]{64}$",
                REG_EXTENDED | REG_NOSUB),
        0);
    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        n++;
        assert_int_equal(regexec(&re, line, 0, NULL, 0), 0);
        assert_null(strstr(line, "203.0.113"));
        assert_null(strstr(line, "alice"));
        char ttl[64];
        snprintf(cmd, sizeof(cmd), "redis-cli -u '%s' pttl '%s'", redis_url(), line);
        run_capture(cmd, ttl, sizeof(ttl));
        long v = strtol(ttl, NULL, 10);
        assert_true(v > 0 && v <= 2L * 3600 * 1000);
    }
    regfree(&re);
    assert_true(n >= 3);
    close_rl(&f);
}

/* "shiplog:rl:<bucket>:<hex of digest>", the name the limiter gives a key in Redis. */
static void redis_name(const char *bucket, const unsigned char digest[SHA256_LEN], char *out,
                       size_t cap)
{
    char hex[2 * SHA256_LEN + 1];
    hex_encode(digest, SHA256_LEN, hex);
    snprintf(out, cap, "shiplog:rl:%s:%s", bucket, hex);
}

/* Whether the test Redis holds name. */
static bool redis_exists(const char *name)
{
    char cmd[1024], out[64];
    snprintf(cmd, sizeof(cmd), "redis-cli -u '%s' exists '%s'", redis_url(), name);
    run_capture(cmd, out, sizeof(out));
    return strtol(out, NULL, 10) == 1;
}

/*
 * A key's Redis name is keyed: shiplog:rl:<bucket>:<hex HMAC-SHA-256(hash
 * key, key)>, and never <hex SHA-256(key)>, which anyone reading Redis could
 * compute from a guessed IP or address to confirm it.
 */
static void test_redis_key_hmac(void **state)
{
    (void)state;
    struct fixture f;
    open_rl(&f, redis_url());
    assert_true(wait_redis_up(f.rl, true, 15000));
    char key[128];
    unique_key(key, sizeof(key), "ip:203.0.113.9");
    assert_false(hit(f.rl, RL_LOGIN, key, T0).degraded);

    unsigned char mac[SHA256_LEN], plain[SHA256_LEN];
    hmac_sha256(TEST_HASH_KEY, sizeof(TEST_HASH_KEY), key, strlen(key), mac);
    sha256(key, strlen(key), plain);
    char keyed[128], unkeyed[128];
    redis_name("login", mac, keyed, sizeof(keyed));
    redis_name("login", plain, unkeyed, sizeof(unkeyed));
    assert_true(redis_exists(keyed));
    assert_false(redis_exists(unkeyed));
    close_rl(&f);
}

/*
 * One key under two hash keys: two Redis names, two separate counts. Limiters
 * left with their own random hash keys therefore do not share counts, which is
 * why every process sharing a Redis must be given the same key.
 */
static void test_redis_key_per_hash_key(void **state)
{
    (void)state;
    static const unsigned char other[RL_HASH_KEY_LEN] = {0x6f, 0x74, 0x68, 0x65, 0x72};
    struct fixture a, b;
    open_rl_key(&a, redis_url(), TEST_HASH_KEY);
    open_rl_key(&b, redis_url(), other);
    assert_true(wait_redis_up(a.rl, true, 15000));
    assert_true(wait_redis_up(b.rl, true, 15000));
    char key[128];
    unique_key(key, sizeof(key), "ip:198.51.100.23");
    for (int i = 0; i < 10; i++)
        assert_false(hit(a.rl, RL_LOGIN, key, T0).degraded);
    assert_false(hit(a.rl, RL_LOGIN, key, T0).allowed);
    struct rl_decision d = hit(b.rl, RL_LOGIN, key, T0);
    assert_true(d.allowed);
    assert_false(d.degraded);
    assert_int_equal(d.remaining, 9);

    unsigned char ma[SHA256_LEN], mb[SHA256_LEN];
    hmac_sha256(TEST_HASH_KEY, sizeof(TEST_HASH_KEY), key, strlen(key), ma);
    hmac_sha256(other, sizeof(other), key, strlen(key), mb);
    char na[128], nb[128];
    redis_name("login", ma, na, sizeof(na));
    redis_name("login", mb, nb, sizeof(nb));
    assert_string_not_equal(na, nb);
    assert_true(redis_exists(na));
    assert_true(redis_exists(nb));
    close_rl(&a);
    close_rl(&b);

    /* no ratelimit_set_key: each limiter has a random key of its own */
    open_rl_key(&a, redis_url(), NULL);
    open_rl_key(&b, redis_url(), NULL);
    assert_true(wait_redis_up(a.rl, true, 15000));
    assert_true(wait_redis_up(b.rl, true, 15000));
    unique_key(key, sizeof(key), "ip:198.51.100.24");
    for (int i = 0; i < 5; i++)
        assert_true(hit(a.rl, RL_SIGNUP, key, T0).allowed);
    assert_false(hit(a.rl, RL_SIGNUP, key, T0).allowed);
    d = hit(b.rl, RL_SIGNUP, key, T0);
    assert_true(d.allowed);
    assert_false(d.degraded);
    close_rl(&a);
    close_rl(&b);
}

/* Count the log lines that contain needle in the file at path. */
static unsigned count_lines(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[4096];
    unsigned n = 0;
    while (fgets(line, sizeof(line), fp))
        if (strstr(line, needle))
            n++;
    fclose(fp);
    return n;
}

/*
 * Redis stops mid-test: decisions keep coming, degraded, the limit is still
 * enforced in-process (continuing from the hits this process made), one log
 * line; Redis restarts: shared and not degraded again.
 */
static void test_redis_outage(void **state)
{
    (void)state;
    char logpath[] = "/tmp/rl-log-XXXXXX";
    int logfd = mkstemp(logpath);
    assert_true(logfd >= 0);
    log_init(LOG_INFO, logfd);

    struct fixture a, b;
    open_rl(&a, redis_url());
    open_rl(&b, redis_url());
    char key[128], key2[128];
    unique_key(key, sizeof(key), "ip:outage");
    unique_key(key2, sizeof(key2), "ip:outage2");
    for (int i = 0; i < 4; i++)
        assert_false(hit(a.rl, RL_LOGIN, key, T0).degraded);
    assert_false(hit(b.rl, RL_LOGIN, key, T0).degraded); /* 5 shared, 4 of them from a */

    redistmp("stop");
    /* 6 more in-process for a (it remembers its own 4) */
    for (int i = 0; i < 6; i++) {
        struct rl_decision d = hit(a.rl, RL_LOGIN, key, T0);
        assert_true(d.allowed);
        assert_true(d.degraded);
    }
    struct rl_decision d = hit(a.rl, RL_LOGIN, key, T0);
    assert_false(d.allowed);
    assert_true(d.degraded);
    assert_true(d.retry_after_s >= 1);
    /* a key a never saw: a fresh in-process count, still limited */
    for (int i = 0; i < 10; i++)
        assert_true(hit(a.rl, RL_LOGIN, key2, T0).allowed);
    assert_false(hit(a.rl, RL_LOGIN, key2, T0).allowed);
    /* while down, a hit does not wait for Redis */
    struct timespec t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; i < 100; i++)
        (void)hit(a.rl, RL_API, key2, T0);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    long ms = (t2.tv_sec - t1.tv_sec) * 1000 + (t2.tv_nsec - t1.tv_nsec) / 1000000;
    assert_true(ms < 500);
    bool configured, up;
    ratelimit_status(a.rl, &configured, &up);
    assert_true(configured);
    assert_false(up);
    assert_true(hit(b.rl, RL_LOGIN, key, T0).degraded);

    redistmp("start");
    assert_true(wait_redis_up(a.rl, true, 15000));
    assert_true(wait_redis_up(b.rl, true, 15000));
    /* Redis kept nothing (no persistence): shared counting starts over */
    char key3[128];
    unique_key(key3, sizeof(key3), "ip:after");
    for (int i = 0; i < 5; i++) {
        d = hit(a.rl, RL_LOGIN, key3, T0);
        assert_true(d.allowed);
        assert_false(d.degraded);
        assert_true(hit(b.rl, RL_LOGIN, key3, T0).allowed);
    }
    assert_false(hit(a.rl, RL_LOGIN, key3, T0).allowed);
    assert_false(hit(b.rl, RL_LOGIN, key3, T0).degraded);

    close_rl(&a);
    close_rl(&b);
    log_init(LOG_INFO, 2);
    /* one line per transition per limiter, not per request */
    assert_int_equal(count_lines(logpath, "Redis unavailable"), 2);
    assert_int_equal(count_lines(logpath, "Redis available again"), 2);
    close(logfd);
    unlink(logpath);
}

/* Redis hangs (SIGSTOP): a hit waits at most about the command timeout, then falls back. */
static void test_redis_timeout(void **state)
{
    (void)state;
    struct fixture f;
    open_rl(&f, redis_url());
    assert_true(wait_redis_up(f.rl, true, 15000));
    char path[1024], key[128];
    snprintf(path, sizeof(path), "%s/pid", getenv("SHIPLOG_TEST_REDISTMP_DIR"));
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    long pid = 0;
    assert_int_equal(fscanf(fp, "%ld", &pid), 1);
    fclose(fp);
    unique_key(key, sizeof(key), "ip:hang");
    assert_false(hit(f.rl, RL_LOGIN, key, T0).degraded);

    assert_int_equal(kill((pid_t)pid, SIGSTOP), 0);
    struct timespec t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct rl_decision d = hit(f.rl, RL_LOGIN, key, T0);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    kill((pid_t)pid, SIGCONT);
    long ms = (t2.tv_sec - t1.tv_sec) * 1000 + (t2.tv_nsec - t1.tv_nsec) / 1000000;
    assert_true(d.allowed);
    assert_true(d.degraded);
    assert_true(ms >= RL_REDIS_COMMAND_TIMEOUT_MS - 5 && ms < 1000);
    assert_true(wait_redis_up(f.rl, true, 15000));
    assert_false(hit(f.rl, RL_LOGIN, key, T0).degraded);
    close_rl(&f);
}

/*
 * ---- a slow Redis ------------------------------------------------------------
 * A TCP relay in front of the test Redis that holds every reply back for
 * delay_ms: Redis answers, within the command timeout, but slowly. One thread
 * accepts, one thread per connection relays; all of them poll `stop`.
 */
#define SLOW_MAX_CONNS 16

struct slow_relay {
    struct slow_proxy *p;
    int client, server;
    pthread_t thread;
};

struct slow_proxy {
    int listener, port, upstream_port;
    atomic_int delay_ms;
    atomic_bool stop;
    pthread_t acceptor;
    struct slow_relay relays[SLOW_MAX_CONNS];
    size_t n; /* relays started; written by the acceptor only, read after joining it */
};

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void *slow_relay_main(void *arg)
{
    struct slow_relay *r = arg;
    static _Thread_local char chunk[1 << 16];
    struct pollfd pf[2] = {{.fd = r->client, .events = POLLIN},
                           {.fd = r->server, .events = POLLIN}};
    while (!atomic_load(&r->p->stop)) {
        if (poll(pf, 2, 20) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t got = read(pf[i].fd, chunk, sizeof(chunk));
            if (got <= 0)
                goto done;
            int delay = atomic_load(&r->p->delay_ms);
            if (i == 1 && delay > 0) /* a reply from Redis: hold it back */
                usleep((useconds_t)delay * 1000);
            if (!write_all(pf[1 - i].fd, chunk, (size_t)got))
                goto done;
        }
    }
done:
    shutdown(r->client, SHUT_RDWR);
    shutdown(r->server, SHUT_RDWR);
    return NULL;
}

static int connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *slow_accept_main(void *arg)
{
    struct slow_proxy *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd pf = {.fd = p->listener, .events = POLLIN};
        if (poll(&pf, 1, 20) <= 0)
            continue;
        int client = accept4(p->listener, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0)
            continue;
        int server = p->n < SLOW_MAX_CONNS ? connect_loopback(p->upstream_port) : -1;
        if (server < 0) {
            close(client);
            continue;
        }
        struct slow_relay *r = &p->relays[p->n];
        *r = (struct slow_relay){.p = p, .client = client, .server = server};
        if (pthread_create(&r->thread, NULL, slow_relay_main, r) != 0) {
            close(client);
            close(server);
            continue;
        }
        p->n++;
    }
    return NULL;
}

/* Starts a relay to the test Redis; its URL goes to url. */
static void slow_proxy_start(struct slow_proxy *p, char *url, size_t cap)
{
    memset(p, 0, sizeof(*p));
    assert_int_equal(sscanf(redis_url(), "redis://127.0.0.1:%d", &p->upstream_port), 1);
    p->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->listener >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(p->listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(p->listener, 16), 0);
    assert_int_equal(getsockname(p->listener, (struct sockaddr *)&sa, &len), 0);
    p->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&p->acceptor, NULL, slow_accept_main, p), 0);
    snprintf(url, cap, "redis://127.0.0.1:%d/0", p->port);
}

static void slow_proxy_stop(struct slow_proxy *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->acceptor, NULL);
    for (size_t i = 0; i < p->n; i++) {
        pthread_join(p->relays[i].thread, NULL);
        close(p->relays[i].client);
        close(p->relays[i].server);
    }
    close(p->listener);
}

#define SLOW_THREADS  32
#define SLOW_HITS     5  /* per thread */
#define SLOW_DELAY_MS 25 /* per reply: half the command timeout, so Redis stays "up" */

struct slow_caller {
    struct ratelimit *rl;
    const char *key;
    unsigned degraded, failed;
    long max_ms;
};

static long ms_between(const struct timespec *a, const struct timespec *b)
{
    return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

static void *slow_caller_main(void *arg)
{
    struct slow_caller *c = arg;
    for (int i = 0; i < SLOW_HITS; i++) {
        struct timespec t1, t2;
        struct rl_decision d;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        enum err e = ratelimit_hit_at(c->rl, RL_API, str_from_cstr(c->key), T0, &d);
        clock_gettime(CLOCK_MONOTONIC, &t2);
        if (e != ERR_OK || !d.allowed)
            c->failed++;
        if (d.degraded)
            c->degraded++;
        long ms = ms_between(&t1, &t2);
        if (ms > c->max_ms)
            c->max_ms = ms;
    }
    return NULL;
}

/*
 * Redis slow but alive (every reply SLOW_DELAY_MS late, under the command
 * timeout) and SLOW_THREADS callers on one key, so on one connection: waiting
 * for the connection is bounded too. Queued on its mutex the
 * SLOW_THREADS * SLOW_HITS hits would take at least 160 * 25 ms = 4 s; each
 * caller instead waits at most the command timeout for the connection, then
 * decides in-process, marked degraded. The bound (2 s for all of it) is far
 * from both.
 */
static void test_redis_slow_no_queue(void **state)
{
    (void)state;
    struct slow_proxy proxy;
    char url[128];
    slow_proxy_start(&proxy, url, sizeof(url));
    struct fixture f;
    open_rl(&f, url);
    assert_true(wait_redis_up(f.rl, true, 15000));
    char key[128];
    unique_key(key, sizeof(key), "ip:slow");
    assert_false(hit(f.rl, RL_API, key, T0).degraded);

    atomic_store(&proxy.delay_ms, SLOW_DELAY_MS);
    pthread_t t[SLOW_THREADS];
    struct slow_caller c[SLOW_THREADS];
    struct timespec t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; i < SLOW_THREADS; i++) {
        c[i] = (struct slow_caller){.rl = f.rl, .key = key};
        assert_int_equal(pthread_create(&t[i], NULL, slow_caller_main, &c[i]), 0);
    }
    unsigned degraded = 0, failed = 0;
    long max_ms = 0;
    for (int i = 0; i < SLOW_THREADS; i++) {
        pthread_join(t[i], NULL);
        degraded += c[i].degraded;
        failed += c[i].failed;
        max_ms = c[i].max_ms > max_ms ? c[i].max_ms : max_ms;
    }
    clock_gettime(CLOCK_MONOTONIC, &t2);
    atomic_store(&proxy.delay_ms, 0);
    long total_ms = ms_between(&t1, &t2);
    fprintf(stderr, "# slow Redis: %d hits in %ld ms, slowest %ld ms, %u degraded\n",
            SLOW_THREADS * SLOW_HITS, total_ms, max_ms, degraded);
    assert_int_equal(failed, 0); /* 161 hits of 600 allowed */
    assert_true(degraded >= 1);
    assert_true(max_ms < 1000);
    assert_true(total_ms < 2000);
    close_rl(&f);
    slow_proxy_stop(&proxy);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the server does: a write to a dead Redis must not kill us */
    log_init(LOG_WARN, 2);
    const struct CMUnitTest local[] = {
        cmocka_unit_test(test_limit_table),
        cmocka_unit_test(test_local_limit_exact),
        cmocka_unit_test(test_local_window_slides),
        cmocka_unit_test(test_local_independent_keys),
        cmocka_unit_test(test_local_instances_separate),
        cmocka_unit_test(test_local_table_bounded),
        cmocka_unit_test(test_key_limits),
        cmocka_unit_test(test_header_values),
        cmocka_unit_test(test_local_clock_backwards),
        cmocka_unit_test(test_local_concurrent),
        cmocka_unit_test(test_local_set_key),
        cmocka_unit_test(test_bad_redis_url),
        cmocka_unit_test(test_redis_unreachable_at_start),
    };
    const struct CMUnitTest redis[] = {
        cmocka_unit_test(test_redis_limit_exact),   cmocka_unit_test(test_redis_window_slides),
        cmocka_unit_test(test_redis_shared),        cmocka_unit_test(test_redis_key_namespace),
        cmocka_unit_test(test_redis_outage),        cmocka_unit_test(test_redis_timeout),
        cmocka_unit_test(test_redis_key_hmac),      cmocka_unit_test(test_redis_key_per_hash_key),
        cmocka_unit_test(test_redis_slow_no_queue),
    };
    if (redis_url())
        return cmocka_run_group_tests_name("ratelimit-redis", redis, NULL, NULL);
    return cmocka_run_group_tests_name("ratelimit-inprocess", local, NULL, NULL);
}
