/*
 * aio-co.c — coroutines scheduled through an AioContext: aio_co_schedule,
 * aio_co_enter, aio_co_wake, aio_co_reschedule_self.
 *
 * Any thread may hand a coroutine to a context: it is pushed on the
 * context's lock-free list and the context's co_schedule BH is scheduled;
 * the BH, in the home thread, takes the whole list and enters the
 * coroutines in the order they were scheduled.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

/* The co_schedule BH.  Home thread. */
static void co_schedule_bh_cb(void *opaque)
{
    AioContext *ctx = opaque;
    Coroutine *list, *straight = NULL;

    /* Acquire pairs with the release CAS in aio_co_schedule(): the
     * coroutines' links and state are visible. */
    list = __atomic_exchange_n(&ctx->scheduled_coroutines, NULL,
                               __ATOMIC_ACQUIRE);
    while (list) { /* LIFO to scheduling order */
        Coroutine *next = list->co_scheduled_next;

        list->co_scheduled_next = straight;
        straight = list;
        list = next;
    }
    while (straight) {
        Coroutine *co = straight;

        straight = co->co_scheduled_next;
        co->co_scheduled_next = NULL;
        /* It may be scheduled again as soon as it runs.  Pairs with the
         * CAS in aio_co_schedule(). */
        __atomic_store_n(&co->scheduled, NULL, __ATOMIC_SEQ_CST);
        qemu_aio_coroutine_enter(ctx, co);
        aio_context_unref(ctx); /* taken by aio_co_schedule() */
    }
}

/* The context's co_schedule BH, made on first use.  Any thread. */
static QEMUBH *co_schedule_bh(AioContext *ctx)
{
    QEMUBH *bh = atomic_load_acquire(&ctx->co_schedule_bh);
    QEMUBH *expected = NULL;

    if (bh) {
        return bh;
    }
    bh = aio_bh_new_full(ctx, co_schedule_bh_cb, ctx, "co_schedule_bh", NULL);
    /* Release publishes the BH; pairs with the acquire load above. */
    if (__atomic_compare_exchange_n(&ctx->co_schedule_bh, &expected, bh, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return bh;
    }
    qemu_bh_delete(bh); /* another thread won */
    return expected;
}

void aio_co_schedule(AioContext *ctx, Coroutine *co)
{
    const char *expected = NULL;
    Coroutine *head;

    if (!__atomic_compare_exchange_n(&co->scheduled, &expected,
                                     "aio_co_schedule", false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST)) {
        fprintf(stderr,
                "aiocontext: %s: coroutine '%s' was already "
                "scheduled (by %s) and has not run yet\n",
                __func__, co->name, expected);
        abort();
    }
    /* Until @co was entered; the BH drops it. */
    aio_context_ref(ctx);
    /* Once pushed, @co may run, end, and its owner drop the last reference
     * before this call is done with @ctx: finalization waits for this
     * count.  Ordered before the push by its release CAS; the decrement
     * pairs with the acquire load in aio__co_finalize(). */
    __atomic_fetch_add(&ctx->co_schedulers, 1, __ATOMIC_RELAXED);
    head = atomic_read(&ctx->scheduled_coroutines);
    do {
        co->co_scheduled_next = head;
        /* Release: the link (and the caller's writes) before the push.
         * Pairs with the exchange in co_schedule_bh_cb(). */
    } while (!__atomic_compare_exchange_n(&ctx->scheduled_coroutines, &head, co,
                                          true, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
    qemu_bh_schedule(co_schedule_bh(ctx));
    __atomic_fetch_sub(&ctx->co_schedulers, 1, __ATOMIC_RELEASE);
}

void aio__co_finalize(AioContext *ctx)
{
    /* A scheduler is a few instructions and one eventfd write from done. */
    while (__atomic_load_n(&ctx->co_schedulers, __ATOMIC_ACQUIRE)) {
        sched_yield();
    }
    /* No coroutine is scheduled: each holds a reference. */
    if (ctx->co_schedule_bh) {
        qemu_bh_delete(ctx->co_schedule_bh);
    }
}

/* Enters @co on this thread: queued behind the running coroutine if there
 * is one (chained), else at once. */
static void enter_here(AioContext *ctx, Coroutine *co)
{
    if (qemu_in_coroutine()) {
        Coroutine *self = qemu_coroutine_self();

        g_assert(self != co);
        aio__co_fifo_push(&self->wakeup_head, &self->wakeup_tail, co);
    } else {
        qemu_aio_coroutine_enter(ctx, co);
    }
}

void aio_co_enter(AioContext *ctx, Coroutine *co)
{
    if (!aio_context_in_home_thread(ctx)) {
        aio_co_schedule(ctx, co);
        return;
    }
    enter_here(ctx, co);
}

void aio_co_wake(Coroutine *co)
{
    /* Pairs with the release store in qemu_aio_coroutine_enter(). */
    AioContext *ctx = atomic_load_acquire(&co->ctx);

    if (ctx) {
        aio_co_enter(ctx, co);
    } else {
        enter_here(NULL, co);
    }
}

typedef struct Reschedule {
    Coroutine *co;
    AioContext *new_ctx;
} Reschedule;

static void reschedule_bh(void *opaque)
{
    Reschedule *r = opaque;

    aio_co_schedule(r->new_ctx, r->co);
}

void coroutine_fn aio_co_reschedule_self(AioContext *new_ctx)
{
    Coroutine *self = qemu_coroutine_self();
    AioContext *old_ctx = qemu_coroutine_get_aio_context(self);
    Reschedule r = {self, new_ctx};

    if (!qemu_in_coroutine() || !old_ctx) {
        fprintf(stderr, "aiocontext: aio_co_reschedule_self() needs a "
                        "coroutine entered from a context\n");
        abort();
    }
    if (old_ctx == new_ctx) {
        return;
    }
    /* Scheduled from the old context once this coroutine has yielded: a
     * direct aio_co_schedule() could let the new thread enter it while it
     * still runs here.  @r lives on this stack, which stays put until the
     * coroutine is entered again. */
    aio_bh_schedule_oneshot_full(old_ctx, reschedule_bh, &r,
                                 "aio_co_reschedule_self", NULL);
    qemu_coroutine_yield();
}
