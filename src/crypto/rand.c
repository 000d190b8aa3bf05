/* rand — OS CSPRNG and hex helpers; see rand.h. */
#include "crypto/rand.h"

#include "core/str.h"

#include <errno.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

enum err rand_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return ERR_CRYPTO;
        }
        p += got;
        n -= (size_t)got;
    }
    return ERR_OK;
}

void hex_encode(const void *data, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

enum err rand_hex(char *out, size_t n)
{
    unsigned char tmp[64];
    if (n > sizeof(tmp))
        return ERR_INTERNAL;
    enum err e = rand_bytes(tmp, n);
    if (e)
        return e;
    hex_encode(tmp, n, out);
    return ERR_OK;
}

enum err rand_hex_sortable(char *out, size_t n)
{
    unsigned char tmp[64];
    if (n > sizeof(tmp) || n < RAND_SORTABLE_TIME_BYTES + 8)
        return ERR_INTERNAL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (size_t i = 0; i < RAND_SORTABLE_TIME_BYTES; i++)
        tmp[i] = (unsigned char)(ms >> (8 * (RAND_SORTABLE_TIME_BYTES - 1 - i)));
    enum err e = rand_bytes(tmp + RAND_SORTABLE_TIME_BYTES, n - RAND_SORTABLE_TIME_BYTES);
    if (e)
        return e;
    hex_encode(tmp, n, out);
    return ERR_OK;
}

enum err hex_decode(const char *hex, size_t hex_len, unsigned char *out, size_t n)
{
    if (hex_len != 2 * n)
        return ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        int hi = str_hex_digit(hex[2 * i]), lo = str_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ERR_INVALID;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return ERR_OK;
}
