/*
 * auth — API keys (A7, Z3, L1): creation, authentication, listing and
 * revocation of a tenant's keys, and the fixed list of scopes a key can hold.
 *
 * The key
 * -------
 * A key's text is
 *
 *     shk_<tenant id>.<43 characters of base64url>        (AUTH_KEY_TEXT_LEN bytes)
 *
 * The tenant part says in which tenant's transaction to look, as a session
 * id's does (accounts.h); the random part is a token_new() token (256 bits).
 * Only the SHA-256 of the WHOLE text is stored (lower-case hex), so a
 * database leak gives nobody a usable key, and editing the tenant part of a
 * real key gives a text whose hash exists nowhere. The text is returned once,
 * by auth_key_create, and never stored, logged or audited. What identifies a
 * key to people is its prefix, "shk_" and the first 8 characters of the
 * random part (AUTH_KEY_PREFIX_LEN bytes, stored and listed: 48 of the 256
 * bits, so knowing it does not help guess the rest), and its id (a UUID).
 *
 * Scopes (A7, Z3)
 * ---------------
 * A key holds a set of scopes from the fixed list below, as a bitmask
 * (uint32_t of enum auth_scope bits; the bit values are stored in the
 * database and must never be renumbered). Each scope grants one authz
 * permission, except keys:write, which lets a key create and revoke keys and
 * maps to no route permission:
 *
 *   content:read        AUTHZ_CONTENT_READ          (Member)
 *   drafts:write        AUTHZ_DRAFT_EDIT            (Editor)
 *   drafts:review       AUTHZ_DRAFT_REVIEW          (Admin)
 *   entries:publish     AUTHZ_PUBLISH               (Admin)
 *   integrations:write  AUTHZ_INTEGRATIONS_MANAGE   (Admin)
 *   members:write       AUTHZ_MEMBERS_MANAGE        (Admin)
 *   content:export      AUTHZ_CONTENT_EXPORT        (Admin)
 *   keys:write          create and revoke keys      (any role: managing one's own keys)
 *   audit:read          AUTHZ_AUDIT_EXPORT          (Super Admin)
 *
 * (the role in brackets is the least role that may hold it: authz_allows of
 * the scope's `requires` permission). Nothing else is reachable with a key:
 * auth_key_allows is false for AUTHZ_ACCOUNT (a user's own sessions and
 * profile), AUTHZ_TENANT_MANAGE and any permission not in the list.
 *
 *  - A new key asked for no scope gets content:read only: never an elevated
 *    scope by default.
 *  - Creation refuses (ERR_FORBIDDEN, nothing written but the denial's audit
 *    event, Z2) any scope the creator's role does not hold, read from the
 *    users table in the creating transaction (not only the role the caller
 *    passes: a demotion a moment ago counts).
 *  - A key can create a key only when it holds keys:write, and only with
 *    scopes it holds itself (effectively, i.e. also allowed by its creator's
 *    current role) and no later expiry than its own: a key can never make a
 *    key with more scope than itself nor more than its creator's role (A7).
 *    Such a key belongs to the same user (created_by) and remembers its
 *    parent; revoking a key revokes every key made from it, so a leaked
 *    keys:write key cannot leave working descendants behind.
 *  - Effective permissions are the intersection of the key's scopes and its
 *    creator's CURRENT role (Z3): auth_key_authenticate reads the creator's
 *    row in the same transaction as the key on every call (there is no
 *    cache), so a demotion shrinks every key of that user at the next
 *    request. A creator whose row is gone (removed: the key rows go with it,
 *    ON DELETE CASCADE) or whose address is not verified makes the key fail
 *    to authenticate.
 *
 * Who may revoke: a key's creator, and anyone whose role holds
 * AUTHZ_MEMBERS_MANAGE (Admin and up: cutting off another member's access);
 * a key acting needs keys:write for either, and AUTHZ_MEMBERS_MANAGE
 * effectively (scope members:write and its creator still Admin) for another
 * user's key. Revoking a revoked key is ERR_OK and changes nothing.
 *
 * Limits: a tenant holds at most AUTH_MAX_KEYS_PER_TENANT rows. Dead keys
 * (revoked or expired) are kept for the list until room is needed: creation
 * deletes the oldest dead rows first and refuses (ERR_LIMIT) only when all
 * the tenant's keys are live. So auth_key_list with cap
 * AUTH_MAX_KEYS_PER_TENANT always returns everything. Their history stays in
 * the audit trail.
 *
 * Audit (L1): apikey.created and apikey.revoked, in the transaction that
 * makes the change (or, for a refusal by scope or role, alone with outcome
 * "denied"); target "apikey:<id>"; actor the user (a session) or the acting
 * key (actor type api_key, id the key id; details on_behalf_of = its
 * creator). Details hold the name, prefix, scopes and expiry, never the key
 * text or its hash.
 *
 * How the HTTP layer uses it (to be added by the pipeline and api/)
 * ----------------------------------------------------------------
 *  - `Authorization: Bearer <text>`: when auth_key_text_is_key(text) (it
 *    starts with "shk_"), call auth_key_authenticate(db, text, now, &p);
 *    any other bearer credential is not an API key (the JWT verifier's, A8).
 *    ERR_UNAUTHENTICATED and ERR_LIMIT -> 401 with `WWW-Authenticate:
 *    Bearer error="invalid_token"`, the same body for every cause; storage
 *    errors -> 503. Never log the header.
 *  - The tenant of the request is p.tenant; the permission check is
 *    auth_key_allows(&p, route->permission) instead of authz_allows(role,
 *    ...); a refusal is 403 permission_denied and audited as any denial, with
 *    actor type api_key and actor id p.key_id. A route of AUTHZ_ACCOUNT
 *    (sign-out, sessions, profile) is refused to keys by construction.
 *  - Idempotency principal: "apikey:<p.key_id>"; rate-limit key likewise.
 *  - A key-authenticated request skips CSRF (no cookie is involved) and must
 *    never be given a session cookie.
 *  - Endpoints: POST /api/v1/keys (name, scopes as an array of names parsed
 *    with auth_scope_parse, expires_at) -> 201 with the text once; GET lists
 *    (auth_key_list); DELETE /api/v1/keys/{id} revokes. The route permission
 *    can be AUTHZ_ACCOUNT for sessions: this module enforces the scope/role
 *    rules itself; for keys the pipeline should let these routes through
 *    only to keys holding keys:write (auth_key_has_scope), which
 *    auth_key_create / auth_key_revoke check again. Another tenant's key id
 *    is ERR_NOT_FOUND (404, T4). Pass `reason` to the client on ERR_INVALID,
 *    ERR_LIMIT and ERR_FORBIDDEN.
 *
 * All times are Unix seconds passed by the caller, so tests move time
 * without sleeping. Thread-safety: every function may be called from any
 * thread with a shared struct storage; structs belong to the caller.
 */
