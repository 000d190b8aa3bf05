/*
 * outbox — durable outgoing mail (A11).
 *
 * Mail is queued with outbox_enqueue() inside the caller's write transaction,
 * so a mail exists exactly when the change that caused it commits, and is
 * never sent for a change that rolled back. A sender thread per server
 * delivers it: by SMTP (libcurl, src/outbox/smtp.c) when SHIPLOG_SMTP_URL is
 * set, otherwise as an RFC 5322 file <data_dir>/outbox/<id>.eml (mode 0600,
 * written to a temporary name, fsynced and renamed into place).
 *
 * Claiming (P3): the sender asks storage_pending_outbox_tenants() which
 * tenants have due mail (ids only), then per tenant opens an ordinary tenant
 * transaction and leases one due row at a time — PostgreSQL with FOR UPDATE
 * SKIP LOCKED, so several servers never claim the same row; SQLite's write
 * transaction is exclusive — by counting the attempt and moving
 * next_attempt_at OUTBOX_LEASE_S ahead. It commits, delivers outside any
 * transaction, and records the outcome in a second transaction. Delivery is
 * therefore at least once: a server that dies between delivery and the record
 * leaves the row to be sent again after the lease (same Message-ID, so
 * receivers can tell).
 *
 * Failures are retried with exponential backoff (OUTBOX_BACKOFF_BASE_S doubling
 * up to OUTBOX_BACKOFF_MAX_S); after OUTBOX_MAX_ATTEMPTS the row becomes 'dead'
 * and a warning is logged (tenant and mail id, never address, subject or body).
 * last_error holds a short secret-free reason.
 */
#ifndef SHIPLOG_OUTBOX_OUTBOX_H
#define SHIPLOG_OUTBOX_OUTBOX_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "storage/storage.h"

#define OUTBOX_MAX_ADDR          CONFIG_MAX_MAIL_ADDR /* bytes of the recipient address */
#define OUTBOX_MAX_SUBJECT       255                  /* bytes of the subject (UTF-8) */
#define OUTBOX_MAX_BODY          65536                /* bytes of the plain-text body (UTF-8) */
#define OUTBOX_ID_LEN            32   /* hex digits of a mail id (16 random bytes) */
#define OUTBOX_MAX_ATTEMPTS      8    /* deliveries tried before a mail is dead */
#define OUTBOX_BACKOFF_BASE_S    30   /* wait after the first failure */
#define OUTBOX_BACKOFF_MAX_S     3600 /* longest wait between attempts */
#define OUTBOX_LEASE_S           300  /* a claimed mail is not retried before */
#define OUTBOX_POLL_S            5    /* sender wakes at least this often */
#define OUTBOX_MAX_ERROR         200  /* bytes of last_error kept */
#define OUTBOX_TENANTS_PER_ROUND 100  /* tenants one round visits */
#define OUTBOX_MAILS_PER_TENANT  50   /* mails of one tenant per round (fairness) */
#define OUTBOX_SMTP_TIMEOUT_S    30   /* whole SMTP transaction */

/* One mail to queue. All strings NUL-terminated; copied into the database. */
struct outbox_mail {
    const char *to;      /* plain address local@domain (config_mail_addr_valid) */
    const char *subject; /* UTF-8, no control characters (CR/LF refused) */
    const char *body;    /* UTF-8 plain text; LF or CRLF line ends, no NUL */
};

/*
 * Queues m in tx (a TX_WRITE transaction of the mail's tenant); the mail
 * becomes visible to senders when tx commits. Call outbox_sender_kick() after
 * the commit so it goes out right away. Errors: ERR_INVALID for a bad address,
 * a subject with CR, LF or another control character, text that is not UTF-8;
 * ERR_LIMIT for a field over its OUTBOX_MAX_*; storage errors otherwise (the
 * transaction is then failed, as for any statement).
 */
MUST_CHECK enum err outbox_enqueue(struct tx *tx, const struct outbox_mail *m);

/* Checks m as outbox_enqueue does, without a database. */
MUST_CHECK enum err outbox_mail_check(const struct outbox_mail *m);

/*
 * Where mail goes. cfg supplies smtp_url / smtp_password (read at each
 * delivery, so rotated credentials apply) and mail_from; data_dir is used
 * when no SMTP URL is configured. Both must outlive every use.
 */
struct outbox_transport {
    struct config *cfg; /* not const: reading a secret may re-read its file */
    const char *data_dir;
};

/* What one round did. */
struct outbox_round {
    unsigned sent;   /* delivered and recorded */
    unsigned failed; /* attempt failed, will be retried */
    unsigned dead;   /* attempt failed and the mail gave up */
};

/*
 * One sender round at time now_unix: visits up to OUTBOX_TENANTS_PER_ROUND
 * tenants with due mail and tries up to OUTBOX_MAILS_PER_TENANT mails of each.
 * stop, when not NULL, is polled between mails (the mail in flight finishes).
 * The sender thread calls it with time(NULL); tests call it with a chosen
 * clock. Returns the first storage error (delivery failures are not errors;
 * they are counted in *out).
 */
MUST_CHECK enum err outbox_run_round(struct storage *s, const struct outbox_transport *t,
                                     int64_t now_unix, const atomic_int *stop,
                                     struct outbox_round *out);

/*
 * Formats a queued mail as an RFC 5322 message with CRLF line ends into out:
 * Date (from created_unix), Message-ID <id@from-domain>, From, To, Subject
 * (RFC 2047 encoded-words when not printable ASCII), MIME-Version,
 * Content-Type text/plain; charset=utf-8, quoted-printable body (no output
 * line starts with '.'). ERR_INVALID when from, to or id holds CR or LF
 * (defence in depth: callers run outbox_mail_check first); ERR_LIMIT at out's
 * cap. Exposed for tests and the fuzz target.
 */
MUST_CHECK enum err outbox_format_message(const char *id, const char *from, const char *to,
                                          const char *subject, const char *body,
                                          int64_t created_unix, struct buf *out);

/*
 * The background sender: a thread that runs a round at start, whenever
 * outbox_sender_kick() is called, and every OUTBOX_POLL_S seconds (retries and
 * other servers' mail). s, cfg and data_dir must outlive the sender.
 * ERR_CONFIG when SHIPLOG_SMTP_URL is set but unusable, or no mail_from.
 */
struct outbox_sender;
MUST_CHECK enum err outbox_sender_start(struct storage *s, struct config *cfg, const char *data_dir,
                                        struct outbox_sender **out);

/*
 * Stops the sender: the mail in flight finishes (bounded by
 * OUTBOX_SMTP_TIMEOUT_S), no further mail is claimed, the thread is joined and
 * the sender freed. Mail left pending is sent by the next start or another
 * server. NULL is a no-op.
 */
void outbox_sender_stop(struct outbox_sender *sd);

/* Wakes every running sender of this process for an immediate round. Thread-safe. */
void outbox_sender_kick(void);

#endif
