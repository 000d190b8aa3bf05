/*
 * verify — webhook signature and token checks; see verify.h for the schemes
 * and the decisions.
 *
 * Every scheme follows the same shape: read its headers, refuse what is
 * missing, over a limit or malformed (public facts: the attacker wrote them),
 * then compute the proof for each candidate secret and compare it with each
 * offered proof, OR-ing the results. Schemes that need two proofs (GitLab's
 * token and signature, Azure's two credentials) run both before deciding, so
 * the time never tells which one was wrong.
 */
#include "ingest/verify.h"

#include <stdio.h>
#include <string.h>

#include "core/base64.h"
#include "core/buf.h"
#include "crypto/hash.h"
#include "crypto/rand.h"

#define HUB_PREFIX   "sha256="
#define WHSEC_PREFIX "whsec_"
/* Decoded "user:password" of a Basic header that can still match a configuration. */
#define BASIC_MAX_DECODED (2 * INGEST_MAX_SECRET + 1)

_Static_assert(INGEST_MAX_AUTHORIZATION >=
                   sizeof "Basic " - 1 + BASE64_ENCODED_LEN(BASIC_MAX_DECODED),
               "a Basic header for the longest configurable credentials fits");
_Static_assert(INGEST_STDWH_SIGNATURE_LEN == 3 + BASE64_ENCODED_LEN(SHA256_LEN),
               "v1, and the base64 of one MAC");

/* ---- small helpers ------------------------------------------------------------------ */

static enum err fail(const char **reason, const char *why)
{
    if (reason)
        *reason = why;
    return ERR_UNAUTHENTICATED;
}

/* The header's value, or STR_NULL when absent or empty. */
static struct str header(const struct ingest_headers *h, const char *name)
{
    struct str v = h->get(h->arg, name);
    return v.len && v.ptr ? v : STR_NULL;
}

/* True when every byte is in 0x21..0x7e (visible ASCII, no space). */
static bool visible_ascii(struct str s)
{
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] < 0x21 || (unsigned char)s.ptr[i] > 0x7e)
            return false;
    return true;
}

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
           (c && memchr("!#$%&'*+-.^_`|~", c, 15) != NULL);
}

static bool secret_set(const struct ingest_secret *s)
{
    return s->current.len || s->previous.len;
}

/*
 * Timestamps: decimal digits (at most INGEST_MAX_TIMESTAMP) within
 * INGEST_TOLERANCE_S of now. Unsigned arithmetic on both sides of now, so no
 * value overflows. A negative now (a broken clock) accepts nothing.
 */
static bool timestamp_parse(struct str s, uint64_t *out)
{
    return s.len <= INGEST_MAX_TIMESTAMP && str_to_u64(s, UINT64_MAX, out) == ERR_OK;
}

static bool timestamp_fresh(uint64_t ts, int64_t now)
{
    if (now < 0)
        return false;
    uint64_t n = (uint64_t)now;
    return ts >= n ? ts - n <= INGEST_TOLERANCE_S : n - ts <= INGEST_TOLERANCE_S;
}

/*
 * 1 when the MAC of parts under key equals one of offered[0..n), compared in
 * constant time with no early exit.
 */
static unsigned mac_matches(const void *key, size_t key_len, const struct str *parts, size_t nparts,
                            const unsigned char (*offered)[SHA256_LEN], size_t n)
{
    unsigned char mac[SHA256_LEN];
    hmac_sha256_parts(key, key_len, parts, nparts, mac);
    unsigned ok = 0;
    for (size_t i = 0; i < n; i++)
        ok |= (unsigned)crypto_equal(mac, offered[i], SHA256_LEN);
    crypto_wipe(mac, sizeof mac);
    return ok;
}

/* mac_matches for the current secret and, when set, the previous one (used as bytes). */
static unsigned mac_matches_any(const struct ingest_secret *s, const struct str *parts,
                                size_t nparts, const unsigned char (*offered)[SHA256_LEN], size_t n)
{
    unsigned ok = mac_matches(s->current.ptr, s->current.len, parts, nparts, offered, n);
    if (s->previous.len)
        ok |= mac_matches(s->previous.ptr, s->previous.len, parts, nparts, offered, n);
    return ok;
}

/*
 * 1 when v equals s->current or s->previous. Compared as SHA-256 digests:
 * equal-length inputs to crypto_equal, so neither the secret's bytes nor its
 * length show in the time.
 */
