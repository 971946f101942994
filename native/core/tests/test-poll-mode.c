/*
 * test-poll-mode.c — busy polling (SEMANTICS.md §4): handlers with io_poll
 * and io_poll_ready join the poll list the first time they are dispatched;
 * io_poll_begin/io_poll_end are called only when poll mode changes; a
 * poll hit is progress and calls io_poll_ready; the adaptive per-handler
 * poll time (stats.poll_ns) starts at 0, becomes 4000 ns, grows ×grow up
 * to the maximum and shrinks after a block longer than the maximum;
 * aio_context_set_poll_params() resets it; a non-blocking aio_poll() with
 * every handler polling makes no wait; the GSource prepare stops poll mode.
 *
 * meson runs this program once per fd monitor (AIOCONTEXT_FDMON).  Where
 * they differ (io_uring's need_wait() sees fd readiness through its
 * completion ring), the test says so.
 *
 * Controlling block_ns.  The adaptive rule compares block_ns, the time
 * from the start of aio_poll() to the end of its wait, with the handler's
 * poll time P and the maximum.  The tests make the handler's fd fire from
 * its own io_poll_end hook: io_poll_end runs once busy polling has lasted
 * P (the loop stops only when its own elapsed time reaches P) and right
 * before the wait, so block_ns >= P, and block_ns <= the time measured
 * around the aio_poll() call.  When that outer time is below the maximum
 * the rule gives one exact value; when the machine was too slow for that
 * (possible under sanitizers), the test accepts the shrink the rule then
 * prescribes and tries again, up to a bounded number of rounds.  A block
 * longer than the maximum is made certain by sleeping 1 ms in io_poll_end.
 *
 * The context's own notifier would join the poll list if it were
 * dispatched (an aio_notify() while a blocking aio_poll() waits); nothing
 * here does that, and poll_ns_of() checks it, so stats.poll_ns is the
 * handler's own poll time.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

#include "aio-internal.h"

#define POLL_MAX_NS 32768
#define FIRST_POLL_NS 4000 /* SEMANTICS.md §4: the first grow step */
#define ADAPT_ROUNDS 200   /* attempts allowed for a slow machine */

/* What io_poll_end does besides counting. */
typedef enum {
    END_NOTHING,
    END_SET_WORK,  /* work appears as polling stops (the race) */
    END_FIRE,      /* the fd fires just after polling gave up */
    END_FIRE_LATE, /* the fd fires 1 ms later (> any max here) */
} EndAction;

/* A handler on an eventfd with a userspace "queue" only io_poll sees, like
 * a virtqueue.  Everything runs in the home thread. */
typedef struct {
    EventNotifier e; /* first: callbacks get &e */
    int reads;
    int polls;
    int hits;
    int readies;
    int begins;
    int ends;
    bool work;
    EndAction end_action;
    /* io_poll_ready fires the fd and runs a nested blocking aio_poll(). */
    bool nest;
    AioContext *ctx;
} PollH;

static void ph_read(EventNotifier *e)
{
    PollH *h = (PollH *)e;

    h->reads++;
    event_notifier_test_and_clear(e);
}

static bool ph_poll(void *opaque)
{
    PollH *h = opaque;

    h->polls++;
    if (h->work) {
        h->hits++;
    }
    return h->work;
}

static void ph_ready(EventNotifier *e)
{
    PollH *h = (PollH *)e;

    h->readies++;
    h->work = false;
    if (h->nest) {
        h->nest = false;
        event_notifier_set(e);
        g_assert_true(aio_poll(h->ctx, true)); /* io_read, nested */
    }
}

static void ph_begin(EventNotifier *e)
{
    ((PollH *)e)->begins++;
}

static void ph_end(EventNotifier *e)
{
    PollH *h = (PollH *)e;

    h->ends++;
    switch (h->end_action) {
    case END_SET_WORK: h->work = true; break;
    case END_FIRE_LATE:
        g_usleep(1000);
        /* fall through */
    case END_FIRE: event_notifier_set(e); break;
    case END_NOTHING: break;
    }
    h->end_action = END_NOTHING;
}

static void ph_add(AioContext *ctx, PollH *h)
{
    memset(h, 0, sizeof(*h));
    h->ctx = ctx;
    g_assert_cmpint(event_notifier_init(&h->e, false), ==, 0);
    g_assert_cmpint(
        aio_set_event_notifier(ctx, &h->e, false, ph_read, ph_poll, ph_ready),
        ==, 0);
    g_assert_cmpint(aio_set_event_notifier_poll(ctx, &h->e, ph_begin, ph_end),
                    ==, 0);
}

static void ph_remove(AioContext *ctx, PollH *h)
{
    g_assert_cmpint(aio_set_event_notifier(ctx, &h->e, false, NULL, NULL, NULL),
                    ==, 0);
    event_notifier_cleanup(&h->e);
}

/* Returns: whether @fd's live handler is on the poll list (private API). */
static bool on_poll_list(AioContext *ctx, int fd)
{
    for (AioHandler *node = ctx->poll_handlers; node; node = node->poll_next) {
        if (node->pfd.fd == fd && !node->deleted) {
            return true;
        }
    }
    return false;
}

static bool ph_polled(AioContext *ctx, PollH *h)
{
    return on_poll_list(ctx, event_notifier_get_fd(&h->e));
}

/* Returns: stats.poll_ns, after checking that it can only be @h's (the
 * notifier is not on the poll list). */
static int64_t poll_ns_of(AioContext *ctx, PollH *h)
{
    AioContextStats st = test_stats(ctx);

    g_assert_false(on_poll_list(ctx, event_notifier_get_fd(&ctx->notifier)));
    if (!ph_polled(ctx, h)) {
        g_assert_cmpint(st.poll_ns, ==, 0);
    }
    return st.poll_ns;
}

/* Lets io_uring submit what is queued (a handler's POLL_ADD or re-arm),
 * so that the next blocking aio_poll() finds need_wait() false and busy
 * polls; no effect on poll/epoll, where need_wait() only looks for
 * handlers without io_poll.  Must make no progress. */
static void settle(AioContext *ctx)
{
    g_assert_false(aio_poll(ctx, false));
}

static bool is_io_uring(AioContext *ctx)
{
    return test_stats(ctx).fdmon == AIO_FDMON_IO_URING;
}

static void count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

/* Runs blocking aio_poll()s until a timer @ms from now fires (nothing else
 * happens; arming it notified the context, which a non-blocking poll
 * consumes first, so that the blocking one really waits).  A kernel timer
 * never ends a wait early, so that is one call, which this checks (its
 * progress is the timer's). */
