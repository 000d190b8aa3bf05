/*
 * cmd_audit — `shiplog audit ...` (L4, L5; docs/AUDIT.md).
 *
 *   audit verify [--tenant ID] [--file EXPORT.jsonl] [--public-key FILE]...
 *       checks every chain (or one tenant's, or an export file) with its
 *       checkpoints; one line per tenant; exit 1 on any break
 *   audit export --tenant ID [--output FILE]
 *       signs a checkpoint of the head, then writes the chain as JSON Lines
 *       (stdout by default; a file is created 0600)
 *   audit checkpoint [--tenant ID]
 *       signs the chain heads that advanced since their last checkpoint
 *   audit public-key
 *       the current checkpoint verification key, PEM
 *
 * Checkpoints are trusted when signed by the checkpoint key of any master key
 * in the key ring (current and previous), by a key given with --public-key,
 * or by an older key the tenant's key transitions lead to from those. An
 * export must be anchored (its last entry covered by a trusted checkpoint);
 * the database may have a tail not checkpointed yet, which verify counts.
 * Database commands use the owner connection (maintenance), which sees every
 * tenant.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/log.h"
#include "crypto/keyring.h"
#include "main/commands.h"

#define CMD_AUDIT_MAX_PEM 4096 /* bytes of a --public-key file */

static void audit_usage(FILE *out)
{
    fputs("usage: shiplog audit verify [--tenant ID] [--file EXPORT.jsonl] [--public-key FILE]...\n"
          "       shiplog audit export --tenant ID [--output FILE]\n"
          "       shiplog audit checkpoint [--tenant ID]\n"
          "       shiplog audit public-key\n",
          out);
}

struct audit_opts {
    const char *tenant;
    const char *file;
    const char *output;
    const char *pem[AUDIT_MAX_TRUSTED_KEYS];
    size_t n_pem;
};

/* Parses the options a subcommand allows; 0 or an exit code. */
static int parse_opts(int argc, char **argv, bool tenant_ok, bool file_ok, bool output_ok,
                      struct audit_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 2; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (tenant_ok && strcmp(a, "--tenant") == 0 && v) {
            o->tenant = v;
        } else if (file_ok && strcmp(a, "--file") == 0 && v) {
            o->file = v;
        } else if (output_ok && strcmp(a, "--output") == 0 && v) {
            o->output = v;
        } else if (file_ok && strcmp(a, "--public-key") == 0 && v) {
            if (o->n_pem == AUDIT_MAX_TRUSTED_KEYS) {
                fprintf(stderr, "shiplog: at most %d --public-key files\n", AUDIT_MAX_TRUSTED_KEYS);
                return MAIN_EXIT_USAGE;
            }
            o->pem[o->n_pem++] = v;
        } else {
            fprintf(stderr, "shiplog: audit %s: unexpected argument '%s'\n", argv[1], a);
            audit_usage(stderr);
            return MAIN_EXIT_USAGE;
        }
    }
    if (o->tenant && !storage_tenant_id_valid(str_from_cstr(o->tenant))) {
        fprintf(stderr, "shiplog: --tenant must be a tenant id (a lower-case UUID)\n");
        return MAIN_EXIT_USAGE;
    }
    return 0;
}

/* Reads a PEM public key file into pub; 0 or an exit code. */
static int read_pem(const char *path, unsigned char pub[SIGN_PUBLIC_LEN])
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "shiplog: cannot open %s: %s\n", path, strerror(errno));
        return MAIN_EXIT_USAGE;
    }
    char text[CMD_AUDIT_MAX_PEM + 1];
    size_t n = fread(text, 1, sizeof text, f);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad || n > CMD_AUDIT_MAX_PEM ||
        audit_public_key_from_pem(str_from(text, n), pub) != ERR_OK) {
        fprintf(stderr, "shiplog: %s is not an Ed25519 public key in PEM (at most %d bytes)\n",
                path, CMD_AUDIT_MAX_PEM);
        return MAIN_EXIT_USAGE;
    }
    return 0;
}

/*
 * The checkpoint keys of the key ring (and, when current is not NULL, the
 * current one's signing key). With required false a key ring that does not
 * load is reported and skipped. 0 or an exit code.
 */
static int ring_keys(struct config *cfg, bool required, struct audit_trusted_keys *keys,
                     struct sign_key *current)
{
    struct keyring ring;
    struct buf msg = BUF_INIT(1024);
    enum err e = keyring_load(cfg, &ring, &msg);
    if (e) {
        fprintf(stderr, "shiplog: cannot load the master keys: %s\n", buf_cstr(&msg));
        buf_release(&msg);
        return required ? main_exit_code(e) : 0;
    }
    buf_release(&msg);
    for (size_t i = 0; i < ring.n && !e; i++) {
        struct sign_key k;
        e = keyring_checkpoint_key(&ring.keys[i], &k);
        if (!e && keys)
            e = audit_trusted_keys_add(keys, k.pub);
        if (!e && i == 0 && current)
            *current = k;
        sign_key_wipe(&k);
    }
    keyring_wipe(&ring);
    if (e) {
        fprintf(stderr, "shiplog: cannot derive the checkpoint keys (%s)\n", err_name(e));
        return main_exit_code(e);
    }
    return 0;
}

