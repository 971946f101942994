/*
 * bh.c — bottom halves: deferred calls that any thread may schedule and the
 * home thread runs.
 *
 * Scheduling is wait-free: set flags with one atomic OR and, if the BH was
 * not already linked, push it on the head of ctx->bh_list with a CAS.  The
 * loop steals the whole list at once into a "slice" on its stack, so a BH
 * that is scheduled while a pass runs lands in ctx->bh_list again and waits
 * for the next pass: a BH that re-schedules itself cannot starve the loop.
 * Within a slice BHs run newest-linked first (LIFO).  Nested aio_bh_poll()
 * calls chain their slices after the callers' and drain them all, oldest
 * slice first.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

static QEMUBH *bh_alloc(AioContext *ctx, QEMUBHFunc *cb, void *opaque,
                        const char *name, GDestroyNotify destroy)
{
    QEMUBH *bh = g_new0(QEMUBH, 1);

    bh->ctx = ctx;
    bh->cb = cb;
    bh->opaque = opaque;
    bh->destroy = destroy;
    bh->name = g_strdup(name ? name : "bh");
    __atomic_fetch_add(&ctx->nr_bhs, 1, __ATOMIC_RELAXED);
    return bh;
}

/* Home thread only: once a BH is freed nothing may reach it. */
static void bh_free(QEMUBH *bh)
{
    AioContext *ctx = bh->ctx;

    if (!(bh->flags & BH_ONESHOT)) {
        pthread_mutex_lock(&ctx->bh_all_lock);
        if (bh->all_prev) {
            bh->all_prev->all_next = bh->all_next;
        } else {
            ctx->all_bhs = bh->all_next;
        }
        if (bh->all_next) {
            bh->all_next->all_prev = bh->all_prev;
        }
        pthread_mutex_unlock(&ctx->bh_all_lock);
    }
    if (bh->destroy) {
        bh->destroy(bh->opaque);
    }
    __atomic_fetch_sub(&ctx->nr_bhs, 1, __ATOMIC_RELAXED);
    g_free(bh->name);
    g_free(bh);
}

/* Any thread. */
static void bh_enqueue(QEMUBH *bh, unsigned new_flags)
{
    AioContext *ctx = bh->ctx;
    unsigned old_flags;

    /* The OR is a full barrier: the flags are visible before the BH is
     * linked, and the link (below) before aio_notify sets ctx->notified. */
    old_flags = __atomic_fetch_or(&bh->flags, BH_PENDING | new_flags,
                                  __ATOMIC_SEQ_CST);
    if (!(old_flags & BH_PENDING)) {
        QEMUBH *head = atomic_read(&ctx->bh_list);

        do {
            bh->next = head;
            /* Release pairs with the acquire exchange in aio_bh_poll()
             * and the acquire loads in bh_list_timeout(): whoever sees
             * the new head sees bh->next. */
        } while (!__atomic_compare_exchange_n(&ctx->bh_list, &head, bh, true,
                                              __ATOMIC_RELEASE,
                                              __ATOMIC_RELAXED));
    }
    /* From a callback of a dispatch phase on the home thread, nobody waits
     * and the home thread reads the BH list again before any wait (each
     * one computes its timeout first; the callbacks that run after that,
     * busy-poll and io_poll_begin/end hooks and GSource prepare, are not a
     * dispatch phase and notify): notifying would only cost a full barrier
     * here and one in aio_notify_accept().  QEMU always notifies; `notified`
     * (ctx.stats) is the only visible difference. */
    if (!(aio__in_home_thread(ctx) && ctx->in_dispatch)) {
        aio_notify(ctx);
    }
}

/* Home thread only.  Unlinks the head of @slice and clears its pending
 * state, returning the flags it had. */
static QEMUBH *bh_dequeue(BHListSlice *slice, unsigned *flags)
{
    QEMUBH *bh = slice->head;

    if (!bh) {
        return NULL;
    }
    slice->head = bh->next;
    /* The AND is a full barrier: bh->next is read before PENDING goes,
     * after which another thread may link the BH again and rewrite it. */
    *flags = __atomic_fetch_and(
        &bh->flags, ~(unsigned)(BH_PENDING | BH_SCHEDULED | BH_IDLE),
        __ATOMIC_SEQ_CST);
    return bh;
}