static void poll_until_timer(AioContext *ctx, int64_t ms)
{
    int fired = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb,
                                 &fired);

    timer_mod_ns(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + ms * SCALE_MS);
    g_assert_false(aio_poll(ctx, false));
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(fired, ==, 1);
    timer_free(t);
}

/* Makes @h's fd readable and dispatches it (io_read) with one blocking
 * aio_poll(): with @h's poll time 0 there is no busy polling, so the wait
 * returns at once.  (A non-blocking one would not wait at all on
 * poll/epoll: see test_nonblocking_no_wait.)  Returns: the time measured
 * around the call, an upper bound of its block_ns. */
static int64_t dispatch_by_fd(AioContext *ctx, PollH *h)
{
    int reads = h->reads;
    int64_t t0, t1;

    event_notifier_set(&h->e);
    t0 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    g_assert_true(aio_poll(ctx, true));
    t1 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    g_assert_cmpint(h->reads, ==, reads + 1);
    return t1 - t0;
}

/*
 * One blocking aio_poll() whose wait @h's own fd ends, fired from
 * io_poll_end (@action END_FIRE or END_FIRE_LATE): block_ns is at least
 * @h's poll time.  Returns: the time measured around the call, an upper
 * bound of block_ns.
 */
static int64_t cycle_fired_after_polling(AioContext *ctx, PollH *h,
                                         EndAction action)
{
    int reads = h->reads, ends = h->ends;
    int64_t t0, t1;

    settle(ctx);
    g_assert_cmpint(poll_ns_of(ctx, h), >, 0);
    h->end_action = action;
    t0 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    g_assert_true(aio_poll(ctx, true));
    t1 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    g_assert_cmpint(h->ends, ==, ends + 1);
    g_assert_cmpint(h->reads, ==, reads + 1);
    g_assert_cmpint(h->end_action, ==, END_NOTHING);
    return t1 - t0;
}

/* Dispatches @h by fd until its poll time is 4000 ns (the first step from
 * 0; a dispatch slower than the maximum leaves it at 0, per the rule).
 * Returns: the number of attempts. */
static int reach_first_step(AioContext *ctx, PollH *h, int64_t max)
{
    for (int i = 1; i <= ADAPT_ROUNDS; i++) {
        int64_t outer = dispatch_by_fd(ctx, h);
        int64_t p = poll_ns_of(ctx, h);

        if (p == FIRST_POLL_NS) {
            return i;
        }
        /* Only a block longer than the maximum may leave it at 0. */
        g_assert_cmpint(p, ==, 0);
        g_assert_cmpint(outer, >, max);
    }
    g_assert_not_reached();
    return 0;
}

/* Returns: the poll time the rule gives for a block in (@p, @hi] when it
 * is sure (@hi < max: grow), else -1. */
static int64_t expected_after(int64_t p, int64_t hi, int64_t max, int64_t grow)
{
    if (hi < max) {
        int64_t next = p ? p * (grow ? grow : 2) : FIRST_POLL_NS;

        return MIN(next, max);
    }
    return -1;
}

/*
 * Grows @h's poll time from 0 along the rule's sequence with blocks just
 * longer than the current poll time, until it reaches @target.  Every
 * value seen must be the rule's: the next step when the block was surely
 * below the maximum, else that or the shrink (÷@shrink, or back to 0 and
 * start again).  Appends the values to @seen.  Returns: whether it went
 * straight (no slow round).
 */
static bool grow_to(AioContext *ctx, PollH *h, int64_t max, int64_t grow,
                    int64_t shrink, int64_t target, GString *seen)
{
    bool straight = true;
    int rounds = 0;
    int64_t p;

    reach_first_step(ctx, h, max);
    p = poll_ns_of(ctx, h);
    g_string_append_printf(seen, "%" G_GINT64_FORMAT, p);
    while (p != target) {
        int64_t outer, want, got;

        g_assert_cmpint(++rounds, <, ADAPT_ROUNDS);
        g_assert_cmpint(p, <, target);
        outer = cycle_fired_after_polling(ctx, h, END_FIRE);
        want = expected_after(p, outer, max, grow);
        got = poll_ns_of(ctx, h);
        if (want >= 0) {
            g_assert_cmpint(got, ==, want);
        } else if (got != MIN(p * (grow ? grow : 2), max)) {
            /* Slow: the block passed the maximum and shrank it. */
            g_assert_cmpint(got, ==, shrink ? p / shrink : 0);
            g_string_append_printf(seen, " %" G_GINT64_FORMAT "(slow)", got);
            straight = false;
            if (got == 0) {
                reach_first_step(ctx, h, max);
                got = poll_ns_of(ctx, h);
            }
        }
        g_assert_cmpint(got, <=, max);
        p = got;
        g_string_append_printf(seen, " %" G_GINT64_FORMAT, p);
    }
    g_test_message("poll_ns: %s", seen->str);
    return straight;
}

/* ------------------------------------------------------------------------ */
/* Joining the poll list                                                     */
/* ------------------------------------------------------------------------ */

static void test_off_by_default(void)
{
    AioContext *ctx = test_ctx_new();
    PollH h;

    ph_add(ctx, &h);
    settle(ctx);
    dispatch_by_fd(ctx, &h);
    /* It joined the list, but the maximum is 0: no adaptive time, no
     * busy polling, no begin/end. */
    g_assert_true(ph_polled(ctx, &h));
    settle(ctx);
    poll_until_timer(ctx, 20);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, 0);
    g_assert_cmpint(h.polls, ==, 0);
    g_assert_cmpint(h.begins + h.ends, ==, 0);
    g_assert_false(test_stats(ctx).poll_started);

    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

static void test_join_on_first_dispatch(void)
{
    AioContext *ctx = test_ctx_new();
    PollH h;

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 0, 0);
    ph_add(ctx, &h);
    for (int i = 0; i < 3; i++) {
        settle(ctx);
    }
    g_assert_false(ph_polled(ctx, &h));
    poll_until_timer(ctx, 20);
    g_assert_false(ph_polled(ctx, &h));
    g_assert_cmpint(h.polls, ==, 0);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, 0);

    dispatch_by_fd(ctx, &h);
    g_assert_true(ph_polled(ctx, &h));
    g_assert_cmpint(h.reads, ==, 1);

    ph_remove(ctx, &h);
    g_assert_false(ph_polled(ctx, &h));
    test_ctx_free(ctx);
}

