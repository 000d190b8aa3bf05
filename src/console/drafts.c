/*
 * drafts — the console's pages of the changelog review (D4, D5; issue 7
 * item 4), for every member (content.read):
 *  - /drafts: the review queue, one tab per status (in review by default;
 *    drafts, approved, scheduled, published, rejected, all) and "assigned to
 *    me", most recently changed first, a page at a time through the API's
 *    opaque cursor;
 *  - /drafts/{id}: the editor. Its form posts the whole text with the
 *    version it was read at, so an edit made meanwhile is a conflict shown on
 *    the form again with what was typed, nothing lost. The workflow's buttons
 *    are small forms of their own, offered only when the viewer's role holds
 *    the permission and the status allows the step; everything else (a
 *    Member, a published or scheduled entry) is read-only;
 *  - /drafts/{id}/history: every version, newest first, with its author.
 *
 * Every change goes through the JSON API's actions (api.h drafts_do_edit,
 * drafts_do_action), so both surfaces refuse, audit and publish alike; this
 * file reads forms and writes pages. Success is 303 See Other back to the
 * editor with a fixed notice (?done=...), so a reload repeats nothing.
 *
 * Sizes: an entry's body (ENTRIES_MAX_BODY) may take six times its bytes
 * once escaped (&quot;), so the editor and the history are written into a
 * larger page (DRAFTS_PAGE_CAP), and the history stops at a version that
 * would not fit, linking to the older ones.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "changes/entries.h"
#include "console/console_internal.h"
#include "http/form.h"

#define DRAFTS_PATH            "/drafts"
#define DRAFTS_PAGE_ROWS       50                /* entries on one page of the queue */
#define DRAFTS_PAGE_CAP        (512 * 1024)      /* bytes of an editor or history page */
#define DRAFTS_ESCAPED(n)      (6 * (size_t)(n)) /* bytes n bytes of text may take escaped */
#define DRAFTS_MAX_PICK        (4 * ACCOUNTS_MEMBERS_PAGE) /* members offered as reviewers */
#define DRAFTS_MAX_TAB         16                          /* bytes of ?status= */
#define DRAFTS_MAX_FLAG        1                           /* bytes of ?mine= */
#define DRAFTS_MAX_DONE        16                          /* bytes of ?done= */
#define DRAFTS_MAX_NUMBER      10 /* digits of a version (form field, ?before=) */
#define DRAFTS_MAX_LABELS_TEXT (ENTRIES_MAX_LABELS * (ENTRIES_MAX_LABEL + 2)) /* labels field */
#define DRAFTS_MAX_FORM        (64 * 1024) /* bytes of the editor's form (a body, %-encoded) */
#define DRAFTS_LINK_CAP        (sizeof DRAFTS_PATH + 64 + API_CURSOR_MAX_LEN)
#define DRAFTS_SHA_SHOWN       12  /* hex digits of a commit shown */
#define DRAFTS_MAX_LINK        512 /* bytes of a source address made a link (longer: text only) */

_Static_assert(ENTRIES_MAX_BODY <= FORM_MAX_VALUE, "an entry's body must fit a form field");
_Static_assert(DRAFTS_MAX_FORM >= 3 * ENTRIES_MAX_BODY + 3 * DRAFTS_MAX_LABELS_TEXT + 4096,
               "the editor's form must hold a full body percent-encoded");

static const char *const form_types[] = {HTTP_FORM_TYPE, NULL};
const struct body_spec CONSOLE_DRAFT_FORM_BODY = {.content_types = form_types,
                                                  .max_bytes = DRAFTS_MAX_FORM};

/* The queue's tabs: ?status= values, in the order shown. */
static const struct {
    const char *key, *title;
} tabs[] = {
    {"in_review", "In review"},
    {"draft", "Drafts"},
    {"approved", "Approved"},
    {"scheduled", "Scheduled"},
    {"published", "Published"},
    {"rejected", "Rejected"},
    {"all", "All"},
};
static const char *const tab_keys[] = {"in_review", "draft",    "approved", "scheduled",
                                       "published", "rejected", "all",      NULL};

/* The notices ?done= may ask for: fixed text only, never the query's. */
static const struct {
    const char *key, *text;
} notices[] = {
    {"saved", "Saved."},
    {"submitted", "Submitted for review."},
    {"approved", "Approved: it can be published now."},
    {"rejected", "Rejected: the note tells the author why."},
    {"published", "Published."},
    {"scheduled", "Scheduled: it will be published at the time shown."},
};

static enum authz_role viewer_role(const struct http_request *req)
{
    return authz_role_parse(str_from_cstr(req->principal.role));
}

static bool may(const struct http_request *req, enum authz_permission p)
{
    return authz_allows(viewer_role(req), p);
}

/* A value of the query string into out (cap bytes); "" when absent or bad. */
static void query_value(const struct http_request *req, const char *name, char *out, size_t cap)
{
    struct buf v = BUF_INIT(cap);
    out[0] = '\0';
    if (page_form_value(req->query, name, &v) == ERR_OK && v.len < cap)
        memcpy(out, buf_cstr(&v), v.len + 1);
    buf_release(&v);
}

/* Plain decimal digits, 1..DRAFTS_MAX_NUMBER of them, into *out (≥ 1). */
static bool parse_number(struct str s, int64_t *out)
{
    if (s.len == 0 || s.len > DRAFTS_MAX_NUMBER)
        return false;
    int64_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
        n = n * 10 + (s.ptr[i] - '0');
    }
    if (n < 1)
        return false;
    *out = n;
    return true;
}

/* The organization's first DRAFTS_MAX_PICK members (address order), in the arena. */
struct people {
    struct accounts_member *m;
    size_t n;
};

