/*
 * Audit suite: the audit trail against a real database, SQLite or PostgreSQL
 * (the environment selects, as in tests/storage/conformance.c).
 *
 *   SHIPLOG_TEST_PG_OWNER_URL and SHIPLOG_TEST_PG_APP_URL set: PostgreSQL
 *   (migrations and tampering with the owner URL, everything else with the
 *   application role); otherwise SQLite in a fresh mkdtemp directory.
 *
 * Covered: concurrent appends form one unbroken chain; the database refuses
 * UPDATE / DELETE (application role; on PostgreSQL the owner too, by the
 * trigger); tampering — changed content, a missing entry, reordered entries,
 * a wrong link, truncation after a checkpoint, a consistent rewrite after a
 * checkpoint, a bad checkpoint signature, a checkpoint by an unknown key — is
 * named at the right entry with the right reason; the checkpointer does not
 * resume from a forged checkpoint (nor stops at one beyond the head); key
 * transitions after a rotation; redaction; field limits; export round trip
 * and anchoring; the checkpointer's final round.
 *
 * Tampering works on a copy (SQLite: VACUUM INTO, triggers dropped in the
 * copy) or in a tenant of its own (PostgreSQL: the owner disables the
 * triggers for the duration of the change).
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "audit/audit.h"

#define TAMPER_ENTRIES 10 /* entries of each tampering scenario's chain */
#define TAMPER_CP_SEQ  6  /* where its checkpoint is */

struct suite {
    bool pg;
    char dir[64];
    char path[128];
    const char *owner_url;
    const char *app_url;
    struct storage *app;
    PGconn *owner; /* PostgreSQL: the owner connection used to tamper */
    struct sign_key key, stranger;
    struct audit_trusted_keys trusted;
    int copies;
};

static struct suite S;

static int suite_setup(void **state)
{
    const char *owner = getenv("SHIPLOG_TEST_PG_OWNER_URL");
    const char *app = getenv("SHIPLOG_TEST_PG_APP_URL");
    S.pg = owner && owner[0] && app && app[0];
    S.owner_url = owner;
    S.app_url = app;
    struct storage_options o = {.pool_size = 8, .statement_timeout_ms = 30000};
    if (S.pg) {
        o.database_url = S.app_url;
    } else {
        snprintf(S.dir, sizeof S.dir, "/tmp/shiplog-audit-XXXXXX");
        if (!mkdtemp(S.dir))
            return -1;
        snprintf(S.path, sizeof S.path, "%s/shiplog.db", S.dir);
        o.sqlite_path = S.path;
    }
    struct buf detail = BUF_INIT(2048);
    enum err e = ERR_OK;
    if (S.pg) {
        struct storage *ow = NULL;
        struct storage_options oo = {.database_url = S.owner_url, .pool_size = 2};
        e = storage_open_migrator(&oo, &ow, &detail);
        if (!e) {
            e = storage_migrate(ow, &detail);
            storage_close(ow);
        }
        if (!e)
            e = storage_open(&o, &S.app, &detail);
        S.owner = PQconnectdb(S.owner_url);
        if (PQstatus(S.owner) != CONNECTION_OK)
            e = ERR_UNAVAILABLE;
    } else {
        e = storage_open(&o, &S.app, &detail);
        if (!e)
            e = storage_migrate(S.app, &detail);
    }
    if (e) {
        fprintf(stderr, "# setup: %s: %s\n", err_name(e), buf_cstr(&detail));
        buf_release(&detail);
        return -1;
    }
    buf_release(&detail);
    unsigned char seed[SIGN_SEED_LEN];
    memset(seed, 0x5a, sizeof seed);
    if (sign_key_from_seed(seed, &S.key) != ERR_OK)
        return -1;
    memset(seed, 0xa5, sizeof seed);
    if (sign_key_from_seed(seed, &S.stranger) != ERR_OK)
        return -1;
    if (audit_trusted_keys_add(&S.trusted, S.key.pub) != ERR_OK)
        return -1;
    printf("# backend: %s\n", storage_backend_name(storage_backend_of(S.app)));
    return 0;
}

static int suite_teardown(void **state)
{
    storage_close(S.app);
    if (S.owner)
        PQfinish(S.owner);
    if (!S.pg) {
        char p[192];
        static const char *const files[] = {"shiplog.db", "shiplog.db-wal", "shiplog.db-shm"};
        for (size_t i = 0; i < 3; i++) {
            snprintf(p, sizeof p, "%s/%s", S.dir, files[i]);
            unlink(p);
        }
        for (int i = 0; i < S.copies; i++) {
            snprintf(p, sizeof p, "%s/copy%d.db", S.dir, i);
            unlink(p);
        }
        rmdir(S.dir);
    }
    sign_key_wipe(&S.key);
    sign_key_wipe(&S.stranger);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

static void new_tenant(struct tenant_ctx *t)
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, b, sizeof b), (ssize_t)sizeof b);
    close(fd);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            t->id[o++] = '-';
        t->id[o++] = hex[b[i] >> 4];
        t->id[o++] = hex[b[i] & 15];
    }
    t->id[o] = '\0';
}

