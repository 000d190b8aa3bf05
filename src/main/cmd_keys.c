/*
 * cmd_keys — `shiplog keys rotate` and `shiplog keys status` (C2, docs/KEYS.md).
 *
 *   keys rotate   re-wraps every tenant data key under the current master key
 *                 (SHIPLOG_MASTER_KEY), unwrapping with the previous keys
 *                 (SHIPLOG_MASTER_KEYS_PREVIOUS), and records for every tenant
 *                 the audit checkpoint key transitions from the previous keys
 *                 to the current one; safe while servers run
 *   keys status   data keys per wrapping master key, and whether the previous
 *                 keys can be removed from the configuration
 *
 * Both use the owner connections (maintenance) of the main database, to visit
 * every tenant, and of the key vault. Output names master keys by their id (a
 * hash prefix), never by their value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/log.h"
#include "crypto/keyring.h"
#include "main/commands.h"
#include "secrets/secrets.h"

#define KEYS_MAX_TENANTS 1000000 /* tenants given checkpoint key transitions by one rotate */

/* The tenants of the main database, listed before any of them is written. */
struct tenant_ids {
    struct tenant_ctx *ids;
    size_t n, cap;
};

struct keys_ctx {
    struct storage *main_db;
    struct storage *vault;
    struct keyring ring;
    struct secrets *secrets;
};

static void keys_ctx_close(struct keys_ctx *c)
{
    secrets_close(c->secrets);
    storage_close(c->vault);
    storage_close(c->main_db);
    keyring_wipe(&c->ring);
    memset(c, 0, sizeof *c);
}

/* Opens both storages (owner connections) and the key ring; 0 or an exit code. */
static int keys_ctx_open(struct config *cfg, struct keys_ctx *c)
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
        log_error("keys: cannot open", LOG_STR("what", what), LOG_ERR(e),
                  LOG_STR("detail", buf_cstr(&msg)));
        buf_release(&msg);
        keys_ctx_close(c);
        return main_exit_code(e);
    }
    buf_release(&msg);
    return 0;
}

static void keys_usage(FILE *out)
{
    fputs("usage: shiplog keys rotate\n"
          "       shiplog keys status\n",
          out);
}

