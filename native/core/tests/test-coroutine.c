/*
 * test-coroutine.c — coroutines on AioContexts: create/enter/yield, the
 * stack pool, chained entering, aio_co_schedule/wake/enter/reschedule_self
 * (one thread and several), CoMutex, CoQueue, qemu_co_sleep_ns,
 * AIO_WAIT_WHILE and the 2012 flush API.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

#include "coroutine.h"
#include "aio-wait.h"

#include <pthread.h>

/* ------------------------------------------------------------------------ */
/* I/O threads: a context run by aio_poll() in its own thread                */
/* ------------------------------------------------------------------------ */

typedef struct IOThread {
    pthread_t thread;
    AioContext *ctx; /* set before iothread_start() returns */
    bool stop;       /* atomic */
    pthread_mutex_t lock;
    pthread_cond_t cond;
} IOThread;

static void *iothread_run(void *opaque)
{
    IOThread *t = opaque;
    AioContext *ctx = test_ctx_new_named("iothread");

    pthread_mutex_lock(&t->lock);
    t->ctx = ctx;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
        aio_poll(ctx, true);
    }
    test_drain(ctx);
    return NULL;
}

static void iothread_start(IOThread *t)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    g_assert_cmpint(pthread_create(&t->thread, NULL, iothread_run, t), ==, 0);
    pthread_mutex_lock(&t->lock);
    while (!t->ctx) {
        pthread_cond_wait(&t->cond, &t->lock);
    }
    pthread_mutex_unlock(&t->lock);
}

/* Stops and joins @t; the thread's context is finalized here, after the
 * thread drained it (so test_ctx_free's checks run on one thread). */
