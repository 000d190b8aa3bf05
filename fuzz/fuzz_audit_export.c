/*
 * fuzz_audit_export — the JSON Lines parser of `shiplog audit verify --file`
 * and the verifier behind it. Each line goes through audit_export_parse_line
 * on its own, then the whole input through audit_verify_export (fmemopen is
 * seekable, so the re-reading that classifies a reordering runs too).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t rest = size;
    while (rest) {
        const char *nl = memchr(p, '\n', rest);
        size_t len = nl ? (size_t)(nl - p) : rest;
        struct audit_record r;
        if (audit_export_parse_line(p, len, &r) == ERR_OK) {
            if (!r.doc_)
                __builtin_trap();
            audit_record_release(&r);
        }
        p += len + (nl ? 1 : 0);
        rest -= len + (nl ? 1 : 0);
    }
    if (size == 0)
        return 0;
    FILE *f = fmemopen((void *)(uintptr_t)data, size, "rb");
    if (!f)
        return 0;
    static struct audit_trusted_keys keys;
    static bool ready;
    if (!ready) {
        struct sign_key k;
        unsigned char seed[SIGN_SEED_LEN];
        memset(seed, 0x5a, sizeof seed);
        if (sign_key_from_seed(seed, &k) != ERR_OK ||
            audit_trusted_keys_add(&keys, k.pub) != ERR_OK)
            __builtin_trap();
        sign_key_wipe(&k);
        ready = true;
    }
    struct audit_verify_result res;
    char tenant[STORAGE_TENANT_ID_LEN + 1];
    if (audit_verify_export(f, &keys, &res, tenant) == ERR_OK &&
        (strlen(tenant) > STORAGE_TENANT_ID_LEN || (res.kind == AUDIT_OK && res.seq != 0)))
        __builtin_trap();
    fclose(f);
    return 0;
}
