/*
 * context.cc — class Context (see context.h).
 *
 * Why Close() is safe from inside the context's own callbacks: the core's
 * aio_poll() and the GSource hold their own references on the core context,
 * so aio_context_unref() here only finalizes it once they return.  Until
 * then the core may go on walking its lists, but it finds nothing of ours:
 * every BH was qemu_bh_delete()d and every timer freed (neither is called
 * again), every fd handler unregistered (never called after that returns),
 * and pending oneshots were told not to run.  Nothing the C++ stack may
 * still use is freed here: BottomHalf wrappers stay alive until the core's
 * destroy notify, FdRecords until their running trampolines release them,
 * Timer wrappers and this Context until the GC, which never runs finalizers
 * synchronously inside a call from JS.
 *
 * SPDX-License-Identifier: MIT
 */
#include "context.h"

#include "addon.h"
#include "bottom-half.h"
#include "callback.h"
#include "errors.h"
#include "fast-method.h"
#include "event-notifier.h"
#include "fd-handler.h"
#include "file.h"
#include "guards.h"
#include "main-context.h"
#include "poll-driver.h"
#include "registry.h"
#include "timer.h"

#include <cerrno>

namespace aiocontext {

Napi::Function Context::Init(Napi::Env env, Addon *addon)
{
    return DefineClass(
        env, "Context",
        {
            InstanceMethod<&Context::JS_poll>("poll"),
            InstanceMethod<&Context::JS_notify>("notify"),
            InstanceMethod<&Context::JS_computeTimeout>("computeTimeout"),
            InstanceMethod<&Context::JS_bh>("bh"),
            InstanceMethod<&Context::JS_scheduleOneshot>("scheduleOneshot"),
            InstanceMethod<&Context::JS_setFdHandler>("setFdHandler"),
            InstanceMethod<&Context::JS_setEventNotifier>("setEventNotifier"),
            InstanceMethod<&Context::JS_hasFdHandler>("hasFdHandler"),
            InstanceMethod<&Context::JS_timer>("timer"),
            InstanceMethod<&Context::JS_disableExternal>("disableExternal"),
            InstanceMethod<&Context::JS_enableExternal>("enableExternal"),
            InstanceMethod<&Context::JS_setPollParams>("setPollParams"),
            InstanceMethod<&Context::JS_acquire>("acquire"),
            InstanceMethod<&Context::JS_release>("release"),
            InstanceMethod<&Context::JS_attach>("attach"),
            InstanceMethod<&Context::JS_detach>("detach"),
            InstanceMethod<&Context::JS_close>("close"),
            InstanceMethod<&Context::JS_share>("share"),
            InstanceMethod<&Context::JS_setObserve>("setObserve"),
            InstanceMethod<&Context::JS_takeEvents>("takeEvents"),
            InstanceMethod<&Context::JS_setThreadPoolParams>(
                "setThreadPoolParams"),
            InstanceAccessor<&Context::JS_threadPoolStats>("threadPoolStats"),
            InstanceMethod<&Context::JS_pending>("pending"),
            InstanceMethod<&Context::JS_flush>("flush"),
            InstanceMethod<&Context::JS_wouldBlockForever>("wouldBlockForever"),
            InstanceAccessor<&Context::JS_externalDisabled>("externalDisabled"),
            InstanceAccessor<&Context::JS_sourceId>("sourceId"),
            InstanceAccessor<&Context::JS_stats>("stats"),
            InstanceAccessor<&Context::JS_closed>("closed"),
            InstanceAccessor<&Context::JS_name>("name"),
            StaticValue("fastPoll",
                        NewFastFunction<Context, &Context::Poll>(
                            env, "fastPoll", addon->fastContexts.get())),
        },
        addon);
}

Context::Context(const Napi::CallbackInfo &info)
    : Napi::ObjectWrap<Context>(info),
      addon_(static_cast<Addon *>(info.Data())),
      link_(std::make_shared<Context *>(this))
{
    std::string name = info[0].IsString()
                           ? info[0].As<Napi::String>().Utf8Value()
                           : std::string("aio-context");
    int fdmon = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value()
                                   : AIO_FDMON_REQUEST_AUTO;
    GError *error = nullptr;

    if (fdmon < AIO_FDMON_REQUEST_AUTO || fdmon > AIO_FDMON_REQUEST_IO_URING) {
        ThrowTypeError(info.Env(), "argument 1 must be an fd monitor (0-3)");
        return;
    }
    core_ = aio_context_new_full(name.c_str(),
                                 static_cast<AioFdMonRequest>(fdmon), &error);
    if (!core_) {
        ThrowGError(addon_, info.Env(), error, "aio_context_new");
        g_clear_error(&error);
        return;
    }
    name_ = aio_context_get_name(core_);
    aio_context_set_leak_handler(core_, OnLeak, this);
    napi_type_tag_object(info.Env(), info.This(), &addon_->tags.context);
    addon_->contexts.insert(this);
    /* On failure the pending exception fails the constructor. */
    fast_.Define(info.Env(), info.This(), addon_->fastContexts, this);
}

Context::~Context()
{
    /* The finalizer: the same close path, without a warning (no JS here). */
    Close();
    fast_.Clear(); /* fastPoll() throws from now on */
    *link_ = nullptr;
}

std::string Context::Describe() const
{
    return "AioContext '" + name_ + "'";
}

bool Context::CheckUsable(napi_env env) const
{
    if (!core_) {
        ThrowState(addon_, env, AioState::Closed, Describe());
        return false;
    }
    if (!aio__in_home_thread(core_)) {
        ThrowState(addon_, env, AioState::WrongThread, Describe());
        return false;
    }
    return true;
}

/* Never expected (Close() deletes every BH before the last unref); kept so
 * that a leak is reported with the warning instead of a g_warning(). */
void Context::OnLeak(const char *name, void *opaque)
{
    if (opaque) {
        static_cast<Context *>(opaque)->leaks_.push_back(name);
    }
}

/* ---- the close path ------------------------------------------------------ */

std::vector<std::string> Context::Close()
{
    std::vector<std::string> leaked;

    if (!core_) {
        return leaked;
    }
    AioContext *core = core_;

    aio_context_set_observer(core, nullptr, nullptr);
    events_.clear();

    /* 1. BHs: their names first (the leak warning), then delete each; the
     *    core calls their destroy notifies when it finalizes. */
    std::list<BottomHalf *> bhs;
    bhs.swap(bhs_);
    for (BottomHalf *bh : bhs) {
        leaked.push_back(bh->name());
        bh->CloseFromContext();
    }
    BottomHalf::CancelOneshots(this);

    /* 2. Timers: freed now, never called again. */
    std::list<Timer *> timers;
    timers.swap(timers_);
    for (Timer *timer : timers) {
        timer->CloseFromContext();
    }

    /* 3. fd and notifier handlers: unregistered (removal never fails for a
     *    non-negative fd, even a closed one), then their records retired. */
    std::unordered_map<int, FdRecord *> fds;
    fds.swap(fds_);
    for (auto &entry : fds) {
        aio_set_fd_handler(core, entry.first, false, nullptr, nullptr, nullptr,
                           nullptr, nullptr);
        LoopGlueForgetFd(addon_, entry.first);
        RetireFdRecord(entry.second);
    }

    /* 3b. Files: each waits for its requests (only the environment's
     *     cleanup and a finalizer get here with any: JS close() refuses,
     *     see JS_close) and closes, dropping its context reference. */
    std::list<File *> files;
    files.swap(files_);
    for (File *file : files) {
        file->CloseFromContext();
    }

    /* 4. Detach (drops the self reference), release what acquire() took. */
    if (main_) {
        Detach();
    }
    for (; acquired_ > 0; acquired_--) {
        aio_context_release(core);
    }
    /* 4b. Share tokens: remote calls fail from now on; waits for the
     *     threads that hold the lock through RemoteContext (registry.h). */
    registry::ForgetContext(core);

    /* 5. Our reference; the core finalizes now, or when the aio_poll() or
     *    GSource dispatch we may be called from returns (a JS poll()'s pass
     *    holds none: it takes ours over, poll-driver.h). */
    aio_context_set_leak_handler(core, OnLeak, nullptr);
    core_ = nullptr;
    addon_->contexts.erase(this);
    leaked.insert(leaked.end(), leaks_.begin(), leaks_.end());
    leaks_.clear();
    if (!TakeContextRef(addon_, core)) {
        aio_context_unref(core);
    }
    return leaked;
}

void Context::Detach()
{
    /* Node's loop may watch our fds for main_: let go before close() can
     * close them (loop-glue.h). */
    LoopGlueSourceLeaving(addon_, main_);
    aio_context_detach(core_);
    g_main_context_unref(main_);
    main_ = nullptr;
    Unref(); /* attached contexts keep their wrapper alive: see attach() */
}

/* ---- fd records ---------------------------------------------------------- */

void Context::InstallRecord(FdRecord *record)
{
    auto it = fds_.find(record->fd);
    if (it == fds_.end()) {
        fds_.emplace(record->fd, record);
        return;
    }
    FdRecord *old = it->second;
    it->second = record;
    RetireFdRecord(old);
}

int Context::RemoveFd(int fd)
{
    int ret = aio_set_fd_handler(core_, fd, false, nullptr, nullptr, nullptr,
                                 nullptr, nullptr);
    if (ret < 0) {
        return ret;
    }
    /* Its owner may close the fd right after: Node's loop must let go now. */
    LoopGlueForgetFd(addon_, fd);
    auto it = fds_.find(fd);
    if (it != fds_.end()) {
        FdRecord *old = it->second;
        fds_.erase(it);
        RetireFdRecord(old);
    }
    WorkChanged();
    return 0;
}

/* ---- JS methods: the loop ------------------------------------------------ */

bool Context::WouldBlockForever() const
{
    return !shared_ && !aio_context_has_armed_work(core_);
}

/* aio_poll() as a driver (callback.h) that hands BHs back to JS
 * (poll-driver.h): returns the result, or a BH's function.  A blocking poll
 * that could never return throws instead (QEMU would sleep forever). */
Napi::Value Context::JS_poll(const Napi::CallbackInfo &info)
{
    return FastMethodOnPrototype<Context, &Context::Poll>(this, info);
}

napi_value Context::Poll(napi_env env, napi_value arg)
{
    bool blocking = false;

    if (!CheckUsable(env)) {
        return nullptr;
    }
    if (napi_get_value_bool(env, arg, &blocking) != napi_ok) {
        ThrowTypeError(env, "argument 0 must be a boolean");
        return nullptr;
    }
    if (blocking && WouldBlockForever()) {
        ThrowState(addon_, env, AioState::WouldBlockForever, Describe());
        return nullptr;
    }
    /* While the environment stops, never sleep (Addon::stopping). */
    return BeginPoll(env, addon_, core_, blocking && !addon_->stopping);
}

/* aio_pending(): would a non-blocking poll run something now? */
Napi::Value Context::JS_pending(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    return Napi::Boolean::New(info.Env(), aio_pending(core_));
}

/* aio_flush() as a driver: polls until no BH is scheduled and no flush hook
 * says true.  It cannot wait with nothing armed: a flush hook belongs to a
 * registered fd handler, and a scheduled BH runs without waiting. */
Napi::Value Context::JS_flush(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    DriverScope driver(addon_, "flush");
    aio_flush(core_);
    return driver.Finish(info.Env(), info.Env().Undefined());
}

Napi::Value Context::JS_wouldBlockForever(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    return Napi::Boolean::New(info.Env(), WouldBlockForever());
}

/* Any thread in the core; no home-thread check here. */
Napi::Value Context::JS_notify(const Napi::CallbackInfo &info)
{
    if (!core_) {
        ThrowState(addon_, info.Env(), AioState::Closed, Describe());
        return Napi::Value();
    }
    aio_notify(core_);
    return Napi::Value();
}

Napi::Value Context::JS_computeTimeout(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    return Napi::Number::New(info.Env(),
                             static_cast<double>(aio_compute_timeout(core_)));
}

/* ---- JS methods: bottom halves and timers -------------------------------- */

/* bh(cb, name) */
Napi::Value Context::JS_bh(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    REQUIRE_ARG_FUNCTION(0, cb);
    REQUIRE_ARG_STRING(1, name);
    return BottomHalf::New(this, cb, name);
}

Napi::Value Context::JS_scheduleOneshot(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    REQUIRE_ARG_FUNCTION(0, cb);
    BottomHalf::ScheduleOneshot(this, cb);
    WorkChanged();
    return Napi::Value();
}

/* timer(clock, scale, cb, external) */
Napi::Value Context::JS_timer(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    REQUIRE_ARG_INT32(0, clock);
    REQUIRE_ARG_INT32(1, scale);
    REQUIRE_ARG_FUNCTION(2, cb);
    REQUIRE_ARG_BOOLEAN(3, external);
    if (clock < 0 || clock >= QEMU_CLOCK_MAX) {
        AIO_ARG_FAIL(0, "a clock type (0-3)");
    }
    if (scale <= 0) {
        AIO_ARG_FAIL(1, "a positive scale");
    }
    return Timer::New(this, static_cast<QEMUClockType>(clock), scale,
                      external ? QEMU_TIMER_ATTR_EXTERNAL : 0, cb);
}

/* ---- JS methods: fd handlers --------------------------------------------- */

/* setFdHandler(fd, read, write, poll, pollBegin, pollEnd, external, flush?) */
Napi::Value Context::JS_setFdHandler(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    REQUIRE_ARG_INT32(0, fd);
    REQUIRE_ARG_OPTIONAL_FUNCTION(1, read);
    REQUIRE_ARG_OPTIONAL_FUNCTION(2, write);
    REQUIRE_ARG_OPTIONAL_FUNCTION(3, poll);
    REQUIRE_ARG_OPTIONAL_FUNCTION(4, pollBegin);
    REQUIRE_ARG_OPTIONAL_FUNCTION(5, pollEnd);
    REQUIRE_ARG_BOOLEAN(6, external);
    REQUIRE_ARG_OPTIONAL_FUNCTION(7, flush);

    if (read.IsEmpty() && write.IsEmpty() && poll.IsEmpty()) {
        int ret = RemoveFd(fd);
        if (ret < 0) {
            ThrowErrno(addon_, info.Env(), -ret, "aio_set_fd_handler");
        }
        return Napi::Value();
    }
    FdRecord *record = NewFdRecord(addon_, fd, read, write, poll, pollBegin,
                                   pollEnd);
    if (!flush.IsEmpty()) {
        record->flush = Napi::Persistent(flush);
    }
    int ret = RegisterFdRecord(core_, record, external);
    if (ret < 0) {
        RetireFdRecord(record);
        ThrowErrno(addon_, info.Env(), -ret, "aio_set_fd_handler");
        return Napi::Value();
    }
    InstallRecord(record);
    WorkChanged();
    return Napi::Value();
}

/* setEventNotifier(native, arg, read, poll, pollBegin, pollEnd, external):
 * @native is the addon's EventNotifier, @arg the object handlers receive. */
Napi::Value Context::JS_setEventNotifier(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    EventNotifier *notifier = EventNotifier::FromValue(addon_, info.Env(),
                                                       info[0]);
    REQUIRE(notifier);
    REQUIRE(notifier->CheckOpen(info.Env()));
    REQUIRE_ARG_OBJECT(1, arg);
    REQUIRE_ARG_OPTIONAL_FUNCTION(2, read);
    REQUIRE_ARG_OPTIONAL_FUNCTION(3, poll);
    REQUIRE_ARG_OPTIONAL_FUNCTION(4, pollBegin);
    REQUIRE_ARG_OPTIONAL_FUNCTION(5, pollEnd);
    REQUIRE_ARG_BOOLEAN(6, external);

    int fd = event_notifier_get_fd(notifier->core());
    if (read.IsEmpty() && poll.IsEmpty()) {
        int ret = RemoveFd(fd);
        if (ret < 0) {
            ThrowErrno(addon_, info.Env(), -ret, "aio_set_event_notifier");
        }
        return Napi::Value();
    }
    FdRecord *record = NewFdRecord(addon_, fd, read, Napi::Function(), poll,
                                   pollBegin, pollEnd);
    AttachNotifier(record, notifier, info[0].As<Napi::Object>(), arg);
    int ret = RegisterFdRecord(core_, record, external);
    if (ret < 0) {
        RetireFdRecord(record);
        ThrowErrno(addon_, info.Env(), -ret, "aio_set_event_notifier");
        return Napi::Value();
    }
    InstallRecord(record);
    WorkChanged();
    return Napi::Value();
}

/* hasFdHandler(fd, fn?): whether @fd has a handler (fd or notifier); with
 * @fn, whether its read or write function is @fn (the awaitables in
 * src/awaitables.ts check that the handler they remove is still theirs). */
Napi::Value Context::JS_hasFdHandler(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    REQUIRE_ARG_INT32(0, fd);
    auto it = fds_.find(fd);
    bool found = it != fds_.end();
    if (found && info[1].IsFunction()) {
        FdRecord *record = it->second;
        found = (!record->read.IsEmpty() &&
                 record->read.Value().StrictEquals(info[1])) ||
                (!record->write.IsEmpty() &&
                 record->write.Value().StrictEquals(info[1]));
    }
    return Napi::Boolean::New(info.Env(), found);
}

Napi::Value Context::JS_disableExternal(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    aio_disable_external(core_);
    return Napi::Value();
}

Napi::Value Context::JS_enableExternal(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    if (!aio_enable_external(core_)) {
        ThrowState(addon_, info.Env(), AioState::NotDisabled, Describe());
    }
    return Napi::Value();
}

Napi::Value Context::JS_externalDisabled(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    return Napi::Boolean::New(info.Env(), aio_external_disabled(core_));
}

/* setPollParams(maxNs, grow, shrink) */
Napi::Value Context::JS_setPollParams(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    REQUIRE_ARG_INT64(0, maxNs);
    REQUIRE_ARG_INT64(1, grow);
    REQUIRE_ARG_INT64(2, shrink);
    if (maxNs < 0 || grow < 0 || shrink < 0) {
        AIO_ARG_FAIL(0, "non-negative");
    }
    aio_context_set_poll_params(core_, maxNs, grow, shrink);
    return Napi::Value();
}

/* ---- JS methods: lock, GSource, introspection, close --------------------- */

Napi::Value Context::JS_acquire(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    aio_context_acquire(core_);
    acquired_++;
    return Napi::Value();
}

Napi::Value Context::JS_release(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    if (acquired_ == 0) {
        ThrowState(addon_, info.Env(), AioState::NotAcquired, Describe());
        return Napi::Value();
    }
    acquired_--;
    aio_context_release(core_);
    return Napi::Value();
}

/* attach(main, priority): returns the source id.  While attached the
 * context keeps its own wrapper alive (a GLib loop may run it with no JS
 * reference left) and holds a reference on the GMainContext. */
Napi::Value Context::JS_attach(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    GMainContext *main = MainContext::FromValue(addon_, info.Env(), info[0]);
    REQUIRE(main);
    REQUIRE_ARG_INT32(1, priority);
    if (main_) {
        ThrowState(addon_, info.Env(), AioState::Attached, Describe());
        return Napi::Value();
    }
    int id = aio_context_attach(core_, main, priority);
    if (id == -EBUSY) {
        ThrowState(addon_, info.Env(), AioState::Attached, Describe());
        return Napi::Value();
    }
    if (id < 0) {
        ThrowErrno(addon_, info.Env(), -id, "g_source_attach");
        return Napi::Value();
    }
    main_ = g_main_context_ref(main);
    Ref();
    return Napi::Number::New(info.Env(), id);
}

Napi::Value Context::JS_detach(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    if (main_) {
        Detach();
    }
    return Napi::Value();
}

Napi::Value Context::JS_sourceId(const Napi::CallbackInfo &info)
{
    guint id = core_ && main_ ? aio_context_source_id(core_) : 0;
    if (id == 0) {
        return info.Env().Null();
    }
    return Napi::Number::New(info.Env(), id);
}

/* Read live on every access. */
Napi::Value Context::JS_stats(const Napi::CallbackInfo &info)
{
    REQUIRE(CheckUsable(info.Env()));
    Napi::Env env = info.Env();
    AioContextStats s;
    aio_context_get_stats(core_, &s);

    Napi::Object stats = Napi::Object::New(env);
    stats.Set("notifyMe", Napi::Number::New(env, s.notify_me));
    stats.Set("notified", Napi::Boolean::New(env, s.notified));
    stats.Set("pollNs", Napi::Number::New(env, static_cast<double>(s.poll_ns)));
    stats.Set("pollStarted", Napi::Boolean::New(env, s.poll_started));
    stats.Set("handlers", Napi::Number::New(env, s.handlers));
    stats.Set("bhs", Napi::Number::New(env, s.bhs));
    stats.Set("timers", Napi::Number::New(env, s.timers));
    stats.Set("fdmon", Napi::String::New(env, aio_fdmon_name(s.fdmon)));
    if (s.fdmon_fallback_reason) {
        stats.Set("fdmonFallbackReason",
                  Napi::String::New(env, s.fdmon_fallback_reason));
    } else {
        stats.Set("fdmonFallbackReason", env.Null());
    }
    const AioContextCounters &c = s.counters;
    auto num = [&](uint64_t v) {
        return Napi::Number::New(env, static_cast<double>(v));
    };
    Napi::Object dispatches = Napi::Object::New(env);
    dispatches.Set("bh", num(c.bh_dispatches));
    dispatches.Set("fd", num(c.fd_dispatches));
    dispatches.Set("timer", num(c.timer_dispatches));
    stats.Set("dispatches", dispatches);
    stats.Set("blockingWaits", num(c.blocking_waits));
    stats.Set("notifyWakeups", num(c.notify_wakeups));
    stats.Set("pollHits", num(c.poll_hits));
    stats.Set("pollMisses", num(c.poll_misses));
    stats.Set("pollTimeNs", num(c.poll_ns));
    return stats;
}

/* close(): returns the names of the BHs that were never deleted (the TS
 * layer turns them into one AioLeakWarning).  Idempotent. */
Napi::Value Context::JS_close(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    if (core_ && !aio_context_in_home_thread(core_)) {
        ThrowState(addon_, env, AioState::WrongThread, Describe());
        return Napi::Value();
    }
    if (core_ && File::InFlight(this) > 0) {
        ThrowAioError(addon_, env, "ERR_AIO_BUSY",
                      Describe() + " has file requests in flight: wait for "
                                   "their callbacks before close()");
        return Napi::Value();
    }
    std::vector<std::string> leaked = Close();
    Napi::Array names = Napi::Array::New(env, leaked.size());
    for (size_t i = 0; i < leaked.size(); i++) {
        names.Set(static_cast<uint32_t>(i), Napi::String::New(env, leaked[i]));
    }
    return names;
}

Napi::Value Context::JS_closed(const Napi::CallbackInfo &info)
{
    return Napi::Boolean::New(info.Env(), core_ == nullptr);
}

Napi::Value Context::JS_name(const Napi::CallbackInfo &info)
{
    return Napi::String::New(info.Env(), name_);
}

} // namespace aiocontext
