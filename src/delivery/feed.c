/* feed — see feed.h. */
#include "delivery/feed.h"

#include <string.h>
#include <time.h>

#include "changes/classify.h"
#include "changes/draft.h"
#include "core/json.h"
#include "delivery/xml.h"

#define FEED_LABELS_JSON_MAX 65536                 /* bytes of an entry's labels array read */
#define RFC3339_LEN          20                    /* "2026-12-02T12:00:00Z" */
#define FEED_MAX_TIME        INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

const char *feed_media_type(enum feed_format f)
{
    return f == FEED_FORMAT_ATOM ? "application/atom+xml; charset=utf-8" : "application/feed+json";
}

bool feed_cursor_valid(struct str s)
{
    if (s.len != FEED_CURSOR_LEN)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!((s.ptr[i] >= '0' && s.ptr[i] <= '9') || (s.ptr[i] >= 'a' && s.ptr[i] <= 'f')))
            return false;
    return true;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* s cut to at most max bytes, between characters (never inside a UTF-8 sequence). */
static struct str cut(struct str s, size_t max)
{
    if (s.len <= max)
        return s;
    size_t n = max;
    while (n > 0 && ((unsigned char)s.ptr[n] & 0xC0) == 0x80)
        n--;
    return str_from(s.ptr, n);
}

static struct str keep(struct arena *a, struct str s, bool *oom)
{
    char *p = arena_strndup(a, s.ptr ? s.ptr : "", s.len);
    if (!p) {
        *oom = true;
        return str_from("", 0);
    }
    return str_from(p, s.len);
}

/* The labels of a stored JSON array of strings; anything else in it is left out. */
static void read_labels(struct str text, struct arena *a, struct feed_entry *e, bool *oom)
{
    static const struct json_limits lim = {
        .max_bytes = FEED_LABELS_JSON_MAX, .max_depth = 2, .max_string = 4096, .max_members = 1000};
    struct json *doc = NULL;
    struct json_error je;
    if (json_parse(text.ptr, text.len, &lim, &doc, &je) != ERR_OK)
        return; /* the store writes these arrays; a broken one shows no labels */
    for (const struct json *n = json_first(doc); n && e->n_labels < FEED_MAX_LABELS;
         n = json_next(n)) {
        struct str s;
        if (json_as_str(n, &s) && s.len > 0 && s.len <= FEED_MAX_LABEL)
            e->labels[e->n_labels++] = keep(a, s, oom);
    }
    json_free(doc);
}

#define FEED_COLUMNS "id, title, body, category, audience, labels, published_at"
/* published, for everyone or developers: the only rows the feed ever reads */
#define FEED_PUBLIC                                                                                \
    "tenant_id = $1 AND status = 'published' AND published_at IS NOT NULL"                         \
    " AND audience IN ('everyone', 'developers')"

static const char SQL_FIRST[] = "SELECT " FEED_COLUMNS " FROM changelog_entries WHERE " FEED_PUBLIC
                                " ORDER BY published_at DESC, id DESC LIMIT $2";
static const char SQL_AFTER[] = "SELECT " FEED_COLUMNS " FROM changelog_entries WHERE " FEED_PUBLIC
                                " AND (published_at < $3 OR (published_at = $3 AND id < $4))"
                                " ORDER BY published_at DESC, id DESC LIMIT $2";
static const char SQL_CURSOR[] =
    "SELECT published_at FROM changelog_entries WHERE " FEED_PUBLIC " AND id = $2";
static const char SQL_NAME[] = "SELECT name FROM tenants WHERE id = $1";

enum err feed_page_read(struct tx *tx, struct str cursor, struct arena *a, struct feed_page *out)
{
    memset(out, 0, sizeof *out);
    bool oom = false;
    struct stmt *st = NULL;
    bool row = false;
    int64_t after_at = 0;
    if (cursor.ptr) {
        if (!feed_cursor_valid(cursor))
            return ERR_INVALID;
        enum err e = tx_query(tx, SQL_CURSOR, STORAGE_ARGS(STORAGE_TEXT(cursor)), &st, &row);
        if (e)
            return e;
        if (row)
            after_at = stmt_col_int(st, 0);
        stmt_finish(st);
        if (!row)
            return ERR_NOT_FOUND;
    }

    enum err e = tx_query(tx, SQL_NAME, NULL, 0, &st, &row);
    if (e)
        return e;
    out->name = row ? keep(a, cut(stmt_col_text(st, 0), FEED_MAX_NAME), &oom) : str_from("", 0);
    stmt_finish(st);

