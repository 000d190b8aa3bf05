/*
 * cmd_admin — operator commands on tenants and their secrets.
 *
 *   admin tenant create --slug S --name N     prints the new tenant's id
 *   admin tenant shred --tenant ID            destroys the tenant's data keys (C4)
 *   admin secret put --tenant ID --name NAME --purpose P
 *                                             value from stdin; prints the hint only
 *   admin secret check --tenant ID [--name NAME]
 *                                             decrypts each secret: "name: ok (…hint)"
 *                                             or "name: UNREADABLE" (exit 1)
 *   admin cleanup                             deletes expired sessions, tokens and
 *                                             per-IP sign-in counters (accounts_cleanup)
 *                                             and prints how many
 *
 * Every mutating command records an audit event with actor type "operator",
 * except admin cleanup: like the server's cleaner thread it deletes only
 * state nobody can use any more (audit events are never among it), and says
 * what it did in a log line.
 * A secret value is read from stdin into one fixed buffer (never reallocated,
 * so no stray copy is left in freed memory), wiped after use and never
 * printed or logged; arguments are checked against named limits before
 * anything touches the database.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accounts/accounts.h"
#include "audit/audit.h"
#include "core/log.h"
#include "crypto/keyring.h"
#include "crypto/rand.h"
#include "main/commands.h"
#include "secrets/secrets.h"

#define ADMIN_MAX_SLUG        63  /* bytes: [a-z0-9-], starting with a letter or digit */
#define ADMIN_MAX_TENANT_NAME 200 /* bytes of a display name (no control characters) */
#define ADMIN_MAX_OPTIONS     8   /* --key value pairs one command accepts */

struct admin_ctx {
    struct operator_ctx op;
    char actor_id[32];
    struct secrets_actor actor;
};

/* Parsed --key value options. */
struct admin_opts {
    const char *slug, *name, *tenant, *purpose;
};

static void admin_usage(FILE *out)
{
    fputs("usage: shiplog admin tenant create --slug S --name N\n"
          "       shiplog admin tenant shred --tenant ID\n"
          "       shiplog admin secret put --tenant ID --name NAME --purpose P  (value on stdin)\n"
          "       shiplog admin secret check --tenant ID [--name NAME]\n"
          "       shiplog admin cleanup\n",
          out);
}

static int usage_error(const char *msg)
{
    fprintf(stderr, "shiplog: %s\n", msg);
    admin_usage(stderr);
    return MAIN_EXIT_USAGE;
}

static int parse_opts(int argc, char **argv, int first, struct admin_opts *o)
{
    memset(o, 0, sizeof *o);
    if (argc - first > 2 * ADMIN_MAX_OPTIONS)
        return usage_error("too many arguments");
    for (int i = first; i < argc; i += 2) {
        const char *k = argv[i];
        const char **slot = strcmp(k, "--slug") == 0      ? &o->slug
                            : strcmp(k, "--name") == 0    ? &o->name
                            : strcmp(k, "--tenant") == 0  ? &o->tenant
                            : strcmp(k, "--purpose") == 0 ? &o->purpose
                                                          : NULL;
        if (!slot || i + 1 >= argc) {
            /* a stray word may be a value typed in the wrong place: never echo it */
            if (strncmp(k, "--", 2) == 0 && strlen(k) <= 32)
                fprintf(stderr, "shiplog: unknown or incomplete option '%s'\n", k);
            return usage_error("unknown or incomplete option, or an unexpected argument");
        }
        if (*slot) {
            fprintf(stderr, "shiplog: option '%s' given twice\n", k);
            return usage_error("bad options");
        }
        *slot = argv[i + 1];
    }
    return 0;
}

static void admin_ctx_close(struct admin_ctx *c)
{
    main_operator_close(&c->op);
}

/* Owner connections to both schemas and the key ring; 0 or an exit code. */
static int admin_ctx_open(struct config *cfg, struct admin_ctx *c)
{
    memset(c, 0, sizeof *c);
    int rc = main_operator_open(cfg, &c->op);
    if (rc)
        return rc;
    snprintf(c->actor_id, sizeof c->actor_id, "cli:uid=%u", (unsigned)getuid());
    c->actor = (struct secrets_actor){.type = AUDIT_ACTOR_OPERATOR, .id = c->actor_id};
    return 0;
}

/* A failure after the context is open: message, log line, exit code. */
static int fail(const char *what, enum err e)
{
    fprintf(stderr, "shiplog: %s: %s\n", what, err_name(e));
    log_error("admin command failed", LOG_STR("what", what), LOG_ERR(e));
    return e == ERR_CONFLICT || e == ERR_NOT_FOUND ? MAIN_EXIT_PROBLEM : main_exit_code(e);
}

