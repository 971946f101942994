/*
 * aio-internal.h — private structures of the aiocontext core and the aio__
 * functions the core's files share.  Sections are named after the file that
 * defines them.  Nothing outside native/core (and its tests) includes this.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_AIO_INTERNAL_H
#define AIOCONTEXT_AIO_INTERNAL_H

#include "aio.h"
#include "coroutine.h"

#include <pthread.h>
#include <ucontext.h>
#include <stddef.h>

/* Locks are pthread mutexes, not GMutex: GLib builds its mutexes on raw
 * futexes, which ThreadSanitizer cannot see, so it would report every
 * access they protect as a race. */

/* Barriers, named as in the kernel: smp_mb orders everything, smp_wmb
 * orders stores, smp_rmb orders loads.  ThreadSanitizer does not model
 * fences (GCC warns); every datum they order is itself an atomic, so TSan
 * reports no false race without them, and the warning is silenced. */
#if defined(__SANITIZE_THREAD__)
#pragma GCC diagnostic ignored "-Wtsan"
#endif
/* Happens-before that the kernel provides and ThreadSanitizer cannot see:
 * a pointer handed to a syscall by one thread (epoll_ctl's data.ptr) and
 * returned by another syscall to another thread (epoll_wait).  The kernel's
 * own locks order the two; these tell TSan so.  No-ops otherwise. */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define AIO_KERNEL_PUBLISH(p) __tsan_release(p)
#define AIO_KERNEL_RECEIVE(p) __tsan_acquire(p)
#else
#define AIO_KERNEL_PUBLISH(p) ((void)(p))
#define AIO_KERNEL_RECEIVE(p) ((void)(p))
#endif

#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr)-offsetof(type, member)))

#define smp_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define smp_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#define smp_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define atomic_read(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define atomic_set(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define atomic_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define atomic_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Poll handlers idle this long leave the poll list (io_uring only). */
#define POLL_IDLE_INTERVAL_NS (7 * (int64_t)1000000000)
/* A blocking wait with only idle BHs scheduled lasts at most this. */
#define IDLE_BH_TIMEOUT_NS (10 * (int64_t)SCALE_MS)

/* ------------------------------------------------------------------------ */
/* lockcnt.c: a counter of list walkers fused with the writers' mutex         */
/* ------------------------------------------------------------------------ */

/*
 * AioLockCnt:
 * Walkers increment the count while they traverse a list; writers take the
 * mutex.  A writer that finds the count non-zero must not free nodes: it
 * marks them deleted and the last walker frees them (aio__lockcnt_dec_if_lock).
 * An increment from zero while a writer holds the lock waits for the writer
 * (which may be freeing); any other increment is lock-free (lockcnt.c).
 */
typedef struct AioLockCnt {
    pthread_mutex_t mutex; /* writers; walkers only to wait for one */
    unsigned count; /* atomic: walkers * 2, | 1 while a writer holds it */
} AioLockCnt;

void aio__lockcnt_init(AioLockCnt *lc);
void aio__lockcnt_destroy(AioLockCnt *lc);
/* Registers a walker.  Any thread. */
void aio__lockcnt_inc(AioLockCnt *lc);
/* Unregisters a walker.  Any thread. */
void aio__lockcnt_dec(AioLockCnt *lc);
/* If the count is 1, makes it 0, takes the mutex and returns true; else
 * returns false and changes nothing. */
bool aio__lockcnt_dec_if_lock(AioLockCnt *lc);
void aio__lockcnt_lock(AioLockCnt *lc);
void aio__lockcnt_unlock(AioLockCnt *lc);
/* Registers a walker and releases the mutex, atomically for other writers. */
void aio__lockcnt_inc_and_unlock(AioLockCnt *lc);
/* Returns: the number of walkers (a snapshot). */
unsigned aio__lockcnt_count(AioLockCnt *lc);

/* ------------------------------------------------------------------------ */
/* bh.c                                                                      */
/* ------------------------------------------------------------------------ */

enum {
    BH_PENDING = 1 << 0,   /* linked into ctx->bh_list or a slice */
    BH_SCHEDULED = 1 << 1, /* call the callback */
    BH_DELETED = 1 << 2,   /* free without calling */
    BH_ONESHOT = 1 << 3,   /* free after calling */
    BH_IDLE = 1 << 4,      /* not progress; waits cap at 10 ms */
};

