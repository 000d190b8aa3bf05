/*
 * keys — the console page of API keys (A7): the signed-in user's own keys,
 * a form to create one (its text shown on the next page, once), and a
 * revoke button per live key. The rules (which scopes a role may grant,
 * expiry bounds, who may revoke) are the auth module's, as for the JSON API
 * (api/apikeys.c, whose actions apikeys_do_* it calls); this file only
 * reads forms and writes pages.
 *
 * The form offers only the scopes the user's role allows; a forged form
 * asking for more is refused by auth_key_create (403, audited).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "console/console_internal.h"

#define KEYS_PAGE "/account/keys"

/* Lifetimes the form offers, in days; 0 = never expires. */
static const struct {
    const char *value, *label;
    int64_t days;
} lifetimes[] = {
    {"30", "30 days", 30},
    {"90", "90 days", 90},
    {"365", "1 year", 365},
    {"never", "Never", 0},
};
#define LIFETIME_DEFAULT 1        /* 90 days */
#define FIELD_SCOPE      "scope-" /* one checkbox per scope: "scope-content:read" */
#define KEYS_MAX_FIELD   32       /* bytes of a checkbox or lifetime value */

static void scopes_text(struct page *pg, uint32_t scopes)
{
    char text[AUTH_MAX_SCOPES_TEXT + 1];
    auth_scopes_format(scopes, text);
    html_tag(&pg->h, "<code>");
    html_ctext(&pg->h, text);
    html_tag(&pg->h, "</code>");
}

static void keys_table(struct page *pg, const struct auth_key_info *keys, size_t n, int64_t now)
{
    struct html *h = &pg->h;
    if (n == 0) {
        page_para(pg, "You have no API keys yet.");
        return;
    }
    html_tag(h, "<table>\n<caption class=\"skip\">Your API keys</caption>\n<thead><tr>"
                "<th scope=\"col\">Name</th><th scope=\"col\">Key</th>"
                "<th scope=\"col\">Scopes</th><th scope=\"col\">Created</th>"
                "<th scope=\"col\">Expires</th><th scope=\"col\">Last used</th>"
                "<th scope=\"col\"><span class=\"skip\">Status or action</span></th></tr></thead>\n"
                "<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const struct auth_key_info *k = &keys[i];
        char created[PAGE_TIME_LEN], expires[PAGE_TIME_LEN], used[PAGE_TIME_LEN], action[96];
        page_time(created, k->created_at);
        page_time(used, k->last_used_at);
        if (k->expires_at)
            page_time(expires, k->expires_at);
        else
            snprintf(expires, sizeof expires, "never");
        html_tag(h, "<tr><td>");
        html_ctext(h, k->name);
        html_tag(h, "</td><td><code>");
        html_ctext(h, k->prefix);
        html_tag(h, "…</code></td><td>");
        scopes_text(pg, k->scopes);
        html_tag(h, "</td><td>");
        html_ctext(h, created);
        html_tag(h, "</td><td>");
        html_ctext(h, expires);
        html_tag(h, "</td><td>");
        html_ctext(h, used);
        html_tag(h, "</td><td>");
        if (k->revoked_at) {
            html_tag(h, "Revoked");
        } else if (k->expires_at && k->expires_at <= now) {
            html_tag(h, "Expired");
        } else {
            snprintf(action, sizeof action, KEYS_PAGE "/%s/revoke", k->id);
            page_form(pg, action, NULL);
            html_tag(h, "<button type=\"submit\" class=\"secondary\"");
            char *label = arena_printf(pg->req->arena, "Revoke the key %s", k->name);
            html_attr(h, "aria-label", str_from_cstr(label ? label : "Revoke"));
            html_tag(h, ">Revoke</button>\n</form>");
        }
        html_tag(h, "</td></tr>\n");
    }
    html_tag(h, "</tbody>\n</table>\n");
}

