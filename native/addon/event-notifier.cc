/*
 * event-notifier.cc — class EventNotifier (see event-notifier.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "event-notifier.h"

#include "addon.h"
#include "errors.h"
#include "guards.h"

namespace aiocontext {

Napi::Function EventNotifier::Init(Napi::Env env, Addon *addon)
{
    return DefineClass(
        env, "EventNotifier",
        {
            InstanceMethod<&EventNotifier::JS_set>("set"),
            InstanceMethod<&EventNotifier::JS_testAndClear>("testAndClear"),
            InstanceMethod<&EventNotifier::JS_close>("close"),
            InstanceAccessor<&EventNotifier::JS_fd>("fd"),
            InstanceAccessor<&EventNotifier::JS_closed>("closed"),
        },
        addon);
}

EventNotifier::EventNotifier(const Napi::CallbackInfo &info)
    : Napi::ObjectWrap<EventNotifier>(info),
      addon_(static_cast<Addon *>(info.Data()))
{
    bool active = info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
    int ret = event_notifier_init(&notifier_, active);

    if (ret < 0) {
        ThrowErrno(addon_, info.Env(), -ret, "eventfd");
        return;
    }
    napi_type_tag_object(info.Env(), info.This(), &addon_->tags.eventNotifier);
    addon_->notifiers.insert(this);
}

EventNotifier::~EventNotifier()
{
    /* Unreachable means unregistered (a registration holds a reference). */
    Cleanup();
}

EventNotifier *EventNotifier::FromValue(Addon *addon, napi_env env,
                                        Napi::Value value)
{
    return UnwrapTagged<EventNotifier>(env, value, &addon->tags.eventNotifier,
                                       "expected a native EventNotifier");
}

void EventNotifier::Cleanup()
{
    if (notifier_.initialized) {
        event_notifier_cleanup(&notifier_);
    }
    addon_->notifiers.erase(this);
}

bool EventNotifier::CheckOpen(napi_env env) const
{
    if (!notifier_.initialized) {
        ThrowState(addon_, env, AioState::Closed, "EventNotifier");
        return false;
    }
    return true;
}

/* ---- JS methods ---------------------------------------------------------- */

Napi::Value EventNotifier::JS_fd(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckOpen(info.Env()));
    return Napi::Number::New(info.Env(), event_notifier_get_fd(&notifier_));
}

Napi::Value EventNotifier::JS_set(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckOpen(info.Env()));
    int ret = event_notifier_set(&notifier_);
    if (ret < 0) {
        ThrowErrno(addon_, info.Env(), -ret, "write");
    }
    return Napi::Value();
}

Napi::Value EventNotifier::JS_testAndClear(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckOpen(info.Env()));
    return Napi::Boolean::New(info.Env(),
                              event_notifier_test_and_clear(&notifier_));
}

/* Idempotent; refuses while a context still polls the descriptor. */
Napi::Value EventNotifier::JS_close(const Napi::CallbackInfo &info)
{
    if (!notifier_.initialized) {
        return Napi::Value();
    }
    if (registrations_ > 0) {
        ThrowState(addon_, info.Env(), AioState::Busy, "EventNotifier");
        return Napi::Value();
    }
    Cleanup();
    return Napi::Value();
}

Napi::Value EventNotifier::JS_closed(const Napi::CallbackInfo &info)
{
    return Napi::Boolean::New(info.Env(), !notifier_.initialized);
}

} // namespace aiocontext
