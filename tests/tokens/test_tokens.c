/*
 * Access- and refresh-token suite (A8, L1, T1–T4): src/auth/tokens.c against
 * a real database.
 *
 *   SHIPLOG_TEST_PG_OWNER_URL and SHIPLOG_TEST_PG_APP_URL set: PostgreSQL
 *   (migrations with the owner, everything else with the application role);
 *   otherwise SQLite in a fresh mkdtemp directory.
 *
 * Covered: issue -> verify (a user's token and a key's), the texts' shapes
 * and that only hashes are stored; expiry of access tokens (with the leeway),
 * refresh tokens and families, time moved through the now argument; tampered
 * tokens (alg none, an HS256 header, another issuer, a kid not in the ring, a
 * tid or sub that is not the family's); rotation, and reuse of a rotated
 * refresh token revoking the whole family (the newest refresh and access
 * tokens die too), also for two concurrent uses of one token; sign-out (the
 * family and the deny-list, each on its own); sign out everywhere
 * (valid-after on its own and with the families); a grant racing a
 * revocation (refused when valid-after is at or after its start; a family
 * begun at or before valid-after void for refreshing and verifying); a
 * deleted user; a key's tokens dying with the key and shrinking with its
 * creator's role; an unverified user; another tenant's refresh token and
 * ids; the per-user password-family limit and the per-key family limit at
 * their values and one past, each evicting only its own kind; every text
 * limit at its value and
 * one past; the clean-up; the audit events, free of token texts and hashes,
 * in a chain that verifies.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "audit/audit.h"
#include "auth/tokens.h"
#include "core/base64.h"
#include "crypto/hash.h"
#include "crypto/rand.h"
#include "storage/storage.h"
#include "../common/testdb.h"

#define T0        1767225600 /* 2026-01-01T00:00:00Z */
#define KEY_HEX_A "4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a"
#define KEY_HEX_B "5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b"
#define ISSUER    "https://shiplog.test"

#define REQUIRE(p)                                                                                 \
    do {                                                                                           \
        assert_non_null(p);                                                                        \
        if (!(p))                                                                                  \
            abort();                                                                               \
    } while (0)

struct suite {
    bool pg;
    char dir[64];
    struct storage *s;
    struct keyring ring;  /* KEY_HEX_A */
    struct keyring other; /* KEY_HEX_B: tokens it signs carry a kid the suite's ring lacks */
    struct auth_token_keys keys;
};

static struct suite S;

static const struct auth_client client = {.ip = "192.0.2.8", .request_id = "req-token-test"};

static int suite_setup(void **state)
{
    S.s = testdb_open_main("tokens", S.dir, &S.pg);
    if (!S.s)
        return -1;
    testdb_load_ring(S.dir, KEY_HEX_A, NULL, &S.ring);
    testdb_load_ring(S.dir, KEY_HEX_B, NULL, &S.other);
    return auth_token_keys_init(&S.keys, &S.ring, ISSUER "/") == ERR_OK ? 0 : -1;
}

static int suite_teardown(void **state)
{
    keyring_wipe(&S.ring);
    keyring_wipe(&S.other);
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

static void new_tenant(struct tenant_ctx *t)
{
    testdb_random_uuid(t->id);
    const char *args[] = {t->id, "Token test"};
    exec_in(t, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)", 2, args, NULL);
}

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

static void issue_ok(const struct tenant_ctx *t, const char *user, int64_t now,
                     struct auth_token_pair *p)
{
    assert_int_equal(
        auth_token_issue_user(S.s, &S.keys, t, user, now, AUTH_VALID_AFTER_UNCHECKED, &client, p),
        ERR_OK);
}

static void verify_ok(const char *access, int64_t now, struct auth_token_principal *p)
{
    assert_int_equal(auth_token_verify(S.s, &S.keys, str_from_cstr(access), now, p), ERR_OK);
}

/* ERR_UNAUTHENTICATED and the principal left zeroed. */
static void verify_refused(const char *access, int64_t now)
{
    struct auth_token_principal p;
    memset(&p, 0x5a, sizeof p);
    assert_int_equal(auth_token_verify(S.s, &S.keys, str_from_cstr(access), now, &p),
                     ERR_UNAUTHENTICATED);
    static const struct auth_token_principal zero;
    assert_memory_equal(&p, &zero, sizeof p);
}

static void refresh_ok(const char *refresh, int64_t now, struct auth_token_pair *out)
{
    assert_int_equal(auth_token_refresh(S.s, &S.keys, str_from_cstr(refresh), now, &client, out),
                     ERR_OK);
}

static void refresh_refused(const char *refresh, int64_t now)
{
    struct auth_token_pair p;
    memset(&p, 0x5a, sizeof p);
    assert_int_equal(auth_token_refresh(S.s, &S.keys, str_from_cstr(refresh), now, &client, &p),
                     ERR_UNAUTHENTICATED);
    static const struct auth_token_pair zero;
    assert_memory_equal(&p, &zero, sizeof p);
}

static int64_t families_live(const struct tenant_ctx *t, const char *user)
{
    return query_int(t,
                     "SELECT count(*) FROM token_families WHERE tenant_id = $1 AND user_id = $2"
                     " AND revoked_at IS NULL",
                     user);
}

static void hex_sha256(const char *text, char out[2 * SHA256_LEN + 1])
{
    unsigned char h[SHA256_LEN];
    sha256(text, strlen(text), h);
    hex_encode(h, sizeof h, out);
}

/* base64url without padding, from core/base64. */
static void b64url(struct buf *out, const void *data, size_t n)
{
    struct buf tmp = BUF_INIT(8192);
    assert_int_equal(base64_encode(&tmp, data, n), ERR_OK);
    for (size_t i = 0; i < tmp.len && tmp.data[i] != '='; i++) {
        char c = tmp.data[i];
        assert_int_equal(buf_putc(out, c == '+' ? '-' : c == '/' ? '_' : c), ERR_OK);
    }
    buf_release(&tmp);
}

/* Claims as a token of principal p would carry them, for forging variants. */
static void claims_of(const struct auth_token_principal *p, struct jwt_claims *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->iss, sizeof c->iss, "%s", ISSUER);
    snprintf(c->sub, sizeof c->sub, "%s", p->user_id);
    snprintf(c->tid, sizeof c->tid, "%s", p->tenant.id);
    snprintf(c->jti, sizeof c->jti, "%s", p->jti);
    snprintf(c->sid, sizeof c->sid, "%s", p->family_id);
    c->iat = p->iat;
    c->exp = p->exp;
}

static void sign_with(const struct keyring *r, const struct jwt_claims *c, struct buf *out)
{
    buf_reset(out);
    assert_int_equal(jwt_sign(keyring_current(r), c, out), ERR_OK);
}

/* ---- the trail, read back through audit_export ------------------------------------------ */

struct ev {
    char action[AUDIT_MAX_ACTION + 1];
    char actor_type[16];
    char actor_id[AUDIT_MAX_ACTOR + 1];
    char target[AUDIT_MAX_TARGET + 1];
    char outcome[16];
    char client_ip[AUDIT_MAX_CLIENT_IP + 1];
    char request_id[AUDIT_MAX_REQUEST_ID + 1];
    char details[AUDIT_MAX_DETAILS + 1];
};

struct trail {
    char *raw; /* the whole export */
    struct ev *ev;
    size_t n;
};

