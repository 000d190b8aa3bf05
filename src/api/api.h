/*
 * api — the HTTP surfaces of shiplog: the route table and its handlers.
 *
 * routes.c holds the one table of every route with its access class; the
 * server refuses to start if any route lacks one (see http/router.h).
 */
#ifndef SHIPLOG_API_API_H
#define SHIPLOG_API_API_H

#include <stddef.h>

#include "changes/entries.h"
#include "changes/llm_service.h"
#include "http/request.h"
#include "http/router.h"
#include "ingest/integrations.h"
#include "ingest/store.h"
#include "jobs/jobs.h"

/* The complete route table. */
const struct route *api_routes(size_t *n);

/* docs/PERMISSIONS.md from the route and permission tables (permissions.c). */
MUST_CHECK enum err api_permissions_markdown(struct buf *out);
/* The same tables as JSON, for tools and the isolation suite (tests/e2e/test_isolation.py):
 * {"roles": [least first], "permissions": {name: {needs_session, sensitive, roles, scopes}},
 *  "routes": [{method, path, access, permission, console, body, ...}]}. */
MUST_CHECK enum err api_permissions_json(struct buf *out);

/* Renders security.txt (RFC 9116) for cfg at time now into out. */
MUST_CHECK enum err security_txt_render(const struct config *cfg, time_t now, struct buf *out);

enum err health_live(struct http_request *req, struct http_response *resp);
enum err health_ready(struct http_request *req, struct http_response *resp);
enum err wellknown_security_txt(struct http_request *req, struct http_response *resp);
enum err security_policy(struct http_request *req, struct http_response *resp);
enum err openapi_document(struct http_request *req, struct http_response *resp);
enum err csp_report(struct http_request *req, struct http_response *resp);

extern const struct body_spec CSP_REPORT_BODY;

/* feed.c: the public feed and the widget's script (W1, W2; docs/FEED.md). */
enum err feed_json(struct http_request *req, struct http_response *resp);
enum err feed_atom(struct http_request *req, struct http_response *resp);
enum err widget_script(struct http_request *req, struct http_response *resp);

/* identity.c: sign-up, sign-in, sessions, reset and magic links (A1–A6). */
enum err identity_signup(struct http_request *req, struct http_response *resp);
enum err identity_verify_email(struct http_request *req, struct http_response *resp);
enum err identity_verify_resend(struct http_request *req, struct http_response *resp);
enum err identity_signin(struct http_request *req, struct http_response *resp);
enum err identity_signout(struct http_request *req, struct http_response *resp);
enum err identity_me(struct http_request *req, struct http_response *resp);
enum err identity_sessions_list(struct http_request *req, struct http_response *resp);
enum err identity_session_revoke(struct http_request *req, struct http_response *resp);
enum err identity_signout_everywhere(struct http_request *req, struct http_response *resp);
enum err identity_reset_request(struct http_request *req, struct http_response *resp);
enum err identity_reset_confirm(struct http_request *req, struct http_response *resp);
enum err identity_magic_request(struct http_request *req, struct http_response *resp);
enum err identity_magic_consume(struct http_request *req, struct http_response *resp);

/* ---- shared by the handlers of both surfaces (JSON API and console) ---- */

/*
 * A string member of the request's validated JSON body (req->json);
 * STR_NULL when absent or not a string. The text lives in the body's
 * parse tree, which dies with the request (identity.c).
 */
struct str api_body_str(const struct http_request *req, const char *name);

/*
 * Finishes the JSON in w (writing into out) and sends it with status;
 * releases out either way (identity.c).
 */
MUST_CHECK enum err api_respond_json(struct http_request *req, struct http_response *resp,
                                     int status, struct jw *w, struct buf *out);

/*
 * The length of cfg->public_url without trailing '/', for "%.*s/verify"
 * style mail links. config.c strips one trailing '/' of SHIPLOG_PUBLIC_URL,
 * but "https://host//" keeps one and a struct config built in code (tests)
 * keeps any: a link must never get "//" (identity.c).
 */
int api_public_base_len(const struct config *cfg);

