/*
 * context.c — the AioContext object: life cycle, the GSource that lets any
 * GLib main loop drive it, and the notify protocol.
 *
 * The GSource is a separate small object pointing at the context rather
 * than the context itself (QEMU's layout), because GLib never lets a
 * destroyed source be attached again: detaching destroys the source, and
 * attaching again creates a fresh one that runs the same context.  Each
 * source holds a reference on the context; an attached context holds one
 * on its source, so it lives as long as it is attached.
 *
 * Notify protocol.  notify_me tells notifiers whether someone may be
 * sleeping: bit 0 from GSource prepare until check or dispatch (QEMU: until
 * the next check; see aio_ctx_dispatch()), plus 2 for each aio_poll() that
 * may block.  aio_notify() sets `notified` then, if
 * notify_me is non-zero, writes the eventfd.  Each side issues a full
 * barrier between its write and its read, so at least one of them sees
 * the other: either the sleeper sees the new BH (or `notified`) before
 * sleeping, or the notifier sees notify_me and writes the eventfd.  Only
 * the clearing side is optimised: the eventfd write is never skipped
 * because `notified` was already true (that loses wake-ups).
 *
 * SPDX-License-Identifier: MIT
 */
#include "fdmon.h"
#include "io_uring-file.h"
#include "linux-aio.h"
#include "thread-pool.h"

#include <errno.h>

typedef struct AioSource {
    GSource source;
    AioContext *ctx; /* strong: taken at creation, dropped in finalize */
} AioSource;

static void aio_context_finalize(AioContext *ctx);

/* Every live context, for aio__notify_all().  A context leaves the list
 * before it is freed, under the lock, so a notify never sees a dead one. */
static pthread_mutex_t all_contexts_lock = PTHREAD_MUTEX_INITIALIZER;
static GList *all_contexts;

void aio__notify_all(void)
{
    pthread_mutex_lock(&all_contexts_lock);
    for (GList *l = all_contexts; l; l = l->next) {
        aio_notify(l->data);
    }
    pthread_mutex_unlock(&all_contexts_lock);
}

/* Sets up io_uring.  Returns: NULL, or (newly allocated) why it is not in
 * use. */
static char *try_io_uring(AioContext *ctx)
{
    int ret = aio__fdmon_io_uring_setup(ctx);

    if (ret == 0) {
        return NULL;
    }
    return ret == -ENOSYS
               ? g_strdup("built without liburing")
               : g_strdup_printf("io_uring_queue_init: %s", g_strerror(-ret));
}

/* Sets up the fd monitor asked for.  What stays in place when that fails
 * is ppoll, moving to epoll at AIO_EPOLL_THRESHOLD fds; the reason is kept
 * for the stats. */
static void fdmon_setup(AioContext *ctx, AioFdMonRequest fdmon)
{
    switch (fdmon) {
    case AIO_FDMON_REQUEST_POLL:
        aio__fdmon_epoll_cleanup(ctx); /* never upgrade */
        break;
    case AIO_FDMON_REQUEST_EPOLL:
        if (!aio__fdmon_epoll_try_enable(ctx)) {
            ctx->fdmon_fallback_reason = g_strdup("epoll is not available");
        }
        break;
    case AIO_FDMON_REQUEST_IO_URING:
        ctx->fdmon_fallback_reason = try_io_uring(ctx);
        break;
    case AIO_FDMON_REQUEST_AUTO:
    default:
        ctx->fdmon_auto = true;
        /* An escape hatch, like libuv's UV_USE_IO_URING=0. */
        if (g_strcmp0(g_getenv("AIOCONTEXT_IO_URING"), "0") == 0) {
            ctx->fdmon_fallback_reason = g_strdup(
                "io_uring turned off by AIOCONTEXT_IO_URING=0");
        } else {
            ctx->fdmon_fallback_reason = try_io_uring(ctx);
        }
        break;
    }
}

AioContext *aio_context_new(const char *name, GError **error)
{
    return aio_context_new_full(name, AIO_FDMON_REQUEST_AUTO, error);
}

