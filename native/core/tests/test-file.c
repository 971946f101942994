/*
 * test-file.c — AioFile on each engine (threads, io_uring, linux-aio), on
 * real files in a temporary directory (/tmp: ext4 here, where O_DIRECT
 * works).  Every case runs per engine; linux-aio files are O_DIRECT (it
 * refuses buffered ones), and threads and io_uring run both buffered and
 * O_DIRECT.  Engines that cannot be set up on this machine make their
 * cases skip with the reason.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

#include "file.h"
#include "io_uring-file.h"
#include "linux-aio.h"
#include "thread-pool.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define BLK 4096 /* O_DIRECT alignment used everywhere */

typedef struct Variant {
    AioEngine engine;
    bool direct;
} Variant;

/* One test's world: a context, a temp dir, a file. */
typedef struct Env {
    AioContext *ctx;
    char *dir;
    char *path;
    AioFile *f;
    const Variant *v;
} Env;

/* Opens @e->path with the variant's engine.  Returns: false (and marks the
 * test skipped) if the engine fell back for a reason outside the test's
 * control. */
static bool env_open(Env *e, int flags)
{
    const char *why;

    if (e->v->direct) {
        flags |= O_DIRECT;
    }
    g_assert_cmpint(
        aio_file_open(e->ctx, e->path, flags, 0600, e->v->engine, &e->f), ==,
        0);
    if (aio_file_get_engine(e->f) != e->v->engine) {
        why = aio_file_get_fallback_reason(e->f);
        g_assert_nonnull(why);
        g_test_skip(why);
        return false;
    }
    g_assert_null(aio_file_get_fallback_reason(e->f));
    g_assert_cmpint(aio_file_is_direct(e->f), ==, e->v->direct);
    return true;
}

