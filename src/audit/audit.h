/*
 * audit — the tamper-evident audit trail (L1–L5). docs/AUDIT.md describes the
 * chain, its canonical encoding, checkpoints and how to verify an export.
 *
 * Every module records events with audit_append(), inside its own write
 * transaction, so the event commits or rolls back with the change it
 * describes. Entries of one tenant form a hash chain:
 *   hash(n) = SHA-256(hash(n-1) || canonical(entry n)),  hash(0) = 32 zero bytes
 * Appends to one tenant are serialised (PostgreSQL: the chain head row is
 * locked; SQLite: write transactions are exclusive), so the chain never forks.
 *
 * Details are redacted before they are hashed and stored: fields named like
 * secrets or personal data are dropped and token-shaped values masked, with
 * the logger's rules (core/log.h).
 *
 * Besides audit_append, the module holds the verifier (one state machine fed
 * entries in seq order, from the database or from an export file), the JSON
 * Lines export and its parser, and signed checkpoints of the chain heads
 * (Ed25519 with the key derived from the master key), made on demand or by a
 * background thread in the server.
 */
#ifndef SHIPLOG_AUDIT_AUDIT_H
#define SHIPLOG_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "storage/storage.h"

#define AUDIT_MAX_ACTION        64   /* bytes: lower-case dotted name, e.g. "auth.signin" */
#define AUDIT_MAX_TARGET        256  /* bytes: "kind:id", e.g. "integration:3f2a..." */
#define AUDIT_MAX_ACTOR         128  /* bytes of an actor id */
#define AUDIT_MAX_DETAILS       4096 /* bytes of the canonical details JSON */
#define AUDIT_MAX_CLIENT_IP     64   /* bytes: an IPv6 text with zone fits */
#define AUDIT_MAX_REQUEST_ID    64   /* bytes of a request id */
#define AUDIT_MAX_DETAIL_FIELDS 32   /* fields in one details list */
#define AUDIT_MAX_DETAIL_KEY    64   /* bytes of a details key, [a-z0-9_] */

#define AUDIT_HASH_HEX_LEN                (2 * SHA256_LEN) /* hashes are stored as lower-case hex */
#define AUDIT_TIME_LEN                    27               /* "2024-05-01T12:34:56.123456Z" */
#define AUDIT_MAX_TRUSTED_KEYS            16    /* checkpoint public keys a verifier accepts */
#define AUDIT_EXPORT_MAX_LINE             32768 /* bytes of one export line, newline excluded */
#define AUDIT_MAX_DIRTY_TENANTS           4096  /* tenants awaiting the checkpointer's next round */
#define AUDIT_CHECKPOINT_INTERVAL_DEFAULT 300   /* seconds between checkpointer rounds */
#define AUDIT_MAX_KEY_TRANSITIONS         64    /* key transitions of one tenant a verifier reads */

enum audit_actor {
    AUDIT_ACTOR_SYSTEM,    /* shiplog itself (jobs, start-up) */
    AUDIT_ACTOR_OPERATOR,  /* a shiplog CLI command run by the operator */
    AUDIT_ACTOR_USER,      /* a signed-in member */
    AUDIT_ACTOR_API_KEY,   /* an API key or access token */
    AUDIT_ACTOR_PROVIDER,  /* a webhook sender (GitHub, ...) */
    AUDIT_ACTOR_ANONYMOUS, /* an unauthenticated caller */
};

enum audit_outcome { AUDIT_SUCCESS, AUDIT_FAILURE, AUDIT_DENIED };

struct audit_event {
    const char *action; /* required, [a-z0-9_.]+, <= AUDIT_MAX_ACTION */
    enum audit_actor actor;
    const char *actor_id; /* NULL = "" */
    const char *target;   /* NULL = "" */
    enum audit_outcome outcome;
    const char *client_ip;           /* NULL = "" */
    const char *request_id;          /* NULL = "" */
    const struct log_field *details; /* NULL or a LOG_FIELDS_ list; redacted */
};

