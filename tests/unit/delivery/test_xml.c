/* Unit tests for delivery/xml: escaping of hostile text and attribute values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "delivery/xml.h"

static void check_text(const char *in, size_t len, const char *want)
{
    struct buf out = BUF_INIT(4096);
    struct xml x;
    xml_init(&x, &out);
    xml_text(&x, str_from(in, len));
    assert_int_equal(xml_finish(&x), ERR_OK);
    assert_string_equal(buf_cstr(&out), want);
    buf_release(&out);
}

static void test_markup_characters(void **state)
{
    (void)state;
    check_text("a<b>&c", 6, "a&lt;b&gt;&amp;c");
    check_text("]]>", 3, "]]&gt;"); /* nothing can close a CDATA section or a tag */
    check_text("\"'", 2, "&quot;&#39;");
    check_text("<script>alert(1)</script>", 25, "&lt;script&gt;alert(1)&lt;/script&gt;");
}

static void test_characters_xml_cannot_carry(void **state)
{
    (void)state;
    /* controls but tab, LF, CR become U+FFFD; CR is a reference so it survives parsing */
    check_text("a\x01"
               "b\x1f"
               "c",
               5,
               "a\xEF\xBF\xBD"
               "b\xEF\xBF\xBD"
               "c");
    check_text("t\tn\nr\r", 6, "t\tn\nr&#13;");
    check_text("nul\0x", 5, "nul\xEF\xBF\xBDx");
    /* U+FFFE and U+FFFF are not XML characters */
    check_text("\xEF\xBF\xBE\xEF\xBF\xBF", 6, "\xEF\xBF\xBD\xEF\xBF\xBD");
    /* invalid UTF-8: a lone continuation byte, a truncated sequence, an overlong '<', a surrogate
     */
    check_text("a\x80z", 3, "a\xEF\xBF\xBDz");
    check_text("a\xE2\x82", 3, "a\xEF\xBF\xBD\xEF\xBF\xBD");
    check_text("\xC0\xBC", 2, "\xEF\xBF\xBD\xEF\xBF\xBD");
    check_text("\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    /* valid multi-byte text passes as it is */
    check_text("caf\xC3\xA9 \xF0\x9F\x9A\x80", 10, "caf\xC3\xA9 \xF0\x9F\x9A\x80");
}

static void test_attributes(void **state)
{
    (void)state;
    struct buf out = BUF_INIT(4096);
    struct xml x;
    xml_init(&x, &out);
    xml_tag(&x, "<c");
    xml_attr(&x, "term", str_from_cstr("a\"b'<\n\t"));
    xml_tag(&x, "/>");
    assert_int_equal(xml_finish(&x), ERR_OK);
    assert_string_equal(buf_cstr(&out), "<c term=\"a&quot;b&#39;&lt;&#10;&#9;\"/>");
    buf_release(&out);
}

static void test_cap_is_reported(void **state)
{
    (void)state;
    struct buf out = BUF_INIT(8);
    struct xml x;
    xml_init(&x, &out);
    xml_text(&x, str_from_cstr("12345678"));
    assert_int_equal(xml_finish(&x), ERR_OK);
    xml_text(&x, str_from_cstr("<")); /* one byte past the cap, escaped to four */
    assert_int_equal(xml_finish(&x), ERR_LIMIT);
    xml_text(&x, str_from_cstr("z")); /* nothing after the first failure */
    assert_int_equal(out.len, 8);
    buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_markup_characters),
        cmocka_unit_test(test_characters_xml_cannot_carry),
        cmocka_unit_test(test_attributes),
        cmocka_unit_test(test_cap_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
