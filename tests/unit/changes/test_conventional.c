/* Conventional Commits 1.0.0 parser: the grammar's forms, refusals, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "changes/conventional.h"

static struct cc_commit C;

static void ok(const char *msg)
{
    const char *why = "unset";
    enum err e = cc_parse(str_from_cstr(msg), &C, &why);
    if (e != ERR_OK)
        fail_msg("%s: %s (%s)", msg, err_name(e), why ? why : "?");
    assert_null(why);
}

static void refused(const char *msg, enum err want, const char *reason)
{
    struct cc_commit c;
    const char *why = NULL;
    assert_int_equal(cc_parse(str_from_cstr(msg), &c, &why), want);
    assert_non_null(why);
    if (strcmp(why, reason) != 0)
        fail_msg("%s: refused for \"%s\", expected \"%s\"", msg, why, reason);
}

static void assert_view(struct str v, const char *want)
{
    if (v.len != strlen(want) || memcmp(v.ptr, want, v.len) != 0)
        fail_msg("got \"%.*s\", want \"%s\"", (int)v.len, v.ptr ? v.ptr : "", want);
}

static void test_header_forms(void **state)
{
    (void)state;
    ok("feat: add the export");
    assert_string_equal(C.type, "feat");
    assert_int_equal(C.scope.len, 0);
    assert_view(C.description, "add the export");
    assert_false(C.bang);
    assert_false(C.breaking);
    assert_int_equal(C.body.len, 0);
    assert_int_equal(C.n_footers, 0);

    ok("fix(parser): handle empty arrays");
    assert_string_equal(C.type, "fix");
    assert_view(C.scope, "parser");
    assert_view(C.description, "handle empty arrays");

    ok("feat(api)!: drop the v1 endpoints");
    assert_true(C.bang);
    assert_true(C.breaking);
    assert_view(C.scope, "api");
    assert_view(C.breaking_note, "drop the v1 endpoints"); /* the description, with only '!' */

    ok("chore!: drop Node 6");
    assert_string_equal(C.type, "chore");
    assert_int_equal(C.scope.len, 0);
    assert_true(C.breaking);

    /* case-insensitive units: the type is lower-cased, the rest kept as written */
    ok("FEAT(Api Client): Mixed Case");
    assert_string_equal(C.type, "feat");
    assert_view(C.scope, "Api Client");
    assert_view(C.description, "Mixed Case");

    ok("feat:   spaces around it  \t");
    assert_view(C.description, "spaces around it");
    ok("build-system_2: other characters of a type");
    assert_string_equal(C.type, "build-system_2");
    ok("feat: a\r\n");
    assert_view(C.description, "a");
    ok("feat: trailing blank lines\n\n\n");
    assert_int_equal(C.body.len, 0);
    assert_int_equal(C.n_footers, 0);
    ok("docs(readme): colons: inside: the description");
    assert_view(C.description, "colons: inside: the description");
}

static void test_header_refusals(void **state)
{
    (void)state;
    refused("", ERR_INVALID, "empty message");
    refused("\nfeat: x", ERR_INVALID, "no type at the start");
    refused(" feat: x", ERR_INVALID, "no type at the start");
    refused("1feat: x", ERR_INVALID, "no type at the start");
    refused("Add a feature", ERR_INVALID, "no colon after the type");
    refused("Merge pull request #12 from a/b", ERR_INVALID, "no colon after the type");
    refused("Revert \"feat: x\"", ERR_INVALID, "no colon after the type");
    refused("fixup! feat: x", ERR_INVALID, "no colon after the type");
    refused("feat : x", ERR_INVALID, "no colon after the type");
    refused("feat!(api): x", ERR_INVALID, "no colon after the type");
    refused("feat:x", ERR_INVALID, "no space after the colon");
    refused("feat:", ERR_INVALID, "no space after the colon");
    refused("feat: ", ERR_INVALID, "empty description");
    refused("feat:  \t ", ERR_INVALID, "empty description");
    refused("feat(): x", ERR_INVALID, "empty scope");
    refused("feat(a(b)): x", ERR_INVALID, "malformed scope");
    refused("feat(a\tb\x01): x", ERR_INVALID, "malformed scope");
    refused("feat(api: x", ERR_INVALID, "unclosed scope");
    refused("feat: a\x01z", ERR_INVALID, "control character in the description");
    refused("feat: a\rz", ERR_INVALID, "control character in the description");
    refused("feat: x\nbody right under the header", ERR_INVALID,
            "no blank line after the description");
}

