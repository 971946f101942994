/*
 * test-fdmon.c — the fd monitors (fdmon-poll, fdmon-epoll, fdmon-io_uring)
 * and how a context picks and switches them: auto is io_uring unless
 * AIOCONTEXT_IO_URING=0, and without io_uring makes a permanent poll→epoll
 * switch at 64 fds; explicit poll/epoll/io_uring requests, handler removal
 * and replacement while the kernel still watches the fd (io_uring's
 * in-flight POLL_ADD), many fds, GSource dispatch through each monitor, and
 * external handlers (epoll and io_uring let fdmon-poll wait while they are
 * paused).
 *
 * meson runs this program once per back end (AIOCONTEXT_FDMON, see
 * test-util.h).  The /fdmon/handlers, /fdmon/gsource, /fdmon/external and
 * /fdmon/scale cases use that back end; the /fdmon/<back end>/ cases
 * create the context they are about themselves and are registered only in
 * the run of their back end, so each runs once (/fdmon/auto/ upgrade cases:
 * the auto-no-io_uring run).
 *
 * "The node is freed" is checked by walking ctx->handlers (private API):
 * a retired node stays linked there until it is freed, and for io_uring
 * that is only once its POLL_ADD completed.  ASan builds check the rest
 * (use after free, leaks at exit).
 *
 * SPDX-License-Identifier: MIT
 */
#include "test-util.h"

#include "aiocontext-config.h" /* CONFIG_LINUX_IO_URING */
#include "fdmon.h"             /* aio-internal.h, AIO_EPOLL_THRESHOLD */

#include <fcntl.h>
#include <sys/resource.h>
#ifdef CONFIG_LINUX_IO_URING
#include <liburing.h>
#endif

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* Returns: the handler nodes still allocated (live or retired but not yet
 * freed), not counting the context's notifier.  Home thread, outside any
 * callback. */
static unsigned allocated_nodes(AioContext *ctx)
{
    unsigned n = 0;

    aio__lockcnt_lock(&ctx->list_lock);
    for (AioHandler *node = ctx->handlers; node; node = node->next) {
        n += !node->is_notifier;
    }
    aio__lockcnt_unlock(&ctx->list_lock);
    return n;
}

/* Says what the io_uring rings hold, to explain a failure. */
static void io_uring_diag(AioContext *ctx)
{
#ifdef CONFIG_LINUX_IO_URING
    struct io_uring *ring = ctx->uring.ring;

    if (ring) {
        g_test_message("io_uring: %u CQEs ready, CQ overflowed: %s, "
                       "%u SQEs unsubmitted, submit_list %s",
                       io_uring_cq_ready(ring),
                       io_uring_cq_has_overflow(ring) ? "yes" : "no",
                       io_uring_sq_ready(ring),
                       ctx->uring.submit_list ? "non-empty" : "empty");
    }
#else
    (void)ctx;
#endif
}

/* Runs non-blocking polls, none of which may make progress, until only
 * @expected nodes are allocated (io_uring frees a retired node when the
 * completion of its POLL_ADD, or of its cancellation, comes back).  Fails
 * after 100 polls. */
static void settle_nodes(AioContext *ctx, unsigned expected)
{
    for (int i = 0; allocated_nodes(ctx) != expected; i++) {
        if (i == 100) {
            g_test_message("%u nodes still allocated, %u expected",
                           allocated_nodes(ctx), expected);
            io_uring_diag(ctx);
        }
        g_assert_cmpint(i, <, 100);
        g_assert_false(aio_poll(ctx, false));
    }
}

static const char *fdmon_now(AioContext *ctx)
{
    return aio_fdmon_name(test_stats(ctx).fdmon);
}

/* One handler on an eventfd. */
typedef struct Ev Ev;
struct Ev {
    EventNotifier e; /* first: the callback's opaque is &e */
    AioContext *ctx;
    int calls;
    bool drain;       /* clear the notifier in the callback */
    bool remove_self; /* remove the handler in the callback */
};

static void ev_cb(EventNotifier *e)
{
    Ev *ev = (Ev *)e;

    ev->calls++;
    if (ev->drain) {
        event_notifier_test_and_clear(e);
    }
    if (ev->remove_self) {
        g_assert_cmpint(
            aio_set_event_notifier(ev->ctx, e, false, NULL, NULL, NULL), ==, 0);
    }
}

static void ev_init(Ev *ev, AioContext *ctx)
{
    memset(ev, 0, sizeof(*ev));
    g_assert_cmpint(event_notifier_init(&ev->e, false), ==, 0);
    ev->ctx = ctx;
    ev->drain = true;
}

static void ev_add(Ev *ev, bool is_external)
{
    g_assert_cmpint(
        aio_set_event_notifier(ev->ctx, &ev->e, is_external, ev_cb, NULL, NULL),
        ==, 0);
}

static void ev_remove(Ev *ev)
{
    g_assert_cmpint(
        aio_set_event_notifier(ev->ctx, &ev->e, false, NULL, NULL, NULL), ==,
        0);
}

static Ev *evs_new(AioContext *ctx, unsigned n)
{
    Ev *evs = g_new(Ev, n);

    for (unsigned i = 0; i < n; i++) {
        ev_init(&evs[i], ctx);
    }
    return evs;
}

static void evs_free(Ev *evs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        event_notifier_cleanup(&evs[i].e);
    }
    g_free(evs);
}

/* Returns: the sum of the calls of @n handlers. */
static int evs_calls(Ev *evs, unsigned n)
{
    int sum = 0;

    for (unsigned i = 0; i < n; i++) {
        sum += evs[i].calls;
    }
    return sum;
}

/* Makes sure @n more fds can be opened (raising the soft limit up to the
 * hard one).  Returns: false (and marks the test skipped) if they cannot. */
static bool ensure_fds(unsigned n)
{
    struct rlimit rl;
    rlim_t want = n + 256;

    g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &rl), ==, 0);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
            char *why = g_strdup_printf("RLIMIT_NOFILE hard limit %lu < %lu",
                                        (unsigned long)rl.rlim_max,
                                        (unsigned long)want);

            g_test_skip(why);
            g_free(why);
            return false;
        }
        rl.rlim_cur = want;
        g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &rl), ==, 0);
    }
    return true;
}

/*
 * Runs one GMainContext iteration by hand and returns how many fds GLib was
 * asked to poll for it: its own wake-up fd plus, for @ctx's source, every
 * handler's fd (fdmon-poll, or any back end while external handlers are
 * paused) or the back end's single fd (the epoll fd, the io_uring ring;
 * io_uring's also while paused, for aio_add_sqe() completions).
 * Dispatches what is ready, as an iteration would.
 */
static int main_poll_nfds(GMainContext *main)
{
    GPollFD fds[256];
    gint prio, timeout, n;

    g_assert_true(g_main_context_acquire(main));
    g_main_context_prepare(main, &prio);
    n = g_main_context_query(main, prio, &timeout, fds, G_N_ELEMENTS(fds));
    g_assert_cmpint(n, <=, (gint)G_N_ELEMENTS(fds));
    for (int i = 0; i < n; i++) {
        fds[i].revents = 0;
    }
    g_assert_cmpint(g_poll(fds, n, 0), >=, 0);
    if (g_main_context_check(main, prio, fds, n)) {
        g_main_context_dispatch(main);
    }
    g_main_context_release(main);
    return n;
}

/* What main_poll_nfds() must return for @ctx with @handlers user handlers
 * that GLib watches (1 for GLib's wake-up fd, 1 for the notifier). */
static int expected_nfds(AioContext *ctx, int handlers)
{
    if (test_gsource_per_fd(ctx) || aio_external_disabled(ctx)) {
        return 1 + 1 + handlers;
    }
    return 1 + 1;
}

/* ------------------------------------------------------------------------ */
/* Back end selection                                                        */
/* ------------------------------------------------------------------------ */

