/*
 * linux-aio.c — reads and writes through Linux native AIO (see
 * linux-aio.h).
 *
 * A request is PENDING (on s->pending: not handed to io_submit() yet),
 * KERNEL, or DONE.  Every request carries the state's eventfd
 * (IOCB_FLAG_RESFD), registered as a handler of the context; its poll hook
 * reads the completion ring that the kernel maps into our address space
 * (struct aio_ring at the io_context_t address), so busy polling costs no
 * syscall.  Events are copied out of the ring in batches into the state's
 * array, which every processing call consumes from a shared index, so a
 * callback that nests aio_poll() (which runs the completion BH, scheduled
 * before each callback) completes the rest of its caller's batch too.
 *
 * Every field is home thread only; the kernel is the other party.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "linux-aio.h"
#include "aio-internal.h"
#include "aiocontext-config.h" /* CONFIG_LINUX_AIO */

#include <errno.h>

#ifdef CONFIG_LINUX_AIO
#include <libaio.h>

/* Requests in the kernel at once (io_setup's nr_events). */
#define LAIO_MAX_EVENTS 256
/* iocbs per io_submit() call and events per batch read. */
#define LAIO_BATCH 64

enum {
    LAIO_PENDING,
    LAIO_KERNEL,
    LAIO_DONE
};

typedef struct LaioAIOCB {
    BlockAIOCB common;
    LinuxAioState *s;
    struct iocb iocb;
    struct iovec *iov; /* our copy */
    int niov;
    size_t nbytes;
    int type;
    int state;
    int ret;         /* DONE */
    AioReqLink link; /* s->pending or s->done */
} LaioAIOCB;

struct LinuxAioState {
    AioContext *ctx;
    io_context_t io_ctx;
    bool user_ring; /* the ring can be read in user space */
    EventNotifier e;
    QEMUBH *completion_bh;
    AioReqFifo pending;
    AioReqFifo done;
    unsigned plugged;
    unsigned in_kernel;
    unsigned in_flight;
    /* Events copied out of the ring: [event_idx, event_max) are left. */
    struct io_event events[LAIO_BATCH];
    int event_idx;
    int event_max;
};

/* The kernel's completion ring header (fs/aio.c), at the io_context_t
 * address.  The kernel writes events, then (after a write barrier) tail;
 * we read events after an acquire load of tail and publish head with a
 * release store, so the kernel reuses a slot only after we copied it. */
struct aio_ring {
    unsigned id;
    unsigned nr;
    unsigned head;
    unsigned tail;
    unsigned magic;
    unsigned compat_features;
    unsigned incompat_features;
    unsigned header_length;
    struct io_event io_events[];
};
#define AIO_RING_MAGIC 0xa10a10a1

/* Returns: the oldest request of @q, taken off it, or NULL. */
static LaioAIOCB *pop(AioReqFifo *q)
{
    AioReqLink *link = aio__fifo_pop(q);

    return link ? container_of(link, LaioAIOCB, link) : NULL;
}

static bool ring_has_events(LinuxAioState *s)
{
    struct aio_ring *ring = (struct aio_ring *)s->io_ctx;

    /* Pairs with the kernel's barrier before it advances tail. */
    return atomic_read(&ring->head) != atomic_load_acquire(&ring->tail);
}

/* Copies up to @max events out of the ring.  Returns: how many. */
static int fetch_events(LinuxAioState *s, struct io_event *ev, int max)
{
    struct aio_ring *ring = (struct aio_ring *)s->io_ctx;
    unsigned head, tail;
    int n = 0;

    if (!s->user_ring) {
        struct timespec zero = {0, 0};
        int ret = io_getevents(s->io_ctx, 0, max, ev, &zero);

        return ret > 0 ? ret : 0;
    }
    head = atomic_read(&ring->head);
    tail = atomic_load_acquire(&ring->tail); /* see ring_has_events() */
    while (head != tail && n < max) {
        ev[n++] = ring->io_events[head];
        head = (head + 1) % ring->nr;
    }
    /* The kernel may reuse the slots once it sees the new head. */
    atomic_store_release(&ring->head, head);
    return n;
}

/* Hands pending requests to the kernel.  -EAGAIN leaves them queued (they
 * go out when completions make room); any other error fails the first
 * request, as QEMU does, and goes on with the rest. */
