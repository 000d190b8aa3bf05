/*
 * Unit tests for ingest_normalize_bitbucket (Cloud and Data Center): every
 * fixture normalizes; a representative set compared field by field with
 * values read off the fixture by hand; bots; malformed and oversized input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "ingest/normalize.h"

#define REPO_UUID "673a6070-3421-46c9-9d48-90745f7bfe8e" /* repository.uuid, braces stripped */
#define EMMA_UUID "a54f16da-24e9-4d7f-a3a7-b1ba2cd98aa3"
#define DC_REPO   "~gopher/webhook-test" /* project.key "/" slug */

static struct arena *arena;

static int setup(void **state)
{
    (void)state;
    arena = arena_new(ARENA_DEFAULT_CAP);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    arena_free(arena);
    return 0;
}

static void assert_str(struct str s, const char *want)
{
    if (!want) {
        if (s.ptr)
            fail_msg("want unknown, got \"%.*s\"", (int)s.len, s.ptr);
        return;
    }
    if (!s.ptr)
        fail_msg("want \"%s\", got unknown", want);
    if (!str_eq_cstr(s, want))
        fail_msg("want \"%s\", got \"%.*s\"", want, (int)s.len, s.ptr);
}

static enum err run(bool server, const char *event, const char *file,
                    const struct ingest_norm_options *opt, struct ingest_batch *b)
{
    struct json *doc = fixture_load(server ? "bitbucket-server" : "bitbucket", file);
    enum err e = ingest_normalize_bitbucket(server, str_from_cstr(event), doc, opt, arena, b);
    /* every pointer of the batch points into doc or the arena: keep doc alive
     * with the arena (freed at teardown) */
    assert_int_equal(arena_defer(arena, (void (*)(void *))json_free, doc), ERR_OK);
    return e;
}

static enum err run_text(bool server, const char *event, const char *text, struct ingest_batch *b)
{
    struct json *doc = fixture_parse(text, strlen(text));
    enum err e = ingest_normalize_bitbucket(server, str_from_cstr(event), doc, NULL, arena, b);
    assert_int_equal(arena_defer(arena, (void (*)(void *))json_free, doc), ERR_OK);
    return e;
}

/* ---- 1. every fixture ---------------------------------------------------- */

struct fixture {
    const char *file;
    const char *event;
    bool empty; /* carries no change metadata: empty batch */
};

static const struct fixture cloud_fixtures[] = {
    {"commit-comment-created.json", "repo:commit_comment_created", true},
    {"issue-comment-created.json", "issue:comment_created", true},
    {"issue-created.json", "issue:created", true},
    {"issue-updated.json", "issue:updated", true},
    {"pull-request-approval-removed.json", "pullrequest:unapproved", false},
    {"pull-request-approved.json", "pullrequest:approved", false},
    {"pull-request-comment-created.json", "pullrequest:comment_created", false},
    {"pull-request-comment-deleted.json", "pullrequest:comment_deleted", false},
    {"pull-request-comment-updated.json", "pullrequest:comment_updated", false},
    {"pull-request-created.json", "pullrequest:created", false},
    {"pull-request-declined.json", "pullrequest:rejected", false},
    {"pull-request-merged.json", "pullrequest:fulfilled", false},
    {"pull-request-updated.json", "pullrequest:updated", false},
    {"repo-commit-status-created.json", "repo:commit_status_created", false},
    {"repo-commit-status-updated.json", "repo:commit_status_updated", false},
    {"repo-fork.json", "repo:fork", false},
    {"repo-push.json", "repo:push", false},
    {"repo-updated.json", "repo:updated", false},
};

static const struct fixture server_fixtures[] = {
    {"pr-comment-added.json", "pr:comment:added", false},
    {"pr-comment-deleted.json", "pr:comment:deleted", false},
    {"pr-comment-edited.json", "pr:comment:edited", false},
    {"pr-declined.json", "pr:declined", false},
    {"pr-deleted.json", "pr:deleted", false},
    {"pr-merged.json", "pr:merged", false},
    {"pr-modified.json", "pr:modified", false},
    {"pr-opened.json", "pr:opened", false},
    {"pr-reviewer-approved.json", "pr:reviewer:approved", false},
    {"pr-reviewer-needs-work.json", "pr:reviewer:needs_work", false},
    {"pr-reviewer-unapproved.json", "pr:reviewer:unapproved", false},
    {"pr-reviewer-updated.json", "pr:reviewer:updated", false},
    {"repo-comment-added.json", "repo:comment:added", true},
    {"repo-comment-deleted.json", "repo:comment:deleted", true},
    {"repo-comment-edited.json", "repo:comment:edited", true},
    {"repo-forked.json", "repo:forked", false},
    {"repo-modified.json", "repo:modified", false},
    {"repo-refs-changed.json", "repo:refs_changed", false},
};

