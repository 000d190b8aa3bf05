/*
 * config — SHIPLOG_* environment parsing (P4, P5).
 *
 * Two passes: the first collects every SHIPLOG_* entry into a slot of a fixed
 * table, refusing unknown names, duplicates, empty and over-long values; the
 * second validates each setting in dependency order (listen before the URLs
 * derived from it, TLS before the default scheme). Every error is one line
 * naming the variable; secret values never appear in a message.
 *
 * Secrets live in heap buffers guarded by a mutex each. File-based secrets
 * are re-read lazily by config_secret_get() once older than the TTL; a failed
 * re-read keeps serving the last good value (rotation must not cause an
 * outage) and is retried after another TTL.
 */
#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/str.h"

#define PREFIX "SHIPLOG_"

enum cfg_id {
    C_ENV,
    C_LISTEN,
    C_DATA_DIR,
    C_PUBLIC_URL,
    C_LOG_LEVEL,
    C_MAX_BODY_BYTES,
    C_MAX_HEADER_BYTES,
    C_HEADER_TIMEOUT,
    C_REQUEST_TIMEOUT,
    C_IDLE_TIMEOUT,
    C_MAX_CONNECTIONS,
    C_MAX_CONNECTIONS_PER_IP,
    C_THREADS,
    C_SHUTDOWN_GRACE,
    C_TRUSTED_PROXIES,
    C_CORS_ORIGINS,
    C_TLS_CERT_FILE,
    C_TLS_KEY_FILE,
    C_SECURITY_CONTACT,
    C_SECURITY_POLICY_URL,
    C_DB_STATEMENT_TIMEOUT_MS,
    C_DB_POOL_SIZE,
    C_SECRET_TTL,
    C_AUDIT_CHECKPOINT_INTERVAL,
    C_BCRYPT_COST,
    C_SESSION_CACHE_MS,
    C_FEED_CACHE_TTL_MS,
    C_MASTER_KEY,
    C_MASTER_KEY_FILE,
    C_DATABASE_URL,
    C_DATABASE_URL_FILE,
    C_MIGRATE_DATABASE_URL,
    C_MIGRATE_DATABASE_URL_FILE,
    C_MASTER_KEYS_PREVIOUS,
    C_MASTER_KEYS_PREVIOUS_FILE,
    C_KEYVAULT_DATABASE_URL,
    C_KEYVAULT_DATABASE_URL_FILE,
    C_MIGRATE_KEYVAULT_DATABASE_URL,
    C_MIGRATE_KEYVAULT_DATABASE_URL_FILE,
    C_REDIS_URL,
    C_REDIS_URL_FILE,
    C_SMTP_URL, /* outbox (A11) */
    C_SMTP_URL_FILE,
    C_SMTP_PASSWORD,
    C_SMTP_PASSWORD_FILE,
    C_MAIL_FROM,
    C_OUTBOUND_ALLOW_PRIVATE,
    C_COUNT_
};

static const char *const cfg_names[C_COUNT_] = {
    [C_ENV] = "ENV",
    [C_LISTEN] = "LISTEN",
    [C_DATA_DIR] = "DATA_DIR",
    [C_PUBLIC_URL] = "PUBLIC_URL",
    [C_LOG_LEVEL] = "LOG_LEVEL",
    [C_MAX_BODY_BYTES] = "MAX_BODY_BYTES",
    [C_MAX_HEADER_BYTES] = "MAX_HEADER_BYTES",
    [C_HEADER_TIMEOUT] = "HEADER_TIMEOUT",
    [C_REQUEST_TIMEOUT] = "REQUEST_TIMEOUT",
    [C_IDLE_TIMEOUT] = "IDLE_TIMEOUT",
    [C_MAX_CONNECTIONS] = "MAX_CONNECTIONS",
    [C_MAX_CONNECTIONS_PER_IP] = "MAX_CONNECTIONS_PER_IP",
    [C_THREADS] = "THREADS",
    [C_SHUTDOWN_GRACE] = "SHUTDOWN_GRACE",
    [C_TRUSTED_PROXIES] = "TRUSTED_PROXIES",
    [C_CORS_ORIGINS] = "CORS_ORIGINS",
    [C_TLS_CERT_FILE] = "TLS_CERT_FILE",
    [C_TLS_KEY_FILE] = "TLS_KEY_FILE",
    [C_SECURITY_CONTACT] = "SECURITY_CONTACT",
    [C_SECURITY_POLICY_URL] = "SECURITY_POLICY_URL",
    [C_DB_STATEMENT_TIMEOUT_MS] = "DB_STATEMENT_TIMEOUT_MS",
    [C_DB_POOL_SIZE] = "DB_POOL_SIZE",
    [C_SECRET_TTL] = "SECRET_TTL",
    [C_AUDIT_CHECKPOINT_INTERVAL] = "AUDIT_CHECKPOINT_INTERVAL",
    [C_BCRYPT_COST] = "BCRYPT_COST",
    [C_SESSION_CACHE_MS] = "SESSION_CACHE_MS",
    [C_FEED_CACHE_TTL_MS] = "FEED_CACHE_TTL_MS",
    [C_MASTER_KEY] = "MASTER_KEY",
    [C_MASTER_KEY_FILE] = "MASTER_KEY_FILE",
    [C_DATABASE_URL] = "DATABASE_URL",
    [C_DATABASE_URL_FILE] = "DATABASE_URL_FILE",
    [C_MIGRATE_DATABASE_URL] = "MIGRATE_DATABASE_URL",
    [C_MIGRATE_DATABASE_URL_FILE] = "MIGRATE_DATABASE_URL_FILE",
    [C_MASTER_KEYS_PREVIOUS] = "MASTER_KEYS_PREVIOUS",
    [C_MASTER_KEYS_PREVIOUS_FILE] = "MASTER_KEYS_PREVIOUS_FILE",
    [C_KEYVAULT_DATABASE_URL] = "KEYVAULT_DATABASE_URL",
    [C_KEYVAULT_DATABASE_URL_FILE] = "KEYVAULT_DATABASE_URL_FILE",
    [C_MIGRATE_KEYVAULT_DATABASE_URL] = "MIGRATE_KEYVAULT_DATABASE_URL",
    [C_MIGRATE_KEYVAULT_DATABASE_URL_FILE] = "MIGRATE_KEYVAULT_DATABASE_URL_FILE",
    [C_REDIS_URL] = "REDIS_URL",
    [C_REDIS_URL_FILE] = "REDIS_URL_FILE",
    [C_SMTP_URL] = "SMTP_URL",
    [C_SMTP_URL_FILE] = "SMTP_URL_FILE",
    [C_SMTP_PASSWORD] = "SMTP_PASSWORD",
    [C_SMTP_PASSWORD_FILE] = "SMTP_PASSWORD_FILE",
    [C_MAIL_FROM] = "MAIL_FROM",
    [C_OUTBOUND_ALLOW_PRIVATE] = "OUTBOUND_ALLOW_PRIVATE",
};

