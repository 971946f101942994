/*
 * loop-glue.h — the libuv side of Node's loop driving a GMainContext: three
 * uv handles and one uv_poll_t per fd, wired to the core's AioLoopBridge,
 * which holds all the loop logic (merging duplicate GPollFDs, reconciling
 * the watched set, polling the fds libuv refuses).  Behind
 * ctx.attachToNodeLoop() and mainContext.attachToNodeLoop(); the JS class
 * is in node-loop.h.
 *
 *   uv_prepare  -> aio_loop_bridge_before_poll()  (GLib prepare + query)
 *                    watch_fd / unwatch_fd -> a uv_poll_t per fd
 *                    arm_timer -> a uv_timer_t, stopped for "no limit"
 *   uv_poll cb  -> aio_loop_bridge_fd_ready()
 *   uv_check    -> aio_loop_bridge_after_poll()   (GLib check + dispatch)
 * Callbacks then run with no JS caller on the stack, so callback.cc enters
 * them in a callback scope: microtasks and nextTicks drain after each one,
 * and what they throw goes to process 'uncaughtException'.
 *
 * Liveness: every uv handle is unref'd, so an attached loop never keeps the
 * process alive by itself and costs no wake-up while nothing is scheduled.
 * The prepare handle doubles as the keep-alive (an active prepare handle
 * never shortens libuv's poll): it is ref'd only while the JS handle is
 * ref'd and, for a context, aio_context_has_armed_work() says so.  That is
 * re-evaluated after every bridge call and by LoopGlueArmedWork(), which the
 * context calls after every JS method that arms work (context.h), so the
 * answer is right before libuv's next "anything alive?" test.  For a
 * MainContext the armed work is unknown: ref'd means alive.
 *
 * Closed fds: when JS removes a handler, the context calls
 * LoopGlueForgetFd() on every glue of the environment, which drops the
 * fd's watch at once (aio_loop_bridge_forget_fd): its owner may close it
 * right after, and libuv must never keep a dead fd number that Node may
 * reuse for a socket of its own.
 *
 * Ownership: a LoopGlue owns itself from LoopGlueNew() to the last
 * uv_close() callback, because libuv may still hold its handles after the
 * JS handle is gone.  An async env cleanup hook closes it when the
 * environment goes away, and Node waits for the closes.  The bridge (which
 * owns the GMainContext acquisition) is freed as soon as no bridge call is
 * on the stack: a callback may detach from inside GLib's dispatch.
 *
 * Home thread only (the thread of the Node environment).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_LOOP_GLUE_H
#define AIOCONTEXT_LOOP_GLUE_H

#include <napi.h>
#include <uv.h>

extern "C" {
#include "aio.h"
}

#include <cstdint>

namespace aiocontext {

struct Addon;
class Context;
class NodeLoop;
struct LoopGlue;

/* Counters of one attachment, for handle.stats. */
struct NodeLoopStats {
    uint64_t wakeups = 0;      /* loop iterations seen (before_poll calls) */
    uint64_t dispatches = 0;   /* after_poll calls that dispatched sources */
    uint32_t fds = 0;          /* fds watched through uv_poll_t right now */
    bool keepingAlive = false; /* the keep-alive handle is ref'd */
};

/* Starts driving @main from @loop.  With @ctx (attached to @main), liveness
 * follows its armed work and @ctx points at the glue until it closes.
 * @owner is told (NodeLoop::Forget) when the glue closes.  Returns nullptr
 * with a JS exception pending (ERR_AIO_ATTACHED if Node's loop drives @main
 * already). */
LoopGlue *LoopGlueNew(Addon *addon, napi_env env, uv_loop_t *loop,
                      GMainContext *main, Context *ctx, NodeLoop *owner);

/* Stops everything now; memory goes with the last close callback.  Safe
 * from inside a callback the bridge dispatched.  Idempotent; calls
 * NodeLoop::Forget() on the owner. */
void LoopGlueClose(LoopGlue *g);

/* handle.ref() / unref(). */
void LoopGlueSetRef(LoopGlue *g, bool refd);
bool LoopGlueHasRef(const LoopGlue *g);
const NodeLoopStats &LoopGlueStats(const LoopGlue *g);

/* JS armed work on the glue's context: re-decides liveness now. */
void LoopGlueArmedWork(LoopGlue *g);

/* JS removed the handler of @fd: every glue of @addon stops watching it now. */
void LoopGlueForgetFd(Addon *addon, int fd);

/* A context's GSource leaves @main (detach, close): the glue driving @main,
 * if any, stops watching every fd now (aio_loop_bridge_forget_all), since
 * close() closes the context's own fds (eventfd, epoll, io_uring) at once;
 * the next round watches again what GLib still asks for. */
void LoopGlueSourceLeaving(Addon *addon, GMainContext *main);

} // namespace aiocontext

#endif /* AIOCONTEXT_LOOP_GLUE_H */