static void view_copy(struct str v, char *out, size_t cap)
{
    assert_true(v.len < cap);
    memcpy(out, v.ptr, v.len);
    out[v.len] = '\0';
}

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
    REQUIRE(tr->raw);
    assert_int_equal(fread(tr->raw, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    size_t cap = 1;
    for (const char *c = tr->raw; *c; c++)
        cap += *c == '\n';
    tr->ev = calloc(cap, sizeof *tr->ev);
    REQUIRE(tr->ev);
    for (char *line = tr->raw; *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        struct audit_record r;
        assert_int_equal(audit_export_parse_line(line, ll, &r), ERR_OK);
        if (r.type == AUDIT_REC_ENTRY) {
            assert_true(tr->n < cap);
            struct ev *e = &tr->ev[tr->n++];
            view_copy(r.entry.action, e->action, sizeof e->action);
            view_copy(r.entry.actor_type, e->actor_type, sizeof e->actor_type);
            view_copy(r.entry.actor_id, e->actor_id, sizeof e->actor_id);
            view_copy(r.entry.target, e->target, sizeof e->target);
            view_copy(r.entry.outcome, e->outcome, sizeof e->outcome);
            view_copy(r.entry.client_ip, e->client_ip, sizeof e->client_ip);
            view_copy(r.entry.request_id, e->request_id, sizeof e->request_id);
            view_copy(r.entry.details, e->details, sizeof e->details);
        }
        audit_record_release(&r);
        line += ll + (nl ? 1 : 0);
    }
}

static void trail_release(struct trail *tr)
{
    free(tr->raw);
    free(tr->ev);
    memset(tr, 0, sizeof *tr);
}

/*
 * Events of action with outcome (NULL: any) whose target holds in_target and
 * whose details hold in_details (NULL: anything).
 */
static size_t trail_count(const struct trail *tr, const char *action, const char *outcome,
                          const char *in_target, const char *in_details)
{
    size_t n = 0;
    for (size_t i = 0; i < tr->n; i++) {
        const struct ev *e = &tr->ev[i];
        n += strcmp(e->action, action) == 0 && (!outcome || strcmp(e->outcome, outcome) == 0) &&
             (!in_target || strstr(e->target, in_target)) &&
             (!in_details || strstr(e->details, in_details));
    }
    return n;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_issue_and_verify(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "editor", true, user);
    struct auth_token_pair p;
    issue_ok(&t, user, T0, &p);

    /* shapes: a JWT of three segments; shr_<tenant>.<43 base64url> */
    assert_int_equal(strlen(p.refresh), AUTH_REFRESH_TEXT_LEN);
    assert_memory_equal(p.refresh, "shr_", 4);
    assert_memory_equal(p.refresh + 4, t.id, STORAGE_TENANT_ID_LEN);
    assert_int_equal(p.refresh[4 + STORAGE_TENANT_ID_LEN], '.');
    size_t dots = 0;
    for (const char *c = p.access; *c; c++)
        dots += *c == '.';
    assert_int_equal(dots, 2);
    assert_int_equal(p.access_expires_at, T0 + AUTH_ACCESS_TTL_S);
    assert_int_equal(p.refresh_expires_at, T0 + AUTH_REFRESH_TTL_S);
    struct tenant_ctx parsed;
    char hash[2 * SHA256_LEN + 1];
    assert_true(auth_refresh_text_parse(str_from_cstr(p.refresh), &parsed, hash));
    assert_string_equal(parsed.id, t.id);

    struct auth_token_principal pr;
    verify_ok(p.access, T0 + 1, &pr);
    assert_string_equal(pr.tenant.id, t.id);
    assert_string_equal(pr.user_id, user);
    assert_int_equal(pr.role, AUTHZ_ROLE_EDITOR);
    assert_string_equal(pr.family_id, p.family_id);
    assert_int_equal(strlen(pr.jti), JWT_JTI_LEN);
    assert_int_equal(pr.iat, T0);
    assert_int_equal(pr.exp, T0 + AUTH_ACCESS_TTL_S);
    assert_false(pr.from_key);

    /* the claims: iss is the public URL without its '/', sid the family, no scope */
    struct jwt_claims cl;
    assert_int_equal(jwt_verify(&S.ring, str_from_cstr(p.access), T0, 0, &cl, NULL), ERR_OK);
    assert_string_equal(cl.iss, ISSUER);
    assert_string_equal(cl.sid, p.family_id);
    assert_string_equal(cl.scope, "");

    /* only the hash of the refresh token is stored */
    assert_int_equal(query_int(&t,
                               "SELECT count(*) FROM refresh_tokens WHERE tenant_id = $1"
                               " AND hash = $2",
                               hash),
                     1);
    assert_int_equal(query_int(&t,
                               "SELECT count(*) FROM refresh_tokens WHERE tenant_id = $1"
                               " AND hash = $2",
                               p.refresh),
                     0);
    assert_int_equal(families_live(&t, user), 1);
    assert_int_equal(query_int(&t,
                               "SELECT count(*) FROM token_families WHERE tenant_id = $1"
                               " AND grant_type = 'password' AND api_key_id IS NULL"
                               " AND scopes IS NULL AND id = $2",
                               p.family_id),
                     1);
    /* a demotion applies to the next verification */
    set_role(&t, user, "member");
    verify_ok(p.access, T0 + 2, &pr);
    assert_int_equal(pr.role, AUTHZ_ROLE_MEMBER);
    auth_token_pair_wipe(&p);
}

static void test_expiry(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    struct auth_token_pair p;
    issue_ok(&t, user, T0, &p);
    struct auth_token_principal pr;
    /* valid while now < exp + leeway */
    verify_ok(p.access, T0 + AUTH_ACCESS_TTL_S + AUTH_ACCESS_LEEWAY_S - 1, &pr);
    verify_refused(p.access, T0 + AUTH_ACCESS_TTL_S + AUTH_ACCESS_LEEWAY_S);
    /* issued in the future past the leeway */
    verify_refused(p.access, T0 - AUTH_ACCESS_LEEWAY_S - 1);
    verify_ok(p.access, T0 - AUTH_ACCESS_LEEWAY_S, &pr);

    /* a refresh token ends after AUTH_REFRESH_TTL_S */
    refresh_refused(p.refresh, T0 + AUTH_REFRESH_TTL_S);
    struct auth_token_pair q;
    refresh_ok(p.refresh, T0 + AUTH_REFRESH_TTL_S - 1, &q);

    /* a family ends after AUTH_FAMILY_TTL_S however often it is refreshed */
    int64_t now = T0 + AUTH_REFRESH_TTL_S - 1;
    while (now + AUTH_REFRESH_TTL_S - 1 < T0 + AUTH_FAMILY_TTL_S) {
        now += AUTH_REFRESH_TTL_S - 1;
        struct auth_token_pair r;
        refresh_ok(q.refresh, now, &r);
        q = r;
    }
    assert_true(q.refresh_expires_at <= T0 + AUTH_FAMILY_TTL_S);
    assert_true(q.access_expires_at <= T0 + AUTH_FAMILY_TTL_S);
    refresh_refused(q.refresh, T0 + AUTH_FAMILY_TTL_S);
    verify_refused(q.access, T0 + AUTH_FAMILY_TTL_S);
    auth_token_pair_wipe(&p);
    auth_token_pair_wipe(&q);
}

static void test_tampered_tokens(void **state)
{
    struct tenant_ctx t, u;
    new_tenant(&t);
    new_tenant(&u);
    char user[AUTH_USER_ID_LEN + 1], other_user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "admin", true, user);
    new_user(&t, "admin", true, other_user);
    struct auth_token_pair p;
    issue_ok(&t, user, T0, &p);
    struct auth_token_principal pr;
    verify_ok(p.access, T0, &pr);
    const char *dot1 = strchr(p.access, '.');
    const char *dot2 = strchr(dot1 + 1, '.');
    struct buf tok = BUF_INIT(4096);

    /* alg none: the payload as it was, no signature */
    const char none[] = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    b64url(&tok, none, strlen(none));
    assert_int_equal(buf_append(&tok, dot1, (size_t)(dot2 - dot1) + 1), ERR_OK);
    verify_refused(buf_cstr(&tok), T0);
    /* HS256 with the kid, "signed" with an HMAC keyed by anything */
    buf_reset(&tok);
    char hs[128];
    snprintf(hs, sizeof hs, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             keyring_current(&S.ring)->id);
    b64url(&tok, hs, strlen(hs));
    assert_int_equal(buf_append(&tok, dot1, (size_t)(dot2 - dot1)), ERR_OK);
    unsigned char mac[SHA256_LEN];
    hmac_sha256("k", 1, tok.data, tok.len, mac);
    assert_int_equal(buf_putc(&tok, '.'), ERR_OK);
    b64url(&tok, mac, sizeof mac);
    verify_refused(buf_cstr(&tok), T0);

    /* well signed, but not as this deployment would: */
    struct jwt_claims c;
    claims_of(&pr, &c);
    sign_with(&S.ring, &c, &tok); /* the control: the same claims verify */
    verify_ok(buf_cstr(&tok), T0, &pr);
    sign_with(&S.other, &c, &tok); /* a kid the ring lacks */
    verify_refused(buf_cstr(&tok), T0);
    snprintf(c.iss, sizeof c.iss, "https://elsewhere.test"); /* another issuer */
    sign_with(&S.ring, &c, &tok);
    verify_refused(buf_cstr(&tok), T0);
    claims_of(&pr, &c);
    snprintf(c.sub, sizeof c.sub, "%s", other_user); /* another user on this family */
    sign_with(&S.ring, &c, &tok);
    verify_refused(buf_cstr(&tok), T0);
    claims_of(&pr, &c);
    snprintf(c.tid, sizeof c.tid, "%s", u.id); /* the family looked up in another tenant */
    sign_with(&S.ring, &c, &tok);
    verify_refused(buf_cstr(&tok), T0);
    claims_of(&pr, &c);
    snprintf(c.sid, sizeof c.sid, "fam:42"); /* a sid that is no family id */
    sign_with(&S.ring, &c, &tok);
    verify_refused(buf_cstr(&tok), T0);
    claims_of(&pr, &c);
    snprintf(c.tid, sizeof c.tid, "00000000-0000-0000-0000-000000000000");
    sign_with(&S.ring, &c, &tok);
    verify_refused(buf_cstr(&tok), T0);

    /* a flipped byte of the real token */
    buf_reset(&tok);
    assert_int_equal(buf_puts(&tok, p.access), ERR_OK);
    tok.data[tok.len - 3] = tok.data[tok.len - 3] == 'A' ? 'B' : 'A';
    verify_refused(buf_cstr(&tok), T0);
    /* a refresh token is no access token, nor the other way round */
    verify_refused(p.refresh, T0);
    struct auth_token_pair q; /* longer than any refresh token: refused by its length */
    assert_int_equal(auth_token_refresh(S.s, &S.keys, str_from_cstr(p.access), T0, &client, &q),
                     ERR_LIMIT);
    buf_release(&tok);
    auth_token_pair_wipe(&p);
}

