/*
 * classify — one impact per change (see classify.h for the order of the
 * signals). Pure: no storage, no allocation; the Conventional Commit is
 * parsed on the stack.
 */
#include "changes/classify.h"

#include <stdio.h>
#include <string.h>

#include "changes/conventional.h"
#include "ingest/normalize.h" /* ingest_glob_match */

static const char *const impact_names[CHANGE_IMPACT_COUNT_] = {
    [CHANGE_BREAKING] = "breaking", [CHANGE_SECURITY] = "security",
    [CHANGE_FEATURE] = "feature",   [CHANGE_IMPROVEMENT] = "improvement",
    [CHANGE_FIX] = "fix",           [CHANGE_PERFORMANCE] = "performance",
    [CHANGE_INTERNAL] = "internal",
};

const char *change_impact_name(enum change_impact impact)
{
    return (unsigned)impact < CHANGE_IMPACT_COUNT_ ? impact_names[impact] : "unknown";
}

bool change_impact_parse(struct str s, enum change_impact *out)
{
    for (int i = 0; i < CHANGE_IMPACT_COUNT_; i++) {
        if (str_eq_cstr(s, impact_names[i])) {
            *out = (enum change_impact)i;
            return true;
        }
    }
    return false;
}

/* ---- the built-in rules ---------------------------------------------------------- */

static const struct classify_rule default_types[] = {
    {"feat", CHANGE_FEATURE},
    {"feature", CHANGE_FEATURE},
    {"fix", CHANGE_FIX},
    {"bugfix", CHANGE_FIX},
    {"hotfix", CHANGE_FIX},
    {"revert", CHANGE_FIX},
    {"perf", CHANGE_PERFORMANCE},
    {"security", CHANGE_SECURITY},
    {"sec", CHANGE_SECURITY},
    {"improvement", CHANGE_IMPROVEMENT},
    {"improve", CHANGE_IMPROVEMENT},
    {"enhance", CHANGE_IMPROVEMENT},
    {"ux", CHANGE_IMPROVEMENT},
    {"refactor", CHANGE_INTERNAL},
    {"style", CHANGE_INTERNAL},
    {"test", CHANGE_INTERNAL},
    {"tests", CHANGE_INTERNAL},
    {"docs", CHANGE_INTERNAL},
    {"doc", CHANGE_INTERNAL},
    {"build", CHANGE_INTERNAL},
    {"ci", CHANGE_INTERNAL},
    {"chore", CHANGE_INTERNAL},
    {"deps", CHANGE_INTERNAL},
    {"release", CHANGE_INTERNAL},
};

static const struct classify_rule default_labels[] = {
    {"breaking", CHANGE_BREAKING},
    {"breaking change", CHANGE_BREAKING},
    {"breaking-change", CHANGE_BREAKING},
    {"semver-major", CHANGE_BREAKING},
    {"security", CHANGE_SECURITY},
    {"vulnerability", CHANGE_SECURITY},
    {"feature", CHANGE_FEATURE},
    {"new feature", CHANGE_FEATURE},
    {"enhancement", CHANGE_FEATURE},
    {"kind/feature", CHANGE_FEATURE},
    {"type: feature", CHANGE_FEATURE},
    {"improvement", CHANGE_IMPROVEMENT},
    {"ux", CHANGE_IMPROVEMENT},
    {"bug", CHANGE_FIX},
    {"bugfix", CHANGE_FIX},
    {"fix", CHANGE_FIX},
    {"kind/bug", CHANGE_FIX},
    {"type: bug", CHANGE_FIX},
    {"regression", CHANGE_FIX},
    {"performance", CHANGE_PERFORMANCE},
    {"perf", CHANGE_PERFORMANCE},
    {"internal", CHANGE_INTERNAL},
    {"chore", CHANGE_INTERNAL},
    {"dependencies", CHANGE_INTERNAL},
    {"documentation", CHANGE_INTERNAL},
    {"refactor", CHANGE_INTERNAL},
    {"ci", CHANGE_INTERNAL},
    {"tests", CHANGE_INTERNAL},
    {"skip-changelog", CHANGE_INTERNAL},
    {"no-changelog", CHANGE_INTERNAL},
};

static const struct classify_rule default_titles[] = {
    {"*CVE-*", CHANGE_SECURITY},
    {"*security*", CHANGE_SECURITY},
    {"*vulnerab*", CHANGE_SECURITY},
    {"Bump *", CHANGE_INTERNAL},
    {"Update dependency *", CHANGE_INTERNAL},
    {"Refactor*", CHANGE_INTERNAL},
    {"Revert *", CHANGE_FIX},
    {"Fix*", CHANGE_FIX},
    {"Bugfix*", CHANGE_FIX},
    {"Hotfix*", CHANGE_FIX},
    {"Resolve *", CHANGE_FIX},
    {"Speed up *", CHANGE_PERFORMANCE},
    {"*faster*", CHANGE_PERFORMANCE},
    {"Optimi*", CHANGE_PERFORMANCE},
    {"Add *", CHANGE_FEATURE},
    {"Adds *", CHANGE_FEATURE},
    {"Added *", CHANGE_FEATURE},
    {"Introduce*", CHANGE_FEATURE},
    {"Support *", CHANGE_FEATURE},
    {"New *", CHANGE_FEATURE},
    {"Improve*", CHANGE_IMPROVEMENT},
    {"Enhance*", CHANGE_IMPROVEMENT},
};

