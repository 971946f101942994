/*
 * node-loop.ts — NodeLoopHandle: Node's own event loop runs an AioContext
 * (ctx.attachToNodeLoop()) or every source of a MainContext
 * (mainContext.attachToNodeLoop()), so nothing blocks: setTimeout,
 * promises, fs and net keep working, and each callback runs as a Node
 * callback (microtasks and nextTicks drained after it; what it throws goes
 * to process 'uncaughtException').
 *
 * The native side (native/addon/node-loop.cc) is libuv glue around the
 * core's AioLoopBridge: GLib's prepare/query before libuv polls, its
 * check/dispatch after.  With nothing scheduled the loop does not wake up.
 *
 * Liveness, as for Node's own handles: an attached context keeps the
 * process alive only while its handle is ref'd (the default) and it has
 * armed work — fd handlers, a pending timer or a scheduled BH.  JS that
 * arms work on an attached context calls touchNodeLoop(), so the decision
 * is made before libuv's next "anything alive?" test.  A MainContext's
 * sources are opaque to us: its ref'd handle keeps the process alive until
 * unref() or detach().
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

/* Attached contexts and their native loops.  `attachedCount` makes
 * touchNodeLoop() one comparison when nothing is attached (the common case:
 * it sits on bh.schedule() and timer.mod()). */
let attachedCount = 0;
const loops = new WeakMap<object, NativeNodeLoop>();
/* Every attached native loop, contexts' and MainContexts' alike. */
const allLoops = new Set<NativeNodeLoop>();

/**
 * @internal Called after JS armed work on @ctx (scheduled a BH, armed a
 * timer, set an fd handler): if @ctx runs from Node's loop, re-decides at
 * once whether it keeps the process alive.
 */
export function touchNodeLoop(ctx: object): void {
  if (attachedCount === 0) return;
  loops.get(ctx)?.touch();
}

/**
 * @internal Called when JS removed the handler of @fd (its owner may close
 * it next): every attached loop stops watching that fd number at once, so
 * that libuv never holds a dead fd that Node could reuse for a socket.
 */
export function forgetNodeLoopFd(fd: number): void {
  if (allLoops.size === 0) return;
  for (const native of allLoops) native.forgetFd(fd);
}

/**
 * The handle returned by `ctx.attachToNodeLoop()` and
 * `mainContext.attachToNodeLoop()`, the only ways to get one
 * (`new NodeLoopHandle()` throws ERR_ILLEGAL_CONSTRUCTOR).
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

  /** The process may exit even if this attachment has armed work. */
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
    const owner = this.#owner;
    if (owner === null) return;
    this.#owner = null;
    if (loops.get(owner) === this.#native) {
      loops.delete(owner);
      attachedCount--;
    }
    allLoops.delete(this.#native);
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

  [Symbol.dispose](): void {
    this.detach();
  }
}

/**
 * @internal Starts driving @main from Node's loop.  With @context (already
 * attached to @main), liveness follows its armed work and touchNodeLoop(owner)
 * reaches it.  @onDetach runs once, after the native loop stopped.
 */
export function attachNodeLoop(
  owner: object,
  main: NativeMainContext,
  context: NativeContext | null,
  onDetach: () => void,
): NodeLoopHandle {
  const native = new binding.NodeLoop(main, context);
  allLoops.add(native);
  if (context !== null) {
    loops.set(owner, native);
    attachedCount++;
  }
  return new NodeLoopHandle(kConstruct, native, owner, onDetach);
}
