/*
 * API-key suite (A7, Z3, L1, T1–T4): src/auth against a real database.
 *
 *   SHIPLOG_TEST_PG_OWNER_URL and SHIPLOG_TEST_PG_APP_URL set: PostgreSQL
 *   (migrations with the owner, everything else with the application role);
 *   otherwise SQLite in a fresh mkdtemp directory.
 *
 * Covered: the scope list (parse, format, role cut, auth_key_allows never
 * reaching account or tenant management); create -> authenticate -> list ->
 * revoke; the key text's shape and that only its hash is stored (no column,
 * list entry or audit line holds the text); the default scope; refusals by
 * role (read from the users table, not the caller's claim) and their denied
 * audit events; a key creating keys (keys:write needed, never wider in scope
 * or time, revocation cascades to its descendants); Z3 (demotion and
 * promotion of the creator change a key's effective permissions at once; a
 * removed or unverified creator's key fails); expiry; tampered texts
 * (tenant part, random part, shape) all ERR_UNAUTHENTICATED; another
 * tenant's id is ERR_NOT_FOUND and changes nothing (PostgreSQL: row-level
 * security forced, even a forged statement sees nothing); every named limit
 * at its value and one past it; last_used_at written at most every
 * AUTH_KEY_TOUCH_S; the audit chain verifies.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "crypto/hash.h"
#include "crypto/rand.h"
#include "storage/storage.h"
#include "../common/testdb.h"

#define T0 1767225600 /* 2026-01-01T00:00:00Z */

/* assert_non_null, and tell the compiler (cmocka's failure does not return here either) */
#define REQUIRE(p)                                                                                 \
    do {                                                                                           \
        assert_non_null(p);                                                                        \
        if (!(p))                                                                                  \
            abort();                                                                               \
    } while (0)

struct suite {
    bool pg;
    char dir[64];
    const char *app_url;
    struct storage *s;
};

static struct suite S;

static int suite_setup(void **state)
{
    S.app_url = getenv("SHIPLOG_TEST_PG_APP_URL");
    S.s = testdb_open_main("auth", S.dir, &S.pg);
    return S.s ? 0 : -1;
}

static int suite_teardown(void **state)
{
    testdb_cleanup(S.s, S.dir);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

/* Runs sql in t with text parameters $2.. (NULL binds NULL); *changes when not NULL. */
static void exec_in(const struct tenant_ctx *t, const char *sql, int n, const char *const *args,
                    uint64_t *changes)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_WRITE, &tx), ERR_OK);
    struct stmt *st = NULL;
    assert_int_equal(tx_prepare(tx, sql, &st), ERR_OK);
    for (int i = 0; i < n; i++) {
        if (args[i])
            assert_int_equal(stmt_bind_text(st, i + 2, str_from_cstr(args[i])), ERR_OK);
        else
            assert_int_equal(stmt_bind_null(st, i + 2), ERR_OK);
    }
    bool row = false;
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    while (row)
        assert_int_equal(stmt_step(st, &row), ERR_OK);
    if (changes)
        *changes = stmt_changes(st);
    stmt_finish(st);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

/* A tenant with its tenants row. */
static void new_tenant(struct tenant_ctx *t)
{
    testdb_random_uuid(t->id);
    const char *args[] = {t->id, "API key test"};
    exec_in(t, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)", 2, args, NULL);
}

/* A user of t with role ("member", ...), verified or not. */
static void new_user(const struct tenant_ctx *t, const char *role, bool verified,
                     char id[AUTH_USER_ID_LEN + 1])
{
    testdb_random_uuid(id);
    char email[64];
    snprintf(email, sizeof email, "%.8s@example.test", id);
    const char *args[] = {id, email, role};
    exec_in(t,
            verified ? "INSERT INTO users (tenant_id, id, email, password_hash, password_key_id,"
                       " role, email_verified_at, created_at)"
                       " VALUES ($1, $2, $3, 'x', 'k', $4, 1, 1)"
                     : "INSERT INTO users (tenant_id, id, email, password_hash, password_key_id,"
                       " role, email_verified_at, created_at)"
                       " VALUES ($1, $2, $3, 'x', 'k', $4, NULL, 1)",
            3, args, NULL);
}

static void set_role(const struct tenant_ctx *t, const char *user, const char *role)
{
    const char *args[] = {user, role};
    uint64_t n = 0;
    exec_in(t, "UPDATE users SET role = $3 WHERE tenant_id = $1 AND id = $2", 2, args, &n);
    assert_int_equal(n, 1);
}

static int64_t query_int(const struct tenant_ctx *t, const char *sql, const char *arg)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_READ, &tx), ERR_OK);
    struct stmt *st = NULL;
    assert_int_equal(tx_prepare(tx, sql, &st), ERR_OK);
    if (arg)
        assert_int_equal(stmt_bind_text(st, 2, str_from_cstr(arg)), ERR_OK);
    bool row = false;
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_true(row);
    int64_t v = stmt_col_is_null(st, 0) ? -1 : stmt_col_int(st, 0);
    stmt_finish(st);
    storage_rollback(tx);
    return v;
}

static int64_t keys_of(const struct tenant_ctx *t)
{
    return query_int(t, "SELECT count(*) FROM api_keys WHERE tenant_id = $1", NULL);
}

static struct auth_actor user_actor(const char *id, enum authz_role role)
{
    return (struct auth_actor){.user_id = id, .role = role, .key = NULL};
}

static struct auth_actor key_actor(const struct auth_key_principal *p)
{
    return (struct auth_actor){.key = p};
}

static const struct auth_client client = {.ip = "192.0.2.7", .request_id = "req-auth-test"};

static struct auth_key_created create_ok(const struct tenant_ctx *t, const struct auth_actor *who,
                                         const char *name, uint32_t scopes, int64_t expires,
                                         int64_t now)
{
    struct auth_key_created k;
    const char *reason = "unset";
    enum err e = auth_key_create(S.s, t, who, str_from_cstr(name), scopes, expires, now, &client,
                                 &k, &reason);
    if (e)
        fprintf(stderr, "# create: %s (%s)\n", err_name(e), reason ? reason : "-");
    assert_int_equal(e, ERR_OK);
    assert_null(reason);
    return k;
}

static enum err create_err(const struct tenant_ctx *t, const struct auth_actor *who,
                           uint32_t scopes, int64_t expires, int64_t now,
                           struct auth_key_created *k, const char **reason)
{
    return auth_key_create(S.s, t, who, STR_LIT("refused"), scopes, expires, now, &client, k,
                           reason);
}

static void authn_ok(const char *text, int64_t now, struct auth_key_principal *p)
{
    assert_int_equal(auth_key_authenticate(S.s, str_from_cstr(text), now, p), ERR_OK);
}

/* ERR_UNAUTHENTICATED, and the principal is left zeroed. */
static void authn_refused(struct str text, int64_t now)
{
    struct auth_key_principal p;
    memset(&p, 0x5a, sizeof p);
    assert_int_equal(auth_key_authenticate(S.s, text, now, &p), ERR_UNAUTHENTICATED);
    static const struct auth_key_principal zero;
    assert_memory_equal(&p, &zero, sizeof p);
}

/* The random part of a key text. */
static const char *random_part(const struct auth_key_created *k)
{
    return k->text + 4 + STORAGE_TENANT_ID_LEN + 1;
}

static const struct auth_key_info *find_info(const struct auth_key_info *v, size_t n,
                                             const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].id, id) == 0)
            return &v[i];
    return NULL;
}

static struct auth_key_info info_of(const struct tenant_ctx *t, const char *id)
{
    struct auth_key_info v[AUTH_MAX_KEYS_PER_TENANT];
    size_t n = 0;
    assert_int_equal(auth_key_list(S.s, t, NULL, v, AUTH_MAX_KEYS_PER_TENANT, &n), ERR_OK);
    const struct auth_key_info *k = find_info(v, n, id);
    REQUIRE(k);
    return *k;
}

/* ---- the audit trail, read back through audit_export --------------------------------- */

struct ev {
    char action[AUDIT_MAX_ACTION + 1];
    char actor_type[16];
    char actor_id[AUDIT_MAX_ACTOR + 1];
    char target[AUDIT_MAX_TARGET + 1];
    char outcome[16];
    char client_ip[AUDIT_MAX_CLIENT_IP + 1];
    char details[AUDIT_MAX_DETAILS + 1];
};

static void view_copy(struct str v, char *out, size_t cap)
{
    assert_true(v.len < cap);
    memcpy(out, v.ptr, v.len);
    out[v.len] = '\0';
}

struct trail {
    char *raw; /* the whole export */
    struct ev ev[256];
    size_t n;
};