static void test_limits(void **state)
{
    (void)state;
    char msg[CC_MAX_MESSAGE + 64];
    /* type: CC_MAX_TYPE bytes, then one more */
    memset(msg, 't', CC_MAX_TYPE);
    snprintf(msg + CC_MAX_TYPE, sizeof msg - CC_MAX_TYPE, ": x");
    ok(msg);
    assert_int_equal(strlen(C.type), CC_MAX_TYPE);
    memset(msg, 't', CC_MAX_TYPE + 1);
    snprintf(msg + CC_MAX_TYPE + 1, sizeof msg - CC_MAX_TYPE - 1, ": x");
    refused(msg, ERR_LIMIT, "type too long");

    /* scope */
    memcpy(msg, "fix(", 4);
    memset(msg + 4, 's', CC_MAX_SCOPE);
    snprintf(msg + 4 + CC_MAX_SCOPE, sizeof msg - 4 - CC_MAX_SCOPE, "): x");
    ok(msg);
    assert_int_equal(C.scope.len, CC_MAX_SCOPE);
    memset(msg + 4, 's', CC_MAX_SCOPE + 1);
    snprintf(msg + 5 + CC_MAX_SCOPE, sizeof msg - 5 - CC_MAX_SCOPE, "): x");
    refused(msg, ERR_LIMIT, "scope too long");

    /* the whole message: a header, a blank line, a body up to the limit */
    size_t n = (size_t)snprintf(msg, sizeof msg, "fix: x\n\n");
    memset(msg + n, 'b', CC_MAX_MESSAGE - n);
    msg[CC_MAX_MESSAGE] = '\0';
    ok(msg);
    assert_int_equal(C.body.len, CC_MAX_MESSAGE - n);
    msg[CC_MAX_MESSAGE] = 'b';
    msg[CC_MAX_MESSAGE + 1] = '\0';
    refused(msg, ERR_LIMIT, "message too long");

    /* footers: CC_MAX_FOOTERS, then one more */
    n = (size_t)snprintf(msg, sizeof msg, "fix: x\n\n");
    for (int i = 0; i < CC_MAX_FOOTERS; i++)
        n += (size_t)snprintf(msg + n, sizeof msg - n, "Signed-off-by: dev %d\n", i);
    ok(msg);
    assert_int_equal(C.n_footers, CC_MAX_FOOTERS);
    assert_view(C.footers[CC_MAX_FOOTERS - 1].value, "dev 63");
    snprintf(msg + n, sizeof msg - n, "Signed-off-by: one too many\n");
    refused(msg, ERR_LIMIT, "too many footers");

    /* a token of CC_MAX_TOKEN bytes opens a footer; one byte longer is text */
    n = (size_t)snprintf(msg, sizeof msg, "fix: x\n\n");
    memset(msg + n, 'k', CC_MAX_TOKEN);
    snprintf(msg + n + CC_MAX_TOKEN, sizeof msg - n - CC_MAX_TOKEN, ": v");
    ok(msg);
    assert_int_equal(C.n_footers, 1);
    assert_int_equal(C.footers[0].token.len, CC_MAX_TOKEN);
    memset(msg + n, 'k', CC_MAX_TOKEN + 1);
    snprintf(msg + n + CC_MAX_TOKEN + 1, sizeof msg - n - CC_MAX_TOKEN - 1, ": v");
    ok(msg);
    assert_int_equal(C.n_footers, 0);
    assert_int_equal(C.body.len, CC_MAX_TOKEN + 1 + 3);

    /* a view of no bytes at all */
    struct cc_commit c;
    assert_int_equal(cc_parse(STR_NULL, &c, NULL), ERR_INVALID);
}

static void test_body_and_footers(void **state)
{
    (void)state;
    ok("fix: keep the order\n\nFirst paragraph.\n\nSecond paragraph\nwith two lines.\n\n"
       "Reviewed-by: Z\nRefs #133\n");
    assert_view(C.body, "First paragraph.\n\nSecond paragraph\nwith two lines.");
    assert_int_equal(C.n_footers, 2);
    assert_view(C.footers[0].token, "Reviewed-by");
    assert_int_equal(C.footers[0].sep, ':');
    assert_view(C.footers[0].value, "Z");
    assert_view(C.footers[1].token, "Refs");
    assert_int_equal(C.footers[1].sep, '#');
    assert_view(C.footers[1].value, "133");
    assert_false(C.breaking);

    /* a value runs over lines and blank lines to the next footer line */
    ok("feat: move the config\n\nBREAKING CHANGE: the config\nfile moved.\n\n"
       "It lives in /etc now.\nAcked-by: A\n");
    assert_int_equal(C.body.len, 0);
    assert_true(C.breaking);
    assert_false(C.bang);
    assert_view(C.breaking_note, "the config\nfile moved.\n\nIt lives in /etc now.");
    assert_int_equal(C.n_footers, 2);
    assert_view(C.footers[1].token, "Acked-by");

    ok("fix: x\n\nBREAKING-CHANGE: the synonym");
    assert_true(C.breaking);
    assert_view(C.breaking_note, "the synonym");

    /* '!' and a footer: the footer says what breaks */
    ok("feat!: x\n\nBREAKING CHANGE: y");
    assert_true(C.bang);
    assert_view(C.breaking_note, "y");

    /* BREAKING CHANGE is upper-case only, and takes ": " */
    ok("fix: x\n\nbreaking change: lower case is text");
    assert_false(C.breaking);
    assert_int_equal(C.n_footers, 0);
    assert_view(C.body, "breaking change: lower case is text");
    ok("fix: x\n\nBreaking-Change: another token");
    assert_false(C.breaking);
    assert_int_equal(C.n_footers, 1);
    ok("fix: x\n\nBREAKING CHANGE #12");
    assert_false(C.breaking);
    assert_int_equal(C.n_footers, 0);
    ok("fix: x\n\nBREAKING CHANGES: plural");
    assert_false(C.breaking);

    /* a footer line opens the section only after a blank line */
    ok("fix: x\n\nSee the log\nCloses: #1 was wrong\n");
    assert_int_equal(C.n_footers, 0);
    assert_view(C.body, "See the log\nCloses: #1 was wrong");
    /* the documented reading: a paragraph that opens like a footer starts them */
    ok("fix: x\n\nNote: read as a footer\n\nmore text");
    assert_int_equal(C.body.len, 0);
    assert_int_equal(C.n_footers, 1);
    assert_view(C.footers[0].value, "read as a footer\n\nmore text");
    /* a footer needs a value on its line */
    ok("fix: x\n\nRefs: \n");
    assert_int_equal(C.n_footers, 0);
    assert_view(C.body, "Refs:");

    /* CRLF throughout */
    ok("feat(ui): y\r\n\r\nbody line\r\n\r\nRefs: #4\r\nSigned-off-by: A <a@example.com>\r\n");
    assert_view(C.body, "body line");
    assert_int_equal(C.n_footers, 2);
    assert_view(C.footers[0].value, "#4");
    assert_view(C.footers[1].value, "A <a@example.com>");

    /* every view points into the message */
    const char *msg = "perf(db)!: faster\n\nwhy\n\nBREAKING CHANGE: z";
    ok(msg);
    const struct str views[] = {C.scope,         C.description,      C.body,
                                C.breaking_note, C.footers[0].token, C.footers[0].value};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++)
        assert_true(views[i].ptr >= msg && views[i].ptr + views[i].len <= msg + strlen(msg));
}

