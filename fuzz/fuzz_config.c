/*
 * fuzz_config — the input split on '\n' is an environment (at most 64
 * entries) for config_load. *_FILE entries are dropped so the fuzzer never
 * reads arbitrary files; the CIDR parser also gets each line directly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"

#define FUZZ_MAX_ENV 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_file_setting(const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t n = eq ? (size_t)(eq - kv) : strlen(kv);
    return n >= 5 && memcmp(kv + n - 5, "_FILE", 5) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        log_init(LOG_ERROR, STDERR_FILENO);
        quiet = true;
    }
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';

    const char *env[FUZZ_MAX_ENV + 1];
    size_t n = 0;
    char *p = copy;
    while (p && n < FUZZ_MAX_ENV) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        struct config_cidr c;
        if (config_parse_cidr(p, strlen(p), &c) == ERR_OK) {
            unsigned char a[16] = {0};
            (void)config_cidr_contains(&c, c.family, a);
        }
        if (!is_file_setting(p))
            env[n++] = p;
        p = nl ? nl + 1 : NULL;
    }
    env[n] = NULL;

    struct config cfg;
    struct buf msg = BUF_INIT(1024);
    if (config_load(&cfg, env, &msg) == ERR_OK) {
        struct buf out = BUF_INIT(CONFIG_MAX_VALUE + 1);
        if (config_secret_get(&cfg, &cfg.master_key, &out) == ERR_OK && out.len == 0)
            abort();
        buf_wipe(&out);
        if (cfg.listen_host[0] == '\0' || cfg.threads < 1 || cfg.threads > 256 ||
            cfg.n_cors_origins > CONFIG_MAX_LIST || cfg.n_trusted_proxies > CONFIG_MAX_LIST)
            abort();
    } else if (msg.len == 0) {
        abort(); /* every error names its variable */
    }
    config_release(&cfg);
    buf_release(&msg);
    free(copy);
    return 0;
}
