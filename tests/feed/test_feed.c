/*
 * Feed suite (W1): the tenant of a slug (storage_tenant_by_slug, through the
 * SECURITY DEFINER function on PostgreSQL) and what feed_page_read reads —
 * only published entries for everyone or developers, of the transaction's
 * tenant, newest first, paged by cursor without overlap or gap, ties broken
 * by id — and that no source, author, reason or review detail reaches a
 * rendered page; against whichever backend the environment selects
 * (SHIPLOG_TEST_PG_OWNER_URL / _APP_URL from scripts/pgtmp run, else SQLite).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../common/testdb.h"

#include "crypto/rand.h"
#include "delivery/feed.h"

#define T0 INT64_C(1764676800)

struct suite {
    bool pg;
    char dir[64];
    struct storage *s;
    struct tenant_ctx a, b, c;
};

static struct suite S;

static void exec(const struct tenant_ctx *t, const char *sql, const struct storage_arg *args,
                 size_t n)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_exec_args(tx, sql, args, n, NULL), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static void tenant(struct tenant_ctx *t, const char *slug, const char *name)
{
    testdb_random_uuid(t->id);
    exec(t, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)",
         STORAGE_ARGS(STORAGE_CSTR(slug), STORAGE_CSTR(name)));
    exec(t, "INSERT INTO repositories (tenant_id, id, full_name) VALUES ($1, 'github:1', 'o/r')",
         NULL, 0);
}

/* One entry; returns its id in id. Markers say what must never be shown. */
static void entry(const struct tenant_ctx *t, const char *status, const char *audience,
                  int64_t published_at, const char *title, char id[FEED_CURSOR_LEN + 1])
{
    assert_int_equal(rand_hex(id, FEED_CURSOR_LEN / 2), ERR_OK);
    char source[80];
    snprintf(source, sizeof source, "github:pr:%s", id);
    exec(t,
         "INSERT INTO changelog_entries (tenant_id, id, source_id, source_kind, repo_id,"
         " source_number, source_url, impact, impact_reason, status, title, body, category,"
         " audience, labels, provider, version, reviewers, changed_at, created_at, updated_at,"
         " submitted_by, decided_by, decision_note, published_by, published_at)"
         " VALUES ($1, $2, $3, 'pr', 'github:1', 987654321, "
         "'https://SOURCE-URL.example/pull/987654321',"
         " 'feature', 'REASON-MARKER', $4, $5, 'A body', 'feature', $6, '[\"ui\", 7, \"api\"]',"
         " 'rules', 1, '[\"REVIEWER-MARKER\"]', 1, 1, 1, 'SUBMITTER-MARKER', 'DECIDER-MARKER',"
         " 'NOTE-MARKER', 'PUBLISHER-MARKER', $7)",
         STORAGE_ARGS(STORAGE_CSTR(id), STORAGE_CSTR(source), STORAGE_CSTR(status),
                      STORAGE_CSTR(title), STORAGE_CSTR(audience),
                      published_at ? STORAGE_INT(published_at) : STORAGE_NULL));
}

static enum err read_page(const struct tenant_ctx *t, const char *cursor, struct arena *a,
                          struct feed_page *out)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_READ, &tx), ERR_OK);
    enum err e = feed_page_read(tx, cursor ? str_from_cstr(cursor) : STR_NULL, a, out);
    storage_rollback(tx);
    return e;
}

static char a_public[4][FEED_CURSOR_LEN + 1], a_hidden[5][FEED_CURSOR_LEN + 1];
static char b_public[FEED_CURSOR_LEN + 1];

