/*
 * outbox_internal — what outbox.c needs from smtp.c (the only file that
 * includes libcurl). Not part of the module's API.
 */
#ifndef SHIPLOG_OUTBOX_OUTBOX_INTERNAL_H
#define SHIPLOG_OUTBOX_OUTBOX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/*
 * Sends msg (len bytes, a complete RFC 5322 message with CRLF line ends) from
 * envelope sender from to the one recipient to, through url (smtp:// or
 * smtps://, credentials optional). password, when not NULL, overrides the
 * URL's. TLS: smtps:// is implicit TLS; smtp:// requires STARTTLS unless the
 * host is loopback. Certificates are verified. The whole exchange is bounded
 * by OUTBOX_SMTP_TIMEOUT_S.
 *
 * ERR_OK when the server accepted the message; ERR_CONFIG for a URL that is
 * not smtp(s); ERR_UNAVAILABLE otherwise, with a short reason in why (curl's
 * error text and the last SMTP reply code; never credentials or content).
 */
MUST_CHECK enum err outbox_smtp_send(const char *url, const char *password, const char *from,
                                     const char *to, const char *msg, size_t len, char *why,
                                     size_t why_cap);

/* True when url starts with smtp:// or smtps:// (ASCII case-insensitive). */
bool outbox_smtp_url_ok(const char *url);

#endif
