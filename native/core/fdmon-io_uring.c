/*
 * fdmon-io_uring.c — the fd monitor built on io_uring: each fd has one
 * one-shot IORING_OP_POLL_ADD in flight, re-armed after every completion.
 *
 * Changes to the fd set are not made at once: aio_set_fd_handler() (any
 * thread) only flags the node and pushes it on ctx->uring.submit_list; the home
 * thread turns that list into SQEs before it waits (or in GSource prepare).
 *
 * Removal is the delicate part.  POLL_ADD and POLL_REMOVE are asynchronous,
 * so a retired node may still be named by an in-flight POLL_ADD: it is
 * freed only once that POLL_ADD completes (normally, or as -ECANCELED by our
 * POLL_REMOVE).  Until then the node is marked deleted (walkers skip it)
 * and owned by this back end (fdmon_owned); its completion moves it to the
 * deleted list, from which the outermost walker frees it.
 *
 * Busy polling: a handler on the poll list has io_poll to tell when it is
 * ready, so while polling runs it "rests": its POLL_ADD is not re-armed
 * after a completion (nor submitted, if it was pending when polling
 * began).  Otherwise the re-arm itself, waiting in the SQ ring, would end
 * every busy poll at once (need_wait).  Resting nodes are armed again
 * before any blocking wait or GLib poll, and when they leave the poll list.
 *
 * The context's own notifier is the exception to one-shot: its POLL_ADD is
 * multishot (if the kernel has it), because its handler always drains the
 * eventfd, so edge-triggered reports lose nothing, and every wake-up by
 * aio_notify() then costs no re-arm, i.e. no io_uring_enter(), which is
 * what a GLib iteration woken by a BH would otherwise pay each time.
 *
 * Under GLib, the ring fd itself is what GLib polls: it turns readable when
 * completions are waiting.
 *
 * Other requests share the ring (aio_add_sqe(), see aio.h): their
 * user_data is their CqeHandler's address with bit 0 set, which no
 * AioHandler's has (nor NULL, a TIMEOUT's or POLL_REMOVE's).  Their CQEs
 * are copied into the handler and queued on ctx->uring.cqe_ready, from
 * which aio__fdmon_io_uring_dispatch() runs them in the fd-handler phase.
 * The queue lives in the context, not the ring.  When an auto context
 * gives way to ppoll while such requests are in the kernel (which may
 * still write into their buffers, and a read of a pipe may never end),
 * stop() does not wait for them: it cancels the POLL_ADDs and keeps the
 * ring as ctx->uring.retired, whose fd becomes an internal handler of the
 * context; it queues their CQEs like wait() did, and closes the ring
 * after the last one.  New requests go elsewhere (io_uring-file.c: its
 * private ring).  Callbacks queued meanwhile run under whichever monitor
 * follows, woken by a one-shot BH.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aiocontext-config.h" /* CONFIG_LINUX_IO_URING */
#include "fdmon.h"

#include <errno.h>
#include <fcntl.h>

#ifdef CONFIG_LINUX_IO_URING
#include <liburing.h>

enum {
    FDMON_IO_URING_ENTRIES = 128,
    FDMON_IO_URING_CQ_ENTRIES = 4096,
    FDMON_IO_URING_PENDING = 1 << 0, /* on ctx->uring.submit_list */
    FDMON_IO_URING_ADD = 1 << 1,     /* submit a POLL_ADD */
    FDMON_IO_URING_REMOVE = 1 << 2,  /* retired: POLL_REMOVE, then free */
};

static struct io_uring *ring_of(AioContext *ctx)
{
    return ctx->uring.ring;
}

/* Any thread.  Same wait-free shape as bh.c's enqueue. */
static void enqueue(AioContext *ctx, AioHandler *node, unsigned flags)
{
    unsigned old = __atomic_fetch_or(
        &node->uring.flags, FDMON_IO_URING_PENDING | flags, __ATOMIC_SEQ_CST);

    if (!(old & FDMON_IO_URING_PENDING)) {
        AioHandler *head = atomic_read(&ctx->uring.submit_list);

        do {
            node->uring.submit_next = head;
        } while (!__atomic_compare_exchange_n(&ctx->uring.submit_list, &head,
                                              node, true, __ATOMIC_RELEASE,
                                              __ATOMIC_RELAXED));
    }
}

