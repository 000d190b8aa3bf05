/*
 * Idempotency suite (H7): stored POST responses per (tenant, principal, key)
 * against a real database.
 *
 *   SHIPLOG_TEST_PG_OWNER_URL and SHIPLOG_TEST_PG_APP_URL set: PostgreSQL
 *   (migrations with the owner, everything else with the application role);
 *   otherwise SQLite in a fresh mkdtemp directory.
 *
 * Covered: every named limit at its value and one byte past it (ERR_LIMIT),
 * malformed keys, principals, methods and responses; the fingerprint's
 * framing; proceed -> complete -> replay of the same bytes (binary body,
 * headers present and absent); mismatch (method, path, query, body) while in
 * progress and after completion; in progress; release (and a stale claim
 * that releases nothing); which statuses are stored and which release the
 * key; expiry after IDEM_TTL_S from the first request; takeover of a stale
 * in-progress key and the old handler's completion refused; tenant and
 * principal isolation (PostgreSQL: even a forged statement, and a connection
 * without a tenant, see nothing of another tenant); purge and the
 * cross-tenant clean-up (PostgreSQL: the SECURITY DEFINER function's shape
 * and grants, FORCE ROW LEVEL SECURITY on the table); a deleted tenant's keys
 * go with it; 8 concurrent first requests give exactly one PROCEED.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "idempotency/idempotency.h"
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
    S.app_url = getenv("SHIPLOG_TEST_PG_APP_URL");
    S.s = testdb_open_main("idem", S.dir, &S.pg);
    return S.s ? 0 : -1;
}

static int suite_teardown(void **state)
{
    testdb_cleanup(S.s, S.dir);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

/* A tenant with its tenants row (the keys reference it). */
static void new_tenant(struct tenant_ctx *t)
{
    testdb_random_uuid(t->id);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_WRITE, &tx), ERR_OK);
    struct stmt *st = NULL;
    assert_int_equal(
        tx_prepare(tx, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)", &st), ERR_OK);
    assert_int_equal(stmt_bind_text(st, 2, str_from_cstr(t->id)), ERR_OK);
    assert_int_equal(stmt_bind_text(st, 3, STR_LIT("Idempotency test")), ERR_OK);
    bool row = false;
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    stmt_finish(st);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static int64_t count_in(const struct tenant_ctx *t, const char *sql)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_READ, &tx), ERR_OK);
    struct stmt *st = NULL;
    assert_int_equal(tx_prepare(tx, sql, &st), ERR_OK);
    bool row = false;
    assert_int_equal(stmt_step(st, &row), ERR_OK);
    assert_true(row);
    int64_t n = stmt_col_int(st, 0);
    stmt_finish(st);
    storage_rollback(tx);
    return n;
}

static int64_t keys_of(const struct tenant_ctx *t)
{
    return count_in(t, "SELECT count(*) FROM idempotency_keys WHERE tenant_id = $1");
}

/* A POST with the given key and body by principal "user:alice". */
static struct idem_request req(const char *key, const char *body)
{
    return (struct idem_request){
        .principal = STR_LIT("user:alice"),
        .key = str_from_cstr(key),
        .method = STR_LIT("POST"),
        .path = STR_LIT("/api/v1/projects"),
        .query = STR_NULL,
        .body = str_from_cstr(body),
    };
}

struct begun {
    enum idem_outcome o;
    struct idem_claim claim;
    struct idem_response replay;
};

static struct begun begin_ok(const struct tenant_ctx *t, const struct idem_request *r, int64_t now)
{
    struct begun b;
    assert_int_equal(idem_begin(S.s, t, r, now, &b.o, &b.claim, &b.replay), ERR_OK);
    if (b.o != IDEM_REPLAY)
        assert_null(b.replay.mem);
    if (b.o != IDEM_PROCEED)
        assert_string_equal(b.claim.token, "");
    return b;
}

static enum idem_outcome outcome(const struct tenant_ctx *t, const struct idem_request *r,
                                 int64_t now)
{
    struct begun b = begin_ok(t, r, now);
    idem_response_release(&b.replay);
    return b.o;
}

static struct idem_response created(const char *body)
{
    return (struct idem_response){
        .status = 201,
        .content_type = STR_LIT("application/json"),
        .location = STR_LIT("/api/v1/projects/42"),
        .body = str_from_cstr(body),
    };
}

static char *filled(size_t n, char c)
{
    char *p = malloc(n + 1);
    assert_non_null(p);
    memset(p, c, n);
    p[n] = '\0';
    return p;
}

#define T0 ((int64_t)1700000000)

/* ---- limits and input checks ------------------------------------------------------ */

