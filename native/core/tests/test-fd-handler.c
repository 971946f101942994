/*
 * test-fd-handler.c — fd handlers and event notifiers: registration,
 * replacement, removal while dispatching, read/write/HUP/ERR dispatch,
 * error returns, external handlers, closed descriptors and stats.
 *
 * The /fd-handler/event/… cases follow the expectations of the event
 * notifier cases of QEMU's tests/unit/test-aio.c, driven by aio_poll() and
 * (/fd-handler/gsource/event/…) by a GMainContext.
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

#include <fcntl.h>

/* ------------------------------------------------------------------------ */
/* Event notifiers                                                           */
/* ------------------------------------------------------------------------ */

/* @e comes first: the handler receives &e and casts it back. */
typedef struct {
    EventNotifier e;
    int n;         /* handler calls */
    int active;    /* calls still expected; 0 = none */
    bool auto_set; /* set again from the handler while active */
} EvData;

static void ev_ready_cb(EventNotifier *e)
{
    EvData *d = (EvData *)e;

    g_assert_true(event_notifier_test_and_clear(e));
    d->n++;
    if (d->active > 0) {
        d->active--;
    }
    if (d->auto_set && d->active) {
        event_notifier_set(e);
    }
}

static void ev_init(EvData *d, int active, bool auto_set)
{
    memset(d, 0, sizeof(*d));
    g_assert_cmpint(event_notifier_init(&d->e, false), ==, 0);
    d->active = active;
    d->auto_set = auto_set;
}

static void ev_set_handler(AioContext *ctx, EvData *d,
                           EventNotifierHandler *handler)
{
    g_assert_cmpint(
        aio_set_event_notifier(ctx, &d->e, false, handler, NULL, NULL), ==, 0);
}

static void test_event_add_remove(void)
{
    AioContext *ctx = test_ctx_new();
    EvData d;

    ev_init(&d, 0, false);
    ev_set_handler(ctx, &d, ev_ready_cb);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 0);

    ev_set_handler(ctx, &d, NULL);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 0);

    event_notifier_cleanup(&d.e);
    test_ctx_free(ctx);
}

static void test_event_wait(void)
{
    AioContext *ctx = test_ctx_new();
    EvData d;

    ev_init(&d, 1, false);
    ev_set_handler(ctx, &d, ev_ready_cb);
    test_drain(ctx);
    g_assert_cmpint(d.n, ==, 0);
    g_assert_cmpint(d.active, ==, 1);

    event_notifier_set(&d.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 1);
    g_assert_cmpint(d.active, ==, 0);

    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 1);
    g_assert_cmpint(d.active, ==, 0);

    ev_set_handler(ctx, &d, NULL);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 1);

    event_notifier_cleanup(&d.e);
    test_ctx_free(ctx);
}

static void test_event_flush(void)
{
    AioContext *ctx = test_ctx_new();
    EvData d;

    ev_init(&d, 10, true);
    ev_set_handler(ctx, &d, ev_ready_cb);
    test_drain(ctx);
    g_assert_cmpint(d.n, ==, 0);
    g_assert_cmpint(d.active, ==, 10);

    event_notifier_set(&d.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 1);
    g_assert_cmpint(d.active, ==, 9);
    g_assert_true(aio_poll(ctx, false));

    TEST_POLL_UNTIL(ctx, d.active == 0);
    g_assert_cmpint(d.n, ==, 10);
    g_assert_cmpint(d.active, ==, 0);
    g_assert_false(aio_poll(ctx, false));

    ev_set_handler(ctx, &d, NULL);
    g_assert_false(aio_poll(ctx, false));
    event_notifier_cleanup(&d.e);
    test_ctx_free(ctx);
}

static void test_event_wait_no_flush_cb(void)
{
    AioContext *ctx = test_ctx_new();
    EvData d, dummy;

    ev_init(&d, 0, false);
    ev_set_handler(ctx, &d, ev_ready_cb);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 0);

    /* A set notifier makes a blocking poll return at once, with progress. */
    event_notifier_set(&d.e);
    g_assert_true(aio_poll(ctx, true));
    d.n = 0;

    ev_init(&dummy, 1, false);
    ev_set_handler(ctx, &dummy, ev_ready_cb);

    event_notifier_set(&d.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 1);

    event_notifier_set(&d.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 2);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 2);

    event_notifier_set(&dummy.e);
    TEST_POLL_UNTIL(ctx, dummy.active == 0);
    g_assert_cmpint(d.n, ==, 2);
    g_assert_cmpint(dummy.n, ==, 1);
    g_assert_cmpint(dummy.active, ==, 0);

    ev_set_handler(ctx, &dummy, NULL);
    event_notifier_cleanup(&dummy.e);

    ev_set_handler(ctx, &d, NULL);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.n, ==, 2);

    event_notifier_cleanup(&d.e);
    test_ctx_free(ctx);
}

