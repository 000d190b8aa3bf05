/*
 * settings — a tenant's ingestion settings (I7, I8): how long redacted
 * webhook deliveries are kept, and which accounts count as bots.
 *
 * Stored in tenant_settings (migration 0001), one row per key:
 *   "ingest.retention_days"  decimal days, 1..INGEST_MAX_RETENTION_DAYS
 *   "ingest.bot_patterns"    the globs joined by '\n' ("" = none)
 * A key that is absent means its default (INGEST_RETENTION_DAYS, no
 * patterns). A stored value that does not read back as valid (edited by
 * hand) also counts as the default, with a warning in the log; the retention
 * sweep's SQL (migration 0016's shiplog_retention_due_tenants, and the
 * SQLite query in sqlite.c) reads the retention the same way.
 *
 * Bot patterns are globs for ingest_glob_match (`*`, `?`, case-insensitive),
 * matched against a person's login and name, on top of the built-in list
 * (normalize.h). Each is 1..INGEST_MAX_BOT_PATTERN bytes of printable ASCII
 * (0x20..0x7e: no control characters, nothing that could split the stored
 * list), at most INGEST_MAX_BOT_PATTERNS of them.
 *
 * Everything works inside a transaction the caller opened for the tenant;
 * nothing here commits or rolls back.
 *
 * Thread-safety: as the struct tx passed in.
 */
#ifndef SHIPLOG_INGEST_SETTINGS_H
#define SHIPLOG_INGEST_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"
#include "ingest/integrations.h"
#include "ingest/normalize.h"
#include "storage/storage.h"

#define INGEST_SETTING_RETENTION    "ingest.retention_days"
#define INGEST_SETTING_BOT_PATTERNS "ingest.bot_patterns"
#define INGEST_MAX_SETTINGS_FIELD   32 /* bytes of a field name in a refusal, "bot_patterns[63]" */

/* A tenant's settings, self-contained (patterns point into text). */
struct ingest_settings {
    int retention_days;
    size_t n_bot_patterns;
    struct str bot_patterns[INGEST_MAX_BOT_PATTERNS];
    char text[INGEST_MAX_BOT_PATTERNS * (INGEST_MAX_BOT_PATTERN + 1)];
};

/* Why a value was refused: the field (API name) and a short public reason. */
struct ingest_settings_problem {
    char field[INGEST_MAX_SETTINGS_FIELD];
    const char *reason; /* constant text */
};

/* The defaults: INGEST_RETENTION_DAYS, no bot patterns. */
void ingest_settings_default(struct ingest_settings *out);

/*
 * Checks new values without touching the database. ERR_INVALID for
 * retention_days outside 1..INGEST_MAX_RETENTION_DAYS or a pattern that is
 * empty or holds a byte outside 0x20..0x7e; ERR_LIMIT for more than
 * INGEST_MAX_BOT_PATTERNS patterns or one over INGEST_MAX_BOT_PATTERN bytes.
 * why (may be NULL) names the first field refused.
 */
MUST_CHECK enum err ingest_settings_check(int64_t retention_days, const struct str *patterns,
                                          size_t n, struct ingest_settings_problem *why);

/* The tenant's settings, defaults for what is unset (or unreadable). Storage errors. */
MUST_CHECK enum err ingest_settings_get(struct tx *tx, struct ingest_settings *out);

/*
 * Replaces the tenant's settings (tx must be a write transaction) after
 * ingest_settings_check, and audits "settings.ingest_changed" with the old
 * and new retention and pattern counts, and the old and new pattern lists
 * when they are short enough for the audit details (the patterns are no
 * secret). out (may be NULL) gets the settings now in force. Errors of
 * ingest_settings_check (why filled), storage and audit errors.
 */
MUST_CHECK enum err ingest_settings_set(struct tx *tx, const struct integrations_actor *who,
                                        int64_t retention_days, const struct str *patterns,
                                        size_t n, struct ingest_settings_problem *why,
                                        struct ingest_settings *out);

/* opt's patterns as views into s (valid while s is). */
void ingest_settings_norm_options(const struct ingest_settings *s, struct ingest_norm_options *opt);

#endif
