/*
 * lockcnt.c — a walker counter fused with a writer lock (QEMU's
 * QemuLockCnt; the idea of its futex flavour, with a pthread mutex for
 * the waiting).
 *
 * Why not a plain rwlock: walkers must never block on writers that only
 * add or mark nodes (writers do that while walkers run); the only thing a
 * walker waits for is a writer that is freeing nodes, which happens while
 * the count is zero and the lock is held.
 *
 * The state is one word, `count`: bit 0 (LOCKED) says that a writer holds
 * the lock, the bits above count the walkers (in steps of COUNT_ONE).
 * LOCKED is only set and cleared by the holder of `mutex`, which is what
 * writers wait on; walkers wait on it only to go from zero while LOCKED is
 * set.
 *
 * The invariant the callers rely on: while a writer holds the lock (from
 * aio__lockcnt_lock() to aio__lockcnt_unlock()), nobody makes the count go
 * from 0 to 1.  Hence a writer that reads count 0 under the lock may free
 * nodes: no walker is in, and none can come in before it unlocks.  Proof:
 *
 * - Every change of the word is a read-modify-write, so all of them are
 *   in one total order.  aio__lockcnt_lock() sets LOCKED with one (after
 *   taking the mutex); until aio__lockcnt_unlock() clears it, the word
 *   has LOCKED set.
 * - A lock-free increment is a compare-and-swap that only writes when the
 *   count it read is non-zero or LOCKED is clear.  After the writer's
 *   set, a CAS that read count 0 read LOCKED set, so it writes nothing
 *   and the walker takes the mutex instead, i.e. waits for the writer.
 * - A CAS that succeeded before the writer's set is earlier in the total
 *   order, and the writer's later reads of the word (coherence) see that
 *   walker's increment or its later decrement.  If they see the decrement,
 *   the walker is gone: its release decrement pairs with the writer's
 *   acquire read of the count, so what the walker read happens before
 *   whatever the writer frees.
 * - A walker that goes from zero through the mutex holds the mutex, so no
 *   writer holds the lock (LOCKED is clear) while it adds.
 *
 * So a walker only ever goes from zero lock-free when no writer is in:
 * the common case on the loop's own thread (aio_poll() with no writer)
 * costs one CAS instead of a mutex lock, an atomic add and an unlock.
 * When it does go through the mutex, the result is what the old
 * mutex-only version gave: the increment waits for the writer.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

#define LOCKED 1u
#define COUNT_ONE 2u

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

    /* Lock-free unless the count is zero and a writer holds the lock. */
    while (old >= COUNT_ONE || !(old & LOCKED)) {
        /* Acquire pairs with the release in aio__lockcnt_dec (a walker
         * that sees count > 0 also sees what the previous holder
         * published) and with the release clearing LOCKED in
         * aio__lockcnt_unlock / aio__lockcnt_inc_and_unlock (a walker
         * coming in after a writer sees what it changed and freed). */
        if (__atomic_compare_exchange_n(&lc->count, &old, old + COUNT_ONE,
                                        false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            return;
        }
        /* `old` now holds the current word: try again or fall back. */
    }
    /* Zero with a writer in: it may be freeing nodes.  Wait for it; with
     * the mutex held no writer is in, so LOCKED is clear and the add
     * cannot make a 0 -> 1 under a writer.  The mutex orders this after
     * the writer's critical section. */
    pthread_mutex_lock(&lc->mutex);
    __atomic_fetch_add(&lc->count, COUNT_ONE, __ATOMIC_ACQUIRE);
    pthread_mutex_unlock(&lc->mutex);
}

void aio__lockcnt_dec(AioLockCnt *lc)
{
    /* Release: pairs with the acquire CAS in aio__lockcnt_inc, the acquire
     * read in aio__lockcnt_count and the acquire set of LOCKED in
     * aio__lockcnt_lock, so that what this walker read happens before a
     * writer that sees the count drop frees anything. */
    __atomic_fetch_sub(&lc->count, COUNT_ONE, __ATOMIC_RELEASE);
}

bool aio__lockcnt_dec_if_lock(AioLockCnt *lc)
{
    unsigned expected = COUNT_ONE | LOCKED;

    /* Cheap way out for a nested walker. */
    if (atomic_read(&lc->count) >= 2 * COUNT_ONE) {
        return false;
    }
    aio__lockcnt_lock(lc);
    /* Only if we are the only walker: count 1 -> 0 with LOCKED kept, so
     * from here on walkers wait (the inc slow path) until the caller's
     * aio__lockcnt_inc_and_unlock.  A walker that came in since the check
     * above makes this fail and changes nothing; that walker frees.
     * Acquire pairs with the other walkers' release decrements (what
     * they read happens before what the caller frees). */
    if (__atomic_compare_exchange_n(&lc->count, &expected, LOCKED, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        return true;
    }
    aio__lockcnt_unlock(lc);
    return false;
}

void aio__lockcnt_lock(AioLockCnt *lc)
{
    pthread_mutex_lock(&lc->mutex);
    /* From here on, an increment from zero waits for the mutex.  Acquire
     * pairs with the release decrement of walkers that left (the mutex
     * gives no order with them: they never touched it). */
    __atomic_fetch_or(&lc->count, LOCKED, __ATOMIC_ACQUIRE);
}

void aio__lockcnt_unlock(AioLockCnt *lc)
{
    /* Release pairs with the acquire CAS in aio__lockcnt_inc: a walker
     * that comes in lock-free after this sees what the writer did.  (A
     * walker that waited on the mutex gets that from the mutex.) */
    __atomic_fetch_and(&lc->count, ~LOCKED, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lc->mutex);
}

void aio__lockcnt_inc_and_unlock(AioLockCnt *lc)
{
    /* LOCKED is set (we hold the lock): adding COUNT_ONE - LOCKED adds a
     * walker and clears LOCKED in one step, so no walker sees the count
     * at zero without LOCKED in between.  Release pairs with the acquire
     * CAS in aio__lockcnt_inc, as in aio__lockcnt_unlock; acquire keeps
     * the caller's walk after it. */
    __atomic_fetch_add(&lc->count, COUNT_ONE - LOCKED, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&lc->mutex);
}

unsigned aio__lockcnt_count(AioLockCnt *lc)
{
    /* Acquire pairs with the release in aio__lockcnt_dec. */
    return atomic_load_acquire(&lc->count) / COUNT_ONE;
}