/* What an append produced. */
struct audit_ref {
    int64_t seq;                    /* 1-based position in the tenant's chain */
    unsigned char hash[SHA256_LEN]; /* the entry's chain hash */
};

/*
 * Appends ev to the chain of tx's tenant. tx must be TX_WRITE. ERR_INVALID for
 * a malformed action or an over-long field; ERR_LIMIT when the details exceed
 * AUDIT_MAX_DETAILS after redaction. out may be NULL.
 */
MUST_CHECK enum err audit_append(struct tx *tx, const struct audit_event *ev,
                                 struct audit_ref *out);

/* "system", "operator", "user", "api_key", "provider", "anonymous"; NULL if unknown. */
const char *audit_actor_name(enum audit_actor a);
/* "success", "failure", "denied"; NULL if unknown. */
const char *audit_outcome_name(enum audit_outcome o);
/* True for a valid action: 1..AUDIT_MAX_ACTION bytes of [a-z0-9_.]. */
bool audit_action_valid(struct str action);

/*
 * The redacted canonical details JSON of a field list (docs/AUDIT.md): keys
 * sorted bytewise, no whitespace; sensitive keys dropped, string values
 * masked. Appends to out. ERR_INVALID for a key outside [a-z0-9_] (1..
 * AUDIT_MAX_DETAIL_KEY bytes), a duplicate key or more than
 * AUDIT_MAX_DETAIL_FIELDS fields; ERR_LIMIT past AUDIT_MAX_DETAILS bytes.
 */
MUST_CHECK enum err audit_details_json(const struct log_field *details, struct buf *out);

/* ---- stored entries and the canonical encoding ------------------------------ */

/*
 * One entry as stored or exported. The views are not NUL-terminated and live
 * as long as whatever they point into (a statement row, a parsed line).
 */
struct audit_entry {
    struct str tenant_id;
    int64_t seq;
    struct str at;         /* RFC 3339 UTC with microseconds, AUDIT_TIME_LEN bytes */
    struct str actor_type; /* audit_actor_name() */
    struct str actor_id;
    struct str client_ip;
    struct str request_id;
    struct str action;
    struct str target;
    struct str outcome;   /* audit_outcome_name() */
    struct str details;   /* canonical JSON object text */
    struct str prev_hash; /* hex */
    struct str hash;      /* hex */
};

/*
 * Appends the canonical encoding of e to out: "shiplog-audit-v1\n", then each
 * field as "<decimal byte length>:<bytes>\n" in the order tenant_id, seq,
 * at, actor_type, actor_id, client_ip, request_id, action, target, outcome,
 * details. prev_hash and hash are not part of it.
 */
MUST_CHECK enum err audit_canonical(const struct audit_entry *e, struct buf *out);

/* SHA-256(prev || canonical). canon is scratch space (reset here). */
MUST_CHECK enum err audit_entry_hash(const unsigned char prev[SHA256_LEN],
                                     const struct audit_entry *e, struct buf *canon,
                                     unsigned char out[SHA256_LEN]);

/* Lower-case hex of a hash, NUL-terminated. */
void audit_hash_hex(const unsigned char h[SHA256_LEN], char out[AUDIT_HASH_HEX_LEN + 1]);
/* Decodes exactly 2*n hex digits (either case); false otherwise. */
bool audit_hex_decode(struct str hex, unsigned char *out, size_t n);

/* ---- checkpoints ------------------------------------------------------------ */

/* A stored or exported checkpoint (views, as for struct audit_entry). */
struct audit_checkpoint_rec {
    struct str tenant_id;
    int64_t seq;           /* the entry whose hash is signed */
    struct str hash;       /* hex: that entry's chain hash */
    struct str at;         /* when it was signed, AUDIT_TIME_LEN bytes */
    struct str public_key; /* hex of the Ed25519 public key */
    struct str signature;  /* hex of the signature */
};

/*
 * The signed message: "shiplog-audit-checkpoint-v1\n" tenant "\n" seq "\n"
 * hash-hex "\n" at "\n". Appends to out.
 */
MUST_CHECK enum err audit_checkpoint_message(struct str tenant_id, int64_t seq, struct str hash_hex,
                                             struct str at, struct buf *out);

