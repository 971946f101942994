/*
 * clock.ts — QEMU's clocks and timer scales.
 */
import { binding } from './native';
import type { ClockType } from './types';
import { checkNonNegativeSafeInteger, checkOneOf } from './validate';

/** A timer scale: its times are in nanoseconds.  QEMU's `SCALE_NS`. */
export const SCALE_NS = 1;
/** A timer scale: its times are in microseconds.  QEMU's `SCALE_US`. */
export const SCALE_US = 1_000;
/** A timer scale: its times are in milliseconds.  QEMU's `SCALE_MS`. */
export const SCALE_MS = 1_000_000;

/** QEMUClockType values, in the core's order. */
const CLOCKS: readonly ClockType[] = ['realtime', 'virtual', 'host', 'virtual_rt'];

/** @internal The core's QEMUClockType for `clock`; a TypeError naming `argName` otherwise. */
export function clockIndex(clock: unknown, argName: string): number {
  checkOneOf(clock, argName, CLOCKS);
  return CLOCKS.indexOf(clock);
}

/**
 * Returns the time of `clock` in nanoseconds (default 'realtime', the
 * monotonic clock).  Any thread.  Maps to QEMU's `qemu_clock_get_ns()`.
 */
export function clockNs(clock: ClockType = 'realtime'): number {
  return binding.clockNs(clockIndex(clock, 'clock'));
}

/**
 * Controls the process-wide virtual clock, a test clock that follows the
 * monotonic clock while running.  Maps to QEMU's QEMU_CLOCK_VIRTUAL (and
 * VIRTUAL_RT) with the core's `qemu_clock_virtual_*()`.  It follows the
 * monotonic clock while running.  stop() freezes it; step(ns)
 * moves it forward, running or stopped; resume() lets it run on from where
 * it stands.  Timers on it that are due run on the next poll()/dispatch of
 * their context (every context is notified); while it is stopped, waiting
 * never makes its timers due (their deadline is "forever"), which makes
 * stop() + step() a deterministic test clock.  Any thread.
 */
export const virtualClock: {
  now(): number;
  stop(): void;
  resume(): void;
  step(ns: number): void;
  readonly stopped: boolean;
} = {
  now(): number {
    return binding.clockNs(1);
  },
  stop(): void {
    binding.virtualClockControl(0);
  },
  resume(): void {
    binding.virtualClockControl(1);
  },
  step(ns: number): void {
    checkNonNegativeSafeInteger(ns, 'ns');
    binding.virtualClockControl(2, ns);
  },
  get stopped(): boolean {
    return binding.virtualClockControl(3);
  },
};
