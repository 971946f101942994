/*
 * node-loop.cc — class NodeLoop and its libuv glue (see node-loop.h).
 *
 * One libuv iteration, as Node runs it (libuv 1.46):
 *   prepare  OnPrepare: GLib prepare + query; the fds to watch become
 *            uv_poll_t handles, the GLib timeout a one-shot uv_timer_t
 *   poll     libuv sleeps until an fd, our timer or anything of Node's
 *            wakes it; OnPoll records what each of our fds showed
 *   check    OnCheck: GLib check + dispatch: the callbacks run here
 *   timers   OnTimer does nothing: the timer only ends the poll
 * so the loop sleeps exactly as long as GLib would, and with nothing
 * scheduled it does not wake at all.
 *
 * Why a prepare/check pair and not a uv_poll_t on a single epoll fd that
 * GLib would fill: a GMainContext has no such fd (it polls a list of
 * GPollFDs), and its prepare/check must bracket every wait anyway for
 * timeouts and ready sources.  Why one uv_poll_t per fd and not one per
 * GPollFD: libuv allows one poll handle per fd per loop, so duplicates (the
 * same fd asked for by two sources) are merged and the bridge fans the
 * result out to each of them.
 *
 * SPDX-License-Identifier: MIT
 */
#include "node-loop.h"

#include "addon.h"
#include "context.h"
#include "errors.h"
#include "file.h"
#include "main-context.h"

#include <uv.h>

#include <unordered_map>
#include <vector>

namespace aiocontext {

namespace {

/* One watched fd.  The uv handle comes first so that its address is the
 * Watch's; it lives until its close callback. */
struct Watch {
    uv_poll_t handle;
    LoopGlue *glue = nullptr;
    int fd = -1;
    int wanted = 0;          /* G_IO_* asked for in round `round` (merged) */
    int active = 0;          /* UV_* the handle is started with; 0: stopped */
    uint64_t round = 0;      /* the watch_fds() round that last asked */
    bool watchable = false;  /* uv_poll_init() accepted the fd */
};

} // namespace

/* The libuv side of one attachment.  Owns itself: freed by the last close
 * callback of its handles (Finish), never before.  Home thread only. */
struct LoopGlue {
    uv_loop_t *loop = nullptr;
    uv_prepare_t prepare;            /* before_poll; also the keep-alive */
    uv_check_t check;                /* after_poll */
    uv_timer_t timer;                /* GLib's timeout; stopped for -1 */
    AioLoopBridge *bridge = nullptr; /* freed once closing and not busy */
    GMainContext *main = nullptr;    /* the bridge's; in addon->nodeLoopMains
                                      * until closing */
    Addon *addon = nullptr;

    Context::Link context;           /* weak; empty for a MainContext */
    bool forContext = false;
    NodeLoop *owner = nullptr;       /* the wrapper, until close */
    napi_async_cleanup_hook_handle hook = nullptr;

