/*
 * co-mutex.c — CoMutex: a fair mutex for coroutines, with hand-off.
 *
 * Unlock never leaves the mutex free while someone waits: it makes the
 * first waiter the holder and wakes it in its own context (another
 * thread's, maybe).  So waiters get it in arrival order and a coroutine
 * that unlocks and locks again at once queues behind them.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

#include <stdio.h>
#include <stdlib.h>

void qemu_co_mutex_init(CoMutex *mutex)
{
    pthread_mutex_init(&mutex->lock, NULL);
    mutex->locked = false;
    mutex->holder = NULL;
    mutex->head = mutex->tail = NULL;
    mutex->waiters = 0;
}

void qemu_co_mutex_destroy(CoMutex *mutex)
{
    g_assert(!mutex->locked);
    pthread_mutex_destroy(&mutex->lock);
}

void coroutine_fn qemu_co_mutex_lock(CoMutex *mutex)
{
    Coroutine *self = qemu_coroutine_self();

    g_assert(qemu_in_coroutine());
    pthread_mutex_lock(&mutex->lock);
    if (!mutex->locked) {
        mutex->locked = true;
        mutex->holder = self;
        pthread_mutex_unlock(&mutex->lock);
        self->locks_held++;
        return;
    }
    aio__co_fifo_push(&mutex->head, &mutex->tail, self);
    mutex->waiters++;
    pthread_mutex_unlock(&mutex->lock);
    /* An unlock in another thread may pick this coroutine now; it wakes it
     * through its context, whose loop enters it after this yield. */
    qemu_coroutine_yield();
    /* The unlocker made us the holder (ordered by the wake-up's hand-off
     * through the context). */
    self->locks_held++;
}

void coroutine_fn qemu_co_mutex_unlock(CoMutex *mutex)
{
    Coroutine *self = qemu_coroutine_self();
    Coroutine *next;

    pthread_mutex_lock(&mutex->lock);
    if (!mutex->locked || mutex->holder != self) {
        pthread_mutex_unlock(&mutex->lock);
        fprintf(stderr,
                "aiocontext: coroutine '%s' unlocked a CoMutex it "
                "does not hold\n",
                self->name);
        abort();
    }
    next = aio__co_fifo_pop(&mutex->head, &mutex->tail);
    if (next) {
        mutex->waiters--;
        mutex->holder = next; /* hand-off: stays locked */
    } else {
        mutex->locked = false;
        mutex->holder = NULL;
    }
    pthread_mutex_unlock(&mutex->lock);
    self->locks_held--;
    if (next) {
        aio_co_wake(next);
    }
}

void coroutine_fn qemu_co_mutex_assert_locked(CoMutex *mutex)
{
    Coroutine *self = qemu_coroutine_self();
    bool mine;

    pthread_mutex_lock(&mutex->lock);
    mine = mutex->locked && mutex->holder == self;
    pthread_mutex_unlock(&mutex->lock);
    if (!mine) {
        fprintf(stderr,
                "aiocontext: coroutine '%s' does not hold the "
                "CoMutex\n",
                self->name);
        abort();
    }
}
