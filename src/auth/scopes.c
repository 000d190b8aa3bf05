/*
 * scopes.c — the fixed list of API-key scopes, their text form, and what a
 * key may do with them given its creator's role (Z3). See auth.h.
 *
 * The table is the single place that ties a scope to the authz permission it
 * grants and to the permission a role needs to hold it; everything else
 * (parsing, the role cut, auth_key_allows) is derived from it.
 */
#include <string.h>

#include "auth/auth.h"

static const struct auth_scope_entry scopes[AUTH_SCOPE_COUNT] = {
    {"content:read", AUTH_SCOPE_CONTENT_READ, AUTHZ_CONTENT_READ, AUTHZ_CONTENT_READ,
     "Read drafts, published entries and reports"},
    {"drafts:write", AUTH_SCOPE_DRAFTS_WRITE, AUTHZ_DRAFT_EDIT, AUTHZ_DRAFT_EDIT,
     "Edit drafts and submit them for review"},
    {"drafts:review", AUTH_SCOPE_DRAFTS_REVIEW, AUTHZ_DRAFT_REVIEW, AUTHZ_DRAFT_REVIEW,
     "Approve, reject and assign drafts"},
    {"entries:publish", AUTH_SCOPE_ENTRIES_PUBLISH, AUTHZ_PUBLISH, AUTHZ_PUBLISH,
     "Publish and unpublish changelog entries"},
    {"integrations:write", AUTH_SCOPE_INTEGRATIONS_WRITE, AUTHZ_INTEGRATIONS_MANAGE,
     AUTHZ_INTEGRATIONS_MANAGE, "Connect, change and remove integrations"},
    {"members:write", AUTH_SCOPE_MEMBERS_WRITE, AUTHZ_MEMBERS_MANAGE, AUTHZ_MEMBERS_MANAGE,
     "Invite and remove members, change roles up to the creator's own"},
    {"content:export", AUTH_SCOPE_CONTENT_EXPORT, AUTHZ_CONTENT_EXPORT, AUTHZ_CONTENT_EXPORT,
     "Export content"},
    /* grants no route permission; any role may let a key manage that user's keys */
    {"keys:write", AUTH_SCOPE_KEYS_WRITE, AUTHZ_UNSET, AUTHZ_ACCOUNT,
     "Create keys (never wider than this one) and revoke keys"},
    {"audit:read", AUTH_SCOPE_AUDIT_READ, AUTHZ_AUDIT_EXPORT, AUTHZ_AUDIT_EXPORT,
     "Export and verify the audit trail"},
};

_Static_assert(AUTH_SCOPE_COUNT <= 31, "scopes fit the stored bitmask");

const struct auth_scope_entry *auth_scope_at(size_t i)
{
    return i < AUTH_SCOPE_COUNT ? &scopes[i] : NULL;
}

enum err auth_scope_parse(struct str name, uint32_t *bit)
{
    *bit = 0;
    for (size_t i = 0; i < AUTH_SCOPE_COUNT; i++) {
        if (str_eq_cstr(name, scopes[i].name)) {
            *bit = scopes[i].bit;
            return ERR_OK;
        }
    }
    return ERR_INVALID;
}

static bool is_sep(char c)
{
    return c == ' ' || c == ',';
}

enum err auth_scopes_parse(struct str text, uint32_t *out, const char **reason)
{
    *out = 0;
    if (text.len > AUTH_MAX_SCOPES_TEXT) {
        if (reason)
            *reason = "scope list too long";
        return ERR_LIMIT;
    }
    if (text.len && !text.ptr) {
        if (reason)
            *reason = "unknown scope";
        return ERR_INVALID;
    }
    uint32_t set = 0;
    for (size_t i = 0; i < text.len;) {
        if (is_sep(text.ptr[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < text.len && !is_sep(text.ptr[j]))
            j++;
        uint32_t bit = 0;
        if (auth_scope_parse(str_from(text.ptr + i, j - i), &bit) != ERR_OK) {
            if (reason)
                *reason = "unknown scope";
            return ERR_INVALID;
        }
        set |= bit;
        i = j;
    }
    *out = set;
    return ERR_OK;
}

void auth_scopes_format(uint32_t set, char out[AUTH_MAX_SCOPES_TEXT + 1])
{
    size_t n = 0;
    for (size_t i = 0; i < AUTH_SCOPE_COUNT; i++) {
        if (!(set & scopes[i].bit))
            continue;
        size_t len = strlen(scopes[i].name);
        /* every name once, with a space each, is far below the limit */
        ASSERT(n + 1 + len <= AUTH_MAX_SCOPES_TEXT);
        if (n)
            out[n++] = ' ';
        memcpy(out + n, scopes[i].name, len);
        n += len;
    }
    out[n] = '\0';
}

uint32_t auth_scopes_allowed(enum authz_role r)
{
    uint32_t set = 0;
    if (r <= AUTHZ_ROLE_NONE || r > AUTHZ_ROLE_SUPER_ADMIN)
        return 0;
    for (size_t i = 0; i < AUTH_SCOPE_COUNT; i++)
        if (authz_allows(r, scopes[i].requires))
            set |= scopes[i].bit;
    return set;
}

uint32_t auth_key_effective_scopes(const struct auth_key_principal *p)
{
    return p ? p->scopes & AUTH_SCOPES_ALL & auth_scopes_allowed(p->role) : 0;
}

bool auth_key_allows(const struct auth_key_principal *p, enum authz_permission perm)
{
    if (!p)
        return false;
    if (perm == AUTHZ_PUBLIC)
        return true;
    if (perm == AUTHZ_UNSET)
        return false;
    uint32_t eff = auth_key_effective_scopes(p);
    for (size_t i = 0; i < AUTH_SCOPE_COUNT; i++)
        if ((eff & scopes[i].bit) && scopes[i].grants == perm)
            return true;
    return false;
}

bool auth_key_has_scope(const struct auth_key_principal *p, uint32_t scope)
{
    /* exactly one known bit */
    if (scope == 0 || (scope & (scope - 1)) != 0 || (scope & ~AUTH_SCOPES_ALL))
        return false;
    return (auth_key_effective_scopes(p) & scope) != 0;
}
