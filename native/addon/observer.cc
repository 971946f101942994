/*
 * observer.cc — what JS sees of the core's observer (aio_context_set_observer):
 * Context.setObserve(on) and Context.takeEvents().
 *
 * While JS observes a context (src/observe.ts: a diagnostics_channel
 * subscriber, a trace), the core times each callback and pass and this file
 * keeps them, as plain C++ records, until JS takes them after a pass (into
 * a buffer JS reuses: no allocation per pass but the BH names).  With
 * nobody observing, the observer is unset and the core takes no timestamps.
 * At most kMaxEvents records wait; more are counted and dropped (a context
 * driven by GLib for a long time with nobody taking them).
 *
 * JS thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#include "context.h"

#include "addon.h"
#include "guards.h"

#include <algorithm>

namespace aiocontext {

static constexpr size_t kMaxEvents = 1 << 20;

void Context::OnObserve(AioContext *, AioEventKind kind, const char *name,
                        int64_t arg, int64_t start_ns, int64_t end_ns,
                        void *opaque)
{
    auto *self = static_cast<Context *>(opaque);

    if (self->events_.size() >= kMaxEvents) {
        self->eventsDropped_++;
        return;
    }
    self->events_.push_back({kind, arg, start_ns, end_ns, name ? name : ""});
}

/* setObserve(on: boolean) */
Napi::Value Context::JS_setObserve(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    REQUIRE_ARG_BOOLEAN(0, on);
    aio_context_set_observer(core_, on ? OnObserve : nullptr, this);
    return Napi::Value();
}

/* takeEvents(buf: Float64Array, names: Array): moves the oldest records
 * into @buf — buf[0] the records dropped since the last call, then
 * [kind, arg, startNs, endNs] per record — and each BH's name into
 * names[i].  Returns: how many it moved; fewer than fit means none are
 * left.  Nothing is allocated but the name strings. */
Napi::Value Context::JS_takeEvents(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
        AIO_ARG_FAIL(0, "a Float64Array");
    }
    REQUIRE_ARG_OBJECT(1, names);
    Napi::Float64Array buf = info[0].As<Napi::Float64Array>();
    if (buf.ElementLength() < 5) {
        AIO_ARG_FAIL(0, "a Float64Array of at least 5 elements");
    }
    size_t n = std::min((buf.ElementLength() - 1) / 4, events_.size());
    double *out = buf.Data();

    out[0] = static_cast<double>(eventsDropped_);
    eventsDropped_ = 0;
    for (size_t i = 0; i < n; i++) {
        const ObservedEvent &e = events_[i];
        double *rec = out + 1 + 4 * i;
        rec[0] = static_cast<double>(e.kind);
        rec[1] = static_cast<double>(e.arg);
        rec[2] = static_cast<double>(e.startNs);
        rec[3] = static_cast<double>(e.endNs);
        if (e.kind == AIO_EVENT_BH) {
            names.Set(static_cast<uint32_t>(i), Napi::String::New(env, e.name));
        }
    }
    events_.erase(events_.begin(), events_.begin() + static_cast<ptrdiff_t>(n));
    return Napi::Number::New(env, static_cast<double>(n));
}

} // namespace aiocontext
