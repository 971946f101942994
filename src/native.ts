/*
 * native.ts — loads the addon (build/Release/aiocontext.node) and types its
 * internal API.  Nothing here is public: src/index.ts exports the classes
 * that wrap these objects.
 *
 * The native methods take positional, already-validated arguments (the TS
 * classes validate with exact messages first); they still re-check types.
 */
import * as path from 'node:path';
import { AioError } from './errors';
import { onCallbackPromise } from './rejections';
import type { AioContextStats } from './types';

/** Context.stats (context.cc JS_stats): the public shape, read live. */
export type NativeStats = AioContextStats;

type Fn = (...args: never[]) => unknown;

export interface NativeContext {
  poll(blocking: boolean): boolean;
  /** aio_pending. */
  pending(): boolean;
  /** aio_flush, as a driver (throws what callbacks threw). */
  flush(): void;
  /** Nothing armed and never shared: poll(true) would hang. */
  wouldBlockForever(): boolean;
  setObserve(on: boolean): void;
  /** Moves observed records into @buf (observer.cc); returns how many. */
  takeEvents(buf: Float64Array, names: (string | undefined)[]): number;
  notify(): void;
  computeTimeout(): number;
  bh(cb: () => void, name: string): NativeBottomHalf;
  scheduleOneshot(cb: () => void): void;
  setFdHandler(
    fd: number,
    read: Fn | undefined,
    write: Fn | undefined,
    poll: Fn | undefined,
    pollBegin: Fn | undefined,
    pollEnd: Fn | undefined,
    external: boolean,
    flush?: Fn,
  ): void;
  setEventNotifier(
    notifier: NativeEventNotifier,
    arg: object,
    read: Fn | undefined,
    poll: Fn | undefined,
    pollBegin: Fn | undefined,
    pollEnd: Fn | undefined,
    external: boolean,
  ): void;
  /** Whether `fd` has a handler; with `fn`, whether its read or write function is `fn`. */
  hasFdHandler(fd: number, fn?: Fn): boolean;
  timer(clock: number, scale: number, cb: () => void, external: boolean): NativeTimer;
  disableExternal(): void;
  enableExternal(): void;
  readonly externalDisabled: boolean;
  setPollParams(maxNs: number, grow: number, shrink: number): void;
  acquire(): void;
  release(): void;
  attach(main: NativeMainContext, priority: number): number;
  detach(): void;
  readonly sourceId: number | null;
  readonly stats: NativeStats;
  /** Returns: the names of the BHs that were never deleted. */
  close(): string[];
  readonly closed: boolean;
  readonly name: string;
  /** Registers the context in the process-wide registry; returns its id. */
  share(): number;
  /** aio_context_set_thread_pool_params (arguments checked by thread-pool.ts). */
  setThreadPoolParams(min: number, max: number): void;
  readonly threadPoolStats: { threads: number; idle: number; queued: number; active: number; min: number; max: number };
}

/**
 * A file open for block I/O (native/addon/file.cc).  Each request method
 * takes the JS request object (an Aiocb) that the addon keeps referenced
 * until the completion, which calls `complete(req, res)` in the context:
 * @res is a byte count or a negative errno.  Returns a request id for cancel().
 */
export interface NativeFile {
  readonly fd: number;
  readonly engine: 'threads' | 'linux-aio' | 'io_uring';
  readonly fallbackReason: string | null;
  readonly inFlight: number;
  read(req: object, buf: ArrayBufferView, position: number): number;
  write(req: object, buf: ArrayBufferView, position: number): number;
  readv(req: object, bufs: ArrayBufferView[], position: number): number;
  writev(req: object, bufs: ArrayBufferView[], position: number): number;
  flush(req: object): number;
  discard(req: object, position: number, length: number): number;
  /** aio_cancel_async on request @id; nothing if it completed. */
  cancel(id: number): void;
  /** Closes the fd; throws ERR_AIO_BUSY with requests in flight.  Idempotent. */
  close(): void;
}

export interface NativeBottomHalf {
  schedule(): void;
  cancel(): void;
  delete(): void;
  readonly scheduled: boolean;
  readonly deleted: boolean;
  /** Registers the BH in the process-wide registry; returns its id. */
  share(): number;
}

export interface NativeTimer {
  mod(expireTime: number): void;
  modNs(expireNs: number): void;
  modAnticipate(expireTime: number): void;
  del(): void;
  delete(): void;
  expired(currentTime: number): boolean;
  readonly pending: boolean;
  readonly expireTime: number;
}

export interface NativeEventNotifier {
  readonly fd: number;
  readonly closed: boolean;
  set(): void;
  testAndClear(): boolean;
  close(): void;
}

