/*
 * shared.cc — share tokens and remote handles in JS, over the core's share
 * registry (registry.h); these classes only check arguments, keep a
 * reference on the registry entry and turn negative errno values into
 * exceptions.
 *
 *   ctx.share() / bh.share()      home thread: register, return the id
 *   new RemoteContext(id)         any thread: notify, acquire, release
 *   new RemoteBottomHalf(id)      any thread: schedule, cancel
 *
 * A remote handle holds the registry entry (never the core object), so it
 * stays safe to call after the object is deleted or closed: it then throws
 * ERR_AIO_CLOSED.  The TS layer (src/shared.ts) builds and checks the
 * tokens; here the id arrives as a number and is checked again.
 *
 * SPDX-License-Identifier: MIT
 */
#include "addon.h"
#include "bottom-half.h"
#include "context.h"
#include "errors.h"
#include "guards.h"
#include "modules.h"
#include "registry.h"

#include <cerrno>
#include <cmath>
#include <set>

namespace aiocontext {

/* Per-environment state of this file: the contexts whose lock this thread
 * took through RemoteContext.acquire(), released by the cleanup hook when
 * the environment (a worker, say) goes away holding them, so that the
 * home thread's close() waiting for them does not wait forever. */
struct RemoteEnv {
    Addon *addon;
    std::set<registry::ContextRef> held;
};

/* A token id: a positive integer below 2^53, else a TypeError (-1). */
static int64_t TokenId(const Napi::CallbackInfo &info)
{
    if (!info[0].IsNumber()) {
        ThrowTypeError(info.Env(), "argument 0 must be a share token id");
        return -1;
    }
    double id = info[0].As<Napi::Number>().DoubleValue();
    if (!(id >= 1 && id <= 9007199254740991.0) || std::floor(id) != id) {
        ThrowTypeError(info.Env(), "argument 0 must be a share token id");
        return -1;
    }
    return static_cast<int64_t>(id);
}

/* Throws for a negative errno from the registry.  @subject names the
 * object ("AioContext 'disk'"). */
static void ThrowRemote(Addon *addon, napi_env env, int err,
                        const std::string &subject, const char *kind)
{
    switch (err) {
    case -ENOENT: ThrowState(addon, env, AioState::Closed, subject); break;
    case -EINVAL:
        ThrowTypeError(env, std::string("the token does not name ") + kind);
        break;
    case -EPERM: ThrowState(addon, env, AioState::NotAcquired, subject); break;
    default: ThrowErrno(addon, env, -err, "aiocontext registry"); break;
    }
}

/* ---- ctx.share(), bh.share() ------------------------------------------------ */

Napi::Value Context::JS_share(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    uint64_t id = registry::ShareContext(core_, Describe());
    MarkShared();
    return Napi::Number::New(info.Env(), static_cast<double>(id));
}

Napi::Value BottomHalf::JS_share(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    uint64_t id = registry::ShareBh(bh_, Describe());
    if (*owner_) {
        (*owner_)->MarkShared();
    }
    return Napi::Number::New(info.Env(), static_cast<double>(id));
}

/* ---- RemoteContext ---------------------------------------------------------- */

class RemoteContext : public Napi::ObjectWrap<RemoteContext> {
public:
    static Napi::Function Init(Napi::Env env, RemoteEnv *state)
    {
        return DefineClass(
            env, "RemoteContext",
            {
                InstanceMethod<&RemoteContext::JS_notify>("notify"),
                InstanceMethod<&RemoteContext::JS_acquire>("acquire"),
                InstanceMethod<&RemoteContext::JS_release>("release"),
            },
            state);
    }

    /* new RemoteContext(id): throws ERR_AIO_CLOSED for an id that is not
     * (or no longer) shared, a TypeError for the id of a BH. */
    explicit RemoteContext(const Napi::CallbackInfo &info)
        : Napi::ObjectWrap<RemoteContext>(info),
          state_(static_cast<RemoteEnv *>(info.Data()))
    {
        int64_t id = TokenId(info);
        if (id < 0) {
            return;
        }
        subject_ = "Shared AioContext #" + std::to_string(id);
        int ret = registry::LookupContext(static_cast<uint64_t>(id), &entry_);
        if (ret < 0) {
            ThrowRemote(state_->addon, info.Env(), ret, subject_,
                        "an AioContext");
            return;
        }
        subject_ = registry::Name(entry_);
    }

private:
    bool Check(napi_env env)
    {
        if (!entry_) { /* only if the constructor threw */
            ThrowState(state_->addon, env, AioState::Closed, subject_);
            return false;
        }
        return true;
    }

