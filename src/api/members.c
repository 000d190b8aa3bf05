/*
 * members — the JSON API of members and invitations (issue 5 item 2) on top
 * of the accounts core (accounts.h, "members and invitations"), and the
 * actions the console's members pages share with it (members_do_*).
 *
 *   GET    /api/v1/members?page=N          the members, ACCOUNTS_MEMBERS_PAGE a page
 *   POST   /api/v1/members/{id}/role       {role}: change a member's role
 *   DELETE /api/v1/members/{id}            remove a member (or leave)
 *   GET    /api/v1/invitations             the open invitations
 *   POST   /api/v1/invitations             {email, role}: invite (Idempotency-Key required)
 *   DELETE /api/v1/invitations/{id}        revoke an open invitation
 *   POST   /api/v1/invitations/accept      {token, password}: join; sets the session cookie
 *
 * Design:
 *  - The managing routes need AUTHZ_MEMBERS_MANAGE (Admin and up; an API key
 *    with members:write). Listing members shows their addresses, so it needs
 *    the same permission: personal data goes to those who manage it.
 *  - An API key acts for its creator, but never above Admin: managing Super
 *    Admins (making, demoting, removing one, or inviting one) is tenant
 *    management, which keys never hold (auth.h), so a person must do it.
 *  - Refusals of the core are recorded here with their public words, once,
 *    for both surfaces: 404 not_found (another tenant's id included, T4),
 *    403 permission_denied, 409 last_super_admin / already_member /
 *    email_taken, 409 limit_reached for an invitation to an organization
 *    that is full (ACCOUNTS_MAX_OPEN_INVITATIONS open invitations, or
 *    ACCOUNTS_MAX_MEMBERS members and invitations: a state to change, not a
 *    request to correct), 400 validation_failed.
 *  - Invitation mails go through the outbox in the invitation's transaction
 *    (the core calls the invitation mailer inside it; the actions pass no
 *    accounts mailer to identity_client_of); the link opens the console
 *    page <public_url>/invite?token=..., whose button POSTs the token, so a
 *    mail scanner spends nothing. An organization can mail one address an
 *    invitation at most as often as the magic-link bucket allows
 *    (RL_MAGIC_LINK, key "invite:" + SHA-256 of a label, the tenant and the
 *    normalized address: its own key, so invitations never use up an
 *    address's sign-in links, nor one organization's invitations another's).
 *  - Accepting is public (the token is the credential), rate limited per IP
 *    in the sign-in bucket; a bad token of any kind is 404 not_found.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/log.h"
#include "crypto/hash.h"
#include "crypto/rand.h"
#include "http/form.h"
#include "outbox/outbox.h"

#define MEMBERS_MAX_BODY      (16 * 1024) /* bytes of a request body */
#define MEMBERS_MAX_MAIL      4096        /* bytes of an invitation mail we compose */
#define MEMBERS_MAX_ROLE_TEXT 16          /* bytes of a role name accepted */
#define MEMBERS_RATE_KEY      (sizeof "invite:" + 2 * SHA256_LEN)

static const char *const json_only[] = {HTTP_JSON_TYPE, NULL};
static const char *const role_names[] = {"member", "editor", "admin", "super_admin", NULL};

static const struct json_limits members_limits = {
    .max_bytes = MEMBERS_MAX_BODY,
    .max_depth = 2,
    .max_string = PASSWORD_MAX_INPUT,
    .max_members = 8,
};

#define ROLE_FIELD(req, what)                                                                      \
    {                                                                                              \
        .name = "role", .kind = SCHEMA_STRING, .required = (req), .min_len = 1,                    \
        .max_len = MEMBERS_MAX_ROLE_TEXT, .enum_values = role_names, .description = (what)         \
    }

static const struct schema_field role_fields[] = {
    ROLE_FIELD(true, "The new role: never above your own"),
};
static const struct schema role_schema = {role_fields, 1, false};
const struct body_spec MEMBERS_ROLE_BODY = {.content_types = json_only,
                                            .json = true,
                                            .limits = &members_limits,
                                            .schema = &role_schema,
                                            .name = "MemberRoleChange",
                                            .description = "A member's new role"};

