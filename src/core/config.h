/*
 * config — settings from SHIPLOG_* environment variables (P4).
 *
 * Every secret setting NAME may instead come from SHIPLOG_NAME_FILE (a path to
 * a file holding the value; one trailing newline is stripped). Setting both is
 * a configuration error. File-based secrets are re-read when older than
 * secret_ttl_s (default 300 s), so credentials rotate without a restart; read
 * them only through config_secret_get().
 *
 * The parser takes an environ-style array ("KEY=VALUE" strings) so tests and
 * the fuzz target can feed it anything; unknown SHIPLOG_* names are an error
 * (a typo must not silently fall back to a default). Every value has a named
 * limit (CONFIG_MAX_VALUE) and is validated; the error message names the
 * variable and the problem but never echoes a secret's value.
 */
#ifndef SHIPLOG_CORE_CONFIG_H
#define SHIPLOG_CORE_CONFIG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"

#define CONFIG_MAX_VALUE       4096  /* bytes in any one variable's value */
#define CONFIG_MAX_SECRET_FILE 65536 /* bytes in a secret file */
#define CONFIG_MAX_LIST        64    /* entries in a list setting (origins, proxies) */
#define CONFIG_MAX_PATH        1024
#define CONFIG_MAX_MAIL_ADDR   254 /* bytes in a mail address (RFC 5321 path limit) */

enum config_env { CONFIG_ENV_DEVELOPMENT, CONFIG_ENV_PRODUCTION };

/* A secret setting: an inline value or a file re-read on a TTL. */
struct config_secret {
    const char *name; /* e.g. "MASTER_KEY" (without SHIPLOG_) */
    bool set;         /* configured at all (inline or file) */
    char *file;       /* path when from SHIPLOG_<NAME>_FILE, else NULL */
    struct buf value; /* current value (heap); wiped on release */
    time_t loaded_at; /* when value was read from file */
    pthread_mutex_t lock;
};

/* An IPv4/IPv6 network for the trusted-proxy list. */
struct config_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix;
};

struct config {
    enum config_env env;            /* SHIPLOG_ENV: development (default) | production */
    char listen_host[256];          /* SHIPLOG_LISTEN host part, default 127.0.0.1 */
    uint16_t listen_port;           /* SHIPLOG_LISTEN port part, default 8080; 0 = any */
    char data_dir[CONFIG_MAX_PATH]; /* SHIPLOG_DATA_DIR, default ./var */
    char public_url[512];           /* SHIPLOG_PUBLIC_URL, default derived from listen */
    enum log_level log_level;       /* SHIPLOG_LOG_LEVEL, default info */

    size_t max_body_bytes;           /* SHIPLOG_MAX_BODY_BYTES, default 20 MiB */
    size_t max_header_bytes;         /* SHIPLOG_MAX_HEADER_BYTES, default 16 KiB */
    unsigned header_timeout_s;       /* SHIPLOG_HEADER_TIMEOUT, default 10 */
    unsigned request_timeout_s;      /* SHIPLOG_REQUEST_TIMEOUT (whole request incl. body), 60 */
    unsigned idle_timeout_s;         /* SHIPLOG_IDLE_TIMEOUT (keep-alive inactivity), 30 */
    unsigned max_connections;        /* SHIPLOG_MAX_CONNECTIONS, default 1024 */
    unsigned max_connections_per_ip; /* SHIPLOG_MAX_CONNECTIONS_PER_IP, default 64 */
    unsigned threads;                /* SHIPLOG_THREADS, default: number of CPUs */
    unsigned shutdown_grace_s;       /* SHIPLOG_SHUTDOWN_GRACE, default 20 */

    size_t n_trusted_proxies; /* SHIPLOG_TRUSTED_PROXIES: comma-separated CIDRs */
    struct config_cidr trusted_proxies[CONFIG_MAX_LIST];
    size_t n_cors_origins; /* SHIPLOG_CORS_ORIGINS: comma-separated origins */
    char *cors_origins[CONFIG_MAX_LIST];

    char tls_cert_file[CONFIG_MAX_PATH]; /* SHIPLOG_TLS_CERT_FILE */
    char tls_key_file[CONFIG_MAX_PATH];  /* SHIPLOG_TLS_KEY_FILE (both or neither) */

    char security_contact[512];    /* SHIPLOG_SECURITY_CONTACT, default mailto:security@<host> */
    char security_policy_url[512]; /* SHIPLOG_SECURITY_POLICY_URL, default <public_url>/security */

    bool public_url_defaulted; /* the three above were derived, not set */
    bool security_contact_defaulted;
    bool security_policy_defaulted;

