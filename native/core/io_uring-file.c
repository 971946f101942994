/*
 * io_uring-file.c — file reads, writes, fdatasync and hole punching as
 * io_uring SQEs, on the context's fd-monitor ring (aio_add_sqe) when that
 * is io_uring, else on a private ring (see io_uring-file.h).
 *
 * A request is PENDING (on s->pending, waiting for an SQE: not submitted
 * yet, plugged, or to be resubmitted), KERNEL (an SQE carries it), or DONE
 * (its result known, on s->done, or being completed).  Each request in
 * the kernel is on one ring (acb->shared says which), chosen when its SQE
 * is made.  Completion runs in the home thread from the private ring's
 * eventfd handler, its poll hook, the completion BH, or (shared ring) the
 * loop's CqeHandler dispatch; the BH is scheduled before each callback,
 * so that a callback nesting aio_poll() still sees the other completions
 * (each CQE is consumed before its callback runs, so re-entry never sees
 * it twice).
 *
 * Every field is home thread only; the kernel is the other party, and
 * liburing orders the ring with the kernel (acquire load of the CQ tail,
 * release store of the SQ tail).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "io_uring-file.h"
#include "aio-internal.h"
#include "aiocontext-config.h" /* CONFIG_LINUX_IO_URING */

#include <errno.h>

#ifdef CONFIG_LINUX_IO_URING
#include <fcntl.h>
#include <liburing.h>
#include <stddef.h>

#define LURING_ENTRIES 256
/* Requests at most in the kernel on the monitor's ring: half its CQ ring
 * (fdmon-io_uring.c's 4096), leaving the rest to the POLL_ADDs. */
#define LURING_SHARED_MAX 2048

enum {
    LURING_PENDING,
    LURING_KERNEL,
    LURING_DONE
};

typedef struct LuringAIOCB {
    BlockAIOCB common;
    LuringState *s;
    int fd;
    int type; /* QEMU_AIO_* */
    int state;
    bool cancelled;         /* an ASYNC_CANCEL was sent */
    bool shared;            /* KERNEL: on the monitor's ring */
    CqeHandler cqe_handler; /* the monitor ring's completion */
    int64_t offset;
    int64_t bytes;     /* discard */
    struct iovec *iov; /* what is left to transfer (our copy) */
    int niov;
    size_t size;     /* total bytes of the read or write */
    size_t done;     /* transferred so far */
    int ret;         /* DONE: the result */
    AioReqLink link; /* s->pending or s->done */
} LuringAIOCB;

struct LuringState {
    AioContext *ctx;
    struct io_uring ring;
    EventNotifier e;
    QEMUBH *completion_bh;
    AioReqFifo pending;
    AioReqFifo done;
    unsigned plugged;
    unsigned in_kernel; /* requests with an SQE (cancels excluded) */
    unsigned in_shared; /* ...of them, on the monitor's ring */
    unsigned in_flight; /* requests whose callback has not run */
    LuringStats stats;
};

/* Returns: the oldest request of @q, taken off it, or NULL. */
static LuringAIOCB *pop(AioReqFifo *q)
{
    AioReqLink *link = aio__fifo_pop(q);

    return link ? container_of(link, LuringAIOCB, link) : NULL;
}

/* Fills @sqe for @opaque, a LuringAIOCB; the caller sets user_data. */
static void prep_sqe(struct io_uring_sqe *sqe, void *opaque)
{
    LuringAIOCB *acb = opaque;

    switch (acb->type) {
    case QEMU_AIO_READ:
        io_uring_prep_readv(sqe, acb->fd, acb->iov, acb->niov,
                            acb->offset + acb->done);
        break;
    case QEMU_AIO_WRITE:
        io_uring_prep_writev(sqe, acb->fd, acb->iov, acb->niov,
                             acb->offset + acb->done);
        break;
    case QEMU_AIO_FLUSH:
        io_uring_prep_fsync(sqe, acb->fd, IORING_FSYNC_DATASYNC);
        break;
    case QEMU_AIO_DISCARD:
        io_uring_prep_fallocate(sqe, acb->fd,
                                FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                acb->offset, acb->bytes);
        break;
    }
}

