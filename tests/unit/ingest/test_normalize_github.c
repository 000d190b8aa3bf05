/*
 * Unit tests for src/ingest/normalize_github.c: every GitHub fixture body,
 * field-by-field expectations for the representative ones (values read by hand
 * from the fixture files; times as Unix seconds with the ISO text beside
 * them), bots, and malformed bodies.
 */
#include "fixture.h"

/* X-GitHub-Event for each file of fixtures/webhooks/github, and its rows. */
static const struct fixture_case cases[] = {
    /* file                                     event                 rp cm pr rv dp rl */
    CASE("check-run.json", "check_run", 0, 0, 0, 0, 0, 0),
    CASE("check-suite.json", "check_suite", 0, 0, 0, 0, 0, 0),
    CASE("code_scanning_alert.json", "code_scanning_alert", 0, 0, 0, 0, 0, 0),
    CASE("commit-comment.json", "commit_comment", 0, 0, 0, 0, 0, 0),
    CASE("create.json", "create", 1, 0, 0, 0, 0, 1),
    CASE("delete.json", "delete", 0, 0, 0, 0, 0, 0),
    CASE("dependabot_alert.json", "dependabot_alert", 0, 0, 0, 0, 0, 0),
    CASE("deploy_key.json", "deploy_key", 0, 0, 0, 0, 0, 0),
    CASE("deployment-status.json", "deployment_status", 1, 0, 0, 0, 1, 0),
    CASE("deployment.json", "deployment", 1, 0, 0, 0, 1, 0),
    CASE("fork.json", "fork", 0, 0, 0, 0, 0, 0),
    CASE("github-app-authorization.json", "github_app_authorization", 0, 0, 0, 0, 0, 0),
    CASE("gollum.json", "gollum", 0, 0, 0, 0, 0, 0),
    CASE("installation-repositories.json", "installation_repositories", 0, 0, 0, 0, 0, 0),
    CASE("installation.json", "installation", 0, 0, 0, 0, 0, 0),
    CASE("integration-installation-repositories.json", "integration_installation_repositories", 0,
         0, 0, 0, 0, 0),
    CASE("integration-installation.json", "integration_installation", 0, 0, 0, 0, 0, 0),
    CASE("issue-comment.json", "issue_comment", 0, 0, 0, 0, 0, 0), /* a plain issue */
    CASE("issues.json", "issues", 0, 0, 0, 0, 0, 0),
    CASE("label.json", "label", 0, 0, 0, 0, 0, 0),
    CASE("member.json", "member", 0, 0, 0, 0, 0, 0),
    CASE("membership.json", "membership", 0, 0, 0, 0, 0, 0),
    CASE("milestone.json", "milestone", 0, 0, 0, 0, 0, 0),
    CASE("org-block.json", "org_block", 0, 0, 0, 0, 0, 0),
    CASE("organization.json", "organization", 0, 0, 0, 0, 0, 0),
    CASE("page-build.json", "page_build", 0, 0, 0, 0, 0, 0),
    CASE("ping.json", "ping", 0, 0, 0, 0, 0, 0),
    CASE("project-card.json", "project_card", 0, 0, 0, 0, 0, 0),
    CASE("project-column.json", "project_column", 0, 0, 0, 0, 0, 0),
    CASE("project.json", "project", 0, 0, 0, 0, 0, 0),
    CASE("public.json", "public", 0, 0, 0, 0, 0, 0),
    CASE("pull-request-issue-comment.json", "issue_comment", 1, 0, 1, 1, 0, 0),
    CASE("pull-request-review-comment.json", "pull_request_review_comment", 1, 0, 1, 1, 0, 0),
    CASE("pull-request-review.json", "pull_request_review", 1, 0, 1, 1, 0, 0),
    CASE("pull-request.json", "pull_request", 1, 0, 1, 0, 0, 0),
    CASE("push.json", "push", 1, 1, 0, 0, 0, 0),
    CASE("release.json", "release", 1, 0, 0, 0, 0, 1),
    CASE("repository-edited.json", "repository", 1, 0, 0, 0, 0, 0),
    CASE("repository-vulnerability-alert.json", "repository_vulnerability_alert", 0, 0, 0, 0, 0, 0),
    CASE("repository.json", "repository", 1, 0, 0, 0, 0, 0),
    CASE("security-advisory.json", "security_advisory", 0, 0, 0, 0, 0, 0),
    CASE("status.json", "status", 0, 0, 0, 0, 0, 0),
    CASE("team-add.json", "team_add", 0, 0, 0, 0, 0, 0),
    CASE("team.json", "team", 0, 0, 0, 0, 0, 0),
    CASE("watch.json", "watch", 0, 0, 0, 0, 0, 0),
    CASE("workflow_dispatch.json", "workflow_dispatch", 0, 0, 0, 0, 0, 0),
    CASE("workflow_job.json", "workflow_job", 0, 0, 0, 0, 0, 0),
    CASE("workflow_run.json", "workflow_run", 0, 0, 0, 0, 0, 0),
};

