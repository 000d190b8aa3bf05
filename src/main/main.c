/*
 * main — the shiplog binary: subcommands, start-up and signals (P1, P5, P6).
 *
 *   shiplog serve [--listen HOST:PORT] [--data DIR]
 *   shiplog migrate [--data DIR]
 *   shiplog --version | help
 *
 * Exit codes follow sysexits.h: 64 usage, 78 configuration (e.g. production
 * without a master key), 69 a dependency is unavailable, 70 internal error.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "accounts/accounts.h"
#include "api/api.h"
#include "console/console.h"
#include "core/config.h"
#include "core/log.h"
#include "audit/audit.h"
#include "changes/publish.h"
#include "crypto/hash.h"
#include "delivery/cache.h"
#include "crypto/keyring.h"
#include "outbound/outbound.h"
#include "outbox/outbox.h"
#include "ratelimit/ratelimit.h"
#include "secrets/secrets.h"
#include "storage/group.h"
#include "ingest/ingest.h"
#include "ingest/integrations.h"
#include "ingest/retention.h"
#include "jobs/jobs.h"
#include "http/server.h"
#include "main/commands.h"
#include "storage/storage.h"

#define SHIPLOG_VERSION  "0.1.0"
#define EXIT_USAGE       MAIN_EXIT_USAGE
#define EXIT_UNAVAILABLE MAIN_EXIT_UNAVAILABLE
#define EXIT_SOFTWARE    MAIN_EXIT_SOFTWARE
#define EXIT_CONFIG      MAIN_EXIT_CONFIG
#define MAIN_MAX_ENV     4096 /* environment entries considered */
#define MAIN_JOB_THREADS 2    /* job runner threads (webhook processing) */
#define MAIN_JOB_NICE    10   /* their CPU priority below the request threads' */
#define MAIN_MAX_ARGS    64   /* arguments passed on to a command family */
#define SQLITE_FILE      "shiplog.db"
#define VAULT_FILE       "keyvault.db"

extern char **environ;

static void usage(FILE *out)
{
    fputs(
        "usage: shiplog <command> [options]\n"
        "\n"
        "commands:\n"
        "  serve [--listen HOST:PORT] [--data DIR]   serve HTTP (default 127.0.0.1:8080, ./var)\n"
        "  migrate [--data DIR]                      apply database migrations\n"
        "  audit verify [--tenant ID | --file EXPORT] [--public-key FILE]\n"
        "                                            check audit chains and checkpoints\n"
        "  audit export --tenant ID [--output FILE]  the chain as JSON Lines\n"
        "  audit checkpoint [--tenant ID]            sign the chain heads now\n"
        "  audit public-key                          the checkpoint verification key\n"
        "  keys rotate                               re-wrap tenant data keys under the\n"
        "                                            current master key\n"
        "  keys status                               which master key wraps each tenant's key\n"
        "  admin tenant create --slug S --name N     create a tenant (organization)\n"
        "  admin tenant shred --tenant ID            destroy a tenant's data key\n"
        "  admin secret put --tenant ID --name N --purpose P\n"
        "                                            store a secret read from stdin\n"
        "  admin secret check --tenant ID [--name N] check that secrets decrypt\n"
        "  admin cleanup                             delete expired sessions, tokens, IP counters\n"
        "  permissions [--json]                      print docs/PERMISSIONS.md (who may call "
        "what),\n"
        "                                            or the same tables as JSON\n"
        "  openapi                                   print the API description "
        "(docs/openapi.json)\n"
        "  help                                      this text\n"
        "  --version                                 print the version\n"
        "\n"
        "Configuration comes from SHIPLOG_* environment variables; see README.md.\n"
        "SHIPLOG_DATABASE_URL=postgresql://... selects PostgreSQL, otherwise SQLite in the\n"
        "data directory is used.\n",
        out);
}

/* The command line's overrides, applied on top of the environment. */
struct overrides {
    const char *listen;
    const char *data;
};

