/*
 * test-util.h — helpers shared by the core's g_test programs.
 *
 * Every test creates its own context with test_ctx_new() and ends with
 * test_ctx_free(), which fails the test if the context still has fd
 * handlers or timers, if dropping the reference did not finalize it, or if
 * finalization reported a leaked BH.  Waits loop against a monotonic
 * deadline (TEST_WAIT_MS) instead of sleeping for a fixed time.
 *
 * Everything here is static inline so that each test program can use any
 * subset without unused-function warnings.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_TEST_UTIL_H
#define AIOCONTEXT_TEST_UTIL_H

/* pipe2/socketpair flags and friends, whatever -std the build uses.  This
 * header is included first by every test. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "aio.h"

#include <errno.h>
#include <glib.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* How long any wait for something that should happen "soon" may last.
 * Generous, so that sanitizer builds on a loaded machine still pass; a
 * correct core meets it in microseconds. */
#define TEST_WAIT_MS 10000

/* ------------------------------------------------------------------------ */
/* Leak accounting                                                           */
/* ------------------------------------------------------------------------ */

/* Names of the BHs reported leaked since the last test_ctx_free(), comma
 * separated.  Home thread of the context being finalized only. */
static inline GString *test_leaks(void)
{
    static GString *leaks;

    if (!leaks) {
        leaks = g_string_new(NULL);
    }
    return leaks;
}

/* The leak handler test_ctx_new() installs: records the name. */
static inline void test_leak_record(const char *name, void *opaque)
{
    GString *leaks = test_leaks();

    (void)opaque;
    if (leaks->len) {
        g_string_append_c(leaks, ',');
    }
    g_string_append(leaks, name);
}

/* ------------------------------------------------------------------------ */
/* Contexts                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * The fd monitor every context of a test program uses comes from the
 * environment, so that meson runs the same program once per back end:
 * AIOCONTEXT_FDMON = auto (the default, also when unset or empty) | poll |
 * epoll | io_uring.  Anything else fails the program: a typo must not
 * silently test auto.  With AIOCONTEXT_IO_URING=0 too, auto is what it is
 * where io_uring is missing: ppoll, then epoll from 64 fds.
 */
static inline AioFdMonRequest test_fdmon_request(void)
{
    const char *v = g_getenv("AIOCONTEXT_FDMON");

    if (!v || !*v || g_str_equal(v, "auto")) {
        return AIO_FDMON_REQUEST_AUTO;
    }
    if (g_str_equal(v, "poll")) {
        return AIO_FDMON_REQUEST_POLL;
    }
    if (g_str_equal(v, "epoll")) {
        return AIO_FDMON_REQUEST_EPOLL;
    }
    if (g_str_equal(v, "io_uring")) {
        return AIO_FDMON_REQUEST_IO_URING;
    }
    g_error("AIOCONTEXT_FDMON=%s: expected auto, poll, epoll or io_uring", v);
    return AIO_FDMON_REQUEST_AUTO;
}

/* Returns: the request's name, as AIOCONTEXT_FDMON spells it. */
static inline const char *test_fdmon_request_name(AioFdMonRequest req)
{
    switch (req) {
    case AIO_FDMON_REQUEST_POLL: return "poll";
    case AIO_FDMON_REQUEST_EPOLL: return "epoll";
    case AIO_FDMON_REQUEST_IO_URING: return "io_uring";
    case AIO_FDMON_REQUEST_AUTO:
    default: return "auto";
    }
}

/* What an auto context says when AIOCONTEXT_IO_URING=0 turned io_uring off:
 * expected there, not a fallback. */
#define TEST_IO_URING_OFF_REASON "io_uring turned off by AIOCONTEXT_IO_URING=0"

/* Returns: whether auto tries io_uring (AIOCONTEXT_IO_URING is not "0";
 * meson's auto-no-io_uring runs set it). */
static inline bool test_auto_tries_io_uring(void)
{
    return g_strcmp0(g_getenv("AIOCONTEXT_IO_URING"), "0") != 0;
}

/* Returns: the monitor a fresh context made for @req must be using (auto
 * is io_uring, or else starts on poll and only moves to epoll once a wait
 * has 64 fds). */
