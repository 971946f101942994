/*
 * test-lockcnt.c — AioLockCnt, the walker counter fused with a writer
 * mutex that protects the fd handler lists (QEMU's QemuLockCnt).  It is
 * internal, so this test includes aio-internal.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

#include "aio-internal.h"

/* ------------------------------------------------------------------------ */
/* Single-threaded state changes                                             */
/* ------------------------------------------------------------------------ */

static void test_inc_dec(void)
{
    AioLockCnt lc;

    aio__lockcnt_init(&lc);
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 0);
    aio__lockcnt_inc(&lc);
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 1);
    aio__lockcnt_inc(&lc);
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 2);
    aio__lockcnt_dec(&lc);
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 1);
    aio__lockcnt_dec(&lc);
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 0);
    aio__lockcnt_destroy(&lc);
}

/*
 * A thread that takes and drops the writer lock, to tell whether the lock
 * is held: only through the API, whatever the mutex type inside.
 */
typedef struct {
    AioLockCnt *lc;
    TestFlag got;
    GThread *thread;
} Locker;

static gpointer locker_main(gpointer opaque)
{
    Locker *l = opaque;

    aio__lockcnt_lock(l->lc);
    test_flag_set(&l->got, 1);
    aio__lockcnt_unlock(l->lc);
    return NULL;
}

static void locker_start(Locker *l, AioLockCnt *lc)
{
    l->lc = lc;
    test_flag_init(&l->got);
    l->thread = g_thread_new("locker", locker_main, l);
}

/* Waits for the locker to have taken the lock, then reaps it. */
static void locker_finish(Locker *l)
{
    g_assert_true(test_flag_wait(&l->got, 1, TEST_WAIT_MS));
    g_thread_join(l->thread);
    test_flag_clear(&l->got);
}

/* Asserts that the lock is free now. */
static void assert_unlocked(AioLockCnt *lc)
{
    Locker l;

    locker_start(&l, lc);
    locker_finish(&l);
}

/* Asserts that another thread cannot take the lock for a while; the
 * caller must release it, then call locker_finish(). */
static void assert_locked(Locker *l, AioLockCnt *lc)
{
    locker_start(l, lc);
    g_assert_false(test_flag_wait(&l->got, 1, 50));
}

static void test_lock_unlock(void)
{
    AioLockCnt lc;
    Locker l;

    aio__lockcnt_init(&lc);
    assert_unlocked(&lc);
    aio__lockcnt_lock(&lc);
    assert_locked(&l, &lc);
    /* Taking the writer lock does not touch the count. */
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 0);
    aio__lockcnt_unlock(&lc);
    locker_finish(&l);
    assert_unlocked(&lc);
    aio__lockcnt_destroy(&lc);
}

static void test_dec_if_lock_last(void)
{
    AioLockCnt lc;
    Locker l;

    aio__lockcnt_init(&lc);
    aio__lockcnt_inc(&lc);
    g_assert_true(aio__lockcnt_dec_if_lock(&lc));
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 0);
    assert_locked(&l, &lc);

    /* The way back for the walker that freed: count 1, unlocked. */
    aio__lockcnt_inc_and_unlock(&lc);
    locker_finish(&l);
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 1);
    aio__lockcnt_dec(&lc);
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 0);
    aio__lockcnt_destroy(&lc);
}

static void test_dec_if_lock_not_last(void)
{
    AioLockCnt lc;

    aio__lockcnt_init(&lc);
    aio__lockcnt_inc(&lc);
    aio__lockcnt_inc(&lc);
    /* Nested walker: false, and nothing changes. */
    g_assert_false(aio__lockcnt_dec_if_lock(&lc));
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 2);
    assert_unlocked(&lc);

    aio__lockcnt_dec(&lc);
    g_assert_true(aio__lockcnt_dec_if_lock(&lc));
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 0);
    aio__lockcnt_unlock(&lc);
    aio__lockcnt_destroy(&lc);
}

/*
 * The state word itself: bit 0 says a writer holds the lock, the bits
 * above count walkers (lockcnt.c).  Read raw, to check each operation's
 * exact effect on both halves.
 */
static unsigned word(AioLockCnt *lc)
{
    return __atomic_load_n(&lc->count, __ATOMIC_SEQ_CST);
}

#define W(count, locked) ((unsigned)(count)*2u | ((locked) ? 1u : 0u))

