/*
 * Members suite (issue 5 item 2; accounts.h "members and invitations"):
 * invitations (mail, acceptance, expiry, single use, revocation,
 * replacement, taken addresses), the role rules for every pair of roles,
 * self-changes and the last Super Admin (also under concurrent demotions),
 * an API key never counting as its creator, removal cutting sessions (with
 * the session cache on) and API keys at once, a promotion ending sessions
 * and token families, a removed or demoted inviter's open invitations
 * revoked, another tenant's ids, and every named limit one past, against
 * whichever backend the environment selects:
 *
 *   SHIPLOG_TEST_PG_{OWNER,APP,VAULT_OWNER,VAULT_APP}_URL set (scripts/pgtmp
 *   run): PostgreSQL; otherwise SQLite files in a fresh mkdtemp directory.
 *
 * bcrypt runs at cost 10; time is the suite's fake clock, moved forward only.
 */
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

#include "../common/testdb.h"

#include "accounts/accounts.h"
#include "auth/auth.h"
#include "auth/tokens.h"
#include "crypto/keyring.h"
#include "secrets/secrets.h"

#define KEY_A          "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define PASSWORD       "correct horse battery staple"
#define COST           10
#define SUITE_CACHE_MS 1000 /* the server's default SHIPLOG_SESSION_CACHE_MS */
#define RACES          8    /* rounds of the concurrent demotion test */

struct suite {
    bool pg;
    char dir[64];
    char main_path[128], vault_path[128];
    struct storage *main_app, *vault_app;
    struct keyring ring;
    struct secrets *sec;
    struct accounts *acc;
    int64_t now;
    unsigned seq;
};

static struct suite S;

static int64_t fake_clock(void *arg)
{
    (void)arg;
    return S.now;
}

static struct accounts_client CLIENT = {
    .ip = "192.0.2.77", .user_agent = "members-test/1.0", .request_id = "req-members"};

/* ---- the invitation mail, captured ------------------------------------------ */

struct captured {
    unsigned count;
    char to[ACCOUNTS_MAX_EMAIL + 1];
    char token[ACCOUNTS_SECRET_LEN + 1];
    char org[ACCOUNTS_MAX_TENANT_NAME + 1];
    enum authz_role role;
    int64_t expires_at;
    bool fail; /* the mailer refuses: the invitation must not exist */
};

static struct captured MAIL;

static enum err capture(void *arg, struct tx *tx, const struct accounts_invite_mail *m)
{
    (void)tx;
    struct captured *c = arg;
    if (c->fail)
        return ERR_IO;
    c->count++;
    snprintf(c->to, sizeof c->to, "%s", m->to);
    snprintf(c->token, sizeof c->token, "%s", m->token);
    snprintf(c->org, sizeof c->org, "%s", m->org);
    c->role = m->role;
    c->expires_at = m->expires_at;
    return ERR_OK;
}

static const struct accounts_invite_mailer MAILER = {.queue = capture, .arg = &MAIL};

/* ---- set-up ------------------------------------------------------------------- */

static int suite_setup(void **state)
{
    (void)state;
    const char *owner = getenv("SHIPLOG_TEST_PG_OWNER_URL"),
               *app = getenv("SHIPLOG_TEST_PG_APP_URL");
    const char *vowner = getenv("SHIPLOG_TEST_PG_VAULT_OWNER_URL");
    const char *vapp = getenv("SHIPLOG_TEST_PG_VAULT_APP_URL");
    S.pg = owner && owner[0] && app && app[0] && vowner && vowner[0] && vapp && vapp[0];
    if (!S.pg) {
        owner = app = vowner = vapp = NULL;
        snprintf(S.dir, sizeof S.dir, "/tmp/shiplog-members-XXXXXX");
        if (!mkdtemp(S.dir))
            return -1;
        snprintf(S.main_path, sizeof S.main_path, "%s/shiplog.db", S.dir);
        snprintf(S.vault_path, sizeof S.vault_path, "%s/keyvault.db", S.dir);
    }
    const char *mp = S.pg ? NULL : S.main_path, *vp = S.pg ? NULL : S.vault_path;
    struct storage *m = testdb_open(STORAGE_SCHEMA_MAIN, owner, mp, true);
    struct storage *v = testdb_open(STORAGE_SCHEMA_VAULT, vowner, vp, true);
    struct buf detail = BUF_INIT(2048);
    enum err e = m && v ? storage_migrate(m, &detail) : ERR_UNAVAILABLE;
    if (!e)
        e = storage_migrate(v, &detail);
    if (e)
        fprintf(stderr, "# migrate: %s: %s\n", err_name(e), buf_cstr(&detail));
    buf_release(&detail);
    storage_close(m);
    storage_close(v);
    if (e)
        return -1;
    S.main_app = testdb_open(STORAGE_SCHEMA_MAIN, app, mp, false);
    S.vault_app = testdb_open(STORAGE_SCHEMA_VAULT, vapp, vp, false);
    if (!S.main_app || !S.vault_app)
        return -1;
    testdb_load_ring(S.pg ? "/tmp" : S.dir, KEY_A, NULL, &S.ring);
    if (secrets_open(S.main_app, S.vault_app, &S.ring, &S.sec) != ERR_OK)
        return -1;
    struct accounts_options o = {.db = S.main_app,
                                 .secrets = S.sec,
                                 .ring = &S.ring,
                                 .bcrypt_cost = COST,
                                 .session_cache_ms = SUITE_CACHE_MS};
    if (accounts_open(&o, &S.acc) != ERR_OK)
        return -1;
    S.now = 1700000000;
    accounts_set_clock(S.acc, fake_clock, NULL);
    accounts_set_request_floor_ms(S.acc, 0);
    printf("# backend: %s\n", S.pg ? "postgresql" : "sqlite");
    return 0;
}

static void rm_sqlite(const char *path)
{
    char p[192];
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

static int suite_teardown(void **state)
{
    (void)state;
    accounts_close(S.acc);
    secrets_close(S.sec);
    storage_close(S.main_app);
    storage_close(S.vault_app);
    keyring_wipe(&S.ring);
    if (!S.pg) {
        rm_sqlite(S.main_path);
        rm_sqlite(S.vault_path);
        rmdir(S.dir);
    }
    return 0;
}

/* ---- helpers -------------------------------------------------------------------- */

static struct str s_(const char *s)
{
    return str_from_cstr(s);
}

static void new_email(char *out, size_t cap)
{
    snprintf(out, cap, "member%u.%ld@example.com", ++S.seq, (long)getpid());
}

/* Someone in a tenant, with a session, and the actor they make. */
struct person {
    char email[96];
    struct accounts_user_ref user;
    char sid[ACCOUNTS_SECRET_LEN + 1];
    enum authz_role role;
};

static struct accounts_actor actor(const struct person *p)
{
    return (struct accounts_actor){.user = p->user, .role = p->role, .key_id = NULL};
}

/* A new tenant whose verified Super Admin is owner. */
static void new_tenant(struct person *owner)
{
    memset(owner, 0, sizeof *owner);
    new_email(owner->email, sizeof owner->email);
    struct accounts_signup_result r;
    char org[64];
    snprintf(org, sizeof org, "Acme Members %u", S.seq);
    assert_int_equal(accounts_signup(S.acc, s_(owner->email), s_(PASSWORD), s_(org), &CLIENT, &r),
                     ERR_OK);
    assert_int_equal(accounts_verify_email(S.acc, s_(r.verify_token), &CLIENT, NULL), ERR_OK);
    owner->user = r.user;
    owner->role = AUTHZ_ROLE_SUPER_ADMIN;
    struct accounts_session s;
    assert_int_equal(
        accounts_signin(S.acc, s_(owner->email), s_(PASSWORD), &CLIENT, owner->sid, &s), ERR_OK);
}

/* by invites a new address with role; returns the mailed token in MAIL.token. */
static void invite(const struct person *by, const char *email, enum authz_role role)
{
    struct accounts_actor who = actor(by);
    struct accounts_invitation_created out;
    const char *reason = NULL;
    unsigned before = MAIL.count;
    enum err e = accounts_invite(S.acc, &who, s_(email), role, &CLIENT, &MAILER, &out, &reason);
    if (e)
        fail_msg("invite: %s (%s)", err_name(e), reason ? reason : "-");
    assert_int_equal(MAIL.count, before + 1);
    assert_string_equal(MAIL.token, out.token);
    assert_int_equal(out.role, role);
}

/* A member of by's tenant with role, invited and accepted, signed in. */
static void join(const struct person *by, enum authz_role role, struct person *out)
{
    memset(out, 0, sizeof *out);
    new_email(out->email, sizeof out->email);
    invite(by, out->email, role);
    struct accounts_session s;
    const char *reason = NULL;
    assert_int_equal(accounts_invitation_accept(S.acc, s_(MAIL.token), s_(PASSWORD), &CLIENT,
                                                out->sid, &s, &reason),
                     ERR_OK);
    out->user = s.user;
    out->role = role;
    assert_string_equal(s.role, authz_role_name(role));
    assert_true(s.email_verified);
    assert_string_equal(s.user.tenant.id, by->user.tenant.id);
}

static int64_t query_int(const struct tenant_ctx *t, const char *sql, const char *arg)
{
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(S.main_app, t, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_prepare(tx, sql, &st), ERR_OK);
    if (arg)
        assert_int_equal(stmt_bind_text(st, 2, s_(arg)), ERR_OK);
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_true(row);
    int64_t v = stmt_col_int(st, 0);
    stmt_finish(st);
    storage_rollback(tx);
    return v;
}

static int64_t audit_count(const struct tenant_ctx *t, const char *action, const char *outcome)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2%s%s%s",
             outcome ? " AND outcome = '" : "", outcome ? outcome : "", outcome ? "'" : "");
    return query_int(t, sql, action);
}

