/*
 * The session cache on its own (src/accounts/session_cache.c, through
 * accounts_internal.h): hits and their key, the TTL, the bound, the scopes
 * of acc_cache_forget, and the generation check, including a race of
 * lookups against changes that a cache without it fails. No database: the
 * suite in test_accounts.c covers the cache behind accounts_session_lookup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <cmocka.h>

#include "accounts/accounts_internal.h"
#include "crypto/rand.h"

#define TENANT_A "11111111-1111-4111-8111-111111111111"
#define TENANT_B "22222222-2222-4222-8222-222222222222"
#define USER_1   "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define USER_2   "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* A session of user in tenant with a fresh random hash. */
static void session_new(struct accounts_session *s, const char *tenant, const char *user)
{
    memset(s, 0, sizeof *s);
    memcpy(s->user.tenant.id, tenant, STORAGE_TENANT_ID_LEN + 1);
    memcpy(s->user.user_id, user, ACCOUNTS_ID_LEN + 1);
    memcpy(s->role, "member", sizeof "member");
    assert_int_equal(rand_hex(s->id_hash, ACCOUNTS_HASH_HEX / 2), ERR_OK);
    s->created_at = s->last_seen_at = 1000;
    s->expires_at = s->idle_expires_at = 2000;
}

static void put(struct acc_session_cache *c, const struct accounts_session *s)
{
    struct acc_cache_stamp st;
    acc_cache_stamp(c, &st);
    acc_cache_put(c, &st, s);
}

static bool has(struct acc_session_cache *c, const struct accounts_session *s)
{
    struct accounts_session out;
    return acc_cache_get(c, &s->user.tenant, s->id_hash, &out);
}

static void test_hit_key_ttl(void **state)
{
    (void)state;
    struct acc_session_cache *c = acc_cache_new(50);
    struct accounts_session s, out;
    session_new(&s, TENANT_A, USER_1);
    assert_false(has(c, &s));
    put(c, &s);
    assert_true(acc_cache_get(c, &s.user.tenant, s.id_hash, &out));
    assert_memory_equal(&out, &s, sizeof s);
    /* the same hash under another tenant is another key */
    struct tenant_ctx b = {.id = TENANT_B};
    assert_false(acc_cache_get(c, &b, s.id_hash, &out));
    /* the TTL, from the stamp */
    sleep_ms(60);
    assert_false(has(c, &s));
    acc_cache_free(c);

    /* no cache: everything is a miss or a no-op */
    put(NULL, &s);
    assert_false(has(NULL, &s));
    acc_cache_forget(NULL, NULL, NULL, NULL);
    acc_cache_free(NULL);
}

static void test_forget_scopes(void **state)
{
    (void)state;
    struct acc_session_cache *c = acc_cache_new(ACCOUNTS_SESSION_CACHE_MAX_MS);
    struct accounts_session a1, a1b, a2, b2;
    session_new(&a1, TENANT_A, USER_1);
    session_new(&a1b, TENANT_A, USER_1);
    session_new(&a2, TENANT_A, USER_2);
    session_new(&b2, TENANT_B, USER_2);
    put(c, &a1);
    put(c, &a1b);
    put(c, &a2);
    put(c, &b2);
    /* one user: both of its sessions, nobody else's */
    acc_cache_forget(c, &a1.user.tenant, USER_1, NULL);
    assert_false(has(c, &a1));
    assert_false(has(c, &a1b));
    assert_true(has(c, &a2));
    assert_true(has(c, &b2));
    /* one session: by tenant and hash; another tenant's hash does not match */
    acc_cache_forget(c, &b2.user.tenant, NULL, a2.id_hash);
    assert_true(has(c, &a2));
    acc_cache_forget(c, &a2.user.tenant, NULL, a2.id_hash);
    assert_false(has(c, &a2));
    assert_true(has(c, &b2));
    /* a tenant */
    acc_cache_forget(c, &b2.user.tenant, NULL, NULL);
    assert_false(has(c, &b2));
    acc_cache_free(c);
}

