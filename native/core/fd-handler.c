/*
 * fd-handler.c — fd handlers and event notifiers: registration, deferred
 * deletion, GSource membership and dispatch of one handler.
 *
 * There is one handler per fd per context.  Replacing a handler always
 * allocates a new node and retires the old one; a retired node is unlinked
 * at once if nobody walks the list, else it is marked deleted (walkers skip
 * it) and the outermost walker frees it.  So a callback may replace or
 * remove any handler, its own included, and the walk it runs inside stays
 * valid.
 *
 * SPDX-License-Identifier: MIT
 */
#include "fdmon.h"

#include <errno.h>
#include <fcntl.h>

/* Called with the mutex held. */
static AioHandler *find_handler(AioContext *ctx, int fd)
{
    for (AioHandler *node = ctx->handlers; node; node = node->next) {
        if (node->pfd.fd == fd && !node->deleted) {
            return node;
        }
    }
    return NULL;
}

/* Adds or removes @node's pfd to/from the live GSource so that GLib polls
 * exactly the nodes aio_poll() would.  Called with the mutex held. */
static void node_sync_source(AioContext *ctx, AioHandler *node)
{
    GSource *src = ctx->source;
    bool want = src && !g_source_is_destroyed(src) && !node->deleted &&
                !node->nval && node->pfd.events && aio__node_check(ctx, node) &&
                aio__gsource_per_fd(ctx);

    if (node->in_source && node->in_source != src) {
        /* A source that has since been replaced: GLib dropped it. */
        node->in_source = NULL;
    }
    if (want && !node->in_source) {
        g_source_add_poll(src, &node->pfd);
        node->in_source = src;
    } else if (!want && node->in_source) {
        if (!g_source_is_destroyed(src)) {
            g_source_remove_poll(src, &node->pfd);
        }
        node->in_source = NULL;
    }
}

/* The back end's own fd goes into the GSource when GLib does not poll the
 * handlers' fds one by one; io_uring's always, since aio_add_sqe()
 * completions arrive there even while external handlers are paused.
 * Called with the mutex held. */
static void fdmon_sync_source(AioContext *ctx)
{
    GSource *src = ctx->source;
    bool want = src && !g_source_is_destroyed(src) && ctx->fdmon_pfd.fd >= 0 &&
                (!aio__gsource_per_fd(ctx) ||
                 ctx->fdmon_ops == &aio__fdmon_io_uring_ops);

    if (ctx->fdmon_pfd_in_source && ctx->fdmon_pfd_in_source != src) {
        ctx->fdmon_pfd_in_source = NULL;
    }
    if (want && !ctx->fdmon_pfd_in_source) {
        ctx->fdmon_pfd.events = G_IO_IN;
        ctx->fdmon_pfd.revents = 0;
        g_source_add_poll(src, &ctx->fdmon_pfd);
        ctx->fdmon_pfd_in_source = src;
    } else if (!want && ctx->fdmon_pfd_in_source) {
        if (!g_source_is_destroyed(src)) {
            g_source_remove_poll(src, &ctx->fdmon_pfd);
        }
        ctx->fdmon_pfd_in_source = NULL;
    }
}

void aio__gsource_forget_locked(AioContext *ctx, GSource *source)
{
    /* Walk deleted nodes too: a node retired outside the home thread may
     * still name the source until it is freed. */
    for (AioHandler *node = ctx->handlers; node; node = node->next) {
        if (node->in_source == source) {
            node->in_source = NULL;
        }
    }
    if (ctx->fdmon_pfd_in_source == source) {
        ctx->fdmon_pfd_in_source = NULL;
    }
}

void aio__gsource_sync_all_locked(AioContext *ctx)
{
    for (AioHandler *node = ctx->handlers; node; node = node->next) {
        node_sync_source(ctx, node);
    }
    fdmon_sync_source(ctx);
}

void aio__gsource_sync_all(AioContext *ctx)
{
    aio__lockcnt_lock(&ctx->list_lock);
    aio__gsource_sync_all_locked(ctx);
    aio__lockcnt_unlock(&ctx->list_lock);
}

void aio__poll_list_remove(AioHandler *node)
{
    if (node->poll_pprev) {
        if (node->poll_next) {
            node->poll_next->poll_pprev = node->poll_pprev;
        }
        *node->poll_pprev = node->poll_next;
        node->poll_next = NULL;
        node->poll_pprev = NULL;
    }
}