static const struct schema_field invite_fields[] = {
    {.name = "email",
     .kind = SCHEMA_STRING,
     .required = true,
     .min_len = 3,
     .max_len = ACCOUNTS_MAX_EMAIL,
     .format = SCHEMA_FMT_EMAIL,
     .description = "The address to invite"},
    ROLE_FIELD(false, "The role offered (default member): never above your own"),
};
static const struct schema invite_schema = {invite_fields, 2, false};
const struct body_spec INVITATIONS_CREATE_BODY = {.content_types = json_only,
                                                  .json = true,
                                                  .limits = &members_limits,
                                                  .schema = &invite_schema,
                                                  .name = "InvitationRequest",
                                                  .description = "Whom to invite, with which role"};

static const struct schema_field accept_fields[] = {
    {.name = "token",
     .kind = SCHEMA_STRING,
     .required = true,
     .min_len = 1,
     .max_len = ACCOUNTS_MAX_SECRET_TEXT,
     .description = "The token of the invitation link"},
    {.name = "password",
     .kind = SCHEMA_STRING,
     .required = true,
     .min_len = PASSWORD_MIN_CHARS,
     .max_len = PASSWORD_MAX_INPUT,
     .description = "The new member's password: 12 to 128 characters"},
};
static const struct schema accept_schema = {accept_fields, 2, false};
const struct body_spec INVITATIONS_ACCEPT_BODY = {.content_types = json_only,
                                                  .json = true,
                                                  .limits = &members_limits,
                                                  .schema = &accept_schema,
                                                  .name = "InvitationAccept",
                                                  .description = "An invitation's token and the "
                                                                 "password the new member chooses"};

/* ---- helpers ------------------------------------------------------------------ */

void members_actor_of(const struct http_request *req, struct accounts_actor *who)
{
    enum authz_role role = authz_role_parse(str_from_cstr(req->principal.role));
    /* a key manages members at most as an Admin (see above) */
    if (req->principal.key && role > AUTHZ_ROLE_ADMIN)
        role = AUTHZ_ROLE_ADMIN;
    *who =
        (struct accounts_actor){.user = req->principal.user,
                                .role = role,
                                .key_id = req->principal.key ? req->principal.key->key_id : NULL};
}

/* A role name as sent; ERR_INVALID (recorded) for anything else. */
static enum err role_of(struct http_request *req, struct str text, enum authz_role *out)
{
    *out = text.ptr ? authz_role_parse(text) : AUTHZ_ROLE_MEMBER;
    if (*out != AUTHZ_ROLE_NONE)
        return ERR_OK;
    return http_fail_public(req, ERR_INVALID, "validation_failed",
                            "role: one of member, editor, admin, super_admin.");
}

/* Composes and queues the invitation mail (accounts_invite_mailer; arg is the request). */
static enum err queue_invitation(void *arg, struct tx *tx, const struct accounts_invite_mail *m)
{
    const struct http_request *req = arg;
    const struct config *cfg = req->app->cfg;
    struct buf body = BUF_INIT_SECRET(MEMBERS_MAX_MAIL);
    enum err e = buf_printf(
        &body,
        "You are invited to join the organization \"%s\" on shiplog, as %s.\n\n"
        "Accept the invitation and choose your password here:\n\n%.*s/invite?token=%s\n\n"
        "The link is valid for 7 days and works once. If you did not expect this invitation, "
        "ignore this mail.\n",
        m->org[0] ? m->org : "(unnamed)", authz_role_title(m->role), api_public_base_len(cfg),
        cfg->public_url, m->token);
    if (!e) {
        struct outbox_mail mail = {
            .to = m->to, .subject = "You are invited to shiplog", .body = buf_cstr(&body)};
        e = outbox_enqueue(tx, &mail);
    }
    buf_wipe(&body);
    return e;
}

