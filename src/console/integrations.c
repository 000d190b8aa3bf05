/*
 * integrations — the console page of integrations (I1) for those holding
 * integrations.manage: the organization's integrations with their webhook
 * URLs, a form to create one, and per integration a button to rotate its
 * secret and one to delete it. A new secret is shown once, on the page the
 * form's POST answers (Cache-Control: no-store, as every console page), and
 * never again: the list shows its last characters only (C3).
 *
 * The rules and their refusals are the core's, through the actions the
 * JSON API shares (api/integrations.c, integrations_do_*); this file only
 * reads forms and writes pages.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "console/console_internal.h"

#define INTEGRATIONS_PAGE_PATH "/integrations"
#define FIELD_CAP              32 /* bytes of a provider or choice field */

static const struct {
    const char *value, *label;
} providers[] = {
    {"github", "GitHub"},
    {"gitlab", "GitLab"},
    {"bitbucket", "Bitbucket Cloud"},
    {"bitbucket-server", "Bitbucket Data Center"},
    {"azure-devops", "Azure DevOps"},
};

static const char *provider_label(enum ingest_provider p)
{
    const char *name = ingest_provider_name(p);
    for (size_t i = 0; name && i < sizeof providers / sizeof providers[0]; i++)
        if (strcmp(providers[i].value, name) == 0)
            return providers[i].label;
    return "?";
}

/* A small form posting to /integrations/<id>/<verb> with one button. */
static void row_button(struct page *pg, const struct integration *in, const char *verb,
                       const char *label)
{
    char action[96];
    snprintf(action, sizeof action, INTEGRATIONS_PAGE_PATH "/%s/%s", in->id, verb);
    page_form(pg, action, NULL);
    html_tag(&pg->h, "<button type=\"submit\" class=\"secondary\"");
    char *aria = arena_printf(pg->req->arena, "%s: %s", label, in->name);
    html_attr(&pg->h, "aria-label", str_from_cstr(aria ? aria : label));
    html_tag(&pg->h, ">");
    html_ctext(&pg->h, label);
    html_tag(&pg->h, "</button>\n</form>");
}

static void list_table(struct page *pg, const struct integration *list, size_t n)
{
    struct html *h = &pg->h;
    if (n == 0) {
        page_para(pg, "No integrations yet.");
        return;
    }
    html_tag(h, "<table>\n<caption class=\"skip\">Integrations</caption>\n<thead><tr>"
                "<th scope=\"col\">Name</th><th scope=\"col\">Provider</th>"
                "<th scope=\"col\">Webhook URL</th><th scope=\"col\">Repositories</th>"
                "<th scope=\"col\">Secret</th><th scope=\"col\">Created</th>"
                "<th scope=\"col\"><span class=\"skip\">Actions</span></th></tr></thead>\n"
                "<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const struct integration *in = &list[i];
        char created[PAGE_TIME_LEN], until[PAGE_TIME_LEN];
        page_time(created, in->created_at);
        html_tag(h, "<tr><td>");
        html_ctext(h, in->name);
        html_tag(h, "</td><td>");
        html_ctext(h, provider_label(in->provider));
        html_tag(h, "</td><td><code>");
        html_ctext(h, integrations_webhook_url(pg->req, in));
        html_tag(h, "</code></td><td><code>");
        html_ctext(h, in->repository_scope);
        html_tag(h, "</code></td><td>…<code>");
        html_ctext(h, in->secret_hint);
        html_tag(h, "</code>");
        if (in->previous_valid_until) {
            page_time(until, in->previous_valid_until);
            html_tag(h, " (the previous one until ");
            html_ctext(h, until);
            html_tag(h, ")");
        }
        html_tag(h, "</td><td>");
        html_ctext(h, created);
        html_tag(h, "</td><td>");
        row_button(pg, in, "rotate", "Rotate secret");
        row_button(pg, in, "delete", "Delete");
        html_tag(h, "</td></tr>\n");
    }
    html_tag(h, "</tbody>\n</table>\n");
}

