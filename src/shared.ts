/*
 * shared.ts — share tokens and remote handles: how other threads reach a
 * context or a BH.
 *
 * JS objects cannot cross threads, so `ctx.share()` and `bh.share()` return
 * a token — plain data, `{ kind, id }` — that names the object in a
 * process-wide registry (native/addon/registry.h).  Post it to a Worker
 * (postMessage, workerData), or send it through JSON; on the other side,
 * `remoteContext(token)` and `remoteBottomHalf(token)` make handles whose
 * methods are safe from any thread, the home thread included:
 *
 *   remoteContext(t).notify()         aio_notify
 *   remoteContext(t).acquire()        aio_context_acquire (extension; blocks)
 *   remoteContext(t).release()        aio_context_release (extension)
 *   remoteBottomHalf(t).schedule()    qemu_bh_schedule (wakes a poll(true))
 *   remoteBottomHalf(t).cancel()      qemu_bh_cancel
 *
 * Once the BH is deleted or its context closed, every remote call (and
 * making a handle) throws AioError ERR_AIO_CLOSED: the registry entry is
 * withdrawn, under a mutex, before the core object can be freed, so a
 * remote call never touches freed memory.  A token of the wrong kind is a
 * TypeError.
 */
import { binding, kConstruct, type NativeRemoteBottomHalf, type NativeRemoteContext } from './native';
import { illegalConstructor, invalidArg } from './validate';

/** The kinds of object a token can name. */
export type SharedTokenKind = 'aio-context' | 'aio-bh';

/**
 * A share token: plain data naming a context ('aio-context') or a bottom
 * half ('aio-bh') in the process-wide registry.  Survives postMessage and
 * `JSON.parse(JSON.stringify(t))`.
 */
export interface SharedToken {
  readonly kind: SharedTokenKind;
  readonly id: number;
}

/** @internal Makes the token returned by share(). */
export function makeToken(kind: SharedTokenKind, id: number): SharedToken {
  return Object.freeze({ kind, id });
}

/** Checks that `t` is a token of `kind`; returns its id. */
function tokenId(t: unknown, kind: SharedTokenKind): number {
  if (typeof t !== 'object' || t === null) {
    throw invalidArg('t', `a SharedToken of kind '${kind}' (from share())`, t);
  }
  const { kind: actual, id } = t as { kind?: unknown; id?: unknown };
  if (actual !== kind) {
    throw invalidArg('t.kind', `'${kind}'`, actual, 'ERR_INVALID_ARG_VALUE');
  }
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
    throw invalidArg('t.id', 'a positive safe integer', id);
  }
  return id;
}

/**
 * A handle, usable from any thread, on a context of another (or the same)
 * thread: notify() wakes it, acquire()/release() take turns on its
 * recursive lock.  Made by remoteContext(token); `new RemoteContext()`
 * throws a TypeError with code ERR_ILLEGAL_CONSTRUCTOR.  Not in QEMU, whose threads
 * share the AioContext pointer itself.
 */
export class RemoteContext {
  readonly #native: NativeRemoteContext;
  /** The token this handle was made from. */
  readonly token: SharedToken;

  /**
   * Not for callers: `new RemoteContext()` throws a TypeError with code
   * ERR_ILLEGAL_CONSTRUCTOR. Get one with `remoteContext(token)`.
   * @internal
   */
  constructor(key: typeof kConstruct, native: NativeRemoteContext, token: SharedToken) {
    if (key !== kConstruct) throw illegalConstructor('remoteContext(token)');
    this.#native = native;
    this.token = token;
  }

  /**
   * Makes the context's current or next wait return.  Any thread.  Maps to
   * QEMU's `aio_notify()`.
   */
  notify(): void {
    this.#native.notify();
  }

  /**
   * Blocks this thread until it holds the context's recursive lock.  The
   * lock protects nothing inside the loop; threads use it to take turns.
   * The home thread's close() waits until other threads released it.  Maps
   * to QEMU's `aio_context_acquire()` (2017–2023).
   */
  acquire(): void {
    this.#native.acquire();
  }

  /**
   * Gives back one level taken by acquire() in this thread; throws
   * ERR_AIO_NOT_ACQUIRED without one.  Maps to QEMU's `aio_context_release()`.
   */
  release(): void {
    this.#native.release();
  }
}

/**
 * A handle, usable from any thread, on a bottom half of another (or the
 * same) thread.  Made by remoteBottomHalf(token); `new RemoteBottomHalf()`
 * throws a TypeError with code ERR_ILLEGAL_CONSTRUCTOR.  Not in QEMU, whose threads
 * share the QEMUBH pointer itself.
 */
export class RemoteBottomHalf {
  readonly #native: NativeRemoteBottomHalf;
  /** The token this handle was made from. */
  readonly token: SharedToken;

  /**
   * Not for callers: `new RemoteBottomHalf()` throws a TypeError with code
   * ERR_ILLEGAL_CONSTRUCTOR. Get one with `remoteBottomHalf(token)`.
   * @internal
   */
  constructor(key: typeof kConstruct, native: NativeRemoteBottomHalf, token: SharedToken) {
    if (key !== kConstruct) throw illegalConstructor('remoteBottomHalf(token)');
    this.#native = native;
    this.token = token;
  }

  /**
   * Makes the BH run in its home thread's next BH pass (merging with a
   * pending run) and wakes a blocked poll(true).  Maps to QEMU's
   * `qemu_bh_schedule()`.
   */
  schedule(): void {
    this.#native.schedule();
  }

  /**
   * Unschedules the BH (a loop that already took it still runs it once).
   * Maps to QEMU's `qemu_bh_cancel()`.
   */
  cancel(): void {
    this.#native.cancel();
  }
}

/**
 * Returns a handle on the context named by the token `t`, usable from any
 * thread (see RemoteContext).  Throws a
 * TypeError for a token of another kind, ERR_AIO_CLOSED if the context is
 * closed.
 */
export function remoteContext(t: SharedToken): RemoteContext {
  const id = tokenId(t, 'aio-context');
  return new RemoteContext(kConstruct, new binding.RemoteContext(id), makeToken('aio-context', id));
}

/**
 * Returns a handle on the BH named by the token `t`, usable from any
 * thread (see RemoteBottomHalf).  Throws a
 * TypeError for a token of another kind, ERR_AIO_CLOSED if the BH was
 * deleted or its context closed.
 */
export function remoteBottomHalf(t: SharedToken): RemoteBottomHalf {
  const id = tokenId(t, 'aio-bh');
  return new RemoteBottomHalf(kConstruct, new binding.RemoteBottomHalf(id), makeToken('aio-bh', id));
}