/* Returns an SQE, flushing the SQ ring to the kernel if it is full. */
static struct io_uring_sqe *get_sqe(AioContext *ctx)
{
    struct io_uring *ring = ring_of(ctx);
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

    while (!sqe) {
        int ret = io_uring_submit(ring);

        g_assert(ret >= 0 || ret == -EINTR || ret == -EAGAIN);
        sqe = io_uring_get_sqe(ring);
    }
    return sqe;
}

static void add_poll_add_sqe(AioContext *ctx, AioHandler *node)
{
    struct io_uring_sqe *sqe = get_sqe(ctx);

    node->uring.multishot = node->is_notifier && !ctx->uring.no_multishot;
    if (node->uring.multishot) {
        io_uring_prep_poll_multishot(sqe, node->pfd.fd, node->pfd.events);
    } else {
        io_uring_prep_poll_add(sqe, node->pfd.fd, node->pfd.events);
    }
    io_uring_sqe_set_data(sqe, node);
    node->uring.inflight = true;
}

/* A retired node that the kernel no longer names.  Home thread. */
static void release_node(AioContext *ctx, AioHandler *node)
{
    aio__lockcnt_lock(&ctx->list_lock);
    aio__handler_release(ctx, node);
    aio__lockcnt_unlock(&ctx->list_lock);
}

static void add_poll_remove_sqe(AioContext *ctx, AioHandler *node)
{
    struct io_uring_sqe *sqe = get_sqe(ctx);

    /* The node's address is only a key here; the kernel never follows it. */
    io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)node);
    io_uring_sqe_set_data(sqe, NULL);
}

/* Whether this aio_poll() call busy-polls: only then may polled handlers
 * go unwatched by the ring. */
static bool busy_polling(AioContext *ctx)
{
    return ctx->poll_started && ctx->poll_this_call;
}

/* Whether busy polling checks @node, so that it can go without a
 * POLL_ADD for now. */
static bool can_rest(AioHandler *node)
{
    return node->io_poll && node->poll_pprev && !atomic_read(&node->deleted);
}

static void rest(AioContext *ctx, AioHandler *node)
{
    if (node->uring.rest_pprev) {
        return;
    }
    node->uring.rest_next = ctx->uring.resting;
    if (node->uring.rest_next) {
        node->uring.rest_next->uring.rest_pprev = &node->uring.rest_next;
    }
    ctx->uring.resting = node;
    node->uring.rest_pprev = &ctx->uring.resting;
}

static void unrest(AioHandler *node)
{
    if (node->uring.rest_pprev) {
        if (node->uring.rest_next) {
            node->uring.rest_next->uring.rest_pprev = node->uring.rest_pprev;
        }
        *node->uring.rest_pprev = node->uring.rest_next;
        node->uring.rest_next = NULL;
        node->uring.rest_pprev = NULL;
    }
}

/* Arms the resting nodes again: all of them, or (@polling) those that
 * busy polling no longer checks.  Home thread. */
static void arm_resting(AioContext *ctx, bool polling)
{
    for (AioHandler *node = ctx->uring.resting, *next; node; node = next) {
        next = node->uring.rest_next;
        if (!polling || !can_rest(node)) {
            unrest(node);
            if (!node->nval) {
                add_poll_add_sqe(ctx, node);
            }
        }
    }
}

/* Turns submit_list into SQEs; with @polling, nodes that busy polling
 * checks rest instead of being armed.  Home thread. */
static void fill_sq_ring(AioContext *ctx, bool polling)
{
    AioHandler *node = __atomic_exchange_n(&ctx->uring.submit_list, NULL,
                                           __ATOMIC_ACQUIRE);

    while (node) {
        /* Read the link before PENDING goes: then the node may be freed
         * (below, or by its completion). */
        AioHandler *next = node->uring.submit_next;
        /* REMOVE stays set: it tells the completion to free the node. */
        unsigned flags = __atomic_fetch_and(
            &node->uring.flags,
            ~(unsigned)(FDMON_IO_URING_PENDING | FDMON_IO_URING_ADD),
            __ATOMIC_SEQ_CST);

        if (flags & FDMON_IO_URING_REMOVE) {
            unrest(node);
            if (node->uring.inflight) {
                add_poll_remove_sqe(ctx, node); /* its CQE frees it */
            } else {
                release_node(ctx, node); /* never armed, or completed */
            }
        } else if ((flags & FDMON_IO_URING_ADD) && !node->uring.inflight) {
            if (polling && can_rest(node)) {
                rest(ctx, node);
            } else {
                unrest(node);
                add_poll_add_sqe(ctx, node);
            }
        }
        node = next;
    }
}