struct QEMUBH {
    AioContext *ctx;
    char *name;
    QEMUBHFunc *cb;
    void *opaque;
    GDestroyNotify destroy;
    /* Link in ctx->bh_list or a slice.  Written before the BH is published
     * with a CAS on the list head, read only by the home thread. */
    QEMUBH *next;
    /* Link in ctx->all_bhs (not oneshots), under ctx->bh_all_lock. */
    QEMUBH *all_next, *all_prev;
    unsigned flags; /* atomic, BH_* */
};

/* One aio_bh_poll() call's stolen part of bh_list.  Slices of nested calls
 * are chained so that an inner call also drains its callers' slices. */
typedef struct BHListSlice {
    QEMUBH *head;
    struct BHListSlice *next;
} BHListSlice;

/*
 * AioPollPass: one aio_poll() iteration whose caller may take over the
 * call of a BH's callback.
 *
 * aio_poll() is aio__poll_begin() (wait, accept notifications, take the
 * scheduled BHs) then aio__poll_run() (BHs, fd handlers, timers).  A pass
 * begun with @may_yield lets a BH callback, instead of doing its work,
 * call aio__poll_yield(): aio__poll_run() then returns false right after
 * that BH, with the pass's state kept in the pass (its BH slice, the ready
 * fd handlers, the list walk count, the current context), and the caller
 * does the work (the binding calls the BH's JS function from JS, which
 * costs a third of a call from C into JS) and calls aio__poll_run() again
 * to go on.  What every callback sees is what it would see inside
 * aio_poll(): the same order, the same nesting (a poll nested in the
 * yielded work drains the pass's slice as it would from the callback), the
 * same current context.  Only a caller that stays on the home thread and
 * runs every pass it begins to the end may pass @may_yield.
 *
 * Home thread only.
 */
typedef struct AioPollPass {
    AioContext *ctx;
    AioContext *prev_ctx; /* the current context to restore */
    AioHandler *ready;    /* ready fd handlers; the first points back here */
    BHListSlice slice;    /* the BHs this pass took */
    int64_t block_ns;     /* how long the wait lasted, for busy polling */
    int64_t pass_start;   /* for the observer; 0 without one */
    bool progress;
    bool may_yield;
    bool holds_ref;         /* took a reference on ctx, dropped at the end */
    bool outer_in_dispatch; /* ctx->in_dispatch to restore at the end */
    bool yielded;           /* a BH callback called aio__poll_yield() */
} AioPollPass;

enum {
    /* BH callbacks may yield (see above). */
    AIO_PASS_MAY_YIELD = 1 << 0,
    /* The caller keeps @ctx alive until the pass ends (a callback that
     * drops the caller's reference hands it to the caller instead), so the
     * pass takes no reference of its own: two atomic operations less. */
    AIO_PASS_CALLER_REF = 1 << 1,
};

/* Starts a pass of aio_poll(@ctx, @blocking) in @pass: everything up to
 * the BHs.  @flags: AIO_PASS_*; without AIO_PASS_CALLER_REF the pass holds
 * a reference on @ctx, as aio_poll() does, until it ends. */
void aio__poll_begin(AioContext *ctx, bool blocking, unsigned flags,
                     AioPollPass *pass);
/* Runs @pass on.  Returns: true when it ended (pass->progress is
 * aio_poll()'s result), false when a BH callback yielded. */
bool aio__poll_run(AioPollPass *pass);
/* From a BH callback: whether it may hand its work to the caller of the
 * running pass (a yieldable pass is running its BHs, with no observer to
 * time the callback). */
bool aio__poll_may_yield(AioContext *ctx);
/* From a BH callback, after aio__poll_may_yield() returned true: stop the
 * pass after this BH. */
void aio__poll_yield(AioContext *ctx);

/* Links @slice, the BHs scheduled so far, after the slices of the
 * aio_bh_poll()s and passes on the stack. */
void aio__bh_poll_begin(AioContext *ctx, BHListSlice *slice);
/* Runs the linked slices, oldest first; sets *@progress if a non-idle BH
 * ran.  @pass is the pass whose BHs these are (NULL: aio_bh_poll(), which
 * never yields).  Returns: false if a callback of @pass yielded (the
 * slices stay linked: call again to go on), else true. */
bool aio__bh_poll_drain(AioContext *ctx, AioPollPass *pass, bool *progress);

/* Returns: 0 if a non-idle BH is scheduled, IDLE_BH_TIMEOUT_NS if only
 * idle ones are, else -1.  Home thread only. */