static enum err people_load(struct http_request *req, struct people *p)
{
    p->n = 0;
    p->m = arena_calloc(req->arena, DRAFTS_MAX_PICK, sizeof *p->m);
    if (!p->m)
        return ERR_LIMIT;
    for (unsigned page = 0; page * ACCOUNTS_MEMBERS_PAGE < DRAFTS_MAX_PICK; page++) {
        size_t got = 0, total = 0;
        enum err e = accounts_members_list(req->app->accounts, &req->principal.user.tenant, page,
                                           p->m + p->n, &got, &total);
        if (e)
            return http_fail(req, e, "drafts page: members: %s", err_name(e));
        p->n += got;
        if (got < ACCOUNTS_MEMBERS_PAGE || p->n >= total)
            break;
    }
    return ERR_OK;
}

/* A user id's address when it is one of p's members; else the id itself. */
static struct str person(const struct people *p, struct str id)
{
    for (size_t i = 0; i < p->n; i++)
        if (str_eq_cstr(id, p->m[i].id))
            return str_from_cstr(p->m[i].email);
    return id;
}

static void cell(struct html *h, struct str s)
{
    html_tag(h, "<td>");
    html_text(h, s.ptr ? s : STR_LIT("-"));
    html_tag(h, "</td>");
}

static void cell_time(struct html *h, int64_t t)
{
    char when[PAGE_TIME_LEN];
    page_time(when, t);
    cell(h, str_from_cstr(when));
}

/* An http(s) address short enough to link (a page of 50 rows must fit its cap). */
static bool web_url(struct str u)
{
    struct str rest;
    return u.ptr && u.len <= DRAFTS_MAX_LINK && str_cut_http_scheme(u, true, &rest);
}

/* "PR #7" or "commit 0123456789ab", linked to the provider when its address is known. */
static void source_link(struct page *pg, const struct entry *e)
{
    struct html *h = &pg->h;
    char text[64];
    if (!e->push && e->source_number >= 0) {
        snprintf(text, sizeof text, "PR #%lld", (long long)e->source_number);
    } else {
        /* a push's stable id ends with the commit's sha (ingest/normalize.h) */
        struct str sha = e->source_id;
        for (size_t i = sha.len; sha.ptr && i > 0; i--)
            if (sha.ptr[i - 1] == ':') {
                sha = str_from(sha.ptr + i, sha.len - i);
                break;
            }
        snprintf(text, sizeof text, "commit %.*s",
                 (int)(sha.len < DRAFTS_SHA_SHOWN ? sha.len : DRAFTS_SHA_SHOWN),
                 sha.ptr ? sha.ptr : "");
    }
    if (web_url(e->source_url)) {
        html_tag(h, "<a rel=\"noopener noreferrer\"");
        html_attr(h, "href", e->source_url);
        html_tag(h, ">");
        html_ctext(h, text);
        html_tag(h, "</a>");
    } else {
        html_ctext(h, text);
    }
}

static const char *status_title(enum entry_status s)
{
    switch (s) {
    case ENTRY_DRAFT:
        return "Draft";
    case ENTRY_IN_REVIEW:
        return "In review";
    case ENTRY_APPROVED:
        return "Approved";
    case ENTRY_REJECTED:
        return "Rejected";
    case ENTRY_SCHEDULED:
        return "Scheduled";
    case ENTRY_PUBLISHED:
        return "Published";
    default:
        return "-";
    }
}

/* /drafts/{id} (suffix "" or "/history" ...) in the arena; DRAFTS_PATH when it is full. */
static const char *entry_path(struct http_request *req, const char *id, const char *suffix)
{
    char *p = arena_printf(req->arena, DRAFTS_PATH "/%s%s", id, suffix);
    return p ? p : DRAFTS_PATH;
}

/* ---- /drafts ------------------------------------------------------------------------ */

static void tab_links(struct page *pg, const char *current, bool mine)
{
    struct html *h = &pg->h;
    html_tag(h, "<nav aria-label=\"Entries by status\"><ul class=\"links\">\n");
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++) {
        char *href = arena_printf(pg->req->arena, DRAFTS_PATH "?status=%s%s", tabs[i].key,
                                  mine ? "&mine=1" : "");
        html_tag(h, "<li><a");
        html_attr(h, "href", str_from_cstr(href ? href : DRAFTS_PATH));
        if (strcmp(current, tabs[i].key) == 0)
            html_tag(h, " aria-current=\"page\"");
        html_tag(h, ">");
        html_ctext(h, tabs[i].title);
        html_tag(h, "</a></li>\n");
    }
    char *other =
        arena_printf(pg->req->arena, DRAFTS_PATH "?status=%s%s", current, mine ? "" : "&mine=1");
    html_tag(h, "<li><a");
    html_attr(h, "href", str_from_cstr(other ? other : DRAFTS_PATH));
    html_tag(h, ">");
    html_ctext(h, mine ? "Everyone's" : "Assigned to me");
    html_tag(h, "</a></li>\n</ul></nav>\n");
}

static void queue_table(struct page *pg, const struct entry *rows, size_t n)
{
    struct html *h = &pg->h;
    if (n == 0) {
        page_para(pg, "No entries here.");
        return;
    }
    html_tag(h, "<table>\n<caption class=\"skip\">Changelog entries</caption>\n<thead><tr>"
                "<th scope=\"col\">Title</th><th scope=\"col\">Category</th>"
                "<th scope=\"col\">Impact</th><th scope=\"col\">Status</th>"
                "<th scope=\"col\">Source</th><th scope=\"col\">Updated</th></tr></thead>\n"
                "<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = &rows[i];
        html_tag(h, "<tr><th scope=\"row\"><a");
        html_attr(h, "href", str_from_cstr(entry_path(pg->req, e->id, "")));
        html_tag(h, ">");
        html_text(h, e->title);
        html_tag(h, "</a></th>");
        cell(h, str_from_cstr(change_impact_name(e->category)));
        cell(h, str_from_cstr(change_impact_name(e->impact)));
        cell(h, str_from_cstr(status_title(e->status)));
        html_tag(h, "<td>");
        source_link(pg, e);
        html_tag(h, "</td>");
        cell_time(h, e->updated_at);
        html_tag(h, "</tr>\n");
    }
    html_tag(h, "</tbody>\n</table>\n");
}

