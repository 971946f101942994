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
import { clockIndex } from './clock';
import { closedError } from './errors';
import { EventNotifier, openNativeNotifier } from './event-notifier';
import { MainContext, nativeMainContext } from './main-context';
import { binding, kConstruct, type NativeContext } from './native';
import {
  attachNodeLoop,
  forgetNodeLoopFd,
  touchNodeLoop,
  type NodeLoopHandle,
  type NodeLoopOptions,
} from './node-loop';
import { type ChromeTrace, Observation, observedPoll, startTrace, stopObserving, stopTrace, type TraceOptions } from './observe';
import { makeToken, type SharedToken } from './shared';
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
  optionalFunction,
  optionsObject,
} from './validate';

/** AioFdMonRequest values, in the core's order. */
const FDMONS: readonly FdMonitor[] = ['auto', 'poll', 'epoll', 'io_uring'];

type Fn = (...args: never[]) => unknown;

/** Validates poll parameters; @name prefixes the property names. */
function pollParams(value: unknown, name: string): [number, number, number] {
  checkObject(value, name);
  const { maxNs, grow = 0, shrink = 0 } = value as Partial<PollParams>;
  checkNonNegativeSafeInteger(maxNs, `${name}.maxNs`);
  // Integers, as QEMU's poll-grow/poll-shrink (int64): the core would
  // truncate 1.5 to 1 without a word.
  checkNonNegativeSafeInteger(grow, `${name}.grow`);
  checkNonNegativeSafeInteger(shrink, `${name}.shrink`);
  return [maxNs, grow, shrink];
}

export class AioContext implements Disposable {
  readonly #native: NativeContext;
  readonly #name: string;
  #closed = false;
  /** The handle while Node's loop runs this context (attachToNodeLoop()). */
  #nodeLoop: NodeLoopHandle | null = null;
  /** diagnostics_channel and trace state (observe.ts). */
  readonly #observation = new Observation();

