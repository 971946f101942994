/*
 * timer.ts — Timer (QEMUTimer), created by AioContext.prototype.timer().
 *
 * Times are JS numbers and must be integers (a RangeError otherwise, as for
 * fds): nanoseconds for modNs() and expireTime, units of the timer's scale
 * for mod(), modIn(), modAnticipate() and expired().  The context owns the
 * timer until delete() or close().
 */
import { clockNs } from './clock';
import type { AioContext } from './context';
import { kConstruct, type NativeTimer } from './native';
import type { ClockType } from './types';
import { checkInteger, illegalConstructor } from './validate';

/**
 * A timer of an AioContext: runs its callback once, from the context's
 * loop, when its clock reaches the expiry time it was armed with.  Created
 * by `ctx.timer()`; `new Timer()` throws a TypeError with code
 * ERR_ILLEGAL_CONSTRUCTOR.  QEMU's `QEMUTimer`.
 */
export class Timer {
  readonly #native: NativeTimer;
  readonly #context: AioContext;
  readonly #clock: ClockType;
  readonly #scale: number;

  /** @internal Use AioContext.prototype.timer(). */
  constructor(token: typeof kConstruct, native: NativeTimer, context: AioContext, clock: ClockType, scale: number) {
    if (token !== kConstruct) throw illegalConstructor('AioContext.prototype.timer()');
    this.#native = native;
    this.#context = context;
    this.#clock = clock;
    this.#scale = scale;
  }

  /**
   * Arms (or re-arms) the timer to expire at `expireTime`, an integer in
   * units of the timer's scale on its clock; a time in the past (or
   * negative) fires at the next chance.  Maps to QEMU's `timer_mod()`.
   */
  mod(expireTime: number): void {
    checkInteger(expireTime, 'expireTime');
    this.#native.mod(expireTime);
  }

  /**
   * Arms (or re-arms) the timer to expire `delta` units of its scale from
   * now on its clock: `timer.modIn(100)` on a SCALE_MS timer fires 100 ms
   * from now, never earlier.  `delta` is an integer.  Maps to QEMU's
   * `timer_mod(t, now + delta)`, with "now" read in ns rather than rounded
   * down to the scale.
   */
  modIn(delta: number): void {
    checkInteger(delta, 'delta');
    this.#native.modNs(clockNs(this.#clock) + delta * this.#scale);
  }

  /**
   * Arms (or re-arms) the timer to expire at `expireNs`, an integer number
   * of nanoseconds on its clock, whatever its scale.  Maps to QEMU's
   * `timer_mod_ns()`.
   */
  modNs(expireNs: number): void {
    checkInteger(expireNs, 'expireNs');
    this.#native.modNs(expireNs);
  }

  /**
   * Arms the timer at `expireTime` (timer's scale) if it is not pending,
   * else only moves its expiry earlier, never later.  Maps to QEMU's
   * `timer_mod_anticipate()`.
   */
  modAnticipate(expireTime: number): void {
    checkInteger(expireTime, 'expireTime');
    this.#native.modAnticipate(expireTime);
  }

  /** Disarms the timer; mod() arms it again.  Maps to QEMU's `timer_del()`. */
  del(): void {
    this.#native.del();
  }

  /**
   * Disarms and frees the timer: its callback never runs again.  Safe from
   * its own callback; a second call, or a call after the context's close()
   * (which freed it already), does nothing.  Other methods then throw
   * ERR_AIO_DELETED, or ERR_AIO_CLOSED after close().  Maps to QEMU's
   * `timer_free()`.
   */
  delete(): void {
    this.#native.delete();
  }

  /** Whether the timer is armed.  Maps to QEMU's `timer_pending()`. */
  get pending(): boolean {
    return this.#native.pending;
  }

  /** The expiry in nanoseconds, -1 if not armed.  Maps to QEMU's `timer_expire_time_ns()`. */
  get expireTime(): number {
    return this.#native.expireTime;
  }

  /**
   * Whether the timer expires at or before `currentTime` (an integer in the
   * timer's scale); an unarmed timer counts as expired.  Maps to QEMU's
   * `timer_expired()`.
   */
  expired(currentTime: number): boolean {
    checkInteger(currentTime, 'currentTime');
    return this.#native.expired(currentTime);
  }

  /** The context that runs this timer. */
  get context(): AioContext {
    return this.#context;
  }
}