QEMUBH *aio_bh_new_full(AioContext *ctx, QEMUBHFunc *cb, void *opaque,
                        const char *name, GDestroyNotify destroy)
{
    QEMUBH *bh;

    g_return_val_if_fail(ctx != NULL && cb != NULL, NULL);
    bh = bh_alloc(ctx, cb, opaque, name, destroy);
    pthread_mutex_lock(&ctx->bh_all_lock);
    bh->all_next = ctx->all_bhs;
    if (ctx->all_bhs) {
        ctx->all_bhs->all_prev = bh;
    }
    ctx->all_bhs = bh;
    pthread_mutex_unlock(&ctx->bh_all_lock);
    return bh;
}

QEMUBH *aio_bh_new(AioContext *ctx, QEMUBHFunc *cb, void *opaque)
{
    return aio_bh_new_full(ctx, cb, opaque, NULL, NULL);
}

void aio_bh_schedule_oneshot_full(AioContext *ctx, QEMUBHFunc *cb, void *opaque,
                                  const char *name, GDestroyNotify destroy)
{
    QEMUBH *bh;

    g_return_if_fail(ctx != NULL && cb != NULL);
    bh = bh_alloc(ctx, cb, opaque, name, destroy);
    bh->flags = BH_ONESHOT; /* not yet published: a plain store */
    bh_enqueue(bh, BH_SCHEDULED | BH_ONESHOT);
}

void aio_bh_schedule_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque)
{
    aio_bh_schedule_oneshot_full(ctx, cb, opaque, NULL, NULL);
}

void qemu_bh_schedule(QEMUBH *bh)
{
    bh_enqueue(bh, BH_SCHEDULED);
}

void qemu_bh_schedule_idle(QEMUBH *bh)
{
    bh_enqueue(bh, BH_SCHEDULED | BH_IDLE);
}

void qemu_bh_cancel(QEMUBH *bh)
{
    /* Only clears the bit: the BH stays linked until the loop reaches it,
     * and a loop that already fetched the flags still calls it. */
    __atomic_fetch_and(&bh->flags, ~(unsigned)BH_SCHEDULED, __ATOMIC_SEQ_CST);
}

void qemu_bh_delete(QEMUBH *bh)
{
    bh_enqueue(bh, BH_DELETED);
}

bool qemu_bh_is_scheduled(QEMUBH *bh)
{
    unsigned flags = atomic_load_acquire(&bh->flags);

    return (flags & (BH_SCHEDULED | BH_DELETED)) == BH_SCHEDULED;
}

void aio__bh_poll_begin(AioContext *ctx, BHListSlice *slice)
{
    /* Acquire pairs with the release CAS in bh_enqueue(). */
    slice->head = __atomic_exchange_n(&ctx->bh_list, NULL, __ATOMIC_ACQUIRE);
    slice->next = NULL;
    if (ctx->slices_tail) {
        ctx->slices_tail->next = slice;
    } else {
        ctx->slices_head = slice;
    }
    ctx->slices_tail = slice;
}

