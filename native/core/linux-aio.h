/*
 * linux-aio.h — the Linux native AIO engine (libaio; QEMU's
 * block/linux-aio.c).
 *
 * One LinuxAioState per context, created by aio_setup_linux_aio(): an
 * io_context_t whose completions signal an EventNotifier (IOCB_FLAG_RESFD)
 * registered in the context with a poll hook that reads the kernel's
 * completion ring in user space, so busy polling makes no syscall.
 * Completions are processed from a BH of the context, callbacks run in the
 * home thread.
 *
 * Submission is batched: requests queue in user space and go to the kernel
 * in one io_submit() when the queue is unplugged (immediately when nobody
 * plugged it; around completion processing the engine plugs itself, so
 * requests submitted from completion callbacks go out together).  When
 * io_submit() returns -EAGAIN (the kernel's queue is full) the requests
 * stay queued and are retried as completions free room (with nothing in
 * flight, at the next submission or unplug).
 *
 * Linux AIO is only asynchronous with O_DIRECT; the file layer (file.h)
 * refuses it for buffered files, as QEMU warns.  Requests must respect the
 * device's O_DIRECT alignment, or complete with -EINVAL.
 *
 * Result convention: a read returns the bytes read; a read cut short by
 * the end of the file has the rest of its buffers zero-filled (as QEMU
 * does) and returns the bytes actually read.  A short write completes with
 * -ENOSPC (as QEMU).  Flush and discard are not Linux AIO operations: the
 * file layer runs them on the thread pool.
 *
 * The state is freed when its context is finalized; no request may be in
 * flight then (the file layer guarantees it: an open AioFile holds a
 * reference on its context).
 *
 * Built without libaio, aio_setup_linux_aio() fails with "built without
 * libaio" (CONFIG_LINUX_AIO).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_LINUX_AIO_H
#define AIOCONTEXT_LINUX_AIO_H

#include "aiocb.h"

#include <sys/uio.h>

G_BEGIN_DECLS

typedef struct LinuxAioState LinuxAioState;

/**
 * aio_setup_linux_aio:
 * @ctx: the context
 * @error: (nullable): set on failure (io_setup's errno in the message)
 *
 * Returns: (transfer none): @ctx's Linux AIO state, created on the first
 * call; NULL if Linux AIO is not available.  Home thread only.
 */
LinuxAioState *aio_setup_linux_aio(AioContext *ctx, GError **error);

/**
 * aio_get_linux_aio:
 * Returns: (transfer none) (nullable): @ctx's Linux AIO state if
 * aio_setup_linux_aio() created it.  Home thread only.
 */
LinuxAioState *aio_get_linux_aio(AioContext *ctx);

/**
 * laio_submit_aio:
 * @s: the state
 * @fd: an O_DIRECT file descriptor, open until completion
 * @offset: file offset in bytes
 * @iov: the buffers; the array is copied, the buffers must stay valid
 *   until completion
 * @niov: number of buffers, 1..IOV_MAX
 * @type: QEMU_AIO_READ or QEMU_AIO_WRITE
 * @cb: completion callback (see BlockCompletionFunc)
 * @opaque: passed to @cb
 *
 * Queues a read or write; it reaches the kernel now if the queue is not
 * plugged.  aio_cancel_async() completes a request not yet handed to the
 * kernel with -ECANCELED and tries io_cancel() on one that was (file
 * requests usually cannot be cancelled and complete normally).  Home
 * thread only.
 *
 * Returns: (transfer none): the request (see thread_pool_submit_aio()).
 */
BlockAIOCB *laio_submit_aio(LinuxAioState *s, int fd, int64_t offset,
                            const struct iovec *iov, int niov, int type,
                            BlockCompletionFunc *cb, void *opaque);

/**
 * laio_io_plug:
 * Holds back submissions until the matching laio_io_unplug().  Nests.
 * Home thread only.
 */
void laio_io_plug(LinuxAioState *s);

/**
 * laio_io_unplug:
 * Undoes one laio_io_plug(); the last one submits everything queued in
 * one io_submit().  Home thread only.
 */
void laio_io_unplug(LinuxAioState *s);

/**
 * laio_in_flight:
 * Returns: requests submitted and not yet completed (queued ones
 * included).  Home thread only.
 */
unsigned laio_in_flight(LinuxAioState *s);

G_END_DECLS

#endif /* AIOCONTEXT_LINUX_AIO_H */
