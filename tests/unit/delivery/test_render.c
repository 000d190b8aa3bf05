/* Unit tests for delivery/feed's rendering: JSON Feed and Atom over hostile rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "delivery/feed.h"

#define HOSTILE_TITLE "</title><script>alert(1)</script> ]]> & \"q\" \x01\x7f"
#define HOSTILE_BODY  "line1\r\nline2 <![CDATA[x]]> \xff\xfe \xEF\xBF\xBF"

static struct feed_page page(void)
{
    struct feed_page p = {0};
    p.name = str_from_cstr("Acme <&> \"Co\"");
    p.n = 2;
    p.more = true;
    struct feed_entry *e = &p.entries[0];
    memcpy(e->id, "0123456789abcdef0123456789abcdef", FEED_CURSOR_LEN + 1);
    e->title = str_from(HOSTILE_TITLE, sizeof HOSTILE_TITLE - 1);
    e->body = str_from(HOSTILE_BODY, sizeof HOSTILE_BODY - 1);
    e->category = str_from_cstr("security");
    e->audience = str_from_cstr("everyone");
    e->labels[0] = str_from_cstr("<b>");
    e->labels[1] = str_from_cstr("x\"y");
    e->n_labels = 2;
    e->published_at = 1764676800; /* 2025-12-02T12:00:00Z */
    e = &p.entries[1];
    memcpy(e->id, "fedcba9876543210fedcba9876543210", FEED_CURSOR_LEN + 1);
    e->title = str_from_cstr("Second");
    e->body = str_from_cstr("");
    e->category = str_from_cstr("something-else");
    e->audience = str_from_cstr("developers");
    e->published_at = 0;
    return p;
}

static const struct feed_links LINKS = {
    .base_url = {"https://shiplog.example", 23},
    .slug = {"acme", 4},
    .tenant_id = {"00000000-0000-4000-8000-00000000000a", 36},
};

static void test_json_feed(void **state)
{
    (void)state;
    struct feed_page p = page();
    struct buf out = BUF_INIT(FEED_MAX_PAGE_BYTES);
    assert_int_equal(feed_render(&p, FEED_FORMAT_JSON, &LINKS, &out), ERR_OK);
    struct json *doc = NULL;
    struct json_error je;
    assert_int_equal(json_parse(buf_cstr(&out), out.len, &JSON_LIMITS_DEFAULT, &doc, &je), ERR_OK);
    struct str s;
    assert_true(json_as_str(json_get(doc, "version"), &s));
    assert_true(str_eq_cstr(s, "https://jsonfeed.org/version/1.1"));
    assert_true(json_as_str(json_get(doc, "title"), &s));
    assert_true(str_eq_cstr(s, "Acme <&> \"Co\" changelog"));
    assert_true(json_as_str(json_get(doc, "feed_url"), &s));
    assert_true(str_eq_cstr(s, "https://shiplog.example/feed/acme.json"));
    assert_true(json_as_str(json_get(doc, "next_url"), &s));
    assert_true(str_eq_cstr(s, "https://shiplog.example/feed/acme.json"
                               "?cursor=fedcba9876543210fedcba9876543210"));
    const struct json *items = json_get(doc, "items");
    assert_int_equal(json_count(items), 2);
    const struct json *it = json_first(items);
    assert_true(json_as_str(json_get(it, "title"), &s));
    /* the text comes back exactly (controls escaped, never dropped) */
    assert_true(str_eq(s, str_from(HOSTILE_TITLE, sizeof HOSTILE_TITLE - 1)));
    assert_true(json_as_str(json_get(it, "content_text"), &s));
    assert_true(str_starts_with(s, str_from_cstr("line1\r\nline2 <![CDATA[x]]> ")));
    assert_true(json_as_str(json_get(it, "date_published"), &s));
    assert_true(str_eq_cstr(s, "2025-12-02T12:00:00Z"));
    assert_int_equal(json_count(json_get(it, "tags")), 2);
    const struct json *ext = json_get(it, "_shiplog");
    assert_true(json_as_str(json_get(ext, "category_heading"), &s));
    assert_true(str_eq_cstr(s, "Security"));
    it = json_next(it);
    assert_true(json_as_str(json_get(json_get(it, "_shiplog"), "category_heading"), &s));
    assert_true(str_eq_cstr(s, "Other"));
    json_free(doc);
    /* raw bytes: nothing unescaped that could end a script or string */
    assert_null(strstr(buf_cstr(&out), "<script>"));
    assert_null(strstr(buf_cstr(&out), "\x01"));

    /* the same page renders to the same bytes (the ETag is their hash) */
    struct buf again = BUF_INIT(FEED_MAX_PAGE_BYTES);
    assert_int_equal(feed_render(&p, FEED_FORMAT_JSON, &LINKS, &again), ERR_OK);
    assert_true(str_eq(str_from(buf_cstr(&out), out.len), str_from(buf_cstr(&again), again.len)));
    buf_release(&again);
    buf_release(&out);
}

