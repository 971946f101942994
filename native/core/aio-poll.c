/*
 * aio-poll.c — aio_poll(): one iteration of the loop when the context is
 * driven directly, with QEMU's adaptive busy polling.
 *
 * Phases: busy-poll the handlers that have io_poll (if polling is on and
 * the wait may last); announce the wait in notify_me; wait for fds through
 * the fd monitor; accept notifications; run BHs, then ready fd handlers,
 * then expired timers.
 *
 * SPDX-License-Identifier: MIT
 */
#include "fdmon.h"

#include <sched.h>

/* Calls io_poll_begin/io_poll_end when busy polling starts or stops.  On
 * stop, polls every handler once more: an event that raced with
 * io_poll_end() would otherwise be missed until the fd fires.  Returns:
 * whether that last poll found work.  Home thread only. */
static bool poll_set_started(AioContext *ctx, AioHandler **ready, bool started)
{
    bool progress = false;

    if (started == ctx->poll_started) {
        return false;
    }
    ctx->poll_started = started;

    aio__lockcnt_inc(&ctx->list_lock);
    for (AioHandler *node = ctx->poll_handlers, *next; node; node = next) {
        next = node->poll_next;
        if (atomic_read(&node->deleted)) {
            continue;
        }
        if (started && node->io_poll_begin) {
            node->io_poll_begin(node->opaque);
        } else if (!started && node->io_poll_end) {
            node->io_poll_end(node->opaque);
        }
        if (!started && node->io_poll(node->opaque)) {
            aio__add_ready_handler(ready, node, 0);
            node->poll_ready = true;
            progress = true;
        }
    }
    aio__lockcnt_dec(&ctx->list_lock);
    return progress;
}

void aio__prepare(AioContext *ctx)
{
    AioHandler *ready = NULL;

    /* GLib's poll cannot be replaced by busy polling: stop it.  What the
     * final poll finds is dropped here; the fds stay readable and GLib's
     * poll sees them (level-triggered). */
    poll_set_started(ctx, &ready, false);
    while (aio__pop_ready_handler(&ready)) {
    }
}

static bool run_poll_handlers_once(AioContext *ctx, AioHandler **ready,
                                   int64_t now, int64_t *timeout)
{
    bool progress = false;

    for (AioHandler *node = ctx->poll_handlers, *next; node; node = next) {
        next = node->poll_next;
        if (atomic_read(&node->deleted) || !aio__node_check(ctx, node)) {
            continue;
        }
        if (node->io_poll(node->opaque)) {
            aio__add_ready_handler(ready, node, 0);
            node->poll_ready = true;
            node->poll_idle_timeout = now + ctx->poll_idle_interval_ns;
            /* Found work: do not block after polling. */
            *timeout = 0;
            if (!node->is_notifier) {
                progress = true;
            }
        }
    }
    return progress;
}

/* Takes handlers that found nothing for poll_idle_interval_ns off the poll
 * list, so that many idle handlers do not slow polling of the busy ones.
 * Only for back ends that see fd readiness while polling (io_uring): with
 * poll/epoll, an fd whose handler left polling could starve.  Returns:
 * whether the last poll of a leaving handler found work. */
static bool remove_idle_poll_handlers(AioContext *ctx, AioHandler **ready,
                                      int64_t now)
{
    bool progress = false;

    if (!ctx->fdmon_ops->supports_polling) {
        return false;
    }
    for (AioHandler *node = ctx->poll_handlers, *next; node; node = next) {
        next = node->poll_next;
        if (atomic_read(&node->deleted)) {
            continue; /* retired: no callback may run any more */
        }
        if (node->poll_idle_timeout == 0) {
            node->poll_idle_timeout = now + ctx->poll_idle_interval_ns;
        } else if (now >= node->poll_idle_timeout) {
            node->poll_idle_timeout = 0;
            aio__poll_list_remove(node);
            if (ctx->fdmon_ops->poll_leave) {
                ctx->fdmon_ops->poll_leave(ctx, node);
            }
            if (ctx->poll_started && node->io_poll_end) {
                node->io_poll_end(node->opaque);
                /* An event may have raced with io_poll_end(). */
                if (node->io_poll(node->opaque)) {
                    aio__add_ready_handler(ready, node, 0);
                    node->poll_ready = true;
                    progress = true;
                }
            }
        }
    }
    return progress;
}