static void test_rotation_and_reuse(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    struct auth_token_pair a, b, c;
    issue_ok(&t, user, T0, &a);
    refresh_ok(a.refresh, T0 + 60, &b);
    assert_string_equal(b.family_id, a.family_id);
    assert_string_not_equal(b.refresh, a.refresh);
    assert_string_not_equal(b.access, a.access);
    assert_int_equal(b.access_expires_at, T0 + 60 + AUTH_ACCESS_TTL_S);
    refresh_ok(b.refresh, T0 + 120, &c);
    struct auth_token_principal pr;
    verify_ok(c.access, T0 + 121, &pr);
    verify_ok(a.access, T0 + 121, &pr); /* older access tokens live out their 15 minutes */

    /* a's refresh token again: refused, and the family is dead */
    refresh_refused(a.refresh, T0 + 130);
    assert_int_equal(families_live(&t, user), 0);
    assert_int_equal(query_int(&t,
                               "SELECT count(*) FROM token_families WHERE tenant_id = $1"
                               " AND id = $2 AND revoked_reason = 'reuse'",
                               a.family_id),
                     1);
    verify_refused(c.access, T0 + 131); /* the legitimate rotation's tokens die too */
    verify_refused(a.access, T0 + 131);
    refresh_refused(c.refresh, T0 + 131);
    /* and once more: still refused, audited again, nothing else changes */
    refresh_refused(b.refresh, T0 + 140);

    /* another family of the same user is untouched */
    struct auth_token_pair d;
    issue_ok(&t, user, T0 + 150, &d);
    verify_ok(d.access, T0 + 151, &pr);
    struct auth_token_pair e;
    refresh_ok(d.refresh, T0 + 152, &e);
    auth_token_pair_wipe(&e);

    struct trail tr;
    trail_read(&t, &tr);
    assert_int_equal(trail_count(&tr, "token.reuse_detected", "denied", a.family_id, NULL), 2);
    assert_int_equal(trail_count(&tr, "token.reuse_detected", "denied", a.family_id,
                                 "\"family_revoked\":\"yes\""),
                     1);
    assert_int_equal(trail_count(&tr, "token.refreshed", "success", a.family_id, NULL), 2);
    trail_release(&tr);
    auth_token_pair_wipe(&a);
    auth_token_pair_wipe(&b);
    auth_token_pair_wipe(&c);
    auth_token_pair_wipe(&d);
}

struct race {
    const char *refresh;
    enum err e;
    pthread_barrier_t *go;
};

static void *race_refresh(void *arg)
{
    struct race *r = arg;
    struct auth_token_pair p;
    pthread_barrier_wait(r->go);
    r->e = auth_token_refresh(S.s, &S.keys, str_from_cstr(r->refresh), T0 + 10, &client, &p);
    auth_token_pair_wipe(&p);
    return NULL;
}

