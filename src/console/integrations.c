/*
 * integrations — the console page of integrations (I1) for those holding
 * integrations.manage: the organization's integrations with their webhook
 * URLs, a form to create one, and per integration a button to rotate its
 * secret and one to delete it. A new secret is shown once, on the page the
 * form's POST answers (Cache-Control: no-store, as every console page), and
 * never again: the list shows its last characters only (C3).
 *
 * Below them, the organization's LLM provider of changelog drafts (D2, D3):
 * what is configured (the API key's last characters only), this month's
 * token use, and a form that replaces it (an empty key field keeps the
 * stored key).
 *
 * The rules and their refusals are the core's, through the actions the
 * JSON API shares (api/integrations.c, integrations_do_*; api/llm.c,
 * llm_do_*); this file only reads forms and writes pages.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "console/console_internal.h"

#define INTEGRATIONS_PAGE_PATH "/integrations"
#define LLM_FORM_PATH          "/integrations/llm"
#define FIELD_CAP              32 /* bytes of a provider or choice field */
#define NUMBER_CAP             16 /* bytes of a number field */

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

static const struct {
    const char *value, *label;
} llm_providers[] = {
    {"none", "None: drafts by rules only"},
    {"anthropic", "Anthropic (Messages API)"},
    {"openai", "OpenAI-compatible (chat completions)"},
};

static void llm_number_field(struct page *pg, const char *name, const char *label, const char *hint,
                             int64_t value)
{
    char text[NUMBER_CAP];
    snprintf(text, sizeof text, "%lld", (long long)value);
    page_field(pg, &(struct field){.name = name,
                                   .label = label,
                                   .type = "number",
                                   .autocomplete = "off",
                                   .hint = hint,
                                   .value = str_from_cstr(text),
                                   .maxlength = NUMBER_CAP - 1,
                                   .required = true});
}