AioContext *aio_context_new_full(const char *name, AioFdMonRequest fdmon,
                                 GError **error)
{
    AioContext *ctx = g_new0(AioContext, 1);
    int ret;

    ctx->refcount = 1;
    ctx->name = g_strdup(name ? name : "aio-context");
    ctx->home = pthread_self();
    ctx->home_id = aio__thread_id();
    aio__clock_thread_init();
    {
        pthread_mutexattr_t attr;

        pthread_mutexattr_init(&attr);
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
        pthread_mutex_init(&ctx->lock, &attr);
        pthread_mutexattr_destroy(&attr);
    }
    aio__lockcnt_init(&ctx->list_lock);
    pthread_mutex_init(&ctx->bh_all_lock, NULL);
    aio__timerlistgroup_init(ctx, &ctx->tlg);
    ctx->poll_idle_interval_ns = POLL_IDLE_INTERVAL_NS;
    ctx->thread_pool_min = THREAD_POOL_MIN_THREADS_DEFAULT;
    ctx->thread_pool_max = THREAD_POOL_MAX_THREADS_DEFAULT;
    ctx->fdmon_ops = &aio__fdmon_poll_ops;
    ctx->fdmon_pfd.fd = -1;
    aio__fdmon_epoll_setup(ctx);

    ret = event_notifier_init(&ctx->notifier, false);
    if (ret < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-ret),
                    "aiocontext: cannot create the event notifier: %s",
                    g_strerror(-ret));
        goto fail_notifier;
    }
    ret = aio__register_notifier(ctx);
    if (ret < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-ret),
                    "aiocontext: cannot register the event notifier: %s",
                    g_strerror(-ret));
        goto fail_register;
    }
    fdmon_setup(ctx, fdmon);
    pthread_mutex_lock(&all_contexts_lock);
    all_contexts = g_list_prepend(all_contexts, ctx);
    pthread_mutex_unlock(&all_contexts_lock);
    return ctx;

fail_register:
    event_notifier_cleanup(&ctx->notifier);
fail_notifier:
    aio__fdmon_epoll_cleanup(ctx);
    aio__timerlistgroup_deinit(&ctx->tlg);
    pthread_mutex_destroy(&ctx->bh_all_lock);
    aio__lockcnt_destroy(&ctx->list_lock);
    pthread_mutex_destroy(&ctx->lock);
    g_free(ctx->name);
    g_free(ctx);
    return NULL;
}

AioContext *aio_context_ref(AioContext *ctx)
{
    __atomic_fetch_add(&ctx->refcount, 1, __ATOMIC_RELAXED);
    return ctx;
}

void aio_context_unref(AioContext *ctx)
{
    if (__atomic_fetch_sub(&ctx->refcount, 1, __ATOMIC_ACQ_REL) == 1) {
        aio_context_finalize(ctx);
    }
}

static void aio_context_finalize(AioContext *ctx)
{
    /* Every source holds a reference, so none is left. */
    g_assert(ctx->source == NULL && ctx->attached == NULL);

    pthread_mutex_lock(&all_contexts_lock);
    all_contexts = g_list_remove(all_contexts, ctx);
    pthread_mutex_unlock(&all_contexts_lock);

    /* The block engines first: the pool's drain runs callbacks and needs
     * its BHs; the engines' notifiers are handlers. */
    aio__thread_pool_free(ctx);
    aio__linux_aio_free(ctx);
    aio__linux_io_uring_free(ctx);
    aio__co_finalize(ctx);
    aio__bh_finalize(ctx);
    aio__handlers_finalize(ctx);
    event_notifier_cleanup(&ctx->notifier);
    aio__fdmon_io_uring_cleanup(ctx);
    aio__fdmon_epoll_cleanup(ctx);
    g_free(ctx->fdmon_fallback_reason);
    aio__timerlistgroup_deinit(&ctx->tlg);
    pthread_mutex_destroy(&ctx->bh_all_lock);
    aio__lockcnt_destroy(&ctx->list_lock);
    pthread_mutex_destroy(&ctx->lock);
    g_free(ctx->pollfds);
    g_free(ctx->pollnodes);
    g_free(ctx->name);
    g_free(ctx);
}