static struct audit_event event(const char *action, const char *target)
{
    struct audit_event ev = {
        .action = action,
        .actor = AUDIT_ACTOR_USER,
        .actor_id = "user-1",
        .target = target,
        .outcome = AUDIT_SUCCESS,
        .client_ip = "192.0.2.1",
        .request_id = "req-1",
        .details = NULL,
    };
    return ev;
}

/* Appends n entries to t, one transaction each. */
static void append_n(struct storage *s, const struct tenant_ctx *t, int n)
{
    for (int i = 0; i < n; i++) {
        char target[32];
        snprintf(target, sizeof target, "thing:%d", i);
        struct audit_event ev = event("test.append", target);
        ev.details = LOG_FIELDS_(LOG_INT("i", i));
        struct tx *tx = NULL;
        assert_int_equal(storage_begin(s, t, TX_WRITE, &tx), ERR_OK);
        assert_int_equal(audit_append(tx, &ev, NULL), ERR_OK);
        assert_int_equal(storage_commit(tx), ERR_OK);
    }
}

static struct audit_verify_result verify(struct storage *s, const struct tenant_ctx *t)
{
    struct audit_verify_result r;
    assert_int_equal(audit_verify_tenant(s, t, &S.trusted, &r), ERR_OK);
    if (r.kind != AUDIT_OK)
        printf("# %s: broken at %lld: %s\n", t->id, (long long)r.seq, r.why);
    return r;
}

/* Runs one statement in tx and returns its error (the tx is then rolled back). */
static enum err try_exec(const struct tenant_ctx *t, const char *sql)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.app, t, TX_WRITE, &tx), ERR_OK);
    enum err e = tx_exec(tx, sql);
    storage_rollback(tx);
    return e;
}

/* Replaces every "TID" in sql with t's id. */
static void with_tenant(const char *sql, const struct tenant_ctx *t, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = sql; *p; p++) {
        if (strncmp(p, "TID", 3) == 0) {
            assert_true(o + STORAGE_TENANT_ID_LEN < cap);
            memcpy(out + o, t->id, STORAGE_TENANT_ID_LEN);
            o += STORAGE_TENANT_ID_LEN;
            p += 2;
        } else {
            assert_true(o + 1 < cap);
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void pg_ok(const char *sql)
{
    PGresult *res = PQexec(S.owner, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fprintf(stderr, "# owner: %s: %s\n", sql, PQerrorMessage(S.owner));
    assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    PQclear(res);
}

/*
 * Runs the tampering statements (TID = t's id) with the triggers out of the
 * way, and returns the storage to verify with: SQLite, a storage over a copy
 * of the database (close it with storage_close); PostgreSQL, S.app.
 */
static struct storage *tamper(const struct tenant_ctx *t, const char *const *sqls, size_t n)
{
    char sql[4096];
    if (S.pg) {
        pg_ok("BEGIN");
        pg_ok("ALTER TABLE audit_log DISABLE TRIGGER USER");
        pg_ok("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER");
        for (size_t i = 0; i < n; i++) {
            with_tenant(sqls[i], t, sql, sizeof sql);
            pg_ok(sql);
        }
        pg_ok("ALTER TABLE audit_log ENABLE TRIGGER USER");
        pg_ok("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER");
        pg_ok("COMMIT");
        return S.app;
    }
    char copy[192];
    snprintf(copy, sizeof copy, "%s/copy%d.db", S.dir, S.copies++);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(S.path, &db), SQLITE_OK);
    snprintf(sql, sizeof sql, "VACUUM INTO '%s'", copy);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sqlite3_open(copy, &db), SQLITE_OK);
    static const char *const drop[] = {
        "DROP TRIGGER audit_log_no_update",
        "DROP TRIGGER audit_log_no_delete",
        "DROP TRIGGER audit_checkpoints_no_update",
        "DROP TRIGGER audit_checkpoints_no_delete",
    };
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(sqlite3_exec(db, drop[i], NULL, NULL, NULL), SQLITE_OK);
    for (size_t i = 0; i < n; i++) {
        with_tenant(sqls[i], t, sql, sizeof sql);
        char *msg = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK)
            fprintf(stderr, "# sqlite: %s: %s\n", sql, msg ? msg : "?");
        sqlite3_free(msg);
        assert_int_equal(rc, SQLITE_OK);
    }
    sqlite3_close(db);
    struct storage_options o = {.sqlite_path = copy, .pool_size = 2};
    struct storage *s = NULL;
    struct buf detail = BUF_INIT(1024);
    assert_int_equal(storage_open(&o, &s, &detail), ERR_OK);
    buf_release(&detail);
    return s;
}

static void tamper_done(struct storage *s)
{
    if (s != S.app)
        storage_close(s);
}

/* A fresh tenant with TAMPER_ENTRIES entries and a checkpoint at TAMPER_CP_SEQ. */
static void tamper_tenant(struct tenant_ctx *t)
{
    new_tenant(t);
    append_n(S.app, t, TAMPER_CP_SEQ);
    bool made = false;
    assert_int_equal(audit_checkpoint(S.app, t, &S.key, &made), ERR_OK);
    assert_true(made);
    append_n(S.app, t, TAMPER_ENTRIES - TAMPER_CP_SEQ);
    struct audit_verify_result r = verify(S.app, t);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.entries, TAMPER_ENTRIES);
    assert_int_equal(r.checkpoints, 1);
}

