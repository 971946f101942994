/*
 * guards.h — one-line checks at the top of every JS_* method.
 *
 * The TS layer validates every argument with exact messages first; these
 * re-check types so that the addon never trusts JS (the native classes are
 * reachable by anyone who require()s the .node file).  Each macro returns an
 * empty value with an exception pending when its check fails, so it can
 * only be used in a method with a `const Napi::CallbackInfo &info` that
 * returns Napi::Value.  C++ exceptions are disabled: nothing here throws in
 * the C++ sense.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_GUARDS_H
#define AIOCONTEXT_GUARDS_H

#include "errors.h"

#include <napi.h>

#include <cstdint>
#include <string>

/* Any check that already threw (returns false with an exception pending). */
#define REQUIRE(check) \
    do { \
        if (!(check)) \
            return Napi::Value(); \
    } while (0)

#define AIO_ARG_FAIL(i, what) \
    do { \
        aiocontext::ThrowTypeError(info.Env(), \
                                   "argument " #i " must be " what); \
        return Napi::Value(); \
    } while (0)

/* One N-API call (it fails on a non-boolean) rather than a type query and
 * a read: poll(blocking) runs this once per loop iteration. */
#define REQUIRE_ARG_BOOLEAN(i, var) \
    bool var = false; \
    if (napi_get_value_bool(info.Env(), info[i], &var) != napi_ok) \
    AIO_ARG_FAIL(i, "a boolean")

#define REQUIRE_ARG_NUMBER(i, var) \
    if (!info[i].IsNumber()) \
        AIO_ARG_FAIL(i, "a number"); \
    double var = info[i].As<Napi::Number>().DoubleValue()

#define REQUIRE_ARG_INT32(i, var) \
    if (!info[i].IsNumber()) \
        AIO_ARG_FAIL(i, "a number"); \
    int32_t var = info[i].As<Napi::Number>().Int32Value()

/* A double truncated toward zero, saturating at the int64 limits; NaN is 0.
 * (napi_get_value_int64 leaves out-of-range values unspecified.) */
static inline int64_t aio_saturate_int64(double d)
{
    if (d != d) {
        return 0;
    }
    if (d >= 9223372036854775807.0) {
        return INT64_MAX;
    }
    if (d <= -9223372036854775808.0) {
        return INT64_MIN;
    }
    return static_cast<int64_t>(d);
}

#define REQUIRE_ARG_INT64(i, var) \
    if (!info[i].IsNumber()) \
        AIO_ARG_FAIL(i, "a number"); \
    int64_t var = aio_saturate_int64(info[i].As<Napi::Number>().DoubleValue())

#define REQUIRE_ARG_STRING(i, var) \
    if (!info[i].IsString()) \
        AIO_ARG_FAIL(i, "a string"); \
    std::string var = info[i].As<Napi::String>().Utf8Value()

#define REQUIRE_ARG_FUNCTION(i, var) \
    if (!info[i].IsFunction()) \
        AIO_ARG_FAIL(i, "a function"); \
    Napi::Function var = info[i].As<Napi::Function>()

#define REQUIRE_ARG_OBJECT(i, var) \
    if (!info[i].IsObject()) \
        AIO_ARG_FAIL(i, "an object"); \
    Napi::Object var = info[i].As<Napi::Object>()

/* A function, or undefined/null for "none": @var is then an empty Function. */
#define REQUIRE_ARG_OPTIONAL_FUNCTION(i, var) \
    Napi::Function var; \
    if (info[i].IsFunction()) \
        var = info[i].As<Napi::Function>(); \
    else if (!info[i].IsUndefined() && !info[i].IsNull()) \
    AIO_ARG_FAIL(i, "a function or undefined")

namespace aiocontext {

/*
 * The native object behind @value if this copy of the addon made it (it
 * carries @tag, napi_type_tag_object), else nullptr with a TypeError
 * saying @message pending.  Also nullptr, with nothing pending, while Node
 * stops the environment (Worker.terminate()): napi_unwrap() refuses then,
 * even after the tag was found.
 */
template <typename T>
T *UnwrapTagged(napi_env env, Napi::Value value, const napi_type_tag *tag,
                const char *message)
{
    bool tagged = false;

    if (value.IsObject()) {
        napi_check_object_type_tag(env, value, tag, &tagged);
    }
    if (!tagged) {
        ThrowTypeError(env, message);
        return nullptr;
    }
    return T::Unwrap(value.As<Napi::Object>());
}

} // namespace aiocontext

#endif /* AIOCONTEXT_GUARDS_H */