static void trail_read(const struct tenant_ctx *t, struct trail *tr)
{
    memset(tr, 0, sizeof *tr);
    FILE *f = tmpfile();
    REQUIRE(f);
    assert_int_equal(audit_export(S.s, t, f), ERR_OK);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    tr->raw = calloc(1, (size_t)len + 1);
    assert_non_null(tr->raw);
    assert_int_equal(fread(tr->raw, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    for (char *line = tr->raw; *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        struct audit_record r;
        assert_int_equal(audit_export_parse_line(line, ll, &r), ERR_OK);
        if (r.type == AUDIT_REC_ENTRY) {
            assert_true(tr->n < sizeof tr->ev / sizeof tr->ev[0]);
            struct ev *e = &tr->ev[tr->n++];
            view_copy(r.entry.action, e->action, sizeof e->action);
            view_copy(r.entry.actor_type, e->actor_type, sizeof e->actor_type);
            view_copy(r.entry.actor_id, e->actor_id, sizeof e->actor_id);
            view_copy(r.entry.target, e->target, sizeof e->target);
            view_copy(r.entry.outcome, e->outcome, sizeof e->outcome);
            view_copy(r.entry.client_ip, e->client_ip, sizeof e->client_ip);
            view_copy(r.entry.details, e->details, sizeof e->details);
        }
        audit_record_release(&r);
        line += ll + (nl ? 1 : 0);
    }
}

static void trail_release(struct trail *tr)
{
    free(tr->raw);
    tr->raw = NULL;
}

/* Events with this action and outcome (and target when not NULL). */
static size_t trail_count(const struct trail *tr, const char *action, const char *outcome,
                          const char *target)
{
    size_t n = 0;
    for (size_t i = 0; i < tr->n; i++)
        n += strcmp(tr->ev[i].action, action) == 0 && strcmp(tr->ev[i].outcome, outcome) == 0 &&
             (!target || strcmp(tr->ev[i].target, target) == 0);
    return n;
}

static const struct ev *trail_last(const struct trail *tr, const char *action, const char *outcome)
{
    for (size_t i = tr->n; i-- > 0;)
        if (strcmp(tr->ev[i].action, action) == 0 && strcmp(tr->ev[i].outcome, outcome) == 0)
            return &tr->ev[i];
    return NULL;
}

static size_t audit_count(const struct tenant_ctx *t, const char *action, const char *outcome)
{
    struct trail *tr = malloc(sizeof *tr);
    REQUIRE(tr);
    trail_read(t, tr);
    size_t n = trail_count(tr, action, outcome, NULL);
    trail_release(tr);
    free(tr);
    return n;
}

/* ---- scopes (no database) --------------------------------------------------------------- */

static void test_scope_list(void **state)
{
    static const struct {
        const char *name;
        uint32_t bit;
        enum authz_permission perm;
    } want[] = {
        {"content:read", AUTH_SCOPE_CONTENT_READ, AUTHZ_CONTENT_READ},
        {"drafts:write", AUTH_SCOPE_DRAFTS_WRITE, AUTHZ_DRAFT_EDIT},
        {"drafts:review", AUTH_SCOPE_DRAFTS_REVIEW, AUTHZ_DRAFT_REVIEW},
        {"entries:publish", AUTH_SCOPE_ENTRIES_PUBLISH, AUTHZ_PUBLISH},
        {"integrations:write", AUTH_SCOPE_INTEGRATIONS_WRITE, AUTHZ_INTEGRATIONS_MANAGE},
        {"members:write", AUTH_SCOPE_MEMBERS_WRITE, AUTHZ_MEMBERS_MANAGE},
        {"content:export", AUTH_SCOPE_CONTENT_EXPORT, AUTHZ_CONTENT_EXPORT},
        {"keys:write", AUTH_SCOPE_KEYS_WRITE, AUTHZ_UNSET},
        {"audit:read", AUTH_SCOPE_AUDIT_READ, AUTHZ_AUDIT_EXPORT},
    };
    assert_int_equal(sizeof want / sizeof want[0], AUTH_SCOPE_COUNT);
    for (size_t i = 0; i < AUTH_SCOPE_COUNT; i++) {
        const struct auth_scope_entry *s = auth_scope_at(i);
        assert_non_null(s);
        assert_string_equal(s->name, want[i].name);
        assert_int_equal(s->bit, want[i].bit);
        assert_int_equal(s->grants, want[i].perm);
        assert_non_null(s->description);
        uint32_t bit = 0;
        assert_int_equal(auth_scope_parse(str_from_cstr(want[i].name), &bit), ERR_OK);
        assert_int_equal(bit, want[i].bit);
    }
    assert_null(auth_scope_at(AUTH_SCOPE_COUNT));
    uint32_t bit = 7;
    assert_int_equal(auth_scope_parse(STR_LIT("Content:Read"), &bit), ERR_INVALID);
    assert_int_equal(bit, 0);
    assert_int_equal(auth_scope_parse(STR_LIT("tenant:manage"), &bit), ERR_INVALID);
    assert_int_equal(auth_scope_parse(STR_LIT(""), &bit), ERR_INVALID);

    /* lists: spaces and commas, repeats, empty */
    uint32_t set = 0;
    const char *reason = NULL;
    assert_int_equal(auth_scopes_parse(STR_LIT(""), &set, &reason), ERR_OK);
    assert_int_equal(set, 0);
    assert_int_equal(
        auth_scopes_parse(STR_LIT(" drafts:write,content:read  drafts:write, "), &set, &reason),
        ERR_OK);
    assert_int_equal(set, AUTH_SCOPE_DRAFTS_WRITE | AUTH_SCOPE_CONTENT_READ);
    set = 99;
    assert_int_equal(auth_scopes_parse(STR_LIT("content:read admin"), &set, &reason), ERR_INVALID);
    assert_int_equal(set, 0);
    assert_string_equal(reason, "unknown scope");
    assert_int_equal(auth_scopes_parse(STR_LIT("content:read\tdrafts:write"), &set, NULL),
                     ERR_INVALID);

    char text[AUTH_MAX_SCOPES_TEXT + 1];
    auth_scopes_format(AUTH_SCOPES_ALL, text);
    assert_string_equal(text, "content:read drafts:write drafts:review entries:publish "
                              "integrations:write members:write content:export keys:write "
                              "audit:read");
    assert_int_equal(auth_scopes_parse(str_from_cstr(text), &set, NULL), ERR_OK);
    assert_int_equal(set, AUTH_SCOPES_ALL);
    auth_scopes_format(0, text);
    assert_string_equal(text, "");
    auth_scopes_format(AUTH_SCOPE_AUDIT_READ | AUTH_SCOPE_CONTENT_READ | (1u << 20), text);
    assert_string_equal(text, "content:read audit:read");

    /* the scope list text limit: at it, and one byte past it */
    char big[AUTH_MAX_SCOPES_TEXT + 2];
    memset(big, ' ', sizeof big);
    memcpy(big, "content:read", 12);
    memcpy(big + AUTH_MAX_SCOPES_TEXT - 10, "keys:write", 10);
    assert_int_equal(auth_scopes_parse(str_from(big, AUTH_MAX_SCOPES_TEXT), &set, &reason), ERR_OK);
    assert_int_equal(set, AUTH_SCOPE_CONTENT_READ | AUTH_SCOPE_KEYS_WRITE);
    assert_int_equal(auth_scopes_parse(str_from(big, AUTH_MAX_SCOPES_TEXT + 1), &set, &reason),
                     ERR_LIMIT);
    assert_int_equal(set, 0);
    assert_string_equal(reason, "scope list too long");
}

static void test_scopes_by_role(void **state)
{
    const uint32_t member = AUTH_SCOPE_CONTENT_READ | AUTH_SCOPE_KEYS_WRITE;
    const uint32_t editor = member | AUTH_SCOPE_DRAFTS_WRITE;
    const uint32_t admin = editor | AUTH_SCOPE_DRAFTS_REVIEW | AUTH_SCOPE_ENTRIES_PUBLISH |
                           AUTH_SCOPE_INTEGRATIONS_WRITE | AUTH_SCOPE_MEMBERS_WRITE |
                           AUTH_SCOPE_CONTENT_EXPORT;
    assert_int_equal(auth_scopes_allowed(AUTHZ_ROLE_NONE), 0);
    assert_int_equal(auth_scopes_allowed(AUTHZ_ROLE_MEMBER), member);
    assert_int_equal(auth_scopes_allowed(AUTHZ_ROLE_EDITOR), editor);
    assert_int_equal(auth_scopes_allowed(AUTHZ_ROLE_ADMIN), admin);
    assert_int_equal(auth_scopes_allowed(AUTHZ_ROLE_SUPER_ADMIN), AUTH_SCOPES_ALL);
    assert_int_equal(auth_scopes_allowed((enum authz_role)99), 0);

    /* a Super Admin's key with every scope still never reaches account or tenant management */
    struct auth_key_principal p = {.scopes = AUTH_SCOPES_ALL, .role = AUTHZ_ROLE_SUPER_ADMIN};
    assert_true(auth_key_allows(&p, AUTHZ_PUBLIC));
    assert_false(auth_key_allows(&p, AUTHZ_ACCOUNT));
    assert_false(auth_key_allows(&p, AUTHZ_TENANT_MANAGE));
    assert_false(auth_key_allows(&p, AUTHZ_UNSET));
    assert_false(auth_key_allows(&p, AUTHZ_PERMISSION_COUNT_));
    assert_false(auth_key_allows(&p, (enum authz_permission) - 1));
    for (size_t i = 0; i < AUTH_SCOPE_COUNT; i++) {
        const struct auth_scope_entry *s = auth_scope_at(i);
        if (s->grants != AUTHZ_UNSET)
            assert_true(auth_key_allows(&p, s->grants));
        assert_true(auth_key_has_scope(&p, s->bit));
    }
    assert_false(auth_key_has_scope(&p, 0));
    assert_false(auth_key_has_scope(&p, AUTH_SCOPE_CONTENT_READ | AUTH_SCOPE_DRAFTS_WRITE));
    assert_false(auth_key_has_scope(&p, 1u << 20));

    /* Z3: the same scopes under a Member's role */
    p.role = AUTHZ_ROLE_MEMBER;
    assert_int_equal(auth_key_effective_scopes(&p), member);
    assert_true(auth_key_allows(&p, AUTHZ_CONTENT_READ));
    assert_false(auth_key_allows(&p, AUTHZ_DRAFT_EDIT));
    assert_false(auth_key_allows(&p, AUTHZ_AUDIT_EXPORT));
    assert_true(auth_key_has_scope(&p, AUTH_SCOPE_KEYS_WRITE));
    assert_false(auth_key_has_scope(&p, AUTH_SCOPE_MEMBERS_WRITE));
    /* no role at all: nothing but public */
    p.role = AUTHZ_ROLE_NONE;
    assert_int_equal(auth_key_effective_scopes(&p), 0);
    assert_false(auth_key_allows(&p, AUTHZ_CONTENT_READ));
    assert_true(auth_key_allows(&p, AUTHZ_PUBLIC));
    assert_false(auth_key_allows(NULL, AUTHZ_PUBLIC));
    /* a key without a scope gets nothing from a high role */
    p = (struct auth_key_principal){.scopes = AUTH_SCOPE_CONTENT_READ,
                                    .role = AUTHZ_ROLE_SUPER_ADMIN};
    assert_false(auth_key_allows(&p, AUTHZ_DRAFT_EDIT));
    assert_false(auth_key_allows(&p, AUTHZ_AUDIT_EXPORT));

    assert_true(auth_key_text_is_key(STR_LIT("shk_x")));
    assert_false(auth_key_text_is_key(STR_LIT("eyJhbGciOiJFZERTQSJ9.e30.sig")));
    assert_false(auth_key_text_is_key(STR_LIT("shk")));
    assert_false(auth_key_text_is_key(STR_NULL));
}

/* ---- create, authenticate, list ------------------------------------------------------------ */

static void test_create_authenticate_list(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char admin[AUTH_USER_ID_LEN + 1];
    new_user(&t, "admin", true, admin);
    struct auth_actor who = user_actor(admin, AUTHZ_ROLE_ADMIN);
    struct auth_key_created k = create_ok(
        &t, &who, "CI deploys", AUTH_SCOPE_CONTENT_READ | AUTH_SCOPE_DRAFTS_WRITE, T0 + 86400, T0);

    /* the text: shk_<tenant>.<43 base64url>, and the prefix from its random part */
    assert_int_equal(strlen(k.text), AUTH_KEY_TEXT_LEN);
    assert_memory_equal(k.text, "shk_", 4);
    assert_memory_equal(k.text + 4, t.id, STORAGE_TENANT_ID_LEN);
    assert_int_equal(k.text[4 + STORAGE_TENANT_ID_LEN], '.');
    const char *rnd = random_part(&k);
    assert_int_equal(strlen(rnd), 43);
    assert_int_equal(
        strspn(rnd, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    assert_int_equal(strlen(k.prefix), AUTH_KEY_PREFIX_LEN);
    assert_memory_equal(k.prefix, "shk_", 4);
    assert_memory_equal(k.prefix + 4, rnd, 8);
    assert_true(str_is_uuid(str_from_cstr(k.id)));
    assert_int_equal(k.scopes, AUTH_SCOPE_CONTENT_READ | AUTH_SCOPE_DRAFTS_WRITE);
    assert_int_equal(k.expires_at, T0 + 86400);
    assert_int_equal(k.refused, 0);

    /* two keys never share text, id or prefix (with overwhelming probability) */
    struct auth_key_created k2 = create_ok(&t, &who, "second", 0, 0, T0);
    assert_string_not_equal(k.text, k2.text);
    assert_string_not_equal(k.id, k2.id);
    assert_string_not_equal(k.prefix, k2.prefix);

    struct auth_key_principal p;
    authn_ok(k.text, T0 + 10, &p);
    assert_string_equal(p.tenant.id, t.id);
    assert_string_equal(p.key_id, k.id);
    assert_string_equal(p.created_by, admin);
    assert_string_equal(p.prefix, k.prefix);
    assert_int_equal(p.scopes, k.scopes);
    assert_int_equal(p.role, AUTHZ_ROLE_ADMIN);
    assert_int_equal(p.expires_at, T0 + 86400);
    assert_true(auth_key_allows(&p, AUTHZ_CONTENT_READ));
    assert_true(auth_key_allows(&p, AUTHZ_DRAFT_EDIT));
    assert_false(auth_key_allows(&p, AUTHZ_PUBLISH)); /* the role holds it, the key does not */
    assert_false(auth_key_allows(&p, AUTHZ_ACCOUNT));
    assert_false(auth_key_has_scope(&p, AUTH_SCOPE_KEYS_WRITE));

    /* list: every field, newest first, never the text or the hash */
    struct auth_key_info v[AUTH_MAX_KEYS_PER_TENANT];
    size_t n = 0;
    assert_int_equal(auth_key_list(S.s, &t, NULL, v, AUTH_MAX_KEYS_PER_TENANT, &n), ERR_OK);
    assert_int_equal(n, 2);
    const struct auth_key_info *i = find_info(v, n, k.id);
    REQUIRE(i);
    assert_string_equal(i->name, "CI deploys");
    assert_string_equal(i->prefix, k.prefix);
    assert_int_equal(i->scopes, k.scopes);
    assert_int_equal(i->created_at, T0);
    assert_string_equal(i->created_by, admin);
    assert_string_equal(i->parent_id, "");
    assert_int_equal(i->expires_at, T0 + 86400);
    assert_int_equal(i->last_used_at, T0 + 10);
    assert_int_equal(i->revoked_at, 0);
    i = find_info(v, n, k2.id);
    REQUIRE(i);
    assert_int_equal(i->expires_at, 0);
    assert_int_equal(i->last_used_at, 0);
    /* cap: fewer entries than keys */
    assert_int_equal(auth_key_list(S.s, &t, NULL, v, 1, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(auth_key_list(S.s, &t, NULL, v, 0, &n), ERR_OK);
    assert_int_equal(n, 0);
    /* by creator */
    char other[AUTH_USER_ID_LEN + 1];
    new_user(&t, "super_admin", true, other);
    assert_int_equal(auth_key_list(S.s, &t, other, v, AUTH_MAX_KEYS_PER_TENANT, &n), ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(auth_key_list(S.s, &t, admin, v, AUTH_MAX_KEYS_PER_TENANT, &n), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(auth_key_list(S.s, &t, "not-a-uuid", v, AUTH_MAX_KEYS_PER_TENANT, &n),
                     ERR_INVALID);

    /* audit: apikey.created by the user, target the key, scopes in the details */
    struct trail *tr = malloc(sizeof *tr);
    REQUIRE(tr);
    trail_read(&t, tr);
    char target[64];
    snprintf(target, sizeof target, "apikey:%s", k.id);
    assert_int_equal(trail_count(tr, "apikey.created", "success", target), 1);
    for (size_t j = 0; j < tr->n; j++) {
        if (strcmp(tr->ev[j].target, target) == 0) {
            assert_string_equal(tr->ev[j].actor_type, "user");
            assert_string_equal(tr->ev[j].actor_id, admin);
            assert_string_equal(tr->ev[j].client_ip, "192.0.2.7");
            assert_non_null(strstr(tr->ev[j].details, "\"scopes\":\"content:read drafts:write\""));
            assert_non_null(strstr(tr->ev[j].details, "\"name\":\"CI deploys\""));
            assert_non_null(strstr(tr->ev[j].details, k.prefix));
        }
    }
    /* the newest event is the second key's */
    const struct ev *ev = trail_last(tr, "apikey.created", "success");
    REQUIRE(ev);
    snprintf(target, sizeof target, "apikey:%s", k2.id);
    assert_string_equal(ev->target, target);
    trail_release(tr);
    free(tr);
    auth_key_created_wipe(&k);
    static const struct auth_key_created zero;
    assert_memory_equal(&k, &zero, sizeof k);
}

/* The stored row holds the hash of the whole text and nothing of the text itself. */
static void test_shown_once(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "editor", true, user);
    struct auth_actor who = user_actor(user, AUTHZ_ROLE_EDITOR);
    struct auth_key_created k = create_ok(&t, &who, "once", 0, 0, T0);
    const char *rnd = random_part(&k);

    unsigned char h[SHA256_LEN];
    sha256(k.text, strlen(k.text), h);
    char hex[2 * SHA256_LEN + 1];
    hex_encode(h, sizeof h, hex);

    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &t, TX_READ, &tx), ERR_OK);
    struct stmt *st = NULL;
    assert_int_equal(tx_prepare(tx,
                                "SELECT CAST(id AS text), hash, prefix, name, CAST(scopes AS text),"
                                " CAST(created_by AS text), CAST(created_at AS text)"
                                " FROM api_keys WHERE tenant_id = $1",
                                &st),
                     ERR_OK);
    bool row = false;
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_true(row);
    assert_true(str_eq_cstr(stmt_col_text(st, 1), hex));
    for (int c = 0; c < (int)stmt_column_count(st); c++) {
        struct str v = stmt_col_text(st, c);
        /* no column holds the random part past the visible prefix, nor the text */
        assert_null(memmem(v.ptr, v.len, rnd + 8, 8));
        assert_null(memmem(v.ptr, v.len, rnd, 43));
    }
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_false(row);
    stmt_finish(st);
    storage_rollback(tx);

    /* the list holds nothing of it either */
    struct auth_key_info v[4];
    size_t n = 0;
    assert_int_equal(auth_key_list(S.s, &t, NULL, v, 4, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_null(memmem(v, sizeof v[0] * n, rnd + 8, 8));
    assert_null(memmem(v, sizeof v[0] * n, hex, 16));

    /* the audit trail neither */
    struct trail *tr = malloc(sizeof *tr);
    REQUIRE(tr);
    trail_read(&t, tr);
    assert_int_equal(trail_count(tr, "apikey.created", "success", NULL), 1);
    assert_null(strstr(tr->raw, rnd + 8));
    assert_null(strstr(tr->raw, hex));
    trail_release(tr);
    free(tr);
}

static void test_default_scope(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char sa[AUTH_USER_ID_LEN + 1], member[AUTH_USER_ID_LEN + 1];
    new_user(&t, "super_admin", true, sa);
    new_user(&t, "member", true, member);
    /* not even a Super Admin's key gets more than content:read unasked */
    struct auth_actor who = user_actor(sa, AUTHZ_ROLE_SUPER_ADMIN);
    struct auth_key_created k = create_ok(&t, &who, "default", 0, 0, T0);
    assert_int_equal(k.scopes, AUTH_SCOPES_DEFAULT);
    assert_int_equal(AUTH_SCOPES_DEFAULT, AUTH_SCOPE_CONTENT_READ);
    struct auth_key_principal p;
    authn_ok(k.text, T0, &p);
    assert_int_equal(p.scopes, AUTH_SCOPE_CONTENT_READ);
    assert_true(auth_key_allows(&p, AUTHZ_CONTENT_READ));
    for (int perm = AUTHZ_DRAFT_EDIT; perm < AUTHZ_PERMISSION_COUNT_; perm++)
        assert_false(auth_key_allows(&p, (enum authz_permission)perm));
    assert_int_equal(info_of(&t, k.id).scopes, AUTH_SCOPE_CONTENT_READ);
    /* a Member gets it too */
    who = user_actor(member, AUTHZ_ROLE_MEMBER);
    k = create_ok(&t, &who, "member default", 0, 0, T0);
    assert_int_equal(k.scopes, AUTH_SCOPE_CONTENT_READ);
}

/* ---- refusals by role --------------------------------------------------------------------------
 */

static void test_scope_refusals_by_role(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char member[AUTH_USER_ID_LEN + 1], editor[AUTH_USER_ID_LEN + 1], admin[AUTH_USER_ID_LEN + 1],
        sa[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, member);
    new_user(&t, "editor", true, editor);
    new_user(&t, "admin", true, admin);
    new_user(&t, "super_admin", true, sa);
    struct auth_key_created k;
    const char *reason = NULL;

    /* a Member cannot create a key with drafts:write */
    struct auth_actor who = user_actor(member, AUTHZ_ROLE_MEMBER);
    assert_int_equal(
        create_err(&t, &who, AUTH_SCOPE_DRAFTS_WRITE | AUTH_SCOPE_CONTENT_READ, 0, T0, &k, &reason),
        ERR_FORBIDDEN);
    assert_string_equal(reason, "a requested scope is beyond your role");
    assert_int_equal(k.refused, AUTH_SCOPE_DRAFTS_WRITE);
    assert_string_equal(k.text, "");
    assert_string_equal(k.id, "");
    assert_int_equal(keys_of(&t), 0);
    /* the refusal is audited (Z2), with what was refused */
    struct trail *tr = malloc(sizeof *tr);
    REQUIRE(tr);
    trail_read(&t, tr);
    const struct ev *ev = trail_last(tr, "apikey.created", "denied");
    REQUIRE(ev);
    assert_string_equal(ev->actor_type, "user");
    assert_string_equal(ev->actor_id, member);
    assert_non_null(strstr(ev->details, "\"refused\":\"drafts:write\""));
    assert_non_null(strstr(ev->details, "\"scopes\":\"content:read drafts:write\""));
    trail_release(tr);
    free(tr);
    /* keys:write is any role's (a user's own keys) */
    create_ok(&t, &who, "member keys", AUTH_SCOPE_KEYS_WRITE | AUTH_SCOPE_CONTENT_READ, 0, T0);

    /* an Editor: drafts:write yes, drafts:review no */
    who = user_actor(editor, AUTHZ_ROLE_EDITOR);
    create_ok(&t, &who, "editor", AUTH_SCOPE_DRAFTS_WRITE, 0, T0);
    assert_int_equal(create_err(&t, &who, AUTH_SCOPE_DRAFTS_REVIEW, 0, T0, &k, &reason),
                     ERR_FORBIDDEN);
    assert_int_equal(k.refused, AUTH_SCOPE_DRAFTS_REVIEW);

    /* an Admin cannot create audit:read, but everything an Admin holds */
    who = user_actor(admin, AUTHZ_ROLE_ADMIN);
    assert_int_equal(create_err(&t, &who, AUTH_SCOPE_AUDIT_READ, 0, T0, &k, &reason),
                     ERR_FORBIDDEN);
    assert_int_equal(k.refused, AUTH_SCOPE_AUDIT_READ);
    assert_int_equal(create_err(&t, &who, AUTH_SCOPES_ALL, 0, T0, &k, &reason), ERR_FORBIDDEN);
    assert_int_equal(k.refused, AUTH_SCOPE_AUDIT_READ);
    create_ok(&t, &who, "admin", AUTH_SCOPES_ALL & ~AUTH_SCOPE_AUDIT_READ, 0, T0);

    /* a Super Admin may have all of them */
    who = user_actor(sa, AUTHZ_ROLE_SUPER_ADMIN);
    create_ok(&t, &who, "everything", AUTH_SCOPES_ALL, 0, T0);

    /* the stored role counts, not the caller's claim: a session still saying Admin after a
     * demotion to Member gets a Member's scopes only */
    set_role(&t, admin, "member");
    who = user_actor(admin, AUTHZ_ROLE_ADMIN);
    assert_int_equal(create_err(&t, &who, AUTH_SCOPE_DRAFTS_WRITE, 0, T0, &k, &reason),
                     ERR_FORBIDDEN);
    /* and a claim below the stored role is the limit (a caller may act with less) */
    who = user_actor(sa, AUTHZ_ROLE_EDITOR);
    assert_int_equal(create_err(&t, &who, AUTH_SCOPE_CONTENT_EXPORT, 0, T0, &k, &reason),
                     ERR_FORBIDDEN);
    who = user_actor(sa, AUTHZ_ROLE_NONE);
    assert_int_equal(create_err(&t, &who, 0, 0, T0, &k, &reason), ERR_UNAUTHENTICATED);

    /* an unverified user: refused with a reason (and audited); an unknown one: not signed in */
    char unverified[AUTH_USER_ID_LEN + 1], ghost[AUTH_USER_ID_LEN + 1];
    new_user(&t, "admin", false, unverified);
    who = user_actor(unverified, AUTHZ_ROLE_ADMIN);
    assert_int_equal(create_err(&t, &who, 0, 0, T0, &k, &reason), ERR_FORBIDDEN);
    assert_string_equal(reason, "verify your e-mail address first");
    testdb_random_uuid(ghost);
    who = user_actor(ghost, AUTHZ_ROLE_ADMIN);
    assert_int_equal(create_err(&t, &who, 0, 0, T0, &k, &reason), ERR_UNAUTHENTICATED);
    /* a user of another tenant is unknown here */
    struct tenant_ctx u;
    new_tenant(&u);
    char foreign[AUTH_USER_ID_LEN + 1];
    new_user(&u, "super_admin", true, foreign);
    who = user_actor(foreign, AUTHZ_ROLE_SUPER_ADMIN);
    assert_int_equal(create_err(&t, &who, 0, 0, T0, &k, &reason), ERR_UNAUTHENTICATED);

    assert_int_equal(keys_of(&t), 4);
    /* denials: member, editor, admin x2, demoted admin, sa-as-editor, unverified */
    assert_int_equal(audit_count(&t, "apikey.created", "denied"), 7);
    assert_int_equal(audit_count(&t, "apikey.created", "success"), 4);
}

/* ---- a key creating keys
 * --------------------------------------------------------------------------- */

static void test_key_creates_key(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char admin[AUTH_USER_ID_LEN + 1];
    new_user(&t, "admin", true, admin);
    struct auth_actor who = user_actor(admin, AUTHZ_ROLE_ADMIN);
    struct auth_key_created k1 = create_ok(
        &t, &who, "provisioner",
        AUTH_SCOPE_CONTENT_READ | AUTH_SCOPE_DRAFTS_WRITE | AUTH_SCOPE_KEYS_WRITE, T0 + 1000, T0);
    struct auth_key_created plain =
        create_ok(&t, &who, "plain", AUTH_SCOPE_CONTENT_READ | AUTH_SCOPE_DRAFTS_WRITE, 0, T0);
    struct auth_key_principal p1, pp;
    authn_ok(k1.text, T0 + 1, &p1);
    authn_ok(plain.text, T0 + 1, &pp);
    assert_true(auth_key_has_scope(&p1, AUTH_SCOPE_KEYS_WRITE));

    /* within its own scopes: yes, for the same user, remembering its parent */
    struct auth_actor kw = key_actor(&p1);
    struct auth_key_created k2 =
        create_ok(&t, &kw, "child", AUTH_SCOPE_CONTENT_READ, T0 + 500, T0 + 2);
    struct auth_key_info i2 = info_of(&t, k2.id);
    assert_string_equal(i2.created_by, admin);
    assert_string_equal(i2.parent_id, k1.id);
    assert_int_equal(i2.expires_at, T0 + 500);
    /* no expiry asked: it inherits its maker's */
    struct auth_key_created k3 = create_ok(&t, &kw, "inherits", 0, 0, T0 + 2);
    assert_int_equal(k3.expires_at, T0 + 1000);
    assert_int_equal(k3.scopes, AUTH_SCOPE_CONTENT_READ);
    assert_int_equal(info_of(&t, k3.id).expires_at, T0 + 1000);

    struct auth_key_created k;
    const char *reason = NULL;
    /* never wider than itself: entries:publish is the Admin's, not the key's */
    assert_int_equal(create_err(&t, &kw, AUTH_SCOPE_ENTRIES_PUBLISH | AUTH_SCOPE_CONTENT_READ, 0,
                                T0 + 2, &k, &reason),
                     ERR_FORBIDDEN);
    assert_int_equal(k.refused, AUTH_SCOPE_ENTRIES_PUBLISH);
    assert_string_equal(reason, "a key cannot create a key with a scope it does not hold");
    /* nor longer-lived */
    assert_int_equal(create_err(&t, &kw, AUTH_SCOPE_CONTENT_READ, T0 + 1001, T0 + 2, &k, &reason),
                     ERR_FORBIDDEN);
    assert_string_equal(reason, "a key cannot create a key that outlives it");
    /* a key without keys:write creates nothing, not even content:read */
    struct auth_actor pw = key_actor(&pp);
    assert_int_equal(create_err(&t, &pw, AUTH_SCOPE_CONTENT_READ, 0, T0 + 2, &k, &reason),
                     ERR_FORBIDDEN);
    assert_string_equal(reason, "this key may not create keys (it lacks keys:write)");
    assert_int_equal(keys_of(&t), 4);

    /* audit: the acting key is the actor, on behalf of its creator */
    struct trail *tr = malloc(sizeof *tr);
    REQUIRE(tr);
    trail_read(&t, tr);
    char target[64];
    snprintf(target, sizeof target, "apikey:%s", k2.id);
    assert_int_equal(trail_count(tr, "apikey.created", "success", target), 1);
    for (size_t i = 0; i < tr->n; i++) {
        if (strcmp(tr->ev[i].target, target) == 0) {
            assert_string_equal(tr->ev[i].actor_type, "api_key");
            assert_string_equal(tr->ev[i].actor_id, k1.id);
            assert_non_null(strstr(tr->ev[i].details, admin));
            assert_non_null(strstr(tr->ev[i].details, "on_behalf_of"));
        }
    }
    const struct ev *ev = trail_last(tr, "apikey.created", "denied");
    REQUIRE(ev);
    assert_string_equal(ev->actor_type, "api_key");
    assert_string_equal(ev->actor_id, plain.id);
    assert_int_equal(trail_count(tr, "apikey.created", "denied", NULL), 3);
    trail_release(tr);
    free(tr);

    /* Z3 for the maker: demote the Admin to Member and the key's drafts:write is gone, so it
     * cannot hand it out, even through a principal authenticated before the demotion */
    set_role(&t, admin, "member");
    assert_int_equal(create_err(&t, &kw, AUTH_SCOPE_DRAFTS_WRITE, 0, T0 + 3, &k, &reason),
                     ERR_FORBIDDEN);
    assert_int_equal(k.refused, AUTH_SCOPE_DRAFTS_WRITE);
    create_ok(&t, &kw, "still read", AUTH_SCOPE_CONTENT_READ, 0, T0 + 3);
    set_role(&t, admin, "admin");

    /* a revoked or expired key creates nothing */
    assert_int_equal(create_err(&t, &kw, 0, 0, T0 + 1000, &k, &reason), ERR_UNAUTHENTICATED);
    struct auth_actor self = user_actor(admin, AUTHZ_ROLE_ADMIN);
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(k1.id), &self, T0 + 4, &client, NULL),
                     ERR_OK);
    assert_int_equal(create_err(&t, &kw, 0, 0, T0 + 5, &k, &reason), ERR_UNAUTHENTICATED);
    /* a principal of another tenant is a caller's mistake */
    struct tenant_ctx u;
    new_tenant(&u);
    struct auth_key_principal forged = pp;
    assert_int_equal(
        create_err(&u, &(struct auth_actor){.key = &forged}, 0, 0, T0 + 5, &k, &reason),
        ERR_INVALID);
    assert_int_equal(keys_of(&u), 0);
}

/* ---- Z3: the creator's current role
 * ----------------------------------------------------------------- */

static void test_creator_role_changes(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char admin[AUTH_USER_ID_LEN + 1];
    new_user(&t, "admin", true, admin);
    struct auth_actor who = user_actor(admin, AUTHZ_ROLE_ADMIN);
    struct auth_key_created k = create_ok(
        &t, &who, "z3",
        AUTH_SCOPE_CONTENT_READ | AUTH_SCOPE_DRAFTS_WRITE | AUTH_SCOPE_ENTRIES_PUBLISH, 0, T0);
    struct auth_key_principal p;
    authn_ok(k.text, T0, &p);
    assert_true(auth_key_allows(&p, AUTHZ_PUBLISH));
    assert_true(auth_key_allows(&p, AUTHZ_DRAFT_EDIT));

    set_role(&t, admin, "editor");
    authn_ok(k.text, T0 + 1, &p);
    assert_int_equal(p.role, AUTHZ_ROLE_EDITOR);
    assert_false(auth_key_allows(&p, AUTHZ_PUBLISH));
    assert_true(auth_key_allows(&p, AUTHZ_DRAFT_EDIT));
    assert_true(auth_key_allows(&p, AUTHZ_CONTENT_READ));

    set_role(&t, admin, "member");
    authn_ok(k.text, T0 + 2, &p);
    assert_false(auth_key_allows(&p, AUTHZ_PUBLISH));
    assert_false(auth_key_allows(&p, AUTHZ_DRAFT_EDIT));
    assert_true(auth_key_allows(&p, AUTHZ_CONTENT_READ));
    assert_int_equal(auth_key_effective_scopes(&p), AUTH_SCOPE_CONTENT_READ);
    assert_int_equal(p.scopes, k.scopes); /* the grant itself is unchanged */

    /* promoted again: the scopes come back, and promotion never adds what was not granted */
    set_role(&t, admin, "super_admin");
    authn_ok(k.text, T0 + 3, &p);
    assert_true(auth_key_allows(&p, AUTHZ_PUBLISH));
    assert_false(auth_key_allows(&p, AUTHZ_AUDIT_EXPORT));
    assert_false(auth_key_allows(&p, AUTHZ_MEMBERS_MANAGE));
}

static void test_removed_or_unverified_creator(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char a[AUTH_USER_ID_LEN + 1], b[AUTH_USER_ID_LEN + 1];
    new_user(&t, "editor", true, a);
    new_user(&t, "editor", true, b);
    struct auth_actor wa = user_actor(a, AUTHZ_ROLE_EDITOR), wb = user_actor(b, AUTHZ_ROLE_EDITOR);
    struct auth_key_created ka = create_ok(&t, &wa, "a", 0, 0, T0);
    struct auth_key_created kb = create_ok(&t, &wb, "b", 0, 0, T0);
    struct auth_key_principal p;
    authn_ok(ka.text, T0, &p);
    authn_ok(kb.text, T0, &p);

    /* removed: the key goes with the user, and does not authenticate */
    const char *args[] = {a};
    uint64_t n = 0;
    exec_in(&t, "DELETE FROM users WHERE tenant_id = $1 AND id = $2", 1, args, &n);
    assert_int_equal(n, 1);
    authn_refused(str_from_cstr(ka.text), T0 + 1);
    assert_int_equal(keys_of(&t), 1);

    /* no longer verified (the closest the users table has to disabled): refused */
    exec_in(&t, "UPDATE users SET email_verified_at = NULL WHERE tenant_id = $1 AND id = $2", 1,
            (const char *const[]){b}, &n);
    assert_int_equal(n, 1);
    authn_refused(str_from_cstr(kb.text), T0 + 1);
    exec_in(&t, "UPDATE users SET email_verified_at = 5 WHERE tenant_id = $1 AND id = $2", 1,
            (const char *const[]){b}, &n);
    authn_ok(kb.text, T0 + 2, &p);
}

/* ---- expiry, revocation, tampering
 * --------------------------------------------------------------------- */

static void test_expiry(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    struct auth_actor who = user_actor(user, AUTHZ_ROLE_MEMBER);
    struct auth_key_created k = create_ok(&t, &who, "short", 0, T0 + 100, T0);
    struct auth_key_principal p;
    authn_ok(k.text, T0 + 99, &p);
    authn_refused(str_from_cstr(k.text), T0 + 100);
    authn_refused(str_from_cstr(k.text), T0 + 100000);
    /* no expiry: works far later */
    struct auth_key_created forever = create_ok(&t, &who, "forever", 0, 0, T0);
    authn_ok(forever.text, T0 + 10 * AUTH_MAX_KEY_LIFETIME_S, &p);

    /* the expiry's own limits */
    const char *reason = NULL;
    struct auth_key_created x;
    assert_int_equal(create_err(&t, &who, 0, T0, T0, &x, &reason), ERR_INVALID);
    assert_string_equal(reason, "expiry must be in the future");
    assert_int_equal(create_err(&t, &who, 0, T0 - 1, T0, &x, &reason), ERR_INVALID);
    assert_int_equal(create_err(&t, &who, 0, -5, T0, &x, &reason), ERR_INVALID);
    create_ok(&t, &who, "a year", 0, T0 + AUTH_MAX_KEY_LIFETIME_S, T0);
    assert_int_equal(create_err(&t, &who, 0, T0 + AUTH_MAX_KEY_LIFETIME_S + 1, T0, &x, &reason),
                     ERR_LIMIT);
    assert_string_equal(reason, "expiry too far in the future");
    assert_int_equal(keys_of(&t), 3);
}

static void test_revoke(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char ed1[AUTH_USER_ID_LEN + 1], ed2[AUTH_USER_ID_LEN + 1], admin[AUTH_USER_ID_LEN + 1];
    new_user(&t, "editor", true, ed1);
    new_user(&t, "editor", true, ed2);
    new_user(&t, "admin", true, admin);
    struct auth_actor w1 = user_actor(ed1, AUTHZ_ROLE_EDITOR),
                      w2 = user_actor(ed2, AUTHZ_ROLE_EDITOR),
                      wa = user_actor(admin, AUTHZ_ROLE_ADMIN);
    struct auth_key_created k = create_ok(&t, &w1, "mine", 0, 0, T0);
    struct auth_key_principal p;
    authn_ok(k.text, T0, &p);

    /* another Editor may not; the refusal is audited and changes nothing */
    const char *reason = NULL;
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(k.id), &w2, T0 + 1, &client, &reason),
                     ERR_FORBIDDEN);
    assert_string_equal(reason, "only the key's creator or an admin may revoke it");
    authn_ok(k.text, T0 + 1, &p);
    assert_int_equal(audit_count(&t, "apikey.revoked", "denied"), 1);

    /* its creator may */
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(k.id), &w1, T0 + 2, &client, &reason),
                     ERR_OK);
    assert_null(reason);
    authn_refused(str_from_cstr(k.text), T0 + 3);
    assert_int_equal(info_of(&t, k.id).revoked_at, T0 + 2);
    assert_int_equal(audit_count(&t, "apikey.revoked", "success"), 1);
    /* again: nothing to do, nothing recorded */
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(k.id), &w1, T0 + 4, &client, &reason),
                     ERR_OK);
    assert_int_equal(info_of(&t, k.id).revoked_at, T0 + 2);
    assert_int_equal(audit_count(&t, "apikey.revoked", "success"), 1);

    /* an Admin may revoke anyone's */
    struct auth_key_created k2 = create_ok(&t, &w2, "theirs", 0, 0, T0);
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(k2.id), &wa, T0 + 5, &client, NULL),
                     ERR_OK);
    authn_refused(str_from_cstr(k2.text), T0 + 5);

    /* a key revoking: needs keys:write; its creator's keys only, unless members:write as Admin */
    struct auth_key_created kw =
        create_ok(&t, &w1, "rotator", AUTH_SCOPE_KEYS_WRITE | AUTH_SCOPE_CONTENT_READ, 0, T0);
    struct auth_key_created kr = create_ok(&t, &w1, "reader", 0, 0, T0);
    struct auth_key_created victim = create_ok(&t, &w1, "victim", 0, 0, T0);
    struct auth_key_created other = create_ok(&t, &w2, "other", 0, 0, T0);
    struct auth_key_principal pw, pr;
    authn_ok(kw.text, T0 + 6, &pw);
    authn_ok(kr.text, T0 + 6, &pr);
    struct auth_actor aw = key_actor(&pw), ar = key_actor(&pr);
    assert_int_equal(
        auth_key_revoke(S.s, &t, str_from_cstr(victim.id), &ar, T0 + 7, &client, &reason),
        ERR_FORBIDDEN);
    assert_string_equal(reason, "this key may not revoke keys (it lacks keys:write)");
    assert_int_equal(
        auth_key_revoke(S.s, &t, str_from_cstr(other.id), &aw, T0 + 7, &client, &reason),
        ERR_FORBIDDEN);
    authn_ok(other.text, T0 + 7, &p);
    assert_int_equal(
        auth_key_revoke(S.s, &t, str_from_cstr(victim.id), &aw, T0 + 7, &client, &reason), ERR_OK);
    authn_refused(str_from_cstr(victim.text), T0 + 8);
    struct auth_key_created akw =
        create_ok(&t, &wa, "admin rotator", AUTH_SCOPE_KEYS_WRITE | AUTH_SCOPE_CONTENT_READ, 0, T0);
    struct auth_key_created akm = create_ok(
        &t, &wa, "admin manager",
        AUTH_SCOPE_KEYS_WRITE | AUTH_SCOPE_MEMBERS_WRITE | AUTH_SCOPE_CONTENT_READ, 0, T0);
    struct auth_key_principal pakw, pakm;
    authn_ok(akw.text, T0 + 8, &pakw);
    authn_ok(akm.text, T0 + 8, &pakm);
    struct auth_actor aakw = key_actor(&pakw), aakm = key_actor(&pakm);
    assert_int_equal(
        auth_key_revoke(S.s, &t, str_from_cstr(other.id), &aakw, T0 + 9, &client, &reason),
        ERR_FORBIDDEN);
    assert_int_equal(
        auth_key_revoke(S.s, &t, str_from_cstr(other.id), &aakm, T0 + 9, &client, &reason), ERR_OK);
    authn_refused(str_from_cstr(other.text), T0 + 9);
    struct trail *tr = malloc(sizeof *tr);
    REQUIRE(tr);
    trail_read(&t, tr);
    const struct ev *ev = trail_last(tr, "apikey.revoked", "success");
    REQUIRE(ev);
    assert_string_equal(ev->actor_type, "api_key");
    assert_string_equal(ev->actor_id, akm.id);
    assert_int_equal(trail_count(tr, "apikey.revoked", "denied", NULL), 4);
    trail_release(tr);
    free(tr);

    /* unknown and malformed ids */
    char ghost[AUTH_KEY_ID_LEN + 1];
    testdb_random_uuid(ghost);
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(ghost), &wa, T0, &client, NULL),
                     ERR_NOT_FOUND);
    assert_int_equal(auth_key_revoke(S.s, &t, STR_LIT("x"), &wa, T0, &client, NULL), ERR_NOT_FOUND);
    char upper[AUTH_KEY_ID_LEN + 1];
    memcpy(upper, kw.id, sizeof upper);
    for (char *c = upper; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(upper), &wa, T0, &client, NULL),
                     ERR_NOT_FOUND);
    assert_int_equal(auth_key_revoke(S.s, &t, STR_NULL, &wa, T0, &client, NULL), ERR_NOT_FOUND);
    authn_ok(kw.text, T0 + 10, &p);
}

