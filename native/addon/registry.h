/*
 * registry.h — the process-wide registry behind share tokens.
 *
 * A share token ({ kind, id } in JS) names a context or a BH by a number, so
 * that it can travel between threads as plain data.  The registry maps each
 * id to an entry that any thread may use: notify a context, take its
 * recursive lock, schedule or cancel a BH.  The entry never owns the core
 * object; it holds a pointer that the home thread clears, under the entry's
 * mutex, before the core object can be freed:
 *
 *   - a BH: ForgetBh() runs before qemu_bh_delete() (BottomHalf::delete(),
 *     or the context's close), and the core frees a BH only on a later BH
 *     pass of the home thread, so a remote qemu_bh_schedule() made under the
 *     mutex always sees either a live BH or a null pointer;
 *   - a context: ForgetContext() runs in Context::Close() before the
 *     binding drops its reference, so aio_notify() made under the mutex
 *     always sees a live context.  ForgetContext() also waits until no other
 *     thread holds (or waits for) the context's lock through the registry,
 *     so aio_context_release() never runs on a freed mutex.
 *
 * Why no reference in the entry: the last aio_context_unref() must run in
 * the home thread (finalization calls the binding's destroy notifies, which
 * touch JS), and a remote reference could become the last one.  Clearing a
 * pointer under a mutex gives the same safety with one owner.
 *
 * Nothing here touches JS: the functions are plain C++ (and C, at the
 * bottom), callable from any thread, including threads Node knows nothing
 * about.  Errors are negative errno values:
 *   -ENOENT  unknown id, or the object was deleted or closed (ERR_AIO_CLOSED)
 *   -EINVAL  the id names an object of another kind
 *   -EPERM   release() by a thread that holds no remote lock level
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_REGISTRY_H
#define AIOCONTEXT_REGISTRY_H

#include "aio.h"   /* G_BEGIN_DECLS inside: no extern "C" needed */

#include <cstdint>
#include <memory>
#include <string>

namespace aiocontext {
namespace registry {

struct ContextEntry;
struct BhEntry;

/* A remote handle keeps its entry alive (not the core object): every call
 * through it re-checks, under the entry's mutex, that the object is open. */
using ContextRef = std::shared_ptr<ContextEntry>;
using BhRef = std::shared_ptr<BhEntry>;

/* ---- home thread: publishing and withdrawing ------------------------------ */

/* Returns: the id of @ctx, registering it on the first call.  @name is kept
 * for error messages.  Home thread only (the caller checks). */
uint64_t ShareContext(AioContext *ctx, const std::string &name);

/* Withdraws @ctx, if it was shared: later remote calls fail with -ENOENT.
 * Releases the remote lock levels the calling (home) thread holds, then
 * waits until no other thread holds or waits for one.  Called by
 * Context::Close() before it drops its reference.  Home thread only. */
void ForgetContext(AioContext *ctx);

/* Returns: the id of @bh (a BH of @ctx), registering it on the first call. */
uint64_t ShareBh(QEMUBH *bh, const std::string &name);

/* Withdraws @bh, if it was shared.  Call before qemu_bh_delete(). */
void ForgetBh(QEMUBH *bh);

/* ---- any thread: looking up and using ------------------------------------- */

/* Returns: 0 with *@out set, -ENOENT (unknown, deleted or closed) or -EINVAL
 * (the id names a BH). */
int LookupContext(uint64_t id, ContextRef *out);
/* The same for a BH (-EINVAL: the id names a context). */
int LookupBh(uint64_t id, BhRef *out);

/* The name given at registration ("AioContext 'disk'", for messages). */
const std::string &Name(const ContextRef &ref);
const std::string &Name(const BhRef &ref);

/* aio_notify().  Returns: 0 or -ENOENT. */
int Notify(const ContextRef &ref);

/* aio_context_acquire(): blocks until the calling thread holds the lock.
 * Returns: 0, or -ENOENT if the context is (or got, while waiting) closed. */
int Acquire(const ContextRef &ref);

/* aio_context_release() of one level taken by Acquire() in this thread.
 * Returns: 0, -EPERM if this thread holds none, or -ENOENT if the context
 * closed (its home thread released them). */
int Release(const ContextRef &ref);

/* Releases every level this thread holds on @ref (environment teardown). */
void ReleaseAll(const ContextRef &ref);

/* qemu_bh_schedule() / qemu_bh_cancel().  Returns: 0 or -ENOENT. */
int Schedule(const BhRef &ref);
int Cancel(const BhRef &ref);

/* qemu_bh_is_scheduled().  Returns: 1, 0, or -ENOENT. */
int IsScheduled(const BhRef &ref);

} // namespace registry
} // namespace aiocontext

/*
 * The same operations by id, for C code and threads without JS (a future C
 * API).  Any thread.  Return 0 or a negative errno as above
 * (is_scheduled: 1 or 0 on success).
 *
 * These are also the only way in for the test helpers, which are a separate
 * addon (native/testing/product-link.cc): it finds them by name (dlsym) in
 * the product addon the process already loaded, so that its threads use
 * this copy's registry, and only by share-token id.  Keep them extern "C"
 * with default visibility.
 */
extern "C" {
int aiocontext_remote_notify(uint64_t context_id);
int aiocontext_remote_bh_schedule(uint64_t bh_id);
int aiocontext_remote_bh_cancel(uint64_t bh_id);
int aiocontext_remote_bh_is_scheduled(uint64_t bh_id);
}

#endif /* AIOCONTEXT_REGISTRY_H */
