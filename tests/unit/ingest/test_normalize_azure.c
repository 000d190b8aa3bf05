/*
 * Unit tests for ingest_normalize_azure and the envelope readers of
 * normalize_azure.h: every fixture normalizes; push and pull request samples
 * compared field by field with values read off the fixture by hand; votes;
 * bots; malformed and oversized input.
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
#include "ingest/normalize_azure.h"

#define PUSH_REPO "278d5cd2-584d-4b63-824a-2ba458937249"
#define PR_REPO   "4bc14d40-c903-45e2-872e-0462c7748079"

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

static void keep(struct json *doc)
{
    assert_int_equal(arena_defer(arena, (void (*)(void *))json_free, doc), ERR_OK);
}

static enum err run(const char *file, const struct ingest_norm_options *opt, struct ingest_batch *b)
{
    struct json *doc = fixture_load("azuredevops", file);
    keep(doc);
    return ingest_normalize_azure(STR_NULL, doc, opt, arena, b);
}

static enum err run_text(const char *text, struct ingest_batch *b)
{
    struct json *doc = fixture_parse(text, strlen(text));
    keep(doc);
    return ingest_normalize_azure(STR_NULL, doc, NULL, arena, b);
}

/* ---- 1. every fixture ---------------------------------------------------- */

static const struct {
    const char *file;
    const char *event; /* eventType in the body */
    bool empty;
} fixtures[] = {
    {"build.complete.json", "build.complete", true},
    {"git.pullrequest.created.json", "git.pullrequest.created", false},
    {"git.pullrequest.merged.json", "git.pullrequest.merged", false},
    {"git.pullrequest.updated.json", "git.pullrequest.updated", false},
    {"git.push.json", "git.push", false},
};

static void test_every_fixture(void **state)
{
    (void)state;
    size_t n = sizeof fixtures / sizeof *fixtures;
    const char *names[sizeof fixtures / sizeof *fixtures];
    for (size_t i = 0; i < n; i++) {
        names[i] = fixtures[i].file;
        struct ingest_batch b;
        enum err e = run(fixtures[i].file, NULL, &b);
        if (e != ERR_OK)
            fail_msg("%s: %s", fixtures[i].file, err_name(e));
        assert_str(b.event, fixtures[i].event);
        size_t rows =
            b.n_repos + b.n_commits + b.n_prs + b.n_reviews + b.n_deployments + b.n_releases;
        if (fixtures[i].empty ? rows != 0 : b.n_repos != 1)
            fail_msg("%s: %zu rows, %zu repos", fixtures[i].file, rows, b.n_repos);
    }
    fixture_check_listed("azuredevops", names, n);
}

static void test_envelope(void **state)
{
    (void)state;
    struct json *doc = fixture_load("azuredevops", "git.push.json");
    keep(doc);
    struct str s;
    assert_true(ingest_azure_event_id(doc, &s));
    assert_str(s, "03c164c2-8912-4d5e-8009-3707d5f83734");
    assert_true(ingest_azure_event_type(doc, &s));
    assert_str(s, "git.push");

    const char *wrong = "{\"id\":5,\"eventType\":\"\"}";
    struct json *bad = fixture_parse(wrong, strlen(wrong));
    keep(bad);
    assert_false(ingest_azure_event_id(bad, &s));
    assert_false(ingest_azure_event_type(bad, &s));
    char big[256];
    int n = snprintf(big, sizeof big, "{\"id\":\"%0*d\"}", INGEST_AZURE_MAX_EVENT_ID + 1, 0);
    struct json *longer = fixture_parse(big, (size_t)n);
    keep(longer);
    assert_false(ingest_azure_event_id(longer, &s));
    assert_false(ingest_azure_event_id(NULL, &s));
}

/* ---- 2. field by field --------------------------------------------------- */

