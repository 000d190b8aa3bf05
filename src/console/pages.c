/* pages — the console's front-door pages (see console.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "console/console_internal.h"
#include "crypto/hash.h"
#include "http/form.h"
#include "http/headers.h"
#include "outbox/outbox.h"

#define INVALID_LINK "This link or code is not valid: it may have expired or been used already."
#define MAILED       "If an account uses this address, a mail is on its way. Check your mailbox."
#define HOME         "/account/sessions"

static const struct field email_field = {.name = "email",
                                         .label = "E-mail address",
                                         .type = "email",
                                         .autocomplete = "email",
                                         .maxlength = ACCOUNTS_MAX_EMAIL,
                                         .required = true};

/*
 * The fields of a console action, with room for one byte past each field's
 * own limit, so the core, which owns the limits, is the one to refuse it.
 */
struct inputs {
    struct buf email, password, org, token, code;
};

static void inputs_init(struct inputs *in)
{
    in->email = (struct buf)BUF_INIT(ACCOUNTS_MAX_EMAIL + 2);
    in->password = (struct buf)BUF_INIT_SECRET(PASSWORD_MAX_INPUT + 2);
    in->org = (struct buf)BUF_INIT(ACCOUNTS_MAX_ORG_NAME + 2);
    in->token = (struct buf)BUF_INIT_SECRET(ACCOUNTS_MAX_SECRET_TEXT + 2);
    in->code = (struct buf)BUF_INIT_SECRET(TOKEN_CODE_LEN + 2);
}

static void inputs_release(struct inputs *in)
{
    buf_wipe(&in->password);
    buf_wipe(&in->token);
    buf_wipe(&in->code);
    buf_release(&in->email);
    buf_release(&in->password);
    buf_release(&in->org);
    buf_release(&in->token);
    buf_release(&in->code);
}

/* Reads the named fields of the body; a missing one stays absent (STR_NULL in val()). */
static enum err inputs_read(struct http_request *req, struct inputs *in, const char *const *names)
{
    for (; *names; names++) {
        struct buf *b = strcmp(*names, "email") == 0          ? &in->email
                        : strcmp(*names, "password") == 0     ? &in->password
                        : strcmp(*names, "organization") == 0 ? &in->org
                        : strcmp(*names, "token") == 0        ? &in->token
                                                              : &in->code;
        enum err e = page_form_value(req->body, *names, b);
        if (e == ERR_LIMIT)
            return http_fail_public(req, ERR_INVALID, "validation_failed",
                                    "A field of the form is longer than allowed.");
        if (e && e != ERR_NOT_FOUND)
            return http_fail_public(req, ERR_INVALID, "invalid_form",
                                    "The form is not acceptable.");
    }
    return ERR_OK;
}

/* A read field's value; STR_NULL when it was absent or empty. */
static struct str val(const struct buf *b)
{
    return b->len ? str_from(buf_cstr(b), b->len) : STR_NULL;
}

/* Signs the browser in: the cookie, then on to the console. */
static enum err signed_in(struct http_request *req, struct http_response *resp,
                          char sid[ACCOUNTS_SECRET_LEN + 1])
{
    enum err e = identity_set_session_cookie(req, resp, sid);
    crypto_wipe(sid, ACCOUNTS_SECRET_LEN + 1);
    return e ? e : page_redirect(req, resp, HOME);
}

static enum err invalid_link_page(struct http_request *req, struct http_response *resp,
                                  const char *title, const char *again_href, const char *again_text)
{
    struct page pg;
    page_open(&pg, req, resp, title);
    page_problem(&pg, INVALID_LINK);
    html_tag(&pg.h, "<p><a");
    html_attr(&pg.h, "href", str_from_cstr(again_href));
    html_tag(&pg.h, ">");
    html_ctext(&pg.h, again_text);
    html_tag(&pg.h, "</a></p>\n");
    return page_send(&pg, 400);
}

enum err console_home(struct http_request *req, struct http_response *resp)
{
    return page_redirect(req, resp, HOME);
}