/*
 * A refusal of a core module (accounts, auth) recorded once in public words,
 * so the caller only returns the err; what names the action ("The key was
 * not created") and reason (may be NULL: "not allowed") says why:
 *  - ERR_NOT_FOUND passes through unrecorded (404: another tenant's id
 *    looks like no id at all, T4);
 *  - ERR_FORBIDDEN: 403 permission_denied, "<what>: <reason>.";
 *  - ERR_CONFLICT: 409 conflict_code (NULL: "conflict"), "<what>: <reason>.";
 *  - ERR_INVALID and ERR_LIMIT: 400 validation_failed, "<what>: <reason>.";
 *  - ERR_UNAUTHENTICATED (the acting user is gone): 401 unauthenticated;
 *  - anything else: its own status, "<what>: <err name>" in the log only.
 * Returns the err the answer's status comes from (apikeys.c).
 */
MUST_CHECK enum err api_refused(struct http_request *req, enum err e, const char *reason,
                                const char *what, const char *conflict_code);

/* The caller for the auth module (auth.h, tokens.h): client IP and request id (apikeys.c). */
void api_auth_client_of(const struct http_request *req, struct auth_client *c);

/*
 * The members page asked for by a query string's "page" parameter, as the
 * core's 0-based page (members.c). The value must be 1 to
 * ACCOUNTS_MAX_MEMBERS_PAGES in plain decimal digits, at most
 * API_MAX_PAGE_TEXT bytes after decoding: leading zeros are fine ("05" is
 * page 5, the number written long), signs, spaces and anything else are not
 * ("+5", " 5" — which is also what "?page=+5" decodes to —, "5 ", "0x5").
 * ERR_OK with *page 0 (the first) when there is no page parameter or it is
 * empty; ERR_INVALID (*page 0) for any other value or a query string that
 * is not a well-formed form (http/form.h: a repeated field included).
 */
#define API_MAX_PAGE_TEXT 8 /* bytes of a page parameter's value */
MUST_CHECK enum err api_members_page_of(struct str query, unsigned *page);

/* Shared with the console's pages (console/console.h). */
/* The caller for the accounts core: IP, User-Agent, request id, and a mailer
 * that composes and queues the core's mails with links to the console pages;
 * mailer NULL: none (c->mailer NULL, for actions with a mailer of their own). */
void identity_client_of(struct http_request *req, struct accounts_client *c,
                        struct accounts_mailer *mailer);
/* H8: one hit for the normalized address in bucket (an address that does not
 * normalize cannot have an account: its raw bytes are hashed instead). */
MUST_CHECK enum err identity_rate_email(struct http_request *req, enum rl_bucket bucket,
                                        struct str email);
/*
 * 200 for a new session: its cookie (session_id, which is wiped here) and
 * what the client may know of it (the public handle, never the id).
 */
MUST_CHECK enum err identity_respond_session(struct http_request *req, struct http_response *resp,
                                             char session_id[ACCOUNTS_SECRET_LEN + 1],
                                             const struct accounts_session *s);
/* Set-Cookie for a new session, or (value NULL) one that expires it at once. */
MUST_CHECK enum err identity_set_session_cookie(struct http_request *req,
                                                struct http_response *resp, const char *value);

/*
 * The identity actions behind both the JSON API and the console pages; the
 * caller parses its own body and renders its own answer. No existence oracle:
 * every failure an outsider could provoke maps to one err per action.
 *  - signup: ERR_OK also for a taken address (its owner is mailed);
 *    ERR_INVALID / ERR_LIMIT with a public *reason.
 *  - verify, reset, magic_consume: ERR_NOT_FOUND for any bad, used or expired
 *    token or code; reset: ERR_INVALID / ERR_LIMIT with *reason for a
 *    password the policy refuses (the token is not spent).
 *  - signin: ERR_UNAUTHENTICATED for every failed sign-in.
 *  - mail_request (bucket RL_PASSWORD_RESET or RL_MAGIC_LINK): ERR_OK whether
 *    or not the address has an account.
 *  - ERR_RATE_LIMITED from the per-address limits (the 429 is already set up).
 * signin and magic_consume fill sid (the cookie value: wipe it) and s.
 */
/*
 * Sign-out, revoking one of the caller's sessions (path parameter "id"; 404
 * for any session that is not the caller's live one; *was_current when it was
 * this one) and signing out everywhere: each expires the cookie when the
 * caller's own session ends.
 */
MUST_CHECK enum err identity_do_signout(struct http_request *req, struct http_response *resp);
MUST_CHECK enum err identity_do_session_revoke(struct http_request *req, struct http_response *resp,
                                               bool *was_current);
