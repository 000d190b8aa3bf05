/*
 * log — JSON lines with redaction built in (O1).
 *
 * Two defences, both applied here so no caller can forget them:
 *  - fields whose *name* suggests a secret or personal datum are dropped;
 *  - every string value (msg included) is scanned for token-shaped text, which
 *    is replaced by "[masked]". The scanner works on "words" (runs of base64 /
 *    base64url characters) plus a few position rules (PEM blocks, URL
 *    passwords, "Bearer x"), and is tuned to leave ordinary text alone: URL
 *    paths, canonical UUIDs and 32-hex request ids pass through unchanged.
 *
 * A line is built in a local buffer capped at LOG_MAX_LINE and written with a
 * single write(2). Values are masked before they are cut, so a cut can never
 * expose the tail of a token that the full value would have masked.
 */
#include "core/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "core/str.h"

#define LOG_MASK         "[masked]"
#define LOG_TRUNC_SUFFIX ",\"truncated\":true}"
/* Bytes of one value that are scanned; the rest could never fit in a line. */
#define LOG_SCAN_WINDOW ((size_t)2 * LOG_MAX_LINE)
#define LOG_MAX_KEY     128
/* Shortest word treated as a high-entropy token. */
#define LOG_MIN_ENTROPY_WORD 40
/* Shortest tail after a known token prefix. */
#define LOG_MIN_PREFIX_TAIL 16

static atomic_int log_min_level = LOG_INFO;
static atomic_int log_fd = STDERR_FILENO;

void log_init(enum log_level min, int fd)
{
    atomic_store(&log_min_level, (int)min);
    atomic_store(&log_fd, fd);
}

enum log_level log_level_min(void)
{
    return (enum log_level)atomic_load(&log_min_level);
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

bool log_level_parse(const char *s, enum log_level *out)
{
    if (!s)
        return false;
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

/* ---- sensitive field names ---------------------------------------------------- */

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static char to_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool log_key_is_sensitive(const char *key)
{
    /* matched anywhere in the lower-cased name */
    static const char *const substrings[] = {
        "pass",      "secret",     "token",      "authoriz",    "cookie",     "apikey",
        "api_key",   "api-key",    "credential", "private_key", "privatekey", "private-key",
        "session",   "signature",  "email",      "e-mail",      "pepper",     "master_key",
        "masterkey", "master-key", "bearer",     "jwt",         "csrf",       "xsrf",
        "pwd",       "passphrase", "mnemonic",   "seed_phrase",
    };
    /* matched as a whole word (split on non-alphanumerics) */
    static const char *const words[] = {"otp", "totp", "key",   "auth", "sig",  "pin", "mail",
                                        "dsn", "cred", "creds", "hmac", "salt", "mfa"};
    if (!key)
        return true;
    char low[LOG_MAX_KEY + 1];
    size_t n = 0;
    for (; key[n] && n < LOG_MAX_KEY; n++)
        low[n] = to_lower(key[n]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof(substrings) / sizeof(substrings[0]); i++)
        if (strstr(low, substrings[i]))
            return true;
    for (size_t i = 0; i < n;) {
        while (i < n && !is_alnum(low[i]))
            i++;
        size_t j = i;
        while (j < n && is_alnum(low[j]))
            j++;
        for (size_t k = 0; k < sizeof(words) / sizeof(words[0]) && j > i; k++)
            if (strlen(words[k]) == j - i && memcmp(low + i, words[k], j - i) == 0)
                return true;
        i = j;
    }
    return false;
}

/* ---- token masking ---------------------------------------------------------- */

/* Characters of base64, base64url and hex words ('=' only as trailing padding). */
static bool is_word_char(char c)
{
    return is_alnum(c) || c == '+' || c == '/' || c == '_' || c == '-';
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

static bool has_iprefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    if (len < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (to_lower(s[i]) != prefix[i])
            return false;
    return true;
}

/* Offset of needle in s[0..len), or len when absent. */
static size_t find(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp(s + i, needle, n) == 0)
            return i;
    return len;
}

/* A PEM private key block at s: its length (to the end of the text when unterminated). */
static size_t match_pem(const char *s, size_t len)
{
    if (!has_prefix(s, len, "-----BEGIN "))
        return 0;
    size_t hdr_end = find(s + 11, len - 11, "-----");
    if (hdr_end == len - 11)
        return 0;
    if (find(s + 11, hdr_end, "PRIVATE KEY") == hdr_end)
        return 0;
    size_t body = 11 + hdr_end + 5;
    size_t end = find(s + body, len - body, "-----END ");
    if (end == len - body)
        return len;
    size_t tail = body + end + 9;
    size_t close = find(s + tail, len - tail, "-----");
    return close == len - tail ? len : tail + close + 5;
}

/*
 * "://user:password@" at s (s points at "://"): sets *keep to the bytes kept
 * before the password and returns the offset of the '@', or 0.
 */
static size_t match_url_password(const char *s, size_t len, size_t *keep)
{
    if (!has_prefix(s, len, "://"))
        return 0;
    size_t j = 3, at = 0, colon = 0;
    for (; j < len; j++) {
        char c = s[j];
        if (c == '/' || c == '?' || c == '#' || is_space(c) || c == '"' || c == '\'' || c == '<' ||
            c == '>')
            break;
        if (c == '@')
            at = j;
    }
    if (!at)
        return 0;
    for (size_t k = 3; k < at; k++) {
        if (s[k] == ':') {
            colon = k;
            break;
        }
    }
    if (!colon || colon + 1 >= at)
        return 0;
    *keep = colon + 1;
    return at;
}

/* Looks like a credential rather than a word of prose. */
static bool credential_like(const char *s, size_t n)
{
    if (n < 8)
        return false;
    bool lower = false, upper_after_first = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || strchr("+/=._~-", c))
            return true;
        if (c >= 'a' && c <= 'z')
            lower = true;
        if (i > 0 && c >= 'A' && c <= 'Z')
            upper_after_first = true;
    }
    return n >= 20 || (lower && upper_after_first);
}

