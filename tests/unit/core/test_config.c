/* Unit tests for src/core/config.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/shiplog-cfg-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    log_init(LOG_ERROR, STDERR_FILENO); /* keep warnings out of the TAP stream */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *content, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    chmod(path, mode);
}

/* Loads env; returns the error and leaves the message in msg (caller releases). */
static enum err load(struct config *c, const char *const *env, struct buf *msg)
{
    buf_init(msg, 1024);
    return config_load(c, env, msg);
}

static void expect_error(const char *const *env, const char *fragment)
{
    struct config c;
    struct buf msg;
    enum err e = load(&c, env, &msg);
    if (e != ERR_CONFIG || !strstr(buf_cstr(&msg), fragment))
        fail_msg("expected ERR_CONFIG with '%s', got %d '%s'", fragment, e, buf_cstr(&msg));
    config_release(&c);
    buf_release(&msg);
}

static void expect_ok(const char *const *env)
{
    struct config c;
    struct buf msg;
    if (load(&c, env, &msg) != ERR_OK)
        fail_msg("unexpected error: %s", buf_cstr(&msg));
    config_release(&c);
    buf_release(&msg);
}

static void test_defaults(void **state)
{
    (void)state;
    const char *env[] = {"HOME=/root", "PATH=/bin", "SHIPLOG_TEST_ANYTHING=1", NULL};
    struct config c;
    struct buf msg;
    assert_int_equal(load(&c, env, &msg), ERR_OK);
    assert_int_equal(c.env, CONFIG_ENV_DEVELOPMENT);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_string_equal(c.data_dir, "./var");
    assert_string_equal(c.public_url, "http://127.0.0.1:8080");
    assert_string_equal(c.security_contact, "mailto:security@127.0.0.1");
    assert_string_equal(c.security_policy_url, "http://127.0.0.1:8080/security");
    assert_int_equal(c.log_level, LOG_INFO);
    assert_int_equal(c.max_body_bytes, 20 * 1024 * 1024);
    assert_int_equal(c.max_header_bytes, 16 * 1024);
    assert_int_equal(c.header_timeout_s, 10);
    assert_int_equal(c.request_timeout_s, 60);
    assert_int_equal(c.idle_timeout_s, 30);
    assert_int_equal(c.max_connections, 1024);
    assert_int_equal(c.max_connections_per_ip, 64);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(c.threads, cpus < 1 ? 1 : cpus > 256 ? 256 : cpus);
    assert_int_equal(c.shutdown_grace_s, 20);
    assert_int_equal(c.db_statement_timeout_ms, 5000);
    assert_int_equal(c.db_pool_size, 8);
    assert_int_equal(c.secret_ttl_s, 300);
    assert_int_equal(c.session_cache_ms, 1000);
    assert_false(c.outbound_allow_private);
    assert_int_equal(c.n_cors_origins, 0);
    assert_int_equal(c.n_trusted_proxies, 0);
    assert_false(c.master_key.set);
    struct buf out = BUF_INIT(1024);
    assert_int_equal(config_secret_get(&c, &c.master_key, &out), ERR_NOT_FOUND);
    config_release(&c);
    buf_release(&msg);
    expect_ok(NULL);
}

