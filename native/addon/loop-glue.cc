/*
 * loop-glue.cc — libuv glue for the core's AioLoopBridge (see loop-glue.h).
 *
 * One libuv iteration, as Node runs it (libuv 1.46):
 *   prepare  OnPrepare: the bridge's before_poll; its fds become uv_poll_t
 *            handles, its timeout a one-shot uv_timer_t
 *   poll     libuv sleeps until an fd, our timer or anything of Node's
 *            wakes it; OnPoll reports what each of our fds showed
 *   check    OnCheck: the bridge's after_poll: the callbacks run here
 *   timers   OnTimer does nothing: the timer only ends the poll
 *
 * Why a prepare/check pair and not a uv_poll_t on a single epoll fd that
 * GLib would fill: a GMainContext has no such fd (it polls a list of
 * GPollFDs), and its prepare/check must bracket every wait anyway for
 * timeouts and ready sources.
 *
 * SPDX-License-Identifier: MIT
 */
#include "loop-glue.h"

#include "addon.h"
#include "context.h"
#include "errors.h"
#include "file.h"
#include "node-loop.h"
#include "poll-driver.h"

#include <unordered_map>

namespace aiocontext {

namespace {

/* One watched fd.  The uv handle comes first so that its address is the
 * Watch's; it lives until its close callback. */
struct Watch {
    uv_poll_t handle;
    LoopGlue *glue = nullptr;
    int fd = -1;
    int active = 0; /* UV_* the handle is started with; 0: stopped */
};

} // namespace

/* Owns itself: freed by the last close callback of its handles (Finish),
 * never before.  Home thread only. */
struct LoopGlue {
    uv_loop_t *loop = nullptr;
    uv_prepare_t prepare;            /* before_poll; also the keep-alive */
    uv_check_t check;                /* after_poll */
    uv_timer_t timer;                /* the bridge's timeout; stopped for -1 */
    AioLoopBridge *bridge = nullptr; /* freed once closing and not busy */
    GMainContext *main = nullptr;    /* the bridge's; a key of
                                      * addon->nodeLoops until closing */
    Addon *addon = nullptr;

    Context::Link context;     /* weak; empty for a MainContext */
    NodeLoop *owner = nullptr; /* the JS wrapper, until close */
    napi_async_cleanup_hook_handle hook = nullptr;