MUST_CHECK enum err identity_do_signout_everywhere(struct http_request *req,
                                                   struct http_response *resp, uint64_t *revoked);
/* A new verification mail for the signed-in user; *sent false when the address
 * is verified already (nothing is sent). */
MUST_CHECK enum err identity_do_verify_resend(struct http_request *req, bool *sent);
MUST_CHECK enum err identity_do_signup(struct http_request *req, struct str email,
                                       struct str password, struct str org, const char **reason);
MUST_CHECK enum err identity_do_verify(struct http_request *req, struct str token);
MUST_CHECK enum err identity_do_signin(struct http_request *req, struct str email,
                                       struct str password, char sid[ACCOUNTS_SECRET_LEN + 1],
                                       struct accounts_session *s);
MUST_CHECK enum err identity_do_mail_request(struct http_request *req, enum rl_bucket bucket,
                                             struct str email);
MUST_CHECK enum err identity_do_reset(struct http_request *req, struct str token,
                                      struct str password, const char **reason);
MUST_CHECK enum err identity_do_magic_consume(struct http_request *req, struct str token,
                                              struct str email, struct str code,
                                              char sid[ACCOUNTS_SECRET_LEN + 1],
                                              struct accounts_session *s);

extern const struct body_spec IDENTITY_SIGNUP_BODY, IDENTITY_SIGNIN_BODY, IDENTITY_EMAIL_BODY,
    IDENTITY_TOKEN_BODY, IDENTITY_MAGIC_CONSUME_BODY, IDENTITY_RESET_CONFIRM_BODY,
    IDENTITY_EMPTY_BODY;

/* apikeys.c: API keys (A7). */
enum err apikeys_create(struct http_request *req, struct http_response *resp);
enum err apikeys_list(struct http_request *req, struct http_response *resp);
enum err apikeys_revoke(struct http_request *req, struct http_response *resp);
extern const struct body_spec APIKEYS_CREATE_BODY;

/*
 * The API key actions behind both the JSON API and the console (the
 * console's keys page): the actor is the request's principal — its user
 * with their role, and the calling key when one authenticated the call —
 * and the errors are auth_key_create's and auth_key_revoke's (auth.h),
 * *reason included, not recorded: each surface words a refusal itself.
 * create: expires_at 0 = never; out holds the key's text once (wipe it).
 */
MUST_CHECK enum err apikeys_do_create(struct http_request *req, struct str name, uint32_t scopes,
                                      int64_t expires_at, int64_t now, struct auth_key_created *out,
                                      const char **reason);
MUST_CHECK enum err apikeys_do_revoke(struct http_request *req, struct str id, const char **reason);

/* tokens.c: access and refresh tokens (A8, auth/tokens.h). */
enum err tokens_grant(struct http_request *req, struct http_response *resp);
enum err tokens_refresh(struct http_request *req, struct http_response *resp);
extern const struct body_spec TOKENS_GRANT_BODY, TOKENS_REFRESH_BODY;
/* Sign-out of a call authenticated by a user's access token (req->principal.token):
 * revokes the token's family and deny-lists it; no cookie is touched. */
MUST_CHECK enum err tokens_do_signout(struct http_request *req);

/*
 * The API description (OpenAPI 3.1, openapi.c): the base docs/openapi-base.json
 * (embedded at build time) merged with what the route table says, pretty-printed
 * and deterministic; `shiplog openapi` prints it, docs/openapi.json is a copy.
 * ERR_CONFIG (msg says why) when the table and the base do not fit together.
 */
#define API_OPENAPI_MAX (512 * 1024) /* bytes of the document */
MUST_CHECK enum err api_openapi_render(struct buf *out, struct buf *msg);
/* The same from any table and base text (for tests). */
MUST_CHECK enum err api_openapi_render_from(const struct route *routes, size_t n,
                                            const char *base_text, size_t base_len, struct buf *out,
                                            struct buf *msg);
extern const char openapi_base_json[];
extern const size_t openapi_base_json_len;
/* The disclosure policy linked from security.txt (docs/security-policy.txt). */
extern const char security_policy_txt[];
extern const size_t security_policy_txt_len;

/*
 * members.c: members and invitations (issue 5 item 2; accounts.h). The
 * managing routes need members.manage; accepting is public (the token).
 */
