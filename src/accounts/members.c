/*
 * members.c — a tenant's members and invitations: listing, role changes,
 * removal, invitations and their acceptance. The rules are in accounts.h
 * ("members and invitations").
 *
 * Every change runs as one "op": a write transaction of the actor's tenant
 * that first takes the tenant's member lock (PostgreSQL; SQLite write
 * transactions are exclusive), then reads the actor's stored role, then does
 * its work. A refusal by the rules ends the op by committing only its audit
 * event (outcome denied); any other error rolls everything back. Statements
 * that change users.role or delete a user are followed, after the commit,
 * by acc_cache_forget (accounts.c explains why).
 */
#include <stdio.h>
#include <string.h>

#include "accounts/accounts_internal.h"
#include "auth/tokens.h"
#include "core/log.h"

/* PostgreSQL: member changes of one tenant queue here (see accounts.h). */
#define MEMBERS_LOCK_SQL                                                                           \
    "SELECT pg_advisory_xact_lock(hashtextextended('shiplog/members/' || $1::text, 0))"

#define TARGET_CAP  (sizeof "invitation:" + ACCOUNTS_ID_LEN)
#define MAX_DETAILS 6 /* fields of one audit details list, the terminator included */

static void say(const char **reason, const char *text)
{
    if (reason)
        *reason = text;
}

static bool id_ok(struct str id)
{
    return id.len == ACCOUNTS_ID_LEN && storage_tenant_id_valid(id);
}

static bool role_ok(enum authz_role r)
{
    return r >= AUTHZ_ROLE_MEMBER && r <= AUTHZ_ROLE_SUPER_ADMIN;
}

/* One member change in progress (see the top of the file). */
struct op {
    struct accounts *a;
    const struct accounts_actor *who;
    const struct accounts_client *c;
    struct tx *tx;
    enum authz_role role;             /* the actor's, the lesser of claimed and stored */
    const char *action;               /* the audit action of this op (a denial's too) */
    char target[TARGET_CAP];          /* the denial's audit target; "" = none */
    bool denied;                      /* the body refused by the rules: audit, commit that alone */
    const char *reason;               /* public text of a refusal */
    const char *d_role;               /* details of a denial: the role involved (may be NULL) */
    const char *d_from;               /* ... and a role change's current role (may be NULL) */
    char forget[ACCOUNTS_ID_LEN + 1]; /* a user whose cached sessions go after the commit */
};

/* Appends an audit event by the op's actor (user, or key on behalf of its creator). */
static enum err op_audit(struct op *op, const char *action, const char *target,
                         enum audit_outcome outcome, const struct log_field *fields, size_t n)
{
    struct log_field d[MAX_DETAILS];
    ASSERT(n + 2 <= MAX_DETAILS);
    size_t k = 0;
    for (; k < n; k++)
        d[k] = fields[k];
    if (op->who->key_id)
        d[k++] = LOG_STR("on_behalf_of", op->who->user.user_id);
    d[k] = (struct log_field){.key = NULL};
    const char *actor_id = op->who->key_id ? op->who->key_id : op->who->user.user_id;
    return acc_audit(op->tx, action, op->who->key_id ? AUDIT_ACTOR_API_KEY : AUDIT_ACTOR_USER,
                     actor_id, target, outcome, op->c, d);
}

/* A refusal by the rules: e (ERR_FORBIDDEN or ERR_CONFLICT) with public text why. */
static enum err deny(struct op *op, enum err e, const char *why)
{
    op->denied = true;
    op->reason = why;
    return e;
}

/* The stored role of user id in the op's tenant; ERR_NOT_FOUND when there is none. */
static enum err user_role(struct op *op, const char *id, enum authz_role *out)
{
    *out = AUTHZ_ROLE_NONE;
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(op->tx, "SELECT role FROM users WHERE tenant_id = $1 AND id = $2",
                          STORAGE_ARGS(STORAGE_CSTR(id)), &st, &row);
    if (!e && !row)
        e = ERR_NOT_FOUND;
    if (!e)
        *out = authz_role_parse(stmt_col_text(st, 0));
    stmt_finish(st);
    return e;
}

/* One integer from a tenant-bound query (args bound from $2). */
static enum err count_of(struct tx *tx, const char *sql, const struct storage_arg *args, size_t n,
                         int64_t *out)
{
    *out = 0;
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx, sql, args, n, &st, &row);
    if (!e && row)
        *out = stmt_col_int(st, 0);
    stmt_finish(st);
    return e;
}

static enum err super_admins(struct tx *tx, int64_t *out)
{
    return count_of(tx, "SELECT count(*) FROM users WHERE tenant_id = $1 AND role = 'super_admin'",
                    NULL, 0, out);
}

