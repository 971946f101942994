/*
 * test-gsource.c — the context as a GSource: the prepare/check/dispatch
 * states seen by stepping a GMainContext by hand, timeouts, the extra
 * iteration after a notify during dispatch, dispatch order, attach and
 * detach, priorities, lifetime, and mixing aio_poll() with GLib
 * iterations.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

static void count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

/*
 * One GMainContext iteration split into its steps, so that the tests can
 * look at the context between them.
 */
typedef struct {
    GMainContext *main;
    gint prio;
    gint timeout;
    GPollFD fds[32];
    gint nfds;
} Step;

/* Acquires @main and runs prepare.  Returns: what prepare returned. */
static gboolean step_prepare(Step *s, GMainContext *main)
{
    memset(s, 0, sizeof(*s));
    s->main = main;
    g_assert_true(g_main_context_acquire(main));
    return g_main_context_prepare(main, &s->prio);
}

/* Runs query.  Returns: the timeout GLib would poll with (ms). */
static gint step_query(Step *s)
{
    s->nfds = g_main_context_query(s->main, s->prio, &s->timeout, s->fds,
                                   G_N_ELEMENTS(s->fds));
    g_assert_cmpint(s->nfds, <=, (gint)G_N_ELEMENTS(s->fds));
    return s->timeout;
}

/* Polls the queried fds without waiting, then runs check.
 * Returns: what check returned. */
static gboolean step_check(Step *s)
{
    for (int i = 0; i < s->nfds; i++) {
        s->fds[i].revents = 0;
    }
    g_assert_cmpint(g_poll(s->fds, s->nfds, 0), >=, 0);
    return g_main_context_check(s->main, s->prio, s->fds, s->nfds);
}

/* Dispatches and releases @main. */
static void step_dispatch(Step *s)
{
    g_main_context_dispatch(s->main);
    g_main_context_release(s->main);
}

/* ------------------------------------------------------------------------ */
/* prepare / check                                                           */
/* ------------------------------------------------------------------------ */