void aio_context_set_leak_handler(AioContext *ctx, AioLeakFunc *fn,
                                  void *opaque)
{
    ctx->leak_fn = fn;
    ctx->leak_opaque = opaque;
}

const char *aio_context_get_name(AioContext *ctx)
{
    return ctx->name;
}

bool aio_context_in_home_thread(AioContext *ctx)
{
    return aio__in_home_thread(ctx);
}

void aio_context_acquire(AioContext *ctx)
{
    pthread_mutex_lock(&ctx->lock);
}

void aio_context_release(AioContext *ctx)
{
    pthread_mutex_unlock(&ctx->lock);
}

/* ---- wake-ups ---------------------------------------------------------- */

void aio_notify(AioContext *ctx)
{
    /* Make earlier writes (a BH link, timer list, flags) visible before
     * `notified`.  Pairs with smp_mb() in aio_notify_accept(). */
    smp_wmb();
    atomic_set(&ctx->notified, true);
    /* Write `notified` before reading notify_me.  Pairs with smp_mb() in
     * aio_ctx_prepare() and aio_poll(). */
    smp_mb();
    if (atomic_read(&ctx->notify_me)) {
        event_notifier_set(&ctx->notifier);
    }
}

void aio_notify_accept(AioContext *ctx)
{
    /* Nothing to accept: no store and no barrier.  A notify that lands
     * after this load is not lost: it leaves `notified` set, which
     * aio_poll() reads after its smp_mb() before it blocks, and a GSource
     * wait is covered by the notify_me handshake (prepare's smp_mb() before
     * it reads the BH list; aio_notify()'s smp_mb() before it reads
     * notify_me).  What a notify published before this load is read after
     * the acquire, as below after the barrier.  Pairs with smp_wmb() in
     * aio_notify(). */
    if (!atomic_load_acquire(&ctx->notified)) {
        return;
    }
    atomic_set(&ctx->notified, false);
    /* Clear `notified` before reading the BH list, timers and fds, so a
     * notify that comes after is not lost.  Pairs with smp_wmb() in
     * aio_notify(). */
    smp_mb();
}

int64_t aio_compute_timeout(AioContext *ctx)
{
    int64_t timeout = aio__bh_timeout(ctx);
    int64_t deadline;

    if (timeout == 0) {
        return 0;
    }
    deadline = aio__timerlistgroup_deadline_ns(&ctx->tlg);
    if (deadline == 0) {
        return 0;
    }
    return aio__soonest(timeout, deadline);
}

/* Whether a block I/O request is queued or in flight: its completion will
 * run a callback, though the engines' own handlers do not count (they stay
 * registered while idle).  The thread pool first: a worker schedules the
 * completion BH before it stops counting its job as active, so a job is
 * seen either here or as a scheduled BH afterwards.  Home thread. */
static bool block_io_in_flight(AioContext *ctx)
{
    ThreadPoolStats pool;
    LinuxAioState *laio = aio_get_linux_aio(ctx);
    LuringState *luring = aio_get_linux_io_uring(ctx);

    thread_pool_get_stats(ctx, &pool);
    return pool.queued || pool.active || (laio && laio_in_flight(laio)) ||
           (luring && luring_in_flight(luring));
}

bool aio_context_has_armed_work(AioContext *ctx)
{
    unsigned handlers;

    /* The BH lists (a pass's slices on the home thread's stack, BHs the
     * home thread frees) and the block-I/O engines are the home thread's
     * to walk. */
    g_return_val_if_fail(aio_context_in_home_thread(ctx), false);
    /* Cheapest first: a blocking JS poll asks this before every wait, and
     * its common case is a scheduled BH (no lock taken). */
    if (aio__bh_pending(ctx) || aio__timerlistgroup_has_timers(&ctx->tlg)) {
        return true;
    }
    aio__lockcnt_lock(&ctx->list_lock);
    handlers = ctx->nr_handlers;
    aio__lockcnt_unlock(&ctx->list_lock);
    if (handlers > 0 || block_io_in_flight(ctx)) {
        return true;
    }
    /* Again, now that the engines were read: a pool worker schedules its
     * completion BH before it stops counting as active (thread-pool.c's
     * worker_thread(); its unlock pairs with the lock in
     * thread_pool_get_stats()), so a job that finished after the first
     * check shows up here. */
    return aio__bh_pending(ctx);
}

