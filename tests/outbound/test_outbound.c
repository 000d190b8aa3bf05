/*
 * Outbound webhooks suite (W3; outbound/outbound.h): the Standard Webhooks
 * test vector; endpoints registered with a secret shown once and stored only
 * sealed, their limits and the URL policy; events queued as messages with
 * jobs; delivery through the job runner to a local receiver
 * (tests/common/testhttpd) whose request is verified here with OpenSSL
 * directly, not with shiplog's signer; retry then success; dead after the
 * last attempt; a private target refused without the operator's allowance;
 * rotation; deletion with the log; the test event; tenant isolation (and on
 * PostgreSQL the row-level security policies), against whichever backend the
 * environment selects:
 *
 *   SHIPLOG_TEST_PG_{OWNER,APP,VAULT_OWNER,VAULT_APP}_URL set (scripts/pgtmp
 *   run): PostgreSQL; otherwise SQLite files in a fresh mkdtemp directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../common/testdb.h"
#include "../common/testhttpd.h"

#include "crypto/keyring.h"
#include "jobs/jobs.h"
#include "outbound/outbound.h"
#include "secrets/secrets.h"

#define KEY_A "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define NOW   INT64_C(1700000000)

struct suite {
    bool pg;
    char dir[64];
    char main_path[128], vault_path[128];
    struct storage *main_app, *vault_app;
    struct keyring ring;
    struct secrets *sec;
    struct testhttpd srv;
};

static struct suite S;
static const struct httpc_policy allow_private = {.allow_private = true};

static int suite_setup(void **state)
{
    (void)state;
    const char *owner = getenv("SHIPLOG_TEST_PG_OWNER_URL"),
               *app = getenv("SHIPLOG_TEST_PG_APP_URL");
    const char *vowner = getenv("SHIPLOG_TEST_PG_VAULT_OWNER_URL");
    const char *vapp = getenv("SHIPLOG_TEST_PG_VAULT_APP_URL");
    S.pg = owner && owner[0] && app && app[0] && vowner && vowner[0] && vapp && vapp[0];
    if (!S.pg) {
        owner = app = vowner = vapp = NULL;
        snprintf(S.dir, sizeof S.dir, "/tmp/shiplog-outbound-XXXXXX");
        if (!mkdtemp(S.dir))
            return -1;
        snprintf(S.main_path, sizeof S.main_path, "%s/shiplog.db", S.dir);
        snprintf(S.vault_path, sizeof S.vault_path, "%s/keyvault.db", S.dir);
    }
    const char *mp = S.pg ? NULL : S.main_path, *vp = S.pg ? NULL : S.vault_path;
    struct storage *m = testdb_open(STORAGE_SCHEMA_MAIN, owner, mp, true);
    struct storage *v = testdb_open(STORAGE_SCHEMA_VAULT, vowner, vp, true);
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
    S.main_app = testdb_open(STORAGE_SCHEMA_MAIN, app, mp, false);
    S.vault_app = testdb_open(STORAGE_SCHEMA_VAULT, vapp, vp, false);
    if (!S.main_app || !S.vault_app)
        return -1;
    testdb_load_ring(S.pg ? "/tmp" : S.dir, KEY_A, NULL, &S.ring);
    if (secrets_open(S.main_app, S.vault_app, &S.ring, &S.sec) != ERR_OK)
        return -1;
    if (!testhttpd_start(&S.srv))
        return -1;
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
    testhttpd_stop(&S.srv);
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

static struct jobs_round run(const struct httpc_policy *policy, int64_t now);

/*
 * Before each test the receiver answers 200 "ok" again and the jobs earlier tests
 * left are run to their end (a round runs every tenant's due jobs), so a test
 * counts only its own.
 */
static int test_setup(void **state)
{
    (void)state;
    pthread_mutex_lock(&S.srv.lock);
    S.srv.status = 200;
    S.srv.reply = "ok";
    S.srv.delay_ms = 0;
    pthread_mutex_unlock(&S.srv.lock);
    for (int i = 0; i < 50 && run(&allow_private, NOW + 10000000).claimed; i++)
        ;
    return 0;
}

/* ---- helpers -------------------------------------------------------------------- */

static char USER[37];

static struct outbound_actor actor(void)
{
    if (!USER[0])
        testdb_random_uuid(USER);
    return (struct outbound_actor){
        .user_id = USER, .key_id = NULL, .client_ip = "192.0.2.9", .request_id = "req-out"};
}

/* A tenant row with a data key. */
static void new_tenant(struct tenant_ctx *t)
{
    testdb_random_uuid(t->id);
    assert_int_equal(secrets_tenant_key_create(S.sec, t), ERR_OK);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.main_app, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_exec_args(tx, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, 'T')",
                                  STORAGE_ARGS(STORAGE_CSTR(t->id)), NULL),
                     ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static enum err try_create(const struct tenant_ctx *t, const char *url, const char *description,
                           const struct httpc_policy *policy, const char **reason)
{
    struct outbound_actor who = actor();
    struct outbound_endpoint out;
    struct outbound_secret secret;
    enum err e = outbound_endpoint_create(S.main_app, S.sec, t, &who, policy, str_from_cstr(url),
                                          str_from_cstr(description), NOW, &out, &secret, reason);
    outbound_secret_wipe(&secret);
    return e;
}

