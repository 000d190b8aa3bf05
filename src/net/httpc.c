/*
 * httpc — outbound HTTP through libcurl with the address policy applied at
 * connect time (see httpc.h for the contract).
 *
 * The one file of shiplog that includes libcurl for HTTP. The URL is parsed
 * once into a CURLU handle, checked, and that same handle is what curl
 * requests, so the check and the request cannot read the URL differently.
 * The policy lives in the open-socket callback: curl calls it with each
 * resolved address right before connecting, and a refused address gets no
 * socket at all. The response body goes into a capped buffer; curl's own file
 * size limit stops a too-long Content-Length before the body is read.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/buf.h"
#include "net/httpc.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void reason(char *why, size_t cap, const char *text)
{
    if (why && cap)
        snprintf(why, cap, "%s", text);
}

/* ---- the address policy --------------------------------------------------------- */

struct net_range {
    unsigned char net[16];
    unsigned prefix;
};

/* IPv4 networks that are not public unicast (IANA special-purpose registry). */
static const struct net_range v4_refused[] = {
    {{0, 0, 0, 0}, 8},       /* "this network", unspecified */
    {{10, 0, 0, 0}, 8},      /* RFC 1918 */
    {{100, 64, 0, 0}, 10},   /* carrier-grade NAT */
    {{127, 0, 0, 0}, 8},     /* loopback */
    {{169, 254, 0, 0}, 16},  /* link-local, cloud metadata services */
    {{172, 16, 0, 0}, 12},   /* RFC 1918 */
    {{192, 0, 0, 0}, 24},    /* IETF protocol assignments */
    {{192, 0, 2, 0}, 24},    /* documentation */
    {{192, 88, 99, 0}, 24},  /* 6to4 relay anycast (deprecated) */
    {{192, 168, 0, 0}, 16},  /* RFC 1918 */
    {{198, 18, 0, 0}, 15},   /* benchmarking */
    {{198, 51, 100, 0}, 24}, /* documentation */
    {{203, 0, 113, 0}, 24},  /* documentation */
    {{224, 0, 0, 0}, 4},     /* multicast */
    {{240, 0, 0, 0}, 4},     /* reserved, broadcast */
};

/* IPv6 networks refused inside 2000::/3, the only range allocated for global unicast. */
static const struct net_range v6_refused[] = {
    {{0x20, 0x01, 0x00, 0x00}, 32}, /* Teredo: hides an IPv4 address */
    {{0x20, 0x01, 0x00, 0x10}, 28}, /* ORCHID */
    {{0x20, 0x01, 0x00, 0x20}, 28}, /* ORCHIDv2 */
    {{0x20, 0x01, 0x0d, 0xb8}, 32}, /* documentation */
    {{0x3f, 0xff, 0x00, 0x00}, 20}, /* documentation */
};

static bool prefix_match(const unsigned char *net, const unsigned char *a, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(net, a, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (net[full] & mask) == (a[full] & mask);
}

static bool v4_public(const unsigned char *a)
{
    for (size_t i = 0; i < sizeof v4_refused / sizeof v4_refused[0]; i++)
        if (prefix_match(v4_refused[i].net, a, v4_refused[i].prefix))
            return false;
    return true;
}

static bool v6_public(const unsigned char *a)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    /* an IPv4 address carried inside IPv6 is judged as that IPv4 address */
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return v4_public(a + 12);
    if (a[0] == 0x20 && a[1] == 0x02) /* 6to4 2002:V4ADDR::/48 */
        return v4_public(a + 2);
    /* everything outside 2000::/3 is special: ::, ::1, ::/96, 64:ff9b:1::/48, 100::/64,
     * fc00::/7, fe80::/10, fec0::/10, ff00::/8 and what is not allocated yet */
    if ((a[0] & 0xe0) != 0x20)
        return false;
    for (size_t i = 0; i < sizeof v6_refused / sizeof v6_refused[0]; i++)
        if (prefix_match(v6_refused[i].net, a, v6_refused[i].prefix))
            return false;
    return true;
}

