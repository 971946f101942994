/*
 * fdmon-epoll.c — the fd monitor built on epoll(7), for contexts with many
 * fds: a wait costs O(ready) instead of O(registered).
 *
 * A context starts on fdmon-poll and switches here for good the first time
 * a wait has at least AIO_EPOLL_THRESHOLD fds.  Any epoll_ctl failure (for
 * instance an fd type epoll refuses, like a regular file) switches back to
 * fdmon-poll for good: the ops pointer is all that changes, and only the
 * home thread changes it (aio_set_fd_handler() may run on any thread).
 *
 * epoll_wait only takes milliseconds, so a wait with a positive timeout
 * first ppoll()s the epoll fd itself with the nanosecond timeout, then
 * collects events without blocking.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fdmon.h"

#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EPOLL_MAX_EVENTS 128

/* Called with the mutex held, from any thread, right after epoll_ctl
 * failed (errno).  Only flags the failure: aio_poll() on the home thread
 * reads fdmon_ops without the lock and may be in epoll_wait() on the fd,
 * so the switch to poll is the home thread's (aio__fdmon_epoll_fallback),
 * which a notify makes it reach soon.  Until then the refused fd is not
 * watched; it is level-triggered, so poll(2) then finds it. */
static void fallback_locked(AioContext *ctx);

static void fdmon_epoll_disable(AioContext *ctx)
{
    if (!ctx->fdmon_fallback_reason) {
        ctx->fdmon_fallback_reason = g_strdup_printf(
            "epoll_ctl: %s; using poll for good", g_strerror(errno));
    }
    atomic_store_release(&ctx->epoll.failed, true);
    if (aio_context_in_home_thread(ctx) &&
        aio__lockcnt_count(&ctx->list_lock) == 0) {
        /* The home thread outside any aio_poll() or dispatch: nobody can
         * be waiting on the epoll fd, switch now. */
        fallback_locked(ctx);
    } else {
        aio_notify(ctx);
    }
}

/* Called with the mutex held, from the home thread. */
static void fallback_locked(AioContext *ctx)
{
    if (ctx->fdmon_ops == &aio__fdmon_epoll_ops) {
        ctx->fdmon_ops = &aio__fdmon_poll_ops;
        ctx->fdmon_pfd.fd = -1;
        aio__gsource_sync_all_locked(ctx); /* GLib polls each fd again */
    }
    if (ctx->epoll.fd >= 0) {
        /* Not closed yet: see AioContextEpoll.retired_fd. */
        ctx->epoll.retired_fd = ctx->epoll.fd;
        ctx->epoll.fd = -1;
    }
    atomic_set(&ctx->epoll.failed, false);
}

void aio__fdmon_epoll_fallback(AioContext *ctx)
{
    /* Acquire pairs with the release in fdmon_epoll_disable(). */
    if (G_LIKELY(!atomic_load_acquire(&ctx->epoll.failed))) {
        return;
    }
    aio__lockcnt_lock(&ctx->list_lock);
    fallback_locked(ctx);
    aio__lockcnt_unlock(&ctx->list_lock);
}

static uint32_t epoll_events(AioHandler *node)
{
    return ((node->pfd.events & G_IO_IN) ? EPOLLIN : 0) |
           ((node->pfd.events & G_IO_OUT) ? EPOLLOUT : 0) | EPOLLHUP | EPOLLERR;
}

static void fdmon_epoll_update(AioContext *ctx, AioHandler *old_node,
                               AioHandler *new_node)
{
    struct epoll_event event = {0};
    int r;

    if (atomic_read(&ctx->epoll.failed)) {
        /* poll(2) takes over at the home thread's next turn; new nodes
         * wait for it, but a retired one must leave the set now: it may be
         * freed before the epoll fd is closed. */
        if (old_node) {
            epoll_ctl(ctx->epoll.fd, EPOLL_CTL_DEL, old_node->pfd.fd, &event);
        }
        return;
    }
    if (!new_node) {
        r = epoll_ctl(ctx->epoll.fd, EPOLL_CTL_DEL, old_node->pfd.fd, &event);
        /* A closed fd already left the set by itself: not an error. */
        if (r < 0 && errno != EBADF && errno != ENOENT) {
            fdmon_epoll_disable(ctx);
        }
        return;
    }
    event.data.ptr = new_node;
    event.events = epoll_events(new_node);
    AIO_KERNEL_PUBLISH(new_node); /* epoll_wait() hands it to the loop */
    r = epoll_ctl(ctx->epoll.fd, old_node ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
                  new_node->pfd.fd, &event);
    if (r < 0 && old_node && errno == ENOENT) {
        /* The old fd was closed and its number reused. */
        r = epoll_ctl(ctx->epoll.fd, EPOLL_CTL_ADD, new_node->pfd.fd, &event);
    }
    if (r < 0) {
        int err = errno;

        if (old_node) {
            /* A failed MOD leaves the retired node in the set. */
            epoll_ctl(ctx->epoll.fd, EPOLL_CTL_DEL, old_node->pfd.fd, &event);
        }
        errno = err;
        fdmon_epoll_disable(ctx);
    }
}

