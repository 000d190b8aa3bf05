/* testdb — see testdb.h. */
#include "testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "crypto/rand.h"

struct storage *testdb_open(enum storage_schema schema, const char *url, const char *path,
                            bool maintenance)
{
    struct storage_options o = {
        .schema = schema,
        .database_url = url,
        .sqlite_path = path,
        .pool_size = 4,
        .statement_timeout_ms = 10000,
    };
    struct storage *s = NULL;
    struct buf detail = BUF_INIT(2048);
    enum err e =
        maintenance ? storage_open_migrator(&o, &s, &detail) : storage_open(&o, &s, &detail);
    if (e)
        fprintf(stderr, "# storage_open: %s: %s\n", err_name(e), buf_cstr(&detail));
    buf_release(&detail);
    return e ? NULL : s;
}

void testdb_load_ring(const char *data_dir, const char *current, const char *previous,
                      struct keyring *out)
{
    char data_kv[1100], key_kv[128], prev_kv[256];
    snprintf(data_kv, sizeof data_kv, "SHIPLOG_DATA_DIR=%s", data_dir);
    snprintf(key_kv, sizeof key_kv, "SHIPLOG_MASTER_KEY=%s", current);
    const char *env[4] = {data_kv, key_kv, NULL, NULL};
    if (previous) {
        snprintf(prev_kv, sizeof prev_kv, "SHIPLOG_MASTER_KEYS_PREVIOUS=%s", previous);
        env[2] = prev_kv;
    }
    struct config cfg;
    struct buf msg = BUF_INIT(1024);
    assert_int_equal(config_load(&cfg, env, &msg), ERR_OK);
    assert_int_equal(keyring_load(&cfg, out, &msg), ERR_OK);
    config_release(&cfg);
    buf_release(&msg);
}

struct storage *testdb_open_main(const char *tag, char dir[64], bool *pg)
{
    const char *owner = getenv("SHIPLOG_TEST_PG_OWNER_URL");
    const char *app = getenv("SHIPLOG_TEST_PG_APP_URL");
    *pg = owner && owner[0] && app && app[0];
    snprintf(dir, 64, "/tmp/shiplog-%s-XXXXXX", tag);
    if (!mkdtemp(dir))
        return NULL;
    char db_path[128];
    snprintf(db_path, sizeof db_path, "%s/shiplog.db", dir);
    struct storage_options o = {.pool_size = 10, .statement_timeout_ms = 30000};
    struct storage *s = NULL;
    struct buf detail = BUF_INIT(2048);
    enum err e;
    if (*pg) {
        struct storage *ow = NULL;
        struct storage_options oo = {.database_url = owner, .pool_size = 2};
        e = storage_open_migrator(&oo, &ow, &detail);
        if (!e) {
            e = storage_migrate(ow, &detail);
            storage_close(ow);
        }
        o.database_url = app;
        if (!e)
            e = storage_open(&o, &s, &detail);
    } else {
        o.sqlite_path = db_path;
        e = storage_open(&o, &s, &detail);
        if (!e)
            e = storage_migrate(s, &detail);
    }
    if (e) {
        fprintf(stderr, "# setup: %s: %s\n", err_name(e), buf_cstr(&detail));
        storage_close(s);
        s = NULL;
    } else {
        printf("# backend: %s\n", storage_backend_name(storage_backend_of(s)));
    }
    buf_release(&detail);
    return s;
}

void testdb_cleanup(struct storage *s, const char *dir)
{
    storage_close(s);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", dir);
}

void testdb_random_uuid(char out[37])
{
    unsigned char b[16];
    assert_int_equal(rand_bytes(b, sizeof b), ERR_OK);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char hex[33];
    hex_encode(b, sizeof b, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

bool testdb_pg_as_tenant(const char *app_url, const char *tenant, const char *sql, int n,
                         const char *const *params, long *changed)
{
    PGconn *c = PQconnectdb(app_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PQclear(PQexec(c, "BEGIN"));
    const char *bind[1] = {tenant};
    PGresult *r = PQexecParams(c, "SELECT set_config('app.tenant_id', $1, true)", 1, NULL, bind,
                               NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        printf("# as tenant %s: %s", tenant, PQresultErrorMessage(r)); /* the refusal's reason */
    if (changed)
        *changed = ok ? strtol(PQcmdTuples(r), NULL, 10) : 0;
    PQclear(r);
    PQclear(PQexec(c, "ROLLBACK"));
    PQfinish(c);
    return ok;
}
