/*
 * testing.ts — `_testing`: native helpers for the test suite and the
 * benchmarks.  Not part of the API: names and shapes may change.
 */
import { nativeContext, type AioContext } from './context';
import { binding, type NativeJob } from './native';
import type { SharedToken } from './shared';

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

export const _testing = {
  /**
   * Starts a C++ std::thread, which Node knows nothing about, that schedules
   * the shared BH @t @n times through the registry's C entry point.  With
   * `lockstep`, it waits after each schedule until the BH's loop took it, so
   * each schedule is a separate run of the callback.  When it stops, it
   * notifies the context of `notify` (through the C entry point), so that a
   * poll(true) waiting for `done` wakes up.
   */
  scheduleFromNativeThread(t: SharedToken, n: number, options?: { lockstep?: boolean; notify?: SharedToken }): NativeThreadJob {
    if (t?.kind !== 'aio-bh') throw new TypeError("scheduleFromNativeThread: expected a token of kind 'aio-bh'");
    const notify = options?.notify;
    if (notify !== undefined && notify.kind !== 'aio-context') {
      throw new TypeError("scheduleFromNativeThread: options.notify must be a token of kind 'aio-context'");
    }
    const lockstep = options?.lockstep ?? false;
    const job: NativeJob = binding._testing.scheduleFromNativeThread(t.id, n, lockstep, notify?.id ?? 0);
    return {
      get done() {
        return binding._testing.nativeJobDone(job);
      },
      join() {
        return binding._testing.nativeJobJoin(job);
      },
    };
  },

  /** @n eventfd round trips between this thread and a native thread, each in ns (blocks). */
  eventfdRoundTrips(n: number): Float64Array {
    return binding._testing.eventfdRoundTrips(n);
  },

  /**
   * @n round trips native thread -> napi_threadsafe_function -> this JS
   * thread (runs @fn) -> eventfd -> native thread, each in ns.
   */
  tsfnRoundTrips(n: number, fn: () => void = () => {}): Promise<Float64Array> {
    return binding._testing.tsfnRoundTrips(n, fn);
  },

  /**
   * A thread-pool job of @ctx (thread_pool_submit_aio): sleeps @sleepUs µs
   * on a worker and returns @ret; @cb(ret) runs in @ctx, with -ECANCELED
   * (-125) if cancel() won.  With @cb null it is thread_pool_submit() (no
   * completion) and null is returned.
   */
  threadPoolJob(ctx: AioContext, sleepUs: number, ret: number, cb: ((ret: number) => void) | null): TestPoolJob | null {
    const job = binding._testing.threadPoolJob(nativeContext(ctx, 'ctx'), sleepUs, ret, cb);
    if (job === null) return null;
    return {
      cancel: () => binding._testing.threadPoolJobCancel(job),
      get done() {
        return binding._testing.threadPoolJobDone(job);
      },
    };
  },
};

/** A job of _testing.threadPoolJob(). */
export interface TestPoolJob {
  /** aio_cancel_async; nothing once done. */
  cancel(): void;
  /** Whether its callback ran. */
  readonly done: boolean;
}