static void test_values(void **state)
{
    (void)state;
    const char *env[] = {
        "SHIPLOG_ENV=production",
        "SHIPLOG_MASTER_KEY=inline-master-key",
        "SHIPLOG_LISTEN=[::1]:9443",
        "SHIPLOG_TLS_CERT_FILE=/etc/cert.pem",
        "SHIPLOG_TLS_KEY_FILE=/etc/key.pem",
        "SHIPLOG_LOG_LEVEL=debug",
        "SHIPLOG_DATA_DIR=/srv/shiplog",
        "SHIPLOG_MAX_BODY_BYTES=1024",
        "SHIPLOG_THREADS=256",
        "SHIPLOG_SESSION_CACHE_MS=0",
        "SHIPLOG_OUTBOUND_ALLOW_PRIVATE=true",
        "SHIPLOG_CORS_ORIGINS= https://app.example.com ,http://localhost:3000,https://[::1]:8443",
        "SHIPLOG_TRUSTED_PROXIES=10.0.0.0/8, 192.168.1.7 ,fd00::/8",
        "SHIPLOG_DATABASE_URL=postgres://u:p@db/x",
        "SHIPLOG_KEYVAULT_DATABASE_URL=postgres://u:p@db/vault",
        NULL,
    };
    struct config c;
    struct buf msg;
    assert_int_equal(load(&c, env, &msg), ERR_OK);
    assert_int_equal(c.env, CONFIG_ENV_PRODUCTION);
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 9443);
    assert_string_equal(c.public_url, "https://[::1]:9443");
    assert_string_equal(c.security_contact, "mailto:security@[::1]");
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_string_equal(c.data_dir, "/srv/shiplog");
    assert_int_equal(c.max_body_bytes, 1024);
    assert_int_equal(c.threads, 256);
    assert_int_equal(c.session_cache_ms, 0); /* 0 is "no cache", not "the default" */
    assert_true(c.outbound_allow_private);
    assert_int_equal(c.n_cors_origins, 3);
    assert_string_equal(c.cors_origins[0], "https://app.example.com");
    assert_string_equal(c.cors_origins[1], "http://localhost:3000");
    assert_string_equal(c.cors_origins[2], "https://[::1]:8443");
    assert_int_equal(c.n_trusted_proxies, 3);
    assert_int_equal(c.trusted_proxies[1].prefix, 32);
    struct buf out = BUF_INIT(1024);
    assert_int_equal(config_secret_get(&c, &c.master_key, &out), ERR_OK);
    assert_string_equal(buf_cstr(&out), "inline-master-key");
    buf_wipe(&out);
    assert_int_equal(config_secret_get(&c, &c.database_url, &out), ERR_OK);
    assert_string_equal(buf_cstr(&out), "postgres://u:p@db/x");
    buf_wipe(&out);
    assert_int_equal(config_secret_get(&c, &c.migrate_database_url, &out), ERR_NOT_FOUND);
    config_release(&c);
    buf_release(&msg);

    const char *env2[] = {"SHIPLOG_LISTEN=0.0.0.0:0", "SHIPLOG_PUBLIC_URL=https://x.example/",
                          NULL};
    assert_int_equal(load(&c, env2, &msg), ERR_OK);
    assert_int_equal(c.listen_port, 0);
    assert_int_equal(c.feed_cache_ttl_ms, 5000); /* the default */
    assert_string_equal(c.public_url, "https://x.example");
    assert_string_equal(c.security_contact, "mailto:security@x.example");
    assert_string_equal(c.security_policy_url, "https://x.example/security");
    config_release(&c);
    buf_release(&msg);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error((const char *[]){"SHIPLOG_LISTN=1", NULL}, "unknown variable SHIPLOG_LISTN");
    expect_error((const char *[]){"SHIPLOG_ENV=staging", NULL}, "SHIPLOG_ENV");
    expect_error((const char *[]){"SHIPLOG_ENV=production", NULL}, "SHIPLOG_MASTER_KEY");
    expect_error((const char *[]){"SHIPLOG_LOG_LEVEL=loud", NULL}, "SHIPLOG_LOG_LEVEL");
    expect_error((const char *[]){"SHIPLOG_LISTEN=localhost", NULL}, "SHIPLOG_LISTEN");
    expect_error((const char *[]){"SHIPLOG_LISTEN=::1:80", NULL}, "SHIPLOG_LISTEN");
    expect_error((const char *[]){"SHIPLOG_LISTEN=[::1]80", NULL}, "SHIPLOG_LISTEN");
    expect_error((const char *[]){"SHIPLOG_LISTEN=[zz]:80", NULL}, "SHIPLOG_LISTEN");
    expect_error((const char *[]){"SHIPLOG_LISTEN=h:65536", NULL}, "SHIPLOG_LISTEN");
    expect_ok((const char *[]){"SHIPLOG_LISTEN=h:65535", NULL});
    expect_error((const char *[]){"SHIPLOG_LISTEN=h:", NULL}, "SHIPLOG_LISTEN");
    expect_error((const char *[]){"SHIPLOG_THREADS=abc", NULL}, "SHIPLOG_THREADS");
    expect_error((const char *[]){"SHIPLOG_THREADS=-1", NULL}, "SHIPLOG_THREADS");
    expect_error((const char *[]){"SHIPLOG_THREADS=99999999999999999999999", NULL},
                 "SHIPLOG_THREADS");
    expect_error((const char *[]){"SHIPLOG_SESSION_CACHE_MS=-1", NULL}, "SHIPLOG_SESSION_CACHE_MS");
    expect_error((const char *[]){"SHIPLOG_SESSION_CACHE_MS=1s", NULL}, "SHIPLOG_SESSION_CACHE_MS");
    expect_error((const char *[]){"SHIPLOG_OUTBOUND_ALLOW_PRIVATE=1", NULL},
                 "SHIPLOG_OUTBOUND_ALLOW_PRIVATE");
    expect_error((const char *[]){"SHIPLOG_OUTBOUND_ALLOW_PRIVATE=yes", NULL},
                 "SHIPLOG_OUTBOUND_ALLOW_PRIVATE");
    expect_ok((const char *[]){"SHIPLOG_OUTBOUND_ALLOW_PRIVATE=false", NULL});
    expect_error((const char *[]){"SHIPLOG_ENV=", NULL}, "is empty");
    expect_error((const char *[]){"SHIPLOG_ENV=production", "SHIPLOG_ENV=production", NULL},
                 "more than once");
    expect_error((const char *[]){"SHIPLOG_TLS_CERT_FILE=/a", NULL}, "TLS_KEY_FILE");
    expect_error((const char *[]){"SHIPLOG_TLS_KEY_FILE=/a", NULL}, "TLS_CERT_FILE");
    expect_error((const char *[]){"SHIPLOG_CORS_ORIGINS=*", NULL}, "SHIPLOG_CORS_ORIGINS");
    expect_error((const char *[]){"SHIPLOG_CORS_ORIGINS=https://a.com/", NULL}, "CORS_ORIGINS");
    expect_error((const char *[]){"SHIPLOG_CORS_ORIGINS=https://a.com/x", NULL}, "CORS_ORIGINS");
    expect_error((const char *[]){"SHIPLOG_CORS_ORIGINS=https://A.com", NULL}, "CORS_ORIGINS");
    expect_error((const char *[]){"SHIPLOG_CORS_ORIGINS=HTTPS://a.com", NULL}, "CORS_ORIGINS");
    expect_error((const char *[]){"SHIPLOG_CORS_ORIGINS=a.com", NULL}, "CORS_ORIGINS");
    expect_error((const char *[]){"SHIPLOG_CORS_ORIGINS=https://a.com,,https://b.com", NULL},
                 "empty entry");
    expect_error((const char *[]){"SHIPLOG_CORS_ORIGINS=https://a.com:0", NULL}, "CORS_ORIGINS");
    expect_error((const char *[]){"SHIPLOG_TRUSTED_PROXIES=10.0.0.0/33", NULL}, "TRUSTED_PROXIES");
    expect_error((const char *[]){"SHIPLOG_TRUSTED_PROXIES=example.com", NULL}, "TRUSTED_PROXIES");
    expect_error((const char *[]){"SHIPLOG_PUBLIC_URL=ftp://x", NULL}, "PUBLIC_URL");
    expect_error((const char *[]){"SHIPLOG_PUBLIC_URL=https://u:p@x", NULL}, "PUBLIC_URL");
    expect_error((const char *[]){"SHIPLOG_SECURITY_CONTACT=security@x.com", NULL},
                 "SECURITY_CONTACT");
    expect_error((const char *[]){"SHIPLOG_SECURITY_POLICY_URL=/security", NULL},
                 "SECURITY_POLICY_URL");
    expect_error((const char *[]){"SHIPLOG_MASTER_KEY=a", "SHIPLOG_MASTER_KEY_FILE=/x", NULL},
                 "both set");
    expect_error(
        (const char *[]){"SHIPLOG_MAX_CONNECTIONS=10", "SHIPLOG_MAX_CONNECTIONS_PER_IP=11", NULL},
        "MAX_CONNECTIONS_PER_IP");
    expect_error((const char *[]){"SHIPLOG_\x01=1", NULL}, "invalid name");
    expect_error((const char *[]){"SHIPLOG_MASTER_KEY", NULL}, "malformed");
    /* a per-IP default above a lowered total is clamped, not an error */
    struct config c;
    struct buf msg;
    assert_int_equal(load(&c, (const char *[]){"SHIPLOG_MAX_CONNECTIONS=10", NULL}, &msg), ERR_OK);
    assert_int_equal(c.max_connections_per_ip, 10);
    config_release(&c);
    buf_release(&msg);
}