/* Numeric settings: name, range and default. */
struct num_setting {
    enum cfg_id id;
    uint64_t min, max, def;
};

static const struct num_setting num_settings[] = {
    {C_MAX_BODY_BYTES, 1024, (uint64_t)1024 * 1024 * 1024, (uint64_t)20 * 1024 * 1024},
    {C_MAX_HEADER_BYTES, 1024, (uint64_t)1024 * 1024, (uint64_t)16 * 1024},
    {C_HEADER_TIMEOUT, 1, 300, 10},
    {C_REQUEST_TIMEOUT, 1, 3600, 60},
    {C_IDLE_TIMEOUT, 1, 3600, 30},
    {C_MAX_CONNECTIONS, 1, 1000000, 1024},
    {C_MAX_CONNECTIONS_PER_IP, 1, 1000000, 64},
    {C_THREADS, 1, 256, 0 /* number of CPUs */},
    {C_SHUTDOWN_GRACE, 1, 600, 20},
    {C_DB_STATEMENT_TIMEOUT_MS, 100, 600000, 5000},
    {C_DB_POOL_SIZE, 1, 1024, 8},
    {C_SECRET_TTL, 1, 86400, 300},
    {C_AUDIT_CHECKPOINT_INTERVAL, 10, 86400, 300},
    {C_BCRYPT_COST, 10, 16, 12},
    {C_SESSION_CACHE_MS, 0, 5000, 1000},   /* max: ACCOUNTS_SESSION_CACHE_MAX_MS */
    {C_FEED_CACHE_TTL_MS, 0, 60000, 5000}, /* delivery/cache.h: FEED_CACHE_MAX_TTL_MS */
};

struct loader {
    struct config *cfg;
    struct buf *err_msg;
    const char *val[C_COUNT_]; /* value of each variable, NULL when unset */
};

static enum err fail(struct loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static enum err fail(struct loader *l, const char *fmt, ...)
{
    if (l->err_msg) {
        buf_reset(l->err_msg);
        va_list ap;
        va_start(ap, fmt);
        enum err e = buf_vprintf(l->err_msg, fmt, ap);
        va_end(ap);
        (void)e; /* a message cut by the caller's cap is still an error */
    }
    return ERR_CONFIG;
}

static time_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* ---- secrets ---------------------------------------------------------------------- */

/* Reads a secret file into out (one trailing newline stripped). */
static enum err secret_read_file(const char *path, struct buf *out, bool *loose_mode)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return ERR_IO;
    enum err e = ERR_OK;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        e = ERR_IO;
        goto out;
    }
    if (loose_mode)
        *loose_mode = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
    if (st.st_size > CONFIG_MAX_SECRET_FILE) {
        e = ERR_LIMIT;
        goto out;
    }
    buf_init(out, CONFIG_MAX_SECRET_FILE + 2);
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = ERR_IO;
            break;
        }
        if (n == 0)
            break;
        e = buf_append(out, chunk, (size_t)n);
        if (e)
            break;
    }
    explicit_bzero(chunk, sizeof(chunk));
    if (!e && out->len > 0 && out->data[out->len - 1] == '\n') {
        out->data[--out->len] = '\0';
        if (out->len > 0 && out->data[out->len - 1] == '\r')
            out->data[--out->len] = '\0';
    }
    if (!e && out->len > CONFIG_MAX_SECRET_FILE)
        e = ERR_LIMIT;
    if (!e && out->len == 0)
        e = ERR_INVALID;
    if (e)
        buf_wipe(out);
