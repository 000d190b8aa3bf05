/*
 * aead — see aead.h.
 *
 * AES-256-GCM through EVP with the cipher fetched once per process. Each call
 * uses its own EVP_CIPHER_CTX (freed, and so cleansed, before returning), so
 * nothing here keeps key material or needs a lock. OpenSSL takes int lengths:
 * long inputs are fed in chunks.
 *
 * The envelope functions never hand out unauthenticated plaintext: opening
 * decrypts into a private heap copy and appends to the caller's buffer only
 * after the tag has verified. The envelope's version and key id are part of
 * the GCM AAD (ahead of the caller's), so no byte of an envelope can change
 * without the tag failing.
 */
#include "crypto/aead.h"

#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/rand.h"

#define AEAD_CHUNK (1 << 30) /* bytes per EVP update: stays below INT_MAX */

static EVP_CIPHER *gcm_cipher;
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;

static void gcm_fetch(void)
{
    gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

/* A context keyed for encryption (enc = 1) or decryption (enc = 0); NULL on failure. */
static EVP_CIPHER_CTX *gcm_begin(const unsigned char *key, const unsigned char *nonce, int enc)
{
    if (pthread_once(&gcm_once, gcm_fetch) != 0 || !gcm_cipher)
        return NULL;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        err_oom();
    /* The default GCM IV length is 12 bytes (AEAD_NONCE_LEN); set it anyway. */
    size_t ivlen = AEAD_NONCE_LEN;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_CipherInit_ex2(ctx, gcm_cipher, NULL, NULL, enc, params) != 1 ||
        EVP_CipherInit_ex2(ctx, NULL, key, nonce, enc, NULL) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Feeds AAD (out == NULL) or text through the context, in int-sized chunks. */
static bool gcm_update(EVP_CIPHER_CTX *ctx, unsigned char *out, const unsigned char *in, size_t len)
{
    while (len) {
        int n = (int)(len > AEAD_CHUNK ? AEAD_CHUNK : len);
        int got = 0;
        if (EVP_CipherUpdate(ctx, out, &got, in, n) != 1 || (out && got != n))
            return false;
        in += n;
        if (out)
            out += n;
        len -= (size_t)n;
    }
    return true;
}

/*
 * The AAD is fed in two parts (head, then aad): the envelope authenticates its
 * own header ahead of the caller's AAD without copying either.
 */
static enum err gcm_seal(const unsigned char *key, const unsigned char *nonce,
                         const unsigned char *head, size_t head_len, const void *aad,
                         size_t aad_len, const void *pt, size_t pt_len, unsigned char *ct,
                         unsigned char *tag)
{
    if (!key || !nonce || !tag || (aad_len && !aad) || (pt_len && (!pt || !ct)))
        return ERR_INVALID;
    EVP_CIPHER_CTX *ctx = gcm_begin(key, nonce, 1);
    if (!ctx) {
        ERR_clear_error();
        return ERR_CRYPTO;
    }
    enum err e = ERR_CRYPTO;
    int got = 0;
    /* GCM emits nothing at the end; a scratch block keeps ct + pt_len out of it. */
    unsigned char last[16];
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, AEAD_TAG_LEN),
        OSSL_PARAM_construct_end(),
    };
    if (!gcm_update(ctx, NULL, head, head_len) || !gcm_update(ctx, NULL, aad, aad_len) ||
        !gcm_update(ctx, ct, pt, pt_len))
        goto out;
    if (EVP_EncryptFinal_ex(ctx, last, &got) != 1 || got != 0)
        goto out;
    if (EVP_CIPHER_CTX_get_params(ctx, params) != 1)
        goto out;
    e = ERR_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (e) {
        if (pt_len && ct)
            OPENSSL_cleanse(ct, pt_len);
        OPENSSL_cleanse(tag, AEAD_TAG_LEN);
        ERR_clear_error();
    }
    return e;
}

static enum err gcm_open(const unsigned char *key, const unsigned char *nonce,
                         const unsigned char *head, size_t head_len, const void *aad,
                         size_t aad_len, const void *ct, size_t ct_len, const unsigned char *tag,
                         unsigned char *pt)
{
    if (!key || !nonce || !tag || (aad_len && !aad) || (ct_len && (!ct || !pt)))
        return ERR_INVALID;
    EVP_CIPHER_CTX *ctx = gcm_begin(key, nonce, 0);
    if (!ctx) {
        if (ct_len)
            OPENSSL_cleanse(pt, ct_len);
        ERR_clear_error();
        return ERR_CRYPTO;
    }
    enum err e = ERR_CRYPTO;
    int got = 0;
    /* The tag parameter is read, not written; OpenSSL's OSSL_PARAM is not const. */
    unsigned char tag_copy[AEAD_TAG_LEN];
    memcpy(tag_copy, tag, AEAD_TAG_LEN);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag_copy, AEAD_TAG_LEN),
        OSSL_PARAM_construct_end(),
    };
    unsigned char last[16];
    if (!gcm_update(ctx, NULL, head, head_len) || !gcm_update(ctx, NULL, aad, aad_len) ||
        !gcm_update(ctx, pt, ct, ct_len) || EVP_CIPHER_CTX_set_params(ctx, params) != 1)
        goto out;
    if (EVP_DecryptFinal_ex(ctx, last, &got) != 1 || got != 0)
        goto out; /* tag mismatch */
    e = ERR_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (e) {
        if (ct_len)
            OPENSSL_cleanse(pt, ct_len);
        ERR_clear_error();
    }
    return e;
}

