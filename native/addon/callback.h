/*
 * callback.h — calling JS from core callbacks, and routing what it throws.
 *
 * The core calls a C function with an opaque pointer; the binding's
 * trampolines (one per kind of callback, in the files of their objects)
 * open a HandleScope and call CallFromCore().  A JS exception never crosses
 * back into the core: it is taken, the core callback returns normally (so
 * the rest of the pass runs and the context stays consistent), and then:
 *
 *  - if a driver (poll() or MainContext.iteration()) is on the stack, the
 *    exception waits in Addon::pendingErrors and that driver throws it when
 *    the core returns (several become one AggregateError);
 *  - else a foreign GLib loop (GTK's, node-gtk's) dispatched us: it goes to
 *    process 'uncaughtException' through napi_fatal_exception().
 *
 * With no driver on the stack the call goes through napi_make_callback(),
 * so that microtasks and async hooks run as for any other event source.
 *
 * JS thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_CALLBACK_H
#define AIOCONTEXT_CALLBACK_H

#include <napi.h>

namespace aiocontext {

struct Addon;

/*
 * Calls @fn with @argc arguments.  Must be called inside a HandleScope.
 * Returns: the result, or nullptr if @fn threw (the exception was routed as
 * described above and is no longer pending) or JS cannot run any more.
 */
napi_value CallFromCore(Addon *addon, napi_value fn, size_t argc,
                        const napi_value *argv);

/*
 * Calls the function held by @ref with no arguments, inside its own
 * HandleScope: the body of every trampoline whose callback takes none (BHs,
 * timers).  Nothing happens if @ref is empty.  Touches nothing but @addon
 * and @ref, and @ref only before the call.
 */
void CallReferenceFromCore(Addon *addon, const Napi::FunctionReference &ref);

/*
 * DriverScope: wraps one driver call (the core's aio_poll() or
 * g_main_context_iteration()).  It counts the driver depth and remembers how
 * many errors were pending when it started, so that a poll() nested in a
 * callback throws only the errors of its own callbacks (which then reach the
 * outer callback as an ordinary JS exception).
 */
class DriverScope {
public:
    /* @name is the driver's JS method, for the AggregateError message. */
    DriverScope(Addon *addon, const char *name);
    ~DriverScope();

    /* Ends the scope: returns @result if no callback threw, else throws the
     * error (one) or an AggregateError (several) and returns an empty value. */
    Napi::Value Finish(Napi::Env env, Napi::Value result);

    DriverScope(const DriverScope &) = delete;
    DriverScope &operator=(const DriverScope &) = delete;

private:
    Addon *addon_;
    const char *name_;
    size_t mark_;
    bool finished_ = false;
};

} // namespace aiocontext

#endif /* AIOCONTEXT_CALLBACK_H */
