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
    self->co_queue_next = NULL;
    if (queue->tail) {
        queue->tail->co_queue_next = self;
    } else {
        queue->head = self;
    }
    queue->tail = self;
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
    Coroutine *co = queue->head;

    if (!co) {
        return false;
    }
    queue->head = co->co_queue_next;
    if (!queue->head) {
        queue->tail = NULL;
    }
    co->co_queue_next = NULL;
    aio_co_wake(co);
    return true;
}

void qemu_co_queue_restart_all(CoQueue *queue)
{
    while (qemu_co_queue_next(queue)) {
    }
}
