/*
 * settings.c — a tenant's ingestion settings in tenant_settings (see settings.h).
 */
#include "ingest/settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/log.h"
#include "ingest/ingest.h"

/* Pattern lists longer than this (stored form) are counted, not listed, in the
 * audit details: two lists, escaped (at most doubled), fit AUDIT_MAX_DETAILS. */
#define AUDIT_LIST_MAX 800

void ingest_settings_default(struct ingest_settings *out)
{
    out->retention_days = INGEST_RETENTION_DAYS;
    out->n_bot_patterns = 0;
    out->text[0] = '\0';
}

static enum err refuse(struct ingest_settings_problem *why, enum err e, const char *field,
                       size_t index, const char *reason)
{
    if (why) {
        if (index == SIZE_MAX)
            snprintf(why->field, sizeof why->field, "%s", field);
        else
            snprintf(why->field, sizeof why->field, "%s[%zu]", field, index);
        why->reason = reason;
    }
    return e;
}

static bool printable(struct str s)
{
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] < 0x20 || (unsigned char)s.ptr[i] > 0x7e)
            return false;
    return true;
}

enum err ingest_settings_check(int64_t retention_days, const struct str *patterns, size_t n,
                               struct ingest_settings_problem *why)
{
    if (retention_days < 1 || retention_days > INGEST_MAX_RETENTION_DAYS)
        return refuse(why, ERR_INVALID, "retention_days", SIZE_MAX,
                      "a number of days from 1 to 3650");
    if (n > INGEST_MAX_BOT_PATTERNS)
        return refuse(why, ERR_LIMIT, "bot_patterns", SIZE_MAX, "at most 64 patterns");
    for (size_t i = 0; i < n; i++) {
        if (!patterns[i].ptr || patterns[i].len == 0)
            return refuse(why, ERR_INVALID, "bot_patterns", i, "a pattern may not be empty");
        if (patterns[i].len > INGEST_MAX_BOT_PATTERN)
            return refuse(why, ERR_LIMIT, "bot_patterns", i, "at most 128 bytes a pattern");
        if (!printable(patterns[i]))
            return refuse(why, ERR_INVALID, "bot_patterns", i,
                          "printable ASCII only, no control characters");
    }
    return ERR_OK;
}

/* Days from stored text: 1..4 digits within range, else -1. */
static int parse_days(struct str v)
{
    if (v.len == 0 || v.len > 4)
        return -1;
    int d = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return -1;
        d = d * 10 + (v.ptr[i] - '0');
    }
    return d >= 1 && d <= INGEST_MAX_RETENTION_DAYS ? d : -1;
}

/* Splits stored text (already copied into out->text) into out's patterns; false when invalid. */
static bool parse_patterns(struct ingest_settings *out, size_t len)
{
    out->n_bot_patterns = 0;
    size_t start = 0;
    for (size_t i = 0; len > 0 && i <= len; i++) {
        if (i < len && out->text[i] != '\n')
            continue;
        if (out->n_bot_patterns == INGEST_MAX_BOT_PATTERNS)
            return false;
        out->bot_patterns[out->n_bot_patterns++] = str_from(out->text + start, i - start);
        start = i + 1;
    }
    return ingest_settings_check(INGEST_RETENTION_DAYS, out->bot_patterns, out->n_bot_patterns,
                                 NULL) == ERR_OK;
}

enum err ingest_settings_get(struct tx *tx, struct ingest_settings *out)
{
    ingest_settings_default(out);
    struct stmt *st = NULL;
    bool row = false;
    /*
     * A range between the two keys rather than "key IN ($2, $3)": SQLite
     * runs an IN list on an index through a temporary table, whose page cache
     * it allocates and frees on every call — a quarter of the job runner's time
     * when this ran once per delivery. Other keys in the range are skipped.
     */
    enum err e = tx_query(tx,
                          "SELECT key, value FROM tenant_settings"
                          " WHERE tenant_id = $1 AND key BETWEEN $2 AND $3",
                          STORAGE_ARGS(STORAGE_CSTR(INGEST_SETTING_BOT_PATTERNS),
                                       STORAGE_CSTR(INGEST_SETTING_RETENTION)),
                          &st, &row);
    for (; !e && row; e = stmt_step(st, &row)) {
        struct str key = stmt_col_text(st, 0), v = stmt_col_text(st, 1);
        bool ok = true, days = str_eq(key, STR_LIT(INGEST_SETTING_RETENTION));
        if (!days && !str_eq(key, STR_LIT(INGEST_SETTING_BOT_PATTERNS)))
            continue;
        if (days) {
            int d = parse_days(v);
            ok = d > 0;
            if (ok)
                out->retention_days = d;
        } else if (v.len >= sizeof out->text) {
            ok = false;
        } else {
            memcpy(out->text, v.ptr, v.len);
            out->text[v.len] = '\0';
            ok = parse_patterns(out, v.len);
            if (!ok)
                out->n_bot_patterns = 0;
        }
        if (!ok)
            log_warn("ingest settings: unreadable value, default used",
                     LOG_STR("key", days ? INGEST_SETTING_RETENTION : INGEST_SETTING_BOT_PATTERNS));
    }
    if (st)
        stmt_finish(st);
    return e;
}

