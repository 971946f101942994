/*
 * test-uring-sqe.c — aio_add_sqe(): requests on the fd monitor's io_uring
 * ring, their CqeHandlers dispatched by aio_poll() and by GLib, and the
 * io_uring file engine on that ring: next to fd handlers, cancelled,
 * nested, while external handlers are paused, and in flight while an auto
 * context is handed to GLib (the monitor drains its ring before closing
 * it).  Contexts are made on io_uring (or auto) whatever AIOCONTEXT_FDMON
 * says; without io_uring the cases skip with the reason.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

#include "aio-internal.h"
#include "file.h"
#include "io_uring-file.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <liburing.h>
#include <stdlib.h>

#define BLK 4096

/* A CqeHandler with its record. */
typedef struct Cqe {
    CqeHandler h;
    int count;
    int order;          /* the how-manyth callback it was, from 1 */
    AioContext *ctx;    /* for nesting */
    struct Cqe *others; /* for nesting: wait for these */
    int n_others;
} Cqe;

static int cb_seq;

static void cqe_cb(CqeHandler *h)
{
    Cqe *c = container_of(h, Cqe, h);

    c->count++;
    c->order = ++cb_seq;
}

static void prep_nop(struct io_uring_sqe *sqe, void *opaque)
{
    (void)opaque;
    io_uring_prep_nop(sqe);
}

/* An io_uring (or auto) context, or NULL if io_uring is not available
 * here (the test is then skipped; the context is freed). */
static AioContext *uring_ctx(AioFdMonRequest req)
{
    AioContext *ctx;

    if (req == AIO_FDMON_REQUEST_AUTO && !test_auto_tries_io_uring()) {
        g_test_skip("auto does not try io_uring in this run");
        return NULL;
    }
    ctx = test_ctx_new_full("uring-sqe", req);
    if (test_ctx_fell_back(ctx)) {
        test_ctx_free(ctx);
        return NULL;
    }
    g_assert_true(aio_has_io_uring(ctx));
    return ctx;
}

static int total(Cqe *c, int n)
{
    int sum = 0;

    for (int i = 0; i < n; i++) {
        g_assert_cmpint(c[i].count, <=, 1);
        sum += c[i].count;
    }
    return sum;
}

/* Callbacks run from aio_poll(), never from aio_add_sqe(), once each, in
 * completion order, and count as progress; a NULL handler's CQE is
 * ignored. */
static void test_nop(void)
{
    AioContext *ctx = uring_ctx(AIO_FDMON_REQUEST_IO_URING);
    Cqe c[3] = {{.h.cb = cqe_cb}, {.h.cb = cqe_cb}, {.h.cb = cqe_cb}};
    bool progress = false;

    if (!ctx) {
        return;
    }
    cb_seq = 0;
    aio_add_sqe(ctx, prep_nop, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        aio_add_sqe(ctx, prep_nop, NULL, &c[i].h);
    }
    g_assert_cmpint(total(c, 3), ==, 0);
    /* Not submitted yet (the loop does it): nothing is pending. */
    g_assert_false(aio_pending(ctx));
    while (total(c, 3) < 3) {
        progress |= aio_poll(ctx, true);
    }
    g_assert_true(progress);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(c[i].count, ==, 1);
        g_assert_cmpint(c[i].h.cqe.res, ==, 0);
        g_assert_cmpuint(c[i].h.cqe.user_data & 1, ==, 1);
    }
    /* Nothing is left: a non-blocking call makes no progress. */
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(total(c, 3), ==, 3);
    test_ctx_free(ctx);
}

/* 10,000 requests at once: the submission queue (128) fills and is
 * flushed, the completion queue (4096) overflows into the kernel's list;
 * every callback runs exactly once. */