    Napi::Value Result(napi_env env, int ret)
    {
        if (ret < 0) {
            ThrowRemote(state_->addon, env, ret, subject_, "an AioContext");
        }
        return Napi::Value();
    }

    Napi::Value JS_notify(const Napi::CallbackInfo &info)
    {
        REQUIRE(Check(info.Env()));
        return Result(info.Env(), registry::Notify(entry_));
    }

    /* Blocks this thread until it holds the context's lock. */
    Napi::Value JS_acquire(const Napi::CallbackInfo &info)
    {
        REQUIRE(Check(info.Env()));
        int ret = registry::Acquire(entry_);
        if (ret == 0) {
            state_->held.insert(entry_);
        }
        return Result(info.Env(), ret);
    }

    Napi::Value JS_release(const Napi::CallbackInfo &info)
    {
        REQUIRE(Check(info.Env()));
        return Result(info.Env(), registry::Release(entry_));
    }

    RemoteEnv *state_;
    registry::ContextRef entry_;
    std::string subject_;
};

/* ---- RemoteBottomHalf ------------------------------------------------------- */

class RemoteBottomHalf : public Napi::ObjectWrap<RemoteBottomHalf> {
public:
    static Napi::Function Init(Napi::Env env, RemoteEnv *state)
    {
        return DefineClass(
            env, "RemoteBottomHalf",
            {
                InstanceMethod<&RemoteBottomHalf::JS_schedule>("schedule"),
                InstanceMethod<&RemoteBottomHalf::JS_cancel>("cancel"),
            },
            state);
    }

    /* new RemoteBottomHalf(id): as RemoteContext. */
    explicit RemoteBottomHalf(const Napi::CallbackInfo &info)
        : Napi::ObjectWrap<RemoteBottomHalf>(info),
          state_(static_cast<RemoteEnv *>(info.Data()))
    {
        int64_t id = TokenId(info);
        if (id < 0) {
            return;
        }
        subject_ = "Shared BottomHalf #" + std::to_string(id);
        int ret = registry::LookupBh(static_cast<uint64_t>(id), &entry_);
        if (ret < 0) {
            ThrowRemote(state_->addon, info.Env(), ret, subject_,
                        "a BottomHalf");
            return;
        }
        subject_ = registry::Name(entry_);
    }

private:
    Napi::Value Run(const Napi::CallbackInfo &info,
                    int (*op)(const registry::BhRef &))
    {
        int ret = entry_ ? op(entry_) : -ENOENT;
        if (ret < 0) {
            ThrowRemote(state_->addon, info.Env(), ret, subject_,
                        "a BottomHalf");
        }
        return Napi::Value();
    }

    Napi::Value JS_schedule(const Napi::CallbackInfo &info)
    {
        return Run(info, registry::Schedule);
    }

    Napi::Value JS_cancel(const Napi::CallbackInfo &info)
    {
        return Run(info, registry::Cancel);
    }

    RemoteEnv *state_;
    registry::BhRef entry_;
    std::string subject_;
};

/* ---- init and cleanup ------------------------------------------------------- */

/* Environment teardown: give back what this thread still holds, then free
 * the state.  No JS runs here. */
static void CleanupRemoteEnv(void *arg)
{
    auto *state = static_cast<RemoteEnv *>(arg);
    for (const registry::ContextRef &ref : state->held) {
        registry::ReleaseAll(ref);
    }
    delete state;
}

void InitShared(Napi::Env env, Napi::Object exports, Addon *addon)
{
    auto *state = new RemoteEnv{addon, {}};
    napi_add_env_cleanup_hook(env, CleanupRemoteEnv, state);
    exports.Set("RemoteContext", RemoteContext::Init(env, state));
    exports.Set("RemoteBottomHalf", RemoteBottomHalf::Init(env, state));
}

} // namespace aiocontext