enum err members_list(struct http_request *req, struct http_response *resp);
enum err members_set_role(struct http_request *req, struct http_response *resp);
enum err members_remove(struct http_request *req, struct http_response *resp);
enum err invitations_list(struct http_request *req, struct http_response *resp);
enum err invitations_create(struct http_request *req, struct http_response *resp);
enum err invitations_revoke(struct http_request *req, struct http_response *resp);
enum err invitations_accept(struct http_request *req, struct http_response *resp);
extern const struct body_spec MEMBERS_ROLE_BODY, INVITATIONS_CREATE_BODY, INVITATIONS_ACCEPT_BODY;

/*
 * The members actions behind both the JSON API and the console. Each records
 * its refusal on req with public words (404 for another tenant's id, 403
 * permission_denied, 409 last_super_admin / already_member / limit_reached,
 * 400 validation_failed), so the caller only returns the err.
 *  - set_role: id and role name as sent.
 *  - remove: *self when the caller removed themselves (the session cookie
 *    then expires in resp).
 *  - invite: role name as sent (STR_NULL = member); counts the address in
 *    RL_MAGIC_LINK; out gets the invitation (its token already wiped). An
 *    organization at its invitation or member limit is ERR_CONFLICT, 409
 *    limit_reached, with the core's reason.
 *  - accept: not recorded: ERR_NOT_FOUND for any bad token, ERR_INVALID /
 *    ERR_LIMIT with *reason for a refused password, ERR_CONFLICT with
 *    *reason when the address has an account; sid and s as for sign-in.
 */
void members_actor_of(const struct http_request *req, struct accounts_actor *who);
MUST_CHECK enum err members_do_set_role(struct http_request *req, struct str id, struct str role);
MUST_CHECK enum err members_do_remove(struct http_request *req, struct http_response *resp,
                                      struct str id, bool *self);
MUST_CHECK enum err members_do_invite(struct http_request *req, struct str email, struct str role,
                                      struct accounts_invitation_created *out);
MUST_CHECK enum err members_do_revoke(struct http_request *req, struct str id);
MUST_CHECK enum err members_do_accept(struct http_request *req, struct str token,
                                      struct str password, char sid[ACCOUNTS_SECRET_LEN + 1],
                                      struct accounts_session *s, const char **reason);

/*
 * integrations.c: integrations (I1; ingest/integrations.h). Every route
 * needs integrations.manage; a secret is shown only in the answer of the
 * request that made it (a replay of its Idempotency-Key answers it null).
 */
enum err integrations_api_list(struct http_request *req, struct http_response *resp);
enum err integrations_api_create(struct http_request *req, struct http_response *resp);
enum err integrations_api_get(struct http_request *req, struct http_response *resp);
enum err integrations_api_rotate(struct http_request *req, struct http_response *resp);
enum err integrations_api_signing_secret(struct http_request *req, struct http_response *resp);
enum err integrations_api_delete(struct http_request *req, struct http_response *resp);
extern const struct body_spec INTEGRATIONS_CREATE_BODY;

/*
 * outbound.c: outbound webhook endpoints (W3; outbound/outbound.h). Every
 * route needs integrations.manage; a secret is shown only in the answer of
 * the request that made it (a replay of its Idempotency-Key answers it null).
 */
enum err outbound_api_list(struct http_request *req, struct http_response *resp);
enum err outbound_api_create(struct http_request *req, struct http_response *resp);
enum err outbound_api_get(struct http_request *req, struct http_response *resp);
enum err outbound_api_rotate(struct http_request *req, struct http_response *resp);
enum err outbound_api_test(struct http_request *req, struct http_response *resp);
enum err outbound_api_disable(struct http_request *req, struct http_response *resp);
enum err outbound_api_enable(struct http_request *req, struct http_response *resp);
enum err outbound_api_deliveries(struct http_request *req, struct http_response *resp);
enum err outbound_api_delete(struct http_request *req, struct http_response *resp);
extern const struct body_spec OUTBOUND_CREATE_BODY;

/*
 * The integration actions behind both the JSON API and the console. Each
 * records its refusal on req with public words (404 for another tenant's
 * id, 409 limit_reached for a full organization, 400 validation_failed with
 * the field), so the caller only returns the err. A secret made lands in
 * *secret: the caller shows it once and wipes it (integration_secret_wipe),
 * also after a failure.
 */
MUST_CHECK enum err integrations_do_create(struct http_request *req,
                                           const struct integration_spec *spec,
                                           struct integration *out,
                                           struct integration_secret *secret);