/* A field for choosing a password (the browser may offer to generate one). */
static void new_password_field(struct page *pg, const char *label, const char *hint)
{
    page_field(pg, &(struct field){.name = "password",
                                   .label = label,
                                   .type = "password",
                                   .autocomplete = "new-password",
                                   .hint = hint,
                                   .minlength = PASSWORD_MIN_CHARS,
                                   .maxlength = PASSWORD_MAX_CHARS,
                                   .required = true});
}

/* ---- sign-up ---------------------------------------------------------------------- */

static enum err signup_form(struct http_request *req, struct http_response *resp, int status,
                            const char *problem, struct str org, struct str email)
{
    struct page pg;
    page_open(&pg, req, resp, "Create your shiplog account");
    page_para(&pg, "Sign up with your work address. Your organization gets its own workspace, "
                   "and you become its administrator.");
    if (problem)
        page_problem(&pg, problem);
    page_form(&pg, "/signup", "stack");
    page_field(&pg, &(struct field){.name = "organization",
                                    .label = "Organization",
                                    .type = "text",
                                    .autocomplete = "organization",
                                    .value = org,
                                    .maxlength = ACCOUNTS_MAX_ORG_NAME,
                                    .required = true});
    struct field ef = email_field;
    ef.value = email;
    page_field(&pg, &ef);
    new_password_field(&pg, "Password",
                       "12 to 128 characters. A passphrase of a few unrelated words works well.");
    page_button(&pg, "Create account", false);
    html_tag(&pg.h, "</form>\n<p>Already have an account? <a href=\"/login\">Sign in</a>.</p>\n");
    return page_send(&pg, status);
}

enum err console_signup_page(struct http_request *req, struct http_response *resp)
{
    return signup_form(req, resp, 200, NULL, STR_NULL, STR_NULL);
}

enum err console_signup(struct http_request *req, struct http_response *resp)
{
    static const char *const names[] = {"organization", "email", "password", NULL};
    struct inputs in;
    inputs_init(&in);
    enum err e = inputs_read(req, &in, names);
    const char *reason = NULL;
    if (!e)
        e = identity_do_signup(req, val(&in.email), val(&in.password), val(&in.org), &reason);
    if (e == ERR_INVALID || e == ERR_LIMIT) {
        char *msg = arena_printf(req->arena, "We could not create the account: %s.",
                                 reason ? reason : "a value is not acceptable");
        e = reason ? signup_form(req, resp, 400, msg ? msg : "Not accepted.", val(&in.org),
                                 val(&in.email))
                   : e;
    } else if (!e) {
        struct page pg;
        page_open(&pg, req, resp, "Check your mailbox");
        page_notice(&pg, "We sent a link to confirm your e-mail address. It is valid for 24 "
                         "hours.");
        page_para(&pg, "Open it on this device to finish. Then sign in.");
        html_tag(&pg.h, "<p><a href=\"/login\">Sign in</a></p>\n");
        e = page_send(&pg, 200);
    }
    inputs_release(&in);
    return e;
}

/* ---- e-mail verification ----------------------------------------------------------- */

enum err console_verify_page(struct http_request *req, struct http_response *resp)
{
    struct str token = page_token(req, req->query);
    struct page pg;
    page_open(&pg, req, resp, "Confirm your e-mail address");
    if (token.ptr) {
        page_para(&pg, "Confirm that this address is yours to finish setting up your account.");
        page_form(&pg, "/verify", "stack");
        page_hidden(&pg, "token", token);
        page_button(&pg, "Confirm my address", false);
        html_tag(&pg.h, "</form>\n");
    } else {
        page_para(&pg, "Open the link from the mail we sent you: it brings you back here to "
                       "confirm.");
    }
    return page_send(&pg, 200);
}

enum err console_verify(struct http_request *req, struct http_response *resp)
{
    static const char *const names[] = {"token", NULL};
    struct inputs in;
    inputs_init(&in);
    enum err e = inputs_read(req, &in, names);
    if (!e)
        e = identity_do_verify(req, val(&in.token));
    inputs_release(&in);
    if (e == ERR_NOT_FOUND)
        return invalid_link_page(req, resp, "Confirm your e-mail address", "/login",
                                 "Sign in to ask for a new link");
    if (e)
        return e == ERR_INVALID ? e : http_fail(req, e, "verify: %s", err_name(e));
    struct page pg;
    page_open(&pg, req, resp, "Address confirmed");
    page_notice(&pg, "Thank you: your e-mail address is confirmed.");
    html_tag(&pg.h, "<p><a href=\"/\">Continue to shiplog</a></p>\n");
    return page_send(&pg, 200);
}

