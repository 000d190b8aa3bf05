/*
 * netaddr — client addresses: parsing, formatting and the trusted-proxy rule
 * (H10). The client IP is the peer address unless the peer is a configured
 * trusted proxy; then X-Forwarded-For is read from the right, skipping
 * trusted hops, and the first address that is not a trusted proxy is the
 * client. A malformed entry stops the walk: the last trusted hop that we can
 * vouch for is used instead, so a forged header can never inject a value that
 * is not an IP address.
 */
#ifndef SHIPLOG_HTTP_NETADDR_H
#define SHIPLOG_HTTP_NETADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/str.h"
#include "http/request.h"

#define NETADDR_MAX_XFF_HOPS 32 /* entries of X-Forwarded-For examined */

struct netaddr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char bytes[16];
};

/* Parses a bare IPv4 or IPv6 address (IPv4-mapped IPv6 becomes IPv4). */
bool netaddr_parse(struct str text, struct netaddr *out);

/* Canonical text form into out (HTTP_IP_LEN bytes). */
void netaddr_format(const struct netaddr *a, char *out);

bool netaddr_trusted(const struct netaddr *a, const struct config_cidr *trusted, size_t n);

/*
 * Resolves the client address from the peer and an X-Forwarded-For value
 * (STR_NULL when absent) into out (HTTP_IP_LEN bytes).
 */
void netaddr_client_ip(const struct netaddr *peer, struct str xff,
                       const struct config_cidr *trusted, size_t n_trusted, char *out);

#endif
