/*
 * The API description (api/openapi.c) and the router agree: the generated
 * document is docs/openapi.json byte for byte (on failure regenerate:
 * build/shiplog openapi > docs/openapi.json), every route but console pages
 * is an operation and every operation a route, operationIds are unique, every
 * $ref resolves, and each request schema says what its struct schema checks.
 * The generator refuses tables and bases that do not fit together.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"
#include "auth/auth.h"

extern const char openapi_json_doc[];
extern const size_t openapi_json_doc_len;

static const struct json_limits limits = {
    .max_bytes = API_OPENAPI_MAX, .max_depth = 32, .max_string = 4096, .max_members = 1000};

struct fixture {
    struct buf text;
    struct json *doc;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    buf_init(&f->text, API_OPENAPI_MAX);
    struct buf msg = BUF_INIT(512);
    if (api_openapi_render(&f->text, &msg) != ERR_OK)
        fail_msg("render: %s", buf_cstr(&msg));
    buf_release(&msg);
    struct json_error je;
    if (json_parse(buf_cstr(&f->text), f->text.len, &limits, &f->doc, &je) != ERR_OK)
        fail_msg("the document does not parse: %s at %zu", je.reason, je.offset);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    json_free(f->doc);
    buf_release(&f->text);
    free(f);
    return 0;
}

static const char *method_key(enum http_method m)
{
    switch (m) {
    case HTTP_GET:
        return "get";
    case HTTP_PUT:
        return "put";
    case HTTP_POST:
        return "post";
    case HTTP_PATCH:
        return "patch";
    case HTTP_DELETE:
        return "delete";
    default:
        return "?";
    }
}

static bool str_is(const struct json *n, const char *want)
{
    struct str s;
    return json_as_str(n, &s) && str_eq_cstr(s, want);
}

/* Resolves a local reference ("#/components/schemas/Me"), or NULL. */
static const struct json *resolve(const struct json *doc, struct str ref)
{
    if (ref.len < 2 || ref.ptr[0] != '#' || ref.ptr[1] != '/')
        return NULL;
    struct str rest = str_from(ref.ptr + 2, ref.len - 2), seg;
    const struct json *n = doc;
    while (n && str_split(&rest, '/', &seg)) {
        char key[128];
        size_t k = 0;
        for (size_t i = 0; i < seg.len && k + 1 < sizeof key; i++) {
            if (seg.ptr[i] == '~' && i + 1 < seg.len) { /* RFC 6901 escapes */
                key[k++] = seg.ptr[++i] == '1' ? '/' : '~';
                continue;
            }
            key[k++] = seg.ptr[i];
        }
        key[k] = '\0';
        n = json_get(n, key);
        if (!rest.ptr)
            break;
    }
    return n;
}

/* A schema object, through its $ref when it has one. */
static const struct json *deref(const struct json *doc, const struct json *n)
{
    struct str ref;
    if (json_as_str(json_get(n, "$ref"), &ref))
        return resolve(doc, ref);
    return n;
}

static void test_document_is_current(void **state)
{
    struct fixture *f = *state;
    if (f->text.len != openapi_json_doc_len ||
        memcmp(buf_cstr(&f->text), openapi_json_doc, f->text.len) != 0)
        fail_msg("docs/openapi.json is out of date: run "
                 "build/shiplog openapi > docs/openapi.json");
}

static void test_rendering_is_deterministic(void **state)
{
    struct fixture *f = *state;
    struct buf again = BUF_INIT(API_OPENAPI_MAX), msg = BUF_INIT(512);
    assert_int_equal(api_openapi_render(&again, &msg), ERR_OK);
    assert_int_equal(again.len, f->text.len);
    assert_memory_equal(buf_cstr(&again), buf_cstr(&f->text), again.len);
    buf_release(&again);
    buf_release(&msg);
}

/* Every path parameter of the pattern is a required path parameter of op. */
static void check_path_params(const struct json *op, const char *pattern)
{
    for (const char *p = strchr(pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}');
        assert_non_null(end);
        struct str name = str_from(p + 1, (size_t)(end - p - 1));
        bool found = false;
        for (const struct json *prm = json_first(json_get(op, "parameters")); prm && !found;
             prm = json_next(prm)) {
            struct str n;
            bool required = false;
            found = json_as_str(json_get(prm, "name"), &n) && str_eq(n, name) &&
                    str_is(json_get(prm, "in"), "path") &&
                    json_as_bool(json_get(prm, "required"), &required) && required;
        }
        if (!found)
            fail_msg("%s: path parameter %.*s is not documented", pattern, (int)name.len, name.ptr);
    }
}

