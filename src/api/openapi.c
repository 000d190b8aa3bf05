/*
 * openapi — the API description (OpenAPI 3.1), generated from the route
 * table, so the published document cannot drift from what the server routes.
 *
 * Two sources: the hand-written base (docs/openapi-base.json, embedded at
 * build time: info, response schemas, security schemes, shared responses,
 * parameters and headers) and the route table (paths, operations, their
 * parameters, security, responses, and the request-body schemas, converted
 * from each body_spec's struct schema). The document is written compact with
 * the JSON writer, then parsed back and pretty-printed with two-space indents,
 * so it is deterministic (base order, then table order) and diffs well.
 *
 * The server renders it once at start-up (a failure stops the start) and
 * serves that buffer. `shiplog openapi > docs/openapi.json` regenerates the
 * committed copy; tests/unit/api/test_openapi.c fails when it differs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "auth/auth.h"

/* Paths and the request schemas they name, collected from the table. */
struct body_schema {
    const char *name;
    const struct schema *schema;
    const char *description;
};

#define OPENAPI_MAX_BODY_SCHEMAS ROUTER_MAX_ROUTES
#define OPENAPI_MAX_NAME         64 /* bytes of a component name */

struct gen {
    const struct route *routes;
    size_t n_routes;
    struct body_schema schemas[OPENAPI_MAX_BODY_SCHEMAS];
    size_t n_schemas;
    char problem[192]; /* why generation failed, for the message */
};

static enum err fail(struct gen *g, enum err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum err fail(struct gen *g, enum err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->problem, sizeof g->problem, fmt, ap);
    va_end(ap);
    return e;
}

static const struct json_limits doc_limits = {
    .max_bytes = API_OPENAPI_MAX,
    .max_depth = 32,
    .max_string = 4096,
    .max_members = 1000,
};

/* ---- the base document ----------------------------------------------------------- */

/* Copies a parsed node through the writer (integers only: the base has no others). */
static bool copy_node(struct jw *w, const struct json *n)
{
    struct str s;
    int64_t i;
    switch (json_type_of(n)) {
    case JSON_NULL:
        jw_null(w);
        return true;
    case JSON_FALSE:
    case JSON_TRUE:
        jw_bool(w, json_type_of(n) == JSON_TRUE);
        return true;
    case JSON_NUMBER:
        if (!json_as_i64(n, &i))
            return false;
        jw_int(w, i);
        return true;
    case JSON_STRING:
        if (!json_as_str(n, &s))
            return false;
        jw_string(w, s);
        return true;
    case JSON_ARRAY:
        jw_array_begin(w);
        for (const struct json *c = json_first(n); c; c = json_next(c))
            if (!copy_node(w, c))
                return false;
        jw_array_end(w);
        return true;
    case JSON_OBJECT:
        jw_object_begin(w);
        for (const struct json *c = json_first(n); c; c = json_next(c)) {
            jw_key(w, json_key(c));
            if (!copy_node(w, c))
                return false;
        }
        jw_object_end(w);
        return true;
    case JSON_INVALID_TYPE_:
        break;
    }
    return false;
}

/* ---- JSON Schema from struct schema ------------------------------------------------ */

static const char *kind_type(enum schema_kind k)
{
    switch (k) {
    case SCHEMA_STRING:
        return "string";
    case SCHEMA_INTEGER:
        return "integer";
    case SCHEMA_BOOLEAN:
        return "boolean";
    case SCHEMA_OBJECT:
        return "object";
    case SCHEMA_ARRAY:
        return "array";
    case SCHEMA_ANY:
        break;
    }
    return NULL;
}

static void write_object_schema(struct jw *w, const struct schema *s, const char *description);

static void write_type(struct jw *w, enum schema_kind kind, bool nullable)
{
    const char *t = kind_type(kind);
    if (!t)
        return; /* any value: no type keyword */
    jw_key(w, "type");
    if (!nullable) {
        jw_cstring(w, t);
        return;
    }
    jw_array_begin(w);
    jw_cstring(w, t);
    jw_cstring(w, "null");
    jw_array_end(w);
}