/*
 * Opens the op: the write transaction of the actor's tenant, the member
 * lock, the actor's stored role. On failure after the transaction began,
 * op->tx stays open for op_end.
 */
static enum err op_begin(struct op *op, struct accounts *a, const struct accounts_actor *who,
                         const struct accounts_client *c, const char *action)
{
    memset(op, 0, sizeof *op);
    op->a = a;
    op->who = who;
    op->c = c;
    op->action = action;
    enum err e = acc_client_check(c);
    if (e)
        return e;
    if (!who || !id_ok(str_from_cstr(who->user.user_id)) || !role_ok(who->role) ||
        (who->key_id && !id_ok(str_from_cstr(who->key_id))))
        return ERR_INVALID;
    if ((e = storage_begin(a->db, &who->user.tenant, TX_WRITE, &op->tx)) != ERR_OK)
        return e;
    if (storage_tx_backend(op->tx) == STORAGE_POSTGRES &&
        (e = tx_exec_args(op->tx, MEMBERS_LOCK_SQL, NULL, 0, NULL)) != ERR_OK)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(op->tx,
                 "SELECT role, email_verified_at FROM users WHERE tenant_id = $1 AND id = $2",
                 STORAGE_ARGS(STORAGE_CSTR(who->user.user_id)), &st, &row);
    bool verified = false;
    enum authz_role stored = AUTHZ_ROLE_NONE;
    if (!e && row) {
        stored = authz_role_parse(stmt_col_text(st, 0));
        verified = !stmt_col_is_null(st, 1);
    }
    stmt_finish(st);
    if (e)
        return e;
    op->role = stored < who->role ? stored : who->role;
    if (!row || !role_ok(op->role))
        return ERR_UNAUTHENTICATED;
    if (!verified)
        return deny(op, ERR_FORBIDDEN, "verify your e-mail address first");
    return ERR_OK;
}

/*
 * Ends the op after its body returned e: a refusal by the rules commits its
 * denial event alone, other errors roll back, success commits. Returns the
 * op's outcome (or the error that kept it from being recorded).
 */
static enum err op_end(struct op *op, enum err e)
{
    if (!op->tx)
        return e;
    if (e && op->denied) {
        struct log_field f[4];
        size_t n = 0;
        if (op->d_from)
            f[n++] = LOG_STR("from", op->d_from);
        if (op->d_role)
            f[n++] = LOG_STR(op->d_from ? "to" : "role", op->d_role);
        f[n++] = LOG_STR("reason", op->reason ? op->reason : "refused");
        enum err ae =
            op_audit(op, op->action, op->target[0] ? op->target : NULL, AUDIT_DENIED, f, n);
        if (!ae)
            ae = storage_commit(op->tx);
        else
            storage_rollback(op->tx);
        op->tx = NULL;
        return ae ? ae : e;
    }
    if (e)
        storage_rollback(op->tx);
    else
        e = storage_commit(op->tx);
    op->tx = NULL;
    return e;
}

/* Ends the op, drops the cached sessions it asked for, passes the reason on. */
static enum err op_finish(struct op *op, enum err e, const char **reason)
{
    e = op_end(op, e);
    if (op->forget[0]) /* after the commit, whatever it returned */
        acc_cache_forget(op->a->cache, &op->who->user.tenant, op->forget, NULL);
    say(reason, e ? op->reason : NULL);
    return e;
}

/* ---- listing -------------------------------------------------------------------- */

enum err accounts_members_list(struct accounts *a, const struct tenant_ctx *t, unsigned page,
                               struct accounts_member *out, size_t *n, size_t *total)
{
    *n = 0;
    if (total)
        *total = 0;
    if (page >= ACCOUNTS_MAX_MEMBERS_PAGES)
        return ERR_INVALID;
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, t, TX_READ, &tx);
    if (e)
        return e;
    int64_t count = 0;
    if (total)
        e = count_of(tx, "SELECT count(*) FROM users WHERE tenant_id = $1", NULL, 0, &count);
    struct stmt *st = NULL;
    bool row = false;
    if (!e)
        e = tx_query(tx,
                     "SELECT id, email, role, email_verified_at, created_at FROM users "
                     "WHERE tenant_id = $1 ORDER BY email, id LIMIT $2 OFFSET $3",
                     STORAGE_ARGS(STORAGE_INT(ACCOUNTS_MEMBERS_PAGE),
                                  STORAGE_INT((int64_t)page * ACCOUNTS_MEMBERS_PAGE)),
                     &st, &row);
    while (!e && row && *n < ACCOUNTS_MEMBERS_PAGE) {
        struct accounts_member *m = &out[*n];
        acc_col_copy(st, 0, m->id, sizeof m->id);
        acc_col_copy(st, 1, m->email, sizeof m->email);
        m->role = authz_role_parse(stmt_col_text(st, 2));
        m->email_verified = !stmt_col_is_null(st, 3);
        m->created_at = stmt_col_int(st, 4);
        (*n)++;
        e = stmt_step(st, &row);
    }
    stmt_finish(st);
    storage_rollback(tx);
    if (e) {
        *n = 0;
        return e;
    }
    if (total)
        *total = (size_t)count;
    return ERR_OK;
}