static void test_error_never_echoes_secret(void **state)
{
    (void)state;
    const char *env[] = {"SHIPLOG_MASTER_KEY=sup3r-s3cret-value",
                         "SHIPLOG_MASTER_KEY_FILE=/nonexistent", NULL};
    struct config c;
    struct buf msg;
    assert_int_equal(load(&c, env, &msg), ERR_CONFIG);
    assert_null(strstr(buf_cstr(&msg), "sup3r"));
    config_release(&c);
    buf_release(&msg);
}

/* Numeric ranges: min and max pass, one past each fails. */
static void test_numeric_ranges(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        unsigned long long min, max;
    } r[] = {
        {"MAX_BODY_BYTES", 1024, 1073741824ULL},
        {"MAX_HEADER_BYTES", 1024, 1048576},
        {"HEADER_TIMEOUT", 1, 300},
        {"REQUEST_TIMEOUT", 1, 3600},
        {"IDLE_TIMEOUT", 1, 3600},
        {"MAX_CONNECTIONS", 1, 1000000},
        {"THREADS", 1, 256},
        {"SHUTDOWN_GRACE", 1, 600},
        {"DB_STATEMENT_TIMEOUT_MS", 100, 600000},
        {"DB_POOL_SIZE", 1, 1024},
        {"SECRET_TTL", 1, 86400},
        {"SESSION_CACHE_MS", 0, 5000}, /* "min - 1" wraps to 2^64 - 1: refused as too large */
        {"FEED_CACHE_TTL_MS", 0, 60000},
    };
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        char a[96], b[96], c[96], d[96];
        snprintf(a, sizeof(a), "SHIPLOG_%s=%llu", r[i].name, r[i].min);
        snprintf(b, sizeof(b), "SHIPLOG_%s=%llu", r[i].name, r[i].max);
        snprintf(c, sizeof(c), "SHIPLOG_%s=%llu", r[i].name, r[i].min - 1);
        snprintf(d, sizeof(d), "SHIPLOG_%s=%llu", r[i].name, r[i].max + 1);
        expect_ok((const char *[]){a, NULL});
        expect_ok((const char *[]){b, NULL});
        expect_error((const char *[]){c, NULL}, r[i].name);
        expect_error((const char *[]){d, NULL}, r[i].name);
    }
    /* per-IP is checked against the total, so give it room */
    expect_ok((const char *[]){"SHIPLOG_MAX_CONNECTIONS=1000000",
                               "SHIPLOG_MAX_CONNECTIONS_PER_IP=1000000", NULL});
    expect_error((const char *[]){"SHIPLOG_MAX_CONNECTIONS_PER_IP=0", NULL},
                 "MAX_CONNECTIONS_PER_IP");
}

