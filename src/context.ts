/*
 * context.ts — AioContext: QEMU's event loop, as a GLib GSource.
 *
 * Every method validates its arguments (src/validate.ts) and refuses use
 * after close() before calling the native context, which owns everything
 * the loop can call: BHs, timers, fd and notifier handlers.  See API.md for
 * the contract and README.md for the lifetimes.
 */
import * as awaitables from './awaitables';
import type { AbortOptions } from './awaitables';
import { BottomHalf } from './bottom-half';
import { SCALE_MS, clockIndex } from './clock';
import { closedError } from './errors';
import { EventNotifier, openNativeNotifier } from './event-notifier';
import { MainContext, nativeMainContext } from './main-context';
import { type FastHandle, binding, kConstruct, type NativeContext } from './native';
import { attachNodeLoop, type NodeLoopHandle, type NodeLoopOptions } from './node-loop';
import { finishPoll } from './poll-driver';
import { type ChromeTrace, Observation, observedPoll, startTrace, stopObserving, stopTrace, type TraceOptions } from './observe';
import { throwLateRejections } from './rejections';
import { makeToken, type SharedToken } from './shared';
import { closeFilesOf } from './file';
import { ThreadPool } from './thread-pool';
import { Timer } from './timer';
import type {
  AioContextOptions,
  AioContextStats,
  AttachOptions,
  BottomHalfOptions,
  ClockType,
  EventNotifierHandlers,
  FdHandlers,
  FdMonitor,
  PollParams,
  TimerOptions,
} from './types';
import {
  checkBoolean,
  checkFd,
  checkFunction,
  checkInt32,
  checkNonNegativeSafeInteger,
  checkObject,
  checkOneOf,
  checkPositiveInt32,
  checkString,
  invalidArg,
  optionalBoolean,
  checkKeys,
  checkNonNegativeNumber,
  optionalFunction,
  optionsOf,
} from './validate';

/** AioFdMonRequest values, in the core's order. */
const FDMONS: readonly FdMonitor[] = ['auto', 'poll', 'epoll', 'io_uring'];

/* The known keys of each handler object and option bag: any other key is a
 * TypeError naming it (validate.ts, checkKeys). */
const FD_HANDLER_KEYS = ['read', 'write', 'poll', 'pollBegin', 'pollEnd', 'flush', 'external'] as const;
const NOTIFIER_HANDLER_KEYS = ['read', 'poll', 'pollBegin', 'pollEnd', 'external'] as const;
const POLL_PARAM_KEYS = ['maxNs', 'grow', 'shrink'] as const;

/* One function for every context: the call site in poll() keeps one
 * target (native/addon/fast-method.h). */
const fastPoll = binding.Context.fastPoll;

type Fn = (...args: never[]) => unknown;

let nativeOf: (ctx: AioContext) => NativeContext;

/**
 * A handler object: an object whose keys are all in `known` and that names
 * at least one of `required` (as a function; checked by the caller), so
 * that `{}` or `{ onread() {} }` is a TypeError rather than a removal.
 */
function handlerObject(value: unknown, known: readonly string[], required: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw invalidArg('handlers', 'of type object or null', value);
  checkKeys(value, 'handlers', known);
  const h = value as Record<string, unknown>;
  if (!required.some((key) => h[key] !== undefined && h[key] !== null)) {
    const names = required.map((k) => `"${k}"`).join(' or ');
    throw invalidArg('handlers', `an object with a ${names} function (null removes the handler)`, value, 'ERR_INVALID_ARG_VALUE');
  }
  return h;
}

/** Validates poll parameters; `name` prefixes the property names in errors. */
function pollParams(value: unknown, name: string): [number, number, number] {
  checkObject(value, name);
  checkKeys(value, name, POLL_PARAM_KEYS);
  const { maxNs, grow = 0, shrink = 0 } = value as Partial<PollParams>;
  checkNonNegativeSafeInteger(maxNs, `${name}.maxNs`);
  // Integers, as QEMU's poll-grow/poll-shrink (int64): the core would
  // truncate 1.5 to 1 without a word.
  checkNonNegativeSafeInteger(grow, `${name}.grow`);
  checkNonNegativeSafeInteger(shrink, `${name}.shrink`);
  return [maxNs, grow, shrink];
}

