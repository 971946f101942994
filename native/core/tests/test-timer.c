/*
 * test-timer.c — timers and clocks: arming, ordering, anticipation,
 * deletion, expiry queries, re-arming and freeing from callbacks, scales,
 * timeouts, and where timers run within one aio_poll().
 *
 * /timer/schedule follows the expectations of QEMU's tests/unit/test-aio.c
 * timer case (with a shorter period and a clock wait instead of a sleep).
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

#include <stdlib.h>

#define NOW() qemu_clock_get_ns(QEMU_CLOCK_REALTIME)

static void count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

/* A timer that re-arms itself @period_ns later until it ran @max times. */
typedef struct {
    QEMUTimer *timer;
    int n;
    int max;
    int64_t period_ns;
} Periodic;

static void periodic_cb(void *opaque)
{
    Periodic *p = opaque;

    if (++p->n < p->max) {
        timer_mod_ns(p->timer, NOW() + p->period_ns);
    }
}

static void test_schedule(void)
{
    AioContext *ctx = test_ctx_new();
    Periodic p = {.max = 2, .period_ns = 200 * SCALE_MS};
    int64_t expiry;

    p.timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, periodic_cb,
                            &p);
    expiry = NOW() + p.period_ns;
    timer_mod_ns(p.timer, expiry);
    g_assert_cmpint(p.n, ==, 0);

    /* Arming notified the context; that wake-up is not progress. */
    test_drain(ctx);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(p.n, ==, 0);

    test_wait_clock(QEMU_CLOCK_REALTIME, expiry);
    g_assert_cmpint(p.n, ==, 0);

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(p.n, ==, 1);

    /* Re-armed by the callback, 200 ms away: far enough that the drain
     * below cannot reach it even on a slow machine. */
    test_drain(ctx);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(p.n, ==, 1);

    /* A blocking poll waits for it. */
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(p.n, ==, 2);

    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(p.n, ==, 2);
    g_assert_false(timer_pending(p.timer));

    timer_free(p.timer);
    test_ctx_free(ctx);
}

static void test_blocking_poll_waits(void)
{
    AioContext *ctx = test_ctx_new();
    int fired = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                                 &fired);
    int64_t expiry = NOW() + 20 * SCALE_MS;

    timer_mod_ns(t, expiry);
    test_drain(ctx);
    /* Not woken by anything else, so the first blocking poll returns
     * only when the timer ran. */
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(fired, ==, 1);
    g_assert_cmpint(NOW(), >=, expiry);

    timer_free(t);
    test_ctx_free(ctx);
}

/* A timer that appends its letter to a log. */
typedef struct {
    QEMUTimer *timer;
    char letter;
    GString *log;
} LogTimer;

static void log_timer_cb(void *opaque)
{
    LogTimer *l = opaque;

    g_string_append_c(l->log, l->letter);
}

static void log_timer_init(LogTimer *l, AioContext *ctx, char letter,
                           GString *log)
{
    l->letter = letter;
    l->log = log;
    l->timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, log_timer_cb,
                             l);
}

static void test_fifo_equal_expiry(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new(NULL);
    LogTimer t[3];

    for (int i = 0; i < 3; i++) {
        log_timer_init(&t[i], ctx, 'A' + i, log);
    }
    /* All long expired, all equal: arming order. */
    timer_mod_ns(t[0].timer, 1000);
    timer_mod_ns(t[1].timer, 1000);
    timer_mod_ns(t[2].timer, 1000);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "ABC");

    /* Re-arming B moves it behind the others with the same expiry. */
    g_string_truncate(log, 0);
    timer_mod_ns(t[0].timer, 1000);
    timer_mod_ns(t[1].timer, 1000);
    timer_mod_ns(t[2].timer, 1000);
    timer_mod_ns(t[1].timer, 1000);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "ACB");

    for (int i = 0; i < 3; i++) {
        timer_free(t[i].timer);
    }
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

static void test_sorted_by_expiry(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new(NULL);
    LogTimer t[3];

    for (int i = 0; i < 3; i++) {
        log_timer_init(&t[i], ctx, 'A' + i, log);
    }
    timer_mod_ns(t[0].timer, 3000);
    timer_mod_ns(t[1].timer, 1000);
    timer_mod_ns(t[2].timer, 2000);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "BCA");

    for (int i = 0; i < 3; i++) {
        timer_free(t[i].timer);
    }
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