static void test_revoke_cascades(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "editor", true, user);
    struct auth_actor who = user_actor(user, AUTHZ_ROLE_EDITOR);
    const uint32_t kw = AUTH_SCOPE_KEYS_WRITE | AUTH_SCOPE_CONTENT_READ;
    struct auth_key_created root = create_ok(&t, &who, "root", kw, 0, T0);
    struct auth_key_principal p1, p2;
    authn_ok(root.text, T0, &p1);
    struct auth_actor a1 = key_actor(&p1);
    struct auth_key_created child = create_ok(&t, &a1, "child", kw, 0, T0 + 1);
    authn_ok(child.text, T0 + 1, &p2);
    struct auth_actor a2 = key_actor(&p2);
    struct auth_key_created grandchild = create_ok(&t, &a2, "grandchild", 0, 0, T0 + 2);
    struct auth_key_created sibling = create_ok(&t, &who, "sibling", 0, 0, T0);
    struct auth_key_principal p;
    authn_ok(grandchild.text, T0 + 3, &p);

    /* revoking the middle one takes its descendants, not its parent */
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(child.id), &who, T0 + 4, &client, NULL),
                     ERR_OK);
    authn_refused(str_from_cstr(child.text), T0 + 5);
    authn_refused(str_from_cstr(grandchild.text), T0 + 5);
    authn_ok(root.text, T0 + 5, &p);
    authn_ok(sibling.text, T0 + 5, &p);
    assert_int_equal(info_of(&t, grandchild.id).revoked_at, T0 + 4);

    struct trail *tr = malloc(sizeof *tr);
    REQUIRE(tr);
    trail_read(&t, tr);
    char target[64];
    snprintf(target, sizeof target, "apikey:%s", grandchild.id);
    assert_int_equal(trail_count(tr, "apikey.revoked", "success", target), 1);
    const struct ev *ev = trail_last(tr, "apikey.revoked", "success");
    assert_string_equal(ev->target, target);
    assert_non_null(strstr(ev->details, child.id)); /* cascade_from */
    snprintf(target, sizeof target, "apikey:%s", child.id);
    assert_int_equal(trail_count(tr, "apikey.revoked", "success", target), 1);
    trail_release(tr);
    free(tr);

    /* the root: what is left below it (nothing live) and itself */
    struct auth_key_created late = create_ok(&t, &a1, "late child", 0, 0, T0 + 6);
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(root.id), &who, T0 + 7, &client, NULL),
                     ERR_OK);
    authn_refused(str_from_cstr(late.text), T0 + 8);
    authn_ok(sibling.text, T0 + 8, &p);
    assert_int_equal(audit_count(&t, "apikey.revoked", "success"), 4);
}

