/*
 * node-loop.ts — NodeLoopHandle: Node's own event loop runs an AioContext
 * (ctx.attachToNodeLoop()) or every source of a MainContext
 * (mainContext.attachToNodeLoop()), so nothing blocks: setTimeout,
 * promises, fs and net keep working, and each callback runs as a Node
 * callback (microtasks and nextTicks drained after it; what it throws goes
 * to process 'uncaughtException').
 *
 * The native side (native/addon/loop-glue.cc) is libuv glue around the
 * core's AioLoopBridge: GLib's prepare/query before libuv polls, its
 * check/dispatch after.  With nothing scheduled the loop does not wake up.
 *
 * Liveness, as for Node's own handles: an attached context keeps the
 * process alive only while its handle is ref'd (the default) and it has
 * armed work — fd handlers, a pending timer or a scheduled BH.  The native
 * context decides that itself, whenever work is armed or removed
 * (native/addon/loop-glue.h); nothing here keeps state for it.  A
 * MainContext's sources are opaque to us: its ref'd handle keeps the
 * process alive until unref() or detach().
 */
import { kConstruct, binding, type NativeContext, type NativeMainContext, type NativeNodeLoop } from './native';
import { illegalConstructor } from './validate';

/** Counters of one attachment; frozen at detach(). */
export interface NodeLoopStats {
  /** Loop iterations seen (GLib prepare + query, once per libuv iteration). */
  wakeups: number;
  /** Iterations in which GLib dispatched sources. */
  dispatches: number;
  /** fds watched right now (one uv_poll_t per distinct fd). */
  fds: number;
  /** Whether this attachment keeps the process alive right now. */
  keepingAlive: boolean;
}

/** Options of AioContext.prototype.attachToNodeLoop(). */
export interface NodeLoopOptions {
  /** The GSource priority in the private GMainContext; default 0. */
  priority?: number;
}

/**
 * The handle on an attachment to Node's event loop, returned by
 * attachToNodeLoop(): ref()/unref() decide whether it keeps the process
 * alive, as for Node's own handles; detach() ends it.  Not in QEMU (libuv's
 * `uv_handle_t` conventions).  `ctx.attachToNodeLoop()` and
 * `mainContext.attachToNodeLoop()` are the only ways to get one
 * (`new NodeLoopHandle()` throws a TypeError with code
 * ERR_ILLEGAL_CONSTRUCTOR).
 */
export class NodeLoopHandle implements Disposable {
  readonly #native: NativeNodeLoop;
  #owner: object | null;
  #onDetach: (() => void) | null;

  /**
   * Not for callers: `new NodeLoopHandle()` throws a TypeError with code
   * ERR_ILLEGAL_CONSTRUCTOR. Get one from `ctx.attachToNodeLoop()` or
   * `mainContext.attachToNodeLoop()`.
   * @internal
   */
  constructor(token: typeof kConstruct, native: NativeNodeLoop, owner: object, onDetach: () => void) {
    if (token !== kConstruct) throw illegalConstructor('ctx.attachToNodeLoop() or mainContext.attachToNodeLoop()');
    this.#native = native;
    this.#owner = owner;
    this.#onDetach = onDetach;
  }

  /** Lets this attachment keep the process alive while it has armed work (the default). */
  ref(): void {
    this.#native.ref();
  }

  /** Lets the process exit even if this attachment has armed work. */
  unref(): void {
    this.#native.unref();
  }

  /** Whether ref() is in effect. */
  hasRef(): boolean {
    return this.#native.hasRef;
  }

  /**
   * Stops Node's loop from running the context (or MainContext); for a
   * context, also detaches it from its private GMainContext, so that
   * attach() or attachToNodeLoop() work again.  Idempotent; safe from
   * inside a callback.
   */
  detach(): void {
    if (this.#owner === null) return;
    this.#owner = null;
    this.#native.close();
    const onDetach = this.#onDetach;
    this.#onDetach = null;
    onDetach?.();
  }

  /** Whether Node's loop runs the context: until detach() or the context's close(). */
  get attached(): boolean {
    return this.#owner !== null && this.#native.attached;
  }

  /** Live counters (see NodeLoopStats), read on every access. */
  get stats(): NodeLoopStats {
    return this.#native.stats;
  }

  /** The same as detach(), for `using`. */
  [Symbol.dispose](): void {
    this.detach();
  }
}

/**
 * @internal Starts driving `main` from Node's loop.  With `context`
 * (already attached to `main`), liveness follows its armed work.
 * `onDetach` runs once, after the native loop stopped.
 */
export function attachNodeLoop(
  owner: object,
  main: NativeMainContext,
  context: NativeContext | null,
  onDetach: () => void,
): NodeLoopHandle {
  const native = new binding.NodeLoop(main, context);
  return new NodeLoopHandle(kConstruct, native, owner, onDetach);
}