static void check_all(bool server, const struct fixture *fx, size_t n)
{
    const char *names[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) {
        names[i] = fx[i].file;
        struct ingest_batch b;
        enum err e = run(server, fx[i].event, fx[i].file, NULL, &b);
        if (e != ERR_OK)
            fail_msg("%s: %s", fx[i].file, err_name(e));
        assert_str(b.event, fx[i].event);
        size_t rows =
            b.n_repos + b.n_commits + b.n_prs + b.n_reviews + b.n_deployments + b.n_releases;
        if (fx[i].empty && rows != 0)
            fail_msg("%s: want an empty batch, got %zu rows", fx[i].file, rows);
        if (!fx[i].empty && b.n_repos == 0)
            fail_msg("%s: want a repository row", fx[i].file);
        for (size_t k = 0; k < b.n_repos; k++)
            assert_true(b.repos[k].id.len <= INGEST_MAX_ID);
    }
    fixture_check_listed(server ? "bitbucket-server" : "bitbucket", names, n);
}

static void test_cloud_every_fixture(void **state)
{
    (void)state;
    check_all(false, cloud_fixtures, sizeof cloud_fixtures / sizeof *cloud_fixtures);
}

static void test_server_every_fixture(void **state)
{
    (void)state;
    check_all(true, server_fixtures, sizeof server_fixtures / sizeof *server_fixtures);
}

/* ---- 2. field by field --------------------------------------------------- */

static void assert_cloud_repo(const struct ingest_batch *b)
{
    assert_int_equal(b->n_repos, 1);
    assert_str(b->repos[0].id, "bitbucket:repo:" REPO_UUID);
    assert_str(b->repos[0].full_name, "team_name/repo_name");
    assert_str(b->repos[0].url, "https://api.bitbucket.org/bitbucket/bitbucket");
    assert_str(b->repos[0].default_branch, NULL);
}

static void test_cloud_push(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run(false, "repo:push", "repo-push.json", NULL, &b), ERR_OK);
    assert_str(b.event, "repo:push");
    assert_cloud_repo(&b);
    assert_int_equal(b.n_commits, 1);
    const struct ingest_commit *c = &b.commits[0];
    assert_str(c->id, "bitbucket:commit:" REPO_UUID ":03f4a7270240708834de475bcf21532d6134777e");
    assert_str(c->repo_id, "bitbucket:repo:" REPO_UUID);
    assert_str(c->sha, "03f4a7270240708834de475bcf21532d6134777e");
    assert_str(c->message, "commit message\n");
    assert_str(c->author.login, "emmap1"); /* author is the account itself here */
    assert_str(c->author.name, "Emma");
    assert_str(c->author.email, NULL);
    assert_false(c->author.bot);
    assert_str(c->committer.name, NULL);
    assert_int_equal(c->authored_at, 0); /* this commit entry has no date */
    assert_int_equal(c->committed_at, 0);
    assert_str(c->branch, "name-of-branch");
    assert_int_equal(c->n_files, 0);
    assert_null(c->files);
    assert_int_equal(c->files_changed, INGEST_UNKNOWN);
    assert_int_equal(c->additions, INGEST_UNKNOWN);
    assert_int_equal(c->deletions, INGEST_UNKNOWN);
    assert_int_equal(b.n_prs + b.n_reviews + b.n_releases + b.n_deployments, 0);
}

/* The fields every Cloud PR fixture shares. */
static void assert_cloud_pr(const struct ingest_pr *pr)
{
    assert_str(pr->id, "bitbucket:pr:" REPO_UUID ":1");
    assert_str(pr->repo_id, "bitbucket:repo:" REPO_UUID);
    assert_int_equal(pr->number, 1);
    assert_str(pr->title, "Title of pull request");
    assert_str(pr->description, "Description of pull request");
    assert_int_equal(pr->draft, INGEST_TRI_UNKNOWN);
    assert_false(pr->labels_known);
    assert_int_equal(pr->n_labels, 0);
    assert_str(pr->author.login, "emmap1");
    assert_str(pr->author.name, "Emma");
    assert_str(pr->author.email, NULL);
    assert_false(pr->author.bot);
    assert_str(pr->source_branch, "branch2");
    assert_str(pr->target_branch, "master");
    assert_int_equal(pr->created_at, 1428333818); /* 2015-04-06T15:23:38.179678+00:00 */
    assert_int_equal(pr->updated_at, 1428333818); /* 2015-04-06T15:23:38.205705+00:00 */
    assert_str(pr->merge_commit_sha, "764413d85e29");
    assert_int_equal(pr->commits, INGEST_UNKNOWN);
    assert_int_equal(pr->additions, INGEST_UNKNOWN);
    assert_int_equal(pr->deletions, INGEST_UNKNOWN);
    assert_int_equal(pr->changed_files, INGEST_UNKNOWN);
}

