/*
 * poll-driver.h — JS poll(): aio_poll() as a pass that hands BH callbacks
 * back to JS.
 *
 * Calling a JS function from C (napi_call_function) costs about three
 * times what a call from JS into the addon costs: V8 must enter JS from
 * C++ (an entry frame, a TryCatch, a microtask-policy check).  A BH pass
 * driven by poll() therefore runs as a core AioPollPass begun with
 * may_yield (aio-internal.h): when one of our BHs comes up, its trampoline
 * does not call the function; it hands it to the pass's caller and the
 * pass stops right after that BH.  poll() returns the function instead of
 * its result; src/poll-driver.ts calls it, from JS, and calls
 * resumePoll(), which runs the pass on from where it stopped, until the
 * next handed-back BH or the end (then poll()'s boolean, or its errors).
 *
 * The pass takes no reference on the context (two atomic operations per
 * poll()): the JS Context's reference keeps it alive, and a close() from a
 * callback hands that reference to the pass (TakeContextRef).
 *
 * To every callback this is aio_poll(): the same order, the same nesting,
 * the same errors (a throw is handed to resumePoll() and kept with the
 * errors of the callbacks C calls, in order).  Only BH and oneshot
 * callbacks are handed back, only by a pass that poll() began, and never
 * while the core's observer times callbacks.
 *
 * Polls nest (a callback may call poll() again, on any context): their
 * passes form a stack per environment, and resumePoll() runs the top one.
 * src/poll-driver.ts resumes a pass whatever its callback did, so the
 * stack unwinds in order; if JS stops for good (a terminated worker), the
 * cleanup hook ends the passes left, calling no JS.
 *
 * JS thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_POLL_DRIVER_H
#define AIOCONTEXT_POLL_DRIVER_H

#include <napi.h>

extern "C" {
#include "aio-internal.h"
}

namespace aiocontext {

struct Addon;

/* One poll() on the stack. */
struct PollRecord {
    AioPollPass pass;   /* begun with AIO_PASS_CALLER_REF */
    uint32_t errorMark; /* addon->pendingCount when it began */
    bool ownsRef;       /* holds the closed Context's core reference */
};

/*
 * poll(blocking) on @ctx, whose checks (home thread, open, would block
 * forever) were made: begins the pass and runs it.  Returns: the result
 * (a boolean), a BH's function for JS to call and then resumePoll(), or an
 * empty value with the callbacks' errors thrown.
 */
Napi::Value BeginPoll(Napi::Env env, Addon *addon, AioContext *ctx,
                      bool blocking);

/*
 * From the trampoline of a BH of @ctx whose JS function is @ref: hands the
 * function to the poll() running @ctx's pass.  Returns: false if that
 * cannot be done here (then call it as usual).
 */
bool YieldToPoll(Addon *addon, AioContext *ctx,
                 const Napi::FunctionReference &ref);

/*
 * From Context::Close(), about to drop its reference on @ctx: if a poll()
 * of @ctx is on the stack (its pass holds no reference of its own), the
 * outermost one takes the reference over and drops it when it ends.
 * Returns: true if it did (then do not unref).
 */
bool TakeContextRef(Addon *addon, AioContext *ctx);

/* The cleanup hook: ends the passes JS left, calling no JS. */
void AbandonPolls(Addon *addon);

} // namespace aiocontext

#endif /* AIOCONTEXT_POLL_DRIVER_H */