static void test_event_external(void)
{
    AioContext *ctx = test_ctx_new();

    /* Disabled once, then twice: each level needs its own enable. */
    for (int depth = 1; depth < 3; depth++) {
        EvData d;

        ev_init(&d, 10, true);
        g_assert_cmpint(
            aio_set_event_notifier(ctx, &d.e, true, ev_ready_cb, NULL, NULL),
            ==, 0);
        event_notifier_set(&d.e);
        for (int j = 0; j < depth; j++) {
            aio_disable_external(ctx);
        }
        for (int j = 0; j < depth; j++) {
            g_assert_false(aio_poll(ctx, false));
            g_assert_true(event_notifier_test_and_clear(&d.e));
            event_notifier_set(&d.e);
            g_assert_true(aio_enable_external(ctx));
        }
        g_assert_true(aio_poll(ctx, false));
        g_assert_cmpint(d.n, ==, 1);

        ev_set_handler(ctx, &d, NULL);
        event_notifier_cleanup(&d.e);
    }
    test_ctx_free(ctx);
}

/* The same cases through a GMainContext. */

static void test_gsource_event_add_remove(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    EvData d;

    ev_init(&d, 0, false);
    ev_set_handler(ctx, &d, ev_ready_cb);
    test_main_drain(main);
    g_assert_cmpint(d.n, ==, 0);

    ev_set_handler(ctx, &d, NULL);
    test_main_drain(main);
    g_assert_cmpint(d.n, ==, 0);

    event_notifier_cleanup(&d.e);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_gsource_event_wait(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    EvData d;

    ev_init(&d, 1, false);
    ev_set_handler(ctx, &d, ev_ready_cb);
    test_main_drain(main);
    g_assert_cmpint(d.n, ==, 0);
    g_assert_cmpint(d.active, ==, 1);

    event_notifier_set(&d.e);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(d.n, ==, 1);
    g_assert_cmpint(d.active, ==, 0);

    test_main_drain(main);
    g_assert_cmpint(d.n, ==, 1);
    g_assert_cmpint(d.active, ==, 0);

    ev_set_handler(ctx, &d, NULL);
    test_main_drain(main);
    g_assert_cmpint(d.n, ==, 1);

    event_notifier_cleanup(&d.e);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_gsource_event_flush(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    EvData d;

    ev_init(&d, 10, true);
    ev_set_handler(ctx, &d, ev_ready_cb);
    test_main_drain(main);
    g_assert_cmpint(d.n, ==, 0);
    g_assert_cmpint(d.active, ==, 10);

    event_notifier_set(&d.e);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(d.n, ==, 1);
    g_assert_cmpint(d.active, ==, 9);
    g_assert_true(g_main_context_iteration(main, FALSE));

    test_main_drain(main);
    g_assert_cmpint(d.n, ==, 10);
    g_assert_cmpint(d.active, ==, 0);
    g_assert_false(g_main_context_iteration(main, FALSE));

    ev_set_handler(ctx, &d, NULL);
    test_main_drain(main);
    event_notifier_cleanup(&d.e);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_gsource_event_wait_no_flush_cb(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    EvData d, dummy;

    ev_init(&d, 0, false);
    ev_set_handler(ctx, &d, ev_ready_cb);
    test_main_drain(main);
    g_assert_cmpint(d.n, ==, 0);

    event_notifier_set(&d.e);
    g_main_context_iteration(main, TRUE);
    d.n = 0;

    ev_init(&dummy, 1, false);
    ev_set_handler(ctx, &dummy, ev_ready_cb);

    event_notifier_set(&d.e);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(d.n, ==, 1);
    g_assert_false(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(d.n, ==, 1);

    event_notifier_set(&d.e);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(d.n, ==, 2);
    g_assert_false(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(d.n, ==, 2);

    event_notifier_set(&dummy.e);
    test_main_drain(main);
    g_assert_cmpint(d.n, ==, 2);
    g_assert_cmpint(dummy.n, ==, 1);
    g_assert_cmpint(dummy.active, ==, 0);

    ev_set_handler(ctx, &dummy, NULL);
    event_notifier_cleanup(&dummy.e);

    ev_set_handler(ctx, &d, NULL);
    test_main_drain(main);
    g_assert_cmpint(d.n, ==, 2);

    event_notifier_cleanup(&d.e);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Pipes and sockets                                                         */
/* ------------------------------------------------------------------------ */

typedef struct FdData FdData;
struct FdData {
    AioContext *ctx;
    int fd;
    int reads;
    int writes;
    GString *log;         /* optional: 'R' / 'W' per call */
    bool drain;           /* read cb empties the fd */
    bool remove_in_read;  /* read cb removes this fd's handler */
    bool remove_in_write; /* write cb removes this fd's handler */
    FdData *other;        /* read cb removes other->fd's handler */
};

static void fd_data_init(FdData *d, AioContext *ctx, int fd, GString *log)
{
    memset(d, 0, sizeof(*d));
    d->ctx = ctx;
    d->fd = fd;
    d->log = log;
}

static void fd_read_cb(void *opaque)
{
    FdData *d = opaque;

    d->reads++;
    if (d->log) {
        g_string_append_c(d->log, 'R');
    }
    if (d->drain) {
        test_read_all(d->fd);
    }
    if (d->other) {
        test_remove_fd(d->ctx, d->other->fd);
    }
    if (d->remove_in_read) {
        test_remove_fd(d->ctx, d->fd);
    }
}

static void fd_write_cb(void *opaque)
{
    FdData *d = opaque;

    d->writes++;
    if (d->log) {
        g_string_append_c(d->log, 'W');
    }
    if (d->remove_in_write) {
        test_remove_fd(d->ctx, d->fd);
    }
}

static int set_rw(AioContext *ctx, int fd, bool is_external, bool rd, bool wr,
                  FdData *d)
{
    return aio_set_fd_handler(ctx, fd, is_external, rd ? fd_read_cb : NULL,
                              wr ? fd_write_cb : NULL, NULL, NULL, d);
}

static void test_pipe_read(void)
{
    AioContext *ctx = test_ctx_new();
    FdData d;
    int fds[2];

    test_pipe(fds);
    fd_data_init(&d, ctx, fds[0], NULL);
    d.drain = true;
    g_assert_cmpint(set_rw(ctx, fds[0], false, true, false, &d), ==, 0);

    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.reads, ==, 0);

    test_write_byte(fds[1]);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.reads, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.reads, ==, 1);

    test_remove_fd(ctx, fds[0]);
    test_close_pair(fds);
    test_ctx_free(ctx);
}

static void test_pipe_read_level_triggered(void)
{
    AioContext *ctx = test_ctx_new();
    FdData d;
    int fds[2];

    test_pipe(fds);
    fd_data_init(&d, ctx, fds[0], NULL);
    g_assert_cmpint(set_rw(ctx, fds[0], false, true, false, &d), ==, 0);

    /* Not drained: called on every pass while the byte is there. */
    test_write_byte(fds[1]);
    for (int i = 1; i <= 3; i++) {
        g_assert_true(aio_poll(ctx, false));
        g_assert_cmpint(d.reads, ==, i);
    }
    g_assert_cmpuint(test_read_all(fds[0]), ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.reads, ==, 3);

    test_remove_fd(ctx, fds[0]);
    test_close_pair(fds);
    test_ctx_free(ctx);
}

static void test_pipe_write(void)
{
    AioContext *ctx = test_ctx_new();
    FdData d;
    int fds[2];

    test_pipe(fds);
    fd_data_init(&d, ctx, fds[1], NULL);
    g_assert_cmpint(set_rw(ctx, fds[1], false, false, true, &d), ==, 0);

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.writes, ==, 1);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.writes, ==, 2);
    g_assert_cmpint(d.reads, ==, 0);

    test_remove_fd(ctx, fds[1]);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.writes, ==, 2);

    test_close_pair(fds);
    test_ctx_free(ctx);
}

static void test_read_before_write(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new(NULL);
    FdData d;
    int sv[2];

    test_socketpair(sv);
    fd_data_init(&d, ctx, sv[0], log);
    d.drain = true;
    test_write_byte(sv[1]);
    g_assert_cmpint(set_rw(ctx, sv[0], false, true, true, &d), ==, 0);

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "RW");

    test_remove_fd(ctx, sv[0]);
    test_close_pair(sv);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

static void test_write_skipped_when_read_removes(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new(NULL);
    FdData d;
    int sv[2];

    test_socketpair(sv);
    fd_data_init(&d, ctx, sv[0], log);
    d.remove_in_read = true;
    test_write_byte(sv[1]);
    g_assert_cmpint(set_rw(ctx, sv[0], false, true, true, &d), ==, 0);

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "R");
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);

    /* Still readable and writable, but nobody is registered. */
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "R");

    test_close_pair(sv);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

