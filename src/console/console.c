/* console — the page frame, the stylesheet and failure pages (see console.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "console/console_internal.h"
#include "crypto/hash.h"
#include "http/form.h"

static const char *const form_types[] = {HTTP_FORM_TYPE, NULL};
const struct body_spec CONSOLE_FORM_BODY = {.content_types = form_types,
                                            .max_bytes = CONSOLE_MAX_FORM};

void page_open(struct page *pg, struct http_request *req, struct http_response *resp,
               const char *title)
{
    page_open_cap(pg, req, resp, title, CONSOLE_MAX_PAGE);
}

void page_open_cap(struct page *pg, struct http_request *req, struct http_response *resp,
                   const char *title, size_t cap)
{
    ASSERT(cap >= CONSOLE_MAX_PAGE);
    pg->req = req;
    pg->resp = resp;
    pg->out = (struct buf)BUF_INIT_SECRET(cap); /* forms may echo what was typed */
    html_init(&pg->h, &pg->out);
    if (csrf_token(req, resp, pg->csrf) != ERR_OK)
        pg->h.err = ERR_INTERNAL;
    struct html *h = &pg->h;
    html_tag(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<title>");
    html_ctext(h, title);
    html_tag(h, " · shiplog</title>\n<link rel=\"stylesheet\" href=\"/console.css\">\n"
                "<link rel=\"icon\" type=\"image/svg+xml\" href=\"/favicon.svg\">\n</head>\n"
                "<body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n"
                "<header class=\"top\"><a class=\"brand\" href=\"/\">shiplog</a>\n"
                "<nav aria-label=\"Account\"><ul>\n");
    if (req->principal.authenticated) {
        if (authz_allows(authz_role_parse(str_from_cstr(req->principal.role)), AUTHZ_CONTENT_READ))
            html_tag(h, "<li><a href=\"/drafts\">Changelog</a></li>\n"
                        "<li><a href=\"/activity\">Activity</a></li>\n");
        html_tag(h, "<li><a href=\"/account/sessions\">Sessions</a></li>\n"
                    "<li><a href=\"/account/keys\">API keys</a></li>\n");
        if (authz_allows(authz_role_parse(str_from_cstr(req->principal.role)),
                         AUTHZ_MEMBERS_MANAGE))
            html_tag(h, "<li><a href=\"/members\">Members</a></li>\n");
        if (authz_allows(authz_role_parse(str_from_cstr(req->principal.role)),
                         AUTHZ_INTEGRATIONS_MANAGE))
            html_tag(h, "<li><a href=\"/integrations\">Integrations</a></li>\n");
        html_tag(h, "<li>");
        page_form(pg, "/logout", NULL);
        page_button(pg, "Sign out", true);
        html_tag(h, "</form></li>\n");
    } else {
        html_tag(h, "<li><a href=\"/login\">Sign in</a></li>\n"
                    "<li><a href=\"/signup\">Sign up</a></li>\n");
    }
    html_tag(h, "</ul></nav></header>\n<main id=\"main\">\n<h1>");
    html_ctext(h, title);
    html_tag(h, "</h1>\n");
}

void page_form(struct page *pg, const char *action, const char *css_class)
{
    struct html *h = &pg->h;
    html_tag(h, "<form method=\"post\"");
    html_attr(h, "action", str_from_cstr(action));
    if (css_class)
        html_attr(h, "class", str_from_cstr(css_class));
    html_tag(h, ">\n");
    page_hidden(pg, CSRF_FIELD, str_from_cstr(pg->csrf));
}

enum err page_form_value(struct str from, const char *name, struct buf *out)
{
    const char *why;
    if (from.len > CONSOLE_MAX_FORM || form_validate(from, &why) != ERR_OK)
        return ERR_INVALID;
    return form_get(from, name, out);
}

struct str page_token(struct http_request *req, struct str from)
{
    struct buf t = BUF_INIT_SECRET(ACCOUNTS_MAX_SECRET_TEXT + 1);
    struct str out = STR_NULL;
    if (page_form_value(from, "token", &t) == ERR_OK && t.len > 0) {
        char *copy = arena_strndup(req->arena, buf_cstr(&t), t.len);
        if (copy)
            out = str_from(copy, t.len);
    }
    buf_wipe(&t);
    buf_release(&t);
    return out;
}

