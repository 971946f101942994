/*
 * test-context.c — the context's life cycle: new/ref/unref, name, home
 * thread, the recursive context lock, the stats of a fresh context,
 * fdmon names, and what finalization releases.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

#include <sys/prctl.h>

static void test_new_unref(void)
{
    AioContext *ctx = test_ctx_new();

    test_ctx_free(ctx);
}

static void test_default_name(void)
{
    GError *err = NULL;
    AioContext *ctx = aio_context_new(NULL, &err);

    g_assert_no_error(err);
    g_assert_nonnull(ctx);
    aio_context_set_leak_handler(ctx, test_leak_record, NULL);
    g_assert_cmpstr(aio_context_get_name(ctx), ==, "aio-context");
    /* aio_context_new() is auto: io_uring, or ppoll where io_uring is
     * turned off (AIOCONTEXT_IO_URING=0) or cannot be set up. */
    if (!test_auto_tries_io_uring()) {
        g_assert_cmpint(test_stats(ctx).fdmon, ==, AIO_FDMON_POLL);
        g_assert_cmpstr(test_stats(ctx).fdmon_fallback_reason, ==,
                        TEST_IO_URING_OFF_REASON);
    } else if (test_ctx_fell_back(ctx)) {
        g_assert_cmpint(test_stats(ctx).fdmon, ==, AIO_FDMON_POLL);
    } else {
        g_assert_cmpint(test_stats(ctx).fdmon, ==, AIO_FDMON_IO_URING);
        g_assert_null(test_stats(ctx).fdmon_fallback_reason);
    }
    test_ctx_free(ctx);
}

/* Creating a context sets its thread's timer slack to 1 ns, as QEMU's clock
 * initialization does; other threads keep theirs. */
static void *slack_of_new_thread(void *arg)
{
    (void)arg;
    return GINT_TO_POINTER(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
}

static void test_timer_slack(void)
{
    AioContext *ctx;
    pthread_t th;
    void *child;

    g_assert_cmpint(prctl(PR_SET_TIMERSLACK, 50000UL, 0, 0, 0), ==, 0);
    g_assert_cmpint(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), ==, 50000);
    ctx = test_ctx_new();
    g_assert_cmpint(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), ==, 1);
    /* A thread created afterwards inherits it. */
    g_assert_cmpint(pthread_create(&th, NULL, slack_of_new_thread, NULL), ==,
                    0);
    g_assert_cmpint(pthread_join(th, &child), ==, 0);
    g_assert_cmpint(GPOINTER_TO_INT(child), ==, 1);
    test_ctx_free(ctx);
}

static void test_name(void)
{
    AioContext *ctx = test_ctx_new_named("io-thread-1");

    g_assert_cmpstr(aio_context_get_name(ctx), ==, "io-thread-1");
    test_ctx_free(ctx);
}

static void test_name_copied(void)
{
    char name[] = "scratch";
    AioContext *ctx = test_ctx_new_named(name);

    name[0] = 'X';
    g_assert_cmpstr(aio_context_get_name(ctx), ==, "scratch");
    test_ctx_free(ctx);
}

static void count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

static void test_ref_unref(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUBH *bh;

    g_assert_true(aio_context_ref(ctx) == ctx);
    g_assert_true(aio_context_ref(ctx) == ctx);
    aio_context_unref(ctx);
    aio_context_unref(ctx);

    /* Still alive and working after dropping the extra references. */
    bh = aio_bh_new(ctx, count_cb, &n);
    qemu_bh_schedule(bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 1);
    qemu_bh_delete(bh);

    test_ctx_free(ctx);
}

static gpointer ref_unref_thread(gpointer opaque)
{
    AioContext *ctx = opaque;

    for (int i = 0; i < 1000; i++) {
        aio_context_ref(ctx);
        aio_context_unref(ctx);
    }
    return NULL;
}

static void test_ref_unref_threads(void)
{
    AioContext *ctx = test_ctx_new();
    GThread *threads[4];

    for (int i = 0; i < 4; i++) {
        threads[i] = g_thread_new("ref-unref", ref_unref_thread, ctx);
    }
    for (int i = 0; i < 4; i++) {
        g_thread_join(threads[i]);
    }
    test_ctx_free(ctx);
}

static gpointer in_home_thread_of(gpointer opaque)
{
    return GINT_TO_POINTER(aio_context_in_home_thread(opaque) ? 1 : 2);
}