static int open_db(struct config *cfg, struct storage **st)
{
    struct buf msg = BUF_INIT(2048);
    enum err e = main_open_storage(cfg, STORAGE_SCHEMA_MAIN, true, st, &msg);
    if (e) {
        fprintf(stderr, "shiplog: cannot open the database: %s\n", buf_cstr(&msg));
        buf_release(&msg);
        return main_exit_code(e);
    }
    buf_release(&msg);
    return 0;
}

static void print_result(const char *tenant, const struct audit_verify_result *r)
{
    if (r->kind == AUDIT_OK && r->unanchored > 0)
        printf("tenant %s: ok, %lld entries, %lld checkpoints, %lld not yet anchored\n", tenant,
               (long long)r->entries, (long long)r->checkpoints, (long long)r->unanchored);
    else if (r->kind == AUDIT_OK)
        printf("tenant %s: ok, %lld entries, %lld checkpoints\n", tenant, (long long)r->entries,
               (long long)r->checkpoints);
    else
        printf("tenant %s: BROKEN at entry %lld: %s\n", tenant, (long long)r->seq, r->why);
}

static int audit_verify(struct config *cfg, int argc, char **argv)
{
    struct audit_opts o;
    int rc = parse_opts(argc, argv, true, true, false, &o);
    if (rc)
        return rc;
    if (o.file && o.tenant) {
        fprintf(stderr, "shiplog: audit verify: --file and --tenant exclude each other\n");
        return MAIN_EXIT_USAGE;
    }
    struct audit_trusted_keys keys = {.n = 0};
    for (size_t i = 0; i < o.n_pem; i++) {
        unsigned char pub[SIGN_PUBLIC_LEN];
        if ((rc = read_pem(o.pem[i], pub)) != 0)
            return rc;
        if (audit_trusted_keys_add(&keys, pub) != ERR_OK)
            return MAIN_EXIT_USAGE;
    }
    /* an outside verifier of a file may have only the public key */
    if ((rc = ring_keys(cfg, !(o.file && o.n_pem), &keys, NULL)) != 0)
        return rc;

    if (o.file) {
        FILE *f = fopen(o.file, "rb");
        if (!f) {
            fprintf(stderr, "shiplog: cannot open %s: %s\n", o.file, strerror(errno));
            return MAIN_EXIT_USAGE;
        }
        struct audit_verify_result r;
        char tenant[STORAGE_TENANT_ID_LEN + 1];
        enum err e = audit_verify_export(f, &keys, &r, tenant);
        fclose(f);
        if (e) {
            fprintf(stderr, "shiplog: cannot read %s (%s)\n", o.file, err_name(e));
            return main_exit_code(e);
        }
        print_result(tenant[0] ? tenant : "?", &r);
        return r.kind == AUDIT_OK ? 0 : MAIN_EXIT_PROBLEM;
    }

    struct storage *st = NULL;
    if ((rc = open_db(cfg, &st)) != 0)
        return rc;
    struct tenant_list l;
    rc = main_exit_code(main_tenant_list(st, o.tenant, &l));
    bool broken = false;
    for (size_t i = 0; i < l.n && !rc; i++) {
        struct audit_verify_result r;
        enum err e = audit_verify_tenant(st, &l.ids[i], &keys, &r);
        if (e) {
            fprintf(stderr, "shiplog: tenant %s: cannot verify (%s)\n", l.ids[i].id, err_name(e));
            rc = main_exit_code(e);
            break;
        }
        print_result(l.ids[i].id, &r);
        if (r.kind != AUDIT_OK) {
            broken = true;
            log_error("audit: chain broken", LOG_STR("tenant", l.ids[i].id), LOG_INT("seq", r.seq),
                      LOG_STR("why", audit_break_name(r.kind)));
        }
    }
    fflush(stdout);
    main_tenant_list_release(&l);
    storage_close(st);
    if (rc)
        return rc;
    return broken ? MAIN_EXIT_PROBLEM : 0;
}

