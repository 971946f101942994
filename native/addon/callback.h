/*
 * callback.h — calling JS from core callbacks, and routing what it throws.
 *
 * The core calls a C function with an opaque pointer; the binding's
 * trampolines (one per kind of callback, in the files of their objects)
 * enter a CoreCallScope and call CallFromCore().  A JS exception never crosses
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
 * Calls the function held by @ref with no arguments, inside a
 * CoreCallScope: the body of every trampoline whose callback takes none
 * (BHs, oneshots, timers).  Nothing happens if @ref is empty.  Touches
 * nothing but @addon and @ref, and @ref only before the call.
 */
void CallReferenceFromCore(Addon *addon, const Napi::FunctionReference &ref);

/*
 * Keeps @error for the innermost driver on the stack, which throws it when
 * the core returns.  Returns: false if there is no driver or the error
 * could not be kept (the caller reports it some other way).
 */
bool KeepError(Addon *addon, napi_value error);

/*
 * Throws what callbacks kept with KeepError() since @mark (the
 * pendingCount when the driver started): one error as it is, several as an
 * AggregateError whose message names the driver @name; then forgets them.
 * Returns: true if there was nothing to throw, false if it threw.
 */
bool ThrowKeptErrors(Napi::Env env, Addon *addon, uint32_t mark,
                     const char *name);

/*
 * CoreCallScope: the HandleScope of one call from the core into JS.
 *
 * napi_open_handle_scope() allocates (a heap object per scope), and a BH
 * pass runs one callback per BH.  Inside a driver, V8 already has a scope
 * open for the driver's native method (poll(), iteration()): the first
 * kDriverScopeBudget callbacks of each driver call create their few handles
 * (the function, `undefined`, the result) in it, and they are freed when
 * the driver returns.  Later callbacks of the same call, and every callback
 * with no driver on the stack (a foreign GLib loop, Node's loop), get a
 * scope of their own, so that a long pass cannot grow one without bound.
 * Scopes stay LIFO: a nested driver has a budget of its own and returns
 * before its caller's next callback.
 */
class CoreCallScope {
public:
    explicit CoreCallScope(Addon *addon);
    ~CoreCallScope();
    /* False if a scope was needed and could not be opened: do not call. */
    bool ok() const { return ok_; }

    CoreCallScope(const CoreCallScope &) = delete;
    CoreCallScope &operator=(const CoreCallScope &) = delete;

private:
    napi_env env_;
    napi_handle_scope scope_ = nullptr;
    bool ok_ = true;
};

/* Callbacks per driver call that use the driver's own HandleScope. */
constexpr uint32_t kDriverScopeBudget = 256;

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
    void End();

    Addon *addon_;
    const char *name_;
    size_t mark_;
    uint32_t outerBudget_; /* the enclosing driver's CoreCallScope budget */
    bool finished_ = false;
};

} // namespace aiocontext

#endif /* AIOCONTEXT_CALLBACK_H */