enum err console_drafts_page(struct http_request *req, struct http_response *resp)
{
    struct api_list_query q;
    struct str status, mine;
    enum err e = api_list_query(req, 'e', &q);
    if (!e)
        e = api_query_filter(req, "status", DRAFTS_MAX_TAB, tab_keys, &status);
    if (!e)
        e = api_query_filter(req, "mine", DRAFTS_MAX_FLAG, (const char *const[]){"1", NULL}, &mine);
    if (e)
        return e;
    const char *tab = status.ptr ? status.ptr : "in_review";
    struct entries_filter f = {.any_status = strcmp(tab, "all") == 0,
                               .reviewer = mine.ptr ? req->principal.user.user_id : NULL};
    if (!f.any_status && !entry_status_parse(str_from_cstr(tab), &f.status))
        return integrations_field_refused(req, "status", "not a status");
    struct entries_cursor after = {0}, next;
    if (q.has_cursor) {
        if (strlen(q.after.id) != ENTRIES_ID_LEN || q.after.key[0])
            return integrations_field_refused(req, "cursor", "not a cursor of this list");
        after.at = q.after.at;
        memcpy(after.id, q.after.id, sizeof after.id);
    }
    struct entry *rows = arena_calloc(req->arena, DRAFTS_PAGE_ROWS, sizeof *rows);
    if (!rows)
        return ERR_LIMIT;
    size_t n = 0;
    struct tx *tx;
    e = storage_begin(req->app->storage, &req->principal.user.tenant, TX_READ, &tx);
    if (e)
        return http_fail(req, e, "drafts page: begin: %s", err_name(e));
    e = entries_list(tx, &f, &after, DRAFTS_PAGE_ROWS, req->arena, rows, &n, &next);
    storage_rollback(tx);
    if (e == ERR_INVALID)
        return integrations_field_refused(req, "cursor", "not a cursor of this list");
    if (e)
        return http_fail(req, e, "drafts page: list: %s", err_name(e));

    struct page pg;
    page_open_cap(&pg, req, resp, "Changelog", DRAFTS_PAGE_CAP);
    page_para(&pg, "Entries written from merged changes. Open one to edit its text, send it for "
                   "review, approve it and publish it.");
    tab_links(&pg, tab, mine.ptr != NULL);
    queue_table(&pg, rows, n);
    if (next.id[0]) {
        struct ingest_cursor c = {.at = next.at};
        memcpy(c.id, next.id, sizeof next.id);
        struct buf link = BUF_INIT(DRAFTS_LINK_CAP);
        if (buf_printf(&link, DRAFTS_PATH "?status=%s%s&cursor=", tab, mine.ptr ? "&mine=1" : "") ==
                ERR_OK &&
            api_cursor_encode('e', &c, &link) == ERR_OK) {
            html_tag(&pg.h, "<p><a rel=\"next\"");
            html_attr(&pg.h, "href", str_from(buf_cstr(&link), link.len));
            html_tag(&pg.h, ">Next page</a></p>\n");
        }
        buf_release(&link);
    }
    return page_send(&pg, 200);
}

/* ---- /drafts/{id} ----------------------------------------------------------------------- */

/* What the editor's form shows: the entry's text, or what was typed into it. */
struct typed {
    int64_t version;
    struct str title, body, labels_text;
    enum change_impact category;
    enum draft_audience audience;
    const struct str *reviewers;
    size_t n_reviewers;
};

static void typed_from_entry(struct http_request *req, const struct entry *e, struct typed *t)
{
    struct buf labels = BUF_INIT(DRAFTS_MAX_LABELS_TEXT + 1);
    for (size_t i = 0; i < e->n_labels; i++)
        if (buf_printf(&labels, "%s%.*s", i ? ", " : "", (int)e->labels[i].len, e->labels[i].ptr) !=
            ERR_OK)
            break;
    char *text = arena_strndup(req->arena, buf_cstr(&labels), labels.len);
    *t = (struct typed){.version = e->version,
                        .title = e->title,
                        .body = e->body,
                        .labels_text = text ? str_from(text, labels.len) : STR_LIT(""),
                        .category = e->category,
                        .audience = e->audience,
                        .reviewers = e->reviewers,
                        .n_reviewers = e->n_reviewers};
    buf_release(&labels);
}

static bool listed(const struct str *v, size_t n, struct str s)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq(v[i], s))
            return true;
    return false;
}

static void select_open(struct html *h, const char *name, const char *label)
{
    html_tag(h, "<div><label");
    html_attr(h, "for", str_from_cstr(name));
    html_tag(h, ">");
    html_ctext(h, label);
    html_tag(h, "</label><select");
    html_attr(h, "id", str_from_cstr(name));
    html_attr(h, "name", str_from_cstr(name));
    html_tag(h, ">\n");
}

static void option(struct html *h, const char *value, bool selected)
{
    html_tag(h, "<option");
    html_attr(h, "value", str_from_cstr(value));
    if (selected)
        html_tag(h, " selected");
    html_tag(h, ">");
    html_ctext(h, value);
    html_tag(h, "</option>\n");
}

/* One reviewer checkbox: field reviewer-<i> (form fields are never repeated) with the id. */
static void reviewer_box(struct page *pg, size_t i, struct str id, struct str label, bool checked)
{
    struct html *h = &pg->h;
    char name[32];
    snprintf(name, sizeof name, "reviewer-%zu", i);
    html_tag(h, "<div class=\"check\"><input type=\"checkbox\"");
    html_attr(h, "id", str_from_cstr(name));
    html_attr(h, "name", str_from_cstr(name));
    html_attr(h, "value", id);
    if (checked)
        html_tag(h, " checked");
    html_tag(h, "><label");
    html_attr(h, "for", str_from_cstr(name));
    html_tag(h, ">");
    html_text(h, label);
    html_tag(h, "</label></div>\n");
}

