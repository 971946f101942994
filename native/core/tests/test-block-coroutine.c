/*
 * test-block-coroutine.c — block I/O from coroutines: thread_pool_submit_co
 * and the AioFile _co forms, on every engine, with real files.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

#include "block-coroutine.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <pthread.h>

/* Polls (without blocking) until @ctx has no armed work.  Not
 * AIO_WAIT_WHILE: a pool worker stops counting its job only after it
 * scheduled the completion, and nothing wakes the loop for that. */
static void wait_not_armed(AioContext *ctx)
{
    int64_t deadline = g_get_monotonic_time() + TEST_WAIT_MS * 1000;

    while (aio_context_has_armed_work(ctx) &&
           g_get_monotonic_time() < deadline) {
        aio_poll(ctx, false);
        g_usleep(100);
    }
    g_assert_false(aio_context_has_armed_work(ctx));
}

/* ------------------------------------------------------------------------ */
/* thread_pool_submit_co                                                     */
/* ------------------------------------------------------------------------ */

typedef struct Job {
    int value;
    pthread_t home;
    bool on_worker;
} Job;

static int job_fn(void *opaque)
{
    Job *j = opaque;

    j->on_worker = !pthread_equal(pthread_self(), j->home);
    return j->value * 2;
}

typedef struct Submitter {
    AioContext *ctx;
    int base;
    int sum;
    bool all_on_workers;
    bool in_coroutine_after;
    bool done;
} Submitter;

static void submitter_entry(void *opaque)
{
    Submitter *s = opaque;
    ThreadPoolAio *pool = aio_get_thread_pool(s->ctx);

    s->all_on_workers = true;
    for (int i = 0; i < 5; i++) {
        Job j = {s->base + i, pthread_self(), false};

        s->sum += thread_pool_submit_co(pool, job_fn, &j);
        s->all_on_workers &= j.on_worker;
    }
    s->in_coroutine_after = qemu_in_coroutine();
    s->done = true;
}

