/*
 * awaitables.ts — promises on an AioContext: sleep(), readable(),
 * writable(), nextBh(), and run(), which drives poll(true) until a promise
 * settles.  AioContext's methods of the same names call these.
 *
 * Each awaitable registers one thing on the context (a realtime timer, a
 * one-shot fd handler, a BH) and removes it when it settles, whichever way:
 * resolved by the loop, rejected by its AbortSignal (with the signal's
 * reason, an AbortError by default) or by the context's close()
 * (ERR_AIO_CLOSED).  Bad arguments, a closed context and a busy fd throw at
 * the call instead: they are bugs, not outcomes.
 *
 * An awaitable settles only when something runs the context:
 * attachToNodeLoop(), a MainContext, poll(), or run().
 */
import { SCALE_NS, clockNs } from './clock';
import type { AioContext } from './context';
import { AioError, closedError } from './errors';
import type { NativeContext } from './native';
import { checkFd, invalidArg, optionsOf } from './validate';

/** The options every awaitable takes. */
export interface AbortOptions {
  /** Aborting rejects the promise with `signal.reason` and removes what was registered. */
  signal?: AbortSignal;
}

/** A pending awaitable, as close() sees it. */
interface Waiter {
  cancel(reason: unknown): void;
}

const waiters = new WeakMap<AioContext, Set<Waiter>>();

/**
 * @internal Called by close() while the context is still open: removes what
 * every pending awaitable of `ctx` registered and rejects it with
 * ERR_AIO_CLOSED (a pending nextBh() would otherwise show up as a leaked BH).
 */
export function cancelWaiters(ctx: AioContext): void {
  const set = waiters.get(ctx);
  if (set === undefined) return;
  waiters.delete(ctx);
  for (const waiter of set) waiter.cancel(closedError(`AioContext '${ctx.name}'`));
}

export function signalOption(options: unknown): AbortSignal | undefined {
  const { signal } = optionsOf(options, 'options', ['signal']);
  if (signal === undefined) return undefined;
  if (
    typeof signal !== 'object' ||
    signal === null ||
    typeof (signal as Partial<AbortSignal>).aborted !== 'boolean' ||
    typeof (signal as Partial<AbortSignal>).addEventListener !== 'function'
  ) {
    throw invalidArg('options.signal', 'an instance of AbortSignal', signal);
  }
  return signal as AbortSignal;
}

export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/**
 * The common shape.  `register` installs what the awaitable waits for, calls
 * `done(value)` from the callback that ends the wait, and returns the
 * function that removes the registration (called exactly once, however the
 * promise settles).  If `register` throws, nothing was registered.
 */
function pending<T>(
  ctx: AioContext,
  signal: AbortSignal | undefined,
  register: (done: (value: T) => void) => () => void,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));

  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  let remove: (() => void) | null = null;
  const settle = (ok: boolean, value: unknown): void => {
    if (remove === null) return; // settled already
    const unregister = remove;
    remove = null;
    waiters.get(ctx)?.delete(waiter);
    signal?.removeEventListener('abort', onAbort);
    if (!ctx.closed) unregister();
    if (ok) resolve(value as T);
    else reject(value);
  };
  const waiter: Waiter = { cancel: (reason) => settle(false, reason) };
  const onAbort = (): void => settle(false, abortReason(signal as AbortSignal));

  remove = register((value) => settle(true, value));
  let set = waiters.get(ctx);
  if (set === undefined) waiters.set(ctx, (set = new Set()));
  set.add(waiter);
  signal?.addEventListener('abort', onAbort, { once: true });
  return promise;
}

/**
 * ctx.sleep(ns) and ctx.sleepMs(ms): resolves from a realtime timer `ns`
 * nanoseconds from now (a fraction rounds up: never early).  The caller
 * validated `ns` (a finite number >= 0).
 */
export function sleep(ctx: AioContext, ns: number, options?: AbortOptions): Promise<void> {
  const signal = signalOption(options);
  return pending<void>(ctx, signal, (done) => {
    const timer = ctx.timer('realtime', SCALE_NS, () => done());
    timer.modNs(clockNs('realtime') + Math.ceil(ns));
    return () => timer.delete();
  });
}

/**
 * ctx.readable(fd) / ctx.writable(fd): resolves from a one-shot fd handler
 * the first time `fd` is ready, then removes it.  Throws ERR_AIO_BUSY if `fd`
 * already has a handler in `ctx` (one registration per fd).
 */
