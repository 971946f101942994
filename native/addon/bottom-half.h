/*
 * bottom-half.h — class BottomHalf (QEMUBH) and oneshot BHs.
 *
 * A BottomHalf is created by Context::JS_bh() and is the core BH's opaque
 * pointer.  Its owner is the Context, which keeps a strong reference on the
 * wrapper from creation until the core frees the BH (the destroy notify,
 * after qemu_bh_delete() on the loop's next BH pass, or at finalization): the
 * core can never call into a freed object, whatever the user's handle does.
 *
 * A oneshot (aio_bh_schedule_oneshot) has no handle: its JS function lives
 * in an OneshotRecord freed by the core's destroy notify.
 *
 * Home thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_BOTTOM_HALF_H
#define AIOCONTEXT_BOTTOM_HALF_H

#include "context.h"

#include <napi.h>

extern "C" {
#include "aio.h"
}

#include <list>
#include <string>

namespace aiocontext {

struct Addon;

class BottomHalf : public Napi::ObjectWrap<BottomHalf> {
public:
    static Napi::Function Init(Napi::Env env, Addon *addon);

    /* Only the addon can construct one (it passes a private token). */
    explicit BottomHalf(const Napi::CallbackInfo &info);
    ~BottomHalf() override;

    /* Creates a BottomHalf for @ctx running @cb.  Returns: the wrapper, or
     * an empty object with an exception pending. */
    static Napi::Object New(Context *ctx, Napi::Function cb,
                            const std::string &name);

    /* aio_bh_schedule_oneshot_full() with a JS function. */
    static void ScheduleOneshot(Context *ctx, Napi::Function cb);

    /* Close path of the context: deletes the core BH if still alive. */
    void CloseFromContext();
    /* Close path of the context for oneshots: they will not run. */
    static void CancelOneshots(Context *ctx);

    const std::string &name() const { return name_; }

private:
    static void Run(void *opaque);
    static void Destroy(void *opaque);
    static void RunOneshot(void *opaque);
    static void DestroyOneshot(void *opaque);

    bool CheckUsable(napi_env env) const;
    std::string Describe() const;

    Napi::Value JS_schedule(const Napi::CallbackInfo &info);
    napi_value Schedule(napi_env env, napi_value unused); /* FastBody */
    Napi::Value JS_cancel(const Napi::CallbackInfo &info);
    Napi::Value JS_delete(const Napi::CallbackInfo &info);
    Napi::Value JS_scheduled(const Napi::CallbackInfo &info);
    Napi::Value JS_deleted(const Napi::CallbackInfo &info);
    Napi::Value JS_share(const Napi::CallbackInfo &info); /* shared.cc */

    Addon *addon_;
    FastHandle<BottomHalf> fast_; /* for fastSchedule() (fast-method.h) */
    Context::Link owner_;         /* the context (see Context::link) */
    QEMUBH *bh_ = nullptr;        /* null once deleted or closed */
    AioContext *core_ = nullptr;  /* the core context of bh_ */
    Napi::FunctionReference callback_;
    std::string name_;
    bool deleted_ = false;
    bool closed_ = false;
    std::list<BottomHalf *>::iterator pos_; /* in the context's bhs_ */
};

} // namespace aiocontext

#endif /* AIOCONTEXT_BOTTOM_HALF_H */