static void expect_break(const char *const *sqls, size_t n, enum audit_break kind, int64_t seq,
                         const char *why)
{
    struct tenant_ctx t;
    tamper_tenant(&t);
    struct storage *s = tamper(&t, sqls, n);
    struct audit_verify_result r = verify(s, &t);
    tamper_done(s);
    assert_int_equal(r.kind, kind);
    assert_int_equal(r.seq, seq);
    assert_non_null(strstr(r.why, why));
}

/* ---- tests -------------------------------------------------------------------- */

static void test_append_and_verify(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct audit_verify_result r = verify(S.app, &t);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.entries, 0);

    struct tx *tx = NULL;
    struct audit_ref ref1, ref2;
    struct audit_event ev = event("auth.signin", "user:1");
    assert_int_equal(storage_begin(S.app, &t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(audit_append(tx, &ev, &ref1), ERR_OK);
    assert_int_equal(audit_append(tx, &ev, &ref2), ERR_OK); /* two in one transaction */
    assert_int_equal(storage_commit(tx), ERR_OK);
    assert_int_equal(ref1.seq, 1);
    assert_int_equal(ref2.seq, 2);

    /* a rolled-back append leaves nothing behind */
    assert_int_equal(storage_begin(S.app, &t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(audit_append(tx, &ev, NULL), ERR_OK);
    storage_rollback(tx);
    r = verify(S.app, &t);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.entries, 2);

    /* the stored row: canonical time, hashes as hex, and hash(2) chains on hash(1) */
    assert_int_equal(storage_begin(S.app, &t, TX_READ, &tx), ERR_OK);
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(tx_prepare(tx,
                                "SELECT at, prev_hash, hash, actor_type, outcome, details "
                                "FROM audit_log WHERE tenant_id = $1 AND seq = 2",
                                &st),
                     ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_true(row);
    struct str at = stmt_col_text(st, 0);
    assert_int_equal(at.len, AUDIT_TIME_LEN);
    assert_int_equal(at.ptr[AUDIT_TIME_LEN - 1], 'Z');
    char h1[AUDIT_HASH_HEX_LEN + 1], h2[AUDIT_HASH_HEX_LEN + 1];
    audit_hash_hex(ref1.hash, h1);
    audit_hash_hex(ref2.hash, h2);
    assert_true(str_eq_cstr(stmt_col_text(st, 1), h1));
    assert_true(str_eq_cstr(stmt_col_text(st, 2), h2));
    assert_true(str_eq_cstr(stmt_col_text(st, 3), "user"));
    assert_true(str_eq_cstr(stmt_col_text(st, 4), "success"));
    assert_true(str_eq_cstr(stmt_col_text(st, 5), "{}"));
    stmt_finish(st);
    storage_rollback(tx);
}

static void test_field_limits(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    static char big[AUDIT_MAX_TARGET + 2];
    struct {
        const char **field;
        size_t max;
    } limits[4];
    struct audit_event ev = event("limit.test", "t");
    limits[0].field = &ev.actor_id;
    limits[0].max = AUDIT_MAX_ACTOR;
    limits[1].field = &ev.target;
    limits[1].max = AUDIT_MAX_TARGET;
    limits[2].field = &ev.client_ip;
    limits[2].max = AUDIT_MAX_CLIENT_IP;
    limits[3].field = &ev.request_id;
    limits[3].max = AUDIT_MAX_REQUEST_ID;
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.app, &t, TX_WRITE, &tx), ERR_OK);
    int appended = 0;
    for (size_t i = 0; i < 4; i++) {
        struct audit_event e = event("limit.test", "t");
        const char **f = (const char **)((char *)&e + ((char *)limits[i].field - (char *)&ev));
        memset(big, 'x', limits[i].max);
        big[limits[i].max] = '\0';
        *f = big;
        assert_int_equal(audit_append(tx, &e, NULL), ERR_OK);
        appended++;
        big[limits[i].max] = 'x';
        big[limits[i].max + 1] = '\0';
        assert_int_equal(audit_append(tx, &e, NULL), ERR_INVALID);
    }
    /* action: at the limit, one past, bad characters, missing */
    char action[AUDIT_MAX_ACTION + 2];
    memset(action, 'a', sizeof action);
    action[AUDIT_MAX_ACTION] = '\0';
    ev.action = action;
    assert_int_equal(audit_append(tx, &ev, NULL), ERR_OK);
    appended++;
    action[AUDIT_MAX_ACTION] = 'a';
    action[AUDIT_MAX_ACTION + 1] = '\0';
    assert_int_equal(audit_append(tx, &ev, NULL), ERR_INVALID);
    ev.action = "Auth.Signin";
    assert_int_equal(audit_append(tx, &ev, NULL), ERR_INVALID);
    ev.action = NULL;
    assert_int_equal(audit_append(tx, &ev, NULL), ERR_INVALID);
    /* control characters and invalid UTF-8 */
    ev.action = "limit.test";
    ev.target = "a\nb";
    assert_int_equal(audit_append(tx, &ev, NULL), ERR_INVALID);
    ev.target = "\xff";
    assert_int_equal(audit_append(tx, &ev, NULL), ERR_INVALID);
    ev.target = "caf\xc3\xa9";
    assert_int_equal(audit_append(tx, &ev, NULL), ERR_OK);
    appended++;
    /* details over AUDIT_MAX_DETAILS */
    char *v = malloc(AUDIT_MAX_DETAILS + 1);
    assert_non_null(v);
    memset(v, 'a', AUDIT_MAX_DETAILS);
    v[AUDIT_MAX_DETAILS] = '\0';
    ev.details = LOG_FIELDS_(LOG_STR("v", v));
    assert_int_equal(audit_append(tx, &ev, NULL), ERR_LIMIT);
    free(v);
    /* invalid enum values */
    ev.details = NULL;
    ev.actor = (enum audit_actor)99;
    assert_int_equal(audit_append(tx, &ev, NULL), ERR_INVALID);
    assert_int_equal(storage_commit(tx), ERR_OK);
    struct audit_verify_result r = verify(S.app, &t);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.entries, appended);
}

