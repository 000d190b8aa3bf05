/*
 * hooks.c — verify, redact, store durably, answer (see hooks.h).
 */
#include "hooks/hooks.h"

#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "core/json.h"
#include "core/log.h"
#include "api/api.h"
#include "crypto/hash.h"
#include "crypto/rand.h"
#include "ingest/ingest.h"
#include "ingest/integrations.h"
#include "ingest/normalize_azure.h"
#include "ingest/redact.h"
#include "ingest/store.h"
#include "ingest/verify.h"
#include "jobs/jobs.h"
#include "ratelimit/ratelimit.h"
#include "storage/group.h"

#define HOOKS_BODY_KEY_PREFIX "sha256:" /* the key of a delivery that names no id */

/* One delivery on its way through the group-commit writer; in the request arena. */
struct pending {
    struct storage_unit unit;
    struct ingest_delivery_new d;
    struct storage_group *writer;
    struct jobs_runner *jobs;
    /* set on the writer thread before the resume */
    bool duplicate;
    char id[INGEST_DELIVERY_ID_LEN + 1];
    enum err result;
    void (*resume)(void *ctx);
    void *resume_ctx;
};

static struct str header_of(void *arg, const char *name)
{
    return http_header_get(arg, name);
}

/* In the writer's shared transaction: the delivery and its job, or neither. */
static enum err write_delivery(void *arg, struct tx *tx)
{
    struct pending *p = arg;
    p->duplicate = false;
    enum err e = ingest_delivery_insert(tx, &p->d, &p->duplicate, p->id);
    if (e || p->duplicate)
        return e;
    return jobs_enqueue(tx, INGEST_JOB_NORMALIZE, p->id, p->d.received_at, NULL);
}

static void written(void *arg, enum err result)
{
    struct pending *p = arg;
    p->result = result;
    if (result == ERR_OK && !p->duplicate && p->jobs)
        jobs_runner_notify(p->jobs);
    p->resume(p->resume_ctx);
}

static void start_write(void *arg, void (*done)(void *ctx), void *ctx)
{
    struct pending *p = arg;
    p->resume = done;
    p->resume_ctx = ctx;
    p->unit.done = written;
    p->unit.done_arg = p;
    enum err e = storage_group_submit(p->writer, &p->unit);
    if (e) { /* not queued: answer now */
        p->result = e;
        done(ctx);
    }
}

static enum err finish_write(struct http_request *req, struct http_response *resp, void *arg)
{
    struct pending *p = arg;
    if (p->result)
        return http_fail(req, p->result, "delivery not stored");
    struct buf out = BUF_INIT(256);
    struct jw w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_cstring(&w, p->duplicate ? "duplicate" : "accepted");
    jw_key(&w, "delivery_id");
    jw_cstring(&w, p->id);
    jw_object_end(&w);
    return api_respond_json(req, resp, p->duplicate ? 200 : 202, &w, &out);
}

/*
 * A failed verification: counted per integration and per client IP; audited
 * while both budgets last, 429 once either is spent.
 */
static enum err refuse(struct http_request *req, const struct integration_verify *iv,
                       const char *reason)
{
    const struct app *app = req->app;
    char key[RL_MAX_KEY_LEN];
    bool limited = false;
    struct rl_decision d = {0};
    if (app->ratelimit) {
        snprintf(key, sizeof key, "hook:%s", iv->id);
        if (ratelimit_hit(app->ratelimit, RL_WEBHOOK, str_from_cstr(key), &d) != ERR_OK ||
            !d.allowed)
            limited = true;
        struct rl_decision by_ip = {0};
        snprintf(key, sizeof key, "ip:%s", req->client_ip);
        if (ratelimit_hit(app->ratelimit, RL_WEBHOOK, str_from_cstr(key), &by_ip) != ERR_OK ||
            !by_ip.allowed) {
            limited = true;
            if (by_ip.retry_after_s > d.retry_after_s)
                d = by_ip;
        }
    }
    if (limited) {
        req->rate_decision = d;
        req->rate_checked = true;
        return http_fail(req, ERR_RATE_LIMITED, "webhook verification failures: %s", reason);
    }

    struct tx *tx = NULL;
    enum err e = storage_begin(app->storage, &iv->tenant, TX_WRITE, &tx);
    if (!e) {
        char target[AUDIT_MAX_TARGET];
        snprintf(target, sizeof target, "integration:%s", iv->id);
        const struct audit_event ev = {
            .action = "webhook.verification_failed",
            .actor = AUDIT_ACTOR_PROVIDER,
            .actor_id = ingest_provider_name(iv->provider),
            .target = target,
            .outcome = AUDIT_FAILURE,
            .client_ip = req->client_ip,
            .request_id = req->id,
            .details = LOG_FIELDS_(LOG_STR("reason", reason)),
        };
        e = audit_append(tx, &ev, NULL);
        e = e ? (storage_rollback(tx), e) : storage_commit(tx);
    }
    if (e)
        log_warn("webhook failure not audited", LOG_STR("request_id", req->id), LOG_ERR(e));
    return http_fail_public(req, ERR_UNAUTHENTICATED, "invalid_signature",
                            "The delivery's signature or credentials did not verify.");
}