static enum err tenant_id_add(void *arg, const char *id)
{
    struct tenant_ids *l = arg;
    if (l->n == KEYS_MAX_TENANTS)
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

/*
 * Records, for every tenant, a transition from the checkpoint key of each
 * previous master key to the current one (docs/AUDIT.md "Key transitions"),
 * so checkpoints signed before the rotation still verify once the previous
 * keys are gone. Existing transitions are kept. *failed counts the tenants
 * whose transaction failed.
 */
static enum err record_transitions(struct keys_ctx *c, uint64_t *made, uint64_t *failed)
{
    *made = *failed = 0;
    if (c->ring.n < 2)
        return ERR_OK;
    struct sign_key current;
    unsigned char old[KEYRING_MAX][SIGN_PUBLIC_LEN];
    enum err e = keyring_checkpoint_key(&c->ring.keys[0], &current);
    for (size_t i = 1; i < c->ring.n && !e; i++) {
        struct sign_key k;
        e = keyring_checkpoint_key(&c->ring.keys[i], &k);
        if (!e)
            memcpy(old[i - 1], k.pub, SIGN_PUBLIC_LEN);
        sign_key_wipe(&k);
    }
    struct tenant_ids l = {0};
    if (!e)
        e = storage_tenant_ids(c->main_db, tenant_id_add, &l);
    for (size_t i = 0; i < l.n && !e; i++) {
        size_t n = 0;
        enum err te =
            audit_key_transitions_record(c->main_db, &l.ids[i], &current, old, c->ring.n - 1, &n);
        if (te) {
            log_error("keys: cannot record the checkpoint key transitions",
                      LOG_STR("tenant", l.ids[i].id), LOG_ERR(te));
            (*failed)++;
        }
        *made += n;
    }
    free(l.ids);
    sign_key_wipe(&current);
    return e;
}

static int keys_rotate(struct keys_ctx *c)
{
    char actor_id[32];
    snprintf(actor_id, sizeof actor_id, "cli:uid=%u", (unsigned)getuid());
    struct secrets_actor actor = {.type = AUDIT_ACTOR_OPERATOR, .id = actor_id};
    struct secrets_rotate_result r;
    enum err e = secrets_rotate(c->secrets, &actor, &r);
    if (e && e != ERR_CRYPTO) {
        fprintf(stderr, "shiplog: key rotation failed: %s\n", err_name(e));
        log_error("key rotation failed", LOG_ERR(e));
        return main_exit_code(e);
    }
    printf("current master key: %s\n", keyring_current(&c->ring)->id);
    printf("tenants: %llu\n", (unsigned long long)r.tenants);
    printf("data keys re-wrapped: %llu\n", (unsigned long long)r.rewrapped);
    printf("data keys already current: %llu\n", (unsigned long long)r.current);
    printf("data keys under an unknown master key: %llu\n", (unsigned long long)r.unknown_key);
    printf("tenants failed: %llu\n", (unsigned long long)r.failed);
    uint64_t made = 0, failed = 0;
    enum err te = record_transitions(c, &made, &failed);
    if (te) {
        fprintf(stderr, "shiplog: cannot record the checkpoint key transitions: %s\n",
                err_name(te));
        log_error("keys: checkpoint key transitions failed", LOG_ERR(te));
        return main_exit_code(te);
    }
    printf("checkpoint key transitions recorded: %llu\n", (unsigned long long)made);
    printf("tenants without checkpoint key transitions: %llu\n", (unsigned long long)failed);
    log_info("keys rotated", LOG_STR("wrapped_by", keyring_current(&c->ring)->id),
             LOG_INT("tenants", r.tenants), LOG_INT("rewrapped", r.rewrapped),
             LOG_INT("unknown", r.unknown_key), LOG_INT("failed", r.failed));
    if (e) {
        fprintf(stderr, "shiplog: some data keys were not re-wrapped: add the missing master "
                        "keys to SHIPLOG_MASTER_KEYS_PREVIOUS and run again\n");
        return MAIN_EXIT_PROBLEM;
    }
    if (failed) {
        fprintf(stderr, "shiplog: some checkpoint key transitions were not recorded; run again\n");
        return MAIN_EXIT_PROBLEM;
    }
    return 0;
}

static void print_stale(void *arg, const char *tenant_id, const char *master_key_id)
{
    printf("  tenant %s: a data key is wrapped by %s\n", tenant_id, master_key_id);
}

static int keys_status(struct keys_ctx *c)
{
    struct secrets_status st;
    printf("current master key: %s\n", keyring_current(&c->ring)->id);
    for (size_t i = 1; i < c->ring.n; i++)
        printf("previous master key: %s\n", c->ring.keys[i].id);
    printf("tenants still on an older master key:\n");
    enum err e = secrets_status(c->secrets, &st, print_stale, NULL);
    if (e) {
        fprintf(stderr, "shiplog: key status failed: %s\n", err_name(e));
        return main_exit_code(e);
    }
    if (st.tenants_stale == 0)
        printf("  (none)\n");
    for (size_t i = 0; i < st.n_keys; i++) {
        const struct secrets_key_count *k = &st.keys[i];
        printf("master key %s: %llu data keys (%s)\n", k->master_key_id,
               (unsigned long long)k->data_keys,
               k->current   ? "current"
               : k->in_ring ? "previous"
                            : "not in the key ring");
    }
    printf("tenants: %llu, without a data key: %llu, on an older master key: %llu\n",
           (unsigned long long)st.tenants, (unsigned long long)st.tenants_without_key,
           (unsigned long long)st.tenants_stale);
    printf("ready to remove previous keys: %s\n", st.ready ? "yes" : "no");
    return 0;
}

int cmd_keys(struct config *cfg, int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "rotate") != 0 && strcmp(argv[1], "status") != 0)) {
        keys_usage(stderr);
        return MAIN_EXIT_USAGE;
    }
    struct keys_ctx c;
    int rc = keys_ctx_open(cfg, &c);
    if (rc)
        return rc;
    rc = strcmp(argv[1], "rotate") == 0 ? keys_rotate(&c) : keys_status(&c);
    keys_ctx_close(&c);
    return rc;
}
