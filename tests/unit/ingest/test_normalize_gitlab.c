/*
 * Unit tests for src/ingest/normalize_gitlab.c: every GitLab fixture body,
 * field-by-field expectations for the representative ones (values read by hand
 * from the fixture files; times as Unix seconds with the original text beside
 * them), approvals, bots, and malformed bodies.
 */
#include "fixture.h"

/* X-Gitlab-Event for each file of fixtures/webhooks/gitlab, and its rows. */
static const struct fixture_case cases[] = {
    /* file                                event                  rp cm pr rv dp rl */
    /* "git_ssh_url" twice in "repository": json_parse refuses duplicate keys */
    REJECTED("build-event.json", "Job Hook"),
    CASE("comment-commit-event.json", "Note Hook", 0, 0, 0, 0, 0, 0),
    CASE("comment-issue-event.json", "Note Hook", 0, 0, 0, 0, 0, 0),
    CASE("comment-merge-request-event.json", "Note Hook", 1, 0, 1, 1, 0, 0),
    CASE("comment-snippet-event.json", "Note Hook", 0, 0, 0, 0, 0, 0),
    CASE("confidential-comment-event.json", "Confidential Note Hook", 0, 0, 0, 0, 0, 0), /* issue */
    CASE("confidential-issue-event.json", "Confidential Issue Hook", 0, 0, 0, 0, 0, 0),
    CASE("deployment-event.json", "Deployment Hook", 1, 0, 0, 0, 1, 0),
    CASE("issue-event.json", "Issue Hook", 0, 0, 0, 0, 0, 0),
    CASE("job-event.json", "Job Hook", 0, 0, 0, 0, 0, 0),
    CASE("merge-request-event.json", "Merge Request Hook", 1, 0, 1, 0, 0, 0),
    CASE("pipeline-event.json", "Pipeline Hook", 0, 0, 0, 0, 0, 0),
    CASE("push-event.json", "Push Hook", 1, 2, 0, 0, 0, 0),
    CASE("release-event.json", "Release Hook", 1, 0, 0, 0, 0, 1),
    CASE("system-group-created.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-group-member-added.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-group-member-removed.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-group-member-updated.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-group-removed.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-group-renamed.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-key-added.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-key-removed.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-merge-request-event.json", "System Hook", 1, 0, 1, 0, 0, 0),
    CASE("system-project-created.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-project-destroyed.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-project-renamed.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-project-transferred.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-project-updated.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-push-event.json", "System Hook", 1, 1, 0, 0, 0, 0),
    CASE("system-tag-event.json", "System Hook", 1, 0, 0, 0, 0, 1),
    CASE("system-team-member-added.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-team-member-removed.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-team-member-updated.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-user-created.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-user-failed-login.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-user-removed.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("system-user-renamed.json", "System Hook", 0, 0, 0, 0, 0, 0),
    CASE("tag-event.json", "Tag Push Hook", 1, 0, 0, 0, 0, 1),
    CASE("wikipage-event.json", "Wiki Page Hook", 0, 0, 0, 0, 0, 0),
};

static void test_every_fixture(void **state)
{
    (void)state;
    fixture_run_all("gitlab", cases, sizeof cases / sizeof cases[0], ingest_normalize_gitlab);
}

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
    r->err = ingest_normalize_gitlab(str_from_cstr(event), doc, opt, r->a, &r->b);
}

