/*
 * server — libmicrohttpd glue. See server.h for the design; the notes here are
 * about MHD 0.9.75's behaviour that the code depends on:
 *
 *  - The access handler is called once when the headers are complete, then
 *    once per body chunk, then once more with *upload_data_size == 0. A
 *    response is queued on that last call: queuing on the first call makes MHD
 *    close the connection after the response, which is right only for early
 *    refusals (431, 413 by Content-Length) where the body must not be read.
 *  - The URI log callback runs as soon as the request line is parsed, before
 *    the headers; its return value becomes the request's context, which is
 *    where the header deadline of a keep-alive request starts.
 *  - NOTIFY_CONNECTION(CLOSED) runs before MHD closes the socket, so the
 *    reaper, holding the registry lock, never shuts down a reused descriptor.
 *  - Responses are created with MHD_RESPMEM_MUST_COPY (except bodies that
 *    outlive the server, sent as MHD_RESPMEM_PERSISTENT) because the request's
 *    arena (which holds the body) is freed in the completion callback, before
 *    MHD destroys the response.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "crypto/rand.h"
#include "http/pipeline.h"

#define SERVER_LISTEN_BACKLOG   1024
#define SERVER_REAPER_PERIOD_MS 250
#define SERVER_TLS_PRIORITIES                                                                      \
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"         \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE"

enum conn_phase {
    CONN_HEADERS,  /* waiting for a complete request head: header deadline */
    CONN_BODY,     /* receiving the body: request deadline */
    CONN_HANDLING, /* the pipeline runs or the response is sent: no deadline */
    CONN_IDLE,     /* keep-alive between requests: the next request line must start and
                      finish within idle + header timeout, however slowly it trickles */
    CONN_CUT,      /* shut down by the reaper; waiting for MHD to close it */
};

/* Per TCP connection, registered for the reaper. */
struct conn {
    struct conn *prev, *next;
    int fd;
    enum conn_phase phase;
    struct timespec deadline;
};

/* Per HTTP request; MHD's con_cls. */
struct req_ctx {
    bool nul_in_target; /* the raw request target holds %00 (MHD would cut the path there) */
    struct http_request req;
    struct http_response resp;
    struct buf body;
    size_t discarded;
    bool headers_seen;
    bool counted; /* included in inflight */
    struct conn *conn;
    /* a deferred answer (struct http_deferred): the connection is suspended
     * until the work calls resume_deferred, then MHD calls us once more */
    bool deferred;
    struct MHD_Connection *mhd;
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct pipeline pipeline;
    const struct config *cfg;
    const struct app *app;
    int listen_fd;
    uint16_t port;
    bool tls;
    atomic_int inflight;
    pthread_mutex_t conns_lock;
    struct conn conns; /* list head */
    pthread_t reaper;
    bool reaper_running;
    atomic_bool stopping;
    char *tls_cert;
    char *tls_key;
};

static void deadline_in(struct timespec *t, unsigned seconds)
{
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_sec += seconds;
}

static bool deadline_passed(const struct timespec *t, const struct timespec *now)
{
    return now->tv_sec > t->tv_sec || (now->tv_sec == t->tv_sec && now->tv_nsec >= t->tv_nsec);
}

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void conn_set_phase(struct http_server *s, struct conn *cn, enum conn_phase phase,
                           unsigned seconds)
{
    if (!cn)
        return;
    pthread_mutex_lock(&s->conns_lock);
    cn->phase = phase;
    deadline_in(&cn->deadline, seconds);
    pthread_mutex_unlock(&s->conns_lock);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn *cn = calloc(1, sizeof(*cn));
        if (!cn)
            err_oom();
        cn->fd = ci ? ci->connect_fd : -1;
        cn->phase = CONN_HEADERS;
        deadline_in(&cn->deadline, s->app->cfg->header_timeout_s);
        pthread_mutex_lock(&s->conns_lock);
        cn->next = s->conns.next;
        cn->prev = &s->conns;
        s->conns.next->prev = cn;
        s->conns.next = cn;
        pthread_mutex_unlock(&s->conns_lock);
        *socket_context = cn;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        struct conn *cn = *socket_context;
        pthread_mutex_lock(&s->conns_lock);
        cn->prev->next = cn->next;
        cn->next->prev = cn->prev;
        pthread_mutex_unlock(&s->conns_lock);
        free(cn);
        *socket_context = NULL;
    }
}

