/*
 * fuzz_verify — ingest_verify, the Standard Webhooks and Stripe helpers, and
 * the delivery id / event name extraction (ingest/verify.h) on any input.
 *
 * Input layout: byte 0 picks the provider (mod INGEST_PROVIDER_COUNT_), byte
 * 1 holds flags (bit 0: a previous secret is configured beside each current
 * one). The rest is split at NUL bytes into the fields below, the last field
 * (the body) taking whatever remains, NULs included. Missing fields are empty.
 * The clock is fixed at FUZZ_NOW, so corpus seeds can carry valid signatures
 * (fuzz/corpus/verify was made with HMACs computed outside shiplog).
 *
 * Checked on every input:
 *  - the answer is ERR_OK or ERR_UNAUTHENTICATED, the reason NULL exactly on
 *    ERR_OK, and a configuration ingest_verify_config_check refuses never
 *    verifies;
 *  - an accepted GitHub / Bitbucket delivery carries "sha256=" and the hex
 *    HMAC of the body under one of the secrets (recomputed here), and an
 *    accepted GitLab delivery the token of one of them;
 *  - what ingest_stdwh_sign and ingest_stripe_sign produce from the fields
 *    verifies (round trip), and fails for another body;
 *  - delivery id and event name are a view into their header value of the
 *    allowed bytes and length, or an error of the documented set.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "crypto/hash.h"
#include "crypto/rand.h"
#include "ingest/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1614265330

enum field {
    F_SECRET,       /* secret.current */
    F_SIGNING,      /* signing_secret.current (GitLab) */
    F_BASIC_USER,   /* Azure */
    F_BASIC_PASS,   /* Azure */
    F_HEADER_NAME,  /* Azure custom header name */
    F_HEADER_VALUE, /* Azure custom header value, configured and sent */
    F_SIGNATURE,    /* X-Hub-Signature(-256), webhook-signature, Stripe-Signature */
    F_TOKEN,        /* X-Gitlab-Token */
    F_AUTHORIZATION,
    F_WEBHOOK_ID,
    F_TIMESTAMP, /* webhook-timestamp */
    F_ID,        /* every delivery id and event name header */
    F_BODY,      /* the rest */
    F_COUNT
};

struct input {
    struct str f[F_COUNT];
    char header_name[INGEST_MAX_AZURE_HEADER_NAME + 1];
};

static struct str fuzz_get(void *arg, const char *name)
{
    const struct input *in = arg;
    static const struct {
        const char *name;
        enum field f;
    } map[] = {
        {"X-Hub-Signature-256", F_SIGNATURE},
        {"X-Hub-Signature", F_SIGNATURE},
        {"webhook-signature", F_SIGNATURE},
        {"Stripe-Signature", F_SIGNATURE},
        {"X-Gitlab-Token", F_TOKEN},
        {"Authorization", F_AUTHORIZATION},
        {"webhook-id", F_WEBHOOK_ID},
        {"webhook-timestamp", F_TIMESTAMP},
        {"X-GitHub-Delivery", F_ID},
        {"Idempotency-Key", F_ID},
        {"X-Request-UUID", F_ID},
        {"X-Request-Id", F_ID},
        {"X-GitHub-Event", F_ID},
        {"X-Gitlab-Event", F_ID},
        {"X-Event-Key", F_ID},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(map[i].name, name) == 0)
            return in->f[map[i].f];
    if (in->header_name[0] && strcasecmp(in->header_name, name) == 0)
        return in->f[F_HEADER_VALUE];
    return STR_NULL;
}

static void split(const uint8_t *data, size_t size, struct input *in)
{
    memset(in, 0, sizeof *in);
    const char *p = (const char *)data;
    size_t left = size;
    for (int i = 0; i < F_COUNT && left; i++) {
        const char *nul = i + 1 < F_COUNT ? memchr(p, '\0', left) : NULL;
        size_t n = nul ? (size_t)(nul - p) : left;
        in->f[i] = str_from(p, n);
        p += n;
        left -= n;
        if (nul) {
            p++;
            left--;
        }
    }
    /* the callback gets a C string; a name with a NUL in it cannot be looked up */
    struct str hn = in->f[F_HEADER_NAME];
    if (hn.len < sizeof in->header_name) {
        memcpy(in->header_name, hn.ptr ? hn.ptr : "", hn.len);
        in->header_name[hn.len] = '\0';
    }
}