static void test_every_fixture(void **state)
{
    (void)state;
    fixture_run_all("github", cases, sizeof cases / sizeof cases[0], ingest_normalize_github);
}

/* One normalization, kept alive for the test's asserts. */
struct run {
    struct json *doc;
    struct arena *a;
    struct ingest_batch b;
    enum err err;
};

static void run_doc(struct run *r, const char *event, struct json *doc,
                    const struct ingest_norm_options *opt)
{
    r->doc = doc;
    r->a = arena_new((size_t)64 * 1024 * 1024);
    r->err = ingest_normalize_github(str_from_cstr(event), doc, opt, r->a, &r->b);
}

static void run_file(struct run *r, const char *event, const char *file)
{
    run_doc(r, event, fixture_parse("github", file), NULL);
    assert_int_equal(r->err, ERR_OK);
}

static void run_text(struct run *r, const char *event, const char *text,
                     const struct ingest_norm_options *opt)
{
    run_doc(r, event, parse_text(text, strlen(text)), opt);
}

static void run_done(struct run *r)
{
    arena_free(r->a);
    json_free(r->doc);
}

static void assert_repo_35129377(const struct ingest_batch *b)
{
    assert_int_equal(b->n_repos, 1);
    assert_str(b->repos[0].id, "github:repo:35129377");
    assert_str(b->repos[0].full_name, "baxterthehacker/public-repo");
    assert_str(b->repos[0].url, "https://github.com/baxterthehacker/public-repo");
    assert_str(b->repos[0].default_branch, "master");
}

static void test_push(void **state)
{
    (void)state;
    struct run r;
    run_file(&r, "push", "push.json");
    const struct ingest_batch *b = &r.b;
    assert_str(b->event, "push");
    assert_int_equal(b->n_repos, 1);
    assert_str(b->repos[0].id, "github:repo:63933911");
    assert_str(b->repos[0].full_name, "binkkatal/sample_app");
    assert_str(b->repos[0].url, "https://github.com/binkkatal/sample_app");
    assert_str(b->repos[0].default_branch, "master");
    assert_int_equal(b->n_commits, 1);
    const struct ingest_commit *c = &b->commits[0];
    assert_str(c->id, "github:commit:63933911:fd489864e7642b48eaad6e3f155c10e46810ec72");
    assert_str(c->repo_id, "github:repo:63933911");
    assert_str(c->sha, "fd489864e7642b48eaad6e3f155c10e46810ec72");
    assert_str(c->message, "test a push event");
    assert_str(c->author.login, "binkkatal");
    assert_str(c->author.name, "binkkatal");
    assert_str(c->author.email, "binkkatal.r@gmail.com");
    assert_false(c->author.bot);
    assert_str(c->committer.login, "binkkatal");
    assert_int_equal(c->authored_at, 1530281053); /* 2018-06-29T19:34:13+05:30 */
    assert_int_equal(c->committed_at, 0);
    assert_str(c->branch, "master");
    assert_int_equal(c->n_files, 2);
    assert_int_equal(c->files_changed, 2);
    assert_str(c->files[0].path, ".razorops.yaml");
    assert_int_equal(c->files[0].change, 'A');
    assert_int_equal(c->files[0].additions, INGEST_UNKNOWN);
    assert_int_equal(c->files[0].deletions, INGEST_UNKNOWN);
    assert_str(c->files[1].path, "app/controllers/application_controller.rb");
    assert_int_equal(c->files[1].change, 'M');
    assert_int_equal(c->additions, INGEST_UNKNOWN);
    assert_int_equal(c->deletions, INGEST_UNKNOWN);
    assert_int_equal(b->n_prs + b->n_reviews + b->n_deployments + b->n_releases, 0);
    run_done(&r);
}