static void test_cloud_pr_created(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run(false, "pullrequest:created", "pull-request-created.json", NULL, &b),
                     ERR_OK);
    assert_cloud_repo(&b);
    assert_int_equal(b.n_prs, 1);
    const struct ingest_pr *pr = &b.prs[0];
    assert_cloud_pr(pr);
    /* the sample's state is the placeholder "OPEN|MERGED|DECLINED": the event says open */
    assert_str(pr->state, "open");
    assert_int_equal(pr->ready_at, 1428333818); /* opened ready: = created_on */
    assert_int_equal(pr->merged_at, 0);
    assert_int_equal(pr->closed_at, 0);
    assert_int_equal(pr->first_review_at, 0);
    assert_int_equal(pr->approved_at, 0);
    assert_int_equal(b.n_reviews + b.n_commits, 0);
}

static void test_cloud_pr_merged(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run(false, "pullrequest:fulfilled", "pull-request-merged.json", NULL, &b),
                     ERR_OK);
    assert_str(b.event, "pullrequest:fulfilled");
    assert_cloud_repo(&b);
    assert_int_equal(b.n_prs, 1);
    const struct ingest_pr *pr = &b.prs[0];
    assert_cloud_pr(pr);
    assert_str(pr->state, "merged");
    assert_int_equal(pr->ready_at, 0);
    /* no closed_on in the payload: updated_on (2015-04-06T15:23:38.205705+00:00) */
    assert_int_equal(pr->merged_at, 1428333818);
    assert_int_equal(pr->closed_at, 1428333818);
}

static void test_cloud_pr_declined(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run(false, "pullrequest:rejected", "pull-request-declined.json", NULL, &b),
                     ERR_OK);
    assert_str(b.prs[0].state, "closed");
    assert_int_equal(b.prs[0].merged_at, 0);
    assert_int_equal(b.prs[0].closed_at, 1428333818); /* updated_on */
}

static void test_cloud_pr_approved(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run(false, "pullrequest:approved", "pull-request-approved.json", NULL, &b),
                     ERR_OK);
    assert_cloud_repo(&b);
    assert_int_equal(b.n_prs, 1);
    assert_cloud_pr(&b.prs[0]);
    assert_int_equal(b.n_reviews, 1);
    const struct ingest_review *r = &b.reviews[0];
    /* approval.date 2015-04-06T16:34:59.195330+00:00 = 1428338099 */
    assert_str(r->id, "bitbucket:review:" REPO_UUID ":1:" EMMA_UUID ":approved:1428338099");
    assert_str(r->repo_id, "bitbucket:repo:" REPO_UUID);
    assert_str(r->pr_id, "bitbucket:pr:" REPO_UUID ":1");
    assert_int_equal(r->kind, INGEST_REVIEW);
    assert_str(r->state, "approved");
    assert_str(r->reviewer.login, "emmap1");
    assert_str(r->reviewer.name, "Emma");
    assert_int_equal(r->submitted_at, 1428338099);
    /* the sample's author approves her own PR: that is not a review by someone else */
    assert_int_equal(b.prs[0].approved_at, 0);
    assert_int_equal(b.prs[0].first_review_at, 0);
}

static void test_cloud_pr_approved_by_other(void **state)
{
    (void)state;
    const char *body =
        "{\"repository\":{\"uuid\":\"{r-1}\",\"full_name\":\"w/r\"},"
        "\"pullrequest\":{\"id\":8,\"state\":\"OPEN\",\"author\":{\"uuid\":\"{u-1}\"}},"
        "\"approval\":{\"date\":\"2024-01-02T03:04:05+00:00\","
        "\"user\":{\"uuid\":\"{u-2}\",\"nickname\":\"rev\",\"type\":\"user\"}}}";
    struct ingest_batch b;
    assert_int_equal(run_text(false, "pullrequest:approved", body, &b), ERR_OK);
    /* 2024-01-02T03:04:05+00:00 = 1704164645 */
    assert_int_equal(b.prs[0].approved_at, 1704164645);
    assert_int_equal(b.prs[0].first_review_at, 1704164645);
    assert_str(b.reviews[0].id, "bitbucket:review:r-1:8:u-2:approved:1704164645");

    assert_int_equal(run_text(false, "pullrequest:unapproved", body, &b), ERR_OK);
    assert_str(b.reviews[0].state, "unapproved");
    assert_int_equal(b.prs[0].approved_at, 0);

    const char *cr = "{\"repository\":{\"uuid\":\"{r-1}\"},\"pullrequest\":{\"id\":8},"
                     "\"changes_request\":{\"date\":\"2024-01-02T03:04:05Z\","
                     "\"user\":{\"uuid\":\"{u-2}\"}}}";
    assert_int_equal(run_text(false, "pullrequest:changes_request_created", cr, &b), ERR_OK);
    assert_str(b.reviews[0].state, "changes_requested");
    assert_int_equal(b.prs[0].first_review_at, 1704164645);
    assert_int_equal(run_text(false, "pullrequest:changes_request_removed", cr, &b), ERR_OK);
    assert_str(b.reviews[0].state, "dismissed");
}