static int parse_options(int argc, char **argv, bool allow_listen, struct overrides *o)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char **slot = NULL;
        if (strcmp(arg, "--listen") == 0 && allow_listen)
            slot = &o->listen;
        else if (strcmp(arg, "--data") == 0)
            slot = &o->data;
        if (!slot || i + 1 >= argc) {
            fprintf(stderr, "shiplog: unknown or incomplete option '%s'\n\n", arg);
            usage(stderr);
            return EXIT_USAGE;
        }
        *slot = argv[++i];
    }
    return 0;
}

/*
 * Inline secrets stay readable in /proc/<pid>/environ and pass to children:
 * once the configuration holds its copies, the values are overwritten in place
 * (that memory is what /proc shows) and the variables removed.
 */
static void scrub_secret_env(void)
{
    static const char *const names[] = {
        "SHIPLOG_MASTER_KEY",
        "SHIPLOG_MASTER_KEYS_PREVIOUS",
        "SHIPLOG_DATABASE_URL",
        "SHIPLOG_MIGRATE_DATABASE_URL",
        "SHIPLOG_REDIS_URL",
        "SHIPLOG_SMTP_URL",
        "SHIPLOG_SMTP_PASSWORD",
        "SHIPLOG_KEYVAULT_DATABASE_URL",
        "SHIPLOG_MIGRATE_KEYVAULT_DATABASE_URL",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *v = getenv(names[i]);
        if (v) {
            explicit_bzero(v, strlen(v));
            unsetenv(names[i]);
        }
    }
}

void main_load_config(const char *listen, const char *data_dir, struct config *cfg)
{
    static const char *env[MAIN_MAX_ENV + 3];
    static char listen_kv[CONFIG_MAX_VALUE + 32], data_kv[CONFIG_MAX_VALUE + 32];
    size_t n = 0;
    for (char **e = environ; *e && n < MAIN_MAX_ENV; e++) {
        if ((listen && strncmp(*e, "SHIPLOG_LISTEN=", 15) == 0) ||
            (data_dir && strncmp(*e, "SHIPLOG_DATA_DIR=", 17) == 0))
            continue;
        env[n++] = *e;
    }
    if (listen) {
        snprintf(listen_kv, sizeof(listen_kv), "SHIPLOG_LISTEN=%s", listen);
        env[n++] = listen_kv;
    }
    if (data_dir) {
        snprintf(data_kv, sizeof(data_kv), "SHIPLOG_DATA_DIR=%s", data_dir);
        env[n++] = data_kv;
    }
    env[n] = NULL;

    struct buf msg = BUF_INIT(1024);
    enum err e = config_load(cfg, env, &msg);
    if (e) {
        fprintf(stderr, "shiplog: configuration error: %s\n", buf_cstr(&msg));
        buf_release(&msg);
        config_release(cfg);
        exit(EXIT_CONFIG);
    }
    buf_release(&msg);
    scrub_secret_env();
    log_init(cfg->log_level, STDERR_FILENO);
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "shiplog: cannot create data directory %s: %s\n", cfg->data_dir,
                strerror(errno));
        config_release(cfg);
        exit(EXIT_CONFIG);
    }
}

int main_exit_code(enum err e)
{
    switch (e) {
    case ERR_OK:
        return 0;
    case ERR_CONFIG:
        return EXIT_CONFIG;
    case ERR_UNAVAILABLE:
    case ERR_TIMEOUT:
        return EXIT_UNAVAILABLE;
    default:
        return EXIT_SOFTWARE;
    }
}

