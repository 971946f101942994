/*
 * test-registry.cc — the share-token registry under ThreadSanitizer.
 *
 * No Node here: the registry (registry.cc) and the core only.  Each round,
 * the home thread (main) creates a context and a BH, shares both and polls
 * while four threads hammer them through the C entry points and the lock
 * API; then it withdraws the BH (ForgetBh, then qemu_bh_delete), polls once
 * more and closes the context (ForgetContext, then the last unref), exactly
 * as the binding does.  Checked: no data race or use after free (TSan), the
 * BH never runs after its delete, every thread ends up seeing -ENOENT, and
 * Release() without a level is -EPERM.
 *
 * Built and run by scripts/test-registry-tsan.sh (npm run test:registry).
 *
 * SPDX-License-Identifier: MIT
 */
#include "registry.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

using namespace aiocontext;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,    \
                         __LINE__, #cond);                                 \
            std::abort();                                                  \
        }                                                                  \
    } while (0)

static std::atomic<int> runs{0};
static std::atomic<bool> deleted{false};

static void Cb(void *)
{
    CHECK(!deleted.load());
    runs++;
}

static void Hammer(uint64_t cid, uint64_t bid, bool lock)
{
    registry::ContextRef ctx;
    CHECK(registry::LookupContext(cid, &ctx) == 0);
    CHECK(registry::Release(ctx) == -EPERM);
    for (;;) {
        int s = aiocontext_remote_bh_schedule(bid);
        int n = aiocontext_remote_notify(cid);
        if (lock && registry::Acquire(ctx) == 0) {
            CHECK(registry::Release(ctx) == 0);
        }
        CHECK(s == 0 || s == -ENOENT);
        CHECK(n == 0 || n == -ENOENT);
        if (n == -ENOENT) {
            /* The id is gone: so is the BH, withdrawn before it.  Our
             * cached entry closes right after the id (ForgetContext
             * unlinks, then marks the entry under its lock). */
            CHECK(aiocontext_remote_bh_schedule(bid) == -ENOENT);
            while (registry::Notify(ctx) == 0) {
                std::this_thread::yield();
            }
            CHECK(registry::Acquire(ctx) == -ENOENT);
            return;
        }
    }
}

int main()
{
    for (int round = 0; round < 20; round++) {
        AioContext *ctx = aio_context_new("registry-test", nullptr);
        QEMUBH *bh = aio_bh_new(ctx, Cb, nullptr);
        uint64_t cid = registry::ShareContext(ctx, "ctx");
        uint64_t bid = registry::ShareBh(bh, "bh");
        CHECK(registry::ShareContext(ctx, "ctx") == cid);
        CHECK(registry::ShareBh(bh, "bh") == bid);
        registry::BhRef wrong;
        CHECK(registry::LookupBh(cid, &wrong) == -EINVAL);

        deleted = false;
        std::vector<std::thread> threads;
        for (int i = 0; i < 4; i++) {
            threads.emplace_back(Hammer, cid, bid, i == 0);
        }
        for (int i = 0; i < 2000; i++) {
            aio_poll(ctx, true);
        }
        registry::ForgetBh(bh);
        deleted = true;
        qemu_bh_delete(bh);
        aio_poll(ctx, false);           /* frees the BH */
        registry::ForgetContext(ctx);   /* waits for lock holders */
        aio_context_unref(ctx);
        for (std::thread &t : threads) {
            t.join();
        }
        CHECK(aiocontext_remote_notify(cid) == -ENOENT);
    }
    std::printf("registry: 20 rounds, %d BH runs, no race\n", runs.load());
    return 0;
}
