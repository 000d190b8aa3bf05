/*
 * cleanup.c — deleting account state nobody can use any more
 * (accounts_cleanup), and the thread that does it every interval
 * (accounts_cleaner).
 *
 * Finding the work crosses tenants, so it is a directory question (see
 * accounts.h): one statement bound to ACCOUNTS_DIRECTORY_TENANT lists the
 * tenants that have something to delete, in id order and in batches (on
 * PostgreSQL through the SECURITY DEFINER function accounts_cleanup_tenants,
 * migration 0008, which returns ids only). The deletes themselves run in an
 * ordinary transaction per tenant, under its row-level security. The per-IP
 * counters belong to no tenant: they go with one directory statement
 * (accounts_ip_cleanup on PostgreSQL).
 *
 * A tenant that fails is skipped, the others are still cleaned, and the
 * first error is returned; the next run retries it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idempotency/idempotency.h"
#include "accounts/accounts_internal.h"
#include "auth/tokens.h"
#include "core/log.h"

#define CLEANUP_BATCH 100 /* tenant ids one directory query lists */

/* Asked between tenants: true when the caller wants the run to end early. */
struct cleanup_stop {
    bool (*fn)(void *arg);
    void *arg;
};

/* Up to CLEANUP_BATCH tenants above after with rows ended at or before cutoff, in id order. */
static enum err tenants_due(struct accounts *a, const char *after, int64_t cutoff,
                            struct tenant_ctx ids[CLEANUP_BATCH], size_t *n)
{
    *n = 0;
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, &acc_directory_ctx, TX_READ, &tx);
    if (e)
        return e;
    const char *sql =
        storage_tx_backend(tx) == STORAGE_POSTGRES
            ? "SELECT t::text FROM accounts_cleanup_tenants($2::uuid, $3::bigint, $4::integer) "
              "AS t WHERE $1::uuid = '" ACCOUNTS_DIRECTORY_TENANT "'::uuid"
            : "SELECT tenant_id FROM sessions "
              "WHERE $1 = '" ACCOUNTS_DIRECTORY_TENANT "' AND tenant_id > $2 "
              "AND (revoked_at <= $3 OR expires_at <= $3 OR idle_expires_at <= $3) "
              "UNION "
              "SELECT tenant_id FROM auth_tokens "
              "WHERE $1 = '" ACCOUNTS_DIRECTORY_TENANT "' AND tenant_id > $2 "
              "AND (used_at <= $3 OR expires_at <= $3) "
              "ORDER BY 1 LIMIT $4";
    struct stmt *st = NULL;
    bool row = false;
    e = tx_query(tx, sql,
                 STORAGE_ARGS(STORAGE_CSTR(after), STORAGE_INT(cutoff), STORAGE_INT(CLEANUP_BATCH)),
                 &st, &row);
    while (!e && row && *n < CLEANUP_BATCH) {
        struct str id = stmt_col_text(st, 0);
        if (!storage_tenant_id_valid(id)) {
            e = ERR_DB; /* the tables hold canonical ids only */
            break;
        }
        memcpy(ids[*n].id, id.ptr, STORAGE_TENANT_ID_LEN);
        ids[*n].id[STORAGE_TENANT_ID_LEN] = '\0';
        (*n)++;
        e = stmt_step(st, &row);
    }
    stmt_finish(st);
    storage_rollback(tx);
    if (e)
        *n = 0;
    return e;
}

