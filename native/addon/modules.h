/*
 * modules.h — the binding's module initializers and module-level
 * functions, declared in one place; addon.cc (Init and the environment
 * cleanup hook) is the one place that calls them.  Each class's own Init()
 * is declared with its class (context.h, bottom-half.h, ...), and addon.cc
 * calls those too.
 *
 * All of them run on the environment's JS thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_MODULES_H
#define AIOCONTEXT_MODULES_H

#include <napi.h>

namespace aiocontext {

struct Addon;

/* shared.cc: adds RemoteContext and RemoteBottomHalf to @exports and
 * registers the environment cleanup hook that gives back the lock levels
 * this thread took through RemoteContext.acquire(). */
void InitShared(Napi::Env env, Napi::Object exports, Addon *addon);

/* poll-driver.cc: adds resumePoll, abandonPoll and pollLevel to @exports
 * (poll-driver.h).  Returns: false if pollLevel could not be made (out of
 * memory, or the environment is going). */
bool InitPollDriver(Napi::Env env, Napi::Object exports, Addon *addon);

/* wrong-thread.cc: turns the GLib criticals of a context dispatched outside
 * its home thread into ERR_AIO_WRONG_THREAD thrown by the JS driver on the
 * stack (MainContext.iteration()).  Init once per environment, on its
 * thread; End from its cleanup hook. */
void InitWrongThreadGuard(Addon *addon);
void EndWrongThreadGuard(Addon *addon);

/* Module-level functions, exported by addon.cc under the same names. */
Napi::Value JS_clockNs(const Napi::CallbackInfo &info); /* clock.cc */
Napi::Value JS_virtualClockControl(
    const Napi::CallbackInfo &info);                 /* clock.cc */
Napi::Value JS_pipe(const Napi::CallbackInfo &info); /* pipe.cc */
Napi::Value JS_setPromiseHook(
    const Napi::CallbackInfo &info); /* returned-promise.cc */
Napi::Value JS_alignedBuffer(const Napi::CallbackInfo &info); /* file.cc */

} // namespace aiocontext

#endif /* AIOCONTEXT_MODULES_H */