int64_t aio__bh_timeout(AioContext *ctx);
/* Returns: whether a BH is scheduled and not deleted.  Home thread only. */
bool aio__bh_pending(AioContext *ctx);
/* Frees every BH at finalization, reporting leaks.  Home thread only. */
void aio__bh_finalize(AioContext *ctx);

/* ------------------------------------------------------------------------ */
/* fdmon-epoll.c, fdmon-io_uring.c: each back end's own state                */
/* ------------------------------------------------------------------------ */

/* Embedded in AioContext and AioHandler so that they cost no allocation;
 * only the back end's file reads or writes them (tests may look). */

/* fdmon-epoll, per context. */
typedef struct AioContextEpoll {
    int fd; /* -1 when epoll is not available; home thread closes it */
    /* epoll_ctl refused an fd (set by any thread under list_lock's mutex;
     * atomic): the home thread moves the context to poll for good at its
     * next aio_poll() or GSource prepare, so that only the home thread
     * changes fdmon_ops or closes fd (see aio__fdmon_epoll_fallback). */
    bool failed;
    /* The epoll fd after a fallback: no longer used, but its number stays
     * taken until finalization (aio__fdmon_epoll_cleanup).  A foreign loop
     * that watched it for GLib (the Node loop bridge) lets go only at its
     * next round; closed at once, the number could go to the next fd the
     * program opens while that stale watch still held it.  -1 if none. */
    int retired_fd;
} AioContextEpoll;

/* fdmon-io_uring, per handler. */
typedef struct AioHandlerUring {
    unsigned flags;          /* FDMON_IO_URING_* (atomic) */
    AioHandler *submit_next; /* link in AioContextUring.submit_list */
    bool inflight;           /* a POLL_ADD is queued or in the kernel (home) */
    bool multishot;          /* ...and it is a multishot one (home) */
    bool parked;             /* completed while poll(2) stood in (home) */
    /* Not armed because busy polling watches it (AioContextUring.resting,
     * home thread only). */
    AioHandler *rest_next;
    AioHandler **rest_pprev;
} AioHandlerUring;

/* fdmon-io_uring, per context. */
typedef struct AioContextUring {
    void *ring; /* struct io_uring *, NULL if not set up */
    /* Handlers whose POLL_ADD/POLL_REMOVE wait to be submitted (a
     * lock-free LIFO; any thread pushes, the home thread takes all). */
    AioHandler *submit_list;
    bool parked;       /* some node is parked (home) */
    bool no_multishot; /* the kernel refused a multishot POLL_ADD */
    /* Poll handlers left without a POLL_ADD while busy polling checks
     * them instead (home). */
    AioHandler *resting;
    /* Handlers the GSource check found ready, held for its dispatch or
     * the next wait (a ready list; home). */
    AioHandler *checked;
    /* aio_add_sqe(): requests with a CqeHandler not completed yet, and
     * the completed ones whose callbacks wait for the dispatch phase (a
     * FIFO; tail NULL when empty).  Home thread; they outlive the ring
     * (aio__fdmon_io_uring_stop drains it). */
    unsigned sqe_inflight;
    CqeHandler *cqe_ready;
    CqeHandler **cqe_ready_tail;
    /* The ring of a stopped monitor, kept until its last aio_add_sqe()
     * request completed (struct io_uring *, or NULL), and its fd as an
     * internal handler (home). */
    void *retired;
    EventNotifier retired_e;
} AioContextUring;

/* Runs the callbacks of the completed aio_add_sqe() requests, oldest
 * first, one at a time (a callback nesting aio_poll() goes on with the
 * rest).  Returns: whether one ran.  From the fd-handler phase of
 * aio_poll() and of the GSource dispatch; home thread. */
bool aio__fdmon_io_uring_dispatch(AioContext *ctx);
/* Returns: whether the monitor ring holds CQEs, or aio_add_sqe()
 * completions wait for the dispatch phase (an engine's busy-poll hook;
 * no syscall).  Home thread. */
bool aio__fdmon_io_uring_cqe_pending(AioContext *ctx);
/* Returns: whether some aio_add_sqe() request completed and its callback
 * has not run (queued, or its CQE still in a ring; looks without taking
 * anything).  For aio_pending().  Home thread. */
bool aio__fdmon_io_uring_sqe_done(AioContext *ctx);
/* Sends an ASYNC_CANCEL for @h's request on whichever ring holds it (the
 * monitor's, or the retired one after a stop).  Returns: false if there
 * is no such ring (its CQE is queued already) or no SQE was free.  Home
 * thread. */
