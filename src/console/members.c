/*
 * members — the console pages of members and invitations (issue 5 item 2):
 * /members lists the organization's members with a role form and a remove
 * button for each one the viewer may manage, the invitation form and the
 * open invitations with revoke buttons; /invite is the page an invitation
 * mail's link opens (reading it spends nothing; its button accepts).
 *
 * The rules are the accounts core's and the actions the JSON API's
 * (api.h members_do_*), so both surfaces refuse alike and audit alike; this
 * file only reads forms and writes pages. Controls are offered only where
 * the viewer's role allows them (never a role above their own); a forged
 * form asking for more is refused by the core (403, audited). After a
 * change the browser is sent back to /members with a fixed notice
 * (?done=...), so a reload repeats nothing.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "console/console_internal.h"

#define MEMBERS_PATH       "/members"
#define MEMBERS_MAX_ROLE   16 /* bytes of a role value in a form */
#define MEMBERS_MAX_QUERY  8  /* bytes of a ?done= value */
#define MEMBERS_ACTION_CAP 96 /* bytes of a form action path */

/* The notices ?done= may ask for: fixed text only, never the query's. */
static const struct {
    const char *key, *text;
} notices[] = {
    {"invited", "The invitation is on its way."},
    {"role", "The role was changed."},
    {"removed", "The member was removed. Their sessions and API keys stopped working."},
    {"revoked", "The invitation was revoked: its link no longer works."},
};

static enum authz_role viewer_role(const struct http_request *req)
{
    return authz_role_parse(str_from_cstr(req->principal.role));
}

/* A value of the query string into out (cap bytes); "" when absent or bad. */
static void query_value(const struct http_request *req, const char *name, char *out, size_t cap)
{
    struct buf v = BUF_INIT(MEMBERS_MAX_QUERY + 1);
    out[0] = '\0';
    if (page_form_value(req->query, name, &v) == ERR_OK && v.len < cap)
        memcpy(out, buf_cstr(&v), v.len + 1);
    buf_release(&v);
}

/* <select> of the roles up to max, with current selected; labelled by a hidden label. */
static void role_select(struct page *pg, const char *id, const char *label, enum authz_role max,
                        enum authz_role current, bool hidden_label)
{
    struct html *h = &pg->h;
    html_tag(h, "<label");
    html_attr(h, "for", str_from_cstr(id));
    if (hidden_label)
        html_tag(h, " class=\"skip\"");
    html_tag(h, ">");
    html_ctext(h, label);
    html_tag(h, "</label><select name=\"role\"");
    html_attr(h, "id", str_from_cstr(id));
    html_tag(h, ">\n");
    for (int r = AUTHZ_ROLE_MEMBER; r <= (int)max; r++) {
        html_tag(h, "<option");
        html_attr(h, "value", str_from_cstr(authz_role_name((enum authz_role)r)));
        if (r == (int)current)
            html_tag(h, " selected");
        html_tag(h, ">");
        html_ctext(h, authz_role_title((enum authz_role)r));
        html_tag(h, "</option>\n");
    }
    html_tag(h, "</select>\n");
}

/* A submit button whose accessible name says what it acts on. */
static void named_button(struct page *pg, const char *text, const char *aria_label)
{
    html_tag(&pg->h, "<button type=\"submit\" class=\"secondary\"");
    html_attr(&pg->h, "aria-label", str_from_cstr(aria_label ? aria_label : text));
    html_tag(&pg->h, ">");
    html_ctext(&pg->h, text);
    html_tag(&pg->h, "</button>\n");
}