static void test_selected(void)
{
    AioFdMonRequest req = test_fdmon_request();
    AioContext *ctx = test_ctx_new();
    AioContextStats st = test_stats(ctx);

    g_test_message("AIOCONTEXT_FDMON=%s: context uses %s",
                   test_fdmon_request_name(req), aio_fdmon_name(st.fdmon));
    if (!test_ctx_fell_back(ctx)) {
        g_assert_cmpint(st.fdmon, ==, test_fdmon_expected(req));
    }
    test_ctx_free(ctx);
}

/* Puts AIOCONTEXT_IO_URING back as it was when @saved (a copy of its value,
 * or NULL for unset) was taken, and frees @saved. */
static void env_restore(char *saved)
{
    if (saved) {
        g_setenv("AIOCONTEXT_IO_URING", saved, TRUE);
    } else {
        g_unsetenv("AIOCONTEXT_IO_URING");
    }
    g_free(saved);
}

/* auto is io_uring, as in QEMU, unless AIOCONTEXT_IO_URING=0 (an escape
 * hatch like libuv's UV_USE_IO_URING=0) turns it off: then it is ppoll,
 * with the reason in the stats.  Only "0" turns it off, and an explicit
 * io_uring request ignores the variable. */
static void test_auto_io_uring_env(void)
{
    char *saved = g_strdup(g_getenv("AIOCONTEXT_IO_URING"));
    AioContext *ctx;
    AioContextStats st;

    g_setenv("AIOCONTEXT_IO_URING", "0", TRUE);
    ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_AUTO);
    st = test_stats(ctx);
    g_assert_cmpint(st.fdmon, ==, AIO_FDMON_POLL);
    g_assert_cmpstr(st.fdmon_fallback_reason, ==, TEST_IO_URING_OFF_REASON);
    test_ctx_free(ctx);

    ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_IO_URING);
    if (!test_ctx_fell_back(ctx)) {
        g_assert_cmpint(test_stats(ctx).fdmon, ==, AIO_FDMON_IO_URING);
    }
    test_ctx_free(ctx);

    for (unsigned i = 0; i < 2; i++) {
        if (i == 0) {
            g_setenv("AIOCONTEXT_IO_URING", "1", TRUE);
        } else {
            g_unsetenv("AIOCONTEXT_IO_URING");
        }
        ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_AUTO);
        if (!test_ctx_fell_back(ctx)) {
            st = test_stats(ctx);
            g_assert_cmpint(st.fdmon, ==, AIO_FDMON_IO_URING);
            g_assert_null(st.fdmon_fallback_reason);
        }
        test_ctx_free(ctx);
    }

    env_restore(saved);
}

/* Returns: an auto context made with AIOCONTEXT_IO_URING unset (so, on
 * io_uring), or NULL (and the test skipped) where io_uring cannot be set
 * up. */
static AioContext *auto_io_uring_ctx_new(void)
{
    char *saved = g_strdup(g_getenv("AIOCONTEXT_IO_URING"));
    AioContext *ctx;

    g_unsetenv("AIOCONTEXT_IO_URING");
    ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_AUTO);
    env_restore(saved);
    if (test_ctx_fell_back(ctx)) {
        test_ctx_free(ctx);
        return NULL;
    }
    g_assert_cmpstr(fdmon_now(ctx), ==, "io_uring");
    return ctx;
}

/*
 * auto gives io_uring up for ppoll once GLib drives the context (its
 * GSource is made), as QEMU did before 10.2: a GLib iteration costs fewer
 * syscalls there.  Everything registered survives the switch: a live
 * handler armed in the ring, one retired after its POLL_ADD was armed (its
 * POLL_REMOVE submitted), and one retired before its removal was even
 * submitted (still owned by the back end).  The retired ones are
 * freed, the live one runs under GLib and then under aio_poll(), and the
 * context stays on ppoll.  (An explicit io_uring request keeps io_uring
 * under GLib: /fdmon/io_uring/gsource-polls-ring-fd.)
 */
static void test_auto_glib_switches_to_poll(void)
{
    AioContext *ctx = auto_io_uring_ctx_new();
    GMainContext *main;
    Ev live, removed, queued;

    if (!ctx) {
        return;
    }
    ev_init(&live, ctx);
    ev_init(&removed, ctx);
    ev_init(&queued, ctx);
    ev_add(&live, false);
    ev_add(&removed, false);
    ev_add(&queued, false);
    g_assert_false(aio_poll(ctx, false)); /* all three armed */
    ev_remove(&removed);
    g_assert_false(aio_poll(ctx, false)); /* its POLL_REMOVE goes */
    ev_remove(&queued);                   /* only queued */
    g_assert_cmpuint(allocated_nodes(ctx), >=, 2);

    main = test_attach(ctx);
    g_assert_cmpstr(fdmon_now(ctx), ==, "poll");
    g_assert_null(test_stats(ctx).fdmon_fallback_reason);
    g_assert_null(ctx->uring.ring);
    g_assert_cmpint(main_poll_nfds(main), ==, 3); /* wake-up, notifier, live */

    event_notifier_set(&live.e);
    event_notifier_set(&removed.e);
    event_notifier_set(&queued.e);
    g_assert_true(g_main_context_iteration(main, TRUE));
    g_assert_cmpint(live.calls, ==, 1);
    test_main_drain(main);
    g_assert_cmpint(removed.calls + queued.calls, ==, 0);
    g_assert_cmpuint(allocated_nodes(ctx), ==, 1);

    event_notifier_set(&live.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(live.calls, ==, 2);
    g_assert_cmpstr(fdmon_now(ctx), ==, "poll");

    test_detach(ctx, main);
    g_assert_cmpstr(fdmon_now(ctx), ==, "poll"); /* for good */
    ev_remove(&live);
    settle_nodes(ctx, 0);
    event_notifier_cleanup(&live.e);
    event_notifier_cleanup(&removed.e);
    event_notifier_cleanup(&queued.e);
    test_ctx_free(ctx);
}

static gpointer get_g_source_thread(gpointer ctx)
{
    return aio_get_g_source(ctx);
}

/* A GSource made by another thread: the switch waits for the first GLib
 * prepare, which runs in the home thread. */
static void test_auto_glib_switch_from_other_thread(void)
{
    AioContext *ctx = auto_io_uring_ctx_new();
    GMainContext *main;
    GSource *source;
    Ev ev;

    if (!ctx) {
        return;
    }
    ev_init(&ev, ctx);
    ev_add(&ev, false);
    g_assert_false(aio_poll(ctx, false));
    source = g_thread_join(
        g_thread_new("get-g-source", get_g_source_thread, ctx));
    g_assert_nonnull(source);
    g_assert_cmpstr(fdmon_now(ctx), ==, "io_uring");

    main = g_main_context_new();
    g_source_attach(source, main);
    event_notifier_set(&ev.e);
    g_assert_true(g_main_context_iteration(main, TRUE));
    g_assert_cmpstr(fdmon_now(ctx), ==, "poll");
    test_main_drain(main);
    g_assert_cmpint(ev.calls, ==, 1);

    g_source_destroy(source);
    g_source_unref(source);
    g_main_context_unref(main);
    ev_remove(&ev);
    settle_nodes(ctx, 0);
    event_notifier_cleanup(&ev.e);
    test_ctx_free(ctx);
}

/* auto: ppoll until a wait has AIO_EPOLL_THRESHOLD (64) fds — the
 * notifier included — then epoll for good. */
static void test_auto_upgrade_at_64(void)
{
    AioContext *ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_AUTO);
    const unsigned n = AIO_EPOLL_THRESHOLD - 1; /* + notifier = 64 */
    Ev *evs = evs_new(ctx, n);

    g_assert_cmpint(AIO_EPOLL_THRESHOLD, ==, 64);
    g_assert_cmpstr(fdmon_now(ctx), ==, "poll");
    for (unsigned i = 0; i < n - 1; i++) {
        ev_add(&evs[i], false);
    }
    /* 62 + notifier = 63 fds in the wait: still poll. */
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpstr(fdmon_now(ctx), ==, "poll");

    ev_add(&evs[n - 1], false);
    /* Registering alone does not switch: a wait does. */
    g_assert_cmpstr(fdmon_now(ctx), ==, "poll");
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpstr(fdmon_now(ctx), ==, "epoll");
    /* Moving up is not a fallback: the reason is still why io_uring is
     * not in use. */
    g_assert_cmpstr(test_stats(ctx).fdmon_fallback_reason, ==,
                    TEST_IO_URING_OFF_REASON);

    for (unsigned i = 0; i < n; i++) {
        ev_remove(&evs[i]);
    }
    settle_nodes(ctx, 0);
    evs_free(evs, n);
    test_ctx_free(ctx);
}

