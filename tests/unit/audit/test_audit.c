/*
 * Unit tests for audit without a database: the canonical encoding byte by
 * byte, details redaction and ordering, named limits (at the limit and one
 * past it), the verifier state machine on synthetic chains (every break
 * kind), the export line parser, checkpoint messages, PEM and base64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit/audit.h"
#include "core/base64.h"

#define TENANT "0b5d2c1e-9a7f-4c3b-8e21-5f6a7b8c9d0e"
#define N      10 /* entries of the synthetic chain */

/* ---- canonical encoding ------------------------------------------------------- */

static struct audit_entry sample_entry(void)
{
    struct audit_entry e = {
        .tenant_id = STR_LIT(TENANT),
        .seq = 42,
        .at = STR_LIT("2024-05-01T12:34:56.123456Z"),
        .actor_type = STR_LIT("user"),
        .actor_id = STR_LIT("u-1"),
        .client_ip = STR_LIT("192.0.2.7"),
        .request_id = STR_LIT(""),
        .action = STR_LIT("auth.signin"),
        .target = STR_LIT("user:u-1"),
        .outcome = STR_LIT("success"),
        .details = STR_LIT("{\"method\":\"password\"}"),
    };
    return e;
}

static void test_canonical_bytes(void **state)
{
    struct audit_entry e = sample_entry();
    struct buf b = BUF_INIT(4096);
    assert_int_equal(audit_canonical(&e, &b), ERR_OK);
    const char *want = "shiplog-audit-v1\n"
                       "36:" TENANT "\n"
                       "2:42\n"
                       "27:2024-05-01T12:34:56.123456Z\n"
                       "4:user\n"
                       "3:u-1\n"
                       "9:192.0.2.7\n"
                       "0:\n"
                       "11:auth.signin\n"
                       "8:user:u-1\n"
                       "7:success\n"
                       "21:{\"method\":\"password\"}\n";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);

    /* hash = SHA-256(prev || canonical) */
    unsigned char prev[SHA256_LEN], h1[SHA256_LEN], h2[SHA256_LEN];
    memset(prev, 0xab, sizeof prev);
    struct buf cat = BUF_INIT(8192);
    assert_int_equal(buf_append(&cat, prev, sizeof prev), ERR_OK);
    assert_int_equal(buf_append(&cat, want, strlen(want)), ERR_OK);
    sha256(cat.data, cat.len, h1);
    struct buf scratch = BUF_INIT(8192);
    assert_int_equal(audit_entry_hash(prev, &e, &scratch, h2), ERR_OK);
    assert_memory_equal(h1, h2, SHA256_LEN);
    buf_release(&b);
    buf_release(&cat);
    buf_release(&scratch);
}

/* A field moved into its neighbour gives another encoding (no ambiguity). */
static void test_canonical_unambiguous(void **state)
{
    struct audit_entry a = sample_entry(), b = sample_entry();
    a.actor_id = STR_LIT("ab");
    a.client_ip = STR_LIT("c");
    b.actor_id = STR_LIT("a");
    b.client_ip = STR_LIT("bc");
    struct buf x = BUF_INIT(4096), y = BUF_INIT(4096);
    assert_int_equal(audit_canonical(&a, &x), ERR_OK);
    assert_int_equal(audit_canonical(&b, &y), ERR_OK);
    assert_true(x.len == y.len);
    assert_true(memcmp(x.data, y.data, x.len) != 0);
    buf_release(&x);
    buf_release(&y);
}

/* ---- details ------------------------------------------------------------------- */

static void test_details_sorted_redacted(void **state)
{
    struct buf b = BUF_INIT(AUDIT_MAX_DETAILS);
    const struct log_field *f = LOG_FIELDS_(
        LOG_STR("zeta", "z"), LOG_INT("count", 3), LOG_STR("password", "hunter2hunter2"),
        LOG_STR("note", "key ghp_abcdefghijklmnopqrstuvwxyz0123456789 here"),
        LOG_BOOL("alpha", true), LOG_STR("quote", "a\"b"));
    assert_int_equal(audit_details_json(f, &b), ERR_OK);
    assert_string_equal(buf_cstr(&b), "{\"alpha\":true,\"count\":3,\"note\":\"key [masked] here\","
                                      "\"quote\":\"a\\\"b\",\"zeta\":\"z\"}");
    assert_null(strstr(buf_cstr(&b), "hunter2"));
    assert_null(strstr(buf_cstr(&b), "ghp_"));
    buf_reset(&b);
    assert_int_equal(audit_details_json(NULL, &b), ERR_OK);
    assert_string_equal(buf_cstr(&b), "{}");
    buf_release(&b);
}

