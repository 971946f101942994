/*
 * lockcnt.c — a walker counter fused with a writer mutex (QEMU's
 * QemuLockCnt, the portable mutex-based flavour).
 *
 * Why not a plain rwlock: walkers must never block on writers that only
 * add or mark nodes (writers do that while walkers run); the only thing a
 * walker waits for is a writer that is freeing nodes, which happens while
 * the count is zero and the mutex is held.  Hence: increments from a
 * non-zero count are a lock-free CAS; an increment from zero goes through
 * the mutex.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

void aio__lockcnt_init(AioLockCnt *lc)
{
    pthread_mutex_init(&lc->mutex, NULL);
    lc->count = 0;
}

void aio__lockcnt_destroy(AioLockCnt *lc)
{
    pthread_mutex_destroy(&lc->mutex);
}

void aio__lockcnt_inc(AioLockCnt *lc)
{
    unsigned old = atomic_read(&lc->count);

    while (old != 0) {
        /* Acquire pairs with the release in aio__lockcnt_dec: a walker
         * that sees count > 0 also sees everything the previous holder
         * published. */
        if (__atomic_compare_exchange_n(&lc->count, &old, old + 1, false,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            return;
        }
    }
    /* From zero: a writer may be freeing nodes under the mutex. */
    pthread_mutex_lock(&lc->mutex);
    __atomic_fetch_add(&lc->count, 1, __ATOMIC_ACQUIRE);
    pthread_mutex_unlock(&lc->mutex);
}

void aio__lockcnt_dec(AioLockCnt *lc)
{
    __atomic_fetch_sub(&lc->count, 1, __ATOMIC_RELEASE);
}

bool aio__lockcnt_dec_if_lock(AioLockCnt *lc)
{
    if (atomic_read(&lc->count) > 1) {
        return false;
    }
    pthread_mutex_lock(&lc->mutex);
    if (__atomic_fetch_sub(&lc->count, 1, __ATOMIC_ACQ_REL) == 1) {
        return true;
    }
    /* Someone else came in meanwhile: undo and let the last one free. */
    aio__lockcnt_inc_and_unlock(lc);
    return false;
}

void aio__lockcnt_lock(AioLockCnt *lc)
{
    pthread_mutex_lock(&lc->mutex);
}

void aio__lockcnt_unlock(AioLockCnt *lc)
{
    pthread_mutex_unlock(&lc->mutex);
}

void aio__lockcnt_inc_and_unlock(AioLockCnt *lc)
{
    __atomic_fetch_add(&lc->count, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&lc->mutex);
}

unsigned aio__lockcnt_count(AioLockCnt *lc)
{
    return atomic_load_acquire(&lc->count);
}