static void test_request_limits(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    enum idem_outcome o;
    struct idem_claim c;
    struct idem_response rp;

    /* key: IDEM_MAX_KEY bytes fine, one more refused */
    char *key = filled(IDEM_MAX_KEY + 1, 'k');
    key[IDEM_MAX_KEY] = '\0';
    struct idem_request r = req(key, "{}");
    assert_int_equal(outcome(&t, &r, T0), IDEM_PROCEED);
    key[IDEM_MAX_KEY] = 'k';
    r = req(key, "{}");
    assert_int_equal(idem_begin(S.s, &t, &r, T0, &o, &c, &rp), ERR_LIMIT);
    assert_null(rp.mem);
    assert_string_equal(c.token, "");
    free(key);

    /* principal */
    char *pr = filled(IDEM_MAX_PRINCIPAL + 1, 'p');
    r = req("principal-limit", "{}");
    r.principal = str_from(pr, IDEM_MAX_PRINCIPAL);
    assert_int_equal(outcome(&t, &r, T0), IDEM_PROCEED);
    r.principal = str_from(pr, IDEM_MAX_PRINCIPAL + 1);
    assert_int_equal(idem_begin(S.s, &t, &r, T0, &o, &c, &rp), ERR_LIMIT);
    free(pr);

    /* method, path and query (hashed only, still bounded) */
    char *big = filled(IDEM_MAX_PATH + 1, 'x');
    r = req("method-limit", "{}");
    r.method = str_from(big, IDEM_MAX_METHOD);
    assert_int_equal(outcome(&t, &r, T0), IDEM_PROCEED);
    r.method = str_from(big, IDEM_MAX_METHOD + 1);
    assert_int_equal(idem_begin(S.s, &t, &r, T0, &o, &c, &rp), ERR_LIMIT);
    r = req("path-limit", "{}");
    r.path = str_from(big, IDEM_MAX_PATH);
    assert_int_equal(outcome(&t, &r, T0), IDEM_PROCEED);
    r.path = str_from(big, IDEM_MAX_PATH + 1);
    assert_int_equal(idem_begin(S.s, &t, &r, T0, &o, &c, &rp), ERR_LIMIT);
    free(big);
    big = filled(IDEM_MAX_QUERY + 1, 'q');
    r = req("query-limit", "{}");
    r.query = str_from(big, IDEM_MAX_QUERY);
    assert_int_equal(outcome(&t, &r, T0), IDEM_PROCEED);
    r.query = str_from(big, IDEM_MAX_QUERY + 1);
    assert_int_equal(idem_begin(S.s, &t, &r, T0, &o, &c, &rp), ERR_LIMIT);
    free(big);

    /* malformed: empty, space, control, non-ASCII, DEL; nothing recorded */
    int64_t before = keys_of(&t);
    const char *bad_keys[] = {"", "a b", "a\tb", "caf\xc3\xa9", "a\x7f", "a\r\nX-Evil: 1"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        r = req(bad_keys[i], "{}");
        assert_int_equal(idem_begin(S.s, &t, &r, T0, &o, &c, &rp), ERR_INVALID);
    }
    r = req("k", "{}");
    r.key = str_from("ab\0cd", 5);
    assert_int_equal(idem_begin(S.s, &t, &r, T0, &o, &c, &rp), ERR_INVALID);
    r = req("k", "{}");
    r.principal = STR_LIT("");
    assert_int_equal(idem_begin(S.s, &t, &r, T0, &o, &c, &rp), ERR_INVALID);
    r.principal = STR_LIT("user alice");
    assert_int_equal(idem_begin(S.s, &t, &r, T0, &o, &c, &rp), ERR_INVALID);
    r = req("k", "{}");
    r.method = STR_NULL;
    assert_int_equal(idem_begin(S.s, &t, &r, T0, &o, &c, &rp), ERR_INVALID);
    r = req("k", "{}");
    r.body = str_from(NULL, 3);
    assert_int_equal(idem_begin(S.s, &t, &r, T0, &o, &c, &rp), ERR_INVALID);
    assert_int_equal(keys_of(&t), before);

    /* a request body has no limit of its own here (the HTTP layer bounds it) */
    char *body = filled(IDEM_MAX_BODY * 4, 'b');
    r = req("large-request-body", body);
    assert_int_equal(outcome(&t, &r, T0), IDEM_PROCEED);
    free(body);

    /* a tenant id that is not canonical never reaches the database */
    struct tenant_ctx bogus = {.id = "not-a-uuid"};
    r = req("k", "{}");
    assert_int_equal(idem_begin(S.s, &bogus, &r, T0, &o, &c, &rp), ERR_INVALID);
}

