/*
 * watchdog.ts — a blocking poll(true) that the model expects to return at
 * once but that hangs (a lost wake-up) must not hang the fuzzer: a worker
 * thread notifies the context (remoteContext().notify(), any thread) when
 * one blocking call has lasted longer than LIMIT_MS.  The call then returns
 * without the expected callbacks, which the checker reports.  Arming is two
 * atomic stores: no syscall on the fuzzer's path.
 */
import { Worker } from 'node:worker_threads';
import type { AioContext } from 'aiocontext';

const LIMIT_MS = 5000;
const cell = new Int32Array(new SharedArrayBuffer(16)); // [armed generation, context id, fired, sleep]
const ids = new WeakMap<AioContext, number>();
let worker: Worker | null = null;
let generation = 0;

function start(): void {
  worker = new Worker(new URL('./watchdog-worker.mjs', import.meta.url), {
    workerData: { sab: cell.buffer, limitMs: LIMIT_MS },
  });
  worker.unref();
}

/** Runs @fn (a blocking call on @ctx) under the watchdog. */
export function guarded<T>(ctx: AioContext, fn: () => T): T {
  if (worker === null) start();
  let id = ids.get(ctx);
  if (id === undefined) {
    id = ctx.share().id;
    ids.set(ctx, id);
  }
  Atomics.store(cell, 1, id);
  Atomics.store(cell, 0, ++generation);
  try {
    return fn();
  } finally {
    Atomics.store(cell, 0, 0);
  }
}

/** How many times the watchdog had to wake a call up so far. */
export function watchdogFired(): number {
  return Atomics.load(cell, 2);
}

/** Stops the worker (tests end with it). */
export async function stopWatchdog(): Promise<void> {
  const w = worker;
  worker = null;
  if (w !== null) await w.terminate();
}
