/*
 * fdmon-poll.c — the fd monitor built on ppoll(2): every wait gathers the
 * live handlers into an array, so adding and removing fds costs nothing,
 * and waits have nanosecond timeouts.
 *
 * The arrays live in the context rather than on the stack (unbounded size)
 * or in thread-locals (QEMU's choice, since its contexts share threads):
 * each context has one home thread and a nested aio_poll() only reuses them
 * after the outer wait is over.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fdmon.h"

#include <errno.h>
#include <poll.h>
#include <time.h>

static void fdmon_poll_update(AioContext *ctx, AioHandler *old_node,
                              AioHandler *new_node)
{
    /* Nothing to do: the array is rebuilt on each wait. */
    (void)ctx;
    (void)old_node;
    (void)new_node;
}

static void ensure_room(AioContext *ctx, unsigned n)
{
    if (n <= ctx->npoll_alloc) {
        return;
    }
    ctx->npoll_alloc = MAX(n, ctx->npoll_alloc * 2);
    ctx->pollfds = g_renew(GPollFD, ctx->pollfds, ctx->npoll_alloc);
    ctx->pollnodes = g_renew(AioHandler *, ctx->pollnodes, ctx->npoll_alloc);
}

static int poll_ns(GPollFD *fds, unsigned nfds, int64_t timeout)
{
    struct timespec ts;

    G_STATIC_ASSERT(sizeof(GPollFD) == sizeof(struct pollfd));
    if (timeout < 0) {
        return ppoll((struct pollfd *)fds, nfds, NULL, NULL);
    }
    ts.tv_sec = timeout / 1000000000LL;
    ts.tv_nsec = timeout % 1000000000LL;
    return ppoll((struct pollfd *)fds, nfds, &ts, NULL);
}

static int fdmon_poll_wait(AioContext *ctx, AioHandler **ready, int64_t timeout)
{
    unsigned n = 0;
    int ret;

    for (AioHandler *node = atomic_load_acquire(&ctx->handlers); node;
         node = atomic_load_acquire(&node->next)) {
        if (atomic_read(&node->deleted) || node->nval || !node->pfd.events ||
            !aio__node_check(ctx, node)) {
            continue;
        }
        ensure_room(ctx, n + 1);
        ctx->pollfds[n].fd = node->pfd.fd;
        ctx->pollfds[n].events = node->pfd.events;
        ctx->pollfds[n].revents = 0;
        ctx->pollnodes[n] = node;
        n++;
    }

    /* Many fds: epoll's wait costs O(ready), not O(registered). */
    if (n >= AIO_EPOLL_THRESHOLD && !aio_external_disabled(ctx) &&
        aio__fdmon_epoll_try_enable(ctx)) {
        return ctx->fdmon_ops->wait(ctx, ready, timeout);
    }
    /* Standing in for io_uring while external handlers are paused: its
     * ring fd too, for aio_add_sqe() completions (no node; io_uring's
     * wait processes them). */
    if (ctx->fdmon_ops == &aio__fdmon_io_uring_ops) {
        ensure_room(ctx, n + 1);
        ctx->pollfds[n].fd = ctx->fdmon_pfd.fd;
        ctx->pollfds[n].events = G_IO_IN;
        ctx->pollfds[n].revents = 0;
        ctx->pollnodes[n] = NULL;
        n++;
    }
    ret = poll_ns(ctx->pollfds, n, timeout);
    if (ret < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    for (unsigned i = 0; i < n; i++) {
        int revents = ctx->pollfds[i].revents;

        if (!ctx->pollnodes[i]) {
            continue; /* the io_uring ring fd */
        } else if (revents & G_IO_NVAL) {
            /* Closed while registered: stop polling it, or every wait
             * would return at once. */
            aio__handler_set_nval(ctx, ctx->pollnodes[i]);
        } else if (revents) {
            aio__add_ready_handler(ready, ctx->pollnodes[i], revents);
        }
    }
    return ret;
}

const FDMonOps aio__fdmon_poll_ops = {
    .update = fdmon_poll_update,
    .wait = fdmon_poll_wait,
    .need_wait = aio__poll_disabled,
    .gsource_per_fd = true,
    .kind = AIO_FDMON_POLL,
};
