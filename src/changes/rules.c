/*
 * rules — classification rules from and to JSON (see rules.h).
 *
 * Design: json_parse under limits wide enough to name the member at fault
 * (a list one entry too long is refused here, with its name, not by the
 * parser); each list is read into arena memory; the result points only into
 * the arena, never into the parsed document, which is freed before return.
 */
#include "changes/rules.h"

#include <stdio.h>
#include <string.h>

#include "changes/conventional.h"
#include "core/json.h"

static const struct json_limits RULES_JSON_LIMITS = {
    .max_bytes = RULES_MAX_JSON,
    .max_depth = 4,
    .max_string = 4 * RULES_MAX_MATCH, /* longer strings are refused below, by name */
    .max_members = 4 * RULES_MAX_ENTRIES,
};

static enum err problem(struct rules_problem *why, enum err e, const char *field,
                        const char *message)
{
    if (why) {
        snprintf(why->field, sizeof why->field, "%s", field);
        snprintf(why->message, sizeof why->message, "%s", message);
    }
    return e;
}

/*
 * A label or pattern: 1..RULES_MAX_MATCH bytes, no control characters, no
 * space at either end (labels are compared trimmed); copied into a.
 */
static enum err text(struct str s, struct arena *a, const char *field, struct rules_problem *why,
                     const char **out)
{
    if (s.len == 0)
        return problem(why, ERR_INVALID, field, "must not be empty");
    if (s.len > RULES_MAX_MATCH)
        return problem(why, ERR_LIMIT, field, "too long");
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] < 0x20 || s.ptr[i] == 0x7f)
            return problem(why, ERR_INVALID, field, "has a control character");
    if (s.ptr[0] == ' ' || s.ptr[s.len - 1] == ' ')
        return problem(why, ERR_INVALID, field, "starts or ends with a space");
    *out = arena_strndup(a, s.ptr, s.len);
    return *out ? ERR_OK : problem(why, ERR_LIMIT, field, "out of memory for the rules");
}

static enum err text_value(const struct json *n, struct arena *a, const char *field,
                           struct rules_problem *why, const char **out)
{
    struct str s;
    if (!json_as_str(n, &s))
        return problem(why, ERR_INVALID, field, "must be a string");
    return text(s, a, field, why, out);
}

static enum err impact(const struct json *n, const char *field, struct rules_problem *why,
                       enum change_impact *out)
{
    struct str s;
    if (!json_as_str(n, &s) || !change_impact_parse(s, out))
        return problem(why, ERR_INVALID, field,
                       "must be one of breaking, security, feature, improvement, fix, "
                       "performance, internal");
    return ERR_OK;
}

/* A list's size, checked: n entries of an object or array named field. */
static enum err sized(const struct json *n, enum json_type want, const char *field,
                      struct rules_problem *why, size_t *count)
{
    if (json_type_of(n) != want)
        return problem(why, ERR_INVALID, field,
                       want == JSON_OBJECT ? "must be an object" : "must be an array");
    *count = json_count(n);
    if (*count > RULES_MAX_ENTRIES)
        return problem(why, ERR_LIMIT, field, "too many entries");
    return ERR_OK;
}

/* {"name": "impact", ...} into rules; types are checked as Conventional Commit types. */
static enum err read_map(const struct json *n, const char *field, bool types, struct arena *a,
                         struct rules_problem *why, const struct classify_rule **out, size_t *n_out)
{
    size_t count = 0;
    enum err e = sized(n, JSON_OBJECT, field, why, &count);
    struct classify_rule *r = e ? NULL : arena_calloc(a, count + 1, sizeof *r);
    if (!e && !r)
        return problem(why, ERR_LIMIT, field, "out of memory for the rules");
    size_t i = 0;
    for (const struct json *m = json_first(n); !e && m; m = json_next(m), i++) {
        char where[64];
        const char *key = json_key(m);
        snprintf(where, sizeof where, "%s.%s", field, key);
        struct str k = str_from_cstr(key);
        if (types && !cc_is_type(k))
            e = problem(why, ERR_INVALID, where, "is not a Conventional Commits type");
        if (!e)
            e = text(k, a, where, why, &r[i].match);
        if (!e)
            e = impact(m, where, why, &r[i].impact);
    }
    if (!e) {
        *out = r;
        *n_out = count;
    }
    return e;
}

