/*
 * classify_bench — how many changes one thread classifies per second (D1).
 *
 *   classify_bench [CHANGES]
 *
 * CHANGES defaults to 1,000,000. The inputs are a fixed mix built once, in
 * the shapes merged pull requests take: Conventional Commit titles with a
 * description and footers, plain titles with labels, dependency bumps, and
 * documentation-only changes; each with 1 to 24 paths. Every change goes
 * through classify_change with the built-in rules; prints changes/s and
 * microseconds per change in CPU time, and how the impacts came out (so a
 * change of rules that makes the mix cheaper by deciding less shows).
 * Then the same changes classified and drafted by the rules provider
 * (draft_from_rules): issue 7's target is 50,000 changes/s for the two on
 * one thread. Figures only: never a pass/fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "changes/classify.h"
#include "changes/draft.h"

#define MIX 64 /* distinct inputs, cycled */

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const titles[] = {
    "feat(export): CSV for every table",   "fix(api): return 404 for another tenant's draft",
    "Bump lodash from 4.17.20 to 4.17.21", "Improve the error shown when a webhook secret is wrong",
    "docs: explain retention settings",    "perf(db)!: one query per report instead of one per row",
    "Make the importer retry on 503",      "Add dark mode to the console",
};

static const char *const descriptions[] = {
    "Adds the export button to every table view.\n\nRefs #812\nReviewed-by: Dana",
    "The handler looked the draft up before the tenant check.\n\nFixes #1290",
    "Bumps lodash from 4.17.20 to 4.17.21.\n\nSigned-off-by: dependabot[bot]",
    "",
    "",
    "Reports load in one round trip.\n\nBREAKING CHANGE: the report endpoint pages results now",
    "A 503 from the provider was treated as permanent.",
    "Follows the system setting by default.",
};

static const char *const label_sets[][3] = {
    {"enhancement", NULL, NULL},
    {"bug", "api", NULL},
    {"dependencies", "javascript", NULL},
    {"ux", NULL, NULL},
    {NULL, NULL, NULL},
    {"performance", "database", NULL},
    {"triage", NULL, NULL},
    {"design", "console", "good first issue"},
};

static const char *const path_pool[] = {
    "src/api/drafts.c",         "src/api/drafts.h",   "src/console/review.c", "tests/api/test_x.c",
    "docs/RETENTION.md",        "README.md",          "package.json",         "package-lock.json",
    "src/report/query.c",       "src/report/query.h", "web/theme.css",        "web/widget.js",
    ".github/workflows/ci.yml", "src/ingest/retry.c", "CHANGELOG.md",         "src/core/json.c",
};

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    if (n <= 0) {
        fprintf(stderr, "usage: classify_bench [CHANGES]\n");
        return 2;
    }
    static struct change_input in[MIX];
    static struct str labels[MIX][3], paths[MIX][24];
    for (int i = 0; i < MIX; i++) {
        int k = i % 8;
        in[i].title = str_from_cstr(titles[k]);
        in[i].description = str_from_cstr(descriptions[(i / 8) % 2 ? k : (k + 3) % 8]);
        size_t nl = 0;
        while (nl < 3 && label_sets[(i + i / 8) % 8][nl]) {
            labels[i][nl] = str_from_cstr(label_sets[(i + i / 8) % 8][nl]);
            nl++;
        }
        in[i].labels = labels[i];
        in[i].n_labels = nl;
        size_t np = 1 + (size_t)(i * 7) % 24;
        for (size_t p = 0; p < np; p++)
            paths[i][p] = str_from_cstr(path_pool[k == 4 ? (p % 2 ? 4 : 5) : (i + p * 3) % 16]);
        in[i].paths = paths[i];
        in[i].n_paths = np;
    }

    long counts[CHANGE_IMPACT_COUNT_] = {0};
    struct classify_result r;
    double t0 = cpu_s();
    for (long i = 0; i < n; i++) {
        if (classify_change(&in[i % MIX], NULL, &r) != ERR_OK) {
            fprintf(stderr, "classify_bench: refused input %ld\n", i % MIX);
            return 1;
        }
        counts[r.impact]++;
    }
    double dt = cpu_s() - t0;
    printf("classify_change: %ld changes in %.3f s cpu: %.0f changes/s, %.2f us per change\n", n,
           dt, (double)n / dt, dt * 1e6 / (double)n);

    struct change_draft d;
    size_t title_bytes = 0;
    t0 = cpu_s();
    for (long i = 0; i < n; i++) {
        const struct change_input *c = &in[i % MIX];
        if (classify_change(c, NULL, &r) != ERR_OK || draft_from_rules(c, &r, &d) != ERR_OK) {
            fprintf(stderr, "classify_bench: refused input %ld\n", i % MIX);
            return 1;
        }
        title_bytes += strlen(d.title);
    }
    dt = cpu_s() - t0;
    printf("classify_change + draft_from_rules: %.0f changes/s, %.2f us per change"
           " (issue 7 target: >= 50000/s; %.0f title bytes on average)\n",
           (double)n / dt, dt * 1e6 / (double)n, (double)title_bytes / (double)n);
    printf("impacts:");
    for (int i = 0; i < CHANGE_IMPACT_COUNT_; i++)
        printf(" %s %.0f%%", change_impact_name((enum change_impact)i),
               100.0 * (double)counts[i] / (double)n);
    printf("\n");
    return 0;
}
