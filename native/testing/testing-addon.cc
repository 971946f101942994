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
