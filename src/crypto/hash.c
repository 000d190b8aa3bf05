/*
 * hash — see hash.h.
 *
 * The SHA-256 implementation is fetched from the default provider once per
 * process (EVP_MD_fetch) instead of on every call: audit verification hashes
 * millions of entries and an implicit fetch per init shows up in profiles.
 * OpenSSL failing to hash is not something a caller can recover from, so the
 * void functions ASSERT instead of returning an error.
 */
#include "crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_get(void)
{
    ASSERT(pthread_once(&sha256_once, sha256_fetch) == 0);
    ASSERT(sha256_md != NULL);
    return sha256_md;
}

void sha256(const void *data, size_t len, unsigned char out[SHA256_LEN])
{
    unsigned int n = 0;
    ASSERT(EVP_Digest(len ? data : "", len, out, &n, sha256_get(), NULL) == 1);
    ASSERT(n == SHA256_LEN);
}

void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                 unsigned char out[SHA256_LEN])
{
    /* An empty key must still be a non-NULL pointer, or HMAC has "no key set". */
    size_t n = 0;
    const unsigned char *mac =
        EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key_len ? key : "", key_len,
                  (const unsigned char *)(len ? data : ""), len, out, SHA256_LEN, &n);
    ASSERT(mac != NULL);
    ASSERT(n == SHA256_LEN);
}

static EVP_MAC *hmac_mac;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

void hmac_sha256_parts(const void *key, size_t key_len, const struct str *parts, size_t n,
                       unsigned char out[SHA256_LEN])
{
    ASSERT(pthread_once(&hmac_once, hmac_fetch) == 0);
    ASSERT(hmac_mac != NULL);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_mac);
    if (!ctx)
        err_oom();
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    ASSERT(EVP_MAC_init(ctx, key_len ? key : (const void *)"", key_len, params) == 1);
    for (size_t i = 0; i < n; i++)
        if (parts[i].len)
            ASSERT(EVP_MAC_update(ctx, (const unsigned char *)parts[i].ptr, parts[i].len) == 1);
    size_t len = 0;
    ASSERT(EVP_MAC_final(ctx, out, &len, SHA256_LEN) == 1);
    ASSERT(len == SHA256_LEN);
    EVP_MAC_CTX_free(ctx); /* cleanses the keyed state */
}

void hmac_sha384(const void *key, size_t key_len, const void *data, size_t len,
                 unsigned char out[SHA384_LEN])
{
    size_t n = 0;
    const unsigned char *mac =
        EVP_Q_mac(NULL, "HMAC", NULL, "SHA384", NULL, key_len ? key : "", key_len,
                  (const unsigned char *)(len ? data : ""), len, out, SHA384_LEN, &n);
    ASSERT(mac != NULL);
    ASSERT(n == SHA384_LEN);
}

void sha256_ctx_init(struct sha256_ctx *c)
{
    c->md = EVP_MD_CTX_new();
    if (!c->md)
        err_oom();
    sha256_begin(c);
}

void sha256_ctx_free(struct sha256_ctx *c)
{
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
}

void sha256_begin(struct sha256_ctx *c)
{
    ASSERT(EVP_DigestInit_ex2(c->md, sha256_get(), NULL) == 1);
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
    if (len)
        ASSERT(EVP_DigestUpdate(c->md, data, len) == 1);
}

void sha256_end(struct sha256_ctx *c, unsigned char out[SHA256_LEN])
{
    unsigned int n = 0;
    ASSERT(EVP_DigestFinal_ex(c->md, out, &n) == 1);
    ASSERT(n == SHA256_LEN);
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
    return len == 0 || CRYPTO_memcmp(a, b, len) == 0;
}

void crypto_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}