enum err accounts_invitations_list(struct accounts *a, const struct tenant_ctx *t,
                                   struct accounts_invitation *out, size_t *n)
{
    *n = 0;
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, t, TX_READ, &tx);
    if (e)
        return e;
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(
        tx,
        "SELECT id, email, role, invited_by, created_at, expires_at FROM invitations "
        "WHERE tenant_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL "
        "AND expires_at > $2 ORDER BY created_at DESC, id LIMIT $3",
        STORAGE_ARGS(STORAGE_INT(accounts_now(a)), STORAGE_INT(ACCOUNTS_MAX_OPEN_INVITATIONS)), &st,
        &row);
    while (!e && row && *n < ACCOUNTS_MAX_OPEN_INVITATIONS) {
        struct accounts_invitation *v = &out[*n];
        acc_col_copy(st, 0, v->id, sizeof v->id);
        acc_col_copy(st, 1, v->email, sizeof v->email);
        v->role = authz_role_parse(stmt_col_text(st, 2));
        acc_col_copy(st, 3, v->invited_by, sizeof v->invited_by);
        v->created_at = stmt_col_int(st, 4);
        v->expires_at = stmt_col_int(st, 5);
        (*n)++;
        e = stmt_step(st, &row);
    }
    stmt_finish(st);
    storage_rollback(tx);
    if (e)
        *n = 0;
    return e;
}

/* ---- role changes and removal ----------------------------------------------------- */

/*
 * Whether the op's actor is member id itself. A key acting for its creator
 * is never "self": it holds at most an Admin's powers (accounts.h), and the
 * self rules (anyone may leave; a Super Admin may step down) are for the
 * person, not for a credential they made.
 */
static bool op_is_self(const struct op *op, const char *id)
{
    return !op->who->key_id && strcmp(id, op->who->user.user_id) == 0;
}

/*
 * Revokes the open invitations member id sent whose role is above `keep`
 * (AUTHZ_ROLE_NONE: every one), auditing each as member.invitation_revoked
 * by the op's actor with reason why: an invitation never offers more than
 * its sender may still give (accounts.h). A tenant holds at most
 * ACCOUNTS_MAX_OPEN_INVITATIONS open invitations, so one read finds them all.
 */
static enum err revoke_sent(struct op *op, const char *id, enum authz_role keep, const char *why)
{
    char ids[ACCOUNTS_MAX_OPEN_INVITATIONS][ACCOUNTS_ID_LEN + 1];
    enum authz_role roles[ACCOUNTS_MAX_OPEN_INVITATIONS];
    size_t n = 0;
    int64_t now = accounts_now(op->a);
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(op->tx,
                          "SELECT id, role FROM invitations WHERE tenant_id = $1 "
                          "AND invited_by = $2 AND accepted_at IS NULL AND revoked_at IS NULL "
                          "AND expires_at > $3 ORDER BY created_at, id LIMIT $4",
                          STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_INT(now),
                                       STORAGE_INT(ACCOUNTS_MAX_OPEN_INVITATIONS)),
                          &st, &row);
    while (!e && row && n < ACCOUNTS_MAX_OPEN_INVITATIONS) {
        enum authz_role r = authz_role_parse(stmt_col_text(st, 1));
        if (r > keep) {
            acc_col_copy(st, 0, ids[n], sizeof ids[n]);
            roles[n++] = r;
        }
        e = stmt_step(st, &row);
    }
    stmt_finish(st);
    for (size_t i = 0; i < n && !e; i++) {
        e = tx_exec_args(op->tx,
                         "UPDATE invitations SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2",
                         STORAGE_ARGS(STORAGE_CSTR(ids[i]), STORAGE_INT(now)), NULL);
        char target[TARGET_CAP];
        snprintf(target, sizeof target, "invitation:%.36s", ids[i]);
        const struct log_field f[] = {LOG_STR("role", authz_role_name(roles[i])),
                                      LOG_STR("reason", why)};
        if (!e)
            e = op_audit(op, "member.invitation_revoked", target, AUDIT_SUCCESS, f, 2);
    }
    return e;
}

