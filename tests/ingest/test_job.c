/*
 * The normalize job (ingest_job_normalize, two steps) run by the job runner
 * against a real database, both backends: a backlog of GitHub push
 * deliveries is normalized in batches — two write commits per
 * JOBS_CLAIM_BATCH jobs, each delivery's rows and status written in the
 * batch's transaction with its job's outcome; deliveries that cannot be
 * normalized, carry no change metadata, or whose integration is gone settle
 * in the same transactions (dead, ignored, ignored); a job whose delivery was
 * purged dies without upsetting its batch; a job whose last lease expired
 * marks its delivery dead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ingest/ingest.h"
#include "ingest/store.h"
#include "jobs/jobs.h"
#include "storage/storage.h"
#include "../common/testdb.h"

#define FIXTURE_MAX (256 * 1024)

struct suite {
    bool pg;
    char dir[64];
    struct storage *s;
    struct tenant_ctx t;
    char integration[37];
    char push[FIXTURE_MAX];
    char ping[FIXTURE_MAX];
    char azure_merged[FIXTURE_MAX];
    int64_t now;
};

static struct suite S;

static void read_provider_fixture(const char *provider, const char *name, char *out)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", SHIPLOG_FIXTURES_DEFAULT, provider, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(out, 1, FIXTURE_MAX - 1, f);
    fclose(f);
    assert_true(n > 0 && n < FIXTURE_MAX - 1);
    out[n] = '\0';
}

/* The tenant and its GitHub integration (scope "*"), written directly: no secret is unsealed. */
static int suite_setup(void **state)
{
    (void)state;
    S.s = testdb_open_main("ingestjob", S.dir, &S.pg);
    if (!S.s)
        return -1;
    read_provider_fixture("github", "push.json", S.push);
    read_provider_fixture("github", "ping.json", S.ping);
    read_provider_fixture("azuredevops", "git.pullrequest.merged.json", S.azure_merged);
    S.now = (int64_t)time(NULL);
    testdb_random_uuid(S.t.id);
    testdb_random_uuid(S.integration);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &S.t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_exec_args(tx, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)",
                                  STORAGE_ARGS(STORAGE_CSTR(S.t.id), STORAGE_CSTR("Job test")),
                                  NULL),
                     ERR_OK);
    struct stmt *st = NULL;
    assert_int_equal(tx_prepare(tx,
                                "INSERT INTO integrations (tenant_id, id, provider, name,"
                                " repository_scope, secret_env, secret_hint, created_at,"
                                " created_by) VALUES ($1, $2, 'github', 'Job test', '*', $3,"
                                " 'xxxx', 0, $1)",
                                &st),
                     ERR_OK);
    assert_int_equal(stmt_bind_text(st, 2, str_from_cstr(S.integration)), ERR_OK);
    assert_int_equal(stmt_bind_blob(st, 3, "sealed", 6), ERR_OK);
    bool row = false;
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    stmt_finish(st);
    assert_int_equal(storage_commit(tx), ERR_OK);
    return 0;
}

static int suite_teardown(void **state)
{
    (void)state;
    testdb_cleanup(S.s, S.dir);
    return 0;
}

/* Queues a delivery of provider and its normalize job in tx; id gets the delivery's id. */
static void queue_from(struct tx *tx, const char *provider, const char *integration,
                       const char *key, const char *event, const char *body,
                       char id[INGEST_DELIVERY_ID_LEN + 1])
{
    struct ingest_delivery_new d = {
        .integration_id = str_from_cstr(integration),
        .provider = str_from_cstr(provider),
        .delivery_key = str_from_cstr(key),
        .event = str_from_cstr(event),
        .body = str_from_cstr(body),
        .body_bytes = (int64_t)strlen(body),
        .received_at = S.now,
    };
    bool dup = true;
    assert_int_equal(ingest_delivery_insert(tx, &d, &dup, id), ERR_OK);
    assert_false(dup);
    assert_int_equal(jobs_enqueue(tx, INGEST_JOB_NORMALIZE, id, S.now, NULL), ERR_OK);
}