bool aio__fdmon_io_uring_cancel(AioContext *ctx, CqeHandler *h);

/* ------------------------------------------------------------------------ */
/* fd-handler.c                                                              */
/* ------------------------------------------------------------------------ */

struct AioHandler {
    GPollFD pfd; /* events: what we wait for; revents: last seen */
    IOHandler *io_read;
    IOHandler *io_write;
    AioPollFn *io_poll;
    IOHandler *io_poll_ready;
    IOHandler *io_poll_begin;
    IOHandler *io_poll_end;
    AioFlushHandler *io_flush; /* the 2012 API: requests in flight? */
    void *opaque;
    bool is_external;
    bool is_notifier; /* the context's own notifier: never progress */
    bool is_internal; /* an I/O engine's: not counted in the stats */

    /* ctx->handlers, newest first.  next is published with a release store
     * so that walkers (who only follow next) see a complete node; prev and
     * every unlink are changed only under list_lock's mutex. */
    AioHandler *next;
    AioHandler *prev;

    /* Set (under the mutex) when the node was replaced or removed while
     * someone walked the list; walkers skip it; the last walker frees it. */
    bool deleted; /* atomic */
    AioHandler *next_deleted;

    /* Ready list of one aio_poll() call (home thread only).  A nested call
     * steals the node from its caller's list. */
    AioHandler *ready_next;
    AioHandler **ready_pprev;
    /* The revents the node was made ready with.  Kept apart from
     * pfd.revents, which GLib zeroes when a BH or callback of the same
     * call has the node's pfd added to the GSource (g_source_add_poll(),
     * e.g. after aio_disable_external()); popping restores it. */
    int ready_revents;

    /* ctx->poll_handlers: nodes that take part in busy polling (home
     * thread only). */
    AioHandler *poll_next;
    AioHandler **poll_pprev;
    int64_t poll_ns;           /* adaptive busy-poll time */
    int64_t poll_idle_timeout; /* realtime ns after which it is idle */
    bool poll_ready;           /* io_poll found work; call io_poll_ready */

    /* The GSource pfd was added to, or NULL; changed under the mutex. */
    GSource *in_source;
    /* The fd was found closed (POLLNVAL): never polled again, so a closed
     * but still registered fd cannot make the loop spin. */
    bool nval;

    /* The back end owns the retired node's release (set under the mutex):
     * the kernel may still name it; the back end calls
     * aio__handler_release() once it no longer does. */
    bool fdmon_owned;
    /* fdmon-io_uring's own state (only that file touches it). */
    AioHandlerUring uring;
};

#define AIO_READ_EVENTS (G_IO_IN | G_IO_HUP | G_IO_ERR)
#define AIO_WRITE_EVENTS (G_IO_OUT | G_IO_ERR)

/* Registers the context's own notifier.  Called once from aio_context_new. */
int aio__register_notifier(AioContext *ctx);
/* aio_set_event_notifier() for the context's own I/O engines (linux-aio,
 * io_uring-file): not external, and not counted as a user handler in
 * AioContextStats.handlers.  All NULL removes it.  Home thread. */
int aio__set_internal_event_notifier(AioContext *ctx, EventNotifier *e,
                                     EventNotifierHandler *io_read,
                                     AioPollFn *io_poll,
                                     EventNotifierHandler *io_poll_ready);
/* Removes every handler at finalization (no walker may be active). */
void aio__handlers_finalize(AioContext *ctx);
/* Inserts @node at the head of a ready list, taking it off any other. */
void aio__add_ready_handler(AioHandler **ready, AioHandler *node, int revents);
/* Dispatches one node.  Returns progress.  Called with list_lock inc'd. */
bool aio__dispatch_handler(AioContext *ctx, AioHandler *node);
/* Takes the head off a ready list.  Returns: it, or NULL. */
AioHandler *aio__pop_ready_handler(AioHandler **ready);
/* Inserts @node in ctx->poll_handlers / takes it off (home thread). */
void aio__poll_list_insert(AioContext *ctx, AioHandler *node);
void aio__poll_list_remove(AioHandler *node);
/* The GSource dispatch in two steps.  aio__gsource_collect() gathers, on
 * @ready, the handlers the back end's own fd reports ready (epoll,
 * io_uring) and returns true, or returns false when GLib polled each fd
 * itself.  It runs before the BHs, so that what one dispatch runs is what
 * was ready when GLib polled, whatever the back end: readiness arising
 * during the dispatch (a BH's aio_notify() writing the eventfd) is left
 * for the next iteration on poll, epoll and io_uring alike, as with
 * QEMU's ppoll.  aio__dispatch_handlers() then dispatches @ready
 * (@collected) or every node's revents.  Home thread, list_lock inc'd
 * across both. */