static unsigned secret_matches(const struct ingest_secret *s, struct str v)
{
    unsigned char dv[SHA256_LEN], ds[SHA256_LEN];
    sha256(v.ptr, v.len, dv);
    sha256(s->current.ptr, s->current.len, ds);
    unsigned ok = (unsigned)crypto_equal(dv, ds, SHA256_LEN);
    if (s->previous.len) {
        sha256(s->previous.ptr, s->previous.len, ds);
        ok |= (unsigned)crypto_equal(dv, ds, SHA256_LEN);
    }
    crypto_wipe(dv, sizeof dv);
    crypto_wipe(ds, sizeof ds);
    return ok;
}

/* ---- configuration ----------------------------------------------------------------- */

/* Lengths and pointers of a pair; a previous without a current is a mistake. */
static enum err check_secret(const struct ingest_secret *s, bool required)
{
    if (s->current.len > INGEST_MAX_SECRET || s->previous.len > INGEST_MAX_SECRET)
        return ERR_LIMIT;
    if ((s->current.len && !s->current.ptr) || (s->previous.len && !s->previous.ptr))
        return ERR_INVALID;
    if (!s->current.len && (required || s->previous.len))
        return ERR_INVALID;
    return ERR_OK;
}

/*
 * The Standard Webhooks key of a signing secret: base64 after an optional
 * "whsec_", no whitespace, at least one byte. key has INGEST_MAX_SECRET bytes
 * (the decoding is shorter than the text); the caller wipes it.
 */
static enum err stdwh_key(struct str secret, unsigned char key[INGEST_MAX_SECRET], size_t *len)
{
    if (secret.len > INGEST_MAX_SECRET)
        return ERR_LIMIT;
    if (!secret.len || !secret.ptr)
        return ERR_INVALID;
    struct str b64 = secret;
    if (str_starts_with(b64, STR_LIT(WHSEC_PREFIX))) {
        b64.ptr += sizeof WHSEC_PREFIX - 1;
        b64.len -= sizeof WHSEC_PREFIX - 1;
    }
    if (!visible_ascii(b64)) /* base64_decode would skip whitespace */
        return ERR_INVALID;
    enum err e = base64_decode(b64, key, INGEST_MAX_SECRET, len);
    if (e == ERR_OK && *len == 0)
        e = ERR_INVALID;
    return e == ERR_OK ? ERR_OK : ERR_INVALID;
}

static enum err check_signing_secret(const struct ingest_secret *s)
{
    unsigned char key[INGEST_MAX_SECRET];
    size_t len = 0;
    enum err e = stdwh_key(s->current, key, &len);
    if (!e && s->previous.len)
        e = stdwh_key(s->previous, key, &len);
    crypto_wipe(key, sizeof key);
    return e;
}

static enum err check_header_name(struct str name)
{
    if (name.len > INGEST_MAX_AZURE_HEADER_NAME)
        return ERR_LIMIT;
    if (!name.ptr || str_ieq_cstr(name, "Authorization"))
        return ERR_INVALID;
    for (size_t i = 0; i < name.len; i++)
        if (!is_tchar((unsigned char)name.ptr[i]))
            return ERR_INVALID;
    return ERR_OK;
}

static enum err check_azure(const struct ingest_verify_config *cfg)
{
    bool basic = cfg->basic_password.current.len > 0;
    bool custom = cfg->header_name.len > 0;
    if (secret_set(&cfg->secret) || secret_set(&cfg->signing_secret) || (!basic && !custom))
        return ERR_INVALID;
    if (cfg->basic_user.len > INGEST_MAX_SECRET)
        return ERR_LIMIT;
    enum err e = check_secret(&cfg->basic_password, false);
    if (!e && !basic && cfg->basic_user.len)
        e = ERR_INVALID; /* a user without a password */
    if (!e && cfg->basic_user.len && (!cfg->basic_user.ptr || str_index(cfg->basic_user, ':') >= 0))
        e = ERR_INVALID; /* RFC 7617: the user-id cannot hold a colon */
    if (!e)
        e = check_secret(&cfg->header_value, custom);
    if (!e && custom)
        e = check_header_name(cfg->header_name);
    if (!e && !custom && secret_set(&cfg->header_value))
        e = ERR_INVALID; /* a value without a name */
    return e;
}