static void test_pull_request(void **state)
{
    (void)state;
    struct run r;
    run_file(&r, "pull_request", "pull-request.json");
    const struct ingest_batch *b = &r.b;
    assert_str(b->event, "pull_request.opened");
    assert_repo_35129377(b);
    assert_int_equal(b->n_prs, 1);
    const struct ingest_pr *p = &b->prs[0];
    assert_str(p->id, "github:pr:35129377:1");
    assert_str(p->repo_id, "github:repo:35129377");
    assert_int_equal(p->number, 1);
    assert_str(p->title, "Update the README with new information");
    assert_str(p->description, "This is a pretty simple change that we need to pull into master.");
    assert_str(p->state, "open");
    assert_int_equal(p->draft, INGEST_TRI_NO);
    assert_false(p->labels_known); /* the body has no labels array */
    assert_str(p->author.login, "baxterthehacker");
    assert_false(p->author.bot);
    assert_str(p->source_branch, "changes");
    assert_str(p->target_branch, "master");
    assert_int_equal(p->created_at, 1430869227); /* 2015-05-05T23:40:27Z */
    assert_int_equal(p->updated_at, 1430869227); /* 2015-05-05T23:40:27Z */
    assert_int_equal(p->ready_at, 1430869227);   /* opened non-draft: created_at */
    assert_int_equal(p->first_review_at, 0);
    assert_int_equal(p->approved_at, 0);
    assert_int_equal(p->merged_at, 0);
    assert_int_equal(p->closed_at, 0);
    assert_str(p->merge_commit_sha, NULL);
    assert_int_equal(p->commits, 1);
    assert_int_equal(p->additions, 1);
    assert_int_equal(p->deletions, 1);
    assert_int_equal(p->changed_files, 1);
    run_done(&r);
}

static void test_pull_request_review(void **state)
{
    (void)state;
    struct run r;
    run_file(&r, "pull_request_review", "pull-request-review.json");
    const struct ingest_batch *b = &r.b;
    assert_str(b->event, "pull_request_review.submitted");
    assert_repo_35129377(b);
    assert_int_equal(b->n_reviews, 1);
    const struct ingest_review *v = &b->reviews[0];
    assert_str(v->id, "github:review:2626884");
    assert_str(v->repo_id, "github:repo:35129377");
    assert_str(v->pr_id, "github:pr:35129377:8");
    assert_int_equal(v->kind, INGEST_REVIEW);
    assert_str(v->state, "approved");
    assert_str(v->reviewer.login, "baxterthehacker");
    assert_int_equal(v->submitted_at, 1475537949); /* 2016-10-03T23:39:09Z */
    assert_int_equal(b->n_prs, 1);
    const struct ingest_pr *p = &b->prs[0];
    assert_str(p->id, "github:pr:35129377:8");
    assert_int_equal(p->number, 8);
    assert_str(p->title, "Add a README description");
    assert_str(p->description, "Just a few more details");
    assert_str(p->state, "open");
    assert_int_equal(p->draft, INGEST_TRI_UNKNOWN);
    assert_str(p->author.login, "skalnik");
    assert_str(p->source_branch, "patch-2");
    assert_str(p->target_branch, "master");
    assert_int_equal(p->created_at, 1475537863); /* 2016-10-03T23:37:43Z */
    assert_int_equal(p->updated_at, 1475537949); /* 2016-10-03T23:39:09Z */
    assert_int_equal(p->ready_at, 0);
    /* baxterthehacker approved skalnik's PR: a first review and an approval */
    assert_int_equal(p->first_review_at, 1475537949);
    assert_int_equal(p->approved_at, 1475537949);
    /* merge_commit_sha faea154a... is a test merge of an open PR: not kept */
    assert_str(p->merge_commit_sha, NULL);
    assert_int_equal(p->commits, INGEST_UNKNOWN);
    assert_int_equal(p->changed_files, INGEST_UNKNOWN);
    run_done(&r);
}