static void test_push(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run("git.push.json", NULL, &b), ERR_OK);
    assert_str(b.event, "git.push");
    assert_int_equal(b.n_repos, 1);
    assert_str(b.repos[0].id, "azure-devops:repo:" PUSH_REPO);
    assert_str(b.repos[0].full_name, "Fabrikam-Fiber-Git/Fabrikam-Fiber-Git");
    assert_str(
        b.repos[0].url,
        "https://dev.azure.com/fabrikam-fiber-inc/DefaultCollection/_git/Fabrikam-Fiber-Git");
    assert_str(b.repos[0].default_branch, "main");
    assert_int_equal(b.n_commits, 1);
    const struct ingest_commit *c = &b.commits[0];
    assert_str(c->id, "azure-devops:commit:" PUSH_REPO ":33b55f7cb7e7e245323987634f960cf4a6e6bc74");
    assert_str(c->repo_id, "azure-devops:repo:" PUSH_REPO);
    assert_str(c->sha, "33b55f7cb7e7e245323987634f960cf4a6e6bc74");
    assert_str(c->message, "Fixed bug in web.config file");
    assert_str(c->author.login, NULL);
    assert_str(c->author.name, "Jamal Hartnett");
    assert_str(c->author.email, "fabrikamfiber4@hotmail.com");
    assert_false(c->author.bot);
    assert_str(c->committer.name, "Jamal Hartnett");
    assert_str(c->committer.email, "fabrikamfiber4@hotmail.com");
    assert_int_equal(c->authored_at, 1424890860);  /* 2015-02-25T19:01:00Z */
    assert_int_equal(c->committed_at, 1424890860); /* 2015-02-25T19:01:00Z */
    assert_str(c->branch, "main");                 /* the one refUpdate, refs/heads/main */
    assert_int_equal(c->n_files, 0);
    assert_int_equal(c->files_changed, INGEST_UNKNOWN);
    assert_int_equal(c->additions, INGEST_UNKNOWN);
    assert_int_equal(c->deletions, INGEST_UNKNOWN);
    assert_int_equal(b.n_releases + b.n_prs + b.n_reviews, 0);
}

static void assert_pr_common(const struct ingest_batch *b)
{
    assert_int_equal(b->n_repos, 1);
    assert_str(b->repos[0].id, "azure-devops:repo:" PR_REPO);
    assert_str(b->repos[0].full_name, "Fabrikam/Fabrikam");
    assert_str(b->repos[0].url, "https://dev.azure.com/fabrikam/DefaultCollection/_git/Fabrikam");
    assert_str(b->repos[0].default_branch, "master");
    assert_int_equal(b->n_prs, 1);
    const struct ingest_pr *pr = &b->prs[0];
    assert_str(pr->id, "azure-devops:pr:" PR_REPO ":1");
    assert_str(pr->repo_id, "azure-devops:repo:" PR_REPO);
    assert_int_equal(pr->number, 1);
    assert_str(pr->title, "my first pull request");
    assert_str(pr->description, " - test2\r\n");
    assert_int_equal(pr->draft, INGEST_TRI_UNKNOWN); /* no isDraft in the sample */
    assert_false(pr->labels_known);
    assert_str(pr->author.login, "fabrikamfiber4@hotmail.com");
    assert_str(pr->author.name, "Jamal Hartnett");
    assert_false(pr->author.bot);
    assert_str(pr->source_branch, "mytopic");
    assert_str(pr->target_branch, "master");
    assert_int_equal(pr->created_at, 1403024146); /* 2014-06-17T16:55:46.589889Z */
    assert_int_equal(pr->updated_at, 0);
    assert_int_equal(pr->first_review_at, 0);
    assert_int_equal(pr->approved_at, 0);
    assert_int_equal(pr->commits, INGEST_UNKNOWN);
    assert_int_equal(pr->changed_files, INGEST_UNKNOWN);
    /* the only reviewer, a team, has vote 0: no review row */
    assert_int_equal(b->n_reviews, 0);
}

