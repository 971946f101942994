/*
 * coroutine.h — QEMU's coroutines on an AioContext: create, enter, yield;
 * scheduling through a context (aio_co_*); CoMutex, CoQueue and
 * qemu_co_sleep_ns().
 *
 * A coroutine is a function with its own stack that can stop in the middle
 * (qemu_coroutine_yield()) and be resumed later, possibly by another thread
 * (a coroutine belongs to no thread: it runs wherever it is entered).  The
 * one that enters it is its caller; yielding returns to the caller.
 *
 * Entering is chained, not nested: a coroutine that enters another through
 * aio_co_enter()/aio_co_wake() queues it, and the queued one runs when the
 * current one yields or ends, from the same loop in the outermost
 * qemu_coroutine_enter().  So coroutines that wake each other any number of
 * times use no more stack.
 *
 * Where we differ from QEMU, and why:
 * - qemu_coroutine_create() is a macro that records the entry function's
 *   name, so a misuse abort (a second aio_co_schedule()) names it; QEMU
 *   names the function that scheduled it first.
 * - The back end switches with swapcontext() every time (QEMU uses
 *   sigsetjmp/siglongjmp after the first switch): one extra
 *   rt_sigprocmask per switch, and nothing for ASan to second-guess.
 * - CoQueue waits take an optional CoMutex, not a QemuLockable.
 * - "The current context" (qemu_get_current_aio_context()) is the context
 *   whose aio_poll() or GSource dispatch is running on this thread, else
 *   NULL.  QEMU falls back to the main loop's context; we have no main loop.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_COROUTINE_H
#define AIOCONTEXT_COROUTINE_H

#include "aio.h"

#include <pthread.h>

G_BEGIN_DECLS

/* Marks functions that may only run in coroutine context (documentation). */
#define coroutine_fn

typedef struct Coroutine Coroutine;
typedef void coroutine_fn CoroutineEntry(void *opaque);

/* ------------------------------------------------------------------------ */
/* Coroutines                                                                */
/* ------------------------------------------------------------------------ */

/**
 * qemu_coroutine_create:
 * @entry: the function the coroutine runs
 * @opaque: passed to @entry
 *
 * Creates a coroutine that has not started; the first enter calls @entry.
 * The coroutine frees itself when @entry returns.  Stacks (1 MiB, with a
 * guard page below) come from a process-wide pool.  Any thread.
 *
 * A macro: the coroutine's name is @entry's name as written (see
 * qemu_coroutine_create_named()).
 *
 * Returns: (transfer full): the coroutine.
 */
