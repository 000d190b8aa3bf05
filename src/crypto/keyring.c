/*
 * keyring — see keyring.h.
 *
 * Previous keys are parsed from the secret setting with the same care as the
 * current one: every copy of key text or bytes is wiped, and error messages
 * name entries by position, never by value (C3).
 */
#include "crypto/keyring.h"

#include <string.h>

#include "crypto/hash.h"
#include "crypto/kdf.h"
#include "crypto/rand.h"

#define KEYRING_KEY_HEX_LEN (2 * MASTER_KEY_LEN)
#define KEYRING_SALT        "shiplog"
#define KEYRING_INFO_KEK    "shiplog/v1/kek"
#define KEYRING_INFO_CKPT   "shiplog/v1/audit-checkpoint"

_Static_assert(ENVELOPE_KEY_ID_LEN * 2 == MASTER_KEY_ID_LEN, "key id sizes disagree");

/* Same id as masterkey.c: the first 8 bytes of SHA-256(key), in hex. */
static void keyring_set_id(struct master_key *k)
{
    unsigned char digest[SHA256_LEN];
    sha256(k->bytes, MASTER_KEY_LEN, digest);
    hex_encode(digest, MASTER_KEY_ID_LEN / 2, k->id);
    crypto_wipe(digest, sizeof(digest));
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Parses the comma-separated previous keys into r->keys[1..]. */
static enum err keyring_parse_previous(struct keyring *r, const char *text, size_t len,
                                       struct buf *msg)
{
    /* A value that is only whitespace lists no keys. */
    size_t k = 0;
    while (k < len && is_space(text[k]))
        k++;
    if (k == len)
        return ERR_OK;

    size_t pos = 0;
    for (size_t entry = 1;; entry++) {
        size_t end = pos;
        while (end < len && text[end] != ',')
            end++;
        size_t a = pos, b = end;
        while (a < b && is_space(text[a]))
            a++;
        while (b > a && is_space(text[b - 1]))
            b--;
        if (r->n >= KEYRING_MAX) {
            buf_note(msg, "SHIPLOG_MASTER_KEYS_PREVIOUS lists more than %d keys", KEYRING_MAX - 1);
            return ERR_CONFIG;
        }
        struct master_key *mk = &r->keys[r->n];
        memset(mk, 0, sizeof(*mk));
        if (b - a != KEYRING_KEY_HEX_LEN ||
            hex_decode(text + a, b - a, mk->bytes, MASTER_KEY_LEN) != ERR_OK) {
            master_key_wipe(mk);
            buf_note(msg, "SHIPLOG_MASTER_KEYS_PREVIOUS entry %zu must be %d hex digits (32 bytes)",
                     entry, KEYRING_KEY_HEX_LEN);
            return ERR_CONFIG;
        }
        keyring_set_id(mk);
        for (size_t i = 0; i < r->n; i++) {
            if (crypto_equal(r->keys[i].bytes, mk->bytes, MASTER_KEY_LEN) ||
                strcmp(r->keys[i].id, mk->id) == 0) {
                master_key_wipe(mk);
                if (i == 0)
                    buf_note(msg,
                             "SHIPLOG_MASTER_KEYS_PREVIOUS entry %zu is the current "
                             "master key",
                             entry);
                else
                    buf_note(msg,
                             "SHIPLOG_MASTER_KEYS_PREVIOUS entries %zu and %zu are the "
                             "same key",
                             i, entry);
                return ERR_CONFIG;
            }
        }
        r->n++;
        if (end == len)
            return ERR_OK;
        pos = end + 1;
    }
}

enum err keyring_load(struct config *cfg, struct keyring *out, struct buf *msg)
{
    memset(out, 0, sizeof(*out));
    enum err e = master_key_load(cfg, &out->keys[0], msg);
    if (e)
        return e;
    out->n = 1;

    struct config_secret *prev = &cfg->master_keys_previous;
    if (!prev->set)
        return ERR_OK;
    struct buf value = BUF_INIT(CONFIG_MAX_SECRET_FILE);
    e = config_secret_get(cfg, prev, &value);
    if (e) {
        buf_note(msg, "cannot read SHIPLOG_MASTER_KEYS_PREVIOUS%s", prev->file ? "_FILE" : "");
        e = ERR_CONFIG;
    } else {
        e = keyring_parse_previous(out, buf_cstr(&value), value.len, msg);
    }
    buf_wipe(&value);
    if (e)
        keyring_wipe(out);
    return e;
}

void keyring_wipe(struct keyring *r)
{
    for (size_t i = 0; i < KEYRING_MAX; i++)
        master_key_wipe(&r->keys[i]);
    r->n = 0;
}

const struct master_key *keyring_current(const struct keyring *r)
{
    return r->n ? &r->keys[0] : NULL;
}

const struct master_key *keyring_find(const struct keyring *r, const char *id)
{
    if (!id || strlen(id) != MASTER_KEY_ID_LEN)
        return NULL;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->keys[i].id, id) == 0)
            return &r->keys[i];
    return NULL;
}

const struct master_key *keyring_find_bytes(const struct keyring *r,
                                            const unsigned char id[ENVELOPE_KEY_ID_LEN])
{
    char hex[MASTER_KEY_ID_LEN + 1];
    hex_encode(id, ENVELOPE_KEY_ID_LEN, hex);
    return keyring_find(r, hex);
}

void keyring_id_bytes(const struct master_key *k, unsigned char out[ENVELOPE_KEY_ID_LEN])
{
    ASSERT(hex_decode(k->id, MASTER_KEY_ID_LEN, out, ENVELOPE_KEY_ID_LEN) == ERR_OK);
}

enum err keyring_subkey(const struct master_key *k, const char *info, unsigned char *out,
                        size_t len)
{
    if (!k || !info || len == 0 || len > 64)
        return ERR_INVALID;
    return hkdf_sha256(k->bytes, MASTER_KEY_LEN, KEYRING_SALT, strlen(KEYRING_SALT), info,
                       strlen(info), out, len);
}

enum err keyring_kek(const struct master_key *k, unsigned char out[AEAD_KEY_LEN])
{
    return hkdf_sha256(k->bytes, MASTER_KEY_LEN, KEYRING_SALT, strlen(KEYRING_SALT),
                       KEYRING_INFO_KEK, strlen(KEYRING_INFO_KEK), out, AEAD_KEY_LEN);
}

enum err keyring_checkpoint_key(const struct master_key *k, struct sign_key *out)
{
    unsigned char seed[SIGN_SEED_LEN];
    enum err e = hkdf_sha256(k->bytes, MASTER_KEY_LEN, KEYRING_SALT, strlen(KEYRING_SALT),
                             KEYRING_INFO_CKPT, strlen(KEYRING_INFO_CKPT), seed, sizeof(seed));
    if (e == ERR_OK)
        e = sign_key_from_seed(seed, out);
    else
        sign_key_wipe(out);
    crypto_wipe(seed, sizeof(seed));
    return e;
}
