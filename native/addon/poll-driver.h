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
 * passes form a stack per environment.  src/poll-driver.ts resumes a pass
 * whatever its callback did, so the stack unwinds in order.  A JS loop can
 * still unwind without ending its pass (a stack overflow in its own code);
 * such a pass is ended, from C, at the next entry that knows it is stale:
 * the next poll() (told the innermost live loop), resumePoll() of a lower
 * level, the return of the C call of a callback, or Node's loop.  If JS
 * stops for good (a terminated worker), the cleanup hook ends the passes
 * left, calling no JS.
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
    bool handedBack;    /* waits for JS to call resumePoll() */
};

/*
 * poll(blocking) on @ctx, whose checks (home thread, open, would block
 * forever) were made: begins the pass and runs it.  Passes handed back
 * above the innermost JS loop still running (pollLevel[1], which
 * src/poll-driver.ts keeps) were left by a loop that unwound: they end
 * first.  Returns: the result (a boolean), a BH's function for JS to call
 * and then resumePoll(), or nullptr with the callbacks' errors thrown.
 */
napi_value BeginPoll(napi_env env, Addon *addon, AioContext *ctx,
                     bool blocking);

/* Ends (running the rest from C, forgetting their errors) every pass above
 * stack level @level.  CallFromCore() calls it when a callback returns:
 * a poll() the callback began and did not end was left by JS. */
void EndPollsAbove(Addon *addon, uint32_t level);

/* Ends the passes at the top of the stack, above @live, that wait for a JS
 * loop: Node's loop calls it with 0 (no JS is on the stack there). */
void EndStalePolls(Addon *addon, uint32_t live);

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