enum err console_verify_resend(struct http_request *req, struct http_response *resp)
{
    bool sent;
    enum err e = identity_do_verify_resend(req, &sent);
    if (e)
        return e;
    struct page pg;
    page_open(&pg, req, resp, "Check your mailbox");
    page_notice(&pg, sent ? "We sent a new link to confirm your address. It is valid for 24 hours."
                          : "Your address is confirmed already.");
    return page_send(&pg, 200);
}

/* ---- sign-in and sign-out ------------------------------------------------------------ */

static enum err login_form(struct http_request *req, struct http_response *resp, int status,
                           const char *problem, struct str email)
{
    struct page pg;
    page_open(&pg, req, resp, "Sign in to shiplog");
    if (problem)
        page_problem(&pg, problem);
    page_form(&pg, "/login", "stack");
    struct field ef = email_field;
    ef.value = email;
    page_field(&pg, &ef);
    page_field(&pg, &(struct field){.name = "password",
                                    .label = "Password",
                                    .type = "password",
                                    .autocomplete = "current-password",
                                    .maxlength = PASSWORD_MAX_CHARS,
                                    .required = true});
    page_button(&pg, "Sign in", false);
    html_tag(&pg.h, "</form>\n<p class=\"links\"><a href=\"/magic\">E-mail me a sign-in link</a>"
                    "<a href=\"/reset\">Forgot your password?</a>"
                    "<a href=\"/signup\">Create an account</a></p>\n");
    return page_send(&pg, status);
}

enum err console_login_page(struct http_request *req, struct http_response *resp)
{
    return login_form(req, resp, 200, NULL, STR_NULL);
}

enum err console_login(struct http_request *req, struct http_response *resp)
{
    static const char *const names[] = {"email", "password", NULL};
    struct inputs in;
    inputs_init(&in);
    enum err e = inputs_read(req, &in, names);
    char sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_session s;
    if (!e)
        e = identity_do_signin(req, val(&in.email), val(&in.password), sid, &s);
    if (e == ERR_UNAUTHENTICATED)
        e = login_form(req, resp, 401, "The e-mail address or the password is not correct.",
                       val(&in.email));
    else if (!e)
        e = signed_in(req, resp, sid);
    inputs_release(&in);
    return e;
}

enum err console_logout_page(struct http_request *req, struct http_response *resp)
{
    struct page pg;
    page_open(&pg, req, resp, "Sign out");
    page_para(&pg, "Sign out of shiplog in this browser.");
    page_form(&pg, "/logout", "stack");
    page_button(&pg, "Sign out", false);
    html_tag(&pg.h, "</form>\n");
    return page_send(&pg, 200);
}

enum err console_logout(struct http_request *req, struct http_response *resp)
{
    enum err e = identity_do_signout(req, resp);
    return e ? e : page_redirect(req, resp, "/login");
}

/* ---- magic links ------------------------------------------------------------------------ */

static void code_form(struct page *pg, struct str email)
{
    html_tag(&pg->h, "<h2>Have a code?</h2>\n");
    page_form(pg, "/magic/consume", "stack");
    struct field ef = email_field;
    ef.value = email;
    page_field(pg, &ef);
    page_field(pg, &(struct field){.name = "code",
                                   .label = "Code from the mail",
                                   .type = "text",
                                   .autocomplete = "one-time-code",
                                   .hint = "8 characters, letters and digits.",
                                   .maxlength = TOKEN_CODE_LEN,
                                   .required = true});
    page_button(pg, "Sign in with the code", false);
    html_tag(&pg->h, "</form>\n");
}

