/*
 * schema — validates a parsed body against a constant field table (H6).
 *
 * The walk never stops at the first problem: every field is checked and each
 * problem is recorded with its path, so a client fixes everything in one go.
 * Paths are built in a fixed buffer on the stack of the recursion and cut at
 * SCHEMA_MAX_PATH (at a UTF-8 boundary) when a client sends absurd keys.
 */
#include "core/schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct path {
    char buf[SCHEMA_MAX_PATH];
    size_t len;
};

static void add_error(struct schema_result *r, const struct path *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(struct schema_result *r, const struct path *p, const char *fmt, ...)
{
    if (r->n >= SCHEMA_MAX_ERRORS) {
        r->truncated = true;
        return;
    }
    struct schema_error *e = &r->errors[r->n++];
    memcpy(e->path, p->buf, p->len);
    e->path[p->len] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
    va_end(ap);
}

/* Appends text to a path, cutting at a UTF-8 character boundary when full. */
static void path_append(struct path *p, const char *text, size_t n)
{
    size_t room = sizeof(p->buf) - 1 - p->len;
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)text[n] & 0xc0u) == 0x80u)
            n--;
    }
    memcpy(p->buf + p->len, text, n);
    p->len += n;
    p->buf[p->len] = '\0';
}

static struct path path_member(const struct path *parent, const char *name)
{
    struct path p = *parent;
    if (p.len > 0)
        path_append(&p, ".", 1);
    path_append(&p, name, strlen(name));
    return p;
}

static struct path path_index(const struct path *parent, size_t i)
{
    struct path p = *parent;
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "[%zu]", i);
    if (n > 0)
        path_append(&p, tmp, (size_t)n);
    return p;
}

/* ---- formats ------------------------------------------------------------------- */

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool valid_email(struct str s)
{
    if (s.len < 3 || s.len > 254 || !str_is_printable_ascii(s))
        return false;
    long at = str_index(s, '@');
    if (at <= 0 || at > 64)
        return false;
    struct str local = str_from(s.ptr, (size_t)at);
    struct str domain = str_from(s.ptr + at + 1, s.len - (size_t)at - 1);
    for (size_t i = 0; i < local.len; i++)
        if (strchr(" \"(),:;<>@[\\]", local.ptr[i]))
            return false;
    if (domain.len < 3 || str_index(domain, '.') < 0)
        return false;
    char prev = '.';
    for (size_t i = 0; i < domain.len; i++) {
        char c = domain.ptr[i];
        if (!is_alnum(c) && c != '.' && c != '-')
            return false;
        if (c == '.' && (prev == '.' || prev == '-'))
            return false;
        if (c == '-' && prev == '.')
            return false;
        prev = c;
    }
    return prev != '.' && prev != '-';
}

static bool valid_url(struct str s)
{
    struct str rest;
    if (!str_cut_http_scheme(s, false, &rest))
        return false;
    if (s.len > 2048)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c <= 0x20 || c == 0x7f)
            return false;
    }
    /* a host must follow the scheme */
    return rest.len > 0 && rest.ptr[0] != '/' && rest.ptr[0] != '?' && rest.ptr[0] != '#' &&
           rest.ptr[0] != '@' && rest.ptr[0] != ':';
}

static bool valid_slug(struct str s)
{
    if (s.len == 0 || s.ptr[0] == '-' || s.ptr[s.len - 1] == '-')
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!is_lower_alnum(s.ptr[i]) && s.ptr[i] != '-')
            return false;
    return true;
}

static bool check_format(enum schema_format f, struct str s, const char **what)
{
    switch (f) {
    case SCHEMA_FMT_EMAIL:
        *what = "an email address";
        return valid_email(s);
    case SCHEMA_FMT_URL:
        *what = "an http(s) URL";
        return valid_url(s);
    case SCHEMA_FMT_UUID:
        *what = "a UUID";
        return str_is_uuid(s);
    case SCHEMA_FMT_SLUG:
        *what = "a slug";
        return valid_slug(s);
    case SCHEMA_FMT_NONE:
    default:
        return true;
    }
}

/* "must be one of: a, b, c" cut to fit with "..." */
static void enum_error(struct schema_result *r, const struct path *p, const char *const *values)
{
    char msg[sizeof(r->errors[0].reason)];
    size_t len = (size_t)snprintf(msg, sizeof(msg), "must be one of: ");
    for (size_t i = 0; values[i]; i++) {
        size_t need = strlen(values[i]) + (i ? 2 : 0);
        size_t reserve = values[i + 1] ? 6 : 1; /* room for ", ..." unless last */
        if (len + need + reserve > sizeof(msg)) {
            snprintf(msg + len, sizeof(msg) - len, "%s...", i ? ", " : "");
            len = sizeof(msg);
            break;
        }
        len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s%s", i ? ", " : "", values[i]);
    }
    add_error(r, p, "%s", msg);
}

/* ---- validation ---------------------------------------------------------------- */

static void validate_object(const struct schema *s, const struct json *obj, const struct path *p,
                            struct schema_result *r);

