/*
 * pipeline — from a normalized delivery to the changelog drafts it makes
 * (D1, D2): which of its rows are changes, their classification with the
 * tenant's rules, and the rules provider's draft of each.
 *
 * A change is
 *  - a pull/merge request the batch reports merged, unless both its target
 *    branch and its repository's default branch are known and differ (a
 *    merge into a feature branch is no change for customers yet);
 *  - a commit pushed to its repository's default branch that is not itself
 *    the merge of a pull request: merge commits ("Merge pull request #…",
 *    "Merge branch …", GitLab's "See merge request …", Bitbucket's "Merged
 *    in …", Azure's "Merged PR …") and GitHub squash commits whose title ends
 *    in "(#123)" belong to the pull request, which makes its own entry.
 * A pull request's paths are those of its merge commit when that commit is
 * stored (or in the same batch); a commit's paths are its own.
 *
 * The tenant's rules are the setting CHANGES_SETTING_RULES (a rules.h JSON
 * document); absent or unreadable, the built-in rules apply (an unreadable
 * one is logged: it was checked when stored).
 *
 * changes_find runs in the processing job's prepare step, with a read
 * transaction of the tenant, outside the runner's write transaction;
 * changes_store runs in the write transaction, after the batch's rows.
 */
#ifndef SHIPLOG_CHANGES_PIPELINE_H
#define SHIPLOG_CHANGES_PIPELINE_H

#include <stddef.h>

#include "changes/entries.h"
#include "changes/rules.h"
#include "core/arena.h"
#include "core/err.h"
#include "ingest/normalize.h"
#include "storage/storage.h"

#define CHANGES_SETTING_RULES     "changes.rules"
#define CHANGES_MAX_PER_DELIVERY  100   /* changes taken from one delivery; the rest are logged */
#define CHANGES_MAX_CLASSIFY_TEXT 16384 /* bytes of a description the classifier and drafts see */

/* The tenant's rules (defaults when none are stored), in a. */
MUST_CHECK enum err changes_rules_get(struct tx *tx, struct arena *a, struct classify_rules *out);

/*
 * Stores rules_json as the tenant's rules after checking it; why (may be
 * NULL) says what is wrong (ERR_INVALID / ERR_LIMIT). Audited as
 * settings.rules_changed by who (user or key id; client_ip and request_id
 * may be NULL).
 */
MUST_CHECK enum err changes_rules_set(struct tx *tx, const struct entries_actor *who,
                                      struct str rules_json, struct rules_problem *why);

/* True when a commit message is the merge of a pull request (or any merge commit). */
bool changes_is_merge_message(struct str message);

/* The changes of batch b (see above) into *out (in a), *n of them. */
MUST_CHECK enum err changes_find(struct tx *tx, const struct ingest_batch *b, struct arena *a,
                                 struct entry_generated **out, size_t *n);

/* Creates or regenerates the entries of v[0..n) in tx (entries_upsert_generated each). */
MUST_CHECK enum err changes_store(struct tx *tx, const struct entry_generated *v, size_t n,
                                  int64_t now);

#endif