out:
    close(fd);
    return e;
}

static void secret_init(struct config_secret *s, const char *name)
{
    s->name = name;
    s->set = false;
    s->file = NULL;
    buf_init(&s->value, CONFIG_MAX_SECRET_FILE);
    s->loaded_at = 0;
    pthread_mutex_init(&s->lock, NULL);
}

static void secret_release(struct config_secret *s)
{
    buf_wipe(&s->value);
    free(s->file);
    s->file = NULL;
    s->set = false;
    pthread_mutex_destroy(&s->lock);
}

static enum err load_secret(struct loader *l, struct config_secret *s, enum cfg_id inline_id,
                            enum cfg_id file_id)
{
    const char *v = l->val[inline_id], *path = l->val[file_id];
    if (v && path)
        return fail(l, PREFIX "%s and " PREFIX "%s are both set; use one", cfg_names[inline_id],
                    cfg_names[file_id]);
    if (v) {
        if (buf_puts(&s->value, v) != ERR_OK)
            return fail(l, PREFIX "%s: too long", cfg_names[inline_id]);
        s->set = true;
        return ERR_OK;
    }
    if (!path)
        return ERR_OK;
    if (strlen(path) >= CONFIG_MAX_PATH)
        return fail(l, PREFIX "%s: path too long", cfg_names[file_id]);
    bool loose = false;
    struct buf tmp;
    enum err e = secret_read_file(path, &tmp, &loose);
    if (e == ERR_LIMIT)
        return fail(l, PREFIX "%s: file larger than %d bytes", cfg_names[file_id],
                    CONFIG_MAX_SECRET_FILE);
    if (e == ERR_INVALID)
        return fail(l, PREFIX "%s: file is empty", cfg_names[file_id]);
    if (e)
        return fail(l, PREFIX "%s: file cannot be read", cfg_names[file_id]);
    if (loose)
        log_warn("secret file is readable by group or others; use mode 0600",
                 LOG_STR("setting", cfg_names[file_id]));
    buf_wipe(&s->value);
    buf_init(&s->value, CONFIG_MAX_SECRET_FILE);
    e = buf_append(&s->value, tmp.data, tmp.len);
    buf_wipe(&tmp);
    if (e)
        return fail(l, PREFIX "%s: too long", cfg_names[file_id]);
    s->file = strdup(path);
    if (!s->file)
        err_oom();
    s->loaded_at = mono_now();
    s->set = true;
    return ERR_OK;
}

enum err config_secret_get(const struct config *cfg, struct config_secret *s, struct buf *out)
{
    pthread_mutex_lock(&s->lock);
    enum err e = ERR_OK;
    if (!s->set) {
        e = ERR_NOT_FOUND;
        goto out;
    }
    time_t now = mono_now();
    if (s->file && now - s->loaded_at >= (time_t)cfg->secret_ttl_s) {
        struct buf tmp;
        enum err r = secret_read_file(s->file, &tmp, NULL);
        s->loaded_at = now; /* success or not, next attempt after another TTL */
        if (r == ERR_OK) {
            buf_wipe(&s->value);
            buf_init(&s->value, CONFIG_MAX_SECRET_FILE);
            r = buf_append(&s->value, tmp.data, tmp.len);
            buf_wipe(&tmp);
        }
        if (r != ERR_OK) {
            log_warn("secret file could not be re-read; keeping the previous value",
                     LOG_STR("setting", s->name), LOG_ERR(r));
            if (s->value.len == 0) {
                e = ERR_IO;
                goto out;
            }
        }
    }
    e = buf_append(out, buf_cstr(&s->value), s->value.len);
out:
    pthread_mutex_unlock(&s->lock);
    return e;
}

/* ---- CIDR -------------------------------------------------------------------------- */

enum err config_parse_cidr(const char *text, size_t len, struct config_cidr *out)
{
    char addr[INET6_ADDRSTRLEN + 1];
    struct str s = str_trim(str_from(text, len));
    long slash = str_index(s, '/');
    size_t alen = slash >= 0 ? (size_t)slash : s.len;
    if (alen == 0 || alen >= sizeof(addr))
        return ERR_INVALID;
    memcpy(addr, s.ptr, alen);
    addr[alen] = '\0';
    memset(out, 0, sizeof(*out));
    unsigned maxp;
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = AF_INET;
        maxp = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->family = AF_INET6;
        maxp = 128;
    } else {
        return ERR_INVALID;
    }
    out->prefix = maxp;
    if (slash >= 0) {
        uint64_t p;
        enum err e = str_to_u64(str_from(s.ptr + slash + 1, s.len - (size_t)slash - 1), maxp, &p);
        if (e)
            return ERR_INVALID;
        out->prefix = (unsigned)p;
    }
    /* clear host bits so equal networks compare equal */
    for (unsigned bit = out->prefix; bit < maxp; bit++)
        out->addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    return ERR_OK;
}

