/*
 * testing.cc — test helpers of aiocontext_testing.node (testing.h); typed
 * and wrapped in test/helpers/testing.ts.  Not part of the API.
 *
 *   scheduleFromNativeThread(id, n, lockstep, notifyId) -> job
 *       starts a plain std::thread, unknown to Node, that schedules the
 *       shared BH @id @n times through the C entry point
 *       aiocontext_remote_bh_schedule() of the product addon's registry
 *       (aio.h, through product-link.cc: call linkProduct() first).  With
 *       @lockstep it waits after each schedule until the BH's loop has
 *       taken it (the scheduled flag went down), so every schedule is a
 *       separate run.
 *       When it stops, it notifies the shared context @notifyId (0: none)
 *       through aiocontext_remote_notify(), so that a poll(true) waiting
 *       for the job to finish wakes up.
 *   nativeJobDone(job) -> boolean
 *   nativeJobJoin(job) -> { scheduled, error }
 *       joins the thread; @error is null or the errno code that stopped it
 *       ('ENOENT': the BH was deleted or its context closed; 'ETIMEDOUT':
 *       a lockstep wait lasted over 10 s).
 *
 * SPDX-License-Identifier: MIT
 */
#include "testing.h"

#include "errors.h"
#include "guards.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <thread>

namespace aiocontext {

struct NativeJob {
    std::thread thread;
    std::atomic<bool> done{false};
    uint32_t scheduled = 0; /* written by the thread, read after join */
    int error = 0;          /* likewise: 0 or a negative errno */
};

/* The thread: nothing but the registry, no Node-API. */
static void RunJob(const ProductLink *product, NativeJob *job, uint64_t id,
                   uint32_t n, bool lockstep, uint64_t notifyId)
{
    using Clock = std::chrono::steady_clock;
    AioRegistryEntry *entry = nullptr;

    for (uint32_t i = 0; i < n; i++) {
        int ret = product->bhSchedule(id);
        if (ret < 0) {
            job->error = ret;
            break;
        }
        job->scheduled++;
        if (!lockstep) {
            continue;
        }
        if (!entry &&
            (ret = product->lookup(id, AIO_REGISTRY_BH, &entry)) < 0) {
            job->error = ret;
            break;
        }
        auto deadline = Clock::now() + std::chrono::seconds(10);
        while ((ret = product->bhIsScheduled(entry)) == 1) {
            if (Clock::now() > deadline) {
                ret = -ETIMEDOUT;
                break;
            }
            std::this_thread::yield();
        }
        if (ret < 0) {
            job->error = ret;
            break;
        }
    }
    if (entry) {
        product->entryUnref(entry);
    }
    /* Release pairs with the acquire load in JS_nativeJobDone(); then the
     * wake-up, so that a poll(true) returning sees `done`. */
    job->done.store(true, std::memory_order_release);
    if (notifyId) {
        product->notify(notifyId); /* -ENOENT if closed: fine */
    }
}

static void FinalizeJob(Napi::Env, NativeJob *job)
{
    if (job->thread.joinable()) {
        job->thread.join();
    }
    delete job;
}

static NativeJob *JobArg(const Napi::CallbackInfo &info)
{
    if (!info[0].IsExternal()) {
        ThrowTypeError(info.Env(), "argument 0 must be a native job");
        return nullptr;
    }
    return info[0].As<Napi::External<NativeJob>>().Data();
}

/* scheduleFromNativeThread(id, n, lockstep, notifyId) */
static Napi::Value JS_scheduleFromNativeThread(const Napi::CallbackInfo &info)
{
    REQUIRE_ARG_NUMBER(0, idValue);
    REQUIRE_ARG_NUMBER(1, countValue);
    REQUIRE_ARG_BOOLEAN(2, lockstep);
    REQUIRE_ARG_NUMBER(3, notifyValue);
    if (!(idValue >= 1) || std::floor(idValue) != idValue) {
        AIO_ARG_FAIL(0, "a share token id");
    }
    if (!(notifyValue >= 0) || std::floor(notifyValue) != notifyValue) {
        AIO_ARG_FAIL(3, "a share token id or 0");
    }
    if (!(countValue >= 0 && countValue <= 4294967295.0)) {
        AIO_ARG_FAIL(1, "a uint32");
    }
    const ProductLink *product = Product();
    if (!product) {
        ThrowTypeError(info.Env(), "scheduleFromNativeThread: call "
                                   "linkProduct() first");
        return Napi::Value();
    }
    auto *job = new NativeJob;
    job->thread = std::thread(RunJob, product, job,
                              static_cast<uint64_t>(idValue),
                              static_cast<uint32_t>(countValue), lockstep,
                              static_cast<uint64_t>(notifyValue));
    return Napi::External<NativeJob>::New(info.Env(), job, FinalizeJob);
}

static Napi::Value JS_nativeJobDone(const Napi::CallbackInfo &info)
{
    NativeJob *job = JobArg(info);
    REQUIRE(job);
    return Napi::Boolean::New(info.Env(),
                              job->done.load(std::memory_order_acquire));
}

static Napi::Value JS_nativeJobJoin(const Napi::CallbackInfo &info)
{
    NativeJob *job = JobArg(info);
    REQUIRE(job);
    if (job->thread.joinable()) {
        job->thread.join();
    }
    Napi::Env env = info.Env();
    Napi::Object result = Napi::Object::New(env);
    result.Set("scheduled", Napi::Number::New(env, job->scheduled));
    if (job->error) {
        result.Set("error", Napi::String::New(env, ErrnoCode(-job->error)));
    } else {
        result.Set("error", env.Null());
    }
    return result;
}

void InitTesting(Napi::Env env, Napi::Object exports)
{
    exports.Set("scheduleFromNativeThread",
                Napi::Function::New(env, JS_scheduleFromNativeThread,
                                    "scheduleFromNativeThread"));
    exports.Set("nativeJobDone",
                Napi::Function::New(env, JS_nativeJobDone, "nativeJobDone"));
    exports.Set("nativeJobJoin",
                Napi::Function::New(env, JS_nativeJobJoin, "nativeJobJoin"));
}

} // namespace aiocontext