static void test_replace(void)
{
    AioContext *ctx = test_ctx_new();
    FdData a, b;
    int fds[2];

    test_pipe(fds);
    fd_data_init(&a, ctx, fds[0], NULL);
    fd_data_init(&b, ctx, fds[0], NULL);
    a.drain = b.drain = true;
    g_assert_cmpint(set_rw(ctx, fds[0], false, true, false, &a), ==, 0);
    g_assert_cmpint(set_rw(ctx, fds[0], false, true, false, &b), ==, 0);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 1);

    test_write_byte(fds[1]);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(a.reads, ==, 0);
    g_assert_cmpint(b.reads, ==, 1);

    test_remove_fd(ctx, fds[0]);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);
    test_close_pair(fds);
    test_ctx_free(ctx);
}

/* Replaces its own read+write handler by a read-only one for @next. */
typedef struct {
    FdData d;
    FdData *next;
} Replacer;

static void replacer_read_cb(void *opaque)
{
    Replacer *r = opaque;

    r->d.reads++;
    g_string_append_c(r->d.log, 'r');
    g_assert_cmpint(aio_set_fd_handler(r->d.ctx, r->d.fd, false, fd_read_cb,
                                       NULL, NULL, NULL, r->next),
                    ==, 0);
}

static void test_replace_from_own_cb(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new(NULL);
    Replacer r;
    FdData next;
    int sv[2];

    test_socketpair(sv);
    fd_data_init(&r.d, ctx, sv[0], log);
    fd_data_init(&next, ctx, sv[0], log);
    next.drain = true;
    r.next = &next;
    test_write_byte(sv[1]);
    g_assert_cmpint(aio_set_fd_handler(ctx, sv[0], false, replacer_read_cb,
                                       fd_write_cb, NULL, NULL, &r),
                    ==, 0);

    /* The old handler's write callback is never called once replaced,
     * not even in the pass that replaced it. */
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "r");
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 1);

    /* The byte is still there: the new handler reads it. */
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "rR");
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(r.d.writes, ==, 0);

    test_remove_fd(ctx, sv[0]);
    test_close_pair(sv);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

