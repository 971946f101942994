/*
 * types.ts — the plain types of the public API (API.md).
 */
import type { EventNotifier } from './event-notifier';

/**
 * A clock for timers: 'realtime' is monotonic, 'host' the wall clock,
 * 'virtual' the controllable test clock (virtualClock), 'virtual_rt' its
 * cousin.  QEMU's `QEMUClockType` (QEMU_CLOCK_*).
 */
export type ClockType = 'realtime' | 'virtual' | 'host' | 'virtual_rt';

/**
 * How a context watches fds: ppoll, epoll or io_uring; 'auto' is io_uring,
 * or ppoll then epoll from 64 fds where io_uring is missing, turned off
 * (AIOCONTEXT_IO_URING=0) or GLib drives the context.  QEMU's `FDMonOps`
 * back ends.
 */
export type FdMonitor = 'auto' | 'poll' | 'epoll' | 'io_uring';

/** Adaptive busy-polling parameters, as for QEMU's `aio_context_set_poll_params()`. */
export interface PollParams {
  /** The longest busy-poll, in ns; 0 turns polling off. */
  maxNs: number;
  /** The factor (an integer) by which the poll time grows; 0 (the default) means 2. */
  grow?: number;
  /** The divisor (an integer) by which it shrinks; 0 (the default) means "reset to 0". */
  shrink?: number;
}

/** Options of `new AioContext()`. */
export interface AioContextOptions {
  /** The GSource name (g_source_set_name); default 'aio-context'. */
  name?: string;
  /** The fd monitor; default 'auto'.  See stats.fdmon for the one in use. */
  fdmon?: FdMonitor;
  /** Adaptive polling; default maxNs 0 (off). */
  poll?: PollParams;
}

/**
 * The handlers of one fd, for setFdHandler(): at least one of read, write
 * or poll; any other key is a TypeError.  The arguments of QEMU's
 * `aio_set_fd_handler()`.
 */
export interface FdHandlers {
  /** Called while the fd has G_IO_IN, G_IO_HUP or G_IO_ERR. */
  read?: () => void;
  /** Called while the fd has G_IO_OUT or G_IO_ERR. */
  write?: () => void;
  /** io_poll: busy-poll hook; return true when it found (and did) work. */
  poll?: () => boolean;
  /** io_poll_begin (aio_set_fd_poll): busy polling starts. */
  pollBegin?: () => void;
  /** io_poll_end: busy polling stops. */
  pollEnd?: () => void;
  /**
   * io_flush (the 2012 API): returns true while this handler has requests
   * in flight; `ctx.flush()` polls until every flush hook says false.  It
   * does not count as a handler by itself: `read`, `write` or `poll` is
   * still needed.
   */
  flush?: () => boolean;
  /** is_external: paused by disableExternal(). */
  external?: boolean;
}

/**
 * The handlers of an event notifier, for setEventNotifier(): read or poll
 * at least; each receives the registered notifier.  The arguments of QEMU's
 * `aio_set_event_notifier()`.
 */
export interface EventNotifierHandlers {
  /** Called while the notifier is set; call n.testAndClear() in it. */
  read?: (n: EventNotifier) => void;
  /** io_poll: busy-poll hook; return true when it found (and did) work. */
  poll?: (n: EventNotifier) => boolean;
  /** io_poll_begin: busy polling starts. */
  pollBegin?: (n: EventNotifier) => void;
  /** io_poll_end: busy polling stops. */
  pollEnd?: (n: EventNotifier) => void;
  /** is_external: paused by disableExternal(). */
  external?: boolean;
}

/** Options of `ctx.bh()`. */
export interface BottomHalfOptions {
  /** Named in leak warnings; default 'bh'. */
  name?: string;
}

/** Options of `ctx.timer()`. */
export interface TimerOptions {
  /** QEMU_TIMER_ATTR_EXTERNAL: the timer drives an external subsystem. */
  external?: boolean;
}

/** Options of `ctx.attach()`. */
export interface AttachOptions {
  /** The GSource priority; default 0 (G_PRIORITY_DEFAULT); lower runs first. */
  priority?: number;
}

/** Read-only introspection of a context, read live on every access. */
export interface AioContextStats {
  /** The raw notify_me word: bit 0 GSource waiter, +2 per blocking poll(). */
  notifyMe: number;
  /** Whether notify() was called since the last wait was accepted. */
  notified: boolean;
  /** The largest adaptive poll time among poll handlers, in ns. */
  pollNs: number;
  /** Whether busy polling is on (pollBegin hooks called). */
  pollStarted: boolean;
  /** Registered fd and notifier handlers (the context's own notifier excluded). */
  handlers: number;
  /** BHs allocated and not yet freed by the loop (oneshots included). */
  bhs: number;
  /** Timers created and not yet deleted. */
  timers: number;
  /** The fd monitor in use. */
  fdmon: 'poll' | 'epoll' | 'io_uring';
  /** Why the fd monitor asked for is not in use, or null. */
  fdmonFallbackReason: string | null;
  /**
   * Callbacks run since the context was created, by kind: BHs (oneshots
   * included), fd and event-notifier handlers (read, write and poll-ready
   * callbacks), timers.  Counted in the core, one add per callback.
   */
  dispatches: { bh: number; fd: number; timer: number };
  /** Waits that could block: poll(true) waits, and GLib polls our prepare let block. */
  blockingWaits: number;
  /** Wake-ups by notify() (or a BH scheduled from elsewhere) taken from the context's eventfd. */
  notifyWakeups: number;
  /** Busy-poll runs that found an event before their time ran out. */
  pollHits: number;
  /** Busy-poll runs that found nothing (the wait then blocked). */
  pollMisses: number;
  /** Time spent busy polling, in ns. */
  pollTimeNs: number;
}
