/*
 * bottom-half.ts — BottomHalf (QEMUBH): a deferred call, created by
 * AioContext.prototype.bh().
 *
 * The context owns the BH: it lives (and keeps its callback alive) until
 * delete() or the context's close(), whatever happens to this handle, as in
 * QEMU.  The handle keeps its context reachable in turn.
 */
import type { AioContext } from './context';
import { kConstruct, type NativeBottomHalf } from './native';
import { touchNodeLoop } from './node-loop';
import { makeToken, type SharedToken } from './shared';
import { illegalConstructor } from './validate';

/**
 * A bottom half (QEMUBH): a callback the context runs in its next BH pass
 * once scheduled.  Create one with `ctx.bh(callback, options?)`; the
 * constructor is not public (`new BottomHalf()` throws ERR_ILLEGAL_CONSTRUCTOR).
 */
export class BottomHalf {
  readonly #native: NativeBottomHalf;
  readonly #context: AioContext;

  /**
   * Not for callers: `new BottomHalf()` throws a TypeError with code
   * ERR_ILLEGAL_CONSTRUCTOR. Create one with `ctx.bh(callback, options?)`.
   * @internal
   */
  constructor(token: typeof kConstruct, native: NativeBottomHalf, context: AioContext) {
    if (token !== kConstruct) throw illegalConstructor('AioContext.prototype.bh()');
    this.#native = native;
    this.#context = context;
  }

  /**
   * qemu_bh_schedule: run in the next BH pass; scheduling a scheduled BH
   * merges.  Throws ERR_AIO_DELETED after delete().
   */
  schedule(): void {
    this.#native.schedule();
    touchNodeLoop(this.#context);
  }

  /** qemu_bh_cancel: clears the scheduled flag. */
  cancel(): void {
    this.#native.cancel();
  }

  /**
   * qemu_bh_delete: the callback never runs again; the loop frees the BH on
   * its next BH pass.  Safe from the BH's own callback; a second delete()
   * does nothing.  Like every method, throws ERR_AIO_CLOSED once the
   * context is closed (close() deleted the BH already).
   */
  delete(): void {
    this.#native.delete();
  }

  /** qemu_bh_is_scheduled. */
  get scheduled(): boolean {
    return this.#native.scheduled;
  }

  /** Whether delete() was called (or the context was closed). */
  get deleted(): boolean {
    return this.#native.deleted;
  }

  /** The context that runs this BH. */
  get context(): AioContext {
    return this.#context;
  }

  /**
   * A token naming this BH in the process-wide registry, for other threads:
   * post it to a Worker and call remoteBottomHalf(token).schedule() there.
   * The same token every time.  Remote calls throw ERR_AIO_CLOSED once the
   * BH is deleted or its context closed.  Home thread.
   */
  share(): SharedToken {
    return makeToken('aio-bh', this.#native.share());
  }
}