static void test_remove_from_own_cb(void)
{
    AioContext *ctx = test_ctx_new();
    FdData d;
    int fds[2];

    test_pipe(fds);
    fd_data_init(&d, ctx, fds[0], NULL);
    d.remove_in_read = true; /* and never drains */
    g_assert_cmpint(set_rw(ctx, fds[0], false, true, false, &d), ==, 0);

    test_write_byte(fds[1]);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.reads, ==, 1);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);
    g_assert_false(aio_poll(ctx, false));
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.reads, ==, 1);

    test_close_pair(fds);
    test_ctx_free(ctx);
}

static void test_remove_other_while_walking(void)
{
    AioContext *ctx = test_ctx_new();
    FdData a, b;
    int pa[2], pb[2];

    test_pipe(pa);
    test_pipe(pb);
    fd_data_init(&a, ctx, pa[0], NULL);
    fd_data_init(&b, ctx, pb[0], NULL);
    a.other = &b;
    b.other = &a;
    a.drain = b.drain = true;
    g_assert_cmpint(set_rw(ctx, pa[0], false, true, false, &a), ==, 0);
    g_assert_cmpint(set_rw(ctx, pb[0], false, true, false, &b), ==, 0);

    /* Both ready in the same pass; the dispatch order is not specified,
     * but whichever runs first removes the other, which must then not be
     * called although its fd was ready. */
    test_write_byte(pa[1]);
    test_write_byte(pb[1]);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(a.reads + b.reads, ==, 1);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 1);

    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(a.reads + b.reads, ==, 1);

    test_remove_fd(ctx, pa[0]);
    test_remove_fd(ctx, pb[0]);
    test_close_pair(pa);
    test_close_pair(pb);
    test_ctx_free(ctx);
}

static void test_remove_unregistered(void)
{
    AioContext *ctx = test_ctx_new();
    int fds[2];

    test_pipe(fds);
    test_remove_fd(ctx, fds[0]);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);
    g_assert_false(aio_poll(ctx, false));

    test_close_pair(fds);
    test_ctx_free(ctx);
}

static void test_ebadf(void)
{
    AioContext *ctx = test_ctx_new();
    FdData d, other;
    int fds[2], live[2];
    int closed;

    test_pipe(live);
    fd_data_init(&other, ctx, live[0], NULL);
    g_assert_cmpint(set_rw(ctx, live[0], false, true, false, &other), ==, 0);

    test_pipe(fds);
    closed = fds[0];
    test_close_pair(fds);
    g_assert_cmpint(fcntl(closed, F_GETFD), ==, -1);
    fd_data_init(&d, ctx, closed, NULL);
    g_assert_cmpint(set_rw(ctx, closed, false, true, false, &d), ==, -EBADF);
    g_assert_cmpint(set_rw(ctx, closed, false, false, true, &d), ==, -EBADF);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.reads + d.writes, ==, 0);

    test_remove_fd(ctx, live[0]);
    test_close_pair(live);
    test_ctx_free(ctx);
}

static void test_einval(void)
{
    AioContext *ctx = test_ctx_new();
    FdData d;

    fd_data_init(&d, ctx, -1, NULL);
    g_assert_cmpint(set_rw(ctx, -1, false, true, false, &d), ==, -EINVAL);
    g_assert_cmpint(set_rw(ctx, -42, false, false, true, &d), ==, -EINVAL);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.reads + d.writes, ==, 0);

    test_ctx_free(ctx);
}