enum err main_open_storage(struct config *cfg, enum storage_schema schema, bool maintenance,
                           struct storage **out, struct buf *detail)
{
    bool vault = schema == STORAGE_SCHEMA_VAULT;
    struct config_secret *secret = vault ? &cfg->keyvault_database_url : &cfg->database_url;
    struct config_secret *owner =
        vault ? &cfg->migrate_keyvault_database_url : &cfg->migrate_database_url;
    if (maintenance && owner->set)
        secret = owner;
    struct buf url = BUF_INIT(CONFIG_MAX_VALUE);
    enum err e = ERR_OK;
    if (secret->set)
        e = config_secret_get(cfg, secret, &url);
    char sqlite_path[CONFIG_MAX_PATH + 32];
    snprintf(sqlite_path, sizeof(sqlite_path), "%s/%s", cfg->data_dir,
             vault ? VAULT_FILE : SQLITE_FILE);
    if (!e) {
        struct storage_options opt = {
            .schema = schema,
            .database_url = secret->set ? buf_cstr(&url) : NULL,
            .sqlite_path = sqlite_path,
            .pool_size = cfg->db_pool_size,
            .statement_timeout_ms = cfg->db_statement_timeout_ms,
        };
        e = maintenance ? storage_open_migrator(&opt, out, detail)
                        : storage_open(&opt, out, detail);
    }
    buf_wipe(&url);
    return e;
}

static enum err tenant_list_add(void *arg, const char *id)
{
    struct tenant_list *l = arg;
    if (l->n == MAIN_MAX_TENANTS)
        return ERR_LIMIT;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct tenant_ctx *p = realloc(l->ids, cap * sizeof *p);
        if (!p)
            err_oom();
        l->ids = p;
        l->cap = cap;
    }
    snprintf(l->ids[l->n].id, sizeof l->ids[l->n].id, "%s", id);
    l->n++;
    return ERR_OK;
}

enum err main_tenant_list(struct storage *st, const char *one, struct tenant_list *l)
{
    memset(l, 0, sizeof *l);
    enum err e = one ? tenant_list_add(l, one) : storage_tenant_ids(st, tenant_list_add, l);
    if (e) {
        fprintf(stderr, "shiplog: cannot list the tenants (%s)\n", err_name(e));
        main_tenant_list_release(l);
    }
    return e;
}

void main_tenant_list_release(struct tenant_list *l)
{
    free(l->ids);
    memset(l, 0, sizeof *l);
}

void main_operator_close(struct operator_ctx *c)
{
    secrets_close(c->secrets);
    storage_close(c->vault);
    storage_close(c->main_db);
    keyring_wipe(&c->ring);
    memset(c, 0, sizeof *c);
}

int main_operator_open(struct config *cfg, struct operator_ctx *c)
{
    memset(c, 0, sizeof *c);
    struct buf msg = BUF_INIT(2048);
    const char *what = "the key ring";
    enum err e = keyring_load(cfg, &c->ring, &msg);
    if (!e) {
        what = "the database";
        e = main_open_storage(cfg, STORAGE_SCHEMA_MAIN, true, &c->main_db, &msg);
    }
    if (!e) {
        what = "the key vault";
        e = main_open_storage(cfg, STORAGE_SCHEMA_VAULT, true, &c->vault, &msg);
    }
    if (!e)
        e = secrets_open(c->main_db, c->vault, &c->ring, &c->secrets);
    if (e) {
        fprintf(stderr, "shiplog: cannot open %s: %s\n", what, buf_cstr(&msg));
        log_error("operator command: cannot open", LOG_STR("what", what), LOG_ERR(e),
                  LOG_STR("detail", buf_cstr(&msg)));
        buf_release(&msg);
        main_operator_close(c);
        return main_exit_code(e);
    }
    buf_release(&msg);
    return 0;
}

/* Migrates the main schema, then the key vault. */
static int run_migrations(struct config *cfg)
{
    static const enum storage_schema schemas[] = {STORAGE_SCHEMA_MAIN, STORAGE_SCHEMA_VAULT};
    for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
        const char *what = schemas[i] == STORAGE_SCHEMA_VAULT ? "key vault" : "database";
        struct buf detail = BUF_INIT(2048);
        struct storage *st = NULL;
        enum err e = main_open_storage(cfg, schemas[i], true, &st, &detail);
        if (!e)
            e = storage_migrate(st, &detail);
        int version = st ? storage_latest_version(st) : 0;
        const char *backend = st ? storage_backend_name(storage_backend_of(st)) : "-";
        storage_close(st);
        if (e) {
            log_error("migration failed", LOG_STR("schema", what), LOG_ERR(e),
                      LOG_STR("detail", buf_cstr(&detail)));
            buf_release(&detail);
            return main_exit_code(e);
        }
        log_info("migrated", LOG_STR("schema", what), LOG_STR("backend", backend),
                 LOG_INT("version", version));
        buf_release(&detail);
    }
    return 0;
}

