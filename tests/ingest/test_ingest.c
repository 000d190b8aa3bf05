/*
 * Ingestion storage suite (I3, I5, I7, I8, T1–T3): src/ingest/store.h
 * against a real database.
 *
 *   SHIPLOG_TEST_PG_OWNER_URL and SHIPLOG_TEST_PG_APP_URL set: PostgreSQL
 *   (migrations with the owner, everything else with the application role);
 *   otherwise SQLite in a fresh mkdtemp directory.
 *
 * Covered: delivery insert and duplicate detection (same key twice, another
 * integration, another tenant), seen, get, status; every named limit at its
 * value and one byte past it; batch upserts with partial knowledge (unknowns
 * never erase, a fresh title applies, a stale event only fills gaps, merged
 * sticks), derived first_review_at / approved_at (minimum, the author's own
 * review ignored, reviews arriving before their PR), commit files replaced
 * only when listed, repository stubs, deployment status ordering; keyset
 * listing with filters; the retention purge (only old rows, only the
 * tenant's, bounded by max); tenant isolation (PostgreSQL: RLS probes on a
 * raw application connection, FORCE ROW LEVEL SECURITY on every table).
 * Batches are written by hand: the normalizers live elsewhere.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/store.h"
#include "storage/storage.h"
#include "../common/testdb.h"

struct suite {
    bool pg;
    char dir[64];
    const char *app_url;
    struct storage *s;
};

static struct suite S;

static int suite_setup(void **state)
{
    (void)state;
    S.app_url = getenv("SHIPLOG_TEST_PG_APP_URL");
    S.s = testdb_open_main("ingest", S.dir, &S.pg);
    return S.s ? 0 : -1;
}

static int suite_teardown(void **state)
{
    (void)state;
    testdb_cleanup(S.s, S.dir);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static void new_tenant(struct tenant_ctx *t)
{
    testdb_random_uuid(t->id);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_exec_args(tx, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)",
                                  STORAGE_ARGS(STORAGE_CSTR(t->id), STORAGE_CSTR("Ingest test")),
                                  NULL),
                     ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static struct tx *begin(const struct tenant_ctx *t, enum tx_mode mode)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, mode, &tx), ERR_OK);
    return tx;
}

/* Stores b in its own transaction: committed on success, rolled back otherwise. */
static enum err store(const struct tenant_ctx *t, const struct ingest_batch *b)
{
    struct tx *tx = begin(t, TX_WRITE);
    enum err e = ingest_store_batch(tx, b);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

static int64_t count_in(const struct tenant_ctx *t, const char *sql)
{
    struct tx *tx = begin(t, TX_READ);
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(tx_query(tx, sql, NULL, 0, &st, &row), ERR_OK);
    assert_true(row);
    int64_t n = stmt_col_int(st, 0);
    stmt_finish(st);
    storage_rollback(tx);
    return n;
}

static struct ingest_delivery_new delivery(const char *integration, const char *key, int64_t at)
{
    return (struct ingest_delivery_new){
        .integration_id = str_from_cstr(integration),
        .provider = STR_LIT("github"),
        .delivery_key = str_from_cstr(key),
        .event = STR_LIT("pull_request"),
        .body = STR_LIT("{\"action\":\"opened\",\"token\":\"[redacted]\"}"),
        .body_bytes = 4242,
        .received_at = at,
    };
}

static enum err insert_delivery(const struct tenant_ctx *t, const struct ingest_delivery_new *d,
                                bool *dup, char id[INGEST_DELIVERY_ID_LEN + 1])
{
    struct tx *tx = begin(t, TX_WRITE);
    enum err e = ingest_delivery_insert(tx, d, dup, id);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

static bool seen(const struct tenant_ctx *t, const char *integration, const char *key)
{
    struct tx *tx = begin(t, TX_READ);
    bool s = true;
    assert_int_equal(ingest_delivery_seen(tx, str_from_cstr(integration), str_from_cstr(key), &s),
                     ERR_OK);
    storage_rollback(tx);
    return s;
}

/* A pull request with nothing known but its ids. */
static struct ingest_pr pr_blank(const char *id, const char *repo)
{
    return (struct ingest_pr){
        .id = str_from_cstr(id),
        .repo_id = str_from_cstr(repo),
        .number = INGEST_UNKNOWN,
        .commits = INGEST_UNKNOWN,
        .additions = INGEST_UNKNOWN,
        .deletions = INGEST_UNKNOWN,
        .changed_files = INGEST_UNKNOWN,
    };
}

static struct ingest_commit commit_blank(const char *id, const char *repo)
{
    return (struct ingest_commit){
        .id = str_from_cstr(id),
        .repo_id = str_from_cstr(repo),
        .files_changed = INGEST_UNKNOWN,
        .additions = INGEST_UNKNOWN,
        .deletions = INGEST_UNKNOWN,
    };
}

static struct ingest_review review(const char *id, const char *pr, const char *login,
                                   const char *state, int64_t at)
{
    return (struct ingest_review){
        .id = str_from_cstr(id),
        .repo_id = STR_LIT("github:repo:1"),
        .pr_id = str_from_cstr(pr),
        .kind = INGEST_REVIEW,
        .state = str_from_cstr(state),
        .reviewer = {.login = str_from_cstr(login)},
        .submitted_at = at,
    };
}

static const struct ingest_repo repo1 = {
    .id = STR_LIT("github:repo:1"),
    .full_name = STR_LIT("acme/widgets"),
    .url = STR_LIT("https://github.com/acme/widgets"),
    .default_branch = STR_LIT("main"),
};

static enum err store_prs(const struct tenant_ctx *t, const struct ingest_pr *prs, size_t n)
{
    struct ingest_batch b = {.repos = &repo1, .n_repos = 1, .prs = prs, .n_prs = n};
    return store(t, &b);
}

static enum err store_reviews(const struct tenant_ctx *t, const struct ingest_review *r, size_t n)
{
    struct ingest_batch b = {.reviews = r, .n_reviews = n};
    return store(t, &b);
}

/* The stored pull request id (all of a tenant's, searched; at most 100 in a test). */
static bool pr_get(const struct tenant_ctx *t, struct arena *a, const char *id,
                   struct ingest_pr *out)
{
    struct tx *tx = begin(t, TX_READ);
    struct ingest_pr *rows = NULL;
    size_t n = 0;
    struct ingest_cursor next;
    assert_int_equal(
        ingest_prs_list(tx, STR_NULL, STR_NULL, NULL, INGEST_MAX_PAGE, a, &rows, &n, &next),
        ERR_OK);
    storage_rollback(tx);
    for (size_t i = 0; i < n; i++)
        if (str_eq_cstr(rows[i].id, id)) {
            *out = rows[i];
            return true;
        }
    return false;
}

static void assert_str(struct str s, const char *want)
{
    if (!want) {
        assert_null(s.ptr);
        return;
    }
    assert_non_null(s.ptr);
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

/* A string of n copies of c in a (NUL-terminated). */
static struct str filled(struct arena *a, size_t n, char c)
{
    char *p = arena_alloc(a, n + 1);
    assert_non_null(p);
    memset(p, c, n);
    p[n] = '\0';
    return str_from(p, n);
}

/* ---- deliveries --------------------------------------------------------------- */

static void test_delivery_duplicates(void **state)
{
    (void)state;
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    char id1[INGEST_DELIVERY_ID_LEN + 1], id2[INGEST_DELIVERY_ID_LEN + 1];
    bool dup = true;

    assert_false(seen(&a, "integ-1", "d-1"));
    struct ingest_delivery_new d = delivery("integ-1", "d-1", 1000);
    assert_int_equal(insert_delivery(&a, &d, &dup, id1), ERR_OK);
    assert_false(dup);
    assert_int_equal(strlen(id1), INGEST_DELIVERY_ID_LEN);
    assert_true(seen(&a, "integ-1", "d-1"));

    /* the same key again: a duplicate, answered with the first id */
    d.body = STR_LIT("{\"other\":1}");
    assert_int_equal(insert_delivery(&a, &d, &dup, id2), ERR_OK);
    assert_true(dup);
    assert_string_equal(id1, id2);
    assert_int_equal(count_in(&a, "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1"),
                     1);

    /* another integration, same key: not a duplicate */
    d = delivery("integ-2", "d-1", 1001);
    assert_int_equal(insert_delivery(&a, &d, &dup, id2), ERR_OK);
    assert_false(dup);
    assert_string_not_equal(id1, id2);

    /* another tenant, same integration and key: not a duplicate, and blind to A's */
    assert_false(seen(&b, "integ-1", "d-1"));
    d = delivery("integ-1", "d-1", 1002);
    assert_int_equal(insert_delivery(&b, &d, &dup, id2), ERR_OK);
    assert_false(dup);

    /* get: A's row with its body; B cannot see it */
    struct arena *ar = arena_new(1 << 20);
    struct tx *tx = begin(&a, TX_READ);
    struct ingest_delivery got;
    assert_int_equal(ingest_delivery_get(tx, str_from_cstr(id1), ar, &got), ERR_OK);
    storage_rollback(tx);
    assert_string_equal(got.id, id1);
    assert_str(got.integration_id, "integ-1");
    assert_str(got.provider, "github");
    assert_str(got.delivery_key, "d-1");
    assert_str(got.event, "pull_request");
    assert_str(got.body, "{\"action\":\"opened\",\"token\":\"[redacted]\"}");
    assert_null(got.error.ptr);
    assert_int_equal(got.body_bytes, 4242);
    assert_int_equal(got.received_at, 1000);
    assert_int_equal(got.processed_at, 0);
    assert_int_equal(got.status, INGEST_DELIVERY_ACCEPTED);

    tx = begin(&b, TX_WRITE);
    assert_int_equal(ingest_delivery_get(tx, str_from_cstr(id1), ar, &got), ERR_NOT_FOUND);
    assert_int_equal(
        ingest_delivery_set_status(tx, str_from_cstr(id1), INGEST_DELIVERY_DEAD, STR_NULL, 5000),
        ERR_NOT_FOUND);
    assert_int_equal(ingest_delivery_get(tx, STR_LIT("not-an-id"), ar, &got), ERR_NOT_FOUND);
    storage_rollback(tx);

    /* status: failed with a reason, then processed */
    tx = begin(&a, TX_WRITE);
    assert_int_equal(ingest_delivery_set_status(tx, str_from_cstr(id1), INGEST_DELIVERY_FAILED,
                                                STR_LIT("database busy"), 2000),
                     ERR_OK);
    assert_int_equal(ingest_delivery_get(tx, str_from_cstr(id1), ar, &got), ERR_OK);
    assert_int_equal(got.status, INGEST_DELIVERY_FAILED);
    assert_str(got.error, "database busy");
    assert_int_equal(got.processed_at, 2000);
    assert_int_equal(ingest_delivery_set_status(tx, str_from_cstr(id1), INGEST_DELIVERY_PROCESSED,
                                                STR_NULL, 2100),
                     ERR_OK);
    assert_int_equal(ingest_delivery_get(tx, str_from_cstr(id1), ar, &got), ERR_OK);
    assert_int_equal(got.status, INGEST_DELIVERY_PROCESSED);
    assert_null(got.error.ptr);
    assert_int_equal(got.processed_at, 2100);
    assert_int_equal(ingest_delivery_set_status(tx, str_from_cstr(id1),
                                                (enum ingest_delivery_status)99, STR_NULL, 1),
                     ERR_INVALID);
    assert_int_equal(ingest_delivery_set_status(tx, str_from_cstr(id1), INGEST_DELIVERY_FAILED,
                                                STR_LIT("line\nbreak"), 1),
                     ERR_INVALID);
    assert_int_equal(storage_commit(tx), ERR_OK);
    assert_string_equal(ingest_delivery_status_name(INGEST_DELIVERY_DEAD), "dead");
    assert_null(ingest_delivery_status_name((enum ingest_delivery_status)5));
    arena_free(ar);
}

/* The stored form of delivery id: its encoding into enc; its stored length. */
static int64_t stored_body(const struct tenant_ctx *t, const char *id, char enc[16])
{
    struct tx *tx = begin(t, TX_READ);
    struct stmt *st = NULL;
    bool row = false;
    assert_int_equal(tx_query(tx,
                              S.pg ? "SELECT body_encoding, octet_length(body) FROM"
                                     " webhook_deliveries WHERE tenant_id = $1 AND id = $2"
                                   : "SELECT body_encoding, length(body) FROM webhook_deliveries"
                                     " WHERE tenant_id = $1 AND id = $2",
                              STORAGE_ARGS(STORAGE_CSTR(id)), &st, &row),
                     ERR_OK);
    assert_true(row);
    snprintf(enc, 16, "%.*s", (int)stmt_col_text(st, 0).len, stmt_col_text(st, 0).ptr);
    int64_t len = stmt_col_int(st, 1);
    stmt_finish(st);
    storage_rollback(tx);
    return len;
}

static void get_body(const struct tenant_ctx *t, const char *id, struct arena *ar, enum err want,
                     struct str *body)
{
    struct tx *tx = begin(t, TX_READ);
    struct ingest_delivery got;
    assert_int_equal(ingest_delivery_get(tx, str_from_cstr(id), ar, &got), want);
    storage_rollback(tx);
    *body = got.body;
}

/*
 * Bodies are stored packed with LZ4 when that makes them shorter, as their
 * bytes otherwise, and read back whole either way; packed ahead (the webhook
 * path) or by the insert; a damaged packed body is ERR_DB, never a guess.
 */
static void test_delivery_body_stored_packed(void **state)
{
    (void)state;
    struct tenant_ctx a;
    new_tenant(&a);
    struct arena *ar = arena_new(64 << 20);
    /* a payload-like body: repetitive JSON */
    struct buf big = BUF_INIT(1 << 20);
    assert_int_equal(buf_puts(&big, "{\"commits\":["), ERR_OK);
    for (int i = 0; i < 200; i++)
        assert_int_equal(buf_printf(&big,
                                    "%s{\"id\":\"%040d\",\"message\":\"fix: the parser, take %d\","
                                    "\"added\":[\"src/a%d.c\"]}",
                                    i ? "," : "", i, i, i % 7),
                         ERR_OK);
    assert_int_equal(buf_puts(&big, "]}"), ERR_OK);
    struct str body = str_from(big.data, big.len);
    char id[4][INGEST_DELIVERY_ID_LEN + 1], enc[16];
    bool dup = true;

    struct ingest_delivery_new d = delivery("integ-p", "p-1", 1000);
    d.body = body;
    assert_int_equal(insert_delivery(&a, &d, &dup, id[0]), ERR_OK); /* packed by the insert */
    int64_t len = stored_body(&a, id[0], enc);
    assert_string_equal(enc, "lz4");
    assert_true(len > 0 && len < (int64_t)body.len / 3); /* and not the body's bytes */

    d = delivery("integ-p", "p-2", 1000);
    d.body = body;
    assert_int_equal(ingest_delivery_pack(&d, ar), ERR_OK); /* packed ahead, as the hooks path */
    assert_true(d.stored_.lz4);
    assert_int_equal(insert_delivery(&a, &d, &dup, id[1]), ERR_OK);
    assert_int_equal(stored_body(&a, id[1], enc), len);
    assert_string_equal(enc, "lz4");

    /* a short body that packing would lengthen stays as it is */
    d = delivery("integ-p", "p-3", 1000);
    d.body = STR_LIT("{\"a\":1}");
    assert_int_equal(insert_delivery(&a, &d, &dup, id[2]), ERR_OK);
    assert_int_equal(stored_body(&a, id[2], enc), 7);
    assert_string_equal(enc, "identity");

    struct str got;
    for (int k = 0; k < 2; k++) {
        get_body(&a, id[k], ar, ERR_OK, &got);
        assert_int_equal(got.len, body.len);
        assert_memory_equal(got.ptr, body.ptr, body.len);
        assert_int_equal(got.ptr[got.len], '\0');
    }
    get_body(&a, id[2], ar, ERR_OK, &got);
    assert_str(got, "{\"a\":1}");

    /* checks run before packing, as before inserting */
    d = delivery("integ-p", "p-4", 1000);
    d.body = STR_LIT("{\"a\":\"\xff\"}");
    assert_int_equal(ingest_delivery_pack(&d, ar), ERR_INVALID);
    assert_false(d.stored_.done);

    /* a row written before packing existed (identity, from the migration) reads as it was */
    struct tx *tx = begin(&a, TX_WRITE);
    assert_int_equal(tx_exec_args(tx,
                                  S.pg ? "UPDATE webhook_deliveries SET body = convert_to($3,"
                                         " 'UTF8'), body_encoding = 'identity'"
                                         " WHERE tenant_id = $1 AND id = $2"
                                       : "UPDATE webhook_deliveries SET body = CAST($3 AS BLOB),"
                                         " body_encoding = 'identity'"
                                         " WHERE tenant_id = $1 AND id = $2",
                                  STORAGE_ARGS(STORAGE_CSTR(id[1]), STORAGE_CSTR("{\"old\":true}")),
                                  NULL),
                     ERR_OK);
    /* and a damaged packed body: its block cut short */
    assert_int_equal(tx_exec_args(tx,
                                  S.pg ? "UPDATE webhook_deliveries SET body = substring(body"
                                         " from 1 for 40) WHERE tenant_id = $1 AND id = $2"
                                       : "UPDATE webhook_deliveries SET body = substr(body, 1, 40)"
                                         " WHERE tenant_id = $1 AND id = $2",
                                  STORAGE_ARGS(STORAGE_CSTR(id[0])), NULL),
                     ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
    get_body(&a, id[1], ar, ERR_OK, &got);
    assert_str(got, "{\"old\":true}");
    get_body(&a, id[0], ar, ERR_DB, &got);
    assert_null(got.ptr);
    buf_release(&big);
    arena_free(ar);
}

static void test_delivery_limits(void **state)
{
    (void)state;
    struct tenant_ctx a;
    new_tenant(&a);
    struct arena *ar = arena_new(64 << 20);
    char id[INGEST_DELIVERY_ID_LEN + 1];
    bool dup = false;

    struct ingest_delivery_new d = delivery("integ", "k", 1);
    d.delivery_key = filled(ar, INGEST_MAX_DELIVERY_KEY, 'k');
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_OK);
    d.delivery_key = filled(ar, INGEST_MAX_DELIVERY_KEY + 1, 'k');
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_LIMIT);
    assert_string_equal(id, "");

    d = delivery("integ", "k2", 1);
    d.integration_id = filled(ar, INGEST_MAX_INTEGRATION_ID, 'i');
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_OK);
    d.integration_id = filled(ar, INGEST_MAX_INTEGRATION_ID + 1, 'i');
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_LIMIT);

