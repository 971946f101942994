/*
 * testing-addon.cc — module initialisation of aiocontext_testing.node (see
 * testing.h): linkProduct() and the helpers of testing.cc,
 * bench-helpers.cc and thread-pool-jobs.cc, typed in test/helpers/testing.ts.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testing.h"

namespace aiocontext {

void ExportHelpers(Napi::Env env, Napi::Object exports,
                   const HelperFunction *table, size_t n, void *data)
{
    for (size_t i = 0; i < n; i++) {
        exports.Set(table[i].name,
                    Napi::Function::New(env, table[i].fn, table[i].name, data));
    }
}

void CallReportingUncaught(napi_env env, napi_ref fn_ref, size_t argc,
                           const napi_value *argv)
{
    napi_value fn = nullptr, recv, result;
    napi_get_reference_value(env, fn_ref, &fn);
    napi_get_undefined(env, &recv);
    if (fn &&
        napi_call_function(env, recv, fn, argc, argv, &result) != napi_ok) {
        bool pending = false;
        napi_value error;
        if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
            napi_get_and_clear_last_exception(env, &error);
            napi_fatal_exception(env, error);
        }
    }
}

static Napi::Object Init(Napi::Env env, Napi::Object exports)
{
    InitProductLink(env, exports);
    InitTesting(env, exports);
    InitBenchHelpers(env, exports);
    InitThreadPoolJobs(env, exports);
    return exports;
}

} // namespace aiocontext

static Napi::Object InitModule(Napi::Env env, Napi::Object exports)
{
    return aiocontext::Init(env, exports);
}

NODE_API_MODULE(aiocontext_testing, InitModule)