static void write_format(struct jw *w, enum schema_format f)
{
    switch (f) {
    case SCHEMA_FMT_EMAIL:
        jw_key(w, "format");
        jw_cstring(w, "email");
        break;
    case SCHEMA_FMT_URL:
        jw_key(w, "format");
        jw_cstring(w, "uri");
        jw_key(w, "pattern");
        jw_cstring(w, "^https?://");
        break;
    case SCHEMA_FMT_UUID:
        jw_key(w, "format");
        jw_cstring(w, "uuid");
        jw_key(w, "pattern");
        jw_cstring(w, "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$");
        break;
    case SCHEMA_FMT_SLUG:
        jw_key(w, "pattern");
        jw_cstring(w, "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$");
        break;
    case SCHEMA_FMT_NONE:
        break;
    }
}

/*
 * The keywords of one value of kind, with f's constraints (schema.c decides
 * what applies: array elements take no length of their own).
 */
static void write_value(struct jw *w, const struct schema_field *f, enum schema_kind kind,
                        bool element)
{
    write_type(w, kind, f->nullable);
    if (f->description && !element) {
        jw_key(w, "description");
        jw_cstring(w, f->description);
    }
    switch (kind) {
    case SCHEMA_STRING:
        if (f->min_len && !element) {
            jw_key(w, "minLength");
            jw_int(w, (int64_t)f->min_len);
        }
        if (f->max_len && !element) {
            jw_key(w, "maxLength");
            jw_int(w, (int64_t)f->max_len);
        }
        if (f->enum_values) {
            jw_key(w, "enum");
            jw_array_begin(w);
            for (const char *const *v = f->enum_values; *v; v++)
                jw_cstring(w, *v);
            if (f->nullable)
                jw_null(w);
            jw_array_end(w);
        }
        write_format(w, f->format);
        break;
    case SCHEMA_INTEGER:
        if (f->min || f->max) {
            jw_key(w, "minimum");
            jw_int(w, f->min);
            jw_key(w, "maximum");
            jw_int(w, f->max);
        }
        break;
    case SCHEMA_OBJECT:
        if (f->object)
            write_object_schema(w, f->object, NULL);
        break;
    case SCHEMA_ARRAY:
        if (element) /* nested arrays carry no constraints of their own */
            break;
        if (f->min_len) {
            jw_key(w, "minItems");
            jw_int(w, (int64_t)f->min_len);
        }
        if (f->max_len) {
            jw_key(w, "maxItems");
            jw_int(w, (int64_t)f->max_len);
        }
        jw_key(w, "items");
        jw_object_begin(w);
        write_value(w, f, f->items, true);
        jw_object_end(w);
        break;
    case SCHEMA_BOOLEAN:
    case SCHEMA_ANY:
        break;
    }
}

/* The object keywords of s (the caller has opened the object; "type" included). */
static void write_object_schema(struct jw *w, const struct schema *s, const char *description)
{
    if (description) {
        jw_key(w, "description");
        jw_cstring(w, description);
    }
    if (!s->allow_unknown) {
        jw_key(w, "additionalProperties");
        jw_bool(w, false);
    }
    bool any_required = false;
    for (size_t i = 0; i < s->n_fields; i++)
        any_required = any_required || s->fields[i].required;
    if (any_required) {
        jw_key(w, "required");
        jw_array_begin(w);
        for (size_t i = 0; i < s->n_fields; i++)
            if (s->fields[i].required)
                jw_cstring(w, s->fields[i].name);
        jw_array_end(w);
    }
    jw_key(w, "properties");
    jw_object_begin(w);
    for (size_t i = 0; i < s->n_fields; i++) {
        jw_key(w, s->fields[i].name);
        jw_object_begin(w);
        write_value(w, &s->fields[i], s->fields[i].kind, false);
        jw_object_end(w);
    }
    jw_object_end(w);
}