/* The user_data aio_add_sqe() gives @h's SQE: its address with bit 0 set,
 * which no AioHandler's (the monitor's POLL_ADDs) has. */
static uint64_t cqe_handler_user_data(CqeHandler *h)
{
    return (uint64_t)(uintptr_t)h | 1;
}

/* Submits what waits in the SQ ring (aio_add_sqe() requests) without
 * arming anything: for the paths where poll(2) stands in.  On failure
 * they stay queued for the next call. */
static void submit_sqes(AioContext *ctx)
{
    if (io_uring_sq_ready(ring_of(ctx))) {
        io_uring_submit(ring_of(ctx));
    }
}

/* Queues an aio_add_sqe() completion for the dispatch phase. */
static void queue_cqe_handler(AioContext *ctx, struct io_uring_cqe *cqe)
{
    CqeHandler *h = (CqeHandler *)(uintptr_t)(cqe->user_data & ~(__u64)1);

    h->cqe.user_data = cqe->user_data;
    h->cqe.res = cqe->res;
    h->cqe.flags = cqe->flags;
    h->next = NULL;
    if (ctx->uring.cqe_ready_tail) {
        *ctx->uring.cqe_ready_tail = h;
    } else {
        ctx->uring.cqe_ready = h;
    }
    ctx->uring.cqe_ready_tail = &h->next;
    g_assert(ctx->uring.sqe_inflight > 0);
    ctx->uring.sqe_inflight--;
}

/* Wakes the loop for queued completions that no CQE will announce (GLib
 * may be about to block, or the ring is gone): a BH makes both aio_poll()
 * and the GSource check go on to the dispatch phase. */
static void nop_bh(void *opaque)
{
    (void)opaque;
}

static void kick_cqe_handlers(AioContext *ctx)
{
    if (ctx->uring.cqe_ready) {
        aio_bh_schedule_oneshot(ctx, nop_bh, NULL);
    }
}

/* Returns: whether @cqe made a handler ready.  Home thread. */
static bool process_cqe(AioContext *ctx, AioHandler **ready,
                        struct io_uring_cqe *cqe)
{
    AioHandler *node = io_uring_cqe_get_data(cqe);
    unsigned flags;

    if (cqe->user_data & 1) {
        /* aio_add_sqe()'s, parked or not: block I/O is never external. */
        queue_cqe_handler(ctx, cqe);
        return false;
    }
    if (!node) {
        return false; /* a TIMEOUT or POLL_REMOVE completion */
    }
    /* A multishot POLL_ADD stays armed while the kernel says "more". */
    node->uring.inflight = node->uring.multishot &&
                           (cqe->flags & IORING_CQE_F_MORE);
    flags = __atomic_load_n(&node->uring.flags, __ATOMIC_SEQ_CST);
    if (flags & FDMON_IO_URING_REMOVE) {
        /* Once its last POLL_ADD is over: if the node still waits on
         * submit_list, fill_sq_ring() frees it when it gets there (it
         * must not be freed under the list); else free it now. */
        if (!node->uring.inflight && !(flags & FDMON_IO_URING_PENDING)) {
            release_node(ctx, node);
        }
        return false;
    }
    if (node->uring.multishot && cqe->res == -EINVAL) {
        /* An old kernel: one-shot from now on. */
        ctx->uring.no_multishot = true;
        enqueue(ctx, node, FDMON_IO_URING_ADD);
        return false;
    }
    if (cqe->res < 0 || ((cqe->res & (G_IO_HUP | G_IO_ERR)) &&
                         fcntl(node->pfd.fd, F_GETFD) < 0 && errno == EBADF)) {
        /* -EBADF and the like: the fd is gone; do not re-arm (it would
         * fail again at once, forever).  The POLL_ADD holds the file open,
         * so an fd closed while registered shows up as a HUP when its peer
         * goes: then our fd number is no longer open, and poll(2) would
         * have said POLLNVAL. */
        if (node->uring.inflight) {
            add_poll_remove_sqe(ctx, node); /* a multishot one */
        }
        aio__handler_set_nval(ctx, node);
        return false;
    }
    if (!ready) {
        /* Parked: poll(2) stands in while external handlers are paused
         * and serves this fd; the completion is stale by the time
         * io_uring takes over again, so re-arm then instead. */
        node->uring.parked = true;
        ctx->uring.parked = true;
        return false;
    }
    aio__add_ready_handler(ready, node, cqe->res);
    if (node->uring.inflight) {
        /* Multishot: still armed. */
    } else if (busy_polling(ctx) && can_rest(node)) {
        rest(ctx, node); /* busy polling checks it from now on */
    } else {
        /* One-shot: re-arm, but only at the next submission, after the
         * callback ran.  Arming now (a full SQ ring gets flushed) would
         * complete at once on the undrained fd and call it again. */
        enqueue(ctx, node, FDMON_IO_URING_ADD);
    }
    return true;
}