static void test_routes_and_operations_agree(void **state)
{
    struct fixture *f = *state;
    const struct json *paths = json_get(f->doc, "paths");
    assert_non_null(paths);
    size_t n;
    const struct route *routes = api_routes(&n);
    size_t api = 0;
    for (size_t i = 0; i < n; i++) {
        const struct route *r = &routes[i];
        const struct json *path = json_get(paths, r->pattern);
        if (r->console) { /* pages, not API; a console path is no API path */
            if (path && json_get(path, method_key(r->method)))
                fail_msg("console page %s %s is in the API description", method_key(r->method),
                         r->pattern);
            continue;
        }
        api++;
        const struct json *op = json_get(path, method_key(r->method));
        if (!op)
            fail_msg("route %s %s is not in the API description", method_key(r->method),
                     r->pattern);
        assert_true(str_is(json_get(op, "summary"), r->summary));
        assert_true(str_is(json_get(op, "operationId"), r->operation_id));
        assert_true(str_is(json_get(op, "x-permission"), authz_entry_of(r->permission)->name));
        assert_int_equal(json_get(op, "security") != NULL, r->access == ROUTE_AUTHENTICATED);
        assert_int_equal(json_get(op, "requestBody") != NULL, r->body != NULL);
        check_path_params(op, r->pattern);
        char status[8];
        snprintf(status, sizeof status, "%d", r->responses[0].status);
        assert_non_null(json_get(json_get(op, "responses"), status));
    }
    /* and the other way: every operation is a route */
    size_t documented = 0;
    for (const struct json *path = json_first(paths); path; path = json_next(path)) {
        for (const struct json *op = json_first(path); op; op = json_next(op)) {
            documented++;
            bool found = false;
            for (size_t i = 0; i < n && !found; i++)
                found = !routes[i].console && strcmp(routes[i].pattern, json_key(path)) == 0 &&
                        strcmp(method_key(routes[i].method), json_key(op)) == 0;
            if (!found)
                fail_msg("%s %s is documented but not routed", json_key(op), json_key(path));
        }
    }
    assert_int_equal(documented, api);
}

static void test_operation_ids_are_unique(void **state)
{
    struct fixture *f = *state;
    const struct json *paths = json_get(f->doc, "paths");
    struct str seen[ROUTER_MAX_ROUTES];
    size_t n = 0;
    for (const struct json *path = json_first(paths); path; path = json_next(path))
        for (const struct json *op = json_first(path); op; op = json_next(op)) {
            struct str id;
            assert_true(json_as_str(json_get(op, "operationId"), &id));
            for (size_t i = 0; i < n; i++)
                if (str_eq(id, seen[i]))
                    fail_msg("operationId %.*s is used twice", (int)id.len, id.ptr);
            assert_true(n < ROUTER_MAX_ROUTES);
            seen[n++] = id;
        }
    assert_true(n > 0);
}

static size_t check_refs(const struct json *doc, const struct json *n)
{
    size_t refs = 0;
    for (const struct json *c = json_first(n); c; c = json_next(c)) {
        const char *key = json_key(c);
        struct str ref;
        if (key && strcmp(key, "$ref") == 0 && json_as_str(c, &ref)) {
            if (!resolve(doc, ref))
                fail_msg("$ref %.*s does not resolve", (int)ref.len, ref.ptr);
            refs++;
        }
        refs += check_refs(doc, c);
    }
    return refs;
}

static void test_every_ref_resolves(void **state)
{
    struct fixture *f = *state;
    assert_true(check_refs(f->doc, f->doc) > 0);
    /* and the resolver can fail */
    assert_null(resolve(f->doc, str_from_cstr("#/components/schemas/NoSuchThing")));
}

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