/* H8: one hit per invited address and tenant in the magic-link bucket, under its own key. */
static enum err rate_address(struct http_request *req, struct str email)
{
    static const char label[] = "shiplog/v1/rl-invite:";
    char norm[ACCOUNTS_MAX_EMAIL + 1];
    if (accounts_email_normalize(email, norm) != ERR_OK)
        return ERR_OK; /* refused by the core in a moment, before any mail */
    char text[sizeof label + STORAGE_TENANT_ID_LEN + 1 + ACCOUNTS_MAX_EMAIL + 1];
    int tl = snprintf(text, sizeof text, "%s%s\n%s", label, req->principal.user.tenant.id, norm);
    unsigned char h[SHA256_LEN];
    sha256(text, (size_t)tl, h);
    char key[MEMBERS_RATE_KEY];
    memcpy(key, "invite:", 7);
    hex_encode(h, SHA256_LEN, key + 7);
    key[7 + 2 * SHA256_LEN] = '\0';
    return http_rate_hit(req, RL_MAGIC_LINK, key);
}

/* ---- the actions, shared with the console --------------------------------------- */

enum err members_do_set_role(struct http_request *req, struct str id, struct str role_text)
{
    enum authz_role role;
    enum err e = role_of(req, role_text.ptr ? role_text : str_from_cstr(""), &role);
    if (e)
        return e;
    struct accounts_actor who;
    members_actor_of(req, &who);
    struct accounts_client c;
    identity_client_of(req, &c, NULL);
    const char *reason = NULL;
    e = accounts_member_set_role(req->app->accounts, &who, id, role, &c, &reason);
    return e ? api_refused(req, e, reason, "The role was not changed", "last_super_admin") : ERR_OK;
}

enum err members_do_remove(struct http_request *req, struct http_response *resp, struct str id,
                           bool *self)
{
    *self = str_eq_cstr(id, req->principal.user.user_id);
    struct accounts_actor who;
    members_actor_of(req, &who);
    struct accounts_client c;
    identity_client_of(req, &c, NULL);
    const char *reason = NULL;
    enum err e = accounts_member_remove(req->app->accounts, &who, id, &c, &reason);
    if (e)
        return api_refused(req, e, reason, "The member was not removed", "last_super_admin");
    /* leaving: this browser's session went with the account */
    return *self && !req->principal.key ? identity_set_session_cookie(req, resp, NULL) : ERR_OK;
}

enum err members_do_invite(struct http_request *req, struct str email, struct str role_text,
                           struct accounts_invitation_created *out)
{
    memset(out, 0, sizeof *out);
    enum authz_role role;
    enum err e = role_of(req, role_text, &role);
    if (e)
        return e;
    /* an address the core or the outbox would refuse is refused before anything is made,
     * in the core's words; so the core's ERR_LIMIT below can only be a full organization */
    char norm[ACCOUNTS_MAX_EMAIL + 1];
    e = accounts_email_normalize(email, norm);
    if (e)
        return api_refused(req, e == ERR_LIMIT ? ERR_LIMIT : ERR_INVALID,
                           e == ERR_LIMIT ? "email too long" : "email not valid",
                           "The invitation was not sent", NULL);
    struct outbox_mail probe = {.to = norm, .subject = "x", .body = "x"};
    if (outbox_mail_check(&probe) != ERR_OK)
        return http_fail_public(req, ERR_INVALID, "validation_failed",
                                "The invitation was not sent: email not valid.");
    if ((e = rate_address(req, email)) != ERR_OK)
        return e;
    struct accounts_actor who;
    members_actor_of(req, &who);
    struct accounts_client c;
    identity_client_of(req, &c, NULL);
    struct accounts_invite_mailer mailer = {.queue = queue_invitation, .arg = req};
    const char *reason = NULL;
    e = accounts_invite(req->app->accounts, &who, email, role, &c, &mailer, out, &reason);
    if (e == ERR_LIMIT) /* the organization is full: its state, not the request, is the problem */
        return api_refused(req, ERR_CONFLICT, reason, "The invitation was not sent",
                           "limit_reached");
    if (e)
        return api_refused(req, e, reason, "The invitation was not sent", "already_member");
    outbox_sender_kick();
    crypto_wipe(out->token, sizeof out->token); /* it is in the mail; nobody else needs it */
    return ERR_OK;
}