static void test_mod_anticipate(void)
{
    AioContext *ctx = test_ctx_new();
    int fired = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                                 &fired);
    int64_t base = NOW() + 3600 * (int64_t)G_USEC_PER_SEC * 1000;

    /* Not pending: arms. */
    timer_mod_anticipate_ns(t, base);
    g_assert_true(timer_pending(t));
    g_assert_cmpint(timer_expire_time_ns(t), ==, base);
    /* Later: ignored. */
    timer_mod_anticipate_ns(t, base + 1000);
    g_assert_cmpint(timer_expire_time_ns(t), ==, base);
    /* Earlier: moves. */
    timer_mod_anticipate_ns(t, base - 1000);
    g_assert_cmpint(timer_expire_time_ns(t), ==, base - 1000);
    /* Equal: stays. */
    timer_mod_anticipate_ns(t, base - 1000);
    g_assert_cmpint(timer_expire_time_ns(t), ==, base - 1000);

    /* A plain timer_mod moves it later again. */
    timer_mod_ns(t, base + 5000);
    g_assert_cmpint(timer_expire_time_ns(t), ==, base + 5000);

    test_drain(ctx);
    g_assert_cmpint(fired, ==, 0);
    timer_free(t);
    test_ctx_free(ctx);
}

static void test_del(void)
{
    AioContext *ctx = test_ctx_new();
    int fired = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                                 &fired);

    timer_mod_ns(t, 1); /* expired */
    g_assert_true(timer_pending(t));
    timer_del(t);
    g_assert_false(timer_pending(t));
    g_assert_cmpint(timer_expire_time_ns(t), ==, -1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(fired, ==, 0);
    g_assert_cmpint(aio_compute_timeout(ctx), ==, -1);

    /* Deleting twice is harmless; re-arming works. */
    timer_del(t);
    timer_mod_ns(t, 1);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(fired, ==, 1);

    timer_free(t);
    test_ctx_free(ctx);
}

static void test_pending_expired(void)
{
    AioContext *ctx = test_ctx_new();
    int fired = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, count_cb,
                                 &fired);

    /* Unarmed: not pending, no expiry, yet "expired" as in QEMU. */
    g_assert_false(timer_pending(t));
    g_assert_cmpint(timer_expire_time_ns(t), ==, -1);
    g_assert_true(timer_expired(t, 0));
    g_assert_true(timer_expired(t, G_MAXINT64 / SCALE_MS));

    timer_mod(t, 5000);
    g_assert_true(timer_pending(t));
    g_assert_cmpint(timer_expire_time_ns(t), ==, 5000 * (int64_t)SCALE_MS);
    g_assert_false(timer_expired(t, 4999));
    g_assert_true(timer_expired(t, 5000));
    g_assert_true(timer_expired(t, 5001));

    timer_free(t);
    test_ctx_free(ctx);
}

static void test_negative_clamps(void)
{
    AioContext *ctx = test_ctx_new();
    int fired = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                                 &fired);

    timer_mod_ns(t, -5);
    g_assert_true(timer_pending(t));
    g_assert_cmpint(timer_expire_time_ns(t), ==, 0);
    g_assert_cmpint(aio_compute_timeout(ctx), ==, 0);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(fired, ==, 1);

    timer_mod(t, G_MININT64 / 2);
    g_assert_cmpint(timer_expire_time_ns(t), ==, 0);

    timer_free(t);
    test_ctx_free(ctx);
}

/* Re-arms itself at an expiry already due (the pass's `now` is later). */
typedef struct {
    QEMUTimer *timer;
    int n;
    int max;
    int64_t rearm_at;
} Rearm;

static void rearm_cb(void *opaque)
{
    Rearm *r = opaque;

    if (++r->n < r->max) {
        timer_mod_ns(r->timer, r->rearm_at);
    }
}

static void test_rearm_due_same_pass(void)
{
    AioContext *ctx = test_ctx_new();
    Rearm r = {.max = 3, .rearm_at = 1};

    r.timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, rearm_cb, &r);
    timer_mod_ns(r.timer, 1);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(r.n, ==, 3);
    g_assert_false(timer_pending(r.timer));
    g_assert_false(aio_poll(ctx, false));

    timer_free(r.timer);
    test_ctx_free(ctx);
}

static void test_rearm_future_next_pass(void)
{
    AioContext *ctx = test_ctx_new();
    Rearm r = {.max = 3};

    r.rearm_at = NOW() + 3600 * (int64_t)1000000000;
    r.timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, rearm_cb, &r);
    timer_mod_ns(r.timer, 1);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(r.n, ==, 1);
    g_assert_true(timer_pending(r.timer));
    g_assert_cmpint(timer_expire_time_ns(r.timer), ==, r.rearm_at);
    test_drain(ctx);
    g_assert_cmpint(r.n, ==, 1);

    timer_free(r.timer);
    test_ctx_free(ctx);
}