MUST_CHECK enum err integrations_do_rotate(struct http_request *req, struct str id,
                                           struct integration *out,
                                           struct integration_secret *secret);
MUST_CHECK enum err integrations_do_signing_secret(struct http_request *req, struct str id,
                                                   struct integration *out,
                                                   struct integration_secret *secret);
MUST_CHECK enum err integrations_do_delete(struct http_request *req, struct str id);
/* 400 validation_failed naming field (as the schema layer does), reason in public words. */
MUST_CHECK enum err integrations_field_refused(struct http_request *req, const char *field,
                                               const char *reason);
/* <public url>/hooks/<provider>/<id>, in the request's arena (NULL when it is full). */
const char *integrations_webhook_url(struct http_request *req, const struct integration *in);

/*
 * activity.c: what the webhooks brought in (issue 6 item 9): deliveries,
 * repositories, commits, pull requests, deployments (content.read; one
 * delivery with its redacted body: integrations.manage) and the job queue
 * with retry of a dead job (integrations.manage). Keyset pages with an
 * opaque cursor; see the top of activity.c for the rules.
 */
enum err activity_deliveries(struct http_request *req, struct http_response *resp);
enum err activity_delivery_get(struct http_request *req, struct http_response *resp);
enum err activity_repositories(struct http_request *req, struct http_response *resp);
enum err activity_commits(struct http_request *req, struct http_response *resp);
enum err activity_prs(struct http_request *req, struct http_response *resp);
enum err activity_deployments(struct http_request *req, struct http_response *resp);
enum err activity_jobs(struct http_request *req, struct http_response *resp);
enum err activity_job_retry(struct http_request *req, struct http_response *resp);

#define API_ACTIVITY_DEFAULT_LIMIT 50
#define API_ACTIVITY_MAX_LIMIT     100 /* rows of one page (INGEST_MAX_PAGE, JOBS_LIST_MAX) */
/* bytes of a cursor's text before encoding: list letter, version, time, key length, key, id */
#define API_CURSOR_MAX_TEXT (2 + 1 + 19 + 1 + 3 + 1 + INGEST_MAX_FULL_NAME + INGEST_MAX_ID)
/* characters of an encoded cursor (base64url without padding) */
#define API_CURSOR_MAX_LEN ((API_CURSOR_MAX_TEXT * 4 + 2) / 3)

/*
 * A list position as an opaque cursor: base64url without padding of
 * "<list>1.<at>.<key length>.<key><id>" appended to out. list names the
 * listing (a letter), so a cursor of one list is refused by another.
 * ERR_INVALID for a zeroed cursor (the end has no cursor), a negative time
 * or a key or id over its limit; ERR_LIMIT at out's cap.
 */
MUST_CHECK enum err api_cursor_encode(char list, const struct ingest_cursor *c, struct buf *out);
/*
 * The inverse, strictly: ERR_INVALID (out zeroed) for anything the encoder
 * would not have written for list: a character outside the base64url
 * alphabet, padding, non-zero trailing bits, over API_CURSOR_MAX_LEN
 * characters, another list letter or version, a time that is not plain
 * decimal within int64, a key or id length out of range, a NUL byte.
 */
MUST_CHECK enum err api_cursor_decode(char list, struct str text, struct ingest_cursor *out);

/* The paging parameters of a listing's query string. */
struct api_list_query {
    size_t limit;               /* 1..API_ACTIVITY_MAX_LIMIT */
    struct ingest_cursor after; /* zeroed: from the start */
    bool has_cursor;
};
/*
 * limit and cursor of req's query for list; a recorded 400
 * validation_failed naming the parameter for a bad value, or "query" for a
 * query string that is not a well-formed form (a repeated parameter
 * included). Other parameters are not looked at.
 */
MUST_CHECK enum err api_list_query(struct http_request *req, char list, struct api_list_query *q);
/*
 * The query parameter name as a filter (copied into the arena): STR_NULL
 * when absent or empty; a recorded 400 naming it when longer than max
 * bytes, holding a control character, or (allowed not NULL) not one of the
 * NULL-terminated allowed values.
 */
MUST_CHECK enum err api_query_filter(struct http_request *req, const char *name, size_t max,
                                     const char *const *allowed, struct str *out);
