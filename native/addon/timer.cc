/*
 * timer.cc — class Timer (see timer.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "timer.h"

#include "addon.h"
#include "callback.h"
#include "context.h"
#include "errors.h"
#include "guards.h"

namespace aiocontext {

Napi::Function Timer::Init(Napi::Env env, Addon *addon)
{
    return DefineClass(
        env, "Timer",
        {
            InstanceMethod<&Timer::JS_mod>("mod"),
            InstanceMethod<&Timer::JS_modNs>("modNs"),
            InstanceMethod<&Timer::JS_modAnticipate>("modAnticipate"),
            InstanceMethod<&Timer::JS_del>("del"),
            InstanceMethod<&Timer::JS_delete>("delete"),
            InstanceMethod<&Timer::JS_expired>("expired"),
            InstanceAccessor<&Timer::JS_pending>("pending"),
            InstanceAccessor<&Timer::JS_expireTime>("expireTime"),
        },
        addon);
}

Timer::Timer(const Napi::CallbackInfo &info)
    : Napi::ObjectWrap<Timer>(info), addon_(static_cast<Addon *>(info.Data()))
{
    if (!info[0].IsExternal() ||
        info[0].As<Napi::External<Addon>>().Data() != addon_) {
        ThrowTypeError(info.Env(),
                       "Illegal constructor: use AioContext.timer()");
        return;
    }
    napi_type_tag_object(info.Env(), info.This(), &addon_->tags.timer);
}

Timer::~Timer()
{
    /* Collectable only after Free(): nothing left in the core. */
}

Napi::Object Timer::New(Context *ctx, QEMUClockType clock, int scale,
                        int attributes, Napi::Function cb)
{
    Addon *addon = ctx->addon();
    Napi::Env env(addon->env);
    Napi::Object obj = addon->timerClass.New(
        {Napi::External<Addon>::New(env, addon)});
    /* Empty with no exception pending when the environment is going (a
     * Worker terminated in this call): nothing may be touched then. */
    Timer *self = obj.IsEmpty() || env.IsExceptionPending() ? nullptr
                                                            : Unwrap(obj);
    if (!self) {
        return Napi::Object();
    }
    self->owner_ = ctx->link();
    self->scale_ = scale;
    self->callback_ = Napi::Persistent(cb);
    self->timer_ = aio_timer_new_with_attrs(ctx->core(), clock, scale,
                                            attributes, Run, self);
    /* Owned by the context until delete() or close. */
    self->Ref();
    ctx->timers_.push_back(self);
    self->pos_ = std::prev(ctx->timers_.end());
    return obj;
}

/* The core's callback.  Touches nothing of @self after the JS call, which
 * may free the timer or close the context. */
void Timer::Run(void *opaque)
{
    auto *self = static_cast<Timer *>(opaque);

    CallReferenceFromCore(self->addon_, self->callback_);
}

void Timer::Free()
{
    if (timer_) {
        timer_free(timer_); /* synchronous: never called again */
        timer_ = nullptr;
    }
    callback_.Reset(); /* a running callback keeps its own handle */
    Unref();
}

void Timer::CloseFromContext()
{
    /* The context empties its timers_ list itself. */
    Free();
    closed_ = true;
}

int64_t Timer::Clamp(int64_t value) const
{
    if (scale_ <= 1) {
        return value;
    }
    int64_t max = INT64_MAX / scale_, min = INT64_MIN / scale_;
    return value > max ? max : value < min ? min : value;
}

bool Timer::CheckUsable(napi_env env) const
{
    Context *ctx = closed_ ? nullptr : Context::Open(owner_);

    if (!ctx) {
        ThrowState(addon_, env, AioState::Closed, "The AioContext of Timer");
        return false;
    }
    if (!aio_context_in_home_thread(ctx->core())) {
        ThrowState(addon_, env, AioState::WrongThread, "Timer");
        return false;
    }
    if (deleted_) {
        ThrowState(addon_, env, AioState::Deleted, "Timer");
        return false;
    }
    return true;
}

/* ---- JS methods ---------------------------------------------------------- */

Napi::Value Timer::JS_mod(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    REQUIRE_ARG_INT64(0, expire);
    timer_mod(timer_, Clamp(expire));
    Context::WorkChanged(owner_);
    return Napi::Value();
}

Napi::Value Timer::JS_modNs(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    REQUIRE_ARG_INT64(0, expire);
    timer_mod_ns(timer_, expire);
    Context::WorkChanged(owner_);
    return Napi::Value();
}

Napi::Value Timer::JS_modAnticipate(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    REQUIRE_ARG_INT64(0, expire);
    timer_mod_anticipate(timer_, Clamp(expire));
    Context::WorkChanged(owner_);
    return Napi::Value();
}

Napi::Value Timer::JS_del(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    timer_del(timer_);
    Context::WorkChanged(owner_);
    return Napi::Value();
}

/* Idempotent, safe from the timer's own callback, and a no-op once the
 * context closed (close() freed the timer already), so that cleanup code
 * need not care in which order it runs. */
Napi::Value Timer::JS_delete(const Napi::CallbackInfo &info)
{
    Context *ctx = closed_ ? nullptr : Context::Open(owner_);

    if (!ctx || deleted_) {
        return Napi::Value();
    }
    if (!aio_context_in_home_thread(ctx->core())) {
        ThrowState(addon_, info.Env(), AioState::WrongThread, "Timer");
        return Napi::Value();
    }
    deleted_ = true;
    ctx->timers_.erase(pos_);
    Free();
    ctx->WorkChanged();
    return Napi::Value();
}

Napi::Value Timer::JS_expired(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    REQUIRE_ARG_INT64(0, now);
    return Napi::Boolean::New(info.Env(), timer_expired(timer_, Clamp(now)));
}

Napi::Value Timer::JS_pending(const Napi::CallbackInfo &info)
{
    return Napi::Boolean::New(info.Env(), timer_ && timer_pending(timer_));
}

Napi::Value Timer::JS_expireTime(const Napi::CallbackInfo &info)
{
    int64_t ns = timer_ ? timer_expire_time_ns(timer_) : -1;
    return Napi::Number::New(info.Env(), static_cast<double>(ns));
}

} // namespace aiocontext