static void test_thread_pool_submit_co(void)
{
    AioContext *ctx = test_ctx_new();
    Submitter s[8];
    int done;

    for (int i = 0; i < 8; i++) {
        s[i] = (Submitter){ctx, i * 100, 0, false, false, false};
        aio_co_enter(ctx, qemu_coroutine_create(submitter_entry, &s[i]));
        g_assert_false(s[i].done); /* waiting for its job */
    }
    do {
        done = 0;
        for (int i = 0; i < 8; i++) {
            done += s[i].done;
        }
    } while (done < 8 && (aio_poll(ctx, true), true));
    for (int i = 0; i < 8; i++) {
        /* 2 * (5 * base + 0 + 1 + 2 + 3 + 4) */
        g_assert_cmpint(s[i].sum, ==, 2 * (5 * s[i].base + 10));
        g_assert_true(s[i].all_on_workers);
        g_assert_true(s[i].in_coroutine_after);
    }
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* AioFile _co forms                                                         */
/* ------------------------------------------------------------------------ */

typedef struct FileJob {
    AioFile *file;
    int wrote, synced, read, read_eof, discarded, read_hole, bad;
    char back[32];
    char hole[16];
    bool done;
} FileJob;

static const char payload[] = "coroutine bytes!"; /* 16 + NUL */

static void file_entry(void *opaque)
{
    FileJob *j = opaque;
    struct iovec w[2] = {
        {(void *)payload, 10},
        {(void *)(payload + 10), 6},
    };
    struct iovec r = {j->back, 16};
    struct iovec eof = {j->back + 16, 16};
    struct iovec h = {j->hole, 16};

    j->wrote = aio_file_co_pwritev(j->file, 8192, w, 2);
    j->synced = aio_file_co_fdatasync(j->file);
    j->read = aio_file_co_preadv(j->file, 8192, &r, 1);
    j->read_eof = aio_file_co_preadv(j->file, 8192 + 16, &eof, 1);
    j->discarded = aio_file_co_discard(j->file, 8192, 4096);
    j->read_hole = aio_file_co_preadv(j->file, 8192, &h, 1);
    j->bad = aio_file_co_preadv(j->file, -1, &r, 1);
    j->done = true;
}

static void run_file_engine(AioEngine engine)
{
    AioContext *ctx = test_ctx_new();
    char *dir = g_dir_make_tmp("coro-file-XXXXXX", NULL);
    char *path = g_build_filename(dir, "data", NULL);
    FileJob j = {0};
    int64_t deadline = g_get_monotonic_time() + TEST_WAIT_MS * 1000;

    g_assert_nonnull(dir);
    g_assert_cmpint(
        aio_file_open(ctx, path, O_RDWR | O_CREAT, 0600, engine, &j.file), ==,
        0);
    memset(j.back, 'x', sizeof(j.back));
    memset(j.hole, 'x', sizeof(j.hole));
    g_assert_false(aio_context_has_armed_work(ctx));
    aio_co_enter(ctx, qemu_coroutine_create(file_entry, &j));
    /* Waiting for its write: the request counts as armed work. */
    g_assert_false(j.done);
    g_assert_true(aio_context_has_armed_work(ctx));
    while (!j.done && g_get_monotonic_time() < deadline) {
        aio_poll(ctx, true);
    }
    g_assert_true(j.done);
    g_assert_cmpint(j.wrote, ==, 16);
    g_assert_cmpint(j.synced, ==, 0);
    g_assert_cmpint(j.read, ==, 16);
    g_assert_cmpmem(j.back, 16, payload, 16);
    g_assert_cmpint(j.read_eof, ==, 0); /* at the end */
    if (j.discarded == -EOPNOTSUPP) {
        g_test_message("%s: no hole punching here", aio_engine_name(engine));
    } else {
        static const char zeros[16];

        g_assert_cmpint(j.discarded, ==, 0);
        g_assert_cmpint(j.read_hole, ==, 16);
        g_assert_cmpmem(j.hole, 16, zeros, 16);
    }
    g_assert_cmpint(j.bad, ==, -EINVAL);
    g_assert_cmpuint(aio_file_in_flight(j.file), ==, 0);
    g_assert_cmpint(aio_file_close(j.file), ==, 0);
    /* The engine stays set up, its handler registered: not armed work. */
    wait_not_armed(ctx);
    g_assert_cmpint(g_unlink(path), ==, 0);
    g_assert_cmpint(g_rmdir(dir), ==, 0);
    g_free(path);
    g_free(dir);
    test_drain(ctx);
    test_ctx_free(ctx);
}

static void test_file_threads(void)
{
    run_file_engine(AIO_ENGINE_THREADS);
}

static void test_file_io_uring(void)
{
    run_file_engine(AIO_ENGINE_IO_URING);
}

static void test_file_linux_aio(void)
{
    /* Buffered: reads and writes fall back to threads, as documented. */
    run_file_engine(AIO_ENGINE_LINUX_AIO);
}

/* ------------------------------------------------------------------------ */
/* A thread-pool job in flight is armed work                                 */
/* ------------------------------------------------------------------------ */

static bool job_release; /* atomic */

/* Runs until the test releases it. */
static int held_job(void *opaque)
{
    while (!__atomic_load_n(&job_release, __ATOMIC_ACQUIRE)) {
        g_usleep(1000);
    }
    return GPOINTER_TO_INT(opaque);
}

static void armed_entry(void *opaque)
{
    AioContext *ctx = opaque;

    g_assert_cmpint(thread_pool_submit_co(aio_get_thread_pool(ctx), held_job,
                                          GINT_TO_POINTER(7)),
                    ==, 7);
}

static void test_pool_job_is_armed(void)
{
    AioContext *ctx = test_ctx_new();

    __atomic_store_n(&job_release, false, __ATOMIC_RELEASE);
    g_assert_false(aio_context_has_armed_work(ctx));
    aio_co_enter(ctx, qemu_coroutine_create(armed_entry, ctx));
    /* Nothing but a job queued or running on a worker (the spawn BH ran):
     * no BH, timer or handler, yet a blocking poll will be woken. */
    test_drain(ctx);
    g_assert_true(aio_context_has_armed_work(ctx));
    __atomic_store_n(&job_release, true, __ATOMIC_RELEASE);
    wait_not_armed(ctx);
    test_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/block-co/thread-pool-submit-co",
                    test_thread_pool_submit_co);
    g_test_add_func("/block-co/file/threads", test_file_threads);
    g_test_add_func("/block-co/file/io_uring", test_file_io_uring);
    g_test_add_func("/block-co/file/linux-aio", test_file_linux_aio);
    g_test_add_func("/block-co/pool-job-is-armed", test_pool_job_is_armed);
    return g_test_run();
}
