/*
 * shared.h — share tokens in JS: ctx.share() / bh.share(), and the remote
 * handles RemoteContext and RemoteBottomHalf that any thread's JS can make
 * from a token (registry.h does the work; these classes only check
 * arguments, keep a handle on the registry entry and turn negative errno
 * values into exceptions).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_SHARED_H
#define AIOCONTEXT_SHARED_H

#include <napi.h>

namespace aiocontext {

struct Addon;

/* Adds RemoteContext and RemoteBottomHalf to @exports and registers the
 * environment cleanup hook that gives back the lock levels this thread took
 * through RemoteContext.acquire(). */
void InitShared(Napi::Env env, Napi::Object exports, Addon *addon);

/* wrong-thread.cc: turns the GLib criticals of a context dispatched outside
 * its home thread into ERR_AIO_WRONG_THREAD thrown by the JS driver on the
 * stack (MainContext.iteration()).  Init once per environment, on its
 * thread; End from its cleanup hook. */
void InitWrongThreadGuard(Addon *addon);
void EndWrongThreadGuard(Addon *addon);

} // namespace aiocontext

#endif /* AIOCONTEXT_SHARED_H */