static void test_value_length_limit(void **state)
{
    (void)state;
    size_t prefix = strlen("SHIPLOG_DATA_DIR=");
    char *at = malloc(prefix + CONFIG_MAX_VALUE + 2);
    assert_non_null(at);
    memcpy(at, "SHIPLOG_DATA_DIR=", prefix);
    memset(at + prefix, 'd', CONFIG_MAX_VALUE + 1);
    at[prefix + CONFIG_MAX_VALUE + 1] = '\0';
    /* one past CONFIG_MAX_VALUE: refused by the generic check */
    expect_error((const char *[]){at, NULL}, "too long");
    /* exactly CONFIG_MAX_VALUE: passes the generic check (the data dir's own limit applies) */
    at[prefix + CONFIG_MAX_VALUE] = '\0';
    expect_error((const char *[]){at, NULL}, "SHIPLOG_DATA_DIR: too long (max 1023");
    at[prefix + CONFIG_MAX_PATH - 1] = '\0';
    expect_ok((const char *[]){at, NULL});
    at[prefix + CONFIG_MAX_PATH - 1] = 'd';
    at[prefix + CONFIG_MAX_PATH] = '\0';
    expect_error((const char *[]){at, NULL}, "DATA_DIR");
    /* a secret of exactly CONFIG_MAX_VALUE bytes inline */
    char *mk = malloc(32 + CONFIG_MAX_VALUE);
    assert_non_null(mk);
    int n = snprintf(mk, 32, "SHIPLOG_MASTER_KEY=");
    memset(mk + n, 'k', CONFIG_MAX_VALUE);
    mk[n + CONFIG_MAX_VALUE] = '\0';
    expect_ok((const char *[]){mk, NULL});
    free(mk);
    free(at);
}

