/*
 * main-context.ts — MainContext: a GLib GMainContext, to attach
 * AioContexts to and iterate.
 *
 * iteration() is a driver like AioContext.prototype.poll(): a callback that
 * throws while it runs makes it throw (several: one AggregateError) after
 * the GLib iteration is over.
 */
import { binding, type NativeMainContext } from './native';
import { checkBoolean } from './validate';

let nativeOf: (m: MainContext) => NativeMainContext;
let defaultContext: MainContext | undefined;
let makingDefault = false;

export class MainContext {
  readonly #native: NativeMainContext;

  /** g_main_context_default: the process's default context (always the same object). */
  static default(): MainContext {
    if (defaultContext === undefined) {
      makingDefault = true;
      try {
        defaultContext = new MainContext();
      } finally {
        makingDefault = false;
      }
    }
    return defaultContext;
  }

  /** g_main_context_new: a new context, iterated only by whoever calls iteration(). */
  constructor() {
    this.#native = new binding.MainContext(makingDefault);
  }

  /**
   * g_main_context_iteration: runs one iteration (waiting for an event if
   * @mayBlock).  Returns whether any source was dispatched.
   */
  iteration(mayBlock: boolean): boolean {
    checkBoolean(mayBlock, 'mayBlock');
    return this.#native.iteration(mayBlock);
  }

  /** g_main_context_pending: whether any source has events to dispatch. */
  pending(): boolean {
    return this.#native.pending();
  }

  /** g_main_context_wakeup: makes a blocking iteration() return (any thread). */
  wakeup(): void {
    this.#native.wakeup();
  }

  /** Whether this is g_main_context_default(). */
  get isDefault(): boolean {
    return this.#native.isDefault;
  }

  static {
    nativeOf = (m) => m.#native;
  }

  /** @internal Whether @value is a MainContext (a brand check, not instanceof). */
  static isMainContext(value: unknown): value is MainContext {
    return typeof value === 'object' && value !== null && #native in value;
  }
}

/** @internal The native GMainContext wrapper of @m. */
export function nativeMainContext(m: MainContext): NativeMainContext {
  return nativeOf(m);
}