/* Processes every completion, including those the kernel kept aside
 * because the CQ ring was full.  @ready NULL parks the nodes instead. */
static int process_cq_ring(AioContext *ctx, AioHandler **ready)
{
    struct io_uring *ring = ring_of(ctx);
    struct io_uring_cqe *cqe;
    unsigned head, seen;
    int n = 0;

    do {
        seen = 0;
        io_uring_for_each_cqe(ring, head, cqe)
        {
            n += process_cqe(ctx, ready, cqe);
            seen++;
        }
        io_uring_cq_advance(ring, seen);
        if (io_uring_cq_has_overflow(ring)) {
            io_uring_get_events(ring); /* flush them into the ring */
        }
    } while (seen || io_uring_cq_ready(ring));
    return n;
}

/* Moves the handlers the GSource check found ready onto @ready (empty, or
 * not: they go first).  Home thread. */
static void take_checked(AioContext *ctx, AioHandler **ready)
{
    AioHandler *node;

    while ((node = aio__pop_ready_handler(&ctx->uring.checked))) {
        aio__add_ready_handler(ready, node, node->pfd.revents);
    }
}

/* Re-arms the nodes parked while external handlers were paused. */
static void unpark(AioContext *ctx)
{
    if (!ctx->uring.parked) {
        return;
    }
    ctx->uring.parked = false;
    aio__lockcnt_lock(&ctx->list_lock);
    for (AioHandler *node = ctx->handlers; node; node = node->next) {
        if (node->uring.parked) {
            node->uring.parked = false;
            if (!atomic_read(&node->deleted)) {
                enqueue(ctx, node, FDMON_IO_URING_ADD);
            }
        }
    }
    aio__lockcnt_unlock(&ctx->list_lock);
}

static void fdmon_io_uring_update(AioContext *ctx, AioHandler *old_node,
                                  AioHandler *new_node)
{
    if (new_node) {
        enqueue(ctx, new_node, FDMON_IO_URING_ADD);
    }
    if (old_node) {
        /* Not freed before its POLL_ADD completes, nor while it rests:
         * fill_sq_ring() decides, on the home thread. */
        old_node->fdmon_owned = true;
        enqueue(ctx, old_node, FDMON_IO_URING_REMOVE);
    }
}

/* Busy polling is adaptive per handler, and a handler's poll time only
 * grows when it is dispatched; aio_add_sqe() completions belong to no
 * handler.  So when some are queued and polling is on, the engines'
 * internal handlers whose poll hook sees them (io_uring-file's) are made
 * ready too, as if their poll hook had fired: they join busy polling and
 * their poll time follows the block I/O's rhythm.  Home thread,
 * list_lock incremented. */
static void ready_sqe_pollers(AioContext *ctx, AioHandler **ready)
{
    if (!ctx->uring.cqe_ready || !atomic_read(&ctx->poll_max_ns)) {
        return;
    }
    for (AioHandler *node = atomic_load_acquire(&ctx->handlers); node;
         node = atomic_load_acquire(&node->next)) {
        if (node->is_internal && node->io_poll && !node->poll_ready &&
            !atomic_read(&node->deleted) && node->io_poll(node->opaque)) {
            aio__add_ready_handler(ready, node, 0);
            node->poll_ready = true;
        }
    }
}