/* The stored form of patterns ('\n'-joined) appended to out. */
static enum err join(const struct str *patterns, size_t n, struct buf *out)
{
    enum err e = buf_append(out, "", 0); /* "" rather than NULL for no patterns */
    for (size_t i = 0; !e && i < n; i++) {
        if (i)
            e = buf_append(out, "\n", 1);
        if (!e)
            e = buf_append(out, patterns[i].ptr, patterns[i].len);
    }
    return e;
}

static enum err put(struct tx *tx, const char *key, struct str value)
{
    return tx_exec_args(tx,
                        "INSERT INTO tenant_settings (tenant_id, key, value) VALUES ($1, $2, $3)"
                        " ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value",
                        STORAGE_ARGS(STORAGE_CSTR(key), STORAGE_TEXT(value)), NULL);
}

static enum err audit(struct tx *tx, const struct integrations_actor *who,
                      const struct ingest_settings *old, struct str old_list,
                      int64_t retention_days, size_t n, struct str new_list)
{
    bool listed = old_list.len <= AUDIT_LIST_MAX && new_list.len <= AUDIT_LIST_MAX;
    struct log_field details[] = {
        LOG_INT("retention_days_from", old->retention_days),
        LOG_INT("retention_days_to", retention_days),
        LOG_INT("bot_patterns_count_from", old->n_bot_patterns),
        LOG_INT("bot_patterns_count_to", n),
        LOG_STR("bot_patterns_from", listed ? old_list.ptr : NULL),
        LOG_STR("bot_patterns_to", listed ? new_list.ptr : NULL),
        {.key = NULL},
    };
    if (!listed)
        details[4] = (struct log_field){.key = NULL};
    struct audit_event ev = {
        .action = "settings.ingest_changed",
        .actor = who->key_id ? AUDIT_ACTOR_API_KEY : AUDIT_ACTOR_USER,
        .actor_id = who->key_id ? who->key_id : who->user_id,
        .target = "settings:ingest",
        .outcome = AUDIT_SUCCESS,
        .client_ip = who->client_ip,
        .request_id = who->request_id,
        .details = details,
    };
    return audit_append(tx, &ev, NULL);
}

enum err ingest_settings_set(struct tx *tx, const struct integrations_actor *who,
                             int64_t retention_days, const struct str *patterns, size_t n,
                             struct ingest_settings_problem *why, struct ingest_settings *out)
{
    enum err e = ingest_settings_check(retention_days, patterns, n, why);
    if (e)
        return e;
    struct ingest_settings *old = calloc(1, sizeof *old);
    if (!old)
        err_oom();
    struct buf old_list = BUF_INIT(sizeof old->text), new_list = BUF_INIT(sizeof old->text);
    e = ingest_settings_get(tx, old);
    if (!e)
        e = join(old->bot_patterns, old->n_bot_patterns, &old_list);
    if (!e)
        e = join(patterns, n, &new_list);
    if (!e) {
        char days[16];
        snprintf(days, sizeof days, "%lld", (long long)retention_days);
        e = put(tx, INGEST_SETTING_RETENTION, str_from_cstr(days));
    }
    if (!e)
        e = put(tx, INGEST_SETTING_BOT_PATTERNS, str_from(buf_cstr(&new_list), new_list.len));
    if (!e)
        e = audit(tx, who, old, str_from(buf_cstr(&old_list), old_list.len), retention_days, n,
                  str_from(buf_cstr(&new_list), new_list.len));
    if (!e && out)
        e = ingest_settings_get(tx, out);
    buf_release(&old_list);
    buf_release(&new_list);
    free(old);
    return e;
}

void ingest_settings_norm_options(const struct ingest_settings *s, struct ingest_norm_options *opt)
{
    opt->bot_patterns = s->bot_patterns;
    opt->n_bot_patterns = s->n_bot_patterns;
}