/*
 * Signs the head of t's chain with k if it advanced since the last checkpoint,
 * after checking that the entries since that checkpoint link up to the head
 * (so a tampered chain is never signed). The last checkpoint is resumed from
 * only when it checks out: signed by k's key or one t's key transitions lead
 * to, a valid signature, at or before the head, over the hash the entry has;
 * otherwise the whole chain is verified. *made (may be NULL) says whether a
 * checkpoint was written. ERR_CONFLICT when the chain does not verify
 * (nothing is signed; the reason is logged); storage errors as storage.h.
 */
MUST_CHECK enum err audit_checkpoint(struct storage *s, const struct tenant_ctx *t,
                                     const struct sign_key *k, bool *made);

/*
 * A thread that, every interval_s seconds, checkpoints the tenants this
 * process appended to since its previous round (audit_append marks them in a
 * set of at most AUDIT_MAX_DIRTY_TENANTS; when full, further tenants are
 * dropped with a warning and are checkpointed the next time they append after
 * a round, or by `shiplog audit checkpoint`). The key is copied. interval_s 0
 * means AUDIT_CHECKPOINT_INTERVAL_DEFAULT. One checkpointer per process.
 */
struct audit_checkpointer;
MUST_CHECK enum err audit_checkpointer_start(struct storage *s, const struct sign_key *k,
                                             unsigned interval_s, struct audit_checkpointer **out);
/* Stops the thread after a final round, wipes the key copy and frees c. NULL is a no-op. */
void audit_checkpointer_stop(struct audit_checkpointer *c);

/*
 * The public key as PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----"),
 * appended to out, and back. from_pem: ERR_INVALID unless pem holds exactly one
 * Ed25519 SubjectPublicKeyInfo block.
 */
MUST_CHECK enum err audit_public_key_pem(const unsigned char pub[SIGN_PUBLIC_LEN], struct buf *out);
MUST_CHECK enum err audit_public_key_from_pem(struct str pem, unsigned char pub[SIGN_PUBLIC_LEN]);

/* ---- verification ----------------------------------------------------------- */

/* Public keys whose checkpoints are trusted. */
struct audit_trusted_keys {
    unsigned char pub[AUDIT_MAX_TRUSTED_KEYS][SIGN_PUBLIC_LEN];
    size_t n;
};

/* Adds pub unless already present; ERR_LIMIT past AUDIT_MAX_TRUSTED_KEYS. */
MUST_CHECK enum err audit_trusted_keys_add(struct audit_trusted_keys *k,
                                           const unsigned char pub[SIGN_PUBLIC_LEN]);

/* ---- key transitions -------------------------------------------------------- */

/*
 * A key transition vouches, signed by a tenant's new checkpoint key, for the
 * checkpoints of an old one (docs/AUDIT.md "Key transitions"): after a master
 * key rotation the old key can be dropped from the key ring and its
 * checkpoints stay verifiable. `shiplog keys rotate` records them.
 */
struct audit_key_transition_rec { /* stored or exported text (views) */
    struct str tenant_id;
    struct str old_public_key; /* hex */
    struct str new_public_key; /* hex */
    struct str signature;      /* hex, by the new key */
    struct str at;             /* when it was signed, AUDIT_TIME_LEN bytes */
};

struct audit_key_transition { /* decoded */
    unsigned char old_pub[SIGN_PUBLIC_LEN];
    unsigned char new_pub[SIGN_PUBLIC_LEN];
    unsigned char signature[SIGN_SIG_LEN];
    char at[AUDIT_TIME_LEN + 1];
};

/* ERR_INVALID unless keys and signature are hex of their size and at is AUDIT_TIME_LEN bytes. */
MUST_CHECK enum err audit_key_transition_decode(const struct audit_key_transition_rec *r,
                                                struct audit_key_transition *out);

/*
 * The signed message: "shiplog-audit-key-transition-v1\n" tenant "\n"
 * old-key-hex "\n" new-key-hex "\n" at "\n", keys in lower-case hex. Appends
 * to out.
 */
