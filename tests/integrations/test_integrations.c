/*
 * Integrations suite (I1, C1, C3; ingest/integrations.h): creation with a
 * secret shown once and stored only sealed, listing and reading without
 * secrets, rotation with the old secret accepted until the grace period
 * ends (time injected), GitLab signing secrets, the webhook lookup finding
 * the right tenant by id alone and refusing a wrong provider, a disabled,
 * deleted or unknown integration, envelopes bound to their row and tenant,
 * tenant isolation, audit events without secrets, and every named limit at
 * the limit and one past it, against whichever backend the environment
 * selects:
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

#include "../common/testdb.h"

#include "crypto/keyring.h"
#include "ingest/integrations.h"
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
};

static struct suite S;

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
        snprintf(S.dir, sizeof S.dir, "/tmp/shiplog-integrations-XXXXXX");
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

/* ---- helpers -------------------------------------------------------------------- */

static char USER[37];

static struct integrations_actor actor(void)
{
    if (!USER[0])
        testdb_random_uuid(USER);
    return (struct integrations_actor){
        .user_id = USER, .key_id = NULL, .client_ip = "192.0.2.9", .request_id = "req-int"};
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

static struct integration_spec spec_of(enum ingest_provider p, const char *name)
{
    return (struct integration_spec){.provider = p, .name = str_from_cstr(name)};
}

static void create(const struct tenant_ctx *t, const struct integration_spec *spec,
                   struct integration *out, struct integration_secret *secret)
{
    struct integrations_actor who = actor();
    const char *reason = NULL;
    enum err e = integrations_create(S.main_app, S.sec, t, &who, spec, NOW, out, secret, &reason);
    if (e)
        fail_msg("create: %s (%s)", err_name(e), reason ? reason : "-");
}

static enum err try_create(const struct tenant_ctx *t, const struct integration_spec *spec,
                           const char **reason)
{
    struct integrations_actor who = actor();
    struct integration out;
    struct integration_secret secret;
    enum err e = integrations_create(S.main_app, S.sec, t, &who, spec, NOW, &out, &secret, reason);
    integration_secret_wipe(&secret);
    return e;
}

static enum err lookup(const char *id, const char *provider, int64_t now,
                       struct integration_verify *v)
{
    return integrations_lookup(S.main_app, S.sec, NULL, str_from_cstr(id), str_from_cstr(provider),
                               now, v);
}

/* The envelope column col of integration id, copied into out (tenant t's transaction). */
static void read_env(const struct tenant_ctx *t, const char *id, const char *sql, struct buf *out)
{
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(S.main_app, t, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_query(tx, sql, STORAGE_ARGS(STORAGE_CSTR(id)), &st, &row), ERR_OK);
    assert_true(row);
    struct str b = stmt_col_blob(st, 0);
    assert_int_equal(buf_append(out, b.ptr, b.len), ERR_OK);
    stmt_finish(st);
    storage_rollback(tx);
}

static void write_env(const struct tenant_ctx *t, const char *id, const struct buf *env)
{
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row;
    assert_int_equal(storage_begin(S.main_app, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_prepare(tx,
                                "UPDATE integrations SET secret_env = $3"
                                " WHERE tenant_id = $1 AND id = $2",
                                &st),
                     ERR_OK);
    assert_int_equal(stmt_bind_text(st, 2, str_from_cstr(id)), ERR_OK);
    assert_int_equal(stmt_bind_blob(st, 3, env->data, env->len), ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_int_equal(stmt_changes(st), 1);
    stmt_finish(st);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static bool contains(const struct buf *b, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; b->len >= n && i <= b->len - n; i++)
        if (memcmp(b->data + i, needle, n) == 0)
            return true;
    return false;
}

static void repeat(char *out, size_t n, char c)
{
    memset(out, c, n);
    out[n] = '\0';
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_create_get_list(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct integration in;
    struct integration_secret secret;
    struct integration_spec spec = spec_of(INGEST_PROVIDER_GITHUB, "Acme on GitHub");
    spec.repository_scope = STR_LIT(" acme/* ,acme-labs/api\n\n");
    create(&t, &spec, &in, &secret);
    assert_true(str_is_uuid(str_from_cstr(in.id)));
    assert_int_equal(strlen(secret.text), 4 + 43);
    assert_true(strncmp(secret.text, "shw_", 4) == 0);
    assert_null(strpbrk(secret.text + 4, "+/="));
    assert_string_equal(in.secret_hint, secret.text + strlen(secret.text) - 4);
    assert_string_equal(in.repository_scope, "acme/*\nacme-labs/api");
    assert_string_equal(in.created_by, USER);
    assert_int_equal(in.created_at, NOW);
    assert_int_equal(in.azure_auth, INTEGRATION_AZURE_NONE);

    struct integration got;
    assert_int_equal(integrations_get(S.main_app, &t, str_from_cstr(in.id), NOW, &got), ERR_OK);
    assert_string_equal(got.name, "Acme on GitHub");
    assert_int_equal(got.provider, INGEST_PROVIDER_GITHUB);
    assert_string_equal(got.secret_hint, in.secret_hint);
    assert_int_equal(got.previous_valid_until, 0);
    assert_false(got.has_signing_secret);

    struct integration_secret s2;
    struct integration in2;
    struct integration_spec az = spec_of(INGEST_PROVIDER_AZURE_DEVOPS, "Azure");
    create(&t, &az, &in2, &s2);
    assert_int_equal(in2.azure_auth, INTEGRATION_AZURE_BOTH);
    assert_string_equal(in2.azure_header, INTEGRATIONS_DEFAULT_AZURE_HEADER);
    assert_string_equal(in2.repository_scope, "*");
    assert_string_not_equal(in.id, in2.id);
    assert_string_not_equal(secret.text, s2.text);

    struct integration list[INTEGRATIONS_PAGE];
    size_t n = 0, total = 0;
    assert_int_equal(integrations_list(S.main_app, &t, 0, NOW, list, &n, &total), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(total, 2);
    assert_int_equal(
        integrations_list(S.main_app, &t, INTEGRATIONS_MAX_PAGES, NOW, list, &n, &total),
        ERR_INVALID);

    /* the row holds an envelope, never the secret */
    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE);
    read_env(&t, in.id, "SELECT secret_env FROM integrations WHERE tenant_id = $1 AND id = $2",
             &env);
    assert_true(env.len > 0);
    assert_false(contains(&env, secret.text));
    assert_false(contains(&env, secret.text + 4));
    buf_release(&env);

    /* the audit event names the integration, never the secret */
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(S.main_app, &t, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_query(tx,
                              "SELECT action, target, details FROM audit_log"
                              " WHERE tenant_id = $1 ORDER BY seq",
                              NULL, 0, &st, &row),
                     ERR_OK);
    unsigned created = 0;
    while (row) {
        struct buf all = BUF_INIT(8192);
        for (int c = 0; c < 3; c++) {
            struct str v = stmt_col_text(st, c);
            assert_int_equal(buf_append(&all, v.ptr, v.len), ERR_OK);
        }
        assert_false(contains(&all, secret.text + 4));
        assert_false(contains(&all, s2.text + 4));
        if (str_eq_cstr(stmt_col_text(st, 0), "integration.created"))
            created++;
        buf_release(&all);
        assert_int_equal(stmt_step(st, &row), ERR_OK);
    }
    stmt_finish(st);
    storage_rollback(tx);
    assert_int_equal(created, 2);

    struct integration_verify v;
    assert_int_equal(lookup(in.id, "github", NOW, &v), ERR_OK);
    assert_string_equal(v.tenant.id, t.id);
    assert_string_equal(v.secret, secret.text);
    assert_int_equal(v.secret_len, strlen(secret.text));
    assert_int_equal(v.previous_len, 0);
    assert_int_equal(v.signing_len, 0);
    assert_string_equal(v.repository_scope, "acme/*\nacme-labs/api");
    integration_verify_wipe(&v);
    assert_int_equal(v.secret[0], 0);
    assert_int_equal(lookup(in2.id, "azure-devops", NOW, &v), ERR_OK);
    assert_int_equal(v.azure_auth, INTEGRATION_AZURE_BOTH);
    assert_string_equal(v.azure_header, "X-Shiplog-Secret");
    integration_verify_wipe(&v);
    integration_secret_wipe(&secret);
    integration_secret_wipe(&s2);
}

static void test_rotation_grace(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct integration in;
    struct integration_secret s1, s2, s3;
    struct integration_spec spec = spec_of(INGEST_PROVIDER_BITBUCKET, "bb");
    create(&t, &spec, &in, &s1);
    struct integrations_actor who = actor();
    int64_t at = NOW + 100;
    struct integration after;
    assert_int_equal(
        integrations_rotate(S.main_app, S.sec, &t, &who, str_from_cstr(in.id), at, &after, &s2),
        ERR_OK);
    assert_string_not_equal(s1.text, s2.text);
    assert_int_equal(after.previous_valid_until, at + INTEGRATIONS_ROTATION_GRACE_S);
    assert_int_equal(after.rotated_at, at);
    assert_string_equal(after.secret_hint, s2.text + strlen(s2.text) - 4);

    struct integration_verify v;
    assert_int_equal(lookup(in.id, "bitbucket", at + 1, &v), ERR_OK);
    assert_string_equal(v.secret, s2.text);
    assert_string_equal(v.previous, s1.text);
    assert_int_equal(v.previous_len, strlen(s1.text));
    integration_verify_wipe(&v);
    /* the last second of the grace period, then past it */
    assert_int_equal(lookup(in.id, "bitbucket", at + INTEGRATIONS_ROTATION_GRACE_S - 1, &v),
                     ERR_OK);
    assert_string_equal(v.previous, s1.text);
    integration_verify_wipe(&v);
    assert_int_equal(lookup(in.id, "bitbucket", at + INTEGRATIONS_ROTATION_GRACE_S, &v), ERR_OK);
    assert_string_equal(v.secret, s2.text);
    assert_int_equal(v.previous_len, 0);
    assert_string_equal(v.previous, "");
    integration_verify_wipe(&v);
    struct integration got;
    assert_int_equal(integrations_get(S.main_app, &t, str_from_cstr(in.id),
                                      at + INTEGRATIONS_ROTATION_GRACE_S, &got),
                     ERR_OK);
    assert_int_equal(got.previous_valid_until, 0);

    /* a second rotation within the grace period: only the one before is kept */
    assert_int_equal(
        integrations_rotate(S.main_app, S.sec, &t, &who, str_from_cstr(in.id), at + 10, NULL, &s3),
        ERR_OK);
    assert_int_equal(lookup(in.id, "bitbucket", at + 11, &v), ERR_OK);
    assert_string_equal(v.secret, s3.text);
    assert_string_equal(v.previous, s2.text);
    integration_verify_wipe(&v);
    integration_secret_wipe(&s1);
    integration_secret_wipe(&s2);
    integration_secret_wipe(&s3);
}

static enum err cached_lookup(struct integrations_cache *c, const char *id, const char *provider,
                              int64_t now, struct integration_verify *v)
{
    return integrations_lookup(S.main_app, S.sec, c, str_from_cstr(id), str_from_cstr(provider),
                               now, v);
}

/* Disables integration id with plain SQL, as another server would: this module sees no change. */
static void disable_directly(const struct tenant_ctx *t, const char *id, int64_t at)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.main_app, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_exec_args(tx,
                                  "UPDATE integrations SET disabled_at = $3"
                                  " WHERE tenant_id = $1 AND id = $2",
                                  STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_INT(at)), NULL),
                     ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

/*
 * The lookup cache: a second lookup within INTEGRATIONS_CACHE_TTL_S comes
 * from it with the same secrets; any change made through this module makes
 * it stale at once; the previous secret is served only while its grace
 * lasts; a change made behind the module's back (another server) shows after
 * the TTL or after integrations_cache_forget; the provider is still checked.
 */
static void test_lookup_cache(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct integration in;
    struct integration_secret s1, s2;
    struct integration_spec spec = spec_of(INGEST_PROVIDER_GITHUB, "cached");
    create(&t, &spec, &in, &s1);
    struct integrations_cache *c = NULL;
    assert_int_equal(integrations_cache_new(&c), ERR_OK);
    struct integration_verify v;
    assert_int_equal(cached_lookup(c, in.id, "github", NOW, &v), ERR_OK);
    assert_false(integrations_cache_hit(&v));
    integration_verify_wipe(&v);
    assert_int_equal(cached_lookup(c, in.id, "github", NOW + INTEGRATIONS_CACHE_TTL_S - 1, &v),
                     ERR_OK);
    assert_true(integrations_cache_hit(&v));
    assert_string_equal(v.secret, s1.text);
    assert_string_equal(v.tenant.id, t.id);
    integration_verify_wipe(&v);
    /* the provider of the URL is checked on a hit too */
    assert_int_equal(cached_lookup(c, in.id, "gitlab", NOW + 1, &v), ERR_NOT_FOUND);
    assert_string_equal(v.secret, "");
    /* past the TTL: read again */
    assert_int_equal(cached_lookup(c, in.id, "github", NOW + INTEGRATIONS_CACHE_TTL_S, &v), ERR_OK);
    assert_false(integrations_cache_hit(&v));
    integration_verify_wipe(&v);

    /* a rotation through this module: the next lookup reads the new secret */
    struct integrations_actor who = actor();
    int64_t at = NOW + 100;
    assert_int_equal(cached_lookup(c, in.id, "github", at, &v), ERR_OK);
    integration_verify_wipe(&v);
    assert_int_equal(
        integrations_rotate(S.main_app, S.sec, &t, &who, str_from_cstr(in.id), at, NULL, &s2),
        ERR_OK);
    assert_int_equal(cached_lookup(c, in.id, "github", at + 1, &v), ERR_OK);
    assert_false(integrations_cache_hit(&v));
    assert_string_equal(v.secret, s2.text);
    assert_string_equal(v.previous, s1.text);
    integration_verify_wipe(&v);

    /* filled just before the grace ends, served just after: without the previous secret */
    int64_t end = at + INTEGRATIONS_ROTATION_GRACE_S;
    assert_int_equal(cached_lookup(c, in.id, "github", end - 1, &v), ERR_OK);
    assert_false(integrations_cache_hit(&v));
    assert_string_equal(v.previous, s1.text);
    integration_verify_wipe(&v);
    assert_int_equal(cached_lookup(c, in.id, "github", end, &v), ERR_OK);
    assert_true(integrations_cache_hit(&v));
    assert_string_equal(v.secret, s2.text);
    assert_int_equal(v.previous_len, 0);
    assert_string_equal(v.previous, "");
    integration_verify_wipe(&v);

    /* disabled behind the module's back (as by another server): seen after the TTL or a forget */
    disable_directly(&t, in.id, end);
    assert_int_equal(cached_lookup(c, in.id, "github", end + 1, &v), ERR_OK);
    assert_true(integrations_cache_hit(&v));
    integration_verify_wipe(&v);
    assert_int_equal(cached_lookup(c, in.id, "github", end + INTEGRATIONS_CACHE_TTL_S, &v),
                     ERR_NOT_FOUND);
    assert_int_equal(
        integrations_set_disabled(S.main_app, &t, &who, str_from_cstr(in.id), false, end), ERR_OK);
    assert_int_equal(cached_lookup(c, in.id, "github", end + 10, &v), ERR_OK);
    integration_verify_wipe(&v);
    disable_directly(&t, in.id, end);
    integrations_cache_forget(c, in.id);
    assert_int_equal(cached_lookup(c, in.id, "github", end + 11, &v), ERR_NOT_FOUND);

    /* deleted through the module: gone at once */
    assert_int_equal(
        integrations_set_disabled(S.main_app, &t, &who, str_from_cstr(in.id), false, end), ERR_OK);
    assert_int_equal(cached_lookup(c, in.id, "github", end + 12, &v), ERR_OK);
    integration_verify_wipe(&v);
    assert_int_equal(integrations_delete(S.main_app, &t, &who, str_from_cstr(in.id)), ERR_OK);
    assert_int_equal(cached_lookup(c, in.id, "github", end + 13, &v), ERR_NOT_FOUND);
    integrations_cache_forget(NULL, in.id);
    integrations_cache_free(c);
    integrations_cache_free(NULL);
    integration_secret_wipe(&s1);
    integration_secret_wipe(&s2);
}

static void test_signing_secret(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct integration gl, gh;
    struct integration_secret s, sg, sign;
    struct integration_spec a = spec_of(INGEST_PROVIDER_GITLAB, "gl"),
                            b = spec_of(INGEST_PROVIDER_GITHUB, "gh");
    create(&t, &a, &gl, &s);
    create(&t, &b, &gh, &sg);
    struct integrations_actor who = actor();
    const char *reason = NULL;
    struct integration after;
    assert_int_equal(integrations_signing_secret(S.main_app, S.sec, &t, &who, str_from_cstr(gl.id),
                                                 NOW, &after, &sign, &reason),
                     ERR_OK);
    assert_true(strncmp(sign.text, "whsec_", 6) == 0);
    assert_int_equal(strlen(sign.text), 6 + 44);
    assert_true(after.has_signing_secret);
    assert_string_equal(after.signing_secret_hint, sign.text + strlen(sign.text) - 4);
    struct integration_verify v;
    assert_int_equal(lookup(gl.id, "gitlab", NOW, &v), ERR_OK);
    assert_string_equal(v.signing, sign.text);
    assert_string_equal(v.secret, s.text);
    integration_verify_wipe(&v);

    struct integration_secret none;
    assert_int_equal(integrations_signing_secret(S.main_app, S.sec, &t, &who, str_from_cstr(gh.id),
                                                 NOW, NULL, &none, &reason),
                     ERR_INVALID);
    assert_non_null(reason);
    assert_int_equal(none.text[0], 0);
    integration_secret_wipe(&s);
    integration_secret_wipe(&sg);
    integration_secret_wipe(&sign);
}

static void test_lookup_refusals(void **state)
{
    (void)state;
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    struct integration ia, ib;
    struct integration_secret sa, sb;
    struct integration_spec gh = spec_of(INGEST_PROVIDER_GITHUB, "a"),
                            gl = spec_of(INGEST_PROVIDER_GITLAB, "b");
    create(&a, &gh, &ia, &sa);
    create(&b, &gl, &ib, &sb);

    /* by id alone, each finds its own tenant */
    struct integration_verify v;
    assert_int_equal(lookup(ia.id, "github", NOW, &v), ERR_OK);
    assert_string_equal(v.tenant.id, a.id);
    assert_string_equal(v.secret, sa.text);
    integration_verify_wipe(&v);
    assert_int_equal(lookup(ib.id, "gitlab", NOW, &v), ERR_OK);
    assert_string_equal(v.tenant.id, b.id);
    assert_string_equal(v.secret, sb.text);
    integration_verify_wipe(&v);

    /* another provider in the URL, an unknown one, bad and unknown ids */
    assert_int_equal(lookup(ia.id, "gitlab", NOW, &v), ERR_NOT_FOUND);
    assert_int_equal(v.secret_len, 0);
    assert_int_equal(lookup(ia.id, "GitHub", NOW, &v), ERR_NOT_FOUND);
    assert_int_equal(lookup(ia.id, "svn", NOW, &v), ERR_NOT_FOUND);
    char upper[37];
    snprintf(upper, sizeof upper, "%s", ia.id);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    assert_int_equal(lookup(upper, "github", NOW, &v), ERR_NOT_FOUND);
    assert_int_equal(lookup("not-a-uuid", "github", NOW, &v), ERR_NOT_FOUND);
    assert_int_equal(lookup("", "github", NOW, &v), ERR_NOT_FOUND);
    char other[37];
    testdb_random_uuid(other);
    assert_int_equal(lookup(other, "github", NOW, &v), ERR_NOT_FOUND);
    struct tenant_ctx tt;
    assert_int_equal(storage_integration_tenant(S.main_app, str_from_cstr(other), &tt),
                     ERR_NOT_FOUND);
    assert_int_equal(storage_integration_tenant(S.vault_app, str_from_cstr(ia.id), &tt),
                     ERR_FORBIDDEN);
    assert_int_equal(storage_integration_tenant(S.main_app, str_from_cstr(ia.id), &tt), ERR_OK);
    assert_string_equal(tt.id, a.id);

    /* disabled: no hook; enabled again: back */
    struct integrations_actor who = actor();
    assert_int_equal(
        integrations_set_disabled(S.main_app, &a, &who, str_from_cstr(ia.id), true, NOW + 5),
        ERR_OK);
    assert_int_equal(lookup(ia.id, "github", NOW, &v), ERR_NOT_FOUND);
    struct integration got;
    assert_int_equal(integrations_get(S.main_app, &a, str_from_cstr(ia.id), NOW, &got), ERR_OK);
    assert_int_equal(got.disabled_at, NOW + 5);
    assert_int_equal(
        integrations_set_disabled(S.main_app, &a, &who, str_from_cstr(ia.id), false, NOW + 6),
        ERR_OK);
    assert_int_equal(lookup(ia.id, "github", NOW, &v), ERR_OK);
    integration_verify_wipe(&v);

    /* deleted: gone */
    assert_int_equal(integrations_delete(S.main_app, &a, &who, str_from_cstr(ia.id)), ERR_OK);
    assert_int_equal(lookup(ia.id, "github", NOW, &v), ERR_NOT_FOUND);
    assert_int_equal(integrations_get(S.main_app, &a, str_from_cstr(ia.id), NOW, &got),
                     ERR_NOT_FOUND);
    assert_int_equal(integrations_delete(S.main_app, &a, &who, str_from_cstr(ia.id)),
                     ERR_NOT_FOUND);
    integration_secret_wipe(&sa);
    integration_secret_wipe(&sb);
}

static void test_envelope_bound_to_row(void **state)
{
    (void)state;
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    struct integration x, y, z;
    struct integration_secret sx, sy, sz;
    struct integration_spec spec = spec_of(INGEST_PROVIDER_GITHUB, "bound");
    create(&a, &spec, &x, &sx);
    create(&a, &spec, &y, &sy);
    create(&b, &spec, &z, &sz);
    const char *sql = "SELECT secret_env FROM integrations WHERE tenant_id = $1 AND id = $2";

    /* x's envelope in y's row (same tenant): it does not open there */
    struct buf env = BUF_INIT(SECRETS_MAX_ENVELOPE);
    read_env(&a, x.id, sql, &env);
    write_env(&a, y.id, &env);
    struct integration_verify v;
    assert_int_equal(lookup(y.id, "github", NOW, &v), ERR_CRYPTO);
    assert_int_equal(v.secret_len, 0);
    assert_int_equal(v.tenant.id[0], 0);
    assert_int_equal(lookup(x.id, "github", NOW, &v), ERR_OK);
    assert_string_equal(v.secret, sx.text);
    integration_verify_wipe(&v);

    /* z's envelope (tenant b) in x's row (tenant a) */
    buf_reset(&env);
    read_env(&b, z.id, sql, &env);
    write_env(&a, x.id, &env);
    assert_int_equal(lookup(x.id, "github", NOW, &v), ERR_CRYPTO);

    /* the signing purpose's envelope in the secret's column */
    struct tenant_ctx c;
    new_tenant(&c);
    struct integration g;
    struct integration_secret sg, sign;
    struct integration_spec gl = spec_of(INGEST_PROVIDER_GITLAB, "gl");
    create(&c, &gl, &g, &sg);
    struct integrations_actor who = actor();
    const char *reason;
    assert_int_equal(integrations_signing_secret(S.main_app, S.sec, &c, &who, str_from_cstr(g.id),
                                                 NOW, NULL, &sign, &reason),
                     ERR_OK);
    buf_reset(&env);
    read_env(&c, g.id,
             "SELECT signing_secret_env FROM integrations WHERE tenant_id = $1 AND id = $2", &env);
    write_env(&c, g.id, &env);
    assert_int_equal(lookup(g.id, "gitlab", NOW, &v), ERR_CRYPTO);
    buf_release(&env);
    integration_secret_wipe(&sx);
    integration_secret_wipe(&sy);
    integration_secret_wipe(&sz);
    integration_secret_wipe(&sg);
    integration_secret_wipe(&sign);
}

static void test_tenant_isolation(void **state)
{
    (void)state;
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    struct integration ib, got;
    struct integration_secret sb, s;
    struct integration_spec spec = spec_of(INGEST_PROVIDER_GITLAB, "b's");
    create(&b, &spec, &ib, &sb);
    struct integrations_actor who = actor();
    struct str id = str_from_cstr(ib.id);
    const char *reason = NULL;
    assert_int_equal(integrations_get(S.main_app, &a, id, NOW, &got), ERR_NOT_FOUND);
    assert_int_equal(integrations_rotate(S.main_app, S.sec, &a, &who, id, NOW, &got, &s),
                     ERR_NOT_FOUND);
    assert_int_equal(s.text[0], 0);
    assert_int_equal(
        integrations_signing_secret(S.main_app, S.sec, &a, &who, id, NOW, &got, &s, &reason),
        ERR_NOT_FOUND);
    assert_int_equal(integrations_set_disabled(S.main_app, &a, &who, id, true, NOW), ERR_NOT_FOUND);
    assert_int_equal(integrations_delete(S.main_app, &a, &who, id), ERR_NOT_FOUND);
    struct integration list[INTEGRATIONS_PAGE];
    size_t n = 9, total = 9;
    assert_int_equal(integrations_list(S.main_app, &a, 0, NOW, list, &n, &total), ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(total, 0);
    /* b's integration is as it was */
    struct integration_verify v;
    assert_int_equal(lookup(ib.id, "gitlab", NOW, &v), ERR_OK);
    assert_string_equal(v.secret, sb.text);
    assert_int_equal(v.previous_len, 0);
    assert_int_equal(v.signing_len, 0);
    integration_verify_wipe(&v);

    if (S.pg) {
        /* the database itself: a's transaction sees and changes none of b's rows */
        const char *app = getenv("SHIPLOG_TEST_PG_APP_URL");
        const char *params[1] = {ib.id};
        long changed = -1;
        assert_true(testdb_pg_as_tenant(app, a.id,
                                        "UPDATE integrations SET name = 'x' WHERE id = $1::uuid", 1,
                                        params, &changed));
        assert_int_equal(changed, 0);
        assert_true(testdb_pg_as_tenant(app, a.id, "DELETE FROM integrations", 0, NULL, &changed));
        assert_int_equal(changed, 0);
        /* and the definer function answers with the tenant id only */
        assert_true(testdb_pg_as_tenant(
            app, a.id, "SELECT public.shiplog_integration_tenant($1::uuid)", 1, params, NULL));
    }
    integration_secret_wipe(&sb);
}

static void test_limits(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    const char *reason = NULL;
    char name[INTEGRATIONS_MAX_NAME_BYTES + 8];
    struct integration_spec spec = spec_of(INGEST_PROVIDER_GITHUB, "");

    /* name: 100 characters, 101 */
    repeat(name, INTEGRATIONS_MAX_NAME, 'n');
    spec.name = str_from_cstr(name);
    assert_int_equal(try_create(&t, &spec, &reason), ERR_OK);
    repeat(name, INTEGRATIONS_MAX_NAME + 1, 'n');
    spec.name = str_from_cstr(name);
    assert_int_equal(try_create(&t, &spec, &reason), ERR_LIMIT);
    assert_string_equal(reason, "name too long");
    /* 100 two-byte characters fit; 101 do not; past the byte limit at all */
    for (int i = 0; i <= INTEGRATIONS_MAX_NAME; i++)
        memcpy(name + 2 * i, "\xc3\xa9", 2);
    spec.name = str_from(name, 2 * INTEGRATIONS_MAX_NAME);
    assert_int_equal(try_create(&t, &spec, &reason), ERR_OK);
    spec.name = str_from(name, 2 * INTEGRATIONS_MAX_NAME + 2);
    assert_int_equal(try_create(&t, &spec, &reason), ERR_LIMIT);
    repeat(name, INTEGRATIONS_MAX_NAME_BYTES + 1, 'n');
    spec.name = str_from_cstr(name);
    assert_int_equal(try_create(&t, &spec, &reason), ERR_LIMIT);
    /* empty, blank, controls, bad UTF-8 */
    const char *bad_names[] = {"", "   ", "a\tb", "a\x7f", "a\xc2\x85", "\xff"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        spec.name = str_from_cstr(bad_names[i]);
        assert_int_equal(try_create(&t, &spec, &reason), ERR_INVALID);
    }
    spec.name = STR_LIT("ok");

    /* repository scope: 1000 bytes, 1001; one glob of 200 bytes, 201 */
    char scope[INTEGRATIONS_MAX_SCOPE + 8];
    repeat(scope, INTEGRATIONS_MAX_SCOPE, ',');
    memcpy(scope, "acme/*", 6);
    spec.repository_scope = str_from_cstr(scope);
    assert_int_equal(try_create(&t, &spec, &reason), ERR_OK);
    repeat(scope, INTEGRATIONS_MAX_SCOPE + 1, ',');
    memcpy(scope, "acme/*", 6);
    spec.repository_scope = str_from_cstr(scope);
    assert_int_equal(try_create(&t, &spec, &reason), ERR_LIMIT);
    repeat(scope, INTEGRATIONS_MAX_SCOPE_PATTERN, 'r');
    spec.repository_scope = str_from_cstr(scope);
    assert_int_equal(try_create(&t, &spec, &reason), ERR_OK);
    repeat(scope, INTEGRATIONS_MAX_SCOPE_PATTERN + 1, 'r');
    spec.repository_scope = str_from_cstr(scope);
    assert_int_equal(try_create(&t, &spec, &reason), ERR_LIMIT);
    const char *bad_scopes[] = {"", " , \n", "a\x01", "\xc3"};
    for (size_t i = 0; i < sizeof bad_scopes / sizeof bad_scopes[0]; i++) {
        spec.repository_scope = str_from_cstr(bad_scopes[i]);
        assert_int_equal(try_create(&t, &spec, &reason), ERR_INVALID);
    }
    spec.repository_scope = STR_NULL;

    /* azure settings: only for azure-devops; header 64 bytes, 65; a token; not a standard one */
    spec.azure_auth = STR_LIT("basic");
    assert_int_equal(try_create(&t, &spec, &reason), ERR_INVALID);
    spec.azure_auth = STR_NULL;
    spec.azure_header = STR_LIT("X-Secret");
    assert_int_equal(try_create(&t, &spec, &reason), ERR_INVALID);
    spec.provider = INGEST_PROVIDER_AZURE_DEVOPS;
    char header[INTEGRATIONS_MAX_AZURE_HEADER + 8];
    repeat(header, INTEGRATIONS_MAX_AZURE_HEADER, 'h');
    spec.azure_header = str_from_cstr(header);
    spec.azure_auth = STR_LIT("header");
    assert_int_equal(try_create(&t, &spec, &reason), ERR_OK);
    repeat(header, INTEGRATIONS_MAX_AZURE_HEADER + 1, 'h');
    spec.azure_header = str_from_cstr(header);
    assert_int_equal(try_create(&t, &spec, &reason), ERR_LIMIT);
    const char *bad_headers[] = {"", "X Secret", "X:Secret", "Authorization", "host"};
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        spec.azure_header = str_from_cstr(bad_headers[i]);
        assert_int_equal(try_create(&t, &spec, &reason), ERR_INVALID);
    }
    spec.azure_header = STR_NULL;
    spec.azure_auth = STR_LIT("digest");
    assert_int_equal(try_create(&t, &spec, &reason), ERR_INVALID);
    spec.azure_auth = STR_NULL;
    spec.provider = INGEST_PROVIDER_STRIPE; /* billing's, never an integration's */
    assert_int_equal(try_create(&t, &spec, &reason), ERR_INVALID);
    spec.provider = INGEST_PROVIDER_COUNT_;
    assert_int_equal(try_create(&t, &spec, &reason), ERR_INVALID);
}

static void test_tenant_maximum(void **state)
{
    (void)state;
    struct tenant_ctx t, other;
    new_tenant(&t);
    new_tenant(&other);
    struct integration_spec spec = spec_of(INGEST_PROVIDER_GITHUB, "many");
    const char *reason = NULL;
    for (int i = 0; i < INTEGRATIONS_MAX_PER_TENANT; i++)
        assert_int_equal(try_create(&t, &spec, &reason), ERR_OK);
    assert_int_equal(try_create(&t, &spec, &reason), ERR_LIMIT);
    assert_string_equal(reason, "the organization has as many integrations as it can hold");
    /* another tenant is not affected */
    assert_int_equal(try_create(&other, &spec, &reason), ERR_OK);
    /* the pages: 50 and 50 */
    struct integration list[INTEGRATIONS_PAGE];
    size_t n = 0, total = 0;
    assert_int_equal(integrations_list(S.main_app, &t, 1, NOW, list, &n, &total), ERR_OK);
    assert_int_equal(n, INTEGRATIONS_PAGE);
    assert_int_equal(total, INTEGRATIONS_MAX_PER_TENANT);
    /* room again after a deletion */
    struct integrations_actor who = actor();
    assert_int_equal(integrations_delete(S.main_app, &t, &who, str_from_cstr(list[0].id)), ERR_OK);
    assert_int_equal(try_create(&t, &spec, &reason), ERR_OK);
}

static void test_scope_and_names(void **state)
{
    (void)state;
    char out[INTEGRATIONS_MAX_SCOPE + 1];
    const char *reason;
    assert_int_equal(
        integrations_scope_normalize(STR_LIT("acme/*, Beta/API\r\n  My Repo \n"), out, &reason),
        ERR_OK);
    assert_string_equal(out, "acme/*\nBeta/API\nMy Repo");
    assert_true(integrations_scope_matches(out, STR_LIT("acme/web")));
    assert_true(integrations_scope_matches(out, STR_LIT("beta/api")));
    assert_true(integrations_scope_matches(out, STR_LIT("my repo")));
    assert_false(integrations_scope_matches(out, STR_LIT("other/web")));
    assert_true(integrations_scope_matches("*", STR_LIT("any/thing")));

    enum ingest_provider p;
    for (int i = 0; i < INGEST_PROVIDER_COUNT_; i++) {
        if (i == INGEST_PROVIDER_STRIPE) {
            assert_int_equal(integration_provider_parse(STR_LIT("stripe"), &p), ERR_INVALID);
            continue;
        }
        const char *name = ingest_provider_name((enum ingest_provider)i);
        assert_non_null(name);
        assert_true(strlen(name) <= INTEGRATIONS_MAX_PROVIDER);
        assert_int_equal(integration_provider_parse(str_from_cstr(name), &p), ERR_OK);
        assert_int_equal(p, i);
    }
    assert_null(ingest_provider_name(INGEST_PROVIDER_COUNT_));
    assert_int_equal(integration_provider_parse(STR_LIT("github "), &p), ERR_INVALID);
    assert_int_equal(integration_provider_parse(STR_NULL, &p), ERR_INVALID);
    enum integration_azure_auth a;
    assert_int_equal(integration_azure_auth_parse(STR_LIT("both"), &a), ERR_OK);
    assert_int_equal(a, INTEGRATION_AZURE_BOTH);
    assert_int_equal(integration_azure_auth_parse(STR_LIT(""), &a), ERR_INVALID);
    assert_null(integration_azure_auth_name(INTEGRATION_AZURE_NONE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_get_list),  cmocka_unit_test(test_rotation_grace),
        cmocka_unit_test(test_lookup_cache),     cmocka_unit_test(test_signing_secret),
        cmocka_unit_test(test_lookup_refusals),  cmocka_unit_test(test_envelope_bound_to_row),
        cmocka_unit_test(test_tenant_isolation), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_tenant_maximum),   cmocka_unit_test(test_scope_and_names),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