static void test_redaction(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct audit_event ev = event("secret.rotated", "integration:1");
    ev.details = LOG_FIELDS_(LOG_STR("client_secret", "s3cr3t-value-never-stored"),
                             LOG_STR("note", "old ghp_0123456789abcdefghijklmnopqrstuvwxyz"),
                             LOG_STR("provider", "github"));
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.app, &t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(audit_append(tx, &ev, NULL), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
    assert_int_equal(storage_begin(S.app, &t, TX_READ, &tx), ERR_OK);
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(tx_prepare(tx, "SELECT details FROM audit_log WHERE tenant_id = $1", &st),
                     ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_true(row);
    char details[512];
    struct str d = stmt_col_text(st, 0);
    snprintf(details, sizeof details, "%.*s", (int)d.len, d.ptr);
    stmt_finish(st);
    storage_rollback(tx);
    assert_null(strstr(details, "s3cr3t"));
    assert_null(strstr(details, "client_secret"));
    assert_null(strstr(details, "ghp_"));
    assert_string_equal(details, "{\"note\":\"old [masked]\",\"provider\":\"github\"}");
}

struct worker {
    const struct tenant_ctx *t;
    int n;
    int failures;
};

static void *append_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        struct audit_event ev = event("test.concurrent", "thing:x");
        struct tx *tx = NULL;
        enum err e = storage_begin(S.app, w->t, TX_WRITE, &tx);
        if (!e) {
            e = audit_append(tx, &ev, NULL);
            if (e)
                storage_rollback(tx);
            else
                e = storage_commit(tx);
        }
        if (e)
            w->failures++;
    }
    return NULL;
}

static void test_concurrent_appends(void **state)
{
    enum { THREADS = 8 };
    int per = S.pg ? 60 : 200;
    struct tenant_ctx t;
    new_tenant(&t);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.t = &t, .n = per};
        assert_int_equal(pthread_create(&th[i], NULL, append_worker, &w[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    assert_int_equal(failures, 0);
    struct audit_verify_result r = verify(S.app, &t);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.entries, THREADS * per);
}

static void test_append_only(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    append_n(S.app, &t, 3);
    bool made = false;
    assert_int_equal(audit_checkpoint(S.app, &t, &S.key, &made), ERR_OK);
    assert_true(made);
    /* the application's own connection */
    assert_int_not_equal(try_exec(&t, "UPDATE audit_log SET target = 'x' WHERE tenant_id = $1"),
                         ERR_OK);
    assert_int_not_equal(try_exec(&t, "DELETE FROM audit_log WHERE tenant_id = $1"), ERR_OK);
    assert_int_not_equal(
        try_exec(&t, "UPDATE audit_checkpoints SET hash = 'x' WHERE tenant_id = $1"), ERR_OK);
    assert_int_not_equal(try_exec(&t, "DELETE FROM audit_checkpoints WHERE tenant_id = $1"),
                         ERR_OK);
    if (S.pg) {
        /* by privilege: the application role has neither UPDATE nor DELETE */
        assert_int_equal(try_exec(&t, "UPDATE audit_log SET target = 'x' WHERE tenant_id = $1"),
                         ERR_FORBIDDEN);
        assert_int_equal(try_exec(&t, "DELETE FROM audit_log WHERE tenant_id = $1"), ERR_FORBIDDEN);
        assert_int_equal(try_exec(&t, "DELETE FROM audit_heads WHERE tenant_id = $1"),
                         ERR_FORBIDDEN);
        /* the owner is refused by the trigger */
        static const char *const owner_sql[] = {
            "UPDATE audit_log SET target = 'x' WHERE tenant_id = 'TID'",
            "DELETE FROM audit_log WHERE tenant_id = 'TID'",
            "TRUNCATE audit_log",
            "UPDATE audit_checkpoints SET hash = 'x' WHERE tenant_id = 'TID'",
            "DELETE FROM audit_checkpoints WHERE tenant_id = 'TID'",
            "TRUNCATE audit_checkpoints",
        };
        for (size_t i = 0; i < sizeof owner_sql / sizeof owner_sql[0]; i++) {
            char sql[512];
            with_tenant(owner_sql[i], &t, sql, sizeof sql);
            PGresult *res = PQexec(S.owner, sql);
            assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
            const char *msg = PQresultErrorMessage(res);
            assert_non_null(strstr(msg, "append-only"));
            PQclear(res);
        }
    }
    struct audit_verify_result r = verify(S.app, &t);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.entries, 3);
}

