/*
 * test-registry.c — the share registry: ids, kinds, withdrawal, the remote
 * context lock, and many threads hammering while the home thread deletes
 * and closes (run under ThreadSanitizer by `npm run test:c-tsan`).
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

static void count_cb(void *opaque)
{
    g_atomic_int_inc((gint *)opaque);
}

/* Sharing twice gives the same id; ids are never reused; an id of the
 * other kind is -EINVAL, an unknown one -ENOENT. */
static void test_ids(void)
{
    AioContext *ctx = test_ctx_new();
    QEMUBH *bh = aio_bh_new(ctx, test_never_called, NULL);
    AioRegistryEntry *e = NULL;
    uint64_t cid = aio_registry_share_context(ctx, "AioContext 'ids'");
    uint64_t bid = aio_registry_share_bh(bh, "BottomHalf 'ids'");
    uint64_t again;

    g_assert_cmpuint(cid, >, 0);
    g_assert_cmpuint(bid, !=, cid);
    g_assert_cmpuint(aio_registry_share_context(ctx, "other"), ==, cid);
    g_assert_cmpuint(aio_registry_share_bh(bh, "other"), ==, bid);
    g_assert_cmpint(aio_registry_lookup(cid, AIO_REGISTRY_BH, &e), ==, -EINVAL);
    g_assert_cmpint(aio_registry_lookup(bid, AIO_REGISTRY_CONTEXT, &e), ==,
                    -EINVAL);
    g_assert_null(e);
    g_assert_cmpint(aio_registry_lookup(UINT64_MAX, AIO_REGISTRY_BH, &e), ==,
                    -ENOENT);
    g_assert_cmpint(aio_registry_lookup(cid, AIO_REGISTRY_CONTEXT, &e), ==, 0);
    g_assert_cmpstr(aio_registry_entry_name(e), ==, "AioContext 'ids'");
    aio_registry_entry_unref(e);

    aio_registry_forget_bh(bh);
    qemu_bh_delete(bh);
    aio_registry_forget_context(ctx);
    /* Withdrawn ids stay dead; sharing again gives a new one. */
    g_assert_cmpint(aio_registry_lookup(cid, AIO_REGISTRY_CONTEXT, &e), ==,
                    -ENOENT);
    again = aio_registry_share_context(ctx, "again");
    g_assert_cmpuint(again, >, bid);
    aio_registry_forget_context(ctx);
    aio_registry_forget_context(ctx); /* not shared: nothing */
    test_ctx_free(ctx);
}

/* A BH scheduled through the registry runs on the home thread's poll;
 * after withdrawal a held entry gets -ENOENT and the BH never runs. */
static void test_bh_withdrawn(void)
{
    AioContext *ctx = test_ctx_new();
    gint runs = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &runs);
    uint64_t bid = aio_registry_share_bh(bh, "bh");
    AioRegistryEntry *e;

    g_assert_cmpint(aio_registry_lookup(bid, AIO_REGISTRY_BH, &e), ==, 0);
    g_assert_cmpint(aio_registry_bh_is_scheduled(e), ==, 0);
    g_assert_cmpint(aiocontext_remote_bh_schedule(bid), ==, 0);
    g_assert_cmpint(aio_registry_bh_is_scheduled(e), ==, 1);
    g_assert_cmpint(aio_registry_bh_cancel(e), ==, 0);
    g_assert_cmpint(aio_registry_bh_is_scheduled(e), ==, 0);
    g_assert_cmpint(aio_registry_bh_schedule(e), ==, 0);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(g_atomic_int_get(&runs), ==, 1);

    aio_registry_bh_schedule(e);
    aio_registry_forget_bh(bh);
    qemu_bh_delete(bh);
    g_assert_cmpint(aio_registry_bh_schedule(e), ==, -ENOENT);
    g_assert_cmpint(aio_registry_bh_cancel(e), ==, -ENOENT);
    g_assert_cmpint(aio_registry_bh_is_scheduled(e), ==, -ENOENT);
    g_assert_cmpint(aiocontext_remote_bh_schedule(bid), ==, -ENOENT);
    g_assert_cmpint(aiocontext_remote_bh_cancel(bid), ==, -ENOENT);
    test_drain(ctx);
    g_assert_cmpint(g_atomic_int_get(&runs), ==, 1);
    aio_registry_entry_unref(e); /* outlives the BH, then goes */
    test_ctx_free(ctx);
}