/* The monitor ring's variant of luring_flush(): aio_add_sqe() only.  The
 * loop submits them before it next waits (aio_poll(), the GSource
 * prepare, the start of busy polling), in the same io_uring_enter() as
 * the wait, and batched with every request the callbacks of one dispatch
 * made: no syscall here. */
static void luring_flush_shared(LuringState *s)
{
    LuringAIOCB *acb;

    if (!s->pending.head) {
        return;
    }
    while (s->in_shared < LURING_SHARED_MAX && (acb = pop(&s->pending))) {
        acb->state = LURING_KERNEL;
        acb->shared = true;
        s->in_kernel++;
        s->in_shared++;
        s->stats.sqes_shared++;
        aio_add_sqe(s->ctx, prep_sqe, acb, &acb->cqe_handler);
    }
}

/* Turns pending requests into SQEs, as many as the CQ ring can take, and
 * submits them.  A failed io_uring_submit() leaves the SQEs in the ring
 * for the next call (liburing keeps them). */
static void luring_flush(LuringState *s)
{
    if (aio_has_io_uring(s->ctx)) {
        luring_flush_shared(s);
        return;
    }
    while (s->pending.head &&
           s->in_kernel - s->in_shared < s->ring.cq.ring_entries) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
        LuringAIOCB *acb;

        if (!sqe) {
            if (io_uring_submit(&s->ring) <= 0 ||
                !(sqe = io_uring_get_sqe(&s->ring))) {
                break;
            }
        }
        acb = pop(&s->pending);
        prep_sqe(sqe, acb);
        io_uring_sqe_set_data(sqe, acb);
        acb->state = LURING_KERNEL;
        acb->shared = false;
        s->in_kernel++;
        s->stats.sqes_private++;
    }
    io_uring_submit(&s->ring);
}

/* Applies one CQE's result.  Returns: true if @acb is DONE, false if it
 * went back to the pending queue for the rest or a retry. */
static bool apply_result(LuringState *s, LuringAIOCB *acb, int res)
{
    if (acb->cancelled && (res == -ECANCELED || res == -EINTR)) {
        acb->ret = -ECANCELED;
        return true;
    }
    if (res == -EAGAIN || res == -EINTR) {
        goto again;
    }
    if (res < 0 || acb->type == QEMU_AIO_FLUSH ||
        acb->type == QEMU_AIO_DISCARD) {
        acb->ret = res < 0 ? res : 0;
        return true;
    }
    if (res == 0) {
        if (acb->type == QEMU_AIO_READ) { /* end of file */
            aio__iov_zero_from(acb->iov, acb->niov, 0);
            acb->ret = acb->done;
        } else {
            acb->ret = -ENOSPC;
        }
        return true;
    }
    acb->done += res;
    if (acb->done >= acb->size) {
        acb->ret = acb->done;
        return true;
    }
    acb->niov = aio__iov_tail(acb->iov, acb->iov, acb->niov, res);
again:
    acb->state = LURING_PENDING;
    aio__fifo_append(&s->pending, &acb->link);
    return false;
}

static void complete(LuringState *s, LuringAIOCB *acb)
{
    acb->state = LURING_DONE;
    s->in_flight--;
    aio__acb_complete(&acb->common, s->completion_bh, acb->ret);
    g_free(acb->iov);
    qemu_aio_unref(acb);
}

static void process_completions(LuringState *s)
{
    struct io_uring_cqe *cqe;
    LuringAIOCB *acb;

    /* Requests submitted by the callbacks go out in one batch. */
    luring_io_plug(s);
    for (;;) {
        if (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
            int res = cqe->res;

            acb = io_uring_cqe_get_data(cqe);
            io_uring_cqe_seen(&s->ring, cqe);
            if (!acb) {
                continue; /* an ASYNC_CANCEL's own CQE */
            }
            s->in_kernel--;
            if (!apply_result(s, acb, res)) {
                continue;
            }
        } else if (!(acb = pop(&s->done))) {
            break;
        }
        complete(s, acb);
    }
    luring_io_unplug(s);
}

/* A completion from the monitor's ring, run by the loop's dispatch. */
static void luring_cqe_cb(CqeHandler *h)
{
    LuringAIOCB *acb = container_of(h, LuringAIOCB, cqe_handler);
    LuringState *s = acb->s;

    luring_io_plug(s);
    s->in_kernel--;
    s->in_shared--;
    if (apply_result(s, acb, h->cqe.res)) {
        complete(s, acb);
    }
    luring_io_unplug(s);
}