static void test_details_limits(void **state)
{
    struct buf b = BUF_INIT(AUDIT_MAX_DETAILS * 2);
    /* duplicate key, bad key */
    assert_int_equal(audit_details_json(LOG_FIELDS_(LOG_INT("a", 1), LOG_INT("a", 2)), &b),
                     ERR_INVALID);
    assert_int_equal(audit_details_json(LOG_FIELDS_(LOG_INT("A", 1)), &b), ERR_INVALID);
    assert_int_equal(audit_details_json(LOG_FIELDS_(LOG_INT("a-b", 1)), &b), ERR_INVALID);
    assert_int_equal(b.len, 0);

    /* key length: at the limit and one past */
    char key[AUDIT_MAX_DETAIL_KEY + 2];
    memset(key, 'k', sizeof key);
    key[AUDIT_MAX_DETAIL_KEY] = '\0';
    assert_int_equal(audit_details_json(LOG_FIELDS_(LOG_INT(key, 1)), &b), ERR_OK);
    buf_reset(&b);
    key[AUDIT_MAX_DETAIL_KEY] = 'k';
    key[AUDIT_MAX_DETAIL_KEY + 1] = '\0';
    assert_int_equal(audit_details_json(LOG_FIELDS_(LOG_INT(key, 1)), &b), ERR_INVALID);

    /* number of fields */
    struct log_field fields[AUDIT_MAX_DETAIL_FIELDS + 2];
    char names[AUDIT_MAX_DETAIL_FIELDS + 1][8];
    for (size_t i = 0; i <= AUDIT_MAX_DETAIL_FIELDS; i++) {
        snprintf(names[i], sizeof names[i], "f%zu", i);
        fields[i] = LOG_INT(names[i], (int64_t)i);
    }
    fields[AUDIT_MAX_DETAIL_FIELDS] = (struct log_field){.key = NULL};
    buf_reset(&b);
    assert_int_equal(audit_details_json(fields, &b), ERR_OK);
    fields[AUDIT_MAX_DETAIL_FIELDS] = LOG_INT(names[AUDIT_MAX_DETAIL_FIELDS], 1);
    fields[AUDIT_MAX_DETAIL_FIELDS + 1] = (struct log_field){.key = NULL};
    buf_reset(&b);
    assert_int_equal(audit_details_json(fields, &b), ERR_INVALID);

    /* size: {"v":"..."} is 8 bytes + the value; exactly AUDIT_MAX_DETAILS, then one more */
    char *v = malloc(AUDIT_MAX_DETAILS);
    assert_non_null(v);
    size_t vlen = AUDIT_MAX_DETAILS - 8;
    for (size_t i = 0; i < vlen; i++)
        v[i] = (char)('a' + i % 2 * 2); /* "acac...": low entropy, never masked */
    v[vlen] = '\0';
    buf_reset(&b);
    assert_int_equal(audit_details_json(LOG_FIELDS_(LOG_STR("v", v)), &b), ERR_OK);
    assert_int_equal(b.len, AUDIT_MAX_DETAILS);
    v[vlen] = 'a';
    v[vlen + 1] = '\0';
    buf_reset(&b);
    assert_int_equal(audit_details_json(LOG_FIELDS_(LOG_STR("v", v)), &b), ERR_LIMIT);
    free(v);
    buf_release(&b);
}

static void test_action_valid(void **state)
{
    char a[AUDIT_MAX_ACTION + 2];
    memset(a, 'a', sizeof a);
    assert_true(audit_action_valid(str_from(a, AUDIT_MAX_ACTION)));
    assert_false(audit_action_valid(str_from(a, AUDIT_MAX_ACTION + 1)));
    assert_false(audit_action_valid(STR_LIT("")));
    assert_true(audit_action_valid(STR_LIT("secret.rotated_2")));
    assert_false(audit_action_valid(STR_LIT("Auth.signin")));
    assert_false(audit_action_valid(STR_LIT("auth signin")));
    assert_false(audit_action_valid(STR_LIT("auth-signin")));
}

/* ---- a synthetic chain ---------------------------------------------------------- */

/* Owned copies of N entries, their checkpoints and head, as text like the database. */
struct chain {
    char at[N + 1][AUDIT_TIME_LEN + 1];
    char target[N + 1][32];
    char prev[N + 1][AUDIT_HASH_HEX_LEN + 1];
    char hash[N + 1][AUDIT_HASH_HEX_LEN + 1];
    struct audit_entry e[N + 1]; /* [1..N] */
    struct sign_key key, other;
    struct audit_trusted_keys trusted;
    /* a checkpoint at seq 5 */
    char cp_hash[AUDIT_HASH_HEX_LEN + 1];
    char cp_pub[2 * SIGN_PUBLIC_LEN + 1];
    char cp_sig[2 * SIGN_SIG_LEN + 1];
    struct audit_checkpoint_rec cp;
};

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Recomputes hashes from entry `from` on (a consistent rewrite). */
static void chain_rehash(struct chain *c, int from)
{
    struct buf scratch = BUF_INIT(1 << 16);
    unsigned char prev[SHA256_LEN] = {0}, h[SHA256_LEN];
    if (from > 1)
        assert_true(audit_hex_decode(str_from_cstr(c->hash[from - 1]), prev, SHA256_LEN));
    for (int i = from; i <= N; i++) {
        audit_hash_hex(prev, c->prev[i]);
        c->e[i].prev_hash = str_from(c->prev[i], AUDIT_HASH_HEX_LEN);
        assert_int_equal(audit_entry_hash(prev, &c->e[i], &scratch, h), ERR_OK);
        audit_hash_hex(h, c->hash[i]);
        c->e[i].hash = str_from(c->hash[i], AUDIT_HASH_HEX_LEN);
        memcpy(prev, h, SHA256_LEN);
    }
    buf_release(&scratch);
}

static void chain_sign(struct chain *c, const struct sign_key *k, int seq)
{
    memcpy(c->cp_hash, c->hash[seq], sizeof c->cp_hash);
    hex(k->pub, SIGN_PUBLIC_LEN, c->cp_pub);
    struct buf msg = BUF_INIT(512);
    struct str at = STR_LIT("2024-05-01T13:00:00.000000Z");
    assert_int_equal(
        audit_checkpoint_message(STR_LIT(TENANT), seq, str_from_cstr(c->cp_hash), at, &msg),
        ERR_OK);
    unsigned char sig[SIGN_SIG_LEN];
    assert_int_equal(sign_ed25519(k, msg.data, msg.len, sig), ERR_OK);
    hex(sig, SIGN_SIG_LEN, c->cp_sig);
    buf_release(&msg);
    c->cp = (struct audit_checkpoint_rec){
        .tenant_id = STR_LIT(TENANT),
        .seq = seq,
        .hash = str_from_cstr(c->cp_hash),
        .at = at,
        .public_key = str_from_cstr(c->cp_pub),
        .signature = str_from_cstr(c->cp_sig),
    };
}