static void test_cloud_pr_comment_created(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(
        run(false, "pullrequest:comment_created", "pull-request-comment-created.json", NULL, &b),
        ERR_OK);
    assert_cloud_repo(&b);
    assert_int_equal(b.n_prs, 1);
    assert_cloud_pr(&b.prs[0]);
    assert_int_equal(b.n_reviews, 1);
    const struct ingest_review *r = &b.reviews[0];
    assert_str(r->id, "bitbucket:comment:17");
    assert_str(r->pr_id, "bitbucket:pr:" REPO_UUID ":1");
    assert_int_equal(r->kind, INGEST_REVIEW_COMMENT);
    assert_str(r->state, "commented");
    assert_str(r->reviewer.login, "emmap1");       /* the comment has no user: the actor */
    assert_int_equal(r->submitted_at, 1428339149); /* 2015-04-06T16:52:29.982346+00:00 */
    assert_int_equal(b.prs[0].first_review_at, 0); /* the author's own comment */

    assert_int_equal(
        run(false, "pullrequest:comment_deleted", "pull-request-comment-deleted.json", NULL, &b),
        ERR_OK);
    assert_str(b.reviews[0].state, "deleted");
}

static void test_cloud_fork_and_update(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run(false, "repo:fork", "repo-fork.json", NULL, &b), ERR_OK);
    assert_int_equal(b.n_repos, 1); /* the sample's fork has the origin's uuid: one row */
    assert_str(b.repos[0].id, "bitbucket:repo:" REPO_UUID);
    const char *body = "{\"repository\":{\"uuid\":\"{r-1}\",\"full_name\":\"w/r\"},"
                       "\"fork\":{\"uuid\":\"{r-2}\",\"full_name\":\"me/r\"}}";
    assert_int_equal(run_text(false, "repo:fork", body, &b), ERR_OK);
    assert_int_equal(b.n_repos, 2);
    assert_str(b.repos[0].id, "bitbucket:repo:r-1");
    assert_str(b.repos[1].id, "bitbucket:repo:r-2");
    assert_str(b.repos[1].full_name, "me/r");
    assert_int_equal(run(false, "repo:updated", "repo-updated.json", NULL, &b), ERR_OK);
    assert_int_equal(b.n_repos, 1);
    assert_str(b.repos[0].full_name, "teamawesome/repository"); /* changes.full_name.new */
}

static void test_cloud_tag_and_raw_author(void **state)
{
    (void)state;
    const char *body =
        "{\"repository\":{\"uuid\":\"{r-1}\",\"mainbranch\":{\"name\":\"main\"}},"
        "\"push\":{\"changes\":["
        "{\"new\":{\"type\":\"tag\",\"name\":\"v1.2.0\",\"date\":\"2024-05-01T10:00:00+02:00\","
        "\"target\":{\"hash\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}},\"commits\":[]},"
        "{\"new\":{\"type\":\"branch\",\"name\":\"main\"},\"commits\":["
        "{\"hash\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"message\":\"m\","
        "\"date\":\"2024-05-01T08:00:00Z\",\"author\":{\"raw\":\"Ada Lovelace <ada@ex.org>\","
        "\"user\":{\"nickname\":\"ada\",\"display_name\":\"Ada\",\"type\":\"user\"}}},"
        "{\"hash\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}]}]}}";
    struct ingest_batch b;
    assert_int_equal(run_text(false, "repo:push", body, &b), ERR_OK);
    assert_str(b.repos[0].default_branch, "main");
    assert_int_equal(b.n_releases, 1);
    assert_str(b.releases[0].id, "bitbucket:tag:r-1:v1.2.0");
    assert_int_equal(b.releases[0].kind, INGEST_TAG);
    assert_str(b.releases[0].tag, "v1.2.0");
    assert_str(b.releases[0].sha, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_int_equal(b.releases[0].published_at, 1714550400); /* 2024-05-01T10:00:00+02:00 */
    assert_int_equal(b.n_commits, 1);                         /* listed twice, kept once */
    assert_str(b.commits[0].author.login, "ada");
    assert_str(b.commits[0].author.name, "Ada Lovelace");
    assert_str(b.commits[0].author.email, "ada@ex.org");
    assert_int_equal(b.commits[0].authored_at, 1714550400); /* 2024-05-01T08:00:00Z */
    assert_str(b.commits[0].branch, "main");
}

static void test_server_pr_opened(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run(true, "pr:opened", "pr-opened.json", NULL, &b), ERR_OK);
    assert_str(b.event, "pr:opened");
    assert_int_equal(b.n_repos, 1);
    assert_str(b.repos[0].id, "bitbucket-server:repo:" DC_REPO);
    assert_str(b.repos[0].full_name, DC_REPO);
    assert_str(b.repos[0].url,
               "https://server.bitbucket.local/users/gopher/repos/webhook-test/browse");
    assert_int_equal(b.n_prs, 1);
    const struct ingest_pr *pr = &b.prs[0];
    assert_str(pr->id, "bitbucket-server:pr:" DC_REPO ":5");
    assert_str(pr->repo_id, "bitbucket-server:repo:" DC_REPO);
    assert_int_equal(pr->number, 5);
    assert_str(pr->title, "Update README");
    assert_str(pr->description, "yada yada yada");
    assert_str(pr->state, "open");
    assert_int_equal(pr->draft, INGEST_TRI_UNKNOWN);
    assert_str(pr->author.login, "gopher");
    assert_str(pr->author.name, "Foo Bar");
    assert_str(pr->author.email, NULL); /* account emails are not kept */
    assert_false(pr->author.bot);
    assert_str(pr->source_branch, "feature/wip");
    assert_str(pr->target_branch, "master");
    assert_int_equal(pr->created_at, 1551432675); /* createdDate 1551432675860 ms */
    assert_int_equal(pr->updated_at, 1551432675); /* updatedDate 1551432675860 ms */
    assert_int_equal(pr->ready_at, 1551432675);
    assert_int_equal(pr->merged_at, 0);
    assert_int_equal(pr->closed_at, 0);
    assert_str(pr->merge_commit_sha, NULL);
    assert_int_equal(pr->commits, INGEST_UNKNOWN);
    assert_int_equal(b.n_reviews, 0);
}

