/*
 * Accounts suite (A1–A6, L1, T1–T4): sign-up, verification, sign-in with
 * lockout and equal timing, sessions, password reset, magic links, tenant
 * isolation and re-hashing after a master key rotation, against whichever
 * backend the environment selects:
 *
 *   SHIPLOG_TEST_PG_{OWNER,APP,VAULT_OWNER,VAULT_APP}_URL set (scripts/pgtmp
 *   run): PostgreSQL; otherwise SQLite files in a fresh mkdtemp directory.
 *
 * bcrypt runs at cost 10. Time is the suite's fake clock (accounts_set_clock),
 * moved forward by tests; it never goes back, so tests stay independent. The
 * floor of the reset and magic-link requests is 0 except in the tests that
 * measure it (accounts_set_request_floor_ms). The suite's accounts cache
 * session lookups for SUITE_CACHE_MS, as a server does, so every test of a
 * revocation or verification also checks that it reaches the cache; the
 * session-cache tests at the end open accounts of their own.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../common/testdb.h"

#include "accounts/accounts.h"
#include "auth/tokens.h"
#include "core/config.h"
#include "crypto/hash.h"
#include "crypto/kdf.h"
#include "crypto/keyring.h"
#include "crypto/rand.h"
#include "secrets/secrets.h"

#define KEY_A          "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define KEY_B          "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define PASSWORD       "correct horse battery staple"
#define COST           10
#define RUNS           30
#define SUITE_CACHE_MS 1000 /* the server's default SHIPLOG_SESSION_CACHE_MS */

struct suite {
    bool pg;
    char dir[64];
    char main_path[128], vault_path[128];
    const char *owner_url, *app_url, *vault_owner_url, *vault_app_url;
    struct storage *main_app, *vault_app;
    struct keyring ring;
    struct secrets *sec;
    struct accounts *acc;
    int64_t now;
    unsigned seq; /* makes addresses unique */
};

static struct suite S;

static int64_t fake_clock(void *arg)
{
    (void)arg;
    return S.now;
}

/* Each test signs in from its own IP, so one test's failures never lock another out. */
static char client_ip[32] = "192.0.2.1";
static struct accounts_client CLIENT = {
    .ip = client_ip, .user_agent = "test-agent/1.0", .request_id = "req-1"};

static void next_ip(void)
{
    static unsigned n = 1;
    snprintf(client_ip, sizeof client_ip, "192.0.2.%u", ++n);
}

/* ---- set-up --------------------------------------------------------------- */

/* Replaces the contexts with ones over the ring (current, previous). */
static void use_ring(const char *current, const char *previous)
{
    accounts_close(S.acc);
    secrets_close(S.sec);
    keyring_wipe(&S.ring);
    testdb_load_ring(S.pg ? "/tmp" : S.dir, current, previous, &S.ring);
    assert_int_equal(secrets_open(S.main_app, S.vault_app, &S.ring, &S.sec), ERR_OK);
    struct accounts_options o = {.db = S.main_app,
                                 .secrets = S.sec,
                                 .ring = &S.ring,
                                 .bcrypt_cost = COST,
                                 .session_cache_ms = SUITE_CACHE_MS};
    assert_int_equal(accounts_open(&o, &S.acc), ERR_OK);
    accounts_set_clock(S.acc, fake_clock, NULL);
    accounts_set_request_floor_ms(S.acc, 0);
}

static int suite_setup(void **state)
{
    (void)state;
    next_ip();
    S.owner_url = getenv("SHIPLOG_TEST_PG_OWNER_URL");
    S.app_url = getenv("SHIPLOG_TEST_PG_APP_URL");
    S.vault_owner_url = getenv("SHIPLOG_TEST_PG_VAULT_OWNER_URL");
    S.vault_app_url = getenv("SHIPLOG_TEST_PG_VAULT_APP_URL");
    S.pg = S.owner_url && S.owner_url[0] && S.app_url && S.app_url[0] && S.vault_owner_url &&
           S.vault_owner_url[0] && S.vault_app_url && S.vault_app_url[0];
    if (!S.pg) {
        S.owner_url = S.app_url = S.vault_owner_url = S.vault_app_url = NULL;
        snprintf(S.dir, sizeof S.dir, "/tmp/shiplog-accounts-XXXXXX");
        if (!mkdtemp(S.dir))
            return -1;
        snprintf(S.main_path, sizeof S.main_path, "%s/shiplog.db", S.dir);
        snprintf(S.vault_path, sizeof S.vault_path, "%s/keyvault.db", S.dir);
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
    S.main_app = testdb_open(STORAGE_SCHEMA_MAIN, S.app_url, mp, false);
    S.vault_app = testdb_open(STORAGE_SCHEMA_VAULT, S.vault_app_url, vp, false);
    if (!S.main_app || !S.vault_app)
        return -1;
    S.now = 1700000000;
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
    (void)state;
    next_ip();
    accounts_close(S.acc);
    secrets_close(S.sec);
    storage_close(S.main_app);
    storage_close(S.vault_app);
    keyring_wipe(&S.ring);
    if (!S.pg) {
        rm_sqlite(S.main_path);
        rm_sqlite(S.vault_path);
        rmdir(S.dir);
    }
    return 0;
}

/* ---- helpers -------------------------------------------------------------- */

static void new_email(char *out, size_t cap)
{
    snprintf(out, cap, "User%u.%ld@Example.COM", ++S.seq, (long)getpid());
}

static struct str s_(const char *s)
{
    return str_from_cstr(s);
}

/* A signed-up account; verified when asked. */
static void signup(char *email, size_t cap, bool verified, struct accounts_signup_result *r)
{
    new_email(email, cap);
    assert_int_equal(accounts_signup(S.acc, s_(email), s_(PASSWORD), s_("Acme Inc."), &CLIENT, r),
                     ERR_OK);
    if (verified)
        assert_int_equal(accounts_verify_email(S.acc, s_(r->verify_token), &CLIENT, NULL), ERR_OK);
}

static enum err signin(const char *email, const char *pw, char *sid, struct accounts_session *s)
{
    return accounts_signin(S.acc, s_(email), s_(pw), &CLIENT, sid, s);
}

/* One integer from a tenant-bound query (with $2 bound to arg when given). */
static void exec_in(const struct tenant_ctx *t, const char *sql, const char *const *args, int n);

static int64_t query_int(const struct tenant_ctx *t, const char *sql, const char *arg)
{
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(S.main_app, t, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_prepare(tx, sql, &st), ERR_OK);
    if (arg)
        assert_int_equal(stmt_bind_text(st, 2, s_(arg)), ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_true(row);
    int64_t v = stmt_col_int(st, 0);
    stmt_finish(st);
    storage_rollback(tx);
    return v;
}

/* One text value (into out) from a tenant-bound query with $2 bound to arg. */
static void query_text(const struct tenant_ctx *t, const char *sql, const char *arg, char *out,
                       size_t cap)
{
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(S.main_app, t, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_prepare(tx, sql, &st), ERR_OK);
    assert_int_equal(stmt_bind_text(st, 2, s_(arg)), ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_true(row);
    struct str v = stmt_col_text(st, 0);
    assert_true(v.len < cap);
    memcpy(out, v.ptr, v.len);
    out[v.len] = '\0';
    stmt_finish(st);
    storage_rollback(tx);
}

static int64_t audit_count(const struct tenant_ctx *t, const char *action)
{
    return query_int(t, "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2",
                     action);
}

static void fill(char *buf, size_t n, char ch)
{
    memset(buf, ch, n);
    buf[n] = '\0';
}

/* ---- sign-up and verification ----------------------------------------------- */

static void test_signup(void **state)
{
    (void)state;
    next_ip();
    char email[96];
    struct accounts_signup_result r, r2;
    signup(email, sizeof email, false, &r);
    assert_string_equal(r.slug, "acme-inc");
    assert_int_equal(strlen(r.verify_token), ACCOUNTS_SECRET_LEN);
    assert_int_equal(audit_count(&r.user.tenant, "tenant.created"), 1);
    assert_int_equal(audit_count(&r.user.tenant, "auth.signup"), 1);
    assert_int_equal(query_int(&r.user.tenant,
                               "SELECT count(*) FROM users WHERE tenant_id = $1 AND id = $2 AND "
                               "role = 'super_admin' AND email_verified_at IS NULL",
                               r.user.user_id),
                     1);
    /* stored lower-case */
    char lower[ACCOUNTS_MAX_EMAIL + 1];
    assert_int_equal(accounts_email_normalize(s_(email), lower), ERR_OK);
    assert_int_equal(query_int(&r.user.tenant,
                               "SELECT count(*) FROM users WHERE tenant_id = $1 AND email = $2",
                               lower),
                     1);

    /* the same organization name again: a unique slug */
    char email2[96];
    signup(email2, sizeof email2, false, &r2);
    assert_string_not_equal(r2.slug, r.slug);
    assert_true(strncmp(r2.slug, "acme-inc-", 9) == 0);
    assert_string_not_equal(r2.user.tenant.id, r.user.tenant.id);

    /* the same address (any case): one account per address in the deployment */
    char upper[ACCOUNTS_MAX_EMAIL + 1];
    snprintf(upper, sizeof upper, "%s", lower);
    upper[0] = 'U';
    assert_int_equal(accounts_signup(S.acc, s_(upper), s_(PASSWORD), s_("Other"), &CLIENT, &r2),
                     ERR_CONFLICT);

    /* refusals */
    assert_int_equal(accounts_signup(S.acc, s_("no-at-sign"), s_(PASSWORD), s_("X"), &CLIENT, &r2),
                     ERR_INVALID);
    assert_int_equal(accounts_signup(S.acc, s_("a@b.c"), s_("short"), s_("X"), &CLIENT, &r2),
                     ERR_INVALID);
    assert_string_equal(r2.reason, "too short");
    assert_int_equal(accounts_signup(S.acc, s_("a@b.c"), s_(PASSWORD), s_(""), &CLIENT, &r2),
                     ERR_INVALID);
    assert_int_equal(accounts_signup(S.acc, s_("a@b.c"), s_(PASSWORD), s_("a\nb"), &CLIENT, &r2),
                     ERR_INVALID);
}

static void test_signup_limits(void **state)
{
    (void)state;
    next_ip();
    struct accounts_signup_result r;
    /* e-mail: ACCOUNTS_MAX_EMAIL bytes accepted, one more refused */
    char email[ACCOUNTS_MAX_EMAIL + 2];
    const char *dom = "@limit.example.org";
    size_t local = ACCOUNTS_MAX_EMAIL - strlen(dom);
    int k = snprintf(email, sizeof email, "u%u-%ld", ++S.seq, (long)getpid());
    memset(email + k, 'x', local - (size_t)k);
    memcpy(email + local, dom, strlen(dom) + 1);
    assert_int_equal(strlen(email), ACCOUNTS_MAX_EMAIL);
    assert_int_equal(accounts_signup(S.acc, s_(email), s_(PASSWORD), s_("Limits"), &CLIENT, &r),
                     ERR_OK);
    char longer[ACCOUNTS_MAX_EMAIL + 2];
    longer[0] = 'y';
    memcpy(longer + 1, email, strlen(email) + 1);
    assert_int_equal(strlen(longer), ACCOUNTS_MAX_EMAIL + 1);
    assert_int_equal(accounts_signup(S.acc, s_(longer), s_(PASSWORD), s_("Limits"), &CLIENT, &r),
                     ERR_LIMIT);
    char sid[ACCOUNTS_SECRET_LEN + 1];
    assert_int_equal(signin(longer, PASSWORD, sid, NULL), ERR_LIMIT);

    /* organization: ACCOUNTS_MAX_ORG_NAME bytes accepted, one more refused */
    char org[ACCOUNTS_MAX_ORG_NAME + 2], e2[96];
    fill(org, ACCOUNTS_MAX_ORG_NAME, 'o');
    new_email(e2, sizeof e2);
    assert_int_equal(accounts_signup(S.acc, s_(e2), s_(PASSWORD), s_(org), &CLIENT, &r), ERR_OK);
    assert_true(strlen(r.slug) <= ACCOUNTS_MAX_SLUG);
    fill(org, ACCOUNTS_MAX_ORG_NAME + 1, 'o');
    new_email(e2, sizeof e2);
    assert_int_equal(accounts_signup(S.acc, s_(e2), s_(PASSWORD), s_(org), &CLIENT, &r), ERR_LIMIT);

    /* client IP: ACCOUNTS_MAX_CLIENT_IP bytes, one more */
    char ip[ACCOUNTS_MAX_CLIENT_IP + 2];
    fill(ip, ACCOUNTS_MAX_CLIENT_IP + 1, '1');
    struct accounts_client c = {.ip = ip};
    new_email(e2, sizeof e2);
    assert_int_equal(accounts_signup(S.acc, s_(e2), s_(PASSWORD), s_("X"), &c, &r), ERR_LIMIT);
    ip[ACCOUNTS_MAX_CLIENT_IP] = '\0';
    assert_int_equal(accounts_signup(S.acc, s_(e2), s_(PASSWORD), s_("X"), &c, &r), ERR_OK);

    /* token text: ACCOUNTS_MAX_SECRET_TEXT bytes is only not found, one more is a limit */
    char tok[ACCOUNTS_MAX_SECRET_TEXT + 2];
    fill(tok, ACCOUNTS_MAX_SECRET_TEXT, 'A');
    assert_int_equal(accounts_verify_email(S.acc, s_(tok), &CLIENT, NULL), ERR_NOT_FOUND);
    fill(tok, ACCOUNTS_MAX_SECRET_TEXT + 1, 'A');
    assert_int_equal(accounts_verify_email(S.acc, s_(tok), &CLIENT, NULL), ERR_LIMIT);
}

static void test_slug_of(void **state)
{
    (void)state;
    next_ip();
    char slug[ACCOUNTS_MAX_SLUG + 1];
    accounts_slug_of(s_("  Hello,  World! 2024 "), slug);
    assert_string_equal(slug, "hello-world-2024");
    accounts_slug_of(s_("日本"), slug);
    assert_string_equal(slug, "org");
}

static void test_verify_email(void **state)
{
    (void)state;
    next_ip();
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    struct accounts_session s;
    signup(email, sizeof email, false, &r);

    /* unverified: sign-in works, the session says so (A2) */
    assert_int_equal(signin(email, PASSWORD, sid, &s), ERR_OK);
    assert_false(s.email_verified);

    /* a tampered tenant part finds nothing */
    char forged[ACCOUNTS_SECRET_LEN + 1];
    memcpy(forged, r.verify_token, sizeof forged);
    forged[0] = forged[0] == 'a' ? 'b' : 'a';
    assert_int_equal(accounts_verify_email(S.acc, s_(forged), &CLIENT, NULL), ERR_NOT_FOUND);
    assert_int_equal(accounts_verify_email(S.acc, s_("garbage"), &CLIENT, NULL), ERR_NOT_FOUND);

    struct accounts_user_ref u;
    assert_int_equal(accounts_verify_email(S.acc, s_(r.verify_token), &CLIENT, &u), ERR_OK);
    assert_string_equal(u.user_id, r.user.user_id);
    /* replay refused */
    assert_int_equal(accounts_verify_email(S.acc, s_(r.verify_token), &CLIENT, NULL),
                     ERR_NOT_FOUND);
    /* the open session is verified at once */
    assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &s), ERR_OK);
    assert_true(s.email_verified);
    assert_int_equal(audit_count(&r.user.tenant, "auth.email_verified"), 1);

    /* expired */
    signup(email, sizeof email, false, &r);
    S.now += ACCOUNTS_VERIFY_TTL_S;
    assert_int_equal(accounts_verify_email(S.acc, s_(r.verify_token), &CLIENT, NULL),
                     ERR_NOT_FOUND);
}

/* ---- sign-in and lockout ----------------------------------------------------------- */

static void test_signin(void **state)
{
    (void)state;
    next_ip();
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    struct accounts_session s;
    signup(email, sizeof email, true, &r);
    assert_int_equal(signin(email, PASSWORD, sid, &s), ERR_OK);
    assert_int_equal(strlen(sid), ACCOUNTS_SECRET_LEN);
    assert_string_equal(s.role, "super_admin");
    assert_true(s.email_verified);
    assert_string_equal(s.user.user_id, r.user.user_id);
    /* the id is stored only as its hash */
    assert_int_equal(
        query_int(&r.user.tenant,
                  "SELECT count(*) FROM sessions WHERE tenant_id = $1 AND id_hash = $2",
                  sid + STORAGE_TENANT_ID_LEN + 1),
        0);
    assert_int_equal(
        query_int(&r.user.tenant,
                  "SELECT count(*) FROM sessions WHERE tenant_id = $1 AND id_hash = $2", s.id_hash),
        1);

    assert_int_equal(signin(email, "wrong password 123", sid, NULL), ERR_UNAUTHENTICATED);
    assert_string_equal(sid, "");
    assert_int_equal(signin("nobody@example.com", PASSWORD, sid, NULL), ERR_UNAUTHENTICATED);
    assert_int_equal(signin("not an address", PASSWORD, sid, NULL), ERR_UNAUTHENTICATED);
    assert_int_equal(audit_count(&r.user.tenant, "auth.signin"), 2);
}

static void test_lockout(void **state)
{
    (void)state;
    next_ip();
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    signup(email, sizeof email, true, &r);
    for (int i = 0; i < ACCOUNTS_LOCK_THRESHOLD; i++)
        assert_int_equal(signin(email, "wrong password 123", sid, NULL), ERR_UNAUTHENTICATED);
    assert_int_equal(audit_count(&r.user.tenant, "auth.lockout"), 1);
    /* locked: the right password is refused the same way */
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_UNAUTHENTICATED);
    S.now += ACCOUNTS_LOCK_BASE_S - 1;
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_UNAUTHENTICATED);
    S.now += 1;
    /* one more failure after the first lock: twice as long */
    assert_int_equal(signin(email, "wrong password 123", sid, NULL), ERR_UNAUTHENTICATED);
    S.now += 2 * ACCOUNTS_LOCK_BASE_S - 1;
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_UNAUTHENTICATED);
    S.now += 1;
    assert_int_equal(signin(email, "wrong password 123", sid, NULL), ERR_UNAUTHENTICATED);
    S.now += 4 * ACCOUNTS_LOCK_BASE_S - 1;
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_UNAUTHENTICATED);
    S.now += 1;
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_OK);
    assert_int_equal(query_int(&r.user.tenant,
                               "SELECT failed_count FROM users WHERE tenant_id = $1 AND id = $2",
                               r.user.user_id),
                     0);
    assert_int_equal(audit_count(&r.user.tenant, "auth.lockout"), 3);

    /* the cap */
    for (int i = 0; i < ACCOUNTS_LOCK_THRESHOLD + 10; i++) {
        S.now += ACCOUNTS_LOCK_MAX_S; /* past any lock */
        assert_int_equal(signin(email, "wrong password 123", sid, NULL), ERR_UNAUTHENTICATED);
    }
    assert_int_equal(query_int(&r.user.tenant,
                               "SELECT locked_until FROM users WHERE tenant_id = $1 AND id = $2",
                               r.user.user_id),
                     S.now + ACCOUNTS_LOCK_MAX_S);
    S.now += ACCOUNTS_LOCK_MAX_S;
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_OK);
}