static void test_hup_calls_read(void)
{
    AioContext *ctx = test_ctx_new();
    FdData d;
    int fds[2];

    test_pipe(fds);
    fd_data_init(&d, ctx, fds[0], NULL);
    d.drain = true;
    d.remove_in_read = true; /* at EOF there is nothing else to do */
    g_assert_cmpint(set_rw(ctx, fds[0], false, true, false, &d), ==, 0);
    g_assert_false(aio_poll(ctx, false));

    /* Closing the write end gives the read end POLLHUP, no POLLIN. */
    close(fds[1]);
    fds[1] = -1;
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.reads, ==, 1);
    g_assert_cmpint(d.writes, ==, 0);
    g_assert_false(aio_poll(ctx, false));

    test_close_pair(fds);
    test_ctx_free(ctx);
}

static void test_err_calls_read_and_write(void)
{
    AioContext *ctx = test_ctx_new();
    GString *log = g_string_new(NULL);
    FdData d;
    int fds[2];

    test_pipe(fds);
    fd_data_init(&d, ctx, fds[1], log);
    d.remove_in_write = true;
    /* A pipe's write end with no reader polls as POLLERR (and POLLOUT):
     * ERR is in both masks, so both callbacks run, read first. */
    close(fds[0]);
    fds[0] = -1;
    g_assert_cmpint(set_rw(ctx, fds[1], false, true, true, &d), ==, 0);

    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "RW");
    g_assert_false(aio_poll(ctx, false));

    test_close_pair(fds);
    g_string_free(log, TRUE);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* External handlers                                                         */
/* ------------------------------------------------------------------------ */

static void test_external_counted(void)
{
    AioContext *ctx = test_ctx_new();

    g_assert_false(aio_external_disabled(ctx));
    g_assert_false(aio_enable_external(ctx));
    g_assert_false(aio_external_disabled(ctx));

    aio_disable_external(ctx);
    aio_disable_external(ctx);
    g_assert_true(aio_external_disabled(ctx));
    g_assert_true(aio_enable_external(ctx));
    g_assert_true(aio_external_disabled(ctx));
    g_assert_true(aio_enable_external(ctx));
    g_assert_false(aio_external_disabled(ctx));
    g_assert_false(aio_enable_external(ctx));
    g_assert_false(aio_external_disabled(ctx));

    /* A failed enable must not have made the count negative. */
    aio_disable_external(ctx);
    g_assert_true(aio_external_disabled(ctx));
    g_assert_true(aio_enable_external(ctx));
    g_assert_false(aio_external_disabled(ctx));

    test_ctx_free(ctx);
}