void aio__poll_list_insert(AioContext *ctx, AioHandler *node)
{
    node->poll_next = ctx->poll_handlers;
    if (node->poll_next) {
        node->poll_next->poll_pprev = &node->poll_next;
    }
    ctx->poll_handlers = node;
    node->poll_pprev = &ctx->poll_handlers;
}

/* Called with the mutex held and no walker active. */
static void handler_unlink(AioContext *ctx, AioHandler *node)
{
    aio__poll_list_remove(node);
    if (node->prev) {
        node->prev->next = node->next;
    } else {
        ctx->handlers = node->next;
    }
    if (node->next) {
        node->next->prev = node->prev;
    }
}

/* Unlinks @node from every list and frees it.  Called with the mutex held
 * and no walker active (or by the outermost walker holding the mutex). */
static void handler_free(AioContext *ctx, AioHandler *node)
{
    handler_unlink(ctx, node);
    if (node->ready_pprev) {
        /* Not expected (ready lists are drained before this), but a
         * dangling link would be fatal. */
        *node->ready_pprev = node->ready_next;
        if (node->ready_next) {
            node->ready_next->ready_pprev = node->ready_pprev;
        }
    }
    g_free(node);
}

void aio__handler_release(AioContext *ctx, AioHandler *node)
{
    node->fdmon_owned = false;
    if (aio__lockcnt_count(&ctx->list_lock) > 0) {
        /* A walker may hold it: the outermost one frees it. */
        node->next_deleted = ctx->deleted_handlers;
        /* Pairs with the unlocked peek in aio__free_deleted_handlers(). */
        atomic_store_release(&ctx->deleted_handlers, node);
        return;
    }
    handler_free(ctx, node);
}

/* Retires @node.  Called with the mutex held. */
static void handler_retire(AioContext *ctx, AioHandler *node)
{
    atomic_set(&node->deleted, true);
    if (aio_context_in_home_thread(ctx)) {
        /* Other threads leave these to the loop: `deleted` already stops
         * every callback, and these fields are the loop's. */
        node->pfd.revents = 0;
        node->poll_ready = false;
    }
    node_sync_source(ctx, node);
    if (!node->fdmon_owned) {
        /* Else the back end releases it once the kernel lets go of it. */
        aio__handler_release(ctx, node);
    }
}

static int set_fd_handler(AioContext *ctx, int fd, bool is_external,
                          IOHandler *io_read, IOHandler *io_write,
                          AioFlushHandler *io_flush, AioPollFn *io_poll,
                          IOHandler *io_poll_ready, void *opaque,
                          bool is_notifier, bool is_internal)
{
    AioHandler *old, *node = NULL;
    bool deleting;

    if (fd < 0) {
        return -EINVAL;
    }
    /* Polling only makes sense with a handler for what it finds. */
    if (io_poll && !io_poll_ready) {
        io_poll = NULL;
    }
    deleting = !io_read && !io_write && !io_poll;
    if (!deleting && fcntl(fd, F_GETFD) < 0) {
        return -errno;
    }

    aio__lockcnt_lock(&ctx->list_lock);
    old = find_handler(ctx, fd);
    if (deleting && !old) {
        aio__lockcnt_unlock(&ctx->list_lock);
        return 0;
    }
    if (!deleting) {
        node = g_new0(AioHandler, 1);
        node->pfd.fd = fd;
        node->pfd.events = (io_read ? AIO_READ_EVENTS : 0) |
                           (io_write ? AIO_WRITE_EVENTS : 0);
        node->io_read = io_read;
        node->io_write = io_write;
        node->io_flush = io_flush;
        node->io_poll = io_poll;
        node->io_poll_ready = io_poll_ready;
        node->opaque = opaque;
        node->is_external = is_external;
        node->is_notifier = is_notifier;
        node->is_internal = is_internal;
        if (old) {
            node->io_poll_begin = old->io_poll_begin;
            node->io_poll_end = old->io_poll_end;
        }
        node->prev = NULL;
        node->next = ctx->handlers;
        if (node->next) {
            node->next->prev = node;
        }
        /* Release pairs with the acquire loads of walkers. */
        atomic_store_release(&ctx->handlers, node);
        node_sync_source(ctx, node);
        /* Atomic: need_wait() reads it without the lock. */
        __atomic_fetch_add(&ctx->poll_disable_cnt, !io_poll, __ATOMIC_RELAXED);
        ctx->nr_handlers += !old && !is_notifier && !is_internal;
    } else {
        ctx->nr_handlers -= !old->is_notifier && !old->is_internal;
    }
    if (old) {
        __atomic_fetch_sub(&ctx->poll_disable_cnt, !old->io_poll,
                           __ATOMIC_RELAXED);
    }
    ctx->fdmon_ops->update(ctx, old, node);
    if (old) {
        handler_retire(ctx, old);
    }
    aio__lockcnt_unlock(&ctx->list_lock);
    aio_notify(ctx);
    return 0;
}