static void test_pr_created(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run("git.pullrequest.created.json", NULL, &b), ERR_OK);
    assert_str(b.event, "git.pullrequest.created");
    assert_pr_common(&b);
    const struct ingest_pr *pr = &b.prs[0];
    assert_str(pr->state, "open"); /* status active */
    assert_int_equal(pr->ready_at, 1403024146);
    assert_int_equal(pr->merged_at, 0);
    assert_int_equal(pr->closed_at, 0);
    /* lastMergeCommit of an active PR is the preview merge: not kept */
    assert_str(pr->merge_commit_sha, NULL);
}

static void test_pr_merged(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run("git.pullrequest.merged.json", NULL, &b), ERR_OK);
    assert_str(b.event, "git.pullrequest.merged");
    assert_pr_common(&b);
    const struct ingest_pr *pr = &b.prs[0];
    assert_str(pr->state, "merged"); /* completed + mergeStatus succeeded */
    assert_int_equal(pr->ready_at, 0);
    assert_int_equal(pr->merged_at, 1404154752); /* closedDate 2014-06-30T18:59:12.3660573Z */
    assert_int_equal(pr->closed_at, 1404154752);
    assert_str(pr->merge_commit_sha, "eef717f69257a6333f221566c1c987dc94cc0d72");
}

static void test_votes_labels_draft(void **state)
{
    (void)state;
    const char *body =
        "{\"eventType\":\"git.pullrequest.updated\",\"createdDate\":\"2016-09-19T13:03:27."
        "0379153Z\","
        "\"resource\":{\"repository\":{\"id\":\"r1\",\"name\":\"n\",\"project\":{\"name\":\"p\"},"
        "\"remoteUrl\":\"https://org@dev.azure.com/org/p/_git/n\"},"
        "\"pullRequestId\":9,\"status\":\"completed\",\"mergeStatus\":\"conflicts\",\"isDraft\":"
        "true,"
        "\"closedDate\":\"2016-09-19T13:00:00Z\","
        "\"lastMergeCommit\":{\"commitId\":\"eef717f69257a6333f221566c1c987dc94cc0d72\"},"
        "\"labels\":[{\"name\":\"bug\",\"active\":true},{\"name\":\"old\",\"active\":false},"
        "{\"name\":\"ui\"}],"
        "\"reviewers\":[{\"id\":\"a\",\"vote\":10,\"uniqueName\":\"ann@ex.org\"},"
        "{\"id\":\"b\",\"vote\":5},{\"id\":\"c\",\"vote\":0},{\"id\":\"d\",\"vote\":-5},"
        "{\"id\":\"e\",\"vote\":-10},{\"id\":\"f\",\"vote\":\"10\"},{\"vote\":10}]}}";
    struct ingest_batch b;
    assert_int_equal(run_text(body, &b), ERR_OK);
    assert_str(b.event, "git.pullrequest.updated");
    assert_str(b.repos[0].url, "https://dev.azure.com/org/p/_git/n"); /* userinfo dropped */
    assert_str(b.repos[0].full_name, "p/n");
    const struct ingest_pr *pr = &b.prs[0];
    assert_str(pr->state, "closed");             /* completed, but the merge did not succeed */
    assert_int_equal(pr->closed_at, 1474290000); /* 2016-09-19T13:00:00Z */
    assert_int_equal(pr->merged_at, 0);
    assert_str(pr->merge_commit_sha, NULL);
    assert_int_equal(pr->draft, INGEST_TRI_YES);
    assert_true(pr->labels_known);
    assert_int_equal(pr->n_labels, 2);
    assert_str(pr->labels[0], "bug");
    assert_str(pr->labels[1], "ui");
    assert_int_equal(b.n_reviews, 4);
    static const char *const want[][2] = {
        {"azure-devops:review:r1:9:a:approved", "approved"},
        {"azure-devops:review:r1:9:b:approved", "approved"},
        {"azure-devops:review:r1:9:d:changes_requested", "changes_requested"},
        {"azure-devops:review:r1:9:e:changes_requested", "changes_requested"},
    };
    for (size_t i = 0; i < 4; i++) {
        assert_str(b.reviews[i].id, want[i][0]);
        assert_str(b.reviews[i].state, want[i][1]);
        assert_str(b.reviews[i].pr_id, "azure-devops:pr:r1:9");
        assert_int_equal(b.reviews[i].kind, INGEST_REVIEW);
        /* the envelope's createdDate 2016-09-19T13:03:27.0379153Z */
        assert_int_equal(b.reviews[i].submitted_at, 1474290207);
    }
    assert_str(b.reviews[0].reviewer.login, "ann@ex.org");
}