static int collect_events(AioContext *ctx, AioHandler **ready, int ms);

static int fdmon_epoll_wait(AioContext *ctx, AioHandler **ready,
                            int64_t timeout)
{
    int ret;

    /* epoll cannot leave out paused external handlers: let poll do it. */
    if (aio_external_disabled(ctx)) {
        return aio__fdmon_poll_ops.wait(ctx, ready, timeout);
    }
    if (timeout > 0) {
        struct pollfd pfd = {.fd = ctx->epoll.fd, .events = POLLIN};
        struct timespec ts = {
            .tv_sec = timeout / 1000000000LL,
            .tv_nsec = timeout % 1000000000LL,
        };

        ret = ppoll(&pfd, 1, &ts, NULL);
        if (ret <= 0) {
            return ret < 0 && errno != EINTR ? -errno : 0;
        }
        timeout = 0;
    }
    return collect_events(ctx, ready, timeout < 0 ? -1 : 0);
}

/* epoll_wait()s once and adds what is ready to @ready. */
static int collect_events(AioContext *ctx, AioHandler **ready, int ms)
{
    struct epoll_event events[EPOLL_MAX_EVENTS];
    int ret = epoll_wait(ctx->epoll.fd, events, EPOLL_MAX_EVENTS, ms);

    if (ret < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    for (int i = 0; i < ret; i++) {
        AioHandler *node = events[i].data.ptr;
        int revents = ((events[i].events & EPOLLIN) ? G_IO_IN : 0) |
                      ((events[i].events & EPOLLOUT) ? G_IO_OUT : 0) |
                      ((events[i].events & EPOLLHUP) ? G_IO_HUP : 0) |
                      ((events[i].events & EPOLLERR) ? G_IO_ERR : 0);

        AIO_KERNEL_RECEIVE(node);
        if (!atomic_read(&node->deleted)) {
            aio__add_ready_handler(ready, node, revents);
        }
    }
    return ret;
}

static bool fdmon_epoll_gsource_check(AioContext *ctx)
{
    return ctx->fdmon_pfd.revents & G_IO_IN;
}

static void fdmon_epoll_gsource_dispatch(AioContext *ctx, AioHandler **ready)
{
    collect_events(ctx, ready, 0);
}

const FDMonOps aio__fdmon_epoll_ops = {
    .update = fdmon_epoll_update,
    .wait = fdmon_epoll_wait,
    .need_wait = aio__poll_disabled,
    .gsource_check = fdmon_epoll_gsource_check,
    .gsource_dispatch = fdmon_epoll_gsource_dispatch,
    .kind = AIO_FDMON_EPOLL,
};

void aio__fdmon_epoll_setup(AioContext *ctx)
{
    ctx->epoll.retired_fd = -1;
    ctx->epoll.fd = epoll_create1(EPOLL_CLOEXEC);
}

void aio__fdmon_epoll_cleanup(AioContext *ctx)
{
    if (ctx->epoll.fd >= 0) {
        close(ctx->epoll.fd);
        ctx->epoll.fd = -1;
    }
    if (ctx->epoll.retired_fd >= 0) {
        close(ctx->epoll.retired_fd);
        ctx->epoll.retired_fd = -1;
    }
}

bool aio__fdmon_epoll_try_enable(AioContext *ctx)
{
    struct epoll_event event;

    if (ctx->epoll.fd < 0) {
        return false;
    }
    aio__lockcnt_lock(&ctx->list_lock);
    for (AioHandler *node = ctx->handlers; node; node = node->next) {
        if (atomic_read(&node->deleted) || node->nval || !node->pfd.events) {
            continue;
        }
        event.events = epoll_events(node);
        event.data.ptr = node;
        if (epoll_ctl(ctx->epoll.fd, EPOLL_CTL_ADD, node->pfd.fd, &event) < 0) {
            /* Stay on poll for good. */
            aio__lockcnt_unlock(&ctx->list_lock);
            aio__fdmon_epoll_cleanup(ctx);
            return false;
        }
    }
    ctx->fdmon_ops = &aio__fdmon_epoll_ops;
    ctx->fdmon_pfd.fd = ctx->epoll.fd;
    aio__gsource_sync_all_locked(ctx); /* GLib polls the epoll fd now */
    aio__lockcnt_unlock(&ctx->list_lock);
    return true;
}