int aio_set_fd_handler(AioContext *ctx, int fd, bool is_external,
                       IOHandler *io_read, IOHandler *io_write,
                       AioPollFn *io_poll, IOHandler *io_poll_ready,
                       void *opaque)
{
    g_return_val_if_fail(ctx != NULL, -EINVAL);
    if (fd == event_notifier_get_fd(&ctx->notifier)) {
        return -EBUSY; /* the context's own notifier is not for users */
    }
    return set_fd_handler(ctx, fd, is_external, io_read, io_write, NULL,
                          io_poll, io_poll_ready, opaque, false, false);
}

int aio_set_fd_handler_flush(AioContext *ctx, int fd, bool is_external,
                             IOHandler *io_read, IOHandler *io_write,
                             AioFlushHandler *io_flush, AioPollFn *io_poll,
                             IOHandler *io_poll_ready, void *opaque)
{
    g_return_val_if_fail(ctx != NULL, -EINVAL);
    if (fd == event_notifier_get_fd(&ctx->notifier)) {
        return -EBUSY;
    }
    return set_fd_handler(ctx, fd, is_external, io_read, io_write, io_flush,
                          io_poll, io_poll_ready, opaque, false, false);
}

int aio__set_internal_event_notifier(AioContext *ctx, EventNotifier *e,
                                     EventNotifierHandler *io_read,
                                     AioPollFn *io_poll,
                                     EventNotifierHandler *io_poll_ready)
{
    return set_fd_handler(
        ctx, event_notifier_get_fd(e), false, (IOHandler *)io_read, NULL, NULL,
        io_poll, (IOHandler *)io_poll_ready, e, false, io_read || io_poll);
}

int aio_set_fd_poll(AioContext *ctx, int fd, IOHandler *io_poll_begin,
                    IOHandler *io_poll_end)
{
    AioHandler *node;

    aio__lockcnt_lock(&ctx->list_lock);
    node = find_handler(ctx, fd);
    if (node) {
        node->io_poll_begin = io_poll_begin;
        node->io_poll_end = io_poll_end;
    }
    aio__lockcnt_unlock(&ctx->list_lock);
    return node ? 0 : -ENOENT;
}

int aio_set_event_notifier(AioContext *ctx, EventNotifier *e, bool is_external,
                           EventNotifierHandler *io_read, AioPollFn *io_poll,
                           EventNotifierHandler *io_poll_ready)
{
    /* The callbacks take the notifier itself as their opaque pointer. */
    return aio_set_fd_handler(ctx, event_notifier_get_fd(e), is_external,
                              (IOHandler *)io_read, NULL, io_poll,
                              (IOHandler *)io_poll_ready, e);
}

int aio_set_event_notifier_poll(AioContext *ctx, EventNotifier *e,
                                EventNotifierHandler *io_poll_begin,
                                EventNotifierHandler *io_poll_end)
{
    return aio_set_fd_poll(ctx, event_notifier_get_fd(e),
                           (IOHandler *)io_poll_begin,
                           (IOHandler *)io_poll_end);
}

/* The context's own notifier: reading drains it; io_poll sees aio_notify()
 * through the flag without a syscall; neither is ever progress. */
static void notifier_read(void *opaque)
{
    AioContext *ctx = (AioContext *)((char *)opaque -
                                     G_STRUCT_OFFSET(AioContext, notifier));

    if (event_notifier_test_and_clear(opaque)) {
        ctx->counters.notify_wakeups++;
    }
}

static bool notifier_poll(void *opaque)
{
    AioContext *ctx = (AioContext *)((char *)opaque -
                                     G_STRUCT_OFFSET(AioContext, notifier));

    return atomic_read(&ctx->notified);
}