/* The wait that switches still reports what is ready, once. */
static void test_auto_upgrade_dispatches(void)
{
    AioContext *ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_AUTO);
    const unsigned n = AIO_EPOLL_THRESHOLD - 1;
    Ev *evs = evs_new(ctx, n);

    for (unsigned i = 0; i < n; i++) {
        ev_add(&evs[i], false);
    }
    event_notifier_set(&evs[10].e);
    event_notifier_set(&evs[n - 1].e);
    g_assert_cmpstr(fdmon_now(ctx), ==, "poll");
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(fdmon_now(ctx), ==, "epoll");
    g_assert_cmpint(evs[10].calls, ==, 1);
    g_assert_cmpint(evs[n - 1].calls, ==, 1);
    g_assert_cmpint(evs_calls(evs, n), ==, 2);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(evs_calls(evs, n), ==, 2);

    for (unsigned i = 0; i < n; i++) {
        ev_remove(&evs[i]);
    }
    settle_nodes(ctx, 0);
    evs_free(evs, n);
    test_ctx_free(ctx);
}

/* Once switched, auto stays on epoll with few fds, and epoll works. */
static void test_auto_stays_epoll(void)
{
    AioContext *ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_AUTO);
    const unsigned n = AIO_EPOLL_THRESHOLD;
    Ev *evs = evs_new(ctx, n);

    for (unsigned i = 0; i < n; i++) {
        ev_add(&evs[i], false);
    }
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpstr(fdmon_now(ctx), ==, "epoll");

    for (unsigned i = 0; i < n; i++) {
        ev_remove(&evs[i]);
    }
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);
    for (int i = 0; i < 3; i++) {
        g_assert_false(aio_poll(ctx, false));
    }
    g_assert_cmpstr(fdmon_now(ctx), ==, "epoll");

    /* One fd, on epoll. */
    ev_add(&evs[0], false);
    g_assert_false(aio_poll(ctx, false));
    event_notifier_set(&evs[0].e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(evs[0].calls, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpstr(fdmon_now(ctx), ==, "epoll");

    ev_remove(&evs[0]);
    settle_nodes(ctx, 0);
    evs_free(evs, n);
    test_ctx_free(ctx);
}

/* auto switches in a wait, i.e. in aio_poll(): attached before the switch,
 * the source then polls the epoll fd instead of each fd, and GSource
 * dispatch goes on working, for handlers added before and after. */
static void test_auto_gsource_after_upgrade(void)
{
    AioContext *ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_AUTO);
    GMainContext *main = test_attach(ctx);
    const unsigned n = AIO_EPOLL_THRESHOLD;
    Ev *evs = evs_new(ctx, n);

    for (unsigned i = 0; i < n - 1; i++) {
        ev_add(&evs[i], false);
    }
    g_assert_cmpint(main_poll_nfds(main), ==, 1 + 1 + (int)(n - 1));
    g_assert_cmpstr(fdmon_now(ctx), ==, "poll");

    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpstr(fdmon_now(ctx), ==, "epoll");
    g_assert_cmpint(main_poll_nfds(main), ==, 2);
    test_main_drain(main);

    event_notifier_set(&evs[0].e);
    event_notifier_set(&evs[n - 2].e);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(evs[0].calls, ==, 1);
    g_assert_cmpint(evs[n - 2].calls, ==, 1);
    g_assert_cmpint(evs_calls(evs, n), ==, 2);
    g_assert_false(g_main_context_iteration(main, FALSE));

    /* Added after the switch, while attached. */
    ev_add(&evs[n - 1], false);
    g_assert_cmpint(main_poll_nfds(main), ==, 2);
    event_notifier_set(&evs[n - 1].e);
    g_assert_true(g_main_context_iteration(main, TRUE));
    g_assert_cmpint(evs[n - 1].calls, ==, 1);
    g_assert_cmpint(evs_calls(evs, n), ==, 3);
    test_main_drain(main);

    /* Removed while attached: not dispatched although readable. */
    ev_remove(&evs[0]);
    event_notifier_set(&evs[0].e);
    test_main_drain(main);
    g_assert_cmpint(evs[0].calls, ==, 1);
    g_assert_cmpstr(fdmon_now(ctx), ==, "epoll");

    for (unsigned i = 1; i < n; i++) {
        ev_remove(&evs[i]);
    }
    test_main_drain(main);
    settle_nodes(ctx, 0);
    test_detach(ctx, main);
    evs_free(evs, n);
    test_ctx_free(ctx);
}

/* poll: never switches, whatever the number of fds. */
static void test_poll_never_switches(void)
{
    AioContext *ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_POLL);
    const unsigned n = 4 * AIO_EPOLL_THRESHOLD;
    Ev *evs = evs_new(ctx, n);

    for (unsigned i = 0; i < n; i++) {
        ev_add(&evs[i], false);
    }
    event_notifier_set(&evs[n / 2].e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(evs_calls(evs, n), ==, 1);
    for (int i = 0; i < 3; i++) {
        g_assert_false(aio_poll(ctx, false));
    }
    g_assert_cmpstr(fdmon_now(ctx), ==, "poll");
    g_assert_null(test_stats(ctx).fdmon_fallback_reason);

    for (unsigned i = 0; i < n; i++) {
        ev_remove(&evs[i]);
    }
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpstr(fdmon_now(ctx), ==, "poll");
    settle_nodes(ctx, 0);
    evs_free(evs, n);
    test_ctx_free(ctx);
}

/* epoll: from the start, with no user fd at all; GLib polls one fd. */
static void test_epoll_from_start(void)
{
    AioContext *ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_EPOLL);
    GMainContext *main;
    Ev evs[3];

    g_assert_cmpstr(fdmon_now(ctx), ==, "epoll");
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpstr(fdmon_now(ctx), ==, "epoll");

    for (int i = 0; i < 3; i++) {
        ev_init(&evs[i], ctx);
        ev_add(&evs[i], false);
    }
    event_notifier_set(&evs[1].e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(evs[1].calls, ==, 1);
    g_assert_cmpint(evs[0].calls + evs[2].calls, ==, 0);
    g_assert_cmpstr(fdmon_now(ctx), ==, "epoll");

    main = test_attach(ctx);
    g_assert_cmpint(main_poll_nfds(main), ==, 2);
    test_detach(ctx, main);

    for (int i = 0; i < 3; i++) {
        ev_remove(&evs[i]);
        event_notifier_cleanup(&evs[i].e);
    }
    test_ctx_free(ctx);
}

static void count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

/* An fd epoll refuses (a regular file: EPERM) switches the context to
 * poll for good; everything keeps working. */