static bool prefix_match(const unsigned char *net, const unsigned char *a, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (full && memcmp(net, a, full) != 0)
        return false;
    if (rest) {
        unsigned char mask = (unsigned char)(0xffu << (8 - rest));
        return (net[full] & mask) == (a[full] & mask);
    }
    return true;
}

bool config_cidr_contains(const struct config_cidr *c, int family, const unsigned char *addr)
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!c || !addr)
        return false;
    if (c->family == family)
        return prefix_match(c->addr, addr, c->prefix);
    /* a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d */
    if (c->family == AF_INET && family == AF_INET6 && memcmp(addr, v4mapped, 12) == 0)
        return prefix_match(c->addr, addr + 12, c->prefix);
    return false;
}

/* ---- value checks -------------------------------------------------------------------- */

static bool is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
}

static bool valid_hostname(struct str h)
{
    if (h.len == 0 || h.len > 253 || h.ptr[0] == '-' || h.ptr[0] == '.')
        return false;
    for (size_t i = 0; i < h.len; i++)
        if (!is_host_char(h.ptr[i]))
            return false;
    return true;
}

static bool valid_ipv6(struct str h)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    unsigned char a[16];
    if (h.len == 0 || h.len >= sizeof(tmp))
        return false;
    memcpy(tmp, h.ptr, h.len);
    tmp[h.len] = '\0';
    return inet_pton(AF_INET6, tmp, a) == 1;
}

