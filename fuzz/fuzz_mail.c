/*
 * fuzz_mail — outbox_format_message (outbox/outbox.h) on every mail that
 * outbox_mail_check accepts, which is every mail that can reach the queue.
 *
 * Input: four bytes of creation time (little-endian Unix seconds), then To,
 * Subject, Body and From separated by NUL bytes (a missing field is empty;
 * a From that config would refuse is replaced by a fixed one, as the
 * configuration only ever passes a valid address). Checked properties:
 *  - a checked mail always formats (the sender would otherwise retry it forever);
 *  - CR and LF only ever come as CRLF pairs, and there is no NUL;
 *  - the header is exactly Date, Message-ID, From, To, Subject (with
 *    continuation lines only after Subject), MIME-Version, Content-Type,
 *    Content-Transfer-Encoding: nothing in To or Subject starts a header line;
 *  - To is the address as given; Subject (RFC 2047 words decoded) is the
 *    subject as given; header lines stay within RFC 5322's 998 octets;
 *  - the body is 7-bit quoted-printable, lines of at most 76 characters, none
 *    starting with '.' (outbox.c encodes a leading '.' so that no line can
 *    read as SMTP's end of data), and decodes to the body as given (line ends
 *    as LF);
 *  - once per process, a maximal mail that needs the most encoding fits the
 *    message cap.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/config.h"
#include "outbox/outbox.h"

#define FUZZ_MAIL_MAX_MESSAGE (OUTBOX_MAX_BODY * 4 + 8192) /* as outbox.c allows */
#define FUZZ_MAIL_MAX_LINE    998                          /* RFC 5322 2.1.1 */
#define FUZZ_MAIL_QP_LINE     76                           /* RFC 2045 6.7 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

/* The next NUL-terminated field of [*p, end) copied into a fresh string. */
static char *next_field(const char **p, const char *end)
{
    const char *s = *p;
    const char *z = s < end ? memchr(s, '\0', (size_t)(end - s)) : NULL;
    size_t n = z ? (size_t)(z - s) : (size_t)(end - s);
    char *out = malloc(n + 1);
    if (!out)
        abort();
    memcpy(out, s, n);
    out[n] = '\0';
    *p = z ? z + 1 : end;
    return out;
}

static bool starts(struct str line, const char *prefix)
{
    size_t n = strlen(prefix);
    return line.len >= n && memcmp(line.ptr, prefix, n) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* the encoder writes upper case only */
}

/* Decodes the Subject header's value (first line and continuations, CRLF removed). */
static void check_subject(struct str value, const char *want)
{
    size_t want_len = strlen(want);
    if (!starts(value, " =?UTF-8?B?")) {
        /* written as is: a space, then the subject */
        CHECK(value.len == want_len + 1 && value.ptr[0] == ' ');
        CHECK(memcmp(value.ptr + 1, want, want_len) == 0);
        return;
    }
    unsigned char *got = malloc(want_len + 64);
    CHECK(got != NULL);
    size_t n = 0;
    size_t i = 0;
    while (i < value.len) {
        /* each word is " =?UTF-8?B?<base64>?=" (continuation CRLF already removed) */
        struct str rest = str_from(value.ptr + i, value.len - i);
        CHECK(starts(rest, " =?UTF-8?B?"));
        i += 11;
        size_t b = i;
        while (i < value.len && value.ptr[i] != '?')
            i++;
        CHECK(i + 1 < value.len && value.ptr[i + 1] == '=');
        CHECK(i - b <= 52); /* at most 39 bytes a word */
        size_t dec = 0;
        CHECK(base64_decode(str_from(value.ptr + b, i - b), got + n, want_len + 64 - n, &dec) ==
              ERR_OK);
        n += dec;
        i += 2;
    }
    CHECK(n == want_len && memcmp(got, want, n) == 0);
    free(got);
}

/* The body as the QP encoding should give it back: lines split at LF, one CR before each LF or
 * before the end dropped, every line ended with LF (a final LF adds no empty line). */
static char *normalized_body(const char *body, size_t *len)
{
    size_t n = strlen(body);
    char *out = malloc(n + 2);
    CHECK(out != NULL);
    size_t o = 0, i = 0;
    for (;;) {
        size_t end = i;
        while (end < n && body[end] != '\n')
            end++;
        if (i == n && i > 0 && body[i - 1] == '\n')
            break;
        size_t stop = end;
        if (stop > i && body[stop - 1] == '\r')
            stop--;
        memcpy(out + o, body + i, stop - i);
        o += stop - i;
        out[o++] = '\n';
        if (end >= n)
            break;
        i = end + 1;
    }
    *len = o;
    return out;
}

static void check_body(struct str qp, const char *body)
{
    char *got = malloc(qp.len + 1);
    CHECK(got != NULL);
    size_t n = 0, i = 0;
    while (i < qp.len) {
        size_t eol = i;
        while (eol + 1 < qp.len && !(qp.ptr[eol] == '\r' && qp.ptr[eol + 1] == '\n'))
            eol++;
        CHECK(eol + 1 < qp.len); /* every line ends with CRLF */
        struct str line = str_from(qp.ptr + i, eol - i);
        CHECK(line.len <= FUZZ_MAIL_QP_LINE);
        CHECK(!(line.len && line.ptr[0] == '.')); /* no SMTP dot-stuffing surprises */
        if (line.len) {
            char last = line.ptr[line.len - 1];
            CHECK(last != ' ' && last != '\t'); /* trailing blanks are encoded */
        }
        bool soft = false;
        for (size_t k = 0; k < line.len; k++) {
            unsigned char c = (unsigned char)line.ptr[k];
            CHECK((c >= 0x20 && c <= 0x7e) || c == '\t'); /* 7-bit, no controls */
            if (c != '=') {
                got[n++] = (char)c;
                continue;
            }
            if (k + 1 == line.len) {
                soft = true;
                break;
            }
            CHECK(k + 2 < line.len);
            int hi = hexval(line.ptr[k + 1]), lo = hexval(line.ptr[k + 2]);
            CHECK(hi >= 0 && lo >= 0);
            got[n++] = (char)(hi << 4 | lo);
            k += 2;
        }
        if (!soft)
            got[n++] = '\n';
        i = eol + 2;
    }
    size_t want_len;
    char *want = normalized_body(body, &want_len);
    CHECK(n == want_len && memcmp(got, want, n) == 0);
    free(want);
    free(got);
}