static enum authz_role stored_role(const struct person *p)
{
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(storage_begin(S.main_app, &p->user.tenant, TX_READ, &tx), ERR_OK);
    assert_int_equal(tx_query(tx, "SELECT role FROM users WHERE tenant_id = $1 AND id = $2",
                              STORAGE_ARGS(STORAGE_CSTR(p->user.user_id)), &st, &row),
                     ERR_OK);
    enum authz_role r = row ? authz_role_parse(stmt_col_text(st, 0)) : AUTHZ_ROLE_NONE;
    stmt_finish(st);
    storage_rollback(tx);
    return r;
}

static enum err set_role(const struct person *by, const struct person *target, enum authz_role to)
{
    struct accounts_actor who = actor(by);
    return accounts_member_set_role(S.acc, &who, s_(target->user.user_id), to, &CLIENT, NULL);
}

static enum err remove_member(const struct person *by, const struct person *target)
{
    struct accounts_actor who = actor(by);
    return accounts_member_remove(S.acc, &who, s_(target->user.user_id), &CLIENT, NULL);
}

static void fill(char *buf, size_t n, char ch)
{
    memset(buf, ch, n);
    buf[n] = '\0';
}

/* ---- invitations ------------------------------------------------------------------- */

static void test_invite_and_accept(void **state)
{
    (void)state;
    struct person owner, ed;
    new_tenant(&owner);
    char email[96];
    new_email(email, sizeof email);
    char upper[96];
    snprintf(upper, sizeof upper, "%s", email);
    upper[0] = 'M';
    invite(&owner, upper, AUTHZ_ROLE_EDITOR);
    assert_string_equal(MAIL.to, email); /* normalized */
    assert_memory_equal(MAIL.org, "Acme Members ", 13);
    assert_int_equal(MAIL.role, AUTHZ_ROLE_EDITOR);
    assert_int_equal(MAIL.expires_at, S.now + ACCOUNTS_INVITE_TTL_S);
    assert_int_equal(strlen(MAIL.token), ACCOUNTS_SECRET_LEN);
    assert_memory_equal(MAIL.token, owner.user.tenant.id, STORAGE_TENANT_ID_LEN);
    char token[ACCOUNTS_SECRET_LEN + 1];
    memcpy(token, MAIL.token, sizeof token);
    /* only the hash is stored */
    assert_int_equal(query_int(&owner.user.tenant,
                               "SELECT count(*) FROM invitations WHERE tenant_id = $1 AND "
                               "token_hash = $2",
                               token + STORAGE_TENANT_ID_LEN + 1),
                     0);

    /* listed as open, with who invited */
    struct accounts_invitation list[ACCOUNTS_MAX_OPEN_INVITATIONS];
    size_t n = 0;
    assert_int_equal(accounts_invitations_list(S.acc, &owner.user.tenant, list, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].email, email);
    assert_int_equal(list[0].role, AUTHZ_ROLE_EDITOR);
    assert_string_equal(list[0].invited_by, owner.user.user_id);

    /* the page the link opens reads, and spends nothing, however often */
    struct accounts_invitation_info info;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(accounts_invitation_peek(S.acc, s_(token), &info), ERR_OK);
        assert_string_equal(info.email, email);
        assert_string_equal(info.org, MAIL.org);
        assert_int_equal(info.role, AUTHZ_ROLE_EDITOR);
    }

    /* a refused password spends nothing either */
    struct accounts_session s;
    const char *reason = NULL;
    assert_int_equal(
        accounts_invitation_accept(S.acc, s_(token), s_("short"), &CLIENT, ed.sid, &s, &reason),
        ERR_INVALID);
    assert_string_equal(reason, "too short");
    assert_int_equal(accounts_invitation_accept(S.acc, s_(token), s_("password1234"), &CLIENT,
                                                ed.sid, &s, &reason),
                     ERR_INVALID); /* the common-password list of sign-up */
    assert_non_null(reason);

    assert_int_equal(
        accounts_invitation_accept(S.acc, s_(token), s_(PASSWORD), &CLIENT, ed.sid, &s, &reason),
        ERR_OK);
    assert_null(reason);
    assert_string_equal(s.role, "editor");
    assert_true(s.email_verified);
    assert_string_equal(s.user.tenant.id, owner.user.tenant.id);
    /* signed in: the session works, and so does the password */
    struct accounts_session looked;
    assert_int_equal(accounts_session_lookup(S.acc, s_(ed.sid), &looked), ERR_OK);
    assert_string_equal(looked.role, "editor");
    assert_true(looked.email_verified);
    char sid2[ACCOUNTS_SECRET_LEN + 1];
    assert_int_equal(accounts_signin(S.acc, s_(upper), s_(PASSWORD), &CLIENT, sid2, &looked),
                     ERR_OK);
    assert_string_equal(looked.user.user_id, s.user.user_id);

    /* single use; the page shows nothing any more; the list is empty */
    assert_int_equal(
        accounts_invitation_accept(S.acc, s_(token), s_(PASSWORD), &CLIENT, sid2, &s, &reason),
        ERR_NOT_FOUND);
    assert_int_equal(accounts_invitation_peek(S.acc, s_(token), &info), ERR_NOT_FOUND);
    assert_int_equal(accounts_invitations_list(S.acc, &owner.user.tenant, list, &n), ERR_OK);
    assert_int_equal(n, 0);

    struct accounts_member members[ACCOUNTS_MEMBERS_PAGE];
    size_t total = 0;
    assert_int_equal(accounts_members_list(S.acc, &owner.user.tenant, 0, members, &n, &total),
                     ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(total, 2);
    assert_int_equal(audit_count(&owner.user.tenant, "member.invited", "success"), 1);
    assert_int_equal(audit_count(&owner.user.tenant, "member.joined", "success"), 1);
}

