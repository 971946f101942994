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

#include <cstdint>

namespace aiocontext {

/* The registry entry points of the product addon (registry.h), found by
 * name in the loaded aiocontext.node.  Any thread, once linked. */
struct ProductLink {
    int (*notify)(uint64_t context_id);
    int (*bhSchedule)(uint64_t bh_id);
    int (*bhIsScheduled)(uint64_t bh_id);
};

/* Returns: the link made by linkProduct(), or null before it.  Any thread
 * (the pointer is published before any helper thread starts). */
const ProductLink *Product();

/* Adds linkProduct() (product-link.cc) to @exports. */
void InitProductLink(Napi::Env env, Napi::Object exports);

/* Adds the test helpers (testing.cc) to @exports. */
void InitTesting(Napi::Env env, Napi::Object exports);

/* Adds the benchmark helpers (bench-helpers.cc) to @exports. */
void InitBenchHelpers(Napi::Env env, Napi::Object exports);

} // namespace aiocontext

#endif /* AIOCONTEXT_TESTING_H */