static struct chain *chain_new(void)
{
    struct chain *c = calloc(1, sizeof *c);
    assert_non_null(c);
    for (int i = 1; i <= N; i++) {
        snprintf(c->at[i], sizeof c->at[i], "2024-05-01T12:00:%02d.000000Z", i);
        snprintf(c->target[i], sizeof c->target[i], "thing:%d", i);
        c->e[i] = sample_entry();
        c->e[i].seq = i;
        c->e[i].at = str_from(c->at[i], AUDIT_TIME_LEN);
        c->e[i].target = str_from_cstr(c->target[i]);
    }
    chain_rehash(c, 1);
    unsigned char seed[SIGN_SEED_LEN];
    memset(seed, 7, sizeof seed);
    assert_int_equal(sign_key_from_seed(seed, &c->key), ERR_OK);
    memset(seed, 9, sizeof seed);
    assert_int_equal(sign_key_from_seed(seed, &c->other), ERR_OK);
    assert_int_equal(audit_trusted_keys_add(&c->trusted, c->key.pub), ERR_OK);
    chain_sign(c, &c->key, 5);
    return c;
}

/* Finder over the synthetic chain (what the database lookup does). */
static enum err chain_find(void *arg, const unsigned char hash[SHA256_LEN], int64_t not_seq,
                           int64_t *seq, bool *found)
{
    struct chain *c = arg;
    *found = false;
    for (int i = 1; i <= N; i++) {
        unsigned char h[SHA256_LEN];
        if (c->e[i].seq != not_seq && audit_hex_decode(c->e[i].hash, h, SHA256_LEN) &&
            memcmp(h, hash, SHA256_LEN) == 0) {
            *found = true;
            *seq = c->e[i].seq;
            return ERR_OK;
        }
    }
    return ERR_OK;
}

/*
 * Feeds entries in array order (skipping `skip`, stopping after `last`), the
 * checkpoint after the entry with its seq (or at the end when no entry has
 * it), then the head (head_seq < 0: none).
 */
static struct audit_verify_result run(struct chain *c, int skip, int last, bool with_cp,
                                      int64_t head_seq, const char *head_hex)
{
    struct audit_hash_finder f = {chain_find, c};
    struct audit_verifier *v = NULL;
    audit_verifier_new(TENANT, &c->trusted, &f, &v);
    bool cp_fed = !with_cp;
    for (int i = 1; i <= last; i++) {
        if (i == skip)
            continue;
        assert_int_equal(audit_verifier_entry(v, &c->e[i]), ERR_OK);
        if (!cp_fed && c->e[i].seq == c->cp.seq) {
            assert_int_equal(audit_verifier_checkpoint(v, &c->cp), ERR_OK);
            cp_fed = true;
        }
    }
    if (!cp_fed)
        assert_int_equal(audit_verifier_checkpoint(v, &c->cp), ERR_OK);
    if (head_seq >= 0)
        assert_int_equal(audit_verifier_head(v, head_seq, str_from_cstr(head_hex)), ERR_OK);
    struct audit_verify_result r;
    audit_verifier_finish(v, &r);
    audit_verifier_free(v);
    return r;
}

static struct audit_verify_result run_all(struct chain *c)
{
    return run(c, 0, N, true, N, c->hash[N]);
}

static void test_verify_ok(void **state)
{
    struct chain *c = chain_new();
    struct audit_verify_result r = run_all(c);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.entries, N);
    assert_int_equal(r.checkpoints, 1);
    /* an empty chain with no head is fine */
    r = run(c, 0, 0, false, -1, NULL);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.entries, 0);
    free(c);
}

static void test_verify_missing(void **state)
{
    struct chain *c = chain_new();
    struct audit_verify_result r = run(c, 7, N, true, N, c->hash[N]);
    assert_int_equal(r.kind, AUDIT_BREAK_MISSING);
    assert_int_equal(r.seq, 7);
    assert_non_null(strstr(r.why, "missing"));
    free(c);
}

static void test_verify_content(void **state)
{
    struct chain *c = chain_new();
    c->e[3].target = STR_LIT("thing:changed");
    struct audit_verify_result r = run_all(c);
    assert_int_equal(r.kind, AUDIT_BREAK_CONTENT);
    assert_int_equal(r.seq, 3);
    assert_non_null(strstr(r.why, "content changed"));
    assert_int_equal(r.entries, 2);
    free(c);
}

static void test_verify_reordered(void **state)
{
    struct chain *c = chain_new();
    /* entries 4 and 6 swap places (each now carries the other's seq) */
    struct audit_entry a = c->e[4], b = c->e[6];
    c->e[4] = b;
    c->e[4].seq = 4;
    c->e[6] = a;
    c->e[6].seq = 6;
    struct audit_verify_result r = run_all(c);
    assert_int_equal(r.kind, AUDIT_BREAK_REORDERED);
    assert_int_equal(r.seq, 4);
    assert_string_equal(r.why, "reordered (links to entry 5)");
    free(c);
}