/* Says why start-up failed, on stderr and in the log, and gives the exit code. */
static int startup_failure(const char *what, enum err e, const struct buf *detail)
{
    fprintf(stderr, "shiplog: %s: %s\n", what, buf_cstr(detail));
    log_error(what, LOG_ERR(e), LOG_STR("detail", buf_cstr(detail)));
    return main_exit_code(e);
}

#define SERVE_MALLOC_TRIM (32 << 20) /* bytes of free heap top kept (mallopt) */

/*
 * changes_publisher.in_tx: a published entry's outbound webhooks, queued in
 * the publishing transaction. Internal entries go to no customer endpoint,
 * as they appear in no feed.
 */
static enum err publish_outbound(void *arg, struct tx *tx, const struct entry *e, int64_t now)
{
    (void)arg;
    if (e->audience == AUDIENCE_INTERNAL)
        return ERR_OK;
    struct buf data = BUF_INIT(OUTBOUND_MAX_DATA);
    enum err err = changes_entry_public_json(e, &data);
    if (!err)
        err = outbound_enqueue(tx, STR_LIT(CHANGES_EVENT_PUBLISHED),
                               str_from(buf_cstr(&data), data.len), now);
    buf_release(&data);
    return err;
}

/* changes_publisher.committed: the feed's cached pages go, the queued deliveries start at once. */
static void publish_committed(void *arg, const struct tenant_ctx *t)
{
    feed_cache_invalidate(t);
    const struct app *app = arg;
    if (app->jobs)
        jobs_runner_notify(app->jobs);
}

