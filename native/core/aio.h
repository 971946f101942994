/*
 * aio.h — the aiocontext core: QEMU's AioContext event loop on GLib.
 *
 * An AioContext runs three kinds of callbacks: bottom halves (deferred calls
 * that any thread may schedule), fd handlers (called when a file descriptor is
 * readable or writable) and timers.  It can be driven directly with aio_poll()
 * or by any GLib main loop through the GSource returned by aio_get_g_source().
 *
 * This header is the whole public API of the core.  It knows nothing about
 * JavaScript: every callback is a C function pointer plus an opaque pointer.
 *
 * Thread safety is stated for every function: "any thread" means the call may
 * race with aio_poll() in the home thread; "home thread only" means the thread
 * that created the context (see aio_context_in_home_thread()).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_AIO_H
#define AIOCONTEXT_AIO_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

G_BEGIN_DECLS

typedef struct AioContext AioContext;
typedef struct QEMUBH QEMUBH;
typedef struct QEMUTimer QEMUTimer;
typedef struct AioHandler AioHandler;

typedef void QEMUBHFunc(void *opaque);
typedef void IOHandler(void *opaque);
typedef bool AioPollFn(void *opaque);
typedef void QEMUTimerCB(void *opaque);
typedef bool AioFlushHandler(void *opaque);

/* ------------------------------------------------------------------------ */
/* Event notifier (eventfd, or a pipe where eventfd is missing)              */
/* ------------------------------------------------------------------------ */

/**
 * EventNotifier:
 * @rfd: the descriptor to poll for G_IO_IN
 * @wfd: the descriptor written by event_notifier_set(); equal to @rfd for an
 *       eventfd, the write end for the pipe fallback
 * @initialized: true between init and cleanup
 *
 * A level-triggered wake-up flag that a poll(2) can wait on.
 */
typedef struct EventNotifier {
    int rfd;
    int wfd;
    bool initialized;
} EventNotifier;

/**
 * event_notifier_init:
 * @e: the notifier to initialise
 * @active: whether it starts set
 *
 * Creates a non-blocking, close-on-exec eventfd (or a pipe if the kernel has
 * no eventfd).  Any thread.
 *
 * Returns: 0, or a negative errno.
 */
int event_notifier_init(EventNotifier *e, bool active);

/**
 * event_notifier_cleanup:
 * @e: the notifier; may already be cleaned up (then nothing happens)
 *
 * Closes the descriptors.  The caller must have unregistered @e first.
 */
void event_notifier_cleanup(EventNotifier *e);

/**
 * event_notifier_get_fd:
 * Returns: the descriptor to poll for readability.
 */
int event_notifier_get_fd(const EventNotifier *e);

/**
 * event_notifier_set:
 * @e: the notifier
 *
 * Makes @e readable.  A full counter (EAGAIN) already counts as set.  Any
 * thread; async-signal-safe.
 *
 * Returns: 0, or a negative errno.
 */
int event_notifier_set(EventNotifier *e);

/**
 * event_notifier_test_and_clear:
 * @e: the notifier
 *
 * Drains @e.  Any thread.
 *
 * Returns: true if @e was set.
 */
bool event_notifier_test_and_clear(EventNotifier *e);

/* ------------------------------------------------------------------------ */
/* Context life cycle                                                        */
/* ------------------------------------------------------------------------ */

/**
 * AioLeakFunc:
 * @name: the name given to aio_bh_new() of a BH that was never deleted
 * @opaque: the pointer given to aio_context_set_leak_handler()
 *
 * Told about each leaked BH when a context is finalized.
 */
typedef void AioLeakFunc(const char *name, void *opaque);

/**
 * AioFdMonRequest:
 * @AIO_FDMON_REQUEST_AUTO: io_uring, as in QEMU; where io_uring cannot be
 *   set up (or the environment variable AIOCONTEXT_IO_URING is "0"), ppoll,
 *   switching to epoll for good once a wait has 64 fds.  Once GLib drives
 *   the context (its GSource is made: aio_get_g_source(), attach), it moves
 *   from io_uring to that ppoll-then-epoll for good, as QEMU did before
 *   10.2: a GLib wake-up costs fewer syscalls there
 * @AIO_FDMON_REQUEST_POLL: ppoll only
 * @AIO_FDMON_REQUEST_EPOLL: epoll from the start
 * @AIO_FDMON_REQUEST_IO_URING: io_uring (one-shot POLL_ADD per fd)
 *
 * The fd monitor a new context should use.  When the one asked for cannot
 * be set up, the context falls back to ppoll-then-epoll and says why
 * through aio_context_get_stats() (fdmon_fallback_reason).
 */
typedef enum {
    AIO_FDMON_REQUEST_AUTO,
    AIO_FDMON_REQUEST_POLL,
    AIO_FDMON_REQUEST_EPOLL,
    AIO_FDMON_REQUEST_IO_URING,
} AioFdMonRequest;

/**
 * aio_context_new_full:
 * @name: (nullable): the GSource name; NULL means "aio-context"
 * @fdmon: the fd monitor to use
 * @error: return location for a GError
 *
 * Creates a context whose home thread is the calling thread.  It starts
 * with one reference and polling off (poll max 0).
 *
 * Like QEMU's clock initialization, this sets the calling thread's timer
 * slack to 1 ns (PR_SET_TIMERSLACK; the default is 50 us), so that its
 * timed waits end when asked.  Threads created later by this one inherit
 * it.
 *
 * Returns: (transfer full): the context, or NULL with @error set.
 */
AioContext *aio_context_new_full(const char *name, AioFdMonRequest fdmon,
                                 GError **error);

/** aio_context_new: aio_context_new_full() with AIO_FDMON_REQUEST_AUTO. */
AioContext *aio_context_new(const char *name, GError **error);

/** aio_context_ref: takes a reference.  Any thread.  Returns: @ctx. */
AioContext *aio_context_ref(AioContext *ctx);

/**
 * aio_context_unref:
 * @ctx: the context
 *
 * Drops a reference.  The last one finalizes the context: remaining BHs are
 * freed (those never deleted are reported through the leak handler, or with
 * g_warning() if none is set) and remaining fd handlers are removed (their
 * callbacks are never called again).  Timers belong to their creator, who
 * must timer_free() them before the last reference goes; any still armed
 * are disarmed.  An attached context holds a reference through its GSource
 * (see aio_context_attach()), and aio_poll() holds one while it runs, so
 * the last reference may be dropped from inside a callback.  Home thread
 * only for the last reference.
 */