static void run_file(struct run *r, const char *event, const char *file)
{
    run_doc(r, event, fixture_parse("gitlab", file), NULL);
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

static void test_push(void **state)
{
    (void)state;
    struct run r;
    run_file(&r, "Push Hook", "push-event.json");
    const struct ingest_batch *b = &r.b;
    assert_str(b->event, "push");
    /* project has no id in this body: the top-level project_id 15 */
    assert_int_equal(b->n_repos, 1);
    assert_str(b->repos[0].id, "gitlab:repo:15");
    assert_str(b->repos[0].full_name, "mike/diaspora");
    assert_str(b->repos[0].url, "http://example.com/mike/diaspora");
    assert_str(b->repos[0].default_branch, "master");
    assert_int_equal(b->n_commits, 2);
    const struct ingest_commit *c = &b->commits[0];
    assert_str(c->id, "gitlab:commit:15:b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327");
    assert_str(c->repo_id, "gitlab:repo:15");
    assert_str(c->sha, "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327");
    assert_str(c->message, "Update Catalan translation to e38cb41.");
    assert_str(c->author.login, NULL);
    assert_str(c->author.name, "Jordi Mallach");
    assert_str(c->author.email, "jordi@softcatala.org");
    assert_false(c->author.bot);
    assert_int_equal(c->authored_at, 1323692851); /* 2011-12-12T14:27:31+02:00 */
    assert_str(c->branch, "master");
    assert_int_equal(c->n_files, 2);
    assert_int_equal(c->files_changed, 2);
    assert_str(c->files[0].path, "CHANGELOG");
    assert_int_equal(c->files[0].change, 'A');
    assert_str(c->files[1].path, "app/controller/application.rb");
    assert_int_equal(c->files[1].change, 'M');
    assert_int_equal(c->additions, INGEST_UNKNOWN);
    c = &b->commits[1];
    assert_str(c->id, "gitlab:commit:15:da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    assert_str(c->message, "fixed readme");
    assert_str(c->author.name, "GitLab dev user");
    assert_str(c->author.email, "gitlabdev@dv6700.(none)");
    assert_int_equal(c->authored_at, 1325626589); /* 2012-01-03T23:36:29+02:00 */
    run_done(&r);
}

static void test_merge_request(void **state)
{
    (void)state;
    struct run r;
    run_file(&r, "Merge Request Hook", "merge-request-event.json");
    const struct ingest_batch *b = &r.b;
    assert_str(b->event, "merge_request.open");
    assert_int_equal(b->n_repos, 1);
    assert_str(b->repos[0].id, "gitlab:repo:1");
    assert_str(b->repos[0].full_name, "gitlabhq/gitlab-test");
    assert_str(b->repos[0].url, "http://example.com/gitlabhq/gitlab-test");
    assert_int_equal(b->n_prs, 1);
    const struct ingest_pr *p = &b->prs[0];
    assert_str(p->id, "gitlab:pr:1:1");
    assert_str(p->repo_id, "gitlab:repo:1");
    assert_int_equal(p->number, 1);
    assert_str(p->title, "MS-Viewport");
    assert_str(p->description, "");
    assert_str(p->state, "open");
    assert_int_equal(p->draft, INGEST_TRI_NO);
    assert_true(p->labels_known);
    assert_int_equal(p->n_labels, 1);
    assert_str(p->labels[0], "API");
    assert_str(p->source_branch, "ms-viewport");
    assert_str(p->target_branch, "master");
    assert_int_equal(p->created_at, 1386091414); /* 2013-12-03T17:23:34Z */
    assert_int_equal(p->updated_at, 1386091414); /* 2013-12-03T17:23:34Z */
    assert_int_equal(p->ready_at, 1386091414);   /* opened non-draft */
    /* user (id 1) is not author_id 51 here: the author stays unknown */
    assert_str(p->author.login, NULL);
    assert_int_equal(p->merged_at, 0);
    assert_int_equal(p->closed_at, 0);
    assert_str(p->merge_commit_sha, NULL);
    assert_int_equal(p->commits, INGEST_UNKNOWN);
    assert_int_equal(b->n_reviews, 0);
    run_done(&r);

    /* the system hook's MR has no project id: the target project (14) */
    run_file(&r, "System Hook", "system-merge-request-event.json");
    assert_str(r.b.event, "system.merge_request");
    assert_str(r.b.repos[0].id, "gitlab:repo:14");
    assert_str(r.b.repos[0].full_name, "jsmith/example");
    assert_str(r.b.prs[0].id, "gitlab:pr:14:1");
    assert_int_equal(r.b.prs[0].created_at, 1505896305); /* 2017-09-20T08:31:45.944Z */
    assert_int_equal(r.b.prs[0].updated_at, 1506601422); /* 2017-09-28T12:23:42.365Z */
    assert_false(r.b.prs[0].labels_known);               /* "labels": null */
    run_done(&r);
}

static void test_note_on_merge_request(void **state)
{
    (void)state;
    struct run r;
    run_file(&r, "Note Hook", "comment-merge-request-event.json");
    const struct ingest_batch *b = &r.b;
    assert_str(b->event, "note");
    assert_int_equal(b->n_repos, 1);
    assert_str(b->repos[0].id, "gitlab:repo:5");
    assert_str(b->repos[0].full_name, "gitlab-org/gitlab-test");
    assert_int_equal(b->n_reviews, 1);
    const struct ingest_review *v = &b->reviews[0];
    assert_str(v->id, "gitlab:comment:1244");
    assert_str(v->repo_id, "gitlab:repo:5");
    assert_str(v->pr_id, "gitlab:pr:5:1");
    assert_int_equal(v->kind, INGEST_REVIEW_COMMENT);
    assert_str(v->state, "commented");
    assert_str(v->reviewer.login, "root");
    assert_str(v->reviewer.name, "Administrator");
    assert_int_equal(v->submitted_at, 1431886896); /* 2015-05-17 18:21:36 UTC */
    assert_int_equal(b->n_prs, 1);
    const struct ingest_pr *p = &b->prs[0];
    assert_str(p->id, "gitlab:pr:5:1");
    assert_int_equal(p->number, 1);
    assert_str(p->title, "Tempora et eos debitis quae laborum et.");
    assert_str(p->state, "open");
    assert_int_equal(p->draft, INGEST_TRI_NO); /* work_in_progress: false */
    assert_str(p->source_branch, "master");
    assert_str(p->target_branch, "markdown");
    assert_int_equal(p->created_at, 1425240773); /* 2015-03-01 20:12:53 UTC */
    assert_int_equal(p->updated_at, 1426962447); /* 2015-03-21 18:27:27 UTC */
    assert_str(p->author.login, NULL);           /* author_id 8 only */
    assert_int_equal(p->first_review_at, 0);     /* the commenter's id is not in the body */
    run_done(&r);
}

static void test_deployment(void **state)
{
    (void)state;
    struct run r;
    run_file(&r, "Deployment Hook", "deployment-event.json");
    const struct ingest_batch *b = &r.b;
    assert_str(b->event, "deployment.success");
    assert_int_equal(b->n_repos, 1);
    assert_str(b->repos[0].id, "gitlab:repo:30");
    assert_str(b->repos[0].full_name, "root/test-deployment-webhooks");
    assert_str(b->repos[0].url, "http://10.126.0.2:3000/root/test-deployment-webhooks");
    assert_int_equal(b->n_deployments, 1);
    const struct ingest_deployment *d = &b->deployments[0];
    assert_str(d->id, "gitlab:deployment:15");
    assert_str(d->repo_id, "gitlab:repo:30");
    assert_str(d->environment, "staging");
    assert_str(d->status, "success");
    /* short_sha 279484c0 is not a full sha; commit_url ends with one */
    assert_str(d->sha, "279484c09fbe69ededfced8c1bb6e6d24616b468");
    assert_str(d->ref, NULL);
    assert_int_equal(d->created_at, 0);
    assert_int_equal(d->finished_at, 1619639400); /* 2021-04-28 21:50:00 +0200 */
    run_done(&r);

    run_text(&r, "Deployment Hook",
             "{\"object_kind\":\"deployment\",\"status\":\"failed\",\"deployment_id\":16,"
             "\"status_changed_at\":\"2021-04-28 19:50:00 UTC\",\"ref\":\"main\","
             "\"project\":{\"id\":30}}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_str(r.b.deployments[0].status, "failure");
    assert_str(r.b.deployments[0].ref, "main");
    assert_int_equal(r.b.deployments[0].finished_at, 1619639400);
    run_done(&r);
    run_text(&r, "Deployment Hook",
             "{\"status\":\"running\",\"deployment_id\":17,\"project\":{\"id\":30},"
             "\"status_changed_at\":\"2021-04-28 19:50:00 UTC\"}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_str(r.b.deployments[0].status, "in_progress");
    assert_int_equal(r.b.deployments[0].finished_at, 0);
    run_done(&r);
}

static void test_tag_and_release(void **state)
{
    (void)state;
    struct run r;
    run_file(&r, "Tag Push Hook", "tag-event.json");
    assert_str(r.b.event, "tag_push");
    assert_int_equal(r.b.n_repos, 1);
    assert_str(r.b.repos[0].id, "gitlab:repo:1");
    assert_str(r.b.repos[0].full_name, "jsmith/example");
    assert_int_equal(r.b.n_releases, 1);
    const struct ingest_release *t = &r.b.releases[0];
    assert_str(t->id, "gitlab:tag:1:v1.0.0");
    assert_str(t->repo_id, "gitlab:repo:1");
    assert_int_equal(t->kind, INGEST_TAG);
    assert_str(t->tag, "v1.0.0");
    assert_str(t->name, NULL);
    assert_str(t->sha, "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"); /* checkout_sha */
    assert_int_equal(t->prerelease, INGEST_TRI_UNKNOWN);
    assert_int_equal(t->published_at, 0);
    run_done(&r);

    run_file(&r, "Release Hook", "release-event.json");
    assert_str(r.b.event, "release.create");
    assert_str(r.b.repos[0].id, "gitlab:repo:2");
    assert_str(r.b.repos[0].full_name, "gitlab-org/release-webhook-example");
    assert_int_equal(r.b.n_releases, 1);
    t = &r.b.releases[0];
    assert_str(t->id, "gitlab:release:1");
    assert_int_equal(t->kind, INGEST_RELEASE);
    assert_str(t->tag, "v1.1");
    assert_str(t->name, "v1.1");
    assert_str(t->sha, "ee0a3fb31ac16e11b9dbb596ad16d4af654d08f8");
    assert_int_equal(t->prerelease, INGEST_TRI_UNKNOWN);
    assert_int_equal(t->published_at, 1604321712); /* released_at 2020-11-02 12:55:12 UTC */
    run_done(&r);

    /* without an id the release is keyed by project and tag */
    run_text(&r, "Release Hook", "{\"action\":\"update\",\"tag\":\"v2\",\"project\":{\"id\":2}}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_str(r.b.releases[0].id, "gitlab:release:2:v2");
    run_done(&r);
    /* deleted: nothing */
    run_text(&r, "Release Hook",
             "{\"id\":3,\"action\":\"delete\",\"tag\":\"v2\",\"project\":{\"id\":2}}", NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_int_equal(r.b.n_releases + r.b.n_repos, 0);
    run_done(&r);
    /* a deleted tag: nothing */
    run_text(&r, "Tag Push Hook",
             "{\"ref\":\"refs/tags/v1\",\"after\":\"0000000000000000000000000000000000000000\","
             "\"checkout_sha\":null,\"project_id\":1}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_int_equal(r.b.n_releases + r.b.n_repos, 0);
    run_done(&r);
}

#define MR_BODY(action, extra)                                                                     \
    "{\"object_kind\":\"merge_request\",\"user\":{\"id\":6,\"username\":\"rev\",\"name\":\"R\"},"  \
    "\"project\":{\"id\":14},\"object_attributes\":{\"iid\":3,\"author_id\":51,"                   \
    "\"state\":\"opened\",\"draft\":false,\"created_at\":\"2019-05-15T15:20:33Z\","                \
    "\"updated_at\":\"2019-05-17T08:00:00Z\",\"action\":\"" action "\"" extra "}}"

static void test_merge_request_actions(void **state)
{
    (void)state;
    struct run r;
    /* approved by user 6 (not author 51); updated_at 2019-05-17T08:00:00Z = 1558080000 */
    run_text(&r, "Merge Request Hook", MR_BODY("approved", ""), NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_str(r.b.event, "merge_request.approved");
    assert_int_equal(r.b.n_reviews, 1);
    assert_str(r.b.reviews[0].id, "gitlab:review:14:3:6");
    assert_str(r.b.reviews[0].pr_id, "gitlab:pr:14:3");
    assert_int_equal(r.b.reviews[0].kind, INGEST_REVIEW);
    assert_str(r.b.reviews[0].state, "approved");
    assert_str(r.b.reviews[0].reviewer.login, "rev");
    assert_int_equal(r.b.reviews[0].submitted_at, 1558080000);
    assert_int_equal(r.b.prs[0].approved_at, 1558080000);
    assert_int_equal(r.b.prs[0].first_review_at, 1558080000);
    assert_int_equal(r.b.prs[0].ready_at, 0); /* not "open" */
    assert_str(r.b.prs[0].author.login, NULL);
    run_done(&r);

    run_text(&r, "Merge Request Hook", MR_BODY("unapproved", ""), NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_str(r.b.reviews[0].id, "gitlab:review:14:3:6"); /* the same row as the approval */
    assert_str(r.b.reviews[0].state, "unapproved");
    assert_int_equal(r.b.prs[0].approved_at, 0);
    run_done(&r);

    /* merged without merged_at: the update time; merge_commit_sha kept */
    run_text(&r, "Merge Request Hook",
             MR_BODY("merge", ",\"merge_commit_sha\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""),
             NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_str(r.b.prs[0].state, "merged");
    assert_int_equal(r.b.prs[0].merged_at, 1558080000);
    assert_int_equal(r.b.prs[0].closed_at, 1558080000);
    assert_str(r.b.prs[0].merge_commit_sha, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    run_done(&r);

    /* an open MR's merge_commit_sha is not kept */
    run_text(
        &r, "Merge Request Hook",
        MR_BODY("update", ",\"merge_commit_sha\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""),
        NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_str(r.b.prs[0].merge_commit_sha, NULL);
    assert_int_equal(r.b.prs[0].ready_at, 0);
    run_done(&r);

    /* marked ready: changes.draft true → false */
    const char *ready =
        "{\"user\":{\"id\":51,\"username\":\"au\"},\"project\":{\"id\":14},"
        "\"object_attributes\":{\"iid\":3,\"author_id\":51,\"state\":\"opened\",\"draft\":false,"
        "\"updated_at\":\"2019-05-17T08:00:00Z\",\"action\":\"update\"},"
        "\"changes\":{\"draft\":{\"previous\":true,\"current\":false}}}";
    run_text(&r, "Merge Request Hook", ready, NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_int_equal(r.b.prs[0].ready_at, 1558080000);
    run_done(&r);

    /* opened by its author (ids match): the author is known */
    const char *open = "{\"user\":{\"id\":51,\"username\":\"au\",\"name\":\"A U\"},"
                       "\"project\":{\"id\":14},\"object_attributes\":{\"iid\":3,\"author_id\":51,"
                       "\"state\":\"opened\",\"work_in_progress\":true,\"action\":\"open\"}}";
    run_text(&r, "Merge Request Hook", open, NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_str(r.b.prs[0].author.login, "au");
    assert_str(r.b.prs[0].author.name, "A U");
    assert_int_equal(r.b.prs[0].draft, INGEST_TRI_YES);
    assert_int_equal(r.b.prs[0].ready_at, 0);
    run_done(&r);
}

static void test_bots(void **state)
{
    (void)state;
    struct run r;
    /* GitLab project access tokens act as project_<id>_bot_<hash> */
    const char *body =
        "{\"user\":{\"id\":9,\"username\":\"project_14_bot_3f2a\",\"name\":\"deploy token\"},"
        "\"project\":{\"id\":14},\"object_attributes\":{\"iid\":3,\"author_id\":9,"
        "\"state\":\"opened\",\"action\":\"open\"}}";
    run_text(&r, "Merge Request Hook", body, NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_true(r.b.prs[0].author.bot);
    run_done(&r);

    const char *push = "{\"ref\":\"refs/heads/main\",\"project\":{\"id\":14},\"commits\":["
                       "{\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
                       "\"author\":{\"name\":\"dependabot[bot]\",\"email\":\"x@example.com\"}},"
                       "{\"id\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\","
                       "\"author\":{\"name\":\"Release Robot\",\"email\":\"r@example.com\"}},"
                       "{\"id\":\"cccccccccccccccccccccccccccccccccccccccc\","
                       "\"author\":{\"name\":\"Ann\",\"email\":\"a@example.com\"}}]}";
    const struct str patterns[] = {STR_LIT("release robot")};
    const struct ingest_norm_options opt = {patterns, 1};
    run_text(&r, "Push Hook", push, &opt);
    assert_int_equal(r.err, ERR_OK);
    assert_true(r.b.commits[0].author.bot);  /* built-in "*[bot]" */
    assert_true(r.b.commits[1].author.bot);  /* configured, case-insensitive */
    assert_false(r.b.commits[2].author.bot); /* a person */
    run_done(&r);
}

static char *many_commits(size_t n)
{
    size_t cap = 128 + n * 64;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t len = (size_t)snprintf(s, cap,
                                  "{\"ref\":\"refs/heads/main\",\"project_id\":7,"
                                  "\"commits\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s{\"id\":\"%040zx\"}", i ? "," : "", i);
    len += (size_t)snprintf(s + len, cap - len, "]}");
    assert_true(len < cap);
    return s;
}

static void test_malformed(void **state)
{
    (void)state;
    struct run r;
    /* an MR without iid */
    run_text(&r, "Merge Request Hook",
             "{\"project\":{\"id\":1},\"object_attributes\":{\"id\":99,\"title\":\"x\"}}", NULL);
    assert_int_equal(r.err, ERR_INVALID);
    run_done(&r);
    /* no project id anywhere */
    run_text(&r, "Push Hook", "{\"ref\":\"refs/heads/main\",\"project\":{},\"commits\":[]}", NULL);
    assert_int_equal(r.err, ERR_INVALID);
    run_done(&r);
    run_text(&r, "Deployment Hook", "{\"status\":\"success\",\"project\":{\"id\":1}}", NULL);
    assert_int_equal(r.err, ERR_INVALID); /* no deployment_id */
    run_done(&r);

    char *body = many_commits(INGEST_MAX_ROWS);
    run_text(&r, "Push Hook", body, NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_int_equal(r.b.n_commits, INGEST_MAX_ROWS);
    run_done(&r);
    free(body);
    body = many_commits(INGEST_MAX_ROWS + 1);
    run_text(&r, "Push Hook", body, NULL);
    assert_int_equal(r.err, ERR_LIMIT);
    run_done(&r);
    free(body);

    /* wrong types are unknown, not a crash */
    run_text(&r, "Merge Request Hook",
             "{\"user\":\"root\",\"project\":{\"id\":1,\"path_with_namespace\":1,"
             "\"web_url\":\"ftp://x\"},\"labels\":\"API\",\"object_attributes\":{\"iid\":2,"
             "\"title\":[],\"state\":7,\"draft\":\"no\",\"created_at\":12.5,"
             "\"labels\":[{\"title\":3},\"x\"],\"source_branch\":{},\"action\":[\"open\"]}}",
             NULL);
    assert_int_equal(r.err, ERR_OK);
    const struct ingest_pr *p = &r.b.prs[0];
    assert_str(r.b.event, "merge_request");
    assert_str(p->title, NULL);
    assert_str(p->state, NULL);
    assert_int_equal(p->draft, INGEST_TRI_UNKNOWN);
    assert_int_equal(p->created_at, 0);
    assert_true(p->labels_known); /* an array, of which no element has a string title */
    assert_int_equal(p->n_labels, 0);
    assert_str(p->source_branch, NULL);
    assert_str(r.b.repos[0].full_name, NULL);
    assert_str(r.b.repos[0].url, NULL); /* not http(s) */
    run_done(&r);

    /* a System Hook body of a kind that is not normalized, and garbage */
    run_text(&r, "System Hook", "{\"event_name\":\"user_create\",\"user_id\":3}", NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_str(r.b.event, "system.user_create");
    run_done(&r);
    run_text(&r, "Emoji Hook", "[]", NULL);
    assert_int_equal(r.err, ERR_OK);
    assert_str(r.b.event, "emoji_hook");
    run_done(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_fixture),
        cmocka_unit_test(test_push),
        cmocka_unit_test(test_merge_request),
        cmocka_unit_test(test_note_on_merge_request),
        cmocka_unit_test(test_deployment),
        cmocka_unit_test(test_tag_and_release),
        cmocka_unit_test(test_merge_request_actions),
        cmocka_unit_test(test_bots),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
