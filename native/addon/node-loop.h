/*
 * node-loop.h — class NodeLoop: Node's own event loop (libuv) drives a
 * GMainContext, and with it every AioContext attached to it, through the
 * core's AioLoopBridge.  Behind ctx.attachToNodeLoop() (a private
 * GMainContext holding just that context) and mainContext.attachToNodeLoop().
 *
 * The binding holds no loop logic here, only libuv glue:
 *   uv_prepare  -> aio_loop_bridge_before_poll()  (GLib prepare + query)
 *                    watch_fds -> one uv_poll_t per distinct fd (events of
 *                                 duplicate GPollFDs merged)
 *                    arm_timer -> a uv_timer_t, stopped for "no limit"
 *   uv_poll cb  -> aio_loop_bridge_fd_ready()
 *   uv_check    -> aio_loop_bridge_after_poll()   (GLib check + dispatch)
 * Callbacks then run with no JS caller on the stack, so callback.cc enters
 * them through napi_make_callback(): microtasks and nextTicks drain after
 * each one, and what they throw goes to process 'uncaughtException'.
 *
 * Closed fds: libuv must never keep watching an fd number its owner has
 * closed (Node may reuse the number for a socket of its own, whose events
 * our stale watcher would take).  A watch normally goes at the next
 * before_poll once GLib stops asking for the fd, which is too late when JS
 * removes a handler and closes the fd at once, so the TS layer calls
 * forgetFd() on every removal and the watch goes immediately.
 *
 * Liveness: every uv handle is unref'd, so an attached loop never keeps the
 * process alive by itself and costs no wake-up while nothing is scheduled.
 * The prepare handle doubles as the keep-alive (an active prepare handle
 * never shortens libuv's poll): it is ref'd only while the JS handle is
 * ref'd and, for a context, the context has armed work (fd handlers, a
 * pending timer, a scheduled BH).  That is re-evaluated after every bridge
 * call and on touch(), which the TS layer calls when JS arms work.  For a
 * MainContext the armed work is unknown: ref'd means alive.
 *
 * Ownership: the libuv side (LoopGlue, node-loop.cc) owns itself from
 * attach to the last uv_close() callback, because libuv may still hold its
 * handles after the JS handle is gone.  The wrapper points at it until
 * close; while attached the wrapper holds a strong reference on itself (a
 * loop runs with no JS reference left).  An async env cleanup hook closes
 * the glue when the environment goes away, and Node waits for the closes.
 * The bridge itself (which owns the GMainContext acquisition) is freed as
 * soon as no bridge call is on the stack: a callback may detach from inside
 * GLib's dispatch.
 *
 * Home thread only (the thread of the Node environment).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_NODE_LOOP_H
#define AIOCONTEXT_NODE_LOOP_H

#include <napi.h>

#include <cstdint>

namespace aiocontext {

struct Addon;
struct LoopGlue;

/* Counters of one attachment, for handle.stats. */
struct NodeLoopStats {
    uint64_t wakeups = 0;      /* loop iterations seen (before_poll calls) */
    uint64_t dispatches = 0;   /* after_poll calls that dispatched sources */
    uint32_t fds = 0;          /* fds watched through uv_poll_t right now */
    bool keepingAlive = false; /* the keep-alive handle is ref'd */
};

class NodeLoop : public Napi::ObjectWrap<NodeLoop> {
public:
    static Napi::Function Init(Napi::Env env, Addon *addon);

    /* new NodeLoop(main: MainContext, context: Context | null): starts
     * driving @main from Node's loop.  With @context (which must be
     * attached to @main), liveness follows that context's armed work. */
    explicit NodeLoop(const Napi::CallbackInfo &info);
    ~NodeLoop() override;

    /* Called by the glue when it starts closing: keeps the last counters
     * and forgets the glue. */
    void Forget(const NodeLoopStats &last);

private:
    Napi::Value JS_ref(const Napi::CallbackInfo &info);
    Napi::Value JS_unref(const Napi::CallbackInfo &info);
    Napi::Value JS_touch(const Napi::CallbackInfo &info);
    Napi::Value JS_close(const Napi::CallbackInfo &info);
    Napi::Value JS_forgetFd(const Napi::CallbackInfo &info);
    Napi::Value JS_attached(const Napi::CallbackInfo &info);
    Napi::Value JS_hasRef(const Napi::CallbackInfo &info);
    Napi::Value JS_stats(const Napi::CallbackInfo &info);

    Addon *addon_;
    LoopGlue *glue_ = nullptr;   /* until close */
    bool selfRef_ = false;       /* Ref() taken while attached */
    bool refd_ = false;          /* after close: what hasRef reports */
    NodeLoopStats last_;         /* after close: what stats reports */
};

} // namespace aiocontext

#endif /* AIOCONTEXT_NODE_LOOP_H */
