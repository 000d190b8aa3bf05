/* testdb — see testdb.h. */
#include "testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

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