static void write_schema_component(struct jw *w, const struct body_schema *b)
{
    jw_key(w, b->name);
    jw_object_begin(w);
    jw_key(w, "type");
    jw_cstring(w, "object");
    write_object_schema(w, b->schema, b->description);
    jw_object_end(w);
}

/* ---- collecting the table ---------------------------------------------------------- */

static bool documented(const struct route *r)
{
    return !r->console;
}

/* Records a named request schema; the same name must always mean the same schema. */
static enum err add_body_schema(struct gen *g, const char *name, const struct schema *s,
                                const char *description)
{
    if (!name || !s)
        return fail(g, ERR_CONFIG, "a JSON body schema needs a name and a schema");
    for (size_t i = 0; i < g->n_schemas; i++) {
        if (strcmp(g->schemas[i].name, name) != 0)
            continue;
        if (g->schemas[i].schema != s)
            return fail(g, ERR_CONFIG, "two request schemas are called %s", name);
        return ERR_OK;
    }
    if (g->n_schemas >= OPENAPI_MAX_BODY_SCHEMAS)
        return fail(g, ERR_LIMIT, "more than %d request schemas", OPENAPI_MAX_BODY_SCHEMAS);
    g->schemas[g->n_schemas++] = (struct body_schema){name, s, description};
    return ERR_OK;
}

static enum err collect(struct gen *g)
{
    for (size_t i = 0; i < g->n_routes; i++) {
        const struct body_spec *b = g->routes[i].body;
        if (!documented(&g->routes[i]) || !b)
            continue;
        enum err e = ERR_OK;
        if (b->json && b->schema)
            e = add_body_schema(g, b->name, b->schema, b->description);
        for (size_t f = 0; !e && f < b->n_formats; f++)
            e = add_body_schema(g, b->formats[f].name, b->formats[f].schema, NULL);
        if (e) {
            size_t used = strlen(g->problem);
            snprintf(g->problem + used, sizeof g->problem - used, " (route %s %s)",
                     http_method_name(g->routes[i].method), g->routes[i].pattern);
            return e;
        }
    }
    return ERR_OK;
}

static bool valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > OPENAPI_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/*
 * Every name a $ref will carry is well-formed, and every response schema a
 * route names is a base schema: a dangling reference stops the start-up.
 */
static enum err check_names(struct gen *g, const struct json *base_schemas)
{
    for (size_t i = 0; i < g->n_schemas; i++) {
        const char *name = g->schemas[i].name;
        if (!valid_name(name))
            return fail(g, ERR_CONFIG, "request schema name '%s' is not [A-Za-z0-9]{1,%d}", name,
                        OPENAPI_MAX_NAME);
        if (json_get(base_schemas, name))
            return fail(g, ERR_CONFIG, "request schema %s is also in docs/openapi-base.json", name);
    }
    for (size_t i = 0; i < g->n_routes; i++) {
        const struct route *r = &g->routes[i];
        for (size_t k = 0; documented(r) && k < ROUTE_MAX_RESPONSES && r->responses[k].status;
             k++) {
            const char *name = r->responses[k].schema;
            if (name && (!valid_name(name) || !json_get(base_schemas, name)))
                return fail(g, ERR_CONFIG,
                            "route %s %s: response schema %s is not in docs/openapi-base.json",
                            http_method_name(r->method), r->pattern, name);
        }
    }
    return ERR_OK;
}

/* ---- operations -------------------------------------------------------------------- */

static void write_ref(struct jw *w, const char *kind, const char *name)
{
    char ref[sizeof "#/components/parameters/" + OPENAPI_MAX_NAME];
    int n = snprintf(ref, sizeof ref, "#/components/%s/%s", kind, name);
    ASSERT(n > 0 && (size_t)n < sizeof ref); /* names are checked by check_names */
    jw_object_begin(w);
    jw_key(w, "$ref");
    jw_cstring(w, ref);
    jw_object_end(w);
}

