/*
 * aiocontext — QEMU's AioContext event loop as a Node.js native addon.
 * The public API (API.md); re-exports only.
 */
export { AioContext } from './context';
export { BottomHalf } from './bottom-half';
export { Timer } from './timer';
export { EventNotifier } from './event-notifier';
export { MainContext } from './main-context';
export { AioError } from './errors';
export type { AioErrorCode, AioErrnoCode, AioStateCode } from './errors';
export { SCALE_NS, SCALE_US, SCALE_MS, clockNs } from './clock';
export { pipe } from './pipe';
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