static int fdmon_io_uring_wait(AioContext *ctx, AioHandler **ready,
                               int64_t timeout)
{
    struct __kernel_timespec ts;
    unsigned wait_nr = 1;
    bool polling;
    int ret;

    /* io_uring cannot leave out paused external handlers: let poll do it,
     * and park whatever io_uring reports meanwhile. */
    if (aio_external_disabled(ctx)) {
        /* fdmon-poll also polls the ring fd then, so that aio_add_sqe()
         * completions end the wait; they are queued, not parked. */
        submit_sqes(ctx);
        process_cq_ring(ctx, NULL);
        ret = aio__fdmon_poll_ops.wait(ctx, ready,
                                       ctx->uring.cqe_ready ? 0 : timeout);
        process_cq_ring(ctx, NULL);
        return ret;
    }
    /* Completions queued for the dispatch phase: do not block. */
    if (ctx->uring.cqe_ready) {
        timeout = 0;
    }
    /* A GSource check found these but no dispatch followed (the drivers
     * take turns): they are this wait's now. */
    take_checked(ctx, ready);
    /* Polled handlers may stay unwatched only through a wait that does
     * not block, in a call that busy-polls: any other call would leave
     * them with nobody looking. */
    polling = timeout == 0 && busy_polling(ctx);
    unpark(ctx);
    fill_sq_ring(ctx, polling);
    arm_resting(ctx, polling);
    if (timeout == 0) {
        wait_nr = 0;
    } else if (timeout > 0) {
        /* Completes after the deadline, or as soon as one other
         * completion arrives (count 1).  The kernel copies @ts while
         * submitting, so the stack is fine. */
        struct io_uring_sqe *sqe = get_sqe(ctx);

        ts.tv_sec = timeout / 1000000000LL;
        ts.tv_nsec = timeout % 1000000000LL;
        io_uring_prep_timeout(sqe, &ts, 1, 0);
        io_uring_sqe_set_data(sqe, NULL);
    }
    do {
        ret = io_uring_submit_and_wait(ring_of(ctx), wait_nr);
    } while (ret == -EINTR);
    if (ret < 0 && ret != -ETIME) {
        return ret;
    }
    ret = process_cq_ring(ctx, ready);
    ready_sqe_pollers(ctx, ready);
    return ret;
}

static void fdmon_io_uring_poll_begin(AioContext *ctx)
{
    struct io_uring *ring = ring_of(ctx);

    if (aio_external_disabled(ctx)) {
        return; /* wait() hands over to poll(2) anyway */
    }
    unpark(ctx);
    fill_sq_ring(ctx, true);
    arm_resting(ctx, true); /* those off the poll list meanwhile */
    if (io_uring_sq_ready(ring)) {
        io_uring_submit(ring); /* on failure, need_wait() stays true */
    }
}

static void fdmon_io_uring_poll_leave(AioContext *ctx, AioHandler *node)
{
    if (node->uring.rest_pprev) {
        unrest(node);
        enqueue(ctx, node, FDMON_IO_URING_ADD);
    }
}

static bool fdmon_io_uring_need_wait(AioContext *ctx)
{
    struct io_uring *ring = ring_of(ctx);

    /* While external handlers are paused, poll(2) stands in (see wait())
     * and is the only thing that sees the fds: handlers that left the poll
     * list, or never joined it, would otherwise wait for enableExternal().
     * Busy polling therefore ends at once in that state. */
    if (aio_external_disabled(ctx)) {
        return true;
    }
    /* Completions or submissions waiting: userspace polling must stop so
     * that wait() handles them.  This is what lets io_uring drop idle poll
     * handlers without starving fds. */
    return io_uring_cq_ready(ring) || io_uring_cq_has_overflow(ring) ||
           io_uring_sq_ready(ring) ||
           atomic_read(&ctx->uring.submit_list) != NULL || ctx->uring.parked ||
           /* Found ready by a GSource check that no dispatch followed. */
           ctx->uring.checked != NULL ||
           /* aio_add_sqe() completions waiting for the dispatch phase. */
           ctx->uring.cqe_ready != NULL ||
           /* Resting handlers, and this call will not poll them: wait()
            * arms them. */
           (ctx->uring.resting && !ctx->poll_this_call);
}

