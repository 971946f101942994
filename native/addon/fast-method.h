/*
 * fast-method.h — hot methods as own properties that skip napi_unwrap().
 *
 * An ObjectWrap method finds its C++ object with napi_unwrap(), a private
 * property lookup that costs as much as the rest of a BH schedule.  For the
 * few methods on the per-BH path (BottomHalf.schedule, AioContext.poll,
 * MainContext.iteration) the constructor also defines, on the instance, a
 * non-enumerable, read-only function of the same name whose Node-API data
 * is a Link to the object: it shadows the prototype's method and reaches
 * the object with one load.  Its body takes the env and the first argument
 * (FastBody), so the call skips Napi::CallbackInfo as well.
 *
 * A Link (std::shared_ptr<T *>) reads nullptr once the object is
 * destroyed, so the function stays safe if JS keeps it longer than the
 * object (it then throws a TypeError).  Each function owns one copy of the
 * Link, freed by its finalizer.
 *
 * JS thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_FAST_METHOD_H
#define AIOCONTEXT_FAST_METHOD_H

#include "errors.h"

#include <napi.h>

#include <memory>

namespace aiocontext {

template <typename T>
using SelfLink = std::shared_ptr<T *>;

/* A hot method's body: @arg is the first argument (undefined if none); it
 * returns the result, or nullptr (undefined, or an exception pending). */
template <typename T>
using FastBody = napi_value (T::*)(napi_env env, napi_value arg);

/* Skips Napi::CallbackInfo too: one napi_get_cb_info() for the first
 * argument and the data, instead of six arguments and `this`. */
template <typename T, FastBody<T> Body>
napi_value FastMethodTrampoline(napi_env env, napi_callback_info cbinfo)
{
    napi_value arg = nullptr;
    size_t argc = 1;
    void *data = nullptr;

    if (napi_get_cb_info(env, cbinfo, &argc, &arg, nullptr, &data) != napi_ok) {
        return nullptr;
    }
    T *self = **static_cast<SelfLink<T> *>(data);
    if (!self) {
        ThrowTypeError(env, "the native object of this method is gone");
        return nullptr;
    }
    return (self->*Body)(env, arg);
}

/* The prototype's method of the same name, for calls that do not go
 * through the instance's own property (Reflect.apply on the prototype). */
template <typename T, FastBody<T> Body>
Napi::Value FastMethodOnPrototype(T *self, const Napi::CallbackInfo &info)
{
    return Napi::Value(info.Env(), (self->*Body)(info.Env(), info[0]));
}

/*
 * Defines @name on @obj as a fast version of @Body.  Returns: false with
 * an exception pending on failure.
 */
template <typename T, FastBody<T> Body>
bool DefineFastMethod(napi_env env, napi_value obj, const char *name,
                      const SelfLink<T> &link)
{
    auto *data = new SelfLink<T>(link);
    napi_value fn;

    if (napi_create_function(env, name, NAPI_AUTO_LENGTH,
                             FastMethodTrampoline<T, Body>, data,
                             &fn) != napi_ok) {
        delete data;
        return false;
    }
    if (napi_add_finalizer(
            env, fn, data,
            [](napi_env, void *d, void *) {
                delete static_cast<SelfLink<T> *>(d);
            },
            nullptr, nullptr) != napi_ok) {
        delete data;
        return false;
    }
    napi_property_descriptor desc = {name,    nullptr, nullptr,      nullptr,
                                     nullptr, fn,      napi_default, nullptr};
    return napi_define_properties(env, obj, 1, &desc) == napi_ok;
}

} // namespace aiocontext

#endif /* AIOCONTEXT_FAST_METHOD_H */