/* Shuts down connections whose header or request deadline has passed. */
static void *reaper_main(void *arg)
{
    struct http_server *s = arg;
    while (!atomic_load(&s->stopping)) {
        struct timespec nap = {0, SERVER_REAPER_PERIOD_MS * 1000000L};
        nanosleep(&nap, NULL);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        pthread_mutex_lock(&s->conns_lock);
        for (struct conn *cn = s->conns.next; cn != &s->conns; cn = cn->next) {
            if ((cn->phase == CONN_HEADERS || cn->phase == CONN_BODY || cn->phase == CONN_IDLE) &&
                cn->fd >= 0 && deadline_passed(&cn->deadline, &now)) {
                static const char *const phases[] = {
                    [CONN_HEADERS] = "headers", [CONN_BODY] = "body", [CONN_IDLE] = "keep-alive"};
                log_warn("slow client cut off", LOG_STR("phase", phases[cn->phase]));
                shutdown(cn->fd, SHUT_RDWR);
                cn->phase = CONN_CUT;
            }
        }
        pthread_mutex_unlock(&s->conns_lock);
    }
    return NULL;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct http_server *s = cls;
    struct req_ctx *rc = calloc(1, sizeof(*rc));
    if (!rc)
        err_oom();
    rc->req.arena = arena_new(ARENA_DEFAULT_CAP);
    rc->req.app = s->app;
    clock_gettime(CLOCK_MONOTONIC, &rc->req.started);
    buf_init(&rc->body, s->app->cfg->max_body_bytes);
    const char *q = strchr(uri, '?');
    if (q)
        rc->req.query = str_from_cstr(arena_strndup(rc->req.arena, q + 1, strlen(q + 1)));
    rc->nul_in_target = strstr(uri, "%00") != NULL;
    rc->conn = conn_of(c);
    if (rc->conn) {
        /* a keep-alive request's head gets its own header deadline from here */
        pthread_mutex_lock(&s->conns_lock);
        if (rc->conn->phase == CONN_IDLE) {
            rc->conn->phase = CONN_HEADERS;
            deadline_in(&rc->conn->deadline, s->app->cfg->header_timeout_s);
        }
        pthread_mutex_unlock(&s->conns_lock);
    }
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct req_ctx *rc = *con_cls;
    if (!rc)
        return;
    if (rc->counted)
        atomic_fetch_sub(&s->inflight, 1);
    conn_set_phase(s, rc->conn, CONN_IDLE,
                   s->app->cfg->idle_timeout_s + s->app->cfg->header_timeout_s);
    arena_free(rc->req.arena);
    buf_release(&rc->body);
    free(rc);
    *con_cls = NULL;
}

struct header_walk {
    struct http_request *req;
    size_t max_bytes;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct header_walk *w = cls;
    struct http_request *req = w->req;
    size_t klen = strlen(key), vlen = value ? strlen(value) : 0;
    req->header_bytes += klen + vlen + 4;
    if (req->header_bytes > w->max_bytes || req->n_headers >= HTTP_MAX_HEADERS) {
        req->headers_too_large = true;
        return MHD_NO;
    }
    req->headers[req->n_headers++] =
        (struct http_header){str_from(key, klen), str_from(value ? value : "", vlen)};
    return MHD_YES;
}

static bool peer_address(struct MHD_Connection *c, struct netaddr *out)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    memset(out, 0, sizeof(*out));
    if (!ci || !ci->client_addr)
        return false;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        out->family = AF_INET;
        memcpy(out->bytes, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        char tmp[HTTP_IP_LEN];
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, tmp,
                  sizeof(tmp));
        return netaddr_parse(str_from_cstr(tmp), out); /* folds v4-mapped */
    } else {
        return false;
    }
    return true;
}

/* The deferred work is done (any thread): let MHD call on_request again. */
static void resume_deferred(void *ctx)
{
    struct req_ctx *rc = ctx;
    MHD_resume_connection(rc->mhd);
}

static enum MHD_Result queue_response(struct http_server *s, struct MHD_Connection *c,
                                      struct req_ctx *rc)
{
    struct http_response *resp = &rc->resp;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        resp->body_len, (void *)(uintptr_t)(resp->body ? resp->body : ""),
        resp->body_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (resp->content_type && resp->body_len)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    for (size_t i = 0; i < resp->n_headers; i++)
        MHD_add_response_header(r, resp->headers[i].name.ptr, resp->headers[i].value.ptr);
    if (atomic_load(&s->stopping))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_response(struct http_server *s, struct MHD_Connection *c,
                                     struct req_ctx *rc)
{
    struct http_request *req = &rc->req;
    pipeline_run(&s->pipeline, req, &rc->resp);
    if (!http_is_deferred(req, &rc->resp))
        return queue_response(s, c, rc);
    /* Suspend first: done may be called at once, from any thread, and resuming
     * a connection that is not suspended yet would be lost. */
    rc->deferred = true;
    rc->mhd = c;
    MHD_suspend_connection(c);
    req->deferred.start(req->deferred.arg, resume_deferred, rc);
    return MHD_YES;
}

/* First call: headers are complete. Sets up the request; answers early refusals. */
static enum MHD_Result begin_request(struct http_server *s, struct MHD_Connection *c,
                                     struct req_ctx *rc, const char *url, const char *method,
                                     const char *version)
{
    const struct config *cfg = s->app->cfg;
    struct http_request *req = &rc->req;
    rc->headers_seen = true;
    rc->counted = true;
    atomic_fetch_add(&s->inflight, 1);
    conn_set_phase(s, rc->conn, CONN_BODY, cfg->request_timeout_s);

    if (rand_hex(req->id, HTTP_REQUEST_ID_LEN / 2) != ERR_OK)
        return MHD_NO;
    req->tls = s->tls;
    req->method_text = str_from_cstr(method);
    req->method = http_method_parse(req->method_text);
    req->path = str_from_cstr(url);

    struct header_walk w = {req, cfg->max_header_bytes};
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &w);
    req->header_bytes += strlen(url) + strlen(method) + req->query.len;
    if (req->header_bytes > cfg->max_header_bytes)
        req->headers_too_large = true;

