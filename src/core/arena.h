/*
 * arena — per-request memory with a hard size cap and deferred cleanups.
 *
 * Everything a request allocates comes from its arena and dies with it, so a
 * handler never frees. Allocation beyond the cap returns NULL: the caller turns
 * that into ERR_LIMIT (a request that needs more memory than allowed is refused,
 * not served). Non-memory resources (statements, transactions, files) register
 * a cleanup with arena_defer(); cleanups run in reverse order on arena_free()
 * and arena_reset().
 *
 * Not thread-safe: an arena belongs to one request on one thread at a time.
 */
#ifndef SHIPLOG_CORE_ARENA_H
#define SHIPLOG_CORE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#include "core/err.h"

#define ARENA_DEFAULT_CAP ((size_t)64 * 1024 * 1024)

struct arena;

/* New arena that will hand out at most cap bytes in total. Aborts on OOM. */
struct arena *arena_new(size_t cap);

/* Runs the cleanups (last registered first), then frees everything. NULL is fine. */
void arena_free(struct arena *a);

/* Runs the cleanups and forgets all allocations, keeping the first block for reuse. */
void arena_reset(struct arena *a);

/* n bytes aligned for any type; NULL when the cap would be exceeded. */
void *arena_alloc(struct arena *a, size_t n);

/* As arena_alloc, zero-filled; count * size is overflow-checked. */
void *arena_calloc(struct arena *a, size_t count, size_t size);

/* NUL-terminated copy of s[0..len); NULL when over the cap. */
char *arena_strndup(struct arena *a, const char *s, size_t len);

/* printf into the arena; NULL when over the cap. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Registers fn(arg) to run when the arena is reset or freed. */
MUST_CHECK enum err arena_defer(struct arena *a, void (*fn)(void *), void *arg);

/* Bytes handed out so far (the figure the cap applies to). */
size_t arena_used(const struct arena *a);

#endif
