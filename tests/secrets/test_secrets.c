/*
 * Secrets suite (C1–C5, T1–T3): envelope binding, the tenant secret store,
 * key rotation and crypto-shredding, against whichever backend the
 * environment selects.
 *
 *   SHIPLOG_TEST_PG_{OWNER,APP,VAULT_OWNER,VAULT_APP}_URL set (scripts/pgtmp
 *   run): PostgreSQL, with SHIPLOG_TEST_PG_SUPER_URL to copy the database;
 *   otherwise SQLite files in a fresh mkdtemp directory.
 *
 * Tests run in order and share the databases: the setup migrates, every tenant
 * is created under master key A, the rotation test moves everything to B, and
 * the shredding test (last) runs with B.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../common/testdb.h"
#include <libpq-fe.h>

#include "core/config.h"
#include "crypto/keyring.h"
#include "crypto/rand.h"
#include "secrets/secrets.h"

#define KEY_A   "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define KEY_B   "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define COPY_DB "shiplog_secrets_copy"

struct suite {
    bool pg;
    char dir[64];
    char main_path[128], vault_path[128], copy_path[128];
    const char *owner_url, *app_url, *vault_owner_url, *vault_app_url, *super_url;
    struct storage *main_owner, *vault_owner; /* maintenance (operator) connections */
    struct storage *main_app, *vault_app;     /* the server's role */
    struct keyring ring;                      /* the ring tests currently run with */
    struct secrets *sec;                      /* over the app storages */
    struct secrets *maint;                    /* over the owner storages */
};

static struct suite S;

/* ---- helpers -------------------------------------------------------------- */

/* Replaces both contexts with ones using the ring (current, previous). */
static void use_ring(const char *current, const char *previous)
{
    secrets_close(S.sec);
    secrets_close(S.maint);
    keyring_wipe(&S.ring);
    testdb_load_ring(S.pg ? "/tmp" : S.dir, current, previous, &S.ring);
    assert_int_equal(secrets_open(S.main_app, S.vault_app, &S.ring, &S.sec), ERR_OK);
    assert_int_equal(secrets_open(S.main_owner, S.vault_owner, &S.ring, &S.maint), ERR_OK);
}

static void open_all(void)
{
    const char *mp = S.pg ? NULL : S.main_path, *vp = S.pg ? NULL : S.vault_path;
    S.main_owner = testdb_open(STORAGE_SCHEMA_MAIN, S.owner_url, mp, true);
    S.vault_owner = testdb_open(STORAGE_SCHEMA_VAULT, S.vault_owner_url, vp, true);
    S.main_app = testdb_open(STORAGE_SCHEMA_MAIN, S.app_url, mp, false);
    S.vault_app = testdb_open(STORAGE_SCHEMA_VAULT, S.vault_app_url, vp, false);
    assert_non_null(S.main_owner);
    assert_non_null(S.vault_owner);
    assert_non_null(S.main_app);
    assert_non_null(S.vault_app);
}

static void close_all(void)
{
    secrets_close(S.sec);
    secrets_close(S.maint);
    S.sec = S.maint = NULL;
    storage_close(S.main_app);
    storage_close(S.vault_app);
    storage_close(S.main_owner);
    storage_close(S.vault_owner);
    S.main_app = S.vault_app = S.main_owner = S.vault_owner = NULL;
}

static int suite_setup(void **state)
{
    S.owner_url = getenv("SHIPLOG_TEST_PG_OWNER_URL");
    S.app_url = getenv("SHIPLOG_TEST_PG_APP_URL");
    S.vault_owner_url = getenv("SHIPLOG_TEST_PG_VAULT_OWNER_URL");
    S.vault_app_url = getenv("SHIPLOG_TEST_PG_VAULT_APP_URL");
    S.super_url = getenv("SHIPLOG_TEST_PG_SUPER_URL");
    S.pg = S.owner_url && S.owner_url[0] && S.app_url && S.app_url[0] && S.vault_owner_url &&
           S.vault_owner_url[0] && S.vault_app_url && S.vault_app_url[0];
    if (!S.pg) {
        S.owner_url = S.app_url = S.vault_owner_url = S.vault_app_url = NULL;
        snprintf(S.dir, sizeof S.dir, "/tmp/shiplog-secrets-XXXXXX");
        if (!mkdtemp(S.dir))
            return -1;
        snprintf(S.main_path, sizeof S.main_path, "%s/shiplog.db", S.dir);
        snprintf(S.vault_path, sizeof S.vault_path, "%s/keyvault.db", S.dir);
        snprintf(S.copy_path, sizeof S.copy_path, "%s/copy.db", S.dir);
    }
    const char *mp = S.pg ? NULL : S.main_path, *vp = S.pg ? NULL : S.vault_path;
    struct storage *m = testdb_open(STORAGE_SCHEMA_MAIN, S.owner_url, mp, true);
    struct storage *v = testdb_open(STORAGE_SCHEMA_VAULT, S.vault_owner_url, vp, true);
    struct buf detail = BUF_INIT(2048);
    enum err e = m && v ? storage_migrate(m, &detail) : ERR_UNAVAILABLE;
    if (!e)
        e = storage_migrate(v, &detail);
    if (e)
        fprintf(stderr, "# migrate: %s: %s\n", err_name(e), buf_cstr(&detail));
    buf_release(&detail);
    storage_close(m);
    storage_close(v);
    if (e)
        return -1;
    open_all();
    use_ring(KEY_A, NULL);
    printf("# backend: %s\n", S.pg ? "postgresql" : "sqlite");
    return 0;
}