/* The JSON Schema js says what s checks: fields, required list, unknown members, types. */
static void check_schema(const struct json *doc, const struct json *js, const struct schema *s,
                         const char *where)
{
    js = deref(doc, js);
    if (!js)
        fail_msg("%s: no schema", where);
    assert_true(str_is(json_get(js, "type"), "object"));
    bool closed = false;
    assert_int_equal(json_as_bool(json_get(js, "additionalProperties"), &closed),
                     !s->allow_unknown);
    const struct json *props = json_get(js, "properties");
    assert_int_equal(json_count(props), s->n_fields);
    const struct json *req = json_first(json_get(js, "required"));
    for (size_t i = 0; i < s->n_fields; i++) {
        const struct schema_field *fd = &s->fields[i];
        const struct json *p = json_get(props, fd->name);
        if (!p)
            fail_msg("%s: field %s is not a property", where, fd->name);
        if (fd->required) {
            if (!str_is(req, fd->name))
                fail_msg("%s: required %s is not in required, in order", where, fd->name);
            req = json_next(req);
        }
        const char *t = kind_type(fd->kind);
        const struct json *type = json_get(p, "type");
        if (!t) {
            assert_null(type);
        } else if (fd->nullable) {
            assert_true(str_is(json_first(type), t));
            assert_true(str_is(json_next(json_first(type)), "null"));
        } else if (!str_is(type, t)) {
            fail_msg("%s: field %s is not of type %s", where, fd->name, t);
        }
        int64_t v;
        if (fd->kind == SCHEMA_STRING && fd->max_len)
            assert_true(json_as_i64(json_get(p, "maxLength"), &v) && v == (int64_t)fd->max_len);
        if (fd->kind == SCHEMA_OBJECT && fd->object)
            check_schema(doc, p, fd->object, where);
    }
    if (req)
        fail_msg("%s: required lists a member that is not a required field", where);
}

static void test_request_schemas_follow_struct_schema(void **state)
{
    struct fixture *f = *state;
    size_t n, checked = 0;
    const struct route *routes = api_routes(&n);
    for (size_t i = 0; i < n; i++) {
        const struct route *r = &routes[i];
        if (r->console || !r->body)
            continue;
        const struct json *content =
            json_get(json_get(json_get(json_get(json_get(f->doc, "paths"), r->pattern),
                                       method_key(r->method)),
                              "requestBody"),
                     "content");
        size_t types = 0;
        for (const char *const *t = r->body->content_types; t && *t; t++) {
            const struct json *js = json_get(json_get(content, *t), "schema");
            if (!js)
                fail_msg("%s: content type %s is not documented", r->pattern, *t);
            types++;
            if (r->body->json && r->body->schema) {
                check_schema(f->doc, js, r->body->schema, r->pattern);
                checked++;
            }
            for (size_t k = 0; k < r->body->n_formats; k++) {
                const struct body_format *fm = &r->body->formats[k];
                if (strcmp(fm->content_type, *t) != 0)
                    continue;
                if (fm->max_items) {
                    int64_t max;
                    assert_true(str_is(json_get(js, "type"), "array"));
                    assert_true(json_as_i64(json_get(js, "maxItems"), &max));
                    assert_int_equal(max, fm->max_items);
                    js = json_get(js, "items");
                }
                check_schema(f->doc, js, fm->schema, r->pattern);
                checked++;
            }
        }
        assert_int_equal(json_count(content), types);
    }
    assert_true(checked > 0);
}

/* The scopes the API description offers are auth's scope list (apikeys.c copies it). */
static void test_scopes_are_auths(void **state)
{
    struct fixture *f = *state;
    const struct json *schemas = json_get(json_get(f->doc, "components"), "schemas");
    const struct json *list = json_get(
        json_get(json_get(json_get(json_get(schemas, "ApiKeyCreate"), "properties"), "scopes"),
                 "items"),
        "enum");
    assert_int_equal(json_count(list), AUTH_SCOPE_COUNT);
    const struct json *v = json_first(list);
    for (size_t i = 0; i < AUTH_SCOPE_COUNT; i++, v = json_next(v))
        if (!str_is(v, auth_scope_at(i)->name))
            fail_msg("scope %zu is not %s", i, auth_scope_at(i)->name);
}

/* ---- the generator refuses what does not fit ------------------------------------------ */

static enum err ok_handler(struct http_request *req, struct http_response *resp)
{
    (void)req;
    resp->status = 200;
    return ERR_OK;
}

static const char base[] = "{\"openapi\": \"3.1.0\", \"info\": {\"title\": \"t\", \"version\": "
                           "\"1\"}, \"components\": {\"schemas\": {\"Thing\": {}}, "
                           "\"responses\": {\"Error\": {\"description\": \"e\"}}}}";

