/*
 * sign — see sign.h.
 *
 * Ed25519 (RFC 8032, pure: no pre-hash, so the EVP digest is NULL). Only the
 * seed is kept; an EVP_PKEY is built for each signature and freed at once, so
 * no OpenSSL object holding the secret outlives a call. Signing is rare
 * (checkpoints), so the rebuild costs nothing that matters.
 */
#include "crypto/sign.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

enum err sign_key_from_seed(const unsigned char seed[SIGN_SEED_LEN], struct sign_key *out)
{
    unsigned char copy[SIGN_SEED_LEN];
    memcpy(copy, seed, SIGN_SEED_LEN); /* seed may alias out->seed */
    memset(out, 0, sizeof(*out));
    enum err e = ERR_CRYPTO;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, copy, SIGN_SEED_LEN);
    size_t pub_len = SIGN_PUBLIC_LEN;
    if (pkey && EVP_PKEY_get_raw_public_key(pkey, out->pub, &pub_len) == 1 &&
        pub_len == SIGN_PUBLIC_LEN) {
        memcpy(out->seed, copy, SIGN_SEED_LEN);
        e = ERR_OK;
    }
    EVP_PKEY_free(pkey);
    OPENSSL_cleanse(copy, sizeof(copy));
    if (e) {
        sign_key_wipe(out);
        ERR_clear_error();
    }
    return e;
}

void sign_key_wipe(struct sign_key *k)
{
    OPENSSL_cleanse(k, sizeof(*k));
}

enum err sign_ed25519(const struct sign_key *k, const void *msg, size_t len,
                      unsigned char sig[SIGN_SIG_LEN])
{
    if (len && !msg)
        return ERR_INVALID;
    enum err e = ERR_CRYPTO;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        err_oom();
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, k->seed, SIGN_SEED_LEN);
    size_t sig_len = SIGN_SIG_LEN;
    if (pkey && EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, pkey, NULL) == 1 &&
        EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)(len ? msg : ""), len) == 1 &&
        sig_len == SIGN_SIG_LEN)
        e = ERR_OK;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    if (e) {
        OPENSSL_cleanse(sig, SIGN_SIG_LEN);
        ERR_clear_error();
    }
    return e;
}

bool sign_verify_ed25519(const unsigned char pub[SIGN_PUBLIC_LEN], const void *msg, size_t len,
                         const unsigned char sig[SIGN_SIG_LEN])
{
    if (!pub || !sig || (len && !msg))
        return false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        err_oom();
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pub, SIGN_PUBLIC_LEN);
    bool ok =
        pkey && EVP_DigestVerifyInit_ex(md, NULL, NULL, NULL, NULL, pkey, NULL) == 1 &&
        EVP_DigestVerify(md, sig, SIGN_SIG_LEN, (const unsigned char *)(len ? msg : ""), len) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    if (!ok)
        ERR_clear_error();
    return ok;
}