/* application/json and the +json types (application/feed+json): an object; others text. */
static bool json_media(const char *media)
{
    size_t n = strcspn(media, ";");
    return (n >= 4 && strncmp(media + n - 4, "json", 4) == 0);
}

static bool has_path_params(const char *pattern)
{
    return strchr(pattern, '{') != NULL;
}

static const struct schema_field *param_field(const struct route *r, struct str name)
{
    for (size_t i = 0; r->params && i < r->params->n_fields; i++)
        if (str_eq_cstr(name, r->params->fields[i].name))
            return &r->params->fields[i];
    return NULL;
}

static void write_parameters(struct jw *w, const struct route *r)
{
    bool idem = r->access == ROUTE_AUTHENTICATED && r->method == HTTP_POST;
    if (!has_path_params(r->pattern) && !idem)
        return;
    jw_key(w, "parameters");
    jw_array_begin(w);
    for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}'); /* router_init checked the pattern */
        struct str name = str_from(p + 1, end ? (size_t)(end - p - 1) : 0);
        const struct schema_field *f = param_field(r, name);
        jw_object_begin(w);
        jw_key(w, "name");
        jw_string(w, name);
        jw_key(w, "in");
        jw_cstring(w, "path");
        jw_key(w, "required");
        jw_bool(w, true);
        if (f && f->description) {
            jw_key(w, "description");
            jw_cstring(w, f->description);
        }
        jw_key(w, "schema");
        jw_object_begin(w);
        if (f) {
            struct schema_field plain = *f;
            plain.description = NULL; /* said on the parameter */
            write_value(w, &plain, plain.kind, false);
        } else {
            write_type(w, SCHEMA_STRING, false);
        }
        jw_object_end(w);
        jw_object_end(w);
    }
    if (idem)
        write_ref(w, "parameters",
                  r->idempotency_required ? "IdempotencyKeyRequired" : "IdempotencyKey");
    jw_array_end(w);
}

static const struct body_format *format_of(const struct body_spec *b, const char *type)
{
    for (size_t i = 0; i < b->n_formats; i++)
        if (strcmp(b->formats[i].content_type, type) == 0)
            return &b->formats[i];
    return NULL;
}

static void write_request_body(struct jw *w, const struct route *r)
{
    const struct body_spec *b = r->body;
    if (!b)
        return;
    jw_key(w, "requestBody");
    jw_object_begin(w);
    jw_key(w, "required");
    jw_bool(w, true);
    jw_key(w, "content");
    jw_object_begin(w);
    for (const char *const *t = b->content_types; t && *t; t++) {
        const struct body_format *f = format_of(b, *t);
        jw_key(w, *t);
        jw_object_begin(w);
        jw_key(w, "schema");
        if (b->json && b->schema) {
            write_ref(w, "schemas", b->name);
        } else if (f && f->max_items) {
            jw_object_begin(w);
            jw_key(w, "type");
            jw_cstring(w, "array");
            jw_key(w, "maxItems");
            jw_int(w, (int64_t)f->max_items);
            jw_key(w, "items");
            write_ref(w, "schemas", f->name);
            jw_object_end(w);
        } else if (f) {
            write_ref(w, "schemas", f->name);
        } else {
            jw_object_begin(w); /* a form, or a body the handler reads itself */
            jw_key(w, "type");
            jw_cstring(w, strcmp(*t, HTTP_FORM_TYPE) == 0 ? "object"
                          : b->json                       ? "object"
                                                          : "string");
            jw_object_end(w);
        }
        jw_object_end(w);
    }
    jw_object_end(w);
    jw_object_end(w);
}

