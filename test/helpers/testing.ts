/*
 * testing.ts — the test and benchmark helper addon,
 * build/Release/aiocontext_testing.node (native/testing/), typed.
 * Loaded only by test/ and bench/; never part of the package.
 *
 * Loading it links it to the product addon the package loaded (whichever
 * file that was), so that its native threads reach that addon's registry by
 * share-token id (native/testing/product-link.cc).
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AioContext, SharedToken } from 'aiocontext';
// The package loads its addon when it is first imported; linkProduct()
// below needs that copy loaded.
import 'aiocontext';

/** An opaque handle on a std::thread started by scheduleFromNativeThread. */
interface NativeJob {
  readonly __brand: 'NativeJob';
}

/** An opaque handle on a thread-pool job (thread-pool-jobs.cc). */
interface NativePoolJob {
  readonly __brand: 'NativePoolJob';
}

/** The helper addon's exports (native/testing/*.cc). */
export interface TestingAddon {
  linkProduct(): void;
  /* testing.cc */
  scheduleFromNativeThread(id: number, n: number, lockstep: boolean, notifyId: number): NativeJob;
  nativeJobDone(job: NativeJob): boolean;
  nativeJobJoin(job: NativeJob): { scheduled: number; error: string | null };
  /* thread-pool-jobs.cc */
  threadPoolJob(contextId: number, sleepUs: number, ret: number, cb: ((ret: number) => void) | null): NativePoolJob | null;
  threadPoolJobCancel(job: NativePoolJob): void;
  threadPoolJobDone(job: NativePoolJob): boolean;
  /* bench-helpers.cc */
  glibIdleRate(n: number, withFd?: boolean): number;
  aioBhRate(n: number, gsource: boolean): number;
  callJs(fn: () => void, n: number): number;
  tryRead(fd: number): number;
  writeBytes(fd: number, n: number): number;
  raiseNofileLimit(n: number): [number, number];
  ppollLateness(n: number, slackNs: number): Float64Array;
  eventfdRoundTrips(n: number): Float64Array;
  tsfnRoundTrips(n: number, fn: () => void): Promise<Float64Array>;
}

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TESTING_ADDON_PATH = path.join(ROOT, 'build', 'Release', 'aiocontext_testing.node');

/** The helper addon, linked to the product addon. */
export const testingAddon: TestingAddon = createRequire(import.meta.url)(TESTING_ADDON_PATH) as TestingAddon;
testingAddon.linkProduct();

/** A plain std::thread started by scheduleFromNativeThread(). */
export interface NativeThreadJob {
  /** Whether the thread has finished. */
  readonly done: boolean;
  /**
   * Waits for the thread (blocking) and returns how many schedules
   * succeeded, and the errno code that stopped it early, if any ('ENOENT':
   * the BH was deleted or its context closed; 'ETIMEDOUT': a lockstep wait
   * timed out).
   */
  join(): { scheduled: number; error: string | null };
}

/**
 * Starts a C++ std::thread, which Node knows nothing about, that schedules
 * the shared BH `t` `n` times through the registry's C entry point.  With
 * `lockstep`, it waits after each schedule until the BH's loop took it, so
 * each schedule is a separate run of the callback.  When it stops, it
 * notifies the context of `notify` (through the C entry point), so that a
 * poll(true) waiting for `done` wakes up.
 */
export function scheduleFromNativeThread(
  t: SharedToken,
  n: number,
  options?: { lockstep?: boolean; notify?: SharedToken },
): NativeThreadJob {
  if (t?.kind !== 'aio-bh') throw new TypeError("scheduleFromNativeThread: expected a token of kind 'aio-bh'");
  const notify = options?.notify;
  if (notify !== undefined && notify.kind !== 'aio-context') {
    throw new TypeError("scheduleFromNativeThread: options.notify must be a token of kind 'aio-context'");
  }
  const job = testingAddon.scheduleFromNativeThread(t.id, n, options?.lockstep ?? false, notify?.id ?? 0);
  return {
    get done() {
      return testingAddon.nativeJobDone(job);
    },
    join() {
      return testingAddon.nativeJobJoin(job);
    },
  };
}

/** A job of threadPoolJob(). */
export interface TestPoolJob {
  /** aio_cancel_async; nothing once done. */
  cancel(): void;
  /** Whether its callback ran. */
  readonly done: boolean;
}

/**
 * A thread-pool job of `ctx` (thread_pool_submit_aio on the context's own
 * pool): sleeps `sleepUs` µs on a worker and returns `ret`; `cb(ret)` runs
 * in `ctx`, with -ECANCELED (-125) if cancel() won.  With `cb` null it is
 * thread_pool_submit() (no completion) and null is returned.  The helper
 * addon finds the context by its share id (this shares `ctx`).
 */
export function threadPoolJob(
  ctx: AioContext,
  sleepUs: number,
  ret: number,
  cb: ((ret: number) => void) | null,
): TestPoolJob | null {
  const job = testingAddon.threadPoolJob(ctx.share().id, sleepUs, ret, cb);
  if (job === null) return null;
  return {
    cancel: () => testingAddon.threadPoolJobCancel(job),
    get done() {
      return testingAddon.threadPoolJobDone(job);
    },
  };
}
