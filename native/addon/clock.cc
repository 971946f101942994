/*
 * clock.cc — clockNs(): the core's QEMU clocks, read from JS; and the
 * controllable virtual clock (virtualClock in the TS API).
 *
 * SPDX-License-Identifier: MIT
 */
#include "addon.h"
#include "guards.h"
#include "modules.h"

#include <cerrno>

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

/* virtualClockControl(op: 0 stop, 1 resume, 2 step, ns?): the process-wide
 * virtual clock (qemu_clock_virtual_*).  Any thread.  Returns: whether the
 * clock is stopped afterwards. */
Napi::Value JS_virtualClockControl(const Napi::CallbackInfo &info)
{
    REQUIRE_ARG_INT32(0, op);
    switch (op) {
    case 0: qemu_clock_virtual_stop(); break;
    case 1: qemu_clock_virtual_resume(); break;
    case 2: {
        if (info.Length() < 2 || !info[1].IsNumber()) {
            AIO_ARG_FAIL(1, "a number of ns");
        }
        double ns = info[1].As<Napi::Number>().DoubleValue();
        if (!(ns >= 0) || ns > 9007199254740991.0) {
            AIO_ARG_FAIL(1, "a non-negative safe integer");
        }
        if (qemu_clock_virtual_step(static_cast<int64_t>(ns)) == -ERANGE) {
            napi_throw_range_error(info.Env(), "ERR_OUT_OF_RANGE",
                                   "virtualClock.step(): the virtual clock "
                                   "would pass 2**63 - 1 ns; nothing changed");
            return Napi::Value();
        }
        break;
    }
    default: break;
    }
    return Napi::Boolean::New(info.Env(), qemu_clock_virtual_stopped());
}

} // namespace aiocontext
