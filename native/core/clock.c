/*
 * clock.c — the four QEMU clocks and timeout arithmetic.
 *
 * REALTIME reads CLOCK_MONOTONIC; HOST reads CLOCK_REALTIME (wall time,
 * follows NTP).  VIRTUAL (and VIRTUAL_RT, its twin outside icount mode) is
 * guest time: it follows the monotonic clock plus an offset while running,
 * and stands still while stopped; step() moves it forward either way.
 *
 * One deliberate difference from QEMU: there a stopped virtual clock is
 * also *disabled* (its timers never run).  Here timers that are due at the
 * frozen time still run, and waiting never makes a stopped clock's timers
 * due (their deadline is "forever").  That is what makes stop() + step()
 * a deterministic test clock, which is what QEMU's qtest clock_step does.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

#include <errno.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static int64_t timespec_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The virtual clock: process-wide, as in QEMU. */
static pthread_mutex_t virtual_lock = PTHREAD_MUTEX_INITIALIZER;
static bool virtual_stopped;   /* under virtual_lock; read atomically */
static int64_t virtual_offset; /* added to monotonic time while running */
static int64_t virtual_frozen; /* the time while stopped */

/* Called with virtual_lock held. */
static int64_t virtual_now_locked(void)
{
    int64_t now;

    if (virtual_stopped) {
        return virtual_frozen;
    }
    if (__builtin_add_overflow(timespec_ns(CLOCK_MONOTONIC), virtual_offset,
                               &now)) {
        return INT64_MAX; /* stepped close to the end, then left running */
    }
    return now;
}

static int64_t virtual_get_ns(void)
{
    int64_t now;

    pthread_mutex_lock(&virtual_lock);
    now = virtual_now_locked();
    pthread_mutex_unlock(&virtual_lock);
    return now;
}

int64_t qemu_clock_get_ns(QEMUClockType type)
{
    switch (type) {
    case QEMU_CLOCK_HOST: return timespec_ns(CLOCK_REALTIME);
    case QEMU_CLOCK_VIRTUAL:
    case QEMU_CLOCK_VIRTUAL_RT: return virtual_get_ns();
    case QEMU_CLOCK_REALTIME:
    default: return timespec_ns(CLOCK_MONOTONIC);
    }
}

bool aio__clock_use_for_deadline(QEMUClockType type)
{
    if (type == QEMU_CLOCK_VIRTUAL || type == QEMU_CLOCK_VIRTUAL_RT) {
        return !atomic_read(&virtual_stopped);
    }
    return true;
}

void qemu_clock_virtual_stop(void)
{
    pthread_mutex_lock(&virtual_lock);
    if (!virtual_stopped) {
        virtual_frozen = virtual_now_locked();
        atomic_set(&virtual_stopped, true);
    }
    pthread_mutex_unlock(&virtual_lock);
    aio__notify_all();
}

void qemu_clock_virtual_resume(void)
{
    pthread_mutex_lock(&virtual_lock);
    if (virtual_stopped) {
        virtual_offset = virtual_frozen - timespec_ns(CLOCK_MONOTONIC);
        atomic_set(&virtual_stopped, false);
    }
    pthread_mutex_unlock(&virtual_lock);
    aio__notify_all();
}

int qemu_clock_virtual_step(int64_t ns)
{
    int64_t now, sum;

    g_return_val_if_fail(ns >= 0, -EINVAL);
    pthread_mutex_lock(&virtual_lock);
    now = virtual_now_locked();
    if (__builtin_add_overflow(now, ns, &sum)) {
        /* Refused rather than saturated: a step that silently went less
         * far than asked would leave a test's timers unexplained. */
        pthread_mutex_unlock(&virtual_lock);
        return -ERANGE;
    }
    if (virtual_stopped) {
        virtual_frozen = sum;
    } else {
        virtual_offset += ns;
    }
    pthread_mutex_unlock(&virtual_lock);
    aio__notify_all();
    return 0;
}

bool qemu_clock_virtual_stopped(void)
{
    return atomic_read(&virtual_stopped);
}

int aio__timeout_ns_to_ms(int64_t ns)
{
    int64_t ms;

    if (ns < 0) {
        return -1;
    }
    if (ns == 0) {
        return 0;
    }
    /* Round up: better to wait a little too long than to wake up early
     * and spin until the deadline. */
    ms = (ns + SCALE_MS - 1) / SCALE_MS;
    return ms > G_MAXINT32 ? G_MAXINT32 : (int)ms;
}

void aio__clock_thread_init(void)
{
#ifdef PR_SET_TIMERSLACK
    /* Best effort: a failure leaves the default slack. */
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
}