/* An endpoint of t at the receiver's path. */
static void create_receiver(const struct tenant_ctx *t, const char *path,
                            struct outbound_endpoint *out, struct outbound_secret *secret)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", S.srv.port, path);
    struct outbound_actor who = actor();
    const char *reason = NULL;
    enum err e =
        outbound_endpoint_create(S.main_app, S.sec, t, &who, &allow_private, str_from_cstr(url),
                                 STR_LIT("receiver"), NOW, out, secret, &reason);
    if (e)
        fail_msg("create: %s (%s)", err_name(e), reason ? reason : "-");
}

static void enqueue(const struct tenant_ctx *t, const char *type, const char *data, int64_t now)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.main_app, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(outbound_enqueue(tx, str_from_cstr(type), str_from_cstr(data), now), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static enum err try_enqueue(const struct tenant_ctx *t, struct str type, struct str data)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.main_app, t, TX_WRITE, &tx), ERR_OK);
    enum err e = outbound_enqueue(tx, type, data, NOW);
    storage_rollback(tx);
    return e;
}

/* One round of the runner with the outbound handler under policy. */
static struct jobs_round run(const struct httpc_policy *policy, int64_t now)
{
    struct outbound_runtime rt = {.secrets = S.sec, .policy = *policy, .timeout_ms = 3000};
    struct jobs_handler h = outbound_job_deliver;
    h.arg = &rt;
    struct jobs_round r;
    assert_int_equal(jobs_run_round(S.main_app, &h, 1, now, 0, NULL, &r), ERR_OK);
    return r;
}

/* The newest messages of endpoint id (at most OUTBOUND_LOG_PAGE), heap. */
static struct outbound_message *log_of(const struct tenant_ctx *t, const char *id, size_t *n)
{
    struct outbound_message *m = calloc(OUTBOUND_LOG_PAGE, sizeof *m);
    assert_non_null(m);
    assert_int_equal(outbound_log(S.main_app, t, str_from_cstr(id), STR_NULL, m, n), ERR_OK);
    return m;
}

static bool contains(const struct buf *b, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; b->len >= n && i <= b->len - n; i++)
        if (memcmp(b->data + i, needle, n) == 0)
            return true;
    return false;
}

static int connections(void)
{
    pthread_mutex_lock(&S.srv.lock);
    int n = S.srv.connections;
    pthread_mutex_unlock(&S.srv.lock);
    return n;
}

/* "<id>.<ts>.<body>" into out; its length. */
static size_t join_content(char *out, const char *id, const char *ts, const char *body, size_t blen)
{
    size_t n = 0, k = strlen(id);
    memcpy(out + n, id, k);
    n += k;
    out[n++] = '.';
    k = strlen(ts);
    memcpy(out + n, ts, k);
    n += k;
    out[n++] = '.';
    memcpy(out + n, body, blen);
    return n + blen;
}

/*
 * Checks the receiver's last request the way a receiver would, with OpenSSL
 * and nothing of shiplog: the secret's key, HMAC-SHA256 over
 * "<webhook-id>.<webhook-timestamp>.<body>", base64, after "v1,".
 */
static void verify_last_request(const char *secret, const char *msg_id, int64_t ts)
{
    char id[128], tsv[64], sig[256], type[128];
    assert_true(testhttpd_header(&S.srv, "webhook-id", id, sizeof id));
    assert_true(testhttpd_header(&S.srv, "webhook-timestamp", tsv, sizeof tsv));
    assert_true(testhttpd_header(&S.srv, "webhook-signature", sig, sizeof sig));
    assert_true(testhttpd_header(&S.srv, "Content-Type", type, sizeof type));
    assert_string_equal(type, "application/json");
    if (msg_id)
        assert_string_equal(id, msg_id);
    char want_ts[32];
    snprintf(want_ts, sizeof want_ts, "%lld", (long long)ts);
    assert_string_equal(tsv, want_ts);

    const char *b64 = secret + strlen("whsec_");
    unsigned char key[64];
    int klen = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)strlen(b64));
    assert_true(klen >= 32);
    klen -= (b64[strlen(b64) - 1] == '=') + (b64[strlen(b64) - 2] == '=');
    assert_int_equal(klen, 32);
    pthread_mutex_lock(&S.srv.lock);
    size_t blen = S.srv.body_got;
    char *content = malloc(strlen(id) + strlen(tsv) + blen + 3);
    assert_non_null(content);
    size_t n = join_content(content, id, tsv, S.srv.body, blen);
    pthread_mutex_unlock(&S.srv.lock);
    unsigned char mac[32];
    unsigned int mlen = 0;
    assert_non_null(HMAC(EVP_sha256(), key, klen, (const unsigned char *)content, n, mac, &mlen));
    free(content);
    char want[64] = "v1,";
    EVP_EncodeBlock((unsigned char *)want + 3, mac, (int)mlen);
    assert_string_equal(sig, want);
}

/* ---- tests ---------------------------------------------------------------------- */