enum err members_do_revoke(struct http_request *req, struct str id)
{
    struct accounts_actor who;
    members_actor_of(req, &who);
    struct accounts_client c;
    identity_client_of(req, &c, NULL);
    const char *reason = NULL;
    enum err e = accounts_invitation_revoke(req->app->accounts, &who, id, &c, &reason);
    return e ? api_refused(req, e, reason, "The invitation was not revoked", "conflict") : ERR_OK;
}

enum err members_do_accept(struct http_request *req, struct str token, struct str password,
                           char sid[ACCOUNTS_SECRET_LEN + 1], struct accounts_session *s,
                           const char **reason)
{
    struct accounts_client c;
    identity_client_of(req, &c, NULL);
    enum err e =
        accounts_invitation_accept(req->app->accounts, token, password, &c, sid, s, reason);
    if (e == ERR_LIMIT && !*reason)
        e = ERR_NOT_FOUND; /* a token past the limit is no token */
    return e;
}

/* ---- members ---------------------------------------------------------------------- */

_Static_assert(API_MAX_PAGE_TEXT <= 9, "the page's digits must fit an unsigned");

enum err api_members_page_of(struct str query, unsigned *page)
{
    *page = 0;
    const char *why;
    if (!query.len)
        return ERR_OK;
    if (form_validate(query, &why) != ERR_OK)
        return ERR_INVALID;
    struct buf v = BUF_INIT(API_MAX_PAGE_TEXT);
    enum err e = form_get(query, "page", &v);
    unsigned n = 0;
    for (size_t i = 0; e == ERR_OK && i < v.len; i++) {
        char ch = buf_cstr(&v)[i];
        if (ch < '0' || ch > '9')
            e = ERR_INVALID;
        else
            n = n * 10 + (unsigned)(ch - '0');
    }
    if (e == ERR_OK && v.len && (n < 1 || n > ACCOUNTS_MAX_MEMBERS_PAGES))
        e = ERR_INVALID;
    if (e == ERR_OK && v.len)
        *page = n - 1;
    buf_release(&v);
    if (e == ERR_NOT_FOUND) /* no page parameter: the first page */
        return ERR_OK;
    return e ? ERR_INVALID : ERR_OK; /* ERR_LIMIT: a value past API_MAX_PAGE_TEXT */
}

/* The page query parameter (1-based) as the core's 0-based page; recorded 400 when bad. */
static enum err page_of(struct http_request *req, unsigned *page)
{
    if (api_members_page_of(req->query, page) == ERR_OK)
        return ERR_OK;
    char *msg =
        arena_printf(req->arena, "page: a number from 1 to %d.", ACCOUNTS_MAX_MEMBERS_PAGES);
    return http_fail_public(req, ERR_INVALID, "validation_failed", msg ? msg : "page.");
}

