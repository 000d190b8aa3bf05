/* Unit tests for crypto/rand: CSPRNG output shape and hex round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/rand.h"

static void test_random_differs(void **state)
{
    (void)state;
    unsigned char a[32], b[32];
    assert_int_equal(rand_bytes(a, sizeof(a)), ERR_OK);
    assert_int_equal(rand_bytes(b, sizeof(b)), ERR_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    char hex[33];
    assert_int_equal(rand_hex(hex, 16), ERR_OK);
    assert_int_equal(strlen(hex), 32);
    assert_int_equal(strspn(hex, "0123456789abcdef"), 32);
    assert_int_equal(rand_hex(hex, 65), ERR_INTERNAL); /* over the helper's 64-byte limit */
}

static void test_hex(void **state)
{
    (void)state;
    const unsigned char in[4] = {0x00, 0xab, 0x7f, 0xff};
    char hex[9];
    hex_encode(in, 4, hex);
    assert_string_equal(hex, "00ab7fff");
    unsigned char out[4];
    assert_int_equal(hex_decode("00AB7fff", 8, out, 4), ERR_OK);
    assert_memory_equal(in, out, 4);
    assert_int_equal(hex_decode("00ab7ff", 7, out, 4), ERR_INVALID);
    assert_int_equal(hex_decode("00ab7ffg", 8, out, 4), ERR_INVALID);
    assert_int_equal(hex_decode("00ab7fff00", 10, out, 4), ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_differs),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
