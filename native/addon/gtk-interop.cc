/*
 * gtk-interop.cc — the native half of converting between our MainContext
 * and node-gtk's GLib.MainContext (src/gtk-interop.ts).
 *
 * node-gtk keeps its own wrappers of GMainContext, and the pointer inside a
 * Node-API external is not one of them: there is no object either side can
 * hand to the other.  The conversion goes through GLib itself instead: one
 * side pushes its context as the thread-default context, the other reads
 * the thread-default (g_main_context_ref_thread_default() here,
 * GLib.MainContext.refThreadDefault() in node-gtk), then the first pops it.
 *
 *   toGtk:   JS_pushThreadDefault, node-gtk refThreadDefault(), JS_popThreadDefault
 *   fromGtk: node-gtk pushThreadDefault(), new MainContext('thread-default'),
 *            node-gtk popThreadDefault()   (constructor in main-context.cc)
 *
 * Pushing acquires the context (GLib's rule: the thread-default context is
 * owned by its thread); if another thread owns it, pushing fails with an
 * AioError instead of GLib's critical warning.  JS thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#include "main-context.h"

#include "addon.h"
#include "errors.h"

namespace aiocontext {

/* g_main_context_push_thread_default(); the caller pops with
 * popThreadDefault() (in a finally block). */
Napi::Value MainContext::JS_pushThreadDefault(const Napi::CallbackInfo &info)
{
    if (!g_main_context_acquire(main_)) {
        ThrowAioError(addon_, info.Env(), "ERR_AIO_WRONG_THREAD",
                      "MainContext is owned by another thread: it cannot be "
                      "pushed as this thread's default context");
        return Napi::Value();
    }
    g_main_context_push_thread_default(main_); /* acquires once more */
    g_main_context_release(main_);
    pushed_++;
    return Napi::Value();
}

/* g_main_context_pop_thread_default(): undoes pushThreadDefault().  Returns
 * false, and pops nothing, if this wrapper has no push outstanding or its
 * context is not on top of the stack (someone pushed without popping),
 * rather than letting GLib print a critical warning or release a context
 * it never acquired. */
Napi::Value MainContext::JS_popThreadDefault(const Napi::CallbackInfo &info)
{
    GMainContext *top = g_main_context_get_thread_default();

    /* GLib keeps the global default as NULL on the stack, and
     * get_thread_default() returns NULL for it (as for an empty stack). */
    bool isTop = pushed_ > 0 &&
                 (top == main_ ||
                  (top == nullptr && main_ == g_main_context_default()));
    if (isTop) {
        g_main_context_pop_thread_default(main_);
        pushed_--;
    }
    return Napi::Boolean::New(info.Env(), isTop);
}

} // namespace aiocontext
