/*
 * event-notifier.ts — EventNotifier: a level-triggered wake-up flag on an
 * eventfd, to register with AioContext.prototype.setEventNotifier().
 *
 * The notifier is yours: close() it when done (idempotent).  While it is
 * registered with a context, close() throws ERR_AIO_BUSY and changes
 * nothing: remove it with ctx.setEventNotifier(n, null) first.
 */
import { closedError } from './errors';
import { binding, type NativeEventNotifier } from './native';
import { optionalBoolean } from './validate';

let nativeOf: (n: EventNotifier) => NativeEventNotifier;

/**
 * A level-triggered wake-up flag on an eventfd: set() makes it readable
 * until testAndClear().  Register it with `ctx.setEventNotifier()`.  QEMU's
 * `EventNotifier`.
 */
export class EventNotifier {
  readonly #native: NativeEventNotifier;

  /**
   * Opens a non-blocking, close-on-exec eventfd, already set if `active`.
   * Maps to QEMU's `event_notifier_init()`.
   */
  constructor(active?: boolean) {
    this.#native = new binding.EventNotifier(optionalBoolean(active, 'active', false));
  }

  /** The descriptor to poll for readability. */
  get fd(): number {
    return this.#native.fd;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#native.closed;
  }

  /** Makes the notifier readable (set).  Maps to QEMU's `event_notifier_set()`. */
  set(): void {
    this.#native.set();
  }

  /**
   * Clears the notifier and returns whether it was set.  Maps to QEMU's
   * `event_notifier_test_and_clear()`.
   */
  testAndClear(): boolean {
    return this.#native.testAndClear();
  }

  /**
   * Closes the descriptor; idempotent.  Throws ERR_AIO_BUSY while a context
   * has it registered.  Maps to QEMU's `event_notifier_cleanup()`.
   */
  close(): void {
    this.#native.close();
  }

  static {
    nativeOf = (n) => n.#native;
  }

  /** @internal Whether `value` is an EventNotifier (a brand check, not instanceof). */
  static isEventNotifier(value: unknown): value is EventNotifier {
    return typeof value === 'object' && value !== null && #native in value;
  }
}

/** @internal The native notifier of `n`, which must be open. */
export function openNativeNotifier(n: EventNotifier): NativeEventNotifier {
  const native = nativeOf(n);
  if (native.closed) throw closedError('EventNotifier');
  return native;
}
