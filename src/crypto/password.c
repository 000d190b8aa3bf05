/*
 * password — see password.h.
 *
 * Three steps, each in one function: normalize (nfc_copy), pre-hash
 * (prehash: HMAC-SHA-384 with the pepper, then base64, 64 characters), bcrypt
 * (bcrypt_run: libxcrypt's crypt_rn with its scratch area on the heap, wiped
 * after use). Verification and the dummy verification share check_against(),
 * so an unknown account and a wrong password do the same work.
 *
 * The common passwords live in src/crypto/common-passwords.txt, embedded at
 * build time: one lower-case entry per line, '#' starts a comment line.
 */
#include "crypto/password.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/unicode.h"
#include "crypto/hash.h"
#include "crypto/kdf.h"
#include "crypto/rand.h"

/* Generated from common-passwords.txt by scripts/embed_file.py. */
extern const char common_passwords_txt[];
extern const size_t common_passwords_txt_len;

/* NFC turns one UTF-8 byte into at most three. */
#define PASSWORD_NFC_MAX   (3 * PASSWORD_MAX_INPUT)
#define PREHASH_LEN        BASE64_ENCODED_LEN(SHA384_LEN) /* 64, under bcrypt's 72 */
#define BCRYPT_SALT_RAW    16                             /* bytes of salt bcrypt takes */
#define BCRYPT_SETTING_LEN 29                             /* "$2b$12$" + 22 salt characters */

static const char PEPPER_SALT[] = "shiplog";
static const char PEPPER_INFO[] = "shiplog/v1/password-pepper";

static const char REASON_SHORT[] = "too short";
static const char REASON_LONG[] = "too long";
static const char REASON_UTF8[] = "not valid UTF-8";
static const char REASON_COMMON[] = "too common";

_Static_assert(PREHASH_LEN <= 72, "the pre-hash must fit bcrypt's input");
_Static_assert(PASSWORD_COST_MAX <= 31 && PASSWORD_COST_MIN >= 4, "bcrypt cost range");

/* NFC of pw into a secret buffer (wipe it with buf_wipe). ERR_INVALID / ERR_LIMIT as utf8_nfc. */
static enum err nfc_copy(struct str pw, struct buf *out)
{
    if (pw.len > PASSWORD_MAX_INPUT)
        return ERR_LIMIT;
    return utf8_nfc(pw, out);
}

/* base64(HMAC-SHA-384(pepper, text)) into out, NUL-terminated. */
static void prehash(const struct password_ctx *ctx, struct str text, char out[PREHASH_LEN + 1])
{
    unsigned char mac[SHA384_LEN];
    hmac_sha384(ctx->pepper, sizeof(ctx->pepper), text.ptr, text.len, mac);
    struct buf b64 = BUF_INIT_SECRET(PREHASH_LEN);
    ASSERT(base64_encode(&b64, mac, sizeof(mac)) == ERR_OK);
    ASSERT(b64.len == PREHASH_LEN);
    memcpy(out, b64.data, PREHASH_LEN + 1);
    buf_wipe(&b64);
    crypto_wipe(mac, sizeof(mac));
}

/* bcrypt of phrase with setting (or a whole hash, whose salt and cost are used) into out. */
static enum err bcrypt_run(const char *phrase, const char *setting, char out[PASSWORD_HASH_MAX])
{
    struct crypt_data *cd = calloc(1, sizeof(*cd)); /* ~32 KiB: not for a worker's stack */
    if (!cd)
        err_oom();
    enum err e = ERR_CRYPTO;
    const char *r = crypt_rn(phrase, setting, cd, (int)sizeof(*cd));
    if (r && r[0] != '*' && strnlen(r, CRYPT_OUTPUT_SIZE) == PASSWORD_HASH_LEN) {
        memcpy(out, r, PASSWORD_HASH_MAX);
        e = ERR_OK;
    }
    crypto_wipe(cd, sizeof(*cd));
    free(cd);
    return e;
}

static bool bcrypt_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '/';
}