static void validate_string(const struct schema_field *f, const struct json *v,
                            const struct path *p, struct schema_result *r)
{
    struct str s;
    if (!json_as_str(v, &s)) {
        add_error(r, p, "must be a string");
        return;
    }
    size_t cps;
    if (!json_utf8_valid(s, &cps)) {
        add_error(r, p, "must be valid UTF-8");
        return;
    }
    if (cps < f->min_len) {
        add_error(r, p, "too short (min %zu)", f->min_len);
        return;
    }
    if (f->max_len && cps > f->max_len) {
        add_error(r, p, "too long (max %zu)", f->max_len);
        return;
    }
    if (f->enum_values) {
        bool found = false;
        for (size_t i = 0; f->enum_values[i] && !found; i++)
            found = str_eq_cstr(s, f->enum_values[i]);
        if (!found) {
            enum_error(r, p, f->enum_values);
            return;
        }
    }
    const char *what = "";
    if (!check_format(f->format, s, &what))
        add_error(r, p, "must be %s", what);
}

static void validate_integer(const struct schema_field *f, const struct json *v,
                             const struct path *p, struct schema_result *r)
{
    int64_t n;
    if (!json_as_i64(v, &n)) {
        add_error(r, p, "must be an integer");
        return;
    }
    if (f->min == 0 && f->max == 0)
        return;
    if (n < f->min)
        add_error(r, p, "must be >= %lld", (long long)f->min);
    else if (n > f->max)
        add_error(r, p, "must be <= %lld", (long long)f->max);
}

/* One value of the given kind; f supplies the constraints. */
static void validate_value(const struct schema_field *f, enum schema_kind kind,
                           const struct json *v, const struct path *p, struct schema_result *r);

static void validate_array(const struct schema_field *f, const struct json *v, const struct path *p,
                           struct schema_result *r)
{
    if (json_type_of(v) != JSON_ARRAY) {
        add_error(r, p, "must be an array");
        return;
    }
    size_t n = json_count(v);
    if (n < f->min_len) {
        add_error(r, p, "too few items (min %zu)", f->min_len);
        return;
    }
    if (f->max_len && n > f->max_len) {
        add_error(r, p, "too many items (max %zu)", f->max_len);
        return;
    }
    size_t i = 0;
    for (const struct json *e = json_first(v); e; e = json_next(e), i++) {
        struct path ip = path_index(p, i);
        if (json_type_of(e) == JSON_NULL) {
            if (!f->nullable)
                add_error(r, &ip, "must not be null");
            continue;
        }
        if (f->items == SCHEMA_ARRAY) {
            /* nested arrays carry no constraints of their own */
            if (json_type_of(e) != JSON_ARRAY)
                add_error(r, &ip, "must be an array");
            continue;
        }
        /* element strings have no length limit of their own beyond the parser's */
        struct schema_field ef = *f;
        ef.min_len = 0;
        ef.max_len = 0;
        validate_value(&ef, f->items, e, &ip, r);
    }
}

static void validate_value(const struct schema_field *f, enum schema_kind kind,
                           const struct json *v, const struct path *p, struct schema_result *r)
{
    switch (kind) {
    case SCHEMA_STRING:
        validate_string(f, v, p, r);
        break;
    case SCHEMA_INTEGER:
        validate_integer(f, v, p, r);
        break;
    case SCHEMA_BOOLEAN: {
        bool b;
        if (!json_as_bool(v, &b))
            add_error(r, p, "must be a boolean");
        break;
    }
    case SCHEMA_OBJECT:
        if (json_type_of(v) != JSON_OBJECT)
            add_error(r, p, "must be an object");
        else if (f->object)
            validate_object(f->object, v, p, r);
        break;
    case SCHEMA_ARRAY:
        validate_array(f, v, p, r);
        break;
    case SCHEMA_ANY:
    default:
        break;
    }
}

static const struct schema_field *find_field(const struct schema *s, const char *name)
{
    for (size_t i = 0; i < s->n_fields; i++)
        if (strcmp(s->fields[i].name, name) == 0)
            return &s->fields[i];
    return NULL;
}

static void validate_object(const struct schema *s, const struct json *obj, const struct path *p,
                            struct schema_result *r)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const struct schema_field *f = &s->fields[i];
        const struct json *v = json_get(obj, f->name);
        struct path fp = path_member(p, f->name);
        if (!v) {
            if (f->required)
                add_error(r, &fp, "is required");
            continue;
        }
        if (json_type_of(v) == JSON_NULL) {
            if (!f->nullable)
                add_error(r, &fp, "must not be null");
            continue;
        }
        validate_value(f, f->kind, v, &fp, r);
    }
    if (s->allow_unknown)
        return;
    for (const struct json *m = json_first(obj); m; m = json_next(m)) {
        const char *key = json_key(m);
        if (key && !find_field(s, key)) {
            struct path up = path_member(p, key);
            add_error(r, &up, "unknown field");
        }
    }
}

enum err schema_validate(const struct schema *s, const struct json *doc, struct schema_result *r)
{
    memset(r, 0, sizeof(*r));
    struct path root = {.len = 0};
    if (json_type_of(doc) != JSON_OBJECT)
        add_error(r, &root, "must be an object");
    else
        validate_object(s, doc, &root, r);
    return r->n ? ERR_INVALID : ERR_OK;
}