bool httpc_addr_allowed(const struct httpc_policy *p, int family, const unsigned char *addr)
{
    if (family != AF_INET && family != AF_INET6)
        return false;
    if (p && p->allow_private)
        return true;
    return family == AF_INET ? v4_public(addr) : v6_public(addr);
}

/* ---- URL checks ------------------------------------------------------------------ */

/* Parses and checks a URL into a new CURLU handle (*out); the caller cleans it up. */
static enum err url_parse(struct str url, CURLU **out, char *why, size_t why_cap)
{
    *out = NULL;
    if (url.len > HTTPC_MAX_URL) {
        reason(why, why_cap, "URL too long");
        return ERR_LIMIT;
    }
    /* no spaces or backslashes: parsers disagree on both (RFC 3986 allows neither) */
    if (url.len == 0 || !str_is_printable_ascii(url) || str_index(url, ' ') >= 0 ||
        str_index(url, '\\') >= 0) {
        reason(why, why_cap, "URL must be printable ASCII without spaces or backslashes");
        return ERR_INVALID;
    }
    struct str rest;
    if (!str_cut_http_scheme(url, true, &rest)) {
        reason(why, why_cap, "URL must start with http:// or https://");
        return ERR_INVALID;
    }
    /* curl would read "http:///x" as the host x */
    if (rest.len == 0 || rest.ptr[0] == '/') {
        reason(why, why_cap, "URL has no host");
        return ERR_INVALID;
    }
    char text[HTTPC_MAX_URL + 1];
    memcpy(text, url.ptr, url.len);
    text[url.len] = '\0';
    CURLU *u = curl_url();
    if (!u)
        err_oom();
    enum err e = ERR_INVALID;
    char *part = NULL;
    if (curl_url_set(u, CURLUPART_URL, text, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        reason(why, why_cap, "URL cannot be parsed");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &part, 0) != CURLUE_NO_USER ||
        curl_url_get(u, CURLUPART_PASSWORD, &part, 0) != CURLUE_NO_PASSWORD ||
        curl_url_get(u, CURLUPART_OPTIONS, &part, 0) != CURLUE_NO_OPTIONS) {
        reason(why, why_cap, "URL must not contain user information");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &part, 0) != CURLUE_OK ||
        (strcmp(part, "http") != 0 && strcmp(part, "https") != 0)) {
        reason(why, why_cap, "URL must start with http:// or https://");
        goto out;
    }
    curl_free(part);
    part = NULL;
    if (curl_url_get(u, CURLUPART_HOST, &part, 0) != CURLUE_OK || part[0] == '\0') {
        reason(why, why_cap, "URL has no host");
        goto out;
    }
    e = ERR_OK;
out:
    curl_free(part);
    if (e == ERR_OK)
        *out = u;
    else
        curl_url_cleanup(u);
    return e;
}

/* "localhost" and its subdomains are loopback by definition (RFC 6761). */
static bool host_is_localhost(const char *host)
{
    size_t n = strlen(host);
    while (n > 0 && host[n - 1] == '.')
        n--;
    struct str h = str_from(host, n);
    return str_ieq_cstr(h, "localhost") ||
           (h.len > 10 && str_ieq_cstr(str_from(h.ptr + h.len - 10, 10), ".localhost"));
}

