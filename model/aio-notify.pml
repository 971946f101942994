/*
 * aio-notify.pml: a Promela model of aiocontext's wake-up protocol
 * (notify_me / notified / the context's eventfd), checked with Spin.
 *
 * Property: no lost wake-up.  The home thread never sleeps for good while
 * a BH is scheduled, and once every notifier thread is done and the home
 * thread has gone quiet, the BH has run after its last schedule.
 *
 *   - A lost wake-up shows up as an INVALID END STATE: the notifiers have
 *     terminated, the home thread is blocked in a wait (GLib's poll or
 *     aio_poll's fd wait) that nothing will ever end, and `bh` is still
 *     set.  The only way out of a wait other than the eventfd is the
 *     `quiescent` exit, whose guard needs `!bh`, so a blocked home thread
 *     is a valid end state only when every BH has run.
 *   - The assertion at `quiescent` checks that the BH ran after the last
 *     schedule (ran_upto == seq) and that every schedule happened.
 *
 * Memory model: sequential consistency.  Every shared load or store (each
 * atomic_read/atomic_set/RMW in the C code) is its own Promela statement,
 * i.e. an interleaving point; the barriers are explicit steps (smp_mb(),
 * smp_wmb()) that do nothing under SC.  A missing barrier is modelled by
 * performing the reordering it would allow (BUG_NOTIFY_NO_MB).
 *
 * See model/README.md for the mapping of each step to the C code.
 *
 * Build-time knobs (spin -D...):
 *   ROUNDS=n     schedules + aio_notify() per notifier thread (default 2)
 *   NOTIFIERS=n  notifier threads (default 2)
 *   SPURIOUS=n   wake-ups of a wait by something other than the eventfd
 *                (another GLib source or fd), total budget (default 1)
 * Broken variants, each of which must be caught:
 *   BUG_SKIP_SET_WHEN_NOTIFIED  aio_notify() skips event_notifier_set()
 *                               when `notified` was already true
 *                               (SEMANTICS.md §1, the promela BUG2 rule)
 *   BUG_NO_NOTIFY_ME            aio_poll() does not add 2 to notify_me
 *   BUG_NOTIFY_NO_MB            aio_notify() without its smp_mb(): the
 *                               load of notify_me passes the stores
 *   BUG_PREPARE_NO_MB           aio_ctx_prepare() without its smp_mb():
 *                               the load of bh_list passes the store of
 *                               notify_me bit 0
 *   BUG_NO_BIT0_IN_PREPARE      aio_ctx_prepare() does not set bit 0 (as
 *                               if dispatch and check managed it alone)
 * Correct variants, which must pass:
 *   (default)                   aio_ctx_dispatch() clears bit 0 as it
 *                               starts: our one deviation from QEMU
 *   QEMU_BIT0_UNTIL_CHECK       QEMU's own protocol: bit 0 stays set
 *                               after a TRUE prepare until the next check
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef ROUNDS
#define ROUNDS 2
#endif
#ifndef NOTIFIERS
#define NOTIFIERS 2
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif

/* Barriers: explicit steps that are no-ops under sequential consistency. */
#define smp_mb()   skip
#define smp_wmb()  skip

/* ---- shared state ------------------------------------------------------ */

bool bh = false;        /* the BH is SCHEDULED (and linked): what
                           aio__bh_pending()/aio__bh_timeout() see */
byte seq = 0;           /* schedules so far (ghost) */
byte ran_upto = 0;      /* seq when the BH last ran (ghost) */
byte notify_me = 0;     /* bit 0: GSource prepare..check; +2 per aio_poll */
bool notified = false;
bool event = false;     /* the eventfd's counter is non-zero (readable) */
byte notifiers_done = 0;
byte spurious = SPURIOUS;

/* aio_bh_poll(): steal the list and clear SCHEDULED (fetch_and in
 * bh_dequeue()); a schedule either happened before and is run now, or after
 * and is seen as pending again.  One atomic step. */
#define BH_POLL() \
    atomic { \
        if \
        :: bh -> bh = false; ran_upto = seq \
        :: else -> skip \
        fi \
    }

