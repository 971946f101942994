/*
 * clock.c — the four QEMU clocks and timeout arithmetic.
 *
 * REALTIME and VIRTUAL_RT read CLOCK_MONOTONIC; HOST reads CLOCK_REALTIME
 * (wall time, follows NTP).  VIRTUAL is guest time: outside a VM it follows
 * the monotonic clock, and can be stopped, resumed and stepped through
 * qemu_clock_virtual_*() (aio.h does not expose those yet).
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

#include <time.h>

static int64_t timespec_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t qemu_clock_get_ns(QEMUClockType type)
{
    switch (type) {
    case QEMU_CLOCK_HOST:
        return timespec_ns(CLOCK_REALTIME);
    case QEMU_CLOCK_REALTIME:
    case QEMU_CLOCK_VIRTUAL:
    case QEMU_CLOCK_VIRTUAL_RT:
    default:
        return timespec_ns(CLOCK_MONOTONIC);
    }
}

bool aio__clock_use_for_deadline(QEMUClockType type)
{
    (void)type;
    return true;
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