/* Joining while poll mode is on calls io_poll_begin at once. */
static void test_join_begins_when_started(void)
{
    AioContext *ctx = test_ctx_new();
    EventNotifier plain;
    int plain_calls = 0;
    PollH a, b;

    /* A large maximum: the poll time of a cannot shrink to 0 here. */
    aio_context_set_poll_params(ctx, 1000 * SCALE_MS, 0, 0);
    ph_add(ctx, &a);
    ph_add(ctx, &b);
    settle(ctx);
    reach_first_step(ctx, &a, 1000 * SCALE_MS);

    /* A poll hit leaves poll mode on. */
    settle(ctx);
    a.work = true;
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(a.readies, ==, 1);
    g_assert_cmpint(a.begins, ==, 1);
    g_assert_cmpint(a.ends, ==, 0);
    g_assert_true(test_stats(ctx).poll_started);

    /* Dispatch b by fd without ending poll mode: a non-blocking poll
     * (no poll_set_started(false)) that waits, which on poll/epoll takes
     * a handler without io_poll (need_wait()). */
    g_assert_cmpint(event_notifier_init(&plain, false), ==, 0);
    g_assert_cmpint(aio_set_fd_handler(ctx, event_notifier_get_fd(&plain),
                                       false, count_cb, NULL, NULL, NULL,
                                       &plain_calls),
                    ==, 0);
    g_assert_false(ph_polled(ctx, &b));
    g_assert_cmpint(b.begins, ==, 0);
    event_notifier_set(&b.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(b.reads, ==, 1);
    g_assert_true(ph_polled(ctx, &b));
    g_assert_cmpint(b.begins, ==, 1);
    g_assert_cmpint(b.ends, ==, 0);
    g_assert_true(test_stats(ctx).poll_started);
    g_assert_cmpint(a.ends, ==, 0);

    g_assert_cmpint(aio_set_fd_handler(ctx, event_notifier_get_fd(&plain),
                                       false, NULL, NULL, NULL, NULL, NULL),
                    ==, 0);
    event_notifier_cleanup(&plain);
    ph_remove(ctx, &a);
    ph_remove(ctx, &b);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Poll mode on and off; poll hits                                           */
/* ------------------------------------------------------------------------ */

static void test_begin_end_only_on_change(void)
{
    AioContext *ctx = test_ctx_new();
    PollH h;

    aio_context_set_poll_params(ctx, 1000 * SCALE_MS, 0, 0);
    ph_add(ctx, &h);
    settle(ctx);
    reach_first_step(ctx, &h, 1000 * SCALE_MS);
    g_assert_cmpint(h.begins, ==, 0);
    g_assert_cmpint(h.ends, ==, 0);

    /* Two hits in a row: begin once, no end (poll mode stays on). */
    for (int i = 1; i <= 2; i++) {
        settle(ctx);
        h.work = true;
        g_assert_true(aio_poll(ctx, true));
        g_assert_cmpint(h.readies, ==, i);
        g_assert_cmpint(h.begins, ==, 1);
        g_assert_cmpint(h.ends, ==, 0);
        g_assert_true(test_stats(ctx).poll_started);
    }

    /* A non-blocking poll does not touch poll mode. */
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(h.begins, ==, 1);
    g_assert_cmpint(h.ends, ==, 0);

    /* Polling finds nothing: it ends before the wait, once. */
    poll_until_timer(ctx, 20);
    g_assert_cmpint(h.begins, ==, 1);
    g_assert_cmpint(h.ends, ==, 1);
    g_assert_false(test_stats(ctx).poll_started);

    /* Each further fruitless blocking poll: one begin, one end. */
    poll_until_timer(ctx, 20);
    g_assert_cmpint(h.begins, ==, 2);
    g_assert_cmpint(h.ends, ==, 2);
    g_assert_cmpint(h.readies, ==, 2);
    g_assert_cmpint(h.reads, ==, 1);

    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

static void test_hit_is_progress(void)
{
    AioContext *ctx = test_ctx_new();
    PollH h;
    int polls;

    aio_context_set_poll_params(ctx, 1000 * SCALE_MS, 0, 0);
    ph_add(ctx, &h);
    settle(ctx);
    reach_first_step(ctx, &h, 1000 * SCALE_MS);

    settle(ctx);
    polls = h.polls;
    h.work = true;
    /* Nothing else could end this wait: the hit is what returns, as
     * progress, through io_poll_ready (not io_read: no fd event). */
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(h.readies, ==, 1);
    g_assert_cmpint(h.hits, ==, 1);
    g_assert_cmpint(h.polls, ==, polls + 1);
    g_assert_cmpint(h.reads, ==, 1);
    g_assert_false(h.work);
    g_assert_true(ph_polled(ctx, &h));

    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* poll_set_started(false) polls once more after io_poll_end: work that
 * raced with it is found, as progress, and the loop does not block. */
static void test_final_poll_after_end(void)
{
    AioContext *ctx = test_ctx_new();
    int fired = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, count_cb,
                                 &fired);
    PollH h;

    aio_context_set_poll_params(ctx, 1000 * SCALE_MS, 0, 0);
    ph_add(ctx, &h);
    settle(ctx);
    reach_first_step(ctx, &h, 1000 * SCALE_MS);

    settle(ctx);
    /* Only a safety net: without the final poll this waits for it. */
    timer_mod(t,
              qemu_clock_get_ns(QEMU_CLOCK_REALTIME) / SCALE_MS + TEST_WAIT_MS);
    g_assert_false(aio_poll(ctx, false)); /* the arming's notify */
    h.end_action = END_SET_WORK;
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(fired, ==, 0);
    g_assert_cmpint(h.begins, ==, 1);
    g_assert_cmpint(h.ends, ==, 1);
    g_assert_cmpint(h.readies, ==, 1);
    g_assert_false(test_stats(ctx).poll_started);

    timer_free(t);
    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/*
 * A non-blocking aio_poll() whose handlers all have io_poll makes no wait
 * (SEMANTICS.md §4 step 6: need_wait() is false for poll/epoll, and a zero
 * timeout means no busy polling either).  The observable: a readable fd is
 * not dispatched, because only a wait (ppoll, epoll_wait) could have
 * reported it — and the same call does dispatch it as soon as one handler
 * without io_poll makes need_wait() true.  io_uring's need_wait() instead
 * looks at the completion ring, which the kernel fills without a syscall:
 * there the fd is dispatched, still without blocking.
 */
static void test_nonblocking_no_wait(void)
{
    AioContext *ctx = test_ctx_new();
    bool uring = is_io_uring(ctx);
    EventNotifier plain;
    int plain_calls = 0;
    PollH h;

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 0, 0);
    ph_add(ctx, &h);
    settle(ctx);
    event_notifier_set(&h.e);
    for (int i = 0; i < 3; i++) {
        bool progress = aio_poll(ctx, false);

        g_assert_true(progress == (uring && i == 0));
    }
    g_assert_cmpint(h.reads, ==, uring ? 1 : 0);
    g_assert_cmpint(h.polls, ==, 0);

    /* A handler without io_poll: now the same call waits (without
     * blocking) and sees the fd. */
    g_assert_cmpint(event_notifier_init(&plain, false), ==, 0);
    g_assert_cmpint(aio_set_fd_handler(ctx, event_notifier_get_fd(&plain),
                                       false, count_cb, NULL, NULL, NULL,
                                       &plain_calls),
                    ==, 0);
    event_notifier_set(&h.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(h.reads, ==, uring ? 2 : 1);
    g_assert_cmpint(plain_calls, ==, 0);

    g_assert_cmpint(aio_set_fd_handler(ctx, event_notifier_get_fd(&plain),
                                       false, NULL, NULL, NULL, NULL, NULL),
                    ==, 0);
    event_notifier_cleanup(&plain);
    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* GLib's poll cannot be replaced by busy polling: the GSource prepare ends
 * poll mode (io_poll_end once); what its final poll finds is dropped. */
static void test_gsource_prepare_stops(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main;
    PollH h;

    aio_context_set_poll_params(ctx, 1000 * SCALE_MS, 0, 0);
    ph_add(ctx, &h);
    settle(ctx);
    reach_first_step(ctx, &h, 1000 * SCALE_MS);
    settle(ctx);
    h.work = true;
    g_assert_true(aio_poll(ctx, true));
    g_assert_true(test_stats(ctx).poll_started);
    g_assert_cmpint(h.begins, ==, 1);
    g_assert_cmpint(h.ends, ==, 0);

    main = g_main_context_new();
    g_assert_cmpint(aio_context_attach(ctx, main, G_PRIORITY_DEFAULT), >, 0);
    h.end_action = END_SET_WORK;
    g_main_context_iteration(main, FALSE);
    g_assert_cmpint(h.ends, ==, 1);
    g_assert_false(test_stats(ctx).poll_started);
    g_assert_cmpint(h.readies, ==, 1);
    g_assert_cmpint(h.begins, ==, 1);

    /* Later iterations leave poll mode alone. */
    test_main_drain(main);
    g_assert_cmpint(h.ends, ==, 1);
    g_assert_cmpint(h.begins, ==, 1);
    g_assert_cmpint(h.readies, ==, 1);

    test_detach(ctx, main);
    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Polling after an fd wake-up                                               */
/* ------------------------------------------------------------------------ */

/*
 * Arms a safety-net timer TEST_WAIT_MS from now without a poll: the
 * arming's notification is accepted directly, because a non-blocking
 * aio_poll() (settle()) would also submit io_uring's queued re-arm, whose
 * fate is what these tests are about.  A test that hangs without the
 * behaviour under test ends at this timer and fails on `fired`.
 */
static QEMUTimer *safety_timer(AioContext *ctx, int *fired)
{
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, count_cb,
                                 fired);

    timer_mod(t,
              qemu_clock_get_ns(QEMU_CLOCK_REALTIME) / SCALE_MS + TEST_WAIT_MS);
    aio_notify_accept(ctx);
    return t;
}

/* Puts @h in poll mode by a busy-poll hit (with a safety-net timer, which
 * it returns), on a context with poll max 1 s. */
static QEMUTimer *into_poll_mode(AioContext *ctx, PollH *h, int *fired)
{
    QEMUTimer *t;

    aio_context_set_poll_params(ctx, 1000 * SCALE_MS, 0, 0);
    ph_add(ctx, h);
    settle(ctx);
    t = safety_timer(ctx, fired);
    reach_first_step(ctx, h, 1000 * SCALE_MS);
    h->work = true;
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(h->readies, ==, 1);
    g_assert_true(test_stats(ctx).poll_started);
    return t;
}

/*
 * A handler woken through its fd busy-polls on the very next aio_poll(),
 * on every monitor.  On io_uring the one-shot POLL_ADD is re-armed after
 * each completion; a re-arm waiting to be submitted used to make
 * need_wait() true, so busy polling never started after an fd wake-up.
 * Now a polled handler rests (no POLL_ADD) while io_poll checks it.
 */
static void test_polls_after_fd_wake(void)
{
    AioContext *ctx = test_ctx_new();
    int fired = 0;
    QEMUTimer *t;
    PollH h;

    aio_context_set_poll_params(ctx, 1000 * SCALE_MS, 0, 0);
    ph_add(ctx, &h);
    settle(ctx);
    t = safety_timer(ctx, &fired);
    reach_first_step(ctx, &h, 1000 * SCALE_MS);
    g_assert_cmpint(h.begins, ==, 0);

    /* No settle(): whatever the fd wake-up left queued is still queued. */
    h.work = true;
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(fired, ==, 0);
    g_assert_cmpint(h.begins, ==, 1);
    g_assert_cmpint(h.hits, ==, 1);
    g_assert_cmpint(h.readies, ==, 1);
    g_assert_true(test_stats(ctx).poll_started);

    /* And again: a hit leaves nothing queued either. */
    h.work = true;
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(fired, ==, 0);
    g_assert_cmpint(h.hits, ==, 2);
    g_assert_cmpint(h.readies, ==, 2);
    g_assert_cmpint(h.begins, ==, 1);
    g_assert_cmpint(h.ends, ==, 0);

    timer_free(t);
    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* When polling gives up, the fd is watched again before the blocking
 * wait: an fd event that comes right after io_poll_end() (which io_poll
 * does not see here) wakes the wait. */
static void test_fd_watched_after_polling(void)
{
    AioContext *ctx = test_ctx_new();
    int fired = 0;
    QEMUTimer *t;
    PollH h;

    t = into_poll_mode(ctx, &h, &fired);

    /* Polls P (no work), ends poll mode, the fd fires, then it blocks. */
    h.end_action = END_FIRE;
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(fired, ==, 0);
    g_assert_cmpint(h.ends, ==, 1);
    g_assert_cmpint(h.reads, ==, 2); /* reach_first_step's, this */
    g_assert_false(test_stats(ctx).poll_started);

    timer_free(t);
    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* The same for GLib: after busy polling, a GLib iteration watches the fd
 * again (the GSource prepare ends poll mode and re-arms). */
static void test_fd_watched_under_glib_after_polling(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main;
    int fired = 0;
    QEMUTimer *t;
    PollH h;

    t = into_poll_mode(ctx, &h, &fired);
    main = g_main_context_new();
    g_assert_cmpint(aio_context_attach(ctx, main, G_PRIORITY_DEFAULT), >, 0);
    event_notifier_set(&h.e);
    while (h.reads < 2 && !fired) {
        g_main_context_iteration(main, TRUE);
    }
    g_assert_cmpint(fired, ==, 0);
    g_assert_cmpint(h.reads, ==, 2);
    g_assert_cmpint(h.ends, ==, 1);

    test_detach(ctx, main);
    timer_free(t);
    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/*
 * A handler whose io_poll finds nothing for poll_idle_interval_ns leaves
 * the poll list on io_uring (io_poll_end is called) and its fd is watched
 * again at once, though another handler's hits keep busy polling going.
 * poll and epoll
 * keep every handler on the list (only io_uring sees fds while polling).
 */
static void test_idle_handler_leaves(void)
{
    AioContext *ctx = test_ctx_new();
    bool uring = is_io_uring(ctx);
    int64_t until;
    int busy_ends, idle_ends;
    PollH busy, idle;

    ctx->poll_idle_interval_ns = 20 * SCALE_MS;
    aio_context_set_poll_params(ctx, 1000 * SCALE_MS, 0, 0);
    ph_add(ctx, &busy);
    ph_add(ctx, &idle);
    settle(ctx);
    reach_first_step(ctx, &busy, 1000 * SCALE_MS);
    dispatch_by_fd(ctx, &idle);
    g_assert_true(ph_polled(ctx, &idle));
    busy_ends = busy.ends;
    idle_ends = idle.ends;

    /* Only busy's hits end these calls. */
    until = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
            (int64_t)(uring ? TEST_WAIT_MS : 100) * SCALE_MS;
    while (ph_polled(ctx, &idle) &&
           qemu_clock_get_ns(QEMU_CLOCK_REALTIME) < until) {
        busy.work = true;
        g_assert_true(aio_poll(ctx, true));
        g_assert_false(busy.work);
    }
    g_assert_true(ph_polled(ctx, &busy));
    g_assert_true(ph_polled(ctx, &idle) == !uring);
    g_assert_cmpint(idle.ends, ==, idle_ends + (uring ? 1 : 0));
    g_assert_cmpint(busy.ends, ==, busy_ends);
    g_assert_cmpint(idle.reads, ==, 1);

    if (uring) {
        event_notifier_set(&idle.e);
        until = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
                (int64_t)TEST_WAIT_MS * SCALE_MS;
        while (idle.reads == 1 &&
               qemu_clock_get_ns(QEMU_CLOCK_REALTIME) < until) {
            busy.work = true;
            g_assert_true(aio_poll(ctx, true));
        }
        /* Without the re-arm it would rest, unwatched, for as long as
         * busy's hits keep poll mode on. */
        g_assert_cmpint(idle.reads, ==, 2);
        /* Dispatched by its fd: it joins the poll list again. */
        g_assert_true(ph_polled(ctx, &idle));
    }

    ph_remove(ctx, &idle);
    ph_remove(ctx, &busy);
    test_ctx_free(ctx);
}

/*
 * Poll mode stays on after a hit, but a non-blocking aio_poll() does not
 * busy-poll: it must still see a handler's fd (here, with a handler
 * without io_poll registered, poll and epoll wait too).  io_uring used to
 * leave the polled handler unarmed there, and never reported the fd.
 */
static void test_nonblocking_after_hit(void)
{
    AioContext *ctx = test_ctx_new();
    EventNotifier plain;
    int plain_calls = 0, fired = 0;
    QEMUTimer *t;
    PollH h;

    t = into_poll_mode(ctx, &h, &fired);
    g_assert_cmpint(event_notifier_init(&plain, false), ==, 0);
    g_assert_cmpint(aio_set_fd_handler(ctx, event_notifier_get_fd(&plain),
                                       false, count_cb, NULL, NULL, NULL,
                                       &plain_calls),
                    ==, 0);
    event_notifier_set(&h.e);
    for (int i = 0; i < 3; i++) {
        aio_poll(ctx, false);
    }
    g_assert_cmpint(h.reads, ==, 2); /* reach_first_step's, and this */
    g_assert_cmpint(plain_calls, ==, 0);
    g_assert_cmpint(fired, ==, 0);

    g_assert_cmpint(aio_set_fd_handler(ctx, event_notifier_get_fd(&plain),
                                       false, NULL, NULL, NULL, NULL, NULL),
                    ==, 0);
    event_notifier_cleanup(&plain);
    timer_free(t);
    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* io_poll_ready runs with its handler off the poll list; an aio_poll()
 * nested in it that dispatches the handler by its fd puts it back, and the
 * outer dispatch must not insert it a second time (the list would loop). */
static void test_nested_ready_single_insert(void)
{
    AioContext *ctx = test_ctx_new();
    int fired = 0, n = 0;
    QEMUTimer *t;
    PollH h;

    t = into_poll_mode(ctx, &h, &fired);
    h.nest = true;
    h.work = true;
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(h.readies, ==, 2);
    g_assert_cmpint(h.reads, ==, 2);
    for (AioHandler *node = ctx->poll_handlers; node && n < 10;
         node = node->poll_next) {
        n++;
    }
    g_assert_cmpint(n, ==, 1);
    g_assert_true(ph_polled(ctx, &h));
    g_assert_cmpint(fired, ==, 0);

    timer_free(t);
    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* A removed handler gets no callback, not even from the sweep that takes
 * idle handlers off the poll list (io_uring keeps a retired node linked
 * until its POLL_ADD is over). */
static void test_removed_handler_not_swept(void)
{
    AioContext *ctx = test_ctx_new();
    int fired = 0, polls, ends;
    int64_t until;
    QEMUTimer *t;
    PollH busy, gone;

    ctx->poll_idle_interval_ns = 20 * SCALE_MS;
    t = into_poll_mode(ctx, &busy, &fired);
    ph_add(ctx, &gone);
    settle(ctx);
    dispatch_by_fd(ctx, &gone);
    g_assert_true(ph_polled(ctx, &gone));
    /* A sweep starts its idle clock; then it goes idle for longer than
     * the interval, and is removed before the next sweep. */
    busy.work = true;
    g_assert_true(aio_poll(ctx, true));
    g_usleep(30 * 1000);
    g_assert_cmpint(
        aio_set_event_notifier(ctx, &gone.e, false, NULL, NULL, NULL), ==, 0);
    polls = gone.polls;
    ends = gone.ends;

    until = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + 50 * SCALE_MS;
    while (qemu_clock_get_ns(QEMU_CLOCK_REALTIME) < until) {
        busy.work = true;
        g_assert_true(aio_poll(ctx, true));
    }
    g_assert_cmpint(gone.polls, ==, polls);
    g_assert_cmpint(gone.ends, ==, ends);
    g_assert_cmpint(fired, ==, 0);

    event_notifier_cleanup(&gone.e);
    timer_free(t);
    ph_remove(ctx, &busy);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Adaptive poll time                                                        */
/* ------------------------------------------------------------------------ */

static void test_adaptive_starts_at_4000(void)
{
    AioContext *ctx = test_ctx_new();
    PollH h;
    int attempts;

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 0, 0);
    ph_add(ctx, &h);
    settle(ctx);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, 0);
    attempts = reach_first_step(ctx, &h, POLL_MAX_NS);
    g_test_message("%d attempt(s)", attempts);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, FIRST_POLL_NS);

    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* ×2 (grow 0): 4000, 8000, 16000, 32000 with max 32768. */
static void test_adaptive_grow(void)
{
    AioContext *ctx = test_ctx_new();
    GString *seen = g_string_new(NULL);
    PollH h;

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 0, 0);
    ph_add(ctx, &h);
    settle(ctx);
    grow_to(ctx, &h, POLL_MAX_NS, 0, 0, 32000, seen);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, 32000);

    g_string_free(seen, TRUE);
    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* ×3: 4000, 12000, then capped at the maximum 32768 (not 36000). */
static void test_adaptive_grow_factor_capped(void)
{
    AioContext *ctx = test_ctx_new();
    GString *seen = g_string_new(NULL);
    PollH h;

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 3, 0);
    ph_add(ctx, &h);
    settle(ctx);
    if (grow_to(ctx, &h, POLL_MAX_NS, 3, 0, POLL_MAX_NS, seen)) {
        g_assert_cmpstr(seen->str, ==, "4000 12000 32768");
    }
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, POLL_MAX_NS);

    g_string_free(seen, TRUE);
    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* A block no longer than the poll time (a poll hit) changes nothing. */
static void test_adaptive_hit_keeps(void)
{
    AioContext *ctx = test_ctx_new();
    GString *seen = g_string_new(NULL);
    int unchanged = 0;
    PollH h;

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 3, 0);
    ph_add(ctx, &h);
    settle(ctx);
    grow_to(ctx, &h, POLL_MAX_NS, 3, 0, POLL_MAX_NS, seen);

    for (int i = 0; i < ADAPT_ROUNDS && unchanged < 3; i++) {
        int64_t t0, t1;

        settle(ctx);
        h.work = true;
        t0 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
        g_assert_true(aio_poll(ctx, true));
        t1 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
        if (t1 - t0 <= POLL_MAX_NS) {
            /* block_ns <= poll_ns: no change. */
            g_assert_cmpint(poll_ns_of(ctx, &h), ==, POLL_MAX_NS);
            unchanged++;
        } else if (poll_ns_of(ctx, &h) != POLL_MAX_NS) {
            /* Slow: a block past the maximum shrinks it (to 0). */
            g_assert_cmpint(poll_ns_of(ctx, &h), ==, 0);
            g_string_truncate(seen, 0);
            grow_to(ctx, &h, POLL_MAX_NS, 3, 0, POLL_MAX_NS, seen);
        }
    }
    g_assert_cmpint(unchanged, ==, 3);

    g_string_free(seen, TRUE);
    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* At the maximum, a block just longer than the poll time is longer than
 * the maximum: shrink 0 resets to 0. */
static void test_adaptive_shrink_to_0(void)
{
    AioContext *ctx = test_ctx_new();
    GString *seen = g_string_new(NULL);
    PollH h;

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 3, 0);
    ph_add(ctx, &h);
    settle(ctx);
    grow_to(ctx, &h, POLL_MAX_NS, 3, 0, POLL_MAX_NS, seen);
    cycle_fired_after_polling(ctx, &h, END_FIRE);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, 0);

    g_string_free(seen, TRUE);
    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* shrink 2: each block longer than the maximum (1 ms) halves it. */
static void test_adaptive_shrink_divides(void)
{
    AioContext *ctx = test_ctx_new();
    GString *seen = g_string_new(NULL);
    PollH h;

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 3, 2);
    ph_add(ctx, &h);
    settle(ctx);
    grow_to(ctx, &h, POLL_MAX_NS, 3, 2, POLL_MAX_NS, seen);
    cycle_fired_after_polling(ctx, &h, END_FIRE_LATE);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, POLL_MAX_NS / 2);
    cycle_fired_after_polling(ctx, &h, END_FIRE_LATE);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, POLL_MAX_NS / 4);
    cycle_fired_after_polling(ctx, &h, END_FIRE_LATE);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, POLL_MAX_NS / 8);

    g_string_free(seen, TRUE);
    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* From the first step too: 4000 / 2. */
static void test_adaptive_shrink_from_first_step(void)
{
    AioContext *ctx = test_ctx_new();
    PollH h;

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 0, 2);
    ph_add(ctx, &h);
    settle(ctx);
    reach_first_step(ctx, &h, POLL_MAX_NS);
    cycle_fired_after_polling(ctx, &h, END_FIRE_LATE);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, FIRST_POLL_NS / 2);

    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* aio_context_set_poll_params                                               */
/* ------------------------------------------------------------------------ */

static void test_params_reset(void)
{
    AioContext *ctx = test_ctx_new();
    PollH h;
    int polls;

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 0, 0);
    ph_add(ctx, &h);
    settle(ctx);
    reach_first_step(ctx, &h, POLL_MAX_NS);

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 0, 0);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, 0);
    /* Poll time 0: no busy polling until it grows again. */
    settle(ctx);
    polls = h.polls;
    poll_until_timer(ctx, 20);
    g_assert_cmpint(h.polls, ==, polls);
    g_assert_cmpint(h.begins, ==, 0);

    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