export function fdReady(
  ctx: AioContext,
  native: NativeContext,
  fd: number,
  which: 'read' | 'write',
  options?: AbortOptions,
): Promise<void> {
  checkFd(fd, 'fd');
  const signal = signalOption(options);
  const method = which === 'read' ? 'readable' : 'writable';
  if (native.hasFdHandler(fd)) {
    throw new AioError(
      `AioContext '${ctx.name}' already has a handler for fd ${fd}: ${method}() needs the fd ` +
        'to itself; remove the handler with setFdHandler(fd, null) first',
      'ERR_AIO_BUSY',
    );
  }
  return pending<void>(ctx, signal, (done) => {
    const handler = (): void => done();
    ctx.setFdHandler(fd, which === 'read' ? { read: handler } : { write: handler });
    return () => {
      // Only ours: the user may have replaced it meanwhile.
      if (native.hasFdHandler(fd, handler)) ctx.setFdHandler(fd, null);
    };
  });
}

/**
 * ctx.nextBh(): resolves from the next BH pass.  A BH deleted by its own
 * callback, as a oneshot is (aio_bh_schedule_oneshot), but one that abort
 * can remove.
 */
export function nextBh(ctx: AioContext, options?: AbortOptions): Promise<void> {
  const signal = signalOption(options);
  return pending<void>(ctx, signal, (done) => {
    const bh = ctx.bh(() => done(), { name: 'nextBh' });
    bh.schedule();
    return () => bh.delete();
  });
}

/** One macrotask turn: microtasks and nextTicks run, and Node's loop turns once without blocking. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * ctx.spawn(fn): a coroutine.  `fn` is called from a oneshot BH of `ctx`, so
 * its first step runs inside the context's dispatch, in BH order.  Each
 * awaitable of `ctx` it awaits (sleep, readable, writable, nextBh) settles
 * from a callback of the context's dispatch, and the rest of `fn` (its
 * continuation) runs when JavaScript next drains the microtask queue:
 *
 * - driven by Node's loop (attachToNodeLoop()) or by a GLib loop that is
 *   not a JS call (GTK's): every callback is a Node callback, and the
 *   microtasks drain as it returns, so the continuation runs right after
 *   the callback that resumed it, before the next callback of the pass;
 * - driven by poll() or MainContext.iteration(): those are synchronous JS
 *   calls, and no microtask can run until the JS that called them returns
 *   to Node's loop, so continuations run only after the poll() call (and
 *   the synchronous code around it) is over: a `while (!done)
 *   ctx.poll(true)` loop would never see them.  ctx.run(promise) is the
 *   driver for that case: it polls once, then yields a macrotask turn
 *   (microtasks run there), and repeats until the promise settles.
 *
 * A throw of `fn` (synchronous or a rejection) rejects the returned promise
 * only; the BH itself returns normally, so no driver throws it.  A close()
 * before the BH ran rejects it with ERR_AIO_CLOSED (`fn` never runs); once
 * `fn` runs, close() reaches it through the awaitables it waits on.
 */
export function spawn<T>(ctx: AioContext, fn: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const waiter: Waiter = { cancel: (reason) => reject(reason) };
    let set = waiters.get(ctx);
    ctx.scheduleOneshot(() => {
      waiters.get(ctx)?.delete(waiter);
      let result: Promise<T>;
      try {
        result = fn();
      } catch (err) {
        reject(err);
        return;
      }
      Promise.resolve(result).then(resolve, reject);
    });
    if (set === undefined) waiters.set(ctx, (set = new Set()));
    set.add(waiter);
  });
}

/**
 * ctx.run(until): drives the context with poll(true) until `until` settles,
 * taking a macrotask turn after each poll so promise reactions run; returns
 * its value or throws its error (or what a callback threw in poll()).
 * Blocks the thread while it waits, so `until` must be settled by something
 * the context runs (a BH, fd handler or timer, or an awaitable on it), not
 * by a Node event.  If `ctx` runs from Node's loop it just awaits `until`.
 * With nothing armed in `ctx` and `ctx` never shared, nothing but Node's
 * loop could settle `until`: that throws ERR_AIO_WOULD_BLOCK_FOREVER.
 */
export async function run<T>(
  ctx: AioContext,
  until: T | PromiseLike<T>,
  nodeDriven: () => boolean,
  wouldBlockForever: () => boolean,
): Promise<T> {
  let state: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  let result: unknown;
  Promise.resolve(until).then(
    (value) => {
      state = 'fulfilled';
      result = value;
    },
    (error: unknown) => {
      state = 'rejected';
      result = error;
    },
  );
  await turn(); // an already-settled promise (or thenable) reports first
  while (state === 'pending') {
    if (nodeDriven()) return await until;
    if (wouldBlockForever()) {
      throw new AioError(
        `AioContext '${ctx.name}': run() would block forever: the context has nothing armed ` +
          '(no fd handler, timer or scheduled BH) and was never shared, so its promise can only ' +
          "be settled by Node's own event loop (a setTimeout, a stream, another promise). " +
          'Await it with the context on attachToNodeLoop() instead',
        'ERR_AIO_WOULD_BLOCK_FOREVER',
      );
    }
    ctx.poll(true);
    await turn();
  }
  if (state === 'rejected') throw result;
  return result as T;
}
