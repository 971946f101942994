/*
 * bottom-half.cc — class BottomHalf and oneshot BHs (see bottom-half.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "bottom-half.h"

#include "addon.h"
#include "callback.h"
#include "context.h"
#include "errors.h"
#include "fast-method.h"
#include "guards.h"
#include "poll-driver.h"
#include "registry.h"

namespace aiocontext {

/* The JS function of a oneshot, from scheduling until the core frees the BH
 * (the destroy notify, after the call or at finalization).  Linked into its
 * context's oneshots_ list so that Close() can stop the ones that have not
 * run: a oneshot must not run after close() even if close() was called from
 * a callback earlier in the same BH pass. */
struct OneshotRecord {
    Addon *addon;
    Context *ctx; /* null once the context closed */
    Napi::FunctionReference fn;
    OneshotRecord *prev;
    OneshotRecord *next;
};

/* ---- class --------------------------------------------------------------- */

Napi::Function BottomHalf::Init(Napi::Env env, Addon *addon)
{
    return DefineClass(
        env, "BottomHalf",
        {
            InstanceMethod<&BottomHalf::JS_schedule>("schedule"),
            InstanceMethod<&BottomHalf::JS_cancel>("cancel"),
            InstanceMethod<&BottomHalf::JS_delete>("delete"),
            InstanceAccessor<&BottomHalf::JS_scheduled>("scheduled"),
            InstanceAccessor<&BottomHalf::JS_deleted>("deleted"),
            InstanceMethod<&BottomHalf::JS_share>("share"),
            StaticValue(
                "fastSchedule",
                NewFastFunction<BottomHalf, &BottomHalf::Schedule>(
                    env, "fastSchedule", addon->fastBottomHalves.get())),
        },
        addon);
}

BottomHalf::BottomHalf(const Napi::CallbackInfo &info)
    : Napi::ObjectWrap<BottomHalf>(info),
      addon_(static_cast<Addon *>(info.Data()))
{
    if (!info[0].IsExternal() ||
        info[0].As<Napi::External<Addon>>().Data() != addon_) {
        ThrowTypeError(info.Env(), "Illegal constructor: use AioContext.bh()");
        return;
    }
    napi_type_tag_object(info.Env(), info.This(), &addon_->tags.bottomHalf);
}

BottomHalf::~BottomHalf()
{
    fast_.Clear(); /* fastSchedule() throws from now on */
    /* Nothing to release in the core: the wrapper is only collectable after
     * the core's destroy notify dropped the strong reference. */
}

Napi::Object BottomHalf::New(Context *ctx, Napi::Function cb,
                             const std::string &name)
{
    Addon *addon = ctx->addon();
    Napi::Env env(addon->env);
    Napi::Object obj = addon->bottomHalfClass.New(
        {Napi::External<Addon>::New(env, addon)});
    /* Empty with no exception pending when the environment is going (a
     * Worker terminated in this call): nothing may be touched then. */
    BottomHalf *self = obj.IsEmpty() || env.IsExceptionPending() ? nullptr
                                                                 : Unwrap(obj);
    if (!self) {
        return Napi::Object();
    }
    if (!self->fast_.Define(env, obj, addon->fastBottomHalves, self)) {
        return Napi::Object();
    }
    self->owner_ = ctx->link();
    self->name_ = name;
    self->callback_ = Napi::Persistent(cb);
    self->core_ = ctx->core();
    self->bh_ = aio_bh_new_full(ctx->core(), Run, self, name.c_str(), Destroy);
    /* Owned by the context until the core frees the BH (Destroy). */
    self->Ref();
    ctx->bhs_.push_back(self);
    self->pos_ = std::prev(ctx->bhs_.end());
    return obj;
}

/* The core's callback.  Touches nothing of @self after the JS call: the
 * callback may delete the BH or close the context (the wrapper itself
 * stays alive until Destroy, which the core never runs while we are here). */
void BottomHalf::Run(void *opaque)
{
    auto *self = static_cast<BottomHalf *>(opaque);

    if (!self->callback_.IsEmpty() &&
        YieldToPoll(self->addon_, self->core_, self->callback_)) {
        return; /* JS poll() calls it (poll-driver.h) */
    }
    CallReferenceFromCore(self->addon_, self->callback_);
}

/* The core freed the BH: drop the context's reference on the wrapper. */
void BottomHalf::Destroy(void *opaque)
{
    auto *self = static_cast<BottomHalf *>(opaque);

    self->bh_ = nullptr;
    self->callback_.Reset();
    self->Unref();
}

