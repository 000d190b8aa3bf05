/*
 * json_tape — a validating tokenizer that fills a flat token array (see
 * json_tape.h).
 *
 * Design: one pass over the text with an explicit stack of open containers,
 * driven by the same state machine as json.c's validating scanner and with
 * the same checks in the same order, so every input gets the same verdict,
 * reason and offset. Each value and key appends a 16-byte token to one
 * growable array; a container's token is patched with its end and child
 * count when it closes. Strings are scanned a run of plain ASCII at a time
 * (eight bytes per step), and one that is a single such run up to its
 * closing quote, as most are, takes no other path. At the first escape in a
 * string its bytes start going to the tape's unescape buffer, sized once to
 * the rest of the text: unescaping never lengthens a string, so that is room
 * for this string and every later one, and the buffer grows at most once per
 * parse.
 *
 * json_parse finds duplicate keys and non-finite numbers afterwards, walking
 * its tree in pre-order, so it reports them only when the scanner found
 * nothing, and then the first in document order. Here they are noted as
 * objects close and numbers are read, the lowest token index wins (token
 * order is pre-order), and the note is reported once the whole text has
 * passed. Duplicate keys are found by comparing every pair in small objects
 * and with a hash table in larger ones; a table whose probes run past a
 * budget (keys crafted to collide) falls back to sorting, so no input costs
 * more than O(n log n) comparisons.
 */
#include "core/json_tape.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json.c refuses longer numbers (cJSON copies them into a 64-byte buffer). */
#define TAPE_MAX_NUMBER_LEN 63

/* Digits of an integer literal that a double holds exactly (below 2^53). */
#define TAPE_EXACT_DIGITS 15

/* Most tokens a tape allocates before it has seen them (1 MiB). */
#define TAPE_FIRST_TOKENS 65536

/* Objects with up to this many members are checked for duplicates pair by pair. */
#define TAPE_PAIRWISE_MAX 8

/* json_tape.h promises 16 bytes a token (memory per body). */
_Static_assert(sizeof(struct json_tok) == 16, "a token is 16 bytes");

void json_tape_init(struct json_tape *t)
{
    memset(t, 0, sizeof(*t));
}

void json_tape_release(struct json_tape *t)
{
    free(t->tok);
    free(t->unescaped);
    free(t->slots);
    json_tape_init(t);
}

/* ---- the parser state ----------------------------------------------------------- */

/* Where the grammar is; the names are json.c's scanner states. */
enum state {
    S_VALUE,        /* a value must follow (start, after ':' or ',' in an array) */
    S_VALUE_OR_END, /* just after '[' */
    S_KEY,          /* after ',' in an object */
    S_KEY_OR_END,   /* just after '{' */
    S_COLON,        /* after a key */
    S_COMMA_OR_END, /* after a member or element */
    S_DONE,         /* top-level value complete */
};

struct parser {
    struct json_tape *t;
    const unsigned char *p;
    size_t len;
    size_t i; /* the next byte to read */
    const struct json_limits *lim;
    size_t max_depth;                        /* lim's, clamped to JSON_MAX_DEPTH_LIMIT */
    size_t depth;                            /* open containers */
    uint32_t open[JSON_MAX_DEPTH_LIMIT + 1]; /* token of each open container, from [1] */
    struct json_error *e;
    /* the first duplicate key or out-of-range number in document order */
    size_t late_tok; /* its token, SIZE_MAX for none */
    enum err late_code;
    const char *late_reason;
};

static enum err fail(struct parser *ps, enum err code, size_t offset, const char *reason)
{
    if (ps->e) {
        ps->e->offset = offset;
        snprintf(ps->e->reason, sizeof(ps->e->reason), "%s", reason);
    }
    return code;
}

/* Notes a problem json_parse only finds after scanning; the earliest token wins. */
static void note_late(struct parser *ps, size_t tok, enum err code, const char *reason)
{
    if (ps->late_tok < tok)
        return;
    ps->late_tok = tok;
    ps->late_code = code;
    ps->late_reason = reason;
}