    unsigned db_statement_timeout_ms;     /* SHIPLOG_DB_STATEMENT_TIMEOUT_MS, default 5000 */
    unsigned db_pool_size;                /* SHIPLOG_DB_POOL_SIZE, default 8 */
    unsigned secret_ttl_s;                /* SHIPLOG_SECRET_TTL, default 300 */
    unsigned audit_checkpoint_interval_s; /* SHIPLOG_AUDIT_CHECKPOINT_INTERVAL, default 300 */
    unsigned bcrypt_cost;                 /* SHIPLOG_BCRYPT_COST, 10..16, default 12 */
    /* SHIPLOG_SESSION_CACHE_MS, 0..5000, default 1000: how long a session lookup may be
     * answered from memory, so how late a revocation made by another server process is
     * seen by this one (accounts.h); 0 = every lookup reads the database */
    unsigned session_cache_ms;
    /* SHIPLOG_FEED_CACHE_TTL_MS, 0..60000, default 5000: how long a rendered feed page is
     * served from memory, so how late a publish made through another server process is
     * seen by this one (delivery/cache.h); 0 = every request reads the database */
    unsigned feed_cache_ttl_ms;

    struct config_secret master_key;           /* SHIPLOG_MASTER_KEY[_FILE] */
    struct config_secret database_url;         /* SHIPLOG_DATABASE_URL[_FILE]; unset = SQLite */
    struct config_secret migrate_database_url; /* SHIPLOG_MIGRATE_DATABASE_URL[_FILE] */
    /* SHIPLOG_MASTER_KEYS_PREVIOUS[_FILE]: comma-separated older master keys (keyring.h) */
    struct config_secret master_keys_previous;
    /* SHIPLOG_KEYVAULT_DATABASE_URL[_FILE]: PostgreSQL database holding tenant data keys,
     * apart from the data (crypto-shredding, docs/KEYS.md); required with DATABASE_URL */
    struct config_secret keyvault_database_url;
    struct config_secret migrate_keyvault_database_url; /* owner role for the vault */
    /* SHIPLOG_REDIS_URL[_FILE]: redis://[:password@]host:port[/db] for shared rate
     * limits; unset = in-process limits only */
    struct config_secret redis_url;

    /* outbox (A11) */
    /* SHIPLOG_SMTP_URL[_FILE]: smtp://[user[:password]@]host[:port] or smtps://...;
     * unset = mail is written as .eml files into <data_dir>/outbox/ */
    struct config_secret smtp_url;
    struct config_secret smtp_password; /* SHIPLOG_SMTP_PASSWORD[_FILE]: overrides the URL's */
    char mail_from[CONFIG_MAX_MAIL_ADDR + 1]; /* SHIPLOG_MAIL_FROM, default shiplog@<public host> */
    bool mail_from_defaulted;

    /* SHIPLOG_OUTBOUND_ALLOW_PRIVATE: true | false (default): whether outbound requests
     * (webhooks to user-registered endpoints, net/httpc.h) may connect to loopback,
     * private, link-local and other non-public addresses */
    bool outbound_allow_private;
};

/*
 * Fills cfg from env (NULL-terminated "KEY=VALUE" strings; non-SHIPLOG_ keys
 * are ignored). On error, err_msg gets one line naming the variable. cfg must
 * be released with config_release() whatever the result.
 */
MUST_CHECK enum err config_load(struct config *cfg, const char *const *env, struct buf *err_msg);

void config_release(struct config *cfg);

/*
 * Copies the current value of a secret into out (re-reading its file when the
 * TTL has passed). ERR_NOT_FOUND when the secret is not configured, ERR_IO when
 * its file cannot be read (the last good value is kept and returned if any).
 * The caller wipes out (buf_wipe) after use. Thread-safe.
 */
MUST_CHECK enum err config_secret_get(const struct config *cfg, struct config_secret *s,
                                      struct buf *out);

/*
 * After binding to port 0: records the port actually bound and re-derives the
 * URL defaults that contain it. No effect when a fixed port was configured.
 */
void config_set_bound_port(struct config *cfg, uint16_t port);

/*
 * outbox (A11): a plain ASCII mail address local@domain (dot-atom local part of
 * at most 64 bytes, LDH domain labels), at most CONFIG_MAX_MAIL_ADDR bytes. No
 * display names, quoted local parts, address literals or non-ASCII.
 */
bool config_mail_addr_valid(struct str a);

/* Parses "a.b.c.d/n" or "v6/n" (or a bare address = host route). */
MUST_CHECK enum err config_parse_cidr(const char *text, size_t len, struct config_cidr *out);

/* True when addr (family AF_INET/AF_INET6, network byte order) is inside c. */
bool config_cidr_contains(const struct config_cidr *c, int family, const unsigned char *addr);

#endif