/* The LLM provider: what is configured (s, used this month), and the form that replaces it. */
static void llm_section(struct page *pg, const struct llm_settings *s, int64_t used)
{
    struct html *h = &pg->h;
    html_tag(h, "<h2>Changelog drafts by a language model</h2>\n");
    page_para(pg, "Optional. Only a change's title, description, labels and paths are sent, with "
                  "e-mail addresses, mentions, credentials and code removed. Every call is logged "
                  "without its content; past the monthly token budget, and whenever the provider "
                  "fails, drafts are written by the rules.");
    char line[96];
    snprintf(line, sizeof line, "%lld of %lld tokens used this month.", (long long)used,
             (long long)s->monthly_token_budget);
    page_para(pg, line);
    page_form(pg, LLM_FORM_PATH, "stack");
    html_tag(h, "<div><label for=\"f-llm-provider\">Provider</label>"
                "<select id=\"f-llm-provider\" name=\"provider\">\n");
    for (size_t i = 0; i < sizeof llm_providers / sizeof llm_providers[0]; i++) {
        html_tag(h, "<option");
        html_attr(h, "value", str_from_cstr(llm_providers[i].value));
        if (strcmp(llm_providers[i].value, llm_provider_name(s->provider)) == 0)
            html_tag(h, " selected");
        html_tag(h, ">");
        html_ctext(h, llm_providers[i].label);
        html_tag(h, "</option>\n");
    }
    html_tag(h, "</select></div>\n");
    page_field(pg, &(struct field){.name = "base_url",
                                   .label = "Base URL",
                                   .type = "url",
                                   .autocomplete = "off",
                                   .hint = "Empty: the provider's own (https://api.anthropic.com, "
                                           "https://api.openai.com/v1).",
                                   .value = str_from_cstr(s->base_url),
                                   .maxlength = LLM_MAX_BASE_URL});
    page_field(pg, &(struct field){.name = "model",
                                   .label = "Model",
                                   .type = "text",
                                   .autocomplete = "off",
                                   .value = str_from_cstr(s->model),
                                   .maxlength = LLM_MAX_MODEL});
    llm_number_field(pg, "monthly_token_budget", "Monthly token budget",
                     "Tokens in and out a calendar month (UTC) may use; 0 allows no call.",
                     s->monthly_token_budget);
    llm_number_field(pg, "max_output_tokens", "Output tokens per draft", "From 1 to 4096.",
                     s->max_output_tokens);
    char *hint =
        arena_printf(pg->req->arena,
                     s->has_api_key ? "A key ending in %s is stored: leave empty to keep it."
                                    : "%sNo key is stored.",
                     s->has_api_key ? s->api_key_hint : "");
    page_field(pg, &(struct field){.name = "api_key",
                                   .label = "API key",
                                   .type = "password",
                                   .autocomplete = "off",
                                   .hint = hint ? hint : "",
                                   .maxlength = LLM_MAX_API_KEY});
    html_tag(h, "<div><input type=\"checkbox\" id=\"f-remove-key\" name=\"remove_key\" "
                "value=\"1\"><label for=\"f-remove-key\">Remove the stored key</label></div>\n");
    page_button(pg, "Save", false);
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
    struct llm_settings llm;
    int64_t used = 0, month = 0;
    if (!e)
        e = llm_do_settings_get(req, &llm, &used, &month);
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
    llm_section(&pg, &llm, used);
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

/* A number field of the LLM form; false when absent, empty or not one. */
static bool form_number(struct http_request *req, const char *name, int64_t *out)
{
    struct buf v = BUF_INIT(NUMBER_CAP);
    uint64_t n = 0;
    bool ok = page_form_value(req->body, name, &v) == ERR_OK && v.len > 0 &&
              str_to_u64(str_from(buf_cstr(&v), v.len), UINT64_C(1) << 40, &n) == ERR_OK;
    buf_release(&v);
    *out = (int64_t)n;
    return ok;
}

enum err console_llm_settings(struct http_request *req, struct http_response *resp)
{
    /* one byte past each limit: the core refuses an overlong value in its own words */
    struct buf provider = BUF_INIT(FIELD_CAP), base = BUF_INIT(LLM_MAX_BASE_URL + 1),
               model = BUF_INIT(LLM_MAX_MODEL + 1), key = BUF_INIT_SECRET(LLM_MAX_API_KEY + 1),
               remove = BUF_INIT(FIELD_CAP);
    struct llm_settings_update u = {0};
    enum err e = page_form_value(req->body, "provider", &provider);
    enum err eb = page_form_value(req->body, "base_url", &base);
    enum err em = page_form_value(req->body, "model", &model);
    enum err ek = page_form_value(req->body, "api_key", &key);
    bool removing = page_form_value(req->body, "remove_key", &remove) == ERR_OK;
    const char *problem = NULL;
    if (e || !llm_provider_parse(str_from(buf_cstr(&provider), provider.len), &u.provider) ||
        (eb && eb != ERR_NOT_FOUND && eb != ERR_LIMIT) ||
        (em && em != ERR_NOT_FOUND && em != ERR_LIMIT) ||
        (ek && ek != ERR_NOT_FOUND && ek != ERR_LIMIT)) {
        e = http_fail_public(req, ERR_INVALID, "invalid_form", "The form is not acceptable.");
    } else if (!form_number(req, "monthly_token_budget", &u.monthly_token_budget)) {
        problem = "The settings were not saved: the monthly token budget must be a number.";
    } else if (!form_number(req, "max_output_tokens", &u.max_output_tokens) ||
               u.max_output_tokens < 1) {
        problem = "The settings were not saved: the output tokens must be a number from 1 to "
                  "4096.";
    } else {
        u.base_url = str_from(buf_cstr(&base), base.len);
        u.model = str_from(buf_cstr(&model), model.len);
        u.key_action = removing ? LLM_KEY_REMOVE : key.len ? LLM_KEY_SET : LLM_KEY_KEEP;
        u.api_key = str_from(buf_cstr(&key), key.len);
        struct llm_settings_problem why = {0};
        e = llm_do_settings_set(req, &u, &why);
        if ((e == ERR_INVALID || e == ERR_LIMIT) && why.reason) {
            problem = arena_printf(req->arena, "The settings were not saved: %s: %s.", why.field,
                                   why.reason);
            if (!problem)
                problem = "The settings were not saved.";
        } else if (!e) {
            e = page_redirect(req, resp, INTEGRATIONS_PAGE_PATH);
        }
    }
    if (problem)
        e = list_page(req, resp, 400, problem);
    buf_wipe(&key);
    buf_release(&key);
    buf_release(&provider);
    buf_release(&base);
    buf_release(&model);
    buf_release(&remove);
    return e;
}