/* Appends a token of type starting at the current byte; returns its index. */
static size_t tok_push(struct parser *ps, enum json_type type)
{
    struct json_tape *t = ps->t;
    if (t->n == t->cap) {
        /* webhook bodies have about one token per 8 bytes: one allocation for most,
         * but never more than TAPE_FIRST_TOKENS before the text shows it needs them */
        size_t guess = ps->len / 8 + 16;
        size_t cap = t->cap ? t->cap * 2 : guess < TAPE_FIRST_TOKENS ? guess : TAPE_FIRST_TOKENS;
        struct json_tok *p = realloc(t->tok, cap * sizeof(*p));
        if (!p)
            err_oom();
        t->tok = p;
        t->cap = cap;
    }
    struct json_tok *k = &t->tok[t->n];
    k->off = (uint32_t)ps->i;
    k->type = (uint8_t)type;
    k->unescaped = false;
    return t->n++;
}

/* ---- strings ---------------------------------------------------------------------- */

/* Bytes a string holds as they are: ASCII from 0x20, except '"' and '\\'. */
static const bool plain[256] = {
    [0x20 ... 0x21] = true,
    [0x23 ... 0x5b] = true,
    [0x5d ... 0x7f] = true,
};

/*
 * Index of the first byte at or after i that is not plain (or n). Eight bytes
 * at a time: a byte needs a look when it is below 0x20 or from 0x80 (the
 * high bit of x, or of x - 0x20 after a borrow), '"' or '\\' (zero after the
 * XOR). A borrow can only mark bytes above a byte that needs a look, so the
 * lowest marked byte is the first one.
 */
static size_t plain_run(const unsigned char *p, size_t i, size_t n)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    /* the lowest bit is the first byte in memory on little-endian machines only */
    while (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && n - i >= 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
        uint64_t m = ((x - ones * 0x20) | x | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
        if (m != 0)
            return i + (size_t)__builtin_ctzll(m) / 8;
        i += 8;
    }
    while (i < n && plain[p[i]])
        i++;
    return i;
}

