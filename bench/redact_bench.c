/*
 * redact_bench — what redaction costs per webhook body.
 *
 *   redact_bench [FILE] [ITERATIONS]
 *
 * FILE defaults to $SHIPLOG_FIXTURES/github/push.json (a GitHub push, about
 * 8.5 KB), ITERATIONS to 20000. Times json_parse alone (for comparison: the
 * tree-building parser the rest of shiplog uses), json_tape_parse alone (the
 * tokenizer redaction runs on) and redact_json (tokenize + walk + write) on
 * one thread and prints microseconds per body and per KB, in CPU time (the
 * figure that matters on a busy machine) and wall time. Target: 8000 deliveries/s of 10 KB bodies
 * on 2 cores leaves about 250 us of CPU per body for everything. Figures only: never a pass/fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/json_tape.h"
#include "ingest/redact.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *p = malloc(INGEST_MAX_BODY + 1);
    size_t n = p ? fread(p, 1, INGEST_MAX_BODY + 1, f) : 0;
    fclose(f);
    *len = n;
    return p;
}

int main(int argc, char **argv)
{
    char def[4096];
    const char *dir = getenv("SHIPLOG_FIXTURES");
    snprintf(def, sizeof(def), "%s/github/push.json",
             dir && dir[0] ? dir : "../shared/fixtures/webhooks");
    const char *path = argc > 1 ? argv[1] : def;
    long iters = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
    if (iters <= 0)
        iters = 1;
    size_t len;
    char *body = slurp(path, &len);
    if (!body) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    struct buf out = BUF_INIT(REDACT_MAX_OUTPUT);
    struct json_error e;
    struct redact_counts c;

    double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC);
    for (long i = 0; i < iters; i++) {
        struct json *doc = NULL;
        if (json_parse(body, len, &INGEST_JSON_LIMITS, &doc, &e) != ERR_OK) {
            fprintf(stderr, "%s: %s\n", path, e.reason);
            return 1;
        }
        json_free(doc);
    }
    double parse_cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0,
           parse_wall = clock_s(CLOCK_MONOTONIC) - w0;

    c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    w0 = clock_s(CLOCK_MONOTONIC);
    for (long i = 0; i < iters; i++) {
        struct json_tape t;
        json_tape_init(&t);
        if (json_tape_parse(&t, body, len, &INGEST_JSON_LIMITS, &e) != ERR_OK) {
            fprintf(stderr, "%s: %s\n", path, e.reason);
            return 1;
        }
        json_tape_release(&t);
    }
    double tape_cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0,
           tape_wall = clock_s(CLOCK_MONOTONIC) - w0;

    c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    w0 = clock_s(CLOCK_MONOTONIC);
    for (long i = 0; i < iters; i++) {
        buf_reset(&out);
        if (redact_json(body, len, &out, &c, &e) != ERR_OK) {
            fprintf(stderr, "%s: %s\n", path, e.reason);
            return 1;
        }
    }
    double red_cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0,
           red_wall = clock_s(CLOCK_MONOTONIC) - w0;

    double us = 1e6 / (double)iters, kb = (double)len / 1024.0;
    printf("%s: %zu bytes in, %zu bytes out, %zu removals, %ld iterations\n", path, len, out.len,
           redact_counts_total(&c), iters);
    printf("json_parse only : %7.1f us cpu (%6.1f us/KB), %7.1f us wall\n", parse_cpu * us,
           parse_cpu * us / kb, parse_wall * us);
    printf("json_tape_parse : %7.1f us cpu (%6.1f us/KB), %7.1f us wall\n", tape_cpu * us,
           tape_cpu * us / kb, tape_wall * us);
    printf("redact_json     : %7.1f us cpu (%6.1f us/KB), %7.1f us wall\n", red_cpu * us,
           red_cpu * us / kb, red_wall * us);
    printf("redaction walk  : %7.1f us cpu beyond the tokenizer\n", (red_cpu - tape_cpu) * us);
    buf_release(&out);
    free(body);
    return 0;
}