static void test_push_tags(void **state)
{
    (void)state;
    const char *body = "{\"eventType\":\"git.push\",\"resource\":{\"repository\":{\"id\":\"r1\"},"
                       "\"date\":\"2014-05-02T19:17:13.3309587Z\",\"commits\":[],\"refUpdates\":["
                       "{\"name\":\"refs/tags/"
                       "v1.0\",\"newObjectId\":\"aad331d8d3b131fa9ae03cf5e53965b51942618a\"},"
                       "{\"name\":\"refs/tags/"
                       "gone\",\"newObjectId\":\"0000000000000000000000000000000000000000\"},"
                       "{\"name\":\"refs/heads/a\"},{\"name\":\"refs/heads/b\"}]}}";
    struct ingest_batch b;
    assert_int_equal(run_text(body, &b), ERR_OK);
    assert_int_equal(b.n_releases, 1);
    assert_str(b.releases[0].id, "azure-devops:tag:r1:v1.0");
    assert_str(b.releases[0].tag, "v1.0");
    assert_int_equal(b.releases[0].kind, INGEST_TAG);
    assert_str(b.releases[0].sha, "aad331d8d3b131fa9ae03cf5e53965b51942618a");
    assert_int_equal(b.releases[0].published_at, 1399058233); /* 2014-05-02T19:17:13.3309587Z */
    assert_int_equal(b.n_commits, 0);
}

/* ---- 3. bots ------------------------------------------------------------- */

static void test_bots(void **state)
{
    (void)state;
    struct ingest_batch b;
    const struct str pats[] = {STR_LIT("jamal *")};
    const struct ingest_norm_options opt = {pats, 1};
    assert_int_equal(run("git.push.json", &opt, &b), ERR_OK);
    assert_true(b.commits[0].author.bot);
    assert_true(b.commits[0].committer.bot);
    assert_int_equal(run("git.pullrequest.created.json", &opt, &b), ERR_OK);
    assert_true(b.prs[0].author.bot);
    assert_int_equal(run("git.pullrequest.created.json", NULL, &b), ERR_OK);
    assert_false(b.prs[0].author.bot);
    const char *body = "{\"eventType\":\"git.pullrequest.created\",\"resource\":{"
                       "\"repository\":{\"id\":\"r\"},\"pullRequestId\":3,"
                       "\"createdBy\":{\"uniqueName\":\"dependabot@ex.org\"}}}";
    assert_int_equal(run_text(body, &b), ERR_OK);
    assert_true(b.prs[0].author.bot);
}

/* ---- 4. malformed and oversized ------------------------------------------ */

