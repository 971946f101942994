/*
 * node-loop.h — class NodeLoop: the JS handle of Node's own event loop
 * driving a GMainContext (ctx.attachToNodeLoop(), a private GMainContext
 * holding just that context, and mainContext.attachToNodeLoop()).  The
 * libuv side is LoopGlue (loop-glue.h); the loop logic is the core's
 * AioLoopBridge.  This class only checks arguments, forwards ref()/unref()
 * and close(), and keeps the last counters after close.
 *
 * Ownership: the wrapper points at its glue until close; while attached it
 * holds a strong reference on itself (a loop runs with no JS reference
 * left).  The glue owns itself (loop-glue.h).
 *
 * Home thread only (the thread of the Node environment).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_NODE_LOOP_H
#define AIOCONTEXT_NODE_LOOP_H

#include "loop-glue.h"

#include <napi.h>

namespace aiocontext {

struct Addon;

class NodeLoop : public Napi::ObjectWrap<NodeLoop> {
public:
    static Napi::Function Init(Napi::Env env, Addon *addon);

    /* new NodeLoop(main: MainContext, context: Context | null): starts
     * driving @main from Node's loop.  With @context (which must be
     * attached to @main), liveness follows that context's armed work. */
    explicit NodeLoop(const Napi::CallbackInfo &info);
    ~NodeLoop() override;

    /* Called by the glue when it starts closing: keeps the last counters
     * and ref state, and forgets the glue. */
    void Forget(const NodeLoopStats &last, bool refd);

private:
    Napi::Value JS_ref(const Napi::CallbackInfo &info);
    Napi::Value JS_unref(const Napi::CallbackInfo &info);
    Napi::Value JS_close(const Napi::CallbackInfo &info);
    Napi::Value JS_attached(const Napi::CallbackInfo &info);
    Napi::Value JS_hasRef(const Napi::CallbackInfo &info);
    Napi::Value JS_stats(const Napi::CallbackInfo &info);

    Addon *addon_;
    LoopGlue *glue_ = nullptr; /* until close */
    bool selfRef_ = false;     /* Ref() taken while attached */
    bool refd_ = false;        /* after close: what hasRef reports */
    NodeLoopStats last_;       /* after close: what stats reports */
};

} // namespace aiocontext

#endif /* AIOCONTEXT_NODE_LOOP_H */