static void test_pull_request_review_comment(void **state)
{
    (void)state;
    struct run r;
    run_file(&r, "pull_request_review_comment", "pull-request-review-comment.json");
    const struct ingest_batch *b = &r.b;
    assert_str(b->event, "pull_request_review_comment.created");
    assert_repo_35129377(b);
    assert_int_equal(b->n_reviews, 1);
    const struct ingest_review *v = &b->reviews[0];
    assert_str(v->id, "github:comment:29724692");
    assert_str(v->pr_id, "github:pr:35129377:1");
    assert_int_equal(v->kind, INGEST_REVIEW_COMMENT);
    assert_str(v->state, "commented");
    assert_str(v->reviewer.login, "baxterthehacker");
    assert_int_equal(v->submitted_at, 1430869227); /* 2015-05-05T23:40:27Z */
    assert_int_equal(b->n_prs, 1);
    const struct ingest_pr *p = &b->prs[0];
    assert_str(p->id, "github:pr:35129377:1");
    assert_str(p->state, "open");
    assert_str(p->author.login, "baxterthehacker");
    /* the PR's author commenting on it is not a review */
    assert_int_equal(p->first_review_at, 0);
    assert_str(p->merge_commit_sha, NULL);
    run_done(&r);
}

static void test_issue_comment_on_pr(void **state)
{
    (void)state;
    struct run r;
    run_file(&r, "issue_comment", "pull-request-issue-comment.json");
    const struct ingest_batch *b = &r.b;
    assert_str(b->event, "issue_comment.created");
    assert_int_equal(b->n_repos, 1);
    assert_str(b->repos[0].id, "github:repo:199540710");
    assert_str(b->repos[0].full_name, "chhsia0/knative-route-demo");
    assert_int_equal(b->n_reviews, 1);
    assert_str(b->reviews[0].id, "github:comment:546616131");
    assert_str(b->reviews[0].pr_id, "github:pr:199540710:3");
    assert_int_equal(b->reviews[0].kind, INGEST_REVIEW_COMMENT);
    assert_str(b->reviews[0].reviewer.login, "chhsia0");
    assert_int_equal(b->reviews[0].submitted_at, 1572106163); /* 2019-10-26T16:09:23Z */
    const struct ingest_pr *p = &b->prs[0];
    assert_int_equal(p->number, 3);
    assert_str(p->title, "Updated to v2.");
    assert_str(p->description, "");
    assert_str(p->state, "open");
    assert_true(p->labels_known);
    assert_int_equal(p->n_labels, 0);
    assert_int_equal(p->created_at, 1568777284); /* 2019-09-18T03:28:04Z */
    assert_str(p->source_branch, NULL);
    assert_int_equal(p->commits, INGEST_UNKNOWN);
    run_done(&r);
}

static void test_deployment_status(void **state)
{
    (void)state;
    struct run r;
    run_file(&r, "deployment_status", "deployment-status.json");
    const struct ingest_batch *b = &r.b;
    assert_str(b->event, "deployment_status");
    assert_repo_35129377(b);
    assert_int_equal(b->n_deployments, 1);
    const struct ingest_deployment *d = &b->deployments[0];
    assert_str(d->id, "github:deployment:710692");
    assert_str(d->repo_id, "github:repo:35129377");
    assert_str(d->environment, "production");
    assert_str(d->status, "success");
    assert_str(d->sha, "9049f1265b7d61be4a8904a9a27120d2064dab3b");
    assert_str(d->ref, "master");
    assert_int_equal(d->created_at, 1430869238);  /* 2015-05-05T23:40:38Z */
    assert_int_equal(d->finished_at, 1430869239); /* 2015-05-05T23:40:39Z */
    run_done(&r);

    /* the deployment event alone does not know the status */
    run_file(&r, "deployment", "deployment.json");
    assert_int_equal(r.b.n_deployments, 1);
    assert_str(r.b.deployments[0].id, "github:deployment:710692");
    assert_str(r.b.deployments[0].status, NULL);
    assert_int_equal(r.b.deployments[0].finished_at, 0);
    run_done(&r);
}

