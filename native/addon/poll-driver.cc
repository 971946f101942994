/*
 * poll-driver.cc — JS poll() as a pass that hands BH callbacks back to JS
 * (see poll-driver.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "poll-driver.h"

#include "addon.h"
#include "callback.h"
#include "errors.h"
#include "modules.h"

namespace aiocontext {

/* The record for a new poll(): the stack only grows, and a record is
 * reused once the poll that had it ended. */
static PollRecord *PushPoll(Addon *addon)
{
    if (addon->pollDepth == addon->polls.size()) {
        addon->polls.push_back(std::make_unique<PollRecord>());
    }
    PollRecord *rec = addon->polls[addon->pollDepth].get();
    addon->pollDepth++;
    addon->pollLevel[0] = addon->pollDepth;
    return rec;
}

static void PopPoll(Addon *addon)
{
    PollRecord *rec = addon->polls[addon->pollDepth - 1].get();

    if (rec->ownsRef) { /* the context was closed during the pass */
        rec->ownsRef = false;
        aio_context_unref(rec->pass.ctx);
    }
    addon->pollDepth--;
    addon->pollLevel[0] = addon->pollDepth;
    addon->driverDepth--;
}

/* Runs the top pass on until it hands a BH back or ends.  The pass is a
 * driver (callback.h) for as long as it is on the stack; the HandleScope of
 * this native call serves the first callbacks C calls meanwhile. */
static bool RunTop(Addon *addon)
{
    PollRecord *rec = addon->polls[addon->pollDepth - 1].get();
    uint32_t outerBudget = addon->scopeBudget;

    addon->scopeBudget = kDriverScopeBudget;
    addon->handedBack = nullptr;
    bool ended = aio__poll_run(&rec->pass);
    addon->scopeBudget = outerBudget;
    return ended;
}

/* The top pass ended: poll()'s result, or its callbacks' errors thrown. */
static Napi::Value EndTop(Napi::Env env, Addon *addon)
{
    PollRecord *rec = addon->polls[addon->pollDepth - 1].get();
    bool progress = rec->pass.progress;

    PopPoll(addon);
    if (!ThrowKeptErrors(env, addon, rec->errorMark, "poll")) {
        return Napi::Value();
    }
    return Napi::Boolean::New(env, progress);
}

/* Ends the top pass with every callback called from C (no hand-back), and
 * forgets what its callbacks threw: the poll() it belonged to is gone. */
static void AbandonTop(Addon *addon)
{
    PollRecord *rec = addon->polls[addon->pollDepth - 1].get();

    rec->pass.may_yield = false;
    bool ended = RunTop(addon); /* it cannot hand anything back now */
    g_assert(ended);
    PopPoll(addon);
    if (addon->pendingCount > rec->errorMark) {
        addon->pendingCount = rec->errorMark;
    }
}

Napi::Value BeginPoll(Napi::Env env, Addon *addon, AioContext *ctx,
                      bool blocking)
{
    PollRecord *rec = PushPoll(addon);
    uint32_t outerBudget = addon->scopeBudget;

    rec->errorMark = addon->pendingCount;
    addon->driverDepth++;
    /* The wait may call io_poll hooks in JS: the same scope rules. */
    addon->scopeBudget = kDriverScopeBudget;
    /* The JS Context's reference keeps ctx alive: close() hands it to the
     * pass instead of dropping it (TakeContextRef). */
    rec->ownsRef = false;
    aio__poll_begin(ctx, blocking, AIO_PASS_MAY_YIELD | AIO_PASS_CALLER_REF,
                    &rec->pass);
    addon->scopeBudget = outerBudget;
    if (!RunTop(addon)) {
        return Napi::Value(env, addon->handedBack);
    }
    return EndTop(env, addon);
}

