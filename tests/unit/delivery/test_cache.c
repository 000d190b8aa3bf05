/* Unit tests for delivery/cache: hits, TTL, invalidation, the epoch, bounds, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "delivery/cache.h"

#define TTL 5000

static const struct tenant_ctx A = {"00000000-0000-4000-8000-00000000000a"};
static const struct tenant_ctx B = {"00000000-0000-4000-8000-00000000000b"};
static const char TAG[ETAG_LEN + 1] = "\"0123456789abcdef0123456789abcdef\"";

static struct feed_cache_key key(enum feed_format f, const char *slug, const char *cursor)
{
    struct feed_cache_key k;
    assert_true(
        feed_cache_key_make(&k, f, str_from_cstr(slug), cursor ? str_from_cstr(cursor) : STR_NULL));
    return k;
}

static void put(const struct feed_cache_key *k, const struct tenant_ctx *t, const char *body,
                int64_t now)
{
    feed_cache_put(k, t, feed_cache_epoch(), body, strlen(body), TAG, now, TTL);
}

/* The body cached for k at now, or NULL. */
static const char *get(struct arena *a, const struct feed_cache_key *k, int64_t now)
{
    struct feed_cache_page p;
    enum err e = feed_cache_get(k, now, TTL, a, &p);
    if (e == ERR_NOT_FOUND)
        return NULL;
    assert_int_equal(e, ERR_OK);
    assert_string_equal(p.etag, TAG);
    return p.body;
}

static int setup(void **state)
{
    feed_cache_clear();
    *state = arena_new(64 << 20);
    return 0;
}

static int teardown(void **state)
{
    arena_free(*state);
    feed_cache_clear();
    return 0;
}

static void test_keys(void **state)
{
    (void)state;
    struct feed_cache_key k;
    assert_true(feed_cache_key_make(&k, FEED_FORMAT_JSON, str_from_cstr("acme"), STR_NULL));
    assert_true(feed_cache_key_make(&k, FEED_FORMAT_JSON, str_from_cstr("acme"),
                                    str_from_cstr("0123456789abcdef0123456789abcdef")));
    assert_false(feed_cache_key_make(&k, FEED_FORMAT_JSON, str_from_cstr("Acme"), STR_NULL));
    assert_false(feed_cache_key_make(&k, FEED_FORMAT_JSON, str_from_cstr(""), STR_NULL));
    assert_false(feed_cache_key_make(&k, FEED_FORMAT_JSON, str_from_cstr("acme"),
                                     str_from_cstr("0123456789ABCDEF0123456789abcdef")));
    /* a slug at its limit and one byte past it */
    char slug[STORAGE_MAX_SLUG + 2];
    memset(slug, 'a', sizeof slug);
    slug[STORAGE_MAX_SLUG] = '\0';
    assert_true(feed_cache_key_make(&k, FEED_FORMAT_JSON, str_from_cstr(slug), STR_NULL));
    slug[STORAGE_MAX_SLUG] = 'a';
    slug[STORAGE_MAX_SLUG + 1] = '\0';
    assert_false(feed_cache_key_make(&k, FEED_FORMAT_JSON, str_from_cstr(slug), STR_NULL));
    /* a cursor one byte past its length */
    assert_false(feed_cache_key_make(&k, FEED_FORMAT_JSON, str_from_cstr("acme"),
                                     str_from_cstr("0123456789abcdef0123456789abcdef0")));
}

static void test_hit_and_separate_keys(void **state)
{
    struct arena *a = *state;
    struct feed_cache_key j = key(FEED_FORMAT_JSON, "acme", NULL);
    struct feed_cache_key x = key(FEED_FORMAT_ATOM, "acme", NULL);
    struct feed_cache_key c = key(FEED_FORMAT_JSON, "acme", "0123456789abcdef0123456789abcdef");
    assert_null(get(a, &j, 0));
    put(&j, &A, "json", 0);
    put(&x, &A, "atom", 0);
    put(&c, &A, "page2", 0);
    assert_string_equal(get(a, &j, 1), "json");
    assert_string_equal(get(a, &x, 1), "atom");
    assert_string_equal(get(a, &c, 1), "page2");
    assert_null(get(a, &(struct feed_cache_key){0}, 1));
    /* the tag alone, for a conditional request */
    struct feed_cache_page tag_only;
    assert_int_equal(feed_cache_get(&j, 1, TTL, NULL, &tag_only), ERR_OK);
    assert_null(tag_only.body);
    assert_int_equal(tag_only.len, 4);
    assert_string_equal(tag_only.etag, TAG);
    put(&j, &A, "json again", 2); /* replaces */
    assert_string_equal(get(a, &j, 3), "json again");
    struct feed_cache_stats st;
    feed_cache_stats(&st);
    assert_int_equal(st.pages, 3);
    assert_int_equal(st.bytes, strlen("json again") + 4 + 5);
}

static void test_ttl(void **state)
{
    struct arena *a = *state;
    struct feed_cache_key k = key(FEED_FORMAT_JSON, "acme", NULL);
    put(&k, &A, "page", 1000);
    assert_string_equal(get(a, &k, 1000 + TTL - 1), "page");
    assert_null(get(a, &k, 1000 + TTL)); /* expired: dropped */
    struct feed_cache_stats st;
    feed_cache_stats(&st);
    assert_int_equal(st.pages, 0);
    /* TTL 0 turns the cache off */
    feed_cache_put(&k, &A, feed_cache_epoch(), "p", 1, TAG, 0, 0);
    feed_cache_stats(&st);
    assert_int_equal(st.pages, 0);
    put(&k, &A, "page", 0);
    struct feed_cache_page p;
    assert_int_equal(feed_cache_get(&k, 0, 0, a, &p), ERR_NOT_FOUND);
}