static int serve(struct config *cfg)
{
    struct keyring ring = {0};
    struct storage *st = NULL, *vault = NULL;
    struct http_server *srv = NULL;
    struct audit_checkpointer *checkpointer = NULL;
    struct accounts_cleaner *cleaner = NULL;
    struct ratelimit *limiter = NULL;
    struct outbox_sender *sender = NULL;
    struct storage_group *writer = NULL;
    struct jobs_runner *jobs = NULL;
    struct integrations_cache *hook_cache = NULL; /* the webhook path's lookups */
    struct ingest_retention *retention = NULL;
    struct secrets *secrets = NULL;
    struct accounts *accounts = NULL;
    struct buf msg = BUF_INIT(2048), sectxt = BUF_INIT(4096), openapi = BUF_INIT(API_OPENAPI_MAX);
    int rc = 0;

    /*
     * glibc gives a thread's heap back to the kernel whenever 128 KB at its
     * top are free, so a thread that builds and frees a parsed delivery (the
     * job runner: a few hundred KB each) grew the heap again every time and
     * paid a page fault per 4 KB: ~8,000 faults/s under a webhook burst. Freed
     * memory now stays with the heap up to SERVE_MALLOC_TRIM bytes; peak RSS is
     * what the load needs at once either way.
     */
    if (mallopt(M_TRIM_THRESHOLD, SERVE_MALLOC_TRIM) != 1)
        log_warn("serve: mallopt(M_TRIM_THRESHOLD) refused");

    /* Signals are taken synchronously by this thread only: blocked before any
     * thread exists (rate-limiter reconnects, checkpointer, HTTP workers), so
     * every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    enum err e = keyring_load(cfg, &ring, &msg);
    if (e) {
        rc = startup_failure("cannot start", e, &msg);
        goto out;
    }
    /* Development migrates at start-up; production expects `shiplog migrate`
     * to have run as part of the deployment, with the owner credentials. */
    if (cfg->env == CONFIG_ENV_DEVELOPMENT) {
        rc = run_migrations(cfg);
        if (rc == EXIT_UNAVAILABLE)
            rc = 0; /* serve anyway: readiness reports the database */
        if (rc)
            goto out;
    }
    buf_reset(&msg);
    if ((e = main_open_storage(cfg, STORAGE_SCHEMA_MAIN, false, &st, &msg)) ||
        (e = main_open_storage(cfg, STORAGE_SCHEMA_VAULT, false, &vault, &msg))) {
        rc = startup_failure("cannot open the database", e, &msg);
        goto out;
    }
    /* sign-up creates tenant data keys in the vault; sign-in peppers with the ring */
    struct accounts_options aopt = {.db = st,
                                    .secrets = NULL,
                                    .ring = &ring,
                                    .bcrypt_cost = cfg->bcrypt_cost,
                                    .session_cache_ms = cfg->session_cache_ms};
    if ((e = secrets_open(st, vault, &ring, &secrets)) == ERR_OK) {
        aopt.secrets = secrets;
        e = accounts_open(&aopt, &accounts);
    }
    if (e) {
        buf_reset(&msg);
        buf_note(&msg, "cannot open the accounts (%s)", err_name(e));
        rc = startup_failure("cannot start", e, &msg);
        goto out;
    }
    /* Redis being down is not an error: limits are then kept in-process */
    unsigned char rl_key[RL_HASH_KEY_LEN];
    if ((e = ratelimit_new(cfg, &limiter)) ||
        (e = keyring_subkey(keyring_current(&ring), "shiplog/v1/ratelimit", rl_key,
                            sizeof rl_key))) {
        rc = main_exit_code(e);
        goto out;
    }
    /* every server sharing a Redis derives the same key, so they count together */
    ratelimit_set_key(limiter, rl_key);
    crypto_wipe(rl_key, sizeof rl_key);
    /* Bind first: with port 0 the URLs in security.txt need the real port. */
    buf_reset(&msg);
    if ((e = http_server_open(cfg, &srv, &msg))) {
        rc = startup_failure("cannot listen", e, &msg);
        goto out;
    }
    config_set_bound_port(cfg, http_server_port(srv));
    time_t now = time(NULL);
    if ((e = security_txt_render(cfg, now, &sectxt))) {
        rc = main_exit_code(e);
        goto out;
    }
    buf_reset(&msg);
    if ((e = api_openapi_render(&openapi, &msg))) {
        rc = startup_failure("cannot describe the API", e, &msg);
        goto out;
    }
    struct app app = {
        .cfg = cfg,
        .storage = st,
        .vault = vault,
        .secrets = secrets,
        .ratelimit = limiter,
        .accounts = accounts,
        .version = SHIPLOG_VERSION,
        .started_at = now,
        .security_txt = buf_cstr(&sectxt),
        .openapi_json = buf_cstr(&openapi),
        .openapi_json_len = openapi.len,
        .console_error = console_error,
    };
    if ((e = keyring_subkey(keyring_current(&ring), "shiplog/v1/csrf", app.csrf_key,
                            sizeof app.csrf_key))) {
        rc = main_exit_code(e);
        goto out;
    }
    /* access tokens (A8): signed with the ring's current key, checked against every key */
    if ((e = auth_token_keys_init(&app.tokens, &ring, cfg->public_url))) {
        rc = main_exit_code(e);
        goto out;
    }

    /* mail queued by request handlers (and left by earlier runs) goes out from here */
    if ((e = outbox_sender_start(st, cfg, cfg->data_dir, &sender))) {
        rc = main_exit_code(e);
        goto out;
    }

    /* I6: deliveries are answered after the group-commit writer committed them,
     * and processed by the job runner (also jobs left by earlier runs), whose
     * writes go through the same writer and whose parsing yields the CPU to
     * the requests */
    /* W3: outbound webhooks are delivered by the same runner (a kind no handler of a
     * runner knows would use up its attempts there); their HTTP waits outside any
     * transaction, under OUTBOUND_TIMEOUT_MS */
    static struct outbound_runtime outbound_rt;
    outbound_rt = (struct outbound_runtime){
        .secrets = secrets, .policy = {.allow_private = cfg->outbound_allow_private}};
    struct jobs_handler outbound_handler = outbound_job_deliver;
    outbound_handler.arg = &outbound_rt;
    /* D5: what publishing an entry also does: queue its outbound webhooks in the
     * publishing transaction */
    static struct changes_publisher publisher = {.in_tx = publish_outbound,
                                                 .committed = publish_committed};
    publisher.arg = &app;
    struct jobs_handler publish = changes_job_publish;
    publish.arg = &publisher;
    const struct jobs_handler handlers[] = {ingest_job_normalize, outbound_handler,
                                            publish}; /* copied by the runner */
    app.publisher = &publisher;
    e = integrations_cache_new(&hook_cache);
    if (!e)
        e = storage_group_start(st, &writer);
    if (!e) {
        struct jobs_runner_options jopt = {.group = writer, .nice = MAIN_JOB_NICE};
        e = jobs_runner_start(st, handlers, sizeof handlers / sizeof handlers[0], MAIN_JOB_THREADS,
                              &jopt, &jobs);
    }
    if (e) {
        rc = main_exit_code(e);
        goto out;
    }
    app.writer = writer;
    app.jobs = jobs;
    app.integrations_cache = hook_cache;
    /* I7: redacted deliveries past their tenant's retention are purged (first run now) */
    if ((e = ingest_retention_start(st, NULL, &retention))) {
        rc = main_exit_code(e);
        goto out;
    }

    struct sign_key ckey;
    if ((e = keyring_checkpoint_key(keyring_current(&ring), &ckey)) == ERR_OK) {
        e = audit_checkpointer_start(st, &ckey, cfg->audit_checkpoint_interval_s, &checkpointer);
        sign_key_wipe(&ckey);
    }
    if (!e)
        e = accounts_cleaner_start(accounts, 0, &cleaner); /* expired sessions, tokens, counters */
    if (e) {
        rc = main_exit_code(e);
        goto out;
    }

    size_t n_routes;
    const struct route *routes = api_routes(&n_routes);
    buf_reset(&msg);
    if ((e = http_server_start(srv, &app, routes, n_routes, &msg))) {
        rc = startup_failure("cannot serve", e, &msg);
        goto out;
    }
    bool v6 = strchr(cfg->listen_host, ':') != NULL;
    printf("listening on %s://%s%s%s:%u\n", http_server_tls(srv) ? "https" : "http", v6 ? "[" : "",
           cfg->listen_host, v6 ? "]" : "", (unsigned)http_server_port(srv));
    fflush(stdout);
    log_info("serving",
             LOG_STR("env", cfg->env == CONFIG_ENV_PRODUCTION ? "production" : "development"),
             LOG_STR("backend", storage_backend_name(storage_backend_of(st))),
             LOG_INT("port", http_server_port(srv)), LOG_INT("threads", cfg->threads),
             LOG_STR("fingerprint", keyring_current(&ring)->id));

    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("shutting down", LOG_STR("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"),
             LOG_INT("grace_s", cfg->shutdown_grace_s));
    http_server_quiesce(srv);
    bool drained = http_server_wait_idle(srv, cfg->shutdown_grace_s);
    /* the runner's batches in flight finish through the writer; then the
     * deliveries still queued are committed and answered before the server stops */
    jobs_runner_halt(jobs);
    storage_group_stop(writer);
    writer = NULL;
    drained = http_server_wait_idle(srv, 1) && drained;
    log_info("shutdown complete", LOG_BOOL("drained", drained));
    http_server_stop(srv); /* no request can read the key past this */
    srv = NULL;
    crypto_wipe(app.csrf_key, sizeof app.csrf_key);

out:
    http_server_stop(srv);
    jobs_runner_halt(jobs);     /* the jobs in flight finish (they write through writer) */
    storage_group_stop(writer); /* start-up failed: nothing is queued */
    jobs_runner_stop(jobs);
    ingest_retention_stop(retention);      /* after the tenant being swept */
    outbox_sender_stop(sender);            /* the message in flight completes */
    audit_checkpointer_stop(checkpointer); /* a last round of checkpoints */
    accounts_cleaner_stop(cleaner);
    integrations_cache_free(hook_cache); /* after the server: no request reads it */
    ratelimit_free(limiter);
    accounts_close(accounts);
    secrets_close(secrets);
    storage_close(vault);
    storage_close(st);
    keyring_wipe(&ring);
    buf_release(&msg);
    buf_release(&sectxt);
    buf_release(&openapi);
    return rc;
}

