/*
 * clock.cc — clockNs(): the core's QEMU clocks, read from JS.
 *
 * SPDX-License-Identifier: MIT
 */
#include "addon.h"
#include "guards.h"

extern "C" {
#include "aio.h"
}

namespace aiocontext {

/* clockNs(clock: 0-3): qemu_clock_get_ns().  Any thread. */
Napi::Value JS_clockNs(const Napi::CallbackInfo &info)
{
    REQUIRE_ARG_INT32(0, clock);
    if (clock < 0 || clock >= QEMU_CLOCK_MAX) {
        AIO_ARG_FAIL(0, "a clock type (0-3)");
    }
    int64_t ns = qemu_clock_get_ns(static_cast<QEMUClockType>(clock));
    return Napi::Number::New(info.Env(), static_cast<double>(ns));
}

} // namespace aiocontext
