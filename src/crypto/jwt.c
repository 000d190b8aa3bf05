/*
 * jwt — see jwt.h.
 *
 * The header is not parsed but compared with the one header this module
 * writes, so the only JSON an attacker can make us parse is a payload that
 * carries a valid signature, i.e. one we wrote. The claim alphabets need no
 * JSON escaping, so the longest possible token is a compile-time constant
 * below JWT_MAX_LEN (checked below), and a token this module signs always
 * passes its own verifier.
 *
 * base64url (RFC 4648 §5, no padding) is core/base64's. Its decoder is
 * strict: the alphabet only, no '=', no length of 1 mod 4, and the unused
 * bits of the last character must be zero, so each byte string has exactly
 * one accepted text and a token cannot be altered without breaking it.
 */
#include "crypto/jwt.h"

#include <pthread.h>
#include <string.h>

#include "core/base64.h"
#include "core/json.h"
#include "crypto/hash.h"
#include "crypto/rand.h"
#include "crypto/sign.h"

#define JWT_HEADER_PREFIX "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\""
#define JWT_HEADER_SUFFIX "\"}"
#define JWT_HEADER_LEN                                                                             \
    (sizeof(JWT_HEADER_PREFIX) - 1 + MASTER_KEY_ID_LEN + sizeof(JWT_HEADER_SUFFIX) - 1)

#define JWT_CLAIM_COUNT 8 /* iss sub tid jti iat exp sid scope */

/* Member names, quotes, separators and two 16-digit times (103 bytes), rounded up. */
#define JWT_PAYLOAD_OVERHEAD 128
#define JWT_PAYLOAD_MAX                                                                            \
    (JWT_PAYLOAD_OVERHEAD + JWT_MAX_ISS + 2 * JWT_UUID_LEN + JWT_JTI_LEN + JWT_MAX_SID +           \
     JWT_MAX_SCOPE)

#define JWT_SIG_TEXT_LEN BASE64URL_LEN(SIGN_SIG_LEN)
#define JWT_TOKEN_MAX                                                                              \
    (BASE64URL_LEN(JWT_HEADER_LEN) + 1 + BASE64URL_LEN(JWT_PAYLOAD_MAX) + 1 + JWT_SIG_TEXT_LEN)

_Static_assert(JWT_TOKEN_MAX <= JWT_MAX_LEN, "a signed token must fit JWT_MAX_LEN");
_Static_assert(JWT_MAX_SCOPE >= JWT_MAX_ISS && JWT_MAX_SCOPE >= JWT_MAX_SID &&
                   JWT_MAX_SCOPE >= JWT_UUID_LEN,
               "the JSON string limit is the longest claim");
_Static_assert(JWT_MAX_TIME < INT64_MAX - JWT_MAX_LEEWAY_S, "time arithmetic cannot overflow");

/* Refusal reasons for logs (jwt_verify's *reason). */
static const char R_TOO_LONG[] = "token too long";
static const char R_MALFORMED[] = "malformed token";
static const char R_HEADER[] = "unsupported header";
static const char R_KID[] = "unknown key";
static const char R_SIGNATURE[] = "bad signature";
static const char R_CLAIMS[] = "malformed claims";
static const char R_LIFETIME[] = "expires before issued";
static const char R_TOO_LONG_LIVED[] = "lifetime too long";
static const char R_EXPIRED[] = "expired";
static const char R_FUTURE[] = "issued in the future";

/* ---- claims --------------------------------------------------------------------- */

static bool claim_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '/' || c == '-';
}

/* NUL-terminated within cap bytes, min..cap characters of the claim alphabet. */
static bool claim_text_valid(const char *s, size_t min, size_t cap)
{
    size_t n = strnlen(s, cap + 1);
    if (n < min || n > cap)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!claim_char(s[i]))
            return false;
    return true;
}

static bool scope_valid(const char *s)
{
    size_t n = strnlen(s, JWT_MAX_SCOPE + 1);
    if (n > JWT_MAX_SCOPE)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            /* a separator: never first, last or doubled */
            if (i == 0 || i + 1 == n || s[i + 1] == ' ')
                return false;
        } else if (!claim_char(s[i])) {
            return false;
        }
    }
    return true;
}