/* serve / migrate: their own options, then fn with the configuration. */
static int run_with_config(int argc, char **argv, bool allow_listen, int (*fn)(struct config *))
{
    struct overrides o = {0};
    int rc = parse_options(argc, argv, allow_listen, &o);
    if (rc)
        return rc;
    struct config cfg;
    main_load_config(o.listen, o.data, &cfg);
    rc = fn(&cfg);
    config_release(&cfg);
    return rc;
}

/*
 * A command family (audit, keys, admin): --data DIR may appear anywhere and is
 * taken out; the rest goes to the family's own parser.
 */
static int run_family(int argc, char **argv, int (*fn)(struct config *, int, char **))
{
    char *args[MAIN_MAX_ARGS + 1];
    int n = 0;
    const char *data = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
            continue;
        }
        if (n >= MAIN_MAX_ARGS) {
            fprintf(stderr, "shiplog: too many arguments (max %d)\n", MAIN_MAX_ARGS);
            return EXIT_USAGE;
        }
        args[n++] = argv[i];
    }
    args[n] = NULL;
    struct config cfg;
    main_load_config(NULL, data, &cfg);
    int rc = fn(&cfg, n, args);
    config_release(&cfg);
    return rc;
}

/* docs/PERMISSIONS.md on stdout: who may call each route (Z1). */
static int print_permissions(int argc, char **argv)
{
    bool json = argc > 2 && strcmp(argv[2], "--json") == 0;
    if (argc > 2 + json) {
        usage(stderr);
        return EXIT_USAGE;
    }
    struct buf out = BUF_INIT(256 * 1024);
    enum err e = json ? api_permissions_json(&out) : api_permissions_markdown(&out);
    if (!e)
        fputs(buf_cstr(&out), stdout);
    buf_release(&out);
    return e ? main_exit_code(e) : 0;
}

