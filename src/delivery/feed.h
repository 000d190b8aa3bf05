/*
 * feed — the public changelog of a tenant (W1): its published entries for
 * everyone and for developers, newest first, as JSON Feed 1.1 or Atom
 * (RFC 4287, paged as RFC 5005 describes), docs/FEED.md.
 *
 * Only customer-facing content leaves: an entry's id, title, body, category
 * (and its heading), labels, audience and publication time. Never its
 * source (URL, pull request number, repository), author, impact reason,
 * reviewers or anything of the review. Entries that are not published, or
 * whose audience is internal, are never read.
 *
 * Pages hold FEED_PAGE_SIZE entries; the next page starts after the last
 * entry of this one, named by its id (the cursor), so a publish while a
 * reader pages on moves nothing between pages.
 *
 * Reading (feed_page_read) runs in a transaction of the tenant; rendering
 * (feed_render) is a pure function of the page, all text through the
 * escaping JSON and XML writers.
 */
#ifndef SHIPLOG_DELIVERY_FEED_H
#define SHIPLOG_DELIVERY_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/str.h"
#include "storage/storage.h"

#define FEED_PAGE_SIZE      20    /* entries per page */
#define FEED_CURSOR_LEN     32    /* an entry id: 32 lower-case hex digits */
#define FEED_MAX_NAME       200   /* bytes of the tenant name shown; cut */
#define FEED_MAX_TITLE      512   /* bytes of an entry title shown; cut */
#define FEED_MAX_BODY       16384 /* bytes of an entry body shown; cut */
#define FEED_MAX_LABELS     32    /* labels shown per entry; more are left out */
#define FEED_MAX_LABEL      100   /* bytes of a label; longer ones are left out */
#define FEED_MAX_PAGE_BYTES ((size_t)4 * 1024 * 1024) /* a rendered page */

enum feed_format { FEED_FORMAT_JSON, FEED_FORMAT_ATOM };

/* "application/feed+json" / "application/atom+xml; charset=utf-8". */
const char *feed_media_type(enum feed_format f);

struct feed_entry {
    char id[FEED_CURSOR_LEN + 1];
    struct str title, body; /* cut to FEED_MAX_TITLE / FEED_MAX_BODY at a character */
    struct str category;    /* an impact name (changes/classify.h) */
    struct str audience;    /* "everyone" | "developers" */
    struct str labels[FEED_MAX_LABELS];
    size_t n_labels;
    int64_t published_at; /* Unix seconds */
};

struct feed_page {
    struct str name; /* the tenant's name */
    struct feed_entry entries[FEED_PAGE_SIZE];
    size_t n;
    bool more; /* older entries follow: the next page's cursor is entries[n - 1].id */
};

/* True when s has a cursor's shape (FEED_CURSOR_LEN lower-case hex digits). */
bool feed_cursor_valid(struct str s);

/*
 * Reads one page of tx's tenant into *out, its text in a: the newest entries,
 * or with a cursor (not STR_NULL) those after the entry it names.
 * ERR_NOT_FOUND when the cursor names no published entry of the tenant for
 * everyone or developers (the caller answers 400: a cursor never says more);
 * ERR_INVALID for a malformed cursor; ERR_LIMIT when a cannot hold the page;
 * storage errors as they come.
 */
MUST_CHECK enum err feed_page_read(struct tx *tx, struct str cursor, struct arena *a,
                                   struct feed_page *out);

/* Where the rendered page says it lives (URLs are absolute). */
struct feed_links {
    struct str base_url; /* the deployment's public URL, no trailing '/' */
    struct str slug;     /* the tenant's slug */
    struct str cursor;   /* this page's cursor, STR_NULL for the first page */
    struct str tenant_id;
};

/*
 * Appends the page as f to out (cap it at FEED_MAX_PAGE_BYTES). The same page
 * and links always give the same bytes, so their hash is a strong ETag.
 * ERR_LIMIT when out's cap is reached.
 */
MUST_CHECK enum err feed_render(const struct feed_page *p, enum feed_format f,
                                const struct feed_links *links, struct buf *out);

#endif
