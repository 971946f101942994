/*
 * co-queue.c — CoQueue: coroutines waiting, in order, for a condition.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

void qemu_co_queue_init(CoQueue *queue)
{
    queue->head = queue->tail = NULL;
}

bool qemu_co_queue_empty(CoQueue *queue)
{
    return queue->head == NULL;
}

void coroutine_fn qemu_co_queue_wait(CoQueue *queue, CoMutex *lock)
{
    Coroutine *self = qemu_coroutine_self();

    g_assert(qemu_in_coroutine());
    aio__co_fifo_push(&queue->head, &queue->tail, self);
    /* Once the lock is released a waker may take this coroutine off the
     * queue; it wakes it through its context, which enters it only after
     * this yield. */
    if (lock) {
        qemu_co_mutex_unlock(lock);
    }
    qemu_coroutine_yield();
    if (lock) {
        qemu_co_mutex_lock(lock);
    }
}

bool qemu_co_queue_next(CoQueue *queue)
{
    Coroutine *co = aio__co_fifo_pop(&queue->head, &queue->tail);

    if (!co) {
        return false;
    }
    aio_co_wake(co);
    return true;
}

void qemu_co_queue_restart_all(CoQueue *queue)
{
    while (qemu_co_queue_next(queue)) {
    }
}