static void notifier_poll_ready(void *opaque)
{
    (void)opaque;
}

int aio__register_notifier(AioContext *ctx)
{
    return set_fd_handler(ctx, event_notifier_get_fd(&ctx->notifier), false,
                          notifier_read, NULL, NULL, notifier_poll,
                          notifier_poll_ready, &ctx->notifier, true, false);
}

void aio__handlers_finalize(AioContext *ctx)
{
    AioHandler *node;

    g_assert(aio__lockcnt_count(&ctx->list_lock) == 0);
    /* Deleted nodes are still linked: this frees them too. */
    while ((node = ctx->handlers)) {
        handler_free(ctx, node);
    }
    ctx->deleted_handlers = NULL;
    g_assert(ctx->poll_handlers == NULL);
}

void aio_disable_external(AioContext *ctx)
{
    __atomic_fetch_add(&ctx->external_disable_cnt, 1, __ATOMIC_SEQ_CST);
    aio__gsource_sync_all(ctx);
}

bool aio_enable_external(AioContext *ctx)
{
    int old = atomic_read(&ctx->external_disable_cnt);

    do {
        if (old <= 0) {
            return false;
        }
    } while (!__atomic_compare_exchange_n(&ctx->external_disable_cnt, &old,
                                          old - 1, true, __ATOMIC_SEQ_CST,
                                          __ATOMIC_RELAXED));
    if (old == 1) {
        aio__gsource_sync_all(ctx);
        aio_notify(ctx);
    }
    return true;
}

bool aio_external_disabled(AioContext *ctx)
{
    return atomic_read(&ctx->external_disable_cnt) > 0;
}

bool aio__poll_disabled(AioContext *ctx)
{
    return atomic_read(&ctx->poll_disable_cnt) != 0;
}

void aio__add_ready_handler(AioHandler **ready, AioHandler *node, int revents)
{
    /* Steal it from a caller's ready list: fds are level-triggered, so the
     * caller loses nothing. */
    if (node->ready_pprev) {
        if (node->ready_next) {
            node->ready_next->ready_pprev = node->ready_pprev;
        }
        *node->ready_pprev = node->ready_next;
    }
    node->pfd.revents = revents;
    node->ready_revents = revents;
    node->ready_next = *ready;
    if (node->ready_next) {
        node->ready_next->ready_pprev = &node->ready_next;
    }
    *ready = node;
    node->ready_pprev = ready;
}

AioHandler *aio__pop_ready_handler(AioHandler **ready)
{
    AioHandler *node = *ready;

    if (node) {
        *ready = node->ready_next;
        if (node->ready_next) {
            node->ready_next->ready_pprev = ready;
        }
        node->ready_next = NULL;
        node->ready_pprev = NULL;
        node->pfd.revents = node->ready_revents;
    }
    return node;
}

void aio__handler_set_nval(AioContext *ctx, AioHandler *node)
{
    aio__lockcnt_lock(&ctx->list_lock);
    node->nval = true;
    node->pfd.revents = 0;
    node_sync_source(ctx, node);
    aio__lockcnt_unlock(&ctx->list_lock);
}