    struct netaddr peer;
    if (!peer_address(c, &peer))
        netaddr_parse(STR_LIT("0.0.0.0"), &peer);
    pipeline_resolve_client(&s->pipeline, req, &peer);

    /* RFC 9112 §3.2: an HTTP/1.1 request without Host is a bad request */
    if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 && !http_header_get(req, "Host").ptr)
        req->protocol_error = "An HTTP/1.1 request must carry a Host header.";
    if (rc->nul_in_target)
        req->protocol_error = "The request target must not contain a NUL byte.";

    /* Bodies: the server-wide limit first, then the route's own. A body for a
     * path that does not exist, or for a route that takes none, is refused
     * before it is read, so no request can make us buffer more than its route
     * accepts. */
    struct str cl = http_header_get(req, "Content-Length");
    uint64_t declared = 0;
    bool has_body = http_header_get(req, "Transfer-Encoding").ptr != NULL ||
                    (cl.ptr && (str_to_u64(cl, UINT64_MAX, &declared) != ERR_OK || declared > 0));
    bool early = false;
    if (declared > cfg->max_body_bytes) {
        req->body_too_large = true;
    } else if (has_body && !req->protocol_error && !req->headers_too_large) {
        bool routed = false;
        size_t limit = pipeline_body_limit(&s->pipeline, req, &routed);
        if (!routed)
            early = true; /* 404 / 405 / preflight: answered without reading the body */
        else if (declared > limit)
            req->body_too_large = true;
        else
            rc->body.max = limit;
    }

    if (early || req->headers_too_large || req->body_too_large || req->protocol_error) {
        conn_set_phase(s, rc->conn, CONN_HANDLING, 0);
        return send_response(s, c, rc);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *s = cls;
    struct req_ctx *rc = *con_cls;
    if (!rc) /* no URI callback ran: should not happen */
        return MHD_NO;
    if (!rc->headers_seen)
        return begin_request(s, c, rc, url, method, version);
    if (rc->deferred) { /* resumed: the deferred work is done */
        rc->deferred = false;
        pipeline_resume(&s->pipeline, &rc->req, &rc->resp);
        return queue_response(s, c, rc);
    }

    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rc->req.body_too_large || buf_append(&rc->body, upload_data, n) != ERR_OK) {
            /* a chunked body passed its route's limit: drain it without keeping
             * it (up to the server-wide limit) so the client gets its 413 */
            rc->req.body_too_large = true;
            rc->discarded += n;
            if (rc->discarded > s->app->cfg->max_body_bytes)
                return MHD_NO;
        }
        return MHD_YES;
    }

    conn_set_phase(s, rc->conn, CONN_HANDLING, 0);
    rc->req.body = str_from(rc->body.data, rc->body.len);
    return send_response(s, c, rc);
}

/* The library's messages: at most one line a second, with the count of those left out. */
#define SERVER_LOG_INTERVAL_MS 1000

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    /* a flood of refused connections must not become a flood of log lines */
    static atomic_llong last_ms = 0;
    static atomic_llong dropped = 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    long long prev = atomic_load(&last_ms);
    if (prev && ms - prev < SERVER_LOG_INTERVAL_MS) {
        atomic_fetch_add(&dropped, 1);
        return;
    }
    if (!atomic_compare_exchange_strong(&last_ms, &prev, ms)) {
        atomic_fetch_add(&dropped, 1);
        return;
    }
    long long skipped = atomic_exchange(&dropped, 0);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_warn("http library", LOG_STR("detail", msg), LOG_INT("suppressed", skipped));
}