void page_time(char out[PAGE_TIME_LEN], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t <= 0 || !gmtime_r(&tt, &tm) ||
        strftime(out, PAGE_TIME_LEN, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(out, PAGE_TIME_LEN, "-");
}

void page_hidden(struct page *pg, const char *name, struct str value)
{
    struct html *h = &pg->h;
    html_tag(h, "<input type=\"hidden\"");
    html_attr(h, "name", str_from_cstr(name));
    html_attr(h, "value", value);
    html_tag(h, ">\n");
}

void page_field(struct page *pg, const struct field *f)
{
    struct html *h = &pg->h;
    char id[64], hint_id[72];
    snprintf(id, sizeof id, "f-%s", f->name);
    snprintf(hint_id, sizeof hint_id, "%s-hint", id);
    html_tag(h, "<div><label");
    html_attr(h, "for", str_from_cstr(id));
    html_tag(h, ">");
    html_ctext(h, f->label);
    html_tag(h, "</label><input");
    html_attr(h, "id", str_from_cstr(id));
    html_attr(h, "name", str_from_cstr(f->name));
    html_attr(h, "type", str_from_cstr(f->type));
    if (f->autocomplete)
        html_attr(h, "autocomplete", str_from_cstr(f->autocomplete));
    if (f->value.ptr)
        html_attr(h, "value", f->value);
    char num[24];
    if (f->maxlength) {
        snprintf(num, sizeof num, "%zu", f->maxlength);
        html_attr(h, "maxlength", str_from_cstr(num));
    }
    if (f->minlength) {
        snprintf(num, sizeof num, "%zu", f->minlength);
        html_attr(h, "minlength", str_from_cstr(num));
    }
    if (f->hint)
        html_attr(h, "aria-describedby", str_from_cstr(hint_id));
    if (f->required)
        html_tag(h, " required");
    html_tag(h, ">");
    if (f->hint) {
        html_tag(h, "<p class=\"hint\"");
        html_attr(h, "id", str_from_cstr(hint_id));
        html_tag(h, ">");
        html_ctext(h, f->hint);
        html_tag(h, "</p>");
    }
    html_tag(h, "</div>\n");
}

void page_button(struct page *pg, const char *label, bool secondary)
{
    struct html *h = &pg->h;
    if (secondary)
        html_tag(h, "<button type=\"submit\" class=\"secondary\">");
    else
        html_tag(h, "<button type=\"submit\">");
    html_ctext(h, label);
    html_tag(h, "</button>\n");
}

void page_para(struct page *pg, const char *text)
{
    html_tag(&pg->h, "<p>");
    html_ctext(&pg->h, text);
    html_tag(&pg->h, "</p>\n");
}

void page_notice(struct page *pg, const char *text)
{
    html_tag(&pg->h, "<p class=\"notice\" role=\"status\">");
    html_ctext(&pg->h, text);
    html_tag(&pg->h, "</p>\n");
}

void page_problem(struct page *pg, const char *text)
{
    html_tag(&pg->h, "<p class=\"error\" role=\"alert\">");
    html_ctext(&pg->h, text);
    html_tag(&pg->h, "</p>\n");
}

enum err page_send(struct page *pg, int status)
{
    html_tag(&pg->h, "</main>\n<footer><a href=\"/security\">Security</a> · "
                     "<a href=\"/.well-known/security.txt\">security.txt</a></footer>\n"
                     "</body>\n</html>\n");
    enum err e = html_finish(&pg->h);
    if (!e)
        e = http_resp_body(pg->req, pg->resp, status, "text/html; charset=utf-8",
                           buf_cstr(&pg->out), pg->out.len);
    buf_wipe(&pg->out);
    buf_release(&pg->out);
    return e;
}

enum err page_redirect(struct http_request *req, struct http_response *resp, const char *path)
{
    ASSERT(path[0] == '/' && path[1] != '/'); /* same-site only: never from input */
    enum err e = http_resp_header(req, resp, "Location", path);
    if (!e)
        e = http_resp_body(req, resp, 303, "text/plain; charset=utf-8", "See Other\n", 10);
    return e;
}

enum err console_stylesheet(struct http_request *req, struct http_response *resp)
{
    enum err e = http_resp_header(req, resp, "Cache-Control", "public, max-age=3600");
    if (!e)
        http_resp_static(resp, 200, "text/css; charset=utf-8", console_css, console_css_len);
    return e;
}

/* A ship's wheel would be nicer; a rounded square with an "s" is enough. */
static const char favicon_svg[] =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 32\">"
    "<rect width=\"32\" height=\"32\" rx=\"7\" fill=\"#0b5cad\"/>"
    "<text x=\"16\" y=\"23\" font-family=\"sans-serif\" font-size=\"20\" font-weight=\"700\" "
    "text-anchor=\"middle\" fill=\"#fff\">s</text></svg>\n";

enum err console_favicon(struct http_request *req, struct http_response *resp)
{
    enum err e = http_resp_header(req, resp, "Cache-Control", "public, max-age=86400");
    if (!e)
        http_resp_static(resp, 200, "image/svg+xml", favicon_svg, sizeof favicon_svg - 1);
    return e;
}

/* ---- failures ------------------------------------------------------------------- */

/* A2: the console stays closed until the address is confirmed. */
static enum err unverified_page(struct http_request *req, struct http_response *resp)
{
    struct page pg;
    page_open(&pg, req, resp, "Confirm your e-mail address");
    page_para(&pg, "Your account is ready, but the console opens only once you have confirmed "
                   "your e-mail address. Open the link in the mail we sent you when you signed "
                   "up.");
    page_para(&pg, "No mail? It may be in your spam folder, or we can send a new link.");
    page_form(&pg, "/verify/resend", "stack");
    page_button(&pg, "Send a new link", false);
    html_tag(&pg.h, "</form>\n");
    return page_send(&pg, 403);
}

enum err console_error(struct http_request *req, struct http_response *resp, enum err e)
{
    if (e == ERR_UNAUTHENTICATED)
        return page_redirect(req, resp, "/login");
    if (req->fail_code && strcmp(req->fail_code, "email_unverified") == 0)
        return unverified_page(req, resp);
    int status = err_http_status(e);
    const char *message = req->fail_message ? req->fail_message : err_public_message(e);
    struct page pg;
    page_open(&pg, req, resp,
              status == 429   ? "Too many attempts"
              : status == 403 ? "Refused"
              : status < 500  ? "That did not work"
                              : "Something went wrong");
    page_problem(&pg, message);
    html_tag(&pg.h, "<p class=\"support\">Support id: <code>");
    html_ctext(&pg.h, req->id);
    html_tag(&pg.h, "</code> · error <code>");
    html_ctext(&pg.h, req->fail_code ? req->fail_code : err_public_code(e));
    html_tag(&pg.h, "</code></p>\n<p class=\"links\"><a href=\"/\">Start again</a></p>\n");
    return page_send(&pg, status);
}