static void test_verify_wrong_link(void **state)
{
    struct chain *c = chain_new();
    static char bogus[AUDIT_HASH_HEX_LEN + 1];
    memset(bogus, 'e', AUDIT_HASH_HEX_LEN);
    c->e[8].prev_hash = str_from(bogus, AUDIT_HASH_HEX_LEN);
    struct audit_verify_result r = run_all(c);
    assert_int_equal(r.kind, AUDIT_BREAK_LINK);
    assert_int_equal(r.seq, 8);
    assert_non_null(strstr(r.why, "wrong link"));
    /* the genesis entry must link to zeros */
    struct chain *d = chain_new();
    d->e[1].prev_hash = str_from(bogus, AUDIT_HASH_HEX_LEN);
    r = run_all(d);
    assert_int_equal(r.kind, AUDIT_BREAK_LINK);
    assert_int_equal(r.seq, 1);
    free(c);
    free(d);
}

static void test_verify_truncated(void **state)
{
    struct chain *c = chain_new();
    /* tail cut, head left behind */
    struct audit_verify_result r = run(c, 0, 8, true, N, c->hash[N]);
    assert_int_equal(r.kind, AUDIT_BREAK_TRUNCATED);
    assert_int_equal(r.seq, 9);
    /* cut below the checkpoint, head rewound to match: the checkpoint tells */
    r = run(c, 0, 3, true, 3, c->hash[3]);
    assert_int_equal(r.kind, AUDIT_BREAK_TRUNCATED);
    assert_int_equal(r.seq, 4);
    assert_non_null(strstr(r.why, "checkpoint is at entry 5"));
    free(c);
}

static void test_verify_rewritten(void **state)
{
    struct chain *c = chain_new();
    c->e[2].target = STR_LIT("thing:rewritten");
    chain_rehash(c, 2); /* consistent: every hash recomputed */
    struct audit_verify_result r = run_all(c);
    assert_int_equal(r.kind, AUDIT_BREAK_CHECKPOINT_MISMATCH);
    assert_int_equal(r.seq, 5);
    assert_non_null(strstr(r.why, "checkpoint mismatch (rewritten"));
    /* without a checkpoint a consistent rewrite is invisible: why L5 exists */
    r = run(c, 0, N, false, N, c->hash[N]);
    assert_int_equal(r.kind, AUDIT_OK);
    free(c);
}

static void test_verify_checkpoint_signature(void **state)
{
    struct chain *c = chain_new();
    c->cp_sig[10] = c->cp_sig[10] == '0' ? '1' : '0';
    struct audit_verify_result r = run_all(c);
    assert_int_equal(r.kind, AUDIT_BREAK_CHECKPOINT_SIGNATURE);
    assert_int_equal(r.seq, 5);
    assert_string_equal(r.why, "checkpoint signature invalid");
    /* a re-pointed hash under the old signature is invalid too */
    struct chain *d = chain_new();
    memcpy(d->cp_hash, d->hash[4], AUDIT_HASH_HEX_LEN);
    r = run_all(d);
    assert_int_equal(r.kind, AUDIT_BREAK_CHECKPOINT_SIGNATURE);
    free(c);
    free(d);
}

static void test_verify_checkpoint_unknown_key(void **state)
{
    struct chain *c = chain_new();
    chain_sign(c, &c->other, 5);
    struct audit_verify_result r = run_all(c);
    assert_int_equal(r.kind, AUDIT_BREAK_CHECKPOINT_KEY);
    assert_int_equal(r.seq, 5);
    assert_string_equal(r.why, "checkpoint signed by an unknown key");
    /* trusted once added */
    assert_int_equal(audit_trusted_keys_add(&c->trusted, c->other.pub), ERR_OK);
    r = run_all(c);
    assert_int_equal(r.kind, AUDIT_OK);
    free(c);
}

static void test_verify_head(void **state)
{
    struct chain *c = chain_new();
    struct audit_verify_result r = run(c, 0, N, true, -1, NULL);
    assert_int_equal(r.kind, AUDIT_BREAK_HEAD);
    r = run(c, 0, N, true, N, c->hash[N - 1]);
    assert_int_equal(r.kind, AUDIT_BREAK_HEAD);
    assert_int_equal(r.seq, N);
    r = run(c, 0, N, true, N - 2, c->hash[N - 2]);
    assert_int_equal(r.kind, AUDIT_BREAK_HEAD);
    assert_int_equal(r.seq, N - 1);
    free(c);
}

static void test_verify_malformed(void **state)
{
    struct chain *c = chain_new();
    c->e[2].hash = STR_LIT("zz");
    struct audit_verify_result r = run_all(c);
    assert_int_equal(r.kind, AUDIT_BREAK_MALFORMED);
    assert_int_equal(r.seq, 2);
    struct chain *d = chain_new();
    d->e[2].tenant_id = STR_LIT("11111111-2222-4333-8444-555555555555");
    r = run_all(d);
    assert_int_equal(r.kind, AUDIT_BREAK_MALFORMED);
    free(c);
    free(d);
}

/* The first break wins: a later break does not replace it. */
static void test_verify_first_break_wins(void **state)
{
    struct chain *c = chain_new();
    c->e[2].target = STR_LIT("x");
    c->e[9].target = STR_LIT("y");
    struct audit_verify_result r = run(c, 6, N, true, N + 3, c->hash[N]);
    assert_int_equal(r.kind, AUDIT_BREAK_CONTENT);
    assert_int_equal(r.seq, 2);
    free(c);
}

static void test_verify_resume(void **state)
{
    struct chain *c = chain_new();
    unsigned char h4[SHA256_LEN];
    assert_true(audit_hex_decode(str_from_cstr(c->hash[4]), h4, SHA256_LEN));
    struct audit_verifier *v = NULL;
    audit_verifier_new(TENANT, &c->trusted, NULL, &v);
    audit_verifier_resume(v, 4, h4);
    for (int i = 5; i <= N; i++)
        assert_int_equal(audit_verifier_entry(v, &c->e[i]), ERR_OK);
    assert_int_equal(audit_verifier_head(v, N, str_from_cstr(c->hash[N])), ERR_OK);
    struct audit_verify_result r;
    audit_verifier_finish(v, &r);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.entries, N - 4);
    assert_int_equal(audit_verifier_last(v, NULL), N);
    audit_verifier_free(v);
    free(c);
}

