/*
 * test-loop-bridge.c — a foreign event loop (here a bare ppoll loop, in
 * libuv's place) drives a GMainContext through AioLoopBridge, and with it
 * an attached AioContext.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

#include <poll.h>

/* The foreign loop: it watches what the bridge asks (one entry per fd, as
 * libuv allows) and sleeps at most as long as it is told, counting calls.
 * It refuses to watch @refuse_fd, as libuv refuses a regular file. */
typedef struct ForeignLoop {
    struct pollfd fds[64];
    int nfds;
    int timeout_ms;
    int watch_calls;
    int unwatch_calls;
    int timer_calls;
    int refuse_fd;
    int seen[64]; /* fds passed to watch_fd in this round */
    int nseen;
} ForeignLoop;

#define FOREIGN_LOOP_INIT \
    { \
        .refuse_fd = -1 \
    }

static int foreign_find(ForeignLoop *l, int fd)
{
    for (int i = 0; i < l->nfds; i++) {
        if (l->fds[i].fd == fd) {
            return i;
        }
    }
    return -1;
}

static bool foreign_watch(void *opaque, int fd, int events)
{
    ForeignLoop *l = opaque;
    int i = foreign_find(l, fd);

    l->watch_calls++;
    /* One call per distinct fd per round: the bridge merged duplicates. */
    for (int j = 0; j < l->nseen; j++) {
        g_assert_cmpint(l->seen[j], !=, fd);
    }
    g_assert_cmpint(l->nseen, <, (int)G_N_ELEMENTS(l->seen));
    l->seen[l->nseen++] = fd;
    if (fd == l->refuse_fd) {
        g_assert_cmpint(i, ==, -1);
        return false;
    }
    if (i < 0) {
        g_assert_cmpint(l->nfds, <, (int)G_N_ELEMENTS(l->fds));
        i = l->nfds++;
    }
    l->fds[i].fd = fd;
    l->fds[i].events = events;
    l->fds[i].revents = 0;
    return true;
}

static void foreign_unwatch(void *opaque, int fd)
{
    ForeignLoop *l = opaque;
    int i = foreign_find(l, fd);

    g_assert_cmpint(i, >=, 0); /* only watched fds are unwatched */
    l->fds[i] = l->fds[--l->nfds];
    l->unwatch_calls++;
}

static void foreign_arm(void *opaque, int timeout_ms)
{
    ForeignLoop *l = opaque;

    l->timeout_ms = timeout_ms;
    l->timer_calls++;
    l->nseen = 0; /* arm_timer ends every round */
}

static const AioLoopBridgeOps foreign_ops = {
    .watch_fd = foreign_watch,
    .unwatch_fd = foreign_unwatch,
    .arm_timer = foreign_arm,
};

/* One iteration of the foreign loop, sleeping at most @cap_ms.  Returns
 * whether GLib dispatched. */
static bool foreign_iterate(AioLoopBridge *b, ForeignLoop *l, int cap_ms)
{
    int timeout;

    g_assert_true(aio_loop_bridge_before_poll(b));
    timeout = l->timeout_ms < 0 ? cap_ms : MIN(l->timeout_ms, cap_ms);
    if (poll(l->fds, l->nfds, timeout) > 0) {
        for (int i = 0; i < l->nfds; i++) {
            if (l->fds[i].revents) {
                aio_loop_bridge_fd_ready(b, l->fds[i].fd, l->fds[i].revents);
            }
        }
    }
    return aio_loop_bridge_after_poll(b);
}

static void count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

static void read_cb(void *opaque)
{
    int *fds = opaque;

    test_read_all(fds[0]);
    fds[2]++;
}