static void test_prepare_sets_bit0(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    Step s;

    g_assert_cmpuint(test_stats(ctx).notify_me, ==, 0);
    g_assert_false(step_prepare(&s, main));
    g_assert_cmpuint(test_stats(ctx).notify_me, ==, 1);
    g_assert_cmpint(step_query(&s), ==, -1);
    g_assert_cmpuint(test_stats(ctx).notify_me, ==, 1);
    g_assert_false(step_check(&s));
    step_dispatch(&s);

    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_check_clears_bit0_and_notified(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    AioContextStats st;
    Step s;

    g_assert_false(step_prepare(&s, main));
    step_query(&s);
    /* Someone waits (bit 0): the notify writes the event notifier. */
    aio_notify(ctx);
    g_assert_true(test_stats(ctx).notified);
    /* The readable notifier makes check report the source ready. */
    g_assert_true(step_check(&s));
    st = test_stats(ctx);
    g_assert_cmpuint(st.notify_me, ==, 0);
    g_assert_false(st.notified);
    step_dispatch(&s);

    g_assert_false(g_main_context_iteration(main, FALSE));

    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_prepare_true_when_bh_scheduled(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);
    Step s;

    qemu_bh_schedule(bh);
    g_assert_true(step_prepare(&s, main));
    g_assert_cmpint(step_query(&s), ==, 0);
    g_assert_true(step_check(&s));
    /* GLib skips check for a source whose prepare returned TRUE: bit 0
     * is still set when dispatch starts. */
    g_assert_cmpuint(test_stats(ctx).notify_me, ==, 1);
    step_dispatch(&s);
    g_assert_cmpint(n, ==, 1);
    /* Dispatch cleared it (QEMU: the next iteration's check does). */
    g_assert_cmpuint(test_stats(ctx).notify_me, ==, 0);

    g_assert_false(g_main_context_iteration(main, FALSE));
    g_assert_cmpuint(test_stats(ctx).notify_me, ==, 0);

    qemu_bh_delete(bh);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_prepare_idle_bh_timeout(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);
    Step s;

    qemu_bh_schedule_idle(bh);
    g_assert_false(step_prepare(&s, main));
    g_assert_cmpint(step_query(&s), ==, 10);
    /* check counts idle BHs as ready. */
    g_assert_true(step_check(&s));
    step_dispatch(&s);
    g_assert_cmpint(n, ==, 1);

    qemu_bh_delete(bh);
    test_main_drain(main);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

/* Returns: @ns rounded up to whole ms. */
static gint64 ceil_ms(gint64 ns)
{
    return ns <= 0 ? 0 : (ns + SCALE_MS - 1) / SCALE_MS;
}

static void test_timeout_rounded_up(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    int n = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                                 &n);
    gint64 before, after, expiry;
    gint timeout;
    Step s;

    /* Arming notifies, but with nobody waiting (notify_me 0) that only
     * sets `notified`, which prepare does not look at.  On a machine so
     * loaded that the 1.5 ms pass before prepare, prepare rightly says
     * the timer expired: try again (bounded). */
    for (int attempt = 0;; attempt++) {
        g_assert_cmpint(attempt, <, 20);
        expiry = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + 1500 * SCALE_US;
        timer_mod_ns(t, expiry);
        before = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
        if (!step_prepare(&s, main)) {
            break;
        }
        g_assert_cmpint(qemu_clock_get_ns(QEMU_CLOCK_REALTIME), >=, expiry);
        step_query(&s);
        step_check(&s);
        step_dispatch(&s);
        test_main_drain(main);
    }
    after = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    timeout = step_query(&s);
    /* The remaining time lay between expiry - after and expiry - before;
     * rounding up gives the ceiling of one of them.  With the usual
     * speed that is 2 ms for the 1.5 ms timer; rounding down would give
     * 1 and fail here. */
    g_test_message("timeout %d ms, remaining %" G_GINT64_FORMAT
                   "..%" G_GINT64_FORMAT " ns",
                   timeout, expiry - after, expiry - before);
    if (expiry - after > 0) {
        g_assert_cmpint(timeout, >=, ceil_ms(expiry - after));
        g_assert_cmpint(timeout, <=, ceil_ms(expiry - before));
        if (ceil_ms(expiry - after) == 2) {
            g_assert_cmpint(timeout, ==, 2);
        }
    }
    step_check(&s);
    step_dispatch(&s);

    timer_free(t);
    test_main_drain(main);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_timeout_infinite_when_idle(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    Step s;

    g_assert_false(step_prepare(&s, main));
    g_assert_cmpint(step_query(&s), ==, -1);
    g_assert_false(step_check(&s));
    step_dispatch(&s);

    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_prepare_true_when_timer_expired(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    int n = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                                 &n);
    Step s;

    timer_mod_ns(t, 1);
    g_assert_true(step_prepare(&s, main));
    g_assert_cmpint(step_query(&s), ==, 0);
    step_check(&s);
    step_dispatch(&s);
    g_assert_cmpint(n, ==, 1);

    timer_free(t);
    test_main_drain(main);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* The extra iteration                                                       */
/* ------------------------------------------------------------------------ */

typedef struct {
    AioContext *ctx;
    int n;
} NotifyFromCb;

static void notify_from_cb(void *opaque)
{
    NotifyFromCb *d = opaque;

    d->n++;
    aio_notify(d->ctx);
}

static void test_no_extra_iteration_after_notify_in_dispatch(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    NotifyFromCb d = {.ctx = ctx};
    QEMUBH *bh = aio_bh_new(ctx, notify_from_cb, &d);

    qemu_bh_schedule(bh);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(d.n, ==, 1);
    /* prepare returned TRUE, so GLib skipped check; dispatch cleared bit 0
     * before running the callback, so its notify wrote nothing and no
     * extra iteration follows, whatever the fd monitor.  (QEMU: the bit
     * was still set, the eventfd was written, and with ppoll the next
     * iteration dispatched once more to drain it.) */
    test_main_no_extra_iteration(ctx, main);
    g_assert_cmpint(d.n, ==, 1);

    /* The same notify from aio_poll() instead of GLib: no waiter bit, no
     * write, no extra iteration. */
    qemu_bh_schedule(bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 2);
    g_assert_false(g_main_context_iteration(main, FALSE));

    qemu_bh_delete(bh);
    test_main_drain(main);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    GString *log;
    int fd;
} OrderData;

static void order_bh(void *opaque)
{
    g_string_append_c(((OrderData *)opaque)->log, 'B');
}

static void order_fd(void *opaque)
{
    OrderData *o = opaque;

    g_string_append_c(o->log, 'F');
    test_read_all(o->fd);
}

static void order_timer(void *opaque)
{
    g_string_append_c(((OrderData *)opaque)->log, 'T');
}

static void test_dispatch_order(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    OrderData o = {g_string_new(NULL), -1};
    QEMUBH *bh = aio_bh_new(ctx, order_bh, &o);
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                                 order_timer, &o);
    int fds[2];

    test_pipe(fds);
    o.fd = fds[0];
    g_assert_cmpint(
        aio_set_fd_handler(ctx, fds[0], false, order_fd, NULL, NULL, NULL, &o),
        ==, 0);
    test_main_drain(main);

    timer_mod_ns(t, 1);
    test_write_byte(fds[1]);
    qemu_bh_schedule(bh);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpstr(o.log->str, ==, "BFT");

    test_remove_fd(ctx, fds[0]);
    test_close_pair(fds);
    qemu_bh_delete(bh);
    timer_free(t);
    test_main_drain(main);
    g_string_free(o.log, TRUE);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_fd_handler_dispatch(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    OrderData o = {g_string_new(NULL), -1};
    int fds[2];

    test_pipe(fds);
    o.fd = fds[0];
    g_assert_cmpint(
        aio_set_fd_handler(ctx, fds[0], false, order_fd, NULL, NULL, NULL, &o),
        ==, 0);
    test_main_drain(main);
    g_assert_cmpstr(o.log->str, ==, "");

    /* A blocking iteration waits for the fd. */
    test_write_byte(fds[1]);
    g_assert_true(g_main_context_iteration(main, TRUE));
    g_assert_cmpstr(o.log->str, ==, "F");
    test_main_drain(main);
    g_assert_cmpstr(o.log->str, ==, "F");

    test_remove_fd(ctx, fds[0]);
    test_close_pair(fds);
    test_main_drain(main);
    g_string_free(o.log, TRUE);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Attach, detach, priority, lifetime                                        */
/* ------------------------------------------------------------------------ */

static void test_attach_detach_attach(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = g_main_context_new();
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);
    int id1, id2;

    g_assert_cmpuint(aio_context_source_id(ctx), ==, 0);
    id1 = aio_context_attach(ctx, main, G_PRIORITY_DEFAULT);
    g_assert_cmpint(id1, >, 0);
    g_assert_cmpuint(aio_context_source_id(ctx), ==, (guint)id1);
    g_assert_cmpint(aio_context_attach(ctx, main, G_PRIORITY_DEFAULT), ==,
                    -EBUSY);
    g_assert_cmpuint(aio_context_source_id(ctx), ==, (guint)id1);
    g_assert_nonnull(g_main_context_find_source_by_id(main, id1));

    aio_context_detach(ctx);
    g_assert_cmpuint(aio_context_source_id(ctx), ==, 0);
    g_assert_null(g_main_context_find_source_by_id(main, id1));
    /* Detaching twice is harmless. */
    aio_context_detach(ctx);

    id2 = aio_context_attach(ctx, main, G_PRIORITY_DEFAULT);
    g_assert_cmpint(id2, >, 0);
    g_assert_cmpint(id2, !=, id1);
    g_assert_cmpuint(aio_context_source_id(ctx), ==, (guint)id2);

    /* The new source runs the same context. */
    test_main_drain(main);
    qemu_bh_schedule(bh);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(n, ==, 1);

    qemu_bh_delete(bh);
    test_main_drain(main);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

/* Re-attaching: the new source may sit at the freed one's address; the
 * fds (each handler's, or the back end's own) must still go into it.
 * Every round writes one byte and must see it read; a watchdog timeout in
 * @main stops a blocking iteration that would otherwise sleep forever. */
typedef struct {
    int fd;
    int n;
} ReadCount;

static void read_count_cb(void *opaque)
{
    ReadCount *r = opaque;

    g_assert_cmpuint(test_read_all(r->fd), ==, 1);
    r->n++;
}

static gboolean watchdog_cb(gpointer opaque)
{
    *(gboolean *)opaque = TRUE;
    return G_SOURCE_REMOVE;
}

static void test_reattach_keeps_fds(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = g_main_context_new();
    ReadCount r = {0};
    int fds[2];

    test_pipe(fds);
    r.fd = fds[0];
    g_assert_cmpint(aio_set_fd_handler(ctx, fds[0], false, read_count_cb, NULL,
                                       NULL, NULL, &r),
                    ==, 0);
    g_assert_cmpint(aio_context_attach(ctx, main, G_PRIORITY_DEFAULT), >, 0);
    test_main_drain(main);
    for (int round = 0; round < 300; round++) {
        gboolean fired = FALSE;
        GSource *watchdog = g_timeout_source_new(TEST_WAIT_MS);

        aio_context_detach(ctx);
        g_assert_cmpint(aio_context_attach(ctx, main, G_PRIORITY_DEFAULT), >,
                        0);
        test_write_byte(fds[1]);
        g_source_set_callback(watchdog, watchdog_cb, &fired, NULL);
        g_source_attach(watchdog, main);
        /* Odd rounds: one non-blocking iteration first, as the JS repro
         * does; then block (bounded by the watchdog) until the read. */
        if (round % 2) {
            g_main_context_iteration(main, FALSE);
        }
        while (r.n == round && !fired) {
            g_main_context_iteration(main, TRUE);
        }
        g_source_destroy(watchdog);
        g_source_unref(watchdog);
        if (fired) {
            g_test_message("round %d: the byte was never read", round);
        }
        g_assert_false(fired);
        g_assert_cmpint(r.n, ==, round + 1);
    }

    g_assert_cmpint(
        aio_set_fd_handler(ctx, fds[0], false, NULL, NULL, NULL, NULL, NULL),
        ==, 0);
    test_main_drain(main);
    test_detach(ctx, main);
    test_close_pair(fds);
    test_ctx_free(ctx);
}

/* An iteration returns TRUE only when a callback ran: removing a handler
 * (on io_uring, a POLL_REMOVE and a cancelled POLL_ADD whose completions
 * make the ring fd readable) runs none.  QEMU's /aio-gsource/flush. */
static void test_removal_is_not_dispatch(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    ReadCount r = {0};
    int fds[2];

    test_pipe(fds);
    r.fd = fds[0];
    for (int round = 0; round < 20; round++) {
        g_assert_cmpint(aio_set_fd_handler(ctx, fds[0], false, read_count_cb,
                                           NULL, NULL, NULL, &r),
                        ==, 0);
        test_main_drain(main);
        test_write_byte(fds[1]);
        while (r.n == round) {
            g_assert_true(g_main_context_iteration(main, TRUE));
        }
        test_main_drain(main);
        g_assert_cmpint(aio_set_fd_handler(ctx, fds[0], false, NULL, NULL, NULL,
                                           NULL, NULL),
                        ==, 0);
        for (int i = 0; i < 5; i++) {
            g_assert_false(g_main_context_iteration(main, FALSE));
        }
        g_assert_cmpint(r.n, ==, round + 1);
    }
    test_detach(ctx, main);
    test_close_pair(fds);
    test_ctx_free(ctx);
}

static void test_attach_default_main_context(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);
    int id = aio_context_attach(ctx, NULL, G_PRIORITY_DEFAULT);

    g_assert_cmpint(id, >, 0);
    g_assert_nonnull(g_main_context_find_source_by_id(NULL, id));
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    qemu_bh_schedule(bh);
    g_assert_true(g_main_context_iteration(NULL, FALSE));
    g_assert_cmpint(n, ==, 1);

    qemu_bh_delete(bh);
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    aio_context_detach(ctx);
    test_ctx_free(ctx);
}

static void test_detach_clears_bit0(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);
    Step s;

    /* prepare TRUE → check skipped → bit 0 still set; dispatch (which
     * would clear it) has not run yet when the context is detached. */
    qemu_bh_schedule(bh);
    g_assert_true(step_prepare(&s, main));
    step_query(&s);
    step_check(&s);
    g_assert_cmpuint(test_stats(ctx).notify_me, ==, 1);

    aio_context_detach(ctx);
    g_assert_cmpuint(test_stats(ctx).notify_me, ==, 0);
    step_dispatch(&s); /* a destroyed source is not dispatched */
    g_assert_cmpint(n, ==, 0);
    /* aio_poll() works on alone. */
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 1);

    qemu_bh_delete(bh);
    g_main_context_unref(main);
    test_ctx_free(ctx);
}

typedef struct {
    int n;
} IdleData;

static gboolean idle_once(gpointer opaque)
{
    ((IdleData *)opaque)->n++;
    return G_SOURCE_REMOVE;
}

/* @aio_prio is the context's priority; an idle source at DEFAULT
 * competes.  Returns after one iteration with both ready, telling which
 * ran. */
static void priority_round(int aio_prio, int *bh_runs, int *idle_runs)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach_prio(ctx, aio_prio);
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);
    IdleData idle = {0};
    GSource *src = g_idle_source_new();

    g_assert_cmpint(g_source_get_priority(g_main_context_find_source_by_id(
                        main, aio_context_source_id(ctx))),
                    ==, aio_prio);
    g_source_set_priority(src, G_PRIORITY_DEFAULT);
    g_source_set_callback(src, idle_once, &idle, NULL);
    g_source_attach(src, main);
    g_source_unref(src);

    qemu_bh_schedule(bh);
    g_assert_true(g_main_context_iteration(main, FALSE));
    *bh_runs = n;
    *idle_runs = idle.n;

    /* Both run eventually. */
    test_main_drain(main);
    g_assert_cmpint(n, ==, 1);
    g_assert_cmpint(idle.n, ==, 1);

    qemu_bh_delete(bh);
    test_main_drain(main);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_priority(void)
{
    int bh_runs, idle_runs;

    /* Higher priority (lower number) than the idle source: only we run. */
    priority_round(G_PRIORITY_HIGH, &bh_runs, &idle_runs);
    g_assert_cmpint(bh_runs, ==, 1);
    g_assert_cmpint(idle_runs, ==, 0);

    /* Lower priority: only the idle source runs in the first iteration. */
    priority_round(G_PRIORITY_LOW, &bh_runs, &idle_runs);
    g_assert_cmpint(bh_runs, ==, 0);
    g_assert_cmpint(idle_runs, ==, 1);
}

