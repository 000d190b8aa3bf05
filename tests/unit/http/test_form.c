/* Unit tests for http/form (urlencoded bodies) and http/html (the escaping writer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/form.h"
#include "http/html.h"

static enum err validate(const char *body)
{
    const char *why = NULL;
    enum err e = form_validate(str_from_cstr(body), &why);
    if (e)
        assert_non_null(why);
    return e;
}

static void test_form_decode_and_get(void **state)
{
    (void)state;
    const char *body = "email=a%40b.example&password=p%C3%A9+ss%2B1&empty=&flag";
    assert_int_equal(validate(body), ERR_OK);
    struct buf v = BUF_INIT(256);
    assert_int_equal(form_get(str_from_cstr(body), "email", &v), ERR_OK);
    assert_string_equal(buf_cstr(&v), "a@b.example");
    buf_reset(&v);
    assert_int_equal(form_get(str_from_cstr(body), "password", &v), ERR_OK);
    assert_string_equal(buf_cstr(&v), "p\xc3\xa9 ss+1");
    buf_reset(&v);
    assert_int_equal(form_get(str_from_cstr(body), "empty", &v), ERR_OK);
    assert_int_equal(v.len, 0);
    assert_int_equal(form_get(str_from_cstr(body), "flag", &v), ERR_OK);
    assert_int_equal(form_get(str_from_cstr(body), "nope", &v), ERR_NOT_FOUND);
    assert_int_equal(form_get(str_from_cstr(body), "emai", &v), ERR_NOT_FOUND);
    buf_release(&v);
    assert_int_equal(validate(""), ERR_OK);
    assert_int_equal(validate("&&a=1&&"), ERR_OK);
}

static void test_form_refusals(void **state)
{
    (void)state;
    assert_int_equal(validate("a=%"), ERR_INVALID);
    assert_int_equal(validate("a=%4"), ERR_INVALID);
    assert_int_equal(validate("a=%zz"), ERR_INVALID);
    assert_int_equal(validate("a=%00"), ERR_INVALID);     /* NUL */
    assert_int_equal(validate("a=%C3%28"), ERR_INVALID);  /* invalid UTF-8 */
    assert_int_equal(validate("=v"), ERR_INVALID);        /* no name */
    assert_int_equal(validate("a=1&a=2"), ERR_INVALID);   /* repeated */
    assert_int_equal(validate("a=1&%61=2"), ERR_INVALID); /* repeated in disguise */
}

static void test_form_limits(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(1 << 20);
    /* exactly FORM_MAX_FIELDS fields, then one more */
    for (int i = 0; i < FORM_MAX_FIELDS; i++)
        assert_int_equal(buf_printf(&b, "%sf%d=1", i ? "&" : "", i), ERR_OK);
    assert_int_equal(validate(buf_cstr(&b)), ERR_OK);
    assert_int_equal(buf_puts(&b, "&one=more"), ERR_OK);
    assert_int_equal(validate(buf_cstr(&b)), ERR_LIMIT);

    /* a value of exactly FORM_MAX_VALUE decoded bytes, then one more */
    buf_reset(&b);
    assert_int_equal(buf_puts(&b, "v="), ERR_OK);
    for (int i = 0; i < FORM_MAX_VALUE; i++)
        assert_int_equal(buf_putc(&b, 'x'), ERR_OK);
    assert_int_equal(validate(buf_cstr(&b)), ERR_OK);
    assert_int_equal(buf_putc(&b, 'x'), ERR_OK);
    assert_int_equal(validate(buf_cstr(&b)), ERR_LIMIT);

    /* a name of exactly FORM_MAX_NAME bytes, then one more */
    buf_reset(&b);
    for (int i = 0; i < FORM_MAX_NAME; i++)
        assert_int_equal(buf_putc(&b, 'n'), ERR_OK);
    assert_int_equal(buf_puts(&b, "=1"), ERR_OK);
    assert_int_equal(validate(buf_cstr(&b)), ERR_OK);
    buf_reset(&b);
    for (int i = 0; i <= FORM_MAX_NAME; i++)
        assert_int_equal(buf_putc(&b, 'n'), ERR_OK);
    assert_int_equal(buf_puts(&b, "=1"), ERR_OK);
    assert_int_equal(validate(buf_cstr(&b)), ERR_LIMIT);
    buf_release(&b);
}

