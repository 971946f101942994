/*
 * event-notifier.h — class EventNotifier: an eventfd the user owns.
 *
 * The wrapper owns the core EventNotifier (its descriptors) from
 * construction until close() or finalization.  Contexts it is registered
 * with count their registrations here: close() refuses (ERR_AIO_BUSY, and
 * changes nothing) while any is left, because the core would otherwise
 * poll a closed, possibly reused descriptor.  A registered notifier cannot
 * be collected: the registration's record holds a strong reference.
 *
 * set() and testAndClear() are thread-safe in the core; everything here is
 * called on the JS thread that owns the wrapper.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_EVENT_NOTIFIER_H
#define AIOCONTEXT_EVENT_NOTIFIER_H

#include <napi.h>

extern "C" {
#include "aio.h"
}

namespace aiocontext {

struct Addon;

class EventNotifier : public Napi::ObjectWrap<EventNotifier> {
public:
    static Napi::Function Init(Napi::Env env, Addon *addon);

    /* new EventNotifier(active: boolean) */
    explicit EventNotifier(const Napi::CallbackInfo &info);
    ~EventNotifier() override;

    /* Returns: the wrapped notifier if @value is one made by this addon,
     * else nullptr with a TypeError pending. */
    static EventNotifier *FromValue(Addon *addon, napi_env env,
                                    Napi::Value value);

    ::EventNotifier *core() { return &notifier_; }
    bool IsOpen() const { return notifier_.initialized; }
    /* Throws ERR_AIO_CLOSED and returns false if closed. */
    bool CheckOpen(napi_env env) const;

    void AddRegistration() { registrations_++; }
    void RemoveRegistration() { registrations_--; }

    /* Closes the descriptors; used by close() and the cleanup hook. */
    void Cleanup();

private:
    Napi::Value JS_fd(const Napi::CallbackInfo &info);
    Napi::Value JS_set(const Napi::CallbackInfo &info);
    Napi::Value JS_testAndClear(const Napi::CallbackInfo &info);
    Napi::Value JS_close(const Napi::CallbackInfo &info);
    Napi::Value JS_closed(const Napi::CallbackInfo &info);

    Addon *addon_;
    ::EventNotifier notifier_ = {-1, -1, false};
    unsigned registrations_ = 0; /* contexts it is registered with */
};

} // namespace aiocontext

#endif /* AIOCONTEXT_EVENT_NOTIFIER_H */
