/*
 * thread-pool.cc — ctx.threadPool (src/thread-pool.ts): the parameters and
 * counts of a context's thread pool (native/core/thread-pool.h).  Methods
 * of Context, kept here with their concept.
 *
 * Home thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#include "context.h"

#include "addon.h"
#include "errors.h"
#include "guards.h"

extern "C" {
#include "thread-pool.h"
}

namespace aiocontext {

/* setThreadPoolParams(min, max): aio_context_set_thread_pool_params. */
Napi::Value Context::JS_setThreadPoolParams(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    REQUIRE_ARG_INT64(0, min);
    REQUIRE_ARG_INT64(1, max);
    int ret = aio_context_set_thread_pool_params(core_, min, max);
    if (ret < 0) {
        ThrowErrno(addon_, info.Env(), -ret,
                   "aio_context_set_thread_pool_params");
    }
    return Napi::Value();
}

/* threadPoolStats: thread_pool_get_stats (does not create the pool). */
Napi::Value Context::JS_threadPoolStats(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    Napi::Env env = info.Env();
    ThreadPoolStats s;
    thread_pool_get_stats(core_, &s);

    Napi::Object stats = Napi::Object::New(env);
    stats.Set("threads", Napi::Number::New(env, s.threads));
    stats.Set("idle", Napi::Number::New(env, s.idle));
    stats.Set("queued", Napi::Number::New(env, s.queued));
    stats.Set("active", Napi::Number::New(env, s.active));
    stats.Set("min", Napi::Number::New(env, s.min));
    stats.Set("max", Napi::Number::New(env, s.max));
    return stats;
}

} // namespace aiocontext
