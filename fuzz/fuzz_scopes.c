/*
 * fuzz_scopes — auth_scopes_parse (auth/auth.h) on any text: it never reads
 * past the input, sets only known bits, and what it accepts formats back to a
 * list that parses to the same set (auth_scopes_format). auth_key_text_is_key
 * runs on the same bytes (a Bearer credential is routed by it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct str in = str_from((const char *)data, size);
    (void)auth_key_text_is_key(in);
    uint32_t set = 0;
    const char *reason = NULL;
    enum err e = auth_scopes_parse(in, &set, &reason);
    if (size > AUTH_MAX_SCOPES_TEXT && e != ERR_LIMIT)
        abort();
    if (e != ERR_OK)
        return 0;
    if (set & ~AUTH_SCOPES_ALL)
        abort();
    char text[AUTH_MAX_SCOPES_TEXT + 1];
    auth_scopes_format(set, text);
    uint32_t again = 0;
    if (auth_scopes_parse(str_from_cstr(text), &again, &reason) != ERR_OK || again != set)
        abort();
    return 0;
}