#ifndef SHIPLOG_AUTH_AUTH_H
#define SHIPLOG_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "authz/authz.h"
#include "core/err.h"
#include "core/str.h"
#include "storage/storage.h"

/* ---- limits and sizes ------------------------------------------------------------ */
#define AUTH_KEY_TEXT_PREFIX     "shk_"
#define AUTH_KEY_RANDOM_LEN      43 /* base64url characters of the random part (TOKEN_TEXT_LEN) */
#define AUTH_KEY_TEXT_LEN        (4 + STORAGE_TENANT_ID_LEN + 1 + AUTH_KEY_RANDOM_LEN) /* 84 */
#define AUTH_MAX_KEY_TEXT        128 /* bytes of a presented key text looked at (ERR_LIMIT past it) */
#define AUTH_KEY_PREFIX_LEN      12  /* "shk_" + 8 characters of the random part */
#define AUTH_KEY_ID_LEN          36  /* a key id: canonical UUID text */
#define AUTH_USER_ID_LEN         36  /* a user id: canonical UUID text */
#define AUTH_MAX_KEY_NAME        100 /* bytes of a key's name (UTF-8, no control characters) */
#define AUTH_MAX_KEYS_PER_TENANT 100 /* key rows a tenant holds, live or dead (see above) */
#define AUTH_MAX_KEY_LIFETIME_S  (365 * 86400) /* latest expiry: one year after creation */
#define AUTH_KEY_TOUCH_S         60  /* last_used_at is written at most this often per key */
#define AUTH_MAX_SCOPES_TEXT     256 /* bytes of a scope list text (auth_scopes_parse) */
#define AUTH_SCOPE_COUNT         9   /* scopes in the fixed list */
#define AUTH_MAX_CLIENT_IP       AUDIT_MAX_CLIENT_IP
#define AUTH_MAX_REQUEST_ID      AUDIT_MAX_REQUEST_ID