static void test_epoll_ctl_failure_falls_back(void)
{
    AioContext *ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_EPOLL);
    GError *err = NULL;
    char *path = NULL;
    int file = g_file_open_tmp("aiocontext-fdmon-XXXXXX", &path, &err);
    int file_calls = 0;
    Ev ev;

    g_assert_no_error(err);
    g_assert_cmpint(file, >=, 0);
    ev_init(&ev, ctx);
    ev_add(&ev, false);
    g_assert_cmpstr(fdmon_now(ctx), ==, "epoll");

    g_assert_cmpint(aio_set_fd_handler(ctx, file, false, count_cb, NULL, NULL,
                                       NULL, &file_calls),
                    ==, 0);
    g_assert_cmpstr(fdmon_now(ctx), ==, "poll");

    /* poll(2) says a regular file is always readable. */
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(file_calls, ==, 1);
    test_remove_fd(ctx, file);

    event_notifier_set(&ev.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(ev.calls, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpstr(fdmon_now(ctx), ==, "poll");

    ev_remove(&ev);
    event_notifier_cleanup(&ev.e);
    close(file);
    unlink(path);
    g_free(path);
    test_ctx_free(ctx);
}

/* The same failure caused by another thread while the home thread waits
 * in epoll_wait(): only the home thread may switch fdmon_ops and close the
 * epoll fd (aio_poll() reads the first unlocked and waits on the second).
 * The registering thread only flags it; the home thread wakes, switches
 * and serves the file.  Meant for the TSan build, which reported the
 * write of fdmon_ops from the other thread. */
typedef struct {
    AioContext *ctx;
    int file;
    int calls;
    int ret;
} CrossFail;

static void *cross_fail_thread(void *opaque)
{
    CrossFail *c = opaque;

    g_usleep(1000); /* most rounds: the home thread is in epoll_wait */
    c->ret = aio_set_fd_handler(c->ctx, c->file, false, count_cb, NULL, NULL,
                                NULL, &c->calls);
    return NULL;
}

static void test_epoll_ctl_failure_other_thread(void)
{
    GError *err = NULL;
    char *path = NULL;
    int file = g_file_open_tmp("aiocontext-fdmon-XXXXXX", &path, &err);

    g_assert_no_error(err);
    for (int round = 0; round < 20; round++) {
        AioContext *ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_EPOLL);
        CrossFail c = {.ctx = ctx, .file = file, .ret = 1};
        gboolean expired = FALSE;
        QEMUTimer *watchdog = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                                            test_set_flag, &expired);
        Ev ev;
        pthread_t th;

        ev_init(&ev, ctx);
        ev_add(&ev, false);
        g_assert_cmpstr(fdmon_now(ctx), ==, "epoll");
        timer_mod(watchdog, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) / SCALE_MS +
                                TEST_WAIT_MS);
        g_assert_cmpint(pthread_create(&th, NULL, cross_fail_thread, &c), ==,
                        0);
        while (__atomic_load_n(&c.calls, __ATOMIC_RELAXED) == 0 && !expired) {
            aio_poll(ctx, true);
        }
        g_assert_cmpint(pthread_join(th, NULL), ==, 0);
        g_assert_false(expired);
        g_assert_cmpint(c.ret, ==, 0);
        g_assert_cmpint(c.calls, >=, 1);
        g_assert_cmpstr(fdmon_now(ctx), ==, "poll");
        g_assert_nonnull(test_stats(ctx).fdmon_fallback_reason);
        g_assert_cmpint(ctx->epoll.fd, ==, -1);

        /* Everything else keeps working on poll. */
        test_remove_fd(ctx, file);
        event_notifier_set(&ev.e);
        g_assert_true(aio_poll(ctx, false));
        g_assert_cmpint(ev.calls, ==, 1);
        ev_remove(&ev);
        event_notifier_cleanup(&ev.e);
        timer_free(watchdog);
        test_ctx_free(ctx);
    }
    close(file);
    unlink(path);
    g_free(path);
}

/* aio.h: fdmon_fallback_reason says "why the fd monitor asked for at
 * creation is not in use".  After an epoll_ctl failure an epoll context
 * uses poll, so the reason must be set. */
static void test_epoll_ctl_failure_reason(void)
{
    AioContext *ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_EPOLL);
    GError *err = NULL;
    char *path = NULL;
    int file = g_file_open_tmp("aiocontext-fdmon-XXXXXX", &path, &err);
    int file_calls = 0;
    AioContextStats st;

    g_assert_no_error(err);
    g_assert_cmpint(aio_set_fd_handler(ctx, file, false, count_cb, NULL, NULL,
                                       NULL, &file_calls),
                    ==, 0);
    st = test_stats(ctx);
    test_remove_fd(ctx, file);
    close(file);
    unlink(path);
    g_free(path);

    g_assert_cmpint(st.fdmon, ==, AIO_FDMON_POLL);
    g_assert_nonnull(st.fdmon_fallback_reason);
    test_ctx_free(ctx);
}

/* io_uring: GLib polls the ring fd only. */
static void test_io_uring_gsource_polls_ring(void)
{
    AioContext *ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_IO_URING);
    GMainContext *main;
    Ev evs[3];

    if (test_ctx_fell_back(ctx)) {
        test_ctx_free(ctx);
        return;
    }
    main = test_attach(ctx);
    for (int i = 0; i < 3; i++) {
        ev_init(&evs[i], ctx);
        ev_add(&evs[i], false);
    }
    g_assert_cmpint(main_poll_nfds(main), ==, 2);
    event_notifier_set(&evs[2].e);
    g_assert_true(g_main_context_iteration(main, TRUE));
    g_assert_cmpint(evs[2].calls, ==, 1);
    g_assert_cmpint(evs[0].calls + evs[1].calls, ==, 0);
    test_main_drain(main);
    g_assert_cmpstr(fdmon_now(ctx), ==, "io_uring");

    for (int i = 0; i < 3; i++) {
        ev_remove(&evs[i]);
    }
    test_main_drain(main);
    settle_nodes(ctx, 0);
    test_detach(ctx, main);
    for (int i = 0; i < 3; i++) {
        event_notifier_cleanup(&evs[i].e);
    }
    test_ctx_free(ctx);
}

/* io_uring: the GSource check takes the completions and holds the ready
 * handlers for its dispatch.  When no dispatch follows (a GLib loop that
 * checks and then stops), the next aio_poll() must still run them. */
static void test_io_uring_checked_then_aio_poll(void)
{
    AioContext *ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_IO_URING);
    GMainContext *main;
    Ev ev;

    if (test_ctx_fell_back(ctx)) {
        test_ctx_free(ctx);
        return;
    }
    main = test_attach(ctx);
    ev_init(&ev, ctx);
    ev_add(&ev, false);
    test_main_drain(main);
    for (int round = 1; round <= 10; round++) {
        GPollFD fds[16];
        gint prio, timeout, n;
        gboolean ready = FALSE;

        event_notifier_set(&ev.e);
        /* prepare/query/poll/check by hand until the check says ready; no
         * dispatch. */
        for (int i = 0; i < 1000 && !ready; i++) {
            g_assert_true(g_main_context_acquire(main));
            g_main_context_prepare(main, &prio);
            n = g_main_context_query(main, prio, &timeout, fds,
                                     G_N_ELEMENTS(fds));
            g_assert_cmpint(g_poll(fds, n, 1000), >=, 0);
            ready = g_main_context_check(main, prio, fds, n);
            g_main_context_release(main);
        }
        g_assert_true(ready);
        g_assert_cmpint(ev.calls, ==, round - 1);
        /* The next aio_poll(), even a non-blocking one, runs it. */
        g_assert_true(aio_poll(ctx, false));
        g_assert_cmpint(ev.calls, ==, round);
        g_assert_false(aio_poll(ctx, false));
    }
    ev_remove(&ev);
    test_main_drain(main);
    settle_nodes(ctx, 0);
    test_detach(ctx, main);
    event_notifier_cleanup(&ev.e);
    test_ctx_free(ctx);
}

#ifdef CONFIG_LINUX_IO_URING
/* Returns: the context's own notifier node (private API). */
static AioHandler *notifier_node(AioContext *ctx)
{
    int fd = event_notifier_get_fd(&ctx->notifier);

    for (AioHandler *node = ctx->handlers; node; node = node->next) {
        if (node->pfd.fd == fd && !node->deleted) {
            return node;
        }
    }
    g_assert_not_reached();
    return NULL;
}

static bool fd_readable(int fd)
{
    GPollFD pfd = {.fd = fd, .events = G_IO_IN};

    return g_poll(&pfd, 1, 0) == 1;
}

/* io_uring: the context's notifier has a multishot POLL_ADD, so a wake-up
 * (here: its eventfd written) is dispatched, draining the eventfd, without
 * any re-arm queued: no submission, no io_uring_enter().  Other handlers
 * keep one-shot POLL_ADDs, re-armed after their callback. */
