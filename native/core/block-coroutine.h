/*
 * block-coroutine.h — the coroutine forms of block I/O: a coroutine submits
 * a request and yields; the request's completion, in the context's home
 * thread, wakes it with the result.
 *
 * Where we differ from QEMU: thread_pool_submit_co() takes the pool (QEMU
 * finds it from the current context), as thread_pool_submit_aio() does
 * here; the file forms are named after this core's AioFile, not QEMU's
 * BlockDriverState paths.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_BLOCK_COROUTINE_H
#define AIOCONTEXT_BLOCK_COROUTINE_H

#include "coroutine.h"
#include "file.h"
#include "thread-pool.h"

G_BEGIN_DECLS

/**
 * thread_pool_submit_co:
 * @pool: the pool (aio_get_thread_pool() of the coroutine's context)
 * @func: the job, run on a worker thread
 * @arg: passed to @func
 *
 * Runs @func on a worker and yields until it completed.  Coroutine only,
 * in the pool's context's home thread.
 *
 * Returns: @func's return value, or -ECANCELED if the pool was drained
 * before it ran.
 */
int coroutine_fn thread_pool_submit_co(ThreadPoolAio *pool,
                                       ThreadPoolFunc *func, void *arg);

/**
 * aio_file_co_preadv:
 *
 * aio_file_preadv(), yielding until it completed.  Coroutine only, in the
 * file's context's home thread.
 *
 * Returns: the bytes read, or a negative errno.
 */
int coroutine_fn aio_file_co_preadv(AioFile *f, int64_t offset,
                                    const struct iovec *iov, int niov);

/** aio_file_co_pwritev: aio_file_pwritev(), yielding; as above.
 * Returns: the bytes written, or a negative errno. */
int coroutine_fn aio_file_co_pwritev(AioFile *f, int64_t offset,
                                     const struct iovec *iov, int niov);

/** aio_file_co_fdatasync: aio_file_fdatasync(), yielding; as above.
 * Returns: 0, or a negative errno. */
int coroutine_fn aio_file_co_fdatasync(AioFile *f);

/** aio_file_co_discard: aio_file_discard(), yielding; as above.
 * Returns: 0, or a negative errno (-EOPNOTSUPP where holes cannot be
 * punched). */
int coroutine_fn aio_file_co_discard(AioFile *f, int64_t offset, int64_t bytes);

G_END_DECLS

#endif /* AIOCONTEXT_BLOCK_COROUTINE_H */
