/*
 * aiocb.c — BlockAIOCB allocation, references and cancellation, and the
 * helpers the engines share to queue and complete their requests.
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

void aio__fifo_init(AioReqFifo *q)
{
    q->head = NULL;
    q->tail = &q->head;
}

void aio__fifo_append(AioReqFifo *q, AioReqLink *link)
{
    link->next = NULL;
    *q->tail = link;
    q->tail = &link->next;
}

AioReqLink *aio__fifo_pop(AioReqFifo *q)
{
    AioReqLink *link = q->head;

    if (link) {
        q->head = link->next;
        if (!q->head) {
            q->tail = &q->head;
        }
    }
    return link;
}

bool aio__fifo_remove(AioReqFifo *q, AioReqLink *link)
{
    AioReqLink **p = &q->head;

    while (*p && *p != link) {
        p = &(*p)->next;
    }
    if (!*p) {
        return false;
    }
    *p = link->next;
    if (q->tail == &link->next) {
        q->tail = p;
    }
    return true;
}

void aio__acb_complete(BlockAIOCB *acb, QEMUBH *bh, int ret)
{
    if (!acb->cb) {
        return;
    }
    qemu_bh_schedule(bh);
    acb->cb(acb->opaque, ret);
    qemu_bh_cancel(bh);
}