static void fdmon_io_uring_gsource_prepare(AioContext *ctx)
{
    /* While external handlers are paused GLib polls every fd itself (see
     * aio__gsource_per_fd), so io_uring's reports are parked. */
    if (aio_external_disabled(ctx)) {
        submit_sqes(ctx);
        process_cq_ring(ctx, NULL);
        kick_cqe_handlers(ctx); /* GLib would not see them */
        return;
    }
    unpark(ctx);
    fill_sq_ring(ctx, false);
    arm_resting(ctx, false);
    io_uring_submit(ring_of(ctx));
    /* Queued by a check whose dispatch did not follow. */
    kick_cqe_handlers(ctx);
}

static bool fdmon_io_uring_gsource_check(AioContext *ctx)
{
    struct io_uring *ring = ring_of(ctx);

    /* Not every completion makes a handler ready (a POLL_REMOVE's, a
     * cancelled POLL_ADD's): only those that do may make GLib dispatch,
     * so they are processed here and held for the dispatch, as are
     * aio_add_sqe() completions (on ctx->uring.cqe_ready). */
    if (io_uring_cq_ready(ring) || io_uring_cq_has_overflow(ring)) {
        aio__lockcnt_inc(&ctx->list_lock);
        process_cq_ring(ctx, &ctx->uring.checked);
        aio__lockcnt_dec(&ctx->list_lock);
    }
    return ctx->uring.checked != NULL || ctx->uring.cqe_ready != NULL;
}

static void fdmon_io_uring_gsource_dispatch(AioContext *ctx, AioHandler **ready)
{
    take_checked(ctx, ready);
    process_cq_ring(ctx, ready);
}

const FDMonOps aio__fdmon_io_uring_ops = {
    .update = fdmon_io_uring_update,
    .wait = fdmon_io_uring_wait,
    .need_wait = fdmon_io_uring_need_wait,
    .poll_begin = fdmon_io_uring_poll_begin,
    .poll_leave = fdmon_io_uring_poll_leave,
    .gsource_prepare = fdmon_io_uring_gsource_prepare,
    .gsource_check = fdmon_io_uring_gsource_check,
    .gsource_dispatch = fdmon_io_uring_gsource_dispatch,
    .supports_polling = true,
    .kind = AIO_FDMON_IO_URING,
};

int aio__fdmon_io_uring_setup(AioContext *ctx)
{
    struct io_uring *ring = g_new0(struct io_uring, 1);
    struct io_uring_params params = {
        /* Each fd has at most one POLL_ADD in flight: a roomy CQ ring makes
         * overflow (handled, but slower) rare up to thousands of fds. */
        .flags = IORING_SETUP_CQSIZE,
        .cq_entries = FDMON_IO_URING_CQ_ENTRIES,
    };
    int ret = io_uring_queue_init_params(FDMON_IO_URING_ENTRIES, ring, &params);

    if (ret < 0) {
        g_free(ring);
        return ret;
    }
    aio__lockcnt_lock(&ctx->list_lock);
    ctx->uring.ring = ring;
    ctx->fdmon_ops = &aio__fdmon_io_uring_ops;
    ctx->fdmon_pfd.fd = ring->ring_fd;
    /* Arm what exists already (the context's notifier). */
    for (AioHandler *node = ctx->handlers; node; node = node->next) {
        if (!node->deleted && node->pfd.events) {
            enqueue(ctx, node, FDMON_IO_URING_ADD);
        }
    }
    aio__gsource_sync_all_locked(ctx);
    aio__lockcnt_unlock(&ctx->list_lock);
    return 0;
}

void aio__fdmon_io_uring_cleanup(AioContext *ctx)
{
    if (ctx->uring.retired) {
        /* Finalization: every handler is gone already. */
        io_uring_queue_exit(ctx->uring.retired);
        g_free(ctx->uring.retired);
        ctx->uring.retired = NULL;
    }
    if (ctx->uring.ring) {
        io_uring_queue_exit(ctx->uring.ring);
        g_free(ctx->uring.ring);
        ctx->uring.ring = NULL;
    }
}

bool aio_has_io_uring(AioContext *ctx)
{
    return ctx->fdmon_ops == &aio__fdmon_io_uring_ops;
}

