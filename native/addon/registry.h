/*
 * registry.h — the binding's C++ view of the core's share registry (aio.h,
 * "Share registry"; native/core/registry.c holds the logic, the threads
 * and the lifetimes, tested in C by test-registry.c).
 *
 * Only ownership sugar: ContextRef and BhRef hold one reference on a core
 * entry (aio_registry_entry_ref/unref) so that a remote handle keeps its
 * entry, never the core object, for as long as it lives; every call
 * re-checks, under the entry's mutex, that the object is still shared.
 * Errors are the core's negative errno values.  Any thread, as in the core.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_REGISTRY_H
#define AIOCONTEXT_REGISTRY_H

#include "aio.h" /* G_BEGIN_DECLS inside: no extern "C" needed */

#include <cstdint>
#include <memory>
#include <string>

namespace aiocontext {
namespace registry {

struct EntryUnref {
    void operator()(AioRegistryEntry *e) const { aio_registry_entry_unref(e); }
};

/* A counted reference on an entry; shared, so that copies are cheap. */
using EntryRef = std::shared_ptr<AioRegistryEntry>;
using ContextRef = EntryRef;
using BhRef = EntryRef;

/* Home thread: publishing and withdrawing. */
inline uint64_t ShareContext(AioContext *ctx, const std::string &name)
{
    return aio_registry_share_context(ctx, name.c_str());
}
inline void ForgetContext(AioContext *ctx)
{
    aio_registry_forget_context(ctx);
}
inline uint64_t ShareBh(QEMUBH *bh, const std::string &name)
{
    return aio_registry_share_bh(bh, name.c_str());
}
inline void ForgetBh(QEMUBH *bh)
{
    aio_registry_forget_bh(bh);
}

/* Any thread: 0 with *@out set, or -ENOENT / -EINVAL. */
inline int Lookup(uint64_t id, AioRegistryKind kind, EntryRef *out)
{
    AioRegistryEntry *e = nullptr;
    int ret = aio_registry_lookup(id, kind, &e);
    if (ret == 0) {
        out->reset(e, EntryUnref());
    }
    return ret;
}
inline int LookupContext(uint64_t id, ContextRef *out)
{
    return Lookup(id, AIO_REGISTRY_CONTEXT, out);
}
inline int LookupBh(uint64_t id, BhRef *out)
{
    return Lookup(id, AIO_REGISTRY_BH, out);
}

inline std::string Name(const EntryRef &ref)
{
    return aio_registry_entry_name(ref.get());
}
inline int Notify(const ContextRef &ref)
{
    return aio_registry_notify(ref.get());
}
inline int Acquire(const ContextRef &ref)
{
    return aio_registry_acquire(ref.get());
}
inline int Release(const ContextRef &ref)
{
    return aio_registry_release(ref.get());
}
inline void ReleaseAll(const ContextRef &ref)
{
    aio_registry_release_all(ref.get());
}
inline int Schedule(const BhRef &ref)
{
    return aio_registry_bh_schedule(ref.get());
}
inline int Cancel(const BhRef &ref)
{
    return aio_registry_bh_cancel(ref.get());
}
inline int IsScheduled(const BhRef &ref)
{
    return aio_registry_bh_is_scheduled(ref.get());
}

} // namespace registry
} // namespace aiocontext

#endif /* AIOCONTEXT_REGISTRY_H */