void aio_context_unref(AioContext *ctx);

/**
 * aio_context_set_leak_handler:
 * @ctx: the context
 * @fn: (nullable): called once per leaked BH during finalization
 * @opaque: passed to @fn
 *
 * Home thread only.
 */
void aio_context_set_leak_handler(AioContext *ctx, AioLeakFunc *fn,
                                  void *opaque);

/** aio_context_get_name: Returns: (transfer none): the name. Any thread. */
const char *aio_context_get_name(AioContext *ctx);

/**
 * aio_context_in_home_thread:
 * Returns: true if the calling thread created @ctx.  Any thread.
 */
bool aio_context_in_home_thread(AioContext *ctx);

/**
 * aio_context_acquire:
 * @ctx: the context
 *
 * Takes the context's recursive lock (the 2017–2023 QEMU API).  It protects
 * nothing inside the core; callers use it to serialise their own access.
 * Any thread.
 */
void aio_context_acquire(AioContext *ctx);

/** aio_context_release: releases one level of aio_context_acquire(). */
void aio_context_release(AioContext *ctx);

/* ------------------------------------------------------------------------ */
/* GSource integration                                                       */
/* ------------------------------------------------------------------------ */

/**
 * AioWrongThreadFunc:
 * @ctx: the context whose GSource was run outside its home thread
 * @opaque: the pointer given to aio_set_wrong_thread_handler()
 *
 * Told when a GMainContext iterated by a thread other than @ctx's home
 * thread tried to prepare, check or dispatch @ctx's GSource.  The source
 * then does nothing (no callback runs there); its callbacks run when the
 * home thread drives it.  Called on the foreign thread.
 */
typedef void AioWrongThreadFunc(AioContext *ctx, void *opaque);

/**
 * aio_set_wrong_thread_handler:
 * @fn: (nullable): the handler; NULL restores the default, a g_critical()
 * @opaque: passed to @fn
 *
 * Process-wide, like GLib's log handlers.  Any thread.
 */
void aio_set_wrong_thread_handler(AioWrongThreadFunc *fn, void *opaque);

/**
 * aio_get_g_source:
 * @ctx: the context
 *
 * Returns the GSource that drives @ctx from a GMainContext, creating a new
 * one if there is none or the previous one was destroyed (a destroyed
 * GSource cannot be attached again, so detach-then-attach gets a fresh
 * source running the same context).  The source keeps @ctx alive; it is
 * named after the context and can recurse.  Home thread only.
 *
 * Differs from QEMU in one point: its dispatch clears bit 0 of notify_me
 * (the "GLib may be sleeping" bit) when it starts.  QEMU clears it only in
 * check(), which GLib skips when prepare returned TRUE (a BH was
 * scheduled), so there every aio_notify() made during that dispatch (each
 * BH scheduled by a callback) writes the eventfd and the next
 * g_main_context_iteration() returns TRUE only to drain it.  Here such a
 * notify writes nothing and that extra iteration does not happen: a
 * self-rescheduling BH costs one poll per iteration, as a GLib idle source
 * does.  No wake-up can be lost (model/aio-notify.pml).
 *
 * Returns: (transfer full): a new reference to the source.
 */
GSource *aio_get_g_source(AioContext *ctx);

/**
 * aio_context_attach:
 * @ctx: the context
 * @main: (nullable): the GMainContext, NULL for the default one
 * @priority: the GSource priority (G_PRIORITY_DEFAULT is 0)
 *
 * Attaches the context's GSource to @main.  Fails with -EBUSY if already
 * attached.  Home thread only.
 *
 * Returns: the source id (> 0), or a negative errno.
 */
int aio_context_attach(AioContext *ctx, GMainContext *main, int priority);

/**
 * aio_context_detach:
 * @ctx: the context
 *
 * Destroys the attached GSource, if any; aio_context_attach() may be called
 * again afterwards.  Clears the GSource waiter bit of notify_me.  Home
 * thread only.
 */
void aio_context_detach(AioContext *ctx);

/**
 * aio_context_source_id:
 * Returns: the id of the attached source, or 0 when detached.  Home thread.
 */
guint aio_context_source_id(AioContext *ctx);

/* ------------------------------------------------------------------------ */
/* Wake-ups                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * aio_notify:
 * @ctx: the context
 *
 * Forces the next or current wait of @ctx (aio_poll() or the GLib poll of
 * its GSource) to return.  Sets `notified`, and writes the event notifier
 * only when someone may be waiting (notify_me != 0).  Any thread.
 */
void aio_notify(AioContext *ctx);

/**
 * aio_notify_accept:
 * @ctx: the context
 *
 * Clears `notified` after a wait.  Home thread only.
 */
void aio_notify_accept(AioContext *ctx);

/**
 * aio_compute_timeout:
 * @ctx: the context
 *
 * Home thread only.
 *
 * Returns: how long a blocking wait may last, in ns: 0 if a BH is scheduled
 * or a timer expired, 10 ms if only idle BHs are scheduled (or sooner for a
 * timer), -1 for "forever".
 */
int64_t aio_compute_timeout(AioContext *ctx);

/**
 * aio_context_has_armed_work:
 * @ctx: the context
 *
 * Whether @ctx has work that will run without anything else happening to
 * it: an fd handler other than the context's own notifier, an armed timer
 * (on any clock, a stopped virtual clock included), a scheduled BH (idle
 * ones included), or a block I/O request queued or in flight (thread pool,
 * Linux AIO, io_uring file engine; the
 * engines' own handlers, registered while idle too, do not count).  A
 * foreign loop uses it to decide whether an attached context keeps the
 * process alive, as libuv's active handles do; a blocking JS poll, whether
 * it could ever return.  Unlike aio_compute_timeout() it reads no clock.
 * Not in QEMU.
 *
 * Home thread only (it walks the BH lists the home thread consumes and
 * frees); elsewhere it returns false with a critical.  The answer is stale
 * as soon as another thread arms or removes work.
 *
 * Returns: true if anything is armed.
 */
bool aio_context_has_armed_work(AioContext *ctx);

