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

#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "ratelimit/ratelimit.h"

/* A fixed window-aligned time (ms): 2024-01-01T00:00:00Z is a multiple of an hour. */
#define T0 1704067200000ull

static const char *redis_url(void)
{
    const char *u = getenv("SHIPLOG_TEST_REDIS_URL");
    return u && *u ? u : NULL;
}

/* ---- helpers -------------------------------------------------------------- */

struct fixture {
    struct config cfg;
    bool cfg_loaded;
    struct ratelimit *rl;
};

static void open_rl(struct fixture *f, const char *url)
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
        {RL_WEBHOOK, "webhook", 1200, 60},
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
        cmocka_unit_test(test_bad_redis_url),
        cmocka_unit_test(test_redis_unreachable_at_start),
    };
    const struct CMUnitTest redis[] = {
        cmocka_unit_test(test_redis_limit_exact), cmocka_unit_test(test_redis_window_slides),
        cmocka_unit_test(test_redis_shared),      cmocka_unit_test(test_redis_key_namespace),
        cmocka_unit_test(test_redis_outage),      cmocka_unit_test(test_redis_timeout),
    };
    if (redis_url())
        return cmocka_run_group_tests_name("ratelimit-redis", redis, NULL, NULL);
    return cmocka_run_group_tests_name("ratelimit-inprocess", local, NULL, NULL);
}
