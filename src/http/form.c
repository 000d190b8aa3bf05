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