static void rm_sqlite(const char *path)
{
    char p[192];
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

static int suite_teardown(void **state)
{
    close_all();
    keyring_wipe(&S.ring);
    if (!S.pg) {
        rm_sqlite(S.main_path);
        rm_sqlite(S.vault_path);
        rm_sqlite(S.copy_path);
        rmdir(S.dir);
    }
    return 0;
}

static void new_tenant_id(struct tenant_ctx *t)
{
    unsigned char b[16];
    char hex[33];
    assert_int_equal(rand_bytes(b, sizeof b), ERR_OK);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    hex_encode(b, sizeof b, hex);
    snprintf(t->id, sizeof t->id, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
}

/* A tenant row in the main database, and (with_key) its data key. */
static void create_tenant(struct tenant_ctx *t, bool with_key)
{
    new_tenant_id(t);
    if (with_key)
        assert_int_equal(secrets_tenant_key_create(S.sec, t), ERR_OK);
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row;
    char slug[48];
    snprintf(slug, sizeof slug, "t-%.8s", t->id);
    assert_int_equal(storage_begin(S.main_app, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(
        tx_prepare(tx, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, 'T')", &st), ERR_OK);
    assert_int_equal(stmt_bind_text(st, 2, str_from_cstr(slug)), ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    stmt_finish(st);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static void seal(const struct tenant_ctx *t, const char *purpose, const char *rid, const char *pt,
                 struct buf *env)
{
    buf_init(env, SECRETS_MAX_ENVELOPE);
    assert_int_equal(
        secrets_seal(S.sec, t, str_from_cstr(purpose), str_from_cstr(rid), pt, strlen(pt), env),
        ERR_OK);
}

static enum err unseal(struct secrets *sec, const struct tenant_ctx *t, const char *purpose,
                       const char *rid, const struct buf *env, struct buf *out)
{
    buf_init(out, SECRETS_MAX_VALUE);
    return secrets_unseal(sec, t, str_from_cstr(purpose), str_from_cstr(rid), env->data, env->len,
                          out);
}

static bool contains(const void *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static enum err put(const struct tenant_ctx *t, const char *name, const char *purpose,
                    const char *value, char *hint)
{
    struct secrets_actor a = {.type = AUDIT_ACTOR_OPERATOR, .id = "test"};
    return secret_put(S.sec, t, str_from_cstr(name), str_from_cstr(purpose), str_from_cstr(value),
                      &a, hint);
}

struct seen {
    char value[256];
    size_t calls;
};

static enum err capture(void *arg, struct str pt)
{
    struct seen *s = arg;
    assert_true(pt.len < sizeof s->value);
    memcpy(s->value, pt.ptr, pt.len);
    s->value[pt.len] = '\0';
    s->calls++;
    return ERR_OK;
}

/* secret_use on sec, returning the error and (on success) the value. */
static enum err use(struct secrets *sec, const struct tenant_ctx *t, const char *name,
                    struct seen *out)
{
    memset(out, 0, sizeof *out);
    return secret_use(sec, t, str_from_cstr(name), capture, out);
}

struct check_counts {
    size_t ok, unreadable;
};

static enum err count_check(void *arg, const char *name, const char *hint, enum err result)
{
    struct check_counts *c = arg;
    if (result == ERR_OK)
        c->ok++;
    else
        c->unreadable++;
    return ERR_OK;
}

static struct check_counts check_all(struct secrets *sec, const struct tenant_ctx *t)
{
    struct check_counts c = {0};
    assert_int_equal(secret_check(sec, t, STR_NULL, count_check, &c), ERR_OK);
    return c;
}

/* ---- envelopes ---------------------------------------------------------- */

static void test_seal_roundtrip(void **state)
{
    struct tenant_ctx t;
    create_tenant(&t, true);
    struct buf env, env2, out;
    const char *pt = "ghp_roundtripSecretValue0123456789";
    seal(&t, "webhook", "integration:1", pt, &env);
    seal(&t, "webhook", "integration:1", pt, &env2);
    assert_int_equal(env.len, strlen(pt) + ENVELOPE_OVERHEAD);
    assert_int_equal((unsigned char)env.data[0], ENVELOPE_VERSION);
    assert_false(contains(env.data, env.len, pt));
    /* fresh nonce per seal */
    assert_true(env.len == env2.len && memcmp(env.data, env2.data, env.len) != 0);
    assert_int_equal(unseal(S.sec, &t, "webhook", "integration:1", &env, &out), ERR_OK);
    assert_int_equal(out.len, strlen(pt));
    assert_memory_equal(out.data, pt, out.len);
    buf_wipe(&out);
    buf_release(&env);
    buf_release(&env2);
}

static void test_envelope_bound_to_place(void **state)
{
    struct tenant_ctx t, u;
    create_tenant(&t, true);
    create_tenant(&u, true);
    struct buf env, out;
    seal(&t, "webhook", "integration:1", "a-webhook-secret-value", &env);
    /* another record id, another purpose, another tenant: all refuse */
    assert_int_equal(unseal(S.sec, &t, "webhook", "integration:2", &env, &out), ERR_CRYPTO);
    assert_int_equal(out.len, 0);
    buf_wipe(&out);
    assert_int_equal(unseal(S.sec, &t, "oauth", "integration:1", &env, &out), ERR_CRYPTO);
    buf_wipe(&out);
    assert_int_equal(unseal(S.sec, &u, "webhook", "integration:1", &env, &out), ERR_CRYPTO);
    buf_wipe(&out);
    /* a record id that would collide without length prefixes */
    struct buf env2;
    seal(&t, "a", "bc", "collision-check-value", &env2);
    assert_int_equal(unseal(S.sec, &t, "ab", "c", &env2, &out), ERR_CRYPTO);
    buf_wipe(&out);
    /* any flipped byte (key id, nonce, ciphertext, tag) */
    for (size_t i = 1; i < env.len; i += 7) {
        env.data[i] ^= 0x01;
        enum err e = unseal(S.sec, &t, "webhook", "integration:1", &env, &out);
        assert_true(e == ERR_CRYPTO || e == ERR_INVALID);
        buf_wipe(&out);
        env.data[i] ^= 0x01;
    }
    assert_int_equal(unseal(S.sec, &t, "webhook", "integration:1", &env, &out), ERR_OK);
    buf_wipe(&out);
    /* truncated */
    struct buf shortenv = BUF_INIT(64);
    assert_int_equal(buf_append(&shortenv, env.data, ENVELOPE_OVERHEAD - 1), ERR_OK);
    assert_int_equal(unseal(S.sec, &t, "webhook", "integration:1", &shortenv, &out), ERR_INVALID);
    buf_wipe(&out);
    buf_release(&shortenv);
    buf_release(&env);
    buf_release(&env2);
}

static void test_limits(void **state)
{
    struct tenant_ctx t;
    create_tenant(&t, true);
    char purpose[SECRETS_MAX_PURPOSE + 2], rid[SECRETS_MAX_RECORD_ID + 2];
    memset(purpose, 'p', sizeof purpose - 1);
    purpose[sizeof purpose - 1] = '\0';
    memset(rid, 'r', sizeof rid - 1);
    rid[sizeof rid - 1] = '\0';
    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE);
    /* purpose: at the limit, one past, bad characters, empty */
    assert_int_equal(
        secrets_seal(S.sec, &t, str_from(purpose, SECRETS_MAX_PURPOSE), STR_LIT("r"), "v", 1, &env),
        ERR_OK);
    buf_reset(&env);
    assert_int_equal(secrets_seal(S.sec, &t, str_from(purpose, SECRETS_MAX_PURPOSE + 1),
                                  STR_LIT("r"), "v", 1, &env),
                     ERR_LIMIT);
    assert_int_equal(secrets_seal(S.sec, &t, STR_LIT("Web hook"), STR_LIT("r"), "v", 1, &env),
                     ERR_INVALID);
    assert_int_equal(secrets_seal(S.sec, &t, STR_LIT(""), STR_LIT("r"), "v", 1, &env), ERR_INVALID);
    /* record id */
    assert_int_equal(
        secrets_seal(S.sec, &t, STR_LIT("p"), str_from(rid, SECRETS_MAX_RECORD_ID), "v", 1, &env),
        ERR_OK);
    buf_reset(&env);
    assert_int_equal(secrets_seal(S.sec, &t, STR_LIT("p"), str_from(rid, SECRETS_MAX_RECORD_ID + 1),
                                  "v", 1, &env),
                     ERR_LIMIT);
    assert_int_equal(secrets_seal(S.sec, &t, STR_LIT("p"), STR_LIT(""), "v", 1, &env), ERR_INVALID);
    /* value */
    char *big = malloc(SECRETS_MAX_VALUE + 1);
    assert_non_null(big);
    memset(big, 'x', SECRETS_MAX_VALUE + 1);
    assert_int_equal(
        secrets_seal(S.sec, &t, STR_LIT("p"), STR_LIT("r"), big, SECRETS_MAX_VALUE, &env), ERR_OK);
    assert_int_equal(env.len, SECRETS_MAX_ENVELOPE);
    struct buf out;
    buf_init(&out, SECRETS_MAX_VALUE);
    assert_int_equal(secrets_unseal(S.sec, &t, STR_LIT("p"), STR_LIT("r"), env.data, env.len, &out),
                     ERR_OK);
    assert_int_equal(out.len, SECRETS_MAX_VALUE);
    buf_wipe(&out);
    buf_reset(&env);
    assert_int_equal(
        secrets_seal(S.sec, &t, STR_LIT("p"), STR_LIT("r"), big, SECRETS_MAX_VALUE + 1, &env),
        ERR_LIMIT);
    assert_int_equal(secrets_seal(S.sec, &t, STR_LIT("p"), STR_LIT("r"), big, 0, &env),
                     ERR_INVALID);
    /* the store: name at the limit and one past; value one past */
    char name[SECRETS_MAX_NAME + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    name[SECRETS_MAX_NAME + 1] = '\0';
    assert_int_equal(put(&t, name, "p", "value-of-the-long-name", NULL), ERR_LIMIT);
    name[SECRETS_MAX_NAME] = '\0';
    assert_int_equal(put(&t, name, "p", "value-of-the-long-name", NULL), ERR_OK);
    assert_int_equal(put(&t, "bad name", "p", "value", NULL), ERR_INVALID);
    assert_int_equal(put(&t, "n", purpose, "value", NULL), ERR_LIMIT);
    assert_int_equal(put(&t, "n", "p", "", NULL), ERR_INVALID);
    struct secrets_actor a = {.type = AUDIT_ACTOR_OPERATOR};
    assert_int_equal(secret_put(S.sec, &t, STR_LIT("n"), STR_LIT("p"),
                                str_from(big, SECRETS_MAX_VALUE + 1), &a, NULL),
                     ERR_LIMIT);
    free(big);
    buf_release(&env);
}

static void test_no_data_key(void **state)
{
    struct tenant_ctx t;
    create_tenant(&t, false);
    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE);
    assert_int_equal(secrets_seal(S.sec, &t, STR_LIT("p"), STR_LIT("r"), "v", 1, &env),
                     ERR_NOT_FOUND);
    assert_int_equal(put(&t, "n", "p", "value", NULL), ERR_NOT_FOUND);
    /* creating the key is idempotent: one key, however often it is called */
    assert_int_equal(secrets_tenant_key_create(S.sec, &t), ERR_OK);
    assert_int_equal(secrets_tenant_key_create(S.sec, &t), ERR_OK);
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row;
    assert_int_equal(storage_begin(S.vault_app, &t, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_prepare(tx, "SELECT count(*) FROM tenant_keys WHERE tenant_id = $1", &st),
                     ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_int_equal(stmt_col_int(st, 0), 1);
    stmt_finish(st);
    assert_int_equal(storage_commit(tx), ERR_OK);
    buf_release(&env);
}

/* ---- the secret store ----------------------------------------------------- */

static void test_store(void **state)
{
    struct tenant_ctx t;
    create_tenant(&t, true);
    char hint[SECRETS_HINT_SIZE];
    const char *v1 = "xoxb-store-secret-first-WXYZ";
    assert_int_equal(put(&t, "slack.token", "slack", v1, hint), ERR_OK);
    assert_string_equal(hint, "WXYZ");
    struct seen seen;
    assert_int_equal(use(S.sec, &t, "slack.token", &seen), ERR_OK);
    assert_string_equal(seen.value, v1);
    assert_int_equal(seen.calls, 1);
    hint[0] = '\0';
    assert_int_equal(secret_hint(S.sec, &t, STR_LIT("slack.token"), hint), ERR_OK);
    assert_string_equal(hint, "WXYZ");
    /* replace */
    const char *v2 = "xoxb-store-secret-second-ABCD";
    assert_int_equal(put(&t, "slack.token", "slack", v2, hint), ERR_OK);
    assert_int_equal(use(S.sec, &t, "slack.token", &seen), ERR_OK);
    assert_string_equal(seen.value, v2);
    /* short or non-printable values get no hint (C3: a hint must not be the secret) */
    assert_int_equal(put(&t, "short", "p", "elevenchars", hint), ERR_OK);
    assert_string_equal(hint, "");
    assert_int_equal(put(&t, "binary", "p", "twelve bytes\x01", hint), ERR_OK);
    assert_string_equal(hint, "");
    assert_int_equal(put(&t, "twelve", "p", "exactly12chr", hint), ERR_OK);
    assert_string_equal(hint, "2chr");
    /* not found */
    assert_int_equal(use(S.sec, &t, "missing", &seen), ERR_NOT_FOUND);
    assert_int_equal(secret_hint(S.sec, &t, STR_LIT("missing"), hint), ERR_NOT_FOUND);
    struct check_counts c = {0};
    assert_int_equal(secret_check(S.sec, &t, STR_LIT("missing"), count_check, &c), ERR_NOT_FOUND);
    c = check_all(S.sec, &t);
    assert_int_equal(c.ok, 4);
    assert_int_equal(c.unreadable, 0);
    assert_int_equal(use(S.sec, &t, "short", &seen), ERR_OK);
    assert_string_equal(seen.value, "elevenchars");

    /* what is stored: the envelope, never the value */
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(S.main_app, &t, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_prepare(tx,
                                "SELECT envelope, hint FROM tenant_secrets "
                                "WHERE tenant_id = $1 AND name = 'slack.token'",
                                &st),
                     ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_true(row);
    struct str blob = stmt_col_blob(st, 0);
    assert_int_equal(blob.len, strlen(v2) + ENVELOPE_OVERHEAD);
    assert_false(contains(blob.ptr, blob.len, v2));
    assert_false(contains(blob.ptr, blob.len, "store-secret"));
    stmt_finish(st);
    assert_int_equal(storage_commit(tx), ERR_OK);

    /* an envelope copied into another row does not open there */
    assert_int_equal(storage_begin(S.main_app, &t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_exec(tx, "UPDATE tenant_secrets SET envelope = (SELECT envelope FROM "
                                 "tenant_secrets WHERE tenant_id = $1 AND name = 'slack.token') "
                                 "WHERE tenant_id = $1 AND name = 'twelve'"),
                     ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
    assert_int_equal(use(S.sec, &t, "twelve", &seen), ERR_CRYPTO);
    assert_int_equal(seen.calls, 0);
    c = check_all(S.sec, &t);
    assert_int_equal(c.ok, 3);
    assert_int_equal(c.unreadable, 1);
}

static enum err fail_fn(void *arg, struct str pt)
{
    return ERR_UNPROCESSABLE;
}

static void test_store_callback_error(void **state)
{
    struct tenant_ctx t;
    create_tenant(&t, true);
    assert_int_equal(put(&t, "k", "p", "callback-error-value", NULL), ERR_OK);
    assert_int_equal(secret_use(S.sec, &t, STR_LIT("k"), fail_fn, NULL), ERR_UNPROCESSABLE);
}

/* ---- isolation ------------------------------------------------------------ */

static int64_t count_in(struct storage *st_, const struct tenant_ctx *t, const char *sql)
{
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(st_, t, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_prepare(tx, sql, &st), ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_true(row);
    int64_t n = stmt_col_int(st, 0);
    stmt_finish(st);
    assert_int_equal(storage_commit(tx), ERR_OK);
    return n;
}

static void test_tenant_isolation(void **state)
{
    struct tenant_ctx a, b;
    create_tenant(&a, true);
    create_tenant(&b, true);
    assert_int_equal(put(&b, "b.secret", "p", "tenant-b-secret-value", NULL), ERR_OK);
    /* by construction (both backends): A's context cannot open B's envelope */
    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE), out;
    seal(&b, "p", "r", "tenant-b-sealed-value", &env);
    assert_int_equal(unseal(S.sec, &a, "p", "r", &env, &out), ERR_CRYPTO);
    buf_wipe(&out);
    buf_release(&env);
    struct seen seen;
    assert_int_equal(use(S.sec, &a, "b.secret", &seen), ERR_NOT_FOUND);

    /* a wrapped data key moved to another tenant's vault row does not open there */
    struct tenant_ctx c, d;
    create_tenant(&c, true);
    create_tenant(&d, true);
    assert_int_equal(put(&c, "c.secret", "p", "tenant-c-secret-value", NULL), ERR_OK);
    struct tx *mv = NULL;
    struct stmt *ms = NULL;
    bool mrow;
    assert_int_equal(storage_begin(S.vault_owner, &c, TX_WRITE, &mv), ERR_OK);
    assert_int_equal(tx_prepare(mv,
                                "UPDATE tenant_keys SET wrapped = (SELECT wrapped FROM "
                                "tenant_keys WHERE tenant_id = $2) WHERE tenant_id = $1",
                                &ms),
                     ERR_OK);
    assert_int_equal(stmt_bind_text(ms, 2, str_from_cstr(d.id)), ERR_OK);
    assert_int_equal(stmt_step(ms, &mrow), ERR_OK);
    assert_int_equal(stmt_changes(ms), 1);
    stmt_finish(ms);
    assert_int_equal(storage_commit(mv), ERR_OK);
    assert_int_equal(use(S.sec, &c, "c.secret", &seen), ERR_CRYPTO);
    assert_int_equal(seen.calls, 0);
    /* the damaged key would (rightly) fail rotation later: drop it — as the
     * operator; the server's role may not delete data keys (PostgreSQL) */
    if (S.pg)
        assert_int_equal(secrets_tenant_key_discard(S.sec, &c), ERR_FORBIDDEN);
    assert_int_equal(secrets_tenant_key_discard(S.maint, &c), ERR_OK);
    assert_int_equal(
        count_in(S.vault_app, &c, "SELECT count(*) FROM tenant_keys WHERE tenant_id = $1"), 0);

    if (!S.pg) {
        printf("# SQLite: the database cannot enforce isolation; forged statements are "
               "covered by the storage suite\n");
        return;
    }
    /* PostgreSQL: the app role, even with a forged statement, sees only its own rows */
    const char *forged_keys = "SELECT count(*) FROM tenant_keys WHERE tenant_id = $1::uuid "
                              "OR tenant_id <> $1::uuid";
    const char *forged_secrets = "SELECT count(*) FROM tenant_secrets WHERE tenant_id = $1::uuid "
                                 "OR tenant_id <> $1::uuid";
    assert_int_equal(count_in(S.vault_app, &a, forged_keys), 1);
    assert_int_equal(count_in(S.main_app, &a, forged_secrets), 0);
    assert_int_equal(count_in(S.main_app, &b, forged_secrets), 1);
    /* while the maintenance role sees every tenant's keys */
    assert_true(count_in(S.vault_owner, &a, forged_keys) > 1);
    /* and cannot write a row for another tenant */
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row;
    assert_int_equal(storage_begin(S.vault_app, &a, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_prepare(tx,
                                "INSERT INTO tenant_keys (tenant_id, dek_id, master_key_id, "
                                "wrapped) VALUES ($2::uuid, '0123456789abcdef', "
                                "'0123456789abcdef', '\\x00') RETURNING $1::text",
                                &st),
                     ERR_OK);
    assert_int_equal(stmt_bind_text(st, 2, str_from_cstr(b.id)), ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_FORBIDDEN);
    stmt_finish(st);
    storage_rollback(tx);
}

/* ---- rotation ------------------------------------------------------------- */

static void test_rotation(void **state)
{
    struct tenant_ctx r1, r2;
    create_tenant(&r1, true);
    create_tenant(&r2, true);
    assert_int_equal(put(&r1, "one", "webhook", "rotation-secret-one-value", NULL), ERR_OK);
    assert_int_equal(put(&r2, "two", "oauth", "rotation-secret-two-value", NULL), ERR_OK);
    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE), out;
    seal(&r1, "sso", "rec-1", "rotation-sealed-value", &env);

    /* B current, A previous: everything still opens, nothing is ready yet */
    use_ring(KEY_B, KEY_A);
    struct secrets_status stt;
    assert_int_equal(secrets_status(S.maint, &stt, NULL, NULL), ERR_OK);
    assert_false(stt.ready);
    assert_true(stt.tenants_stale >= 2);
    /* the app role cannot enumerate tenants */
    struct secrets_rotate_result res;
    assert_int_equal(secrets_rotate(S.sec, NULL, &res), ERR_FORBIDDEN);

    assert_int_equal(secrets_rotate(S.maint, NULL, &res), ERR_OK);
    assert_true(res.rewrapped >= 2);
    assert_true(res.tenants >= res.rewrapped);
    assert_int_equal(res.current, 0);
    assert_int_equal(res.unknown_key, 0);
    assert_int_equal(res.failed, 0);
    uint64_t first = res.rewrapped;
    /* idempotent */
    assert_int_equal(secrets_rotate(S.maint, NULL, &res), ERR_OK);
    assert_int_equal(res.rewrapped, 0);
    assert_int_equal(res.current, first);
    assert_int_equal(secrets_status(S.maint, &stt, NULL, NULL), ERR_OK);
    assert_true(stt.ready);
    assert_int_equal(stt.n_keys, 1);
    assert_true(stt.keys[0].current);
    assert_int_equal(stt.keys[0].data_keys, first);

    /* B alone opens everything */
    use_ring(KEY_B, NULL);
    struct seen seen;
    assert_int_equal(use(S.sec, &r1, "one", &seen), ERR_OK);
    assert_string_equal(seen.value, "rotation-secret-one-value");
    assert_int_equal(use(S.sec, &r2, "two", &seen), ERR_OK);
    assert_string_equal(seen.value, "rotation-secret-two-value");
    assert_int_equal(unseal(S.sec, &r1, "sso", "rec-1", &env, &out), ERR_OK);
    buf_wipe(&out);

    /* A alone no longer opens the re-wrapped keys */
    use_ring(KEY_A, NULL);
    assert_int_equal(use(S.sec, &r1, "one", &seen), ERR_CRYPTO);
    assert_int_equal(unseal(S.sec, &r1, "sso", "rec-1", &env, &out), ERR_CRYPTO);
    buf_wipe(&out);
    assert_int_equal(secrets_status(S.maint, &stt, NULL, NULL), ERR_OK);
    assert_false(stt.ready);
    assert_false(stt.keys[0].in_ring);
    /* nor can it "rotate" keys it cannot unwrap: they are left alone and reported */
    assert_int_equal(secrets_rotate(S.maint, NULL, &res), ERR_CRYPTO);
    assert_int_equal(res.rewrapped, 0);
    assert_int_equal(res.unknown_key, first);

    use_ring(KEY_B, NULL);
    assert_int_equal(use(S.sec, &r2, "two", &seen), ERR_OK);
    buf_release(&env);
}

/* ---- crypto-shredding ------------------------------------------------------ */

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return; /* e.g. no -wal file */
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(out >= 0);
    char b[8192];
    ssize_t n;
    while ((n = read(in, b, sizeof b)) > 0)
        assert_int_equal(write(out, b, (size_t)n), n);
    assert_int_equal(n, 0);
    close(in);
    close(out);
}

static void pg_exec(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "# %s: %s\n", sql, PQerrorMessage(c));
    assert_true(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
    PQclear(r);
    PQfinish(c);
}

/* A URL like base with the database name replaced by db. */
static void url_with_db(const char *base, const char *db, char *out, size_t cap)
{
    const char *slash = strrchr(base, '/');
    assert_non_null(slash);
    snprintf(out, cap, "%.*s/%s", (int)(slash - base), base, db);
}

/* Backs up the main database (only; the vault is kept apart) into a copy. */
static struct storage *backup_main_db(void)
{
    if (!S.pg) {
        /* no write is in flight: the file plus its WAL is a consistent copy */
        char wal_from[160], wal_to[160];
        snprintf(wal_from, sizeof wal_from, "%s-wal", S.main_path);
        snprintf(wal_to, sizeof wal_to, "%s-wal", S.copy_path);
        rm_sqlite(S.copy_path);
        copy_file(S.main_path, S.copy_path);
        copy_file(wal_from, wal_to);
        return testdb_open(STORAGE_SCHEMA_MAIN, NULL, S.copy_path, false);
    }
    assert_non_null(S.super_url);
    /* CREATE DATABASE ... TEMPLATE needs the template without connections */
    secrets_close(S.sec);
    secrets_close(S.maint);
    S.sec = S.maint = NULL;
    storage_close(S.main_app);
    storage_close(S.main_owner);
    S.main_app = S.main_owner = NULL;
    pg_exec(S.super_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = 'shiplog' AND pid <> pg_backend_pid()");
    pg_exec(S.super_url, "DROP DATABASE IF EXISTS " COPY_DB);
    pg_exec(S.super_url, "CREATE DATABASE " COPY_DB " TEMPLATE shiplog OWNER shiplog_owner");
    S.main_owner = testdb_open(STORAGE_SCHEMA_MAIN, S.owner_url, NULL, true);
    S.main_app = testdb_open(STORAGE_SCHEMA_MAIN, S.app_url, NULL, false);
    assert_non_null(S.main_owner);
    assert_non_null(S.main_app);
    assert_int_equal(secrets_open(S.main_app, S.vault_app, &S.ring, &S.sec), ERR_OK);
    assert_int_equal(secrets_open(S.main_owner, S.vault_owner, &S.ring, &S.maint), ERR_OK);
    char url[512];
    url_with_db(S.app_url, COPY_DB, url, sizeof url);
    return testdb_open(STORAGE_SCHEMA_MAIN, url, NULL, false);
}

static void test_shred(void **state)
{
    /* a full ring from here on: shredding must hold even with every master key */
    use_ring(KEY_B, KEY_A);
    struct tenant_ctx x, y;
    create_tenant(&x, true);
    create_tenant(&y, true);
    assert_int_equal(put(&x, "x.one", "webhook", "shred-me-secret-one", NULL), ERR_OK);
    assert_int_equal(put(&x, "x.two", "oauth", "shred-me-secret-two", NULL), ERR_OK);
    assert_int_equal(put(&y, "y.one", "webhook", "keep-me-secret-one", NULL), ERR_OK);

    struct storage *copy = backup_main_db();
    assert_non_null(copy);
    struct secrets *from_copy = NULL;
    assert_int_equal(secrets_open(copy, S.vault_app, &S.ring, &from_copy), ERR_OK);
    struct check_counts c = check_all(from_copy, &x);
    assert_int_equal(c.ok, 2); /* the backup is readable before the shred */

    struct secrets_actor a = {.type = AUDIT_ACTOR_OPERATOR, .id = "test"};
    uint64_t n = 0;
    assert_int_equal(secrets_shred_tenant(S.maint, &x, &a, &n), ERR_OK);
    assert_int_equal(n, 1);

    /* the backup: every envelope of x is unreadable, y's still open */
    c = check_all(from_copy, &x);
    assert_int_equal(c.ok, 0);
    assert_int_equal(c.unreadable, 2);
    c = check_all(from_copy, &y);
    assert_int_equal(c.ok, 1);
    assert_int_equal(c.unreadable, 0);
    struct seen seen;
    assert_int_equal(use(from_copy, &x, "x.one", &seen), ERR_CRYPTO);
    assert_int_equal(seen.calls, 0);
    assert_int_equal(use(from_copy, &y, "y.one", &seen), ERR_OK);
    assert_string_equal(seen.value, "keep-me-secret-one");
    /* the live database alike; and x can seal nothing any more */
    c = check_all(S.sec, &x);
    assert_int_equal(c.unreadable, 2);
    assert_int_equal(put(&x, "x.three", "p", "after-the-shred-value", NULL), ERR_NOT_FOUND);
    /* the vault holds nothing of x */
    assert_int_equal(
        count_in(S.vault_owner, &x, "SELECT count(*) FROM tenant_keys WHERE tenant_id = $1"), 0);
    /* idempotent */
    assert_int_equal(secrets_shred_tenant(S.maint, &x, &a, &n), ERR_OK);
    assert_int_equal(n, 0);
    /* status: x has no key, and that does not block removing previous keys */
    struct secrets_status stt;
    assert_int_equal(secrets_status(S.maint, &stt, NULL, NULL), ERR_OK);
    assert_true(stt.tenants_without_key >= 1);

    secrets_close(from_copy);
    storage_close(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_roundtrip),
        cmocka_unit_test(test_envelope_bound_to_place),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_no_data_key),
        cmocka_unit_test(test_store),
        cmocka_unit_test(test_store_callback_error),
        cmocka_unit_test(test_tenant_isolation),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_shred),
    };
    return cmocka_run_group_tests_name("secrets", tests, suite_setup, suite_teardown);
}