static void test_tampered_texts(void **state)
{
    struct tenant_ctx t, u;
    new_tenant(&t);
    new_tenant(&u);
    char user[AUTH_USER_ID_LEN + 1], uuser[AUTH_USER_ID_LEN + 1];
    new_user(&t, "admin", true, user);
    new_user(&u, "admin", true, uuser);
    struct auth_actor who = user_actor(user, AUTHZ_ROLE_ADMIN);
    struct auth_key_created k = create_ok(&t, &who, "target", 0, 0, T0);
    struct auth_actor uwho = user_actor(uuser, AUTHZ_ROLE_ADMIN);
    create_ok(&u, &uwho, "u's", 0, 0, T0);
    struct auth_key_principal p;
    authn_ok(k.text, T0, &p);
    char x[AUTH_MAX_KEY_TEXT + 2];

    /* the tenant part swapped for another (real) tenant: not a key there */
    memcpy(x, k.text, sizeof k.text);
    memcpy(x + 4, u.id, STORAGE_TENANT_ID_LEN);
    authn_refused(str_from_cstr(x), T0);
    /* one tenant digit changed (still a valid, unknown tenant) */
    memcpy(x, k.text, sizeof k.text);
    x[4] = x[4] == '0' ? '1' : '0';
    authn_refused(str_from_cstr(x), T0);
    /* the random part changed, one character */
    memcpy(x, k.text, sizeof k.text);
    x[AUTH_KEY_TEXT_LEN - 1] = x[AUTH_KEY_TEXT_LEN - 1] == 'A' ? 'B' : 'A';
    authn_refused(str_from_cstr(x), T0);
    /* shape: prefix, case, separator, alphabet, length */
    static const struct {
        size_t at;
        char ch;
    } edits[] = {{0, 'S'},  {3, '-'},  {40, ':'}, {50, '='},
                 {60, '+'}, {70, '/'}, {9, 'A'},  {12, 'x'}};
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        memcpy(x, k.text, sizeof k.text);
        x[edits[i].at] = edits[i].ch;
        authn_refused(str_from_cstr(x), T0);
    }
    authn_refused(str_from(k.text, AUTH_KEY_TEXT_LEN - 1), T0);
    memcpy(x, k.text, sizeof k.text);
    x[AUTH_KEY_TEXT_LEN] = 'A';
    authn_refused(str_from(x, AUTH_KEY_TEXT_LEN + 1), T0);
    authn_refused(STR_LIT(""), T0);
    authn_refused(STR_NULL, T0);
    authn_refused(str_from_cstr(k.prefix), T0);
    /* the nil tenant (the directory context), with a real random part */
    memcpy(x, k.text, sizeof k.text);
    memcpy(x + 4, "00000000-0000-0000-0000-000000000000", STORAGE_TENANT_ID_LEN);
    authn_refused(str_from_cstr(x), T0);
    /* the text's hash itself is not the key */
    unsigned char h[SHA256_LEN];
    sha256(k.text, AUTH_KEY_TEXT_LEN, h);
    char hex[2 * SHA256_LEN + 1];
    hex_encode(h, sizeof h, hex);
    authn_refused(str_from_cstr(hex), T0);

    /* the length limit: at it, unauthenticated; one byte past, ERR_LIMIT before anything */
    memset(x, 'A', sizeof x);
    memcpy(x, k.text, AUTH_KEY_TEXT_LEN);
    authn_refused(str_from(x, AUTH_MAX_KEY_TEXT), T0);
    memset(&p, 0x5a, sizeof p);
    assert_int_equal(auth_key_authenticate(S.s, str_from(x, AUTH_MAX_KEY_TEXT + 1), T0, &p),
                     ERR_LIMIT);
    assert_int_equal(p.scopes, 0);
    /* the real one still works */
    authn_ok(k.text, T0, &p);
}

