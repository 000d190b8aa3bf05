/* Unit tests for crypto/masterkey: production refusal, development key file, parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/masterkey.h"

static char dir[64];
static char data_kv[128];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/shiplog-mk-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(data_kv, sizeof(data_kv), "SHIPLOG_DATA_DIR=%s", dir);
    return 0;
}

static int teardown(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, MASTER_KEY_FILE);
    unlink(path);
    rmdir(dir);
    return 0;
}

static enum err load(const char *const *env, struct master_key *k, struct buf *msg)
{
    struct config cfg;
    struct buf cmsg = BUF_INIT(512);
    assert_int_equal(config_load(&cfg, env, &cmsg), ERR_OK);
    buf_release(&cmsg);
    enum err e = master_key_load(&cfg, k, msg);
    config_release(&cfg);
    return e;
}

static void test_production_requires_key(void **state)
{
    /* refused by the configuration loader already ... */
    const char *env[] = {"SHIPLOG_ENV=production", data_kv, NULL};
    struct config cfg;
    struct buf msg = BUF_INIT(512);
    assert_int_equal(config_load(&cfg, env, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), "SHIPLOG_MASTER_KEY"));
    config_release(&cfg);

    /* ... and by the key loader itself, should a caller skip that check */
    const char *dev_env[] = {data_kv, NULL};
    buf_reset(&msg);
    assert_int_equal(config_load(&cfg, dev_env, &msg), ERR_OK);
    cfg.env = CONFIG_ENV_PRODUCTION;
    struct master_key k;
    assert_int_equal(master_key_load(&cfg, &k, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), "SHIPLOG_MASTER_KEY"));
    config_release(&cfg);
    buf_release(&msg);

    /* and no key file was created as a side effect */
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, MASTER_KEY_FILE);
    assert_int_not_equal(access(path, F_OK), 0);
}

static void test_development_generates_once(void **state)
{
    const char *env[] = {data_kv, NULL};
    struct master_key a, b;
    struct buf msg = BUF_INIT(512);
    assert_int_equal(load(env, &a, &msg), ERR_OK);
    assert_true(a.generated_dev_key);
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, MASTER_KEY_FILE);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(load(env, &b, &msg), ERR_OK);
    assert_memory_equal(a.bytes, b.bytes, MASTER_KEY_LEN);
    assert_string_equal(a.id, b.id);
    assert_int_equal(strlen(a.id), MASTER_KEY_ID_LEN);
    master_key_wipe(&a);
    master_key_wipe(&b);
    buf_release(&msg);
}

static void test_inline_key(void **state)
{
    const char *good[] = {"SHIPLOG_ENV=production", data_kv,
                          "SHIPLOG_MASTER_KEY=000102030405060708090a0b0c0d0e0f"
                          "101112131415161718191a1b1c1d1e1f",
                          NULL};
    struct master_key k;
    struct buf msg = BUF_INIT(512);
    assert_int_equal(load(good, &k, &msg), ERR_OK);
    assert_false(k.generated_dev_key);
    assert_int_equal(k.bytes[0], 0x00);
    assert_int_equal(k.bytes[31], 0x1f);
    master_key_wipe(&k);

    /* one hex digit short, and one too many */
    const char *short_key[] = {data_kv,
                               "SHIPLOG_MASTER_KEY=000102030405060708090a0b0c0d0e0f"
                               "101112131415161718191a1b1c1d1e1",
                               NULL};
    assert_int_equal(load(short_key, &k, &msg), ERR_CONFIG);
    const char *long_key[] = {data_kv,
                              "SHIPLOG_MASTER_KEY=000102030405060708090a0b0c0d0e0f"
                              "101112131415161718191a1b1c1d1e1f0",
                              NULL};
    assert_int_equal(load(long_key, &k, &msg), ERR_CONFIG);
    /* the message never echoes the key */
    assert_null(strstr(buf_cstr(&msg), "000102"));
    buf_release(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_production_requires_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_development_generates_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