static bool no_controls(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/*
 * An http(s) URL with a host, printable ASCII, no spaces, no userinfo, query
 * or fragment. *host gets the host (brackets kept for IPv6).
 */
static bool valid_base_url(const char *v, struct str *host)
{
    struct str s = str_from_cstr(v), rest;
    if (!str_is_printable_ascii(s) || str_index(s, ' ') >= 0 || str_index(s, '@') >= 0 ||
        str_index(s, '?') >= 0 || str_index(s, '#') >= 0)
        return false;
    if (!str_cut_http_scheme(s, false, &rest))
        return false;
    long slash = str_index(rest, '/');
    struct str auth = slash >= 0 ? str_from(rest.ptr, (size_t)slash) : rest;
    struct str h = auth;
    if (auth.len && auth.ptr[0] == '[') {
        long close = str_index(auth, ']');
        if (close < 0 || !valid_ipv6(str_from(auth.ptr + 1, (size_t)close - 1)))
            return false;
        h = str_from(auth.ptr, (size_t)close + 1);
    } else {
        long colon = str_index(auth, ':');
        if (colon >= 0)
            h = str_from(auth.ptr, (size_t)colon);
        if (!valid_hostname(h))
            return false;
    }
    struct str port = str_from(auth.ptr + h.len, auth.len - h.len);
    if (port.len) {
        uint64_t p;
        if (port.ptr[0] != ':' || str_to_u64(str_from(port.ptr + 1, port.len - 1), 65535, &p) ||
            p == 0)
            return false;
    }
    if (host)
        *host = h;
    return true;
}

/* scheme://host[:port], lower case, nothing after. */
static bool valid_origin(struct str o)
{
    struct str rest;
    if (!str_cut_http_scheme(o, false, &rest))
        return false;
    struct str h = rest;
    size_t after;
    if (rest.len && rest.ptr[0] == '[') {
        long close = str_index(rest, ']');
        if (close < 0)
            return false;
        struct str v6 = str_from(rest.ptr + 1, (size_t)close - 1);
        for (size_t i = 0; i < v6.len; i++)
            if (v6.ptr[i] >= 'A' && v6.ptr[i] <= 'Z')
                return false;
        if (!valid_ipv6(v6))
            return false;
        after = (size_t)close + 1;
    } else {
        long colon = str_index(rest, ':');
        h = colon >= 0 ? str_from(rest.ptr, (size_t)colon) : rest;
        if (!valid_hostname(h))
            return false;
        for (size_t i = 0; i < h.len; i++)
            if (h.ptr[i] >= 'A' && h.ptr[i] <= 'Z')
                return false;
        after = h.len;
    }
    struct str port = str_from(rest.ptr + after, rest.len - after);
    if (port.len == 0)
        return true;
    uint64_t p;
    return port.ptr[0] == ':' && port.len <= 6 &&
           str_to_u64(str_from(port.ptr + 1, port.len - 1), 65535, &p) == ERR_OK && p > 0;
}

static enum err copy_setting(struct loader *l, enum cfg_id id, char *dst, size_t cap)
{
    const char *v = l->val[id];
    if (!v)
        return ERR_OK;
    if (strlen(v) >= cap)
        return fail(l, PREFIX "%s: too long (max %zu bytes)", cfg_names[id], cap - 1);
    if (!no_controls(v))
        return fail(l, PREFIX "%s: contains control characters", cfg_names[id]);
    memcpy(dst, v, strlen(v) + 1);
    return ERR_OK;
}

static enum err load_number(struct loader *l, const struct num_setting *ns, uint64_t *out)
{
    const char *v = l->val[ns->id];
    if (!v) {
        *out = ns->def;
        return ERR_OK;
    }
    uint64_t n = 0;
    enum err e = str_to_u64(str_from_cstr(v), UINT64_MAX, &n);
    if (e == ERR_INVALID)
        return fail(l, PREFIX "%s: must be a whole number", cfg_names[ns->id]);
    if (e != ERR_OK || n < ns->min || n > ns->max)
        return fail(l, PREFIX "%s: must be between %llu and %llu", cfg_names[ns->id],
                    (unsigned long long)ns->min, (unsigned long long)ns->max);
    *out = n;
    return ERR_OK;
}

static enum err load_numbers(struct loader *l)
{
    struct config *c = l->cfg;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    for (size_t i = 0; i < sizeof(num_settings) / sizeof(num_settings[0]); i++) {
        const struct num_setting *ns = &num_settings[i];
        uint64_t v = 0;
        enum err e = load_number(l, ns, &v);
        if (e)
            return e;
        if (ns->id == C_THREADS && !l->val[C_THREADS])
            v = cpus < 1 ? 1 : cpus > 256 ? 256 : (uint64_t)cpus;
        switch (ns->id) {
        case C_MAX_BODY_BYTES:
            c->max_body_bytes = (size_t)v;
            break;
        case C_MAX_HEADER_BYTES:
            c->max_header_bytes = (size_t)v;
            break;
        case C_HEADER_TIMEOUT:
            c->header_timeout_s = (unsigned)v;
            break;
        case C_REQUEST_TIMEOUT:
            c->request_timeout_s = (unsigned)v;
            break;
        case C_IDLE_TIMEOUT:
            c->idle_timeout_s = (unsigned)v;
            break;
        case C_MAX_CONNECTIONS:
            c->max_connections = (unsigned)v;
            break;
        case C_MAX_CONNECTIONS_PER_IP:
            c->max_connections_per_ip = (unsigned)v;
            break;
        case C_THREADS:
            c->threads = (unsigned)v;
            break;
        case C_SHUTDOWN_GRACE:
            c->shutdown_grace_s = (unsigned)v;
            break;
        case C_DB_STATEMENT_TIMEOUT_MS:
            c->db_statement_timeout_ms = (unsigned)v;
            break;
        case C_DB_POOL_SIZE:
            c->db_pool_size = (unsigned)v;
            break;
        case C_SECRET_TTL:
            c->secret_ttl_s = (unsigned)v;
            break;
        case C_AUDIT_CHECKPOINT_INTERVAL:
            c->audit_checkpoint_interval_s = (unsigned)v;
            break;
        case C_BCRYPT_COST:
            c->bcrypt_cost = (unsigned)v;
            break;
        case C_SESSION_CACHE_MS:
            c->session_cache_ms = (unsigned)v;
            break;
        case C_FEED_CACHE_TTL_MS:
            c->feed_cache_ttl_ms = (unsigned)v;
            break;
        default:
            return fail(l, "internal: unhandled numeric setting");
        }
    }
    if (c->max_connections_per_ip > c->max_connections) {
        if (l->val[C_MAX_CONNECTIONS_PER_IP])
            return fail(
                l, PREFIX "MAX_CONNECTIONS_PER_IP: must not exceed " PREFIX "MAX_CONNECTIONS (%u)",
                c->max_connections);
        c->max_connections_per_ip = c->max_connections;
    }
    return ERR_OK;
}

static enum err load_listen(struct loader *l)
{
    struct config *c = l->cfg;
    snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
    c->listen_port = 8080;
    const char *v = l->val[C_LISTEN];
    if (!v)
        return ERR_OK;
    struct str s = str_from_cstr(v), host, port;
    if (s.ptr[0] == '[') {
        long close = str_index(s, ']');
        if (close < 0 || (size_t)close + 1 >= s.len || s.ptr[close + 1] != ':')
            return fail(l, PREFIX "LISTEN: expected [ipv6]:port");
        host = str_from(s.ptr + 1, (size_t)close - 1);
        port = str_from(s.ptr + close + 2, s.len - (size_t)close - 2);
        if (!valid_ipv6(host))
            return fail(l, PREFIX "LISTEN: invalid IPv6 address");
    } else {
        const char *colon = strrchr(v, ':');
        if (!colon)
            return fail(l, PREFIX "LISTEN: expected host:port");
        host = str_from(v, (size_t)(colon - v));
        port = str_from_cstr(colon + 1);
        if (!valid_hostname(host))
            return fail(l, PREFIX "LISTEN: invalid host (use [addr]:port for IPv6)");
    }
    uint64_t p;
    if (str_to_u64(port, 65535, &p) != ERR_OK)
        return fail(l, PREFIX "LISTEN: port must be between 0 and 65535");
    if (host.len >= sizeof(c->listen_host))
        return fail(l, PREFIX "LISTEN: host too long");
    memcpy(c->listen_host, host.ptr, host.len);
    c->listen_host[host.len] = '\0';
    c->listen_port = (uint16_t)p;
    return ERR_OK;
}

static enum err load_lists(struct loader *l)
{
    struct config *c = l->cfg;
    struct str rest, tok;
    if (l->val[C_TRUSTED_PROXIES]) {
        rest = str_from_cstr(l->val[C_TRUSTED_PROXIES]);
        while (str_split(&rest, ',', &tok)) {
            tok = str_trim(tok);
            if (tok.len == 0)
                return fail(l, PREFIX "TRUSTED_PROXIES: empty entry");
            if (c->n_trusted_proxies >= CONFIG_MAX_LIST)
                return fail(l, PREFIX "TRUSTED_PROXIES: too many entries (max %d)",
                            CONFIG_MAX_LIST);
            if (config_parse_cidr(tok.ptr, tok.len, &c->trusted_proxies[c->n_trusted_proxies]))
                return fail(l, PREFIX "TRUSTED_PROXIES: entry %zu is not an address or CIDR",
                            c->n_trusted_proxies + 1);
            c->n_trusted_proxies++;
        }
    }
    if (l->val[C_CORS_ORIGINS]) {
        rest = str_from_cstr(l->val[C_CORS_ORIGINS]);
        while (str_split(&rest, ',', &tok)) {
            tok = str_trim(tok);
            size_t n = c->n_cors_origins + 1;
            if (tok.len == 0)
                return fail(l, PREFIX "CORS_ORIGINS: empty entry");
            if (str_eq_cstr(tok, "*"))
                return fail(l, PREFIX "CORS_ORIGINS: '*' is not allowed; list origins");
            if (c->n_cors_origins >= CONFIG_MAX_LIST)
                return fail(l, PREFIX "CORS_ORIGINS: too many entries (max %d)", CONFIG_MAX_LIST);
            if (!valid_origin(tok))
                return fail(l,
                            PREFIX "CORS_ORIGINS: entry %zu must be scheme://host[:port] "
                                   "in lower case without a path",
                            n);
            char *o = strndup(tok.ptr, tok.len);
            if (!o)
                err_oom();
            c->cors_origins[c->n_cors_origins++] = o;
        }
    }
    return ERR_OK;
}

/* Fills public_url, security_contact and the policy URL where they were not set. */
static void derive_url_defaults(struct config *c)
{
    if (c->public_url_defaulted) {
        bool tls = c->tls_cert_file[0] != '\0';
        bool v6 = strchr(c->listen_host, ':') != NULL;
        snprintf(c->public_url, sizeof(c->public_url), "%s://%s%s%s:%u", tls ? "https" : "http",
                 v6 ? "[" : "", c->listen_host, v6 ? "]" : "", (unsigned)c->listen_port);
    }
    struct str host = STR_NULL;
    if (!valid_base_url(c->public_url, &host))
        host = STR_LIT("localhost");
    if (c->security_contact_defaulted)
        snprintf(c->security_contact, sizeof(c->security_contact), "mailto:security@%.*s",
                 (int)host.len, host.ptr);
    if (c->security_policy_defaulted)
        snprintf(c->security_policy_url, sizeof(c->security_policy_url), "%.490s/security",
                 c->public_url);
    /* an IP-literal host makes no mail domain: fall back to localhost */
    if (host.len > 0 && host.ptr[0] == '[')
        host = STR_LIT("localhost");
    if (c->mail_from_defaulted)
        snprintf(c->mail_from, sizeof(c->mail_from), "shiplog@%.*s", (int)host.len, host.ptr);
}

void config_set_bound_port(struct config *cfg, uint16_t port)
{
    if (cfg->listen_port != 0)
        return;
    cfg->listen_port = port;
    derive_url_defaults(cfg);
}

static enum err load_urls(struct loader *l)
{
    struct config *c = l->cfg;
    enum err e;
    c->public_url_defaulted = !l->val[C_PUBLIC_URL];
    c->security_contact_defaulted = !l->val[C_SECURITY_CONTACT];
    c->security_policy_defaulted = !l->val[C_SECURITY_POLICY_URL];
    c->mail_from_defaulted = !l->val[C_MAIL_FROM];
    if (!c->mail_from_defaulted) {
        if ((e = copy_setting(l, C_MAIL_FROM, c->mail_from, sizeof(c->mail_from))) != ERR_OK)
            return e;
        if (!config_mail_addr_valid(str_from_cstr(c->mail_from)))
            return fail(l, PREFIX "MAIL_FROM: must be a plain address local@domain (ASCII)");
    }
    if (!c->public_url_defaulted) {
        if ((e = copy_setting(l, C_PUBLIC_URL, c->public_url, sizeof(c->public_url))) != ERR_OK)
            return e;
        size_t n = strlen(c->public_url);
        if (n > 0 && c->public_url[n - 1] == '/')
            c->public_url[n - 1] = '\0';
        if (!valid_base_url(c->public_url, NULL))
            return fail(l, PREFIX "PUBLIC_URL: must be an http(s) URL without user, query "
                                  "or fragment");
    }
    if (!c->security_contact_defaulted) {
        e = copy_setting(l, C_SECURITY_CONTACT, c->security_contact, sizeof(c->security_contact));
        if (e)
            return e;
        struct str s = str_from_cstr(c->security_contact);
        if (!str_is_printable_ascii(s) || str_index(s, ' ') >= 0 ||
            !(str_starts_with(s, STR_LIT("mailto:")) || str_starts_with(s, STR_LIT("https://"))) ||
            s.len < 9)
            return fail(l, PREFIX "SECURITY_CONTACT: must be a mailto: or https:// URI");
    }
    if (!c->security_policy_defaulted) {
        e = copy_setting(l, C_SECURITY_POLICY_URL, c->security_policy_url,
                         sizeof(c->security_policy_url));
        if (e)
            return e;
        if (!valid_base_url(c->security_policy_url, NULL))
            return fail(l, PREFIX "SECURITY_POLICY_URL: must be an http(s) URL");
    }
    derive_url_defaults(c);
    return ERR_OK;
}

/* First pass: every SHIPLOG_* entry into its slot. */
static enum err collect(struct loader *l, const char *const *env)
{
    for (size_t i = 0; env && env[i]; i++) {
        const char *kv = env[i];
        if (strncmp(kv, PREFIX, strlen(PREFIX)) != 0)
            continue;
        const char *name = kv + strlen(PREFIX);
        if (strncmp(name, "TEST_", 5) == 0)
            continue;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int id = -1;
        for (int k = 0; k < C_COUNT_; k++) {
            if (strlen(cfg_names[k]) == nlen && memcmp(cfg_names[k], name, nlen) == 0) {
                id = k;
                break;
            }
        }
        if (id < 0) {
            /* the name is echoed only when it is a plausible identifier */
            bool plain = nlen <= 64;
            for (size_t k = 0; k < nlen && plain; k++)
                plain = (name[k] >= 'A' && name[k] <= 'Z') || (name[k] >= '0' && name[k] <= '9') ||
                        name[k] == '_';
            if (plain)
                return fail(l, "unknown variable " PREFIX "%.*s", (int)nlen, name);
            return fail(l, "unknown variable " PREFIX "... (invalid name)");
        }
        if (!eq)
            return fail(l, PREFIX "%s: malformed environment entry", cfg_names[id]);
        if (l->val[id])
            return fail(l, PREFIX "%s: set more than once", cfg_names[id]);
        const char *v = eq + 1;
        size_t vlen = strnlen(v, CONFIG_MAX_VALUE + 1);
        if (vlen > CONFIG_MAX_VALUE)
            return fail(l, PREFIX "%s: too long (max %d bytes)", cfg_names[id], CONFIG_MAX_VALUE);
        if (vlen == 0)
            return fail(l, PREFIX "%s: is empty (unset it to use the default)", cfg_names[id]);
        l->val[id] = v;
    }
    return ERR_OK;
}

enum err config_load(struct config *cfg, const char *const *env, struct buf *err_msg)
{
    memset(cfg, 0, sizeof(*cfg));
    secret_init(&cfg->master_key, "MASTER_KEY");
    secret_init(&cfg->database_url, "DATABASE_URL");
    secret_init(&cfg->migrate_database_url, "MIGRATE_DATABASE_URL");
    secret_init(&cfg->master_keys_previous, "MASTER_KEYS_PREVIOUS");
    secret_init(&cfg->keyvault_database_url, "KEYVAULT_DATABASE_URL");
    secret_init(&cfg->migrate_keyvault_database_url, "MIGRATE_KEYVAULT_DATABASE_URL");
    secret_init(&cfg->redis_url, "REDIS_URL");
    secret_init(&cfg->smtp_url, "SMTP_URL");
    secret_init(&cfg->smtp_password, "SMTP_PASSWORD");
    cfg->env = CONFIG_ENV_DEVELOPMENT;
    cfg->log_level = LOG_INFO;
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./var");

    struct loader l = {.cfg = cfg, .err_msg = err_msg};
    enum err e;
    if ((e = collect(&l, env)) != ERR_OK)
        return e;

    if (l.val[C_ENV]) {
        if (strcmp(l.val[C_ENV], "production") == 0)
            cfg->env = CONFIG_ENV_PRODUCTION;
        else if (strcmp(l.val[C_ENV], "development") != 0)
            return fail(&l, PREFIX "ENV: must be development or production");
    }
    if (l.val[C_LOG_LEVEL] && !log_level_parse(l.val[C_LOG_LEVEL], &cfg->log_level))
        return fail(&l, PREFIX "LOG_LEVEL: must be debug, info, warn or error");
    if ((e = load_listen(&l)) != ERR_OK || (e = load_numbers(&l)) != ERR_OK)
        return e;
    if (l.val[C_OUTBOUND_ALLOW_PRIVATE]) {
        if (strcmp(l.val[C_OUTBOUND_ALLOW_PRIVATE], "true") == 0)
            cfg->outbound_allow_private = true;
        else if (strcmp(l.val[C_OUTBOUND_ALLOW_PRIVATE], "false") != 0)
            return fail(&l, PREFIX "OUTBOUND_ALLOW_PRIVATE: must be true or false");
    }
    if ((e = copy_setting(&l, C_DATA_DIR, cfg->data_dir, sizeof(cfg->data_dir))) != ERR_OK)
        return e;
    if (!!l.val[C_TLS_CERT_FILE] != !!l.val[C_TLS_KEY_FILE])
        return fail(&l, PREFIX "TLS_CERT_FILE and " PREFIX "TLS_KEY_FILE must be set together");
    if ((e = copy_setting(&l, C_TLS_CERT_FILE, cfg->tls_cert_file, sizeof(cfg->tls_cert_file))) ||
        (e = copy_setting(&l, C_TLS_KEY_FILE, cfg->tls_key_file, sizeof(cfg->tls_key_file))))
        return e;
    if ((e = load_lists(&l)) != ERR_OK || (e = load_urls(&l)) != ERR_OK)
        return e;
    if ((e = load_secret(&l, &cfg->master_key, C_MASTER_KEY, C_MASTER_KEY_FILE)) ||
        (e = load_secret(&l, &cfg->database_url, C_DATABASE_URL, C_DATABASE_URL_FILE)) ||
        (e = load_secret(&l, &cfg->migrate_database_url, C_MIGRATE_DATABASE_URL,
                         C_MIGRATE_DATABASE_URL_FILE)) ||
        (e = load_secret(&l, &cfg->master_keys_previous, C_MASTER_KEYS_PREVIOUS,
                         C_MASTER_KEYS_PREVIOUS_FILE)) ||
        (e = load_secret(&l, &cfg->keyvault_database_url, C_KEYVAULT_DATABASE_URL,
                         C_KEYVAULT_DATABASE_URL_FILE)) ||
        (e = load_secret(&l, &cfg->migrate_keyvault_database_url, C_MIGRATE_KEYVAULT_DATABASE_URL,
                         C_MIGRATE_KEYVAULT_DATABASE_URL_FILE)) ||
        (e = load_secret(&l, &cfg->redis_url, C_REDIS_URL, C_REDIS_URL_FILE)) ||
        (e = load_secret(&l, &cfg->smtp_url, C_SMTP_URL, C_SMTP_URL_FILE)) ||
        (e = load_secret(&l, &cfg->smtp_password, C_SMTP_PASSWORD, C_SMTP_PASSWORD_FILE)))
        return e;
    if (cfg->smtp_url.set) {
        struct str u = str_from(cfg->smtp_url.value.data, cfg->smtp_url.value.len);
        if (!(str_starts_with(u, STR_LIT("smtp://")) || str_starts_with(u, STR_LIT("smtps://"))) ||
            !str_is_printable_ascii(u))
            return fail(&l, PREFIX "SMTP_URL: must be an smtp:// or smtps:// URL");
    }
    if (cfg->smtp_password.set && !cfg->smtp_url.set)
        return fail(&l, PREFIX "SMTP_PASSWORD: only with " PREFIX "SMTP_URL");
    if (cfg->keyvault_database_url.set != cfg->database_url.set)
        return fail(&l, cfg->database_url.set ? PREFIX
                            "KEYVAULT_DATABASE_URL is required with " PREFIX
                            "DATABASE_URL: tenant data keys live in their own "
                            "database, apart from the data (docs/KEYS.md)"
                                              : PREFIX "KEYVAULT_DATABASE_URL: only with " PREFIX
                                                       "DATABASE_URL (with SQLite the key vault is "
                                                       "keyvault.db in the data directory)");
    if (cfg->env == CONFIG_ENV_PRODUCTION && !cfg->master_key.set)
        return fail(&l, PREFIX "MASTER_KEY or " PREFIX "MASTER_KEY_FILE is required when " PREFIX
                               "ENV=production");
    return ERR_OK;
}

void config_release(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_cors_origins; i++) {
        free(cfg->cors_origins[i]);
        cfg->cors_origins[i] = NULL;
    }
    cfg->n_cors_origins = 0;
    cfg->n_trusted_proxies = 0;
    secret_release(&cfg->master_key);
    secret_release(&cfg->database_url);
    secret_release(&cfg->migrate_database_url);
    secret_release(&cfg->master_keys_previous);
    secret_release(&cfg->keyvault_database_url);
    secret_release(&cfg->migrate_keyvault_database_url);
    secret_release(&cfg->redis_url);
    secret_release(&cfg->smtp_url);
    secret_release(&cfg->smtp_password);
}