bool aio__bh_poll_drain(AioContext *ctx, AioPollPass *pass, bool *progress)
{
    AioPollPass *outer = ctx->running_pass;
    BHListSlice *s;

    /* Only @pass's own callbacks may stop it: a drain nested in a callback
     * (a GSource dispatch, a C aio_poll()) names itself, or NULL. */
    ctx->running_pass = pass;

    /* Drain every active slice, oldest first: a nested call also finishes
     * the passes of the calls that enclose it. */
    while ((s = ctx->slices_head)) {
        unsigned flags;
        QEMUBH *bh = bh_dequeue(s, &flags);

        if (!bh) {
            ctx->slices_head = s->next;
            if (!ctx->slices_head) {
                ctx->slices_tail = NULL;
            }
            continue;
        }
        if ((flags & (BH_SCHEDULED | BH_DELETED)) == BH_SCHEDULED) {
            if (!(flags & BH_IDLE)) {
                *progress = true;
            }
            ctx->counters.bh_dispatches++;
            aio__observed_call(ctx, AIO_EVENT_BH, bh->name, 0, bh->cb,
                               bh->opaque);
        }
        if (flags & (BH_DELETED | BH_ONESHOT)) {
            bh_free(bh);
        }
        if (pass && pass->yielded) {
            /* The callback handed its work to the pass's caller
             * (aio__poll_yield): stop here, slices linked, and go on
             * when the caller runs the pass again. */
            ctx->running_pass = outer;
            return false;
        }
    }
    ctx->running_pass = outer;
    return true;
}

bool aio_bh_poll(AioContext *ctx)
{
    BHListSlice slice;
    bool progress = false;

    aio__bh_poll_begin(ctx, &slice);
    aio__bh_poll_drain(ctx, NULL, &progress);
    return progress;
}

/* Home thread: flags of BHs in the lists may change under us (schedule,
 * cancel), which only makes the answer as racy as the event itself. */
static int64_t bh_list_timeout(QEMUBH *bh, int64_t timeout)
{
    for (; bh; bh = atomic_load_acquire(&bh->next)) {
        unsigned flags = atomic_read(&bh->flags);

        if ((flags & (BH_SCHEDULED | BH_DELETED)) == BH_SCHEDULED) {
            if (!(flags & BH_IDLE)) {
                return 0;
            }
            timeout = IDLE_BH_TIMEOUT_NS;
        }
    }
    return timeout;
}

int64_t aio__bh_timeout(AioContext *ctx)
{
    int64_t timeout = bh_list_timeout(atomic_load_acquire(&ctx->bh_list), -1);
    BHListSlice *s;

    for (s = ctx->slices_head; s && timeout != 0; s = s->next) {
        timeout = bh_list_timeout(s->head, timeout);
    }
    return timeout;
}

static bool bh_list_pending(QEMUBH *bh)
{
    for (; bh; bh = atomic_load_acquire(&bh->next)) {
        unsigned flags = atomic_read(&bh->flags);

        if ((flags & (BH_SCHEDULED | BH_DELETED)) == BH_SCHEDULED) {
            return true;
        }
    }
    return false;
}

bool aio__bh_pending(AioContext *ctx)
{
    BHListSlice *s;

    if (bh_list_pending(atomic_load_acquire(&ctx->bh_list))) {
        return true;
    }
    for (s = ctx->slices_head; s; s = s->next) {
        if (bh_list_pending(s->head)) {
            return true;
        }
    }
    return false;
}

void aio__bh_finalize(AioContext *ctx)
{
    BHListSlice slice;
    QEMUBH *bh;
    unsigned flags;

    /* An aio_bh_poll() is on the stack: finalizing now would free its
     * slice's BHs under it.  aio_poll() holds a reference, so this only
     * happens if a callback dropped references it did not own. */
    g_assert(ctx->slices_head == NULL);

    /* Linked BHs: deleted ones and oneshots that never ran go quietly;
     * the others stay on all_bhs and are reported below. */
    slice.head = __atomic_exchange_n(&ctx->bh_list, NULL, __ATOMIC_ACQUIRE);
    while ((bh = bh_dequeue(&slice, &flags))) {
        if (flags & (BH_DELETED | BH_ONESHOT)) {
            bh_free(bh);
        }
    }
    /* Never deleted: a leak in the caller.  QEMU aborts; we report it by
     * name and free it, so a JS user gets a warning, not a crash. */
    while ((bh = ctx->all_bhs)) {
        if (ctx->leak_fn) {
            ctx->leak_fn(bh->name, ctx->leak_opaque);
        } else {
            g_warning("aiocontext: BH '%s' leaked (never deleted) in '%s'",
                      bh->name, ctx->name);
        }
        bh_free(bh);
    }
}