static void members_table(struct page *pg, const struct accounts_member *m, size_t n,
                          enum authz_role me)
{
    struct html *h = &pg->h;
    struct arena *ar = pg->req->arena;
    html_tag(h, "<table>\n<caption class=\"skip\">Members</caption>\n<thead><tr>"
                "<th scope=\"col\">Address</th><th scope=\"col\">Role</th>"
                "<th scope=\"col\">Joined</th>"
                "<th scope=\"col\"><span class=\"skip\">Action</span></th></tr></thead>\n"
                "<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        bool self = strcmp(m[i].id, pg->req->principal.user.user_id) == 0;
        bool manage = !self && m[i].role <= me;
        char joined[PAGE_TIME_LEN], action[MEMBERS_ACTION_CAP], id[MEMBERS_ACTION_CAP];
        page_time(joined, m[i].created_at);
        html_tag(h, "<tr><td>");
        html_ctext(h, m[i].email);
        if (self)
            html_tag(h, " <span class=\"muted\">(you)</span>");
        html_tag(h, "</td><td>");
        if (manage) {
            snprintf(action, sizeof action, MEMBERS_PATH "/%s/role", m[i].id);
            snprintf(id, sizeof id, "role-%s", m[i].id);
            char *label = arena_printf(ar, "Role of %s", m[i].email);
            char *change = arena_printf(ar, "Change the role of %s", m[i].email);
            page_form(pg, action, "inline");
            role_select(pg, id, label ? label : "Role", me, m[i].role, true);
            named_button(pg, "Change", change);
            html_tag(h, "</form>");
        } else {
            html_ctext(h, authz_role_title(m[i].role));
        }
        html_tag(h, "</td><td>");
        html_ctext(h, joined);
        html_tag(h, "</td><td>");
        if (manage) {
            snprintf(action, sizeof action, MEMBERS_PATH "/%s/remove", m[i].id);
            char *label = arena_printf(ar, "Remove %s", m[i].email);
            page_form(pg, action, NULL);
            named_button(pg, "Remove", label);
            html_tag(h, "</form>");
        }
        html_tag(h, "</td></tr>\n");
    }
    html_tag(h, "</tbody>\n</table>\n");
}

static void pager(struct page *pg, unsigned page, size_t total)
{
    size_t pages = (total + ACCOUNTS_MEMBERS_PAGE - 1) / ACCOUNTS_MEMBERS_PAGE;
    if (pages <= 1)
        return;
    struct html *h = &pg->h;
    char href[48];
    html_tag(h, "<nav aria-label=\"Pages of members\"><p class=\"links\">");
    if (page > 0) {
        snprintf(href, sizeof href, MEMBERS_PATH "?page=%u", page);
        html_tag(h, "<a rel=\"prev\"");
        html_attr(h, "href", str_from_cstr(href));
        html_tag(h, ">Previous page</a>");
    }
    char *where = arena_printf(pg->req->arena, "Page %u of %zu", page + 1, pages);
    html_tag(h, "<span>");
    html_ctext(h, where ? where : "");
    html_tag(h, "</span>");
    if (page + 1 < pages) {
        snprintf(href, sizeof href, MEMBERS_PATH "?page=%u", page + 2);
        html_tag(h, "<a rel=\"next\"");
        html_attr(h, "href", str_from_cstr(href));
        html_tag(h, ">Next page</a>");
    }
    html_tag(h, "</p></nav>\n");
}

static void invite_form(struct page *pg, enum authz_role me, struct str email)
{
    html_tag(&pg->h, "<h2>Invite someone</h2>\n");
    page_form(pg, MEMBERS_PATH "/invite", "stack");
    page_field(pg, &(struct field){.name = "email",
                                   .label = "E-mail address",
                                   .type = "email",
                                   .autocomplete = "off",
                                   .hint = "We mail them a link that is valid for 7 days.",
                                   .value = email,
                                   .maxlength = ACCOUNTS_MAX_EMAIL,
                                   .required = true});
    html_tag(&pg->h, "<div>");
    role_select(pg, "f-role", "Role", me, AUTHZ_ROLE_MEMBER, false);
    html_tag(&pg->h, "</div>\n");
    page_button(pg, "Send the invitation", false);
    html_tag(&pg->h, "</form>\n");
}