static void test_in_home_thread(void)
{
    AioContext *ctx = test_ctx_new();
    GThread *thread;

    g_assert_true(aio_context_in_home_thread(ctx));
    thread = g_thread_new("other", in_home_thread_of, ctx);
    g_assert_cmpint(GPOINTER_TO_INT(g_thread_join(thread)), ==, 2);
    g_assert_true(aio_context_in_home_thread(ctx));

    test_ctx_free(ctx);
}

typedef struct {
    AioContext *ctx;
    TestFlag created;
    TestFlag checked; /* set by the home thread once it has looked */
    bool home_there;
} OtherHome;

static gpointer context_of_other_thread(gpointer opaque)
{
    OtherHome *o = opaque;

    o->ctx = test_ctx_new_named("other-home");
    o->home_there = aio_context_in_home_thread(o->ctx);
    test_flag_set(&o->created, 1);
    g_assert_true(test_flag_wait(&o->checked, 1, TEST_WAIT_MS));
    /* The last reference goes in the home thread. */
    test_ctx_free(o->ctx);
    return NULL;
}

static void test_home_is_creating_thread(void)
{
    OtherHome o = {0};
    GThread *thread;

    test_flag_init(&o.created);
    test_flag_init(&o.checked);
    thread = g_thread_new("creator", context_of_other_thread, &o);
    g_assert_true(test_flag_wait(&o.created, 1, TEST_WAIT_MS));
    g_assert_true(o.home_there);
    g_assert_false(aio_context_in_home_thread(o.ctx));
    test_flag_set(&o.checked, 1);
    g_thread_join(thread);
    test_flag_clear(&o.created);
    test_flag_clear(&o.checked);
}

/* ------------------------------------------------------------------------ */
/* aio_context_acquire / release                                             */
/* ------------------------------------------------------------------------ */

static void test_acquire_recursive(void)
{
    AioContext *ctx = test_ctx_new();

    aio_context_acquire(ctx);
    aio_context_acquire(ctx);
    aio_context_acquire(ctx);
    aio_context_release(ctx);
    aio_context_release(ctx);
    aio_context_release(ctx);

    test_ctx_free(ctx);
}

typedef struct {
    AioContext *ctx;
    TestFlag state; /* 1: about to acquire, 2: acquired, 3: released */
} Contender;

static gpointer contender(gpointer opaque)
{
    Contender *c = opaque;

    test_flag_set(&c->state, 1);
    aio_context_acquire(c->ctx);
    test_flag_set(&c->state, 2);
    aio_context_acquire(c->ctx); /* recursive in this thread too */
    aio_context_release(c->ctx);
    aio_context_release(c->ctx);
    test_flag_set(&c->state, 3);
    return NULL;
}