/* The vector of the Standard Webhooks reference libraries (checked with openssl dgst). */
#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS     1614265330
#define SW_BODY   "{\"test\": 2432232314}"
#define SW_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static void test_sign_vector(void **state)
{
    (void)state;
    char sig[OUTBOUND_SIGNATURE_LEN + 1];
    assert_int_equal(
        outbound_sign(STR_LIT(SW_SECRET), STR_LIT(SW_ID), SW_TS, STR_LIT(SW_BODY), sig), ERR_OK);
    assert_string_equal(sig, SW_SIG);
    /* another body, id or time signs differently */
    assert_int_equal(
        outbound_sign(STR_LIT(SW_SECRET), STR_LIT(SW_ID), SW_TS + 1, STR_LIT(SW_BODY), sig),
        ERR_OK);
    assert_string_not_equal(sig, SW_SIG);
    /* refusals: no prefix, not base64, a key under 24 bytes, an id with '.', negative time */
    assert_int_equal(outbound_sign(STR_LIT("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), STR_LIT(SW_ID),
                                   SW_TS, STR_LIT(SW_BODY), sig),
                     ERR_INVALID);
    assert_int_equal(
        outbound_sign(STR_LIT("whsec_!!!!"), STR_LIT(SW_ID), SW_TS, STR_LIT(SW_BODY), sig),
        ERR_INVALID);
    assert_int_equal(outbound_sign(STR_LIT("whsec_MfKQ9r8GKYqrTwjUPD8ILPZI"), STR_LIT(SW_ID), SW_TS,
                                   STR_LIT(SW_BODY), sig),
                     ERR_INVALID); /* 21 bytes */
    assert_int_equal(outbound_sign(STR_LIT("whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw"),
                                   STR_LIT(SW_ID), SW_TS, STR_LIT(SW_BODY), sig),
                     ERR_INVALID);
    assert_int_equal(
        outbound_sign(STR_LIT(SW_SECRET), STR_LIT("msg.1"), SW_TS, STR_LIT(SW_BODY), sig),
        ERR_INVALID);
    assert_int_equal(outbound_sign(STR_LIT(SW_SECRET), STR_LIT(SW_ID), -1, STR_LIT(SW_BODY), sig),
                     ERR_INVALID);
    /* the secret at its limit (64 key bytes: 88 characters of base64) and one past it */
    char longer[OUTBOUND_MAX_SECRET + 2];
    memcpy(longer, "whsec_", 6);
    memset(longer + 6, 'A', OUTBOUND_MAX_SECRET - 6);
    memcpy(longer + OUTBOUND_MAX_SECRET - 2, "==", 2);
    longer[OUTBOUND_MAX_SECRET] = '\0';
    assert_int_equal(
        outbound_sign(str_from_cstr(longer), STR_LIT(SW_ID), SW_TS, STR_LIT(SW_BODY), sig), ERR_OK);
    longer[OUTBOUND_MAX_SECRET] = 'A';
    longer[OUTBOUND_MAX_SECRET + 1] = '\0';
    assert_int_equal(
        outbound_sign(str_from_cstr(longer), STR_LIT(SW_ID), SW_TS, STR_LIT(SW_BODY), sig),
        ERR_LIMIT);
}

static void test_create_list_get(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct outbound_actor who = actor();
    struct outbound_endpoint ep;
    struct outbound_secret secret;
    const char *reason = NULL;
    assert_int_equal(outbound_endpoint_create(S.main_app, S.sec, &t, &who, NULL,
                                              STR_LIT("https://hooks.example.com/shiplog?x=1"),
                                              STR_LIT("Ops channel"), NOW, &ep, &secret, &reason),
                     ERR_OK);
    /* whsec_ + base64 of 32 bytes */
    assert_int_equal(strlen(secret.text), 6 + 44);
    assert_memory_equal(secret.text, "whsec_", 6);
    assert_true(str_is_uuid(str_from_cstr(ep.id)));
    assert_string_equal(ep.url, "https://hooks.example.com/shiplog?x=1");
    assert_string_equal(ep.description, "Ops channel");
    assert_string_equal(ep.secret_hint, secret.text + strlen(secret.text) - 4);
    assert_string_equal(ep.created_by, USER);
    assert_int_equal(ep.created_at, NOW);

    struct outbound_endpoint got;
    assert_int_equal(outbound_endpoint_get(S.main_app, &t, str_from_cstr(ep.id), &got), ERR_OK);
    assert_string_equal(got.url, ep.url);
    assert_string_equal(got.secret_hint, ep.secret_hint);
    struct outbound_endpoint list[OUTBOUND_MAX_PER_TENANT];
    size_t n = 0;
    assert_int_equal(outbound_endpoint_list(S.main_app, &t, list, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, ep.id);

    /* stored sealed: neither the secret nor its key text is in the row or the audit trail */
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(S.main_app, &t, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_query(tx,
                              "SELECT secret_env FROM outbound_endpoints"
                              " WHERE tenant_id = $1 AND id = $2",
                              STORAGE_ARGS(STORAGE_CSTR(ep.id)), &st, &row),
                     ERR_OK);
    assert_true(row);
    struct buf all = BUF_INIT(1 << 20);
    struct str env = stmt_col_blob(st, 0);
    assert_int_equal(buf_append(&all, env.ptr, env.len), ERR_OK);
    stmt_finish(st);
    assert_int_equal(tx_query(tx,
                              "SELECT action, target, details FROM audit_log"
                              " WHERE tenant_id = $1 ORDER BY seq",
                              NULL, 0, &st, &row),
                     ERR_OK);
    unsigned created = 0;
    while (row) {
        for (int c = 0; c < 3; c++) {
            struct str v = stmt_col_text(st, c);
            assert_int_equal(buf_append(&all, v.ptr, v.len), ERR_OK);
        }
        if (str_eq_cstr(stmt_col_text(st, 0), "outbound.endpoint_created"))
            created++;
        assert_int_equal(stmt_step(st, &row), ERR_OK);
    }
    stmt_finish(st);
    storage_rollback(tx);
    assert_int_equal(created, 1);
    assert_false(contains(&all, secret.text + 6));
    buf_release(&all);
    outbound_secret_wipe(&secret);
}

static void test_create_refusals(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    const char *reason = NULL;
    const char *bad[] = {"ftp://example.com/",
                         "file:///etc/passwd",
                         "example.com/hook",
                         "http://user:pw@example.com/",
                         "http://",
                         "javascript:alert(1)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(try_create(&t, bad[i], "", &allow_private, &reason), ERR_INVALID);
        assert_memory_equal(reason, "url", 3);
    }
    /* literal non-public addresses: refused unless the operator allows private targets */
    const char *private_urls[] = {"http://127.0.0.1:8080/",
                                  "http://[::1]/",
                                  "http://169.254.169.254/latest/meta-data/",
                                  "http://10.0.0.7/",
                                  "http://[::ffff:192.168.0.1]/",
                                  "http://localhost/",
                                  "http://0x7f000001/"};
    for (size_t i = 0; i < sizeof private_urls / sizeof private_urls[0]; i++) {
        assert_int_equal(try_create(&t, private_urls[i], "", NULL, &reason), ERR_FORBIDDEN);
        assert_memory_equal(reason, "url points to", 13);
    }
    assert_int_equal(try_create(&t, "http://127.0.0.1:8080/", "", &allow_private, &reason), ERR_OK);

    /* the URL at its limit and one byte past it */
    char url[OUTBOUND_MAX_URL + 2];
    int k = snprintf(url, sizeof url, "https://example.com/");
    memset(url + k, 'a', sizeof url - (size_t)k);
    url[OUTBOUND_MAX_URL] = '\0';
    assert_int_equal(try_create(&t, url, "", NULL, &reason), ERR_OK);
    url[OUTBOUND_MAX_URL] = 'a';
    url[OUTBOUND_MAX_URL + 1] = '\0';
    assert_int_equal(try_create(&t, url, "", NULL, &reason), ERR_LIMIT);
    assert_string_equal(reason, "url too long");

    /* the description at its limit and one byte past it; control characters */
    char d[OUTBOUND_MAX_DESCRIPTION + 2];
    memset(d, 'd', sizeof d);
    d[OUTBOUND_MAX_DESCRIPTION] = '\0';
    assert_int_equal(try_create(&t, "https://example.com/", d, NULL, &reason), ERR_OK);
    d[OUTBOUND_MAX_DESCRIPTION] = 'd';
    d[OUTBOUND_MAX_DESCRIPTION + 1] = '\0';
    assert_int_equal(try_create(&t, "https://example.com/", d, NULL, &reason), ERR_LIMIT);
    assert_int_equal(try_create(&t, "https://example.com/", "a\x01b", NULL, &reason), ERR_INVALID);
    assert_int_equal(try_create(&t, "https://example.com/", "\xff", NULL, &reason), ERR_INVALID);

    /* the number of endpoints at the limit and one past it (3 made above) */
    for (int i = 3; i < OUTBOUND_MAX_PER_TENANT; i++)
        assert_int_equal(try_create(&t, "https://example.com/", "", NULL, &reason), ERR_OK);
    assert_int_equal(try_create(&t, "https://example.com/", "", NULL, &reason), ERR_LIMIT);
    assert_string_equal(reason, OUTBOUND_REASON_FULL);
}

static void test_enqueue(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    /* nothing registered: nothing written */
    enqueue(&t, "entry.published", "{}", NOW);
    struct outbound_endpoint a, b;
    struct outbound_secret sa, sb;
    create_receiver(&t, "/a", &a, &sa);
    create_receiver(&t, "/b", &b, &sb);
    outbound_secret_wipe(&sa);
    outbound_secret_wipe(&sb);
    /* a disabled endpoint gets no message */
    struct outbound_actor who = actor();
    struct outbound_endpoint after;
    assert_int_equal(outbound_endpoint_set_disabled(S.main_app, &t, &who, str_from_cstr(b.id), true,
                                                    NOW, &after),
                     ERR_OK);
    assert_int_equal(after.disabled_at, NOW);
    /* disabling again keeps the first time */
    assert_int_equal(outbound_endpoint_set_disabled(S.main_app, &t, &who, str_from_cstr(b.id), true,
                                                    NOW + 9, &after),
                     ERR_OK);
    assert_int_equal(after.disabled_at, NOW);
    struct tx *tx = NULL;

    enqueue(&t, "entry.published", "{\"id\":\"e1\",\"title\":\"Caf\xc3\xa9\"}", NOW);
    size_t n = 0;
    struct outbound_message *m = log_of(&t, a.id, &n);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].event_type, "entry.published");
    assert_int_equal(m[0].status, OUTBOUND_PENDING);
    assert_int_equal(m[0].attempts, 0);
    assert_memory_equal(m[0].id, "msg_", 4);
    struct buf p = BUF_INIT(OUTBOUND_MAX_PAYLOAD);
    assert_int_equal(outbound_payload(S.main_app, &t, str_from_cstr(m[0].id), &p), ERR_OK);
    assert_string_equal(buf_cstr(&p), "{\"type\":\"entry.published\",\"timestamp\":"
                                      "\"2023-11-14T22:13:20Z\",\"data\":{\"id\":\"e1\","
                                      "\"title\":\"Caf\xc3\xa9\"}}");
    buf_release(&p);
    free(m);
    m = log_of(&t, b.id, &n);
    assert_int_equal(n, 0);
    free(m);
    /* its job is queued */
    struct jobs_info jobs[JOBS_LIST_MAX];
    struct jobs_cursor next;
    assert_int_equal(storage_begin(S.main_app, &t, TX_READ, &tx), ERR_OK);
    assert_int_equal(jobs_list(tx, JOBS_PENDING, NULL, JOBS_LIST_MAX, jobs, &n, &next), ERR_OK);
    storage_rollback(tx);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0].kind, OUTBOUND_JOB_KIND);

    /* event type and data: limits and refusals */
    char type[OUTBOUND_MAX_EVENT_TYPE + 2];
    memset(type, 'e', sizeof type);
    assert_int_equal(try_enqueue(&t, str_from(type, OUTBOUND_MAX_EVENT_TYPE), STR_LIT("1")),
                     ERR_OK);
    assert_int_equal(try_enqueue(&t, str_from(type, OUTBOUND_MAX_EVENT_TYPE + 1), STR_LIT("1")),
                     ERR_LIMIT);
    assert_int_equal(try_enqueue(&t, STR_LIT(""), STR_LIT("1")), ERR_INVALID);
    assert_int_equal(try_enqueue(&t, STR_LIT("Entry"), STR_LIT("1")), ERR_INVALID);
    assert_int_equal(try_enqueue(&t, STR_LIT("a\"b"), STR_LIT("1")), ERR_INVALID);
    assert_int_equal(try_enqueue(&t, STR_LIT("x"), STR_LIT("")), ERR_INVALID);
    assert_int_equal(try_enqueue(&t, STR_LIT("x"), STR_LIT("{\"a\":")), ERR_INVALID);
    assert_int_equal(try_enqueue(&t, STR_LIT("x"), STR_LIT("{} {}")), ERR_INVALID);
    char *big = malloc(OUTBOUND_MAX_DATA + 1);
    assert_non_null(big);
    memset(big, ' ', OUTBOUND_MAX_DATA + 1);
    big[0] = '"';
    big[OUTBOUND_MAX_DATA - 1] = '"';
    assert_int_equal(try_enqueue(&t, STR_LIT("x"), str_from(big, OUTBOUND_MAX_DATA)), ERR_OK);
    assert_int_equal(try_enqueue(&t, STR_LIT("x"), str_from(big, OUTBOUND_MAX_DATA + 1)),
                     ERR_LIMIT);
    free(big);
}

