/*
 * test-notify.c — wake-ups: aio_notify(), notified and notify_me, blocking
 * waits woken from other threads, the event notifier itself, and fd
 * handlers added and removed from another thread while the home thread
 * polls.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

/* Polls once and checks that no aio_poll() waiter is left counted in
 * notify_me (bits 1–31).  Returns: aio_poll()'s result. */
static bool poll_checked(AioContext *ctx, bool blocking)
{
    bool progress = aio_poll(ctx, blocking);

    g_assert_cmpuint(test_stats(ctx).notify_me & ~1u, ==, 0);
    return progress;
}

static void count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

/* ------------------------------------------------------------------------ */
/* notified and notify_me                                                    */
/* ------------------------------------------------------------------------ */

static void test_notify_sets_notified(void)
{
    AioContext *ctx = test_ctx_new();
    AioContextStats st;

    test_drain(ctx);
    st = test_stats(ctx);
    g_assert_false(st.notified);
    g_assert_cmpuint(st.notify_me, ==, 0);

    /* Nobody waits: only the flag is set. */
    aio_notify(ctx);
    st = test_stats(ctx);
    g_assert_true(st.notified);
    g_assert_cmpuint(st.notify_me, ==, 0);

    /* Consumed by the next poll, which makes no progress from it. */
    g_assert_false(poll_checked(ctx, false));
    g_assert_false(test_stats(ctx).notified);

    test_ctx_free(ctx);
}

static void test_accept_clears_notified(void)
{
    AioContext *ctx = test_ctx_new();

    aio_notify(ctx);
    g_assert_true(test_stats(ctx).notified);
    aio_notify_accept(ctx);
    g_assert_false(test_stats(ctx).notified);
    aio_notify_accept(ctx);
    g_assert_false(test_stats(ctx).notified);

    test_ctx_free(ctx);
}

static void test_notified_poll_does_not_block(void)
{
    AioContext *ctx = test_ctx_new();
    gint64 start;

    test_drain(ctx);
    aio_notify(ctx);
    start = g_get_monotonic_time();
    /* Nothing else could wake it: only `notified` keeps it from blocking
     * forever.  A wake-up alone is not progress. */
    g_assert_false(poll_checked(ctx, true));
    g_assert_cmpint(g_get_monotonic_time() - start, <,
                    TEST_WAIT_MS * (gint64)1000);
    g_assert_false(test_stats(ctx).notified);

    test_ctx_free(ctx);
}

static void test_notify_me_zero_after_poll(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                                 &n);

    g_assert_false(poll_checked(ctx, false));
    qemu_bh_schedule(bh);
    g_assert_true(poll_checked(ctx, true));
    qemu_bh_schedule(bh);
    g_assert_true(poll_checked(ctx, false));
    /* A blocking poll that really waits (for the timer). */
    timer_mod_ns(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + 5 * SCALE_MS);
    test_drain(ctx);
    while (n < 3) {
        poll_checked(ctx, true);
    }
    g_assert_cmpint(n, ==, 3);
    g_assert_cmpuint(test_stats(ctx).notify_me, ==, 0);

    qemu_bh_delete(bh);
    timer_free(t);
    test_ctx_free(ctx);
}

/* Records notify_me as a callback of a blocking aio_poll() sees it. */
typedef struct {
    AioContext *ctx;
    int calls;
    guint32 notify_me;
} SeenNotifyMe;

static void record_notify_me(void *opaque)
{
    SeenNotifyMe *s = opaque;

    s->calls++;
    s->notify_me = test_stats(s->ctx).notify_me;
}

typedef struct {
    QEMUBH *bh;
    TestFlag started;
} LateSchedule;

static gpointer late_schedule(gpointer opaque)
{
    LateSchedule *l = opaque;

    test_flag_set(&l->started, 1);
    g_usleep(20 * 1000); /* let the home thread block; not required */
    qemu_bh_schedule(l->bh);
    return NULL;
}

