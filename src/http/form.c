/* form — see form.h. */
#include "http/form.h"

#include <string.h>

#include "core/json.h"

enum err form_decode(struct str raw, struct buf *out)
{
    for (size_t i = 0; i < raw.len; i++) {
        char c = raw.ptr[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= raw.len)
                return ERR_INVALID; /* "%" or "%x" at the end */
            int hi = str_hex_digit(raw.ptr[i + 1]), lo = str_hex_digit(raw.ptr[i + 2]);
            if (hi < 0 || lo < 0)
                return ERR_INVALID;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0')
            return ERR_INVALID;
        enum err e = buf_putc(out, c);
        if (e)
            return e;
    }
    return ERR_OK;
}

/* Splits the next "name=value" pair off *rest; false at the end. Empty pairs are skipped. */
static bool next_pair(struct str *rest, struct str *name, struct str *value)
{
    struct str pair;
    while (str_split(rest, '&', &pair)) {
        if (pair.len == 0)
            continue;
        long eq = str_index(pair, '=');
        if (eq < 0) {
            *name = pair;
            *value = STR_LIT("");
        } else {
            *name = str_from(pair.ptr, (size_t)eq);
            *value = str_from(pair.ptr + eq + 1, pair.len - (size_t)eq - 1);
        }
        return true;
    }
    return false;
}

enum err form_validate(struct str body, const char **why)
{
    char names[FORM_MAX_FIELDS][FORM_MAX_NAME + 1]; /* decoded, to find repeats */
    struct buf dn = BUF_INIT(FORM_MAX_NAME), dv = BUF_INIT_SECRET(FORM_MAX_VALUE);
    struct str rest = body.ptr ? body : STR_LIT(""), name, value;
    size_t n = 0;
    enum err e = ERR_OK;
    *why = NULL;
    while (next_pair(&rest, &name, &value)) {
        if (n == FORM_MAX_FIELDS) {
            e = ERR_LIMIT;
            *why = "too many fields";
            break;
        }
        buf_reset(&dn);
        buf_reset(&dv);
        e = form_decode(name, &dn);
        if (e == ERR_OK)
            e = form_decode(value, &dv);
        if (e) {
            *why = e == ERR_LIMIT ? "a field name or value is too long" : "malformed encoding";
            break;
        }
        if (dn.len == 0 || !json_utf8_valid(str_from(dn.data, dn.len), NULL) ||
            !json_utf8_valid(str_from(buf_cstr(&dv), dv.len), NULL)) {
            e = ERR_INVALID;
            *why = dn.len == 0 ? "a field has no name" : "invalid UTF-8";
            break;
        }
        for (size_t i = 0; i < n && !e; i++)
            if (strcmp(names[i], dn.data) == 0)
                e = ERR_INVALID; /* "a" and "%61" are the same field */
        if (e) {
            *why = "a field is repeated";
            break;
        }
        memcpy(names[n++], dn.data, dn.len + 1);
    }
    buf_release(&dn);
    buf_wipe(&dv);
    return e;
}

enum err form_get(struct str body, const char *name, struct buf *out)
{
    struct str rest = body.ptr ? body : STR_LIT(""), n, v;
    struct buf dn = BUF_INIT(FORM_MAX_NAME);
    enum err e = ERR_NOT_FOUND;
    while (next_pair(&rest, &n, &v)) {
        buf_reset(&dn);
        if (form_decode(n, &dn) != ERR_OK)
            continue;
        if (strcmp(buf_cstr(&dn), name) == 0 && dn.len == strlen(name)) {
            e = form_decode(v, out);
            break;
        }
    }
    buf_release(&dn);
    return e;
}

/* Days since 1970-01-01 of a date of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, size_t n, int64_t *out)
{
    *out = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *out = *out * 10 + (s[i] - '0');
    }
    return true;
}

bool form_datetime_local(struct str s, int64_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t y, mo, d, h, mi, sec = 0;
    if ((s.len != 16 && s.len != FORM_MAX_DATETIME) || s.ptr[4] != '-' || s.ptr[7] != '-' ||
        s.ptr[10] != 'T' || s.ptr[13] != ':' || (s.len == FORM_MAX_DATETIME && s.ptr[16] != ':'))
        return false;
    if (!digits(s.ptr, 4, &y) || !digits(s.ptr + 5, 2, &mo) || !digits(s.ptr + 8, 2, &d) ||
        !digits(s.ptr + 11, 2, &h) || !digits(s.ptr + 14, 2, &mi) ||
        (s.len == FORM_MAX_DATETIME && !digits(s.ptr + 17, 2, &sec)))
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 59)
        return false;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    return true;
}