static void test_lockout_ip(void **state)
{
    (void)state;
    next_ip();
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    signup(email, sizeof email, true, &r);
    struct accounts_client c = {.ip = "198.51.100.77"};
    /* unknown addresses from one IP: the IP is locked, for known ones too */
    for (int i = 0; i < ACCOUNTS_IP_LOCK_THRESHOLD; i++)
        assert_int_equal(
            accounts_signin(S.acc, s_("ghost@example.com"), s_(PASSWORD), &c, sid, NULL),
            ERR_UNAUTHENTICATED);
    assert_int_equal(accounts_signin(S.acc, s_(email), s_(PASSWORD), &c, sid, NULL),
                     ERR_UNAUTHENTICATED);
    /* another IP is not affected */
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_OK);
    S.now += ACCOUNTS_LOCK_BASE_S;
    assert_int_equal(accounts_signin(S.acc, s_(email), s_(PASSWORD), &c, sid, NULL), ERR_OK);
    /* the next failure within the window locks for twice as long */
    assert_int_equal(accounts_signin(S.acc, s_(email), s_("wrong password 123"), &c, sid, NULL),
                     ERR_UNAUTHENTICATED);
    S.now += 2 * ACCOUNTS_LOCK_BASE_S - 1;
    assert_int_equal(accounts_signin(S.acc, s_(email), s_(PASSWORD), &c, sid, NULL),
                     ERR_UNAUTHENTICATED);
    S.now += 1;
    assert_int_equal(accounts_signin(S.acc, s_(email), s_(PASSWORD), &c, sid, NULL), ERR_OK);
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void test_timing(void **state)
{
    (void)state;
    next_ip();
    char wrong[96], locked[96], sid[ACCOUNTS_SECRET_LEN + 1], ip[32];
    struct accounts_signup_result r;
    signup(wrong, sizeof wrong, true, &r);
    signup(locked, sizeof locked, true, &r);
    double t_unknown[RUNS], t_wrong[RUNS], t_locked[RUNS];
    struct timespec t0;

    /* the locked account: locked for the whole run (the clock stays put) */
    for (int i = 0; i < ACCOUNTS_LOCK_THRESHOLD; i++)
        assert_int_equal(signin(locked, "wrong password 123", sid, NULL), ERR_UNAUTHENTICATED);
    for (int i = 0; i < RUNS; i++) {
        /* a fresh IP each time, so the IP lock never takes over */
        snprintf(ip, sizeof ip, "10.1.%d.%d", i / 200, i % 200);
        struct accounts_client c = {.ip = ip};
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(
            accounts_signin(S.acc, s_("nobody-at-all@example.com"), s_(PASSWORD), &c, sid, NULL),
            ERR_UNAUTHENTICATED);
        t_unknown[i] = ms_since(&t0);

        snprintf(ip, sizeof ip, "10.2.%d.%d", i / 200, i % 200);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(accounts_signin(S.acc, s_(locked), s_(PASSWORD), &c, sid, NULL),
                         ERR_UNAUTHENTICATED);
        t_locked[i] = ms_since(&t0);

        snprintf(ip, sizeof ip, "10.3.%d.%d", i / 200, i % 200);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(accounts_signin(S.acc, s_(wrong), s_("wrong password 123"), &c, sid, NULL),
                         ERR_UNAUTHENTICATED);
        t_wrong[i] = ms_since(&t0);
    }
    double mu = median(t_unknown, RUNS), mw = median(t_wrong, RUNS), ml = median(t_locked, RUNS);
    printf("# timing medians over %d runs (bcrypt cost %d): unknown email %.2f ms, wrong "
           "password %.2f ms, locked account %.2f ms\n",
           RUNS, COST, mu, mw, ml);
    double lo = mu < mw ? (mu < ml ? mu : ml) : (mw < ml ? mw : ml);
    double hi = mu > mw ? (mu > ml ? mu : ml) : (mw > ml ? mw : ml);
    assert_true(hi <= lo * 1.2);
}

/* ---- sessions ---------------------------------------------------------------------------- */