    if (cursor.ptr)
        e = tx_query(tx, SQL_AFTER,
                     STORAGE_ARGS(STORAGE_INT(FEED_PAGE_SIZE + 1), STORAGE_INT(after_at),
                                  STORAGE_TEXT(cursor)),
                     &st, &row);
    else
        e = tx_query(tx, SQL_FIRST, STORAGE_ARGS(STORAGE_INT(FEED_PAGE_SIZE + 1)), &st, &row);
    while (!e && row) {
        if (out->n == FEED_PAGE_SIZE) {
            out->more = true; /* the extra row only says that more follow */
            break;
        }
        struct feed_entry *en = &out->entries[out->n++];
        struct str id = stmt_col_text(st, 0);
        if (id.len == FEED_CURSOR_LEN)
            memcpy(en->id, id.ptr, FEED_CURSOR_LEN);
        en->title = keep(a, cut(stmt_col_text(st, 1), FEED_MAX_TITLE), &oom);
        en->body = keep(a, cut(stmt_col_text(st, 2), FEED_MAX_BODY), &oom);
        en->category = keep(a, cut(stmt_col_text(st, 3), 64), &oom);
        en->audience = keep(a, cut(stmt_col_text(st, 4), 64), &oom);
        read_labels(stmt_col_text(st, 5), a, en, &oom);
        en->published_at = stmt_col_int(st, 6);
        e = stmt_step(st, &row);
    }
    if (st)
        stmt_finish(st);
    if (!e && oom)
        e = ERR_LIMIT;
    return e;
}

/* ---- rendering ---------------------------------------------------------------------------- */