/* ---- export lines --------------------------------------------------------------- */

static void test_export_parse(void **state)
{
    const char *entry =
        "{\"type\":\"entry\",\"tenant_id\":\"" TENANT "\",\"seq\":1,\"at\":\"2024-05-01T12:34:56."
        "123456Z\",\"actor_type\":\"user\",\"actor_id\":\"u\",\"client_ip\":\"\",\"request_id\":"
        "\"\",\"action\":\"a.b\",\"target\":\"\",\"outcome\":\"success\",\"details\":\"{\\\"k\\\":"
        "1}\",\"prev_hash\":\"00\",\"hash\":\"11\"}";
    struct audit_record r;
    assert_int_equal(audit_export_parse_line(entry, strlen(entry), &r), ERR_OK);
    assert_int_equal(r.type, AUDIT_REC_ENTRY);
    assert_int_equal(r.entry.seq, 1);
    assert_true(str_eq_cstr(r.entry.details, "{\"k\":1}"));
    assert_true(str_eq_cstr(r.entry.action, "a.b"));
    audit_record_release(&r);

    const char *head = "{\"type\":\"head\",\"tenant_id\":\"" TENANT "\",\"seq\":3,\"hash\":\"ab\"}";
    assert_int_equal(audit_export_parse_line(head, strlen(head), &r), ERR_OK);
    assert_int_equal(r.type, AUDIT_REC_HEAD);
    assert_int_equal(r.head.seq, 3);
    audit_record_release(&r);

    const char *kt = "{\"type\":\"key_transition\",\"tenant_id\":\"" TENANT
                     "\",\"old_public_key\":\"aa\",\"new_public_key\":\"bb\",\"signature\":"
                     "\"cc\",\"at\":\"t\"}";
    assert_int_equal(audit_export_parse_line(kt, strlen(kt), &r), ERR_OK);
    assert_int_equal(r.type, AUDIT_REC_KEY_TRANSITION);
    assert_true(str_eq_cstr(r.transition.new_public_key, "bb"));
    audit_record_release(&r);

    static const char *const bad[] = {
        /* a key transition has no seq, and all its members */
        "{\"type\":\"key_transition\",\"tenant_id\":\"t\",\"old_public_key\":\"a\","
        "\"new_public_key\":\"b\",\"signature\":\"c\",\"at\":\"t\",\"seq\":1}",
        "{\"type\":\"key_transition\",\"tenant_id\":\"t\",\"old_public_key\":\"a\","
        "\"new_public_key\":\"b\",\"signature\":\"c\"}",
        "{\"type\":\"key_transition\",\"tenant_id\":\"t\",\"old_public_key\":\"a\","
        "\"new_public_key\":\"b\",\"signature\":1,\"at\":\"t\"}",
        "",
        "[]",
        "{\"type\":\"head\",\"tenant_id\":\"t\",\"seq\":3}", /* missing */
        "{\"type\":\"head\",\"tenant_id\":\"t\",\"seq\":3,\"hash\":\"a\",\"x\":\"y\"}", /* extra */
        "{\"type\":\"head\",\"tenant_id\":\"t\",\"seq\":-1,\"hash\":\"a\"}",
        "{\"type\":\"head\",\"tenant_id\":\"t\",\"seq\":\"3\",\"hash\":\"a\"}",
        "{\"type\":\"head\",\"tenant_id\":1,\"seq\":3,\"hash\":\"a\"}",
        "{\"type\":\"nope\",\"tenant_id\":\"t\",\"seq\":3,\"hash\":\"a\"}",
        "{\"type\":\"head\",\"tenant_id\":\"t\",\"seq\":3,\"hash\":\"a\",\"hash\":\"b\"}",
        "{\"type\":\"head\",\"tenant_id\":{\"a\":1},\"seq\":3,\"hash\":\"a\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_not_equal(audit_export_parse_line(bad[i], strlen(bad[i]), &r), ERR_OK);
        assert_null(r.doc_);
    }
}

static void test_export_line_limit(void **state)
{
    size_t n = AUDIT_EXPORT_MAX_LINE + 1;
    char *line = malloc(n + 1);
    assert_non_null(line);
    const char *pre = "{\"type\":\"head\",\"tenant_id\":\"";
    const char *post = "\",\"seq\":3,\"hash\":\"a\"}";
    size_t fill = n - strlen(pre) - strlen(post);
    memcpy(line, pre, strlen(pre));
    memset(line + strlen(pre), 'x', fill);
    memcpy(line + strlen(pre) + fill, post, strlen(post));
    struct audit_record r;
    assert_int_equal(audit_export_parse_line(line, n, &r), ERR_LIMIT);
    /* one byte shorter fits */
    memmove(line + strlen(pre), line + strlen(pre) + 1, n - strlen(pre) - 1);
    assert_int_equal(audit_export_parse_line(line, n - 1, &r), ERR_OK);
    audit_record_release(&r);
    free(line);
}

/* Writes c's chain as an export: its checkpoint after its entry, entries 3 and 7 swapped with swap.
 */
