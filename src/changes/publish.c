/*
 * publish.c — the publication hooks (publish.h).
 */
#include "changes/publish.h"

enum err changes_published(const struct changes_publisher *p, struct tx *tx, const struct entry *e,
                           int64_t now)
{
    return p && p->in_tx ? p->in_tx(p->arg, tx, e, now) : ERR_OK;
}

void changes_published_after(const struct changes_publisher *p, const struct tenant_ctx *t)
{
    if (p && p->committed)
        p->committed(p->arg, t);
}