/* The verification settings of iv, as views into it. */
static struct ingest_verify_config config_of(const struct integration_verify *iv)
{
    enum ingest_provider p = iv->provider;
    struct ingest_secret secret = {str_from(iv->secret, iv->secret_len),
                                   str_from(iv->previous, iv->previous_len)};
    struct ingest_verify_config c = {.provider = p};
    if (p != INGEST_PROVIDER_AZURE_DEVOPS) {
        c.secret = secret;
        if (iv->signing_len)
            c.signing_secret =
                (struct ingest_secret){str_from(iv->signing, iv->signing_len), STR_NULL};
        return c;
    }
    if (iv->azure_auth == INTEGRATION_AZURE_BASIC || iv->azure_auth == INTEGRATION_AZURE_BOTH) {
        c.basic_user = STR_LIT(INTEGRATIONS_AZURE_BASIC_USER);
        c.basic_password = secret;
    }
    if (iv->azure_auth == INTEGRATION_AZURE_HEADER || iv->azure_auth == INTEGRATION_AZURE_BOTH) {
        c.header_name = str_from_cstr(iv->azure_header);
        c.header_value = secret;
    }
    return c;
}

/* The delivery key: the provider's delivery id (header, else body_id), or the body's SHA-256. */
static enum err delivery_key(struct http_request *req, enum ingest_provider p,
                             const struct ingest_headers *h, struct str body_id, struct str *out)
{
    enum err e = ingest_delivery_id(p, h, out);
    if (e != ERR_NOT_FOUND)
        return e; /* ERR_OK, or ERR_INVALID / ERR_LIMIT for a malformed id */
    if (body_id.ptr) {
        *out = body_id;
        return ERR_OK;
    }
    unsigned char digest[SHA256_LEN];
    sha256(req->body.ptr, req->body.len, digest);
    char *key = arena_alloc(req->arena, sizeof HOOKS_BODY_KEY_PREFIX + 2 * SHA256_LEN);
    if (!key)
        return ERR_LIMIT;
    memcpy(key, HOOKS_BODY_KEY_PREFIX, sizeof HOOKS_BODY_KEY_PREFIX - 1);
    hex_encode(digest, SHA256_LEN, key + sizeof HOOKS_BODY_KEY_PREFIX - 1);
    *out = str_from_cstr(key);
    return ERR_OK;
}

/*
 * Looks the integration up (through the app's cache) and verifies the
 * delivery with it: *verified, or not with *reason; iv then holds the
 * integration either way (refuse needs it). Errors are the lookup's. A
 * failure with what the cache held is tried once more with a fresh read:
 * the integration may have changed on another server (a new secret).
 */
static enum err lookup_and_verify(struct http_request *req, struct str provider_name, int64_t now,
                                  struct integration_verify *iv, const char **reason,
                                  bool *verified)
{
    const struct app *app = req->app;
    struct str id = http_param(req, "integration_id");
    struct ingest_headers h = {header_of, req};
    for (int attempt = 0;; attempt++) {
        enum err e = integrations_lookup(app->storage, app->secrets, app->integrations_cache, id,
                                         provider_name, now, iv);
        if (e)
            return e;
        struct ingest_verify_config cfg = config_of(iv);
        *reason = NULL;
        *verified = ingest_verify(&cfg, &h, req->body, now, reason) == ERR_OK;
        if (*verified || !integrations_cache_hit(iv) || attempt > 0)
            return ERR_OK; /* a second hit: another request just read it afresh */
        integrations_cache_forget(app->integrations_cache, iv->id);
        integration_verify_wipe(iv);
    }
}

