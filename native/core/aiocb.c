/*
 * aiocb.c — BlockAIOCB allocation, references and cancellation.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aiocb.h"
#include "aio-internal.h"

void *qemu_aio_get(const AIOCBInfo *aiocb_info, void *bs,
                   BlockCompletionFunc *cb, void *opaque)
{
    BlockAIOCB *acb;

    g_assert(aiocb_info->aiocb_size >= sizeof(BlockAIOCB));
    acb = g_malloc0(aiocb_info->aiocb_size);
    acb->aiocb_info = aiocb_info;
    acb->bs = bs;
    acb->cb = cb;
    acb->opaque = opaque;
    acb->refcnt = 1;
    return acb;
}

void qemu_aio_ref(void *p)
{
    BlockAIOCB *acb = p;

    g_assert(acb->refcnt >= 1);
    acb->refcnt++;
}

void qemu_aio_unref(void *p)
{
    BlockAIOCB *acb = p;

    g_assert(acb->refcnt >= 1);
    if (--acb->refcnt == 0) {
        g_free(acb);
    }
}

void aio_cancel_async(BlockAIOCB *acb)
{
    if (acb->aiocb_info->cancel_async) {
        acb->aiocb_info->cancel_async(acb);
    }
}

void aio_cancel(BlockAIOCB *acb)
{
    AioContext *ctx = acb->aiocb_info->get_aio_context(acb);

    qemu_aio_ref(acb);
    aio_cancel_async(acb);
    /* The engine drops its reference after the callback returned; ours is
     * the last one then. */
    while (acb->refcnt > 1) {
        aio_poll(ctx, true);
    }
    qemu_aio_unref(acb);
}
