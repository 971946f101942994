/*
 * node-loop.cc — class NodeLoop (see node-loop.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "node-loop.h"

#include "addon.h"
#include "context.h"
#include "errors.h"
#include "guards.h"
#include "main-context.h"

namespace aiocontext {

Napi::Function NodeLoop::Init(Napi::Env env, Addon *addon)
{
    return DefineClass(env, "NodeLoop",
                       {
                           InstanceMethod<&NodeLoop::JS_ref>("ref"),
                           InstanceMethod<&NodeLoop::JS_unref>("unref"),
                           InstanceMethod<&NodeLoop::JS_close>("close"),
                           InstanceAccessor<&NodeLoop::JS_attached>("attached"),
                           InstanceAccessor<&NodeLoop::JS_hasRef>("hasRef"),
                           InstanceAccessor<&NodeLoop::JS_stats>("stats"),
                       },
                       addon);
}

/* The open Context of @value (a native Context of this addon), else
 * nullptr with an exception pending. */
static Context *ContextFromValue(Addon *addon, napi_env env, Napi::Value value)
{
    Context *ctx = UnwrapTagged<Context>(
        env, value, &addon->tags.context,
        "argument 1 must be a native Context or null");
    return ctx && ctx->CheckUsable(env) ? ctx : nullptr;
}

NodeLoop::NodeLoop(const Napi::CallbackInfo &info)
    : Napi::ObjectWrap<NodeLoop>(info),
      addon_(static_cast<Addon *>(info.Data()))
{
    Napi::Env env = info.Env();
    GMainContext *main = MainContext::FromValue(addon_, env, info[0]);
    Context *ctx = nullptr;
    uv_loop_t *loop = nullptr;

    if (!main) {
        return;
    }
    if (!info[1].IsNull() && !info[1].IsUndefined() &&
        !(ctx = ContextFromValue(addon_, env, info[1]))) {
        return;
    }
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
        ThrowAioError(addon_, env, "UNKNOWN",
                      "Node's event loop is not available");
        return;
    }
    glue_ = LoopGlueNew(addon_, env, loop, main, ctx, this);
    if (!glue_) {
        return;
    }
    refd_ = true;
    Ref(); /* a loop runs with no JS reference left: see the header */
    selfRef_ = true;
}

NodeLoop::~NodeLoop()
{
    /* Only reached attached when the environment is torn down before the
     * glue's cleanup hook ran (never, by hook order). */
    if (glue_) {
        LoopGlue *g = glue_;
        glue_ = nullptr;
        LoopGlueClose(g); /* calls Forget(): harmless now */
    }
}

void NodeLoop::Forget(const NodeLoopStats &last, bool refd)
{
    last_ = last;
    refd_ = refd;
    glue_ = nullptr;
}

Napi::Value NodeLoop::JS_ref(const Napi::CallbackInfo &info)
{
    (void)info;
    if (glue_) {
        LoopGlueSetRef(glue_, true);
    }
    return Napi::Value();
}

Napi::Value NodeLoop::JS_unref(const Napi::CallbackInfo &info)
{
    (void)info;
    if (glue_) {
        LoopGlueSetRef(glue_, false);
    }
    return Napi::Value();
}

/* Detaches from Node's loop.  Idempotent; safe from inside a callback. */
Napi::Value NodeLoop::JS_close(const Napi::CallbackInfo &info)
{
    (void)info;
    if (glue_) {
        LoopGlueClose(glue_); /* calls Forget() */
    }
    if (selfRef_) {
        selfRef_ = false;
        Unref();
    }
    return Napi::Value();
}

Napi::Value NodeLoop::JS_attached(const Napi::CallbackInfo &info)
{
    return Napi::Boolean::New(info.Env(), glue_ != nullptr);
}

Napi::Value NodeLoop::JS_hasRef(const Napi::CallbackInfo &info)
{
    return Napi::Boolean::New(info.Env(),
                              glue_ ? LoopGlueHasRef(glue_) : refd_);
}

Napi::Value NodeLoop::JS_stats(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    const NodeLoopStats &s = glue_ ? LoopGlueStats(glue_) : last_;
    Napi::Object stats = Napi::Object::New(env);

    stats.Set("wakeups",
              Napi::Number::New(env, static_cast<double>(s.wakeups)));
    stats.Set("dispatches",
              Napi::Number::New(env, static_cast<double>(s.dispatches)));
    stats.Set("fds", Napi::Number::New(env, s.fds));
    stats.Set("keepingAlive", Napi::Boolean::New(env, s.keepingAlive));
    return stats;
}

} // namespace aiocontext
