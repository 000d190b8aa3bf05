/*
 * Fixture bodies for the normalizer tests: the webhook samples under
 * $SHIPLOG_FIXTURES (default: SHIPLOG_FIXTURES_DEFAULT, set by meson to the
 * checkout's ../shared/fixtures/webhooks), read and parsed at run time.
 */
#ifndef SHIPLOG_TESTS_INGEST_FIXTURES_H
#define SHIPLOG_TESTS_INGEST_FIXTURES_H

#include <stddef.h>

#include "core/json.h"

/* The directory of one provider's fixtures ("bitbucket", "azuredevops", ...),
 * NUL-terminated in a static buffer. */
const char *fixture_dir(const char *provider);

/* Parses <dir>/<provider>/<file>; fails the test when it cannot. Free with
 * json_free(). */
struct json *fixture_load(const char *provider, const char *file);

/* Parses text with limits large enough for the tests' generated bodies. */
struct json *fixture_parse(const char *text, size_t len);

/* Fails the test when <dir>/<provider> holds a .json file not in names[]. */
void fixture_check_listed(const char *provider, const char *const *names, size_t n);

#endif
