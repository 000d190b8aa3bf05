/*
 * fuzz_url_check — httpc_url_check (net/httpc.h), the check every endpoint URL
 * a user registers meets. Whatever the input: the answer is one of ERR_OK,
 * ERR_INVALID, ERR_LIMIT, ERR_FORBIDDEN; over HTTPC_MAX_URL bytes is always
 * ERR_LIMIT; a URL allowed without private targets is allowed with them, and
 * allowing them never gives ERR_FORBIDDEN; an accepted URL starts with
 * http:// or https:// (any case), is printable ASCII and holds no space,
 * backslash or '@' before its path (no user information).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/httpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct str url = str_from((const char *)data, size);
    const struct httpc_policy deny = {.allow_private = false};
    const struct httpc_policy allow = {.allow_private = true};
    char why[128];
    enum err d = httpc_url_check(url, &deny, why, sizeof why);
    enum err a = httpc_url_check(url, &allow, why, sizeof why);
    if (d != ERR_OK && d != ERR_INVALID && d != ERR_LIMIT && d != ERR_FORBIDDEN)
        abort();
    if (a == ERR_FORBIDDEN || (d == ERR_OK && a != ERR_OK))
        abort();
    if (size > HTTPC_MAX_URL && (d != ERR_LIMIT || a != ERR_LIMIT))
        abort();
    if (a == ERR_OK) {
        size_t skip = size >= 7 && strncasecmp((const char *)data, "http://", 7) == 0    ? 7
                      : size >= 8 && strncasecmp((const char *)data, "https://", 8) == 0 ? 8
                                                                                         : 0;
        if (!skip || !str_is_printable_ascii(url) || memchr(data, ' ', size) ||
            memchr(data, '\\', size))
            abort();
        for (size_t i = skip; i < size && data[i] != '/' && data[i] != '?' && data[i] != '#'; i++)
            if (data[i] == '@')
                abort();
    }
    return 0;
}