/**
 * aio_poll:
 * @ctx: the context
 * @blocking: whether to wait for something to happen
 *
 * Runs one iteration of the loop: waits for fds (up to the next timer
 * deadline when @blocking, not at all otherwise), then runs scheduled BHs,
 * ready fd handlers and expired timers, in that order.  Must not run
 * concurrently with the GSource callbacks of @ctx.  Home thread only.
 *
 * Returns: true if a user callback ran (a non-idle BH, an fd handler other
 * than the context's own notifier, a poll hit, a timer).  A wake-up by
 * aio_notify() alone is not progress, so aio_poll(ctx, true) may return
 * false.
 */
bool aio_poll(AioContext *ctx, bool blocking);

/* ------------------------------------------------------------------------ */
/* Bottom halves                                                             */
/* ------------------------------------------------------------------------ */

/**
 * aio_bh_new_full:
 * @ctx: the context that will run the BH
 * @cb: the callback
 * @opaque: passed to @cb and @destroy
 * @name: (nullable): for leak reports; NULL means "bh"; copied
 * @destroy: (nullable): called with @opaque when the core frees the BH (from
 *           the loop after qemu_bh_delete(), or at finalization); never while
 *           @cb runs
 *
 * Allocates a BH; nothing is scheduled.  Any thread.
 *
 * Returns: (transfer full): the BH; free it with qemu_bh_delete().
 */
QEMUBH *aio_bh_new_full(AioContext *ctx, QEMUBHFunc *cb, void *opaque,
                        const char *name, GDestroyNotify destroy);

/** aio_bh_new: aio_bh_new_full() without a name or destroy notify. */
QEMUBH *aio_bh_new(AioContext *ctx, QEMUBHFunc *cb, void *opaque);

/**
 * aio_bh_schedule_oneshot_full:
 * @ctx: the context
 * @cb: called once, then the BH is freed
 * @opaque: passed to @cb and @destroy
 * @name: (nullable): a name, as aio_bh_new_full()
 * @destroy: (nullable): called with @opaque when the BH is freed (after @cb
 *           ran, or at finalization if it never did)
 *
 * Schedules a call to @cb without a handle: it cannot be cancelled.  The
 * best way to hand work to another thread's context.  Any thread.
 */
void aio_bh_schedule_oneshot_full(AioContext *ctx, QEMUBHFunc *cb, void *opaque,
                                  const char *name, GDestroyNotify destroy);

/** aio_bh_schedule_oneshot: the same, without a name or destroy notify. */
void aio_bh_schedule_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque);

/**
 * qemu_bh_schedule:
 * @bh: the BH
 *
 * Schedules @bh to run in the next BH pass of its context, and notifies the
 * context.  Scheduling a BH that is already pending merges into that
 * pending run.  Any thread.
 *
 * Differs from QEMU: called on the home thread from a callback of the
 * context's own dispatch (its BHs, fd handlers and timers, run by
 * aio_poll() or by the GSource), it does not notify: nobody can be waiting
 * then, and every wait reads the BH list before it blocks, so the two full
 * barriers of aio_notify() and aio_notify_accept() are saved.  Only the
 * `notified` flag (aio_context_get_stats()) shows it.
 */
void qemu_bh_schedule(QEMUBH *bh);

/**
 * qemu_bh_schedule_idle:
 * @bh: the BH
 *
 * Like qemu_bh_schedule(), but the BH only makes a blocking wait last at
 * most 10 ms instead of not waiting, and running it is not progress.  Any
 * thread.
 */
void qemu_bh_schedule_idle(QEMUBH *bh);

/**
 * qemu_bh_cancel:
 * @bh: the BH
 *
 * Clears the scheduled flag; the BH stays linked until the loop next sees
 * it.  Racy against a loop in another thread that has already taken the
 * flags: the callback may still run once.  Any thread.
 */
void qemu_bh_cancel(QEMUBH *bh);

/**
 * qemu_bh_delete:
 * @bh: the BH
 *
 * Marks @bh deleted: its callback will never run again, and the loop frees
 * it on its next BH pass (calling the destroy notify).  Safe from the BH's
 * own callback.  @bh must not be used afterwards.  Any thread.
 */
void qemu_bh_delete(QEMUBH *bh);

/**
 * qemu_bh_is_scheduled:
 * Returns: whether @bh is scheduled and not deleted.  Any thread.
 */
bool qemu_bh_is_scheduled(QEMUBH *bh);

/**
 * aio_bh_poll:
 * @ctx: the context
 *
 * Runs the scheduled BHs: one slice per call (BHs scheduled meanwhile run on
 * the next call), plus the unfinished slices of enclosing calls.  Home thread
 * only; used by aio_poll() and the GSource dispatch.
 *
 * Returns: true if a non-idle BH ran.
 */
bool aio_bh_poll(AioContext *ctx);

/* ------------------------------------------------------------------------ */
/* fd handlers                                                               */
/* ------------------------------------------------------------------------ */

/**
 * aio_set_fd_handler:
 * @ctx: the context
 * @fd: an open file descriptor
 * @is_external: whether aio_disable_external() pauses this handler
 * @io_read: (nullable): called while @fd has G_IO_IN, G_IO_HUP or G_IO_ERR
 * @io_write: (nullable): called while @fd has G_IO_OUT or G_IO_ERR
 * @io_poll: (nullable): busy-poll hook; true means it found work
 * @io_poll_ready: (nullable): called when @io_poll found work; without it
 *                 @io_poll is ignored
 * @opaque: passed to all callbacks
 *
 * Registers, replaces (there is one handler per fd) or, with all of
 * @io_read, @io_write and @io_poll NULL, removes the handler of @fd.  A
 * replaced or removed handler's callbacks are never called after this
 * returns, even if its callback is running now (that is safe).  Notifies
 * the context.  Any thread.
 *
 * Returns: 0; -EBADF if @fd is not open (nothing changes); -EINVAL for a
 * negative @fd.
 */
int aio_set_fd_handler(AioContext *ctx, int fd, bool is_external,
                       IOHandler *io_read, IOHandler *io_write,
                       AioPollFn *io_poll, IOHandler *io_poll_ready,
                       void *opaque);

/**
 * aio_set_fd_poll:
 * @ctx: the context
 * @fd: a descriptor with a registered handler
 * @io_poll_begin: (nullable): called when busy polling starts
 * @io_poll_end: (nullable): called when busy polling stops
 *
 * Home thread only.
 *
 * Returns: 0, or -ENOENT if @fd has no handler.
 */