/* Busy-polls for up to @max_ns, or until a poll hit sets *timeout to 0.
 * Reduces a finite *timeout by the time spent, so the deadline holds. */
static bool run_poll_handlers(AioContext *ctx, AioHandler **ready,
                              int64_t max_ns, int64_t *timeout)
{
    int64_t start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    int64_t elapsed;
    bool progress = false;

    do {
        int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

        progress |= run_poll_handlers_once(ctx, ready, now, timeout);
        elapsed = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start;
        max_ns = aio__soonest(*timeout, max_ns);
        if (*timeout != 0) {
            /* Not in QEMU, which assumes the poller has a CPU of its own:
             * give the CPU to any thread waiting for it between rounds.
             * When the thread that will produce the event (a remote BH's
             * scheduler, the other end of a pipe) shares this CPU, it can
             * then run, and polling hits instead of spinning out its time
             * (measured: a remote BH round trip on 2 busy CPUs went from
             * 12.6 to 3.1 µs, against 4.3 µs with polling off).  With
             * nobody waiting it returns at once (one syscall per round). */
            sched_yield();
        }
    } while (elapsed < max_ns && !ctx->fdmon_ops->need_wait(ctx));

    /* A hit set *timeout to 0 (run_poll_handlers_once); io_uring may have
     * stopped the loop with completions waiting: also an event. */
    if (*timeout == 0 || ctx->fdmon_ops->need_wait(ctx)) {
        ctx->counters.poll_hits++;
    } else {
        ctx->counters.poll_misses++;
    }
    ctx->counters.poll_ns += (uint64_t)elapsed;

    /* [10.2] A back end that sees readiness while polling (io_uring)
     * stopped the loop because completions are waiting: handle them now
     * without blocking, and stay in poll mode. */
    if (ctx->fdmon_ops->supports_polling && ctx->fdmon_ops->need_wait(ctx)) {
        *timeout = 0;
    }
    if (remove_idle_poll_handlers(ctx, ready, start + elapsed)) {
        *timeout = 0;
        progress = true;
    }
    if (*timeout != -1) {
        *timeout -= MIN(*timeout, elapsed);
    }
    return progress;
}

/* Applies an aio_context_set_poll_params() from any thread: every
 * handler's adaptive poll time starts again from 0.  Home thread. */
bool aio__poll_params_pending(AioContext *ctx)
{
    /* Acquire pairs with the release in aio_context_set_poll_params(). */
    return __atomic_load_n(&ctx->poll_params_gen, __ATOMIC_ACQUIRE) !=
           ctx->poll_params_seen;
}

void aio__poll_params_sync(AioContext *ctx)
{
    unsigned gen = __atomic_load_n(&ctx->poll_params_gen, __ATOMIC_ACQUIRE);

    if (gen == ctx->poll_params_seen) {
        return;
    }
    ctx->poll_params_seen = gen;
    for (AioHandler *node = ctx->poll_handlers; node; node = node->poll_next) {
        node->poll_ns = 0;
    }
}

static bool try_poll_mode(AioContext *ctx, AioHandler **ready, int64_t *timeout)
{
    int64_t max_ns = 0;

    aio__poll_params_sync(ctx);
    ctx->poll_this_call = false;
    if (!ctx->poll_handlers) {
        return false;
    }
    for (AioHandler *node = ctx->poll_handlers; node; node = node->poll_next) {
        max_ns = MAX(max_ns, node->poll_ns);
    }
    /* A zero timeout (non-blocking call) means no busy polling at all. */
    max_ns = aio__soonest(*timeout, max_ns);
    if (!max_ns) {
        return false;
    }
    /* Set before poll_begin and need_wait(): handlers that poll_begin lets
     * rest must not count as a reason to wait. */
    ctx->poll_this_call = true;
    if (ctx->fdmon_ops->poll_begin) {
        ctx->fdmon_ops->poll_begin(ctx);
    }
    if (ctx->fdmon_ops->need_wait(ctx)) {
        /* No busy polling after all: then nobody checks the resting
         * handlers, so the wait must arm them (need_wait() now says so). */
        ctx->poll_this_call = false;
        return false;
    }
    poll_set_started(ctx, ready, true);
    return run_poll_handlers(ctx, ready, max_ns, timeout);
}

