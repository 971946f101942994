/*
 * thread-pool.ts — ctx.threadPool: the context's pool of worker threads
 * (QEMU's ThreadPool, aio_get_thread_pool), which runs the requests of
 * files opened with the 'threads' engine.
 *
 * Threads are started lazily, from a BH of the context, up to `max`; an
 * idle thread above `min` exits after 10 s.  The pool itself is created by
 * the first request and freed with the context.
 */
import type { AioContext } from './context';
import type { NativeContext } from './native';
import { checkObject, invalidArg, invalidRange } from './validate';

/** Live counts of a context's thread pool. */
export interface ThreadPoolStats {
  /** Worker threads alive (busy or idle). */
  threads: number;
  /** Worker threads waiting for work. */
  idle: number;
  /** Requests submitted that no worker has started yet. */
  queued: number;
  /** Requests a worker is running now. */
  active: number;
  /** The min parameter in force. */
  min: number;
  /** The max parameter in force. */
  max: number;
}

export interface ThreadPoolParams {
  /** Threads kept alive even when idle; 0 <= min <= max. */
  min: number;
  /** The most threads at once; at least 1. */
  max: number;
}

const INT32_MAX = 2 ** 31 - 1;

function checkCount(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw invalidArg(name, 'of type number', value);
  if (!Number.isInteger(value) || value < 0 || value > INT32_MAX) {
    throw invalidRange(name, `an integer between 0 and ${INT32_MAX}`, value);
  }
}

export class ThreadPool {
  readonly #ctx: AioContext;
  readonly #open: () => NativeContext;

  /** @internal Use AioContext.prototype.threadPool. */
  constructor(ctx: AioContext, open: () => NativeContext) {
    this.#ctx = ctx;
    this.#open = open;
  }

  /**
   * aio_context_set_thread_pool_params: @p.min threads kept, at most
   * @p.max.  Applies to the pool now if it exists (threads above the new
   * max exit as they go idle), else when it is created.  RangeError for
   * max < 1 or min > max (QEMU's checks), and nothing changes.
   */
  setParams(p: ThreadPoolParams): void {
    const native = this.#open();
    checkObject(p, 'p');
    checkCount(p.min, 'p.min');
    checkCount(p.max, 'p.max');
    if (p.max < 1) throw invalidRange('p.max', 'at least 1', p.max);
    if (p.min > p.max) throw invalidRange('p.min', `at most p.max (${p.max})`, p.min);
    native.setThreadPoolParams(p.min, p.max);
  }

  /** Live counts; all 0 before the pool's first request. */
  get stats(): ThreadPoolStats {
    return this.#open().threadPoolStats;
  }

  /** The context that owns the pool. */
  get context(): AioContext {
    return this.#ctx;
  }
}