bool aio__gsource_collect(AioContext *ctx, AioHandler **ready);
bool aio__dispatch_handlers(AioContext *ctx, bool collected,
                            AioHandler **ready);
/* Whether any node has ready revents (the GSource check). */
bool aio__pending(AioContext *ctx);
/* Frees the deleted nodes if the caller is the outermost walker.  Called
 * with list_lock inc'd; leaves it inc'd. */
void aio__free_deleted_handlers(AioContext *ctx);
/* Lets go of a retired node that no back end holds any more: frees it now
 * if nobody walks the list, else queues it for the outermost walker.  The
 * one way a handler is given up (set_fd_handler, the back ends).  Called
 * with the mutex held, from any thread. */
void aio__handler_release(AioContext *ctx, AioHandler *node);
/* Marks @node's fd as closed (POLLNVAL seen).  Home thread, list_lock inc'd. */
void aio__handler_set_nval(AioContext *ctx, AioHandler *node);
/* Adds/removes every node's pfd to/from the current GSource as its state
 * requires.  Takes the mutex. */
void aio__gsource_sync_all(AioContext *ctx);
/* The same, with the mutex already held. */
void aio__gsource_sync_all_locked(AioContext *ctx);
/* Forgets that any pfd was added to @source, which is being finalized: a
 * later source may be allocated at the same address, and membership is
 * recorded by address (in_source, fdmon_pfd_in_source).  Called with the
 * mutex held. */
void aio__gsource_forget_locked(AioContext *ctx, GSource *source);

/* Returns: false if @node is external and external handlers are paused. */
static inline bool aio__node_check(AioContext *ctx, AioHandler *node)
{
    return !node->is_external || !aio_external_disabled(ctx);
}

/* ------------------------------------------------------------------------ */
/* timer.c                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct QEMUTimerList {
    AioContext *ctx;
    QEMUClockType clock;
    pthread_mutex_t active_timers_lock;
    QEMUTimer *active_timers; /* sorted by expire_time; equal: FIFO */
} QEMUTimerList;

typedef struct QEMUTimerListGroup {
    QEMUTimerList tl[QEMU_CLOCK_MAX];
} QEMUTimerListGroup;

struct QEMUTimer {
    int64_t expire_time; /* ns, -1 when not armed; under the lock */
    QEMUTimerList *timer_list;
    QEMUTimerCB *cb;
    void *opaque;
    QEMUTimer *next;
    int attributes;
    int scale;
};

void aio__timerlistgroup_init(AioContext *ctx, QEMUTimerListGroup *tlg);
void aio__timerlistgroup_deinit(QEMUTimerListGroup *tlg);
/* Returns: ns until the earliest timer, 0 if one expired, -1 if none. */
int64_t aio__timerlistgroup_deadline_ns(QEMUTimerListGroup *tlg);
/* Returns: whether any timer is armed, on any clock.  Any thread. */
bool aio__timerlistgroup_has_timers(QEMUTimerListGroup *tlg);
/* Runs expired timers, clock by clock.  Returns: whether any ran. */
bool aio__timerlistgroup_run_timers(QEMUTimerListGroup *tlg);

/* ------------------------------------------------------------------------ */
/* clock.c                                                                   */
/* ------------------------------------------------------------------------ */

/* Returns: the sooner of two timeouts, -1 meaning forever. */
static inline int64_t aio__soonest(int64_t a, int64_t b)
{
    return (uint64_t)a < (uint64_t)b ? a : b;
}

/* Returns: ns rounded UP to whole ms (capped at G_MAXINT32); -1 stays -1. */
int aio__timeout_ns_to_ms(int64_t ns);

/* Returns: whether deadlines of @type count (a stopped virtual clock's
 * timers cannot expire by waiting). */
bool aio__clock_use_for_deadline(QEMUClockType type);

/* Sets the calling thread's timer slack to 1 ns, as QEMU does at clock
 * initialization, so that timed waits are not rounded up by 50 us. */
void aio__clock_thread_init(void);