/* End of a value after "Bearer " / "password=": up to a delimiter. */
static size_t value_end(const char *s, size_t len, size_t i)
{
    while (i < len && !is_space(s[i]) && !strchr("\"'&,;)]}<>", s[i]))
        i++;
    return i;
}

/* A JWT (three base64url segments, the first starting "eyJ") at s: its length or 0. */
static size_t match_jwt(const char *s, size_t len)
{
    if (!has_prefix(s, len, "eyJ"))
        return 0;
    size_t i = 0, dots = 0, seg = 0, first = 0;
    for (; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (dots == 0)
                first = seg;
            else if (seg == 0)
                return 0;
            dots++;
            seg = 0;
            if (dots > 2)
                break;
            continue;
        }
        if (!is_alnum(c) && c != '_' && c != '-' && c != '=')
            break;
        seg++;
    }
    if (dots < 2 || first < 10)
        return 0;
    return i; /* a third dot is not part of the token */
}

/* Word w starts with a known token prefix followed by a long tail. */
static bool match_prefix_token(const char *w, size_t n)
{
    static const char *const prefixes[] = {
        "github_pat_", "ghp_",  "gho_",     "ghu_",     "ghs_",     "ghr_",     "glpat-",
        "gldt-",       "glrt-", "xoxb-",    "xoxp-",    "xoxa-",    "xoxr-",    "xapp-",
        "AKIA",        "ASIA",  "sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_",
        "sk-ant-",     "sk-",   "pk_live_", "shk_", /* shiplog API keys: shk_<tenant uuid>.<43
                                                       base64url> (auth/auth.h) */
        "shr_", /* shiplog refresh tokens, shaped like API keys (auth/tokens.h) */
    };
    for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
        size_t pl = strlen(prefixes[k]);
        if (!has_prefix(w, n, prefixes[k]))
            continue;
        size_t tail = 0;
        bool strong = false;
        for (size_t i = pl; i < n && (is_alnum(w[i]) || w[i] == '_' || w[i] == '-' || w[i] == '.');
             i++) {
            tail++;
            if ((w[i] >= '0' && w[i] <= '9') || (w[i] >= 'A' && w[i] <= 'Z'))
                strong = true;
        }
        if (tail >= LOG_MIN_PREFIX_TAIL && strong)
            return true;
    }
    return false;
}