static void test_server_pr_merged(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run(true, "pr:merged", "pr-merged.json", NULL, &b), ERR_OK);
    const struct ingest_pr *pr = &b.prs[0];
    assert_str(pr->id, "bitbucket-server:pr:" DC_REPO ":5");
    assert_str(pr->state, "merged");
    assert_int_equal(pr->created_at, 1551432675); /* createdDate 1551432675860 */
    assert_int_equal(pr->updated_at, 1551433034); /* updatedDate 1551433034286 */
    assert_int_equal(pr->merged_at, 1551433034);  /* closedDate 1551433034286 */
    assert_int_equal(pr->closed_at, 1551433034);
    assert_int_equal(pr->ready_at, 0);
    assert_str(pr->merge_commit_sha, "cbf26be7bfc8394906abbd571498fb8d28888b58");
    assert_int_equal(b.n_reviews, 0);
}

static void test_server_reviewer_approved(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run(true, "pr:reviewer:approved", "pr-reviewer-approved.json", NULL, &b),
                     ERR_OK);
    assert_int_equal(b.n_reviews, 1);
    const struct ingest_review *r = &b.reviews[0];
    /* participant.user.id 2125; date "2019-03-01T10:35:38+0100" = 1551432938 */
    assert_str(r->id, "bitbucket-server:review:" DC_REPO ":5:2125:approved:1551432938");
    assert_str(r->pr_id, "bitbucket-server:pr:" DC_REPO ":5");
    assert_str(r->repo_id, "bitbucket-server:repo:" DC_REPO);
    assert_int_equal(r->kind, INGEST_REVIEW);
    assert_str(r->state, "approved");
    assert_str(r->reviewer.login, "tux");
    assert_str(r->reviewer.name, "Cain Piper");
    assert_str(r->reviewer.email, NULL);
    assert_int_equal(r->submitted_at, 1551432938);
    /* tux (2125) is not the author gopher (3231) */
    assert_int_equal(b.prs[0].approved_at, 1551432938);
    assert_int_equal(b.prs[0].first_review_at, 1551432938);
}

static void test_server_reviewer_needs_work(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run(true, "pr:reviewer:needs_work", "pr-reviewer-needs-work.json", NULL, &b),
                     ERR_OK);
    assert_int_equal(b.n_reviews, 1);
    const struct ingest_review *r = &b.reviews[0];
    /* date "2019-03-01T10:34:53+0100" = 1551432893 */
    assert_str(r->id, "bitbucket-server:review:" DC_REPO ":5:2125:changes_requested:1551432893");
    assert_str(r->state, "changes_requested");
    assert_str(r->reviewer.login, "tux");
    assert_int_equal(r->submitted_at, 1551432893);
    assert_int_equal(b.prs[0].approved_at, 0);
    assert_int_equal(b.prs[0].first_review_at, 1551432893);

    assert_int_equal(run(true, "pr:reviewer:unapproved", "pr-reviewer-unapproved.json", NULL, &b),
                     ERR_OK);
    assert_str(b.reviews[0].state, "unapproved");
    assert_int_equal(b.prs[0].first_review_at, 0);
}

