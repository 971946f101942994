/*
 * aio-wait.c — the global AioWait behind AIO_WAIT_WHILE().
 *
 * A waiter announces itself (num_waiters, and for a home-thread wait the
 * context it polls), then evaluates its condition.  A kicker changes
 * state, then reads num_waiters: with a full barrier on both sides, either
 * the waiter sees the new state or the kicker sees the waiter.  A foreign
 * thread reads the kick generation before its condition and sleeps only
 * while the generation is unchanged, so a kick between the two is not lost.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-wait.h"
#include "aio-internal.h"

AioWait global_aio_wait;

static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cond = PTHREAD_COND_INITIALIZER;
static unsigned wait_gen;      /* under wait_lock; atomic for readers */
static GList *polled_contexts; /* under wait_lock; one entry per wait */

void aio_wait_begin(AioContext *ctx)
{
    if (aio_context_in_home_thread(ctx)) {
        pthread_mutex_lock(&wait_lock);
        polled_contexts = g_list_prepend(polled_contexts, aio_context_ref(ctx));
        pthread_mutex_unlock(&wait_lock);
    }
    /* Seq-cst: announce before reading the condition.  Pairs with the
     * smp_mb() in aio_wait_kick(). */
    __atomic_fetch_add(&global_aio_wait.num_waiters, 1, __ATOMIC_SEQ_CST);
}

void aio_wait_end(AioContext *ctx)
{
    __atomic_fetch_sub(&global_aio_wait.num_waiters, 1, __ATOMIC_SEQ_CST);
    if (aio_context_in_home_thread(ctx)) {
        pthread_mutex_lock(&wait_lock);
        polled_contexts = g_list_remove(polled_contexts, ctx);
        pthread_mutex_unlock(&wait_lock);
        aio_context_unref(ctx);
    }
}

unsigned aio_wait_generation(void)
{
    /* Pairs with the release increment in aio_wait_kick(). */
    return __atomic_load_n(&wait_gen, __ATOMIC_ACQUIRE);
}

void aio_wait_for_kick(unsigned generation)
{
    pthread_mutex_lock(&wait_lock);
    while (atomic_read(&wait_gen) == generation) {
        pthread_cond_wait(&wait_cond, &wait_lock);
    }
    pthread_mutex_unlock(&wait_lock);
}

void aio_wait_kick(void)
{
    /* The caller's state change before reading num_waiters.  Pairs with
     * the seq-cst increment in aio_wait_begin(). */
    smp_mb();
    if (!__atomic_load_n(&global_aio_wait.num_waiters, __ATOMIC_SEQ_CST)) {
        return;
    }
    pthread_mutex_lock(&wait_lock);
    __atomic_store_n(&wait_gen, wait_gen + 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&wait_cond);
    for (GList *l = polled_contexts; l; l = l->next) {
        aio_notify(l->data);
    }
    pthread_mutex_unlock(&wait_lock);
}
