/*
 * testdb — set-up shared by the module suites that run against both backends
 * (tests/secrets, tests/accounts, tests/auth, tests/idempotency): opening a
 * storage, a migrated main database on either backend, random ids, and
 * loading a key ring from master keys given as hex. Test code only.
 */
#ifndef SHIPLOG_TESTS_TESTDB_H
#define SHIPLOG_TESTS_TESTDB_H

#include <stdbool.h>

#include "crypto/keyring.h"
#include "storage/storage.h"

/*
 * A storage over url (PostgreSQL) or the SQLite file path; the owner
 * connection when maintenance. NULL on failure (the reason is printed as a
 * TAP comment).
 */
struct storage *testdb_open(enum storage_schema schema, const char *url, const char *path,
                            bool maintenance);

/*
 * The main database of a module suite, migrated: a fresh SQLite file under a
 * new directory /tmp/shiplog-<tag>-XXXXXX (its path into dir), or — when
 * SHIPLOG_TEST_PG_OWNER_URL and _APP_URL are set (scripts/pgtmp run) — the
 * PostgreSQL database migrated as its owner and opened as the application
 * role (*pg true). NULL on failure (the reason printed as a TAP comment).
 * testdb_cleanup closes it and removes dir.
 */
struct storage *testdb_open_main(const char *tag, char dir[64], bool *pg);
void testdb_cleanup(struct storage *s, const char *dir);

/*
 * PostgreSQL only, for row-level-security probes: on a raw connection of the
 * application role (app_url), in a transaction bound to tenant the way the
 * storage layer binds it (app.tenant_id), runs sql with n text parameters
 * $1..$n (bound, never spliced), then rolls back. True when the statement
 * succeeded; *changed (may be NULL) gets the rows it changed.
 */
bool testdb_pg_as_tenant(const char *app_url, const char *tenant, const char *sql, int n,
                         const char *const *params, long *changed);

/* A random version-4 UUID in canonical lower-case text. */
void testdb_random_uuid(char out[37]);

/* Loads a ring with current (64 hex digits) and optional previous keys; asserts success. */
void testdb_load_ring(const char *data_dir, const char *current, const char *previous,
                      struct keyring *out);

#endif