/* ---- tenants
 * ---------------------------------------------------------------------------------------- */

static void test_tenant_isolation(void **state)
{
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    char ua[AUTH_USER_ID_LEN + 1], ub[AUTH_USER_ID_LEN + 1];
    new_user(&a, "super_admin", true, ua);
    new_user(&b, "super_admin", true, ub);
    struct auth_actor wa = user_actor(ua, AUTHZ_ROLE_SUPER_ADMIN),
                      wb = user_actor(ub, AUTHZ_ROLE_SUPER_ADMIN);
    struct auth_key_created ka = create_ok(&a, &wa, "A's", AUTH_SCOPES_ALL, 0, T0);
    struct auth_key_created kb = create_ok(&b, &wb, "B's", AUTH_SCOPES_ALL, 0, T0);
    size_t audit_a = audit_count(&a, "apikey.created", "success");
    size_t audit_b = audit_count(&b, "apikey.created", "success");

    /* B's Super Admin revoking A's key by id: 404, nothing changes anywhere */
    const char *reason = "unset";
    assert_int_equal(auth_key_revoke(S.s, &b, str_from_cstr(ka.id), &wb, T0 + 1, &client, &reason),
                     ERR_NOT_FOUND);
    assert_null(reason);
    struct auth_key_principal p;
    authn_ok(ka.text, T0 + 2, &p);
    assert_string_equal(p.tenant.id, a.id);
    assert_int_equal(info_of(&a, ka.id).revoked_at, 0);
    assert_int_equal(audit_count(&a, "apikey.revoked", "success"), 0);
    assert_int_equal(audit_count(&b, "apikey.revoked", "denied"), 0);
    assert_int_equal(audit_count(&a, "apikey.created", "success"), audit_a);
    assert_int_equal(audit_count(&b, "apikey.created", "success"), audit_b);
    /* nor through B's key with every scope */
    struct auth_key_principal pb;
    authn_ok(kb.text, T0 + 2, &pb);
    struct auth_actor kbw = key_actor(&pb);
    assert_int_equal(auth_key_revoke(S.s, &b, str_from_cstr(ka.id), &kbw, T0 + 3, &client, NULL),
                     ERR_NOT_FOUND);
    /* a principal of B offered in A's context is refused as malformed, before anything */
    assert_int_equal(auth_key_revoke(S.s, &a, str_from_cstr(ka.id), &kbw, T0 + 3, &client, NULL),
                     ERR_INVALID);
    /* B's user acting in A's context is unknown there */
    assert_int_equal(auth_key_revoke(S.s, &a, str_from_cstr(ka.id), &wb, T0 + 3, &client, NULL),
                     ERR_UNAUTHENTICATED);
    authn_ok(ka.text, T0 + 4, &p);

    /* lists are per tenant */
    struct auth_key_info v[AUTH_MAX_KEYS_PER_TENANT];
    size_t n = 0;
    assert_int_equal(auth_key_list(S.s, &b, NULL, v, AUTH_MAX_KEYS_PER_TENANT, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, kb.id);
    assert_null(find_info(v, n, ka.id));
    assert_int_equal(auth_key_list(S.s, &b, ua, v, AUTH_MAX_KEYS_PER_TENANT, &n), ERR_OK);
    assert_int_equal(n, 0);

    if (S.pg) {
        /* a forged statement ignoring the tenant still sees only its own rows */
        const char *forged = "SELECT count(*) FROM api_keys WHERE $1::text IS NOT NULL";
        assert_int_equal(query_int(&a, forged, NULL), 1);
        assert_int_equal(query_int(&b, forged, NULL), 1);
        PGconn *c = PQconnectdb(S.app_url);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        /* without a tenant the application role sees no key at all */
        PGresult *res = PQexec(c, "SELECT count(*) FROM api_keys");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(res, 0, 0), "0");
        PQclear(res);
        /* nor can it write or change a row of another tenant while bound to B */
        assert_false(testdb_pg_as_tenant(
            S.app_url, b.id,
            "INSERT INTO api_keys (tenant_id, id, hash, prefix, name, scopes, created_by,"
            " created_at) VALUES ($1, gen_random_uuid(), repeat('0', 64), 'shk_planted1',"
            " 'planted', 511, $2, 0)",
            2, (const char *const[]){a.id, ua}, NULL));
        /* the same insert bound to its own tenant succeeds: the refusal above is RLS */
        assert_true(testdb_pg_as_tenant(
            S.app_url, a.id,
            "INSERT INTO api_keys (tenant_id, id, hash, prefix, name, scopes, created_by,"
            " created_at) VALUES ($1, gen_random_uuid(), repeat('0', 64), 'shk_planted1',"
            " 'planted', 511, $2, 0)",
            2, (const char *const[]){a.id, ua}, NULL));
        long changed = -1;
        assert_true(testdb_pg_as_tenant(S.app_url, b.id,
                                        "UPDATE api_keys SET revoked_at = 1 WHERE id = $1", 1,
                                        (const char *const[]){ka.id}, &changed));
        assert_int_equal(changed, 0);
        /* ENABLE and FORCE row-level security, both policies, no grant to PUBLIC */
        res = PQexec(c, "SELECT relrowsecurity, relforcerowsecurity FROM pg_class"
                        " WHERE relname = 'api_keys'");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_int_equal(PQntuples(res), 1);
        assert_string_equal(PQgetvalue(res, 0, 0), "t");
        assert_string_equal(PQgetvalue(res, 0, 1), "t");
        PQclear(res);
        res = PQexec(c, "SELECT count(*) FROM pg_policies WHERE tablename = 'api_keys'");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(res, 0, 0), "2");
        PQclear(res);
        res = PQexec(c, "SELECT has_table_privilege('public', 'api_keys', 'SELECT'),"
                        " has_table_privilege('shiplog_app', 'api_keys', 'DELETE'),"
                        " pg_get_userbyid(relowner) <> current_user FROM pg_class"
                        " WHERE relname = 'api_keys'");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(res, 0, 0), "f");
        assert_string_equal(PQgetvalue(res, 0, 1), "t");
        assert_string_equal(PQgetvalue(res, 0, 2), "t");
        PQclear(res);
        PQfinish(c);
        authn_ok(ka.text, T0 + 5, &p);
    }
}

