/*
 * thread-pool-jobs.cc — thread-pool jobs for the test suite, exported by
 * aiocontext_testing.node (not part of the API): the jobs QEMU's
 * test-thread-pool.c runs (a worker that sleeps, then returns a value),
 * which no file request can stand in for (a read is too quick to be caught
 * running).  Typed and wrapped in test/helpers/testing.ts.
 *
 *   threadPoolJob(contextId, sleepUs, ret, cb | null) -> job
 *       thread_pool_submit_aio() on the pool of the context whose share id
 *       is @contextId (ctx.share().id), a job that sleeps @sleepUs µs on a
 *       worker and returns @ret; @cb(ret) runs in the context
 *       (-ECANCELED if it was cancelled before it started).  With cb null,
 *       the job goes through thread_pool_submit() (no completion) and
 *       @job is null.
 *   threadPoolJobCancel(job)   aio_cancel_async(); nothing once completed
 *   threadPoolJobDone(job) -> boolean   whether the callback ran
 *
 * Every call goes to the product addon's core (product-link.cc): the
 * context, its pool and the cancel.  Home thread only: the context is
 * found from its id only there (aio_registry_entry_home_context()).  A
 * callback that throws is reported as uncaught (napi_fatal_exception): it
 * runs inside the product's dispatch, which this addon cannot report to.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testing.h"

#include "errors.h"
#include "guards.h"

#include <chrono>
#include <cmath>
#include <thread>

namespace aiocontext {

/* Set by the environment cleanup hook: no JS may run after it. */
struct JobsEnv {
    bool tornDown = false;
};

/* Freed when both the completion ran and the JS handle was collected. */
struct TestJob {
    napi_env env;
    JobsEnv *jobsEnv;
    const ProductLink *product;
    napi_ref cb;      /* strong until completion */
    BlockAIOCB *acb;  /* valid until completion */
    uint32_t sleepUs; /* read by the worker */
    int ret;          /* read by the worker */
    bool done;
    bool selfFree; /* thread_pool_submit(): the worker frees it */
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
        delete job; /* nothing else knows it */
    }
    return ret;
}

/* The completion, in the context's dispatch on its home thread. */
static void Done(void *opaque, int ret)
{
    auto *job = static_cast<TestJob *>(opaque);
    napi_env env = job->env;
    napi_handle_scope scope;

    job->done = true;
    job->acb = nullptr;
    if (!job->jobsEnv->tornDown &&
        napi_open_handle_scope(env, &scope) == napi_ok) {
        napi_value arg;
        napi_create_int32(env, ret, &arg);
        CallReportingUncaught(env, job->cb, 1, &arg);
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

/* threadPoolJob(contextId, sleepUs, ret, cb | null) */
static Napi::Value JS_threadPoolJob(const Napi::CallbackInfo &info)
{
    auto *jobsEnv = static_cast<JobsEnv *>(info.Data());
    Napi::Env env = info.Env();
    const ProductLink *product = Product();
    if (!product) {
        ThrowTypeError(env, "threadPoolJob: call linkProduct() first");
        return Napi::Value();
    }
    REQUIRE_ARG_NUMBER(0, idValue);
    REQUIRE_ARG_NUMBER(1, sleepUs);
    REQUIRE_ARG_INT32(2, ret);
    if (!(idValue >= 1) || std::floor(idValue) != idValue) {
        AIO_ARG_FAIL(0, "a share token id of a context");
    }
    if (!(sleepUs >= 0 && sleepUs <= 60e6)) {
        AIO_ARG_FAIL(1, "a time in µs up to 60 s");
    }
    AioRegistryEntry *entry = nullptr;
    AioContext *ctx = nullptr;
    if (product->lookup(static_cast<uint64_t>(idValue), AIO_REGISTRY_CONTEXT,
                        &entry) == 0) {
        ctx = product->homeContext(entry);
        product->entryUnref(entry);
    }
    if (!ctx) {
        ThrowTypeError(env, "threadPoolJob: argument 0 names no open "
                            "context of this thread");
        return Napi::Value();
    }
    ThreadPoolAio *pool = product->getThreadPool(ctx);

    auto *job = new TestJob{
        env, jobsEnv, product, nullptr, nullptr, static_cast<uint32_t>(sleepUs),
        ret, false,   false,   2};
    if (!info[3].IsFunction()) {
        job->selfFree = true;
        product->submit(pool, Work, job);
        return env.Null();
    }
    napi_create_reference(env, info[3], 1, &job->cb);
    job->acb = product->submitAio(pool, Work, job, Done, job);
    return Napi::External<TestJob>::New(
        env, job, [](Napi::Env, TestJob *j) { Unref(j); });
}

/* threadPoolJobCancel(job) */
static Napi::Value JS_threadPoolJobCancel(const Napi::CallbackInfo &info)
{
    TestJob *job = JobArg(info);
    if (!job) {
        AIO_ARG_FAIL(0, "a job");
    }
    if (!job->done) {
        job->product->cancelAsync(job->acb);
    }
    return Napi::Value();
}

/* threadPoolJobDone(job) */
static Napi::Value JS_threadPoolJobDone(const Napi::CallbackInfo &info)
{
    TestJob *job = JobArg(info);
    if (!job) {
        AIO_ARG_FAIL(0, "a job");
    }
    return Napi::Boolean::New(info.Env(), job->done);
}

void InitThreadPoolJobs(Napi::Env env, Napi::Object exports)
{
    /* One per environment.  Its cleanup hook runs before the product
     * addon's (this addon loads later, hooks run in reverse), so no
     * completion calls JS once the environment is going.  Never freed: a
     * completion may still read it after the hook ran. */
    auto *jobsEnv = new JobsEnv;
    napi_add_env_cleanup_hook(
        env, [](void *arg) { static_cast<JobsEnv *>(arg)->tornDown = true; },
        jobsEnv);
    static const HelperFunction jobs[] = {
        {"threadPoolJob", JS_threadPoolJob},
        {"threadPoolJobCancel", JS_threadPoolJobCancel},
        {"threadPoolJobDone", JS_threadPoolJobDone},
    };
    ExportHelpers(env, exports, jobs, G_N_ELEMENTS(jobs), jobsEnv);
}

} // namespace aiocontext