static void test_external_pipe_paused(void)
{
    AioContext *ctx = test_ctx_new();
    FdData ext, internal;
    int pe[2], pi[2];

    test_pipe(pe);
    test_pipe(pi);
    fd_data_init(&ext, ctx, pe[0], NULL);
    fd_data_init(&internal, ctx, pi[0], NULL);
    ext.drain = internal.drain = true;
    g_assert_cmpint(set_rw(ctx, pe[0], true, true, false, &ext), ==, 0);
    g_assert_cmpint(set_rw(ctx, pi[0], false, true, false, &internal), ==, 0);

    aio_disable_external(ctx);
    test_write_byte(pe[1]);
    test_write_byte(pi[1]);
    /* Only the non-external handler runs. */
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(ext.reads, ==, 0);
    g_assert_cmpint(internal.reads, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(ext.reads, ==, 0);

    g_assert_true(aio_enable_external(ctx));
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(ext.reads, ==, 1);
    g_assert_false(aio_poll(ctx, false));

    test_remove_fd(ctx, pe[0]);
    test_remove_fd(ctx, pi[0]);
    test_close_pair(pe);
    test_close_pair(pi);
    test_ctx_free(ctx);
}

/* A non-external fd keeps being dispatched while external handlers are
 * paused: once per byte when each call reads one (issue #13, defect 2:
 * io_uring dispatched it once, then never again). */
static void read_one_cb(void *opaque)
{
    FdData *d = opaque;
    char c;

    d->reads++;
    g_assert_cmpint(read(d->fd, &c, 1), ==, 1);
}

static void test_external_paused_others_keep_firing(void)
{
    AioContext *ctx = test_ctx_new();
    FdData d;
    int p[2];

    test_pipe(p);
    fd_data_init(&d, ctx, p[0], NULL);
    g_assert_cmpint(
        aio_set_fd_handler(ctx, p[0], false, read_one_cb, NULL, NULL, NULL, &d),
        ==, 0);
    g_assert_false(aio_poll(ctx, false));
    aio_disable_external(ctx);
    g_assert_cmpint(write(p[1], "abc", 3), ==, 3);
    for (int i = 0; i < 5; i++) {
        aio_poll(ctx, false);
    }
    g_assert_cmpint(d.reads, ==, 3);
    for (int i = 0; i < 50; i++) {
        test_write_byte(p[1]);
        g_assert_true(aio_poll(ctx, false));
        g_assert_cmpint(d.reads, ==, 4 + i);
    }
    g_assert_false(aio_poll(ctx, false));
    g_assert_true(aio_enable_external(ctx));
    g_assert_false(aio_poll(ctx, false));
    test_write_byte(p[1]);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.reads, ==, 54);

    test_remove_fd(ctx, p[0]);
    test_close_pair(p);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Closed descriptors, stats, poll hooks                                     */
/* ------------------------------------------------------------------------ */

static void fired_cb(void *opaque)
{
    (*(int *)opaque)++;
}

/*
 * Closing an fd that is still registered is the user's bug, and what the
 * kernel then reports differs per back end: ppoll says POLLNVAL (the core
 * stops polling the fd), epoll silently drops a closed file from its set,
 * an io_uring POLL_ADD already in flight keeps the file open (it completes
 * only if the file becomes ready, e.g. POLLHUP once the peer is closed;
 * the re-armed POLL_ADD then fails with EBADF).  The rule that holds for
 * every back end is only: the loop does not spin and does not call the
 * callback forever.  So over CLOSED_POLLS non-blocking polls the callbacks
 * are counted: at most one (the io_uring HUP), none in the second half,
 * where every poll also returns false; and a blocking poll still blocks
 * until a timer.
 */
#define CLOSED_POLLS 20

typedef struct {
    bool armed_first; /* poll once (arming the back end) before close */
    bool close_peer;  /* close the write end too (a pending HUP) */
} ClosedCase;

static const ClosedCase closed_before_poll = {false, false};
static const ClosedCase closed_after_armed = {true, false};
static const ClosedCase closed_after_armed_hup = {true, true};

static void test_closed_fd_no_spin(gconstpointer data)
{
    const ClosedCase *c = data;
    AioContext *ctx = test_ctx_new();
    FdData d;
    QEMUTimer *t;
    int fired = 0;
    int polls = 0;
    int late_progress = 0;
    int late_calls;
    int fds[2];

    test_pipe(fds);
    fd_data_init(&d, ctx, fds[0], NULL);
    g_assert_cmpint(set_rw(ctx, fds[0], false, true, true, &d), ==, 0);
    if (c->armed_first) {
        g_assert_false(aio_poll(ctx, false));
    }
    close(fds[0]);
    fds[0] = -1;
    if (c->close_peer) {
        close(fds[1]);
        fds[1] = -1;
    }

    for (int i = 0; i < CLOSED_POLLS / 2; i++) {
        aio_poll(ctx, false);
    }
    late_calls = d.reads + d.writes;
    for (int i = 0; i < CLOSED_POLLS / 2; i++) {
        late_progress += aio_poll(ctx, false);
    }
    g_test_message("%d callbacks in the first %d polls", late_calls,
                   CLOSED_POLLS / 2);
    g_assert_cmpint(late_calls, <=, 1);
    g_assert_cmpint(d.writes, ==, 0); /* a pipe's read end: no OUT */
    g_assert_cmpint(d.reads + d.writes, ==, late_calls);
    g_assert_cmpint(late_progress, ==, 0);

    /* A blocking wait must still block (until this timer), not return at
     * once on every call. */
    t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, fired_cb, &fired);
    timer_mod(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) / SCALE_MS + 30);
    while (!fired) {
        aio_poll(ctx, true);
        polls++;
        g_assert_cmpint(polls, <, 100);
    }
    g_test_message("%d blocking polls until the timer fired", polls);
    g_assert_cmpint(d.reads + d.writes, ==, late_calls);
    timer_free(t);

    /* The handler is still registered: finalization releases it. */
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 1);
    test_ctx_unref_last(ctx);
    test_close_pair(fds);
}

/* The same through a GMainContext: the dispatching iterations are
 * bounded, and a blocking iteration still waits for a timer. */
static void test_gsource_closed_fd_no_spin(gconstpointer data)
{
    const ClosedCase *c = data;
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    FdData d;
    QEMUTimer *t;
    int fired = 0;
    int iterations = 0;
    int late_dispatches = 0;
    int late_calls;
    int fds[2];

    test_pipe(fds);
    fd_data_init(&d, ctx, fds[0], NULL);
    g_assert_cmpint(set_rw(ctx, fds[0], false, true, true, &d), ==, 0);
    if (c->armed_first) {
        test_main_drain(main);
    }
    close(fds[0]);
    fds[0] = -1;
    if (c->close_peer) {
        close(fds[1]);
        fds[1] = -1;
    }

    for (int i = 0; i < CLOSED_POLLS / 2; i++) {
        g_main_context_iteration(main, FALSE);
    }
    late_calls = d.reads + d.writes;
    for (int i = 0; i < CLOSED_POLLS / 2; i++) {
        late_dispatches += g_main_context_iteration(main, FALSE);
    }
    g_assert_cmpint(late_calls, <=, 1);
    g_assert_cmpint(d.reads + d.writes, ==, late_calls);
    g_assert_cmpint(late_dispatches, ==, 0);

    t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, fired_cb, &fired);
    timer_mod(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) / SCALE_MS + 30);
    while (!fired) {
        g_main_context_iteration(main, TRUE);
        iterations++;
        g_assert_cmpint(iterations, <, 100);
    }
    g_assert_cmpint(d.reads + d.writes, ==, late_calls);
    timer_free(t);

    g_assert_cmpuint(test_stats(ctx).handlers, ==, 1);
    test_detach(ctx, main);
    test_ctx_unref_last(ctx);
    test_close_pair(fds);
}

