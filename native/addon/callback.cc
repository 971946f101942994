/*
 * callback.cc — calling JS from core callbacks (see callback.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "callback.h"

#include "addon.h"
#include "poll-driver.h"
#include "returned-promise.h"

#include <string>

namespace aiocontext {

bool KeepError(Addon *addon, napi_value error)
{
    napi_env env = addon->env;
    napi_value list;

    if (addon->driverDepth == 0 ||
        napi_get_reference_value(env, addon->pendingErrors, &list) != napi_ok ||
        list == nullptr ||
        napi_set_element(env, list, addon->pendingCount, error) != napi_ok) {
        return false;
    }
    addon->pendingCount++;
    return true;
}

/* ---- CoreCallScope ------------------------------------------------------- */

CoreCallScope::CoreCallScope(Addon *addon) : env_(addon->env)
{
    if (addon->tornDown) {
        ok_ = false; /* no JS, and no handle, any more (the cleanup hook) */
        return;
    }
    if (addon->driverDepth > 0 && addon->scopeBudget > 0) {
        addon->scopeBudget--; /* the driver's method scope serves */
        return;
    }
    ok_ = napi_open_handle_scope(env_, &scope_) == napi_ok;
}

CoreCallScope::~CoreCallScope()
{
    if (scope_) {
        napi_close_handle_scope(env_, scope_);
    }
}

napi_value CallFromCore(Addon *addon, napi_value fn, size_t argc,
                        const napi_value *argv)
{
    napi_env env = addon->env;
    napi_value recv, result = nullptr;
    napi_status status;
    bool pending = false;
    bool driven = addon->driverDepth > 0;
    napi_callback_scope scope = nullptr;
    napi_value error;

    if (addon->tornDown) {
        return nullptr;
    }
    if (driven || !addon->asyncContext) {
        /* A JS caller is on the stack and drains microtasks itself. */
        napi_get_undefined(env, &recv);
    } else {
        /* Called from a foreign GLib loop: enter JS as an event source
         * does, so microtasks scheduled by the callback run after it: the
         * callback scope is napi_make_callback() taken apart, so that a
         * returned promise gets its rejection handler (returned-promise.h)
         * before those microtasks run.  The scope wants an object as
         * `this`. */
        napi_get_global(env, &recv);
        if (napi_open_callback_scope(env, addon->asyncResource.Value(),
                                     addon->asyncContext, &scope) != napi_ok) {
            scope = nullptr;
        }
    }
    uint32_t depth = addon->pollDepth;
    status = napi_call_function(env, recv, fn, argc, argv, &result);
    /* Every poll() the callback began has ended, unless its JS unwound
     * without ending it (a stack overflow at the wrong place). */
    EndPollsAbove(addon, depth);
    if (status == napi_ok) {
        WatchReturnedPromise(addon, result, driven);
    } else if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
        napi_get_and_clear_last_exception(env, &error);
        if (!KeepError(addon, error)) {
            /* No driver, or nowhere to keep it: better reported than lost. */
            napi_fatal_exception(env, error);
        }
    } else {
        /* No exception pending: Node refuses JS (napi_cannot_run_js or
         * napi_pending_exception while the environment stops). */
        addon->stopping = true;
    }
    if (scope) {
        napi_close_callback_scope(env, scope); /* microtasks, nextTicks */
    }
    return status == napi_ok ? result : nullptr;
}

void CallReferenceFromCore(Addon *addon, const Napi::FunctionReference &ref)
{
    napi_value fn = nullptr;

    if (ref.IsEmpty() || addon->tornDown) {
        return;
    }
    CoreCallScope scope(addon);
    if (!scope.ok()) {
        return;
    }
    napi_get_reference_value(addon->env, ref, &fn);
    if (fn) {
        CallFromCore(addon, fn, 0, nullptr);
    }
}

/* ---- DriverScope --------------------------------------------------------- */

DriverScope::DriverScope(Addon *addon, const char *name)
    : addon_(addon), name_(name), mark_(addon->pendingCount),
      outerBudget_(addon->scopeBudget)
{
    addon_->driverDepth++;
    addon_->scopeBudget = kDriverScopeBudget;
}

void DriverScope::End()
{
    finished_ = true;
    addon_->driverDepth--;
    addon_->scopeBudget = outerBudget_;
}

DriverScope::~DriverScope()
{
    if (!finished_) {
        /* Left without Finish(): drop what our callbacks threw. */
        End();
        addon_->pendingCount = static_cast<uint32_t>(mark_);
    }
}

Napi::Value DriverScope::Finish(Napi::Env env, Napi::Value result)
{
    End();
    if (!ThrowKeptErrors(env, addon_, static_cast<uint32_t>(mark_), name_)) {
        return Napi::Value();
    }
    return result;
}

bool ThrowKeptErrors(Napi::Env env, Addon *addon, uint32_t mark,
                     const char *name)
{
    uint32_t count = addon->pendingCount - mark;
    if (count == 0) {
        return true;
    }

    Napi::Object list = addon->pendingErrors.Value();
    Napi::Value error;
    if (count == 1) {
        error = list.Get(mark);
    } else {
        Napi::Array errors = Napi::Array::New(env, count);
        for (uint32_t i = 0; i < count; i++) {
            errors.Set(i, list.Get(mark + i));
        }
        std::string message = std::to_string(count) +
                              " callbacks threw during one " + name + "()";
        Napi::Value ctor = env.Global().Get("AggregateError");
        if (ctor.IsFunction()) {
            error = ctor.As<Napi::Function>().New(
                {errors, Napi::String::New(env, message)});
        }
        if (env.IsExceptionPending()) {
            env.GetAndClearPendingException();
            error = Napi::Value();
        }
        if (error.IsEmpty()) {
            error = errors.Get(uint32_t(0)); /* the first one, at least */
        }
    }
    /* Forget them: the array must not keep errors alive. */
    addon->pendingCount = mark;
    list.Set("length", Napi::Number::New(env, mark));
    napi_throw(env, error);
    return false;
}

} // namespace aiocontext
