/*
 * fuzz_redact — arbitrary bytes through redact_json. When redaction
 * succeeds, the output must parse, must hold no credential rule 3 would
 * find, and redacting it again must change nothing. The same bytes also go
 * through redact_string as one plain string, with a cap large enough for any
 * growth (which must then never fail) and with a tiny one. A redacted body
 * is stored packed (core/pack.h): the output must unpack to itself, and the
 * raw bytes, read as a stored value, must unpack or be refused cleanly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/pack.h"
#include "ingest/redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* in packs and unpacks to itself; then in, as a stored value, unpacks or is refused. */
static void check_pack(struct str in)
{
    struct arena *a = arena_new(8 * in.len + 4096);
    struct str packed, back;
    if (pack_lz4(in, a, &packed) != ERR_OK || unpack_lz4(packed, in.len, a, &back) != ERR_OK ||
        back.len != in.len || memcmp(back.ptr, in.ptr ? in.ptr : "", in.len) != 0)
        abort();
    enum err e = unpack_lz4(in, 4 * in.len, a, &back);
    if (e != ERR_OK && e != ERR_INVALID && e != ERR_LIMIT)
        abort();
    arena_free(a);
}

/* No string or key of the output holds a credential. */
static void check_clean(const struct json *n)
{
    struct str s;
    if (json_as_str(n, &s) && redact_string_has_secret(s))
        abort();
    for (const struct json *c = json_first(n); c; c = json_next(c)) {
        const char *k = json_key(c);
        if (k && redact_string_has_secret(str_from_cstr(k)))
            abort();
        check_clean(c);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct buf out = BUF_INIT(REDACT_MAX_OUTPUT);
    struct redact_counts c;
    struct json_error e;
    enum err r = redact_json(text, size, &out, &c, &e);
    if (r == ERR_OK) {
        const struct json_limits big = {REDACT_MAX_OUTPUT, JSON_MAX_DEPTH_LIMIT, REDACT_MAX_OUTPUT,
                                        1000000};
        struct json *doc = NULL;
        if (json_parse(buf_cstr(&out), out.len, &big, &doc, &e) != ERR_OK)
            abort();
        check_clean(doc);
        json_free(doc);
        check_pack(str_from(buf_cstr(&out), out.len));
        if (out.len <= INGEST_MAX_BODY) {
            struct buf again = BUF_INIT(REDACT_MAX_OUTPUT);
            if (redact_json(buf_cstr(&out), out.len, &again, NULL, &e) != ERR_OK ||
                again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
                abort();
            buf_release(&again);
        }
    } else if (r != ERR_INVALID && r != ERR_LIMIT) {
        abort();
    } else if (out.len != 0) {
        abort(); /* out is left as it was */
    }
    buf_release(&out);
    check_pack(str_from(text, size));

    /* one plain string: "[redacted]" is at most 10 bytes per masked byte or two */
    struct buf s = BUF_INIT(size * 6 + 64);
    bool changed;
    if (redact_string(str_from(text, size), &s, NULL, &changed) != ERR_OK)
        abort();
    if (!changed && (s.len != size || (size && memcmp(s.data, text, size) != 0)))
        abort();
    if (redact_string_has_secret(str_from(s.data ? s.data : "", s.len)))
        abort();
    buf_release(&s);
    struct buf tiny = BUF_INIT(4);
    enum err te = redact_string(str_from(text, size), &tiny, NULL, NULL);
    if (te != ERR_OK && te != ERR_LIMIT)
        abort();
    buf_release(&tiny);
    return 0;
}