static void queue(struct tx *tx, const char *integration, const char *key, const char *event,
                  const char *body, char id[INGEST_DELIVERY_ID_LEN + 1])
{
    queue_from(tx, "github", integration, key, event, body, id);
}

static struct ingest_delivery delivery(const char *id, struct arena *a)
{
    struct ingest_delivery d;
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &S.t, TX_READ, &tx), ERR_OK);
    assert_int_equal(ingest_delivery_get(tx, str_from_cstr(id), a, &d), ERR_OK);
    storage_rollback(tx);
    return d;
}

static int64_t count_of(const char *sql)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &S.t, TX_READ, &tx), ERR_OK);
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(tx_query(tx, sql, NULL, 0, &st, &row), ERR_OK);
    assert_true(row);
    int64_t n = stmt_col_int(st, 0);
    stmt_finish(st);
    storage_rollback(tx);
    return n;
}

static struct jobs_round rounds_until_idle(int64_t now)
{
    const struct jobs_handler h[] = {ingest_job_normalize};
    struct jobs_round sum = {0}, r;
    do {
        assert_int_equal(jobs_run_round(S.s, h, 1, now, 0, NULL, &r), ERR_OK);
        sum.claimed += r.claimed;
        sum.done += r.done;
        sum.retried += r.retried;
        sum.dead += r.dead;
        sum.lost += r.lost;
        sum.alone += r.alone;
    } while (r.claimed > 0);
    return sum;
}

static void test_backlog_in_batches(void **state)
{
    enum { N_PUSH = 40, N_OTHER = 4, N = N_PUSH + N_OTHER };
    char push[N_PUSH][INGEST_DELIVERY_ID_LEN + 1], broken[INGEST_DELIVERY_ID_LEN + 1],
        ping[INGEST_DELIVERY_ID_LEN + 1], orphan[INGEST_DELIVERY_ID_LEN + 1], gone_integration[37];
    testdb_random_uuid(gone_integration);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &S.t, TX_WRITE, &tx), ERR_OK);
    char key[32];
    for (int k = 0; k < N_PUSH; k++) {
        snprintf(key, sizeof key, "push-%d", k);
        queue(tx, S.integration, key, "push", S.push, push[k]);
        if (k == 20) {
            queue(tx, S.integration, "broken", "push", "{\"ref\":", broken);
            queue(tx, S.integration, "ping", "ping", S.ping, ping);
            queue(tx, gone_integration, "orphan", "push", S.push, orphan);
        }
    }
    /* a job whose delivery is gone (purged): dead, and its batch unharmed */
    assert_int_equal(
        jobs_enqueue(tx, INGEST_JOB_NORMALIZE, "0123456789abcdef0123456789abcdef", S.now, NULL),
        ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);

    uint64_t commits = storage_write_commits(S.s);
    struct jobs_round r = rounds_until_idle(S.now);
    commits = storage_write_commits(S.s) - commits;
    printf("# %d normalize jobs settled with %llu write commits\n", N, (unsigned long long)commits);
    assert_int_equal(r.claimed, N);
    assert_int_equal(r.done, N_PUSH + 2); /* ping and orphan: ignored, done */
    assert_int_equal(r.dead, 2);          /* broken, purged */
    assert_int_equal(r.retried + r.lost + r.alone, 0);
    assert_true(commits <= 2 * ((N + JOBS_CLAIM_BATCH - 1) / JOBS_CLAIM_BATCH));

    struct arena *a = arena_new(1 << 20);
    for (int k = 0; k < N_PUSH; k++) {
        struct ingest_delivery d = delivery(push[k], a);
        assert_int_equal(d.status, INGEST_DELIVERY_PROCESSED);
        assert_int_equal(d.processed_at, S.now);
    }
    struct ingest_delivery d = delivery(broken, a);
    assert_int_equal(d.status, INGEST_DELIVERY_DEAD);
    assert_true(str_eq(d.error, STR_LIT("unreadable delivery")));
    d = delivery(ping, a);
    assert_int_equal(d.status, INGEST_DELIVERY_IGNORED);
    d = delivery(orphan, a);
    assert_int_equal(d.status, INGEST_DELIVERY_IGNORED);
    assert_true(str_eq(d.error, STR_LIT("integration deleted")));
    arena_free(a);
    /* the push's rows, once however many deliveries carried them */
    assert_int_equal(count_of("SELECT count(*) FROM repositories WHERE tenant_id = $1"), 1);
    assert_true(count_of("SELECT count(*) FROM commits WHERE tenant_id = $1") >= 1);
    assert_int_equal(count_of("SELECT count(*) FROM jobs WHERE tenant_id = $1"
                              " AND status IN ('pending', 'running')"),
                     0);
    /* the push went to the default branch: one draft for its one commit, however often told */
    assert_int_equal(count_of("SELECT count(*) FROM changelog_entries WHERE tenant_id = $1"
                              " AND source_kind = 'push' AND status = 'draft'"),
                     1);
    assert_int_equal(count_of("SELECT count(*) FROM changelog_versions WHERE tenant_id = $1"), 1);
}

