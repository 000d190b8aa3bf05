/* netaddr — see netaddr.h. */
#include "http/netaddr.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool netaddr_parse(struct str text, struct netaddr *out)
{
    char tmp[HTTP_IP_LEN];
    if (text.len == 0 || text.len >= sizeof(tmp))
        return false;
    memcpy(tmp, text.ptr, text.len);
    tmp[text.len] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, tmp, out->bytes) == 1) {
        out->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, tmp, out->bytes) == 1) {
        out->family = AF_INET6;
        if (memcmp(out->bytes, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
            memmove(out->bytes, out->bytes + 12, 4);
            memset(out->bytes + 4, 0, 12);
            out->family = AF_INET;
        }
        return true;
    }
    return false;
}

void netaddr_format(const struct netaddr *a, char *out)
{
    if (!inet_ntop(a->family, a->bytes, out, HTTP_IP_LEN))
        memcpy(out, "unknown", sizeof("unknown"));
}

bool netaddr_trusted(const struct netaddr *a, const struct config_cidr *trusted, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (config_cidr_contains(&trusted[i], a->family, a->bytes))
            return true;
    return false;
}

void netaddr_client_ip(const struct netaddr *peer, struct str xff,
                       const struct config_cidr *trusted, size_t n_trusted, char *out)
{
    struct netaddr client = *peer;
    if (xff.ptr && netaddr_trusted(peer, trusted, n_trusted)) {
        /* walk from the right: each hop was appended by the proxy after it */
        size_t end = xff.len, hops = 0;
        while (hops++ < NETADDR_MAX_XFF_HOPS) {
            size_t start = end;
            while (start > 0 && xff.ptr[start - 1] != ',')
                start--;
            struct netaddr hop;
            if (!netaddr_parse(str_trim(str_from(xff.ptr + start, end - start)), &hop))
                break;
            client = hop;
            if (!netaddr_trusted(&hop, trusted, n_trusted) || start == 0)
                break;
            end = start - 1;
        }
    }
    netaddr_format(&client, out);
}