static const struct schema_field name_field[] = {
    {.name = "name", .kind = SCHEMA_STRING, .required = true, .max_len = 10}};
static const struct schema name_schema = {name_field, 1, false};
static const struct schema other_schema = {name_field, 1, true};
static const char *const json_only[] = {"application/json", NULL};
static const struct body_spec named = {
    .content_types = json_only, .json = true, .schema = &name_schema, .name = "NewThing"};

#define THING_ROUTE(m, id, body_, schema_)                                                         \
    {                                                                                              \
        .method = (m), .pattern = "/things", .handler = ok_handler, .access = ROUTE_PUBLIC,        \
        .permission = AUTHZ_PUBLIC, .summary = "s", .operation_id = (id), .body = (body_),         \
        .responses = {                                                                             \
            {.status = 200, .description = "d", .media_type = HTTP_JSON_TYPE, .schema = (schema_)} \
        }                                                                                          \
    }

static enum err render(const struct route *rt, size_t n, const char *base_text, struct buf *msg)
{
    struct buf out = BUF_INIT(API_OPENAPI_MAX);
    buf_reset(msg);
    enum err e = api_openapi_render_from(rt, n, base_text, strlen(base_text), &out, msg);
    buf_release(&out);
    return e;
}

static void test_generator_refuses_misfits(void **state)
{
    (void)state;
    struct buf msg = BUF_INIT(512);
    const struct route good[] = {THING_ROUTE(HTTP_POST, "makeThing", &named, "Thing")};
    assert_int_equal(render(good, 1, base, &msg), ERR_OK);

    const struct route dangling[] = {THING_ROUTE(HTTP_GET, "getThing", NULL, "Nothing")};
    assert_int_equal(render(dangling, 1, base, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), "Nothing"));

    static const struct body_spec unnamed = {
        .content_types = json_only, .json = true, .schema = &name_schema};
    const struct route anonymous[] = {THING_ROUTE(HTTP_POST, "makeThing", &unnamed, NULL)};
    assert_int_equal(render(anonymous, 1, base, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), "needs a name"));

    static const struct body_spec clash = {
        .content_types = json_only, .json = true, .schema = &other_schema, .name = "NewThing"};
    const struct route two[] = {THING_ROUTE(HTTP_POST, "makeThing", &named, NULL),
                                THING_ROUTE(HTTP_PUT, "putThing", &clash, NULL)};
    assert_int_equal(render(two, 2, base, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), "two request schemas"));

    static const struct body_spec shadow = {
        .content_types = json_only, .json = true, .schema = &name_schema, .name = "Thing"};
    const struct route shadows[] = {THING_ROUTE(HTTP_POST, "makeThing", &shadow, NULL)};
    assert_int_equal(render(shadows, 1, base, &msg), ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&msg), "also in docs/openapi-base.json"));

    assert_int_equal(render(good, 1, "{\"paths\": {}, \"components\": {\"schemas\": {}}}", &msg),
                     ERR_CONFIG);
    assert_int_equal(render(good, 1, "{\"components\": {\"schemas\": {\"Thing\": 1.5}}}", &msg),
                     ERR_CONFIG);
    assert_int_equal(render(good, 1, "{\"components\": ", &msg), ERR_INVALID);
    buf_release(&msg);
}

/* The output buffer's cap holds: one byte short of the document is ERR_LIMIT. */
static void test_output_cap(void **state)
{
    struct fixture *f = *state;
    size_t n;
    const struct route *routes = api_routes(&n);
    struct buf msg = BUF_INIT(512);
    struct buf exact = BUF_INIT(f->text.len), short_ = BUF_INIT(f->text.len - 1);
    assert_int_equal(
        api_openapi_render_from(routes, n, openapi_base_json, openapi_base_json_len, &exact, &msg),
        ERR_OK);
    assert_int_equal(
        api_openapi_render_from(routes, n, openapi_base_json, openapi_base_json_len, &short_, &msg),
        ERR_LIMIT);
    buf_release(&exact);
    buf_release(&short_);
    buf_release(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_document_is_current, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rendering_is_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes_and_operations_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operation_ids_are_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_ref_resolves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_schemas_follow_struct_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scopes_are_auths, setup, teardown),
        cmocka_unit_test(test_generator_refuses_misfits),
        cmocka_unit_test_setup_teardown(test_output_cap, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