void BottomHalf::CloseFromContext()
{
    /* The context empties its bhs_ list itself. */
    if (bh_) {
        registry::ForgetBh(bh_); /* before the core may free it */
        qemu_bh_delete(bh_);     /* freed at finalization: Destroy */
        bh_ = nullptr;
    }
    callback_.Reset();
    closed_ = true;
}

std::string BottomHalf::Describe() const
{
    return "BottomHalf '" + name_ + "'";
}

bool BottomHalf::CheckUsable(napi_env env) const
{
    Context *ctx = closed_ ? nullptr : Context::Open(owner_);

    if (!ctx) {
        ThrowState(addon_, env, AioState::Closed,
                   "The AioContext of " + Describe());
        return false;
    }
    if (!aio__in_home_thread(ctx->core())) {
        ThrowState(addon_, env, AioState::WrongThread, Describe());
        return false;
    }
    if (deleted_) {
        ThrowState(addon_, env, AioState::Deleted, Describe());
        return false;
    }
    return true;
}

/* ---- JS methods ---------------------------------------------------------- */

Napi::Value BottomHalf::JS_schedule(const Napi::CallbackInfo &info)
{
    return FastMethodOnPrototype<BottomHalf, &BottomHalf::Schedule>(this, info);
}

napi_value BottomHalf::Schedule(napi_env env, napi_value)
{
    if (CheckUsable(env)) {
        qemu_bh_schedule(bh_);
        Context::WorkChanged(owner_);
    }
    return nullptr;
}

Napi::Value BottomHalf::JS_cancel(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    qemu_bh_cancel(bh_);
    Context::WorkChanged(owner_);
    return Napi::Value();
}

/* Idempotent, and safe from the BH's own callback: the core frees the BH
 * on its next BH pass and calls Destroy.  A no-op once the context closed
 * (close() deleted the BH already), so that cleanup order does not matter. */
Napi::Value BottomHalf::JS_delete(const Napi::CallbackInfo &info)
{
    Context *ctx = closed_ ? nullptr : Context::Open(owner_);

    if (!ctx || deleted_) {
        return Napi::Value();
    }
    if (!aio_context_in_home_thread(ctx->core())) {
        ThrowState(addon_, info.Env(), AioState::WrongThread, Describe());
        return Napi::Value();
    }
    registry::ForgetBh(bh_); /* remote schedules fail from now on */
    qemu_bh_delete(bh_);
    bh_ = nullptr; /* the core owns it now */
    deleted_ = true;
    callback_.Reset(); /* a running callback keeps its own handle */
    ctx->bhs_.erase(pos_);
    ctx->WorkChanged();
    return Napi::Value();
}

Napi::Value BottomHalf::JS_scheduled(const Napi::CallbackInfo &info)
{
    bool scheduled = bh_ && !deleted_ && !closed_ && qemu_bh_is_scheduled(bh_);
    return Napi::Boolean::New(info.Env(), scheduled);
}

Napi::Value BottomHalf::JS_deleted(const Napi::CallbackInfo &info)
{
    bool deleted = deleted_ || closed_ || !Context::Open(owner_);
    return Napi::Boolean::New(info.Env(), deleted);
}

/* ---- oneshots ------------------------------------------------------------ */

void BottomHalf::ScheduleOneshot(Context *ctx, Napi::Function cb)
{
    auto *rec = new OneshotRecord{ctx->addon(), ctx, Napi::Persistent(cb),
                                  nullptr, ctx->oneshots_};
    if (rec->next) {
        rec->next->prev = rec;
    }
    ctx->oneshots_ = rec;
    aio_bh_schedule_oneshot_full(ctx->core(), RunOneshot, rec, "oneshot",
                                 DestroyOneshot);
}

void BottomHalf::RunOneshot(void *opaque)
{
    auto *rec = static_cast<OneshotRecord *>(opaque);

    if (!rec->ctx) {
        return; /* the context closed earlier in this pass */
    }
    if (!YieldToPoll(rec->addon, rec->ctx->core(), rec->fn)) {
        CallReferenceFromCore(rec->addon, rec->fn);
    }
}

void BottomHalf::DestroyOneshot(void *opaque)
{
    auto *rec = static_cast<OneshotRecord *>(opaque);

    if (rec->ctx) {
        if (rec->prev) {
            rec->prev->next = rec->next;
        } else {
            rec->ctx->oneshots_ = rec->next;
        }
        if (rec->next) {
            rec->next->prev = rec->prev;
        }
    }
    delete rec;
}

void BottomHalf::CancelOneshots(Context *ctx)
{
    /* The records stay with the core, which frees them at finalization. */
    for (OneshotRecord *rec = ctx->oneshots_; rec; rec = rec->next) {
        rec->ctx = nullptr;
    }
    ctx->oneshots_ = nullptr;
}

} // namespace aiocontext
