/*
 * Outbox suite (A11): the mail outbox against a real database and a real SMTP
 * server on loopback.
 *
 *   SHIPLOG_TEST_PG_OWNER_URL and SHIPLOG_TEST_PG_APP_URL set: PostgreSQL
 *   (migrations with the owner, everything else with the application role);
 *   otherwise SQLite in a fresh mkdtemp directory.
 *   SHIPLOG_TEST_SMTP_URL / _SMTP_MAIL_DIR / _SMTPSINK / _SMTPSINK_DIR from
 *   scripts/smtpsink: the SMTP tests (skipped without them).
 *
 * Covered: field limits at and one past each OUTBOX_MAX_*, header injection
 * and malformed input refused; the message format (headers, RFC 2047 subject,
 * quoted-printable body, CRLF, line lengths); mail committed is delivered,
 * mail rolled back never exists; .eml file content and mode; SMTP delivery;
 * SMTP down: retried with doubling backoff, delivered when it is back;
 * refused mail dead after OUTBOX_MAX_ATTEMPTS; two tenants both delivered
 * while each tenant transaction sees only its rows (PostgreSQL: even a forged
 * statement, and a connection without a tenant sees nothing); the due-tenants
 * query returns ids only (PostgreSQL: the SECURITY DEFINER function's shape
 * and grants); concurrent rounds never deliver a mail twice; the sender
 * thread with a kick, and its stop.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "core/config.h"
#include "outbox/outbox.h"
#include "storage/storage.h"

struct suite {
    bool pg;
    char dir[64];
    char db_path[128];
    char data_dir[128];
    const char *app_url;
    struct storage *s;
    struct config cfg_eml;  /* no SMTP: .eml files */
    struct config cfg_smtp; /* the smtpsink server */
    bool smtp;
    const char *mail_dir;
};

static struct suite S;

static int load_cfg(struct config *c, const char *smtp_url)
{
    char data[256], url[512];
    snprintf(data, sizeof data, "SHIPLOG_DATA_DIR=%s", S.data_dir);
    snprintf(url, sizeof url, "SHIPLOG_SMTP_URL=%s", smtp_url ? smtp_url : "");
    const char *env[] = {data, "SHIPLOG_MAIL_FROM=shiplog@example.test", smtp_url ? url : NULL,
                         NULL};
    struct buf msg = BUF_INIT(1024);
    enum err e = config_load(c, env, &msg);
    if (e)
        fprintf(stderr, "# config: %s\n", buf_cstr(&msg));
    buf_release(&msg);
    return e ? -1 : 0;
}

static int suite_setup(void **state)
{
    const char *owner = getenv("SHIPLOG_TEST_PG_OWNER_URL");
    const char *app = getenv("SHIPLOG_TEST_PG_APP_URL");
    S.pg = owner && owner[0] && app && app[0];
    S.app_url = app;
    snprintf(S.dir, sizeof S.dir, "/tmp/shiplog-outbox-XXXXXX");
    if (!mkdtemp(S.dir))
        return -1;
    snprintf(S.db_path, sizeof S.db_path, "%s/shiplog.db", S.dir);
    snprintf(S.data_dir, sizeof S.data_dir, "%s/data", S.dir);
    if (mkdir(S.data_dir, 0700) != 0)
        return -1;
    struct storage_options o = {.pool_size = 8, .statement_timeout_ms = 30000};
    struct buf detail = BUF_INIT(2048);
    enum err e;
    if (S.pg) {
        struct storage *ow = NULL;
        struct storage_options oo = {.database_url = owner, .pool_size = 2};
        e = storage_open_migrator(&oo, &ow, &detail);
        if (!e) {
            e = storage_migrate(ow, &detail);
            storage_close(ow);
        }
        o.database_url = app;
        if (!e)
            e = storage_open(&o, &S.s, &detail);
    } else {
        o.sqlite_path = S.db_path;
        e = storage_open(&o, &S.s, &detail);
        if (!e)
            e = storage_migrate(S.s, &detail);
    }
    if (e) {
        fprintf(stderr, "# setup: %s: %s\n", err_name(e), buf_cstr(&detail));
        buf_release(&detail);
        return -1;
    }
    buf_release(&detail);
    if (load_cfg(&S.cfg_eml, NULL) != 0)
        return -1;
    const char *smtp = getenv("SHIPLOG_TEST_SMTP_URL");
    S.mail_dir = getenv("SHIPLOG_TEST_SMTP_MAIL_DIR");
    S.smtp = smtp && smtp[0] && S.mail_dir && S.mail_dir[0];
    if (S.smtp && load_cfg(&S.cfg_smtp, smtp) != 0)
        return -1;
    printf("# backend: %s, smtp: %s\n", storage_backend_name(storage_backend_of(S.s)),
           S.smtp ? "yes" : "no (SMTP tests skipped)");
    return 0;
}

