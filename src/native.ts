/*
 * native.ts — loads the addon (node-gyp-build: build/Release/aiocontext.node
 * or prebuilds/linux-x64/aiocontext.glibc.node) and types its
 * internal API.  Nothing here is public: src/index.ts exports the classes
 * that wrap these objects.
 *
 * The native methods take positional, already-validated arguments (the TS
 * classes validate with exact messages first); they still re-check types.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AioError } from './errors';
import { onCallbackPromise } from './rejections';
import type { AioContextStats } from './types';

/** Context.stats (context.cc JS_stats): the public shape, read live. */
export type NativeStats = AioContextStats;

type Fn = (...args: never[]) => unknown;

/** What the addon's poll() returns: its result, or a BH's function handed back (src/poll-driver.ts). */
export type PollStep = boolean | (() => unknown);

/**
 * An object's fast handle (native/addon/fast-method.h): a number, the
 * first argument of its class's shared hot function (Context.fastPoll,
 * BottomHalf.fastSchedule, MainContext.fastIteration).
 */
export type FastHandle<Kind extends string> = number & { readonly __fastHandle: Kind };

export interface NativeContext {
  /** aio_poll, handing BHs back (native/addon/poll-driver.h): finish with finishPoll().  Hot callers use Context.fastPoll. */
  poll(blocking: boolean): PollStep;
  readonly fastHandle: FastHandle<'context'>;
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
 * `res` is a byte count or a negative errno.  Returns a request id for cancel().
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
  /** qemu_bh_schedule.  Hot callers use BottomHalf.fastSchedule. */
  schedule(): void;
  readonly fastHandle: FastHandle<'bh'>;
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
  /** g_main_context_iteration, as a driver.  Hot callers use MainContext.fastIteration. */
  iteration(mayBlock: boolean): boolean;
  readonly fastHandle: FastHandle<'main-context'>;
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
  Context: {
    new (name: string, fdmon: number): NativeContext;
    /** NativeContext.poll(), by fast handle. */
    fastPoll(handle: FastHandle<'context'>, blocking: boolean): PollStep;
  };
  BottomHalf: {
    /** NativeBottomHalf.schedule(), by fast handle. */
    fastSchedule(handle: FastHandle<'bh'>): void;
  };
  EventNotifier: new (active: boolean) => NativeEventNotifier;
  /** 'thread-default': g_main_context_ref_thread_default() (gtk-interop.cc). */
  MainContext: {
    new (isDefault: boolean | 'thread-default'): NativeMainContext;
    /** NativeMainContext.iteration(), by fast handle. */
    fastIteration(handle: FastHandle<'main-context'>, mayBlock: boolean): boolean;
  };
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
  /** Shared with the addon (poll-driver.h): [0] the depth of the poll() stack, [1] the innermost running finishPoll() loop's level. */
  pollLevel: Uint32Array;
  /** Runs the pass of the poll() at @level on after its handed-back BH returned (or threw @error). */
  resumePoll(level: number, error?: unknown): PollStep;
  /** Ends the passes of the poll() at @level and above, which unwound. */
  abandonPoll(level: number): void;
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

/** node-gyp-build (no types of its own): finds the addon for this machine. */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS output; no types to import
const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };

/** The package's root: dist/.. (or src/..). */
const ROOT = path.join(__dirname, '..');

/**
 * The addon file: build/Release/aiocontext.node if it was built here (by
 * name: in a checkout, build/Release also holds the test helper addon),
 * else what node-gyp-build resolves (the prebuilt binary for this machine).
 */
function addonFile(): string {
  const built = path.join(ROOT, 'build', 'Release', 'aiocontext.node');
  return fs.existsSync(built) ? built : nodeGypBuild.resolve(ROOT);
}

/** What a consumer needs to build from source, should no prebuilt binary fit. */
const BUILD_DEPS_HINT =
  'Installing the package uses the prebuilt binary in prebuilds/linux-x64/ (glibc, x64), ' +
  'which needs only GLib at run time (Debian/Ubuntu: apt-get install libglib2.0-0). ' +
  'Elsewhere it builds from source, which needs a compiler, make, python3, pkg-config and ' +
  'the GLib, liburing and libaio headers (Debian/Ubuntu: apt-get install g++ make python3 ' +
  'pkg-config libglib2.0-dev liburing-dev libaio-dev); then run `npm rebuild aiocontext`.';

/**
 * Loads the addon (addonFile()) and hands it the error class.
 */
function load(): NativeBinding {
  let binding: NativeBinding;
  let file: string | undefined;
  try {
    file = addonFile();
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a .node file, by path
    binding = require(file) as NativeBinding;
  } catch (err) {
    const reason =
      file === undefined
        ? `no native addon for ${process.platform}-${process.arch} (neither build/Release nor prebuilds/ has one)`
        : `cannot load the native addon ${file}: ${(err as Error).message}`;
    throw new Error(`aiocontext: ${reason}.\n${BUILD_DEPS_HINT}`, { cause: err });
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