static enum err set_role_in(struct op *op, const char *id, enum authz_role to)
{
    snprintf(op->target, sizeof op->target, "user:%s", id);
    op->d_role = authz_role_name(to);
    if (!authz_allows(op->role, AUTHZ_MEMBERS_MANAGE))
        return deny(op, ERR_FORBIDDEN, "your role does not manage members");
    enum authz_role from;
    enum err e = user_role(op, id, &from);
    if (e)
        return e;
    op->d_from = authz_role_name(from);
    if (op_is_self(op, id) && !(op->role == AUTHZ_ROLE_SUPER_ADMIN &&
                                from == AUTHZ_ROLE_SUPER_ADMIN && to < AUTHZ_ROLE_SUPER_ADMIN))
        return deny(op, ERR_FORBIDDEN, "you cannot change your own role");
    if (from > op->role)
        return deny(op, ERR_FORBIDDEN, "the member's role is above yours");
    if (to > op->role)
        return deny(op, ERR_FORBIDDEN, "the new role is above yours");
    if (from == to)
        return ERR_OK;
    if (from == AUTHZ_ROLE_SUPER_ADMIN) {
        int64_t n = 0;
        if ((e = super_admins(op->tx, &n)) != ERR_OK)
            return e;
        if (n < 2)
            return deny(op, ERR_CONFLICT, "the last Super Admin cannot be demoted");
    }
    e = tx_exec_args(op->tx, "UPDATE users SET role = $3 WHERE tenant_id = $1 AND id = $2",
                     STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_CSTR(authz_role_name(to))), NULL);
    /* A3: a raised role is only ever held by a sign-in made after the change:
     * the member's sessions end (a new id on privilege change), and so do
     * their token families, whose role is read fresh on every call
     * (auth/tokens.h); a lowered role applies to both at once */
    uint64_t families = 0;
    if (!e && to > from)
        e = acc_sessions_revoke_all(op->a, op->tx, id, NULL);
    if (!e && to > from)
        e = auth_tokens_revoke_user(op->tx, id, accounts_now(op->a), "role_raised", &families);
    /* what the member invited above the new role, they may no longer offer */
    if (!e && to < from)
        e = revoke_sent(op, id, to, "inviter_demoted");
    if (e)
        return e;
    memcpy(op->forget, id, ACCOUNTS_ID_LEN + 1);
    const struct log_field f[] = {LOG_STR("from", authz_role_name(from)),
                                  LOG_STR("to", authz_role_name(to)),
                                  LOG_INT("families_revoked", (int64_t)families)};
    return op_audit(op, "member.role_changed", op->target, AUDIT_SUCCESS, f, to > from ? 3 : 2);
}

enum err accounts_member_set_role(struct accounts *a, const struct accounts_actor *who,
                                  struct str member_id, enum authz_role role,
                                  const struct accounts_client *c, const char **reason)
{
    say(reason, NULL);
    if (!role_ok(role)) {
        say(reason, "unknown role");
        return ERR_INVALID;
    }
    if (!id_ok(member_id))
        return ERR_NOT_FOUND;
    char id[ACCOUNTS_ID_LEN + 1];
    memcpy(id, member_id.ptr, ACCOUNTS_ID_LEN);
    id[ACCOUNTS_ID_LEN] = '\0';
    struct op op;
    enum err e = op_begin(&op, a, who, c, "member.role_changed");
    if (!e)
        e = set_role_in(&op, id, role);
    return op_finish(&op, e, reason);
}

static enum err remove_in(struct op *op, const char *id)
{
    snprintf(op->target, sizeof op->target, "user:%s", id);
    bool self = op_is_self(op, id);
    if (!self && !authz_allows(op->role, AUTHZ_MEMBERS_MANAGE))
        return deny(op, ERR_FORBIDDEN, "your role does not manage members");
    enum authz_role role;
    enum err e = user_role(op, id, &role);
    if (e)
        return e;
    op->d_role = authz_role_name(role);
    if (!self && role > op->role)
        return deny(op, ERR_FORBIDDEN, "the member's role is above yours");
    if (role == AUTHZ_ROLE_SUPER_ADMIN) {
        int64_t n = 0;
        if ((e = super_admins(op->tx, &n)) != ERR_OK)
            return e;
        if (n < 2)
            return deny(op, ERR_CONFLICT, "the last Super Admin cannot be removed");
    }
    /* the invitations they sent end with them (invited_by is no foreign key) */
    if ((e = revoke_sent(op, id, AUTHZ_ROLE_NONE, "inviter_removed")) != ERR_OK)
        return e;
    /* sessions, tokens, the address's directory entry and API keys cascade */
    uint64_t gone = 0;
    e = tx_exec_args(op->tx, "DELETE FROM users WHERE tenant_id = $1 AND id = $2",
                     STORAGE_ARGS(STORAGE_CSTR(id)), &gone);
    if (!e && gone != 1)
        e = ERR_NOT_FOUND;
    if (e)
        return e;
    memcpy(op->forget, id, ACCOUNTS_ID_LEN + 1);
    const struct log_field f[] = {LOG_STR("role", authz_role_name(role)),
                                  LOG_STR("self", self ? "yes" : "no")};
    return op_audit(op, "member.removed", op->target, AUDIT_SUCCESS, f, 2);
}