typedef struct {
    QEMUTimer *timer;
    int n;
} SelfFree;

static void self_free_cb(void *opaque)
{
    SelfFree *s = opaque;

    s->n++;
    timer_free(s->timer);
    s->timer = NULL;
}

static void test_free_from_cb(void)
{
    AioContext *ctx = test_ctx_new();
    SelfFree s = {0};
    int other_fired = 0;
    QEMUTimer *other = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                                     count_cb, &other_fired);

    s.timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, self_free_cb,
                            &s);
    g_assert_cmpuint(test_stats(ctx).timers, ==, 2);
    /* Same expiry, armed first: the pass goes on with the next timer
     * after the freed one. */
    timer_mod_ns(s.timer, 1);
    timer_mod_ns(other, 1);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(s.n, ==, 1);
    g_assert_null(s.timer);
    g_assert_cmpint(other_fired, ==, 1);
    g_assert_cmpuint(test_stats(ctx).timers, ==, 1);
    g_assert_false(aio_poll(ctx, false));

    timer_free(other);
    test_ctx_free(ctx);
}

/* Deletes another timer that is due in the same pass. */
typedef struct {
    QEMUTimer *victim;
    int n;
} Killer;

static void killer_cb(void *opaque)
{
    Killer *k = opaque;

    k->n++;
    timer_del(k->victim);
}

static void test_del_other_from_cb(void)
{
    AioContext *ctx = test_ctx_new();
    Killer k = {0};
    int victim_fired = 0;
    QEMUTimer *killer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                                      killer_cb, &k);

    k.victim = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                             &victim_fired);
    timer_mod_ns(killer, 1);
    timer_mod_ns(k.victim, 2);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(k.n, ==, 1);
    g_assert_cmpint(victim_fired, ==, 0);
    g_assert_false(timer_pending(k.victim));

    timer_free(killer);
    timer_free(k.victim);
    test_ctx_free(ctx);
}

static void test_scales(void)
{
    AioContext *ctx = test_ctx_new();
    int fired = 0;
    QEMUTimer *ms = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, count_cb,
                                  &fired);
    QEMUTimer *us = aio_timer_new(ctx, QEMU_CLOCK_HOST, SCALE_US, count_cb,
                                  &fired);
    QEMUTimer *ns = aio_timer_new_with_attrs(ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                                             QEMU_TIMER_ATTR_EXTERNAL, count_cb,
                                             &fired);
    int64_t far_ms = NOW() / SCALE_MS + 3600 * 1000;

    g_assert_cmpint(timer_get_scale(ms), ==, SCALE_MS);
    g_assert_cmpint(timer_get_scale(us), ==, SCALE_US);
    g_assert_cmpint(timer_get_scale(ns), ==, SCALE_NS);
    g_assert_cmpint(timer_get_clock(ms), ==, QEMU_CLOCK_REALTIME);
    g_assert_cmpint(timer_get_clock(us), ==, QEMU_CLOCK_HOST);

    timer_mod(ms, far_ms);
    g_assert_cmpint(timer_expire_time_ns(ms), ==, far_ms * SCALE_MS);
    g_assert_false(timer_expired(ms, far_ms - 1));
    g_assert_true(timer_expired(ms, far_ms));
    timer_mod_anticipate(ms, far_ms - 10);
    g_assert_cmpint(timer_expire_time_ns(ms), ==, (far_ms - 10) * SCALE_MS);
    timer_mod_anticipate(ms, far_ms);
    g_assert_cmpint(timer_expire_time_ns(ms), ==, (far_ms - 10) * SCALE_MS);

    timer_mod(us, 7);
    g_assert_cmpint(timer_expire_time_ns(us), ==, 7 * SCALE_US);
    timer_mod(ns, 7);
    g_assert_cmpint(timer_expire_time_ns(ns), ==, 7);

    /* us and ns are long expired; ms is an hour away. */
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(fired, ==, 2);
    g_assert_true(timer_pending(ms));

    timer_free(ms);
    timer_free(us);
    timer_free(ns);
    test_ctx_free(ctx);
}