#define qemu_coroutine_create(entry, opaque) \
    qemu_coroutine_create_named((entry), (opaque), #entry)

/**
 * qemu_coroutine_create_named:
 * @name: (nullable): a static string naming the coroutine in aborts;
 *        NULL means "coroutine"
 *
 * qemu_coroutine_create() with an explicit name.  Any thread.
 */
Coroutine *qemu_coroutine_create_named(CoroutineEntry *entry, void *opaque,
                                       const char *name);

/** qemu_coroutine_name: Returns: the name given at creation. */
const char *qemu_coroutine_name(Coroutine *co);

/**
 * qemu_coroutine_enter:
 * @co: a coroutine that is not running (just created, or yielded)
 *
 * Runs @co until it yields or ends, in the calling thread, with the
 * current context (qemu_get_current_aio_context(), if any) as its context.
 * Coroutines that @co wakes meanwhile run before this returns.  Entering a
 * coroutine that is already running aborts.  Any thread; from inside a
 * coroutine this nests (prefer aio_co_enter(), which chains).
 */
void qemu_coroutine_enter(Coroutine *co);

/**
 * qemu_aio_coroutine_enter:
 * @ctx: (nullable): the context @co runs in from now on
 *
 * qemu_coroutine_enter() with an explicit context.  Any thread.
 */
void qemu_aio_coroutine_enter(AioContext *ctx, Coroutine *co);

/**
 * qemu_coroutine_enter_if_inactive:
 * Enters @co unless it is running already.  Any thread.
 */
void qemu_coroutine_enter_if_inactive(Coroutine *co);

/**
 * qemu_coroutine_yield:
 *
 * Returns to the caller of the running coroutine; a later enter resumes
 * here.  Coroutine only.
 */
void coroutine_fn qemu_coroutine_yield(void);

/**
 * qemu_coroutine_self:
 * Returns: the running coroutine; outside coroutines, the thread's own
 * "leader" coroutine (its original stack).  Any thread.
 */
Coroutine *qemu_coroutine_self(void);

/** qemu_in_coroutine: Returns: whether the caller runs in a coroutine. */
bool qemu_in_coroutine(void);

/**
 * qemu_coroutine_entered:
 * Returns: whether @co is running, or has entered another coroutine that
 * has not yet yielded back (it has a caller).  Any thread (a snapshot).
 */
bool qemu_coroutine_entered(Coroutine *co);

/**
 * qemu_coroutine_get_aio_context:
 * Returns: (nullable): the context @co last ran in.  Any thread.
 */
AioContext *qemu_coroutine_get_aio_context(Coroutine *co);

/**
 * qemu_get_current_aio_context:
 * Returns: (nullable): the context whose aio_poll() or GSource dispatch
 * runs on this thread now (the innermost one), else NULL.
 */
AioContext *qemu_get_current_aio_context(void);

/**
 * qemu_coroutine_pool_size:
 * Returns: how many finished coroutines (with their stacks) wait in the
 * pool for reuse.  Any thread; for tests.
 */
unsigned qemu_coroutine_pool_size(void);

/* ------------------------------------------------------------------------ */
/* Scheduling through a context                                              */
/* ------------------------------------------------------------------------ */

/**
 * aio_co_schedule:
 * @ctx: the context that will enter @co
 * @co: a coroutine that has yielded (or is about to, on this thread)
 *
 * Makes @ctx enter @co from its next BH pass (the context's co_schedule
 * BH; coroutines scheduled together run in scheduling order).  A
 * coroutine may be scheduled once at a time: scheduling it again before
 * @ctx entered it aborts with a message naming it.  Takes a reference on
 * @ctx until @co was entered.  Any thread.
 */
void aio_co_schedule(AioContext *ctx, Coroutine *co);

/**
 * aio_co_enter:
 * @ctx: the context @co is to run in
 * @co: a coroutine that is not running
 *
 * From @ctx's home thread: enters @co now, or, when the caller is itself a
 * coroutine, as soon as the caller yields (chained, not nested).  From any
 * other thread: aio_co_schedule().  Any thread.
 */
void aio_co_enter(AioContext *ctx, Coroutine *co);

/**
 * aio_co_wake:
 * @co: a coroutine that has yielded
 *
 * aio_co_enter() with the context @co last ran in (entered directly if it
 * never ran in one).  Any thread.
 */
void aio_co_wake(Coroutine *co);

/**
 * aio_co_reschedule_self:
 * @new_ctx: the context to continue in
 *
 * Moves the running coroutine to @new_ctx (possibly another thread's):
 * when this returns, it runs from @new_ctx's loop.  The move is scheduled
 * from a BH of the old context, after the coroutine yielded, so the new
 * thread cannot enter it while it still runs here.  A no-op when @new_ctx
 * is the current one.  Coroutine only.
 */
void coroutine_fn aio_co_reschedule_self(AioContext *new_ctx);

/* ------------------------------------------------------------------------ */
/* CoQueue and CoMutex                                                       */
/* ------------------------------------------------------------------------ */

/**
 * CoMutex:
 *
 * A mutex for coroutines: a coroutine that finds it locked yields until
 * it is its turn.  Fair: waiters get it in arrival order, and unlock hands
 * it straight to the first waiter (who is woken in its own context, so it
 * may move between threads).  Coroutines of any thread may share one.
 * A short pthread mutex guards the waiter list (QEMU's is lock-free); it
 * is never held across a yield.  Initialise with qemu_co_mutex_init().
 */
typedef struct CoMutex {
    pthread_mutex_t lock;
    bool locked;
    Coroutine *holder;
    Coroutine *head, *tail; /* waiters, FIFO */
    unsigned waiters;
} CoMutex;

/** qemu_co_mutex_init: Any thread, before first use. */
void qemu_co_mutex_init(CoMutex *mutex);

/** qemu_co_mutex_destroy: frees nothing but the pthread mutex; unlocked. */
void qemu_co_mutex_destroy(CoMutex *mutex);

/** qemu_co_mutex_lock: takes @mutex, yielding while another holds it.
 * Coroutine only. */
void coroutine_fn qemu_co_mutex_lock(CoMutex *mutex);

/** qemu_co_mutex_unlock: releases @mutex, handing it to the first waiter.
 * Coroutine only; the caller must hold it (else aborts). */
void coroutine_fn qemu_co_mutex_unlock(CoMutex *mutex);

/** qemu_co_mutex_assert_locked: aborts unless the caller holds @mutex. */
void coroutine_fn qemu_co_mutex_assert_locked(CoMutex *mutex);

/**
 * CoQueue:
 *
 * A FIFO of coroutines waiting for a condition.  Not thread-safe by
 * itself: guard it with the CoMutex given to qemu_co_queue_wait() (or use
 * it from one thread).  Initialise with qemu_co_queue_init().
 */
typedef struct CoQueue {
    Coroutine *head, *tail;
} CoQueue;

/** qemu_co_queue_init: Any thread, before first use. */
void qemu_co_queue_init(CoQueue *queue);

/**
 * qemu_co_queue_wait:
 * @lock: (nullable): a CoMutex the caller holds; released while waiting
 *        and taken again before this returns
 *
 * Waits at the tail of @queue until qemu_co_queue_next() or
 * qemu_co_queue_restart_all() wakes it.  Coroutine only.
 */
void coroutine_fn qemu_co_queue_wait(CoQueue *queue, CoMutex *lock);

/**
 * qemu_co_queue_next:
 * Wakes the first waiter (aio_co_wake()).  Any thread, under the queue's
 * lock.  Returns: whether there was one.
 */
bool qemu_co_queue_next(CoQueue *queue);

/** qemu_co_queue_restart_all: wakes every waiter, in order.  As
 * qemu_co_queue_next(). */
void qemu_co_queue_restart_all(CoQueue *queue);

/** qemu_co_queue_empty: Returns: whether nobody waits. */
bool qemu_co_queue_empty(CoQueue *queue);

/* ------------------------------------------------------------------------ */
/* Sleeping                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * qemu_co_sleep_ns:
 * @type: the clock
 * @ns: how long, in ns of @type
 *
 * Yields until a timer of the running coroutine's context (which must be
 * set: the coroutine was entered from a context) on @type expires @ns
 * from now.  Coroutine only.
 */
void coroutine_fn qemu_co_sleep_ns(QEMUClockType type, int64_t ns);

G_END_DECLS

#endif /* AIOCONTEXT_COROUTINE_H */