/* A deleted tenant's keys go with it. */
static void test_deleted_tenant(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    struct auth_actor who = user_actor(user, AUTHZ_ROLE_MEMBER);
    struct auth_key_created k = create_ok(&t, &who, "doomed", 0, 0, T0);
    uint64_t n = 0;
    exec_in(&t, "DELETE FROM tenants WHERE id = $1", 0, NULL, &n);
    assert_int_equal(n, 1);
    authn_refused(str_from_cstr(k.text), T0 + 1);
    assert_int_equal(keys_of(&t), 0);
}

/* ---- limits
 * ------------------------------------------------------------------------------------------ */

static void test_input_limits(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "admin", true, user);
    struct auth_actor who = user_actor(user, AUTHZ_ROLE_ADMIN);
    struct auth_key_created k;
    const char *reason = NULL;

    /* the name: AUTH_MAX_KEY_NAME bytes (multi-byte UTF-8 counts bytes), one past */
    char name[AUTH_MAX_KEY_NAME + 2];
    memset(name, 'n', sizeof name);
    memcpy(name, "\xc3\xa9", 2);
    struct str at = str_from(name, AUTH_MAX_KEY_NAME), past = str_from(name, AUTH_MAX_KEY_NAME + 1);
    assert_int_equal(auth_key_create(S.s, &t, &who, at, 0, 0, T0, &client, &k, &reason), ERR_OK);
    assert_int_equal(strlen(info_of(&t, k.id).name), AUTH_MAX_KEY_NAME);
    assert_int_equal(auth_key_create(S.s, &t, &who, past, 0, 0, T0, &client, &k, &reason),
                     ERR_LIMIT);
    assert_string_equal(reason, "key name too long");
    assert_string_equal(k.text, "");
    static const struct {
        struct str name;
        const char *why;
    } bad[] = {
        {{"", 0}, "key name required"},
        {{NULL, 0}, "key name required"},
        {{"tab\there", 8}, "key name has control characters"},
        {{"nul\0x", 5}, "key name has control characters"},
        {{"del\x7f", 4}, "key name has control characters"},
        {{"\xc3(", 2}, "key name is not valid UTF-8"},
        {{"\xff", 1}, "key name is not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            auth_key_create(S.s, &t, &who, bad[i].name, 0, 0, T0, &client, &k, &reason),
            ERR_INVALID);
        assert_string_equal(reason, bad[i].why);
    }
    /* scopes outside the list */
    assert_int_equal(create_err(&t, &who, 1u << AUTH_SCOPE_COUNT, 0, T0, &k, &reason), ERR_INVALID);
    assert_string_equal(reason, "unknown scope");
    assert_int_equal(
        create_err(&t, &who, 0x80000000u | AUTH_SCOPE_CONTENT_READ, 0, T0, &k, &reason),
        ERR_INVALID);

    /* client fields: at their limits, one past */
    char ip[AUTH_MAX_CLIENT_IP + 2], rid[AUTH_MAX_REQUEST_ID + 2];
    memset(ip, '1', sizeof ip);
    memset(rid, 'r', sizeof rid);
    ip[AUTH_MAX_CLIENT_IP] = rid[AUTH_MAX_REQUEST_ID] = '\0';
    struct auth_client c = {.ip = ip, .request_id = rid};
    assert_int_equal(auth_key_create(S.s, &t, &who, STR_LIT("c"), 0, 0, T0, &c, &k, NULL), ERR_OK);
    char kid[AUTH_KEY_ID_LEN + 1];
    memcpy(kid, k.id, sizeof kid);
    ip[AUTH_MAX_CLIENT_IP] = '1';
    ip[AUTH_MAX_CLIENT_IP + 1] = '\0';
    assert_int_equal(auth_key_create(S.s, &t, &who, STR_LIT("c"), 0, 0, T0, &c, &k, NULL),
                     ERR_LIMIT);
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(kid), &who, T0, &c, NULL), ERR_LIMIT);
    ip[AUTH_MAX_CLIENT_IP] = '\0';
    rid[AUTH_MAX_REQUEST_ID] = 'r';
    rid[AUTH_MAX_REQUEST_ID + 1] = '\0';
    assert_int_equal(auth_key_create(S.s, &t, &who, STR_LIT("c"), 0, 0, T0, &c, &k, NULL),
                     ERR_LIMIT);
    /* NULL client: allowed (nothing to record) */
    assert_int_equal(auth_key_create(S.s, &t, &who, STR_LIT("c"), 0, 0, T0, NULL, &k, NULL),
                     ERR_OK);

    /* malformed actors */
    assert_int_equal(auth_key_create(S.s, &t, NULL, STR_LIT("c"), 0, 0, T0, NULL, &k, NULL),
                     ERR_INVALID);
    struct auth_actor bad_who = user_actor("not-a-uuid", AUTHZ_ROLE_ADMIN);
    assert_int_equal(auth_key_create(S.s, &t, &bad_who, STR_LIT("c"), 0, 0, T0, NULL, &k, NULL),
                     ERR_INVALID);
    bad_who = user_actor(NULL, AUTHZ_ROLE_ADMIN);
    assert_int_equal(auth_key_create(S.s, &t, &bad_who, STR_LIT("c"), 0, 0, T0, NULL, &k, NULL),
                     ERR_INVALID);
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(kid), NULL, T0, NULL, NULL),
                     ERR_INVALID);
    authn_refused(STR_LIT("shk_"), T0);
    assert_int_equal(keys_of(&t), 3);
}