static void edit_form(struct page *pg, const struct entry *e, const struct typed *t,
                      const struct people *p)
{
    struct html *h = &pg->h;
    char version[24];
    snprintf(version, sizeof version, "%lld", (long long)t->version);
    html_tag(h, "<h2>Text</h2>\n");
    page_form(pg, entry_path(pg->req, e->id, ""), "stack wide");
    page_hidden(pg, "version", str_from_cstr(version));
    page_field(pg, &(struct field){.name = "title",
                                   .label = "Title",
                                   .type = "text",
                                   .autocomplete = "off",
                                   .value = t->title,
                                   .maxlength = ENTRIES_MAX_TITLE,
                                   .required = true});
    html_tag(h, "<div><label for=\"f-body\">Text</label><textarea id=\"f-body\" name=\"body\" "
                "rows=\"10\" aria-describedby=\"f-body-hint\"");
    char num[24];
    snprintf(num, sizeof num, "%d", ENTRIES_MAX_BODY);
    html_attr(h, "maxlength", str_from_cstr(num));
    html_tag(h, ">");
    /* a newline right after <textarea> is dropped by parsers: keep a leading one */
    if (t->body.len && t->body.ptr[0] == '\n')
        html_tag(h, "\n");
    html_text(h, t->body);
    html_tag(h, "</textarea><p class=\"hint\" id=\"f-body-hint\">Plain text, up to 10,000 "
                "bytes.</p></div>\n");
    select_open(h, "category", "Category");
    for (int i = 0; i < CHANGE_IMPACT_COUNT_; i++)
        option(h, change_impact_name((enum change_impact)i), (int)t->category == i);
    html_tag(h, "</select></div>\n");
    select_open(h, "audience", "Audience");
    for (int i = 0; i < AUDIENCE_COUNT_; i++)
        option(h, draft_audience_name((enum draft_audience)i), (int)t->audience == i);
    html_tag(h, "</select></div>\n");
    page_field(pg, &(struct field){.name = "labels",
                                   .label = "Labels",
                                   .type = "text",
                                   .autocomplete = "off",
                                   .hint = "Separated by commas; at most 20 of 1 to 64 bytes.",
                                   .value = t->labels_text,
                                   .maxlength = DRAFTS_MAX_LABELS_TEXT});
    html_tag(h, "<fieldset><legend>Reviewers</legend>\n");
    size_t box = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct str id = str_from_cstr(p->m[i].id);
        reviewer_box(pg, box++, id, str_from_cstr(p->m[i].email),
                     listed(t->reviewers, t->n_reviewers, id));
    }
    /* an assigned reviewer beyond the members listed stays assignable (and removable) */
    for (size_t i = 0; i < t->n_reviewers; i++)
        if (person(p, t->reviewers[i]).ptr == t->reviewers[i].ptr)
            reviewer_box(pg, box++, t->reviewers[i], t->reviewers[i], true);
    if (box == 0)
        page_para(pg, "No members to ask.");
    html_tag(h, "</fieldset>\n");
    page_button(pg, "Save", false);
    html_tag(h, "</form>\n");
}

static void read_only_text(struct page *pg, const struct entry *e, const struct people *p)
{
    struct html *h = &pg->h;
    html_tag(h, "<h2>Text</h2>\n<dl>\n<dt>Title</dt><dd>");
    html_text(h, e->title);
    html_tag(h, "</dd>\n<dt>Text</dt><dd class=\"text\">");
    html_text(h, e->body);
    html_tag(h, "</dd>\n<dt>Category</dt><dd>");
    html_ctext(h, change_impact_name(e->category));
    html_tag(h, "</dd>\n<dt>Audience</dt><dd>");
    html_ctext(h, draft_audience_name(e->audience));
    html_tag(h, "</dd>\n<dt>Labels</dt><dd>");
    for (size_t i = 0; i < e->n_labels; i++) {
        if (i)
            html_tag(h, ", ");
        html_text(h, e->labels[i]);
    }
    html_tag(h, "</dd>\n<dt>Reviewers</dt><dd>");
    for (size_t i = 0; i < e->n_reviewers; i++) {
        if (i)
            html_tag(h, ", ");
        html_text(h, person(p, e->reviewers[i]));
    }
    html_tag(h, "</dd>\n</dl>\n");
}

/* <dt>label</dt><dd>who, when</dd> when who is set. */
static void who_when(struct html *h, const char *label, const struct people *p, struct str who,
                     int64_t when)
{
    if (!who.ptr)
        return;
    char t[PAGE_TIME_LEN];
    page_time(t, when);
    html_tag(h, "<dt>");
    html_ctext(h, label);
    html_tag(h, "</dt><dd>");
    html_text(h, person(p, who));
    html_tag(h, ", ");
    html_ctext(h, t);
    html_tag(h, "</dd>\n");
}

