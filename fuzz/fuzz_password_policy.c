/*
 * fuzz_password_policy — utf8_nfc and password_check_policy on arbitrary
 * bytes. Checks: utf8_nfc fails exactly on invalid UTF-8 (ERR_INVALID) or
 * over UNICODE_MAX_INPUT (ERR_LIMIT), leaving its output untouched; its
 * output is valid UTF-8 and NFC again gives the same bytes. The policy
 * answers ERR_OK with no reason or ERR_INVALID with one of its four reasons,
 * agrees with the code point count of the NFC form, and gives the same answer
 * for the input and for its NFC form (the policy is about the normalized
 * password).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/unicode.h"
#include "crypto/password.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *policy(struct str s, enum err *e)
{
    const char *reason = "unset";
    *e = password_check_policy(s, &reason);
    if ((*e == ERR_OK) != (reason == NULL) || (*e != ERR_OK && *e != ERR_INVALID))
        abort();
    if (reason && strcmp(reason, "too short") != 0 && strcmp(reason, "too long") != 0 &&
        strcmp(reason, "not valid UTF-8") != 0 && strcmp(reason, "too common") != 0)
        abort();
    return reason;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct str in = str_from((const char *)data, size);
    bool valid = utf8_valid(in);

    struct buf nfc = BUF_INIT_SECRET(3 * UNICODE_MAX_INPUT);
    enum err e = utf8_nfc(in, &nfc);
    if (size > UNICODE_MAX_INPUT ? e != ERR_LIMIT : e != (valid ? ERR_OK : ERR_INVALID))
        abort();
    if (e != ERR_OK && nfc.len != 0)
        abort();
    struct str norm = str_from(nfc.data ? nfc.data : "", nfc.len);
    if (e == ERR_OK) {
        if (!utf8_valid(norm))
            abort();
        struct buf again = BUF_INIT(3 * UNICODE_MAX_INPUT);
        if (utf8_nfc(norm, &again) != ERR_OK || again.len != nfc.len ||
            (nfc.len && memcmp(again.data, nfc.data, nfc.len) != 0))
            abort();
        buf_release(&again);
    }

    enum err pe;
    const char *reason = policy(in, &pe);
    if (size > PASSWORD_MAX_INPUT) {
        if (!reason || strcmp(reason, "too long") != 0)
            abort();
    } else if (!valid) {
        if (!reason || strcmp(reason, "not valid UTF-8") != 0)
            abort();
    } else {
        size_t n = utf8_codepoints(norm);
        bool short_ = reason && strcmp(reason, "too short") == 0;
        bool long_ = reason && strcmp(reason, "too long") == 0;
        if (short_ != (n < PASSWORD_MIN_CHARS) || long_ != (n > PASSWORD_MAX_CHARS))
            abort();
        if (norm.len <= PASSWORD_MAX_INPUT) {
            enum err pe2;
            const char *reason2 = policy(norm, &pe2);
            if (pe2 != pe || (reason && strcmp(reason, reason2) != 0))
                abort();
        }
    }
    buf_wipe(&nfc);
    return 0;
}