enum err accounts_member_remove(struct accounts *a, const struct accounts_actor *who,
                                struct str member_id, const struct accounts_client *c,
                                const char **reason)
{
    say(reason, NULL);
    if (!id_ok(member_id))
        return ERR_NOT_FOUND;
    char id[ACCOUNTS_ID_LEN + 1];
    memcpy(id, member_id.ptr, ACCOUNTS_ID_LEN);
    id[ACCOUNTS_ID_LEN] = '\0';
    struct op op;
    enum err e = op_begin(&op, a, who, c, "member.removed");
    if (!e)
        e = remove_in(&op, id);
    return op_finish(&op, e, reason);
}

/* ---- invitations ------------------------------------------------------------------ */

/* Revokes the address's invitation that is neither accepted nor revoked, if any. */
static enum err replace_pending(struct op *op, const char *email, int64_t now)
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(op->tx,
                          "SELECT id, role FROM invitations WHERE tenant_id = $1 AND email = $2 "
                          "AND accepted_at IS NULL AND revoked_at IS NULL",
                          STORAGE_ARGS(STORAGE_CSTR(email)), &st, &row);
    char old[ACCOUNTS_ID_LEN + 1] = "";
    enum authz_role role = AUTHZ_ROLE_NONE;
    if (!e && row) {
        acc_col_copy(st, 0, old, sizeof old);
        role = authz_role_parse(stmt_col_text(st, 1));
    }
    stmt_finish(st);
    if (e || !old[0])
        return e;
    if (role > op->role)
        return deny(op, ERR_FORBIDDEN, "an invitation above your role is open for this address");
    e = tx_exec_args(op->tx,
                     "UPDATE invitations SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2",
                     STORAGE_ARGS(STORAGE_CSTR(old), STORAGE_INT(now)), NULL);
    char target[TARGET_CAP];
    snprintf(target, sizeof target, "invitation:%s", old);
    const struct log_field f[] = {LOG_STR("role", authz_role_name(role)),
                                  LOG_STR("reason", "replaced")};
    if (!e)
        e = op_audit(op, "member.invitation_revoked", target, AUDIT_SUCCESS, f, 2);
    return e;
}

/* Room for one more invitation: ERR_LIMIT (with op->reason) when the tenant is full. */
static enum err invite_room(struct op *op, int64_t now)
{
    /* ended invitations go a grace period after they ended (accounts.h) */
    int64_t cutoff = now - ACCOUNTS_CLEANUP_GRACE_S;
    enum err e = tx_exec_args(op->tx,
                              "DELETE FROM invitations WHERE tenant_id = $1 AND (accepted_at <= $2 "
                              "OR revoked_at <= $2 OR expires_at <= $2)",
                              STORAGE_ARGS(STORAGE_INT(cutoff)), NULL);
    int64_t open = 0, members = 0;
    if (!e)
        e = count_of(op->tx,
                     "SELECT count(*) FROM invitations WHERE tenant_id = $1 "
                     "AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
                     STORAGE_ARGS(STORAGE_INT(now)), &open);
    if (!e)
        e = count_of(op->tx, "SELECT count(*) FROM users WHERE tenant_id = $1", NULL, 0, &members);
    if (e)
        return e;
    if (open >= ACCOUNTS_MAX_OPEN_INVITATIONS) {
        op->reason = "too many open invitations: revoke one first";
        return ERR_LIMIT;
    }
    if (members + open >= ACCOUNTS_MAX_MEMBERS) {
        op->reason = "the organization has as many members as it can hold";
        return ERR_LIMIT;
    }
    return ERR_OK;
}

