/*
 * fast-method.h — hot methods as shared functions that take a handle, and
 * skip napi_unwrap().
 *
 * An ObjectWrap method finds its C++ object with napi_unwrap(), a private
 * property lookup that costs as much as the rest of a BH schedule.  For the
 * few methods on the per-BH path (BottomHalf.schedule, AioContext.poll,
 * MainContext.iteration) the class also has a static function, made once
 * per addon instance, whose first argument is the object's fast handle: an
 * external made by the constructor and read once by the TS class (its
 * `fastHandle` property).  The function reaches the object with two loads
 * and takes its one real argument from the same napi_get_cb_info() call,
 * so the call skips Napi::CallbackInfo as well.
 *
 * One function for every object, not one per object: a call site that
 * sees objects made at different times keeps a single target, which V8
 * calls directly.  (Per-object functions, which this file made before,
 * turned those call sites megamorphic in any program that makes more than
 * a few contexts or BHs: about 10-15 ns more per call.)
 *
 * The handle holds a Link (std::shared_ptr<T *>) that reads nullptr once
 * the object is destroyed, so a handle kept longer than its object makes
 * the function throw a TypeError, and a handle of another kind (its tag
 * differs) throws too.  The handle's finalizer frees it.
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

/* A hot method's body: @arg is the argument after the handle (undefined if
 * none); it returns the result, or nullptr (undefined, or an exception
 * pending). */
template <typename T>
using FastBody = napi_value (T::*)(napi_env env, napi_value arg);

/* The data of a fast handle.  @kind is the address of FastKind<T>, so a
 * handle of one class passed to another's function is refused. */
template <typename T>
struct FastHandle {
    const void *kind;
    SelfLink<T> link;
};

template <typename T>
inline const char FastKind = 0;

/* The shared function: (handle, arg) -> Body(arg). */
template <typename T, FastBody<T> Body>
napi_value FastFunctionTrampoline(napi_env env, napi_callback_info cbinfo)
{
    napi_value argv[2];
    size_t argc = 2;
    void *data = nullptr;

    if (napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr) !=
        napi_ok) {
        return nullptr;
    }
    if (argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok ||
        static_cast<FastHandle<T> *>(data)->kind != &FastKind<T>) {
        ThrowTypeError(env, "argument 0 must be the object's fast handle");
        return nullptr;
    }
    T *self = *static_cast<FastHandle<T> *>(data)->link;
    if (!self) {
        ThrowTypeError(env, "the native object of this handle is gone");
        return nullptr;
    }
    return (self->*Body)(env, argv[1]); /* undefined if argc < 2 */
}

/*
 * Makes the shared function of @Body, for the class's static property
 * @name (DefineClass's StaticValue).  Returns: an empty value with an
 * exception pending on failure.
 */
template <typename T, FastBody<T> Body>
Napi::Value NewFastFunction(Napi::Env env, const char *name)
{
    napi_value fn;

    if (napi_create_function(env, name, NAPI_AUTO_LENGTH,
                             FastFunctionTrampoline<T, Body>, nullptr,
                             &fn) != napi_ok) {
        return Napi::Value();
    }
    return Napi::Value(env, fn);
}

/* The prototype's method of the same name, for calls on the native object
 * itself (tests, Reflect.apply on the prototype). */
template <typename T, FastBody<T> Body>
Napi::Value FastMethodOnPrototype(T *self, const Napi::CallbackInfo &info)
{
    return Napi::Value(info.Env(), (self->*Body)(info.Env(), info[0]));
}

/*
 * Defines `fastHandle` on @obj: a non-enumerable, read-only external that
 * the class's fast functions take as their first argument.  Returns: false
 * with an exception pending on failure.
 */
template <typename T>
bool DefineFastHandle(napi_env env, napi_value obj, const SelfLink<T> &link)
{
    auto *data = new FastHandle<T>{&FastKind<T>, link};
    napi_value handle;

    if (napi_create_external(
            env, data,
            [](napi_env, void *d, void *) {
                delete static_cast<FastHandle<T> *>(d);
            },
            nullptr, &handle) != napi_ok) {
        delete data;
        return false;
    }
    napi_property_descriptor desc = {"fastHandle", nullptr, nullptr,
                                     nullptr,      nullptr, handle,
                                     napi_default, nullptr};
    return napi_define_properties(env, obj, 1, &desc) == napi_ok;
}

} // namespace aiocontext

#endif /* AIOCONTEXT_FAST_METHOD_H */