static void test_response_limits(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    char *body = filled(IDEM_MAX_BODY + 1, 'B');

    /* body: IDEM_MAX_BODY bytes stored and replayed */
    struct idem_request r = req("body-at-limit", "{}");
    struct begun b = begin_ok(&t, &r, T0);
    assert_int_equal(b.o, IDEM_PROCEED);
    struct idem_response resp = created("");
    resp.body = str_from(body, IDEM_MAX_BODY);
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0 + 1), ERR_OK);
    b = begin_ok(&t, &r, T0 + 2);
    assert_int_equal(b.o, IDEM_REPLAY);
    assert_int_equal(b.replay.body.len, IDEM_MAX_BODY);
    assert_memory_equal(b.replay.body.ptr, body, IDEM_MAX_BODY);
    idem_response_release(&b.replay);

    /* one byte more: ERR_LIMIT, and the key is released (a retry runs again) */
    r = req("body-past-limit", "{}");
    b = begin_ok(&t, &r, T0);
    resp.body = str_from(body, IDEM_MAX_BODY + 1);
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0 + 1), ERR_LIMIT);
    assert_int_equal(outcome(&t, &r, T0 + 2), IDEM_PROCEED);

    /* Content-Type and Location: at the limit fine, one past refused and released */
    char *hv = filled(IDEM_MAX_LOCATION + 1, 'h');
    r = req("ctype-at-limit", "{}");
    b = begin_ok(&t, &r, T0);
    resp = created("{}");
    resp.content_type = str_from(hv, IDEM_MAX_CONTENT_TYPE);
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0), ERR_OK);
    r = req("ctype-past-limit", "{}");
    b = begin_ok(&t, &r, T0);
    resp.content_type = str_from(hv, IDEM_MAX_CONTENT_TYPE + 1);
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0), ERR_LIMIT);
    assert_int_equal(outcome(&t, &r, T0 + 1), IDEM_PROCEED);
    r = req("location-at-limit", "{}");
    b = begin_ok(&t, &r, T0);
    resp = created("{}");
    resp.location = str_from(hv, IDEM_MAX_LOCATION);
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0), ERR_OK);
    r = req("location-past-limit", "{}");
    b = begin_ok(&t, &r, T0);
    resp.location = str_from(hv, IDEM_MAX_LOCATION + 1);
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0), ERR_LIMIT);
    assert_int_equal(outcome(&t, &r, T0 + 1), IDEM_PROCEED);
    free(hv);

    /* a header value that would split the replayed response: refused, released */
    r = req("location-crlf", "{}");
    b = begin_ok(&t, &r, T0);
    resp = created("{}");
    resp.location = STR_LIT("/x\r\nSet-Cookie: a=b");
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0), ERR_INVALID);
    assert_int_equal(outcome(&t, &r, T0 + 1), IDEM_PROCEED);

    /* statuses outside 200..599 are not responses */
    const int bad_status[] = {0, 100, 199, 600, -1};
    for (size_t i = 0; i < sizeof bad_status / sizeof bad_status[0]; i++) {
        r = req("bad-status", "{}");
        b = begin_ok(&t, &r, T0 + (int64_t)i);
        assert_int_equal(b.o, IDEM_PROCEED);
        resp = created("{}");
        resp.status = bad_status[i];
        assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0), ERR_INVALID);
    }

    /* a claim that is not one of ours is refused before the database */
    r = req("claim-shape", "{}");
    b = begin_ok(&t, &r, T0);
    struct idem_claim forged = {.token = "not-hex"};
    resp = created("{}");
    assert_int_equal(idem_complete(S.s, &t, &r, &forged, &resp, T0), ERR_INVALID);
    assert_int_equal(idem_release(S.s, &t, &r, &forged), ERR_INVALID);
    assert_int_equal(outcome(&t, &r, T0 + 1), IDEM_IN_PROGRESS);
    free(body);
}

static void test_fingerprint(void **state)
{
    char a[65], b[65];
    struct idem_request r1 = req("k", "bc");
    r1.path = STR_LIT("/a");
    struct idem_request r2 = req("k", "c");
    r2.path = STR_LIT("/ab");
    idem_fingerprint(&r1, a);
    idem_fingerprint(&r2, b);
    assert_int_equal(strlen(a), 64);
    assert_string_not_equal(a, b); /* framing: moving bytes between fields changes it */
    /* path vs query: "/a" + "b=1" is not "/ab=1" + "" */
    r1 = req("k", "");
    r1.path = STR_LIT("/a");
    r1.query = STR_LIT("b=1");
    r2 = req("k", "");
    r2.path = STR_LIT("/ab=1");
    idem_fingerprint(&r1, a);
    idem_fingerprint(&r2, b);
    assert_string_not_equal(a, b);
    /* the key and the principal are not part of it; method, path, query, body are */
    r1 = req("k1", "{}");
    r2 = req("k2", "{}");
    r2.principal = STR_LIT("apikey:7");
    idem_fingerprint(&r1, a);
    idem_fingerprint(&r2, b);
    assert_string_equal(a, b);
    /* NULL body views with len 0 are the empty body */
    r1 = req("k", "");
    r2 = req("k", "");
    r2.body = STR_NULL;
    idem_fingerprint(&r1, a);
    idem_fingerprint(&r2, b);
    assert_string_equal(a, b);
    for (size_t i = 0; i < 64; i++)
        assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
}

/* ---- the life of a key ------------------------------------------------------------ */

