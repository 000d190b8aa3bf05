/*
 * json — limits-first parsing on top of cJSON, typed accessors, escaping writer.
 *
 * Design: untrusted text goes through a small validating scanner before cJSON
 * ever sees it. The scanner is a complete RFC 8259 lexer and grammar checker
 * with an explicit stack, so it enforces size, nesting depth, members per
 * container, string length (after unescaping), UTF-8 validity and rejects what
 * cJSON would silently accept (control characters, lone surrogates, "\u0000",
 * leading zeros, trailing garbage). Only then does cJSON build the tree, which
 * therefore never recurses deeper than the limit. A walk over the tree checks
 * duplicate keys and re-checks the limits (defence in depth).
 *
 * cJSON 1.7.15 writes a process-global error position on every parse, so the
 * cJSON call itself is serialised with a mutex; the expensive validation runs
 * outside it. Allocation failures inside cJSON end in err_oom().
 */
#include "core/json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cJSON copies a number into a 64-byte buffer: longer numbers cannot parse. */
#define JSON_MAX_NUMBER_LEN 63

const struct json_limits JSON_LIMITS_DEFAULT = {
    .max_bytes = (size_t)1024 * 1024,
    .max_depth = 32,
    .max_string = 65536,
    .max_members = 1000,
};

/* ---- UTF-8 ---------------------------------------------------------------- */

/*
 * Decodes one UTF-8 sequence at p[0..len). Returns its length (1..4) and the
 * code point, or 0 when the bytes are not a valid, shortest-form sequence.
 */