static void test_notify_me_released_before_callbacks(void)
{
    AioContext *ctx = test_ctx_new();
    SeenNotifyMe bh_seen = {.ctx = ctx, .notify_me = 0xdead};
    SeenNotifyMe timer_seen = {.ctx = ctx, .notify_me = 0xdead};
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                                 record_notify_me, &timer_seen);
    LateSchedule l;
    GThread *thread;

    /* A timer ends a real wait: its callback runs after the waiter left
     * notify_me. */
    timer_mod_ns(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + 5 * SCALE_MS);
    test_drain(ctx);
    TEST_POLL_UNTIL(ctx, timer_seen.calls > 0);
    g_assert_cmpuint(timer_seen.notify_me, ==, 0);

    /* So does a BH scheduled by another thread during the wait. */
    l.bh = aio_bh_new(ctx, record_notify_me, &bh_seen);
    test_flag_init(&l.started);
    test_drain(ctx);
    thread = g_thread_new("late-schedule", late_schedule, &l);
    g_assert_true(test_flag_wait(&l.started, 1, TEST_WAIT_MS));
    TEST_POLL_UNTIL(ctx, bh_seen.calls > 0);
    g_assert_cmpuint(bh_seen.notify_me, ==, 0);
    g_thread_join(thread);

    test_flag_clear(&l.started);
    qemu_bh_delete(l.bh);
    timer_free(t);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Wake-ups from other threads                                               */
/* ------------------------------------------------------------------------ */

typedef struct {
    AioContext *ctx;
    TestFlag started;
    gint about_to_notify; /* atomic */
} LateNotify;

static gpointer late_notify(gpointer opaque)
{
    LateNotify *l = opaque;

    test_flag_set(&l->started, 1);
    g_usleep(20 * 1000); /* let the home thread block; not required */
    g_atomic_int_set(&l->about_to_notify, 1);
    aio_notify(l->ctx);
    return NULL;
}

static void test_poll_false_when_only_notified(void)
{
    AioContext *ctx = test_ctx_new();
    LateNotify l = {.ctx = ctx};
    GThread *thread;

    test_drain(ctx);
    test_flag_init(&l.started);
    thread = g_thread_new("late-notify", late_notify, &l);
    g_assert_true(test_flag_wait(&l.started, 1, TEST_WAIT_MS));

    /* Blocks until the other thread's aio_notify(), then reports no
     * progress: being woken is not running a callback. */
    g_assert_false(poll_checked(ctx, true));
    g_assert_cmpint(g_atomic_int_get(&l.about_to_notify), ==, 1);

    g_thread_join(thread);
    test_flag_clear(&l.started);
    test_ctx_free(ctx);
}

#define NOTIFY_ROUNDS 50

typedef struct {
    AioContext *ctx;
    TestFlag round; /* set by the home thread before each wait */
} PingPong;

static gpointer notify_each_round(gpointer opaque)
{
    PingPong *p = opaque;

    for (int i = 1; i <= NOTIFY_ROUNDS; i++) {
        g_assert_true(test_flag_wait(&p->round, i, TEST_WAIT_MS));
        aio_notify(p->ctx);
    }
    return NULL;
}