static bool lower_hex_valid(const char *s, size_t len)
{
    if (strnlen(s, len + 1) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool uuid_valid(const char *s)
{
    size_t n = strnlen(s, JWT_UUID_LEN + 1);
    return n == JWT_UUID_LEN && str_is_uuid(str_from(s, n));
}

/* Strings and the range of the times; the lifetime is checked by the callers. */
static bool claims_well_formed(const struct jwt_claims *c)
{
    return claim_text_valid(c->iss, 1, JWT_MAX_ISS) && uuid_valid(c->sub) && uuid_valid(c->tid) &&
           lower_hex_valid(c->jti, JWT_JTI_LEN) && claim_text_valid(c->sid, 0, JWT_MAX_SID) &&
           scope_valid(c->scope) && c->iat >= 0 && c->iat <= JWT_MAX_TIME && c->exp >= 0 &&
           c->exp <= JWT_MAX_TIME;
}

/* ---- keys ------------------------------------------------------------------------- */

static enum err jwt_key(const struct master_key *k, struct sign_key *out)
{
    unsigned char seed[SIGN_SEED_LEN];
    enum err e = keyring_subkey(k, JWT_KEY_INFO, seed, sizeof(seed));
    if (e == ERR_OK)
        e = sign_key_from_seed(seed, out);
    if (e != ERR_OK) {
        sign_key_wipe(out);
        e = ERR_CRYPTO;
    }
    crypto_wipe(seed, sizeof(seed));
    return e;
}

/*
 * The verification keys of the master keys seen so far: deriving one (HKDF,
 * then the Ed25519 public key from the seed) costs more than the signature
 * check itself, and every authenticated request verifies a token. Only public
 * keys are kept; an entry is found by the SHA-256 of the master key's bytes
 * (never by its id alone, so a ring holding a different key under a known id
 * cannot pick up a cached public key), and the ring is still asked first
 * (keyring_find), so a key that left the ring verifies nothing even while its
 * public key is cached. Signing derives its secret key each time and keeps
 * nothing. A full cache replaces its slots in turn.
 */
#define JWT_KEY_CACHE_SLOTS KEYRING_MAX

struct jwt_cached_key {
    bool used;
    unsigned char fingerprint[SHA256_LEN]; /* SHA-256 of the master key's bytes */
    unsigned char pub[SIGN_PUBLIC_LEN];
};

static pthread_mutex_t key_cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct jwt_cached_key key_cache[JWT_KEY_CACHE_SLOTS];
static size_t key_cache_next; /* the slot the next miss fills */

/* The public verification key of master key k, from the cache or derived (and cached). */
static enum err jwt_public_key(const struct master_key *k, unsigned char pub[SIGN_PUBLIC_LEN])
{
    /* a hash of the master key: not the key, but wiped like anything derived from it */
    unsigned char fp[SHA256_LEN];
    sha256(k->bytes, MASTER_KEY_LEN, fp);
    bool hit = false;
    pthread_mutex_lock(&key_cache_mu);
    for (size_t i = 0; i < JWT_KEY_CACHE_SLOTS && !hit; i++) {
        if (key_cache[i].used && memcmp(key_cache[i].fingerprint, fp, sizeof fp) == 0) {
            memcpy(pub, key_cache[i].pub, SIGN_PUBLIC_LEN);
            hit = true;
        }
    }
    pthread_mutex_unlock(&key_cache_mu);
    enum err e = ERR_OK;
    if (hit)
        goto done;

    struct sign_key sk;
    e = jwt_key(k, &sk); /* outside the lock: other threads keep verifying */
    if (e)
        goto done;
    memcpy(pub, sk.pub, SIGN_PUBLIC_LEN);
    sign_key_wipe(&sk);
    pthread_mutex_lock(&key_cache_mu);
    bool present = false; /* another thread may have derived it meanwhile */
    for (size_t i = 0; i < JWT_KEY_CACHE_SLOTS && !present; i++)
        present = key_cache[i].used && memcmp(key_cache[i].fingerprint, fp, sizeof fp) == 0;
    if (!present) {
        struct jwt_cached_key *slot = &key_cache[key_cache_next];
        key_cache_next = (key_cache_next + 1) % JWT_KEY_CACHE_SLOTS;
        slot->used = true;
        memcpy(slot->fingerprint, fp, sizeof fp);
        memcpy(slot->pub, pub, SIGN_PUBLIC_LEN);
    }
    pthread_mutex_unlock(&key_cache_mu);
done:
    crypto_wipe(fp, sizeof fp);
    return e;
}

/* ---- signing ---------------------------------------------------------------------- */

enum err jwt_new_jti(char out[JWT_JTI_LEN + 1])
{
    _Static_assert(JWT_JTI_LEN == 2 * 16, "128 bits of jti");
    enum err e = rand_hex(out, JWT_JTI_LEN / 2);
    if (e)
        out[0] = '\0';
    return e;
}

static enum err write_payload(const struct jwt_claims *c, struct buf *out)
{
    struct jw w;
    jw_init(&w, out);
    jw_object_begin(&w);
    jw_key(&w, "iss");
    jw_cstring(&w, c->iss);
    jw_key(&w, "sub");
    jw_cstring(&w, c->sub);
    jw_key(&w, "tid");
    jw_cstring(&w, c->tid);
    jw_key(&w, "jti");
    jw_cstring(&w, c->jti);
    jw_key(&w, "iat");
    jw_int(&w, c->iat);
    jw_key(&w, "exp");
    jw_int(&w, c->exp);
    jw_key(&w, "sid");
    jw_cstring(&w, c->sid);
    jw_key(&w, "scope");
    jw_cstring(&w, c->scope);
    jw_object_end(&w);
    return jw_finish(&w);
}

enum err jwt_sign(const struct master_key *k, const struct jwt_claims *c, struct buf *out)
{
    if (!k || !c || !out || !lower_hex_valid(k->id, MASTER_KEY_ID_LEN))
        return ERR_INVALID;
    if (!claims_well_formed(c) || c->exp <= c->iat || c->exp - c->iat > JWT_MAX_LIFETIME_S)
        return ERR_INVALID;

    struct sign_key sk;
    enum err e = jwt_key(k, &sk);
    if (e)
        return e;
    struct buf payload = BUF_INIT(JWT_PAYLOAD_MAX);
    struct buf tok = BUF_INIT(JWT_MAX_LEN);
    unsigned char sig[SIGN_SIG_LEN];
    char header[JWT_HEADER_LEN + 1];
    memcpy(header, JWT_HEADER_PREFIX, sizeof(JWT_HEADER_PREFIX) - 1);
    memcpy(header + sizeof(JWT_HEADER_PREFIX) - 1, k->id, MASTER_KEY_ID_LEN);
    memcpy(header + sizeof(JWT_HEADER_PREFIX) - 1 + MASTER_KEY_ID_LEN, JWT_HEADER_SUFFIX,
           sizeof(JWT_HEADER_SUFFIX));

    if ((e = write_payload(c, &payload)) != ERR_OK)
        goto done;
    if ((e = base64url_encode(&tok, header, JWT_HEADER_LEN)) != ERR_OK ||
        (e = buf_putc(&tok, '.')) != ERR_OK ||
        (e = base64url_encode(&tok, payload.data, payload.len)) != ERR_OK)
        goto done;
    if ((e = sign_ed25519(&sk, tok.data, tok.len, sig)) != ERR_OK)
        goto done;
    if ((e = buf_putc(&tok, '.')) != ERR_OK ||
        (e = base64url_encode(&tok, sig, sizeof(sig))) != ERR_OK)
        goto done;
    e = buf_append(out, tok.data, tok.len); /* all or nothing */

done:
    /* the bounds above make ERR_LIMIT impossible here but in out */
    sign_key_wipe(&sk);
    buf_release(&payload);
    buf_release(&tok);
    return e;
}

/* ---- verification ----------------------------------------------------------------- */

/* Copies a JSON string member into dst[0..cap] (NUL-terminated); false when absent or too long. */
static bool copy_string(const struct json *doc, const char *key, char *dst, size_t cap)
{
    struct str s;
    if (!json_as_str(json_get(doc, key), &s) || s.len > cap)
        return false;
    memcpy(dst, s.ptr, s.len);
    dst[s.len] = '\0';
    return true;
}

/* The payload bytes as an object of exactly the claim members, into *out. */
static bool parse_claims(const unsigned char *text, size_t len, struct jwt_claims *out)
{
    static const struct json_limits lim = {
        .max_bytes = JWT_PAYLOAD_MAX,
        .max_depth = 1,
        .max_string = JWT_MAX_SCOPE,
        .max_members = JWT_CLAIM_COUNT,
    };
    struct json *doc = NULL;
    struct json_error je;
    if (json_parse((const char *)text, len, &lim, &doc, &je) != ERR_OK)
        return false;
    bool ok = json_type_of(doc) == JSON_OBJECT && json_count(doc) == JWT_CLAIM_COUNT &&
              copy_string(doc, "iss", out->iss, JWT_MAX_ISS) &&
              copy_string(doc, "sub", out->sub, JWT_UUID_LEN) &&
              copy_string(doc, "tid", out->tid, JWT_UUID_LEN) &&
              copy_string(doc, "jti", out->jti, JWT_JTI_LEN) &&
              copy_string(doc, "sid", out->sid, JWT_MAX_SID) &&
              copy_string(doc, "scope", out->scope, JWT_MAX_SCOPE) &&
              json_as_i64(json_get(doc, "iat"), &out->iat) &&
              json_as_i64(json_get(doc, "exp"), &out->exp) && claims_well_formed(out);
    json_free(doc);
    return ok;
}

/* Splits token into its three segments; false unless there are exactly three. */
static bool split3(struct str token, struct str seg[3])
{
    struct str rest = token;
    size_t n = 0;
    struct str part;
    while (str_split(&rest, '.', &part)) {
        if (n == 3)
            return false;
        seg[n++] = part;
    }
    return n == 3;
}

/* Checks the header segment and finds the key its kid names. */
static const char *check_header(const struct keyring *ring, struct str seg,
                                const struct master_key **key)
{
    unsigned char h[JWT_HEADER_LEN];
    size_t len;
    if (base64url_decode(seg, h, sizeof(h), &len) != ERR_OK || len != JWT_HEADER_LEN)
        return R_HEADER;
    const size_t pre = sizeof(JWT_HEADER_PREFIX) - 1;
    if (memcmp(h, JWT_HEADER_PREFIX, pre) != 0 ||
        memcmp(h + pre + MASTER_KEY_ID_LEN, JWT_HEADER_SUFFIX, sizeof(JWT_HEADER_SUFFIX) - 1) != 0)
        return R_HEADER;
    char kid[MASTER_KEY_ID_LEN + 1];
    memcpy(kid, h + pre, MASTER_KEY_ID_LEN);
    kid[MASTER_KEY_ID_LEN] = '\0';
    if (!lower_hex_valid(kid, MASTER_KEY_ID_LEN))
        return R_HEADER;
    *key = keyring_find(ring, kid);
    return *key ? NULL : R_KID;
}

enum err jwt_verify(const struct keyring *ring, struct str token, int64_t now, int64_t leeway_s,
                    struct jwt_claims *out, const char **reason)
{
    const char *why = NULL;
    enum err e = ERR_UNAUTHENTICATED;
    if (reason)
        *reason = NULL;
    if (out)
        memset(out, 0, sizeof(*out));
    if (!ring || !out || leeway_s < 0 || leeway_s > JWT_MAX_LEEWAY_S) {
        if (reason)
            *reason = "invalid arguments";
        return ERR_INVALID;
    }
    if (token.len > JWT_MAX_LEN) {
        if (reason)
            *reason = R_TOO_LONG;
        return ERR_LIMIT;
    }

    struct str seg[3];
    if (!token.ptr || !split3(token, seg) || !base64url_valid(seg[0]) || !base64url_valid(seg[1]) ||
        !base64url_valid(seg[2])) {
        why = R_MALFORMED;
        goto fail;
    }
    const struct master_key *key = NULL;
    if ((why = check_header(ring, seg[0], &key)) != NULL)
        goto fail;

    unsigned char sig[SIGN_SIG_LEN];
    size_t sig_len;
    if (seg[2].len != JWT_SIG_TEXT_LEN ||
        base64url_decode(seg[2], sig, sizeof(sig), &sig_len) != ERR_OK || sig_len != SIGN_SIG_LEN) {
        why = R_SIGNATURE;
        goto fail;
    }
    unsigned char pub[SIGN_PUBLIC_LEN];
    enum err ke = jwt_public_key(key, pub);
    if (ke != ERR_OK) {
        e = ke;
        why = "key derivation failed";
        goto fail;
    }
    /* the signed text is "header.payload": everything before the second '.' */
    size_t signed_len = seg[0].len + 1 + seg[1].len;
    if (!sign_verify_ed25519(pub, token.ptr, signed_len, sig)) {
        why = R_SIGNATURE;
        goto fail;
    }

    /* signed by us: now the payload may be parsed */
    unsigned char payload[JWT_PAYLOAD_MAX];
    size_t payload_len;
    if (base64url_decode(seg[1], payload, sizeof(payload), &payload_len) != ERR_OK ||
        !parse_claims(payload, payload_len, out)) {
        why = R_CLAIMS;
        goto fail;
    }
    if (out->exp <= out->iat) {
        why = R_LIFETIME;
        goto fail;
    }
    if (out->exp - out->iat > JWT_MAX_LIFETIME_S) {
        why = R_TOO_LONG_LIVED;
        goto fail;
    }
    /* iat and exp are within 0..JWT_MAX_TIME, so adding the leeway cannot overflow */
    if (out->exp + leeway_s <= now) {
        why = R_EXPIRED;
        goto fail;
    }
    if (out->iat - leeway_s > now) {
        why = R_FUTURE;
        goto fail;
    }
    return ERR_OK;

fail:
    memset(out, 0, sizeof(*out));
    if (reason)
        *reason = why;
    return e;
}
