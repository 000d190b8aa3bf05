/*
 * outbox — durable outgoing mail; see outbox.h for the design.
 *
 * Sections: input checks and enqueue; the message format (RFC 5322, RFC 2047
 * subject, quoted-printable body); delivery (.eml file or SMTP); claiming and
 * recording rows; the round; the sender thread and its process-wide kick.
 *
 * SQL differs per dialect only in time handling: PostgreSQL stores
 * timestamptz (to_timestamp / extract(epoch)), SQLite Unix seconds. All
 * times come from the caller (no now() in SQL), so tests drive the clock.
 */
#include "outbox/outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/log.h"
#include "core/str.h"
#include "core/unicode.h"
#include "crypto/rand.h"
#include "outbox/outbox_internal.h"

#define OUTBOX_MAX_MESSAGE (OUTBOX_MAX_BODY * 4 + 8192) /* formatted message, QP worst case */

/* ---- input checks and enqueue ---------------------------------------------- */

static bool has_control(struct str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

enum err outbox_mail_check(const struct outbox_mail *m)
{
    if (!m || !m->to || !m->subject || !m->body)
        return ERR_INVALID;
    size_t to_len = strnlen(m->to, OUTBOX_MAX_ADDR + 1);
    size_t subj_len = strnlen(m->subject, OUTBOX_MAX_SUBJECT + 1);
    size_t body_len = strnlen(m->body, OUTBOX_MAX_BODY + 1);
    if (to_len > OUTBOX_MAX_ADDR || subj_len > OUTBOX_MAX_SUBJECT || body_len > OUTBOX_MAX_BODY)
        return ERR_LIMIT;
    struct str to = str_from(m->to, to_len), subj = str_from(m->subject, subj_len),
               body = str_from(m->body, body_len);
    /* CR / LF in To or Subject would start a header of the caller's choosing */
    if (!config_mail_addr_valid(to) || has_control(subj) || !utf8_valid(subj) || !utf8_valid(body))
        return ERR_INVALID;
    return ERR_OK;
}

enum err outbox_enqueue(struct tx *tx, const struct outbox_mail *m)
{
    enum err e = outbox_mail_check(m);
    if (e)
        return e;
    char id[OUTBOX_ID_LEN + 1];
    if ((e = rand_hex(id, OUTBOX_ID_LEN / 2)) != ERR_OK)
        return e;
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    struct stmt *st = NULL;
    e = tx_prepare(tx,
                   pg ? "INSERT INTO mail_outbox (tenant_id, id, to_addr, subject, body_text,"
                        " created_at, next_attempt_at) VALUES ($1::uuid, $2, $3, $4, $5,"
                        " to_timestamp($6::bigint), to_timestamp($6::bigint))"
                      : "INSERT INTO mail_outbox (tenant_id, id, to_addr, subject, body_text,"
                        " created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                   &st);
    if (e)
        return e;
    bool row = false;
    if (!(e = stmt_bind_text(st, 2, str_from_cstr(id))) &&
        !(e = stmt_bind_text(st, 3, str_from_cstr(m->to))) &&
        !(e = stmt_bind_text(st, 4, str_from_cstr(m->subject))) &&
        !(e = stmt_bind_text(st, 5, str_from_cstr(m->body))) &&
        !(e = stmt_bind_int(st, 6, (int64_t)time(NULL))))
        e = stmt_step(st, &row);
    stmt_finish(st);
    return e;
}

/* ---- message format ------------------------------------------------------------ */

/* RFC 5322 date, always UTC; built by hand so the locale cannot change it. */
static enum err put_date(struct buf *out, int64_t t)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
        return ERR_INVALID;
    return buf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
                      tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                      tm.tm_sec);
}

/*
 * Subject: as is when printable ASCII without "=?"; otherwise RFC 2047 "B"
 * encoded-words of at most 39 input bytes (never splitting a UTF-8 sequence),
 * folded onto continuation lines so each line stays under 78 characters.
 */
