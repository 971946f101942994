/*
 * timer.ts — Timer (QEMUTimer), created by AioContext.prototype.timer().
 *
 * Times are JS numbers: nanoseconds for modNs() and expireTime, units of
 * the timer's scale for mod(), modAnticipate() and expired() (fractions are
 * truncated toward zero).  The context owns the timer until delete() or
 * close().
 */
import type { AioContext } from './context';
import { kConstruct, type NativeTimer } from './native';
import { touchNodeLoop } from './node-loop';
import { checkFiniteNumber, illegalConstructor } from './validate';

/**
 * A timer (QEMUTimer) on one of the context's clocks.  Create one with
 * `ctx.timer(clock, scale, callback)`; the constructor is not public
 * (`new Timer()` throws ERR_ILLEGAL_CONSTRUCTOR).
 */
export class Timer {
  readonly #native: NativeTimer;
  readonly #context: AioContext;

  /**
   * Not for callers: `new Timer()` throws a TypeError with code
   * ERR_ILLEGAL_CONSTRUCTOR. Create one with `ctx.timer(clock, scale, callback)`.
   * @internal
   */
  constructor(token: typeof kConstruct, native: NativeTimer, context: AioContext) {
    if (token !== kConstruct) throw illegalConstructor('AioContext.prototype.timer()');
    this.#native = native;
    this.#context = context;
  }

  /** timer_mod: (re-)arms at @expireTime, in the timer's scale; negative means 0. */
  mod(expireTime: number): void {
    checkFiniteNumber(expireTime, 'expireTime');
    this.#native.mod(expireTime);
    touchNodeLoop(this.#context);
  }

  /** timer_mod_ns: (re-)arms at @expireNs, in ns of the timer's clock. */
  modNs(expireNs: number): void {
    checkFiniteNumber(expireNs, 'expireNs');
    this.#native.modNs(expireNs);
    touchNodeLoop(this.#context);
  }

  /** timer_mod_anticipate: arms if not pending, else only moves it earlier. */
  modAnticipate(expireTime: number): void {
    checkFiniteNumber(expireTime, 'expireTime');
    this.#native.modAnticipate(expireTime);
    touchNodeLoop(this.#context);
  }

  /** timer_del: disarms. */
  del(): void {
    this.#native.del();
  }

  /**
   * timer_free: disarms and frees; safe from its own callback; a second
   * delete() does nothing.  Other methods then throw ERR_AIO_DELETED; all of
   * them throw ERR_AIO_CLOSED once the context is closed.
   */
  delete(): void {
    this.#native.delete();
  }

  /** timer_pending. */
  get pending(): boolean {
    return this.#native.pending;
  }

  /** timer_expire_time_ns: the expiry in ns, -1 if not pending. */
  get expireTime(): number {
    return this.#native.expireTime;
  }

  /** timer_expired: expires at or before @currentTime (timer's scale); an unarmed timer counts as expired. */
  expired(currentTime: number): boolean {
    checkFiniteNumber(currentTime, 'currentTime');
    return this.#native.expired(currentTime);
  }

  /** The context that runs this timer. */
  get context(): AioContext {
    return this.#context;
  }
}
