/*
 * Helpers for the worker scripts of test/threads.test.ts.  Workers are plain
 * .mjs (tsx does not reach worker threads on Node 20) and import the built
 * package, 'aiocontext' (dist/).
 */
import { SCALE_MS, clockNs } from 'aiocontext';

/**
 * Calls ctx.poll(true) until cond() holds, with a realtime timer as
 * watchdog, so that a lost wake-up fails (throws) instead of hanging the
 * test.  Returns { polls, idle }: the poll(true) calls and how many of them
 * returned false (woken without progress).
 */
export function pollUntil(ctx, cond, timeoutMs = 20_000) {
  let fired = false;
  const timer = ctx.timer('realtime', SCALE_MS, () => {
    fired = true;
  });
  timer.mod(Math.ceil(clockNs('realtime') / SCALE_MS) + timeoutMs);
  let polls = 0;
  let idle = 0;
  try {
    while (!cond() && !fired) {
      if (!ctx.poll(true)) idle++;
      polls++;
    }
  } finally {
    timer.delete();
  }
  if (!cond()) throw new Error(`worker pollUntil: condition still false after ${timeoutMs} ms (${polls} polls)`);
  return { polls, idle };
}

/** Blocks this thread for `ms` milliseconds. */
export function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Waits (blocking, bounded) until Atomics.load(a, i) === value. */
export function waitFor(a, i, value, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = Atomics.load(a, i);
    if (v === value) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`worker waitFor: [${i}] is ${v}, expected ${value}`);
    Atomics.wait(a, i, v, left);
  }
}

/** Sets a[i] = value and wakes its waiters. */
export function signal(a, i, value) {
  Atomics.store(a, i, value);
  Atomics.notify(a, i);
}

/** { name, code, message } of a thrown value, for postMessage. */
export function errorInfo(err) {
  return {
    name: err?.name,
    code: err?.code,
    message: err?.message,
    isAioError: err?.constructor?.name === 'AioError',
  };
}