static void test_keys_per_tenant(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    struct auth_actor who = user_actor(user, AUTHZ_ROLE_MEMBER);
    char first[AUTH_KEY_ID_LEN + 1] = "", second[AUTH_KEY_ID_LEN + 1] = "";
    char expiring[AUTH_KEY_ID_LEN + 1] = "";
    for (int i = 0; i < AUTH_MAX_KEYS_PER_TENANT; i++) {
        char name[32];
        snprintf(name, sizeof name, "key %d", i);
        struct auth_key_created k = create_ok(&t, &who, name, 0, i == 2 ? T0 + 50 : 0, T0 + i);
        if (i == 0)
            memcpy(first, k.id, sizeof first);
        if (i == 1)
            memcpy(second, k.id, sizeof second);
        if (i == 2)
            memcpy(expiring, k.id, sizeof expiring);
        auth_key_created_wipe(&k);
    }
    assert_int_equal(keys_of(&t), AUTH_MAX_KEYS_PER_TENANT);
    /* one past: refused while all are live */
    struct auth_key_created k;
    const char *reason = NULL;
    assert_int_equal(create_err(&t, &who, 0, 0, T0 + 40, &k, &reason), ERR_LIMIT);
    assert_string_equal(reason, "too many API keys: revoke one first");
    assert_int_equal(keys_of(&t), AUTH_MAX_KEYS_PER_TENANT);
    /* the list returns them all, newest first */
    struct auth_key_info *v = calloc(AUTH_MAX_KEYS_PER_TENANT, sizeof *v);
    REQUIRE(v);
    size_t n = 0;
    assert_int_equal(auth_key_list(S.s, &t, NULL, v, AUTH_MAX_KEYS_PER_TENANT, &n), ERR_OK);
    assert_int_equal(n, AUTH_MAX_KEYS_PER_TENANT);
    assert_string_equal(v[n - 1].id, first);
    for (size_t i = 1; i < n; i++)
        assert_true(v[i - 1].created_at >= v[i].created_at);

    /* revoking one makes room: the dead row is recycled, the table stays at the cap */
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(second), &who, T0 + 41, &client, NULL),
                     ERR_OK);
    create_ok(&t, &who, "replacement", 0, 0, T0 + 42);
    assert_int_equal(keys_of(&t), AUTH_MAX_KEYS_PER_TENANT);
    assert_int_equal(auth_key_list(S.s, &t, NULL, v, AUTH_MAX_KEYS_PER_TENANT, &n), ERR_OK);
    assert_null(find_info(v, n, second));
    assert_non_null(find_info(v, n, first));
    assert_int_equal(create_err(&t, &who, 0, 0, T0 + 43, &k, &reason), ERR_LIMIT);
    /* an expired key counts as dead too */
    create_ok(&t, &who, "after expiry", 0, 0, T0 + 50);
    assert_int_equal(keys_of(&t), AUTH_MAX_KEYS_PER_TENANT);
    assert_int_equal(auth_key_list(S.s, &t, NULL, v, AUTH_MAX_KEYS_PER_TENANT, &n), ERR_OK);
    assert_null(find_info(v, n, expiring));
    free(v);
    /* the audit trail still has every creation */
    assert_int_equal(audit_count(&t, "apikey.created", "success"), AUTH_MAX_KEYS_PER_TENANT + 2);
}