static void test_session_timeouts(void **state)
{
    (void)state;
    next_ip();
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    struct accounts_session s;
    signup(email, sizeof email, true, &r);

    /* idle */
    assert_int_equal(signin(email, PASSWORD, sid, &s), ERR_OK);
    S.now += ACCOUNTS_SESSION_IDLE_S - 1;
    assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &s), ERR_OK); /* slides */
    assert_int_equal(s.last_seen_at, S.now);
    S.now += ACCOUNTS_SESSION_IDLE_S - 1;
    assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &s), ERR_OK);
    S.now += ACCOUNTS_SESSION_IDLE_S;
    assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &s), ERR_UNAUTHENTICATED);

    /* sliding at most once a minute */
    assert_int_equal(signin(email, PASSWORD, sid, &s), ERR_OK);
    int64_t start = S.now;
    S.now += ACCOUNTS_SESSION_SLIDE_S - 1;
    assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &s), ERR_OK);
    assert_int_equal(s.last_seen_at, start);
    S.now += 1;
    assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &s), ERR_OK);
    assert_int_equal(s.last_seen_at, S.now);

    /* absolute, however active */
    assert_int_equal(signin(email, PASSWORD, sid, &s), ERR_OK);
    int64_t end = S.now + ACCOUNTS_SESSION_ABSOLUTE_S;
    while (S.now + 20 * 60 < end) {
        S.now += 20 * 60;
        assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &s), ERR_OK);
        assert_true(s.idle_expires_at <= end);
    }
    S.now = end;
    assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &s), ERR_UNAUTHENTICATED);

    /* malformed ids */
    assert_int_equal(accounts_session_lookup(S.acc, s_(""), &s), ERR_UNAUTHENTICATED);
    assert_int_equal(accounts_session_lookup(S.acc, s_("x.y"), &s), ERR_UNAUTHENTICATED);
}

static void test_sessions_manage(void **state)
{
    (void)state;
    next_ip();
    char email[96], s1[ACCOUNTS_SECRET_LEN + 1], s2[ACCOUNTS_SECRET_LEN + 1],
        s3[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    struct accounts_session a1, a2, a3;
    signup(email, sizeof email, true, &r);

    /* user agent: cut to ACCOUNTS_MAX_USER_AGENT bytes */
    char ua[ACCOUNTS_MAX_USER_AGENT + 2];
    fill(ua, ACCOUNTS_MAX_USER_AGENT + 1, 'u');
    struct accounts_client c = {.ip = "203.0.113.5", .user_agent = ua};
    assert_int_equal(accounts_signin(S.acc, s_(email), s_(PASSWORD), &c, s1, &a1), ERR_OK);
    S.now += 1;
    assert_int_equal(signin(email, PASSWORD, s2, &a2), ERR_OK);
    S.now += 1;
    assert_int_equal(signin(email, PASSWORD, s3, &a3), ERR_OK);

    struct accounts_session_info list[ACCOUNTS_MAX_SESSIONS];
    size_t n = 0;
    assert_int_equal(accounts_sessions_list(S.acc, &r.user, list, ACCOUNTS_MAX_SESSIONS, &n),
                     ERR_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].id_hash, a3.id_hash); /* newest first */
    assert_string_equal(list[2].id_hash, a1.id_hash);
    assert_int_equal(strlen(list[2].user_agent), ACCOUNTS_MAX_USER_AGENT);
    assert_string_equal(list[2].client_ip, "203.0.113.5");
    assert_int_equal(accounts_sessions_list(S.acc, &r.user, list, 1, &n), ERR_OK);
    assert_int_equal(n, 1);

    /* revoke by handle: at once */
    assert_int_equal(accounts_session_revoke(S.acc, &r.user, s_(a1.id_hash), &CLIENT), ERR_OK);
    assert_int_equal(accounts_session_lookup(S.acc, s_(s1), &a1), ERR_UNAUTHENTICATED);
    assert_int_equal(accounts_session_revoke(S.acc, &r.user, s_(a1.id_hash), &CLIENT),
                     ERR_NOT_FOUND);
    assert_int_equal(accounts_session_revoke(S.acc, &r.user, s_("zz"), &CLIENT), ERR_NOT_FOUND);
    char longer[ACCOUNTS_HASH_HEX + 2];
    fill(longer, ACCOUNTS_HASH_HEX + 1, 'a');
    assert_int_equal(accounts_session_revoke(S.acc, &r.user, s_(longer), &CLIENT), ERR_LIMIT);

    /* sign-out */
    assert_int_equal(accounts_signout(S.acc, s_(s2), &CLIENT), ERR_OK);
    assert_int_equal(accounts_session_lookup(S.acc, s_(s2), &a2), ERR_UNAUTHENTICATED);
    assert_int_equal(accounts_signout(S.acc, s_(s2), &CLIENT), ERR_UNAUTHENTICATED);

    /* everywhere */
    assert_int_equal(signin(email, PASSWORD, s1, &a1), ERR_OK);
    uint64_t revoked = 0;
    assert_int_equal(accounts_signout_everywhere(S.acc, &r.user, &CLIENT, &revoked), ERR_OK);
    assert_int_equal(revoked, 2);
    assert_int_equal(accounts_session_lookup(S.acc, s_(s1), &a1), ERR_UNAUTHENTICATED);
    assert_int_equal(accounts_session_lookup(S.acc, s_(s3), &a3), ERR_UNAUTHENTICATED);
    assert_int_equal(accounts_sessions_list(S.acc, &r.user, list, ACCOUNTS_MAX_SESSIONS, &n),
                     ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(audit_count(&r.user.tenant, "auth.session_revoked"), 1);
    assert_int_equal(audit_count(&r.user.tenant, "auth.signout"), 1);
    assert_int_equal(audit_count(&r.user.tenant, "auth.signout_everywhere"), 1);
}

/* ---- password reset -------------------------------------------------------------------------- */

static void test_password_reset(void **state)
{
    (void)state;
    next_ip();
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1], tok[ACCOUNTS_SECRET_LEN + 1],
        tok2[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    struct accounts_session s;
    signup(email, sizeof email, true, &r);
    assert_int_equal(signin(email, PASSWORD, sid, &s), ERR_OK);
    for (int i = 0; i < ACCOUNTS_LOCK_THRESHOLD; i++)
        assert_int_equal(signin(email, "wrong password 123", tok, NULL), ERR_UNAUTHENTICATED);

    /* unknown address: the same answer, nothing to mail */
    assert_int_equal(accounts_password_reset_request(S.acc, s_("ghost2@example.com"), &CLIENT, tok),
                     ERR_OK);
    assert_string_equal(tok, "");

    assert_int_equal(accounts_password_reset_request(S.acc, s_(email), &CLIENT, tok), ERR_OK);
    assert_int_equal(strlen(tok), ACCOUNTS_SECRET_LEN);
    assert_int_equal(accounts_password_reset_request(S.acc, s_(email), &CLIENT, tok2), ERR_OK);

    /* policy refusal does not spend the token */
    const char *reason = NULL;
    assert_int_equal(accounts_password_reset(S.acc, s_(tok), s_("short"), &CLIENT, &reason),
                     ERR_INVALID);
    assert_string_equal(reason, "too short");
    assert_int_equal(
        accounts_password_reset(S.acc, s_(tok), s_("a brand new passphrase"), &CLIENT, &reason),
        ERR_OK);
    /* replay, and the other open token, refused */
    assert_int_equal(
        accounts_password_reset(S.acc, s_(tok), s_("another new passphrase"), &CLIENT, NULL),
        ERR_NOT_FOUND);
    assert_int_equal(
        accounts_password_reset(S.acc, s_(tok2), s_("another new passphrase"), &CLIENT, NULL),
        ERR_NOT_FOUND);
    /* sessions revoked; lock cleared at once; the old password is gone */
    assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &s), ERR_UNAUTHENTICATED);
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_UNAUTHENTICATED);
    assert_int_equal(signin(email, "a brand new passphrase", sid, &s), ERR_OK);
    assert_int_equal(audit_count(&r.user.tenant, "auth.password_reset"), 1);

    /* expiry */
    assert_int_equal(accounts_password_reset_request(S.acc, s_(email), &CLIENT, tok), ERR_OK);
    S.now += ACCOUNTS_RESET_TTL_S;
    assert_int_equal(
        accounts_password_reset(S.acc, s_(tok), s_("yet another passphrase"), &CLIENT, NULL),
        ERR_NOT_FOUND);
    assert_int_equal(
        accounts_password_reset(S.acc, s_("bogus"), s_("yet another passphrase"), &CLIENT, NULL),
        ERR_NOT_FOUND);
}

/*
 * A8: the password check behind the token grant shares sign-in's code: the
 * same answers, counters and lockout (one lock for both), no session; sign
 * out everywhere and a password reset end the user's token families in
 * their own transaction.
 */
/* The hook: a password reset commits between the password check and its success. */
static void reset_meanwhile(void *arg)
{
    const struct accounts_user_ref *u = arg;
    const char *args[] = {u->user_id};
    exec_in(
        &u->tenant,
        "UPDATE users SET password_hash = 'changed by a reset' WHERE tenant_id = $1 AND id = $2",
        args, 1);
}

/* A sign-in whose password matched a hash that a reset replaced meanwhile opens
 * nothing (the old password must not outlive the reset); the token grant shares
 * this path (accounts_authenticate_password). */
static void test_signin_racing_a_reset(void **state)
{
    (void)state;
    next_ip();
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    struct accounts_session s;
    signup(email, sizeof email, true, &r);
    accounts_set_matched_hook(S.acc, reset_meanwhile, &r.user);
    assert_int_equal(accounts_signin(S.acc, s_(email), s_(PASSWORD), &CLIENT, sid, &s),
                     ERR_UNAUTHENTICATED);
    accounts_set_matched_hook(S.acc, NULL, NULL);
    assert_int_equal(
        query_int(&r.user.tenant,
                  "SELECT count(*) FROM sessions WHERE tenant_id = $1 AND user_id = $2",
                  r.user.user_id),
        0);
}