bool aio__dispatch_handler(AioContext *ctx, AioHandler *node)
{
    bool progress = false;
    bool poll_ready;
    int revents;

    revents = node->pfd.revents & node->pfd.events;
    node->pfd.revents = 0;
    poll_ready = node->poll_ready;
    node->poll_ready = false;

    /* A handler joins busy polling the first time it is dispatched:
     * activity on it is likely to continue. */
    if (!atomic_read(&node->deleted) && !node->poll_pprev && node->io_poll) {
        if (ctx->poll_started && node->io_poll_begin) {
            node->io_poll_begin(node->opaque);
        }
        aio__poll_list_insert(ctx, node);
    }
    if (!atomic_read(&node->deleted) && poll_ready && revents == 0 &&
        node->io_poll_ready) {
        /* Off the poll list while it runs, so that an aio_poll() nested in
         * the callback does not poll (and call) it again. */
        aio__poll_list_remove(node);
        ctx->counters.fd_dispatches += !node->is_notifier;
        aio__observed_call(ctx, AIO_EVENT_FD, NULL, node->pfd.fd,
                           node->io_poll_ready, node->opaque);
        /* A nested aio_poll() may have put it back already. */
        if (!atomic_read(&node->deleted) && !node->poll_pprev) {
            aio__poll_list_insert(ctx, node);
        }
        return !node->is_notifier;
    }
    if (!atomic_read(&node->deleted) && (revents & AIO_READ_EVENTS) &&
        aio__node_check(ctx, node) && node->io_read) {
        if (node->is_notifier) {
            node->io_read(node->opaque);
        } else {
            ctx->counters.fd_dispatches++;
            aio__observed_call(ctx, AIO_EVENT_FD, NULL, node->pfd.fd,
                               node->io_read, node->opaque);
        }
        progress = !node->is_notifier;
    }
    /* Re-read deleted: a read callback that removed its handler also
     * cancels the write callback of this dispatch. */
    if (!atomic_read(&node->deleted) && (revents & AIO_WRITE_EVENTS) &&
        aio__node_check(ctx, node) && node->io_write) {
        ctx->counters.fd_dispatches += !node->is_notifier;
        aio__observed_call(ctx, AIO_EVENT_FD, NULL, node->pfd.fd,
                           node->io_write, node->opaque);
        progress = true;
    }
    return progress;
}

bool aio__gsource_collect(AioContext *ctx, AioHandler **ready)
{
    if (aio__gsource_per_fd(ctx)) {
        return false; /* GLib's poll filled each node's revents */
    }
    ctx->fdmon_pfd.revents = 0;
    ctx->fdmon_ops->gsource_dispatch(ctx, ready);
    return true;
}

bool aio__dispatch_handlers(AioContext *ctx, bool collected, AioHandler **ready)
{
    bool progress = false;

    if (collected) {
        AioHandler *node;

        while ((node = aio__pop_ready_handler(ready))) {
            progress |= aio__dispatch_handler(ctx, node);
        }
        /* aio_add_sqe() completions, in the same phase. */
        return aio__fdmon_io_uring_dispatch(ctx) || progress;
    }

    /* Nodes inserted meanwhile go in at the head and are not visited;
     * retired ones stay linked (and skipped) until the walk is over. */
    for (AioHandler *node = atomic_load_acquire(&ctx->handlers); node;
         node = atomic_load_acquire(&node->next)) {
        if (node->pfd.revents & G_IO_NVAL) {
            aio__handler_set_nval(ctx, node);
            continue;
        }
        /* Nothing to do for a node that is not ready, was not found ready
         * by busy polling and has no poll list to join (the common case:
         * the context's own notifier, between notifications). */
        if (!node->pfd.revents && !node->poll_ready &&
            (node->poll_pprev || !node->io_poll)) {
            continue;
        }
        progress |= aio__dispatch_handler(ctx, node);
    }
    return aio__fdmon_io_uring_dispatch(ctx) || progress;
}

bool aio__pending(AioContext *ctx)
{
    bool result = false;

    if (!aio__gsource_per_fd(ctx)) {
        return ctx->fdmon_ops->gsource_check(ctx);
    }

    aio__lockcnt_inc(&ctx->list_lock);
    for (AioHandler *node = atomic_load_acquire(&ctx->handlers); node;
         node = atomic_load_acquire(&node->next)) {
        int revents = node->pfd.revents & node->pfd.events;

        if (atomic_read(&node->deleted) || !aio__node_check(ctx, node)) {
            continue;
        }
        if (node->pfd.revents & G_IO_NVAL) {
            aio__handler_set_nval(ctx, node);
            continue;
        }
        if (((revents & AIO_READ_EVENTS) && node->io_read) ||
            ((revents & AIO_WRITE_EVENTS) && node->io_write)) {
            result = true;
            break;
        }
    }
    aio__lockcnt_dec(&ctx->list_lock);
    return result;
}

void aio__free_deleted_handlers(AioContext *ctx)
{
    AioHandler *node;

    if (!atomic_read(&ctx->deleted_handlers)) {
        return;
    }
    /* Only the outermost walker frees; a nested one leaves it to it. */
    if (!aio__lockcnt_dec_if_lock(&ctx->list_lock)) {
        return;
    }
    while ((node = ctx->deleted_handlers)) {
        ctx->deleted_handlers = node->next_deleted;
        handler_free(ctx, node);
    }
    aio__lockcnt_inc_and_unlock(&ctx->list_lock);
}
