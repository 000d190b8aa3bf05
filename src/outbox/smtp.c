/*
 * smtp — delivery of one message through libcurl's SMTP client (A11).
 *
 * The only file of shiplog that includes libcurl for mail. One easy handle per
 * message: the sender sends one message at a time and connection reuse is not
 * worth a handle shared across rounds. Protocols are limited to smtp and
 * smtps so a configured URL can never make curl speak anything else, and
 * signals are off (threads).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "outbox/outbox.h"
#include "outbox/outbox_internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The upload source: the formatted message, handed out in curl's chunks. */
struct upload {
    const char *data;
    size_t len, off;
};

static size_t upload_read(char *dst, size_t size, size_t nmemb, void *arg)
{
    struct upload *u = arg;
    size_t room = size * nmemb, n = u->len - u->off;
    if (n > room)
        n = room;
    memcpy(dst, u->data + u->off, n);
    u->off += n;
    return n;
}

bool outbox_smtp_url_ok(const char *url)
{
    return url && (strncasecmp(url, "smtp://", 7) == 0 || strncasecmp(url, "smtps://", 8) == 0);
}

/* Loopback hosts, where plain SMTP without STARTTLS is acceptable. */
static bool host_is_loopback(const char *host)
{
    return host && (strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
                    strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0);
}

enum err outbox_smtp_send(const char *url, const char *password, const char *from, const char *to,
                          const char *msg, size_t len, char *why, size_t why_cap)
{
    snprintf(why, why_cap, "unknown");
    if (!outbox_smtp_url_ok(url)) {
        snprintf(why, why_cap, "SMTP URL must be smtp:// or smtps://");
        return ERR_CONFIG;
    }
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        snprintf(why, why_cap, "curl init: %s", curl_easy_strerror(curl_init_rc));
        return ERR_UNAVAILABLE;
    }
    bool implicit_tls = strncasecmp(url, "smtps://", 8) == 0;
    bool loopback = false;
    CURLU *u = curl_url();
    if (!u)
        err_oom();
    char *host = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        curl_url_cleanup(u);
        snprintf(why, why_cap, "SMTP URL cannot be parsed");
        return ERR_CONFIG;
    }
    loopback = host_is_loopback(host);
    curl_free(host);
    curl_url_cleanup(u);

    CURL *h = curl_easy_init();
    if (!h)
        err_oom();
    char from_path[CONFIG_MAX_MAIL_ADDR + 3], to_path[OUTBOX_MAX_ADDR + 3];
    snprintf(from_path, sizeof from_path, "<%s>", from);
    snprintf(to_path, sizeof to_path, "<%s>", to);
    struct curl_slist *rcpt = curl_slist_append(NULL, to_path);
    if (!rcpt)
        err_oom();
    struct upload up = {.data = msg, .len = len};
    CURLcode rc = CURLE_OK;
#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_CONNECTTIMEOUT, 10L);
    SETOPT(CURLOPT_TIMEOUT, (long)OUTBOX_SMTP_TIMEOUT_S);
    SETOPT(CURLOPT_USE_SSL,
           implicit_tls || !loopback ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    if (password)
        SETOPT(CURLOPT_PASSWORD, password);
    SETOPT(CURLOPT_MAIL_FROM, from_path);
    SETOPT(CURLOPT_MAIL_RCPT, rcpt);
    SETOPT(CURLOPT_READFUNCTION, upload_read);
    SETOPT(CURLOPT_READDATA, &up);
    SETOPT(CURLOPT_UPLOAD, 1L);
    SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
#undef SETOPT
    if (rc == CURLE_OK)
        rc = curl_easy_perform(h);
    enum err e = ERR_OK;
    if (rc != CURLE_OK) {
        long code = 0;
        if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
            code = 0;
        /* curl_easy_strerror is a fixed text: no host, user or password in it */
        snprintf(why, why_cap, "smtp: %s (reply %ld)", curl_easy_strerror(rc), code);
        e = ERR_UNAVAILABLE;
    } else {
        snprintf(why, why_cap, "ok");
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    return e;
}