static void write_export(FILE *f, struct chain *c, bool swap, const char *before)
{
    if (before)
        fputs(before, f);
    for (int i = 1; i <= N; i++) {
        int k = swap && i == 3 ? 7 : swap && i == 7 ? 3 : i;
        const struct audit_entry *e = &c->e[k];
        fprintf(f,
                "{\"type\":\"entry\",\"tenant_id\":\"%s\",\"seq\":%d,\"at\":\"%.*s\","
                "\"actor_type\":\"user\",\"actor_id\":\"u-1\",\"client_ip\":\"192.0.2.7\","
                "\"request_id\":\"\",\"action\":\"auth.signin\",\"target\":\"%.*s\","
                "\"outcome\":\"success\",\"details\":\"{\\\"method\\\":\\\"password\\\"}\","
                "\"prev_hash\":\"%.*s\",\"hash\":\"%.*s\"}\n",
                TENANT, i, (int)e->at.len, e->at.ptr, (int)e->target.len, e->target.ptr,
                (int)e->prev_hash.len, e->prev_hash.ptr, (int)e->hash.len, e->hash.ptr);
        if (i == c->cp.seq)
            fprintf(f,
                    "{\"type\":\"checkpoint\",\"tenant_id\":\"%s\",\"seq\":%d,\"hash\":\"%s\","
                    "\"at\":\"%.*s\",\"public_key\":\"%s\",\"signature\":\"%s\"}\n",
                    TENANT, i, c->cp_hash, (int)c->cp.at.len, c->cp.at.ptr, c->cp_pub, c->cp_sig);
    }
    fprintf(f, "{\"type\":\"head\",\"tenant_id\":\"%s\",\"seq\":%d,\"hash\":\"%s\"}\n", TENANT, N,
            c->hash[N]);
    rewind(f);
}

static struct audit_verify_result verify_file(FILE *f, const struct audit_trusted_keys *keys)
{
    struct audit_verify_result r;
    char tenant[STORAGE_TENANT_ID_LEN + 1];
    assert_int_equal(audit_verify_export(f, keys, &r, tenant), ERR_OK);
    assert_string_equal(tenant, TENANT);
    fclose(f);
    return r;
}

/* A whole export verified from a file, including classification by re-reading. */
static void test_verify_export_file(void **state)
{
    struct chain *c = chain_new();
    /* the checkpoint at 5 of N: entries after it are not anchored */
    FILE *f = tmpfile();
    assert_non_null(f);
    write_export(f, c, false, NULL);
    struct audit_verify_result r = verify_file(f, &c->trusted);
    assert_int_equal(r.kind, AUDIT_BREAK_UNANCHORED);
    assert_int_equal(r.seq, 6);
    assert_string_equal(r.why, "not anchored: entries after seq 5 are not covered by a trusted "
                               "checkpoint");
    /* the same chain with no checkpoint at all (a forgery needs no key) */
    c->cp.seq = 0;
    f = tmpfile();
    write_export(f, c, false, NULL);
    r = verify_file(f, &c->trusted);
    assert_int_equal(r.kind, AUDIT_BREAK_UNANCHORED);
    assert_int_equal(r.seq, 1);
    /* anchored at the last entry */
    chain_sign(c, &c->key, N);
    f = tmpfile();
    write_export(f, c, false, NULL);
    r = verify_file(f, &c->trusted);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.entries, N);
    assert_int_equal(r.checkpoints, 1);
    assert_int_equal(r.unanchored, 0);
    /* entries 3 and 7 swapped */
    f = tmpfile();
    write_export(f, c, true, NULL);
    r = verify_file(f, &c->trusted);
    assert_int_equal(r.kind, AUDIT_BREAK_REORDERED);
    assert_int_equal(r.seq, 3);
    assert_string_equal(r.why, "reordered (links to entry 6)"); /* entry 7 moved to 3 */
    /* garbage */
    f = tmpfile();
    fputs("not json\n", f);
    rewind(f);
    char tenant[STORAGE_TENANT_ID_LEN + 1];
    assert_int_equal(audit_verify_export(f, &c->trusted, &r, tenant), ERR_OK);
    assert_int_equal(r.kind, AUDIT_BREAK_MALFORMED);
    fclose(f);
    free(c);
}

/* A transition from old to k, signed by k (or by signer when not NULL), as decoded and as a line.
 */
static void transition(const struct sign_key *k, const unsigned char old[SIGN_PUBLIC_LEN],
                       const struct sign_key *signer, struct audit_key_transition *t, char *line,
                       size_t cap)
{
    memcpy(t->old_pub, old, SIGN_PUBLIC_LEN);
    memcpy(t->new_pub, k->pub, SIGN_PUBLIC_LEN);
    snprintf(t->at, sizeof t->at, "2024-06-01T00:00:00.000000Z");
    struct buf msg = BUF_INIT(512);
    assert_int_equal(audit_key_transition_message(STR_LIT(TENANT), t, &msg), ERR_OK);
    assert_int_equal(sign_ed25519(signer ? signer : k, msg.data, msg.len, t->signature), ERR_OK);
    buf_release(&msg);
    char o[2 * SIGN_PUBLIC_LEN + 1], n[2 * SIGN_PUBLIC_LEN + 1], sig[2 * SIGN_SIG_LEN + 1];
    hex(t->old_pub, SIGN_PUBLIC_LEN, o);
    hex(t->new_pub, SIGN_PUBLIC_LEN, n);
    hex(t->signature, SIGN_SIG_LEN, sig);
    if (line)
        snprintf(line, cap,
                 "{\"type\":\"key_transition\",\"tenant_id\":\"%s\",\"old_public_key\":\"%s\","
                 "\"new_public_key\":\"%s\",\"signature\":\"%s\",\"at\":\"%s\"}\n",
                 TENANT, o, n, sig, t->at);
}

