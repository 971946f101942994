/*
 * product-link.cc — how the helper addon reaches the product addon.
 *
 *   linkProduct() -> undefined
 *       Finds the product addon among the objects this process has loaded
 *       (dl_iterate_phdr): any object but this addon itself that defines
 *       the share registry's C entry points (aio.h, "Share registry").
 *       Takes them with dlsym from a dlopen(RTLD_NOLOAD) handle, so it
 *       never loads a copy of its own.  Throws if no such object, or more
 *       than one, is loaded: import 'aiocontext' first.
 *
 * Why this way: Node loads each addon with RTLD_LOCAL, so the two addons
 * do not share symbols, and this addon's own copy of the core (for the
 * benchmarks' private contexts) has a registry of its own, which nothing
 * shares into.  The product exports nothing test-only for it: the helpers
 * use only the core's public API: the registry, by share-token id, and for
 * the thread-pool jobs the context's own pool, whose pointer they get from
 * the id on the context's home thread (aio_registry_entry_home_context()).  And no path is needed: whichever file the
 * package loaded (build/Release or a prebuild) is the one found.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testing.h"

#include <atomic>
#include <string>
#include <vector>

#include <dlfcn.h>
#include <link.h>

namespace aiocontext {

static ProductLink productLink;
/* Release store in JS_linkProduct(), acquire load in Product(). */
static std::atomic<const ProductLink *> linked{nullptr};

const ProductLink *Product()
{
    return linked.load(std::memory_order_acquire);
}

static int CollectName(struct dl_phdr_info *info, size_t, void *data)
{
    if (info->dlpi_name && info->dlpi_name[0]) {
        static_cast<std::vector<std::string> *>(data)->push_back(
            info->dlpi_name);
    }
    return 0;
}

template <typename Fn>
static void Find(void *handle, const char *name, Fn *out)
{
    *out = reinterpret_cast<Fn>(dlsym(handle, name));
}

/* linkProduct() */
static Napi::Value JS_linkProduct(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    std::vector<std::string> names;
    dl_iterate_phdr(CollectName, &names);

    /* This addon's own file, which must not count. */
    Dl_info self = {};
    dladdr(reinterpret_cast<void *>(&CollectName), &self);
    std::string selfName = self.dli_fname ? self.dli_fname : "";

    std::vector<std::string> found;
    ProductLink candidate = {};
    for (const std::string &name : names) {
        if (name == selfName) {
            continue;
        }
        /* RTLD_NOLOAD: only a handle on what is loaded.  Never closed:
         * the product addon stays loaded for the process anyway. */
        void *handle = dlopen(name.c_str(), RTLD_NOW | RTLD_NOLOAD);
        if (!handle) {
            continue;
        }
        ProductLink link = {};
        Find(handle, "aiocontext_remote_notify", &link.notify);
        Find(handle, "aiocontext_remote_bh_schedule", &link.bhSchedule);
        Find(handle, "aio_registry_lookup", &link.lookup);
        Find(handle, "aio_registry_bh_is_scheduled", &link.bhIsScheduled);
        Find(handle, "aio_registry_entry_unref", &link.entryUnref);
        Find(handle, "aio_registry_entry_home_context", &link.homeContext);
        Find(handle, "aio_get_thread_pool", &link.getThreadPool);
        Find(handle, "thread_pool_submit_aio", &link.submitAio);
        Find(handle, "thread_pool_submit", &link.submit);
        Find(handle, "aio_cancel_async", &link.cancelAsync);
        /* dlsym also searches the object's dependencies: count each
         * definition once, by the address it resolved to. */
        if (link.notify && link.bhSchedule && link.lookup &&
            link.bhIsScheduled && link.entryUnref && link.homeContext &&
            link.getThreadPool && link.submitAio && link.submit &&
            link.cancelAsync &&
            (found.empty() || link.bhSchedule != candidate.bhSchedule)) {
            candidate = link;
            found.push_back(name);
        }
    }
    if (found.size() != 1) {
        std::string
            message = found.empty()
                          ? "linkProduct: no loaded object but this one "
                            "defines the share registry (import "
                            "'aiocontext' first)"
                          : "linkProduct: more than one copy of the product "
                            "addon is loaded: " +
                                found[0] + ", " + found[1];
        Napi::Error::New(env, message).ThrowAsJavaScriptException();
        return Napi::Value();
    }
    if (!Product()) {
        productLink = candidate;
        linked.store(&productLink, std::memory_order_release);
    }
    return Napi::Value();
}

void InitProductLink(Napi::Env env, Napi::Object exports)
{
    exports.Set("linkProduct",
                Napi::Function::New(env, JS_linkProduct, "linkProduct"));
}

} // namespace aiocontext
