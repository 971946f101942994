/*
 * Shared helpers for the ava suite: bounded loop drains, a watchdog timer that
 * turns a hang into a failed assertion, a synchronous sleep, fd utilities and
 * warning capture. Nothing here mocks the addon: every helper drives the real
 * AioContext / MainContext.
 */
import * as fs from 'node:fs';
import type { ExecutionContext } from 'ava';
import { AioContext, AioError, MainContext, SCALE_MS, clockNs } from 'aiocontext';
import type { AioContextOptions, AioErrorCode, Timer } from 'aiocontext';

/** Upper bound for "while (poll(false));" loops: a healthy loop needs a handful. */
export const SPIN_LIMIT = 10_000;

/**
 * QEMU's `while (aio_poll(ctx, false));`, bounded so that a loop that never
 * stops making progress fails instead of hanging. Returns how many calls
 * returned true.
 */
export function drain(ctx: AioContext, limit = SPIN_LIMIT): number {
  let progress = 0;
  while (ctx.poll(false)) {
    if (++progress >= limit) {
      throw new Error(`drain: poll(false) still reports progress after ${limit} calls`);
    }
  }
  return progress;
}

/** `while (g_main_context_iteration(mc, false));`, bounded like drain(). */
export function drainMain(mc: MainContext, limit = SPIN_LIMIT): number {
  let dispatched = 0;
  while (mc.iteration(false)) {
    if (++dispatched >= limit) {
      throw new Error(`drainMain: iteration(false) still dispatches after ${limit} calls`);
    }
  }
  return dispatched;
}

/** Blocks the thread (no event loop turn) for at least `ms` milliseconds. */
export function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * A realtime timer on `ctx` that fires after `ms`: any blocking poll() or
 * iteration(true) then returns, so a lost wake-up shows up as `fired === true`
 * (and usually a wrong return value) instead of a hung test process.
 */
export interface Watchdog {
  readonly fired: boolean;
  readonly timer: Timer;
  /** Re-arm for `ms` from now and clear `fired`. */
  rearm(ms?: number): void;
  dispose(): void;
}

export function watchdog(ctx: AioContext, ms = 10_000): Watchdog {
  let fired = false;
  let disposed = false;
  const timer = ctx.timer('realtime', SCALE_MS, () => {
    fired = true;
  });
  const arm = (delay: number): void => {
    fired = false;
    timer.mod(nowMs() + delay);
  };
  arm(ms);
  return {
    get fired() {
      return fired;
    },
    timer,
    rearm(delay = ms) {
      arm(delay);
    },
    dispose() {
      if (disposed || ctx.closed) return;
      disposed = true;
      timer.del();
      timer.delete();
    },
  };
}

/** QEMU_CLOCK_REALTIME in whole milliseconds, rounded up. */
export function nowMs(): number {
  return Math.ceil(clockNs('realtime') / SCALE_MS);
}

/**
 * Calls ctx.poll(true) until `cond()` holds. A watchdog bounds every wait, so a
 * lost wake-up fails the test after `timeoutMs`. Returns the number of
 * poll(true) calls that were needed.
 */
export function pollUntil(ctx: AioContext, cond: () => boolean, timeoutMs = 5_000): number {
  const wd = watchdog(ctx, timeoutMs);
  let calls = 0;
  try {
    while (!cond() && !wd.fired) {
      ctx.poll(true);
      calls++;
    }
  } finally {
    wd.dispose();
  }
  if (!cond()) throw new Error(`pollUntil: condition still false after ${timeoutMs} ms (${calls} polls)`);
  return calls;
}

/** Same as pollUntil, driving `mc.iteration(true)` (the watchdog lives on `ctx`, attached to `mc`). */
export function iterateUntil(mc: MainContext, ctx: AioContext, cond: () => boolean, timeoutMs = 5_000): number {
  const wd = watchdog(ctx, timeoutMs);
  let calls = 0;
  try {
    while (!cond() && !wd.fired) {
      mc.iteration(true);
      calls++;
    }
  } finally {
    wd.dispose();
  }
  if (!cond()) throw new Error(`iterateUntil: condition still false after ${timeoutMs} ms (${calls} iterations)`);
  return calls;
}

/** A fresh context that is closed when the test ends (even if it fails). */
export function openContext(t: ExecutionContext, options?: AioContextOptions): AioContext {
  const ctx = options === undefined ? new AioContext() : new AioContext(options);
  t.teardown(() => {
    ctx.close();
  });
  return ctx;
}

/** A fresh context attached to a fresh MainContext, both drained. */
export function openAttached(t: ExecutionContext, options?: AioContextOptions): { ctx: AioContext; mc: MainContext } {
  const ctx = openContext(t, options);
  const mc = new MainContext();
  ctx.attach(mc);
  drain(ctx);
  drainMain(mc);
  return { ctx, mc };
}

/** Reads everything currently buffered on a non-blocking fd; returns the byte count (0 at EOF or when empty). */
export function readAvailable(fd: number): number {
  const buf = Buffer.alloc(65536);
  let total = 0;
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return total;
      throw err;
    }
    if (n === 0) return total;
    total += n;
  }
}

/** Writes `bytes` bytes to a non-blocking fd. */
export function writeBytes(fd: number, bytes = 1): void {
  fs.writeSync(fd, Buffer.alloc(bytes, 0x78));
}

/** Fills a non-blocking pipe until write(2) says EAGAIN; returns the bytes written. */
export function fillPipe(fd: number): number {
  const chunk = Buffer.alloc(4096, 0x78);
  let total = 0;
  for (;;) {
    try {
      total += fs.writeSync(fd, chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return total;
      throw err;
    }
  }
}

/** Closes fds, ignoring ones that are already closed. */
export function closeFds(...fds: number[]): void {
  for (const fd of fds) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
  }
}

/**
 * Runs `fn`, lets process.emitWarning's nextTick fire, and returns the
 * warnings emitted meanwhile.
 */
export async function captureWarnings(fn: () => void): Promise<Error[]> {
  const seen: Error[] = [];
  const onWarning = (w: Error): void => {
    seen.push(w);
  };
  process.on('warning', onWarning);
  try {
    fn();
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  return seen;
}

/** Asserts that `fn` throws an AioError with `code`, and returns it. */
export function throwsAio(t: ExecutionContext, fn: () => unknown, code: AioErrorCode, message?: string): AioError | undefined {
  const err = t.throws<AioError>(fn, { instanceOf: AioError }, message);
  t.is<AioErrorCode | undefined, AioErrorCode>(err?.code, code, message);
  return err;
}

/** A plain-data snapshot of ctx.stats, for "nothing changed" comparisons. */
export function statsSnapshot(ctx: AioContext): Record<string, unknown> {
  const s = ctx.stats;
  return {
    notifyMe: s.notifyMe,
    notified: s.notified,
    pollNs: s.pollNs,
    pollStarted: s.pollStarted,
    handlers: s.handlers,
    bhs: s.bhs,
    timers: s.timers,
    fdmon: s.fdmon,
  };
}

/** The global gc() exposed by --expose-gc, if present. */
export function getGc(): (() => void) | undefined {
  return (globalThis as { gc?: () => void }).gc;
}
