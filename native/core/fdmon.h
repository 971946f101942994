/*
 * fdmon.h — the fd monitor ops table.  aio_poll() waits for fds through
 * ctx->fdmon_ops; back ends swap by changing that pointer, so callers never
 * need an #ifdef.  Each back end lives in fdmon-<name>.c, keeps everything
 * static and exports one const table plus a setup function.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_FDMON_H
#define AIOCONTEXT_FDMON_H

#include "aio-internal.h"

struct FDMonOps {
    /*
     * update:
     * @old_node: the handler being replaced or removed, or NULL
     * @new_node: the handler being added, or NULL
     *
     * Tells the back end that the set of watched fds changed.
     * Called with list_lock's mutex held, from any thread.
     */
    void (*update)(AioContext *ctx, AioHandler *old_node, AioHandler *new_node);

    /*
     * wait:
     * @ready: the caller's ready list; ready nodes are added to it
     * @timeout: ns to wait at most; 0 = do not block, -1 = forever
     *
     * Waits for watched fds.  Called with list_lock incremented, from the
     * home thread.
     *
     * Returns: the number of ready fds, or a negative errno.
     */
    int (*wait)(AioContext *ctx, AioHandler **ready, int64_t timeout);

    /*
     * need_wait:
     * Returns: true if wait() must be called because busy polling cannot
     * see everything (for poll/epoll: some handler has no io_poll; for
     * io_uring: completions or submissions waiting, polled handlers left
     * unwatched that this call will not poll, or external handlers paused,
     * when poll(2) stands in for it).  Home thread.
     */
    bool (*need_wait)(AioContext *ctx);

    /*
     * GSource integration.  A back end either lets GLib poll every
     * handler's fd itself (gsource_per_fd: fdmon-poll), or gives GLib one
     * fd of its own, ctx->fdmon_pfd (the epoll fd, the io_uring ring fd),
     * and turns its readiness into a ready list with these hooks.
     *
     * gsource_prepare (nullable): called from GSource prepare, e.g. to
     * submit queued io_uring work.  Home thread.
     * gsource_check: Returns: whether some handler is ready to dispatch
     * (not merely whether ctx->fdmon_pfd is readable: io_uring completions
     * that dispatch nothing do not count; io_uring holds the ready ones
     * for gsource_dispatch, or the next wait, in ctx->io_uring_checked).
     * gsource_dispatch: adds the ready handlers to @ready without blocking.
     * Called with list_lock incremented, from the home thread.
     */
    bool gsource_per_fd;
    void (*gsource_prepare)(AioContext *ctx);
    bool (*gsource_check)(AioContext *ctx);
    void (*gsource_dispatch)(AioContext *ctx, AioHandler **ready);

    /*
     * poll_begin (nullable): busy polling is about to start (it may not, if
     * need_wait() then says so).  The back end may stop watching the fds of
     * handlers on the poll list, whose io_poll checks them, and must
     * submit any other pending change now, so that need_wait() only says
     * true for work that is really waiting.  Whatever it stops watching it
     * must watch again before any blocking wait or GLib poll.  Home thread,
     * list_lock incremented.
     *
     * poll_leave (nullable): @node left the poll list while busy polling
     * goes on: its fd must be watched again.  Home thread.
     */
    void (*poll_begin)(AioContext *ctx);
    void (*poll_leave)(AioContext *ctx, AioHandler *node);

    /* Whether busy polling can watch fd readiness (need_wait() turns true
     * when fds are ready), so idle handlers may leave the poll list. */
    bool supports_polling;

    /* Which back end this is, for stats. */
    AioFdMonKind kind;
};

/* Returns: whether GLib should poll each handler's fd (rather than
 * ctx->fdmon_pfd): fdmon-poll, or any back end while external handlers
 * are paused (only poll can leave them out). */
static inline bool aio__gsource_per_fd(AioContext *ctx)
{
    return ctx->fdmon_ops->gsource_per_fd || aio_external_disabled(ctx);
}

/* Returns: true if some handler has no io_poll (polling cannot replace a
 * wait).  The need_wait of back ends without userspace polling support. */
bool aio__poll_disabled(AioContext *ctx);

/* fdmon-poll.c: ppoll(2) over an array rebuilt each wait. */
extern const FDMonOps aio__fdmon_poll_ops;

/* fdmon-epoll.c: epoll(7), taken on for good by fdmon-poll once a wait has
 * AIO_EPOLL_THRESHOLD fds. */
#define AIO_EPOLL_THRESHOLD 64
extern const FDMonOps aio__fdmon_epoll_ops;
/* Creates ctx->epoll.fd (-1 if epoll is unavailable).  From aio_context_new. */
void aio__fdmon_epoll_setup(AioContext *ctx);
/* Closes ctx->epoll.fd and a retired one.  From finalization. */
void aio__fdmon_epoll_cleanup(AioContext *ctx);
/* Moves the context to poll for good if epoll_ctl refused an fd since the
 * last call (ctx->epoll.failed).  Home thread, outside fdmon callbacks:
 * at the start of aio_poll() and of GSource prepare. */
void aio__fdmon_epoll_fallback(AioContext *ctx);
/* Registers every handler with epoll and switches ctx->fdmon_ops to it.
 * Returns: false (staying on poll for good) on failure.  Home thread. */
bool aio__fdmon_epoll_try_enable(AioContext *ctx);

/* fdmon-io_uring.c: one-shot POLL_ADD per fd, re-armed per completion. */
extern const FDMonOps aio__fdmon_io_uring_ops;
/* Sets up the ring and switches ctx->fdmon_ops to io_uring.  Must run
 * before any handler but the notifier exists.  Returns: 0 or -errno (then
 * nothing changed; -ENOSYS when built without liburing). */
int aio__fdmon_io_uring_setup(AioContext *ctx);
/* Tears the ring down.  From finalization (no-op if never set up). */
void aio__fdmon_io_uring_cleanup(AioContext *ctx);
/* Switches a context from io_uring to ppoll (moving on to epoll at
 * AIO_EPOLL_THRESHOLD fds) for good, as QEMU did for contexts that GLib
 * drives: there ppoll and epoll cost fewer syscalls per wake-up.  Every
 * handler stays registered.  aio_add_sqe() requests still in the kernel
 * keep the ring open (ctx->uring.retired, an internal handler) until
 * they completed.  Home thread, outside fdmon callbacks; no-op unless
 * io_uring is in use. */
void aio__fdmon_io_uring_stop(AioContext *ctx);

#endif /* AIOCONTEXT_FDMON_H */