static enum err put_subject(struct buf *out, struct str s)
{
    bool plain = str_is_printable_ascii(s);
    for (size_t i = 0; plain && i + 1 < s.len; i++)
        plain = !(s.ptr[i] == '=' && s.ptr[i + 1] == '?');
    if (plain) {
        enum err e = buf_puts(out, "Subject: ");
        if (!e)
            e = buf_append(out, s.ptr, s.len);
        return e ? e : buf_puts(out, "\r\n");
    }
    enum err e = buf_puts(out, "Subject:");
    size_t off = 0;
    while (!e && off < s.len) {
        size_t n = s.len - off < 39 ? s.len - off : 39;
        /* back up to a character boundary (continuation bytes are 10xxxxxx) */
        while (n > 1 && off + n < s.len && ((unsigned char)s.ptr[off + n] & 0xc0) == 0x80)
            n--;
        e = buf_puts(out, off ? "\r\n =?UTF-8?B?" : " =?UTF-8?B?");
        if (!e)
            e = base64_encode(out, s.ptr + off, n);
        if (!e)
            e = buf_puts(out, "?=");
        off += n;
    }
    if (!e && s.len == 0)
        e = buf_puts(out, " ");
    return e ? e : buf_puts(out, "\r\n");
}

/*
 * Quoted-printable (RFC 2045): lines split at LF (a CR before it dropped),
 * written with CRLF; "=", controls, non-ASCII, trailing blanks and a leading
 * "." are encoded; soft breaks keep lines at most 76 characters.
 */
static enum err put_qp_body(struct buf *out, struct str body)
{
    static const char hex[] = "0123456789ABCDEF";
    enum err e = ERR_OK;
    size_t i = 0;
    while (!e && i <= body.len) {
        size_t end = i;
        while (end < body.len && body.ptr[end] != '\n')
            end++;
        if (i == body.len && i > 0 && body.ptr[i - 1] == '\n')
            break; /* the body ended with a line break: nothing after it */
        size_t stop = end;
        if (stop > i && body.ptr[stop - 1] == '\r')
            stop--;
        size_t col = 0;
        for (size_t k = i; !e && k < stop; k++) {
            unsigned char c = (unsigned char)body.ptr[k];
            bool blank = c == ' ' || c == '\t';
            bool enc = (c < 0x20 && c != '\t') || c > 0x7e || c == '=' || (blank && k + 1 == stop);
            size_t w = enc ? 3 : 1;
            if (col + w > 75) {
                e = buf_puts(out, "=\r\n");
                col = 0;
            }
            /* a '.' never starts an output line, after a soft break included */
            if (c == '.' && col == 0 && !enc) {
                enc = true;
                w = 3;
            }
            if (!e && enc) {
                char t[3] = {'=', hex[c >> 4], hex[c & 15]};
                e = buf_append(out, t, 3);
            } else if (!e) {
                e = buf_putc(out, (char)c);
            }
            col += w;
        }
        if (!e)
            e = buf_puts(out, "\r\n");
        i = end + 1;
    }
    return e;
}

enum err outbox_format_message(const char *id, const char *from, const char *to,
                               const char *subject, const char *body, int64_t created_unix,
                               struct buf *out)
{
    /* callers check mail first (outbox_mail_check); an address written into a
     * header line verbatim must still never carry a line break */
    if (strpbrk(from, "\r\n") || strpbrk(to, "\r\n") || strpbrk(id, "\r\n"))
        return ERR_INVALID;
    const char *at = strrchr(from, '@');
    const char *domain = at ? at + 1 : "localhost";
    enum err e = put_date(out, created_unix);
    if (!e)
        e = buf_printf(out, "Message-ID: <%s@%s>\r\nFrom: %s\r\nTo: %s\r\n", id, domain, from, to);
    if (!e)
        e = put_subject(out, str_from_cstr(subject));
    if (!e)
        e = buf_puts(out, "MIME-Version: 1.0\r\n"
                          "Content-Type: text/plain; charset=utf-8\r\n"
                          "Content-Transfer-Encoding: quoted-printable\r\n"
                          "\r\n");
    if (!e)
        e = put_qp_body(out, str_from_cstr(body));
    return e;
}

/* ---- delivery ---------------------------------------------------------------- */