enum err members_list(struct http_request *req, struct http_response *resp)
{
    unsigned page;
    enum err e = page_of(req, &page);
    if (e)
        return e;
    struct accounts_member *list = arena_calloc(req->arena, ACCOUNTS_MEMBERS_PAGE, sizeof *list);
    if (!list)
        return ERR_LIMIT;
    size_t n = 0, total = 0;
    e = accounts_members_list(req->app->accounts, &req->principal.user.tenant, page, list, &n,
                              &total);
    if (e)
        return http_fail(req, e, "members list: %s", err_name(e));
    struct buf out = BUF_INIT(256 * 1024);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "members");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jw_object_begin(&w);
        jw_key(&w, "id");
        jw_cstring(&w, list[i].id);
        jw_key(&w, "email");
        jw_cstring(&w, list[i].email);
        jw_key(&w, "role");
        jw_cstring(&w, authz_role_name(list[i].role));
        jw_key(&w, "email_verified");
        jw_bool(&w, list[i].email_verified);
        jw_key(&w, "created_at");
        jw_int(&w, list[i].created_at);
        jw_key(&w, "you");
        jw_bool(&w, strcmp(list[i].id, req->principal.user.user_id) == 0);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_key(&w, "page");
    jw_int(&w, (int64_t)page + 1);
    jw_key(&w, "page_size");
    jw_int(&w, ACCOUNTS_MEMBERS_PAGE);
    jw_key(&w, "total");
    jw_int(&w, (int64_t)total);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err members_set_role(struct http_request *req, struct http_response *resp)
{
    struct str id = http_param(req, "id");
    enum err e = members_do_set_role(req, id, api_body_str(req, "role"));
    if (e)
        return e;
    struct buf out = BUF_INIT(256);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "id");
    jw_string(&w, id);
    jw_key(&w, "role");
    jw_string(&w, api_body_str(req, "role"));
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err members_remove(struct http_request *req, struct http_response *resp)
{
    bool self;
    enum err e = members_do_remove(req, resp, http_param(req, "id"), &self);
    if (!e)
        resp->status = 204;
    return e;
}

/* ---- invitations ------------------------------------------------------------------ */

enum err invitations_list(struct http_request *req, struct http_response *resp)
{
    struct accounts_invitation *list =
        arena_calloc(req->arena, ACCOUNTS_MAX_OPEN_INVITATIONS, sizeof *list);
    if (!list)
        return ERR_LIMIT;
    size_t n = 0;
    enum err e =
        accounts_invitations_list(req->app->accounts, &req->principal.user.tenant, list, &n);
    if (e)
        return http_fail(req, e, "invitations list: %s", err_name(e));
    struct buf out = BUF_INIT(64 * 1024);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "invitations");
    jw_array_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jw_object_begin(&w);
        jw_key(&w, "id");
        jw_cstring(&w, list[i].id);
        jw_key(&w, "email");
        jw_cstring(&w, list[i].email);
        jw_key(&w, "role");
        jw_cstring(&w, authz_role_name(list[i].role));
        jw_key(&w, "invited_by");
        jw_cstring(&w, list[i].invited_by);
        jw_key(&w, "created_at");
        jw_int(&w, list[i].created_at);
        jw_key(&w, "expires_at");
        jw_int(&w, list[i].expires_at);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_object_end(&w);
    return api_respond_json(req, resp, 200, &w, &out);
}

enum err invitations_create(struct http_request *req, struct http_response *resp)
{
    struct accounts_invitation_created k;
    enum err e = members_do_invite(req, api_body_str(req, "email"), api_body_str(req, "role"), &k);
    if (e)
        return e;
    struct buf out = BUF_INIT(1024);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "id");
    jw_cstring(&w, k.id);
    jw_key(&w, "email");
    jw_cstring(&w, k.email);
    jw_key(&w, "role");
    jw_cstring(&w, authz_role_name(k.role));
    jw_key(&w, "expires_at");
    jw_int(&w, k.expires_at);
    jw_object_end(&w);
    return api_respond_json(req, resp, 201, &w, &out);
}

enum err invitations_revoke(struct http_request *req, struct http_response *resp)
{
    enum err e = members_do_revoke(req, http_param(req, "id"));
    if (!e)
        resp->status = 204;
    return e;
}

enum err invitations_accept(struct http_request *req, struct http_response *resp)
{
    char sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_session s;
    const char *reason = NULL;
    enum err e = members_do_accept(req, api_body_str(req, "token"), api_body_str(req, "password"),
                                   sid, &s, &reason);
    if (e == ERR_CONFLICT)
        return api_refused(req, e, reason, "The invitation cannot be accepted", "email_taken");
    if (e == ERR_INVALID || e == ERR_LIMIT)
        return api_refused(req, e, reason, "That password cannot be used", NULL);
    if (e)
        return e == ERR_NOT_FOUND ? e : http_fail(req, e, "accept: %s", err_name(e));
    return identity_respond_session(req, resp, sid, &s);
}
