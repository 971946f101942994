/*
 * aio-flush.c — the 2012 API: aio_pending, aio_flush with the handlers'
 * io_flush callbacks, and qemu_aio_wait/qemu_aio_flush on a default
 * context.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

#include <poll.h>

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static AioContext *default_ctx; /* under default_lock, set once */

bool aio_pending(AioContext *ctx)
{
    GArray *fds;
    bool ready = false;

    g_return_val_if_fail(aio_context_in_home_thread(ctx), false);
    if (aio__bh_pending(ctx) ||
        aio__timerlistgroup_deadline_ns(&ctx->tlg) == 0 ||
        /* Block I/O on the io_uring monitor's ring has no fd of its own. */
        aio__fdmon_io_uring_sqe_done(ctx)) {
        return true;
    }
    /* Ask the kernel directly: whatever the fd monitor, a zero-timeout
     * poll(2) of the handlers' fds says what a poll would find now. */
    fds = g_array_new(FALSE, FALSE, sizeof(struct pollfd));
    aio__lockcnt_inc(&ctx->list_lock);
    for (AioHandler *node = atomic_load_acquire(&ctx->handlers); node;
         node = atomic_load_acquire(&node->next)) {
        struct pollfd pfd = {.fd = node->pfd.fd};

        if (atomic_read(&node->deleted) || node->is_notifier || node->nval ||
            !aio__node_check(ctx, node)) {
            continue;
        }
        pfd.events = (node->io_read ? POLLIN : 0) |
                     (node->io_write ? POLLOUT : 0);
        if (pfd.events) {
            g_array_append_val(fds, pfd);
        }
    }
    aio__lockcnt_dec(&ctx->list_lock);
    if (fds->len && poll((struct pollfd *)(void *)fds->data, fds->len, 0) > 0) {
        for (guint i = 0; i < fds->len; i++) {
            struct pollfd *p = &g_array_index(fds, struct pollfd, i);

            /* POLLNVAL: a closed fd, which the loop drops, not runs. */
            if (p->revents & ~POLLNVAL) {
                ready = true;
            }
        }
    }
    g_array_free(fds, TRUE);
    return ready;
}

/* Whether a BH is scheduled or some io_flush reports requests in flight.
 * Home thread. */
static bool flush_busy(AioContext *ctx)
{
    bool busy = aio__bh_pending(ctx);

    aio__lockcnt_inc(&ctx->list_lock);
    for (AioHandler *node = atomic_load_acquire(&ctx->handlers); node && !busy;
         node = atomic_load_acquire(&node->next)) {
        if (!atomic_read(&node->deleted) && node->io_flush) {
            busy = node->io_flush(node->opaque);
        }
    }
    aio__free_deleted_handlers(ctx);
    aio__lockcnt_dec(&ctx->list_lock);
    return busy;
}

void aio_flush(AioContext *ctx)
{
    g_return_if_fail(aio_context_in_home_thread(ctx));
    while (flush_busy(ctx)) {
        aio_poll(ctx, true);
    }
}

AioContext *qemu_get_aio_context(void)
{
    AioContext *ctx;

    pthread_mutex_lock(&default_lock);
    if (!default_ctx) {
        default_ctx = aio_context_new("qemu-aio-context", NULL);
    }
    ctx = default_ctx;
    pthread_mutex_unlock(&default_lock);
    g_assert(ctx != NULL);
    return ctx;
}

bool qemu_aio_wait(void)
{
    AioContext *ctx = qemu_get_aio_context();

    if (!flush_busy(ctx)) {
        return aio_poll(ctx, false);
    }
    aio_poll(ctx, true);
    return true;
}

void qemu_aio_flush(void)
{
    aio_flush(qemu_get_aio_context());
}
