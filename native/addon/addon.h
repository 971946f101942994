/*
 * addon.h — per-environment state of the binding.
 *
 * One Addon exists per Node.js environment (the main thread and each
 * worker), stored as the environment's instance data and handed to every
 * class as callback data: the binding keeps no globals.  Everything in it
 * belongs to the environment's JS thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_ADDON_H
#define AIOCONTEXT_ADDON_H

#include "fast-method.h"

#include <napi.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace aiocontext {

class BottomHalf;
class Context;
class EventNotifier;
class MainContext;
struct LoopGlue;
struct PollRecord;

/* Type tags stamped on each native object (napi_type_tag_object) so that an
 * argument is unwrapped only if this copy of the addon made it.  Random per
 * load, as in better-sqlite3, so objects from another copy are refused. */
struct TypeTags {
    napi_type_tag context;
    napi_type_tag bottomHalf;
    napi_type_tag timer;
    napi_type_tag eventNotifier;
    napi_type_tag mainContext;
};

struct Addon {
    explicit Addon(napi_env env);
    ~Addon();

    napi_env env;
    TypeTags tags;

    /* The JS AioError class (src/errors.ts), from setErrorClass().  Empty
     * until then; errors.cc falls back to a plain Error with a code. */
    Napi::FunctionReference errorClass;

    /* src/rejections.ts's hook, from setPromiseHook(): receives every
     * promise a callback returns (returned-promise.h).  Empty until then. */
    Napi::FunctionReference promiseHook;

    /* Constructors of the native classes, to create children (a BH from
     * ctx.bh()) and to recognise the token that only the addon passes. */
    Napi::FunctionReference bottomHalfClass;
    Napi::FunctionReference timerClass;

    /* Async context for napi_make_callback(), used when a foreign GLib loop
     * dispatches a callback with no poll()/iteration() on the stack. */
    Napi::ObjectReference asyncResource;
    napi_async_context asyncContext = nullptr;

    /* Driver bookkeeping (callback.cc): how many poll()/iteration() calls
     * are on the stack, and the exceptions callbacks threw meanwhile, oldest
     * first, in a JS array (a thrown value may be a primitive, which a
     * napi_ref cannot hold at NAPI_VERSION 8).  Each driver takes the
     * entries added after it started. */
    unsigned driverDepth = 0;
    Napi::ObjectReference pendingErrors;
    uint32_t pendingCount = 0;
    /* Callbacks the innermost driver's own HandleScope may still serve
     * (CoreCallScope, callback.h). */
    uint32_t scopeBudget = 0;

    /* The poll() calls on the stack, innermost last (poll-driver.h);
     * records past pollDepth are kept for reuse.  pollLevel (a Uint32Array
     * shared with JS): [0] mirrors pollDepth, [1] is JS's innermost loop.  handedBack: the BH function the
     * running pass handed back, a local of the native call running it. */
    std::vector<std::unique_ptr<PollRecord>> polls;
    uint32_t pollDepth = 0;
    uint32_t *pollLevel = nullptr;
    Napi::Reference<Napi::ArrayBuffer> pollLevelBuffer;
    napi_value handedBack = nullptr;

    /* The objects of each class with a hot method, by fast handle
     * (fast-method.h); shared with the objects, which leave on
     * destruction. */
    std::shared_ptr<FastTable<Context>>
        fastContexts = std::make_shared<FastTable<Context>>(1);
    std::shared_ptr<FastTable<BottomHalf>>
        fastBottomHalves = std::make_shared<FastTable<BottomHalf>>(2);
    std::shared_ptr<FastTable<MainContext>>
        fastMainContexts = std::make_shared<FastTable<MainContext>>(3);

    /* Every open Context, closed by the environment cleanup hook. */
    std::unordered_set<Context *> contexts;
    /* Every open EventNotifier, closed by the cleanup hook after contexts. */
    std::unordered_set<EventNotifier *> notifiers;

    /* The GMainContexts Node's loop drives and the glue of each
     * (loop-glue.h): one glue per GMainContext at most, since two bridges
     * on one context would run GLib's prepare/check twice per iteration.
     * (void *: GMainContext *.) */
    std::unordered_map<void *, LoopGlue *> nodeLoops;

    /* Set once the cleanup hook ran: nothing may call into JS any more. */
    bool tornDown = false;
    /* Set once a call into JS failed with no exception pending: Node is
     * stopping this environment (Worker.terminate(), process.exit()) and
     * JS may run only until V8's termination lands.  poll(true) and
     * iteration(true) then no longer block: the event they would wait
     * for may have been the callback that just failed, and a thread
     * blocked in the kernel never sees the termination (callback.cc). */
    bool stopping = false;
};

} // namespace aiocontext

#endif /* AIOCONTEXT_ADDON_H */