static void invitations_table(struct page *pg, const struct accounts_invitation *v, size_t n,
                              enum authz_role me)
{
    struct html *h = &pg->h;
    html_tag(h, "<h2>Open invitations</h2>\n");
    if (n == 0) {
        page_para(pg, "No invitation is waiting for an answer.");
        return;
    }
    html_tag(h, "<table>\n<caption class=\"skip\">Open invitations</caption>\n<thead><tr>"
                "<th scope=\"col\">Address</th><th scope=\"col\">Role</th>"
                "<th scope=\"col\">Expires</th>"
                "<th scope=\"col\"><span class=\"skip\">Action</span></th></tr></thead>\n"
                "<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        char expires[PAGE_TIME_LEN], action[MEMBERS_ACTION_CAP];
        page_time(expires, v[i].expires_at);
        html_tag(h, "<tr><td>");
        html_ctext(h, v[i].email);
        html_tag(h, "</td><td>");
        html_ctext(h, authz_role_title(v[i].role));
        html_tag(h, "</td><td>");
        html_ctext(h, expires);
        html_tag(h, "</td><td>");
        if (v[i].role <= me) {
            snprintf(action, sizeof action, MEMBERS_PATH "/invitations/%s/revoke", v[i].id);
            char *label = arena_printf(pg->req->arena, "Revoke the invitation of %s", v[i].email);
            page_form(pg, action, NULL);
            named_button(pg, "Revoke", label);
            html_tag(h, "</form>");
        }
        html_tag(h, "</td></tr>\n");
    }
    html_tag(h, "</tbody>\n</table>\n");
}

/* The page, with problem (may be NULL) or a notice from ?done=, and the invite form's email. */
static enum err members_page(struct http_request *req, struct http_response *resp, int status,
                             const char *problem, struct str email)
{
    unsigned page = 0;
    if (api_members_page_of(req->query, &page) != ERR_OK) /* as strict as the JSON API's */
        return http_fail_public(req, ERR_NOT_FOUND, "not_found", "There is no such page.");
    struct accounts_member *m = arena_calloc(req->arena, ACCOUNTS_MEMBERS_PAGE, sizeof *m);
    struct accounts_invitation *v =
        arena_calloc(req->arena, ACCOUNTS_MAX_OPEN_INVITATIONS, sizeof *v);
    if (!m || !v)
        return ERR_LIMIT;
    size_t n = 0, total = 0, nv = 0;
    const struct tenant_ctx *t = &req->principal.user.tenant;
    enum err e = accounts_members_list(req->app->accounts, t, page, m, &n, &total);
    if (!e)
        e = accounts_invitations_list(req->app->accounts, t, v, &nv);
    if (e)
        return http_fail(req, e, "members page: %s", err_name(e));
    if (page > 0 && n == 0)
        return http_fail_public(req, ERR_NOT_FOUND, "not_found", "There is no such page.");

    enum authz_role me = viewer_role(req);
    struct page pg;
    page_open(&pg, req, resp, "Members");
    page_para(&pg, "Everyone in your organization, with their role. You can invite people and "
                   "change or remove members up to your own role.");
    if (problem) {
        page_problem(&pg, problem);
    } else {
        char text[MEMBERS_MAX_QUERY + 1];
        query_value(req, "done", text, sizeof text);
        for (size_t i = 0; i < sizeof notices / sizeof notices[0]; i++)
            if (strcmp(text, notices[i].key) == 0)
                page_notice(&pg, notices[i].text);
    }
    members_table(&pg, m, n, me);
    pager(&pg, page, total);
    invite_form(&pg, me, email);
    invitations_table(&pg, v, nv, me);
    return page_send(&pg, status);
}

enum err console_members_page(struct http_request *req, struct http_response *resp)
{
    return members_page(req, resp, 200, NULL, STR_NULL);
}

/* A refusal the actions recorded (400, 403, 409): the page again, saying why. */
static bool shown_on_page(enum err e)
{
    return e == ERR_INVALID || e == ERR_LIMIT || e == ERR_FORBIDDEN || e == ERR_CONFLICT;
}

static enum err refused_page(struct http_request *req, struct http_response *resp, enum err e,
                             struct str email)
{
    const char *msg = req->fail_message ? req->fail_message : err_public_message(e);
    int status = err_http_status(e == ERR_LIMIT ? ERR_INVALID : e);
    /* the page itself must render: forget the refusal, keep its words */
    req->fail_code = NULL;
    req->fail_message = NULL;
    return members_page(req, resp, status, msg, email);
}