static void laio_flush(LinuxAioState *s)
{
    while (s->pending.head && s->in_kernel < LAIO_MAX_EVENTS) {
        struct iocb *iocbs[LAIO_BATCH];
        AioReqLink *link = s->pending.head;
        LaioAIOCB *acb;
        int n = 0, ret;

        while (link && n < LAIO_BATCH && s->in_kernel + n < LAIO_MAX_EVENTS) {
            iocbs[n++] = &container_of(link, LaioAIOCB, link)->iocb;
            link = link->next;
        }
        ret = io_submit(s->io_ctx, n, iocbs);
        if (ret == -EAGAIN) {
            break;
        }
        if (ret < 0) {
            acb = pop(&s->pending);
            acb->ret = ret;
            acb->state = LAIO_DONE;
            aio__fifo_append(&s->done, &acb->link);
            qemu_bh_schedule(s->completion_bh);
            continue;
        }
        for (int i = 0; i < ret; i++) {
            acb = pop(&s->pending);
            acb->state = LAIO_KERNEL;
        }
        s->in_kernel += ret;
    }
}

/* The result of a finished iocb, as QEMU computes it. */
static int event_result(LaioAIOCB *acb, long res)
{
    if (res < 0) {
        return res;
    }
    if ((size_t)res == acb->nbytes) {
        return res;
    }
    if (acb->type == QEMU_AIO_WRITE) {
        return -ENOSPC;
    }
    aio__iov_zero_from(acb->iov, acb->niov, res); /* end of file */
    return res;
}

static void complete(LinuxAioState *s, LaioAIOCB *acb)
{
    s->in_flight--;
    aio__acb_complete(&acb->common, s->completion_bh, acb->ret);
    g_free(acb->iov);
    qemu_aio_unref(acb);
}

static void process_completions(LinuxAioState *s)
{
    LaioAIOCB *acb;

    laio_io_plug(s);
    for (;;) {
        if (s->event_idx == s->event_max) {
            s->event_idx = 0;
            s->event_max = fetch_events(s, s->events, LAIO_BATCH);
        }
        if (s->event_idx < s->event_max) {
            struct io_event *ev = &s->events[s->event_idx++];

            acb = ev->data;
            acb->state = LAIO_DONE;
            acb->ret = event_result(acb, (long)ev->res);
            s->in_kernel--;
        } else if (!(acb = pop(&s->done))) {
            break;
        }
        complete(s, acb);
    }
    laio_io_unplug(s);
}

static void completion_bh_fn(void *opaque)
{
    process_completions(opaque);
}

static void laio_read(EventNotifier *e)
{
    /* Clear first: an event posted after the drain sets it again. */
    event_notifier_test_and_clear(e);
    process_completions(container_of(e, LinuxAioState, e));
}

static bool laio_poll(void *opaque)
{
    LinuxAioState *s = container_of((EventNotifier *)opaque, LinuxAioState, e);

    return s->event_idx < s->event_max || ring_has_events(s);
}

static void laio_poll_ready(EventNotifier *e)
{
    process_completions(container_of(e, LinuxAioState, e));
}

static void laio_cancel(BlockAIOCB *common)
{
    LaioAIOCB *acb = (LaioAIOCB *)common;
    LinuxAioState *s = acb->s;
    struct io_event ev;

    if (acb->state == LAIO_PENDING) {
        aio__fifo_remove(&s->pending, &acb->link);
        acb->ret = -ECANCELED;
        acb->state = LAIO_DONE;
        aio__fifo_append(&s->done, &acb->link);
        qemu_bh_schedule(s->completion_bh);
    } else if (acb->state == LAIO_KERNEL) {
        /* Files have no cancel method (-EINVAL); where the kernel can
         * cancel, the event still arrives through the ring. */
        io_cancel(s->io_ctx, &acb->iocb, &ev);
    }
}

static AioContext *laio_get_aio_context(BlockAIOCB *common)
{
    return ((LaioAIOCB *)common)->s->ctx;
}

static const AIOCBInfo laio_aiocb_info = {
    .aiocb_size = sizeof(LaioAIOCB),
    .cancel_async = laio_cancel,
    .get_aio_context = laio_get_aio_context,
};