/* A merged pull request becomes a draft (D1, D2); told again, it stays one entry. */
static void test_merged_pr_makes_draft(void **state)
{
    (void)state;
    int64_t before = count_of("SELECT count(*) FROM changelog_entries WHERE tenant_id = $1");
    char id[INGEST_DELIVERY_ID_LEN + 1];
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &S.t, TX_WRITE, &tx), ERR_OK);
    queue_from(tx, "azure-devops", S.integration, "merged-1", "git.pullrequest.merged",
               S.azure_merged, id);
    queue_from(tx, "azure-devops", S.integration, "merged-2", "git.pullrequest.merged",
               S.azure_merged, id);
    assert_int_equal(storage_commit(tx), ERR_OK);
    struct jobs_round r = rounds_until_idle(S.now);
    assert_int_equal(r.done, 2);
    assert_int_equal(count_of("SELECT count(*) FROM changelog_entries WHERE tenant_id = $1"),
                     before + 1);
    assert_int_equal(count_of("SELECT count(*) FROM changelog_entries WHERE tenant_id = $1"
                              " AND source_kind = 'pr' AND status = 'draft' AND version = 1"
                              " AND title = 'My first pull request' AND provider = 'rules'"
                              " AND source_number = 1"),
                     1);
    assert_int_equal(count_of("SELECT count(*) FROM audit_log WHERE tenant_id = $1"
                              " AND action = 'entry.created' AND actor_type = 'system'"),
                     before + 1);
}

/* A job whose runner died on its last attempt: the next claim gives up and marks the delivery. */
static void test_last_lease_expired_marks_dead(void **state)
{
    char id[INGEST_DELIVERY_ID_LEN + 1];
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &S.t, TX_WRITE, &tx), ERR_OK);
    queue(tx, S.integration, "crashed", "push", S.push, id);
    assert_int_equal(
        tx_exec_args(tx,
                     S.pg ? "UPDATE jobs SET status = 'running', attempts = max_attempts,"
                            " leased_until = to_timestamp($3::bigint),"
                            " run_at = to_timestamp($3::bigint)"
                            " WHERE tenant_id = $1::uuid AND ref = $2"
                          : "UPDATE jobs SET status = 'running', attempts = max_attempts,"
                            " leased_until = $3, run_at = $3"
                            " WHERE tenant_id = $1 AND ref = $2",
                     STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_INT(S.now + 10)), NULL),
        ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
    struct jobs_round r = rounds_until_idle(S.now + 10);
    assert_int_equal(r.claimed, 1);
    assert_int_equal(r.dead, 1);
    struct arena *a = arena_new(1 << 20);
    struct ingest_delivery d = delivery(id, a);
    assert_int_equal(d.status, INGEST_DELIVERY_DEAD);
    assert_true(str_eq(d.error, STR_LIT("lease expired on the last attempt")));
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backlog_in_batches),
        cmocka_unit_test(test_merged_pr_makes_draft),
        cmocka_unit_test(test_last_lease_expired_marks_dead),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