bool YieldToPoll(Addon *addon, AioContext *ctx,
                 const Napi::FunctionReference &ref)
{
    napi_value fn = nullptr;

    if (!aio__poll_may_yield(ctx) || addon->tornDown ||
        napi_get_reference_value(addon->env, ref, &fn) != napi_ok || !fn) {
        return false;
    }
    /* A local of the native call that runs the pass (BeginPoll's or
     * resumePoll's): it is that call's return value. */
    addon->handedBack = fn;
    aio__poll_yield(ctx);
    return true;
}

/*
 * resumePoll(level[, error]): the BH function that the poll() at stack
 * level @level (pollLevel right after it was handed back) returned has
 * been called; with @error, it threw that.  Runs that pass on.  Passes
 * above @level were left by JS (their poll() unwound): they end first,
 * without handing anything back.
 */
static napi_value ResumePoll(napi_env env, napi_callback_info cbinfo)
{
    napi_value argv[2];
    size_t argc = 2;
    void *data = nullptr;
    uint32_t level = 0;

    /* (Raw N-API: the second of three calls from JS per handed-back BH.) */
    if (napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data) != napi_ok) {
        return nullptr;
    }
    auto *addon = static_cast<Addon *>(data);
    if (napi_get_value_uint32(env, argv[0], &level) != napi_ok || level == 0 ||
        level > addon->pollDepth) {
        ThrowTypeError(env, "resumePoll(): no such poll() on the stack");
        return nullptr;
    }
    while (addon->pollDepth > level) {
        AbandonTop(addon);
    }
    if (argc > 1 && !KeepError(addon, argv[1])) {
        napi_fatal_exception(env, argv[1]); /* not lost, at least */
    }
    if (!RunTop(addon)) {
        return addon->handedBack;
    }
    return EndTop(Napi::Env(env), addon);
}

/* abandonPoll(level): the poll() at @level unwinds with an exception of
 * its own (not a callback's): ends its pass and those above it. */
static Napi::Value JS_abandonPoll(const Napi::CallbackInfo &info)
{
    auto *addon = static_cast<Addon *>(info.Data());
    uint32_t level = info[0].IsNumber()
                         ? info[0].As<Napi::Number>().Uint32Value()
                         : 0;

    while (level > 0 && addon->pollDepth >= level) {
        AbandonTop(addon);
    }
    return Napi::Value();
}

bool TakeContextRef(Addon *addon, AioContext *ctx)
{
    /* The outermost pass of @ctx ends last. */
    for (uint32_t i = 0; i < addon->pollDepth; i++) {
        PollRecord *rec = addon->polls[i].get();
        if (rec->pass.ctx == ctx) {
            if (rec->ownsRef) {
                return false; /* (one reference per Context: not reached) */
            }
            rec->ownsRef = true;
            return true;
        }
    }
    return false;
}

void AbandonPolls(Addon *addon)
{
    if (addon->pollDepth == 0) {
        return;
    }
    addon->tornDown = true; /* the passes' callbacks must not call JS */
    while (addon->pollDepth > 0) {
        AbandonTop(addon);
    }
}

void InitPollDriver(Napi::Env env, Napi::Object exports, Addon *addon)
{
    /* pollLevel: the depth of the poll() stack, readable from JS without a
     * call (src/poll-driver.ts reads it right after poll() hands back). */
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, sizeof(uint32_t));
    addon->pollLevel = static_cast<uint32_t *>(buf.Data());
    addon->pollLevel[0] = 0;
    addon->pollLevelBuffer = Napi::Persistent(buf);
    exports.Set("pollLevel", Napi::Uint32Array::New(env, 1, buf, 0));
    napi_value resume;
    napi_create_function(env, "resumePoll", NAPI_AUTO_LENGTH, ResumePoll, addon,
                         &resume);
    exports.Set("resumePoll", Napi::Value(env, resume));
    exports.Set("abandonPoll",
                Napi::Function::New(env, JS_abandonPoll, "abandonPoll", addon));
}

} // namespace aiocontext