    d = delivery("integ", "k3", 1);
    d.event = filled(ar, INGEST_MAX_EVENT, 'e');
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_OK);
    d.event = filled(ar, INGEST_MAX_EVENT + 1, 'e');
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_LIMIT);
    d = delivery("integ", "k3b", 1);
    d.event = STR_LIT("Merge Request Hook"); /* GitLab's names have inner spaces */
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_OK);
    d = delivery("integ", "k3c", 1);
    d.event = STR_LIT(" push");
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_INVALID);
    d.event = STR_LIT("push\n");
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_INVALID);

    d = delivery("integ", "k4", 1);
    d.provider = filled(ar, INGEST_MAX_PROVIDER + 1, 'p');
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_LIMIT);
    d.provider = STR_LIT("sourceforge");
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_INVALID);

    d = delivery("integ", "k5", 1);
    d.body = filled(ar, INGEST_MAX_STORED_BODY, ' ');
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_OK);
    d = delivery("integ", "k6", 1);
    d.body = filled(ar, INGEST_MAX_STORED_BODY + 1, ' ');
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_LIMIT);

    /* malformed values */
    d = delivery("integ", "with space", 1);
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_INVALID);
    d = delivery("integ", "", 1);
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_INVALID);
    d = delivery("", "k7", 1);
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_INVALID);
    d = delivery("integ", "k8", 1);
    d.body = STR_LIT("{\"x\":\"\xff\"}");
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_INVALID);
    d.body = (struct str){"{\0}", 3};
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_INVALID);
    d = delivery("integ", "k9", 1);
    d.body_bytes = -1;
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_INVALID);

    /* seen: the same limits */
    struct tx *tx = begin(&a, TX_READ);
    bool s = false;
    assert_int_equal(ingest_delivery_seen(tx, STR_LIT("integ"),
                                          filled(ar, INGEST_MAX_DELIVERY_KEY + 1, 'k'), &s),
                     ERR_LIMIT);
    assert_int_equal(
        ingest_delivery_seen(tx, filled(ar, INGEST_MAX_INTEGRATION_ID + 1, 'i'), STR_LIT("k"), &s),
        ERR_LIMIT);
    storage_rollback(tx);

    /* the error text of a status */
    d = delivery("integ", "k10", 1);
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_OK);
    tx = begin(&a, TX_WRITE);
    assert_int_equal(ingest_delivery_set_status(tx, str_from_cstr(id), INGEST_DELIVERY_FAILED,
                                                filled(ar, INGEST_MAX_ERROR, 'x'), 2),
                     ERR_OK);
    assert_int_equal(ingest_delivery_set_status(tx, str_from_cstr(id), INGEST_DELIVERY_FAILED,
                                                filled(ar, INGEST_MAX_ERROR + 1, 'x'), 2),
                     ERR_LIMIT);
    assert_int_equal(storage_commit(tx), ERR_OK);
    /* stored above: k (128 bytes), k2, k3, k3b, k5 and k10 */
    assert_int_equal(count_in(&a, "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1"),
                     6);
    arena_free(ar);
}