/* A wait with an infinite timeout on the eventfd: GLib's poll() or
 * aio_poll()'s fdmon->wait().  Level-triggered: returns once the eventfd is
 * readable, with revents set.  Also: a bounded number of wake-ups by some
 * other fd/source (revents is then whatever the eventfd's level is), and
 * the quiescent exit: once every notifier has finished and no BH is
 * pending, sleeping for ever is correct, so the home thread ends.  With a
 * BH pending and nothing left to set the eventfd, no branch is executable:
 * Spin reports an invalid end state (the lost wake-up). */
#define WAIT_FOREVER(rev) \
    if \
    :: event -> rev = true \
    :: spurious > 0 -> spurious--; rev = event \
    :: (notifiers_done == NOTIFIERS && !bh) -> goto quiescent \
    fi

/* The context's own notifier handler (notifier_read ->
 * event_notifier_test_and_clear) fires if the fd monitor reports it:
 * fdmon-poll uses the revents captured by poll(); fdmon-epoll/io_uring
 * collect the ready list again at dispatch time (the current level).
 * Either may be the case on any dispatch. */
#define NOTIFIER_HANDLER(rev) \
    if \
    :: rev -> event = false \
    :: event -> event = false \
    :: true -> skip \
    fi; \
    rev = false

/* End of a nested call: the BH callback returns and the outer call runs
 * its notifier handler.  A nested aio_poll() may have taken the notifier
 * off the outer aio_poll()'s ready list (aio__add_ready_handler), so the
 * outer drain is optional there. */
#define RETURN_TO_OUTER() \
    if \
    :: nested -> \
        nested = false; rev = outer_rev; outer_rev = false; \
        if \
        :: outer_gs -> NOTIFIER_HANDLER(rev) \
        :: else -> \
            if \
            :: rev -> event = false \
            :: true -> skip \
            fi; \
            rev = false \
        fi; \
        outer_gs = false \
    :: else -> skip \
    fi

/* ---- notifier thread: qemu_bh_schedule() + aio_notify() ----------------- */

active [NOTIFIERS] proctype notifier()
{
    byte i = 0;
    bool nm = false;        /* the value of notify_me it read */
    bool old = false;       /* BUG_SKIP_SET_WHEN_NOTIFIED: notified before */

    do
    :: i < ROUNDS ->
#ifdef BUG_NOTIFY_NO_MB
        /* No smp_mb(): under TSO the load of notify_me may be satisfied
         * while the stores below still sit in the store buffer. */
        nm = (notify_me != 0);
#endif
        /* bh_enqueue(): fetch_or(PENDING|SCHEDULED) + CAS onto bh_list;
         * the BH becomes visible to the home thread at one point. */
        atomic { bh = true; seq++ };
        /* aio_notify() */
        smp_wmb();
#ifdef BUG_SKIP_SET_WHEN_NOTIFIED
        atomic { old = notified; notified = true };
#else
        notified = true;
#endif
        smp_mb();
#ifndef BUG_NOTIFY_NO_MB
        nm = (notify_me != 0);
#endif
        if
#ifdef BUG_SKIP_SET_WHEN_NOTIFIED
        :: nm && !old -> event = true   /* event_notifier_set() */
#else
        :: nm -> event = true           /* event_notifier_set() */
#endif
        :: else -> skip
        fi;
        nm = false;
        old = false;
        i++
    :: else -> break
    od;
    notifiers_done++
}

/* ---- home thread: GLib iterations and aio_poll(), in any order ---------- */

/* A BH callback may itself run the loop (GLib recursion is on:
 * g_source_set_can_recurse(TRUE); or aio_poll() from a BH).  One level of
 * nesting is modelled: right after the outer call's aio_bh_poll() the home
 * thread saves what the outer call still has to do (its notifier handler,
 * with its revents) and starts a new iteration; at the end of that
 * iteration it finishes the outer call. */
#ifndef NESTING
#define NESTING 1
#endif

