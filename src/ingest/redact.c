/*
 * redact — secrets and source content out of webhook bodies (see redact.h
 * for the rules).
 *
 * Design: json_tape_parse validates the body under INGEST_JSON_LIMITS in one
 * pass and fills a flat array of tokens (no tree, no allocation per value);
 * one recursive walk over the tokens writes the output with the escaping
 * writer, deciding per member from a normalized copy of its name (on the
 * stack) and per string from one left-to-right scan of its unescaped bytes.
 * A container's token knows where its contents end, so a dropped or masked
 * value is stepped over without being read, and rule 1's look for a "markup"
 * sibling is a scan of the object's keys, done only for "html" strings. The
 * string scan only tries a pattern at a byte that can begin one (a 256-entry
 * table) and, except for "://", only at a word start, stepping over the rest
 * of each word; every matcher looks at a bounded window or a single run of
 * characters, and the scan resumes after a masked span, so a string costs
 * O(length). A string with nothing to mask goes to the writer as it is; one
 * with something is rebuilt in a scratch buffer reused for the whole body.
 */
#include "ingest/redact.h"

#include <string.h>

#include "core/json_tape.h"

const struct json_limits INGEST_JSON_LIMITS = {
    .max_bytes = INGEST_MAX_BODY,
    .max_depth = 64,
    .max_string = (size_t)1024 * 1024,
    .max_members = 100000,
};

static const char *const kind_names[REDACT_KIND_COUNT_] = {
    [REDACT_SOURCE_CONTENT] = "source_content",
    [REDACT_SECRET_KEY] = "secret_key",
    [REDACT_TOKEN_KEY] = "token_key",
    [REDACT_GITHUB] = "github",
    [REDACT_GITLAB] = "gitlab",
    [REDACT_SLACK] = "slack",
    [REDACT_STRIPE] = "stripe",
    [REDACT_SHIPLOG] = "shiplog",
    [REDACT_AWS] = "aws",
    [REDACT_JWT] = "jwt",
    [REDACT_PRIVATE_KEY] = "private_key",
    [REDACT_SSH_KEY] = "ssh_key",
    [REDACT_AUTH_HEADER] = "auth_header",
    [REDACT_URL_USERINFO] = "url_userinfo",
};

const char *redact_kind_name(enum redact_kind k)
{
    if ((unsigned)k >= REDACT_KIND_COUNT_)
        return "unknown";
    return kind_names[k];
}

size_t redact_counts_total(const struct redact_counts *c)
{
    size_t total = 0;
    for (size_t i = 0; i < REDACT_KIND_COUNT_; i++)
        total += c->n[i];
    return total;
}

static void count(struct redact_counts *c, enum redact_kind k)
{
    if (c)
        c->n[k]++;
}

/* ---- character classes ------------------------------------------------------ */