static void test_invalid(void **state)
{
    (void)state;
    struct ingest_batch b;
    assert_int_equal(run_text("{\"eventType\":\"git.pullrequest.created\",\"resource\":{"
                              "\"repository\":{\"id\":\"r\"},\"title\":\"t\"}}",
                              &b),
                     ERR_INVALID);
    assert_int_equal(b.n_repos + b.n_prs, 0);
    assert_str(b.event, "git.pullrequest.created");
    assert_int_equal(run_text("{\"eventType\":\"git.pullrequest.merged\",\"resource\":{"
                              "\"repository\":{\"id\":\"r\"},\"pullRequestId\":0}}",
                              &b),
                     ERR_INVALID);
    assert_int_equal(run_text("{\"eventType\":\"git.push\",\"resource\":{\"commits\":[]}}", &b),
                     ERR_INVALID);
    assert_int_equal(run_text("{\"eventType\":\"git.push\",\"resource\":{\"repository\":{"
                              "\"id\":\"r\"},\"commits\":[{\"commitId\":7}]}}",
                              &b),
                     ERR_INVALID);
    assert_int_equal(run_text("\"git.push\"", &b), ERR_INVALID);
    /* unknown or missing event types: an empty batch */
    assert_int_equal(run_text("{\"eventType\":\"workitem.updated\"}", &b), ERR_OK);
    assert_int_equal(b.n_repos, 0);
    assert_int_equal(run_text("{\"eventType\":17,\"resource\":{}}", &b), ERR_OK);
    assert_str(b.event, "");
    assert_int_equal(b.n_repos, 0);
}

static void test_wrong_types_are_unknown(void **state)
{
    (void)state;
    const char *body =
        "{\"eventType\":\"git.pullrequest.created\",\"createdDate\":5,\"resource\":{"
        "\"repository\":{\"id\":\"r\",\"name\":3,\"project\":\"p\",\"remoteUrl\":[]},"
        "\"pullRequestId\":2,\"status\":1,\"isDraft\":\"no\",\"title\":{},\"createdBy\":\"x\","
        "\"sourceRefName\":9,\"creationDate\":1403024146,\"labels\":{},\"reviewers\":{}}}";
    struct ingest_batch b;
    assert_int_equal(run_text(body, &b), ERR_OK);
    assert_str(b.repos[0].full_name, NULL);
    assert_str(b.repos[0].url, NULL);
    const struct ingest_pr *pr = &b.prs[0];
    assert_str(pr->state, NULL);
    assert_int_equal(pr->draft, INGEST_TRI_UNKNOWN);
    assert_str(pr->title, NULL);
    assert_str(pr->author.login, NULL);
    assert_str(pr->source_branch, NULL);
    assert_int_equal(pr->created_at, 0);
    assert_false(pr->labels_known);
    assert_int_equal(b.n_reviews, 0);
}

static char *push_body(size_t n)
{
    size_t cap = 256 + n * 64;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t at = (size_t)snprintf(s, cap,
                                 "{\"eventType\":\"git.push\",\"resource\":{"
                                 "\"repository\":{\"id\":\"r\"},\"commits\":[");
    for (size_t i = 0; i < n; i++)
        at +=
            (size_t)snprintf(s + at, cap - at, "%s{\"commitId\":\"%040zx\"}", i ? "," : "", i + 1);
    at += (size_t)snprintf(s + at, cap - at, "]}}");
    assert_true(at < cap);
    return s;
}

static void test_row_limit(void **state)
{
    (void)state;
    struct ingest_batch b;
    char *body = push_body(INGEST_MAX_ROWS);
    assert_int_equal(run_text(body, &b), ERR_OK);
    assert_int_equal(b.n_commits, INGEST_MAX_ROWS);
    free(body);
    body = push_body(INGEST_MAX_ROWS + 1);
    assert_int_equal(run_text(body, &b), ERR_LIMIT);
    assert_int_equal(b.n_commits, 0);
    free(body);
}

static void test_id_limit(void **state)
{
    (void)state;
    /* "azure-devops:repo:" is 18 bytes: a 238-byte key fits, 239 does not */
    char body[600];
    char key[300];
    for (size_t klen = 238; klen <= 239; klen++) {
        memset(key, 'k', klen);
        key[klen] = '\0';
        snprintf(body, sizeof body,
                 "{\"eventType\":\"git.push\",\"resource\":{\"repository\":{\"id\":\"%s\"}}}", key);
        struct ingest_batch b;
        assert_int_equal(run_text(body, &b), klen == 238 ? ERR_OK : ERR_LIMIT);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_fixture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_envelope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pr_created, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pr_merged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_votes_labels_draft, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_types_are_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
