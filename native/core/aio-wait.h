/*
 * aio-wait.h — AIO_WAIT_WHILE(): wait for a condition that an AioContext's
 * callbacks (or another thread) will make false, and aio_wait_kick().
 *
 * From the context's home thread the wait runs the context (aio_poll,
 * blocking) until the condition is false.  From any other thread it sleeps
 * until aio_wait_kick() is called, then evaluates the condition again: so
 * whoever makes the condition false from another thread must call
 * aio_wait_kick() afterwards, as in QEMU.  aio_wait_kick() also notifies
 * every context a home thread is waiting on, so that its aio_poll()
 * returns and re-evaluates the condition.
 *
 * Where we differ from QEMU: a foreign thread waits on a condition
 * variable instead of polling the main loop's context (we have no main
 * loop), and the context lock is not released around the wait
 * (aio_context_acquire() protects nothing here).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_AIO_WAIT_H
#define AIOCONTEXT_AIO_WAIT_H

#include "aio.h"

G_BEGIN_DECLS

/**
 * AioWait:
 * @num_waiters: threads inside AIO_WAIT_WHILE() now (atomic)
 *
 * The one global wait point, global_aio_wait.
 */
typedef struct AioWait {
    unsigned num_waiters;
} AioWait;

extern AioWait global_aio_wait;

/**
 * aio_wait_kick:
 *
 * Wakes every AIO_WAIT_WHILE() so that it evaluates its condition again.
 * Cheap when nobody waits.  Call it after changing what a waiter's
 * condition reads.  Any thread.
 */
void aio_wait_kick(void);

/* The macro's parts; not for direct use.  Any thread. */
void aio_wait_begin(AioContext *ctx);
void aio_wait_end(AioContext *ctx);
unsigned aio_wait_generation(void);
void aio_wait_for_kick(unsigned generation);

/**
 * AIO_WAIT_WHILE:
 * @ctx: the context whose callbacks make @cond false
 * @cond: an expression, evaluated again after each poll or kick
 *
 * Waits while @cond is true (see the top of this file).  From @ctx's home
 * thread with nothing armed in @ctx and @cond true, it waits forever, as
 * QEMU does.  Not from a coroutine.  A GNU statement expression.
 *
 * Returns: whether it waited at all.
 */
#define AIO_WAIT_WHILE(ctx, cond) \
    ({ \
        bool waited_ = false; \
        AioContext *ctx_ = (ctx); \
        aio_wait_begin(ctx_); \
        if (aio_context_in_home_thread(ctx_)) { \
            while ((cond)) { \
                aio_poll(ctx_, true); \
                waited_ = true; \
            } \
        } else { \
            for (;;) { \
                unsigned gen_ = aio_wait_generation(); \
                if (!(cond)) { \
                    break; \
                } \
                aio_wait_for_kick(gen_); \
                waited_ = true; \
            } \
        } \
        aio_wait_end(ctx_); \
        waited_; \
    })

G_END_DECLS

#endif /* AIOCONTEXT_AIO_WAIT_H */