static enum err invite_in(struct op *op, const char *email, enum authz_role role,
                          const struct accounts_invite_mailer *mailer,
                          struct accounts_invitation_created *out)
{
    op->d_role = authz_role_name(role);
    if (!authz_allows(op->role, AUTHZ_MEMBERS_MANAGE))
        return deny(op, ERR_FORBIDDEN, "your role does not manage members");
    if (role > op->role)
        return deny(op, ERR_FORBIDDEN, "you cannot invite above your own role");
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(op->tx, "SELECT id FROM users WHERE tenant_id = $1 AND email = $2",
                          STORAGE_ARGS(STORAGE_CSTR(email)), &st, &row);
    stmt_finish(st);
    if (e)
        return e;
    if (row) {
        op->reason = "this address is a member already";
        return ERR_CONFLICT;
    }
    int64_t now = accounts_now(op->a);
    if ((e = replace_pending(op, email, now)) != ERR_OK || (e = invite_room(op, now)) != ERR_OK)
        return e;

    char org[ACCOUNTS_MAX_TENANT_NAME + 1] = "";
    e = tx_query(op->tx, "SELECT name FROM tenants WHERE id = $1", NULL, 0, &st, &row);
    if (!e && row)
        acc_col_copy(st, 0, org, sizeof org);
    stmt_finish(st);
    if (e)
        return e;

    char th[ACCOUNTS_HASH_HEX + 1];
    if ((e = acc_new_uuid(out->id)) != ERR_OK ||
        (e = acc_secret_new(&op->who->user.tenant, out->token, th)) != ERR_OK)
        return e;
    out->role = role;
    out->expires_at = now + ACCOUNTS_INVITE_TTL_S;
    memcpy(out->email, email, strlen(email) + 1);
    e = tx_exec_args(op->tx,
                     "INSERT INTO invitations (tenant_id, id, email, role, token_hash, invited_by, "
                     "created_at, expires_at, accepted_at, revoked_at) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)",
                     STORAGE_ARGS(STORAGE_CSTR(out->id), STORAGE_CSTR(email),
                                  STORAGE_CSTR(authz_role_name(role)), STORAGE_CSTR(th),
                                  STORAGE_CSTR(op->who->user.user_id), STORAGE_INT(now),
                                  STORAGE_INT(out->expires_at)),
                     NULL);
    if (e)
        return e;
    struct accounts_invite_mail m = {
        .to = email, .token = out->token, .org = org, .role = role, .expires_at = out->expires_at};
    if ((e = mailer->queue(mailer->arg, op->tx, &m)) != ERR_OK)
        return e;
    snprintf(op->target, sizeof op->target, "invitation:%s", out->id);
    const struct log_field f[] = {LOG_STR("role", authz_role_name(role)),
                                  LOG_INT("expires_at", out->expires_at)};
    return op_audit(op, "member.invited", op->target, AUDIT_SUCCESS, f, 2);
}

enum err accounts_invite(struct accounts *a, const struct accounts_actor *who, struct str email,
                         enum authz_role role, const struct accounts_client *c,
                         const struct accounts_invite_mailer *mailer,
                         struct accounts_invitation_created *out, const char **reason)
{
    memset(out, 0, sizeof *out);
    say(reason, NULL);
    char em[ACCOUNTS_MAX_EMAIL + 1];
    enum err e = accounts_email_normalize(email, em);
    if (e) {
        say(reason, e == ERR_LIMIT ? "email too long" : "email not valid");
        return e;
    }
    if (!role_ok(role)) {
        say(reason, "unknown role");
        return ERR_INVALID;
    }
    if (!mailer || !mailer->queue) {
        say(reason, "no mail can be sent");
        return ERR_INVALID;
    }
    struct op op;
    e = op_begin(&op, a, who, c, "member.invited");
    if (!e)
        e = invite_in(&op, em, role, mailer, out);
    e = op_finish(&op, e, reason);
    if (e)
        crypto_wipe(out, sizeof *out);
    return e;
}

static enum err revoke_in(struct op *op, const char *id)
{
    snprintf(op->target, sizeof op->target, "invitation:%s", id);
    if (!authz_allows(op->role, AUTHZ_MEMBERS_MANAGE))
        return deny(op, ERR_FORBIDDEN, "your role does not manage members");
    int64_t now = accounts_now(op->a);
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(op->tx,
                          "SELECT role FROM invitations WHERE tenant_id = $1 AND id = $2 "
                          "AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
                          STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_INT(now)), &st, &row);
    enum authz_role role = row && !e ? authz_role_parse(stmt_col_text(st, 0)) : AUTHZ_ROLE_NONE;
    stmt_finish(st);
    if (e)
        return e;
    if (!row)
        return ERR_NOT_FOUND;
    op->d_role = authz_role_name(role);
    if (role > op->role)
        return deny(op, ERR_FORBIDDEN, "the invitation's role is above yours");
    e = tx_exec_args(op->tx,
                     "UPDATE invitations SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2",
                     STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_INT(now)), NULL);
    const struct log_field f[] = {LOG_STR("role", authz_role_name(role)),
                                  LOG_STR("reason", "revoked")};
    if (!e)
        e = op_audit(op, "member.invitation_revoked", op->target, AUDIT_SUCCESS, f, 2);
    return e;
}