static void test_expiry_and_tampering(void **state)
{
    (void)state;
    struct person owner;
    new_tenant(&owner);
    char a[96], b[96];
    new_email(a, sizeof a);
    new_email(b, sizeof b);
    invite(&owner, a, AUTHZ_ROLE_MEMBER);
    char ta[ACCOUNTS_SECRET_LEN + 1];
    memcpy(ta, MAIL.token, sizeof ta);
    invite(&owner, b, AUTHZ_ROLE_MEMBER);
    char tb[ACCOUNTS_SECRET_LEN + 1];
    memcpy(tb, MAIL.token, sizeof tb);

    /* the tenant part edited, the random part edited, nonsense: nothing */
    char sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_session s;
    struct person other;
    new_tenant(&other);
    char forged[ACCOUNTS_SECRET_LEN + 1];
    memcpy(forged, ta, sizeof forged);
    memcpy(forged, other.user.tenant.id, STORAGE_TENANT_ID_LEN);
    const char *bad[] = {forged, "x", "", "00000000-0000-0000-0000-000000000000.abc", NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(
            accounts_invitation_accept(S.acc, s_(bad[i]), s_(PASSWORD), &CLIENT, sid, &s, NULL),
            ERR_NOT_FOUND);
    memcpy(forged, ta, sizeof forged);
    forged[ACCOUNTS_SECRET_LEN - 1] = forged[ACCOUNTS_SECRET_LEN - 1] == 'A' ? 'B' : 'A';
    assert_int_equal(
        accounts_invitation_accept(S.acc, s_(forged), s_(PASSWORD), &CLIENT, sid, &s, NULL),
        ERR_NOT_FOUND);

    /* one second before the end it works; at the end it does not */
    S.now += ACCOUNTS_INVITE_TTL_S - 1;
    assert_int_equal(
        accounts_invitation_accept(S.acc, s_(ta), s_(PASSWORD), &CLIENT, sid, &s, NULL), ERR_OK);
    S.now += 1;
    struct accounts_invitation_info info;
    assert_int_equal(accounts_invitation_peek(S.acc, s_(tb), &info), ERR_NOT_FOUND);
    assert_int_equal(
        accounts_invitation_accept(S.acc, s_(tb), s_(PASSWORD), &CLIENT, sid, &s, NULL),
        ERR_NOT_FOUND);
    /* an expired invitation can be replaced by a new one */
    invite(&owner, b, AUTHZ_ROLE_EDITOR);
    assert_int_equal(
        accounts_invitation_accept(S.acc, s_(MAIL.token), s_(PASSWORD), &CLIENT, sid, &s, NULL),
        ERR_OK);
    assert_string_equal(s.role, "editor");
    S.now += 1;
}

static void test_revoke_and_replace(void **state)
{
    (void)state;
    struct person owner;
    new_tenant(&owner);
    struct accounts_actor who = actor(&owner);
    char email[96];
    new_email(email, sizeof email);

    invite(&owner, email, AUTHZ_ROLE_ADMIN);
    char first[ACCOUNTS_SECRET_LEN + 1];
    memcpy(first, MAIL.token, sizeof first);
    invite(&owner, email, AUTHZ_ROLE_MEMBER); /* replaces it */
    char second[ACCOUNTS_SECRET_LEN + 1];
    memcpy(second, MAIL.token, sizeof second);
    struct accounts_invitation list[ACCOUNTS_MAX_OPEN_INVITATIONS];
    size_t n = 0;
    assert_int_equal(accounts_invitations_list(S.acc, &owner.user.tenant, list, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].role, AUTHZ_ROLE_MEMBER);
    struct accounts_invitation_info info;
    assert_int_equal(accounts_invitation_peek(S.acc, s_(first), &info), ERR_NOT_FOUND);
    assert_int_equal(accounts_invitation_peek(S.acc, s_(second), &info), ERR_OK);
    assert_int_equal(audit_count(&owner.user.tenant, "member.invitation_revoked", "success"), 1);

    /* revoked: the link is dead, the id is gone from the list, revoking again is 404 */
    assert_int_equal(accounts_invitation_revoke(S.acc, &who, s_(list[0].id), &CLIENT, NULL),
                     ERR_OK);
    char sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_session s;
    assert_int_equal(
        accounts_invitation_accept(S.acc, s_(second), s_(PASSWORD), &CLIENT, sid, &s, NULL),
        ERR_NOT_FOUND);
    assert_int_equal(accounts_invitation_revoke(S.acc, &who, s_(list[0].id), &CLIENT, NULL),
                     ERR_NOT_FOUND);
    assert_int_equal(accounts_invitations_list(S.acc, &owner.user.tenant, list, &n), ERR_OK);
    assert_int_equal(n, 0);

    /* a mail that cannot be queued leaves no invitation behind */
    MAIL.fail = true;
    struct accounts_invitation_created out;
    assert_int_equal(
        accounts_invite(S.acc, &who, s_(email), AUTHZ_ROLE_MEMBER, &CLIENT, &MAILER, &out, NULL),
        ERR_IO);
    MAIL.fail = false;
    assert_int_equal(out.token[0], '\0');
    assert_int_equal(accounts_invitations_list(S.acc, &owner.user.tenant, list, &n), ERR_OK);
    assert_int_equal(n, 0);
    /* no mailer at all: refused before anything */
    assert_int_equal(
        accounts_invite(S.acc, &who, s_(email), AUTHZ_ROLE_MEMBER, &CLIENT, NULL, &out, NULL),
        ERR_INVALID);
}

static void test_taken_addresses(void **state)
{
    (void)state;
    struct person owner, elsewhere, mem;
    new_tenant(&owner);
    new_tenant(&elsewhere);
    struct accounts_actor who = actor(&owner);
    struct accounts_invitation_created out;
    const char *reason = NULL;

    /* a member of this tenant: 409, nothing sent */
    join(&owner, AUTHZ_ROLE_MEMBER, &mem);
    unsigned before = MAIL.count;
    assert_int_equal(accounts_invite(S.acc, &who, s_(mem.email), AUTHZ_ROLE_MEMBER, &CLIENT,
                                     &MAILER, &out, &reason),
                     ERR_CONFLICT);
    assert_string_equal(reason, "this address is a member already");
    assert_int_equal(MAIL.count, before);

    /* an account in another tenant: invited like anyone (the inviter learns nothing) ... */
    invite(&owner, elsewhere.email, AUTHZ_ROLE_EDITOR);
    char token[ACCOUNTS_SECRET_LEN + 1];
    memcpy(token, MAIL.token, sizeof token);
    /* ... and the invitee, who holds the token, is told; nothing is spent */
    char sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_session s;
    assert_int_equal(
        accounts_invitation_accept(S.acc, s_(token), s_(PASSWORD), &CLIENT, sid, &s, &reason),
        ERR_CONFLICT);
    assert_non_null(reason);
    assert_int_equal(sid[0], '\0');
    struct accounts_invitation_info info;
    assert_int_equal(accounts_invitation_peek(S.acc, s_(token), &info), ERR_OK);
    assert_int_equal(query_int(&owner.user.tenant,
                               "SELECT count(*) FROM users WHERE tenant_id = $1 AND email = $2",
                               elsewhere.email),
                     0);
    /* once that account is gone, the same link works */
    struct person other_owner_b;
    struct accounts_actor eo = actor(&elsewhere);
    join(&elsewhere, AUTHZ_ROLE_SUPER_ADMIN, &other_owner_b);
    assert_int_equal(accounts_member_remove(S.acc, &eo, s_(elsewhere.user.user_id), &CLIENT, NULL),
                     ERR_OK);
    assert_int_equal(
        accounts_invitation_accept(S.acc, s_(token), s_(PASSWORD), &CLIENT, sid, &s, &reason),
        ERR_OK);
    assert_string_equal(s.user.tenant.id, owner.user.tenant.id);
}

/* ---- role rules ------------------------------------------------------------------------ */

static void test_every_role_pair(void **state)
{
    (void)state;
    struct person owner, actors[AUTHZ_ROLE_SUPER_ADMIN + 1], target;
    new_tenant(&owner);
    for (int r = AUTHZ_ROLE_MEMBER; r <= AUTHZ_ROLE_SUPER_ADMIN; r++)
        join(&owner, (enum authz_role)r, &actors[r]);
    join(&owner, AUTHZ_ROLE_MEMBER, &target);
    int64_t denied = audit_count(&owner.user.tenant, "member.role_changed", "denied");
    for (int a = AUTHZ_ROLE_MEMBER; a <= AUTHZ_ROLE_SUPER_ADMIN; a++) {
        for (int from = AUTHZ_ROLE_MEMBER; from <= AUTHZ_ROLE_SUPER_ADMIN; from++) {
            for (int to = AUTHZ_ROLE_MEMBER; to <= AUTHZ_ROLE_SUPER_ADMIN; to++) {
                assert_int_equal(set_role(&owner, &target, (enum authz_role)from), ERR_OK);
                bool allowed = a >= AUTHZ_ROLE_ADMIN && a >= from && a >= to;
                enum err e = set_role(&actors[a], &target, (enum authz_role)to);
                if (e != (allowed ? ERR_OK : ERR_FORBIDDEN))
                    fail_msg("%s setting %s to %s: %s", authz_role_name(a), authz_role_name(from),
                             authz_role_name(to), err_name(e));
                assert_int_equal(stored_role(&target), allowed ? to : from);
                if (!allowed)
                    denied++;
            }
        }
    }
    /* every refusal is on record */
    assert_int_equal(audit_count(&owner.user.tenant, "member.role_changed", "denied"), denied);

    /* removal: never above one's own role; not at all below Admin */
    for (int a = AUTHZ_ROLE_MEMBER; a <= AUTHZ_ROLE_SUPER_ADMIN; a++) {
        for (int r = AUTHZ_ROLE_MEMBER; r <= AUTHZ_ROLE_SUPER_ADMIN; r++) {
            struct person victim;
            join(&owner, (enum authz_role)r, &victim);
            bool allowed = a >= AUTHZ_ROLE_ADMIN && a >= r;
            assert_int_equal(remove_member(&actors[a], &victim), allowed ? ERR_OK : ERR_FORBIDDEN);
            assert_int_equal(stored_role(&victim), allowed ? AUTHZ_ROLE_NONE : r);
            if (!allowed)
                assert_int_equal(remove_member(&owner, &victim), ERR_OK);
        }
    }
    /* inviting: never above one's own role */
    for (int a = AUTHZ_ROLE_MEMBER; a <= AUTHZ_ROLE_SUPER_ADMIN; a++) {
        for (int r = AUTHZ_ROLE_MEMBER; r <= AUTHZ_ROLE_SUPER_ADMIN; r++) {
            char email[96];
            new_email(email, sizeof email);
            struct accounts_actor who = actor(&actors[a]);
            struct accounts_invitation_created out;
            bool allowed = a >= AUTHZ_ROLE_ADMIN && a >= r;
            assert_int_equal(accounts_invite(S.acc, &who, s_(email), (enum authz_role)r, &CLIENT,
                                             &MAILER, &out, NULL),
                             allowed ? ERR_OK : ERR_FORBIDDEN);
            if (!allowed)
                continue;
            /* and revoking: an Admin cannot revoke a Super Admin's invitation */
            for (int b = AUTHZ_ROLE_ADMIN; b <= AUTHZ_ROLE_SUPER_ADMIN; b++) {
                struct accounts_actor rev = actor(&actors[b]);
                enum err want = b >= r ? ERR_OK : ERR_FORBIDDEN;
                assert_int_equal(accounts_invitation_revoke(S.acc, &rev, s_(out.id), &CLIENT, NULL),
                                 want);
                if (!want)
                    break;
            }
        }
    }
    /* an Admin cannot re-invite an address a Super Admin invited as Super Admin */
    char email[96];
    new_email(email, sizeof email);
    invite(&owner, email, AUTHZ_ROLE_SUPER_ADMIN);
    struct accounts_actor adm = actor(&actors[AUTHZ_ROLE_ADMIN]);
    struct accounts_invitation_created out;
    assert_int_equal(
        accounts_invite(S.acc, &adm, s_(email), AUTHZ_ROLE_MEMBER, &CLIENT, &MAILER, &out, NULL),
        ERR_FORBIDDEN);
    struct accounts_invitation_info info;
    assert_int_equal(accounts_invitation_peek(S.acc, s_(MAIL.token), &info), ERR_OK);
    assert_int_equal(info.role, AUTHZ_ROLE_SUPER_ADMIN);
}

static void test_self_and_last_super_admin(void **state)
{
    (void)state;
    struct person owner, adm, second;
    new_tenant(&owner);
    join(&owner, AUTHZ_ROLE_ADMIN, &adm);
    const char *reason = NULL;
    struct accounts_actor me = actor(&owner);

    /* the last Super Admin: neither demoted (by themselves) nor removed */
    assert_int_equal(accounts_member_set_role(S.acc, &me, s_(owner.user.user_id), AUTHZ_ROLE_ADMIN,
                                              &CLIENT, &reason),
                     ERR_CONFLICT);
    assert_string_equal(reason, "the last Super Admin cannot be demoted");
    assert_int_equal(accounts_member_remove(S.acc, &me, s_(owner.user.user_id), &CLIENT, &reason),
                     ERR_CONFLICT);
    assert_string_equal(reason, "the last Super Admin cannot be removed");
    assert_int_equal(stored_role(&owner), AUTHZ_ROLE_SUPER_ADMIN);
    assert_int_equal(audit_count(&owner.user.tenant, "member.removed", "denied"), 1);

    /* nobody else changes their own role: an Admin neither up nor down */
    assert_int_equal(set_role(&adm, &adm, AUTHZ_ROLE_MEMBER), ERR_FORBIDDEN);
    assert_int_equal(set_role(&adm, &adm, AUTHZ_ROLE_ADMIN), ERR_FORBIDDEN);
    assert_int_equal(set_role(&owner, &owner, AUTHZ_ROLE_SUPER_ADMIN), ERR_FORBIDDEN);

    /* with a second Super Admin, one may step down, and then not back up */
    join(&owner, AUTHZ_ROLE_SUPER_ADMIN, &second);
    assert_int_equal(set_role(&owner, &owner, AUTHZ_ROLE_EDITOR), ERR_OK);
    owner.role = AUTHZ_ROLE_EDITOR; /* as the next request's session would say */
    assert_int_equal(set_role(&owner, &owner, AUTHZ_ROLE_SUPER_ADMIN), ERR_FORBIDDEN);
    /* the one left is the last */
    assert_int_equal(set_role(&second, &second, AUTHZ_ROLE_ADMIN), ERR_CONFLICT);
    /* an Admin cannot touch a Super Admin */
    assert_int_equal(set_role(&adm, &second, AUTHZ_ROLE_ADMIN), ERR_FORBIDDEN);
    assert_int_equal(remove_member(&adm, &second), ERR_FORBIDDEN);

    /* a stale claim: the session still says Super Admin, the table says Editor */
    owner.role = AUTHZ_ROLE_SUPER_ADMIN;
    assert_int_equal(set_role(&owner, &adm, AUTHZ_ROLE_MEMBER), ERR_FORBIDDEN);
    assert_int_equal(stored_role(&adm), AUTHZ_ROLE_ADMIN);

    /* anyone may leave; their session dies at once */
    struct accounts_session s;
    assert_int_equal(accounts_session_lookup(S.acc, s_(adm.sid), &s), ERR_OK);
    assert_int_equal(remove_member(&adm, &adm), ERR_OK);
    assert_int_equal(accounts_session_lookup(S.acc, s_(adm.sid), &s), ERR_UNAUTHENTICATED);
    assert_int_equal(audit_count(&owner.user.tenant, "member.removed", "success"), 1);
}

static void test_actor_checks(void **state)
{
    (void)state;
    struct person owner, mem;
    new_tenant(&owner);
    join(&owner, AUTHZ_ROLE_MEMBER, &mem);
    /* an unverified Super Admin manages nothing */
    char email[96];
    new_email(email, sizeof email);
    struct accounts_signup_result r;
    assert_int_equal(accounts_signup(S.acc, s_(email), s_(PASSWORD), s_("Unverified"), &CLIENT, &r),
                     ERR_OK);
    struct accounts_actor unv = {.user = r.user, .role = AUTHZ_ROLE_SUPER_ADMIN};
    struct accounts_invitation_created out;
    const char *reason = NULL;
    char other[96];
    new_email(other, sizeof other);
    assert_int_equal(
        accounts_invite(S.acc, &unv, s_(other), AUTHZ_ROLE_MEMBER, &CLIENT, &MAILER, &out, &reason),
        ERR_FORBIDDEN);
    assert_string_equal(reason, "verify your e-mail address first");
    assert_int_equal(audit_count(&r.user.tenant, "member.invited", "denied"), 1);

    /* an actor that is gone */
    struct accounts_actor ghost = actor(&owner);
    testdb_random_uuid(ghost.user.user_id);
    assert_int_equal(accounts_member_set_role(S.acc, &ghost, s_(mem.user.user_id),
                                              AUTHZ_ROLE_EDITOR, &CLIENT, NULL),
                     ERR_UNAUTHENTICATED);
    /* malformed actors and roles */
    struct accounts_actor bad = actor(&owner);
    bad.role = AUTHZ_ROLE_NONE;
    assert_int_equal(accounts_member_set_role(S.acc, &bad, s_(mem.user.user_id), AUTHZ_ROLE_EDITOR,
                                              &CLIENT, NULL),
                     ERR_INVALID);
    assert_int_equal(set_role(&owner, &mem, AUTHZ_ROLE_NONE), ERR_INVALID);
    assert_int_equal(set_role(&owner, &mem, (enum authz_role)(AUTHZ_ROLE_SUPER_ADMIN + 1)),
                     ERR_INVALID);
    assert_int_equal(stored_role(&mem), AUTHZ_ROLE_MEMBER);

    /* a key acts: the audit actor is the key, on behalf of its creator */
    char key_id[37];
    testdb_random_uuid(key_id);
    struct accounts_actor by_key = actor(&owner);
    by_key.key_id = key_id;
    assert_int_equal(accounts_member_set_role(S.acc, &by_key, s_(mem.user.user_id),
                                              AUTHZ_ROLE_EDITOR, &CLIENT, NULL),
                     ERR_OK);
    assert_int_equal(query_int(&owner.user.tenant,
                               "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND "
                               "action = 'member.role_changed' AND actor_type = 'api_key' AND "
                               "actor_id = $2",
                               key_id),
                     1);
}

/* ---- removal cuts access at once ----------------------------------------------------- */

static void test_removal_cuts_sessions_and_keys(void **state)
{
    (void)state;
    struct person owner, mem;
    new_tenant(&owner);
    join(&owner, AUTHZ_ROLE_EDITOR, &mem);
    /* the session is in the cache now */
    struct accounts_session s;
    assert_int_equal(accounts_session_lookup(S.acc, s_(mem.sid), &s), ERR_OK);
    assert_int_equal(accounts_session_lookup(S.acc, s_(mem.sid), &s), ERR_OK);
    /* and the member made an API key */
    struct auth_actor kwho = {.user_id = mem.user.user_id, .role = AUTHZ_ROLE_EDITOR};
    struct auth_key_created k;
    assert_int_equal(
        auth_key_create(S.main_app, &mem.user.tenant, &kwho, s_("ci"), 0, 0, S.now, NULL, &k, NULL),
        ERR_OK);
    struct auth_key_principal p;
    assert_int_equal(auth_key_authenticate(S.main_app, s_(k.text), S.now, &p), ERR_OK);

    /* a role change reaches the cached session at once, and cuts the key */
    assert_int_equal(set_role(&owner, &mem, AUTHZ_ROLE_MEMBER), ERR_OK);
    assert_int_equal(accounts_session_lookup(S.acc, s_(mem.sid), &s), ERR_OK);
    assert_string_equal(s.role, "member");
    assert_int_equal(auth_key_authenticate(S.main_app, s_(k.text), S.now, &p), ERR_OK);
    assert_int_equal(p.role, AUTHZ_ROLE_MEMBER);

    assert_int_equal(remove_member(&owner, &mem), ERR_OK);
    assert_int_equal(accounts_session_lookup(S.acc, s_(mem.sid), &s), ERR_UNAUTHENTICATED);
    assert_int_equal(auth_key_authenticate(S.main_app, s_(k.text), S.now, &p), ERR_UNAUTHENTICATED);
    char sid[ACCOUNTS_SECRET_LEN + 1];
    assert_int_equal(accounts_signin(S.acc, s_(mem.email), s_(PASSWORD), &CLIENT, sid, &s),
                     ERR_UNAUTHENTICATED);
    /* every row of the member went: sessions, keys, the directory entry */
    const char *left[] = {
        "SELECT count(*) FROM sessions WHERE tenant_id = $1 AND user_id = $2",
        "SELECT count(*) FROM api_keys WHERE tenant_id = $1 AND created_by = $2",
        "SELECT count(*) FROM user_emails WHERE tenant_id = $1 AND user_id = $2",
        "SELECT count(*) FROM auth_tokens WHERE tenant_id = $1 AND user_id = $2",
        NULL,
    };
    for (size_t i = 0; left[i]; i++)
        assert_int_equal(query_int(&owner.user.tenant, left[i], mem.user.user_id), 0);
    auth_key_created_wipe(&k);
    /* removing again: 404; the address is free again: a new invitation works */
    assert_int_equal(remove_member(&owner, &mem), ERR_NOT_FOUND);
    invite(&owner, mem.email, AUTHZ_ROLE_MEMBER);
    assert_int_equal(
        accounts_invitation_accept(S.acc, s_(MAIL.token), s_(PASSWORD), &CLIENT, sid, &s, NULL),
        ERR_OK);
    assert_int_equal(audit_count(&owner.user.tenant, "member.removed", "success"), 1);
    assert_int_equal(audit_count(&owner.user.tenant, "member.role_changed", "success"), 1);
}

static const struct auth_client TOKEN_CLIENT = {.ip = "192.0.2.77", .request_id = "req-members"};

/* p's access and refresh tokens from a password grant at S.now. */
static void grant_tokens(const struct auth_token_keys *k, const struct person *p,
                         struct auth_token_pair *out)
{
    assert_int_equal(auth_token_issue_user(S.main_app, k, &p->user.tenant, p->user.user_id, S.now,
                                           AUTH_VALID_AFTER_UNCHECKED, &TOKEN_CLIENT, out),
                     ERR_OK);
}

/*
 * A3: a promotion ends the member's sessions and token families (the new
 * role needs a new sign-in); a demotion ends neither, and applies at once.
 */
static void test_promotion_ends_sessions(void **state)
{
    (void)state;
    struct auth_token_keys keys;
    assert_int_equal(auth_token_keys_init(&keys, &S.ring, "https://members.test"), ERR_OK);
    struct person owner, ed;
    new_tenant(&owner);
    join(&owner, AUTHZ_ROLE_EDITOR, &ed);
    struct accounts_session s;
    assert_int_equal(accounts_session_lookup(S.acc, s_(ed.sid), &s), ERR_OK); /* cached */
    /* tokens of the Editor, one of them refreshed already */
    struct auth_token_pair tok, other, rot;
    grant_tokens(&keys, &ed, &tok);
    grant_tokens(&keys, &ed, &other);
    S.now += 1;
    assert_int_equal(
        auth_token_refresh(S.main_app, &keys, s_(other.refresh), S.now, &TOKEN_CLIENT, &rot),
        ERR_OK);
    struct auth_token_principal pr;
    assert_int_equal(auth_token_verify(S.main_app, &keys, s_(tok.access), S.now, &pr), ERR_OK);
    assert_int_equal(pr.role, AUTHZ_ROLE_EDITOR);

    assert_int_equal(set_role(&owner, &ed, AUTHZ_ROLE_ADMIN), ERR_OK);
    assert_int_equal(accounts_session_lookup(S.acc, s_(ed.sid), &s), ERR_UNAUTHENTICATED);
    /* the tokens would read the new role on their next call: they are ended instead */
    struct auth_token_pair q;
    assert_int_equal(auth_token_verify(S.main_app, &keys, s_(tok.access), S.now, &pr),
                     ERR_UNAUTHENTICATED);
    assert_int_equal(auth_token_verify(S.main_app, &keys, s_(rot.access), S.now, &pr),
                     ERR_UNAUTHENTICATED);
    assert_int_equal(
        auth_token_refresh(S.main_app, &keys, s_(tok.refresh), S.now, &TOKEN_CLIENT, &q),
        ERR_UNAUTHENTICATED);
    assert_int_equal(
        auth_token_refresh(S.main_app, &keys, s_(rot.refresh), S.now, &TOKEN_CLIENT, &q),
        ERR_UNAUTHENTICATED);
    assert_int_equal(query_int(&ed.user.tenant,
                               "SELECT count(*) FROM token_families WHERE tenant_id = $1 AND "
                               "user_id = $2 AND revoked_reason = 'role_raised'",
                               ed.user.user_id),
                     2);
    assert_int_equal(query_int(&owner.user.tenant,
                               "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND "
                               "action = 'member.role_changed' AND target = 'user:' || $2 AND "
                               "details LIKE '%\"families_revoked\":2%'",
                               ed.user.user_id),
                     1);
    /* a new sign-in gets the new role: a session, and tokens granted after the change */
    char sid[ACCOUNTS_SECRET_LEN + 1];
    assert_int_equal(accounts_signin(S.acc, s_(ed.email), s_(PASSWORD), &CLIENT, sid, &s), ERR_OK);
    assert_string_equal(s.role, "admin");
    S.now += 1;
    grant_tokens(&keys, &ed, &tok);
    assert_int_equal(auth_token_verify(S.main_app, &keys, s_(tok.access), S.now, &pr), ERR_OK);
    assert_int_equal(pr.role, AUTHZ_ROLE_ADMIN);
    /* setting the same role again changes nothing and ends nothing */
    assert_int_equal(set_role(&owner, &ed, AUTHZ_ROLE_ADMIN), ERR_OK);
    assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &s), ERR_OK);
    assert_int_equal(auth_token_verify(S.main_app, &keys, s_(tok.access), S.now, &pr), ERR_OK);
    /* lowering ends nothing either: the lower role applies to the next call */
    assert_int_equal(set_role(&owner, &ed, AUTHZ_ROLE_MEMBER), ERR_OK);
    assert_int_equal(accounts_session_lookup(S.acc, s_(sid), &s), ERR_OK);
    assert_string_equal(s.role, "member");
    assert_int_equal(auth_token_verify(S.main_app, &keys, s_(tok.access), S.now, &pr), ERR_OK);
    assert_int_equal(pr.role, AUTHZ_ROLE_MEMBER);
    auth_token_pair_wipe(&tok);
    auth_token_pair_wipe(&other);
    auth_token_pair_wipe(&rot);
    S.now += 1;
}

