/*
 * block-coroutine.c — block I/O from coroutines (see block-coroutine.h).
 *
 * Every form is the same three steps: submit with a completion callback
 * that records the result and wakes the coroutine, yield, return the
 * result.  The engines never complete inside the submitting call, so the
 * wake always finds the coroutine yielded.
 *
 * SPDX-License-Identifier: MIT
 */
#include "block-coroutine.h"
#include "aio-internal.h"

#include <errno.h>

typedef struct CoRequest {
    Coroutine *co;
    int ret;
    bool done;
} CoRequest;

static void co_request_complete(void *opaque, int ret)
{
    CoRequest *req = opaque;

    req->ret = ret;
    req->done = true;
    aio_co_wake(req->co);
}

/* Yields until @req completed (the submit functions always complete their
 * request, bad arguments included, through the callback). */
static int co_request_wait(CoRequest *req)
{
    while (!req->done) {
        qemu_coroutine_yield();
    }
    return req->ret;
}

#define CO_REQUEST_INIT \
    { \
        qemu_coroutine_self(), -EINPROGRESS, false \
    }

int coroutine_fn thread_pool_submit_co(ThreadPoolAio *pool,
                                       ThreadPoolFunc *func, void *arg)
{
    CoRequest req = CO_REQUEST_INIT;

    g_assert(qemu_in_coroutine());
    thread_pool_submit_aio(pool, func, arg, co_request_complete, &req);
    return co_request_wait(&req);
}

int coroutine_fn aio_file_co_preadv(AioFile *f, int64_t offset,
                                    const struct iovec *iov, int niov)
{
    CoRequest req = CO_REQUEST_INIT;

    g_assert(qemu_in_coroutine());
    aio_file_preadv(f, offset, iov, niov, co_request_complete, &req);
    return co_request_wait(&req);
}

int coroutine_fn aio_file_co_pwritev(AioFile *f, int64_t offset,
                                     const struct iovec *iov, int niov)
{
    CoRequest req = CO_REQUEST_INIT;

    g_assert(qemu_in_coroutine());
    aio_file_pwritev(f, offset, iov, niov, co_request_complete, &req);
    return co_request_wait(&req);
}

int coroutine_fn aio_file_co_fdatasync(AioFile *f)
{
    CoRequest req = CO_REQUEST_INIT;

    g_assert(qemu_in_coroutine());
    aio_file_fdatasync(f, co_request_complete, &req);
    return co_request_wait(&req);
}

int coroutine_fn aio_file_co_discard(AioFile *f, int64_t offset, int64_t bytes)
{
    CoRequest req = CO_REQUEST_INIT;

    g_assert(qemu_in_coroutine());
    aio_file_discard(f, offset, bytes, co_request_complete, &req);
    return co_request_wait(&req);
}