static int suite_teardown(void **state)
{
    storage_close(S.s);
    config_release(&S.cfg_eml);
    if (S.smtp)
        config_release(&S.cfg_smtp);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", S.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", S.dir);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static void new_tenant(struct tenant_ctx *t)
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, b, sizeof b), (ssize_t)sizeof b);
    close(fd);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            t->id[o++] = '-';
        t->id[o++] = hex[b[i] >> 4];
        t->id[o++] = hex[b[i] & 15];
    }
    t->id[o] = '\0';
}

static void enqueue(const struct tenant_ctx *t, const char *to, const char *subject,
                    const char *body)
{
    struct outbox_mail m = {.to = to, .subject = subject, .body = body};
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(outbox_enqueue(tx, &m), ERR_OK);
    assert_int_equal(storage_commit(tx), ERR_OK);
}

/* The tenant's one mail: id, status, attempts, last_error (NULL-able). */
struct row {
    int n; /* rows the tenant has */
    char id[OUTBOX_ID_LEN + 1];
    char status[16];
    int64_t attempts;
    bool has_error;
};

static struct row the_row(const struct tenant_ctx *t)
{
    struct row r = {0};
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, t, TX_READ, &tx), ERR_OK);
    struct stmt *st = NULL;
    assert_int_equal(tx_prepare(tx,
                                storage_tx_backend(tx) == STORAGE_POSTGRES
                                    ? "SELECT id, status, attempts, last_error FROM mail_outbox"
                                      " WHERE tenant_id = $1::uuid ORDER BY created_at, id"
                                    : "SELECT id, status, attempts, last_error FROM mail_outbox"
                                      " WHERE tenant_id = $1 ORDER BY created_at, id",
                                &st),
                     ERR_OK);
    bool row = false;
    while (stmt_step(st, &row) == ERR_OK && row) {
        if (r.n++ == 0) {
            struct str id = stmt_col_text(st, 0), status = stmt_col_text(st, 1);
            snprintf(r.id, sizeof r.id, "%.*s", (int)id.len, id.ptr);
            snprintf(r.status, sizeof r.status, "%.*s", (int)status.len, status.ptr);
            r.attempts = stmt_col_int(st, 2);
            r.has_error = !stmt_col_is_null(st, 3);
        }
    }
    stmt_finish(st);
    storage_rollback(tx);
    return r;
}

static struct outbox_round round_at(struct config *cfg, int64_t now)
{
    struct outbox_transport tr = {.cfg = cfg, .data_dir = S.data_dir};
    struct outbox_round r;
    assert_int_equal(outbox_run_round(S.s, &tr, now, NULL, &r), ERR_OK);
    return r;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *p = calloc(1, OUTBOX_MAX_BODY * 4 + 16384);
    assert_non_null(p);
    *len = fread(p, 1, OUTBOX_MAX_BODY * 4 + 16383, f);
    fclose(f);
    return p;
}

/* Files in the SMTP sink holding needle; *content gets the last one (caller frees). */
static int sink_find(const char *needle, char **content)
{
    DIR *d = opendir(S.mail_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", S.mail_dir, de->d_name);
        size_t len = 0;
        char *p = read_file(path, &len);
        if (p && strstr(p, needle)) {
            n++;
            if (content) {
                free(*content);
                *content = p;
                p = NULL;
            }
        }
        free(p);
    }
    closedir(d);
    return n;
}