static inline AioFdMonKind test_fdmon_expected(AioFdMonRequest req)
{
    switch (req) {
    case AIO_FDMON_REQUEST_EPOLL: return AIO_FDMON_EPOLL;
    case AIO_FDMON_REQUEST_IO_URING: return AIO_FDMON_IO_URING;
    case AIO_FDMON_REQUEST_AUTO:
        return test_auto_tries_io_uring() ? AIO_FDMON_IO_URING : AIO_FDMON_POLL;
    case AIO_FDMON_REQUEST_POLL:
    default: return AIO_FDMON_POLL;
    }
}

/*
 * Creates a context named @name (NULL: "test") with fd monitor @req, whose
 * leak handler records leaks for test_ctx_free() to check, and asserts that
 * @req is really in use.
 *
 * If io_uring was asked for (or auto tried it) but could not be set up
 * (fdmon_fallback_reason set: no liburing at build time, or a
 * kernel/seccomp that refuses io_uring_setup), the test is marked skipped
 * with the reason and goes on with the fallback context, where every
 * generic test also holds; tests that only make sense on io_uring check
 * test_ctx_fell_back() and return.  Any other fallback fails: epoll always
 * exists on Linux.
 */
static inline AioContext *test_ctx_new_full(const char *name,
                                            AioFdMonRequest req)
{
    GError *err = NULL;
    AioContext *ctx = aio_context_new_full(name ? name : "test", req, &err);
    AioContextStats st;

    g_assert_no_error(err);
    g_assert_nonnull(ctx);
    aio_context_set_leak_handler(ctx, test_leak_record, NULL);

    memset(&st, 0, sizeof(st));
    aio_context_get_stats(ctx, &st);
    if (req == AIO_FDMON_REQUEST_AUTO && !test_auto_tries_io_uring()) {
        g_assert_cmpstr(st.fdmon_fallback_reason, ==, TEST_IO_URING_OFF_REASON);
        g_assert_cmpint(st.fdmon, ==, AIO_FDMON_POLL);
        return ctx;
    }
    if (test_fdmon_expected(req) == AIO_FDMON_IO_URING &&
        st.fdmon_fallback_reason) {
        char *why = g_strdup_printf("io_uring is not available: %s",
                                    st.fdmon_fallback_reason);

        g_test_skip(why);
        g_free(why);
        g_assert_cmpint(st.fdmon, ==, AIO_FDMON_POLL);
        return ctx;
    }
    if (st.fdmon_fallback_reason) {
        g_test_message("fdmon %s fell back: %s", test_fdmon_request_name(req),
                       st.fdmon_fallback_reason);
    }
    g_assert_null(st.fdmon_fallback_reason);
    g_assert_cmpstr(aio_fdmon_name(st.fdmon), ==,
                    aio_fdmon_name(test_fdmon_expected(req)));
    return ctx;
}

/* Returns: whether @ctx is not using the monitor it was created for (only
 * possible for io_uring; the test has been marked skipped). */
static inline bool test_ctx_fell_back(AioContext *ctx)
{
    AioContextStats st;

    memset(&st, 0, sizeof(st));
    aio_context_get_stats(ctx, &st);
    return st.fdmon_fallback_reason != NULL &&
           !g_str_equal(st.fdmon_fallback_reason, TEST_IO_URING_OFF_REASON);
}

/* Creates a context on the back end named by AIOCONTEXT_FDMON. */
static inline AioContext *test_ctx_new_named(const char *name)
{
    return test_ctx_new_full(name, test_fdmon_request());
}

static inline AioContext *test_ctx_new(void)
{
    return test_ctx_new_named(NULL);
}

static inline void test_never_called(void *opaque)
{
    (void)opaque;
    g_assert_not_reached();
}

static inline void test_set_flag(void *opaque)
{
    *(gboolean *)opaque = TRUE;
}

/*
 * Drops what must be the last reference to @ctx and checks that the context
 * was finalized (a deleted canary BH gets its destroy notify only then) and
 * that it reported no leaked BH.  Does not look at handlers or timers: for
 * tests that deliberately leave some for finalization to release.
 */
static inline void test_ctx_unref_last(AioContext *ctx)
{
    gboolean finalized = FALSE;
    QEMUBH *canary;

    g_string_truncate(test_leaks(), 0);
    canary = aio_bh_new_full(ctx, test_never_called, &finalized, "test-canary",
                             test_set_flag);
    qemu_bh_delete(canary);
    aio_context_unref(ctx);
    if (!finalized) {
        g_test_message("the context was not finalized: a reference "
                       "(an attached GSource?) is still held");
    }
    g_assert_true(finalized);
    g_assert_cmpstr(test_leaks()->str, ==, "");
}