int aio_set_fd_poll(AioContext *ctx, int fd, IOHandler *io_poll_begin,
                    IOHandler *io_poll_end);

/**
 * aio_set_event_notifier:
 * @ctx: the context
 * @e: the notifier; its read descriptor is registered
 * @is_external: as aio_set_fd_handler()
 * @io_read: (nullable): called with @e when it is readable
 * @io_poll: (nullable): busy-poll hook, called with @e
 * @io_poll_ready: (nullable): as aio_set_fd_handler(), called with @e
 *
 * Registers @e's read descriptor with @e itself as the opaque pointer and
 * no write handler.  All NULL removes it.  Any thread.
 *
 * Returns: as aio_set_fd_handler().
 */
typedef void EventNotifierHandler(EventNotifier *e);
int aio_set_event_notifier(AioContext *ctx, EventNotifier *e, bool is_external,
                           EventNotifierHandler *io_read, AioPollFn *io_poll,
                           EventNotifierHandler *io_poll_ready);

/**
 * aio_set_event_notifier_poll:
 * Sets the poll begin/end hooks of @e's handler.  Home thread only.
 * Returns: as aio_set_fd_poll().
 */
int aio_set_event_notifier_poll(AioContext *ctx, EventNotifier *e,
                                EventNotifierHandler *io_poll_begin,
                                EventNotifierHandler *io_poll_end);

/**
 * aio_disable_external:
 * @ctx: the context
 *
 * Pauses the handlers registered with @is_external (they are neither polled
 * nor dispatched).  Counted: each call needs one aio_enable_external().  Any
 * thread.
 */
void aio_disable_external(AioContext *ctx);

/**
 * aio_enable_external:
 * @ctx: the context
 *
 * Undoes one aio_disable_external(); the last one notifies the context.
 * Any thread.
 *
 * Returns: true, or false (and nothing changes) if external handlers were
 * not disabled.
 */
bool aio_enable_external(AioContext *ctx);

/** aio_external_disabled: Returns: whether external handlers are paused. */
bool aio_external_disabled(AioContext *ctx);

/**
 * aio_context_set_poll_params:
 * @ctx: the context
 * @max_ns: the longest busy-poll, in ns; 0 turns polling off
 * @grow: the factor by which the poll time grows; 0 means 2
 * @shrink: the divisor by which it shrinks; 0 means "reset to 0"
 *
 * Resets every handler's adaptive poll time to 0 and notifies.  Any thread
 * (a stale value read once is harmless).
 */
void aio_context_set_poll_params(AioContext *ctx, int64_t max_ns, int64_t grow,
                                 int64_t shrink);

/* ------------------------------------------------------------------------ */
/* io_uring requests on the fd monitor's ring (QEMU 10.2's aio_add_sqe)      */
/* ------------------------------------------------------------------------ */

/*
 * When a context's fd monitor is io_uring, other code may put its own
 * requests (SQEs) on the monitor's ring instead of keeping a ring of its
 * own: the io_uring file engine does (io_uring-file.h).  Their completions
 * (CQEs) are told apart from the monitor's POLL_ADDs by a tag in
 * user_data, copied into the caller's CqeHandler, and its callback runs in
 * the loop in the same phase as fd handlers (aio_poll() and the GSource
 * dispatch), counting as progress.
 *
 * Where we differ from QEMU 10.2: each call names the context, because
 * our "current context" (qemu_get_current_aio_context(), coroutine.h)
 * exists only while a loop runs, and requests are also added from
 * outside one (a file read submitted by JS); the copied CQE is our own mirror of struct
 * io_uring_cqe, so that this header does not need liburing; and
 * cqe_handler may be NULL for a request whose completion nobody needs
 * (an ASYNC_CANCEL).
 *
 * The monitor gives up its ring when an auto context gives way to ppoll
 * under GLib (see aio_get_g_source()).  Requests added here that are
 * still in the kernel then are not waited for (a read of a pipe may never
 * end): the ring stays open, watched by the loop, until the last of them
 * completed, and their callbacks run in the loop as before.  New requests
 * cannot go there: callers must ask aio_has_io_uring() before each
 * aio_add_sqe().
 */

typedef struct CqeHandler CqeHandler;
typedef void CqeHandlerFunc(CqeHandler *cqe_handler);

/**
 * CqeHandler:
 * @cb: called in the home thread, in the loop, with the completion
 * @cqe: the completion, copied in before @cb runs (res: the result or a
 *   negative errno; flags: IORING_CQE_F_*)
 *
 * Embedded by the caller, who owns it; it must stay valid until @cb ran.
 */
struct CqeHandler {
    CqeHandlerFunc *cb;
    struct {
        uint64_t user_data;
        int32_t res;
        uint32_t flags;
    } cqe;
    CqeHandler *next; /* private: the context's ready FIFO */
};

/**
 * aio_has_io_uring:
 * Returns: whether @ctx's fd monitor is io_uring now, i.e. whether
 * aio_add_sqe() may be called.  It turns false for good when an auto
 * context is handed to GLib.  Home thread only.
 */
bool aio_has_io_uring(AioContext *ctx);

/**
 * aio_add_sqe:
 * @ctx: the context, whose fd monitor must be io_uring (aio_has_io_uring())
 * @prep_sqe: fills the SQE (io_uring_prep_*); must not set user_data,
 *   which aio_add_sqe() sets afterwards
 * @opaque: passed to @prep_sqe
 * @cqe_handler: (nullable): receives the CQE; NULL ignores it
 *
 * Adds one request to @ctx's monitor ring.  It goes to the kernel at the
 * next wait of the loop (aio_poll(), the GSource prepare, or the start of
 * busy polling), batched with everything else added meanwhile, or at once
 * if the submission queue is full.  Home thread only.
 */
struct io_uring_sqe;
void aio_add_sqe(AioContext *ctx,
                 void (*prep_sqe)(struct io_uring_sqe *sqe, void *opaque),
                 void *opaque, CqeHandler *cqe_handler);

/* ------------------------------------------------------------------------ */
/* The 2012 API: flushing and the default context                           */
/* ------------------------------------------------------------------------ */

/*
 * QEMU 1.3 (2012) waited for I/O by asking each fd handler whether it had
 * requests in flight (io_flush) and polling until none had.  Later QEMU
 * replaced that with explicit counters and AIO_WAIT_WHILE(); these are here
 * so that code written against the old header runs unchanged in spirit.
 */