MUST_CHECK enum err audit_key_transition_message(struct str tenant_id,
                                                 const struct audit_key_transition *t,
                                                 struct buf *out);

/*
 * Adds to keys the old key of each transition of tenant_id in t[0..n) whose
 * new key is trusted (from the start or through another transition) and whose
 * signature verifies, until nothing changes; other transitions are ignored.
 * ERR_LIMIT past AUDIT_MAX_TRUSTED_KEYS keys.
 */
MUST_CHECK enum err audit_trusted_keys_extend(struct audit_trusted_keys *keys, struct str tenant_id,
                                              const struct audit_key_transition *t, size_t n);

/*
 * Records for t a transition from each of old_pubs[0..n_old) to k's public
 * key, signed by k, unless t already has one from that old key (rows are
 * never changed: the first transition of an old key wins); old keys equal to
 * k's are skipped. *made (may be NULL) gets how many rows were written. On
 * PostgreSQL only the owner (a maintenance storage) may write them.
 */
MUST_CHECK enum err audit_key_transitions_record(struct storage *s, const struct tenant_ctx *t,
                                                 const struct sign_key *k,
                                                 const unsigned char (*old_pubs)[SIGN_PUBLIC_LEN],
                                                 size_t n_old, size_t *made);

/* What broke first; AUDIT_OK when nothing did. */
enum audit_break {
    AUDIT_OK = 0,
    AUDIT_BREAK_MISSING,              /* a seq is absent (entry deleted) */
    AUDIT_BREAK_REORDERED,            /* links to another entry of the chain / out of order */
    AUDIT_BREAK_LINK,                 /* prev_hash matches no entry */
    AUDIT_BREAK_CONTENT,              /* recomputed hash differs from the stored one */
    AUDIT_BREAK_TRUNCATED,            /* head or a checkpoint lies beyond the last entry */
    AUDIT_BREAK_CHECKPOINT_KEY,       /* checkpoint signed by a key not trusted */
    AUDIT_BREAK_CHECKPOINT_SIGNATURE, /* signature does not verify */
    AUDIT_BREAK_CHECKPOINT_MISMATCH,  /* signed hash differs from the entry's (rewritten) */
    AUDIT_BREAK_HEAD,                 /* head row missing, behind the chain or with another hash */
    AUDIT_BREAK_MALFORMED,  /* a value that cannot be read (bad hex, foreign tenant, ...) */
    AUDIT_BREAK_UNANCHORED, /* export: the last entries are not covered by a trusted checkpoint */
};

struct audit_verify_result {
    enum audit_break kind;
    int64_t seq;         /* the first broken entry (AUDIT_OK: 0) */
    char why[192];       /* e.g. "reordered (links to entry 6)" */
    int64_t entries;     /* entries verified before the break, or all of them */
    int64_t checkpoints; /* checkpoints verified */
    int64_t unanchored;  /* AUDIT_OK: entries after the last trusted checkpoint */
};

/* Short stable name of a break kind, e.g. "missing", "content_changed". */
const char *audit_break_name(enum audit_break b);

/*
 * Looks up the entry (other than seq not_seq) whose stored hash is hash, to
 * tell a reordered entry from a wrong link. Called at most once, on a break.
 */
struct audit_hash_finder {
    enum err (*find)(void *arg, const unsigned char hash[SHA256_LEN], int64_t not_seq, int64_t *seq,
                     bool *found);
    void *arg;
};

/*
 * The verifier state machine. Feed, in seq order: each entry, then the
 * checkpoints at that seq; after the last entry any remaining checkpoints,
 * then the head (if one exists); then finish. The first break wins; later
 * feeds are ignored. Feed functions return an error only when the finder
 * fails (the verification is then inconclusive). keys and finder (may be
 * NULL) must outlive the verifier; keys may still grow (key transitions)
 * before the first checkpoint is fed. Not thread-safe.
 */
struct audit_verifier;
void audit_verifier_new(const char *tenant_id, const struct audit_trusted_keys *keys,
                        const struct audit_hash_finder *finder, struct audit_verifier **out);