/* notify through the registry, then -ENOENT after withdrawal. */
static void test_context_withdrawn(void)
{
    AioContext *ctx = test_ctx_new();
    uint64_t cid = aio_registry_share_context(ctx, "ctx");
    AioRegistryEntry *e;

    g_assert_cmpint(aio_registry_lookup(cid, AIO_REGISTRY_CONTEXT, &e), ==, 0);
    aio_notify_accept(ctx);
    g_assert_cmpint(aiocontext_remote_notify(cid), ==, 0);
    g_assert_true(test_stats(ctx).notified);
    aio_registry_forget_context(ctx);
    g_assert_cmpint(aio_registry_notify(e), ==, -ENOENT);
    g_assert_cmpint(aio_registry_acquire(e), ==, -ENOENT);
    g_assert_cmpint(aio_registry_release(e), ==, -ENOENT);
    g_assert_cmpint(aiocontext_remote_notify(cid), ==, -ENOENT);
    aio_registry_entry_unref(e);
    test_ctx_free(ctx);
}

static gpointer home_context_thread(gpointer opaque)
{
    return aio_registry_entry_home_context(opaque);
}

/* The context behind an entry: on its home thread only, while it is shared,
 * and never for a BH entry. */
static void test_home_context(void)
{
    AioContext *ctx = test_ctx_new();
    uint64_t cid = aio_registry_share_context(ctx, "ctx");
    gint runs = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &runs);
    uint64_t bid = aio_registry_share_bh(bh, "bh");
    AioRegistryEntry *e, *b;

    g_assert_cmpint(aio_registry_lookup(cid, AIO_REGISTRY_CONTEXT, &e), ==, 0);
    g_assert_cmpint(aio_registry_lookup(bid, AIO_REGISTRY_BH, &b), ==, 0);
    g_assert_true(aio_registry_entry_home_context(e) == ctx);
    g_assert_null(aio_registry_entry_home_context(b));
    GThread *t = g_thread_new("other", home_context_thread, e);
    g_assert_null(g_thread_join(t));
    aio_registry_forget_bh(bh);
    qemu_bh_delete(bh);
    aio_registry_forget_context(ctx);
    g_assert_null(aio_registry_entry_home_context(e));
    test_drain(ctx);
    g_assert_cmpint(runs, ==, 0);
    aio_registry_entry_unref(b);
    aio_registry_entry_unref(e);
    test_ctx_free(ctx);
}

typedef struct LockThread {
    AioRegistryEntry *e;
    TestFlag held;      /* 1: holds two levels */
    TestFlag go;        /* 1: may release */
    TestFlag releasing; /* 1: about to release its last level */
    int results[4];
} LockThread;

static gpointer lock_thread(gpointer opaque)
{
    LockThread *l = opaque;

    l->results[0] = aio_registry_release(l->e); /* -EPERM: no level */
    l->results[1] = aio_registry_acquire(l->e);
    l->results[2] = aio_registry_acquire(l->e); /* recursive */
    test_flag_set(&l->held, 1);
    g_assert_true(test_flag_wait(&l->go, 1, TEST_WAIT_MS));
    aio_registry_release(l->e);
    test_flag_set(&l->releasing, 1);
    g_usleep(20000); /* forget_context must still be waiting */
    l->results[3] = aio_registry_release(l->e);
    return NULL;
}

static gpointer forget_thread(gpointer opaque)
{
    aio_registry_forget_context(opaque);
    return NULL;
}

/* A thread holding the lock through the registry: release without a level
 * is -EPERM, the lock is recursive, and withdrawal waits until the last
 * level is given back. */
static void test_remote_lock(void)
{
    AioContext *ctx = test_ctx_new();
    uint64_t cid = aio_registry_share_context(ctx, "locked");
    LockThread l = {0};
    GThread *t, *f;

    g_assert_cmpint(aio_registry_lookup(cid, AIO_REGISTRY_CONTEXT, &l.e), ==,
                    0);
    test_flag_init(&l.held);
    test_flag_init(&l.go);
    test_flag_init(&l.releasing);
    t = g_thread_new("holder", lock_thread, &l);
    g_assert_true(test_flag_wait(&l.held, 1, TEST_WAIT_MS));
    g_assert_cmpint(l.results[0], ==, -EPERM);
    g_assert_cmpint(l.results[1], ==, 0);
    g_assert_cmpint(l.results[2], ==, 0);

    /* Withdraw from a helper (the home thread would be blocked): it must
     * not return before the holder's last release. */
    f = g_thread_new("forget", forget_thread, ctx);
    test_flag_set(&l.go, 1);
    g_thread_join(f);
    g_assert_cmpint(test_flag_get(&l.releasing), ==, 1);
    g_thread_join(t);
    g_assert_cmpint(l.results[3], ==, 0);
    aio_context_acquire(ctx); /* free again (a leak would hang here) */
    aio_context_release(ctx);
    aio_registry_entry_unref(l.e);
    test_ctx_free(ctx);
}

