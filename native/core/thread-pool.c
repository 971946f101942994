/*
 * thread-pool.c — worker threads whose jobs complete in an AioContext.
 *
 * A request lives on two lists.  `all` (home thread only) holds every
 * request whose callback has not run yet, in submission order; the
 * completion BH walks it for DONE requests.  `queue` (under pool->lock)
 * holds the requests no worker has taken yet, FIFO.
 *
 * State moves QUEUED -> ACTIVE (worker, under the lock) -> DONE (worker,
 * release store after writing ret, without the lock), or QUEUED -> DONE
 * with -ECANCELED (home thread cancel, under the lock).  The completion BH
 * reads state with an acquire load, which pairs with those release stores,
 * so it sees ret.  A worker schedules the BH after setting DONE, so a DONE
 * request is always followed by a BH run.
 *
 * Threads are counted in cur_threads from the moment a spawn is decided.
 * new_threads are decided but not yet created; pending_threads are created
 * but have not started running.  Only the home thread creates the first of
 * a batch (from new_thread_bh, so that the thread inherits the home
 * thread's attributes, as QEMU does for CPU affinity); each new thread
 * creates the next one, so a burst of submissions never blocks the loop on
 * pthread_create more than once.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* PTHREAD_MUTEX_ADAPTIVE_NP */
#endif
#include "thread-pool.h"
#include "aio-internal.h"

#include <errno.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#define THREAD_POOL_IDLE_TIMEOUT_NS (10 * (int64_t)1000000000)
/* Jobs shorter than this on average do not block: see do_spawn_thread(). */
#define THREAD_POOL_SHORT_JOB_NS (50 * (int64_t)1000)
/* Workers that completed a job within this many short job times are
 * making progress: see do_spawn_thread(). */
#define THREAD_POOL_BUSY_WINDOW 20

enum {
    THREAD_QUEUED,
    THREAD_ACTIVE,
    THREAD_DONE
};

typedef struct ThreadPoolElementAio {
    BlockAIOCB common;
    ThreadPoolAio *pool;
    ThreadPoolFunc *func;
    void *arg;
    int state;        /* atomic; see the file comment */
    int ret;          /* written before state becomes DONE */
    GList queue_link; /* in pool->queue while QUEUED (lock) */
    struct ThreadPoolElementAio *all_next, **all_pprev; /* home */
} ThreadPoolElementAio;

struct ThreadPoolAio {
    AioContext *ctx;
    QEMUBH *completion_bh;
    QEMUBH *new_thread_bh;
    ThreadPoolElementAio *all_head, **all_tail; /* home thread */

    pthread_mutex_t lock;
    pthread_cond_t request_cond;   /* a request was queued, or params */
    pthread_cond_t worker_stopped; /* a worker exited */
    GQueue queue;                  /* QUEUED requests, FIFO */
    int cur_threads;
    int idle_threads;
    int new_threads;
    int pending_threads;
    int active;
    int min_threads;
    int max_threads;
    int64_t idle_timeout_ns;
    int ncpus;             /* online CPUs, at least 1 */
    uint64_t jobs_done;    /* jobs that returned from their func (lock) */
    uint64_t created_mark; /* jobs_done at the last creation or drop */
    int64_t job_ns;        /* moving average of a job's duration (lock) */
    int64_t last_done_ns;  /* when the latest job returned (lock) */
    /* pthread_t of the workers that left their loop, not yet joined
     * (lock).  Workers are joined, not detached: after it signals
     * worker_stopped a worker still runs this file's code (the unlock, the
     * return), and a Node.js worker_threads environment unloads the addon
     * right after finalizing its contexts. */
    GArray *exited;
};

static void *worker_thread(void *opaque);

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * (int64_t)1000000000 + ts.tv_nsec;
}