/* A form field into out (capped one past its limit); ERR_INVALID (recorded) when malformed. */
static enum err form_field(struct http_request *req, const char *name, struct buf *out)
{
    enum err e = page_form_value(req->body, name, out);
    if (e == ERR_NOT_FOUND || e == ERR_LIMIT)
        return ERR_OK; /* absent or too long: the core names the problem */
    if (e)
        return http_fail_public(req, ERR_INVALID, "invalid_form", "The form is not acceptable.");
    return ERR_OK;
}

static struct str val(const struct buf *b)
{
    return b->len ? str_from(buf_cstr(b), b->len) : STR_NULL;
}

enum err console_member_invite(struct http_request *req, struct http_response *resp)
{
    struct buf email = BUF_INIT(ACCOUNTS_MAX_EMAIL + 2), role = BUF_INIT(MEMBERS_MAX_ROLE + 2);
    enum err e = form_field(req, "email", &email);
    if (!e)
        e = form_field(req, "role", &role);
    struct accounts_invitation_created out;
    if (!e && !email.len)
        e = http_fail_public(req, ERR_INVALID, "validation_failed",
                             "The invitation was not sent: an address is required.");
    if (!e)
        e = members_do_invite(req, val(&email), role.len ? val(&role) : str_from_cstr(""), &out);
    if (!e)
        e = page_redirect(req, resp, MEMBERS_PATH "?done=invited");
    else if (shown_on_page(e))
        e = refused_page(req, resp, e, val(&email));
    crypto_wipe(&out, sizeof out);
    buf_release(&email);
    buf_release(&role);
    return e;
}

enum err console_member_role(struct http_request *req, struct http_response *resp)
{
    struct buf role = BUF_INIT(MEMBERS_MAX_ROLE + 2);
    enum err e = form_field(req, "role", &role);
    if (!e)
        e = members_do_set_role(req, http_param(req, "id"), val(&role));
    buf_release(&role);
    if (!e)
        return page_redirect(req, resp, MEMBERS_PATH "?done=role");
    return shown_on_page(e) ? refused_page(req, resp, e, STR_NULL) : e;
}

enum err console_member_remove(struct http_request *req, struct http_response *resp)
{
    bool self = false;
    enum err e = members_do_remove(req, resp, http_param(req, "id"), &self);
    if (!e)
        return page_redirect(req, resp, self ? "/login" : MEMBERS_PATH "?done=removed");
    return shown_on_page(e) ? refused_page(req, resp, e, STR_NULL) : e;
}

enum err console_invitation_revoke(struct http_request *req, struct http_response *resp)
{
    enum err e = members_do_revoke(req, http_param(req, "id"));
    if (!e)
        return page_redirect(req, resp, MEMBERS_PATH "?done=revoked");
    return shown_on_page(e) ? refused_page(req, resp, e, STR_NULL) : e;
}

/* ---- the invitee's page -------------------------------------------------------------- */

static enum err invalid_invitation(struct http_request *req, struct http_response *resp)
{
    struct page pg;
    page_open(&pg, req, resp, "Join shiplog");
    page_problem(&pg, "This invitation link is not valid: it may have expired, been used or been "
                      "revoked. Ask whoever invited you for a new one.");
    return page_send(&pg, 404);
}