static void test_concurrent_refresh(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    struct auth_token_pair a;
    issue_ok(&t, user, T0, &a);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    struct race r[2] = {{a.refresh, ERR_INTERNAL, &go}, {a.refresh, ERR_INTERNAL, &go}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_refresh, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    /* exactly one rotated; the other was a reuse, which ended the family */
    assert_true((r[0].e == ERR_OK) != (r[1].e == ERR_OK));
    assert_int_equal(r[0].e == ERR_OK ? r[1].e : r[0].e, ERR_UNAUTHENTICATED);
    assert_int_equal(families_live(&t, user), 0);
    auth_token_pair_wipe(&a);
}

static void test_signout(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    struct auth_token_pair a, b;
    issue_ok(&t, user, T0, &a);
    issue_ok(&t, user, T0, &b);
    struct auth_token_principal pa, pb;
    verify_ok(a.access, T0 + 1, &pa);
    assert_int_equal(auth_token_revoke(S.s, &pa, T0 + 2, &client), ERR_OK);
    verify_refused(a.access, T0 + 3);
    refresh_refused(a.refresh, T0 + 3);
    assert_int_equal(query_int(&t,
                               "SELECT expires_at FROM access_token_denylist"
                               " WHERE tenant_id = $1 AND jti = $2",
                               pa.jti),
                     pa.exp);
    /* the other sign-in goes on */
    verify_ok(b.access, T0 + 3, &pb);
    /* twice is fine (the family was revoked meanwhile) */
    assert_int_equal(auth_token_revoke(S.s, &pa, T0 + 4, &client), ERR_OK);

    /* each mechanism alone: the deny-list stops a token of a live family ... */
    struct auth_token_pair c;
    refresh_ok(b.refresh, T0 + 5, &c);
    struct auth_token_principal pc;
    verify_ok(c.access, T0 + 5, &pc);
    const char *args[] = {pc.jti, "9999999999"};
    exec_in(&t,
            "INSERT INTO access_token_denylist (tenant_id, jti, expires_at)"
            " VALUES ($1, $2, CAST($3 AS BIGINT))",
            2, args, NULL);
    verify_refused(c.access, T0 + 6);
    verify_ok(b.access, T0 + 6, &pb); /* the same family's other token */
    /* ... and a revoked family stops a token that is not on the deny-list */
    const char *fam[] = {pb.family_id};
    exec_in(&t, "UPDATE token_families SET revoked_at = 1 WHERE tenant_id = $1 AND id = $2", 1, fam,
            NULL);
    verify_refused(b.access, T0 + 7);

    struct trail tr;
    trail_read(&t, &tr);
    assert_int_equal(
        trail_count(&tr, "token.revoked", "success", a.family_id, "\"reason\":\"signout\""), 2);
    trail_release(&tr);
    auth_token_pair_wipe(&a);
    auth_token_pair_wipe(&b);
    auth_token_pair_wipe(&c);
}

static void revoke_user(const struct tenant_ctx *t, const char *user, int64_t now, uint64_t *n)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(auth_tokens_revoke_user(tx, user, now, "signout_everywhere", n), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static void test_signout_everywhere(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1], other[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    new_user(&t, "member", true, other);
    struct auth_token_pair a, b, o;
    issue_ok(&t, user, T0, &a);
    issue_ok(&t, user, T0 + 5, &b);
    issue_ok(&t, other, T0, &o);
    uint64_t n = 0;
    revoke_user(&t, user, T0 + 10, &n);
    assert_int_equal(n, 2);
    verify_refused(a.access, T0 + 11);
    verify_refused(b.access, T0 + 11);
    refresh_refused(b.refresh, T0 + 11);
    struct auth_token_principal pr;
    verify_ok(o.access, T0 + 11, &pr); /* another user's tokens are untouched */
    assert_int_equal(query_int(&t,
                               "SELECT tokens_valid_after FROM users WHERE tenant_id = $1"
                               " AND id = $2",
                               user),
                     T0 + 10);

    /* valid-after alone: with the family revived, a token issued before still fails */
    const char *fam[] = {b.family_id};
    exec_in(&t,
            "UPDATE token_families SET revoked_at = NULL, revoked_reason = NULL"
            " WHERE tenant_id = $1 AND id = $2",
            1, fam, NULL);
    verify_refused(b.access, T0 + 12);
    /* a grant whose password check saw the change, in that very second, works
     * (signing in again at once after signing out everywhere) */
    struct auth_token_pair c;
    assert_int_equal(auth_token_issue_user(S.s, &S.keys, &t, user, T0 + 10, T0 + 10, &client, &c),
                     ERR_OK);
    verify_ok(c.access, T0 + 10, &pr);
    refresh_ok(c.refresh, T0 + 11, &b);
    /* malformed arguments change nothing */
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(auth_tokens_revoke_user(tx, "not-a-uuid", T0, "x", NULL), ERR_INVALID);
    assert_int_equal(auth_tokens_revoke_user(tx, user, T0, "Bad Reason", NULL), ERR_INVALID);
    assert_int_equal(auth_tokens_revoke_user(tx, user, T0, "", NULL), ERR_INVALID);
    storage_rollback(tx);
    auth_token_pair_wipe(&a);
    auth_token_pair_wipe(&b);
    auth_token_pair_wipe(&c);
    auth_token_pair_wipe(&o);
}

/* users.tokens_valid_after set to at, as a revocation that missed the families would leave it */
static void set_valid_after(const struct tenant_ctx *t, const char *user, int64_t at)
{
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)at);
    const char *args[] = {user, v};
    uint64_t n = 0;
    exec_in(t,
            "UPDATE users SET tokens_valid_after = CAST($3 AS BIGINT) WHERE tenant_id = $1"
            " AND id = $2",
            2, args, &n);
    assert_int_equal(n, 1);
}

/*
 * A grant racing a password reset or sign out everywhere: the password is
 * checked in one transaction, the family made in another. The grant's start
 * (the now it passes) is taken before the check; the revocation lands in
 * between.
 */
static void test_grant_races_revocation(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "editor", true, user);
    struct auth_token_pair p;
    static const struct auth_token_pair zero;
    struct auth_token_principal pr;

    /* the password check saw no revocation (0); a sign out everywhere, reset or
     * promotion commits before the family is made, in the grant's own second or
     * a later one: no family either time */
    int64_t start = T0 + 10, seen = 0;
    for (int64_t at = start; at <= start + 1; at++) {
        revoke_user(&t, user, at, NULL);
        memset(&p, 0x5a, sizeof p);
        assert_int_equal(auth_token_issue_user(S.s, &S.keys, &t, user, start, seen, &client, &p),
                         ERR_UNAUTHENTICATED);
        assert_memory_equal(&p, &zero, sizeof p);
        seen = at; /* what the next check would have read */
    }
    assert_int_equal(
        query_int(&t, "SELECT count(*) FROM token_families WHERE tenant_id = $1", NULL), 0);
    /* a check that saw the revocation (start + 1) may grant in that same second */
    assert_int_equal(
        auth_token_issue_user(S.s, &S.keys, &t, user, start + 1, start + 1, &client, &p), ERR_OK);
    verify_ok(p.access, start + 1, &pr);
    auth_token_pair_wipe(&p);
    /* but a grant that started before the revocation's second is void whatever it saw */
    assert_int_equal(auth_token_issue_user(S.s, &S.keys, &t, user, start, start + 1, &client, &p),
                     ERR_UNAUTHENTICATED);
    /* a key's grant: it checks no password, only that it began in or after that second */
    struct auth_key_created k;
    struct auth_key_principal kp;
    struct auth_actor who = {.user_id = user, .role = AUTHZ_ROLE_EDITOR, .key = NULL};
    assert_int_equal(auth_key_create(S.s, &t, &who, STR_LIT("ci"), AUTH_SCOPE_CONTENT_READ, 0, T0,
                                     &client, &k, NULL),
                     ERR_OK);
    assert_int_equal(auth_key_authenticate(S.s, str_from_cstr(k.text), start, &kp), ERR_OK);
    assert_int_equal(auth_token_issue_key(S.s, &S.keys, &kp, start, &client, &p),
                     ERR_UNAUTHENTICATED);
    assert_int_equal(auth_token_issue_key(S.s, &S.keys, &kp, start + 1, &client, &p), ERR_OK);
    auth_token_pair_wipe(&p);

    /* a family that began before valid-after is void for refreshing and for its
     * access tokens, even one it minted later; one of valid-after's own second
     * is not (it was made after the revocation, or the revocation revoked it) */
    struct auth_token_pair a, b, same;
    issue_ok(&t, user, T0 + 40, &a);
    refresh_ok(a.refresh, T0 + 41, &b);
    issue_ok(&t, user, T0 + 41, &same);
    set_valid_after(&t, user, T0 + 41);
    verify_refused(a.access, T0 + 42);
    verify_refused(b.access, T0 + 42); /* iat T0 + 41 passes the iat check: the family fails */
    refresh_refused(b.refresh, T0 + 42);
    verify_ok(same.access, T0 + 42, &pr);
    struct auth_token_pair c;
    refresh_ok(same.refresh, T0 + 42, &c);
    auth_key_created_wipe(&k);
    auth_token_pair_wipe(&a);
    auth_token_pair_wipe(&b);
    auth_token_pair_wipe(&c);
    auth_token_pair_wipe(&same);
}