static void test_bh(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    ForeignLoop loop = FOREIGN_LOOP_INIT;
    AioLoopBridge *b = aio_loop_bridge_new(main, &foreign_ops, &loop);
    int runs = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &runs);

    qemu_bh_schedule(bh);
    g_assert_true(foreign_iterate(b, &loop, 1000));
    g_assert_cmpint(runs, ==, 1);
    /* A scheduled BH makes GLib ask for no sleep at all. */
    qemu_bh_schedule(bh);
    g_assert_true(aio_loop_bridge_before_poll(b));
    g_assert_cmpint(loop.timeout_ms, ==, 0);
    g_assert_true(aio_loop_bridge_after_poll(b));
    g_assert_cmpint(runs, ==, 2);

    qemu_bh_delete(bh);
    aio_loop_bridge_free(b);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_fd_and_timer(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    ForeignLoop loop = FOREIGN_LOOP_INIT;
    AioLoopBridge *b = aio_loop_bridge_new(main, &foreign_ops, &loop);
    int p[3] = {0};
    int fired = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, count_cb,
                                 &fired);
    gint64 deadline = test_deadline_ms(TEST_WAIT_MS);

    test_pipe(p);
    g_assert_cmpint(
        aio_set_fd_handler(ctx, p[0], false, read_cb, NULL, NULL, NULL, p), ==,
        0);
    test_write_byte(p[1]);
    while (p[2] == 0) {
        foreign_iterate(b, &loop, 100);
        test_check_deadline(deadline, "fd handler through the bridge");
    }
    g_assert_cmpint(p[2], ==, 1);

    /* The foreign loop is told the timer's deadline, rounded up to ms. */
    timer_mod(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) / SCALE_MS + 20);
    g_assert_true(aio_loop_bridge_before_poll(b));
    g_assert_cmpint(loop.timeout_ms, >, 0);
    g_assert_cmpint(loop.timeout_ms, <=, 21);
    aio_loop_bridge_after_poll(b);
    while (fired == 0) {
        foreign_iterate(b, &loop, 100);
        test_check_deadline(deadline, "timer through the bridge");
    }
    g_assert_cmpint(fired, ==, 1);

    timer_free(t);
    test_remove_fd(ctx, p[0]);
    test_close_pair(p);
    aio_loop_bridge_free(b);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_idle_no_timer(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    ForeignLoop loop = FOREIGN_LOOP_INIT;
    AioLoopBridge *b = aio_loop_bridge_new(main, &foreign_ops, &loop);

    /* Drain whatever start-up left, then nothing is scheduled: the foreign
     * loop is told to sleep without limit, and a bounded sleep ends with
     * nothing dispatched. */
    for (int i = 0; i < 3; i++) {
        foreign_iterate(b, &loop, 0);
    }
    g_assert_true(aio_loop_bridge_before_poll(b));
    g_assert_cmpint(loop.timeout_ms, ==, -1);
    g_assert_cmpint(loop.nfds, >=, 1); /* at least our notifier */
    aio_loop_bridge_after_poll(b);
    g_assert_false(foreign_iterate(b, &loop, 20));

    aio_loop_bridge_free(b);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static int cross_runs;

static gpointer schedule_later(gpointer opaque)
{
    g_usleep(20000);
    aio_bh_schedule_oneshot(opaque, count_cb, &cross_runs);
    return NULL;
}

static void test_cross_thread_wakeup(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    ForeignLoop loop = FOREIGN_LOOP_INIT;
    AioLoopBridge *b = aio_loop_bridge_new(main, &foreign_ops, &loop);
    gint64 deadline = test_deadline_ms(TEST_WAIT_MS);
    GThread *t;

    cross_runs = 0;
    for (int i = 0; i < 3; i++) {
        foreign_iterate(b, &loop, 0);
    }
    t = g_thread_new("scheduler", schedule_later, ctx);
    /* The foreign loop sleeps without a timer; only the wake-up from the
     * other thread can end the wait. */
    while (cross_runs == 0) {
        foreign_iterate(b, &loop, TEST_WAIT_MS);
        test_check_deadline(deadline, "cross-thread wake-up");
    }
    g_thread_join(t);
    g_assert_cmpint(cross_runs, ==, 1);

    aio_loop_bridge_free(b);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

/* A round with no source of ours: returns how many fds the GMainContext
 * itself asks for (its wake-up fd). */
static int foreign_baseline(AioLoopBridge *b, ForeignLoop *l)
{
    g_assert_true(aio_loop_bridge_before_poll(b));
    aio_loop_bridge_after_poll(b);
    return l->nfds;
}

static gboolean count_fd_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    (void)fd;
    (void)cond;
    (*(int *)opaque)++;
    return G_SOURCE_CONTINUE;
}

/* A plain GLib fd source on @main that counts its dispatches in @count. */
static GSource *add_fd_source(GMainContext *main, int fd, GIOCondition cond,
                              int *count)
{
    GSource *src = g_unix_fd_source_new(fd, cond);

    g_source_set_callback(src, G_SOURCE_FUNC(count_fd_cb), count, NULL);
    g_source_attach(src, main);
    return src;
}

static void drop_source(GSource *src)
{
    g_source_destroy(src);
    g_source_unref(src);
}

/* Two GLib sources on one fd: the foreign loop gets one watch with the
 * union of their events, and one report reaches both sources. */
static void test_duplicates_merged(void)
{
    GMainContext *main = g_main_context_new();
    ForeignLoop loop = FOREIGN_LOOP_INIT;
    AioLoopBridge *b = aio_loop_bridge_new(main, &foreign_ops, &loop);
    int fds[2], reads = 0, writes = 0, i;
    int base = foreign_baseline(b, &loop);
    GSource *in, *out;

    test_socketpair(fds);
    in = add_fd_source(main, fds[0], G_IO_IN, &reads);
    out = add_fd_source(main, fds[0], G_IO_OUT, &writes);

    g_assert_true(aio_loop_bridge_before_poll(b));
    g_assert_cmpint(loop.nfds, ==, base + 1);
    i = foreign_find(&loop, fds[0]);
    g_assert_cmpint(i, >=, 0);
    g_assert_cmpint(loop.fds[i].events & (G_IO_IN | G_IO_OUT), ==,
                    G_IO_IN | G_IO_OUT);
    g_assert_cmpuint(aio_loop_bridge_watched_fds(b), ==, base + 1);
    /* One report of both events dispatches both sources. */
    aio_loop_bridge_fd_ready(b, fds[0], G_IO_IN | G_IO_OUT);
    g_assert_true(aio_loop_bridge_after_poll(b));
    g_assert_cmpint(reads, ==, 1);
    g_assert_cmpint(writes, ==, 1);

    /* The G_IO_OUT source goes: the next round narrows the same watch. */
    drop_source(out);
    g_assert_true(aio_loop_bridge_before_poll(b));
    g_assert_cmpint(loop.nfds, ==, base + 1);
    i = foreign_find(&loop, fds[0]);
    g_assert_cmpint(loop.fds[i].events & (G_IO_IN | G_IO_OUT), ==, G_IO_IN);
    g_assert_cmpint(loop.unwatch_calls, ==, 0);
    aio_loop_bridge_after_poll(b);

    /* The last source goes: the fd is unwatched. */
    drop_source(in);
    g_assert_true(aio_loop_bridge_before_poll(b));
    g_assert_cmpint(loop.nfds, ==, base);
    g_assert_cmpint(foreign_find(&loop, fds[0]), ==, -1);
    g_assert_cmpint(loop.unwatch_calls, ==, 1);
    g_assert_cmpuint(aio_loop_bridge_watched_fds(b), ==, base);
    aio_loop_bridge_after_poll(b);

    aio_loop_bridge_free(b);
    g_main_context_unref(main);
    test_close_pair(fds);
}

/* An fd the foreign loop refuses (a regular file, for libuv) is polled by
 * the bridge: always ready, so the foreign loop must not sleep, and its
 * source is dispatched. */
static void test_refused_fd_polled(void)
{
    GMainContext *main = g_main_context_new();
    ForeignLoop loop = FOREIGN_LOOP_INIT;
    AioLoopBridge *b = aio_loop_bridge_new(main, &foreign_ops, &loop);
    char path[] = "/tmp/aiocontext-bridge-XXXXXX";
    int fd = mkstemp(path), reads = 0;
    int base = foreign_baseline(b, &loop);
    GSource *src;

    g_assert_cmpint(fd, >=, 0);
    unlink(path);
    loop.refuse_fd = fd;
    src = add_fd_source(main, fd, G_IO_IN, &reads);

    g_assert_true(aio_loop_bridge_before_poll(b));
    g_assert_cmpint(loop.nfds, ==, base);
    g_assert_cmpint(foreign_find(&loop, fd), ==, -1);
    g_assert_cmpuint(aio_loop_bridge_watched_fds(b), ==, base);
    g_assert_cmpint(loop.timeout_ms, ==, 0);
    g_assert_true(aio_loop_bridge_after_poll(b));
    g_assert_cmpint(reads, ==, 1);

    /* Asked again every round, never watched, never unwatched. */
    g_assert_true(foreign_iterate(b, &loop, 0));
    g_assert_cmpint(reads, ==, 2);
    g_assert_cmpint(loop.unwatch_calls, ==, 0);

    drop_source(src);
    aio_loop_bridge_free(b);
    g_main_context_unref(main);
    close(fd);
}

/* forget_fd drops the watch at once; the next round watches it again while
 * GLib still asks for it. */
static void test_forget_fd(void)
{
    GMainContext *main = g_main_context_new();
    ForeignLoop loop = FOREIGN_LOOP_INIT;
    AioLoopBridge *b = aio_loop_bridge_new(main, &foreign_ops, &loop);
    int fds[2], reads = 0;
    int base = foreign_baseline(b, &loop);
    GSource *src;

    test_pipe(fds);
    src = add_fd_source(main, fds[0], G_IO_IN, &reads);

    g_assert_true(aio_loop_bridge_before_poll(b));
    g_assert_cmpint(loop.nfds, ==, base + 1);
    aio_loop_bridge_forget_fd(b, fds[0]);
    g_assert_cmpint(loop.nfds, ==, base);
    g_assert_cmpint(foreign_find(&loop, fds[0]), ==, -1);
    g_assert_cmpint(loop.unwatch_calls, ==, 1);
    g_assert_cmpuint(aio_loop_bridge_watched_fds(b), ==, base);
    aio_loop_bridge_forget_fd(b, fds[0]); /* unknown now: nothing */
    g_assert_cmpint(loop.unwatch_calls, ==, 1);
    g_assert_false(aio_loop_bridge_after_poll(b));

    g_assert_true(aio_loop_bridge_before_poll(b));
    g_assert_cmpint(loop.nfds, ==, base + 1);
    aio_loop_bridge_after_poll(b);
    test_write_byte(fds[1]);
    g_assert_true(foreign_iterate(b, &loop, TEST_WAIT_MS));
    g_assert_cmpint(reads, ==, 1);

    drop_source(src);
    aio_loop_bridge_free(b);
    g_main_context_unref(main);
    test_close_pair(fds);
}

/* A source leaving the GMainContext may have its fds closed at once (a
 * context finalized): forget_all unwatches every fd now, and the next round
 * watches again what GLib still asks for. */
static void test_forget_all(void)
{
    GMainContext *main = g_main_context_new();
    ForeignLoop loop = FOREIGN_LOOP_INIT;
    AioLoopBridge *b = aio_loop_bridge_new(main, &foreign_ops, &loop);
    int fds[2], other[2], reads = 0, other_reads = 0;
    int base = foreign_baseline(b, &loop);
    GSource *src, *kept;

    test_pipe(fds);
    test_pipe(other);
    src = add_fd_source(main, fds[0], G_IO_IN, &reads);
    kept = add_fd_source(main, other[0], G_IO_IN, &other_reads);

    g_assert_true(aio_loop_bridge_before_poll(b));
    g_assert_cmpint(loop.nfds, ==, base + 2);
    drop_source(src);
    aio_loop_bridge_forget_all(b);
    g_assert_cmpint(loop.nfds, ==, 0);
    g_assert_cmpint(loop.unwatch_calls, ==, base + 2);
    g_assert_cmpuint(aio_loop_bridge_watched_fds(b), ==, 0);
    g_assert_false(aio_loop_bridge_after_poll(b));

    /* The next round watches what is still asked for, and it works. */
    test_write_byte(other[1]);
    g_assert_true(foreign_iterate(b, &loop, TEST_WAIT_MS));
    g_assert_cmpint(loop.nfds, ==, base + 1);
    g_assert_cmpint(foreign_find(&loop, fds[0]), ==, -1);
    g_assert_cmpint(other_reads, ==, 1);
    g_assert_cmpint(reads, ==, 0);

    drop_source(kept);
    aio_loop_bridge_free(b);
    g_main_context_unref(main);
    test_close_pair(fds);
    test_close_pair(other);
}

typedef struct OwnerThread {
    GMainContext *main;
    TestFlag owned;
    TestFlag release;
} OwnerThread;

static gpointer own_main(gpointer opaque)
{
    OwnerThread *o = opaque;

    g_assert_true(g_main_context_acquire(o->main));
    test_flag_set(&o->owned, 1);
    g_assert_true(test_flag_wait(&o->release, 1, TEST_WAIT_MS));
    g_main_context_release(o->main);
    return NULL;
}

/* While another thread owns the GMainContext, before_poll does nothing but
 * drop every watch and disarm the timer; once it lets go, the bridge takes
 * over again. */
static void test_not_owner(void)
{
    OwnerThread o;
    ForeignLoop loop = FOREIGN_LOOP_INIT;
    AioLoopBridge *b;
    int fds[2], reads = 0;
    GSource *src;
    GThread *t;

    o.main = g_main_context_new();
    test_flag_init(&o.owned);
    test_flag_init(&o.release);
    b = aio_loop_bridge_new(o.main, &foreign_ops, &loop);
    test_pipe(fds);
    src = add_fd_source(o.main, fds[0], G_IO_IN, &reads);

    t = g_thread_new("owner", own_main, &o);
    g_assert_true(test_flag_wait(&o.owned, 1, TEST_WAIT_MS));
    loop.timeout_ms = 5;
    g_assert_false(aio_loop_bridge_before_poll(b));
    g_assert_cmpint(loop.nfds, ==, 0);
    g_assert_cmpint(loop.timeout_ms, ==, -1);
    g_assert_false(aio_loop_bridge_after_poll(b));
    test_flag_set(&o.release, 1);
    g_thread_join(t);

    test_write_byte(fds[1]);
    g_assert_true(foreign_iterate(b, &loop, TEST_WAIT_MS));
    g_assert_cmpint(foreign_find(&loop, fds[0]), >=, 0);
    g_assert_cmpint(reads, ==, 1);

    drop_source(src);
    aio_loop_bridge_free(b);
    g_main_context_unref(o.main);
    test_close_pair(fds);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/loop-bridge/bh", test_bh);
    g_test_add_func("/loop-bridge/fd-and-timer", test_fd_and_timer);
    g_test_add_func("/loop-bridge/idle-no-timer", test_idle_no_timer);
    g_test_add_func("/loop-bridge/cross-thread-wakeup",
                    test_cross_thread_wakeup);
    g_test_add_func("/loop-bridge/duplicates-merged", test_duplicates_merged);
    g_test_add_func("/loop-bridge/refused-fd-polled", test_refused_fd_polled);
    g_test_add_func("/loop-bridge/forget-fd", test_forget_fd);
    g_test_add_func("/loop-bridge/forget-all", test_forget_all);
    g_test_add_func("/loop-bridge/not-owner", test_not_owner);
    return g_test_run();
}