static void test_delivery_signed(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct outbound_endpoint ep;
    struct outbound_secret secret;
    create_receiver(&t, "/hook", &ep, &secret);
    enqueue(&t, "entry.published", "{\"n\":1}", NOW);
    size_t n = 0;
    struct outbound_message *m = log_of(&t, ep.id, &n);
    assert_int_equal(n, 1);
    char msg_id[OUTBOUND_MSG_ID_LEN + 1];
    memcpy(msg_id, m[0].id, sizeof msg_id);
    free(m);

    int before = connections();
    struct jobs_round r = run(&allow_private, NOW + 1);
    assert_int_equal(r.done, 1);
    assert_int_equal(connections(), before + 1);
    assert_non_null(strstr(S.srv.head, "POST /hook HTTP/1.1\r\n"));
    verify_last_request(secret.text, msg_id, NOW + 1);
    /* the body is the stored payload, byte for byte */
    struct buf p = BUF_INIT(OUTBOUND_MAX_PAYLOAD);
    assert_int_equal(outbound_payload(S.main_app, &t, str_from_cstr(msg_id), &p), ERR_OK);
    assert_int_equal(S.srv.body_got, p.len);
    assert_memory_equal(S.srv.body, p.data, p.len);
    buf_release(&p);

    m = log_of(&t, ep.id, &n);
    assert_int_equal(n, 1);
    assert_int_equal(m[0].status, OUTBOUND_DELIVERED);
    assert_int_equal(m[0].attempts, 1);
    assert_int_equal(m[0].last_status, 200);
    assert_int_equal(m[0].delivered_at, NOW + 1);
    assert_int_equal(m[0].n_tries, 1);
    assert_true(m[0].tries[0].delivered);
    assert_int_equal(m[0].tries[0].http_status, 200);
    free(m);
    /* nothing is due any more */
    r = run(&allow_private, NOW + 100000);
    assert_int_equal(r.claimed, 0);
    outbound_secret_wipe(&secret);
}