/**
 * aio_set_fd_handler_flush:
 * @io_flush: (nullable): returns true while the handler has requests in
 *            flight; aio_flush() polls until every io_flush says false.
 *            A handler without one never holds up aio_flush()
 *
 * aio_set_fd_handler() plus the 2012 io_flush callback (2012's
 * aio_set_fd_handler took it in place of @is_external and the poll
 * hooks).  @io_flush alone does not register a handler: with @io_read,
 * @io_write and @io_poll NULL the handler is removed.  Any thread.
 * Replaced in QEMU by aio_set_fd_handler() without io_flush (2013) and
 * in-flight counters waited on with AIO_WAIT_WHILE().
 *
 * Returns: as aio_set_fd_handler().
 */
int aio_set_fd_handler_flush(AioContext *ctx, int fd, bool is_external,
                             IOHandler *io_read, IOHandler *io_write,
                             AioFlushHandler *io_flush, AioPollFn *io_poll,
                             IOHandler *io_poll_ready, void *opaque);

/**
 * aio_pending:
 * @ctx: the context
 *
 * Whether aio_poll(@ctx, false) would run a callback now: a BH is
 * scheduled, a timer has expired, a handler's fd is ready (checked
 * with a poll(2) that does not wait), or an aio_add_sqe() request has
 * completed.  Nothing runs.  Home thread only.
 * In QEMU the GSource's check used it; it became an internal detail.
 */
bool aio_pending(AioContext *ctx);

/**
 * aio_flush:
 * @ctx: the context
 *
 * Polls @ctx (blocking) until no BH is scheduled and no handler's
 * io_flush reports requests in flight.  Returns at once if nothing is in
 * flight.  Home thread only.  Replaced in QEMU by bdrv_drain_all() and
 * AIO_WAIT_WHILE(ctx, in_flight > 0).
 */
void aio_flush(AioContext *ctx);

/**
 * qemu_get_aio_context:
 *
 * The process's default context, made by the first call (whose thread
 * becomes its home thread), for qemu_aio_wait() and qemu_aio_flush().
 * Never freed.  Any thread after the first call.
 *
 * Returns: (transfer none): the default context.
 */
AioContext *qemu_get_aio_context(void);

/**
 * qemu_aio_wait:
 *
 * One blocking iteration of the default context, as in 2012: returns false
 * without waiting if no BH is scheduled and no io_flush reports work in
 * flight (waiting could be forever); else polls once, blocking, and
 * returns true.  Its home thread only.  Replaced in QEMU by
 * aio_poll(qemu_get_aio_context(), true).
 */
bool qemu_aio_wait(void);

/**
 * qemu_aio_flush:
 *
 * aio_flush() on the default context.  Its home thread only.  Replaced in
 * QEMU by bdrv_drain_all().
 */
void qemu_aio_flush(void);

/* ------------------------------------------------------------------------ */
/* Introspection                                                             */
/* ------------------------------------------------------------------------ */

typedef enum {
    AIO_FDMON_POLL,
    AIO_FDMON_EPOLL,
    AIO_FDMON_IO_URING,
} AioFdMonKind;

/**
 * AioContextCounters:
 * @bh_dispatches: BH callbacks run (oneshots and idle BHs included)
 * @fd_dispatches: fd and event-notifier callbacks run (io_read, io_write,
 *   io_poll_ready), the context's own notifier excluded
 * @timer_dispatches: timer callbacks run
 * @blocking_waits: waits that could block: aio_poll() waits with a non-zero
 *   timeout, and GSource checks after a prepare that let GLib's poll block
 * @notify_wakeups: aio_notify() wake-ups taken from the context's eventfd
 *   (a sleeping or about-to-sleep wait that a notify ended)
 * @poll_hits: busy-poll runs that found an event (a handler's io_poll, the
 *   context's notifier through `notified`, or io_uring completions)
 * @poll_misses: busy-poll runs that found nothing before their time ran out
 * @poll_ns: time spent busy polling, in ns
 *
 * Counters since the context was created, kept by the home thread with
 * plain increments (no atomics, no syscalls): the loop pays one add per
 * event.  Wrap at 2^64.
 */
typedef struct AioContextCounters {
    uint64_t bh_dispatches;
    uint64_t fd_dispatches;
    uint64_t timer_dispatches;
    uint64_t blocking_waits;
    uint64_t notify_wakeups;
    uint64_t poll_hits;
    uint64_t poll_misses;
    uint64_t poll_ns;
} AioContextCounters;

/**
 * AioEventKind:
 * @AIO_EVENT_BH: a BH callback (@name: the BH's name)
 * @AIO_EVENT_FD: an fd or event-notifier callback (@arg: the fd)
 * @AIO_EVENT_TIMER: a timer callback (@arg: the clock type)
 * @AIO_EVENT_POLL: one aio_poll() call (@arg: 1 if it made progress)
 * @AIO_EVENT_GSOURCE: one dispatch of the context's GSource
 */
typedef enum {
    AIO_EVENT_BH,
    AIO_EVENT_FD,
    AIO_EVENT_TIMER,
    AIO_EVENT_POLL,
    AIO_EVENT_GSOURCE,
} AioEventKind;

/**
 * AioObserverFunc:
 * @ctx: the context
 * @kind: what ran
 * @name: (nullable): its name (BHs)
 * @arg: a number that goes with @kind (see AioEventKind)
 * @start_ns: when it started (QEMU_CLOCK_REALTIME)
 * @end_ns: when it returned
 * @opaque: the pointer given to aio_context_set_observer()
 *
 * Told about each callback and each pass once it returned.  May not call
 * back into @ctx's loop.
 */
typedef void AioObserverFunc(AioContext *ctx, AioEventKind kind,
                             const char *name, int64_t arg, int64_t start_ns,
                             int64_t end_ns, void *opaque);

/**
 * aio_context_set_observer:
 * @ctx: the context
 * @fn: (nullable): the observer; NULL turns observation off
 * @opaque: passed to @fn
 *
 * Times every callback and pass of @ctx and reports them to @fn (a trace
 * point, in QEMU's words).  With no observer the loop reads one pointer
 * per callback and takes no timestamps.  Not in QEMU.  Home thread only.
 */
void aio_context_set_observer(AioContext *ctx, AioObserverFunc *fn,
                              void *opaque);