static void completion_bh_fn(void *opaque)
{
    process_completions(opaque);
}

static void luring_read(EventNotifier *e)
{
    LuringState *s = container_of(e, LuringState, e);

    /* Clear first: a CQE posted after the drain below sets it again. */
    event_notifier_test_and_clear(e);
    process_completions(s);
}

static bool luring_poll(void *opaque)
{
    LuringState *s = container_of((EventNotifier *)opaque, LuringState, e);

    return io_uring_cq_ready(&s->ring) > 0 ||
           (s->in_shared && aio__fdmon_io_uring_cqe_pending(s->ctx));
}

static void luring_poll_ready(EventNotifier *e)
{
    process_completions(container_of(e, LuringState, e));
}

static void luring_cancel(BlockAIOCB *common)
{
    LuringAIOCB *acb = (LuringAIOCB *)common;
    LuringState *s = acb->s;
    struct io_uring_sqe *sqe;

    if (acb->state == LURING_PENDING) {
        aio__fifo_remove(&s->pending, &acb->link);
        acb->ret = -ECANCELED;
        acb->state = LURING_DONE;
        aio__fifo_append(&s->done, &acb->link);
        qemu_bh_schedule(s->completion_bh);
    } else if (acb->state == LURING_KERNEL && !acb->cancelled && acb->shared) {
        /* On the monitor's ring, or on the ring it retired when it
         * stopped; best effort likewise. */
        acb->cancelled = aio__fdmon_io_uring_cancel(s->ctx, &acb->cqe_handler);
    } else if (acb->state == LURING_KERNEL && !acb->cancelled) {
        /* Best effort: without an SQE the request just completes. */
        sqe = io_uring_get_sqe(&s->ring);
        if (sqe) {
            acb->cancelled = true;
            io_uring_prep_cancel(sqe, acb, 0);
            io_uring_sqe_set_data(sqe, NULL);
            io_uring_submit(&s->ring);
        }
    }
}

static AioContext *luring_get_aio_context(BlockAIOCB *common)
{
    return ((LuringAIOCB *)common)->s->ctx;
}

static const AIOCBInfo luring_aiocb_info = {
    .aiocb_size = sizeof(LuringAIOCB),
    .cancel_async = luring_cancel,
    .get_aio_context = luring_get_aio_context,
};

static BlockAIOCB *submit(LuringState *s, LuringAIOCB *acb)
{
    acb->s = s;
    acb->cqe_handler.cb = luring_cqe_cb;
    acb->state = LURING_PENDING;
    s->in_flight++;
    aio__fifo_append(&s->pending, &acb->link);
    if (!s->plugged) {
        luring_flush(s);
    }
    return &acb->common;
}

BlockAIOCB *luring_submit_aio(LuringState *s, int fd, int64_t offset,
                              const struct iovec *iov, int niov, int type,
                              BlockCompletionFunc *cb, void *opaque)
{
    LuringAIOCB *acb = qemu_aio_get(&luring_aiocb_info, NULL, cb, opaque);

    g_assert(type == QEMU_AIO_READ || type == QEMU_AIO_WRITE ||
             type == QEMU_AIO_FLUSH);
    acb->fd = fd;
    acb->type = type;
    acb->offset = offset;
    if (type != QEMU_AIO_FLUSH) {
        acb->iov = aio__iov_copy(iov, niov);
        acb->niov = niov;
        acb->size = aio__iov_size(iov, niov);
    }
    return submit(s, acb);
}

BlockAIOCB *luring_submit_discard(LuringState *s, int fd, int64_t offset,
                                  int64_t bytes, BlockCompletionFunc *cb,
                                  void *opaque)
{
    LuringAIOCB *acb = qemu_aio_get(&luring_aiocb_info, NULL, cb, opaque);

    acb->fd = fd;
    acb->type = QEMU_AIO_DISCARD;
    acb->offset = offset;
    acb->bytes = bytes;
    return submit(s, acb);
}

void luring_io_plug(LuringState *s)
{
    s->plugged++;
}