static void test_stats_handlers(void)
{
    AioContext *ctx = test_ctx_new();
    FdData a, b;
    EvData e;
    int pa[2], pb[2];

    /* The context's own notifier is not counted. */
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);

    test_pipe(pa);
    test_pipe(pb);
    fd_data_init(&a, ctx, pa[0], NULL);
    fd_data_init(&b, ctx, pb[1], NULL);
    g_assert_cmpint(set_rw(ctx, pa[0], false, true, false, &a), ==, 0);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 1);
    g_assert_cmpint(set_rw(ctx, pb[1], false, false, true, &b), ==, 0);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 2);
    /* Replacing keeps the count. */
    g_assert_cmpint(set_rw(ctx, pa[0], false, true, true, &a), ==, 0);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 2);

    ev_init(&e, 0, false);
    ev_set_handler(ctx, &e, ev_ready_cb);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 3);
    ev_set_handler(ctx, &e, NULL);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 2);
    event_notifier_cleanup(&e.e);

    test_remove_fd(ctx, pb[1]);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 1);
    /* Removing twice changes nothing. */
    test_remove_fd(ctx, pb[1]);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 1);
    test_remove_fd(ctx, pa[0]);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);

    test_drain(ctx);
    test_close_pair(pa);
    test_close_pair(pb);
    test_ctx_free(ctx);
}

static bool never_poll(void *opaque)
{
    (void)opaque;
    return false;
}

static void noop_io(void *opaque)
{
    (void)opaque;
}

static void noop_ev(EventNotifier *e)
{
    (void)e;
}