static bool id_is_hex(const char *id)
{
    size_t n = strlen(id);
    if (n != OUTBOX_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

static enum err write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return ERR_IO;
        p += w;
        n -= (size_t)w;
    }
    return ERR_OK;
}

/* <data_dir>/outbox/<id>.eml: temp name, fsync, rename, fsync the directory. */
static enum err deliver_file(const char *data_dir, const char *id, const struct buf *msg, char *why,
                             size_t why_cap)
{
    char dir[CONFIG_MAX_PATH + 16], tmp[CONFIG_MAX_PATH + 64], dst[CONFIG_MAX_PATH + 64];
    if ((size_t)snprintf(dir, sizeof dir, "%s/outbox", data_dir) >= sizeof dir) {
        snprintf(why, why_cap, "data directory path too long");
        return ERR_CONFIG;
    }
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, id);
    snprintf(dst, sizeof dst, "%s/%s.eml", dir, id);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(why, why_cap, "cannot create outbox directory: %s", strerror(errno));
        return ERR_IO;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EEXIST) {
        /* left by a delivery that died half-way: ours to replace */
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    }
    if (fd < 0) {
        snprintf(why, why_cap, "cannot create mail file: %s", strerror(errno));
        return ERR_IO;
    }
    enum err e = write_all(fd, msg->data, msg->len);
    if (!e && fsync(fd) != 0)
        e = ERR_IO;
    if (close(fd) != 0)
        e = ERR_IO;
    if (!e && rename(tmp, dst) != 0)
        e = ERR_IO;
    if (e) {
        snprintf(why, why_cap, "cannot write mail file: %s", strerror(errno));
        unlink(tmp);
        return e;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            log_warn("outbox: fsync of the outbox directory failed");
        close(dfd);
    }
    return ERR_OK;
}

/* Reads a secret of cfg into out (secret buffer); false when unset or unreadable. */
static bool secret_cstr(const struct config *cfg, struct config_secret *s, struct buf *out)
{
    if (!s->set)
        return false;
    /* config_secret_get re-reads rotated files under the secret's own lock */
    if (config_secret_get(cfg, s, out) != ERR_OK)
        return false;
    return buf_cstr(out) != NULL;
}

static enum err deliver(const struct outbox_transport *t, const char *id, const char *to,
                        const struct buf *msg, char *why, size_t why_cap)
{
    struct config *cfg = t->cfg;
    if (!cfg->smtp_url.set)
        return deliver_file(t->data_dir, id, msg, why, why_cap);
    struct buf url = BUF_INIT_SECRET(CONFIG_MAX_SECRET_FILE);
    struct buf pw = BUF_INIT_SECRET(CONFIG_MAX_SECRET_FILE);
    enum err e = ERR_UNAVAILABLE;
    if (!secret_cstr(cfg, &cfg->smtp_url, &url)) {
        snprintf(why, why_cap, "SMTP URL cannot be read");
    } else {
        bool have_pw = secret_cstr(cfg, &cfg->smtp_password, &pw);
        e = outbox_smtp_send(buf_cstr(&url), have_pw ? buf_cstr(&pw) : NULL, cfg->mail_from, to,
                             msg->data, msg->len, why, why_cap);
    }
    buf_wipe(&url);
    buf_wipe(&pw);
    return e;
}

/* ---- claiming and recording -------------------------------------------------- */

/* A claimed mail, copied out of its row. */
struct claimed {
    char id[OUTBOX_ID_LEN + 1];
    char *to, *subject, *body;
    int64_t created;
    int64_t attempts; /* including this one */
};

static void claimed_release(struct claimed *c)
{
    free(c->to);
    free(c->subject);
    free(c->body);
    memset(c, 0, sizeof *c);
}

static char *dup_col(struct stmt *st, int col)
{
    struct str v = stmt_col_text(st, col);
    char *p = strndup(v.ptr ? v.ptr : "", v.len);
    if (!p)
        err_oom();
    return p;
}

/*
 * Leases the tenant's longest-due pending mail: counts the attempt and moves
 * next_attempt_at to now + OUTBOX_LEASE_S, in its own committed transaction.
 * *found is false when the tenant has nothing due.
 */
