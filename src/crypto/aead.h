/*
 * aead — AES-256-GCM, and the envelope that carries its output (C1, C2).
 *
 * Envelope format, version 1 (all binary, stored as a blob):
 *
 *   offset  size  field
 *   0       1     version = 0x01
 *   1       8     key id (which key sealed it: a tenant data key id, or a
 *                 master key id for wrapped data keys)
 *   9       12    nonce (random per seal)
 *   21      n     ciphertext (same length as the plaintext)
 *   21+n    16    GCM tag
 *
 * The AAD is never stored: the caller rebuilds it from where the envelope
 * lives (tenant, purpose, record id), so an envelope copied to another row or
 * tenant fails to open. The AAD given to GCM is the envelope's first
 * ENVELOPE_AUTH_HEAD_LEN bytes (version and key id) followed by the caller's
 * AAD, so the header is authenticated too: changing any byte of an envelope
 * makes it fail to open. (Build envelopes only with envelope_seal.) Nonces are 96 random bits from
 * the OS CSPRNG; with keys per tenant and purpose, the number of seals per key stays far below the
 * 2^32 bound for random GCM nonces.
 */
#ifndef SHIPLOG_CRYPTO_AEAD_H
#define SHIPLOG_CRYPTO_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define AEAD_KEY_LEN           32
#define AEAD_NONCE_LEN         12
#define AEAD_TAG_LEN           16
#define ENVELOPE_VERSION       1
#define ENVELOPE_KEY_ID_LEN    8
#define ENVELOPE_HEADER_LEN    (1 + ENVELOPE_KEY_ID_LEN + AEAD_NONCE_LEN)
#define ENVELOPE_AUTH_HEAD_LEN (1 + ENVELOPE_KEY_ID_LEN) /* header bytes bound into the AAD */
#define ENVELOPE_OVERHEAD      (ENVELOPE_HEADER_LEN + AEAD_TAG_LEN)
#define ENVELOPE_MAX_PLAIN     65536 /* bytes of plaintext a secret may have */

/* Raw AES-256-GCM. ct has pt_len bytes. aead_open returns ERR_CRYPTO on a bad tag
 * (pt is then zeroed). */
MUST_CHECK enum err aead_seal(const unsigned char key[AEAD_KEY_LEN],
                              const unsigned char nonce[AEAD_NONCE_LEN], const void *aad,
                              size_t aad_len, const void *pt, size_t pt_len, unsigned char *ct,
                              unsigned char tag[AEAD_TAG_LEN]);
MUST_CHECK enum err aead_open(const unsigned char key[AEAD_KEY_LEN],
                              const unsigned char nonce[AEAD_NONCE_LEN], const void *aad,
                              size_t aad_len, const void *ct, size_t ct_len,
                              const unsigned char tag[AEAD_TAG_LEN], unsigned char *pt);

/* A parsed envelope: views into the caller's bytes. */
struct envelope {
    uint8_t version;
    const unsigned char *key_id; /* ENVELOPE_KEY_ID_LEN bytes */
    const unsigned char *nonce;
    const unsigned char *ct;
    size_t ct_len;
    const unsigned char *tag;
};

/* Seals pt under key into out (appended), with a fresh random nonce. */
MUST_CHECK enum err envelope_seal(const unsigned char key[AEAD_KEY_LEN],
                                  const unsigned char key_id[ENVELOPE_KEY_ID_LEN], const void *aad,
                                  size_t aad_len, const void *pt, size_t pt_len, struct buf *out);

/*
 * Parses untrusted bytes (fuzzed). ERR_INVALID when too short, of an unknown
 * version, or with a ciphertext over ENVELOPE_MAX_PLAIN.
 */
MUST_CHECK enum err envelope_parse(const void *data, size_t len, struct envelope *out);

/*
 * Opens a parsed envelope into out (appended; wipe it with buf_wipe after use).
 * ERR_CRYPTO when the key, the AAD or any byte is wrong.
 */
MUST_CHECK enum err envelope_open(const unsigned char key[AEAD_KEY_LEN], const struct envelope *env,
                                  const void *aad, size_t aad_len, struct buf *out);

#endif