static int audit_export_cmd(struct config *cfg, int argc, char **argv)
{
    struct audit_opts o;
    int rc = parse_opts(argc, argv, true, false, true, &o);
    if (rc)
        return rc;
    if (!o.tenant) {
        fprintf(stderr, "shiplog: audit export needs --tenant ID\n");
        return MAIN_EXIT_USAGE;
    }
    FILE *out = stdout;
    if (o.output) {
        int fd = open(o.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        out = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!out) {
            fprintf(stderr, "shiplog: cannot create %s: %s\n", o.output, strerror(errno));
            if (fd >= 0)
                close(fd);
            return MAIN_EXIT_USAGE;
        }
    }
    /* anchor the export: a checkpoint of the head first */
    struct sign_key key;
    memset(&key, 0, sizeof key);
    struct storage *st = NULL;
    rc = ring_keys(cfg, true, NULL, &key);
    if (!rc)
        rc = open_db(cfg, &st);
    if (!rc) {
        struct tenant_ctx t;
        snprintf(t.id, sizeof t.id, "%s", o.tenant);
        enum err e = audit_checkpoint(st, &t, &key, NULL);
        if (e == ERR_CONFLICT) { /* export the evidence anyway; it will not verify */
            fprintf(stderr,
                    "shiplog: tenant %s: not signed: the chain does not verify (run "
                    "shiplog audit verify)\n",
                    t.id);
            rc = MAIN_EXIT_PROBLEM;
            e = ERR_OK;
        } else if (e) {
            fprintf(stderr, "shiplog: checkpoint before the export failed (%s)\n", err_name(e));
            rc = main_exit_code(e);
        }
        if (!e)
            e = audit_export(st, &t, out);
        if (e) {
            fprintf(stderr, "shiplog: export failed (%s)\n", err_name(e));
            rc = main_exit_code(e);
        }
        storage_close(st);
    }
    sign_key_wipe(&key);
    if (out != stdout && fclose(out) != 0 && !rc) {
        fprintf(stderr, "shiplog: writing %s: %s\n", o.output, strerror(errno));
        rc = MAIN_EXIT_SOFTWARE;
    }
    return rc;
}

static int audit_checkpoint_cmd(struct config *cfg, int argc, char **argv)
{
    struct audit_opts o;
    int rc = parse_opts(argc, argv, true, false, false, &o);
    if (rc)
        return rc;
    struct sign_key key;
    if ((rc = ring_keys(cfg, true, NULL, &key)) != 0)
        return rc;
    struct storage *st = NULL;
    if ((rc = open_db(cfg, &st)) != 0) {
        sign_key_wipe(&key);
        return rc;
    }
    struct tenant_list l;
    rc = main_exit_code(main_tenant_list(st, o.tenant, &l));
    bool refused = false;
    for (size_t i = 0; i < l.n && !rc; i++) {
        bool made = false;
        enum err e = audit_checkpoint(st, &l.ids[i], &key, &made);
        if (e == ERR_CONFLICT) {
            printf("tenant %s: not signed: the chain does not verify (run shiplog audit verify)\n",
                   l.ids[i].id);
            refused = true;
        } else if (e) {
            fprintf(stderr, "shiplog: tenant %s: checkpoint failed (%s)\n", l.ids[i].id,
                    err_name(e));
            rc = main_exit_code(e);
        } else {
            printf("tenant %s: %s\n", l.ids[i].id, made ? "checkpoint signed" : "up to date");
        }
    }
    fflush(stdout);
    main_tenant_list_release(&l);
    storage_close(st);
    sign_key_wipe(&key);
    if (rc)
        return rc;
    return refused ? MAIN_EXIT_PROBLEM : 0;
}

static int audit_public_key_cmd(struct config *cfg, int argc, char **argv)
{
    if (argc > 2) {
        audit_usage(stderr);
        return MAIN_EXIT_USAGE;
    }
    struct sign_key key;
    int rc = ring_keys(cfg, true, NULL, &key);
    if (rc)
        return rc;
    struct buf pem = BUF_INIT(512);
    enum err e = audit_public_key_pem(key.pub, &pem);
    sign_key_wipe(&key);
    if (!e)
        fputs(buf_cstr(&pem), stdout);
    buf_release(&pem);
    return main_exit_code(e);
}

int cmd_audit(struct config *cfg, int argc, char **argv)
{
    if (argc < 2) {
        audit_usage(stderr);
        return MAIN_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "verify") == 0)
        return audit_verify(cfg, argc, argv);
    if (strcmp(sub, "export") == 0)
        return audit_export_cmd(cfg, argc, argv);
    if (strcmp(sub, "checkpoint") == 0)
        return audit_checkpoint_cmd(cfg, argc, argv);
    if (strcmp(sub, "public-key") == 0)
        return audit_public_key_cmd(cfg, argc, argv);
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        audit_usage(stdout);
        return 0;
    }
    fprintf(stderr, "shiplog: unknown audit command '%s'\n", sub);
    audit_usage(stderr);
    return MAIN_EXIT_USAGE;
}