static void test_retry_then_success(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct outbound_endpoint ep;
    struct outbound_secret secret;
    create_receiver(&t, "/flaky", &ep, &secret);
    enqueue(&t, "entry.published", "[1,2]", NOW);
    S.srv.status = 503;
    struct jobs_round r = run(&allow_private, NOW);
    assert_int_equal(r.retried, 1);
    size_t n = 0;
    struct outbound_message *m = log_of(&t, ep.id, &n);
    assert_int_equal(m[0].status, OUTBOUND_FAILED);
    assert_int_equal(m[0].attempts, 1);
    assert_int_equal(m[0].last_status, 503);
    assert_string_equal(m[0].last_error, "HTTP 503");
    assert_int_equal(m[0].next_attempt_at, NOW + JOBS_BACKOFF_BASE_S);
    free(m);
    /* not due before the backoff */
    r = run(&allow_private, NOW + JOBS_BACKOFF_BASE_S - 1);
    assert_int_equal(r.claimed, 0);
    /* a timeout is a failed attempt too; the wait doubles */
    S.srv.status = 200;
    S.srv.delay_ms = 1500;
    struct outbound_runtime rt = {.secrets = S.sec, .policy = allow_private, .timeout_ms = 300};
    struct jobs_handler h = outbound_job_deliver;
    h.arg = &rt;
    assert_int_equal(jobs_run_round(S.main_app, &h, 1, NOW + JOBS_BACKOFF_BASE_S, 0, NULL, &r),
                     ERR_OK);
    assert_int_equal(r.retried, 1);
    S.srv.delay_ms = 0;
    usleep(1600 * 1000); /* the receiver finishes the request it was slow on */
    m = log_of(&t, ep.id, &n);
    assert_int_equal(m[0].attempts, 2);
    assert_int_equal(m[0].last_status, 0);
    assert_string_equal(m[0].last_error, "timed out");
    assert_int_equal(m[0].next_attempt_at, NOW + 3 * JOBS_BACKOFF_BASE_S);
    free(m);
    r = run(&allow_private, NOW + 3 * JOBS_BACKOFF_BASE_S);
    assert_int_equal(r.done, 1);
    verify_last_request(secret.text, NULL, NOW + 3 * JOBS_BACKOFF_BASE_S);
    m = log_of(&t, ep.id, &n);
    assert_int_equal(m[0].status, OUTBOUND_DELIVERED);
    assert_int_equal(m[0].attempts, 3);
    assert_int_equal(m[0].next_attempt_at, 0);
    assert_string_equal(m[0].last_error, "");
    assert_int_equal(m[0].n_tries, 3);
    assert_false(m[0].tries[0].delivered);
    assert_int_equal(m[0].tries[0].http_status, 503);
    assert_false(m[0].tries[1].delivered);
    assert_string_equal(m[0].tries[1].error, "timed out");
    assert_true(m[0].tries[2].delivered);
    assert_int_equal(m[0].tries[2].attempt, 3);
    free(m);
    outbound_secret_wipe(&secret);
}