/* Creates the next decided thread, if any.  Called with the lock held. */
static void do_spawn_thread(ThreadPoolAio *pool)
{
    pthread_attr_t attr;
    pthread_t t;
    int running;

    if (!pool->new_threads) {
        return;
    }
    /* A spawn is decided when a request finds no idle thread.  By the
     * time the thread would be created, that may no longer hold: the
     * workers emptied the queue, or there are as many workers as CPUs,
     * the jobs are short and the workers completed some since the last
     * thread was created, or within the last short job time times
     * THREAD_POOL_BUSY_WINDOW (CPU-bound jobs such as reads from the page
     * cache: more threads would only take CPU time from those that work,
     * and from the home thread, and cost a wake-up per request).  Jobs
     * that block (disk I/O, waits) are long, so the pool still grows to
     * max for them, as QEMU's does.  Decisions beyond min are dropped in
     * those cases; the next request that finds no idle thread decides
     * again, and progress is then judged from this drop: if the workers
     * are all stuck in jobs by then (say, waiting for a queued one), the
     * thread is created. */
    running = pool->cur_threads - pool->new_threads;
    if (running >= pool->min_threads &&
        (pool->queue.length <=
             (guint)(pool->idle_threads + pool->pending_threads) ||
         (running >= pool->ncpus && pool->job_ns < THREAD_POOL_SHORT_JOB_NS &&
          (pool->jobs_done != pool->created_mark ||
           now_ns() - pool->last_done_ns <
               THREAD_POOL_SHORT_JOB_NS * THREAD_POOL_BUSY_WINDOW)))) {
        pool->created_mark = pool->jobs_done;
        pool->cur_threads -= pool->new_threads;
        pool->new_threads = 0;
        pthread_cond_broadcast(&pool->worker_stopped);
        return;
    }
    pool->new_threads--;
    pool->pending_threads++;
    pool->created_mark = pool->jobs_done;
    pthread_attr_init(&attr);
    if (pthread_create(&t, &attr, worker_thread, pool) != 0) {
        /* Out of threads: give up on this one (and those after it). */
        pool->pending_threads--;
        pool->cur_threads -= pool->new_threads + 1;
        pool->new_threads = 0;
        pthread_cond_broadcast(&pool->worker_stopped);
    }
    pthread_attr_destroy(&attr);
}

/* Joins the workers that have left their loop (see @exited).  Home
 * thread; takes the lock. */
static void join_exited(ThreadPoolAio *pool)
{
    GArray *exited;

    pthread_mutex_lock(&pool->lock);
    exited = pool->exited;
    pool->exited = g_array_new(FALSE, FALSE, sizeof(pthread_t));
    pthread_mutex_unlock(&pool->lock);
    for (guint i = 0; i < exited->len; i++) {
        pthread_join(g_array_index(exited, pthread_t, i), NULL);
    }
    g_array_free(exited, TRUE);
}

static void spawn_thread_bh_fn(void *opaque)
{
    ThreadPoolAio *pool = opaque;

    pthread_mutex_lock(&pool->lock);
    do_spawn_thread(pool);
    pthread_mutex_unlock(&pool->lock);
    join_exited(pool); /* those that timed out meanwhile */
}

/* Decides one more thread.  Called with the lock held. */
static void spawn_thread(ThreadPoolAio *pool)
{
    pool->cur_threads++;
    pool->new_threads++;
    /* A thread being created will create this one when it starts. */
    if (!pool->pending_threads) {
        qemu_bh_schedule(pool->new_thread_bh);
    }
}

static void deadline_after(struct timespec *ts, int64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ns += ts->tv_nsec;
    ts->tv_sec += ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
}

/* Waits for work.  Returns: false if this worker should exit.  Called
 * with the lock held. */
static bool wait_for_work(ThreadPoolAio *pool)
{
    struct timespec deadline;
    int ret = 0;

    deadline_after(&deadline, pool->idle_timeout_ns);
    pool->idle_threads++;
    while (g_queue_is_empty(&pool->queue) && ret != ETIMEDOUT &&
           pool->cur_threads <= pool->max_threads) {
        ret = pthread_cond_timedwait(&pool->request_cond, &pool->lock,
                                     &deadline);
    }
    pool->idle_threads--;
    if (pool->cur_threads > pool->max_threads) {
        return false;
    }
    return !(g_queue_is_empty(&pool->queue) &&
             pool->cur_threads > pool->min_threads);
}