static void rfc3339(int64_t t, char out[RFC3339_LEN + 1])
{
    if (t < 0)
        t = 0;
    if (t > FEED_MAX_TIME)
        t = FEED_MAX_TIME;
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, RFC3339_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The heading of a category: known impacts have one; anything else is "Other". */
static const char *heading_of(struct str category)
{
    enum change_impact impact;
    return change_impact_parse(category, &impact) ? draft_category_heading(impact) : "Other";
}

/* <base>/feed/<slug><ext>[?cursor=<id>] into the buffer u (reset first). */
static enum err url(struct buf *u, const struct feed_links *l, const char *ext, struct str cursor)
{
    buf_reset(u);
    enum err e = buf_printf(u, "%.*s/feed/%.*s%s", (int)l->base_url.len, l->base_url.ptr,
                            (int)l->slug.len, l->slug.ptr, ext);
    if (!e && cursor.len)
        e = buf_printf(u, "?cursor=%.*s", (int)cursor.len, cursor.ptr);
    return e;
}

#define URL_MAX 1024

static enum err render_json(const struct feed_page *p, const struct feed_links *l, struct buf *out)
{
    struct buf u = BUF_INIT(URL_MAX);
    struct buf title = BUF_INIT(FEED_MAX_NAME + 32);
    enum err e = buf_printf(&title, "%.*s changelog", (int)p->name.len, p->name.ptr);
    struct jw w;
    jw_init(&w, out);
    jw_object_begin(&w);
    jw_key(&w, "version");
    jw_cstring(&w, "https://jsonfeed.org/version/1.1");
    jw_key(&w, "title");
    jw_string(&w, str_from(buf_cstr(&title), title.len));
    if (!e)
        e = url(&u, l, ".json", STR_NULL);
    jw_key(&w, "feed_url");
    jw_string(&w, str_from(buf_cstr(&u), u.len));
    if (p->more && p->n) {
        if (!e)
            e = url(&u, l, ".json", str_from(p->entries[p->n - 1].id, FEED_CURSOR_LEN));
        jw_key(&w, "next_url");
        jw_string(&w, str_from(buf_cstr(&u), u.len));
    }
    jw_key(&w, "authors");
    jw_array_begin(&w);
    jw_object_begin(&w);
    jw_key(&w, "name");
    jw_string(&w, p->name);
    jw_object_end(&w);
    jw_array_end(&w);
    jw_key(&w, "items");
    jw_array_begin(&w);
    for (size_t i = 0; i < p->n; i++) {
        const struct feed_entry *en = &p->entries[i];
        char when[RFC3339_LEN + 1];
        rfc3339(en->published_at, when);
        jw_object_begin(&w);
        jw_key(&w, "id");
        jw_cstring(&w, en->id);
        jw_key(&w, "title");
        jw_string(&w, en->title);
        jw_key(&w, "content_text");
        jw_string(&w, en->body);
        jw_key(&w, "date_published");
        jw_cstring(&w, when);
        jw_key(&w, "tags");
        jw_array_begin(&w);
        for (size_t j = 0; j < en->n_labels; j++)
            jw_string(&w, en->labels[j]);
        jw_array_end(&w);
        jw_key(&w, "_shiplog"); /* an extension: JSON Feed readers ignore keys starting with _ */
        jw_object_begin(&w);
        jw_key(&w, "category");
        jw_string(&w, en->category);
        jw_key(&w, "category_heading");
        jw_cstring(&w, heading_of(en->category));
        jw_key(&w, "audience");
        jw_string(&w, en->audience);
        jw_key(&w, "published_at");
        jw_int(&w, en->published_at);
        jw_object_end(&w);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_object_end(&w);
    enum err we = jw_finish(&w);
    buf_release(&u);
    buf_release(&title);
    return e ? e : we;
}

static void atom_link(struct xml *x, const char *rel, const char *type, const struct buf *href)
{
    xml_tag(x, "  <link");
    xml_attr(x, "rel", str_from_cstr(rel));
    if (type)
        xml_attr(x, "type", str_from_cstr(type));
    xml_attr(x, "href", str_from(buf_cstr(href), href->len));
    xml_tag(x, "/>\n");
}

static enum err render_atom(const struct feed_page *p, const struct feed_links *l, struct buf *out)
{
    struct buf u = BUF_INIT(URL_MAX);
    struct xml x;
    xml_init(&x, out);
    char updated[RFC3339_LEN + 1];
    rfc3339(p->n ? p->entries[0].published_at : 0, updated);
    xml_tag(&x, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n  <id>urn:uuid:");
    xml_text(&x, l->tenant_id);
    xml_tag(&x, "</id>\n  <title type=\"text\">");
    xml_text(&x, p->name);
    xml_tag(&x, " changelog</title>\n  <updated>");
    xml_ctext(&x, updated);
    xml_tag(&x, "</updated>\n  <author><name>");
    xml_text(&x, p->name);
    xml_tag(&x, "</name></author>\n  <generator>shiplog</generator>\n");
    enum err e = url(&u, l, ".atom", l->cursor);
    atom_link(&x, "self", "application/atom+xml", &u);
    if (!e)
        e = url(&u, l, ".atom", STR_NULL);
    atom_link(&x, "first", "application/atom+xml", &u); /* RFC 5005 §3 */
    if (p->more && p->n) {
        if (!e)
            e = url(&u, l, ".atom", str_from(p->entries[p->n - 1].id, FEED_CURSOR_LEN));
        atom_link(&x, "next", "application/atom+xml", &u);
    }
    if (!e)
        e = url(&u, l, ".json", l->cursor);
    atom_link(&x, "alternate", "application/feed+json", &u);
    for (size_t i = 0; i < p->n; i++) {
        const struct feed_entry *en = &p->entries[i];
        char when[RFC3339_LEN + 1];
        rfc3339(en->published_at, when);
        xml_tag(&x, "  <entry>\n    <id>urn:shiplog:entry:");
        xml_ctext(&x, en->id);
        xml_tag(&x, "</id>\n    <title type=\"text\">");
        xml_text(&x, en->title);
        xml_tag(&x, "</title>\n    <published>");
        xml_ctext(&x, when);
        xml_tag(&x, "</published>\n    <updated>");
        xml_ctext(&x, when);
        xml_tag(&x, "</updated>\n    <content type=\"text\">");
        xml_text(&x, en->body);
        xml_tag(&x, "</content>\n    <category scheme=\"urn:shiplog:category\"");
        xml_attr(&x, "term", en->category);
        xml_attr(&x, "label", str_from_cstr(heading_of(en->category)));
        xml_tag(&x, "/>\n    <category scheme=\"urn:shiplog:audience\"");
        xml_attr(&x, "term", en->audience);
        xml_tag(&x, "/>\n");
        for (size_t j = 0; j < en->n_labels; j++) {
            xml_tag(&x, "    <category scheme=\"urn:shiplog:label\"");
            xml_attr(&x, "term", en->labels[j]);
            xml_tag(&x, "/>\n");
        }
        xml_tag(&x, "  </entry>\n");
    }
    xml_tag(&x, "</feed>\n");
    enum err xe = xml_finish(&x);
    buf_release(&u);
    return e ? e : xe;
}

enum err feed_render(const struct feed_page *p, enum feed_format f, const struct feed_links *l,
                     struct buf *out)
{
    return f == FEED_FORMAT_ATOM ? render_atom(p, l, out) : render_json(p, l, out);
}