/* Slow receivers: the jobs of one claim are sent for at most the batch budget. */
static void test_batch_budget(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct outbound_endpoint ep;
    struct outbound_secret secret;
    create_receiver(&t, "/slow", &ep, &secret);
    outbound_secret_wipe(&secret);
    enqueue(&t, "entry.published", "1", NOW);
    enqueue(&t, "entry.published", "2", NOW);
    S.srv.delay_ms = 400;
    struct outbound_runtime rt = {
        .secrets = S.sec, .policy = allow_private, .timeout_ms = 3000, .batch_budget_ms = 200};
    struct jobs_handler h = outbound_job_deliver;
    h.arg = &rt;
    int before = connections();
    struct jobs_round r;
    assert_int_equal(jobs_run_round(S.main_app, &h, 1, NOW, 0, NULL, &r), ERR_OK);
    assert_int_equal(r.claimed, 2);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.retried, 1);
    assert_int_equal(connections(), before + 1); /* the second was not sent */
    size_t n = 0;
    struct outbound_message *m = log_of(&t, ep.id, &n);
    assert_int_equal(n, 2);
    unsigned postponed = 0;
    for (size_t i = 0; i < n; i++)
        if (m[i].status == OUTBOUND_FAILED) {
            assert_string_equal(m[i].last_error, "postponed: this round's deliveries ran long");
            postponed++;
        }
    assert_int_equal(postponed, 1);
    free(m);
    /* the next claim has a budget of its own */
    S.srv.delay_ms = 0;
    assert_int_equal(run(&allow_private, NOW + JOBS_BACKOFF_BASE_S).done, 1);
}