static enum err claim_one(struct storage *s, const struct tenant_ctx *t, int64_t now,
                          struct claimed *c, bool *found)
{
    *found = false;
    struct tx *tx = NULL;
    enum err e = storage_begin(s, t, TX_WRITE, &tx);
    if (e)
        return e;
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    struct stmt *st = NULL;
    e = tx_prepare(
        tx,
        pg ? "UPDATE mail_outbox SET attempts = attempts + 1,"
             " next_attempt_at = to_timestamp($3::bigint)"
             " WHERE tenant_id = $1::uuid AND id = ("
             "  SELECT id FROM mail_outbox WHERE tenant_id = $1::uuid AND status = 'pending'"
             "  AND next_attempt_at <= to_timestamp($2::bigint)"
             "  ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
             " RETURNING id, to_addr, subject, body_text,"
             " extract(epoch FROM created_at)::bigint, attempts"
           : "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $3"
             " WHERE tenant_id = $1 AND id = ("
             "  SELECT id FROM mail_outbox WHERE tenant_id = $1 AND status = 'pending'"
             "  AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT 1)"
             " RETURNING id, to_addr, subject, body_text, created_at, attempts",
        &st);
    bool row = false;
    if (!e && !(e = stmt_bind_int(st, 2, now)) && !(e = stmt_bind_int(st, 3, now + OUTBOX_LEASE_S)))
        e = stmt_step(st, &row);
    if (!e && row) {
        struct str id = stmt_col_text(st, 0);
        if (id.len != OUTBOX_ID_LEN) {
            e = ERR_INTERNAL;
        } else {
            memcpy(c->id, id.ptr, id.len);
            c->id[id.len] = '\0';
            c->to = dup_col(st, 1);
            c->subject = dup_col(st, 2);
            c->body = dup_col(st, 3);
            c->created = stmt_col_int(st, 4);
            c->attempts = stmt_col_int(st, 5);
        }
    }
    if (st)
        stmt_finish(st);
    if (e) {
        storage_rollback(tx);
        claimed_release(c);
        return e;
    }
    e = storage_commit(tx);
    if (e)
        claimed_release(c);
    else
        *found = row;
    return e;
}

/* Wait after the n-th failed attempt: base * 2^(n-1), capped. */
static int64_t backoff_s(int64_t attempts)
{
    int64_t w = OUTBOX_BACKOFF_BASE_S;
    for (int64_t i = 1; i < attempts && w < OUTBOX_BACKOFF_MAX_S; i++)
        w *= 2;
    return w < OUTBOX_BACKOFF_MAX_S ? w : OUTBOX_BACKOFF_MAX_S;
}

/* Records the outcome of a claimed mail: sent, retry later, or dead. */
static enum err record(struct storage *s, const struct tenant_ctx *t, const struct claimed *c,
                       const char *status, int64_t at, const char *why)
{
    struct tx *tx = NULL;
    enum err e = storage_begin(s, t, TX_WRITE, &tx);
    if (e)
        return e;
    bool pg = storage_tx_backend(tx) == STORAGE_POSTGRES;
    bool sent = strcmp(status, "sent") == 0;
    struct stmt *st = NULL;
    if (sent)
        e = tx_prepare(tx,
                       pg ? "UPDATE mail_outbox SET status = 'sent', last_error = NULL,"
                            " sent_at = to_timestamp($3::bigint)"
                            " WHERE tenant_id = $1::uuid AND id = $2 AND status = 'pending'"
                          : "UPDATE mail_outbox SET status = 'sent', last_error = NULL,"
                            " sent_at = $3 WHERE tenant_id = $1 AND id = $2 AND status = 'pending'",
                       &st);
    else
        e = tx_prepare(tx,
                       pg ? "UPDATE mail_outbox SET status = $4::text, last_error = $5::text,"
                            " next_attempt_at = to_timestamp($3::bigint)"
                            " WHERE tenant_id = $1::uuid AND id = $2 AND status = 'pending'"
                          : "UPDATE mail_outbox SET status = $4, last_error = $5,"
                            " next_attempt_at = $3"
                            " WHERE tenant_id = $1 AND id = $2 AND status = 'pending'",
                       &st);
    bool row = false;
    if (!e && !(e = stmt_bind_text(st, 2, str_from_cstr(c->id))) &&
        !(e = stmt_bind_int(st, 3, at)) && !sent) {
        char short_why[OUTBOX_MAX_ERROR + 1];
        snprintf(short_why, sizeof short_why, "%s", why);
        if (!(e = stmt_bind_text(st, 4, str_from_cstr(status))))
            e = stmt_bind_text(st, 5, str_from_cstr(short_why));
    }
    if (!e)
        e = stmt_step(st, &row);
    if (st)
        stmt_finish(st);
    if (e) {
        storage_rollback(tx);
        return e;
    }
    return storage_commit(tx);
}