static void test_list_limit(void **state)
{
    (void)state;
    size_t cap = 16 * (CONFIG_MAX_LIST + 2) + 64;
    char *v = malloc(cap);
    assert_non_null(v);
    size_t w = (size_t)snprintf(v, cap, "SHIPLOG_TRUSTED_PROXIES=");
    for (int i = 0; i < CONFIG_MAX_LIST; i++)
        w += (size_t)snprintf(v + w, cap - w, "%s10.0.%d.0/24", i ? "," : "", i);
    struct config c;
    struct buf msg;
    assert_int_equal(load(&c, (const char *[]){v, NULL}, &msg), ERR_OK);
    assert_int_equal(c.n_trusted_proxies, CONFIG_MAX_LIST);
    config_release(&c);
    buf_release(&msg);
    snprintf(v + w, cap - w, ",10.1.0.0/24");
    expect_error((const char *[]){v, NULL}, "too many entries");
    free(v);
}

static void test_secret_file_and_ttl(void **state)
{
    (void)state;
    char path[128], envp[200];
    snprintf(path, sizeof(path), "%s/master.key", tmpdir);
    write_file(path, "first-value\n", 0600);
    snprintf(envp, sizeof(envp), "SHIPLOG_MASTER_KEY_FILE=%s", path);
    const char *env[] = {envp, "SHIPLOG_SECRET_TTL=1", NULL};
    struct config c;
    struct buf msg;
    assert_int_equal(load(&c, env, &msg), ERR_OK);
    assert_true(c.master_key.set);
    assert_string_equal(c.master_key.file, path);
    struct buf out = BUF_INIT(1024);
    assert_int_equal(config_secret_get(&c, &c.master_key, &out), ERR_OK);
    assert_string_equal(buf_cstr(&out), "first-value"); /* newline stripped */
    buf_wipe(&out);

    /* rewrite: still the old value until the TTL passes */
    write_file(path, "second-value\r\n", 0600);
    struct timespec ts = {1, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    buf_init(&out, 1024);
    assert_int_equal(config_secret_get(&c, &c.master_key, &out), ERR_OK);
    assert_string_equal(buf_cstr(&out), "second-value");
    buf_wipe(&out);

    /* the file disappears: the last good value is kept */
    unlink(path);
    nanosleep(&ts, NULL);
    buf_init(&out, 1024);
    assert_int_equal(config_secret_get(&c, &c.master_key, &out), ERR_OK);
    assert_string_equal(buf_cstr(&out), "second-value");
    buf_wipe(&out);

    /* the caller's buffer cap applies */
    struct buf tiny = BUF_INIT(3);
    assert_int_equal(config_secret_get(&c, &c.master_key, &tiny), ERR_LIMIT);
    buf_wipe(&tiny);
    config_release(&c);
    buf_release(&msg);
}

static void test_keyvault_pairs_with_database(void **state)
{
    (void)state;
    struct config c;
    struct buf msg;
    const char *pg_only[] = {"SHIPLOG_DATABASE_URL=postgres://db/x", NULL};
    assert_int_equal(load(&c, pg_only, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), "KEYVAULT_DATABASE_URL is required"));
    config_release(&c);
    buf_release(&msg);
    const char *vault_only[] = {"SHIPLOG_KEYVAULT_DATABASE_URL=postgres://db/v", NULL};
    assert_int_equal(load(&c, vault_only, &msg), ERR_CONFIG);
    config_release(&c);
    buf_release(&msg);
}

