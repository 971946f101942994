/*
 * aiocontext — QEMU's AioContext event loop as a Node.js native addon.
 * The public API (API.md); re-exports only.
 */
export { AioContext } from './context';
export { BottomHalf } from './bottom-half';
export { Timer } from './timer';
export { EventNotifier } from './event-notifier';
export { MainContext } from './main-context';
export type { GtkGLibLike, GtkMainContextLike } from './gtk-interop';
export { NodeLoopHandle } from './node-loop';
export type { NodeLoopOptions, NodeLoopStats } from './node-loop';
export type { AbortOptions } from './awaitables';
export { AioError } from './errors';
export type { ChromeTrace, DispatchMessage, PollMessage, TraceEvent, TraceOptions } from './observe';
export { AioFile, AioFilePromises, Aiocb } from './file';
export type { AioFileOptions, AioFileStats, DoneCallback, IoCallback, IoEngine } from './file';
export { ThreadPool } from './thread-pool';
export type { ThreadPoolParams, ThreadPoolStats } from './thread-pool';
export type { AioErrorCode, AioErrnoCode, AioStateCode } from './errors';
export { SCALE_NS, SCALE_US, SCALE_MS, clockNs, virtualClock } from './clock';
export { pipe } from './pipe';
export { RemoteBottomHalf, RemoteContext, remoteBottomHalf, remoteContext } from './shared';
export type { SharedToken, SharedTokenKind } from './shared';
export type {
  AioContextOptions,
  AioContextStats,
  AttachOptions,
  BottomHalfOptions,
  ClockType,
  EventNotifierHandlers,
  FdHandlers,
  FdMonitor,
  PollParams,
  TimerOptions,
} from './types';
