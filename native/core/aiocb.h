/*
 * aiocb.h — asynchronous I/O control blocks (QEMU's BlockAIOCB).
 *
 * Every asynchronous request of the block layer (a thread-pool job, a file
 * read on Linux AIO or io_uring) is a BlockAIOCB: a small allocation whose
 * first member is this header, followed by the engine's own state.  The
 * engine allocates it with qemu_aio_get(), calls @cb exactly once with the
 * request's result, in the home thread of the request's context, from the
 * loop (never from inside the submitting call), and drops its reference.
 *
 * Differences from QEMU:
 *  - there is no BlockDriverState; @bs is an opaque owner pointer that the
 *    engine may use (the file layer stores its AioFile there);
 *  - the public cancel functions are aio_cancel_async() and aio_cancel()
 *    (QEMU's bdrv_aio_cancel_async() and bdrv_aio_cancel()), because there
 *    is no "bdrv" layer here.
 *
 * Threads: a BlockAIOCB belongs to the home thread of its context.  Every
 * function in this header is home thread only; worker threads never touch
 * an acb's header (the engines keep their cross-thread state elsewhere).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_AIOCB_H
#define AIOCONTEXT_AIOCB_H

#include "aio.h"

#include <stddef.h>

G_BEGIN_DECLS

typedef struct BlockAIOCB BlockAIOCB;

/* Request types of the engines (QEMU's QEMU_AIO_* from raw-aio.h). */
#define QEMU_AIO_READ 0x0001
#define QEMU_AIO_WRITE 0x0002
#define QEMU_AIO_FLUSH 0x0008
#define QEMU_AIO_DISCARD 0x0040

/**
 * BlockCompletionFunc:
 * @opaque: the pointer given at submission
 * @ret: the result: >= 0 on success (bytes transferred for reads and
 *       writes, 0 for flush and discard), or a negative errno
 *       (-ECANCELED for a request cancelled before it started)
 *
 * Called once per request, in the context's home thread, from the loop.
 */
typedef void BlockCompletionFunc(void *opaque, int ret);

/**
 * AIOCBInfo:
 * @cancel_async: (nullable): asks the engine to cancel @acb.  Must not
 *   complete it synchronously: the completion callback still runs exactly
 *   once, later, from the loop, with -ECANCELED if the cancel won or with
 *   the request's own result if it lost.  NULL: the request cannot be
 *   cancelled (it simply completes).
 * @get_aio_context: returns the context whose loop completes @acb.
 * @aiocb_size: bytes to allocate for one acb (the engine's struct, whose
 *   first member is a BlockAIOCB).
 *
 * One const table per kind of request.
 */
typedef struct AIOCBInfo {
    void (*cancel_async)(BlockAIOCB *acb);
    AioContext *(*get_aio_context)(BlockAIOCB *acb);
    size_t aiocb_size;
} AIOCBInfo;

/**
 * BlockAIOCB:
 * @aiocb_info: the request's kind
 * @bs: (nullable): opaque owner (QEMU's BlockDriverState)
 * @cb: the completion callback
 * @opaque: passed to @cb
 * @refcnt: references; 1 from qemu_aio_get(), dropped by the engine after
 *   @cb returned.  Home thread only (not atomic).
 */
struct BlockAIOCB {
    const AIOCBInfo *aiocb_info;
    void *bs;
    BlockCompletionFunc *cb;
    void *opaque;
    int refcnt;
};

/**
 * qemu_aio_get:
 * @aiocb_info: the request's kind; @aiocb_info->aiocb_size bytes are
 *   allocated, zero-filled
 * @bs: (nullable): the owner, stored in the header
 * @cb: the completion callback
 * @opaque: passed to @cb
 *
 * Allocates an acb with one reference.  Home thread of the context the
 * request will complete in.
 *
 * Returns: (transfer full): the acb, as a void * to be cast to the
 * engine's type.  Never NULL.
 */
void *qemu_aio_get(const AIOCBInfo *aiocb_info, void *bs,
                   BlockCompletionFunc *cb, void *opaque);

/** qemu_aio_ref: takes a reference on the acb @p.  Home thread only. */
void qemu_aio_ref(void *p);

/**
 * qemu_aio_unref:
 * @p: an acb
 *
 * Drops a reference; the last one frees it.  Home thread only.
 */
void qemu_aio_unref(void *p);

/**
 * aio_cancel_async:
 * @acb: a request whose callback has not run yet (the caller holds a
 *   reference if it may have)
 *
 * Requests cancellation (QEMU's bdrv_aio_cancel_async): queued requests
 * complete with -ECANCELED, requests already running complete with their
 * own result.  The callback runs later, from the loop, exactly once either
 * way.  Does nothing if the kind has no @cancel_async.  Home thread only.
 */
void aio_cancel_async(BlockAIOCB *acb);

/**
 * aio_cancel:
 * @acb: a request whose callback has not run yet
 *
 * Synchronous cancel (QEMU's bdrv_aio_cancel): takes a reference, calls
 * aio_cancel_async(), then runs aio_poll(ctx, true) on the acb's context
 * until the request has completed (its callback ran and the engine dropped
 * its reference), then drops the reference.  The callback may have run
 * with the request's result or with -ECANCELED.  Home thread of the acb's
 * context only, outside any callback that the completion depends on.
 */
void aio_cancel(BlockAIOCB *acb);

G_END_DECLS

#endif /* AIOCONTEXT_AIOCB_H */