static void test_secret_not_reread_before_ttl(void **state)
{
    (void)state;
    char path[128], envp[200];
    snprintf(path, sizeof(path), "%s/db.url", tmpdir);
    write_file(path, "postgres://a", 0644); /* loose mode: warning only */
    snprintf(envp, sizeof(envp), "SHIPLOG_DATABASE_URL_FILE=%s", path);
    const char *env[] = {envp, "SHIPLOG_KEYVAULT_DATABASE_URL=postgres://v",
                         "SHIPLOG_SECRET_TTL=60", NULL};
    struct config c;
    struct buf msg;
    assert_int_equal(load(&c, env, &msg), ERR_OK);
    write_file(path, "postgres://b", 0600);
    struct buf out = BUF_INIT(1024);
    assert_int_equal(config_secret_get(&c, &c.database_url, &out), ERR_OK);
    assert_string_equal(buf_cstr(&out), "postgres://a");
    buf_wipe(&out);
    config_release(&c);
    buf_release(&msg);
}

static void test_secret_file_errors(void **state)
{
    (void)state;
    char path[128], envp[200];
    snprintf(envp, sizeof(envp), "SHIPLOG_MASTER_KEY_FILE=%s/missing", tmpdir);
    expect_error((const char *[]){envp, NULL}, "cannot be read");
    snprintf(envp, sizeof(envp), "SHIPLOG_MASTER_KEY_FILE=%s", tmpdir); /* a directory */
    expect_error((const char *[]){envp, NULL}, "cannot be read");
    snprintf(path, sizeof(path), "%s/empty", tmpdir);
    write_file(path, "\n", 0600);
    snprintf(envp, sizeof(envp), "SHIPLOG_MASTER_KEY_FILE=%s", path);
    expect_error((const char *[]){envp, NULL}, "empty");

    /* size: exactly CONFIG_MAX_SECRET_FILE passes, one byte more fails */
    snprintf(path, sizeof(path), "%s/big", tmpdir);
    char *content = malloc(CONFIG_MAX_SECRET_FILE + 2);
    assert_non_null(content);
    memset(content, 'x', CONFIG_MAX_SECRET_FILE + 1);
    content[CONFIG_MAX_SECRET_FILE] = '\0';
    write_file(path, content, 0600);
    snprintf(envp, sizeof(envp), "SHIPLOG_MASTER_KEY_FILE=%s", path);
    struct config c;
    struct buf msg;
    assert_int_equal(load(&c, (const char *[]){envp, NULL}, &msg), ERR_OK);
    assert_int_equal(c.master_key.value.len, CONFIG_MAX_SECRET_FILE);
    config_release(&c);
    buf_release(&msg);
    content[CONFIG_MAX_SECRET_FILE] = 'x';
    content[CONFIG_MAX_SECRET_FILE + 1] = '\0';
    write_file(path, content, 0600);
    expect_error((const char *[]){envp, NULL}, "larger than");
    free(content);
}

