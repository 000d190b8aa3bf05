/*
 * normalize.c — helpers shared by the provider normalizers: times, bots and
 * globs. The provider files (normalize_<provider>.c) hold the event mapping.
 */
#include "ingest/normalize.h"

#include <string.h>

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at s->ptr[*i]; false if any is not a digit. */
static bool digits(struct str s, size_t *i, size_t n, unsigned *out)
{
    unsigned v = 0;
    if (*i + n > s.len)
        return false;
    for (size_t k = 0; k < n; k++) {
        char c = s.ptr[*i + k];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *i += n;
    *out = v;
    return true;
}

static bool expect(struct str s, size_t *i, char c)
{
    if (*i >= s.len || s.ptr[*i] != c)
        return false;
    (*i)++;
    return true;
}

static const unsigned char days_in_month[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

bool ingest_parse_time(struct str s, int64_t *out)
{
    size_t i = 0;
    unsigned y, mo, d, h = 0, mi = 0, sec = 0;
    if (!s.ptr || !digits(s, &i, 4, &y) || !expect(s, &i, '-') || !digits(s, &i, 2, &mo) ||
        !expect(s, &i, '-') || !digits(s, &i, 2, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month[mo - 1] || y < 1970)
        return false;
    int64_t offset = 0;
    if (i < s.len) {
        if (s.ptr[i] != 'T' && s.ptr[i] != 't' && s.ptr[i] != ' ')
            return false;
        i++;
        if (!digits(s, &i, 2, &h) || !expect(s, &i, ':') || !digits(s, &i, 2, &mi))
            return false;
        if (i < s.len && s.ptr[i] == ':' && (i++, !digits(s, &i, 2, &sec)))
            return false;
        if (h > 23 || mi > 59 || sec > 60)
            return false;
        if (i < s.len && (s.ptr[i] == '.' || s.ptr[i] == ',')) {
            size_t start = ++i;
            while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9' && i - start < 12)
                i++;
            if (i == start)
                return false;
        }
        if (i < s.len && (s.ptr[i] == 'Z' || s.ptr[i] == 'z')) {
            i++;
        } else if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-')) {
            int sign = s.ptr[i] == '-' ? -1 : 1;
            unsigned oh, om = 0;
            i++;
            if (!digits(s, &i, 2, &oh))
                return false;
            if (i < s.len && s.ptr[i] == ':')
                i++;
            if (i < s.len && !digits(s, &i, 2, &om))
                return false;
            if (oh > 23 || om > 59)
                return false;
            offset = sign * (int64_t)(oh * 3600 + om * 60);
        } else if (i < s.len && s.ptr[i] == ' ') {
            /* GitLab's "2015-05-17 18:08:09 UTC" */
            i++;
            if (!(s.len - i == 3 && memcmp(s.ptr + i, "UTC", 3) == 0))
                return false;
            i = s.len;
        }
    }
    if (i != s.len)
        return false;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    *out = days_from_civil(y, mo, d) * 86400 + (int64_t)(h * 3600 + mi * 60 + sec) - offset;
    return true;
}

/* Lower-case ASCII; other bytes unchanged. */
static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * Iterative glob with single-star backtracking: on a mismatch after a `*`,
 * retry one byte further from the last star. At most O(len(p) * len(s)) steps,
 * and both are capped by their callers' limits.
 */
bool ingest_glob_match(struct str p, struct str s)
{
    size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;
    if (!p.ptr || !s.ptr)
        return false;
    while (si < s.len) {
        if (pi < p.len && (p.ptr[pi] == '?' || lower(p.ptr[pi]) == lower(s.ptr[si]))) {
            pi++;
            si++;
        } else if (pi < p.len && p.ptr[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < p.len && p.ptr[pi] == '*')
        pi++;
    return pi == p.len;
}

/* Bots every tenant gets, matched against login and name. */
static const char *const builtin_bots[] = {
    "*[bot]",         /* GitHub Apps: dependabot[bot], renovate[bot], github-actions[bot] */
    "dependabot*",    /* Dependabot on every provider */
    "renovate*",      /* Renovate (self-hosted accounts are often "renovate-bot") */
    "*-bot",          /* common naming of service accounts */
    "project_*_bot*", /* GitLab project access tokens' users */
    "group_*_bot*",   /* GitLab group access tokens' users */
};

static bool matches_any(struct str v, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ingest_glob_match(str_from_cstr(list[i]), v))
            return true;
    return false;
}

bool ingest_is_bot(struct str login, struct str name, const struct ingest_norm_options *opt)
{
    size_t n_builtin = sizeof builtin_bots / sizeof builtin_bots[0];
    if ((login.ptr && matches_any(login, builtin_bots, n_builtin)) ||
        (name.ptr && matches_any(name, builtin_bots, n_builtin)))
        return true;
    if (!opt)
        return false;
    for (size_t i = 0; i < opt->n_bot_patterns && i < INGEST_MAX_BOT_PATTERNS; i++) {
        struct str p = opt->bot_patterns[i];
        if (p.len == 0 || p.len > INGEST_MAX_BOT_PATTERN)
            continue;
        if ((login.ptr && ingest_glob_match(p, login)) || (name.ptr && ingest_glob_match(p, name)))
            return true;
    }
    return false;
}
