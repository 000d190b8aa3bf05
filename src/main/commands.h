/*
 * commands — the subcommands of the shiplog binary (P1) and the start-up
 * helpers they share. main.c dispatches; each cmd_*.c file implements one
 * command family and parses its own options.
 *
 * Exit codes follow sysexits.h (see MAIN_EXIT_*); a command that finds a
 * problem in the data it checks (e.g. a broken audit chain) exits 1.
 */
#ifndef SHIPLOG_MAIN_COMMANDS_H
#define SHIPLOG_MAIN_COMMANDS_H

#include <stdbool.h>

#include "core/config.h"
#include "crypto/keyring.h"
#include "secrets/secrets.h"
#include "storage/storage.h"

#define MAIN_EXIT_PROBLEM     1 /* the command ran and found a problem */
#define MAIN_EXIT_USAGE       64
#define MAIN_EXIT_UNAVAILABLE 69
#define MAIN_EXIT_SOFTWARE    70
#define MAIN_EXIT_CONFIG      78

/*
 * Loads the configuration from the environment (with --data DIR / --listen
 * HOST:PORT overrides when non-NULL), initialises the logger and creates the
 * data directory. Exits 78 with a message on a configuration error. Release
 * with config_release().
 */
void main_load_config(const char *listen, const char *data_dir, struct config *cfg);

/*
 * Opens a storage: the main schema (PostgreSQL when SHIPLOG_DATABASE_URL is
 * set, else <data>/shiplog.db) or the key vault (SHIPLOG_KEYVAULT_DATABASE_URL,
 * else <data>/keyvault.db). maintenance selects the owner connection
 * (SHIPLOG_MIGRATE_*_DATABASE_URL, falling back to the application URL) via
 * storage_open_migrator — for operator commands and migrations only.
 */
MUST_CHECK enum err main_open_storage(struct config *cfg, enum storage_schema schema,
                                      bool maintenance, struct storage **out, struct buf *detail);

/* Maps a failure to an exit code. */
int main_exit_code(enum err e);

#define MAIN_MAX_TENANTS 1000000 /* tenants one operator command visits */

/* The tenants an operator command visits, listed before any is written. */
struct tenant_list {
    struct tenant_ctx *ids;
    size_t n, cap;
};

/*
 * Fills l with the tenant one (when non-NULL; not checked against the
 * database) or every tenant of the maintenance storage st. On failure the
 * reason is printed. Release with main_tenant_list_release().
 */
MUST_CHECK enum err main_tenant_list(struct storage *st, const char *one, struct tenant_list *l);
void main_tenant_list_release(struct tenant_list *l);

/* What the key and secret commands work with: owner connections and the ring. */
struct operator_ctx {
    struct keyring ring;
    struct storage *main_db;
    struct storage *vault;
    struct secrets *secrets;
};

/* Opens everything in c; 0 or an exit code (the reason printed and logged). */
int main_operator_open(struct config *cfg, struct operator_ctx *c);
void main_operator_close(struct operator_ctx *c);

/* Command families; argv[0] is the family name ("audit", "keys", ...). */
int cmd_audit(struct config *cfg, int argc, char **argv);
int cmd_keys(struct config *cfg, int argc, char **argv);
int cmd_admin(struct config *cfg, int argc, char **argv);

#endif