/**
 * AioContextStats:
 * @notify_me: the raw notify_me word (bit 0: GSource waiter, from prepare
 *             to check or dispatch; bits 1–31:
 *             2 per blocking aio_poll)
 * @notified: the notified flag
 * @poll_ns: the largest adaptive poll time among poll handlers, in ns
 * @poll_started: whether busy polling is on (begin hooks called)
 * @handlers: registered fd handlers, not counting the context's notifier
 * @bhs: BHs allocated and not yet freed by the loop
 * @timers: timers created and not yet freed
 * @fdmon: the fd monitor in use
 * @fdmon_fallback_reason: (nullable): why the fd monitor asked for at
 *   creation is not in use (owned by the context)
 * @counters: what the loop did so far (see AioContextCounters)
 */
typedef struct AioContextStats {
    uint32_t notify_me;
    bool notified;
    int64_t poll_ns;
    bool poll_started;
    unsigned handlers;
    unsigned bhs;
    unsigned timers;
    AioFdMonKind fdmon;
    const char *fdmon_fallback_reason;
    AioContextCounters counters;
} AioContextStats;

/**
 * aio_context_get_stats: fills @stats, changing nothing in @ctx.  Poll
 * params set from another thread and not yet applied by aio_poll() show
 * as the reset they will cause (poll_ns 0); an epoll_ctl failure not yet
 * acted on by the home thread shows as fdmon poll.  Home thread (from
 * other threads the fields are racy snapshots, and @counters stay 0).
 */
void aio_context_get_stats(AioContext *ctx, AioContextStats *stats);

/** aio_fdmon_name: Returns: "poll", "epoll" or "io_uring". */
const char *aio_fdmon_name(AioFdMonKind kind);

/* ------------------------------------------------------------------------ */
/* Clocks and timers                                                         */
/* ------------------------------------------------------------------------ */

typedef enum {
    QEMU_CLOCK_REALTIME = 0,   /* monotonic; runs always */
    QEMU_CLOCK_VIRTUAL = 1,    /* guest time; may be stopped and stepped */
    QEMU_CLOCK_HOST = 2,       /* wall clock (follows NTP) */
    QEMU_CLOCK_VIRTUAL_RT = 3, /* VIRTUAL's cousin; same as realtime here */
    QEMU_CLOCK_MAX
} QEMUClockType;

#define SCALE_MS 1000000
#define SCALE_US 1000
#define SCALE_NS 1

/** qemu_clock_get_ns: Returns: the time of @type in ns.  Any thread. */
int64_t qemu_clock_get_ns(QEMUClockType type);

/**
 * qemu_clock_virtual_stop:
 *
 * Freezes QEMU_CLOCK_VIRTUAL (and VIRTUAL_RT) at its current time.  Timers
 * already due still run; waiting never makes others due.  Notifies every
 * context.  Any thread; idempotent.
 */
void qemu_clock_virtual_stop(void);

/** qemu_clock_virtual_resume: lets the virtual clock run again from where
 * it stood.  Notifies every context.  Any thread; idempotent. */
void qemu_clock_virtual_resume(void);

/**
 * qemu_clock_virtual_step:
 * @ns: how far to move the virtual clock forward (>= 0)
 *
 * Timers that become due run on the next aio_poll()/dispatch.  Notifies
 * every context.  Any thread.
 *
 * The clock never wraps: a step that would take it past INT64_MAX is
 * refused and changes nothing (we differ from QEMU, whose qtest clock
 * step has no such check and returns nothing).  A running clock that was
 * stepped close to INT64_MAX reads INT64_MAX from there on.
 *
 * Returns: 0, -ERANGE if the step would pass INT64_MAX, or -EINVAL if
 * @ns is negative.
 */
int qemu_clock_virtual_step(int64_t ns);

/** qemu_clock_virtual_stopped: Returns: whether the virtual clock is
 * stopped.  Any thread. */
bool qemu_clock_virtual_stopped(void);

/**
 * aio_timer_new:
 * @ctx: the context whose loop runs the timer
 * @type: the clock
 * @scale: ns per unit of the times given to timer_mod() (SCALE_*; > 0)
 * @cb: called when the timer expires
 * @opaque: passed to @cb
 *
 * Creates a timer that is not armed.  Any thread.
 *
 * Returns: (transfer full): the timer; free it with timer_free().
 */
QEMUTimer *aio_timer_new(AioContext *ctx, QEMUClockType type, int scale,
                         QEMUTimerCB *cb, void *opaque);

/** QEMU_TIMER_ATTR_EXTERNAL: the timer drives an external subsystem. */
#define QEMU_TIMER_ATTR_EXTERNAL 0x1

/** aio_timer_new_with_attrs: aio_timer_new() plus attribute bits. */
QEMUTimer *aio_timer_new_with_attrs(AioContext *ctx, QEMUClockType type,
                                    int scale, int attributes, QEMUTimerCB *cb,
                                    void *opaque);

/**
 * timer_mod_ns:
 * @ts: the timer
 * @expire_time: the absolute expiry in ns of the timer's clock; negative
 *               values mean 0
 *
 * (Re-)arms @ts.  Timers with equal expiries run in arming order.  Notifies
 * the context if @ts became the earliest.  Any thread.
 */
void timer_mod_ns(QEMUTimer *ts, int64_t expire_time);

/** timer_mod: timer_mod_ns() with @expire_time in the timer's scale. */
void timer_mod(QEMUTimer *ts, int64_t expire_time);

/**
 * timer_mod_anticipate_ns:
 * Arms @ts if it is not pending, else moves it only if @expire_time is
 * earlier.  Any thread.
 */
void timer_mod_anticipate_ns(QEMUTimer *ts, int64_t expire_time);

/** timer_mod_anticipate: the same in the timer's scale. */
void timer_mod_anticipate(QEMUTimer *ts, int64_t expire_time);

/** timer_del: disarms @ts (no notify).  Any thread. */
void timer_del(QEMUTimer *ts);

/**
 * timer_free:
 * Disarms and frees @ts.  Safe from its own callback.  Any thread, as long
 * as nothing else uses @ts at the same time.
 */
void timer_free(QEMUTimer *ts);

/** timer_pending: Returns: whether @ts is armed.  Any thread. */
bool timer_pending(QEMUTimer *ts);

/**
 * timer_expired:
 * @current_time: a time in the timer's scale
 * Returns: whether @ts expires at or before @current_time; an unarmed timer
 * counts as expired, as in QEMU.
 */