static void test_params_zero_turns_off(void)
{
    AioContext *ctx = test_ctx_new();
    PollH h;
    int polls;

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 0, 0);
    ph_add(ctx, &h);
    settle(ctx);
    reach_first_step(ctx, &h, POLL_MAX_NS);
    settle(ctx);
    poll_until_timer(ctx, 20);
    g_assert_cmpint(h.begins, ==, 1); /* it was polling */

    aio_context_set_poll_params(ctx, 0, 0, 0);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, 0);
    settle(ctx);
    polls = h.polls;
    poll_until_timer(ctx, 20);
    dispatch_by_fd(ctx, &h);
    settle(ctx);
    poll_until_timer(ctx, 20);
    g_assert_cmpint(h.polls, ==, polls);
    g_assert_cmpint(h.begins, ==, 1);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, 0);

    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

typedef struct {
    AioContext *ctx;
    int64_t max_ns;
} ParamsArgs;

static gpointer set_params_thread(gpointer opaque)
{
    ParamsArgs *a = opaque;

    aio_context_set_poll_params(a->ctx, a->max_ns, 0, 0);
    return NULL;
}

/* aio.h: aio_context_set_poll_params() "Resets every handler's adaptive
 * poll time to 0 and notifies.  Any thread". */
static void test_params_other_thread_resets(void)
{
    AioContext *ctx = test_ctx_new();
    ParamsArgs args = {.ctx = ctx, .max_ns = POLL_MAX_NS};
    PollH h;

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 0, 0);
    ph_add(ctx, &h);
    settle(ctx);
    reach_first_step(ctx, &h, POLL_MAX_NS);

    g_thread_join(g_thread_new("set-poll-params", set_params_thread, &args));
    /* Reported as reset at once, but the getter applies nothing: the
     * handler's own poll time and the generation seen stay as they were
     * until the loop's next aio_poll(). */
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, 0);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, 0);
    g_assert_true(aio__poll_params_pending(ctx));
    g_assert_cmpint(ctx->poll_handlers->poll_ns, ==, FIRST_POLL_NS);
    g_assert_false(aio_poll(ctx, false));
    g_assert_false(aio__poll_params_pending(ctx));
    g_assert_cmpint(ctx->poll_handlers->poll_ns, ==, 0);
    g_assert_cmpint(poll_ns_of(ctx, &h), ==, 0);

    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* aio.h: a maximum of 0 "turns polling off" — set from any thread. */