static void test_user_deleted(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "admin", true, user);
    struct auth_token_pair a;
    issue_ok(&t, user, T0, &a);
    struct auth_token_principal pr;
    verify_ok(a.access, T0 + 1, &pr);
    /* member removal deletes the row: what it owned goes with it */
    const char *args[] = {user};
    uint64_t n = 0;
    exec_in(&t, "DELETE FROM users WHERE tenant_id = $1 AND id = $2", 1, args, &n);
    assert_int_equal(n, 1);
    verify_refused(a.access, T0 + 2);
    refresh_refused(a.refresh, T0 + 2);
    assert_int_equal(
        query_int(&t, "SELECT count(*) FROM token_families WHERE tenant_id = $1", NULL), 0);
    assert_int_equal(
        query_int(&t, "SELECT count(*) FROM refresh_tokens WHERE tenant_id = $1", NULL), 0);
    /* nor can one be issued for the removed user */
    struct auth_token_pair b;
    assert_int_equal(auth_token_issue_user(S.s, &S.keys, &t, user, T0 + 3,
                                           AUTH_VALID_AFTER_UNCHECKED, &client, &b),
                     ERR_UNAUTHENTICATED);
    auth_token_pair_wipe(&a);
}

static void test_unverified_user(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "super_admin", false, user);
    struct auth_token_pair a;
    memset(&a, 0x5a, sizeof a);
    assert_int_equal(
        auth_token_issue_user(S.s, &S.keys, &t, user, T0, AUTH_VALID_AFTER_UNCHECKED, &client, &a),
        ERR_UNAUTHENTICATED);
    static const struct auth_token_pair zero;
    assert_memory_equal(&a, &zero, sizeof a);
    assert_int_equal(
        query_int(&t, "SELECT count(*) FROM token_families WHERE tenant_id = $1", NULL), 0);
    /* unknown user, and a user of another tenant */
    char ghost[AUTH_USER_ID_LEN + 1];
    testdb_random_uuid(ghost);
    assert_int_equal(
        auth_token_issue_user(S.s, &S.keys, &t, ghost, T0, AUTH_VALID_AFTER_UNCHECKED, &client, &a),
        ERR_UNAUTHENTICATED);
    /* an address that becomes unverified (a reset in between, say) stops its tokens */
    char v[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, v);
    issue_ok(&t, v, T0, &a);
    const char *args[] = {v};
    exec_in(&t, "UPDATE users SET email_verified_at = NULL WHERE tenant_id = $1 AND id = $2", 1,
            args, NULL);
    verify_refused(a.access, T0 + 1);
    refresh_refused(a.refresh, T0 + 1);
    auth_token_pair_wipe(&a);
}

/* A key of user in t with scopes, expiring at expires (0 = never), authenticated at T0. */
static void make_key(const struct tenant_ctx *t, const char *user, enum authz_role role,
                     uint32_t scopes, int64_t expires, struct auth_key_created *k,
                     struct auth_key_principal *p)
{
    struct auth_actor who = {.user_id = user, .role = role, .key = NULL};
    const struct auth_client c = {.ip = "192.0.2.8"};
    assert_int_equal(auth_key_create(S.s, t, &who, STR_LIT("ci"), scopes, expires, T0, &c, k, NULL),
                     ERR_OK);
    assert_int_equal(auth_key_authenticate(S.s, str_from_cstr(k->text), T0, p), ERR_OK);
}

static void test_key_tokens(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "editor", true, user);
    struct auth_key_created k;
    struct auth_key_principal kp;
    make_key(&t, user, AUTHZ_ROLE_EDITOR, AUTH_SCOPE_DRAFTS_WRITE | AUTH_SCOPE_CONTENT_READ, 0, &k,
             &kp);
    struct auth_token_pair a;
    assert_int_equal(auth_token_issue_key(S.s, &S.keys, &kp, T0, &client, &a), ERR_OK);
    struct auth_token_principal pr;
    verify_ok(a.access, T0 + 1, &pr);
    assert_true(pr.from_key);
    assert_string_equal(pr.user_id, user);
    assert_string_equal(pr.key.key_id, kp.key_id);
    assert_string_equal(pr.key.created_by, user);
    assert_string_equal(pr.key.prefix, kp.prefix);
    assert_string_equal(pr.key.tenant.id, t.id);
    assert_int_equal(pr.key.scopes, AUTH_SCOPE_DRAFTS_WRITE | AUTH_SCOPE_CONTENT_READ);
    assert_int_equal(pr.key.role, AUTHZ_ROLE_EDITOR);
    /* exactly the key's powers: its scopes, never the account routes */
    assert_true(auth_key_allows(&pr.key, AUTHZ_DRAFT_EDIT));
    assert_true(auth_key_allows(&pr.key, AUTHZ_CONTENT_READ));
    assert_false(auth_key_allows(&pr.key, AUTHZ_ACCOUNT));
    assert_false(auth_key_allows(&pr.key, AUTHZ_PUBLISH));
    struct jwt_claims cl;
    assert_int_equal(jwt_verify(&S.ring, str_from_cstr(a.access), T0, 0, &cl, NULL), ERR_OK);
    assert_string_equal(cl.scope, "content:read drafts:write");
    assert_int_equal(query_int(&t,
                               "SELECT scopes FROM token_families WHERE tenant_id = $1"
                               " AND id = $2 AND grant_type = 'api_key'",
                               a.family_id),
                     AUTH_SCOPE_DRAFTS_WRITE | AUTH_SCOPE_CONTENT_READ);

    /* demoting the creator shrinks the token at once (Z3), refreshed or not */
    set_role(&t, user, "member");
    verify_ok(a.access, T0 + 2, &pr);
    assert_int_equal(pr.key.role, AUTHZ_ROLE_MEMBER);
    assert_false(auth_key_allows(&pr.key, AUTHZ_DRAFT_EDIT));
    assert_true(auth_key_allows(&pr.key, AUTHZ_CONTENT_READ));
    struct auth_token_pair b;
    refresh_ok(a.refresh, T0 + 3, &b);
    assert_int_equal(jwt_verify(&S.ring, str_from_cstr(b.access), T0 + 3, 0, &cl, NULL), ERR_OK);
    assert_string_equal(cl.scope, "content:read");
    set_role(&t, user, "editor");
    verify_ok(b.access, T0 + 4, &pr);
    assert_true(auth_key_allows(&pr.key, AUTHZ_DRAFT_EDIT));

    /* revoking the key ends its tokens at once */
    struct auth_actor who = {.user_id = user, .role = AUTHZ_ROLE_EDITOR, .key = NULL};
    assert_int_equal(
        auth_key_revoke(S.s, &t, str_from_cstr(kp.key_id), &who, T0 + 5, &client, NULL), ERR_OK);
    verify_refused(b.access, T0 + 6);
    refresh_refused(b.refresh, T0 + 6);
    assert_int_equal(auth_token_issue_key(S.s, &S.keys, &kp, T0 + 6, &client, &a),
                     ERR_UNAUTHENTICATED);

    /* a key that expires: its family ends with it */
    struct auth_key_created k2;
    struct auth_key_principal kp2;
    make_key(&t, user, AUTHZ_ROLE_EDITOR, AUTH_SCOPE_CONTENT_READ, T0 + 100, &k2, &kp2);
    assert_int_equal(auth_token_issue_key(S.s, &S.keys, &kp2, T0 + 10, &client, &a), ERR_OK);
    assert_int_equal(a.access_expires_at, T0 + 100);
    assert_int_equal(a.refresh_expires_at, T0 + 100);
    verify_ok(a.access, T0 + 99 - AUTH_ACCESS_LEEWAY_S, &pr);
    verify_refused(a.access, T0 + 100);
    refresh_refused(a.refresh, T0 + 100);
    /* a deleted key takes its families with it */
    struct auth_key_created k3;
    struct auth_key_principal kp3;
    make_key(&t, user, AUTHZ_ROLE_EDITOR, AUTH_SCOPE_CONTENT_READ, 0, &k3, &kp3);
    assert_int_equal(auth_token_issue_key(S.s, &S.keys, &kp3, T0 + 10, &client, &b), ERR_OK);
    const char *args[] = {kp3.key_id};
    exec_in(&t, "DELETE FROM api_keys WHERE tenant_id = $1 AND id = $2", 1, args, NULL);
    verify_refused(b.access, T0 + 11);
    assert_int_equal(query_int(&t,
                               "SELECT count(*) FROM token_families WHERE tenant_id = $1"
                               " AND id = $2",
                               b.family_id),
                     0);

    struct trail tr;
    trail_read(&t, &tr);
    /* issued and refreshed by the key, on behalf of its creator */
    size_t by_key = 0;
    for (size_t i = 0; i < tr.n; i++)
        by_key += strncmp(tr.ev[i].action, "token.", 6) == 0 &&
                  strcmp(tr.ev[i].actor_type, "api_key") == 0 &&
                  strcmp(tr.ev[i].actor_id, kp.key_id) == 0 &&
                  strstr(tr.ev[i].details, user) != NULL;
    assert_int_equal(by_key, 2); /* issued and refreshed */
    assert_int_equal(trail_count(&tr, "token.issued", "success", NULL, "\"grant\":\"api_key\""),
                     3); /* kp, kp2, kp3: never the revoked key */
    assert_null(strstr(tr.raw, k.text));
    trail_release(&tr);
    auth_key_created_wipe(&k);
    auth_key_created_wipe(&k2);
    auth_key_created_wipe(&k3);
    auth_token_pair_wipe(&a);
    auth_token_pair_wipe(&b);
}