export interface NativeMainContext {
  iteration(mayBlock: boolean): boolean;
  pending(): boolean;
  wakeup(): void;
  readonly isDefault: boolean;
  /** g_main_context_push_thread_default (gtk-interop.cc). */
  pushThreadDefault(): void;
  /** g_main_context_pop_thread_default; false if this context's push is not on top. */
  popThreadDefault(): boolean;
}

/** Node's loop driving a GMainContext (native/addon/node-loop.h). */
export interface NativeNodeLoop {
  ref(): void;
  unref(): void;
  /** Detaches; idempotent. */
  close(): void;
  readonly attached: boolean;
  readonly hasRef: boolean;
  readonly stats: { wakeups: number; dispatches: number; fds: number; keepingAlive: boolean };
}

export interface NativeBinding {
  Context: new (name: string, fdmon: number) => NativeContext;
  EventNotifier: new (active: boolean) => NativeEventNotifier;
  /** 'thread-default': g_main_context_ref_thread_default() (gtk-interop.cc). */
  MainContext: new (isDefault: boolean | 'thread-default') => NativeMainContext;
  NodeLoop: new (main: NativeMainContext, context: NativeContext | null) => NativeNodeLoop;
  /** open(2) @path for block I/O in @context; @engine indexes IoEngine ('auto', 'threads', 'linux-aio', 'io_uring'). */
  File: new (
    context: NativeContext,
    path: string,
    flags: number,
    mode: number,
    engine: number,
    complete: (req: never, res: number) => unknown,
  ) => NativeFile;
  setErrorClass(errorClass: typeof AioError): void;
  /** A zero-filled Uint8Array whose memory is aligned to @alignment (file.cc). */
  alignedBuffer(size: number, alignment: number): Uint8Array;
  /** fn(promise, driven) receives every promise a callback returns (src/rejections.ts). */
  setPromiseHook(hook: (promise: Promise<unknown>, driven: boolean) => void): void;
  clockNs(clock: number): number;
  virtualClockControl(op: number, ns?: number): boolean;
  pipe(): [number, number];
  /** Remote handles from a share token id (src/shared.ts). Any thread. */
  RemoteContext: new (id: number) => NativeRemoteContext;
  RemoteBottomHalf: new (id: number) => NativeRemoteBottomHalf;
  /** Test and benchmark helpers (src/testing.ts); not part of the API. */
  _testing: NativeTesting;
}

export interface NativeRemoteContext {
  notify(): void;
  acquire(): void;
  release(): void;
}

export interface NativeRemoteBottomHalf {
  schedule(): void;
  cancel(): void;
}

/** An opaque handle on a std::thread started by scheduleFromNativeThread. */
export interface NativeJob {
  readonly __brand: 'NativeJob';
}

export interface NativeTesting {
  scheduleFromNativeThread(id: number, n: number, lockstep: boolean, notifyId: number): NativeJob;
  nativeJobDone(job: NativeJob): boolean;
  nativeJobJoin(job: NativeJob): { scheduled: number; error: string | null };
  eventfdRoundTrips(n: number): Float64Array;
  tsfnRoundTrips(n: number, fn: () => void): Promise<Float64Array>;
  threadPoolJob(ctx: NativeContext, sleepUs: number, ret: number, cb: ((ret: number) => void) | null): NativeTestJob | null;
  threadPoolJobCancel(job: NativeTestJob): void;
  threadPoolJobDone(job: NativeTestJob): boolean;
}

/** A thread-pool job of the test suite (testing-thread-pool.cc). */
export interface NativeTestJob {
  readonly __brand: 'NativeTestJob';
}

/** Where node-gyp puts the addon, relative to dist/ or src/. */
export const ADDON_PATH = path.join(__dirname, '..', 'build', 'Release', 'aiocontext.node');

function load(): NativeBinding {
  let binding: NativeBinding;
  try {
    binding = require(ADDON_PATH) as NativeBinding;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'MODULE_NOT_FOUND'
        ? `the native addon is not built: ${ADDON_PATH} does not exist`
        : `cannot load the native addon ${ADDON_PATH}: ${(err as Error).message}`;
    throw new Error(
      `aiocontext: ${reason}.\n` +
        'Build it with `npm run build:native` (node-gyp). It needs the GLib and liburing ' +
        'headers and pkg-config; on Debian `npm run setup` installs them.',
      { cause: err },
    );
  }
  binding.setErrorClass(AioError);
  binding.setPromiseHook(onCallbackPromise);
  return binding;
}

export const binding: NativeBinding = load();

/**
 * Passed by AioContext to the BottomHalf and Timer constructors: those
 * objects are only made by ctx.bh() and ctx.timer().
 */
export const kConstruct: unique symbol = Symbol('aiocontext.construct');