static void test_notify_wakes_blocking_poll(void)
{
    AioContext *ctx = test_ctx_new();
    PingPong p = {.ctx = ctx};
    GThread *thread;

    test_drain(ctx);
    test_flag_init(&p.round);
    thread = g_thread_new("notifier", notify_each_round, &p);
    /* Each wait must end: the notify lands either before the wait (then
     * `notified` stops it) or during it (then the event notifier does).
     * A lost wake-up hangs here. */
    for (int i = 1; i <= NOTIFY_ROUNDS; i++) {
        test_flag_set(&p.round, i);
        g_assert_false(poll_checked(ctx, true));
    }
    g_thread_join(thread);
    test_flag_clear(&p.round);
    test_drain(ctx);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* The notifier's eventfd, seen from a GMainContext                          */
/* ------------------------------------------------------------------------ */

/* Returns: the fd GLib polls for its own wake-ups in @main, which must
 * have no source yet. */
static int glib_wakeup_fd(GMainContext *main)
{
    GPollFD fds[8];
    gint prio, timeout, n;

    g_assert_true(g_main_context_acquire(main));
    g_main_context_prepare(main, &prio);
    n = g_main_context_query(main, prio, &timeout, fds, G_N_ELEMENTS(fds));
    g_assert_cmpint(n, ==, 1);
    g_main_context_check(main, prio, fds, n);
    g_main_context_release(main);
    return fds[0].fd;
}

/* Polls (without waiting) every fd of @fds except @skip.
 * Returns: how many are readable. */
static int count_readable(GPollFD *fds, int n, int skip)
{
    int readable = 0;

    for (int i = 0; i < n; i++) {
        fds[i].revents = 0;
    }
    g_assert_cmpint(g_poll(fds, n, 0), >=, 0);
    for (int i = 0; i < n; i++) {
        if (fds[i].fd != skip && (fds[i].revents & G_IO_IN)) {
            readable++;
        }
    }
    return readable;
}

static void test_no_write_when_nobody_waits(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = g_main_context_new();
    int wakeup = glib_wakeup_fd(main);
    GPollFD fds[16];
    gint prio, timeout, n;

    g_assert_cmpint(aio_context_attach(ctx, main, G_PRIORITY_DEFAULT), >, 0);
    test_main_drain(main);
    g_assert_cmpuint(test_stats(ctx).notify_me, ==, 0);

    /* notify_me == 0: the eventfd is not written, so GLib sees nothing. */
    aio_notify(ctx);
    g_assert_false(g_main_context_iteration(main, FALSE));

    /* Same, looked at directly: after the notify, prepare and poll. */
    aio_notify(ctx);
    g_assert_true(g_main_context_acquire(main));
    g_assert_false(g_main_context_prepare(main, &prio));
    n = g_main_context_query(main, prio, &timeout, fds, G_N_ELEMENTS(fds));
    g_assert_cmpint(n, <=, (gint)G_N_ELEMENTS(fds));
    g_assert_cmpint(count_readable(fds, n, wakeup), ==, 0);
    g_main_context_check(main, prio, fds, n);
    g_main_context_dispatch(main);
    g_main_context_release(main);

    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_write_when_gsource_waits(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = g_main_context_new();
    int wakeup = glib_wakeup_fd(main);
    GPollFD fds[16];
    gint prio, timeout, n;

    g_assert_cmpint(aio_context_attach(ctx, main, G_PRIORITY_DEFAULT), >, 0);
    test_main_drain(main);

    g_assert_true(g_main_context_acquire(main));
    g_assert_false(g_main_context_prepare(main, &prio));
    g_assert_cmpuint(test_stats(ctx).notify_me, ==, 1);
    n = g_main_context_query(main, prio, &timeout, fds, G_N_ELEMENTS(fds));
    g_assert_cmpint(count_readable(fds, n, wakeup), ==, 0);

    /* Between prepare and check someone may wait: the eventfd is written. */
    aio_notify(ctx);
    g_assert_cmpint(count_readable(fds, n, wakeup), ==, 1);
    g_assert_true(g_main_context_check(main, prio, fds, n));
    g_assert_cmpuint(test_stats(ctx).notify_me, ==, 0);
    g_assert_false(test_stats(ctx).notified);
    g_main_context_dispatch(main);
    g_main_context_release(main);

    /* The dispatch drained it. */
    g_assert_false(g_main_context_iteration(main, FALSE));

    test_detach(ctx, main);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Event notifier                                                            */
/* ------------------------------------------------------------------------ */

static void test_event_notifier_basics(void)
{
    EventNotifier e;

    g_assert_cmpint(event_notifier_init(&e, false), ==, 0);
    g_assert_true(e.initialized);
    g_assert_cmpint(event_notifier_get_fd(&e), >=, 0);
    g_assert_cmpint(event_notifier_get_fd(&e), ==, e.rfd);
    g_assert_false(event_notifier_test_and_clear(&e));

    g_assert_cmpint(event_notifier_set(&e), ==, 0);
    g_assert_cmpint(event_notifier_set(&e), ==, 0);
    g_assert_true(event_notifier_test_and_clear(&e));
    g_assert_false(event_notifier_test_and_clear(&e));

    event_notifier_cleanup(&e);
    g_assert_false(e.initialized);
    /* Cleaning up twice does nothing. */
    event_notifier_cleanup(&e);
}

static void test_event_notifier_init_active(void)
{
    EventNotifier e;

    g_assert_cmpint(event_notifier_init(&e, true), ==, 0);
    g_assert_true(event_notifier_test_and_clear(&e));
    g_assert_false(event_notifier_test_and_clear(&e));
    event_notifier_cleanup(&e);
}

static void test_event_notifier_readable(void)
{
    EventNotifier e;
    GPollFD pfd;

    g_assert_cmpint(event_notifier_init(&e, false), ==, 0);
    pfd.fd = event_notifier_get_fd(&e);
    pfd.events = G_IO_IN;
    pfd.revents = 0;
    g_assert_cmpint(g_poll(&pfd, 1, 0), ==, 0);
    event_notifier_set(&e);
    g_assert_cmpint(g_poll(&pfd, 1, 0), ==, 1);
    g_assert_true(pfd.revents & G_IO_IN);
    g_assert_true(event_notifier_test_and_clear(&e));
    pfd.revents = 0;
    g_assert_cmpint(g_poll(&pfd, 1, 0), ==, 0);
    event_notifier_cleanup(&e);
}

/* ------------------------------------------------------------------------ */
/* Handlers added and removed from other threads                             */
/* ------------------------------------------------------------------------ */

#define ADD_REMOVE_THREADS 2
#define ADD_REMOVE_ROUNDS 200

typedef struct {
    AioContext *ctx;
    int fds[2];
    TestFlag calls; /* bumped by the read callback (home thread) */
    gint done;      /* atomic */
} AddRemove;

static void add_remove_read_cb(void *opaque)
{
    AddRemove *a = opaque;

    /* Never drains: the fd stays readable while registered. */
    test_flag_inc(&a->calls);
}

static gpointer add_remove_worker(gpointer opaque)
{
    AddRemove *a = opaque;

    for (int i = 0; i < ADD_REMOVE_ROUNDS; i++) {
        int before = test_flag_get(&a->calls);

        g_assert_cmpint(aio_set_fd_handler(a->ctx, a->fds[0], false,
                                           add_remove_read_cb, NULL, NULL, NULL,
                                           a),
                        ==, 0);
        /* Registering notified the home thread, which must now see the
         * readable fd. */
        g_assert_true(test_flag_wait(&a->calls, before + 1, TEST_WAIT_MS));
        g_assert_cmpint(aio_set_fd_handler(a->ctx, a->fds[0], false, NULL, NULL,
                                           NULL, NULL, NULL),
                        ==, 0);
    }
    g_atomic_int_set(&a->done, 1);
    aio_notify(a->ctx);
    return NULL;
}

static gboolean add_remove_all_done(AddRemove *a)
{
    for (int i = 0; i < ADD_REMOVE_THREADS; i++) {
        if (!g_atomic_int_get(&a[i].done)) {
            return FALSE;
        }
    }
    return TRUE;
}

static void test_threads_handler_add_remove(void)
{
    AioContext *ctx = test_ctx_new();
    AddRemove a[ADD_REMOVE_THREADS];
    GThread *threads[ADD_REMOVE_THREADS];

    for (int i = 0; i < ADD_REMOVE_THREADS; i++) {
        a[i].ctx = ctx;
        test_pipe(a[i].fds);
        test_write_byte(a[i].fds[1]);
        test_flag_init(&a[i].calls);
        a[i].done = 0;
    }
    for (int i = 0; i < ADD_REMOVE_THREADS; i++) {
        threads[i] = g_thread_new("add-remove", add_remove_worker, &a[i]);
    }

    TEST_POLL_UNTIL(ctx, add_remove_all_done(a));

    for (int i = 0; i < ADD_REMOVE_THREADS; i++) {
        g_thread_join(threads[i]);
        g_assert_cmpint(test_flag_get(&a[i].calls), >=, ADD_REMOVE_ROUNDS);
    }
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);
    /* Everything was removed: the fds are readable but nothing runs. */
    g_assert_false(aio_poll(ctx, false));

    for (int i = 0; i < ADD_REMOVE_THREADS; i++) {
        test_close_pair(a[i].fds);
        test_flag_clear(&a[i].calls);
    }
    test_ctx_free(ctx);
}

/* A BH scheduled by another BH's callback, and one by a timer. */
typedef struct {
    QEMUBH *next;
    bool notified_after; /* `notified` right after the schedule */
    AioContext *ctx;
} Chain;

static void chain_cb(void *opaque)
{
    Chain *c = opaque;

    qemu_bh_schedule(c->next);
    c->notified_after = test_stats(c->ctx).notified;
}

/* From a dispatch phase on the home thread a schedule does not notify
 * (bh_enqueue()): nobody waits, and every wait reads the BH list first.
 * The BH still runs in the next pass, by aio_poll(true) (which must not
 * block) and through the GSource; from plain home-thread code, outside a
 * dispatch, a schedule notifies as in QEMU. */
static void test_dispatch_schedule_skips_notify(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = g_main_context_new();
    int runs = 0;
    QEMUBH *counted = aio_bh_new(ctx, count_cb, &runs);
    Chain c = {counted, true, ctx};
    QEMUBH *first = aio_bh_new(ctx, chain_cb, &c);
    QEMUTimer *timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                                     chain_cb, &c);

    /* aio_poll(): a BH's callback, then a timer's. */
    qemu_bh_schedule(first);
    g_assert_true(test_stats(ctx).notified); /* outside a dispatch */
    g_assert_true(aio_poll(ctx, false));
    g_assert_false(c.notified_after);
    g_assert_false(test_stats(ctx).notified);
    g_assert_cmpint(runs, ==, 0);
    g_assert_true(aio_poll(ctx, true)); /* does not block: runs it */
    g_assert_cmpint(runs, ==, 1);

    c.notified_after = true;
    timer_mod_ns(timer, 0);
    aio_notify_accept(ctx);
    g_assert_true(aio_poll(ctx, false)); /* the timer */
    g_assert_false(c.notified_after);
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(runs, ==, 2);

    /* The GSource's dispatch. */
    aio_context_attach(ctx, main, G_PRIORITY_DEFAULT);
    c.notified_after = true;
    qemu_bh_schedule(first);
    aio_notify_accept(ctx); /* (a TRUE prepare skips check(), which would) */
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_false(c.notified_after);
    g_assert_true(g_main_context_iteration(main, TRUE)); /* no block */
    g_assert_cmpint(runs, ==, 3);
    aio_context_detach(ctx);

    timer_free(timer);
    qemu_bh_delete(first);
    qemu_bh_delete(counted);
    g_main_context_unref(main);
    test_ctx_free(ctx);
}

/* A GSource prepared after the context's, whose prepare schedules a BH on
 * it: GLib then waits with the timeout the context's prepare computed. */
typedef struct {
    GSource source;
    QEMUBH *bh;
} SchedulingSource;

static gboolean scheduling_prepare(GSource *source, gint *timeout)
{
    SchedulingSource *s = (SchedulingSource *)source;

    if (s->bh) {
        qemu_bh_schedule(s->bh);
        s->bh = NULL;
    }
    *timeout = -1;
    return FALSE;
}

static gboolean scheduling_dispatch(GSource *source, GSourceFunc cb,
                                    gpointer data)
{
    (void)source;
    (void)cb;
    (void)data;
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs scheduling_funcs = {
    scheduling_prepare, NULL, scheduling_dispatch, NULL, NULL, NULL};

typedef struct {
    GMainContext *main;
    SchedulingSource *sched;
    QEMUBH *target;
    int64_t nested_ns; /* how long the nested iteration took */
} Nested;

static void nested_iteration_cb(void *opaque)
{
    Nested *n = opaque;
    int64_t start = g_get_monotonic_time();

    n->sched->bh = n->target; /* scheduled by the next prepare */
    g_main_context_iteration(n->main, TRUE);
    n->nested_ns = (g_get_monotonic_time() - start) * 1000;
}

static gboolean guard_cb(gpointer data)
{
    (void)data;
    return G_SOURCE_REMOVE;
}

/* From a dispatch-phase callback, a nested iteration of the GMainContext
 * the context is attached to: the context's prepare runs (it may recurse)
 * and reads the BH list, then another source's prepare schedules a BH.
 * That schedule must wake GLib's poll, as in QEMU: `in_dispatch` of the
 * outer dispatch must not make it skip aio_notify(). */
static void test_nested_iteration_prepare_schedule_wakes(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = g_main_context_new();
    int runs = 0;
    QEMUBH *target = aio_bh_new(ctx, count_cb, &runs);
    Nested n = {main, NULL, target, 0};
    QEMUBH *outer = aio_bh_new(ctx, nested_iteration_cb, &n);
    GSource *sched = g_source_new(&scheduling_funcs, sizeof(SchedulingSource));
    GSource *guard = g_timeout_source_new(2000);

    aio_context_attach(ctx, main, G_PRIORITY_DEFAULT);
    /* Same priority, attached later: GLib prepares it after ours. */
    g_source_attach(sched, main);
    g_source_set_callback(guard, guard_cb, NULL, NULL);
    g_source_attach(guard, main);
    n.sched = (SchedulingSource *)sched;

    /* The GSource's dispatch runs `outer`. */
    qemu_bh_schedule(outer);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(n.nested_ns, <, 1000 * 1000 * 1000); /* not the guard */
    g_assert_cmpint(runs, ==, 1);

    /* aio_poll()'s BH phase runs `outer`. */
    n.nested_ns = 0;
    qemu_bh_schedule(outer);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(n.nested_ns, <, 1000 * 1000 * 1000);
    g_assert_cmpint(runs, ==, 2);

    aio_context_detach(ctx);
    g_source_destroy(guard);
    g_source_unref(guard);
    g_source_destroy(sched);
    g_source_unref(sched);
    qemu_bh_delete(outer);
    qemu_bh_delete(target);
    g_main_context_unref(main);
    test_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/notify/sets-notified", test_notify_sets_notified);
    g_test_add_func("/notify/accept-clears-notified",
                    test_accept_clears_notified);
    g_test_add_func("/notify/notified-poll-does-not-block",
                    test_notified_poll_does_not_block);
    g_test_add_func("/notify/notify-me-zero-after-poll",
                    test_notify_me_zero_after_poll);
    g_test_add_func("/notify/notify-me-released-before-callbacks",
                    test_notify_me_released_before_callbacks);
    g_test_add_func("/notify/no-write-when-nobody-waits",
                    test_no_write_when_nobody_waits);
    g_test_add_func("/notify/write-when-gsource-waits",
                    test_write_when_gsource_waits);
    g_test_add_func("/notify/dispatch-schedule-skips-notify",
                    test_dispatch_schedule_skips_notify);
    g_test_add_func("/notify/nested-iteration-prepare-schedule-wakes",
                    test_nested_iteration_prepare_schedule_wakes);

    g_test_add_func("/notify/threads/poll-false-when-only-notified",
                    test_poll_false_when_only_notified);
    g_test_add_func("/notify/threads/wakes-blocking-poll",
                    test_notify_wakes_blocking_poll);
    g_test_add_func("/notify/threads/handler-add-remove",
                    test_threads_handler_add_remove);

    g_test_add_func("/notify/event-notifier/basics",
                    test_event_notifier_basics);
    g_test_add_func("/notify/event-notifier/init-active",
                    test_event_notifier_init_active);
    g_test_add_func("/notify/event-notifier/readable",
                    test_event_notifier_readable);

    return g_test_run();
}