enum err accounts_invitation_revoke(struct accounts *a, const struct accounts_actor *who,
                                    struct str invitation_id, const struct accounts_client *c,
                                    const char **reason)
{
    say(reason, NULL);
    if (!id_ok(invitation_id))
        return ERR_NOT_FOUND;
    char id[ACCOUNTS_ID_LEN + 1];
    memcpy(id, invitation_id.ptr, ACCOUNTS_ID_LEN);
    id[ACCOUNTS_ID_LEN] = '\0';
    struct op op;
    enum err e = op_begin(&op, a, who, c, "member.invitation_revoked");
    if (!e)
        e = revoke_in(&op, id);
    return op_finish(&op, e, reason);
}

/* ---- the invitee's side ------------------------------------------------------------- */

/* The open invitation of a token's hash in tx, into out. ERR_NOT_FOUND when none. */
static enum err open_invitation(struct tx *tx, const char *hash, int64_t now,
                                struct accounts_invitation_info *out)
{
    struct stmt *st = NULL;
    bool row = false;
    enum err e = tx_query(tx,
                          "SELECT i.email, i.role, i.expires_at, t.name FROM invitations i "
                          "JOIN tenants t ON t.id = i.tenant_id "
                          "WHERE i.tenant_id = $1 AND t.id = $1 AND i.token_hash = $2 "
                          "AND i.accepted_at IS NULL AND i.revoked_at IS NULL "
                          "AND i.expires_at > $3",
                          STORAGE_ARGS(STORAGE_CSTR(hash), STORAGE_INT(now)), &st, &row);
    if (!e && !row)
        e = ERR_NOT_FOUND;
    if (!e) {
        acc_col_copy(st, 0, out->email, sizeof out->email);
        out->role = authz_role_parse(stmt_col_text(st, 1));
        out->expires_at = stmt_col_int(st, 2);
        acc_col_copy(st, 3, out->org, sizeof out->org);
        if (!role_ok(out->role))
            e = ERR_NOT_FOUND;
    }
    stmt_finish(st);
    return e;
}

enum err accounts_invitation_peek(struct accounts *a, struct str token,
                                  struct accounts_invitation_info *out)
{
    memset(out, 0, sizeof *out);
    struct tenant_ctx t;
    char h[ACCOUNTS_HASH_HEX + 1];
    enum err e = acc_secret_parse(token, &t, h);
    if (e)
        return e == ERR_LIMIT ? ERR_LIMIT : ERR_NOT_FOUND;
    struct tx *tx = NULL;
    if ((e = storage_begin(a->db, &t, TX_READ, &tx)) != ERR_OK)
        return e;
    e = open_invitation(tx, h, accounts_now(a), out);
    storage_rollback(tx);
    if (e)
        memset(out, 0, sizeof *out);
    return e;
}

struct joined {
    char invitation[ACCOUNTS_ID_LEN + 1];
    char email[ACCOUNTS_MAX_EMAIL + 1];
    char invited_by[ACCOUNTS_ID_LEN + 1];
    enum authz_role role;
};