/* Deletes t's sessions and tokens that ended at or before cutoff; adds the counts to out. */
static enum err clean_tenant(struct accounts *a, const struct tenant_ctx *t, int64_t cutoff,
                             struct accounts_cleanup_stats *out)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, t, TX_WRITE, &tx);
    if (e)
        return e;
    uint64_t sessions = 0, tokens = 0;
    /* idle_expires_at never passes expires_at; both are named so the rule reads as documented */
    e = tx_exec_args(tx,
                     "DELETE FROM sessions WHERE tenant_id = $1 "
                     "AND (revoked_at <= $2 OR expires_at <= $2 OR idle_expires_at <= $2)",
                     STORAGE_ARGS(STORAGE_INT(cutoff)), &sessions);
    if (!e)
        e = tx_exec_args(tx,
                         "DELETE FROM auth_tokens WHERE tenant_id = $1 "
                         "AND (used_at <= $2 OR expires_at <= $2)",
                         STORAGE_ARGS(STORAGE_INT(cutoff)), &tokens);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    e = storage_commit(tx);
    /* the deleted sessions were unusable already; no cached copy outlives them all the same */
    if (sessions)
        acc_cache_forget(a->cache, t, NULL, NULL);
    if (e)
        return e;
    out->sessions += sessions;
    out->tokens += tokens;
    out->tenants++;
    return ERR_OK;
}

/* Deletes the per-IP counters a new failure would start over anyway; *n gets how many. */
static enum err clean_ip_counters(struct accounts *a, int64_t now, uint64_t *n)
{
    *n = 0;
    struct tx *tx = NULL;
    enum err e = storage_begin(a->db, &acc_directory_ctx, TX_WRITE, &tx);
    if (e)
        return e;
    if (storage_tx_backend(tx) == STORAGE_POSTGRES) {
        struct stmt *st = NULL;
        bool row = false;
        e = tx_query(tx,
                     "SELECT accounts_ip_cleanup($2::bigint, $3::bigint) "
                     "WHERE $1::uuid = '" ACCOUNTS_DIRECTORY_TENANT "'::uuid",
                     STORAGE_ARGS(STORAGE_INT(now), STORAGE_INT(ACCOUNTS_IP_WINDOW_S)), &st, &row);
        if (!e && row)
            *n = (uint64_t)stmt_col_int(st, 0);
        stmt_finish(st);
    } else {
        /* the condition under which ip_failure (accounts.c) starts a counter over */
        e = tx_exec_args(tx,
                         "DELETE FROM login_failures_ip "
                         "WHERE $1 = '" ACCOUNTS_DIRECTORY_TENANT "' AND window_start + $3 <= $2 "
                         "AND (locked_until IS NULL OR locked_until <= $2)",
                         STORAGE_ARGS(STORAGE_INT(now), STORAGE_INT(ACCOUNTS_IP_WINDOW_S)), n);
    }
    if (e) {
        storage_rollback(tx);
        *n = 0;
        return e;
    }
    e = storage_commit(tx);
    if (e)
        *n = 0;
    return e;
}

/*
 * accounts_cleanup, ended early when stop (may be NULL) says so; failed (may
 * be NULL) gets the id of the first tenant that failed, "" when none did.
 */
static enum err cleanup_run(struct accounts *a, struct accounts_cleanup_stats *out,
                            const struct cleanup_stop *stop, char failed[STORAGE_TENANT_ID_LEN + 1])
{
    if (failed)
        failed[0] = '\0';
    memset(out, 0, sizeof *out);
    int64_t now = accounts_now(a);
    int64_t cutoff = now - ACCOUNTS_CLEANUP_GRACE_S;
    enum err first = clean_ip_counters(a, now, &out->ip_counters);
    /* the kept responses of Idempotency-Key: nothing else forgets them */
    enum err ie = idem_cleanup(a->db, now, &out->idempotency_keys);
    if (ie && !first)
        first = ie;
    /* ended token families, refresh tokens and deny-list entries (auth/tokens.h) */
    struct auth_tokens_cleanup_stats ts;
    enum err te = auth_tokens_cleanup(a->db, now, &ts);
    out->token_families = ts.families;
    out->refresh_tokens = ts.refresh_tokens;
    out->denylist = ts.denylist;
    if (te && !first)
        first = te;
    char after[STORAGE_TENANT_ID_LEN + 1] = ACCOUNTS_DIRECTORY_TENANT; /* below every id */
    for (;;) {
        struct tenant_ctx ids[CLEANUP_BATCH];
        size_t n = 0;
        enum err e = tenants_due(a, after, cutoff, ids, &n);
        if (e) {
            if (!first)
                first = e;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (stop && stop->fn(stop->arg))
                return first;
            e = clean_tenant(a, &ids[i], cutoff, out);
            if (e && failed && !failed[0])
                memcpy(failed, ids[i].id, STORAGE_TENANT_ID_LEN + 1);
            if (e && !first)
                first = e;
        }
        if (n < CLEANUP_BATCH)
            break;
        memcpy(after, ids[n - 1].id, sizeof after);
    }
    return first;
}