/* ---- observation ------------------------------------------------------- */

void aio_context_set_observer(AioContext *ctx, AioObserverFunc *fn,
                              void *opaque)
{
    g_return_if_fail(aio_context_in_home_thread(ctx));
    ctx->observer = fn;
    ctx->observer_opaque = opaque;
}

void aio__observe(AioContext *ctx, AioEventKind kind, const char *name,
                  int64_t arg, int64_t start_ns)
{
    AioObserverFunc *fn = ctx->observer;

    if (fn) {
        fn(ctx, kind, name, arg, start_ns,
           qemu_clock_get_ns(QEMU_CLOCK_REALTIME), ctx->observer_opaque);
    }
}

/* ---- GSource ----------------------------------------------------------- */

static AioWrongThreadFunc *wrong_thread_fn; /* atomic */
static void *wrong_thread_opaque;

void aio_set_wrong_thread_handler(AioWrongThreadFunc *fn, void *opaque)
{
    atomic_set(&wrong_thread_opaque, opaque);
    atomic_store_release(&wrong_thread_fn, fn);
}

/* Returns: true if the caller is @ctx's home thread; else reports the
 * misuse (a programmer error: the GSource does nothing) and returns false. */
static bool gsource_in_home_thread(AioContext *ctx)
{
    AioWrongThreadFunc *fn;

    if (G_LIKELY(aio_context_in_home_thread(ctx))) {
        return true;
    }
    fn = atomic_load_acquire(&wrong_thread_fn);
    if (fn) {
        fn(ctx, atomic_read(&wrong_thread_opaque));
    } else {
        g_critical("aiocontext: the GSource of '%s' was run outside its "
                   "home thread; nothing was done",
                   ctx->name);
    }
    return false;
}

static gboolean aio_ctx_prepare(GSource *source, gint *timeout)
{
    AioContext *ctx = ((AioSource *)source)->ctx;

    if (!gsource_in_home_thread(ctx)) {
        *timeout = -1;
        return FALSE;
    }

    if (ctx->fdmon_auto) {
        aio__fdmon_io_uring_stop(ctx); /* no-op once switched */
    }
    aio__fdmon_epoll_fallback(ctx);
    /* Not a dispatch phase: a BH scheduled by a callback from here on (an
     * io_poll_end hook in aio__prepare(), or the prepare of a source GLib
     * prepares after this one) must notify (see bh_enqueue()): GLib waits
     * next with the timeout computed here.  Not restored: in a nested
     * iteration the wait comes after the other sources' prepare, and the
     * dispatch that set the flag restores its own value when it ends. */
    ctx->in_dispatch = false;
    atomic_set(&ctx->notify_me, atomic_read(&ctx->notify_me) | 1);
    /* Write notify_me before computing the timeout, i.e. before reading
     * bh_list and the timers.  Pairs with smp_mb() in aio_notify(). */
    smp_mb();

    /* Round up: waking before the deadline would spin until it. */
    *timeout = aio__timeout_ns_to_ms(aio_compute_timeout(ctx));
    ctx->gsource_may_block = *timeout != 0;
    aio__prepare(ctx);
    if (ctx->fdmon_ops->gsource_prepare) {
        ctx->fdmon_ops->gsource_prepare(ctx);
    }
    return *timeout == 0;
}