/* ---- the round --------------------------------------------------------------- */

struct tenant_list {
    size_t n;
    struct tenant_ctx t[OUTBOX_TENANTS_PER_ROUND];
};

static enum err collect_tenant(void *arg, const char *id)
{
    struct tenant_list *l = arg;
    if (l->n >= OUTBOX_TENANTS_PER_ROUND || !storage_tenant_id_valid(str_from_cstr(id)))
        return ERR_OK;
    snprintf(l->t[l->n++].id, sizeof l->t[0].id, "%s", id);
    return ERR_OK;
}

/* Formats and delivers one claimed mail, then records the outcome. */
static enum err process(struct storage *s, const struct outbox_transport *t,
                        const struct tenant_ctx *tenant, const struct claimed *c, int64_t now,
                        struct outbox_round *out)
{
    char why[OUTBOX_MAX_ERROR + 1] = "";
    struct buf msg = BUF_INIT(OUTBOX_MAX_MESSAGE);
    enum err d;
    if (!id_is_hex(c->id)) {
        d = ERR_INVALID;
        snprintf(why, sizeof why, "malformed mail id");
    } else if ((d = outbox_format_message(c->id, t->cfg->mail_from, c->to, c->subject, c->body,
                                          c->created, &msg)) != ERR_OK) {
        snprintf(why, sizeof why, "cannot format the message: %s", err_name(d));
    } else {
        d = deliver(t, c->id, c->to, &msg, why, sizeof why);
    }
    buf_release(&msg);
    if (d == ERR_OK) {
        out->sent++;
        return record(s, tenant, c, "sent", now, NULL);
    }
    bool dead = c->attempts >= OUTBOX_MAX_ATTEMPTS;
    if (dead) {
        out->dead++;
        log_warn("outbox: mail undeliverable, giving up", LOG_STR("tenant", tenant->id),
                 LOG_STR("outbox_id", c->id), LOG_INT("attempts", c->attempts),
                 LOG_STR("reason", why));
    } else {
        out->failed++;
        log_info("outbox: delivery failed, will retry", LOG_STR("tenant", tenant->id),
                 LOG_STR("outbox_id", c->id), LOG_INT("attempts", c->attempts),
                 LOG_STR("reason", why));
    }
    return record(s, tenant, c, dead ? "dead" : "pending", now + backoff_s(c->attempts), why);
}

enum err outbox_run_round(struct storage *s, const struct outbox_transport *t, int64_t now_unix,
                          const atomic_int *stop, struct outbox_round *out)
{
    memset(out, 0, sizeof *out);
    struct tenant_list *l = calloc(1, sizeof *l);
    if (!l)
        err_oom();
    enum err e =
        storage_pending_outbox_tenants(s, now_unix, OUTBOX_TENANTS_PER_ROUND, collect_tenant, l);
    for (size_t i = 0; !e && i < l->n; i++) {
        for (int k = 0; !e && k < OUTBOX_MAILS_PER_TENANT; k++) {
            if (stop && atomic_load(stop))
                goto done;
            struct claimed c = {0};
            bool found = false;
            e = claim_one(s, &l->t[i], now_unix, &c, &found);
            if (e || !found)
                break;
            e = process(s, t, &l->t[i], &c, now_unix, out);
            claimed_release(&c);
        }
    }
done:
    free(l);
    return e;
}

