/*
 * testhttpd — a small HTTP/1.1 server on a thread, for tests of outbound
 * requests (tests/unit/net, tests/outbound). It listens on 127.0.0.1, port 0,
 * serves one request per connection and answers as the fields below say; it
 * keeps the last request it read and counts connections, so a test can tell
 * whether a refused request ever reached it. Test code only.
 */
#ifndef SHIPLOG_TESTS_TESTHTTPD_H
#define SHIPLOG_TESTS_TESTHTTPD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define TESTHTTPD_MAX_HEAD 16384
#define TESTHTTPD_MAX_BODY (16u << 20)

struct testhttpd {
    /* how to answer; change between requests under lock (or while idle) */
    int status;           /* default 200 */
    const char *reply;    /* the answer body; default "ok"; NULL = body_len bytes of 'x' */
    size_t body_len;      /* bytes of the answer body when reply is NULL */
    bool no_length;       /* no Content-Length: the body ends when the connection closes */
    int delay_ms;         /* wait this long before answering */
    const char *location; /* a Location header when set */
    /* what arrived, under lock */
    pthread_mutex_t lock;
    int connections;               /* connections accepted */
    int requests;                  /* requests read completely */
    char head[TESTHTTPD_MAX_HEAD]; /* request line and headers of the last request */
    char *body;                    /* its body (heap, NUL-terminated) */
    size_t body_got;
    /* the server */
    int fd;
    int port;
    pthread_t thread;
    volatile int stop;
};

/* Starts the server on 127.0.0.1 port 0; false on failure. */
bool testhttpd_start(struct testhttpd *s);

/* Stops the thread and frees what it kept. */
void testhttpd_stop(struct testhttpd *s);

/* The value of header name in the last request (case-insensitive) into out; false if absent. */
bool testhttpd_header(struct testhttpd *s, const char *name, char *out, size_t cap);

#endif