/* Grows or shrinks @node's busy-poll time from how long this iteration
 * blocked: a wait that ended within the poll time needs no change; one
 * longer than the maximum means polling is futile, so shrink; otherwise a
 * little more polling would have caught it, so grow. */
static void adjust_polling_time(AioContext *ctx, AioHandler *node,
                                int64_t block_ns)
{
    int64_t max_ns = atomic_read(&ctx->poll_max_ns);

    if (block_ns <= node->poll_ns) {
        return;
    }
    if (block_ns > max_ns) {
        int64_t shrink = atomic_read(&ctx->poll_shrink);

        node->poll_ns = shrink ? node->poll_ns / shrink : 0;
    } else if (node->poll_ns < max_ns && block_ns < max_ns) {
        int64_t grow = atomic_read(&ctx->poll_grow);

        node->poll_ns = node->poll_ns ? node->poll_ns * (grow ? grow : 2)
                                      : 4000;
        node->poll_ns = MIN(node->poll_ns, max_ns);
    }
}

static bool dispatch_ready_handlers(AioContext *ctx, AioHandler **ready,
                                    int64_t block_ns)
{
    bool progress = false;
    AioHandler *node;

    while ((node = aio__pop_ready_handler(ready))) {
        progress |= aio__dispatch_handler(ctx, node);
        /* After dispatch: it may just have joined the poll list. */
        if (atomic_read(&ctx->poll_max_ns) && node->poll_pprev) {
            adjust_polling_time(ctx, node, block_ns);
        }
    }
    /* aio_add_sqe() completions, in the same phase. */
    progress |= aio__fdmon_io_uring_dispatch(ctx);
    return progress;
}

void aio__poll_begin(AioContext *ctx, bool blocking, unsigned flags,
                     AioPollPass *pass)
{
    /* The ready list's head lives in the pass: its first node points back
     * at it (a nested wait may steal the node, aio__add_ready_handler()). */
    AioHandler **ready = &pass->ready;
    bool progress, use_notify_me, waits;
    int64_t timeout, start = 0;

    /* A callback may drop the caller's reference (close the context);
     * the context must outlive this call. */
    pass->holds_ref = !(flags & AIO_PASS_CALLER_REF);
    if (pass->holds_ref) {
        aio_context_ref(ctx);
    }
    pass->ctx = ctx;
    pass->ready = NULL;
    /* Not a dispatch phase until aio__poll_run(): busy-poll hooks and
     * io_poll_begin/end run from here, before the wait (bh_enqueue()). */
    pass->outer_in_dispatch = ctx->in_dispatch;
    ctx->in_dispatch = false;
    pass->may_yield = flags & AIO_PASS_MAY_YIELD;
    pass->yielded = false;
    pass->block_ns = 0;
    pass->prev_ctx = aio__set_current_context(ctx);
    pass->pass_start = ctx->observer ? qemu_clock_get_ns(QEMU_CLOCK_REALTIME)
                                     : 0;
    aio__fdmon_epoll_fallback(ctx);
    aio__lockcnt_inc(&ctx->list_lock);
    if (atomic_read(&ctx->poll_max_ns)) {
        start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    }

    timeout = blocking ? aio_compute_timeout(ctx) : 0;
    progress = try_poll_mode(ctx, ready, &timeout);
    g_assert(!(timeout && progress));

    /* Announce the wait, unless it will not block anyway: a notifier that
     * sees notify_me == 0 can skip the eventfd write, because this call
     * re-evaluates everything before any later blocking wait. */
    use_notify_me = timeout != 0;
    /* A call that would block waits, even if a pending notification then
     * makes that wait non-blocking: skipping it would leave the fds
     * unchecked whenever need_wait() is false. */
    waits = timeout != 0;
    if (use_notify_me) {
        atomic_set(&ctx->notify_me, atomic_read(&ctx->notify_me) + 2);
        /* Make notify_me visible before reading notified, bh_list and the
         * timers.  Pairs with smp_mb() in aio_notify(). */
        smp_mb();
        if (atomic_read(&ctx->notified)) {
            timeout = 0;
        }
    }

    if (waits || ctx->fdmon_ops->need_wait(ctx)) {
        /* Turn busy polling off only right before blocking, so that
         * pollers can rely on their fd notifications again. */
        if (timeout && poll_set_started(ctx, ready, false)) {
            timeout = 0;
            progress = true;
        }
        ctx->counters.blocking_waits += timeout != 0;
        ctx->fdmon_ops->wait(ctx, ready, timeout);
    }

    if (use_notify_me) {
        /* Finish the wait before the counter drops.  Pairs with the
         * atomic read in aio_notify(). */
        atomic_store_release(&ctx->notify_me, atomic_read(&ctx->notify_me) - 2);
    }
    aio_notify_accept(ctx);

    if (atomic_read(&ctx->poll_max_ns)) {
        pass->block_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start;
    }
    pass->progress = progress;
    aio__bh_poll_begin(ctx, &pass->slice);
}