static bool is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_lower(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(unsigned char c)
{
    return is_upper(c) || is_lower(c) || is_digit(c);
}

static unsigned char to_lower(unsigned char c)
{
    return is_upper(c) ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Character sets of token bodies. */
enum cset {
    CS_ALNUM,      /* [A-Za-z0-9] */
    CS_WORD,       /* [A-Za-z0-9_] */
    CS_WORD_DASH,  /* [A-Za-z0-9_-] (also base64url) */
    CS_SHIPLOG,    /* [A-Za-z0-9_.-]: uuid "." base64url */
    CS_B64,        /* [A-Za-z0-9+/] */
    CS_B64_PAD,    /* [A-Za-z0-9+/=] */
    CS_UPPER_NUM,  /* [A-Z0-9] */
    CS_BEARER,     /* [A-Za-z0-9._~+/=-] (RFC 6750 b64token) */
    CS_SLACK_PATH, /* [A-Za-z0-9_/-] */
};

static bool in_set(unsigned char c, enum cset s)
{
    switch (s) {
    case CS_ALNUM:
        return is_alnum(c);
    case CS_WORD:
        return is_alnum(c) || c == '_';
    case CS_WORD_DASH:
        return is_alnum(c) || c == '_' || c == '-';
    case CS_SHIPLOG:
        return is_alnum(c) || c == '_' || c == '-' || c == '.';
    case CS_B64:
        return is_alnum(c) || c == '+' || c == '/';
    case CS_B64_PAD:
        return is_alnum(c) || c == '+' || c == '/' || c == '=';
    case CS_UPPER_NUM:
        return is_upper(c) || is_digit(c);
    case CS_BEARER:
        return is_alnum(c) || (c != '\0' && strchr("._~+/=-", c) != NULL);
    case CS_SLACK_PATH:
        return is_alnum(c) || c == '_' || c == '/' || c == '-';
    }
    return false;
}

/* Length of the run of s characters at p[i..n). */
static size_t run(const unsigned char *p, size_t n, size_t i, enum cset s)
{
    size_t j = i;
    while (j < n && in_set(p[j], s))
        j++;
    return j - i;
}

static bool lit_at(const unsigned char *p, size_t n, size_t i, const char *lit, size_t len)
{
    return n - i >= len && memcmp(p + i, lit, len) == 0;
}

static bool ilit_at(const unsigned char *p, size_t n, size_t i, const char *lit, size_t len)
{
    if (n - i < len)
        return false;
    for (size_t k = 0; k < len; k++)
        if (to_lower(p[i + k]) != (unsigned char)lit[k])
            return false;
    return true;
}

#define LIT(s) s, (sizeof(s) - 1)

/* ---- rule 3: credential formats in strings --------------------------------- */

struct hit {
    size_t from, to; /* the masked span */
    enum redact_kind kind;
};

/*
 * Prefixed tokens: prefix then at least REDACT_MIN_TOKEN_BODY body characters.
 * Grouped by first byte, so a word is compared with its own group only.
 */
struct prefix_rule {
    const char *lit;
    unsigned char len;
    unsigned char body; /* enum cset */
    unsigned char kind; /* enum redact_kind */
};

static const struct prefix_rule prefixes_g[] = {
    {LIT("ghp_"), CS_WORD, REDACT_GITHUB},        {LIT("gho_"), CS_WORD, REDACT_GITHUB},
    {LIT("ghu_"), CS_WORD, REDACT_GITHUB},        {LIT("ghs_"), CS_WORD, REDACT_GITHUB},
    {LIT("ghr_"), CS_WORD, REDACT_GITHUB},        {LIT("github_pat_"), CS_WORD, REDACT_GITHUB},
    {LIT("glpat-"), CS_WORD_DASH, REDACT_GITLAB}, {LIT("gloas-"), CS_WORD_DASH, REDACT_GITLAB},
    {LIT("gldt-"), CS_WORD_DASH, REDACT_GITLAB},  {LIT("glrt-"), CS_WORD_DASH, REDACT_GITLAB},
};

static const struct prefix_rule prefixes_G[] = {
    {LIT("GR1348941"), CS_WORD_DASH, REDACT_GITLAB},
};

static const struct prefix_rule prefixes_x[] = {
    {LIT("xoxb-"), CS_WORD_DASH, REDACT_SLACK}, {LIT("xoxp-"), CS_WORD_DASH, REDACT_SLACK},
    {LIT("xoxa-"), CS_WORD_DASH, REDACT_SLACK}, {LIT("xoxr-"), CS_WORD_DASH, REDACT_SLACK},
    {LIT("xoxs-"), CS_WORD_DASH, REDACT_SLACK}, {LIT("xapp-"), CS_WORD_DASH, REDACT_SLACK},
};

static const struct prefix_rule prefixes_s[] = {
    {LIT("sk_live_"), CS_ALNUM, REDACT_STRIPE},
    {LIT("sk_test_"), CS_ALNUM, REDACT_STRIPE},
    {LIT("shk_"), CS_SHIPLOG, REDACT_SHIPLOG},
    {LIT("shr_"), CS_SHIPLOG, REDACT_SHIPLOG},
};

static const struct prefix_rule prefixes_r[] = {
    {LIT("rk_live_"), CS_ALNUM, REDACT_STRIPE},
    {LIT("rk_test_"), CS_ALNUM, REDACT_STRIPE},
};

static const struct prefix_rule prefixes_w[] = {
    {LIT("whsec_"), CS_B64_PAD, REDACT_STRIPE},
};

/* The second byte of every prefix: most words end at this check. */
static const bool prefix_second[256] = {
    ['h'] = true, ['i'] = true, ['l'] = true, ['R'] = true,
    ['o'] = true, ['a'] = true, ['k'] = true,
};

#define PREFIXES(a) (a), (sizeof(a) / sizeof((a)[0]))

static bool match_prefix_group(const struct prefix_rule *rules, size_t count,
                               const unsigned char *p, size_t n, size_t i, struct hit *h)
{
    for (size_t k = 0; k < count; k++) {
        const struct prefix_rule *r = &rules[k];
        if (p[i + 1] != (unsigned char)r->lit[1] || !lit_at(p, n, i, r->lit, r->len))
            continue;
        size_t body = run(p, n, i + r->len, (enum cset)r->body);
        /* a sentence may end right after the token */
        while (body > 0 && p[i + r->len + body - 1] == '.')
            body--;
        if (body < REDACT_MIN_TOKEN_BODY)
            continue;
        *h = (struct hit){i, i + r->len + body, (enum redact_kind)r->kind};
        return true;
    }
    return false;
}

static bool match_prefixes(const unsigned char *p, size_t n, size_t i, struct hit *h)
{
    /* every prefix is 4+ bytes */
    if (n - i < 4 || !prefix_second[p[i + 1]])
        return false;
    switch (p[i]) {
    case 'g':
        return match_prefix_group(PREFIXES(prefixes_g), p, n, i, h);
    case 'G':
        return match_prefix_group(PREFIXES(prefixes_G), p, n, i, h);
    case 'x':
        return match_prefix_group(PREFIXES(prefixes_x), p, n, i, h);
    case 's':
        return match_prefix_group(PREFIXES(prefixes_s), p, n, i, h);
    case 'r':
        return match_prefix_group(PREFIXES(prefixes_r), p, n, i, h);
    case 'w':
        return match_prefix_group(PREFIXES(prefixes_w), p, n, i, h);
    default:
        return false;
    }
}

/* AKIA / ASIA + exactly 16 of [A-Z0-9], not followed by another letter or digit. */
static bool match_aws_key_id(const unsigned char *p, size_t n, size_t i, struct hit *h)
{
    if (!lit_at(p, n, i, LIT("AKIA")) && !lit_at(p, n, i, LIT("ASIA")))
        return false;
    size_t body = run(p, n, i + 4, CS_UPPER_NUM);
    if (body != 16 || (i + 20 < n && is_alnum(p[i + 20])))
        return false;
    *h = (struct hit){i, i + 20, REDACT_AWS};
    return true;
}

/* "aws_secret" (any case) [A-Za-z_]* then [ \t"':=]* then 40+ base64: the base64 is masked. */
static bool match_aws_secret(const unsigned char *p, size_t n, size_t i, struct hit *h)
{
    if (!ilit_at(p, n, i, LIT("aws_secret")))
        return false;
    size_t j = i + 10;
    for (size_t k = 0; k < 32 && j < n && (is_upper(p[j]) || is_lower(p[j]) || p[j] == '_'); k++)
        j++;
    for (size_t k = 0; k < 8 && j < n && strchr(" \t\"':=", p[j]) && p[j] != '\0'; k++)
        j++;
    size_t body = run(p, n, j, CS_B64_PAD);
    if (body < 40)
        return false;
    *h = (struct hit){j, j + body, REDACT_AWS};
    return true;
}

/* hooks.slack.com/services/<path>: the path is masked. */
static bool match_slack_hook(const unsigned char *p, size_t n, size_t i, struct hit *h)
{
    if (!ilit_at(p, n, i, LIT("hooks.slack.com/services/")))
        return false;
    size_t j = i + sizeof("hooks.slack.com/services/") - 1;
    size_t body = run(p, n, j, CS_SLACK_PATH);
    if (body == 0)
        return false;
    *h = (struct hit){j, j + body, REDACT_SLACK};
    return true;
}

/* eyJ...: three base64url segments joined by '.', the last possibly empty. */
static bool match_jwt(const unsigned char *p, size_t n, size_t i, struct hit *h)
{
    if (!lit_at(p, n, i, LIT("eyJ")))
        return false;
    size_t a = run(p, n, i, CS_WORD_DASH);
    if (a < 10 || i + a >= n || p[i + a] != '.')
        return false;
    size_t j = i + a + 1;
    size_t b = run(p, n, j, CS_WORD_DASH);
    if (b < 2 || j + b >= n || p[j + b] != '.')
        return false;
    j += b + 1;
    j += run(p, n, j, CS_WORD_DASH);
    *h = (struct hit){i, j, REDACT_JWT};
    return true;
}

/* Index of the first lit in p[from..n), or n. */
static size_t find(const unsigned char *p, size_t n, size_t from, const char *lit, size_t len)
{
    if (from >= n)
        return n;
    const void *f = memmem(p + from, n - from, lit, len);
    return f ? (size_t)((const unsigned char *)f - p) : n;
}

/*
 * -----BEGIN <label containing PRIVATE KEY>----- ... -----END <label>-----
 * A label is upper-case letters, digits and spaces on one short line (RSA
 * PRIVATE KEY, OPENSSH PRIVATE KEY, ...): "[redacted]" can never be part of
 * one, so masking another secret never makes a new label, and redacting
 * again finds nothing more.
 */
static bool match_pem(const unsigned char *p, size_t n, size_t i, struct hit *h)
{
    if (!lit_at(p, n, i, LIT("-----BEGIN ")))
        return false;
    size_t lab = i + 11;
    size_t lim = n - lab < 80 ? n : lab + 80; /* a label fits one short line */
    size_t close = lab;
    while (close < lim && (is_upper(p[close]) || is_digit(p[close]) || p[close] == ' '))
        close++;
    if (!lit_at(p, n, close, LIT("-----")) || !memmem(p + lab, close - lab, "PRIVATE KEY", 11))
        return false;
    size_t end = find(p, n, close + 5, LIT("-----END "));
    if (end < n) {
        size_t fin = find(p, n, end + 9, LIT("-----"));
        end = fin < n ? fin + 5 : n;
    }
    *h = (struct hit){i, end, REDACT_PRIVATE_KEY};
    return true;
}

/* ssh-rsa / ssh-dss / ssh-ed25519 / ecdsa-sha2-* / sk-*: the base64 body after one space. */
static bool match_ssh(const unsigned char *p, size_t n, size_t i, struct hit *h)
{
    if (!lit_at(p, n, i, LIT("ssh-")) && !lit_at(p, n, i, LIT("ecdsa-sha2-")) &&
        !lit_at(p, n, i, LIT("sk-ssh-")) && !lit_at(p, n, i, LIT("sk-ecdsa-")))
        return false;
    size_t j = i;
    while (j < n && j - i < 64 && (is_alnum(p[j]) || p[j] == '-' || p[j] == '@' || p[j] == '.'))
        j++;
    if (j >= n || p[j] != ' ')
        return false;
    j++;
    if (!lit_at(p, n, j, LIT("AAAA")))
        return false;
    size_t body = run(p, n, j, CS_B64_PAD);
    if (body < 16)
        return false;
    *h = (struct hit){j, j + body, REDACT_SSH_KEY};
    return true;
}

static int b64_value(unsigned char c)
{
    if (is_upper(c))
        return c - 'A';
    if (is_lower(c))
        return c - 'a' + 26;
    if (is_digit(c))
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* True when p[0..len) is padded base64 whose decoded bytes contain ':'. */
static bool b64_has_colon(const unsigned char *p, size_t len)
{
    if (len == 0 || len % 4 != 0)
        return false;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        size_t have = 4;
        for (size_t k = 0; k < 4; k++) {
            if (p[i + k] == '=' && i + 4 == len && k >= 2) {
                have = have < k ? have : k;
                v[k] = 0;
                continue;
            }
            if (have < 4) /* data after padding */
                return false;
            v[k] = b64_value(p[i + k]);
            if (v[k] < 0)
                return false;
        }
        unsigned long g = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
                          ((unsigned long)v[2] << 6) | (unsigned long)v[3];
        unsigned char bytes[3] = {(unsigned char)(g >> 16), (unsigned char)(g >> 8),
                                  (unsigned char)g};
        for (size_t k = 0; k + 1 < have; k++)
            if (bytes[k] == ':')
                return true;
    }
    return false;
}

/* "Bearer <credential>" and "Basic <base64 of user:password>": the credential is masked. */
static bool match_auth_scheme(const unsigned char *p, size_t n, size_t i, struct hit *h)
{
    bool bearer = ilit_at(p, n, i, LIT("bearer "));
    bool basic = !bearer && ilit_at(p, n, i, LIT("basic "));
    if (!bearer && !basic)
        return false;
    size_t j = i + (bearer ? 7 : 6);
    while (j < n && p[j] == ' ')
        j++;
    size_t len = run(p, n, j, bearer ? CS_BEARER : CS_B64_PAD);
    if (bearer) {
        if (len < 16)
            return false;
        bool mixed = false;
        for (size_t k = j; k < j + len && !mixed; k++)
            mixed = !(is_upper(p[k]) || is_lower(p[k])); /* a digit or punctuation */
        if (!mixed)
            return false; /* "Bearer authentication" is prose */
    } else if (!b64_has_colon(p + j, len)) {
        return false; /* "Basic information" is prose */
    }
    *h = (struct hit){j, j + len, REDACT_AUTH_HEADER};
    return true;
}

/* Bytes allowed in URL userinfo (RFC 3986 unreserved, sub-delims, ':', '%'). */
static const bool userinfo_char[256] = {
    ['A' ... 'Z'] = true, ['a' ... 'z'] = true, ['0' ... '9'] = true, ['-'] = true, ['.'] = true,
    ['_'] = true,         ['~'] = true,         ['%'] = true,         ['!'] = true, ['$'] = true,
    ['&'] = true,         ['\''] = true,        ['('] = true,         [')'] = true, ['*'] = true,
    ['+'] = true,         [','] = true,         [';'] = true,         ['='] = true, [':'] = true,
};

/* "://user:password@": the userinfo is masked. p[i] is ':'. */
static bool match_userinfo(const unsigned char *p, size_t n, size_t i, struct hit *h)
{
    if (!lit_at(p, n, i, LIT("://")) || i == 0 || !is_alnum(p[i - 1]))
        return false;
    size_t from = i + 3, j = from;
    /*
     * Most URLs have no '@' at all: one memchr instead of walking the host.
     * The walk reads up to 512 bytes and then the byte after them, so an '@'
     * can be in any of the 513.
     */
    if (from >= n || !memchr(p + from, '@', n - from < 513 ? n - from : 513))
        return false;
    bool colon = false;
    for (; j < n && j - from < 512; j++) {
        unsigned char c = p[j];
        if (c == '@')
            break;
        if (!userinfo_char[c])
            return false;
        colon = colon || c == ':';
    }
    if (j >= n || p[j] != '@' || !colon || j == from)
        return false;
    *h = (struct hit){from, j, REDACT_URL_USERINFO};
    return true;
}

/* Bytes that can begin a pattern (':' of "://" needs no word start). */
static const bool can_start[256] = {
    ['g'] = true, ['G'] = true, ['x'] = true, ['s'] = true, ['r'] = true,
    ['w'] = true, ['A'] = true, ['a'] = true, ['h'] = true, ['H'] = true,
    ['e'] = true, ['-'] = true, ['B'] = true, ['b'] = true, [':'] = true,
};

static bool match_at(const unsigned char *p, size_t n, size_t i, struct hit *h)
{
    switch (p[i]) {
    case ':':
        return match_userinfo(p, n, i, h);
    case '-':
        return match_pem(p, n, i, h);
    case 'A':
        return match_aws_key_id(p, n, i, h) || match_aws_secret(p, n, i, h);
    case 'a':
        return match_aws_secret(p, n, i, h);
    case 'h':
    case 'H':
        return match_slack_hook(p, n, i, h);
    case 'e':
        return match_jwt(p, n, i, h) || match_ssh(p, n, i, h);
    case 's':
        return match_prefixes(p, n, i, h) || match_ssh(p, n, i, h);
    case 'B':
    case 'b':
        return match_auth_scheme(p, n, i, h);
    default:
        return match_prefixes(p, n, i, h);
    }
}

/* [A-Za-z0-9] as a table, for the scan's inner loop. */
static const bool alnum_tab[256] = {
    ['A' ... 'Z'] = true,
    ['a' ... 'z'] = true,
    ['0' ... '9'] = true,
};

/*
 * The first credential in p[from..n) into h (false when there is none). after_mask: p[from - 1]
 * ends a credential that is being masked, so from is a word start, as it is in the masked output
 * ("[redacted]" ends with ']'): a second pass must find nothing the first one let through.
 */
static bool next_hit(const unsigned char *p, size_t n, size_t from, bool after_mask, struct hit *h)
{
    size_t i = from;
    while (i < n) {
        unsigned char c = p[i];
        /* a pattern starts at a word start, except "://" */
        bool word_start = i == 0 || (i == from && after_mask) || !alnum_tab[p[i - 1]];
        if (can_start[c] && (c == ':' || word_start) && match_at(p, n, i, h))
            return true;
        i++;
        /* no word starts inside a word, and ':' is not part of one: skip the rest */
        if (alnum_tab[c])
            while (i < n && alnum_tab[p[i]])
                i++;
    }
    return false;
}

bool redact_string_has_secret(struct str s)
{
    struct hit h;
    return s.len > 0 && next_hit((const unsigned char *)s.ptr, s.len, 0, false, &h);
}

/* Appends s to out with every credential masked; h is the first hit (already found). */
static enum err mask_into(struct str s, struct hit h, struct buf *out, struct redact_counts *c)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t last = 0;
    enum err e;
    for (;;) {
        if ((e = buf_append(out, p + last, h.from - last)) != ERR_OK ||
            (e = buf_append(out, REDACT_MASK, sizeof(REDACT_MASK) - 1)) != ERR_OK)
            return e;
        count(c, h.kind);
        last = h.to;
        if (!next_hit(p, s.len, h.to, true, &h))
            break;
    }
    return buf_append(out, p + last, s.len - last);
}

enum err redact_string(struct str s, struct buf *out, struct redact_counts *counts, bool *changed)
{
    struct hit h;
    bool found = s.len > 0 && next_hit((const unsigned char *)s.ptr, s.len, 0, false, &h);
    if (changed)
        *changed = found;
    if (!found)
        return s.len ? buf_append(out, s.ptr, s.len) : ERR_OK;
    return mask_into(s, h, out, counts);
}

/* ---- rules 1 and 2: member names -------------------------------------------- */

/* A member name in normalized form: lower-case words joined by '_'. */
struct keynorm {
    char words[REDACT_MAX_KEY_NORM + 1];
    size_t len;
    char compact[REDACT_MAX_KEY_NORM + 1]; /* words without the '_' */
    size_t clen;
    size_t last; /* start of the last word in words */
    bool too_long;
};

/*
 * The name is already in normalized form: words of [a-z0-9] joined by single
 * '_', short enough. key_normalize would give back the same bytes.
 */
static bool key_is_snake(struct str key)
{
    const unsigned char *p = (const unsigned char *)key.ptr;
    if (key.len == 0 || key.len > REDACT_MAX_KEY_NORM || p[0] == '_' || p[key.len - 1] == '_')
        return false;
    for (size_t i = 0; i < key.len; i++) {
        unsigned char c = p[i];
        if (c == '_' ? p[i - 1] == '_' : !(is_lower(c) || is_digit(c)))
            return false;
    }
    return true;
}

static void key_normalize(struct str key, struct keynorm *k)
{
    if (key_is_snake(key)) {
        size_t clen = 0, last = 0;
        memcpy(k->words, key.ptr, key.len);
        for (size_t i = 0; i < key.len; i++) {
            if (key.ptr[i] == '_')
                last = i + 1;
            else
                k->compact[clen++] = key.ptr[i];
        }
        k->words[key.len] = '\0';
        k->compact[clen] = '\0';
        k->len = key.len;
        k->clen = clen;
        k->last = last;
        k->too_long = false;
        return;
    }
    k->len = k->clen = k->last = 0;
    k->too_long = false;
    const unsigned char *p = (const unsigned char *)key.ptr;
    bool sep = false;       /* a boundary is pending */
    unsigned char prev = 0; /* previous byte when it was alphanumeric, else 0 */
    for (size_t i = 0; i < key.len; i++) {
        unsigned char c = p[i];
        if (!is_alnum(c)) {
            sep = true;
            prev = 0;
            continue;
        }
        if (is_upper(c) && prev &&
            (is_lower(prev) || is_digit(prev) ||
             (is_upper(prev) && i + 1 < key.len && is_lower(p[i + 1]))))
            sep = true;
        if (sep && k->len > 0) {
            if (k->len + 1 > REDACT_MAX_KEY_NORM) {
                k->too_long = true;
                break;
            }
            k->words[k->len++] = '_';
            k->last = k->len;
        }
        sep = false;
        if (k->len + 1 > REDACT_MAX_KEY_NORM) {
            k->too_long = true;
            break;
        }
        k->words[k->len++] = (char)to_lower(c);
        k->compact[k->clen++] = (char)to_lower(c);
        prev = c;
    }
    k->words[k->len] = '\0';
    k->compact[k->clen] = '\0';
}

/* The normalized name equals s (of length len). */
static bool words_eq(const struct keynorm *k, const char *s, size_t len)
{
    return k->len == len && memcmp(k->words, s, len) == 0;
}

#define NAME(s) s, (sizeof(s) - 1)

/* Rule 1: member names whose value is source content. */
static const struct drop_rule {
    const char *name;
    size_t len;
    bool strings_only;             /* only when the value is a string */
    bool markup_only;              /* only in an object that also has "markup" (Bitbucket) */
    const char *except1, *except2; /* not directly inside objects with these names */
} drop_rules[] = {
    {NAME("diff"), false, false, NULL, NULL},
    {NAME("diffs"), false, false, NULL, NULL},
    {NAME("diff_hunk"), false, false, NULL, NULL},
    {NAME("st_diff"), false, false, NULL, NULL},
    {NAME("patch"), false, false, NULL, NULL},
    {NAME("patches"), false, false, NULL, NULL},
    {NAME("blob"), false, false, NULL, NULL},
    {NAME("file_contents"), false, false, NULL, NULL},
    {NAME("old_content"), false, false, NULL, NULL},
    {NAME("new_content"), false, false, NULL, NULL},
    {NAME("variables"), false, false, NULL, NULL},
    {NAME("content"), false, false, "permissions", NULL},
    {NAME("contents"), false, false, "permissions", NULL},
    {NAME("raw"), false, false, "author", "committer"},
    {NAME("html"), true, true, NULL, NULL},
};

/* Rule 2: substrings of the compact name that make it secret. */
static const struct needle {
    const char *s;
    size_t len;
} secret_needles[] = {
    {NAME("password")},      {NAME("passwd")},     {NAME("passphrase")},    {NAME("secret")},
    {NAME("token")},         {NAME("apikey")},     {NAME("privatekey")},    {NAME("accesskey")},
    {NAME("secretkey")},     {NAME("signingkey")}, {NAME("encryptionkey")}, {NAME("credential")},
    {NAME("authorization")}, {NAME("cookie")},
};

/* Rule 2: a last word that makes the name metadata about a secret. */
static const struct needle metadata_suffixes[] = {
    {NAME("count")},    {NAME("url")},      {NAME("urls")},       {NAME("uri")},
    {NAME("type")},     {NAME("types")},    {NAME("at")},         {NAME("expires")},
    {NAME("expiry")},   {NAME("scanning")}, {NAME("protection")}, {NAME("enabled")},
    {NAME("required")},
};

/* First letters of the needles: most positions of a name are rejected by this alone. */
static const bool needle_start[256] = {
    ['p'] = true, ['s'] = true, ['t'] = true, ['a'] = true, ['e'] = true, ['c'] = true,
};

static bool key_is_secret(const struct keynorm *k)
{
    if (k->too_long)
        return true;
    if (k->last > 0) {
        const char *last = k->words + k->last;
        size_t ll = k->len - k->last;
        for (size_t i = 0; i < sizeof(metadata_suffixes) / sizeof(metadata_suffixes[0]); i++)
            if (metadata_suffixes[i].len == ll && memcmp(last, metadata_suffixes[i].s, ll) == 0)
                return false;
    }
    for (size_t at = 0; at < k->clen; at++) {
        if (!needle_start[(unsigned char)k->compact[at]])
            continue;
        for (size_t i = 0; i < sizeof(secret_needles) / sizeof(secret_needles[0]); i++) {
            const struct needle *nd = &secret_needles[i];
            if (nd->s[0] == k->compact[at] && k->clen - at >= nd->len &&
                memcmp(k->compact + at, nd->s, nd->len) == 0)
                return true;
        }
    }
    /* word-level needles: "session..." at a word start, "pwd" as a word */
    for (size_t w = 0; w < k->len;) {
        size_t e = w;
        while (e < k->len && k->words[e] != '_')
            e++;
        if ((e - w >= 7 && memcmp(k->words + w, "session", 7) == 0) ||
            (e - w == 3 && memcmp(k->words + w, "pwd", 3) == 0))
            return true;
        w = e + 1;
    }
    return false;
}

/* The name is "html" (dropped as a string in a markup object). */
static bool is_html(const struct keynorm *k)
{
    return words_eq(k, NAME("html"));
}

static enum redact_action classify(const struct keynorm *k, enum json_type t,
                                   const struct keynorm *parent, bool markup_sibling)
{
    if (!k->too_long && k->len >= 3 && k->len <= 13) { /* the lengths in drop_rules */
        for (size_t i = 0; i < sizeof(drop_rules) / sizeof(drop_rules[0]); i++) {
            const struct drop_rule *r = &drop_rules[i];
            if (!words_eq(k, r->name, r->len))
                continue;
            if (r->strings_only && t != JSON_STRING)
                break;
            if (r->markup_only && !markup_sibling)
                break;
            if (parent && ((r->except1 && words_eq(parent, r->except1, strlen(r->except1))) ||
                           (r->except2 && words_eq(parent, r->except2, strlen(r->except2)))))
                break;
            return REDACT_DROP;
        }
    }
    return key_is_secret(k) ? REDACT_MASK_VALUE : REDACT_KEEP;
}

enum redact_action redact_classify_member(struct str key, enum json_type value_type,
                                          const char *parent, bool markup_sibling)
{
    struct keynorm k, pk;
    key_normalize(key, &k);
    if (parent)
        key_normalize(str_from_cstr(parent), &pk);
    return classify(&k, value_type, parent ? &pk : NULL, markup_sibling);
}

/* ---- the walk ------------------------------------------------------------------ */

struct walker {
    const struct json_tape *t;
    struct jw w;
    struct buf scratch; /* a masked string is rebuilt here */
    struct buf key;     /* the member name as a C string, for jw_key */
    struct redact_counts *counts;
    enum err err; /* first failure outside the writer (scratch, key) */
};

static void walker_fail(struct walker *x, enum err e)
{
    if (x->err == ERR_OK)
        x->err = e;
}

static void emit_string(struct walker *x, struct str s)
{
    struct hit h;
    if (s.len == 0 || !next_hit((const unsigned char *)s.ptr, s.len, 0, false, &h)) {
        jw_string(&x->w, s);
        return;
    }
    buf_reset(&x->scratch);
    enum err e = mask_into(s, h, &x->scratch, x->counts);
    if (e != ERR_OK) {
        walker_fail(x, e);
        return;
    }
    jw_string(&x->w, str_from(x->scratch.data, x->scratch.len));
}

/* jw_key takes a C string; tape keys are views (a key never holds NUL). */
static void emit_key(struct walker *x, struct str key)
{
    char small[64]; /* most names: no buffer call */
    if (key.len < sizeof(small)) {
        memcpy(small, key.ptr, key.len);
        small[key.len] = '\0';
        jw_key(&x->w, small);
        return;
    }
    buf_reset(&x->key);
    enum err e = buf_append(&x->key, key.ptr, key.len);
    if (e != ERR_OK) {
        walker_fail(x, e);
        return;
    }
    jw_key(&x->w, buf_cstr(&x->key));
}

static void walk(struct walker *x, size_t i, const struct keynorm *parent);

static void walk_object(struct walker *x, size_t obj, const struct keynorm *parent)
{
    const struct json_tape *t = x->t;
    size_t end = json_tape_skip(t, obj);
    jw_object_begin(&x->w);
    /* members: the key at k, its value at k + 1 */
    for (size_t k = obj + 1; k < end; k = json_tape_skip(t, k + 1)) {
        struct str ks = json_tape_str(t, k);
        if (redact_string_has_secret(ks)) {
            count(x->counts, REDACT_TOKEN_KEY);
            continue;
        }
        struct keynorm kn;
        key_normalize(ks, &kn);
        enum json_type type = json_tape_type(t, k + 1);
        /* the sibling lookup is a scan of the object: only for "html" strings */
        bool markup = type == JSON_STRING && is_html(&kn) &&
                      json_tape_get(t, obj, STR_LIT("markup")) != JSON_TAPE_NONE;
        switch (classify(&kn, type, parent, markup)) {
        case REDACT_DROP:
            count(x->counts, REDACT_SOURCE_CONTENT);
            break;
        case REDACT_MASK_VALUE:
            emit_key(x, ks);
            if (type == JSON_TRUE || type == JSON_FALSE || type == JSON_NULL) {
                walk(x, k + 1, &kn);
            } else {
                jw_cstring(&x->w, REDACT_MASK);
                count(x->counts, REDACT_SECRET_KEY);
            }
            break;
        case REDACT_KEEP:
            emit_key(x, ks);
            walk(x, k + 1, &kn);
            break;
        }
    }
    jw_object_end(&x->w);
}

/* parent: the normalized name of the member whose value token i is (NULL in arrays and at the
 * root). */
static void walk(struct walker *x, size_t i, const struct keynorm *parent)
{
    if (x->err != ERR_OK || x->w.err != ERR_OK)
        return;
    const struct json_tape *t = x->t;
    switch (json_tape_type(t, i)) {
    case JSON_OBJECT:
        walk_object(x, i, parent);
        break;
    case JSON_ARRAY:
        jw_array_begin(&x->w);
        for (size_t c = i + 1; c < json_tape_skip(t, i); c = json_tape_skip(t, c))
            walk(x, c, NULL);
        jw_array_end(&x->w);
        break;
    case JSON_STRING:
        emit_string(x, json_tape_str(t, i));
        break;
    case JSON_NUMBER:
        jw_double(&x->w, json_tape_number(t, i));
        break;
    case JSON_TRUE:
        jw_bool(&x->w, true);
        break;
    case JSON_FALSE:
        jw_bool(&x->w, false);
        break;
    default:
        jw_null(&x->w);
        break;
    }
}

enum err redact_json(const char *body, size_t len, struct buf *out, struct redact_counts *counts,
                     struct json_error *e)
{
    if (counts)
        memset(counts, 0, sizeof(*counts));
    size_t start = out->len;
    struct json_tape t;
    json_tape_init(&t);
    enum err r = json_tape_parse(&t, body, len, &INGEST_JSON_LIMITS, e);
    if (r == ERR_OK) {
        struct walker x = {.t = &t, .counts = counts, .err = ERR_OK};
        buf_init(&x.scratch, REDACT_MAX_OUTPUT);
        buf_init(&x.key, REDACT_MAX_OUTPUT);
        jw_init(&x.w, out);
        walk(&x, 0, NULL);
        r = x.err != ERR_OK ? x.err : jw_finish(&x.w);
        buf_release(&x.scratch);
        buf_release(&x.key);
    }
    json_tape_release(&t);
    if (r != ERR_OK) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return r;
}