static int parse_tenant(const char *arg, struct tenant_ctx *t)
{
    if (!arg)
        return usage_error("--tenant ID is required");
    size_t n = strnlen(arg, STORAGE_TENANT_ID_LEN + 1);
    if (n != STORAGE_TENANT_ID_LEN || !storage_tenant_id_valid(str_from(arg, n)))
        return usage_error("--tenant must be a tenant id (lower-case UUID)");
    memcpy(t->id, arg, n + 1);
    return 0;
}

static int check_slug(const char *slug)
{
    size_t n = slug ? strnlen(slug, ADMIN_MAX_SLUG + 1) : 0;
    if (n == 0)
        return usage_error("--slug is required");
    if (n > ADMIN_MAX_SLUG)
        return usage_error("--slug is longer than 63 bytes");
    for (size_t i = 0; i < n; i++) {
        char ch = slug[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || (ch == '-' && i > 0);
        if (!ok)
            return usage_error("--slug may hold only a-z, 0-9 and '-' (not first)");
    }
    return 0;
}

static int check_tenant_name(const char *name)
{
    size_t n = name ? strnlen(name, ADMIN_MAX_TENANT_NAME + 1) : 0;
    if (n == 0)
        return usage_error("--name is required");
    if (n > ADMIN_MAX_TENANT_NAME)
        return usage_error("--name is longer than 200 bytes");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return usage_error("--name must not contain control characters");
    return 0;
}

/* A random (version 4) UUID in canonical lower-case text. */
static enum err new_uuid(struct tenant_ctx *t)
{
    unsigned char b[16];
    enum err e = rand_bytes(b, sizeof b);
    if (e)
        return e;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char hex[33];
    hex_encode(b, sizeof b, hex);
    snprintf(t->id, sizeof t->id, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
    return ERR_OK;
}

/* Inserts the tenants row and its audit event in one transaction. */
static enum err insert_tenant(struct admin_ctx *c, const struct tenant_ctx *t, const char *slug,
                              const char *name)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(c->op.main_db, t, TX_WRITE, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_prepare(tx, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)", &st);
    if (!e) {
        e = stmt_bind_text(st, 2, str_from_cstr(slug));
        if (!e)
            e = stmt_bind_text(st, 3, str_from_cstr(name));
        if (!e)
            e = stmt_step(st, &row);
        stmt_finish(st);
    }
    char target[sizeof "tenant:" + STORAGE_TENANT_ID_LEN];
    snprintf(target, sizeof target, "tenant:%s", t->id);
    struct audit_event ev = {
        .action = "tenant.created",
        .actor = AUDIT_ACTOR_OPERATOR,
        .actor_id = c->actor_id,
        .target = target,
        .outcome = AUDIT_SUCCESS,
        .details = LOG_FIELDS_(LOG_STR("slug", slug)),
    };
    if (!e)
        e = audit_append(tx, &ev, NULL);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

static int tenant_create(struct config *cfg, const struct admin_opts *o)
{
    int rc = check_slug(o->slug);
    if (!rc)
        rc = check_tenant_name(o->name);
    if (!rc && (o->tenant || o->purpose))
        rc = usage_error("tenant create takes only --slug and --name");
    if (rc)
        return rc;
    struct admin_ctx c;
    if ((rc = admin_ctx_open(cfg, &c)) != 0)
        return rc;
    struct tenant_ctx t;
    enum err e = new_uuid(&t);
    /* The key first: a tenant row never exists without its data key. */
    if (!e)
        e = secrets_tenant_key_create(c.op.secrets, &t);
    if (!e) {
        e = insert_tenant(&c, &t, o->slug, o->name);
        if (e) {
            /* best effort: drop the now orphaned key */
            if (secrets_tenant_key_discard(c.op.secrets, &t) != ERR_OK)
                log_warn("orphaned data key left in the vault", LOG_STR("tenant", t.id));
        }
    }
    if (e) {
        rc = fail(e == ERR_CONFLICT ? "a tenant with this slug exists" : "cannot create tenant", e);
    } else {
        printf("%s\n", t.id);
        log_info("tenant created", LOG_STR("tenant", t.id), LOG_STR("slug", o->slug));
    }
    admin_ctx_close(&c);
    return rc;
}

/* ERR_OK when t has a tenants row, ERR_NOT_FOUND when not. */
static enum err tenant_exists(struct admin_ctx *c, const struct tenant_ctx *t)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(c->op.main_db, t, TX_READ, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_prepare(tx, "SELECT 1 FROM tenants WHERE id = $1", &st);
    if (!e)
        e = stmt_step(st, &row);
    stmt_finish(st);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    return !e && !row ? ERR_NOT_FOUND : e;
}

static int tenant_shred(struct config *cfg, const struct admin_opts *o)
{
    struct tenant_ctx t;
    int rc = parse_tenant(o->tenant, &t);
    if (!rc && (o->slug || o->name || o->purpose))
        rc = usage_error("tenant shred takes only --tenant");
    if (rc)
        return rc;
    struct admin_ctx c;
    if ((rc = admin_ctx_open(cfg, &c)) != 0)
        return rc;
    uint64_t n = 0;
    enum err e = tenant_exists(&c, &t);
    if (!e)
        e = secrets_shred_tenant(c.op.secrets, &t, &c.actor, &n);
    if (e) {
        rc = fail(e == ERR_NOT_FOUND ? "no such tenant" : "cannot shred the tenant's keys", e);
    } else {
        printf("destroyed %llu data key(s) of tenant %s\n", (unsigned long long)n, t.id);
        log_info("tenant keys shredded", LOG_STR("tenant", t.id), LOG_INT("data_keys", n));
    }
    admin_ctx_close(&c);
    return rc;
}

/*
 * Reads the secret value from stdin into v (SECRETS_MAX_VALUE + 2 bytes),
 * dropping one trailing "\n" or "\r\n". ERR_LIMIT when longer than
 * SECRETS_MAX_VALUE, ERR_INVALID when empty.
 */
static enum err read_value(char *v, size_t cap, size_t *len)
{
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(STDIN_FILENO, v + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return ERR_IO;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n == cap) {
        /* the buffer is full: any further byte means the value is too long
         * (never store a silently truncated secret) */
        char extra;
        ssize_t r;
        do
            r = read(STDIN_FILENO, &extra, 1);
        while (r < 0 && errno == EINTR);
        if (r != 0) {
            explicit_bzero(&extra, 1);
            return r < 0 ? ERR_IO : ERR_LIMIT;
        }
    }
    if (n > 0 && v[n - 1] == '\n') {
        n--;
        if (n > 0 && v[n - 1] == '\r')
            n--;
    }
    *len = n;
    if (n == 0)
        return ERR_INVALID;
    return n > SECRETS_MAX_VALUE ? ERR_LIMIT : ERR_OK;
}

static int check_secret_args(const struct admin_opts *o, struct tenant_ctx *t, bool need_purpose)
{
    int rc = parse_tenant(o->tenant, t);
    if (rc)
        return rc;
    if (o->slug)
        return usage_error("--slug is not an option of admin secret");
    if (o->name) {
        enum err e = secrets_check_name(str_from_cstr(o->name));
        if (e == ERR_LIMIT)
            return usage_error("--name is longer than 128 bytes");
        if (e)
            return usage_error("--name may hold only A-Z, a-z, 0-9 and _ . : / -");
    } else if (need_purpose) {
        return usage_error("--name is required");
    }
    if (need_purpose) {
        if (!o->purpose)
            return usage_error("--purpose is required");
        enum err e = secrets_check_purpose(str_from_cstr(o->purpose));
        if (e == ERR_LIMIT)
            return usage_error("--purpose is longer than 64 bytes");
        if (e)
            return usage_error("--purpose may hold only a-z, 0-9 and _ . -");
    } else if (o->purpose) {
        return usage_error("--purpose is not an option of admin secret check");
    }
    return 0;
}

static int secret_put_cmd(struct config *cfg, const struct admin_opts *o)
{
    struct tenant_ctx t;
    int rc = check_secret_args(o, &t, true);
    if (rc)
        return rc;
    size_t cap = SECRETS_MAX_VALUE + 2, len = 0;
    char *v = malloc(cap);
    if (!v)
        err_oom();
    enum err e = read_value(v, cap, &len);
    if (e) {
        explicit_bzero(v, cap);
        free(v);
        if (e == ERR_LIMIT)
            return usage_error("the value on stdin is longer than 65536 bytes");
        return usage_error(e == ERR_IO ? "cannot read the value from stdin"
                                       : "the value on stdin is empty");
    }
    struct admin_ctx c;
    if ((rc = admin_ctx_open(cfg, &c)) == 0) {
        char hint[SECRETS_HINT_SIZE];
        e = secret_put(c.op.secrets, &t, str_from_cstr(o->name), str_from_cstr(o->purpose),
                       str_from(v, len), &c.actor, hint);
        if (e == ERR_NOT_FOUND)
            rc = fail("the tenant has no data key (unknown or shredded tenant)", e);
        else if (e)
            rc = fail("cannot store the secret", e);
        else if (hint[0])
            printf("%s: stored (\u2026%s)\n", o->name, hint);
        else
            printf("%s: stored (no hint: value too short or not printable ASCII)\n", o->name);
        admin_ctx_close(&c);
    }
    explicit_bzero(v, cap);
    free(v);
    return rc;
}

struct check_run {
    size_t ok, unreadable;
};

static enum err print_check(void *arg, const char *name, const char *hint, enum err result)
{
    struct check_run *run = arg;
    if (result == ERR_OK) {
        run->ok++;
        if (hint[0])
            printf("%s: ok (\u2026%s)\n", name, hint);
        else
            printf("%s: ok\n", name);
    } else {
        run->unreadable++;
        printf("%s: UNREADABLE\n", name);
    }
    return ERR_OK;
}

static int secret_check_cmd(struct config *cfg, const struct admin_opts *o)
{
    struct tenant_ctx t;
    int rc = check_secret_args(o, &t, false);
    if (rc)
        return rc;
    struct admin_ctx c;
    if ((rc = admin_ctx_open(cfg, &c)) != 0)
        return rc;
    struct check_run run = {0};
    enum err e = secret_check(c.op.secrets, &t, o->name ? str_from_cstr(o->name) : STR_NULL,
                              print_check, &run);
    if (e)
        rc = fail(e == ERR_NOT_FOUND ? "no such secret" : "cannot check the secrets", e);
    else if (run.unreadable)
        rc = MAIN_EXIT_PROBLEM;
    if (!e && run.ok + run.unreadable == 0)
        printf("no secrets\n");
    admin_ctx_close(&c);
    return rc;
}

static void print_cleanup(const struct accounts_cleanup_stats *st)
{
    printf("tenants: %llu\nsessions: %llu\ntokens: %llu\nip_counters: %llu\n"
           "idempotency_keys: %llu\ntoken_families: %llu\nrefresh_tokens: %llu\n"
           "access_token_denylist: %llu\n",
           (unsigned long long)st->tenants, (unsigned long long)st->sessions,
           (unsigned long long)st->tokens, (unsigned long long)st->ip_counters,
           (unsigned long long)st->idempotency_keys, (unsigned long long)st->token_families,
           (unsigned long long)st->refresh_tokens, (unsigned long long)st->denylist);
}

/* accounts_cleanup over the owner connection; prints the counts, also of a partial run. */
static int cleanup_cmd(struct config *cfg)
{
    struct admin_ctx c;
    int rc = admin_ctx_open(cfg, &c);
    if (rc)
        return rc;
    struct accounts_options ao = {.db = c.op.main_db,
                                  .secrets = c.op.secrets,
                                  .ring = &c.op.ring,
                                  .bcrypt_cost = cfg->bcrypt_cost};
    struct accounts *acc = NULL;
    struct accounts_cleanup_stats st = {0};
    enum err e = accounts_open(&ao, &acc);
    if (e) {
        rc = fail("cannot open the accounts", e);
    } else {
        e = accounts_cleanup(acc, &st);
        print_cleanup(&st);
        log_info("accounts cleaned up", LOG_STR("actor", c.actor_id),
                 LOG_INT("tenants", st.tenants), LOG_INT("ended_sign_ins", st.sessions),
                 LOG_INT("spent_links", st.tokens), LOG_INT("ip_counters", st.ip_counters));
        if (e)
            rc = fail("cleanup incomplete (the counts above are what was deleted)", e);
    }
    accounts_close(acc);
    admin_ctx_close(&c);
    return rc;
}

int cmd_admin(struct config *cfg, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "cleanup") == 0) {
        if (argc > 2)
            return usage_error("admin cleanup takes no arguments");
        return cleanup_cmd(cfg);
    }
    if (argc < 3) {
        admin_usage(stderr);
        return MAIN_EXIT_USAGE;
    }
    struct admin_opts o;
    int rc = parse_opts(argc, argv, 3, &o);
    if (rc)
        return rc;
    const char *noun = argv[1], *verb = argv[2];
    if (strcmp(noun, "tenant") == 0 && strcmp(verb, "create") == 0)
        return tenant_create(cfg, &o);
    if (strcmp(noun, "tenant") == 0 && strcmp(verb, "shred") == 0)
        return tenant_shred(cfg, &o);
    if (strcmp(noun, "secret") == 0 && strcmp(verb, "put") == 0)
        return secret_put_cmd(cfg, &o);
    if (strcmp(noun, "secret") == 0 && strcmp(verb, "check") == 0)
        return secret_check_cmd(cfg, &o);
    admin_usage(stderr);
    return MAIN_EXIT_USAGE;
}
