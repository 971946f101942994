/*
 * test-observe.c — what the loop tells about itself: the counters of
 * aio_context_get_stats() (exact counts per kind of callback, blocking
 * waits, notify wake-ups) and the observer of aio_context_set_observer()
 * (each callback and pass, in order, only while set).
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

static void count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

static void drain_notifier(EventNotifier *e)
{
    event_notifier_test_and_clear(e);
}

static void test_counters_by_kind(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUBH *a = aio_bh_new(ctx, count_cb, &n);
    QEMUBH *b = aio_bh_new(ctx, count_cb, &n);
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                                 &n);
    EventNotifier e;
    AioContextCounters c;

    test_drain(ctx);
    c = test_stats(ctx).counters;
    g_assert_cmpuint(c.bh_dispatches, ==, 0);
    g_assert_cmpuint(c.fd_dispatches, ==, 0);
    g_assert_cmpuint(c.timer_dispatches, ==, 0);

    qemu_bh_schedule(a);
    qemu_bh_schedule(b);
    g_assert_true(aio_poll(ctx, false));
    c = test_stats(ctx).counters;
    g_assert_cmpuint(c.bh_dispatches, ==, 2);
    g_assert_cmpuint(c.blocking_waits, ==, 0);

    g_assert_cmpint(event_notifier_init(&e, false), ==, 0);
    aio_set_event_notifier(ctx, &e, false, drain_notifier, NULL, NULL);
    test_drain(ctx); /* accepts the registration's notify */
    event_notifier_set(&e);
    g_assert_true(aio_poll(ctx, true)); /* an infinite wait the fd ends */
    c = test_stats(ctx).counters;
    g_assert_cmpuint(c.fd_dispatches, ==, 1);
    g_assert_cmpuint(c.blocking_waits, ==, 1);
    g_assert_cmpuint(c.notify_wakeups, ==, 0);

    timer_mod_ns(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
    g_assert_true(aio_poll(ctx, true)); /* expired: no wait */
    c = test_stats(ctx).counters;
    g_assert_cmpuint(c.timer_dispatches, ==, 1);
    g_assert_cmpuint(c.bh_dispatches, ==, 2);
    g_assert_cmpuint(c.fd_dispatches, ==, 1);
    g_assert_cmpuint(c.blocking_waits, ==, 1);
    g_assert_cmpint(n, ==, 3);

    aio_set_event_notifier(ctx, &e, false, NULL, NULL, NULL);
    event_notifier_cleanup(&e);
    timer_free(t);
    qemu_bh_delete(a);
    qemu_bh_delete(b);
    test_ctx_free(ctx);
}

typedef struct {
    AioContext *ctx;
    QEMUBH *bh;
} Late;

static gpointer late_schedule(gpointer opaque)
{
    Late *l = opaque;

    g_usleep(20 * 1000);
    qemu_bh_schedule(l->bh);
    return NULL;
}

static void test_notify_wakeup_counted(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    Late l = {ctx, aio_bh_new(ctx, count_cb, &n)};
    GThread *thread;
    AioContextCounters before, after;

    test_drain(ctx);
    before = test_stats(ctx).counters;
    thread = g_thread_new("late-schedule", late_schedule, &l);
    TEST_POLL_UNTIL(ctx, n > 0);
    g_thread_join(thread);
    after = test_stats(ctx).counters;
    g_assert_cmpuint(after.bh_dispatches - before.bh_dispatches, ==, 1);
    g_assert_cmpuint(after.notify_wakeups - before.notify_wakeups, ==, 1);
    g_assert_cmpuint(after.blocking_waits - before.blocking_waits, >=, 1);

    qemu_bh_delete(l.bh);
    test_ctx_free(ctx);
}

typedef struct {
    GString *log;
    int64_t last_end;
} Observed;

static void observe(AioContext *ctx, AioEventKind kind, const char *name,
                    int64_t arg, int64_t start_ns, int64_t end_ns, void *opaque)
{
    Observed *o = opaque;
    static const char *const kinds[] = {"bh", "fd", "timer", "poll", "gsource"};

    (void)ctx;
    g_assert_cmpint(start_ns, <=, end_ns);
    g_string_append_printf(o->log, "%s%s%s:%" G_GINT64_FORMAT " ", kinds[kind],
                           name ? "/" : "", name ? name : "",
                           kind == AIO_EVENT_FD ? (int64_t)0 : arg);
    o->last_end = end_ns;
}

static void test_observer(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUBH *a = aio_bh_new_full(ctx, count_cb, &n, "a", NULL);
    QEMUBH *b = aio_bh_new_full(ctx, count_cb, &n, "b", NULL);
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                                 &n);
    Observed o = {g_string_new(NULL), 0};
    GMainContext *main;

    test_drain(ctx);
    aio_context_set_observer(ctx, observe, &o);
    qemu_bh_schedule(a);
    qemu_bh_schedule(b);
    timer_mod_ns(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
    g_assert_true(aio_poll(ctx, false));
    g_assert_false(aio_poll(ctx, false));
    /* LIFO BHs, then the timer (clock 0), then the pass (progress 1). */
    g_assert_cmpstr(o.log->str, ==, "bh/b:0 bh/a:0 timer:0 poll:1 poll:0 ");

    /* Through the GSource: the callback, then the dispatch. */
    g_string_truncate(o.log, 0);
    main = test_attach(ctx);
    qemu_bh_schedule(a);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpstr(o.log->str, ==, "bh/a:0 gsource:0 ");
    test_detach(ctx, main);

    /* Unset: nothing more. */
    g_string_truncate(o.log, 0);
    aio_context_set_observer(ctx, NULL, NULL);
    qemu_bh_schedule(a);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(o.log->str, ==, "");
    g_assert_cmpint(n, ==, 5);

    g_string_free(o.log, TRUE);
    timer_free(t);
    qemu_bh_delete(a);
    qemu_bh_delete(b);
    test_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/observe/counters-by-kind", test_counters_by_kind);
    g_test_add_func("/observe/notify-wakeup-counted",
                    test_notify_wakeup_counted);
    g_test_add_func("/observe/observer", test_observer);
    return g_test_run();
}