/* ------------------------------------------------------------------------ */
/* context.c                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct FDMonOps FDMonOps;

struct AioContext {
    int refcount; /* atomic */
    /* What the loop did (aio_context_get_stats()).  Home thread only:
     * plain increments where each event happens. */
    AioContextCounters counters;
    /* GSource: whether the last prepare let GLib's poll block. */
    bool gsource_may_block;
    /* aio_context_set_observer().  Home thread only. */
    AioObserverFunc *observer;
    void *observer_opaque;
    char *name;
    pthread_t home;
    uintptr_t home_id;    /* aio__thread_id() of the home thread */
    pthread_mutex_t lock; /* aio_context_acquire/release */
    AioLeakFunc *leak_fn;
    void *leak_opaque;

    /* GSource.  source is the live source (weak: cleared by its finalize),
     * attached a strong reference while attached.  Home thread only. */
    GSource *source;
    GSource *attached;

    /* Wake-ups.  notify_me is written only by the home thread and read by
     * any thread: bit 0 is set from GSource prepare to check; bits 1–31
     * count blocking aio_poll() calls, 2 each.  notified is set by any
     * thread in aio_notify and cleared by aio_notify_accept. */
    unsigned notify_me;
    bool notified;
    EventNotifier notifier;

    /* fd handlers; all lists under list_lock (see AioHandler). */
    AioLockCnt list_lock;
    AioHandler *handlers;
    AioHandler *deleted_handlers;
    AioHandler *poll_handlers; /* home thread only */
    unsigned nr_handlers;      /* user handlers; under the mutex */
    int poll_disable_cnt;      /* handlers without io_poll; under mutex */
    int external_disable_cnt;  /* atomic */

    /* BHs: a lock-free LIFO, plus the slices of active aio_bh_poll()s. */
    QEMUBH *bh_list;                        /* atomic */
    BHListSlice *slices_head, *slices_tail; /* home thread only */
    /* The pass whose BHs are running, if it may yield (home thread). */
    struct AioPollPass *running_pass;
    /* Callbacks of a dispatch phase are running: BHs, fd handlers and
     * timers of aio_poll() (and the work of a yielded BH) or of the
     * GSource's dispatch.  A BH they schedule need not notify
     * (bh_enqueue()).  Home thread only: read after
     * aio_context_in_home_thread(). */
    bool in_dispatch;
    pthread_mutex_t bh_all_lock;
    QEMUBH *all_bhs; /* non-oneshot BHs, for leak reports */
    int nr_bhs;      /* atomic */

    /* Timers. */
    QEMUTimerListGroup tlg;
    int nr_timers; /* atomic */

    /* Adaptive polling (parameters read racily by design). */
    int64_t poll_max_ns;
    int64_t poll_grow;
    int64_t poll_shrink;
    bool poll_started; /* home thread only */
    /* This aio_poll() call busy-polls (or meant to): only then may an fd
     * monitor leave polled handlers unwatched (home thread only). */
    bool poll_this_call;
    /* POLL_IDLE_INTERVAL_NS; tests shorten it (home thread only). */
    int64_t poll_idle_interval_ns;
    /* Bumped by every aio_context_set_poll_params() (any thread); the
     * home thread resets the handlers' poll times when it differs from
     * poll_params_seen. */
    unsigned poll_params_gen;  /* atomic */
    unsigned poll_params_seen; /* home thread only */

    /* fd monitor and its scratch space (home thread only). */
    const FDMonOps *fdmon_ops;
    /* The back end's own fd as GLib polls it (when not per-fd), and the
     * source it was added to; under list_lock's mutex. */
    GPollFD fdmon_pfd;
    GSource *fdmon_pfd_in_source;
    /* Each back end's own state (only its file touches it). */
    AioContextEpoll epoll;
    AioContextUring uring;
    /* Why the fd monitor asked for is not in use, or NULL. */
    char *fdmon_fallback_reason;
    /* Created with AIO_FDMON_REQUEST_AUTO: io_uring gives way to ppoll once
     * GLib drives the context (set once, before anyone else sees ctx). */
    bool fdmon_auto;
    GPollFD *pollfds;
    AioHandler **pollnodes;
    unsigned npoll_alloc;

    /* aio-co.c: coroutines waiting for this context's co_schedule_bh (a
     * lock-free LIFO through co_scheduled_next), and that BH, made on
     * first use (both atomic; the BH is published with a CAS). */
    Coroutine *scheduled_coroutines;
    QEMUBH *co_schedule_bh;
    /* aio_co_schedule() calls between their push and their last touch of
     * the context (atomic); finalization waits for them. */
    unsigned co_schedulers;
    /* Block I/O engines, created on first use and freed at finalize (home
     * thread only).  thread_pool is also read by thread_pool_get_stats().
     * thread_pool_min/max: aio_context_set_thread_pool_params(). */
    struct ThreadPoolAio *thread_pool;
    int thread_pool_min;
    int thread_pool_max;
    struct LinuxAioState *linux_aio;
    struct LuringState *linux_io_uring;
};