static void test_state_word(void)
{
    AioLockCnt lc;

    aio__lockcnt_init(&lc);
    g_assert_cmphex(word(&lc), ==, W(0, false));
    aio__lockcnt_lock(&lc);
    g_assert_cmphex(word(&lc), ==, W(0, true));
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 0);
    aio__lockcnt_unlock(&lc);
    g_assert_cmphex(word(&lc), ==, W(0, false));

    aio__lockcnt_inc(&lc);
    g_assert_cmphex(word(&lc), ==, W(1, false));
    /* A writer while a walker is in: the count is untouched. */
    aio__lockcnt_lock(&lc);
    g_assert_cmphex(word(&lc), ==, W(1, true));
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 1);
    aio__lockcnt_inc(&lc); /* non-zero: no wait, even under the writer */
    g_assert_cmphex(word(&lc), ==, W(2, true));
    aio__lockcnt_dec(&lc);
    aio__lockcnt_dec(&lc); /* leaving never waits either */
    g_assert_cmphex(word(&lc), ==, W(0, true));
    aio__lockcnt_unlock(&lc);
    g_assert_cmphex(word(&lc), ==, W(0, false));

    /* dec_if_lock, last walker: count 0 and locked, then back to one
     * walker and unlocked in one step. */
    aio__lockcnt_inc(&lc);
    g_assert_true(aio__lockcnt_dec_if_lock(&lc));
    g_assert_cmphex(word(&lc), ==, W(0, true));
    aio__lockcnt_inc_and_unlock(&lc);
    g_assert_cmphex(word(&lc), ==, W(1, false));

    /* dec_if_lock, nested walker: the word is left exactly as it was
     * (neither the count nor the bit moved). */
    aio__lockcnt_inc(&lc);
    g_assert_false(aio__lockcnt_dec_if_lock(&lc));
    g_assert_cmphex(word(&lc), ==, W(2, false));
    aio__lockcnt_dec(&lc);
    aio__lockcnt_dec(&lc);
    g_assert_cmphex(word(&lc), ==, W(0, false));
    aio__lockcnt_destroy(&lc);
}

/* ------------------------------------------------------------------------ */
/* Blocking                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    AioLockCnt *lc;
    TestFlag state; /* 1: about to inc, 2: inc returned */
} Incrementer;

static gpointer incrementer(gpointer opaque)
{
    Incrementer *in = opaque;

    test_flag_set(&in->state, 1);
    aio__lockcnt_inc(in->lc);
    test_flag_set(&in->state, 2);
    return NULL;
}

static void test_inc_from_zero_waits_for_writer(void)
{
    AioLockCnt lc;
    Incrementer in = {.lc = &lc};
    GThread *t;

    aio__lockcnt_init(&lc);
    test_flag_init(&in.state);
    aio__lockcnt_lock(&lc); /* a writer, with no walker: may free */
    t = g_thread_new("inc", incrementer, &in);
    g_assert_true(test_flag_wait(&in.state, 1, TEST_WAIT_MS));
    g_assert_false(test_flag_wait(&in.state, 2, 100));
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 0);
    aio__lockcnt_unlock(&lc);
    g_assert_true(test_flag_wait(&in.state, 2, TEST_WAIT_MS));
    g_thread_join(t);
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 1);

    aio__lockcnt_dec(&lc);
    test_flag_clear(&in.state);
    aio__lockcnt_destroy(&lc);
}

static void test_inc_nonzero_does_not_wait(void)
{
    AioLockCnt lc;
    Incrementer in = {.lc = &lc};
    GThread *t;

    aio__lockcnt_init(&lc);
    test_flag_init(&in.state);
    aio__lockcnt_inc(&lc);  /* a walker is active ... */
    aio__lockcnt_lock(&lc); /* ... and a writer only marks nodes */
    t = g_thread_new("inc", incrementer, &in);
    g_assert_true(test_flag_wait(&in.state, 2, TEST_WAIT_MS));
    g_thread_join(t);
    g_assert_cmpuint(aio__lockcnt_count(&lc), ==, 2);
    aio__lockcnt_unlock(&lc);

    aio__lockcnt_dec(&lc);
    aio__lockcnt_dec(&lc);
    test_flag_clear(&in.state);
    aio__lockcnt_destroy(&lc);
}

/*
 * An increment from zero with no writer in is lock-free: it must not wait
 * on the writers' mutex.  Here the mutex is taken directly (as a writer
 * is between taking it and marking the word), which a mutex-based
 * increment would wait for forever.
 */
static void test_inc_from_zero_lock_free(void)
{
    AioLockCnt lc;
    Incrementer in = {.lc = &lc};
    GThread *t;

    aio__lockcnt_init(&lc);
    test_flag_init(&in.state);
    pthread_mutex_lock(&lc.mutex);
    t = g_thread_new("inc", incrementer, &in);
    g_assert_true(test_flag_wait(&in.state, 2, TEST_WAIT_MS));
    pthread_mutex_unlock(&lc.mutex);
    g_thread_join(t);
    g_assert_cmphex(word(&lc), ==, W(1, false));

    aio__lockcnt_dec(&lc);
    test_flag_clear(&in.state);
    aio__lockcnt_destroy(&lc);
}