/* The form that accepts: what the invitation offers, the address, a new password. */
static enum err accept_form(struct http_request *req, struct http_response *resp, int status,
                            const char *problem, struct str token,
                            const struct accounts_invitation_info *info)
{
    struct page pg;
    page_open(&pg, req, resp, "Join shiplog");
    char *offer =
        arena_printf(req->arena, "You are invited to join %s as %s.",
                     info->org[0] ? info->org : "an organization", authz_role_title(info->role));
    page_para(&pg, offer ? offer : "You are invited to join an organization.");
    char expires[PAGE_TIME_LEN];
    page_time(expires, info->expires_at);
    char *until = arena_printf(req->arena, "The invitation is valid until %s.", expires);
    page_para(&pg, until ? until : "");
    if (problem)
        page_problem(&pg, problem);
    page_form(&pg, "/invite", "stack");
    page_hidden(&pg, "token", token);
    /* the address, read-only, so a password manager files the new password under it */
    html_tag(&pg.h, "<div><label for=\"f-username\">E-mail address</label><input "
                    "id=\"f-username\" name=\"username\" type=\"email\" "
                    "autocomplete=\"username\" readonly");
    html_attr(&pg.h, "value", str_from_cstr(info->email));
    html_tag(&pg.h, "></div>\n");
    page_field(&pg, &(struct field){.name = "password",
                                    .label = "Choose a password",
                                    .type = "password",
                                    .autocomplete = "new-password",
                                    .hint = "12 to 128 characters. A passphrase of a few "
                                            "unrelated words works well.",
                                    .minlength = PASSWORD_MIN_CHARS,
                                    .maxlength = PASSWORD_MAX_CHARS,
                                    .required = true});
    page_button(&pg, "Accept and sign in", false);
    html_tag(&pg.h, "</form>\n");
    return page_send(&pg, status);
}

enum err console_invite_page(struct http_request *req, struct http_response *resp)
{
    struct str token = page_token(req, req->query);
    if (!token.ptr) {
        struct page pg;
        page_open(&pg, req, resp, "Join shiplog");
        page_para(&pg, "Open the link from your invitation mail: it brings you back here to "
                       "choose a password.");
        return page_send(&pg, 200);
    }
    struct accounts_invitation_info info;
    enum err e = accounts_invitation_peek(req->app->accounts, token, &info);
    if (e == ERR_NOT_FOUND || e == ERR_LIMIT)
        return invalid_invitation(req, resp);
    if (e)
        return http_fail(req, e, "invitation peek: %s", err_name(e));
    return accept_form(req, resp, 200, NULL, token, &info);
}

enum err console_invite_accept(struct http_request *req, struct http_response *resp)
{
    struct str token = page_token(req, req->body);
    struct buf password = BUF_INIT_SECRET(PASSWORD_MAX_INPUT + 2);
    enum err e = page_form_value(req->body, "password", &password);
    bool too_long = e == ERR_LIMIT; /* past what the policy would even look at */
    if (e == ERR_LIMIT || e == ERR_NOT_FOUND)
        e = ERR_OK; /* an empty one: the policy check says what is wrong with it */
    else if (e)
        e = http_fail_public(req, ERR_INVALID, "invalid_form", "The form is not acceptable.");
    struct accounts_invitation_info info;
    memset(&info, 0, sizeof info);
    if (!e && !token.ptr)
        e = ERR_NOT_FOUND;
    if (!e) /* for the form, should it have to be shown again */
        e = accounts_invitation_peek(req->app->accounts, token, &info);
    if (e == ERR_LIMIT)
        e = ERR_NOT_FOUND;
    char sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_session s;
    const char *reason = NULL;
    if (!e && too_long) {
        reason = "too long";
        e = ERR_LIMIT;
    } else if (!e) {
        e = members_do_accept(req, token, str_from(buf_cstr(&password), password.len), sid, &s,
                              &reason);
    }
    buf_wipe(&password);
    buf_release(&password);
    if (e == ERR_NOT_FOUND)
        return invalid_invitation(req, resp);
    if ((e == ERR_INVALID || e == ERR_LIMIT) && reason) {
        char *msg = arena_printf(req->arena, "That password cannot be used: %s.", reason);
        return accept_form(req, resp, 400, msg ? msg : "That password cannot be used.", token,
                           &info);
    }
    if (e == ERR_CONFLICT) {
        char *msg = arena_printf(req->arena,
                                 "The invitation cannot be accepted: %s. Sign in "
                                 "with that account, or ask for an invitation to "
                                 "another address.",
                                 reason ? reason : "the address has an account");
        return accept_form(req, resp, 409, msg ? msg : "The invitation cannot be accepted.", token,
                           &info);
    }
    if (e)
        return e == ERR_INVALID || e == ERR_LIMIT
                   ? e
                   : http_fail(req, e, "invitation accept: %s", err_name(e));
    e = identity_set_session_cookie(req, resp, sid);
    crypto_wipe(sid, sizeof sid);
    return e ? e : page_redirect(req, resp, "/");
}