static void test_params_other_thread_zero_turns_off(void)
{
    AioContext *ctx = test_ctx_new();
    ParamsArgs args = {.ctx = ctx, .max_ns = 0};
    PollH h;
    int polls;

    aio_context_set_poll_params(ctx, POLL_MAX_NS, 0, 0);
    ph_add(ctx, &h);
    settle(ctx);
    reach_first_step(ctx, &h, POLL_MAX_NS);

    g_thread_join(g_thread_new("set-poll-params", set_params_thread, &args));
    settle(ctx);
    polls = h.polls;
    poll_until_timer(ctx, 20);
    dispatch_by_fd(ctx, &h);
    settle(ctx);
    poll_until_timer(ctx, 20);
    g_assert_cmpint(h.polls, ==, polls);
    g_assert_cmpint(h.begins, ==, 0);

    ph_remove(ctx, &h);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Churn from another thread while busy polling                              */
/* ------------------------------------------------------------------------ */

#define CHURN_FDS 8
#define CHURN_ROUNDS 4000

typedef struct {
    AioContext *ctx;
    EventNotifier e[CHURN_FDS];
    int done; /* atomic */
} Churn;

/* Dispatches by path (home thread), reported by the test. */
static int churn_reads, churn_readies;

/* io_read and io_poll_ready: the event is consumed by whoever sees it. */
static void churn_read(EventNotifier *e)
{
    churn_reads++;
    event_notifier_test_and_clear(e);
}

static bool churn_poll(void *opaque)
{
    return event_notifier_test_and_clear(opaque);
}

static void churn_ready(EventNotifier *e)
{
    (void)e;
    churn_readies++;
}

static void churn_add(Churn *c, int k)
{
    g_assert_cmpint(aio_set_event_notifier(c->ctx, &c->e[k], false, churn_read,
                                           churn_poll, churn_ready),
                    ==, 0);
}

static void churn_remove(Churn *c, int k)
{
    g_assert_cmpint(
        aio_set_event_notifier(c->ctx, &c->e[k], false, NULL, NULL, NULL), ==,
        0);
}

/* Sets the fds, and now and then replaces or removes and re-adds their
 * handlers, while the home thread polls. */
static gpointer churn_thread(gpointer opaque)
{
    Churn *c = opaque;

    for (int i = 0; i < CHURN_ROUNDS; i++) {
        int k = i % CHURN_FDS;

        event_notifier_set(&c->e[k]);
        if (i % 7 == 0) {
            churn_add(c, k); /* a replacement: a new node */
        }
        if (i % 13 == 0) {
            churn_remove(c, k);
            churn_add(c, k);
        }
        if (i % 64 == 0) {
            g_usleep(50); /* let the loop block now and then */
        }
    }
    __atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
    aio_notify(c->ctx);
    return NULL;
}

static void churn_tick(void *opaque)
{
    QEMUTimer **t = opaque;

    timer_mod(*t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) / SCALE_MS + 10);
}