static int suite_setup(void **state)
{
    (void)state;
    S.s = testdb_open_main("feed", S.dir, &S.pg);
    if (!S.s)
        return -1;
    tenant(&S.a, "acme", "Acme");
    tenant(&S.b, "bravo", "Bravo");
    tenant(&S.c, "charlie", "Charlie");
    /* acme: four public entries, five that must never show */
    entry(&S.a, "published", "everyone", T0 + 10, "A1", a_public[0]);
    entry(&S.a, "published", "developers", T0 + 30, "A3 developers", a_public[1]);
    entry(&S.a, "published", "everyone", T0 + 20, "A2", a_public[2]);
    entry(&S.a, "published", "everyone", T0 + 40, "A4", a_public[3]);
    entry(&S.a, "published", "internal", T0 + 50, "HIDDEN internal", a_hidden[0]);
    entry(&S.a, "draft", "everyone", 0, "HIDDEN draft", a_hidden[1]);
    entry(&S.a, "approved", "everyone", 0, "HIDDEN approved", a_hidden[2]);
    entry(&S.a, "scheduled", "everyone", 0, "HIDDEN scheduled", a_hidden[3]);
    entry(&S.a, "in_review", "everyone", 0, "HIDDEN in review", a_hidden[4]);
    /* bravo: one public entry, newer than all of acme's */
    entry(&S.b, "published", "everyone", T0 + 100, "HIDDEN other tenant", b_public);
    /* charlie: 45 public entries, five sharing each second (ties broken by id) */
    char id[FEED_CURSOR_LEN + 1];
    for (int i = 0; i < 45; i++) {
        char title[16];
        snprintf(title, sizeof title, "C%d", i);
        entry(&S.c, "published", i % 2 ? "everyone" : "developers", T0 + i / 5, title, id);
    }
    return 0;
}

static int suite_teardown(void **state)
{
    (void)state;
    testdb_cleanup(S.s, S.dir);
    return 0;
}

static void test_tenant_by_slug(void **state)
{
    (void)state;
    struct tenant_ctx t;
    assert_int_equal(storage_tenant_by_slug(S.s, str_from_cstr("acme"), &t), ERR_OK);
    assert_string_equal(t.id, S.a.id);
    assert_int_equal(storage_tenant_by_slug(S.s, str_from_cstr("bravo"), &t), ERR_OK);
    assert_string_equal(t.id, S.b.id);
    assert_int_equal(storage_tenant_by_slug(S.s, str_from_cstr("nobody"), &t), ERR_NOT_FOUND);
    assert_string_equal(t.id, "");
    /* not slugs at all: refused before the database */
    assert_int_equal(storage_tenant_by_slug(S.s, str_from_cstr("ACME"), &t), ERR_NOT_FOUND);
    assert_int_equal(storage_tenant_by_slug(S.s, str_from_cstr("acme'--"), &t), ERR_NOT_FOUND);
    assert_int_equal(storage_tenant_by_slug(S.s, str_from_cstr("-acme"), &t), ERR_NOT_FOUND);
    assert_int_equal(storage_tenant_by_slug(S.s, STR_NULL, &t), ERR_NOT_FOUND);
    /* at the length limit (unknown) and one byte past it */
    char slug[STORAGE_MAX_SLUG + 2];
    memset(slug, 'z', sizeof slug);
    slug[STORAGE_MAX_SLUG] = '\0';
    assert_true(storage_slug_valid(str_from_cstr(slug)));
    assert_int_equal(storage_tenant_by_slug(S.s, str_from_cstr(slug), &t), ERR_NOT_FOUND);
    slug[STORAGE_MAX_SLUG] = 'z';
    slug[STORAGE_MAX_SLUG + 1] = '\0';
    assert_false(storage_slug_valid(str_from_cstr(slug)));
}

static void test_only_public_entries_of_the_tenant(void **state)
{
    (void)state;
    struct arena *a = arena_new(16 << 20);
    struct feed_page p;
    assert_int_equal(read_page(&S.a, NULL, a, &p), ERR_OK);
    assert_true(str_eq_cstr(p.name, "Acme"));
    assert_int_equal(p.n, 4);
    assert_false(p.more);
    const char *want[] = {"A4", "A3 developers", "A2", "A1"};
    for (size_t i = 0; i < 4; i++) {
        assert_true(str_eq_cstr(p.entries[i].title, want[i]));
        assert_int_equal(p.entries[i].n_labels, 2); /* the number in the array is left out */
        assert_true(str_eq_cstr(p.entries[i].labels[1], "api"));
    }
    assert_string_equal(p.entries[0].id, a_public[3]);
    assert_int_equal(p.entries[0].published_at, T0 + 40);
    assert_true(str_eq_cstr(p.entries[1].audience, "developers"));

    /* nothing that is not customer-facing reaches a rendered page */
    const struct feed_links l = {.base_url = str_from_cstr("https://x.example"),
                                 .slug = str_from_cstr("acme"),
                                 .tenant_id = str_from_cstr(S.a.id)};
    for (int f = FEED_FORMAT_JSON; f <= FEED_FORMAT_ATOM; f++) {
        struct buf out = BUF_INIT(FEED_MAX_PAGE_BYTES);
        assert_int_equal(feed_render(&p, (enum feed_format)f, &l, &out), ERR_OK);
        const char *never[] = {"HIDDEN",         "SOURCE-URL",      "987654321",
                               "REASON-MARKER",  "REVIEWER-MARKER", "SUBMITTER-MARKER",
                               "DECIDER-MARKER", "NOTE-MARKER",     "PUBLISHER-MARKER",
                               "github:pr",      "github:1",        "rules"};
        for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
            assert_null(strstr(buf_cstr(&out), never[i]));
        assert_non_null(strstr(buf_cstr(&out), "A3 developers"));
        buf_release(&out);
    }

    /* bravo sees only its own */
    assert_int_equal(read_page(&S.b, NULL, a, &p), ERR_OK);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.entries[0].id, b_public);
    arena_free(a);
}

