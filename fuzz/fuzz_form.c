/*
 * fuzz_form — urlencoded form bodies (http/form) and the HTML writer on the
 * decoded values: a valid body's fields decode within their limits, and no
 * escaped text ever contains a raw '<', '>', '"' or '\''; the same bytes as a
 * datetime-local value never read as a time before 1970 or after 9999.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/form.h"
#include "http/html.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct str body = str_from((const char *)data, size);
    const char *why = NULL;
    enum err e = form_validate(body, &why);
    if ((e == ERR_OK) != (why == NULL))
        abort();
    static const char *const names[] = {"email", "password", "csrf", "a"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct buf v = BUF_INIT(FORM_MAX_VALUE);
        enum err g = form_get(body, names[i], &v);
        if (e == ERR_OK && g != ERR_OK && g != ERR_NOT_FOUND)
            abort(); /* a validated body always decodes */
        struct buf out = BUF_INIT(FORM_MAX_VALUE * 8 + 16);
        struct html h;
        html_init(&h, &out);
        html_text(&h, str_from(buf_cstr(&v), v.len));
        if (html_finish(&h) != ERR_OK || strpbrk(buf_cstr(&out), "<>\"'"))
            abort();
        buf_release(&out);
        buf_release(&v);
    }
    int64_t t = -1;
    if (form_datetime_local(body, &t) && (t < 0 || t > INT64_C(253402300799)))
        abort();
    return 0;
}