static bool churn_drained(Churn *c)
{
    for (int k = 0; k < CHURN_FDS; k++) {
        GPollFD pfd = {.fd = event_notifier_get_fd(&c->e[k]),
                       .events = G_IO_IN};

        if (g_poll(&pfd, 1, 0) != 0) {
            return false;
        }
    }
    return true;
}

/*
 * Another thread sets fds and replaces or removes their handlers while
 * the home thread busy-polls them (on io_uring, polled handlers rest
 * without a POLL_ADD, and retired nodes may be resting, armed or queued).
 * No event may be lost: once the thread is done, every fd gets drained by
 * its handler, through io_poll or through the fd monitor.  ASan and TSan
 * builds check the rest.
 */
static void test_churn_while_polling(void)
{
    Churn c = {.ctx = test_ctx_new()};
    QEMUTimer *tick;
    GThread *th;

    aio_context_set_poll_params(c.ctx, 1000 * SCALE_US, 0, 0);
    for (int k = 0; k < CHURN_FDS; k++) {
        g_assert_cmpint(event_notifier_init(&c.e[k], false), ==, 0);
        churn_add(&c, k);
    }
    /* Wakes the loop every 10 ms, so that the deadline below is checked. */
    tick = aio_timer_new(c.ctx, QEMU_CLOCK_REALTIME, SCALE_MS, churn_tick,
                         &tick);
    churn_tick(&tick);

    th = g_thread_new("churn", churn_thread, &c);
    while (!__atomic_load_n(&c.done, __ATOMIC_SEQ_CST)) {
        aio_poll(c.ctx, true);
    }
    g_thread_join(th);
    TEST_POLL_UNTIL(c.ctx, churn_drained(&c));
    g_assert_true(churn_drained(&c));
    g_test_message("dispatched by fd %d, by a poll hit %d", churn_reads,
                   churn_readies);
    g_assert_cmpint(churn_reads + churn_readies, >, 0);

    timer_free(tick);
    for (int k = 0; k < CHURN_FDS; k++) {
        churn_remove(&c, k);
    }
    while (aio_poll(c.ctx, false)) {
    }
    for (int k = 0; k < CHURN_FDS; k++) {
        event_notifier_cleanup(&c.e[k]);
    }
    test_ctx_free(c.ctx);
}

