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

static void keys_usage(FILE *out)
{
    fputs("usage: shiplog keys rotate\n"
          "       shiplog keys status\n",
          out);
}

/*
 * Records, for every tenant, a transition from the checkpoint key of each
 * previous master key to the current one (docs/AUDIT.md "Key transitions"),
 * so checkpoints signed before the rotation still verify once the previous
 * keys are gone. Existing transitions are kept. *failed counts the tenants
 * whose transaction failed.
 */
static enum err record_transitions(struct operator_ctx *c, uint64_t *made, uint64_t *failed)
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
    struct tenant_list l = {0};
    if (!e)
        e = main_tenant_list(c->main_db, NULL, &l);
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
    main_tenant_list_release(&l);
    sign_key_wipe(&current);
    return e;
}

static int keys_rotate(struct operator_ctx *c)
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

static int keys_status(struct operator_ctx *c)
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
    struct operator_ctx c;
    int rc = main_operator_open(cfg, &c);
    if (rc)
        return rc;
    rc = strcmp(argv[1], "rotate") == 0 ? keys_rotate(&c) : keys_status(&c);
    main_operator_close(&c);
    return rc;
}
