/*
 * activity — the console's view of what the webhooks brought in (U1, issue 6
 * item 9), for every member (content.read):
 *  - /activity: the recent deliveries (provider, event, status, time; older
 *    ones a page at a time through the API's opaque cursor), the
 *    repositories, each linking to its page, and the dead letters of the job
 *    queue, with a Retry button (a CSRF-guarded form) for those holding
 *    integrations.manage;
 *  - /activity/repositories/{id}: the repository's recent commits, pull
 *    requests and deployments; 404 for an id the organization does not have.
 * Reading and retrying go through the JSON API's helpers (api/activity.c),
 * so both surfaces page, filter and refuse alike.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "console/console_internal.h"

#define ACTIVITY_PATH      "/activity"
#define ACTIVITY_PAGE_ROWS 50  /* deliveries, dead jobs and each kind of change on a page */
#define ACTIVITY_REPO_ROWS 100 /* repositories on /activity */
#define ACTIVITY_REPO_SCAN 100 /* store pages read to find one repository (10000 repositories) */
#define ACTIVITY_MSG_CUT   120 /* bytes of a commit message's first line shown */
#define ACTIVITY_SHA_SHOWN 12  /* hex digits of a sha shown */
#define ACTIVITY_LINK_CAP  (sizeof ACTIVITY_PATH + 16 + API_CURSOR_MAX_LEN)

/* A table cell with s, or "-" when not known. */
static void cell(struct html *h, struct str s)
{
    html_tag(h, "<td>");
    if (s.ptr)
        html_text(h, s);
    else
        html_tag(h, "-");
    html_tag(h, "</td>");
}

static void cell_time(struct html *h, int64_t t)
{
    char when[PAGE_TIME_LEN];
    page_time(when, t);
    html_tag(h, "<td>");
    html_ctext(h, when);
    html_tag(h, "</td>");
}

/* s cut to its first line and at most max bytes, at a character boundary. */
static struct str first_line(struct str s, size_t max)
{
    if (!s.ptr)
        return s;
    const char *nl = memchr(s.ptr, '\n', s.len);
    size_t len = nl ? (size_t)(nl - s.ptr) : s.len;
    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char)s.ptr[len] & 0xC0) == 0x80)
            len--;
    }
    return str_from(s.ptr, len);
}

static struct str short_sha(struct str s)
{
    return s.ptr && s.len > ACTIVITY_SHA_SHOWN ? str_from(s.ptr, ACTIVITY_SHA_SHOWN) : s;
}

static struct str who(const struct ingest_person *p)
{
    return p->login.ptr ? p->login : p->name;
}

static bool may_retry(const struct http_request *req)
{
    return authz_allows(authz_role_parse(str_from_cstr(req->principal.role)),
                        AUTHZ_INTEGRATIONS_MANAGE);
}

/* ---- /activity ----------------------------------------------------------------------- */

static void deliveries_table(struct page *pg, const struct ingest_delivery *rows, size_t n,
                             const struct ingest_cursor *next)
{
    struct html *h = &pg->h;
    html_tag(h, "<h2>Deliveries</h2>\n");
    if (n == 0) {
        page_para(pg, "No deliveries yet.");
        return;
    }
    html_tag(h, "<table>\n<caption>Recent deliveries</caption>\n<thead><tr>"
                "<th scope=\"col\">Received</th><th scope=\"col\">Provider</th>"
                "<th scope=\"col\">Event</th><th scope=\"col\">Status</th>"
                "<th scope=\"col\">Error</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const struct ingest_delivery *d = &rows[i];
        html_tag(h, "<tr>");
        cell_time(h, d->received_at);
        cell(h, d->provider);
        cell(h, d->event);
        cell(h, str_from_cstr(ingest_delivery_status_name(d->status)));
        cell(h, d->error);
        html_tag(h, "</tr>\n");
    }
    html_tag(h, "</tbody>\n</table>\n");
    if (next->id[0]) {
        struct buf link = BUF_INIT(ACTIVITY_LINK_CAP);
        if (buf_puts(&link, ACTIVITY_PATH "?cursor=") == ERR_OK &&
            api_cursor_encode('d', next, &link) == ERR_OK) {
            html_tag(h, "<p><a");
            html_attr(h, "href", str_from(buf_cstr(&link), link.len));
            html_tag(h, ">Older deliveries</a></p>\n");
        }
        buf_release(&link);
    }
}

