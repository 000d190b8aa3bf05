/*
 * migrations — the schema migrations embedded in the binary (private to
 * src/storage).
 *
 * scripts/embed_migrations.py turns src/storage/migrations/<dialect>/NNNN_name.sql
 * into migrations_embedded.c at build time. Each dialect's array is sorted by
 * version and numbered 1..len without gaps (the generator refuses anything
 * else), so storage_latest_version() is the last entry's version.
 */
#ifndef SHIPLOG_STORAGE_MIGRATIONS_H
#define SHIPLOG_STORAGE_MIGRATIONS_H

#include <stddef.h>

struct storage_migration {
    int version;      /* from the file name's number, 1.. */
    const char *name; /* the rest of the file name, without ".sql" */
    const char *sql;  /* the file's text; may hold several statements, no BEGIN/COMMIT */
};

extern const struct storage_migration storage_migrations_sqlite[];
extern const size_t storage_migrations_sqlite_len;
extern const struct storage_migration storage_migrations_postgres[];
extern const size_t storage_migrations_postgres_len;
extern const struct storage_migration storage_migrations_sqlite_vault[];
extern const size_t storage_migrations_sqlite_vault_len;
extern const struct storage_migration storage_migrations_postgres_vault[];
extern const size_t storage_migrations_postgres_vault_len;

#endif