static void test_release(void **state)
{
    (void)state;
    struct run r;
    run_file(&r, "release", "release.json");
    const struct ingest_batch *b = &r.b;
    assert_str(b->event, "release.published");
    assert_repo_35129377(b);
    assert_int_equal(b->n_releases, 1);
    const struct ingest_release *v = &b->releases[0];
    assert_str(v->id, "github:release:1261438");
    assert_str(v->repo_id, "github:repo:35129377");
    assert_int_equal(v->kind, INGEST_RELEASE);
    assert_str(v->tag, "0.0.1");
    assert_str(v->name, NULL);
    assert_str(v->sha, NULL); /* target_commitish "master" is not a commit */
    assert_int_equal(v->prerelease, INGEST_TRI_NO);
    assert_int_equal(v->published_at, 1430869238); /* 2015-05-05T23:40:38Z */
    run_done(&r);

    run_file(&r, "create", "create.json");
    assert_int_equal(r.b.n_releases, 1);
    assert_str(r.b.releases[0].id, "github:tag:35129377:0.0.1");
    assert_int_equal(r.b.releases[0].kind, INGEST_TAG);
    assert_str(r.b.releases[0].tag, "0.0.1");
    assert_str(r.b.releases[0].sha, NULL);
    run_done(&r);
}

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void test_push_tag_and_deleted(void **state)
{
    (void)state;
    struct run r;
    run_text(&r, "push",
             "{\"ref\":\"refs/tags/v1.2\",\"deleted\":false,\"after\":\"" SHA_B "\","
             "\"head_commit\":{\"id\":\"" SHA_A "\"},\"commits\":[],"
             "\"repository\":{\"id\":7,\"pushed_at\":1530281075}}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_int_equal(r.b.n_releases, 1);
    assert_str(r.b.releases[0].id, "github:tag:7:v1.2");
    assert_int_equal(r.b.releases[0].kind, INGEST_TAG);
    assert_str(r.b.releases[0].sha, SHA_A);                     /* the commit, not the tag object */
    assert_int_equal(r.b.releases[0].published_at, 1530281075); /* pushed_at, Unix seconds */
    assert_int_equal(r.b.n_repos, 1);
    run_done(&r);

    run_text(&r, "push",
             "{\"ref\":\"refs/heads/gone\",\"deleted\":true,\"commits\":[],"
             "\"repository\":{\"id\":7}}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_int_equal(r.b.n_repos + r.b.n_commits + r.b.n_releases, 0);
    run_done(&r);
}

static void test_pull_request_actions(void **state)
{
    (void)state;
    struct run r;
    /* closed and merged; created_at 2019-05-15T15:20:33Z = 1557933633,
     * merged/closed 2019-05-16T10:00:00+02:00 = 1557993600 */
    run_text(&r, "pull_request",
             "{\"action\":\"closed\",\"number\":5,\"repository\":{\"id\":7},"
             "\"pull_request\":{\"number\":5,\"state\":\"closed\",\"merged\":true,"
             "\"draft\":false,\"created_at\":\"2019-05-15T15:20:33Z\","
             "\"merged_at\":\"2019-05-16T10:00:00+02:00\","
             "\"closed_at\":\"2019-05-16T10:00:00+02:00\",\"merge_commit_sha\":\"" SHA_A "\","
             "\"labels\":[{\"name\":\"bug\"},{\"name\":\"ui\"}],\"patch\":\"@@ -1 +1 @@\"}}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    const struct ingest_pr *p = &r.b.prs[0];
    assert_str(r.b.event, "pull_request.closed");
    assert_str(p->state, "merged");
    assert_int_equal(p->created_at, 1557933633);
    assert_int_equal(p->merged_at, 1557993600);
    assert_int_equal(p->closed_at, 1557993600);
    assert_str(p->merge_commit_sha, SHA_A);
    assert_int_equal(p->ready_at, 0); /* not an "opened" event */
    assert_true(p->labels_known);
    assert_int_equal(p->n_labels, 2);
    assert_str(p->labels[0], "bug");
    assert_str(p->labels[1], "ui");
    run_done(&r);

    /* closed without merge: the test-merge sha is not kept */
    run_text(&r, "pull_request",
             "{\"action\":\"closed\",\"repository\":{\"id\":7},\"pull_request\":{\"number\":5,"
             "\"state\":\"closed\",\"merged\":false,\"merged_at\":null,"
             "\"merge_commit_sha\":\"" SHA_A "\"}}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_str(r.b.prs[0].state, "closed");
    assert_str(r.b.prs[0].merge_commit_sha, NULL);
    run_done(&r);

    /* ready_for_review: ready_at is the event's updated_at (2019-05-17T08:00:00Z) */
    run_text(&r, "pull_request",
             "{\"action\":\"ready_for_review\",\"repository\":{\"id\":7},"
             "\"pull_request\":{\"number\":5,\"state\":\"open\",\"draft\":false,"
             "\"created_at\":\"2019-05-15T15:20:33Z\",\"updated_at\":\"2019-05-17T08:00:00Z\"}}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_int_equal(r.b.prs[0].ready_at, 1558080000);
    run_done(&r);

    /* opened as a draft: not ready */
    run_text(&r, "pull_request",
             "{\"action\":\"opened\",\"repository\":{\"id\":7},\"pull_request\":{\"number\":5,"
             "\"state\":\"open\",\"draft\":true,\"created_at\":\"2019-05-15T15:20:33Z\"}}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_int_equal(r.b.prs[0].draft, INGEST_TRI_YES);
    assert_int_equal(r.b.prs[0].ready_at, 0);
    run_done(&r);
}

static void test_bots(void **state)
{
    (void)state;
    struct run r;
    /* a GitHub App account: type "Bot" */
    run_text(&r, "pull_request",
             "{\"action\":\"opened\",\"repository\":{\"id\":7},\"pull_request\":{\"number\":9,"
             "\"user\":{\"login\":\"dependabot[bot]\",\"type\":\"Bot\"}},"
             "\"sender\":{\"login\":\"dependabot[bot]\",\"type\":\"Bot\"}}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_true(r.b.prs[0].author.bot);
    run_done(&r);

    /* type "Bot" alone marks a bot, whatever the login */
    run_text(&r, "pull_request",
             "{\"repository\":{\"id\":7},\"pull_request\":{\"number\":9,"
             "\"user\":{\"login\":\"acme-helper\",\"type\":\"Bot\"}}}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_true(r.b.prs[0].author.bot);
    run_done(&r);

    /* a configured pattern, matched against a commit author's username */
    const struct str patterns[] = {STR_LIT("ci-*")};
    const struct ingest_norm_options opt = {patterns, 1};
    const char *push =
        "{\"ref\":\"refs/heads/main\",\"repository\":{\"id\":7},\"commits\":["
        "{\"id\":\"" SHA_A "\",\"author\":{\"name\":\"CI\",\"username\":\"ci-release\"}},"
        "{\"id\":\"" SHA_B "\",\"author\":{\"name\":\"Ann\",\"username\":\"ann\"}}]}";
    run_text(&r, "push", push, &opt);
    assert_int_equal(r.err, ERR_OK);
    assert_int_equal(r.b.n_commits, 2);
    assert_true(r.b.commits[0].author.bot);
    assert_false(r.b.commits[1].author.bot);
    run_done(&r);
    run_text(&r, "push", push, NULL); /* without the pattern: not a bot */
    assert_false(r.b.commits[0].author.bot);
    run_done(&r);
}

static void test_malformed(void **state)
{
    (void)state;
    struct run r;
    /* a pull_request without a number */
    run_text(&r, "pull_request",
             "{\"action\":\"opened\",\"repository\":{\"id\":7},\"pull_request\":{\"title\":\"x\"}}",
             NULL);
    assert_int_equal(r.err, ERR_INVALID);
    run_done(&r);
    /* a change event without a repository id */
    run_text(&r, "pull_request",
             "{\"action\":\"opened\",\"repository\":{\"id\":\"\"},\"pull_request\":{\"number\":1}}",
             NULL);
    assert_int_equal(r.err, ERR_INVALID);
    run_done(&r);
    run_text(&r, "push", "{\"ref\":\"refs/heads/main\",\"commits\":[]}", NULL);
    assert_int_equal(r.err, ERR_INVALID);
    run_done(&r);
    /* a commit whose id is not a sha */
    run_text(&r, "push", "{\"repository\":{\"id\":7},\"commits\":[{\"id\":\"nope\"}]}", NULL);
    assert_int_equal(r.err, ERR_INVALID);
    run_done(&r);
    /* a body that is not an object: known events are invalid, others empty */
    run_text(&r, "push", "[1,2]", NULL);
    assert_int_equal(r.err, ERR_INVALID);
    run_done(&r);
    run_text(&r, "ping", "\"zen\"", NULL);
    assert_int_equal(r.err, ERR_OK);
    run_done(&r);

    /* strings of the wrong type are unknown, not a crash */
    run_text(&r, "pull_request",
             "{\"action\":7,\"repository\":{\"id\":7,\"full_name\":[],\"html_url\":1},"
             "\"pull_request\":{\"number\":2,\"title\":42,\"body\":{},\"state\":true,"
             "\"created_at\":false,\"draft\":\"yes\",\"labels\":{\"name\":\"x\"},"
             "\"user\":\"octocat\",\"head\":{\"ref\":null},\"commits\":\"3\","
             "\"additions\":-4,\"merge_commit_sha\":5}}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    const struct ingest_pr *p = &r.b.prs[0];
    assert_str(r.b.event, "pull_request");
    assert_str(p->title, NULL);
    assert_str(p->description, NULL);
    assert_str(p->state, NULL);
    assert_int_equal(p->created_at, 0);
    assert_int_equal(p->draft, INGEST_TRI_UNKNOWN);
    assert_false(p->labels_known);
    assert_str(p->author.login, NULL);
    assert_str(p->source_branch, NULL);
    assert_int_equal(p->commits, INGEST_UNKNOWN);
    assert_int_equal(p->additions, INGEST_UNKNOWN);
    assert_str(r.b.repos[0].full_name, NULL);
    assert_str(r.b.repos[0].url, NULL);
    run_done(&r);
}

/* A push body with n commits (distinct fake shas). */
static char *many_commits(size_t n)
{
    size_t cap = 128 + n * 64;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t len = (size_t)snprintf(s, cap,
                                  "{\"ref\":\"refs/heads/main\",\"repository\":{\"id\":7},"
                                  "\"commits\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s{\"id\":\"%040zx\"}", i ? "," : "", i);
    len += (size_t)snprintf(s + len, cap - len, "]}");
    assert_true(len < cap);
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    struct run r;
    char *body = many_commits(INGEST_MAX_ROWS);
    run_text(&r, "push", body, NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_int_equal(r.b.n_commits, INGEST_MAX_ROWS);
    run_done(&r);
    free(body);
    body = many_commits(INGEST_MAX_ROWS + 1);
    run_text(&r, "push", body, NULL);
    assert_int_equal(r.err, ERR_LIMIT);
    run_done(&r);
    free(body);

    /* file paths: INGEST_MAX_FILES kept, the rest counted */
    size_t n = INGEST_MAX_FILES + 5, cap = 256 + n * 16;
    body = malloc(cap);
    assert_non_null(body);
    size_t len = (size_t)snprintf(body, cap,
                                  "{\"repository\":{\"id\":7},\"commits\":[{\"id\":\"" SHA_A
                                  "\",\"removed\":[\"gone\"],\"modified\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(body + len, cap - len, "%s\"f%zu\"", i ? "," : "", i);
    len += (size_t)snprintf(body + len, cap - len, "]}]}");
    assert_true(len < cap);
    run_text(&r, "push", body, NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_int_equal(r.b.commits[0].n_files, INGEST_MAX_FILES);
    assert_int_equal(r.b.commits[0].files_changed, INGEST_MAX_FILES + 6);
    assert_int_equal(r.b.commits[0].files[0].change, 'D');
    assert_str(r.b.commits[0].files[1].path, "f0");
    run_done(&r);
    free(body);

    /* a stable id one byte past INGEST_MAX_ID: "github:tag:7:" is 13 bytes */
    char big[600];
    size_t name = INGEST_MAX_ID - 13;
    for (int pass = 0; pass < 2; pass++) {
        size_t k = name + (size_t)pass;
        int m = snprintf(big, sizeof big,
                         "{\"ref\":\"%0*d\",\"ref_type\":\"tag\",\"repository\":{\"id\":7}}",
                         (int)k, 0);
        assert_true(m > 0 && (size_t)m < sizeof big);
        run_text(&r, "create", big, NULL);
        assert_int_equal(r.err, pass ? ERR_LIMIT : ERR_OK);
        if (!pass)
            assert_int_equal(r.b.releases[0].id.len, INGEST_MAX_ID);
        run_done(&r);
    }
}

static void test_url_userinfo(void **state)
{
    (void)state;
    struct run r;
    run_text(&r, "repository",
             "{\"action\":\"created\",\"repository\":{\"id\":7,"
             "\"html_url\":\"https://user:pw@github.example/o/r\"}}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_str(r.b.repos[0].url, "https://github.example/o/r");
    run_done(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_fixture),
        cmocka_unit_test(test_push),
        cmocka_unit_test(test_pull_request),
        cmocka_unit_test(test_pull_request_review),
        cmocka_unit_test(test_pull_request_review_comment),
        cmocka_unit_test(test_issue_comment_on_pr),
        cmocka_unit_test(test_deployment_status),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_push_tag_and_deleted),
        cmocka_unit_test(test_pull_request_actions),
        cmocka_unit_test(test_bots),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_url_userinfo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