static void test_dead_after_last_attempt(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct outbound_endpoint ep;
    struct outbound_secret secret;
    create_receiver(&t, "/down", &ep, &secret);
    outbound_secret_wipe(&secret);
    enqueue(&t, "entry.published", "null", NOW);
    S.srv.status = 500;
    int64_t now = NOW;
    for (int i = 1; i <= JOBS_MAX_ATTEMPTS; i++) {
        struct jobs_round r = run(&allow_private, now);
        assert_int_equal(r.claimed, 1);
        assert_int_equal(i < JOBS_MAX_ATTEMPTS ? r.retried : r.dead, 1);
        now += JOBS_BACKOFF_MAX_S;
    }
    size_t n = 0;
    struct outbound_message *m = log_of(&t, ep.id, &n);
    assert_int_equal(m[0].status, OUTBOUND_DEAD);
    assert_int_equal(m[0].attempts, JOBS_MAX_ATTEMPTS);
    assert_int_equal(m[0].next_attempt_at, 0);
    assert_int_equal(m[0].n_tries, JOBS_MAX_ATTEMPTS);
    free(m);
    assert_int_equal(run(&allow_private, now + 100000).claimed, 0);
}

static void test_private_target_refused(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct outbound_endpoint ep;
    struct outbound_secret secret;
    /* registered while private targets were allowed; the operator then takes that back */
    create_receiver(&t, "/private", &ep, &secret);
    outbound_secret_wipe(&secret);
    enqueue(&t, "entry.published", "{}", NOW);
    int before = connections();
    const struct httpc_policy deny = {.allow_private = false};
    struct jobs_round r = run(&deny, NOW);
    assert_int_equal(r.dead, 1); /* retrying cannot help */
    assert_int_equal(connections(), before);
    size_t n = 0;
    struct outbound_message *m = log_of(&t, ep.id, &n);
    assert_int_equal(m[0].status, OUTBOUND_DEAD);
    assert_string_equal(m[0].last_error, "address refused by the outbound policy");
    assert_int_equal(m[0].n_tries, 1);
    free(m);
}

static void test_rotate_delete_test_event(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct outbound_endpoint ep, after;
    struct outbound_secret s1, s2;
    create_receiver(&t, "/rot", &ep, &s1);
    struct outbound_actor who = actor();
    assert_int_equal(outbound_endpoint_rotate(S.main_app, S.sec, &t, &who, str_from_cstr(ep.id),
                                              NOW + 5, &after, &s2),
                     ERR_OK);
    assert_string_not_equal(s1.text, s2.text);
    assert_int_equal(after.rotated_at, NOW + 5);
    assert_string_equal(after.secret_hint, s2.text + strlen(s2.text) - 4);

    /* the test event goes to this endpoint, signed with the new secret */
    char msg_id[OUTBOUND_MSG_ID_LEN + 1];
    assert_int_equal(outbound_send_test(S.main_app, &t, str_from_cstr(ep.id), NOW + 6, msg_id),
                     ERR_OK);
    assert_int_equal(run(&allow_private, NOW + 6).done, 1);
    verify_last_request(s2.text, msg_id, NOW + 6);
    assert_non_null(strstr(S.srv.body, "\"type\":\"webhook.test\""));
    assert_non_null(strstr(S.srv.body, ep.id));

    /* deleting takes the log along; a job still queued then finds nothing to send */
    enqueue(&t, "entry.published", "{}", NOW + 7);
    assert_int_equal(outbound_endpoint_delete(S.main_app, &t, &who, str_from_cstr(ep.id)), ERR_OK);
    struct outbound_message m[1];
    size_t n = 0;
    assert_int_equal(outbound_log(S.main_app, &t, str_from_cstr(ep.id), STR_NULL, m, &n),
                     ERR_NOT_FOUND);
    int before = connections();
    struct jobs_round r = run(&allow_private, NOW + 7);
    assert_int_equal(r.done, 1);
    assert_int_equal(connections(), before);
    assert_int_equal(outbound_endpoint_delete(S.main_app, &t, &who, str_from_cstr(ep.id)),
                     ERR_NOT_FOUND);
    assert_int_equal(outbound_send_test(S.main_app, &t, str_from_cstr(ep.id), NOW, NULL),
                     ERR_NOT_FOUND);
    outbound_secret_wipe(&s1);
    outbound_secret_wipe(&s2);
}

static void test_disable_enable(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct outbound_endpoint ep, after;
    struct outbound_secret secret;
    create_receiver(&t, "/paused", &ep, &secret);
    outbound_secret_wipe(&secret);
    struct outbound_actor who = actor();
    /* a message queued before the endpoint is disabled dies at its attempt, unsent */
    enqueue(&t, "entry.published", "{}", NOW);
    assert_int_equal(outbound_endpoint_set_disabled(S.main_app, &t, &who, str_from_cstr(ep.id),
                                                    true, NOW, &after),
                     ERR_OK);
    int before = connections();
    struct jobs_round r = run(&allow_private, NOW);
    assert_int_equal(r.dead, 1);
    assert_int_equal(connections(), before);
    size_t n = 0;
    struct outbound_message *m = log_of(&t, ep.id, &n);
    assert_int_equal(n, 1);
    assert_int_equal(m[0].status, OUTBOUND_DEAD);
    assert_string_equal(m[0].last_error, "endpoint disabled");
    free(m);
    assert_int_equal(outbound_send_test(S.main_app, &t, str_from_cstr(ep.id), NOW, NULL),
                     ERR_CONFLICT);
    /* enabled again: events reach it */
    assert_int_equal(outbound_endpoint_set_disabled(S.main_app, &t, &who, str_from_cstr(ep.id),
                                                    false, NOW + 1, &after),
                     ERR_OK);
    assert_int_equal(after.disabled_at, 0);
    enqueue(&t, "entry.published", "{}", NOW + 1);
    assert_int_equal(run(&allow_private, NOW + 1).done, 1);
    assert_int_equal(connections(), before + 1);
    /* audited */
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(S.main_app, &t, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_query(tx,
                              "SELECT count(*) FROM audit_log WHERE tenant_id = $1"
                              " AND action IN ('outbound.endpoint_disabled',"
                              " 'outbound.endpoint_enabled')",
                              NULL, 0, &st, &row),
                     ERR_OK);
    assert_int_equal(stmt_col_int(st, 0), 2);
    stmt_finish(st);
    storage_rollback(tx);
}

