/*
 * console_internal — the page frame shared by the console's handlers.
 *
 * A page is written in one pass: page_open (document head, header with the
 * navigation, <main> and the <h1>), the content through pg->h, page_send
 * (footer, status, Content-Type). Every form opens with page_form, which adds
 * the synchronizer token. Calls after a failure do nothing; page_send
 * returns it.
 */
#ifndef SHIPLOG_CONSOLE_INTERNAL_H
#define SHIPLOG_CONSOLE_INTERNAL_H

#include "console/console.h"
#include "core/buf.h"
#include "http/csrf.h"
#include "http/html.h"

#define CONSOLE_MAX_PAGE (128 * 1024) /* bytes of one rendered page */

struct page {
    struct http_request *req;
    struct http_response *resp;
    struct buf out;
    struct html h;
    char csrf[CSRF_TOKEN_LEN + 1];
};

/* Starts a page titled title (a literal, shown in <title> and <h1>). */
void page_open(struct page *pg, struct http_request *req, struct http_response *resp,
               const char *title);
/* The same for a page that shows long texts: at most cap (>= CONSOLE_MAX_PAGE) bytes. */
void page_open_cap(struct page *pg, struct http_request *req, struct http_response *resp,
                   const char *title, size_t cap);

/* <form method="post" action=...> with the token; close with html_tag(&pg->h, "</form>"). */
void page_form(struct page *pg, const char *action, const char *css_class);

/* One labelled input; value may be STR_NULL; hint (may be NULL) is linked by aria-describedby. */
struct field {
    const char *name, *label, *type, *autocomplete, *hint;
    struct str value;
    size_t maxlength; /* 0 = none */
    size_t minlength; /* 0 = none */
    bool required;
};
void page_field(struct page *pg, const struct field *f);

/*
 * Field name of an urlencoded text (a validated form body, or the query)
 * into out, which caps it: a value longer than the cap gives ERR_LIMIT.
 * ERR_NOT_FOUND when absent (out then holds ""); ERR_INVALID for a text
 * that is not a well-formed form.
 */
MUST_CHECK enum err page_form_value(struct str from, const char *name, struct buf *out);

/*
 * The "token" field of a mail link or of its page's form (from: the query
 * of a GET page, or a form body), copied into the request's arena. Kept up
 * to one byte past ACCOUNTS_MAX_SECRET_TEXT, so that the core, which owns
 * that limit, refuses an overlong token like any other bad one; STR_NULL
 * when absent, empty, malformed or longer still (a link without a token).
 * The temporary copy is wiped: tokens are secrets.
 */
struct str page_token(struct http_request *req, struct str from);

/* A Unix time as "2026-12-01 21:18 UTC"; "-" for 0 (not set) or out of range. */
#define PAGE_TIME_LEN 32
void page_time(char out[PAGE_TIME_LEN], int64_t t);

void page_hidden(struct page *pg, const char *name, struct str value);
void page_button(struct page *pg, const char *label, bool secondary);
void page_para(struct page *pg, const char *text);
/* A message box: role=status (notice) or role=alert (error). */
void page_notice(struct page *pg, const char *text);
void page_problem(struct page *pg, const char *text);

/* Finishes and sends the page with status; wipes and releases the buffer. */
MUST_CHECK enum err page_send(struct page *pg, int status);

/* 303 See Other to a same-site path. */
MUST_CHECK enum err page_redirect(struct http_request *req, struct http_response *resp,
                                  const char *path);

#endif