static void test_tamper_content(void **state)
{
    static const char *const sql[] = {
        "UPDATE audit_log SET target = 'thing:tampered' WHERE tenant_id = 'TID' AND seq = 4"};
    expect_break(sql, 1, AUDIT_BREAK_CONTENT, 4, "content changed");
}

static void test_tamper_missing(void **state)
{
    static const char *const sql[] = {"DELETE FROM audit_log WHERE tenant_id = 'TID' AND seq = 4"};
    expect_break(sql, 1, AUDIT_BREAK_MISSING, 4, "missing");
}

static void test_tamper_reordered(void **state)
{
    static const char *const sql[] = {
        "UPDATE audit_log SET seq = 1000 WHERE tenant_id = 'TID' AND seq = 4",
        "UPDATE audit_log SET seq = 4 WHERE tenant_id = 'TID' AND seq = 5",
        "UPDATE audit_log SET seq = 5 WHERE tenant_id = 'TID' AND seq = 1000",
    };
    expect_break(sql, 3, AUDIT_BREAK_REORDERED, 4, "reordered (links to entry 5)");
}

static void test_tamper_wrong_link(void **state)
{
    static const char *const sql[] = {
        "UPDATE audit_log SET prev_hash = "
        "'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee' "
        "WHERE tenant_id = 'TID' AND seq = 7"};
    expect_break(sql, 1, AUDIT_BREAK_LINK, 7, "wrong link");
}

static void test_tamper_truncated(void **state)
{
    /* the tail from entry 5 cut, the head moved back to entry 4: the checkpoint at 6 tells */
    static const char *const sql[] = {
        "DELETE FROM audit_log WHERE tenant_id = 'TID' AND seq >= 5",
        "UPDATE audit_heads SET seq = 4, hash = (SELECT hash FROM audit_log "
        "WHERE tenant_id = 'TID' AND seq = 4) WHERE tenant_id = 'TID'",
    };
    expect_break(sql, 2, AUDIT_BREAK_TRUNCATED, 5, "truncated");
    /* with the head left as it was, the head tells */
    expect_break(sql, 1, AUDIT_BREAK_TRUNCATED, 5, "truncated");
}

/* Entry 2 changed and every hash after it recomputed, the head too. */
static void test_tamper_rewrite(void **state)
{
    struct tenant_ctx t;
    tamper_tenant(&t);
    /* read the chain, rewrite it consistently in memory */
    static char rows[TAMPER_ENTRIES + 1][13][300];
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.app, &t, TX_READ, &tx), ERR_OK);
    struct stmt *st = NULL;
    assert_int_equal(tx_prepare(tx,
                                "SELECT at, actor_type, actor_id, client_ip, request_id, action, "
                                "target, outcome, details FROM audit_log WHERE tenant_id = $1 "
                                "ORDER BY seq",
                                &st),
                     ERR_OK);
    bool row = false;
    for (int i = 1; i <= TAMPER_ENTRIES; i++) {
        assert_int_equal(stmt_step(st, &row), ERR_OK);
        assert_true(row);
        for (int c = 0; c < 9; c++) {
            struct str v = stmt_col_text(st, c);
            snprintf(rows[i][c], sizeof rows[i][c], "%.*s", (int)v.len, v.ptr);
        }
    }
    stmt_finish(st);
    storage_rollback(tx);
    snprintf(rows[2][6], sizeof rows[2][6], "thing:rewritten");

    static char sqls[TAMPER_ENTRIES + 2][1024];
    const char *list[TAMPER_ENTRIES + 2];
    size_t n = 0;
    unsigned char prev[SHA256_LEN] = {0}, h[SHA256_LEN];
    struct buf scratch = BUF_INIT(1 << 16);
    char prev_hex[AUDIT_HASH_HEX_LEN + 1], hex[AUDIT_HASH_HEX_LEN + 1];
    for (int i = 1; i <= TAMPER_ENTRIES; i++) {
        struct audit_entry e = {
            .tenant_id = str_from_cstr(t.id),
            .seq = i,
            .at = str_from_cstr(rows[i][0]),
            .actor_type = str_from_cstr(rows[i][1]),
            .actor_id = str_from_cstr(rows[i][2]),
            .client_ip = str_from_cstr(rows[i][3]),
            .request_id = str_from_cstr(rows[i][4]),
            .action = str_from_cstr(rows[i][5]),
            .target = str_from_cstr(rows[i][6]),
            .outcome = str_from_cstr(rows[i][7]),
            .details = str_from_cstr(rows[i][8]),
        };
        assert_int_equal(audit_entry_hash(prev, &e, &scratch, h), ERR_OK);
        audit_hash_hex(prev, prev_hex);
        audit_hash_hex(h, hex);
        if (i >= 2) {
            snprintf(sqls[n], sizeof sqls[n],
                     "UPDATE audit_log SET target = '%s', prev_hash = '%s', hash = '%s' "
                     "WHERE tenant_id = 'TID' AND seq = %d",
                     rows[i][6], prev_hex, hex, i);
            list[n] = sqls[n];
            n++;
        }
        memcpy(prev, h, SHA256_LEN);
    }
    snprintf(sqls[n], sizeof sqls[n], "UPDATE audit_heads SET hash = '%s' WHERE tenant_id = 'TID'",
             hex);
    list[n] = sqls[n];
    n++;
    buf_release(&scratch);
    struct storage *s = tamper(&t, list, n);
    struct audit_verify_result r = verify(s, &t);
    tamper_done(s);
    assert_int_equal(r.kind, AUDIT_BREAK_CHECKPOINT_MISMATCH);
    assert_int_equal(r.seq, TAMPER_CP_SEQ);
    assert_non_null(strstr(r.why, "checkpoint mismatch (rewritten"));
}

