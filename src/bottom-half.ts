/*
 * bottom-half.ts — BottomHalf (QEMUBH): a deferred call, created by
 * AioContext.prototype.bh().
 *
 * The context owns the BH: it lives (and keeps its callback alive) until
 * delete() or the context's close(), whatever happens to this handle, as in
 * QEMU.  The handle keeps its context reachable in turn.
 */
import type { AioContext } from './context';
import { type FastHandle, type NativeBottomHalf, binding, kConstruct } from './native';
import { makeToken, type SharedToken } from './shared';
import { illegalConstructor } from './validate';

/* One function for every BH: the call site in schedule() keeps one target
 * (native/addon/fast-method.h). */
const fastSchedule = binding.BottomHalf.fastSchedule;

/**
 * A deferred call: its callback runs once in the context's next BH pass
 * after each schedule().  Created by `ctx.bh()`; `new BottomHalf()` throws
 * a TypeError with code ERR_ILLEGAL_CONSTRUCTOR.  QEMU's `QEMUBH`.
 */
export class BottomHalf {
  readonly #native: NativeBottomHalf;
  readonly #fast: FastHandle<'bh'>;
  readonly #context: AioContext;

  /**
   * Not for callers: `new BottomHalf()` throws a TypeError with code
   * ERR_ILLEGAL_CONSTRUCTOR. Create one with `ctx.bh(callback, options?)`.
   * @internal
   */
  constructor(token: typeof kConstruct, native: NativeBottomHalf, context: AioContext) {
    if (token !== kConstruct) throw illegalConstructor('AioContext.prototype.bh()');
    this.#native = native;
    this.#fast = native.fastHandle;
    this.#context = context;
  }

  /**
   * Makes the callback run in the next BH pass; scheduling a scheduled BH
   * does nothing more.  Throws ERR_AIO_DELETED after delete().  Maps to
   * QEMU's `qemu_bh_schedule()`.
   */
  schedule(): void {
    fastSchedule(this.#fast);
  }

  /** Unschedules the BH if it has not run yet.  Maps to QEMU's `qemu_bh_cancel()`. */
  cancel(): void {
    this.#native.cancel();
  }

  /**
   * Deletes the BH: its callback never runs again, and the loop frees it on
   * its next BH pass.  Safe from the BH's own callback.  A second call, or
   * a call after the context's close() (which deleted it already), does
   * nothing; the other methods then throw ERR_AIO_DELETED, or
   * ERR_AIO_CLOSED after close().  Maps to QEMU's `qemu_bh_delete()`.
   */
  delete(): void {
    this.#native.delete();
  }

  /** Whether the BH is scheduled and has not run yet.  Maps to QEMU's `qemu_bh_is_scheduled()`. */
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
   * BH is deleted or its context closed.  Home thread.  Not in QEMU (the
   * core's share registry, `aio_registry_share_bh()`).
   */
  share(): SharedToken {
    return makeToken('aio-bh', this.#native.share());
  }
}
