/*
 * testing-thread-pool.cc — thread-pool jobs for the test suite, exported in
 * `_testing` (not part of the API): the jobs QEMU's test-thread-pool.c runs
 * (a worker that sleeps, then returns a value), which no file request can
 * stand in for (a read is too quick to be caught running).
 *
 *   threadPoolJob(ctx, sleepUs, ret, cb | null) -> job
 *       thread_pool_submit_aio() of a job that sleeps @sleepUs µs on a
 *       worker and returns @ret; @cb(ret) runs in the context (-ECANCELED
 *       if it was cancelled before it started).  With cb null, the job goes
 *       through thread_pool_submit() (no completion) and @job is null.
 *   threadPoolJobCancel(job)   aio_cancel_async(); nothing once completed
 *   threadPoolJobDone(job) -> boolean   whether the callback ran
 *
 * Home thread only (the job's function runs on a worker and touches only
 * its own fields).
 *
 * SPDX-License-Identifier: MIT
 */
#include "shared.h"

#include "addon.h"
#include "callback.h"
#include "context.h"
#include "errors.h"
#include "guards.h"

extern "C" {
#include "thread-pool.h"
}

#include <chrono>
#include <thread>

namespace aiocontext {

/* Freed when both the completion ran and the JS handle was collected. */
struct TestJob {
    Addon *addon;
    napi_ref cb;          /* strong until completion */
    BlockAIOCB *acb;      /* valid until completion */
    uint32_t sleepUs;     /* read by the worker */
    int ret;              /* read by the worker */
    bool done;
    bool selfFree;        /* thread_pool_submit(): the worker frees it */
    int refs;
};

static void Unref(TestJob *job)
{
    if (--job->refs == 0) {
        delete job;
    }
}

/* The worker's function: no Node-API, only its own fields. */
static int Work(void *opaque)
{
    auto *job = static_cast<TestJob *>(opaque);
    std::this_thread::sleep_for(std::chrono::microseconds(job->sleepUs));
    int ret = job->ret;
    if (job->selfFree) {
        delete job;       /* nothing else knows it */
    }
    return ret;
}

static void Done(void *opaque, int ret)
{
    auto *job = static_cast<TestJob *>(opaque);
    napi_env env = job->addon->env;
    napi_handle_scope scope;

    job->done = true;
    job->acb = nullptr;
    if (!job->addon->tornDown && napi_open_handle_scope(env, &scope) == napi_ok) {
        napi_value fn = nullptr, arg;
        napi_get_reference_value(env, job->cb, &fn);
        napi_create_int32(env, ret, &arg);
        if (fn) {
            CallFromCore(job->addon, fn, 1, &arg);
        }
        napi_close_handle_scope(env, scope);
    }
    napi_delete_reference(env, job->cb);
    job->cb = nullptr;
    Unref(job);
}

static TestJob *JobArg(const Napi::CallbackInfo &info)
{
    if (!info[0].IsExternal()) {
        return nullptr;
    }
    return info[0].As<Napi::External<TestJob>>().Data();
}

static Napi::Value JS_threadPoolJob(const Napi::CallbackInfo &info)
{
    auto *addon = static_cast<Addon *>(info.Data());
    Napi::Env env = info.Env();
    bool tagged = false;
    if (info[0].IsObject()) {
        napi_check_object_type_tag(env, info[0], &addon->tags.context, &tagged);
    }
    if (!tagged) {
        AIO_ARG_FAIL(0, "a Context");
    }
    Context *ctx = Context::Unwrap(info[0].As<Napi::Object>());
    REQUIRE(ctx->CheckUsable(env));
    REQUIRE_ARG_NUMBER(1, sleepUs);
    REQUIRE_ARG_INT32(2, ret);
    ThreadPoolAio *pool = aio_get_thread_pool(ctx->core());

    auto *job = new TestJob{addon, nullptr, nullptr,
                            static_cast<uint32_t>(sleepUs), ret, false, false, 2};
    if (!info[3].IsFunction()) {
        job->selfFree = true;
        thread_pool_submit(pool, Work, job);
        return env.Null();
    }
    napi_create_reference(env, info[3], 1, &job->cb);
    job->acb = thread_pool_submit_aio(pool, Work, job, Done, job);
    return Napi::External<TestJob>::New(env, job, [](Napi::Env, TestJob *j) {
        Unref(j);
    });
}

static Napi::Value JS_threadPoolJobCancel(const Napi::CallbackInfo &info)
{
    TestJob *job = JobArg(info);
    if (!job) {
        AIO_ARG_FAIL(0, "a job");
    }
    if (!job->done) {
        aio_cancel_async(job->acb);
    }
    return Napi::Value();
}

static Napi::Value JS_threadPoolJobDone(const Napi::CallbackInfo &info)
{
    TestJob *job = JobArg(info);
    if (!job) {
        AIO_ARG_FAIL(0, "a job");
    }
    return Napi::Boolean::New(info.Env(), job->done);
}

void InitTestingThreadPool(Napi::Env env, Napi::Object testing, Addon *addon)
{
    testing.Set("threadPoolJob",
                Napi::Function::New(env, JS_threadPoolJob, "threadPoolJob", addon));
    testing.Set("threadPoolJobCancel",
                Napi::Function::New(env, JS_threadPoolJobCancel,
                                    "threadPoolJobCancel", addon));
    testing.Set("threadPoolJobDone",
                Napi::Function::New(env, JS_threadPoolJobDone,
                                    "threadPoolJobDone", addon));
}

} // namespace aiocontext