static void test_password_check_for_tokens(void **state)
{
    (void)state;
    next_ip();
    char email[96], other[96], sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r, ru;
    struct accounts_session s;
    signup(email, sizeof email, true, &r);
    signup(other, sizeof other, false, &ru);
    assert_int_equal(accounts_authenticate_password(S.acc, s_(email), s_(PASSWORD), &CLIENT, &s),
                     ERR_OK);
    assert_string_equal(s.user.user_id, r.user.user_id);
    assert_string_equal(s.user.tenant.id, r.user.tenant.id);
    assert_string_equal(s.role, "super_admin");
    assert_true(s.email_verified);
    assert_string_equal(s.id_hash, ""); /* no session was opened */
    assert_int_equal(
        query_int(&r.user.tenant,
                  "SELECT count(*) FROM sessions WHERE tenant_id = $1 AND user_id = $2",
                  r.user.user_id),
        0);
    assert_int_equal(query_int(&r.user.tenant,
                               "SELECT count(*) FROM audit_log WHERE tenant_id = $1"
                               " AND action = 'auth.signin' AND details LIKE $2",
                               "%\"grant\":\"tokens\"%"),
                     1);
    /* an unverified address passes the password check and says so (the grant refuses it) */
    assert_int_equal(accounts_authenticate_password(S.acc, s_(other), s_(PASSWORD), &CLIENT, &s),
                     ERR_OK);
    assert_false(s.email_verified);
    /* the same refusals as sign-in */
    assert_int_equal(
        accounts_authenticate_password(S.acc, s_("nobody@example.com"), s_(PASSWORD), &CLIENT, &s),
        ERR_UNAUTHENTICATED);
    char long_email[ACCOUNTS_MAX_EMAIL + 2];
    fill(long_email, ACCOUNTS_MAX_EMAIL + 1, 'a');
    assert_int_equal(
        accounts_authenticate_password(S.acc, s_(long_email), s_(PASSWORD), &CLIENT, &s),
        ERR_LIMIT);
    /* failures count against the same lock as sign-in, in both directions */
    for (int i = 0; i < ACCOUNTS_LOCK_THRESHOLD; i++)
        assert_int_equal(
            accounts_authenticate_password(S.acc, s_(email), s_("wrong password 123"), &CLIENT, &s),
            ERR_UNAUTHENTICATED);
    assert_int_equal(audit_count(&r.user.tenant, "auth.lockout"), 1);
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_UNAUTHENTICATED);
    assert_int_equal(accounts_authenticate_password(S.acc, s_(email), s_(PASSWORD), &CLIENT, &s),
                     ERR_UNAUTHENTICATED);
    S.now += ACCOUNTS_LOCK_BASE_S;
    assert_int_equal(accounts_authenticate_password(S.acc, s_(email), s_(PASSWORD), &CLIENT, &s),
                     ERR_OK);

    /* sign out everywhere and a password reset end every token family of the user */
    struct auth_token_keys keys;
    assert_int_equal(auth_token_keys_init(&keys, &S.ring, "https://shiplog.test"), ERR_OK);
    const struct auth_client ac = {.ip = client_ip};
    struct auth_token_pair a, b;
    assert_int_equal(auth_token_issue_user(S.main_app, &keys, &r.user.tenant, r.user.user_id, S.now,
                                           AUTH_VALID_AFTER_UNCHECKED, &ac, &a),
                     ERR_OK);
    assert_int_equal(auth_token_issue_user(S.main_app, &keys, &r.user.tenant, r.user.user_id, S.now,
                                           AUTH_VALID_AFTER_UNCHECKED, &ac, &b),
                     ERR_OK);
    S.now += 1;
    uint64_t n = 0;
    assert_int_equal(accounts_signout_everywhere(S.acc, &r.user, &CLIENT, &n), ERR_OK);
    struct auth_token_principal p;
    assert_int_equal(auth_token_verify(S.main_app, &keys, s_(a.access), S.now, &p),
                     ERR_UNAUTHENTICATED);
    assert_int_equal(auth_token_refresh(S.main_app, &keys, s_(b.refresh), S.now, &ac, &b),
                     ERR_UNAUTHENTICATED);
    assert_int_equal(query_int(&r.user.tenant,
                               "SELECT tokens_valid_after FROM users WHERE tenant_id = $1"
                               " AND id = $2",
                               r.user.user_id),
                     S.now);
    assert_int_equal(query_int(&r.user.tenant,
                               "SELECT count(*) FROM audit_log WHERE tenant_id = $1"
                               " AND action = 'auth.signout_everywhere' AND details LIKE $2",
                               "%\"families_revoked\":2%"),
                     1);
    S.now += 1;
    assert_int_equal(auth_token_issue_user(S.main_app, &keys, &r.user.tenant, r.user.user_id, S.now,
                                           AUTH_VALID_AFTER_UNCHECKED, &ac, &a),
                     ERR_OK);
    assert_int_equal(auth_token_verify(S.main_app, &keys, s_(a.access), S.now, &p), ERR_OK);
    char tok[ACCOUNTS_SECRET_LEN + 1];
    assert_int_equal(accounts_password_reset_request(S.acc, s_(email), &CLIENT, tok), ERR_OK);
    S.now += 1;
    assert_int_equal(
        accounts_password_reset(S.acc, s_(tok), s_("a brand new passphrase"), &CLIENT, NULL),
        ERR_OK);
    assert_int_equal(auth_token_verify(S.main_app, &keys, s_(a.access), S.now, &p),
                     ERR_UNAUTHENTICATED);
    assert_int_equal(query_int(&r.user.tenant,
                               "SELECT count(*) FROM token_families WHERE tenant_id = $1"
                               " AND user_id = $2 AND revoked_reason = 'password_reset'",
                               r.user.user_id),
                     1);
    auth_token_pair_wipe(&a);
    auth_token_pair_wipe(&b);
}

/* ---- magic links ------------------------------------------------------------------------------
 */

static void test_magic_link(void **state)
{
    (void)state;
    next_ip();
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1], tok[ACCOUNTS_SECRET_LEN + 1],
        code[TOKEN_CODE_LEN + 1];
    struct accounts_signup_result r;
    struct accounts_session s;
    signup(email, sizeof email, false, &r);

    assert_int_equal(
        accounts_magic_link_request(S.acc, s_("ghost3@example.com"), &CLIENT, tok, code), ERR_OK);
    assert_string_equal(tok, "");
    assert_string_equal(code, "");

    /* by link */
    assert_int_equal(accounts_magic_link_request(S.acc, s_(email), &CLIENT, tok, code), ERR_OK);
    assert_int_equal(strlen(code), TOKEN_CODE_LEN);
    assert_int_equal(accounts_magic_link_consume(S.acc, s_(tok), &CLIENT, sid, &s), ERR_OK);
    assert_true(s.email_verified); /* the link proved the mailbox */
    assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &s), ERR_OK);
    assert_int_equal(accounts_magic_link_consume(S.acc, s_(tok), &CLIENT, sid, NULL),
                     ERR_NOT_FOUND);
    /* its code died with it */
    assert_int_equal(
        accounts_magic_link_consume_code(S.acc, s_(email), s_(code), &CLIENT, sid, NULL),
        ERR_NOT_FOUND);

    /* by code (either case), once */
    assert_int_equal(accounts_magic_link_request(S.acc, s_(email), &CLIENT, tok, code), ERR_OK);
    for (char *p = code; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + ('a' - 'A'));
    assert_int_equal(accounts_magic_link_consume_code(S.acc, s_(email), s_(code), &CLIENT, sid, &s),
                     ERR_OK);
    assert_int_equal(
        accounts_magic_link_consume_code(S.acc, s_(email), s_(code), &CLIENT, sid, NULL),
        ERR_NOT_FOUND);
    assert_int_equal(accounts_magic_link_consume(S.acc, s_(tok), &CLIENT, sid, NULL),
                     ERR_NOT_FOUND);

    /* expiry */
    assert_int_equal(accounts_magic_link_request(S.acc, s_(email), &CLIENT, tok, code), ERR_OK);
    S.now += ACCOUNTS_MAGIC_TTL_S;
    assert_int_equal(accounts_magic_link_consume(S.acc, s_(tok), &CLIENT, sid, NULL),
                     ERR_NOT_FOUND);
    assert_int_equal(
        accounts_magic_link_consume_code(S.acc, s_(email), s_(code), &CLIENT, sid, NULL),
        ERR_NOT_FOUND);

    /* wrong codes burn the open links */
    assert_int_equal(accounts_magic_link_request(S.acc, s_(email), &CLIENT, tok, code), ERR_OK);
    const char *wrong = code[0] == '2' ? "33333333" : "22222222";
    for (int i = 0; i < ACCOUNTS_MAGIC_MAX_ATTEMPTS; i++)
        assert_int_equal(
            accounts_magic_link_consume_code(S.acc, s_(email), s_(wrong), &CLIENT, sid, NULL),
            ERR_NOT_FOUND);
    assert_int_equal(
        accounts_magic_link_consume_code(S.acc, s_(email), s_(code), &CLIENT, sid, NULL),
        ERR_NOT_FOUND);
    assert_int_equal(accounts_magic_link_consume(S.acc, s_(tok), &CLIENT, sid, NULL),
                     ERR_NOT_FOUND);
    /* malformed */
    assert_int_equal(
        accounts_magic_link_consume_code(S.acc, s_(email), s_("12"), &CLIENT, sid, NULL),
        ERR_NOT_FOUND);
    /* 2 successes; failures: the dead code, the replayed code, the expired code, the wrong
     * codes and the right code after the burn (a malformed code is not an attempt) */
    assert_int_equal(audit_count(&r.user.tenant, "auth.magic_link_signin"),
                     2 + 3 + ACCOUNTS_MAGIC_MAX_ATTEMPTS + 1);
}

/* ---- tenant isolation ---------------------------------------------------------------------- */

static void test_isolation(void **state)
{
    (void)state;
    next_ip();
    char ea[96], eb[96], sa[ACCOUNTS_SECRET_LEN + 1], sb[ACCOUNTS_SECRET_LEN + 1];
    char ta[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result ra, rb;
    struct accounts_session a, b;
    signup(ea, sizeof ea, true, &ra);
    signup(eb, sizeof eb, true, &rb);
    assert_int_equal(signin(ea, PASSWORD, sa, &a), ERR_OK);
    assert_int_equal(signin(eb, PASSWORD, sb, &b), ERR_OK);

    /* A's session token under B's tenant id finds nothing */
    char forged[ACCOUNTS_SECRET_LEN + 1];
    memcpy(forged, sa, sizeof forged);
    memcpy(forged, rb.user.tenant.id, STORAGE_TENANT_ID_LEN);
    assert_int_equal(accounts_session_lookup(S.acc, s_(forged), &b), ERR_UNAUTHENTICATED);
    /* B cannot revoke or list A's sessions */
    assert_int_equal(accounts_session_revoke(S.acc, &rb.user, s_(a.id_hash), &CLIENT),
                     ERR_NOT_FOUND);
    struct accounts_user_ref mixed = rb.user;
    memcpy(mixed.user_id, ra.user.user_id, sizeof mixed.user_id);
    assert_int_equal(accounts_session_revoke(S.acc, &mixed, s_(a.id_hash), &CLIENT), ERR_NOT_FOUND);
    struct accounts_session_info list[4];
    size_t n = 9;
    assert_int_equal(accounts_sessions_list(S.acc, &mixed, list, 4, &n), ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(accounts_session_lookup(S.acc, s_(sa), &a), ERR_OK);
    /* A's reset token under B's tenant id */
    assert_int_equal(accounts_password_reset_request(S.acc, s_(ea), &CLIENT, ta), ERR_OK);
    memcpy(ta, rb.user.tenant.id, STORAGE_TENANT_ID_LEN);
    assert_int_equal(
        accounts_password_reset(S.acc, s_(ta), s_("a brand new passphrase"), &CLIENT, NULL),
        ERR_NOT_FOUND);

    /* well-formed queries see only their tenant */
    assert_int_equal(query_int(&rb.user.tenant,
                               "SELECT count(*) FROM users WHERE tenant_id = $1 AND id = $2",
                               ra.user.user_id),
                     0);
    if (S.pg) {
        /* forged statements: row-level security still confines them to B */
        assert_int_equal(
            query_int(&rb.user.tenant, "SELECT count(*) FROM users WHERE $1 = $1", NULL), 1);
        assert_int_equal(
            query_int(&rb.user.tenant, "SELECT count(*) FROM sessions WHERE $1 = $1", NULL), 1);
        assert_int_equal(
            query_int(&rb.user.tenant, "SELECT count(*) FROM auth_tokens WHERE $1 = $1", NULL),
            1); /* B's own verification token */
        assert_int_equal(
            query_int(&rb.user.tenant, "SELECT count(*) FROM user_emails WHERE $1 = $1", NULL), 1);
        /* the directory context sees no mapping rows either */
        struct tenant_ctx dir = {.id = ACCOUNTS_DIRECTORY_TENANT};
        assert_int_equal(query_int(&dir, "SELECT count(*) FROM user_emails WHERE $1 = $1", NULL),
                         0);
        assert_int_equal(query_int(&dir, "SELECT count(*) FROM users WHERE $1 = $1", NULL), 0);
        /* and the IP counters are not readable at all */
        struct tx *tx = NULL;
        struct stmt *st = NULL;
        bool row = false;
        assert_int_equal(storage_begin(S.main_app, &dir, TX_READ, &tx), ERR_OK);
        assert_int_equal(
            tx_prepare(tx, "SELECT count(*) FROM login_failures_ip WHERE $1 = $1", &st), ERR_OK);
        assert_int_not_equal(stmt_step(st, &row), ERR_OK);
        stmt_finish(st);
        storage_rollback(tx);
        /* an update without a tenant filter touches only B's rows */
        assert_int_equal(storage_begin(S.main_app, &rb.user.tenant, TX_WRITE, &tx), ERR_OK);
        assert_int_equal(tx_prepare(tx, "UPDATE sessions SET revoked_at = 1 WHERE $1 = $1", &st),
                         ERR_OK);
        assert_int_equal(stmt_step(st, &row), ERR_OK);
        stmt_finish(st);
        storage_rollback(tx);
        /* a forged insert of A's id into B's context is refused */
        assert_int_equal(storage_begin(S.main_app, &rb.user.tenant, TX_WRITE, &tx), ERR_OK);
        assert_int_equal(tx_prepare(tx,
                                    "INSERT INTO user_emails (email_hash, tenant_id, user_id) "
                                    "SELECT repeat('f', 64), $2::uuid, $3::uuid WHERE $1 = $1",
                                    &st),
                         ERR_OK);
        assert_int_equal(stmt_bind_text(st, 2, s_(ra.user.tenant.id)), ERR_OK);
        assert_int_equal(stmt_bind_text(st, 3, s_(ra.user.user_id)), ERR_OK);
        assert_int_equal(stmt_step(st, &row), ERR_FORBIDDEN);
        stmt_finish(st);
        storage_rollback(tx);
    }
}

/* ---- rehash after rotation ----------------------------------------------------------------- */

static void test_rehash_rotation(void **state)
{
    (void)state;
    next_ip();
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    signup(email, sizeof email, true, &r); /* under A */
    char key_a[MASTER_KEY_ID_LEN + 1];
    memcpy(key_a, keyring_current(&S.ring)->id, sizeof key_a);
    assert_int_equal(query_int(&r.user.tenant,
                               "SELECT count(*) FROM users WHERE tenant_id = $1 AND "
                               "password_key_id = $2",
                               key_a),
                     1);

    use_ring(KEY_B, KEY_A);
    char key_b[MASTER_KEY_ID_LEN + 1];
    memcpy(key_b, keyring_current(&S.ring)->id, sizeof key_b);
    assert_string_not_equal(key_a, key_b);
    assert_int_equal(signin(email, "wrong password 123", sid, NULL), ERR_UNAUTHENTICATED);
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_OK);
    assert_int_equal(query_int(&r.user.tenant,
                               "SELECT count(*) FROM users WHERE tenant_id = $1 AND "
                               "password_key_id = $2",
                               key_b),
                     1);

    /* A may leave the ring now */
    use_ring(KEY_B, NULL);
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_OK);
    /* a hash still under a key that left is refused, not crashed on */
    char other[96];
    use_ring(KEY_A, NULL);
    signup(other, sizeof other, true, &r);
    use_ring(KEY_B, NULL);
    assert_int_equal(signin(other, PASSWORD, sid, NULL), ERR_UNAUTHENTICATED);
    use_ring(KEY_A, NULL);
}