void aio_add_sqe(AioContext *ctx,
                 void (*prep_sqe)(struct io_uring_sqe *sqe, void *opaque),
                 void *opaque, CqeHandler *cqe_handler)
{
    struct io_uring_sqe *sqe;

    g_assert(aio_has_io_uring(ctx));
    sqe = get_sqe(ctx);
    prep_sqe(sqe, opaque);
    if (cqe_handler) {
        io_uring_sqe_set_data64(sqe, cqe_handler_user_data(cqe_handler));
        ctx->uring.sqe_inflight++;
    } else {
        io_uring_sqe_set_data(sqe, NULL);
    }
}

bool aio__fdmon_io_uring_cqe_pending(AioContext *ctx)
{
    return ctx->uring.cqe_ready ||
           (aio_has_io_uring(ctx) && io_uring_cq_ready(ring_of(ctx))) ||
           (ctx->uring.retired && io_uring_cq_ready(ctx->uring.retired));
}

/* Returns: whether @ring holds a CQE of aio_add_sqe() (not consumed). */
static bool ring_has_sqe_cqe(struct io_uring *ring)
{
    struct io_uring_cqe *cqe;
    unsigned head;

    io_uring_for_each_cqe(ring, head, cqe)
    {
        if (cqe->user_data & 1) {
            return true;
        }
    }
    return false;
}

bool aio__fdmon_io_uring_sqe_done(AioContext *ctx)
{
    return ctx->uring.cqe_ready ||
           (aio_has_io_uring(ctx) && ring_has_sqe_cqe(ring_of(ctx))) ||
           (ctx->uring.retired && ring_has_sqe_cqe(ctx->uring.retired));
}

bool aio__fdmon_io_uring_cancel(AioContext *ctx, CqeHandler *h)
{
    struct io_uring *ring = aio_has_io_uring(ctx) ? ring_of(ctx)
                                                  : ctx->uring.retired;
    struct io_uring_sqe *sqe;

    if (!ring) {
        return false;
    }
    sqe = io_uring_get_sqe(ring);
    if (!sqe) {
        io_uring_submit(ring);
        sqe = io_uring_get_sqe(ring);
        if (!sqe) {
            return false;
        }
    }
    io_uring_prep_cancel64(sqe, cqe_handler_user_data(h), 0);
    io_uring_sqe_set_data(sqe, NULL);
    io_uring_submit(ring); /* on failure, at the next wait */
    return true;
}

/* The retired ring's fd is readable: queue its aio_add_sqe() completions
 * (the others are cancelled POLL_ADDs and POLL_REMOVEs, whose nodes may
 * be gone: never followed), and close it after the last one.  Runs in
 * the fd-handler phase, so the queued callbacks run in this one too. */
static void retired_read(EventNotifier *e)
{
    AioContext *ctx = container_of(e, AioContext, uring.retired_e);
    struct io_uring *ring = ctx->uring.retired;
    struct io_uring_cqe *cqe;
    unsigned head, seen;

    do {
        seen = 0;
        io_uring_for_each_cqe(ring, head, cqe)
        {
            if (cqe->user_data & 1) {
                queue_cqe_handler(ctx, cqe);
            }
            seen++;
        }
        io_uring_cq_advance(ring, seen);
        if (io_uring_cq_has_overflow(ring)) {
            io_uring_get_events(ring);
        }
    } while (seen || io_uring_cq_ready(ring));
    if (io_uring_sq_ready(ring)) {
        io_uring_submit(ring); /* what a failed submission left */
    }
    if (ctx->uring.sqe_inflight == 0) {
        /* Off the fd sets before the fd closes. */
        aio__set_internal_event_notifier(ctx, e, NULL, NULL, NULL);
        ctx->uring.retired = NULL;
        io_uring_queue_exit(ring);
        g_free(ring);
    }
}

static bool retired_poll(void *opaque)
{
    AioContext *ctx = container_of((EventNotifier *)opaque, AioContext,
                                   uring.retired_e);

    return ctx->uring.retired && io_uring_cq_ready(ctx->uring.retired) > 0;
}