/**
 * An event loop: bottom halves, fd handlers and timers, run by poll(), by
 * any GLib loop it is attached to, or by Node's own loop.  Its home thread
 * is the thread that created it.  QEMU's `AioContext`.
 */
export class AioContext implements Disposable {
  readonly #native: NativeContext;
  readonly #fast: FastHandle<'context'>;
  readonly #name: string;
  #closed = false;
  /** The handle while Node's loop runs this context (attachToNodeLoop()). */
  #nodeLoop: NodeLoopHandle | null = null;
  /** diagnostics_channel and trace state (observe.ts). */
  readonly #observation = new Observation();
  /** ctx.threadPool, made on first use. */
  #threadPool: ThreadPool | null = null;

  /**
   * Creates a context whose home thread is the calling thread.  Maps to
   * QEMU's `aio_context_new()`.
   */
  constructor(options?: AioContextOptions) {
    const opts = optionsOf(options, 'options', ['name', 'fdmon', 'poll']);
    const name = opts.name ?? 'aio-context';
    checkString(name, 'options.name');
    const fdmon = opts.fdmon ?? 'auto';
    checkOneOf(fdmon, 'options.fdmon', FDMONS);
    const poll = opts.poll === undefined ? undefined : pollParams(opts.poll, 'options.poll');

    this.#native = new binding.Context(name, FDMONS.indexOf(fdmon));
    this.#fast = this.#native.fastHandle;
    this.#name = name;
    if (poll !== undefined) this.#native.setPollParams(...poll);
  }

  /** Throws ERR_AIO_CLOSED after close(); returns the native context. */
  #open(): NativeContext {
    if (this.#closed) throw closedError(`AioContext '${this.#name}'`);
    return this.#native;
  }

  /* ---- the loop ----------------------------------------------------------- */