static void test_compute_timeout(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                                 &n);
    QEMUBH *idle = aio_bh_new(ctx, count_cb, &n);
    int64_t timeout;

    test_drain(ctx);
    g_assert_cmpint(aio_compute_timeout(ctx), ==, -1);

    timer_mod_ns(t, NOW() + 1000 * (int64_t)SCALE_MS);
    timeout = aio_compute_timeout(ctx);
    g_assert_cmpint(timeout, >, 500 * (int64_t)SCALE_MS);
    g_assert_cmpint(timeout, <=, 1000 * (int64_t)SCALE_MS);

    /* An idle BH caps the wait at 10 ms; a sooner timer wins. */
    qemu_bh_schedule_idle(idle);
    g_assert_cmpint(aio_compute_timeout(ctx), ==, 10 * SCALE_MS);
    timer_mod_ns(t, NOW() + 2 * SCALE_MS);
    timeout = aio_compute_timeout(ctx);
    /* (0 if this thread was descheduled for 2 ms meanwhile.) */
    g_assert_cmpint(timeout, >=, 0);
    g_assert_cmpint(timeout, <=, 2 * SCALE_MS);
    qemu_bh_cancel(idle);

    /* Expired: 0. */
    timer_mod_ns(t, 1);
    g_assert_cmpint(aio_compute_timeout(ctx), ==, 0);

    timer_del(t);
    g_assert_cmpint(aio_compute_timeout(ctx), ==, -1);

    test_drain(ctx);
    g_assert_cmpint(n, ==, 0);
    qemu_bh_delete(idle);
    timer_free(t);
    test_ctx_free(ctx);
}

/* BH, fd handler and timer all ready: one pass runs them in that order. */
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

static void test_after_bhs_and_fds(void)
{
    AioContext *ctx = test_ctx_new();
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
    /* Armed first, so that "first ready" would put it first. */
    timer_mod_ns(t, 1);
    test_write_byte(fds[1]);
    qemu_bh_schedule(bh);

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(o.log->str, ==, "BFT");

    test_remove_fd(ctx, fds[0]);
    test_close_pair(fds);
    qemu_bh_delete(bh);
    timer_free(t);
    g_string_free(o.log, TRUE);
    test_ctx_free(ctx);
}

/* The virtual clock never wraps (issue #13, defect 4: 1,023 steps of
 * 2**53 - 1 ns made it negative).  A step past INT64_MAX is refused and
 * changes nothing; a running clock near the end reads INT64_MAX.  Runs in
 * a subprocess: the clock is process-wide and only moves forward. */
static void test_virtual_step_no_wrap(void)
{
    const int64_t big = ((int64_t)1 << 53) - 1;
    int64_t before, now;
    int steps = 0;

    if (!g_test_subprocess()) {
        g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
        g_test_trap_assert_passed();
        return;
    }
    qemu_clock_virtual_stop();
    for (;;) {
        before = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
        if (qemu_clock_virtual_step(big) != 0) {
            break;
        }
        steps++;
        now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
        g_assert_cmpint(now, ==, before + big);
        g_assert_cmpint(steps, <=, 1024);
    }
    g_assert_cmpint(steps, >=, 1000);
    /* Refused: nothing moved. */
    g_assert_cmpint(qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL), ==, before);
    g_assert_cmpint(qemu_clock_virtual_step(big), ==, -ERANGE);
    /* Up to INT64_MAX exactly is fine, one more is not. */
    g_assert_cmpint(qemu_clock_virtual_step(INT64_MAX - before), ==, 0);
    g_assert_cmpint(qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL), ==, INT64_MAX);
    g_assert_cmpint(qemu_clock_virtual_step(1), ==, -ERANGE);
    g_assert_cmpint(qemu_clock_virtual_step(0), ==, 0);
    g_assert_cmpint(qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL), ==, INT64_MAX);
    /* Running on from the end: it stays there, never negative. */
    qemu_clock_virtual_resume();
    g_usleep(1000);
    g_assert_cmpint(qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL), ==, INT64_MAX);
    g_assert_cmpint(qemu_clock_virtual_step(1), ==, -ERANGE);
}

static void test_clock_monotonic(void)
{
    int64_t prev = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    int64_t host = qemu_clock_get_ns(QEMU_CLOCK_HOST);
    int64_t wall = g_get_real_time() * 1000;

    g_assert_cmpint(prev, >, 0);
    for (int i = 0; i < 10000; i++) {
        int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

        g_assert_cmpint(now, >=, prev);
        prev = now;
    }
    /* HOST is wall-clock time. */
    g_assert_cmpint(llabs(host - wall), <, 5 * (int64_t)1000000000);
    /* REALTIME follows g_get_monotonic_time()'s clock. */
    g_assert_cmpint(llabs(qemu_clock_get_ns(QEMU_CLOCK_REALTIME) -
                          g_get_monotonic_time() * 1000),
                    <, 5 * (int64_t)1000000000);
}