enum err aead_seal(const unsigned char key[AEAD_KEY_LEN], const unsigned char nonce[AEAD_NONCE_LEN],
                   const void *aad, size_t aad_len, const void *pt, size_t pt_len,
                   unsigned char *ct, unsigned char tag[AEAD_TAG_LEN])
{
    return gcm_seal(key, nonce, NULL, 0, aad, aad_len, pt, pt_len, ct, tag);
}

enum err aead_open(const unsigned char key[AEAD_KEY_LEN], const unsigned char nonce[AEAD_NONCE_LEN],
                   const void *aad, size_t aad_len, const void *ct, size_t ct_len,
                   const unsigned char tag[AEAD_TAG_LEN], unsigned char *pt)
{
    return gcm_open(key, nonce, NULL, 0, aad, aad_len, ct, ct_len, tag, pt);
}

/* The authenticated header: version and key id (the nonce is bound by GCM itself). */
static void envelope_head(const unsigned char *key_id, unsigned char head[ENVELOPE_AUTH_HEAD_LEN])
{
    head[0] = ENVELOPE_VERSION;
    memcpy(head + 1, key_id, ENVELOPE_KEY_ID_LEN);
}

enum err envelope_seal(const unsigned char key[AEAD_KEY_LEN],
                       const unsigned char key_id[ENVELOPE_KEY_ID_LEN], const void *aad,
                       size_t aad_len, const void *pt, size_t pt_len, struct buf *out)
{
    if (pt_len > ENVELOPE_MAX_PLAIN)
        return ERR_LIMIT; /* envelope_parse would refuse it */
    if (!key_id || (pt_len && !pt))
        return ERR_INVALID;
    size_t total = ENVELOPE_OVERHEAD + pt_len;
    unsigned char *env = malloc(total);
    if (!env)
        err_oom();
    envelope_head(key_id, env);
    unsigned char *nonce = env + 1 + ENVELOPE_KEY_ID_LEN;
    enum err e = rand_bytes(nonce, AEAD_NONCE_LEN);
    if (e == ERR_OK)
        e = gcm_seal(key, nonce, env, ENVELOPE_AUTH_HEAD_LEN, aad, aad_len, pt, pt_len,
                     env + ENVELOPE_HEADER_LEN, env + ENVELOPE_HEADER_LEN + pt_len);
    if (e == ERR_OK)
        e = buf_append(out, env, total);
    free(env); /* ciphertext only: nothing secret to wipe */
    return e;
}

enum err envelope_parse(const void *data, size_t len, struct envelope *out)
{
    memset(out, 0, sizeof(*out));
    if (!data || len < ENVELOPE_OVERHEAD)
        return ERR_INVALID;
    const unsigned char *p = data;
    if (p[0] != ENVELOPE_VERSION)
        return ERR_INVALID;
    size_t ct_len = len - ENVELOPE_OVERHEAD;
    if (ct_len > ENVELOPE_MAX_PLAIN)
        return ERR_INVALID;
    out->version = p[0];
    out->key_id = p + 1;
    out->nonce = p + 1 + ENVELOPE_KEY_ID_LEN;
    out->ct = p + ENVELOPE_HEADER_LEN;
    out->ct_len = ct_len;
    out->tag = p + ENVELOPE_HEADER_LEN + ct_len;
    return ERR_OK;
}

enum err envelope_open(const unsigned char key[AEAD_KEY_LEN], const struct envelope *env,
                       const void *aad, size_t aad_len, struct buf *out)
{
    if (!env || env->version != ENVELOPE_VERSION || env->ct_len > ENVELOPE_MAX_PLAIN ||
        !env->key_id || !env->nonce || !env->tag || (env->ct_len && !env->ct))
        return ERR_INVALID;
    unsigned char head[ENVELOPE_AUTH_HEAD_LEN];
    envelope_head(env->key_id, head);
    /* Private copy first: out only ever sees authenticated plaintext. */
    unsigned char *pt = malloc(env->ct_len ? env->ct_len : 1);
    if (!pt)
        err_oom();
    enum err e = gcm_open(key, env->nonce, head, sizeof(head), aad, aad_len, env->ct, env->ct_len,
                          env->tag, pt);
    if (e == ERR_OK)
        e = buf_append(out, pt, env->ct_len);
    OPENSSL_cleanse(pt, env->ct_len ? env->ct_len : 1);
    free(pt);
    return e;
}
