/*
 * test-bh.c — bottom halves: scheduling, cancelling, deleting, order,
 * nesting, oneshot and idle BHs, destroy notifies, leak reports, and
 * scheduling from several threads at once.
 *
 * The /bh/schedule … /bh/flush cases follow the expectations (counts and
 * return values) of QEMU's tests/unit/test-aio.c, first driven by
 * aio_poll() and then (/bh/gsource/…) by a GMainContext.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

/* A BH that re-schedules itself until it has run @max times. */
typedef struct {
    QEMUBH *bh;
    int n;
    int max;
} Counter;

static void counter_cb(void *opaque)
{
    Counter *c = opaque;

    if (++c->n < c->max) {
        qemu_bh_schedule(c->bh);
    }
}

/* Like counter_cb, but deletes its own BH after the last run. */
static void counter_delete_cb(void *opaque)
{
    Counter *c = opaque;

    if (++c->n < c->max) {
        qemu_bh_schedule(c->bh);
    } else {
        qemu_bh_delete(c->bh);
        c->bh = NULL;
    }
}

static void count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

/* ------------------------------------------------------------------------ */
/* Driven by aio_poll()                                                      */
/* ------------------------------------------------------------------------ */

static void test_schedule(void)
{
    AioContext *ctx = test_ctx_new();
    Counter c = {0};

    c.bh = aio_bh_new(ctx, counter_cb, &c);
    qemu_bh_schedule(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(c.n, ==, 1);

    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(c.n, ==, 1);

    qemu_bh_delete(c.bh);
    test_ctx_free(ctx);
}

static void test_schedule10(void)
{
    AioContext *ctx = test_ctx_new();
    Counter c = {.max = 10};

    c.bh = aio_bh_new(ctx, counter_cb, &c);
    qemu_bh_schedule(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(c.n, ==, 1);

    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(c.n, ==, 2);

    TEST_POLL_UNTIL(ctx, c.n >= 10);
    g_assert_cmpint(c.n, ==, 10);

    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(c.n, ==, 10);

    qemu_bh_delete(c.bh);
    test_ctx_free(ctx);
}

static void test_cancel(void)
{
    AioContext *ctx = test_ctx_new();
    Counter c = {0};

    c.bh = aio_bh_new(ctx, counter_cb, &c);
    qemu_bh_schedule(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    qemu_bh_cancel(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(c.n, ==, 0);

    qemu_bh_delete(c.bh);
    test_ctx_free(ctx);
}

static void test_delete(void)
{
    AioContext *ctx = test_ctx_new();
    Counter c = {0};

    c.bh = aio_bh_new(ctx, counter_cb, &c);
    qemu_bh_schedule(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    qemu_bh_delete(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(c.n, ==, 0);
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 0);

    test_ctx_free(ctx);
}

static void test_delete_from_cb(void)
{
    AioContext *ctx = test_ctx_new();
    Counter c = {.max = 1};

    c.bh = aio_bh_new(ctx, counter_delete_cb, &c);
    qemu_bh_schedule(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    TEST_POLL_UNTIL(ctx, c.n >= c.max);
    g_assert_cmpint(c.n, ==, c.max);
    g_assert_null(c.bh);

    /* This pass frees the BH deleted by its own callback: no progress. */
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 0);

    test_ctx_free(ctx);
}

static void test_delete_from_cb_many(void)
{
    AioContext *ctx = test_ctx_new();
    Counter c[4] = {
        {.max = 1},
        {.max = 3},
        {.max = 2},
        {.max = 4},
    };

    for (int i = 0; i < 4; i++) {
        c[i].bh = aio_bh_new(ctx, counter_delete_cb, &c[i]);
    }
    for (int i = 0; i < 4; i++) {
        qemu_bh_schedule(c[i].bh);
    }
    for (int i = 0; i < 4; i++) {
        g_assert_cmpint(c[i].n, ==, 0);
    }

    g_assert_true(aio_poll(ctx, false));
    for (int i = 0; i < 4; i++) {
        g_assert_cmpint(c[i].n, ==, 1);
    }
    g_assert_null(c[0].bh);

    TEST_POLL_UNTIL(ctx, c[0].n >= c[0].max && c[1].n >= c[1].max &&
                             c[2].n >= c[2].max && c[3].n >= c[3].max);
    for (int i = 0; i < 4; i++) {
        g_assert_cmpint(c[i].n, ==, c[i].max);
        g_assert_null(c[i].bh);
    }

    test_drain(ctx);
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 0);
    test_ctx_free(ctx);
}

static void test_flush(void)
{
    AioContext *ctx = test_ctx_new();
    Counter c = {0};

    c.bh = aio_bh_new(ctx, counter_cb, &c);
    qemu_bh_schedule(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(c.n, ==, 1);

    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(c.n, ==, 1);

    qemu_bh_delete(c.bh);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Driven by a GMainContext                                                  */
/* ------------------------------------------------------------------------ */

static void test_gsource_schedule(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    Counter c = {0};

    c.bh = aio_bh_new(ctx, counter_cb, &c);
    qemu_bh_schedule(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    g_assert_true(g_main_context_iteration(main, TRUE));
    g_assert_cmpint(c.n, ==, 1);

    g_assert_false(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(c.n, ==, 1);

    qemu_bh_delete(c.bh);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_gsource_schedule10(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    Counter c = {.max = 10};

    c.bh = aio_bh_new(ctx, counter_cb, &c);
    qemu_bh_schedule(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(c.n, ==, 1);

    g_assert_true(g_main_context_iteration(main, TRUE));
    g_assert_cmpint(c.n, ==, 2);

    test_main_drain(main);
    g_assert_cmpint(c.n, ==, 10);

    g_assert_false(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(c.n, ==, 10);

    qemu_bh_delete(c.bh);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_gsource_cancel(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    Counter c = {0};

    c.bh = aio_bh_new(ctx, counter_cb, &c);
    qemu_bh_schedule(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    qemu_bh_cancel(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    test_main_drain(main);
    g_assert_cmpint(c.n, ==, 0);

    qemu_bh_delete(c.bh);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_gsource_delete(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    Counter c = {0};

    c.bh = aio_bh_new(ctx, counter_cb, &c);
    qemu_bh_schedule(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    qemu_bh_delete(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    test_main_drain(main);
    g_assert_cmpint(c.n, ==, 0);
    /* Nothing made the source dispatch (a deleted BH is not "ready" to
     * check), so the BH is only freed at finalization, quietly. */

    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_gsource_delete_from_cb(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    Counter c = {.max = 1};

    c.bh = aio_bh_new(ctx, counter_delete_cb, &c);
    qemu_bh_schedule(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    g_main_context_iteration(main, TRUE);
    g_assert_cmpint(c.n, ==, c.max);
    g_assert_null(c.bh);

    /*
     * The delete called aio_notify() after dispatch had cleared bit 0 of
     * notify_me, so nothing was written and nothing dispatches again, with
     * every fd monitor (QEMU: bit 0 was still set, since prepare returned
     * TRUE and GLib skipped check; with ppoll one more iteration dispatched
     * and freed the BH).  The deleted BH waits, quietly, for the next BH
     * pass or finalization (test_ctx_free checks that it is not reported
     * as a leak).
     */
    test_main_no_extra_iteration(ctx, main);
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 0);

    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_gsource_delete_from_cb_many(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    Counter c[4] = {
        {.max = 1},
        {.max = 3},
        {.max = 2},
        {.max = 4},
    };

    for (int i = 0; i < 4; i++) {
        c[i].bh = aio_bh_new(ctx, counter_delete_cb, &c[i]);
    }
    for (int i = 0; i < 4; i++) {
        qemu_bh_schedule(c[i].bh);
    }

    g_assert_true(g_main_context_iteration(main, FALSE));
    for (int i = 0; i < 4; i++) {
        g_assert_cmpint(c[i].n, ==, 1);
    }
    g_assert_null(c[0].bh);

    test_main_drain(main);
    for (int i = 0; i < 4; i++) {
        g_assert_cmpint(c[i].n, ==, c[i].max);
        g_assert_null(c[i].bh);
    }
    /* The last delete's wake-up may have been drained in the dispatch
     * that made it (BHs run before the notifier's handler), so the last
     * BH may stay unfreed until the next dispatch or finalization. */

    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_gsource_flush(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    Counter c = {0};

    c.bh = aio_bh_new(ctx, counter_cb, &c);
    qemu_bh_schedule(c.bh);
    g_assert_cmpint(c.n, ==, 0);

    g_assert_true(g_main_context_iteration(main, TRUE));
    g_assert_cmpint(c.n, ==, 1);

    g_assert_false(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(c.n, ==, 1);

    qemu_bh_delete(c.bh);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Order and nesting                                                         */
/* ------------------------------------------------------------------------ */

/* A BH that appends its letter to a shared log. */
typedef struct {
    AioContext *ctx;
    QEMUBH *bh;
    char letter;
    GString *log;
    /* Optional extra behaviour, run after logging. */
    void (*then)(void *opaque);
    void *then_opaque;
} LogBH;

static void log_cb(void *opaque)
{
    LogBH *l = opaque;

    g_string_append_c(l->log, l->letter);
    if (l->then) {
        l->then(l->then_opaque);
    }
}

static void log_bh_init(LogBH *l, AioContext *ctx, char letter, GString *log)
{
    memset(l, 0, sizeof(*l));
    l->ctx = ctx;
    l->letter = letter;
    l->log = log;
    l->bh = aio_bh_new(ctx, log_cb, l);
}

static void test_order_lifo(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new(NULL);
    LogBH a, b, c;

    log_bh_init(&a, ctx, 'A', log);
    log_bh_init(&b, ctx, 'B', log);
    log_bh_init(&c, ctx, 'C', log);
    qemu_bh_schedule(a.bh);
    qemu_bh_schedule(b.bh);
    qemu_bh_schedule(c.bh);

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "CBA");

    qemu_bh_delete(a.bh);
    qemu_bh_delete(b.bh);
    qemu_bh_delete(c.bh);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

static void test_order_by_first_schedule(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new(NULL);
    LogBH a, b, c;

    log_bh_init(&a, ctx, 'A', log);
    log_bh_init(&b, ctx, 'B', log);
    log_bh_init(&c, ctx, 'C', log);
    qemu_bh_schedule(a.bh);
    qemu_bh_schedule(b.bh);
    qemu_bh_schedule(c.bh);
    /* Already pending: merges into the pending run, keeps its place. */
    qemu_bh_schedule(a.bh);

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "CBA");

    qemu_bh_delete(a.bh);
    qemu_bh_delete(b.bh);
    qemu_bh_delete(c.bh);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

static void schedule_bh(void *opaque)
{
    qemu_bh_schedule(opaque);
}

static void test_schedule_from_cb_next_pass(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new(NULL);
    LogBH a, b;

    log_bh_init(&a, ctx, 'A', log);
    log_bh_init(&b, ctx, 'B', log);
    a.then = schedule_bh;
    a.then_opaque = b.bh;
    qemu_bh_schedule(a.bh);

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "A");
    g_assert_true(qemu_bh_is_scheduled(b.bh));

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "AB");

    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "AB");

    qemu_bh_delete(a.bh);
    qemu_bh_delete(b.bh);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

static void test_aio_bh_poll_one_slice(void)
{
    AioContext *ctx = test_ctx_new();
    Counter c = {.max = 3};

    c.bh = aio_bh_new(ctx, counter_cb, &c);
    qemu_bh_schedule(c.bh);

    /* Each call runs one slice; the re-schedule waits for the next. */
    g_assert_true(aio_bh_poll(ctx));
    g_assert_cmpint(c.n, ==, 1);
    g_assert_true(aio_bh_poll(ctx));
    g_assert_cmpint(c.n, ==, 2);
    g_assert_true(aio_bh_poll(ctx));
    g_assert_cmpint(c.n, ==, 3);
    g_assert_false(aio_bh_poll(ctx));
    g_assert_cmpint(c.n, ==, 3);

    qemu_bh_delete(c.bh);
    test_drain(ctx);
    test_ctx_free(ctx);
}

typedef struct {
    LogBH *d;
    bool nested_ret;
    int nested_calls;
} NestData;

/* C's extra step: schedule D, then run a nested aio_poll(). */
static void nest_then(void *opaque)
{
    NestData *n = opaque;

    qemu_bh_schedule(n->d->bh);
    n->nested_calls++;
    n->nested_ret = aio_poll(n->d->ctx, false);
}

static void test_nested_poll_drains_slice(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new(NULL);
    LogBH a, b, c, d;
    NestData nest = {.d = &d};

    log_bh_init(&a, ctx, 'A', log);
    log_bh_init(&b, ctx, 'B', log);
    log_bh_init(&c, ctx, 'C', log);
    log_bh_init(&d, ctx, 'D', log);
    c.then = nest_then;
    c.then_opaque = &nest;

    /* C runs first (LIFO) and polls from inside its callback. */
    qemu_bh_schedule(a.bh);
    qemu_bh_schedule(b.bh);
    qemu_bh_schedule(c.bh);

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(nest.nested_calls, ==, 1);
    g_assert_true(nest.nested_ret);
    /* The nested call first finished the outer slice (B, A), then ran
     * what C had scheduled (D); the outer call found nothing left. */
    g_assert_cmpstr(log->str, ==, "CBAD");

    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "CBAD");

    qemu_bh_delete(a.bh);
    qemu_bh_delete(b.bh);
    qemu_bh_delete(c.bh);
    qemu_bh_delete(d.bh);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Scheduling, cancelling and deleting                                       */
/* ------------------------------------------------------------------------ */

static void test_schedule_twice_runs_once(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);

    qemu_bh_schedule(bh);
    qemu_bh_schedule(bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 1);

    qemu_bh_delete(bh);
    test_ctx_free(ctx);
}

static void test_is_scheduled(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);

    g_assert_false(qemu_bh_is_scheduled(bh));
    qemu_bh_schedule(bh);
    g_assert_true(qemu_bh_is_scheduled(bh));
    qemu_bh_cancel(bh);
    g_assert_false(qemu_bh_is_scheduled(bh));
    qemu_bh_schedule(bh);
    g_assert_true(qemu_bh_is_scheduled(bh));
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 1);
    g_assert_false(qemu_bh_is_scheduled(bh));
    qemu_bh_schedule_idle(bh);
    g_assert_true(qemu_bh_is_scheduled(bh));

    qemu_bh_delete(bh);
    test_ctx_free(ctx);
}

static void test_cancel_then_schedule(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);

    /* Cancel leaves the BH linked; scheduling it again must still run it
     * exactly once. */
    qemu_bh_schedule(bh);
    qemu_bh_cancel(bh);
    qemu_bh_schedule(bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 1);

    qemu_bh_delete(bh);
    test_ctx_free(ctx);
}

/* X's extra step: delete Y, which is pending in the same slice. */
static void delete_bh(void *opaque)
{
    qemu_bh_delete(opaque);
}

static void test_delete_pending_from_other_cb(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new(NULL);
    gboolean y_freed = FALSE;
    LogBH x;
    QEMUBH *y;

    y = aio_bh_new_full(ctx, test_never_called, &y_freed, "y", test_set_flag);
    log_bh_init(&x, ctx, 'X', log);
    x.then = delete_bh;
    x.then_opaque = y;

    /* Y first, so that X (newest) runs first and deletes Y while Y is
     * still scheduled in the same slice: DELETED wins. */
    qemu_bh_schedule(y);
    qemu_bh_schedule(x.bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "X");
    test_drain(ctx);
    g_assert_true(y_freed);

    qemu_bh_delete(x.bh);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

typedef struct {
    QEMUBH *bh;
    int n;
} SelfBH;

/* Schedules itself, then deletes itself: it must never run again. */
static void schedule_then_delete_cb(void *opaque)
{
    SelfBH *s = opaque;

    s->n++;
    qemu_bh_schedule(s->bh);
    qemu_bh_delete(s->bh);
}

static void test_schedule_then_delete_from_cb(void)
{
    AioContext *ctx = test_ctx_new();
    SelfBH s = {0};

    s.bh = aio_bh_new(ctx, schedule_then_delete_cb, &s);
    qemu_bh_schedule(s.bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(s.n, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(s.n, ==, 1);
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 0);

    test_ctx_free(ctx);
}

static void test_compute_timeout(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);

    g_assert_cmpint(aio_compute_timeout(ctx), ==, -1);
    qemu_bh_schedule(bh);
    g_assert_cmpint(aio_compute_timeout(ctx), ==, 0);
    qemu_bh_cancel(bh);
    g_assert_cmpint(aio_compute_timeout(ctx), ==, -1);
    qemu_bh_schedule(bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(aio_compute_timeout(ctx), ==, -1);

    qemu_bh_delete(bh);
    g_assert_cmpint(aio_compute_timeout(ctx), ==, -1);
    test_drain(ctx);
    test_ctx_free(ctx);
}

static void test_stats_count_bhs(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUBH *bh1 = aio_bh_new(ctx, count_cb, &n);
    QEMUBH *bh2 = aio_bh_new(ctx, count_cb, &n);

    g_assert_cmpuint(test_stats(ctx).bhs, ==, 2);
    qemu_bh_delete(bh1);
    /* Freed by the loop, not by the delete. */
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 2);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 1);
    qemu_bh_delete(bh2);
    test_drain(ctx);
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 0);
    g_assert_cmpint(n, ==, 0);

    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Oneshot and idle BHs                                                      */
/* ------------------------------------------------------------------------ */

typedef struct {
    int calls;
    int destroys;
    int calls_at_destroy;
} OneshotData;

static void oneshot_cb(void *opaque)
{
    OneshotData *d = opaque;

    g_assert_cmpint(d->destroys, ==, 0);
    d->calls++;
}

static void oneshot_destroy(void *opaque)
{
    OneshotData *d = opaque;

    d->destroys++;
    d->calls_at_destroy = d->calls;
}

static void test_oneshot(void)
{
    AioContext *ctx = test_ctx_new();
    OneshotData d = {0};

    aio_bh_schedule_oneshot_full(ctx, oneshot_cb, &d, "oneshot",
                                 oneshot_destroy);
    g_assert_cmpint(d.calls, ==, 0);
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 1);

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.calls, ==, 1);
    g_assert_cmpint(d.destroys, ==, 1);
    g_assert_cmpint(d.calls_at_destroy, ==, 1);
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 0);

    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.calls, ==, 1);
    g_assert_cmpint(d.destroys, ==, 1);

    test_ctx_free(ctx);
}

static void test_oneshot_plain(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;

    aio_bh_schedule_oneshot(ctx, count_cb, &n);
    aio_bh_schedule_oneshot(ctx, count_cb, &n);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 2);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 2);
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 0);

    test_ctx_free(ctx);
}

static void test_oneshot_destroy_at_unref(void)
{
    AioContext *ctx = test_ctx_new();
    OneshotData d = {0};

    aio_bh_schedule_oneshot_full(ctx, oneshot_cb, &d, "never-run",
                                 oneshot_destroy);
    /* A oneshot is owned by the core: finalizing frees it quietly. */
    test_ctx_free(ctx);
    g_assert_cmpint(d.calls, ==, 0);
    g_assert_cmpint(d.destroys, ==, 1);
}

static void test_idle_timeout(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0, m = 0;
    QEMUBH *idle = aio_bh_new(ctx, count_cb, &n);
    QEMUBH *normal = aio_bh_new(ctx, count_cb, &m);

    qemu_bh_schedule_idle(idle);
    g_assert_cmpint(aio_compute_timeout(ctx), ==, 10 * SCALE_MS);
    qemu_bh_schedule(normal);
    g_assert_cmpint(aio_compute_timeout(ctx), ==, 0);
    qemu_bh_cancel(normal);
    g_assert_cmpint(aio_compute_timeout(ctx), ==, 10 * SCALE_MS);
    qemu_bh_cancel(idle);
    g_assert_cmpint(aio_compute_timeout(ctx), ==, -1);

    test_drain(ctx);
    g_assert_cmpint(n, ==, 0);
    g_assert_cmpint(m, ==, 0);
    qemu_bh_delete(idle);
    qemu_bh_delete(normal);
    test_ctx_free(ctx);
}

static void test_idle_not_progress(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUBH *idle = aio_bh_new(ctx, count_cb, &n);

    qemu_bh_schedule_idle(idle);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 1);

    /* Scheduling notified the context, so this does not wait; the idle BH
     * runs but is still no progress. */
    qemu_bh_schedule_idle(idle);
    g_assert_false(aio_poll(ctx, true));
    g_assert_cmpint(n, ==, 2);

    g_assert_false(aio_bh_poll(ctx));
    qemu_bh_schedule_idle(idle);
    g_assert_false(aio_bh_poll(ctx));
    g_assert_cmpint(n, ==, 3);

    qemu_bh_delete(idle);
    test_ctx_free(ctx);
}

static void test_idle_blocking_wait_bounded(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUBH *idle = aio_bh_new(ctx, count_cb, &n);
    gint64 start;

    qemu_bh_schedule_idle(idle);
    /* Consume the notification so that the next wait really waits. */
    aio_notify_accept(ctx);
    start = g_get_monotonic_time();
    g_assert_false(aio_poll(ctx, true));
    g_assert_cmpint(n, ==, 1);
    /* Bounded by the 10 ms idle timeout (generous margin for slow
     * builds): it must not wait forever. */
    g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);

    qemu_bh_delete(idle);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Destroy notifies and leaks                                                */
/* ------------------------------------------------------------------------ */

static void count_destroy(void *opaque)
{
    (*(int *)opaque)++;
}

static void test_destroy_on_delete(void)
{
    AioContext *ctx = test_ctx_new();
    int destroyed = 0;
    QEMUBH *bh = aio_bh_new_full(ctx, test_never_called, &destroyed,
                                 "with-destroy", count_destroy);

    qemu_bh_delete(bh);
    /* The loop frees deleted BHs: nothing yet. */
    g_assert_cmpint(destroyed, ==, 0);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(destroyed, ==, 1);
    test_drain(ctx);

    test_ctx_free(ctx);
    g_assert_cmpint(destroyed, ==, 1);
}

static void test_destroy_after_run_and_delete(void)
{
    AioContext *ctx = test_ctx_new();
    int destroyed = 0;
    int n = 0;
    QEMUBH *bh = aio_bh_new_full(ctx, count_cb, &n, "runs", NULL);
    QEMUBH *bh2 = aio_bh_new_full(ctx, test_never_called, &destroyed,
                                  "never-scheduled", count_destroy);

    qemu_bh_schedule(bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 1);
    qemu_bh_delete(bh);
    qemu_bh_delete(bh2);
    /* Deleted but never polled: finalization frees it, once. */
    test_ctx_free(ctx);
    g_assert_cmpint(destroyed, ==, 1);
}

typedef struct {
    QEMUBH *bh;
    int n;
    int destroyed;
} SelfDelete;

static void self_delete_cb(void *opaque)
{
    SelfDelete *d = opaque;

    d->n++;
    qemu_bh_delete(d->bh);
}

static void self_delete_destroy(void *opaque)
{
    ((SelfDelete *)opaque)->destroyed++;
}

static void test_destroy_delete_from_cb(void)
{
    AioContext *ctx = test_ctx_new();
    SelfDelete d = {0};

    d.bh = aio_bh_new_full(ctx, self_delete_cb, &d, "self-delete",
                           self_delete_destroy);
    qemu_bh_schedule(d.bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 1);
    /* Never while the callback runs: the next pass frees it. */
    g_assert_cmpint(d.destroyed, ==, 0);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.destroyed, ==, 1);
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 0);

    test_ctx_free(ctx);
    g_assert_cmpint(d.n, ==, 1);
    g_assert_cmpint(d.destroyed, ==, 1);
}

typedef struct {
    GPtrArray *names;
} LeakLog;

static void leak_log_cb(const char *name, void *opaque)
{
    LeakLog *l = opaque;

    g_ptr_array_add(l->names, g_strdup(name));
}

static void test_leak_handler_names(void)
{
    AioContext *ctx = test_ctx_new();
    LeakLog log = {g_ptr_array_new_with_free_func(g_free)};
    int destroyed = 0;
    QEMUBH *deleted;

    aio_context_set_leak_handler(ctx, leak_log_cb, &log);
    aio_bh_new_full(ctx, test_never_called, &destroyed, "leaky", count_destroy);
    deleted = aio_bh_new_full(ctx, test_never_called, NULL, "deleted", NULL);
    qemu_bh_delete(deleted);
    aio_context_unref(ctx);

    g_assert_cmpuint(log.names->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(log.names, 0), ==, "leaky");
    /* The leaked BH is still freed, calling its destroy notify once. */
    g_assert_cmpint(destroyed, ==, 1);
    g_ptr_array_unref(log.names);
}

static void test_leak_handler_default_name(void)
{
    AioContext *ctx = test_ctx_new();
    LeakLog log = {g_ptr_array_new_with_free_func(g_free)};
    QEMUBH *scheduled;
    const char *a, *b;

    aio_context_set_leak_handler(ctx, leak_log_cb, &log);
    aio_bh_new(ctx, test_never_called, NULL);
    /* Scheduled but neither run nor deleted: a leak too, never called. */
    scheduled = aio_bh_new_full(ctx, test_never_called, NULL, "scheduled",
                                NULL);
    qemu_bh_schedule(scheduled);
    aio_context_unref(ctx);

    /* The report order is not specified. */
    g_assert_cmpuint(log.names->len, ==, 2);
    a = g_ptr_array_index(log.names, 0);
    b = g_ptr_array_index(log.names, 1);
    if (g_strcmp0(a, "bh") != 0) {
        const char *tmp = a;

        a = b;
        b = tmp;
    }
    g_assert_cmpstr(a, ==, "bh");
    g_assert_cmpstr(b, ==, "scheduled");
    g_ptr_array_unref(log.names);
}

static void test_leak_warning_without_handler(void)
{
    if (g_test_subprocess()) {
        GError *err = NULL;
        AioContext *ctx = aio_context_new("warn-ctx", &err);
        int n = 0;

        g_assert_no_error(err);
        aio_bh_new_full(ctx, count_cb, &n, "unhandled-leak", NULL);
        /* Warnings are fatal under g_test; this one only has to reach
         * stderr, so keep the process alive to the end. */
        g_log_set_always_fatal(G_LOG_FATAL_MASK);
        aio_context_unref(ctx);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_stderr("*unhandled-leak*");
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                   */
/* ------------------------------------------------------------------------ */

#define SCHED_THREADS 4
#define SCHED_ROUNDS 2000

/*
 * Each worker owns a BH and also schedules one BH shared by all.  Before
 * each schedule it publishes a sequence number; a run records the largest
 * number it saw.  "Every schedule eventually runs at least once" then
 * means that the last number seen reaches the last number published.
 */
typedef struct {
    QEMUBH *bh;
    gint requested; /* atomic: written by the worker */
    int seen;       /* home thread */
    int runs;       /* home thread */
} SchedSlot;

typedef struct {
    AioContext *ctx;
    SchedSlot own[SCHED_THREADS];
    SchedSlot shared; /* requested counts every worker's schedules */
} SchedTest;

typedef struct {
    SchedTest *t;
    int index;
} SchedWorker;

static void sched_slot_cb(void *opaque)
{
    SchedSlot *s = opaque;

    s->runs++;
    s->seen = g_atomic_int_get(&s->requested);
}

static gpointer sched_worker(gpointer opaque)
{
    SchedWorker *w = opaque;
    SchedSlot *own = &w->t->own[w->index];

    for (int r = 1; r <= SCHED_ROUNDS; r++) {
        g_atomic_int_set(&own->requested, r);
        qemu_bh_schedule(own->bh);
        g_atomic_int_inc(&w->t->shared.requested);
        qemu_bh_schedule(w->t->shared.bh);
        if (r % 64 == 0) {
            g_thread_yield();
        }
    }
    return NULL;
}

static gboolean sched_all_seen(SchedTest *t)
{
    for (int i = 0; i < SCHED_THREADS; i++) {
        if (t->own[i].seen < SCHED_ROUNDS) {
            return FALSE;
        }
    }
    return t->shared.seen == SCHED_THREADS * SCHED_ROUNDS;
}

static void test_threads_concurrent_schedule(void)
{
    AioContext *ctx = test_ctx_new();
    SchedTest t = {.ctx = ctx};
    SchedWorker w[SCHED_THREADS];
    GThread *threads[SCHED_THREADS];

    for (int i = 0; i < SCHED_THREADS; i++) {
        t.own[i].bh = aio_bh_new(ctx, sched_slot_cb, &t.own[i]);
    }
    t.shared.bh = aio_bh_new(ctx, sched_slot_cb, &t.shared);

    for (int i = 0; i < SCHED_THREADS; i++) {
        w[i].t = &t;
        w[i].index = i;
        threads[i] = g_thread_new("bh-scheduler", sched_worker, &w[i]);
    }

    TEST_POLL_UNTIL(ctx, sched_all_seen(&t));

    for (int i = 0; i < SCHED_THREADS; i++) {
        g_thread_join(threads[i]);
    }
    /* A schedule that raced with the final run may still be pending. */
    test_drain(ctx);

    for (int i = 0; i < SCHED_THREADS; i++) {
        g_assert_cmpint(t.own[i].seen, ==, SCHED_ROUNDS);
        g_assert_cmpint(t.own[i].runs, >=, 1);
        g_assert_cmpint(t.own[i].runs, <=, SCHED_ROUNDS);
        qemu_bh_delete(t.own[i].bh);
    }
    g_assert_cmpint(t.shared.runs, >=, 1);
    g_assert_cmpint(t.shared.runs, <=, SCHED_THREADS * SCHED_ROUNDS);
    qemu_bh_delete(t.shared.bh);
    g_test_message("coalescing: shared BH ran %d times for %d schedules",
                   t.shared.runs, SCHED_THREADS * SCHED_ROUNDS);

    test_drain(ctx);
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 0);
    test_ctx_free(ctx);
}

#define ONESHOT_PER_THREAD 500

typedef struct {
    AioContext *ctx;
    int calls;     /* home thread */
    gint destroys; /* atomic: destroy runs in the home thread, but
                         * keep it simple for the thread checker */
} OneshotThreads;

static void oneshot_threads_cb(void *opaque)
{
    ((OneshotThreads *)opaque)->calls++;
}

static void oneshot_threads_destroy(void *opaque)
{
    g_atomic_int_inc(&((OneshotThreads *)opaque)->destroys);
}

static gpointer oneshot_worker(gpointer opaque)
{
    OneshotThreads *o = opaque;

    for (int i = 0; i < ONESHOT_PER_THREAD; i++) {
        aio_bh_schedule_oneshot_full(o->ctx, oneshot_threads_cb, o,
                                     "from-thread", oneshot_threads_destroy);
    }
    return NULL;
}

static void test_threads_oneshot(void)
{
    AioContext *ctx = test_ctx_new();
    OneshotThreads o = {.ctx = ctx};
    GThread *threads[SCHED_THREADS];

    for (int i = 0; i < SCHED_THREADS; i++) {
        threads[i] = g_thread_new("oneshot", oneshot_worker, &o);
    }
    TEST_POLL_UNTIL(ctx, o.calls >= SCHED_THREADS * ONESHOT_PER_THREAD);
    for (int i = 0; i < SCHED_THREADS; i++) {
        g_thread_join(threads[i]);
    }
    test_drain(ctx);

    g_assert_cmpint(o.calls, ==, SCHED_THREADS * ONESHOT_PER_THREAD);
    g_assert_cmpint(g_atomic_int_get(&o.destroys), ==,
                    SCHED_THREADS * ONESHOT_PER_THREAD);
    g_assert_cmpuint(test_stats(ctx).bhs, ==, 0);
    test_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/bh/schedule", test_schedule);
    g_test_add_func("/bh/schedule10", test_schedule10);
    g_test_add_func("/bh/cancel", test_cancel);
    g_test_add_func("/bh/delete", test_delete);
    g_test_add_func("/bh/callback-delete/one", test_delete_from_cb);
    g_test_add_func("/bh/callback-delete/many", test_delete_from_cb_many);
    g_test_add_func("/bh/flush", test_flush);

    g_test_add_func("/bh/gsource/schedule", test_gsource_schedule);
    g_test_add_func("/bh/gsource/schedule10", test_gsource_schedule10);
    g_test_add_func("/bh/gsource/cancel", test_gsource_cancel);
    g_test_add_func("/bh/gsource/delete", test_gsource_delete);
    g_test_add_func("/bh/gsource/callback-delete/one",
                    test_gsource_delete_from_cb);
    g_test_add_func("/bh/gsource/callback-delete/many",
                    test_gsource_delete_from_cb_many);
    g_test_add_func("/bh/gsource/flush", test_gsource_flush);

    g_test_add_func("/bh/order/lifo", test_order_lifo);
    g_test_add_func("/bh/order/by-first-schedule",
                    test_order_by_first_schedule);
    g_test_add_func("/bh/order/scheduled-from-cb-runs-next-pass",
                    test_schedule_from_cb_next_pass);
    g_test_add_func("/bh/order/aio-bh-poll-one-slice",
                    test_aio_bh_poll_one_slice);
    g_test_add_func("/bh/order/nested-poll-drains-slice",
                    test_nested_poll_drains_slice);

    g_test_add_func("/bh/schedule-twice-runs-once",
                    test_schedule_twice_runs_once);
    g_test_add_func("/bh/is-scheduled", test_is_scheduled);
    g_test_add_func("/bh/cancel-then-schedule", test_cancel_then_schedule);
    g_test_add_func("/bh/delete-pending-from-other-cb",
                    test_delete_pending_from_other_cb);
    g_test_add_func("/bh/schedule-then-delete-from-cb",
                    test_schedule_then_delete_from_cb);
    g_test_add_func("/bh/compute-timeout", test_compute_timeout);
    g_test_add_func("/bh/stats-count", test_stats_count_bhs);

    g_test_add_func("/bh/oneshot/runs-once", test_oneshot);
    g_test_add_func("/bh/oneshot/plain", test_oneshot_plain);
    g_test_add_func("/bh/oneshot/destroy-at-unref",
                    test_oneshot_destroy_at_unref);
    g_test_add_func("/bh/idle/timeout", test_idle_timeout);
    g_test_add_func("/bh/idle/not-progress", test_idle_not_progress);
    g_test_add_func("/bh/idle/blocking-wait-bounded",
                    test_idle_blocking_wait_bounded);

    g_test_add_func("/bh/destroy/on-delete", test_destroy_on_delete);
    g_test_add_func("/bh/destroy/deleted-freed-at-unref",
                    test_destroy_after_run_and_delete);
    g_test_add_func("/bh/destroy/delete-from-cb", test_destroy_delete_from_cb);
    g_test_add_func("/bh/leak/handler-gets-name", test_leak_handler_names);
    g_test_add_func("/bh/leak/default-name", test_leak_handler_default_name);
    g_test_add_func("/bh/leak/warning-without-handler",
                    test_leak_warning_without_handler);

    g_test_add_func("/bh/threads/concurrent-schedule",
                    test_threads_concurrent_schedule);
    g_test_add_func("/bh/threads/oneshot", test_threads_oneshot);

    return g_test_run();
}