/* "sha256=" + hex of the body's MAC under key, either case. */
static bool hub_matches(struct str key, struct str sig, struct str body)
{
    if (!key.len || sig.len != 7 + 2 * SHA256_LEN || memcmp(sig.ptr, "sha256=", 7) != 0)
        return false;
    unsigned char mac[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    hmac_sha256(key.ptr, key.len, body.ptr, body.len, mac);
    hex_encode(mac, sizeof mac, hex);
    return strncasecmp(hex, sig.ptr + 7, 2 * SHA256_LEN) == 0;
}

static void check_extract(const struct input *in, const struct ingest_headers *h,
                          enum ingest_provider p)
{
    for (int which = 0; which < 2; which++) {
        struct str v = {"x", 1};
        enum err e = which ? ingest_event_name(p, h, &v) : ingest_delivery_id(p, h, &v);
        size_t max = which ? INGEST_MAX_EVENT : INGEST_MAX_DELIVERY_ID;
        if (e != ERR_OK) {
            if ((e != ERR_NOT_FOUND && e != ERR_LIMIT && e != ERR_INVALID) || v.ptr || v.len)
                __builtin_trap();
            continue;
        }
        struct str src = in->f[F_ID];
        if (v.ptr != src.ptr || v.len != src.len || !v.len || v.len > max)
            __builtin_trap();
        for (size_t i = 0; i < v.len; i++) {
            unsigned char c = (unsigned char)v.ptr[i];
            bool edge = i == 0 || i + 1 == v.len;
            if (c > 0x7e || c < 0x20 || (c == ' ' && (!which || edge)))
                __builtin_trap();
        }
    }
}

/* Whatever the helpers sign from these fields verifies, and not for another body. */
static void check_round_trips(const struct input *in, const struct ingest_secret *signing)
{
    struct str body = in->f[F_BODY];
    struct str other = body.len ? str_from(body.ptr, body.len - 1) : STR_LIT("x");
    char sig[INGEST_STDWH_SIGNATURE_LEN + 1];
    if (ingest_stdwh_sign(signing->current, in->f[F_WEBHOOK_ID], FUZZ_NOW, body, sig) == ERR_OK) {
        const char *why = NULL;
        if (ingest_stdwh_verify(signing, in->f[F_WEBHOOK_ID], STR_LIT("1614265330"),
                                str_from_cstr(sig), body, FUZZ_NOW + INGEST_TOLERANCE_S,
                                &why) != ERR_OK ||
            why)
            __builtin_trap();
        if (ingest_stdwh_verify(signing, in->f[F_WEBHOOK_ID], STR_LIT("1614265330"),
                                str_from_cstr(sig), other, FUZZ_NOW, &why) == ERR_OK)
            __builtin_trap();
    }
    char ssig[INGEST_STRIPE_SIGNATURE_MAX + 1];
    if (ingest_stripe_sign(in->f[F_SECRET], FUZZ_NOW, body, ssig) == ERR_OK) {
        struct ingest_verify_config cfg = {.provider = INGEST_PROVIDER_STRIPE,
                                           .secret = {in->f[F_SECRET], STR_NULL}};
        struct input copy = *in;
        copy.f[F_SIGNATURE] = str_from_cstr(ssig);
        struct ingest_headers h = {fuzz_get, &copy};
        if (ingest_verify(&cfg, &h, body, FUZZ_NOW, NULL) != ERR_OK)
            __builtin_trap();
        if (ingest_verify(&cfg, &h, other, FUZZ_NOW, NULL) == ERR_OK)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    enum ingest_provider p = (enum ingest_provider)(data[0] % INGEST_PROVIDER_COUNT_);
    bool rotation = data[1] & 1;
    struct input in;
    split(data + 2, size - 2, &in);

    struct str prev = rotation ? STR_LIT("fuzz-previous-secret") : STR_NULL;
    struct str prev_signing =
        rotation && in.f[F_SIGNING].len ? STR_LIT("whsec_cHJldmlvdXM=") : STR_NULL;
    struct ingest_verify_config cfg = {
        .provider = p,
        .secret = {in.f[F_SECRET], in.f[F_SECRET].len ? prev : STR_NULL},
        .signing_secret = {in.f[F_SIGNING], prev_signing},
        .basic_user = in.f[F_BASIC_USER],
        .basic_password = {in.f[F_BASIC_PASS], STR_NULL},
        .header_name = in.f[F_HEADER_NAME],
        .header_value = {in.f[F_HEADER_VALUE], STR_NULL},
    };
    struct ingest_headers h = {fuzz_get, &in};
    struct str body = in.f[F_BODY];

    const char *why = "unset";
    enum err e = ingest_verify(&cfg, &h, body, FUZZ_NOW, &why);
    if (e != ERR_OK && e != ERR_UNAUTHENTICATED)
        __builtin_trap();
    if ((e == ERR_OK) != (why == NULL))
        __builtin_trap();
    if (e == ERR_OK && ingest_verify_config_check(&cfg) != ERR_OK)
        __builtin_trap();
    if (e == ERR_OK) {
        struct str sig = in.f[F_SIGNATURE];
        switch (p) {
        case INGEST_PROVIDER_GITHUB:
        case INGEST_PROVIDER_BITBUCKET:
        case INGEST_PROVIDER_BITBUCKET_SERVER:
            if (!hub_matches(cfg.secret.current, sig, body) &&
                !hub_matches(cfg.secret.previous, sig, body))
                __builtin_trap();
            break;
        case INGEST_PROVIDER_GITLAB:
            if (!str_eq(in.f[F_TOKEN], cfg.secret.current) &&
                !(cfg.secret.previous.len && str_eq(in.f[F_TOKEN], cfg.secret.previous)))
                __builtin_trap();
            break;
        default:
            break;
        }
    }
    check_extract(&in, &h, p);
    check_round_trips(&in, &cfg.signing_secret);
    return 0;
}