/* Notifies every live context (the virtual clock moved).  Any thread. */
void aio__notify_all(void);

/* ------------------------------------------------------------------------ */
/* aio-poll.c                                                                */
/* ------------------------------------------------------------------------ */

/* Stops busy polling before a GLib poll (the GSource prepare). */
void aio__prepare(AioContext *ctx);
/* Applies pending aio_context_set_poll_params() calls to the handlers'
 * poll times.  Home thread. */
void aio__poll_params_sync(AioContext *ctx);
/* Returns: whether a set_poll_params() from another thread is not applied
 * yet (the next aio_poll() resets every poll time).  Home thread. */
bool aio__poll_params_pending(AioContext *ctx);

/* ------------------------------------------------------------------------ */
/* coroutine.c                                                               */
/* ------------------------------------------------------------------------ */

typedef enum {
    COROUTINE_YIELD = 1,
    COROUTINE_TERMINATE = 2,
    COROUTINE_ENTER = 3,
} CoroutineAction;

struct Coroutine {
    CoroutineEntry *entry;
    void *entry_arg;
    const char *name; /* static string */
    /* Who entered it, while it runs (or has entered another); NULL when
     * yielded.  Atomic: qemu_coroutine_entered() reads it from anywhere. */
    Coroutine *caller;
    AioContext *ctx; /* atomic: the context it last ran in */
    /* Non-NULL from aio_co_schedule() until the co_schedule BH takes it
     * (atomic; a second schedule in between is a bug). */
    const char *scheduled;
    Coroutine *co_scheduled_next; /* ctx->scheduled_coroutines */
    /* One link for whichever FIFO holds it: a CoQueue, a CoMutex's
     * waiters, another coroutine's wake-up queue, or the pending list of
     * qemu_aio_coroutine_enter().  It is in at most one at a time. */
    Coroutine *co_queue_next;
    /* Coroutines it woke with aio_co_enter() while running: entered after
     * it yields, by the loop that entered it. */
    Coroutine *wakeup_head, *wakeup_tail;
    unsigned locks_held;    /* CoMutexes it holds */
    CoroutineAction action; /* why the last switch into it happened */
    Coroutine *pool_next;

    /* Back end. */
    bool is_leader; /* a thread's original stack */
    ucontext_t uc;
    void *stack; /* usable part (above the guard page) */
    size_t stack_size;
    void *tsan_fiber;
};

/* A FIFO of coroutines through co_queue_next (CoQueue, CoMutex waiters, a
 * coroutine's wake-up queue).  The caller provides the locking. */
static inline void aio__co_fifo_push(Coroutine **head, Coroutine **tail,
                                     Coroutine *co)
{
    co->co_queue_next = NULL;
    if (*tail) {
        (*tail)->co_queue_next = co;
    } else {
        *head = co;
    }
    *tail = co;
}

/* Returns: the first coroutine, unlinked, or NULL. */
static inline Coroutine *aio__co_fifo_pop(Coroutine **head, Coroutine **tail)
{
    Coroutine *co = *head;

    if (co) {
        *head = co->co_queue_next;
        if (!*head) {
            *tail = NULL;
        }
        co->co_queue_next = NULL;
    }
    return co;
}

/* aio-co.c: waits for aio_co_schedule() calls still inside @ctx, then
 * deletes its co_schedule BH.  Finalization, before the BHs are freed. */
void aio__co_finalize(AioContext *ctx);

/* Makes @ctx the thread's current context (qemu_get_current_aio_context());
 * returns the previous one, to be restored.  aio_poll() and the GSource
 * dispatch bracket their callbacks with it. */
AioContext *aio__set_current_context(AioContext *ctx);
/* iov.c: scatter/gather helpers for the block engines                       */
/* ------------------------------------------------------------------------ */

#include <sys/uio.h>