  /** aio_context_new: a context whose home thread is the calling thread. */
  constructor(options?: AioContextOptions) {
    const opts = optionsObject(options, 'options');
    const name = opts.name ?? 'aio-context';
    checkString(name, 'options.name');
    const fdmon = opts.fdmon ?? 'auto';
    checkOneOf(fdmon, 'options.fdmon', FDMONS);
    const poll = opts.poll === undefined ? undefined : pollParams(opts.poll, 'options.poll');

    this.#native = new binding.Context(name, FDMONS.indexOf(fdmon));
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
   * aio_poll: runs one iteration (waiting for an event if @blocking).
   * Returns true if a user callback ran; a wake-up by notify() alone is not
   * progress.  Throws what the callbacks threw (several: an AggregateError),
   * after the iteration completed.
   */
  poll(blocking: boolean): boolean {
    const native = this.#open();
    checkBoolean(blocking, 'blocking');
    const obs = this.#observation;
    if (obs.idle()) {
      if (obs.on) stopObserving(native, obs);
      return native.poll(blocking);
    }
    return observedPoll(this, this.#name, native, obs, blocking);
  }

  /** aio_notify: makes the current or next wait return.  Any thread. */
  notify(): void {
    this.#open().notify();
  }

  /** aio_compute_timeout: how long a blocking poll may wait, in ns; -1 = forever. */
  computeTimeout(): number {
    return this.#open().computeTimeout();
  }

  /* ---- bottom halves and timers ------------------------------------------- */

  /** aio_bh_new: a BH running @cb; nothing is scheduled yet. */
  bh(cb: () => void, options?: BottomHalfOptions): BottomHalf {
    const native = this.#open();
    checkFunction(cb, 'cb');
    const opts = optionsObject(options, 'options');
    const name = opts.name ?? 'bh';
    checkString(name, 'options.name');
    return new BottomHalf(kConstruct, native.bh(cb, name), this);
  }

  /** aio_bh_schedule_oneshot: runs @cb once in the next BH pass; cannot be cancelled. */
  scheduleOneshot(cb: () => void): void {
    const native = this.#open();
    checkFunction(cb, 'cb');
    native.scheduleOneshot(cb);
    touchNodeLoop(this);
  }

  /** aio_timer_new: an unarmed timer on @clock whose times are in units of @scale ns. */
  timer(clock: ClockType, scale: number, cb: () => void, options?: TimerOptions): Timer {
    const native = this.#open();
    const index = clockIndex(clock, 'clock');
    checkPositiveInt32(scale, 'scale');
    checkFunction(cb, 'cb');
    const opts = optionsObject(options, 'options');
    const external = optionalBoolean(opts.external, 'options.external', false);
    return new Timer(kConstruct, native.timer(index, scale, cb, external), this);
  }

  /* ---- fd handlers -------------------------------------------------------- */

  /**
   * aio_set_fd_handler: registers or replaces the handlers of @fd (one
   * registration per fd); null, or no read/write/poll, removes them.  The fd
   * stays yours: remove its handler before closing it.
   */
  setFdHandler(fd: number, handlers: FdHandlers | null): void {
    const native = this.#open();
    checkFd(fd, 'fd');
    if (handlers === null) {
      native.setFdHandler(fd, undefined, undefined, undefined, undefined, undefined, false);
      forgetNodeLoopFd(fd);
      return;
    }
    if (typeof handlers !== 'object') throw invalidArg('handlers', 'of type object or null', handlers);
    const read = optionalFunction<Fn>(handlers.read, 'handlers.read');
    const write = optionalFunction<Fn>(handlers.write, 'handlers.write');
    const poll = optionalFunction<Fn>(handlers.poll, 'handlers.poll');
    native.setFdHandler(
      fd,
      read,
      write,
      poll,
      optionalFunction<Fn>(handlers.pollBegin, 'handlers.pollBegin'),
      optionalFunction<Fn>(handlers.pollEnd, 'handlers.pollEnd'),
      optionalBoolean(handlers.external, 'handlers.external', false),
    );
    if (read === undefined && write === undefined && poll === undefined) forgetNodeLoopFd(fd);
    else touchNodeLoop(this);
  }

  /**
   * aio_set_event_notifier: registers @n's descriptor; each handler receives
   * @n itself.  null removes the registration.
   */
  setEventNotifier(n: EventNotifier, handlers: EventNotifierHandlers | null): void {
    const native = this.#open();
    if (!EventNotifier.isEventNotifier(n)) throw invalidArg('n', 'an instance of EventNotifier', n);
    if (handlers !== null && typeof handlers !== 'object') {
      throw invalidArg('handlers', 'of type object or null', handlers);
    }
    const notifier = openNativeNotifier(n);
    if (handlers === null) {
      native.setEventNotifier(notifier, n, undefined, undefined, undefined, undefined, false);
      forgetNodeLoopFd(n.fd);
      return;
    }
    native.setEventNotifier(
      notifier,
      n,
      optionalFunction<Fn>(handlers.read, 'handlers.read'),
      optionalFunction<Fn>(handlers.poll, 'handlers.poll'),
      optionalFunction<Fn>(handlers.pollBegin, 'handlers.pollBegin'),
      optionalFunction<Fn>(handlers.pollEnd, 'handlers.pollEnd'),
      optionalBoolean(handlers.external, 'handlers.external', false),
    );
    if (handlers.read == null && handlers.poll == null) forgetNodeLoopFd(n.fd);
    else touchNodeLoop(this);
  }

  /** aio_disable_external: pauses external handlers; counted. */
  disableExternal(): void {
    this.#open().disableExternal();
  }

  /** aio_enable_external: undoes one disableExternal(); throws ERR_AIO_NOT_DISABLED if none is left. */
  enableExternal(): void {
    this.#open().enableExternal();
  }

  /** Whether external handlers are paused. */
  get externalDisabled(): boolean {
    return this.#open().externalDisabled;
  }

  /** aio_context_set_poll_params: adaptive busy polling; maxNs 0 turns it off. */
  setPollParams(p: PollParams): void {
    const native = this.#open();
    native.setPollParams(...pollParams(p, 'p'));
  }

  /* ---- lock, GSource, introspection --------------------------------------- */

  /** aio_context_acquire: takes the context's recursive lock. */
  acquire(): void {
    this.#open().acquire();
  }

  /** aio_context_release: releases one acquire(); throws ERR_AIO_NOT_ACQUIRED without one. */
  release(): void {
    this.#open().release();
  }

  /**
   * g_source_attach: lets @main (default: MainContext.default()) run this
   * context.  Returns the source id.  While attached, the context stays
   * alive even if JS drops it.  Throws ERR_AIO_ATTACHED if already attached.
   */
  attach(main?: MainContext, options?: AttachOptions): number {
    const native = this.#open();
    if (main !== undefined && main !== null && !MainContext.isMainContext(main)) {
      throw invalidArg('main', 'an instance of MainContext', main);
    }
    const opts = optionsObject(options, 'options');
    const priority = opts.priority ?? 0;
    checkInt32(priority, 'options.priority');
    return native.attach(nativeMainContext(main ?? MainContext.default()), priority);
  }

  /**
   * g_source_destroy: stops any GLib loop from running this context (and
   * Node's loop: same as detaching the attachToNodeLoop() handle).  attach()
   * works again after.
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
   * BH.  Throws ERR_AIO_ATTACHED if the context is attached anywhere.
   */
  attachToNodeLoop(options?: NodeLoopOptions): NodeLoopHandle {
    const native = this.#open();
    const opts = optionsObject(options, 'options');
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

  /** Resolves @ns nanoseconds from now, from a realtime timer (see awaitables.ts). */
  sleep(ns: number, options?: AbortOptions): Promise<void> {
    this.#open();
    return awaitables.sleep(this, ns, options);
  }

  /** Resolves when @fd is readable, from a one-shot read handler; ERR_AIO_BUSY if @fd has one. */
  readable(fd: number, options?: AbortOptions): Promise<void> {
    return awaitables.fdReady(this, this.#open(), fd, 'read', options);
  }

  /** Resolves when @fd is writable, from a one-shot write handler; ERR_AIO_BUSY if @fd has one. */
  writable(fd: number, options?: AbortOptions): Promise<void> {
    return awaitables.fdReady(this, this.#open(), fd, 'write', options);
  }

  /** Resolves from the next BH pass. */
  nextBh(options?: AbortOptions): Promise<void> {
    this.#open();
    return awaitables.nextBh(this, options);
  }

  /**
   * Drives this context with poll(true) until @until settles, letting
   * promise reactions run between polls; returns its value or throws its
   * error.  It blocks the thread while it waits: @until must be settled by
   * something this context runs (its callbacks or awaitables), not by a
   * Node event such as setTimeout.  When attached to Node's loop it simply
   * awaits @until.
   */
  run<T>(until: T | PromiseLike<T>): Promise<T> {
    this.#open();
    return awaitables.run(this, until, () => this.#nodeLoop !== null);
  }

  /** The attachToNodeLoop() handle while Node's loop runs this context, else null. */
  get nodeLoop(): NodeLoopHandle | null {
    return this.#nodeLoop;
  }

  /** The GSource id while attached, else null. */
  get sourceId(): number | null {
    return this.#closed ? null : this.#native.sourceId;
  }

  /** Live introspection, for tests and tools; stats.dispatches etc. count since creation. */
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
   * aio_context_unref: deletes every BH, timer and handler, detaches, and
   * releases the context.  Idempotent.  BHs that were never deleted are
   * named in one 'AioLeakWarning' process warning.
   */
  close(): void {
    if (this.#closed) return;
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

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * A token naming this context in the process-wide registry, for other
   * threads: post it to a Worker and call remoteContext(token) there
   * (notify, acquire/release).  The same token every time.  Remote calls
   * throw ERR_AIO_CLOSED once the context is closed.  Home thread.
   */
  share(): SharedToken {
    return makeToken('aio-context', this.#open().share());
  }
}
