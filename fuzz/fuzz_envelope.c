/*
 * fuzz_envelope — envelope_parse on the input; when it parses, the views must
 * lie inside the input and add up, and envelope_open must either fail cleanly
 * (ERR_CRYPTO, nothing appended) or, only for a real envelope sealed with the
 * fixed key and AAD below (the corpus holds some), return the plaintext. The
 * same is tried with the input's first 32 bytes as the key. A plaintext that
 * opened is sealed again and must round-trip.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/aead.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Shared with the corpus generator: real seeds are sealed with these. */
static const unsigned char fuzz_key[AEAD_KEY_LEN] = "shiplog-fuzz-envelope-key-000001";
static const char fuzz_aad[] = "fuzz-aad";

static void check_open(const unsigned char key[AEAD_KEY_LEN], const struct envelope *env)
{
    struct buf out = BUF_INIT(ENVELOPE_MAX_PLAIN);
    enum err e = envelope_open(key, env, fuzz_aad, sizeof(fuzz_aad) - 1, &out);
    if (e != ERR_OK) {
        if (e != ERR_CRYPTO || out.len != 0)
            abort(); /* only a clean authentication failure, never partial plaintext */
        buf_release(&out);
        return;
    }
    if (out.len != env->ct_len)
        abort();
    /* a plaintext that opened seals and opens again */
    unsigned char key_id[ENVELOPE_KEY_ID_LEN];
    memcpy(key_id, env->key_id, sizeof(key_id));
    struct buf again = BUF_INIT(ENVELOPE_OVERHEAD + ENVELOPE_MAX_PLAIN);
    struct envelope env2;
    struct buf out2 = BUF_INIT(ENVELOPE_MAX_PLAIN);
    if (envelope_seal(key, key_id, fuzz_aad, sizeof(fuzz_aad) - 1, out.data, out.len, &again) ||
        envelope_parse(again.data, again.len, &env2) ||
        envelope_open(key, &env2, fuzz_aad, sizeof(fuzz_aad) - 1, &out2) || out2.len != out.len ||
        (out.len && memcmp(out.data, out2.data, out.len) != 0))
        abort();
    buf_wipe(&out2);
    buf_release(&again);
    buf_wipe(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct envelope env;
    enum err e = envelope_parse(data, size, &env);
    if (e != ERR_OK) {
        if (e != ERR_INVALID)
            abort();
        return 0;
    }
    const unsigned char *end = data + size;
    if (size < ENVELOPE_OVERHEAD || env.version != ENVELOPE_VERSION ||
        env.ct_len != size - ENVELOPE_OVERHEAD || env.ct_len > ENVELOPE_MAX_PLAIN ||
        env.key_id != data + 1 || env.nonce != data + 1 + ENVELOPE_KEY_ID_LEN ||
        env.ct != data + ENVELOPE_HEADER_LEN || env.tag + AEAD_TAG_LEN != end)
        abort();

    check_open(fuzz_key, &env);
    if (size >= AEAD_KEY_LEN) {
        unsigned char key[AEAD_KEY_LEN];
        memcpy(key, data, sizeof(key));
        check_open(key, &env);
    }
    return 0;
}