static void facts(struct page *pg, const struct entry *e, const struct people *p)
{
    struct html *h = &pg->h;
    char version[24];
    snprintf(version, sizeof version, "%lld", (long long)e->version);
    html_tag(h, "<dl>\n<dt>Status</dt><dd>");
    html_ctext(h, status_title(e->status));
    html_tag(h, "</dd>\n<dt>Version</dt><dd>");
    html_ctext(h, version);
    html_tag(h, " (<a");
    html_attr(h, "href", str_from_cstr(entry_path(pg->req, e->id, "/history")));
    html_tag(h, ">history</a>)</dd>\n<dt>Impact</dt><dd>");
    html_ctext(h, change_impact_name(e->impact));
    if (e->impact_reason.len) {
        html_tag(h, " <span class=\"muted\">(");
        html_text(h, e->impact_reason);
        html_tag(h, ")</span>");
    }
    html_tag(h, "</dd>\n<dt>Source</dt><dd>");
    source_link(pg, e);
    html_tag(h, "</dd>\n");
    who_when(h, "Submitted by", p, e->submitted_by, e->submitted_at);
    who_when(h, e->status == ENTRY_REJECTED ? "Rejected by" : "Decided by", p, e->decided_by,
             e->decided_at);
    if (e->status == ENTRY_REJECTED && e->decision_note.len) {
        html_tag(h, "<dt>Rejection note</dt><dd class=\"text\">");
        html_text(h, e->decision_note);
        html_tag(h, "</dd>\n");
    }
    if (e->status == ENTRY_SCHEDULED && e->publish_at) {
        char t[PAGE_TIME_LEN];
        page_time(t, e->publish_at);
        html_tag(h, "<dt>Publishes at</dt><dd>");
        html_ctext(h, t);
        html_tag(h, "</dd>\n");
    }
    who_when(h, "Published by", p, e->published_by, e->published_at);
    html_tag(h, "</dl>\n");
}

/* One small action form: the version seen, then whatever fields the caller adds. */
static void action_open(struct page *pg, const struct entry *e, const char *suffix)
{
    char version[24];
    snprintf(version, sizeof version, "%lld", (long long)e->version);
    page_form(pg, entry_path(pg->req, e->id, suffix), "stack");
    page_hidden(pg, "version", str_from_cstr(version));
}

static void actions(struct page *pg, const struct entry *e)
{
    struct http_request *req = pg->req;
    struct html *h = &pg->h;
    bool submit =
        may(req, AUTHZ_DRAFT_EDIT) && (e->status == ENTRY_DRAFT || e->status == ENTRY_REJECTED);
    bool review = may(req, AUTHZ_DRAFT_REVIEW) && e->status == ENTRY_IN_REVIEW;
    bool publish = may(req, AUTHZ_PUBLISH) && e->status == ENTRY_APPROVED;
    if (!submit && !review && !publish)
        return;
    html_tag(h, "<h2>Review</h2>\n");
    if (submit) {
        action_open(pg, e, "/submit");
        page_button(pg, "Submit for review", false);
        html_tag(h, "</form>\n");
    }
    if (review) {
        action_open(pg, e, "/approve");
        page_button(pg, "Approve", false);
        html_tag(h, "</form>\n");
        action_open(pg, e, "/reject");
        html_tag(h, "<div><label for=\"f-note\">Note for the author</label><textarea "
                    "id=\"f-note\" name=\"note\" rows=\"3\" maxlength=\"500\" "
                    "aria-describedby=\"f-note-hint\"></textarea><p class=\"hint\" "
                    "id=\"f-note-hint\">Optional: why, up to 500 bytes.</p></div>\n");
        page_button(pg, "Reject", true);
        html_tag(h, "</form>\n");
    }
    if (publish) {
        action_open(pg, e, "/publish");
        page_button(pg, "Publish now", false);
        html_tag(h, "</form>\n");
        action_open(pg, e, "/publish");
        page_field(pg, &(struct field){.name = "publish_at",
                                       .label = "Publish at (UTC)",
                                       .type = "datetime-local",
                                       .hint = "A later time schedules the publication.",
                                       .required = true});
        page_button(pg, "Schedule", true);
        html_tag(h, "</form>\n");
    }
}

/* Reads entry id in its own read transaction; ERR_NOT_FOUND unrecorded. */
static enum err load_entry(struct http_request *req, struct str id, struct entry *out)
{
    struct tx *tx;
    enum err e = storage_begin(req->app->storage, &req->principal.user.tenant, TX_READ, &tx);
    if (e)
        return http_fail(req, e, "draft page: begin: %s", err_name(e));
    e = entries_get(tx, id, req->arena, out);
    storage_rollback(tx);
    if (e && e != ERR_NOT_FOUND)
        return http_fail(req, e, "draft page: get: %s", err_name(e));
    return e;
}

/*
 * The editor of e with status, problem (may be NULL: a ?done= notice instead)
 * and the form showing typed (NULL: the entry's text).
 */
static enum err editor(struct http_request *req, struct http_response *resp, int status,
                       const struct entry *e, const struct people *p, const char *problem,
                       const struct typed *typed)
{
    struct page pg;
    page_open_cap(&pg, req, resp, "Changelog entry", DRAFTS_PAGE_CAP);
    if (problem) {
        page_problem(&pg, problem);
    } else {
        char text[DRAFTS_MAX_DONE + 1];
        query_value(req, "done", text, sizeof text);
        for (size_t i = 0; i < sizeof notices / sizeof notices[0]; i++)
            if (strcmp(text, notices[i].key) == 0)
                page_notice(&pg, notices[i].text);
    }
    facts(&pg, e, p);
    bool editable =
        may(req, AUTHZ_DRAFT_EDIT) && e->status != ENTRY_PUBLISHED && e->status != ENTRY_SCHEDULED;
    if (editable) {
        struct typed t;
        if (!typed)
            typed_from_entry(req, e, &t);
        edit_form(&pg, e, typed ? typed : &t, p);
    } else {
        read_only_text(&pg, e, p);
    }
    actions(&pg, e);
    html_tag(&pg.h, "<p><a href=\"" DRAFTS_PATH "\">Back to the review queue</a></p>\n");
    return page_send(&pg, status);
}

enum err console_draft_page(struct http_request *req, struct http_response *resp)
{
    struct entry *e = arena_calloc(req->arena, 1, sizeof *e);
    struct people p;
    enum err err = e ? load_entry(req, http_param(req, "id"), e) : ERR_LIMIT;
    if (!err)
        err = people_load(req, &p);
    return err ? err : editor(req, resp, 200, e, &p, NULL, NULL);
}