static void test_acquire_excludes_other_thread(void)
{
    AioContext *ctx = test_ctx_new();
    Contender c = {.ctx = ctx};
    GThread *thread;

    test_flag_init(&c.state);
    aio_context_acquire(ctx);
    aio_context_acquire(ctx);
    thread = g_thread_new("contender", contender, &c);
    g_assert_true(test_flag_wait(&c.state, 1, TEST_WAIT_MS));

    /* Held twice here: the other thread must not get it for a while. */
    g_assert_false(test_flag_wait(&c.state, 2, 100));
    aio_context_release(ctx);
    /* Still held once. */
    g_assert_false(test_flag_wait(&c.state, 2, 50));
    aio_context_release(ctx);
    /* Free now: it gets it (and gives it back) promptly. */
    g_assert_true(test_flag_wait(&c.state, 3, TEST_WAIT_MS));
    g_thread_join(thread);

    /* And it is free for us again. */
    aio_context_acquire(ctx);
    aio_context_release(ctx);

    test_flag_clear(&c.state);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Stats and fdmon                                                           */
/* ------------------------------------------------------------------------ */

static void test_stats_fresh(void)
{
    AioContext *ctx = test_ctx_new();
    AioContextStats st = test_stats(ctx);

    g_assert_cmpuint(st.notify_me, ==, 0);
    g_assert_cmpint(st.poll_ns, ==, 0);
    g_assert_false(st.poll_started);
    g_assert_cmpuint(st.handlers, ==, 0);
    g_assert_cmpuint(st.bhs, ==, 0);
    g_assert_cmpuint(st.timers, ==, 0);
    /* The back end AIOCONTEXT_FDMON asked for. */
    if (!test_ctx_fell_back(ctx)) {
        g_assert_cmpint(st.fdmon, ==,
                        test_fdmon_expected(test_fdmon_request()));
    }

    /* Whatever creation left in `notified`, one pass consumes it. */
    g_assert_false(aio_poll(ctx, false));
    st = test_stats(ctx);
    g_assert_false(st.notified);
    g_assert_cmpuint(st.notify_me, ==, 0);

    test_ctx_free(ctx);
}

static void test_fresh_poll_no_progress(void)
{
    AioContext *ctx = test_ctx_new();

    /* The context's own notifier is registered but never progress. */
    g_assert_false(aio_poll(ctx, false));
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(aio_compute_timeout(ctx), ==, -1);
    g_assert_false(aio_external_disabled(ctx));

    test_ctx_free(ctx);
}

static void test_fdmon_names(void)
{
    g_assert_cmpstr(aio_fdmon_name(AIO_FDMON_POLL), ==, "poll");
    g_assert_cmpstr(aio_fdmon_name(AIO_FDMON_EPOLL), ==, "epoll");
    g_assert_cmpstr(aio_fdmon_name(AIO_FDMON_IO_URING), ==, "io_uring");
}

static void test_poll_params(void)
{
    AioContext *ctx = test_ctx_new();

    aio_context_set_poll_params(ctx, 32768, 0, 0);
    g_assert_cmpint(test_stats(ctx).poll_ns, ==, 0);
    g_assert_false(aio_poll(ctx, false));
    aio_context_set_poll_params(ctx, 0, 0, 0);
    g_assert_cmpint(test_stats(ctx).poll_ns, ==, 0);
    g_assert_false(aio_poll(ctx, false));

    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Finalization                                                              */
/* ------------------------------------------------------------------------ */

static void never_ev(EventNotifier *e)
{
    (void)e;
    g_assert_not_reached();
}

static void test_unref_releases_handlers(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    int fds[2];
    EventNotifier e;

    test_pipe(fds);
    test_write_byte(fds[1]);
    g_assert_cmpint(
        aio_set_fd_handler(ctx, fds[0], false, count_cb, NULL, NULL, NULL, &n),
        ==, 0);
    g_assert_cmpint(event_notifier_init(&e, true), ==, 0);
    g_assert_cmpint(
        aio_set_event_notifier(ctx, &e, false, never_ev, NULL, NULL), ==, 0);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 2);

    /* Never polled: finalization drops the handler without calling it. */
    test_ctx_unref_last(ctx);
    g_assert_cmpint(n, ==, 0);

    event_notifier_cleanup(&e);
    test_close_pair(fds);
}

static void test_unref_frees_scheduled_deleted_bh(void)
{
    AioContext *ctx = test_ctx_new();
    QEMUBH *bh = aio_bh_new(ctx, test_never_called, NULL);

    qemu_bh_schedule(bh);
    qemu_bh_delete(bh);
    /* Scheduled, then deleted, never polled: freed quietly, never run. */
    test_ctx_free(ctx);
}

/* Armed work: each kind alone makes the answer true, and removing it makes
 * it false again; the context's own notifier, an unscheduled BH, an unarmed
 * timer and a deleted BH never count. */
static void test_has_armed_work(void)
{
    AioContext *ctx = test_ctx_new();
    QEMUBH *bh = aio_bh_new(ctx, test_never_called, NULL);
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                                 test_never_called, NULL);
    QEMUTimer *vt = aio_timer_new(ctx, QEMU_CLOCK_VIRTUAL, SCALE_NS,
                                  test_never_called, NULL);
    int fds[2];
    EventNotifier e;

    g_assert_false(aio_context_has_armed_work(ctx));

    qemu_bh_schedule(bh);
    g_assert_true(aio_context_has_armed_work(ctx));
    qemu_bh_cancel(bh);
    g_assert_false(aio_context_has_armed_work(ctx));
    qemu_bh_schedule_idle(bh);
    g_assert_true(aio_context_has_armed_work(ctx));
    qemu_bh_cancel(bh);

    timer_mod(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) / SCALE_MS + 60000);
    g_assert_true(aio_context_has_armed_work(ctx));
    timer_del(t);
    g_assert_false(aio_context_has_armed_work(ctx));

    /* A stopped virtual clock never gets there, yet the timer is armed. */
    qemu_clock_virtual_stop();
    timer_mod_ns(vt, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) + 1000);
    g_assert_true(aio_context_has_armed_work(ctx));
    g_assert_cmpint(aio_compute_timeout(ctx), ==, -1);
    timer_del(vt);
    qemu_clock_virtual_resume();
    g_assert_false(aio_context_has_armed_work(ctx));

    test_pipe(fds);
    g_assert_cmpint(aio_set_fd_handler(ctx, fds[0], false, test_never_called,
                                       NULL, NULL, NULL, NULL),
                    ==, 0);
    g_assert_true(aio_context_has_armed_work(ctx));
    test_remove_fd(ctx, fds[0]);
    g_assert_false(aio_context_has_armed_work(ctx));

    g_assert_cmpint(event_notifier_init(&e, false), ==, 0);
    g_assert_cmpint(
        aio_set_event_notifier(ctx, &e, false, never_ev, NULL, NULL), ==, 0);
    g_assert_true(aio_context_has_armed_work(ctx));
    g_assert_cmpint(aio_set_event_notifier(ctx, &e, false, NULL, NULL, NULL),
                    ==, 0);
    g_assert_false(aio_context_has_armed_work(ctx));

    qemu_bh_schedule(bh);
    qemu_bh_delete(bh);
    g_assert_false(aio_context_has_armed_work(ctx));

    timer_free(t);
    timer_free(vt);
    event_notifier_cleanup(&e);
    test_close_pair(fds);
    test_ctx_free(ctx);
}