enum err ingest_verify_config_check(const struct ingest_verify_config *cfg)
{
    if (!cfg || !ingest_provider_name(cfg->provider))
        return ERR_INVALID;
    if (cfg->provider == INGEST_PROVIDER_AZURE_DEVOPS)
        return check_azure(cfg);
    /* Everyone else: one shared secret, and (GitLab) an optional signing secret. */
    if (cfg->basic_user.len || secret_set(&cfg->basic_password) || cfg->header_name.len ||
        secret_set(&cfg->header_value))
        return ERR_INVALID;
    enum err e = check_secret(&cfg->secret, true);
    if (e)
        return e;
    if (!secret_set(&cfg->signing_secret))
        return ERR_OK;
    if (cfg->provider != INGEST_PROVIDER_GITLAB)
        return ERR_INVALID;
    e = check_secret(&cfg->signing_secret, true);
    return e ? e : check_signing_secret(&cfg->signing_secret);
}

/* ---- GitHub and Bitbucket: sha256=<hex> over the body ------------------------------ */

static enum err verify_hub(const struct ingest_secret *s, struct str value, struct str body,
                           const char **reason)
{
    if (!value.len)
        return fail(reason, "signature header missing");
    if (value.len > INGEST_MAX_SIGNATURE_HEADER)
        return fail(reason, "signature header too long");
    if (!str_starts_with(value, STR_LIT(HUB_PREFIX)))
        return fail(reason, "signature header malformed");
    unsigned char offered[1][SHA256_LEN];
    size_t skip = sizeof HUB_PREFIX - 1;
    if (hex_decode(value.ptr + skip, value.len - skip, offered[0], SHA256_LEN) != ERR_OK)
        return fail(reason, "signature header malformed");
    if (!mac_matches_any(s, &body, 1, offered, 1))
        return fail(reason, "signature mismatch");
    return ERR_OK;
}

/* ---- Standard Webhooks ------------------------------------------------------------- */

static bool webhook_id_valid(struct str id)
{
    return id.len && id.len <= INGEST_MAX_WEBHOOK_ID && visible_ascii(id) && str_index(id, '.') < 0;
}

/* 1 when the MAC under one signing secret matches an offered signature; 0 also when it does not
 * decode. */
static unsigned stdwh_matches(struct str secret, const struct str *parts, size_t nparts,
                              const unsigned char (*offered)[SHA256_LEN], size_t n)
{
    unsigned char key[INGEST_MAX_SECRET];
    size_t key_len = 0;
    unsigned ok = 0;
    if (stdwh_key(secret, key, &key_len) == ERR_OK)
        ok = mac_matches(key, key_len, parts, nparts, offered, n);
    crypto_wipe(key, sizeof key);
    return ok;
}

enum err ingest_stdwh_verify(const struct ingest_secret *secret, struct str id,
                             struct str timestamp, struct str signatures, struct str body,
                             int64_t now, const char **reason)
{
    if (reason)
        *reason = NULL;
    if (!secret || check_secret(secret, true) != ERR_OK || check_signing_secret(secret) != ERR_OK ||
        (body.len && !body.ptr))
        return fail(reason, "integration misconfigured");
    if (!id.len || !id.ptr)
        return fail(reason, "webhook-id missing");
    if (!webhook_id_valid(id))
        return fail(reason, "webhook-id malformed");
    if (!timestamp.len || !timestamp.ptr)
        return fail(reason, "timestamp missing");
    uint64_t ts = 0;
    if (!timestamp_parse(timestamp, &ts))
        return fail(reason, "timestamp malformed");
    if (!timestamp_fresh(ts, now))
        return fail(reason, "timestamp outside tolerance");
    if (!signatures.len || !signatures.ptr)
        return fail(reason, "signature header missing");
    if (signatures.len > INGEST_MAX_SIGNATURE_HEADER)
        return fail(reason, "signature header too long");

    unsigned char offered[INGEST_MAX_SIGNATURES][SHA256_LEN];
    size_t n = 0, entries = 0;
    struct str rest = signatures, tok;
    while (str_split(&rest, ' ', &tok)) {
        if (!tok.len)
            continue; /* runs of spaces */
        if (++entries > INGEST_MAX_SIGNATURES)
            return fail(reason, "too many signatures");
        if (!str_starts_with(tok, STR_LIT("v1,")))
            continue; /* another version, e.g. v1a */
        struct str b64 = {tok.ptr + 3, tok.len - 3};
        size_t len = 0;
        if (visible_ascii(b64) && base64_decode(b64, offered[n], SHA256_LEN, &len) == ERR_OK &&
            len == SHA256_LEN)
            n++;
    }
    if (n == 0)
        return fail(reason, "no usable signature");

    const struct str parts[] = {id, STR_LIT("."), timestamp, STR_LIT("."), body};
    size_t nparts = sizeof parts / sizeof parts[0];
    unsigned ok = stdwh_matches(secret->current, parts, nparts, offered, n);
    if (secret->previous.len)
        ok |= stdwh_matches(secret->previous, parts, nparts, offered, n);
    if (!ok)
        return fail(reason, "signature mismatch");
    return ERR_OK;
}