    std::unordered_map<int, Watch *> watches; /* by fd */
    unsigned busy = 0;                        /* bridge calls on the C stack */
    unsigned open = 0;                        /* handles not yet closed */
    bool closing = false;
    bool refd = true; /* handle.ref() / unref() */
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

/* Refs the keep-alive (the prepare handle) exactly while the JS handle is
 * ref'd and the core says the context has armed work (always, for a
 * MainContext: its sources are opaque).  Cheap; called after every bridge
 * call and from LoopGlueArmedWork(). */
static void UpdateKeepAlive(LoopGlue *g)
{
    bool want = !g->closing && g->refd;

    if (want && g->context) {
        Context *ctx = Context::Open(g->context);
        /* A file request in flight runs on a worker or in the kernel, which
         * the core does not count as armed: its completion will come. */
        want = ctx && (aio_context_has_armed_work(ctx->core()) ||
                       File::InFlight(ctx) > 0);
    }
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

void LoopGlueArmedWork(LoopGlue *g)
{
    UpdateKeepAlive(g);
}

void LoopGlueSetRef(LoopGlue *g, bool refd)
{
    g->refd = refd;
    UpdateKeepAlive(g);
}

bool LoopGlueHasRef(const LoopGlue *g)
{
    return g->refd;
}

const NodeLoopStats &LoopGlueStats(const LoopGlue *g)
{
    return g->stats;
}

/* ---- closing -------------------------------------------------------------- */

static void FreeBridge(LoopGlue *g)
{
    if (g->bridge) {
        aio_loop_bridge_free(g->bridge); /* releases the GMainContext */
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
    uv_close(reinterpret_cast<uv_handle_t *>(&w->handle), OnWatchClosed);
}

void LoopGlueClose(LoopGlue *g)
{
    if (g->closing) {
        return;
    }
    g->closing = true;
    /* Free for a new attachment now: it first runs at the next prepare,
     * after our bridge call (if one is on the stack) has returned. */
    g->addon->nodeLoops.erase(g->main);
    if (Context *ctx = g->context ? *g->context : nullptr) {
        ctx->SetLoopGlue(nullptr);
    }
    g->stats.keepingAlive = false;
    g->stats.fds = 0;
    if (g->owner) {
        g->owner->Forget(g->stats, g->refd);
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
    (void)handle; /* the same as glue->hook, removed by Finish() */
    LoopGlueClose(static_cast<LoopGlue *>(arg));
}

/* ---- the bridge's hooks: one uv_poll_t per fd ----------------------------- */

static void OnPoll(uv_poll_t *handle, int status, int events)
{
    auto *w = static_cast<Watch *>(handle->data);
    LoopGlue *g = w->glue;
    int revents;

    if (status < 0) {
        /* libuv saw POLLERR and stopped the handle: report the error; the
         * next watch_fd starts it again if GLib still asks for the fd. */
        w->active = 0;
        revents = G_IO_ERR;
    } else {
        revents = ToGEvents(events);
    }
    if (!g->closing && g->bridge) {
        aio_loop_bridge_fd_ready(g->bridge, w->fd, revents);
    }
}

static void RemoveWatch(LoopGlue *g, int fd)
{
    auto it = g->watches.find(fd);

    if (it != g->watches.end()) {
        Watch *w = it->second;
        g->watches.erase(it);
        DropWatch(w);
    }
}

/* Refused by libuv for a regular file (EPERM), an fd it already watches
 * for Node (EEXIST) or a closed one (EBADF): the bridge then polls it. */
static bool WatchFd(void *opaque, int fd, int gevents)
{
    auto *g = static_cast<LoopGlue *>(opaque);
    int events = ToUvEvents(gevents);
    Watch *w;

    if (g->closing) {
        return false;
    }
    auto it = g->watches.find(fd);
    if (it != g->watches.end()) {
        w = it->second;
    } else {
        w = new Watch();
        if (uv_poll_init(g->loop, &w->handle, fd) != 0) {
            delete w;
            return false;
        }
        w->glue = g;
        w->fd = fd;
        w->handle.data = w;
        uv_unref(reinterpret_cast<uv_handle_t *>(&w->handle));
        g->open++;
        g->watches.emplace(fd, w);
    }
    if (w->active != events) {
        if (uv_poll_start(&w->handle, events, OnPoll) != 0) {
            RemoveWatch(g, fd);
            return false;
        }
        w->active = events;
    }
    return true;
}

static void UnwatchFd(void *opaque, int fd)
{
    auto *g = static_cast<LoopGlue *>(opaque);

    if (!g->closing) {
        RemoveWatch(g, fd);
    }
}

void LoopGlueForgetFd(Addon *addon, int fd)
{
    for (auto &entry : addon->nodeLoops) {
        LoopGlue *g = entry.second;
        if (!g->closing && g->bridge) {
            aio_loop_bridge_forget_fd(g->bridge, fd);
            g->stats.fds = aio_loop_bridge_watched_fds(g->bridge);
        }
    }
}

void LoopGlueSourceLeaving(Addon *addon, GMainContext *main)
{
    auto it = addon->nodeLoops.find(main);

    if (it != addon->nodeLoops.end()) {
        LoopGlue *g = it->second;
        if (!g->closing && g->bridge) {
            aio_loop_bridge_forget_all(g->bridge);
            g->stats.fds = 0;
        }
    }
}

static void OnTimer(uv_timer_t *timer)
{
    (void)timer; /* it only ended libuv's poll; OnCheck does the work */
}

static void ArmTimer(void *opaque, int timeout_ms)
{
    auto *g = static_cast<LoopGlue *>(opaque);

    if (g->closing) {
        return;
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

static const AioLoopBridgeOps kBridgeOps = {WatchFd, UnwatchFd, ArmTimer};

/* ---- the loop phases ------------------------------------------------------ */

static void OnPrepare(uv_prepare_t *handle)
{
    auto *g = static_cast<LoopGlue *>(handle->data);

    if (g->closing) {
        return;
    }
    g->stats.wakeups++;
    /* A poll() pass waiting for a JS loop above the innermost one still
     * running (pollLevel[1]) was left by one that unwound (poll-driver.h).
     * Not 0: JS can be on the stack here, when a foreign loop runs libuv's
     * nested (node-gtk's Gtk.main() or GLib.MainLoop.run() called from a
     * handed-back callback run uv_run() from a GSource). */
    EndStalePolls(g->addon, g->addon->pollLevel[1]);
    g->busy++;
    aio_loop_bridge_before_poll(g->bridge);
    g->busy--;
    if (AfterBridgeCall(g)) {
        return;
    }
    g->stats.fds = aio_loop_bridge_watched_fds(g->bridge);
    UpdateKeepAlive(g);
}

static void OnCheck(uv_check_t *handle)
{
    auto *g = static_cast<LoopGlue *>(handle->data);

    if (g->closing) {
        return;
    }
    EndStalePolls(g->addon, g->addon->pollLevel[1]); /* as in OnPrepare */
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

LoopGlue *LoopGlueNew(Addon *addon, napi_env env, uv_loop_t *loop,
                      GMainContext *main, Context *ctx, NodeLoop *owner)
{
    if (addon->nodeLoops.count(main)) {
        ThrowAioError(
            addon, env, "ERR_AIO_ATTACHED",
            "this GMainContext is already attached to Node's event loop: "
            "detach() its handle first");
        return nullptr;
    }

    auto *g = new LoopGlue();
    g->loop = loop;
    g->addon = addon;
    g->owner = owner;
    g->main = main;
    StartHandles(g);
    g->bridge = aio_loop_bridge_new(main, &kBridgeOps, g);
    addon->nodeLoops.emplace(main, g);
    if (ctx) {
        g->context = ctx->link();
        ctx->SetLoopGlue(g);
    }
    if (napi_add_async_cleanup_hook(env, OnEnvCleanup, g, &g->hook) !=
        napi_ok) {
        g->hook = nullptr; /* no teardown close; explicit close still works */
    }
    UpdateKeepAlive(g);
    return g;
}

} // namespace aiocontext