static void test_tamper_checkpoint_signature(void **state)
{
    static const char *const sql[] = {
        "UPDATE audit_checkpoints SET signature = "
        "'00000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000' "
        "WHERE tenant_id = 'TID' AND seq = 6"};
    expect_break(sql, 1, AUDIT_BREAK_CHECKPOINT_SIGNATURE, TAMPER_CP_SEQ,
                 "checkpoint signature invalid");
}

static void test_checkpoint_unknown_key(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    append_n(S.app, &t, 4);
    bool made = false;
    assert_int_equal(audit_checkpoint(S.app, &t, &S.stranger, &made), ERR_OK);
    assert_true(made);
    struct audit_verify_result r = verify(S.app, &t);
    assert_int_equal(r.kind, AUDIT_BREAK_CHECKPOINT_KEY);
    assert_int_equal(r.seq, 4);
    assert_string_equal(r.why, "checkpoint signed by an unknown key");
}

static void test_checkpoint_refuses_broken_chain(void **state)
{
    struct tenant_ctx t;
    tamper_tenant(&t);
    append_n(S.app, &t, 2);
    static const char *const sql[] = {
        "UPDATE audit_log SET target = 'x' WHERE tenant_id = 'TID' AND seq = 11"};
    struct storage *s = tamper(&t, sql, 1);
    bool made = true;
    assert_int_equal(audit_checkpoint(s, &t, &S.key, &made), ERR_CONFLICT);
    assert_false(made);
    tamper_done(s);
    /* an intact chain is signed, and an unchanged head not twice */
    new_tenant(&t);
    append_n(S.app, &t, 2);
    assert_int_equal(audit_checkpoint(S.app, &t, &S.key, &made), ERR_OK);
    assert_true(made);
    assert_int_equal(audit_checkpoint(S.app, &t, &S.key, &made), ERR_OK);
    assert_false(made);
}

static void test_export_roundtrip(void **state)
{
    struct tenant_ctx t;
    tamper_tenant(&t);
    /* the database may have a tail not checkpointed yet; an export may not */
    struct audit_verify_result r = verify(S.app, &t);
    assert_int_equal(r.unanchored, TAMPER_ENTRIES - TAMPER_CP_SEQ);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(audit_export(S.app, &t, f), ERR_OK);
    rewind(f);
    char tenant[STORAGE_TENANT_ID_LEN + 1];
    assert_int_equal(audit_verify_export(f, &S.trusted, &r, tenant), ERR_OK);
    assert_int_equal(r.kind, AUDIT_BREAK_UNANCHORED);
    assert_int_equal(r.seq, TAMPER_CP_SEQ + 1);
    fclose(f);
    /* anchored first, as `shiplog audit export` does */
    bool made = false;
    assert_int_equal(audit_checkpoint(S.app, &t, &S.key, &made), ERR_OK);
    assert_true(made);
    f = tmpfile();
    assert_non_null(f);
    assert_int_equal(audit_export(S.app, &t, f), ERR_OK);
    rewind(f);
    assert_int_equal(audit_verify_export(f, &S.trusted, &r, tenant), ERR_OK);
    assert_string_equal(tenant, t.id);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.entries, TAMPER_ENTRIES);
    assert_int_equal(r.checkpoints, 2);
    /* without the key the checkpoint is a break */
    struct audit_trusted_keys none = {.n = 0};
    rewind(f);
    assert_int_equal(audit_verify_export(f, &none, &r, tenant), ERR_OK);
    assert_int_equal(r.kind, AUDIT_BREAK_CHECKPOINT_KEY);
    fclose(f);
}

