/*
 * authz — roles and permissions (Z1): the one table that says which role may
 * do what.
 *
 * Every route names the permission it needs (http/router.h); the pipeline
 * asks authz_allows() once the caller is known. Roles are ordered — Member <
 * Editor < Admin < Super Admin — and each permission has the least role that
 * holds it, so a higher role holds everything a lower one does (SPEC Z1):
 *   Member       reads drafts, published entries and reports
 *   Editor       also edits drafts and submits them for review
 *   Admin        also approves, rejects, assigns, publishes, manages
 *                integrations and members up to Admin, exports content
 *   Super Admin  also manages the tenant: roles including Super Admin, SSO,
 *                billing, retention, deletion, audit export
 * Two permissions need no role: AUTHZ_PUBLIC (anyone, signed in or not) and
 * AUTHZ_ACCOUNT (any signed-in user acting on their own account: their
 * sessions, their profile). A permission marked sensitive is one whose every
 * grant is recorded in the audit trail, not only its denials (Z2).
 *
 * The table is constant; docs/PERMISSIONS.md is generated from it and the
 * route table (`shiplog permissions`), and a test keeps the two in step.
 */
#ifndef SHIPLOG_AUTHZ_AUTHZ_H
#define SHIPLOG_AUTHZ_AUTHZ_H

#include <stdbool.h>

#include "core/str.h"

enum authz_role {
    AUTHZ_ROLE_NONE = 0, /* not signed in, or an unknown role text: holds nothing */
    AUTHZ_ROLE_MEMBER,
    AUTHZ_ROLE_EDITOR,
    AUTHZ_ROLE_ADMIN,
    AUTHZ_ROLE_SUPER_ADMIN,
};

enum authz_permission {
    AUTHZ_UNSET = 0, /* refused by router_init: every route must name one */
    AUTHZ_PUBLIC,
    AUTHZ_ACCOUNT,
    AUTHZ_CONTENT_READ,
    AUTHZ_DRAFT_EDIT,
    AUTHZ_DRAFT_REVIEW,
    AUTHZ_PUBLISH,
    AUTHZ_INTEGRATIONS_MANAGE,
    AUTHZ_MEMBERS_MANAGE,
    AUTHZ_CONTENT_EXPORT,
    AUTHZ_TENANT_MANAGE,
    AUTHZ_AUDIT_EXPORT,
    AUTHZ_PERMISSION_COUNT_
};

struct authz_entry {
    const char *name;        /* stable, dotted: "drafts.edit" */
    enum authz_role least;   /* the least role holding it; NONE for PUBLIC and ACCOUNT */
    bool needs_session;      /* false only for AUTHZ_PUBLIC */
    bool sensitive;          /* every grant is audited (Z2) */
    const char *description; /* one line, for docs/PERMISSIONS.md */
};

/* The entry of p; NULL for AUTHZ_UNSET or an out-of-range value. */
const struct authz_entry *authz_entry_of(enum authz_permission p);

/* True when role holds p (AUTHZ_PUBLIC: always; AUTHZ_ACCOUNT: any role). */
bool authz_allows(enum authz_role role, enum authz_permission p);

/* "member", "editor", "admin", "super_admin" → the role; anything else NONE. */
enum authz_role authz_role_parse(struct str text);
/* The stored text of a role ("member" ...); "none" for AUTHZ_ROLE_NONE. */
const char *authz_role_name(enum authz_role r);
/* The name people read ("Super Admin"). */
const char *authz_role_title(enum authz_role r);

#endif