enum err httpc_url_check(struct str url, const struct httpc_policy *p, char *why, size_t why_cap)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        reason(why, why_cap, "curl cannot start");
        return ERR_UNAVAILABLE;
    }
    CURLU *u = NULL;
    enum err e = url_parse(url, &u, why, why_cap);
    if (e)
        return e;
    char *host = NULL;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        curl_url_cleanup(u);
        reason(why, why_cap, "URL has no host");
        return ERR_INVALID;
    }
    bool allow_private = p && p->allow_private;
    /* an IPv6 literal comes back in brackets */
    size_t n = strlen(host);
    char bare[256];
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof bare) {
        memcpy(bare, host + 1, n - 2);
        bare[n - 2] = '\0';
    } else if (n < sizeof bare) {
        memcpy(bare, host, n + 1);
    } else {
        bare[0] = '\0';
    }
    curl_free(host);
    curl_url_cleanup(u);
    if (!allow_private && host_is_localhost(bare)) {
        reason(why, why_cap, "address refused by the outbound policy");
        return ERR_FORBIDDEN;
    }
    /* numeric only: every spelling inet_aton accepts ("127.1", "0x7f.1") is a literal too */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_flags = AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    if (bare[0] == '\0' || getaddrinfo(bare, NULL, &hints, &res) != 0)
        return ERR_OK; /* a name: httpc_send checks what it resolves to */
    e = ERR_OK;
    for (struct addrinfo *ai = res; ai && e == ERR_OK; ai = ai->ai_next) {
        unsigned char a[16];
        if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(struct sockaddr_in)) {
            struct sockaddr_in sin;
            memcpy(&sin, ai->ai_addr, sizeof sin);
            memcpy(a, &sin.sin_addr, 4);
        } else if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(struct sockaddr_in6)) {
            struct sockaddr_in6 sin6;
            memcpy(&sin6, ai->ai_addr, sizeof sin6);
            memcpy(a, &sin6.sin6_addr, 16);
        } else {
            e = ERR_INVALID;
            break;
        }
        if (!httpc_addr_allowed(p, ai->ai_family, a))
            e = ERR_FORBIDDEN;
    }
    freeaddrinfo(res);
    if (e == ERR_FORBIDDEN)
        reason(why, why_cap, "address refused by the outbound policy");
    else if (e)
        reason(why, why_cap, "URL host is not an address");
    return e;
}

/* ---- the transfer ---------------------------------------------------------------- */

struct transfer {
    const struct httpc_policy *policy;
    bool refused;    /* an address was refused by the policy */
    bool connecting; /* a socket was handed out for an allowed address */
    char ip[HTTPC_IP_LEN];
    struct buf body; /* capped at max_response */
    bool over;       /* the body went over its cap */
};

/*
 * curl asks for a socket for each address it is about to connect to: this is where
 * the policy holds, after resolution and for every address tried.
 */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *sa)
{
    struct transfer *t = arg;
    /* curl keeps room for any address after the header; read it through bytes */
    const unsigned char *raw = (const unsigned char *)sa + offsetof(struct curl_sockaddr, addr);
    unsigned char a[16];
    if (purpose != CURLSOCKTYPE_IPCXN)
        goto refuse;
    if (sa->family == AF_INET && sa->addrlen >= sizeof(struct sockaddr_in))
        memcpy(a, raw + offsetof(struct sockaddr_in, sin_addr), 4);
    else if (sa->family == AF_INET6 && sa->addrlen >= sizeof(struct sockaddr_in6))
        memcpy(a, raw + offsetof(struct sockaddr_in6, sin6_addr), 16);
    else
        goto refuse;
    if (!httpc_addr_allowed(t->policy, sa->family, a))
        goto refuse;
    if (!inet_ntop(sa->family, a, t->ip, sizeof t->ip))
        t->ip[0] = '\0';
    curl_socket_t fd = socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
    if (fd >= 0)
        t->connecting = true;
    return fd;
refuse:
    t->refused = true;
    return CURL_SOCKET_BAD;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;
    if (buf_append(&t->body, data, n) != ERR_OK) {
        t->over = true;
        return 0; /* anything but n ends the transfer */
    }
    return n;
}