static void sink_ctl(const char *verb)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s '%s' >/dev/null", getenv("SHIPLOG_TEST_SMTPSINK"), verb,
             getenv("SHIPLOG_TEST_SMTPSINK_DIR"));
    assert_int_equal(system(cmd), 0);
}

static void fill(char *p, char c, size_t n)
{
    memset(p, c, n);
    p[n] = '\0';
}

/* ---- input checks ---------------------------------------------------------------- */

static void test_limits(void **state)
{
    static char to[OUTBOX_MAX_ADDR + 2], subj[OUTBOX_MAX_SUBJECT + 2], body[OUTBOX_MAX_BODY + 2];
    /* an address of exactly OUTBOX_MAX_ADDR bytes: 64-byte local part, 63-byte labels */
    fill(to, 'a', 64);
    to[64] = '@';
    size_t o = 65;
    while (o < OUTBOX_MAX_ADDR) {
        size_t n = OUTBOX_MAX_ADDR - o > 63 ? 63 : OUTBOX_MAX_ADDR - o;
        if (n > 1 && OUTBOX_MAX_ADDR - o - n == 1)
            n--; /* never leave a 0-byte label */
        memset(to + o, 'b', n);
        o += n;
        if (o < OUTBOX_MAX_ADDR)
            to[o++] = '.';
    }
    to[o] = '\0';
    assert_int_equal(strlen(to), OUTBOX_MAX_ADDR);
    fill(subj, 's', OUTBOX_MAX_SUBJECT);
    fill(body, 'b', OUTBOX_MAX_BODY);
    struct outbox_mail m = {.to = to, .subject = subj, .body = body};
    assert_int_equal(outbox_mail_check(&m), ERR_OK);

    char to_long[OUTBOX_MAX_ADDR + 2];
    memcpy(to_long, to, OUTBOX_MAX_ADDR);
    to_long[OUTBOX_MAX_ADDR] = 'c';
    to_long[OUTBOX_MAX_ADDR + 1] = '\0';
    m.to = to_long;
    assert_int_equal(outbox_mail_check(&m), ERR_LIMIT);
    m.to = to;
    fill(subj, 's', OUTBOX_MAX_SUBJECT + 1);
    assert_int_equal(outbox_mail_check(&m), ERR_LIMIT);
    fill(subj, 's', OUTBOX_MAX_SUBJECT);
    fill(body, 'b', OUTBOX_MAX_BODY + 1);
    assert_int_equal(outbox_mail_check(&m), ERR_LIMIT);

    /* header injection and malformed fields */
    struct outbox_mail bad[] = {
        {"a@example.test", "hi\r\nBcc: victim@example.test", "x"},
        {"a@example.test", "hi\nBcc: victim@example.test", "x"},
        {"a@example.test", "hi\rthere", "x"},
        {"a@example.test", "tab\there", "x"},
        {"a@example.test\r\nBcc: victim@example.test", "hi", "x"},
        {"a@example.test>", "hi", "x"},
        {"Name <a@example.test>", "hi", "x"},
        {"a@@example.test", "hi", "x"},
        {"@example.test", "hi", "x"},
        {"a@", "hi", "x"},
        {"a.@example.test", "hi", "x"},
        {"a..b@example.test", "hi", "x"},
        {"a@-example.test", "hi", "x"},
        {"a@example..test", "hi", "x"},
        {"\xc3\xa9@example.test", "hi", "x"},
        {"a@example.test", "\xff\xfe", "x"},
        {"a@example.test", "hi", "bad \xc3 utf-8"},
        {NULL, "hi", "x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (outbox_mail_check(&bad[i]) != ERR_INVALID)
            fail_msg("case %zu accepted", i);
    }

    /* enqueue refuses the same before touching the database */
    struct tenant_ctx t;
    new_tenant(&t);
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(outbox_enqueue(tx, &bad[0]), ERR_INVALID);
    m.to = to;
    assert_int_equal(outbox_enqueue(tx, &m), ERR_LIMIT);
    assert_int_equal(storage_commit(tx), ERR_OK);
    assert_int_equal(the_row(&t).n, 0);
}

static void test_format(void **state)
{
    static char body[8192];
    /* a long line, trailing blanks, a leading dot, '=', a tab, LF and CRLF line ends */
    snprintf(body, sizeof body,
             "%s\n.dot line\nends with space \r\nequals = sign\tand tab\n\nlast line, no break",
             "0123456789012345678901234567890123456789012345678901234567890123456789012345678901"
             "234567890123456789\xc3\xa9");
    const char *subj = "R\xc3\xa9sum\xc3\xa9 "
                       "\xe2\x9c\x93 long enough to need two encoded words, or even three of them";
    struct buf out = BUF_INIT(65536);
    assert_int_equal(outbox_format_message("0123456789abcdef0123456789abcdef",
                                           "shiplog@example.test", "bob@example.test", subj, body,
                                           0, &out),
                     ERR_OK);
    const char *m = buf_cstr(&out);
    assert_non_null(strstr(m, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
    assert_non_null(
        strstr(m, "\r\nMessage-ID: <0123456789abcdef0123456789abcdef@example.test>\r\n"));
    assert_non_null(strstr(m, "\r\nFrom: shiplog@example.test\r\nTo: bob@example.test\r\n"));
    assert_non_null(strstr(m, "\r\nSubject: =?UTF-8?B?"));
    assert_non_null(strstr(m, "?=\r\n =?UTF-8?B?")); /* folded */
    assert_non_null(strstr(m, "\r\nMIME-Version: 1.0\r\n"));
    assert_non_null(strstr(m, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    assert_non_null(strstr(m, "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"));
    assert_non_null(strstr(m, "=C3=A9"));
    assert_non_null(strstr(m, "\r\n=2Edot line\r\n"));
    assert_non_null(strstr(m, "\r\nends with space=20\r\n"));
    assert_non_null(strstr(m, "\r\nequals =3D sign\tand tab\r\n\r\nlast line, no break\r\n"));
    /* CRLF only, every line at most 78 characters (76 in the body) */
    size_t col = 0;
    for (size_t i = 0; i < out.len; i++) {
        if (m[i] == '\n') {
            assert_true(i > 0 && m[i - 1] == '\r');
            col = 0;
        } else if (m[i] != '\r') {
            col++;
            assert_true(col <= 78);
        } else {
            assert_true(i + 1 < out.len && m[i + 1] == '\n');
        }
        assert_true((unsigned char)m[i] < 0x80); /* 7-bit on the wire */
    }
    buf_release(&out);

    /* a plain ASCII subject is kept as is; "=?" in it is encoded */
    struct buf o2 = BUF_INIT(4096);
    assert_int_equal(outbox_format_message("0123456789abcdef0123456789abcdef", "a@example.test",
                                           "b@example.test", "Hello there", "x", 0, &o2),
                     ERR_OK);
    assert_non_null(strstr(buf_cstr(&o2), "\r\nSubject: Hello there\r\n"));
    buf_reset(&o2);
    assert_int_equal(outbox_format_message("0123456789abcdef0123456789abcdef", "a@example.test",
                                           "b@example.test", "=?x?Q?y?=", "x", 0, &o2),
                     ERR_OK);
    assert_non_null(strstr(buf_cstr(&o2), "\r\nSubject: =?UTF-8?B?"));
    buf_release(&o2);
}

/* ---- delivery as .eml files ------------------------------------------------------ */

static void test_committed_mail_written_as_eml(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    enqueue(&t, "alice@example.test", "Caf\xc3\xa9 ready", "Hello \xc3\xa9\nSecond line\n");
    struct row r = the_row(&t);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.status, "pending");
    assert_int_equal(r.attempts, 0);

    struct outbox_round rd = round_at(&S.cfg_eml, (int64_t)time(NULL));
    assert_true(rd.sent >= 1);
    r = the_row(&t);
    assert_string_equal(r.status, "sent");
    assert_int_equal(r.attempts, 1);
    assert_false(r.has_error);

    char path[512];
    snprintf(path, sizeof path, "%s/outbox/%s.eml", S.data_dir, r.id);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    size_t len = 0;
    char *p = read_file(path, &len);
    assert_non_null(p);
    assert_true(strncmp(p, "Date: ", 6) == 0);
    assert_non_null(strstr(p, "\r\nTo: alice@example.test\r\n"));
    assert_non_null(strstr(p, "\r\nFrom: shiplog@example.test\r\n"));
    assert_non_null(strstr(p, "\r\nSubject: =?UTF-8?B?"));
    assert_non_null(strstr(p, "\r\n\r\nHello =C3=A9\r\nSecond line\r\n"));
    free(p);
    /* no temporary file left behind */
    snprintf(path, sizeof path, "%s/outbox/.%s.tmp", S.data_dir, r.id);
    assert_int_not_equal(access(path, F_OK), 0);

    /* a second round sends nothing again */
    rd = round_at(&S.cfg_eml, (int64_t)time(NULL) + 10 * OUTBOX_LEASE_S);
    r = the_row(&t);
    assert_string_equal(r.status, "sent");
    assert_int_equal(r.attempts, 1);
}

static void test_rolled_back_mail_never_exists(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    struct outbox_mail m = {.to = "carol@example.test", .subject = "rolled back", .body = "no"};
    struct tx *tx = NULL;
    assert_int_equal(storage_begin(S.s, &t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(outbox_enqueue(tx, &m), ERR_OK);
    storage_rollback(tx);

    /* a transaction that fails after the enqueue is rolled back by commit */
    assert_int_equal(storage_begin(S.s, &t, TX_WRITE, &tx), ERR_OK);
    assert_int_equal(outbox_enqueue(tx, &m), ERR_OK);
    /* a CHECK violation at run time (attempts >= 0) */
    assert_int_not_equal(tx_exec(tx, S.pg ? "UPDATE mail_outbox SET attempts = -1"
                                            " WHERE tenant_id = $1::uuid"
                                          : "UPDATE mail_outbox SET attempts = -1"
                                            " WHERE tenant_id = $1"),
                         ERR_OK);
    assert_int_not_equal(storage_commit(tx), ERR_OK);

    assert_int_equal(the_row(&t).n, 0);
    struct outbox_round rd = round_at(&S.cfg_eml, (int64_t)time(NULL));
    (void)rd;
    assert_int_equal(the_row(&t).n, 0);
}

/* ---- SMTP -------------------------------------------------------------------------- */

static void test_smtp_delivery(void **state)
{
    if (!S.smtp)
        skip();
    struct tenant_ctx t;
    new_tenant(&t);
    char subject[96];
    snprintf(subject, sizeof subject, "smtp delivery %s", t.id);
    enqueue(&t, "bob@example.test", subject, "Line one\n.leading dot\nCaf\xc3\xa9\n");
    struct outbox_round rd = round_at(&S.cfg_smtp, (int64_t)time(NULL));
    assert_true(rd.sent >= 1);
    assert_string_equal(the_row(&t).status, "sent");
    char *msg = NULL;
    assert_int_equal(sink_find(subject, &msg), 1);
    assert_non_null(strstr(msg, "X-Envelope-From: shiplog@example.test\r\n"));
    assert_non_null(strstr(msg, "X-Envelope-To: bob@example.test\r\n"));
    assert_non_null(strstr(msg, "\r\nTo: bob@example.test\r\n"));
    assert_non_null(strstr(msg, "Content-Type: text/plain; charset=utf-8\r\n"));
    assert_non_null(strstr(msg, "\r\n\r\nLine one\r\n=2Eleading dot\r\nCaf=C3=A9\r\n"));
    free(msg);
}

static void test_smtp_down_retried_with_backoff(void **state)
{
    if (!S.smtp)
        skip();
    struct tenant_ctx t;
    new_tenant(&t);
    char subject[96];
    snprintf(subject, sizeof subject, "retried %s", t.id);
    enqueue(&t, "dave@example.test", subject, "after the outage");
    int64_t now = (int64_t)time(NULL);

    sink_ctl("stop");
    struct outbox_round rd = round_at(&S.cfg_smtp, now);
    assert_true(rd.failed >= 1);
    struct row r = the_row(&t);
    assert_string_equal(r.status, "pending");
    assert_int_equal(r.attempts, 1);
    assert_true(r.has_error);

    /* not before the first backoff */
    round_at(&S.cfg_smtp, now + OUTBOX_BACKOFF_BASE_S - 1);
    assert_int_equal(the_row(&t).attempts, 1);
    /* second failure: the wait doubles */
    round_at(&S.cfg_smtp, now + OUTBOX_BACKOFF_BASE_S);
    assert_int_equal(the_row(&t).attempts, 2);
    int64_t second = now + OUTBOX_BACKOFF_BASE_S;
    round_at(&S.cfg_smtp, second + 2 * OUTBOX_BACKOFF_BASE_S - 1);
    assert_int_equal(the_row(&t).attempts, 2);

    sink_ctl("start");
    assert_int_equal(sink_find(subject, NULL), 0);
    rd = round_at(&S.cfg_smtp, second + 2 * OUTBOX_BACKOFF_BASE_S);
    r = the_row(&t);
    assert_string_equal(r.status, "sent");
    assert_int_equal(r.attempts, 3);
    assert_false(r.has_error);
    assert_int_equal(sink_find(subject, NULL), 1);
}

static void test_refused_mail_goes_dead(void **state)
{
    if (!S.smtp)
        skip();
    struct tenant_ctx t;
    new_tenant(&t);
    enqueue(&t, "reject-me@example.test", "refused", "never delivered");
    int64_t now = (int64_t)time(NULL);
    for (int i = 1; i <= OUTBOX_MAX_ATTEMPTS; i++) {
        round_at(&S.cfg_smtp, now);
        struct row r = the_row(&t);
        assert_int_equal(r.attempts, i);
        assert_string_equal(r.status, i < OUTBOX_MAX_ATTEMPTS ? "pending" : "dead");
        assert_true(r.has_error);
        now += OUTBOX_BACKOFF_MAX_S + 1;
    }
    /* dead mail is never tried again */
    round_at(&S.cfg_smtp, now + 100 * OUTBOX_BACKOFF_MAX_S);
    assert_int_equal(the_row(&t).attempts, OUTBOX_MAX_ATTEMPTS);
}

/* ---- tenants --------------------------------------------------------------------------- */

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

static void test_two_tenants(void **state)
{
    struct tenant_ctx a, b;
    new_tenant(&a);
    new_tenant(&b);
    enqueue(&a, "a1@example.test", "for a", "one");
    enqueue(&a, "a2@example.test", "for a", "two");
    enqueue(&b, "b1@example.test", "for b", "three");
    const char *own = S.pg ? "SELECT count(*) FROM mail_outbox WHERE tenant_id = $1::uuid"
                           : "SELECT count(*) FROM mail_outbox WHERE tenant_id = $1";
    assert_int_equal(count_in(&a, own), 2);
    assert_int_equal(count_in(&b, own), 1);
    if (S.pg) {
        /* a forged statement ignoring the tenant still sees only its own rows */
        const char *forged = "SELECT count(*) FROM mail_outbox WHERE $1::text IS NOT NULL";
        assert_int_equal(count_in(&a, forged), 2);
        assert_int_equal(count_in(&b, forged), 1);
    }
    struct outbox_round rd = round_at(&S.cfg_eml, (int64_t)time(NULL));
    assert_true(rd.sent >= 3);
    const char *sent = S.pg ? "SELECT count(*) FROM mail_outbox WHERE tenant_id = $1::uuid"
                              " AND status = 'sent'"
                            : "SELECT count(*) FROM mail_outbox WHERE tenant_id = $1"
                              " AND status = 'sent'";
    assert_int_equal(count_in(&a, sent), 2);
    assert_int_equal(count_in(&b, sent), 1);
}

struct seen {
    int n;
    char want[STORAGE_TENANT_ID_LEN + 1];
    bool found;
};

static enum err seen_cb(void *arg, const char *id)
{
    struct seen *s = arg;
    s->n++;
    if (strcmp(id, s->want) == 0)
        s->found = true;
    return ERR_OK;
}

static void test_due_tenants(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    enqueue(&t, "erin@example.test", "due", "body");
    int64_t now = (int64_t)time(NULL);
    struct seen sn = {0};
    snprintf(sn.want, sizeof sn.want, "%s", t.id);
    assert_int_equal(
        storage_pending_outbox_tenants(S.s, now, STORAGE_MAX_DUE_TENANTS, seen_cb, &sn), ERR_OK);
    assert_true(sn.found);
    /* not due yet at an earlier time */
    struct seen early = {0};
    snprintf(early.want, sizeof early.want, "%s", t.id);
    assert_int_equal(storage_pending_outbox_tenants(S.s, now - 3600, 10, seen_cb, &early), ERR_OK);
    assert_false(early.found);
    /* max is a named limit */
    assert_int_equal(storage_pending_outbox_tenants(S.s, now, 0, seen_cb, &sn), ERR_INVALID);
    assert_int_equal(
        storage_pending_outbox_tenants(S.s, now, STORAGE_MAX_DUE_TENANTS + 1, seen_cb, &sn),
        ERR_INVALID);
    struct seen one = {0};
    assert_int_equal(storage_pending_outbox_tenants(S.s, now, 1, seen_cb, &one), ERR_OK);
    assert_int_equal(one.n, 1);

    if (S.pg) {
        PGconn *c = PQconnectdb(S.app_url);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        /* without a tenant the application role sees no mail at all */
        PGresult *res = PQexec(c, "SELECT count(*) FROM mail_outbox");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(res, 0, 0), "0");
        PQclear(res);
        /* the function returns one column of uuids: ids, never content */
        res = PQexec(c, "SELECT * FROM shiplog_outbox_due_tenants(now() + interval '1 day', 1000)");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_int_equal(PQnfields(res), 1);
        assert_int_equal(PQftype(res, 0), 2950); /* UUIDOID */
        bool found = false;
        for (int i = 0; i < PQntuples(res); i++)
            found = found || strcmp(PQgetvalue(res, i, 0), t.id) == 0;
        assert_true(found);
        PQclear(res);
        /* SECURITY DEFINER with a fixed search_path, executable by shiplog_app, not PUBLIC */
        res = PQexec(c, "SELECT prosecdef, array_to_string(proconfig, ','), proacl::text,"
                        " pg_get_userbyid(proowner)"
                        " FROM pg_proc WHERE proname = 'shiplog_outbox_due_tenants'");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_int_equal(PQntuples(res), 1);
        assert_string_equal(PQgetvalue(res, 0, 0), "t");
        assert_non_null(strstr(PQgetvalue(res, 0, 1), "search_path=public, pg_temp"));
        const char *acl = PQgetvalue(res, 0, 2);
        assert_non_null(strstr(acl, "shiplog_app=X/"));
        assert_null(strstr(acl, "{=X"));
        assert_null(strstr(acl, ",=X"));
        PQclear(res);
        /* the application role cannot delete mail, nor read another tenant's by id */
        res = PQexec(c, "BEGIN");
        PQclear(res);
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT set_config('app.tenant_id', '%s', true)", t.id);
        res = PQexec(c, sql);
        PQclear(res);
        res = PQexec(c, "DELETE FROM mail_outbox");
        assert_int_not_equal(PQresultStatus(res), PGRES_COMMAND_OK);
        PQclear(res);
        res = PQexec(c, "ROLLBACK");
        PQclear(res);
        PQfinish(c);
    }
    round_at(&S.cfg_eml, now);
    assert_string_equal(the_row(&t).status, "sent");
}

/* ---- concurrency and the sender thread --------------------------------------------------- */

#define CONCURRENT_MAILS 20

struct racer {
    unsigned sent;
    int64_t now;
};

static void *race_main(void *arg)
{
    struct racer *r = arg;
    struct outbox_transport tr = {.cfg = &S.cfg_eml, .data_dir = S.data_dir};
    for (int i = 0; i < 5; i++) {
        struct outbox_round rd;
        if (outbox_run_round(S.s, &tr, r->now, NULL, &rd) == ERR_OK)
            r->sent += rd.sent;
    }
    return NULL;
}

static void test_concurrent_rounds_deliver_once(void **state)
{
    struct tenant_ctx t;
    new_tenant(&t);
    for (int i = 0; i < CONCURRENT_MAILS; i++)
        enqueue(&t, "frank@example.test", "race", "body");
    /* drain everything else first, so only this tenant's mail is due */
    int64_t now = (int64_t)time(NULL);
    struct racer r[2] = {{.now = now}, {.now = now}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_main, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(r[0].sent + r[1].sent, CONCURRENT_MAILS);
    const char *sent = S.pg ? "SELECT count(*) FROM mail_outbox WHERE tenant_id = $1::uuid"
                              " AND status = 'sent' AND attempts = 1"
                            : "SELECT count(*) FROM mail_outbox WHERE tenant_id = $1"
                              " AND status = 'sent' AND attempts = 1";
    assert_int_equal(count_in(&t, sent), CONCURRENT_MAILS);
}

static void test_sender_thread_kick_and_stop(void **state)
{
    struct outbox_sender *sd = NULL;
    assert_int_equal(outbox_sender_start(S.s, &S.cfg_eml, S.data_dir, &sd), ERR_OK);
    /* let the first round pass, so only the kick can send the new mail quickly */
    usleep(200 * 1000);
    struct tenant_ctx t;
    new_tenant(&t);
    enqueue(&t, "gina@example.test", "kicked", "now");
    outbox_sender_kick();
    bool sent = false;
    for (int i = 0; i < 40 && !sent; i++) { /* 2 s, well under OUTBOX_POLL_S */
        usleep(50 * 1000);
        sent = strcmp(the_row(&t).status, "sent") == 0;
    }
    assert_true(sent);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    outbox_sender_stop(sd);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(b.tv_sec - a.tv_sec < 2); /* an idle sender stops at once */
    outbox_sender_stop(NULL);
}

static void test_sender_start_config(void **state)
{
    struct config bad;
    char data[256];
    snprintf(data, sizeof data, "SHIPLOG_DATA_DIR=%s", S.data_dir);
    struct buf msg = BUF_INIT(1024);
    const char *env1[] = {data, "SHIPLOG_SMTP_URL=http://example.test/", NULL};
    assert_int_equal(config_load(&bad, env1, &msg), ERR_CONFIG);
    config_release(&bad);
    buf_reset(&msg);
    const char *env2[] = {data, "SHIPLOG_MAIL_FROM=not an address", NULL};
    assert_int_equal(config_load(&bad, env2, &msg), ERR_CONFIG);
    config_release(&bad);
    buf_reset(&msg);
    const char *env3[] = {data, "SHIPLOG_SMTP_PASSWORD=x", NULL};
    assert_int_equal(config_load(&bad, env3, &msg), ERR_CONFIG);
    config_release(&bad);
    buf_reset(&msg);
    /* the default sender address follows the public URL's host */
    const char *env4[] = {data, "SHIPLOG_PUBLIC_URL=https://ship.example.test", NULL};
    assert_int_equal(config_load(&bad, env4, &msg), ERR_OK);
    assert_string_equal(bad.mail_from, "shiplog@ship.example.test");
    config_release(&bad);
    buf_release(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_committed_mail_written_as_eml),
        cmocka_unit_test(test_rolled_back_mail_never_exists),
        cmocka_unit_test(test_smtp_delivery),
        cmocka_unit_test(test_smtp_down_retried_with_backoff),
        cmocka_unit_test(test_refused_mail_goes_dead),
        cmocka_unit_test(test_two_tenants),
        cmocka_unit_test(test_due_tenants),
        cmocka_unit_test(test_concurrent_rounds_deliver_once),
        cmocka_unit_test(test_sender_thread_kick_and_stop),
        cmocka_unit_test(test_sender_start_config),
    };
    return cmocka_run_group_tests_name("outbox", tests, suite_setup, suite_teardown);
}
