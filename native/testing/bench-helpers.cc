/*
 * bench-helpers.cc — native peers and tools for bench/, exported by
 * aiocontext_testing.node (InitBenchHelpers, testing.h).  Not part of the
 * API: names and shapes may change.  The C contexts here are private ones
 * of the helper addon's own copy of the core.
 *
 * Thread round trips (bench/threads.ts; typed in test/helpers/testing.ts):
 *   eventfdRoundTrips(n) -> Float64Array
 *       @n round trips between this thread and a plain std::thread over two
 *       blocking eventfds, each in ns: the kernel's wake-up floor.
 *   tsfnRoundTrips(n, fn) -> Promise<Float64Array>
 *       @n round trips native thread -> napi_threadsafe_function -> this JS
 *       thread (runs @fn) -> eventfd -> native thread, each in ns: Node's
 *       own cross-thread call path.
 *
 * Loop peers and tools (bench/run.ts and the issue-5 benchmarks):
 *   glibIdleRate(n, withFd)
 *                          ns for @n dispatches of a GLib idle source on a
 *                          private GMainContext, all in C (the GLib peer);
 *                          with @withFd the source also watches an eventfd
 *                          that never becomes readable (g_source_add_unix_fd)
 *                          and may recurse, as an AioContext's GSource: the
 *                          GLib peer of a source that other threads can wake
 *   aioBhRate(n, gsource)  ns for @n self-rescheduling C BHs on a private
 *                          AioContext, driven by aio_poll(ctx, true) or, with
 *                          @gsource, by g_main_context_iteration(): the
 *                          core's floor, no JS at all
 *   callJs(fn, n)          ns for @n calls of @fn from C, each in its own
 *                          handle scope: the C -> JS floor of any callback
 *   tryRead(fd)            read(2) of up to 4096 bytes: the count, 0 at EOF,
 *                          or -errno (-EAGAIN when empty); never throws, so a
 *                          busy-poll hook can afford it
 *   writeBytes(fd, n)      write(2) of @n (<= 4096) bytes: the count or
 *                          -errno; never throws
 *   raiseNofileLimit(n)    raises the soft RLIMIT_NOFILE towards @n (capped
 *                          at the hard limit); returns [soft, hard] (-1:
 *                          unlimited)
 *   ppollLateness(n, slack) -> Float64Array
 *                          @n waits in C with ppoll() for the next
 *                          millisecond boundary but one, as poll(true) waits
 *                          for a ms timer; each entry is how late the wait
 *                          ended, in ns (the kernel's floor for timer
 *                          lateness).  @slack > 0 sets this thread's timer
 *                          slack (PR_SET_TIMERSLACK, ns) for the run; 0
 *                          keeps it (50 µs by default)
 *
 * Each runs on the calling thread (plus the threads it starts and joins).
 *
 * SPDX-License-Identifier: MIT
 */
#include "testing.h"

#include "errors.h"
#include "guards.h"

extern "C" {
#include "aio.h"
}

#include <glib.h>

#include <cerrno>
#include <cstdint>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace aiocontext {

static int64_t NowNs()
{
    return qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
}

/* Blocking eventfd helpers: retry on EINTR, ignore other errors (the
 * benchmark then reports nonsense rather than hanging forever). */
static void EfdSignal(int fd)
{
    uint64_t one = 1;
    while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
}

static void EfdWait(int fd)
{
    uint64_t value;
    while (read(fd, &value, sizeof(value)) < 0 && errno == EINTR) {
    }
}

static bool CountArg(const Napi::CallbackInfo &info, size_t i, uint32_t *n)
{
    if (!info[i].IsNumber()) {
        ThrowTypeError(info.Env(),
                       "argument " + std::to_string(i) + " must be a number");
        return false;
    }
    double d = info[i].As<Napi::Number>().DoubleValue();
    if (!(d >= 1 && d <= 100000000) ||
        d != static_cast<double>(static_cast<uint32_t>(d))) {
        ThrowTypeError(info.Env(), "argument " + std::to_string(i) +
                                       " must be a count in [1, 1e8]");
        return false;
    }
    *n = static_cast<uint32_t>(d);
    return true;
}