/* ---- mailer hook ------------------------------------------------------------------- */

struct mail_log {
    int calls;
    enum err fail; /* returned by the hook when not ERR_OK */
    enum accounts_mail_kind kind;
    char to[ACCOUNTS_MAX_EMAIL + 1], token[ACCOUNTS_SECRET_LEN + 1], code[TOKEN_CODE_LEN + 1];
};

static enum err record_mail(void *arg, struct tx *tx, const struct accounts_mail *m)
{
    struct mail_log *l = arg;
    assert_non_null(tx);
    l->calls++;
    l->kind = m->kind;
    snprintf(l->to, sizeof l->to, "%s", m->to);
    snprintf(l->token, sizeof l->token, "%s", m->token);
    snprintf(l->code, sizeof l->code, "%s", m->code);
    return l->fail;
}

/* Mail is queued in the token's transaction: a failing mailer leaves no token. */
static void test_mailer(void **state)
{
    (void)state;
    next_ip();
    struct mail_log log = {0};
    struct accounts_mailer mailer = {record_mail, &log};
    struct accounts_client c = CLIENT;
    c.mailer = &mailer;
    char email[96], lower[ACCOUNTS_MAX_EMAIL + 1], tok[ACCOUNTS_SECRET_LEN + 1],
        code[TOKEN_CODE_LEN + 1];
    struct accounts_signup_result r;

    new_email(email, sizeof email);
    assert_int_equal(accounts_email_normalize(s_(email), lower), ERR_OK);
    log.fail = ERR_IO; /* the sign-up fails with its mail: no account is left */
    assert_int_equal(accounts_signup(S.acc, s_(email), s_(PASSWORD), s_("Mailer"), &c, &r), ERR_IO);
    log = (struct mail_log){0};
    assert_int_equal(accounts_signup(S.acc, s_(email), s_(PASSWORD), s_("Mailer"), &c, &r), ERR_OK);
    assert_int_equal(log.calls, 1);
    assert_int_equal(log.kind, ACCOUNTS_MAIL_VERIFY);
    assert_string_equal(log.to, lower);
    assert_string_equal(log.token, r.verify_token);

    /* a taken address: the owner is told, and the attempt is audited in the tenant */
    log = (struct mail_log){0};
    struct accounts_signup_result r2;
    assert_int_equal(
        accounts_signup(S.acc, s_(email), s_("another long password"), s_("X"), &c, &r2),
        ERR_CONFLICT);
    assert_int_equal(log.calls, 1);
    assert_int_equal(log.kind, ACCOUNTS_MAIL_SIGNUP_TAKEN);
    assert_string_equal(log.token, "");
    assert_int_equal(audit_count(&r.user.tenant, "auth.signup"), 2);

    /* reset: a failing mailer rolls the token back */
    log = (struct mail_log){.fail = ERR_IO};
    assert_int_equal(accounts_password_reset_request(S.acc, s_(email), &c, tok), ERR_IO);
    assert_string_equal(tok, "");
    assert_int_equal(query_int(&r.user.tenant,
                               "SELECT count(*) FROM auth_tokens WHERE tenant_id = $1 AND "
                               "purpose = $2",
                               "reset_password"),
                     0);
    log = (struct mail_log){0};
    assert_int_equal(accounts_password_reset_request(S.acc, s_(email), &c, tok), ERR_OK);
    assert_int_equal(log.kind, ACCOUNTS_MAIL_RESET);
    assert_string_equal(log.token, tok);

    log = (struct mail_log){0};
    assert_int_equal(accounts_magic_link_request(S.acc, s_(email), &c, tok, code), ERR_OK);
    assert_int_equal(log.kind, ACCOUNTS_MAIL_MAGIC);
    assert_string_equal(log.token, tok);
    assert_string_equal(log.code, code);

    /* no account: no mail */
    log = (struct mail_log){0};
    assert_int_equal(accounts_magic_link_request(S.acc, s_("nobody@example.com"), &c, tok, code),
                     ERR_OK);
    assert_int_equal(log.calls, 0);
}

/* ---- verification resend ------------------------------------------------------------ */

static int64_t verify_tokens(const struct accounts_user_ref *u)
{
    return query_int(&u->tenant,
                     "SELECT count(*) FROM auth_tokens WHERE tenant_id = $1 AND user_id = $2 "
                     "AND purpose = 'verify_email'",
                     u->user_id);
}

static void test_verify_resend(void **state)
{
    (void)state;
    next_ip();
    struct mail_log log = {0};
    struct accounts_mailer mailer = {record_mail, &log};
    struct accounts_client c = CLIENT;
    c.mailer = &mailer;
    char email[96], lower[ACCOUNTS_MAX_EMAIL + 1], t2[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    signup(email, sizeof email, false, &r);
    assert_int_equal(accounts_email_normalize(s_(email), lower), ERR_OK);

    /* a new token, mailed in its transaction, audited with the client IP */
    assert_int_equal(accounts_verify_resend(S.acc, &r.user, &c), ERR_OK);
    assert_int_equal(log.calls, 1);
    assert_int_equal(log.kind, ACCOUNTS_MAIL_VERIFY);
    assert_string_equal(log.to, lower);
    assert_int_equal(strlen(log.token), ACCOUNTS_SECRET_LEN);
    assert_string_not_equal(log.token, r.verify_token);
    memcpy(t2, log.token, sizeof t2);
    assert_int_equal(verify_tokens(&r.user), 2);
    assert_int_equal(query_int(&r.user.tenant,
                               "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND "
                               "action = 'auth.verification_resent' AND client_ip = $2",
                               client_ip),
                     1);

    /* the mail is part of the transaction: a failing mailer leaves no token */
    log = (struct mail_log){.fail = ERR_IO};
    assert_int_equal(accounts_verify_resend(S.acc, &r.user, &c), ERR_IO);
    assert_int_equal(verify_tokens(&r.user), 2);
    assert_int_equal(audit_count(&r.user.tenant, "auth.verification_resent"), 1);
    /* no mailer: nobody could get the token */
    assert_int_equal(accounts_verify_resend(S.acc, &r.user, &CLIENT), ERR_INVALID);
    assert_int_equal(accounts_verify_resend(S.acc, &r.user, NULL), ERR_INVALID);
    /* an unknown user; a client field past its limit */
    struct accounts_user_ref ghost = r.user;
    memcpy(ghost.user_id, "6f1c1b1e-0000-4000-8000-000000000000", sizeof ghost.user_id);
    assert_int_equal(accounts_verify_resend(S.acc, &ghost, &c), ERR_NOT_FOUND);
    char ip[ACCOUNTS_MAX_CLIENT_IP + 2];
    fill(ip, ACCOUNTS_MAX_CLIENT_IP + 1, '1');
    struct accounts_client longip = c;
    longip.ip = ip;
    assert_int_equal(accounts_verify_resend(S.acc, &r.user, &longip), ERR_LIMIT);

    /* the earlier link still works; using it spends the resent one */
    assert_int_equal(accounts_verify_email(S.acc, s_(r.verify_token), &CLIENT, NULL), ERR_OK);
    assert_int_equal(accounts_verify_email(S.acc, s_(t2), &CLIENT, NULL), ERR_NOT_FOUND);

    /* verified: nothing is done, nothing is said */
    log = (struct mail_log){0};
    assert_int_equal(accounts_verify_resend(S.acc, &r.user, &c), ERR_OK);
    assert_int_equal(log.calls, 0);
    assert_int_equal(verify_tokens(&r.user), 2);
    assert_int_equal(audit_count(&r.user.tenant, "auth.verification_resent"), 1);

    /* the resent token lives ACCOUNTS_VERIFY_TTL_S, and verifies the address */
    signup(email, sizeof email, false, &r);
    log = (struct mail_log){0};
    assert_int_equal(accounts_verify_resend(S.acc, &r.user, &c), ERR_OK);
    memcpy(t2, log.token, sizeof t2);
    S.now += ACCOUNTS_VERIFY_TTL_S - 1;
    struct accounts_user_ref u;
    assert_int_equal(accounts_verify_email(S.acc, s_(t2), &CLIENT, &u), ERR_OK);
    assert_string_equal(u.user_id, r.user.user_id);
    assert_int_equal(accounts_verify_email(S.acc, s_(r.verify_token), &CLIENT, NULL),
                     ERR_NOT_FOUND);
    signup(email, sizeof email, false, &r);
    log = (struct mail_log){0};
    assert_int_equal(accounts_verify_resend(S.acc, &r.user, &c), ERR_OK);
    memcpy(t2, log.token, sizeof t2);
    S.now += ACCOUNTS_VERIFY_TTL_S;
    assert_int_equal(accounts_verify_email(S.acc, s_(t2), &CLIENT, NULL), ERR_NOT_FOUND);
}

/* ---- keyed magic codes ---------------------------------------------------------------- */

/* The code_hash the suite expects: HMAC under the HKDF "shiplog/v1/magic-code" key of k. */
static void expected_code_mac(const struct master_key *k, const struct accounts_user_ref *u,
                              const char *code, char out[ACCOUNTS_HASH_HEX + 1])
{
    static const char info[] = "shiplog/v1/magic-code";
    unsigned char key[SHA256_LEN], mac[SHA256_LEN];
    assert_int_equal(hkdf_sha256(k->bytes, sizeof k->bytes, "shiplog", 7, info, sizeof info - 1,
                                 key, sizeof key),
                     ERR_OK);
    char in[128];
    int n = snprintf(in, sizeof in, "%s\n%s\n%s", u->tenant.id, u->user_id, code);
    hmac_sha256(key, sizeof key, in, (size_t)n, mac);
    hex_encode(mac, sizeof mac, out);
    out[ACCOUNTS_HASH_HEX] = '\0';
}

static void stored_code_hash(const struct accounts_user_ref *u, const char *token, char *out)
{
    /* the row of this link: its hash is the SHA-256 of the token part */
    unsigned char h[SHA256_LEN];
    char hx[ACCOUNTS_HASH_HEX + 1];
    assert_int_equal(token_hash(s_(token + STORAGE_TENANT_ID_LEN + 1), h), ERR_OK);
    hex_encode(h, sizeof h, hx);
    hx[ACCOUNTS_HASH_HEX] = '\0';
    query_text(&u->tenant, "SELECT code_hash FROM auth_tokens WHERE tenant_id = $1 AND hash = $2",
               hx, out, ACCOUNTS_HASH_HEX + 1);
}

static void test_magic_code_keyed(void **state)
{
    (void)state;
    next_ip();
    char email[96], other[96], sid[ACCOUNTS_SECRET_LEN + 1], tok[ACCOUNTS_SECRET_LEN + 1],
        code[TOKEN_CODE_LEN + 1], stored[ACCOUNTS_HASH_HEX + 1], want[ACCOUNTS_HASH_HEX + 1];
    struct accounts_signup_result r, r2;
    signup(email, sizeof email, true, &r);
    signup(other, sizeof other, true, &r2);

    assert_int_equal(accounts_magic_link_request(S.acc, s_(email), &CLIENT, tok, code), ERR_OK);
    stored_code_hash(&r.user, tok, stored);
    /* not the unkeyed hash of before, nor a plain SHA-256 of the code */
    unsigned char h[SHA256_LEN];
    char hx[ACCOUNTS_HASH_HEX + 1];
    assert_int_equal(token_code_hash(s_(code), h), ERR_OK);
    hex_encode(h, sizeof h, hx);
    hx[ACCOUNTS_HASH_HEX] = '\0';
    assert_string_not_equal(stored, hx);
    sha256(code, strlen(code), h);
    hex_encode(h, sizeof h, hx);
    hx[ACCOUNTS_HASH_HEX] = '\0';
    assert_string_not_equal(stored, hx);
    /* the keyed MAC over tenant, user and code */
    expected_code_mac(keyring_current(&S.ring), &r.user, code, want);
    assert_string_equal(stored, want);
    /* bound to its user: another account's address with this code finds nothing */
    assert_int_equal(
        accounts_magic_link_consume_code(S.acc, s_(other), s_(code), &CLIENT, sid, NULL),
        ERR_NOT_FOUND);
    /* and it still signs in */
    struct accounts_session s;
    assert_int_equal(accounts_magic_link_consume_code(S.acc, s_(email), s_(code), &CLIENT, sid, &s),
                     ERR_OK);
    assert_string_equal(s.user.user_id, r.user.user_id);
    assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &s), ERR_OK);

    /* a code mailed before a master key rotation works while the old key is in the ring */
    assert_int_equal(accounts_magic_link_request(S.acc, s_(email), &CLIENT, tok, code), ERR_OK);
    use_ring(KEY_B, KEY_A);
    assert_int_equal(accounts_magic_link_consume_code(S.acc, s_(email), s_(code), &CLIENT, sid, &s),
                     ERR_OK);
    /* new codes use the new key */
    assert_int_equal(accounts_magic_link_request(S.acc, s_(email), &CLIENT, tok, code), ERR_OK);
    stored_code_hash(&r.user, tok, stored);
    expected_code_mac(keyring_current(&S.ring), &r.user, code, want);
    assert_string_equal(stored, want);
    assert_int_equal(accounts_magic_link_consume_code(S.acc, s_(email), s_(code), &CLIENT, sid, &s),
                     ERR_OK);
    /* once the old key has left the ring its codes fail (documented); their links work */
    use_ring(KEY_A, NULL);
    assert_int_equal(accounts_magic_link_request(S.acc, s_(email), &CLIENT, tok, code), ERR_OK);
    use_ring(KEY_B, NULL);
    assert_int_equal(
        accounts_magic_link_consume_code(S.acc, s_(email), s_(code), &CLIENT, sid, NULL),
        ERR_NOT_FOUND);
    assert_int_equal(accounts_magic_link_consume(S.acc, s_(tok), &CLIENT, sid, NULL), ERR_OK);
    use_ring(KEY_A, NULL);
}

