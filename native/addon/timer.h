/*
 * timer.h — class Timer (QEMUTimer).
 *
 * A Timer is created by Context::JS_timer() and is the core timer's opaque
 * pointer.  The Context keeps a strong reference on the wrapper until
 * delete() (timer_free, which is synchronous: the core never calls the
 * timer again once it returns) or until the context closes.
 *
 * Times cross the boundary as JS numbers and are int64 here; values given in
 * the timer's scale are clamped so that value * scale cannot overflow.
 *
 * Home thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_TIMER_H
#define AIOCONTEXT_TIMER_H

#include "context.h"

#include <napi.h>

extern "C" {
#include "aio.h"
}

#include <list>
#include <string>

namespace aiocontext {

struct Addon;

class Timer : public Napi::ObjectWrap<Timer> {
public:
    static Napi::Function Init(Napi::Env env, Addon *addon);

    /* Only the addon can construct one (it passes a private token). */
    explicit Timer(const Napi::CallbackInfo &info);
    ~Timer() override;

    /* Creates a timer of @ctx.  Returns: the wrapper, or an empty object
     * with an exception pending. */
    static Napi::Object New(Context *ctx, QEMUClockType clock, int scale,
                            int attributes, Napi::Function cb);

    /* Close path of the context: frees the core timer. */
    void CloseFromContext();

private:
    static void Run(void *opaque);

    bool CheckUsable(napi_env env) const;
    /* @value in the timer's scale, clamped so that * scale fits int64. */
    int64_t Clamp(int64_t value) const;
    /* Frees the core timer and drops the context's reference. */
    void Free();

    Napi::Value JS_mod(const Napi::CallbackInfo &info);
    Napi::Value JS_modNs(const Napi::CallbackInfo &info);
    Napi::Value JS_modAnticipate(const Napi::CallbackInfo &info);
    Napi::Value JS_del(const Napi::CallbackInfo &info);
    Napi::Value JS_delete(const Napi::CallbackInfo &info);
    Napi::Value JS_pending(const Napi::CallbackInfo &info);
    Napi::Value JS_expireTime(const Napi::CallbackInfo &info);
    Napi::Value JS_expired(const Napi::CallbackInfo &info);

    Addon *addon_;
    Context::Link owner_;        /* the context (see Context::link) */
    QEMUTimer *timer_ = nullptr; /* null once freed */
    Napi::FunctionReference callback_;
    int scale_ = 1;
    bool deleted_ = false;
    bool closed_ = false;
    std::list<Timer *>::iterator pos_; /* in the context's timers_ */
};

} // namespace aiocontext

#endif /* AIOCONTEXT_TIMER_H */
