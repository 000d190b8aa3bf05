/*
 * kdf — see kdf.h.
 *
 * HKDF through the EVP_KDF interface of OpenSSL 3, fetched once per process.
 * Each call gets its own EVP_KDF_CTX (the context holds the key material and
 * is cleansed by EVP_KDF_CTX_free), so the functions are thread-safe.
 */
#include "crypto/kdf.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdint.h>

static EVP_KDF *hkdf_kdf;
static pthread_once_t hkdf_once = PTHREAD_ONCE_INIT;

static void hkdf_fetch(void)
{
    hkdf_kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

/* OpenSSL wants non-NULL pointers even for empty strings. */
static void *octets(const void *p, size_t len)
{
    static unsigned char empty[1];
    return (len && p) ? (void *)(uintptr_t)p : empty;
}

/* One HKDF run in the given mode (EVP_KDF_HKDF_MODE_*). */
static enum err hkdf_run(int mode, const void *key, size_t key_len, const void *salt,
                         size_t salt_len, const void *info, size_t info_len, unsigned char *out,
                         size_t out_len)
{
    if (!out || out_len == 0 || out_len > HKDF_MAX_OUT || (key_len && !key) ||
        (salt_len && !salt) || (info_len && !info))
        return ERR_INVALID;
    if (pthread_once(&hkdf_once, hkdf_fetch) != 0 || !hkdf_kdf)
        return ERR_CRYPTO;
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(hkdf_kdf);
    if (!ctx)
        err_oom();

    OSSL_PARAM params[6];
    size_t i = 0;
    params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[i++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    params[i++] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, octets(key, key_len), key_len);
    /* RFC 5869: an absent salt is HashLen zeros, which is what HMAC does with "". */
    if (salt_len)
        params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, octets(salt, salt_len),
                                                        salt_len);
    if (info_len)
        params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, octets(info, info_len),
                                                        info_len);
    params[i] = OSSL_PARAM_construct_end();

    enum err e = EVP_KDF_derive(ctx, out, out_len, params) == 1 ? ERR_OK : ERR_CRYPTO;
    EVP_KDF_CTX_free(ctx);
    if (e) {
        OPENSSL_cleanse(out, out_len);
        ERR_clear_error();
    }
    return e;
}

enum err hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt, size_t salt_len,
                     const void *info, size_t info_len, unsigned char *out, size_t out_len)
{
    return hkdf_run(EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND, ikm, ikm_len, salt, salt_len, info,
                    info_len, out, out_len);
}

enum err hkdf_sha256_extract(const void *ikm, size_t ikm_len, const void *salt, size_t salt_len,
                             unsigned char prk[HKDF_PRK_LEN])
{
    return hkdf_run(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, ikm, ikm_len, salt, salt_len, NULL, 0, prk,
                    HKDF_PRK_LEN);
}

enum err hkdf_sha256_expand(const unsigned char prk[HKDF_PRK_LEN], const void *info,
                            size_t info_len, unsigned char *out, size_t out_len)
{
    return hkdf_run(EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, HKDF_PRK_LEN, NULL, 0, info, info_len, out,
                    out_len);
}