/* ---- many threads ---------------------------------------------------------- */

typedef struct Hammer {
    uint64_t cid;
    uint64_t bid;
    bool lock;
} Hammer;

static gint hammer_runs;
static gint bh_deleted;
static TestFlag hammers_ready; /* threads that looked the context up */

static void hammer_cb(void *opaque)
{
    (void)opaque;
    g_assert_cmpint(g_atomic_int_get(&bh_deleted), ==, 0);
    g_atomic_int_inc(&hammer_runs);
}

static gpointer hammer_thread(gpointer opaque)
{
    Hammer *h = opaque;
    AioRegistryEntry *ctx;

    g_assert_cmpint(aio_registry_lookup(h->cid, AIO_REGISTRY_CONTEXT, &ctx), ==,
                    0);
    g_assert_cmpint(aio_registry_release(ctx), ==, -EPERM);
    test_flag_inc(&hammers_ready);
    for (;;) {
        int s = aiocontext_remote_bh_schedule(h->bid);
        int n = aiocontext_remote_notify(h->cid);

        if (h->lock && aio_registry_acquire(ctx) == 0) {
            g_assert_cmpint(aio_registry_release(ctx), ==, 0);
        }
        g_assert_true(s == 0 || s == -ENOENT);
        g_assert_true(n == 0 || n == -ENOENT);
        if (n == -ENOENT) {
            /* The id is gone, and so is the BH, withdrawn before it.  Our
             * entry closes right after the id goes (forget unlinks, then
             * marks the entry under its lock). */
            g_assert_cmpint(aiocontext_remote_bh_schedule(h->bid), ==, -ENOENT);
            while (aio_registry_notify(ctx) == 0) {
                g_thread_yield();
            }
            g_assert_cmpint(aio_registry_acquire(ctx), ==, -ENOENT);
            break;
        }
    }
    aio_registry_entry_unref(ctx);
    return NULL;
}

/* Each round: four threads schedule, notify and lock while the home thread
 * polls, then withdraws and deletes the BH, and withdraws and frees the
 * context, in the order the binding uses.  TSan checks the rest. */
static void test_hammer(void)
{
    for (int round = 0; round < 20; round++) {
        AioContext *ctx = test_ctx_new();
        QEMUBH *bh = aio_bh_new(ctx, hammer_cb, NULL);
        Hammer h = {
            .cid = aio_registry_share_context(ctx, "ctx"),
            .bid = aio_registry_share_bh(bh, "bh"),
        };
        Hammer locker = h;
        GThread *threads[4];

        locker.lock = true;
        g_atomic_int_set(&bh_deleted, 0);
        test_flag_init(&hammers_ready);
        for (int i = 0; i < 4; i++) {
            threads[i] = g_thread_new("hammer", hammer_thread,
                                      i == 0 ? &locker : &h);
        }
        g_assert_true(test_flag_wait(&hammers_ready, 4, TEST_WAIT_MS));
        for (int i = 0; i < 500; i++) {
            aio_poll(ctx, true);
        }
        aio_registry_forget_bh(bh);
        g_atomic_int_set(&bh_deleted, 1);
        qemu_bh_delete(bh);
        aio_poll(ctx, false);             /* frees the BH */
        aio_registry_forget_context(ctx); /* waits for lock holders */
        for (int i = 0; i < 4; i++) {
            g_thread_join(threads[i]);
        }
        g_assert_cmpint(aiocontext_remote_notify(h.cid), ==, -ENOENT);
        test_ctx_free(ctx);
    }
    g_assert_cmpint(g_atomic_int_get(&hammer_runs), >, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/registry/ids", test_ids);
    g_test_add_func("/registry/bh-withdrawn", test_bh_withdrawn);
    g_test_add_func("/registry/context-withdrawn", test_context_withdrawn);
    g_test_add_func("/registry/home-context", test_home_context);
    g_test_add_func("/registry/remote-lock", test_remote_lock);
    g_test_add_func("/registry/hammer", test_hammer);
    return g_test_run();
}