enum err ingest_stdwh_sign(struct str secret, struct str id, int64_t timestamp, struct str body,
                           char out[INGEST_STDWH_SIGNATURE_LEN + 1])
{
    out[0] = '\0';
    if (id.len > INGEST_MAX_WEBHOOK_ID)
        return ERR_LIMIT;
    if (!webhook_id_valid(id) || timestamp < 0 || (body.len && !body.ptr))
        return ERR_INVALID;
    unsigned char key[INGEST_MAX_SECRET];
    size_t key_len = 0;
    enum err e = stdwh_key(secret, key, &key_len);
    if (e) {
        crypto_wipe(key, sizeof key);
        return e;
    }
    char ts[INGEST_MAX_TIMESTAMP + 1];
    int tn = snprintf(ts, sizeof ts, "%lld", (long long)timestamp);
    ASSERT(tn > 0 && (size_t)tn < sizeof ts);
    const struct str parts[] = {id, STR_LIT("."), str_from(ts, (size_t)tn), STR_LIT("."), body};
    unsigned char mac[SHA256_LEN];
    hmac_sha256_parts(key, key_len, parts, sizeof parts / sizeof parts[0], mac);
    crypto_wipe(key, sizeof key);

    struct buf b = BUF_INIT(INGEST_STDWH_SIGNATURE_LEN);
    e = buf_puts(&b, "v1,");
    if (!e)
        e = base64_encode(&b, mac, sizeof mac);
    crypto_wipe(mac, sizeof mac);
    ASSERT(e == ERR_OK && b.len == INGEST_STDWH_SIGNATURE_LEN);
    memcpy(out, buf_cstr(&b), b.len + 1);
    buf_release(&b);
    return ERR_OK;
}

/* ---- GitLab: the token, and the signature when configured --------------------------- */

static enum err verify_gitlab(const struct ingest_verify_config *cfg,
                              const struct ingest_headers *h, struct str body, int64_t now,
                              const char **reason)
{
    const char *why = NULL;
    struct str token = header(h, "X-Gitlab-Token");
    if (!token.len)
        why = "token header missing";
    else if (token.len > INGEST_MAX_SECRET)
        why = "token header too long";
    else if (!secret_matches(&cfg->secret, token))
        why = "token mismatch";

    /* The signature runs whatever the token gave (see the top of the file). */
    if (cfg->signing_secret.current.len) {
        const char *sig_why = NULL;
        enum err e = ingest_stdwh_verify(&cfg->signing_secret, header(h, "webhook-id"),
                                         header(h, "webhook-timestamp"),
                                         header(h, "webhook-signature"), body, now, &sig_why);
        if (e && !why)
            why = sig_why;
    }
    return why ? fail(reason, why) : ERR_OK;
}

/* ---- Azure DevOps: Basic credentials and/or a custom header ------------------------ */

/* The Basic credentials of an Authorization value against the configuration: a reason or NULL. */
static const char *azure_basic(const struct ingest_verify_config *cfg, struct str value)
{
    if (!value.len)
        return "credentials missing";
    if (value.len > INGEST_MAX_AUTHORIZATION)
        return "credentials too long";
    struct str scheme = STR_LIT("Basic ");
    if (!str_istarts_with(value, scheme))
        return "credentials malformed";
    struct str b64 = {value.ptr + scheme.len, value.len - scheme.len};
    while (b64.len && b64.ptr[0] == ' ') {
        b64.ptr++;
        b64.len--;
    }
    if (!b64.len || !visible_ascii(b64))
        return "credentials malformed";

    unsigned char plain[BASIC_MAX_DECODED];
    size_t len = 0;
    const char *why = NULL;
    long colon = -1;
    if (base64_decode(b64, plain, sizeof plain, &len) != ERR_OK)
        why = "credentials malformed";
    else if ((colon = str_index(str_from((const char *)plain, len), ':')) < 0)
        why = "credentials malformed";
    if (!why) {
        struct str user = {(const char *)plain, (size_t)colon};
        struct str pass = {(const char *)plain + colon + 1, len - (size_t)colon - 1};
        struct ingest_secret want_user = {cfg->basic_user, STR_NULL};
        unsigned ok = secret_matches(&want_user, user);
        ok &= secret_matches(&cfg->basic_password, pass);
        if (!ok)
            why = "credentials mismatch";
    }
    crypto_wipe(plain, sizeof plain);
    return why;
}

