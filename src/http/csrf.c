/* csrf — see csrf.h. */
#include "http/csrf.h"

#include <string.h>

#include "crypto/hash.h"
#include "crypto/rand.h"
#include "crypto/token.h"
#include "http/headers.h"

#define CSRF_LABEL "shiplog/v1/csrf"

/* The binding cookie of this request (kind 's' or 'p'); false when it has none. */
static bool binding_of(const struct http_request *req, char *kind, struct str *value)
{
    struct str cookies = http_header_get(req, "Cookie");
    if (http_cookie_get(cookies, HTTP_SESSION_COOKIE, value) && value->len > 0) {
        *kind = 's';
    } else if (req->csrf_pre) {
        *kind = 'p';
        *value = str_from_cstr(req->csrf_pre);
    } else if (http_cookie_get(cookies, CSRF_PRESESSION, value) && value->len > 0) {
        *kind = 'p';
    } else {
        return false;
    }
    return value->len <= CSRF_MAX_BINDING;
}

static void token_for(const struct app *app, char kind, struct str binding,
                      char out[CSRF_TOKEN_LEN + 1])
{
    unsigned char msg[sizeof CSRF_LABEL + 2 + CSRF_MAX_BINDING];
    size_t n = sizeof CSRF_LABEL; /* the label and its NUL */
    memcpy(msg, CSRF_LABEL, n);
    msg[n++] = (unsigned char)kind;
    msg[n++] = ':';
    memcpy(msg + n, binding.ptr, binding.len);
    n += binding.len;
    unsigned char mac[SHA256_LEN];
    hmac_sha256(app->csrf_key, sizeof app->csrf_key, msg, n, mac);
    hex_encode(mac, sizeof mac, out);
    out[CSRF_TOKEN_LEN] = '\0';
    crypto_wipe(msg, sizeof msg);
}

/* Set-Cookie for the pre-session value, unless resp already carries it. */
static enum err set_presession(struct http_request *req, struct http_response *resp,
                               const char *value)
{
    char *cookie = arena_printf(req->arena, "%s=%s; Path=/; HttpOnly; Secure; SameSite=Lax",
                                CSRF_PRESESSION, value);
    if (!cookie)
        return ERR_LIMIT;
    for (size_t i = 0; i < resp->n_headers; i++)
        if (str_ieq_cstr(resp->headers[i].name, "Set-Cookie") &&
            str_eq_cstr(resp->headers[i].value, cookie))
            return ERR_OK;
    return http_resp_header(req, resp, "Set-Cookie", cookie);
}

enum err csrf_token(struct http_request *req, struct http_response *resp,
                    char out[CSRF_TOKEN_LEN + 1])
{
    out[0] = '\0';
    char kind;
    struct str binding;
    enum err e = ERR_OK;
    if (!binding_of(req, &kind, &binding)) {
        char value[TOKEN_TEXT_LEN + 1];
        unsigned char unused[SHA256_LEN];
        if ((e = token_new(value, unused)) != ERR_OK)
            return e;
        if (!(req->csrf_pre = arena_strndup(req->arena, value, TOKEN_TEXT_LEN)))
            return ERR_LIMIT;
        kind = 'p';
        binding = str_from_cstr(req->csrf_pre);
    }
    /* again after an error page replaced the response's headers */
    if (req->csrf_pre && (e = set_presession(req, resp, req->csrf_pre)) != ERR_OK)
        return e;
    token_for(req->app, kind, binding, out);
    return ERR_OK;
}

bool csrf_check(const struct http_request *req, struct str token)
{
    char kind;
    struct str binding;
    if (token.len != CSRF_TOKEN_LEN || !binding_of(req, &kind, &binding))
        return false;
    char want[CSRF_TOKEN_LEN + 1];
    token_for(req->app, kind, binding, want);
    return crypto_equal(want, token.ptr, CSRF_TOKEN_LEN);
}