static void test_atom(void **state)
{
    (void)state;
    struct feed_page p = page();
    struct feed_links l = LINKS;
    l.cursor = str_from_cstr("00000000000000000000000000000001");
    struct buf out = BUF_INIT(FEED_MAX_PAGE_BYTES);
    assert_int_equal(feed_render(&p, FEED_FORMAT_ATOM, &l, &out), ERR_OK);
    const char *x = buf_cstr(&out);
    assert_non_null(strstr(x, "<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
    assert_non_null(strstr(x, "<id>urn:uuid:00000000-0000-4000-8000-00000000000a</id>"));
    assert_non_null(strstr(x, "<title type=\"text\">Acme &lt;&amp;&gt; &quot;Co&quot; changelog"));
    assert_non_null(strstr(x, "<link rel=\"self\" type=\"application/atom+xml\" "
                              "href=\"https://shiplog.example/feed/acme.atom"
                              "?cursor=00000000000000000000000000000001\"/>"));
    assert_non_null(strstr(x, "<link rel=\"next\" type=\"application/atom+xml\" "
                              "href=\"https://shiplog.example/feed/acme.atom"
                              "?cursor=fedcba9876543210fedcba9876543210\"/>"));
    assert_non_null(strstr(x, "<link rel=\"first\""));
    /* hostile text: escaped, never markup */
    assert_null(strstr(x, "<script>"));
    assert_null(strstr(x, "</title><"));
    assert_null(strstr(x, "]]>"));
    assert_null(strstr(x, "<![CDATA["));
    assert_null(strstr(x, "\x01"));
    assert_null(strstr(x, "\xff"));
    assert_non_null(strstr(x, "line1&#13;\nline2 &lt;![CDATA[x]]&gt;"));
    assert_non_null(strstr(x, "term=\"&lt;b&gt;\""));
    assert_non_null(strstr(x, "term=\"security\" label=\"Security\""));
    assert_non_null(strstr(x, "<updated>2025-12-02T12:00:00Z</updated>"));
    buf_release(&out);

    /* the last page has no next link */
    p.more = false;
    struct buf last = BUF_INIT(FEED_MAX_PAGE_BYTES);
    assert_int_equal(feed_render(&p, FEED_FORMAT_ATOM, &LINKS, &last), ERR_OK);
    assert_null(strstr(buf_cstr(&last), "rel=\"next\""));
    buf_release(&last);
}

static void test_page_cap(void **state)
{
    (void)state;
    struct feed_page p = page();
    struct buf small = BUF_INIT(64);
    assert_int_equal(feed_render(&p, FEED_FORMAT_JSON, &LINKS, &small), ERR_LIMIT);
    buf_release(&small);
    struct buf small2 = BUF_INIT(64);
    assert_int_equal(feed_render(&p, FEED_FORMAT_ATOM, &LINKS, &small2), ERR_LIMIT);
    buf_release(&small2);
}

static void test_cursor_shape(void **state)
{
    (void)state;
    assert_true(feed_cursor_valid(str_from_cstr("0123456789abcdef0123456789abcdef")));
    assert_false(feed_cursor_valid(str_from_cstr("0123456789abcdef0123456789abcde")));
    assert_false(feed_cursor_valid(str_from_cstr("0123456789abcdef0123456789abcdef0")));
    assert_false(feed_cursor_valid(str_from_cstr("0123456789abcdef0123456789abcdeg")));
    assert_false(feed_cursor_valid(str_from_cstr("0123456789ABCDEF0123456789abcdef")));
    assert_false(feed_cursor_valid(STR_NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_feed),
        cmocka_unit_test(test_atom),
        cmocka_unit_test(test_page_cap),
        cmocka_unit_test(test_cursor_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
