/*
 * drain_bench — how fast the job runner works off a backlog of webhook
 * deliveries (normalize jobs), on SQLite or PostgreSQL.
 *
 *   drain_bench BODY_FILE [DELIVERIES [THREADS]]   (defaults 20,000 and 2)
 *
 * BODY_FILE is a GitHub push delivery (bench/push_body.py writes one). The
 * database is a throwaway SQLite file, or PostgreSQL when BENCH_PG_OWNER_URL
 * and BENCH_PG_APP_URL are set (migrated as the owner, run as the
 * application role; bench/drain_run starts a cluster). One tenant with one
 * GitHub integration gets DELIVERIES deliveries of the body, redacted as the
 * webhook endpoint stores it, each with its own delivery id and its
 * ingest.normalize job, DRAIN_BENCH_QUEUE_TX per transaction. Then the job
 * runner starts as the server starts it (THREADS threads, ingest's handler)
 * and the clock runs until every job is done or dead.
 *
 * Prints deliveries normalized per second, and the write transactions
 * committed per delivery while draining (storage_write_commits). Figures
 * only: never a pass/fail (exit 1 only when something failed: a job not
 * done, a storage error).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "ingest/ingest.h"
#include "ingest/redact.h"
#include "ingest/store.h"
#include "jobs/jobs.h"
#include "storage/storage.h"

#define DRAIN_BENCH_QUEUE_TX  1000 /* deliveries queued per transaction */
#define DRAIN_BENCH_TIMEOUT_S 1800 /* gives up waiting for the runner after */
#define DRAIN_BENCH_MAX_BODY  INGEST_MAX_BODY

static const struct tenant_ctx TENANT = {.id = "3f2c8a71-5b0e-4d6a-9c1f-7e8d2b4a6c10"};
static const char INTEGRATION[] = "9b1e4f2a-6c3d-4e5f-8a7b-0c1d2e3f4a5b";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, enum err e)
{
    fprintf(stderr, "drain_bench: %s: %s\n", what, err_name(e));
    exit(1);
}

/* The storage: PostgreSQL (migrated as the owner) or SQLite under dir. */
static struct storage *open_storage(char dir[64], bool *pg)
{
    const char *owner = getenv("BENCH_PG_OWNER_URL");
    const char *app = getenv("BENCH_PG_APP_URL");
    *pg = owner && owner[0] && app && app[0];
    char path[128];
    struct storage_options o = {.pool_size = 8, .statement_timeout_ms = 30000};
    struct buf detail = BUF_INIT(2048);
    struct storage *s = NULL, *mig = NULL;
    enum err e;
    if (*pg) {
        struct storage_options oo = {.database_url = owner, .pool_size = 1};
        e = storage_open_migrator(&oo, &mig, &detail);
        o.database_url = app;
    } else {
        snprintf(dir, 64, "/tmp/shiplog-drain-XXXXXX");
        if (!mkdtemp(dir))
            die("mkdtemp", ERR_INTERNAL);
        snprintf(path, sizeof path, "%s/shiplog.db", dir);
        o.sqlite_path = path;
        e = storage_open(&o, &mig, &detail);
    }
    if (!e)
        e = storage_migrate(mig, &detail);
    if (*pg) {
        storage_close(mig);
        if (!e)
            e = storage_open(&o, &s, &detail);
    } else {
        s = mig;
    }
    if (e) {
        fprintf(stderr, "drain_bench: storage: %s\n", buf_cstr(&detail));
        die("storage", e);
    }
    buf_release(&detail);
    return s;
}

/* The tenant and its GitHub integration (repository scope "*"), written directly. */
static enum err add_tenant(struct storage *s)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(s, &TENANT, TX_WRITE, &tx);
    if (e)
        return e;
    e = tx_exec_args(tx, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)",
                     STORAGE_ARGS(STORAGE_CSTR("drain-bench"), STORAGE_CSTR("Drain bench")), NULL);
    struct stmt *st = NULL;
    if (!e)
        e = tx_prepare(tx,
                       "INSERT INTO integrations (tenant_id, id, provider, name, repository_scope,"
                       " secret_env, secret_hint, created_at, created_by)"
                       " VALUES ($1, $2, 'github', 'Drain bench', '*', $3, 'xxxx', 0, $1)",
                       &st);
    if (!e) {
        e = stmt_bind_text(st, 2, str_from_cstr(INTEGRATION));
        if (!e)
            e = stmt_bind_blob(st, 3, "sealed", 6); /* never unsealed by the normalize job */
        bool row = false;
        if (!e)
            e = stmt_step(st, &row);
        stmt_finish(st);
    }
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