/* A change between a lookup's stamp and its store keeps what it read out. */
static void test_generation(void **state)
{
    (void)state;
    struct acc_session_cache *c = acc_cache_new(ACCOUNTS_SESSION_CACHE_MAX_MS);
    struct accounts_session s, other;
    session_new(&s, TENANT_A, USER_1);
    session_new(&other, TENANT_B, USER_2);
    struct acc_cache_stamp st;
    acc_cache_stamp(c, &st);
    acc_cache_forget(c, &other.user.tenant, USER_2, NULL); /* any change, anywhere */
    acc_cache_put(c, &st, &s);
    assert_false(has(c, &s));
    put(c, &s); /* a lookup that began after the change */
    assert_true(has(c, &s));

    /* of two stores of one session, the later read wins, whatever the order */
    struct acc_cache_stamp early, late;
    acc_cache_stamp(c, &early);
    sleep_ms(2);
    acc_cache_stamp(c, &late);
    struct accounts_session newer = s;
    newer.last_seen_at = 1500;
    acc_cache_put(c, &late, &newer);
    acc_cache_put(c, &early, &s);
    struct accounts_session out;
    assert_true(acc_cache_get(c, &s.user.tenant, s.id_hash, &out));
    assert_int_equal(out.last_seen_at, 1500);
    acc_cache_free(c);
}

static void test_bounded(void **state)
{
    (void)state;
    struct acc_session_cache *c = acc_cache_new(ACCOUNTS_SESSION_CACHE_MAX_MS);
    enum { N = 3 * ACCOUNTS_SESSION_CACHE_MAX };
    static struct accounts_session all[N];
    for (size_t i = 0; i < N; i++) {
        session_new(&all[i], TENANT_A, USER_1);
        put(c, &all[i]);
        assert_true(has(c, &all[i])); /* the newest is never the one evicted */
    }
    /* storing one session again takes no second slot */
    for (int i = 0; i < 10; i++)
        put(c, &all[N - 1]);
    size_t hits = 0;
    for (size_t i = 0; i < N; i++)
        hits += has(c, &all[i]);
    printf("# %zu of %d sessions cached (at most %d)\n", hits, N, ACCOUNTS_SESSION_CACHE_MAX);
    assert_true(hits <= ACCOUNTS_SESSION_CACHE_MAX);
    assert_true(hits >= ACCOUNTS_SESSION_CACHE_MAX * 9 / 10); /* the sets fill evenly */
    acc_cache_free(c);
}

/*
 * The race the generation closes, against a model of the database: a
 * version committed by the writer, which then forgets the session and
 * publishes the version as done. Readers do what accounts_session_lookup
 * does (get, else stamp, read, put); a hit that is older than a change done
 * before the get began is the stale answer the design rules out.
 */
#define RACE_READERS 4
#define RACE_CHANGES 20000

struct race {
    struct acc_session_cache *c;
    struct accounts_session s;
    _Atomic int64_t db_version, done_version;
    atomic_bool stop;
    atomic_long stale, hits, stores;
};

static void *race_reader(void *arg)
{
    struct race *r = arg;
    struct accounts_session out;
    while (!atomic_load(&r->stop)) {
        int64_t done = atomic_load(&r->done_version);
        if (acc_cache_get(r->c, &r->s.user.tenant, r->s.id_hash, &out)) {
            atomic_fetch_add(&r->hits, 1);
            if (out.created_at < done)
                atomic_fetch_add(&r->stale, 1);
            continue;
        }
        struct acc_cache_stamp st;
        acc_cache_stamp(r->c, &st);
        struct accounts_session read = r->s;
        read.created_at = atomic_load(&r->db_version); /* the "database read" */
        sched_yield();                                 /* a read takes a while */
        acc_cache_put(r->c, &st, &read);
        atomic_fetch_add(&r->stores, 1);
    }
    return NULL;
}

static void test_race(void **state)
{
    (void)state;
    static struct race r;
    memset(&r, 0, sizeof r);
    r.c = acc_cache_new(ACCOUNTS_SESSION_CACHE_MAX_MS);
    session_new(&r.s, TENANT_A, USER_1);
    pthread_t th[RACE_READERS];
    for (int i = 0; i < RACE_READERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_reader, &r), 0);
    for (int64_t v = 1; v <= RACE_CHANGES; v++) {
        atomic_store(&r.db_version, v); /* commit */
        if (v % 2)
            sched_yield();
        acc_cache_forget(r.c, &r.s.user.tenant, NULL, v % 3 ? r.s.id_hash : NULL);
        atomic_store(&r.done_version, v); /* the changing function has returned */
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < RACE_READERS; i++)
        pthread_join(th[i], NULL);
    printf("# race: %ld hits, %ld stores, %ld stale\n", atomic_load(&r.hits),
           atomic_load(&r.stores), atomic_load(&r.stale));
    assert_int_equal(atomic_load(&r.stale), 0);
    assert_true(atomic_load(&r.hits) > 0);
    acc_cache_free(r.c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_key_ttl), cmocka_unit_test(test_forget_scopes),
        cmocka_unit_test(test_generation),  cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_race),
    };
    return cmocka_run_group_tests_name("session_cache", tests, NULL, NULL);
}
