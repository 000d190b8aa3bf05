/* Unit tests for crypto/rand: CSPRNG output shape and hex round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

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

/* Sortable ids: the time prefix orders them, the rest stays random. */
static void test_sortable(void **state)
{
    (void)state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t before = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    char a[33], b[33];
    assert_int_equal(rand_hex_sortable(a, 16), ERR_OK);
    struct timespec pause = {.tv_nsec = 2 * 1000000L}; /* the next millisecond, at least */
    nanosleep(&pause, NULL);
    assert_int_equal(rand_hex_sortable(b, 16), ERR_OK);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_true(strcmp(a, b) < 0);               /* later sorts later */
    assert_memory_not_equal(a + 12, b + 12, 20); /* the 10 random bytes differ */
    unsigned char t[RAND_SORTABLE_TIME_BYTES];
    assert_int_equal(hex_decode(a, 2 * RAND_SORTABLE_TIME_BYTES, t, sizeof t), ERR_OK);
    uint64_t ms = 0;
    for (size_t i = 0; i < sizeof t; i++)
        ms = ms << 8 | t[i];
    assert_true(ms >= before && ms < before + 1000);
    /* fewer than 8 random bytes, or more than the 64-byte scratch: refused */
    assert_int_equal(rand_hex_sortable(a, RAND_SORTABLE_TIME_BYTES + 7), ERR_INTERNAL);
    assert_int_equal(rand_hex_sortable(a, RAND_SORTABLE_TIME_BYTES + 8), ERR_OK);
    char big[131];
    assert_int_equal(rand_hex_sortable(big, 65), ERR_INTERNAL);
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
        cmocka_unit_test(test_sortable),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
