/*
 * context.h — class Context: the native side of AioContext.
 *
 * Ownership (one owner per object):
 *  - Context owns the core AioContext (one reference, dropped by Close()).
 *  - Context keeps every BottomHalf and Timer it created alive (a strong
 *    reference on each wrapper) until it is deleted or the context closes:
 *    as in QEMU they live until deleted, so the GC of a user's handle never
 *    frees what the core still calls.  Children point back through link()
 *    (a plain pointer behind a shared cell, no JS reference, so no cycle).
 *  - fd and event-notifier handlers live in refcounted FdRecords owned by the
 *    fds_ map (fd-handler.h).
 *  - While attached to a GMainContext the context holds a strong reference
 *    on its own wrapper, so an attached context dropped by JS keeps running,
 *    and a reference on the GMainContext.
 *
 * Close() is the single close path: JS close(), the finalizer and the
 * environment cleanup hook all run it; it is idempotent, calls no JS, and is
 * safe from inside the context's own callbacks (the core's aio_poll() and
 * GSource dispatch hold their own reference on the core context, and
 * nothing the C++ stack may still use is freed: see context.cc).
 *
 * Home thread only, except JS_notify.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_CONTEXT_H
#define AIOCONTEXT_CONTEXT_H

#include "fast-method.h"

#include <napi.h>

extern "C" {
#include "aio.h"
}

#include "loop-glue.h"

#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace aiocontext {

struct Addon;
struct FdRecord;
struct OneshotRecord;
class BottomHalf;
class File;
class Timer;

class Context : public Napi::ObjectWrap<Context> {
public:
    static Napi::Function Init(Napi::Env env, Addon *addon);

    /* new Context(name: string, fdmon: AioFdMonRequest) */
    explicit Context(const Napi::CallbackInfo &info);
    ~Context() override;

    /* A weak link to this Context for its children: it reads nullptr once
     * the Context is destroyed, so a child that outlives it (a deleted BH's
     * handle, say) can still tell that its context is gone. */
    using Link = std::shared_ptr<Context *>;
    const Link &link() const { return link_; }

    AioContext *core() const { return core_; }
    Addon *addon() const { return addon_; }
    /* Another thread may now reach this context (share() of it or of one
     * of its BHs). */
    void MarkShared() { shared_ = true; }
    /* Whether a blocking aio_poll() could never return: nothing armed
     * (aio_context_has_armed_work) and never shared.  A stale notify()
     * would end one wait, but not the next: it does not count. */
    bool WouldBlockForever() const;
    bool IsOpen() const { return core_ != nullptr; }

    /* "AioContext 'name'", the subject of error messages. */
    std::string Describe() const;

    /* Throws ERR_AIO_CLOSED or ERR_AIO_WRONG_THREAD and returns false
     * unless the context is open and this is its home thread. */
    bool CheckUsable(napi_env env) const;

    /* The open Context behind @link, or nullptr if it closed or is gone. */
    static Context *Open(const Link &link)
    {
        Context *ctx = link ? *link : nullptr;
        return ctx && ctx->IsOpen() ? ctx : nullptr;
    }

    /* Node's loop glue while attachToNodeLoop() drives this context, else
     * nullptr; set and cleared by the glue (loop-glue.h). */
    void SetLoopGlue(LoopGlue *glue) { loopGlue_ = glue; }

    /* Liveness: every JS method that arms or removes work (a BH scheduled
     * or cancelled, a timer armed or disarmed, a handler set or removed)
     * calls this after the core call, so that Node's loop re-decides at
     * once whether this context keeps the process alive
     * (aio_context_has_armed_work()).  Nothing when not attached to it. */
    void WorkChanged()
    {
        if (loopGlue_) {
            LoopGlueArmedWork(loopGlue_);
        }
    }

    /* WorkChanged() on the open Context behind @link (BHs and timers). */
    static void WorkChanged(const Link &link)
    {
        if (Context *ctx = Open(link)) {
            ctx->WorkChanged();
        }
    }

    /* The close path (see above).  Returns: the names of the BHs that were
     * never deleted, in creation order (empty on the second call). */
    std::vector<std::string> Close();