static void test_proceed_complete_replay(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct idem_request r = req("create-project-1", "{\"name\":\"apollo\"}");
    struct begun b = begin_ok(&t, &r, T0);
    assert_int_equal(b.o, IDEM_PROCEED);
    assert_int_equal(strlen(b.claim.token), IDEM_CLAIM_LEN);
    assert_int_equal(keys_of(&t), 1);

    /* a binary body with NUL bytes comes back byte for byte */
    static const char bin[] = "{\"id\":42}\0\x01\xff\r\n tail";
    struct idem_response resp = created("");
    resp.body = str_from(bin, sizeof bin - 1);
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0 + 1), ERR_OK);

    for (int i = 0; i < 2; i++) { /* every retry gets the same bytes */
        struct begun rb = begin_ok(&t, &r, T0 + 10 + i);
        assert_int_equal(rb.o, IDEM_REPLAY);
        assert_int_equal(rb.replay.status, 201);
        assert_int_equal(rb.replay.content_type.len, strlen("application/json"));
        assert_string_equal(rb.replay.content_type.ptr, "application/json");
        assert_string_equal(rb.replay.location.ptr, "/api/v1/projects/42");
        assert_int_equal(rb.replay.body.len, sizeof bin - 1);
        assert_memory_equal(rb.replay.body.ptr, bin, sizeof bin - 1);
        assert_non_null(rb.replay.mem);
        idem_response_release(&rb.replay);
        assert_null(rb.replay.mem);
        assert_int_equal(rb.replay.body.len, 0);
    }
    /* a second completion with the spent claim stores nothing */
    struct idem_response other = created("{\"id\":43}");
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &other, T0 + 20), ERR_CONFLICT);
    b = begin_ok(&t, &r, T0 + 21);
    assert_int_equal(b.o, IDEM_REPLAY);
    assert_memory_equal(b.replay.body.ptr, bin, sizeof bin - 1);
    idem_response_release(&b.replay);
    idem_response_release(&b.replay); /* twice is harmless */
    idem_response_release(NULL);

    /* no body, no headers: replayed as empty strings */
    r = req("delete-something", "");
    b = begin_ok(&t, &r, T0);
    assert_int_equal(b.o, IDEM_PROCEED);
    struct idem_response empty = {.status = 204};
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &empty, T0), ERR_OK);
    b = begin_ok(&t, &r, T0 + 1);
    assert_int_equal(b.o, IDEM_REPLAY);
    assert_int_equal(b.replay.status, 204);
    assert_int_equal(b.replay.content_type.len, 0);
    assert_string_equal(b.replay.content_type.ptr, "");
    assert_int_equal(b.replay.location.len, 0);
    assert_string_equal(b.replay.location.ptr, "");
    assert_int_equal(b.replay.body.len, 0);
    idem_response_release(&b.replay);
}

static void test_mismatch(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct idem_request r = req("mismatch", "{\"amount\":10}");
    struct begun b = begin_ok(&t, &r, T0);
    assert_int_equal(b.o, IDEM_PROCEED);

    /* while the first is in progress, a different request is a mismatch, not 409 */
    struct idem_request other = req("mismatch", "{\"amount\":11}");
    assert_int_equal(outcome(&t, &other, T0 + 1), IDEM_MISMATCH);

    struct idem_response resp = created("{\"ok\":true}");
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0 + 2), ERR_OK);
    assert_int_equal(outcome(&t, &other, T0 + 3), IDEM_MISMATCH);
    other = req("mismatch", "{\"amount\":10}");
    other.method = STR_LIT("PUT");
    assert_int_equal(outcome(&t, &other, T0 + 3), IDEM_MISMATCH);
    other = req("mismatch", "{\"amount\":10}");
    other.path = STR_LIT("/api/v1/other");
    assert_int_equal(outcome(&t, &other, T0 + 3), IDEM_MISMATCH);
    other = req("mismatch", "{\"amount\":10}");
    other.query = STR_LIT("dry_run=1");
    assert_int_equal(outcome(&t, &other, T0 + 3), IDEM_MISMATCH);
    /* the mismatches changed nothing: the original still replays */
    assert_int_equal(outcome(&t, &r, T0 + 4), IDEM_REPLAY);
}

static void test_in_progress(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct idem_request r = req("busy", "{}");
    struct begun b = begin_ok(&t, &r, T0);
    assert_int_equal(b.o, IDEM_PROCEED);
    assert_int_equal(outcome(&t, &r, T0), IDEM_IN_PROGRESS);
    assert_int_equal(outcome(&t, &r, T0 + IDEM_IN_PROGRESS_STALE_S - 1), IDEM_IN_PROGRESS);
    /* a clock behind the first request's does not free the key either */
    assert_int_equal(outcome(&t, &r, T0 - 3600), IDEM_IN_PROGRESS);
    struct idem_response resp = created("{}");
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0 + 5), ERR_OK);
    assert_int_equal(outcome(&t, &r, T0 + 6), IDEM_REPLAY);
}

static void test_release_then_proceed(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct idem_request r = req("release", "{}");
    struct begun first = begin_ok(&t, &r, T0);
    assert_int_equal(first.o, IDEM_PROCEED);
    assert_int_equal(idem_release(S.s, &t, &r, &first.claim), ERR_OK);
    assert_int_equal(keys_of(&t), 0);
    struct begun second = begin_ok(&t, &r, T0 + 1);
    assert_int_equal(second.o, IDEM_PROCEED);
    assert_string_not_equal(first.claim.token, second.claim.token);
    /* the first claim is spent: releasing with it touches nobody's key */
    assert_int_equal(idem_release(S.s, &t, &r, &first.claim), ERR_OK);
    assert_int_equal(outcome(&t, &r, T0 + 2), IDEM_IN_PROGRESS);
    /* nor can a finished key be released */
    struct idem_response resp = created("{}");
    assert_int_equal(idem_complete(S.s, &t, &r, &second.claim, &resp, T0 + 3), ERR_OK);
    assert_int_equal(idem_release(S.s, &t, &r, &second.claim), ERR_OK);
    assert_int_equal(outcome(&t, &r, T0 + 4), IDEM_REPLAY);
}