BlockAIOCB *laio_submit_aio(LinuxAioState *s, int fd, int64_t offset,
                            const struct iovec *iov, int niov, int type,
                            BlockCompletionFunc *cb, void *opaque)
{
    LaioAIOCB *acb = qemu_aio_get(&laio_aiocb_info, NULL, cb, opaque);

    g_assert(type == QEMU_AIO_READ || type == QEMU_AIO_WRITE);
    acb->s = s;
    acb->type = type;
    acb->iov = aio__iov_copy(iov, niov);
    acb->niov = niov;
    acb->nbytes = aio__iov_size(iov, niov);
    if (type == QEMU_AIO_READ) {
        io_prep_preadv(&acb->iocb, fd, acb->iov, niov, offset);
    } else {
        io_prep_pwritev(&acb->iocb, fd, acb->iov, niov, offset);
    }
    io_set_eventfd(&acb->iocb, event_notifier_get_fd(&s->e));
    acb->iocb.data = acb;
    acb->state = LAIO_PENDING;
    s->in_flight++;
    aio__fifo_append(&s->pending, &acb->link);
    if (!s->plugged) {
        laio_flush(s);
    }
    return &acb->common;
}

void laio_io_plug(LinuxAioState *s)
{
    s->plugged++;
}

void laio_io_unplug(LinuxAioState *s)
{
    g_assert(s->plugged > 0);
    if (--s->plugged == 0 && s->pending.head) {
        laio_flush(s);
    }
}

unsigned laio_in_flight(LinuxAioState *s)
{
    return s->in_flight;
}

LinuxAioState *aio_setup_linux_aio(AioContext *ctx, GError **error)
{
    LinuxAioState *s = ctx->linux_aio;
    int ret;

    if (s) {
        return s;
    }
    s = g_new0(LinuxAioState, 1);
    ret = event_notifier_init(&s->e, false);
    if (ret == 0 && s->e.rfd != s->e.wfd) {
        ret = -ENOSYS; /* IOCB_FLAG_RESFD needs an eventfd */
    }
    if (ret < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-ret),
                    "linux-aio eventfd: %s", g_strerror(-ret));
        event_notifier_cleanup(&s->e);
        g_free(s);
        return NULL;
    }
    ret = io_setup(LAIO_MAX_EVENTS, &s->io_ctx);
    if (ret < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-ret),
                    "io_setup: %s", g_strerror(-ret));
        event_notifier_cleanup(&s->e);
        g_free(s);
        return NULL;
    }
    s->user_ring = ((struct aio_ring *)s->io_ctx)->magic == AIO_RING_MAGIC;
    s->ctx = ctx;
    aio__fifo_init(&s->pending);
    aio__fifo_init(&s->done);
    s->completion_bh = aio_bh_new_full(ctx, completion_bh_fn, s,
                                       "linux-aio-completion", NULL);
    aio__set_internal_event_notifier(ctx, &s->e, laio_read, laio_poll,
                                     laio_poll_ready);
    ctx->linux_aio = s;
    return s;
}

void aio__linux_aio_free(AioContext *ctx)
{
    LinuxAioState *s = ctx->linux_aio;

    if (!s) {
        return;
    }
    /* Every request holds its file open, and a file its context. */
    g_assert(s->in_flight == 0);
    aio__set_internal_event_notifier(ctx, &s->e, NULL, NULL, NULL);
    qemu_bh_delete(s->completion_bh);
    io_destroy(s->io_ctx);
    event_notifier_cleanup(&s->e);
    ctx->linux_aio = NULL;
    g_free(s);
}

#else /* !CONFIG_LINUX_AIO */

LinuxAioState *aio_setup_linux_aio(AioContext *ctx, GError **error)
{
    (void)ctx;
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOSYS,
                "built without libaio");
    return NULL;
}

/* Unreachable without a state: aio_setup_linux_aio() never made one. */
BlockAIOCB *laio_submit_aio(LinuxAioState *s, int fd, int64_t offset,
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

void laio_io_plug(LinuxAioState *s)
{
    (void)s;
    g_assert_not_reached();
}
void laio_io_unplug(LinuxAioState *s)
{
    (void)s;
    g_assert_not_reached();
}
unsigned laio_in_flight(LinuxAioState *s)
{
    (void)s;
    return 0;
}
void aio__linux_aio_free(AioContext *ctx)
{
    (void)ctx;
}

#endif

LinuxAioState *aio_get_linux_aio(AioContext *ctx)
{
    return ctx->linux_aio;
}