/*
 * One page of deliveries, filtered by status (STR_NULL: all) in tx, rows in
 * req's arena; a filtered page may hold fewer than q->limit rows with a
 * next cursor (a bounded number of store pages is read per call). Storage
 * errors, unrecorded.
 */
MUST_CHECK enum err api_deliveries_page(struct http_request *req, struct tx *tx, struct str status,
                                        const struct api_list_query *q,
                                        struct ingest_delivery **rows, size_t *n,
                                        struct ingest_cursor *next);
/* One page of jobs with status (a jobs_status_name; STR_NULL: all); ERR_INVALID
 * for a cursor that is not a job position; storage errors, unrecorded. */
MUST_CHECK enum err api_jobs_page(struct http_request *req, struct tx *tx, struct str status,
                                  const struct api_list_query *q, struct jobs_info **rows,
                                  size_t *n, struct ingest_cursor *next);
/*
 * Puts a dead job of the caller's organization back in the queue, audited
 * ("job.retried", in the same transaction), and wakes the runner; out gets
 * the job as it is now. Refusals recorded: 404 for an unknown or malformed
 * id or another organization's; 409 not_dead for a job that is not dead.
 */
MUST_CHECK enum err activity_do_job_retry(struct http_request *req, struct str id,
                                          struct jobs_info *out);

/*
 * settings.c: a tenant's ingestion settings (I7, I8; ingest/settings.h).
 * Reading needs content.read; PUT (replace both) needs tenant.manage.
 */
enum err settings_api_ingest_get(struct http_request *req, struct http_response *resp);
enum err settings_api_ingest_put(struct http_request *req, struct http_response *resp);
extern const struct body_spec SETTINGS_INGEST_BODY;

/* drafts.c: changelog entries and their review (D4, D5), the classification rules (D1). */
extern const struct body_spec DRAFTS_PATCH_BODY, DRAFTS_ACTION_BODY, DRAFTS_RULES_BODY;
enum err drafts_api_list(struct http_request *req, struct http_response *resp);
enum err drafts_api_get(struct http_request *req, struct http_response *resp);
enum err drafts_api_versions(struct http_request *req, struct http_response *resp);
enum err drafts_api_patch(struct http_request *req, struct http_response *resp);
enum err drafts_api_submit(struct http_request *req, struct http_response *resp);
enum err drafts_api_approve(struct http_request *req, struct http_response *resp);
enum err drafts_api_reject(struct http_request *req, struct http_response *resp);
enum err drafts_api_publish(struct http_request *req, struct http_response *resp);
enum err drafts_api_rules_get(struct http_request *req, struct http_response *resp);
enum err drafts_api_rules_put(struct http_request *req, struct http_response *resp);
/* The members of one entry inside an open JSON object (shared with the console). */
void drafts_entry_members(struct jw *w, const struct entry *e);
/*
 * The actions both surfaces share, each in its own write transaction of the
 * caller's organization, refusals recorded (404 unknown or another
 * organization's, 409 status or stale version, 400 naming the field):
 * an edit (reviewers checked to be members), and a workflow step (publishing
 * now also runs the app's publisher hooks).
 */
MUST_CHECK enum err drafts_do_edit(struct http_request *req, struct str id,
                                   const struct entry_patch *p);
MUST_CHECK enum err drafts_do_action(struct http_request *req, struct str id,
                                     enum entry_action action, int64_t version, struct str note,
                                     int64_t publish_at);
/* ---- the LLM provider of drafts (llm.c, D2, D3) ------------------------------------ */
enum err llm_api_settings_get(struct http_request *req, struct http_response *resp);
enum err llm_api_settings_put(struct http_request *req, struct http_response *resp);
enum err llm_api_calls(struct http_request *req, struct http_response *resp);
extern const struct body_spec LLM_SETTINGS_BODY;
/* The settings, this month's token use and the month's start, for the console. Storage errors. */
MUST_CHECK enum err llm_do_settings_get(struct http_request *req, struct llm_settings *s,
                                        int64_t *used, int64_t *month);
/*
 * Replaces the settings as the request's principal: the base URL checked
 * against the operator's outbound policy too. ERR_INVALID / ERR_LIMIT with
 * *why (field, public reason); storage and secrets errors otherwise.
 */
MUST_CHECK enum err llm_do_settings_set(struct http_request *req,
                                        const struct llm_settings_update *u,
                                        struct llm_settings_problem *why);

#endif