static void test_cursor_must_be_a_public_entry_of_the_tenant(void **state)
{
    (void)state;
    struct arena *a = arena_new(16 << 20);
    struct feed_page p;
    for (size_t i = 0; i < 5; i++) /* internal, draft, approved, scheduled, in review */
        assert_int_equal(read_page(&S.a, a_hidden[i], a, &p), ERR_NOT_FOUND);
    assert_int_equal(read_page(&S.a, b_public, a, &p), ERR_NOT_FOUND); /* another tenant's */
    assert_int_equal(read_page(&S.a, "00000000000000000000000000000000", a, &p), ERR_NOT_FOUND);
    assert_int_equal(read_page(&S.a, "not-a-cursor", a, &p), ERR_INVALID);
    /* after A3: A2, A1 */
    assert_int_equal(read_page(&S.a, a_public[1], a, &p), ERR_OK);
    assert_int_equal(p.n, 2);
    assert_true(str_eq_cstr(p.entries[0].title, "A2"));
    assert_true(str_eq_cstr(p.entries[1].title, "A1"));
    /* after the oldest: an empty last page */
    assert_int_equal(read_page(&S.a, a_public[0], a, &p), ERR_OK);
    assert_int_equal(p.n, 0);
    assert_false(p.more);
    arena_free(a);
}

static void test_pages_without_overlap_or_gap(void **state)
{
    (void)state;
    struct arena *a = arena_new(16 << 20);
    struct feed_page p;
    char seen[45][FEED_CURSOR_LEN + 1];
    size_t n = 0;
    char cursor[FEED_CURSOR_LEN + 1] = "";
    int64_t last_at = INT64_MAX;
    char last_id[FEED_CURSOR_LEN + 1] = "gggggggggggggggggggggggggggggggg";
    size_t sizes[3], pages = 0;
    do {
        assert_int_equal(read_page(&S.c, cursor[0] ? cursor : NULL, a, &p), ERR_OK);
        assert_true(pages < 3);
        sizes[pages++] = p.n;
        for (size_t i = 0; i < p.n; i++) {
            const struct feed_entry *e = &p.entries[i];
            /* strictly descending by (published_at, id) */
            assert_true(e->published_at < last_at ||
                        (e->published_at == last_at && strcmp(e->id, last_id) < 0));
            last_at = e->published_at;
            memcpy(last_id, e->id, sizeof last_id);
            for (size_t j = 0; j < n; j++)
                assert_string_not_equal(seen[j], e->id);
            memcpy(seen[n++], e->id, FEED_CURSOR_LEN + 1);
        }
        if (p.more)
            memcpy(cursor, p.entries[p.n - 1].id, sizeof cursor);
    } while (p.more);
    assert_int_equal(pages, 3);
    assert_int_equal(sizes[0], FEED_PAGE_SIZE);
    assert_int_equal(sizes[1], FEED_PAGE_SIZE);
    assert_int_equal(sizes[2], 5);
    assert_int_equal(n, 45);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_by_slug),
        cmocka_unit_test(test_only_public_entries_of_the_tenant),
        cmocka_unit_test(test_cursor_must_be_a_public_entry_of_the_tenant),
        cmocka_unit_test(test_pages_without_overlap_or_gap),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
