/*
 * testdb — set-up shared by the module suites that run against both backends
 * (tests/secrets, tests/accounts): opening a storage and loading a key ring
 * from master keys given as hex. Test code only.
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

/* Loads a ring with current (64 hex digits) and optional previous keys; asserts success. */
void testdb_load_ring(const char *data_dir, const char *current, const char *previous,
                      struct keyring *out);

#endif