static void create_form(struct page *pg, enum authz_role role)
{
    struct html *h = &pg->h;
    html_tag(h, "<h2>Create a key</h2>\n");
    page_form(pg, KEYS_PAGE, "stack");
    page_field(pg, &(struct field){.name = "name",
                                   .label = "Name",
                                   .type = "text",
                                   .autocomplete = "off",
                                   .hint = "What the key is for, e.g. the CI job that uses it.",
                                   .maxlength = AUTH_MAX_KEY_NAME,
                                   .required = true});
    html_tag(h, "<fieldset><legend>Scopes</legend>\n");
    uint32_t allowed = auth_scopes_allowed(role);
    for (size_t i = 0; i < AUTH_SCOPE_COUNT; i++) {
        const struct auth_scope_entry *s = auth_scope_at(i);
        if (!s || !(allowed & s->bit))
            continue;
        char id[64], name[64];
        snprintf(id, sizeof id, "f-scope-%zu", i);
        snprintf(name, sizeof name, FIELD_SCOPE "%s", s->name);
        html_tag(h, "<div class=\"check\"><input type=\"checkbox\" value=\"1\"");
        html_attr(h, "id", str_from_cstr(id));
        html_attr(h, "name", str_from_cstr(name));
        if (s->bit & AUTH_SCOPES_DEFAULT)
            html_tag(h, " checked");
        html_tag(h, "><label");
        html_attr(h, "for", str_from_cstr(id));
        html_tag(h, "><code>");
        html_ctext(h, s->name);
        html_tag(h, "</code> ");
        html_ctext(h, s->description);
        html_tag(h, "</label></div>\n");
    }
    html_tag(h, "</fieldset>\n<div><label for=\"f-expires\">Expires after</label>"
                "<select id=\"f-expires\" name=\"expires\">\n");
    for (size_t i = 0; i < sizeof lifetimes / sizeof lifetimes[0]; i++) {
        html_tag(h, "<option");
        html_attr(h, "value", str_from_cstr(lifetimes[i].value));
        if (i == LIFETIME_DEFAULT)
            html_tag(h, " selected");
        html_tag(h, ">");
        html_ctext(h, lifetimes[i].label);
        html_tag(h, "</option>\n");
    }
    html_tag(h, "</select></div>\n");
    page_button(pg, "Create key", false);
    html_tag(h, "</form>\n");
}

/* The page: problem (may be NULL) above the list, with status. */
static enum err keys_page(struct http_request *req, struct http_response *resp, int status,
                          const char *problem)
{
    struct auth_key_info *keys = arena_calloc(req->arena, AUTH_MAX_KEYS_PER_TENANT, sizeof *keys);
    if (!keys)
        return ERR_LIMIT;
    size_t n = 0;
    enum err e = auth_key_list(req->app->storage, &req->principal.user.tenant,
                               req->principal.user.user_id, keys, AUTH_MAX_KEYS_PER_TENANT, &n);
    if (e)
        return http_fail(req, e, "api keys list: %s", err_name(e));
    struct page pg;
    page_open(&pg, req, resp, "API keys");
    page_para(&pg, "Keys let scripts and CI jobs call the shiplog API as you, limited to the "
                   "scopes you choose and never more than your role allows. A key's text is "
                   "shown once, when you create it.");
    if (problem)
        page_problem(&pg, problem);
    keys_table(&pg, keys, n, (int64_t)time(NULL));
    create_form(&pg, authz_role_parse(str_from_cstr(req->principal.role)));
    return page_send(&pg, status);
}

enum err console_keys_page(struct http_request *req, struct http_response *resp)
{
    return keys_page(req, resp, 200, NULL);
}

/* The form's scopes and lifetime; ERR_INVALID for anything not offered. */
static enum err read_create_form(struct http_request *req, uint32_t *scopes, int64_t *days)
{
    struct buf v = BUF_INIT(KEYS_MAX_FIELD + 1);
    enum err e = ERR_OK;
    *scopes = 0;
    for (size_t i = 0; i < AUTH_SCOPE_COUNT && !e; i++) {
        const struct auth_scope_entry *s = auth_scope_at(i);
        char name[64];
        snprintf(name, sizeof name, FIELD_SCOPE "%s", s->name);
        buf_reset(&v);
        e = page_form_value(req->body, name, &v);
        if (e == ERR_NOT_FOUND)
            e = ERR_OK;
        else if (!e && strcmp(buf_cstr(&v), "1") == 0)
            *scopes |= s->bit;
        else
            e = ERR_INVALID;
    }
    if (!e) {
        buf_reset(&v);
        e = page_form_value(req->body, "expires", &v);
        size_t i = 0;
        while (!e && i < sizeof lifetimes / sizeof lifetimes[0] &&
               strcmp(buf_cstr(&v), lifetimes[i].value) != 0)
            i++;
        if (!e && i == sizeof lifetimes / sizeof lifetimes[0])
            e = ERR_INVALID;
        if (!e)
            *days = lifetimes[i].days;
    }
    buf_release(&v);
    return e == ERR_LIMIT || e == ERR_NOT_FOUND ? ERR_INVALID : e;
}