/* ---- scopes ---------------------------------------------------------------------- */

/* One bit each; stored in api_keys.scopes: never renumber, only append. */
enum auth_scope {
    AUTH_SCOPE_CONTENT_READ = 1u << 0,       /* "content:read" */
    AUTH_SCOPE_DRAFTS_WRITE = 1u << 1,       /* "drafts:write" */
    AUTH_SCOPE_DRAFTS_REVIEW = 1u << 2,      /* "drafts:review" */
    AUTH_SCOPE_ENTRIES_PUBLISH = 1u << 3,    /* "entries:publish" */
    AUTH_SCOPE_INTEGRATIONS_WRITE = 1u << 4, /* "integrations:write" */
    AUTH_SCOPE_MEMBERS_WRITE = 1u << 5,      /* "members:write" */
    AUTH_SCOPE_CONTENT_EXPORT = 1u << 6,     /* "content:export" */
    AUTH_SCOPE_KEYS_WRITE = 1u << 7,         /* "keys:write" */
    AUTH_SCOPE_AUDIT_READ = 1u << 8,         /* "audit:read" */
};
#define AUTH_SCOPES_ALL     ((1u << AUTH_SCOPE_COUNT) - 1u)
#define AUTH_SCOPES_DEFAULT AUTH_SCOPE_CONTENT_READ /* what a key asked for none gets */

struct auth_scope_entry {
    const char *name;             /* "drafts:write" */
    uint32_t bit;                 /* its enum auth_scope bit */
    enum authz_permission grants; /* what auth_key_allows says yes to; AUTHZ_UNSET for keys:write */
    enum authz_permission requires; /* the creator's role must allow this to grant or use it */
    const char *description;        /* one line, for the console and docs */
};

/* The i-th scope of the fixed list (i < AUTH_SCOPE_COUNT, in bit order); NULL past it. */
const struct auth_scope_entry *auth_scope_at(size_t i);

/* One scope name ("content:read", exact, lower case) -> its bit. ERR_INVALID when unknown. */
MUST_CHECK enum err auth_scope_parse(struct str name, uint32_t *bit);

/*
 * A list of scope names separated by spaces and/or commas (empty items
 * skipped, repeats allowed) -> their union in *out; "" gives 0 (the caller
 * then gets AUTH_SCOPES_DEFAULT from auth_key_create). ERR_LIMIT past
 * AUTH_MAX_SCOPES_TEXT bytes; ERR_INVALID for an unknown name. *reason (may
 * be NULL) gets public text on failure; *out is 0 then.
 */
MUST_CHECK enum err auth_scopes_parse(struct str text, uint32_t *out, const char **reason);

/*
 * The names of the known bits of scopes, in list order, separated by one
 * space ("" for none), NUL-terminated. Always fits.
 */
void auth_scopes_format(uint32_t scopes, char out[AUTH_MAX_SCOPES_TEXT + 1]);

/* The scopes a user of role r may grant or use (none for AUTHZ_ROLE_NONE). */
uint32_t auth_scopes_allowed(enum authz_role r);

/* ---- who acts ---------------------------------------------------------------------- */

/* The request's client, for the audit trail. Fields may be NULL. */
struct auth_client {
    const char *ip;         /* <= AUTH_MAX_CLIENT_IP bytes */
    const char *request_id; /* <= AUTH_MAX_REQUEST_ID bytes */
};

struct auth_key_principal;