static Napi::Value ToFloat64Array(Napi::Env env, const std::vector<double> &v)
{
    Napi::Float64Array out = Napi::Float64Array::New(env, v.size());
    for (size_t i = 0; i < v.size(); i++) {
        out[i] = v[i];
    }
    return out;
}

/* ---- eventfd round trips -------------------------------------------------- */

/* eventfdRoundTrips(n) */
static Napi::Value JS_eventfdRoundTrips(const Napi::CallbackInfo &info)
{
    uint32_t n;
    REQUIRE(CountArg(info, 0, &n));
    int ping = eventfd(0, EFD_CLOEXEC);
    int pong = eventfd(0, EFD_CLOEXEC);
    if (ping < 0 || pong < 0) {
        int err = errno;
        if (ping >= 0)
            close(ping);
        if (pong >= 0)
            close(pong);
        ThrowTypeError(info.Env(), std::string("eventfd: ") + g_strerror(err));
        return Napi::Value();
    }
    std::vector<double> times(n);
    std::thread peer([=] {
        for (uint32_t i = 0; i < n; i++) {
            EfdWait(ping);
            EfdSignal(pong);
        }
    });
    for (uint32_t i = 0; i < n; i++) {
        int64_t start = NowNs();
        EfdSignal(ping);
        EfdWait(pong);
        times[i] = static_cast<double>(NowNs() - start);
    }
    peer.join();
    close(ping);
    close(pong);
    return ToFloat64Array(info.Env(), times);
}

/* ---- threadsafe-function round trips ----------------------------------- */

struct TsfnBench {
    napi_threadsafe_function tsfn = nullptr;
    napi_deferred deferred = nullptr;
    napi_ref fn = nullptr;
    int back = -1; /* eventfd: JS thread -> native thread */
    uint32_t n = 0;
    std::vector<double> times;
    std::thread thread;
};

/* On the JS thread: runs the user's function, then wakes the native thread.
 * A throw is reported as uncaught (the round trip still completes). */
static void TsfnCall(napi_env env, napi_value, void *context, void *)
{
    auto *b = static_cast<TsfnBench *>(context);
    if (env) {
        CallReportingUncaught(env, b->fn, 0, nullptr);
    }
    EfdSignal(b->back);
}

/* The native thread: one blocking call per round trip, then lets go. */
static void TsfnThread(TsfnBench *b)
{
    for (uint32_t i = 0; i < b->n; i++) {
        int64_t start = NowNs();
        if (napi_call_threadsafe_function(b->tsfn, nullptr,
                                          napi_tsfn_blocking) != napi_ok) {
            b->times.resize(i);
            break;
        }
        EfdWait(b->back);
        b->times[i] = static_cast<double>(NowNs() - start);
    }
    napi_release_threadsafe_function(b->tsfn, napi_tsfn_release);
}

/* On the JS thread once the native thread released the function: resolves
 * the promise with the times. */
static void TsfnFinalize(napi_env env, void *data, void *)
{
    auto *b = static_cast<TsfnBench *>(data);
    if (b->thread.joinable()) {
        b->thread.join();
    }
    if (env) {
        napi_handle_scope scope;
        napi_open_handle_scope(env, &scope);
        Napi::Value times = ToFloat64Array(Napi::Env(env), b->times);
        napi_resolve_deferred(env, b->deferred, times);
        napi_delete_reference(env, b->fn);
        napi_close_handle_scope(env, scope);
    }
    close(b->back);
    delete b;
}

/* tsfnRoundTrips(n, fn) */
static Napi::Value JS_tsfnRoundTrips(const Napi::CallbackInfo &info)
{
    uint32_t n;
    REQUIRE(CountArg(info, 0, &n));
    REQUIRE_ARG_FUNCTION(1, fn);
    Napi::Env env = info.Env();

    auto *b = new TsfnBench;
    b->n = n;
    b->times.resize(n);
    b->back = eventfd(0, EFD_CLOEXEC);
    if (b->back < 0) {
        int err = errno;
        delete b;
        ThrowTypeError(env, std::string("eventfd: ") + g_strerror(err));
        return Napi::Value();
    }
    napi_value promise, name;
    napi_create_promise(env, &b->deferred, &promise);
    napi_create_reference(env, fn, 1, &b->fn);
    napi_create_string_utf8(env, "aiocontext-bench", NAPI_AUTO_LENGTH, &name);
    if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, b,
                                        TsfnFinalize, b, TsfnCall,
                                        &b->tsfn) != napi_ok) {
        napi_delete_reference(env, b->fn);
        close(b->back);
        delete b;
        ThrowTypeError(env, "napi_create_threadsafe_function failed");
        return Napi::Value();
    }
    b->thread = std::thread(TsfnThread, b);
    return Napi::Value(env, promise);
}