/* A pull request: the title is the header, the description the body and footers. */
static void test_pull_request(void **state)
{
    (void)state;
    struct cc_commit c;
    const char *why = "unset";
    const char *title = "feat(export)!: CSV for every table";
    const char *desc = "Adds the export.\n\nBREAKING CHANGE: the old /report.csv is gone\nRefs #7";
    assert_int_equal(cc_parse_pr(str_from_cstr(title), str_from_cstr(desc), &c, &why), ERR_OK);
    assert_null(why);
    assert_string_equal(c.type, "feat");
    assert_view(c.scope, "export");
    assert_view(c.body, "Adds the export.");
    assert_true(c.breaking);
    assert_view(c.breaking_note, "the old /report.csv is gone");
    assert_int_equal(c.n_footers, 2);
    assert_true(c.description.ptr >= title && c.description.ptr < title + strlen(title));
    assert_true(c.body.ptr >= desc && c.body.ptr < desc + strlen(desc));

    /* the description starts right away: no blank line needed; none at all is fine */
    assert_int_equal(cc_parse_pr(STR_LIT("fix: y"), STR_LIT("Body at once."), &c, NULL), ERR_OK);
    assert_view(c.body, "Body at once.");
    assert_int_equal(cc_parse_pr(STR_LIT("fix: y\n"), STR_NULL, &c, NULL), ERR_OK);
    assert_int_equal(c.body.len, 0);
    assert_false(c.breaking);
    /* a footer first in the description */
    assert_int_equal(cc_parse_pr(STR_LIT("fix: y"), STR_LIT("BREAKING-CHANGE: z"), &c, NULL),
                     ERR_OK);
    assert_true(c.breaking);

    assert_int_equal(cc_parse_pr(STR_LIT("fix: y\nmore"), STR_NULL, &c, &why), ERR_INVALID);
    assert_string_equal(why, "line break in the title");
    assert_int_equal(cc_parse_pr(STR_LIT("Fix the thing"), STR_NULL, &c, &why), ERR_INVALID);
    assert_int_equal(cc_parse_pr(STR_NULL, STR_LIT("feat: x"), &c, &why), ERR_INVALID);
    assert_string_equal(why, "empty message");

    /* each field up to CC_MAX_MESSAGE, one byte more refused */
    static char big[CC_MAX_MESSAGE + 2];
    memset(big, 'd', sizeof big);
    assert_int_equal(cc_parse_pr(STR_LIT("fix: y"), str_from(big, CC_MAX_MESSAGE), &c, NULL),
                     ERR_OK);
    assert_int_equal(c.body.len, CC_MAX_MESSAGE);
    assert_int_equal(cc_parse_pr(STR_LIT("fix: y"), str_from(big, CC_MAX_MESSAGE + 1), &c, &why),
                     ERR_LIMIT);
    assert_string_equal(why, "message too long");
    memcpy(big, "fix: ", 5);
    assert_int_equal(cc_parse_pr(str_from(big, CC_MAX_MESSAGE), STR_NULL, &c, NULL), ERR_OK);
    assert_int_equal(cc_parse_pr(str_from(big, CC_MAX_MESSAGE + 1), STR_NULL, &c, &why), ERR_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_forms), cmocka_unit_test(test_header_refusals),
        cmocka_unit_test(test_limits),       cmocka_unit_test(test_body_and_footers),
        cmocka_unit_test(test_pull_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
