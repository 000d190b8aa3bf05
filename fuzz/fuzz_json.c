/*
 * fuzz_json — json_parse with the default and with small limits; when a
 * document parses, every node is visited through the public accessors and
 * strings and keys are re-serialised with the escaping writer, whose output
 * must parse back. json_tape_parse must give every input the same verdict,
 * reason and offset as json_parse, and on success the same values in the
 * same order. The same bytes also go through the logger's masking and
 * line formatting (log.c uses the writer), whose output must be one valid
 * JSON object within LOG_MAX_LINE.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/json_tape.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void visit(const struct json *n, struct jw *w, unsigned depth)
{
    struct str s;
    bool b;
    int64_t i;
    double d;
    switch (json_type_of(n)) {
    case JSON_OBJECT:
    case JSON_ARRAY: {
        bool obj = json_type_of(n) == JSON_OBJECT;
        size_t count = 0;
        if (obj)
            jw_object_begin(w);
        else
            jw_array_begin(w);
        for (const struct json *c = json_first(n); c; c = json_next(c)) {
            count++;
            const char *k = json_key(c);
            if (obj != (k != NULL))
                abort();
            if (obj) {
                if (json_get(n, k) != c) /* keys are unique */
                    abort();
                jw_key(w, k);
            }
            visit(c, w, depth + 1);
        }
        if (count != json_count(n))
            abort();
        if (obj)
            jw_object_end(w);
        else
            jw_array_end(w);
        break;
    }
    case JSON_STRING:
        if (!json_as_str(n, &s) || !json_utf8_valid(s, NULL))
            abort();
        jw_string(w, s);
        break;
    case JSON_NUMBER:
        if (!json_as_double(n, &d))
            abort();
        if (json_as_i64(n, &i))
            jw_int(w, i);
        else
            jw_null(w);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        if (!json_as_bool(n, &b))
            abort();
        jw_bool(w, b);
        break;
    case JSON_NULL:
        jw_null(w);
        break;
    default:
        abort();
    }
}

/* Compares node n with tape token i; returns the index after i's value. */
static size_t same_as_tape(const struct json *n, const struct json_tape *t, size_t i)
{
    enum json_type type = json_type_of(n);
    if (i >= t->n || json_tape_type(t, i) != type)
        abort();
    struct str s;
    double a, b;
    switch (type) {
    case JSON_STRING:
        if (!json_as_str(n, &s) || !str_eq(s, json_tape_str(t, i)))
            abort();
        return i + 1;
    case JSON_NUMBER:
        a = json_tape_number(t, i);
        if (!json_as_double(n, &b) || memcmp(&a, &b, sizeof(a)) != 0)
            abort();
        return i + 1;
    case JSON_OBJECT:
    case JSON_ARRAY: {
        size_t k = i + 1;
        if (json_tape_count(t, i) != json_count(n))
            abort();
        for (const struct json *c = json_first(n); c; c = json_next(c)) {
            if (type == JSON_OBJECT) {
                if (k >= t->n || !str_eq(str_from_cstr(json_key(c)), json_tape_str(t, k)) ||
                    json_tape_get(t, i, json_tape_str(t, k)) != k + 1)
                    abort();
                k++;
            }
            k = same_as_tape(c, t, k);
        }
        if (k != json_tape_skip(t, i))
            abort();
        return k;
    }
    default:
        return i + 1;
    }
}

/* json_tape_parse agrees with json_parse on text: verdict, reason, offset, values. */
static void run_tape(const char *text, size_t len, const struct json_limits *lim)
{
    struct json *doc = NULL;
    struct json_error a, b;
    enum err ea = json_parse(text, len, lim, &doc, &a);
    struct json_tape t;
    json_tape_init(&t);
    enum err eb = json_tape_parse(&t, text, len, lim, &b);
    if (ea != eb || a.offset != b.offset || strcmp(a.reason, b.reason) != 0)
        abort();
    if (ea == ERR_OK && same_as_tape(doc, &t, 0) != t.n)
        abort();
    json_tape_release(&t);
    json_free(doc);
}

static void run(const char *text, size_t len, const struct json_limits *lim)
{
    struct json *doc = NULL;
    struct json_error e;
    if (json_parse(text, len, lim, &doc, &e) != ERR_OK) {
        if (doc)
            abort();
        return;
    }
    (void)json_type_name(json_type_of(doc));
    struct buf out = BUF_INIT((size_t)16 * 1024 * 1024);
    struct jw w;
    jw_init(&w, &out);
    visit(doc, &w, 0);
    if (jw_finish(&w) == ERR_OK) {
        /* the writer's output is valid JSON (depth and sizes as the input) */
        struct json_limits big = {(size_t)64 * 1024 * 1024, JSON_MAX_DEPTH_LIMIT,
                                  (size_t)16 * 1024 * 1024, 1000000};
        struct json *again = NULL;
        if (json_parse(buf_cstr(&out), out.len, &big, &again, &e) != ERR_OK)
            abort();
        json_free(again);
    }
    buf_release(&out);
    json_free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    run(text, size, &JSON_LIMITS_DEFAULT);
    const struct json_limits small = {256, 4, 16, 8};
    run(text, size, &small);
    run_tape(text, size, &JSON_LIMITS_DEFAULT);
    run_tape(text, size, &small);

    /* the escaper on raw bytes, with and without a cut */
    struct buf b = BUF_INIT(size * 6 + 16);
    if (json_escape_to(&b, str_from(text, size)) != ERR_OK)
        abort();
    buf_reset(&b);
    bool cut;
    if (json_escape_to_max(&b, str_from(text, size), size / 2 + 2, &cut) != ERR_OK ||
        b.len > size / 2 + 2)
        abort();
    buf_release(&b);

    /* masking never fails on a large enough buffer and never grows a value much */
    struct buf m = BUF_INIT(size * 8 + 64);
    if (log_mask_value(&m, text, size) != ERR_OK)
        abort();
    buf_release(&m);
    char *msg = malloc(size + 1);
    if (!msg)
        return 0;
    memcpy(msg, data, size);
    msg[size] = '\0';
    const struct log_field fields[] = {LOG_STR("detail", msg),
                                       LOG_INT("n", (int64_t)size),
                                       LOG_STR("password", msg),
                                       {.key = NULL}};
    struct buf line = BUF_INIT(LOG_MAX_LINE);
    if (log_format(&line, LOG_INFO, msg, fields) != ERR_OK || line.len > LOG_MAX_LINE)
        abort();
    struct json *doc = NULL;
    struct json_error e;
    if (json_parse(buf_cstr(&line), line.len, NULL, &doc, &e) != ERR_OK ||
        json_type_of(doc) != JSON_OBJECT || json_get(doc, "password"))
        abort();
    json_free(doc);
    buf_release(&line);
    free(msg);
    return 0;
}
