/*
 * shared.h — the initialisers of the test and benchmark helpers, which live
 * in their own files (testing.cc, bench-helpers.cc) and are exported under
 * `_testing`.  (Every other module initializer is declared in modules.h;
 * these two leave the product with the helpers themselves.)
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_SHARED_H
#define AIOCONTEXT_SHARED_H

#include <napi.h>

namespace aiocontext {

struct Addon;

/* Adds the test helpers (testing.cc) to @testing. */
void InitTesting(Napi::Env env, Napi::Object testing, Addon *addon);

/* Adds the benchmark helpers (bench-helpers.cc) to @testing. */
void InitBenchHelpers(Napi::Env env, Napi::Object testing, Addon *addon);
/* testing-thread-pool.cc: thread-pool jobs for the tests. */
void InitTestingThreadPool(Napi::Env env, Napi::Object testing, Addon *addon);

} // namespace aiocontext

#endif /* AIOCONTEXT_SHARED_H */
