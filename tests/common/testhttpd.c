/*
 * testhttpd — see testhttpd.h. Deliberately simple: blocking sockets, one
 * connection at a time, Content-Length request bodies only.
 */
#include "testhttpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static size_t content_length(const char *head)
{
    const char *p = head;
    while ((p = strchr(p, '\n')) != NULL) {
        p++;
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            return (size_t)strtoul(p + 15, NULL, 10);
    }
    return 0;
}

static void serve(struct testhttpd *s, int fd)
{
    char head[TESTHTTPD_MAX_HEAD];
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        if (got + 1 >= sizeof head)
            return;
        ssize_t r = recv(fd, head + got, sizeof head - 1 - got, 0);
        if (r <= 0)
            return;
        got += (size_t)r;
        head[got] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end - head) + 4;
    size_t want = content_length(head);
    if (want > TESTHTTPD_MAX_BODY)
        return;
    char *body = calloc(1, want + 1);
    if (!body)
        return;
    size_t have = got - head_len;
    if (have > want)
        have = want;
    memcpy(body, head + head_len, have);
    while (have < want) {
        ssize_t r = recv(fd, body + have, want - have, 0);
        if (r <= 0) {
            free(body);
            return;
        }
        have += (size_t)r;
    }
    head[head_len] = '\0';
    pthread_mutex_lock(&s->lock);
    memcpy(s->head, head, head_len + 1);
    free(s->body);
    s->body = body;
    s->body_got = want;
    s->requests++;
    int status = s->status, delay_ms = s->delay_ms;
    const char *reply = s->reply;
    size_t n = reply ? strlen(reply) : s->body_len;
    bool no_length = s->no_length;
    char location[512] = "";
    if (s->location)
        snprintf(location, sizeof location, "Location: %s\r\n", s->location);
    pthread_mutex_unlock(&s->lock);

    if (delay_ms > 0)
        usleep((useconds_t)delay_ms * 1000);
    char out[1024];
    int len;
    if (no_length)
        len = snprintf(out, sizeof out, "HTTP/1.1 %d X\r\n%sConnection: close\r\n\r\n", status,
                       location);
    else
        len = snprintf(out, sizeof out,
                       "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
                       status, location, n);
    if (!write_all(fd, out, (size_t)len))
        return;
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    if (reply) {
        (void)write_all(fd, reply, n);
        return;
    }
    while (n > 0) {
        size_t k = n < sizeof chunk ? n : sizeof chunk;
        if (!write_all(fd, chunk, k))
            return;
        n -= k;
    }
}

static void *run(void *arg)
{
    struct testhttpd *s = arg;
    while (!s->stop) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        pthread_mutex_lock(&s->lock);
        s->connections++;
        pthread_mutex_unlock(&s->lock);
        serve(s, c);
        shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

bool testhttpd_start(struct testhttpd *s)
{
    memset(s, 0, sizeof *s);
    s->status = 200;
    s->reply = "ok";
    pthread_mutex_init(&s->lock, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 16) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0) {
        close(s->fd);
        return false;
    }
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        close(s->fd);
        return false;
    }
    return true;
}

void testhttpd_stop(struct testhttpd *s)
{
    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->fd);
    free(s->body);
    s->body = NULL;
    pthread_mutex_destroy(&s->lock);
}

bool testhttpd_header(struct testhttpd *s, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    bool found = false;
    pthread_mutex_lock(&s->lock);
    const char *p = s->head;
    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t len = e ? (size_t)(e - v) : strlen(v);
            snprintf(out, cap, "%.*s", (int)len, v);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}