/*
 * A key acting for its creator is not its creator: a members:write key of a
 * Super Admin (acting at most as an Admin) can neither remove nor demote
 * that Super Admin, even with another Super Admin present; both refusals are
 * audited as the key's. The creator in person still may.
 */
static void test_key_actor_is_not_self(void **state)
{
    (void)state;
    struct person owner, second;
    new_tenant(&owner);
    join(&owner, AUTHZ_ROLE_SUPER_ADMIN, &second);
    char key_id[37];
    testdb_random_uuid(key_id);
    struct accounts_actor by_key = actor(&owner);
    by_key.role = AUTHZ_ROLE_ADMIN; /* what the HTTP layer hands a key (accounts.h) */
    by_key.key_id = key_id;
    const char *reason = NULL;
    assert_int_equal(
        accounts_member_remove(S.acc, &by_key, s_(owner.user.user_id), &CLIENT, &reason),
        ERR_FORBIDDEN);
    assert_string_equal(reason, "the member's role is above yours");
    assert_int_equal(stored_role(&owner), AUTHZ_ROLE_SUPER_ADMIN);
    assert_int_equal(accounts_member_set_role(S.acc, &by_key, s_(owner.user.user_id),
                                              AUTHZ_ROLE_ADMIN, &CLIENT, &reason),
                     ERR_FORBIDDEN);
    assert_string_equal(reason, "the member's role is above yours");
    assert_int_equal(stored_role(&owner), AUTHZ_ROLE_SUPER_ADMIN);
    static const char *const denied[] = {"member.removed", "member.role_changed"};
    for (size_t i = 0; i < 2; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = '%s' AND "
                 "outcome = 'denied' AND actor_type = 'api_key' AND actor_id = $2",
                 denied[i]);
        assert_int_equal(query_int(&owner.user.tenant, sql, key_id), 1);
    }
    /* the same key still manages members below an Admin, its creator's Admin included */
    struct person adm;
    join(&owner, AUTHZ_ROLE_ADMIN, &adm);
    struct accounts_actor adm_key = actor(&adm);
    adm_key.key_id = key_id;
    assert_int_equal(accounts_member_set_role(S.acc, &adm_key, s_(adm.user.user_id),
                                              AUTHZ_ROLE_EDITOR, &CLIENT, &reason),
                     ERR_OK); /* not "you cannot change your own role": the key is not adm */
    assert_int_equal(stored_role(&adm), AUTHZ_ROLE_EDITOR);
    /* in person, a Super Admin may still step down and leave */
    assert_int_equal(set_role(&owner, &owner, AUTHZ_ROLE_ADMIN), ERR_OK);
    owner.role = AUTHZ_ROLE_ADMIN;
    assert_int_equal(remove_member(&owner, &owner), ERR_OK);
    assert_int_equal(stored_role(&owner), AUTHZ_ROLE_NONE);
}