static void repositories_table(struct page *pg, const struct ingest_repo *rows, size_t n, bool more)
{
    struct html *h = &pg->h;
    html_tag(h, "<h2>Repositories</h2>\n");
    if (n == 0) {
        page_para(pg, "No repositories yet: they appear with their first delivery.");
        return;
    }
    html_tag(h, "<table>\n<caption>Repositories</caption>\n<thead><tr>"
                "<th scope=\"col\">Repository</th><th scope=\"col\">Default branch</th>"
                "</tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const struct ingest_repo *r = &rows[i];
        char *href = arena_printf(pg->req->arena, ACTIVITY_PATH "/repositories/%.*s",
                                  (int)r->id.len, r->id.ptr);
        html_tag(h, "<tr><th scope=\"row\"><a");
        html_attr(h, "href", str_from_cstr(href ? href : ACTIVITY_PATH));
        html_tag(h, ">");
        html_text(h, r->full_name.ptr ? r->full_name : r->id);
        html_tag(h, "</a></th>");
        cell(h, r->default_branch);
        html_tag(h, "</tr>\n");
    }
    html_tag(h, "</tbody>\n</table>\n");
    if (more)
        page_para(pg, "More repositories than shown here: the API lists them all "
                      "(GET /api/v1/repositories).");
}

static void dead_table(struct page *pg, const struct jobs_info *rows, size_t n)
{
    struct html *h = &pg->h;
    html_tag(h, "<h2>Dead letters</h2>\n");
    if (n == 0) {
        page_para(pg, "No dead jobs.");
        return;
    }
    bool retry = may_retry(pg->req);
    page_para(pg, "Jobs that failed for good. A retry runs one again from its first attempt.");
    html_tag(h, "<table>\n<caption>Dead jobs</caption>\n<thead><tr>"
                "<th scope=\"col\">Job</th><th scope=\"col\">Kind</th>"
                "<th scope=\"col\">Works on</th><th scope=\"col\">Attempts</th>"
                "<th scope=\"col\">Died</th><th scope=\"col\">Last error</th>");
    if (retry)
        html_tag(h, "<th scope=\"col\"><span class=\"skip\">Actions</span></th>");
    html_tag(h, "</tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const struct jobs_info *j = &rows[i];
        char attempts[32];
        snprintf(attempts, sizeof attempts, "%d of %d", j->attempts, j->max_attempts);
        html_tag(h, "<tr><td><code>");
        html_ctext(h, j->id);
        html_tag(h, "</code></td>");
        cell(h, str_from_cstr(j->kind));
        html_tag(h, "<td><code>");
        html_ctext(h, j->ref);
        html_tag(h, "</code></td>");
        cell(h, str_from_cstr(attempts));
        cell_time(h, j->finished_at);
        cell(h, j->last_error[0] ? str_from_cstr(j->last_error) : STR_NULL);
        if (retry) {
            char action[sizeof ACTIVITY_PATH + JOBS_ID_LEN + 16];
            snprintf(action, sizeof action, ACTIVITY_PATH "/jobs/%s/retry", j->id);
            html_tag(h, "<td>");
            page_form(pg, action, NULL);
            html_tag(h, "<button type=\"submit\" class=\"secondary\"");
            char *aria = arena_printf(pg->req->arena, "Retry job %s", j->id);
            html_attr(h, "aria-label", str_from_cstr(aria ? aria : "Retry"));
            html_tag(h, ">Retry</button>\n</form></td>");
        }
        html_tag(h, "</tr>\n");
    }
    html_tag(h, "</tbody>\n</table>\n");
}