/* ---- the forms ------------------------------------------------------------------------ */

/* A refusal the actions recorded and the editor shows: 400, 409. */
static bool shown_on_page(enum err e)
{
    return e == ERR_INVALID || e == ERR_LIMIT || e == ERR_CONFLICT;
}

/*
 * The editor again after a refusal, saying why, with typed in the form (NULL:
 * the entry as it is now). The entry is read again: it may have changed.
 */
static enum err refused_page(struct http_request *req, struct http_response *resp, enum err why,
                             const struct typed *typed)
{
    const char *msg = req->fail_message ? req->fail_message : err_public_message(why);
    int status = err_http_status(why == ERR_LIMIT ? ERR_INVALID : why);
    /* the page itself must render: forget the refusal, keep its words */
    req->fail_code = NULL;
    req->fail_message = NULL;
    req->fail_fields = NULL;
    struct entry *e = arena_calloc(req->arena, 1, sizeof *e);
    struct people p;
    enum err err = e ? load_entry(req, http_param(req, "id"), e) : ERR_LIMIT;
    if (!err)
        err = people_load(req, &p);
    if (err)
        return err;
    struct typed again;
    if (typed && typed->version != e->version && why == ERR_CONFLICT) {
        /* the text typed, on the version now current: saving again is a choice made knowingly */
        again = *typed;
        again.version = e->version;
        typed = &again;
        msg = arena_printf(req->arena,
                           "%s Your text is kept below: compare it with the current version "
                           "(history) and save again to replace it.",
                           msg);
    }
    return editor(req, resp, status, e, &p, msg ? msg : "Not saved.", typed);
}

/* Field name of the (validated) form body into out; absent gives "". */
static enum err field(struct http_request *req, const char *name, struct buf *out)
{
    enum err e = form_get(req->body, name, out);
    if (e == ERR_NOT_FOUND)
        return ERR_OK;
    if (e)
        return http_fail_public(req, ERR_INVALID, "invalid_form", "The form is not acceptable.");
    return ERR_OK;
}

/* A copy of b in the arena; "" when empty (ptr set: a form always sends its fields). */
static struct str kept(struct http_request *req, const struct buf *b)
{
    char *s = arena_strndup(req->arena, b->len ? buf_cstr(b) : "", b->len);
    return s ? str_from(s, b->len) : STR_LIT("");
}

/* Browsers send a textarea's line breaks as CR LF: stored as LF. */
static struct str unix_lines(struct http_request *req, struct str s)
{
    char *out = arena_alloc(req->arena, s.len + 1);
    if (!out)
        return s;
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++)
        if (!(s.ptr[i] == '\r' && i + 1 < s.len && s.ptr[i + 1] == '\n'))
            out[n++] = s.ptr[i];
    out[n] = '\0';
    return str_from(out, n);
}

/* "a, b ,c" → labels (trimmed, empty ones skipped); ERR_LIMIT past the list's limit. */
static enum err split_labels(struct http_request *req, struct str text, struct str **out, size_t *n)
{
    *n = 0;
    *out = arena_calloc(req->arena, ENTRIES_MAX_LABELS + 1, sizeof **out);
    if (!*out)
        return ERR_LIMIT;
    while (text.len) {
        const char *comma = memchr(text.ptr, ',', text.len);
        size_t len = comma ? (size_t)(comma - text.ptr) : text.len;
        struct str one = str_trim(str_from(text.ptr, len));
        if (one.len) {
            if (*n == ENTRIES_MAX_LABELS + 1)
                return ERR_LIMIT;
            (*out)[(*n)++] = one;
        }
        text = comma ? str_from(comma + 1, text.len - len - 1) : str_from(text.ptr + len, 0);
    }
    return ERR_OK;
}

/*
 * The checked reviewer-<i> boxes, each id once; ERR_LIMIT for an id longer
 * than ENTRIES_MAX_AUTHOR or more than ENTRIES_MAX_REVIEWERS of them.
 */
static enum err checked_reviewers(struct http_request *req, struct str **out, size_t *n)
{
    *n = 0;
    *out = arena_calloc(req->arena, ENTRIES_MAX_REVIEWERS, sizeof **out);
    if (!*out)
        return ERR_LIMIT;
    enum err e = ERR_OK;
    for (size_t i = 0; !e && i < DRAFTS_MAX_PICK + ENTRIES_MAX_REVIEWERS; i++) {
        char name[32];
        snprintf(name, sizeof name, "reviewer-%zu", i);
        struct buf v = BUF_INIT(ENTRIES_MAX_AUTHOR);
        e = form_get(req->body, name, &v);
        if (e == ERR_NOT_FOUND || (e == ERR_OK && v.len == 0)) {
            e = ERR_OK;
        } else if (e == ERR_OK && !listed(*out, *n, str_from(buf_cstr(&v), v.len))) {
            if (*n == ENTRIES_MAX_REVIEWERS)
                e = ERR_LIMIT;
            else
                (*out)[(*n)++] = kept(req, &v);
        }
        buf_release(&v);
    }
    return e;
}

/* The same reviewers, in any order. */
static bool same_set(const struct str *a, size_t na, const struct str *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!listed(b, nb, a[i]))
            return false;
    return true;
}

/* A refusal of a form field, recorded as the API records it (400 validation_failed). */
static enum err bad_field(struct http_request *req, const char *name, enum err e)
{
    return integrations_field_refused(req, name,
                                      e == ERR_LIMIT ? "too long or too many" : "not acceptable");
}