/* Writes code point cp (not a surrogate, at most U+10FFFF) as UTF-8; returns its length. */
static size_t utf8_put(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* The 4 hex digits at p[i..]; -1 when missing or not hex. */
static long hex4(const unsigned char *p, size_t len, size_t i)
{
    if (len - i < 4)
        return -1;
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = str_hex_digit((char)p[i + k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/*
 * Decodes the escape at p[i] ('\\') into out; *adv gets the escape's length
 * in the text and *out_len the bytes written. Fails as json.c does.
 */
static enum err unescape_one(struct parser *ps, size_t i, unsigned char *out, size_t *out_len,
                             size_t *adv)
{
    const unsigned char *p = ps->p;
    size_t n = ps->len;
    if (n - i < 2)
        return fail(ps, ERR_INVALID, i, "malformed JSON");
    unsigned char c;
    switch (p[i + 1]) {
    case '"':
    case '\\':
    case '/':
        c = p[i + 1];
        break;
    case 'b':
        c = '\b';
        break;
    case 'f':
        c = '\f';
        break;
    case 'n':
        c = '\n';
        break;
    case 'r':
        c = '\r';
        break;
    case 't':
        c = '\t';
        break;
    case 'u': {
        long cp = hex4(p, n, i + 2);
        if (cp < 0)
            return fail(ps, ERR_INVALID, i, "malformed JSON");
        *adv = 6;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            long lo = -1;
            if (n - i >= 12 && p[i + 6] == '\\' && p[i + 7] == 'u')
                lo = hex4(p, n, i + 8);
            if (lo < 0xdc00 || lo > 0xdfff)
                return fail(ps, ERR_INVALID, i, "invalid unicode escape");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            *adv = 12;
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return fail(ps, ERR_INVALID, i, "invalid unicode escape");
        } else if (cp == 0) {
            /* json_parse's strings are C strings: it refuses NUL, so must we */
            return fail(ps, ERR_INVALID, i, "NUL character in string");
        }
        *out_len = utf8_put((uint32_t)cp, out);
        return ERR_OK;
    }
    default:
        return fail(ps, ERR_INVALID, i, "malformed JSON");
    }
    out[0] = c;
    *out_len = 1;
    *adv = 2;
    return ERR_OK;
}

/*
 * The string (value or key) whose opening quote is at ps->i, into token k;
 * leaves ps->i past the closing quote. Its length after unescaping is checked
 * against the limit after every character, as json.c does, so a string both
 * too long and malformed later on is "string too long". The general case of
 * scan_string, out of line.
 */
__attribute__((noinline)) static enum err scan_string_slow(struct parser *ps, size_t k)
{
    struct json_tape *t = ps->t;
    const unsigned char *p = ps->p;
    size_t n = ps->len, start = ps->i, i = start + 1;
    size_t max = ps->lim->max_string;
    size_t out = 0;            /* bytes after unescaping so far; never above max */
    size_t copied = i;         /* text before this is in the unescape buffer (once used) */
    unsigned char *dst = NULL; /* where the next unescaped byte goes; set at the first escape */
    enum err e;
    for (;;) {
        size_t j = plain_run(p, i, n);
        if (j - i > max - out)
            return fail(ps, ERR_LIMIT, start, "string too long");
        out += j - i;
        i = j;
        if (i >= n)
            return fail(ps, ERR_INVALID, start, "malformed JSON");
        unsigned char c = p[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(ps, ERR_INVALID, i, "malformed JSON");
        if (c == '\\') {
            unsigned char tmp[4];
            size_t tl = 0, adv = 0;
            if ((e = unescape_one(ps, i, tmp, &tl, &adv)) != ERR_OK)
                return e;
            if (!dst) {
                /* this string and any later one fit in the text that is left */
                size_t need = t->unescaped_len + (n - start);
                if (t->unescaped_cap < need) {
                    char *b = realloc(t->unescaped, need);
                    if (!b)
                        err_oom();
                    t->unescaped = b;
                    t->unescaped_cap = need;
                }
                dst = (unsigned char *)t->unescaped + t->unescaped_len;
            }
            /* unescaping never lengthens: the buffer, sized to the rest of the text, has room */
            ASSERT((size_t)(dst - (unsigned char *)t->unescaped) + (i - copied) + tl <=
                   t->unescaped_cap);
            memcpy(dst, p + copied, i - copied);
            dst += i - copied;
            memcpy(dst, tmp, tl);
            dst += tl;
            i += adv;
            copied = i;
            out += tl;
        } else {
            uint32_t cp;
            size_t m = json_utf8_decode(p + i, n - i, &cp);
            if (m == 0)
                return fail(ps, ERR_INVALID, i, "invalid UTF-8");
            i += m;
            out += m;
        }
        if (out > max)
            return fail(ps, ERR_LIMIT, start, "string too long");
    }
    struct json_tok *tk = &t->tok[k];
    if (dst) {
        ASSERT((size_t)(dst - (unsigned char *)t->unescaped) + (i - copied) <= t->unescaped_cap);
        memcpy(dst, p + copied, i - copied);
        tk->unescaped = true;
        tk->u.str.at = (uint32_t)t->unescaped_len;
        t->unescaped_len += out;
    } else {
        tk->u.str.at = (uint32_t)(start + 1);
    }
    tk->u.str.len = (uint32_t)out;
    ps->i = i + 1;
    return ERR_OK;
}

/* scan_string_slow's result when the string is one run of plain bytes, which most are. */
static enum err scan_string(struct parser *ps, size_t k)
{
    size_t start = ps->i, j = plain_run(ps->p, start + 1, ps->len);
    if (j >= ps->len || ps->p[j] != '"' || j - start - 1 > ps->lim->max_string)
        return scan_string_slow(ps, k);
    struct json_tok *tk = &ps->t->tok[k];
    tk->u.str.at = (uint32_t)(start + 1);
    tk->u.str.len = (uint32_t)(j - start - 1);
    ps->i = j + 1;
    return ERR_OK;
}

/* ---- numbers and literals -------------------------------------------------------- */

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/*
 * RFC 8259 number -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at ps->i,
 * into token k as the double json_parse gives it: cJSON's strtod of the text
 * (the process never leaves the C locale; jw_double relies on that too). An
 * integer literal short enough to be exact as a double is converted directly,
 * which is the same value strtod returns.
 */
static enum err scan_number(struct parser *ps, size_t k)
{
    const unsigned char *p = ps->p;
    size_t start = ps->i, i = start, n = ps->len;
    bool neg = false, integral = true;
    if (i < n && p[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= n || !is_digit(p[i]))
        return fail(ps, ERR_INVALID, start, "malformed JSON");
    size_t int_from = i;
    if (p[i] == '0') {
        i++;
    } else {
        while (i < n && is_digit(p[i]))
            i++;
    }
    size_t int_digits = i - int_from;
    if (i < n && p[i] == '.') {
        integral = false;
        i++;
        if (i >= n || !is_digit(p[i]))
            return fail(ps, ERR_INVALID, start, "malformed JSON");
        while (i < n && is_digit(p[i]))
            i++;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        integral = false;
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if (i >= n || !is_digit(p[i]))
            return fail(ps, ERR_INVALID, start, "malformed JSON");
        while (i < n && is_digit(p[i]))
            i++;
    }
    if (i - start > TAPE_MAX_NUMBER_LEN)
        return fail(ps, ERR_LIMIT, start, "number too long");
    double v;
    if (integral && int_digits <= TAPE_EXACT_DIGITS) {
        uint64_t u = 0;
        for (size_t d = int_from; d < i; d++)
            u = u * 10 + (uint64_t)(p[d] - '0');
        v = neg ? -(double)u : (double)u; /* "-0" is -0.0, as strtod has it */
    } else {
        char text[TAPE_MAX_NUMBER_LEN + 1];
        memcpy(text, p + start, i - start);
        text[i - start] = '\0';
        v = strtod(text, NULL);
    }
    ps->t->tok[k].u.num = v;
    if (!isfinite(v))
        note_late(ps, k, ERR_LIMIT, "number out of range");
    ps->i = i;
    return ERR_OK;
}

/* true, false or null at ps->i (checked as prefixes: what follows is the grammar's business). */
static enum err scan_literal(struct parser *ps)
{
    const unsigned char *p = ps->p + ps->i;
    size_t left = ps->len - ps->i;
    enum json_type type;
    size_t l;
    if (left >= 4 && memcmp(p, "true", 4) == 0) {
        type = JSON_TRUE;
        l = 4;
    } else if (left >= 5 && memcmp(p, "false", 5) == 0) {
        type = JSON_FALSE;
        l = 5;
    } else if (left >= 4 && memcmp(p, "null", 4) == 0) {
        type = JSON_NULL;
        l = 4;
    } else {
        return fail(ps, ERR_INVALID, ps->i, "malformed JSON");
    }
    (void)tok_push(ps, type);
    ps->i += l;
    return ERR_OK;
}

/* ---- duplicate keys ---------------------------------------------------------------- */

static bool key_eq(const struct json_tape *t, size_t a, size_t b)
{
    struct str x = json_tape_str(t, a), y = json_tape_str(t, b);
    return x.len == y.len && memcmp(x.ptr, y.ptr, x.len) == 0;
}

/*
 * Eight bytes at a time, multiplied and folded: cheap on short keys, and
 * collisions are bounded by the probe budget, not by the hash.
 */
static uint32_t key_hash(struct str s)
{
    const uint64_t k = 0x9e3779b97f4a7c15u;
    uint64_t h = s.len * k;
    size_t i = 0;
    for (; s.len - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, s.ptr + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    for (; i < s.len; i++)
        w = (w << 8) | (unsigned char)s.ptr[i];
    h = (h ^ w) * k;
    return (uint32_t)(h >> 32);
}

static int str_cmp(const void *a, const void *b)
{
    const struct str *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->ptr, y->ptr, n);
    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* The keys of the object at obj sorted: two equal ones end up next to each other. */
static bool dup_by_sorting(const struct json_tape *t, size_t obj)
{
    size_t n = t->tok[obj].u.box.n;
    struct str *v = malloc(n * sizeof(*v));
    if (!v)
        err_oom();
    size_t m = 0;
    for (size_t k = obj + 1; m < n; k = json_tape_skip(t, k + 1))
        v[m++] = json_tape_str(t, k);
    qsort(v, n, sizeof(*v), str_cmp);
    bool dup = false;
    for (size_t i = 1; i < n && !dup; i++)
        dup = str_cmp(&v[i - 1], &v[i]) == 0;
    free(v);
    return dup;
}

/* True when two members of the (closed) object at obj have equal unescaped keys. */
static bool has_duplicate_keys(struct json_tape *t, size_t obj)
{
    size_t n = t->tok[obj].u.box.n;
    if (n < 2)
        return false;
    if (n <= TAPE_PAIRWISE_MAX) {
        struct str keys[TAPE_PAIRWISE_MAX];
        size_t m = 0;
        for (size_t k = obj + 1; m < n; k = json_tape_skip(t, k + 1))
            keys[m++] = json_tape_str(t, k);
        for (size_t a = 0; a < n; a++)
            for (size_t b = a + 1; b < n; b++)
                if (keys[a].len == keys[b].len &&
                    memcmp(keys[a].ptr, keys[b].ptr, keys[a].len) == 0)
                    return true;
        return false;
    }
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    if (t->slots_cap < cap) {
        free(t->slots);
        t->slots = malloc(cap * sizeof(*t->slots));
        if (!t->slots)
            err_oom();
        t->slots_cap = cap;
    }
    memset(t->slots, 0, cap * sizeof(*t->slots));
    size_t mask = cap - 1, m = 0;
    size_t budget = 8 * n; /* at half load a fair hash needs about 1.5 probes a key */
    for (size_t k = obj + 1; m < n; k = json_tape_skip(t, k + 1), m++) {
        size_t h = key_hash(json_tape_str(t, k)) & mask;
        while (t->slots[h] != 0) {
            if (key_eq(t, t->slots[h] - 1, k))
                return true;
            if (budget-- == 0)
                return dup_by_sorting(t, obj);
            h = (h + 1) & mask;
        }
        t->slots[h] = (uint32_t)(k + 1); /* 0 marks a free slot */
    }
    return false;
}

/* ---- the grammar ---------------------------------------------------------------- */

/* Counts one more member / element of the innermost container. */
static enum err count_child(struct parser *ps)
{
    if (ps->depth == 0)
        return ERR_OK;
    struct json_tok *b = &ps->t->tok[ps->open[ps->depth]];
    if ((size_t)++b->u.box.n > ps->lim->max_members)
        return fail(ps, ERR_LIMIT, ps->i, "too many members");
    return ERR_OK;
}

/* Closes the innermost container at its ']' or '}'. */
static enum state close_box(struct parser *ps)
{
    struct json_tape *t = ps->t;
    size_t b = ps->open[ps->depth];
    t->tok[b].u.box.end = (uint32_t)t->n;
    /* an earlier note would be reported before this object's duplicates anyway */
    if (t->tok[b].type == JSON_OBJECT && b < ps->late_tok && has_duplicate_keys(t, b))
        note_late(ps, b, ERR_INVALID, "duplicate key");
    ps->depth--;
    ps->i++;
    return ps->depth == 0 ? S_DONE : S_COMMA_OR_END;
}

/* Any value at ps->i; sets the next state. */
static enum err scan_value(struct parser *ps, enum state *st)
{
    unsigned char c = ps->p[ps->i];
    enum err e;
    if (c == '{' || c == '[') {
        if (ps->depth + 1 > ps->max_depth)
            return fail(ps, ERR_LIMIT, ps->i, "nesting too deep");
        size_t b = tok_push(ps, c == '{' ? JSON_OBJECT : JSON_ARRAY);
        ps->t->tok[b].u.box.end = 0;
        ps->t->tok[b].u.box.n = 0;
        ps->open[++ps->depth] = (uint32_t)b;
        ps->i++;
        *st = c == '{' ? S_KEY_OR_END : S_VALUE_OR_END;
        return ERR_OK;
    }
    if (c == '"')
        e = scan_string(ps, tok_push(ps, JSON_STRING));
    else if (c == '-' || is_digit(c))
        e = scan_number(ps, tok_push(ps, JSON_NUMBER));
    else
        e = scan_literal(ps);
    *st = ps->depth == 0 ? S_DONE : S_COMMA_OR_END;
    return e;
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool in_object(const struct parser *ps)
{
    return ps->t->tok[ps->open[ps->depth]].type == JSON_OBJECT;
}

static enum err scan_document(struct parser *ps)
{
    enum state st = S_VALUE;
    enum err e;
    for (;;) {
        size_t i = ps->i; /* a local: stores through ps could alias the text */
        while (i < ps->len && is_ws(ps->p[i]))
            i++;
        ps->i = i;
        if (ps->i >= ps->len) {
            if (st == S_DONE)
                return ERR_OK;
            return fail(ps, ERR_INVALID, ps->len, "malformed JSON");
        }
        unsigned char c = ps->p[ps->i];
        switch (st) {
        case S_VALUE_OR_END:
            if (c == ']') {
                st = close_box(ps);
                break;
            }
            __attribute__((fallthrough));
        case S_VALUE:
            /* elements count in arrays; in objects the key was counted */
            if (ps->depth > 0 && !in_object(ps) && (e = count_child(ps)) != ERR_OK)
                return e;
            if ((e = scan_value(ps, &st)) != ERR_OK)
                return e;
            break;
        case S_KEY_OR_END:
            if (c == '}') {
                st = close_box(ps);
                break;
            }
            __attribute__((fallthrough));
        case S_KEY:
            if (c != '"')
                return fail(ps, ERR_INVALID, ps->i, "malformed JSON");
            if ((e = count_child(ps)) != ERR_OK ||
                (e = scan_string(ps, tok_push(ps, JSON_STRING))) != ERR_OK)
                return e;
            st = S_COLON;
            break;
        case S_COLON:
            if (c != ':')
                return fail(ps, ERR_INVALID, ps->i, "malformed JSON");
            ps->i++;
            st = S_VALUE;
            break;
        case S_COMMA_OR_END:
            if (c == ',') {
                ps->i++;
                st = in_object(ps) ? S_KEY : S_VALUE;
            } else if (c == (in_object(ps) ? '}' : ']')) {
                st = close_box(ps);
            } else {
                return fail(ps, ERR_INVALID, ps->i, "malformed JSON");
            }
            break;
        case S_DONE:
            return fail(ps, ERR_INVALID, ps->i, "unexpected data after JSON");
        }
    }
}

enum err json_tape_parse(struct json_tape *t, const char *text, size_t len,
                         const struct json_limits *lim, struct json_error *e)
{
    t->text = text;
    t->n = 0;
    t->unescaped_len = 0;
    if (e) {
        e->offset = 0;
        e->reason[0] = '\0';
    }
    if (!lim)
        lim = &JSON_LIMITS_DEFAULT;
    struct parser ps = {
        .t = t,
        .p = (const unsigned char *)text,
        .len = len,
        .lim = lim,
        .e = e,
        .late_tok = SIZE_MAX,
    };
    if (len > lim->max_bytes)
        return fail(&ps, ERR_LIMIT, lim->max_bytes, "document too large");
    if (len > JSON_TAPE_MAX_BYTES)
        return fail(&ps, ERR_LIMIT, JSON_TAPE_MAX_BYTES, "document too large");
    if (!text)
        return fail(&ps, ERR_INVALID, 0, "malformed JSON");
    ps.max_depth = lim->max_depth < JSON_MAX_DEPTH_LIMIT ? lim->max_depth : JSON_MAX_DEPTH_LIMIT;
    enum err r = scan_document(&ps);
    if (r == ERR_OK && ps.late_tok != SIZE_MAX)
        r = fail(&ps, ps.late_code, 0, ps.late_reason); /* json_parse has no offset for these */
    if (r != ERR_OK)
        t->n = 0;
    return r;
}

size_t json_tape_get(const struct json_tape *t, size_t obj, struct str key)
{
    if (obj >= t->n || t->tok[obj].type != JSON_OBJECT)
        return JSON_TAPE_NONE;
    for (size_t k = obj + 1; k < t->tok[obj].u.box.end; k = json_tape_skip(t, k + 1)) {
        struct str s = json_tape_str(t, k);
        if (s.len == key.len && (key.len == 0 || memcmp(s.ptr, key.ptr, key.len) == 0))
            return k + 1;
    }
    return JSON_TAPE_NONE;
}