static void test_source_properties(void)
{
    AioContext *ctx = test_ctx_new_named("my-loop");
    GSource *src = aio_get_g_source(ctx);
    GSource *again = aio_get_g_source(ctx);

    g_assert_nonnull(src);
    /* The same live source, one more reference each time. */
    g_assert_true(src == again);
    g_source_unref(again);
    g_assert_cmpstr(g_source_get_name(src), ==, "my-loop");
    g_assert_true(g_source_get_can_recurse(src));
    g_source_unref(src);

    test_ctx_free(ctx);
}

static void test_source_keeps_context_alive(void)
{
    AioContext *ctx = test_ctx_new();
    GSource *src = aio_get_g_source(ctx);
    gboolean finalized = FALSE;
    QEMUBH *canary = aio_bh_new_full(ctx, test_never_called, &finalized,
                                     "keepalive-canary", test_set_flag);

    qemu_bh_delete(canary);
    g_string_truncate(test_leaks(), 0);
    /* Our reference goes; the source's keeps the context. */
    aio_context_unref(ctx);
    g_assert_false(finalized);
    g_assert_cmpstr(aio_context_get_name(ctx), ==, "test");
    /* The last reference goes with the source. */
    g_source_unref(src);
    g_assert_true(finalized);
    g_assert_cmpstr(test_leaks()->str, ==, "");
}