static void test_purge(void **state)
{
    (void)state;
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    char id[INGEST_DELIVERY_ID_LEN + 1];
    bool dup;
    const char *keys[] = {"p1", "p2", "p3", "p4"};
    const int64_t at[] = {100, 200, 300, 250};
    for (int i = 0; i < 4; i++) {
        struct ingest_delivery_new d = delivery("integ", keys[i], at[i]);
        assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_OK);
        if (i == 0)
            assert_int_equal(insert_delivery(&b, &d, &dup, id), ERR_OK);
    }
    struct tx *tx = begin(&a, TX_WRITE);
    size_t n = 99;
    assert_int_equal(ingest_deliveries_purge(tx, 260, 0, &n), ERR_INVALID);
    assert_int_equal(n, 0);
    assert_int_equal(ingest_deliveries_purge(tx, 260, INGEST_PURGE_MAX + 1, &n), ERR_INVALID);
    /* received before 260: 100, 200, 250; max 2 takes the oldest two */
    assert_int_equal(ingest_deliveries_purge(tx, 260, 2, &n), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(storage_commit(tx), ERR_OK);
    assert_false(seen(&a, "integ", "p1"));
    assert_false(seen(&a, "integ", "p2"));
    assert_true(seen(&a, "integ", "p4"));
    tx = begin(&a, TX_WRITE);
    assert_int_equal(ingest_deliveries_purge(tx, 260, 2, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ingest_deliveries_purge(tx, 260, 2, &n), ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(storage_commit(tx), ERR_OK);
    /* the newer row stays; B's old row was never A's to purge */
    assert_true(seen(&a, "integ", "p3"));
    assert_true(seen(&b, "integ", "p1"));
    /* a purged key can be delivered again */
    struct ingest_delivery_new d = delivery("integ", "p1", 400);
    assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_OK);
    assert_false(dup);
}

/* ---- batches ------------------------------------------------------------------ */

static void test_partial_knowledge(void **state)
{
    (void)state;
    struct tenant_ctx a;
    new_tenant(&a);
    struct arena *ar = arena_new(1 << 20);

    static const struct str labels[] = {STR_LIT("bug"), STR_LIT("needs \"review\"")};
    struct ingest_pr full = pr_blank("github:pr:1:7", "github:repo:1");
    full.number = 7;
    full.title = STR_LIT("Add widgets");
    full.description = STR_LIT("Long text");
    full.state = STR_LIT("open");
    full.draft = INGEST_TRI_NO;
    full.labels = labels;
    full.n_labels = 2;
    full.labels_known = true;
    full.author = (struct ingest_person){.login = STR_LIT("alice"), .name = STR_LIT("Alice")};
    full.source_branch = STR_LIT("feature");
    full.target_branch = STR_LIT("main");
    full.created_at = 1000;
    full.ready_at = 1000;
    full.updated_at = 1100;
    full.commits = 3;
    full.additions = 10;
    full.deletions = 0;
    full.changed_files = 2;
    assert_int_equal(store_prs(&a, &full, 1), ERR_OK);

    /* a review event: knows the number and a new title, nothing else */
    struct ingest_pr partial = pr_blank("github:pr:1:7", "github:repo:1");
    partial.number = 7;
    partial.title = STR_LIT("Add blue widgets");
    partial.updated_at = 1200;
    assert_int_equal(store_prs(&a, &partial, 1), ERR_OK);

    struct ingest_pr got;
    assert_true(pr_get(&a, ar, "github:pr:1:7", &got));
    assert_str(got.title, "Add blue widgets");
    assert_str(got.description, "Long text");
    assert_str(got.state, "open");
    assert_int_equal(got.draft, INGEST_TRI_NO);
    assert_true(got.labels_known);
    assert_int_equal(got.n_labels, 2);
    assert_str(got.labels[1], "needs \"review\"");
    assert_str(got.author.login, "alice");
    assert_str(got.author.name, "Alice");
    assert_null(got.author.email.ptr);
    assert_false(got.author.bot);
    assert_str(got.source_branch, "feature");
    assert_int_equal(got.number, 7);
    assert_int_equal(got.created_at, 1000);
    assert_int_equal(got.updated_at, 1200);
    assert_int_equal(got.commits, 3);
    assert_int_equal(got.deletions, 0); /* known zero stays known */
    assert_int_equal(got.changed_files, 2);
    assert_int_equal(got.merged_at, 0);
    assert_null(got.merge_commit_sha.ptr);

    /* labels known and empty replace; a known-empty description is not unknown */
    partial = pr_blank("github:pr:1:7", "github:repo:1");
    partial.labels_known = true;
    partial.description = STR_LIT("");
    partial.commits = 4;
    assert_int_equal(store_prs(&a, &partial, 1), ERR_OK);
    assert_true(pr_get(&a, ar, "github:pr:1:7", &got));
    assert_true(got.labels_known);
    assert_int_equal(got.n_labels, 0);
    assert_str(got.description, "");
    assert_int_equal(got.commits, 4);
    assert_str(got.title, "Add blue widgets");

    /* the repository row: upserted first, unknowns keep */
    struct ingest_repo r = {.id = STR_LIT("github:repo:1"), .default_branch = STR_LIT("trunk")};
    struct ingest_batch b = {.repos = &r, .n_repos = 1};
    assert_int_equal(store(&a, &b), ERR_OK);
    struct tx *tx = begin(&a, TX_READ);
    struct ingest_repo *repos = NULL;
    size_t n = 0;
    struct ingest_cursor next;
    assert_int_equal(ingest_repositories_list(tx, NULL, 10, ar, &repos, &n, &next), ERR_OK);
    storage_rollback(tx);
    assert_int_equal(n, 1);
    assert_str(repos[0].full_name, "acme/widgets");
    assert_str(repos[0].url, "https://github.com/acme/widgets");
    assert_str(repos[0].default_branch, "trunk");
    assert_string_equal(next.id, "");
    arena_free(ar);
}

static void test_merged_sticks_and_stale_events(void **state)
{
    (void)state;
    struct tenant_ctx a;
    new_tenant(&a);
    struct arena *ar = arena_new(1 << 20);
    struct ingest_pr got;

    struct ingest_pr p = pr_blank("github:pr:1:1", "github:repo:1");
    p.title = STR_LIT("Final title");
    p.state = STR_LIT("merged");
    p.merged_at = 500;
    p.closed_at = 500;
    p.updated_at = 500;
    p.merge_commit_sha = STR_LIT("abc123");
    assert_int_equal(store_prs(&a, &p, 1), ERR_OK);

    /* an older event arriving late: says open with an old title */
    p = pr_blank("github:pr:1:1", "github:repo:1");
    p.title = STR_LIT("Draft title");
    p.state = STR_LIT("open");
    p.updated_at = 100;
    p.created_at = 90; /* unknown so far: a stale event still fills it */
    assert_int_equal(store_prs(&a, &p, 1), ERR_OK);
    assert_true(pr_get(&a, ar, "github:pr:1:1", &got));
    assert_str(got.state, "merged");
    assert_str(got.title, "Final title");
    assert_int_equal(got.updated_at, 500);
    assert_int_equal(got.created_at, 90);
    assert_int_equal(got.merged_at, 500);

    /* even a newer event saying closed (or open) leaves it merged; its title applies */
    p = pr_blank("github:pr:1:1", "github:repo:1");
    p.title = STR_LIT("Renamed after merge");
    p.state = STR_LIT("closed");
    p.updated_at = 900;
    assert_int_equal(store_prs(&a, &p, 1), ERR_OK);
    assert_true(pr_get(&a, ar, "github:pr:1:1", &got));
    assert_str(got.state, "merged");
    assert_str(got.title, "Renamed after merge");
    assert_int_equal(got.updated_at, 900);

    /* closed then an older "open": stays closed; a newer reopen applies */
    p = pr_blank("github:pr:1:2", "github:repo:1");
    p.state = STR_LIT("closed");
    p.updated_at = 200;
    assert_int_equal(store_prs(&a, &p, 1), ERR_OK);
    p.state = STR_LIT("open");
    p.updated_at = 150;
    assert_int_equal(store_prs(&a, &p, 1), ERR_OK);
    assert_true(pr_get(&a, ar, "github:pr:1:2", &got));
    assert_str(got.state, "closed");
    p.updated_at = 300;
    assert_int_equal(store_prs(&a, &p, 1), ERR_OK);
    assert_true(pr_get(&a, ar, "github:pr:1:2", &got));
    assert_str(got.state, "open");
    /* an event without updated_at is not stale: its known values apply */
    p = pr_blank("github:pr:1:2", "github:repo:1");
    p.state = STR_LIT("merged");
    assert_int_equal(store_prs(&a, &p, 1), ERR_OK);
    assert_true(pr_get(&a, ar, "github:pr:1:2", &got));
    assert_str(got.state, "merged");
    assert_int_equal(got.updated_at, 300);
    arena_free(ar);
}

static void test_review_times(void **state)
{
    (void)state;
    struct tenant_ctx a;
    new_tenant(&a);
    struct arena *ar = arena_new(1 << 20);
    struct ingest_pr got;
    const char *pr = "github:pr:1:10";

    struct ingest_pr p = pr_blank(pr, "github:repo:1");
    p.author.login = STR_LIT("alice");
    p.created_at = 10;
    assert_int_equal(store_prs(&a, &p, 1), ERR_OK);

    /* the author's own review does not count */
    struct ingest_review r[4];
    r[0] = review("github:review:1", pr, "alice", "commented", 100);
    assert_int_equal(store_reviews(&a, r, 1), ERR_OK);
    assert_true(pr_get(&a, ar, pr, &got));
    assert_int_equal(got.first_review_at, 0);

    /* bob comments at 200, carol approves at 300 */
    r[0] = review("github:review:2", pr, "bob", "commented", 200);
    r[0].kind = INGEST_REVIEW_COMMENT;
    r[0].id = STR_LIT("github:comment:2");
    r[1] = review("github:review:3", pr, "carol", "approved", 300);
    assert_int_equal(store_reviews(&a, r, 2), ERR_OK);
    assert_true(pr_get(&a, ar, pr, &got));
    assert_int_equal(got.first_review_at, 200);
    assert_int_equal(got.approved_at, 300);

    /* an earlier review arriving late moves it earlier; a later one does not */
    r[0] = review("github:review:4", pr, "dave", "changes_requested", 150);
    r[1] = review("github:review:5", pr, "erin", "approved", 400);
    assert_int_equal(store_reviews(&a, r, 2), ERR_OK);
    assert_true(pr_get(&a, ar, pr, &got));
    assert_int_equal(got.first_review_at, 150);
    assert_int_equal(got.approved_at, 300);

    /* a PR event's own times: only an earlier one applies */
    p = pr_blank(pr, "github:repo:1");
    p.first_review_at = 500;
    p.approved_at = 250;
    assert_int_equal(store_prs(&a, &p, 1), ERR_OK);
    assert_true(pr_get(&a, ar, pr, &got));
    assert_int_equal(got.first_review_at, 150);
    assert_int_equal(got.approved_at, 250);

    /* reviews before their PR: counted when it arrives, except the author's */
    r[0] = review("github:review:20", "github:pr:1:20", "bob", "commented", 50);
    r[1] = review("github:review:30", "github:pr:1:30", "erin", "approved", 60);
    assert_int_equal(store_reviews(&a, r, 2), ERR_OK);
    struct ingest_pr two[2] = {pr_blank("github:pr:1:20", "github:repo:1"),
                               pr_blank("github:pr:1:30", "github:repo:1")};
    two[0].author.login = STR_LIT("bob");
    two[1].author.login = STR_LIT("frank");
    assert_int_equal(store_prs(&a, two, 2), ERR_OK);
    assert_true(pr_get(&a, ar, "github:pr:1:20", &got));
    assert_int_equal(got.first_review_at, 0);
    assert_true(pr_get(&a, ar, "github:pr:1:30", &got));
    assert_int_equal(got.first_review_at, 60);
    assert_int_equal(got.approved_at, 60);

    /* an author not known yet: the review counts */
    p = pr_blank("github:pr:1:40", "github:repo:1");
    r[0] = review("github:review:40", "github:pr:1:40", "gina", "commented", 70);
    struct ingest_batch b = {.prs = &p, .n_prs = 1, .reviews = r, .n_reviews = 1};
    assert_int_equal(store(&a, &b), ERR_OK);
    assert_true(pr_get(&a, ar, "github:pr:1:40", &got));
    assert_int_equal(got.first_review_at, 70);
    assert_int_equal(got.approved_at, 0);

    /* the reviewer's bot flag (I8) is kept with the review */
    r[0] = review("github:review:41", "github:pr:1:40", "renovate[bot]", "commented", 80);
    r[0].reviewer.bot = true;
    assert_int_equal(store_reviews(&a, r, 1), ERR_OK);
    assert_int_equal(count_in(&a, "SELECT count(*) FROM reviews WHERE tenant_id = $1"
                                  " AND reviewer_is_bot AND reviewer_login = 'renovate[bot]'"),
                     1);
    arena_free(ar);
}

static void test_commits_and_files(void **state)
{
    (void)state;
    struct tenant_ctx a;
    new_tenant(&a);
    struct arena *ar = arena_new(1 << 20);

    const struct ingest_file files[] = {
        {.path = STR_LIT("src/a.c"), .change = 'M', .additions = 3, .deletions = 1},
        {.path = STR_LIT("docs/b.md"),
         .change = 'A',
         .additions = INGEST_UNKNOWN,
         .deletions = INGEST_UNKNOWN},
    };
    /* the repository is not in the batch: a stub row appears for it */
    struct ingest_commit c = commit_blank("github:commit:9:abc", "github:repo:9");
    c.sha = STR_LIT("abc");
    c.message = STR_LIT("fix: things");
    c.author = (struct ingest_person){
        .login = STR_LIT("dependabot[bot]"), .email = STR_LIT("bot@example.com"), .bot = true};
    c.committed_at = 5000;
    c.files = files;
    c.n_files = 2;
    c.files_changed = 2;
    struct ingest_batch b = {.commits = &c, .n_commits = 1};
    assert_int_equal(store(&a, &b), ERR_OK);
    assert_int_equal(count_in(&a, "SELECT count(*) FROM repositories WHERE tenant_id = $1"
                                  " AND id = 'github:repo:9' AND full_name IS NULL"),
                     1);

    struct tx *tx = begin(&a, TX_READ);
    struct ingest_file *got = NULL;
    size_t n = 0;
    assert_int_equal(ingest_commit_files(tx, STR_LIT("github:commit:9:abc"), ar, &got, &n), ERR_OK);
    storage_rollback(tx);
    assert_int_equal(n, 2);
    assert_str(got[0].path, "docs/b.md");
    assert_int_equal(got[0].change, 'A');
    assert_int_equal(got[0].additions, INGEST_UNKNOWN);
    assert_str(got[1].path, "src/a.c");
    assert_int_equal(got[1].additions, 3);
    assert_int_equal(got[1].deletions, 1);

    /* a push event that lists no files keeps them; its message change applies */
    struct ingest_commit again = commit_blank("github:commit:9:abc", "github:repo:9");
    again.message = STR_LIT("fix: things (amended text)");
    b.commits = &again;
    assert_int_equal(store(&a, &b), ERR_OK);
    tx = begin(&a, TX_READ);
    assert_int_equal(ingest_commit_files(tx, STR_LIT("github:commit:9:abc"), ar, &got, &n), ERR_OK);
    assert_int_equal(n, 2);
    struct ingest_commit *rows = NULL;
    struct ingest_cursor next;
    assert_int_equal(ingest_commits_list(tx, STR_NULL, NULL, 10, ar, &rows, &n, &next), ERR_OK);
    storage_rollback(tx);
    assert_int_equal(n, 1);
    assert_str(rows[0].message, "fix: things (amended text)");
    assert_str(rows[0].sha, "abc");
    assert_str(rows[0].author.login, "dependabot[bot]");
    assert_str(rows[0].author.email, "bot@example.com");
    assert_true(rows[0].author.bot);
    assert_null(rows[0].committer.login.ptr);
    assert_int_equal(rows[0].committed_at, 5000);
    assert_int_equal(rows[0].files_changed, 2);
    assert_int_equal(rows[0].additions, INGEST_UNKNOWN);

    /* a row that lists files replaces them as a whole */
    const struct ingest_file one[] = {
        {.path = STR_LIT("src/c.c"), .change = 'R', .additions = 0, .deletions = 0}};
    again.files = one;
    again.n_files = 1;
    assert_int_equal(store(&a, &b), ERR_OK);
    tx = begin(&a, TX_READ);
    assert_int_equal(ingest_commit_files(tx, STR_LIT("github:commit:9:abc"), ar, &got, &n), ERR_OK);
    storage_rollback(tx);
    assert_int_equal(n, 1);
    assert_str(got[0].path, "src/c.c");
    assert_int_equal(got[0].change, 'R');

    /* the stub repository is filled in by a later delivery */
    struct ingest_repo r = {.id = STR_LIT("github:repo:9"), .full_name = STR_LIT("acme/nine")};
    struct ingest_batch rb = {.repos = &r, .n_repos = 1};
    assert_int_equal(store(&a, &rb), ERR_OK);
    assert_int_equal(count_in(&a, "SELECT count(*) FROM repositories WHERE tenant_id = $1"
                                  " AND full_name = 'acme/nine'"),
                     1);
    arena_free(ar);
}

static void test_deployments_and_releases(void **state)
{
    (void)state;
    struct tenant_ctx a;
    new_tenant(&a);
    struct arena *ar = arena_new(1 << 20);

    struct ingest_deployment d = {.id = STR_LIT("github:deployment:1"),
                                  .repo_id = STR_LIT("github:repo:1"),
                                  .environment = STR_LIT("production"),
                                  .status = STR_LIT("success"),
                                  .sha = STR_LIT("abc"),
                                  .created_at = 100,
                                  .finished_at = 160};
    struct ingest_batch b = {.repos = &repo1, .n_repos = 1, .deployments = &d, .n_deployments = 1};
    assert_int_equal(store(&a, &b), ERR_OK);
    /* a late in_progress, then inactive: the outcome stays success */
    struct ingest_deployment late = {
        .id = d.id, .repo_id = d.repo_id, .status = STR_LIT("in_progress")};
    b.deployments = &late;
    assert_int_equal(store(&a, &b), ERR_OK);
    late.status = STR_LIT("inactive");
    assert_int_equal(store(&a, &b), ERR_OK);
    struct tx *tx = begin(&a, TX_READ);
    struct ingest_deployment *rows = NULL;
    size_t n = 0;
    struct ingest_cursor next;
    assert_int_equal(
        ingest_deployments_list(tx, STR_NULL, STR_NULL, NULL, 10, ar, &rows, &n, &next), ERR_OK);
    storage_rollback(tx);
    assert_int_equal(n, 1);
    assert_str(rows[0].status, "success");
    assert_str(rows[0].environment, "production");
    assert_int_equal(rows[0].finished_at, 160);
    /* a terminal status after another terminal one applies (a re-run) */
    late.status = STR_LIT("failure");
    assert_int_equal(store(&a, &b), ERR_OK);
    assert_int_equal(count_in(&a, "SELECT count(*) FROM deployments WHERE tenant_id = $1"
                                  " AND status = 'failure'"),
                     1);

    struct ingest_release rel = {.id = STR_LIT("github:release:5"),
                                 .repo_id = STR_LIT("github:repo:1"),
                                 .kind = INGEST_RELEASE,
                                 .tag = STR_LIT("v1.0.0"),
                                 .prerelease = INGEST_TRI_NO,
                                 .published_at = 700};
    struct ingest_batch rb = {.releases = &rel, .n_releases = 1};
    assert_int_equal(store(&a, &rb), ERR_OK);
    struct ingest_release rel2 = {.id = rel.id,
                                  .repo_id = rel.repo_id,
                                  .kind = INGEST_RELEASE,
                                  .name = STR_LIT("One point oh")};
    rb.releases = &rel2;
    assert_int_equal(store(&a, &rb), ERR_OK);
    assert_int_equal(count_in(&a,
                              "SELECT count(*) FROM releases WHERE tenant_id = $1"
                              " AND tag = 'v1.0.0' AND name = 'One point oh'"
                              " AND NOT prerelease AND published_at = 700 AND kind = 'release'"),
                     1);
    arena_free(ar);
}

/* ---- listing ------------------------------------------------------------------ */

static void test_listing(void **state)
{
    (void)state;
    struct tenant_ctx a;
    new_tenant(&a);
    struct arena *ar = arena_new(8 << 20);

    /* 7 PRs in repo 1 (created 1..7, odd ones merged), 3 in repo 2 (created 11..13) */
    static char ids[10][32];
    struct ingest_pr prs[10];
    struct ingest_repo repos[2] = {
        repo1, {.id = STR_LIT("github:repo:2"), .full_name = STR_LIT("acme/a-first")}};
    for (int i = 0; i < 10; i++) {
        bool second = i >= 7;
        snprintf(ids[i], sizeof ids[i], "github:pr:%d:%d", second ? 2 : 1, i);
        prs[i] = pr_blank(ids[i], second ? "github:repo:2" : "github:repo:1");
        prs[i].number = i;
        prs[i].created_at = second ? 11 + (i - 7) : 1 + i;
        prs[i].state = (i % 2) ? STR_LIT("merged") : STR_LIT("open");
    }
    struct ingest_batch b = {.repos = repos, .n_repos = 2, .prs = prs, .n_prs = 10};
    assert_int_equal(store(&a, &b), ERR_OK);

    struct tx *tx = begin(&a, TX_READ);
    struct ingest_pr *rows = NULL;
    size_t n = 0;
    struct ingest_cursor cur = {0}, next;
    /* repo 1 in pages of 3: 7 6 5 | 4 3 2 | 1 */
    int64_t want = 7;
    for (int page = 0; page < 3; page++) {
        assert_int_equal(
            ingest_prs_list(tx, STR_LIT("github:repo:1"), STR_NULL, &cur, 3, ar, &rows, &n, &next),
            ERR_OK);
        assert_int_equal(n, page < 2 ? 3 : 1);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(rows[i].created_at, want--);
            assert_str(rows[i].repo_id, "github:repo:1");
        }
        if (page < 2)
            assert_string_not_equal(next.id, "");
        else
            assert_string_equal(next.id, "");
        cur = next;
    }
    /* all of them, newest first: repo 2's come first */
    assert_int_equal(ingest_prs_list(tx, STR_NULL, STR_NULL, NULL, 100, ar, &rows, &n, &next),
                     ERR_OK);
    assert_int_equal(n, 10);
    assert_int_equal(rows[0].created_at, 13);
    assert_int_equal(rows[9].created_at, 1);
    /* filters: state, repository and state */
    assert_int_equal(
        ingest_prs_list(tx, STR_NULL, STR_LIT("merged"), NULL, 100, ar, &rows, &n, &next), ERR_OK);
    assert_int_equal(n, 5);
    assert_int_equal(ingest_prs_list(tx, STR_LIT("github:repo:2"), STR_LIT("open"), NULL, 100, ar,
                                     &rows, &n, &next),
                     ERR_OK);
    assert_int_equal(n, 1); /* 7 and 9 merged, 8 open */
    assert_int_equal(
        ingest_prs_list(tx, STR_LIT("github:repo:404"), STR_NULL, NULL, 100, ar, &rows, &n, &next),
        ERR_OK);
    assert_int_equal(n, 0);
    /* page size bounds and filter limits */
    assert_int_equal(ingest_prs_list(tx, STR_NULL, STR_NULL, NULL, 0, ar, &rows, &n, &next),
                     ERR_INVALID);
    assert_int_equal(
        ingest_prs_list(tx, STR_NULL, STR_NULL, NULL, INGEST_MAX_PAGE + 1, ar, &rows, &n, &next),
        ERR_LIMIT);
    assert_int_equal(ingest_prs_list(tx, filled(ar, INGEST_MAX_ID + 1, 'r'), STR_NULL, NULL, 10, ar,
                                     &rows, &n, &next),
                     ERR_LIMIT);
    assert_int_equal(ingest_prs_list(tx, STR_NULL, filled(ar, INGEST_MAX_STATE + 1, 's'), NULL, 10,
                                     ar, &rows, &n, &next),
                     ERR_LIMIT);

    /* repositories by name: acme/a-first before acme/widgets, one per page */
    struct ingest_repo *rr = NULL;
    assert_int_equal(ingest_repositories_list(tx, NULL, 1, ar, &rr, &n, &next), ERR_OK);
    assert_int_equal(n, 1);
    assert_str(rr[0].full_name, "acme/a-first");
    cur = next;
    assert_int_equal(ingest_repositories_list(tx, &cur, 1, ar, &rr, &n, &next), ERR_OK);
    assert_int_equal(n, 1);
    assert_str(rr[0].full_name, "acme/widgets");
    assert_string_equal(next.id, ""); /* the last page */
    storage_rollback(tx);

    /* commits: equal times are ordered by id, and pages never repeat or skip */
    struct ingest_commit cs[5];
    static char cids[5][40];
    for (int i = 0; i < 5; i++) {
        snprintf(cids[i], sizeof cids[i], "github:commit:%d:%c", i < 3 ? 1 : 2, 'a' + i);
        cs[i] = commit_blank(cids[i], i < 3 ? "github:repo:1" : "github:repo:2");
        cs[i].committed_at = 100; /* all equal */
    }
    cs[4].committed_at = 0;
    cs[4].authored_at = 50; /* falls back to the author time */
    struct ingest_batch cb = {.commits = cs, .n_commits = 5};
    assert_int_equal(store(&a, &cb), ERR_OK);
    tx = begin(&a, TX_READ);
    struct ingest_commit *crow = NULL;
    memset(&cur, 0, sizeof cur);
    const char *order[] = {"github:commit:2:d", "github:commit:1:c", "github:commit:1:b",
                           "github:commit:1:a", "github:commit:2:e"};
    for (int i = 0; i < 5; i += 2) {
        assert_int_equal(ingest_commits_list(tx, STR_NULL, &cur, 2, ar, &crow, &n, &next), ERR_OK);
        assert_int_equal(n, i < 4 ? 2 : 1);
        for (size_t j = 0; j < n; j++)
            assert_str(crow[j].id, order[i + (int)j]);
        cur = next;
    }
    assert_string_equal(cur.id, "");
    assert_int_equal(
        ingest_commits_list(tx, STR_LIT("github:repo:2"), NULL, 10, ar, &crow, &n, &next), ERR_OK);
    assert_int_equal(n, 2);
    storage_rollback(tx);

    /* deployments by environment */
    struct ingest_deployment ds[3] = {
        {.id = STR_LIT("github:deployment:1"),
         .repo_id = STR_LIT("github:repo:1"),
         .environment = STR_LIT("production"),
         .created_at = 10},
        {.id = STR_LIT("github:deployment:2"),
         .repo_id = STR_LIT("github:repo:1"),
         .environment = STR_LIT("staging"),
         .created_at = 20},
        {.id = STR_LIT("github:deployment:3"),
         .repo_id = STR_LIT("github:repo:2"),
         .environment = STR_LIT("production"),
         .finished_at = 30},
    };
    struct ingest_batch db = {.deployments = ds, .n_deployments = 3};
    assert_int_equal(store(&a, &db), ERR_OK);
    tx = begin(&a, TX_READ);
    struct ingest_deployment *drow = NULL;
    assert_int_equal(ingest_deployments_list(tx, STR_NULL, STR_LIT("production"), NULL, 10, ar,
                                             &drow, &n, &next),
                     ERR_OK);
    assert_int_equal(n, 2);
    assert_str(drow[0].id, "github:deployment:3");
    assert_str(drow[1].id, "github:deployment:1");
    assert_int_equal(ingest_deployments_list(tx, STR_LIT("github:repo:1"), STR_LIT("production"),
                                             NULL, 10, ar, &drow, &n, &next),
                     ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ingest_deployments_list(tx, STR_NULL,
                                             filled(ar, INGEST_MAX_ENVIRONMENT + 1, 'e'), NULL, 10,
                                             ar, &drow, &n, &next),
                     ERR_LIMIT);
    storage_rollback(tx);

    /* deliveries, most recent first, two per page; the body is not read */
    char id[INGEST_DELIVERY_ID_LEN + 1];
    bool dup;
    for (int i = 0; i < 5; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        struct ingest_delivery_new d = delivery("integ", key, 1000 + (i == 4 ? 3 : i));
        assert_int_equal(insert_delivery(&a, &d, &dup, id), ERR_OK);
    }
    tx = begin(&a, TX_READ);
    struct ingest_delivery *dl = NULL;
    memset(&cur, 0, sizeof cur);
    int64_t prev = INT64_MAX;
    size_t total = 0;
    for (int page = 0; page < 4; page++) {
        assert_int_equal(ingest_deliveries_list(tx, &cur, 2, ar, &dl, &n, &next), ERR_OK);
        for (size_t j = 0; j < n; j++) {
            assert_true(dl[j].received_at <= prev);
            prev = dl[j].received_at;
            assert_null(dl[j].body.ptr);
            assert_str(dl[j].event, "pull_request");
        }
        total += n;
        cur = next;
        if (!next.id[0])
            break;
    }
    assert_int_equal(total, 5);
    storage_rollback(tx);
    arena_free(ar);
}