static bool is_uuid_at(const char *s, size_t len)
{
    if (len < 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!is_hex(s[i])) {
            return false;
        }
    }
    return true;
}

/* A piece of a word (no '/', no UUID) that looks like a random token. */
static bool high_entropy(const char *s, size_t n)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n < LOG_MIN_ENTROPY_WORD)
        return false;
    bool letter = false, digit = false;
    size_t run = 0, longest = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            digit = true;
        else if (is_alnum(c))
            letter = true;
        if (c == '-' || c == '_') {
            run = 0;
        } else if (++run > longest) {
            longest = run;
        }
    }
    /* hyphenated names of short parts (dates, versions) are not tokens */
    return letter && digit && longest >= 12;
}

static enum err put_piece(struct buf *out, const char *s, size_t n)
{
    size_t start = 0;
    enum err e = ERR_OK;
    for (size_t i = 0; i < n && !e;) {
        if ((i == 0 || !is_hex(s[i - 1])) && is_uuid_at(s + i, n - i) &&
            (i + 36 == n || !is_hex(s[i + 36]))) {
            if (i > start)
                e = high_entropy(s + start, i - start) ? buf_puts(out, LOG_MASK)
                                                       : buf_append(out, s + start, i - start);
            if (!e)
                e = buf_append(out, s + i, 36);
            i += 36;
            start = i;
        } else {
            i++;
        }
    }
    if (!e && n > start)
        e = high_entropy(s + start, n - start) ? buf_puts(out, LOG_MASK)
                                               : buf_append(out, s + start, n - start);
    return e;
}

/* One word: masked whole when it is a slash-containing base64 blob, else per '/' piece. */
static enum err put_word(struct buf *out, const char *w, size_t n)
{
    if (match_prefix_token(w, n))
        return buf_puts(out, LOG_MASK);
    bool slash = memchr(w, '/', n) != NULL;
    if (slash && w[0] != '/' && find(w, n, "//") == n && n >= LOG_MIN_ENTROPY_WORD) {
        bool lo = false, up = false, dg = false;
        for (size_t i = 0; i < n; i++) {
            lo |= w[i] >= 'a' && w[i] <= 'z';
            up |= w[i] >= 'A' && w[i] <= 'Z';
            dg |= w[i] >= '0' && w[i] <= '9';
        }
        if (lo && up && dg)
            return buf_puts(out, LOG_MASK);
    }
    enum err e = ERR_OK;
    size_t start = 0;
    for (size_t i = 0; i <= n && !e; i++) {
        if (i == n || w[i] == '/') {
            e = put_piece(out, w + start, i - start);
            if (!e && i < n)
                e = buf_putc(out, '/');
            start = i + 1;
        }
    }
    return e;
}

