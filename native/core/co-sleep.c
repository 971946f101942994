/*
 * co-sleep.c — qemu_co_sleep_ns: a coroutine yields until a timer of its
 * context wakes it.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

#include <stdio.h>
#include <stdlib.h>

static void co_sleep_cb(void *opaque)
{
    aio_co_wake(opaque);
}

void coroutine_fn qemu_co_sleep_ns(QEMUClockType type, int64_t ns)
{
    Coroutine *self = qemu_coroutine_self();
    AioContext *ctx = qemu_coroutine_get_aio_context(self);
    QEMUTimer *timer;

    if (!qemu_in_coroutine() || !ctx) {
        fprintf(stderr, "aiocontext: qemu_co_sleep_ns() needs a coroutine "
                        "entered from a context\n");
        abort();
    }
    timer = aio_timer_new(ctx, type, SCALE_NS, co_sleep_cb, self);
    timer_mod_ns(timer, qemu_clock_get_ns(type) + ns);
    qemu_coroutine_yield();
    timer_free(timer);
}