/* ---- limits ------------------------------------------------------------------- */

static void test_batch_limits(void **state)
{
    (void)state;
    struct tenant_ctx a;
    new_tenant(&a);
    struct arena *ar = arena_new(16 << 20);

    /* ids: at the limit fine, one past refused; empty refused */
    struct ingest_pr p = pr_blank("x", "github:repo:1");
    p.id = filled(ar, INGEST_MAX_ID, 'p');
    assert_int_equal(store_prs(&a, &p, 1), ERR_OK);
    p.id = filled(ar, INGEST_MAX_ID + 1, 'p');
    assert_int_equal(store_prs(&a, &p, 1), ERR_LIMIT);
    p.id = STR_LIT("");
    assert_int_equal(store_prs(&a, &p, 1), ERR_INVALID);
    p = pr_blank("github:pr:1:1", "github:repo:1");
    p.repo_id = STR_NULL;
    assert_int_equal(store_prs(&a, &p, 1), ERR_INVALID);

#define ONE_PAST(field, max)                                                                       \
    do {                                                                                           \
        p = pr_blank("github:pr:1:1", "github:repo:1");                                            \
        p.field = filled(ar, (max), 'x');                                                          \
        assert_int_equal(store_prs(&a, &p, 1), ERR_OK);                                            \
        p.field = filled(ar, (max) + 1, 'x');                                                      \
        assert_int_equal(store_prs(&a, &p, 1), ERR_LIMIT);                                         \
    } while (0)
    ONE_PAST(title, INGEST_MAX_TITLE);
    ONE_PAST(description, INGEST_MAX_DESCRIPTION);
    ONE_PAST(author.login, INGEST_MAX_LOGIN);
    ONE_PAST(author.name, INGEST_MAX_NAME);
    ONE_PAST(author.email, INGEST_MAX_EMAIL);
    ONE_PAST(source_branch, INGEST_MAX_BRANCH);
    ONE_PAST(merge_commit_sha, INGEST_MAX_SHA);
#undef ONE_PAST
    p = pr_blank("github:pr:1:1", "github:repo:1");
    p.state = STR_LIT("reopened");
    assert_int_equal(store_prs(&a, &p, 1), ERR_INVALID);

    /* labels: count and length */
    struct str *labels = arena_calloc(ar, INGEST_MAX_LABELS + 1, sizeof *labels);
    for (size_t i = 0; i <= INGEST_MAX_LABELS; i++)
        labels[i] = STR_LIT("l");
    p = pr_blank("github:pr:1:1", "github:repo:1");
    p.labels = labels;
    p.labels_known = true;
    p.n_labels = INGEST_MAX_LABELS;
    labels[0] = filled(ar, INGEST_MAX_LABEL, '\x01'); /* every byte escaped in JSON */
    assert_int_equal(store_prs(&a, &p, 1), ERR_OK);
    struct ingest_pr got;
    assert_true(pr_get(&a, ar, "github:pr:1:1", &got));
    assert_int_equal(got.n_labels, INGEST_MAX_LABELS);
    assert_int_equal(got.labels[0].len, INGEST_MAX_LABEL);
    p.n_labels = INGEST_MAX_LABELS + 1;
    assert_int_equal(store_prs(&a, &p, 1), ERR_LIMIT);
    p.n_labels = 1;
    labels[0] = filled(ar, INGEST_MAX_LABEL + 1, 'l');
    assert_int_equal(store_prs(&a, &p, 1), ERR_LIMIT);

    /* commits: message, path, file count, change letter */
    struct ingest_commit c = commit_blank("github:commit:1:a", "github:repo:1");
    struct ingest_batch b = {.commits = &c, .n_commits = 1};
    c.message = filled(ar, INGEST_MAX_MESSAGE, 'm');
    assert_int_equal(store(&a, &b), ERR_OK);
    c.message = filled(ar, INGEST_MAX_MESSAGE + 1, 'm');
    assert_int_equal(store(&a, &b), ERR_LIMIT);
    c.message = STR_NULL;
    struct ingest_file *files = arena_calloc(ar, INGEST_MAX_FILES + 1, sizeof *files);
    for (size_t i = 0; i <= INGEST_MAX_FILES; i++) {
        char *path = arena_printf(ar, "f/%zu", i);
        files[i] = (struct ingest_file){.path = str_from_cstr(path),
                                        .change = 'M',
                                        .additions = INGEST_UNKNOWN,
                                        .deletions = INGEST_UNKNOWN};
    }
    c.files = files;
    c.n_files = INGEST_MAX_FILES + 1;
    assert_int_equal(store(&a, &b), ERR_LIMIT);
    c.n_files = 1;
    files[0].path = filled(ar, INGEST_MAX_PATH, 'p');
    assert_int_equal(store(&a, &b), ERR_OK);
    files[0].path = filled(ar, INGEST_MAX_PATH + 1, 'p');
    assert_int_equal(store(&a, &b), ERR_LIMIT);
    files[0].path = STR_LIT("ok.c");
    files[0].change = 'X';
    assert_int_equal(store(&a, &b), ERR_INVALID);
    files[0].change = 'M';
    c.committer.email = filled(ar, INGEST_MAX_EMAIL + 1, 'e');
    assert_int_equal(store(&a, &b), ERR_LIMIT);
    c.committer.email = STR_NULL;
    c.branch = filled(ar, INGEST_MAX_BRANCH + 1, 'b');
    assert_int_equal(store(&a, &b), ERR_LIMIT);

    /* rows per kind */
    struct ingest_repo *many = arena_calloc(ar, INGEST_MAX_ROWS + 1, sizeof *many);
    for (size_t i = 0; i <= INGEST_MAX_ROWS; i++)
        many[i].id = STR_LIT("github:repo:1");
    struct ingest_batch mb = {.repos = many, .n_repos = INGEST_MAX_ROWS + 1};
    assert_int_equal(store(&a, &mb), ERR_LIMIT);

    /* other kinds' texts */
    struct ingest_deployment d = {.id = STR_LIT("github:deployment:1"),
                                  .repo_id = STR_LIT("github:repo:1"),
                                  .environment = filled(ar, INGEST_MAX_ENVIRONMENT + 1, 'e')};
    struct ingest_batch dbat = {.deployments = &d, .n_deployments = 1};
    assert_int_equal(store(&a, &dbat), ERR_LIMIT);
    d.environment = STR_NULL;
    d.status = filled(ar, INGEST_MAX_STATE + 1, 's');
    assert_int_equal(store(&a, &dbat), ERR_LIMIT);
    struct ingest_release rel = {.id = STR_LIT("github:tag:1:v1"),
                                 .repo_id = STR_LIT("github:repo:1"),
                                 .kind = INGEST_TAG,
                                 .tag = filled(ar, INGEST_MAX_TAG + 1, 't')};
    struct ingest_batch rbat = {.releases = &rel, .n_releases = 1};
    assert_int_equal(store(&a, &rbat), ERR_LIMIT);
    struct ingest_repo r = {.id = STR_LIT("github:repo:1"),
                            .full_name = filled(ar, INGEST_MAX_FULL_NAME + 1, 'n')};
    struct ingest_batch rpb = {.repos = &r, .n_repos = 1};
    assert_int_equal(store(&a, &rpb), ERR_LIMIT);
    r.full_name = STR_NULL;
    r.url = filled(ar, INGEST_MAX_URL + 1, 'u');
    assert_int_equal(store(&a, &rpb), ERR_LIMIT);
    struct ingest_review rv = review("github:review:1", "github:pr:1:1", "bob", "approved", 1);
    rv.reviewer.name = filled(ar, INGEST_MAX_NAME + 1, 'n');
    struct ingest_batch rvb = {.reviews = &rv, .n_reviews = 1};
    assert_int_equal(store(&a, &rvb), ERR_LIMIT);
    rv.reviewer.name = STR_NULL;
    rv.pr_id = STR_NULL;
    assert_int_equal(store(&a, &rvb), ERR_INVALID);

    /* a refused batch stores nothing, even its valid first rows */
    struct tenant_ctx t2;
    new_tenant(&t2);
    struct ingest_pr bad = pr_blank("github:pr:1:2", "github:repo:1");
    bad.title = filled(ar, INGEST_MAX_TITLE + 1, 't');
    struct ingest_batch mixed = {.repos = &repo1, .n_repos = 1, .prs = &bad, .n_prs = 1};
    assert_int_equal(store(&t2, &mixed), ERR_LIMIT);
    assert_int_equal(count_in(&t2, "SELECT count(*) FROM repositories WHERE tenant_id = $1"), 0);
    arena_free(ar);
}