enum err console_magic_page(struct http_request *req, struct http_response *resp)
{
    struct str token = page_token(req, req->query);
    struct page pg;
    page_open(&pg, req, resp, "Sign in with a link");
    if (token.ptr) {
        page_para(&pg, "Continue to sign in to shiplog in this browser.");
        page_form(&pg, "/magic/consume", "stack");
        page_hidden(&pg, "token", token);
        page_button(&pg, "Sign in", false);
        html_tag(&pg.h, "</form>\n");
        return page_send(&pg, 200);
    }
    page_para(&pg, "We e-mail you a link and a code that sign you in once, within 15 minutes.");
    page_form(&pg, "/magic", "stack");
    page_field(&pg, &email_field);
    page_button(&pg, "E-mail me a link", false);
    html_tag(&pg.h, "</form>\n");
    code_form(&pg, STR_NULL);
    return page_send(&pg, 200);
}

/* Reset and magic-link requests: one answer whether or not the address has an account. */
static enum err mail_request(struct http_request *req, struct http_response *resp,
                             enum rl_bucket bucket)
{
    static const char *const names[] = {"email", NULL};
    struct inputs in;
    inputs_init(&in);
    enum err e = inputs_read(req, &in, names);
    if (!e)
        e = identity_do_mail_request(req, bucket, val(&in.email));
    if (!e) {
        struct page pg;
        page_open(&pg, req, resp, "Check your mailbox");
        page_notice(&pg, MAILED);
        if (bucket == RL_MAGIC_LINK)
            code_form(&pg, val(&in.email));
        e = page_send(&pg, 200);
    }
    inputs_release(&in);
    return e;
}

enum err console_magic_request(struct http_request *req, struct http_response *resp)
{
    return mail_request(req, resp, RL_MAGIC_LINK);
}

enum err console_magic_consume(struct http_request *req, struct http_response *resp)
{
    static const char *const names[] = {"token", "email", "code", NULL};
    struct inputs in;
    inputs_init(&in);
    enum err e = inputs_read(req, &in, names);
    struct str token = val(&in.token), email = val(&in.email), code = val(&in.code);
    if (!e && !token.ptr && (!email.ptr || !code.ptr))
        e = ERR_NOT_FOUND;
    char sid[ACCOUNTS_SECRET_LEN + 1];
    struct accounts_session s;
    if (!e)
        e = identity_do_magic_consume(req, token, token.ptr ? STR_NULL : email,
                                      token.ptr ? STR_NULL : code, sid, &s);
    inputs_release(&in);
    if (e == ERR_NOT_FOUND)
        return invalid_link_page(req, resp, "Sign in with a link", "/magic", "Ask for a new link");
    if (e)
        return e;
    return signed_in(req, resp, sid);
}

/* ---- password reset -------------------------------------------------------------------- */

static enum err new_password_form(struct http_request *req, struct http_response *resp, int status,
                                  const char *problem, struct str token)
{
    struct page pg;
    page_open(&pg, req, resp, "Choose a new password");
    if (problem)
        page_problem(&pg, problem);
    page_form(&pg, "/reset/confirm", "stack");
    page_hidden(&pg, "token", token);
    new_password_field(&pg, "New password",
                       "12 to 128 characters. Every session is signed out when it changes.");
    page_button(&pg, "Set the new password", false);
    html_tag(&pg.h, "</form>\n");
    return page_send(&pg, status);
}

enum err console_reset_page(struct http_request *req, struct http_response *resp)
{
    struct str token = page_token(req, req->query);
    if (token.ptr)
        return new_password_form(req, resp, 200, NULL, token);
    struct page pg;
    page_open(&pg, req, resp, "Reset your password");
    page_para(&pg, "We e-mail you a link to choose a new password. It is valid for one hour.");
    page_form(&pg, "/reset", "stack");
    page_field(&pg, &email_field);
    page_button(&pg, "E-mail me a link", false);
    html_tag(&pg.h, "</form>\n");
    return page_send(&pg, 200);
}

enum err console_reset_request(struct http_request *req, struct http_response *resp)
{
    return mail_request(req, resp, RL_PASSWORD_RESET);
}