static void test_new_source_after_detach(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    GSource *first = aio_get_g_source(ctx);
    GSource *second;

    g_assert_cmpuint(g_source_get_id(first), ==, aio_context_source_id(ctx));
    aio_context_detach(ctx);
    g_assert_true(g_source_is_destroyed(first));
    second = aio_get_g_source(ctx);
    g_assert_false(g_source_is_destroyed(second));
    g_assert_true(first != second);
    g_source_unref(first);
    g_source_unref(second);

    g_main_context_unref(main);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Mixing drivers; threads                                                   */
/* ------------------------------------------------------------------------ */

static void test_poll_and_iteration_in_turn(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);
    OrderData o = {g_string_new(NULL), -1};
    int fds[2];

    test_pipe(fds);
    o.fd = fds[0];
    g_assert_cmpint(
        aio_set_fd_handler(ctx, fds[0], false, order_fd, NULL, NULL, NULL, &o),
        ==, 0);
    test_main_drain(main);
    test_drain(ctx);

    for (int i = 1; i <= 10; i++) {
        qemu_bh_schedule(bh);
        test_write_byte(fds[1]);
        if (i % 2) {
            g_assert_true(aio_poll(ctx, false));
        } else {
            g_assert_true(g_main_context_iteration(main, FALSE));
        }
        g_assert_cmpint(n, ==, i);
        g_assert_cmpuint(o.log->len, ==, (guint)i);
        test_drain(ctx);
        test_main_drain(main);
        g_assert_cmpint(n, ==, i);
        g_assert_cmpuint(o.log->len, ==, (guint)i);
    }

    test_remove_fd(ctx, fds[0]);
    test_close_pair(fds);
    qemu_bh_delete(bh);
    test_main_drain(main);
    g_string_free(o.log, TRUE);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

typedef struct {
    AioContext *ctx;
    int reads;
} PauseData;

static void pause_external_bh(void *opaque)
{
    aio_disable_external(((PauseData *)opaque)->ctx);
}

static void count_read(void *opaque)
{
    ((PauseData *)opaque)->reads++;
}

/* Attached, a BH that pauses external handlers makes GLib poll each fd
 * (g_source_add_poll() zeroes the GPollFD's revents); the readiness this
 * aio_poll() already collected must survive it (a fuzzer's finding). */
static void test_pause_external_keeps_ready_fd(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    PauseData d = {ctx, 0};
    QEMUBH *bh = aio_bh_new(ctx, pause_external_bh, &d);
    int fds[2];

    test_pipe(fds);
    test_main_drain(main);
    test_write_byte(fds[1]);
    g_assert_cmpint(aio_set_fd_handler(ctx, fds[0], false, count_read, NULL,
                                       NULL, NULL, &d),
                    ==, 0);
    qemu_bh_schedule(bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.reads, ==, 1);
    g_assert_true(aio_external_disabled(ctx));

    /* Still readable and not external: every later call dispatches it. */
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.reads, ==, 2);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(d.reads, ==, 3);

    g_assert_true(aio_enable_external(ctx));
    g_assert_cmpuint(test_read_all(fds[0]), ==, 1);
    test_remove_fd(ctx, fds[0]);
    test_close_pair(fds);
    qemu_bh_delete(bh);
    test_main_drain(main);
    test_detach(ctx, main);
    test_ctx_free(ctx);
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

static void test_blocking_iteration_woken_by_thread(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    int n = 0;
    LateSchedule l;
    GThread *thread;
    gint64 deadline = test_deadline_ms(TEST_WAIT_MS);

    l.bh = aio_bh_new(ctx, count_cb, &n);
    test_flag_init(&l.started);
    thread = g_thread_new("late-schedule", late_schedule, &l);
    g_assert_true(test_flag_wait(&l.started, 1, TEST_WAIT_MS));
    while (n == 0) {
        test_check_deadline(deadline, "the BH scheduled by another thread");
        g_main_context_iteration(main, TRUE);
    }
    g_assert_cmpint(n, ==, 1);
    g_thread_join(thread);

    test_flag_clear(&l.started);
    qemu_bh_delete(l.bh);
    test_main_drain(main);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/gsource/prepare-sets-bit0", test_prepare_sets_bit0);
    g_test_add_func("/gsource/check-clears-bit0-and-notified",
                    test_check_clears_bit0_and_notified);
    g_test_add_func("/gsource/prepare-true-when-bh-scheduled",
                    test_prepare_true_when_bh_scheduled);
    g_test_add_func("/gsource/prepare-true-when-timer-expired",
                    test_prepare_true_when_timer_expired);
    g_test_add_func("/gsource/timeout/idle-bh-10ms",
                    test_prepare_idle_bh_timeout);
    g_test_add_func("/gsource/timeout/rounded-up", test_timeout_rounded_up);
    g_test_add_func("/gsource/timeout/infinite-when-idle",
                    test_timeout_infinite_when_idle);
    g_test_add_func("/gsource/no-extra-iteration-after-notify-in-dispatch",
                    test_no_extra_iteration_after_notify_in_dispatch);
    g_test_add_func("/gsource/dispatch-order", test_dispatch_order);
    g_test_add_func("/gsource/fd-handler", test_fd_handler_dispatch);
    g_test_add_func("/gsource/attach-detach-attach", test_attach_detach_attach);
    g_test_add_func("/gsource/reattach-keeps-fds", test_reattach_keeps_fds);
    g_test_add_func("/gsource/removal-is-not-dispatch",
                    test_removal_is_not_dispatch);
    g_test_add_func("/gsource/attach-default-main-context",
                    test_attach_default_main_context);
    g_test_add_func("/gsource/detach-clears-bit0", test_detach_clears_bit0);
    g_test_add_func("/gsource/priority", test_priority);
    g_test_add_func("/gsource/source-properties", test_source_properties);
    g_test_add_func("/gsource/source-keeps-context-alive",
                    test_source_keeps_context_alive);
    g_test_add_func("/gsource/new-source-after-detach",
                    test_new_source_after_detach);
    g_test_add_func("/gsource/pause-external-keeps-ready-fd",
                    test_pause_external_keeps_ready_fd);
    g_test_add_func("/gsource/poll-and-iteration-in-turn",
                    test_poll_and_iteration_in_turn);
    g_test_add_func("/gsource/threads/blocking-iteration-woken",
                    test_blocking_iteration_woken_by_thread);

    return g_test_run();
}