/* ------------------------------------------------------------------------ */
/* Stress: the handler-list protocol with real frees                         */
/* ------------------------------------------------------------------------ */

#define STRESS_WALKERS 2
#define STRESS_WALKS 20000
#define STRESS_REPLACES 5000
#define OBJ_MAGIC 0x5eed

/*
 * A published object that a writer keeps replacing while walkers read it.
 * The writer frees the old object at once only when no walker is active
 * (count 0, mutex held), else leaves it on a deleted list that the last
 * walker frees through dec_if_lock — as aio_set_fd_handler() and
 * aio_poll() do with handler nodes.  A walker that saw a freed object
 * trips the magic check (and ASan).
 */
typedef struct Obj Obj;
struct Obj {
    int magic;
    Obj *next_deleted;
};

typedef struct {
    AioLockCnt lc;
    Obj *current;          /* atomic pointer */
    Obj *deleted;          /* under lc's mutex */
    gint walkers_done;     /* atomic */
    gint freed_by_walkers; /* atomic */
    gint freed_by_writer;  /* only the writer */
} Stress;

static Obj *obj_new(void)
{
    Obj *o = g_new0(Obj, 1);

    o->magic = OBJ_MAGIC;
    return o;
}

static void obj_free(Obj *o)
{
    o->magic = 0;
    g_free(o);
}

/* Frees the deleted list.  Called with the mutex held and count 0. */
static int free_deleted(Stress *s)
{
    int n = 0;
    Obj *o;

    while ((o = s->deleted)) {
        s->deleted = o->next_deleted;
        obj_free(o);
        n++;
    }
    return n;
}

static gpointer stress_walker(gpointer opaque)
{
    Stress *s = opaque;

    for (int i = 0; i < STRESS_WALKS; i++) {
        Obj *o;

        aio__lockcnt_inc(&s->lc);
        o = g_atomic_pointer_get(&s->current);
        g_assert_cmpint(o->magic, ==, OBJ_MAGIC);
        if (aio__lockcnt_dec_if_lock(&s->lc)) {
            int n = free_deleted(s);

            if (n) {
                g_atomic_int_add(&s->freed_by_walkers, n);
            }
            aio__lockcnt_inc_and_unlock(&s->lc);
        }
        aio__lockcnt_dec(&s->lc);
    }
    g_atomic_int_inc(&s->walkers_done);
    return NULL;
}

static void test_stress(void)
{
    Stress s = {0};
    GThread *walkers[STRESS_WALKERS];
    int replaces = 0;

    aio__lockcnt_init(&s.lc);
    s.current = obj_new();
    for (int i = 0; i < STRESS_WALKERS; i++) {
        walkers[i] = g_thread_new("walker", stress_walker, &s);
    }

    /* The writer: replace until the walkers are done (and at least a
     * minimum number of times, so that the test does something even if
     * the walkers are quick). */
    while (replaces < STRESS_REPLACES ||
           g_atomic_int_get(&s.walkers_done) < STRESS_WALKERS) {
        Obj *old;

        aio__lockcnt_lock(&s.lc);
        old = g_atomic_pointer_get(&s.current);
        g_atomic_pointer_set(&s.current, obj_new());
        if (aio__lockcnt_count(&s.lc) == 0) {
            obj_free(old);
            s.freed_by_writer++;
        } else {
            old->next_deleted = s.deleted;
            s.deleted = old;
        }
        aio__lockcnt_unlock(&s.lc);
        replaces++;
        if (replaces % 128 == 0) {
            g_thread_yield();
        }
    }
    for (int i = 0; i < STRESS_WALKERS; i++) {
        g_thread_join(walkers[i]);
    }

    g_assert_cmpuint(aio__lockcnt_count(&s.lc), ==, 0);
    aio__lockcnt_lock(&s.lc);
    free_deleted(&s);
    aio__lockcnt_unlock(&s.lc);
    obj_free(s.current);
    g_test_message("%d replaces: %d freed by the writer, %d by walkers",
                   replaces, s.freed_by_writer,
                   g_atomic_int_get(&s.freed_by_walkers));
    aio__lockcnt_destroy(&s.lc);
}

/* ------------------------------------------------------------------------ */
/* Hammer: no walker comes in while a writer that saw count 0 is inside      */
/* ------------------------------------------------------------------------ */

#define HAMMER_WALKERS 2
#define HAMMER_WALKS 100000
#define HAMMER_MIN_POISONS 1000
#define NODE_POISON 0xdead