enum err console_activity_page(struct http_request *req, struct http_response *resp)
{
    struct api_list_query q;
    enum err e = api_list_query(req, 'd', &q);
    if (e)
        return e;
    q.limit = ACTIVITY_PAGE_ROWS;
    struct tx *tx;
    e = storage_begin(req->app->storage, &req->principal.user.tenant, TX_READ, &tx);
    if (e)
        return http_fail(req, e, "activity page: begin: %s", err_name(e));
    struct ingest_delivery *deliveries = NULL;
    struct ingest_repo *repos = NULL;
    struct jobs_info *dead = NULL;
    size_t n_deliveries = 0, n_repos = 0, n_dead = 0;
    struct ingest_cursor next_delivery, next_repo, next_job;
    e = api_deliveries_page(req, tx, STR_NULL, &q, &deliveries, &n_deliveries, &next_delivery);
    if (!e)
        e = ingest_repositories_list(tx, NULL, ACTIVITY_REPO_ROWS, req->arena, &repos, &n_repos,
                                     &next_repo);
    if (!e) {
        struct api_list_query jq = {.limit = ACTIVITY_PAGE_ROWS};
        e = api_jobs_page(req, tx, STR_LIT("dead"), &jq, &dead, &n_dead, &next_job);
    }
    storage_rollback(tx);
    if (e)
        return http_fail(req, e, "activity page: %s", err_name(e));
    struct page pg;
    page_open(&pg, req, resp, "Activity");
    page_para(&pg, "What the integrations' webhooks brought in: each delivery as received, and "
                   "per repository the changes shiplog keeps (metadata, never source code).");
    deliveries_table(&pg, deliveries, n_deliveries, &next_delivery);
    repositories_table(&pg, repos, n_repos, next_repo.id[0] != '\0');
    dead_table(&pg, dead, n_dead);
    return page_send(&pg, 200);
}

/* ---- /activity/repositories/{id} ------------------------------------------------------- */

/* The organization's repository id into *out (in the arena); ERR_NOT_FOUND when it has none. */
static enum err find_repo(struct http_request *req, struct tx *tx, struct str id,
                          struct ingest_repo *out)
{
    if (id.len == 0 || id.len > INGEST_MAX_ID)
        return ERR_NOT_FOUND;
    struct ingest_cursor at = {0};
    for (int page = 0; page < ACTIVITY_REPO_SCAN; page++) {
        struct ingest_repo *rows = NULL;
        size_t n = 0;
        struct ingest_cursor next;
        enum err e =
            ingest_repositories_list(tx, &at, INGEST_MAX_PAGE, req->arena, &rows, &n, &next);
        if (e)
            return e;
        for (size_t i = 0; i < n; i++)
            if (str_eq(rows[i].id, id)) {
                *out = rows[i];
                return ERR_OK;
            }
        if (next.id[0] == '\0')
            break;
        at = next;
    }
    return ERR_NOT_FOUND;
}

static void commits_table(struct page *pg, const struct ingest_commit *rows, size_t n)
{
    struct html *h = &pg->h;
    html_tag(h, "<h2>Commits</h2>\n");
    if (n == 0) {
        page_para(pg, "No commits known.");
        return;
    }
    html_tag(h, "<table>\n<caption>Commits</caption>\n<thead><tr>"
                "<th scope=\"col\">Commit</th><th scope=\"col\">Message</th>"
                "<th scope=\"col\">Author</th><th scope=\"col\">Branch</th>"
                "<th scope=\"col\">Files</th><th scope=\"col\">Time</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const struct ingest_commit *c = &rows[i];
        char files[24] = "-";
        if (c->files_changed >= 0)
            snprintf(files, sizeof files, "%lld", (long long)c->files_changed);
        html_tag(h, "<tr><th scope=\"row\"><code>");
        html_text(h, short_sha(c->sha));
        html_tag(h, "</code></th>");
        cell(h, first_line(c->message, ACTIVITY_MSG_CUT));
        cell(h, who(&c->author));
        cell(h, c->branch);
        cell(h, str_from_cstr(files));
        cell_time(h, c->committed_at ? c->committed_at : c->authored_at);
        html_tag(h, "</tr>\n");
    }
    html_tag(h, "</tbody>\n</table>\n");
}

static void prs_table(struct page *pg, const struct ingest_pr *rows, size_t n)
{
    struct html *h = &pg->h;
    html_tag(h, "<h2>Pull requests</h2>\n");
    if (n == 0) {
        page_para(pg, "No pull requests known.");
        return;
    }
    html_tag(h, "<table>\n<caption>Pull requests</caption>\n<thead><tr>"
                "<th scope=\"col\">Number</th><th scope=\"col\">Title</th>"
                "<th scope=\"col\">State</th><th scope=\"col\">Author</th>"
                "<th scope=\"col\">Created</th><th scope=\"col\">Merged</th>"
                "</tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const struct ingest_pr *p = &rows[i];
        char number[24] = "-";
        if (p->number >= 0)
            snprintf(number, sizeof number, "#%lld", (long long)p->number);
        html_tag(h, "<tr><th scope=\"row\">");
        html_ctext(h, number);
        html_tag(h, "</th>");
        cell(h, first_line(p->title, INGEST_MAX_TITLE));
        cell(h, p->state);
        cell(h, who(&p->author));
        cell_time(h, p->created_at);
        cell_time(h, p->merged_at);
        html_tag(h, "</tr>\n");
    }
    html_tag(h, "</tbody>\n</table>\n");
}