static void test_datetime_local(void **state)
{
    (void)state;
    int64_t t = -1;
    assert_true(form_datetime_local(str_from_cstr("1970-01-01T00:00"), &t));
    assert_int_equal(t, 0);
    assert_true(form_datetime_local(str_from_cstr("2100-01-01T00:00"), &t));
    assert_int_equal(t, 4102444800);
    assert_true(form_datetime_local(str_from_cstr("2026-12-02T14:30:59"), &t));
    assert_int_equal(t, 1796221859);
    assert_true(form_datetime_local(str_from_cstr("2024-02-29T23:59"), &t)); /* leap year */
    assert_true(form_datetime_local(str_from_cstr("2000-02-29T00:00"), &t)); /* 400 */
    assert_true(form_datetime_local(str_from_cstr("9999-12-31T23:59:59"), &t));
    assert_int_equal(t, INT64_C(253402300799));
    static const char *const bad[] = {
        "",
        "2026-12-02",
        "2026-12-02 14:30",
        "2026-12-02T14:30:000", /* FORM_MAX_DATETIME + 1 bytes */
        "2026-12-02T14:3",
        "2026-13-02T14:30",
        "2026-00-02T14:30",
        "2026-04-31T14:30",
        "2023-02-29T00:00",
        "1900-02-29T00:00",
        "2026-12-02T24:00",
        "2026-12-02T14:60",
        "2026-12-02T14:30:60",
        "1969-12-31T23:59",
        "+026-12-02T14:30",
        "2026-12-02T14:30Z",
        "2026-12-02t14:30",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(form_datetime_local(str_from_cstr(bad[i]), &t));
}

static void test_html_escapes(void **state)
{
    (void)state;
    struct buf out = BUF_INIT(4096);
    struct html h;
    html_init(&h, &out);
    html_tag(&h, "<p");
    html_attr(&h, "title", STR_LIT("a\"b' onmouseover=x"));
    html_tag(&h, ">");
    html_ctext(&h, "<script>alert(1)</script> & caf\xc3\xa9 \xff\x01");
    html_tag(&h, "</p>");
    assert_int_equal(html_finish(&h), ERR_OK);
    assert_string_equal(buf_cstr(&out), "<p title=\"a&quot;b&#39; onmouseover=x\">"
                                        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; caf\xc3\xa9 "
                                        "\xef\xbf\xbd\xef\xbf\xbd</p>");
    buf_release(&out);

    /* no inline script or style, no script URLs */
    static const struct {
        int kind;
        const char *value;
        enum err want;
    } attrs[] = {
        {0, "https://example.com/x", ERR_OK},
        {0, "/account/sessions", ERR_OK},
        {0, "#main", ERR_OK},
        {0, "mailto:a@b.example", ERR_OK},
        {0, "javascript:alert(1)", ERR_INVALID},
        {0, " javascript:x", ERR_INVALID},
        {0, "data:text/html,x", ERR_INVALID},
        {0, "//evil.example", ERR_INVALID},
        {1, "alert(1)", ERR_INVALID},
        {2, "color:red", ERR_INVALID},
    };
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
        struct buf o = BUF_INIT(256);
        html_init(&h, &o);
        if (attrs[i].kind == 0)
            html_attr(&h, "href", str_from_cstr(attrs[i].value));
        else if (attrs[i].kind == 1)
            html_attr(&h, "onclick", str_from_cstr(attrs[i].value));
        else
            html_attr(&h, "style", str_from_cstr(attrs[i].value));
        if (html_finish(&h) != attrs[i].want)
            fail_msg("attribute %zu (%s) not handled as expected", i, attrs[i].value);
        buf_release(&o);
    }

    /* the cap is sticky: the first failure is the result */
    struct buf small = BUF_INIT(8);
    html_init(&h, &small);
    html_ctext(&h, "0123456789");
    html_tag(&h, "<b>");
    assert_int_equal(html_finish(&h), ERR_LIMIT);
    buf_release(&small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_decode_and_get), cmocka_unit_test(test_form_refusals),
        cmocka_unit_test(test_form_limits),         cmocka_unit_test(test_datetime_local),
        cmocka_unit_test(test_html_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