static void test_tenant_isolation(void **state)
{
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    char ua[AUTH_USER_ID_LEN + 1], ub[AUTH_USER_ID_LEN + 1];
    new_user(&a, "super_admin", true, ua);
    new_user(&b, "super_admin", true, ub);
    struct auth_token_pair pa, pb;
    issue_ok(&a, ua, T0, &pa);
    issue_ok(&b, ub, T0, &pb);

    /* A's refresh token with B's tenant part: a text whose hash exists nowhere */
    char swapped[AUTH_REFRESH_TEXT_LEN + 1];
    memcpy(swapped, pa.refresh, sizeof swapped);
    memcpy(swapped + 4, b.id, STORAGE_TENANT_ID_LEN);
    refresh_refused(swapped, T0 + 1);
    /* A's user issued in B's context does not exist there */
    struct auth_token_pair x;
    assert_int_equal(
        auth_token_issue_user(S.s, &S.keys, &b, ua, T0, AUTH_VALID_AFTER_UNCHECKED, &client, &x),
        ERR_UNAUTHENTICATED);
    /* B's token cannot revoke A's family: the revocation is bound to B */
    struct auth_token_principal pra, prb;
    verify_ok(pa.access, T0 + 1, &pra);
    verify_ok(pb.access, T0 + 1, &prb);
    struct auth_token_principal forged = prb;
    memcpy(forged.family_id, pra.family_id, sizeof forged.family_id);
    assert_int_equal(auth_token_revoke(S.s, &forged, T0 + 2, &client), ERR_OK);
    verify_ok(pa.access, T0 + 3, &pra);
    refresh_ok(pa.refresh, T0 + 3, &x);
    /* the rows stay in their tenants */
    assert_int_equal(query_int(&b,
                               "SELECT count(*) FROM token_families WHERE tenant_id = $1"
                               " AND id = $2",
                               pra.family_id),
                     0);

    if (S.pg) {
        /* a forged statement ignoring the tenant still sees only its own rows */
        static const char *const tables[] = {"token_families", "refresh_tokens",
                                             "access_token_denylist"};
        PGconn *c = PQconnectdb(getenv("SHIPLOG_TEST_PG_APP_URL"));
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        for (size_t i = 0; i < 3; i++) {
            char sql[512];
            snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
            PGresult *res = PQexec(c, sql); /* no tenant bound: nothing */
            assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
            assert_string_equal(PQgetvalue(res, 0, 0), "0");
            PQclear(res);
            snprintf(sql, sizeof sql,
                     "SELECT relrowsecurity AND relforcerowsecurity"
                     " AND NOT has_table_privilege('public', '%s', 'SELECT')"
                     " AND has_table_privilege('shiplog_app', '%s', 'DELETE')"
                     " AND (SELECT count(*) FROM pg_policies WHERE tablename = '%s') = 2"
                     " FROM pg_class WHERE relname = '%s'",
                     tables[i], tables[i], tables[i], tables[i]);
            res = PQexec(c, sql);
            assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
            assert_string_equal(PQgetvalue(res, 0, 0), "t");
            PQclear(res);
        }
        PQfinish(c);
        const char *app = getenv("SHIPLOG_TEST_PG_APP_URL");
        long changed = -1;
        assert_true(testdb_pg_as_tenant(app, b.id,
                                        "UPDATE token_families SET revoked_at = 1 WHERE id = $1", 1,
                                        (const char *const[]){pra.family_id}, &changed));
        assert_int_equal(changed, 0);
        assert_true(testdb_pg_as_tenant(app, b.id, "DELETE FROM refresh_tokens WHERE true", 0, NULL,
                                        &changed));
        assert_int_equal(changed, 1); /* B's own (pb's) only */
        /* planting a deny-list entry for A's token while bound to B is refused ... */
        assert_false(testdb_pg_as_tenant(
            app, b.id,
            "INSERT INTO access_token_denylist (tenant_id, jti, expires_at) VALUES ($1, $2, 0)", 2,
            (const char *const[]){a.id, pra.jti}, NULL));
        /* ... and the same bound to A succeeds: the refusal is row-level security */
        assert_true(testdb_pg_as_tenant(
            app, a.id,
            "INSERT INTO access_token_denylist (tenant_id, jti, expires_at) VALUES ($1, $2, 0)", 2,
            (const char *const[]){a.id, pra.jti}, NULL));
        verify_ok(pa.access, T0 + 4, &pra); /* (rolled back) */
    }
    auth_token_pair_wipe(&pa);
    auth_token_pair_wipe(&pb);
    auth_token_pair_wipe(&x);
}