static void test_server_comment(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run(true, "pr:comment:added", "pr-comment-added.json", NULL, &b), ERR_OK);
    assert_int_equal(b.n_reviews, 1);
    assert_str(b.reviews[0].id, "bitbucket-server:comment:167");
    assert_int_equal(b.reviews[0].kind, INGEST_REVIEW_COMMENT);
    assert_str(b.reviews[0].state, "commented");
    assert_str(b.reviews[0].reviewer.login, "gopher");
    assert_int_equal(b.reviews[0].submitted_at, 1551431315); /* createdDate 1551431315592 */
}

static void test_server_refs_changed(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run(true, "repo:refs_changed", "repo-refs-changed.json", NULL, &b), ERR_OK);
    assert_int_equal(b.n_repos, 1);
    assert_str(b.repos[0].id, "bitbucket-server:repo:" DC_REPO);
    assert_str(b.repos[0].full_name, DC_REPO);
    assert_str(b.repos[0].url,
               "https://server.bitbucket.local/users/gopher/repos/webhook-test/browse");
    /* one change: branch feature/wip DELETEd; no commits array in this version */
    assert_int_equal(b.n_commits, 0);
    assert_int_equal(b.n_releases, 0);
    assert_int_equal(b.n_prs + b.n_reviews, 0);

    /* the event key from the body when no header was passed */
    assert_int_equal(run(true, "", "repo-refs-changed.json", NULL, &b), ERR_OK);
    assert_str(b.event, "repo:refs_changed");
    assert_int_equal(b.n_repos, 1);
}

static void test_server_refs_changed_tag_and_commits(void **state)
{
    (void)state;
    const char *body =
        "{\"date\":\"2017-09-19T09:45:32+1000\","
        "\"repository\":{\"slug\":\"repo\",\"project\":{\"key\":\"PROJ\"}},"
        "\"changes\":["
        "{\"ref\":{\"id\":\"refs/tags/v2\",\"displayId\":\"v2\",\"type\":\"TAG\"},"
        "\"fromHash\":\"0000000000000000000000000000000000000000\","
        "\"toHash\":\"178864a7d521b6f5e720b386b2c2b0ef8563e0dc\",\"type\":\"ADD\"},"
        "{\"ref\":{\"id\":\"refs/heads/master\",\"displayId\":\"master\",\"type\":\"BRANCH\"},"
        "\"toHash\":\"178864a7d521b6f5e720b386b2c2b0ef8563e0dc\",\"type\":\"UPDATE\"}],"
        "\"commits\":[{\"id\":\"178864a7d521b6f5e720b386b2c2b0ef8563e0dc\",\"message\":\"fix\","
        "\"author\":{\"name\":\"Ada\",\"emailAddress\":\"ada@ex.org\"},"
        "\"authorTimestamp\":1505778000000,"
        "\"committer\":{\"name\":\"admin\",\"emailAddress\":\"admin@ex.org\","
        "\"displayName\":\"Administrator\",\"id\":1,\"type\":\"SERVICE\"},"
        "\"committerTimestamp\":1505778300000}],"
        "\"toCommit\":{\"id\":\"178864a7d521b6f5e720b386b2c2b0ef8563e0dc\"}}";
    struct ingest_batch b;
    assert_int_equal(run_text(true, "repo:refs_changed", body, &b), ERR_OK);
    assert_int_equal(b.n_releases, 1);
    assert_str(b.releases[0].id, "bitbucket-server:tag:PROJ/repo:v2");
    assert_str(b.releases[0].sha, "178864a7d521b6f5e720b386b2c2b0ef8563e0dc");
    assert_int_equal(b.releases[0].published_at, 1505778332); /* 2017-09-19T09:45:32+1000 */
    assert_int_equal(b.n_commits, 1);                         /* toCommit repeats commits[0] */
    const struct ingest_commit *c = &b.commits[0];
    assert_str(c->id, "bitbucket-server:commit:PROJ/repo:178864a7d521b6f5e720b386b2c2b0ef8563e0dc");
    assert_str(c->branch, "master");
    assert_str(c->author.name, "Ada");
    assert_str(c->author.login, NULL);
    assert_str(c->author.email, "ada@ex.org");
    assert_int_equal(c->authored_at, 1505778000);
    assert_int_equal(c->committed_at, 1505778300);
    assert_str(c->committer.login, "admin");
    assert_str(c->committer.name, "Administrator");
    assert_true(c->committer.bot); /* a SERVICE user */
    assert_int_equal(c->files_changed, INGEST_UNKNOWN);
}

/* ---- 3. bots ------------------------------------------------------------- */

