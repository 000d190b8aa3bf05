/*
 * Unit tests for authz: the role order of SPEC Z1 holds for every permission,
 * and nothing is granted to a missing or unknown role.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "authz/authz.h"

static void test_roles_parse_and_name(void **state)
{
    (void)state;
    for (int r = AUTHZ_ROLE_MEMBER; r <= AUTHZ_ROLE_SUPER_ADMIN; r++)
        assert_int_equal(authz_role_parse(str_from_cstr(authz_role_name(r))), r);
    assert_int_equal(authz_role_parse(STR_LIT("Super_Admin")), AUTHZ_ROLE_NONE);
    assert_int_equal(authz_role_parse(STR_LIT("super_admin ")), AUTHZ_ROLE_NONE);
    assert_int_equal(authz_role_parse(STR_LIT("none")), AUTHZ_ROLE_NONE);
    assert_int_equal(authz_role_parse(STR_NULL), AUTHZ_ROLE_NONE);
    assert_string_equal(authz_role_title(AUTHZ_ROLE_SUPER_ADMIN), "Super Admin");
}

static void test_every_permission_is_described(void **state)
{
    (void)state;
    assert_null(authz_entry_of(AUTHZ_UNSET));
    assert_null(authz_entry_of(AUTHZ_PERMISSION_COUNT_));
    for (int p = AUTHZ_PUBLIC; p < AUTHZ_PERMISSION_COUNT_; p++) {
        const struct authz_entry *e = authz_entry_of(p);
        assert_non_null(e);
        assert_non_null(e->name);
        assert_non_null(e->description);
        assert_true(e->needs_session || p == AUTHZ_PUBLIC);
    }
}

/* Z1: a higher role holds all a lower one does; the least role is exact. */
static void test_roles_are_ordered(void **state)
{
    (void)state;
    for (int p = AUTHZ_PUBLIC; p < AUTHZ_PERMISSION_COUNT_; p++) {
        const struct authz_entry *e = authz_entry_of(p);
        for (int r = AUTHZ_ROLE_MEMBER; r <= AUTHZ_ROLE_SUPER_ADMIN; r++) {
            bool want = e->least == AUTHZ_ROLE_NONE || r >= (int)e->least;
            assert_int_equal(authz_allows(r, p), want);
            if (r > AUTHZ_ROLE_MEMBER && authz_allows(r - 1, p))
                assert_true(authz_allows(r, p));
        }
        assert_int_equal(authz_allows(AUTHZ_ROLE_NONE, p), p == AUTHZ_PUBLIC);
        assert_int_equal(authz_allows((enum authz_role)99, p), p == AUTHZ_PUBLIC);
    }
    assert_false(authz_allows(AUTHZ_ROLE_SUPER_ADMIN, AUTHZ_UNSET));
}

/* The SPEC's examples, one by one. */
static void test_spec_examples(void **state)
{
    (void)state;
    assert_true(authz_allows(AUTHZ_ROLE_MEMBER, AUTHZ_CONTENT_READ));
    assert_false(authz_allows(AUTHZ_ROLE_MEMBER, AUTHZ_DRAFT_EDIT));
    assert_true(authz_allows(AUTHZ_ROLE_EDITOR, AUTHZ_DRAFT_EDIT));
    assert_false(authz_allows(AUTHZ_ROLE_EDITOR, AUTHZ_PUBLISH));
    assert_true(authz_allows(AUTHZ_ROLE_ADMIN, AUTHZ_PUBLISH));
    assert_true(authz_allows(AUTHZ_ROLE_ADMIN, AUTHZ_MEMBERS_MANAGE));
    assert_false(authz_allows(AUTHZ_ROLE_ADMIN, AUTHZ_TENANT_MANAGE));
    assert_false(authz_allows(AUTHZ_ROLE_ADMIN, AUTHZ_AUDIT_EXPORT));
    assert_true(authz_allows(AUTHZ_ROLE_SUPER_ADMIN, AUTHZ_AUDIT_EXPORT));
    assert_true(authz_allows(AUTHZ_ROLE_MEMBER, AUTHZ_ACCOUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles_parse_and_name),
        cmocka_unit_test(test_every_permission_is_described),
        cmocka_unit_test(test_roles_are_ordered),
        cmocka_unit_test(test_spec_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