static void test_isolation(void **state)
{
    (void)state;
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    struct outbound_endpoint ep, got;
    struct outbound_secret secret;
    create_receiver(&a, "/iso", &ep, &secret);
    outbound_secret_wipe(&secret);
    enqueue(&a, "entry.published", "{}", NOW);
    struct outbound_actor who = actor();
    struct str id = str_from_cstr(ep.id);
    assert_int_equal(outbound_endpoint_get(S.main_app, &b, id, &got), ERR_NOT_FOUND);
    assert_int_equal(outbound_endpoint_rotate(S.main_app, S.sec, &b, &who, id, NOW, &got, &secret),
                     ERR_NOT_FOUND);
    assert_int_equal(outbound_endpoint_delete(S.main_app, &b, &who, id), ERR_NOT_FOUND);
    assert_int_equal(outbound_endpoint_set_disabled(S.main_app, &b, &who, id, true, NOW, &got),
                     ERR_NOT_FOUND);
    assert_int_equal(outbound_send_test(S.main_app, &b, id, NOW, NULL), ERR_NOT_FOUND);
    struct outbound_message *m = calloc(OUTBOUND_LOG_PAGE, sizeof *m);
    size_t n = 0;
    assert_int_equal(outbound_log(S.main_app, &b, id, STR_NULL, m, &n), ERR_NOT_FOUND);
    struct outbound_endpoint list[OUTBOUND_MAX_PER_TENANT];
    assert_int_equal(outbound_endpoint_list(S.main_app, &b, list, &n), ERR_OK);
    assert_int_equal(n, 0);
    /* b's events reach none of a's endpoints */
    enqueue(&b, "entry.published", "{}", NOW);
    assert_int_equal(outbound_log(S.main_app, &a, id, STR_NULL, m, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(
        outbound_payload(S.main_app, &b, str_from_cstr(m[0].id), &(struct buf)BUF_INIT(64)),
        ERR_NOT_FOUND);
    free(m);
    /* malformed ids are unknown ids */
    assert_int_equal(outbound_endpoint_get(S.main_app, &a, STR_LIT("x"), &got), ERR_NOT_FOUND);

    if (S.pg) {
        /* row-level security: b's transaction sees and changes none of a's rows */
        const char *app = getenv("SHIPLOG_TEST_PG_APP_URL");
        const char *p1[] = {ep.id};
        long changed = -1;
        assert_true(testdb_pg_as_tenant(app, b.id,
                                        "UPDATE outbound_endpoints SET description = 'x'"
                                        " WHERE id = $1::uuid",
                                        1, p1, &changed));
        assert_int_equal(changed, 0);
        assert_true(testdb_pg_as_tenant(app, b.id,
                                        "UPDATE outbound_messages SET status = 'dead'"
                                        " WHERE endpoint_id = $1::uuid",
                                        1, p1, &changed));
        assert_int_equal(changed, 0);
        assert_true(
            testdb_pg_as_tenant(app, b.id, "DELETE FROM outbound_attempts", 0, NULL, &changed));
        assert_int_equal(changed, 0);
        /* nor can it write a row for a */
        const char *p2[] = {a.id};
        assert_false(testdb_pg_as_tenant(app, b.id,
                                         "INSERT INTO outbound_endpoints (tenant_id, id, url,"
                                         " description, secret_env, secret_hint, created_at,"
                                         " created_by) VALUES ($1::uuid, gen_random_uuid(),"
                                         " 'https://x.example/', '', '\\x00', '', 0,"
                                         " gen_random_uuid())",
                                         1, p2, NULL));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_vector),
        cmocka_unit_test_setup(test_create_list_get, test_setup),
        cmocka_unit_test_setup(test_create_refusals, test_setup),
        cmocka_unit_test_setup(test_enqueue, test_setup),
        cmocka_unit_test_setup(test_delivery_signed, test_setup),
        cmocka_unit_test_setup(test_retry_then_success, test_setup),
        cmocka_unit_test_setup(test_batch_budget, test_setup),
        cmocka_unit_test_setup(test_dead_after_last_attempt, test_setup),
        cmocka_unit_test_setup(test_private_target_refused, test_setup),
        cmocka_unit_test_setup(test_rotate_delete_test_event, test_setup),
        cmocka_unit_test_setup(test_disable_enable, test_setup),
        cmocka_unit_test_setup(test_isolation, test_setup),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