bool aio__poll_run(AioPollPass *pass)
{
    AioContext *ctx = pass->ctx;
    bool progress = pass->progress;

    pass->yielded = false;
    /* Stays set while a yielded BH's work runs: it is part of the pass. */
    ctx->in_dispatch = true;
    if (!aio__bh_poll_drain(ctx, pass, &progress)) {
        pass->progress = progress;
        return false;
    }
    progress |= dispatch_ready_handlers(ctx, &pass->ready, pass->block_ns);

    aio__free_deleted_handlers(ctx);
    aio__lockcnt_dec(&ctx->list_lock);

    progress |= aio__timerlistgroup_run_timers(&ctx->tlg);

    ctx->in_dispatch = pass->outer_in_dispatch;
    aio__set_current_context(pass->prev_ctx);
    if (pass->pass_start) {
        aio__observe(ctx, AIO_EVENT_POLL, NULL, progress, pass->pass_start);
    }
    pass->progress = progress;
    if (pass->holds_ref) {
        aio_context_unref(ctx);
    }
    return true;
}

bool aio__poll_may_yield(AioContext *ctx)
{
    AioPollPass *pass = ctx->running_pass;

    return pass && pass->may_yield && !ctx->observer;
}

void aio__poll_yield(AioContext *ctx)
{
    g_assert(aio__poll_may_yield(ctx));
    ctx->running_pass->yielded = true;
}

bool aio_poll(AioContext *ctx, bool blocking)
{
    AioPollPass pass;

    g_return_val_if_fail(aio_context_in_home_thread(ctx), false);
    aio__poll_begin(ctx, blocking, 0, &pass);
    aio__poll_run(&pass);
    return pass.progress;
}

void aio_context_set_poll_params(AioContext *ctx, int64_t max_ns, int64_t grow,
                                 int64_t shrink)
{
    g_return_if_fail(max_ns >= 0 && grow >= 0 && shrink >= 0);

    /* No lock: a value read half-updated once is harmless. */
    atomic_set(&ctx->poll_max_ns, max_ns);
    atomic_set(&ctx->poll_grow, grow);
    atomic_set(&ctx->poll_shrink, shrink);
    /* The handlers' poll times belong to the home thread: it resets them
     * at its next aio_poll() (or now, if this is it).  Release pairs with
     * the acquire in aio__poll_params_sync(). */
    __atomic_fetch_add(&ctx->poll_params_gen, 1, __ATOMIC_RELEASE);
    if (aio_context_in_home_thread(ctx)) {
        aio__poll_params_sync(ctx);
    }
    aio_notify(ctx);
}