static void create_form(struct page *pg)
{
    struct html *h = &pg->h;
    html_tag(h, "<h2>Add an integration</h2>\n");
    page_form(pg, INTEGRATIONS_PAGE_PATH, "stack");
    page_field(pg, &(struct field){.name = "name",
                                   .label = "Name",
                                   .type = "text",
                                   .autocomplete = "off",
                                   .hint = "What people call it, e.g. the organization's name.",
                                   .maxlength = INTEGRATIONS_MAX_NAME,
                                   .required = true});
    html_tag(h, "<div><label for=\"f-provider\">Provider</label>"
                "<select id=\"f-provider\" name=\"provider\">\n");
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++) {
        html_tag(h, "<option");
        html_attr(h, "value", str_from_cstr(providers[i].value));
        html_tag(h, ">");
        html_ctext(h, providers[i].label);
        html_tag(h, "</option>\n");
    }
    html_tag(h, "</select></div>\n");
    page_field(pg, &(struct field){.name = "repository_scope",
                                   .label = "Repositories",
                                   .type = "text",
                                   .autocomplete = "off",
                                   .hint = "Globs separated by commas, e.g. acme/* or * for all.",
                                   .value = STR_LIT(INTEGRATIONS_DEFAULT_SCOPE),
                                   .maxlength = INTEGRATIONS_MAX_SCOPE,
                                   .required = true});
    page_button(pg, "Add integration", false);
    html_tag(h, "</form>\n");
}

/* The page: problem (may be NULL) above the list, with status. */
static enum err list_page(struct http_request *req, struct http_response *resp, int status,
                          const char *problem)
{
    struct integration *list = arena_calloc(req->arena, INTEGRATIONS_PAGE, sizeof *list);
    if (!list)
        return ERR_LIMIT;
    size_t n = 0, total = 0;
    enum err e = ERR_OK;
    /* both pages of a full organization, one after the other */
    struct integration *more = NULL;
    size_t n2 = 0;
    e = integrations_list(req->app->storage, &req->principal.user.tenant, 0, (int64_t)time(NULL),
                          list, &n, &total);
    if (!e && total > n) {
        more = arena_calloc(req->arena, INTEGRATIONS_PAGE, sizeof *more);
        e = more ? integrations_list(req->app->storage, &req->principal.user.tenant, 1,
                                     (int64_t)time(NULL), more, &n2, &total)
                 : ERR_LIMIT;
    }
    if (e)
        return http_fail(req, e, "integrations list: %s", err_name(e));
    struct page pg;
    page_open(&pg, req, resp, "Integrations");
    page_para(&pg, "Point a provider's webhooks at an integration's URL and give it the "
                   "integration's secret. A secret is shown once, when it is made; rotating makes "
                   "a new one and keeps the old one valid for 24 hours.");
    if (problem)
        page_problem(&pg, problem);
    list_table(&pg, list, n);
    if (n2)
        list_table(&pg, more, n2);
    create_form(&pg);
    return page_send(&pg, status);
}

enum err console_integrations_page(struct http_request *req, struct http_response *resp)
{
    return list_page(req, resp, 200, NULL);
}

