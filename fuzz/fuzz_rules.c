/*
 * fuzz_rules — arbitrary bytes as a tenant's classification rules. Refused
 * with ERR_INVALID or ERR_LIMIT, or read; rules that were read write out as
 * a document that reads back to the same text, and classify a change.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "changes/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_new((size_t)8 << 20);
    struct classify_rules r, back;
    struct rules_problem why;
    enum err e = classify_rules_parse(str_from((const char *)data, size), a, &r, &why);
    if (e != ERR_OK) {
        if ((e != ERR_INVALID && e != ERR_LIMIT) || !memchr(why.message, 0, sizeof why.message) ||
            why.message[0] == '\0')
            abort();
        arena_free(a);
        return 0;
    }
    struct buf one = BUF_INIT(RULES_MAX_JSON * 8), two = BUF_INIT(RULES_MAX_JSON * 8);
    if (classify_rules_write(&r, &one) != ERR_OK ||
        classify_rules_parse(str_from_cstr(buf_cstr(&one)), a, &back, &why) != ERR_OK ||
        classify_rules_write(&back, &two) != ERR_OK || strcmp(buf_cstr(&one), buf_cstr(&two)) != 0)
        abort();
    struct str label = STR_LIT("bug"), path = STR_LIT("docs/a.md");
    struct change_input in = {
        .title = STR_LIT("feat: x"), .labels = &label, .n_labels = 1, .paths = &path, .n_paths = 1};
    struct classify_result res;
    if (classify_change(&in, &r, &res) != ERR_OK || (unsigned)res.impact >= CHANGE_IMPACT_COUNT_)
        abort();
    buf_release(&one);
    buf_release(&two);
    arena_free(a);
    return 0;
}