static void test_io_uring_notifier_multishot(void)
{
    AioContext *ctx = test_ctx_new_full(NULL, AIO_FDMON_REQUEST_IO_URING);
    int nfd = event_notifier_get_fd(&ctx->notifier);
    AioHandler *node;
    Ev ev;

    if (test_ctx_fell_back(ctx)) {
        test_ctx_free(ctx);
        return;
    }
    g_assert_false(aio_poll(ctx, false));
    node = notifier_node(ctx);
    g_assert_true(node->uring.inflight);
    g_assert_true(node->uring.multishot);

    for (int i = 0; i < 3; i++) {
        event_notifier_set(&ctx->notifier);
        g_assert_true(fd_readable(nfd));
        /* The notifier's dispatch is not progress. */
        g_assert_false(aio_poll(ctx, false));
        g_assert_false(fd_readable(nfd));
        g_assert_true(node->uring.inflight);
        g_assert_null(ctx->uring.submit_list);
        g_assert_cmpuint(io_uring_sq_ready(ctx->uring.ring), ==, 0);
    }

    /* A plain handler's POLL_ADD is one-shot: its re-arm waits for the
     * next submission. */
    ev_init(&ev, ctx);
    ev_add(&ev, false);
    g_assert_false(aio_poll(ctx, false));
    event_notifier_set(&ev.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(ev.calls, ==, 1);
    g_assert_nonnull(ctx->uring.submit_list);
    ev_remove(&ev);
    settle_nodes(ctx, 0);
    event_notifier_cleanup(&ev.e);
    test_ctx_free(ctx);
}
#endif

/* ------------------------------------------------------------------------ */
/* Removal and replacement while the kernel watches the fd                   */
/* ------------------------------------------------------------------------ */

/* Removed after a wait armed it (epoll_ctl ADD, io_uring POLL_ADD in
 * flight), then the fd fires: the callback is never called and the node
 * is freed. */
static void test_remove_armed_then_write(void)
{
    AioContext *ctx = test_ctx_new();
    Ev ev;

    ev_init(&ev, ctx);
    ev_add(&ev, false);
    g_assert_false(aio_poll(ctx, false)); /* arms it */
    g_assert_cmpuint(allocated_nodes(ctx), ==, 1);

    ev_remove(&ev);
    event_notifier_set(&ev.e);
    for (int i = 0; i < 5; i++) {
        g_assert_false(aio_poll(ctx, false));
    }
    g_assert_cmpint(ev.calls, ==, 0);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);
    settle_nodes(ctx, 0);

    event_notifier_cleanup(&ev.e);
    test_ctx_free(ctx);
}

/* The fd fired (for io_uring: the POLL_ADD completed, its CQE waits in the
 * ring) and the handler is removed before the loop looked: never called,
 * freed. */
static void test_remove_fired_before_poll(void)
{
    AioContext *ctx = test_ctx_new();
    Ev ev;

    ev_init(&ev, ctx);
    ev_add(&ev, false);
    g_assert_false(aio_poll(ctx, false));
    event_notifier_set(&ev.e);
    ev_remove(&ev);
    for (int i = 0; i < 5; i++) {
        g_assert_false(aio_poll(ctx, false));
    }
    g_assert_cmpint(ev.calls, ==, 0);
    settle_nodes(ctx, 0);

    event_notifier_cleanup(&ev.e);
    test_ctx_free(ctx);
}

#define REPLACE_ROUNDS 1000

/* One fd, many handlers over time; each records whether it was the newest
 * when called. */
typedef struct {
    EventNotifier e;
    int newest; /* index of the handler registered last */
    int calls[REPLACE_ROUNDS];
    int stale_calls;
} Replace;

typedef struct {
    Replace *r;
    int index;
} ReplaceSlot;

static void replace_cb(void *opaque)
{
    ReplaceSlot *s = opaque;

    s->r->calls[s->index]++;
    if (s->index != s->r->newest) {
        s->r->stale_calls++;
    }
    /* Never drained: the fd stays readable (level-triggered). */
}

static void replace_set(AioContext *ctx, Replace *r, ReplaceSlot *slots, int i)
{
    slots[i].r = r;
    slots[i].index = i;
    r->newest = i;
    g_assert_cmpint(aio_set_fd_handler(ctx, event_notifier_get_fd(&r->e), false,
                                       replace_cb, NULL, NULL, NULL, &slots[i]),
                    ==, 0);
}

/* Replaced 1000 times while data is pending, with a poll after every
 * tenth replacement: each poll calls the newest handler, exactly once. */
static void test_replace_1000_polled(void)
{
    AioContext *ctx = test_ctx_new();
    Replace *r = g_new0(Replace, 1);
    ReplaceSlot *slots = g_new0(ReplaceSlot, REPLACE_ROUNDS);
    int polls = 0;

    g_assert_cmpint(event_notifier_init(&r->e, true), ==, 0);
    for (int i = 0; i < REPLACE_ROUNDS; i++) {
        replace_set(ctx, r, slots, i);
        if (i % 10 == 9) {
            g_assert_true(aio_poll(ctx, false));
            polls++;
            g_assert_cmpint(r->calls[i], ==, 1);
        }
    }
    g_assert_cmpint(r->stale_calls, ==, 0);
    for (int i = 0; i < REPLACE_ROUNDS; i++) {
        g_assert_cmpint(r->calls[i], ==, i % 10 == 9 ? 1 : 0);
    }
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 1);

    test_remove_fd(ctx, event_notifier_get_fd(&r->e));
    settle_nodes(ctx, 0);
    g_assert_cmpint(r->stale_calls, ==, 0);
    g_test_message("%d polls", polls);

    event_notifier_cleanup(&r->e);
    g_free(slots);
    g_free(r);
    test_ctx_free(ctx);
}

/* Replaced 1000 times with no poll in between (for io_uring: 1000 queued
 * POLL_ADD/POLL_REMOVE pairs, more than the rings hold): the next polls
 * call only the newest handler, once each. */
static void test_replace_1000_unpolled(void)
{
    AioContext *ctx = test_ctx_new();
    Replace *r = g_new0(Replace, 1);
    ReplaceSlot *slots = g_new0(ReplaceSlot, REPLACE_ROUNDS);

    g_assert_cmpint(event_notifier_init(&r->e, true), ==, 0);
    for (int i = 0; i < REPLACE_ROUNDS; i++) {
        replace_set(ctx, r, slots, i);
    }
    for (int i = 1; i <= 3; i++) {
        g_assert_true(aio_poll(ctx, false));
        g_assert_cmpint(r->calls[REPLACE_ROUNDS - 1], ==, i);
        g_assert_cmpint(r->stale_calls, ==, 0);
    }
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 1);

    test_remove_fd(ctx, event_notifier_get_fd(&r->e));
    g_assert_true(event_notifier_test_and_clear(&r->e));
    settle_nodes(ctx, 0);
    g_assert_cmpint(r->stale_calls, ==, 0);
    for (int i = 0; i < REPLACE_ROUNDS - 1; i++) {
        g_assert_cmpint(r->calls[i], ==, 0);
    }

    event_notifier_cleanup(&r->e);
    g_free(slots);
    g_free(r);
    test_ctx_free(ctx);
}

/* Removing itself from its callback, the fd still readable (for io_uring:
 * the re-armed POLL_ADD completes at once) or drained (it is cancelled):
 * called once, then freed. */
static void remove_in_own_cb(bool drain)
{
    AioContext *ctx = test_ctx_new();
    Ev ev;

    ev_init(&ev, ctx);
    ev.drain = drain;
    ev.remove_self = true;
    ev_add(&ev, false);
    g_assert_false(aio_poll(ctx, false));
    event_notifier_set(&ev.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(ev.calls, ==, 1);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);
    for (int i = 0; i < 5; i++) {
        g_assert_false(aio_poll(ctx, false));
    }
    g_assert_cmpint(ev.calls, ==, 1);
    settle_nodes(ctx, 0);

    event_notifier_cleanup(&ev.e);
    test_ctx_free(ctx);
}

