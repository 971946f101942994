/*
 * clock.ts — QEMU's clocks and timer scales.
 */
import { binding } from './native';
import type { ClockType } from './types';
import { checkOneOf } from './validate';

/** Nanoseconds per unit of a timer's times (QEMU's SCALE_*). */
export const SCALE_NS = 1;
export const SCALE_US = 1_000;
export const SCALE_MS = 1_000_000;

/** QEMUClockType values, in the core's order. */
const CLOCKS: readonly ClockType[] = ['realtime', 'virtual', 'host', 'virtual_rt'];

/** The core's QEMUClockType for @clock; a TypeError names @argName otherwise. */
export function clockIndex(clock: unknown, argName: string): number {
  checkOneOf(clock, argName, CLOCKS);
  return CLOCKS.indexOf(clock);
}

/** qemu_clock_get_ns: the time of @clock in ns (default 'realtime').  Any thread. */
export function clockNs(clock: ClockType = 'realtime'): number {
  return binding.clockNs(clockIndex(clock, 'clock'));
}