enum err console_draft_edit(struct http_request *req, struct http_response *resp)
{
    struct str id = http_param(req, "id");
    struct entry *cur = arena_calloc(req->arena, 1, sizeof *cur);
    enum err e = cur ? load_entry(req, id, cur) : ERR_LIMIT;
    if (e)
        return e; /* another organization's or no such entry: 404 before anything is read */
    struct buf version = BUF_INIT(FORM_MAX_VALUE + 1), title = BUF_INIT(FORM_MAX_VALUE + 1),
               body = BUF_INIT(FORM_MAX_VALUE + 1), category = BUF_INIT(FORM_MAX_VALUE + 1),
               audience = BUF_INIT(FORM_MAX_VALUE + 1), labels = BUF_INIT(FORM_MAX_VALUE + 1);
    struct typed t = {.category = cur->category, .audience = cur->audience};
    struct entry_patch p = {0};
    struct str *label_list = NULL, *reviewers = NULL;
    if (!e)
        e = field(req, "version", &version);
    if (!e)
        e = field(req, "title", &title);
    if (!e)
        e = field(req, "body", &body);
    if (!e)
        e = field(req, "category", &category);
    if (!e)
        e = field(req, "audience", &audience);
    if (!e)
        e = field(req, "labels", &labels);
    if (e)
        goto out;
    bool version_ok = parse_number(str_from(buf_cstr(&version), version.len), &t.version);
    if (!version_ok)
        t.version = cur->version; /* the form again, at the version now current */
    if (checked_reviewers(req, &reviewers, &t.n_reviewers) != ERR_OK)
        e = bad_field(req, "reviewers", ERR_LIMIT);
    t.title = kept(req, &title);
    t.body = unix_lines(req, kept(req, &body));
    t.labels_text = kept(req, &labels);
    t.reviewers = reviewers;
    struct str cat = str_from(buf_cstr(&category), category.len),
               aud = str_from(buf_cstr(&audience), audience.len);
    bool cat_ok = change_impact_parse(cat, &t.category);
    bool aud_ok = entry_audience_parse(aud, &t.audience);
    if (e) {
        /* reviewers refused: the form again with the rest of what was typed */
    } else if (!version_ok) {
        e = bad_field(req, "version", ERR_INVALID);
    } else if (!cat_ok) {
        e = bad_field(req, "category", ERR_INVALID);
    } else if (!aud_ok) {
        e = bad_field(req, "audience", ERR_INVALID);
    } else if (labels.len > DRAFTS_MAX_LABELS_TEXT) {
        e = bad_field(req, "labels", ERR_LIMIT);
    } else if ((e = split_labels(req, t.labels_text, &label_list, &p.n_labels)) != ERR_OK) {
        e = bad_field(req, "labels", e);
    }
    if (e)
        goto out;
    p.version = t.version;
    p.has_title = p.has_body = p.has_category = p.has_audience = p.has_labels = true;
    p.title = t.title;
    p.body = t.body;
    p.category = t.category;
    p.audience = t.audience;
    p.labels = label_list;
    p.has_reviewers = !same_set(reviewers, t.n_reviewers, cur->reviewers, cur->n_reviewers);
    p.reviewers = reviewers;
    p.n_reviewers = t.n_reviewers;
    const char *bad = NULL;
    if ((e = entries_patch_check(&p, &bad)) != ERR_OK)
        e = bad_field(req, bad ? bad : "form", e);
    else
        e = drafts_do_edit(req, id, &p);
out:
    buf_release(&version);
    buf_release(&title);
    buf_release(&body);
    buf_release(&category);
    buf_release(&audience);
    buf_release(&labels);
    if (!e) {
        const char *to = arena_printf(req->arena, DRAFTS_PATH "/%s?done=saved", cur->id);
        return page_redirect(req, resp, to ? to : DRAFTS_PATH);
    }
    return shown_on_page(e) ? refused_page(req, resp, e, t.title.ptr ? &t : NULL) : e;
}

/* POST /drafts/{id}/<step>: the version seen and the step's fields, then back to the editor. */
static enum err step(struct http_request *req, struct http_response *resp, enum entry_action act,
                     const char *done)
{
    struct str id = http_param(req, "id");
    struct buf version = BUF_INIT(FORM_MAX_VALUE + 1), note = BUF_INIT(FORM_MAX_VALUE + 1),
               when = BUF_INIT(FORM_MAX_DATETIME + 2);
    int64_t seen = 0, publish_at = 0;
    enum err e = field(req, "version", &version);
    if (!e && act == ENTRY_REJECT)
        e = field(req, "note", &note);
    if (!e && act == ENTRY_PUBLISH) {
        e = form_get(req->body, "publish_at", &when);
        if (e == ERR_NOT_FOUND)
            e = ERR_OK;
        else if (e || when.len == 0 ||
                 !form_datetime_local(str_from(buf_cstr(&when), when.len), &publish_at))
            e = bad_field(req, "publish_at", e == ERR_LIMIT ? ERR_LIMIT : ERR_INVALID);
    }
    if (!e && version.len && !parse_number(str_from(buf_cstr(&version), version.len), &seen))
        e = bad_field(req, "version", ERR_INVALID);
    if (!e) {
        struct str n = act == ENTRY_REJECT && note.len
                           ? unix_lines(req, str_from(buf_cstr(&note), note.len))
                           : STR_NULL;
        e = drafts_do_action(req, id, act, seen, n, publish_at);
    }
    buf_release(&version);
    buf_release(&note);
    buf_release(&when);
    if (!e) {
        const char *what =
            act == ENTRY_PUBLISH && publish_at > (int64_t)time(NULL) ? "scheduled" : done;
        const char *to =
            arena_printf(req->arena, DRAFTS_PATH "/%.*s?done=%s", (int)id.len, id.ptr, what);
        return page_redirect(req, resp, to ? to : DRAFTS_PATH);
    }
    return shown_on_page(e) ? refused_page(req, resp, e, NULL) : e;
}

enum err console_draft_submit(struct http_request *req, struct http_response *resp)
{
    return step(req, resp, ENTRY_SUBMIT, "submitted");
}

