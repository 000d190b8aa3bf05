/*
 * Changelog entries suite (D2, D4, D5; changes/entries.h): creation from a
 * generated draft and its first version; regeneration that replaces an
 * unedited draft, leaves the same text alone and never overwrites a human
 * edit (a suggestion instead); edits as versions with author, optimistic
 * concurrency; every workflow step allowed and refused; publishing at once
 * and scheduled (and the due sweep); listing by status and reviewer with
 * keyset pages; the history; audit events; tenant isolation; every named
 * limit one past it. Runs against SQLite, or PostgreSQL under scripts/pgtmp.
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

#include "changes/entries.h"
#include "changes/pipeline.h"
#include "changes/publish.h"

#define NOW INT64_C(1700000000)

static struct {
    bool pg;
    char dir[64];
    struct storage *s;
} S;

static int suite_setup(void **state)
{
    (void)state;
    S.s = testdb_open_main("entries", S.dir, &S.pg);
    return S.s ? 0 : -1;
}

static int suite_teardown(void **state)
{
    (void)state;
    testdb_cleanup(S.s, S.dir);
    return 0;
}

static struct tx *begin(const struct tenant_ctx *t, enum tx_mode mode)
{
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, mode, &tx), ERR_OK);
    return tx;
}

/* A tenant with one repository. */
static void new_tenant(struct tenant_ctx *t)
{
    testdb_random_uuid(t->id);
    struct tx *tx = begin(t, TX_WRITE);
    assert_int_equal(tx_exec_args(tx, "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)",
                                  STORAGE_ARGS(STORAGE_CSTR(t->id), STORAGE_CSTR("Entries")), NULL),
                     ERR_OK);
    assert_int_equal(tx_exec_args(tx, "INSERT INTO repositories (tenant_id, id) VALUES ($1, $2)",
                                  STORAGE_ARGS(STORAGE_CSTR("github:repo:1")), NULL),
                     ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

static const struct entries_actor EDITOR = {.user_id = "11111111-1111-4111-8111-111111111111",
                                            .client_ip = "192.0.2.1",
                                            .request_id = "req-1"};
static const struct entries_actor ADMIN = {.user_id = "22222222-2222-4222-8222-222222222222"};

static struct entry_generated generated(const char *source, const char *title)
{
    static const struct str labels[] = {STR_LIT("feature"), STR_LIT("ui")};
    struct entry_generated g = {
        .source_id = str_from_cstr(source),
        .repo_id = STR_LIT("github:repo:1"),
        .source_number = 7,
        .source_url = STR_LIT("https://github.com/acme/app/pull/7"),
        .changed_at = NOW - 60,
        .labels = labels,
        .n_labels = 2,
        .provider = "rules",
    };
    g.cls.impact = CHANGE_FEATURE;
    snprintf(g.cls.reason, sizeof g.cls.reason, "label \"feature\"");
    snprintf(g.draft.title, sizeof g.draft.title, "%s", title);
    snprintf(g.draft.body, sizeof g.draft.body, "Body of %s.", title);
    g.draft.category = CHANGE_FEATURE;
    g.draft.audience = AUDIENCE_EVERYONE;
    return g;
}

static enum err upsert(const struct tenant_ctx *t, const struct entry_generated *g,
                       enum entry_upsert *what, char *id)
{
    struct tx *tx = begin(t, TX_WRITE);
    enum err e = entries_upsert_generated(tx, g, NOW, what, id);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

static void get(const struct tenant_ctx *t, const char *id, struct arena *a, struct entry *out)
{
    struct tx *tx = begin(t, TX_READ);
    assert_int_equal(entries_get(tx, str_from_cstr(id), a, out), ERR_OK);
    storage_rollback(tx);
}

static enum err edit(const struct tenant_ctx *t, const struct entries_actor *who, const char *id,
                     const struct entry_patch *p, const char **reason)
{
    struct tx *tx = begin(t, TX_WRITE);
    enum err e = entries_edit(tx, who, str_from_cstr(id), p, NOW, reason);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

static enum err act(const struct tenant_ctx *t, const struct entries_actor *who, const char *id,
                    enum entry_action action, int64_t version, int64_t publish_at)
{
    struct tx *tx = begin(t, TX_WRITE);
    const char *reason = NULL;
    enum err e = entries_transition(tx, who, str_from_cstr(id), action, version, STR_NULL,
                                    publish_at, NOW, &reason);
    if (e) {
        assert_true(e != ERR_CONFLICT || reason != NULL);
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

static int64_t count(const struct tenant_ctx *t, const char *sql)
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

/* ---- tests ------------------------------------------------------------------------ */

static void test_create_and_regenerate(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct arena *a = arena_new(1u << 20);
    enum entry_upsert what;
    char id[ENTRIES_ID_LEN + 1];
    struct entry_generated g = generated("github:pr:1:7", "Dark mode");
    assert_int_equal(upsert(&t, &g, &what, id), ERR_OK);
    assert_int_equal(what, ENTRY_CREATED);
    struct entry e;
    get(&t, id, a, &e);
    assert_int_equal(e.status, ENTRY_DRAFT);
    assert_int_equal(e.version, 1);
    assert_false(e.human_edited);
    assert_true(str_eq_cstr(e.title, "Dark mode"));
    assert_true(str_eq_cstr(e.source_id, "github:pr:1:7"));
    assert_int_equal(e.n_labels, 2);
    assert_true(str_eq_cstr(e.labels[1], "ui"));
    assert_int_equal(e.impact, CHANGE_FEATURE);

    /* the same text again: nothing */
    char id2[ENTRIES_ID_LEN + 1];
    assert_int_equal(upsert(&t, &g, &what, id2), ERR_OK);
    assert_int_equal(what, ENTRY_UNCHANGED);
    assert_string_equal(id, id2);

    /* new text for an unedited draft: replaced, as version 2 */
    g = generated("github:pr:1:7", "Dark mode for every page");
    assert_int_equal(upsert(&t, &g, &what, id2), ERR_OK);
    assert_int_equal(what, ENTRY_REGENERATED);
    get(&t, id, a, &e);
    assert_int_equal(e.version, 2);
    assert_true(str_eq_cstr(e.title, "Dark mode for every page"));
    assert_int_equal(count(&t, "SELECT count(*) FROM changelog_entries WHERE tenant_id = $1"), 1);
    assert_int_equal(
        count(&t, "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action LIKE 'entry.%'"),
        2);
    arena_free(a);
}

static void test_regeneration_keeps_human_edit(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct arena *a = arena_new(1u << 20);
    enum entry_upsert what;
    char id[ENTRIES_ID_LEN + 1];
    struct entry_generated g = generated("github:pr:1:8", "Exports");
    assert_int_equal(upsert(&t, &g, &what, id), ERR_OK);

    struct entry_patch p = {.version = 1, .has_title = true, .title = STR_LIT("CSV exports")};
    assert_int_equal(edit(&t, &EDITOR, id, &p, NULL), ERR_OK);
    struct entry e;
    get(&t, id, a, &e);
    assert_true(e.human_edited);
    assert_int_equal(e.version, 2);

    g = generated("github:pr:1:8", "Exports, regenerated");
    assert_int_equal(upsert(&t, &g, &what, NULL), ERR_OK);
    assert_int_equal(what, ENTRY_SUGGESTED);
    get(&t, id, a, &e);
    assert_true(str_eq_cstr(e.title, "CSV exports")); /* the human edit stays */
    assert_int_equal(e.version, 2);

    struct entry_version v[ENTRIES_MAX_VERSIONS];
    size_t n = 0;
    struct tx *tx = begin(&t, TX_READ);
    assert_int_equal(entries_versions(tx, str_from_cstr(id), a, v, &n), ERR_OK);
    storage_rollback(tx);
    assert_int_equal(n, 3);
    assert_true(str_eq_cstr(v[0].kind, "suggestion"));
    assert_true(str_eq_cstr(v[0].title, "Exports, regenerated"));
    assert_true(str_eq_cstr(v[1].kind, "edit"));
    assert_true(str_eq_cstr(v[1].author, EDITOR.user_id));
    assert_int_equal(v[1].created_at, NOW);
    assert_true(str_eq_cstr(v[2].kind, "generated"));
    assert_true(str_eq_cstr(v[2].author, "rules"));

    /* the same suggestion again adds nothing; the next edit numbers after it */
    assert_int_equal(upsert(&t, &g, &what, NULL), ERR_OK);
    assert_int_equal(what, ENTRY_UNCHANGED);
    p = (struct entry_patch){.version = 2, .has_body = true, .body = STR_LIT("Line one.\nTwo.")};
    assert_int_equal(edit(&t, &EDITOR, id, &p, NULL), ERR_OK);
    get(&t, id, a, &e);
    assert_int_equal(e.version, 4);
    assert_true(str_eq_cstr(e.body, "Line one.\nTwo."));
    arena_free(a);
}

static void test_workflow(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct arena *a = arena_new(1u << 20);
    enum entry_upsert what;
    char id[ENTRIES_ID_LEN + 1];
    struct entry_generated g = generated("github:pr:1:9", "Faster search");
    assert_int_equal(upsert(&t, &g, &what, id), ERR_OK);

    /* nothing but submit from draft */
    assert_int_equal(act(&t, &ADMIN, id, ENTRY_APPROVE, 0, 0), ERR_CONFLICT);
    assert_int_equal(act(&t, &ADMIN, id, ENTRY_PUBLISH, 0, 0), ERR_CONFLICT);
    assert_int_equal(act(&t, &ADMIN, id, ENTRY_REJECT, 0, 0), ERR_CONFLICT);
    assert_int_equal(act(&t, &EDITOR, id, ENTRY_SUBMIT, 2, 0), ERR_CONFLICT); /* stale */
    assert_int_equal(act(&t, &EDITOR, id, ENTRY_SUBMIT, 1, 0), ERR_OK);
    assert_int_equal(act(&t, &EDITOR, id, ENTRY_SUBMIT, 1, 0), ERR_CONFLICT);
    assert_int_equal(act(&t, &ADMIN, id, ENTRY_PUBLISH, 1, 0), ERR_CONFLICT);

    /* rejected, edited (back to draft), submitted again, approved */
    struct tx *tx = begin(&t, TX_WRITE);
    assert_int_equal(entries_transition(tx, &ADMIN, str_from_cstr(id), ENTRY_REJECT, 1,
                                        STR_LIT("Say which page."), 0, NOW, NULL),
                     ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
    struct entry e;
    get(&t, id, a, &e);
    assert_int_equal(e.status, ENTRY_REJECTED);
    assert_true(str_eq_cstr(e.decision_note, "Say which page."));
    struct entry_patch p = {
        .version = 1, .has_title = true, .title = STR_LIT("Faster search page")};
    assert_int_equal(edit(&t, &EDITOR, id, &p, NULL), ERR_OK);
    get(&t, id, a, &e);
    assert_int_equal(e.status, ENTRY_DRAFT);
    assert_int_equal(act(&t, &EDITOR, id, ENTRY_SUBMIT, 2, 0), ERR_OK);
    assert_int_equal(act(&t, &ADMIN, id, ENTRY_APPROVE, 2, 0), ERR_OK);

    /* an edit of an approved entry withdraws the approval */
    p = (struct entry_patch){.version = 2, .has_audience = true, .audience = AUDIENCE_DEVELOPERS};
    assert_int_equal(edit(&t, &EDITOR, id, &p, NULL), ERR_OK);
    get(&t, id, a, &e);
    assert_int_equal(e.status, ENTRY_DRAFT);
    assert_int_equal(act(&t, &EDITOR, id, ENTRY_SUBMIT, 3, 0), ERR_OK);
    assert_int_equal(act(&t, &ADMIN, id, ENTRY_APPROVE, 3, 0), ERR_OK);
    assert_int_equal(act(&t, &ADMIN, id, ENTRY_PUBLISH, 3, 0), ERR_OK);
    get(&t, id, a, &e);
    assert_int_equal(e.status, ENTRY_PUBLISHED);
    assert_int_equal(e.published_at, NOW);
    assert_true(str_eq_cstr(e.published_by, ADMIN.user_id));

    /* published: no edit, no regeneration, no second publication */
    p = (struct entry_patch){.version = 3, .has_title = true, .title = STR_LIT("Changed")};
    const char *reason = NULL;
    assert_int_equal(edit(&t, &EDITOR, id, &p, &reason), ERR_CONFLICT);
    assert_non_null(reason);
    g = generated("github:pr:1:9", "Regenerated after publication");
    assert_int_equal(upsert(&t, &g, &what, NULL), ERR_OK);
    assert_int_equal(what, ENTRY_UNCHANGED);
    assert_int_equal(act(&t, &ADMIN, id, ENTRY_PUBLISH, 0, 0), ERR_CONFLICT);
    assert_int_equal(count(&t, "SELECT count(*) FROM audit_log WHERE tenant_id = $1"
                               " AND action IN ('entry.approved', 'entry.published',"
                               " 'entry.rejected', 'entry.submitted', 'entry.edited')"),
                     9);
    arena_free(a);
}

static void test_scheduled(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct arena *a = arena_new(1u << 20);
    enum entry_upsert what;
    char id[ENTRIES_ID_LEN + 1];
    struct entry_generated g = generated("github:pr:1:10", "Scheduled");
    assert_int_equal(upsert(&t, &g, &what, id), ERR_OK);
    assert_int_equal(act(&t, &EDITOR, id, ENTRY_SUBMIT, 1, 0), ERR_OK);
    assert_int_equal(act(&t, &ADMIN, id, ENTRY_APPROVE, 1, 0), ERR_OK);
    assert_int_equal(act(&t, &ADMIN, id, ENTRY_PUBLISH, 1, NOW + 3600), ERR_OK);
    struct entry e;
    get(&t, id, a, &e);
    assert_int_equal(e.status, ENTRY_SCHEDULED);
    assert_int_equal(e.publish_at, NOW + 3600);
    assert_int_equal(e.published_at, 0);

    char ids[4 * (ENTRIES_ID_LEN + 1)];
    size_t n = 9;
    struct tx *tx = begin(&t, TX_WRITE);
    assert_int_equal(entries_publish_due(tx, NOW + 3599, 4, ids, &n), ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(entries_publish_due(tx, NOW + 3600, 4, ids, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids, id);
    assert_int_equal(storage_commit(tx), ERR_OK);
    get(&t, id, a, &e);
    assert_int_equal(e.status, ENTRY_PUBLISHED);
    assert_int_equal(e.published_at, NOW + 3600);
    arena_free(a);
}

static int hooks_in_tx, hooks_after;

static enum err count_in_tx(void *arg, struct tx *tx, const struct entry *e, int64_t now)
{
    (void)arg;
    (void)tx;
    assert_int_equal(e->status, ENTRY_PUBLISHED);
    assert_int_equal(e->published_at, now);
    /* what customers see: the text, never the source or who published it */
    struct buf out = BUF_INIT(64 * 1024);
    assert_int_equal(changes_entry_public_json(e, &out), ERR_OK);
    assert_non_null(strstr(buf_cstr(&out), "\"title\":\"Later\""));
    assert_non_null(strstr(buf_cstr(&out), "\"category_heading\":\"New features\""));
    assert_non_null(strstr(buf_cstr(&out), "\"labels\":[\"feature\",\"ui\"]"));
    assert_non_null(strstr(buf_cstr(&out), "\"published_at\":\"2023-11-14T22:23:20Z\""));
    assert_null(strstr(buf_cstr(&out), "github.com"));
    assert_null(strstr(buf_cstr(&out), ADMIN.user_id));
    assert_null(strstr(buf_cstr(&out), "reason"));
    buf_release(&out);
    hooks_in_tx++;
    return ERR_OK;
}

static void count_after(void *arg, const struct tenant_ctx *t)
{
    (void)arg;
    (void)t;
    hooks_after++;
}

/* The job queued with a schedule publishes the entry when its time comes, with the hooks. */
static void test_scheduled_job(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct arena *a = arena_new(1u << 20);
    enum entry_upsert what;
    char id[ENTRIES_ID_LEN + 1];
    struct entry_generated g = generated("github:pr:1:13", "Later");
    assert_int_equal(upsert(&t, &g, &what, id), ERR_OK);
    assert_int_equal(act(&t, &EDITOR, id, ENTRY_SUBMIT, 1, 0), ERR_OK);
    assert_int_equal(act(&t, &ADMIN, id, ENTRY_APPROVE, 1, 0), ERR_OK);
    assert_int_equal(act(&t, &ADMIN, id, ENTRY_PUBLISH, 1, NOW + 600), ERR_OK);
    assert_int_equal(count(&t, "SELECT count(*) FROM jobs WHERE tenant_id = $1"
                               " AND kind = 'changes.publish'"),
                     1);

    struct changes_publisher p = {.in_tx = count_in_tx, .committed = count_after};
    struct jobs_handler h = changes_job_publish;
    h.arg = &p;
    struct jobs_round r;
    hooks_in_tx = hooks_after = 0;
    assert_int_equal(jobs_run_round(S.s, &h, 1, NOW + 599, 0, NULL, &r), ERR_OK);
    assert_int_equal(r.claimed, 0);
    struct entry e;
    get(&t, id, a, &e);
    assert_int_equal(e.status, ENTRY_SCHEDULED);
    assert_int_equal(jobs_run_round(S.s, &h, 1, NOW + 600, 0, NULL, &r), ERR_OK);
    assert_int_equal(r.done, 1);
    get(&t, id, a, &e);
    assert_int_equal(e.status, ENTRY_PUBLISHED);
    assert_int_equal(e.published_at, NOW + 600);
    assert_int_equal(hooks_in_tx, 1);
    assert_int_equal(hooks_after, 1);
    arena_free(a);
}

static void test_list_and_reviewers(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct arena *a = arena_new(4u << 20);
    char ids[5][ENTRIES_ID_LEN + 1];
    enum entry_upsert what;
    for (int i = 0; i < 5; i++) {
        char src[32], title[32];
        snprintf(src, sizeof src, "github:pr:1:%d", 100 + i);
        snprintf(title, sizeof title, "Change %d", i);
        struct entry_generated g = generated(src, title);
        assert_int_equal(upsert(&t, &g, &what, ids[i]), ERR_OK);
    }
    assert_int_equal(act(&t, &EDITOR, ids[1], ENTRY_SUBMIT, 1, 0), ERR_OK);
    assert_int_equal(act(&t, &EDITOR, ids[3], ENTRY_SUBMIT, 1, 0), ERR_OK);
    struct str reviewers[] = {STR_LIT("33333333-3333-4333-8333-333333333333")};
    struct entry_patch p = {
        .version = 1, .has_reviewers = true, .reviewers = reviewers, .n_reviewers = 1};
    assert_int_equal(edit(&t, &EDITOR, ids[3], &p, NULL), ERR_OK);

    struct entry out[ENTRIES_MAX_PAGE];
    size_t n = 0, total = 0;
    struct entries_cursor after = {0}, next;
    struct entries_filter all = {.any_status = true};
    struct tx *tx = begin(&t, TX_READ);
    do { /* two at a time, all five, each once */
        assert_int_equal(entries_list(tx, &all, &after, 2, a, out, &n, &next), ERR_OK);
        total += n;
        after = next;
    } while (next.id[0]);
    assert_int_equal(total, 5);
    struct entries_filter queue = {.status = ENTRY_IN_REVIEW};
    memset(&after, 0, sizeof after);
    assert_int_equal(entries_list(tx, &queue, &after, 10, a, out, &n, &next), ERR_OK);
    assert_int_equal(n, 2);
    struct entries_filter mine = {.any_status = true, .reviewer = reviewers[0].ptr};
    assert_int_equal(entries_list(tx, &mine, &after, 10, a, out, &n, &next), ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].id, ids[3]);
    assert_int_equal(out[0].n_reviewers, 1);
    assert_int_equal(out[0].version, 1); /* reviewers alone make no version */
    assert_int_equal(entries_list(tx, &all, &after, 0, a, out, &n, &next), ERR_INVALID);
    assert_int_equal(entries_list(tx, &all, &after, ENTRIES_MAX_PAGE + 1, a, out, &n, &next),
                     ERR_INVALID);
    storage_rollback(tx);
    arena_free(a);
}

static void test_isolation(void **state)
{
    (void)state;
    struct tenant_ctx t, other;
    new_tenant(&t);
    new_tenant(&other);
    struct arena *a = arena_new(1u << 20);
    enum entry_upsert what;
    char id[ENTRIES_ID_LEN + 1];
    struct entry_generated g = generated("github:pr:1:11", "Mine");
    assert_int_equal(upsert(&t, &g, &what, id), ERR_OK);

    struct tx *tx = begin(&other, TX_WRITE);
    struct entry e;
    struct entry_version v[ENTRIES_MAX_VERSIONS];
    size_t n;
    assert_int_equal(entries_get(tx, str_from_cstr(id), a, &e), ERR_NOT_FOUND);
    assert_int_equal(entries_versions(tx, str_from_cstr(id), a, v, &n), ERR_NOT_FOUND);
    struct entry_patch p = {.version = 1, .has_title = true, .title = STR_LIT("Theirs")};
    assert_int_equal(entries_edit(tx, &EDITOR, str_from_cstr(id), &p, NOW, NULL), ERR_NOT_FOUND);
    assert_int_equal(
        entries_transition(tx, &EDITOR, str_from_cstr(id), ENTRY_SUBMIT, 0, STR_NULL, 0, NOW, NULL),
        ERR_NOT_FOUND);
    storage_rollback(tx);
    /* the same change in the other tenant is its own entry */
    char id2[ENTRIES_ID_LEN + 1];
    assert_int_equal(upsert(&other, &g, &what, id2), ERR_OK);
    assert_int_equal(what, ENTRY_CREATED);
    assert_string_not_equal(id, id2);
    get(&t, id, a, &e);
    assert_true(str_eq_cstr(e.title, "Mine"));
    arena_free(a);
}

static void test_limits(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    enum entry_upsert what;
    char id[ENTRIES_ID_LEN + 1];
    struct entry_generated g = generated("github:pr:1:12", "Limits");
    assert_int_equal(upsert(&t, &g, &what, id), ERR_OK);

    char big[ENTRIES_MAX_BODY + 2];
    memset(big, 'x', sizeof big);
    const char *field = NULL;
    struct entry_patch p = {
        .version = 1, .has_title = true, .title = str_from(big, ENTRIES_MAX_TITLE)};
    assert_int_equal(entries_patch_check(&p, &field), ERR_OK);
    p.title = str_from(big, ENTRIES_MAX_TITLE + 1);
    assert_int_equal(entries_patch_check(&p, &field), ERR_LIMIT);
    assert_string_equal(field, "title");
    p.title = STR_LIT("tab\there");
    assert_int_equal(entries_patch_check(&p, &field), ERR_INVALID);
    p.title = STR_LIT("\xc3\x28");
    assert_int_equal(entries_patch_check(&p, &field), ERR_INVALID);
    p = (struct entry_patch){
        .version = 1, .has_body = true, .body = str_from(big, ENTRIES_MAX_BODY)};
    assert_int_equal(entries_patch_check(&p, &field), ERR_OK);
    p.body = str_from(big, ENTRIES_MAX_BODY + 1);
    assert_int_equal(entries_patch_check(&p, &field), ERR_LIMIT);
    assert_string_equal(field, "body");

    struct str labels[ENTRIES_MAX_LABELS + 1];
    for (size_t i = 0; i <= ENTRIES_MAX_LABELS; i++)
        labels[i] = STR_LIT("l");
    p = (struct entry_patch){
        .version = 1, .has_labels = true, .labels = labels, .n_labels = ENTRIES_MAX_LABELS};
    assert_int_equal(entries_patch_check(&p, &field), ERR_OK);
    p.n_labels = ENTRIES_MAX_LABELS + 1;
    assert_int_equal(entries_patch_check(&p, &field), ERR_LIMIT);
    labels[2] = str_from(big, ENTRIES_MAX_LABEL + 1);
    p.n_labels = 3;
    assert_int_equal(entries_patch_check(&p, &field), ERR_LIMIT);
    assert_string_equal(field, "labels[2]");
    p = (struct entry_patch){.version = 0, .has_title = true, .title = STR_LIT("x")};
    assert_int_equal(entries_patch_check(&p, &field), ERR_INVALID);
    assert_string_equal(field, "version");

    struct tx *tx = begin(&t, TX_WRITE);
    assert_int_equal(entries_transition(tx, &ADMIN, str_from_cstr(id), ENTRY_SUBMIT, 0,
                                        str_from(big, ENTRIES_MAX_NOTE + 1), 0, NOW, NULL),
                     ERR_LIMIT);
    storage_rollback(tx);

    char src[ENTRIES_MAX_SOURCE_ID + 2];
    memset(src, 's', sizeof src);
    src[ENTRIES_MAX_SOURCE_ID + 1] = '\0';
    g = generated(src, "Too long a source");
    assert_int_equal(upsert(&t, &g, &what, NULL), ERR_LIMIT);
    src[ENTRIES_MAX_SOURCE_ID] = '\0';
    g = generated(src, "Longest source");
    assert_int_equal(upsert(&t, &g, &what, NULL), ERR_OK);
    assert_int_equal(what, ENTRY_CREATED);
}

static void test_merge_messages(void **state)
{
    (void)state;
    static const char *const merges[] = {
        "Merge pull request #12 from acme/dark-mode\n\nDark mode",
        "Merge branch 'main' into feature",
        "Merge remote-tracking branch 'origin/main'",
        "Add dark mode (#123)",
        "Add dark mode (#123)\n\n* first\n* second",
        "Merged PR 7: Add dark mode",
        "Merged in feature/x (pull request #4)",
        "Add dark mode\n\nSee merge request acme/app!12",
    };
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++)
        assert_true(changes_is_merge_message(str_from_cstr(merges[i])));
    static const char *const changes[] = {
        "feat: add dark mode",  "Fix #123 crash on start", "Add dark mode (#)",
        "Add dark mode (#12a)", "Mergeable regions",       "",
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++)
        assert_false(changes_is_merge_message(str_from_cstr(changes[i])));
    assert_false(changes_is_merge_message(STR_NULL));
}

/* Which rows of a batch are changes, and the tenant's rules applied to them. */
static void test_find_changes(void **state)
{
    (void)state;
    struct tenant_ctx t;
    new_tenant(&t);
    struct arena *a = arena_new(4u << 20);
    static const struct str labels[] = {STR_LIT("bug")};
    static const struct ingest_file files[] = {{.path = STR_LIT("docs/a.md"), .change = 'M'}};
    struct ingest_repo repo = {.id = STR_LIT("github:repo:1"),
                               .url = STR_LIT("https://github.com/acme/app"),
                               .default_branch = STR_LIT("main")};
    struct ingest_pr prs[] = {
        {.id = STR_LIT("github:pr:1:1"),
         .repo_id = repo.id,
         .number = 1,
         .title = STR_LIT("Crash on start"),
         .state = STR_LIT("merged"),
         .target_branch = STR_LIT("main"),
         .labels = labels,
         .n_labels = 1,
         .labels_known = true,
         .merged_at = NOW},
        {.id = STR_LIT("github:pr:1:2"),
         .repo_id = repo.id,
         .number = 2,
         .title = STR_LIT("Into a feature branch"),
         .state = STR_LIT("merged"),
         .target_branch = STR_LIT("feature")},
        {.id = STR_LIT("github:pr:1:3"),
         .repo_id = repo.id,
         .number = 3,
         .title = STR_LIT("Still open"),
         .state = STR_LIT("open"),
         .target_branch = STR_LIT("main")},
    };
    struct ingest_commit commits[] = {
        {.id = STR_LIT("github:commit:1:aa"),
         .repo_id = repo.id,
         .sha = STR_LIT("aa"),
         .message = STR_LIT("docs: typo"),
         .branch = STR_LIT("main"),
         .files = files,
         .n_files = 1},
        {.id = STR_LIT("github:commit:1:bb"),
         .repo_id = repo.id,
         .sha = STR_LIT("bb"),
         .message = STR_LIT("Crash on start (#1)"),
         .branch = STR_LIT("main")},
        {.id = STR_LIT("github:commit:1:cc"),
         .repo_id = repo.id,
         .sha = STR_LIT("cc"),
         .message = STR_LIT("feat: on a branch"),
         .branch = STR_LIT("feature")},
    };
    struct ingest_batch b = {
        .repos = &repo, .n_repos = 1, .prs = prs, .n_prs = 3, .commits = commits, .n_commits = 3};
    struct entry_generated *v = NULL;
    size_t n = 0;
    struct tx *tx = begin(&t, TX_READ);
    assert_int_equal(changes_find(tx, &b, a, &v, &n), ERR_OK);
    storage_rollback(tx);
    assert_int_equal(n, 2);
    assert_true(str_eq_cstr(v[0].source_id, "github:pr:1:1"));
    assert_int_equal(v[0].cls.impact, CHANGE_FIX); /* label "bug" */
    assert_true(str_eq_cstr(v[0].source_url, "https://github.com/acme/app/pull/1"));
    assert_true(str_eq_cstr(v[1].source_id, "github:commit:1:aa"));
    assert_true(v[1].push);
    assert_int_equal(v[1].cls.impact, CHANGE_INTERNAL); /* only docs/ touched */
    assert_true(str_eq_cstr(v[1].source_url, "https://github.com/acme/app/commit/aa"));

    /* the tenant's rules: "bug" now means a feature */
    tx = begin(&t, TX_WRITE);
    struct rules_problem why;
    assert_int_equal(
        changes_rules_set(tx, &ADMIN, STR_LIT("{\"labels\":{\"bug\":\"feature\"}}"), &why), ERR_OK);
    assert_int_equal(changes_rules_set(tx, &ADMIN, STR_LIT("{\"labels\":7}"), &why), ERR_INVALID);
    assert_int_equal(storage_commit(tx), ERR_OK);
    tx = begin(&t, TX_READ);
    assert_int_equal(changes_find(tx, &b, a, &v, &n), ERR_OK);
    storage_rollback(tx);
    assert_int_equal(v[0].cls.impact, CHANGE_FEATURE);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_regenerate),
        cmocka_unit_test(test_regeneration_keeps_human_edit),
        cmocka_unit_test(test_workflow),
        cmocka_unit_test(test_scheduled),
        cmocka_unit_test(test_scheduled_job),
        cmocka_unit_test(test_list_and_reviewers),
        cmocka_unit_test(test_isolation),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_merge_messages),
        cmocka_unit_test(test_find_changes),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