enum err console_reset_confirm(struct http_request *req, struct http_response *resp)
{
    static const char *const names[] = {"token", "password", NULL};
    struct inputs in;
    inputs_init(&in);
    enum err e = inputs_read(req, &in, names);
    const char *reason = NULL;
    if (!e)
        e = identity_do_reset(req, val(&in.token), val(&in.password), &reason);
    if (e == ERR_NOT_FOUND) {
        e = invalid_link_page(req, resp, "Choose a new password", "/reset", "Ask for a new link");
    } else if ((e == ERR_INVALID || e == ERR_LIMIT) && reason) {
        char *msg = arena_printf(req->arena, "That password cannot be used: %s.", reason);
        e = new_password_form(req, resp, 400, msg ? msg : "That password cannot be used.",
                              val(&in.token));
    } else if (!e && (e = identity_set_session_cookie(req, resp, NULL)) == ERR_OK) {
        struct page pg;
        page_open(&pg, req, resp, "Password changed");
        page_notice(&pg, "Your password was changed, and every session was signed out.");
        html_tag(&pg.h, "<p><a href=\"/login\">Sign in</a></p>\n");
        e = page_send(&pg, 200);
    }
    inputs_release(&in);
    return e;
}

/* ---- sessions ------------------------------------------------------------------------------ */

enum err console_sessions_page(struct http_request *req, struct http_response *resp)
{
    struct accounts_session_info *list =
        arena_calloc(req->arena, ACCOUNTS_MAX_SESSIONS, sizeof *list);
    if (!list)
        return ERR_LIMIT;
    size_t n = 0;
    enum err e = accounts_sessions_list(req->app->accounts, &req->principal.user, list,
                                        ACCOUNTS_MAX_SESSIONS, &n);
    if (e)
        return http_fail(req, e, "sessions list: %s", err_name(e));
    struct page pg;
    page_open(&pg, req, resp, "Your sessions");
    page_para(&pg, "Every browser and device signed in to your account. Sign out any you do not "
                   "recognize.");
    html_tag(&pg.h, "<table>\n<caption class=\"skip\">Signed-in sessions</caption>\n<thead><tr>"
                    "<th scope=\"col\">Signed in</th><th scope=\"col\">Last active</th>"
                    "<th scope=\"col\">Address</th><th scope=\"col\">Browser</th>"
                    "<th scope=\"col\"><span class=\"skip\">Action</span></th></tr></thead>\n"
                    "<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        char created[PAGE_TIME_LEN], seen[PAGE_TIME_LEN], action[96];
        page_time(created, list[i].created_at);
        page_time(seen, list[i].last_seen_at);
        html_tag(&pg.h, "<tr><td>");
        html_ctext(&pg.h, created);
        html_tag(&pg.h, "</td><td>");
        html_ctext(&pg.h, seen);
        html_tag(&pg.h, "</td><td>");
        html_ctext(&pg.h, list[i].client_ip);
        html_tag(&pg.h, "</td><td>");
        html_ctext(&pg.h, list[i].user_agent[0] ? list[i].user_agent : "unknown");
        html_tag(&pg.h, "</td><td>");
        if (strcmp(list[i].id_hash, req->principal.session_handle) == 0) {
            html_tag(&pg.h, "This browser");
        } else {
            snprintf(action, sizeof action, "/account/sessions/%s/revoke", list[i].id_hash);
            page_form(&pg, action, NULL);
            page_button(&pg, "Sign out", true);
            html_tag(&pg.h, "</form>");
        }
        html_tag(&pg.h, "</td></tr>\n");
    }
    html_tag(&pg.h, "</tbody>\n</table>\n");
    page_form(&pg, "/account/sessions/revoke-all", "stack");
    page_button(&pg, "Sign out everywhere", false);
    html_tag(&pg.h, "</form>\n");
    return page_send(&pg, 200);
}

enum err console_session_revoke(struct http_request *req, struct http_response *resp)
{
    bool current;
    enum err e = identity_do_session_revoke(req, resp, &current);
    return e ? e : page_redirect(req, resp, current ? "/login" : HOME);
}

enum err console_revoke_all(struct http_request *req, struct http_response *resp)
{
    enum err e = identity_do_signout_everywhere(req, resp, NULL);
    return e ? e : page_redirect(req, resp, "/login");
}
