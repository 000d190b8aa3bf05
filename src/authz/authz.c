/* authz — see authz.h. */
#include "authz/authz.h"

static const struct authz_entry table[AUTHZ_PERMISSION_COUNT_] = {
    [AUTHZ_PUBLIC] = {"public", AUTHZ_ROLE_NONE, false, false,
                      "Anyone, signed in or not: health, documents, sign-up and sign-in"},
    [AUTHZ_ACCOUNT] = {"account.self", AUTHZ_ROLE_NONE, true, false,
                       "Any signed-in user, on their own account: sessions, sign-out"},
    [AUTHZ_CONTENT_READ] = {"content.read", AUTHZ_ROLE_MEMBER, true, false,
                            "Read drafts, published entries and reports"},
    [AUTHZ_DRAFT_EDIT] = {"drafts.edit", AUTHZ_ROLE_EDITOR, true, false,
                          "Edit drafts and submit them for review"},
    [AUTHZ_DRAFT_REVIEW] = {"drafts.review", AUTHZ_ROLE_ADMIN, true, true,
                            "Approve, reject and assign drafts"},
    [AUTHZ_PUBLISH] = {"entries.publish", AUTHZ_ROLE_ADMIN, true, true,
                       "Publish and unpublish changelog entries"},
    [AUTHZ_INTEGRATIONS_MANAGE] = {"integrations.manage", AUTHZ_ROLE_ADMIN, true, true,
                                   "Connect, change and remove integrations and their secrets"},
    [AUTHZ_MEMBERS_MANAGE] = {"members.manage", AUTHZ_ROLE_ADMIN, true, true,
                              "Invite and remove members, change roles up to one's own"},
    [AUTHZ_CONTENT_EXPORT] = {"content.export", AUTHZ_ROLE_ADMIN, true, true, "Export content"},
    [AUTHZ_TENANT_MANAGE] = {"tenant.manage", AUTHZ_ROLE_SUPER_ADMIN, true, true,
                             "Manage the organization: SSO, billing, retention, deletion"},
    [AUTHZ_AUDIT_EXPORT] = {"audit.export", AUTHZ_ROLE_SUPER_ADMIN, true, true,
                            "Export and verify the audit trail"},
};

const struct authz_entry *authz_entry_of(enum authz_permission p)
{
    if (p <= AUTHZ_UNSET || p >= AUTHZ_PERMISSION_COUNT_)
        return NULL;
    return &table[p];
}

bool authz_allows(enum authz_role role, enum authz_permission p)
{
    const struct authz_entry *e = authz_entry_of(p);
    if (!e)
        return false;
    if (!e->needs_session)
        return true;
    if (role <= AUTHZ_ROLE_NONE || role > AUTHZ_ROLE_SUPER_ADMIN)
        return false;
    return e->least == AUTHZ_ROLE_NONE || role >= e->least;
}

static const char *const names[] = {"none", "member", "editor", "admin", "super_admin"};
static const char *const titles[] = {"Nobody", "Member", "Editor", "Admin", "Super Admin"};

enum authz_role authz_role_parse(struct str text)
{
    for (int r = AUTHZ_ROLE_MEMBER; r <= AUTHZ_ROLE_SUPER_ADMIN; r++)
        if (str_eq_cstr(text, names[r]))
            return (enum authz_role)r;
    return AUTHZ_ROLE_NONE;
}

const char *authz_role_name(enum authz_role r)
{
    return r >= AUTHZ_ROLE_NONE && r <= AUTHZ_ROLE_SUPER_ADMIN ? names[r] : names[0];
}

const char *authz_role_title(enum authz_role r)
{
    return r >= AUTHZ_ROLE_NONE && r <= AUTHZ_ROLE_SUPER_ADMIN ? titles[r] : titles[0];
}