/* True when an API key can call r: a key route, or a permission some scope grants (auth.h). */
static bool keys_may_call(const struct route *r)
{
    if (r->keys_route)
        return true;
    for (size_t i = 0; i < AUTH_SCOPE_COUNT; i++)
        if (auth_scope_at(i)->grants == r->permission)
            return true;
    return false;
}

static void write_security(struct jw *w, const struct route *r)
{
    if (r->access != ROUTE_AUTHENTICATED)
        return;
    jw_key(w, "security");
    jw_array_begin(w);
    jw_object_begin(w);
    jw_key(w, "sessionCookie");
    jw_array_begin(w);
    jw_array_end(w);
    jw_object_end(w);
    /* an access token (A8) acts as its user's session, or as the key it was made from */
    jw_object_begin(w);
    jw_key(w, "accessToken");
    jw_array_begin(w);
    jw_array_end(w);
    jw_object_end(w);
    if (keys_may_call(r)) {
        jw_object_begin(w);
        jw_key(w, "apiKey");
        jw_array_begin(w);
        jw_array_end(w);
        jw_object_end(w);
    }
    jw_array_end(w);
}

/* The errors r's fields imply (the pipeline's stages and the idempotency store). */
static bool derived_error(const struct route *r, int status)
{
    bool signed_in = r->access == ROUTE_AUTHENTICATED;
    bool idem = signed_in && r->method == HTTP_POST;
    switch (status) {
    case 400:
        return r->body || idem;
    case 401:
    case 403:
        return signed_in;
    case 404:
        return has_path_params(r->pattern);
    case 409:
    case 422:
        return idem;
    case 413:
    case 415:
        return r->body != NULL;
    case 429:
        return r->rate_limited;
    case 503:
        return r->uses_storage || signed_in;
    default:
        return false;
    }
}

static const struct route_response *listed(const struct route *r, int status)
{
    for (size_t i = 0; i < ROUTE_MAX_RESPONSES && r->responses[i].status; i++)
        if (r->responses[i].status == status)
            return &r->responses[i];
    return NULL;
}

static void write_listed(struct jw *w, const struct route_response *rr)
{
    jw_object_begin(w);
    jw_key(w, "description");
    jw_cstring(w, rr->description);
    if (rr->sets_cookie) {
        jw_key(w, "headers");
        jw_object_begin(w);
        jw_key(w, "Set-Cookie");
        write_ref(w, "headers", "SessionCookie");
        jw_object_end(w);
    }
    const char *media = rr->status >= 400 ? HTTP_JSON_TYPE : rr->media_type;
    if (media) {
        jw_key(w, "content");
        jw_object_begin(w);
        jw_key(w, media);
        jw_object_begin(w);
        jw_key(w, "schema");
        if (rr->status >= 400) {
            write_ref(w, "schemas", "Error");
        } else if (rr->schema) {
            write_ref(w, "schemas", rr->schema);
        } else {
            jw_object_begin(w);
            jw_key(w, "type");
            jw_cstring(w, json_media(media) ? "object" : "string");
            jw_object_end(w);
        }
        jw_object_end(w);
        jw_object_end(w);
    }
    jw_object_end(w);
}

static void write_responses(struct jw *w, const struct route *r)
{
    jw_key(w, "responses");
    jw_object_begin(w);
    for (int status = 100; status <= 599; status++) { /* ascending: stable and conventional */
        const struct route_response *rr = listed(r, status);
        if (!rr && !derived_error(r, status))
            continue;
        char key[8];
        snprintf(key, sizeof key, "%d", status);
        jw_key(w, key);
        if (rr)
            write_listed(w, rr);
        else
            write_ref(w, "responses", "Error");
    }
    jw_object_end(w);
}

static void write_operation(struct jw *w, const struct route *r)
{
    jw_object_begin(w);
    jw_key(w, "summary");
    jw_cstring(w, r->summary);
    jw_key(w, "operationId");
    jw_cstring(w, r->operation_id);
    jw_key(w, "x-permission");
    jw_cstring(w, authz_entry_of(r->permission)->name);
    write_parameters(w, r);
    write_request_body(w, r);
    write_security(w, r);
    write_responses(w, r);
    jw_object_end(w);
}

