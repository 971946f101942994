/*
 * registry.cc — the process-wide registry behind share tokens (see
 * registry.h).
 *
 * Two levels of locking, never nested the other way round:
 *   - `table_lock` guards the id maps; it is held only to find, add or
 *     remove an entry, never around a core call;
 *   - each entry's `lock` guards its pointer; it is held around the core
 *     call (qemu_bh_schedule, aio_notify: a CAS and at most one write(2)),
 *     so the home thread cannot clear the pointer, and then free the
 *     object, in the middle of it.
 * One mutex per entry rather than one for all: threads that hammer
 * different BHs do not serialise on each other.
 *
 * Lock levels taken with Acquire() are not held under any of these
 * mutexes (waiting for the context's lock while holding one would let a
 * remote thread block the home thread's ForgetBh()).
 *
 * SPDX-License-Identifier: MIT
 */
#include "registry.h"

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace aiocontext {
namespace registry {

struct ContextEntry {
    uint64_t id;
    std::string name;
    AioContext *const core;        /* valid until ForgetContext() returns */

    std::mutex lock;
    std::condition_variable released;   /* remote lock levels went down */
    bool open = true;                   /* false once forgotten */
    unsigned waiting = 0;               /* threads inside Acquire() */
    /* Lock levels held through Acquire(), per thread. */
    std::unordered_map<std::thread::id, unsigned> holders;

    ContextEntry(uint64_t i, std::string n, AioContext *c)
        : id(i), name(std::move(n)), core(c) {}
};

struct BhEntry {
    uint64_t id;
    std::string name;

    std::mutex lock;
    QEMUBH *bh;                    /* null once forgotten */

    BhEntry(uint64_t i, std::string n, QEMUBH *b)
        : id(i), name(std::move(n)), bh(b) {}
};

/* The tables.  Ids come from one counter for both kinds and are never
 * reused, so a stale token can only ever mean "closed".  Intentionally
 * leaked (never destroyed): worker threads may still use them while the
 * process runs its static destructors at exit. */
struct Tables {
    std::mutex lock;
    uint64_t nextId = 1;
    std::unordered_map<uint64_t, ContextRef> contexts;
    std::unordered_map<uint64_t, BhRef> bhs;
    std::unordered_map<AioContext *, uint64_t> contextIds;
    std::unordered_map<QEMUBH *, uint64_t> bhIds;
};

static Tables &T()
{
    static Tables *tables = new Tables;
    return *tables;
}

/* ---- home thread ---------------------------------------------------------- */

uint64_t ShareContext(AioContext *ctx, const std::string &name)
{
    Tables &t = T();
    std::lock_guard<std::mutex> guard(t.lock);
    auto it = t.contextIds.find(ctx);
    if (it != t.contextIds.end()) {
        return it->second;
    }
    uint64_t id = t.nextId++;
    t.contexts.emplace(id, std::make_shared<ContextEntry>(id, name, ctx));
    t.contextIds.emplace(ctx, id);
    return id;
}

void ForgetContext(AioContext *ctx)
{
    Tables &t = T();
    ContextRef entry;
    {
        std::lock_guard<std::mutex> guard(t.lock);
        auto it = t.contextIds.find(ctx);
        if (it == t.contextIds.end()) {
            return;
        }
        entry = t.contexts[it->second];
        t.contexts.erase(it->second);
        t.contextIds.erase(it);
    }

    std::unique_lock<std::mutex> guard(entry->lock);
    entry->open = false;
    /* Our own remote levels: a recursive mutex, so released here at once
     * (later Release() calls from this thread get -ENOENT). */
    auto own = entry->holders.find(std::this_thread::get_id());
    if (own != entry->holders.end()) {
        for (unsigned i = 0; i < own->second; i++) {
            aio_context_release(entry->core);
        }
        entry->holders.erase(own);
    }
    /* Others': wait.  A thread still inside Acquire() sees `open` false once
     * it gets the lock and gives it back at once. */
    entry->released.wait(guard, [&] {
        return entry->waiting == 0 && entry->holders.empty();
    });
}

uint64_t ShareBh(QEMUBH *bh, const std::string &name)
{
    Tables &t = T();
    std::lock_guard<std::mutex> guard(t.lock);
    auto it = t.bhIds.find(bh);
    if (it != t.bhIds.end()) {
        return it->second;
    }
    uint64_t id = t.nextId++;
    t.bhs.emplace(id, std::make_shared<BhEntry>(id, name, bh));
    t.bhIds.emplace(bh, id);
    return id;
}

void ForgetBh(QEMUBH *bh)
{
    Tables &t = T();
    BhRef entry;
    {
        std::lock_guard<std::mutex> guard(t.lock);
        auto it = t.bhIds.find(bh);
        if (it == t.bhIds.end()) {
            return;
        }
        entry = t.bhs[it->second];
        t.bhs.erase(it->second);
        t.bhIds.erase(it);
    }
    /* Waits for a remote qemu_bh_schedule() in progress; after this no
     * thread can reach @bh through the registry. */
    std::lock_guard<std::mutex> guard(entry->lock);
    entry->bh = nullptr;
}

/* ---- any thread ------------------------------------------------------------ */

int LookupContext(uint64_t id, ContextRef *out)
{
    Tables &t = T();
    std::lock_guard<std::mutex> guard(t.lock);
    auto it = t.contexts.find(id);
    if (it != t.contexts.end()) {
        *out = it->second;
        return 0;
    }
    return t.bhs.count(id) ? -EINVAL : -ENOENT;
}

int LookupBh(uint64_t id, BhRef *out)
{
    Tables &t = T();
    std::lock_guard<std::mutex> guard(t.lock);
    auto it = t.bhs.find(id);
    if (it != t.bhs.end()) {
        *out = it->second;
        return 0;
    }
    return t.contexts.count(id) ? -EINVAL : -ENOENT;
}

const std::string &Name(const ContextRef &ref)
{
    return ref->name;
}

const std::string &Name(const BhRef &ref)
{
    return ref->name;
}

int Notify(const ContextRef &ref)
{
    std::lock_guard<std::mutex> guard(ref->lock);
    if (!ref->open) {
        return -ENOENT;
    }
    aio_notify(ref->core);
    return 0;
}

int Acquire(const ContextRef &ref)
{
    {
        std::lock_guard<std::mutex> guard(ref->lock);
        if (!ref->open) {
            return -ENOENT;
        }
        ref->waiting++;     /* keeps ForgetContext() from returning */
    }
    /* Outside the entry lock: this may block for as long as another
     * thread holds the context. */
    aio_context_acquire(ref->core);

    std::lock_guard<std::mutex> guard(ref->lock);
    ref->waiting--;
    if (!ref->open) {
        /* Closed while we waited: the home thread is in ForgetContext(),
         * waiting for us. */
        aio_context_release(ref->core);
        ref->released.notify_all();
        return -ENOENT;
    }
    ref->holders[std::this_thread::get_id()]++;
    return 0;
}

int Release(const ContextRef &ref)
{
    std::thread::id self = std::this_thread::get_id();
    {
        std::lock_guard<std::mutex> guard(ref->lock);
        auto it = ref->holders.find(self);
        if (it == ref->holders.end()) {
            return ref->open ? -EPERM : -ENOENT;
        }
        /* Our level keeps the core alive (ForgetContext waits for it). */
    }
    aio_context_release(ref->core);

    std::lock_guard<std::mutex> guard(ref->lock);
    auto it = ref->holders.find(self);
    if (--it->second == 0) {
        ref->holders.erase(it);
    }
    ref->released.notify_all();
    return 0;
}

void ReleaseAll(const ContextRef &ref)
{
    while (Release(ref) == 0) {
    }
}

int Schedule(const BhRef &ref)
{
    std::lock_guard<std::mutex> guard(ref->lock);
    if (!ref->bh) {
        return -ENOENT;
    }
    qemu_bh_schedule(ref->bh);
    return 0;
}

int Cancel(const BhRef &ref)
{
    std::lock_guard<std::mutex> guard(ref->lock);
    if (!ref->bh) {
        return -ENOENT;
    }
    qemu_bh_cancel(ref->bh);
    return 0;
}

int IsScheduled(const BhRef &ref)
{
    std::lock_guard<std::mutex> guard(ref->lock);
    if (!ref->bh) {
        return -ENOENT;
    }
    return qemu_bh_is_scheduled(ref->bh) ? 1 : 0;
}

} // namespace registry
} // namespace aiocontext

/* ---- the C entry points ------------------------------------------------------ */

using namespace aiocontext;

extern "C" int aiocontext_remote_notify(uint64_t context_id)
{
    registry::ContextRef ref;
    int ret = registry::LookupContext(context_id, &ref);
    return ret < 0 ? ret : registry::Notify(ref);
}

extern "C" int aiocontext_remote_bh_schedule(uint64_t bh_id)
{
    registry::BhRef ref;
    int ret = registry::LookupBh(bh_id, &ref);
    return ret < 0 ? ret : registry::Schedule(ref);
}

extern "C" int aiocontext_remote_bh_cancel(uint64_t bh_id)
{
    registry::BhRef ref;
    int ret = registry::LookupBh(bh_id, &ref);
    return ret < 0 ? ret : registry::Cancel(ref);
}

extern "C" int aiocontext_remote_bh_is_scheduled(uint64_t bh_id)
{
    registry::BhRef ref;
    int ret = registry::LookupBh(bh_id, &ref);
    return ret < 0 ? ret : registry::IsScheduled(ref);
}
