/*
 * wrong-thread.cc — GLib dispatch of a context from a foreign thread.
 *
 * JS objects cannot cross threads, so the only way to run a context outside
 * its home thread is GLib's: the context is attached to a GMainContext
 * (MainContext.default() is one per process) and another thread iterates
 * that GMainContext.  The core refuses: its GSource callbacks check the
 * thread, do nothing, and report through the process-wide handler set with
 * aio_set_wrong_thread_handler(); no callback runs and nothing crashes.
 * The context's callbacks run later, when its home thread drives it.
 *
 * What this file adds: when the foreign thread is a JS thread inside
 * MainContext.iteration() (a driver, callback.h), the report becomes an
 * AioError with code ERR_AIO_WRONG_THREAD that iteration() throws once the
 * GLib iteration is over (one per iteration).  On a thread with no driver
 * on the stack (GTK's loop, a plain C thread) it is a g_warning, as the
 * core's default would be.
 *
 * The handler is process-wide (set once, by the first environment); it
 * finds the calling thread's environment through a thread_local pointer set
 * when the addon loads on that thread.
 *
 * SPDX-License-Identifier: MIT
 */
#include "modules.h"

#include "addon.h"
#include "callback.h"

#include "aio.h"

#include <glib.h>

#include <mutex>

namespace aiocontext {

/* The environment whose JS runs on this thread, if any. */
static thread_local Addon *tlsAddon = nullptr;

/* Appends an AioError to the driver's pending errors.  Returns false if it
 * could not (the caller then lets GLib print the critical). */
static bool Record(Addon *addon)
{
    if (addon->tornDown || addon->driverDepth == 0 ||
        addon->errorClass.IsEmpty()) {
        return false;
    }
    napi_env env = addon->env;
    Napi::HandleScope scope(env);
    Napi::Object list = addon->pendingErrors.Value();
    if (addon->pendingCount > 0) {
        /* One per driver call, not one per GSource callback: the newest
         * pending error is already ours. */
        Napi::Value last = list.Get(addon->pendingCount - 1);
        if (last.IsObject() &&
            last.As<Napi::Object>().Get("code").StrictEquals(
                Napi::String::New(env, "ERR_AIO_WRONG_THREAD"))) {
            return true;
        }
    }
    Napi::Value error = addon->errorClass.New(
        {Napi::String::New(env,
                           "An AioContext attached to this GMainContext was "
                           "dispatched outside its home thread (the thread "
                           "that created it): GLib skipped it; iterate it "
                           "from its home thread"),
         Napi::String::New(env, "ERR_AIO_WRONG_THREAD")});
    Napi::Env e(env);
    if (e.IsExceptionPending()) {
        e.GetAndClearPendingException();
        return false;
    }
    return KeepError(addon, error);
}

static void OnWrongThread(AioContext *ctx, void *)
{
    Addon *addon = tlsAddon;
    if (addon && Record(addon)) {
        return;
    }
    g_warning("aiocontext: the GSource of '%s' was run outside its home "
              "thread; nothing was done",
              aio_context_get_name(ctx));
}

void InitWrongThreadGuard(Addon *addon)
{
    static std::once_flag once;
    std::call_once(
        once, [] { aio_set_wrong_thread_handler(OnWrongThread, nullptr); });
    tlsAddon = addon;
}

void EndWrongThreadGuard(Addon *addon)
{
    if (tlsAddon == addon) {
        tlsAddon = nullptr;
    }
}

} // namespace aiocontext