private:
    friend class BottomHalf; /* bhs_, oneshots_ */
    friend class Timer;      /* timers_ */
    friend class File;       /* files_ */

    Napi::Value JS_poll(const Napi::CallbackInfo &info);
    napi_value Poll(napi_env env, napi_value blocking); /* FastBody */
    Napi::Value JS_notify(const Napi::CallbackInfo &info);
    Napi::Value JS_computeTimeout(const Napi::CallbackInfo &info);
    Napi::Value JS_bh(const Napi::CallbackInfo &info);
    Napi::Value JS_scheduleOneshot(const Napi::CallbackInfo &info);
    Napi::Value JS_setFdHandler(const Napi::CallbackInfo &info);
    Napi::Value JS_setEventNotifier(const Napi::CallbackInfo &info);
    Napi::Value JS_hasFdHandler(const Napi::CallbackInfo &info);
    Napi::Value JS_timer(const Napi::CallbackInfo &info);
    Napi::Value JS_disableExternal(const Napi::CallbackInfo &info);
    Napi::Value JS_enableExternal(const Napi::CallbackInfo &info);
    Napi::Value JS_externalDisabled(const Napi::CallbackInfo &info);
    Napi::Value JS_setPollParams(const Napi::CallbackInfo &info);
    Napi::Value JS_acquire(const Napi::CallbackInfo &info);
    Napi::Value JS_release(const Napi::CallbackInfo &info);
    Napi::Value JS_attach(const Napi::CallbackInfo &info);
    Napi::Value JS_detach(const Napi::CallbackInfo &info);
    Napi::Value JS_sourceId(const Napi::CallbackInfo &info);
    Napi::Value JS_stats(const Napi::CallbackInfo &info);
    Napi::Value JS_close(const Napi::CallbackInfo &info);
    Napi::Value JS_closed(const Napi::CallbackInfo &info);
    Napi::Value JS_name(const Napi::CallbackInfo &info);
    Napi::Value JS_share(const Napi::CallbackInfo &info);      /* shared.cc */
    Napi::Value JS_setObserve(const Napi::CallbackInfo &info); /* observer.cc */
    Napi::Value JS_takeEvents(const Napi::CallbackInfo &info); /* observer.cc */
    static void OnObserve(AioContext *core, AioEventKind kind, const char *name,
                          int64_t arg, int64_t start_ns, int64_t end_ns,
                          void *opaque); /* observer.cc */
    Napi::Value JS_setThreadPoolParams(
        const Napi::CallbackInfo &info); /* thread-pool.cc */
    Napi::Value JS_threadPoolStats(
        const Napi::CallbackInfo &info); /* thread-pool.cc */
    Napi::Value JS_pending(const Napi::CallbackInfo &info);
    Napi::Value JS_flush(const Napi::CallbackInfo &info);
    Napi::Value JS_wouldBlockForever(const Napi::CallbackInfo &info);

    /* Puts @record in fds_ for its fd, retiring the record it replaces. */
    void InstallRecord(FdRecord *record);
    /* Unregisters @fd from the core and retires its record, if any.
     * Returns: 0 or a negative errno from the core. */
    int RemoveFd(int fd);
    void Detach();

    static void OnLeak(const char *name, void *opaque);

    Addon *addon_;
    AioContext *core_ = nullptr;
    std::string name_;
    Link link_;
    FastHandle<Context> fast_; /* for fastPoll() (fast-method.h) */

    std::list<BottomHalf *> bhs_;       /* undeleted BHs, creation order */
    std::list<Timer *> timers_;         /* undeleted timers */
    std::list<File *> files_;           /* open files (file.h) */
    OneshotRecord *oneshots_ = nullptr; /* oneshots not yet run (intrusive) */
    std::unordered_map<int, FdRecord *> fds_;

    GMainContext *main_ = nullptr; /* referenced while attached */
    LoopGlue *loopGlue_ = nullptr; /* while Node's loop drives us */
    unsigned acquired_ = 0;        /* aio_context_acquire() depth */
    /* share() was called on it or one of its BHs: another thread may wake
     * it, so a blocking poll with nothing armed is not a hang. */
    bool shared_ = false;
    std::vector<std::string> leaks_; /* reported by the core (defensive) */

    /* observer.cc: callbacks and passes timed by the core while JS
     * observes (diagnostics_channel subscribers, a trace), oldest first,
     * until takeEvents(). */
    struct ObservedEvent {
        AioEventKind kind;
        int64_t arg;
        int64_t startNs;
        int64_t endNs;
        std::string name;
    };
    std::vector<ObservedEvent> events_;
    uint64_t eventsDropped_ = 0;
};

} // namespace aiocontext

#endif /* AIOCONTEXT_CONTEXT_H */