static void test_key_transition_message(void **state)
{
    struct audit_key_transition t;
    memset(t.old_pub, 0xab, SIGN_PUBLIC_LEN);
    memset(t.new_pub, 0x01, SIGN_PUBLIC_LEN);
    snprintf(t.at, sizeof t.at, "2024-06-01T00:00:00.000000Z");
    struct buf b = BUF_INIT(512);
    assert_int_equal(audit_key_transition_message(STR_LIT(TENANT), &t, &b), ERR_OK);
    assert_string_equal(buf_cstr(&b),
                        "shiplog-audit-key-transition-v1\n" TENANT "\n"
                        "abababababababababababababababababababababababababababababababab\n"
                        "0101010101010101010101010101010101010101010101010101010101010101\n"
                        "2024-06-01T00:00:00.000000Z\n");
    buf_release(&b);
    /* decoding: sizes are exact */
    struct audit_key_transition_rec r = {
        .tenant_id = STR_LIT(TENANT),
        .old_public_key =
            STR_LIT("abababababababababababababababababababababababababababababababab"),
        .new_public_key =
            STR_LIT("0101010101010101010101010101010101010101010101010101010101010101"),
        .signature = STR_LIT("00000000000000000000000000000000000000000000000000000000000000000000"
                             "000000000000000000000000000000000000000000000000000000000000"),
        .at = STR_LIT("2024-06-01T00:00:00.000000Z"),
    };
    struct audit_key_transition d;
    assert_int_equal(audit_key_transition_decode(&r, &d), ERR_OK);
    assert_memory_equal(d.old_pub, t.old_pub, SIGN_PUBLIC_LEN);
    r.at = STR_LIT("2024-06-01T00:00:00.000000Zx");
    assert_int_equal(audit_key_transition_decode(&r, &d), ERR_INVALID);
    r.at = STR_LIT("2024-06-01T00:00:00.000000Z");
    r.new_public_key = STR_LIT("01");
    assert_int_equal(audit_key_transition_decode(&r, &d), ERR_INVALID);
}

/* Trust follows transitions back from a trusted key, only through valid signatures. */
static void test_trusted_keys_extend(void **state)
{
    struct sign_key k[4];
    unsigned char seed[SIGN_SEED_LEN];
    for (int i = 0; i < 4; i++) {
        memset(seed, 0x20 + i, sizeof seed);
        assert_int_equal(sign_key_from_seed(seed, &k[i]), ERR_OK);
    }
    /* k0 -> k1 -> k2 (current); k3 -> k2 signed by k3 itself (forged) */
    struct audit_key_transition t[3];
    transition(&k[2], k[1].pub, NULL, &t[0], NULL, 0); /* listed before the one it needs */
    transition(&k[1], k[0].pub, NULL, &t[1], NULL, 0);
    transition(&k[2], k[3].pub, &k[3], &t[2], NULL, 0);
    struct audit_trusted_keys keys = {.n = 0};
    assert_int_equal(audit_trusted_keys_add(&keys, k[2].pub), ERR_OK);
    assert_int_equal(audit_trusted_keys_extend(&keys, STR_LIT(TENANT), t, 3), ERR_OK);
    assert_int_equal(keys.n, 3);
    assert_memory_equal(keys.pub[1], k[1].pub, SIGN_PUBLIC_LEN);
    assert_memory_equal(keys.pub[2], k[0].pub, SIGN_PUBLIC_LEN);
    /* another tenant's transitions do not verify for this one */
    struct audit_trusted_keys other = {.n = 0};
    assert_int_equal(audit_trusted_keys_add(&other, k[2].pub), ERR_OK);
    assert_int_equal(
        audit_trusted_keys_extend(&other, STR_LIT("00000000-0000-4000-8000-000000000000"), t, 3),
        ERR_OK);
    assert_int_equal(other.n, 1);
    /* trusting only k1 does not reach forward to k2 */
    struct audit_trusted_keys back = {.n = 0};
    assert_int_equal(audit_trusted_keys_add(&back, k[1].pub), ERR_OK);
    assert_int_equal(audit_trusted_keys_extend(&back, STR_LIT(TENANT), t, 3), ERR_OK);
    assert_int_equal(back.n, 2);
    for (int i = 0; i < 4; i++)
        sign_key_wipe(&k[i]);
}

/* An export whose checkpoint is by an old key verifies through its key_transition line. */
static void test_verify_export_transition(void **state)
{
    struct chain *c = chain_new();
    chain_sign(c, &c->other, N); /* signed before a rotation, by the old key */
    struct audit_key_transition t;
    char line[1024];
    transition(&c->key, c->other.pub, NULL, &t, line, sizeof line);
    FILE *f = tmpfile();
    write_export(f, c, false, line);
    struct audit_verify_result r = verify_file(f, &c->trusted);
    assert_int_equal(r.kind, AUDIT_OK);
    assert_int_equal(r.checkpoints, 1);
    /* without the transition the old key is unknown */
    f = tmpfile();
    write_export(f, c, false, NULL);
    r = verify_file(f, &c->trusted);
    assert_int_equal(r.kind, AUDIT_BREAK_CHECKPOINT_KEY);
    /* a transition signed by the old key itself proves nothing */
    transition(&c->key, c->other.pub, &c->other, &t, line, sizeof line);
    f = tmpfile();
    write_export(f, c, false, line);
    r = verify_file(f, &c->trusted);
    assert_int_equal(r.kind, AUDIT_BREAK_CHECKPOINT_KEY);
    /* transitions come before the chain: one after the first entry is out of place */
    transition(&c->key, c->other.pub, NULL, &t, line, sizeof line);
    f = tmpfile();
    write_export(f, c, false, NULL);
    static char all[1 << 16];
    size_t n = fread(all, 1, sizeof all - 1, f);
    fclose(f);
    all[n] = '\0';
    char *second = strchr(all, '\n') + 1;
    f = tmpfile();
    fwrite(all, 1, (size_t)(second - all), f);
    fputs(line, f);
    fputs(second, f);
    rewind(f);
    r = verify_file(f, &c->trusted);
    assert_int_equal(r.kind, AUDIT_BREAK_MALFORMED);
    assert_non_null(strstr(r.why, "line 2: a key transition out of place"));
    free(c);
}