static void iothread_stop(IOThread *t)
{
    AioContext *ctx = t->ctx;

    __atomic_store_n(&t->stop, true, __ATOMIC_RELEASE);
    aio_notify(ctx);
    g_assert_cmpint(pthread_join(t->thread, NULL), ==, 0);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    /* Every scheduled coroutine held a reference; none is left. */
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Create, enter, yield                                                      */
/* ------------------------------------------------------------------------ */

typedef struct Steps {
    int step;
    bool in_coroutine;
    bool entered_inside;
    Coroutine *self;
} Steps;

static void steps_entry(void *opaque)
{
    Steps *s = opaque;

    s->in_coroutine = qemu_in_coroutine();
    s->self = qemu_coroutine_self();
    s->entered_inside = qemu_coroutine_entered(s->self);
    s->step = 1;
    qemu_coroutine_yield();
    s->step = 2;
    qemu_coroutine_yield();
    s->step = 3;
}

static void test_enter_yield(void)
{
    Steps s = {0};
    Coroutine *co = qemu_coroutine_create(steps_entry, &s);

    g_assert_false(qemu_in_coroutine());
    g_assert_cmpstr(qemu_coroutine_name(co), ==, "steps_entry");
    g_assert_false(qemu_coroutine_entered(co));
    g_assert_cmpint(s.step, ==, 0); /* created, not started */

    qemu_coroutine_enter(co);
    g_assert_cmpint(s.step, ==, 1);
    g_assert_true(s.in_coroutine);
    g_assert_true(s.self == co);
    g_assert_true(s.entered_inside);
    g_assert_false(qemu_coroutine_entered(co)); /* yielded */
    g_assert_false(qemu_in_coroutine());
    g_assert_null(qemu_coroutine_get_aio_context(co));

    qemu_coroutine_enter_if_inactive(co);
    g_assert_cmpint(s.step, ==, 2);
    qemu_coroutine_enter(co);
    g_assert_cmpint(s.step, ==, 3); /* ended, freed */
}

static void noop_entry(void *opaque)
{
    (*(int *)opaque)++;
}

static void test_pool_reuse(void)
{
    int runs = 0;
    unsigned before;
    Coroutine *co;

    co = qemu_coroutine_create(noop_entry, &runs);
    qemu_coroutine_enter(co);
    before = qemu_coroutine_pool_size();
    g_assert_cmpuint(before, >=, 1);
    /* The pooled coroutine is taken again, and returns after it ran. */
    co = qemu_coroutine_create(noop_entry, &runs);
    g_assert_cmpuint(qemu_coroutine_pool_size(), ==, before - 1);
    qemu_coroutine_enter(co);
    g_assert_cmpuint(qemu_coroutine_pool_size(), ==, before);
    g_assert_cmpint(runs, ==, 2);
}

/* Nested plain enter: the inner returns to the outer, not to main. */
typedef struct Nest {
    GString *log;
    Coroutine *inner;
} Nest;

static void nest_inner(void *opaque)
{
    Nest *n = opaque;

    g_string_append(n->log, "i1 ");
    qemu_coroutine_yield();
    g_string_append(n->log, "i2 ");
}

static void nest_outer(void *opaque)
{
    Nest *n = opaque;

    g_string_append(n->log, "o1 ");
    qemu_coroutine_enter(n->inner);
    g_string_append(n->log, "o2 ");
    qemu_coroutine_enter(n->inner);
    g_string_append(n->log, "o3");
}

static void test_nested_enter(void)
{
    Nest n = {g_string_new(NULL), NULL};

    n.inner = qemu_coroutine_create(nest_inner, &n);
    qemu_coroutine_enter(qemu_coroutine_create(nest_outer, &n));
    g_assert_cmpstr(n.log->str, ==, "o1 i1 o2 i2 o3");
    g_string_free(n.log, TRUE);
}

/* ------------------------------------------------------------------------ */
/* Chained entering: 25,000 mutual aio_co_enter()s use no more stack         */
/* ------------------------------------------------------------------------ */

#define CHAIN_ROUNDS 25000

typedef struct Chain {
    AioContext *ctx;
    Coroutine *co[2];
    bool done[2];
    unsigned enters;
    uintptr_t low[2], high[2]; /* stack addresses seen in each loop */
} Chain;

static void chain_entry(void *opaque, int me)
{
    Chain *c = opaque;
    int other = !me;

    for (int i = 0; i < CHAIN_ROUNDS; i++) {
        uintptr_t here = (uintptr_t)&i;

        c->low[me] = MIN(c->low[me], here);
        c->high[me] = MAX(c->high[me], here);
        c->enters++;
        aio_co_enter(c->ctx, c->co[other]);
        qemu_coroutine_yield();
    }
    c->done[me] = true;
    if (!c->done[other]) {
        aio_co_enter(c->ctx, c->co[other]);
    }
}

static void chain_a(void *opaque)
{
    chain_entry(opaque, 0);
}
static void chain_b(void *opaque)
{
    chain_entry(opaque, 1);
}

static void test_chained_enter(void)
{
    Chain c = {.ctx = test_ctx_new(), .low = {UINTPTR_MAX, UINTPTR_MAX}};

    c.co[0] = qemu_coroutine_create(chain_a, &c);
    c.co[1] = qemu_coroutine_create(chain_b, &c);
    aio_co_enter(c.ctx, c.co[0]);
    g_assert_true(c.done[0]);
    g_assert_true(c.done[1]);
    g_assert_cmpuint(c.enters, ==, 2 * CHAIN_ROUNDS);
    /* Each loop ran at one depth of its own stack: nothing nested. */
    g_assert_cmpuint(c.high[0], ==, c.low[0]);
    g_assert_cmpuint(c.high[1], ==, c.low[1]);
    test_ctx_free(c.ctx);
}

/* ------------------------------------------------------------------------ */
/* aio_co_schedule, aio_co_wake, aio_co_enter                                */
/* ------------------------------------------------------------------------ */

typedef struct Where {
    AioContext *ctx_seen;
    AioContext *current_seen;
    bool home;
    pthread_t thread;
    int runs;
    bool stop;
    GString *log;
} Where;

static void where_entry(void *opaque)
{
    Where *w = opaque;

    while (!w->stop) {
        w->ctx_seen = qemu_coroutine_get_aio_context(qemu_coroutine_self());
        w->current_seen = qemu_get_current_aio_context();
        w->thread = pthread_self();
        w->home = w->ctx_seen && aio_context_in_home_thread(w->ctx_seen);
        w->runs++;
        if (w->log) {
            g_string_append_printf(w->log, "%s ",
                                   qemu_coroutine_name(qemu_coroutine_self()));
        }
        qemu_coroutine_yield();
    }
}

static void *schedule_from_thread(void *opaque)
{
    void **args = opaque;

    aio_co_schedule(args[0], args[1]);
    return NULL;
}

static void test_schedule(void)
{
    AioContext *ctx = test_ctx_new();
    Where w = {0};
    Coroutine *co = qemu_coroutine_create(where_entry, &w);
    void *args[2] = {ctx, co};
    pthread_t th;

    /* From another thread: runs from the context's BH, in its home. */
    g_assert_cmpint(pthread_create(&th, NULL, schedule_from_thread, args), ==,
                    0);
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
    g_assert_cmpint(w.runs, ==, 0);
    g_assert_true(aio_pending(ctx));
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(w.runs, ==, 1);
    g_assert_true(w.ctx_seen == ctx);
    g_assert_true(w.current_seen == ctx);
    g_assert_true(w.home);
    g_assert_true(pthread_equal(w.thread, pthread_self()));

    /* aio_co_wake: back in the context it last ran in, at once (home). */
    aio_co_wake(co);
    g_assert_cmpint(w.runs, ==, 2);
    g_assert_true(w.ctx_seen == ctx);

    /* Scheduled from the home thread too: only the BH enters it. */
    aio_co_schedule(ctx, co);
    g_assert_cmpint(w.runs, ==, 2);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(w.runs, ==, 3);
    g_assert_false(aio_pending(ctx));

    /* Scheduled together: entered in scheduling order. */
    {
        Where w2 = {0};
        GString *log = g_string_new(NULL);
        Coroutine *a = qemu_coroutine_create_named(where_entry, &w2, "a");
        Coroutine *b = qemu_coroutine_create_named(where_entry, &w2, "b");
        Coroutine *c = qemu_coroutine_create_named(where_entry, &w2, "c");

        w2.log = log;
        aio_co_schedule(ctx, b);
        aio_co_schedule(ctx, c);
        aio_co_schedule(ctx, a);
        g_assert_true(aio_poll(ctx, false));
        g_assert_cmpstr(log->str, ==, "b c a ");
        g_string_free(log, TRUE);
        w2.log = NULL;
        w2.stop = true;
        aio_co_wake(a);
        aio_co_wake(b);
        aio_co_wake(c);
        g_assert_cmpint(w2.runs, ==, 3);
    }
    w.stop = true;
    aio_co_wake(co);
    g_assert_cmpint(w.runs, ==, 3);
    test_ctx_free(ctx);
}

static void double_sched_entry(void *opaque)
{
    (void)opaque;
    qemu_coroutine_yield();
}

static void test_schedule_twice_aborts(void)
{
    if (g_test_subprocess()) {
        AioContext *ctx = aio_context_new("twice", NULL);
        Coroutine *co = qemu_coroutine_create(double_sched_entry, NULL);

        qemu_coroutine_enter(co);
        aio_co_schedule(ctx, co);
        aio_co_schedule(ctx, co); /* aborts */
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*coroutine 'double_sched_entry' was already "
                              "scheduled*");
}

/* Scheduling again after it ran is fine: the flag is cleared on entry. */
static void resched_entry(void *opaque)
{
    AioContext *ctx = opaque;

    for (int i = 0; i < 3; i++) {
        aio_co_schedule(ctx, qemu_coroutine_self());
        qemu_coroutine_yield();
    }
}

static void test_schedule_self_repeatedly(void)
{
    AioContext *ctx = test_ctx_new();
    unsigned polls;

    aio_co_enter(ctx, qemu_coroutine_create(resched_entry, ctx));
    /* One BH pass per round; the last one ends the coroutine. */
    polls = test_drain(ctx);
    g_assert_cmpuint(polls, ==, 3);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Several I/O threads: coroutines move between them                        */
/* ------------------------------------------------------------------------ */

#define MT_THREADS 3
#define MT_COROUTINES 6
#define MT_HOPS 2000

typedef struct Hopper {
    IOThread *threads;
    int start;
    unsigned *handoffs; /* atomic */
    unsigned *wrong;    /* atomic: ran outside the expected thread */
    unsigned *finished; /* atomic */
} Hopper;

static void hopper_entry(void *opaque)
{
    Hopper *h = opaque;

    for (int i = 1; i <= MT_HOPS; i++) {
        AioContext *next = h->threads[(h->start + i) % MT_THREADS].ctx;

        aio_co_reschedule_self(next);
        if (!aio_context_in_home_thread(next) ||
            qemu_get_current_aio_context() != next ||
            qemu_coroutine_get_aio_context(qemu_coroutine_self()) != next) {
            __atomic_fetch_add(h->wrong, 1, __ATOMIC_RELAXED);
        }
        __atomic_fetch_add(h->handoffs, 1, __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(h->finished, 1, __ATOMIC_SEQ_CST);
    aio_wait_kick();
}

static void test_multithread_hops(void)
{
    IOThread threads[MT_THREADS];
    Hopper h[MT_COROUTINES];
    unsigned handoffs = 0, wrong = 0, finished = 0;
    bool waited;

    for (int i = 0; i < MT_THREADS; i++) {
        iothread_start(&threads[i]);
    }
    for (int i = 0; i < MT_COROUTINES; i++) {
        h[i] = (Hopper){threads, i % MT_THREADS, &handoffs, &wrong, &finished};
        aio_co_schedule(threads[i % MT_THREADS].ctx,
                        qemu_coroutine_create(hopper_entry, &h[i]));
    }
    /* Not this thread's context: waits for aio_wait_kick(). */
    waited = AIO_WAIT_WHILE(threads[0].ctx,
                            __atomic_load_n(&finished, __ATOMIC_SEQ_CST) <
                                MT_COROUTINES);
    g_assert_true(waited);
    g_assert_cmpuint(finished, ==, MT_COROUTINES);
    g_assert_cmpuint(handoffs, ==, MT_COROUTINES * MT_HOPS);
    g_assert_cmpuint(wrong, ==, 0);
    for (int i = 0; i < MT_THREADS; i++) {
        iothread_stop(&threads[i]);
    }
}

/* ------------------------------------------------------------------------ */
/* CoMutex                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct Locker {
    CoMutex *mutex;
    GString *log;
    const char *name;
} Locker;

static void locker_entry(void *opaque)
{
    Locker *l = opaque;

    qemu_co_mutex_lock(l->mutex);
    qemu_co_mutex_assert_locked(l->mutex);
    g_string_append_printf(l->log, "%s+ ", l->name);
    qemu_coroutine_yield(); /* hold it across a yield */
    g_string_append_printf(l->log, "%s- ", l->name);
    qemu_co_mutex_unlock(l->mutex);
}

static void test_co_mutex_fifo(void)
{
    AioContext *ctx = test_ctx_new();
    CoMutex m;
    GString *log = g_string_new(NULL);
    Locker l[3] = {{&m, log, "a"}, {&m, log, "b"}, {&m, log, "c"}};
    Coroutine *co[3];

    qemu_co_mutex_init(&m);
    for (int i = 0; i < 3; i++) {
        co[i] = qemu_coroutine_create(locker_entry, &l[i]);
        aio_co_enter(ctx, co[i]);
    }
    /* a holds it; b and c queued in that order. */
    g_assert_cmpstr(log->str, ==, "a+ ");
    g_assert_cmpuint(m.waiters, ==, 2);
    /* a unlocks: hands it to b (woken at once: same thread, not in a
     * coroutine... a is, so b runs when a ends). */
    aio_co_wake(co[0]);
    g_assert_cmpstr(log->str, ==, "a+ a- b+ ");
    g_assert_true(m.locked);
    aio_co_wake(co[1]);
    g_assert_cmpstr(log->str, ==, "a+ a- b+ b- c+ ");
    aio_co_wake(co[2]);
    g_assert_cmpstr(log->str, ==, "a+ a- b+ b- c+ c- ");
    g_assert_false(m.locked);
    g_assert_cmpuint(m.waiters, ==, 0);
    qemu_co_mutex_destroy(&m);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

#define CM_THREADS 3
#define CM_PER_THREAD 3
#define CM_ITERS 1000

typedef struct Contender {
    CoMutex *mutex;
    AioContext *ctx;
    unsigned *counter;  /* under the CoMutex only */
    unsigned *finished; /* atomic */
} Contender;

static void contender_entry(void *opaque)
{
    Contender *c = opaque;

    for (int i = 0; i < CM_ITERS; i++) {
        unsigned v;

        qemu_co_mutex_lock(c->mutex);
        v = *c->counter;
        /* Let every other coroutine of every thread pile up behind. */
        aio_co_schedule(qemu_coroutine_get_aio_context(qemu_coroutine_self()),
                        qemu_coroutine_self());
        qemu_coroutine_yield();
        *c->counter = v + 1;
        qemu_co_mutex_unlock(c->mutex);
    }
    __atomic_fetch_add(c->finished, 1, __ATOMIC_SEQ_CST);
    aio_wait_kick();
}

static void test_co_mutex_multithread(void)
{
    IOThread threads[CM_THREADS];
    Contender c[CM_THREADS * CM_PER_THREAD];
    unsigned counter = 0, finished = 0;
    CoMutex m;

    qemu_co_mutex_init(&m);
    for (int i = 0; i < CM_THREADS; i++) {
        iothread_start(&threads[i]);
    }
    for (int i = 0; i < CM_THREADS * CM_PER_THREAD; i++) {
        AioContext *ctx = threads[i % CM_THREADS].ctx;

        c[i] = (Contender){&m, ctx, &counter, &finished};
        aio_co_schedule(ctx, qemu_coroutine_create(contender_entry, &c[i]));
    }
    AIO_WAIT_WHILE(threads[0].ctx,
                   __atomic_load_n(&finished, __ATOMIC_SEQ_CST) <
                       CM_THREADS * CM_PER_THREAD);
    for (int i = 0; i < CM_THREADS; i++) {
        iothread_stop(&threads[i]);
    }
    /* The joins order the last increments before this read. */
    g_assert_cmpuint(counter, ==, CM_THREADS * CM_PER_THREAD * CM_ITERS);
    g_assert_false(m.locked);
    qemu_co_mutex_destroy(&m);
}

/* ------------------------------------------------------------------------ */
/* CoQueue                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct Waiter {
    CoQueue *queue;
    CoMutex *mutex;
    GString *log;
    const char *name;
} Waiter;

static void waiter_entry(void *opaque)
{
    Waiter *w = opaque;

    qemu_co_mutex_lock(w->mutex);
    g_string_append_printf(w->log, "%s: ", w->name);
    qemu_co_queue_wait(w->queue, w->mutex);
    qemu_co_mutex_assert_locked(w->mutex); /* taken again */
    g_string_append_printf(w->log, "%s! ", w->name);
    qemu_co_mutex_unlock(w->mutex);
}

static void test_co_queue(void)
{
    AioContext *ctx = test_ctx_new();
    CoQueue q;
    CoMutex m;
    GString *log = g_string_new(NULL);
    Waiter w[4] = {
        {&q, &m, log, "a"},
        {&q, &m, log, "b"},
        {&q, &m, log, "c"},
        {&q, &m, log, "d"},
    };

    qemu_co_queue_init(&q);
    qemu_co_mutex_init(&m);
    g_assert_true(qemu_co_queue_empty(&q));
    g_assert_false(qemu_co_queue_next(&q));
    for (int i = 0; i < 4; i++) {
        aio_co_enter(ctx, qemu_coroutine_create(waiter_entry, &w[i]));
    }
    g_assert_cmpstr(log->str, ==, "a: b: c: d: ");
    g_assert_false(qemu_co_queue_empty(&q));
    g_assert_false(m.locked); /* each released it to wait */

    g_assert_true(qemu_co_queue_next(&q));
    g_assert_cmpstr(log->str, ==, "a: b: c: d: a! ");
    qemu_co_queue_restart_all(&q);
    g_assert_cmpstr(log->str, ==, "a: b: c: d: a! b! c! d! ");
    g_assert_true(qemu_co_queue_empty(&q));
    g_assert_false(m.locked);
    qemu_co_mutex_destroy(&m);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* qemu_co_sleep_ns                                                          */
/* ------------------------------------------------------------------------ */

typedef struct Sleeper {
    QEMUClockType clock;
    int64_t ns;
    int64_t slept;
    bool done;
} Sleeper;

static void sleeper_entry(void *opaque)
{
    Sleeper *s = opaque;
    int64_t t0 = qemu_clock_get_ns(s->clock);

    qemu_co_sleep_ns(s->clock, s->ns);
    s->slept = qemu_clock_get_ns(s->clock) - t0;
    s->done = true;
}

static void test_co_sleep(void)
{
    AioContext *ctx = test_ctx_new();
    Sleeper s = {QEMU_CLOCK_REALTIME, 5 * SCALE_MS, 0, false};
    int64_t deadline = g_get_monotonic_time() + TEST_WAIT_MS * 1000;

    aio_co_enter(ctx, qemu_coroutine_create(sleeper_entry, &s));
    g_assert_false(s.done);
    g_assert_cmpuint(test_stats(ctx).timers, ==, 1);
    while (!s.done && g_get_monotonic_time() < deadline) {
        aio_poll(ctx, true);
    }
    g_assert_true(s.done);
    g_assert_cmpint(s.slept, >=, 5 * SCALE_MS);
    g_assert_cmpuint(test_stats(ctx).timers, ==, 0); /* freed */

    /* On a stopped virtual clock only a step wakes it. */
    qemu_clock_virtual_stop();
    s = (Sleeper){QEMU_CLOCK_VIRTUAL, 1000 * SCALE_MS, 0, false};
    aio_co_enter(ctx, qemu_coroutine_create(sleeper_entry, &s));
    g_assert_false(aio_poll(ctx, false));
    g_assert_false(s.done);
    qemu_clock_virtual_step(1000 * SCALE_MS);
    g_assert_true(aio_poll(ctx, false));
    g_assert_true(s.done);
    g_assert_cmpint(s.slept, ==, 1000 * SCALE_MS);
    qemu_clock_virtual_resume();
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* AIO_WAIT_WHILE                                                            */
/* ------------------------------------------------------------------------ */

static void count_down_bh(void *opaque)
{
    int *n = opaque;

    (*n)--;
}

static void test_wait_while_home(void)
{
    AioContext *ctx = test_ctx_new();
    int n = 0;
    bool waited;

    waited = AIO_WAIT_WHILE(ctx, n > 0);
    g_assert_false(waited);

    n = 3;
    for (int i = 0; i < 3; i++) {
        aio_bh_schedule_oneshot(ctx, count_down_bh, &n);
    }
    waited = AIO_WAIT_WHILE(ctx, n > 0);
    g_assert_true(waited);
    g_assert_cmpint(n, ==, 0);
    g_assert_cmpuint(global_aio_wait.num_waiters, ==, 0);
    test_ctx_free(ctx);
}

/* Another thread makes the condition false, then kicks: the home thread's
 * blocking aio_poll() returns (aio_wait_kick notified the context). */
static void *set_and_kick(void *opaque)
{
    g_usleep(20 * 1000);
    __atomic_store_n((int *)opaque, 1, __ATOMIC_SEQ_CST);
    aio_wait_kick();
    return NULL;
}

static void test_wait_while_kicked_home(void)
{
    AioContext *ctx = test_ctx_new();
    int flag = 0;
    pthread_t th;

    g_assert_cmpint(pthread_create(&th, NULL, set_and_kick, &flag), ==, 0);
    g_assert_true(
        AIO_WAIT_WHILE(ctx, !__atomic_load_n(&flag, __ATOMIC_SEQ_CST)));
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
    test_ctx_free(ctx);
}

/* A foreign thread waits on a context whose home thread (this one) makes
 * the condition false from a BH and kicks. */
typedef struct Foreign {
    AioContext *ctx;
    int n; /* atomic */
    bool waited;
} Foreign;

static void *foreign_waiter(void *opaque)
{
    Foreign *f = opaque;

    f->waited = AIO_WAIT_WHILE(f->ctx,
                               __atomic_load_n(&f->n, __ATOMIC_SEQ_CST) > 0);
    return NULL;
}

static void foreign_bh(void *opaque)
{
    Foreign *f = opaque;

    __atomic_fetch_sub(&f->n, 1, __ATOMIC_SEQ_CST);
    aio_wait_kick();
}

static void test_wait_while_foreign(void)
{
    Foreign f = {test_ctx_new(), 2, false};
    pthread_t th;
    int64_t deadline = g_get_monotonic_time() + TEST_WAIT_MS * 1000;

    g_assert_cmpint(pthread_create(&th, NULL, foreign_waiter, &f), ==, 0);
    while (__atomic_load_n(&global_aio_wait.num_waiters, __ATOMIC_SEQ_CST) ==
               0 &&
           g_get_monotonic_time() < deadline) {
        g_usleep(1000);
    }
    aio_bh_schedule_oneshot(f.ctx, foreign_bh, &f);
    aio_bh_schedule_oneshot(f.ctx, foreign_bh, &f);
    test_drain(f.ctx);
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
    g_assert_true(f.waited);
    g_assert_cmpint(f.n, ==, 0);
    test_ctx_free(f.ctx);
}

/* ------------------------------------------------------------------------ */
/* The 2012 API                                                              */
/* ------------------------------------------------------------------------ */

typedef struct InFlight {
    AioContext *ctx;
    int in_flight;
    int flush_calls;
    int reads;
    int fds[2];
} InFlight;

static bool inflight_flush(void *opaque)
{
    InFlight *f = opaque;

    f->flush_calls++;
    return f->in_flight > 0;
}

static void inflight_read(void *opaque)
{
    InFlight *f = opaque;

    test_read_all(f->fds[0]);
    __atomic_fetch_add(&f->reads, 1, __ATOMIC_SEQ_CST); /* complete_later */
    f->in_flight--;
}

/* A request completes: its byte arrives from another thread. */
static void *complete_later(void *opaque)
{
    InFlight *f = opaque;

    for (int i = 0; i < 3; i++) {
        g_usleep(2000);
        test_write_byte(f->fds[1]);
        /* Each byte must be read before the next: wait until it was. */
        while (__atomic_load_n(&f->reads, __ATOMIC_SEQ_CST) <= i) {
            g_usleep(500);
        }
    }
    return NULL;
}

static void test_pending(void)
{
    AioContext *ctx = test_ctx_new();
    InFlight f = {ctx, 0, 0, 0, {-1, -1}};
    QEMUBH *bh = aio_bh_new(ctx, test_never_called, NULL);
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                                 test_never_called, NULL);

    test_pipe(f.fds);
    g_assert_false(aio_pending(ctx));
    qemu_bh_schedule(bh);
    g_assert_true(aio_pending(ctx));
    qemu_bh_cancel(bh);
    g_assert_false(aio_pending(ctx));
    timer_mod_ns(t, 0);
    g_assert_true(aio_pending(ctx));
    timer_del(t);
    g_assert_false(aio_pending(ctx));
    g_assert_cmpint(aio_set_fd_handler(ctx, f.fds[0], false, inflight_read,
                                       NULL, NULL, NULL, &f),
                    ==, 0);
    g_assert_false(aio_pending(ctx));
    test_write_byte(f.fds[1]);
    g_assert_true(aio_pending(ctx));
    g_assert_cmpint(f.reads, ==, 0); /* nothing ran */
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(f.reads, ==, 1);
    g_assert_false(aio_pending(ctx));

    aio_set_fd_handler(ctx, f.fds[0], false, NULL, NULL, NULL, NULL, NULL);
    timer_free(t);
    qemu_bh_delete(bh);
    close(f.fds[0]);
    close(f.fds[1]);
    test_ctx_free(ctx);
}

static void test_flush(void)
{
    AioContext *ctx = test_ctx_new();
    InFlight f = {ctx, 3, 0, 0, {-1, -1}};
    pthread_t th;

    test_pipe(f.fds);
    g_assert_cmpint(aio_set_fd_handler_flush(ctx, f.fds[0], false,
                                             inflight_read, NULL,
                                             inflight_flush, NULL, NULL, &f),
                    ==, 0);
    g_assert_cmpint(pthread_create(&th, NULL, complete_later, &f), ==, 0);
    aio_flush(ctx);
    g_assert_cmpint(f.in_flight, ==, 0);
    g_assert_cmpint(f.reads, ==, 3);
    g_assert_cmpint(f.flush_calls, >=, 4);
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);

    /* Nothing in flight: returns without polling. */
    f.flush_calls = 0;
    aio_flush(ctx);
    g_assert_cmpint(f.flush_calls, ==, 1);

    /* io_flush alone registers nothing: the handler is removed. */
    g_assert_cmpint(aio_set_fd_handler_flush(ctx, f.fds[0], false, NULL, NULL,
                                             inflight_flush, NULL, NULL, &f),
                    ==, 0);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);
    close(f.fds[0]);
    close(f.fds[1]);
    test_ctx_free(ctx);
}

static void test_default_context(void)
{
    AioContext *ctx = qemu_get_aio_context();
    int n = 2;

    g_assert_true(qemu_get_aio_context() == ctx);
    g_assert_cmpstr(aio_context_get_name(ctx), ==, "qemu-aio-context");
    /* Nothing in flight: 2012's qemu_aio_wait() returns false at once. */
    g_assert_false(qemu_aio_wait());
    aio_bh_schedule_oneshot(ctx, count_down_bh, &n);
    g_assert_true(qemu_aio_wait());
    g_assert_cmpint(n, ==, 1);
    aio_bh_schedule_oneshot(ctx, count_down_bh, &n);
    qemu_aio_flush();
    g_assert_cmpint(n, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/coroutine/enter-yield", test_enter_yield);
    g_test_add_func("/coroutine/pool-reuse", test_pool_reuse);
    g_test_add_func("/coroutine/nested-enter", test_nested_enter);
    g_test_add_func("/coroutine/chained-enter-25000", test_chained_enter);
    g_test_add_func("/aio-co/schedule", test_schedule);
    g_test_add_func("/aio-co/schedule-twice-aborts",
                    test_schedule_twice_aborts);
    g_test_add_func("/aio-co/schedule-self-repeatedly",
                    test_schedule_self_repeatedly);
    g_test_add_func("/aio-co/multithread-hops", test_multithread_hops);
    g_test_add_func("/co-mutex/fifo", test_co_mutex_fifo);
    g_test_add_func("/co-mutex/multithread", test_co_mutex_multithread);
    g_test_add_func("/co-queue/wait-next-restart", test_co_queue);
    g_test_add_func("/co-sleep/ns", test_co_sleep);
    g_test_add_func("/aio-wait/home", test_wait_while_home);
    g_test_add_func("/aio-wait/kicked-home", test_wait_while_kicked_home);
    g_test_add_func("/aio-wait/foreign", test_wait_while_foreign);
    g_test_add_func("/aio-2012/pending", test_pending);
    g_test_add_func("/aio-2012/flush", test_flush);
    g_test_add_func("/aio-2012/default-context", test_default_context);
    return g_test_run();
}