bool timer_expired(QEMUTimer *ts, int64_t current_time);

/** timer_expire_time_ns: Returns: the expiry in ns, or -1 if not armed. */
int64_t timer_expire_time_ns(QEMUTimer *ts);

/** timer_get_scale: Returns: the scale given at creation. */
int timer_get_scale(QEMUTimer *ts);

/** timer_get_clock: Returns: the clock given at creation. */
QEMUClockType timer_get_clock(QEMUTimer *ts);

/* ------------------------------------------------------------------------ */
/* Driving a GMainContext from a foreign event loop                          */
/* ------------------------------------------------------------------------ */

typedef struct AioLoopBridge AioLoopBridge;

/**
 * AioLoopBridgeOps:
 * @watch_fd: the foreign loop must watch @fd for @events (G_IO_* bits:
 *   the union of what every GPollFD of that fd asks) until told otherwise,
 *   and report what it sees with aio_loop_bridge_fd_ready().  Called for
 *   every fd in every round, with the same or new events: starting a watch
 *   that already runs with those events must cost nothing, and a watch the
 *   foreign loop stopped by itself (after an error) should start again.
 *   Returns false if the foreign loop cannot watch @fd (libuv refuses
 *   regular files, and fds it already watches): it must then not watch it,
 *   and the bridge polls it itself, without blocking, around each wait.
 * @unwatch_fd: stop watching @fd (GLib no longer asks for it, or
 *   aio_loop_bridge_forget_fd() was called).  Only for an fd whose last
 *   @watch_fd returned true.
 * @arm_timer: the foreign loop must not sleep longer than @timeout_ms
 *   (-1: no limit; 0: do not sleep)
 *
 * What the foreign loop provides: one watch per fd (libuv allows one poll
 * handle per fd, so the bridge merges duplicate GPollFDs and fans each
 * result out to all of them) and a timer.  Called from
 * aio_loop_bridge_before_poll() and aio_loop_bridge_forget_fd() only, never
 * from aio_loop_bridge_free().
 */
typedef struct AioLoopBridgeOps {
    bool (*watch_fd)(void *opaque, int fd, int events);
    void (*unwatch_fd)(void *opaque, int fd);
    void (*arm_timer)(void *opaque, int timeout_ms);
} AioLoopBridgeOps;

/**
 * aio_loop_bridge_new:
 * @main: (nullable): the GMainContext to drive; NULL for the default one
 * @ops: the foreign loop's hooks (must outlive the bridge)
 * @opaque: passed to @ops
 *
 * Creates a bridge that runs @main's iterations split around a foreign
 * loop's poll.  The bridge acquires @main on first use and keeps it until
 * freed.  One thread only: the one that calls the bridge.
 *
 * Returns: (transfer full): the bridge.
 */
AioLoopBridge *aio_loop_bridge_new(GMainContext *main,
                                   const AioLoopBridgeOps *ops, void *opaque);

/**
 * aio_loop_bridge_free:
 * Releases @main and frees @b (NULL is allowed).  Calls no op: the foreign
 * loop drops its own watches.
 */
void aio_loop_bridge_free(AioLoopBridge *b);

/**
 * aio_loop_bridge_before_poll:
 * @b: the bridge
 *
 * GLib's prepare and query, then the foreign loop's watches made to match
 * (@ops->watch_fd for each distinct fd, @ops->unwatch_fd for the fds no
 * longer asked for) and @ops->arm_timer: 0 if GLib has a source ready or an
 * fd the foreign loop refused is ready already.  Call it right before the
 * foreign loop polls.
 *
 * Returns: false if another thread owns the GMainContext: then every watch
 * is dropped and the timer disarmed (-1), since that thread runs the
 * sources and their fds would only keep the foreign loop spinning.
 */
bool aio_loop_bridge_before_poll(AioLoopBridge *b);

/**
 * aio_loop_bridge_fd_ready:
 * Records that @fd showed @revents (G_IO_*), for every GPollFD of @fd.
 */
void aio_loop_bridge_fd_ready(AioLoopBridge *b, int fd, int revents);

/**
 * aio_loop_bridge_forget_fd:
 * @b: the bridge
 * @fd: an fd whose handler was just removed
 *
 * Calls @ops->unwatch_fd for @fd now if it is watched, rather than at the
 * next before_poll: the fd's owner may close it at once, and a foreign loop
 * must not keep watching a dead fd number that the process may reuse.  The
 * next before_poll watches it again if GLib still asks for it.
 */
void aio_loop_bridge_forget_fd(AioLoopBridge *b, int fd);

/**
 * aio_loop_bridge_forget_all:
 * @b: the bridge
 *
 * aio_loop_bridge_forget_fd() for every fd: for a source that leaves the
 * GMainContext and whose fds may be closed at once (an AioContext detached
 * and finalized: its eventfd, epoll or io_uring fd), since the bridge only
 * learns at the next before_poll which fds GLib no longer asks for.  The
 * next before_poll watches again what GLib still asks for.
 */
void aio_loop_bridge_forget_all(AioLoopBridge *b);

/**
 * aio_loop_bridge_watched_fds:
 * Returns: how many fds the foreign loop watches now (those it refused and
 * the bridge polls itself not counted).
 */
unsigned aio_loop_bridge_watched_fds(AioLoopBridge *b);

/**
 * aio_loop_bridge_after_poll:
 * @b: the bridge
 *
 * GLib's check and dispatch, with what was recorded since before_poll (and
 * what the fds the foreign loop refused show now).  Call it right after
 * the foreign loop polled (whatever woke it).
 *
 * Returns: whether sources were dispatched.
 */
bool aio_loop_bridge_after_poll(AioLoopBridge *b);

/* ------------------------------------------------------------------------ */
/* Share registry: contexts and BHs named by number, for other threads      */
/* ------------------------------------------------------------------------ */