/* The order operations are written in for a path, with their keys. */
static const struct {
    enum http_method method;
    const char *key;
} method_order[] = {
    {HTTP_GET, "get"},     {HTTP_PUT, "put"},       {HTTP_POST, "post"},
    {HTTP_PATCH, "patch"}, {HTTP_DELETE, "delete"},
};

static void write_paths(struct jw *w, const struct gen *g)
{
    jw_key(w, "paths");
    jw_object_begin(w);
    for (size_t i = 0; i < g->n_routes; i++) {
        const struct route *r = &g->routes[i];
        bool first = documented(r);
        for (size_t j = 0; first && j < i; j++) /* each path once, where it first appears */
            first = !(documented(&g->routes[j]) && strcmp(g->routes[j].pattern, r->pattern) == 0);
        if (!first)
            continue;
        jw_key(w, r->pattern);
        jw_object_begin(w);
        for (size_t m = 0; m < sizeof method_order / sizeof method_order[0]; m++) {
            for (size_t j = i; j < g->n_routes; j++) {
                const struct route *o = &g->routes[j];
                if (!documented(o) || o->method != method_order[m].method ||
                    strcmp(o->pattern, r->pattern) != 0)
                    continue;
                jw_key(w, method_order[m].key);
                write_operation(w, o);
            }
        }
        jw_object_end(w);
    }
    jw_object_end(w);
}

/* components: the base's, with the request schemas appended to its schemas. */
static enum err write_components(struct jw *w, struct gen *g, const struct json *base)
{
    const struct json *schemas = json_get(base, "schemas");
    enum err e = check_names(g, schemas);
    if (e)
        return e;
    jw_object_begin(w);
    for (const struct json *c = json_first(base); c; c = json_next(c)) {
        jw_key(w, json_key(c));
        if (c != schemas) {
            if (!copy_node(w, c))
                goto bad;
            continue;
        }
        jw_object_begin(w);
        for (const struct json *s = json_first(c); s; s = json_next(s)) {
            jw_key(w, json_key(s));
            if (!copy_node(w, s))
                goto bad;
        }
        for (size_t i = 0; i < g->n_schemas; i++)
            write_schema_component(w, &g->schemas[i]);
        jw_object_end(w);
    }
    jw_object_end(w);
    return ERR_OK;
bad:
    return fail(g, ERR_CONFIG, "docs/openapi-base.json holds a number that is not an integer");
}

static enum err write_document(struct gen *g, const struct json *base, struct buf *out)
{
    if (json_type_of(base) != JSON_OBJECT || json_get(base, "paths") ||
        json_type_of(json_get(base, "components")) != JSON_OBJECT ||
        json_type_of(json_get(json_get(base, "components"), "schemas")) != JSON_OBJECT) {
        return fail(g, ERR_CONFIG,
                    "docs/openapi-base.json must be an object with components.schemas and "
                    "without paths");
    }
    struct jw w;
    jw_init(&w, out);
    jw_object_begin(&w);
    enum err e = ERR_OK;
    for (const struct json *c = json_first(base); !e && c; c = json_next(c)) {
        if (strcmp(json_key(c), "components") == 0) {
            write_paths(&w, g);
            jw_key(&w, "components");
            e = write_components(&w, g, c);
        } else {
            jw_key(&w, json_key(c));
            if (!copy_node(&w, c))
                e = fail(g, ERR_CONFIG,
                         "docs/openapi-base.json holds a number that is not an integer");
        }
    }
    jw_object_end(&w);
    enum err fe = jw_finish(&w);
    return e ? e : fe;
}

/* ---- pretty printing ----------------------------------------------------------------- */

/* A scalar, [] or {}. */
static bool is_simple(const struct json *n)
{
    enum json_type t = json_type_of(n);
    return (t != JSON_ARRAY && t != JSON_OBJECT) || json_count(n) == 0;
}

