/*
 * fast-method.h — hot methods as own properties that skip napi_unwrap().
 *
 * An ObjectWrap method finds its C++ object with napi_unwrap(), a private
 * property lookup that costs as much as the rest of a BH schedule.  For the
 * few methods on the per-BH path (BottomHalf.schedule, AioContext.poll,
 * MainContext.iteration) the constructor also defines, on the instance, a
 * non-enumerable, read-only function of the same name whose Node-API data
 * is a Link to the object: it shadows the prototype's method and reaches
 * the object with one load.
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

template <typename T, Napi::Value (T::*Method)(const Napi::CallbackInfo &)>
napi_value FastMethodTrampoline(napi_env env, napi_callback_info cbinfo)
{
    Napi::CallbackInfo info(env, cbinfo);
    T *self = **static_cast<SelfLink<T> *>(info.Data());

    if (!self) {
        ThrowTypeError(info.Env(), "the native object of this method is gone");
        return nullptr;
    }
    return (self->*Method)(info);
}

/*
 * Defines @name on @obj as a fast version of @Method (which must not read
 * info.Data()).  Returns: false with an exception pending on failure.
 */
template <typename T, Napi::Value (T::*Method)(const Napi::CallbackInfo &)>
bool DefineFastMethod(napi_env env, napi_value obj, const char *name,
                      const SelfLink<T> &link)
{
    auto *data = new SelfLink<T>(link);
    napi_value fn;

    if (napi_create_function(env, name, NAPI_AUTO_LENGTH,
                             FastMethodTrampoline<T, Method>, data,
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