static void test_stats_timers(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    QEMUTimer *a = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                                 &n);
    QEMUTimer *b = aio_timer_new(ctx, QEMU_CLOCK_HOST, SCALE_MS, count_cb, &n);

    g_assert_cmpuint(test_stats(ctx).timers, ==, 2);
    timer_mod(b, 1);
    timer_free(a);
    g_assert_cmpuint(test_stats(ctx).timers, ==, 1);
    /* Freeing an armed timer disarms it. */
    timer_free(b);
    g_assert_cmpuint(test_stats(ctx).timers, ==, 0);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 0);

    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Threads and GSource                                                       */
/* ------------------------------------------------------------------------ */

typedef struct {
    QEMUTimer *timer;
    TestFlag started;
} LateArm;

static gpointer late_arm(gpointer opaque)
{
    LateArm *a = opaque;

    test_flag_set(&a->started, 1);
    g_usleep(20 * 1000); /* let the home thread block; not required */
    timer_mod_ns(a->timer, 1);
    return NULL;
}

static void test_mod_from_thread_wakes_poll(void)
{
    AioContext *ctx = test_ctx_new();
    int fired = 0;
    LateArm a;
    GThread *thread;

    a.timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                            &fired);
    test_flag_init(&a.started);
    test_drain(ctx);

    thread = g_thread_new("late-arm", late_arm, &a);
    g_assert_true(test_flag_wait(&a.started, 1, TEST_WAIT_MS));
    TEST_POLL_UNTIL(ctx, fired > 0);
    g_assert_cmpint(fired, ==, 1);
    g_thread_join(thread);

    test_flag_clear(&a.started);
    timer_free(a.timer);
    test_ctx_free(ctx);
}

static void test_gsource_schedule(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    Periodic p = {.max = 2, .period_ns = 200 * SCALE_MS};
    int64_t expiry;

    p.timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, periodic_cb,
                            &p);
    expiry = NOW() + p.period_ns;
    timer_mod_ns(p.timer, expiry);
    g_assert_cmpint(p.n, ==, 0);

    test_wait_clock(QEMU_CLOCK_REALTIME, expiry);
    g_assert_cmpint(p.n, ==, 0);

    g_assert_true(g_main_context_iteration(main, TRUE));
    g_assert_cmpint(p.n, ==, 1);
    expiry += p.period_ns;

    {
        gint64 deadline = test_deadline_ms(TEST_WAIT_MS);

        while (p.n < 2) {
            test_check_deadline(deadline, "the re-armed timer");
            g_main_context_iteration(main, TRUE);
        }
    }
    g_assert_cmpint(p.n, ==, 2);
    g_assert_cmpint(NOW(), >, expiry);

    timer_free(p.timer);
    test_main_drain(main);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/timer/schedule", test_schedule);
    g_test_add_func("/timer/blocking-poll-waits", test_blocking_poll_waits);
    g_test_add_func("/timer/order/fifo-equal-expiry", test_fifo_equal_expiry);
    g_test_add_func("/timer/order/sorted-by-expiry", test_sorted_by_expiry);
    g_test_add_func("/timer/order/after-bhs-and-fds", test_after_bhs_and_fds);
    g_test_add_func("/timer/mod-anticipate", test_mod_anticipate);
    g_test_add_func("/timer/del", test_del);
    g_test_add_func("/timer/pending-expired", test_pending_expired);
    g_test_add_func("/timer/negative-clamps", test_negative_clamps);
    g_test_add_func("/timer/rearm-due-runs-same-pass",
                    test_rearm_due_same_pass);
    g_test_add_func("/timer/rearm-future-waits", test_rearm_future_next_pass);
    g_test_add_func("/timer/free-from-cb", test_free_from_cb);
    g_test_add_func("/timer/del-other-from-cb", test_del_other_from_cb);
    g_test_add_func("/timer/scales", test_scales);
    g_test_add_func("/timer/compute-timeout", test_compute_timeout);
    g_test_add_func("/timer/clock-monotonic", test_clock_monotonic);
    g_test_add_func("/timer/virtual/step-no-wrap", test_virtual_step_no_wrap);
    g_test_add_func("/timer/stats", test_stats_timers);
    g_test_add_func("/timer/threads/mod-wakes-poll",
                    test_mod_from_thread_wakes_poll);
    g_test_add_func("/timer/gsource/schedule", test_gsource_schedule);

    return g_test_run();
}
