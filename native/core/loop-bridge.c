/*
 * loop-bridge.c — lets a foreign event loop (libuv, or anything that can
 * watch fds and arm a timer) drive a GMainContext, so that GLib sources,
 * an attached AioContext included, run inside that loop.
 *
 * GLib already splits an iteration into prepare/query, poll and
 * check/dispatch; the bridge maps them onto the foreign loop's "before
 * poll" and "after poll" phases and lets the foreign loop do the poll.
 * The foreign loop sleeps exactly as long as GLib would: with nothing
 * scheduled there is no timer and no wake-up at all.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

struct AioLoopBridge {
    GMainContext *main;
    const AioLoopBridgeOps *ops;
    void *opaque;
    int max_priority;
    GPollFD *fds;
    int nfds;
    int nalloc;
    bool acquired;      /* we own @main (g_main_context_acquire) */
    bool prepared;      /* before_poll ran, after_poll has not */
};

AioLoopBridge *aio_loop_bridge_new(GMainContext *main,
                                   const AioLoopBridgeOps *ops, void *opaque)
{
    AioLoopBridge *b = g_new0(AioLoopBridge, 1);

    b->main = g_main_context_ref(main ? main : g_main_context_default());
    b->ops = ops;
    b->opaque = opaque;
    return b;
}

void aio_loop_bridge_free(AioLoopBridge *b)
{
    if (!b) {
        return;
    }
    if (b->acquired) {
        g_main_context_release(b->main);
    }
    g_main_context_unref(b->main);
    g_free(b->fds);
    g_free(b);
}

bool aio_loop_bridge_before_poll(AioLoopBridge *b)
{
    gboolean ready;
    int timeout, n;

    if (!b->acquired) {
        /* Another thread iterates this context: it is not ours to run. */
        if (!g_main_context_acquire(b->main)) {
            return false;
        }
        b->acquired = true;
    }
    ready = g_main_context_prepare(b->main, &b->max_priority);
    while ((n = g_main_context_query(b->main, b->max_priority, &timeout,
                                     b->fds, b->nalloc)) > b->nalloc) {
        b->nalloc = n;
        b->fds = g_renew(GPollFD, b->fds, n);
    }
    b->nfds = n;
    for (int i = 0; i < n; i++) {
        b->fds[i].revents = 0;
    }
    b->prepared = true;
    b->ops->watch_fds(b->opaque, b->fds, n);
    b->ops->arm_timer(b->opaque, ready ? 0 : timeout);
    return true;
}

void aio_loop_bridge_fd_ready(AioLoopBridge *b, int fd, int revents)
{
    for (int i = 0; i < b->nfds; i++) {
        if (b->fds[i].fd == fd) {
            b->fds[i].revents |= revents &
                (b->fds[i].events | G_IO_HUP | G_IO_ERR | G_IO_NVAL);
        }
    }
}

bool aio_loop_bridge_after_poll(AioLoopBridge *b)
{
    if (!b->prepared) {
        return false;
    }
    b->prepared = false;
    if (!g_main_context_check(b->main, b->max_priority, b->fds, b->nfds)) {
        return false;
    }
    g_main_context_dispatch(b->main);
    return true;
}