size_t json_utf8_decode(const unsigned char *p, size_t len, uint32_t *cp)
{
    unsigned char c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        v = c & 0x1fu;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        v = c & 0x0fu;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        v = c & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0u) != 0x80u)
            return 0;
        v = (v << 6) | (p[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

bool json_utf8_valid(struct str s, size_t *n_codepoints)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t count = 0;
    for (size_t i = 0; i < s.len;) {
        /* webhook bodies are mostly ASCII: skip eight such bytes at a time */
        if (s.len - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (!(w & UINT64_C(0x8080808080808080))) {
                i += 8;
                count += 8;
                continue;
            }
        }
        uint32_t cp;
        size_t n = json_utf8_decode(p + i, s.len - i, &cp);
        if (n == 0)
            return false;
        i += n;
        count++;
    }
    if (n_codepoints)
        *n_codepoints = count;
    return true;
}

static size_t utf8_len_of(uint32_t cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* ---- validating pre-scan ---------------------------------------------------- */

enum scan_state {
    S_VALUE,        /* a value must follow (start, after ':' or ',' in an array) */
    S_VALUE_OR_END, /* just after '[' */
    S_KEY,          /* after ',' in an object */
    S_KEY_OR_END,   /* just after '{' */
    S_COLON,        /* after a key */
    S_COMMA_OR_END, /* after a member or element */
    S_DONE,         /* top-level value complete */
};

struct scan {
    const unsigned char *p;
    size_t len;
    size_t i;
    const struct json_limits *lim;
    size_t max_depth;
    size_t depth;
    bool is_obj[JSON_MAX_DEPTH_LIMIT + 1];
    size_t count[JSON_MAX_DEPTH_LIMIT + 1];
    struct json_error *e;
};

static enum err scan_fail(struct scan *s, enum err code, size_t offset, const char *reason)
{
    if (s->e) {
        s->e->offset = offset;
        snprintf(s->e->reason, sizeof(s->e->reason), "%s", reason);
    }
    return code;
}

/* Reads 4 hex digits at p[i..]; -1 when missing or not hex. */
static long scan_hex4(const struct scan *s, size_t i)
{
    if (s->len - i < 4)
        return -1;
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = str_hex_digit((char)s->p[i + k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* A string starting at the opening quote s->i; leaves s->i past the closing quote. */
static enum err scan_string(struct scan *s)
{
    size_t start = s->i;
    size_t out_len = 0; /* bytes after unescaping */
    s->i++;
    for (;;) {
        if (s->i >= s->len)
            return scan_fail(s, ERR_INVALID, start, "malformed JSON");
        unsigned char c = s->p[s->i];
        if (c == '"') {
            s->i++;
            return ERR_OK;
        }
        if (c < 0x20)
            return scan_fail(s, ERR_INVALID, s->i, "malformed JSON");
        if (c == '\\') {
            if (s->len - s->i < 2)
                return scan_fail(s, ERR_INVALID, s->i, "malformed JSON");
            unsigned char x = s->p[s->i + 1];
            if (x == 'u') {
                long cp = scan_hex4(s, s->i + 2);
                if (cp < 0)
                    return scan_fail(s, ERR_INVALID, s->i, "malformed JSON");
                size_t adv = 6;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    long lo = -1;
                    if (s->len - s->i >= 12 && s->p[s->i + 6] == '\\' && s->p[s->i + 7] == 'u')
                        lo = scan_hex4(s, s->i + 8);
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return scan_fail(s, ERR_INVALID, s->i, "invalid unicode escape");
                    cp = 0x10000;
                    adv = 12;
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    return scan_fail(s, ERR_INVALID, s->i, "invalid unicode escape");
                } else if (cp == 0) {
                    /* cJSON strings are C strings: a NUL would silently cut them */
                    return scan_fail(s, ERR_INVALID, s->i, "NUL character in string");
                }
                out_len += utf8_len_of((uint32_t)cp);
                s->i += adv;
            } else if (strchr("\"\\/bfnrt", x) && x != '\0') {
                out_len++;
                s->i += 2;
            } else {
                return scan_fail(s, ERR_INVALID, s->i, "malformed JSON");
            }
        } else if (c < 0x80) {
            out_len++;
            s->i++;
        } else {
            uint32_t cp;
            size_t n = json_utf8_decode(s->p + s->i, s->len - s->i, &cp);
            if (n == 0)
                return scan_fail(s, ERR_INVALID, s->i, "invalid UTF-8");
            out_len += n;
            s->i += n;
        }
        if (out_len > s->lim->max_string)
            return scan_fail(s, ERR_LIMIT, start, "string too long");
    }
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* RFC 8259 number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static enum err scan_number(struct scan *s)
{
    size_t start = s->i, i = s->i, n = s->len;
    const unsigned char *p = s->p;
    if (i < n && p[i] == '-')
        i++;
    if (i >= n || !is_digit(p[i]))
        return scan_fail(s, ERR_INVALID, start, "malformed JSON");
    if (p[i] == '0') {
        i++;
    } else {
        while (i < n && is_digit(p[i]))
            i++;
    }
    if (i < n && p[i] == '.') {
        i++;
        if (i >= n || !is_digit(p[i]))
            return scan_fail(s, ERR_INVALID, start, "malformed JSON");
        while (i < n && is_digit(p[i]))
            i++;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if (i >= n || !is_digit(p[i]))
            return scan_fail(s, ERR_INVALID, start, "malformed JSON");
        while (i < n && is_digit(p[i]))
            i++;
    }
    if (i - start > JSON_MAX_NUMBER_LEN)
        return scan_fail(s, ERR_LIMIT, start, "number too long");
    s->i = i;
    return ERR_OK;
}

static enum err scan_literal(struct scan *s)
{
    static const char *const lits[] = {"true", "false", "null"};
    for (size_t k = 0; k < 3; k++) {
        size_t l = strlen(lits[k]);
        if (s->len - s->i >= l && memcmp(s->p + s->i, lits[k], l) == 0) {
            s->i += l;
            return ERR_OK;
        }
    }
    return scan_fail(s, ERR_INVALID, s->i, "malformed JSON");
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static enum err scan_push(struct scan *s, bool is_obj)
{
    if (s->depth + 1 > s->max_depth)
        return scan_fail(s, ERR_LIMIT, s->i, "nesting too deep");
    s->depth++;
    s->is_obj[s->depth] = is_obj;
    s->count[s->depth] = 0;
    s->i++;
    return ERR_OK;
}

/* Counts one more member/element in the innermost container. */
static enum err scan_count(struct scan *s)
{
    if (s->depth == 0)
        return ERR_OK;
    if (++s->count[s->depth] > s->lim->max_members)
        return scan_fail(s, ERR_LIMIT, s->i, "too many members");
    return ERR_OK;
}

/* Any value at s->i (state S_VALUE); leaves the state to the caller. */
static enum err scan_value(struct scan *s, enum scan_state *st)
{
    unsigned char c = s->p[s->i];
    enum err e;
    if (c == '{') {
        e = scan_push(s, true);
        *st = S_KEY_OR_END;
        return e;
    }
    if (c == '[') {
        e = scan_push(s, false);
        *st = S_VALUE_OR_END;
        return e;
    }
    if (c == '"')
        e = scan_string(s);
    else if (c == '-' || is_digit(c))
        e = scan_number(s);
    else
        e = scan_literal(s);
    *st = s->depth == 0 ? S_DONE : S_COMMA_OR_END;
    return e;
}

static enum err scan_document(struct scan *s)
{
    enum scan_state st = S_VALUE;
    enum err e;
    for (;;) {
        while (s->i < s->len && is_ws(s->p[s->i]))
            s->i++;
        if (s->i >= s->len) {
            if (st == S_DONE)
                return ERR_OK;
            return scan_fail(s, ERR_INVALID, s->len, "malformed JSON");
        }
        unsigned char c = s->p[s->i];
        switch (st) {
        case S_VALUE_OR_END:
            if (c == ']') {
                s->depth--;
                s->i++;
                st = s->depth == 0 ? S_DONE : S_COMMA_OR_END;
                break;
            }
            __attribute__((fallthrough));
        case S_VALUE:
            /* elements count in arrays; in objects the key was counted */
            if (s->depth > 0 && !s->is_obj[s->depth] && (e = scan_count(s)) != ERR_OK)
                return e;
            if ((e = scan_value(s, &st)) != ERR_OK)
                return e;
            break;
        case S_KEY_OR_END:
            if (c == '}') {
                s->depth--;
                s->i++;
                st = s->depth == 0 ? S_DONE : S_COMMA_OR_END;
                break;
            }
            __attribute__((fallthrough));
        case S_KEY:
            if (c != '"')
                return scan_fail(s, ERR_INVALID, s->i, "malformed JSON");
            if ((e = scan_count(s)) != ERR_OK || (e = scan_string(s)) != ERR_OK)
                return e;
            st = S_COLON;
            break;
        case S_COLON:
            if (c != ':')
                return scan_fail(s, ERR_INVALID, s->i, "malformed JSON");
            s->i++;
            st = S_VALUE;
            break;
        case S_COMMA_OR_END:
            if (c == ',') {
                s->i++;
                st = s->is_obj[s->depth] ? S_KEY : S_VALUE;
            } else if (c == (s->is_obj[s->depth] ? '}' : ']')) {
                s->depth--;
                s->i++;
                st = s->depth == 0 ? S_DONE : S_COMMA_OR_END;
            } else {
                return scan_fail(s, ERR_INVALID, s->i, "malformed JSON");
            }
            break;
        case S_DONE:
            return scan_fail(s, ERR_INVALID, s->i, "unexpected data after JSON");
        }
    }
}

/* ---- tree walk -------------------------------------------------------------- */

static int key_cmp(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a;
    const cJSON *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

/* True when two members of the object share a key. */
static bool has_duplicate_keys(const cJSON *obj, size_t n)
{
    if (n < 2)
        return false;
    if (n <= 8) {
        for (const cJSON *a = obj->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (strcmp(a->string, b->string) == 0)
                    return true;
        return false;
    }
    const cJSON **v = malloc(n * sizeof(*v));
    if (!v)
        err_oom();
    size_t k = 0;
    for (const cJSON *a = obj->child; a && k < n; a = a->next)
        v[k++] = a;
    qsort(v, k, sizeof(*v), key_cmp);
    bool dup = false;
    for (size_t i = 1; i < k && !dup; i++)
        dup = strcmp(v[i - 1]->string, v[i]->string) == 0;
    free(v);
    return dup;
}

static enum err walk(const cJSON *n, const struct json_limits *lim, struct json_error *e,
                     size_t depth)
{
    const char *reason = NULL;
    enum err code = ERR_LIMIT;
    if (depth > JSON_MAX_DEPTH_LIMIT) {
        reason = "nesting too deep";
    } else if (n->string && strlen(n->string) > lim->max_string) {
        reason = "string too long";
    } else if (cJSON_IsString(n) && (!n->valuestring || strlen(n->valuestring) > lim->max_string)) {
        reason = "string too long";
    } else if (cJSON_IsNumber(n) && !isfinite(n->valuedouble)) {
        reason = "number out of range";
    } else if (cJSON_IsArray(n) || cJSON_IsObject(n)) {
        size_t count = 0;
        for (const cJSON *c = n->child; c; c = c->next)
            count++;
        if (count > lim->max_members) {
            reason = "too many members";
        } else if (cJSON_IsObject(n) && has_duplicate_keys(n, count)) {
            reason = "duplicate key";
            code = ERR_INVALID;
        } else {
            for (const cJSON *c = n->child; c && !reason; c = c->next) {
                if (cJSON_IsObject(n) && !c->string) {
                    reason = "malformed JSON";
                    code = ERR_INVALID;
                    break;
                }
                enum err r = walk(c, lim, e, depth + 1);
                if (r != ERR_OK)
                    return r;
            }
        }
    }
    if (!reason)
        return ERR_OK;
    if (e) {
        e->offset = 0; /* cJSON keeps no positions */
        snprintf(e->reason, sizeof(e->reason), "%s", reason);
    }
    return code;
}

/* ---- parse -------------------------------------------------------------------- */

static pthread_mutex_t cjson_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t cjson_once = PTHREAD_ONCE_INIT;

static void *cjson_malloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        err_oom();
    return p;
}

static void cjson_init(void)
{
    cJSON_Hooks hooks = {.malloc_fn = cjson_malloc, .free_fn = free};
    cJSON_InitHooks(&hooks);
}

enum err json_parse(const char *text, size_t len, const struct json_limits *lim, struct json **out,
                    struct json_error *e)
{
    *out = NULL;
    if (e) {
        e->offset = 0;
        e->reason[0] = '\0';
    }
    if (!lim)
        lim = &JSON_LIMITS_DEFAULT;
    struct scan s = {.p = (const unsigned char *)text, .len = len, .lim = lim, .e = e};
    if (len > lim->max_bytes)
        return scan_fail(&s, ERR_LIMIT, lim->max_bytes, "document too large");
    if (!text)
        return scan_fail(&s, ERR_INVALID, 0, "malformed JSON");
    s.max_depth = lim->max_depth < JSON_MAX_DEPTH_LIMIT ? lim->max_depth : JSON_MAX_DEPTH_LIMIT;
    enum err r = scan_document(&s);
    if (r != ERR_OK)
        return r;

    pthread_once(&cjson_once, cjson_init);
    const char *end = NULL;
    pthread_mutex_lock(&cjson_lock);
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    pthread_mutex_unlock(&cjson_lock);
    if (!root) {
        size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        return scan_fail(&s, ERR_INVALID, off, "malformed JSON");
    }
    /* the scanner accepted the text, so everything after the value is whitespace;
     * check anyway in case cJSON stopped early */
    if (!end || end < text || end > text + len) {
        cJSON_Delete(root);
        return scan_fail(&s, ERR_INVALID, 0, "malformed JSON");
    }
    for (const char *p = end; p < text + len; p++) {
        if (!is_ws((unsigned char)*p)) {
            cJSON_Delete(root);
            return scan_fail(&s, ERR_INVALID, (size_t)(p - text), "unexpected data after JSON");
        }
    }
    r = walk(root, lim, e, 1);
    if (r != ERR_OK) {
        cJSON_Delete(root);
        return r;
    }
    *out = (struct json *)root;
    return ERR_OK;
}

void json_free(struct json *doc)
{
    cJSON_Delete((cJSON *)doc);
}

/* ---- accessors ------------------------------------------------------------------ */

static const cJSON *cj(const struct json *n)
{
    return (const cJSON *)n;
}

enum json_type json_type_of(const struct json *n)
{
    const cJSON *c = cj(n);
    if (!c)
        return JSON_INVALID_TYPE_;
    switch (c->type & 0xff) {
    case cJSON_NULL:
        return JSON_NULL;
    case cJSON_False:
        return JSON_FALSE;
    case cJSON_True:
        return JSON_TRUE;
    case cJSON_Number:
        return JSON_NUMBER;
    case cJSON_String:
        return JSON_STRING;
    case cJSON_Array:
        return JSON_ARRAY;
    case cJSON_Object:
        return JSON_OBJECT;
    default:
        return JSON_INVALID_TYPE_;
    }
}

const char *json_type_name(enum json_type t)
{
    switch (t) {
    case JSON_NULL:
        return "null";
    case JSON_FALSE:
    case JSON_TRUE:
        return "boolean";
    case JSON_NUMBER:
        return "number";
    case JSON_STRING:
        return "string";
    case JSON_ARRAY:
        return "array";
    case JSON_OBJECT:
        return "object";
    default:
        return "invalid";
    }
}

const struct json *json_get(const struct json *obj, const char *key)
{
    const cJSON *o = cj(obj);
    if (!o || !cJSON_IsObject(o) || !key)
        return NULL;
    for (const cJSON *c = o->child; c; c = c->next)
        if (c->string && strcmp(c->string, key) == 0)
            return (const struct json *)c;
    return NULL;
}

const struct json *json_first(const struct json *n)
{
    const cJSON *c = cj(n);
    if (!c || !(cJSON_IsArray(c) || cJSON_IsObject(c)))
        return NULL;
    return (const struct json *)c->child;
}

const struct json *json_next(const struct json *n)
{
    const cJSON *c = cj(n);
    return c ? (const struct json *)c->next : NULL;
}

const char *json_key(const struct json *member)
{
    const cJSON *c = cj(member);
    return c ? c->string : NULL;
}

size_t json_count(const struct json *n)
{
    size_t count = 0;
    for (const struct json *c = json_first(n); c; c = json_next(c))
        count++;
    return count;
}

bool json_as_str(const struct json *n, struct str *out)
{
    const cJSON *c = cj(n);
    if (!c || !cJSON_IsString(c) || !c->valuestring)
        return false;
    *out = str_from_cstr(c->valuestring);
    return true;
}

bool json_as_bool(const struct json *n, bool *out)
{
    const cJSON *c = cj(n);
    if (!c || !cJSON_IsBool(c))
        return false;
    *out = cJSON_IsTrue(c);
    return true;
}

bool json_as_i64(const struct json *n, int64_t *out)
{
    const cJSON *c = cj(n);
    if (!c || !cJSON_IsNumber(c))
        return false;
    double d = c->valuedouble;
    /* 2^53: beyond it doubles no longer represent every integer */
    const double lim = 9007199254740992.0;
    if (!isfinite(d) || d != floor(d) || d >= lim || d <= -lim)
        return false;
    *out = (int64_t)d;
    return true;
}

bool json_as_double(const struct json *n, double *out)
{
    const cJSON *c = cj(n);
    if (!c || !cJSON_IsNumber(c))
        return false;
    *out = c->valuedouble;
    return true;
}

/* ---- escaping writer -------------------------------------------------------------- */

/* Bytes written as they are: printable ASCII but the quote, the backslash and <, >, &. */
static const bool verbatim[256] = {
    [0x20 ... 0x21] = true, [0x23 ... 0x25] = true, [0x27 ... 0x3b] = true,
    [0x3d] = true,          [0x3f ... 0x5b] = true, [0x5d ... 0x7e] = true,
};

/*
 * Escapes s as a JSON string; stops before a character whose escape would make
 * the output (with the closing quote) exceed max bytes.
 */
static enum err escape_body(struct buf *out, struct str s, size_t max, bool *cut)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t used = 1; /* opening quote */
    enum err e = buf_putc(out, '"');
    if (e)
        return e;
    size_t i = 0;
    while (i < s.len) {
        /* a run of bytes that need no escaping is copied at once */
        size_t j = i;
        while (j < s.len && verbatim[p[j]])
            j++;
        if (j > i) {
            size_t run = j - i;
            if (max - 1 - used < run) {
                run = max - 1 - used;
                j = i + run;
                *cut = true;
            }
            if ((e = buf_append(out, p + i, run)) != ERR_OK)
                return e;
            used += run;
            i = j;
            if (*cut)
                break;
            continue;
        }
        char tmp[8];
        size_t tl, adv;
        uint32_t cp;
        size_t n = json_utf8_decode(p + i, s.len - i, &cp);
        if (n == 0) {
            memcpy(tmp, "\xef\xbf\xbd", 3); /* U+FFFD for each invalid byte */
            tl = 3;
            adv = 1;
        } else if (n > 1 && cp != 0x2028 && cp != 0x2029) {
            memcpy(tmp, p + i, n);
            tl = n;
            adv = n;
        } else {
            adv = n;
            tl = 2;
            tmp[0] = '\\';
            switch (cp) {
            case '"':
                tmp[1] = '"';
                break;
            case '\\':
                tmp[1] = '\\';
                break;
            case '\n':
                tmp[1] = 'n';
                break;
            case '\r':
                tmp[1] = 'r';
                break;
            case '\t':
                tmp[1] = 't';
                break;
            case '\b':
                tmp[1] = 'b';
                break;
            case '\f':
                tmp[1] = 'f';
                break;
            default:
                tmp[1] = 'u';
                tmp[2] = hex[(cp >> 12) & 0xf];
                tmp[3] = hex[(cp >> 8) & 0xf];
                tmp[4] = hex[(cp >> 4) & 0xf];
                tmp[5] = hex[cp & 0xf];
                tl = 6;
                break;
            }
        }
        if (max - 1 - used < tl) {
            *cut = true;
            break;
        }
        if ((e = buf_append(out, tmp, tl)) != ERR_OK)
            return e;
        used += tl;
        i += adv;
    }
    return buf_putc(out, '"');
}

enum err json_escape_to_max(struct buf *out, struct str s, size_t max, bool *cut)
{
    bool c = false;
    if (max < 2)
        return ERR_LIMIT;
    enum err e = escape_body(out, s, max, &c);
    if (cut)
        *cut = c;
    return e;
}

enum err json_escape_to(struct buf *out, struct str s)
{
    bool cut = false;
    return escape_body(out, s, SIZE_MAX, &cut);
}

void jw_init(struct jw *w, struct buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->err = ERR_OK;
}

static void jw_fail(struct jw *w, enum err e)
{
    if (w->err == ERR_OK)
        w->err = e;
}

/* Writes the comma before a value or key when one is needed. */
static bool jw_before_value(struct jw *w)
{
    if (w->err)
        return false;
    if (w->after_key) {
        w->after_key = false;
        return true;
    }
    if (w->depth > 0) {
        if (!w->first[w->depth]) {
            enum err e = buf_putc(w->out, ',');
            if (e) {
                jw_fail(w, e);
                return false;
            }
        }
        w->first[w->depth] = false;
    }
    return true;
}

static void jw_raw(struct jw *w, const char *s)
{
    enum err e = buf_puts(w->out, s);
    if (e)
        jw_fail(w, e);
}

static void jw_begin(struct jw *w, const char *open)
{
    if (!jw_before_value(w))
        return;
    if (w->depth >= JSON_MAX_DEPTH_LIMIT) {
        jw_fail(w, ERR_LIMIT);
        return;
    }
    jw_raw(w, open);
    w->depth++;
    w->first[w->depth] = true;
}

static void jw_end(struct jw *w, const char *close)
{
    if (w->err)
        return;
    if (w->depth == 0 || w->after_key) {
        jw_fail(w, ERR_INTERNAL); /* unbalanced use of the writer */
        return;
    }
    w->depth--;
    jw_raw(w, close);
}

void jw_object_begin(struct jw *w)
{
    jw_begin(w, "{");
}

void jw_object_end(struct jw *w)
{
    jw_end(w, "}");
}

void jw_array_begin(struct jw *w)
{
    jw_begin(w, "[");
}

void jw_array_end(struct jw *w)
{
    jw_end(w, "]");
}

void jw_key(struct jw *w, const char *key)
{
    if (w->err)
        return;
    if (w->after_key || w->depth == 0 || !key) {
        jw_fail(w, ERR_INTERNAL);
        return;
    }
    if (!jw_before_value(w))
        return;
    enum err e = json_escape_to(w->out, str_from_cstr(key));
    if (!e)
        e = buf_putc(w->out, ':');
    if (e)
        jw_fail(w, e);
    else
        w->after_key = true;
}

void jw_string(struct jw *w, struct str s)
{
    if (!jw_before_value(w))
        return;
    if (!s.ptr)
        s = STR_LIT("");
    enum err e = json_escape_to(w->out, s);
    if (e)
        jw_fail(w, e);
}

void jw_cstring(struct jw *w, const char *s)
{
    if (!s)
        jw_null(w);
    else
        jw_string(w, str_from_cstr(s));
}

void jw_int(struct jw *w, int64_t v)
{
    if (!jw_before_value(w))
        return;
    enum err e = buf_printf(w->out, "%lld", (long long)v);
    if (e)
        jw_fail(w, e);
}

void jw_double(struct jw *w, double v)
{
    if (!jw_before_value(w))
        return;
    if (!isfinite(v)) {
        jw_raw(w, "null");
        return;
    }
    /* 2^53: every integer below it is a double, and "%lld" is exact and short */
    const double lim = 9007199254740992.0;
    enum err e;
    if (v == 0 && signbit(v)) {
        e = buf_puts(w->out, "-0");
    } else if (v == floor(v) && v < lim && v > -lim) {
        e = buf_printf(w->out, "%lld", (long long)v);
    } else {
        char tmp[32];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break; /* %.17g always reads back equal: the loop ends with it at worst */
        }
        e = buf_puts(w->out, tmp);
    }
    if (e)
        jw_fail(w, e);
}

void jw_bool(struct jw *w, bool v)
{
    if (jw_before_value(w))
        jw_raw(w, v ? "true" : "false");
}

void jw_null(struct jw *w)
{
    if (jw_before_value(w))
        jw_raw(w, "null");
}

enum err jw_finish(struct jw *w)
{
    if (w->err)
        return w->err;
    if (w->depth != 0 || w->after_key)
        return ERR_INTERNAL;
    return ERR_OK;
}
