/*
 * httpc — the outbound HTTP client, guarded against server-side request forgery.
 *
 * Every request shiplog makes to an address a user chose (outbound webhooks,
 * later link checks) goes through httpc_send. The guard sits where it cannot
 * be bypassed: libcurl's open-socket callback sees each address curl is about
 * to connect to — after name resolution, for every address the name resolved
 * to — and refuses it unless the policy allows it. A name that resolves to
 * 127.0.0.1, a DNS answer that changes between a check and the connect
 * (rebinding), or an IPv4-mapped IPv6 address all meet the same check.
 * Redirects are never followed (the caller sees the 3xx), proxy environment
 * variables never apply, and only http and https are spoken.
 *
 * One libcurl easy handle per request: callers send one request at a time per
 * thread and nothing is shared between handles, so httpc_send is thread-safe.
 */
#ifndef SHIPLOG_NET_HTTPC_H
#define SHIPLOG_NET_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"

#define HTTPC_MAX_URL          2048              /* bytes of a URL */
#define HTTPC_MAX_RESPONSE     (1u << 20)        /* default cap of a response body kept */
#define HTTPC_MAX_HEADERS      32                /* request header lines */
#define HTTPC_MAX_HEADER_LINE  8192              /* bytes of one request header line */
#define HTTPC_MAX_REQUEST_BODY ((size_t)8 << 20) /* bytes of a request body */
#define HTTPC_MAX_TIMEOUT_MS   120000L           /* longest timeout_ms accepted */
#define HTTPC_IP_LEN           46                /* text of an IPv6 address and its NUL */

struct httpc_policy { /* which addresses a request may connect to */
    /* loopback, private, link-local, ULA, CGNAT, unspecified, multicast... allowed */
    bool allow_private;
};
/* The operator's policy: from SHIPLOG_OUTBOUND_ALLOW_PRIVATE (default false) read at start-up
 * (config). */

struct httpc_request {
    const char *method;         /* "POST", "GET" */
    struct str url;             /* http:// or https:// only; no userinfo */
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    struct str body;            /* sent with POST (may be empty); GET sends none */
    long timeout_ms;            /* whole transfer, connect included */
    size_t max_response;        /* body bytes kept; more -> ERR_LIMIT; 0 = HTTPC_MAX_RESPONSE */
    const struct httpc_policy *policy; /* NULL = nothing private allowed */
};

struct httpc_response {
    long status;                  /* HTTP status; 0 when none arrived (also set on errors) */
    struct str body;              /* in the arena given */
    int64_t latency_ms;           /* from the start of the request to the end of the response */
    char remote_ip[HTTPC_IP_LEN]; /* the address actually connected to */
};

/*
 * Sends one request and reads its response into out (body in a).
 * ERR_INVALID bad URL/scheme, userinfo, a method other than GET/POST, a header line
 * without a colon or with CR/LF, timeout_ms not in 1..HTTPC_MAX_TIMEOUT_MS;
 * ERR_LIMIT the URL, a header line, the number of headers or the body over its limit,
 * or the response body over max_response (or over what the arena can hold);
 * ERR_FORBIDDEN an address refused by the policy (checked on every address the name
 * resolved to, at connect time, so DNS rebinding cannot bypass it; no redirects are
 * followed); ERR_TIMEOUT; ERR_UNAVAILABLE connect/transfer failure (TLS included).
 * why gets a short, secret-free reason (never the URL, headers or body).
 * Any HTTP status is ERR_OK: the caller judges it. Thread-safe.
 */
MUST_CHECK enum err httpc_send(const struct httpc_request *r, struct arena *a,
                               struct httpc_response *out, char *why, size_t why_cap);

/*
 * True when the policy lets a connection go to this address. family is AF_INET (addr 4
 * bytes) or AF_INET6 (16 bytes). Refused unless allow_private: unspecified, loopback,
 * RFC 1918 private, CGNAT 100.64/10, link-local, IETF protocol assignments 192.0.0/24,
 * documentation and benchmarking ranges, multicast, reserved 240/4 and broadcast; IPv6
 * ULA fc00::/7, link-local fe80::/10, site-local fec0::/10, multicast, documentation,
 * discard 100::/64, Teredo 2001::/32, IPv4-compatible ::/96; IPv4-mapped ::ffff:0:0/96,
 * NAT64 64:ff9b::/96 and 6to4 2002::/16 are judged by the IPv4 address they carry.
 * Other families are always refused.
 */
bool httpc_addr_allowed(const struct httpc_policy *p, int family, const unsigned char *addr);

/*
 * Checks a URL before it is stored (e.g. an endpoint at registration): length, http(s)
 * scheme, a host, no userinfo, and — when the host is an IP literal in any form the
 * resolver would accept ("127.1", "0x7f.0.0.1", "[::ffff:10.0.0.1]") — that the policy
 * allows it. Names are not resolved here: httpc_send checks what they resolve to.
 * ERR_INVALID / ERR_LIMIT / ERR_FORBIDDEN, with a short reason in why.
 */
MUST_CHECK enum err httpc_url_check(struct str url, const struct httpc_policy *p, char *why,
                                    size_t why_cap);

#endif