/* ---- tenant isolation --------------------------------------------------------- */

static void test_tenant_isolation(void **state)
{
    (void)state;
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    struct arena *ar = arena_new(4 << 20);

    const struct ingest_file f = {
        .path = STR_LIT("secret/path.c"), .change = 'M', .additions = 1, .deletions = 1};
    struct ingest_commit c = commit_blank("github:commit:1:abc", "github:repo:1");
    c.files = &f;
    c.n_files = 1;
    c.committed_at = 10;
    struct ingest_pr p = pr_blank("github:pr:1:1", "github:repo:1");
    p.title = STR_LIT("A's pull request");
    p.author.login = STR_LIT("alice");
    struct ingest_review rv = review("github:review:1", "github:pr:1:1", "bob", "approved", 20);
    struct ingest_deployment d = {.id = STR_LIT("github:deployment:1"),
                                  .repo_id = STR_LIT("github:repo:1"),
                                  .created_at = 30};
    struct ingest_release rel = {.id = STR_LIT("github:release:1"),
                                 .repo_id = STR_LIT("github:repo:1"),
                                 .kind = INGEST_RELEASE};
    struct ingest_batch batch = {.repos = &repo1,
                                 .n_repos = 1,
                                 .commits = &c,
                                 .n_commits = 1,
                                 .prs = &p,
                                 .n_prs = 1,
                                 .reviews = &rv,
                                 .n_reviews = 1,
                                 .deployments = &d,
                                 .n_deployments = 1,
                                 .releases = &rel,
                                 .n_releases = 1};
    assert_int_equal(store(&a, &batch), ERR_OK);
    char id[INGEST_DELIVERY_ID_LEN + 1];
    bool dup;
    struct ingest_delivery_new dn = delivery("integ", "k", 5);
    assert_int_equal(insert_delivery(&a, &dn, &dup, id), ERR_OK);

    /* B lists nothing of A's */
    struct tx *tx = begin(&b, TX_READ);
    size_t n = 9;
    struct ingest_cursor next;
    struct ingest_repo *rr;
    struct ingest_commit *cr;
    struct ingest_pr *pr;
    struct ingest_deployment *dr;
    struct ingest_delivery *dl;
    struct ingest_file *fr;
    assert_int_equal(ingest_repositories_list(tx, NULL, 100, ar, &rr, &n, &next), ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ingest_commits_list(tx, STR_NULL, NULL, 100, ar, &cr, &n, &next), ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ingest_prs_list(tx, STR_NULL, STR_NULL, NULL, 100, ar, &pr, &n, &next),
                     ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ingest_deployments_list(tx, STR_NULL, STR_NULL, NULL, 100, ar, &dr, &n, &next),
                     ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ingest_deliveries_list(tx, NULL, 100, ar, &dl, &n, &next), ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ingest_commit_files(tx, STR_LIT("github:commit:1:abc"), ar, &fr, &n), ERR_OK);
    assert_int_equal(n, 0);
    storage_rollback(tx);

    /* B storing the same stable ids gets its own rows; A's stay as they were */
    p.title = STR_LIT("B's pull request");
    p.author.login = STR_LIT("bob"); /* so bob's review does not count in B */
    assert_int_equal(store(&b, &batch), ERR_OK);
    struct ingest_pr got;
    assert_true(pr_get(&a, ar, "github:pr:1:1", &got));
    assert_str(got.title, "A's pull request");
    assert_int_equal(got.first_review_at, 20);
    assert_true(pr_get(&b, ar, "github:pr:1:1", &got));
    assert_str(got.title, "B's pull request");
    assert_int_equal(got.first_review_at, 0);

    if (S.pg) {
        static const char *const tables[] = {"webhook_deliveries", "repositories",  "commits",
                                             "commit_files",       "pull_requests", "reviews",
                                             "deployments",        "releases"};
        for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
            char sql[160];
            long changed = -1;
            /* bound to B, a forged statement naming A's tenant reads nothing */
            snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE tenant_id = $1::uuid", tables[i]);
            assert_true(testdb_pg_as_tenant(S.app_url, b.id, sql, 1, (const char *const[]){a.id},
                                            &changed));
            assert_int_equal(changed, 0);
            /* the same statement bound to A sees A's rows: the zero above is RLS */
            assert_true(testdb_pg_as_tenant(S.app_url, a.id, sql, 1, (const char *const[]){a.id},
                                            &changed));
            assert_true(changed >= 1);
            /* nor can B change them */
            snprintf(sql, sizeof sql,
                     "UPDATE %s SET tenant_id = tenant_id WHERE tenant_id = $1::uuid", tables[i]);
            assert_true(testdb_pg_as_tenant(S.app_url, b.id, sql, 1, (const char *const[]){a.id},
                                            &changed));
            assert_int_equal(changed, 0);
        }
        /* nor write a row for A while bound to B */
        assert_false(testdb_pg_as_tenant(
            S.app_url, b.id, "INSERT INTO repositories (tenant_id, id) VALUES ($1, 'planted')", 1,
            (const char *const[]){a.id}, NULL));
        assert_true(testdb_pg_as_tenant(
            S.app_url, a.id, "INSERT INTO repositories (tenant_id, id) VALUES ($1, 'planted')", 1,
            (const char *const[]){a.id}, NULL));
        /* ENABLE and FORCE row-level security and both policies on every table */
        PGconn *conn = PQconnectdb(S.app_url);
        assert_int_equal(PQstatus(conn), CONNECTION_OK);
        PGresult *res =
            PQexec(conn, "SELECT count(*) FROM pg_class WHERE relname IN ('webhook_deliveries',"
                         " 'repositories', 'commits', 'commit_files', 'pull_requests', 'reviews',"
                         " 'deployments', 'releases') AND relrowsecurity AND relforcerowsecurity");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(res, 0, 0), "8");
        PQclear(res);
        res = PQexec(conn, "SELECT count(*) FROM pg_policies WHERE tablename IN"
                           " ('webhook_deliveries', 'repositories', 'commits', 'commit_files',"
                           " 'pull_requests', 'reviews', 'deployments', 'releases')");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(res, 0, 0), "16");
        PQclear(res);
        /* without a tenant the application role sees nothing */
        res = PQexec(conn, "SELECT count(*) FROM pull_requests");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(res, 0, 0), "0");
        PQclear(res);
        PQfinish(conn);
    }
    arena_free(ar);
}