/* Ends a test: no fd handler or timer may be left, then as above. */
static inline void test_ctx_free(AioContext *ctx)
{
    AioContextStats st;

    aio_context_get_stats(ctx, &st);
    g_assert_cmpuint(st.handlers, ==, 0);
    g_assert_cmpuint(st.timers, ==, 0);
    test_ctx_unref_last(ctx);
}

/* Returns: a snapshot of @ctx's stats. */
static inline AioContextStats test_stats(AioContext *ctx)
{
    AioContextStats st;

    memset(&st, 0, sizeof(st));
    aio_context_get_stats(ctx, &st);
    return st;
}

/* Runs non-blocking iterations until one makes no progress.  Returns how
 * many made progress; fails if that looks endless. */
static inline unsigned test_drain(AioContext *ctx)
{
    unsigned n = 0;

    while (aio_poll(ctx, false)) {
        n++;
        g_assert_cmpuint(n, <, 100000);
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* GMainContext                                                              */
/* ------------------------------------------------------------------------ */

/* Runs non-blocking iterations of @main until one dispatches nothing. */
static inline unsigned test_main_drain(GMainContext *main)
{
    unsigned n = 0;

    while (g_main_context_iteration(main, FALSE)) {
        n++;
        g_assert_cmpuint(n, <, 100000);
    }
    return n;
}

/* Attaches @ctx to a new GMainContext at @priority and drains it, so the
 * test starts from a quiet loop.  Returns: the GMainContext. */
static inline GMainContext *test_attach_prio(AioContext *ctx, int priority)
{
    GMainContext *main = g_main_context_new();
    int id = aio_context_attach(ctx, main, priority);

    g_assert_cmpint(id, >, 0);
    g_assert_cmpuint(aio_context_source_id(ctx), ==, (guint)id);
    test_main_drain(main);
    return main;
}

static inline GMainContext *test_attach(AioContext *ctx)
{
    return test_attach_prio(ctx, G_PRIORITY_DEFAULT);
}

/*
 * Returns: whether GLib polls each handler's own fd for @ctx (fdmon-poll),
 * rather than the one fd of the back end (the epoll fd, the io_uring ring
 * fd).
 */
static inline bool test_gsource_per_fd(AioContext *ctx)
{
    AioContextStats st;

    memset(&st, 0, sizeof(st));
    aio_context_get_stats(ctx, &st);
    return st.fdmon == AIO_FDMON_POLL;
}

/*
 * Asserts what follows a GSource dispatch during which a callback called
 * aio_notify() (a BH scheduled from a callback, a BH deleted): nothing.
 * The dispatch cleared bit 0 of notify_me as it started (our one
 * deviation from QEMU, where the bit stays set when prepare returned TRUE,
 * the notify writes the eventfd and one more iteration dispatches to drain
 * it), so the notify wrote nothing and @main is quiet, with every fd
 * monitor.
 */
static inline void test_main_no_extra_iteration(AioContext *ctx,
                                                GMainContext *main)
{
    g_assert_cmpuint(test_stats(ctx).notify_me, ==, 0);
    g_assert_false(g_main_context_iteration(main, FALSE));
}

/* Undoes test_attach(). */
static inline void test_detach(AioContext *ctx, GMainContext *main)
{
    aio_context_detach(ctx);
    g_assert_cmpuint(aio_context_source_id(ctx), ==, 0);
    g_main_context_unref(main);
}

/* ------------------------------------------------------------------------ */
/* File descriptors                                                          */
/* ------------------------------------------------------------------------ */

/* A non-blocking, close-on-exec pipe: fds[0] reads, fds[1] writes. */
static inline void test_pipe(int fds[2])
{
    GError *err = NULL;

    g_assert_true(g_unix_open_pipe(fds, FD_CLOEXEC, &err));
    g_assert_no_error(err);
    g_assert_true(g_unix_set_fd_nonblocking(fds[0], TRUE, NULL));
    g_assert_true(g_unix_set_fd_nonblocking(fds[1], TRUE, NULL));
}

/* A non-blocking stream socket pair: each end is readable once the other
 * wrote, and writable while its buffer has room. */
static inline void test_socketpair(int fds[2])
{
    g_assert_cmpint(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
        ==, 0);
}

static inline void test_write_byte(int fd)
{
    char c = 'x';

    g_assert_cmpint(write(fd, &c, 1), ==, 1);
}

/* Reads everything available.  Returns: the byte count (0 at EOF or when
 * nothing was there). */
static inline size_t test_read_all(int fd)
{
    char buf[256];
    size_t total = 0;
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        total += (size_t)n;
    }
    return total;
}

static inline void test_close_pair(int fds[2])
{
    if (fds[0] >= 0) {
        close(fds[0]);
    }
    if (fds[1] >= 0) {
        close(fds[1]);
    }
    fds[0] = fds[1] = -1;
}

/* Removes @fd's handler and checks that the removal succeeded. */
static inline void test_remove_fd(AioContext *ctx, int fd)
{
    g_assert_cmpint(
        aio_set_fd_handler(ctx, fd, false, NULL, NULL, NULL, NULL, NULL), ==,
        0);
}

/* ------------------------------------------------------------------------ */
/* Time                                                                      */
/* ------------------------------------------------------------------------ */

/* Returns: the monotonic time (g_get_monotonic_time() units) @ms from now. */
static inline gint64 test_deadline_ms(gint64 ms)
{
    return g_get_monotonic_time() + ms * 1000;
}

/* Fails the test if @deadline has passed, naming what was awaited. */
static inline void test_check_deadline(gint64 deadline, const char *what)
{
    if (g_get_monotonic_time() > deadline) {
        g_test_message("timed out waiting for %s", what);
        g_assert_not_reached();
    }
}

/*
 * Runs blocking iterations of @ctx until @cond holds, failing after
 * TEST_WAIT_MS.  The deadline is checked after each wake-up, so it only
 * bounds a loop that keeps waking; a wait that never returns is caught by
 * the test runner's timeout.
 */
#define TEST_POLL_UNTIL(ctx, cond) \
    G_STMT_START \
    { \
        gint64 test_dl_ = test_deadline_ms(TEST_WAIT_MS); \
        while (!(cond)) { \
            test_check_deadline(test_dl_, #cond); \
            aio_poll((ctx), true); \
        } \
    } \
    G_STMT_END

/* As TEST_POLL_UNTIL(), with non-blocking iterations 200 us apart: for
 * conditions that nothing wakes the loop for (worker threads' states). */
#define TEST_WAIT_UNTIL(ctx, cond) \
    G_STMT_START \
    { \
        gint64 test_dl_ = test_deadline_ms(TEST_WAIT_MS); \
        while (!(cond)) { \
            test_check_deadline(test_dl_, #cond); \
            aio_poll((ctx), false); \
            g_usleep(200); \
        } \
    } \
    G_STMT_END

/* Waits (without running any loop) until @type's clock reaches @target_ns.
 * Sleeps only for the time still missing, so it is a wait on the clock,
 * not a guess. */
static inline void test_wait_clock(QEMUClockType type, int64_t target_ns)
{
    int64_t now;

    while ((now = qemu_clock_get_ns(type)) < target_ns) {
        g_usleep((gulong)((target_ns - now) / 1000 + 1));
    }
}

/*
 * A value one thread raises and another waits for, with a deadline.
 *
 * Plain atomics and a polling wait rather than GMutex/GCond: GLib's GMutex
 * is futex-based on Linux, invisible to ThreadSanitizer, which would then
 * report every access it protects as a race.  The wait re-checks every
 * 100 µs against a monotonic deadline; it never sleeps for a guessed
 * time.
 */
typedef struct TestFlag {
    gint value; /* atomic */
} TestFlag;

static inline void test_flag_init(TestFlag *f)
{
    g_atomic_int_set(&f->value, 0);
}

static inline void test_flag_clear(TestFlag *f)
{
    (void)f;
}

/* Sets the value to @value.  Any thread. */
static inline void test_flag_set(TestFlag *f, int value)
{
    g_atomic_int_set(&f->value, value);
}

/* Adds one to the value.  Any thread. */
static inline void test_flag_inc(TestFlag *f)
{
    g_atomic_int_inc(&f->value);
}

static inline int test_flag_get(TestFlag *f)
{
    return g_atomic_int_get(&f->value);
}

/* Waits up to @ms for the value to reach at least @value.
 * Returns: whether it did. */
static inline gboolean test_flag_wait(TestFlag *f, int value, gint64 ms)
{
    gint64 deadline = test_deadline_ms(ms);

    while (g_atomic_int_get(&f->value) < value) {
        if (g_get_monotonic_time() > deadline) {
            return FALSE;
        }
        g_usleep(100);
    }
    return TRUE;
}

#endif /* AIOCONTEXT_TEST_UTIL_H */
