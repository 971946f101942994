/*
 * main-context.cc — class MainContext (see main-context.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "main-context.h"

#include "fast-method.h"

#include "addon.h"
#include "callback.h"
#include "errors.h"
#include "guards.h"

namespace aiocontext {

Napi::Function MainContext::Init(Napi::Env env, Addon *addon)
{
    return DefineClass(
        env, "MainContext",
        {
            InstanceMethod<&MainContext::JS_iteration>("iteration"),
            InstanceMethod<&MainContext::JS_pending>("pending"),
            InstanceMethod<&MainContext::JS_wakeup>("wakeup"),
            InstanceAccessor<&MainContext::JS_isDefault>("isDefault"),
            InstanceMethod<&MainContext::JS_pushThreadDefault>(
                "pushThreadDefault"),
            InstanceMethod<&MainContext::JS_popThreadDefault>(
                "popThreadDefault"),
            StaticValue(
                "fastIteration",
                NewFastFunction<MainContext, &MainContext::Iteration>(
                    env, "fastIteration", addon->fastMainContexts.get())),
        },
        addon);
}

MainContext::MainContext(const Napi::CallbackInfo &info)
    : Napi::ObjectWrap<MainContext>(info),
      addon_(static_cast<Addon *>(info.Data()))
{
    bool isDefault = info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();

    if (info[0].IsString() &&
        info[0].As<Napi::String>().Utf8Value() == "thread-default") {
        /* Never NULL: the global default when nothing was pushed. */
        main_ = g_main_context_ref_thread_default();
    } else {
        main_ = isDefault ? g_main_context_ref(g_main_context_default())
                          : g_main_context_new();
    }
    napi_type_tag_object(info.Env(), info.This(), &addon_->tags.mainContext);
    /* On failure the pending exception fails the constructor. */
    fast_.Define(info.Env(), info.This(), addon_->fastMainContexts, this);
}

MainContext::~MainContext()
{
    fast_.Clear(); /* fastIteration() throws from now on */
    if (main_) {
        g_main_context_unref(main_);
    }
}

GMainContext *MainContext::FromValue(Addon *addon, napi_env env,
                                     Napi::Value value)
{
    MainContext *self = UnwrapTagged<MainContext>(
        env, value, &addon->tags.mainContext, "expected a native MainContext");
    return self ? self->main_ : nullptr;
}

/* g_main_context_iteration() as a driver: see callback.h. */
Napi::Value MainContext::JS_iteration(const Napi::CallbackInfo &info)
{
    return FastMethodOnPrototype<MainContext, &MainContext::Iteration>(this,
                                                                       info);
}

napi_value MainContext::Iteration(napi_env env, napi_value arg)
{
    bool mayBlock = false;

    if (napi_get_value_bool(env, arg, &mayBlock) != napi_ok) {
        ThrowTypeError(env, "argument 0 must be a boolean");
        return nullptr;
    }
    DriverScope driver(addon_, "iteration");
    /* While the environment stops, never sleep (Addon::stopping). */
    bool dispatched = g_main_context_iteration(main_,
                                               mayBlock && !addon_->stopping);
    return driver.Finish(env, Napi::Boolean::New(env, dispatched));
}

Napi::Value MainContext::JS_pending(const Napi::CallbackInfo &info)
{
    return Napi::Boolean::New(info.Env(), g_main_context_pending(main_));
}

Napi::Value MainContext::JS_wakeup(const Napi::CallbackInfo &info)
{
    (void)info;
    g_main_context_wakeup(main_);
    return Napi::Value();
}

Napi::Value MainContext::JS_isDefault(const Napi::CallbackInfo &info)
{
    return Napi::Boolean::New(info.Env(), main_ == g_main_context_default());
}

} // namespace aiocontext