static void test_many(void)
{
    const int n = 10000;
    AioContext *ctx = uring_ctx(AIO_FDMON_REQUEST_IO_URING);
    Cqe *c;

    if (!ctx) {
        return;
    }
    c = g_new0(Cqe, n);
    for (int i = 0; i < n; i++) {
        c[i].h.cb = cqe_cb;
        aio_add_sqe(ctx, prep_nop, NULL, &c[i].h);
    }
    TEST_POLL_UNTIL(ctx, total(c, n) == n);
    test_drain(ctx);
    for (int i = 0; i < n; i++) {
        g_assert_cmpint(c[i].count, ==, 1);
        g_assert_cmpint(c[i].h.cqe.res, ==, 0);
    }
    g_free(c);
    test_ctx_free(ctx);
}

/* Under GLib: the completion wakes the GMainContext, its check says
 * ready, and the dispatch runs the callback. */
static void test_gsource(void)
{
    AioContext *ctx = uring_ctx(AIO_FDMON_REQUEST_IO_URING);
    Cqe c[50];
    GMainContext *main;
    gint64 deadline;

    if (!ctx) {
        return;
    }
    main = test_attach(ctx);
    g_assert_true(aio_has_io_uring(ctx)); /* explicit io_uring stays */
    memset(c, 0, sizeof(c));
    for (int i = 0; i < 50; i++) {
        c[i].h.cb = cqe_cb;
        aio_add_sqe(ctx, prep_nop, NULL, &c[i].h);
    }
    /* Submitted by a prepare; a NOP completes at once: aio_pending()
     * sees its CQE on the ring, before anything consumed it. */
    g_assert_true(g_main_context_acquire(main));
    g_main_context_prepare(main, NULL);
    g_main_context_release(main);
    g_assert_true(aio_pending(ctx));
    deadline = test_deadline_ms(TEST_WAIT_MS);
    while (total(c, 50) < 50) {
        test_check_deadline(deadline, "NOPs under GLib");
        g_assert_true(g_main_context_iteration(main, TRUE));
    }
    test_main_drain(main);
    g_assert_cmpint(total(c, 50), ==, 50);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

/* A callback that nests aio_poll() until the other requests completed:
 * the nested call runs them, each once, and the outer dispatch does not
 * run them again. */
static void nest_cb(CqeHandler *h)
{
    Cqe *c = container_of(h, Cqe, h);

    c->count++;
    TEST_POLL_UNTIL(c->ctx, total(c->others, c->n_others) == c->n_others);
}

static void test_nested(void)
{
    AioContext *ctx = uring_ctx(AIO_FDMON_REQUEST_IO_URING);
    Cqe outer = {.h.cb = nest_cb}, others[20];

    if (!ctx) {
        return;
    }
    memset(others, 0, sizeof(others));
    outer.ctx = ctx;
    outer.others = others;
    outer.n_others = 20;
    aio_add_sqe(ctx, prep_nop, NULL, &outer.h);
    for (int i = 0; i < 20; i++) {
        others[i].h.cb = cqe_cb;
        aio_add_sqe(ctx, prep_nop, NULL, &others[i].h);
    }
    TEST_POLL_UNTIL(ctx, outer.count == 1);
    test_drain(ctx);
    g_assert_cmpint(outer.count, ==, 1);
    g_assert_cmpint(total(others, 20), ==, 20);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* The io_uring file engine on the monitor's ring                            */
/* ------------------------------------------------------------------------ */

typedef struct Req {
    int count;
    int ret;
} Req;

static void req_cb(void *opaque, int ret)
{
    Req *r = opaque;

    r->count++;
    r->ret = ret;
}

static int req_total(Req *r, int n)
{
    int sum = 0;

    for (int i = 0; i < n; i++) {
        g_assert_cmpint(r[i].count, <=, 1);
        sum += r[i].count;
    }
    return sum;
}

/* A temp file of @blocks blocks plus @tail bytes, block i filled with
 * i * 3 + 1. */
typedef struct TmpFile {
    char *dir;
    char *path;
    size_t size;
} TmpFile;

static guint8 pattern_at(size_t off)
{
    return (guint8)((off / BLK) * 3 + 1);
}

static void tmp_file_new(TmpFile *t, int blocks, size_t tail)
{
    GError *err = NULL;
    guint8 *data;

    t->size = (size_t)blocks * BLK + tail;
    data = g_malloc(t->size);
    for (size_t i = 0; i < t->size; i++) {
        data[i] = pattern_at(i);
    }
    t->dir = g_dir_make_tmp("uringsqe-XXXXXX", &err);
    g_assert_no_error(err);
    t->path = g_build_filename(t->dir, "data", NULL);
    g_file_set_contents(t->path, (char *)data, t->size, &err);
    g_assert_no_error(err);
    g_free(data);
}

static void tmp_file_free(TmpFile *t)
{
    g_unlink(t->path);
    g_rmdir(t->dir);
    g_free(t->path);
    g_free(t->dir);
}

static AioFile *open_uring(AioContext *ctx, TmpFile *t)
{
    AioFile *f;

    g_assert_cmpint(
        aio_file_open(ctx, t->path, O_RDONLY, 0, AIO_ENGINE_IO_URING, &f), ==,
        0);
    g_assert_cmpint(aio_file_get_engine(f), ==, AIO_ENGINE_IO_URING);
    return f;
}

static LuringStats engine_stats(AioContext *ctx)
{
    LuringStats st;

    luring_get_stats(aio_get_linux_io_uring(ctx), &st);
    return st;
}

/* An fd handler and file reads share the ring: each pipe byte is seen
 * once, each read completes once with its bytes, and the engine used the
 * monitor's ring only. */
typedef struct PipeCount {
    int fd;
    int count;
} PipeCount;

static void pipe_read_cb(void *opaque)
{
    PipeCount *p = opaque;

    p->count += test_read_all(p->fd);
}

static void test_mixed(void)
{
    AioContext *ctx = uring_ctx(AIO_FDMON_REQUEST_IO_URING);
    const int rounds = 200;
    guint8 *buf = g_malloc(BLK);
    PipeCount p = {0};
    int fds[2];
    TmpFile t;
    AioFile *f;
    LuringStats st;

    if (!ctx) {
        g_free(buf);
        return;
    }
    tmp_file_new(&t, 16, 0);
    f = open_uring(ctx, &t);
    test_pipe(fds);
    p.fd = fds[0];
    aio_set_fd_handler(ctx, fds[0], false, pipe_read_cb, NULL, NULL, NULL, &p);
    for (int i = 0; i < rounds; i++) {
        struct iovec iov = {buf, BLK};
        Req r = {0};
        int blk = i % 16;

        memset(buf, 0, BLK);
        test_write_byte(fds[1]);
        aio_file_preadv(f, (int64_t)blk * BLK, &iov, 1, req_cb, &r);
        TEST_POLL_UNTIL(ctx, r.count == 1 && p.count == i + 1);
        g_assert_cmpint(r.ret, ==, BLK);
        g_assert_cmpint(buf[0], ==, pattern_at((size_t)blk * BLK));
        g_assert_cmpint(buf[BLK - 1], ==, pattern_at((size_t)blk * BLK));
    }
    test_drain(ctx);
    g_assert_cmpint(p.count, ==, rounds);
    st = engine_stats(ctx);
    g_assert_true(st.shared_ring);
    g_assert_cmpuint(st.sqes_shared, >=, rounds);
    g_assert_cmpuint(st.sqes_private, ==, 0);
    g_assert_cmpuint(st.in_kernel_shared, ==, 0);
    aio_set_fd_handler(ctx, fds[0], false, NULL, NULL, NULL, NULL, NULL);
    test_close_pair(fds);
    g_assert_cmpint(aio_file_close(f), ==, 0);
    tmp_file_free(&t);
    g_free(buf);
    test_ctx_free(ctx);
}

/* Cancel on the shared ring: reads of an empty pipe stay in the kernel
 * until cancelled, so every ASYNC_CANCEL (which names the request by its
 * tagged user_data) must hit: each completes once with -ECANCELED; one
 * not cancelled completes with the bytes written. */
static void test_cancel(void)
{
    AioContext *ctx = uring_ctx(AIO_FDMON_REQUEST_IO_URING);
    enum {
        N = 16
    };
    guint8 bufs[N + 1][8];
    BlockAIOCB *acbs[N];
    Req r[N + 1];
    LuringState *s;
    GError *err = NULL;
    int fds[2];

    if (!ctx) {
        return;
    }
    memset(r, 0, sizeof(r));
    s = aio_setup_linux_io_uring(ctx, &err);
    g_assert_no_error(err);
    test_pipe(fds);
    for (int i = 0; i < N; i++) {
        struct iovec iov = {bufs[i], 8};

        acbs[i] = luring_submit_aio(s, fds[0], 0, &iov, 1, QEMU_AIO_READ,
                                    req_cb, &r[i]);
    }
    /* Let them reach the kernel and block there. */
    test_drain(ctx);
    g_assert_cmpint(req_total(r, N), ==, 0);
    g_assert_cmpuint(engine_stats(ctx).in_kernel_shared, ==, N);
    for (int i = 0; i < N; i++) {
        aio_cancel_async(acbs[i]);
    }
    g_assert_cmpint(req_total(r, N), ==, 0); /* completions are async */
    TEST_POLL_UNTIL(ctx, req_total(r, N) == N);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(r[i].ret, ==, -ECANCELED);
    }
    /* One not cancelled still gets its data. */
    {
        struct iovec iov = {bufs[N], 8};

        luring_submit_aio(s, fds[0], 0, &iov, 1, QEMU_AIO_READ, req_cb, &r[N]);
        test_drain(ctx);
        g_assert_cmpint(r[N].count, ==, 0);
        /* All 8 bytes: a short read would wait for the rest. */
        g_assert_cmpint(write(fds[1], "abcdefgh", 8), ==, 8);
        TEST_POLL_UNTIL(ctx, r[N].count == 1);
        g_assert_cmpint(r[N].ret, ==, 8);
        g_assert_cmpint(memcmp(bufs[N], "abcdefgh", 8), ==, 0);
    }
    test_drain(ctx);
    g_assert_cmpuint(luring_in_flight(s), ==, 0);
    g_assert_cmpuint(engine_stats(ctx).sqes_private, ==, 0);
    test_close_pair(fds);
    test_ctx_free(ctx);
}

/* While external handlers are paused poll(2) stands in for io_uring; the
 * ring's completions must still end its waits: a pipe read completed by
 * a write from another thread 20 ms later, under aio_poll() and under
 * GLib. */
typedef struct Writer {
    int fd;
} Writer;

static gpointer late_writer(gpointer opaque)
{
    Writer *w = opaque;

    g_usleep(20000);
    /* All 4 bytes: a short read would wait for the rest. */
    g_assert_cmpint(write(w->fd, "wxyz", 4), ==, 4);
    return NULL;
}

static void test_external_disabled(void)
{
    AioContext *ctx = uring_ctx(AIO_FDMON_REQUEST_IO_URING);
    GMainContext *main;
    GError *err = NULL;
    LuringState *s;
    guint8 b[2][4];
    Req r[2];
    int fds[2];

    if (!ctx) {
        return;
    }
    memset(r, 0, sizeof(r));
    s = aio_setup_linux_io_uring(ctx, &err);
    g_assert_no_error(err);
    test_pipe(fds);
    aio_disable_external(ctx);
    for (int round = 0; round < 2; round++) {
        struct iovec iov = {b[round], 4};
        Writer w = {fds[1]};
        GThread *th;

        main = round ? test_attach(ctx) : NULL;
        luring_submit_aio(s, fds[0], 0, &iov, 1, QEMU_AIO_READ, req_cb,
                          &r[round]);
        th = g_thread_new("late-writer", late_writer, &w);
        if (!main) {
            TEST_POLL_UNTIL(ctx, r[round].count == 1);
        } else {
            gint64 deadline = test_deadline_ms(TEST_WAIT_MS);

            while (r[round].count == 0) {
                test_check_deadline(deadline, "pipe read under GLib");
                g_main_context_iteration(main, TRUE);
            }
        }
        g_thread_join(th);
        g_assert_cmpint(r[round].count, ==, 1);
        g_assert_cmpint(r[round].ret, ==, 4);
        g_assert_cmpint(memcmp(b[round], "wxyz", 4), ==, 0);
        if (main) {
            test_main_drain(main);
            test_detach(ctx, main);
        }
    }
    g_assert_true(aio_enable_external(ctx));
    test_drain(ctx);
    g_assert_cmpuint(engine_stats(ctx).sqes_private, ==, 0);
    test_close_pair(fds);
    test_ctx_free(ctx);
}

/* Requests in flight on an auto context's ring when GLib takes the
 * context over (the monitor gives way to ppoll): the stop keeps the ring
 * (retired) while requests are in the kernel, and each completes exactly
 * once with the right bytes, driven by GLib: file reads, a pipe read that
 * only ends when written to after the switch, and one cancelled after
 * the switch (its ASYNC_CANCEL goes to the retired ring).  Requests that
 * need another round (a short read at EOF ends with one more SQE) and
 * every later one use the private ring; the retired ring closes after its
 * last completion. */
static void test_switch(void)
{
    AioContext *ctx = uring_ctx(AIO_FDMON_REQUEST_AUTO);
    const int n = 1000, blocks = 64;
    const size_t tail = 100;
    guint8 *bufs, pb[2][8];
    Req *r, pr[2] = {{0}};
    BlockAIOCB *pacb[2];
    GMainContext *main;
    TmpFile t;
    AioFile *f;
    LuringStats st;
    gint64 deadline;
    int *blk_of;
    int fds[2];

    if (!ctx) {
        return;
    }
    bufs = g_malloc((size_t)(n + 1) * 2 * BLK);
    r = g_new0(Req, n + 1);
    memset(bufs, 0xEE, (size_t)(n + 1) * 2 * BLK);
    tmp_file_new(&t, blocks, tail);
    f = open_uring(ctx, &t);
    blk_of = g_new(int, n);
    for (int i = 0; i < n; i++) {
        /* Two blocks from a random block; those from the last two run
         * into EOF (the last block holds @tail bytes). */
        struct iovec iov = {bufs + (size_t)i * 2 * BLK, 2 * BLK};

        blk_of[i] = g_test_rand_int_range(0, blocks + 1);
        aio_file_preadv(f, (int64_t)blk_of[i] * BLK, &iov, 1, req_cb, &r[i]);
    }
    test_pipe(fds);
    for (int i = 0; i < 2; i++) {
        struct iovec iov = {pb[i], 8};

        pacb[i] = luring_submit_aio(aio_get_linux_io_uring(ctx), fds[0], 0,
                                    &iov, 1, QEMU_AIO_READ, req_cb, &pr[i]);
    }
    st = engine_stats(ctx);
    g_assert_true(st.shared_ring);
    g_assert_cmpuint(st.sqes_shared, ==, n + 2);
    g_assert_cmpuint(st.sqes_private, ==, 0);
    g_assert_cmpint(req_total(r, n), ==, 0);

    main = test_attach(ctx); /* stops io_uring; runs the loop */
    g_assert_false(aio_has_io_uring(ctx));
    g_assert_cmpint(test_stats(ctx).fdmon, !=, AIO_FDMON_IO_URING);
    st = engine_stats(ctx);
    g_assert_false(st.shared_ring);
    /* The pipe reads are still in the kernel, on the retired ring. */
    g_assert_cmpint(req_total(pr, 2), ==, 0);
    g_assert_nonnull(ctx->uring.retired);
    g_assert_null(ctx->uring.ring);

    deadline = test_deadline_ms(TEST_WAIT_MS);
    while (req_total(r, n) < n) {
        test_check_deadline(deadline, "reads across the switch");
        g_main_context_iteration(main, TRUE);
    }
    test_main_drain(main);
    g_assert_cmpuint(engine_stats(ctx).in_kernel_shared, ==, 2);

    /* Cancel one pipe read, write to the pipe for the other. */
    aio_cancel_async(pacb[0]);
    deadline = test_deadline_ms(TEST_WAIT_MS);
    while (pr[0].count == 0) {
        test_check_deadline(deadline, "cancel on the retired ring");
        g_main_context_iteration(main, TRUE);
    }
    g_assert_cmpint(pr[0].ret, ==, -ECANCELED);
    g_assert_cmpint(pr[1].count, ==, 0);
    g_assert_nonnull(ctx->uring.retired);
    g_assert_cmpint(write(fds[1], "retired!", 8), ==, 8);
    while (pr[1].count == 0) {
        test_check_deadline(deadline, "pipe read on the retired ring");
        g_main_context_iteration(main, TRUE);
    }
    g_assert_cmpint(pr[1].ret, ==, 8);
    g_assert_cmpint(memcmp(pb[1], "retired!", 8), ==, 0);
    test_main_drain(main);
    g_assert_cmpint(pr[0].count + pr[1].count, ==, 2);
    g_assert_cmpuint(engine_stats(ctx).in_kernel_shared, ==, 0);
    g_assert_null(ctx->uring.retired); /* closed after the last */
    test_close_pair(fds);

    for (int i = 0; i < n; i++) {
        size_t off = (size_t)blk_of[i] * BLK;
        size_t want = MIN(2 * BLK, t.size - off);
        guint8 *b = bufs + (size_t)i * 2 * BLK;

        g_assert_cmpint(r[i].count, ==, 1);
        g_assert_cmpint(r[i].ret, ==, (int)want);
        for (size_t k = 0; k < 2 * BLK; k += 97) {
            g_assert_cmpint(b[k], ==, k < want ? pattern_at(off + k) : 0);
        }
        g_assert_cmpint(b[want - 1], ==, pattern_at(off + want - 1));
    }

    /* After the switch: the private ring. */
    {
        guint8 *b = bufs + (size_t)n * 2 * BLK;
        struct iovec iov = {b, BLK};
        uint64_t before = engine_stats(ctx).sqes_private;

        aio_file_preadv(f, 3 * BLK, &iov, 1, req_cb, &r[n]);
        deadline = test_deadline_ms(TEST_WAIT_MS);
        while (r[n].count == 0) {
            test_check_deadline(deadline, "read after the switch");
            g_main_context_iteration(main, TRUE);
        }
        g_assert_cmpint(r[n].ret, ==, BLK);
        g_assert_cmpint(b[0], ==, pattern_at(3 * BLK));
        st = engine_stats(ctx);
        g_assert_cmpuint(st.sqes_private, ==, before + 1);
        g_assert_cmpuint(st.sqes_shared, ==, n + 2);
    }
    test_main_drain(main);
    g_assert_cmpint(aio_file_close(f), ==, 0);
    test_detach(ctx, main);
    tmp_file_free(&t);
    g_free(blk_of);
    g_free(r);
    g_free(bufs);
    test_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/uring-sqe/nop", test_nop);
    g_test_add_func("/uring-sqe/many-10000", test_many);
    g_test_add_func("/uring-sqe/gsource", test_gsource);
    g_test_add_func("/uring-sqe/nested", test_nested);
    g_test_add_func("/uring-sqe/file/mixed-fd-handlers", test_mixed);
    g_test_add_func("/uring-sqe/file/cancel", test_cancel);
    g_test_add_func("/uring-sqe/file/external-disabled",
                    test_external_disabled);
    g_test_add_func("/uring-sqe/file/switch-to-glib", test_switch);
    return g_test_run();
}