static void test_cidr(void **state)
{
    (void)state;
    struct config_cidr c;
    unsigned char a4[4], a6[16];
    assert_int_equal(config_parse_cidr("10.1.0.0/16", 11, &c), ERR_OK);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 16);
    inet_pton(AF_INET, "10.1.255.3", a4);
    assert_true(config_cidr_contains(&c, AF_INET, a4));
    inet_pton(AF_INET, "10.2.0.1", a4);
    assert_false(config_cidr_contains(&c, AF_INET, a4));
    /* IPv4-mapped IPv6 peers match IPv4 networks */
    inet_pton(AF_INET6, "::ffff:10.1.2.3", a6);
    assert_true(config_cidr_contains(&c, AF_INET6, a6));
    inet_pton(AF_INET6, "2001:db8::1", a6);
    assert_false(config_cidr_contains(&c, AF_INET6, a6));

    assert_int_equal(config_parse_cidr("2001:db8::/33", 13, &c), ERR_OK);
    assert_int_equal(c.family, AF_INET6);
    inet_pton(AF_INET6, "2001:db8:7fff::1", a6);
    assert_true(config_cidr_contains(&c, AF_INET6, a6));
    inet_pton(AF_INET6, "2001:db8:8000::1", a6);
    assert_false(config_cidr_contains(&c, AF_INET6, a6));
    assert_false(config_cidr_contains(&c, AF_INET, a4));

    /* bare address = host route; host bits are cleared */
    assert_int_equal(config_parse_cidr("192.168.1.7", 11, &c), ERR_OK);
    assert_int_equal(c.prefix, 32);
    assert_int_equal(config_parse_cidr("192.168.1.7/24", 14, &c), ERR_OK);
    assert_int_equal(c.addr[3], 0);
    assert_int_equal(config_parse_cidr("0.0.0.0/0", 9, &c), ERR_OK);
    inet_pton(AF_INET, "8.8.8.8", a4);
    assert_true(config_cidr_contains(&c, AF_INET, a4));
    assert_int_equal(config_parse_cidr("::/0", 4, &c), ERR_OK);
    assert_int_equal(config_parse_cidr("::1/128", 7, &c), ERR_OK);

    static const char *const bad[] = {
        "",         "/8",           "10.0.0.0/",   "10.0.0.0/33",  "::/129",     "10.0.0.0/-1",
        "10.0.0/8", "fe80::1%eth0", "10.0.0.0/8x", "host.example", "1.2.3.4/08a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (config_parse_cidr(bad[i], strlen(bad[i]), &c) == ERR_OK)
            fail_msg("accepted %s", bad[i]);
    /* no NUL needed: the length bounds the read */
    assert_int_equal(config_parse_cidr("10.0.0.0/8garbage", 10, &c), ERR_OK);
    assert_int_equal(c.prefix, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_never_echoes_secret),
        cmocka_unit_test(test_numeric_ranges),
        cmocka_unit_test(test_value_length_limit),
        cmocka_unit_test(test_list_limit),
        cmocka_unit_test(test_secret_file_and_ttl),
        cmocka_unit_test(test_keyvault_pairs_with_database),
        cmocka_unit_test(test_secret_not_reread_before_ttl),
        cmocka_unit_test(test_secret_file_errors),
        cmocka_unit_test(test_cidr),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
