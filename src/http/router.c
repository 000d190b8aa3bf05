/*
 * router — linear scan over a small constant table. With tens of routes a scan
 * of pre-validated patterns is faster than building a trie and simpler to
 * trust; ROUTER_MAX_ROUTES bounds the cost.
 */
#include "http/router.h"

#include <string.h>

/* Splits the next segment off *path (which starts after a '/'). */
static bool next_segment(struct str *path, struct str *seg)
{
    if (!path->ptr)
        return false;
    return str_split(path, '/', seg);
}

/*
 * A parameter segment: "{name}", optionally followed by a literal suffix
 * ("{tenant_slug}.json"); *suffix gets the suffix (empty for none).
 */
static bool segment_param(struct str seg, struct str *name, struct str *suffix)
{
    if (seg.len < 3 || seg.ptr[0] != '{')
        return false;
    struct str inner = str_from(seg.ptr + 1, seg.len - 1);
    long close = str_index(inner, '}');
    if (close < 1)
        return false;
    *name = str_from(inner.ptr, (size_t)close);
    *suffix = str_from(inner.ptr + close + 1, inner.len - (size_t)close - 1);
    return str_index(*name, '{') < 0 && str_index(*suffix, '{') < 0 && str_index(*suffix, '}') < 0;
}

static bool segment_is_param(struct str seg)
{
    struct str name, suffix;
    return segment_param(seg, &name, &suffix);
}

/* Validates one pattern: absolute, no empty segments, well-formed {params}. */
static bool pattern_valid(const char *pattern)
{
    struct str p = str_from_cstr(pattern);
    if (p.len == 0 || p.ptr[0] != '/' || p.len > ROUTER_MAX_PATH)
        return false;
    if (p.len == 1)
        return true;
    struct str rest = str_from(p.ptr + 1, p.len - 1), seg;
    size_t n = 0, params = 0;
    while (next_segment(&rest, &seg)) {
        if (seg.len == 0 || ++n > ROUTER_MAX_SEGMENTS)
            return false;
        bool open = str_index(seg, '{') >= 0, close = str_index(seg, '}') >= 0;
        if ((open || close) && !segment_is_param(seg))
            return false;
        if (segment_is_param(seg) && ++params > HTTP_MAX_PARAMS)
            return false;
    }
    return true;
}

static bool takes_form(const struct body_spec *b)
{
    if (!b || b->json || !b->content_types)
        return false;
    for (const char *const *t = b->content_types; *t; t++)
        if (strcmp(*t, HTTP_FORM_TYPE) == 0)
            return true;
    return false;
}

static bool camel_case(const char *id)
{
    if (!id || !(id[0] >= 'a' && id[0] <= 'z'))
        return false;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            return false;
    return true;
}

/* What the API description needs from a route that is part of it, or NULL. */
static const char *undocumented(const struct route *rt)
{
    if (rt->console)
        return NULL;
    if (!camel_case(rt->operation_id))
        return "no operation_id, or not camelCase (the API description needs one)";
    if (!rt->summary || !rt->summary[0])
        return "no summary (the API description needs one)";
    const struct route_response *ok = &rt->responses[0];
    if (ok->status < 200 || ok->status > 299)
        return "no success response (responses[0] must be a 2xx, for the API description)";
    for (size_t i = 0; i < ROUTE_MAX_RESPONSES && rt->responses[i].status; i++) {
        const struct route_response *r = &rt->responses[i];
        if (r->status < 200 || r->status > 599 || !r->description || !r->description[0])
            return "a response needs a status and a description";
        if (r->status >= 400 && (r->media_type || r->schema || r->sets_cookie))
            return "an error response has the Error body: no media type, schema or cookie";
        if (r->schema && !r->media_type)
            return "a response schema needs a media type";
        for (size_t j = 0; j < i; j++)
            if (rt->responses[j].status == r->status)
                return "a response status is listed twice";
    }
    return NULL;
}

