/*
 * io_uring-file.h — the io_uring file engine (liburing; QEMU's
 * block/io_uring.c).
 *
 * One LuringState per context, created by aio_setup_linux_io_uring().
 * As QEMU 10.2 does, requests go on the context's own fd-monitor ring
 * (aio_add_sqe(), aio.h) when that monitor is io_uring; their completions
 * run from the loop's dispatch, and need no eventfd.  Otherwise (poll,
 * epoll; an auto context under GLib) they go on a private ring, set up
 * in any case, whose completion queue is watched through an eventfd
 * registered with it (io_uring_register_eventfd) as a handler of the
 * context.  That handler's poll hook checks both rings' completion queues
 * in user space (io_uring_cq_ready()), so busy polling makes no syscall.
 * Callbacks run in the home thread.
 *
 * The ring is chosen for each SQE when it is made (aio_has_io_uring()).
 * When an auto context gives way to ppoll under GLib, requests in flight
 * on the monitor's ring stay there: the monitor keeps that ring open
 * (retired, watched as an internal handler) until their last CQE, their
 * callbacks run in the loop as usual, and aio_cancel_async() still
 * reaches them there; their resubmissions (short reads, -EAGAIN) and
 * every new request go on the private ring.  We chose this over waiting
 * for them in the switch, which would hang the thread on a request that
 * never ends by itself (a read of a pipe or FIFO).
 *
 * Reads, writes, fdatasync and fallocate(PUNCH_HOLE | KEEP_SIZE) are SQEs.
 * A short read is resubmitted for the remainder until the file ends; the
 * rest of the buffers is then zero-filled and the callback gets the bytes
 * actually read.  A short write is resubmitted for the remainder.  -EAGAIN
 * and -EINTR completions are resubmitted.  Submission is batched like
 * linux-aio.h's (plug/unplug; the engine plugs itself around completion
 * processing).  A full submission queue submits what it holds and goes on.
 * On the monitor's ring nothing is submitted at once: the loop does it
 * before it next waits, in the same io_uring_enter() as the wait.
 *
 * The state is freed when its context is finalized; no request may be in
 * flight then (an open AioFile holds a reference on its context).
 *
 * Built without liburing, aio_setup_linux_io_uring() fails with "built
 * without liburing" (CONFIG_LINUX_IO_URING).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_IO_URING_FILE_H
#define AIOCONTEXT_IO_URING_FILE_H

#include "aiocb.h"

#include <sys/uio.h>

G_BEGIN_DECLS

typedef struct LuringState LuringState;

/**
 * aio_setup_linux_io_uring:
 * @ctx: the context
 * @error: (nullable): set on failure (io_uring_queue_init's errno in the
 *   message)
 *
 * Returns: (transfer none): @ctx's io_uring file state, created on the
 * first call; NULL if io_uring is not available.  Home thread only.
 */
LuringState *aio_setup_linux_io_uring(AioContext *ctx, GError **error);

/**
 * aio_get_linux_io_uring:
 * Returns: (transfer none) (nullable): @ctx's state if
 * aio_setup_linux_io_uring() created it.  Home thread only.
 */
LuringState *aio_get_linux_io_uring(AioContext *ctx);

/**
 * luring_submit_aio:
 * @s: the state
 * @fd: a file descriptor, open until completion
 * @offset: file offset in bytes (ignored for QEMU_AIO_FLUSH)
 * @iov: (nullable): the buffers for a read or write; the array is copied,
 *   the buffers must stay valid until completion
 * @niov: number of buffers, 1..IOV_MAX for a read or write
 * @type: QEMU_AIO_READ, QEMU_AIO_WRITE or QEMU_AIO_FLUSH (fdatasync)
 * @cb: completion callback
 * @opaque: passed to @cb
 *
 * Queues a request.  aio_cancel_async() completes a request not yet
 * submitted with -ECANCELED and sends an ASYNC_CANCEL for one that was
 * (which wins only if the kernel had not started it).  Home thread only.
 *
 * Returns: (transfer none): the request.
 */
BlockAIOCB *luring_submit_aio(LuringState *s, int fd, int64_t offset,
                              const struct iovec *iov, int niov, int type,
                              BlockCompletionFunc *cb, void *opaque);

/**
 * luring_submit_discard:
 * Queues fallocate(@fd, PUNCH_HOLE | KEEP_SIZE, @offset, @bytes).
 * As luring_submit_aio() otherwise.
 */
BlockAIOCB *luring_submit_discard(LuringState *s, int fd, int64_t offset,
                                  int64_t bytes, BlockCompletionFunc *cb,
                                  void *opaque);

/** luring_io_plug: as laio_io_plug().  Home thread only. */
void luring_io_plug(LuringState *s);

/** luring_io_unplug: as laio_io_unplug().  Home thread only. */
void luring_io_unplug(LuringState *s);

/** luring_in_flight: Returns: requests not yet completed.  Home thread. */
unsigned luring_in_flight(LuringState *s);

/**
 * LuringStats:
 * @shared_ring: new SQEs go on the context's fd-monitor ring now
 * @sqes_shared: SQEs made on the monitor's ring so far (resubmissions
 *   count again)
 * @sqes_private: SQEs made on the private ring so far
 * @in_kernel_shared: requests in the kernel on the monitor's ring now
 */
typedef struct LuringStats {
    bool shared_ring;
    uint64_t sqes_shared;
    uint64_t sqes_private;
    unsigned in_kernel_shared;
} LuringStats;

/** luring_get_stats: fills @stats.  Home thread. */
void luring_get_stats(LuringState *s, LuringStats *stats);

G_END_DECLS

#endif /* AIOCONTEXT_IO_URING_FILE_H */
