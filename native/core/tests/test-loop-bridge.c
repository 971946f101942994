/*
 * test-loop-bridge.c — a foreign event loop (here a bare ppoll loop, in
 * libuv's place) drives a GMainContext through AioLoopBridge, and with it
 * an attached AioContext.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

#include <poll.h>

/* The foreign loop: it watches what the bridge asks and sleeps at most as
 * long as it is told, counting both. */
typedef struct ForeignLoop {
    struct pollfd fds[64];
    int nfds;
    int timeout_ms;
    int watch_calls;
    int timer_calls;
} ForeignLoop;

static void foreign_watch(void *opaque, const GPollFD *fds, int nfds)
{
    ForeignLoop *l = opaque;

    g_assert_cmpint(nfds, <=, (int)G_N_ELEMENTS(l->fds));
    for (int i = 0; i < nfds; i++) {
        l->fds[i].fd = fds[i].fd;
        l->fds[i].events = fds[i].events;
        l->fds[i].revents = 0;
    }
    l->nfds = nfds;
    l->watch_calls++;
}

static void foreign_arm(void *opaque, int timeout_ms)
{
    ForeignLoop *l = opaque;

    l->timeout_ms = timeout_ms;
    l->timer_calls++;
}

static const AioLoopBridgeOps foreign_ops = {
    .watch_fds = foreign_watch,
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
    ForeignLoop loop = { 0 };
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
    ForeignLoop loop = { 0 };
    AioLoopBridge *b = aio_loop_bridge_new(main, &foreign_ops, &loop);
    int p[3] = { 0 };
    int fired = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                                 count_cb, &fired);
    gint64 deadline = test_deadline_ms(TEST_WAIT_MS);

    test_pipe(p);
    g_assert_cmpint(aio_set_fd_handler(ctx, p[0], false, read_cb, NULL, NULL,
                                       NULL, p), ==, 0);
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
    ForeignLoop loop = { 0 };
    AioLoopBridge *b = aio_loop_bridge_new(main, &foreign_ops, &loop);

    /* Drain whatever start-up left, then nothing is scheduled: the foreign
     * loop is told to sleep without limit, and a bounded sleep ends with
     * nothing dispatched. */
    for (int i = 0; i < 3; i++) {
        foreign_iterate(b, &loop, 0);
    }
    g_assert_true(aio_loop_bridge_before_poll(b));
    g_assert_cmpint(loop.timeout_ms, ==, -1);
    g_assert_cmpint(loop.nfds, >=, 1);      /* at least our notifier */
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
    ForeignLoop loop = { 0 };
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/loop-bridge/bh", test_bh);
    g_test_add_func("/loop-bridge/fd-and-timer", test_fd_and_timer);
    g_test_add_func("/loop-bridge/idle-no-timer", test_idle_no_timer);
    g_test_add_func("/loop-bridge/cross-thread-wakeup",
                    test_cross_thread_wakeup);
    return g_test_run();
}
