/*
 * observer.cc — what JS sees of the core's observer (aio_context_set_observer):
 * Context.setObserve(on) and Context.takeEvents().
 *
 * While JS observes a context (src/observe.ts: a diagnostics_channel
 * subscriber, a trace), the core times each callback and pass and this file
 * keeps them, as plain C++ records, until JS takes them after a pass.  With
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

/* takeEvents(): { kinds, args, starts, ends, names, dropped }, the records
 * since the last call (kinds: AioEventKind values). */
Napi::Value Context::JS_takeEvents(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    Napi::Env env = info.Env();
    size_t n = events_.size();
    Napi::Float64Array starts = Napi::Float64Array::New(env, n);
    Napi::Float64Array ends = Napi::Float64Array::New(env, n);
    Napi::Float64Array args = Napi::Float64Array::New(env, n);
    Napi::Uint8Array kinds = Napi::Uint8Array::New(env, n);
    Napi::Array names = Napi::Array::New(env, n);

    for (size_t i = 0; i < n; i++) {
        const ObservedEvent &e = events_[i];
        kinds[i] = static_cast<uint8_t>(e.kind);
        args[i] = static_cast<double>(e.arg);
        starts[i] = static_cast<double>(e.startNs);
        ends[i] = static_cast<double>(e.endNs);
        if (e.kind == AIO_EVENT_BH) {
            names.Set(static_cast<uint32_t>(i), Napi::String::New(env, e.name));
        }
    }
    events_.clear();
    Napi::Object out = Napi::Object::New(env);
    out.Set("kinds", kinds);
    out.Set("args", args);
    out.Set("starts", starts);
    out.Set("ends", ends);
    out.Set("names", names);
    out.Set("dropped", Napi::Number::New(env, static_cast<double>(eventsDropped_)));
    eventsDropped_ = 0;
    return out;
}

} // namespace aiocontext