/* The custom header against the configuration: a reason or NULL. */
static const char *azure_custom(const struct ingest_verify_config *cfg,
                                const struct ingest_headers *h)
{
    char name[INGEST_MAX_AZURE_HEADER_NAME + 1];
    ASSERT(cfg->header_name.len < sizeof name); /* ingest_verify_config_check */
    memcpy(name, cfg->header_name.ptr, cfg->header_name.len);
    name[cfg->header_name.len] = '\0';
    struct str value = header(h, name);
    if (!value.len)
        return "custom header missing";
    if (value.len > INGEST_MAX_SECRET)
        return "custom header too long";
    return secret_matches(&cfg->header_value, value) ? NULL : "custom header mismatch";
}

static enum err verify_azure(const struct ingest_verify_config *cfg, const struct ingest_headers *h,
                             const char **reason)
{
    const char *why = NULL;
    if (cfg->basic_password.current.len)
        why = azure_basic(cfg, header(h, "Authorization"));
    if (cfg->header_name.len) { /* runs whatever Basic gave */
        const char *custom_why = azure_custom(cfg, h);
        if (!why)
            why = custom_why;
    }
    return why ? fail(reason, why) : ERR_OK;
}

/* ---- Stripe ------------------------------------------------------------------------- */

static enum err verify_stripe(const struct ingest_secret *s, struct str value, struct str body,
                              int64_t now, const char **reason)
{
    if (!value.len)
        return fail(reason, "signature header missing");
    if (value.len > INGEST_MAX_SIGNATURE_HEADER)
        return fail(reason, "signature header too long");

    unsigned char offered[INGEST_MAX_SIGNATURES][SHA256_LEN];
    size_t n = 0, entries = 0;
    struct str t = STR_NULL;
    struct str rest = value, item;
    while (str_split(&rest, ',', &item)) {
        if (item.len > 2 && memcmp(item.ptr, "t=", 2) == 0) {
            if (t.len)
                return fail(reason, "signature header malformed"); /* two timestamps */
            t = str_from(item.ptr + 2, item.len - 2);
            continue;
        }
        if (++entries > INGEST_MAX_SIGNATURES)
            return fail(reason, "too many signatures");
        if (item.len > 3 && memcmp(item.ptr, "v1=", 3) == 0 &&
            hex_decode(item.ptr + 3, item.len - 3, offered[n], SHA256_LEN) == ERR_OK)
            n++; /* v0, unknown keys and malformed v1 are ignored */
    }
    if (!t.len)
        return fail(reason, "timestamp missing");
    uint64_t ts = 0;
    if (!timestamp_parse(t, &ts))
        return fail(reason, "timestamp malformed");
    if (!timestamp_fresh(ts, now))
        return fail(reason, "timestamp outside tolerance");
    if (n == 0)
        return fail(reason, "no usable signature");
    const struct str parts[] = {t, STR_LIT("."), body};
    if (!mac_matches_any(s, parts, sizeof parts / sizeof parts[0], offered, n))
        return fail(reason, "signature mismatch");
    return ERR_OK;
}

enum err ingest_stripe_sign(struct str secret, int64_t timestamp, struct str body,
                            char out[INGEST_STRIPE_SIGNATURE_MAX + 1])
{
    out[0] = '\0';
    if (secret.len > INGEST_MAX_SECRET)
        return ERR_LIMIT;
    if (!secret.len || !secret.ptr || timestamp < 0 || (body.len && !body.ptr))
        return ERR_INVALID;
    char ts[INGEST_MAX_TIMESTAMP + 1];
    int tn = snprintf(ts, sizeof ts, "%lld", (long long)timestamp);
    ASSERT(tn > 0 && (size_t)tn < sizeof ts);
    const struct str parts[] = {str_from(ts, (size_t)tn), STR_LIT("."), body};
    unsigned char mac[SHA256_LEN];
    hmac_sha256_parts(secret.ptr, secret.len, parts, sizeof parts / sizeof parts[0], mac);
    char hex[2 * SHA256_LEN + 1];
    hex_encode(mac, sizeof mac, hex);
    crypto_wipe(mac, sizeof mac);
    int n = snprintf(out, INGEST_STRIPE_SIGNATURE_MAX + 1, "t=%s,v1=%s", ts, hex);
    ASSERT(n > 0 && n <= INGEST_STRIPE_SIGNATURE_MAX);
    return ERR_OK;
}