/* Starts after a point known good (incremental checks): seq and its hash. */
void audit_verifier_resume(struct audit_verifier *v, int64_t seq,
                           const unsigned char hash[SHA256_LEN]);
MUST_CHECK enum err audit_verifier_entry(struct audit_verifier *v, const struct audit_entry *e);
MUST_CHECK enum err audit_verifier_checkpoint(struct audit_verifier *v,
                                              const struct audit_checkpoint_rec *c);
MUST_CHECK enum err audit_verifier_head(struct audit_verifier *v, int64_t seq, struct str hash_hex);
bool audit_verifier_broken(const struct audit_verifier *v);
/* Last entry seq and hash accepted so far. */
int64_t audit_verifier_last(const struct audit_verifier *v, unsigned char hash[SHA256_LEN]);
void audit_verifier_finish(struct audit_verifier *v, struct audit_verify_result *out);
void audit_verifier_free(struct audit_verifier *v);

/*
 * Verifies t's whole chain in the database, streaming it in pages within one
 * read transaction (memory does not grow with the chain). Checkpoints are
 * trusted when signed by keys or by a key that t's key transitions lead to.
 * The result says whether and where it broke (entries after the last trusted
 * checkpoint are not a break here: out->unanchored counts them); the return
 * value is ERR_OK unless the database failed.
 */
MUST_CHECK enum err audit_verify_tenant(struct storage *s, const struct tenant_ctx *t,
                                        const struct audit_trusted_keys *keys,
                                        struct audit_verify_result *out);

/* ---- export ----------------------------------------------------------------- */

/*
 * Writes t's chain to out as JSON Lines (docs/AUDIT.md): first t's
 * "key_transition" lines, then one "entry" line per entry in seq order, each
 * followed by the "checkpoint" lines at its seq, and a final "head" line. It
 * does not sign: to make the export verifiable up to its last entry, call
 * audit_checkpoint() first. ERR_IO when writing fails.
 */
MUST_CHECK enum err audit_export(struct storage *s, const struct tenant_ctx *t, FILE *out);

enum audit_record_type {
    AUDIT_REC_ENTRY,
    AUDIT_REC_CHECKPOINT,
    AUDIT_REC_HEAD,
    AUDIT_REC_KEY_TRANSITION,
};

/* One parsed export line. Views point into the parsed document. */
struct audit_record {
    enum audit_record_type type;
    struct audit_entry entry;               /* AUDIT_REC_ENTRY */
    struct audit_checkpoint_rec checkpoint; /* AUDIT_REC_CHECKPOINT */
    struct {
        struct str tenant_id;
        int64_t seq;
        struct str hash;
    } head;                                     /* AUDIT_REC_HEAD */
    struct audit_key_transition_rec transition; /* AUDIT_REC_KEY_TRANSITION */
    struct json *doc_;                          /* owned */
};

/*
 * Parses one export line (without its newline): a JSON object with "type" and
 * exactly that type's members, all strings except "seq" (an integer >= 0;
 * key transitions have none).
 * ERR_LIMIT past AUDIT_EXPORT_MAX_LINE or the JSON limits, ERR_INVALID
 * otherwise. On success release with audit_record_release().
 */
MUST_CHECK enum err audit_export_parse_line(const char *line, size_t len, struct audit_record *out);
void audit_record_release(struct audit_record *r);

/*
 * Verifies an export read from in (seekable: a break is classified by reading
 * it again). Every line must belong to one tenant, written to tenant_out. Key
 * transition lines (only before the chain) extend keys as for the database.
 * A line that does not parse is a break (AUDIT_BREAK_MALFORMED, with its line
 * number). Unlike the database, an export must be anchored: entries after the
 * last trusted checkpoint are a break (AUDIT_BREAK_UNANCHORED), since whoever
 * produced the file could have written them. ERR_IO when reading fails.
 */
MUST_CHECK enum err audit_verify_export(FILE *in, const struct audit_trusted_keys *keys,
                                        struct audit_verify_result *out,
                                        char tenant_out[STORAGE_TENANT_ID_LEN + 1]);

#endif