active proctype home()
{
    bool ready = false;     /* GSource: prepare/check result */
    bool rev = false;       /* the eventfd's revents from the last wait */
    bool inf = false;       /* aio_poll: timeout != 0 (infinite) */
    bool use_nm = false;    /* aio_poll: use_notify_me */
    bool blocking = false;
    bool nested = false;    /* inside a BH callback of an outer call */
    bool outer_rev = false; /* the outer call's revents */
    bool outer_gs = false;  /* the outer call is a GSource dispatch */

loop:
    do
    /* ---- g_main_context_iteration(main, may_block) ---- */
    :: if
       :: blocking = true
       :: blocking = false
       fi;
        /* aio_ctx_prepare() */
#ifdef BUG_PREPARE_NO_MB
        /* No smp_mb(): the load of bh_list may pass the notify_me store. */
        ready = bh;
        notify_me = notify_me | 1;
#elif defined(BUG_NO_BIT0_IN_PREPARE)
        /* prepare never announces GLib's wait. */
        smp_mb();
        ready = bh;
#else
        notify_me = notify_me | 1;
        smp_mb();
        ready = bh;                 /* aio_compute_timeout() == 0 */
#endif
        if
        :: ready ->
            /* GLib marks the source ready and polls with timeout 0; it
             * does NOT call check(): bit 0 stays set, notified stays. */
            rev = event
        :: else ->
            if
            :: blocking -> WAIT_FOREVER(rev)     /* poll(-1) */
            :: else -> rev = event               /* poll(0) */
            fi;
            /* aio_ctx_check() */
            notify_me = notify_me & 254;         /* release store */
            notified = false;                    /* aio_notify_accept() */
            smp_mb();
            ready = bh || rev                    /* bh pending || aio__pending */
        fi;
        blocking = false;
        if
        :: ready ->
            ready = false;
            /* aio_ctx_dispatch() */
#ifndef QEMU_BIT0_UNTIL_CHECK
            /* [deviation] dispatch clears bit 0 as it starts (release
             * store): after a TRUE prepare GLib skipped check, and nobody
             * sleeps in GLib's poll while this thread dispatches. */
            notify_me = notify_me & 254;
#endif
            BH_POLL();
            if
            :: NESTING && !nested ->             /* the BH runs the loop */
                nested = true; outer_gs = true; outer_rev = rev; rev = false;
                goto loop
            :: true -> skip
            fi;
            NOTIFIER_HANDLER(rev)
        :: else -> rev = false
        fi;
        RETURN_TO_OUTER()

    /* ---- aio_poll(ctx, blocking) ---- */
    :: if
       :: blocking = true
       :: blocking = false
       fi;
        inf = (blocking && !bh);    /* aio_compute_timeout(): 0 if BH */
        blocking = false;
        /* try_poll_mode(): busy polling may see notified (notifier_poll) */
        if
        :: inf && notified -> inf = false
        :: true -> skip
        fi;
        use_nm = inf;
        if
        :: use_nm ->
#ifndef BUG_NO_NOTIFY_ME
            notify_me = notify_me + 2;
#endif
            smp_mb();
            if
            :: notified -> inf = false
            :: else -> skip
            fi
        :: else -> skip
        fi;
        if
        :: inf ->
            /* poll_set_started(false): a final io_poll may see notified */
            if
            :: notified -> inf = false
            :: true -> skip
            fi;
            if
            :: inf -> WAIT_FOREVER(rev)      /* fdmon->wait(-1) */
            :: else -> rev = event           /* fdmon->wait(0) */
            fi
        /* timeout == 0: fdmon->wait(0) if need_wait (some handler has no
         * io_poll), else no syscall at all.  The model leaves it open. */
        :: !inf -> rev = event
        :: !inf -> skip
        fi;
        inf = false;
        if
        :: use_nm ->
#ifndef BUG_NO_NOTIFY_ME
            notify_me = notify_me - 2        /* release store */
#else
            skip
#endif
        :: else -> skip
        fi;
        use_nm = false;
        notified = false;                    /* aio_notify_accept() */
        smp_mb();
        BH_POLL();
        if
        :: NESTING && !nested ->             /* the BH runs the loop */
            nested = true; outer_gs = false; outer_rev = rev; rev = false;
            goto loop
        :: true -> skip
        fi;
        /* dispatch_ready_handlers(): notifier_read if wait() saw it */
        if
        :: rev -> event = false
        :: else -> skip
        fi;
        rev = false;
        RETURN_TO_OUTER()

    /* ---- aio_context_detach(): no check follows the last prepare ---- */
    :: notify_me = notify_me & 254
    od;

quiescent:
    /* Every notifier is done and no BH is pending: the BH ran after the
     * last schedule, and every schedule happened. */
    assert(!bh && ran_upto == seq && seq == NOTIFIERS * ROUNDS)
}