enum err accounts_cleanup(struct accounts *a, struct accounts_cleanup_stats *out)
{
    return cleanup_run(a, out, NULL, NULL);
}

/* ---- the cleaner thread ------------------------------------------------------- */

struct accounts_cleaner {
    struct accounts *a;
    unsigned interval_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    bool stop;
};

static bool cleaner_stopping(void *arg)
{
    struct accounts_cleaner *c = arg;
    pthread_mutex_lock(&c->mu);
    bool stop = c->stop;
    pthread_mutex_unlock(&c->mu);
    return stop;
}

/* Log field names avoid "session" and "token", which the logger drops as secret-looking. */
static void cleaner_round(struct accounts_cleaner *c)
{
    struct accounts_cleanup_stats st;
    struct cleanup_stop stop = {cleaner_stopping, c};
    char failed[STORAGE_TENANT_ID_LEN + 1];
    enum err e = cleanup_run(c->a, &st, &stop, failed);
    if (e) /* one line per round, however many tenants failed */
        log_error("accounts: cleanup failed", LOG_ERR(e), LOG_STR("first_tenant", failed),
                  LOG_INT("tenants", st.tenants), LOG_INT("ended_sign_ins", st.sessions),
                  LOG_INT("spent_links", st.tokens), LOG_INT("ip_counters", st.ip_counters),
                  LOG_INT("idempotency_keys", st.idempotency_keys),
                  LOG_INT("grant_families", st.token_families),
                  LOG_INT("refresh_rows", st.refresh_tokens), LOG_INT("denylist", st.denylist));
    else if (st.sessions || st.tokens || st.ip_counters || st.idempotency_keys ||
             st.token_families || st.refresh_tokens || st.denylist)
        log_info("accounts: cleanup", LOG_INT("tenants", st.tenants),
                 LOG_INT("ended_sign_ins", st.sessions), LOG_INT("spent_links", st.tokens),
                 LOG_INT("ip_counters", st.ip_counters),
                 LOG_INT("idempotency_keys", st.idempotency_keys),
                 LOG_INT("grant_families", st.token_families),
                 LOG_INT("refresh_rows", st.refresh_tokens), LOG_INT("denylist", st.denylist));
}

static void *cleaner_main(void *arg)
{
    struct accounts_cleaner *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += c->interval_s;
        int rc = 0;
        while (!c->stop && rc == 0)
            rc = pthread_cond_timedwait(&c->cv, &c->mu, &until);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->mu);
        cleaner_round(c);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

enum err accounts_cleaner_start(struct accounts *a, unsigned interval_s,
                                struct accounts_cleaner **out)
{
    *out = NULL;
    if (!a)
        return ERR_INVALID;
    struct accounts_cleaner *c = calloc(1, sizeof *c);
    if (!c)
        err_oom();
    c->a = a;
    c->interval_s = interval_s ? interval_s : ACCOUNTS_CLEANER_INTERVAL_DEFAULT;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->mu, NULL);
    if (pthread_create(&c->thread, NULL, cleaner_main, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return ERR_INTERNAL;
    }
    pthread_setname_np(c->thread, "sl-cleanup"); /* top -H, perf, gdb */
    *out = c;
    return ERR_OK;
}

void accounts_cleaner_stop(struct accounts_cleaner *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