enum err log_mask_value(struct buf *out, const char *s, size_t len)
{
    enum err e = ERR_OK;
    size_t lit = 0; /* start of bytes not yet copied */
    size_t i = 0;
#define FLUSH_TO(pos_)                                                                             \
    do {                                                                                           \
        if ((pos_) > lit && (e = buf_append(out, s + lit, (pos_)-lit)) != ERR_OK)                  \
            return e;                                                                              \
    } while (0)
    while (i < len) {
        size_t n, keep = 0;
        if ((n = match_pem(s + i, len - i)) != 0) {
            FLUSH_TO(i);
            if ((e = buf_puts(out, LOG_MASK)) != ERR_OK)
                return e;
            i += n;
            lit = i;
            continue;
        }
        if ((n = match_url_password(s + i, len - i, &keep)) != 0) {
            FLUSH_TO(i + keep);
            if ((e = buf_puts(out, LOG_MASK)) != ERR_OK)
                return e;
            i += n;
            lit = i;
            continue;
        }
        if (!is_word_char(s[i])) {
            i++;
            continue;
        }
        if ((n = match_jwt(s + i, len - i)) != 0) {
            FLUSH_TO(i);
            if ((e = buf_puts(out, LOG_MASK)) != ERR_OK)
                return e;
            i += n;
            lit = i;
            continue;
        }
        size_t w = i;
        while (w < len && is_word_char(s[w]))
            w++;
        size_t wend = w;
        /* trailing base64 padding belongs to the word ("key='v'" is an assignment) */
        while (wend < len && s[wend] == '=' && wend - w < 2 &&
               (wend + 1 == len ||
                (!is_word_char(s[wend + 1]) && s[wend + 1] != '\'' && s[wend + 1] != '"')))
            wend++;
        size_t wlen = wend - i;
        FLUSH_TO(i);
        if ((e = put_word(out, s + i, wlen)) != ERR_OK)
            return e;
        i = wend;
        lit = i;

        /* "Bearer x" / "Basic x": mask the credential after the scheme */
        bool scheme = (wlen == 6 && has_iprefix(s + i - wlen, wlen, "bearer")) ||
                      (wlen == 5 && has_iprefix(s + i - wlen, wlen, "basic"));
        if (scheme && i < len && (s[i] == ' ' || s[i] == '\t')) {
            size_t t = i;
            while (t < len && (s[t] == ' ' || s[t] == '\t'))
                t++;
            size_t end = value_end(s, len, t);
            if (credential_like(s + t, end - t)) {
                FLUSH_TO(t);
                if ((e = buf_puts(out, LOG_MASK)) != ERR_OK)
                    return e;
                i = end;
                lit = i;
            }
            continue;
        }
        /* A secret-named key's value: "password=x", "token:x", "Password: x",
         * password='x', and JSON "password":"x". */
        size_t sep = i;
        while (sep < len && (s[sep] == ' ' || s[sep] == '\t'))
            sep++;
        if (sep >= len || s[sep] != '=')
            sep = i; /* spaces are allowed before '=' only ("key = value") */
        if (sep + 1 < len && (s[sep] == '"' || s[sep] == '\'') &&
            (s[sep + 1] == ':' || s[sep + 1] == '='))
            sep++; /* the key was quoted */
        if (sep < len &&
            (s[sep] == '=' || (s[sep] == ':' && !(sep + 1 < len && s[sep + 1] == '/')))) {
            char key[LOG_MAX_KEY + 1];
            size_t kl = wlen < LOG_MAX_KEY ? wlen : LOG_MAX_KEY;
            memcpy(key, s + i - wlen, kl);
            key[kl] = '\0';
            size_t v = sep + 1;
            bool spaced = false;
            while (v < len && (s[v] == ' ' || s[v] == '\t')) {
                v++;
                spaced = true;
            }
            if (v < len && (s[v] == '"' || s[v] == '\''))
                v++; /* the value is quoted: mask what is inside */
            size_t end = value_end(s, len, v);
            /* "authorization:Bearer x": the credential follows the scheme */
            if ((end - v == 6 && has_iprefix(s + v, 6, "bearer")) ||
                (end - v == 5 && has_iprefix(s + v, 5, "basic")) ||
                (end - v == 5 && has_iprefix(s + v, 5, "token"))) {
                size_t t = end;
                while (t < len && (s[t] == ' ' || s[t] == '\t'))
                    t++;
                if (t > end) {
                    v = t; /* keep the scheme visible, mask the credential */
                    end = value_end(s, len, t);
                }
            }
            /* "key: value" is also prose ("session: started"): masked when the
             * key names a password or secret, or the value looks like one */
            bool prose_ok = !spaced || s[sep] != ':' || credential_like(s + v, end - v) ||
                            strstr(key, "pass") || strstr(key, "Pass") || strstr(key, "PASS") ||
                            strstr(key, "secret") || strstr(key, "Secret") || strstr(key, "SECRET");
            if (end > v && prose_ok && log_key_is_sensitive(key)) {
                FLUSH_TO(v);
                if ((e = buf_puts(out, LOG_MASK)) != ERR_OK)
                    return e;
                i = end;
                lit = i;
            }
        }
    }
    FLUSH_TO(len);
#undef FLUSH_TO
    return ERR_OK;
}

/* ---- line formatting ---------------------------------------------------------- */

/* Masks s (at most the scan window) into m; on failure m holds a placeholder. */
static void mask_for_line(struct buf *m, const char *s, bool *cut)
{
    size_t len = strlen(s);
    if (len > LOG_SCAN_WINDOW) {
        /* cut at a space, never inside a word: a token straddling the window
         * would otherwise be scanned, and shown, by halves */
        len = LOG_SCAN_WINDOW;
        while (len > 0 && !is_space(s[len - 1]))
            len--;
        *cut = true;
    }
    if (log_mask_value(m, s, len) != ERR_OK) {
        buf_reset(m);
        if (buf_puts(m, LOG_MASK) != ERR_OK)
            buf_reset(m);
    }
}