static void test_bots(void **state)
{
    (void)state;
    struct ingest_batch b;
    const struct str pats[] = {STR_LIT("emma*")};
    const struct ingest_norm_options opt = {pats, 1};
    assert_int_equal(run(false, "pullrequest:created", "pull-request-created.json", &opt, &b),
                     ERR_OK);
    assert_true(b.prs[0].author.bot); /* nickname emmap1 */
    assert_int_equal(run(false, "pullrequest:created", "pull-request-created.json", NULL, &b),
                     ERR_OK);
    assert_false(b.prs[0].author.bot);

    const struct str dc_pats[] = {STR_LIT("cain p?per")};
    const struct ingest_norm_options dc_opt = {dc_pats, 1};
    assert_int_equal(run(true, "pr:reviewer:approved", "pr-reviewer-approved.json", &dc_opt, &b),
                     ERR_OK);
    assert_true(b.reviews[0].reviewer.bot); /* displayName "Cain Piper" */
    assert_false(b.prs[0].author.bot);

    /* provider-declared: a Cloud app user, and the built-in list */
    const char *body = "{\"repository\":{\"uuid\":\"{r}\"},\"pullrequest\":{\"id\":2,"
                       "\"author\":{\"uuid\":\"{a}\",\"nickname\":\"deployer\","
                       "\"type\":\"app_user\"}}}";
    assert_int_equal(run_text(false, "pullrequest:created", body, &b), ERR_OK);
    assert_true(b.prs[0].author.bot);
    body = "{\"repository\":{\"uuid\":\"{r}\"},\"pullrequest\":{\"id\":2,"
           "\"author\":{\"nickname\":\"renovate-bot\",\"type\":\"user\"}}}";
    assert_int_equal(run_text(false, "pullrequest:created", body, &b), ERR_OK);
    assert_true(b.prs[0].author.bot);
}

/* ---- 4. malformed and oversized ------------------------------------------ */

static void test_invalid(void **state)
{
    (void)state;
    struct ingest_batch b;
    /* a PR without an id */
    assert_int_equal(
        run_text(false, "pullrequest:created",
                 "{\"repository\":{\"uuid\":\"{r}\"},\"pullrequest\":{\"title\":\"t\"}}", &b),
        ERR_INVALID);
    assert_int_equal(b.n_repos + b.n_prs, 0);
    assert_int_equal(run_text(false, "pullrequest:created",
                              "{\"repository\":{\"uuid\":\"{r}\"},\"pullrequest\":{\"id\":\"1\"}}",
                              &b),
                     ERR_INVALID);
    assert_int_equal(run_text(true, "pr:opened",
                              "{\"pullRequest\":{\"toRef\":{\"repository\":{\"slug\":\"s\","
                              "\"project\":{\"key\":\"P\"}}}}}",
                              &b),
                     ERR_INVALID);
    /* no repository id on a change event */
    assert_int_equal(run_text(false, "repo:push", "{\"push\":{\"changes\":[]}}", &b), ERR_INVALID);
    assert_int_equal(run_text(false, "pullrequest:created",
                              "{\"repository\":{\"uuid\":7},\"pullrequest\":{\"id\":1}}", &b),
                     ERR_INVALID);
    assert_int_equal(run_text(true, "repo:refs_changed", "{\"repository\":{\"slug\":\"s\"}}", &b),
                     ERR_INVALID);
    /* a key that would break the id's syntax */
    assert_int_equal(run_text(false, "repo:updated", "{\"repository\":{\"uuid\":\"a:b\"}}", &b),
                     ERR_INVALID);
    /* a commit without a usable hash */
    assert_int_equal(run_text(false, "repo:push",
                              "{\"repository\":{\"uuid\":\"{r}\"},\"push\":{\"changes\":[{"
                              "\"commits\":[{\"hash\":\"not hex\"}]}]}}",
                              &b),
                     ERR_INVALID);
    /* not an object */
    assert_int_equal(run_text(false, "repo:push", "[]", &b), ERR_INVALID);
    /* unrelated events: an empty batch, whatever the body */
    assert_int_equal(run_text(false, "issue:created", "{}", &b), ERR_OK);
    assert_int_equal(b.n_repos, 0);
    assert_int_equal(run_text(true, "diagnostics:ping", "{}", &b), ERR_OK);
    assert_int_equal(b.n_repos, 0);
}