static void test_remove_in_own_cb_pending(void)
{
    remove_in_own_cb(false);
}

static void test_remove_in_own_cb_drained(void)
{
    remove_in_own_cb(true);
}

/* Two ready handlers; whichever is dispatched first removes the other
 * from another thread (and waits for it), while the other is already on
 * this pass's ready list. */
typedef struct CrossRemove CrossRemove;
struct CrossRemove {
    Ev ev; /* first */
    CrossRemove *other;
    bool removed;
};

static gpointer cross_remove_thread(gpointer opaque)
{
    CrossRemove *victim = opaque;

    ev_remove(&victim->ev);
    return NULL;
}

static void cross_remove_cb(EventNotifier *e)
{
    CrossRemove *c = (CrossRemove *)e;

    c->ev.calls++;
    event_notifier_test_and_clear(e);
    if (!c->other->removed) {
        c->other->removed = true;
        g_thread_join(g_thread_new("remover", cross_remove_thread, c->other));
    }
}

/* aio.h: "A replaced or removed handler's callbacks are never called after
 * this returns" — also when another thread removes it while the loop has
 * already found its fd ready. */
static void test_remove_from_other_thread_while_ready(void)
{
    AioContext *ctx = test_ctx_new();
    CrossRemove a, b;

    ev_init(&a.ev, ctx);
    ev_init(&b.ev, ctx);
    a.other = &b;
    b.other = &a;
    a.removed = b.removed = false;
    g_assert_cmpint(aio_set_event_notifier(ctx, &a.ev.e, false, cross_remove_cb,
                                           NULL, NULL),
                    ==, 0);
    g_assert_cmpint(aio_set_event_notifier(ctx, &b.ev.e, false, cross_remove_cb,
                                           NULL, NULL),
                    ==, 0);
    g_assert_false(aio_poll(ctx, false));

    event_notifier_set(&a.ev.e);
    event_notifier_set(&b.ev.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(a.ev.calls + b.ev.calls, ==, 1);
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 1);
    for (int i = 0; i < 3; i++) {
        aio_poll(ctx, false);
    }
    g_assert_cmpint(a.ev.calls + b.ev.calls, ==, 1);

    ev_remove(a.removed ? &b.ev : &a.ev);
    settle_nodes(ctx, 0);
    event_notifier_cleanup(&a.ev.e);
    event_notifier_cleanup(&b.ev.e);
    test_ctx_free(ctx);
}

#define MANY_FDS 1000

/* 1,000 fds: the ready ones are dispatched once each, the rest never;
 * all removed, every node is freed. */
static void test_many_fds(void)
{
    AioContext *ctx = test_ctx_new();
    AioFdMonRequest req = test_fdmon_request();
    const unsigned ready[] = {0, 1, 499, 500, MANY_FDS - 1};
    Ev *evs;

    if (!ensure_fds(MANY_FDS)) {
        test_ctx_free(ctx);
        return;
    }
    evs = evs_new(ctx, MANY_FDS);
    for (unsigned i = 0; i < MANY_FDS; i++) {
        ev_add(&evs[i], false);
    }
    g_assert_cmpuint(test_stats(ctx).handlers, ==, MANY_FDS);
    g_assert_false(aio_poll(ctx, false));
    /* auto has switched; the others stay what they are. */
    if (!test_ctx_fell_back(ctx)) {
        g_assert_cmpstr(fdmon_now(ctx), ==,
                        req == AIO_FDMON_REQUEST_AUTO &&
                                !test_auto_tries_io_uring()
                            ? "epoll"
                            : aio_fdmon_name(test_fdmon_expected(req)));
    }

    for (unsigned i = 0; i < G_N_ELEMENTS(ready); i++) {
        event_notifier_set(&evs[ready[i]].e);
    }
    g_assert_true(aio_poll(ctx, false));
    for (unsigned i = 0; i < G_N_ELEMENTS(ready); i++) {
        g_assert_cmpint(evs[ready[i]].calls, ==, 1);
    }
    g_assert_cmpint(evs_calls(evs, MANY_FDS), ==, G_N_ELEMENTS(ready));
    g_assert_false(aio_poll(ctx, false));

    for (unsigned i = 0; i < MANY_FDS; i++) {
        ev_remove(&evs[i]);
    }
    g_assert_cmpuint(test_stats(ctx).handlers, ==, 0);
    /* Removed handlers stay silent even when their fds fire. */
    for (unsigned i = 0; i < MANY_FDS; i += 7) {
        event_notifier_set(&evs[i].e);
    }
    settle_nodes(ctx, 0);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(evs_calls(evs, MANY_FDS), ==, G_N_ELEMENTS(ready));

    evs_free(evs, MANY_FDS);
    test_ctx_free(ctx);
}

/* Returns: how many of @n handlers, each set once and drained by its
 * callback, were called more than once — i.e. called while their fd was
 * not readable (aio.h: io_read is "called while @fd has G_IO_IN, G_IO_HUP
 * or G_IO_ERR").  Says which. */
static int count_called_twice(Ev *evs, unsigned n)
{
    int twice = 0;

    for (unsigned i = 0; i < n; i++) {
        g_assert_cmpint(evs[i].calls, >=, 1);
        if (evs[i].calls > 1) {
            if (!twice) {
                g_test_message("handler %u called %d times", i, evs[i].calls);
            }
            twice++;
        }
    }
    if (twice) {
        g_test_message("%d handlers called again after their fd was drained",
                       twice);
    }
    return twice;
}

/* 1,000 fds ready at once (more than epoll's 128 events per wait and
 * io_uring's 256-entry completion ring): non-blocking polls call every
 * handler exactly once within a bounded number of polls, then are quiet. */