    std::unordered_map<int, Watch *> watches;  /* by fd */
    std::vector<GPollFD> unwatchable;  /* fds libuv refused, this round */
    uint64_t round = 0;              /* watch_fds() calls */
    unsigned busy = 0;               /* bridge calls on the C stack */
    unsigned open = 0;               /* handles not yet closed */
    bool closing = false;
    bool refd = true;                /* handle.ref() / unref() */
    bool readyNow = false;           /* an unwatchable fd is ready: no sleep */
    NodeLoopStats stats;
};

/* ---- events --------------------------------------------------------------- */

static int ToUvEvents(int gevents)
{
    int events = 0;

    if (gevents & G_IO_IN) {
        events |= UV_READABLE;
    }
    if (gevents & G_IO_OUT) {
        events |= UV_WRITABLE;
    }
    if (gevents & G_IO_PRI) {
        events |= UV_PRIORITIZED;
    }
    /* Only G_IO_HUP/G_IO_ERR asked for: RDHUP is the nearest libuv has
     * (epoll reports errors whatever is asked). */
    return events ? events : UV_DISCONNECT;
}

static int ToGEvents(int uvevents)
{
    int revents = 0;

    if (uvevents & UV_READABLE) {
        revents |= G_IO_IN;
    }
    if (uvevents & UV_WRITABLE) {
        revents |= G_IO_OUT;
    }
    if (uvevents & UV_PRIORITIZED) {
        revents |= G_IO_PRI;
    }
    if (uvevents & UV_DISCONNECT) {
        revents |= G_IO_HUP;
    }
    return revents;
}

/* ---- liveness ------------------------------------------------------------- */

/* Whether the context has something that will run without outside help:
 * fd handlers (as a socket keeps Node alive), a pending timer, a file
 * request in flight or a scheduled BH (aio_compute_timeout() is then not -1).  A MainContext's
 * sources are opaque: always "armed". */
static bool HasArmedWork(LoopGlue *g)
{
    if (!g->forContext) {
        return true;
    }
    Context *ctx = Context::Open(g->context);
    if (!ctx) {
        return false;
    }
    AioContextStats s;
    aio_context_get_stats(ctx->core(), &s);
    return s.handlers > 0 || aio_compute_timeout(ctx->core()) >= 0 ||
           File::InFlight(ctx) > 0;   /* block I/O requests (file.h) */
}

/* Refs the keep-alive (the prepare handle) exactly while the JS handle is
 * ref'd and there is armed work.  Cheap; called after every bridge call and
 * from touch(). */
static void UpdateKeepAlive(LoopGlue *g)
{
    bool want = !g->closing && g->refd && HasArmedWork(g);

    if (want == g->stats.keepingAlive) {
        return;
    }
    g->stats.keepingAlive = want;
    if (want) {
        uv_ref(reinterpret_cast<uv_handle_t *>(&g->prepare));
    } else {
        uv_unref(reinterpret_cast<uv_handle_t *>(&g->prepare));
    }
}

/* ---- closing -------------------------------------------------------------- */

static void FreeBridge(LoopGlue *g)
{
    if (g->bridge) {
        aio_loop_bridge_free(g->bridge);   /* releases the GMainContext */
        g->bridge = nullptr;
    }
}

/* The last handle is closed: nothing of libuv points at @g any more. */
static void Finish(LoopGlue *g)
{
    FreeBridge(g);
    if (g->hook) {
        /* Tells Node, if it is tearing the environment down, that we are
         * done; otherwise just unregisters the hook. */
        napi_remove_async_cleanup_hook(g->hook);
    }
    delete g;
}

static void HandleClosed(LoopGlue *g)
{
    if (--g->open == 0 && g->closing) {
        Finish(g);
    }
}

static void OnHandleClosed(uv_handle_t *handle)
{
    HandleClosed(static_cast<LoopGlue *>(handle->data));
}

static void OnWatchClosed(uv_handle_t *handle)
{
    auto *w = static_cast<Watch *>(handle->data);
    LoopGlue *g = w->glue;

    delete w;
    HandleClosed(g);
}

static void DropWatch(Watch *w)
{
    if (w->watchable) {
        uv_close(reinterpret_cast<uv_handle_t *>(&w->handle), OnWatchClosed);
    } else {
        delete w;
    }
}

/* Stops everything now; memory goes with the last close callback.  Safe
 * from inside a callback the bridge dispatched (the bridge is then freed
 * when that bridge call returns: see AfterBridgeCall).  Idempotent. */
static void CloseGlue(LoopGlue *g)
{
    if (g->closing) {
        return;
    }
    g->closing = true;
    /* Free for a new attachment now: it first runs at the next prepare,
     * after our bridge call (if one is on the stack) has returned. */
    g->addon->nodeLoopMains.erase(g->main);
    g->stats.keepingAlive = false;
    g->stats.fds = 0;
    if (g->owner) {
        g->owner->Forget(g->stats);
        g->owner = nullptr;
    }
    for (auto &entry : g->watches) {
        DropWatch(entry.second);
    }
    g->watches.clear();
    uv_close(reinterpret_cast<uv_handle_t *>(&g->prepare), OnHandleClosed);
    uv_close(reinterpret_cast<uv_handle_t *>(&g->check), OnHandleClosed);
    uv_close(reinterpret_cast<uv_handle_t *>(&g->timer), OnHandleClosed);
    if (g->busy == 0) {
        FreeBridge(g);
    }
}

/* After each bridge call: if a callback closed us meanwhile, free the
 * bridge now that GLib is off the stack, and tell the caller to stop. */
static bool AfterBridgeCall(LoopGlue *g)
{
    if (!g->closing) {
        return false;
    }
    if (g->busy == 0) {
        FreeBridge(g);
    }
    return true;
}

/* Node is tearing the environment down (exit, or a worker ending): close,
 * and Node runs the loop until Finish() says we are done. */
static void OnEnvCleanup(napi_async_cleanup_hook_handle handle, void *arg)
{
    (void)handle;   /* the same as glue->hook, removed by Finish() */
    CloseGlue(static_cast<LoopGlue *>(arg));
}

/* ---- fds ------------------------------------------------------------------ */

static void OnPoll(uv_poll_t *handle, int status, int events)
{
    auto *w = static_cast<Watch *>(handle->data);
    LoopGlue *g = w->glue;
    int revents;

    if (status < 0) {
        /* libuv saw POLLERR and stopped the handle: report the error; the
         * next round starts it again if GLib still asks for the fd. */
        w->active = 0;
        revents = G_IO_ERR;
    } else {
        revents = ToGEvents(events);
    }
    if (!g->closing && g->bridge) {
        aio_loop_bridge_fd_ready(g->bridge, w->fd, revents);
    }
}

/* Marks @fd as asked for in this round, with @gevents merged into what
 * other GPollFDs of the same fd asked.  A new fd gets its uv_poll_t here. */
static void WantFd(LoopGlue *g, int fd, int gevents)
{
    Watch *&slot = g->watches[fd];

    if (!slot) {
        slot = new Watch();
        slot->glue = g;
        slot->fd = fd;
    }
    /* Refused for a regular file (EPERM), an fd libuv already watches for
     * Node (EEXIST) or a closed one (EBADF): see PollUnwatchable.  Asked
     * again every round, since what libuv watches changes. */
    if (!slot->watchable && uv_poll_init(g->loop, &slot->handle, fd) == 0) {
        slot->watchable = true;
        slot->handle.data = slot;
        uv_unref(reinterpret_cast<uv_handle_t *>(&slot->handle));
        g->open++;
    }
    if (slot->round != g->round) {
        slot->round = g->round;
        slot->wanted = 0;
    }
    slot->wanted |= gevents;
}

/* Stops watching @fd at once (its handler was removed, and its owner may
 * close it right away: libuv must not keep a dead fd number, which Node
 * could reuse for a socket of its own).  The next round watches it again if
 * GLib still asks for it. */
static void ForgetFd(LoopGlue *g, int fd)
{
    auto it = g->watches.find(fd);

    if (it == g->watches.end()) {
        return;
    }
    Watch *w = it->second;
    g->watches.erase(it);
    if (w->watchable && w->active && g->stats.fds > 0) {
        g->stats.fds--;
    }
    DropWatch(w);
}

/* Makes the uv_poll_t handles match this round: drops the fds no longer
 * asked for, (re)starts those whose events changed. */
static void ApplyWatches(LoopGlue *g)
{
    uint32_t active = 0;

    g->unwatchable.clear();
    for (auto it = g->watches.begin(); it != g->watches.end();) {
        Watch *w = it->second;
        if (w->round != g->round) {
            it = g->watches.erase(it);
            DropWatch(w);
            continue;
        }
        ++it;
        int events = ToUvEvents(w->wanted);
        if (w->watchable && events != w->active &&
            uv_poll_start(&w->handle, events, OnPoll) == 0) {
            w->active = events;
        }
        if (w->watchable && w->active == events) {
            active++;
        } else {
            g->unwatchable.push_back({w->fd, static_cast<gushort>(w->wanted), 0});
        }
    }
    g->stats.fds = active;
}

/* The fds libuv refused are asked with a zero-timeout poll(2) before and
 * after each wait instead: a regular file is always ready (as GLib's own
 * poll would say), a closed fd reports G_IO_NVAL (the core then stops
 * asking for it), and an fd Node watches wakes the loop through Node.
 * Returns: whether any was ready (the loop must not sleep then). */
static bool PollUnwatchable(LoopGlue *g)
{
    bool any = false;

    if (g->unwatchable.empty() ||
        g_poll(g->unwatchable.data(), g->unwatchable.size(), 0) <= 0) {
        return false;
    }
    for (GPollFD &p : g->unwatchable) {
        if (p.revents) {
            aio_loop_bridge_fd_ready(g->bridge, p.fd, p.revents);
            p.revents = 0;
            any = true;
        }
    }
    return any;
}

/* ---- the bridge's hooks ------------------------------------------------- */

static void WatchFds(void *opaque, const GPollFD *fds, int nfds)
{
    auto *g = static_cast<LoopGlue *>(opaque);

    if (g->closing) {
        return;   /* a prepare callback closed us: touch no handle */
    }
    g->round++;
    for (int i = 0; i < nfds; i++) {
        WantFd(g, fds[i].fd, fds[i].events);
    }
    ApplyWatches(g);
    g->readyNow = PollUnwatchable(g);
}

static void OnTimer(uv_timer_t *timer)
{
    (void)timer;   /* it only ended libuv's poll; OnCheck does the work */
}

static void ArmTimer(void *opaque, int timeout_ms)
{
    auto *g = static_cast<LoopGlue *>(opaque);

    if (g->closing) {
        return;
    }
    if (g->readyNow) {
        timeout_ms = 0;
    }
    if (timeout_ms < 0) {
        uv_timer_stop(&g->timer);
        return;
    }
    if (timeout_ms > 0) {
        /* libuv's clock was read at the start of the iteration; a stale
         * one would wake us early, for one more useless round. */
        uv_update_time(g->loop);
    }
    uv_timer_start(&g->timer, OnTimer, static_cast<uint64_t>(timeout_ms), 0);
}

static const AioLoopBridgeOps kBridgeOps = {WatchFds, ArmTimer};

/* ---- the loop phases ------------------------------------------------------ */

static void OnPrepare(uv_prepare_t *handle)
{
    auto *g = static_cast<LoopGlue *>(handle->data);

    if (g->closing) {
        return;
    }
    g->stats.wakeups++;
    g->busy++;
    bool ours = aio_loop_bridge_before_poll(g->bridge);
    g->busy--;
    if (AfterBridgeCall(g)) {
        return;
    }
    if (!ours) {
        /* Another thread iterates this GMainContext: watch nothing (its
         * fds would stay ready and spin us) until it lets go. */
        g->round++;
        ApplyWatches(g);
        g->readyNow = false;
        uv_timer_stop(&g->timer);
    }
    UpdateKeepAlive(g);
}

static void OnCheck(uv_check_t *handle)
{
    auto *g = static_cast<LoopGlue *>(handle->data);

    if (g->closing) {
        return;
    }
    PollUnwatchable(g);
    g->busy++;
    bool dispatched = aio_loop_bridge_after_poll(g->bridge);
    g->busy--;
    if (dispatched) {
        g->stats.dispatches++;
    }
    if (AfterBridgeCall(g)) {
        return;
    }
    UpdateKeepAlive(g);
}

/* Initialises and starts the three fixed handles, all unref'd. */
static void StartHandles(LoopGlue *g)
{
    uv_prepare_init(g->loop, &g->prepare);
    uv_check_init(g->loop, &g->check);
    uv_timer_init(g->loop, &g->timer);
    g->prepare.data = g;
    g->check.data = g;
    g->timer.data = g;
    uv_unref(reinterpret_cast<uv_handle_t *>(&g->prepare));
    uv_unref(reinterpret_cast<uv_handle_t *>(&g->check));
    uv_unref(reinterpret_cast<uv_handle_t *>(&g->timer));
    g->open = 3;
    uv_prepare_start(&g->prepare, OnPrepare);
    uv_check_start(&g->check, OnCheck);
}

/* ---- the JS class --------------------------------------------------------- */

Napi::Function NodeLoop::Init(Napi::Env env, Addon *addon)
{
    return DefineClass(
        env, "NodeLoop",
        {
            InstanceMethod<&NodeLoop::JS_ref>("ref"),
            InstanceMethod<&NodeLoop::JS_unref>("unref"),
            InstanceMethod<&NodeLoop::JS_touch>("touch"),
            InstanceMethod<&NodeLoop::JS_close>("close"),
            InstanceMethod<&NodeLoop::JS_forgetFd>("forgetFd"),
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
    bool tagged = false;

    if (value.IsObject()) {
        napi_check_object_type_tag(env, value, &addon->tags.context, &tagged);
    }
    if (!tagged) {
        ThrowTypeError(env, "argument 1 must be a native Context or null");
        return nullptr;
    }
    Context *ctx = Context::Unwrap(value.As<Napi::Object>());
    return ctx && ctx->CheckUsable(env) ? ctx : nullptr;
}

NodeLoop::NodeLoop(const Napi::CallbackInfo &info)
    : Napi::ObjectWrap<NodeLoop>(info), addon_(static_cast<Addon *>(info.Data()))
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
        ThrowAioError(addon_, env, "UNKNOWN", "Node's event loop is not available");
        return;
    }
    if (addon_->nodeLoopMains.count(main)) {
        ThrowAioError(addon_, env, "ERR_AIO_ATTACHED",
                      "this GMainContext is already attached to Node's event loop: "
                      "detach() its handle first");
        return;
    }

    auto *g = new LoopGlue();
    g->loop = loop;
    g->owner = this;
    if (ctx) {
        g->context = ctx->link();
        g->forContext = true;
    }
    StartHandles(g);
    g->addon = addon_;
    g->main = main;
    g->bridge = aio_loop_bridge_new(main, &kBridgeOps, g);
    addon_->nodeLoopMains.insert(main);
    if (napi_add_async_cleanup_hook(env, OnEnvCleanup, g, &g->hook) != napi_ok) {
        g->hook = nullptr;   /* no teardown close; explicit close still works */
    }
    glue_ = g;
    refd_ = true;
    Ref();   /* a loop runs with no JS reference left: see the header */
    selfRef_ = true;
    UpdateKeepAlive(g);
}

NodeLoop::~NodeLoop()
{
    /* Only reached attached when the environment is torn down before our
     * cleanup hook ran (never, by hook order), or on a constructor error. */
    if (glue_) {
        LoopGlue *g = glue_;
        g->owner = nullptr;
        glue_ = nullptr;
        CloseGlue(g);
    }
}

void NodeLoop::Forget(const NodeLoopStats &last)
{
    last_ = last;
    refd_ = glue_ ? glue_->refd : refd_;
    glue_ = nullptr;
}

Napi::Value NodeLoop::JS_ref(const Napi::CallbackInfo &info)
{
    (void)info;
    if (glue_) {
        glue_->refd = true;
        UpdateKeepAlive(glue_);
    }
    return Napi::Value();
}

Napi::Value NodeLoop::JS_unref(const Napi::CallbackInfo &info)
{
    (void)info;
    if (glue_) {
        glue_->refd = false;
        UpdateKeepAlive(glue_);
    }
    return Napi::Value();
}

/* JS armed work on the context (a BH, a timer, an fd handler): re-decide
 * liveness now, before libuv's end-of-iteration "alive?" test. */
Napi::Value NodeLoop::JS_touch(const Napi::CallbackInfo &info)
{
    (void)info;
    if (glue_) {
        UpdateKeepAlive(glue_);
    }
    return Napi::Value();
}

/* forgetFd(fd): called when JS removed a handler of @fd (see ForgetFd). */
Napi::Value NodeLoop::JS_forgetFd(const Napi::CallbackInfo &info)
{
    if (glue_ && !glue_->closing && info[0].IsNumber()) {
        ForgetFd(glue_, info[0].As<Napi::Number>().Int32Value());
    }
    return Napi::Value();
}

/* Detaches from Node's loop.  Idempotent; safe from inside a callback. */
Napi::Value NodeLoop::JS_close(const Napi::CallbackInfo &info)
{
    (void)info;
    if (glue_) {
        CloseGlue(glue_);   /* calls Forget() */
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
    return Napi::Boolean::New(info.Env(), glue_ ? glue_->refd : refd_);
}

Napi::Value NodeLoop::JS_stats(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    const NodeLoopStats &s = glue_ ? glue_->stats : last_;
    Napi::Object stats = Napi::Object::New(env);

    stats.Set("wakeups", Napi::Number::New(env, static_cast<double>(s.wakeups)));
    stats.Set("dispatches", Napi::Number::New(env, static_cast<double>(s.dispatches)));
    stats.Set("fds", Napi::Number::New(env, s.fds));
    stats.Set("keepingAlive", Napi::Boolean::New(env, s.keepingAlive));
    return stats;
}

} // namespace aiocontext