/*
 * Issue #13, defect 3 (io_uring): a call that meant to busy-poll but did
 * not (need_wait() said so after poll_begin) still counted as polling, so
 * the wait it made left the resting handlers unarmed: poll(true) returned
 * false with a byte unread.  The sequence: a pipe handler whose io_poll
 * drains the pipe and an event notifier with io_poll, both in poll mode
 * after a dispatch and a poll hit; the notifier registered again (a
 * POLL_REMOVE whose completion makes need_wait() true, and a notify); one
 * byte.  Every monitor must read it in that call.
 */
typedef struct {
    int fd;
    int bytes;
} DrainH;

static void drain_read(void *opaque)
{
    DrainH *d = opaque;

    d->bytes += (int)test_read_all(d->fd);
}

static bool drain_poll(void *opaque)
{
    DrainH *d = opaque;
    int n = (int)test_read_all(d->fd);

    d->bytes += n;
    return n > 0;
}

static void noop_ready(void *opaque)
{
    (void)opaque;
}

static bool ev_poll_never(void *opaque)
{
    (void)opaque;
    return false;
}

static void ev_clear(EventNotifier *e)
{
    event_notifier_test_and_clear(e);
}

static void set_ev(AioContext *ctx, EventNotifier *e)
{
    g_assert_cmpint(aio_set_event_notifier(ctx, e, false, ev_clear,
                                           ev_poll_never,
                                           (EventNotifierHandler *)noop_ready),
                    ==, 0);
}