static void test_many_fds_all_ready(void)
{
    AioContext *ctx = test_ctx_new();
    int polls = 0;
    Ev *evs;

    if (!ensure_fds(MANY_FDS)) {
        test_ctx_free(ctx);
        return;
    }
    evs = evs_new(ctx, MANY_FDS);
    for (unsigned i = 0; i < MANY_FDS; i++) {
        ev_add(&evs[i], false);
    }
    g_assert_false(aio_poll(ctx, false));
    for (unsigned i = 0; i < MANY_FDS; i++) {
        event_notifier_set(&evs[i].e);
    }
    while (evs_calls(evs, MANY_FDS) < MANY_FDS) {
        if (polls == 100) {
            g_test_message("%d of %d handlers called after %d polls",
                           evs_calls(evs, MANY_FDS), MANY_FDS, polls);
            io_uring_diag(ctx);
        }
        g_assert_cmpint(polls, <, 100);
        aio_poll(ctx, false);
        polls++;
    }
    g_test_message("%d non-blocking polls", polls);
    /* Every call found its fd readable: none twice. */
    g_assert_cmpint(count_called_twice(evs, MANY_FDS), ==, 0);
    g_assert_false(aio_poll(ctx, false));

    for (unsigned i = 0; i < MANY_FDS; i++) {
        ev_remove(&evs[i]);
    }
    settle_nodes(ctx, 0);
    g_assert_cmpint(evs_calls(evs, MANY_FDS), ==, MANY_FDS);
    evs_free(evs, MANY_FDS);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* GSource                                                                   */
/* ------------------------------------------------------------------------ */

/* The same 1,000 ready fds through non-blocking GLib iterations. */
static void test_gsource_many_fds_all_ready(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main;
    int iterations = 0;
    Ev *evs;

    if (!ensure_fds(MANY_FDS)) {
        test_ctx_free(ctx);
        return;
    }
    main = test_attach(ctx);
    evs = evs_new(ctx, MANY_FDS);
    for (unsigned i = 0; i < MANY_FDS; i++) {
        ev_add(&evs[i], false);
    }
    test_main_drain(main);
    for (unsigned i = 0; i < MANY_FDS; i++) {
        event_notifier_set(&evs[i].e);
    }
    while (evs_calls(evs, MANY_FDS) < MANY_FDS) {
        if (iterations == 100) {
            g_test_message("%d of %d handlers called after %d iterations",
                           evs_calls(evs, MANY_FDS), MANY_FDS, iterations);
            io_uring_diag(ctx);
        }
        g_assert_cmpint(iterations, <, 100);
        g_main_context_iteration(main, FALSE);
        iterations++;
    }
    g_test_message("%d non-blocking iterations", iterations);
    g_assert_cmpint(count_called_twice(evs, MANY_FDS), ==, 0);
    test_main_drain(main);
    g_assert_cmpint(evs_calls(evs, MANY_FDS), ==, MANY_FDS);

    for (unsigned i = 0; i < MANY_FDS; i++) {
        ev_remove(&evs[i]);
    }
    test_main_drain(main);
    settle_nodes(ctx, 0);
    test_detach(ctx, main);
    evs_free(evs, MANY_FDS);
    test_ctx_free(ctx);
}

/* GLib drives the context on each back end: what it polls, and that fd
 * handlers are dispatched once per event, by non-blocking and blocking
 * iterations. */
static void test_gsource_dispatch(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    Ev a, b;

    ev_init(&a, ctx);
    ev_init(&b, ctx);
    ev_add(&a, false);
    ev_add(&b, false);
    g_assert_cmpint(main_poll_nfds(main), ==, expected_nfds(ctx, 2));
    test_main_drain(main);

    event_notifier_set(&a.e);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(a.calls, ==, 1);
    g_assert_cmpint(b.calls, ==, 0);
    g_assert_false(g_main_context_iteration(main, FALSE));

    event_notifier_set(&b.e);
    g_assert_true(g_main_context_iteration(main, TRUE));
    g_assert_cmpint(a.calls, ==, 1);
    g_assert_cmpint(b.calls, ==, 1);
    g_assert_false(g_main_context_iteration(main, FALSE));

    ev_remove(&a);
    event_notifier_set(&a.e);
    test_main_drain(main);
    g_assert_cmpint(a.calls, ==, 1);
    g_assert_cmpint(main_poll_nfds(main), ==, expected_nfds(ctx, 1));

    ev_remove(&b);
    test_main_drain(main);
    settle_nodes(ctx, 0);
    test_detach(ctx, main);
    event_notifier_cleanup(&a.e);
    event_notifier_cleanup(&b.e);
    test_ctx_free(ctx);
}

/*
 * A handler removed between the GSource's check and its dispatch (as a
 * callback of another source dispatched first would): its fd had fired
 * (for io_uring: its POLL_ADD completed after prepare submitted
 * everything, so the removal's POLL_REMOVE is still queued).  It is never
 * called, its node is freed only when nothing refers to it any more
 * (ASan: no use after free), and a handler registered next — likely in
 * the same memory — works.
 */
static void test_gsource_remove_between_check_and_dispatch(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    GPollFD fds[16];
    gint prio, timeout, n;
    Ev a, b;

    ev_init(&a, ctx);
    ev_init(&b, ctx);
    ev_add(&a, false);
    test_main_drain(main);

    event_notifier_set(&a.e);
    g_assert_true(g_main_context_acquire(main));
    g_main_context_prepare(main, &prio);
    n = g_main_context_query(main, prio, &timeout, fds, G_N_ELEMENTS(fds));
    g_assert_cmpint(n, <=, (gint)G_N_ELEMENTS(fds));
    for (int i = 0; i < n; i++) {
        fds[i].revents = 0;
    }
    g_assert_cmpint(g_poll(fds, n, 0), >=, 1);
    g_assert_true(g_main_context_check(main, prio, fds, n));
    ev_remove(&a);
    g_main_context_dispatch(main);
    g_main_context_release(main);
    g_assert_cmpint(a.calls, ==, 0);

    test_main_drain(main);
    g_assert_cmpint(a.calls, ==, 0);

    ev_add(&b, false);
    test_main_drain(main);
    event_notifier_set(&b.e);
    g_assert_true(g_main_context_iteration(main, TRUE));
    g_assert_cmpint(b.calls, ==, 1);
    test_main_drain(main);
    g_assert_cmpint(b.calls, ==, 1);
    g_assert_cmpint(a.calls, ==, 0);

    ev_remove(&b);
    test_main_drain(main);
    settle_nodes(ctx, 0);
    test_detach(ctx, main);
    event_notifier_cleanup(&a.e);
    event_notifier_cleanup(&b.e);
    test_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* External handlers                                                         */
/* ------------------------------------------------------------------------ */

/* Runs blocking aio_poll()s until a timer 30 ms away fires.  Returns: how
 * many it took — a few, unless something readable makes every wait return
 * at once (a spinning loop). */
static int blocking_polls_for_30ms(AioContext *ctx)
{
    int fired = 0, polls = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, count_cb,
                                 &fired);

    timer_mod(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) / SCALE_MS + 30);
    while (!fired) {
        aio_poll(ctx, true);
        polls++;
        g_assert_cmpint(polls, <, 100);
    }
    timer_free(t);
    return polls;
}

/* The same with blocking GLib iterations. */
static int blocking_iterations_for_30ms(AioContext *ctx, GMainContext *main)
{
    int fired = 0, iterations = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, count_cb,
                                 &fired);

    timer_mod(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) / SCALE_MS + 30);
    while (!fired) {
        g_main_context_iteration(main, TRUE);
        iterations++;
        g_assert_cmpint(iterations, <, 100);
    }
    timer_free(t);
    return iterations;
}

/*
 * While external handlers are paused only the others are dispatched, and a
 * paused handler's readable fd does not make the loop spin (epoll and
 * io_uring, which cannot leave one fd out, let fdmon-poll wait meanwhile);
 * after the enable the paused handler is dispatched, once.
 */