static void *worker_thread(void *opaque)
{
    ThreadPoolAio *pool = opaque;

    pthread_mutex_lock(&pool->lock);
    pool->pending_threads--;
    do_spawn_thread(pool);

    while (pool->cur_threads <= pool->max_threads) {
        ThreadPoolElementAio *req;
        GList *link;
        int64_t job_start, job_end;
        int ret;

        if (g_queue_is_empty(&pool->queue)) {
            if (!wait_for_work(pool)) {
                break;
            }
            continue;
        }
        link = g_queue_pop_head_link(&pool->queue);
        req = link->data;
        atomic_set(&req->state, THREAD_ACTIVE);
        pool->active++;
        pthread_mutex_unlock(&pool->lock);

        job_start = now_ns();
        ret = req->func(req->arg);
        job_end = now_ns();
        req->ret = ret;
        /* Pairs with the acquire load in completion_bh_fn(). */
        atomic_store_release(&req->state, THREAD_DONE);
        /* req may be freed from here on (its callback can run). */
        qemu_bh_schedule(pool->completion_bh);

        pthread_mutex_lock(&pool->lock);
        pool->active--;
        pool->jobs_done++;
        pool->job_ns += (job_end - job_start - pool->job_ns) / 8;
        pool->last_done_ns = MAX(pool->last_done_ns, job_end);
    }
    pool->cur_threads--;
    {
        pthread_t self = pthread_self();
        g_array_append_val(pool->exited, self); /* joined by join_exited() */
    }
    pthread_cond_signal(&pool->worker_stopped);
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

static void all_remove(ThreadPoolElementAio *req)
{
    ThreadPoolAio *pool = req->pool;

    if (req->all_next) {
        req->all_next->all_pprev = req->all_pprev;
    } else {
        pool->all_tail = req->all_pprev;
    }
    *req->all_pprev = req->all_next;
}

static void completion_bh_fn(void *opaque)
{
    ThreadPoolAio *pool = opaque;
    ThreadPoolElementAio *req;

restart:
    for (req = pool->all_head; req; req = req->all_next) {
        /* Pairs with the release stores that set DONE. */
        if (atomic_load_acquire(&req->state) != THREAD_DONE) {
            continue;
        }
        all_remove(req);
        /* The scan restarts after each callback (see aio__acb_complete). */
        aio__acb_complete(&req->common, pool->completion_bh, req->ret);
        qemu_aio_unref(req);
        goto restart;
    }
}

static void thread_pool_cancel(BlockAIOCB *acb)
{
    ThreadPoolElementAio *req = (ThreadPoolElementAio *)acb;
    ThreadPoolAio *pool = req->pool;

    pthread_mutex_lock(&pool->lock);
    if (atomic_read(&req->state) == THREAD_QUEUED) {
        g_queue_unlink(&pool->queue, &req->queue_link);
        req->ret = -ECANCELED;
        atomic_store_release(&req->state, THREAD_DONE);
        qemu_bh_schedule(pool->completion_bh);
    }
    pthread_mutex_unlock(&pool->lock);
}

static AioContext *thread_pool_get_aio_context(BlockAIOCB *acb)
{
    return ((ThreadPoolElementAio *)acb)->pool->ctx;
}

static const AIOCBInfo thread_pool_aiocb_info = {
    .aiocb_size = sizeof(ThreadPoolElementAio),
    .cancel_async = thread_pool_cancel,
    .get_aio_context = thread_pool_get_aio_context,
};

/* Applies min/max.  Called with the lock held. */
static void update_params(ThreadPoolAio *pool, int min, int max)
{
    pool->min_threads = min;
    pool->max_threads = max;
    for (int i = pool->cur_threads; i < pool->min_threads; i++) {
        spawn_thread(pool);
    }
    /* Idle workers re-check cur_threads against max (and exit above it);
     * busy ones do after their job. */
    pthread_cond_broadcast(&pool->request_cond);
}

ThreadPoolAio *aio_get_thread_pool(AioContext *ctx)
{
    ThreadPoolAio *pool = ctx->thread_pool;
    pthread_mutexattr_t mattr;
    pthread_condattr_t attr;

    if (pool) {
        return pool;
    }
    pool = g_new0(ThreadPoolAio, 1);
    pool->ctx = ctx;
    pool->completion_bh = aio_bh_new_full(ctx, completion_bh_fn, pool,
                                          "thread-pool-completion", NULL);
    pool->new_thread_bh = aio_bh_new_full(ctx, spawn_thread_bh_fn, pool,
                                          "thread-pool-spawn", NULL);
    pool->all_tail = &pool->all_head;
    pthread_mutexattr_init(&mattr);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    /* Every critical section is a few list and counter updates: spinning
     * a little beats sleeping in the kernel when the home thread and a
     * worker meet on the lock (a futex sleep and wake-up per request). */
    pthread_mutexattr_settype(&mattr, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    pthread_mutex_init(&pool->lock, &mattr);
    pthread_mutexattr_destroy(&mattr);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->request_cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&pool->worker_stopped, NULL);
    g_queue_init(&pool->queue);
    pool->exited = g_array_new(FALSE, FALSE, sizeof(pthread_t));
    pool->idle_timeout_ns = THREAD_POOL_IDLE_TIMEOUT_NS;
    pool->ncpus = MAX(1, (int)sysconf(_SC_NPROCESSORS_ONLN));
    pthread_mutex_lock(&pool->lock);
    update_params(pool, ctx->thread_pool_min, ctx->thread_pool_max);
    pthread_mutex_unlock(&pool->lock);
    ctx->thread_pool = pool;
    return pool;
}

BlockAIOCB *thread_pool_submit_aio(ThreadPoolAio *pool, ThreadPoolFunc *func,
                                   void *arg, BlockCompletionFunc *cb,
                                   void *opaque)
{
    ThreadPoolElementAio *req;

    req = qemu_aio_get(&thread_pool_aiocb_info, NULL, cb, opaque);
    req->pool = pool;
    req->func = func;
    req->arg = arg;
    req->state = THREAD_QUEUED;
    req->queue_link.data = req;
    req->all_pprev = pool->all_tail;
    *pool->all_tail = req;
    pool->all_tail = &req->all_next;

    pthread_mutex_lock(&pool->lock);
    g_queue_push_tail_link(&pool->queue, &req->queue_link);
    /* QEMU spawns only when no thread is idle, so a burst that finds one
     * idle thread stays on it; we spawn while the queue is longer than the
     * idle threads that will take from it (each decided thread, too). */
    if (pool->queue.length > (guint)(pool->idle_threads + pool->new_threads +
                                     pool->pending_threads) &&
        pool->cur_threads < pool->max_threads) {
        spawn_thread(pool);
    }
    pthread_cond_signal(&pool->request_cond);
    pthread_mutex_unlock(&pool->lock);
    return &req->common;
}

void thread_pool_submit(ThreadPoolAio *pool, ThreadPoolFunc *func, void *arg)
{
    thread_pool_submit_aio(pool, func, arg, NULL, NULL);
}

int aio_context_set_thread_pool_params(AioContext *ctx, int64_t min,
                                       int64_t max)
{
    if (min > max || max <= 0 || min < 0 || min > INT_MAX || max > INT_MAX) {
        return -EINVAL;
    }
    ctx->thread_pool_min = min;
    ctx->thread_pool_max = max;
    if (ctx->thread_pool) {
        pthread_mutex_lock(&ctx->thread_pool->lock);
        update_params(ctx->thread_pool, min, max);
        pthread_mutex_unlock(&ctx->thread_pool->lock);
    }
    return 0;
}

void thread_pool_get_stats(AioContext *ctx, ThreadPoolStats *stats)
{
    ThreadPoolAio *pool = ctx->thread_pool;

    memset(stats, 0, sizeof(*stats));
    stats->min = ctx->thread_pool_min;
    stats->max = ctx->thread_pool_max;
    if (!pool) {
        return;
    }
    pthread_mutex_lock(&pool->lock);
    stats->threads = pool->cur_threads;
    stats->idle = pool->idle_threads;
    stats->queued = g_queue_get_length(&pool->queue);
    stats->active = pool->active;
    pthread_mutex_unlock(&pool->lock);
}

void aio__thread_pool_set_idle_timeout(AioContext *ctx, int64_t ns)
{
    ThreadPoolAio *pool = aio_get_thread_pool(ctx);

    pthread_mutex_lock(&pool->lock);
    pool->idle_timeout_ns = ns;
    pthread_cond_broadcast(&pool->request_cond);
    pthread_mutex_unlock(&pool->lock);
}

void aio__thread_pool_free(AioContext *ctx)
{
    ThreadPoolAio *pool = ctx->thread_pool;
    GList *link;

    if (!pool) {
        return;
    }
    pthread_mutex_lock(&pool->lock);
    /* Queued requests will never run: they complete as cancelled. */
    while ((link = g_queue_pop_head_link(&pool->queue))) {
        ThreadPoolElementAio *req = link->data;

        req->ret = -ECANCELED;
        atomic_store_release(&req->state, THREAD_DONE);
    }
    /* Threads decided but not created never will be. */
    pool->cur_threads -= pool->new_threads;
    pool->new_threads = 0;
    /* Every worker leaves its loop, after its current job. */
    pool->max_threads = 0;
    pool->min_threads = 0;
    pthread_cond_broadcast(&pool->request_cond);
    while (pool->cur_threads > 0) {
        pthread_cond_wait(&pool->worker_stopped, &pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    join_exited(pool); /* every worker has returned from worker_thread() */
    g_array_free(pool->exited, TRUE);

    /* Every request is DONE now; their callbacks run here. */
    while (pool->all_head) {
        ThreadPoolElementAio *req = pool->all_head;

        g_assert(atomic_load_acquire(&req->state) == THREAD_DONE);
        all_remove(req);
        if (req->common.cb) {
            req->common.cb(req->common.opaque, req->ret);
        }
        qemu_aio_unref(req);
    }
    qemu_bh_delete(pool->completion_bh);
    qemu_bh_delete(pool->new_thread_bh);
    pthread_cond_destroy(&pool->worker_stopped);
    pthread_cond_destroy(&pool->request_cond);
    pthread_mutex_destroy(&pool->lock);
    ctx->thread_pool = NULL;
    g_free(pool);
}