/* True for "$2b$NN$" + 53 bcrypt characters with NN in our cost range; *cost gets NN. */
static bool parse_stored(const char *stored, unsigned *cost)
{
    if (!stored || strnlen(stored, PASSWORD_HASH_MAX) != PASSWORD_HASH_LEN ||
        memcmp(stored, "$2b$", 4) != 0 || stored[4] < '0' || stored[4] > '9' || stored[5] < '0' ||
        stored[5] > '9' || stored[6] != '$')
        return false;
    for (size_t i = 7; i < PASSWORD_HASH_LEN; i++)
        if (!bcrypt_char(stored[i]))
            return false;
    *cost = (unsigned)(stored[4] - '0') * 10 + (unsigned)(stored[5] - '0');
    return *cost >= PASSWORD_COST_MIN && *cost <= PASSWORD_COST_MAX;
}

/*
 * The work of a verification: normalize, pre-hash, bcrypt with stored's salt
 * and cost, compare in constant time. Input that cannot be normalized is
 * pre-hashed as it is (capped) so the time is the same, and never matches.
 */
static enum err check_against(const struct password_ctx *ctx, struct str pw, const char *stored,
                              bool *ok)
{
    *ok = false;
    struct buf nfc = BUF_INIT_SECRET(PASSWORD_NFC_MAX);
    bool usable = nfc_copy(pw, &nfc) == ERR_OK;
    struct str text =
        usable ? str_from(nfc.data ? nfc.data : "", nfc.len)
               : str_from(pw.ptr, pw.len < PASSWORD_MAX_INPUT ? pw.len : PASSWORD_MAX_INPUT);
    char phrase[PREHASH_LEN + 1];
    prehash(ctx, text, phrase);
    buf_wipe(&nfc);

    char got[PASSWORD_HASH_MAX];
    enum err e = bcrypt_run(phrase, stored, got);
    crypto_wipe(phrase, sizeof(phrase));
    if (e == ERR_OK)
        *ok = crypto_equal(got, stored, PASSWORD_HASH_LEN) && usable;
    crypto_wipe(got, sizeof(got));
    return e;
}

enum err password_ctx_init(struct password_ctx *ctx, const struct master_key *k, unsigned cost)
{
    memset(ctx, 0, sizeof(*ctx));
    if (cost < PASSWORD_COST_MIN || cost > PASSWORD_COST_MAX)
        return ERR_CONFIG;
    enum err e =
        hkdf_sha256(k->bytes, sizeof(k->bytes), PEPPER_SALT, sizeof(PEPPER_SALT) - 1, PEPPER_INFO,
                    sizeof(PEPPER_INFO) - 1, ctx->pepper, sizeof(ctx->pepper));
    if (e)
        goto fail;

    /* A well-formed hash at the configured cost that nothing matches. */
    unsigned char rb[BCRYPT_SALT_RAW];
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    e = rand_bytes(rb, sizeof(rb));
    if (e)
        goto fail;
    if (!crypt_gensalt_rn("$2b$", cost, (const char *)rb, (int)sizeof(rb), setting,
                          (int)sizeof(setting)) ||
        strnlen(setting, sizeof(setting)) != BCRYPT_SETTING_LEN) {
        e = ERR_CRYPTO;
        goto fail;
    }
    memcpy(ctx->dummy_setting, setting, BCRYPT_SETTING_LEN);
    memset(ctx->dummy_setting + BCRYPT_SETTING_LEN, '.', PASSWORD_HASH_LEN - BCRYPT_SETTING_LEN);
    ctx->dummy_setting[PASSWORD_HASH_LEN] = '\0';
    ctx->cost = cost;
    ctx->ready = true;
    return ERR_OK;
fail:
    password_ctx_wipe(ctx);
    return e == ERR_OK ? ERR_CRYPTO : e;
}

void password_ctx_wipe(struct password_ctx *ctx)
{
    crypto_wipe(ctx, sizeof(*ctx));
}