/* ---- the sender thread --------------------------------------------------------- */

/* One process-wide wake-up: every sender waits on it, a kick bumps the generation. */
static pthread_once_t kick_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t kick_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t kick_cv; /* CLOCK_MONOTONIC */
static uint64_t kick_gen;

static void kick_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&kick_cv, &ca);
    pthread_condattr_destroy(&ca);
}

void outbox_sender_kick(void)
{
    pthread_once(&kick_once, kick_init);
    pthread_mutex_lock(&kick_mu);
    kick_gen++;
    pthread_cond_broadcast(&kick_cv);
    pthread_mutex_unlock(&kick_mu);
}

struct outbox_sender {
    struct storage *s;
    struct outbox_transport t;
    pthread_t thread;
    atomic_int stop; /* set under kick_mu, read anywhere */
};

static void *sender_main(void *arg)
{
    struct outbox_sender *sd = arg;
    enum err last = ERR_OK;
    for (;;) {
        pthread_mutex_lock(&kick_mu);
        uint64_t seen = kick_gen;
        pthread_mutex_unlock(&kick_mu);
        if (atomic_load(&sd->stop))
            break;
        struct outbox_round r;
        enum err e = outbox_run_round(sd->s, &sd->t, (int64_t)time(NULL), &sd->stop, &r);
        if (e && e != last) /* once per kind of outage, not every poll */
            log_warn("outbox: round failed", LOG_ERR(e));
        last = e;
        if (r.sent || r.failed || r.dead)
            log_debug("outbox: round", LOG_INT("sent", r.sent), LOG_INT("failed", r.failed),
                      LOG_INT("dead", r.dead));
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += OUTBOX_POLL_S;
        pthread_mutex_lock(&kick_mu);
        while (!atomic_load(&sd->stop) && kick_gen == seen) {
            if (pthread_cond_timedwait(&kick_cv, &kick_mu, &until) == ETIMEDOUT)
                break;
        }
        pthread_mutex_unlock(&kick_mu);
    }
    return NULL;
}

enum err outbox_sender_start(struct storage *s, struct config *cfg, const char *data_dir,
                             struct outbox_sender **out)
{
    *out = NULL;
    if (!config_mail_addr_valid(str_from_cstr(cfg->mail_from))) {
        log_error("outbox: SHIPLOG_MAIL_FROM is not a usable address");
        return ERR_CONFIG;
    }
    if (cfg->smtp_url.set) {
        struct buf url = BUF_INIT_SECRET(CONFIG_MAX_SECRET_FILE);
        bool ok = secret_cstr(cfg, &cfg->smtp_url, &url) && outbox_smtp_url_ok(buf_cstr(&url));
        buf_wipe(&url);
        if (!ok) {
            log_error("outbox: SHIPLOG_SMTP_URL must be an smtp:// or smtps:// URL");
            return ERR_CONFIG;
        }
    } else if (!data_dir || strlen(data_dir) >= CONFIG_MAX_PATH) {
        return ERR_CONFIG;
    }
    pthread_once(&kick_once, kick_init);
    struct outbox_sender *sd = calloc(1, sizeof *sd);
    if (!sd)
        err_oom();
    sd->s = s;
    sd->t.cfg = cfg;
    sd->t.data_dir = data_dir;
    atomic_init(&sd->stop, 0);
    if (pthread_create(&sd->thread, NULL, sender_main, sd) != 0) {
        free(sd);
        return ERR_INTERNAL;
    }
    pthread_setname_np(sd->thread, "sl-outbox"); /* top -H, perf, gdb */
    log_info("outbox: sender started",
             LOG_STR("transport", cfg->smtp_url.set ? "smtp" : "eml-files"));
    *out = sd;
    return ERR_OK;
}

void outbox_sender_stop(struct outbox_sender *sd)
{
    if (!sd)
        return;
    pthread_mutex_lock(&kick_mu);
    atomic_store(&sd->stop, 1);
    pthread_cond_broadcast(&kick_cv);
    pthread_mutex_unlock(&kick_mu);
    pthread_join(sd->thread, NULL);
    free(sd);
}
