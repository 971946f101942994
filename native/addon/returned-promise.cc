/*
 * returned-promise.cc — routing the promises callbacks return (see
 * returned-promise.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "returned-promise.h"

#include "addon.h"
#include "guards.h"
#include "modules.h"

namespace aiocontext {

void WatchReturnedPromise(Addon *addon, napi_value result, bool driven)
{
    napi_env env = addon->env;
    bool isPromise = false;
    napi_value hook = nullptr, recv, argv[2], ignored;

    if (result == nullptr || addon->promiseHook.IsEmpty() ||
        napi_is_promise(env, result, &isPromise) != napi_ok || !isPromise) {
        return;
    }
    if (napi_get_reference_value(env, addon->promiseHook, &hook) != napi_ok ||
        hook == nullptr) {
        return;
    }
    napi_get_undefined(env, &recv);
    argv[0] = result;
    napi_get_boolean(env, driven, &argv[1]);
    if (napi_call_function(env, recv, hook, 2, argv, &ignored) != napi_ok) {
        /* The hook only attaches a handler; if even that failed, report
         * it rather than leave it pending in the core's stack. */
        bool pending = false;
        napi_value error;
        if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
            napi_get_and_clear_last_exception(env, &error) == napi_ok) {
            napi_fatal_exception(env, error);
        }
    }
}

Napi::Value JS_setPromiseHook(const Napi::CallbackInfo &info)
{
    auto *addon = static_cast<Addon *>(info.Data());
    REQUIRE_ARG_FUNCTION(0, hook);
    addon->promiseHook = Napi::Persistent(hook);
    return Napi::Value();
}

} // namespace aiocontext