static void test_family_limit(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    struct auth_token_pair first, p;
    issue_ok(&t, user, T0, &first);
    for (int i = 1; i < AUTH_MAX_FAMILIES_PER_USER; i++)
        issue_ok(&t, user, T0 + i, &p);
    assert_int_equal(families_live(&t, user), AUTH_MAX_FAMILIES_PER_USER);
    struct auth_token_principal pr;
    verify_ok(first.access, T0 + 100, &pr); /* at the limit: all live */
    issue_ok(&t, user, T0 + 100, &p);       /* one past: the oldest goes */
    assert_int_equal(families_live(&t, user), AUTH_MAX_FAMILIES_PER_USER);
    verify_refused(first.access, T0 + 101);
    refresh_refused(first.refresh, T0 + 101);
    verify_ok(p.access, T0 + 101, &pr);
    struct trail tr;
    trail_read(&t, &tr);
    assert_int_equal(
        trail_count(&tr, "token.revoked", "success", first.family_id, "\"reason\":\"limit\""), 1);
    trail_release(&tr);

    /* API-key grants count per key and evict only their own kind: a weak key's grants,
     * however many, never end the owner's password sign-ins, nor another key's families */
    struct auth_key_created k, k2;
    struct auth_key_principal kp, kp2;
    make_key(&t, user, AUTHZ_ROLE_MEMBER, AUTH_SCOPE_CONTENT_READ, 0, &k, &kp);
    make_key(&t, user, AUTHZ_ROLE_MEMBER, AUTH_SCOPE_CONTENT_READ, 0, &k2, &kp2);
    struct auth_token_pair other, key_first;
    assert_int_equal(auth_token_issue_key(S.s, &S.keys, &kp2, T0 + 200, &client, &other), ERR_OK);
    assert_int_equal(auth_token_issue_key(S.s, &S.keys, &kp, T0 + 200, &client, &key_first),
                     ERR_OK);
    for (int i = 1; i <= AUTH_MAX_FAMILIES_PER_KEY; i++) /* one past the key's limit */
        assert_int_equal(auth_token_issue_key(S.s, &S.keys, &kp, T0 + 200 + i, &client, &p),
                         ERR_OK);
    const char *password_live = "SELECT count(*) FROM token_families WHERE tenant_id = $1"
                                " AND user_id = $2 AND api_key_id IS NULL AND revoked_at IS NULL";
    const char *key_live = "SELECT count(*) FROM token_families WHERE tenant_id = $1"
                           " AND api_key_id = $2 AND revoked_at IS NULL";
    assert_int_equal(query_int(&t, password_live, user), AUTH_MAX_FAMILIES_PER_USER);
    assert_int_equal(query_int(&t, key_live, kp.key_id), AUTH_MAX_FAMILIES_PER_KEY);
    assert_int_equal(query_int(&t, key_live, kp2.key_id), 1);
    verify_refused(key_first.access, T0 + 300); /* the key's own oldest went */
    verify_ok(other.access, T0 + 300, &pr);
    verify_ok(p.access, T0 + 300, &pr);
    /* and a password grant past its limit takes a password family, never a key's */
    issue_ok(&t, user, T0 + 300, &p);
    assert_int_equal(query_int(&t, password_live, user), AUTH_MAX_FAMILIES_PER_USER);
    assert_int_equal(query_int(&t, key_live, kp.key_id), AUTH_MAX_FAMILIES_PER_KEY);
    assert_int_equal(query_int(&t, key_live, kp2.key_id), 1);
    trail_read(&t, &tr);
    assert_int_equal(
        trail_count(&tr, "token.revoked", "success", key_first.family_id, "\"grant\":\"api_key\""),
        1);
    trail_release(&tr);
    auth_key_created_wipe(&k);
    auth_key_created_wipe(&k2);
    auth_token_pair_wipe(&other);
    auth_token_pair_wipe(&key_first);
    auth_token_pair_wipe(&first);
    auth_token_pair_wipe(&p);
}

static void test_input_limits(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    struct auth_token_pair p;
    issue_ok(&t, user, T0, &p);

    /* refresh text: at the limit a malformed text, one past it ERR_LIMIT */
    char text[AUTH_MAX_REFRESH_TEXT + 2];
    memset(text, 'a', sizeof text);
    memcpy(text, p.refresh, AUTH_REFRESH_TEXT_LEN);
    refresh_refused((text[AUTH_MAX_REFRESH_TEXT] = '\0', text), T0);
    memset(text, 'a', sizeof text);
    text[AUTH_MAX_REFRESH_TEXT + 1] = '\0';
    struct auth_token_pair q;
    assert_int_equal(auth_token_refresh(S.s, &S.keys, str_from_cstr(text), T0, &client, &q),
                     ERR_LIMIT);
    /* every other shape: one answer */
    refresh_refused("", T0);
    refresh_refused("shr_", T0);
    char cut[AUTH_REFRESH_TEXT_LEN];
    memcpy(cut, p.refresh, sizeof cut - 1);
    cut[sizeof cut - 1] = '\0';
    refresh_refused(cut, T0);
    char bad[AUTH_REFRESH_TEXT_LEN + 1];
    memcpy(bad, p.refresh, sizeof bad);
    bad[AUTH_REFRESH_TEXT_LEN - 1] = '!';
    refresh_refused(bad, T0);
    memcpy(bad, p.refresh, sizeof bad);
    bad[0] = 'x'; /* xhr_ */
    refresh_refused(bad, T0);

    /* access text: at the limit refused as a token, one past it ERR_LIMIT */
    char *big = malloc(AUTH_MAX_ACCESS_TEXT + 2);
    REQUIRE(big);
    memset(big, 'a', AUTH_MAX_ACCESS_TEXT + 1);
    big[AUTH_MAX_ACCESS_TEXT] = '\0';
    verify_refused(big, T0);
    big[AUTH_MAX_ACCESS_TEXT] = 'a';
    big[AUTH_MAX_ACCESS_TEXT + 1] = '\0';
    struct auth_token_principal pr;
    assert_int_equal(auth_token_verify(S.s, &S.keys, str_from_cstr(big), T0, &pr), ERR_LIMIT);
    free(big);

    /* client fields at their limit and one past */
    char ip[AUTH_MAX_CLIENT_IP + 2];
    memset(ip, '1', sizeof ip);
    ip[AUTH_MAX_CLIENT_IP] = '\0';
    struct auth_client c = {.ip = ip};
    assert_int_equal(
        auth_token_issue_user(S.s, &S.keys, &t, user, T0, AUTH_VALID_AFTER_UNCHECKED, &c, &q),
        ERR_OK);
    ip[AUTH_MAX_CLIENT_IP] = '1';
    ip[AUTH_MAX_CLIENT_IP + 1] = '\0';
    assert_int_equal(
        auth_token_issue_user(S.s, &S.keys, &t, user, T0, AUTH_VALID_AFTER_UNCHECKED, &c, &q),
        ERR_LIMIT);
    assert_int_equal(auth_token_refresh(S.s, &S.keys, str_from_cstr(p.refresh), T0, &c, &q),
                     ERR_LIMIT);
    /* malformed arguments */
    assert_int_equal(auth_token_issue_user(S.s, &S.keys, &t, "nope", T0, AUTH_VALID_AFTER_UNCHECKED,
                                           &client, &q),
                     ERR_INVALID);
    assert_int_equal(
        auth_token_issue_user(S.s, &S.keys, &t, user, -1, AUTH_VALID_AFTER_UNCHECKED, &client, &q),
        ERR_INVALID);
    assert_int_equal(auth_token_issue_key(S.s, &S.keys, NULL, T0, &client, &q), ERR_INVALID);
    assert_int_equal(auth_token_verify(S.s, &S.keys, str_from_cstr(p.access), T0, NULL),
                     ERR_INVALID);

    /* the issuer: the public URL when it fits the claim alphabet, else "shiplog" */
    struct auth_token_keys k;
    assert_int_equal(auth_token_keys_init(&k, &S.ring, "https://a.test:8443//"), ERR_OK);
    assert_string_equal(k.issuer, "https://a.test:8443");
    assert_int_equal(auth_token_keys_init(&k, &S.ring, "https://a.test/~x"), ERR_OK);
    assert_string_equal(k.issuer, "shiplog");
    char url[JWT_MAX_ISS + 2];
    memset(url, 'a', sizeof url);
    url[JWT_MAX_ISS] = '\0';
    assert_int_equal(auth_token_keys_init(&k, &S.ring, url), ERR_OK);
    assert_string_equal(k.issuer, url);
    url[JWT_MAX_ISS] = 'a';
    url[JWT_MAX_ISS + 1] = '\0';
    assert_int_equal(auth_token_keys_init(&k, &S.ring, url), ERR_OK);
    assert_string_equal(k.issuer, "shiplog");
    struct keyring empty = {.n = 0};
    assert_int_equal(auth_token_keys_init(&k, &empty, url), ERR_INVALID);
    auth_token_pair_wipe(&p);
}