  /**
   * Runs one iteration of the loop: the BHs, fd handlers and timers that
   * are ready, first waiting for one when `blocking` is true.  Returns true
   * if a user callback ran (a wake-up by notify() alone is not progress).
   * Throws what the callbacks threw (several: an AggregateError) once the
   * iteration is over; first throws, running nothing, the rejections of
   * promises returned by earlier callbacks (see README, "Async callbacks").
   * poll(true) on a context with nothing armed (no fd handler, timer or
   * scheduled BH, no block I/O in flight) that was never shared throws
   * ERR_AIO_WOULD_BLOCK_FOREVER: nothing could ever wake it.  Maps to
   * QEMU's `aio_poll()`.
   */
  poll(blocking: boolean): boolean {
    const native = this.#open();
    checkBoolean(blocking, 'blocking');
    throwLateRejections('poll');
    const obs = this.#observation;
    if (obs.idle()) {
      if (obs.on) stopObserving(native, obs);
      return finishPoll(fastPoll(this.#fast, blocking));
    }
    return observedPoll(this, this.#name, native, obs, blocking);
  }

  /**
   * Runs the loop, blocking, for as long as `cond()` returns a truthy
   * value; returns at once if it does not.  Throws what poll(true) throws
   * (callbacks' errors, ERR_AIO_WOULD_BLOCK_FOREVER, ERR_AIO_CLOSED once a
   * callback closed the context) and what `cond` throws.  Maps to QEMU's
   * `AIO_WAIT_WHILE()` from the home thread.
   */
  waitWhile(cond: () => boolean): void {
    this.#open();
    checkFunction(cond, 'cond');
    while (cond()) this.poll(true);
  }

  /**
   * Returns whether poll(false) would run a callback now: a BH is
   * scheduled, a timer expired, or a handler's fd is ready.  Runs nothing.
   * Maps to QEMU's `aio_pending()` (2012).
   */
  pending(): boolean {
    return this.#open().pending();
  }

  /**
   * Runs the loop, blocking, until no BH is scheduled and no fd handler's
   * `flush` hook reports requests in flight.  Throws what callbacks and
   * flush hooks threw, as poll() does.  Maps to QEMU's `aio_flush()`
   * (2012).
   */
  flush(): void {
    const native = this.#open();
    throwLateRejections('flush');
    native.flush();
  }

  /**
   * Makes the current blocking wait return, or the next one return at once.
   * Safe from any thread.  Maps to QEMU's `aio_notify()`.
   */
  notify(): void {
    this.#open().notify();
  }

  /**
   * Returns how long a blocking poll() may wait, in ns: 0 if something is
   * ready, -1 for "until an event".  Maps to QEMU's `aio_compute_timeout()`.
   */
  computeTimeout(): number {
    return this.#open().computeTimeout();
  }

  /* ---- bottom halves and timers ------------------------------------------- */

  /**
   * Creates a bottom half that runs `cb` each time it is scheduled; it is
   * not scheduled yet.  `options.name` names it in leak warnings.  Maps to
   * QEMU's `aio_bh_new()`.
   */
  bh(cb: () => void, options?: BottomHalfOptions): BottomHalf {
    const native = this.#open();
    checkFunction(cb, 'cb');
    const opts = optionsOf(options, 'options', ['name']);
    const name = opts.name ?? 'bh';
    checkString(name, 'options.name');
    return new BottomHalf(kConstruct, native.bh(cb, name), this);
  }

  /**
   * Runs `cb` once, in the next BH pass; it cannot be cancelled.  Maps to
   * QEMU's `aio_bh_schedule_oneshot()`.
   */
  scheduleOneshot(cb: () => void): void {
    const native = this.#open();
    checkFunction(cb, 'cb');
    native.scheduleOneshot(cb);
  }

  /**
   * Creates an unarmed timer on `clock` whose times are in units of `scale`
   * nanoseconds (SCALE_NS, SCALE_US, SCALE_MS); it runs `cb` when it
   * expires.  Maps to QEMU's `aio_timer_new()` (`aio_timer_new_with_attrs()`
   * with `options.external`).
   */
  timer(clock: ClockType, scale: number, cb: () => void, options?: TimerOptions): Timer {
    const native = this.#open();
    const index = clockIndex(clock, 'clock');
    checkPositiveInt32(scale, 'scale');
    checkFunction(cb, 'cb');
    const opts = optionsOf(options, 'options', ['external']);
    const external = optionalBoolean(opts.external, 'options.external', false);
    return new Timer(kConstruct, native.timer(index, scale, cb, external), this, clock, scale);
  }

  /* ---- fd handlers -------------------------------------------------------- */

  /**
   * Registers or replaces the handlers of `fd` (one registration per fd), or
   * removes them when `handlers` is `null`.  The object must name at least
   * one of `read`, `write` or `poll`; a key it does not know (a typo such as
   * `onread`) is a TypeError that names it, so a mistake never removes a
   * handler silently.  The fd stays yours: remove its handler before
   * closing it.  Maps to QEMU's `aio_set_fd_handler()`.
   */
  setFdHandler(fd: number, handlers: FdHandlers | null): void {
    const native = this.#open();
    checkFd(fd, 'fd');
    if (handlers === null) {
      native.setFdHandler(fd, undefined, undefined, undefined, undefined, undefined, false);
      return;
    }
    const h = handlerObject(handlers, FD_HANDLER_KEYS, ['read', 'write', 'poll']);
    const read = optionalFunction<Fn>(h.read, 'handlers.read');
    const write = optionalFunction<Fn>(h.write, 'handlers.write');
    const poll = optionalFunction<Fn>(h.poll, 'handlers.poll');
    const pollBegin = optionalFunction<Fn>(h.pollBegin, 'handlers.pollBegin');
    const pollEnd = optionalFunction<Fn>(h.pollEnd, 'handlers.pollEnd');
    const flush = optionalFunction<Fn>(h.flush, 'handlers.flush');
    const external = optionalBoolean(h.external, 'handlers.external', false);
    native.setFdHandler(fd, read, write, poll, pollBegin, pollEnd, external, flush);
  }

  /**
   * Registers the descriptor of the event notifier `n`, or removes it when
   * `handlers` is `null`; each handler receives `n` itself.  The object
   * must name `read` or `poll`, and unknown keys are a TypeError, as for
   * setFdHandler().  Maps to QEMU's `aio_set_event_notifier()` (and
   * `aio_set_event_notifier_poll()` for the poll hooks).
   */
  setEventNotifier(n: EventNotifier, handlers: EventNotifierHandlers | null): void {
    const native = this.#open();
    if (!EventNotifier.isEventNotifier(n)) throw invalidArg('n', 'an instance of EventNotifier', n);
    const h = handlers === null ? null : handlerObject(handlers, NOTIFIER_HANDLER_KEYS, ['read', 'poll']);
    const notifier = openNativeNotifier(n);
    if (h === null) {
      native.setEventNotifier(notifier, n, undefined, undefined, undefined, undefined, false);
      return;
    }
    native.setEventNotifier(
      notifier,
      n,
      optionalFunction<Fn>(h.read, 'handlers.read'),
      optionalFunction<Fn>(h.poll, 'handlers.poll'),
      optionalFunction<Fn>(h.pollBegin, 'handlers.pollBegin'),
      optionalFunction<Fn>(h.pollEnd, 'handlers.pollEnd'),
      optionalBoolean(h.external, 'handlers.external', false),
    );
  }

  /**
   * Pauses the handlers and timers registered as external; calls nest.
   * Maps to QEMU's `aio_disable_external()`.
   */
  disableExternal(): void {
    this.#open().disableExternal();
  }

  /**
   * Undoes one disableExternal(); throws ERR_AIO_NOT_DISABLED if none is
   * left.  Maps to QEMU's `aio_enable_external()`.
   */
  enableExternal(): void {
    this.#open().enableExternal();
  }

  /** Whether external handlers are paused (disableExternal() outstanding). */
  get externalDisabled(): boolean {
    return this.#open().externalDisabled;
  }

  /**
   * Sets adaptive busy polling: the longest poll in ns (0 turns it off) and
   * how its time grows and shrinks.  Maps to QEMU's
   * `aio_context_set_poll_params()`.
   */
  setPollParams(p: PollParams): void {
    const native = this.#open();
    native.setPollParams(...pollParams(p, 'p'));
  }

  /* ---- lock, GSource, introspection --------------------------------------- */

  /**
   * Takes the context's recursive lock, blocking while another thread holds
   * it.  Maps to QEMU's `aio_context_acquire()`.
   */
  acquire(): void {
    this.#open().acquire();
  }

  /**
   * Releases one acquire(); throws ERR_AIO_NOT_ACQUIRED without one.  Maps
   * to QEMU's `aio_context_release()`.
   */
  release(): void {
    this.#open().release();
  }

  /**
   * Lets the GLib main context `main` (default: MainContext.default()) run
   * this context, as one of its sources with `options.priority`, and
   * returns the source id.  While attached, the context stays alive even if
   * JS drops it.  Throws ERR_AIO_ATTACHED if already attached.  Maps to
   * GLib's `g_source_attach()` of the context's GSource.
   */
  attach(main?: MainContext, options?: AttachOptions): number {
    const native = this.#open();
    if (main !== undefined && main !== null && !MainContext.isMainContext(main)) {
      throw invalidArg('main', 'an instance of MainContext', main);
    }
    const opts = optionsOf(options, 'options', ['priority']);
    const priority = opts.priority ?? 0;
    checkInt32(priority, 'options.priority');
    return native.attach(nativeMainContext(main ?? MainContext.default()), priority);
  }

  /**
   * Stops any GLib loop from running this context (and Node's loop: the
   * same as detaching the attachToNodeLoop() handle); attach() works again
   * after.  Maps to GLib's `g_source_destroy()`.
   */
  detach(): void {
    const native = this.#open();
    if (this.#nodeLoop !== null) this.#nodeLoop.detach();
    else native.detach();
  }

  /* ---- Node's event loop and promises -------------------------------------- */

  /**
   * Lets Node's own event loop run this context, without blocking: its BHs,
   * fd handlers and timers run between Node's callbacks, each as a Node
   * callback (microtasks drained after it; a throw reaches 'uncaughtException').
   * The context is attached to a private MainContext that libuv drives.
   * While the handle is ref'd (the default), the process stays alive as long
   * as the context has armed work: fd handlers, a pending timer, a scheduled
   * BH.  Throws ERR_AIO_ATTACHED if the context is attached anywhere.  Not
   * in QEMU: the core's AioLoopBridge runs GLib's prepare/check around
   * libuv's poll.
   */
  attachToNodeLoop(options?: NodeLoopOptions): NodeLoopHandle {
    const native = this.#open();
    const opts = optionsOf(options, 'options', ['priority']);
    const priority = opts.priority ?? 0;
    checkInt32(priority, 'options.priority');
    const main = new MainContext();
    native.attach(nativeMainContext(main), priority); // ERR_AIO_ATTACHED if attached
    try {
      this.#nodeLoop = attachNodeLoop(this, nativeMainContext(main), native, () => {
        this.#nodeLoop = null;
        if (!native.closed) native.detach();
      });
    } catch (err) {
      native.detach();
      throw err;
    }
    return this.#nodeLoop;
  }

  /**
   * Returns a promise that resolves `ns` nanoseconds from now, from a
   * realtime timer of this context (a fraction of a ns rounds up).  Note
   * the unit: sleepMs() takes milliseconds.  `options.signal` aborts the
   * wait and removes the timer.  Maps to QEMU's `aio_timer_new()` +
   * `timer_mod_ns()` on QEMU_CLOCK_REALTIME.
   */
  sleep(ns: number, options?: AbortOptions): Promise<void> {
    this.#open();
    checkNonNegativeNumber(ns, 'ns');
    return awaitables.sleep(this, ns, options);
  }

  /**
   * Returns a promise that resolves `ms` milliseconds from now (fractions
   * allowed), from a realtime timer of this context: sleep(ms * SCALE_MS).
   * `options.signal` aborts the wait and removes the timer.  Maps to QEMU's
   * `aio_timer_new()` + `timer_mod()` with SCALE_MS.
   */
  sleepMs(ms: number, options?: AbortOptions): Promise<void> {
    this.#open();
    checkNonNegativeNumber(ms, 'ms');
    return awaitables.sleep(this, ms * SCALE_MS, options);
  }

  /**
   * Returns a promise that resolves when `fd` is readable, from a one-shot
   * read handler; throws ERR_AIO_BUSY if `fd` has a handler already.  Maps
   * to QEMU's `aio_set_fd_handler()`, removed after the first call.
   */
  readable(fd: number, options?: AbortOptions): Promise<void> {
    return awaitables.fdReady(this, this.#open(), fd, 'read', options);
  }

  /**
   * Returns a promise that resolves when `fd` is writable, from a one-shot
   * write handler; throws ERR_AIO_BUSY if `fd` has a handler already.  Maps
   * to QEMU's `aio_set_fd_handler()`, removed after the first call.
   */
  writable(fd: number, options?: AbortOptions): Promise<void> {
    return awaitables.fdReady(this, this.#open(), fd, 'write', options);
  }

  /**
   * Returns a promise that resolves from the next BH pass.  Maps to QEMU's
   * `aio_bh_new()` + `qemu_bh_schedule()`.
   */
  nextBh(options?: AbortOptions): Promise<void> {
    this.#open();
    return awaitables.nextBh(this, options);
  }

  /**
   * Drives this context with poll(true) until `until` settles, letting
   * promise reactions run between polls; resolves to its value or rejects
   * with its error (or with what a callback threw).  It blocks the thread
   * while it waits: `until` must be settled by something this context runs
   * (its callbacks or awaitables), not by a Node event such as setTimeout.
   * When attached to Node's loop it simply awaits `until`.  With nothing
   * armed in the context and the context never shared, only Node's loop
   * could settle `until`: that rejects with ERR_AIO_WOULD_BLOCK_FOREVER.
   * QEMU's `AIO_WAIT_WHILE()` pattern, for promises.
   */
  run<T>(until: T | PromiseLike<T>): Promise<T> {
    const native = this.#open();
    return awaitables.run(
      this,
      until,
      () => this.#nodeLoop !== null,
      () => native.wouldBlockForever(),
    );
  }

  /**
   * Runs the async function `fn` as a coroutine of this context: calls it
   * from a BH of the context (never synchronously), and each awaitable of
   * the context it awaits resumes it from the context's dispatch.  The
   * returned promise settles with `fn`'s result; its throw rejects that
   * promise only (no driver throws it).  See README, "Coroutines and
   * waiting", for when its steps run under poll(), and how run() helps.
   * QEMU's `qemu_coroutine_create()` + `aio_co_enter()`, in JS terms.
   */
  spawn<T>(fn: () => Promise<T>): Promise<T> {
    this.#open();
    checkFunction(fn, 'fn');
    return awaitables.spawn(this, fn);
  }

  /** The attachToNodeLoop() handle while Node's loop runs this context, else null. */
  get nodeLoop(): NodeLoopHandle | null {
    return this.#nodeLoop;
  }

  /**
   * aio_get_thread_pool: the context's pool of worker threads (the
   * 'threads' file engine): setParams({ min, max }) and live stats.
   */
  get threadPool(): ThreadPool {
    this.#open();
    return (this.#threadPool ??= new ThreadPool(this, () => this.#open()));
  }

  /** The GSource id while attached, else null. */
  get sourceId(): number | null {
    return this.#closed ? null : this.#native.sourceId;
  }

  /**
   * Counters and state read live on every access, for tests and tools
   * (stats.dispatches and the other counters count since creation).  Maps
   * to the core's `aio_context_get_stats()` (not in QEMU).
   */
  get stats(): AioContextStats {
    return this.#open().stats;
  }

  /**
   * Starts recording every pass and callback of this context that starts
   * within @options.durationMs (default 10 s), for stopTrace().  A second
   * call starts over.  See observe.ts and the README's "Observability".
   */
  startTrace(options?: TraceOptions): void {
    startTrace(this.#open(), this.#observation, options);
  }

  /**
   * Ends the recording and returns it as Chrome trace-event JSON (an object:
   * JSON.stringify it to a file and open it in Perfetto); without
   * startTrace(), one with no events.
   */
  stopTrace(): ChromeTrace {
    return stopTrace(this, this.#name, this.#open(), this.#observation);
  }

  /** The name given at construction (the GSource name). */
  get name(): string {
    return this.#name;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Deletes every BH, timer and handler, detaches, and releases the
   * context; idempotent.  BHs that were never deleted are named in one
   * 'AioLeakWarning' process warning.  Maps to QEMU's `aio_context_unref()`.
   */
  close(): void {
    if (this.#closed) return;
    closeFilesOf(this); // ERR_AIO_BUSY while file requests are in flight
    awaitables.cancelWaiters(this);
    this.#nodeLoop?.detach();
    const leaked = this.#native.close();
    this.#closed = true;
    if (leaked.length > 0) {
      const names = leaked.map((n) => `'${n}'`).join(', ');
      const count = leaked.length === 1 ? '1 bottom half' : `${leaked.length} bottom halves`;
      process.emitWarning(
        `AioContext '${this.#name}' was closed with ${count} never deleted: ${names}. ` +
          'Call delete() on each BottomHalf before closing its context.',
        'AioLeakWarning',
      );
    }
  }

  /** The same as close(), for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * A token naming this context in the process-wide registry, for other
   * threads: post it to a Worker and call remoteContext(token) there
   * (notify, acquire/release).  The same token every time.  Remote calls
   * throw ERR_AIO_CLOSED once the context is closed.  Home thread.  Not in
   * QEMU (the core's share registry, `aio_registry_share_context()`).
   */
  share(): SharedToken {
    return makeToken('aio-context', this.#open().share());
  }

  static {
    nativeOf = (ctx) => ctx.#open();
  }

  /** @internal Whether `value` is an AioContext (a brand check, not instanceof). */
  static isAioContext(value: unknown): value is AioContext {
    return typeof value === 'object' && value !== null && #native in value;
  }
}

/**
 * @internal The native context of @ctx (the argument called @name): a
 * TypeError if it is not an AioContext, ERR_AIO_CLOSED if it is closed.
 */
export function nativeContext(ctx: unknown, name: string): NativeContext {
  if (!AioContext.isAioContext(ctx)) throw invalidArg(name, 'an instance of AioContext', ctx);
  return nativeOf(ctx);
}