/* Returns: (transfer full): a copy of the array (not the buffers); the
 * meson build accepts GLib 2.66, which lacks g_memdup2. */
struct iovec *aio__iov_copy(const struct iovec *iov, int niov);
/* Returns: the total length of @iov. */
size_t aio__iov_size(const struct iovec *iov, int niov);
/* Zero-fills @iov from byte @offset to its end. */
void aio__iov_zero_from(const struct iovec *iov, int niov, size_t offset);
/* Makes @dst (room for @niov entries) the part of @iov after its first
 * @skip bytes.  Returns: the entries in @dst (0 if nothing is left). */
int aio__iov_tail(struct iovec *dst, const struct iovec *iov, int niov,
                  size_t skip);

/* ------------------------------------------------------------------------ */
/* aiocb.c: what the block engines share                                     */
/* ------------------------------------------------------------------------ */

typedef struct BlockAIOCB BlockAIOCB;

/* An intrusive FIFO of requests; an engine's acb embeds the link.  Home
 * thread only. */
typedef struct AioReqLink {
    struct AioReqLink *next;
} AioReqLink;

typedef struct AioReqFifo {
    AioReqLink *head;
    AioReqLink **tail;
} AioReqFifo;

void aio__fifo_init(AioReqFifo *q);
void aio__fifo_append(AioReqFifo *q, AioReqLink *link);
/* Returns: the oldest link, taken off @q, or NULL. */
AioReqLink *aio__fifo_pop(AioReqFifo *q);
/* Returns: whether @link was on @q (it is off it now). */
bool aio__fifo_remove(AioReqFifo *q, AioReqLink *link);

/* Runs @acb's callback (if any) with @ret while @bh, the engine's
 * completion BH, is scheduled, so that a callback nesting aio_poll()
 * still completes the engine's other finished requests; the engine's
 * loops re-read their queues afterwards, so the schedule is dropped when
 * the callback returns.  Home thread. */
void aio__acb_complete(BlockAIOCB *acb, QEMUBH *bh, int ret);

/* ------------------------------------------------------------------------ */
/* thread-pool.c, linux-aio.c, io_uring-file.c: finalization                 */
/* ------------------------------------------------------------------------ */

/* Drains and frees @ctx's pool (see thread-pool.h).  Home thread. */
void aio__thread_pool_free(AioContext *ctx);
/* Test hook: how long an idle worker above min waits before it exits
 * (default 10 s).  Home thread. */
void aio__thread_pool_set_idle_timeout(AioContext *ctx, int64_t ns);
/* Frees the engines' state; no request may be in flight.  Home thread. */
void aio__linux_aio_free(AioContext *ctx);
void aio__linux_io_uring_free(AioContext *ctx);

/* Reports one callback or pass that started at @start_ns and ends now to
 * the observer, if there still is one.  Home thread only. */
void aio__observe(AioContext *ctx, AioEventKind kind, const char *name,
                  int64_t arg, int64_t start_ns);

/* The calling thread's identity for home-thread checks, which run several
 * times per BH: the thread pointer (one register read) where the compiler
 * gives it, else pthread_self() (a call through the PLT).  Unique among
 * live threads, like a pthread_t. */
static inline uintptr_t aio__thread_id(void)
{
#if defined(__has_builtin)
#if __has_builtin(__builtin_thread_pointer) && \
    (defined(__x86_64__) || defined(__aarch64__))
#define AIO_THREAD_ID_TP 1
#endif
#endif
#ifdef AIO_THREAD_ID_TP
    return (uintptr_t)__builtin_thread_pointer();
#else
    return (uintptr_t)pthread_self();
#endif
}

/* aio_context_in_home_thread(), inline for the binding's hot paths. */
static inline bool aio__in_home_thread(AioContext *ctx)
{
    return ctx->home_id == aio__thread_id();
}

/* Calls @cb(@opaque), a callback of @kind, and tells the observer (if any)
 * how long it took.  The callback may remove the observer (closing the
 * context from JS does): it is read again afterwards.  Home thread only. */
static inline void aio__observed_call(AioContext *ctx, AioEventKind kind,
                                      const char *name, int64_t arg,
                                      void (*cb)(void *), void *opaque)
{
    int64_t start;

    if (G_LIKELY(!ctx->observer)) {
        cb(opaque);
        return;
    }
    start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    cb(opaque);
    aio__observe(ctx, kind, name, arg, start);
}

#endif /* AIOCONTEXT_AIO_INTERNAL_H */