void luring_io_unplug(LuringState *s)
{
    g_assert(s->plugged > 0);
    /* SQEs a failed io_uring_submit() left in the ring go out too. */
    if (--s->plugged == 0 && (s->pending.head || io_uring_sq_ready(&s->ring))) {
        luring_flush(s);
    }
}

unsigned luring_in_flight(LuringState *s)
{
    return s->in_flight;
}

void luring_get_stats(LuringState *s, LuringStats *stats)
{
    *stats = s->stats;
    stats->shared_ring = aio_has_io_uring(s->ctx);
    stats->in_kernel_shared = s->in_shared;
}

LuringState *aio_setup_linux_io_uring(AioContext *ctx, GError **error)
{
    LuringState *s = ctx->linux_io_uring;
    int ret;

    if (s) {
        return s;
    }
    s = g_new0(LuringState, 1);
    ret = io_uring_queue_init(LURING_ENTRIES, &s->ring, 0);
    if (ret < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-ret),
                    "io_uring_queue_init: %s", g_strerror(-ret));
        g_free(s);
        return NULL;
    }
    ret = event_notifier_init(&s->e, false);
    if (ret == 0 && s->e.rfd != s->e.wfd) {
        ret = -ENOSYS; /* a pipe cannot be the ring's eventfd */
    }
    if (ret == 0) {
        ret = io_uring_register_eventfd(&s->ring, s->e.rfd);
    }
    if (ret < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-ret),
                    "io_uring eventfd: %s", g_strerror(-ret));
        event_notifier_cleanup(&s->e);
        io_uring_queue_exit(&s->ring);
        g_free(s);
        return NULL;
    }
    s->ctx = ctx;
    aio__fifo_init(&s->pending);
    aio__fifo_init(&s->done);
    s->completion_bh = aio_bh_new_full(ctx, completion_bh_fn, s,
                                       "io_uring-file-completion", NULL);
    aio__set_internal_event_notifier(ctx, &s->e, luring_read, luring_poll,
                                     luring_poll_ready);
    ctx->linux_io_uring = s;
    return s;
}

void aio__linux_io_uring_free(AioContext *ctx)
{
    LuringState *s = ctx->linux_io_uring;

    if (!s) {
        return;
    }
    /* Every request holds its file open, and a file its context. */
    g_assert(s->in_flight == 0);
    aio__set_internal_event_notifier(ctx, &s->e, NULL, NULL, NULL);
    qemu_bh_delete(s->completion_bh);
    io_uring_queue_exit(&s->ring);
    event_notifier_cleanup(&s->e);
    ctx->linux_io_uring = NULL;
    g_free(s);
}

#else /* !CONFIG_LINUX_IO_URING */

LuringState *aio_setup_linux_io_uring(AioContext *ctx, GError **error)
{
    (void)ctx;
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOSYS,
                "built without liburing");
    return NULL;
}

/* Unreachable without a state: aio_setup_linux_io_uring() never made one. */
BlockAIOCB *luring_submit_aio(LuringState *s, int fd, int64_t offset,
                              const struct iovec *iov, int niov, int type,
                              BlockCompletionFunc *cb, void *opaque)
{
    (void)s;
    (void)fd;
    (void)offset;
    (void)iov;
    (void)niov;
    (void)type;
    (void)cb;
    (void)opaque;
    g_assert_not_reached();
}

BlockAIOCB *luring_submit_discard(LuringState *s, int fd, int64_t offset,
                                  int64_t bytes, BlockCompletionFunc *cb,
                                  void *opaque)
{
    (void)s;
    (void)fd;
    (void)offset;
    (void)bytes;
    (void)cb;
    (void)opaque;
    g_assert_not_reached();
}

void luring_io_plug(LuringState *s)
{
    (void)s;
    g_assert_not_reached();
}
void luring_io_unplug(LuringState *s)
{
    (void)s;
    g_assert_not_reached();
}
unsigned luring_in_flight(LuringState *s)
{
    (void)s;
    return 0;
}
void luring_get_stats(LuringState *s, LuringStats *stats)
{
    (void)s;
    memset(stats, 0, sizeof(*stats));
}
void aio__linux_io_uring_free(AioContext *ctx)
{
    (void)ctx;
}

#endif

LuringState *aio_get_linux_io_uring(AioContext *ctx)
{
    return ctx->linux_io_uring;
}