/* docs/openapi.json on stdout: the API description, from the route table. */
static int print_openapi(int argc)
{
    if (argc > 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    struct buf out = BUF_INIT(API_OPENAPI_MAX), msg = BUF_INIT(512);
    enum err e = api_openapi_render(&out, &msg);
    if (e)
        fprintf(stderr, "shiplog: %s\n", buf_cstr(&msg));
    else
        fputs(buf_cstr(&out), stdout);
    buf_release(&out);
    buf_release(&msg);
    return e ? main_exit_code(e) : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("shiplog %s\n", SHIPLOG_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "permissions") == 0)
        return print_permissions(argc, argv);
    if (strcmp(cmd, "openapi") == 0)
        return print_openapi(argc);
    if (strcmp(cmd, "serve") == 0)
        return run_with_config(argc, argv, true, serve);
    if (strcmp(cmd, "migrate") == 0)
        return run_with_config(argc, argv, false, run_migrations);
    if (strcmp(cmd, "audit") == 0)
        return run_family(argc, argv, cmd_audit);
    if (strcmp(cmd, "keys") == 0)
        return run_family(argc, argv, cmd_keys);
    if (strcmp(cmd, "admin") == 0)
        return run_family(argc, argv, cmd_admin);
    fprintf(stderr, "shiplog: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