/* ---- request floor ---------------------------------------------------------------------- */

#define FLOOR_RUNS 20
#define FLOOR_MS   40

/* Medians of reset + magic-link requests for a known and an unknown address. */
static void request_medians(const char *known, double *m_known, double *m_unknown)
{
    double tk[FLOOR_RUNS], tu[FLOOR_RUNS];
    char tok[ACCOUNTS_SECRET_LEN + 1], code[TOKEN_CODE_LEN + 1];
    struct timespec t0;
    for (int i = 0; i < FLOOR_RUNS; i++) {
        /* alternate the kind of request; known and unknown interleaved */
        bool reset = i % 2 == 0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(reset ? accounts_password_reset_request(S.acc, s_(known), &CLIENT, tok)
                               : accounts_magic_link_request(S.acc, s_(known), &CLIENT, tok, code),
                         ERR_OK);
        tk[i] = ms_since(&t0);
        assert_int_equal(strlen(tok), ACCOUNTS_SECRET_LEN);

        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(reset ? accounts_password_reset_request(
                                     S.acc, s_("nobody-here@example.com"), &CLIENT, tok)
                               : accounts_magic_link_request(S.acc, s_("nobody-here@example.com"),
                                                             &CLIENT, tok, code),
                         ERR_OK);
        tu[i] = ms_since(&t0);
        assert_string_equal(tok, "");
    }
    *m_known = median(tk, FLOOR_RUNS);
    *m_unknown = median(tu, FLOOR_RUNS);
}

static void test_request_timing(void **state)
{
    (void)state;
    next_ip();
    char email[96];
    struct accounts_signup_result r;
    signup(email, sizeof email, true, &r);

    double k0, u0, k, u;
    accounts_set_request_floor_ms(S.acc, 0);
    request_medians(email, &k0, &u0);
    accounts_set_request_floor_ms(S.acc, FLOOR_MS);
    request_medians(email, &k, &u);
    accounts_set_request_floor_ms(S.acc, 0);
    printf("# request medians over %d runs: without a floor known %.2f ms, unknown %.2f ms; "
           "floor %d ms: known %.2f ms, unknown %.2f ms\n",
           FLOOR_RUNS, k0, u0, FLOOR_MS, k, u);
    /* the noise bound of test_timing */
    double lo = k < u ? k : u, hi = k < u ? u : k;
    assert_true(lo >= FLOOR_MS);
    assert_true(hi <= lo * 1.2);

    /* the default floor applies without the hook */
    struct accounts *plain = NULL;
    struct accounts_options o = {
        .db = S.main_app, .secrets = S.sec, .ring = &S.ring, .bcrypt_cost = COST};
    assert_int_equal(accounts_open(&o, &plain), ERR_OK);
    char tok[ACCOUNTS_SECRET_LEN + 1];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(
        accounts_password_reset_request(plain, s_("nobody-here@example.com"), &CLIENT, tok),
        ERR_OK);
    assert_true(ms_since(&t0) >= ACCOUNTS_REQUEST_FLOOR_MS);
    /* malformed input waits as long */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(accounts_password_reset_request(plain, s_("not an address"), &CLIENT, tok),
                     ERR_INVALID);
    assert_true(ms_since(&t0) >= ACCOUNTS_REQUEST_FLOOR_MS);
    accounts_close(plain);
}

/* ---- clean-up -------------------------------------------------------------------------- */

/* Statements on the per-IP counters: the owner connection on PostgreSQL (no grants for the app). */
static int64_t ip_counters(const char *ip)
{
    char in[64], hx[ACCOUNTS_HASH_HEX + 1];
    unsigned char h[SHA256_LEN];
    int n = snprintf(in, sizeof in, "shiplog/v1/login-ip:%s", ip);
    sha256(in, (size_t)n, h);
    hex_encode(h, sizeof h, hx);
    hx[ACCOUNTS_HASH_HEX] = '\0';
    struct storage *db =
        S.pg ? testdb_open(STORAGE_SCHEMA_MAIN, S.owner_url, NULL, true) : S.main_app;
    assert_non_null(db);
    struct tenant_ctx dir = {.id = ACCOUNTS_DIRECTORY_TENANT};
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(db, &dir, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_prepare(tx,
                                S.pg ? "SELECT count(*) FROM login_failures_ip "
                                       "WHERE ip_hash = $2 AND $1::uuid IS NOT NULL"
                                     : "SELECT count(*) FROM login_failures_ip "
                                       "WHERE ip_hash = $2 AND $1 IS NOT NULL",
                                &st),
                     ERR_OK);
    assert_int_equal(stmt_bind_text(st, 2, s_(hx)), ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_true(row);
    int64_t v = stmt_col_int(st, 0);
    stmt_finish(st);
    storage_rollback(tx);
    if (S.pg)
        storage_close(db);
    return v;
}

static int64_t sessions_of(const struct accounts_session *s)
{
    return query_int(&s->user.tenant,
                     "SELECT count(*) FROM sessions WHERE tenant_id = $1 AND id_hash = $2",
                     s->id_hash);
}

static int64_t tokens_of(const struct accounts_user_ref *u)
{
    return query_int(&u->tenant,
                     "SELECT count(*) FROM auth_tokens WHERE tenant_id = $1 AND user_id = $2",
                     u->user_id);
}

static void test_cleanup(void **state)
{
    (void)state;
    next_ip();
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1], tok[ACCOUNTS_SECRET_LEN + 1],
        code[TOKEN_CODE_LEN + 1];
    struct accounts_signup_result r;
    struct accounts_session revoked, idle, late, live;
    struct accounts_cleanup_stats st;
    const char *ip_plain = "198.51.100.201", *ip_locked = "198.51.100.202";
    struct accounts_client c_plain = {.ip = ip_plain}, c_locked = {.ip = ip_locked};

    /* past the life and grace of everything earlier tests left: all of it goes first, so
     * the counts below are this test's */
    S.now += ACCOUNTS_VERIFY_TTL_S + ACCOUNTS_CLEANUP_GRACE_S;
    assert_int_equal(accounts_cleanup(S.acc, &st), ERR_OK);

    int64_t t0 = S.now;
    signup(email, sizeof email, true, &r); /* its verification token: used at t0 */
    assert_int_equal(signin(email, PASSWORD, sid, &revoked), ERR_OK);
    assert_int_equal(accounts_signout(S.acc, s_(sid), &CLIENT), ERR_OK); /* revoked at t0 */
    assert_int_equal(signin(email, PASSWORD, sid, &idle), ERR_OK); /* idle after t0 + 30 min */
    /* a magic link left to expire at t0 + 15 min */
    assert_int_equal(accounts_magic_link_request(S.acc, s_(email), &CLIENT, tok, code), ERR_OK);
    /* one failure from one IP; twenty from another, which locks it */
    assert_int_equal(
        accounts_signin(S.acc, s_(email), s_("wrong password 123"), &c_plain, sid, NULL),
        ERR_UNAUTHENTICATED);
    for (int i = 0; i < ACCOUNTS_IP_LOCK_THRESHOLD; i++)
        assert_int_equal(accounts_signin(S.acc, s_("ghost-cleanup@example.com"), s_(PASSWORD),
                                         &c_locked, sid, NULL),
                         ERR_UNAUTHENTICATED);
    int64_t signins = audit_count(&r.user.tenant, "auth.signin");
    assert_int_equal(tokens_of(&r.user), 2);

    /* just inside the grace period (and the IP window): nothing of this test goes */
    S.now = t0 + ACCOUNTS_CLEANUP_GRACE_S - 1;
    /* the locked IP fails once more near the end of its window: locked past it */
    assert_int_equal(
        accounts_signin(S.acc, s_("ghost-cleanup@example.com"), s_(PASSWORD), &c_locked, sid, NULL),
        ERR_UNAUTHENTICATED);
    assert_int_equal(signin(email, PASSWORD, sid, &late), ERR_OK); /* idle from now + 30 min */
    assert_int_equal(accounts_cleanup(S.acc, &st), ERR_OK);
    assert_int_equal(sessions_of(&revoked), 1);
    assert_int_equal(sessions_of(&idle), 1);
    assert_int_equal(tokens_of(&r.user), 2);
    assert_int_equal(ip_counters(ip_plain), 1);
    assert_int_equal(ip_counters(ip_locked), 1);

    /* the grace has passed for what ended at t0 */
    S.now = t0 + ACCOUNTS_CLEANUP_GRACE_S;
    assert_int_equal(accounts_cleanup(S.acc, &st), ERR_OK);
    assert_int_equal(sessions_of(&revoked), 0);
    assert_int_equal(sessions_of(&idle), 1);
    assert_int_equal(tokens_of(&r.user), 1); /* the verification token; the magic link stays */
    assert_int_equal(ip_counters(ip_plain), 0);
    assert_int_equal(ip_counters(ip_locked), 1); /* window over, but still locked */
    assert_int_equal(st.tenants, 1);
    assert_int_equal(st.sessions, 1);
    assert_int_equal(st.tokens, 1);
    assert_int_equal(st.ip_counters, 1);

    /* and for the idle session and the expired link; the recent and live ones stay */
    S.now = t0 + ACCOUNTS_CLEANUP_GRACE_S + ACCOUNTS_SESSION_IDLE_S;
    assert_int_equal(signin(email, PASSWORD, sid, &live), ERR_OK);
    char open_tok[ACCOUNTS_SECRET_LEN + 1];
    assert_int_equal(accounts_password_reset_request(S.acc, s_(email), &CLIENT, open_tok), ERR_OK);
    assert_int_equal(accounts_cleanup(S.acc, &st), ERR_OK);
    assert_int_equal(sessions_of(&idle), 0);
    assert_int_equal(sessions_of(&late), 1); /* idle-expired, but only just */
    assert_int_equal(sessions_of(&live), 1);
    assert_int_equal(tokens_of(&r.user), 1); /* the open reset token */
    assert_int_equal(ip_counters(ip_locked), 0);
    assert_int_equal(st.tenants, 1);
    assert_int_equal(st.sessions, 1);
    assert_int_equal(st.tokens, 1);
    assert_int_equal(st.ip_counters, 1);
    assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &live), ERR_OK);
    assert_int_equal(
        accounts_password_reset(S.acc, s_(open_tok), s_("a brand new passphrase"), &CLIENT, NULL),
        ERR_OK);
    /* the audit trail is untouched */
    assert_int_equal(audit_count(&r.user.tenant, "auth.signin"), signins + 2);

    /* nothing left to do */
    S.now += 1;
    assert_int_equal(accounts_cleanup(S.acc, &st), ERR_OK);
    assert_int_equal(st.sessions + st.tokens + st.ip_counters, 0);
}