/* ---- the entry point ---------------------------------------------------------------- */

enum err ingest_verify(const struct ingest_verify_config *cfg, const struct ingest_headers *headers,
                       struct str body, int64_t now, const char **reason)
{
    if (reason)
        *reason = NULL;
    if (ingest_verify_config_check(cfg) != ERR_OK)
        return fail(reason, "integration misconfigured");
    if (!headers || !headers->get || (body.len && !body.ptr))
        return fail(reason, "no request"); /* a caller bug; still no */
    switch (cfg->provider) {
    case INGEST_PROVIDER_GITHUB:
        return verify_hub(&cfg->secret, header(headers, "X-Hub-Signature-256"), body, reason);
    case INGEST_PROVIDER_BITBUCKET:
    case INGEST_PROVIDER_BITBUCKET_SERVER:
        return verify_hub(&cfg->secret, header(headers, "X-Hub-Signature"), body, reason);
    case INGEST_PROVIDER_GITLAB:
        return verify_gitlab(cfg, headers, body, now, reason);
    case INGEST_PROVIDER_AZURE_DEVOPS:
        return verify_azure(cfg, headers, reason);
    case INGEST_PROVIDER_STRIPE:
        return verify_stripe(&cfg->secret, header(headers, "Stripe-Signature"), body, now, reason);
    case INGEST_PROVIDER_COUNT_:
        break;
    }
    return fail(reason, "integration misconfigured");
}

/* ---- delivery id and event name ----------------------------------------------------- */

static enum err header_token(const struct ingest_headers *h, const char *name, size_t max,
                             bool inner_spaces, struct str *out)
{
    *out = STR_NULL;
    if (!name)
        return ERR_NOT_FOUND;
    struct str v = header(h, name);
    if (!v.len)
        return ERR_NOT_FOUND;
    if (v.len > max)
        return ERR_LIMIT;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        bool space_ok = inner_spaces && i > 0 && i + 1 < v.len;
        if (c > 0x7e || c < 0x20 || (c == 0x20 && !space_ok))
            return ERR_INVALID;
    }
    *out = v;
    return ERR_OK;
}

enum err ingest_delivery_id(enum ingest_provider p, const struct ingest_headers *headers,
                            struct str *out)
{
    static const char *const names[INGEST_PROVIDER_COUNT_] = {
        [INGEST_PROVIDER_GITHUB] = "X-GitHub-Delivery",
        [INGEST_PROVIDER_GITLAB] = "Idempotency-Key",
        [INGEST_PROVIDER_BITBUCKET] = "X-Request-UUID",
        [INGEST_PROVIDER_BITBUCKET_SERVER] = "X-Request-Id",
    };
    *out = STR_NULL;
    if (!headers || !headers->get || (unsigned)p >= INGEST_PROVIDER_COUNT_)
        return ERR_NOT_FOUND;
    return header_token(headers, names[p], INGEST_MAX_DELIVERY_ID, false, out);
}

enum err ingest_event_name(enum ingest_provider p, const struct ingest_headers *headers,
                           struct str *out)
{
    static const char *const names[INGEST_PROVIDER_COUNT_] = {
        [INGEST_PROVIDER_GITHUB] = "X-GitHub-Event",
        [INGEST_PROVIDER_GITLAB] = "X-Gitlab-Event",
        [INGEST_PROVIDER_BITBUCKET] = "X-Event-Key",
        [INGEST_PROVIDER_BITBUCKET_SERVER] = "X-Event-Key",
    };
    *out = STR_NULL;
    if (!headers || !headers->get || (unsigned)p >= INGEST_PROVIDER_COUNT_)
        return ERR_NOT_FOUND;
    return header_token(headers, names[p], INGEST_MAX_EVENT, true, out);
}