static void test_wrong_types_are_unknown(void **state)
{
    (void)state;
    const char *body =
        "{\"repository\":{\"uuid\":\"{r}\",\"full_name\":5,\"links\":\"x\",\"mainbranch\":[]},"
        "\"pullrequest\":{\"id\":3,\"title\":7,\"description\":{},\"state\":1,\"draft\":\"yes\","
        "\"author\":\"someone\",\"source\":{\"branch\":\"b\"},\"destination\":[],"
        "\"created_on\":1428333818,\"updated_on\":\"yesterday\",\"closed_on\":true,"
        "\"merge_commit\":{\"hash\":12}},"
        "\"approval\":{\"date\":false,\"user\":{\"uuid\":\"{u}\",\"nickname\":9}}}";
    struct ingest_batch b;
    assert_int_equal(run_text(false, "pullrequest:approved", body, &b), ERR_OK);
    assert_str(b.repos[0].full_name, NULL);
    assert_str(b.repos[0].url, NULL);
    const struct ingest_pr *pr = &b.prs[0];
    assert_str(pr->title, NULL);
    assert_str(pr->description, NULL);
    assert_str(pr->state, NULL);
    assert_int_equal(pr->draft, INGEST_TRI_UNKNOWN);
    assert_str(pr->author.login, NULL);
    assert_str(pr->source_branch, NULL);
    assert_str(pr->target_branch, NULL);
    assert_int_equal(pr->created_at, 0);
    assert_int_equal(pr->updated_at, 0);
    assert_str(pr->merge_commit_sha, NULL);
    assert_int_equal(b.reviews[0].submitted_at, 0);
    assert_str(b.reviews[0].reviewer.login, NULL);

    const char *dc = "{\"date\":12,\"pullRequest\":{\"id\":4,\"createdDate\":\"x\","
                     "\"closedDate\":-5,\"author\":{\"user\":[]},\"fromRef\":7,"
                     "\"toRef\":{\"displayId\":3,\"repository\":{\"slug\":\"s\","
                     "\"project\":{\"key\":\"P\"},\"links\":{\"self\":{}}}}}}";
    assert_int_equal(run_text(true, "pr:merged", dc, &b), ERR_OK);
    assert_str(b.prs[0].state, "merged");
    assert_int_equal(b.prs[0].created_at, 0);
    assert_int_equal(b.prs[0].merged_at, 0);
    assert_str(b.prs[0].target_branch, NULL);
    assert_str(b.repos[0].url, NULL);
}

/* n commits spread over changes of at most 1000 (a JSON array's limit). */
static char *cloud_push_body(size_t n)
{
    size_t cap = 128 + n * 64;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t at =
        (size_t)snprintf(s, cap, "{\"repository\":{\"uuid\":\"{r}\"},\"push\":{\"changes\":[");
    for (size_t i = 0; i < n; i++) {
        if (i % 1000 == 0)
            at += (size_t)snprintf(s + at, cap - at, "%s{\"commits\":[", i ? "]}," : "");
        at += (size_t)snprintf(s + at, cap - at, "%s{\"hash\":\"%040zx\"}", i % 1000 ? "," : "",
                               i + 1);
    }
    at += (size_t)snprintf(s + at, cap - at, "%s]}}", n ? "]}" : "");
    assert_true(at < cap);
    return s;
}

static void test_row_limit(void **state)
{
    (void)state;
    struct ingest_batch b;
    char *body = cloud_push_body(INGEST_MAX_ROWS);
    assert_int_equal(run_text(false, "repo:push", body, &b), ERR_OK);
    assert_int_equal(b.n_commits, INGEST_MAX_ROWS);
    free(body);
    body = cloud_push_body(INGEST_MAX_ROWS + 1);
    assert_int_equal(run_text(false, "repo:push", body, &b), ERR_LIMIT);
    assert_int_equal(b.n_commits, 0);
    free(body);
}

static void test_id_limit(void **state)
{
    (void)state;
    /* "bitbucket-server:repo:" (22) + key "/" slug: 232 bytes of key fit, 233 do not */
    char body[1024];
    char key[300];
    for (size_t klen = 232; klen <= 233; klen++) {
        memset(key, 'K', klen);
        key[klen] = '\0';
        snprintf(body, sizeof body,
                 "{\"repository\":{\"slug\":\"s\",\"project\":{\"key\":\"%s\"}},\"changes\":[]}",
                 key);
        struct ingest_batch b;
        enum err e = run_text(true, "repo:refs_changed", body, &b);
        /* 22 + klen + 2 ("/s") bytes */
        assert_int_equal(e, 22 + klen + 2 <= INGEST_MAX_ID ? ERR_OK : ERR_LIMIT);
        if (e == ERR_OK)
            assert_int_equal(b.repos[0].id.len, INGEST_MAX_ID);
    }
}

static void test_userinfo_dropped(void **state)
{
    (void)state;
    const char *body = "{\"repository\":{\"uuid\":\"{r}\",\"links\":{\"html\":{\"href\":"
                       "\"https://user:tok@bitbucket.org/w/r\"}}}}";
    struct ingest_batch b;
    assert_int_equal(run_text(false, "repo:updated", body, &b), ERR_OK);
    assert_str(b.repos[0].url, "https://bitbucket.org/w/r");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cloud_every_fixture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_every_fixture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cloud_push, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cloud_pr_created, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cloud_pr_merged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cloud_pr_declined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cloud_pr_approved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cloud_pr_approved_by_other, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cloud_pr_comment_created, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cloud_fork_and_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cloud_tag_and_raw_author, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_pr_opened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_pr_merged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_reviewer_approved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_reviewer_needs_work, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_comment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_refs_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_refs_changed_tag_and_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_types_are_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_userinfo_dropped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