enum err router_init(struct router *r, const struct route *routes, size_t n, struct buf *msg)
{
    if (n > ROUTER_MAX_ROUTES) {
        buf_note(msg, "too many routes (%zu, max %d)", n, ROUTER_MAX_ROUTES);
        return ERR_CONFIG;
    }
    for (size_t i = 0; i < n; i++) {
        const struct route *rt = &routes[i];
        const char *why = NULL;
        if (!rt->pattern || !pattern_valid(rt->pattern))
            why = "malformed pattern";
        else if (rt->access == ROUTE_ACCESS_UNSET || rt->access > ROUTE_AUTHENTICATED)
            why = "no access class (every route must declare who may call it)";
        else if (!authz_entry_of(rt->permission))
            why = "no permission (every route must name the permission it needs)";
        else if (authz_entry_of(rt->permission)->needs_session !=
                 (rt->access == ROUTE_AUTHENTICATED))
            why = "its permission does not fit its access class";
        else if (!rt->handler)
            why = "no handler";
        else if (rt->method == HTTP_HEAD || rt->method == HTTP_OPTIONS || rt->method == HTTP_OTHER)
            why = "HEAD and OPTIONS are derived, not routed";
        else if (rt->console && rt->method != HTTP_GET && rt->method != HTTP_POST)
            why = "console pages are read with GET and change state with form POSTs only";
        else if (rt->console && rt->method == HTTP_POST && !takes_form(rt->body))
            why = "a console POST must take a form body (it carries the CSRF token)";
        else
            why = undocumented(rt);
        for (size_t j = 0; !why && j < i; j++)
            if (routes[j].method == rt->method && strcmp(routes[j].pattern, rt->pattern) == 0)
                why = "duplicate route";
            else if (!rt->console && !routes[j].console &&
                     strcmp(routes[j].operation_id, rt->operation_id) == 0)
                why = "duplicate operation_id";
        if (why) {
            buf_note(msg, "route %s %s: %s", http_method_name(rt->method),
                     rt->pattern ? rt->pattern : "(null)", why);
            return ERR_CONFIG;
        }
    }
    r->routes = routes;
    r->n_routes = n;
    return ERR_OK;
}

/* Matches path against pattern, collecting parameters into req when out is true. */
static bool path_matches(const char *pattern, struct str path, struct http_request *req, bool out)
{
    struct str pat = str_from_cstr(pattern);
    if (pat.len == 1 || path.len <= 1)
        return pat.len == 1 && path.len == 1;
    struct str prest = str_from(pat.ptr + 1, pat.len - 1);
    struct str rrest = str_from(path.ptr + 1, path.len - 1);
    struct str pseg, rseg;
    size_t n_params = 0;
    for (;;) {
        bool more_p = next_segment(&prest, &pseg);
        bool more_r = next_segment(&rrest, &rseg);
        if (!more_p || !more_r)
            return more_p == more_r;
        struct str name, suffix;
        if (segment_param(pseg, &name, &suffix)) {
            /* the parameter is what precedes the suffix, and is never empty */
            if (rseg.len <= suffix.len || !str_ends_with(rseg, suffix))
                return false;
            if (out) {
                req->params[n_params] = str_from(rseg.ptr, rseg.len - suffix.len);
                req->param_names[n_params] = arena_strndup(req->arena, name.ptr, name.len);
            }
            n_params++;
        } else if (!str_eq(pseg, rseg)) {
            return false;
        }
        if (out)
            req->n_params = n_params;
    }
}

enum router_match router_match(const struct router *r, struct http_request *req)
{
    if (req->path.len == 0 || req->path.len > ROUTER_MAX_PATH || req->path.ptr[0] != '/')
        return ROUTER_NOT_FOUND;
    enum http_method want = req->method == HTTP_HEAD ? HTTP_GET : req->method;
    bool path_seen = false;
    unsigned allowed = 0; /* bit per method */
    for (size_t i = 0; i < r->n_routes; i++) {
        const struct route *rt = &r->routes[i];
        if (!path_matches(rt->pattern, req->path, req, false))
            continue;
        path_seen = true;
        allowed |= 1u << rt->method;
        if (rt->method == want) {
            (void)path_matches(rt->pattern, req->path, req, true);
            req->route = rt;
            return ROUTER_FOUND;
        }
    }
    if (!path_seen)
        return ROUTER_NOT_FOUND;
    struct buf allow = BUF_INIT(128);
    if (allowed & (1u << HTTP_GET))
        allowed |= 1u << HTTP_HEAD;
    allowed |= 1u << HTTP_OPTIONS;
    for (int m = HTTP_GET; m < HTTP_OTHER; m++)
        if (allowed & (1u << m))
            buf_note(&allow, "%s%s", allow.len ? ", " : "", http_method_name((enum http_method)m));
    req->allow = arena_strndup(req->arena, buf_cstr(&allow), allow.len);
    buf_release(&allow);
    return ROUTER_METHOD_NOT_ALLOWED;
}
