/*
 * server — the HTTP listener: libmicrohttpd with an epoll thread pool (the only
 * file that includes microhttpd.h). It turns MHD's callbacks into a struct
 * http_request, runs the pipeline and sends the struct http_response.
 *
 * Protection against slow clients (H4) has three layers: MHD's idle timeout
 * (no byte for idle_timeout_s), a header deadline (the request line and
 * headers must be complete within header_timeout_s of the connection opening
 * or of the request line of a keep-alive request, however slowly the bytes
 * trickle) and a request deadline (the whole body within request_timeout_s).
 * A reaper thread enforces the two deadlines by shutting the socket down.
 * Connections are capped in total and per IP.
 *
 * Shutdown (P6): http_server_quiesce() stops accepting (the listening socket
 * is closed, so new connections are refused), http_server_wait_idle() waits
 * for requests in flight, http_server_stop() ends the threads.
 */
#ifndef SHIPLOG_HTTP_SERVER_H
#define SHIPLOG_HTTP_SERVER_H

#include <stdint.h>

#include "core/buf.h"
#include "http/request.h"
#include "http/router.h"

#define SERVER_MAX_TLS_FILE (256 * 1024) /* bytes of a PEM certificate chain or key */

struct http_server;

/*
 * Binds and listens on cfg's address (connections queue until started), so the
 * caller learns the port before the application is assembled. detail explains
 * failures.
 */
MUST_CHECK enum err http_server_open(const struct config *cfg, struct http_server **out,
                                     struct buf *detail);

/*
 * Starts serving app with the routes. On failure s is not serving and must
 * still be released with http_server_stop().
 */
MUST_CHECK enum err http_server_start(struct http_server *s, const struct app *app,
                                      const struct route *routes, size_t n_routes,
                                      struct buf *detail);

/* The bound port (useful with port 0). */
uint16_t http_server_port(const struct http_server *s);
bool http_server_tls(const struct http_server *s);

void http_server_quiesce(struct http_server *s);

/* Waits until no request is in flight or timeout_s passes; true when idle. */
bool http_server_wait_idle(struct http_server *s, unsigned timeout_s);

/* Stops the threads, closes all connections and frees s (NULL is fine). */
void http_server_stop(struct http_server *s);

#endif
