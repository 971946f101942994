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

/** Checks that @t is a token of @kind; returns its id. */
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
 * A handle on a context of any thread.  notify() is aio_notify;
 * acquire()/release() take and give back the context's recursive lock (the
 * 2017–2023 QEMU API; see README "Threads").  Get one with
 * `remoteContext(token)` (`new RemoteContext()` throws ERR_ILLEGAL_CONSTRUCTOR).
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

  /** aio_notify: the context's current or next wait returns.  Any thread. */
  notify(): void {
    this.#native.notify();
  }

  /**
   * aio_context_acquire: blocks this thread until it holds the context's
   * recursive lock.  An extension of the API (QEMU 2017–2023): the lock
   * protects nothing inside the loop; threads use it to take turns.  The
   * home thread's close() waits until other threads released it.
   */
  acquire(): void {
    this.#native.acquire();
  }

  /** aio_context_release: gives back one level taken by acquire() in this thread. */
  release(): void {
    this.#native.release();
  }
}

/**
 * A handle on a bottom half of any thread.  Get one with
 * `remoteBottomHalf(token)` (`new RemoteBottomHalf()` throws
 * ERR_ILLEGAL_CONSTRUCTOR).
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

  /** qemu_bh_schedule: runs the BH in its home thread's next BH pass (merging with a pending run); wakes a blocked poll(true). */
  schedule(): void {
    this.#native.schedule();
  }

  /** qemu_bh_cancel: clears the scheduled flag (a loop that already took the BH still runs it once). */
  cancel(): void {
    this.#native.cancel();
  }
}

/**
 * A handle on the context named by @t, usable from any thread.  Throws a
 * TypeError for a token of another kind, ERR_AIO_CLOSED if the context is
 * closed.
 */
export function remoteContext(t: SharedToken): RemoteContext {
  const id = tokenId(t, 'aio-context');
  return new RemoteContext(kConstruct, new binding.RemoteContext(id), makeToken('aio-context', id));
}

/**
 * A handle on the BH named by @t, usable from any thread.  Throws a
 * TypeError for a token of another kind, ERR_AIO_CLOSED if the BH was
 * deleted or its context closed.
 */
export function remoteBottomHalf(t: SharedToken): RemoteBottomHalf {
  const id = tokenId(t, 'aio-bh');
  return new RemoteBottomHalf(kConstruct, new binding.RemoteBottomHalf(id), makeToken('aio-bh', id));
}