static enum err created_page(struct http_request *req, struct http_response *resp,
                             const struct auth_key_created *k, struct str name)
{
    struct page pg;
    page_open(&pg, req, resp, "Your new API key");
    page_notice(&pg, "Copy the key now and keep it somewhere safe: it is shown only this once. "
                     "Anyone holding it can call the API as you, within its scopes.");
    struct html *h = &pg.h;
    html_tag(h, "<dl>\n<dt>Name</dt><dd>");
    html_text(h, name);
    html_tag(h, "</dd>\n<dt>Scopes</dt><dd>");
    scopes_text(&pg, k->scopes);
    html_tag(h, "</dd>\n<dt>Expires</dt><dd>");
    char expires[PAGE_TIME_LEN];
    if (k->expires_at)
        page_time(expires, k->expires_at);
    else
        snprintf(expires, sizeof expires, "never");
    html_ctext(h, expires);
    html_tag(h, "</dd>\n</dl>\n<div><label for=\"f-key\">API key</label>"
                "<input id=\"f-key\" type=\"text\" readonly autocomplete=\"off\" "
                "spellcheck=\"false\"");
    html_attr(h, "value", str_from_cstr(k->text));
    html_tag(h, "></div>\n<p>Send it as <code>Authorization: Bearer &lt;key&gt;</code>. "
                "<a href=\"" KEYS_PAGE "\">Back to your keys</a></p>\n");
    return page_send(&pg, 201);
}

enum err console_key_create(struct http_request *req, struct http_response *resp)
{
    struct buf name = BUF_INIT(AUTH_MAX_KEY_NAME + 2); /* one past: the core refuses */
    uint32_t scopes = 0;
    int64_t days = 0;
    enum err e = page_form_value(req->body, "name", &name);
    if (e == ERR_LIMIT) {
        buf_release(&name);
        return keys_page(req, resp, 400, "The key was not created: the name is too long.");
    }
    if (e || read_create_form(req, &scopes, &days) != ERR_OK) {
        buf_release(&name);
        return http_fail_public(req, ERR_INVALID, "invalid_form", "The form is not acceptable.");
    }
    int64_t now = (int64_t)time(NULL);
    struct auth_key_created k;
    const char *reason = NULL;
    struct str n = str_from(buf_cstr(&name), name.len);
    e = apikeys_do_create(req, n, scopes ? scopes : AUTH_SCOPES_DEFAULT,
                          days ? now + days * 86400 : 0, now, &k, &reason);
    if (!e) {
        e = created_page(req, resp, &k, n);
    } else if (e == ERR_INVALID || e == ERR_LIMIT || e == ERR_FORBIDDEN) {
        char *msg = arena_printf(req->arena, "The key was not created: %s.",
                                 reason ? reason : "a value is not acceptable");
        e = keys_page(req, resp, e == ERR_FORBIDDEN ? 403 : 400, msg ? msg : "Not created.");
    } else {
        e = http_fail(req, e, "api key create: %s", err_name(e));
    }
    auth_key_created_wipe(&k);
    buf_release(&name);
    return e;
}

enum err console_key_revoke(struct http_request *req, struct http_response *resp)
{
    const char *reason = NULL;
    enum err e = apikeys_do_revoke(req, http_param(req, "id"), &reason);
    if (e == ERR_FORBIDDEN)
        return keys_page(req, resp, 403, "The key was not revoked: not allowed.");
    if (e)
        return e == ERR_NOT_FOUND ? e : http_fail(req, e, "api key revoke: %s", err_name(e));
    return page_redirect(req, resp, KEYS_PAGE);
}
