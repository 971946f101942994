/*
 * file.h — files whose reads and writes complete in an AioContext, in the
 * spirit of QEMU's block/file-posix.c.
 *
 * An AioFile is a file descriptor bound to a context and to one I/O
 * engine, chosen when it is opened:
 *  - AIO_ENGINE_THREADS: preadv/pwritev/fdatasync/fallocate on the
 *    context's thread pool (thread-pool.h);
 *  - AIO_ENGINE_LINUX_AIO: reads and writes through Linux AIO
 *    (linux-aio.h), flush and discard on the thread pool.  Needs O_DIRECT:
 *    a buffered file falls back to threads, with the reason recorded;
 *  - AIO_ENGINE_IO_URING: everything as io_uring SQEs (io_uring-file.h);
 *  - AIO_ENGINE_AUTO: io_uring where it works, else threads (the reason
 *    recorded).
 * An engine that cannot be set up (io_uring or libaio missing, io_setup
 * failing) also falls back to threads with the reason; opening never fails
 * because of the engine.
 *
 * Every operation returns a BlockAIOCB and completes exactly once through
 * its callback, in the context's home thread, from the loop, never inside
 * the submitting call.  @ret is the bytes transferred for a read or write
 * (a read at or past the end of the file transfers fewer bytes, or none,
 * and the rest of its buffers is zero-filled; a write is complete or
 * fails; a request of 0 bytes transfers nothing and returns 0 on every
 * engine), 0 for flush and discard, or a negative errno: -EINVAL for a
 * misaligned O_DIRECT request, -ECANCELED for a request cancelled before it
 * started, -ENOSPC, -EIO, ...
 *
 * Life cycle: an open AioFile holds a reference on its context, and
 * aio_file_close() refuses (-EBUSY) while requests are in flight, so a
 * context is never finalized under a file request.
 *
 * Threads: everything here is home thread only (the context's).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_FILE_H
#define AIOCONTEXT_FILE_H

#include "aiocb.h"

#include <sys/types.h>
#include <sys/uio.h>

G_BEGIN_DECLS

typedef enum {
    AIO_ENGINE_AUTO,
    AIO_ENGINE_THREADS,
    AIO_ENGINE_LINUX_AIO,
    AIO_ENGINE_IO_URING,
} AioEngine;

typedef struct AioFile AioFile;

/** aio_engine_name: Returns: "auto", "threads", "linux-aio" or "io_uring";
 * NULL for a value outside the enum.  Any thread. */
const char *aio_engine_name(AioEngine engine);

/**
 * aio_file_open:
 * @ctx: the context that completes the file's requests (referenced)
 * @path: the file
 * @flags: open(2) flags (O_RDONLY, O_RDWR | O_CREAT, O_DIRECT, ...);
 *   O_CLOEXEC is added
 * @mode: the mode for O_CREAT
 * @engine: the engine asked for
 * @pfile: (out): the new file, owning the descriptor
 *
 * Home thread only.
 *
 * Returns: 0, or open(2)'s negative errno (*@pfile untouched); -EINVAL for
 * an @engine outside the enum.
 */
int aio_file_open(AioContext *ctx, const char *path, int flags, mode_t mode,
                  AioEngine engine, AioFile **pfile);

/**
 * aio_file_new_fd:
 * @ctx: the context (referenced)
 * @fd: an open descriptor; borrowed: aio_file_close() does not close it
 * @engine: the engine asked for (linux-aio looks at @fd's O_DIRECT flag)
 * @pfile: (out): the new file
 *
 * Home thread only.
 *
 * Returns: 0; -EBADF if @fd is not open; -EINVAL for a bad @engine.
 */
int aio_file_new_fd(AioContext *ctx, int fd, AioEngine engine, AioFile **pfile);

/**
 * aio_file_close:
 * @f: the file
 *
 * Closes the descriptor (if the file owns it), drops the context
 * reference and frees @f.  Home thread only.
 *
 * Returns: 0; -EBUSY while requests are in flight (nothing changes); the
 * negative errno of close(2) otherwise (@f is freed all the same).
 */
int aio_file_close(AioFile *f);

/** aio_file_get_fd: Returns: the descriptor.  Home thread only. */
int aio_file_get_fd(AioFile *f);

/** aio_file_get_engine: Returns: the engine in use (never AUTO). */
AioEngine aio_file_get_engine(AioFile *f);

/**
 * aio_file_get_fallback_reason:
 * Returns: (nullable) (transfer none): why the engine asked for is not the
 * one in use (for AUTO: why it is not io_uring), or NULL.  Owned by @f.
 */
const char *aio_file_get_fallback_reason(AioFile *f);

/** aio_file_is_direct: Returns: whether the descriptor has O_DIRECT. */
bool aio_file_is_direct(AioFile *f);

/** aio_file_in_flight: Returns: requests submitted and not completed. */
unsigned aio_file_in_flight(AioFile *f);

/**
 * aio_file_preadv:
 * @f: the file
 * @offset: file offset in bytes (>= 0)
 * @iov: the buffers; the array is copied, the buffers must stay valid and
 *   untouched until the callback runs
 * @niov: 1..IOV_MAX
 * @cb: completion callback: bytes read or a negative errno
 * @opaque: passed to @cb
 *
 * Home thread only.  Bad arguments (negative offset, @niov out of range)
 * complete with -EINVAL through @cb like any other error.
 *
 * Returns: (transfer none): the request, valid until its callback returned
 * (take a reference with qemu_aio_ref() to keep it longer).  Cancel with
 * aio_cancel_async().
 */
BlockAIOCB *aio_file_preadv(AioFile *f, int64_t offset, const struct iovec *iov,
                            int niov, BlockCompletionFunc *cb, void *opaque);

/** aio_file_pwritev: as aio_file_preadv(), writing; @cb gets the bytes
 * written (all of them) or a negative errno. */
BlockAIOCB *aio_file_pwritev(AioFile *f, int64_t offset,
                             const struct iovec *iov, int niov,
                             BlockCompletionFunc *cb, void *opaque);

/** aio_file_fdatasync: fdatasync(2); @cb gets 0 or a negative errno.
 * Home thread only. */
BlockAIOCB *aio_file_fdatasync(AioFile *f, BlockCompletionFunc *cb,
                               void *opaque);

/**
 * aio_file_discard:
 * fallocate(PUNCH_HOLE | KEEP_SIZE) over [@offset, @offset + @bytes): the
 * range reads back as zeros afterwards.  @cb gets 0 or a negative errno
 * (-EOPNOTSUPP where the file system cannot punch holes).  Home thread
 * only.
 */
BlockAIOCB *aio_file_discard(AioFile *f, int64_t offset, int64_t bytes,
                             BlockCompletionFunc *cb, void *opaque);

G_END_DECLS

#endif /* AIOCONTEXT_FILE_H */