enum err console_draft_approve(struct http_request *req, struct http_response *resp)
{
    return step(req, resp, ENTRY_APPROVE, "approved");
}

enum err console_draft_reject(struct http_request *req, struct http_response *resp)
{
    return step(req, resp, ENTRY_REJECT, "rejected");
}

enum err console_draft_publish(struct http_request *req, struct http_response *resp)
{
    return step(req, resp, ENTRY_PUBLISH, "published");
}

/* ---- /drafts/{id}/history ---------------------------------------------------------------- */

static const char *kind_title(struct str kind)
{
    if (str_eq_cstr(kind, "generated"))
        return "Generated";
    if (str_eq_cstr(kind, "edit"))
        return "Edit";
    if (str_eq_cstr(kind, "suggestion"))
        return "Suggestion";
    return "Other";
}

/* Bytes one version may take on the page, at worst. */
static size_t version_cost(const struct entry_version *v)
{
    size_t labels = 0;
    for (size_t i = 0; i < v->n_labels; i++)
        labels += v->labels[i].len + 2;
    return DRAFTS_ESCAPED(v->title.len + v->body.len + labels + v->author.len +
                          ACCOUNTS_MAX_EMAIL) +
           1024;
}

static void version_item(struct page *pg, const struct entry_version *v, const struct people *p)
{
    struct html *h = &pg->h;
    bool suggestion = str_eq_cstr(v->kind, "suggestion");
    char head[64], when[PAGE_TIME_LEN];
    snprintf(head, sizeof head, "Version %lld", (long long)v->version);
    page_time(when, v->created_at);
    html_tag(h, "<article class=\"version\">\n<h2>");
    html_ctext(h, head);
    html_tag(h, " · ");
    html_ctext(h, kind_title(v->kind));
    html_tag(h, "</h2>\n");
    if (suggestion)
        html_tag(h, "<p class=\"notice\" role=\"note\"><strong>Suggestion, not applied:</strong> "
                    "the text was regenerated after a person had edited it, so it was kept "
                    "aside. Copy from it if it helps.</p>\n");
    html_tag(h, "<dl>\n<dt>Author</dt><dd>");
    html_text(h, person(p, v->author));
    html_tag(h, "</dd>\n<dt>Time</dt><dd>");
    html_ctext(h, when);
    html_tag(h, "</dd>\n<dt>Title</dt><dd>");
    html_text(h, v->title);
    html_tag(h, "</dd>\n<dt>Text</dt><dd class=\"text\">");
    html_text(h, v->body);
    html_tag(h, "</dd>\n<dt>Category</dt><dd>");
    html_ctext(h, change_impact_name(v->category));
    html_tag(h, "</dd>\n<dt>Audience</dt><dd>");
    html_ctext(h, draft_audience_name(v->audience));
    html_tag(h, "</dd>\n<dt>Labels</dt><dd>");
    for (size_t i = 0; i < v->n_labels; i++) {
        if (i)
            html_tag(h, ", ");
        html_text(h, v->labels[i]);
    }
    html_tag(h, "</dd>\n</dl>\n</article>\n");
}

enum err console_draft_history(struct http_request *req, struct http_response *resp)
{
    struct str id = http_param(req, "id");
    int64_t before = INT64_MAX;
    struct buf b = BUF_INIT(DRAFTS_MAX_NUMBER + 2);
    enum err e = req->query.len ? page_form_value(req->query, "before", &b) : ERR_NOT_FOUND;
    if (e != ERR_NOT_FOUND && (e || !parse_number(str_from(buf_cstr(&b), b.len), &before)))
        e = integrations_field_refused(req, "before", "a version number");
    else
        e = ERR_OK;
    buf_release(&b);
    if (e)
        return e;
    struct entry_version *v = arena_calloc(req->arena, ENTRIES_MAX_VERSIONS, sizeof *v);
    struct entry *en = arena_calloc(req->arena, 1, sizeof *en);
    if (!v || !en)
        return ERR_LIMIT;
    size_t n = 0;
    if ((e = load_entry(req, id, en)) != ERR_OK)
        return e;
    struct tx *tx;
    e = storage_begin(req->app->storage, &req->principal.user.tenant, TX_READ, &tx);
    if (e)
        return http_fail(req, e, "history page: begin: %s", err_name(e));
    e = entries_versions(tx, id, req->arena, v, &n);
    storage_rollback(tx);
    if (e)
        return e == ERR_NOT_FOUND ? e : http_fail(req, e, "history page: %s", err_name(e));
    struct people p;
    if ((e = people_load(req, &p)) != ERR_OK)
        return e;

    struct page pg;
    page_open_cap(&pg, req, resp, "Version history", DRAFTS_PAGE_CAP);
    html_tag(&pg.h, "<p>Every text of <a");
    html_attr(&pg.h, "href", str_from_cstr(entry_path(req, en->id, "")));
    html_tag(&pg.h, ">");
    html_text(&pg.h, en->title);
    html_tag(&pg.h, "</a>, newest first. Suggestions are regenerated texts that were not applied "
                    "because a person had edited the entry.</p>\n");
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].version >= before)
            continue;
        /* stop before a version that might not fit; the link goes on from it */
        if (shown && pg.out.len + version_cost(&v[i]) + 4096 > DRAFTS_PAGE_CAP) {
            char *href = arena_printf(req->arena, DRAFTS_PATH "/%s/history?before=%lld", en->id,
                                      (long long)v[i].version + 1);
            html_tag(&pg.h, "<p><a rel=\"next\"");
            html_attr(&pg.h, "href", str_from_cstr(href ? href : DRAFTS_PATH));
            html_tag(&pg.h, ">Older versions</a></p>\n");
            break;
        }
        version_item(&pg, &v[i], &p);
        shown++;
    }
    if (shown == 0)
        page_para(&pg, "No versions here.");
    return page_send(&pg, 200);
}