static void test_unarmed_after_no_busy_poll(void)
{
    int written = 0;

    for (int round = 0; round < 100; round++) {
        AioContext *ctx = test_ctx_new();
        DrainH d = {0};
        EventNotifier e;
        int p[2];

        aio_context_set_poll_params(ctx, 50000, 0, 0);
        test_pipe(p);
        d.fd = p[0];
        g_assert_cmpint(event_notifier_init(&e, false), ==, 0);
        g_assert_cmpint(aio_set_fd_handler(ctx, p[0], false, drain_read, NULL,
                                           drain_poll, noop_ready, &d),
                        ==, 0);
        set_ev(ctx, &e);
        written = 0;
        test_drain(ctx);

        test_write_byte(p[1]);
        written++;
        g_assert_true(aio_poll(ctx, true));
        test_write_byte(p[1]);
        written++;
        g_assert_true(aio_poll(ctx, true)); /* a poll hit */
        g_assert_cmpint(d.bytes, ==, written);

        set_ev(ctx, &e);
        test_write_byte(p[1]);
        written++;
        if (!aio_poll(ctx, true)) {
            g_test_message("round %d: poll(true) made no progress", round);
        }
        g_assert_cmpint(d.bytes, ==, written);

        test_remove_fd(ctx, p[0]);
        g_assert_cmpint(
            aio_set_event_notifier(ctx, &e, false, NULL, NULL, NULL), ==, 0);
        test_drain(ctx);
        event_notifier_cleanup(&e);
        test_close_pair(p);
        test_ctx_free(ctx);
    }
}

/* A blocking call that finds a notification pending does not block, but
 * it still looks at the fds: every handler having io_poll (need_wait()
 * false on poll/epoll) must not make it skip the wait altogether.  Found
 * with the defect-3 sequence once the adaptive poll time had shrunk. */
static void test_notified_blocking_call_checks_fds(void)
{
    AioContext *ctx = test_ctx_new();
    DrainH d = {0};
    int p[2];

    test_pipe(p);
    d.fd = p[0];
    g_assert_cmpint(aio_set_fd_handler(ctx, p[0], false, drain_read, NULL,
                                       drain_poll, noop_ready, &d),
                    ==, 0);
    test_drain(ctx);
    for (int i = 1; i <= 20; i++) {
        test_write_byte(p[1]);
        aio_notify(ctx); /* nobody waits: only `notified` is set */
        g_assert_true(aio_poll(ctx, true));
        g_assert_cmpint(d.bytes, ==, i);
    }
    test_remove_fd(ctx, p[0]);
    test_close_pair(p);
    test_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/poll-mode/off-by-default", test_off_by_default);
    g_test_add_func("/poll-mode/fd-wake/notified-blocking-call-checks-fds",
                    test_notified_blocking_call_checks_fds);
    g_test_add_func("/poll-mode/fd-wake/armed-when-not-busy-polling",
                    test_unarmed_after_no_busy_poll);
    g_test_add_func("/poll-mode/join/on-first-dispatch",
                    test_join_on_first_dispatch);
    g_test_add_func("/poll-mode/join/begin-when-started",
                    test_join_begins_when_started);
    g_test_add_func("/poll-mode/begin-end/only-on-change",
                    test_begin_end_only_on_change);
    g_test_add_func("/poll-mode/hit/progress-and-ready", test_hit_is_progress);
    g_test_add_func("/poll-mode/end/final-poll-finds-work",
                    test_final_poll_after_end);
    g_test_add_func("/poll-mode/nonblocking/no-wait", test_nonblocking_no_wait);
    g_test_add_func("/poll-mode/gsource/prepare-stops",
                    test_gsource_prepare_stops);

    g_test_add_func("/poll-mode/fd-wake/polls-next", test_polls_after_fd_wake);
    g_test_add_func("/poll-mode/fd-wake/watched-after-polling",
                    test_fd_watched_after_polling);
    g_test_add_func("/poll-mode/fd-wake/watched-under-glib",
                    test_fd_watched_under_glib_after_polling);
    g_test_add_func("/poll-mode/idle/leaves-and-fd-served",
                    test_idle_handler_leaves);
    g_test_add_func("/poll-mode/fd-wake/nonblocking-after-hit",
                    test_nonblocking_after_hit);
    g_test_add_func("/poll-mode/hit/nested-ready-single-insert",
                    test_nested_ready_single_insert);
    g_test_add_func("/poll-mode/idle/removed-handler-not-swept",
                    test_removed_handler_not_swept);
    g_test_add_func("/poll-mode/adaptive/starts-at-4000",
                    test_adaptive_starts_at_4000);
    g_test_add_func("/poll-mode/adaptive/grow", test_adaptive_grow);
    g_test_add_func("/poll-mode/adaptive/grow-factor-capped",
                    test_adaptive_grow_factor_capped);
    g_test_add_func("/poll-mode/adaptive/hit-keeps", test_adaptive_hit_keeps);
    g_test_add_func("/poll-mode/adaptive/shrink-to-0",
                    test_adaptive_shrink_to_0);
    g_test_add_func("/poll-mode/adaptive/shrink-divides",
                    test_adaptive_shrink_divides);
    g_test_add_func("/poll-mode/adaptive/shrink-from-first-step",
                    test_adaptive_shrink_from_first_step);

    g_test_add_func("/poll-mode/params/reset", test_params_reset);
    g_test_add_func("/poll-mode/params/zero-turns-off",
                    test_params_zero_turns_off);
    g_test_add_func("/poll-mode/params/other-thread/resets",
                    test_params_other_thread_resets);
    g_test_add_func("/poll-mode/params/other-thread/zero-turns-off",
                    test_params_other_thread_zero_turns_off);
    g_test_add_func("/poll-mode/churn/other-thread-while-polling",
                    test_churn_while_polling);

    return g_test_run();
}
