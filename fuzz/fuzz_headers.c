/*
 * fuzz_headers — the parsers of untrusted header values: media types, cookies,
 * origins, token lists and the X-Forwarded-For walk. The first byte selects
 * nothing: every parser sees every input, so one corpus covers them all.
 */
#include <stdint.h>
#include <string.h>

#include "http/headers.h"
#include "http/netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct str in = str_from((const char *)data, size);
    static const char *const types[] = {"application/json", "application/csp-report", NULL};
    (void)http_media_type_in(in, types);
    struct str v;
    if (http_cookie_get(in, "__Host-shiplog_session", &v) && v.len > size)
        __builtin_trap();
    (void)http_origin_valid(in);
    (void)http_token_list_contains(in, "close");

    static struct config_cidr trusted[2];
    static bool ready;
    if (!ready) {
        if (config_parse_cidr("127.0.0.0/8", 11, &trusted[0]) != ERR_OK ||
            config_parse_cidr("::1/128", 7, &trusted[1]) != ERR_OK)
            __builtin_trap();
        ready = true;
    }
    struct netaddr peer;
    (void)netaddr_parse(STR_LIT("127.0.0.1"), &peer);
    char out[HTTP_IP_LEN];
    netaddr_client_ip(&peer, in, trusted, 2, out);
    if (strlen(out) >= sizeof(out))
        __builtin_trap();
    struct netaddr a;
    if (netaddr_parse(in, &a))
        netaddr_format(&a, out);
    return 0;
}
