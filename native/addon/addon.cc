/*
 * addon.cc — module initialisation, per-environment data and the
 * environment cleanup hook: the one place that calls every module
 * initializer (modules.h, and each class's Init()).
 *
 * Exports (the internal API that src/native.ts types and wraps):
 *   Context, BottomHalf, Timer, EventNotifier, MainContext   classes
 *   NodeLoop                  Node's libuv loop driving a GMainContext
 *                             (node-loop.h, loop-glue.h)
 *   File                      a file for block I/O (file.h)
 *   RemoteContext, RemoteBottomHalf   remote handles from share tokens
 *                             (shared.cc, over the core's registry)
 *   resumePoll, abandonPoll, pollLevel   poll() handing BHs back to JS
 *                             (poll-driver.h)
 *   setErrorClass(AioError)   the JS class every addon error is made from
 *   setPromiseHook(fn)        where promises returned by callbacks go
 *                             (returned-promise.h)
 *   clockNs(clock)            qemu_clock_get_ns()
 *   virtualClockControl(op, ns?)  stops, resumes or steps the virtual clock
 *   pipe()                    a non-blocking close-on-exec pipe2()
 *   alignedBuffer(size, alignment)  memory for O_DIRECT (file.cc)
 *
 * The test and benchmark helpers are another addon, aiocontext_testing.node
 * (native/testing/), which never ships.
 *
 * SPDX-License-Identifier: MIT
 */
#include "addon.h"

#include "bottom-half.h"
#include "context.h"
#include "event-notifier.h"
#include "file.h"
#include "guards.h"
#include "main-context.h"
#include "modules.h"
#include "node-loop.h"
#include "poll-driver.h"
#include "timer.h"

#include <random>

namespace aiocontext {

static void RandomTag(std::mt19937_64 &rng, napi_type_tag *tag)
{
    tag->lower = rng();
    tag->upper = rng();
}

Addon::Addon(napi_env e) : env(e)
{
    std::random_device seed;
    std::mt19937_64 rng((uint64_t(seed()) << 32) ^ seed());

    RandomTag(rng, &tags.context);
    RandomTag(rng, &tags.bottomHalf);
    RandomTag(rng, &tags.timer);
    RandomTag(rng, &tags.eventNotifier);
    RandomTag(rng, &tags.mainContext);
}

Addon::~Addon()
{
    /* The references release themselves; Cleanup() already closed
     * everything that touches the core. */
}

/* Runs when the environment (the main thread at exit, or a worker) is torn
 * down, before the finalizers of the objects still alive: closes every open
 * context and notifier, so that nothing in the core outlives the
 * environment or calls into it.  No JS runs here. */
static void Cleanup(void *arg)
{
    auto *addon = static_cast<Addon *>(arg);

    EndWrongThreadGuard(addon);
    AbandonPolls(addon); /* JS stopped in the middle of a poll() */
    std::vector<Context *> contexts(addon->contexts.begin(),
                                    addon->contexts.end());
    for (Context *ctx : contexts) {
        ctx->Close();
    }
    std::vector<EventNotifier *> notifiers(addon->notifiers.begin(),
                                           addon->notifiers.end());
    for (EventNotifier *notifier : notifiers) {
        notifier->Cleanup();
    }
    addon->tornDown = true;
    if (addon->asyncContext) {
        napi_async_destroy(addon->env, addon->asyncContext);
        addon->asyncContext = nullptr;
    }
}

/* setErrorClass(AioError) */
static Napi::Value JS_setErrorClass(const Napi::CallbackInfo &info)
{
    auto *addon = static_cast<Addon *>(info.Data());
    REQUIRE_ARG_FUNCTION(0, errorClass);
    addon->errorClass = Napi::Persistent(errorClass);
    return Napi::Value();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports)
{
    auto *addon = new Addon(env);
    env.SetInstanceData<Addon>(addon);
    napi_add_env_cleanup_hook(env, Cleanup, addon);

    addon->pendingErrors = Napi::Persistent(
        Napi::Array::New(env).As<Napi::Object>());
    addon->asyncResource = Napi::Persistent(Napi::Object::New(env));
    if (napi_async_init(env, addon->asyncResource.Value(),
                        Napi::String::New(env, "AioContext"),
                        &addon->asyncContext) != napi_ok) {
        addon->asyncContext = nullptr; /* plain calls instead */
    }

    Napi::Function bottomHalf = BottomHalf::Init(env, addon);
    Napi::Function timer = Timer::Init(env, addon);
    addon->bottomHalfClass = Napi::Persistent(bottomHalf);
    addon->timerClass = Napi::Persistent(timer);

    exports.Set("Context", Context::Init(env, addon));
    exports.Set("BottomHalf", bottomHalf);
    exports.Set("Timer", timer);
    exports.Set("EventNotifier", EventNotifier::Init(env, addon));
    exports.Set("MainContext", MainContext::Init(env, addon));
    exports.Set("NodeLoop", NodeLoop::Init(env, addon));
    exports.Set("File", File::Init(env, addon));
    exports.Set("setErrorClass", Napi::Function::New(env, JS_setErrorClass,
                                                     "setErrorClass", addon));
    exports.Set("setPromiseHook", Napi::Function::New(env, JS_setPromiseHook,
                                                      "setPromiseHook", addon));
    exports.Set("clockNs",
                Napi::Function::New(env, JS_clockNs, "clockNs", addon));
    exports.Set("virtualClockControl",
                Napi::Function::New(env, JS_virtualClockControl,
                                    "virtualClockControl", addon));
    exports.Set("pipe", Napi::Function::New(env, JS_pipe, "pipe", addon));
    exports.Set("alignedBuffer", Napi::Function::New(env, JS_alignedBuffer,
                                                     "alignedBuffer", addon));

    InitWrongThreadGuard(addon);
    InitShared(env, exports, addon);
    if (!InitPollDriver(env, exports, addon)) {
        /* Out of memory, or the environment is going (a Worker terminated
         * while it loaded the addon: nothing can throw or run then). */
        if (!env.IsExceptionPending()) {
            napi_throw_error(env, "ERR_AIO_INIT",
                             "aiocontext: cannot initialise the addon");
        }
    }
    return exports;
}

} // namespace aiocontext

static Napi::Object InitModule(Napi::Env env, Napi::Object exports)
{
    return aiocontext::Init(env, exports);
}

NODE_API_MODULE(aiocontext, InitModule)
