/*
 * testing.h — the test and benchmark helper addon, aiocontext_testing.node.
 *
 * A separate addon (binding.gyp target "aiocontext_testing", built only in
 * a checkout that has native/testing/), loaded by test/helpers/testing.ts
 * and bench/lib.ts and never shipped: some helpers have process-wide
 * effects (RLIMIT_NOFILE, timer slack).  It compiles its own copy of the
 * core for the benchmarks' private contexts; it reaches the product addon's
 * objects only by share-token id, through product-link.cc.
 *
 * Not part of the API: names and shapes may change.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_TESTING_H
#define AIOCONTEXT_TESTING_H

#include <napi.h>

extern "C" {
#include "aio.h"
#include "thread-pool.h"
}

#include <cstdint>

namespace aiocontext {

/* The share registry of the product addon (aio.h, "Share registry"),
 * found by name in the loaded aiocontext.node (product-link.cc).  Any
 * thread, once linked.  Never call the helper addon's own copies of these:
 * its copy of the core has a registry of its own, which nothing shares
 * into. */
struct ProductLink {
    int (*notify)(uint64_t context_id); /* aiocontext_remote_notify */
    int (*bhSchedule)(uint64_t bh_id);  /* aiocontext_remote_bh_schedule */
    int (*lookup)(uint64_t id, AioRegistryKind kind, AioRegistryEntry **out);
    int (*bhIsScheduled)(AioRegistryEntry *e);
    void (*entryUnref)(AioRegistryEntry *e);
    /* The one way to a context's C pointer: its share id, on its home
     * thread (aio_registry_entry_home_context()), for the thread-pool jobs
     * (thread-pool-jobs.cc), which then use the product's own pool. */
    AioContext *(*homeContext)(AioRegistryEntry *e);
    ThreadPoolAio *(*getThreadPool)(AioContext *ctx);
    BlockAIOCB *(*submitAio)(ThreadPoolAio *pool, ThreadPoolFunc *func,
                             void *arg, BlockCompletionFunc *cb, void *opaque);
    void (*submit)(ThreadPoolAio *pool, ThreadPoolFunc *func, void *arg);
    void (*cancelAsync)(BlockAIOCB *acb);
};

/* Returns: the link made by linkProduct(), or null before it.  Any thread
 * (the pointer is published before any helper thread starts). */
const ProductLink *Product();

/* One exported function of a helper table. */
struct HelperFunction {
    const char *name;
    Napi::Value (*fn)(const Napi::CallbackInfo &);
};

/* Sets each of the @n functions of @table on @exports, with @data as their
 * callback data (testing-addon.cc). */
void ExportHelpers(Napi::Env env, Napi::Object exports,
                   const HelperFunction *table, size_t n, void *data);

/* Calls @fn (a reference) with undefined as this; an exception it throws
 * is reported as uncaught (napi_fatal_exception), as a JS callback run
 * from a native thread's hand-off would be (testing-addon.cc). */
void CallReportingUncaught(napi_env env, napi_ref fn, size_t argc,
                           const napi_value *argv);

/* Adds linkProduct() (product-link.cc) to @exports. */
void InitProductLink(Napi::Env env, Napi::Object exports);

/* Adds the test helpers (testing.cc) to @exports. */
void InitTesting(Napi::Env env, Napi::Object exports);

/* Adds the benchmark helpers (bench-helpers.cc) to @exports. */
void InitBenchHelpers(Napi::Env env, Napi::Object exports);

/* Adds the thread-pool jobs (thread-pool-jobs.cc) to @exports. */
void InitThreadPoolJobs(Napi::Env env, Napi::Object exports);

} // namespace aiocontext

#endif /* AIOCONTEXT_TESTING_H */