static void test_which_statuses_are_stored(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    const int stored[] = {200, 201, 202, 204, 303, 400, 403, 404, 409, 410, 422};
    const int released[] = {408, 429, 500, 502, 503, 504, 599};
    char key[32];
    for (size_t i = 0; i < sizeof stored / sizeof stored[0]; i++) {
        assert_true(idem_status_stored(stored[i]));
        snprintf(key, sizeof key, "stored-%d", stored[i]);
        struct idem_request r = req(key, "{}");
        struct begun b = begin_ok(&t, &r, T0);
        struct idem_response resp = created("{\"error\":\"x\"}");
        resp.status = stored[i];
        assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0), ERR_OK);
        b = begin_ok(&t, &r, T0 + 1);
        assert_int_equal(b.o, IDEM_REPLAY);
        assert_int_equal(b.replay.status, stored[i]);
        idem_response_release(&b.replay);
    }
    for (size_t i = 0; i < sizeof released / sizeof released[0]; i++) {
        assert_false(idem_status_stored(released[i]));
        snprintf(key, sizeof key, "released-%d", released[i]);
        struct idem_request r = req(key, "{}");
        struct begun b = begin_ok(&t, &r, T0);
        struct idem_response resp = created("{\"error\":\"x\"}");
        resp.status = released[i];
        assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0), ERR_OK);
        assert_int_equal(outcome(&t, &r, T0 + 1), IDEM_PROCEED); /* the retry runs */
    }
    assert_false(idem_status_stored(199));
    assert_false(idem_status_stored(600));
}

static void test_ttl_expiry(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct idem_request r = req("ttl", "{\"v\":1}");
    struct begun b = begin_ok(&t, &r, T0);
    struct idem_response resp = created("{\"first\":true}");
    /* the TTL runs from the first request, not from its completion */
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0 + 100), ERR_OK);
    assert_int_equal(outcome(&t, &r, T0 + IDEM_TTL_S - 1), IDEM_REPLAY);
    struct idem_request other = req("ttl", "{\"v\":2}");
    assert_int_equal(outcome(&t, &other, T0 + IDEM_TTL_S - 1), IDEM_MISMATCH);
    /* expired: the key is free again, for any request */
    b = begin_ok(&t, &other, T0 + IDEM_TTL_S);
    assert_int_equal(b.o, IDEM_PROCEED);
    assert_int_equal(keys_of(&t), 1); /* replaced, not duplicated */
    assert_int_equal(outcome(&t, &other, T0 + IDEM_TTL_S + 1), IDEM_IN_PROGRESS);
    resp = created("{\"second\":true}");
    assert_int_equal(idem_complete(S.s, &t, &other, &b.claim, &resp, T0 + IDEM_TTL_S + 2), ERR_OK);
    b = begin_ok(&t, &other, T0 + IDEM_TTL_S + 3);
    assert_int_equal(b.o, IDEM_REPLAY);
    assert_int_equal(b.replay.body.len, strlen("{\"second\":true}"));
    assert_memory_equal(b.replay.body.ptr, "{\"second\":true}", b.replay.body.len);
    idem_response_release(&b.replay);
    assert_int_equal(outcome(&t, &r, T0 + IDEM_TTL_S + 3), IDEM_MISMATCH);

    /* an in-progress key that outlived the TTL is free too, whatever its fingerprint */
    struct idem_request p = req("ttl-in-progress", "{\"v\":1}");
    assert_int_equal(outcome(&t, &p, T0), IDEM_PROCEED);
    struct idem_request q = req("ttl-in-progress", "{\"v\":2}");
    assert_int_equal(outcome(&t, &q, T0 + IDEM_TTL_S - 1), IDEM_MISMATCH);
    assert_int_equal(outcome(&t, &q, T0 + IDEM_TTL_S), IDEM_PROCEED);
}