/* Runs sql in a write transaction of t with $2.. bound to the texts in args. */
static void exec_in(const struct tenant_ctx *t, const char *sql, const char *const *args, int n)
{
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(S.main_app, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_prepare(tx, sql, &st), ERR_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(stmt_bind_text(st, i + 2, s_(args[i])), ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    stmt_finish(st);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

#define MANY_TENANTS 250 /* more than two of the batches cleanup.c lists tenants in (100) */

/* Tenants in random id order, each with one long-revoked session: all of them are visited. */
static void test_cleanup_many_tenants(void **state)
{
    (void)state;
    next_ip();
    struct accounts_cleanup_stats st;
    S.now += ACCOUNTS_VERIFY_TTL_S + ACCOUNTS_CLEANUP_GRACE_S;
    assert_int_equal(accounts_cleanup(S.acc, &st), ERR_OK);

    static struct tenant_ctx ts[MANY_TENANTS];
    char user[ACCOUNTS_ID_LEN + 1], slug[48], hash[ACCOUNTS_HASH_HEX + 1], when[24];
    snprintf(when, sizeof when, "%lld", (long long)(S.now - ACCOUNTS_CLEANUP_GRACE_S));
    for (int i = 0; i < MANY_TENANTS; i++) {
        unsigned char b[16];
        char hex[33];
        assert_int_equal(rand_bytes(b, sizeof b), ERR_OK);
        hex_encode(b, sizeof b, hex);
        snprintf(ts[i].id, sizeof ts[i].id, "%.8s-%.4s-4%.3s-8%.3s-%.12s", hex, hex + 8, hex + 13,
                 hex + 17, hex + 20);
        snprintf(user, sizeof user, "%.8s-0000-4000-8000-000000000001", hex);
        snprintf(slug, sizeof slug, "many-%d-%.8s", i, hex);
        assert_int_equal(rand_hex(hash, ACCOUNTS_HASH_HEX / 2), ERR_OK);
        exec_in(&ts[i], "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, 'Many')",
                (const char *[]){slug}, 1);
        exec_in(&ts[i],
                "INSERT INTO users (tenant_id, id, email, password_hash, password_key_id, "
                "role, created_at) VALUES ($1, $2, $3, 'x', 'k', 'member', 0)",
                (const char *[]){user, "many@example.com"}, 2);
        exec_in(&ts[i],
                S.pg ? "INSERT INTO sessions (tenant_id, id_hash, user_id, created_at, "
                       "last_seen_at, expires_at, idle_expires_at, revoked_at, client_ip, "
                       "user_agent) VALUES ($1, $2, $3, 0, 0, 1, 1, $4::bigint, '', '')"
                     : "INSERT INTO sessions (tenant_id, id_hash, user_id, created_at, "
                       "last_seen_at, expires_at, idle_expires_at, revoked_at, client_ip, "
                       "user_agent) VALUES ($1, $2, $3, 0, 0, 1, 1, CAST($4 AS INTEGER), '', '')",
                (const char *[]){hash, user, when}, 3);
    }
    assert_int_equal(accounts_cleanup(S.acc, &st), ERR_OK);
    assert_int_equal(st.tenants, MANY_TENANTS);
    assert_int_equal(st.sessions, MANY_TENANTS);
    for (int i = 0; i < MANY_TENANTS; i++)
        assert_int_equal(
            query_int(&ts[i], "SELECT count(*) FROM sessions WHERE tenant_id = $1", NULL), 0);
}

static double ms_between(const struct timespec *t0, const struct timespec *t1)
{
    return (double)(t1->tv_sec - t0->tv_sec) * 1e3 + (double)(t1->tv_nsec - t0->tv_nsec) / 1e6;
}

static void test_cleaner(void **state)
{
    (void)state;
    next_ip();
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    struct accounts_session s;
    signup(email, sizeof email, true, &r);
    assert_int_equal(signin(email, PASSWORD, sid, &s), ERR_OK);
    assert_int_equal(accounts_signout(S.acc, s_(sid), &CLIENT), ERR_OK);
    /* the clock moves before the thread starts and stays put while it runs */
    S.now += ACCOUNTS_CLEANUP_GRACE_S;

    struct accounts_cleaner *cl = NULL;
    assert_int_equal(accounts_cleaner_start(NULL, 1, &cl), ERR_INVALID);
    assert_null(cl);
    assert_int_equal(accounts_cleaner_start(S.acc, 1, &cl), ERR_OK);
    int64_t left = 1;
    for (int i = 0; i < 100 && left; i++) { /* rounds every second: up to 10 s */
        struct timespec pause = {0, 100 * 1000000L};
        nanosleep(&pause, NULL);
        left = sessions_of(&s) + tokens_of(&r.user);
    }
    accounts_cleaner_stop(cl);
    assert_int_equal(left, 0);

    /* the default interval is an hour: stopping does not wait for it */
    struct timespec t0, t1;
    assert_int_equal(accounts_cleaner_start(S.acc, 0, &cl), ERR_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    accounts_cleaner_stop(cl);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(ms_between(&t0, &t1) < 1000);
    accounts_cleaner_stop(NULL);
}

/* ---- the session cache ------------------------------------------------------------------ */

#define SHORT_CACHE_MS 100 /* short enough to wait out in a test */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps until the monotonic clock reads at least until_ns. */
static void sleep_until_ns(int64_t until_ns)
{
    struct timespec ts = {(time_t)(until_ns / 1000000000), (long)(until_ns % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

/* Another struct accounts over the suite's database: cache_ms as given, the suite's clock. */
static struct accounts *accounts_cached(unsigned cache_ms)
{
    struct accounts *a = NULL;
    struct accounts_options o = {.db = S.main_app,
                                 .secrets = S.sec,
                                 .ring = &S.ring,
                                 .bcrypt_cost = COST,
                                 .session_cache_ms = cache_ms};
    assert_int_equal(accounts_open(&o, &a), ERR_OK);
    accounts_set_clock(a, fake_clock, NULL);
    accounts_set_request_floor_ms(a, 0);
    return a;
}

static enum err lookup(struct accounts *a, const char *sid, struct accounts_session *s)
{
    return accounts_session_lookup(a, s_(sid), s);
}

static void test_session_cache_options(void **state)
{
    (void)state;
    next_ip();
    struct accounts *a = NULL;
    struct accounts_options o = {.db = S.main_app,
                                 .secrets = S.sec,
                                 .ring = &S.ring,
                                 .bcrypt_cost = COST,
                                 .session_cache_ms = ACCOUNTS_SESSION_CACHE_MAX_MS + 1};
    assert_int_equal(accounts_open(&o, &a), ERR_CONFIG);
    assert_null(a);
    o.session_cache_ms = ACCOUNTS_SESSION_CACHE_MAX_MS;
    assert_int_equal(accounts_open(&o, &a), ERR_OK);
    accounts_close(a);
}

/*
 * A revocation by another process (here a second struct accounts without a
 * cache on the same database, as `shiplog admin` or another server would
 * be): a lookup within the TTL is answered from memory — it does not read
 * the database, which already says revoked — and the first one after the
 * TTL sees the revocation.
 */
static void test_session_cache_other_process(void **state)
{
    (void)state;
    next_ip();
    struct accounts *here = accounts_cached(SHORT_CACHE_MS), *there = accounts_cached(0);
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    struct accounts_session s;
    signup(email, sizeof email, true, &r);
    int from_memory = 0;
    /* a machine that stalls past the TTL proves nothing: try again, a few times */
    for (int attempt = 0; attempt < 5 && !from_memory; attempt++) {
        assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_OK);
        int64_t t0 = mono_ns();
        assert_int_equal(lookup(here, sid, &s), ERR_OK); /* read and cached */
        int64_t t1 = mono_ns();
        assert_int_equal(accounts_signout(there, s_(sid), &CLIENT), ERR_OK);
        assert_int_equal(lookup(there, sid, &s), ERR_UNAUTHENTICATED); /* the database */
        enum err e = lookup(here, sid, &s);
        if (mono_ns() - t0 < (int64_t)SHORT_CACHE_MS * 1000000) {
            assert_int_equal(e, ERR_OK); /* the entry was younger than the TTL */
            assert_string_equal(s.user.user_id, r.user.user_id);
            assert_true(s.email_verified);
            from_memory++;
        }
        /* the entry's age counts from before its read, which ended at t1 */
        sleep_until_ns(t1 + (int64_t)SHORT_CACHE_MS * 1000000);
        assert_int_equal(lookup(here, sid, &s), ERR_UNAUTHENTICATED);
        /* and a refusal is not cached: still refused, the row unchanged */
        assert_int_equal(lookup(here, sid, &s), ERR_UNAUTHENTICATED);
    }
    assert_true(from_memory > 0);

    /* with the cache off the same revocation is seen at once */
    struct accounts *uncached = accounts_cached(0);
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_OK);
    assert_int_equal(lookup(uncached, sid, &s), ERR_OK);
    assert_int_equal(accounts_signout(there, s_(sid), &CLIENT), ERR_OK);
    assert_int_equal(lookup(uncached, sid, &s), ERR_UNAUTHENTICATED);
    accounts_close(uncached);
    accounts_close(there);
    accounts_close(here);
}

/*
 * Changes made through the caching struct accounts are seen by its next
 * lookup, well within the TTL: sign-out, revocation by handle, sign-out
 * everywhere, password reset, verification by token and by magic link.
 */
static void test_session_cache_invalidation(void **state)
{
    (void)state;
    next_ip();
    struct accounts *here = accounts_cached(ACCOUNTS_SESSION_CACHE_MAX_MS);
    struct accounts *there = accounts_cached(0);
    char email[96], other[96], s1[ACCOUNTS_SECRET_LEN + 1], s2[ACCOUNTS_SECRET_LEN + 1],
        so[ACCOUNTS_SECRET_LEN + 1], tok[ACCOUNTS_SECRET_LEN + 1], code[TOKEN_CODE_LEN + 1];
    struct accounts_signup_result r, ro;
    struct accounts_session s, s_other;
    signup(email, sizeof email, false, &r);
    signup(other, sizeof other, true, &ro);
    assert_int_equal(signin(other, PASSWORD, so, NULL), ERR_OK);
    assert_int_equal(lookup(here, so, &s_other), ERR_OK); /* a bystander, cached throughout */

    /* verification: the cached unverified session is verified at once (A2) */
    assert_int_equal(accounts_signin(here, s_(email), s_(PASSWORD), &CLIENT, s1, NULL), ERR_OK);
    assert_int_equal(lookup(here, s1, &s), ERR_OK);
    assert_false(s.email_verified);
    assert_int_equal(accounts_verify_email(here, s_(r.verify_token), &CLIENT, NULL), ERR_OK);
    assert_int_equal(lookup(here, s1, &s), ERR_OK);
    assert_true(s.email_verified);

    /* the entry is really there: another process's revocation is not seen yet ... */
    assert_int_equal(accounts_session_revoke(there, &r.user, s_(s.id_hash), &CLIENT), ERR_OK);
    assert_int_equal(lookup(here, s1, &s), ERR_OK);
    /* ... but this process's sign-out everywhere is (it revokes nothing more itself) */
    uint64_t revoked = 9;
    assert_int_equal(accounts_signout_everywhere(here, &r.user, &CLIENT, &revoked), ERR_OK);
    assert_int_equal(revoked, 0);
    assert_int_equal(lookup(here, s1, &s), ERR_UNAUTHENTICATED);

    /* revocation by handle */
    assert_int_equal(signin(email, PASSWORD, s1, NULL), ERR_OK);
    assert_int_equal(lookup(here, s1, &s), ERR_OK);
    assert_int_equal(accounts_session_revoke(here, &r.user, s_(s.id_hash), &CLIENT), ERR_OK);
    assert_int_equal(lookup(here, s1, &s), ERR_UNAUTHENTICATED);

    /* sign-out */
    assert_int_equal(signin(email, PASSWORD, s1, NULL), ERR_OK);
    assert_int_equal(lookup(here, s1, &s), ERR_OK);
    assert_int_equal(accounts_signout(here, s_(s1), &CLIENT), ERR_OK);
    assert_int_equal(lookup(here, s1, &s), ERR_UNAUTHENTICATED);
    /* sign-out answered from the cache for a row another process revoked: refused, and
     * the stale entry goes with it */
    assert_int_equal(signin(email, PASSWORD, s1, NULL), ERR_OK);
    assert_int_equal(lookup(here, s1, &s), ERR_OK);
    assert_int_equal(accounts_signout(there, s_(s1), &CLIENT), ERR_OK);
    assert_int_equal(accounts_signout(here, s_(s1), &CLIENT), ERR_UNAUTHENTICATED);
    assert_int_equal(lookup(here, s1, &s), ERR_UNAUTHENTICATED);

    /* sign-out everywhere: both cached sessions */
    assert_int_equal(signin(email, PASSWORD, s1, NULL), ERR_OK);
    assert_int_equal(signin(email, PASSWORD, s2, NULL), ERR_OK);
    assert_int_equal(lookup(here, s1, &s), ERR_OK);
    assert_int_equal(lookup(here, s2, &s), ERR_OK);
    assert_int_equal(accounts_signout_everywhere(here, &r.user, &CLIENT, &revoked), ERR_OK);
    assert_int_equal(revoked, 2);
    assert_int_equal(lookup(here, s1, &s), ERR_UNAUTHENTICATED);
    assert_int_equal(lookup(here, s2, &s), ERR_UNAUTHENTICATED);

    /* password reset revokes every session */
    assert_int_equal(signin(email, PASSWORD, s1, NULL), ERR_OK);
    assert_int_equal(lookup(here, s1, &s), ERR_OK);
    assert_int_equal(accounts_password_reset_request(here, s_(email), &CLIENT, tok), ERR_OK);
    assert_int_equal(
        accounts_password_reset(here, s_(tok), s_("a cached passphrase"), &CLIENT, NULL), ERR_OK);
    assert_int_equal(lookup(here, s1, &s), ERR_UNAUTHENTICATED);

    /* a magic link verifies the address: the user's cached sessions say so at once */
    char email3[96];
    struct accounts_signup_result r3;
    signup(email3, sizeof email3, false, &r3);
    assert_int_equal(signin(email3, PASSWORD, s1, NULL), ERR_OK);
    assert_int_equal(lookup(here, s1, &s), ERR_OK);
    assert_false(s.email_verified);
    assert_int_equal(accounts_magic_link_request(here, s_(email3), &CLIENT, tok, code), ERR_OK);
    assert_int_equal(accounts_magic_link_consume(here, s_(tok), &CLIENT, s2, NULL), ERR_OK);
    assert_int_equal(lookup(here, s1, &s), ERR_OK);
    assert_true(s.email_verified);

    /* a cached session under a forged tenant part is still nobody's */
    char forged[ACCOUNTS_SECRET_LEN + 1];
    memcpy(forged, s1, sizeof forged);
    memcpy(forged, ro.user.tenant.id, STORAGE_TENANT_ID_LEN);
    assert_int_equal(lookup(here, forged, &s), ERR_UNAUTHENTICATED);

    /* none of it touched the bystander's entry: another process's revocation of it is
     * still unseen here */
    assert_int_equal(accounts_signout(there, s_(so), &CLIENT), ERR_OK);
    assert_int_equal(lookup(here, so, &s), ERR_OK);
    assert_string_equal(s.user.user_id, ro.user.user_id);
    accounts_close(there);
    accounts_close(here);
}

/*
 * Expiry is checked against the clock hook on every hit: the fake clock
 * moves, real time hardly does, the entry is fresh and still refused; a hit
 * never slides, and a due slide goes to the database.
 */
static void test_session_cache_expiry(void **state)
{
    (void)state;
    next_ip();
    struct accounts *here = accounts_cached(ACCOUNTS_SESSION_CACHE_MAX_MS);
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    struct accounts_session s;
    signup(email, sizeof email, true, &r);

    /* idle */
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_OK);
    int64_t start = S.now;
    assert_int_equal(lookup(here, sid, &s), ERR_OK);
    S.now += ACCOUNTS_SESSION_SLIDE_S - 1;
    assert_int_equal(lookup(here, sid, &s), ERR_OK);
    assert_int_equal(s.last_seen_at, start); /* no slide yet */
    S.now += 1;
    assert_int_equal(lookup(here, sid, &s), ERR_OK);
    assert_int_equal(s.last_seen_at, S.now); /* slid in the database ... */
    assert_int_equal(query_int(&r.user.tenant,
                               "SELECT last_seen_at FROM sessions WHERE tenant_id = $1 "
                               "AND id_hash = $2",
                               s.id_hash),
                     S.now);
    assert_int_equal(lookup(here, sid, &s), ERR_OK); /* ... and the entry refreshed */
    assert_int_equal(s.last_seen_at, S.now);
    S.now += ACCOUNTS_SESSION_IDLE_S;
    assert_int_equal(lookup(here, sid, &s), ERR_UNAUTHENTICATED);

    /* absolute, with a fresh entry a second before the end */
    assert_int_equal(signin(email, PASSWORD, sid, NULL), ERR_OK);
    int64_t end = S.now + ACCOUNTS_SESSION_ABSOLUTE_S;
    while (S.now + 20 * 60 < end) {
        S.now += 20 * 60;
        assert_int_equal(lookup(here, sid, &s), ERR_OK);
    }
    S.now = end - 1;
    assert_int_equal(lookup(here, sid, &s), ERR_OK);
    assert_int_equal(lookup(here, sid, &s), ERR_OK); /* from the cache */
    assert_true(s.idle_expires_at <= end);
    S.now = end;
    assert_int_equal(lookup(here, sid, &s), ERR_UNAUTHENTICATED);
    accounts_close(here);
}

/*
 * Lookups from several threads while the session is revoked: every lookup
 * that begins after the revoking call returned is refused (the generation
 * check; session_cache.c), none fails otherwise.
 */
#define CACHE_THREADS 4
#define CACHE_ROUNDS  5

struct cache_reader {
    struct accounts *a;
    const char *sid;
    atomic_bool *revoked, *stop;
    long lookups, late_ok, errors;
};

static void *cache_reader_main(void *arg)
{
    struct cache_reader *r = arg;
    while (!atomic_load(r->stop)) {
        bool after = atomic_load(r->revoked);
        struct accounts_session s;
        enum err e = lookup(r->a, r->sid, &s);
        r->lookups++;
        if (e == ERR_OK && after)
            r->late_ok++;
        else if (e != ERR_OK && e != ERR_UNAUTHENTICATED)
            r->errors++;
    }
    return NULL;
}

static void test_session_cache_threads(void **state)
{
    (void)state;
    next_ip();
    struct accounts *here = accounts_cached(ACCOUNTS_SESSION_CACHE_MAX_MS);
    char email[96], sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_signup_result r;
    struct accounts_session s;
    signup(email, sizeof email, true, &r);
    long lookups = 0;
    for (int round = 0; round < CACHE_ROUNDS; round++) {
        assert_int_equal(signin(email, PASSWORD, sid, &s), ERR_OK);
        atomic_bool revoked = false, stop = false;
        struct cache_reader rd[CACHE_THREADS];
        pthread_t th[CACHE_THREADS];
        for (int i = 0; i < CACHE_THREADS; i++) {
            rd[i] =
                (struct cache_reader){.a = here, .sid = sid, .revoked = &revoked, .stop = &stop};
            assert_int_equal(pthread_create(&th[i], NULL, cache_reader_main, &rd[i]), 0);
        }
        struct timespec pause = {0, 20 * 1000000L};
        nanosleep(&pause, NULL);
        if (round % 2)
            assert_int_equal(accounts_session_revoke(here, &r.user, s_(s.id_hash), &CLIENT),
                             ERR_OK);
        else
            assert_int_equal(accounts_signout_everywhere(here, &r.user, &CLIENT, NULL), ERR_OK);
        atomic_store(&revoked, true);
        nanosleep(&pause, NULL);
        atomic_store(&stop, true);
        for (int i = 0; i < CACHE_THREADS; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(rd[i].late_ok, 0);
            assert_int_equal(rd[i].errors, 0);
            lookups += rd[i].lookups;
        }
    }
    printf("# %ld lookups from %d threads\n", lookups, CACHE_THREADS);
    accounts_close(here);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signup),
        cmocka_unit_test(test_signup_limits),
        cmocka_unit_test(test_slug_of),
        cmocka_unit_test(test_verify_email),
        cmocka_unit_test(test_signin),
        cmocka_unit_test(test_lockout),
        cmocka_unit_test(test_lockout_ip),
        cmocka_unit_test(test_timing),
        cmocka_unit_test(test_session_timeouts),
        cmocka_unit_test(test_sessions_manage),
        cmocka_unit_test(test_password_reset),
        cmocka_unit_test(test_password_check_for_tokens),
        cmocka_unit_test(test_signin_racing_a_reset),
        cmocka_unit_test(test_magic_link),
        cmocka_unit_test(test_isolation),
        cmocka_unit_test(test_rehash_rotation),
        cmocka_unit_test(test_mailer),
        cmocka_unit_test(test_verify_resend),
        cmocka_unit_test(test_magic_code_keyed),
        cmocka_unit_test(test_request_timing),
        cmocka_unit_test(test_cleanup),
        cmocka_unit_test(test_cleanup_many_tenants),
        cmocka_unit_test(test_cleaner),
        cmocka_unit_test(test_session_cache_options),
        cmocka_unit_test(test_session_cache_other_process),
        cmocka_unit_test(test_session_cache_invalidation),
        cmocka_unit_test(test_session_cache_expiry),
        cmocka_unit_test(test_session_cache_threads),
    };
    return cmocka_run_group_tests_name("accounts", tests, suite_setup, suite_teardown);
}