static void test_set_fd_poll(void)
{
    AioContext *ctx = test_ctx_new();
    EvData e;
    int fds[2];

    test_pipe(fds);
    g_assert_cmpint(aio_set_fd_poll(ctx, fds[0], noop_io, noop_io), ==,
                    -ENOENT);
    g_assert_cmpint(aio_set_fd_handler(ctx, fds[0], false, noop_io, NULL,
                                       never_poll, noop_io, NULL),
                    ==, 0);
    g_assert_cmpint(aio_set_fd_poll(ctx, fds[0], noop_io, noop_io), ==, 0);
    g_assert_false(aio_poll(ctx, false));

    ev_init(&e, 0, false);
    g_assert_cmpint(aio_set_event_notifier_poll(ctx, &e.e, noop_ev, noop_ev),
                    ==, -ENOENT);
    ev_set_handler(ctx, &e, ev_ready_cb);
    g_assert_cmpint(aio_set_event_notifier_poll(ctx, &e.e, noop_ev, noop_ev),
                    ==, 0);

    ev_set_handler(ctx, &e, NULL);
    event_notifier_cleanup(&e.e);
    test_remove_fd(ctx, fds[0]);
    test_close_pair(fds);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* Wake-ups and GSource dispatch                                             */
/* ------------------------------------------------------------------------ */

typedef struct {
    int fd;
    TestFlag started;
} LateWriter;

static gpointer late_writer(gpointer opaque)
{
    LateWriter *w = opaque;

    /* Give the home thread a chance to block first; correctness does not
     * depend on it. */
    test_flag_set(&w->started, 1);
    g_usleep(20 * 1000);
    test_write_byte(w->fd);
    return NULL;
}

static void test_blocking_poll_woken_by_fd(void)
{
    AioContext *ctx = test_ctx_new();
    LateWriter w;
    FdData d;
    GThread *thread;
    int fds[2];

    test_pipe(fds);
    fd_data_init(&d, ctx, fds[0], NULL);
    d.drain = true;
    g_assert_cmpint(set_rw(ctx, fds[0], false, true, false, &d), ==, 0);
    test_drain(ctx);

    w.fd = fds[1];
    test_flag_init(&w.started);
    thread = g_thread_new("late-writer", late_writer, &w);
    g_assert_true(test_flag_wait(&w.started, 1, TEST_WAIT_MS));
    TEST_POLL_UNTIL(ctx, d.reads > 0);
    g_assert_cmpint(d.reads, ==, 1);
    g_thread_join(thread);
    test_flag_clear(&w.started);

    test_remove_fd(ctx, fds[0]);
    test_close_pair(fds);
    test_ctx_free(ctx);
}

static void test_gsource_pipe_read(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    FdData d;
    int fds[2];

    test_pipe(fds);
    fd_data_init(&d, ctx, fds[0], NULL);
    d.drain = true;
    g_assert_cmpint(set_rw(ctx, fds[0], false, true, false, &d), ==, 0);
    test_main_drain(main);
    g_assert_cmpint(d.reads, ==, 0);

    test_write_byte(fds[1]);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(d.reads, ==, 1);
    test_main_drain(main);
    g_assert_cmpint(d.reads, ==, 1);

    /* Added while attached, removed while attached: the GLib poll set
     * follows. */
    test_remove_fd(ctx, fds[0]);
    test_write_byte(fds[1]);
    test_main_drain(main);
    g_assert_cmpint(d.reads, ==, 1);

    test_close_pair(fds);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

static void test_gsource_remove_from_own_cb(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    FdData d;
    int fds[2];

    test_pipe(fds);
    fd_data_init(&d, ctx, fds[0], NULL);
    d.remove_in_read = true;
    g_assert_cmpint(set_rw(ctx, fds[0], false, true, false, &d), ==, 0);

    test_write_byte(fds[1]);
    g_assert_true(g_main_context_iteration(main, FALSE));
    test_main_drain(main);
    g_assert_cmpint(d.reads, ==, 1);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);

    test_close_pair(fds);
    test_detach(ctx, main);
    test_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/fd-handler/event/add-remove", test_event_add_remove);
    g_test_add_func("/fd-handler/event/wait", test_event_wait);
    g_test_add_func("/fd-handler/event/wait/no-flush-cb",
                    test_event_wait_no_flush_cb);
    g_test_add_func("/fd-handler/event/flush", test_event_flush);
    g_test_add_func("/fd-handler/event/external", test_event_external);

    g_test_add_func("/fd-handler/gsource/event/add-remove",
                    test_gsource_event_add_remove);
    g_test_add_func("/fd-handler/gsource/event/wait", test_gsource_event_wait);
    g_test_add_func("/fd-handler/gsource/event/wait/no-flush-cb",
                    test_gsource_event_wait_no_flush_cb);
    g_test_add_func("/fd-handler/gsource/event/flush",
                    test_gsource_event_flush);
    g_test_add_func("/fd-handler/gsource/pipe-read", test_gsource_pipe_read);
    g_test_add_func("/fd-handler/gsource/remove-from-own-cb",
                    test_gsource_remove_from_own_cb);

    g_test_add_func("/fd-handler/pipe/read", test_pipe_read);
    g_test_add_func("/fd-handler/pipe/read-level-triggered",
                    test_pipe_read_level_triggered);
    g_test_add_func("/fd-handler/pipe/write", test_pipe_write);
    g_test_add_func("/fd-handler/read-before-write", test_read_before_write);
    g_test_add_func("/fd-handler/write-skipped-when-read-removes",
                    test_write_skipped_when_read_removes);
    g_test_add_func("/fd-handler/replace", test_replace);
    g_test_add_func("/fd-handler/replace-from-own-cb",
                    test_replace_from_own_cb);
    g_test_add_func("/fd-handler/remove-from-own-cb", test_remove_from_own_cb);
    g_test_add_func("/fd-handler/remove-other-while-walking",
                    test_remove_other_while_walking);
    g_test_add_func("/fd-handler/remove-unregistered",
                    test_remove_unregistered);
    g_test_add_func("/fd-handler/ebadf", test_ebadf);
    g_test_add_func("/fd-handler/einval", test_einval);
    g_test_add_func("/fd-handler/hup-calls-read", test_hup_calls_read);
    g_test_add_func("/fd-handler/err-calls-read-and-write",
                    test_err_calls_read_and_write);

    g_test_add_func("/fd-handler/external/counted", test_external_counted);
    g_test_add_func("/fd-handler/external/others-keep-firing",
                    test_external_paused_others_keep_firing);
    g_test_add_func("/fd-handler/external/pipe-paused",
                    test_external_pipe_paused);

    g_test_add_data_func("/fd-handler/closed-fd/before-poll",
                         &closed_before_poll, test_closed_fd_no_spin);
    g_test_add_data_func("/fd-handler/closed-fd/after-armed",
                         &closed_after_armed, test_closed_fd_no_spin);
    g_test_add_data_func("/fd-handler/closed-fd/after-armed-peer-closed",
                         &closed_after_armed_hup, test_closed_fd_no_spin);
    g_test_add_data_func("/fd-handler/gsource/closed-fd/before-poll",
                         &closed_before_poll, test_gsource_closed_fd_no_spin);
    g_test_add_data_func("/fd-handler/gsource/closed-fd/after-armed",
                         &closed_after_armed, test_gsource_closed_fd_no_spin);
    g_test_add_data_func(
        "/fd-handler/gsource/closed-fd/after-armed-peer-closed",
        &closed_after_armed_hup, test_gsource_closed_fd_no_spin);
    g_test_add_func("/fd-handler/stats-handlers", test_stats_handlers);
    g_test_add_func("/fd-handler/set-fd-poll", test_set_fd_poll);
    g_test_add_func("/fd-handler/blocking-poll-woken-by-fd",
                    test_blocking_poll_woken_by_fd);

    return g_test_run();
}