/*
 * Who creates or revokes a key. A user in a session: key NULL, user_id and
 * role from the session (role is an upper bound: the role is read again from
 * the users table in the transaction and the lesser one counts). An API key:
 * key = what auth_key_authenticate filled for this request; user_id and role
 * are then ignored (the key's creator and role are used, and the key must
 * still be live in the transaction).
 */
struct auth_actor {
    const char *user_id;                  /* canonical UUID */
    enum authz_role role;                 /* the session's role */
    const struct auth_key_principal *key; /* non-NULL when a key acts */
};

/* ---- authentication ------------------------------------------------------------------ */

/* An authenticated key, for one request. */
struct auth_key_principal {
    struct tenant_ctx tenant;              /* the key's tenant: the request's tenant */
    char key_id[AUTH_KEY_ID_LEN + 1];      /* audit actor id (actor type api_key) */
    char created_by[AUTH_USER_ID_LEN + 1]; /* the user the key acts for */
    char prefix[AUTH_KEY_PREFIX_LEN + 1];  /* for logs: never the text */
    uint32_t scopes;                       /* as granted (not yet cut by the role) */
    enum authz_role role;                  /* the creator's role, read with the key (Z3) */
    int64_t expires_at;                    /* 0 = never */
};

/* True when text looks like an API key at all (starts with "shk_"): route a Bearer here. */
bool auth_key_text_is_key(struct str text);

#define AUTH_KEY_HASH_LEN 64 /* the stored hash of a key text: lower-case hex SHA-256 */

/*
 * The parser auth_key_authenticate uses (exposed for fuzzing): a key text of
 * the exact shape above -> the tenant it names and the hex SHA-256 of the
 * whole text. False for anything else (the nil tenant included); nothing is
 * written then.
 */
bool auth_key_text_parse(struct str text, struct tenant_ctx *t, char hash[AUTH_KEY_HASH_LEN + 1]);

/*
 * Finds the live key whose text is `text` at time now, with its creator's
 * current role, in one read transaction of the tenant the text names, and
 * fills *out. When last_used_at is AUTH_KEY_TOUCH_S old (or unset) it is set
 * to now in a short write transaction afterwards (a failure there is logged
 * and does not fail the authentication).
 * ERR_UNAUTHENTICATED for every refusal alike — malformed text, unknown key,
 * a tenant part that is not the key's, revoked, expired (now >= expires_at),
 * creator removed, unverified or of no known role — so the answer says
 * nothing about which; ERR_LIMIT (length only, before anything else) past
 * AUTH_MAX_KEY_TEXT bytes; storage errors as storage.h. *out is zeroed
 * unless ERR_OK.
 */
MUST_CHECK enum err auth_key_authenticate(struct storage *db, struct str text, int64_t now,
                                          struct auth_key_principal *out);

/* The key's scopes that its creator's role still allows (Z3). */
uint32_t auth_key_effective_scopes(const struct auth_key_principal *p);

/*
 * True when the key may do what perm guards: AUTHZ_PUBLIC always; otherwise
 * only when one of its effective scopes grants perm. False for AUTHZ_ACCOUNT,
 * AUTHZ_TENANT_MANAGE, AUTHZ_UNSET and anything out of range.
 */
bool auth_key_allows(const struct auth_key_principal *p, enum authz_permission perm);

/* True when scope (one bit) is among the key's effective scopes. */
bool auth_key_has_scope(const struct auth_key_principal *p, uint32_t scope);

/* ---- creation ---------------------------------------------------------------------------- */

/* What auth_key_create made. Holds the key text: wipe it once shown. */
struct auth_key_created {
    char text[AUTH_KEY_TEXT_LEN + 1]; /* the key, shown once; never stored */
    char id[AUTH_KEY_ID_LEN + 1];
    char prefix[AUTH_KEY_PREFIX_LEN + 1];
    uint32_t scopes;    /* as granted (AUTH_SCOPES_DEFAULT when none was asked) */
    int64_t expires_at; /* as stored; 0 = never (a key-made key may inherit its parent's) */
    uint32_t refused;   /* on ERR_FORBIDDEN: the asked scopes that were refused */
};