/* Formats one mail if outbox_mail_check accepts it, and checks the message. */
static void check_mail(int64_t created, const char *to, const char *subject, const char *body,
                       const char *from)
{
    const char *sender = config_mail_addr_valid(str_from_cstr(from)) ? from : "shiplog@example.com";
    static const char id[] = "0123456789abcdef0123456789abcdef";

    struct outbox_mail m = {.to = to, .subject = subject, .body = body};
    if (outbox_mail_check(&m) != ERR_OK)
        return;
    struct buf msg = BUF_INIT(FUZZ_MAIL_MAX_MESSAGE);
    CHECK(outbox_format_message(id, sender, to, subject, body, created, &msg) == ERR_OK);
    struct str all = str_from(buf_cstr(&msg), msg.len);

    /* CR and LF only as CRLF; no NUL */
    for (size_t i = 0; i < all.len; i++) {
        char c = all.ptr[i];
        CHECK(c != '\0');
        if (c == '\r')
            CHECK(i + 1 < all.len && all.ptr[i + 1] == '\n');
        if (c == '\n')
            CHECK(i > 0 && all.ptr[i - 1] == '\r');
    }

    /* the header: fixed names in a fixed order */
    static const char *const names[] = {
        "Date: ",   "Message-ID: ",      "From: ",         "To: ",
        "Subject:", "MIME-Version: 1.0", "Content-Type: ", "Content-Transfer-Encoding: "};
    const size_t n_names = sizeof(names) / sizeof(names[0]);
    size_t next = 0, i = 0;
    char *subject_value = malloc(all.len + 1);
    CHECK(subject_value != NULL);
    size_t subject_len = 0;
    bool in_subject = false;
    for (;;) {
        const char *crlf = NULL;
        for (size_t k = i; k + 1 < all.len; k++)
            if (all.ptr[k] == '\r') {
                crlf = all.ptr + k;
                break;
            }
        CHECK(crlf != NULL); /* the header ends with an empty line */
        struct str line = str_from(all.ptr + i, (size_t)(crlf - (all.ptr + i)));
        i += line.len + 2;
        if (line.len == 0)
            break;
        CHECK(line.len <= FUZZ_MAIL_MAX_LINE);
        if (line.ptr[0] == ' ' || line.ptr[0] == '\t') {
            CHECK(in_subject); /* only the subject is folded */
            memcpy(subject_value + subject_len, line.ptr, line.len);
            subject_len += line.len;
            continue;
        }
        CHECK(next < n_names && starts(line, names[next]));
        in_subject = next == 4;
        if (next == 3) /* To: exactly the address */
            CHECK(line.len == 4 + strlen(to) && memcmp(line.ptr + 4, to, strlen(to)) == 0);
        if (next == 2)
            CHECK(line.len == 6 + strlen(sender) &&
                  memcmp(line.ptr + 6, sender, strlen(sender)) == 0);
        if (in_subject) {
            memcpy(subject_value, line.ptr + 8, line.len - 8);
            subject_len = line.len - 8;
        }
        next++;
    }
    CHECK(next == n_names);
    check_subject(str_from(subject_value, subject_len), subject);
    free(subject_value);
    check_body(str_from(all.ptr + i, all.len - i), body);
    buf_release(&msg);
}

/*
 * Once per process: the largest expansion, a body of OUTBOX_MAX_BODY bytes
 * that all need encoding, must still fit the message cap. Built here rather
 * than kept as a 64 KiB seed, which would raise libFuzzer's max_len for every
 * input and slow the run down tenfold.
 */
static void check_worst_case(void)
{
    char *body = malloc(OUTBOX_MAX_BODY + 1);
    CHECK(body != NULL);
    memset(body, '=', OUTBOX_MAX_BODY);
    body[OUTBOX_MAX_BODY] = '\0';
    char subject[OUTBOX_MAX_SUBJECT + 1];
    for (size_t i = 0; i + 3 <= OUTBOX_MAX_SUBJECT; i += 3)
        memcpy(subject + i, "\xe2\x82\xac", 3); /* 85 x U+20AC: every word encoded */
    subject[OUTBOX_MAX_SUBJECT] = '\0';
    check_mail(0, "someone@example.com", subject, body, "");
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool worst_case_done;
    if (!worst_case_done) {
        worst_case_done = true;
        check_worst_case();
    }
    if (size < 4)
        return 0;
    int64_t created = (int64_t)((uint32_t)data[0] | (uint32_t)data[1] << 8 |
                                (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24);
    const char *p = (const char *)data + 4, *end = (const char *)data + size;
    char *to = next_field(&p, end), *subject = next_field(&p, end), *body = next_field(&p, end),
         *from = next_field(&p, end);
    check_mail(created, to, subject, body, from);
    free(to);
    free(subject);
    free(body);
    free(from);
    return 0;
}