static void test_stale_takeover(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct idem_request r = req("crashed", "{}");
    struct begun old = begin_ok(&t, &r, T0);
    assert_int_equal(old.o, IDEM_PROCEED);
    assert_int_equal(outcome(&t, &r, T0 + IDEM_IN_PROGRESS_STALE_S - 1), IDEM_IN_PROGRESS);
    /* a different request never takes a stale key over */
    struct idem_request other = req("crashed", "{\"x\":1}");
    assert_int_equal(outcome(&t, &other, T0 + IDEM_IN_PROGRESS_STALE_S), IDEM_MISMATCH);
    /* the same request does, with a new claim, and the clock starts again */
    struct begun fresh = begin_ok(&t, &r, T0 + IDEM_IN_PROGRESS_STALE_S);
    assert_int_equal(fresh.o, IDEM_PROCEED);
    assert_string_not_equal(fresh.claim.token, old.claim.token);
    assert_int_equal(keys_of(&t), 1);
    assert_int_equal(outcome(&t, &r, T0 + IDEM_IN_PROGRESS_STALE_S + 1), IDEM_IN_PROGRESS);
    assert_int_equal(outcome(&t, &r, T0 + 2 * IDEM_IN_PROGRESS_STALE_S - 1), IDEM_IN_PROGRESS);

    /* the old handler wakes up: it can neither store nor release */
    struct idem_response late = created("{\"from\":\"old\"}");
    assert_int_equal(idem_complete(S.s, &t, &r, &old.claim, &late, T0 + 400), ERR_CONFLICT);
    assert_int_equal(idem_release(S.s, &t, &r, &old.claim), ERR_OK);
    assert_int_equal(outcome(&t, &r, T0 + 401), IDEM_IN_PROGRESS);

    struct idem_response resp = created("{\"from\":\"new\"}");
    assert_int_equal(idem_complete(S.s, &t, &r, &fresh.claim, &resp, T0 + 402), ERR_OK);
    struct begun b = begin_ok(&t, &r, T0 + 403);
    assert_int_equal(b.o, IDEM_REPLAY);
    assert_memory_equal(b.replay.body.ptr, "{\"from\":\"new\"}", b.replay.body.len);
    idem_response_release(&b.replay);
    /* a finished key never goes stale: it replays until the TTL */
    assert_int_equal(outcome(&t, &r, T0 + IDEM_TTL_S - 1), IDEM_REPLAY);
}

/* ---- isolation --------------------------------------------------------------------- */

static void test_tenant_isolation(void **state)
{
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    struct idem_request r = req("shared-key", "{\"same\":1}");
    struct begun ba = begin_ok(&a, &r, T0);
    assert_int_equal(ba.o, IDEM_PROCEED);
    struct idem_response ra = created("{\"secret\":\"tenant A\"}");
    assert_int_equal(idem_complete(S.s, &a, &r, &ba.claim, &ra, T0), ERR_OK);

    /* tenant B, same principal string and key and body: its own key */
    struct begun bb = begin_ok(&b, &r, T0 + 1);
    assert_int_equal(bb.o, IDEM_PROCEED);
    assert_null(bb.replay.mem);
    /* A's claim is worthless in B */
    struct idem_response forged = created("{\"forged\":1}");
    assert_int_equal(idem_complete(S.s, &b, &r, &ba.claim, &forged, T0 + 1), ERR_CONFLICT);
    struct idem_response rb = created("{\"mine\":\"tenant B\"}");
    assert_int_equal(idem_complete(S.s, &b, &r, &bb.claim, &rb, T0 + 2), ERR_OK);

    struct begun x = begin_ok(&a, &r, T0 + 3);
    assert_int_equal(x.o, IDEM_REPLAY);
    assert_memory_equal(x.replay.body.ptr, "{\"secret\":\"tenant A\"}", x.replay.body.len);
    idem_response_release(&x.replay);
    x = begin_ok(&b, &r, T0 + 3);
    assert_int_equal(x.o, IDEM_REPLAY);
    assert_memory_equal(x.replay.body.ptr, "{\"mine\":\"tenant B\"}", x.replay.body.len);
    idem_response_release(&x.replay);

    /* releasing or purging in B never touches A */
    uint64_t n = 99;
    assert_int_equal(idem_purge(S.s, &b, T0 + 10 * IDEM_TTL_S, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(keys_of(&a), 1);
    assert_int_equal(keys_of(&b), 0);
    assert_int_equal(outcome(&a, &r, T0 + 4), IDEM_REPLAY);

    if (S.pg) {
        /* a forged statement ignoring the tenant still sees only its own rows */
        const char *forged_sql = "SELECT count(*) FROM idempotency_keys WHERE $1::text IS NOT NULL";
        assert_int_equal(count_in(&a, forged_sql), 1);
        assert_int_equal(count_in(&b, forged_sql), 0);
        PGconn *c = PQconnectdb(S.app_url);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        /* without a tenant the application role sees no key at all */
        PGresult *res = PQexec(c, "SELECT count(*) FROM idempotency_keys");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(res, 0, 0), "0");
        PQclear(res);
        /* nor can it write a row for another tenant while bound to B */
        assert_false(testdb_pg_as_tenant(
            S.app_url, b.id,
            "INSERT INTO idempotency_keys (tenant_id, principal, idem_key, fingerprint,"
            " claim, state, created_at) VALUES ($1, 'user:alice', 'planted',"
            " repeat('0', 64), repeat('0', 32), 'in_progress', 0)",
            1, (const char *const[]){a.id}, NULL));
        /* the same insert bound to its own tenant succeeds: the refusal above is RLS */
        assert_true(testdb_pg_as_tenant(
            S.app_url, a.id,
            "INSERT INTO idempotency_keys (tenant_id, principal, idem_key, fingerprint,"
            " claim, state, created_at) VALUES ($1, 'user:alice', 'planted',"
            " repeat('0', 64), repeat('0', 32), 'in_progress', 0)",
            1, (const char *const[]){a.id}, NULL));
        /* ENABLE and FORCE row-level security, both policies */
        res = PQexec(c, "SELECT relrowsecurity, relforcerowsecurity FROM pg_class"
                        " WHERE relname = 'idempotency_keys'");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_int_equal(PQntuples(res), 1);
        assert_string_equal(PQgetvalue(res, 0, 0), "t");
        assert_string_equal(PQgetvalue(res, 0, 1), "t");
        PQclear(res);
        res = PQexec(c, "SELECT count(*) FROM pg_policies WHERE tablename = 'idempotency_keys'"
                        " AND qual IS NOT NULL AND with_check IS NOT NULL");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(res, 0, 0), "2");
        PQclear(res);
        PQfinish(c);
    }
}

