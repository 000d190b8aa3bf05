/*
 * Unit tests for core/pack: round trips of every kind of input (empty, one
 * byte, repetitive, incompressible), the layout python-lz4 reads and writes
 * (a vector it made), and the unpacker's refusals: a short header, a declared
 * length one byte past the caller's maximum, a block cut short, trailing
 * bytes, a block that decodes to fewer bytes than declared, a full arena.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/pack.h"

/* python3 -c 'import lz4.block; print(lz4.block.compress(b"shiplog shiplog ... shiplog!"))' */
static const char py_text[] = "shiplog shiplog shiplog shiplog shiplog!";
static const char py_packed[] = "\x28\x00\x00\x00\x8f\x73\x68\x69\x70\x6c\x6f\x67\x20\x08\x00\x08"
                                "\x50\x70\x6c\x6f\x67\x21";

static void round_trip(struct str in, size_t max_len)
{
    struct arena *a = arena_new(4 * in.len + 1024);
    struct str packed, back;
    assert_int_equal(pack_lz4(in, a, &packed), ERR_OK);
    assert_true(packed.len >= PACK_HEADER);
    const unsigned char *h = (const unsigned char *)packed.ptr;
    assert_int_equal((size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24,
                     in.len);
    assert_int_equal(unpack_lz4(packed, max_len, a, &back), ERR_OK);
    assert_int_equal(back.len, in.len);
    assert_memory_equal(back.ptr, in.len ? in.ptr : "", in.len);
    assert_int_equal(back.ptr[back.len], '\0');
    arena_free(a);
}

static void test_round_trips(void **state)
{
    (void)state;
    round_trip(STR_LIT(""), 0);
    round_trip(STR_LIT("x"), 1);
    round_trip(str_from_cstr(py_text), sizeof py_text - 1);
    size_t n = 256 * 1024;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++) /* repetitive, like a JSON payload */
        big[i] = "{\"id\":1,\"name\":\"a\"},"[i % 20];
    round_trip(str_from(big, n), n);
    memset(big, 'a', n); /* LZ4's best ratio: one long match */
    round_trip(str_from(big, n), n);
    for (size_t k = 1; k < 2048; k += 97)
        round_trip(str_from(big, k), k);
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < n; i++) { /* incompressible */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        big[i] = (char)(x >> 32);
    }
    round_trip(str_from(big, n), n);
    free(big);
}

static void test_python_lz4_layout(void **state)
{
    (void)state;
    struct arena *a = arena_new(4096);
    struct str back;
    struct str in = str_from(py_packed, sizeof py_packed - 1);
    assert_int_equal(unpack_lz4(in, 1024, a, &back), ERR_OK);
    assert_int_equal(back.len, sizeof py_text - 1);
    assert_memory_equal(back.ptr, py_text, back.len);
    arena_free(a);
}

static void test_unpack_refusals(void **state)
{
    (void)state;
    struct arena *a = arena_new(4096);
    struct str out;
    struct str in = str_from(py_packed, sizeof py_packed - 1);
    size_t n = sizeof py_text - 1;
    /* the declared length at the maximum, and one byte past it */
    assert_int_equal(unpack_lz4(in, n, a, &out), ERR_OK);
    assert_int_equal(unpack_lz4(in, n - 1, a, &out), ERR_INVALID);
    assert_null(out.ptr);
    /* shorter than the header; the block cut short; a byte too many */
    assert_int_equal(unpack_lz4(str_from(py_packed, 3), 1024, a, &out), ERR_INVALID);
    assert_int_equal(unpack_lz4(str_from(py_packed, 4), 1024, a, &out), ERR_INVALID);
    assert_int_equal(unpack_lz4(str_from(py_packed, in.len - 1), 1024, a, &out), ERR_INVALID);
    char longer[64];
    memcpy(longer, py_packed, in.len);
    longer[in.len] = 0;
    assert_int_equal(unpack_lz4(str_from(longer, in.len + 1), 1024, a, &out), ERR_INVALID);
    /* a header claiming one byte more than the block holds */
    memcpy(longer, py_packed, in.len);
    longer[0] = (char)(n + 1);
    assert_int_equal(unpack_lz4(str_from(longer, in.len), 1024, a, &out), ERR_INVALID);
    /* a header claiming more than any block this long can hold: refused before allocating */
    longer[0] = 0, longer[1] = 0, longer[2] = 0, longer[3] = 0x70;
    assert_int_equal(unpack_lz4(str_from(longer, in.len), PACK_MAX_LEN, a, &out), ERR_INVALID);
    arena_free(a);
}

static void test_arena_full(void **state)
{
    (void)state;
    struct arena *a = arena_new(16);
    struct str out;
    assert_int_equal(unpack_lz4(str_from(py_packed, sizeof py_packed - 1), 1024, a, &out),
                     ERR_LIMIT);
    assert_int_equal(pack_lz4(str_from_cstr(py_text), a, &out), ERR_LIMIT);
    /* an input over liblz4's limit is refused before it is read */
    char one = 'x';
    assert_int_equal(pack_lz4(str_from(&one, PACK_MAX_LEN + 1), a, &out), ERR_LIMIT);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_python_lz4_layout),
        cmocka_unit_test(test_unpack_refusals),
        cmocka_unit_test(test_arena_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