/* The page showing a new secret, once. */
static enum err secret_page(struct http_request *req, struct http_response *resp, int status,
                            const char *title, const struct integration *in,
                            struct integration_secret *secret)
{
    struct page pg;
    page_open(&pg, req, resp, title);
    page_notice(&pg, "Copy the secret now and enter it in the provider's webhook settings: it is "
                     "shown only this once.");
    struct html *h = &pg.h;
    html_tag(h, "<dl>\n<dt>Name</dt><dd>");
    html_ctext(h, in->name);
    html_tag(h, "</dd>\n<dt>Provider</dt><dd>");
    html_ctext(h, provider_label(in->provider));
    html_tag(h, "</dd>\n<dt>Webhook URL</dt><dd><code>");
    html_ctext(h, integrations_webhook_url(req, in));
    html_tag(h, "</code></dd>\n");
    if (in->previous_valid_until) {
        char until[PAGE_TIME_LEN];
        page_time(until, in->previous_valid_until);
        html_tag(h, "<dt>Previous secret valid until</dt><dd>");
        html_ctext(h, until);
        html_tag(h, "</dd>\n");
    }
    html_tag(h, "</dl>\n<div><label for=\"f-secret\">Webhook secret</label>"
                "<input id=\"f-secret\" type=\"text\" readonly autocomplete=\"off\" "
                "spellcheck=\"false\"");
    html_attr(h, "value", str_from_cstr(secret->text));
    html_tag(h,
             "></div>\n<p><a href=\"" INTEGRATIONS_PAGE_PATH "\">Back to integrations</a></p>\n");
    integration_secret_wipe(secret);
    return page_send(&pg, status);
}

enum err console_integration_create(struct http_request *req, struct http_response *resp)
{
    /* one byte past each limit: the core refuses an overlong value in its own words */
    struct buf name = BUF_INIT(INTEGRATIONS_MAX_NAME_BYTES + 1);
    struct buf provider = BUF_INIT(FIELD_CAP);
    struct buf scope = BUF_INIT(INTEGRATIONS_MAX_SCOPE + 1);
    enum err e = page_form_value(req->body, "name", &name);
    enum err ep = page_form_value(req->body, "provider", &provider);
    enum err es = page_form_value(req->body, "repository_scope", &scope);
    struct integration_spec spec = {0};
    if (e == ERR_LIMIT || es == ERR_LIMIT) {
        e = list_page(req, resp, 400,
                      e == ERR_LIMIT ? "The integration was not created: the name is too long."
                                     : "The integration was not created: the repositories are "
                                       "too long.");
    } else if (e || ep || (es && es != ERR_NOT_FOUND) ||
               integration_provider_parse(str_from(buf_cstr(&provider), provider.len),
                                          &spec.provider) != ERR_OK) {
        e = http_fail_public(req, ERR_INVALID, "invalid_form", "The form is not acceptable.");
    } else {
        spec.name = str_from(buf_cstr(&name), name.len);
        spec.repository_scope = es ? STR_NULL : str_from(buf_cstr(&scope), scope.len);
        struct integration in;
        struct integration_secret secret;
        e = integrations_do_create(req, &spec, &in, &secret);
        if (!e) {
            e = secret_page(req, resp, 201, "Your new integration", &in, &secret);
        } else if (e == ERR_INVALID || e == ERR_CONFLICT || e == ERR_FORBIDDEN) {
            /* the action recorded the public words: show them above the list */
            const char *msg = req->fail_message ? req->fail_message : "Not created.";
            req->fail_code = req->fail_message = NULL;
            req->fail_fields = NULL;
            e = list_page(req, resp, e == ERR_CONFLICT ? 409 : e == ERR_FORBIDDEN ? 403 : 400, msg);
        }
        integration_secret_wipe(&secret);
    }
    buf_release(&name);
    buf_release(&provider);
    buf_release(&scope);
    return e;
}

enum err console_integration_rotate(struct http_request *req, struct http_response *resp)
{
    struct integration in;
    struct integration_secret secret;
    enum err e = integrations_do_rotate(req, http_param(req, "id"), &in, &secret);
    if (!e)
        e = secret_page(req, resp, 200, "The integration's new secret", &in, &secret);
    integration_secret_wipe(&secret);
    return e;
}

enum err console_integration_delete(struct http_request *req, struct http_response *resp)
{
    enum err e = integrations_do_delete(req, http_param(req, "id"));
    return e ? e : page_redirect(req, resp, INTEGRATIONS_PAGE_PATH);
}