/* Concurrent creations never pass the per-tenant limit together. */
#define RACERS 8

struct race {
    pthread_barrier_t *go;
    const struct tenant_ctx *t;
    const struct auth_actor *who;
    enum err e;
};

static void *race_main(void *arg)
{
    struct race *r = arg;
    pthread_barrier_wait(r->go);
    struct auth_key_created k;
    r->e = auth_key_create(S.s, r->t, r->who, STR_LIT("racer"), 0, 0, T0 + 100, NULL, &k, NULL);
    auth_key_created_wipe(&k);
    return NULL;
}

static void test_concurrent_creations(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    struct auth_actor who = user_actor(user, AUTHZ_ROLE_MEMBER);
    for (int i = 0; i < AUTH_MAX_KEYS_PER_TENANT - RACERS / 2; i++) {
        struct auth_key_created k = create_ok(&t, &who, "filler", 0, 0, T0);
        auth_key_created_wipe(&k);
    }
    pthread_barrier_t go;
    assert_int_equal(pthread_barrier_init(&go, NULL, RACERS), 0);
    struct race rc[RACERS];
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        rc[i] = (struct race){.go = &go, .t = &t, .who = &who};
        assert_int_equal(pthread_create(&th[i], NULL, race_main, &rc[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    int ok = 0, limit = 0;
    for (int i = 0; i < RACERS; i++) {
        ok += rc[i].e == ERR_OK;
        limit += rc[i].e == ERR_LIMIT;
    }
    assert_int_equal(ok, RACERS / 2);
    assert_int_equal(limit, RACERS / 2);
    assert_int_equal(keys_of(&t), AUTH_MAX_KEYS_PER_TENANT);
}

/* ---- last use
 * -------------------------------------------------------------------------------------- */

static void test_last_used(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    struct auth_actor who = user_actor(user, AUTHZ_ROLE_MEMBER);
    struct auth_key_created k = create_ok(&t, &who, "touch", 0, 0, T0);
    assert_int_equal(info_of(&t, k.id).last_used_at, 0);
    struct auth_key_principal p;
    authn_ok(k.text, T0 + 100, &p);
    assert_int_equal(info_of(&t, k.id).last_used_at, T0 + 100);
    authn_ok(k.text, T0 + 100 + AUTH_KEY_TOUCH_S - 1, &p);
    assert_int_equal(info_of(&t, k.id).last_used_at, T0 + 100);
    authn_ok(k.text, T0 + 100 + AUTH_KEY_TOUCH_S, &p);
    assert_int_equal(info_of(&t, k.id).last_used_at, T0 + 100 + AUTH_KEY_TOUCH_S);
    /* a clock behind the last write changes nothing */
    authn_ok(k.text, T0, &p);
    assert_int_equal(info_of(&t, k.id).last_used_at, T0 + 100 + AUTH_KEY_TOUCH_S);
    /* a refused attempt is not a use */
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(k.id), &who, T0 + 200, &client, NULL),
                     ERR_OK);
    authn_refused(str_from_cstr(k.text), T0 + 1000);
    assert_int_equal(info_of(&t, k.id).last_used_at, T0 + 100 + AUTH_KEY_TOUCH_S);
}

/* ---- the audit trail as a whole
 * ------------------------------------------------------------------------- */

static void test_audit_trail(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "admin", true, user);
    struct auth_actor who = user_actor(user, AUTHZ_ROLE_ADMIN);
    struct auth_key_created k[3];
    k[0] = create_ok(&t, &who, "one", AUTH_SCOPE_KEYS_WRITE | AUTH_SCOPE_CONTENT_READ, 0, T0);
    struct auth_key_principal p;
    authn_ok(k[0].text, T0, &p);
    struct auth_actor kw = key_actor(&p);
    k[1] = create_ok(&t, &kw, "two", 0, 0, T0 + 1);
    k[2] = create_ok(&t, &who, "three", AUTH_SCOPE_DRAFTS_REVIEW, T0 + 5000, T0 + 2);
    struct auth_key_created refused;
    /* no reason pointer: the audit line still says why */
    assert_int_equal(create_err(&t, &who, AUTH_SCOPE_AUDIT_READ, 0, T0 + 3, &refused, NULL),
                     ERR_FORBIDDEN);
    assert_int_equal(auth_key_revoke(S.s, &t, str_from_cstr(k[0].id), &who, T0 + 4, &client, NULL),
                     ERR_OK);
    for (int i = 0; i < 3; i++) {
        struct auth_key_principal q;
        enum err e = auth_key_authenticate(S.s, str_from_cstr(k[i].text), T0 + 10, &q);
        assert_int_equal(e, i == 2 ? ERR_OK : ERR_UNAUTHENTICATED); /* 0 revoked, 1 with it */
    }

    struct trail *tr = malloc(sizeof *tr);
    REQUIRE(tr);
    trail_read(&t, tr);
    assert_int_equal(trail_count(tr, "apikey.created", "success", NULL), 3);
    assert_int_equal(trail_count(tr, "apikey.created", "denied", NULL), 1);
    assert_int_equal(trail_count(tr, "apikey.revoked", "success", NULL), 2); /* k[1] cascades */
    for (int i = 0; i < 3; i++) {
        /* neither the text, nor its random part, nor its hash */
        assert_null(strstr(tr->raw, k[i].text));
        assert_null(strstr(tr->raw, random_part(&k[i]) + 8));
        unsigned char h[SHA256_LEN];
        sha256(k[i].text, AUTH_KEY_TEXT_LEN, h);
        char hex[2 * SHA256_LEN + 1];
        hex_encode(h, sizeof h, hex);
        assert_null(strstr(tr->raw, hex));
        /* the prefix is there, unmasked, for people to match */
        assert_non_null(strstr(tr->raw, k[i].prefix));
    }
    for (size_t i = 0; i < tr->n; i++) {
        if (strncmp(tr->ev[i].action, "apikey.", 7) != 0)
            continue;
        assert_string_equal(tr->ev[i].client_ip, "192.0.2.7");
        assert_null(strstr(tr->ev[i].details, "[masked]"));
    }
    const struct ev *ev = trail_last(tr, "apikey.created", "denied");
    assert_non_null(strstr(ev->details, "\"refused\":\"audit:read\""));
    assert_non_null(strstr(ev->details, "\"reason\":\"a requested scope is beyond your role\""));
    trail_release(tr);
    free(tr);

    /* the chain the events went into verifies */
    struct audit_trusted_keys keys = {.n = 0};
    struct audit_verify_result res;
    assert_int_equal(audit_verify_tenant(S.s, &t, &keys, &res), ERR_OK);
    assert_int_equal(res.kind, AUDIT_OK);
    assert_int_equal(res.entries, 6); /* 3 created, 1 denied, 2 revoked */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_list),
        cmocka_unit_test(test_scopes_by_role),
        cmocka_unit_test(test_create_authenticate_list),
        cmocka_unit_test(test_shown_once),
        cmocka_unit_test(test_default_scope),
        cmocka_unit_test(test_scope_refusals_by_role),
        cmocka_unit_test(test_key_creates_key),
        cmocka_unit_test(test_creator_role_changes),
        cmocka_unit_test(test_removed_or_unverified_creator),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_revoke),
        cmocka_unit_test(test_revoke_cascades),
        cmocka_unit_test(test_tampered_texts),
        cmocka_unit_test(test_tenant_isolation),
        cmocka_unit_test(test_deleted_tenant),
        cmocka_unit_test(test_input_limits),
        cmocka_unit_test(test_keys_per_tenant),
        cmocka_unit_test(test_concurrent_creations),
        cmocka_unit_test(test_last_used),
        cmocka_unit_test(test_audit_trail),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
