/*
 * main-context.h — class MainContext: a GMainContext.
 *
 * The wrapper holds one reference on its GMainContext (the default one or a
 * new one).  An AioContext attached to it takes its own reference, so the
 * GMainContext outlives the wrapper while anything is attached.
 *
 * iteration() is a driver (callback.h): callbacks that throw while it runs
 * make it throw once the GLib iteration is over.
 *
 * JS thread only (GLib decides which thread may iterate a GMainContext:
 * iteration() returns false when another thread owns it).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_MAIN_CONTEXT_H
#define AIOCONTEXT_MAIN_CONTEXT_H

#include "fast-method.h"

#include <napi.h>

#include <glib.h>

namespace aiocontext {

struct Addon;

class MainContext : public Napi::ObjectWrap<MainContext> {
public:
    static Napi::Function Init(Napi::Env env, Addon *addon);

    /* new MainContext(isDefault: boolean): g_main_context_default() or
     * g_main_context_new().  new MainContext('thread-default'):
     * g_main_context_ref_thread_default(), the context someone else (e.g.
     * node-gtk) pushed as this thread's default (gtk-interop.cc). */
    explicit MainContext(const Napi::CallbackInfo &info);
    ~MainContext() override;

    /* Returns: the GMainContext of @value if it is a MainContext made by
     * this addon, else nullptr with a TypeError pending. */
    static GMainContext *FromValue(Addon *addon, napi_env env,
                                   Napi::Value value);

private:
    Napi::Value JS_iteration(const Napi::CallbackInfo &info);
    napi_value Iteration(napi_env env, napi_value mayBlock); /* FastBody */
    Napi::Value JS_pending(const Napi::CallbackInfo &info);
    Napi::Value JS_wakeup(const Napi::CallbackInfo &info);
    Napi::Value JS_isDefault(const Napi::CallbackInfo &info);
    /* gtk-interop.cc: g_main_context_push/pop_thread_default(), so that
     * node-gtk's GLib.MainContext.refThreadDefault() finds this context. */
    Napi::Value JS_pushThreadDefault(const Napi::CallbackInfo &info);
    Napi::Value JS_popThreadDefault(const Napi::CallbackInfo &info);

    Addon *addon_;
    GMainContext *main_ = nullptr; /* one reference */
    FastHandle<MainContext> fast_; /* for fastIteration() (fast-method.h) */
    unsigned pushed_ = 0;          /* pushThreadDefault() not yet popped */
};

} // namespace aiocontext

#endif /* AIOCONTEXT_MAIN_CONTEXT_H */