/*
 * One node, never freed, that the writer "frees" in place: under the lock
 * with count 0 it poisons the node, dawdles, and restores it.  Walkers go
 * in and out all the time, mostly from zero (the lock-free path),
 * sometimes nested, sometimes leaving through dec_if_lock; every walker
 * read of the node must see it intact.  The node's fields are plain (not
 * atomic) on purpose: the counter alone must order the writer's stores
 * and the walkers' loads, and ThreadSanitizer reports any pair it does
 * not order.
 */
typedef struct {
    AioLockCnt lc;
    int magic;           /* plain: under the protocol */
    int generation;      /* plain: under the protocol */
    gint walkers_done;   /* atomic */
    gint bad_reads;      /* atomic */
    gint dec_if_lock_ok; /* atomic */
} Hammer;

static gpointer hammer_walker(gpointer opaque)
{
    Hammer *h = opaque;

    for (int i = 0; i < HAMMER_WALKS; i++) {
        aio__lockcnt_inc(&h->lc);
        if (h->magic != OBJ_MAGIC) {
            g_atomic_int_inc(&h->bad_reads);
        }
        if (i % 7 == 0) {
            /* A nested walk (count 1 -> 2 lock-free, even under a
             * writer). */
            aio__lockcnt_inc(&h->lc);
            if (h->magic != OBJ_MAGIC) {
                g_atomic_int_inc(&h->bad_reads);
            }
            aio__lockcnt_dec(&h->lc);
        }
        if (i % 5 == 0 && aio__lockcnt_dec_if_lock(&h->lc)) {
            /* Sole walker, lock held, count 0: a writer's rights. */
            h->generation++;
            g_atomic_int_inc(&h->dec_if_lock_ok);
            aio__lockcnt_inc_and_unlock(&h->lc);
        }
        if (h->magic != OBJ_MAGIC) {
            g_atomic_int_inc(&h->bad_reads);
        }
        aio__lockcnt_dec(&h->lc);
    }
    g_atomic_int_inc(&h->walkers_done);
    return NULL;
}

static void test_hammer(void)
{
    Hammer h = {.magic = OBJ_MAGIC};
    GThread *walkers[HAMMER_WALKERS];
    int poisons = 0, busy = 0;

    aio__lockcnt_init(&h.lc);
    for (int i = 0; i < HAMMER_WALKERS; i++) {
        walkers[i] = g_thread_new("walker", hammer_walker, &h);
    }
    while (poisons < HAMMER_MIN_POISONS ||
           g_atomic_int_get(&h.walkers_done) < HAMMER_WALKERS) {
        aio__lockcnt_lock(&h.lc);
        if (aio__lockcnt_count(&h.lc) == 0) {
            h.magic = NODE_POISON;
            h.generation++;
            for (int spin = 0; spin < 64; spin++) {
                /* Long enough for walkers to try to come in. */
                __atomic_signal_fence(__ATOMIC_SEQ_CST);
            }
            /* Nobody went 0 -> 1 while the writer was in. */
            g_assert_cmpuint(aio__lockcnt_count(&h.lc), ==, 0);
            h.magic = OBJ_MAGIC;
            poisons++;
        } else {
            busy++;
        }
        aio__lockcnt_unlock(&h.lc);
        if ((poisons + busy) % 64 == 0) {
            g_thread_yield();
        }
    }
    for (int i = 0; i < HAMMER_WALKERS; i++) {
        g_thread_join(walkers[i]);
    }
    g_assert_cmpint(g_atomic_int_get(&h.bad_reads), ==, 0);
    g_assert_cmpint(poisons, >=, HAMMER_MIN_POISONS);
    g_assert_cmphex(word(&h.lc), ==, W(0, false));
    g_test_message("%d poisons, %d busy, %d dec_if_lock frees, gen %d", poisons,
                   busy, g_atomic_int_get(&h.dec_if_lock_ok), h.generation);
    aio__lockcnt_destroy(&h.lc);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/lockcnt/inc-dec", test_inc_dec);
    g_test_add_func("/lockcnt/lock-unlock", test_lock_unlock);
    g_test_add_func("/lockcnt/dec-if-lock/last", test_dec_if_lock_last);
    g_test_add_func("/lockcnt/dec-if-lock/not-last", test_dec_if_lock_not_last);
    g_test_add_func("/lockcnt/state-word", test_state_word);
    g_test_add_func("/lockcnt/inc-from-zero-waits-for-writer",
                    test_inc_from_zero_waits_for_writer);
    g_test_add_func("/lockcnt/inc-nonzero-does-not-wait",
                    test_inc_nonzero_does_not_wait);
    g_test_add_func("/lockcnt/inc-from-zero-lock-free",
                    test_inc_from_zero_lock_free);
    g_test_add_func("/lockcnt/stress", test_stress);
    g_test_add_func("/lockcnt/hammer", test_hammer);

    return g_test_run();
}