static int64_t count_all(const struct tenant_ctx *t, const char *table_sql)
{
    return query_int(t, table_sql, NULL);
}

static void test_cleanup(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    int64_t base = T0 + 1000000;
    struct auth_token_pair live, old, signed_out;
    issue_ok(&t, user, base, &live);
    issue_ok(&t, user, base, &old);
    issue_ok(&t, user, base, &signed_out);
    struct auth_token_pair rotated;
    refresh_ok(live.refresh, base + 10, &rotated); /* live's first refresh token is used */
    struct auth_token_principal pr;
    verify_ok(signed_out.access, base + 1, &pr);
    assert_int_equal(auth_token_revoke(S.s, &pr, base + 20, &client), ERR_OK);
    struct auth_token_principal po;
    verify_ok(old.access, base + 1, &po);
    const char *fam[] = {po.family_id};
    exec_in(&t,
            "UPDATE token_families SET expires_at = created_at + 30 WHERE tenant_id = $1"
            " AND id = $2",
            1, fam, NULL);

    /* within the grace nothing goes */
    struct auth_tokens_cleanup_stats st;
    assert_int_equal(auth_tokens_cleanup(S.s, base + AUTH_TOKEN_CLEANUP_GRACE_S, &st), ERR_OK);
    assert_int_equal(count_all(&t, "SELECT count(*) FROM token_families WHERE tenant_id = $1"), 3);
    /* past it: the revoked and the ended family, the deny-list entry (its token's exp is
     * earlier still); the live family and both its refresh tokens stay (the used one so a
     * reuse is still caught) */
    assert_int_equal(auth_tokens_cleanup(S.s, base + 30 + AUTH_TOKEN_CLEANUP_GRACE_S + 1000, &st),
                     ERR_OK);
    assert_true(st.families >= 2);
    assert_true(st.denylist >= 1);
    assert_int_equal(count_all(&t, "SELECT count(*) FROM token_families WHERE tenant_id = $1"), 1);
    assert_int_equal(count_all(&t, "SELECT count(*) FROM access_token_denylist"
                                   " WHERE tenant_id = $1"),
                     0);
    assert_int_equal(count_all(&t, "SELECT count(*) FROM refresh_tokens WHERE tenant_id = $1"), 2);
    refresh_refused(live.refresh, base + 30); /* still a reuse */
    /* refresh tokens go a day after their expiry; then the family on its own end */
    issue_ok(&t, user, base + 100, &live);
    int64_t later = base + 100 + AUTH_REFRESH_TTL_S + AUTH_TOKEN_CLEANUP_GRACE_S;
    assert_int_equal(auth_tokens_cleanup(S.s, later, &st), ERR_OK);
    assert_true(st.refresh_tokens >= 1);
    assert_int_equal(count_all(&t, "SELECT count(*) FROM refresh_tokens WHERE tenant_id = $1"), 0);
    assert_int_equal(count_all(&t, "SELECT count(*) FROM token_families WHERE tenant_id = $1"), 1);
    assert_int_equal(
        auth_tokens_cleanup(S.s, base + 100 + AUTH_FAMILY_TTL_S + AUTH_TOKEN_CLEANUP_GRACE_S, &st),
        ERR_OK);
    assert_int_equal(count_all(&t, "SELECT count(*) FROM token_families WHERE tenant_id = $1"), 0);
    auth_token_pair_wipe(&live);
    auth_token_pair_wipe(&old);
    auth_token_pair_wipe(&signed_out);
    auth_token_pair_wipe(&rotated);
}

static void test_audit_trail(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char user[AUTH_USER_ID_LEN + 1];
    new_user(&t, "member", true, user);
    struct auth_token_pair a, b;
    issue_ok(&t, user, T0, &a);
    refresh_ok(a.refresh, T0 + 1, &b);
    refresh_refused(a.refresh, T0 + 2); /* reuse */
    struct auth_token_pair c;
    issue_ok(&t, user, T0 + 3, &c);
    struct auth_token_principal pr;
    verify_ok(c.access, T0 + 3, &pr);
    assert_int_equal(auth_token_revoke(S.s, &pr, T0 + 4, &client), ERR_OK);

    struct trail tr;
    trail_read(&t, &tr);
    assert_int_equal(trail_count(&tr, "token.issued", "success", NULL, "\"grant\":\"password\""),
                     2);
    assert_int_equal(trail_count(&tr, "token.refreshed", "success", NULL, NULL), 1);
    assert_int_equal(trail_count(&tr, "token.reuse_detected", "denied", NULL, NULL), 1);
    assert_int_equal(trail_count(&tr, "token.revoked", "success", NULL, NULL), 1);
    for (size_t i = 0; i < tr.n; i++) {
        assert_string_equal(tr.ev[i].client_ip, "192.0.2.8");
        assert_string_equal(tr.ev[i].request_id, "req-token-test");
        assert_memory_equal(tr.ev[i].target, "token_family:", 13);
        bool anonymous = strcmp(tr.ev[i].action, "token.reuse_detected") == 0;
        assert_string_equal(tr.ev[i].actor_type, anonymous ? "anonymous" : "user");
        if (!anonymous)
            assert_string_equal(tr.ev[i].actor_id, user);
    }
    const struct auth_token_pair *all[] = {&a, &b, &c};
    for (size_t i = 0; i < 3; i++) {
        char h[2 * SHA256_LEN + 1];
        hex_sha256(all[i]->refresh, h);
        assert_null(strstr(tr.raw, all[i]->refresh));
        assert_null(strstr(tr.raw, all[i]->refresh + 4 + STORAGE_TENANT_ID_LEN + 1));
        assert_null(strstr(tr.raw, h));
        assert_null(strstr(tr.raw, strrchr(all[i]->access, '.') + 1)); /* no signature */
    }
    assert_null(strstr(tr.raw, "[masked]"));
    trail_release(&tr);
    struct audit_trusted_keys keys = {.n = 0};
    struct audit_verify_result res;
    assert_int_equal(audit_verify_tenant(S.s, &t, &keys, &res), ERR_OK);
    assert_int_equal(res.kind, AUDIT_OK);
    assert_int_equal(res.entries, 5);
    auth_token_pair_wipe(&a);
    auth_token_pair_wipe(&b);
    auth_token_pair_wipe(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_and_verify),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_tampered_tokens),
        cmocka_unit_test(test_rotation_and_reuse),
        cmocka_unit_test(test_concurrent_refresh),
        cmocka_unit_test(test_signout),
        cmocka_unit_test(test_signout_everywhere),
        cmocka_unit_test(test_grant_races_revocation),
        cmocka_unit_test(test_user_deleted),
        cmocka_unit_test(test_unverified_user),
        cmocka_unit_test(test_key_tokens),
        cmocka_unit_test(test_tenant_isolation),
        cmocka_unit_test(test_family_limit),
        cmocka_unit_test(test_input_limits),
        cmocka_unit_test(test_cleanup),
        cmocka_unit_test(test_audit_trail),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