/* n deliveries of body (redacted already) with their jobs, DRAIN_BENCH_QUEUE_TX a transaction. */
static enum err queue(struct storage *s, struct str body, size_t raw_len, long n)
{
    int64_t now = (int64_t)time(NULL);
    char key[32];
    enum err e = ERR_OK;
    for (long done = 0; !e && done < n;) {
        struct tx *tx = NULL;
        if ((e = storage_begin(s, &TENANT, TX_WRITE, &tx)))
            break;
        for (long k = 0; !e && k < DRAIN_BENCH_QUEUE_TX && done < n; k++, done++) {
            snprintf(key, sizeof key, "drain-%ld", done);
            struct ingest_delivery_new d = {
                .integration_id = str_from_cstr(INTEGRATION),
                .provider = STR_LIT("github"),
                .delivery_key = str_from_cstr(key),
                .event = STR_LIT("push"),
                .body = body,
                .body_bytes = (int64_t)raw_len,
                .received_at = now,
            };
            bool dup = false;
            char id[INGEST_DELIVERY_ID_LEN + 1];
            e = ingest_delivery_insert(tx, &d, &dup, id);
            if (!e)
                e = jobs_enqueue(tx, INGEST_JOB_NORMALIZE, id, 0, NULL);
        }
        if (e)
            storage_rollback(tx);
        else
            e = storage_commit(tx);
    }
    return e;
}

static int64_t count_processed(struct storage *s)
{
    struct tx *tx = NULL;
    struct stmt *st = NULL;
    bool row = false;
    int64_t n = -1;
    if (storage_begin(s, &TENANT, TX_READ, &tx) != ERR_OK)
        return -1;
    if (tx_query(tx,
                 "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1"
                 " AND status = 'processed'",
                 NULL, 0, &st, &row) == ERR_OK) {
        n = row ? stmt_col_int(st, 0) : -1;
        stmt_finish(st);
    }
    storage_rollback(tx);
    return n;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *data = malloc(DRAIN_BENCH_MAX_BODY + 1);
    if (!data)
        abort();
    *len = fread(data, 1, DRAIN_BENCH_MAX_BODY + 1, f);
    fclose(f);
    if (*len == 0 || *len > DRAIN_BENCH_MAX_BODY) {
        free(data);
        return NULL;
    }
    return data;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: drain_bench BODY_FILE [DELIVERIES [THREADS]]\n");
        return 2;
    }
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
    long threads = argc > 3 ? strtol(argv[3], NULL, 10) : 2;
    if (n < 1 || n > 10000000 || threads < 1 || threads > JOBS_MAX_THREADS) {
        fprintf(stderr, "drain_bench: DELIVERIES 1..10000000, THREADS 1..%d\n", JOBS_MAX_THREADS);
        return 2;
    }
    log_init(LOG_WARN, 2); /* the migrations' and the runner's info lines are noise here */
    size_t raw_len = 0;
    char *raw = read_file(argv[1], &raw_len);
    if (!raw) {
        fprintf(stderr, "drain_bench: cannot read %s (1..%zu bytes)\n", argv[1],
                (size_t)DRAIN_BENCH_MAX_BODY);
        return 2;
    }
    struct buf body = BUF_INIT(REDACT_MAX_OUTPUT);
    struct redact_counts counts;
    struct json_error jerr;
    enum err e = redact_json(raw, raw_len, &body, &counts, &jerr);
    free(raw);
    if (e)
        die("redact_json", e);

    char dir[64] = "";
    bool pg = false;
    struct storage *s = open_storage(dir, &pg);
    if ((e = add_tenant(s)))
        die("tenant", e);
    double t0 = now_s();
    if ((e = queue(s, str_from(buf_cstr(&body), body.len), raw_len, n)))
        die("queue", e);
    double t1 = now_s();
    printf("drain_bench: %s, %ld deliveries of %zu bytes (%zu stored) queued in %.1f s\n",
           pg ? "postgresql" : "sqlite", n, raw_len, body.len, t1 - t0);
    buf_release(&body);

    const struct jobs_handler handlers[] = {ingest_job_normalize};
    struct jobs_runner *r = NULL;
    uint64_t commits = storage_write_commits(s);
    double start = now_s();
    if ((e = jobs_runner_start(s, handlers, 1, (unsigned)threads, NULL, &r)))
        die("jobs_runner_start", e);
    struct jobs_round tot = {0};
    while (now_s() - start < DRAIN_BENCH_TIMEOUT_S) {
        jobs_runner_totals(r, &tot);
        if (tot.done + tot.dead >= (unsigned)n)
            break;
        usleep(10 * 1000);
    }
    double elapsed = now_s() - start;
    jobs_runner_stop(r);
    commits = storage_write_commits(s) - commits;
    int64_t processed = count_processed(s);
    printf("drain_bench: %ld threads: %u done, %u dead, %u retried in %.2f s: %.0f deliveries/s"
           " (%lld processed), %.2f write commits per delivery\n",
           threads, tot.done, tot.dead, tot.retried, elapsed, (double)tot.done / elapsed,
           (long long)processed, (double)commits / (double)n);
    storage_close(s);
    if (!pg && dir[0]) {
        char path[128];
        static const char *const files[] = {"shiplog.db", "shiplog.db-wal", "shiplog.db-shm"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    return processed == n ? 0 : 1;
}
