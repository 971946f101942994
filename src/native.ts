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

export interface NativeStats {
  notifyMe: number;
  notified: boolean;
  pollNs: number;
  pollStarted: boolean;
  handlers: number;
  bhs: number;
  timers: number;
  fdmon: 'poll' | 'epoll' | 'io_uring';
  fdmonFallbackReason: string | null;
}

type Fn = (...args: never[]) => unknown;

export interface NativeContext {
  poll(blocking: boolean): boolean;
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
}

export interface NativeBottomHalf {
  schedule(): void;
  cancel(): void;
  delete(): void;
  readonly scheduled: boolean;
  readonly deleted: boolean;
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
}

export interface NativeBinding {
  Context: new (name: string, fdmon: number) => NativeContext;
  EventNotifier: new (active: boolean) => NativeEventNotifier;
  MainContext: new (isDefault: boolean) => NativeMainContext;
  setErrorClass(errorClass: typeof AioError): void;
  clockNs(clock: number): number;
  pipe(): [number, number];
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
  return binding;
}

export const binding: NativeBinding = load();

/**
 * Passed by AioContext to the BottomHalf and Timer constructors: those
 * objects are only made by ctx.bh() and ctx.timer().
 */
export const kConstruct: unique symbol = Symbol('aiocontext.construct');