/* Home thread only: the BH lists it reads are the home thread's (a pass
 * keeps its slice on the home thread's stack and frees deleted BHs), so
 * another thread walking them raced with aio_poll() (ThreadSanitizer saw
 * it; a plain build could follow a dead stack frame).  From another thread
 * it now refuses, with a critical, and touches nothing. */
static gpointer armed_work_from_thread(gpointer opaque)
{
    return GINT_TO_POINTER(aio_context_has_armed_work(opaque) ? 1 : 2);
}

static void test_has_armed_work_other_thread(void)
{
    if (g_test_subprocess()) {
        AioContext *ctx = test_ctx_new();
        QEMUBH *bh = aio_bh_new(ctx, test_never_called, NULL);
        GThread *thread;

        qemu_bh_schedule(bh);
        g_log_set_always_fatal(G_LOG_FATAL_MASK); /* reach the end */
        thread = g_thread_new("armed-work", armed_work_from_thread, ctx);
        g_assert_cmpint(GPOINTER_TO_INT(g_thread_join(thread)), ==, 2);
        g_assert_true(aio_context_has_armed_work(ctx));
        qemu_bh_delete(bh);
        test_ctx_free(ctx);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("*aio_context_in_home_thread*");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/context/new-unref", test_new_unref);
    g_test_add_func("/context/default-name", test_default_name);
    g_test_add_func("/context/name", test_name);
    g_test_add_func("/context/timer-slack", test_timer_slack);
    g_test_add_func("/context/name-copied", test_name_copied);
    g_test_add_func("/context/ref-unref", test_ref_unref);
    g_test_add_func("/context/ref-unref-threads", test_ref_unref_threads);
    g_test_add_func("/context/in-home-thread", test_in_home_thread);
    g_test_add_func("/context/home-is-creating-thread",
                    test_home_is_creating_thread);
    g_test_add_func("/context/acquire/recursive", test_acquire_recursive);
    g_test_add_func("/context/acquire/excludes-other-thread",
                    test_acquire_excludes_other_thread);
    g_test_add_func("/context/stats-fresh", test_stats_fresh);
    g_test_add_func("/context/fresh-poll-no-progress",
                    test_fresh_poll_no_progress);
    g_test_add_func("/context/fdmon-names", test_fdmon_names);
    g_test_add_func("/context/poll-params", test_poll_params);
    g_test_add_func("/context/has-armed-work", test_has_armed_work);
    g_test_add_func("/context/has-armed-work/other-thread",
                    test_has_armed_work_other_thread);
    g_test_add_func("/context/unref-releases-handlers",
                    test_unref_releases_handlers);
    g_test_add_func("/context/unref-frees-deleted-bh",
                    test_unref_frees_scheduled_deleted_bh);

    return g_test_run();
}