void aio__fdmon_io_uring_stop(AioContext *ctx)
{
    AioHandler *node, *next_node;
    struct io_uring *retired = NULL;

    if (ctx->fdmon_ops != &aio__fdmon_io_uring_ops) {
        return;
    }
    /* Completions already there are queued (POLL_ADDs' parked: the state
     * is reset below).  Outside the mutex: releasing a node takes it. */
    process_cq_ring(ctx, NULL);
    /* The mutex keeps update() (any thread) out until poll is in place. */
    aio__lockcnt_lock(&ctx->list_lock);
    if (ctx->uring.sqe_inflight) {
        /* Block I/O still in the kernel: the ring stays (retired) until
         * it completed; only the POLL_ADDs go. */
        for (node = ctx->handlers; node; node = node->next) {
            if (node->uring.inflight) {
                add_poll_remove_sqe(ctx, node);
            }
        }
        retired = ring_of(ctx);
        io_uring_submit(retired); /* on failure, retired_read() retries */
        ctx->uring.ring = NULL;
    } else {
        aio__fdmon_io_uring_cleanup(ctx);
    }
    /* From here on the kernel follows no node (a retired ring's CQEs
     * name them only as numbers), so the retired ones this back end
     * still owned are released, and nothing is armed, waiting or
     * resting. */
    node = __atomic_exchange_n(&ctx->uring.submit_list, NULL, __ATOMIC_ACQUIRE);
    while (node) {
        AioHandler *next = node->uring.submit_next;

        __atomic_store_n(&node->uring.flags, 0, __ATOMIC_SEQ_CST);
        node = next;
    }
    /* Held ready nodes are dropped: their fds are level-triggered and
     * poll(2) sees them again (the notifier's eventfd too, undrained). */
    while (aio__pop_ready_handler(&ctx->uring.checked)) {
    }
    for (node = ctx->handlers; node; node = next_node) {
        next_node = node->next; /* before it may be freed */
        memset(&node->uring, 0, sizeof(node->uring));
        if (node->fdmon_owned && atomic_read(&node->deleted)) {
            aio__handler_release(ctx, node);
        }
    }
    ctx->uring.resting = NULL;
    ctx->uring.parked = false;
    ctx->fdmon_ops = &aio__fdmon_poll_ops;
    ctx->fdmon_pfd.fd = -1;
    aio__gsource_sync_all_locked(ctx);
    aio__lockcnt_unlock(&ctx->list_lock);
    if (retired) {
        ctx->uring.retired = retired;
        ctx->uring.retired_e = (EventNotifier){
            .rfd = retired->ring_fd,
            .wfd = retired->ring_fd,
            .initialized = true,
        };
        aio__set_internal_event_notifier(ctx, &ctx->uring.retired_e,
                                         retired_read, retired_poll,
                                         retired_read);
    }
    /* Completions queued above run under poll now. */
    kick_cqe_handlers(ctx);
}

#else /* !CONFIG_LINUX_IO_URING */

bool aio_has_io_uring(AioContext *ctx)
{
    (void)ctx;
    return false;
}

void aio_add_sqe(AioContext *ctx,
                 void (*prep_sqe)(struct io_uring_sqe *sqe, void *opaque),
                 void *opaque, CqeHandler *cqe_handler)
{
    (void)ctx;
    (void)prep_sqe;
    (void)opaque;
    (void)cqe_handler;
    g_assert_not_reached(); /* aio_has_io_uring() said false */
}

bool aio__fdmon_io_uring_cancel(AioContext *ctx, CqeHandler *h)
{
    (void)ctx;
    (void)h;
    return false;
}

bool aio__fdmon_io_uring_sqe_done(AioContext *ctx)
{
    return ctx->uring.cqe_ready != NULL;
}

bool aio__fdmon_io_uring_cqe_pending(AioContext *ctx)
{
    (void)ctx;
    return false;
}

int aio__fdmon_io_uring_setup(AioContext *ctx)
{
    (void)ctx;
    return -ENOSYS;
}

void aio__fdmon_io_uring_cleanup(AioContext *ctx)
{
    (void)ctx;
}

void aio__fdmon_io_uring_stop(AioContext *ctx)
{
    (void)ctx;
}

#endif

bool aio__fdmon_io_uring_dispatch(AioContext *ctx)
{
    bool progress = false;
    CqeHandler *h;

    /* One at a time off the head: a callback that nests aio_poll() lets
     * the nested call run the rest, each exactly once. */
    while ((h = ctx->uring.cqe_ready)) {
        ctx->uring.cqe_ready = h->next;
        if (!h->next) {
            ctx->uring.cqe_ready_tail = NULL;
        }
        h->next = NULL;
        h->cb(h);
        progress = true;
    }
    return progress;
}