static void test_external_aio_poll(void)
{
    AioContext *ctx = test_ctx_new();
    const char *fdmon = fdmon_now(ctx);
    Ev ext, in;

    ev_init(&ext, ctx);
    ev_init(&in, ctx);
    ev_add(&ext, true);
    ev_add(&in, false);
    g_assert_false(aio_poll(ctx, false));

    aio_disable_external(ctx);
    event_notifier_set(&ext.e);
    event_notifier_set(&in.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(ext.calls, ==, 0);
    g_assert_cmpint(in.calls, ==, 1);
    for (int i = 0; i < 3; i++) {
        g_assert_false(aio_poll(ctx, false));
    }
    g_test_message("%d blocking polls in 30 ms while paused",
                   blocking_polls_for_30ms(ctx));
    g_assert_cmpint(ext.calls, ==, 0);
    /* Pausing does not change the monitor in use. */
    g_assert_cmpstr(fdmon_now(ctx), ==, fdmon);

    g_assert_true(aio_enable_external(ctx));
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(ext.calls, ==, 1);
    for (int i = 0; i < 3; i++) {
        aio_poll(ctx, false);
    }
    g_assert_cmpint(ext.calls, ==, 1);

    /* Back on the monitor: it still works. */
    event_notifier_set(&ext.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(ext.calls, ==, 2);
    g_assert_cmpstr(fdmon_now(ctx), ==, fdmon);

    ev_remove(&ext);
    ev_remove(&in);
    settle_nodes(ctx, 0);
    event_notifier_cleanup(&ext.e);
    event_notifier_cleanup(&in.e);
    test_ctx_free(ctx);
}

/*
 * A non-paused handler dispatched (and drained) while external handlers
 * were paused is not called again after the enable: io_read is "called
 * while @fd has G_IO_IN, G_IO_HUP or G_IO_ERR" (aio.h), and its fd is
 * empty.  (On io_uring the POLL_ADD armed before the pause completed
 * meanwhile; its completion is stale by the time io_uring waits again.)
 */
static void test_external_no_stale_call(void)
{
    AioContext *ctx = test_ctx_new();
    Ev ext, in;

    ev_init(&ext, ctx);
    ev_init(&in, ctx);
    ev_add(&ext, true);
    ev_add(&in, false);
    g_assert_false(aio_poll(ctx, false));

    aio_disable_external(ctx);
    event_notifier_set(&in.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(in.calls, ==, 1);
    g_assert_false(aio_poll(ctx, false));

    g_assert_true(aio_enable_external(ctx));
    for (int i = 0; i < 3; i++) {
        aio_poll(ctx, false);
    }
    g_assert_cmpint(in.calls, ==, 1);
    g_assert_cmpint(ext.calls, ==, 0);

    event_notifier_set(&in.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(in.calls, ==, 2);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(in.calls, ==, 2);

    ev_remove(&ext);
    ev_remove(&in);
    settle_nodes(ctx, 0);
    event_notifier_cleanup(&ext.e);
    event_notifier_cleanup(&in.e);
    test_ctx_free(ctx);
}

/* The same through a GMainContext: while paused GLib polls each non-paused
 * fd (whatever the back end), afterwards what it polled before. */
static void test_external_gsource(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    Ev ext, in;

    ev_init(&ext, ctx);
    ev_init(&in, ctx);
    ev_add(&ext, true);
    ev_add(&in, false);
    g_assert_cmpint(main_poll_nfds(main), ==, expected_nfds(ctx, 2));
    test_main_drain(main);

    aio_disable_external(ctx);
    /* The notifier, in, ext (GLib's own wake-up fd), and io_uring's ring
     * fd, where aio_add_sqe() completions still arrive. */
    g_assert_cmpint(main_poll_nfds(main), ==,
                    1 + 1 + 1 + (test_stats(ctx).fdmon == AIO_FDMON_IO_URING));
    event_notifier_set(&ext.e);
    event_notifier_set(&in.e);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(ext.calls, ==, 0);
    g_assert_cmpint(in.calls, ==, 1);
    g_assert_false(g_main_context_iteration(main, FALSE));
    g_test_message("%d blocking iterations in 30 ms while paused",
                   blocking_iterations_for_30ms(ctx, main));
    g_assert_cmpint(ext.calls, ==, 0);

    g_assert_true(aio_enable_external(ctx));
    g_assert_cmpint(main_poll_nfds(main), ==, expected_nfds(ctx, 2));
    test_main_drain(main);
    g_assert_cmpint(ext.calls, ==, 1);

    event_notifier_set(&ext.e);
    g_assert_true(g_main_context_iteration(main, TRUE));
    g_assert_cmpint(ext.calls, ==, 2);
    test_main_drain(main);
    g_assert_cmpint(ext.calls, ==, 2);

    ev_remove(&ext);
    ev_remove(&in);
    test_main_drain(main);
    settle_nodes(ctx, 0);
    test_detach(ctx, main);
    event_notifier_cleanup(&ext.e);
    event_notifier_cleanup(&in.e);
    test_ctx_free(ctx);
}

static void test_external_gsource_no_stale_call(void)
{
    AioContext *ctx = test_ctx_new();
    GMainContext *main = test_attach(ctx);
    Ev ext, in;

    ev_init(&ext, ctx);
    ev_init(&in, ctx);
    ev_add(&ext, true);
    ev_add(&in, false);
    test_main_drain(main);

    aio_disable_external(ctx);
    event_notifier_set(&in.e);
    g_assert_true(g_main_context_iteration(main, FALSE));
    g_assert_cmpint(in.calls, ==, 1);
    g_assert_false(g_main_context_iteration(main, FALSE));

    g_assert_true(aio_enable_external(ctx));
    test_main_drain(main);
    g_assert_cmpint(in.calls, ==, 1);
    g_assert_cmpint(ext.calls, ==, 0);

    ev_remove(&ext);
    ev_remove(&in);
    test_main_drain(main);
    settle_nodes(ctx, 0);
    test_detach(ctx, main);
    event_notifier_cleanup(&ext.e);
    event_notifier_cleanup(&in.e);
    test_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    AioFdMonRequest req;

    g_test_init(&argc, &argv, NULL);
    req = test_fdmon_request();

    g_test_add_func("/fdmon/selected", test_selected);
    g_test_add_func("/fdmon/auto/io_uring-unless-turned-off",
                    test_auto_io_uring_env);
    if (req == AIO_FDMON_REQUEST_IO_URING) { /* once, where it counts */
        g_test_add_func("/fdmon/auto/glib-switches-to-poll",
                        test_auto_glib_switches_to_poll);
        g_test_add_func("/fdmon/auto/glib-switch-from-other-thread",
                        test_auto_glib_switch_from_other_thread);
    }

    switch (req) {
    case AIO_FDMON_REQUEST_AUTO:
        if (test_auto_tries_io_uring()) {
            break; /* auto is io_uring: the io_uring run covers it */
        }
        g_test_add_func("/fdmon/auto/upgrade-at-64", test_auto_upgrade_at_64);
        g_test_add_func("/fdmon/auto/upgrade-dispatches",
                        test_auto_upgrade_dispatches);
        g_test_add_func("/fdmon/auto/stays-epoll-after-removal",
                        test_auto_stays_epoll);
        g_test_add_func("/fdmon/auto/gsource-after-upgrade",
                        test_auto_gsource_after_upgrade);
        break;
    case AIO_FDMON_REQUEST_POLL:
        g_test_add_func("/fdmon/poll/never-switches", test_poll_never_switches);
        break;
    case AIO_FDMON_REQUEST_EPOLL:
        g_test_add_func("/fdmon/epoll/from-start", test_epoll_from_start);
        g_test_add_func("/fdmon/epoll/ctl-failure-falls-back-to-poll",
                        test_epoll_ctl_failure_falls_back);
        g_test_add_func("/fdmon/epoll/ctl-failure-other-thread",
                        test_epoll_ctl_failure_other_thread);
        g_test_add_func("/fdmon/epoll/ctl-failure-sets-fallback-reason",
                        test_epoll_ctl_failure_reason);
        break;
    case AIO_FDMON_REQUEST_IO_URING:
        g_test_add_func("/fdmon/io_uring/gsource-polls-ring-fd",
                        test_io_uring_gsource_polls_ring);
        g_test_add_func("/fdmon/io_uring/gsource-checked-then-aio-poll",
                        test_io_uring_checked_then_aio_poll);
#ifdef CONFIG_LINUX_IO_URING
        g_test_add_func("/fdmon/io_uring/notifier-multishot",
                        test_io_uring_notifier_multishot);
#endif
        break;
    }

    g_test_add_func("/fdmon/handlers/remove-armed-then-write",
                    test_remove_armed_then_write);
    g_test_add_func("/fdmon/handlers/remove-fired-before-poll",
                    test_remove_fired_before_poll);
    g_test_add_func("/fdmon/handlers/replace-1000/polled",
                    test_replace_1000_polled);
    g_test_add_func("/fdmon/handlers/replace-1000/unpolled",
                    test_replace_1000_unpolled);
    g_test_add_func("/fdmon/handlers/remove-from-other-thread-while-ready",
                    test_remove_from_other_thread_while_ready);
    g_test_add_func("/fdmon/handlers/remove-in-own-cb/pending",
                    test_remove_in_own_cb_pending);
    g_test_add_func("/fdmon/handlers/remove-in-own-cb/drained",
                    test_remove_in_own_cb_drained);

    g_test_add_func("/fdmon/gsource/dispatch", test_gsource_dispatch);
    g_test_add_func("/fdmon/gsource/remove-between-check-and-dispatch",
                    test_gsource_remove_between_check_and_dispatch);

    g_test_add_func("/fdmon/external/aio-poll", test_external_aio_poll);
    g_test_add_func("/fdmon/external/gsource", test_external_gsource);
    g_test_add_func("/fdmon/external/no-stale-call-after-enable",
                    test_external_no_stale_call);
    g_test_add_func("/fdmon/external/gsource-no-stale-call-after-enable",
                    test_external_gsource_no_stale_call);

    /* Last: GLib runs suites in the order they were created. */
    g_test_add_func("/fdmon/scale/1000-fds", test_many_fds);
    g_test_add_func("/fdmon/scale/1000-fds-all-ready", test_many_fds_all_ready);
    g_test_add_func("/fdmon/scale/gsource-1000-fds-all-ready",
                    test_gsource_many_fds_all_ready);

    return g_test_run();
}
