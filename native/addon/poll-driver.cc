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

static PollRecord *Record(Addon *addon, uint32_t level)
{
    return addon->polls[level - 1].get();
}

/* The record for a new poll(): the stack only grows, and a record is
 * reused once the poll that had it ended. */
static PollRecord *PushPoll(Addon *addon)
{
    if (addon->pollDepth == addon->polls.size()) {
        addon->polls.push_back(std::make_unique<PollRecord>());
    }
    addon->pollDepth++;
    addon->pollLevel[0] = addon->pollDepth;
    return Record(addon, addon->pollDepth);
}

static void PopPoll(Addon *addon)
{
    PollRecord *rec = Record(addon, addon->pollDepth);

    if (rec->ownsRef) { /* the context was closed during the pass */
        rec->ownsRef = false;
        aio_context_unref(rec->pass.ctx);
    }
    addon->pollDepth--;
    addon->pollLevel[0] = addon->pollDepth;
    addon->driverDepth--;
}

/* Runs the pass at @level, the top of the stack, on until it hands a BH
 * back or ends.  The pass is a driver (callback.h) for as long as it is on
 * the stack; the HandleScope of this native call serves the first
 * callbacks C calls meanwhile. */
static bool Run(Addon *addon, uint32_t level)
{
    PollRecord *rec = Record(addon, level);
    uint32_t outerBudget = addon->scopeBudget;

    addon->scopeBudget = kDriverScopeBudget;
    addon->handedBack = nullptr;
    rec->handedBack = false;
    bool ended = aio__poll_run(&rec->pass);
    rec->handedBack = !ended;
    addon->scopeBudget = outerBudget;
    return ended;
}

/* Ends the top pass with every callback called from C (no hand-back), and
 * forgets what its callbacks threw: the poll() it belonged to is gone. */
static void AbandonTop(Addon *addon)
{
    PollRecord *rec = Record(addon, addon->pollDepth);

    rec->pass.may_yield = false;
    bool ended = Run(addon, addon->pollDepth); /* cannot hand back now */
    g_assert(ended);
    PopPoll(addon);
    if (addon->pendingCount > rec->errorMark) {
        addon->pendingCount = rec->errorMark;
    }
}

void EndPollsAbove(Addon *addon, uint32_t level)
{
    while (addon->pollDepth > level) {
        AbandonTop(addon);
    }
}

void EndStalePolls(Addon *addon, uint32_t live)
{
    while (addon->pollDepth > live &&
           Record(addon, addon->pollDepth)->handedBack) {
        AbandonTop(addon);
    }
}

/* Runs the pass at @level on: returns what poll() returns (a handed-back
 * function, the result, or nullptr with its callbacks' errors thrown). */
static napi_value Drive(napi_env env, Addon *addon, uint32_t level)
{
    if (!Run(addon, level)) {
        return addon->handedBack;
    }
    /* (Passes that callbacks began ended with them: CallFromCore.) */
    EndPollsAbove(addon, level);
    PollRecord *rec = Record(addon, level);
    bool progress = rec->pass.progress;
    PopPoll(addon);
    if (!ThrowKeptErrors(Napi::Env(env), addon, rec->errorMark, "poll")) {
        return nullptr;
    }
    napi_value result = nullptr;
    napi_get_boolean(env, progress, &result);
    return result;
}

napi_value BeginPoll(napi_env env, Addon *addon, AioContext *ctx, bool blocking)
{
    /* Passes handed back to a JS loop that is gone (it unwound; the
     * innermost one still running is at pollLevel[1]) end first. */
    EndStalePolls(addon, addon->pollLevel[1]);

    PollRecord *rec = PushPoll(addon);
    uint32_t outerBudget = addon->scopeBudget;

    rec->errorMark = addon->pendingCount;
    rec->handedBack = false;
    addon->driverDepth++;
    /* The wait may call io_poll hooks in JS: the same scope rules. */
    addon->scopeBudget = kDriverScopeBudget;
    /* The JS Context's reference keeps ctx alive: close() hands it to the
     * pass instead of dropping it (TakeContextRef). */
    rec->ownsRef = false;
    aio__poll_begin(ctx, blocking, AIO_PASS_MAY_YIELD | AIO_PASS_CALLER_REF,
                    &rec->pass);
    addon->scopeBudget = outerBudget;
    return Drive(env, addon, addon->pollDepth);
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
        level > addon->pollDepth || !Record(addon, level)->handedBack) {
        ThrowTypeError(env, "resumePoll(): no such poll() on the stack");
        return nullptr;
    }
    EndPollsAbove(addon, level);
    if (argc > 1 && !KeepError(addon, argv[1])) {
        napi_fatal_exception(env, argv[1]); /* not lost, at least */
    }
    return Drive(env, addon, level);
}

/* abandonPoll(level): the poll() at @level unwinds with an exception of
 * its own (not a callback's): ends its pass and those above it. */
static napi_value AbandonPoll(napi_env env, napi_callback_info cbinfo)
{
    napi_value arg;
    size_t argc = 1;
    void *data = nullptr;
    uint32_t level = 0;

    if (napi_get_cb_info(env, cbinfo, &argc, &arg, nullptr, &data) != napi_ok ||
        napi_get_value_uint32(env, arg, &level) != napi_ok || level == 0) {
        return nullptr;
    }
    EndPollsAbove(static_cast<Addon *>(data), level - 1);
    return nullptr;
}

bool TakeContextRef(Addon *addon, AioContext *ctx)
{
    /* The outermost pass of @ctx ends last. */
    for (uint32_t level = 1; level <= addon->pollDepth; level++) {
        PollRecord *rec = Record(addon, level);
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
    /* The passes' callbacks must neither call JS nor make handles (no
     * scope is open in a cleanup hook): every trampoline checks tornDown
     * before it touches Node-API. */
    addon->tornDown = true;
    EndPollsAbove(addon, 0);
}

static void ExportFunction(napi_env env, Napi::Object exports, const char *name,
                           napi_callback cb, Addon *addon)
{
    napi_value fn;

    napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, addon, &fn);
    exports.Set(name, Napi::Value(env, fn));
}

bool InitPollDriver(Napi::Env env, Napi::Object exports, Addon *addon)
{
    /* pollLevel, shared with JS without a call: [0] the depth of the
     * poll() stack (src/poll-driver.ts reads it right after poll() hands
     * back), [1] the level of the innermost JS loop running handed-back
     * functions (src/poll-driver.ts writes it; 0: none). */
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, 2 * sizeof(uint32_t));
    void *data = buf.IsEmpty() ? nullptr : buf.Data();
    if (!data) {
        return false;
    }
    addon->pollLevel = static_cast<uint32_t *>(data);
    addon->pollLevel[0] = 0;
    addon->pollLevel[1] = 0;
    addon->pollLevelBuffer = Napi::Persistent(buf);
    exports.Set("pollLevel", Napi::Uint32Array::New(env, 2, buf, 0));
    ExportFunction(env, exports, "resumePoll", ResumePoll, addon);
    ExportFunction(env, exports, "abandonPoll", AbandonPoll, addon);
    return true;
}

} // namespace aiocontext