/* Short enough for one line: an array of simple values, or an object of one simple member. */
static bool inline_node(const struct json *n)
{
    if (json_type_of(n) == JSON_OBJECT)
        return json_count(n) == 0 || (json_count(n) == 1 && is_simple(json_first(n)));
    for (const struct json *c = json_first(n); c; c = json_next(c))
        if (!is_simple(c))
            return false;
    return true;
}

static enum err indent(struct buf *out, unsigned depth)
{
    enum err e = buf_putc(out, '\n');
    for (unsigned i = 0; !e && i < depth; i++)
        e = buf_puts(out, "  ");
    return e;
}

static enum err pretty(struct buf *out, const struct json *n, unsigned depth)
{
    struct str s;
    int64_t i;
    enum json_type t = json_type_of(n);
    switch (t) {
    case JSON_NULL:
        return buf_puts(out, "null");
    case JSON_FALSE:
        return buf_puts(out, "false");
    case JSON_TRUE:
        return buf_puts(out, "true");
    case JSON_NUMBER:
        return json_as_i64(n, &i) ? buf_printf(out, "%lld", (long long)i) : ERR_INVALID;
    case JSON_STRING:
        return json_as_str(n, &s) ? json_escape_to(out, s) : ERR_INVALID;
    case JSON_ARRAY:
    case JSON_OBJECT:
        break;
    case JSON_INVALID_TYPE_:
        return ERR_INVALID;
    }
    bool obj = t == JSON_OBJECT, flat = inline_node(n);
    enum err e = buf_putc(out, obj ? '{' : '[');
    for (const struct json *c = json_first(n); !e && c; c = json_next(c)) {
        if (c != json_first(n))
            e = buf_puts(out, flat ? ", " : ",");
        if (!e && !flat)
            e = indent(out, depth + 1);
        if (!e && obj) {
            e = json_escape_to(out, str_from_cstr(json_key(c)));
            if (!e)
                e = buf_puts(out, ": ");
        }
        if (!e)
            e = pretty(out, c, depth + 1);
    }
    if (!e && !flat)
        e = indent(out, depth);
    return e ? e : buf_putc(out, obj ? '}' : ']');
}

/* ---- entry point ---------------------------------------------------------------------- */

enum err api_openapi_render_from(const struct route *routes, size_t n, const char *base_text,
                                 size_t base_len, struct buf *out, struct buf *msg)
{
    struct gen g = {.routes = routes, .n_routes = n};
    struct json *base = NULL, *doc = NULL;
    struct json_error je;
    struct buf compact = BUF_INIT(API_OPENAPI_MAX);
    enum err e = json_parse(base_text, base_len, &doc_limits, &base, &je);
    if (e) {
        buf_note(msg, "docs/openapi-base.json: %s at byte %zu", je.reason, je.offset);
        goto out;
    }
    if ((e = collect(&g)) != ERR_OK || (e = write_document(&g, base, &compact)) != ERR_OK) {
        buf_note(msg, "API description: %s", g.problem[0] ? g.problem : err_name(e));
        goto out;
    }
    e = json_parse(buf_cstr(&compact), compact.len, &doc_limits, &doc, &je);
    if (e) {
        buf_note(msg, "API description: %s at byte %zu", je.reason, je.offset);
        goto out;
    }
    if ((e = pretty(out, doc, 0)) != ERR_OK || (e = buf_putc(out, '\n')) != ERR_OK)
        buf_note(msg, "API description: %s", err_name(e));
out:
    json_free(doc);
    json_free(base);
    buf_release(&compact);
    return e;
}

enum err api_openapi_render(struct buf *out, struct buf *msg)
{
    size_t n;
    const struct route *routes = api_routes(&n);
    return api_openapi_render_from(routes, n, openapi_base_json, openapi_base_json_len, out, msg);
}