/* Everything of an acceptance inside tx; *conflict when the address is taken. */
static enum err accept_in(struct accounts *a, struct tx *tx, const char *hash, const char *pw_hash,
                          int64_t now, const struct accounts_client *c, struct accounts_user_ref *u,
                          char session_id[ACCOUNTS_SECRET_LEN + 1], struct accounts_session *out,
                          bool *conflict)
{
    *conflict = false;
    enum err e = ERR_OK;
    if (storage_tx_backend(tx) == STORAGE_POSTGRES)
        e = tx_exec_args(tx, MEMBERS_LOCK_SQL, NULL, 0, NULL);
    struct stmt *st = NULL;
    bool row = false;
    struct joined j;
    memset(&j, 0, sizeof j);
    if (!e)
        e = tx_query(tx,
                     "UPDATE invitations SET accepted_at = $3 WHERE tenant_id = $1 "
                     "AND token_hash = $2 AND accepted_at IS NULL AND revoked_at IS NULL "
                     "AND expires_at > $3 RETURNING id, email, role, invited_by",
                     STORAGE_ARGS(STORAGE_CSTR(hash), STORAGE_INT(now)), &st, &row);
    if (!e && !row)
        e = ERR_NOT_FOUND;
    if (!e) {
        acc_col_copy(st, 0, j.invitation, sizeof j.invitation);
        acc_col_copy(st, 1, j.email, sizeof j.email);
        j.role = authz_role_parse(stmt_col_text(st, 2));
        acc_col_copy(st, 3, j.invited_by, sizeof j.invited_by);
        if (!role_ok(j.role))
            e = ERR_NOT_FOUND;
    }
    stmt_finish(st);
    if (e)
        return e;
    if ((e = acc_new_uuid(u->user_id)) != ERR_OK)
        return e;
    char eh[ACCOUNTS_HASH_HEX + 1];
    acc_email_hash(j.email, eh);
    /* the link proves the mailbox: the address is verified from the start */
    e = tx_exec_args(tx,
                     "INSERT INTO users (tenant_id, id, email, password_hash, password_key_id, "
                     "role, email_verified_at, failed_count, locked_until, created_at) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, 0, NULL, $7)",
                     STORAGE_ARGS(STORAGE_CSTR(u->user_id), STORAGE_CSTR(j.email),
                                  STORAGE_CSTR(pw_hash), STORAGE_CSTR(keyring_current(a->ring)->id),
                                  STORAGE_CSTR(authz_role_name(j.role)), STORAGE_INT(now)),
                     NULL);
    if (!e)
        e = tx_exec_args(
            tx, "INSERT INTO user_emails (email_hash, tenant_id, user_id) VALUES ($2, $1, $3)",
            STORAGE_ARGS(STORAGE_CSTR(eh), STORAGE_CSTR(u->user_id)), NULL);
    if (e == ERR_CONFLICT) {
        *conflict = true;
        return e;
    }
    if (!e)
        e = acc_session_create(a, tx, u, c, session_id, out);
    if (e)
        return e;
    snprintf(out->role, sizeof out->role, "%s", authz_role_name(j.role));
    out->email_verified = true;
    char target[TARGET_CAP];
    snprintf(target, sizeof target, "user:%s", u->user_id);
    return acc_audit(tx, "member.joined", AUDIT_ACTOR_USER, u->user_id, target, AUDIT_SUCCESS, c,
                     LOG_FIELDS_(LOG_STR("role", authz_role_name(j.role)),
                                 LOG_STR("invitation", j.invitation),
                                 LOG_STR("invited_by", j.invited_by)));
}

enum err accounts_invitation_accept(struct accounts *a, struct str token, struct str password,
                                    const struct accounts_client *c,
                                    char session_id[ACCOUNTS_SECRET_LEN + 1],
                                    struct accounts_session *out, const char **reason)
{
    struct accounts_session scratch;
    if (!out)
        out = &scratch;
    memset(out, 0, sizeof *out);
    session_id[0] = '\0';
    say(reason, NULL);
    enum err e = acc_client_check(c);
    if (e)
        return e;
    struct accounts_user_ref u;
    char h[ACCOUNTS_HASH_HEX + 1];
    if ((e = acc_secret_parse(token, &u.tenant, h)) != ERR_OK)
        return e == ERR_LIMIT ? ERR_LIMIT : ERR_NOT_FOUND;
    /* a token that cannot be accepted costs no bcrypt */
    struct accounts_invitation_info info;
    if ((e = accounts_invitation_peek(a, token, &info)) != ERR_OK)
        return e;
    const char *why = NULL;
    if ((e = password_check_policy(password, &why)) != ERR_OK) {
        say(reason, why);
        return e;
    }
    char pw_hash[PASSWORD_HASH_MAX];
    if ((e = password_hash(&a->pw, password, pw_hash)) != ERR_OK)
        return e;
    struct tx *tx = NULL;
    bool conflict = false;
    if ((e = storage_begin(a->db, &u.tenant, TX_WRITE, &tx)) == ERR_OK) {
        e = accept_in(a, tx, h, pw_hash, accounts_now(a), c, &u, session_id, out, &conflict);
        if (e)
            storage_rollback(tx);
        else
            e = storage_commit(tx);
    }
    crypto_wipe(pw_hash, sizeof pw_hash);
    if (e) {
        crypto_wipe(session_id, ACCOUNTS_SECRET_LEN + 1);
        memset(out, 0, sizeof *out);
        if (conflict)
            say(reason, "this address has a shiplog account already, and an address can belong "
                        "to one organization only");
        return e;
    }
    log_info("invitation accepted", LOG_STR("tenant", u.tenant.id), LOG_STR("user", u.user_id));
    return ERR_OK;
}