static const char *const default_internal_paths[] = {
    "docs/*",
    "doc/*",
    "*.md",
    "test/*",
    "tests/*",
    "spec/*",
    "*/test/*",
    "*/tests/*",
    "*__tests__/*",
    "*_test.go",
    "*.test.*",
    "*.spec.*",
    ".github/*",
    ".gitlab-ci.yml",
    ".gitlab/*",
    ".circleci/*",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    ".editorconfig",
    ".gitignore",
    "LICENSE*",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const struct classify_rules CLASSIFY_DEFAULT_RULES = {
    .types = default_types,
    .n_types = COUNT(default_types),
    .labels = default_labels,
    .n_labels = COUNT(default_labels),
    .titles = default_titles,
    .n_titles = COUNT(default_titles),
    .internal_paths = default_internal_paths,
    .n_internal_paths = COUNT(default_internal_paths),
    .fallback = CHANGE_IMPROVEMENT,
};

/* ---- classification -------------------------------------------------------------- */

void classify_split_message(struct str message, struct str *title, struct str *rest)
{
    long nl = message.ptr ? str_index(message, '\n') : -1;
    if (nl < 0) {
        *title = message;
        *rest = STR_NULL;
        return;
    }
    size_t t = (size_t)nl, r = t + 1;
    *title = str_from(message.ptr, t > 0 && message.ptr[t - 1] == '\r' ? t - 1 : t);
    /* one blank line ("\n" or "\r\n") after the title belongs to neither */
    if (r < message.len && message.ptr[r] == '\n')
        r++;
    else if (r + 1 < message.len && message.ptr[r] == '\r' && message.ptr[r + 1] == '\n')
        r += 2;
    *rest = str_from(message.ptr + r, message.len - r);
}

/* Keeps the strongest candidate in out; its reason is what, then item quoted (none when NULL). */
static void consider(struct classify_result *out, bool *have, enum change_impact impact,
                     enum classify_source source, const char *what, struct str item)
{
    if (*have && impact >= out->impact)
        return;
    *have = true;
    out->impact = impact;
    out->source = source;
    if (!item.ptr) {
        snprintf(out->reason, sizeof out->reason, "%s", what);
        return;
    }
    int shown = item.len > 60 ? 60 : (int)item.len;
    snprintf(out->reason, sizeof out->reason, "%s \"%.*s%s\"", what, shown, item.ptr,
             item.len > 60 ? "…" : "");
}

enum err change_input_check(const struct change_input *in)
{
    if (in->title.len > CC_MAX_MESSAGE || in->description.len > CC_MAX_MESSAGE ||
        in->n_labels > CLASSIFY_MAX_LABELS || in->n_paths > CLASSIFY_MAX_PATHS)
        return ERR_LIMIT;
    for (size_t i = 0; i < in->n_labels; i++)
        if (in->labels[i].len > CLASSIFY_MAX_LABEL)
            return ERR_LIMIT;
    for (size_t i = 0; i < in->n_paths; i++)
        if (in->paths[i].len > CLASSIFY_MAX_PATH)
            return ERR_LIMIT;
    return ERR_OK;
}

static bool all_paths_internal(const struct change_input *in, const struct classify_rules *r)
{
    if (in->n_paths == 0)
        return false;
    for (size_t i = 0; i < in->n_paths; i++) {
        bool internal = false;
        for (size_t k = 0; k < r->n_internal_paths && !internal; k++)
            internal = ingest_glob_match(str_from_cstr(r->internal_paths[k]), in->paths[i]);
        if (!internal)
            return false;
    }
    return true;
}

enum err classify_change(const struct change_input *in, const struct classify_rules *rules,
                         struct classify_result *out)
{
    const struct classify_rules *r = rules ? rules : &CLASSIFY_DEFAULT_RULES;
    enum err e = change_input_check(in);
    if (e)
        return e;
    struct classify_result res;
    memset(&res, 0, sizeof res);
    bool have = false;

    /* 1. explicit: the Conventional Commit, then the labels */
    struct cc_commit cc;
    res.conventional = cc_parse_pr(in->title, in->description, &cc, NULL) == ERR_OK;
    if (res.conventional) {
        if (cc.breaking)
            consider(&res, &have, CHANGE_BREAKING, CLASSIFY_CONVENTIONAL,
                     cc.bang ? "conventional commit marked" : "conventional commit footer",
                     cc.bang ? STR_LIT("!") : STR_LIT("BREAKING CHANGE"));
        struct str type = str_from_cstr(cc.type);
        for (size_t i = 0; i < r->n_types; i++)
            if (str_ieq_cstr(type, r->types[i].match))
                consider(&res, &have, r->types[i].impact, CLASSIFY_CONVENTIONAL,
                         "conventional commit type", type);
    }
    for (size_t l = 0; l < in->n_labels; l++) {
        struct str label = str_trim(in->labels[l]);
        for (size_t i = 0; i < r->n_labels; i++)
            if (str_ieq_cstr(label, r->labels[i].match))
                consider(&res, &have, r->labels[i].impact, CLASSIFY_LABEL, "label", label);
    }

    /* 2. paths, 3. title patterns, 4. the fallback */
    if (!have && all_paths_internal(in, r)) {
        char why[64];
        snprintf(why, sizeof why, "all %zu paths touched are internal", in->n_paths);
        consider(&res, &have, CHANGE_INTERNAL, CLASSIFY_PATHS, why, STR_NULL);
    }
    for (size_t i = 0; !have && i < r->n_titles; i++)
        if (ingest_glob_match(str_from_cstr(r->titles[i].match), in->title))
            consider(&res, &have, r->titles[i].impact, CLASSIFY_TITLE, "title matches",
                     str_from_cstr(r->titles[i].match));
    if (!have)
        consider(&res, &have, r->fallback, CLASSIFY_FALLBACK, "no rule matched; fallback",
                 str_from_cstr(change_impact_name(r->fallback)));
    *out = res;
    return ERR_OK;
}