/* Overwrites the whole struct with zeros (the text included). NULL is a no-op. */
void auth_key_created_wipe(struct auth_key_created *c);

/*
 * Creates a key in tenant t for who (see struct auth_actor) named name with
 * scopes (0 = AUTH_SCOPES_DEFAULT) expiring at expires_at (0 = never; else
 * now < expires_at <= now + AUTH_MAX_KEY_LIFETIME_S), and audits
 * apikey.created in the same write transaction. On ERR_OK *out holds the
 * text; otherwise it is wiped (except refused). *reason (may be NULL) gets
 * public text on ERR_INVALID, ERR_LIMIT and ERR_FORBIDDEN.
 * Errors, input first (no database access):
 *   ERR_INVALID  name empty, not UTF-8 or with a control character; scopes
 *                with a bit outside AUTH_SCOPES_ALL; expires_at negative or
 *                not after now; now negative; who NULL or its user_id not
 *                a UUID; a key actor of another tenant than t
 *   ERR_LIMIT    name past AUTH_MAX_KEY_NAME bytes; expires_at past now +
 *                AUTH_MAX_KEY_LIFETIME_S; client fields past their limits;
 *                then (database) the tenant already has
 *                AUTH_MAX_KEYS_PER_TENANT live keys
 *   ERR_UNAUTHENTICATED  the actor's user is gone or has no known role, or
 *                the acting key is no longer live
 *   ERR_FORBIDDEN  a scope the role does not allow (out->refused says
 *                which); a user with an unverified address; a key actor
 *                without keys:write, asking a scope it does not effectively
 *                hold, or an expiry after its own. Audited as denied.
 *   storage errors as storage.h.
 */
MUST_CHECK enum err auth_key_create(struct storage *db, const struct tenant_ctx *t,
                                    const struct auth_actor *who, struct str name, uint32_t scopes,
                                    int64_t expires_at, int64_t now, const struct auth_client *c,
                                    struct auth_key_created *out, const char **reason);

/* ---- listing and revocation ------------------------------------------------------------- */

/* One key as listed: never its text or hash. Times are Unix seconds, 0 = not set. */
struct auth_key_info {
    char id[AUTH_KEY_ID_LEN + 1];
    char name[AUTH_MAX_KEY_NAME + 1];
    char prefix[AUTH_KEY_PREFIX_LEN + 1];
    uint32_t scopes;
    int64_t created_at;
    char created_by[AUTH_USER_ID_LEN + 1];
    char parent_id[AUTH_KEY_ID_LEN + 1]; /* the key that made it; "" when a user did */
    int64_t expires_at;
    int64_t last_used_at;
    int64_t revoked_at;
};

/*
 * t's keys, newest first, at most cap of them into out[0..*n): all of them
 * (created_by NULL) or those of one user. Dead keys are included (revoked_at
 * / expires_at tell). With cap >= AUTH_MAX_KEYS_PER_TENANT nothing is left
 * out. ERR_INVALID for a created_by that is not a UUID; storage errors.
 */
MUST_CHECK enum err auth_key_list(struct storage *db, const struct tenant_ctx *t,
                                  const char *created_by, struct auth_key_info *out, size_t cap,
                                  size_t *n);

/*
 * Revokes t's key key_id at now, and every live key made from it (directly
 * or not), auditing apikey.revoked for each in the same write transaction.
 * ERR_NOT_FOUND for an id that is not a UUID, unknown, or another tenant's
 * (T4: nothing changes anywhere); ERR_OK without a change when it was
 * revoked already; ERR_FORBIDDEN (audited as denied, *reason set) when who
 * may not revoke it (see above); ERR_UNAUTHENTICATED as for auth_key_create;
 * ERR_INVALID for a malformed who, ERR_LIMIT for client fields; storage
 * errors.
 */
MUST_CHECK enum err auth_key_revoke(struct storage *db, const struct tenant_ctx *t,
                                    struct str key_id, const struct auth_actor *who, int64_t now,
                                    const struct auth_client *c, const char **reason);

#endif