enum err hooks_receive(struct http_request *req, struct http_response *resp)
{
    const struct app *app = req->app;
    enum ingest_provider provider;
    struct str provider_name = http_param(req, "provider");
    if (ingest_provider_parse(provider_name, &provider) != ERR_OK ||
        !ingest_provider_for_integrations(provider))
        return ERR_NOT_FOUND;
    if (!app->secrets || !app->writer)
        return http_fail(req, ERR_UNAVAILABLE, "webhook ingestion is not running");
    int64_t now = (int64_t)time(NULL);

    struct integration_verify *iv = arena_calloc(req->arena, 1, sizeof *iv);
    if (!iv)
        return http_fail(req, ERR_LIMIT, "the request arena is full");
    const char *reason = NULL;
    bool verified = false;
    enum err e = lookup_and_verify(req, provider_name, now, iv, &reason, &verified);
    if (e)
        return e == ERR_NOT_FOUND ? ERR_NOT_FOUND : http_fail(req, e, "integration lookup");
    struct tenant_ctx tenant = iv->tenant;
    char integration_id[INTEGRATIONS_ID_LEN + 1];
    memcpy(integration_id, iv->id, sizeof integration_id);
    if (!verified) {
        e = refuse(req, iv, reason ? reason : "verification failed");
        integration_verify_wipe(iv);
        return e;
    }
    integration_verify_wipe(iv);

    struct ingest_headers h = {header_of, req};
    struct str event = STR_NULL;
    e = ingest_event_name(provider, &h, &event);
    if (e == ERR_NOT_FOUND && provider == INGEST_PROVIDER_AZURE_DEVOPS)
        e = ERR_OK; /* in the body: the worker reads it */
    if (e)
        return http_fail_public(req, ERR_INVALID, "invalid_event",
                                "The delivery's event header is missing or malformed.");

    struct buf redacted = BUF_INIT(REDACT_MAX_OUTPUT);
    struct redact_counts counts;
    struct json_error jerr = {.reason = "the body is not a JSON document shiplog accepts"};
    e = redact_json(req->body.ptr, req->body.len, &redacted, &counts, &jerr);
    if (e) {
        buf_release(&redacted);
        /* the reason outlives this frame: the error body is written later */
        const char *why =
            arena_strndup(req->arena, jerr.reason, strnlen(jerr.reason, sizeof jerr.reason));
        if (e == ERR_LIMIT)
            return http_fail_public(req, ERR_LIMIT, "body_limit", why);
        return http_fail_public(req, ERR_INVALID, "invalid_json", why);
    }
    struct pending *p = arena_calloc(req->arena, 1, sizeof *p);
    char *body = arena_strndup(req->arena, redacted.data, redacted.len);
    buf_release(&redacted);
    if (!p || !body)
        return http_fail(req, ERR_LIMIT, "the request arena cannot hold the redacted body");
    struct str body_id = STR_NULL, body_event = STR_NULL;
    if (provider == INGEST_PROVIDER_AZURE_DEVOPS)
        (void)ingest_azure_envelope(str_from_cstr(body), req->arena, &body_id, &body_event);
    struct str key;
    e = delivery_key(req, provider, &h, body_id, &key);
    if (e)
        return http_fail_public(req, ERR_INVALID, "invalid_delivery_id",
                                "The delivery's id header is malformed.");
    if (!event.ptr)
        event = body_event.ptr ? body_event : STR_LIT("unknown");

    p->d = (struct ingest_delivery_new){
        .integration_id =
            str_from_cstr(arena_strndup(req->arena, integration_id, strlen(integration_id))),
        .provider = provider_name,
        .delivery_key = key,
        .event = event,
        .body = str_from_cstr(body),
        .body_bytes = (int64_t)req->body.len,
        .received_at = now,
    };
    /* packed here, on one of the request threads, not on the writer's */
    if ((e = ingest_delivery_pack(&p->d, req->arena)) != ERR_OK)
        return http_fail(req, e, "delivery not stored");
    p->unit.tenant = tenant;
    p->unit.write = write_delivery;
    p->unit.arg = p;
    p->writer = app->writer;
    p->jobs = app->jobs;
    http_defer(req, &(struct http_deferred){start_write, finish_write, p});
    (void)resp;
    return ERR_OK;
}