/* ASCII case-insensitive equality of a and b (the list is ASCII lower-case). */
static bool ascii_ieq(struct str a, struct str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        unsigned char x = (unsigned char)a.ptr[i], y = (unsigned char)b.ptr[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

static bool in_common_list(struct str pw)
{
    struct str rest = str_from(common_passwords_txt, common_passwords_txt_len), line;
    while (str_split(&rest, '\n', &line)) {
        if (line.len && line.ptr[line.len - 1] == '\r')
            line.len--;
        if (line.len == 0 || line.ptr[0] == '#')
            continue;
        if (ascii_ieq(pw, line))
            return true;
    }
    return false;
}

/* True when s (valid UTF-8, not empty) is one code point repeated. */
static bool one_repeated_char(struct str s)
{
    size_t n = 1;
    while (n < s.len && ((unsigned char)s.ptr[n] & 0xC0) == 0x80)
        n++;
    if (s.len % n != 0)
        return false;
    for (size_t i = n; i < s.len; i += n)
        if (memcmp(s.ptr, s.ptr + i, n) != 0)
            return false;
    return true;
}

enum err password_check_policy(struct str pw, const char **reason)
{
    *reason = NULL;
    struct buf nfc = BUF_INIT_SECRET(PASSWORD_NFC_MAX);
    enum err e = nfc_copy(pw, &nfc);
    if (e == ERR_INVALID) {
        *reason = REASON_UTF8;
    } else if (e) {
        *reason = REASON_LONG;
    } else {
        struct str text = str_from(nfc.data ? nfc.data : "", nfc.len);
        size_t n = utf8_codepoints(text);
        if (n < PASSWORD_MIN_CHARS)
            *reason = REASON_SHORT;
        else if (n > PASSWORD_MAX_CHARS)
            *reason = REASON_LONG;
        else if (one_repeated_char(text) || in_common_list(text))
            *reason = REASON_COMMON;
    }
    buf_wipe(&nfc);
    return *reason ? ERR_INVALID : ERR_OK;
}

enum err password_hash(const struct password_ctx *ctx, struct str pw, char out[PASSWORD_HASH_MAX])
{
    out[0] = '\0';
    ASSERT(ctx->ready);
    const char *reason;
    enum err e = password_check_policy(pw, &reason);
    if (e)
        return e;

    unsigned char rb[BCRYPT_SALT_RAW];
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    e = rand_bytes(rb, sizeof(rb));
    if (e)
        return e;
    if (!crypt_gensalt_rn("$2b$", ctx->cost, (const char *)rb, (int)sizeof(rb), setting,
                          (int)sizeof(setting)))
        return ERR_CRYPTO;

    struct buf nfc = BUF_INIT_SECRET(PASSWORD_NFC_MAX);
    e = nfc_copy(pw, &nfc);
    ASSERT(e == ERR_OK); /* the policy check normalized it already */
    char phrase[PREHASH_LEN + 1];
    prehash(ctx, str_from(nfc.data ? nfc.data : "", nfc.len), phrase);
    buf_wipe(&nfc);
    e = bcrypt_run(phrase, setting, out);
    crypto_wipe(phrase, sizeof(phrase));
    unsigned cost;
    if (e == ERR_OK && (!parse_stored(out, &cost) || cost != ctx->cost))
        e = ERR_CRYPTO; /* not the $2b$ hash asked for: never store it */
    if (e)
        out[0] = '\0';
    return e;
}

enum err password_verify(const struct password_ctx *ctx, struct str pw, const char *stored,
                         bool *ok, bool *needs_rehash)
{
    *ok = false;
    *needs_rehash = false;
    ASSERT(ctx->ready);
    unsigned cost;
    if (!parse_stored(stored, &cost))
        return ERR_INVALID;
    enum err e = check_against(ctx, pw, stored, ok);
    if (e == ERR_OK && *ok)
        /* any other cost (higher too) makes verification time depend on the
         * account, which password_verify_dummy cannot imitate (A4) */
        *needs_rehash = cost != ctx->cost;
    return e;
}

void password_verify_dummy(const struct password_ctx *ctx, struct str pw)
{
    ASSERT(ctx->ready);
    bool ok;
    unsigned cost;
    ASSERT(parse_stored(ctx->dummy_setting, &cost));
    (void)!check_against(ctx, pw, ctx->dummy_setting, &ok);
}

enum err password_cost_ms(const struct password_ctx *ctx, double *ms)
{
    *ms = 0;
    ASSERT(ctx->ready);
    struct timespec t0, t1;
    bool ok;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum err e = check_against(ctx, STR_LIT("shiplog benchmark password"), ctx->dummy_setting, &ok);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (e == ERR_OK)
        *ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    return e;
}