static enum err read_titles(const struct json *n, struct arena *a, struct rules_problem *why,
                            struct classify_rules *out)
{
    size_t count = 0;
    enum err e = sized(n, JSON_ARRAY, "titles", why, &count);
    struct classify_rule *r = e ? NULL : arena_calloc(a, count + 1, sizeof *r);
    if (!e && !r)
        return problem(why, ERR_LIMIT, "titles", "out of memory for the rules");
    size_t i = 0;
    for (const struct json *el = json_first(n); !e && el; el = json_next(el), i++) {
        char where[64];
        snprintf(where, sizeof where, "titles[%zu]", i);
        if (json_type_of(el) != JSON_OBJECT || json_count(el) != 2 || !json_get(el, "match") ||
            !json_get(el, "impact"))
            e = problem(why, ERR_INVALID, where, "must be {\"match\": ..., \"impact\": ...}");
        snprintf(where, sizeof where, "titles[%zu].match", i);
        if (!e)
            e = text_value(json_get(el, "match"), a, where, why, &r[i].match);
        snprintf(where, sizeof where, "titles[%zu].impact", i);
        if (!e)
            e = impact(json_get(el, "impact"), where, why, &r[i].impact);
    }
    if (!e) {
        out->titles = r;
        out->n_titles = count;
    }
    return e;
}

static enum err read_paths(const struct json *n, struct arena *a, struct rules_problem *why,
                           struct classify_rules *out)
{
    size_t count = 0;
    enum err e = sized(n, JSON_ARRAY, "internal_paths", why, &count);
    const char **p = e ? NULL : arena_calloc(a, count + 1, sizeof *p);
    if (!e && !p)
        return problem(why, ERR_LIMIT, "internal_paths", "out of memory for the rules");
    size_t i = 0;
    for (const struct json *el = json_first(n); !e && el; el = json_next(el), i++) {
        char where[64];
        snprintf(where, sizeof where, "internal_paths[%zu]", i);
        e = text_value(el, a, where, why, &p[i]);
    }
    if (!e) {
        out->internal_paths = p;
        out->n_internal_paths = count;
    }
    return e;
}

static enum err read_doc(const struct json *doc, struct arena *a, struct rules_problem *why,
                         struct classify_rules *r)
{
    if (json_type_of(doc) != JSON_OBJECT)
        return problem(why, ERR_INVALID, "", "the rules must be a JSON object");
    enum err e = ERR_OK;
    for (const struct json *m = json_first(doc); !e && m; m = json_next(m)) {
        const char *key = json_key(m);
        if (strcmp(key, "types") == 0)
            e = read_map(m, "types", true, a, why, &r->types, &r->n_types);
        else if (strcmp(key, "labels") == 0)
            e = read_map(m, "labels", false, a, why, &r->labels, &r->n_labels);
        else if (strcmp(key, "titles") == 0)
            e = read_titles(m, a, why, r);
        else if (strcmp(key, "internal_paths") == 0)
            e = read_paths(m, a, why, r);
        else if (strcmp(key, "fallback") == 0)
            e = impact(m, "fallback", why, &r->fallback);
        else
            e = problem(why, ERR_INVALID, key, "is not a member of the rules");
    }
    return e;
}

enum err classify_rules_parse(struct str json, struct arena *a, struct classify_rules *out,
                              struct rules_problem *why)
{
    if (why)
        memset(why, 0, sizeof *why);
    if (json.len > RULES_MAX_JSON)
        return problem(why, ERR_LIMIT, "", "the rules are too long");
    struct json *doc = NULL;
    struct json_error jerr;
    enum err e = json_parse(json.ptr ? json.ptr : "", json.len, &RULES_JSON_LIMITS, &doc, &jerr);
    if (e)
        return problem(why, e == ERR_LIMIT ? ERR_LIMIT : ERR_INVALID, "", jerr.reason);
    struct classify_rules r = CLASSIFY_DEFAULT_RULES;
    e = read_doc(doc, a, why, &r);
    json_free(doc);
    if (!e)
        *out = r;
    return e;
}

static void write_map(struct jw *w, const char *key, const struct classify_rule *r, size_t n)
{
    jw_key(w, key);
    jw_object_begin(w);
    for (size_t i = 0; i < n; i++) {
        jw_key(w, r[i].match);
        jw_cstring(w, change_impact_name(r[i].impact));
    }
    jw_object_end(w);
}

enum err classify_rules_write(const struct classify_rules *r, struct buf *out)
{
    struct jw w;
    jw_init(&w, out);
    jw_object_begin(&w);
    write_map(&w, "types", r->types, r->n_types);
    write_map(&w, "labels", r->labels, r->n_labels);
    jw_key(&w, "titles");
    jw_array_begin(&w);
    for (size_t i = 0; i < r->n_titles; i++) {
        jw_object_begin(&w);
        jw_key(&w, "match");
        jw_cstring(&w, r->titles[i].match);
        jw_key(&w, "impact");
        jw_cstring(&w, change_impact_name(r->titles[i].impact));
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_key(&w, "internal_paths");
    jw_array_begin(&w);
    for (size_t i = 0; i < r->n_internal_paths; i++)
        jw_cstring(&w, r->internal_paths[i]);
    jw_array_end(&w);
    jw_key(&w, "fallback");
    jw_cstring(&w, change_impact_name(r->fallback));
    jw_object_end(&w);
    return jw_finish(&w);
}