static bool env_new(Env *e, const Variant *v, size_t size)
{
    GError *err = NULL;
    int fd;

    memset(e, 0, sizeof(*e));
    e->v = v;
    e->ctx = test_ctx_new();
    e->dir = g_dir_make_tmp("aiofile-XXXXXX", &err);
    g_assert_no_error(err);
    e->path = g_build_filename(e->dir, "data", NULL);
    fd = open(e->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    close(fd);
    return env_open(e, O_RDWR);
}

/* The io_uring engine put its SQEs on the ring it should have: the fd
 * monitor's when that is io_uring (the AIOCONTEXT_FDMON=io_uring run),
 * else its private one.  Returns: the SQEs made. */
static uint64_t check_uring_ring(Env *e)
{
    bool shared = test_stats(e->ctx).fdmon == AIO_FDMON_IO_URING;
    LuringState *s = aio_get_linux_io_uring(e->ctx);
    LuringStats st;

    if (e->v->engine != AIO_ENGINE_IO_URING || !s) {
        return 0;
    }
    luring_get_stats(s, &st);
    g_assert_cmpint(st.shared_ring, ==, shared);
    g_assert_cmpuint(shared ? st.sqes_private : st.sqes_shared, ==, 0);
    g_assert_cmpuint(st.in_kernel_shared, ==, 0);
    return st.sqes_shared + st.sqes_private;
}

static void env_free(Env *e)
{
    check_uring_ring(e);
    if (e->f) {
        g_assert_cmpuint(aio_file_in_flight(e->f), ==, 0);
        g_assert_cmpint(aio_file_close(e->f), ==, 0);
    }
    test_ctx_free(e->ctx);
    g_unlink(e->path);
    g_rmdir(e->dir);
    g_free(e->path);
    g_free(e->dir);
}

static void *buf_new(size_t size, int byte)
{
    void *p = NULL;

    g_assert_cmpint(posix_memalign(&p, BLK, size ? size : BLK), ==, 0);
    memset(p, byte, size);
    return p;
}

/* A request's record: callbacks and result (home thread). */
typedef struct Req {
    int cb_count;
    int ret;
} Req;

static void req_cb(void *opaque, int ret)
{
    Req *r = opaque;

    r->cb_count++;
    r->ret = ret;
}

/* Runs one request to completion.  Returns: its result. */
static int wait_req(Env *e, Req *r)
{
    TEST_POLL_UNTIL(e->ctx, r->cb_count > 0);
    g_assert_cmpint(r->cb_count, ==, 1);
    return r->ret;
}

static int do_rw(Env *e, bool write, int64_t off, void *buf, size_t len)
{
    struct iovec iov = {buf, len};
    Req r = {0};

    if (write) {
        aio_file_pwritev(e->f, off, &iov, 1, req_cb, &r);
    } else {
        aio_file_preadv(e->f, off, &iov, 1, req_cb, &r);
    }
    g_assert_cmpint(r.cb_count, ==, 0); /* never inside the submit */
    return wait_req(e, &r);
}

static int do_flush(Env *e)
{
    Req r = {0};

    aio_file_fdatasync(e->f, req_cb, &r);
    g_assert_cmpint(r.cb_count, ==, 0);
    return wait_req(e, &r);
}

/* ------------------------------------------------------------------------ */

/* Random writes (offsets and sizes random; block-aligned with O_DIRECT),
 * mirrored in memory, then everything read back, whole and in random
 * pieces, byte for byte. */
static void test_readback(const void *data)
{
    const size_t size = 1 << 20;
    guint8 *shadow = g_malloc0(size), *buf = buf_new(size, 0);
    GRand *rand = g_rand_new_with_seed(1234);
    Env e;

    if (!env_new(&e, data, size)) {
        goto out;
    }
    for (int i = 0; i < 200; i++) {
        size_t off, len;

        if (e.v->direct) {
            off = g_rand_int_range(rand, 0, size / BLK) * (size_t)BLK;
            len = g_rand_int_range(rand, 1, 17) * (size_t)BLK;
        } else {
            off = g_rand_int_range(rand, 0, size - 1);
            len = g_rand_int_range(rand, 1, 65536);
        }
        len = MIN(len, size - off);
        for (size_t k = 0; k < len; k++) {
            buf[k] = g_rand_int(rand);
        }
        memcpy(shadow + off, buf, len);
        g_assert_cmpint(do_rw(&e, true, off, buf, len), ==, (int)len);
    }
    g_assert_cmpint(do_flush(&e), ==, 0);
    memset(buf, 0xAA, size);
    g_assert_cmpint(do_rw(&e, false, 0, buf, size), ==, (int)size);
    g_assert_cmpint(memcmp(buf, shadow, size), ==, 0);
    for (int i = 0; i < 200; i++) {
        size_t off = g_rand_int_range(rand, 0, size / BLK) * (size_t)BLK;
        size_t len = g_rand_int_range(rand, 1, 9) * (size_t)BLK;

        if (!e.v->direct) {
            off += g_rand_int_range(rand, 0, BLK);
            len -= g_rand_int_range(rand, 0, BLK);
        }
        len = MIN(len, size - off);
        memset(buf, 0xAA, len);
        g_assert_cmpint(do_rw(&e, false, off, buf, len), ==, (int)len);
        g_assert_cmpint(memcmp(buf, shadow + off, len), ==, 0);
    }
    if (e.v->engine == AIO_ENGINE_IO_URING) {
        g_assert_cmpuint(check_uring_ring(&e), >, 0);
    }
    env_free(&e);
out:
    g_rand_free(rand);
    free(buf);
    g_free(shadow);
}

/* Vectored I/O: three buffers written, read back with another split. */
static void test_vectored(const void *data)
{
    guint8 *a = buf_new(BLK, 'a'), *b = buf_new(2 * BLK, 'b');
    guint8 *c = buf_new(BLK, 'c'), *r1 = buf_new(3 * BLK, 0);
    guint8 *r2 = buf_new(BLK, 0);
    struct iovec w[3] = {{a, BLK}, {b, 2 * BLK}, {c, BLK}};
    struct iovec rd[2] = {{r1, 3 * BLK}, {r2, BLK}};
    Req r = {0};
    Env e;

    if (!env_new(&e, data, 8 * BLK)) {
        goto out;
    }
    aio_file_pwritev(e.f, BLK, w, 3, req_cb, &r);
    g_assert_cmpint(wait_req(&e, &r), ==, 4 * BLK);
    r = (Req){0};
    aio_file_preadv(e.f, BLK, rd, 2, req_cb, &r);
    g_assert_cmpint(wait_req(&e, &r), ==, 4 * BLK);
    for (int i = 0; i < 3 * BLK; i++) {
        g_assert_cmpint(r1[i], ==, (i < BLK ? 'a' : 'b'));
    }
    for (int i = 0; i < BLK; i++) {
        g_assert_cmpint(r2[i], ==, 'c');
    }
    env_free(&e);
out:
    free(a);
    free(b);
    free(c);
    free(r1);
    free(r2);
}

/* A read across the end of the file returns the bytes before it and
 * zero-fills the rest of the buffer; a read past it returns 0, all zeros. */
static void test_short_read(const void *data)
{
    const int size = 2 * BLK + 1808;
    guint8 *buf = buf_new(2 * BLK, 0x55);
    Env e;

    if (!env_new(&e, data, 0)) {
        goto out;
    }
    for (int off = 0; off < 3 * BLK; off += BLK) {
        g_assert_cmpint(do_rw(&e, true, off, buf, BLK), ==, BLK);
    }
    g_assert_cmpint(ftruncate(aio_file_get_fd(e.f), size), ==, 0);
    memset(buf, 0xAA, 2 * BLK);
    g_assert_cmpint(do_rw(&e, false, BLK, buf, 2 * BLK), ==, BLK + 1808);
    for (int i = 0; i < 2 * BLK; i++) {
        g_assert_cmpint(buf[i], ==, (i < BLK + 1808 ? 0x55 : 0));
    }
    memset(buf, 0xAA, 2 * BLK);
    g_assert_cmpint(do_rw(&e, false, 4 * BLK, buf, BLK), ==, 0);
    for (int i = 0; i < BLK; i++) {
        g_assert_cmpint(buf[i], ==, 0);
    }
    env_free(&e);
out:
    free(buf);
}

/* O_DIRECT refuses a misaligned buffer, offset or length with -EINVAL.
 * Writes: ext4 on recent kernels (6.18 here) serves misaligned O_DIRECT
 * reads through the page cache instead of failing them. */
static void test_direct_alignment(const void *data)
{
    guint8 *buf = buf_new(2 * BLK, 1);
    Env e;

    if (!env_new(&e, data, 4 * BLK)) {
        goto out;
    }
    g_assert_cmpint(do_rw(&e, true, 0, buf + 1, BLK), ==, -EINVAL);
    g_assert_cmpint(do_rw(&e, true, 1, buf, BLK), ==, -EINVAL);
    g_assert_cmpint(do_rw(&e, true, 0, buf, 100), ==, -EINVAL);
    g_assert_cmpint(do_rw(&e, true, 0, buf, BLK), ==, BLK);
    env_free(&e);
out:
    free(buf);
}

/* Discard punches a hole: the range reads back as zeros, the rest is
 * intact, and the file keeps its size. */
static void test_discard(const void *data)
{
    guint8 *buf = buf_new(16 * BLK, 0xFF);
    struct stat st;
    Req r = {0};
    Env e;

    if (!env_new(&e, data, 0)) {
        goto out;
    }
    g_assert_cmpint(do_rw(&e, true, 0, buf, 16 * BLK), ==, 16 * BLK);
    g_assert_cmpint(do_flush(&e), ==, 0);
    aio_file_discard(e.f, 4 * BLK, 4 * BLK, req_cb, &r);
    g_assert_cmpint(wait_req(&e, &r), ==, 0);
    memset(buf, 0xAA, 16 * BLK);
    g_assert_cmpint(do_rw(&e, false, 0, buf, 16 * BLK), ==, 16 * BLK);
    for (int i = 0; i < 16 * BLK; i++) {
        g_assert_cmpint(buf[i], ==, (i >= 4 * BLK && i < 8 * BLK ? 0 : 0xFF));
    }
    g_assert_cmpint(fstat(aio_file_get_fd(e.f), &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 16 * BLK);
    env_free(&e);
out:
    free(buf);
}

/* Flush completes with 0; on a file open read-only too; the data is on
 * the file afterwards, as a plain pread sees it. */
static void test_flush(const void *data)
{
    guint8 *buf = buf_new(BLK, 0x42), *check = g_malloc(BLK);
    Env e;

    if (!env_new(&e, data, BLK)) {
        goto out;
    }
    g_assert_cmpint(do_rw(&e, true, 0, buf, BLK), ==, BLK);
    g_assert_cmpint(do_flush(&e), ==, 0);
    {
        int fd = open(e.path, O_RDONLY | O_CLOEXEC);

        g_assert_cmpint(pread(fd, check, BLK, 0), ==, BLK);
        g_assert_cmpint(memcmp(check, buf, BLK), ==, 0);
        close(fd);
    }
    env_free(&e);
out:
    g_free(check);
    free(buf);
}

/* 10,000 reads in flight at once: each completes exactly once, with the
 * right bytes. */
#define MANY 10000
typedef struct ManyReq {
    int cb_count;
    int ret;
} ManyReq;

static void test_many(const void *data)
{
    const int blocks = 64;
    guint8 *pattern = buf_new(blocks * BLK, 0);
    guint8 *bufs = buf_new((size_t)MANY * BLK, 0xAA);
    Req *reqs = g_new0(Req, MANY);
    int done = 0;
    Env e;

    for (int i = 0; i < blocks * BLK; i++) {
        pattern[i] = (i / BLK) * 7 + 1;
    }
    if (!env_new(&e, data, 0)) {
        goto out;
    }
    g_assert_cmpint(do_rw(&e, true, 0, pattern, blocks * BLK), ==,
                    blocks * BLK);
    for (int i = 0; i < MANY; i++) {
        struct iovec iov = {bufs + (size_t)i * BLK, BLK};

        aio_file_preadv(e.f, (int64_t)(i % blocks) * BLK, &iov, 1, req_cb,
                        &reqs[i]);
    }
    g_assert_cmpuint(aio_file_in_flight(e.f), ==, MANY);
    TEST_POLL_UNTIL(e.ctx, (done = aio_file_in_flight(e.f) == 0));
    test_drain(e.ctx);
    for (int i = 0; i < MANY; i++) {
        guint8 want = (i % blocks) * 7 + 1;

        g_assert_cmpint(reqs[i].cb_count, ==, 1);
        g_assert_cmpint(reqs[i].ret, ==, BLK);
        g_assert_cmpint(bufs[(size_t)i * BLK], ==, want);
        g_assert_cmpint(bufs[(size_t)i * BLK + BLK - 1], ==, want);
    }
    env_free(&e);
out:
    g_free(reqs);
    free(bufs);
    free(pattern);
}

/* Plugs the engine's queue (io_uring, linux-aio) so that nothing reaches
 * the kernel until unplug.  Returns: whether it could. */
static bool plug(Env *e, bool on)
{
    switch (e->v->engine) {
    case AIO_ENGINE_IO_URING:
        (on ? luring_io_plug
            : luring_io_unplug)(aio_get_linux_io_uring(e->ctx));
        return true;
    case AIO_ENGINE_LINUX_AIO:
        (on ? laio_io_plug : laio_io_unplug)(aio_get_linux_aio(e->ctx));
        return true;
    default: return false;
    }
}

/* A pool job that holds the pool's only worker until the gate opens. */
static gint pool_gate_open;

static int pool_gate_job(void *arg)
{
    (void)arg;
    while (!g_atomic_int_get(&pool_gate_open)) {
        g_usleep(100);
    }
    return 0;
}

static void pool_gate_done(void *opaque, int ret)
{
    g_assert_cmpint(ret, ==, 0);
    (*(int *)opaque)++;
}

/* Cancels mixed with completions: every callback runs once, with either
 * the data or -ECANCELED; requests cancelled before they reached a worker
 * or the kernel always get -ECANCELED. */
static void test_cancel_mixed(const void *data)
{
    const int n = 1000;
    guint8 *pattern = buf_new(BLK, 0x3C);
    guint8 *bufs = buf_new((size_t)n * BLK, 0xAA);
    Req *reqs = g_new0(Req, n);
    BlockAIOCB **acbs = g_new0(BlockAIOCB *, n);
    int n_ok = 0, n_cancelled = 0, gate_done = 0;
    bool plugged, gated = false;
    Env e;

    if (!env_new(&e, data, 0)) {
        goto out;
    }
    g_assert_cmpint(do_rw(&e, true, 0, pattern, BLK), ==, BLK);
    if (e.v->engine == AIO_ENGINE_THREADS) {
        /* One worker, held by a job queued first until every cancel was
         * made: otherwise a fast worker (or a slow home thread, under
         * ASan) can drain the queue before the cancels, and none wins. */
        g_assert_cmpint(aio_context_set_thread_pool_params(e.ctx, 0, 1), ==, 0);
        g_atomic_int_set(&pool_gate_open, 0);
        thread_pool_submit_aio(aio_get_thread_pool(e.ctx), pool_gate_job, NULL,
                               pool_gate_done, &gate_done);
        gated = true;
    }
    plugged = plug(&e, true);
    for (int i = 0; i < n; i++) {
        struct iovec iov = {bufs + (size_t)i * BLK, BLK};

        acbs[i] = aio_file_preadv(e.f, 0, &iov, 1, req_cb, &reqs[i]);
    }
    for (int i = 1; i < n; i += 2) {
        aio_cancel_async(acbs[i]);
    }
    for (int i = 0; i < n; i++) {
        g_assert_cmpint(reqs[i].cb_count, ==, 0);
    }
    if (plugged) {
        plug(&e, false);
    }
    g_atomic_int_set(&pool_gate_open, 1);
    TEST_POLL_UNTIL(e.ctx, aio_file_in_flight(e.f) == 0);
    test_drain(e.ctx);
    for (int i = 0; i < n; i++) {
        g_assert_cmpint(reqs[i].cb_count, ==, 1);
        if (reqs[i].ret == -ECANCELED) {
            g_assert_cmpint(i % 2, ==, 1);
            n_cancelled++;
        } else {
            g_assert_cmpint(reqs[i].ret, ==, BLK);
            g_assert_cmpint(bufs[(size_t)i * BLK], ==, 0x3C);
            n_ok++;
        }
    }
    g_assert_cmpint(n_ok + n_cancelled, ==, n);
    g_assert_cmpint(n_ok, >=, n / 2);
    if (plugged || gated) {
        g_assert_cmpint(n_cancelled, ==, n / 2);
    } else {
        g_assert_cmpint(n_cancelled, >, 0);
    }
    if (gated) {
        TEST_POLL_UNTIL(e.ctx, gate_done == 1);
    }
    env_free(&e);
out:
    g_free(acbs);
    g_free(reqs);
    free(bufs);
    free(pattern);
}

/* close refuses while requests are in flight; the file keeps its context
 * alive; a callback may close the file. */
typedef struct CloseInCb {
    AioFile *f;
    int close_ret;
    int cb_count;
} CloseInCb;

static void close_in_cb(void *opaque, int ret)
{
    CloseInCb *c = opaque;

    g_assert_cmpint(ret, ==, BLK);
    c->cb_count++;
    c->close_ret = aio_file_close(c->f);
}

static void test_close_in_flight(const void *data)
{
    guint8 *buf = buf_new(BLK, 0);
    struct iovec iov = {buf, BLK};
    CloseInCb c = {0};
    Req r = {0};
    Env e;

    if (!env_new(&e, data, BLK)) {
        goto out;
    }
    aio_file_preadv(e.f, 0, &iov, 1, req_cb, &r);
    g_assert_cmpint(aio_file_close(e.f), ==, -EBUSY);
    g_assert_cmpuint(aio_file_in_flight(e.f), ==, 1);
    g_assert_cmpint(wait_req(&e, &r), ==, BLK);

    /* The last request's callback closes the file. */
    c.f = e.f;
    aio_file_preadv(e.f, 0, &iov, 1, close_in_cb, &c);
    TEST_POLL_UNTIL(e.ctx, c.cb_count == 1);
    g_assert_cmpint(c.close_ret, ==, 0);
    e.f = NULL;
    env_free(&e);
out:
    free(buf);
}

/* Bad arguments complete through the callback, from the loop. */
static void test_bad_args(const void *data)
{
    guint8 *buf = buf_new(BLK, 0);
    struct iovec iov = {buf, BLK};
    Req r1 = {0}, r2 = {0}, r3 = {0};
    Env e;

    if (!env_new(&e, data, BLK)) {
        goto out;
    }
    aio_file_preadv(e.f, -1, &iov, 1, req_cb, &r1);
    aio_file_pwritev(e.f, 0, &iov, 0, req_cb, &r2);
    aio_file_discard(e.f, 0, -5, req_cb, &r3);
    g_assert_cmpint(r1.cb_count + r2.cb_count + r3.cb_count, ==, 0);
    g_assert_cmpint(wait_req(&e, &r1), ==, -EINVAL);
    g_assert_cmpint(wait_req(&e, &r2), ==, -EINVAL);
    g_assert_cmpint(wait_req(&e, &r3), ==, -EINVAL);
    env_free(&e);
out:
    free(buf);
}

/* A completion callback that nests aio_poll() sees another request that
 * completed in the same batch. */
typedef struct Nest {
    AioContext *ctx;
    Req *other;
    int saw;
} Nest;

static void nest_cb(void *opaque, int ret)
{
    Nest *n = opaque;

    g_assert_cmpint(ret, ==, BLK);
    TEST_POLL_UNTIL(n->ctx, n->other->cb_count == 1);
    n->saw = n->other->ret;
}

static void test_nested_poll(const void *data)
{
    guint8 *a = buf_new(BLK, 0), *b = buf_new(BLK, 0);
    struct iovec ia = {a, BLK}, ib = {b, BLK};
    Req rb = {0};
    Env e;
    Nest n;

    if (!env_new(&e, data, BLK)) {
        goto out;
    }
    n = (Nest){.ctx = e.ctx, .other = &rb};
    aio_file_preadv(e.f, 0, &ia, 1, nest_cb, &n);
    aio_file_preadv(e.f, 0, &ib, 1, req_cb, &rb);
    TEST_POLL_UNTIL(e.ctx, n.saw == BLK);
    g_assert_cmpint(rb.cb_count, ==, 1);
    env_free(&e);
out:
    free(a);
    free(b);
}

/* Busy polling: with polling on, the kernel engines' handlers (whose
 * poll hooks read the CQ ring / the AIO completion ring) put the loop in
 * poll mode, and every request still completes once with the right
 * bytes, whichever of the hook or the eventfd sees it first. */
static void test_busy_poll(const void *data)
{
    guint8 *buf = buf_new(BLK, 0x77), *rd = buf_new(BLK, 0);
    AioContextStats st;
    bool polled = false;
    Env e;

    if (!env_new(&e, data, BLK)) {
        goto out;
    }
    g_assert_cmpint(do_rw(&e, true, 0, buf, BLK), ==, BLK);
    aio_context_set_poll_params(e.ctx, 50 * SCALE_MS, 0, 0);
    for (int i = 0; i < 200; i++) {
        memset(rd, 0, BLK);
        g_assert_cmpint(do_rw(&e, false, 0, rd, BLK), ==, BLK);
        g_assert_cmpint(memcmp(rd, buf, BLK), ==, 0);
        st = test_stats(e.ctx);
        polled |= st.poll_ns > 0;
    }
    /* The thread pool has no poll hook to give (its completions come
     * through a BH), so only the kernel engines make the loop poll. */
    if (e.v->engine != AIO_ENGINE_THREADS) {
        g_assert_true(polled);
    }
    aio_context_set_poll_params(e.ctx, 0, 0, 0);
    env_free(&e);
out:
    free(buf);
    free(rd);
}

/* Driven by GLib: with the context attached to a GMainContext, 100 reads
 * complete from g_main_context_iteration(), each once. */
static void test_gsource(const void *data)
{
    guint8 *bufs = buf_new(100 * BLK, 0), *pattern = buf_new(BLK, 0x19);
    Req reqs[100] = {{0}};
    GMainContext *main;
    Env e;

    if (!env_new(&e, data, BLK)) {
        goto out;
    }
    g_assert_cmpint(do_rw(&e, true, 0, pattern, BLK), ==, BLK);
    main = test_attach(e.ctx);
    for (int i = 0; i < 100; i++) {
        struct iovec iov = {bufs + i * BLK, BLK};

        aio_file_preadv(e.f, 0, &iov, 1, req_cb, &reqs[i]);
    }
    gint64 deadline = test_deadline_ms(TEST_WAIT_MS);
    while (aio_file_in_flight(e.f)) {
        test_check_deadline(deadline, "reads under GLib");
        g_main_context_iteration(main, TRUE);
    }
    for (int i = 0; i < 100; i++) {
        g_assert_cmpint(reqs[i].cb_count, ==, 1);
        g_assert_cmpint(reqs[i].ret, ==, BLK);
        g_assert_cmpint(bufs[i * BLK + BLK - 1], ==, 0x19);
    }
    test_main_drain(main);
    test_detach(e.ctx, main);
    env_free(&e);
out:
    free(bufs);
    free(pattern);
}

/* ------------------------------------------------------------------------ */
/* Engine choice                                                             */
/* ------------------------------------------------------------------------ */

static void test_linux_aio_needs_direct(void)
{
    static const Variant v = {AIO_ENGINE_LINUX_AIO, false};
    Env e;

    /* env_open skips on a fallback; open by hand instead. */
    env_new(&e, &(Variant){AIO_ENGINE_THREADS, false}, BLK);
    g_assert_cmpint(aio_file_close(e.f), ==, 0);
    e.v = &v;
    g_assert_cmpint(
        aio_file_open(e.ctx, e.path, O_RDWR, 0, AIO_ENGINE_LINUX_AIO, &e.f), ==,
        0);
    g_assert_cmpint(aio_file_get_engine(e.f), ==, AIO_ENGINE_THREADS);
    g_assert_nonnull(strstr(aio_file_get_fallback_reason(e.f), "O_DIRECT"));
    env_free(&e);
}

static void test_auto(void)
{
    Env e;
    bool off = g_strcmp0(g_getenv("AIOCONTEXT_IO_URING"), "0") == 0;

    env_new(&e, &(Variant){AIO_ENGINE_THREADS, false}, BLK);
    g_assert_cmpint(aio_file_close(e.f), ==, 0);
    g_assert_cmpint(
        aio_file_open(e.ctx, e.path, O_RDWR, 0, AIO_ENGINE_AUTO, &e.f), ==, 0);
    if (off) {
        g_assert_cmpint(aio_file_get_engine(e.f), ==, AIO_ENGINE_THREADS);
        g_assert_cmpstr(aio_file_get_fallback_reason(e.f), ==,
                        "io_uring turned off by AIOCONTEXT_IO_URING=0");
    } else if (aio_file_get_engine(e.f) == AIO_ENGINE_IO_URING) {
        g_assert_null(aio_file_get_fallback_reason(e.f));
        g_assert_true(aio_get_linux_io_uring(e.ctx) != NULL);
    } else {
        g_assert_nonnull(aio_file_get_fallback_reason(e.f));
    }
    env_free(&e);
}

static void test_open_errors(void)
{
    AioContext *ctx = test_ctx_new();
    AioFile *f = NULL;

    g_assert_cmpint(aio_file_open(ctx, "/nonexistent/x", O_RDONLY, 0,
                                  AIO_ENGINE_THREADS, &f),
                    ==, -ENOENT);
    g_assert_cmpint(aio_file_open(ctx, "/tmp", O_RDONLY, 0, (AioEngine)42, &f),
                    ==, -EINVAL);
    g_assert_cmpint(aio_file_new_fd(ctx, 9999, AIO_ENGINE_THREADS, &f), ==,
                    -EBADF);
    g_assert_null(f);
    g_assert_cmpstr(aio_engine_name(AIO_ENGINE_LINUX_AIO), ==, "linux-aio");
    g_assert_null(aio_engine_name((AioEngine)42));
    test_ctx_free(ctx);
}

/* A file holds its context: dropping the creator's reference while a file
 * is open does not finalize it; closing the file does. */
static void test_file_holds_context(void)
{
    AioContext *ctx = test_ctx_new();
    AioFile *f;
    gboolean finalized = FALSE;
    QEMUBH *canary = aio_bh_new_full(ctx, test_never_called, &finalized,
                                     "canary", test_set_flag);

    g_assert_cmpint(aio_file_new_fd(ctx, 0, AIO_ENGINE_THREADS, &f), ==, 0);
    qemu_bh_delete(canary);
    aio_context_unref(ctx);
    g_assert_false(finalized);
    g_assert_cmpint(aio_file_close(f), ==, 0);
    g_assert_true(finalized);
    g_assert_cmpint(fcntl(0, F_GETFD), >=, 0); /* borrowed fd left open */
}

/* A request of 0 bytes (one empty buffer, or empty buffers only)
 * transfers nothing and succeeds with 0, read or write, as pwritev(2) of
 * nothing does: a write that makes no progress is -ENOSPC only when it had
 * bytes to write. */
static void test_zero_length(const void *data)
{
    guint8 *buf = buf_new(BLK, 0x11);
    struct iovec empty[3] = {{buf, 0}, {buf, 0}, {buf, 0}};
    Env e;

    if (!env_new(&e, data, 2 * BLK)) {
        goto out;
    }
    g_assert_cmpint(do_rw(&e, true, BLK, buf, 0), ==, 0);
    g_assert_cmpint(do_rw(&e, false, BLK, buf, 0), ==, 0);
    for (int write = 0; write < 2; write++) {
        Req r = {0};

        if (write) {
            aio_file_pwritev(e.f, 0, empty, 3, req_cb, &r);
        } else {
            aio_file_preadv(e.f, 0, empty, 3, req_cb, &r);
        }
        g_assert_cmpint(wait_req(&e, &r), ==, 0);
    }
    for (int i = 0; i < BLK; i++) {
        g_assert_cmpint(buf[i], ==, 0x11); /* nothing was read */
    }
    env_free(&e);
out:
    free(buf);
}

/* ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    GTestDataFunc fn;
} cases[] = {
    {"readback", test_readback},
    {"vectored", test_vectored},
    {"short-read-eof", test_short_read},
    {"zero-length", test_zero_length},
    {"discard", test_discard},
    {"flush", test_flush},
    {"many-10000", test_many},
    {"cancel-mixed", test_cancel_mixed},
    {"close-in-flight", test_close_in_flight},
    {"bad-args", test_bad_args},
    {"nested-poll", test_nested_poll},
    {"busy-poll", test_busy_poll},
    {"gsource", test_gsource},
};

static const struct {
    const char *name;
    Variant v;
} variants[] = {
    {"threads", {AIO_ENGINE_THREADS, false}},
    {"threads-direct", {AIO_ENGINE_THREADS, true}},
    {"io_uring", {AIO_ENGINE_IO_URING, false}},
    {"io_uring-direct", {AIO_ENGINE_IO_URING, true}},
    {"linux-aio", {AIO_ENGINE_LINUX_AIO, true}},
};

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    for (size_t v = 0; v < G_N_ELEMENTS(variants); v++) {
        for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
            char *path = g_strdup_printf("/file/%s/%s", variants[v].name,
                                         cases[c].name);

            g_test_add_data_func(path, &variants[v].v, cases[c].fn);
            g_free(path);
        }
        if (variants[v].v.direct) {
            char *path = g_strdup_printf("/file/%s/direct-alignment",
                                         variants[v].name);

            g_test_add_data_func(path, &variants[v].v, test_direct_alignment);
            g_free(path);
        }
    }
    g_test_add_func("/file/engine/linux-aio-needs-direct",
                    test_linux_aio_needs_direct);
    g_test_add_func("/file/engine/auto", test_auto);
    g_test_add_func("/file/open-errors", test_open_errors);
    g_test_add_func("/file/holds-context", test_file_holds_context);

    return g_test_run();
}