/* Creates, binds and listens on host:port; fills s->port. */
static enum err listen_socket(struct http_server *s, struct buf *detail)
{
    const struct config *cfg = s->cfg;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)cfg->listen_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(cfg->listen_host, port, &hints, &res);
    if (rc != 0) {
        buf_note(detail, "cannot resolve listen host %s: %s", cfg->listen_host, gai_strerror(rc));
        return ERR_CONFIG;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SERVER_LISTEN_BACKLOG) == 0)
            break;
        buf_note(detail, "cannot listen on %s:%s: %s", cfg->listen_host, port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return ERR_IO;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    s->listen_fd = fd;
    buf_reset(detail);
    return ERR_OK;
}

static enum err read_pem(const char *path, char **out, struct buf *detail)
{
    struct buf b = BUF_INIT(SERVER_MAX_TLS_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        buf_note(detail, "cannot open %s: %s", path, strerror(errno));
        return ERR_CONFIG;
    }
    char chunk[4096];
    ssize_t n;
    enum err e = ERR_OK;
    while (!e && (n = read(fd, chunk, sizeof(chunk))) > 0)
        e = buf_append(&b, chunk, (size_t)n);
    close(fd);
    explicit_bzero(chunk, sizeof(chunk));
    if (e || b.len == 0) {
        buf_wipe(&b);
        buf_note(detail, "%s is empty or larger than %d bytes", path, SERVER_MAX_TLS_FILE);
        return ERR_CONFIG;
    }
    *out = buf_detach(&b, NULL);
    return ERR_OK;
}

static void free_secret_string(char *p)
{
    if (p) {
        explicit_bzero(p, strlen(p));
        free(p);
    }
}

static void server_free(struct http_server *s)
{
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    free_secret_string(s->tls_cert);
    free_secret_string(s->tls_key);
    pthread_mutex_destroy(&s->conns_lock);
    free(s);
}

enum err http_server_open(const struct config *cfg, struct http_server **out, struct buf *detail)
{
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s)
        err_oom();
    s->cfg = cfg;
    s->listen_fd = -1;
    s->conns.next = s->conns.prev = &s->conns;
    pthread_mutex_init(&s->conns_lock, NULL);
    enum err e = listen_socket(s, detail);
    if (e) {
        server_free(s);
        return e;
    }
    *out = s;
    return ERR_OK;
}

enum err http_server_start(struct http_server *s, const struct app *app, const struct route *routes,
                           size_t n_routes, struct buf *detail)
{
    const struct config *cfg = s->cfg;
    s->app = app;
    enum err e = pipeline_init(&s->pipeline, app, routes, n_routes, detail);
    if (!e && cfg->tls_cert_file[0]) {
        s->tls = true;
        e = read_pem(cfg->tls_cert_file, &s->tls_cert, detail);
        if (!e)
            e = read_pem(cfg->tls_key_file, &s->tls_key, detail);
    }
    if (e)
        return e;

    /* MHD's per-connection pool is a backstop above our header limit, so heads
     * just over the limit still reach the pipeline and get our 431. Kept small:
     * measured with `make bench`, a 32 KiB pool served /health at ~154 k req/s
     * where 48 KiB and 64 KiB pools gave ~105 k (the pool is recycled for
     * every keep-alive request). */
    size_t mem_limit = cfg->max_header_bytes + 16 * 1024;
    unsigned flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (s->tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)(uintptr_t)SERVER_TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
        s, /* first, so MHD never logs on its own */
        MHD_OPTION_LISTEN_SOCKET, s->listen_fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem_limit, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        s, MHD_OPTION_ARRAY, s->tls ? tls_opts : no_opts, MHD_OPTION_END);
    if (!s->daemon) {
        buf_note(detail, "%s",
                 s->tls ? "cannot start the HTTP daemon (check the TLS "
                          "certificate and key)"
                        : "cannot start the HTTP daemon");
        return ERR_IO;
    }
    if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0)
        return ERR_IO;
    pthread_setname_np(s->reaper, "sl-http-reaper"); /* top -H, perf, gdb */
    s->reaper_running = true;
    return ERR_OK;
}

uint16_t http_server_port(const struct http_server *s)
{
    return s->port;
}

bool http_server_tls(const struct http_server *s)
{
    return s->tls;
}

void http_server_quiesce(struct http_server *s)
{
    atomic_store(&s->stopping, true);
    if (!s->daemon)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET && fd == s->listen_fd) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
}

bool http_server_wait_idle(struct http_server *s, unsigned timeout_s)
{
    struct timespec deadline, now;
    deadline_in(&deadline, timeout_s);
    for (;;) {
        if (atomic_load(&s->inflight) == 0)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (deadline_passed(&deadline, &now))
            return false;
        struct timespec nap = {0, 20 * 1000000L};
        nanosleep(&nap, NULL);
    }
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    if (s->reaper_running)
        pthread_join(s->reaper, NULL);
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    server_free(s);
}