/* outbox (A11): see config.h */
bool config_mail_addr_valid(struct str a)
{
    if (a.len == 0 || a.len > CONFIG_MAX_MAIL_ADDR)
        return false;
    long at = -1;
    for (size_t i = 0; i < a.len; i++)
        if (a.ptr[i] == '@')
            at = (long)i;
    if (at <= 0 || (size_t)at > 64 || (size_t)at + 1 >= a.len)
        return false;
    /* local part: dot-atom of RFC 5322 atext */
    static const char atext_extra[] = "!#$%&'*+-/=?^_`{|}~";
    for (size_t i = 0; i < (size_t)at; i++) {
        unsigned char ch = (unsigned char)a.ptr[i];
        bool alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (ch == '.') {
            if (i == 0 || i + 1 == (size_t)at || a.ptr[i - 1] == '.')
                return false;
        } else if (!alnum && !(ch && strchr(atext_extra, ch))) {
            return false;
        }
    }
    /* domain: LDH labels of 1..63 bytes */
    size_t label = 0;
    for (size_t i = (size_t)at + 1; i <= a.len; i++) {
        char ch = i < a.len ? a.ptr[i] : '.';
        if (ch == '.') {
            if (label == 0 || label > 63 || a.ptr[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && !(ch == '-' && label > 0))
            return false;
        label++;
    }
    return true;
}