static size_t open_invitations_by(const struct person *by)
{
    struct accounts_invitation list[ACCOUNTS_MAX_OPEN_INVITATIONS];
    size_t n = 0, mine = 0;
    assert_int_equal(accounts_invitations_list(S.acc, &by->user.tenant, list, &n), ERR_OK);
    for (size_t i = 0; i < n; i++)
        mine += strcmp(list[i].invited_by, by->user.user_id) == 0;
    return mine;
}

/*
 * Invitations do not outlive their inviter's power: a removed member's open
 * invitations are revoked, a demoted member's above the new role too, in the
 * same transaction, each audited with its reason.
 */
static void test_invitations_end_with_inviter(void **state)
{
    (void)state;
    struct person owner, adm, ed;
    new_tenant(&owner);
    join(&owner, AUTHZ_ROLE_ADMIN, &adm);
    join(&owner, AUTHZ_ROLE_ADMIN, &ed);
    char email[96];
    char tokens[3][ACCOUNTS_SECRET_LEN + 1];
    static const enum authz_role offered[] = {AUTHZ_ROLE_ADMIN, AUTHZ_ROLE_EDITOR,
                                              AUTHZ_ROLE_MEMBER};
    for (size_t i = 0; i < 3; i++) {
        new_email(email, sizeof email);
        invite(&adm, email, offered[i]);
        memcpy(tokens[i], MAIL.token, sizeof tokens[i]);
    }
    new_email(email, sizeof email);
    invite(&ed, email, AUTHZ_ROLE_ADMIN);
    char ed_token[ACCOUNTS_SECRET_LEN + 1];
    memcpy(ed_token, MAIL.token, sizeof ed_token);
    new_email(email, sizeof email);
    invite(&owner, email, AUTHZ_ROLE_SUPER_ADMIN); /* someone else's: never touched */
    char owner_token[ACCOUNTS_SECRET_LEN + 1];
    memcpy(owner_token, MAIL.token, sizeof owner_token);
    assert_int_equal(open_invitations_by(&adm), 3);

    /* demoted to Editor: the Admin invitation goes, Editor and Member stay */
    assert_int_equal(set_role(&owner, &adm, AUTHZ_ROLE_EDITOR), ERR_OK);
    struct accounts_invitation_info info;
    assert_int_equal(accounts_invitation_peek(S.acc, s_(tokens[0]), &info), ERR_NOT_FOUND);
    assert_int_equal(accounts_invitation_peek(S.acc, s_(tokens[1]), &info), ERR_OK);
    assert_int_equal(accounts_invitation_peek(S.acc, s_(tokens[2]), &info), ERR_OK);
    assert_int_equal(open_invitations_by(&adm), 2);
    assert_int_equal(query_int(&owner.user.tenant,
                               "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND "
                               "action = 'member.invitation_revoked' AND outcome = 'success' AND "
                               "details LIKE '%\"reason\":\"inviter_demoted\"%' AND "
                               "actor_id = $2",
                               owner.user.user_id),
                     1);
    /* a raise revokes nothing */
    assert_int_equal(set_role(&owner, &adm, AUTHZ_ROLE_ADMIN), ERR_OK);
    assert_int_equal(open_invitations_by(&adm), 2);

    /* removed: every open invitation they sent goes, nobody else's */
    assert_int_equal(remove_member(&owner, &adm), ERR_OK);
    for (size_t i = 1; i < 3; i++)
        assert_int_equal(accounts_invitation_peek(S.acc, s_(tokens[i]), &info), ERR_NOT_FOUND);
    assert_int_equal(open_invitations_by(&adm), 0);
    char sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_session s;
    assert_int_equal(
        accounts_invitation_accept(S.acc, s_(tokens[2]), s_(PASSWORD), &CLIENT, sid, &s, NULL),
        ERR_NOT_FOUND);
    assert_int_equal(query_int(&owner.user.tenant,
                               "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND "
                               "action = 'member.invitation_revoked' AND outcome = 'success' AND "
                               "details LIKE '%\"reason\":\"inviter_removed\"%' AND "
                               "actor_id = $2",
                               owner.user.user_id),
                     2);
    assert_int_equal(accounts_invitation_peek(S.acc, s_(ed_token), &info), ERR_OK);
    assert_int_equal(accounts_invitation_peek(S.acc, s_(owner_token), &info), ERR_OK);

    /* one who leaves takes their invitations along too */
    assert_int_equal(remove_member(&ed, &ed), ERR_OK);
    assert_int_equal(accounts_invitation_peek(S.acc, s_(ed_token), &info), ERR_NOT_FOUND);
    assert_int_equal(accounts_invitation_peek(S.acc, s_(owner_token), &info), ERR_OK);
}