/* ---- checkpoint message, PEM, base64 -------------------------------------------- */

static void test_checkpoint_message(void **state)
{
    struct buf b = BUF_INIT(512);
    assert_int_equal(audit_checkpoint_message(STR_LIT(TENANT), 12, STR_LIT("abcd"),
                                              STR_LIT("2024-05-01T12:34:56.123456Z"), &b),
                     ERR_OK);
    assert_string_equal(buf_cstr(&b), "shiplog-audit-checkpoint-v1\n" TENANT
                                      "\n12\nabcd\n2024-05-01T12:34:56.123456Z\n");
    buf_release(&b);
}

static void test_pem(void **state)
{
    unsigned char pub[SIGN_PUBLIC_LEN], back[SIGN_PUBLIC_LEN];
    for (size_t i = 0; i < sizeof pub; i++)
        pub[i] = (unsigned char)(i * 7 + 1);
    struct buf b = BUF_INIT(512);
    assert_int_equal(audit_public_key_pem(pub, &b), ERR_OK);
    assert_non_null(strstr(buf_cstr(&b), "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
    assert_int_equal(audit_public_key_from_pem(str_from(b.data, b.len), back), ERR_OK);
    assert_memory_equal(pub, back, sizeof pub);
    /* two blocks, an RSA-sized body, junk */
    struct buf two = BUF_INIT(2048);
    assert_int_equal(buf_append(&two, b.data, b.len), ERR_OK);
    assert_int_equal(buf_append(&two, b.data, b.len), ERR_OK);
    assert_int_equal(audit_public_key_from_pem(str_from(two.data, two.len), back), ERR_INVALID);
    assert_int_equal(
        audit_public_key_from_pem(
            STR_LIT("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"),
            back),
        ERR_INVALID);
    assert_int_equal(audit_public_key_from_pem(STR_LIT("hello"), back), ERR_INVALID);
    buf_release(&b);
    buf_release(&two);
}

static void test_base64(void **state)
{
    static const struct {
        const char *plain, *enc;
    } v[] = {{"", ""},
             {"f", "Zg=="},
             {"fo", "Zm8="},
             {"foo", "Zm9v"},
             {"foob", "Zm9vYg=="},
             {"fooba", "Zm9vYmE="},
             {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct buf b = BUF_INIT(64);
        assert_int_equal(base64_encode(&b, v[i].plain, strlen(v[i].plain)), ERR_OK);
        assert_string_equal(buf_cstr(&b), v[i].enc);
        unsigned char out[16];
        size_t n = 99;
        assert_int_equal(base64_decode(str_from_cstr(v[i].enc), out, sizeof out, &n), ERR_OK);
        assert_int_equal(n, strlen(v[i].plain));
        assert_memory_equal(out, v[i].plain, n);
        buf_release(&b);
    }
    unsigned char out[4];
    size_t n;
    assert_int_equal(base64_decode(STR_LIT("Zm9v\nYmFy"), out, 6 - 2, &n), ERR_LIMIT);
    assert_int_equal(base64_decode(STR_LIT("Zm9"), out, sizeof out, &n), ERR_INVALID);
    assert_int_equal(base64_decode(STR_LIT("Zh=="), out, sizeof out, &n), ERR_INVALID); /* bits */
    assert_int_equal(base64_decode(STR_LIT("Zg==Zg=="), out, sizeof out, &n), ERR_INVALID);
    assert_int_equal(base64_decode(STR_LIT("Z==="), out, sizeof out, &n), ERR_INVALID);
    assert_int_equal(base64_decode(STR_LIT("Zm9*"), out, sizeof out, &n), ERR_INVALID);
    assert_int_equal(base64_decode(STR_LIT(" Zm9v \n"), out, sizeof out, &n), ERR_OK);
    assert_int_equal(n, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_bytes),
        cmocka_unit_test(test_canonical_unambiguous),
        cmocka_unit_test(test_details_sorted_redacted),
        cmocka_unit_test(test_details_limits),
        cmocka_unit_test(test_action_valid),
        cmocka_unit_test(test_verify_ok),
        cmocka_unit_test(test_verify_missing),
        cmocka_unit_test(test_verify_content),
        cmocka_unit_test(test_verify_reordered),
        cmocka_unit_test(test_verify_wrong_link),
        cmocka_unit_test(test_verify_truncated),
        cmocka_unit_test(test_verify_rewritten),
        cmocka_unit_test(test_verify_checkpoint_signature),
        cmocka_unit_test(test_verify_checkpoint_unknown_key),
        cmocka_unit_test(test_verify_head),
        cmocka_unit_test(test_verify_malformed),
        cmocka_unit_test(test_verify_first_break_wins),
        cmocka_unit_test(test_verify_resume),
        cmocka_unit_test(test_export_parse),
        cmocka_unit_test(test_export_line_limit),
        cmocka_unit_test(test_verify_export_file),
        cmocka_unit_test(test_key_transition_message),
        cmocka_unit_test(test_trusted_keys_extend),
        cmocka_unit_test(test_verify_export_transition),
        cmocka_unit_test(test_checkpoint_message),
        cmocka_unit_test(test_pem),
        cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