/* A checkpoint row for t at seq over hash_hex, signed by k, as an INSERT for tamper(). */
static void forged_checkpoint(const struct tenant_ctx *t, const struct sign_key *k, int64_t seq,
                              const char *hash_hex, char *sql, size_t cap)
{
    const char *at = "2024-05-01T13:00:00.000000Z";
    struct buf msg = BUF_INIT(512);
    assert_int_equal(audit_checkpoint_message(str_from_cstr(t->id), seq, str_from_cstr(hash_hex),
                                              str_from_cstr(at), &msg),
                     ERR_OK);
    unsigned char sig[SIGN_SIG_LEN];
    assert_int_equal(sign_ed25519(k, msg.data, msg.len, sig), ERR_OK);
    buf_release(&msg);
    static const char d[] = "0123456789abcdef";
    char pub_hex[2 * SIGN_PUBLIC_LEN + 1], sig_hex[2 * SIGN_SIG_LEN + 1];
    for (size_t i = 0; i < SIGN_PUBLIC_LEN; i++) {
        pub_hex[2 * i] = d[k->pub[i] >> 4];
        pub_hex[2 * i + 1] = d[k->pub[i] & 15];
    }
    pub_hex[2 * SIGN_PUBLIC_LEN] = '\0';
    for (size_t i = 0; i < SIGN_SIG_LEN; i++) {
        sig_hex[2 * i] = d[sig[i] >> 4];
        sig_hex[2 * i + 1] = d[sig[i] & 15];
    }
    sig_hex[2 * SIGN_SIG_LEN] = '\0';
    snprintf(sql, cap,
             "INSERT INTO audit_checkpoints (tenant_id, seq, hash, at, public_key, signature) "
             "VALUES ('TID', %lld, '%s', '%s', '%s', '%s')",
             (long long)seq, hash_hex, at, pub_hex, sig_hex);
}

/* The stored hash of entry seq of t, as hex. */
static void entry_hash(struct storage *s, const struct tenant_ctx *t, int64_t seq,
                       char out[AUDIT_HASH_HEX_LEN + 1])
{
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(s, t, TX_READ, &tx), ERR_OK);
    assert_int_equal(
        tx_prepare(tx, "SELECT hash FROM audit_log WHERE tenant_id = $1 AND seq = $2", &st),
        ERR_OK);
    assert_int_equal(stmt_bind_int(st, 2, seq), ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_true(row);
    struct str h = stmt_col_text(st, 0);
    assert_int_equal(h.len, AUDIT_HASH_HEX_LEN);
    memcpy(out, h.ptr, AUDIT_HASH_HEX_LEN);
    out[AUDIT_HASH_HEX_LEN] = '\0';
    stmt_finish(st);
    storage_rollback(tx);
}

/*
 * Entry 8 changed and a checkpoint of the head forged (by a key nobody
 * trusts, or with a trusted key but a bad signature): the checkpointer must
 * not resume from it, and so finds the change and refuses to sign.
 */
static void test_checkpoint_forged_resume(void **state)
{
    for (int variant = 0; variant < 2; variant++) {
        struct tenant_ctx t;
        tamper_tenant(&t);
        char head[AUDIT_HASH_HEX_LEN + 1], forged[1024];
        entry_hash(S.app, &t, TAMPER_ENTRIES, head);
        forged_checkpoint(&t, &S.stranger, TAMPER_ENTRIES, head, forged, sizeof forged);
        if (variant == 1) { /* the trusted key's name on a stranger's signature */
            char *pub = strstr(forged, "', '") + 4; /* after hash, at: the public key */
            pub = strstr(pub, "', '") + 4;
            static const char d[] = "0123456789abcdef";
            for (size_t i = 0; i < SIGN_PUBLIC_LEN; i++) {
                pub[2 * i] = d[S.key.pub[i] >> 4];
                pub[2 * i + 1] = d[S.key.pub[i] & 15];
            }
        }
        const char *const sql[] = {
            "UPDATE audit_log SET target = 'thing:tampered' WHERE tenant_id = 'TID' AND seq = 8",
            forged,
        };
        struct storage *s = tamper(&t, sql, 2);
        append_n(s, &t, 1); /* the head moves on past the forged checkpoint */
        bool made = true;
        assert_int_equal(audit_checkpoint(s, &t, &S.key, &made), ERR_CONFLICT);
        assert_false(made);
        tamper_done(s);
    }
}

/* A checkpoint row far beyond the head no longer stops checkpointing silently. */
static void test_checkpoint_beyond_head(void **state)
{
    struct tenant_ctx t;
    tamper_tenant(&t);
    char head[AUDIT_HASH_HEX_LEN + 1], forged[1024];
    entry_hash(S.app, &t, TAMPER_ENTRIES, head);
    forged_checkpoint(&t, &S.key, 1000, head, forged, sizeof forged);
    const char *const sql[] = {forged};
    struct storage *s = tamper(&t, sql, 1);
    append_n(s, &t, 1);
    bool made = true;
    assert_int_equal(audit_checkpoint(s, &t, &S.key, &made), ERR_CONFLICT);
    assert_false(made);
    struct audit_verify_result r = verify(s, &t);
    assert_int_equal(r.kind, AUDIT_BREAK_TRUNCATED);
    tamper_done(s);
}

/*
 * A master key rotation: checkpoints by the old key stay verifiable with
 * only the new key trusted, through the transition; the checkpointer resumes
 * from the old key's checkpoint; exports carry the transition.
 */