/* ---- GLib idle source (the GLib peer of a BH) ---------------------------- */

struct IdleCount {
    uint64_t done;
    uint64_t target;
};

static gboolean IdleStep(gpointer data)
{
    auto *c = static_cast<IdleCount *>(data);
    return ++c->done < c->target ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* glibIdleRate(n, withFd) */
static Napi::Value JS_glibIdleRate(const Napi::CallbackInfo &info)
{
    uint32_t n;
    REQUIRE(CountArg(info, 0, &n));
    bool withFd = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();

    GMainContext *main = g_main_context_new();
    IdleCount count = {0, n};
    GSource *idle = g_idle_source_new();
    g_source_set_callback(idle, IdleStep, &count, nullptr);
    int fd = withFd ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
    if (fd >= 0) {
        g_source_add_unix_fd(idle, fd, G_IO_IN);
        /* As an AioContext's GSource: without it GLib takes a source's
         * fds out of its poll set around every dispatch (two wake-up
         * writes and a read per iteration). */
        g_source_set_can_recurse(idle, TRUE);
    }
    g_source_attach(idle, main);

    int64_t start = NowNs();
    while (count.done < count.target) {
        g_main_context_iteration(main, FALSE);
    }
    double ns = static_cast<double>(NowNs() - start);

    g_source_destroy(idle);
    g_source_unref(idle);
    g_main_context_unref(main);
    if (fd >= 0) {
        close(fd);
    }
    return Napi::Number::New(info.Env(), ns);
}

/* ---- AioContext BHs in C (the core's floor) ------------------------------ */

struct BhCount {
    QEMUBH *bh;
    uint64_t done;
    uint64_t target;
};

static void BhStep(void *opaque)
{
    auto *c = static_cast<BhCount *>(opaque);
    if (++c->done < c->target) {
        qemu_bh_schedule(c->bh);
    }
}

/* aioBhRate(n, gsource) */
static Napi::Value JS_aioBhRate(const Napi::CallbackInfo &info)
{
    uint32_t n;
    REQUIRE(CountArg(info, 0, &n));
    REQUIRE_ARG_BOOLEAN(1, gsource);

    GError *error = nullptr;
    AioContext *ctx = aio_context_new("bench", &error);
    if (!ctx) {
        ThrowTypeError(info.Env(), error ? error->message : "aio_context_new");
        g_clear_error(&error);
        return Napi::Value();
    }
    GMainContext *main = nullptr;
    if (gsource) {
        main = g_main_context_new();
        aio_context_attach(ctx, main, G_PRIORITY_DEFAULT);
    }
    while (aio_poll(ctx, false)) {
    }

    BhCount count = {nullptr, 0, n};
    count.bh = aio_bh_new(ctx, BhStep, &count);
    qemu_bh_schedule(count.bh);
    int64_t start = NowNs();
    while (count.done < count.target) {
        if (gsource) {
            g_main_context_iteration(main, TRUE);
        } else {
            aio_poll(ctx, true);
        }
    }
    double ns = static_cast<double>(NowNs() - start);

    qemu_bh_delete(count.bh);
    if (gsource) {
        aio_context_detach(ctx);
        g_main_context_unref(main);
    }
    aio_poll(ctx, false); /* frees the deleted BH */
    aio_context_unref(ctx);
    return Napi::Number::New(info.Env(), ns);
}

/* ---- C -> JS floor ------------------------------------------------------- */

/* callJs(fn, n) */
static Napi::Value JS_callJs(const Napi::CallbackInfo &info)
{
    REQUIRE_ARG_FUNCTION(0, fn);
    uint32_t n;
    REQUIRE(CountArg(info, 1, &n));

    napi_env env = info.Env();
    napi_value f = fn, recv, result;
    napi_get_undefined(env, &recv);

    int64_t start = NowNs();
    for (uint32_t i = 0; i < n; i++) {
        napi_handle_scope scope;
        napi_open_handle_scope(env, &scope);
        napi_status status = napi_call_function(env, recv, f, 0, nullptr,
                                                &result);
        napi_close_handle_scope(env, scope);
        if (status != napi_ok) {
            return Napi::Value(); /* the exception propagates */
        }
    }
    return Napi::Number::New(env, static_cast<double>(NowNs() - start));
}

/* ---- raw fd I/O that never throws ---------------------------------------- */

/* tryRead(fd) */
static Napi::Value JS_tryRead(const Napi::CallbackInfo &info)
{
    REQUIRE_ARG_INT32(0, fd);
    char buf[4096];
    ssize_t r;
    do {
        r = read(fd, buf, sizeof(buf));
    } while (r < 0 && errno == EINTR);
    return Napi::Number::New(info.Env(),
                             r < 0 ? -errno : static_cast<double>(r));
}

/* writeBytes(fd, n) */
static Napi::Value JS_writeBytes(const Napi::CallbackInfo &info)
{
    static const char zeros[4096] = {0};
    REQUIRE_ARG_INT32(0, fd);
    REQUIRE_ARG_INT32(1, n);
    if (n < 0 || n > static_cast<int32_t>(sizeof(zeros))) {
        AIO_ARG_FAIL(1, "a count between 0 and 4096");
    }
    ssize_t r;
    do {
        r = write(fd, zeros, static_cast<size_t>(n));
    } while (r < 0 && errno == EINTR);
    return Napi::Number::New(info.Env(),
                             r < 0 ? -errno : static_cast<double>(r));
}

/* raiseNofileLimit(n) */
static Napi::Value JS_raiseNofileLimit(const Napi::CallbackInfo &info)
{
    REQUIRE_ARG_INT64(0, want);
    Napi::Env env = info.Env();
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && want > 0 &&
        static_cast<rlim_t>(want) > rl.rlim_cur) {
        rlim_t target = static_cast<rlim_t>(want);
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? target
                                                   : MIN(target, rl.rlim_max);
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(uint32_t(0),
            Napi::Number::New(env, static_cast<double>(rl.rlim_cur)));
    out.Set(uint32_t(1),
            Napi::Number::New(env, rl.rlim_max == RLIM_INFINITY
                                       ? -1.0
                                       : static_cast<double>(rl.rlim_max)));
    return out;
}

/* ppollLateness(n, slack) */
static Napi::Value JS_ppollLateness(const Napi::CallbackInfo &info)
{
    uint32_t n;
    REQUIRE(CountArg(info, 0, &n));
    REQUIRE_ARG_INT64(1, slack);
    int old_slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);

    if (slack > 0) {
        prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(slack), 0, 0, 0);
    }
    std::vector<double> late(n);
    for (uint32_t i = 0; i < n; i++) {
        int64_t expiry = (NowNs() / SCALE_MS + 2) * SCALE_MS;
        int64_t left;
        while ((left = expiry - NowNs()) > 0) {
            struct timespec ts = {static_cast<time_t>(left / 1000000000),
                                  static_cast<long>(left % 1000000000)};
            ppoll(nullptr, 0, &ts, nullptr);
        }
        late[i] = static_cast<double>(NowNs() - expiry);
    }
    if (slack > 0 && old_slack > 0) {
        prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(old_slack), 0, 0,
              0);
    }
    return ToFloat64Array(info.Env(), late);
}

void InitBenchHelpers(Napi::Env env, Napi::Object exports)
{
    static const HelperFunction helpers[] = {
        {"eventfdRoundTrips", JS_eventfdRoundTrips},
        {"tsfnRoundTrips", JS_tsfnRoundTrips},
        {"glibIdleRate", JS_glibIdleRate},
        {"aioBhRate", JS_aioBhRate},
        {"callJs", JS_callJs},
        {"tryRead", JS_tryRead},
        {"writeBytes", JS_writeBytes},
        {"raiseNofileLimit", JS_raiseNofileLimit},
        {"ppollLateness", JS_ppollLateness},
    };
    ExportHelpers(env, exports, helpers, G_N_ELEMENTS(helpers), nullptr);
}

} // namespace aiocontext