static void test_invalidate_one_tenant(void **state)
{
    struct arena *a = *state;
    struct feed_cache_key ka = key(FEED_FORMAT_JSON, "acme", NULL);
    struct feed_cache_key ka2 = key(FEED_FORMAT_ATOM, "acme", NULL);
    struct feed_cache_key kb = key(FEED_FORMAT_JSON, "bravo", NULL);
    put(&ka, &A, "a", 0);
    put(&ka2, &A, "a2", 0);
    put(&kb, &B, "b", 0);
    feed_cache_invalidate(&A);
    assert_null(get(a, &ka, 1));
    assert_null(get(a, &ka2, 1));
    assert_string_equal(get(a, &kb, 1), "b");
}

/* A page read before an invalidation is not stored after it. */
static void test_epoch_refuses_stale_store(void **state)
{
    struct arena *a = *state;
    struct feed_cache_key k = key(FEED_FORMAT_JSON, "acme", NULL);
    uint64_t before = feed_cache_epoch();
    feed_cache_invalidate(&A); /* a publish commits while the page is being read */
    feed_cache_put(&k, &A, before, "stale", 5, TAG, 0, TTL);
    assert_null(get(a, &k, 1));
    feed_cache_put(&k, &A, feed_cache_epoch(), "fresh", 5, TAG, 0, TTL);
    assert_string_equal(get(a, &k, 1), "fresh");
}

static void test_entry_bound_and_lru(void **state)
{
    struct arena *a = *state;
    char slug[32];
    for (int i = 0; i < FEED_CACHE_MAX_ENTRIES; i++) {
        snprintf(slug, sizeof slug, "t%d", i);
        struct feed_cache_key k = key(FEED_FORMAT_JSON, slug, NULL);
        put(&k, &A, "x", 0);
    }
    struct feed_cache_key first = key(FEED_FORMAT_JSON, "t0", NULL);
    assert_string_equal(get(a, &first, 1), "x"); /* now the most recently used */
    struct feed_cache_key more = key(FEED_FORMAT_JSON, "one-more", NULL);
    put(&more, &A, "y", 2); /* one past the bound: the least recently used goes */
    struct feed_cache_stats st;
    feed_cache_stats(&st);
    assert_int_equal(st.pages, FEED_CACHE_MAX_ENTRIES);
    assert_int_equal(st.evictions, 1);
    struct feed_cache_key second = key(FEED_FORMAT_JSON, "t1", NULL);
    assert_null(get(a, &second, 3));
    assert_string_equal(get(a, &first, 3), "x");
    assert_string_equal(get(a, &more, 3), "y");
}

static void test_byte_bounds(void **state)
{
    struct arena *a = *state;
    size_t big = FEED_CACHE_MAX_PAGE_BYTES;
    char *body = malloc(big + 1);
    memset(body, 'b', big + 1);
    struct feed_cache_key k = key(FEED_FORMAT_JSON, "big", NULL);
    /* one byte past the page bound: not kept */
    feed_cache_put(&k, &A, feed_cache_epoch(), body, big + 1, TAG, 0, TTL);
    assert_null(get(a, &k, 1));
    /* pages at the bound until the byte bound makes the oldest go */
    size_t fit = FEED_CACHE_MAX_BYTES / big;
    char slug[32];
    for (size_t i = 0; i <= fit; i++) {
        snprintf(slug, sizeof slug, "big%zu", i);
        struct feed_cache_key ki = key(FEED_FORMAT_JSON, slug, NULL);
        feed_cache_put(&ki, &A, feed_cache_epoch(), body, big, TAG, (int64_t)i, TTL);
    }
    struct feed_cache_stats st;
    feed_cache_stats(&st);
    assert_true(st.bytes <= FEED_CACHE_MAX_BYTES);
    assert_int_equal(st.pages, fit);
    struct feed_cache_key oldest = key(FEED_FORMAT_JSON, "big0", NULL);
    assert_null(get(a, &oldest, 1));
    free(body);
}

/* Readers, writers and invalidations at once (meaningful under ThreadSanitizer/ASan). */
static void *hammer(void *arg)
{
    int id = (int)(size_t)arg;
    struct arena *a = arena_new(64 << 20);
    char slug[32], body[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(slug, sizeof slug, "s%d", i % 50);
        struct feed_cache_key k;
        if (!feed_cache_key_make(&k, i % 2 ? FEED_FORMAT_ATOM : FEED_FORMAT_JSON,
                                 str_from_cstr(slug), STR_NULL))
            abort();
        struct feed_cache_page p;
        enum err e = feed_cache_get(&k, i, TTL, a, &p);
        if (e == ERR_OK && strncmp(p.body, slug, strlen(slug)) != 0)
            abort(); /* a page under another key's name */
        if (e == ERR_NOT_FOUND) {
            snprintf(body, sizeof body, "%s:%d", slug, id);
            feed_cache_put(&k, id % 2 ? &A : &B, feed_cache_epoch(), body, strlen(body), TAG, i,
                           TTL);
        }
        if (i % 997 == 0)
            feed_cache_invalidate(i % 2 ? &A : &B);
        arena_reset(a);
    }
    arena_free(a);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, (void *)i), 0);
    for (size_t i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    struct feed_cache_stats st;
    feed_cache_stats(&st);
    assert_true(st.pages <= 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hit_and_separate_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalidate_one_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epoch_refuses_stale_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entry_bound_and_lru, setup, teardown),
        cmocka_unit_test_setup_teardown(test_byte_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
