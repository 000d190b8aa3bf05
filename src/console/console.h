/*
 * console — the server-rendered pages of the console's front door (U1):
 * sign-up, e-mail verification, sign-in with a password or a magic link,
 * forgotten password, sessions and sign-out.
 *
 * Design:
 *  - Every page is written with the HTML writer (http/html.h), which escapes
 *    every runtime string; pages use no script and no inline style (the
 *    console CSP allows only our stylesheet, /console.css, and form posts to
 *    ourselves), work without JavaScript, and label every control.
 *  - Reading never changes state: a link from a mail (verification, magic
 *    link) opens a page whose button POSTs the token, so a mail scanner that
 *    fetches the link spends nothing.
 *  - Every form carries the synchronizer token (http/csrf.h); the pipeline
 *    checks it, and Origin / Sec-Fetch-Site, before any handler runs.
 *  - The actions are the JSON API's (api.h identity_do_*), so both surfaces
 *    share one behaviour: the same rate limits, the same answers whatever
 *    an address's state, the same audit events.
 *  - After a state change that succeeds, the browser is sent on with
 *    303 See Other (sign-in, sign-out, revocations) or shown the outcome.
 *  - Failures of console routes are pages too (console_error): an anonymous
 *    visitor of a signed-in page is sent to /login, an unverified one sees how
 *    to confirm the address (A2), anything else a message and support id.
 */
#ifndef SHIPLOG_CONSOLE_CONSOLE_H
#define SHIPLOG_CONSOLE_CONSOLE_H

#include "http/request.h"
#include "http/router.h"

#define CONSOLE_MAX_FORM (16 * 1024) /* bytes of a console form body */

/* The body of every console POST: a form of at most CONSOLE_MAX_FORM bytes. */
extern const struct body_spec CONSOLE_FORM_BODY;

/* app->console_error: a console route's failure as a page (see above). */
MUST_CHECK enum err console_error(struct http_request *req, struct http_response *resp, enum err e);

enum err console_stylesheet(struct http_request *req, struct http_response *resp);
enum err console_favicon(struct http_request *req, struct http_response *resp);
enum err console_home(struct http_request *req, struct http_response *resp);
enum err console_signup_page(struct http_request *req, struct http_response *resp);
enum err console_signup(struct http_request *req, struct http_response *resp);
enum err console_verify_page(struct http_request *req, struct http_response *resp);
enum err console_verify(struct http_request *req, struct http_response *resp);
enum err console_verify_resend(struct http_request *req, struct http_response *resp);
enum err console_login_page(struct http_request *req, struct http_response *resp);
enum err console_login(struct http_request *req, struct http_response *resp);
enum err console_logout_page(struct http_request *req, struct http_response *resp);
enum err console_logout(struct http_request *req, struct http_response *resp);
enum err console_magic_page(struct http_request *req, struct http_response *resp);
enum err console_magic_request(struct http_request *req, struct http_response *resp);
enum err console_magic_consume(struct http_request *req, struct http_response *resp);
enum err console_reset_page(struct http_request *req, struct http_response *resp);
enum err console_reset_request(struct http_request *req, struct http_response *resp);
enum err console_reset_confirm(struct http_request *req, struct http_response *resp);
enum err console_sessions_page(struct http_request *req, struct http_response *resp);
enum err console_session_revoke(struct http_request *req, struct http_response *resp);
enum err console_revoke_all(struct http_request *req, struct http_response *resp);
/* keys.c: the user's API keys (A7) */
enum err console_keys_page(struct http_request *req, struct http_response *resp);
enum err console_key_create(struct http_request *req, struct http_response *resp);
enum err console_key_revoke(struct http_request *req, struct http_response *resp);

/* The stylesheet (src/console/console.css), embedded at build time. */
extern const char console_css[];
extern const size_t console_css_len;

/* members.c: members and invitations (issue 5 item 2). */
enum err console_members_page(struct http_request *req, struct http_response *resp);
enum err console_member_invite(struct http_request *req, struct http_response *resp);
enum err console_member_role(struct http_request *req, struct http_response *resp);
enum err console_member_remove(struct http_request *req, struct http_response *resp);
enum err console_invitation_revoke(struct http_request *req, struct http_response *resp);
enum err console_invite_page(struct http_request *req, struct http_response *resp);
enum err console_invite_accept(struct http_request *req, struct http_response *resp);

/* integrations.c: integrations (I1), for those holding integrations.manage. */
enum err console_integrations_page(struct http_request *req, struct http_response *resp);
enum err console_integration_create(struct http_request *req, struct http_response *resp);
enum err console_integration_rotate(struct http_request *req, struct http_response *resp);
enum err console_integration_delete(struct http_request *req, struct http_response *resp);
enum err console_llm_settings(struct http_request *req, struct http_response *resp);

/* activity.c: deliveries, repositories and their changes, dead jobs (issue 6 item 9). */
enum err console_activity_page(struct http_request *req, struct http_response *resp);
enum err console_activity_repository(struct http_request *req, struct http_response *resp);
enum err console_activity_job_retry(struct http_request *req, struct http_response *resp);

/*
 * drafts.c: the changelog review (issue 7 item 4): the queue, the editor, the
 * workflow's steps, the version history. The editor's form takes a body of
 * up to CONSOLE_DRAFT_FORM_BODY's bytes (an entry's text, percent-encoded).
 */
extern const struct body_spec CONSOLE_DRAFT_FORM_BODY;
enum err console_drafts_page(struct http_request *req, struct http_response *resp);
enum err console_draft_page(struct http_request *req, struct http_response *resp);
enum err console_draft_edit(struct http_request *req, struct http_response *resp);
enum err console_draft_submit(struct http_request *req, struct http_response *resp);
enum err console_draft_approve(struct http_request *req, struct http_response *resp);
enum err console_draft_reject(struct http_request *req, struct http_response *resp);
enum err console_draft_publish(struct http_request *req, struct http_response *resp);
enum err console_draft_history(struct http_request *req, struct http_response *resp);

#endif