/* ---- tenants ------------------------------------------------------------------------- */

static void test_other_tenants_ids(void **state)
{
    (void)state;
    struct person a, b, a_mem;
    new_tenant(&a);
    new_tenant(&b);
    join(&a, AUTHZ_ROLE_MEMBER, &a_mem);
    char email[96];
    new_email(email, sizeof email);
    invite(&a, email, AUTHZ_ROLE_MEMBER);
    struct accounts_invitation list[ACCOUNTS_MAX_OPEN_INVITATIONS];
    size_t n = 0;
    assert_int_equal(accounts_invitations_list(S.acc, &a.user.tenant, list, &n), ERR_OK);
    assert_int_equal(n, 1);

    /* B's Super Admin against A's ids: not found, and nothing changes */
    struct accounts_actor bw = actor(&b);
    assert_int_equal(accounts_member_set_role(S.acc, &bw, s_(a_mem.user.user_id), AUTHZ_ROLE_ADMIN,
                                              &CLIENT, NULL),
                     ERR_NOT_FOUND);
    assert_int_equal(accounts_member_remove(S.acc, &bw, s_(a_mem.user.user_id), &CLIENT, NULL),
                     ERR_NOT_FOUND);
    assert_int_equal(accounts_invitation_revoke(S.acc, &bw, s_(list[0].id), &CLIENT, NULL),
                     ERR_NOT_FOUND);
    assert_int_equal(stored_role(&a_mem), AUTHZ_ROLE_MEMBER);
    struct accounts_invitation_info info;
    assert_int_equal(accounts_invitation_peek(S.acc, s_(MAIL.token), &info), ERR_OK);
    /* an actor naming A's tenant with B's user is not A's user */
    struct accounts_actor mixed = actor(&b);
    mixed.user.tenant = a.user.tenant;
    assert_int_equal(accounts_member_remove(S.acc, &mixed, s_(a_mem.user.user_id), &CLIENT, NULL),
                     ERR_UNAUTHENTICATED);
    /* lists are per tenant */
    struct accounts_member members[ACCOUNTS_MEMBERS_PAGE];
    size_t total = 0;
    assert_int_equal(accounts_members_list(S.acc, &b.user.tenant, 0, members, &n, &total), ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(members[0].id, b.user.user_id);
    assert_int_equal(accounts_invitations_list(S.acc, &b.user.tenant, list, &n), ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(stored_role(&a_mem), AUTHZ_ROLE_MEMBER);
}

/* ---- limits ---------------------------------------------------------------------------- */

static void test_input_limits(void **state)
{
    (void)state;
    struct person owner;
    new_tenant(&owner);
    struct accounts_actor who = actor(&owner);
    struct accounts_invitation_created out;
    const char *reason = NULL;

    /* an address of ACCOUNTS_MAX_EMAIL bytes is fine, one more is not */
    char email[ACCOUNTS_MAX_EMAIL + 2];
    fill(email, ACCOUNTS_MAX_EMAIL, 'a');
    memcpy(email + ACCOUNTS_MAX_EMAIL - 12, "@example.com", 12);
    email[10] = (char)('a' + S.seq % 26);
    assert_int_equal(
        accounts_invite(S.acc, &who, s_(email), AUTHZ_ROLE_MEMBER, &CLIENT, &MAILER, &out, &reason),
        ERR_OK);
    fill(email, ACCOUNTS_MAX_EMAIL + 1, 'a');
    memcpy(email + ACCOUNTS_MAX_EMAIL + 1 - 12, "@example.com", 12);
    assert_int_equal(
        accounts_invite(S.acc, &who, s_(email), AUTHZ_ROLE_MEMBER, &CLIENT, &MAILER, &out, &reason),
        ERR_LIMIT);
    assert_string_equal(reason, "email too long");
    assert_int_equal(accounts_invite(S.acc, &who, s_("not-an-address"), AUTHZ_ROLE_MEMBER, &CLIENT,
                                     &MAILER, &out, &reason),
                     ERR_INVALID);

    /* a token of ACCOUNTS_MAX_SECRET_TEXT bytes is looked at (and not found); one more is a limit
     */
    char token[ACCOUNTS_MAX_SECRET_TEXT + 2];
    fill(token, ACCOUNTS_MAX_SECRET_TEXT, 'A');
    memcpy(token, owner.user.tenant.id, STORAGE_TENANT_ID_LEN);
    token[STORAGE_TENANT_ID_LEN] = '.';
    struct accounts_invitation_info info;
    char sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_session s;
    assert_int_equal(accounts_invitation_peek(S.acc, s_(token), &info), ERR_NOT_FOUND);
    token[ACCOUNTS_MAX_SECRET_TEXT] = 'A';
    token[ACCOUNTS_MAX_SECRET_TEXT + 1] = '\0';
    assert_int_equal(accounts_invitation_peek(S.acc, s_(token), &info), ERR_LIMIT);
    assert_int_equal(
        accounts_invitation_accept(S.acc, s_(token), s_(PASSWORD), &CLIENT, sid, &s, NULL),
        ERR_LIMIT);

    /* ids: only a canonical UUID can name anything */
    char id[ACCOUNTS_ID_LEN + 2];
    snprintf(id, sizeof id, "%s", owner.user.user_id);
    id[ACCOUNTS_ID_LEN] = 'a';
    id[ACCOUNTS_ID_LEN + 1] = '\0';
    assert_int_equal(accounts_member_remove(S.acc, &who, s_(id), &CLIENT, NULL), ERR_NOT_FOUND);
    id[ACCOUNTS_ID_LEN - 1] = '\0';
    assert_int_equal(accounts_member_remove(S.acc, &who, s_(id), &CLIENT, NULL), ERR_NOT_FOUND);
    assert_int_equal(accounts_invitation_revoke(S.acc, &who, s_("x"), &CLIENT, NULL),
                     ERR_NOT_FOUND);

    /* client fields one past their limits */
    char ip[ACCOUNTS_MAX_CLIENT_IP + 2];
    fill(ip, ACCOUNTS_MAX_CLIENT_IP + 1, '1');
    struct accounts_client longip = {.ip = ip};
    char other[96];
    new_email(other, sizeof other);
    assert_int_equal(
        accounts_invite(S.acc, &who, s_(other), AUTHZ_ROLE_MEMBER, &longip, &MAILER, &out, NULL),
        ERR_LIMIT);
    ip[ACCOUNTS_MAX_CLIENT_IP] = '\0';
    longip.ip = ip;
    assert_int_equal(
        accounts_invite(S.acc, &who, s_(other), AUTHZ_ROLE_MEMBER, &longip, &MAILER, &out, NULL),
        ERR_OK);

    /* pages */
    struct accounts_member members[ACCOUNTS_MEMBERS_PAGE];
    size_t n = 0;
    assert_int_equal(accounts_members_list(S.acc, &owner.user.tenant,
                                           ACCOUNTS_MAX_MEMBERS_PAGES - 1, members, &n, NULL),
                     ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(accounts_members_list(S.acc, &owner.user.tenant, ACCOUNTS_MAX_MEMBERS_PAGES,
                                           members, &n, NULL),
                     ERR_INVALID);
}

static void test_open_invitations_limit(void **state)
{
    (void)state;
    struct person owner;
    new_tenant(&owner);
    struct accounts_actor who = actor(&owner);
    char email[96];
    for (int i = 0; i < ACCOUNTS_MAX_OPEN_INVITATIONS; i++) {
        new_email(email, sizeof email);
        invite(&owner, email, AUTHZ_ROLE_MEMBER);
    }
    struct accounts_invitation list[ACCOUNTS_MAX_OPEN_INVITATIONS];
    size_t n = 0;
    assert_int_equal(accounts_invitations_list(S.acc, &owner.user.tenant, list, &n), ERR_OK);
    assert_int_equal(n, ACCOUNTS_MAX_OPEN_INVITATIONS);
    new_email(email, sizeof email);
    struct accounts_invitation_created out;
    const char *reason = NULL;
    assert_int_equal(
        accounts_invite(S.acc, &who, s_(email), AUTHZ_ROLE_MEMBER, &CLIENT, &MAILER, &out, &reason),
        ERR_LIMIT);
    assert_string_equal(reason, "too many open invitations: revoke one first");
    /* re-inviting an invited address replaces, so it still fits */
    invite(&owner, list[0].email, AUTHZ_ROLE_EDITOR);
    /* one revoked makes room */
    assert_int_equal(accounts_invitation_revoke(S.acc, &who, s_(list[1].id), &CLIENT, NULL),
                     ERR_OK);
    invite(&owner, email, AUTHZ_ROLE_MEMBER);
    /* expired ones do not count; a day after they ended they are deleted */
    S.now += ACCOUNTS_INVITE_TTL_S;
    new_email(email, sizeof email);
    invite(&owner, email, AUTHZ_ROLE_MEMBER);
    S.now += ACCOUNTS_CLEANUP_GRACE_S;
    new_email(email, sizeof email);
    invite(&owner, email, AUTHZ_ROLE_MEMBER);
    assert_int_equal(query_int(&owner.user.tenant,
                               "SELECT count(*) FROM invitations WHERE tenant_id = $1", NULL),
                     2);
}

static void test_members_limit_and_pages(void **state)
{
    (void)state;
    struct person owner;
    new_tenant(&owner);
    struct accounts_actor who = actor(&owner);
    /* fill the tenant up to one below the limit with plain rows (no bcrypt needed) */
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.main_app, &owner.user.tenant, TX_WRITE, &tx), ERR_OK);
    for (int i = 1; i < ACCOUNTS_MAX_MEMBERS - 1; i++) {
        char id[37], email[64];
        testdb_random_uuid(id);
        snprintf(email, sizeof email, "bulk%04d.%u@example.com", i, S.seq);
        assert_int_equal(tx_exec_args(tx,
                                      "INSERT INTO users (tenant_id, id, email, password_hash, "
                                      "password_key_id, role, email_verified_at, failed_count, "
                                      "locked_until, created_at) VALUES ($1, $2, $3, 'x', 'k', "
                                      "'member', 1, 0, NULL, 1)",
                                      STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_CSTR(email)), NULL),
                         ERR_OK);
    }
    assert_int_equal(storage_commit(tx), ERR_OK);
    char email[96];
    new_email(email, sizeof email);
    invite(&owner, email, AUTHZ_ROLE_MEMBER); /* members + open = the limit */
    new_email(email, sizeof email);
    struct accounts_invitation_created out;
    const char *reason = NULL;
    assert_int_equal(
        accounts_invite(S.acc, &who, s_(email), AUTHZ_ROLE_MEMBER, &CLIENT, &MAILER, &out, &reason),
        ERR_LIMIT);
    assert_string_equal(reason, "the organization has as many members as it can hold");

    /* every member on exactly one page, in address order */
    struct accounts_member members[ACCOUNTS_MEMBERS_PAGE];
    size_t n = 0, total = 0, seen = 0;
    char last[ACCOUNTS_MAX_EMAIL + 1] = "";
    for (unsigned p = 0; p < ACCOUNTS_MAX_MEMBERS_PAGES; p++) {
        assert_int_equal(accounts_members_list(S.acc, &owner.user.tenant, p, members, &n, &total),
                         ERR_OK);
        assert_int_equal(total, ACCOUNTS_MAX_MEMBERS - 1);
        for (size_t i = 0; i < n; i++) {
            assert_true(strcmp(last, members[i].email) < 0);
            snprintf(last, sizeof last, "%s", members[i].email);
        }
        seen += n;
    }
    assert_int_equal(seen, ACCOUNTS_MAX_MEMBERS - 1);
}