/*
 * Not in QEMU (whose threads share pointers freely).  A share id names a
 * context or a BH in one process-wide registry, so that a thread that must
 * not hold a pointer (a Node worker, which cannot know when the home thread
 * frees the object) can still notify the context, take its lock, or
 * schedule and cancel the BH.  Once the home thread withdraws the object,
 * every call fails with -ENOENT instead of touching freed memory.
 *
 * The registry never owns the core object.  An entry holds a pointer that
 * the home thread clears under the entry's mutex before the object can be
 * freed:
 *   - a BH: aio_registry_forget_bh() before qemu_bh_delete(); the core
 *     frees a BH only on a later BH pass of the home thread, so a remote
 *     qemu_bh_schedule() made under the mutex sees either a live BH or
 *     NULL;
 *   - a context: aio_registry_forget_context() before the owner's last
 *     aio_context_unref(); it also waits until no other thread holds (or
 *     waits for) the context's lock through the registry, so
 *     aio_context_release() never runs on a freed mutex.
 * Why no reference in the entry: the last aio_context_unref() must run in
 * the home thread (finalization calls the owner's destroy notifies), and a
 * remote reference could become the last one.
 *
 * Ids are positive, come from one counter for both kinds and are never
 * reused, so a stale id can only ever mean "withdrawn".  Errors are
 * negative errno values:
 *   -ENOENT  unknown id, or the object was withdrawn
 *   -EINVAL  the id names an object of the other kind
 *   -EPERM   aio_registry_release() by a thread that holds no level
 */

typedef struct AioRegistryEntry AioRegistryEntry;

typedef enum {
    AIO_REGISTRY_CONTEXT,
    AIO_REGISTRY_BH,
} AioRegistryKind;

/**
 * aio_registry_share_context:
 * @ctx: the context
 * @name: what error messages call it (copied)
 *
 * Registers @ctx on the first call.  Home thread only.
 *
 * Returns: the id of @ctx (the same on every call).
 */
uint64_t aio_registry_share_context(AioContext *ctx, const char *name);

/**
 * aio_registry_forget_context:
 * @ctx: the context
 *
 * Withdraws @ctx if it was shared: later calls through its id or entries
 * fail with -ENOENT.  Releases the lock levels the calling thread took
 * through aio_registry_acquire(), then blocks until no other thread holds
 * or waits for one.  Call it before the last aio_context_unref().  Home
 * thread only.
 */
void aio_registry_forget_context(AioContext *ctx);

/**
 * aio_registry_share_bh:
 * @bh: a BH
 * @name: what error messages call it (copied)
 *
 * Registers @bh on the first call.  Home thread only.
 *
 * Returns: the id of @bh (the same on every call).
 */
uint64_t aio_registry_share_bh(QEMUBH *bh, const char *name);

/**
 * aio_registry_forget_bh:
 * Withdraws @bh if it was shared; waits for a remote call on it in
 * progress.  Call it before qemu_bh_delete().  Home thread only.
 */
void aio_registry_forget_bh(QEMUBH *bh);

/**
 * aio_registry_lookup:
 * @id: a share id
 * @kind: the kind of object expected
 * @out: (out) (transfer full): the entry, on success
 *
 * An entry stays valid (its calls then fail with -ENOENT) after its object
 * is withdrawn, until aio_registry_entry_unref().  Any thread.
 *
 * Returns: 0, -ENOENT (unknown or withdrawn) or -EINVAL (the other kind).
 */
int aio_registry_lookup(uint64_t id, AioRegistryKind kind,
                        AioRegistryEntry **out);

/** aio_registry_entry_ref: Returns: @e, with one more reference.  Any thread. */
AioRegistryEntry *aio_registry_entry_ref(AioRegistryEntry *e);

/** aio_registry_entry_unref: drops a reference; NULL is allowed.  Any thread. */
void aio_registry_entry_unref(AioRegistryEntry *e);

/** aio_registry_entry_name: Returns: the name given at sharing.  Any thread. */
const char *aio_registry_entry_name(AioRegistryEntry *e);

/**
 * aio_registry_notify:
 * aio_notify() on the context of @e.  Any thread.
 * Returns: 0 or -ENOENT.
 */
int aio_registry_notify(AioRegistryEntry *e);

/**
 * aio_registry_acquire:
 * aio_context_acquire() on the context of @e: blocks until the calling
 * thread holds its lock (recursive).  Any thread.
 * Returns: 0, or -ENOENT if the context is, or got while waiting, withdrawn.
 */
int aio_registry_acquire(AioRegistryEntry *e);

/**
 * aio_registry_release:
 * aio_context_release() of one level taken by aio_registry_acquire() in the
 * calling thread.  Any thread.
 * Returns: 0, -EPERM if this thread holds none, or -ENOENT if the context
 * was withdrawn (the home thread released this thread's levels).
 */
int aio_registry_release(AioRegistryEntry *e);

/** aio_registry_release_all: releases every level the calling thread holds on @e. */
void aio_registry_release_all(AioRegistryEntry *e);

/**
 * aio_registry_bh_schedule:
 * qemu_bh_schedule() on the BH of @e.  Any thread.
 * Returns: 0 or -ENOENT.
 */
int aio_registry_bh_schedule(AioRegistryEntry *e);

/** aio_registry_bh_cancel: qemu_bh_cancel(), as aio_registry_bh_schedule(). */
int aio_registry_bh_cancel(AioRegistryEntry *e);

/**
 * aio_registry_bh_is_scheduled:
 * qemu_bh_is_scheduled() on the BH of @e.  Any thread.
 * Returns: 1, 0, or -ENOENT.
 */
int aio_registry_bh_is_scheduled(AioRegistryEntry *e);

/**
 * aio_registry_entry_home_context:
 * The context @e names, for C code that runs on that context's home thread
 * and knows it only by its share id (the test helper addon, a C library
 * handed an id).  There the context cannot close underneath the caller, so
 * the pointer stays valid until the caller itself closes it or returns to
 * code that may.  Any thread may call; only the home thread gets a pointer.
 * Returns: the context, or NULL if @e names a BH, is withdrawn, or the
 * calling thread is not the context's home thread.
 */
AioContext *aio_registry_entry_home_context(AioRegistryEntry *e);

/**
 * aiocontext_remote_notify:
 * @context_id: a share id
 *
 * Lookup, aio_registry_notify() and unref in one call, for threads that
 * keep only the id.  Any thread.
 * Returns: 0, -ENOENT or -EINVAL.
 */
int aiocontext_remote_notify(uint64_t context_id);

/** aiocontext_remote_bh_schedule: the same for aio_registry_bh_schedule(). */
int aiocontext_remote_bh_schedule(uint64_t bh_id);

/** aiocontext_remote_bh_cancel: the same for aio_registry_bh_cancel(). */
int aiocontext_remote_bh_cancel(uint64_t bh_id);

G_END_DECLS

#endif /* AIOCONTEXT_AIO_H */