static void test_key_transition(void **state)
{
    struct storage *owner = S.app;
    if (S.pg) {
        struct storage_options oo = {.database_url = S.owner_url, .pool_size = 2};
        struct buf detail = BUF_INIT(1024);
        assert_int_equal(storage_open_migrator(&oo, &owner, &detail), ERR_OK);
        buf_release(&detail);
    }
    struct tenant_ctx t;
    new_tenant(&t);
    append_n(S.app, &t, 3);
    bool made = false;
    assert_int_equal(audit_checkpoint(S.app, &t, &S.stranger, &made), ERR_OK); /* the old key */
    assert_true(made);
    struct audit_verify_result r = verify(S.app, &t);
    assert_int_equal(r.kind, AUDIT_BREAK_CHECKPOINT_KEY);

    const unsigned char(*old)[SIGN_PUBLIC_LEN] = &S.stranger.pub;
    size_t n = 0;
    if (S.pg) /* the application role may only read transitions */
        assert_int_not_equal(audit_key_transitions_record(S.app, &t, &S.key, old, 1, &n), ERR_OK);
    assert_int_equal(audit_key_transitions_record(owner, &t, &S.key, old, 1, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(audit_key_transitions_record(owner, &t, &S.key, old, 1, &n), ERR_OK);
    assert_int_equal(n, 0); /* idempotent */
    r = verify(S.app, &t);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.checkpoints, 1);
    /* another tenant does not inherit the transition */
    struct tenant_ctx u;
    new_tenant(&u);
    append_n(S.app, &u, 1);
    assert_int_equal(audit_checkpoint(S.app, &u, &S.stranger, &made), ERR_OK);
    r = verify(S.app, &u);
    assert_int_equal(r.kind, AUDIT_BREAK_CHECKPOINT_KEY);

    /* the checkpointer with the new key extends the old key's checkpoint */
    append_n(S.app, &t, 2);
    assert_int_equal(audit_checkpoint(S.app, &t, &S.key, &made), ERR_OK);
    assert_true(made);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(audit_export(S.app, &t, f), ERR_OK);
    rewind(f);
    char first[64];
    assert_non_null(fgets(first, sizeof first, f));
    assert_non_null(strstr(first, "{\"type\":\"key_transition\""));
    rewind(f);
    char tenant[STORAGE_TENANT_ID_LEN + 1];
    assert_int_equal(audit_verify_export(f, &S.trusted, &r, tenant), ERR_OK);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.checkpoints, 2);
    fclose(f);
    if (owner != S.app)
        storage_close(owner);
}

static void test_checkpointer_final_round(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct audit_checkpointer *c = NULL;
    assert_int_equal(audit_checkpointer_start(S.app, &S.key, 3600, &c), ERR_OK);
    append_n(S.app, &t, 3);
    audit_checkpointer_stop(c); /* the final round checkpoints t */
    struct audit_verify_result r = verify(S.app, &t);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.checkpoints, 1);
    bool made = true;
    assert_int_equal(audit_checkpoint(S.app, &t, &S.key, &made), ERR_OK);
    assert_false(made);
}

/* A tenant's transaction cannot read or extend another tenant's chain. */
static void test_isolation(void **state)
{
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    append_n(S.app, &a, 3);
    append_n(S.app, &b, 1);
    struct audit_verify_result r = verify(S.app, &a);
    assert_int_equal(r.entries, 3);
    r = verify(S.app, &b);
    assert_int_equal(r.entries, 1);
    if (S.pg) { /* RLS: a forged statement still sees only its tenant */
        struct tx *tx = NULL;
        assert_int_equal(storage_begin(S.app, &b, TX_READ, &tx), ERR_OK);
        struct stmt *st = NULL;
        bool row = false;
        assert_int_equal(tx_prepare(tx, "SELECT count(*) FROM audit_log WHERE $1 = $1", &st),
                         ERR_OK);
        assert_int_equal(stmt_step(st, &row), ERR_OK);
        assert_int_equal(stmt_col_int(st, 0), 1);
        stmt_finish(st);
        storage_rollback(tx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_verify),
        cmocka_unit_test(test_field_limits),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_concurrent_appends),
        cmocka_unit_test(test_append_only),
        cmocka_unit_test(test_tamper_content),
        cmocka_unit_test(test_tamper_missing),
        cmocka_unit_test(test_tamper_reordered),
        cmocka_unit_test(test_tamper_wrong_link),
        cmocka_unit_test(test_tamper_truncated),
        cmocka_unit_test(test_tamper_rewrite),
        cmocka_unit_test(test_tamper_checkpoint_signature),
        cmocka_unit_test(test_checkpoint_unknown_key),
        cmocka_unit_test(test_checkpoint_refuses_broken_chain),
        cmocka_unit_test(test_export_roundtrip),
        cmocka_unit_test(test_checkpoint_forged_resume),
        cmocka_unit_test(test_checkpoint_beyond_head),
        cmocka_unit_test(test_key_transition),
        cmocka_unit_test(test_checkpointer_final_round),
        cmocka_unit_test(test_isolation),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
