/*
 * returned-promise.h — a callback that returns a rejected promise (an
 * async BH, say) is reported like one that throws.
 *
 * The core calls JS synchronously and cannot wait for a promise; what a
 * callback returns is otherwise ignored.  When it is a promise, it is
 * handed, before any microtask can run, to the TS hook set by
 * setPromiseHook() (src/rejections.ts), which attaches a rejection handler
 * (so Node never sees an unhandled rejection) and routes the reason:
 *   - called under a driver (poll(), MainContext.iteration()): thrown by
 *     the next poll() or iteration() call on this thread, at its start;
 *   - called from a foreign loop (attachToNodeLoop(), GTK): process
 *     'uncaughtException', as a throw would.
 * src/rejections.ts states the timing precisely.
 *
 * JS thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_RETURNED_PROMISE_H
#define AIOCONTEXT_RETURNED_PROMISE_H

#include <napi.h>

namespace aiocontext {

struct Addon;

/* If @result is a promise, passes it to the hook with @driven (whether a
 * driver was on the stack when the callback ran).  Cheap when it is not:
 * one napi_is_promise().  Never leaves an exception pending. */
void WatchReturnedPromise(Addon *addon, napi_value result, bool driven);

/* (setPromiseHook(fn), which installs the hook, is declared in modules.h:
 * fn(promise, driven) is called for every promise a callback returns.) */

} // namespace aiocontext

#endif /* AIOCONTEXT_RETURNED_PROMISE_H */