static gboolean aio_ctx_check(GSource *source)
{
    AioContext *ctx = ((AioSource *)source)->ctx;

    if (!gsource_in_home_thread(ctx)) {
        return FALSE;
    }

    /* Finish computing the timeout before clearing the flag. */
    atomic_store_release(&ctx->notify_me, atomic_read(&ctx->notify_me) & ~1u);
    aio_notify_accept(ctx);
    ctx->counters.blocking_waits += ctx->gsource_may_block;
    ctx->gsource_may_block = false;

    if (aio__bh_pending(ctx)) {
        return TRUE;
    }
    return aio__pending(ctx) || aio__timerlistgroup_deadline_ns(&ctx->tlg) == 0;
}

static gboolean aio_ctx_dispatch(GSource *source, GSourceFunc callback,
                                 gpointer user_data)
{
    AioContext *ctx = ((AioSource *)source)->ctx;
    AioContext *prev;
    AioHandler *ready = NULL;
    bool collected, outer_in_dispatch;
    int64_t start;

    (void)user_data;
    g_assert(callback == NULL);
    if (!gsource_in_home_thread(ctx)) {
        return G_SOURCE_CONTINUE;
    }

    prev = aio__set_current_context(ctx);
    /* [deviation] Clear bit 0 now, not only in check().  When prepare
     * returned TRUE GLib skips check(), and QEMU leaves the bit set until
     * the next iteration's check: every BH scheduled by this dispatch then
     * writes the eventfd, and the next iteration dispatches once more just
     * to drain it.  Nobody can be sleeping in GLib's poll for this source
     * while it dispatches (the home thread is here, and no other thread
     * runs its prepare), and the next prepare sets the bit again, with its
     * smp_mb(), before it reads the BH list and the timers: a notifier that
     * sees the bit clear skips a write nobody needs.  Proven by
     * model/aio-notify.pml (the correct model clears here).  A nested
     * iteration sets and clears the bit itself; a nested aio_poll() uses
     * bits 1-31.  Release: pairs with the atomic read in aio_notify(), as
     * the store in check(). */
    atomic_store_release(&ctx->notify_me, atomic_read(&ctx->notify_me) & ~1u);

    start = ctx->observer ? qemu_clock_get_ns(QEMU_CLOCK_REALTIME) : 0;
    outer_in_dispatch = ctx->in_dispatch;
    ctx->in_dispatch = true;
    aio__lockcnt_inc(&ctx->list_lock);
    /* Readiness as GLib's poll saw it, before the BHs run (see
     * aio__gsource_collect). */
    collected = aio__gsource_collect(ctx, &ready);
    aio_bh_poll(ctx);
    aio__dispatch_handlers(ctx, collected, &ready);
    aio__free_deleted_handlers(ctx);
    aio__lockcnt_dec(&ctx->list_lock);
    aio__timerlistgroup_run_timers(&ctx->tlg);
    ctx->in_dispatch = outer_in_dispatch;
    aio__set_current_context(prev);
    if (start) {
        aio__observe(ctx, AIO_EVENT_GSOURCE, NULL, 0, start);
    }
    return G_SOURCE_CONTINUE;
}

static void aio_ctx_finalize(GSource *source)
{
    AioSource *s = (AioSource *)source;
    AioContext *ctx = s->ctx;

    aio__lockcnt_lock(&ctx->list_lock);
    if (ctx->source == source) {
        ctx->source = NULL;
    }
    /* Its address may be reused by the next source: no node may still
     * believe it is in that one. */
    aio__gsource_forget_locked(ctx, source);
    aio__lockcnt_unlock(&ctx->list_lock);
    aio_context_unref(ctx);
}

static GSourceFuncs aio_source_funcs = {
    .prepare = aio_ctx_prepare,
    .check = aio_ctx_check,
    .dispatch = aio_ctx_dispatch,
    .finalize = aio_ctx_finalize,
};