/* ---- concurrency ----------------------------------------------------------------------- */

struct race {
    pthread_barrier_t *start;
    const struct person *by, *target;
    enum err result;
};

static void *race_main(void *arg)
{
    struct race *r = arg;
    pthread_barrier_wait(r->start);
    r->result = set_role(r->by, r->target, AUTHZ_ROLE_ADMIN);
    return NULL;
}

/* Two Super Admins demote themselves, or each other, at the same moment: exactly one wins. */
static void test_concurrent_last_two_demotions(void **state)
{
    (void)state;
    struct person owner, second;
    new_tenant(&owner);
    join(&owner, AUTHZ_ROLE_SUPER_ADMIN, &second);
    for (int round = 0; round < 2 * RACES; round++) {
        bool each_other = round % 2 == 1;
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, 2);
        struct race r[2] = {
            {.start = &start, .by = &owner, .target = each_other ? &second : &owner},
            {.start = &start, .by = &second, .target = each_other ? &owner : &second},
        };
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, race_main, &r[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        int ok = (r[0].result == ERR_OK) + (r[1].result == ERR_OK);
        if (ok != 1)
            fail_msg("round %d: %s and %s", round, err_name(r[0].result), err_name(r[1].result));
        for (int i = 0; i < 2; i++)
            assert_true(r[i].result == ERR_OK || r[i].result == ERR_CONFLICT ||
                        r[i].result == ERR_FORBIDDEN);
        assert_int_equal(query_int(&owner.user.tenant,
                                   "SELECT count(*) FROM users WHERE tenant_id = $1 AND "
                                   "role = 'super_admin'",
                                   NULL),
                         1);
        /* the one left promotes the other back for the next round */
        const struct person *left =
            stored_role(&owner) == AUTHZ_ROLE_SUPER_ADMIN ? &owner : &second;
        const struct person *down = left == &owner ? &second : &owner;
        assert_int_equal(set_role(left, down, AUTHZ_ROLE_SUPER_ADMIN), ERR_OK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invite_and_accept),
        cmocka_unit_test(test_expiry_and_tampering),
        cmocka_unit_test(test_revoke_and_replace),
        cmocka_unit_test(test_taken_addresses),
        cmocka_unit_test(test_every_role_pair),
        cmocka_unit_test(test_self_and_last_super_admin),
        cmocka_unit_test(test_actor_checks),
        cmocka_unit_test(test_removal_cuts_sessions_and_keys),
        cmocka_unit_test(test_promotion_ends_sessions),
        cmocka_unit_test(test_key_actor_is_not_self),
        cmocka_unit_test(test_invitations_end_with_inviter),
        cmocka_unit_test(test_other_tenants_ids),
        cmocka_unit_test(test_input_limits),
        cmocka_unit_test(test_open_invitations_limit),
        cmocka_unit_test(test_members_limit_and_pages),
        cmocka_unit_test(test_concurrent_last_two_demotions),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