static bool reserved_key(const char *k)
{
    return strcmp(k, "ts") == 0 || strcmp(k, "level") == 0 || strcmp(k, "msg") == 0 ||
           strcmp(k, "truncated") == 0;
}

/* ,"key": into line; false when it does not fit with room for a value of min bytes. */
static bool put_key(struct buf *line, size_t budget, const char *key, size_t min)
{
    struct buf k = BUF_INIT(LOG_MAX_KEY * 6 + 8);
    bool ok = false;
    char name[LOG_MAX_KEY + 2];
    snprintf(name, sizeof(name), "%s%.*s", reserved_key(key) ? "_" : "", LOG_MAX_KEY, key);
    if (buf_putc(&k, ',') == ERR_OK && json_escape_to(&k, str_from_cstr(name)) == ERR_OK &&
        buf_putc(&k, ':') == ERR_OK && line->len + k.len + min <= budget)
        ok = buf_append(line, k.data, k.len) == ERR_OK;
    buf_release(&k);
    return ok;
}

/* Masked, escaped string value cut to fit the budget; false when it had to be cut. */
static bool put_string(struct buf *line, size_t budget, const char *s)
{
    struct buf m = BUF_INIT(LOG_SCAN_WINDOW * 8 + 64);
    bool cut = false, cut2 = false;
    mask_for_line(&m, s, &cut);
    enum err e = json_escape_to_max(line, str_from(buf_cstr(&m), m.len), budget - line->len, &cut2);
    buf_release(&m);
    return e == ERR_OK && !cut && !cut2;
}

static void format_ts(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%s.%03ldZ", base, ts.tv_nsec / 1000000L);
}

enum err log_format(struct buf *out, enum log_level lvl, const char *msg,
                    const struct log_field *fields)
{
    const size_t budget = LOG_MAX_LINE - (sizeof(LOG_TRUNC_SUFFIX) - 1);
    struct buf line = BUF_INIT(LOG_MAX_LINE);
    char ts[48];
    format_ts(ts, sizeof(ts));
    if ((unsigned)lvl > LOG_ERROR)
        lvl = LOG_ERROR;
    bool truncated = false;
    enum err e =
        buf_printf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level_names[lvl]);
    if (!e && !put_string(&line, budget, msg ? msg : ""))
        truncated = true;
    for (const struct log_field *f = fields; !e && !truncated && f && f->key; f++) {
        if (log_key_is_sensitive(f->key))
            continue;
        char num[32];
        const char *raw = NULL;
        if (f->type == LOG_T_INT) {
            snprintf(num, sizeof(num), "%lld", (long long)f->v.i);
            raw = num;
        } else if (f->type == LOG_T_BOOL) {
            raw = f->v.b ? "true" : "false";
        } else if (!f->v.s) {
            raw = "null";
        }
        if (!put_key(&line, budget, f->key, raw ? strlen(raw) : 2)) {
            truncated = true;
            break;
        }
        if (raw)
            e = buf_puts(&line, raw);
        else if (!put_string(&line, budget, f->v.s))
            truncated = true;
    }
    if (!e)
        e = buf_puts(&line, truncated ? LOG_TRUNC_SUFFIX : "}");
    if (!e)
        e = buf_append(out, buf_cstr(&line), line.len);
    buf_release(&line);
    return e;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void log_emit(enum log_level lvl, const char *msg, const struct log_field *fields)
{
    if ((int)lvl < atomic_load(&log_min_level))
        return;
    struct buf line = BUF_INIT(LOG_MAX_LINE + 1);
    if (log_format(&line, lvl, msg, fields) != ERR_OK || buf_putc(&line, '\n') != ERR_OK) {
        buf_reset(&line);
        if (buf_puts(&line, "{\"level\":\"error\",\"msg\":\"log line could not be formatted\"}\n"))
            buf_reset(&line);
    }
    write_all(atomic_load(&log_fd), buf_cstr(&line), line.len);
    buf_release(&line);
}
