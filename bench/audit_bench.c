/*
 * audit_bench — how fast the audit trail appends and verifies (SQLite).
 *
 *   audit_bench [ENTRIES]   (default 1,000,000)
 *
 * In a throwaway directory: 4 threads append ENTRIES entries to one tenant's
 * chain, AUDIT_BENCH_BATCH appends per transaction (as a busy server's
 * requests would, each in its own transaction, but batched so the figure is
 * the chain's cost rather than fsync's); then audit_verify_tenant streams the
 * whole chain once. Prints entries/s for both. Targets: append >= 20,000/s,
 * verify >= 500,000/s. Figures only: never a pass/fail.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"

#define AUDIT_BENCH_THREADS 4
#define AUDIT_BENCH_BATCH   500 /* appends per transaction */

static const struct tenant_ctx TENANT = {.id = "5e1d0c3b-2a49-4876-9f5e-4d3c2b1a0f9e"};

struct worker {
    struct storage *s;
    long n;
    enum err err;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *append_worker(void *arg)
{
    struct worker *w = arg;
    char target[48];
    for (long done = 0; done < w->n && !w->err;) {
        struct tx *tx = NULL;
        enum err e = storage_begin(w->s, &TENANT, TX_WRITE, &tx);
        for (long i = 0; !e && i < AUDIT_BENCH_BATCH && done < w->n; i++, done++) {
            snprintf(target, sizeof target, "draft:%ld", done);
            struct audit_event ev = {
                .action = "draft.edited",
                .actor = AUDIT_ACTOR_USER,
                .actor_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                .target = target,
                .outcome = AUDIT_SUCCESS,
                .client_ip = "198.51.100.23",
                .request_id = "0af7651916cd43dd8448eb211c80319c",
                .details = LOG_FIELDS_(LOG_INT("revision", done), LOG_STR("field", "title")),
            };
            e = audit_append(tx, &ev, NULL);
        }
        if (e) {
            storage_rollback(tx);
            w->err = e;
        } else {
            w->err = storage_commit(tx);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long entries = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    if (entries < AUDIT_BENCH_THREADS) {
        fprintf(stderr, "usage: audit_bench [ENTRIES >= %d]\n", AUDIT_BENCH_THREADS);
        return 64;
    }
    log_init(LOG_WARN, 2);
    char dir[] = "/tmp/shiplog-audit-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[96];
    snprintf(path, sizeof path, "%s/shiplog.db", dir);
    struct storage_options o = {.sqlite_path = path, .pool_size = 8, .statement_timeout_ms = 60000};
    struct storage *s = NULL;
    struct buf detail = BUF_INIT(1024);
    enum err e = storage_open(&o, &s, &detail);
    if (!e)
        e = storage_migrate(s, &detail);
    if (e) {
        fprintf(stderr, "storage: %s: %s\n", err_name(e), buf_cstr(&detail));
        return 1;
    }
    buf_release(&detail);

    pthread_t th[AUDIT_BENCH_THREADS];
    struct worker w[AUDIT_BENCH_THREADS];
    double t0 = now_s();
    for (int i = 0; i < AUDIT_BENCH_THREADS; i++) {
        w[i] = (struct worker){.s = s,
                               .n = entries / AUDIT_BENCH_THREADS +
                                    (i < entries % AUDIT_BENCH_THREADS ? 1 : 0)};
        if (pthread_create(&th[i], NULL, append_worker, &w[i]) != 0)
            return 1;
    }
    for (int i = 0; i < AUDIT_BENCH_THREADS; i++) {
        pthread_join(th[i], NULL);
        if (w[i].err) {
            fprintf(stderr, "append: %s\n", err_name(w[i].err));
            return 1;
        }
    }
    double t1 = now_s();
    printf("append: %ld entries, %d threads, %d per transaction: %.0f entries/s\n", entries,
           AUDIT_BENCH_THREADS, AUDIT_BENCH_BATCH, (double)entries / (t1 - t0));
    fflush(stdout);

    struct audit_trusted_keys keys = {.n = 0};
    struct audit_verify_result r;
    double t2 = now_s();
    e = audit_verify_tenant(s, &TENANT, &keys, &r);
    double t3 = now_s();
    if (e || r.kind != AUDIT_OK || r.entries != entries) {
        fprintf(stderr, "verify: %s, %s, %lld entries\n", err_name(e), r.why, (long long)r.entries);
        return 1;
    }
    printf("verify: %lld entries: %.0f entries/s\n", (long long)r.entries,
           (double)r.entries / (t3 - t2));

    storage_close(s);
    static const char *const files[] = {"shiplog.db", "shiplog.db-wal", "shiplog.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return 0;
}