static void test_principal_isolation(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct idem_request alice = req("same-key", "{}");
    struct begun b = begin_ok(&t, &alice, T0);
    assert_int_equal(b.o, IDEM_PROCEED);
    struct idem_request bob = alice;
    bob.principal = STR_LIT("user:bob");
    /* another principal in the same tenant: its own key, not 409, not a replay */
    struct begun bb = begin_ok(&t, &bob, T0);
    assert_int_equal(bb.o, IDEM_PROCEED);
    struct idem_response resp = created("{\"for\":\"alice\"}");
    assert_int_equal(idem_complete(S.s, &t, &alice, &b.claim, &resp, T0), ERR_OK);
    assert_int_equal(outcome(&t, &bob, T0 + 1), IDEM_IN_PROGRESS);
    /* bob's claim is worthless on alice's key */
    assert_int_equal(idem_complete(S.s, &t, &alice, &bb.claim, &resp, T0 + 1), ERR_CONFLICT);
    assert_int_equal(keys_of(&t), 2);
}

/* ---- purge and clean-up ------------------------------------------------------------ */

static void test_purge_and_cleanup(void **state)
{
    struct tenant_ctx a, b, c;
    new_tenant(&a);
    new_tenant(&b);
    new_tenant(&c);
    int64_t now = T0 + 10 * IDEM_TTL_S;
    struct idem_request r;
    /* a: two expired (one finished, one stuck in progress), one live */
    r = req("old-done", "{}");
    struct begun x = begin_ok(&a, &r, now - IDEM_TTL_S - 50);
    struct idem_response resp = created("{}");
    assert_int_equal(idem_complete(S.s, &a, &r, &x.claim, &resp, now - IDEM_TTL_S - 40), ERR_OK);
    r = req("old-stuck", "{}");
    assert_int_equal(outcome(&a, &r, now - IDEM_TTL_S), IDEM_PROCEED); /* exactly at the TTL */
    r = req("live", "{}");
    assert_int_equal(outcome(&a, &r, now - IDEM_TTL_S + 1), IDEM_PROCEED);
    /* b: one expired; c: one live */
    r = req("old", "{}");
    assert_int_equal(outcome(&b, &r, now - 2 * IDEM_TTL_S), IDEM_PROCEED);
    r = req("live", "{}");
    assert_int_equal(outcome(&c, &r, now), IDEM_PROCEED);

    uint64_t n = 99;
    assert_int_equal(idem_purge(S.s, &a, now, &n), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(keys_of(&a), 1);
    assert_int_equal(idem_purge(S.s, &a, now, &n), ERR_OK);
    assert_int_equal(n, 0);

    /* the clean-up finds b (and whatever earlier tests left), never c's live key */
    n = 0;
    assert_int_equal(idem_cleanup(S.s, now, &n), ERR_OK);
    assert_true(n >= 1);
    assert_int_equal(keys_of(&a), 1);
    assert_int_equal(keys_of(&b), 0);
    assert_int_equal(keys_of(&c), 1);
    assert_int_equal(idem_cleanup(S.s, now, &n), ERR_OK);
    assert_int_equal(n, 0);

    /* more tenants than one batch lists */
    for (int i = 0; i < IDEM_CLEANUP_BATCH + 5; i++) {
        struct tenant_ctx t;
        new_tenant(&t);
        r = req("batch", "{}");
        assert_int_equal(outcome(&t, &r, now), IDEM_PROCEED);
    }
    assert_int_equal(idem_cleanup(S.s, now + IDEM_TTL_S, &n), ERR_OK);
    assert_true(n >= IDEM_CLEANUP_BATCH + 5 + 2);
    assert_int_equal(keys_of(&a), 0);
    assert_int_equal(keys_of(&c), 0);

    if (S.pg) {
        PGconn *pc = PQconnectdb(S.app_url);
        assert_int_equal(PQstatus(pc), CONNECTION_OK);
        /* SECURITY DEFINER with a fixed search_path, executable by shiplog_app, not PUBLIC */
        PGresult *res = PQexec(pc, "SELECT prosecdef, array_to_string(proconfig, ','),"
                                   " proacl::text FROM pg_proc"
                                   " WHERE proname = 'idempotency_expired_tenants'");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_int_equal(PQntuples(res), 1);
        assert_string_equal(PQgetvalue(res, 0, 0), "t");
        assert_non_null(strstr(PQgetvalue(res, 0, 1), "search_path=pg_catalog, pg_temp"));
        const char *acl = PQgetvalue(res, 0, 2);
        assert_non_null(strstr(acl, "shiplog_app=X/"));
        assert_null(strstr(acl, "{=X"));
        assert_null(strstr(acl, ",=X"));
        PQclear(res);
        /* it returns one column of uuids: ids, never content */
        r = req("probe", "{}");
        assert_int_equal(outcome(&a, &r, T0), IDEM_PROCEED);
        res = PQexec(pc, "SELECT * FROM idempotency_expired_tenants("
                         "'00000000-0000-0000-0000-000000000000', 9223372036854775807, 5000)");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_int_equal(PQnfields(res), 1);
        assert_int_equal(PQftype(res, 0), 2950); /* UUIDOID */
        bool found = false;
        for (int i = 0; i < PQntuples(res); i++)
            found = found || strcmp(PQgetvalue(res, i, 0), a.id) == 0;
        assert_true(found);
        PQclear(res);
        PQfinish(pc);
        assert_int_equal(idem_purge(S.s, &a, now, &n), ERR_OK);
        assert_int_equal(n, 1);
    }
}

static void test_deleted_tenant_takes_its_keys(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct idem_request r = req("gone", "{}");
    struct begun b = begin_ok(&t, &r, T0);
    struct idem_response resp = created("{\"personal\":\"data\"}");
    assert_int_equal(idem_complete(S.s, &t, &r, &b.claim, &resp, T0), ERR_OK);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(tx_exec(tx, "DELETE FROM tenants WHERE id = $1"), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
    assert_int_equal(keys_of(&t), 0);
    /* a tenant id without a tenants row cannot hold keys */
    enum idem_outcome o;
    struct idem_claim c;
    struct idem_response rp;
    assert_int_equal(idem_begin(S.s, &t, &r, T0, &o, &c, &rp), ERR_CONFLICT);
    assert_null(rp.mem);
}

/* ---- concurrency ------------------------------------------------------------------ */

#define RACERS 8
#define RACES  5

struct race {
    pthread_barrier_t *go;
    const struct tenant_ctx *t;
    struct idem_request r;
    enum err e;
    enum idem_outcome o;
    struct idem_claim claim;
};

static void *race_main(void *arg)
{
    struct race *rc = arg;
    struct idem_response rp;
    pthread_barrier_wait(rc->go);
    rc->e = idem_begin(S.s, rc->t, &rc->r, T0, &rc->o, &rc->claim, &rp);
    idem_response_release(&rp);
    return NULL;
}

static void test_concurrent_begins(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    for (int k = 0; k < RACES; k++) {
        char key[32];
        snprintf(key, sizeof key, "race-%d", k);
        pthread_barrier_t go;
        assert_int_equal(pthread_barrier_init(&go, NULL, RACERS), 0);
        struct race rc[RACERS];
        pthread_t th[RACERS];
        for (int i = 0; i < RACERS; i++) {
            rc[i] = (struct race){.go = &go, .t = &t, .r = req(key, "{\"race\":true}")};
            assert_int_equal(pthread_create(&th[i], NULL, race_main, &rc[i]), 0);
        }
        for (int i = 0; i < RACERS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        int proceed = 0, busy = 0, winner = -1;
        for (int i = 0; i < RACERS; i++) {
            assert_int_equal(rc[i].e, ERR_OK);
            if (rc[i].o == IDEM_PROCEED) {
                proceed++;
                winner = i;
            } else if (rc[i].o == IDEM_IN_PROGRESS) {
                busy++;
            }
        }
        assert_int_equal(proceed, 1);
        assert_int_equal(busy, RACERS - 1);
        struct idem_response resp = created("{\"won\":true}");
        assert_int_equal(idem_complete(S.s, &t, &rc[winner].r, &rc[winner].claim, &resp, T0 + 1),
                         ERR_OK);
    }
    assert_int_equal(keys_of(&t), RACES);

    /* racing takeovers of one stale key: still exactly one PROCEED */
    struct idem_request stale = req("race-stale", "{}");
    assert_int_equal(outcome(&t, &stale, T0 - IDEM_IN_PROGRESS_STALE_S), IDEM_PROCEED);
    pthread_barrier_t go;
    assert_int_equal(pthread_barrier_init(&go, NULL, RACERS), 0);
    struct race rc[RACERS];
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        rc[i] = (struct race){.go = &go, .t = &t, .r = stale};
        assert_int_equal(pthread_create(&th[i], NULL, race_main, &rc[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    int proceed = 0;
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(rc[i].e, ERR_OK);
        proceed += rc[i].o == IDEM_PROCEED;
        if (rc[i].o != IDEM_PROCEED)
            assert_int_equal(rc[i].o, IDEM_IN_PROGRESS);
    }
    assert_int_equal(proceed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_limits),
        cmocka_unit_test(test_response_limits),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_proceed_complete_replay),
        cmocka_unit_test(test_mismatch),
        cmocka_unit_test(test_in_progress),
        cmocka_unit_test(test_release_then_proceed),
        cmocka_unit_test(test_which_statuses_are_stored),
        cmocka_unit_test(test_ttl_expiry),
        cmocka_unit_test(test_stale_takeover),
        cmocka_unit_test(test_tenant_isolation),
        cmocka_unit_test(test_principal_isolation),
        cmocka_unit_test(test_purge_and_cleanup),
        cmocka_unit_test(test_deleted_tenant_takes_its_keys),
        cmocka_unit_test(test_concurrent_begins),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