GSource *aio_get_g_source(AioContext *ctx)
{
    GSource *source;

    aio__lockcnt_lock(&ctx->list_lock);
    source = ctx->source;
    if (source && !g_source_is_destroyed(source)) {
        g_source_ref(source);
        aio__lockcnt_unlock(&ctx->list_lock);
        return source;
    }
    source = g_source_new(&aio_source_funcs, sizeof(AioSource));
    ((AioSource *)source)->ctx = aio_context_ref(ctx);
    g_source_set_name(source, ctx->name);
    g_source_set_can_recurse(source, TRUE);
    ctx->source = source;
    aio__lockcnt_unlock(&ctx->list_lock);

    /* auto: GLib will drive it (else the first prepare switches). */
    if (ctx->fdmon_auto && aio_context_in_home_thread(ctx)) {
        aio__fdmon_io_uring_stop(ctx);
    }
    /* Register every fd with the new source. */
    aio__gsource_sync_all(ctx);
    return source;
}

int aio_context_attach(AioContext *ctx, GMainContext *main, int priority)
{
    GSource *source;
    guint id;

    g_return_val_if_fail(aio_context_in_home_thread(ctx), -EPERM);
    if (ctx->attached && !g_source_is_destroyed(ctx->attached)) {
        return -EBUSY;
    }
    if (ctx->attached) {
        /* Destroyed behind our back (its GMainContext went away). */
        g_source_unref(ctx->attached);
        ctx->attached = NULL;
    }
    source = aio_get_g_source(ctx);
    g_source_set_priority(source, priority);
    id = g_source_attach(source, main);
    ctx->attached = source; /* keeps the reference from get_g_source */
    return (int)id;
}

void aio_context_detach(AioContext *ctx)
{
    GSource *source = ctx->attached;

    g_return_if_fail(aio_context_in_home_thread(ctx));
    if (!source) {
        return;
    }
    ctx->attached = NULL;
    g_source_destroy(source);
    /* No prepare will be followed by a check any more. */
    atomic_set(&ctx->notify_me, atomic_read(&ctx->notify_me) & ~1u);
    /* Outside any lock: this may finalize the source (and the context). */
    g_source_unref(source);
}

guint aio_context_source_id(AioContext *ctx)
{
    GSource *source = ctx->attached;

    if (!source || g_source_is_destroyed(source)) {
        return 0;
    }
    return g_source_get_id(source);
}

/* ---- introspection ----------------------------------------------------- */

void aio_context_get_stats(AioContext *ctx, AioContextStats *stats)
{
    int64_t poll_ns = 0;

    memset(stats, 0, sizeof(*stats));
    stats->notify_me = atomic_read(&ctx->notify_me);
    stats->notified = atomic_read(&ctx->notified);
    stats->poll_started = ctx->poll_started;
    /* A getter changes nothing: poll params set from another thread since
     * the last aio_poll() will reset every poll time to 0 there (see
     * aio__poll_params_sync), so that is what is reported meanwhile. */
    if (!aio__poll_params_pending(ctx)) {
        for (AioHandler *node = ctx->poll_handlers; node;
             node = node->poll_next) {
            poll_ns = MAX(poll_ns, node->poll_ns);
        }
    }
    stats->poll_ns = poll_ns;
    aio__lockcnt_lock(&ctx->list_lock);
    stats->handlers = ctx->nr_handlers;
    /* An epoll_ctl failure not yet acted on: poll is what it will be. */
    stats->fdmon = atomic_read(&ctx->epoll.failed) ? AIO_FDMON_POLL
                                                   : ctx->fdmon_ops->kind;
    stats->fdmon_fallback_reason = ctx->fdmon_fallback_reason;
    aio__lockcnt_unlock(&ctx->list_lock);
    stats->bhs = (unsigned)atomic_read(&ctx->nr_bhs);
    stats->timers = (unsigned)atomic_read(&ctx->nr_timers);
    if (aio_context_in_home_thread(ctx)) {
        stats->counters = ctx->counters; /* the home thread's own */
    }
}

const char *aio_fdmon_name(AioFdMonKind kind)
{
    switch (kind) {
    case AIO_FDMON_EPOLL: return "epoll";
    case AIO_FDMON_IO_URING: return "io_uring";
    case AIO_FDMON_POLL:
    default: return "poll";
    }
}