/* SQLite: deleting a repository deletes its activity (R2) through the foreign keys. */
static void test_cascades(void **state)
{
    (void)state;
    struct tenant_ctx a;
    new_tenant(&a);
    struct ingest_commit c = commit_blank("github:commit:1:abc", "github:repo:1");
    const struct ingest_file f = {
        .path = STR_LIT("a.c"), .change = 'A', .additions = 1, .deletions = 0};
    c.files = &f;
    c.n_files = 1;
    struct ingest_pr p = pr_blank("github:pr:1:1", "github:repo:1");
    struct ingest_batch b = {
        .repos = &repo1, .n_repos = 1, .commits = &c, .n_commits = 1, .prs = &p, .n_prs = 1};
    assert_int_equal(store(&a, &b), ERR_OK);
    if (!S.pg) {
        /* the application role may not delete repositories on PostgreSQL: SQLite only */
        struct tx *tx = begin(&a, TX_WRITE);
        assert_int_equal(
            tx_exec(tx, "DELETE FROM repositories WHERE tenant_id = $1 AND id = 'github:repo:1'"),
            ERR_OK);
        assert_int_equal(storage_commit(tx), ERR_OK);
        assert_int_equal(count_in(&a, "SELECT count(*) FROM commit_files WHERE tenant_id = $1"), 0);
        assert_int_equal(count_in(&a, "SELECT count(*) FROM pull_requests WHERE tenant_id = $1"),
                         0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivery_duplicates),
        cmocka_unit_test(test_delivery_limits),
        cmocka_unit_test(test_delivery_body_stored_packed),
        cmocka_unit_test(test_purge),
        cmocka_unit_test(test_partial_knowledge),
        cmocka_unit_test(test_merged_sticks_and_stale_events),
        cmocka_unit_test(test_review_times),
        cmocka_unit_test(test_commits_and_files),
        cmocka_unit_test(test_deployments_and_releases),
        cmocka_unit_test(test_listing),
        cmocka_unit_test(test_batch_limits),
        cmocka_unit_test(test_tenant_isolation),
        cmocka_unit_test(test_cascades),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