static void deployments_table(struct page *pg, const struct ingest_deployment *rows, size_t n)
{
    struct html *h = &pg->h;
    html_tag(h, "<h2>Deployments</h2>\n");
    if (n == 0) {
        page_para(pg, "No deployments known.");
        return;
    }
    html_tag(h, "<table>\n<caption>Deployments</caption>\n<thead><tr>"
                "<th scope=\"col\">Environment</th><th scope=\"col\">Status</th>"
                "<th scope=\"col\">Commit</th><th scope=\"col\">Created</th>"
                "<th scope=\"col\">Finished</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const struct ingest_deployment *d = &rows[i];
        html_tag(h, "<tr><th scope=\"row\">");
        html_text(h, d->environment.ptr ? d->environment : STR_LIT("-"));
        html_tag(h, "</th>");
        cell(h, d->status);
        cell(h, short_sha(d->sha));
        cell_time(h, d->created_at);
        cell_time(h, d->finished_at);
        html_tag(h, "</tr>\n");
    }
    html_tag(h, "</tbody>\n</table>\n");
}

enum err console_activity_repository(struct http_request *req, struct http_response *resp)
{
    struct str id = http_param(req, "id");
    struct tx *tx;
    enum err e = storage_begin(req->app->storage, &req->principal.user.tenant, TX_READ, &tx);
    if (e)
        return http_fail(req, e, "repository page: begin: %s", err_name(e));
    struct ingest_repo repo;
    struct ingest_commit *commits = NULL;
    struct ingest_pr *prs = NULL;
    struct ingest_deployment *deps = NULL;
    size_t n_commits = 0, n_prs = 0, n_deps = 0;
    struct ingest_cursor next;
    e = find_repo(req, tx, id, &repo);
    if (!e)
        e = ingest_commits_list(tx, repo.id, NULL, ACTIVITY_PAGE_ROWS, req->arena, &commits,
                                &n_commits, &next);
    if (!e)
        e = ingest_prs_list(tx, repo.id, STR_NULL, NULL, ACTIVITY_PAGE_ROWS, req->arena, &prs,
                            &n_prs, &next);
    if (!e)
        e = ingest_deployments_list(tx, repo.id, STR_NULL, NULL, ACTIVITY_PAGE_ROWS, req->arena,
                                    &deps, &n_deps, &next);
    storage_rollback(tx);
    if (e)
        return e == ERR_NOT_FOUND ? e : http_fail(req, e, "repository page: %s", err_name(e));
    struct page pg;
    page_open(&pg, req, resp, "Repository");
    struct html *h = &pg.h;
    html_tag(h, "<dl>\n<dt>Name</dt><dd>");
    html_text(h, repo.full_name.ptr ? repo.full_name : STR_LIT("(not known yet)"));
    html_tag(h, "</dd>\n<dt>Id</dt><dd><code>");
    html_text(h, repo.id);
    html_tag(h, "</code></dd>\n");
    if (repo.url.ptr && (str_starts_with(repo.url, STR_LIT("https://")) ||
                         str_starts_with(repo.url, STR_LIT("http://")))) {
        html_tag(h, "<dt>At the provider</dt><dd><a rel=\"noopener noreferrer\"");
        html_attr(h, "href", repo.url);
        html_tag(h, ">");
        html_text(h, repo.url);
        html_tag(h, "</a></dd>\n");
    }
    html_tag(h, "</dl>\n");
    page_para(&pg, "The most recent changes, newest first; the API pages through all of them.");
    commits_table(&pg, commits, n_commits);
    prs_table(&pg, prs, n_prs);
    deployments_table(&pg, deps, n_deps);
    html_tag(h, "<p><a href=\"" ACTIVITY_PATH "\">Back to activity</a></p>\n");
    return page_send(&pg, 200);
}

/* ---- retry ---------------------------------------------------------------------------- */

enum err console_activity_job_retry(struct http_request *req, struct http_response *resp)
{
    struct jobs_info j;
    enum err e = activity_do_job_retry(req, http_param(req, "id"), &j);
    return e ? e : page_redirect(req, resp, ACTIVITY_PATH);
}