static bool header_line_ok(const char *h)
{
    size_t i = 0;
    for (; h[i] && h[i] != ':'; i++) {
        unsigned char c = (unsigned char)h[i];
        /* an RFC 9110 token */
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c)))
            return false;
    }
    if (i == 0 || h[i] != ':')
        return false;
    for (; h[i]; i++)
        if (h[i] == '\r' || h[i] == '\n')
            return false;
    return true;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum err httpc_send(const struct httpc_request *r, struct arena *a, struct httpc_response *out,
                    char *why, size_t why_cap)
{
    memset(out, 0, sizeof *out);
    reason(why, why_cap, "unknown");
    bool post;
    if (r->method && strcmp(r->method, "POST") == 0)
        post = true;
    else if (r->method && strcmp(r->method, "GET") == 0)
        post = false;
    else {
        reason(why, why_cap, "method must be GET or POST");
        return ERR_INVALID;
    }
    if (r->timeout_ms <= 0 || r->timeout_ms > HTTPC_MAX_TIMEOUT_MS) {
        reason(why, why_cap, "timeout out of range");
        return ERR_INVALID;
    }
    if (r->body.len > HTTPC_MAX_REQUEST_BODY) {
        reason(why, why_cap, "request body too large");
        return ERR_LIMIT;
    }
    size_t n_headers = 0;
    for (; r->headers && r->headers[n_headers]; n_headers++) {
        if (n_headers == HTTPC_MAX_HEADERS) {
            reason(why, why_cap, "too many request headers");
            return ERR_LIMIT;
        }
        if (strnlen(r->headers[n_headers], HTTPC_MAX_HEADER_LINE + 1) > HTTPC_MAX_HEADER_LINE) {
            reason(why, why_cap, "request header line too long");
            return ERR_LIMIT;
        }
        if (!header_line_ok(r->headers[n_headers])) {
            reason(why, why_cap, "malformed request header line");
            return ERR_INVALID;
        }
    }
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        reason(why, why_cap, "curl cannot start");
        return ERR_UNAVAILABLE;
    }
    CURLU *u = NULL;
    enum err e = url_parse(r->url, &u, why, why_cap);
    if (e)
        return e;

    size_t cap = r->max_response ? r->max_response : HTTPC_MAX_RESPONSE;
    struct transfer t = {.policy = r->policy};
    buf_init(&t.body, cap);
    struct curl_slist *hl = NULL;
    /* no "Expect: 100-continue" round trip before the body */
    hl = curl_slist_append(hl, "Expect:");
    for (size_t i = 0; hl && i < n_headers; i++)
        hl = curl_slist_append(hl, r->headers[i]);
    if (!hl)
        err_oom();
    CURL *h = curl_easy_init();
    if (!h)
        err_oom();
    CURLcode rc = CURLE_OK;
#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)
    SETOPT(CURLOPT_CURLU, u);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_PROXY, ""); /* "" disables proxies, http_proxy and friends included */
    SETOPT(CURLOPT_NOPROXY, "*");
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_TIMEOUT_MS, r->timeout_ms);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(CURLOPT_USERAGENT, "shiplog");
    SETOPT(CURLOPT_HTTPHEADER, hl);
    SETOPT(CURLOPT_OPENSOCKETFUNCTION, open_socket);
    SETOPT(CURLOPT_OPENSOCKETDATA, &t);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, &t);
    SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
    if (post) {
        SETOPT(CURLOPT_POST, 1L);
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
        SETOPT(CURLOPT_POSTFIELDS, r->body.len ? r->body.ptr : "");
    } else {
        SETOPT(CURLOPT_HTTPGET, 1L);
    }
#undef SETOPT
    int64_t started = mono_ms();
    if (rc == CURLE_OK)
        rc = curl_easy_perform(h);
    out->latency_ms = mono_ms() - started;
    snprintf(out->remote_ip, sizeof out->remote_ip, "%s", t.ip);

    long status = 0;
    if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        status = 0;
    out->status = status; /* also on failures after the status line (a body over the cap) */
    if (rc == CURLE_OK) {
        char *body = arena_strndup(a, t.body.data ? t.body.data : "", t.body.len);
        if (!body) {
            reason(why, why_cap, "response does not fit in memory");
            e = ERR_LIMIT;
        } else {
            out->body = str_from(body, t.body.len);
            reason(why, why_cap, "ok");
            e = ERR_OK;
        }
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        reason(why, why_cap, "timed out");
        e = ERR_TIMEOUT;
    } else if (t.over || rc == CURLE_FILESIZE_EXCEEDED) {
        reason(why, why_cap, "response body over the limit");
        e = ERR_LIMIT;
    } else if (t.refused && !t.connecting) {
        reason(why, why_cap, "address refused by the outbound policy");
        e = ERR_FORBIDDEN;
    } else {
        /* curl_easy_strerror is a fixed text: no host, URL or header in it */
        if (why && why_cap)
            snprintf(why, why_cap, "%s", curl_easy_strerror(rc));
        e = ERR_UNAVAILABLE;
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(hl);
    curl_url_cleanup(u);
    buf_release(&t.body);
    return e;
}
